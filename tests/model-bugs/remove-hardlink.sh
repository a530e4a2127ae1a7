#!/bin/sh
# Known rfs bug found by rfsmodel (avoided by `rfsmodel run --avoid remove-hardlink`,
# on by default): after link(2) through the union, unlink(2) or rename(2) of the
# new name fails with ESTALE, and the name stays. The union inode of the linked
# object keeps the upper dentry of the name it was first made for, and
# src/dir.rs remove()/rename() check that the name being removed is that
# dentry (`!cur.same(u)` -> ESTALE).
#
#   sh remove-hardlink.sh [DIR]      prints the errno of each call
# Expected (rfs.rst, Removal and creation / Rename): OK everywhere, and the
# names at the end `c f h2` and `b` gone from c/d.
# rfs 1ee6786 (debug kernel): both unlinks fail with ESTALE; the rename
# succeeds but renames the *first* name (f) instead of h: `c g h h2`, c/d: `b`.
T=${1:-/tmp/rfs-remove-hardlink}
umount "$T/mnt" 2>/dev/null
rm -rf "$T"
mkdir -p "$T/b0" "$T/b1/c" "$T/mnt"
printf 'lower' >"$T/b1/c/a"
mount -t rfs -o "dirs=$T/b0=rw:$T/b1=ro+wh" none "$T/mnt" || exit 1
# 1. an upper file created through the union, linked in the same directory
echo data >"$T/mnt/f"
ln "$T/mnt/f" "$T/mnt/g"
printf 'unlink second name (same dir):   '; rfsmodel op unlink "$T/mnt/g"
# 2. a lower file copied up by the link, linked into another directory
mkdir "$T/mnt/c/d"
ln "$T/mnt/c/a" "$T/mnt/c/d/b"
printf 'unlink second name (other dir):  '; rfsmodel op unlink "$T/mnt/c/d/b"
ln "$T/mnt/f" "$T/mnt/h" 2>/dev/null
printf 'rename second name:              '; rfsmodel op rename "$T/mnt/h" "$T/mnt/h2"
printf 'names now: '; ls "$T/mnt" "$T/mnt/c/d" | tr '\n' ' '; echo
umount "$T/mnt"
