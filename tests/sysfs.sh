#!/bin/sh
# sysfs.sh: /sys/fs/rfs/si_<id>/ per mount (issue 2, "Module behaviour" 8):
# brN is path=perm, bridN the branch id (64, 65, ... as AUFS), si= in
# /proc/mounts names the directory, removed at umount, one per mount.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 4
M=$T/mnt M2=$T/mnt2
mkdir "$M" "$M2" "$T/x,y"

rfs_mount "$M" "dirs=$T/b0:$T/b1=ro+wh:$T/b2=rr:$T/b3"
si=$(mount_si "$M")
S=/sys/fs/rfs/si_$si
t_ok "si=$si from /proc/mounts names a sysfs directory" [ -d "$S" ]
t_eq "si_ holds br0..3 and brid0..3" "br0 br1 br2 br3 brid0 brid1 brid2 brid3" \
	"$(ls "$S" | grep '^br' | sort | oneline)"
t_eq "br0" "$T/b0=rw" "$(cat "$S/br0")"
t_eq "br1" "$T/b1=ro+wh" "$(cat "$S/br1")"
t_eq "br2" "$T/b2=rr" "$(cat "$S/br2")"
t_eq "br3 (default perm)" "$T/b3=ro" "$(cat "$S/br3")"
ids=$(cat "$S/brid0" "$S/brid1" "$S/brid2" "$S/brid3" | oneline)
t_eq "brid0..3 are distinct numbers" 4 "$(echo "$ids" | tr ' ' '\n' | grep -E '^[0-9]+$' | sort -u | wc -l | tr -d ' ')"
t_eq "brid0..3 start at 64 as AUFS's do" "64 65 66 67" "$ids"
t_eq "br0 is read-only (0444)" "-r--r--r--" "$(ls -l "$S/br0" | cut -c1-10)"
t_fail "writing br0 fails" sh -c "echo x > '$S/br0'"

# mount(2) directly: busybox mount would split the option string at the comma
r=$(rfsprobe mount rfs none "$M2" "dirs=$T/x\\,y=ro:$T/b3=ro")
t_eq "mount with an escaped comma in a branch path" "" "$r"
si2=$(mount_si "$M2")
t_ok "a second mount has its own si ($si2 vs $si)" [ -n "$si2" ] && [ "$si2" != "$si" ]
t_eq "second mount: br0 with a comma in the path" "$T/x,y=ro" "$(cat "/sys/fs/rfs/si_$si2/br0")"
t_eq "second mount: two branches" "br0 br1 brid0 brid1" "$(ls "/sys/fs/rfs/si_$si2" | grep '^br' | sort | oneline)"
t_eq "the first mount's files are unchanged" "$T/b0=rw" "$(cat "$S/br0")"

# Holding a sysfs file open across umount must not keep anything alive.
exec 3<"$S/br1"
umount "$M"
t_fail "si_ directory removed at umount" [ -e "$S" ]
t_fail "reading a br file opened before umount fails cleanly" sh -c 'cat <&3 >/dev/null'
exec 3<&-
t_ok "the other mount's directory stays" [ -d "/sys/fs/rfs/si_$si2" ]
umount "$M2"
t_eq "no si_ directory left" "" "$(ls /sys/fs/rfs | grep '^si_' | oneline)"
# --- rfs's counters: copyups, copyup_bytes, whiteouts, lookups (one line per branch) ----------
mkfile "$T/b1/lowerfile" "0123456789"
mkfile "$T/b1/doomed" "x"
rfs_mount "$M" "dirs=$T/b0:$T/b1=ro+wh"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "counters start at zero" "0 0 0" "$(cat "$S/copyups") $(cat "$S/copyup_bytes") $(cat "$S/whiteouts")"
t_eq "lookups: one line per branch" 2 "$(wc -l <"$S/lookups" | tr -d ' ')"
cat "$M/lowerfile" >/dev/null
t_ok "lookups counted in both branches" sh -c "[ \$(sed -n 1p $S/lookups) -gt 0 ] && [ \$(sed -n 2p $S/lookups) -gt 0 ]"
echo more >>"$M/lowerfile"
t_eq "one copy-up counted" 1 "$(cat "$S/copyups")"
t_eq "its bytes counted (the lower file's size)" 10 "$(cat "$S/copyup_bytes")"
rm "$M/doomed"
t_eq "one whiteout counted" 1 "$(cat "$S/whiteouts")"
umount "$M"
t_done
