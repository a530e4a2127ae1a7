#!/bin/sh
# xino.sh: persistent inode numbers (issue 4, "xino"): the default xino file
# in the writable branch, noxino, trunc_xino; st_ino stable across copy-up,
# drop_caches and umount + mount; sysfs xi_path and xino. xino=PATH has
# AUFS's meaning (a private, nameless file per mount; Docker's shared
# /dev/shm/aufs.xino with several mounts at once).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2 M=$T/mnt
mkdir "$M"
mkfile "$B1/a" "a"
mkfile "$B1/dir/b" "b"
mkfile "$B2/c" "c"
mkfile "$B0/u" "u"
OPTS="dirs=$B0=rw:$B1=ro+wh:$B2=ro"

inos() { for p in a dir dir/b c u; do printf '%s ' "$(rfsprobe inode-of "$M/$p")"; done; }

rfs_mount "$M" "$OPTS"
S=/sys/fs/rfs/si_$(mount_si "$M")
first=$(inos)
diag "inode numbers: $first"
t_ok "default: the xino file is .wh..wh.xino in the rw branch" [ -f "$B0/.wh..wh.xino" ]
t_eq "default: sysfs xi_path names it" "$B0/.wh..wh.xino" "$(cat "$S/xi_path")"
t_fail "default: the xino file is not visible in the union" [ -e "$M/.wh..wh.xino" ]
t_eq "default: not listed by readdir" "" "$(names "$M" | grep xino)"
t_eq "default: /proc/mounts shows no xino option" "" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
set -- $(cat "$S/xino")
t_ok "sysfs xino: entries and file size ($*)" [ "$1" -ge 5 ]
t_eq "sysfs xino: the size is a 16-byte header plus 24 bytes per entry" $((16 + 24 * $1)) "$2"
t_eq "sysfs xino: the size is the file's" "$2" "$(stat -c %s "$B0/.wh..wh.xino")"
echo 2 >/proc/sys/vm/drop_caches
t_eq "st_ino stable after drop_caches" "$first" "$(inos)"
echo more >>"$M/a"
t_ok "a is copied up" [ -f "$B0/a" ]
t_eq "st_ino stable across copy-up" "$first" "$(inos)"
echo 2 >/proc/sys/vm/drop_caches
t_eq "st_ino stable across copy-up and drop_caches" "$first" "$(inos)"
umount "$M"
rfs_mount "$M" "$OPTS"
t_eq "st_ino stable across umount + mount with the same xino file" "$first" "$(inos)"
mkfile "$B1/new" "new"
n1=$(rfsprobe inode-of "$M/new")
t_ok "a new object gets a number no other object has ($n1)" sh -c "! echo '$first' | tr ' ' '\n' | grep -qx '$n1'"
umount "$M"

# The records are appended in batches (issue 19: one ext4 append per create,
# unlink or copy-up cost W6 and W9 13 %): new numbers wait in memory until a
# kernel worker writes them, at once for a full batch of 64, else 5 s after
# the first; sync, a read of sysfs xino and umount write them too.
rfs_mount "$M" "$OPTS"
S=/sys/fs/rfs/si_$(mount_si "$M")
xsize() { stat -c %s "$B0/.wh..wh.xino"; }
# xwait SIZE: up to 3 s for the file to reach SIZE bytes; prints its size.
xwait() {
	_n=0
	while [ "$(xsize)" -lt "$1" ] && [ $_n -lt 30 ]; do sleep 0.1; _n=$((_n + 1)); done
	xsize
}
cat "$S/xino" >/dev/null
s0=$(xsize)
for i in 1 2 3; do : >"$M/wait$i"; done
t_eq "batches: three creates' records wait in memory (the file has not grown)" "$s0" "$(xsize)"
sync
s1=$(xsize)
t_eq "batches: sync writes them (3 records of 24 bytes)" $((s0 + 72)) "$s1"
i=0
while [ $i -lt 70 ]; do : >"$M/many$i"; i=$((i + 1)); done
s2=$(xwait $((s1 + 64 * 24)))
t_ok "batches: 70 creates: a full batch of 64 is written without sync ($s1 -> $s2)" [ "$s2" -ge $((s1 + 64 * 24)) ]
set -- $(cat "$S/xino")
t_eq "batches: reading sysfs xino writes what waits (the size is the file's)" "$2" "$(xsize)"
t_eq "batches: ... all 70 records" $((s1 + 70 * 24)) "$(xsize)"
s3=$(xsize)
: >"$M/late1"
t_eq "batches: an idle mount: one new record waits" "$s3" "$(xsize)"
sleep 7
t_eq "batches: ... and is written 5 s later with nothing else going on" $((s3 + 24)) "$(xsize)"
: >"$M/last"
rm "$M/wait1"
kept=$(rfsprobe inode-of "$M/last")
s4=$(xsize)
umount "$M"
t_eq "batches: umount writes what waits (a create and an unlink)" $((s4 + 48)) "$(xsize)"
rfs_mount "$M" "$OPTS"
t_eq "batches: the number written at umount is the one the next mount gives" "$kept" "$(rfsprobe inode-of "$M/last")"
# The last records are written by the worker at umount, also when the task
# that unmounts could not write them itself (a file size limit of 0: its own
# write would be refused). Another new object is looked up first at the next
# mount, so a lost record would give the name another number.
: >"$M/limited"
kept=$(rfsprobe inode-of "$M/limited")
sh -c "ulimit -f 0; umount '$M'"
t_fail "batches: umount under ulimit -f 0 unmounts" is_mounted "$M"
: >"$B0/direct"
rfs_mount "$M" "$OPTS"
rfsprobe inode-of "$M/direct" >/dev/null
t_eq "batches: ... and its waiting record reached the file (same number at the next mount)" "$kept" "$(rfsprobe inode-of "$M/limited")"
rm -f "$M"/wait* "$M"/many* "$M"/late* "$M/last" "$M/limited" "$M/direct"
umount "$M"

# trunc_xino: the numbers start afresh
rfs_mount "$M" "$OPTS,trunc_xino"
t_eq "trunc_xino: the file is started afresh (first entry is the first looked up)" "11" "$(rfsprobe inode-of "$M/c")"
umount "$M"

# noxino: in memory only
rfs_mount "$M" "$OPTS,noxino"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "noxino: xi_path is empty" "" "$(cat "$S/xi_path")"
t_eq "noxino: /proc/mounts shows noxino" "noxino" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
t_eq "noxino: numbers still unique" 5 "$(inos | tr ' ' '\n' | grep . | sort -u | wc -l | tr -d ' ')"
t_eq "noxino: sysfs xino shows no file" 0 "$(cut -d' ' -f2 "$S/xino")"
umount "$M"

# xino=PATH: AUFS's meaning, a file of this mount alone, unlinked at once
X=$T/xino-file
rfs_mount "$M" "$OPTS,xino=$X"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_fail "xino=PATH: no file is left at PATH (it is nameless, as AUFS unlinks it)" [ -e "$X" ]
t_eq "xino=PATH: sysfs xi_path" "$X" "$(cat "$S/xi_path")"
t_eq "xino=PATH: /proc/mounts shows it" "xino=$X" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
t_eq "xino=PATH: numbers unique" 5 "$(inos | tr ' ' '\n' | grep . | sort -u | wc -l | tr -d ' ')"
set -- $(cat "$S/xino")
t_ok "xino=PATH: the file is written ($*)" [ "$2" -ge $((16 + 24 * 5)) ]
umount "$M"
t_eq "xino=PATH: nothing in PATH's directory after umount" "" "$(ls -a "$T" | grep xino)"

# Docker gives every container the same xino=/dev/shm/aufs.xino: each mount
# has its own table, and nothing is left.
i=0
while [ $i -lt 4 ]; do
	mkdir -p "$T/c$i/up" "$T/c$i/mnt"
	rfs_mount "$T/c$i/mnt" "br:$T/c$i/up=rw:$B1=ro+wh:$B2=ro+wh,dio,xino=/dev/shm/aufs.xino" || break
	i=$((i + 1))
done
t_eq "four mounts given the same xino=/dev/shm/aufs.xino" 4 "$i"
i=0
while [ $i -lt 4 ]; do
	j=0
	while [ $j -lt 20 ]; do echo "$i $j" >"$T/c$i/mnt/new$j"; j=$((j + 1)); done
	i=$((i + 1))
done
t_eq "each counts its own numbers (the same sequence in every mount)" \
	"$(rfsprobe inode-of "$T/c0/mnt/new7")" "$(rfsprobe inode-of "$T/c3/mnt/new7")"
t_eq "numbers are unique within each mount" 20 \
	"$(for j in $(seq 0 19); do rfsprobe inode-of "$T/c2/mnt/new$j"; done | sort -u | wc -l | tr -d ' ')"
t_fail "/dev/shm/aufs.xino does not exist while they run" [ -e /dev/shm/aufs.xino ]
i=0
while [ $i -lt 4 ]; do umount "$T/c$i/mnt"; i=$((i + 1)); done
t_eq "nothing is left in /dev/shm" "" "$(ls -a /dev/shm | grep aufs)"

# an existing file at PATH is left alone; the mount works
echo "garbage garbage garbage" >"$X"
rfs_mount "$M" "$OPTS,xino=$X"
t_eq "an existing file at PATH: the mount works and objects stat" 5 "$(inos | tr ' ' '\n' | grep -c '^[0-9]')"
umount "$M"
t_eq "... and the file is untouched" "garbage garbage garbage" "$(cat "$X")"
rm -f "$X"
t_errno "xino=PATH that is a directory is refused (EISDIR)" EISDIR rfsprobe mount rfs none "$M" "$OPTS,xino=$T"
is_mounted "$M" && umount "$M"
t_errno "xino=PATH in a directory that does not exist is refused (ENOENT)" ENOENT rfsprobe mount rfs none "$M" "$OPTS,xino=$T/none/x"
is_mounted "$M" && umount "$M"

# A damaged default xino file is started afresh; the mount works
printf 'garbage garbage garbage' >"$B0/.wh..wh.xino"
rfs_mount "$M" "$OPTS"
t_eq "a damaged xino file: the mount works and objects stat" 5 "$(inos | tr ' ' '\n' | grep -c '^[0-9]')"
umount "$M"

# no rw branch: in memory
rfs_mount "$M" "dirs=$B1=ro:$B2=ro"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "no rw branch: the map lives in memory (xi_path empty)" "" "$(cat "$S/xi_path")"
umount "$M"

# --- pseudo-links: hard links of a lower branch stay one object ---------------
P=$T/pl
mkbranches "$P" 2
mkdir -p "$P/mnt"
mkfile "$P/b1/h1" "hard"
mkdir -p "$P/b1/sub"
ln "$P/b1/h1" "$P/b1/h2"
ln "$P/b1/h1" "$P/b1/sub/h3"
PM=$P/mnt
rfs_mount "$PM" "dirs=$P/b0=rw:$P/b1=ro+wh"
hl_inos() { for n in h1 h2 sub/h3; do printf '%s ' "$(rfsprobe inode-of "$PM/$n")"; done; }
hl_one() { hl_inos | tr ' ' '\n' | grep . | sort -u | wc -l | tr -d ' '; }
t_eq "hard links in a lower branch: one union inode" 1 "$(hl_one)"
t_eq "before copy-up all names read the same" "hardhardhard" "$(cat "$PM/h1" "$PM/h2" "$PM/sub/h3")"
before=$(hl_inos)
printf ' one' >>"$PM/h1"
t_ok "h1 was copied up" [ -f "$P/b0/h1" ]
t_eq "after copy-up of h1: still one union inode" "$before" "$(hl_inos)"
t_eq "after copy-up of h1: h2 (cached before) shows the new data" "hard one" "$(cat "$PM/h2")"
t_eq "after copy-up of h1: sub/h3 shows the new data" "hard one" "$(cat "$PM/sub/h3")"
t_eq "the lower file is unchanged" "hard" "$(cat "$P/b1/h2")"
printf ' two' >>"$PM/h2"
t_eq "a write through h2 shows through h1" "hard one two" "$(cat "$PM/h1")"
t_eq "h1 and h2 are one file in the writable branch" "$(stat -c %i "$P/b0/h1")" "$(stat -c %i "$P/b0/h2")"
echo 2 >/proc/sys/vm/drop_caches
t_eq "after drop_caches: same inode" "$before" "$(hl_inos)"
t_eq "after drop_caches: sub/h3 still shows the shared data" "hard one two" "$(cat "$PM/sub/h3")"
umount "$PM"
rfs_mount "$PM" "dirs=$P/b0=rw:$P/b1=ro+wh"
t_eq "after umount + mount: same inode" "$before" "$(hl_inos)"
t_eq "after umount + mount: sub/h3 shows the shared data" "hard one two" "$(cat "$PM/sub/h3")"
t_errno "the pseudo-link directory is hidden" ENOENT rfsprobe stat "$PM/.wh..wh.plnk"
t_eq "and not listed" "h1 h2 sub" "$(names "$PM" | oneline)"
printf ' three' >>"$PM/sub/h3"
t_eq "sub/h3 copied up as a link too (parent copied first)" "$(stat -c %i "$P/b0/h1")" "$(stat -c %i "$P/b0/sub/h3")"
t_eq "all names show it" "hard one two three" "$(cat "$PM/h2")"
rm "$PM/h1"
t_eq "removing one name keeps the others" "hard one two three" "$(cat "$PM/h2")"
umount "$PM"

# A pseudo-link belongs to the lower file it was made of. A lower file that
# was changed in place (the same inode, as another image on the same loop
# device, or a squashfs/erofs file with generation 0, would give) while the
# union was not mounted is another object: its names not copied up read
# it, not the old copy.
mkfile "$P/b1/q1" "old"
ln "$P/b1/q1" "$P/b1/q2"
rfs_mount "$PM" "dirs=$P/b0=rw:$P/b1=ro+wh"
printf ' x' >>"$PM/q1"
t_eq "q2 reads the copy of q1 (pseudo-link)" "old x" "$(cat "$PM/q2")"
umount "$PM"
qi=$(stat -c %i "$P/b1/q2")
printf 'replaced in place' >"$P/b1/q2"
t_eq "the lower file keeps its inode" "$qi" "$(stat -c %i "$P/b1/q2")"
rfs_mount "$PM" "dirs=$P/b0=rw:$P/b1=ro+wh"
t_eq "after a change in place: q2 reads the lower file, not the old copy" "replaced in place" "$(cat "$PM/q2")"
t_eq "... q1 keeps its own copy" "old x" "$(cat "$PM/q1")"
umount "$PM"
t_done
