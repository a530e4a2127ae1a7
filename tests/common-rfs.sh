# shellcheck shell=sh
# Helpers shared by the rfs suites (tests/*.sh).  Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/common-rfs.sh"
#
# Plain busybox sh: no bash-isms, no GNU-only flags.  Helpers that decide a
# test compute a value; the suite then asserts it with t_eq/t_ok, so a
# failure always prints what was seen (diag).

RFS_MODULE=${RFS_MODULE:-/rfs.ko}

# field KEY "k=v k=v ...": the value of KEY in rfsprobe stat/statfs output.
field() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# mount_line MNT: MNT's line in /proc/mounts (empty when not mounted).
mount_line() {
	awk -v m="$1" '$2 == m { l = $0 } END { if (l != "") print l }' /proc/mounts
}

# is_mounted MNT: true when MNT is a mount point in /proc/mounts.
is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

# mount_opts MNT: the options field of MNT in /proc/mounts, still escaped
# the /proc/mounts way (\040 for a space, \134 for a backslash).
mount_opts() {
	awk -v m="$1" '$2 == m { o = $4 } END { if (o != "") print o }' /proc/mounts
}

# unoctal: undo the /proc/mounts escaping (space, tab, comma, backslash).
# Every backslash in /proc/mounts starts an escape, so \134 goes last.
unoctal() {
	sed -e 's/\\040/ /g' -e 's/\\011/	/g' -e 's/\\054/,/g' -e 's/\\134/\\/g'
}

# split_opts: one option per line, splitting at commas that are not escaped
# by a backslash (rfs escapes ',' in branch paths as '\,').
split_opts() {
	awk '{
		s = $0; tok = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\") { tok = tok c substr(s, i + 1, 1); i++; continue }
			if (c == ",") { print tok; tok = ""; continue }
			tok = tok c
		}
		print tok
	}'
}

# mount_opt MNT KEY: the value of option KEY (e.g. dirs, si) of MNT, with the
# /proc/mounts escaping undone (rfs's own backslash escapes are kept).
mount_opt() {
	mount_opts "$1" | unoctal | split_opts | sed -n "s/^$2=//p"
}

# mount_si MNT: the sysfs id of an rfs mount (si= in /proc/mounts).
mount_si() {
	mount_opt "$1" si
}

# mkfile PATH [CONTENT]: create PATH (and its parents) directly in a branch.
mkfile() {
	mkdir -p "${1%/*}" && printf '%s' "${2-}" >"$1"
}

# names DIR: the sorted names rfsprobe readdir reports, without . and ..
# (a failing readdir shows up as an "E..." line, so comparisons fail loudly).
names() {
	rfsprobe readdir "$1" | sed 's/ [a-z]* [0-9]*$//' | grep -v -x -F -e . -e .. | sort
}

# typed DIR: sorted "NAME TYPE" lines (d_type from getdents64), without . and ..
typed() {
	rfsprobe readdir "$1" | sed 's/ [0-9]*$//' | grep -v -x -F -e '. dir' -e '.. dir' | sort
}

# oneline: join lines with spaces (for compact t_eq values and diag output).
oneline() {
	tr '\n' ' ' | sed 's/ $//'
}

# gen_names FROM TO [PREFIX]: PREFIX%05d for FROM..TO, one per line.
gen_names() {
	awk -v a="$1" -v b="$2" -v p="${3-n}" 'BEGIN { for (i = a; i <= b; i++) printf "%s%05d\n", p, i }'
}

# diff_lists DESC EXPECTED_FILE ACTUAL_FILE: one test, passing when the two
# files are identical; on failure the first differing lines are shown.
diff_lists() {
	if diff "$2" "$3" >"$2.diff" 2>&1; then
		t_ok "$1" true
	else
		diag "$1: expected $(wc -l <"$2") lines, got $(wc -l <"$3"); diff (-expected +actual):"
		diag "$(grep '^[-+][^-+]' "$2.diff" | head -20 | oneline)"
		t_ok "$1" false
	fi
}

# try_mount MNT OPTS: mount rfs like rfs_mount, but report the errno name
# (via rfsprobe) on failure; prints nothing on success.
try_mount() {
	rfsprobe mount rfs none "$1" "$2"
}

# module_loaded: true when rfs is in /proc/modules.
module_loaded() {
	grep -q '^rfs ' /proc/modules
}

# ensure_module: load rfs again if a suite left it unloaded.
ensure_module() {
	module_loaded || insmod "$RFS_MODULE"
}

# --- helpers of the write-path suites (copyup, whiteout, namespace, rename) -------
# They avoid pipelines where they can: under TCG every process costs.

# val KEY LINE: the value of KEY in a one-line "k=v k=v ..." output (like
# field, without starting a process); empty when KEY is not there.
val() {
	_vl=" $2 "
	case $_vl in
	*" $1="*) _vl=${_vl#*" $1="}; printf '%s\n' "${_vl%% *}" ;;
	*) echo ;;
	esac
}

# meta PATH: "type=T mode=M uid=U gid=G size=S mtime=S.N atime=S.N" of PATH
# (lstat, times with nanoseconds), or rfsprobe's error line (e.g. "ENOENT
# lstat ...") when PATH cannot be stat'ed.
meta() {
	rfsprobe meta "$1"
}

# pick "KEY..." LINE: only KEY=VALUE of the given keys of a meta/stat line
# (an error line is passed through unchanged, so a comparison shows it).
pick() {
	case $2 in
	*=*) ;;
	*) printf '%s\n' "$2"; return 0 ;;
	esac
	_pk_out=''
	for _pk_k in $1; do
		_pk_v=" $2 "
		case $_pk_v in
		*" $_pk_k="*) _pk_v=${_pk_v#*" $_pk_k="}; _pk_v=${_pk_v%% *} ;;
		*) _pk_v='' ;;
		esac
		_pk_out="$_pk_out${_pk_out:+ }$_pk_k=$_pk_v"
	done
	printf '%s\n' "$_pk_out"
}

# ftype PATH: the file type of PATH (lstat), e.g. reg, dir, lnk, fifo; or
# rfsprobe's errno name (ENOENT ...) when it does not exist.
ftype() {
	_ft=$(rfsprobe lstat "$1") || { printf '%s\n' "${_ft%% *}"; return 1; }
	val type "$_ft"
}

# xattrs PATH: the user.* extended attributes of PATH as sorted
# "name=value" words on one line (empty when there are none).
xattrs() {
	rfsprobe user-xattrs "$1"
}

# user_xattrs_work DIR: true when the filesystem of DIR takes user.* xattrs.
user_xattrs_work() {
	_ux=$1/.rfs-xattr-probe.$$
	: >"$_ux" && rfsprobe setxattr "$_ux" user.probe 1 >/dev/null
	_ux_rc=$?
	rm -f "$_ux"
	return $_ux_rc
}

# branch_snapshot DIR...: every object under the DIRs, one line each (rfsprobe
# tree): path, type, mode, nlink, owner, size, blocks, rdev, mtime with
# nanoseconds, a hash of a regular file's data or a symlink's target, user.*
# xattrs. Two snapshots taken before and after some operations through the
# union are equal when those operations left the branches alone (atime and
# ctime are not included, nor a fifo's mtime: writing into a fifo updates it).
branch_snapshot() {
	rfsprobe tree "$@"
}

# drop_caches: evict dentries and inodes (and clean page cache), so the next
# lookups go to the branches again.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# blocks PATH: st_blocks (512-byte units) of PATH.
blocks() {
	val blocks "$(rfsprobe lstat "$1")"
}

# own_members_cases M B0 B1: a directory whose own members the union itself
# changed (a copy-up gave it an upper over its lower; a rename or a mkdir
# over a whiteout made it opaque), then an opaque marker added or removed
# directly in its upper: the next walk shows the change (udba=reval and
# notify). M is mounted with B0 rw on top and B1 ro+wh below it; the names
# used are o*.
own_members_cases() {
	mkfile "$3/ocu/sub/f" "f"
	t_eq "ocu/sub/f read through the union" "f" "$(rfsprobe read-cat "$1/ocu/sub/f")"
	t_errno "creat ocu/new copies ocu up" 0 rfsprobe creat "$1/ocu/new"
	t_eq "... ocu merges b0 and b1" "new sub" "$(names "$1/ocu" | oneline)"
	: >"$2/ocu/.wh..wh..opq"
	t_errno "an opaque marker added directly in the copied-up ocu hides b1's ocu/sub" ENOENT rfsprobe stat "$1/ocu/sub/f"
	t_eq "... ocu lists only b0's" "new" "$(names "$1/ocu" | oneline)"

	mkdir "$3/orn" "$1/orsrc"
	t_errno "creat orsrc/mine" 0 rfsprobe creat "$1/orsrc/mine"
	t_errno "rename orsrc over the empty lower directory orn (orn made opaque)" 0 rfsprobe rename "$1/orsrc" "$1/orn"
	t_eq "... orn lists mine" "mine" "$(names "$1/orn" | oneline)"
	: >"$3/orn/low"
	t_eq "a file made directly in b1's orn stays hidden" "mine" "$(names "$1/orn" | oneline)"
	rm "$2/orn/.wh..wh..opq"
	t_eq "orn's opaque marker removed directly: b1's orn merges again" "low mine" "$(names "$1/orn" | oneline)"

	mkfile "$3/omw/lowf" "l"
	t_ok "rm -r omw (a whiteout in b0)" rm -r "$1/omw"
	t_errno "mkdir omw over its whiteout (opaque)" 0 rfsprobe mkdir "$1/omw"
	t_eq "... omw is empty" "" "$(names "$1/omw" | oneline)"
	rm "$2/omw/.wh..wh..opq"
	t_eq "omw's opaque marker removed directly: b1's omw/lowf shows" "lowf" "$(names "$1/omw" | oneline)"
}
