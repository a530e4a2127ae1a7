# rfs — top-level Makefile.
#
#   make [KDIR=...]        build rfs.ko against KDIR (default: the running kernel)
#   make KVER=7.3 [FLAVOR=..]  build rfs.ko for a test kernel (6.12 or 7.3; built if
#                          needed) in out/module-KVER-FLAVOR; for 7.3 in the Debian
#                          trixie chroot with its rustc (scripts/build-module.sh)
#   make check [T=suite] [KVER=7.3]  set up, build the debug test kernel and the
#                          module, run cargo test and the VM suites (all, or
#                          tests/T.sh only) under Linux 6.12 (default) or 7.3;
#                          without T and KVER, then a cross-kernel smoke under
#                          7.3 and Debian's kernel where those were built
#                          (scripts/smoke.sh)
#   make soak [T=suite]    the reliability suites' long soak mode (RFS_SOAK=1)
#                          under the debug kernel: hours, not minutes
#   make demo              boot the release test kernel and show a union mount
#   make bench [MODE=full] benchmark rfs against OverlayFS, native and the FUSE
#                          unions in one boot of the release kernel (quick mode
#                          by default; BENCH_FLAGS="-w w1,w2 -r 7" for more)
#   make kernel FLAVOR=.. [KVER=7.3]  build (or reuse) a test kernel: debug or
#                          release, Linux 6.12 (default) or 7.3
#   make debian-module     build rfs.ko for Debian's stock kernel (default
#                          7.3.4+deb13-amd64; RFS_DEBIAN_KREL=...) against its
#                          headers in the trixie chroot (scripts/debian-kernel.sh)
#   make check KVER=debian the VM suites under Debian's unmodified kernel with
#                          that rfs.ko
#   make rfsctl            the static command-line tool (tools/rfsctl, musl):
#                          target/x86_64-unknown-linux-musl/release/rfsctl
#   make clean
#
# The kernel build system does the real work for the module (see Kbuild).

KDIR ?= /lib/modules/$(shell uname -r)/build
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all modules clean check soak demo kernel unit bench debian-module rfsctl

all: modules

ifneq ($(KVER),)
modules:
	scripts/build-module.sh $(KVER) $(FLAVOR)
else
modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 modules
endif

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 clean
	rm -f src/vfs/sys_generated.rs

unit:
	cargo test

rfsctl:
	cargo build --release --locked -p rfsctl --target x86_64-unknown-linux-musl

check:
	$(if $(KVER),RFS_KVER=$(KVER)) scripts/check.sh $(if $(T),$(T))
	$(if $(KVER)$(T),,scripts/smoke.sh)

# The suites with a soak mode (tests/NAME.sh reading RFS_SOAK).
SOAK_SUITES ?= model stress corpus lifecycle crash integrity
soak:
	$(if $(KVER),RFS_KVER=$(KVER)) RFS_SOAK=1 RFS_SUITE_TIMEOUT=$${RFS_SUITE_TIMEOUT:-21600} RFS_VM_TIMEOUT=$${RFS_VM_TIMEOUT:-86400} \
		scripts/check.sh $(if $(T),$(T),$(SOAK_SUITES))

demo:
	scripts/demo.sh

MODE ?= quick
bench:
	scripts/bench.sh -m $(MODE) $(BENCH_FLAGS)

debian-module:
	scripts/debian-kernel.sh module

FLAVOR ?= debug
kernel:
	scripts/build-kernel.sh $(FLAVOR) $(KVER)
