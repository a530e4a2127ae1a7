#!/usr/bin/env bash
# Create (or reuse) the Debian trixie chroot that builds the Linux 7.3 test
# kernel and the module for it: `debootstrap --variant=minbase trixie`, then,
# from trixie main (not backports), the toolchain Debian built its 7.3 kernel
# with (rustc 1.85.1+dfsg1, bindgen 0.71, clang/LLVM 19, gcc-14): the package
# list is RFS_TRIXIE_PKGS in scripts/lib.sh. Needs root and debootstrap.
#
#   scripts/trixie-chroot.sh
#
# Prints the chroot's path. Cached under $RFS_CACHE, keyed by the package list
# and the mirror (the host apt's Debian archive), so a second run does nothing.
# An interrupted run leaves a partial directory that the next run deletes.
# /proc, /sys and /dev are bind-mounted only in a private mount namespace
# around each command (rfs_chroot_exec), so nothing stays mounted on the host.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"

root=$(rfs_trixie_dir)
rfs_lock "$RFS_CACHE/trixie.lock"
if [ -f "$root/.rfs-ready" ]; then
	echo "$root"
	exit 0
fi

mirror=$(rfs_debian_mirror)
tmp=$root.partial

# Delete a partial chroot, but never through a mount (a bind of /dev or of the
# cache that a killed run left behind would be emptied by rm -rf).
remove_tree() {
	[ -e "$1" ] || return 0
	local m
	m=$(rfs_mounts_below "$1")
	[ -z "$m" ] || die "still mounted below $1, not deleting it: $m"
	rm -rf "$1"
}
cleanup() {
	local rc=$?
	if [ $rc != 0 ] && [ -e "$tmp" ]; then
		log "chroot creation failed or was interrupted; removing $tmp"
		remove_tree "$tmp" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
remove_tree "$tmp"
remove_tree "$root"

start=$SECONDS
log "debootstrap trixie (minbase) into $tmp from $mirror"
mkdir -p "$tmp"
# In a mount namespace of its own: debootstrap mounts /proc and /sys in the target.
unshare --mount --propagation private -- \
	debootstrap --variant=minbase trixie "$tmp" "$mirror" >"$RFS_CACHE/trixie-debootstrap.log" 2>&1 || {
	tail -n 20 "$RFS_CACHE/trixie-debootstrap.log" >&2
	die "debootstrap failed; see $RFS_CACHE/trixie-debootstrap.log"
}

rm -f "$tmp/etc/apt/sources.list"
cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<X
Types: deb
URIs: $mirror
Suites: trixie trixie-updates trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
cp /etc/resolv.conf "$tmp/etc/resolv.conf"

log "installing the toolchain: ${RFS_TRIXIE_PKGS[*]}"
if ! {
	rfs_chroot_exec "$tmp" / 0 apt-get update -q &&
	rfs_chroot_exec "$tmp" / 0 apt-get install -y -q --no-install-recommends "${RFS_TRIXIE_PKGS[@]}"
} >"$RFS_CACHE/trixie-apt.log" 2>&1; then
	tail -n 20 "$RFS_CACHE/trixie-apt.log" >&2
	die "apt-get in the chroot failed; see $RFS_CACHE/trixie-apt.log"
fi
rfs_chroot_exec "$tmp" / 0 apt-get clean

# The versions Debian's 7.3 kernel was built with (trixie main; backports has newer).
# shellcheck disable=SC2016 # dpkg-query's format, not shell
vers=$(rfs_chroot_exec "$tmp" / 0 dpkg-query -W -f '${Package}=${Version}\n' rustc bindgen clang gcc-14)
log "toolchain: ${vers//$'\n'/ }"
case $vers in
*rustc=1.85.1+dfsg1-*) ;;
*) die "rustc is not trixie main's 1.85.1+dfsg1: $vers" ;;
esac
case $vers in
*bindgen=0.71.*) ;;
*) die "bindgen is not 0.71.x: $vers" ;;
esac

touch "$tmp/.rfs-ready"
mv "$tmp" "$root"
log "trixie chroot ready in $((SECONDS - start)) s"
echo "$root"
