#!/bin/sh
# register.sh: module load/unload (issue 2, "Module behaviour" 1): the
# filesystem type, /sys/fs/rfs/config, the module refcount while mounted,
# and 20 insmod/mount/umount/rmmod cycles (the runner's kmemleak scan at the
# end catches leaks). Leaves rfs loaded, as the runner expects.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 2
M=$T/mnt
mkdir "$M"
mkfile "$T/b0/top" top
mkfile "$T/b1/bottom" bottom

ensure_module
t_eq "/proc/filesystems lists 'nodev rfs'" "nodev	rfs" "$(grep -x 'nodev	rfs' /proc/filesystems)"
t_ok "/sys/fs/rfs exists" [ -d /sys/fs/rfs ]
cfg=$(cat /sys/fs/rfs/config 2>&1)
diag "config: $(echo "$cfg" | oneline)"
t_ok "/sys/fs/rfs/config has version=" sh -c "echo '$cfg' | grep -q '^version=[0-9]'"
t_ok "/sys/fs/rfs/config has features=" sh -c "echo '$cfg' | grep -q '^features='"
t_eq "no si_ directory before any mount" "" "$(ls /sys/fs/rfs | grep '^si_')"

# Unload while mounted is refused by the module refcount.
rfs_mount "$M" "dirs=$T/b0:$T/b1"
t_fail "rmmod while mounted fails" rmmod rfs
t_ok "module still loaded after the refused rmmod" module_loaded
t_eq "mount still works after the refused rmmod" "bottom top" "$(names "$M" | oneline)"
exec 3<"$M/bottom"
umount "$M" 2>/dev/null
lazy=0
if is_mounted "$M"; then umount -l "$M" && lazy=1; fi
t_fail "rmmod while a file of a (lazily) unmounted union is open fails" rmmod rfs
exec 3<&-
[ $lazy = 1 ] && sleep 1
t_ok "rmmod after umount and close works" rmmod rfs
t_fail "/proc/filesystems has no rfs after rmmod" grep -q 'rfs$' /proc/filesystems
t_fail "/sys/fs/rfs is gone after rmmod" [ -e /sys/fs/rfs ]
t_ok "insmod again" insmod "$RFS_MODULE"

# 20 cycles: load, mount, read, umount, unload.
bad=""
i=1
while [ $i -le 20 ]; do
	module_loaded || insmod "$RFS_MODULE" || bad="$bad insmod#$i"
	if rfs_mount "$M" "dirs=$T/b0:$T/b1=ro+wh" 2>/dev/null; then
		[ "$(cat "$M/bottom" 2>&1) $(cat "$M/top" 2>&1)" = "bottom top" ] || bad="$bad read#$i"
		ls "/sys/fs/rfs/" | grep -q '^si_' || bad="$bad sysfs#$i"
		umount "$M" || bad="$bad umount#$i"
	else
		bad="$bad mount#$i"
	fi
	rmmod rfs || bad="$bad rmmod#$i"
	i=$((i + 1))
done
t_eq "20 cycles of insmod, mount, read, umount, rmmod" "" "$bad"
ensure_module
t_ok "rfs loaded again at the end" module_loaded
t_done
