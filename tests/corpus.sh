#!/bin/sh
# corpus.sh: the bad-input corpus (issue 6, item 3).
#  1. tests/corpus/options.txt: mount and remount option strings through
#     mount(2), fsconfig(2), remount and fspick(2) reconfigure; each case
#     asserts its errno (or success and the branch list /proc/mounts shows),
#     that a failure mounts or changes nothing and leaves an "rfs: " message
#     (the fs_context log, or the kernel log for mount(2));
#  2. the module still works afterwards: mount, read, write, whiteout,
#     umount, rmmod + insmod;
#  3. tests/corpus/names.txt: bad names through the union (.wh. names, 255
#     and 256 bytes, . and .. games, newlines).
# The file formats are described at the top of each data file. RFS_SOAK=1
# runs the option corpus three times (module reloaded in between).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

CORPUS=$(cd "$(dirname "$0")" && pwd)/corpus
SOAK=${RFS_SOAK:-0}
T=$(rfs_tmpdir)
cd "$T" || exit 1
M=$T/mnt
S1=$(printf '\001')
S2=$(printf '\002')
_lap=$(cut -d. -f1 /proc/uptime)
lap() {
	_now=$(cut -d. -f1 /proc/uptime)
	diag "$1: $((_now - _lap)) s"
	_lap=$_now
}

# --- the fixtures the placeholders name ----------------------------------------------
mkdir "$M"
mkbranches "$T" 5
mkdir "$T/b0/sub" "$T/b1/d"
mkfile "$T/b1/f1" f1
mkfile "$T/file" "a file"
mkfifo "$T/fifo"
ln -s file "$T/flink"
ln -s b0 "$T/l0"
ln -s nowhere "$T/dangle"
ln -s loop "$T/loop"
mkdir "$T/ro" "$T/orph" "$T/r0" "$T/r0/d" "$T/r"
mount -t tmpfs -o ro,size=1m tmpfs "$T/ro"
: >"$T/orph/.wh..wh.orph"
for d in 'a:b' 'c=d' 'e,f' 'g\h' 's p' 'p%c' 'x=rw' 'x=rw=ro'; do mkdir "$T/$d"; done
mkdir "$T/n
l" "$T/t	b"
(seq 1 1025 | xargs mkdir)
# {DEEP}: 3800 bytes of absolute path; {DEEPER}: 4077 relative, > 4095 absolute.
c250=$(awk 'BEGIN { while (i++ < 250) printf "c" }')
deep=$T
while [ ${#deep} -lt 3549 ]; do deep=$deep/$c250; done
deep=$deep/$(awk -v n=$((3799 - ${#deep})) 'BEGIN { while (i++ < n) printf "e" }')
mkdir -p "$deep"
deeper=$c250
for _ in 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do deeper=$deeper/$c250; done
deeper=$deeper/$(awk -v n=$((4076 - ${#deeper})) 'BEGIN { while (i++ < n) printf "f" }')
(mkdir -p "$deeper") 2>/dev/null || (cd "$T/$c250" && mkdir -p "${deeper#*/}")
diag "DEEP: ${#deep} bytes, DEEPER: ${#deeper} bytes relative, $((${#deeper} + ${#T} + 1)) absolute"
rfs_mount "$T/r" "dirs=$T/r0=rw"

# the placeholder table: NAME<TAB>VALUE
{
	printf 'T\t%s\n' "$T"
	printf 'TNAME\t%s\n' "${T##*/}"
	printf 'M\t%s\n' "$M"
	for i in 0 1 2 3 4; do printf 'B%s\t%s\n' $i "$T/b$i"; done
	printf 'FILE\t%s\nFIFO\t%s\nFLINK\t%s\nL0\t%s\n' "$T/file" "$T/fifo" "$T/flink" "$T/l0"
	printf 'DANGLE\t%s\nLOOP\t%s\nMISSING\t%s\n' "$T/dangle" "$T/loop" "$T/missing"
	printf 'RO\t%s\nORPH\t%s\nR\t%s\nR0\t%s\n' "$T/ro" "$T/orph" "$T/r" "$T/r0"
	printf 'DEEP\t%s\nDEEPER\t%s\n' "$deep" "$deeper"
	printf 'U\t%s\nUB0\t%s\nUB1\t%s\n' "$T/u" "$T/ub0" "$T/ub1"
} >"$T/placeholders"

# expand FILE: the cases of FILE, one per line: LINENO S1 EXPECT S1 IFACE S1
# OPTIONS S1 DIRS, placeholders expanded; for fsconfig and reconf the options
# are split at unescaped commas into S2-separated fsconfig(2) arguments; for
# names.txt (IFACE = the op) the arguments are split at spaces.
expand() {
	awk -v s1="$S1" -v s2="$S2" -v pf="$T/placeholders" -v soak="$SOAK" '
	BEGIN {
		while ((getline l < pf) > 0) { k = substr(l, 1, index(l, "\t") - 1); P[k] = substr(l, index(l, "\t") + 1) }
	}
	function rep(n, t,   r) { r = ""; while (n-- > 0) r = r t; return r }
	function ex(s,   out, i, j, tok, a, k, r) {
		out = ""
		while ((i = index(s, "{")) > 0) {
			j = index(substr(s, i), "}")
			if (j == 0) break
			tok = substr(s, i + 1, j - 2)
			out = out substr(s, 1, i - 1)
			s = substr(s, i + j)
			split(tok, a, " ")
			if (a[1] == "REP") out = out rep(a[2] + 0, substr(tok, length("REP " a[2] " ") + 1))
			else if (a[1] == "SEQ" || a[1] == "APPENDS") {
				r = ""
				for (k = a[2] + 0; k <= a[3] + 0; k++)
					r = r (r == "" ? "" : (a[1] == "SEQ" ? ":" : ",")) (a[1] == "SEQ" ? "" : "append=") k
				out = out r
			} else if (tok in P) out = out P[tok]
			else out = out "{" tok "}"
		}
		return out s
	}
	# split at commas not escaped by a backslash
	function csplit(s,   out, i, c) {
		out = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\") { out = out substr(s, i, 2); i++ }
			else if (c == ",") out = out s2
			else out = out c
		}
		return out
	}
	/^#bug: / { bug = substr($0, 7); next }
	/^#soak$/ { soakonly = 1; next }
	/^#/ || /^$/ { next }
	{
		line = $0
		if (soakonly && !soak) { soakonly = 0; bug = ""; next }
		soakonly = 0
		want = substr(line, 1, index(line, " ") - 1); line = substr(line, length(want) + 2)
		p = index(line, " "); if (p == 0) p = length(line) + 1
		iface = substr(line, 1, p - 1); opts = substr(line, p + 1)
		dirs = ""
		if ((p = index(opts, " ==> ")) > 0) { dirs = ex(substr(opts, p + 5)); opts = substr(opts, 1, p - 1) }
		opts = ex(opts)
		if (iface == "fsconfig" || iface == "reconf") opts = csplit(opts)
		else if (iface != "mount" && iface != "remount") gsub(/ /, s2, opts)
		d = opts; gsub(s2, ",", d); gsub(/[^ -~]/, "?", d)
		if (length(d) > 90) d = substr(d, 1, 60) "...(" length(d) " bytes)"
		d = iface " \047" d "\047 -> " want
		print NR s1 want s1 iface s1 d s1 bug s1 opts s1 dirs
		bug = ""
	}' "$1"
}

# dirs_raw MNT: the dirs= value of MNT in /proc/mounts, as it is there
# (octal escapes kept); split at commas not escaped by rfs (\134 + byte).
dirs_raw() {
	awk -v m="$1" '$2 == m {
		s = $4; tok = ""; r = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "\\" && substr(s, i + 1, 3) == "134") { tok = tok substr(s, i, 5); i += 4; continue }
			if (c == ",") { if (tok ~ /^dirs=/) r = tok; tok = ""; continue }
			tok = tok c
		}
		if (tok ~ /^dirs=/) r = tok
	} END { print substr(r, 6) }' /proc/mounts
}

# short S: S shortened for a diagnostic (no process: they are slow under TCG).
short() {
	if [ ${#1} -gt 200 ]; then
		printf '%s...(%s bytes)\n' "$(printf '%.150s' "$1")" ${#1}
	else
		printf '%s\n' "$1"
	fi
}

# The option cases run in one rfsprobe process (corpus-run; see
# tests/tools/rfsprobe/src/corpus.rs for the checks of each case), which
# prints one line per case: STATUS S1 LINENO S1 DESC S1 DETAIL S1 MESSAGE.
BASE="dirs=$T/b0=rw:$T/b1=ro+wh:$T/b2=ro"
nmsg=0
report() {
	while IFS=$S1 read -r st ln desc why msg ms; do
		echo "$ms $ln" >>"$T/times"
		desc="options.txt:$ln $desc"
		case $st in
		ok) t_ok "$desc" true ;;
		fixed)
			diag "options.txt:$ln passes now: is the rfs bug '${why%% (*}' fixed?"
			t_ok "$desc" true
			;;
		skip) t_skip "$desc" "rfs bug: $why" ;;
		*) t_eq "$desc" "" "$why" ;;
		esac
		if [ -n "$msg" ]; then
			nmsg=$((nmsg + 1))
			echo "$ln: $msg" >>"$T/messages"
		fi
	done
}

expand "$CORPUS/options.txt" >"$T/cases"
ncases=$(wc -l <"$T/cases")
diag "options.txt: $ncases cases"
rounds=1
[ "$SOAK" = 1 ] && rounds=3
round=1
while [ $round -le $rounds ]; do
	rfsprobe corpus-run "$T/cases" "$M" "$BASE" >"$T/results" 2>"$T/results.err"
	diag "corpus-run: exit status $?, $(wc -l <"$T/results") results"
	[ -s "$T/results.err" ] && diag "$(cat "$T/results.err")"
	report <"$T/results"
	diag "slowest cases (ms line): $(sort -rn "$T/times" | head -n 6 | tr '\n' ' ')"
	lap "option corpus, round $round"
	if [ $round -lt $rounds ]; then
		umount "$T/r"
		t_ok "soak: rmmod between rounds" rmmod rfs
		t_ok "soak: insmod between rounds" insmod "$RFS_MODULE"
		rfs_mount "$T/r" "dirs=$T/r0=rw"
	fi
	round=$((round + 1))
done
diag "$nmsg failures left an 'rfs: ' message; the first 40:"
[ -f "$T/messages" ] && diag "$(head -n 40 "$T/messages")"
t_eq "after the corpus: nothing left mounted at the mount point" "" "$(mount_line "$M")"

# --- the module still fully works ----------------------------------------------------
W=$T/w
mkbranches "$W" 2
mkdir "$W/mnt"
mkfile "$W/b1/lower" "lower data"
mkfile "$W/b1/gone" "gone"
t_ok "after the corpus: a normal mount" rfs_mount "$W/mnt" "dirs=$W/b0=rw:$W/b1=ro+wh"
t_eq "after the corpus: read a lower file" "lower data" "$(cat "$W/mnt/lower" 2>&1)"
t_ok "after the corpus: write (copy-up)" sh -c "echo more >>'$W/mnt/lower'"
t_eq "after the corpus: the copy is in the rw branch, the lower file unchanged" \
	"lower datamore|lower data" "$(cat "$W/b0/lower" 2>&1)|$(cat "$W/b1/lower")"
t_ok "after the corpus: unlink a lower file" rm "$W/mnt/gone"
t_ok "after the corpus: its whiteout is in the rw branch" test -f "$W/b0/.wh.gone"
t_eq "after the corpus: readdir" "lower" "$(names "$W/mnt" | oneline)"
t_ok "after the corpus: umount" umount "$W/mnt"
umount "$T/r"
t_ok "after the corpus: rmmod" rmmod rfs
t_ok "after the corpus: insmod" insmod "$RFS_MODULE"
t_ok "after the corpus: mount again" rfs_mount "$W/mnt" "dirs=$W/b0=rw:$W/b1=ro+wh"
t_eq "after the corpus: the changes are still there" "lower datamore" "$(cat "$W/mnt/lower" 2>&1)"
t_ok "after the corpus: umount again" umount "$W/mnt"
ensure_module
lap "module check"

# --- bad names through the union -------------------------------------------------------
U=$T/u
mkdir "$U" "$T/ub0" "$T/ub1"
mkfile "$T/ub0/uf" uf
mkfile "$T/ub0/ud/y" y
mkdir "$T/ub0/ed"
: >"$T/ub0/.wh.gone2"
mkfile "$T/ub1/lf" lf
mkfile "$T/ub1/ld/x" x
: >"$T/ub1/.wh.gone"
mkfile "$T/ub1/gone2" gone2
for n in 251 252 255; do
	mkfile "$T/ub1/$(awk -v n=$n 'BEGIN { while (i++ < n) printf "l" }')" "long $n"
done
mkfile "$T/ub1/l
n" "newline"
lower_before=$(branch_snapshot "$T/ub1")
rfs_mount "$U" "dirs=$T/ub0=rw:$T/ub1=ro+wh"
expand "$CORPUS/names.txt" >"$T/names"
diag "names.txt: $(wc -l <"$T/names") cases"
while IFS=$S1 read -r ln exp op desc bug args _; do
	set -f
	IFS=$S2
	# shellcheck disable=SC2086
	set -- $args
	IFS=' 	
'
	set +f
	if [ -n "$bug" ]; then
		# a known rfs bug: a skip while it fails, a note once it passes
		_r=$(rfsprobe --pct "$op" "$@")
		_rc=$?
		_g=${_r%% *}
		[ $_rc = 0 ] && _g=OK
		if [ "$_g" = "$exp" ]; then
			diag "names.txt:$ln passes now: is the rfs bug '$bug' fixed?"
			t_ok "names.txt:$ln $desc" true
		else
			t_skip "names.txt:$ln $desc" "rfs bug: $bug (got $_g)"
		fi
		continue
	fi
	t_errno "names.txt:$ln $desc" "$exp" rfsprobe --pct "$op" "$@"
done <"$T/names"
t_eq "names: no .wh. name is ever listed" "" "$(names "$U" | grep '^\.wh\.')"
t_eq "names: no .wh. name listed in a subdirectory" "" "$(names "$U/ld" | grep '^\.wh\.')"
t_ok "names: umount" umount "$U"
t_eq "names: the lower branch was not written" "$lower_before" "$(branch_snapshot "$T/ub1")"
lap "names"
# {DEEPER} is too long for rm -rf from $T (lib.sh's cleanup): cut it from inside.
(cd "$T/$c250/$c250/$c250/$c250/$c250/$c250/$c250/$c250" && rm -rf "$c250")
rm -rf "$T/$c250"
t_done
