# shellcheck shell=dash
# tests/lib.sh: the TAP helpers every rfs test suite uses (POSIX sh + `local`;
# busybox ash in the VM). A suite is tests/NAME.sh, run by tests/run-suites as
# `sh /tests/NAME.sh` with cwd /tests, RFS_SCRATCH=/scratch, RFS_MODULE=/rfs.ko
# and /tests/tools first in PATH; it prints TAP on stdout:
#
#   . "$(dirname "$0")/lib.sh"
#   d=$(rfs_tmpdir)
#   mkbranches "$d" 2; mkdir "$d/mnt"
#   t_ok   "mount two branches" rfs_mount "$d/mnt" "dirs=$d/b0=rw:$d/b1=ro"
#   t_eq   "file from b1"       "hello" "$(cat "$d/mnt/f")"
#   t_errno "mkdir on ro"       EROFS rfsprobe mkdir "$d/mnt/x"
#   t_done
#
# API
#   t_ok DESC CMD...        pass if CMD exits 0 (stdout+stderr captured, shown on failure)
#   t_fail DESC CMD...      pass if CMD exits non-zero
#   t_eq DESC EXPECTED ACTUAL   pass if the strings are equal
#   t_errno DESC ERRNO CMD...   pass if the first word of CMD's stdout is ERRNO
#                           (rfsprobe prints e.g. EROFS and exits 1 on failure);
#                           ERRNO 0 (or OK) means: pass if CMD exits 0
#   t_skip DESC REASON      "ok N - DESC # SKIP REASON"
#   diag MSG...             "# MSG" (each line of MSG)
#   t_done                  prints the plan 1..N; exits 0 if all passed, else 1
#   rfs_tmpdir              prints a new empty directory under $RFS_SCRATCH
#   mkbranches DIR N        creates DIR/b0 .. DIR/b(N-1)
#   rfs_mount MNT OPTS      mount -t rfs -o OPTS none MNT (its output to stderr)
#   RFS_MODULE              path of rfs.ko, for suites that rmmod/insmod it
#                           themselves (they must leave it loaded)
#   RFS_SCRATCH             where test data lives (an ext4 disk in the VM)
#   RFS_SOAK                1 in `make soak` (long runs of the reliability
#                           suites), else 0: suites pick their sizes from it
# t_ok, t_fail, t_eq and t_errno return 0 when the test passed, 1 otherwise.
# Do not use `set -e` in a suite (a failed test would end it early), and do not
# set an EXIT trap: lib.sh's cleans up. On exit (also on TERM/INT) every mount
# point under the suite's tmpdirs is unmounted, deepest first (umount, then
# umount -l if busy), and the tmpdirs are removed.

_t_n=0
_t_failed=0
_t_name=$(basename "$0" .sh)
: "${RFS_SCRATCH:=${TMPDIR:-/tmp}}"
: "${RFS_MODULE:=/rfs.ko}"
export RFS_SCRATCH RFS_MODULE
# Every rfs_tmpdir of this suite lives in this directory (made on first use;
# a fixed name, so rfs_tmpdir also works in $(...) subshells).
_t_root=$RFS_SCRATCH/$_t_name.$$
_t_out=$(mktemp "${TMPDIR:-/tmp}/rfs-lib.XXXXXX") || exit 1
_t_err=$(mktemp "${TMPDIR:-/tmp}/rfs-lib.XXXXXX") || exit 1

diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# _t_diag_file FILE LABEL: the first 50 lines of FILE as diag lines.
_t_diag_file() {
	local n
	[ -s "$1" ] || return 0
	echo "# $2:"
	sed -n '1,50s/^/#   /p' "$1"
	n=$(wc -l <"$1")
	[ "$n" -le 50 ] || echo "#   ... ($n lines)"
}

# _t_cmd ARGS...: the command as a shell-quoted line.
_t_cmd() {
	local a out=
	for a in "$@"; do
		case $a in
		"" | *[!A-Za-z0-9_./:=,+@%^-]*)
			a="'$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'" ;;
		esac
		out="$out${out:+ }$a"
	done
	printf '%s\n' "$out"
}

_t_pass() {
	_t_n=$((_t_n + 1))
	echo "ok $_t_n - $1"
}

_t_notok() {
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	echo "not ok $_t_n - $1"
}

t_ok() {
	local desc=$1 rc
	shift
	if "$@" >"$_t_out" 2>&1; then
		_t_pass "$desc"
		return 0
	else
		rc=$?
	fi
	_t_notok "$desc"
	diag "command: $(_t_cmd "$@")"
	diag "exit status: $rc"
	_t_diag_file "$_t_out" output
	return 1
}

t_fail() {
	local desc=$1
	shift
	if "$@" >"$_t_out" 2>&1; then
		_t_notok "$desc"
		diag "command: $(_t_cmd "$@")"
		diag "exit status: 0 (expected a failure)"
		_t_diag_file "$_t_out" output
		return 1
	fi
	_t_pass "$desc"
	return 0
}

t_eq() {
	if [ "$2" = "$3" ]; then
		_t_pass "$1"
		return 0
	fi
	_t_notok "$1"
	echo "# expected:"
	printf '%s\n' "$2" | sed "s/^/#   '/; s/\$/'/"
	echo "# actual:"
	printf '%s\n' "$3" | sed "s/^/#   '/; s/\$/'/"
	return 1
}

t_errno() {
	local desc=$1 want=$2 rc got
	shift 2
	if "$@" >"$_t_out" 2>"$_t_err"; then rc=0; else rc=$?; fi
	got=$(awk 'NF { print $1; exit }' "$_t_out")
	case $want in
	0 | OK | "")
		if [ "$rc" = 0 ]; then
			_t_pass "$desc"
			return 0
		fi
		;;
	*)
		if [ "$got" = "$want" ]; then
			_t_pass "$desc"
			return 0
		fi
		;;
	esac
	_t_notok "$desc"
	diag "command: $(_t_cmd "$@")"
	diag "expected: ${want:-success}, got: ${got:-nothing} (exit status $rc)"
	_t_diag_file "$_t_out" stdout
	_t_diag_file "$_t_err" stderr
	return 1
}

t_skip() {
	_t_n=$((_t_n + 1))
	echo "ok $_t_n - $1 # SKIP $2"
}

t_done() {
	echo "1..$_t_n"
	[ "$_t_failed" = 0 ] || diag "$_t_failed of $_t_n tests failed"
	_t_done=1
	[ "$_t_failed" = 0 ] && exit 0
	exit 1
}

rfs_tmpdir() {
	mkdir -p "$_t_root" && mktemp -d "$_t_root/t.XXXXXX"
}

mkbranches() {
	local i=0
	while [ "$i" -lt "$2" ]; do
		mkdir -p "$1/b$i" || return 1
		i=$((i + 1))
	done
}

rfs_mount() {
	mount -t rfs -o "$2" none "$1" >&2
}

# _t_mounts_under DIR: mount points below DIR, deepest first.
_t_mounts_under() {
	awk -v d="$1/" '{
		p = $2
		gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p); gsub(/\\012/, "\n", p); gsub(/\\134/, "\\", p)
		if (index(p, d) == 1) print length(p) "\t" p
	}' /proc/mounts | sort -rn | cut -f2-
}

_t_cleanup() {
	local pts p pass=0
	rm -f "$_t_out" "$_t_err"
	[ "${_t_done:-0}" = 1 ] || diag "lib.sh: $_t_name exited before t_done"
	[ -d "$_t_root" ] || return 0
	while pts=$(_t_mounts_under "$_t_root") && [ -n "$pts" ]; do
		pass=$((pass + 1))
		if [ "$pass" -gt 10 ]; then
			diag "cleanup: still mounted, not removing $_t_root:" "$pts"
			return 0
		fi
		while IFS= read -r p; do
			umount "$p" 2>/dev/null && continue
			if umount -l "$p" 2>/dev/null; then
				diag "cleanup: $p was busy; unmounted lazily"
			else
				diag "cleanup: cannot unmount $p"
			fi
		done <<EOF
$pts
EOF
	done
	rm -rf "$_t_root" 2>/dev/null || diag "cleanup: cannot remove $_t_root"
}

trap _t_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
