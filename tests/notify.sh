#!/bin/sh
# notify.sh: udba=notify (issue 17): fsnotify marks on the branch
# directories of cached union directories; a change made directly in a
# branch shows at the next walk, with no stamp compare of every member.
#
# Mounted b0=rw b1=ro+wh b2=ro b3=ro with udba=notify, as lookup.sh's
# direct changes are checked with reval:
# - names created, removed, renamed directly in a branch, in the root, in
#   merged and in unmerged directories, also after a negative lookup;
# - a whiteout removed directly; opaque markers added and removed directly
#   (the directory's own members changed); a plain ro branch's marker
#   changes nothing;
# - a directory made directly in a lower branch merges into a cached union
#   directory; a directory removed directly;
# - 200 rounds of create/stat/remove/stat directly, each seen at once;
# - changes through the union (copy-up of directories, rename) and direct
#   changes after them (the copied-up directory is watched too);
# - a remount (append, del of a branch with cached directories) and direct
#   changes in the new branch; udba cannot be changed by remount;
# - a branch that is itself a union (its dentries revalidate themselves):
#   checked the reval way;
# - umount and a second mount (the marks went: kmemleak and the runner's
#   rmmod check that nothing stays).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 5
B0=$T/b0 B1=$T/b1 B2=$T/b2 B3=$T/b3 E=$T/b4
M=$T/mnt
mkdir "$M"
cat_u() { rfsprobe read-cat "$M/$1"; }

mkfile "$B1/d/x1" "x1"
mkfile "$B2/d/x2" "x2"
mkfile "$B3/only3/f" "f3"
mkfile "$B1/revive" "revive-b1"
: >"$B0/.wh.revive"
mkfile "$B2/vanish" "vanish-b2"
mkfile "$B1/vdir/keep" "keep"
mkfile "$B0/mko/m0" "m0"
mkfile "$B1/mko/m1" "m1"
mkfile "$B0/mko1/n0" "n0"
mkfile "$B1/mko1/n1" "n1"
mkfile "$B2/mko1/n2" "n2"
mkfile "$B3/mko1/sub/n3" "n3"
mkfile "$B2/roop/r2" "r2"
mkfile "$B3/roop/r3" "r3"
mkfile "$B1/late1dir/a" "a"
mkfile "$E/e/ef" "ef"

t_ok "mount udba=notify" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro:$B3=ro,udba=notify"
t_eq "/proc/mounts shows udba=notify" "notify" "$(mount_opt "$M" udba)"

# --- names created, removed, renamed directly ------------------------------------------
t_errno "not there yet (negative dentry cached)" ENOENT rfsprobe stat "$M/late"
t_errno "not there yet in merged d" ENOENT rfsprobe stat "$M/d/late"
t_errno "not there yet in unmerged only3" ENOENT rfsprobe stat "$M/only3/late"
mkfile "$B2/late" "late-b2"
mkfile "$B3/d/late" "late-b3"
mkfile "$B3/only3/late" "late-only3"
t_eq "created directly in b2: found" "late-b2" "$(cat_u late)"
t_eq "created directly in b3 under merged d: found" "late-b3" "$(cat_u d/late)"
t_eq "created directly in unmerged only3: found" "late-only3" "$(cat_u only3/late)"
t_eq "d lists it" "late x1 x2" "$(names "$M/d" | oneline)"
t_errno "whited out" ENOENT rfsprobe stat "$M/revive"
rm "$B0/.wh.revive"
t_eq "the whiteout removed directly in b0: b1's file shows" "revive-b1" "$(cat_u revive)"
t_eq "vanish shows" "vanish-b2" "$(cat_u vanish)"
rm "$B2/vanish"
t_errno "removed directly: gone" ENOENT rfsprobe stat "$M/vanish"
t_eq "only3/f shows" "f3" "$(cat_u only3/f)"
mv "$B3/only3/f" "$B3/only3/g"
t_errno "renamed directly: the old name is gone" ENOENT rfsprobe stat "$M/only3/f"
t_eq "... the new one shows" "f3" "$(cat_u only3/g)"
t_eq "vdir lists keep" "keep" "$(names "$M/vdir" | oneline)"
rm -r "$B1/vdir"
t_errno "a directory removed directly: gone" ENOENT rfsprobe stat "$M/vdir/keep"
t_errno "... and its name" ENOENT rfsprobe stat "$M/vdir"
t_eq "late1dir: only b1's" "a" "$(names "$M/late1dir" | oneline)"
mkfile "$B2/late1dir/b" "b"
t_eq "a directory made directly in b2 merges into cached late1dir" "a b" "$(names "$M/late1dir" | oneline)"
t_eq "... and its file reads" "b" "$(cat_u late1dir/b)"

# --- opaque markers --------------------------------------------------------------------
t_eq "mko merged" "m0 m1" "$(names "$M/mko" | oneline)"
t_eq "mko/m1 reads" "m1" "$(cat_u mko/m1)"
: >"$B0/mko/.wh..wh..opq"
t_errno "an opaque marker added directly in rw b0 hides b1's mko/m1" ENOENT rfsprobe stat "$M/mko/m1"
t_eq "mko lists only b0" "m0" "$(names "$M/mko" | oneline)"
t_eq "mko1 merged from b0-b3" "n0 n1 n2 sub" "$(names "$M/mko1" | oneline)"
t_eq "mko1/sub/n3 reads" "n3" "$(cat_u mko1/sub/n3)"
: >"$B1/mko1/.wh..wh..opq"
t_errno "a marker added directly in ro+wh b1 hides b2's entries" ENOENT rfsprobe stat "$M/mko1/n2"
t_errno "... and b3's cached subdirectory" ENOENT rfsprobe stat "$M/mko1/sub/n3"
t_eq "... the listing goes down to b1" "n0 n1" "$(names "$M/mko1" | oneline)"
rm "$B1/mko1/.wh..wh..opq"
t_eq "the marker removed again: b3's subdirectory is back" "n3" "$(cat_u mko1/sub/n3)"
t_eq "roop merged" "r2 r3" "$(names "$M/roop" | oneline)"
: >"$B2/roop/.wh..wh..opq"
t_eq "a marker added directly in plain ro b2 changes nothing" "r3" "$(cat_u roop/r3)"

# --- every change seen at once ---------------------------------------------------------
miss=0
i=0
while [ "$i" -lt 200 ]; do
	: >"$B2/d/r$i"
	rfsprobe stat "$M/d/r$i" >/dev/null 2>&1 || miss=$((miss + 1))
	rm "$B2/d/r$i"
	rfsprobe stat "$M/d/r$i" >/dev/null 2>&1 && miss=$((miss + 1))
	i=$((i + 1))
done
t_eq "200 rounds: each direct create and remove seen by the next stat" 0 "$miss"

# --- through the union, then directly ----------------------------------------------------
t_errno "creat d/new through the union (copies d up)" 0 rfsprobe creat "$M/d/new"
t_ok "... d is in b0 now" test -d "$B0/d"
mkfile "$B0/d/direct0" "direct0"
t_eq "a file made directly in the copied-up b0/d shows" "direct0" "$(cat_u d/direct0)"
mkfile "$B1/d/direct1" "direct1"
t_eq "... and one made directly in b1/d" "direct1" "$(cat_u d/direct1)"
t_errno "rename d/new to d/renamed through the union" 0 rfsprobe rename "$M/d/new" "$M/d/renamed"
t_eq "d lists" "direct0 direct1 late renamed x1 x2" "$(names "$M/d" | oneline)"
rm "$B0/d/direct0"
t_errno "removed directly from b0/d: gone" ENOENT rfsprobe stat "$M/d/direct0"
own_members_cases "$M" "$B0" "$B1"

# --- remount -----------------------------------------------------------------------------
t_errno "not there yet: e" ENOENT rfsprobe stat "$M/e"
t_ok "remount: append b4" mount -o "remount,append:$E=ro" "$M"
t_eq "... its directory shows" "ef" "$(cat_u e/ef)"
mkfile "$E/e/later" "later"
t_eq "a file made directly in the new branch shows" "later" "$(cat_u e/later)"
mkfile "$E/rootlater" "rootlater"
t_eq "... and one at its root (the root's marks follow the remount)" "rootlater" "$(cat_u rootlater)"
t_eq "mko1 cached with b3's members" "n3" "$(cat_u mko1/sub/n3)"
t_ok "remount: del b3" mount -o "remount,del:$B3" "$M"
t_errno "... its files are gone" ENOENT rfsprobe stat "$M/mko1/sub/n3"
mkfile "$B2/mko1/after" "after"
t_eq "a file made directly in b2 after the del shows" "after" "$(cat_u mko1/after)"
t_fail "remount: udba=reval is refused (notify is not turned off)" mount -o remount,udba=reval "$M"
t_eq "... udba stays notify" "notify" "$(mount_opt "$M" udba)"
t_ok "remount: udba=notify again is fine" mount -o remount,udba=notify "$M"
t_ok "umount" umount "$M"

# --- a branch that revalidates its own dentries ------------------------------------------
# An inner rfs union (reval) as the outer one's branch: a file made directly
# in the inner union's branch gives no event on the inner union's
# directory, so the outer union checks such directories the reval way.
mkdir -p "$T/x/sub" "$T/inner" "$T/o0" "$T/outer"
t_ok "inner union (reval) over x" rfs_mount "$T/inner" "dirs=$T/x=rw"
t_ok "outer union (notify) over o0=rw and the inner union" rfs_mount "$T/outer" "dirs=$T/o0=rw:$T/inner=ro,udba=notify"
t_errno "outer: not there yet" ENOENT rfsprobe stat "$T/outer/sub/deep"
mkfile "$T/x/sub/deep" "deep"
t_eq "made directly in the inner union's branch: the inner union shows it" "deep" "$(cat "$T/inner/sub/deep" 2>&1)"
t_eq "... and the outer one" "deep" "$(cat "$T/outer/sub/deep" 2>&1)"
t_ok "umount outer" umount "$T/outer"
t_ok "umount inner" umount "$T/inner"

# --- again, on a deep stack --------------------------------------------------------------
t_ok "mount again udba=notify" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro,udba=notify"
t_eq "d reads as before (without b3)" "direct1 renamed x1 x2" "$(names "$M/d" | oneline)"
mkfile "$B2/d/again" "again"
t_eq "a direct change shows" "again" "$(cat_u d/again)"
t_ok "umount" umount "$M"
t_done
