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
#   make install [KDIR=..] [DESTDIR=..] [PREFIX=/usr/local]
#                          rfs.ko (modules_install for KDIR's kernel, then
#                          depmod), rfsctl in PREFIX/sbin, mount.rfs -> rfsctl
#                          in /sbin, man pages in PREFIX/share/man, bash
#                          completion; AUPLINK=1 also PREFIX/sbin/auplink
#   make install-tools     the same without the module (no kernel tree needed)
#   make uninstall         removes what install-tools put there
#   make clean
#
# The kernel build system does the real work for the module (see Kbuild).

KDIR ?= /lib/modules/$(shell uname -r)/build
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all modules clean check soak demo kernel unit bench debian-module rfsctl \
	install install-module install-tools uninstall

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

# Installation. DESTDIR is prepended to every path written (packaging);
# symlinks point at the final paths. The module goes where the kernel's
# modules_install puts external modules (/lib/modules/KREL/updates, or
# extra/), with depmod run for KDIR's kernel release.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MOUNT_HELPER_DIR ?= /sbin
RFSCTL_BIN ?= target/x86_64-unknown-linux-musl/release/rfsctl
DEPMOD ?= depmod
INSTALL ?= install

install: install-module install-tools

install-module:
	@test -f rfs.ko || { echo "rfs.ko is not built: run make KDIR=$(KDIR) first" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=1 $(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) modules_install
	krel=$$(cat $(KDIR)/include/config/kernel.release) && \
		$(DEPMOD) $(if $(DESTDIR),-b $(DESTDIR)) $$krel

$(RFSCTL_BIN):
	$(MAKE) rfsctl

install-tools: $(RFSCTL_BIN)
	$(INSTALL) -D -m 0755 $(RFSCTL_BIN) $(DESTDIR)$(SBINDIR)/rfsctl
	$(INSTALL) -d $(DESTDIR)$(MOUNT_HELPER_DIR)
	ln -sf $(SBINDIR)/rfsctl $(DESTDIR)$(MOUNT_HELPER_DIR)/mount.rfs
	$(if $(AUPLINK),ln -sf rfsctl $(DESTDIR)$(SBINDIR)/auplink)
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 Documentation/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 Documentation/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR)
	$(RFSCTL_BIN) completions bash > $(DESTDIR)$(BASHCOMPDIR)/rfsctl

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rfsctl $(DESTDIR)$(SBINDIR)/auplink $(DESTDIR)$(MOUNT_HELPER_DIR)/mount.rfs
	rm -f $(DESTDIR)$(BASHCOMPDIR)/rfsctl $(DESTDIR)$(MANDIR)/man8/mount.rfs.8
	cd Documentation/man && for p in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$p; done

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
