#!/bin/sh
# mount.sh: mount options, branch permissions, escaping, rejected mounts,
# /proc/mounts round trip, branch counts, stacking depth, statfs and st_dev
# (issue 2, "Mounting" and "Superblock").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
cd "$T" || exit 1                 # relative-path rejection tests resolve here
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
M2=$T/mnt2
mkdir "$M" "$M2"
for i in 0 1 2; do
	mkfile "$T/b$i/f$i" "$i"
	mkfile "$T/b$i/common" "$i"
done
mkdir "$B0/sub"
mkfile "$T/afile" "not a directory"
ln -s b0 "$T/b0link"

# dirs_of MNT: the dirs= value /proc/mounts shows for MNT (unescaped from
# /proc/mounts' octal escapes; rfs's own backslash escapes kept).
dirs_of() {
	mount_opt "$1" dirs
}

# reuse_opts MNT: MNT's options from /proc/mounts as a mount(2) data
# string: generic flags (rw, relatime, ...) and the si= id dropped.
reuse_opts() {
	mount_opts "$1" | unoctal | split_opts |
		grep -v -x -e rw -e ro -e relatime -e noatime -e strictatime -e nosuid -e nodev \
			-e noexec -e 'si=.*' | tr '\n' ',' | sed 's/,$//'
}

# roundtrip DESC MNT: mount again at $M2 with MNT's options as /proc/mounts
# shows them; the branch list must come out identical.
roundtrip() {
	_rt_o=$(reuse_opts "$2")
	_rt_r=$(rfsprobe mount rfs none "$M2" "$_rt_o")
	t_eq "$1: remounting with the options from /proc/mounts works" "" "$_rt_r"
	t_eq "$1: ... and gives the same branch list" "$(dirs_of "$2")" "$(dirs_of "$M2")"
	is_mounted "$M2" && umount "$M2"
}

# mount_check DESC OPTS EXPECTED_DIRS: mount OPTS (busybox mount), compare
# the dirs= value shown in /proc/mounts, check files of all branches are
# visible, round-trip the options, umount.
mount_check() {
	rfs_mount "$M" "$2"
	t_eq "$1: /proc/mounts shows dirs=$3" "$3" "$(dirs_of "$M")"
	t_eq "$1: files of every branch visible, top-most wins" "common f0 f1 f2 sub 0" \
		"$(names "$M" | oneline) $(cat "$M/common")"
	roundtrip "$1" "$M"
	t_ok "$1: umount" umount "$M"
}

# --- accepted forms ---------------------------------------------------------------------
rfs_mount "$M" "dirs=$B0:$B1:$B2"
line=$(mount_line "$M")
diag "/proc/mounts: $line"
t_eq "/proc/mounts: source none, type rfs, dump/pass 0 0" "none rfs 0 0" \
	"$(echo "$line" | awk '{ print $1, $3, $5, $6 }')"
t_eq "/proc/mounts: options start with the generic rw,relatime" "rw,relatime," \
	"$(echo "$line" | awk '{ print substr($4, 1, 12) }')"
si=$(mount_si "$M")
t_ok "/proc/mounts: si=ID present (got '$si')" [ -n "$si" ]
t_ok "/sys/fs/rfs/si_$si exists" [ -d "/sys/fs/rfs/si_$si" ]
t_eq "default perms: first branch rw, the others ro" "$B0=rw:$B1=ro:$B2=ro" "$(dirs_of "$M")"
t_eq "no udba= or other option shown when all are default" "" \
	"$(mount_opts "$M" | unoctal | split_opts | grep -v -x -e rw -e relatime -e 'si=.*' -e 'dirs=.*' | oneline)"
t_eq "files of all branches visible" "common f0 f1 f2 sub" "$(names "$M" | oneline)"
t_eq "top-most branch wins for common" "0" "$(cat "$M/common")"
t_eq "bottom branch readable" "2" "$(cat "$M/f2")"
roundtrip "default perms" "$M"
t_ok "umount" umount "$M"
t_eq "nothing left mounted after umount" "" "$(mount_line "$M")"

mount_check "br= alias" "br=$B0:$B1:$B2" "$B0=rw:$B1=ro:$B2=ro"
mount_check "explicit perms rw, ro+wh, rr" "dirs=$B0=rw:$B1=ro+wh:$B2=rr" "$B0=rw:$B1=ro+wh:$B2=rr"
mount_check "rr+wh is an alias of ro+wh" "dirs=$B0=rw:$B1=rr+wh:$B2=ro" "$B0=rw:$B1=ro+wh:$B2=ro"
mount_check "explicit ro everywhere (no rw branch)" "dirs=$B0=ro:$B1=ro:$B2=ro" "$B0=ro:$B1=ro:$B2=ro"
mount_check "first branch ro, default for the rest is ro" "dirs=$B0=ro:$B1:$B2" "$B0=ro:$B1=ro:$B2=ro"
mount_check "rw on a lower branch, default first stays rw" "dirs=$B0:$B1=rw:$B2" "$B0=rw:$B1=rw:$B2=ro"

# new mount API
r=$(rfsprobe fsmount rfs "$M" "dirs=$B0:$B1=ro+wh:$B2")
t_eq "fsopen/fsconfig/fsmount with dirs= mounts" "" "$r"
t_eq "fsmount: branch list" "$B0=rw:$B1=ro+wh:$B2=ro" "$(dirs_of "$M")"
t_eq "fsmount: files visible" "common f0 f1 f2 sub" "$(names "$M" | oneline)"
is_mounted "$M" && umount "$M"
r=$(rfsprobe fsmount rfs "$M" "br=$B2:$B1")
t_eq "fsmount with br= mounts" "" "$r"
t_eq "fsmount br=: branch list" "$B2=rw:$B1=ro" "$(dirs_of "$M")"
is_mounted "$M" && umount "$M"

# --- branch operations at mount time: a long stack built one key at a time --------------
r=$(rfsprobe fsmount rfs "$M" "dirs=$B0" "append=$B1=ro+wh" "append=$B2")
t_eq "fsconfig: dirs= then append keys mounts" "" "$r"
t_eq "fsconfig: the appended branches follow dirs=" "$B0=rw:$B1=ro+wh:$B2=ro" "$(dirs_of "$M")"
t_eq "fsconfig: files of the appended branches visible" "common f0 f1 f2 sub" "$(names "$M" | oneline)"
is_mounted "$M" && umount "$M"
r=$(rfsprobe fsmount rfs "$M" "append=$B1" "prepend=$B0=rw")
t_eq "fsconfig: append/prepend keys alone mount" "" "$r"
t_eq "fsconfig: prepend puts the branch on top" "$B0=rw:$B1=ro" "$(dirs_of "$M")"
is_mounted "$M" && umount "$M"
rfs_mount "$M" "dirs=$B0,append:$B2"
t_eq "mount(2): dirs= with append: in the same data" "$B0=rw:$B2=ro" "$(dirs_of "$M")"
is_mounted "$M" && umount "$M"
r=$(rfsprobe fsmount rfs "$M" "dirs=$B0" "append=$B0/sub")
t_eq "fsconfig: an appended branch nested in another is refused" "EINVAL" "${r%% *}"
is_mounted "$M" && umount "$M"

# --- escaping ---------------------------------------------------------------------------------
E=$T/esc
for d in 'a:b' 'c=d' 'e,f' 'g\h' 's p' 'x=rw'; do
	mkfile "$E/$d/in-$(echo "$d" | tr ':=,\\ ' '_____')" "$d"
done
# the data string rfs sees (backslash-escaped : = , \ in paths)
esc="dirs=$E/a\\:b=rw:$E/c\\=d=ro:$E/e\\,f:$E/g\\\\h=ro+wh:$E/s p:$E/x\\=rw"
want="$E/a\\:b=rw:$E/c\\=d=ro:$E/e\\,f=ro:$E/g\\\\h=ro+wh:$E/s p=ro:$E/x\\=rw=ro"
diag "escaped data: $esc"
r=$(rfsprobe mount rfs none "$M" "$esc")
t_eq "escaped : = , \\ and a space in branch paths: mount works" "" "$r"
t_eq "escaped paths: a file of every branch visible" \
	"in-a_b in-c_d in-e_f in-g_h in-s_p in-x_rw" "$(names "$M" | oneline)"
t_eq "escaped paths: a branch named 'x=rw' is a path, not a perm (ro)" "x=rw" "$(cat "$M/in-x_rw")"
t_eq "escaped paths: /proc/mounts shows them escaped again" "$want" "$(dirs_of "$M")"
t_eq "escaped paths: the /proc/mounts line still has 6 fields (space is \\040)" 6 \
	"$(mount_line "$M" | awk '{ print NF }')"
roundtrip "escaped paths" "$M"
is_mounted "$M" && umount "$M"
rfs_mount "$M" "dirs=$E/a\\:b:$E/s p"
t_eq "busybox mount -o with an escaped colon and a space" "in-a_b in-s_p" "$(names "$M" | oneline)"
is_mounted "$M" && umount "$M"
r=$(rfsprobe fsmount rfs "$M" "dirs=$E/a\\:b:$E/g\\\\h")
t_eq "fsconfig with escaped paths mounts" "" "$r"
t_eq "fsconfig with escaped paths: files visible" "in-a_b in-g_h" "$(names "$M" | oneline)"
is_mounted "$M" && umount "$M"
t_eq "a sibling whose name extends another's (b0, b0x) is not nested" "" \
	"$(mkdir -p "$T/b0x" && rfsprobe mount rfs none "$M" "dirs=$B0:$T/b0x")"
is_mounted "$M" && umount "$M"

# --- rejected mounts ----------------------------------------------------------------------------
# reject DESC "ERRNO [ERRNO]" OPTS: mount(2) fails with one of the errnos and
# mounts nothing; the new mount API fails too and its fs_context log carries
# an "rfs:" message; a good mount right after still works.
reject() {
	_rj_desc=$1 _rj_want=$2 _rj_opts=$3
	_rj_out=$(rfsprobe mount rfs none "$M" "$_rj_opts")
	case " $_rj_want " in
	*" ${_rj_out%% *} "*) _rj_ok=0 ;;
	*) _rj_ok=1; diag "mount(2) with '$_rj_opts': '$_rj_out'" ;;
	esac
	t_ok "reject $_rj_desc: mount(2) fails with $_rj_want" [ $_rj_ok = 0 ]
	t_eq "reject $_rj_desc: nothing mounted" "" "$(mount_line "$M")"
	is_mounted "$M" && umount "$M"
	# one fsconfig argument per option
	set -f
	_rj_ifs=$IFS
	IFS='
'
	# shellcheck disable=SC2046
	set -- $(printf '%s\n' "$_rj_opts" | split_opts)
	IFS=$_rj_ifs
	set +f
	_rj_out=$(rfsprobe fsmount rfs "$M" "$@")
	case " $_rj_want " in *" ${_rj_out%% *} "*) _rj_ok=0 ;; *) _rj_ok=1 ;; esac
	case $_rj_out in *"rfs: "*) ;; *) _rj_ok=1 ;; esac
	[ $_rj_ok = 0 ] || diag "fsmount with '$_rj_opts': '$_rj_out'"
	t_ok "reject $_rj_desc: new mount API fails with $_rj_want and logs an 'rfs: ' message" [ $_rj_ok = 0 ]
	is_mounted "$M" && umount "$M"
	t_eq "reject $_rj_desc: a good mount right after works" "" \
		"$(rfsprobe mount rfs none "$M" "dirs=$B0:$B1")"
	is_mounted "$M" && umount "$M"
}

reject "no options at all" EINVAL ""
reject "empty dirs=" EINVAL "dirs="
reject "empty br=" EINVAL "br="
reject "a missing branch path" ENOENT "dirs=$B0:$T/nonexistent"
reject "a branch that is a regular file" "ENOTDIR EINVAL" "dirs=$B0:$T/afile"
reject "a duplicate branch" EINVAL "dirs=$B0:$B1:$B0"
reject "a duplicate branch spelled differently (./)" EINVAL "dirs=$B0:$T/./b0"
reject "a duplicate branch through a symlink" EINVAL "dirs=$B0:$T/b0link"
reject "a branch inside another" EINVAL "dirs=$B0:$B0/sub"
reject "a branch containing another" EINVAL "dirs=$B0/sub:$B0"
reject "an unknown perm (=xx)" EINVAL "dirs=$B0:$B1=xx"
reject "an empty perm (path=)" EINVAL "dirs=$B0=:$B1"
reject "an unknown option with a value" EINVAL "dirs=$B0:$B1,bogus=1"
reject "an unknown flag option" EINVAL "dirs=$B0:$B1,bogus"

# --- relative paths: resolved against the mounter's cwd, as AUFS and OverlayFS do ---------------
r=$(rfsprobe mount rfs none "$M" "dirs=b0:./b1=ro+wh")
t_eq "relative branch paths (cwd $T) mount" "" "$r"
t_eq "relative branch paths: /proc/mounts shows them absolute" "$B0=rw:$B1=ro+wh" "$(dirs_of "$M")"
is_mounted "$M" && umount "$M"
reject "a relative path that does not exist" ENOENT "dirs=b0:nonexistent"
reject "a relative duplicate of an absolute branch" EINVAL "dirs=$B0:./b0"

# --- too many branches: 1024 is the limit ----------------------------------------------------------
# mount(2) data is one page, so short absolute paths are needed: make 1025
# one- and two-character directories in a chroot and mount from inside it.
C=$T/chroot
mkdir -p "$C/mnt"
cp "$(command -v rfsprobe)" "$C/rfsprobe"
awk 'BEGIN {
	c = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"; n = 0
	for (i = 1; i <= 62 && n < 1025; i++) { print substr(c, i, 1); n++ }
	for (i = 1; i <= 62 && n < 1025; i++)
		for (j = 1; j <= 62 && n < 1025; j++) { print substr(c, i, 1) substr(c, j, 1); n++ }
}' >"$T/brnames"
(cd "$C" && xargs mkdir <"$T/brnames")
last1024=$(sed -n 1024p "$T/brnames")
mkfile "$C/$last1024/bottom" "bottom of 1024"
mkfile "$C/a/top" "top of 1024"
o1024="dirs=$(head -n 1024 "$T/brnames" | sed 's|^|/|' | tr '\n' ':' | sed 's/:$//')"
o1025="dirs=$(sed 's|^|/|' "$T/brnames" | tr '\n' ':' | sed 's/:$//')"
diag "option string lengths: 1024 branches ${#o1024} bytes, 1025 branches ${#o1025} bytes"
out=$(chroot "$C" /rfsprobe mount rfs none /mnt "$o1024")
t_eq "1024 branches: mount works" "" "$out"
t_eq "1024 branches: top file visible" "top of 1024" "$(cat "$C/mnt/top" 2>&1)"
t_eq "1024 branches: bottom branch readable" "bottom of 1024" "$(cat "$C/mnt/bottom" 2>&1)"
t_eq "1024 branches: /proc/mounts lists 1024" 1024 \
	"$(dirs_of "$C/mnt" | tr ':' '\n' | grep -c '=r')"
is_mounted "$C/mnt" && umount "$C/mnt"
out=$(chroot "$C" /rfsprobe mount rfs none /mnt "$o1025")
t_eq "1025 branches: mount rejected with EINVAL" "EINVAL" "${out%% *}"
t_eq "1025 branches: nothing mounted" "" "$(mount_line "$C/mnt")"
is_mounted "$C/mnt" && umount "$C/mnt"
t_eq "1025 branches: a good mount right after works" "" \
	"$(rfsprobe mount rfs none "$M" "dirs=$B0:$B1")"
is_mounted "$M" && umount "$M"

# --- branch counts ----------------------------------------------------------------------------------
for n in 1 2 8 64; do
	D=$T/n$n
	mkdir -p "$D"
	mkbranches "$D" $n
	i=0
	br=""
	while [ $i -lt $n ]; do
		mkfile "$D/b$i/f$i" "$i"
		mkfile "$D/b$i/common" "$i"
		br="$br${br:+:}$D/b$i"
		i=$((i + 1))
	done
	rfs_mount "$M" "dirs=$br"
	t_eq "$n branches: all $n files and common visible" $((n + 1)) "$(names "$M" | wc -l | tr -d ' ')"
	t_eq "$n branches: top-most common wins" 0 "$(cat "$M/common")"
	t_eq "$n branches: bottom branch's file readable" $((n - 1)) "$(cat "$M/f$((n - 1))")"
	t_eq "$n branches: /proc/mounts lists $n branches" $n "$(dirs_of "$M" | tr ':' '\n' | grep -c '=r')"
	t_ok "$n branches: umount" umount "$M"
done

# --- stacking depth -------------------------------------------------------------------------------------
S1=$T/s1 S2=$T/s2 S3=$T/s3
mkdir "$S1" "$S2" "$S3"
rfs_mount "$S1" "dirs=$B0=ro:$B1=ro"
out=$(rfsprobe mount rfs none "$S2" "dirs=$S1=ro:$B2=ro")
t_eq "stacking: an rfs mount as a branch of rfs (depth 2) works" "" "$out"
t_eq "stacking: depth-2 union shows all three branches" "common f0 f1 f2 sub" "$(names "$S2" | oneline)"
t_eq "stacking: depth-2 union reads through both levels" "1" "$(cat "$S2/f1")"
out=$(rfsprobe mount rfs none "$S3" "dirs=$S2=ro")
t_eq "stacking: a third level is rejected (EINVAL)" "EINVAL" "${out%% *}"
t_eq "stacking: nothing mounted at the third level" "" "$(mount_line "$S3")"
is_mounted "$S3" && umount "$S3"
out=$(rfsprobe fsmount rfs "$S3" "dirs=$S2=ro")
t_eq "stacking: third level via the new mount API is rejected (EINVAL)" "EINVAL" "${out%% *}"
diag "fsmount at depth 3: $out"
is_mounted "$S3" && umount "$S3"
is_mounted "$S2" && umount "$S2"
is_mounted "$S1" && umount "$S1"

# --- statfs: the top writable branch, else the first ---------------------------------------------------
TM=$T/tmpfs
mkdir "$TM"
mount -t tmpfs -o size=7m tmpfs "$TM"
mkfile "$TM/t" "t"
# statfs_like DESC BRANCH: statfs of the union matches BRANCH's
statfs_like() {
	_sf_u=$(rfsprobe statfs "$M")
	_sf_b=$(rfsprobe statfs "$2")
	_sf_ub=$(field bfree "$_sf_u")
	_sf_bb=$(field bfree "$_sf_b")
	_sf_tol=$(($(field blocks "$_sf_b") / 100 + 16))
	_sf_d=$((_sf_ub - _sf_bb))
	[ $_sf_d -lt 0 ] && _sf_d=$((-_sf_d))
	t_eq "statfs $1: f_blocks and f_bsize" "$(field blocks "$_sf_b") $(field bsize "$_sf_b")" \
		"$(field blocks "$_sf_u") $(field bsize "$_sf_u")"
	t_ok "statfs $1: f_bfree $_sf_ub close to the branch's $_sf_bb" [ $_sf_d -le $_sf_tol ]
}
rfs_mount "$M" "dirs=$TM=rw:$B1"
statfs_like "= top rw branch (tmpfs over ext4)" "$TM"
t_eq "statfs of a file inside the union is the same" "$(field blocks "$(rfsprobe statfs "$M")")" \
	"$(field blocks "$(rfsprobe statfs "$M/f1")")"
umount "$M"
rfs_mount "$M" "dirs=$B1=ro:$TM=rw"
statfs_like "= the rw branch when it is not first" "$TM"
umount "$M"
rfs_mount "$M" "dirs=$TM=ro:$B1=ro"
statfs_like "= first branch when none is rw (tmpfs first)" "$TM"
umount "$M"
rfs_mount "$M" "dirs=$B1=ro:$TM=ro"
statfs_like "= first branch when none is rw (ext4 first)" "$B1"
umount "$M"

# --- st_dev: one for the whole union, none of the branches' --------------------------------------------
ln -s f1 "$B1/lnk"
rfs_mount "$M" "dirs=$B0:$TM=ro:$B1=ro+wh"
dev_of() { field dev "$(rfsprobe lstat "$1")"; }
ud=$(dev_of "$M")
devs=$(for p in "$M" "$M/f0" "$M/t" "$M/f1" "$M/sub" "$M/lnk" "$M/common"; do dev_of "$p"; done | sort -u | oneline)
t_eq "st_dev: root, files of each branch, dir and symlink share one st_dev" "$ud" "$devs"
t_ok "st_dev: differs from the ext4 branches' ($(dev_of "$B0") vs $ud)" [ "$(dev_of "$B0")" != "$ud" ]
t_ok "st_dev: differs from the tmpfs branch's ($(dev_of "$TM") vs $ud)" [ "$(dev_of "$TM")" != "$ud" ]
rfs_mount "$M2" "dirs=$B2"
t_ok "st_dev: a second rfs mount has its own st_dev" [ "$(dev_of "$M2")" != "$ud" ]
umount "$M2"
umount "$M"
umount "$TM"
# --- remount: generic flags work; the same branch list is accepted; a new one applies ----------
rfs_mount "$M" "dirs=$B0:$B1=ro+wh"
t_ok "remount,ro" mount -o remount,ro "$M"
t_eq "remount,ro: /proc/mounts shows ro" "ro" "$(mount_opts "$M" | cut -d, -f1)"
t_errno "remount,ro: creating a file fails with EROFS" EROFS rfsprobe creat "$M/after-ro"
t_ok "remount,rw" mount -o remount,rw "$M"
t_errno "remount,rw: creating a file works again" 0 rfsprobe creat "$M/after-rw"
t_ok "remount with the same dirs= (as mount(8) may pass it back)" \
	mount -o "remount,dirs=$B0=rw:$B1=ro+wh" "$M"
t_eq "after that the stack is unchanged" "$B0=rw:$B1=ro+wh" "$(dirs_of "$M")"
t_ok "remount with a different dirs= replaces the list (see remount.sh)" \
	mount -o "remount,dirs=$B1=rw:$B0=ro" "$M"
t_eq "after it the stack is the new one" "$B1=rw:$B0=ro" "$(dirs_of "$M")"
rm -f "$B1/after-rw"
rm -f "$B0/after-rw"
umount "$M"
t_done
