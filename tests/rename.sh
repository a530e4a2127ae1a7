#!/bin/sh
# rename.sh: rename(2)/renameat2(2) through the union (issue 3, "Rename";
# notes/semantics.md "Rename").
#
# Branches b0=rw b1=ro+wh b2=ro. Files: copy up if needed, rename inside the
# rw branch, white out the old name when a lower entry exists;
# RENAME_NOREPLACE honored; RENAME_EXCHANGE and RENAME_WHITEOUT either work
# or fail with EINVAL and change nothing. Directories follow AUFS's rule: one
# whose entries all live in the rw branch renames, empty or not (a whiteout
# at the old name, opaque at a new name that exists below); one with entries
# in a lower branch (shown, or shadowed by the rw branch) gives EXDEV, and
# busybox mv falls back to copy and delete. The lower branches never change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"

mkfile "$B1/lf" "lower file"             # lower file to a new name
mkfile "$B0/uf" "upper file"             # upper file over a lower file
mkfile "$B2/target" "lower target"
mkfile "$B1/la" "la data"                # lower file over a lower file
mkfile "$B2/lb" "lb data"
mkfile "$B0/md/u" "u"                    # merged directory
mkfile "$B1/md/x" "x"
mkfile "$B2/src/f" "src f"               # across directories
mkfile "$B0/up2" "up2 data"
mkdir "$B2/ldst"
mkfile "$B1/xb/cross" "cross data"       # across branches: b1 file into a b2-only dir
mkdir "$B2/xdst"
mkfile "$B1/nr1" "nr1"                   # RENAME_NOREPLACE
mkfile "$B2/nr2" "nr2"
mkfile "$B0/ex1" "ex1"                   # RENAME_EXCHANGE, upper with lower
mkfile "$B1/ex2" "ex2"
mkfile "$B0/exu1" "exu1"                 # RENAME_EXCHANGE, upper with upper
mkfile "$B0/exu2" "exu2"
mkfile "$B1/wo" "wo data"                # RENAME_WHITEOUT
ln -s lf "$B1/lsym"                      # a lower symlink
mkfile "$B1/gone" "gone lower"           # renaming onto a whited-out name
: >"$B0/.wh.gone"
mkfile "$B0/uf3" "uf3 data"
# directories
mkfile "$B1/ldc/c" "c"                   # lower, with a child
mkfile "$B0/mdc/a" "a"                   # merged, with children
mkfile "$B1/mdc/b" "b"
mkfile "$B0/udc/c" "c"                   # upper-only, with a child
mkfile "$B0/udc/sub/d" "d"
mkdir "$B0/mix"                          # empty upper, child in b2
mkfile "$B2/mix/c" "c"
mkfile "$B0/shd/a" "upper a"             # upper child shadowing a lower one
mkfile "$B1/shd/a" "lower a"
mkfile "$B1/wdc/x" "x"                   # lower child whited out, upper child
mkfile "$B0/wdc/.wh.x" ""
mkfile "$B0/wdc/y" "y"
mkfile "$B0/swd/a" "upper a"             # upper child over a lower one whited out in b1 (soak seed 109)
mkfile "$B1/swd/.wh.a" ""
mkfile "$B2/swd/a" "lower a"
mkfile "$B0/ovr/k" "k"                   # upper-only with a child, renamed onto
mkdir "$B1/el4"                          # ... an empty lower directory
mkdir "$B1/el" "$B1/el2" "$B1/el3"       # empty lower
mkdir "$B0/eu" "$B0/eu2" "$B0/eu3"       # empty upper
mkfile "$B2/wod/a" "a"                   # empty in the union (child whited out in b1)
mkfile "$B1/wod/.wh.a"
mkfile "$B1/mvsrc/a" "mv a"              # mv of a non-empty lower directory
mkfile "$B1/mvsrc/sub/b" "mv b"
mkfile "$B0/mvu/c" "mvu c"               # mv of a non-empty upper-only directory
mkfile "$B0/mvu/sub/d" "mvu d"

branch_snapshot "$B1" "$B2" >"$W/lower.before"
t_ok "mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# --- files --------------------------------------------------------------------------
ino=$(rfsprobe inode-of "$M/lf")
t_errno "rename of a lower file to a new name succeeds" 0 rfsprobe rename "$M/lf" "$M/lf.new"
t_errno "lower -> new: the old name is gone" ENOENT rfsprobe lstat "$M/lf"
t_eq "lower -> new: the old name is whited out in the rw branch" reg "$(ftype "$B0/.wh.lf")"
t_eq "lower -> new: the new name has the data" "lower file" "$(cat "$M/lf.new")"
t_eq "lower -> new: the new name is in the rw branch" "lower file" "$(cat "$B0/lf.new")"
t_eq "lower -> new: the union inode number is kept" "$ino" "$(rfsprobe inode-of "$M/lf.new")"
t_eq "lower -> new: the lower file is unchanged" "lower file" "$(cat "$B1/lf")"
t_eq "lower -> new: readdir shows lf.new, not lf" "lf.new" "$(names "$M" | grep -x -e lf -e lf.new | oneline)"

t_errno "rename of an upper file over a lower file succeeds" 0 rfsprobe rename "$M/uf" "$M/target"
t_eq "upper over lower: the target shows the upper data" "upper file" "$(cat "$M/target")"
t_errno "upper over lower: the old name is gone" ENOENT rfsprobe lstat "$M/uf"
t_errno "upper over lower: no whiteout for the upper-only old name" ENOENT rfsprobe lstat "$B0/.wh.uf"
t_eq "upper over lower: the file is in the rw branch" "upper file" "$(cat "$B0/target")"
t_errno "upper over lower: unlink of the target succeeds" 0 rfsprobe unlink "$M/target"
t_errno "upper over lower: after the unlink the lower target does not show again" ENOENT \
	rfsprobe lstat "$M/target"

t_errno "rename of a lower file over another lower file succeeds" 0 rfsprobe rename "$M/la" "$M/lb"
t_eq "lower over lower: the target has the source data" "la data" "$(cat "$M/lb")"
t_errno "lower over lower: the source is gone" ENOENT rfsprobe lstat "$M/la"
t_eq "lower over lower: .wh.la in the rw branch" reg "$(ftype "$B0/.wh.la")"

t_errno "rename within a merged directory succeeds" 0 rfsprobe rename "$M/md/x" "$M/md/y"
t_eq "within md: md lists u y" "u y" "$(names "$M/md" | oneline)"
t_eq "within md: y is in the rw branch" x "$(cat "$B0/md/y")"
t_eq "within md: md/.wh.x in the rw branch" reg "$(ftype "$B0/md/.wh.x")"

t_errno "rename of a lower file into another (merged) directory succeeds" 0 \
	rfsprobe rename "$M/src/f" "$M/md/f"
t_eq "across dirs: md/f has the data" "src f" "$(cat "$M/md/f")"
t_eq "across dirs: src is empty in the union" "" "$(names "$M/src" | oneline)"
t_eq "across dirs: src/.wh.f in the rw branch" reg "$(ftype "$B0/src/.wh.f")"
t_eq "across dirs: md/f is in the rw branch" "src f" "$(cat "$B0/md/f")"

t_errno "rename of an upper file into a lower-only directory succeeds" 0 \
	rfsprobe rename "$M/up2" "$M/ldst/up2"
t_eq "into a lower-only dir: it reads through the union" "up2 data" "$(cat "$M/ldst/up2")"
t_eq "into a lower-only dir: the directory was created in the rw branch" "up2 data" "$(cat "$B0/ldst/up2")"
t_errno "into a lower-only dir: no whiteout for the upper-only old name" ENOENT rfsprobe lstat "$B0/.wh.up2"

t_errno "rename of a b1 file into a directory only in b2 succeeds" 0 \
	rfsprobe rename "$M/xb/cross" "$M/xdst/cross"
t_eq "across branches: the data under the new name" "cross data" "$(cat "$M/xdst/cross")"
t_eq "across branches: the new name is in the rw branch" "cross data" "$(cat "$B0/xdst/cross")"
t_eq "across branches: xb/.wh.cross in the rw branch" reg "$(ftype "$B0/xb/.wh.cross")"
t_errno "across branches: the old name is gone" ENOENT rfsprobe lstat "$M/xb/cross"

t_errno "rename of a lower symlink succeeds" 0 rfsprobe rename "$M/lsym" "$M/lsym2"
t_eq "lower symlink: the new name is a symlink with the same target" "lnk lf" \
	"$(ftype "$M/lsym2") $(rfsprobe readlink "$M/lsym2")"
t_eq "lower symlink: it is in the rw branch" "lnk lf" "$(ftype "$B0/lsym2") $(rfsprobe readlink "$B0/lsym2")"

t_errno "rename of an upper file onto a whited-out name succeeds" 0 rfsprobe rename "$M/uf3" "$M/gone"
t_eq "onto a whited-out name: the new name has the data" "uf3 data" "$(cat "$M/gone")"
t_errno "onto a whited-out name: unlink it" 0 rfsprobe unlink "$M/gone"
t_errno "onto a whited-out name: after the unlink the lower file stays hidden" ENOENT rfsprobe lstat "$M/gone"

# --- flags ------------------------------------------------------------------------------------
t_errno "RENAME_NOREPLACE over an existing (lower) name is EEXIST" EEXIST \
	rfsprobe rename "$M/nr1" "$M/nr2" noreplace
t_eq "RENAME_NOREPLACE EEXIST: both names unchanged" "nr1 nr2" "$(cat "$M/nr1") $(cat "$M/nr2")"
t_errno "RENAME_NOREPLACE to a new name succeeds" 0 rfsprobe rename "$M/nr1" "$M/nr3" noreplace
t_eq "RENAME_NOREPLACE to a new name: moved" "ENOENT nr1" "$(ftype "$M/nr1") $(cat "$M/nr3")"
t_errno "RENAME_NOREPLACE over a whited-out name succeeds (nothing there in the union)" 0 \
	rfsprobe rename "$M/nr3" "$M/lf" noreplace
t_eq "RENAME_NOREPLACE over a whited-out name: the data is there" nr1 "$(cat "$M/lf")"

# exchange_case DESC A B: RENAME_EXCHANGE of A and B must either swap them
# or fail with EINVAL and change nothing.
exchange_case() {
	local desc=$1 a=$2 b=$3 da db out
	da=$(cat "$M/$a")
	db=$(cat "$M/$b")
	out=$(rfsprobe rename "$M/$a" "$M/$b" exchange)
	case ${out%% *} in
	"")
		t_ok "$desc: RENAME_EXCHANGE works" true
		t_eq "$desc: the two names swapped their data" "$db $da" "$(cat "$M/$a") $(cat "$M/$b")"
		t_eq "$desc: the rw branch has both names with the swapped data" "$db $da" \
			"$(cat "$B0/$a") $(cat "$B0/$b")"
		;;
	EINVAL)
		t_ok "$desc: RENAME_EXCHANGE refused with EINVAL" true
		t_eq "$desc: after EINVAL both names are unchanged" "$da $db" "$(cat "$M/$a") $(cat "$M/$b")"
		t_eq "$desc: after EINVAL, nothing new in the rw branch" "" \
			"$(names "$B0" | grep -x -e ".wh.$a" -e ".wh.$b" | oneline)"
		;;
	*)
		t_eq "$desc: RENAME_EXCHANGE works or fails with EINVAL" "success or EINVAL" "$out"
		;;
	esac
}
exchange_case "upper with lower" ex1 ex2
exchange_case "upper with upper" exu1 exu2

out=$(rfsprobe rename "$M/wo" "$M/wo2" whiteout)
case ${out%% *} in
"")
	t_ok "RENAME_WHITEOUT of a lower file works" true
	t_eq "RENAME_WHITEOUT: the new name has the data" "wo data" "$(cat "$M/wo2")"
	s=$(rfsprobe lstat "$M/wo")
	case $s in
	ENOENT*) r=0 ;;
	*type=chr*rdev=0:0*) r=0 ;;
	*) r=1 ;;
	esac
	t_ok "RENAME_WHITEOUT: the old name is gone or a 0:0 char device (got: ${s%% mtime=*})" [ $r = 0 ]
	;;
EINVAL)
	t_ok "RENAME_WHITEOUT refused with EINVAL" true
	t_eq "RENAME_WHITEOUT EINVAL: the file is unchanged" "wo data" "$(cat "$M/wo")"
	t_errno "RENAME_WHITEOUT EINVAL: no new name" ENOENT rfsprobe lstat "$M/wo2"
	;;
*)
	t_eq "RENAME_WHITEOUT works or fails with EINVAL" "success or EINVAL" "$out"
	;;
esac

# --- directories ------------------------------------------------------------------------------
t_errno "rename of a lower directory with a child is EXDEV" EXDEV rfsprobe rename "$M/ldc" "$M/ldc2"
t_eq "EXDEV: ldc still lists its child" c "$(names "$M/ldc" | oneline)"
t_errno "EXDEV: no ldc2" ENOENT rfsprobe lstat "$M/ldc2"
t_errno "rename of a merged directory with children is EXDEV" EXDEV rfsprobe rename "$M/mdc" "$M/mdc2"
t_eq "EXDEV: mdc still lists a b" "a b" "$(names "$M/mdc" | oneline)"
t_errno "rename of an empty upper dir with a child in b2 is EXDEV" EXDEV rfsprobe rename "$M/mix" "$M/mix2"
t_errno "rename of a directory whose upper child shadows a lower one is EXDEV" EXDEV rfsprobe rename "$M/shd" "$M/shd2"
t_eq "EXDEV: shd still shows the upper a" "upper a" "$(cat "$M/shd/a")"

t_errno "rename of an upper-only directory with children succeeds (AUFS's rule)" 0 rfsprobe rename "$M/udc" "$M/udc2"
t_eq "upper-only dir: udc2 lists c sub" "c sub" "$(names "$M/udc2" | oneline)"
t_eq "upper-only dir: udc2/sub/d" "d" "$(cat "$M/udc2/sub/d")"
t_eq "upper-only dir: moved in the rw branch" "ENOENT dir" "$(ftype "$B0/udc") $(ftype "$B0/udc2")"
t_errno "upper-only dir: no whiteout (nothing below)" ENOENT rfsprobe lstat "$B0/.wh.udc"
t_errno "upper-only dir: no opaque marker (nothing below the new name)" ENOENT rfsprobe lstat "$B0/udc2/.wh..wh..opq"
t_errno "... into another (merged) directory" 0 rfsprobe rename "$M/udc2" "$M/md/udc"
t_eq "... md/udc/sub/d" "d" "$(cat "$M/md/udc/sub/d")"
t_errno "... the old name is gone" ENOENT rfsprobe lstat "$M/udc2"

t_errno "rename of a directory whose lower entries are all whited out succeeds" 0 rfsprobe rename "$M/wdc" "$M/wdc2"
t_eq "whited-out lower entries: wdc2 lists y" "y" "$(names "$M/wdc2" | oneline)"
t_errno "... wdc2/x stays hidden" ENOENT rfsprobe lstat "$M/wdc2/x"
t_errno "... the old name is gone" ENOENT rfsprobe lstat "$M/wdc"
t_eq "... .wh.wdc hides the lower directory" reg "$(ftype "$B0/.wh.wdc")"
t_errno "rename of a directory whose upper child shadows a lower one whited out in between succeeds" 0 \
	rfsprobe rename "$M/swd" "$M/swd2"
t_eq "... swd2/a is the upper a" "upper a" "$(cat "$M/swd2/a")"
t_eq "... moved in the rw branch, the old name whited out" "ENOENT dir reg" \
	"$(ftype "$B0/swd") $(ftype "$B0/swd2") $(ftype "$B0/.wh.swd")"

t_errno "rename of an upper-only directory with a child onto an empty lower directory succeeds" 0 \
	rfsprobe rename "$M/ovr" "$M/el4"
t_eq "... el4 lists k" "k" "$(names "$M/el4" | oneline)"
t_eq "... el4 is opaque in the rw branch" reg "$(ftype "$B0/el4/.wh..wh..opq")"
t_errno "... ovr is gone" ENOENT rfsprobe lstat "$M/ovr"

# A package manager's pattern: unpack into a new directory, rename it into
# place.
mkdir -p "$M/md/pkg.tmp/lib"
echo one >"$M/md/pkg.tmp/lib/one"
echo two >"$M/md/pkg.tmp/two"
t_errno "unpack into a new directory and rename it into place (dpkg, pip, npm)" 0 rfsprobe rename "$M/md/pkg.tmp" "$M/md/pkg"
t_eq "... the tree is there" "one two" "$(cat "$M/md/pkg/lib/one") $(cat "$M/md/pkg/two")"
drop_caches
t_eq "... also after drop_caches" "one two" "$(cat "$M/md/pkg/lib/one") $(cat "$M/md/pkg/two")"

t_errno "rename of an empty lower directory succeeds" 0 rfsprobe rename "$M/el" "$M/el.new"
t_errno "empty lower dir: the old name is gone" ENOENT rfsprobe lstat "$M/el"
t_eq "empty lower dir: .wh.el in the rw branch" reg "$(ftype "$B0/.wh.el")"
t_eq "empty lower dir: the new name is a directory in the rw branch" dir "$(ftype "$B0/el.new")"
t_eq "empty lower dir: the new directory is empty" "" "$(names "$M/el.new" | oneline)"
t_eq "empty lower dir: the lower directory is still there" dir "$(ftype "$B1/el")"

t_errno "rename of an empty upper directory succeeds" 0 rfsprobe rename "$M/eu" "$M/eu.new"
t_eq "empty upper dir: moved in the rw branch" "ENOENT dir" "$(ftype "$B0/eu") $(ftype "$B0/eu.new")"
t_errno "empty upper dir: no whiteout" ENOENT rfsprobe lstat "$B0/.wh.eu"

t_eq "wod is empty in the union (its child is whited out in b1)" "" "$(names "$M/wod" | oneline)"
t_errno "rename of a directory that is empty in the union (whiteouts only) succeeds" 0 \
	rfsprobe rename "$M/wod" "$M/wod.new"
t_errno "whiteout-only dir: the old name is gone" ENOENT rfsprobe lstat "$M/wod"
t_eq "whiteout-only dir: the new directory is empty (the lower child stays hidden)" "" \
	"$(names "$M/wod.new" | oneline)"
t_errno "whiteout-only dir: wod.new/a is not found" ENOENT rfsprobe lstat "$M/wod.new/a"

t_errno "rename of an empty upper dir over an empty lower dir succeeds" 0 rfsprobe rename "$M/eu3" "$M/el2"
t_eq "over an empty lower dir: el2 is empty" "" "$(names "$M/el2" | oneline)"
t_errno "over an empty lower dir: eu3 is gone" ENOENT rfsprobe lstat "$M/eu3"
t_errno "over an empty lower dir: create el2/f" 0 rfsprobe creat "$M/el2/f"
t_eq "over an empty lower dir: el2/f is in the rw branch" reg "$(ftype "$B0/el2/f")"

out=$(rfsprobe rename "$M/eu2" "$M/ldc")
case ${out%% *} in ENOTEMPTY | EEXIST) r=0 ;; *) r=1 ;; esac
got=${out%% *}
t_ok "rename of an empty dir over a non-empty lower dir fails ENOTEMPTY or EEXIST (got: ${got:-success})" [ $r = 0 ]
t_eq "over a non-empty dir: ldc still lists its child" c "$(names "$M/ldc" | oneline)"
t_errno "rename of a file over a directory is EISDIR" EISDIR rfsprobe rename "$M/lb" "$M/el3"
t_errno "rename of an empty directory over a file is ENOTDIR" ENOTDIR rfsprobe rename "$M/el3" "$M/lb"

# --- mv falls back to copy + delete on EXDEV ---------------------------------------------------
t_ok "mv of a non-empty lower directory succeeds" mv "$M/mvsrc" "$M/mvdst"
t_errno "mv lower dir: the old name is gone" ENOENT rfsprobe lstat "$M/mvsrc"
t_eq "mv lower dir: the new tree has its entries" "a sub" "$(names "$M/mvdst" | oneline)"
t_eq "mv lower dir: mvdst/a" "mv a" "$(cat "$M/mvdst/a")"
t_eq "mv lower dir: mvdst/sub/b" "mv b" "$(cat "$M/mvdst/sub/b")"
t_eq "mv lower dir: .wh.mvsrc in the rw branch" reg "$(ftype "$B0/.wh.mvsrc")"
t_eq "mv lower dir: the lower tree is still there" "mv b" "$(cat "$B1/mvsrc/sub/b")"
t_ok "mv of a non-empty upper-only directory succeeds" mv "$M/mvu" "$M/mvu2"
t_errno "mv upper dir: the old name is gone" ENOENT rfsprobe lstat "$M/mvu"
t_eq "mv upper dir: mvu2/c and mvu2/sub/d" "mvu c mvu d" "$(cat "$M/mvu2/c") $(cat "$M/mvu2/sub/d")"
t_errno "mv upper dir: gone from the rw branch" ENOENT rfsprobe lstat "$B0/mvu"

drop_caches
t_eq "after drop_caches: the union root lists the expected names" \
	"el.new el2 el3 el4 eu.new eu2 ex1 ex2 exu1 exu2 lb ldc ldst lf lf.new lsym2 md mdc mix mvdst mvu2 nr2 shd src swd2 wdc2 wod.new xb xdst" \
	"$(names "$M" | grep -v -x -e wo -e wo2 | oneline)"

t_ok "umount" umount "$M"
branch_snapshot "$B1" "$B2" >"$W/lower.after"
diff_lists "the lower branches are unchanged" "$W/lower.before" "$W/lower.after"
t_done
