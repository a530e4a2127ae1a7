#!/bin/sh
# whiteout.sh: removal through the union, whiteouts and opaque directories
# (issue 3, "Namespace operations"; notes/semantics.md "Removal and creation").
#
# Branches b0=rw b1=ro+wh b2=ro. unlink/rmdir of a name that exists in a
# lower branch removes the upper copy (if any) and leaves .wh.NAME (an empty
# regular file) in b0; names only in b0 leave nothing. rmdir needs an empty
# union view (whiteout-only directories count as empty) and cleans up. The
# seed scenario: deleting .wh.NAME by hand brings the lower file back.
# Creating over a whiteout removes it; mkdir over one makes the new
# directory opaque. .wh. names are refused with EPERM. Without an rw branch
# everything is EROFS. The lower branches never change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"

mkfile "$B1/lf" "lower file"
mkfile "$B0/both" "upper both"
mkfile "$B2/both" "lower both"
mkfile "$B0/uo" "upper only"
mkfile "$B1/md/x" "x"                    # merged directory md
mkfile "$B0/md/y" "y"
mkfile "$B2/ld/deep/f" "deep"            # lower-only directories
chmod 0750 "$B2/ld"
ln -s lf "$B1/lsym"
mkdir "$B1/edir"                         # empty lower directory
mkdir "$B0/edir2" "$B2/edir2"            # empty, in the rw and a lower branch
mkdir "$B0/uedir"                        # empty, only in the rw branch
mkdir "$B0/gd"                           # upper only, holding a stale whiteout
: >"$B0/gd/.wh.x"
mkfile "$B2/wd/a" "a"                    # emptied through the union, then removed
mkfile "$B2/wd/b" "b"
mkfile "$B2/wd2/a" "a"                   # empty in the union: whited out in ro+wh b1
mkfile "$B1/wd2/.wh.a"
mkfile "$B1/ne/child" "child"            # not empty
mkdir "$B0/ne2"
mkfile "$B2/ne2/c" "c"                   # not empty: the child is in b2 only
mkfile "$B2/hid" "hidden"                # whited out in ro+wh b1
: >"$B1/.wh.hid"
mkfile "$B2/od/c1" "c1"                  # removed with rm -r, then mkdir again
mkfile "$B2/od/c2" "c2"
mkfile "$B1/od2/k1" "k1"                 # whited out by hand in b0, then mkdir
: >"$B0/.wh.od2"
mkfile "$B0/upf" "upper file"
mkfile "$B1/keep" "keep"                 # for the no-rw-branch mount
mkdir "$B1/edir3"

t_ok "mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# --- the seed scenario ----------------------------------------------------------------
mkfile "$B1/newfile" "seed data"
t_eq "seed: a file created in lower b1 while mounted is visible" "seed data" "$(cat "$M/newfile")"
branch_snapshot "$B1" "$B2" >"$W/lower.before"
t_ok "seed: rm of it through the union" rm "$M/newfile"
t_eq "seed: .wh.newfile is in the rw branch (a regular file)" reg "$(ftype "$B0/.wh.newfile")"
t_fail "seed: cat of it fails now" cat "$M/newfile"
# shellcheck disable=SC2010 # the seed uses ls
t_eq "seed: ls does not list it" "" "$(ls "$M" | grep -x newfile)"
t_ok "seed: delete .wh.newfile by hand in the rw branch" rm "$B0/.wh.newfile"
t_eq "seed: cat (a new process) shows the lower file again" "seed data" "$(cat "$M/newfile")"
# shellcheck disable=SC2010
t_eq "seed: ls lists it again" newfile "$(ls "$M" | grep -x newfile)"
t_eq "seed: it is the lower regular file" "reg 9" \
	"$(s=$(rfsprobe stat "$M/newfile"); echo "$(val type "$s") $(val size "$s")")"

# --- unlink ----------------------------------------------------------------------------
t_errno "unlink of a lower file succeeds" 0 rfsprobe unlink "$M/lf"
t_errno "unlink lower: lookup of the name is ENOENT" ENOENT rfsprobe lstat "$M/lf"
t_eq "unlink lower: readdir no longer lists it" "" "$(names "$M" | grep -x lf)"
t_eq "unlink lower: .wh.lf in the rw branch is an empty regular file" "reg 0" \
	"$(s=$(rfsprobe lstat "$B0/.wh.lf"); echo "$(val type "$s") $(val size "$s")")"
t_eq "unlink lower: the lower file is still there" "lower file" "$(cat "$B1/lf")"
drop_caches
t_errno "unlink lower: still ENOENT after drop_caches" ENOENT rfsprobe lstat "$M/lf"

t_errno "unlink of a file in the rw and a lower branch succeeds" 0 rfsprobe unlink "$M/both"
t_errno "unlink both: the upper copy is removed" ENOENT rfsprobe lstat "$B0/both"
t_eq "unlink both: .wh.both is in the rw branch" reg "$(ftype "$B0/.wh.both")"
t_errno "unlink both: the lower file does not show through" ENOENT rfsprobe lstat "$M/both"
t_eq "unlink both: the lower file is still there" "lower both" "$(cat "$B2/both")"

t_errno "unlink of an upper-only file succeeds" 0 rfsprobe unlink "$M/uo"
t_errno "unlink upper-only: removed from the rw branch" ENOENT rfsprobe lstat "$B0/uo"
t_errno "unlink upper-only: no whiteout is left" ENOENT rfsprobe lstat "$B0/.wh.uo"
t_errno "unlink upper-only: gone from the union" ENOENT rfsprobe lstat "$M/uo"

t_errno "unlink of a lower file in a merged directory succeeds" 0 rfsprobe unlink "$M/md/x"
t_eq "unlink in a merged dir: md/.wh.x in the rw branch" reg "$(ftype "$B0/md/.wh.x")"
t_eq "unlink in a merged dir: md lists only y" "y" "$(names "$M/md" | oneline)"

t_errno "unlink of a file below lower-only directories succeeds" 0 rfsprobe unlink "$M/ld/deep/f"
t_eq "unlink below lower-only dirs: ld/deep/.wh.f in the rw branch" reg "$(ftype "$B0/ld/deep/.wh.f")"
t_eq "unlink below lower-only dirs: ld was created with the lower mode 0750" 040750 \
	"$(val mode "$(rfsprobe lstat "$B0/ld")")"
t_eq "unlink below lower-only dirs: ld/deep is empty in the union" "" "$(names "$M/ld/deep" | oneline)"

t_errno "unlink of a lower symlink succeeds" 0 rfsprobe unlink "$M/lsym"
t_eq "unlink lower symlink: .wh.lsym in the rw branch" reg "$(ftype "$B0/.wh.lsym")"
t_errno "unlink lower symlink: gone from the union" ENOENT rfsprobe lstat "$M/lsym"

t_errno "unlink of a name whited out in ro+wh b1 is ENOENT" ENOENT rfsprobe unlink "$M/hid"

# --- rmdir -------------------------------------------------------------------------------
t_errno "rmdir of an empty lower directory succeeds" 0 rfsprobe rmdir "$M/edir"
t_eq "rmdir lower: .wh.edir in the rw branch" reg "$(ftype "$B0/.wh.edir")"
t_errno "rmdir lower: gone from the union" ENOENT rfsprobe lstat "$M/edir"
t_eq "rmdir lower: the lower directory is still there" dir "$(ftype "$B1/edir")"

t_errno "rmdir of an empty directory in the rw and a lower branch succeeds" 0 rfsprobe rmdir "$M/edir2"
t_errno "rmdir both: the upper directory is removed" ENOENT rfsprobe lstat "$B0/edir2"
t_eq "rmdir both: .wh.edir2 in the rw branch" reg "$(ftype "$B0/.wh.edir2")"
t_errno "rmdir both: gone from the union" ENOENT rfsprobe lstat "$M/edir2"

t_errno "rmdir of an empty upper-only directory succeeds" 0 rfsprobe rmdir "$M/uedir"
t_errno "rmdir upper-only: removed from the rw branch" ENOENT rfsprobe lstat "$B0/uedir"
t_errno "rmdir upper-only: no whiteout is left" ENOENT rfsprobe lstat "$B0/.wh.uedir"

t_errno "merged dir wd: unlink its lower child a" 0 rfsprobe unlink "$M/wd/a"
t_errno "merged dir wd: unlink its lower child b" 0 rfsprobe unlink "$M/wd/b"
t_eq "merged dir wd: the union view is empty" "" "$(names "$M/wd" | oneline)"
t_errno "rmdir of a directory whose union view is empty (whiteouts only) succeeds" 0 rfsprobe rmdir "$M/wd"
t_errno "rmdir whiteout-only dir: gone from the union" ENOENT rfsprobe lstat "$M/wd"
t_eq "rmdir whiteout-only dir: .wh.wd in the rw branch" reg "$(ftype "$B0/.wh.wd")"
t_errno "rmdir whiteout-only dir: the rw branch copy (with its whiteouts) is cleaned up" ENOENT \
	rfsprobe lstat "$B0/wd"
t_eq "rmdir whiteout-only dir: the lower children are still there" "a b" "$(names "$B2/wd" | oneline)"

t_eq "wd2 (child whited out in ro+wh b1) is empty in the union" "" "$(names "$M/wd2" | oneline)"
t_errno "rmdir of wd2 succeeds" 0 rfsprobe rmdir "$M/wd2"
t_errno "rmdir wd2: gone from the union" ENOENT rfsprobe lstat "$M/wd2"
t_eq "rmdir wd2: .wh.wd2 in the rw branch" reg "$(ftype "$B0/.wh.wd2")"

t_errno "rmdir of a non-empty lower directory is ENOTEMPTY" ENOTEMPTY rfsprobe rmdir "$M/ne"
t_eq "rmdir ENOTEMPTY: the directory still lists its child" child "$(names "$M/ne" | oneline)"
t_errno "rmdir ENOTEMPTY: no whiteout was made" ENOENT rfsprobe lstat "$B0/.wh.ne"
t_errno "rmdir of an empty upper dir with a lower child is ENOTEMPTY" ENOTEMPTY rfsprobe rmdir "$M/ne2"
t_eq "rmdir ENOTEMPTY: the upper directory stays" dir "$(ftype "$B0/ne2")"
t_eq "rmdir ENOTEMPTY: it still lists the lower child" c "$(names "$M/ne2" | oneline)"
t_errno "rmdir of the merged dir md (child y in b0) is ENOTEMPTY" ENOTEMPTY rfsprobe rmdir "$M/md"

# Nothing of the name below, but a whiteout in the upper directory: the
# plain rmdir meets ENOTEMPTY and the directory is emptied the long way.
t_eq "gd: its union view is empty" "" "$(names "$M/gd" | oneline)"
t_errno "rmdir of an upper directory holding only a whiteout, nothing below, succeeds" 0 rfsprobe rmdir "$M/gd"
t_errno "... gone from the rw branch" ENOENT rfsprobe lstat "$B0/gd"
t_errno "... no whiteout of it (nothing below)" ENOENT rfsprobe lstat "$B0/.wh.gd"
t_errno "... gone from the union" ENOENT rfsprobe lstat "$M/gd"

# --- creating over a whiteout ---------------------------------------------------------------
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
t_ok "echo new > a whited-out name works" sh -c 'echo new >"$1"' sh "$M/lf"
t_errno "create over a whiteout: .wh.lf is removed" ENOENT rfsprobe lstat "$B0/.wh.lf"
t_eq "create over a whiteout: the new file is in the rw branch" new "$(cat "$B0/lf")"
t_eq "create over a whiteout: the union shows the new file" new "$(cat "$M/lf")"
t_errno "unlink of it again succeeds" 0 rfsprobe unlink "$M/lf"
t_eq "unlink again: the whiteout is back" reg "$(ftype "$B0/.wh.lf")"
t_errno "unlink again: the upper file is gone" ENOENT rfsprobe lstat "$B0/lf"
t_errno "unlink again: the name is gone from the union" ENOENT rfsprobe lstat "$M/lf"

t_errno "open O_CREAT|O_EXCL over a whiteout succeeds" 0 rfsprobe open "$M/both" w,creat,excl
t_errno "O_CREAT|O_EXCL over a whiteout: .wh.both is removed" ENOENT rfsprobe lstat "$B0/.wh.both"
t_eq "O_CREAT|O_EXCL over a whiteout: an empty file, not the lower one" "reg 0" \
	"$(s=$(rfsprobe stat "$M/both"); echo "$(val type "$s") $(val size "$s")")"
t_errno "mkfifo over a whiteout succeeds" 0 rfsprobe mknod "$M/lsym" fifo
t_errno "mkfifo over a whiteout: .wh.lsym is removed" ENOENT rfsprobe lstat "$B0/.wh.lsym"
t_eq "mkfifo over a whiteout: a fifo in the union" fifo "$(ftype "$M/lsym")"
t_errno "symlink over a whited-out directory succeeds" 0 rfsprobe symlink upf "$M/edir"
t_errno "symlink over a whiteout: .wh.edir is removed" ENOENT rfsprobe lstat "$B0/.wh.edir"
t_eq "symlink over a whiteout: it resolves" "upper file" "$(cat "$M/edir")"

# --- mkdir over a whiteout: opaque ---------------------------------------------------------------
t_ok "rm -r of a lower directory with children (od)" rm -r "$M/od"
t_errno "rm -r: od is gone" ENOENT rfsprobe lstat "$M/od"
t_eq "rm -r: .wh.od in the rw branch" reg "$(ftype "$B0/.wh.od")"
t_errno "mkdir od again succeeds" 0 rfsprobe mkdir "$M/od"
t_errno "mkdir over a whiteout: .wh.od is removed" ENOENT rfsprobe lstat "$B0/.wh.od"
t_ok "mkdir over a whiteout: the new directory is opaque (od/.wh..wh..opq in the rw branch)" \
	rfsprobe lstat "$B0/od/.wh..wh..opq"
t_eq "mkdir over a whiteout: the union shows it empty (lower c1 c2 hidden)" "" "$(names "$M/od" | oneline)"
t_errno "mkdir over a whiteout: od/c1 is not found" ENOENT rfsprobe lstat "$M/od/c1"
t_errno "create od/new succeeds" 0 rfsprobe creat "$M/od/new"
t_eq "opaque od lists only new" new "$(names "$M/od" | oneline)"
drop_caches
t_eq "opaque od lists only new after drop_caches" new "$(names "$M/od" | oneline)"
t_eq "the lower od still has its children" "c1 c2" "$(names "$B2/od" | oneline)"

t_errno "mkdir over a hand-made whiteout (.wh.od2) succeeds" 0 rfsprobe mkdir "$M/od2"
t_ok "mkdir over .wh.od2: od2 is opaque in the rw branch" rfsprobe lstat "$B0/od2/.wh..wh..opq"
t_errno "mkdir over .wh.od2: .wh.od2 is removed" ENOENT rfsprobe lstat "$B0/.wh.od2"
t_eq "mkdir over .wh.od2: empty in the union (lower k1 hidden)" "" "$(names "$M/od2" | oneline)"

# --- reserved .wh. names ---------------------------------------------------------------------
t_errno "creat .wh.x is EPERM" EPERM rfsprobe creat "$M/.wh.x"
t_errno "open O_CREAT|O_EXCL .wh.x is EPERM" EPERM rfsprobe open "$M/.wh.x" w,creat,excl
t_errno "creat md/.wh.q (merged dir) is EPERM" EPERM rfsprobe creat "$M/md/.wh.q"
t_errno "mkdir .wh.d is EPERM" EPERM rfsprobe mkdir "$M/.wh.d"
t_errno "mkdir .wh..wh..opq is EPERM" EPERM rfsprobe mkdir "$M/.wh..wh..opq"
t_errno "creat od/.wh..wh..opq is EPERM" EPERM rfsprobe creat "$M/od/.wh..wh..opq"
t_errno "symlink .wh.l is EPERM" EPERM rfsprobe symlink upf "$M/.wh.l"
t_errno "mknod fifo .wh.f is EPERM" EPERM rfsprobe mknod "$M/.wh.f" fifo
t_errno "link upf .wh.h is EPERM" EPERM rfsprobe link "$M/upf" "$M/.wh.h"
t_errno "rename upf .wh.r is EPERM" EPERM rfsprobe rename "$M/upf" "$M/.wh.r"
t_errno "linkat of an O_TMPFILE to .wh.t is EPERM" EPERM rfsprobe tmpfile "$M" data "$M/.wh.t"
t_eq "reserved names: none of them was created in the rw branch" \
	"ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT ENOENT" \
	"$(for p in .wh.x md/.wh.q .wh.d .wh.l .wh.f .wh.h .wh.r .wh.t; do ftype "$B0/$p"; done | oneline)"
t_eq "reserved names: upf is untouched" "upper file" "$(cat "$M/upf")"
t_errno "unlink of an existing whiteout's name (.wh.lf) is ENOENT" ENOENT rfsprobe unlink "$M/.wh.lf"
t_errno "rename of .wh.lf is ENOENT" ENOENT rfsprobe rename "$M/.wh.lf" "$M/other"
t_eq "the whiteout .wh.lf is still in the rw branch" reg "$(ftype "$B0/.wh.lf")"
t_eq "readdir of the root lists no .wh. name" "" "$(names "$M" | grep '^\.wh\.' | oneline)"

t_ok "umount" umount "$M"
branch_snapshot "$B1" "$B2" >"$W/lower.after"
diff_lists "the lower branches are unchanged (rw mount)" "$W/lower.before" "$W/lower.after"

# --- no rw branch: EROFS ---------------------------------------------------------------------
t_ok "mount b0=ro+wh b1=ro+wh b2=ro (no rw branch)" rfs_mount "$M" "dirs=$B0=ro+wh:$B1=ro+wh:$B2=ro"
branch_snapshot "$B0" "$B1" "$B2" >"$W/all.before"
t_errno "no rw branch: whiteouts made earlier in b0 are honored (lf hidden)" ENOENT rfsprobe lstat "$M/lf"
t_errno "no rw branch: unlink of a lower file is EROFS" EROFS rfsprobe unlink "$M/keep"
t_errno "no rw branch: unlink of a file in b0 is EROFS" EROFS rfsprobe unlink "$M/upf"
t_errno "no rw branch: rmdir of an empty lower directory is EROFS" EROFS rfsprobe rmdir "$M/edir3"
t_errno "no rw branch: creat over a whiteout is EROFS" EROFS rfsprobe creat "$M/lf"
t_errno "no rw branch: mkdir over a whiteout is EROFS" EROFS rfsprobe mkdir "$M/wd"
t_errno "no rw branch: rename of a lower file is EROFS" EROFS rfsprobe rename "$M/keep" "$M/keep2"
out=$(rfsprobe creat "$M/.wh.x")
case $out in EROFS* | EPERM*) r=0 ;; *) r=1 ;; esac
t_ok "no rw branch: creat .wh.x fails with EROFS or EPERM (got: ${out%% *})" [ $r = 0 ]
t_eq "no rw branch: keep still reads" keep "$(cat "$M/keep")"
branch_snapshot "$B0" "$B1" "$B2" >"$W/all.after"
diff_lists "no rw branch: all branches unchanged" "$W/all.before" "$W/all.after"
t_ok "umount" umount "$M"

t_ok "mount b0=ro b1=ro+wh b2=ro (whiteouts in b0 not honored)" rfs_mount "$M" "dirs=$B0=ro:$B1=ro+wh:$B2=ro"
t_eq "plain ro b0: the whiteout .wh.lf is ignored, lower lf shows" "lower file" "$(cat "$M/lf")"
t_errno "plain ro b0: unlink is EROFS" EROFS rfsprobe unlink "$M/lf"
t_ok "umount" umount "$M"

# --- what a directory knows about its members' whiteouts (issue 19) ------------------
# After enough lookups of missing names, or a readdir, a union directory
# knows which members hold no whiteout and stops looking up .wh.NAME there
# (logic/whfacts.rs). Every change of the member, through the union or
# directly in its branch, must make it look again.
# misses DIR N: N lookups of names that exist nowhere (each probes .wh.NAME
# in every member above the last).
misses() {
	_i=0
	while [ $_i -lt "$2" ]; do
		rfsprobe lstat "$1/miss$_i.$3" >/dev/null 2>&1
		_i=$((_i + 1))
	done
}
for d in fa fb fc fd; do
	mkdir -p "$B0/$d" "$B1/$d"
	mkfile "$B1/$d/l1" "l1"
	mkfile "$B2/$d/v" "v $d"
	mkfile "$B2/$d/w" "w $d"
done
: >"$B1/fd/.wh.w"                       # fd/b1 holds a whiteout from the start
t_ok "facts: mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"
misses "$M/fa" 40 a
t_eq "facts: after 40 missing names, fa/v still shows (b2)" "v fa" "$(cat "$M/fa/v")"
: >"$B1/fa/.wh.v"
t_errno "facts: a whiteout made directly in ro+wh b1 afterwards hides fa/v" ENOENT rfsprobe lstat "$M/fa/v"
misses "$M/fa" 40 b
drop_caches
t_errno "facts: fa/v stays hidden after more lookups and drop_caches" ENOENT rfsprobe lstat "$M/fa/v"
t_eq "facts: fa/w (not whited out) still shows" "w fa" "$(cat "$M/fa/w")"
rm "$B1/fa/.wh.v"
t_eq "facts: the whiteout removed directly brings fa/v back" "v fa" "$(cat "$M/fa/v")"

misses "$M/fb" 40 a
t_errno "facts: rm of a lower file through the union (its whiteout in b0)" 0 rfsprobe unlink "$M/fb/v"
t_errno "facts: fb/v is gone" ENOENT rfsprobe lstat "$M/fb/v"
misses "$M/fb" 40 b
drop_caches
t_errno "facts: fb/v stays gone after more lookups and drop_caches" ENOENT rfsprobe lstat "$M/fb/v"
t_eq "facts: its whiteout is in b0" reg "$(ftype "$B0/fb/.wh.v")"

t_eq "facts: readdir of fc lists the merged names" "l1 v w" "$(names "$M/fc" | oneline)"
: >"$B1/fc/.wh.w"
t_errno "facts: after readdir, a whiteout made directly in b1 hides fc/w" ENOENT rfsprobe lstat "$M/fc/w"
t_eq "facts: readdir agrees" "l1 v" "$(names "$M/fc" | oneline)"

misses "$M/fd" 40 a
t_errno "facts: fd/w whited out in b1 from the start stays hidden" ENOENT rfsprobe lstat "$M/fd/w"
t_eq "facts: fd/v shows" "v fd" "$(cat "$M/fd/v")"
rm "$B1/fd/.wh.w"
t_eq "facts: its whiteout removed directly brings fd/w back" "w fd" "$(cat "$M/fd/w")"
t_ok "umount" umount "$M"
t_done
