#!/usr/bin/env bash
# Build rfs.ko for a test kernel, in a private copy of the sources
# (out/module-KVER-FLAVOR, so builds for different kernels never share objects
# with each other or with the in-tree `make`):
#   6.12: on the host, like `make KDIR=<kernel>`;
#   7.3:  in the Debian trixie chroot with its rustc 1.85.1 and bindgen 0.71
#         (the kernel's own toolchain; a module must be built with the rustc that
#         built the kernel's Rust crates), the kernel and the copy bind-mounted
#         at their own paths.
# Builds the kernel first if it is not cached (scripts/build-kernel.sh).
#
#   scripts/build-module.sh [6.12|7.3] [debug|release]     (or `make KVER=7.3 [FLAVOR=...]`)
#
# Prints the path of rfs.ko. The full build output is in
# out/module-KVER-FLAVOR.log (also on failure, with its end on stderr); make
# runs with -k, so a failed build reports the errors of both the C helpers and
# the Rust crate.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=${1:-$RFS_KVER}
flavor=${2:-debug}

kdir=$(rfs_lock "$RFS_CACHE/.kernel-build.lock"
	"$rfs_top/scripts/build-kernel.sh" "$flavor" "$kver")
src=$(rfs_ksrc "$kver")

build=$rfs_top/out/module-$kver-$flavor
logf=$build.log
rfs_lock "$build.lock"
log "rfs.ko for $(basename "$kdir") in $build"
[ -z "$(rfs_mounts_below "$build")" ] || die "something is mounted below $build"
rm -rf "$build"
mkdir -p "$build"
# A private copy of the sources (tracked and new files; no build products).
rfs_copy_sources "$build"

start=$SECONDS
case $kver in
6.12)
	make -k -C "$build" -j"$(nproc)" KDIR="$kdir" KVER= modules >"$logf" 2>&1 ;;
*)
	rfs_trixie_run -b "$src" -b "$kdir" -b "$build" -- \
		make -k -C "$build" -j"$(nproc)" KDIR="$kdir" KVER= modules >"$logf" 2>&1 ;;
esac || {
	tail -n 60 "$logf" >&2
	die "building rfs.ko for $(basename "$kdir") failed after $((SECONDS - start)) s ($logf)"
}
[ -f "$build/rfs.ko" ] || die "no rfs.ko after the build ($logf)"
log "built in $((SECONDS - start)) s"
echo "$build/rfs.ko"
