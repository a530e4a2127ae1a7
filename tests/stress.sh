#!/bin/sh
# stress.sh: data integrity and stress through the union (issue 6, item 2).
#
#  1. fio with crc32c verification over files that first exist only in a
#     lower (ro) branch: every job's open copies its file up, then fio writes
#     and reads back (random 4k with psync, sequential 64k with libaio, random
#     with mmap, a half-file write), umount + drop_caches + mount, and a
#     verify-only pass. No verify error; the lower files are unchanged byte
#     for byte; the rw branch holds the copies; the part of a file fio did
#     not write is still the lower file's data.
#  2. stress-ng file system stressors on a union mount whose work directory
#     is merged from two branches; each must finish with success.
#  3. dbench over a tree that first exists in the lower branch (so its
#     renames, unlinks and overwrites go through copy-up and whiteouts).
#  4. concurrency (tests/tools/rfsstress): many processes copy up the same
#     and different lower files, list merged directories, rename files back
#     and forth, unlink and recreate lower names; then the union must be
#     consistent (each file its lower content or one complete written
#     content), the only errors the documented races (ENOENT, EEXIST, EXDEV
#     for a non-empty directory), the lower branches unchanged.
#  5. two races the concurrency part found, each made (nearly)
#     deterministic: copy-up against unlink + create of the same name, and
#     same-file copy-up with readers around. Both are rfs bugs today and are
#     reported as skips ("rfs bug: ...") until they are fixed.
#
# RFS_SOAK=0 (default, CI): about 4 minutes of VM time under the debug
# kernel. RFS_SOAK=1 (`make soak T=stress`): several minutes per part.
# Any kernel report in the console (KASAN, lockdep, WARN, kmemleak) is
# counted as a failure by the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

if [ "${RFS_SOAK:-0}" = 1 ]; then
	FIO_SIZE=64            # MiB per file
	FIO_LOOPS=3            # fio write+verify rounds
	NG_TIME=120            # seconds per stress-ng group
	DB_TIME=300            # dbench seconds
	DB_CLIENTS=4
	CC_TIME=300            # concurrency seconds
else
	FIO_SIZE=2
	FIO_LOOPS=1
	NG_TIME=15
	DB_TIME=30
	DB_CLIENTS=2
	CC_TIME=30
fi

T=$(rfs_tmpdir)
W=$T/work
mkdir -p "$W"
START=$(cut -d' ' -f1 /proc/uptime)

# elapsed: seconds of VM time since the suite started.
elapsed() {
	awk -v s="$START" '{ printf "%d", $1 - s }' /proc/uptime
}

# --- the tools: a missing one is a failed test, never a silent pass --------------
if [ -s /etc/rfs-host-tools.missing ]; then
	while IFS= read -r m; do
		t_ok "stress tool in the initramfs: $m" false
	done </etc/rfs-host-tools.missing
fi
for b in fio stress-ng dbench; do
	if command -v "$b" >/dev/null 2>&1 && "$b" --help >/dev/null 2>&1 </dev/null; then :; else
		t_ok "$b is in the initramfs and runs" false
		eval "no_$(echo "$b" | tr -d -)=1"
	fi
done
[ -s /usr/share/dbench/client.txt ] || { t_ok "dbench loadfile /usr/share/dbench/client.txt" false; no_dbench=1; }
command -v rfsstress >/dev/null 2>&1 || { t_ok "rfsstress test tool is in the initramfs" false; no_rfsstress=1; }

# lower_sums DIR...: md5 of every regular file under the DIRs, sorted.
lower_sums() {
	find "$@" -type f | sort | xargs md5sum
}

# ================================================================================
# 1. fio with verification through copy-up
# ================================================================================
fio_part() {
	local d=$T/fio b0 b1 m o n f half
	mkdir -p "$d"
	mkbranches "$d" 2
	b0=$d/b0 b1=$d/b1 m=$d/mnt o=$d/out
	mkdir -p "$m" "$o" "$b1/data"
	# Lower files: random data, so a verify pass against them must fail and
	# the half-file case can tell lower data from fio's.
	for f in rand.0 rand.1 rand.2 rand.3 seq.0 seq.1 mm.0 ur.0 half.0; do
		dd if=/dev/urandom of="$b1/data/$f" bs=1M count="$FIO_SIZE" 2>/dev/null
	done
	lower_sums "$b1" >"$o/lower.before"
	diag "fio: lower files made at $(elapsed)s"
	half=$((FIO_SIZE * 1024 * 1024 / 2))

	# Negative control: fio's verify-only pass must reject data fio did not
	# write (a random file outside the union).
	cp "$b1/data/rand.0" "$o/control.0"
	(cd "$o" && fio --name=control --filename="$o/control.0" --rw=randwrite --bs=4k \
		--size="${FIO_SIZE}M" --ioengine=psync --verify=crc32c --verify_only \
		--verify_fatal=1 >"$o/control.log" 2>&1)
	t_fail "fio control: verify-only rejects data fio did not write" [ $? = 0 ]

	t_ok "fio: mount b0=rw b1=ro" rfs_mount "$m" "dirs=$b0=rw:$b1=ro"

	# Engines: psync (pread/pwrite), libaio and mmap work through rfs; so
	# does io_uring. libaio and io_uring run buffered (not O_DIRECT): rfs
	# refuses O_DIRECT (rfs.rst, Known limitations), so every job has
	# direct=0 (fio's default).
	# One fio process runs all jobs at once (each fio start costs seconds
	# under TCG): ROUND is the randseed, EXTRA e.g. --verify_only.
	#   rand  random 4k, psync, 4 jobs on rand.0..3
	#   seq   sequential 64k, libaio iodepth 8, 2 jobs on seq.0..1
	#   mm    random 4k through mmap on mm.0
	#   ur    random 4k, io_uring iodepth 8, on ur.0
	#   half  random 8k over the second half of half.0
	fio_jobs() {
		local round=$1
		shift
		(cd "$o" && fio --directory="$m/data" --ioengine=psync --verify=crc32c \
			--verify_fatal=1 --verify_dump=0 --randseed="$round" "$@" \
			--name=rand --filename_format='rand.$jobnum' --rw=randwrite --bs=4k \
			--size="${FIO_SIZE}M" --numjobs=4 \
			--name=seq --filename_format='seq.$jobnum' --rw=write --bs=64k \
			--size="${FIO_SIZE}M" --numjobs=2 --ioengine=libaio --iodepth=8 \
			--name=mm --filename_format='mm.$jobnum' --rw=randwrite --bs=4k \
			--size="${FIO_SIZE}M" --ioengine=mmap \
			--name=ur --filename_format='ur.$jobnum' --rw=randwrite --bs=4k \
			--size="${FIO_SIZE}M" --ioengine=io_uring --iodepth=8 \
			--name=half --filename_format='half.$jobnum' --rw=randwrite --bs=8k \
			--offset="$half" --size="$half")
	}
	# fio_result LOG WHAT: one test per job kind, from fio's per-job status
	# lines ("NAME: (groupid=0, jobs=1): err= 0: ..."), plus the exit status.
	fio_result() {
		local log=$1 what=$2 rc=$3 j want n
		for j in rand:4:psync seq:2:libaio mm:1:mmap ur:1:io_uring half:1:psync; do
			want=${j#*:}
			want=${want%%:*}
			n=$(grep -cE "^${j%%:*}: \(groupid=[0-9]+, jobs=1\): err= 0" "$log")
			t_eq "fio $what: ${j%%:*} (${j##*:}, jobs=$want): no error" "$want" "$n"
		done
		if [ "$rc" = 0 ] && ! grep -qE 'err= *[1-9]|verify failed|bad magic|verify: bad' "$log"; then
			t_ok "fio $what: exit status 0, no verify error" true
		else
			diag "fio $what: exit status $rc"
			diag "$(grep -E 'err=|verify|bad|crc|fio:' "$log" | head -n 20)"
			t_ok "fio $what: exit status 0, no verify error" false
		fi
	}

	local round=1 rc
	while [ $round -le "$FIO_LOOPS" ]; do
		fio_jobs $round >"$o/write.$round.log" 2>&1
		rc=$?
		diag "fio round $round (write + verify): done at $(elapsed)s"
		fio_result "$o/write.$round.log" "round $round, write + verify" $rc
		round=$((round + 1))
	done

	t_ok "fio: umount" umount "$m"
	drop_caches
	t_ok "fio: mount again" rfs_mount "$m" "dirs=$b0=rw:$b1=ro"
	fio_jobs $FIO_LOOPS --verify_only >"$o/verify.log" 2>&1
	rc=$?
	diag "fio verify-only: done at $(elapsed)s"
	fio_result "$o/verify.log" "verify-only after umount, drop_caches, mount" $rc
	t_eq "fio: the part of half.0 fio did not write is the lower file's data" \
		"$(dd if="$b1/data/half.0" bs=$half count=1 2>/dev/null | md5sum | cut -d' ' -f1)" \
		"$(dd if="$m/data/half.0" bs=$half count=1 2>/dev/null | md5sum | cut -d' ' -f1)"

	lower_sums "$b1" >"$o/lower.after"
	t_ok "fio: the lower branch is unchanged (md5 of every file)" cmp "$o/lower.before" "$o/lower.after"
	n=0
	for f in rand.0 rand.1 rand.2 rand.3 seq.0 seq.1 mm.0 ur.0 half.0; do
		if [ -f "$b0/data/$f" ] && [ "$(stat -c %s "$b0/data/$f")" = $((FIO_SIZE * 1048576)) ] &&
			cmp -s "$b0/data/$f" "$m/data/$f" && ! cmp -s "$b0/data/$f" "$b1/data/$f"; then
			n=$((n + 1))
		else
			diag "fio: $f: upper copy missing, wrong size, not what the union shows, or still the lower data"
		fi
	done
	t_eq "fio: the rw branch holds the 9 written copies, and the union shows them" 9 "$n"
	t_ok "fio: umount at the end" umount "$m"
	diag "fio part done at $(elapsed)s"
}

if [ "${no_fio:-0}" = 1 ]; then
	t_skip "fio part" "fio is missing (reported above)"
else
	fio_part
fi

# ================================================================================
# 2. stress-ng file system stressors
# ================================================================================
# Stressors run in three groups, each group's stressors at the same time, one
# instance each, with --verify (checked by those that support it), on a
# union whose --temp-path directory is merged from the three branches.
# Left out:
#   io-uring  fails on plain filesystems too with this stress-ng (0.15.06:
#             IORING_OP_STATX completions with ENOENT, seen on the host's
#             own ext4), so it says nothing about rfs;
#   dirmany   fills the file system until ENOSPC or the time is up, and its
#             cleanup alone takes minutes under TCG;
#   rawdev    works on block devices, not on files.
# No stressor is left out for an rfs design limit: file-ioctl, inode-flags
# and hdd (its default options use no O_DIRECT) handle the ioctls rfs does
# not pass on themselves and run their other steps. fiemap is kept although
# stress-ng skips it today ("FS_IOC_FIEMAP not supported on the file
# system": rfs has no fiemap, and rfs.rst does not say so): the skip is
# reported as a TAP skip, and it runs once rfs passes FIEMAP to the branch.
NG_NAMES="namespace metadata data"
# (NG_<group> are read through eval in stressng_part)
# shellcheck disable=SC2034
NG_namespace="--dir 1 --dir-dirs 128 --dentry 1 --dentries 256 --rename 1
	--getdent 1 --filename 1 --mknod 1 --touch 1 --dirdeep 1 --dirdeep-dirs 1 --dirdeep-inodes 500"
# link and symlink: one bogo op of theirs makes and removes thousands of
# links (2.4 s natively, about a minute under TCG with KASAN), too long for
# the CI mode; they run in the soak mode only.
[ "${RFS_SOAK:-0}" = 1 ] && NG_namespace="$NG_namespace --link 1 --symlink 1"
# shellcheck disable=SC2034
NG_metadata="--chmod 1 --chown 1 --utime 1 --fstat 1 --open 1 --open-max 2000 --access 1
	--xattr 1 --fcntl 1 --lockf 1 --flock 1 --locka 1 --lease 1 --file-ioctl 1 --inode-flags 1 --fiemap 1"
# shellcheck disable=SC2034
NG_data="--hdd 1 --hdd-bytes 8M --seek 1 --seek-size 8M --fallocate 1 --fallocate-bytes 8M
	--readahead 1 --readahead-bytes 8M --mmap 1 --mmap-bytes 4M --mmap-file --iomix 1 --iomix-bytes 8M
	--copy-file 1 --copy-file-bytes 128M --sync-file 1 --sync-file-bytes 8M --aio 1 --fpunch 1
	--sendfile 1 --sendfile-size 64K --fsize 1 --msync 1"

stressng_part() {
	local d=$T/ng m g opts rc i
	mkdir -p "$d"
	mkbranches "$d" 3
	m=$d/mnt
	mkdir -p "$m"
	i=0
	while [ $i -lt 20 ]; do
		mkfile "$d/b1/ng/lower1.$i" "lower file $i of b1"
		mkfile "$d/b2/ng/lower2.$i" "lower file $i of b2"
		i=$((i + 1))
	done
	lower_sums "$d/b1" "$d/b2" >"$d/lower.before"
	t_ok "stress-ng: mount b0=rw b1=ro+wh b2=ro" rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro+wh:$d/b2=ro"
	for g in $NG_NAMES; do
		eval "opts=\$NG_$g"
		# shellcheck disable=SC2086 # opts is a word list
		(cd "$m/ng" && stress-ng --temp-path "$m/ng" --verify --timeout "${NG_TIME}s" \
			--log-brief --metrics-brief $opts) >"$d/$g.log" 2>&1 </dev/null
		rc=$?
		# what ran, and each stressor's real time (s), from --metrics-brief
		diag "stress-ng $g: $(awk 'NF >= 7 && $1 ~ /^[a-z][a-z-]*$/ && $2 ~ /^[0-9]+$/ &&
			$3 ~ /^[0-9.]+$/ { printf "%s%s %ss", s, $1, $3; s = ", " }' "$d/$g.log")"
		# A stressor stress-ng skipped (it found something unsupported)
		# prints no metrics: a skip with stress-ng's own words.
		# shellcheck disable=SC2086 # opts is a word list
		set -- $opts
		while [ $# -gt 1 ]; do
			case $1 in
			*-dirs | *-inodes | *-bytes | *-size | *-max) shift; continue ;; # a stressor's option
			esac
			if [ "$2" = 1 ] && ! grep -qE "^${1#--} +[0-9]+ " "$d/$g.log"; then
				t_skip "stress-ng ${1#--} ran on rfs" \
					"stress-ng skipped it: $(grep -m1 -E "${1#--}.*(skip|not supported|not implemented)" "$d/$g.log" || echo "no metrics, no message")"
			fi
			shift
		done
		if [ $rc = 0 ] && ! grep -qE 'fail:|error:|unsuccessful' "$d/$g.log"; then
			t_ok "stress-ng $g group" true
		else
			diag "stress-ng $g: exit status $rc; output:"
			diag "$(grep -vE 'metrc:' "$d/$g.log" | tail -n 40)"
			t_ok "stress-ng $g group" false
		fi
		diag "stress-ng $g done at $(elapsed)s"
	done
	t_eq "stress-ng: the lower files are still listed through the union" 40 \
		"$(($(find "$m/ng" -maxdepth 1 -name 'lower[12].*' | wc -l)))"
	t_ok "stress-ng: umount" umount "$m"
	lower_sums "$d/b1" "$d/b2" >"$d/lower.after"
	t_ok "stress-ng: the lower branches are unchanged" cmp "$d/lower.before" "$d/lower.after"
}

if [ "${no_stressng:-0}" = 1 ]; then
	t_skip "stress-ng part" "stress-ng is missing (reported above)"
else
	stressng_part
fi

# ================================================================================
# 3. dbench
# ================================================================================
# A first short dbench run directly in the lower branch (with --skip-cleanup)
# leaves its clients/ tree there; the union run then deletes, renames and
# overwrites those lower files (whiteouts, copy-ups) as it replays the
# NetBench load. -x adds the xattr calls (user.DosAttrib).
dbench_part() {
	local d=$T/db m rc
	mkdir -p "$d"
	mkbranches "$d" 2
	m=$d/mnt
	mkdir -p "$m"
	(cd "$d" && dbench -t 5 -D "$d/b1" --skip-cleanup -c /usr/share/dbench/client.txt 1) \
		>"$d/seed.log" 2>&1 </dev/null
	t_ok "dbench: seed run in the lower branch left a tree" test -d "$d/b1/clients"
	diag "dbench: $(find "$d/b1" | wc -l) lower objects"
	lower_sums "$d/b1" >"$d/lower.before"
	t_ok "dbench: mount b0=rw b1=ro" rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro"
	(cd "$d" && dbench -t "$DB_TIME" -D "$m" -x -c /usr/share/dbench/client.txt "$DB_CLIENTS") \
		>"$d/union.log" 2>&1 </dev/null
	rc=$?
	if [ $rc = 0 ] && grep -q '^Throughput' "$d/union.log" &&
		! grep -iE 'error|fail|wrong|unable' "$d/union.log" | grep -qv 'barrier semaphore'; then
		t_ok "dbench: $DB_CLIENTS clients for ${DB_TIME}s through the union, no error" true
	else
		diag "dbench: exit status $rc; output:"
		diag "$(grep -iE 'error|fail|wrong|unable|Throughput' "$d/union.log" | grep -v 'barrier semaphore' | head -n 30)"
		diag "$(tail -n 5 "$d/union.log")"
		t_ok "dbench: $DB_CLIENTS clients for ${DB_TIME}s through the union, no error" false
	fi
	diag "dbench: $(grep '^Throughput' "$d/union.log")"
	t_ok "dbench: umount" umount "$m"
	lower_sums "$d/b1" >"$d/lower.after"
	t_ok "dbench: the lower branch is unchanged" cmp "$d/lower.before" "$d/lower.after"
	diag "dbench done at $(elapsed)s"
}

if [ "${no_dbench:-0}" = 1 ]; then
	t_skip "dbench part" "dbench or its loadfile is missing (reported above)"
else
	dbench_part
fi

# ================================================================================
# 4. concurrency
# ================================================================================
# rfsstress run forks 17 workers for CC_TIME seconds (see
# tests/tools/rfsstress/src/main.rs): 4 write whole contents of the same 4
# lower files (all copy them up at once) while 2 read them; 3 copy up and
# rewrite files they own (O_RDWR, O_TRUNC, truncate, mmap+msync, chmod,
# O_APPEND) and check each result; 2 list merged directories; 3 rename files
# back and forth (and a lower directory with a child: EXDEV every time; an
# empty one back and forth); 3 unlink and recreate lower names of a merged
# directory. Allowed errors: ENOENT and EEXIST of lost races, EXDEV for the
# directory with children.
# known_bug DESC TAG LOG: a skip naming the rfs bug when LOG has "known rfs
# bug (TAG)" lines, else a pass.
known_bug() {
	local n
	n=$(grep -c "known rfs bug ($2)" "$3")
	if [ "$n" -gt 0 ]; then
		t_skip "$1" "rfs bug: $n times EEXIST ($(grep -m1 "known rfs bug ($2)" "$3" | sed 's/.*): //'))"
	else
		t_ok "$1" true
	fi
}

concurrency_part() {
	local d=$T/cc m
	mkdir -p "$d"
	mkbranches "$d" 3
	m=$d/mnt
	mkdir -p "$m"
	t_ok "concurrency: lower layout" rfsstress populate "$d/b1" "$d/b2"
	branch_snapshot "$d/b1" "$d/b2" >"$d/lower.before"
	t_ok "concurrency: mount b0=rw b1=ro+wh b2=ro" rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro+wh:$d/b2=ro"
	t_ok "concurrency: the union starts consistent" rfsstress check "$m"
	rfsstress run "$m" "$CC_TIME" >"$d/run.log" 2>&1
	cc_rc=$?
	t_ok "concurrency: 17 processes for ${CC_TIME}s, only the documented errors" \
		sh -c 'cat "$1"; exit "$2"' - "$d/run.log" "$cc_rc" &&
		diag "$(grep -E '^worker' "$d/run.log" | sed 's/ expected errors/ expected/')"
	# The rfs bugs rfsstress counts apart (each has its own case below).
	known_bug "concurrency: open(O_RDWR) of a lower file by several processes at once never fails" \
		"same-file copy-up" "$d/run.log"
	known_bug "concurrency: open(O_CREAT|O_TRUNC) of a lower name recreated meanwhile never fails with EEXIST" \
		"recreated name" "$d/run.log"
	diag "$(rfsstress check "$m" | tail -n 1)"
	t_ok "concurrency: the union is consistent afterwards" rfsstress check "$m"
	t_ok "concurrency: umount" umount "$m"
	drop_caches
	t_ok "concurrency: mount again" rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro+wh:$d/b2=ro"
	t_ok "concurrency: the union is consistent after umount, drop_caches, mount" rfsstress check "$m"
	t_ok "concurrency: umount at the end" umount "$m"
	t_ok "concurrency: the lower branches hold exactly the layout" rfsstress check-lower "$d/b1" "$d/b2"
	branch_snapshot "$d/b1" "$d/b2" >"$d/lower.after"
	t_ok "concurrency: the lower branches are unchanged (rfsprobe tree)" cmp "$d/lower.before" "$d/lower.after"
	diag "concurrency done at $(elapsed)s"
}

if [ "${no_rfsstress:-0}" = 1 ]; then
	t_skip "concurrency part" "rfsstress is missing (reported above)"
else
	concurrency_part
fi

# The race the concurrency part found, made deterministic: A opens a lower
# file with O_WRONLY|O_CREAT|O_TRUNC while another copy-up holds the
# per-mount copy-up mutex; meanwhile B unlinks the name and creates it again
# through the union. A's copy-up then finds B's upper and fails with EEXIST,
# an errno open(2) without O_EXCL must never give. Expected: success (A gets
# the file it looked up, or B's) or ENOENT (the name A found was removed).
copyup_race_case() {
	local d=$T/race m got i
	mkdir -p "$d"
	mkbranches "$d" 2
	m=$d/mnt
	mkdir -p "$m"
	# a big lower file keeps the copy-up mutex busy for a while
	dd if=/dev/zero of="$d/b1/big" bs=1M count=96 2>/dev/null
	i=0
	while [ $i -lt 3 ]; do
		echo lower >"$d/b1/f$i"
		i=$((i + 1))
	done
	rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro" || { t_ok "copy-up race: mount" false; return; }
	rfsprobe open "$m/big" a >/dev/null &        # the long copy-up
	sleep 1
	i=0
	while [ $i -lt 3 ]; do                      # A: waits for the mutex
		rfsprobe open "$m/f$i" w,creat,trunc >"$d/a$i.out" 2>&1 &
		i=$((i + 1))
	done
	sleep 1
	i=0
	while [ $i -lt 3 ]; do                      # B: unlink + create again
		rm "$m/f$i" && echo new >"$m/f$i"
		i=$((i + 1))
	done
	wait
	got=$(cat "$d"/a*.out | awk '{ print $1 }' | sort | uniq -c | awk '{ printf "%s%s:%s", s, $2, $1; s = " " }')
	diag "copy-up race: the three opens gave: ${got:-success}"
	if grep -q EEXIST "$d"/a*.out; then
		t_skip "copy-up race: open(O_WRONLY|O_CREAT|O_TRUNC) of a lower file recreated meanwhile" \
			"rfs bug: EEXIST from open without O_EXCL (copy-up finds the upper made through the union)"
	else
		t_ok "copy-up race: open(O_WRONLY|O_CREAT|O_TRUNC) of a lower file recreated meanwhile" \
			sh -c '! grep -qvE "^(ENOENT|$)" "$@"' - "$d"/a*.out
	fi
	# each name: B's file, maybe truncated by A's open after it
	t_eq "copy-up race: each name holds B's content, or nothing (A truncated it)" "ok ok ok" \
		"$(for i in 0 1 2; do case $(cat "$m/f$i") in new | "") echo ok ;; *) echo "f$i:$(cat "$m/f$i")" ;; esac; done | oneline)"
	umount "$m"
}

# The other race the concurrency part found: several processes open the same
# lower file for writing while others read it, and some opens fail with
# EEXIST instead of sharing the one copy (rfs.rst, Copy-up: "concurrent
# writers of one lower file get one copy, and all of them write to it").
# Seen only for the first file copied up in a lower-only directory (its
# parent is copied up with it) and only with readers around: opens alone,
# or a read before each open in the same process, do not show it.
# Each of 4 rounds starts 2 readers (cat) and 4 writers (open O_RDWR) at
# once on burstN/h, 256 KiB, in a lower-only directory. (A stepped variant,
# a 16 MiB file with readers and writers started 0.3 s apart while the
# first copy-up runs, did not show it.)
samefile_case() {
	local d=$T/same m i k got
	mkdir -p "$d"
	mkbranches "$d" 2
	m=$d/mnt
	mkdir -p "$m"
	for i in 0 1 2 3; do
		mkdir -p "$d/b1/burst$i"
		dd if=/dev/urandom of="$d/b1/burst$i/h" bs=64k count=4 2>/dev/null
	done
	rfs_mount "$m" "dirs=$d/b0=rw:$d/b1=ro" || { t_ok "same-file copy-up: mount" false; return; }
	for i in 0 1 2 3; do
		f=$m/burst$i/h
		(cat "$f" >/dev/null; cat "$f" >/dev/null) &
		cat "$f" >/dev/null &
		for k in 1 2 3 4; do
			rfsprobe open "$f" rw >"$d/burst.$i.$k" 2>&1 &
		done
		wait
	done
	got=$(cat "$d"/burst.* | awk '{ print $1 }' | sort | uniq -c | awk '{ printf "%s%s:%s", s, $2, $1; s = " " }')
	diag "same-file copy-up: the 16 opens gave: ${got:-success only}"
	if cat "$d"/burst.* | grep -q EEXIST; then
		t_skip "same-file copy-up: concurrent open(O_RDWR) of a lower file, with readers, all succeed" \
			"rfs bug: EEXIST from open without O_CREAT ($(cat "$d"/burst.* | grep -c EEXIST) of 16 opens)"
	else
		t_ok "same-file copy-up: concurrent open(O_RDWR) of a lower file, with readers, all succeed" \
			sh -c '! cat "$@" | grep -q .' - "$d"/burst.*
	fi
	t_ok "same-file copy-up: each file was copied up once, complete" \
		sh -c 'for i in 0 1 2 3; do cmp "$1/b1/burst$i/h" "$1/b0/burst$i/h" || exit 1; done' - "$d"
	umount "$m"
}

if [ "${no_rfsstress:-0}" = 1 ]; then :; else
	copyup_race_case
	samefile_case
fi

diag "stress suite: $(elapsed)s of VM time (RFS_SOAK=${RFS_SOAK:-0})"
t_done
