#!/bin/sh
# integrity.sh: data integrity through the union with our own fsx and
# fsstress style tools (issue "hardening").
#
#  1. rfsfsx (tests/tools/rfsfsx): seeded random read, write, truncate,
#     mmap read/write, fallocate (keep-size, plain, punch hole, zero range,
#     collapse and insert range), copy_file_range, fsync, reopen (O_TRUNC,
#     O_APPEND) and drop_caches on one file, each checked against an
#     in-memory copy. It runs on files that first exist only in the lower
#     (ro) branch, so its first write copies the file up: a random 1.5 MB
#     file (no page multiple, more than one 1 MiB copy-up step), one of
#     exactly 64 KiB, a 100-byte one, an empty one, a sparse 3 MiB one, and
#     one in lower-only directories (copied up with its parents); copy_file_range reads from a lower file through the
#     union. Then once on a file created through the union and once on a
#     plain file of the scratch disk with the same seed (a baseline): both
#     must end with the same data and disable the same operations (a
#     fallocate mode the filesystem lacks). Afterwards: umount, drop_caches
#     and mount show the same data; the lower branch is unchanged.
#  2. inode numbers when the writable branch's filesystem reuses an inode
#     number (found by part 3): a new file must not get the number of a
#     removed one, a copied-up file or directory keeps its number, and
#     readdir's d_ino stays st_ino (rfs.rst, "Inode numbers and st_dev",
#     "Readdir"), also for names looked up while they are copied up.
#  3. rfsfsstress (tests/tools/rfsfsstress): several processes at once
#     create, mkdir, rmdir, unlink, rename (also over existing targets),
#     link, symlink, readlink, write, truncate, chmod, set and remove user.*
#     xattrs, list, stat, read and open for writing in one shared tree that
#     first exists in a lower ro+wh branch (with whiteouts and an opaque
#     directory over a second, ro branch), so renames and unlinks go through
#     copy-up and whiteouts. Only the errnos of the documented races are
#     allowed (see the tool). Then its consistency pass (every listed name
#     stats, lstat equals fstat of an open, every file reads to its end and
#     holds only whole records or zeros, no .wh. name shows, d_ino is
#     st_ino, directory link counts), again after umount, drop_caches and
#     mount; the lower branches are unchanged.
#
# RFS_SOAK=0 (default, CI): about 3-4 minutes of VM time under the debug
# kernel. RFS_SOAK=1 (`make soak T=integrity`): about 45 minutes, with
# over 100 000 rfsfsx operations and many rfsfsstress seeds.
# Any kernel report in the console (KASAN, lockdep, WARN, kmemleak) is
# counted as a failure by the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

if [ "${RFS_SOAK:-0}" = 1 ]; then
	# ~14 ms per rfsfsx and ~7 ms per rfsfsstress operation under the
	# debug kernel: about 26 + 20 minutes
	FSX_ROUNDS=3           # rounds of the six lower shapes (new files, new seeds)
	COPYUP_RACE=3000       # copy-ups racing with lookups (part 2)
	FSX_OPS=5000           # operations per lower file and round
	FSX_NEW_OPS=10000      # the union-created file and the native baseline
	FSS_ROUNDS=4           # fresh branches per round
	FSS_SEEDS=4            # rfsfsstress runs per round (on the same tree)
	FSS_PROCS=4
	FSS_OPS=2500           # per process
else
	FSX_ROUNDS=1
	COPYUP_RACE=300
	FSX_OPS=1200
	FSX_NEW_OPS=1000
	FSS_ROUNDS=1
	FSS_SEEDS=2
	FSS_PROCS=4
	FSS_OPS=1000
fi
FSX_SHAPES="big page small empty sparse deep"

T=$(rfs_tmpdir)
START=$(cut -d' ' -f1 /proc/uptime)

# elapsed: seconds of VM time since the suite started.
elapsed() {
	awk -v s="$START" '{ printf "%d", $1 - s }' /proc/uptime
}

# --- the tools: a missing one is a failed test, never a silent pass --------------
for b in rfsfsx rfsfsstress rfsprobe; do
	if ! command -v "$b" >/dev/null 2>&1; then
		t_ok "$b test tool is in the initramfs" false
		eval "no_$b=1"
	fi
done

# tool_ok DESC LOG RC: one test from a tool's exit status; on failure its
# whole output (a failure report of rfsfsx is about 60 lines).
tool_ok() {
	if [ "$3" = 0 ]; then
		t_ok "$1" true
	else
		t_ok "$1" false
		diag "exit status $3; output:"
		diag "$(head -n 120 "$2")"
	fi
}

# disabled LOG: the operations rfsfsx disabled, by name ("none" if none).
disabled() {
	sed -n 's/^rfsfsx: ok: .*; disabled: //p' "$1" | sed 's/ ([^)]*)//g'
}

# md5of FILE: the md5 of FILE (or of nothing, when it cannot be read).
md5of() {
	md5sum <"$1" 2>/dev/null | cut -d' ' -f1
}

# ================================================================================
# 1. rfsfsx through copy-up
# ================================================================================
# lower_shape DIR SHAPE ROUND: makes the lower file of SHAPE for ROUND in
# DIR and prints its path relative to DIR.
lower_shape() {
	local f
	case $2 in
	big) f=big.$3; dd if=/dev/urandom of="$1/$f" bs=1000 count=1500 2>/dev/null ;;
	page) f=page.$3; dd if=/dev/urandom of="$1/$f" bs=4096 count=16 2>/dev/null ;;
	small) f=small.$3; dd if=/dev/urandom of="$1/$f" bs=100 count=1 2>/dev/null ;;
	empty) f=empty.$3; : >"$1/$f" ;;
	sparse)
		# 3 MiB: data at 0, across 1 MiB (copy-up copies a data range
		# in steps of 1 MiB) and at 2.5 MiB, holes around, the end a hole
		f=sparse.$3
		dd if=/dev/urandom of="$1/$f" bs=4096 count=1 2>/dev/null
		dd if=/dev/urandom of="$1/$f" bs=4096 seek=255 count=2 conv=notrunc 2>/dev/null
		dd if=/dev/urandom of="$1/$f" bs=4096 seek=640 count=1 conv=notrunc 2>/dev/null
		truncate -s 3145728 "$1/$f"
		;;
	deep)
		f=deep.$3/x/y/f
		mkdir -p "$1/deep.$3/x/y"
		dd if=/dev/urandom of="$1/$f" bs=1000 count=50 2>/dev/null
		;;
	esac
	printf '%s\n' "$f"
}

fsx_part() {
	local d=$T/fsx b0 b1 m o r shape f seed rc nat n files=
	mkdir -p "$d"
	mkbranches "$d" 2
	b0=$d/b0 b1=$d/b1 m=$d/mnt o=$d/out
	mkdir -p "$m" "$o" "$b1/data"
	dd if=/dev/urandom of="$b1/data/src" bs=1000 count=200 2>/dev/null
	r=1
	while [ "$r" -le "$FSX_ROUNDS" ]; do
		for shape in $FSX_SHAPES; do
			files="$files $(lower_shape "$b1/data" "$shape" "$r")"
		done
		r=$((r + 1))
	done
	branch_snapshot "$b1" >"$o/lower.before"
	t_ok "fsx: mount b0=rw b1=ro" rfs_mount "$m" "dirs=$b0=rw:$b1=ro" || return

	# The native baseline first: what this filesystem supports.
	mkdir -p "$d/native"
	rfsfsx -q --seed 7 --ops "$FSX_NEW_OPS" --drop-caches "$d/native/created" >"$o/native.log" 2>&1
	rc=$?
	tool_ok "fsx: $FSX_NEW_OPS ops on a plain file of the scratch disk (baseline, seed 7)" "$o/native.log" $rc
	nat=$(disabled "$o/native.log")
	diag "$(tail -n 1 "$o/native.log")"

	n=0
	for f in $files; do
		n=$((n + 1))
		seed=$((n * 100 + 1))
		rfsfsx -q --seed $seed --ops "$FSX_OPS" --drop-caches --lower "$b1/data/$f" \
			--src "$m/data/src" "$m/data/$f" >"$o/fsx.$n.log" 2>&1
		rc=$?
		tool_ok "fsx: $FSX_OPS ops on lower file $f, first write copies it up (seed $seed)" "$o/fsx.$n.log" $rc
		[ $rc = 0 ] && t_eq "fsx: $f: same operations disabled as on the plain file" "$nat" "$(disabled "$o/fsx.$n.log")"
		md5of "$m/data/$f" >"$o/final.$n"
		[ -f "$b0/data/$f" ] || t_ok "fsx: $f has a copy in the rw branch" false
		diag "$f done at $(elapsed)s"
	done

	mkdir -p "$m/new" &&
		rfsfsx -q --seed 7 --ops "$FSX_NEW_OPS" --drop-caches "$m/new/created" >"$o/created.log" 2>&1
	rc=$?
	tool_ok "fsx: $FSX_NEW_OPS ops on a file created through the union (seed 7)" "$o/created.log" $rc
	diag "$(tail -n 1 "$o/created.log")"
	t_eq "fsx: the union-created file: same operations disabled as on the plain file" "$nat" "$(disabled "$o/created.log")"
	t_eq "fsx: seed 7 ends with the same data on the union and on the plain file" \
		"$(md5of "$d/native/created")" "$(md5of "$m/new/created")"
	md5of "$m/new/created" >"$o/final.created"

	t_ok "fsx: umount" umount "$m"
	drop_caches
	t_ok "fsx: mount again" rfs_mount "$m" "dirs=$b0=rw:$b1=ro" || return
	: >"$o/changed"
	n=0
	for f in $files; do
		n=$((n + 1))
		[ "$(md5of "$m/data/$f")" = "$(cat "$o/final.$n")" ] || echo "$f" >>"$o/changed"
	done
	[ "$(md5of "$m/new/created")" = "$(cat "$o/final.created")" ] || echo new/created >>"$o/changed"
	t_eq "fsx: after umount, drop_caches and mount every file holds its final data" "" \
		"$(oneline <"$o/changed")"
	t_ok "fsx: umount at the end" umount "$m"
	branch_snapshot "$b1" >"$o/lower.after"
	t_ok "fsx: the lower branch is unchanged (rfsprobe tree)" cmp "$o/lower.before" "$o/lower.after"
	diag "fsx part done at $(elapsed)s"
}

if [ "${no_rfsfsx:-0}" = 1 ] || [ "${no_rfsprobe:-0}" = 1 ]; then
	t_skip "fsx part" "a test tool is missing (reported above)"
else
	fsx_part
fi

# ================================================================================
# 2. inode numbers when the writable branch reuses an inode number
# ================================================================================
# ext4 gives a new inode the lowest free number of its group, so the upper
# of a file or directory made right after one was removed usually gets the
# removed one's number. The union forgets the key of a branch object whose
# last name it removed, gives an object it creates a fresh number, and a
# copy-up points the copy's key at the original's number
# (src/logic/inomap.rs). Each check notes whether the branch reused a
# number (without reuse it says little).
# ino PATH: st_ino of PATH (lstat).
ino() {
	val ino "$(rfsprobe lstat "$1")"
}

# dino DIR NAME: the d_ino readdir gives for NAME in DIR.
dino() {
	rfsprobe readdir "$1" | awk -v n="$2" '$1 == n { print $3 }'
}

# reuse_result DESC REUSED(0/1) PASSED(0/1) DETAIL
reuse_result() {
	[ "$2" = 1 ] || diag "$1: the branch did not reuse an inode number here, so this says little"
	if [ "$3" = 1 ]; then
		t_ok "$1" true
	else
		t_ok "$1" false
		diag "$4"
	fi
}

# race_tree DIR: COPYUP_RACE lower directories DIR/b1/t/dI, each with a
# file f, mounted at DIR/mnt over an empty writable DIR/b0.
# shellcheck disable=SC2317 # run through t_ok
race_tree() {
	local i=0
	mkdir -p "$1/b0" "$1/b1/t" "$1/mnt" || return
	while [ $i -lt "$COPYUP_RACE" ]; do
		mkdir "$1/b1/t/d$i" && echo f >"$1/b1/t/d$i/f" || return
		i=$((i + 1))
	done
	rfs_mount "$1/mnt" "dirs=$1/b0=rw:$1/b1=ro"
}

ino_reuse_case() {
	local d=$T/ino m x ux y uy before after u uz st st2 di reused
	mkdir -p "$d"
	mkbranches "$d" 2
	m=$d/mnt
	mkdir -p "$m" "$d/b1/c/D"
	echo lower >"$d/b1/c/l"
	t_ok "inode numbers: mount b0=rw b1=ro" rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro" || return

	# a new file after a removed one
	echo x >"$m/c/x"
	x=$(ino "$m/c/x") ux=$(stat -c %i "$d/b0/c/x")
	rm "$m/c/x"
	echo y >"$m/c/y"
	y=$(ino "$m/c/y") uy=$(stat -c %i "$d/b0/c/y")
	rm "$m/c/y"
	reused=0
	[ "$ux" = "$uy" ] && reused=1
	reuse_result "inode numbers: a new file does not get the number of a removed one" $reused \
		"$([ "$x" != "$y" ] && echo 1)" \
		"echo x >c/x (st_ino $x, upper inode $ux); rm c/x; echo y >c/y: st_ino $y (upper inode $uy)"

	# a lower file copied up after a removed file
	before=$(ino "$m/c/l")
	echo z >"$m/c/z"
	uz=$(stat -c %i "$d/b0/c/z")
	rm "$m/c/z"
	chmod 600 "$m/c/l"
	after=$(ino "$m/c/l") u=$(stat -c %i "$d/b0/c/l")
	reused=0
	[ "$u" = "$uz" ] && reused=1
	reuse_result "inode numbers: a lower file keeps its number when it is copied up" $reused \
		"$([ "$before" = "$after" ] && echo 1)" \
		"lower file c/l st_ino $before; echo z >c/z (upper inode $uz); rm c/z; chmod 600 c/l (copy-up, upper inode $u): st_ino $after"

	# a lower directory copied up after a removed directory
	before=$(ino "$m/c/D")
	mkdir "$m/c/e"
	uz=$(stat -c %i "$d/b0/c/e")
	rmdir "$m/c/e"
	chmod 700 "$m/c/D"
	st=$(ino "$m/c/D") di=$(dino "$m/c" D) u=$(stat -c %i "$d/b0/c/D")
	drop_caches
	st2=$(ino "$m/c/D")
	reused=0
	[ "$u" = "$uz" ] && reused=1
	reuse_result "inode numbers: a copied-up directory keeps its number, in readdir and after drop_caches" $reused \
		"$([ "$before" = "$st" ] && [ "$st" = "$di" ] && [ "$st" = "$st2" ] && echo 1)" \
		"lower dir c/D st_ino $before; mkdir c/e (upper inode $uz); rmdir c/e; chmod 700 c/D (copy-up, upper inode $u): st_ino $st, readdir d_ino $di, st_ino after drop_caches $st2"
	t_ok "inode numbers: umount" umount "$m"

	# Lookups racing with copy-ups (found by part 3 under Debian's
	# kernel): a lookup between a copy's rename into place and the
	# recording of its number gave the name a new number, and readdir's
	# d_ino then differed from st_ino. Each of COPYUP_RACE directories and
	# its file is copied up while a thread stats both in a loop.
	t_ok "inode numbers, racing lookups: mount" race_tree "$d/r" || return
	t_eq "inode numbers: $COPYUP_RACE directories and files copied up while looked up keep st_ino = d_ino" \
		"mismatches 0" "$(rfsprobe copyup-race "$d/r/mnt/t" "$COPYUP_RACE")"
	t_ok "inode numbers, racing lookups: umount" umount "$d/r/mnt"

	# The same race seen through locks: a lookup in the window also built
	# a second union inode for the object (D48 in the parity audit), so a
	# flock taken before the copy-up no longer blocked a new open's. Each
	# directory and file is opened and locked before its copy-up; a new
	# open of each afterwards must find the lock held.
	t_ok "one union inode, racing lookups: mount" race_tree "$d/l" || return
	t_eq "one union inode: $COPYUP_RACE directories and files copied up while looked up keep their flock" \
		"split 0" "$(rfsprobe copyup-flock "$d/l/mnt/t" "$COPYUP_RACE")"
	t_ok "one union inode, racing lookups: umount" umount "$d/l/mnt"
}

if [ "${no_rfsprobe:-0}" = 1 ]; then
	t_skip "inode number case" "rfsprobe is missing (reported above)"
else
	ino_reuse_case
fi

# ================================================================================
# 3. rfsfsstress over a lower ro+wh tree
# ================================================================================
# fss_lower B1 B2 SEED: the starting trees: B2/t (ro) and B1/t (ro+wh) made
# by rfsfsstress --populate; B1 whites out two names of B2's top directory
# that B1 does not have, and makes a directory that both have opaque.
# shellcheck disable=SC2317 # run through t_ok
fss_lower() {
	local n k=0
	rfsfsstress --populate --seed "$(($3 + 1000))" --dir "$2/t" >/dev/null &&
		rfsfsstress --populate --seed "$3" --dir "$1/t" >/dev/null || return 1
	for n in "$2"/t/*; do
		n=${n##*/}
		if [ -e "$1/t/$n" ] || [ -L "$1/t/$n" ]; then
			continue
		fi
		: >"$1/t/.wh.$n"
		k=$((k + 1))
		[ "$k" = 2 ] && break
	done
	for n in d0 d1 d2 d3; do
		if [ -d "$1/t/$n" ] && [ -d "$2/t/$n" ]; then
			: >"$1/t/$n/.wh..wh..opq"
			break
		fi
	done
}

fss_round() {
	local r=$1 d=$T/fss.$1 m o s seed rc opts n
	mkdir -p "$d"
	mkbranches "$d" 3
	m=$d/mnt o=$d/out
	mkdir -p "$m" "$o"
	t_ok "fsstress round $r: lower trees (populate, whiteouts, opaque directory)" \
		fss_lower "$d/b1" "$d/b2" "$r" || return
	branch_snapshot "$d/b1" "$d/b2" >"$o/lower.before"
	opts="dirs=$d/b0=rw:$d/b1=ro+wh:$d/b2=ro"
	t_ok "fsstress round $r: mount b0=rw b1=ro+wh b2=ro" rfs_mount "$m" "$opts" || return
	rfsfsstress --check --dir "$m/t" >"$o/check0.log" 2>&1
	tool_ok "fsstress round $r: the union starts consistent" "$o/check0.log" $?
	diag "$(tail -n 1 "$o/check0.log")"
	s=1
	while [ "$s" -le "$FSS_SEEDS" ]; do
		seed=$((r * 100 + s))
		rfsfsstress -q --seed $seed --procs "$FSS_PROCS" --ops "$FSS_OPS" --dir "$m/t" \
			>"$o/run.$s.log" 2>&1
		rc=$?
		tool_ok "fsstress round $r: $FSS_PROCS processes x $FSS_OPS ops (seed $seed), only documented errnos, consistent after" \
			"$o/run.$s.log" $rc
		[ $rc = 0 ] && diag "$(cat "$o/run.$s.log")"
		diag "seed $seed done at $(elapsed)s"
		s=$((s + 1))
	done
	t_ok "fsstress round $r: umount" umount "$m"
	drop_caches
	t_ok "fsstress round $r: mount again" rfs_mount "$m" "$opts" || return
	rfsfsstress --check --dir "$m/t" >"$o/check1.log" 2>&1
	tool_ok "fsstress round $r: consistent after umount, drop_caches and mount" "$o/check1.log" $?
	diag "$(tail -n 1 "$o/check1.log")"
	t_eq "fsstress round $r: the remounted union shows what it showed before" \
		"$(tail -n 1 "$o/run.$FSS_SEEDS.log")" "$(tail -n 1 "$o/check1.log")"
		t_ok "fsstress round $r: umount at the end" umount "$m"
	branch_snapshot "$d/b1" "$d/b2" >"$o/lower.after"
	t_ok "fsstress round $r: the lower branches are unchanged (rfsprobe tree)" cmp "$o/lower.before" "$o/lower.after"
	rm -rf "$d"
}

if [ "${no_rfsfsstress:-0}" = 1 ] || [ "${no_rfsprobe:-0}" = 1 ]; then
	t_skip "fsstress part" "a test tool is missing (reported above)"
else
	r=1
	while [ "$r" -le "$FSS_ROUNDS" ]; do
		fss_round "$r"
		r=$((r + 1))
	done
fi

diag "integrity suite: $(elapsed)s of VM time (RFS_SOAK=${RFS_SOAK:-0})"
t_done
