#!/bin/sh
# lookup.sh: name resolution in the union (issue 2, "Lookup").
#
# Four branches prepared directly on disk, then mounted
#   b0=rw  b1=ro+wh  b2=ro  b3=ro
# and checked through the union: which branch wins a name clash, directory
# merging, whiteouts honored only in rw / ro+wh branches, opaque directories,
# reserved .wh. names, and that direct changes to branches are noticed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 4
B0=$T/b0 B1=$T/b1 B2=$T/b2 B3=$T/b3
M=$T/mnt
mkdir "$M"

# --- name clashes -----------------------------------------------------------
mkfile "$B0/clash" "from-b0"
mkfile "$B1/clash" "from-b1"
mkfile "$B3/clash" "from-b3"
mkfile "$B2/low" "from-b2"
mkfile "$B3/low" "from-b3"
# a file in a higher branch hides a directory below
mkfile "$B0/fhd" "file-b0"
mkfile "$B1/fhd/child" "child-b1"
# a directory in a higher branch hides a file below, and merging stops there
mkfile "$B0/dhf/x0" "x0"
mkfile "$B1/dhf" "file-b1"
mkfile "$B2/dhf/y2" "y2-below-file"
# a symlink in a higher branch is a non-directory too
ln -s clash "$B1/lhd"
mkfile "$B2/lhd/z" "z"

# --- directory merge ----------------------------------------------------------
mkfile "$B0/d/x0" "x0"
mkfile "$B1/d/x1" "x1"
mkfile "$B2/d/x2" "x2"
mkfile "$B3/d/x3" "x3"
mkfile "$B1/d/shared" "shared-b1"
mkfile "$B3/d/shared" "shared-b3"
mkfile "$B0/d/sub/s0" "s0"
mkfile "$B3/d/sub/s3" "s3"
mkfile "$B3/d/sub/deep/er/e3" "e3"
mkfile "$B2/onlylow/z2" "z2"
# a whiteout inside a merged directory
mkfile "$B2/d/gone2" "gone2"
: >"$B1/d/.wh.gone2"

# --- whiteouts by branch permission -----------------------------------------
mkfile "$B1/w0" "w0-b1"          # hidden by .wh.w0 in b0 (rw)
mkfile "$B3/w0" "w0-b3"
: >"$B0/.wh.w0"
mkfile "$B2/w1" "w1-b2"          # hidden by .wh.w1 in b1 (ro+wh)
mkfile "$B3/w1" "w1-b3"
: >"$B1/.wh.w1"
mkfile "$B3/w2" "w2-b3"          # NOT hidden: .wh.w2 is in b2 (plain ro)
: >"$B2/.wh.w2"
mkfile "$B1/same" "same-b1"      # whiteout and real name in one branch: shows
: >"$B1/.wh.same"
mkfile "$B2/same" "same-b2"
mkfile "$B0/up" "up-b0"          # whiteout hides only below its branch
: >"$B1/.wh.up"
mkfile "$B2/wd/inner" "inner"    # a whited-out directory
: >"$B0/.wh.wd"
mkdir "$B1/.wh.wdir"             # a whiteout may be any file type
mkfile "$B2/wdir/f" "f"
ln -s nowhere "$B1/.wh.wlnk"
mkfile "$B3/wlnk" "wlnk"
: >"$B1/.wh.nothing"             # whiteout of a name that exists nowhere

# --- opaque directories ---------------------------------------------------------
mkfile "$B0/op/o0" "o0"          # opaque in ro+wh b1: b2 not merged
mkfile "$B1/op/o1" "o1"
: >"$B1/op/.wh..wh..opq"
mkfile "$B2/op/o2" "o2"
mkfile "$B2/op2/p2" "p2"         # opaque marker in plain ro b2: ignored
: >"$B2/op2/.wh..wh..opq"
mkfile "$B3/op2/p3" "p3"
mkfile "$B0/op3/q0" "q0"         # opaque in rw b0
: >"$B0/op3/.wh..wh..opq"
mkfile "$B1/op3/q1" "q1"

# --- reserved and near-reserved names ---------------------------------------------
mkfile "$B1/.wh" "dot-wh"
mkfile "$B1/.whx" "dot-whx"
mkfile "$B1/wh.x" "wh-dot-x"
mkfile "$B2/.wh..wh.aufs" ""
mkfile "$B0/.wh..wh.orph/junk" ""

# --- for the direct-change tests ----------------------------------------------------
mkfile "$B1/revive" "revive-b1"
: >"$B0/.wh.revive"
mkfile "$B2/vanish" "vanish-b2"
mkfile "$B1/vdir/keep" "keep"
mkfile "$B0/mko/m0" "m0"         # made opaque directly in rw b0, while cached
mkfile "$B1/mko/m1" "m1"
mkfile "$B0/mko1/n0" "n0"        # made opaque directly in ro+wh b1
mkfile "$B1/mko1/n1" "n1"
mkfile "$B2/mko1/n2" "n2"
mkfile "$B3/mko1/sub/n3" "n3"
mkfile "$B0/unop/u0" "u0"        # opaque in b0; the marker is removed directly
: >"$B0/unop/.wh..wh..opq"
mkfile "$B2/unop/u2" "u2"
mkfile "$B2/roop/r2" "r2"        # a marker added directly in plain ro b2: ignored
mkfile "$B3/roop/r3" "r3"

rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro:$B3=ro"
t_eq "mount 4 branches rw, ro+wh, ro, ro (type in /proc/mounts)" \
	"rfs" "$(mount_line "$M" | awk '{ print $3 }')"

# cat_u NAME: contents through the union (errno name on failure).
cat_u() {
	rfsprobe read-cat "$M/$1"
}
# type_u NAME: the union object's file type (stat, following nothing).
type_u() {
	field type "$(rfsprobe lstat "$M/$1")"
}

t_eq "name clash: file in the top branch wins" "from-b0" "$(cat_u clash)"
t_eq "name clash: top-most branch holding the name wins (b2 over b3)" "from-b2" "$(cat_u low)"
t_eq "a file in b0 hides a directory in b1 (type)" "reg" "$(type_u fhd)"
t_eq "a file in b0 hides a directory in b1 (contents)" "file-b0" "$(cat_u fhd)"
t_errno "the hidden directory's child is not reachable (ENOTDIR)" ENOTDIR rfsprobe stat "$M/fhd/child"
t_eq "a directory in b0 hides a file in b1 (type)" "dir" "$(type_u dhf)"
t_eq "a directory above a file: only the directory's own entries" "x0" "$(names "$M/dhf" | oneline)"
t_errno "merging stops at the non-directory: dir in b2 below a file in b1 is not merged" \
	ENOENT rfsprobe stat "$M/dhf/y2"
t_eq "a symlink in b1 hides a directory in b2" "lnk" "$(type_u lhd)"
t_eq "the symlink hiding a directory resolves in the union" "from-b0" "$(cat_u lhd)"

t_eq "merged directory lists entries of all four branches" \
	"shared sub x0 x1 x2 x3" "$(names "$M/d" | oneline)"
t_eq "merged directory: each entry read from its branch (x3 from b3)" "x3" "$(cat_u d/x3)"
t_eq "merged directory: top-most branch wins inside it" "shared-b1" "$(cat_u d/shared)"
t_eq "nested merge: d/sub has entries from b0 and b3" "deep s0 s3" "$(names "$M/d/sub" | oneline)"
t_eq "deep lookup into a directory only in b3" "e3" "$(cat_u d/sub/deep/er/e3)"
t_eq "a directory only in a lower branch is visible" "z2" "$(cat_u onlylow/z2)"
t_errno "whiteout in a merged directory (ro+wh b1) hides d/gone2 of b2" ENOENT rfsprobe stat "$M/d/gone2"
t_eq "d/.. resolves to the union root (same inode)" \
	"$(rfsprobe inode-of "$M")" "$(rfsprobe inode-of "$M/d/..")"

t_errno "whiteout in rw b0 hides w0 in b1 and b3" ENOENT rfsprobe stat "$M/w0"
t_errno "whiteout in ro+wh b1 hides w1 in b2 and b3" ENOENT rfsprobe stat "$M/w1"
t_eq "whiteout in plain ro b2 is ignored: w2 of b3 visible" "w2-b3" "$(cat_u w2)"
t_eq "a name and its whiteout in the same branch: the name shows" "same-b1" "$(cat_u same)"
t_eq "a whiteout hides only below its branch: up of b0 visible" "up-b0" "$(cat_u up)"
t_errno "a whited-out directory is hidden" ENOENT rfsprobe stat "$M/wd"
t_errno "a whited-out directory's children are hidden" ENOENT rfsprobe stat "$M/wd/inner"
t_errno "a whiteout that is a directory still hides (wdir)" ENOENT rfsprobe stat "$M/wdir"
t_errno "a whiteout that is a symlink still hides (wlnk)" ENOENT rfsprobe stat "$M/wlnk"
t_errno "a whiteout of a name that exists nowhere: ENOENT" ENOENT rfsprobe stat "$M/nothing"

t_eq "opaque dir in ro+wh b1: merged down to b1 only" "o0 o1" "$(names "$M/op" | oneline)"
t_errno "opaque dir in ro+wh b1: b2's o2 not reachable" ENOENT rfsprobe stat "$M/op/o2"
t_eq "opaque marker in plain ro b2 is ignored" "p2 p3" "$(names "$M/op2" | oneline)"
t_eq "opaque dir in rw b0: nothing below merged" "q0" "$(names "$M/op3" | oneline)"
t_errno "opaque dir in rw b0: b1's q1 not reachable" ENOENT rfsprobe stat "$M/op3/q1"

t_errno "reserved: .wh.w0 (whiteout in rw) not found" ENOENT rfsprobe lstat "$M/.wh.w0"
t_errno "reserved: .wh.w2 (file in plain ro branch) not found" ENOENT rfsprobe lstat "$M/.wh.w2"
t_errno "reserved: .wh.same not found" ENOENT rfsprobe lstat "$M/.wh.same"
t_errno "reserved: opaque marker not found" ENOENT rfsprobe lstat "$M/op/.wh..wh..opq"
t_errno "reserved: ignored opaque marker in ro branch not found either" ENOENT rfsprobe lstat "$M/op2/.wh..wh..opq"
t_errno "reserved: .wh..wh.aufs not found" ENOENT rfsprobe lstat "$M/.wh..wh.aufs"
t_errno "reserved: .wh..wh.orph/junk not found" ENOENT rfsprobe lstat "$M/.wh..wh.orph/junk"
t_errno "reserved: .wh.nonexistent not found" ENOENT rfsprobe lstat "$M/.wh.nonexistent"
t_eq "not reserved: .wh (no trailing dot) is visible" "dot-wh" "$(cat_u .wh)"
t_eq "not reserved: .whx is visible" "dot-whx" "$(cat_u .whx)"
t_eq "not reserved: wh.x is visible" "wh-dot-x" "$(cat_u wh.x)"

long=$(awk 'BEGIN { for (i = 0; i < 256; i++) printf "a" }')
t_errno "a 256-byte name is ENAMETOOLONG" ENAMETOOLONG rfsprobe stat "$M/$long"
t_errno "lookup under a regular file is ENOTDIR" ENOTDIR rfsprobe stat "$M/clash/x"
t_errno "a name in no branch is ENOENT" ENOENT rfsprobe stat "$M/no-such-name"

# --- direct changes to branches (udba=reval) ------------------------------------
# These depend on revalidation of cached (also negative) dentries; a failure
# here means a stale dentry cache, not a lookup rule.
t_errno "udba: not there yet (negative dentry cached)" ENOENT rfsprobe stat "$M/late"
t_errno "udba: not there yet in a merged subdir" ENOENT rfsprobe stat "$M/d/late"
mkfile "$B2/late" "late-b2"
mkfile "$B3/d/late" "late-b3"
t_eq "udba: a file created directly in lower b2 after a failed lookup is found" \
	"late-b2" "$(cat_u late)"
t_eq "udba: same in a merged subdirectory (file created in b3)" "late-b3" "$(cat_u d/late)"
t_errno "udba: whited out before the whiteout is removed" ENOENT rfsprobe stat "$M/revive"
rm "$B0/.wh.revive"
t_eq "udba: removing .wh.revive directly in b0 shows the b1 file again" \
	"revive-b1" "$(cat_u revive)"
t_eq "udba: vanish visible before it is removed" "vanish-b2" "$(cat_u vanish)"
rm "$B2/vanish"
t_errno "udba: a file removed directly from its branch is gone" ENOENT rfsprobe stat "$M/vanish"
t_eq "udba: directory listed before its removal" "keep" "$(names "$M/vdir" | oneline)"
rm -r "$B1/vdir"
t_errno "udba: a directory removed directly from its branch is gone" ENOENT rfsprobe stat "$M/vdir/keep"

# Opaque markers added or removed directly inside a cached directory: the
# directory's own dentry is what changes, not its parent's.
t_eq "udba: mko merged before its marker is added" "m0 m1" "$(names "$M/mko" | oneline)"
t_eq "udba: mko/m1 read from b1 while merged" "m1" "$(cat_u mko/m1)"
: >"$B0/mko/.wh..wh..opq"
t_errno "udba: an opaque marker added directly in rw b0 hides b1's mko/m1" ENOENT rfsprobe stat "$M/mko/m1"
t_eq "udba: the directory made opaque directly lists only b0" "m0" "$(names "$M/mko" | oneline)"
t_eq "udba: mko1 merged from b0-b3" "n0 n1 n2 sub" "$(names "$M/mko1" | oneline)"
t_eq "udba: mko1/sub/n3 read from b3" "n3" "$(cat_u mko1/sub/n3)"
: >"$B1/mko1/.wh..wh..opq"
t_errno "udba: an opaque marker added directly in ro+wh b1 hides b2's entries" ENOENT rfsprobe stat "$M/mko1/n2"
t_errno "udba: ... and b3's cached subdirectory" ENOENT rfsprobe stat "$M/mko1/sub/n3"
t_eq "udba: b1's entries stay" "n1" "$(cat_u mko1/n1)"
t_eq "udba: the listing goes down to b1" "n0 n1" "$(names "$M/mko1" | oneline)"
rm "$B1/mko1/.wh..wh..opq"
t_eq "udba: the marker removed again: b3's subdirectory is back" "n3" "$(cat_u mko1/sub/n3)"
t_eq "udba: opaque unop lists only b0" "u0" "$(names "$M/unop" | oneline)"
t_errno "udba: opaque unop hides b2's u2" ENOENT rfsprobe stat "$M/unop/u2"
rm "$B0/unop/.wh..wh..opq"
t_eq "udba: its marker removed directly, unop merges b2 again" "u2" "$(cat_u unop/u2)"
t_eq "udba: ... and lists both branches" "u0 u2" "$(names "$M/unop" | oneline)"
t_eq "udba: roop merged" "r2 r3" "$(names "$M/roop" | oneline)"
: >"$B2/roop/.wh..wh..opq"
t_eq "udba: a marker added directly in plain ro b2 changes nothing" "r3" "$(cat_u roop/r3)"

# Directories whose members the union changed, then a marker changed directly.
own_members_cases "$M" "$B0" "$B1"

# --- the union's own changes keep the other cached names ------------------------
# A create, unlink, rename or copy-up through the union changes one name;
# the other names cached in the directory stay valid without being
# resolved again (namei.rs OwnChanges), so walking them costs no branch
# lookup. A change made directly in the branch, before, between or after
# the union's own changes, still shows at the next walk.
S=/sys/fs/rfs/si_$(mount_si "$M")
lookups() { awk '{ n += $1 } END { print n }' "$S/lookups"; }
stat_all() { for _f in "$@"; do rfsprobe stat "$M/$_f" >/dev/null 2>&1; done; }
mkdir "$M/own"
i=0
while [ $i -lt 20 ]; do rfsprobe creat "$M/own/f$i" >/dev/null; i=$((i + 1)); done
names20=$(i=0; while [ $i -lt 20 ]; do echo "own/f$i"; i=$((i + 1)); done)
# shellcheck disable=SC2086 # a list of names
stat_all $names20
rfsprobe creat "$M/own/g" >/dev/null
rm "$M/own/f19"
mv "$M/own/f18" "$M/own/h18"
n0=$(lookups)
# shellcheck disable=SC2086
stat_all $(echo "$names20" | grep -v -e f19 -e f18)
t_eq "own changes: after a create, an unlink and a rename, 18 cached names need no branch lookup" \
	0 $(($(lookups) - n0))
mkdir -p "$B1/owncu"
i=0
while [ $i -lt 10 ]; do mkfile "$B1/owncu/c$i" "c$i"; i=$((i + 1)); done
names10=$(i=0; while [ $i -lt 10 ]; do echo "owncu/c$i"; i=$((i + 1)); done)
# The first copy-up gives owncu its upper (a new member: every name there
# is resolved once); the next ones change only their own name.
chmod 600 "$M/owncu/c0"
# shellcheck disable=SC2086
stat_all $names10
chmod 600 "$M/owncu/c1"
n0=$(lookups)
# shellcheck disable=SC2086
stat_all $names10
t_eq "own changes: after a copy-up, 10 cached names need no branch lookup" 0 $(($(lookups) - n0))

t_errno "own changes: own/x is missing (a cached negative name)" ENOENT rfsprobe stat "$M/own/x"
t_eq "own changes: own/f5 is there (a cached name)" reg "$(val type "$(rfsprobe lstat "$M/own/f5")")"
rfsprobe creat "$M/own/k1" >/dev/null
: >"$B0/own/x"
rm "$B0/own/f5"
rfsprobe creat "$M/own/k2" >/dev/null
t_eq "own changes: own/x made directly between two creates shows" reg "$(val type "$(rfsprobe lstat "$M/own/x")")"
t_errno "own changes: own/f5 removed directly between two creates is gone" ENOENT rfsprobe stat "$M/own/f5"
t_eq "own changes: ... and the listing agrees" "f0 f1 f10 f11 f12 f13 f14 f15 f16 f17 f2 f3 f4 f6 f7 f8 f9 g h18 k1 k2 x" \
	"$(names "$M/own" | oneline)"
rm "$B0/own/f6"
t_errno "own changes: own/f6 removed directly after them is gone" ENOENT rfsprobe stat "$M/own/f6"
chmod 600 "$M/owncu/c2"
rm "$B1/owncu/c3"
chmod 600 "$M/owncu/c4"
t_errno "own changes: owncu/c3 removed directly from b1 between two copy-ups is gone" ENOENT rfsprobe stat "$M/owncu/c3"
mkfile "$B0/owncu/c9" "direct"
t_eq "own changes: owncu/c9 made directly in b0 after the copy-ups shows" direct "$(cat_u owncu/c9)"

# Two union directories with one branch directory: a stale one (a
# process's working directory, its lookup made invalid by a directory of
# the same name added directly below) and its new lookup. A rename from
# the stale one into the new one moves only the VFS's dentries of those
# two; the new one's cached name must still see the rename.
mkdir "$M/own2"
rfsprobe creat "$M/own2/a" >/dev/null
rm -f "$T/own2.go" "$T/own2.done"
# shellcheck disable=SC2016 # expanded by the inner shell
sh -c 'cd "$1" || exit 1; while [ ! -e "$2" ]; do usleep 20000; done; rfsprobe rename a "$4" >"$3" 2>&1' \
	sh "$M/own2" "$T/own2.go" "$T/own2.done" "$M/own2/b" &
own2_pid=$!
usleep 300000
mkdir "$B1/own2"
t_eq "own changes: own2/a through the new lookup of own2" reg "$(val type "$(rfsprobe lstat "$M/own2/a")")"
t_errno "own changes: own2/b missing (a cached negative name)" ENOENT rfsprobe stat "$M/own2/b"
: >"$T/own2.go"
wait "$own2_pid"
t_eq "own changes: rename from the stale own2 (working directory) into the new one" "" "$(cat "$T/own2.done")"
t_errno "own changes: ... own2/a is gone through the new one" ENOENT rfsprobe stat "$M/own2/a"
t_eq "own changes: ... own2/b is there" reg "$(val type "$(rfsprobe lstat "$M/own2/b")")"

t_ok "umount" umount "$M"
t_done
