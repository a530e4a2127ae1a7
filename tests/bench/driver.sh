#!/bin/sh
# shellcheck disable=SC3043 # busybox ash has `local`
# The in-VM benchmark driver (busybox ash), run by /bench/init.
#
# Runs every workload against every filesystem and prints one JSON object
# per line on stdout (the second serial port): a "meta" record, then "run"
# records (one per measured run, the numbers from rfsbench), "na" records
# (a filesystem that cannot run a case, with the reason), "phase" records
# (VM seconds per workload) and a final "end" record. Progress goes to
# stderr (the console). scripts/bench-report.py turns this into the report.
#
# Disks: /b (ext4) holds the branch trees built by scripts/bench-prep.py and
# /b/params.sh (the sizes); /x (xfs, reflink=1) holds the lower files of the
# reflink copy-up case. Writable branches, work directories and native
# copies are made under /b/run and /x/run, fresh for every run.
#
# Filesystems: native (the ext4/xfs directory itself: the limit), rfs,
# overlayfs, fuse-overlayfs, unionfs-fuse; W2 adds rfs-ro (rfs with plain
# `ro` lower branches, which fit 500 branches into a mount(2) page), W1 and
# W6 add rfs-notify (rfs with udba=notify instead of the default reval), W6
# and W9 add rfs-noxino (rfs without its xino file: what the file costs) and
# W5 on xfs adds native-reflink (FICLONE, i.e. cp --reflink). Every repetition
# runs the filesystems in a rotated order, each with a fresh mount.
#
# Environment (from the kernel command line, see /bench/init):
#   RFSBENCH_ONLY="w1 w3"   only these workloads (default: w1 ... w11)
#   RFSBENCH_FS="rfs ..."   only these filesystems (default: all five)
#   RFSBENCH_REPS=N         repetitions (default 5)
#   RFSBENCH_PROFILE=1      after a workload's measured runs, profile one
#                           more run of its operation for rfs and OverlayFS
#                           (perf record -a -g; "prof" and "profg" records)

. /b/params.sh || exit 1
REPS=${RFSBENCH_REPS:-5}
ALLFS="native rfs overlayfs fuse-overlayfs unionfs-fuse"
FSLIST=${RFSBENCH_FS:-$ALLFS}
WORKLOADS=${RFSBENCH_ONLY:-w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11}
STEP_LIMIT=${STEP_LIMIT:-1800}

say() { echo "rfs-bench: $*" >&2; }
uptime_s() { read -r _u _ </proc/uptime; echo "${_u%.*}"; }

# JSON string contents: no quotes, backslashes or control characters.
# Kernel log timestamps are dropped, so one reason reads the same every time.
jstr() {
	printf '%s' "$*" | tr '\n\t' '  ' | tr -d '"\\' |
		sed 's/\[ *[0-9]*\.[0-9]*\] //g' | cut -c1-400
}

# emit W CASE FS PARAM REP JSON [EXTRA]: one measured run.
emit() {
	_r=$6
	[ -n "$_r" ] || _r='{"error":"no output (timeout or crash)"}'
	printf '{"type":"run","w":"%s","case":"%s","fs":"%s","param":"%s","rep":%s,"r":%s%s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$_r" "$7"
	case $_r in *'"error"'*) say "$1/$2/$3/$4 rep $5: $_r" ;; esac
}

# na W CASE FS PARAM REASON: FS cannot run this case.
na() {
	printf '{"type":"na","w":"%s","case":"%s","fs":"%s","param":"%s","reason":"%s"}\n' \
		"$1" "$2" "$3" "$4" "$(jstr "$5")"
}

# m OP ARGS...: one rfsbench measurement, bounded in time.
m() { timeout "$STEP_LIMIT" rfsbench "$@" 2>/dev/null; }

dropcaches() { rfsbench dropcaches >/dev/null; }

PROFILE=${RFSBENCH_PROFILE:-0}
# The test kernel ticks at 250 Hz without high-resolution timers, so perf
# takes at most 250 samples a second: short operations are repeated.
PROF_LOOPS=20

# prof W CASE FS PARAM CMD...: CMD under perf record (the command and its
# children only, call graphs); the hottest symbols become "prof" records
# (self time, one line each) and the call chains into them "profg" records
# (caller graphs). W1 and W2 repeat their operation PROF_LOOPS times.
prof() {
	_pw=$1 _pc=$2 _pf=$3 _pp=$4
	shift 4
	say "profile $_pw/$_pc/$_pf/$_pp"
	if ! perf record -q -g -F 2999 -o /tmp/perf.data -- "$@" >/dev/null 2>/tmp/perf.err; then
		printf '{"type":"prof","w":"%s","case":"%s","fs":"%s","param":"%s","line":"perf record failed: %s"}\n' \
			"$_pw" "$_pc" "$_pf" "$_pp" "$(jstr "$(tail -n 2 /tmp/perf.err)")"
		return
	fi
	perf report -i /tmp/perf.data --stdio --no-children --sort sym --percent-limit 0.7 -g none 2>/dev/null |
		grep -v '^#' | grep -v '^ *$' | head -n 40 | while IFS= read -r _line; do
		printf '{"type":"prof","w":"%s","case":"%s","fs":"%s","param":"%s","line":"%s"}\n' \
			"$_pw" "$_pc" "$_pf" "$_pp" "$(jstr "$_line")"
	done
	perf report -i /tmp/perf.data --stdio --no-children --sort sym --percent-limit 2 \
		-g caller,2,callee,function,percent 2>/dev/null |
		grep -v '^#' | grep -v '^ *$' | head -n 200 | while IFS= read -r _line; do
		printf '{"type":"profg","w":"%s","case":"%s","fs":"%s","param":"%s","line":"%s"}\n' \
			"$_pw" "$_pc" "$_pf" "$_pp" "$(printf '%s' "$_line" | tr -d '"\\' | cut -c1-300)"
	done
	rm -f /tmp/perf.data
}

# The filesystems profiled (rfs and OverlayFS, if they are in the run).
prof_fs() {
	for _f in rfs overlayfs; do has $_f && echo $_f; done
}

fresh() { rm -rf "$@"; mkdir -p "$@"; }

has() { case " $FSLIST " in *" $1 "*) return 0 ;; esac; return 1; }

# mnt FS UPPER WORK LOWERS [PERM]: mount a union of LOWERS (colon-separated,
# top first; relative paths are resolved against the cwd) under UPPER (rw;
# empty for a read-only union) on /m/FS, which is left in MNT. PERM is the
# rfs permission of the lower branches (default ro+wh; whiteouts count, as
# they do in OverlayFS). Returns 1 with the reason in ERR if it failed.
mnt() {
	_fs=$1 _up=$2 _wk=$3 _lo=$4 _perm=${5:-ro+wh}
	MNT=/m/$_fs ERR='' MOUNT_NS=''
	mkdir -p "$MNT"
	dmesg -c >/dev/null 2>&1
	_t0=$(rfsbench now)
	case $_fs in
	rfs | rfs-ro | rfs-notify | rfs-noxino)
		_d=
		[ -z "$_up" ] || _d="$_up=rw"
		_ifs=$IFS
		IFS=:
		for _l in $_lo; do _d="${_d:+$_d:}$_l=$_perm"; done
		IFS=$_ifs
		if [ ${#_d} -gt 4090 ]; then
			ERR="the rfs option string (dirs= with ${#_d} bytes) does not fit the one page that mount(2) copies, and fsconfig(2) takes at most 255 bytes per value"
			return 1
		fi
		_x=
		[ "$_fs" != rfs-notify ] || _x=,udba=notify
		[ "$_fs" != rfs-noxino ] || _x=,noxino
		ERR=$(mount -t rfs -o "dirs=$_d$_x" none "$MNT" 2>&1)
		;;
	overlayfs | fuse-overlayfs)
		_o="lowerdir=$_lo"
		[ -z "$_up" ] || _o="$_o,upperdir=$_up,workdir=$_wk"
		if [ "$_fs" = overlayfs ]; then
			ERR=$(mount -t overlay -o "$_o" overlay "$MNT" 2>&1)
		else
			ERR=$(fuse-overlayfs -o "$_o" "$MNT" 2>&1)
		fi
		;;
	unionfs-fuse)
		_b=
		[ -z "$_up" ] || _b="$_up=RW"
		_ifs=$IFS
		IFS=:
		for _l in $_lo; do _b="${_b:+$_b:}$_l=RO"; done
		IFS=$_ifs
		if [ -n "$_up" ]; then
			ERR=$(unionfs -o cow "$_b" "$MNT" 2>&1)
		else
			ERR=$(unionfs "$_b" "$MNT" 2>&1)
		fi
		;;
	*)
		ERR="unknown filesystem $_fs"
		return 1
		;;
	esac
	_t1=$(rfsbench now)
	if ! grep -q " $MNT " /proc/mounts; then
		ERR="mount failed: $ERR $(dmesg | tail -n 3)"
		return 1
	fi
	MOUNT_NS=$((_t1 - _t0))
	return 0
}

# umnt: unmount MNT and wait for a FUSE daemon to go away.
umnt() {
	local _i
	cd /
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	_i=0
	while [ $_i -lt 100 ] && pidof fuse-overlayfs unionfs >/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
}

daemon_pid() {
	case $1 in
	fuse-overlayfs) pidof fuse-overlayfs ;;
	unionfs-fuse) pidof unionfs ;;
	esac
}

# reps FUNC [FS...]: FUNC FS REP for every repetition and filesystem, the
# filesystems in an order rotated by one each repetition.
reps() {
	local _fn=$1 _rep _k _rot _j _f
	shift
	[ $# -gt 0 ] || set -- $FSLIST
	_rep=1
	while [ $_rep -le "$REPS" ]; do
		_k=$(((_rep - 1) % $#))
		_rot=
		_j=0
		for _f; do
			[ $_j -ge $_k ] && _rot="$_rot $_f"
			_j=$((_j + 1))
		done
		_j=0
		for _f; do
			[ $_j -lt $_k ] && _rot="$_rot $_f"
			_j=$((_j + 1))
		done
		for _f in $_rot; do
			$_fn "$_f" "$_rep"
		done
		_rep=$((_rep + 1))
	done
}

# seq_list N [PREFIX]: PREFIX0:PREFIX1:...:PREFIX{N-1}
seq_list() {
	local _s="${2}0" _i=1
	while [ $_i -lt "$1" ]; do
		_s="$_s:$2$_i"
		_i=$((_i + 1))
	done
	echo "$_s"
}

# path_list FROM TO PREFIX [WIDTH]: PREFIX{FROM}:...:PREFIX{TO-1}, the
# numbers zero-padded to WIDTH digits.
path_list() {
	local _s='' _i=$1
	while [ "$_i" -lt "$2" ]; do
		_s="${_s:+$_s:}$3$(printf "%0${4:-1}d" "$_i")"
		_i=$((_i + 1))
	done
	echo "$_s"
}

W1_LOWERS=/b/w1/l1:/b/w1/l2:/b/w1/l3

# union_rw FS W LOWERS: a fresh writable union of LOWERS for workload W.
union_rw() {
	fresh "/b/run/$1"
	mkdir -p "/b/run/$1/up" "/b/run/$1/wk"
	mnt "$1" "/b/run/$1/up" "/b/run/$1/wk" "$3"
}

# ---------------------------------------------------------------- W1
# Hot stat/open/read/close of HOT_FILES cached files in a 4-branch stack
# (an empty rw upper over three lower branches that share the files).
w1_one() {
	if [ "$1" = native ]; then
		m hot /b/w1 /b/w1/list.native >/dev/null
		emit w1 hot native "$HOT_FILES" "$2" "$(m hot /b/w1 /b/w1/list.native)"
		return
	fi
	if ! union_rw "$1" w1 "$W1_LOWERS"; then
		na w1 hot "$1" "$HOT_FILES" "$ERR"
		return
	fi
	m hot "$MNT" /b/w1/list >/dev/null
	emit w1 hot "$1" "$HOT_FILES" "$2" "$(m hot "$MNT" /b/w1/list)"
	umnt
}

w1_prof() {
	union_rw "$1" w1 "$W1_LOWERS" || return
	m hot "$MNT" /b/w1/list >/dev/null
	prof w1 hot "$1" "$HOT_FILES" sh -c "i=0; while [ \$i -lt $PROF_LOOPS ]; do rfsbench hot '$MNT' /b/w1/list; i=\$((i + 1)); done"
	umnt
}

# ---------------------------------------------------------------- W2
# Cold lookup (fresh mount + drop_caches) of COLD_FILES files that exist only
# in the bottom branch of a read-only union of N branches.
w2_one() {
	_n=$W2_N
	if [ "$1" = native ]; then
		dropcaches
		emit w2 cold-lookup native "$_n" "$2" "$(m stat "/b/w2/l/$((_n - 1))" "/b/w2/list.$_n")"
		return
	fi
	# The in-kernel unions get relative branch paths (cwd /b/w2/l), so 500
	# branches fit into the one page of mount(2) options; the FUSE daemons
	# take theirs on the command line, as absolute paths.
	cd /b/w2/l || return
	_perm=ro+wh _pre=
	[ "$1" != rfs-ro ] || _perm=ro
	case $1 in fuse-*|unionfs-*) _pre=/b/w2/l/ ;; esac
	if ! mnt "$1" "" "" "$(seq_list "$_n" "$_pre")" "$_perm"; then
		cd /
		na w2 mount "$1" "$_n" "$ERR"
		na w2 cold-lookup "$1" "$_n" "$ERR"
		return
	fi
	cd /
	emit w2 mount "$1" "$_n" "$2" "{\"ns\":$MOUNT_NS,\"n\":1}"
	dropcaches
	emit w2 cold-lookup "$1" "$_n" "$2" "$(m stat "$MNT" "/b/w2/list.$_n")"
	umnt
}

w2_prof() {
	_n=$1
	shift
	for _f in "$@"; do
		cd /b/w2/l || return
		_perm=ro+wh
		[ "$_f" != rfs-ro ] || _perm=ro
		if mnt "$_f" "" "" "$(seq_list "$_n")" "$_perm"; then
			cd /
			# Each round: caches dropped, then the cold stats (the
			# drop shows in the profile too, as drop_caches_sysctl).
			prof w2 cold-lookup "$_f" "$_n" sh -c "i=0; while [ \$i -lt $PROF_LOOPS ]; do rfsbench dropcaches; rfsbench stat '$MNT' /b/w2/list.$_n; i=\$((i + 1)); done"
			umnt
		fi
		cd /
	done
}

# ---------------------------------------------------------------- W3
# getdents64 over one directory of RD_ENTRIES names spread over RD_BRANCHES
# branches, RD_WH_PCT % whited out (whiteouts in the upper branch, in each
# filesystem's format). Cold (fresh mount + drop_caches), then warm.
w3_one() {
	_x=",\"expect\":$W3_EXPECT"
	if [ "$1" = native ]; then
		dropcaches
		emit w3 readdir-cold native "$RD_ENTRIES" "$2" "$(m readdir /b/w3/native/big)" "$_x"
		emit w3 readdir-warm native "$RD_ENTRIES" "$2" "$(m readdir /b/w3/native/big)" "$_x"
		return
	fi
	case $1 in
	rfs) _up=/b/w3/up.wh ;;
	overlayfs | fuse-overlayfs) _up=/b/w3/up.cd ;;
	unionfs-fuse) _up=/b/w3/up.uf ;;
	esac
	fresh "/b/run/$1"
	if ! mnt "$1" "$_up" "/b/run/$1" "$W3_LOWERS"; then
		na w3 readdir-cold "$1" "$RD_ENTRIES" "$ERR"
		na w3 readdir-warm "$1" "$RD_ENTRIES" "$ERR"
		return
	fi
	dropcaches
	emit w3 readdir-cold "$1" "$RD_ENTRIES" "$2" "$(m readdir "$MNT/big")" "$_x"
	emit w3 readdir-warm "$1" "$RD_ENTRIES" "$2" "$(m readdir "$MNT/big")" "$_x"
	umnt
}

# ---------------------------------------------------------------- W4
# Sequential read of a SEQ_SIZE lower file: read(2) cold and hot, mmap cold.
w4_one() {
	_f=r_$SEQ_SIZE
	_dir=/b/w45/l
	if [ "$1" != native ]; then
		if ! union_rw "$1" w4 /b/w45/l; then
			for _c in read-cold read-hot mmap-cold; do na w4 $_c "$1" "$SEQ_SIZE" "$ERR"; done
			return
		fi
		_dir=$MNT
	fi
	dropcaches
	emit w4 read-cold "$1" "$SEQ_SIZE" "$2" "$(m read "$_dir/$_f")"
	emit w4 read-hot "$1" "$SEQ_SIZE" "$2" "$(m read "$_dir/$_f")"
	dropcaches
	emit w4 mmap-cold "$1" "$SEQ_SIZE" "$2" "$(m mmap "$_dir/$_f")"
	[ "$1" = native ] || umnt
}

# ---------------------------------------------------------------- W5
# First write (open O_WRONLY + 1-byte pwrite + fsync + close) to a lower file
# of W5_SIZE: the copy-up latency; native: cp (read/write + fsync) of the
# same file, and on xfs also cp --reflink (FICLONE). The lower file is in the
# page cache (read just before) and nothing is dirty when the clock starts.
w5_one() {
	_f=r_$W5_SIZE
	_lo=$W5_LOWER
	_case=copyup-$W5_FS
	rfsbench read "$_lo/$_f" >/dev/null
	case $1 in
	native | native-reflink)
		fresh "$W5_DISK/run/native"
		sync
		if [ "$1" = native ]; then
			emit w5 "$_case" "$1" "$W5_SIZE" "$2" "$(m cp "$_lo/$_f" "$W5_DISK/run/native/$_f")"
		else
			emit w5 "$_case" "$1" "$W5_SIZE" "$2" "$(m clone "$_lo/$_f" "$W5_DISK/run/native/$_f")"
		fi
		rm -rf "$W5_DISK/run/native"
		sync
		return
		;;
	esac
	fresh "$W5_DISK/run/$1"
	mkdir -p "$W5_DISK/run/$1/up" "$W5_DISK/run/$1/wk"
	if ! mnt "$1" "$W5_DISK/run/$1/up" "$W5_DISK/run/$1/wk" "$_lo"; then
		na w5 "$_case" "$1" "$W5_SIZE" "$ERR"
		return
	fi
	sync
	_r=$(m firstwrite "$MNT/$_f")
	umnt
	_sz=$(stat -c %s "$W5_DISK/run/$1/up/$_f" 2>/dev/null || echo 0)
	emit w5 "$_case" "$1" "$W5_SIZE" "$2" "$_r" ",\"upper_bytes\":$_sz"
	rm -rf "$W5_DISK/run/$1"
	sync
}

w5_prof() {
	_f=r_$W5_SIZE
	fresh "/b/run/$1"
	mkdir -p "/b/run/$1/up" "/b/run/$1/wk"
	mnt "$1" "/b/run/$1/up" "/b/run/$1/wk" /b/w45/l || return
	rfsbench read "/b/w45/l/$_f" >/dev/null
	sync
	prof w5 copyup-ext4 "$1" "$W5_SIZE" rfsbench firstwrite "$MNT/$_f"
	umnt
	rm -rf "/b/run/$1"
	sync
}

# ---------------------------------------------------------------- W6
# Metadata mix in a writable union over the W1 lowers: untar a source tree
# of TAR_FILES files, find -type f | xargs stat, rm -rf.
w6_one() {
	if [ "$1" = native ]; then
		fresh /b/run/native
		_dst=/b/run/native
	elif union_rw "$1" w6 "$W1_LOWERS"; then
		_dst=$MNT
	else
		for _c in untar find-stat rm-rf; do na w6 $_c "$1" "$TAR_FILES" "$ERR"; done
		return
	fi
	cat /b/w6/src.tar >/dev/null
	sync
	emit w6 untar "$1" "$TAR_FILES" "$2" "$(m run tar -xf /b/w6/src.tar -C "$_dst")"
	emit w6 find-stat "$1" "$TAR_FILES" "$2" \
		"$(m run sh -c "find '$_dst/src' -type f | xargs stat >/dev/null")"
	emit w6 rm-rf "$1" "$TAR_FILES" "$2" "$(m run rm -rf "$_dst/src")"
	[ "$1" = native ] || umnt
	rm -rf "/b/run/$1"
	sync
}

w6_prof() {
	union_rw "$1" w6 "$W1_LOWERS" || return
	cat /b/w6/src.tar >/dev/null
	sync
	prof w6 untar "$1" "$TAR_FILES" tar -xf /b/w6/src.tar -C "$MNT"
	prof w6 find-stat "$1" "$TAR_FILES" sh -c "find '$MNT/src' -type f | xargs stat >/dev/null"
	prof w6 rm-rf "$1" "$TAR_FILES" rm -rf "$MNT/src"
	umnt
	rm -rf "/b/run/$1"
	sync
}

# ---------------------------------------------------------------- W7
# Remount append of one branch to a REMOUNT_BRANCHES-branch mount, against
# the same on a 2-branch mount. Only rfs has branch changes on remount: the
# others are n/a.
w7_one() {
	case $1 in
	native) _why="not a union: no branches to append" ;;
	overlayfs) _why="OverlayFS cannot change its layers on remount (lowerdir/upperdir are fixed at mount)" ;;
	fuse-overlayfs) _why="fuse-overlayfs has no remount: its layers are fixed when the daemon starts" ;;
	unionfs-fuse) _why="unionfs-fuse has no remount: its branches are fixed when the daemon starts" ;;
	*) _why= ;;
	esac
	if [ -n "$_why" ]; then
		na w7 remount-append "$1" 2 "$_why"
		na w7 remount-append "$1" "$REMOUNT_BRANCHES" "$_why"
		return
	fi
	for _n in 2 "$REMOUNT_BRANCHES"; do
		cd /b/w2/l || return
		if ! mnt rfs "" "" "$(seq_list "$_n")" ro; then
			cd /
			na w7 remount-append rfs "$_n" "$ERR"
			continue
		fi
		cd /
		dmesg -c >/dev/null 2>&1
		_r=$(m run mount -o remount,append:/b/w7/extra=ro none "$MNT")
		case $_r in
		*error*)
			na w7 remount-append rfs "$_n" "remount append fails: $(dmesg | grep -i rfs | tail -n 1)"
			;;
		*)
			if [ -f "$MNT/appended" ]; then
				emit w7 remount-append rfs "$_n" "$2" "$_r"
			else
				emit w7 remount-append rfs "$_n" "$2" '{"error":"remount succeeded but the appended branch is not visible"}'
			fi
			;;
		esac
		umnt
	done
}

# ---------------------------------------------------------------- W8
# Memory: slab growth per file after a cold walk (readdir + stat) of the
# TREE_FILES files of the W1 stack; for FUSE also the daemon's RSS growth.
w8_one() {
	if [ "$1" = native ]; then
		_dir=/b/w1
	elif union_rw "$1" w8 "$W1_LOWERS"; then
		_dir=$MNT
	else
		na w8 walk-cold "$1" "$TREE_FILES" "$ERR"
		na w8 mem "$1" "$TREE_FILES" "$ERR"
		return
	fi
	_pid=$(daemon_pid "$1")
	dropcaches
	_rss0=
	[ -z "$_pid" ] || _rss0=$(rfsbench rss "$_pid")
	rfsbench memsnap /tmp/mem.a >/dev/null
	_w=$(m walk "$_dir")
	rfsbench memsnap /tmp/mem.b >/dev/null
	_x=
	if [ -n "$_pid" ]; then
		_rss1=$(rfsbench rss "$_pid")
		_x=",\"rss_before\":$_rss0,\"rss_after\":$_rss1"
	fi
	_files=$(echo "$_w" | sed -n 's/.*"files":\([0-9]*\).*/\1/p')
	emit w8 walk-cold "$1" "$TREE_FILES" "$2" "$_w"
	emit w8 mem "$1" "$TREE_FILES" "$2" "$(rfsbench memdiff /tmp/mem.a /tmp/mem.b "${_files:-1}")" "$_x"
	[ "$1" = native ] || umnt
}

# ---------------------------------------------------------------- W9
# Parallel copy-up: W9_N processes start together, each writes the first
# byte of its own CU_PAR_SIZE lower file (+ fsync) and touches (utimensat)
# its own CU_PAR_SMALL small lower files, in one writable union over
# /b/w9/l; native: the same processes copy the same files (cp). The big
# files are in the page cache and nothing is dirty when the clock starts.
w9_one() {
	_n=$W9_N
	_i=0
	while [ $_i -lt "$_n" ]; do
		rfsbench read "/b/w9/l/p$_i/big" >/dev/null
		_i=$((_i + 1))
	done
	if [ "$1" = native ]; then
		fresh /b/run/native
		sync
		emit w9 parallel-copyup native "$_n" "$2" "$(m parcu /b/w9/l "$_n" /b/run/native)"
		rm -rf /b/run/native
		sync
		return
	fi
	if ! union_rw "$1" w9 /b/w9/l; then
		na w9 parallel-copyup "$1" "$_n" "$ERR"
		return
	fi
	sync
	_r=$(m parcu "$MNT" "$_n")
	umnt
	# What the upper branch holds afterwards: every big file whole, and
	# every small file.
	_big=0
	_i=0
	while [ $_i -lt "$_n" ]; do
		_sz=$(stat -c %s "/b/run/$1/up/p$_i/big" 2>/dev/null || echo 0)
		_big=$((_big + _sz))
		_i=$((_i + 1))
	done
	_small=$(find /b/run/$1/up -path '*/s/*' -type f 2>/dev/null | wc -l)
	emit w9 parallel-copyup "$1" "$_n" "$2" "$_r" ",\"upper_big_bytes\":$_big,\"upper_small\":$_small"
	rm -rf "/b/run/$1"
	sync
}

# W9 profile: the largest process count, once.
w9_prof() {
	_n=$(echo $CU_PAR_COUNTS | awk '{ print $NF }')
	_i=0
	while [ $_i -lt "$_n" ]; do
		rfsbench read "/b/w9/l/p$_i/big" >/dev/null
		_i=$((_i + 1))
	done
	union_rw "$1" w9 /b/w9/l || return
	sync
	prof w9 parallel-copyup "$1" "$_n" rfsbench parcu "$MNT" "$_n"
	umnt
	rm -rf "/b/run/$1"
	sync
}

# ---------------------------------------------------------------- W10
# Container start: with cold caches, mount a writable union of the
# IMG_LAYERS layers of /b/w10/l (fresh upper), run the image's python3 on
# /app/main.py in a chroot (it loads its libraries and imports a few
# modules), unmount. native: the same chroot in the flattened image.
w10_one() {
	_nl=$IMG_LAYERS
	if [ "$1" = native ]; then
		dropcaches
		_t0=$(rfsbench now)
		_r=$(m run sh -c "chroot /b/w10/flat /usr/bin/python3 -I /app/main.py >/dev/null")
		_t1=$(rfsbench now)
		emit w10 exec native "$_nl" "$2" "$_r"
		case $_r in *error*) ;; *) emit w10 start native "$_nl" "$2" "{\"ns\":$((_t1 - _t0))}" ;; esac
		return
	fi
	fresh "/b/run/$1"
	mkdir -p "/b/run/$1/up" "/b/run/$1/wk"
	dropcaches
	_t0=$(rfsbench now)
	if ! mnt "$1" "/b/run/$1/up" "/b/run/$1/wk" "$W10_LOWERS"; then
		na w10 start "$1" "$_nl" "$ERR"
		na w10 exec "$1" "$_nl" "$ERR"
		return
	fi
	_r=$(m run sh -c "chroot '$MNT' /usr/bin/python3 -I /app/main.py >/dev/null")
	umnt
	_t1=$(rfsbench now)
	emit w10 exec "$1" "$_nl" "$2" "$_r"
	case $_r in
	*error*) emit w10 start "$1" "$_nl" "$2" "$_r" ;;
	*) emit w10 start "$1" "$_nl" "$2" "{\"ns\":$((_t1 - _t0))}" ;;
	esac
	rm -rf "/b/run/$1"
}

w10_prof() {
	fresh "/b/run/$1"
	mkdir -p "/b/run/$1/up" "/b/run/$1/wk"
	dropcaches
	mnt "$1" "/b/run/$1/up" "/b/run/$1/wk" "$W10_LOWERS" || return
	prof w10 exec "$1" "$IMG_LAYERS" chroot "$MNT" /usr/bin/python3 -I /app/main.py
	umnt
	rm -rf "/b/run/$1"
}

# ---------------------------------------------------------------- W11
# Package install into the W10 image (writable union, fresh upper): make a
# directory beside the image's dist-packages, unpack a tarball of PKG_FILES
# small files into it and rename the package into dist-packages (a
# directory of the lower layers), then find -type f | xargs stat over it.
w11_one() {
	if [ "$1" = native ]; then
		fresh /b/run/native
		mkdir -p /b/run/native/usr/lib/python3/dist-packages
		_dst=/b/run/native
	elif union_rw "$1" w11 "$W10_LOWERS"; then
		_dst=$MNT
	else
		for _c in untar rename find-stat; do na w11 $_c "$1" "$PKG_FILES" "$ERR"; done
		return
	fi
	_dp=$_dst/usr/lib/python3/dist-packages
	cat /b/w11/pkg.tar >/dev/null
	sync
	emit w11 untar "$1" "$PKG_FILES" "$2" \
		"$(m run sh -c "mkdir '$_dp/.pkg-new' && tar -xf /b/w11/pkg.tar -C '$_dp/.pkg-new'")"
	emit w11 rename "$1" "$PKG_FILES" "$2" "$(m run mv "$_dp/.pkg-new/pkg" "$_dp/pkg")"
	_r=$(m run sh -c "find '$_dp/pkg' -type f | xargs stat >/dev/null")
	_got=$(find "$_dp/pkg" -type f | wc -l)
	emit w11 find-stat "$1" "$PKG_FILES" "$2" "$_r" ",\"found\":$_got"
	[ "$1" = native ] || umnt
	rm -rf "/b/run/$1"
	sync
}

w11_prof() {
	union_rw "$1" w11 "$W10_LOWERS" || return
	_dp=$MNT/usr/lib/python3/dist-packages
	cat /b/w11/pkg.tar >/dev/null
	sync
	prof w11 untar "$1" "$PKG_FILES" sh -c "mkdir '$_dp/.pkg-new' && tar -xf /b/w11/pkg.tar -C '$_dp/.pkg-new'"
	umnt
	rm -rf "/b/run/$1"
	sync
}

# ---------------------------------------------------------------- main
meta() {
	_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	_mem=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
	_rfs=$(tr '\n' ' ' </sys/fs/rfs/config 2>/dev/null)
	_fo=$(fuse-overlayfs --version 2>&1 | grep -i version | head -n 1)
	_uf=$(unionfs --version 2>&1 | head -n 1)
	_cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)
	printf '{"type":"meta","uname":"%s","cpu":"%s","ncpu":%s,"mem_kb":%s,"cmdline":"%s","rfs":"%s","fuse_overlayfs":"%s","unionfs_fuse":"%s","mode":"%s","reps":%s,"fs":"%s","workloads":"%s","slabinfo":%s,"clocksource":"%s"}\n' \
		"$(jstr "$(uname -r) $(uname -v)")" "$(jstr "$_cpu")" "$(nproc)" "$_mem" \
		"$(jstr "$(cat /proc/cmdline)")" "$(jstr "$_rfs")" "$(jstr "$_fo")" "$(jstr "$_uf")" \
		"$MODE" "$REPS" "$FSLIST" "$WORKLOADS" "$([ -r /proc/slabinfo ] && echo true || echo false)" \
		"$_cs"
}

# Lower branches of W3: /b/w3/l1:...:/b/w3/l{RD_BRANCHES-1}.
W3_LOWERS=$(path_list 1 "$RD_BRANCHES" /b/w3/l)
read -r W3_EXPECT </b/w3/expect
# Layers of W10/W11, top first: /b/w10/l/00:...
W10_LOWERS=$(path_list 0 "$IMG_LAYERS" /b/w10/l/ 2)
mkdir -p /m /b/run /x/run

meta
t_all=$(uptime_s)
for w in $WORKLOADS; do
	t0=$(uptime_s)
	say "$w (VM uptime ${t0}s)"
	case $w in
	w1)
		_fs1=$FSLIST
		has rfs && _fs1="$_fs1 rfs-notify"
		reps w1_one $_fs1
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w1_prof $_f; done
		fi
		;;
	w2)
		_fs2=$FSLIST
		has rfs && _fs2="$_fs2 rfs-ro"
		for W2_N in $COLD_BRANCHES; do
			say "w2: $W2_N branches"
			reps w2_one $_fs2
		done
		if [ "$PROFILE" = 1 ]; then
			_pf=$(prof_fs)
			has rfs && _pf="$_pf rfs-ro"
			w2_prof 128 $_pf
		fi
		;;
	w3) reps w3_one ;;
	w4) reps w4_one ;;
	w5)
		W5_DISK=/b W5_FS=ext4 W5_LOWER=/b/w45/l
		for W5_SIZE in $CU_SIZES; do
			say "w5: ext4 $W5_SIZE"
			reps w5_one
		done
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w5_prof $_f; done
		fi
		W5_DISK=/x W5_FS=xfs W5_LOWER=/x/l
		_fs5=$FSLIST
		has native && _fs5="$_fs5 native-reflink"
		for W5_SIZE in $CU_XFS_SIZES; do
			say "w5: xfs $W5_SIZE"
			reps w5_one $_fs5
		done
		;;
	w6)
		_fs6=$FSLIST
		has rfs && _fs6="$_fs6 rfs-notify rfs-noxino"
		reps w6_one $_fs6
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w6_prof $_f; done
		fi
		;;
	w7) reps w7_one ;;
	w8) reps w8_one ;;
	w9)
		_reps=$REPS
		[ "${CU_PAR_REPS:-$REPS}" -ge "$REPS" ] || REPS=$CU_PAR_REPS
		_fs9=$FSLIST
		has rfs && _fs9="$_fs9 rfs-noxino"
		for W9_N in $CU_PAR_COUNTS; do
			say "w9: $W9_N processes"
			reps w9_one $_fs9
		done
		REPS=$_reps
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w9_prof $_f; done
		fi
		;;
	w10)
		reps w10_one
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w10_prof $_f; done
		fi
		;;
	w11)
		reps w11_one
		if [ "$PROFILE" = 1 ]; then
			for _f in $(prof_fs); do w11_prof $_f; done
		fi
		;;
	*) say "unknown workload $w" ;;
	esac
	printf '{"type":"phase","w":"%s","s":%s}\n' "$w" "$(($(uptime_s) - t0))"
done
printf '{"type":"end","s":%s,"clocksource":"%s"}\n' "$(($(uptime_s) - t_all))" \
	"$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
say "done in $(($(uptime_s) - t_all))s"
