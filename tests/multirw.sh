#!/bin/sh
# multirw.sh: several writable branches at any index and AUFS's creation
# and copy-up policies (issue 17).
#
# Rules checked (Documentation/filesystems/rfs.rst "Several writable
# branches"):
# - an object whose top member is in a writable branch is changed there, in
#   place, whatever its index;
# - an object whose top is read-only is copied up into the top-most
#   writable branch between its parent's top and itself that holds the
#   parent; else into the nearest writable branch above it (its parent
#   directories are made there first, also under a directory's read-only
#   top);
# - a new name goes to its parent's top branch when that is writable, else
#   to the nearest writable branch above it; with a read-only branch on top
#   of the parent, EROFS (as AUFS);
# - removal happens in the branch a change would go to, with a whiteout
#   there when the name exists below it;
# - rename and link happen in the branch of the object; where the new name
#   would not show from there, in the nearest writable branch above where
#   it shows (the object copied up there; EXDEV for a file with two links,
#   open or mapped, and for a non-empty directory: mv(1) copies instead);
# - a directory whose top is writable lower down moves up when a change
#   needs it higher: made there, merged over its old top;
# - each writable branch has its own work and pseudo-link directories;
# - the policies (three tmpfs of 4, 8 and 16 MiB pooled): create=mfs and rr,
#   tdmfs, pmfs, pmfsrr and mfsrr with their watermarks, each placement
#   checked; cpup=tdp, bup and bu on rw0:rw1:ro2, where the three differ.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 4
B0=$T/b0 B1=$T/b1 B2=$T/b2 B3=$T/b3
M=$T/mnt
mkdir "$M"

# --- rw0 : ro1 : rw2 --------------------------------------------------------------------
mkfile "$B2/only2" "in b2"                 # only in the lower writable branch
mkfile "$B1/only1" "in b1"                 # only in the read-only middle
mkfile "$B2/d2/f" "d2 f"                   # a directory only in b2
mkfile "$B1/md/g" "md g"                   # md: in b1 and b2, not in b0
mkfile "$B2/md/f" "md f"
mkfile "$B2/both" "both b2"                # in b2 and below it? no: in b1 and b2
mkfile "$B1/both" "both b1"
mkfile "$B2/deep/a/b/c" "deep c"           # a deep tree in b2 only

t_ok "mount rw0:ro1:rw2" rfs_mount "$M" "dirs=$B0=rw:$B1=ro:$B2=rw"
t_eq "/proc/mounts lists the three branches" "$B0=rw:$B1=ro:$B2=rw" "$(mount_opt "$M" dirs)"
t_ok "each writable branch got its work directory" test -d "$B0/.wh..wh.orph" -a -d "$B2/.wh..wh.orph"
t_ok "... and its pseudo-link directory" test -d "$B0/.wh..wh.plnk" -a -d "$B2/.wh..wh.plnk"
t_ok "the read-only branch got none" test ! -e "$B1/.wh..wh.orph" -a ! -e "$B1/.wh..wh.plnk"

t_errno "append to a file only in the lower rw branch" 0 rfsprobe append "$M/only2" " +x"
t_eq "... is written in place in b2" "in b2 +x" "$(cat "$B2/only2")"
t_ok "... nothing was copied to b0" test ! -e "$B0/only2"
t_eq "... the union shows it" "in b2 +x" "$(cat "$M/only2")"

t_errno "append to a file only in the read-only middle" 0 rfsprobe append "$M/only1" " +y"
t_eq "... is copied up to b0 (the parent's top-most writable branch)" "in b1 +y" "$(cat "$B0/only1")"
t_eq "... b1 is unchanged" "in b1" "$(cat "$B1/only1")"

t_errno "creat in a directory only in b2" 0 rfsprobe creat "$M/d2/new"
t_ok "... goes to b2 (its parent's top)" test -f "$B2/d2/new"
t_ok "... not to b0" test ! -e "$B0/d2"
t_errno "mkdir -p deep inside b2's tree" 0 mkdir -p "$M/deep/a/b/x/y"
t_ok "... in b2" test -d "$B2/deep/a/b/x/y"
t_ok "... b0 has no deep" test ! -e "$B0/deep"

t_errno "append to md/f (md's top b1 is read-only, f is in b2)" 0 rfsprobe append "$M/md/f" " +z"
t_eq "... in place in b2" "md f +z" "$(cat "$B2/md/f")"
t_errno "append to md/g (in b1 only, md's top)" 0 rfsprobe append "$M/md/g" " +w"
t_eq "... copied to b0: no writable branch between md's top and g, so the nearest above" \
	"md g +w" "$(cat "$B0/md/g" 2>&1)"
t_ok "... b2 has no g" test ! -e "$B2/md/g"
t_errno "creat in md (md's top is now b0)" 0 rfsprobe creat "$M/md/new"
t_ok "... goes to b0" test -f "$B0/md/new"
mkfile "$B1/sub/x" "sub x"
mkdir "$B2/sub"
mkfile "$B2/sub/deeper/y" "y"
t_errno "append to sub/deeper/y (sub: b1 and b2; deeper only in b2)" 0 rfsprobe append "$M/sub/deeper/y" " +v"
t_eq "... in place in b2" "y +v" "$(cat "$B2/sub/deeper/y")"
t_eq "md lists everything" "f g new" "$(names "$M/md" | oneline)"

t_errno "unlink of a file in b2 with nothing below" 0 rfsprobe unlink "$M/d2/f"
t_ok "... removed from b2" test ! -e "$B2/d2/f"
t_ok "... no whiteout needed" test ! -e "$B2/d2/.wh.f"
t_errno "unlink of 'both' (b1 and b2; top b1 is read-only)" 0 rfsprobe unlink "$M/both"
t_ok "... whiteout in b0 (where a change of it goes)" test -f "$B0/.wh.both"
t_errno "... the name is gone" ENOENT rfsprobe lstat "$M/both"
t_eq "... b1 and b2 unchanged" "both b1 both b2" "$(cat "$B1/both") $(cat "$B2/both")"

t_errno "rename within b2's directory" 0 rfsprobe rename "$M/d2/new" "$M/d2/renamed"
t_ok "... in b2" test -f "$B2/d2/renamed" -a ! -e "$B2/d2/new"
t_errno "rename of a b2 file into the root (b0 on top of it): from b2" 0 rfsprobe rename "$M/only2" "$M/moved"
t_eq "... in b2" "in b2 +x" "$(cat "$B2/moved" 2>&1)"
t_eq "... the union shows it" "in b2 +x" "$(cat "$M/moved")"
mkfile "$B0/top" "top b0"
t_errno "rename of a b2 file over a name whose top is b0: done in b0" 0 rfsprobe rename "$M/moved" "$M/top"
t_eq "... the union shows the moved data" "in b2 +x" "$(cat "$M/top")"
t_eq "... the file was copied up to b0 and renamed there" "in b2 +x" "$(cat "$B0/top")"
t_ok "... its old name whited out in b0, the original left in b2" test -f "$B0/.wh.moved" -a -f "$B2/moved"
t_errno "... the old name is gone" ENOENT rfsprobe lstat "$M/moved"
t_errno "append to top writes b0's copy" 0 rfsprobe append "$M/top" " +t"
t_eq "... b2's original unchanged" "in b2 +x" "$(cat "$B2/moved")"
mkfile "$B2/two" "two"
ln "$B2/two" "$B2/two2"
t_errno "rename of a b2 file with two links over a b0 name: EXDEV (it would lose its other name)" EXDEV rfsprobe rename "$M/two" "$M/top"
t_ok "mv falls back to copy and remove" mv "$M/two" "$M/top"
t_eq "... the union shows the moved data" "two" "$(cat "$M/top")"
t_eq "... two2 stays" "two" "$(cat "$M/two2")"
mkfile "$B2/held" "held"
mkfile "$B0/top2" "top2"
exec 3<"$M/held"
t_errno "rename of a b2 file open in the union over a b0 name: EXDEV (the open file would stay on b2's)" EXDEV rfsprobe rename "$M/held" "$M/top2"
exec 3<&-
t_errno "... once closed, done in b0" 0 rfsprobe rename "$M/held" "$M/top2"
t_eq "... top2 reads it" "held" "$(cat "$M/top2")"
mkfile "$B2/mapped" "mapped"
rfsprobe mmap-hold "$M/mapped" "$T/ready" &
map_pid=$!
n=0
while [ ! -e "$T/ready" ] && [ "$n" -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
t_errno "rename of a b2 file mapped in the union (its file closed) over a b0 name: EXDEV" EXDEV rfsprobe rename "$M/mapped" "$M/top2"
rm -f "$T/ready"
wait "$map_pid"
t_errno "... once unmapped, done in b0" 0 rfsprobe rename "$M/mapped" "$M/top2"
t_eq "... top2 reads it" "mapped" "$(cat "$M/top2")"
t_errno "link of a b2 file in its own directory" 0 rfsprobe link "$M/d2/renamed" "$M/d2/hard"
t_eq "... a hard link in b2" 2 "$(stat -c %h "$B2/d2/hard")"

drop_caches
t_eq "after drop_caches: root listing" "d2 deep md only1 sub top top2 two2" "$(names "$M" | oneline)"
t_eq "... md/g reads the copy" "md g +w" "$(cat "$M/md/g")"
t_ok "umount" umount "$M"

# --- ro0 : rw1 : ro2, a directory made under its read-only top --------------------------
rm -rf "$B0" "$B1" "$B2" && mkdir "$B0" "$B1" "$B2"
mkfile "$B0/a/top" "a top"                 # a: in ro0 and ro2
mkfile "$B2/a/b/f" "f in b2"               # a/b only in ro2
mkfile "$B0/rootfile" "ro0"
mkfile "$B2/low" "low"
t_ok "mount ro0:rw1:ro2" rfs_mount "$M" "dirs=$B0=ro:$B1=rw:$B2=ro"
t_errno "creat in the root (ro0 on top): EROFS, as AUFS" EROFS rfsprobe creat "$M/new"
t_errno "write to a file of ro0: EROFS" EROFS rfsprobe append "$M/rootfile" x
t_errno "append to low (ro2) goes to rw1" 0 rfsprobe append "$M/low" " +1"
t_eq "... in b1" "low +1" "$(cat "$B1/low")"
t_errno "append to a/b/f (a's top is ro0, b and f in ro2)" 0 rfsprobe append "$M/a/b/f" " +2"
t_eq "... copied to b1 with its directories" "f in b2 +2" "$(cat "$B1/a/b/f" 2>&1)"
t_eq "... the union shows the copy" "f in b2 +2" "$(cat "$M/a/b/f")"
t_eq "a still lists its entries" "b top" "$(names "$M/a" | oneline)"
t_errno "creat in a/b (its top is now rw1)" 0 rfsprobe creat "$M/a/b/new"
t_ok "... in b1" test -f "$B1/a/b/new"
t_errno "unlink of a/b/f" 0 rfsprobe unlink "$M/a/b/f"
t_ok "... whiteout in b1" test -f "$B1/a/b/.wh.f"
t_eq "a/b lists new only" "new" "$(names "$M/a/b" | oneline)"
drop_caches
t_eq "after drop_caches: a/b lists new only" "new" "$(names "$M/a/b" | oneline)"
t_eq "... a lists b top" "b top" "$(names "$M/a" | oneline)"
t_eq "... ro0 and ro2 untouched" "a top|f in b2|low" "$(cat "$B0/a/top")|$(cat "$B2/a/b/f")|$(cat "$B2/low")"
t_ok "umount" umount "$M"

# --- rw0 : ro1 : rw2 : ro3: tdp prefers a writable branch that holds the parent ---------
rm -rf "$B0" "$B1" "$B2" && mkdir "$B0" "$B1" "$B2"
mkdir "$B1/p" "$B2/p"
mkfile "$B3/p/f" "f in b3"
mkfile "$B3/q/f" "q f in b3"
t_ok "mount rw0:ro1:rw2:ro3" rfs_mount "$M" "dirs=$B0=rw:$B1=ro:$B2=rw:$B3=ro"
t_errno "append to p/f (p in b1, b2, b3; f in b3)" 0 rfsprobe append "$M/p/f" " +1"
t_eq "... copied to b2: the top-most writable branch between p's top and f that holds p" \
	"f in b3 +1" "$(cat "$B2/p/f" 2>&1)"
t_ok "... not to b0" test ! -e "$B0/p"
t_errno "append to q/f (q only in b3)" 0 rfsprobe append "$M/q/f" " +2"
t_eq "... copied to b2, the nearest writable branch above it" "q f in b3 +2" "$(cat "$B2/q/f" 2>&1)"
t_errno "creat in q (q's top is now b2)" 0 rfsprobe creat "$M/q/n"
t_ok "... in b2" test -f "$B2/q/n"
t_ok "umount" umount "$M"
rm -rf "$B3" && mkdir "$B3"

# --- three rw branches: placement by the default policy ---------------------------------
rm -rf "$B0" "$B1" "$B2" && mkdir "$B0" "$B1" "$B2"
mkdir "$B1/p1" "$B2/p2"
mkfile "$B2/p2/x" "x"
t_ok "mount rw:rw:rw" rfs_mount "$M" "dirs=$B0=rw:$B1=rw:$B2=rw"
t_errno "creat at the root goes to b0" 0 rfsprobe creat "$M/r"
t_ok "... there" test -f "$B0/r"
t_errno "creat in p1 goes to b1" 0 rfsprobe creat "$M/p1/n"
t_ok "... there" test -f "$B1/p1/n"
t_errno "creat in p2 goes to b2" 0 rfsprobe creat "$M/p2/n"
t_ok "... there" test -f "$B2/p2/n"
t_errno "rmdir of p1 after emptying it" 0 sh -c "rm '$M/p1/n' && rmdir '$M/p1'"
t_ok "... gone from b1, no whiteout needed" test ! -e "$B1/p1" -a ! -e "$B1/.wh.p1" -a ! -e "$B0/.wh.p1"
t_errno "rm -r p2" 0 rm -r "$M/p2"
t_ok "... gone from b2" test ! -e "$B2/p2"
t_eq "root lists r" "r" "$(names "$M" | oneline)"
t_ok "remount: b1 becomes read-only" mount -o "remount,mod:$B1=ro" "$M"
mkfile "$B1/q/z" "z"
t_errno "append to q/z (now in a read-only branch) copies it to b0" 0 rfsprobe append "$M/q/z" " +3"
t_eq "... in b0" "z +3" "$(cat "$B0/q/z" 2>&1)"
t_ok "umount" umount "$M"

# --- rw0 : rw1: a directory whose top is writable lower down moves up -------------------
# (AUFS's au_cpup_dirs: the directory is made in the higher branch with its
# attributes and merges over its old top; issue 17.)
rm -rf "$B0" "$B1" "$B2" && mkdir "$B0" "$B1" "$B2"
mkdir -p "$B1/b/c" "$B0/only0"
chmod 750 "$B1/b/c"
mkfile "$B1/in1" "in b1"
mkfile "$B1/b/c/old" "old"
mkfile "$B1/b/c/gone" "gone"
mkdir "$B1/e" "$B1/m" "$B1/m/e2" "$B0/m" "$B0/op"
: >"$B0/op/.wh..wh..opq"
: >"$B0/m/.wh.n"
mkfile "$B1/full/x" "x"
t_ok "mount rw0:rw1" rfs_mount "$M" "dirs=$B0=rw:$B1=rw"
ino_c=$(stat -c %i "$M/b/c")
t_errno "creat f at the root (b0)" 0 rfsprobe creat "$M/f"
t_errno "rename f into b/c (top b1, writable): b/c moves up to b0" 0 rfsprobe rename "$M/f" "$M/b/c/f"
t_ok "... f is in b0's b/c" test -f "$B0/b/c/f"
t_ok "... b1's b/c stays with its entries" test -f "$B1/b/c/old"
t_eq "... b/c lists f gone old" "f gone old" "$(names "$M/b/c" | oneline)"
t_eq "... the copy has the directory's mode" 750 "$(stat -c %a "$B0/b/c")"
t_eq "... b/c keeps its inode number" "$ino_c" "$(stat -c %i "$M/b/c")"
t_eq "... b/c/old reads" "old" "$(cat "$M/b/c/old")"
t_errno "unlink b/c/gone (in b1): removed in b1" 0 rfsprobe unlink "$M/b/c/gone"
t_ok "... gone from b1, no whiteout in b0" sh -c "test ! -e '$B1/b/c/gone' && test ! -e '$B0/b/c/.wh.gone'"
t_errno "creat b/c/new: in b0 (the directory's top now)" 0 rfsprobe creat "$M/b/c/new"
t_ok "... in b0" test -f "$B0/b/c/new"
mkfile "$B1/b/c/direct" "direct"
t_eq "a name made directly in b1's b/c shows (merged)" "direct" "$(cat "$M/b/c/direct" 2>&1)"
t_errno "link b/c/old to b/c/h: made in b1, where old is (the name shows from there)" 0 rfsprobe link "$M/b/c/old" "$M/b/c/h"
t_eq "... a hard link in b1" 2 "$(stat -c %h "$B1/b/c/h" 2>&1)"
drop_caches
t_eq "after drop_caches: b/c lists direct f h new old" "direct f h new old" "$(names "$M/b/c" | oneline)"
t_eq "... and b lists c" "c" "$(names "$M/b" | oneline)"
t_errno "rename of the empty directory e (top b1) into op (opaque in b0): moves up to b0" 0 rfsprobe rename "$M/e" "$M/op/e"
t_ok "... made in b0 and renamed there, the old name whited out" sh -c "test -d '$B0/op/e' && test -f '$B0/.wh.e' && test -d '$B1/e' && test ! -e '$B1/op'"
t_errno "... e is gone from the root" ENOENT rfsprobe lstat "$M/e"
t_errno "rename of the empty m/e2 (top b1) to m/n, whited out in b0's m: EXDEV (it would move up within one directory)" \
	EXDEV rfsprobe rename "$M/m/e2" "$M/m/n"
t_ok "... nothing moved" sh -c "test -d '$B1/m/e2' && test ! -e '$B0/m/e2' && test ! -e '$B0/m/n'"
t_errno "rename of full (entries in b1) into op: EXDEV (its entries would be below b0)" EXDEV rfsprobe rename "$M/full" "$M/op/full"
t_eq "... full still lists x" "x" "$(names "$M/full" | oneline)"
# A chmod of a directory while it moves up is not lost: the attribute
# changes hold the directory's copy-up lock, under which it moves up (a
# change made to the old upper while the copy is built would go). The
# rename that moves race/rN up and the chmod start together, 60 rounds.
mkdir "$B1/race"
i=0
while [ $i -lt 60 ]; do mkdir -p "$B1/race/r$i/s"; i=$((i + 1)); done
lost=0 i=0
while [ $i -lt 60 ]; do
	rfsprobe creat "$M/rf$i" >/dev/null
	rfsprobe rename "$M/rf$i" "$M/race/r$i/s/f" >/dev/null &
	rfsprobe chmod "$M/race/r$i" 701 >/dev/null
	wait
	[ "$(stat -c %a "$M/race/r$i")" = 701 ] || lost=$((lost + 1))
	i=$((i + 1))
done
t_eq "60 rounds of a chmod while the directory moves up: none lost" 0 "$lost"
t_eq "... every directory moved up (its copy in b0)" 60 "$(ls "$B0/race" | wc -l)"
t_errno "link of a b1 file into a directory only in b0: made in b1" 0 rfsprobe link "$M/in1" "$M/only0/g"
t_eq "... a hard link in b1 (only0 made there, under its top)" 2 "$(stat -c %h "$B1/only0/g" 2>&1)"
t_eq "... only0 lists g" "g" "$(names "$M/only0" | oneline)"
: >"$B0/only0/.wh..wh..opq"
t_errno "an opaque marker added directly in b0's only0 hides b1's part (made by the link)" ENOENT rfsprobe stat "$M/only0/g"
rm "$B0/only0/.wh..wh..opq"
t_eq "... removed again: g is back" "g" "$(names "$M/only0" | oneline)"
drop_caches
t_eq "... also after drop_caches" "g" "$(names "$M/only0" | oneline)"
t_ok "umount" umount "$M"

# --- hard-linked lower files stay one file across writable branches ---------------------
rm -rf "$B0" "$B1" "$B2" && mkdir "$B0" "$B1" "$B2"
mkfile "$B2/p/f" "linked"
mkdir "$B2/q" "$B0/p"
ln "$B2/p/f" "$B2/q/g"
t_ok "mount rw0:rw1:ro2 (p also in b0, q only in b2)" rfs_mount "$M" "dirs=$B0=rw:$B1=rw:$B2=ro"
t_errno "append to p/f" 0 rfsprobe append "$M/p/f" " +1"
t_ok "... copied to b0" test -f "$B0/p/f"
drop_caches
t_errno "append to q/g (the other name) after drop_caches" 0 rfsprobe append "$M/q/g" " +2"
t_eq "... goes to b0 with its pseudo-link, not to b1" "linked +1 +2" "$(cat "$B0/q/g" 2>&1)"
t_ok "... nothing in b1" test ! -e "$B1/q/g"
t_eq "... both names show both writes" "linked +1 +2|linked +1 +2" "$(cat "$M/p/f")|$(cat "$M/q/g")"
t_eq "... one inode number" "$(stat -c %i "$M/p/f")" "$(stat -c %i "$M/q/g")"
t_ok "umount" umount "$M"

# --- a link above the source's copy-up branch copies it once, not a linked file -------------
rm -rf "$B0" "$B1" "$B2" "$B3" && mkdir "$B0" "$B1" "$B2" "$B3"
mkdir "$B2/d" "$B2/e"
mkfile "$B3/d/one" "one"
mkfile "$B3/e/f" "linked"
ln "$B3/e/f" "$B3/e/f2"
: >"$B0/.wh.w"
: >"$B0/.wh.w2"
mkfile "$B3/w" "hidden"
t_ok "mount rw0:ro1:rw2:ro3 (w whited out in b0)" rfs_mount "$M" "dirs=$B0=rw:$B1=ro:$B2=rw:$B3=ro"
t_errno "link d/one (copy-up goes to b2) to w, which shows only from b0: done in b0" 0 rfsprobe link "$M/d/one" "$M/w"
t_ok "... copied once, straight to b0 (d moved up there), nothing in b2" \
	sh -c "test -f '$B0/d/one' && test -f '$B0/w' && test ! -e '$B2/d/one'"
t_eq "... two names of one file" "2 one" "$(stat -c %h "$M/w") $(cat "$M/d/one")"
t_errno "link e/f (hard-linked in b3, copy-up goes to b2) to w2, whited out in b0 too: EXDEV (its other name would stay on another file)" \
	EXDEV rfsprobe link "$M/e/f" "$M/w2"
t_ok "... nothing copied to b0" test ! -e "$B0/e"
t_errno "link e/f to e/g (shows from b2, its copy-up branch): done there" 0 rfsprobe link "$M/e/f" "$M/e/g"
t_ok "... in b2" test -f "$B2/e/g"
t_eq "... e/f, e/f2 and e/g are one file" "$(stat -c %i "$M/e/f") $(stat -c %i "$M/e/f")" \
	"$(stat -c %i "$M/e/f2") $(stat -c %i "$M/e/g")"
t_ok "umount" umount "$M"

# --- creation policies: pooling three writable filesystems ------------------------------
P=$T/pool
mkdir -p "$P/s" "$P/m" "$P/l"
mount -t tmpfs -o size=4m tmpfs "$P/s"
mount -t tmpfs -o size=8m tmpfs "$P/m"
mount -t tmpfs -o size=16m tmpfs "$P/l"
mkdir "$P/s/d"
t_ok "mount three tmpfs, create=mfs:0" rfs_mount "$M" "dirs=$P/s=rw:$P/m=rw:$P/l=rw,create=mfs:0"
t_eq "/proc/mounts shows the policy" "mfs:0" "$(mount_opt "$M" create)"
t_errno "creat at the root" 0 rfsprobe creat "$M/f1"
t_ok "... goes to the branch with the most free space (16 MiB)" test -f "$P/l/f1"
t_errno "creat in d (d only in the 4 MiB branch)" 0 rfsprobe creat "$M/d/f2"
t_ok "... goes to the 16 MiB branch, d made there below its top" test -f "$P/l/d/f2"
t_eq "d lists it" "f2" "$(names "$M/d" | oneline)"
dd if=/dev/zero of="$P/l/fill" bs=1M count=13 2>/dev/null
t_errno "after the 16 MiB branch filled up: creat" 0 rfsprobe creat "$M/f3"
t_ok "... goes to the 8 MiB branch" test -f "$P/m/f3"
drop_caches
t_eq "after drop_caches: d lists f2" "f2" "$(names "$M/d" | oneline)"
t_ok "remount: create=rr" mount -o remount,create=rr "$M"
t_eq "/proc/mounts shows rr" "rr" "$(mount_opt "$M" create)"
for i in 1 2 3 4 5 6; do rfsprobe creat "$M/r$i" >/dev/null; done
t_eq "rr: six files spread two to each branch" "2 2 2" \
	"$(for b in s m l; do ls "$P/$b" | grep -c '^r'; done | oneline)"
t_eq "rr: the union lists all six" "r1 r2 r3 r4 r5 r6" "$(names "$M" | grep '^r' | oneline)"
: >"$P/m/.wh.wh1"
mkfile "$P/l/wh1" "hidden"
t_errno "rr: creat of a name whited out in the 8 MiB branch" 0 rfsprobe creat "$M/wh1"
t_ok "... goes where the whiteout is, or above it" sh -c "test -f '$P/s/wh1' || test -f '$P/m/wh1'"
t_eq "... and shows (empty)" "" "$(cat "$M/wh1")"
t_ok "remount: create=tdp,cpup=bu" mount -o remount,create=tdp,cpup=bu "$M"
t_eq "/proc/mounts: no create (the default), cpup=bu" "|bu" "$(mount_opt "$M" create)|$(mount_opt "$M" cpup)"
t_fail "bad policy at remount fails" mount -o remount,create=mfs:9999 "$M"
t_ok "umount" umount "$M"
umount "$P/s" "$P/m" "$P/l"

# --- a directory whited out in its own branch: nothing below it shows ------------------
# n is in rw b0 and ro+wh b1, and b1 also has .wh.n: the union's n (and n/s)
# merge b0 and b1 only. f is only in rw b2, where n/s would not show (a
# move into b2/n/s would vanish at the next lookup): a rename or link of it
# goes up to b0, where n/s shows, f copied up there first (as AUFS).
W=$T/cut
mkdir -p "$W/b0/n/s" "$W/b1/n/s" "$W/b2" "$W/mnt"
: >"$W/b1/.wh.n"
mkfile "$W/b2/f" "f2"
mkfile "$W/b2/h" "h2"
t_ok "mount rw0:ro+wh1:rw2 (b1 has n and .wh.n)" rfs_mount "$W/mnt" "dirs=$W/b0=rw:$W/b1=ro+wh:$W/b2=rw"
t_eq "n lists s" "s" "$(names "$W/mnt/n" | oneline)"
t_errno "rename f (in b2) into n/s: goes up to b0, where n/s shows" 0 rfsprobe rename "$W/mnt/f" "$W/mnt/n/s/g"
t_ok "... nothing made in b2" test ! -e "$W/b2/n"
t_ok "... b0 whites out f; b2's original stays, hidden" test -f "$W/b0/.wh.f" -a -f "$W/b2/f"
t_errno "... f is gone" ENOENT rfsprobe lstat "$W/mnt/f"
t_errno "link h (in b2) into n: made in b0, h copied up there" 0 rfsprobe link "$W/mnt/h" "$W/mnt/n/h"
t_eq "... one file with two links in b0" "2 2" "$(stat -c %h "$W/b0/h" "$W/b0/n/h" 2>&1 | oneline)"
t_eq "... n/h reads it" "h2" "$(cat "$W/mnt/n/h" 2>&1)"
t_errno "... append through h" 0 rfsprobe append "$W/mnt/h" "+"
t_eq "... n/h sees it" "h2+" "$(cat "$W/mnt/n/h" 2>&1)"
t_eq "... b2's h unchanged" "h2" "$(cat "$W/b2/h" 2>&1)"
drop_caches
t_eq "after drop_caches: n/s/g reads" "f2" "$(cat "$W/mnt/n/s/g" 2>&1)"
t_ok "... the copy is in b0" test -f "$W/b0/n/s/g"
t_eq "after drop_caches: n/h reads" "h2+" "$(cat "$W/mnt/n/h" 2>&1)"
t_ok "umount" umount "$W/mnt"

# --- copy-up policies on rw0:rw1:ro2 ----------------------------------------------------
# all/: a directory in every branch; gap/: in b0 and b2, not in b1. The
# files are in b2 only. Where an append copies them (AUFS's rules):
#   cpup=tdp  all -> b0 (top-most writable branch holding the parent)
#             gap -> b0
#   cpup=bup  all -> b1 (bottom-most writable one holding the parent,
#             gap -> b0  at the object's top or above)
#   cpup=bu   all -> b1 (the nearest writable branch above the object,
#             gap -> b1  its parent made there)
C=$T/cp
mkdir -p "$C/b0/all" "$C/b1/all" "$C/b0/gap" "$C/mnt"
for p in tdp bup bu; do
	mkfile "$C/b2/all/$p" "$p"
	mkfile "$C/b2/gap/$p" "$p"
done
t_ok "mount rw0:rw1:ro2, cpup=tdp" rfs_mount "$C/mnt" "dirs=$C/b0=rw:$C/b1=rw:$C/b2=ro,cpup=tdp"
# where WHICH: the branch holding the copy of $C/mnt/WHICH ("b0 b1" if two).
where() { for b in b0 b1; do [ -f "$C/$b/$1" ] && printf '%s ' "$b"; done | sed 's/ $//'; }
for p in tdp bup bu; do
	[ "$p" = tdp ] || t_ok "remount: cpup=$p" mount -o "remount,cpup=$p" "$C/mnt"
	[ "$p" = tdp ] || t_eq "/proc/mounts: cpup=$p" "$p" "$(mount_opt "$C/mnt" cpup)"
	rfsprobe append "$C/mnt/all/$p" " +" >/dev/null
	rfsprobe append "$C/mnt/gap/$p" " +" >/dev/null
done
t_eq "cpup=tdp: all/ -> b0, gap/ -> b0" "b0|b0" "$(where all/tdp)|$(where gap/tdp)"
t_eq "cpup=bup: all/ -> b1, gap/ -> b0" "b1|b0" "$(where all/bup)|$(where gap/bup)"
t_eq "cpup=bu: all/ -> b1, gap/ -> b1" "b1|b1" "$(where all/bu)|$(where gap/bu)"
t_ok "cpup=bu: gap made in b1 for it" test -d "$C/b1/gap"
t_eq "the union shows every write" "tdp +|bup +|bu +|tdp +|bup +|bu +" \
	"$(for d in all gap; do for p in tdp bup bu; do cat "$C/mnt/$d/$p"; echo; done; done | tr '\n' '|' | sed 's/|$//')"
t_eq "the read-only branch is unchanged" "tdp bup bu" "$(for p in tdp bup bu; do cat "$C/b2/all/$p"; echo; done | oneline)"
drop_caches
t_eq "after drop_caches: gap lists the three" "bu bup tdp" "$(names "$C/mnt/gap" | oneline)"
t_ok "umount" umount "$C/mnt"

# --- creation policies with watermarks: tdmfs, pmfs, pmfsrr, mfsrr ---------------------
# The three tmpfs again, fresh for each policy: s 4 MiB, m 8 MiB, l 16 MiB.
# Free space is measured at each creation (SEC 0). MiB: 1048576 bytes.
pool() {
	umount "$M" 2>/dev/null
	umount "$P/s" "$P/m" "$P/l" 2>/dev/null
	mount -t tmpfs -o size=4m tmpfs "$P/s"
	mount -t tmpfs -o size=8m tmpfs "$P/m"
	mount -t tmpfs -o size=16m tmpfs "$P/l"
	for d in "$@"; do mkdir -p "$P/$d"; done
}
# placed NAME: the branches (s m l) holding the file NAME.
placed() { for b in s m l; do [ -f "$P/$b/$1" ] && printf '%s ' "$b"; done | sed 's/ $//'; }
fill() { dd if=/dev/zero of="$P/$1/fill" bs=1M count="$2" 2>/dev/null; }

# tdmfs:LOW: the top-most writable branch down to the parent's bottom one
# with more than LOW free, else the one with the most free space.
pool
t_ok "mount the pool, create=tdmfs:6291456:0" rfs_mount "$M" "dirs=$P/s=rw:$P/m=rw:$P/l=rw,create=tdmfs:6291456:0"
t_eq "/proc/mounts: tdmfs:6291456:0" "tdmfs:6291456:0" "$(mount_opt "$M" create)"
rfsprobe creat "$M/t1" >/dev/null
t_eq "tdmfs: s (4 MiB) is under LOW (6 MiB): m, the next one down" "m" "$(placed t1)"
fill m 3
rfsprobe creat "$M/t2" >/dev/null
t_eq "tdmfs: m filled to ~5 MiB free: l" "l" "$(placed t2)"
fill l 13
rfsprobe creat "$M/t3" >/dev/null
t_eq "tdmfs: all under LOW: the most free (m ~5 MiB)" "m" "$(placed t3)"

# pmfs: tdp's branch, or one holding the parent with more free space.
pool s/pd m/pd s/qd
t_ok "mount the pool, create=pmfs:0" rfs_mount "$M" "dirs=$P/s=rw:$P/m=rw:$P/l=rw,create=pmfs:0"
rfsprobe creat "$M/pd/x" >/dev/null
t_eq "pmfs: pd in s and m: m (more free), not l (no pd)" "m" "$(placed pd/x)"
t_ok "pmfs: pd not made in l" test ! -e "$P/l/pd"
rfsprobe creat "$M/qd/x" >/dev/null
t_eq "pmfs: qd only in s: s" "s" "$(placed qd/x)"
t_eq "pmfs: the root holds all: l, the most free" "l" "$(rfsprobe creat "$M/r" >/dev/null; placed r)"

# pmfsrr:LOW: pmfs among the parent's branches; under LOW, mfsrr.
t_ok "remount: create=pmfsrr:10485760:0" mount -o remount,create=pmfsrr:10485760:0 "$M"
t_eq "/proc/mounts: pmfsrr:10485760:0" "pmfsrr:10485760:0" "$(mount_opt "$M" create)"
rfsprobe creat "$M/pd/y" >/dev/null
t_eq "pmfsrr: m (8 MiB) under LOW (10 MiB): l, the most free, pd made there" "l" "$(placed pd/y)"
t_eq "pd lists x and y" "x y" "$(names "$M/pd" | oneline)"

# mfsrr:LOW: the most free; when that is under LOW, round-robin.
pool
t_ok "mount the pool, create=mfsrr:10485760:0" rfs_mount "$M" "dirs=$P/s=rw:$P/m=rw:$P/l=rw,create=mfsrr:10485760:0"
rfsprobe creat "$M/u1" >/dev/null
t_eq "mfsrr: l (16 MiB) over LOW: l" "l" "$(placed u1)"
fill l 13
for i in 2 3 4; do rfsprobe creat "$M/u$i" >/dev/null; done
t_eq "mfsrr: all under LOW: round-robin, one in each" "1 1 1" \
	"$(for b in s m l; do ls "$P/$b" | grep -c '^u[234]$'; done | oneline)"
t_ok "umount" umount "$M"
umount "$P/s" "$P/m" "$P/l"

# --- a promotion never leaves an open file on the old upper ------------------------------
# pr is in rw b0 and rw b2; each round, pr/fR (only in b2, 64 KiB so its
# copy takes a while) is appended to by a writer that holds it open for N
# one-byte writes, closes it and opens it again, until the name is gone
# (rfsprobe append-loop), while it is renamed over pr/tR (in b0): the
# rename copies it up to b0 first, which a file open in the union forbids
# (EXDEV, retried until the writer is between two opens). Every byte
# written must be in the renamed file: one written to a file left open on
# b2's original after the copy would be lost. N is 1, 10 or 100 (short,
# medium and long holds), 30 rounds each. The writer pauses 1 ms between a
# close and the next open: on two CPUs a writer that reopens at once is
# almost never between two opens, and the renames would be refused for
# ever. A round that still gets no rename done in 60 s stops its writer
# (and counts as failed) rather than wait for it.
R=$T/race
mkdir -p "$R/b0/pr" "$R/b2/pr" "$R/mnt"
t_ok "mount rw0:rw2 for the race" rfs_mount "$R/mnt" "dirs=$R/b0=rw:$R/b2=rw"
lost=0 exdev=0 failed=0
r=0
while [ "$r" -lt 90 ]; do
	case $((r % 3)) in 0) per=1 ;; 1) per=10 ;; *) per=100 ;; esac
	head -c 65536 /dev/zero >"$R/b2/pr/f$r"
	: >"$R/b0/pr/t$r"
	rfsprobe append-loop "$R/mnt/pr/f$r" "$R/n$r" "$per" 1000 &
	writer=$!
	give_up=$(($(date +%s) + 60))
	while :; do
		e=$(rfsprobe rename "$R/mnt/pr/f$r" "$R/mnt/pr/t$r" 2>&1 | head -1)
		case $e in
		EXDEV*) exdev=$((exdev + 1)) ;;
		*) break ;;
		esac
		[ "$(date +%s)" -lt "$give_up" ] || { e="$e (still, after 60 s)"; kill "$writer"; break; }
	done
	wait "$writer"
	[ -z "$e" ] || { failed=$((failed + 1)); diag "round $r: rename: $e"; }
	size=$(stat -c %s "$R/mnt/pr/t$r" 2>/dev/null || echo 0)
	if [ "$size" -ne $((65536 + $(cat "$R/n$r" 2>/dev/null || echo -1))) ]; then
		lost=$((lost + 1))
		diag "round $r: $(cat "$R/n$r" 2>&1) bytes appended, t$r has $((size - 65536))"
	fi
	r=$((r + 1))
done
diag "race: $exdev renames refused while the file was open"
t_eq "90 rounds: every rename done in the end" 0 "$failed"
t_eq "... and no append lost" 0 "$lost"
t_ok "... some renames met an open file (the window was hit)" test "$exdev" -gt 0
t_ok "umount" umount "$R/mnt"
t_done
