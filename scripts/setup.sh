#!/usr/bin/env bash
# Install everything rfs's build and tests need on a Debian 12 (bookworm) host:
# the kernel build tools, QEMU, busybox, the kernel source package, the Rust
# kernel pieces (rust-src, bindgen-cli 0.70.1). Idempotent: when everything is
# already there it only checks and returns (well under a second).
#
#   scripts/setup.sh
#
# Runs as root (CI); as a normal user it uses sudo for apt-get if available.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

export DEBIAN_FRONTEND=noninteractive

# Debian packages: kernel build (LLVM=1), module build, VM, initramfs, disk images,
# the stress suite's tools.
apt_pkgs=(
	clang lld llvm libclang-dev libelf-dev flex bison bc libssl-dev make gcc libc6-dev
	cpio kmod pahole xz-utils gzip perl python3
	qemu-system-x86 busybox-static e2fsprogs xfsprogs
	ca-certificates curl
	# rfsctl's static (musl) build compiles zstd's C code with musl-gcc
	musl-tools
	# the Debian trixie chroot for the Linux 7.3 kernels (scripts/trixie-chroot.sh)
	debootstrap
	"$RFS_KSRC_PKG"
	# tests/stress.sh: copied with their libraries into the test initramfs
	fio stress-ng dbench
)
BINDGEN_VERSION=0.70.1

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@" || sudo "$@"
	else
		die "need root for: $* (run as root or install sudo)"
	fi
}

installed() {
	[ "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${apt_pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}"
fi

# Rust: rustup (stable) if there is no toolchain at all, then the kernel's needs.
if ! command -v rustup >/dev/null 2>&1; then
	if ! command -v cargo >/dev/null 2>&1; then
		log "installing rustup (stable, minimal profile)"
		curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
			sh -s -- -y -q --profile minimal --default-toolchain stable
	else
		die "cargo is installed without rustup; rust-src cannot be added (install rustup)"
	fi
fi
sysroot=$(rustc --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
	log "adding rust-src"
	rustup component add rust-src
fi
# rfsctl's static build (scripts/mkinitramfs.sh falls back to the gnu target
# with crt-static when this target cannot be added).
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
	log "adding the x86_64-unknown-linux-musl target (rfsctl)"
	rustup target add x86_64-unknown-linux-musl || log "warning: no musl target; rfsctl is built for gnu with crt-static"
fi

if [ "$(bindgen --version 2>/dev/null)" != "bindgen $BINDGEN_VERSION" ]; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

[ -f "/usr/src/$RFS_KSRC_PKG.tar.xz" ] || die "/usr/src/$RFS_KSRC_PKG.tar.xz is missing"
exit 0
