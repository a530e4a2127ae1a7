# shellcheck shell=bash
# Shared settings for rfs's scripts. Sourced, not run.

# Where the test kernels, the initramfs pieces and other build products are kept
# between runs. Outside the repository so a clean clone reuses them.
RFS_CACHE=${RFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rfs}

rfs_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "rfs: $*" >&2; exit 1; }
log() { echo "rfs: $*" >&2; }

# The Debian package that carries the kernel source, and its exact version
# (the sublevel moves with bookworm-security, so it is part of the cache key).
RFS_KSRC_PKG=linux-source-6.12
rfs_ksrc_version() {
	dpkg-query -W -f '${Version}' "$RFS_KSRC_PKG" 2>/dev/null
}

# rfs_kdir FLAVOR: the build directory of the test kernel of that flavour
# (release or debug), keyed by source version and the config fragments.
rfs_kdir() {
	local flavor=$1 ver key
	ver=$(rfs_ksrc_version) || die "$RFS_KSRC_PKG is not installed (run scripts/setup.sh)"
	key=$(cat "$rfs_top/scripts/kconfig/base.config" "$rfs_top/scripts/kconfig/$flavor.config" \
		"$rfs_top/scripts/build-kernel.sh" | sha256sum | cut -c1-12)
	echo "$RFS_CACHE/kernel-$ver-$flavor-$key"
}

rfs_ksrc() {
	echo "$RFS_CACHE/src/linux-$(rfs_ksrc_version)"
}

export PATH="$HOME/.cargo/bin:$PATH"

# rfs_lock FILE: hold an exclusive lock on FILE until the calling script exits
# (waits, with a message, while another run holds it). Serializes runs that
# share ./out or a kernel build directory.
rfs_lock() {
	local fd
	mkdir -p "$(dirname "$1")"
	exec {fd}>>"$1"
	if ! flock -n "$fd"; then
		log "waiting for $1 (another run holds it)"
		flock "$fd"
	fi
}
