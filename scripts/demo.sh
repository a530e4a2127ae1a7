#!/usr/bin/env bash
# Show rfs at work (`make demo`): set up, build the release test kernel and the
# module for it, boot QEMU with rfs.mode=demo. The guest (scripts/vm-demo)
# loads rfs, stacks an upper rw layer on two lower layers (one ro+wh with a
# whiteout), mounts the union and shows it, /proc/mounts and /sys/fs/rfs.
# On a terminal you get a shell in the guest afterwards (exit or Ctrl-D ends
# it, Ctrl-A X kills QEMU); otherwise the VM powers off.
#
#   scripts/demo.sh
#
# The module is built in a copy of the tree (out/build-release/), so objects
# built for the debug kernel at the repo top are never mixed in.
# Logs: out/demo/console.log, out/demo/module-build.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

out=$rfs_top/out
mkdir -p "$out/demo"
rfs_lock "$out/.demo.lock"

log "setup"
"$rfs_top/scripts/setup.sh" >"$out/demo/setup.log" 2>&1 || {
	tail -n 40 "$out/demo/setup.log" >&2
	die "scripts/setup.sh failed"
}

log "release kernel (scripts/build-kernel.sh release)"
kdir=$(rfs_lock "$RFS_CACHE/.kernel-build.lock"
	"$rfs_top/scripts/build-kernel.sh" release)

# A private copy of the sources (tracked and new files; no build products).
build=$out/build-release
log "module for $(basename "$kdir") in $build"
rm -rf "$build"
mkdir -p "$build"
rfs_copy_sources "$build"
if ! make -C "$build" -j"$(nproc)" KDIR="$kdir" >"$out/demo/module-build.log" 2>&1 ||
	[ ! -f "$build/rfs.ko" ]; then
	tail -n 80 "$out/demo/module-build.log" >&2
	die "building rfs.ko for the release kernel failed (out/demo/module-build.log)"
fi

initrd=$out/initramfs-release.cpio.gz
"$rfs_top/scripts/mkinitramfs.sh" -k "$kdir" -m "$build/rfs.ko" -o "$initrd"

exec "$rfs_top/scripts/vm.sh" -m demo -c -k "$kdir" -i "$initrd" -o "$out/demo"
