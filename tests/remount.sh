#!/bin/sh
# remount.sh: branch management on a live mount (issue 4): add:/ins:,
# append:, prepend:, del:, mod:, dirs= replacing the list, several operations
# in one remount, fsconfig reconfigure keys; all-or-none on errors; EBUSY
# for busy branches; stable ids and renumbered brN; cached dentries follow
# the new stack; lookups running during 200 remounts; 512 branches.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2 M=$T/mnt
E1=$T/e1 E2=$T/e2 E3=$T/e3 E4=$T/e4
mkdir -p "$M" "$E1" "$E2" "$E3" "$E4"
mkfile "$B1/f1" "f1"
mkfile "$B2/f2" "f2"
mkfile "$B1/dir/x" "x"
mkfile "$E1/e1file" "e1"
mkfile "$E1/dir/y" "y"
mkfile "$E2/e2file" "e2"
mkfile "$E3/e3file" "e3"
mkfile "$E4/e4file" "e4"
# Not honored while b2 is mounted ro; hides e1file once b2 is ro+wh.
mkfile "$B2/.wh.e1file" ""

dirs_of() { mount_opt "$1" dirs; }
S() { cat "/sys/fs/rfs/si_$(mount_si "$M")/$1"; }
# ids: the sysfs brid files in order, on one line.
ids() {
	_d=/sys/fs/rfs/si_$(mount_si "$M")
	_i=0
	_out=
	while [ -f "$_d/brid$_i" ]; do
		_out="$_out${_out:+ }$(cat "$_d/brid$_i")"
		_i=$((_i + 1))
	done
	echo "$_out"
}
nbr() { ls "/sys/fs/rfs/si_$(mount_si "$M")" | grep -c '^br[0-9]'; }
remount() { rfsprobe remount "$M" "$1"; }
# lap NAME: how long the section before took (a diagnostic).
_lap=$(cut -d. -f1 /proc/uptime)
lap() {
	_now=$(cut -d. -f1 /proc/uptime)
	diag "$1: $((_now - _lap)) s"
	_lap=$_now
}

rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"
# Fill the dcache with what the remounts below must change.
t_eq "before: dir lists x" "x" "$(names "$M/dir" | oneline)"
t_errno "before: e1file is not there (negative dentry cached)" ENOENT rfsprobe stat "$M/e1file"
t_eq "before: f1 is there" "f1" "$(cat "$M/f1")"
t_eq "before: ids" "64 65 66" "$(ids)"

# --- append ------------------------------------------------------------------
t_errno "append:BR" 0 remount "append:$E1"
t_eq "append: /proc/mounts lists the new branch at the bottom, ro" "$B0=rw:$B1=ro+wh:$B2=ro:$E1=ro" "$(dirs_of "$M")"
t_eq "append: a cached negative name now found in the new branch" "e1" "$(cat "$M/e1file" 2>&1)"
t_eq "append: a cached directory merges the new branch's directory" "x y" "$(names "$M/dir" | oneline)"
t_eq "append: the new branch's file in that directory reads" "y" "$(cat "$M/dir/y" 2>&1)"
t_eq "append: ids stay, the new branch gets the next one" "64 65 66 67" "$(ids)"
t_eq "append: br3 is the new branch" "$E1=ro" "$(S br3)"
t_eq "append: 4 brN files" 4 "$(nbr)"

# --- del ---------------------------------------------------------------------
t_errno "del:PATH" 0 remount "del:$B1"
t_eq "del: /proc/mounts" "$B0=rw:$B2=ro:$E1=ro" "$(dirs_of "$M")"
t_errno "del: a cached file of the deleted branch is gone" ENOENT rfsprobe stat "$M/f1"
t_eq "del: the cached directory no longer shows the deleted branch's entries" "y" "$(names "$M/dir" | oneline)"
t_eq "del: root listing follows" "dir e1file f2" "$(names "$M" | oneline)"
t_eq "del: ids of the others stay, brN renumbered" "64 66 67" "$(ids)"
t_eq "del: br1 is now b2" "$B2=ro" "$(S br1)"
t_fail "del: no br3 any more" test -e "/sys/fs/rfs/si_$(mount_si "$M")/br3"

# --- add / ins ---------------------------------------------------------------
t_errno "add:1:BR=ro+wh (back at its old place)" 0 remount "add:1:$B1=ro+wh"
t_eq "add: /proc/mounts" "$B0=rw:$B1=ro+wh:$B2=ro:$E1=ro" "$(dirs_of "$M")"
t_eq "add: the file shows again" "f1" "$(cat "$M/f1" 2>&1)"
t_eq "add: a re-added branch gets a new id" "64 68 66 67" "$(ids)"
t_errno "ins:3:BR" 0 remount "ins:3:$E2"
t_eq "ins: /proc/mounts (default perm ro below the top)" "$B0=rw:$B1=ro+wh:$B2=ro:$E2=ro:$E1=ro" "$(dirs_of "$M")"
t_eq "ins: its file shows" "e2" "$(cat "$M/e2file" 2>&1)"

# --- mod ---------------------------------------------------------------------
t_eq "mod: before, b2's whiteout is not honored (ro)" "e1" "$(cat "$M/e1file" 2>&1)"
t_errno "mod:PATH=ro+wh" 0 remount "mod:$B2=ro+wh"
t_eq "mod: /proc/mounts" "$B0=rw:$B1=ro+wh:$B2=ro+wh:$E2=ro:$E1=ro" "$(dirs_of "$M")"
t_errno "mod: b2's whiteout now hides e1file below it" ENOENT rfsprobe stat "$M/e1file"
t_eq "mod: the id stays" "64 68 66 69 67" "$(ids)"
t_errno "mod:PATH=ro (back)" 0 remount "mod:$B2=ro"
t_eq "mod: e1file shows again" "e1" "$(cat "$M/e1file" 2>&1)"

# --- prepend -----------------------------------------------------------------
t_errno "prepend:BR=ro (a read-only branch on top)" 0 remount "prepend:$E4=ro"
t_eq "prepend: /proc/mounts" "$E4=ro:$B0=rw:$B1=ro+wh:$B2=ro:$E2=ro:$E1=ro" "$(dirs_of "$M")"
t_eq "prepend: its file shows" "e4" "$(cat "$M/e4file" 2>&1)"
t_errno "prepend: with rw below the top, changes are refused (EROFS)" EROFS rfsprobe creat "$M/new"
t_errno "del of the top branch" 0 remount "del:$E4"
t_errno "writes work again" 0 rfsprobe creat "$M/new"
t_ok "the new file is in b0" test -f "$B0/new"

# --- several operations in one remount, and dirs= ----------------------------
t_errno "del, append and mod in one remount" 0 remount "del:$E2,append:$E3,mod:$B1=ro,del:$E1"
t_eq "several: applied in order" "$B0=rw:$B1=ro:$B2=ro:$E3=ro" "$(dirs_of "$M")"
t_eq "several: ids (e3 gets 71: 70 went to the prepended e4)" "64 68 66 71" "$(ids)"
t_eq "several: the union shows the new stack" "dir e3file f1 f2 new" "$(names "$M" | oneline)"
t_errno "dirs= replaces the whole list" 0 remount "dirs=$B0=rw:$E3=ro:$E1=ro+wh"
t_eq "dirs=: /proc/mounts" "$B0=rw:$E3=ro:$E1=ro+wh" "$(dirs_of "$M")"
t_eq "dirs=: kept branches keep their ids, new ones get new ids" "64 71 72" "$(ids)"
t_eq "dirs=: the union shows the new stack" "dir e1file e3file new" "$(names "$M" | oneline)"
t_errno "remount with the same dirs= changes nothing" 0 remount "dirs=$B0=rw:$E3=ro:$E1=ro+wh"
t_eq "same dirs=: ids unchanged" "64 71 72" "$(ids)"

# --- fsconfig(2) reconfigure: one key per branch -------------------------------
t_errno "fsconfig reconfigure: append keys one at a time" 0 \
	rfsprobe fsreconfigure "$M" "append=$E2" "append=$E4=ro+wh" "del=$E3"
t_eq "fsconfig: applied in order" "$B0=rw:$E1=ro+wh:$E2=ro:$E4=ro+wh" "$(dirs_of "$M")"
t_eq "fsconfig: the files show" "e2e4" "$(cat "$M/e2file" "$M/e4file")"

# --- errors: the stack stays as it was ---------------------------------------
before=$(dirs_of "$M")
ids_before=$(ids)
mkdir -p "$B0/sub"
t_errno "duplicate branch: EINVAL" EINVAL remount "append:$E1"
t_errno "duplicate through another spelling: EINVAL" EINVAL remount "append:$E1/../e1/"
t_errno "branch inside another: EINVAL" EINVAL remount "append:$B0/sub"
t_errno "branch above another: EINVAL" EINVAL remount "append:$T"
t_errno "nonexistent path: EINVAL" EINVAL remount "append:$T/nope"
t_errno "del of a path that is no branch: EINVAL" EINVAL remount "del:$E3"
t_errno "del of a nonexistent path: EINVAL" EINVAL remount "del:$T/nope"
t_errno "mod of a path that is no branch: EINVAL" EINVAL remount "mod:$E3=ro"
t_errno "add at an index past the end: EINVAL" EINVAL remount "add:9:$E3"
t_errno "the union itself as a branch: EINVAL" EINVAL remount "append:$M"
t_errno "a directory of the union as a branch: EINVAL" EINVAL remount "append:$M/dir"
t_errno "a file as a branch: ENOTDIR" ENOTDIR remount "append:$E3/e3file"
t_errno "deleting every branch: EINVAL" EINVAL remount "del:$B0,del:$E1,del:$E2,del:$E4"
t_errno "bad permission: EINVAL" EINVAL remount "append:$E3=rx"
t_errno "a good op then a bad one: the whole remount fails" EINVAL remount "append:$E3,del:$T/nope"
t_eq "after the failed remounts the stack is unchanged" "$before" "$(dirs_of "$M")"
t_eq "after the failed remounts the ids are unchanged" "$ids_before" "$(ids)"
t_errno "after the failed remounts e3file is not in the union" ENOENT rfsprobe stat "$M/e3file"
t_eq "the fs_context log says why" "yes" \
	"$(rfsprobe fsreconfigure "$M" "append=$E1" 2>&1 | grep -q 'duplicate branch' && echo yes)"

# --- EBUSY -------------------------------------------------------------------
exec 3<"$M/e2file"
t_errno "del of a branch with an open file: EBUSY" EBUSY remount "del:$E2"
t_eq "EBUSY: the stack is unchanged" "$before" "$(dirs_of "$M")"
t_eq "EBUSY: the open file still reads" "e2" "$(cat <&3)"
exec 3<&-
rfsprobe mmap-hold "$M/e2file" "$T/mapped" &
hold=$!
n=0
while [ ! -e "$T/mapped" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
t_errno "del of a branch with a file mapped (fd closed): EBUSY" EBUSY remount "del:$E2"
rm -f "$T/mapped"
wait $hold
t_errno "del once the file is closed and unmapped" 0 remount "del:$E2"
exec 4>>"$M/writing"
t_errno "del of the rw branch with a file open for writing: EBUSY" EBUSY remount "del:$B0"
t_errno "mod of the rw branch to ro with a file open for writing: EBUSY" EBUSY remount "mod:$B0=ro"
exec 5<"$M/e4file"
t_errno "mod of a branch with a file open for reading only is allowed" 0 remount "mod:$E4=ro"
exec 5<&-
echo data >&4
exec 4>&-
t_eq "the write went to b0" "data" "$(cat "$B0/writing")"
t_errno "mod:rw branch=ro once the writer closed" 0 remount "mod:$B0=ro"
t_errno "a read-only union refuses changes (EROFS)" EROFS rfsprobe creat "$M/new2"
t_errno "mod back to rw" 0 remount "mod:$B0=rw"
t_errno "writes work again" 0 rfsprobe creat "$M/new2"

# --- a working directory inside a deleted branch ---------------------------
mkfile "$E3/deep/in/file" "deep"
t_errno "append e3 again" 0 remount "append:$E3"
t_eq "del while a shell's working directory is inside that branch" "done" \
	"$(cd "$M/deep/in" && remount "del:$E3" && ls >/dev/null 2>&1; echo done)"
t_errno "after del the directory is gone from the union" ENOENT rfsprobe stat "$M/deep"
umount "$M"
t_ok "umount after all that" sh -c "! is_mounted '$M'"

lap "single operations"
# --- udba=none: the cache is trusted, but never shows a removed file --------
rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro,udba=none"
t_errno "udba=none: a missing name (negative dentry cached)" ENOENT rfsprobe stat "$M/late"
mkfile "$B2/late" "late"
t_errno "udba=none: a file added directly to a branch stays unseen while cached" ENOENT rfsprobe stat "$M/late"
echo 2 >/proc/sys/vm/drop_caches
t_eq "udba=none: it shows once the cache is dropped" "late" "$(cat "$M/late" 2>&1)"
mkfile "$B2/gone" "gone"
t_eq "udba=none: a file read through the union" "gone" "$(cat "$M/gone" 2>&1)"
rm "$B2/gone"
t_errno "udba=none: removed directly from its branch, it is gone (no stale positive dentry)" ENOENT rfsprobe stat "$M/gone"
t_errno "udba=none: not there yet" ENOENT rfsprobe stat "$M/e1file"
t_errno "udba=none: append" 0 remount "append:$E1"
t_eq "udba=none: a remount revalidates cached names" "e1" "$(cat "$M/e1file" 2>&1)"
# reval <-> none by remount (AUFS allows it); notify cannot be turned on.
t_errno "udba=none: not there yet: late2" ENOENT rfsprobe stat "$M/late2"
t_errno "remount udba=reval" 0 remount "udba=reval"
t_eq "... /proc/mounts shows the default (no udba=)" "" "$(mount_opt "$M" udba)"
mkfile "$B2/late2" "late2"
t_eq "udba=reval after the remount: a file added directly shows at once" "late2" "$(cat "$M/late2" 2>&1)"
t_errno "remount udba=none again" 0 remount "udba=none"
t_eq "... /proc/mounts shows udba=none" "none" "$(mount_opt "$M" udba)"
t_errno "... a missing name cached" ENOENT rfsprobe stat "$M/late3"
mkfile "$B2/late3" "late3"
t_errno "... a file added directly stays unseen while cached" ENOENT rfsprobe stat "$M/late3"
t_errno "remount udba=notify is refused" EINVAL remount "udba=notify"
t_eq "... udba stays none" "none" "$(mount_opt "$M" udba)"
umount "$M"
rm -f "$B2/late" "$B2/late2" "$B2/late3"

lap "udba=none"
# --- 200 remounts while lookups and readdir run --------------------------------
for i in 1 2 3 4; do mkfile "$T/s$i/s$i" "s$i"; mkfile "$T/s$i/dir/s$i" "s$i"; done
mkfile "$B1/dir/keep" "keep"
rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"
: >"$T/bgfail"
(
	while [ ! -e "$T/stop" ]; do
		[ "$(cat "$M/f2" 2>&1)" = f2 ] || echo "f2: $(cat "$M/f2" 2>&1)" >>"$T/bgfail"
		[ "$(cat "$M/dir/keep" 2>&1)" = keep ] || echo "keep: $(cat "$M/dir/keep" 2>&1)" >>"$T/bgfail"
		rfsprobe readdir "$M" >/dev/null || echo "readdir of the root failed" >>"$T/bgfail"
		find "$M" >/dev/null 2>&1 || true
		names "$M/dir" | grep -qx keep || echo "readdir lost keep" >>"$T/bgfail"
	done
) &
bg=$!
fails=0
n=0
while [ $n -lt 100 ]; do
	i=$((n % 4 + 1))
	rfsprobe remount "$M" "append:$T/s$i" >/dev/null || fails=$((fails + 1))
	cat "$M/s$i" >/dev/null 2>&1 || fails=$((fails + 1))
	rfsprobe remount "$M" "del:$T/s$i" >/dev/null || fails=$((fails + 1))
	n=$((n + 1))
done
touch "$T/stop"
wait $bg
t_eq "200 remounts (append/del) with lookups running: none failed" 0 "$fails"
t_eq "the background lookups saw no error" "" "$(sort -u "$T/bgfail" | head -5)"
t_eq "after the stress the stack is the original one" "$B0=rw:$B1=ro+wh:$B2=ro" "$(dirs_of "$M")"
t_eq "and the union shows it" "dir f1 f2 new new2 sub writing" "$(names "$M" | oneline)"
umount "$M"

lap "200 remounts"
# --- 512 branches, appended one by one -----------------------------------------
mkdir -p "$T/many"
rfs_mount "$M" "dirs=$B0=rw"
# 511 remounts, each appending one branch (one process makes them all:
# process start-up under TCG would otherwise dominate the suite).
set --
n=1
while [ $n -lt 512 ]; do
	set -- "$@" "append:$T/many/$n"
	n=$((n + 1))
done
(cd "$T/many" && seq 1 511 | xargs mkdir)
t_errno "511 remounts, one append each" 0 rfsprobe remount-seq "$M" "$@"
mkfile "$T/many/511/bottom" "from the bottom"
lap "511 appends"
t_eq "512 branches: /proc/mounts lists them" 512 "$(dirs_of "$M" | tr ':' '\n' | grep -c .)"
t_eq "512 branches: sysfs has br511" "$T/many/511=ro" "$(S br511)"
t_eq "512 branches: a file in the bottom branch reads" "from the bottom" "$(cat "$M/bottom" 2>&1)"
t_errno "512 branches: the 512th branch counts in lookups" 0 rfsprobe stat "$M/bottom"
t_errno "del of a branch in the middle" 0 remount "del:$T/many/256"
t_eq "511 branches left" 511 "$(nbr)"
# More than 1024 branches: one reconfigure appending 514 (one fsconfig key
# each) would make 1025; it fails as a whole.
mkdir -p "$T/more"
(cd "$T/more" && seq 1 514 | xargs mkdir)
set --
n=1
while [ $n -le 514 ]; do
	set -- "$@" "append=$T/more/$n"
	n=$((n + 1))
done
t_errno "more than 1024 branches: EINVAL" EINVAL rfsprobe fsreconfigure "$M" "$@"
t_eq "more than 1024 branches: nothing was added" 511 "$(nbr)"
umount "$M"
lap "512 branches"

t_done
