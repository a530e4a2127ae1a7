#!/bin/sh
# integrity.sh: data integrity of one file through every kind of file
# operation (issue 14, "data-integrity tools"): tests/tools/rfsfsx, an
# fsx-style exerciser (read, write past the end, truncate up and down, mmap
# read and write, fallocate keep-size/punch/zero, copy_file_range within the
# file and from another union file, fsync, reopen with O_APPEND), checked
# against an in-memory copy after every operation.
#
# Each run starts on a file that exists only in a lower branch, so its first
# write goes through copy-up; one run is on a file created through the
# union, one on the native filesystem (the baseline). Afterwards the lower
# files must be unchanged byte for byte, and the copies must read back the
# same after umount and mount.
#
# Then tests/tools/rfsfsstress, an fsstress-style namespace stressor:
# processes doing random create, mkdir, rmdir, unlink, rename, link,
# symlink, write, truncate, chmod, setxattr, readdir and stat on a shared
# tree that first exists in a lower ro+wh branch (so renames and removals
# go through copy-up and whiteouts); only the errnos races explain are
# allowed, and the tree must be consistent afterwards and after a new
# mount, with the lower branch unchanged.
#
# RFS_SOAK=0 (CI): 4 seeds x 3000 operations and 4 x 1500 namespace
# operations, a few minutes under the debug kernel. RFS_SOAK=1 (`make soak
# T=integrity`): 16 seeds x 50000, and 8 stressor seeds x 8 x 20000.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

if [ "${RFS_SOAK:-0}" = 1 ]; then
	SEEDS="1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"
	OPS=50000
	NS_SEEDS="1 2 3 4 5 6 7 8" NS_PROCS=8 NS_OPS=20000
else
	SEEDS="1 2 3 4"
	OPS=3000
	NS_SEEDS="1 2" NS_PROCS=4 NS_OPS=1500
fi

if ! command -v rfsfsx >/dev/null || ! command -v rfsfsstress >/dev/null; then
	t_ok "rfsfsx and rfsfsstress are in the VM (tests/tools/)" false
	t_done
fi

T=$(rfs_tmpdir)
mkbranches "$T" 2
B0=$T/b0 B1=$T/b1 M=$T/mnt
mkdir "$M"
for s in $SEEDS; do
	rfsprobe fill "$B1/f$s" $((s * 37000)) "$s" >/dev/null
done
mkdir "$T/native"
rfsprobe fill "$T/native/f" 100000 99 >/dev/null
before=$(rfsprobe tree "$B1")
t_ok "mount b0=rw b1=ro+wh" rfs_mount "$M" "br:$B0=rw:$B1=ro+wh"

# fsx FILE SCRATCH SEED DESC: one rfsfsx run as a test (its report on failure).
fsx() {
	t_ok "$4: rfsfsx seed $3, $OPS ops" rfsfsx -q --seed "$3" --ops "$OPS" --max-size 262144 "$1" "$2"
}
fsx "$T/native/f" "$T/native/src" 99 "native file (baseline)"
for s in $SEEDS; do
	fsx "$M/f$s" "$M/src$s" "$s" "lower file through copy-up"
done
echo new >"$M/created"
fsx "$M/created" "$M/src-created" 7 "file created through the union"
t_eq "the lower branch is unchanged" "$before" "$(rfsprobe tree "$B1")"

# The copies read back the same through a new mount.
sums=$(for s in $SEEDS; do cksum <"$M/f$s"; done)
umount "$M"
t_ok "mount again" rfs_mount "$M" "br:$B0=rw:$B1=ro+wh"
drop_caches
t_eq "after umount/mount the files read back the same" "$sums" "$(for s in $SEEDS; do cksum <"$M/f$s"; done)"
umount "$M"

# --- the namespace stressor --------------------------------------------------------
for s in $NS_SEEDS; do
	N=$T/ns$s
	mkdir -p "$N/b0" "$N/b1" "$N/m"
	for d in d0 d1 d2 d0/d0 d0/d1 d1/d2 d2/d0; do
		mkdir -p "$N/b1/$d"
		for f in f0 f1 f2; do echo "lower $d/$f" >"$N/b1/$d/$f"; done
	done
	echo lower >"$N/b1/f0"
	before=$(rfsprobe tree "$N/b1")
	t_ok "stressor seed $s: mount b0=rw b1=ro+wh" rfs_mount "$N/m" "br:$N/b0=rw:$N/b1=ro+wh"
	t_ok "stressor seed $s: $NS_PROCS processes x $NS_OPS operations, then a consistent tree" \
		rfsfsstress --seed "$s" --procs "$NS_PROCS" --ops "$NS_OPS" "$N/m"
	umount "$N/m"
	t_ok "stressor seed $s: mount again" rfs_mount "$N/m" "br:$N/b0=rw:$N/b1=ro+wh"
	drop_caches
	t_ok "stressor seed $s: the tree is consistent after a new mount" rfsfsstress --ops 0 "$N/m"
	t_eq "stressor seed $s: the lower branch is unchanged" "$before" "$(rfsprobe tree "$N/b1")"
	umount "$N/m"
done
t_done
