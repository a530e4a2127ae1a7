#!/bin/sh
# xino.sh: persistent inode numbers (issue 4, "xino"): the default xino file
# in the writable branch, xino=PATH, noxino, trunc_xino; st_ino stable across
# copy-up, drop_caches and umount + mount; sysfs xi_path and xino.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2 M=$T/mnt
mkdir "$M"
mkfile "$B1/a" "a"
mkfile "$B1/dir/b" "b"
mkfile "$B2/c" "c"
mkfile "$B0/u" "u"
OPTS="dirs=$B0=rw:$B1=ro+wh:$B2=ro"

inos() { for p in a dir dir/b c u; do printf '%s ' "$(rfsprobe inode-of "$M/$p")"; done; }

rfs_mount "$M" "$OPTS"
S=/sys/fs/rfs/si_$(mount_si "$M")
first=$(inos)
diag "inode numbers: $first"
t_ok "default: the xino file is .wh..wh.xino in the rw branch" [ -f "$B0/.wh..wh.xino" ]
t_eq "default: sysfs xi_path names it" "$B0/.wh..wh.xino" "$(cat "$S/xi_path")"
t_fail "default: the xino file is not visible in the union" [ -e "$M/.wh..wh.xino" ]
t_eq "default: not listed by readdir" "" "$(names "$M" | grep xino)"
t_eq "default: /proc/mounts shows no xino option" "" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
set -- $(cat "$S/xino")
t_ok "sysfs xino: entries and file size ($*)" [ "$1" -ge 5 ]
t_eq "sysfs xino: the size is a 16-byte header plus 24 bytes per entry" $((16 + 24 * $1)) "$2"
t_eq "sysfs xino: the size is the file's" "$2" "$(stat -c %s "$B0/.wh..wh.xino")"
echo 2 >/proc/sys/vm/drop_caches
t_eq "st_ino stable after drop_caches" "$first" "$(inos)"
echo more >>"$M/a"
t_ok "a is copied up" [ -f "$B0/a" ]
t_eq "st_ino stable across copy-up" "$first" "$(inos)"
echo 2 >/proc/sys/vm/drop_caches
t_eq "st_ino stable across copy-up and drop_caches" "$first" "$(inos)"
umount "$M"
rfs_mount "$M" "$OPTS"
t_eq "st_ino stable across umount + mount with the same xino file" "$first" "$(inos)"
mkfile "$B1/new" "new"
n1=$(rfsprobe inode-of "$M/new")
t_ok "a new object gets a number no other object has ($n1)" sh -c "! echo '$first' | tr ' ' '\n' | grep -qx '$n1'"
umount "$M"

# trunc_xino: the numbers start afresh
rfs_mount "$M" "$OPTS,trunc_xino"
t_eq "trunc_xino: the file is started afresh (first entry is the first looked up)" "11" "$(rfsprobe inode-of "$M/c")"
umount "$M"

# noxino: in memory only
rfs_mount "$M" "$OPTS,noxino"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "noxino: xi_path is empty" "" "$(cat "$S/xi_path")"
t_eq "noxino: /proc/mounts shows noxino" "noxino" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
t_eq "noxino: numbers still unique" 5 "$(inos | tr ' ' '\n' | grep . | sort -u | wc -l | tr -d ' ')"
t_eq "noxino: sysfs xino shows no file" 0 "$(cut -d' ' -f2 "$S/xino")"
umount "$M"

# xino=PATH outside the branches
X=$T/xino-file
rfs_mount "$M" "$OPTS,xino=$X"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_ok "xino=PATH: the file is created" [ -f "$X" ]
t_eq "xino=PATH: sysfs xi_path" "$X" "$(cat "$S/xi_path")"
t_eq "xino=PATH: /proc/mounts shows it" "xino=$X" "$(mount_opts "$M" | tr , '\n' | grep -E '^(no)?xino')"
second=$(inos)
umount "$M"
rfs_mount "$M" "$OPTS,xino=$X"
t_eq "xino=PATH: st_ino stable across umount + mount" "$second" "$(inos)"
umount "$M"

# a file that is not an xino file is started afresh; the mount works
echo "garbage garbage garbage" >"$X"
rfs_mount "$M" "$OPTS,xino=$X"
t_eq "a damaged xino file: the mount works and objects stat" 5 "$(inos | tr ' ' '\n' | grep -c '^[0-9]')"
umount "$M"
t_errno "xino=PATH that is a directory is refused (EISDIR)" EISDIR rfsprobe mount rfs none "$M" "$OPTS,xino=$T"
is_mounted "$M" && umount "$M"

# no rw branch: in memory
rfs_mount "$M" "dirs=$B1=ro:$B2=ro"
S=/sys/fs/rfs/si_$(mount_si "$M")
t_eq "no rw branch: the map lives in memory (xi_path empty)" "" "$(cat "$S/xi_path")"
umount "$M"
t_done
