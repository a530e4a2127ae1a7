#!/bin/sh
# lifecycle.sh: mount lifecycle (issue 6, item 5).
#  1. mount/umount cycles with activity in between (create, write, copy-up,
#     whiteout, mkdir, rename, readdir); each cycle checks what the cycle
#     before left in the branches;
#  2. umount of a busy union (open fd, fd open for writing, cwd inside, a
#     mapping, a union stacked on it) fails with EBUSY and works once
#     released; a branch filesystem is busy while the union is mounted;
#     lazy umount with an open file;
#  3. memory: rfs's inode cache (rfs_inode) and the system's dentry and
#     inode counts return to their baseline after umount;
#  4. insmod/rmmod loops, with and without a mount in between (sysfs ids
#     restart at 1); rfs is loaded again at the end.
# kmemleak is scanned by the runner at the end of the run.
# RFS_SOAK=1: 1000 mount cycles and 200 module reloads; the short CI mode
# does LC_CYCLES (default 30) and LC_RELOADS (default 5): about 100 s of VM
# time under the debug kernel (a cycle takes about 0.7 s).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

if [ "${RFS_SOAK:-0}" = 1 ]; then
	NCYC=${LC_CYCLES:-1000} NMOD=${LC_RELOADS:-200}
else
	NCYC=${LC_CYCLES:-30} NMOD=${LC_RELOADS:-5}
fi
T=$(rfs_tmpdir)
cd "$T" || exit 1
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2 M=$T/mnt
mkdir "$M"
_lap=$(cut -d. -f1 /proc/uptime)
lap() {
	_now=$(cut -d. -f1 /proc/uptime)
	diag "$1: $((_now - _lap)) s"
	_lap=$_now
}
ensure_module

# --- memory probes ---------------------------------------------------------------------
# rfs_inode_objs: objects in use in rfs's inode cache, after the per-CPU slabs
# were flushed (kmem_cache_shrink), so free objects there do not count.
rfs_inode_objs() {
	[ -w /sys/kernel/slab/rfs_inode/shrink ] && echo 1 >/sys/kernel/slab/rfs_inode/shrink
	awk '$1 == "rfs_inode" { print $2; f = 1 } END { if (!f) print "none" }' /proc/slabinfo
}
nr_dentry() { awk '{ print $1 }' /proc/sys/fs/dentry-state; }
nr_inodes() { awk '{ print $1 }' /proc/sys/fs/inode-nr; }
# settle: drop unused dentries and inodes, and give RCU frees time to run.
settle() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
	sleep 1
	echo 2 >/proc/sys/vm/drop_caches
}
# near NAME BASE NOW SLACK: true when NOW <= BASE + SLACK (diag otherwise).
near() {
	[ "$3" -le $(($2 + $4)) ] && return 0
	diag "$1: baseline $2, now $3 (allowed +$4)"
	return 1
}

# --- 1. mount/umount cycles with activity ---------------------------------------------------
# b1 (ro+wh) holds l1..lN (copied up in cycle i), b2 (ro) w1..wN (whited out in
# cycle i), b1 also a directory dir/ with entries.
seq 1 "$NCYC" | awk -v b1="$B1" -v b2="$B2" '{
	print "lower " $1 > (b1 "/l" $1); close(b1 "/l" $1)
	print "w " $1 > (b2 "/w" $1); close(b2 "/w" $1)
}'
mkfile "$B1/dir/inner" inner
settle
base_slab=$(rfs_inode_objs) base_dent=$(nr_dentry) base_ino=$(nr_inodes)
diag "baseline: rfs_inode $base_slab, dentries $base_dent, inodes $base_ino"
OPTS="dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# cycle I: one mount with activity; prints what went wrong (nothing if all
# went right). Shell builtins where possible: processes are slow under TCG.
cycle() {
	_i=$1 _p=$(($1 - 1)) _e=
	rfs_mount "$M" "$OPTS" 2>/dev/null || { echo "mount#$_i"; return; }
	if [ "$_p" -gt 0 ]; then
		read -r _v <"$M/new$_p" || _v=
		[ "$_v" = "n$_p" ] || _e="$_e new$_p='$_v'"
		[ -e "$M/w$_p" ] && _e="$_e w$_p-back"
		[ -d "$M/e$_p" ] || _e="$_e no-e$_p"
		{ read -r _v && read -r _v2; } <"$M/l$_p" || _v2=
		[ "$_v2" = "+$_p" ] || _e="$_e l$_p-copyup-lost"
	fi
	echo "n$_i" >"$M/new$_i" || _e="$_e create"
	echo "+$_i" >>"$M/l$_i" || _e="$_e append"
	{ read -r _v && read -r _v2; } <"$M/l$_i" || _v2=
	[ "$_v $_v2" = "lower $_i +$_i" ] || _e="$_e l$_i='$_v $_v2'"
	rm "$M/w$_i" || _e="$_e rm"
	[ -e "$M/w$_i" ] && _e="$_e w$_i-still-there"
	mkdir "$M/d$_i" && echo x >"$M/d$_i/f" && rm "$M/d$_i/f" && mv "$M/d$_i" "$M/e$_i" || _e="$_e mkdir-rename"
	# readdir (the glob reads the directory): l*, w*, new*, e* and dir
	set -- "$M"/*
	[ $# = $((2 * NCYC + _i + 1)) ] || _e="$_e readdir:$#/$((2 * NCYC + _i + 1))"
	set -- "$M"/.[!.]*
	[ "$1" = "$M/.[!.]*" ] || _e="$_e dotfiles:$*"
	set -- "$M"/dir/*
	[ "$*" = "$M/dir/inner" ] || _e="$_e dir:$*"
	umount "$M" || _e="$_e umount"
	[ -n "$_e" ] && echo "cycle $_i:$_e"
}

: >"$T/cycle-errors"
t0=$(cut -d. -f1 /proc/uptime)
i=1
while [ $i -le "$NCYC" ]; do
	cycle $i >>"$T/cycle-errors" 2>&1
	if [ $((i % 100)) = 0 ]; then
		diag "cycle $i: $(($(cut -d. -f1 /proc/uptime) - t0)) s"
	fi
	i=$((i + 1))
done
t1=$(cut -d. -f1 /proc/uptime)
diag "$NCYC cycles in $((t1 - t0)) s"
t_eq "$NCYC mount/umount cycles with create, write, copy-up, whiteout, mkdir, rename, readdir" "" \
	"$(head -n 10 "$T/cycle-errors")"
t_eq "the cycles left the lower branches alone" "lower 1" "$(cat "$B1/l1")"
t_eq "the cycles' whiteouts are in the rw branch" "$NCYC" "$(ls -A "$B0" | grep -c '^\.wh\.w')"
rfs_mount "$M" "$OPTS"
t_eq "a last mount shows the state of every cycle" "$((NCYC * 3 + 1))" "$(ls "$M" | wc -l)"
mid_slab=$(rfs_inode_objs) mid_dent=$(nr_dentry)
diag "while mounted, after ls: rfs_inode $mid_slab, dentries $mid_dent"
t_ok "rfs_inode objects are in use while the union is cached ($mid_slab > $base_slab)" \
	[ "$mid_slab" -gt "$base_slab" ]
umount "$M"
settle
lap "mount cycles"

# --- 3. memory back to the baseline -----------------------------------------------------
slab=$(rfs_inode_objs) dent=$(nr_dentry) ino=$(nr_inodes)
diag "after umount: rfs_inode $slab, dentries $dent, inodes $ino"
t_ok "rfs_inode back to the baseline after umount ($base_slab -> $slab)" near rfs_inode "$base_slab" "$slab" 0
t_ok "dentries back to the baseline after umount ($base_dent -> $dent)" near dentries "$base_dent" "$dent" 300
t_ok "inodes back to the baseline after umount ($base_ino -> $ino)" near inodes "$base_ino" "$ino" 300

# A bigger tree: 2000 union objects, walked, then unmounted.
mkdir -p "$T/big/b0" "$T/big/b1" "$T/big/mnt"
(cd "$T/big/b1" && seq 1 40 | xargs mkdir)
awk -v b="$T/big/b1" 'BEGIN { for (d = 1; d <= 40; d++) for (f = 1; f <= 50; f++) { p = b "/" d "/" f; printf "" >p; close(p) } }'
settle
base_slab=$(rfs_inode_objs) base_dent=$(nr_dentry) base_ino=$(nr_inodes)
rfs_mount "$T/big/mnt" "dirs=$T/big/b0=rw:$T/big/b1=ro"
t_eq "2000 files: find sees them all" 2041 "$(find "$T/big/mnt" | wc -l)"
t_ok "2000 files: rfs_inode grew by at least 2000" [ "$(rfs_inode_objs)" -ge $((base_slab + 2000)) ]
diag "2000 files mounted and walked: rfs_inode $(rfs_inode_objs), dentries $(nr_dentry), inodes $(nr_inodes)"
umount "$T/big/mnt"
settle
slab=$(rfs_inode_objs) dent=$(nr_dentry) ino=$(nr_inodes)
t_ok "2000 files: rfs_inode back to the baseline ($base_slab -> $slab)" near rfs_inode "$base_slab" "$slab" 0
t_ok "2000 files: dentries back to the baseline ($base_dent -> $dent)" near dentries "$base_dent" "$dent" 300
t_ok "2000 files: inodes back to the baseline ($base_ino -> $ino)" near inodes "$base_ino" "$ino" 300
lap "memory"

# --- 2. busy unions ------------------------------------------------------------------------------
rfs_mount "$M" "$OPTS"
# busy DESC CMD...: CMD makes the union busy (and reports it is, by a file
# $T/ready); umount fails with EBUSY until it is released ($T/ready removed).
exec 3<"$M/l1"
t_errno "umount with a file open for reading: EBUSY" EBUSY rfsprobe umount "$M"
t_eq "... the open file still reads" "lower 1" "$(head -n 1 <&3)"
exec 3<&-
t_errno "... umount once it is closed" 0 rfsprobe umount "$M"
rfs_mount "$M" "$OPTS"
exec 4>>"$M/written"
t_errno "umount with a file open for writing: EBUSY" EBUSY rfsprobe umount "$M"
echo data >&4
exec 4>&-
t_errno "... umount once it is closed" 0 rfsprobe umount "$M"
t_eq "... the write reached the rw branch" "data" "$(cat "$B0/written")"
rfs_mount "$M" "$OPTS"
exec 5<"$M/dir"
t_errno "umount with a directory open: EBUSY" EBUSY rfsprobe umount "$M"
exec 5<&-
t_errno "... umount once it is closed" 0 rfsprobe umount "$M"
rfs_mount "$M" "$OPTS"
rm -f "$T/ready"
sh -c 'cd "$1" && : >"$2" && while [ -e "$2" ]; do sleep 0.1; done' cwd "$M/dir" "$T/ready" &
bg=$!
n=0
while [ ! -e "$T/ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
t_errno "umount with a process whose cwd is inside: EBUSY" EBUSY rfsprobe umount "$M"
rm -f "$T/ready"
wait $bg
t_errno "... umount once it left" 0 rfsprobe umount "$M"
rfs_mount "$M" "$OPTS"
rfsprobe mmap-hold "$M/l2" "$T/ready" &
bg=$!
n=0
while [ ! -e "$T/ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
# rfs.rst: the VMA's file is the branch file, opened as a backing file of
# the union file: /proc/PID/maps names the union path, and the mapping keeps
# the union mounted, as OverlayFS's (Linux 6.8 and later).
t_eq "a mapping of a lower file through the union: /proc/PID/maps names the union path" 1 \
	"$(grep -c " $M/l2\$" "/proc/$bg/maps")"
t_errno "umount with a file mapped (fd closed): EBUSY (the mapping holds the union's path)" EBUSY \
	rfsprobe umount "$M"
rm -f "$T/ready"
wait $bg
t_eq "... the process with the mapping ended normally" 0 "$?"
echo upper >"$M/mapped-upper"
rfsprobe mmap-hold "$M/mapped-upper" "$T/ready" &
bg=$!
n=0
while [ ! -e "$T/ready" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
t_eq "... and of a file of the writable branch" 1 "$(grep -c " $M/mapped-upper\$" "/proc/$bg/maps")"
rm -f "$T/ready"
wait $bg
rm -f "$M/mapped-upper"
t_errno "... umount once the mappings are gone" 0 rfsprobe umount "$M"
# A union stacked on this one holds it as a branch.
rfs_mount "$M" "$OPTS"
mkdir -p "$T/top" "$T/topmnt"
rfs_mount "$T/topmnt" "dirs=$T/top=rw:$M=ro"
t_eq "a union stacked on the union reads through it" "lower 3" "$(head -n 1 "$T/topmnt/l3")"
t_errno "umount of a union that is a branch of another: EBUSY" EBUSY rfsprobe umount "$M"
t_errno "... the top union unmounts" 0 rfsprobe umount "$T/topmnt"
t_errno "... then the lower union" 0 rfsprobe umount "$M"
# The branches' filesystems stay busy while the union is mounted.
mkdir -p "$T/tm"
mount -t tmpfs -o size=4m tmpfs "$T/tm"
mkdir "$T/tm/up"
rfs_mount "$M" "dirs=$T/tm/up=rw:$B1=ro+wh"
t_errno "umount of a branch's filesystem while the union is mounted: EBUSY" EBUSY rfsprobe umount "$T/tm"
t_errno "... the union unmounts" 0 rfsprobe umount "$M"
t_errno "... then the branch's filesystem" 0 rfsprobe umount "$T/tm"
# Lazy umount with an open file: the file keeps working; rmmod only once closed.
rfs_mount "$M" "$OPTS"
exec 3<"$M/l4"
t_errno "lazy umount with an open file" 0 rfsprobe umount "$M" detach
t_ok "... it is gone from /proc/mounts" sh -c "! grep -q ' $M rfs ' /proc/mounts"
t_eq "... the open file still reads" "lower 4" "$(head -n 1 <&3)"
t_fail "... rmmod is refused while the file is open" rmmod rfs
exec 3<&-
sleep 1
t_ok "... rmmod works once it is closed" rmmod rfs
t_ok "... insmod again" insmod "$RFS_MODULE"
lap "busy"

# --- 4. insmod/rmmod loops ------------------------------------------------------------------------
bad=
i=1
while [ $i -le "$NMOD" ]; do
	module_loaded && { rmmod rfs || bad="$bad rmmod#$i"; }
	[ -e /sys/fs/rfs ] && bad="$bad sysfs-left#$i"
	insmod "$RFS_MODULE" || bad="$bad insmod#$i"
	# without a mount
	rmmod rfs || bad="$bad rmmod-empty#$i"
	insmod "$RFS_MODULE" || bad="$bad insmod-empty#$i"
	# with a mount and some activity; the first si of a fresh load is 1
	if rfs_mount "$M" "$OPTS" 2>/dev/null; then
		si=$(mount_si "$M")
		[ "$si" = 1 ] || bad="$bad si=$si#$i"
		[ -f "/sys/fs/rfs/si_$si/br2" ] || bad="$bad sysfs#$i"
		echo "r$i" >"$M/reload$i" && rm "$M/reload$i" || bad="$bad write#$i"
		[ "$(head -n 1 "$M/l$((i % NCYC + 1))")" = "lower $((i % NCYC + 1))" ] || bad="$bad read#$i"
		rmmod rfs 2>/dev/null && bad="$bad rmmod-while-mounted#$i"
		umount "$M" || bad="$bad umount#$i"
	else
		bad="$bad mount#$i"
	fi
	i=$((i + 1))
done
t_eq "$NMOD insmod/rmmod loops, with and without a mount" "" "$bad"
ensure_module
t_ok "rfs is loaded at the end" module_loaded
t_eq "no rfs mount left" "" "$(awk '$3 == "rfs"' /proc/mounts)"
lap "module reloads"
t_done
