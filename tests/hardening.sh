#!/bin/sh
# hardening.sh: the defects an independent review against fs/overlayfs found
# (issue 14), one case (or several timings of one race) per defect. Each case
# failed on the code before its fix; Documentation/overlayfs-parity.rst names
# the case that covers each operation.
#
#  1. unlink (and rename over) during an open-for-write copy-up of a large
#     lower file must not bring the name back: rounds at several delays
#     spread over the measured copy-up time, then umount/mount;
#  2. an O_RDONLY|O_TRUNC open that the VFS fails after ->open (ETXTBSY on
#     a running program) keeps the file's data;
#  3. copy_file_range into a setuid/setgid file clears the bits, as write(2)
#     does; dedupe into a file whose data is in a read-only branch is EPERM
#     (the lower file is never written); setfacl clears setgid like natively;
#     O_RDONLY|O_APPEND does not copy up; truncate through the union of a
#     running program is ETXTBSY;
#  4. append-only and immutable flags of the branch file apply to the union
#     file, and a copy-up keeps them;
#  5. ownership checks use the owner the branch has now (a direct chown in
#     the branch counts at once);
#  6. the names of one file (hard links) are one union inode: flock and
#     ETXTBSY are shared, also after the dcache was dropped and after a
#     copy-up of one name;
#  7. lazy umount while other tasks walk paths inside the union;
#  9. a directory whited out in its own branch merges nothing from below
#     (the state between the steps of mkdir over a whiteout and of rename
#     over an emptied directory);
#  12. a copy-up does not wait for another object's, and a task waiting
#     for a copy-up can be killed (also one of a hard-linked lower file);
#     the inode-number map and the xino file hold what still exists (a
#     create/unlink loop leaves them as they were), and numbers logged
#     while the branch was frozen reach the file by umount;
#  D24 (audit). a file open for reading before a copy-up reads the copy;
#  D34, D35 (audit). posix_fadvise and FS_IOC_FIEMAP reach the branch file;
#  14. reading through the union leaves the lower file's atime alone;
#  15. /proc/mounts escapes branch paths the way libmount reads them back.
#
# Runs in about 8 to 12 minutes under the debug kernel (the copy-up races
# of section 1 with their large files take most of it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
chmod 0755 "$T"
mkbranches "$T" 2
B0=$T/b0 B1=$T/b1
M=$T/mnt
mkdir "$M"
RFS_UID=1000

mnt() { rfs_mount "$M" "br:$B0=rw:$B1=ro+wh"; }
remnt() { umount "$M" && mnt; }
now() { cut -d' ' -f1 /proc/uptime; }
# fsize PATH: the size, or "none".
fsize() { stat -c %s "$1" 2>/dev/null || echo none; }

t_ok "mount b0=rw b1=ro+wh" mnt

# --- 1. unlink / rename during copy-up -----------------------------------------
# A 96 MiB lower file; a process opens it for writing (the open copies it
# up), another removes the name while the copy runs. Whatever the order, the
# name must be gone at the end, also after a new mount.
SIZE_MB=96
dd if=/dev/zero of="$T/big.src" bs=1M count=$SIZE_MB 2>/dev/null
cp "$T/big.src" "$B1/probe"
t0=$(now)
rfsprobe open "$M/probe" w >/dev/null
t1=$(now)
rm -f "$M/probe"
# The copy-up time in hundredths of a second (at least 0.1 s).
cu=$(awk -v a="$t0" -v b="$t1" 'BEGIN { d = int((b - a) * 100); if (d < 10) d = 10; print d }')
diag "copy-up of $SIZE_MB MiB took $cu/100 s"
resurrected=0 renamed_back=0 rounds=0
for pct in 5 20 40 60 80 95; do
	for kind in unlink rename; do
		f=big-$kind-$pct
		cp "$T/big.src" "$B1/$f"
		[ $kind = rename ] && echo other >"$B1/$f.new"
		delay=$(awk -v c="$cu" -v p="$pct" 'BEGIN { printf "%.2f", c * p / 10000 }')
		rfsprobe open "$M/$f" w >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		if [ $kind = unlink ]; then
			rm -f "$M/$f"
		else
			# rename(2) of the other file over the name being copied up.
			mv "$M/$f.new" "$M/$f"
		fi
		wait $pid
		rounds=$((rounds + 1))
		if [ $kind = unlink ]; then
			[ -e "$M/$f" ] && resurrected=$((resurrected + 1)) && diag "unlink at $pct%: $f is back"
		else
			c=$(head -c 5 "$M/$f" 2>/dev/null)
			[ "$c" = other ] || { renamed_back=$((renamed_back + 1)); diag "rename at $pct%: $f shows '$c'"; }
		fi
	done
done
t_eq "unlink during copy-up: the name stays gone ($rounds rounds)" 0 "$resurrected"
t_eq "rename over a name during its copy-up: the renamed file wins" 0 "$renamed_back"
remnt
left=0
for pct in 5 20 40 60 80 95; do
	[ -e "$M/big-unlink-$pct" ] && left=$((left + 1))
	[ "$(head -c 5 "$M/big-rename-$pct" 2>/dev/null)" = other ] || left=$((left + 1))
done
t_eq "after umount/mount: removed names stay removed, renamed ones renamed" 0 "$left"
t_eq "the work directory holds no leftovers" "" "$(ls -A "$B0/.wh..wh.orph")"

# --- 12. per-object, killable copy-up locks --------------------------------------
# While a big file is copied up: another object's copy-up does not wait for
# it, and a second opener of the big file, waiting for its copy-up, dies at
# once when killed.
cp "$T/big.src" "$B1/big-a"
echo small >"$B1/small"
rfsprobe open "$M/big-a" w >/dev/null 2>&1 &
pa=$!
sleep "$(awk -v c="$cu" 'BEGIN { printf "%.2f", c / 1000 }')"
t0=$(now)
rfsprobe chmod "$M/small" 600 >/dev/null
t1=$(now)
busy=$(kill -0 $pa 2>/dev/null && echo running || echo done)
waited=$(awk -v a="$t0" -v b="$t1" -v c="$cu" 'BEGIN { print ((b - a) * 100 < c / 3) ? "no" : "yes" }')
diag "small copy-up: $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s, big one $busy"
t_eq "a copy-up does not wait for another object's copy-up" "no" "$waited"
wait $pa
rm -f "$M/big-a"
# kill_waiter BIG OTHER: opens BIG for writing in the background (a long
# copy-up, its pid in $pa), then OTHER, which must wait for it, and kills
# that second opener; sets $first to whether the first copy-up was still
# running once the killed one was gone.
kill_waiter() {
	local pb t0 t1
	rfsprobe open "$1" w >/dev/null 2>&1 &
	pa=$!
	sleep "$(awk -v c="$cu" 'BEGIN { printf "%.2f", c / 1000 }')"
	rfsprobe open "$2" w >/dev/null 2>&1 &
	pb=$!
	sleep 0.2
	kill -9 $pb
	t0=$(now)
	wait $pb 2>/dev/null
	t1=$(now)
	first=$(kill -0 $pa 2>/dev/null && echo running || echo done)
	diag "killed waiter gone after $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s; first copy-up $first"
}
cp "$T/big.src" "$B1/big-b"
kill_waiter "$M/big-b" "$M/big-b"
t_eq "a task waiting for a copy-up dies when killed, before that copy-up ends" running "$first"
wait $pa
t_eq "... and the copy-up it waited for completes" "$(fsize "$T/big.src")" "$(fsize "$B0/big-b")"
rm -f "$M"/big-*
# Copy-ups of hard-linked lower files are serialised per mount (only the
# first copy of each may be made); a task waiting there dies when killed too.
cp "$T/big.src" "$B1/big-h1"
ln "$B1/big-h1" "$B1/big-h2"
echo small >"$B1/small-h1"
ln "$B1/small-h1" "$B1/small-h2"
umount "$M" && mnt
kill_waiter "$M/big-h1" "$M/small-h1"
t_eq "a task waiting for another hard-linked file's copy-up dies when killed, before that copy-up ends" running "$first"
wait $pa
t_eq "... the big copy-up completes" "$(fsize "$T/big.src")" "$(fsize "$B0/big-h1")"
t_ok "... and the small file copies up afterwards" rfsprobe open "$M/small-h2" w
rm -f "$M"/big-* "$M"/small-h* "$B1"/big-* "$B1"/small-h* "$T/big.src"

# While the writable branch's filesystem is frozen (fsfreeze), a lookup of a
# new name (which logs its inode number to the xino file there) does not
# wait for the thaw.
FZ=$(df -P "$B0" | awk 'NR == 2 { print $6 }')
mkdir -p "$B1/frz"
i=0
while [ $i -lt 50 ]; do echo $i >"$B1/frz/f$i"; i=$((i + 1)); done
sync
if rfsprobe freeze "$FZ" >/dev/null 2>&1; then
	(ls -l "$M/frz" >/dev/null 2>&1; echo done >"/tmp/frz.done.$$") &
	lp=$!
	n=0
	while [ ! -e "/tmp/frz.done.$$" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	st=$([ -e "/tmp/frz.done.$$" ] && echo finished || echo blocked)
	rfsprobe thaw "$FZ" >/dev/null
	wait $lp
	t_eq "lookups while the writable branch is frozen do not wait for the thaw" finished "$st"
	t_ok "... and their inode numbers reach the xino file after it" stat "$M/frz/f1"
else
	t_skip "lookups while frozen" "the scratch filesystem cannot be frozen"
fi

# A lookup by a task with a small file size limit logs new inode numbers to
# the xino file as the mounter does: no SIGXFSZ for the task, and the
# numbers are not lost for the mount (the file keeps being written).
mkdir -p "$B1/fsz"
i=0
while [ $i -lt 30 ]; do echo $i >"$B1/fsz/f$i"; i=$((i + 1)); done
rc=$(sh -c "ulimit -f 0; ls -l '$M/fsz' >/dev/null 2>&1; echo \$?" 2>/dev/null)
t_eq "ls -l of new names under ulimit -f 0: no SIGXFSZ" 0 "$rc"
xb0=$(awk '{ print $NF }' /sys/fs/rfs/si_"$(mount_si "$M")"/xino 2>/dev/null)
stat "$M/fsz/f1" >/dev/null
echo new >"$B1/fsz/g"
stat "$M/fsz/g" >/dev/null
xb1=$(awk '{ print $NF }' /sys/fs/rfs/si_"$(mount_si "$M")"/xino 2>/dev/null)
t_ok "... the xino file is still written afterwards ($xb0 -> $xb1)" test "${xb1:-0}" -gt "${xb0:-0}"

# The inode-number map and the xino file hold what may still exist, not all
# the union ever saw: a create/unlink loop through the union leaves both as
# they were. The writable branch is a tmpfs, which never reuses an inode
# number (every new file is a new key).
TM=$T/tm
mkdir -p "$TM" "$T/tmnt"
mount -t tmpfs -o size=64m tmpfs "$TM"
mkdir -p "$TM/b0"
for i in 1 2 3 4 5 6 7 8; do echo $i >"$B1/keep$i"; done
if rfs_mount "$T/tmnt" "br:$TM/b0=rw:$B1=ro+wh"; then
	S=/sys/fs/rfs/si_$(mount_si "$T/tmnt")
	ls -l "$T/tmnt" >/dev/null
	set -- $(cat "$S/xino")
	e0=$1 x0=$2
	i=0
	while [ $i -lt 6000 ]; do
		: >"$T/tmnt/loop$i"
		rm "$T/tmnt/loop$i"
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 1000 ]; do
		rfsprobe open "$T/tmnt" rw,tmpfile >/dev/null || break
		i=$((i + 1))
	done
	set -- $(cat "$S/xino")
	diag "xino entries/bytes before the loop: $e0/$x0, after 6000 create+unlink and 1000 O_TMPFILE: $1/$2"
	t_ok "a create/unlink loop (and O_TMPFILE files never linked) does not grow the inode-number map" test "$1" -le $((e0 + 2))
	t_ok "... nor the xino file beyond its compaction bound (4096 records)" test "$2" -le $((16 + 24 * 4096))
	keep=$(for i in 1 2 3 4 5 6 7 8; do stat -c %i "$T/tmnt/keep$i"; done | tr '\n' ' ')
	umount "$T/tmnt"
	rfs_mount "$T/tmnt" "br:$TM/b0=rw:$B1=ro+wh"
	t_eq "... and the file still replays to the same numbers" "$keep" \
		"$(for i in 8 7 6 5 4 3 2 1; do stat -c %i "$T/tmnt/keep$i" >/dev/null; done
		   for i in 1 2 3 4 5 6 7 8; do stat -c %i "$T/tmnt/keep$i"; done | tr '\n' ' ')"
	umount "$T/tmnt"
else
	t_ok "mount with a tmpfs writable branch" false
fi
umount "$TM"

# Records that waited for a thaw are written at umount even when nothing
# is logged after the thaw: the names get the same numbers at the next
# mount, looked up in another order. More than fit in the memory queue
# (4096) wait, so the file is rewritten from the map.
mkdir -p "$B1/frz2"
i=0
while [ $i -lt 5000 ]; do : >"$B1/frz2/f$i"; i=$((i + 1)); done
sync
if rfsprobe freeze "$FZ" >/dev/null 2>&1; then
	ls -l "$M/frz2" >/dev/null 2>&1
	rfsprobe thaw "$FZ" >/dev/null
	a=$(for i in 0 1 2 2500 4998 4999; do stat -c %i "$M/frz2/f$i"; done | tr '\n' ' ')
	remnt
	b=$(for i in 4999 4998 2500 2 1 0; do stat -c %i "$M/frz2/f$i" >/dev/null; done
	    for i in 0 1 2 2500 4998 4999; do stat -c %i "$M/frz2/f$i"; done | tr '\n' ' ')
	t_eq "numbers logged while frozen reach the xino file by umount" "$a" "$b"
else
	t_skip "numbers logged while frozen reach the xino file by umount" "the scratch filesystem cannot be frozen"
fi
rm -rf "$B1/frz2"

# --- 2. a failed O_TRUNC open keeps the data -----------------------------------
mkdir -p "$B1/bin"
cp /bin/busybox "$B1/bin/busybox"
size=$(fsize "$B1/bin/busybox")
"$M/bin/busybox" sleep 30 &
prog=$!
sleep 1
t_errno "O_RDONLY|O_TRUNC open of a running program: ETXTBSY" ETXTBSY rfsprobe open "$M/bin/busybox" r,trunc
t_eq "the union file keeps its data" "$size" "$(fsize "$M/bin/busybox")"
kill $prog 2>/dev/null
wait $prog 2>/dev/null
remnt
t_eq "... also after umount/mount" "$size" "$(fsize "$M/bin/busybox")"
t_ok "... byte for byte" cmp "$M/bin/busybox" "$B1/bin/busybox"
echo data >"$B1/trunc-ok"
t_ok "O_WRONLY|O_TRUNC open of a lower file" rfsprobe open "$M/trunc-ok" w,trunc
t_eq "... truncates it" "0" "$(fsize "$M/trunc-ok")"
t_eq "... the lower file is unchanged" "data" "$(cat "$B1/trunc-ok")"

# --- 3. copy_file_range / dedupe -----------------------------------------------
for m in 4777 6777 2777; do
	printf 'setuid %s\n' "$m" >"$B1/suid-$m"
	chmod "$m" "$B1/suid-$m"
done
# The source is a union file too (between two filesystems the VFS answers
# EXDEV itself).
printf 'caller data\n' >"$B0/src"
chmod 0644 "$B0/src"
for m in 4777 6777 2777; do
	t_ok "uid $RFS_UID copy_file_range into a $m lower file" rfsprobe --uid $RFS_UID copy-range "$M/src" "$M/suid-$m"
	t_eq "... clears setuid/setgid as write(2) does" 777 "$(stat -c %a "$M/suid-$m")"
done
printf 'setuid\n' >"$B0/suid-up"
chmod 4777 "$B0/suid-up"
t_ok "uid $RFS_UID copy_file_range into a 4777 upper file" rfsprobe --uid $RFS_UID copy-range "$M/src" "$M/suid-up"
t_eq "... clears setuid" 777 "$(stat -c %a "$M/suid-up")"
printf 'same data\n' >"$B1/dedupe-lower"
printf 'same data\n' >"$B0/dedupe-upper"
t_errno "dedupe into a file whose data is in a ro branch: EPERM (overlayfs: same)" EPERM \
	rfsprobe dedupe "$M/dedupe-upper" "$M/dedupe-lower"
t_errno "dedupe from a lower file: EPERM" EPERM rfsprobe dedupe "$M/dedupe-lower" "$M/dedupe-upper"
t_eq "no copy-up for a refused dedupe" none "$(fsize "$B0/dedupe-lower")"

# setfacl by the owner, outside the file's group: setgid goes, as natively
# (the branch sets the ACL with the mounter's capabilities, which keep it).
echo sg >"$B1/sgacl"
chown $RFS_UID:0 "$B1/sgacl"
chmod 2775 "$B1/sgacl"
if rfsprobe setacl "$B1/sgacl" access u::rwx,g::r-x,o::r-x >/dev/null 2>&1; then
	t_ok "uid $RFS_UID sets an access ACL on its setgid file (group root)" \
		rfsprobe --uid $RFS_UID setacl "$M/sgacl" access u::rwx,g::r-x,o::---
	t_eq "... the setgid bit is cleared (native: the same)" 750 "$(stat -c %a "$M/sgacl")"
	echo noacl >"$B1/noacl"
	t_errno "removing an ACL the file does not have: ENODATA" ENODATA rfsprobe rmacl "$M/noacl" access
	t_eq "... without a copy-up" none "$(fsize "$B0/noacl")"
else
	t_skip "setfacl and setgid" "the scratch filesystem takes no POSIX ACLs"
fi

# O_RDONLY|O_APPEND opens for reading: no copy-up.
echo roapp >"$B1/roapp"
t_ok "O_RDONLY|O_APPEND open of a lower file" rfsprobe open "$M/roapp" r,append
t_eq "... does not copy it up" none "$(fsize "$B0/roapp")"

# truncate through the union of a program running directly from the branch.
mkdir -p "$B0/bin2"
cp /bin/busybox "$B0/bin2/busybox"
"$B0/bin2/busybox" sleep 30 &
prog=$!
sleep 1
t_errno "truncate(2) through the union of a program running from the branch: ETXTBSY" ETXTBSY \
	rfsprobe truncate "$M/bin2/busybox" 0
kill $prog 2>/dev/null
wait $prog 2>/dev/null
t_eq "... it keeps its data" "$(fsize /bin/busybox)" "$(fsize "$B0/bin2/busybox")"

# --- 4. inode flags ------------------------------------------------------------
echo appended >"$B0/app"
if rfsprobe chattr "$B0/app" +a >/dev/null; then
	t_errno "append-only upper file: truncate(2) through the union: EPERM" EPERM rfsprobe truncate "$M/app" 0
	t_errno "... O_TRUNC open: EPERM" EPERM rfsprobe open "$M/app" w,trunc
	t_errno "... open for writing without O_APPEND: EPERM" EPERM rfsprobe open "$M/app" w
	t_ok "... appending works" rfsprobe append "$M/app" more
	t_eq "... and keeps the data" "appendedmore" "$(tr -d '\n' <"$M/app")"
	t_errno "... unlink: EPERM" EPERM rfsprobe unlink "$M/app"
	rfsprobe chattr "$B0/app" -a >/dev/null
	echo lower >"$B1/imm"
	rfsprobe chattr "$B1/imm" +i >/dev/null
	t_errno "immutable lower file: open for append: EPERM" EPERM rfsprobe open "$M/imm" a
	t_errno "... chmod: EPERM" EPERM rfsprobe chmod "$M/imm" 600
	t_errno "... setxattr: EPERM" EPERM rfsprobe setxattr "$M/imm" user.x 1
	t_eq "... nothing was copied up" none "$(fsize "$B0/imm")"
	rfsprobe chattr "$B1/imm" -i >/dev/null
	echo lower >"$B1/alow"
	rfsprobe chattr "$B1/alow" +a >/dev/null
	t_ok "append-only lower file: appending copies it up" rfsprobe append "$M/alow" more
	t_eq "... the copy is append-only too" a "$(rfsprobe lsattr "$B0/alow")"
	t_errno "... so truncating it through the union stays refused" EPERM rfsprobe truncate "$M/alow" 0
	rfsprobe chattr "$B0/alow" -a >/dev/null
	rfsprobe chattr "$B1/alow" -a >/dev/null
	echo lower >"$B1/noat"
	rfsprobe chattr "$B1/noat" +A >/dev/null
	t_ok "noatime lower file: chmod copies it up" rfsprobe chmod "$M/noat" 600
	t_eq "... the copy keeps the noatime flag" A "$(rfsprobe lsattr "$B0/noat")"
	echo lower >"$B1/viau"
	t_eq "lsattr through the union reads the branch's flags" - "$(rfsprobe lsattr "$M/viau")"
	t_ok "chattr +A through the union" rfsprobe chattr "$M/viau" +A
	t_eq "... copies the file up and sets the flag there" A "$(rfsprobe lsattr "$B0/viau")"
	t_eq "... the lower file keeps its flags" - "$(rfsprobe lsattr "$B1/viau")"
	t_eq "... lsattr through the union shows it" A "$(rfsprobe lsattr "$M/viau")"
	t_errno "chattr +a through the union as a non-owner: EPERM" EPERM rfsprobe --uid $RFS_UID chattr "$M/viau" +a
else
	t_skip "inode flags" "the scratch filesystem takes no chattr +a"
fi

# --- 5. ownership checks on current attributes ---------------------------------
echo owned >"$B0/owned"
chown $RFS_UID:$RFS_UID "$B0/owned"
chmod 0644 "$B0/owned"
stat "$M/owned" >/dev/null
chown 0:0 "$B0/owned"
t_errno "a direct chown in the branch counts at once: the former owner's chmod is EPERM" EPERM \
	rfsprobe --uid $RFS_UID chmod "$M/owned" 4777
t_eq "... the mode is unchanged" 644 "$(stat -c %a "$B0/owned")"
echo owned >"$B1/lowned"
chown $RFS_UID:$RFS_UID "$B1/lowned"
stat "$M/lowned" >/dev/null
chown 0:0 "$B1/lowned"
t_errno "... also for a lower file (no copy-up)" EPERM rfsprobe --uid $RFS_UID chmod "$M/lowned" 4777
t_eq "... which stays in its branch" none "$(fsize "$B0/lowned")"
# The VFS checks the owner of setfacl and chattr on the union inode before
# rfs is called, without a permission() that refreshes it first: rfs checks
# again on the refreshed inode.
for f in aowned fowned; do
	echo owned >"$B0/$f"
	chown $RFS_UID:$RFS_UID "$B0/$f"
	chmod 0644 "$B0/$f"
	stat "$M/$f" >/dev/null
	chown 0:0 "$B0/$f"
done
: >"$T/acl-probe"
if rfsprobe setacl "$T/acl-probe" access u::rw-,g::r--,o::--- >/dev/null 2>&1; then
	t_errno "... the former owner's setfacl is EPERM" EPERM \
		rfsprobe --uid $RFS_UID setacl "$M/aowned" access u::rw-,g::r--,o::rw-
	t_eq "... its mode and ACL are unchanged" "644 ENODATA" \
		"$(stat -c %a "$B0/aowned") $(rfsprobe getacl "$B0/aowned" access 2>&1 | grep -o ENODATA)"
else
	t_skip "setfacl after a direct chown" "the scratch filesystem takes no POSIX ACLs"
fi
t_errno "... the former owner's chattr +A is EPERM" EPERM rfsprobe --uid $RFS_UID chattr "$M/fowned" +A
t_eq "... the flags are unchanged" - "$(rfsprobe lsattr "$B0/fowned")"
# The VFS checks a victim's append-only and immutable flags (may_delete) on
# the union inode as last refreshed: a chattr made directly in a branch
# since must count too. For a lower file nothing below would refuse (the
# union only whites it out).
echo lower >"$B1/dapp"
echo lower >"$B1/dimm"
echo lower >"$B1/dsrc"
mkdir -p "$B1/dapd"
echo lower >"$B1/dapd/f"
stat "$M/dapp" "$M/dimm" "$M/dsrc" "$M/dapd/f" >/dev/null
if rfsprobe chattr "$B1/dapp" +a >/dev/null; then
	rfsprobe chattr "$B1/dimm" +i >/dev/null
	rfsprobe chattr "$B1/dapd" +a >/dev/null
	t_errno "a direct chattr +a of a lower file counts at once: unlink through the union is EPERM" EPERM \
		rfsprobe unlink "$M/dapp"
	t_errno "... rename of it is EPERM" EPERM rfsprobe rename "$M/dapp" "$M/dapp2"
	t_errno "... a direct chattr +i: unlink is EPERM" EPERM rfsprobe unlink "$M/dimm"
	t_errno "... rename of another file over it is EPERM" EPERM rfsprobe rename "$M/dsrc" "$M/dimm"
	t_errno "... a direct chattr +a of a lower directory: unlink in it is EPERM" EPERM \
		rfsprobe unlink "$M/dapd/f"
	t_eq "... every name is still there" "yes yes yes yes" \
		"$(for f in dapp dimm dsrc dapd/f; do [ -e "$M/$f" ] && echo yes; done | tr '\n' ' ' | sed 's/ $//')"
	t_eq "... and nothing was whited out" "none none" "$(fsize "$B0/.wh.dapp") $(fsize "$B0/.wh.dimm")"
	rfsprobe chattr "$B1/dapp" -a >/dev/null
	rfsprobe chattr "$B1/dimm" -i >/dev/null
	rfsprobe chattr "$B1/dapd" -a >/dev/null
else
	t_skip "direct chattr before unlink" "the scratch filesystem takes no chattr +a"
fi

# --- 9. whiteout/opaque changes never show a deleted tree -------------------------
# mkdir over a whiteout and rename over an emptied directory pass through
# a state where a directory and the whiteout of its name are in one branch:
# that directory must merge nothing from below (the deleted tree stays
# hidden whatever happens next).
mkdir -p "$B1/cut/sub"
echo below >"$B1/cut/y"
mkdir "$B0/cut"
echo up >"$B0/cut/x"
: >"$B0/.wh.cut"
drop_caches
t_eq "a directory whited out in its own branch shows only its own entries" x "$(ls -A "$M/cut" | tr '\n' ' ' | sed 's/ $//')"
rm "$B0/.wh.cut"
drop_caches
t_eq "... and merges again once the whiteout is gone" "sub x y" "$(ls -A "$M/cut" | tr '\n' ' ' | sed 's/ $//')"
mkdir -p "$B1/rt"
echo gone >"$B1/rt/file"
rm "$M/rt/file"
mkdir "$M/rsrc"
t_ok "rename an empty directory over an emptied merged one" rfsprobe rename "$M/rsrc" "$M/rt"
t_eq "... it shows nothing of the old tree" "" "$(ls -A "$M/rt")"
t_eq "... and leaves no whiteout of its name" none "$(fsize "$B0/.wh.rt")"
mkdir -p "$B1/md"
echo gone >"$B1/md/file"
rm -r "$M/md"
t_ok "mkdir over a whited-out directory" mkdir "$M/md"
t_eq "... shows an empty directory" "" "$(ls -A "$M/md")"

# --- 6. the names of one file are one union inode -------------------------------
# flock, ETXTBSY (and leases, inotify) belong to the inode: through the
# union as on the branch, also after the dcache was dropped, for hard links
# in a lower branch, in the writable one, and after one name was copied up.
echo data >"$B1/hl-a"
ln "$B1/hl-a" "$B1/hl-b"
echo data >"$B0/hu-a"
ln "$B0/hu-a" "$B0/hu-b"
# flock_shared A B LABEL: a lock held through A blocks one through B.
flock_shared() {
	rm -f "/tmp/fl.ready.$$"
	rfsprobe flock "$1" ex hold "/tmp/fl.ready.$$" &
	fp=$!
	n=0
	while [ ! -e "/tmp/fl.ready.$$" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	drop_caches
	t_errno "$3: flock held through one name blocks another (EWOULDBLOCK)" EAGAIN rfsprobe flock "$2" ex
	rm -f "/tmp/fl.ready.$$"
	wait $fp
}
drop_caches
flock_shared "$M/hl-a" "$M/hl-b" "hard links in a lower branch"
flock_shared "$M/hu-a" "$M/hu-b" "hard links in the writable branch"
t_ok "appending through one name copies the file up" rfsprobe append "$M/hl-a" more
drop_caches
flock_shared "$M/hl-b" "$M/hl-a" "after one name was copied up"
t_eq "the other name shows the new data" "datamore" "$(tr -d '\n' <"$M/hl-b")"
t_ok "appending through the other name" rfsprobe append "$M/hl-b" again
t_eq "... both names show it" "datamoreagain datamoreagain" "$(tr -d '\n' <"$M/hl-a") $(tr -d '\n' <"$M/hl-b")"
t_ok "unlink of one name" rm "$M/hl-a"
t_eq "... the other keeps the data" "datamoreagain" "$(tr -d '\n' <"$M/hl-b")"
t_ok "rename of the other" mv "$M/hl-b" "$M/hl-c"
t_eq "... keeps the data too" "datamoreagain" "$(tr -d '\n' <"$M/hl-c")"
t_eq "... and both lower names are as they were" "data data" "$(cat "$B1/hl-a") $(cat "$B1/hl-b")"
# (busybox picks its applet by name: both links are called busybox)
mkdir -p "$B1/bbx" "$B1/bby"
cp /bin/busybox "$B1/bbx/busybox"
ln "$B1/bbx/busybox" "$B1/bby/busybox"
drop_caches
"$M/bbx/busybox" sleep 30 &
prog=$!
sleep 1
t_errno "a program runs from one name: opening another for writing is ETXTBSY" ETXTBSY rfsprobe open "$M/bby/busybox" w
kill $prog 2>/dev/null
wait $prog 2>/dev/null
t_eq "... and nothing was copied up" none "$(fsize "$B0/bby/busybox")"

# --- audit D24: an open file follows its copy-up ---------------------------------
# A file opened for reading before another process copied it up reads the
# copy afterwards (OverlayFS since 4.19); so does one opened on another
# name of a hard-linked lower file.
echo "lower data" >"$B1/d24"
exec 3<"$M/d24"
echo "new data!!" >"$M/d24"
t_eq "a file open for reading before a copy-up reads the copy afterwards" "new data!!" "$(cat <&3)"
exec 3<&-
echo "old" >"$B1/d24h1"
ln "$B1/d24h1" "$B1/d24h2"
exec 3<"$M/d24h2"
echo "linked copy" >"$M/d24h1"
t_eq "... also when another name of the file was copied up" "linked copy" "$(cat <&3)"
exec 3<&-
echo "seek" >"$B1/d24s"
exec 3<"$M/d24s"
printf 'longer than before\n' >>"$M/d24s"
t_eq "... and reads to the copy's end" "$(stat -c %s "$M/d24s")" "$(wc -c <&3 | tr -d ' ')"
exec 3<&-
t_eq "the lower files are unchanged" "lower data old seek" "$(cat "$B1/d24") $(cat "$B1/d24h2") $(cat "$B1/d24s")"

# --- audit D34, D35: fadvise and fiemap reach the branch file ------------------------
dd if=/dev/urandom of="$B1/fa" bs=4096 count=64 2>/dev/null
sync
cat "$M/fa" >/dev/null
before=$(rfsprobe incore "$B1/fa")
t_ok "posix_fadvise(DONTNEED) through the union" rfsprobe fadvise "$M/fa" dontneed
after=$(rfsprobe incore "$B1/fa")
t_ok "... drops the branch file's cached pages ($before -> $after of 64)" test "$after" -lt "$before"
t_eq "FS_IOC_FIEMAP through the union reports the branch file's extents" \
	"$(rfsprobe fiemap "$B1/fa")" "$(rfsprobe fiemap "$M/fa")"
echo more >>"$M/fa"
t_eq "... of the copy after a copy-up" "$(rfsprobe fiemap "$B0/fa")" "$(rfsprobe fiemap "$M/fa")"

# --- 14. lower atime -------------------------------------------------------------
echo read-me >"$B1/atime"
touch -a -d '2001-01-01 00:00:00' "$B1/atime"
before=$(stat -c %X "$B1/atime")
cat "$M/atime" >/dev/null
drop_caches
cat "$M/atime" >/dev/null
t_eq "reading through the union leaves the lower atime alone" "$before" "$(stat -c %X "$B1/atime")"

# --- 15. /proc/mounts escaping ---------------------------------------------------
C=$T/'with,comma'
mkdir -p "$C" "$T/m2"
echo c >"$C/f"
t_ok "mount a branch whose path has a comma (mount(2) data: '\\,')" rfs_mount "$T/m2" "br:$B0=rw:$T/with\\,comma=ro"
line=$(awk -v m="$T/m2" '$2 == m { print $4 }' /proc/mounts)
case $line in
*'with\134\054comma'*) t_ok "/proc/mounts shows the comma as \\134\\054 (rfs's \\, then octal: no bare comma)" true ;;
*) t_ok "/proc/mounts shows the comma as \\134\\054 (got: $line)" false ;;
esac
umount "$T/m2"

# --- 7. umount -l while paths inside are walked ----------------------------------
# The superblock goes while RCU-walk may still read it (a lazily unmounted
# union whose last user leaves while others walk): KASAN reports a
# use-after-free if it is freed without a grace period.
mkdir -p "$T/lz0" "$T/lz1" "$T/lzm"
mkdir -p "$T/lz1/d/e/f"
echo x >"$T/lz1/d/e/f/g"
i=0
while [ $i -lt 20 ]; do
	rfs_mount "$T/lzm" "br:$T/lz0=rw:$T/lz1=ro" || break
	(cd "$T/lzm/d" && while :; do stat e/f/g >/dev/null 2>&1 || break; done) &
	w1=$!
	(cd "$T/lzm/d/e" && while :; do stat f/g >/dev/null 2>&1 || break; done) &
	w2=$!
	sleep 0.1
	umount -l "$T/lzm"
	sleep 0.05
	kill $w1 $w2 2>/dev/null
	wait $w1 $w2 2>/dev/null
	i=$((i + 1))
done
t_eq "20 lazy umounts with walkers inside (KASAN watches the frees)" 20 "$i"

# --- 8. d_real: a uprobe placed through a union path -----------------------------
# A program run from the union executes a mapping of its branch file; a
# uprobe placed by the union path must be attached to that file (d_real, as
# overlayfs), or it never fires. Needs CONFIG_UPROBE_EVENTS (Debian's
# kernel has it; the test kernels do not).
TR=/sys/kernel/tracing
[ -d "$TR/events" ] || mount -t tracefs nodev "$TR" 2>/dev/null
if [ ! -w "$TR/uprobe_events" ]; then
	t_skip "a uprobe placed through the union path fires" "this kernel has no CONFIG_UPROBE_EVENTS"
else
	probe_hits() { # PATH: runs PATH with a uprobe at its entry placed by PATH; prints the hits
		_off=$(rfsprobe elf-entry-offset "$1") || return 1
		echo "p:rfs_hardening/entry $1:0x$_off" >>"$TR/uprobe_events" || return 1
		echo 1 >"$TR/events/rfs_hardening/entry/enable"
		: >"$TR/trace"
		"$1" >/dev/null 2>&1
		echo 0 >"$TR/events/rfs_hardening/entry/enable"
		grep -c "rfs_hardening/entry\|entry:" "$TR/trace"
		echo "-:rfs_hardening/entry" >>"$TR/uprobe_events"
	}
	cp "$(command -v rfsprobe)" "$B1/uprog"
	hits=$(probe_hits "$M/uprog")
	t_ok "a uprobe placed by the union path of a lower program fires when it runs from the union ($hits hits)" \
		[ "${hits:-0}" -ge 1 ]
	chmod 755 "$M/uprog"
	hits=$(probe_hits "$M/uprog")
	t_ok "... and at the copy once it was copied up ($hits hits)" [ "${hits:-0}" -ge 1 ]
	rm -f "$M/uprog"
fi

umount "$M"
t_done
