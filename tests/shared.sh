#!/bin/sh
# shared.sh: two unions with the same writable branch (src/workdir.rs).
#
# Both may be mounted (AUFS allows it). Only the first mount of a writable
# branch cleans its work directory: a second one must not delete what the
# first one has in flight there (simulated by a file put in the work
# directory after the first mount). A mount that shares the branch keeps its
# inode numbers in memory instead of writing the first one's xino file.
# Copy-ups through both unions work and land in the shared branch, with
# either one umounted first. A remount that moves branch 0 away stops using
# the old work directory, but a mount keeps using the xino file it opened;
# once no mount uses the branch, the next mount cleans again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt M2=$T/mnt2 M3=$T/mnt3
mkdir "$M" "$M2" "$M3"
W=$B0/.wh..wh.orph
for f in a b c d e; do mkfile "$B1/$f" "lower $f"; done
OPTS="dirs=$B0=rw:$B1=ro+wh"

t_ok "first mount of b0" rfs_mount "$M" "$OPTS"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "the first mount keeps its inode numbers in the default xino file" "$B0/.wh..wh.xino" "$(cat "$S/xi_path")"
mkfile "$W/in-flight" "a temporary of the first mount"
t_ok "a second union with the same writable branch mounts" rfs_mount "$M2" "$OPTS"
S2=/sys/fs/rfs/si_$(mount_si "$M2")
t_eq "the second mount did not clean the work directory the first one uses" \
	"a temporary of the first mount" "$(cat "$W/in-flight" 2>&1)"
t_eq "the second mount keeps its inode numbers in memory (xi_path empty)" "" "$(cat "$S2/xi_path")"
t_eq "/proc/mounts of the second mount shows no xino option all the same" "" \
	"$(mount_opts "$M2" | tr , '\n' | grep -E '^(no)?xino')"
t_ok "a third mount, with a read-only union, mounts too" rfs_mount "$M3" "dirs=$B1=ro:$B0=rw"
t_eq "... and leaves the work directory alone" "a temporary of the first mount" "$(cat "$W/in-flight" 2>&1)"
t_ok "umount of the read-only union" umount "$M3"

t_errno "copy-up through the first union" 0 rfsprobe append "$M/a" " +1"
t_errno "copy-up through the second union" 0 rfsprobe append "$M2/b" " +2"
t_eq "the first union's copy is in the shared branch" "lower a +1" "$(cat "$B0/a")"
t_eq "the second union's copy is in the shared branch" "lower b +2" "$(cat "$B0/b")"
t_eq "the second union sees the first one's copy-up" "lower a +1" "$(cat "$M2/a")"
t_eq "the first union sees the second one's copy-up" "lower b +2" "$(cat "$M/b")"
t_eq "no temporaries of the copy-ups are left" "in-flight" "$(ls -A "$W" | oneline)"

t_ok "umount of the first mount while the second one lives" umount "$M"
t_errno "copy-up through the second union after that" 0 rfsprobe append "$M2/c" " +3"
t_eq "... lands in the branch" "lower c +3" "$(cat "$B0/c")"
t_ok "mount of b0 again beside the second union" rfs_mount "$M" "$OPTS"
t_eq "... does not clean: the second union still uses the work directory" \
	"a temporary of the first mount" "$(cat "$W/in-flight" 2>&1)"
t_ok "umount of both" sh -c "umount '$M' && umount '$M2'"

t_ok "a mount of b0 alone" rfs_mount "$M" "$OPTS"
t_eq "... cleans the work directory again (no other mount uses it)" "" "$(ls -A "$W" 2>&1)"
mkfile "$W/in-flight" "again"
t_ok "a second union with the same writable branch" rfs_mount "$M2" "$OPTS"
t_ok "remount of the first one: branch 0 becomes b2" mount -o "remount,prepend:$B2=rw" "$M"
t_eq "the first mount now has b2 as branch 0" "$B2=rw:$B0=rw:$B1=ro+wh" "$(mount_opt "$M" dirs)"
t_errno "copy-up through the first union goes to b2" 0 rfsprobe append "$M/d" " +4"
t_eq "... there" "lower d +4" "$(cat "$B2/d" 2>&1)"
t_ok "umount of the second union" umount "$M2"
t_ok "a new mount of b0" rfs_mount "$M2" "$OPTS"
S2=/sys/fs/rfs/si_$(mount_si "$M2")
t_eq "... does not clean: the first union still writes its xino file in b0" "again" "$(cat "$W/in-flight" 2>&1)"
t_eq "... and keeps its own inode numbers in memory" "" "$(cat "$S2/xi_path")"
t_ok "umount of both" sh -c "umount '$M' && umount '$M2'"
t_ok "b0 is no longer in use: a new mount of it" rfs_mount "$M2" "$OPTS"
t_eq "... cleans its work directory" "" "$(ls -A "$W" 2>&1)"
t_errno "copy-up through it" 0 rfsprobe append "$M2/e" " +5"
t_eq "... lands in b0" "lower e +5" "$(cat "$B0/e")"
t_ok "umount" umount "$M2"
t_done
