#!/bin/sh
# copyup.sh: copy-up to the top-most rw branch (issue 3, "Copy-up", "Atomic
# copy-up", "Credentials"; notes/semantics.md "Copy-up").
#
# Branches b0=rw b1=ro+wh b2=ro. Every trigger of a copy-up is applied to its
# own lower file; afterwards the file must be in b0 with the lower file's
# data, mode, owner, times (mtime and atime, with nanoseconds) and user.*
# xattrs, except what the trigger itself changed, and the union must show
# the copy. Then: symlinks, fifos, device nodes, sockets and directories;
# parent directories; append through the shell; inode numbers; callers
# without write permission; setuid clearing; the private work directory;
# and, on separate mounts, a sparse 64 MiB file, concurrent copy-up of one
# 16 MiB file by 8 processes, a 256 MiB random file, and kill -9 during the
# copy-up of a 512 MiB file. The lower branches are compared byte for byte
# (and attribute for attribute) before and after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
chmod 0755 "$T"                  # the unprivileged users must reach $M
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"
RFS_UID=1000 RFS2_UID=1001       # scripts/vm-passwd: rfs, rfs2 (gid = uid)

xattr_ok=1
user_xattrs_work "$B1" || xattr_ok=0
[ $xattr_ok = 1 ] || diag "the branch filesystem takes no user.* xattrs: xattr checks are skipped"

# Times of every prepared lower object: an mtime in the past and an atime
# in the future. With relatime a future atime is never bumped by reading,
# so an atime that differs after the copy-up was not copied.
MTIME=1000000000.123456789
ATIME=4000000000.987654321

# mklower PATH: a lower file (parents made): content "data of NAME", owner
# rfs:rfs2, mode 0640, xattrs user.copyup=v-NAME and user.second=2, the
# times above.
mklower() {
	mkfile "$1" "data of ${1##*/}"
	chown "$RFS_UID:$RFS2_UID" "$1"
	chmod 0640 "$1"
	if [ $xattr_ok = 1 ]; then
		rfsprobe setxattr "$1" user.copyup "v-${1##*/}" >/dev/null
		rfsprobe setxattr "$1" user.second 2 >/dev/null
	fi
	rfsprobe utimens "$1" "$ATIME" "$MTIME" >/dev/null
}

ALL="type mode uid gid size mtime atime"

# copied CASE LOWER REL KEEP CONTENT [XATTRS]: the checks after a trigger.
#   LOWER   the lower file (in b1 or b2), REL its name in the union
#   KEEP    the meta keys (see common-rfs.sh) that must equal the lower file's
#   CONTENT the expected data, or =FILE: the data must be FILE's (cmp)
#   XATTRS  the expected user.* xattrs; default: the lower file's
# Attributes are compared before anything reads the data.
copied() {
	local c=$1 lower=$2 rel=$3 keep=$4 want=$5 wantx up lo
	up=$(meta "$B0/$rel")
	lo=$(meta "$lower")
	t_eq "$c: the copy is a regular file in the rw branch" "reg" "$(ftype "$B0/$rel")"
	t_eq "$c: the copy keeps the lower file's $keep" "$(pick "$keep" "$lo")" "$(pick "$keep" "$up")"
	t_eq "$c: the union shows the copy's attributes" "$up" "$(meta "$M/$rel")"
	if [ $xattr_ok = 1 ]; then
		if [ $# -ge 6 ]; then wantx=$6; else wantx=$(xattrs "$lower"); fi
		t_eq "$c: user.* xattrs of the copy" "$wantx" "$(xattrs "$B0/$rel")"
		t_eq "$c: user.* xattrs through the union" "$wantx" "$(xattrs "$M/$rel")"
	else
		t_skip "$c: user.* xattrs of the copy" "no user xattrs on the branch filesystem"
	fi
	case $want in
	=*)
		t_ok "$c: data of the copy in the rw branch" cmp "${want#=}" "$B0/$rel"
		t_ok "$c: data through the union" cmp "${want#=}" "$M/$rel"
		;;
	*)
		t_eq "$c: data of the copy in the rw branch" "$want" "$(cat "$B0/$rel")"
		t_eq "$c: data through the union" "$want" "$(rfsprobe read-cat "$M/$rel")"
		;;
	esac
}

# --- lower objects ------------------------------------------------------------------
for f in owronly ordwr otrunc ordtrunc trunc ftrunc fallockeep fallocgrow chmod chown \
	utimes setxattr removexattr linksrc rensrc; do
	mklower "$B1/$f"
done
mklower "$B2/ordwr2"             # in the bottom branch, below the ro+wh one
mklower "$B2/sub/dir/indir"      # below lower-only directories
mklower "$B1/inode"

# a symlink, a fifo, a char device, a socket, a directory
ln -s some/target "$B1/sym"
rfsprobe utimens "$B1/sym" 1300000000.5 1300000001.25 nofollow >/dev/null
mkfifo "$B1/fifo"
chown "$RFS_UID:$RFS_UID" "$B1/fifo"
chmod 0620 "$B1/fifo"
rfsprobe utimens "$B1/fifo" "$ATIME" "$MTIME" >/dev/null
mknod "$B2/cdev" c 1 3
chmod 0666 "$B2/cdev"
rfsprobe utimens "$B2/cdev" "$ATIME" "$MTIME" >/dev/null
rfsprobe mknod "$B1/sock" sock 0600 >/dev/null
mkfile "$B2/ldir/f1" "f1"
mkfile "$B2/ldir/f2" "f2"
chmod 0755 "$B2/ldir"
rfsprobe utimens "$B2/ldir" "$ATIME" "$MTIME" >/dev/null

# a file three directories deep; each directory with its own mode, owner
# and mtime (set last, after the children exist)
mkfile "$B2/p1/p2/p3/deepf" "deep data"
chmod 0751 "$B2/p1"
chown "$RFS_UID:$RFS_UID" "$B2/p1"
chmod 0705 "$B2/p1/p2"
chown "$RFS2_UID:$RFS2_UID" "$B2/p1/p2"
chmod 0770 "$B2/p1/p2/p3"
chown "0:$RFS_UID" "$B2/p1/p2/p3"
[ $xattr_ok = 1 ] && rfsprobe setxattr "$B2/p1/p2" user.dir p2-attr >/dev/null
rfsprobe utimens "$B2/p1/p2/p3" 1100000003.3 1100000003.3 >/dev/null
rfsprobe utimens "$B2/p1/p2" 1100000002.2 1100000002.2 >/dev/null
rfsprobe utimens "$B2/p1" 1100000001.1 1100000001.1 >/dev/null

# append through the shell
printf 'old line\n' >"$B1/app"

# permissions
mkfile "$B1/rootonly" "root data"          # root:root 0644
chmod 0644 "$B1/rootonly"
mkfile "$B1/rsub/rootonly2" "root data 2"  # in a root 0755 directory
mkfile "$B1/mine" "mine"                   # owned by the rfs user
chown "$RFS_UID:$RFS_UID" "$B1/mine"
chmod 0644 "$B1/mine"
printf '#!/bin/sh\n' >"$B1/suid"           # setuid+setgid, owned by rfs
chown "$RFS_UID:$RFS_UID" "$B1/suid"
chmod 06755 "$B1/suid"
printf '#!/bin/sh\n' >"$B1/suidroot"       # the same, opened by root
chown "$RFS_UID:$RFS_UID" "$B1/suidroot"
chmod 06755 "$B1/suidroot"

branch_snapshot "$B1" "$B2" >"$W/lower.before"

t_ok "mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# --- one case per trigger ---------------------------------------------------------------
t_errno "open O_WRONLY of a lower file succeeds" 0 rfsprobe open "$M/owronly" w
copied "open O_WRONLY" "$B1/owronly" owronly "$ALL" "data of owronly"

t_errno "open O_RDWR of a lower file succeeds" 0 rfsprobe open "$M/ordwr" rw
copied "open O_RDWR" "$B1/ordwr" ordwr "$ALL" "data of ordwr"

t_errno "open O_RDWR of a file in the bottom branch (below ro+wh) succeeds" 0 \
	rfsprobe open "$M/ordwr2" rw
copied "open O_RDWR from b2" "$B2/ordwr2" ordwr2 "$ALL" "data of ordwr2"

t_errno "open O_WRONLY|O_TRUNC of a lower file succeeds" 0 rfsprobe open "$M/otrunc" w,trunc
copied "open O_WRONLY|O_TRUNC" "$B1/otrunc" otrunc "type mode uid gid" ""
t_eq "open O_WRONLY|O_TRUNC: size 0 in the union" 0 "$(val size "$(rfsprobe stat "$M/otrunc")")"

t_errno "open O_RDONLY|O_TRUNC of a lower file succeeds (Linux truncates)" 0 \
	rfsprobe open "$M/ordtrunc" r,trunc
copied "open O_RDONLY|O_TRUNC" "$B1/ordtrunc" ordtrunc "type mode uid gid" ""

t_errno "truncate(2) of a lower file to 4 bytes succeeds" 0 rfsprobe truncate "$M/trunc" 4
copied "truncate" "$B1/trunc" trunc "type mode uid gid" "data"

t_errno "ftruncate(2) of a lower file to 4 bytes succeeds" 0 rfsprobe ftruncate "$M/ftrunc" 4
copied "ftruncate" "$B1/ftrunc" ftrunc "type mode uid gid" "data"

t_errno "fallocate(KEEP_SIZE, 64 KiB) of a lower file succeeds" 0 \
	rfsprobe fallocate "$M/fallockeep" 0 65536 keep
copied "fallocate KEEP_SIZE" "$B1/fallockeep" fallockeep "type mode uid gid size" "data of fallockeep"
n=$(blocks "$B0/fallockeep")
t_ok "fallocate KEEP_SIZE: the copy has the 64 KiB allocated (st_blocks $n >= 128)" [ "${n:-0}" -ge 128 ]

t_errno "fallocate(mode 0, to 8192 bytes) of a lower file succeeds" 0 \
	rfsprobe fallocate "$M/fallocgrow" 0 8192
cp "$B1/fallocgrow" "$W/fallocgrow.expect"
truncate -s 8192 "$W/fallocgrow.expect"
copied "fallocate growing" "$B1/fallocgrow" fallocgrow "type mode uid gid" "=$W/fallocgrow.expect"
t_eq "fallocate growing: size 8192 in the union" 8192 "$(val size "$(rfsprobe stat "$M/fallocgrow")")"
t_eq "fallocate growing: size 8192 in the rw branch" 8192 "$(val size "$(rfsprobe stat "$B0/fallocgrow")")"

t_errno "chmod 0604 of a lower file succeeds" 0 rfsprobe chmod "$M/chmod" 0604
copied "chmod" "$B1/chmod" chmod "type uid gid size mtime atime" "data of chmod"
t_eq "chmod: the copy's mode is 0604" 0100604 "$(val mode "$(rfsprobe stat "$B0/chmod")")"

t_errno "chown 1001:1000 of a lower file succeeds" 0 rfsprobe chown "$M/chown" "$RFS2_UID" "$RFS_UID"
copied "chown" "$B1/chown" chown "type mode size mtime atime" "data of chown"
t_eq "chown: the copy's owner is 1001:1000" "uid=$RFS2_UID gid=$RFS_UID" \
	"$(pick "uid gid" "$(meta "$B0/chown")")"

t_errno "utimes (explicit 1234567890) of a lower file succeeds" 0 rfsprobe utimes "$M/utimes" 1234567890
# (before copied reads the data: that may update the atime)
t_eq "utimes: the copy's times are the new ones" \
	"mtime=1234567890.000000000 atime=1234567890.000000000" \
	"$(pick "mtime atime" "$(meta "$B0/utimes")")"
copied "utimes" "$B1/utimes" utimes "type mode uid gid size" "data of utimes"

if [ $xattr_ok = 1 ]; then
	t_errno "setxattr user.added on a lower file succeeds" 0 rfsprobe setxattr "$M/setxattr" user.added new
	copied "setxattr" "$B1/setxattr" setxattr "$ALL" "data of setxattr" \
		"user.added=new user.copyup=v-setxattr user.second=2"
	t_errno "removexattr user.second of a lower file succeeds" 0 \
		rfsprobe removexattr "$M/removexattr" user.second
	copied "removexattr" "$B1/removexattr" removexattr "$ALL" "data of removexattr" \
		"user.copyup=v-removexattr"
else
	t_skip "setxattr on a lower file copies it up" "no user xattrs on the branch filesystem"
	t_skip "removexattr on a lower file copies it up" "no user xattrs on the branch filesystem"
fi

ino=$(rfsprobe inode-of "$M/linksrc")
t_errno "link(2) of a lower file succeeds" 0 rfsprobe link "$M/linksrc" "$M/linkdst"
copied "link (old name)" "$B1/linksrc" linksrc "$ALL" "data of linksrc"
copied "link (new name)" "$B1/linksrc" linkdst "$ALL" "data of linksrc"
t_eq "link: both names are one inode in the rw branch" \
	"$(rfsprobe inode-of "$B0/linksrc")" "$(rfsprobe inode-of "$B0/linkdst")"
t_eq "link: both names have the union inode number of the lower file" \
	"$ino $ino" "$(rfsprobe inode-of "$M/linksrc") $(rfsprobe inode-of "$M/linkdst")"
t_eq "link: nlink 2 through the union" 2 "$(val nlink "$(rfsprobe stat "$M/linksrc")")"

ino=$(rfsprobe inode-of "$M/rensrc")
t_errno "rename(2) of a lower file succeeds" 0 rfsprobe rename "$M/rensrc" "$M/rendst"
copied "rename" "$B1/rensrc" rendst "$ALL" "data of rensrc"
t_errno "rename: the old name is gone from the union" ENOENT rfsprobe lstat "$M/rensrc"
t_eq "rename: the old name is whited out in the rw branch" reg "$(ftype "$B0/.wh.rensrc")"
t_eq "rename: the new name keeps the union inode number" "$ino" "$(rfsprobe inode-of "$M/rendst")"

t_errno "append to a file below two lower-only directories succeeds" 0 \
	rfsprobe append "$M/sub/dir/indir" "+more"
copied "append below lower-only dirs" "$B2/sub/dir/indir" sub/dir/indir "type mode uid gid atime" \
	"data of indir+more"

# --- other object types ---------------------------------------------------------------
t_errno "lchown of a lower symlink succeeds" 0 rfsprobe lchown "$M/sym" "$RFS_UID" "$RFS2_UID"
t_eq "symlink copy-up: a symlink in the rw branch" lnk "$(ftype "$B0/sym")"
t_eq "symlink copy-up: same target in the rw branch" some/target "$(rfsprobe readlink "$B0/sym")"
t_eq "symlink copy-up: same target through the union" some/target "$(rfsprobe readlink "$M/sym")"
t_eq "symlink copy-up: new owner, lower mtime kept" \
	"uid=$RFS_UID gid=$RFS2_UID mtime=1300000001.250000000" "$(pick "uid gid mtime" "$(meta "$B0/sym")")"
# (readlink above may have updated the atime: compare the rest)
t_eq "symlink copy-up: the union shows the copy" "$(pick "type mode uid gid size mtime" "$(meta "$B0/sym")")" \
	"$(pick "type mode uid gid size mtime" "$(meta "$M/sym")")"

t_errno "chmod 0640 of a lower fifo succeeds" 0 rfsprobe chmod "$M/fifo" 0640
t_eq "fifo copy-up: a fifo in the rw branch" fifo "$(ftype "$B0/fifo")"
t_eq "fifo copy-up: new mode, owner and mtime kept" \
	"mode=010640 uid=$RFS_UID gid=$RFS_UID mtime=$MTIME" "$(pick "mode uid gid mtime" "$(meta "$B0/fifo")")"
t_eq "fifo copy-up: the union shows the copy" "$(meta "$B0/fifo")" "$(meta "$M/fifo")"
t_eq "fifo copy-up: a round trip through the union fifo works" ok "$(rfsprobe fifo-roundtrip "$M/fifo")"

t_errno "chown of a lower char device (1,3) succeeds" 0 rfsprobe chown "$M/cdev" "$RFS_UID" "$RFS_UID"
s=$(rfsprobe lstat "$B0/cdev")
t_eq "device copy-up: a char device 1:3 in the rw branch, new owner, mode kept" \
	"chr 1:3 020666 $RFS_UID" "$(val type "$s") $(val rdev "$s") $(val mode "$s") $(val uid "$s")"
t_eq "device copy-up: mtime kept" "$MTIME" "$(val mtime "$(rfsprobe times "$B0/cdev")")"
t_eq "device copy-up: reading the /dev/null node through the union gives EOF" 0 \
	"$(rfsprobe read-cat "$M/cdev" | wc -c | tr -d ' ')"

t_errno "chmod 0660 of a lower socket succeeds" 0 rfsprobe chmod "$M/sock" 0660
t_eq "socket copy-up: a socket with mode 0660 in the rw branch" "sock 0140660" \
	"$(s=$(rfsprobe lstat "$B0/sock"); echo "$(val type "$s") $(val mode "$s")")"

t_errno "chmod 0711 of a lower directory succeeds" 0 rfsprobe chmod "$M/ldir" 0711
t_eq "directory copy-up: a directory with mode 0711 in the rw branch" "dir 040711" \
	"$(s=$(rfsprobe lstat "$B0/ldir"); echo "$(val type "$s") $(val mode "$s")")"
t_eq "directory copy-up: mtime kept" "$MTIME" "$(val mtime "$(rfsprobe times "$B0/ldir")")"
t_eq "directory copy-up: only the directory is copied (no children in the rw branch)" "" \
	"$(names "$B0/ldir" | oneline)"
t_eq "directory copy-up: the lower children stay visible" "f1 f2" "$(names "$M/ldir" | oneline)"
t_eq "directory copy-up: mode 0711 through the union" 040711 "$(val mode "$(rfsprobe stat "$M/ldir")")"

# --- parent directories -------------------------------------------------------------------
t_errno "append to a file three directories deep (lower only) succeeds" 0 \
	rfsprobe append "$M/p1/p2/p3/deepf" "+x"
for d in p1 p1/p2 p1/p2/p3; do
	t_eq "parents: $d created in the rw branch with the lower mode, owner and mtime" \
		"$(pick "type mode uid gid mtime" "$(meta "$B2/$d")")" \
		"$(pick "type mode uid gid mtime" "$(meta "$B0/$d")")"
done
if [ $xattr_ok = 1 ]; then
	t_eq "parents: the user.* xattrs of p1/p2 are copied" "user.dir=p2-attr" "$(xattrs "$B0/p1/p2")"
else
	t_skip "parents: the user.* xattrs of p1/p2 are copied" "no user xattrs on the branch filesystem"
fi
t_eq "parents: the file is copied into them" "deep data+x" "$(cat "$B0/p1/p2/p3/deepf")"
t_eq "parents: the file reads through the union" "deep data+x" "$(cat "$M/p1/p2/p3/deepf")"

# --- append through the shell ---------------------------------------------------------------
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
t_ok "echo x >> a lower file through the union" sh -c 'echo x >>"$1"' sh "$M/app"
t_eq "echo >>: the union file is the old content plus x" "$(printf 'old line\nx')" "$(cat "$M/app")"
t_eq "echo >>: the union file size is 11" 11 "$(val size "$(rfsprobe stat "$M/app")")"
t_eq "echo >>: the rw branch copy is whole (old content plus x)" "$(printf 'old line\nx')" "$(cat "$B0/app")"
t_eq "echo >>: the lower file is unchanged" "old line" "$(cat "$B1/app")"
t_eq "echo >>: the lower file still has 9 bytes" 9 "$(val size "$(rfsprobe stat "$B1/app")")"

# --- inode numbers -----------------------------------------------------------------------------
i1=$(rfsprobe inode-of "$M/inode")
t_errno "append to a lower file (inode number check) succeeds" 0 rfsprobe append "$M/inode" "+"
t_eq "the union inode number is the same before and after the copy-up" "$i1" "$(rfsprobe inode-of "$M/inode")"
t_eq "busybox stat -c %i agrees" "$i1" "$(stat -c %i "$M/inode")"
drop_caches
t_eq "the union inode number is the same after drop_caches" "$i1" "$(rfsprobe inode-of "$M/inode")"

# --- permissions ------------------------------------------------------------------------------
t_errno "non-root: open O_WRONLY of a root 0644 lower file is EACCES" EACCES \
	rfsprobe --uid "$RFS_UID" open "$M/rootonly" w
t_errno "non-root: open O_RDWR of it is EACCES" EACCES rfsprobe --uid "$RFS_UID" open "$M/rootonly" rw
t_errno "non-root: open O_RDONLY|O_TRUNC of it is EACCES" EACCES \
	rfsprobe --uid "$RFS_UID" open "$M/rootonly" r,trunc
t_errno "non-root: truncate of it is EACCES" EACCES rfsprobe --uid "$RFS_UID" truncate "$M/rootonly" 0
t_errno "non-root: chmod of it is EPERM" EPERM rfsprobe --uid "$RFS_UID" chmod "$M/rootonly" 0666
t_errno "non-root: utimes with explicit times is EPERM" EPERM \
	rfsprobe --uid "$RFS_UID" utimes "$M/rootonly" 1000
if [ $xattr_ok = 1 ]; then
	t_errno "non-root: setxattr user.x on it is EACCES" EACCES \
		rfsprobe --uid "$RFS_UID" setxattr "$M/rootonly" user.x v
else
	t_skip "non-root: setxattr user.x on it is EACCES" "no user xattrs on the branch filesystem"
fi
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
t_fail "non-root (su rfs): echo x >> it fails" su rfs -c 'echo x >>"$1"' sh "$M/rootonly"
t_errno "non-root: open O_WRONLY of a root file in a lower subdirectory is EACCES" EACCES \
	rfsprobe --uid "$RFS_UID" open "$M/rsub/rootonly2" w
t_errno "non-root: no copy-up happened (rootonly not in the rw branch)" ENOENT rfsprobe lstat "$B0/rootonly"
t_errno "non-root: no parent directory was copied up either (rsub)" ENOENT rfsprobe lstat "$B0/rsub"
t_eq "non-root: the file still reads the lower data" "root data" "$(rfsprobe --uid "$RFS_UID" read-cat "$M/rootonly")"

# shellcheck disable=SC2016 # $1 is expanded by the inner shell
t_ok "non-root owner (su rfs): echo more >> own lower file works" su rfs -c 'echo more >>"$1"' sh "$M/mine"
t_eq "non-root owner: the copy keeps owner rfs:rfs and mode 0644" \
	"mode=0100644 uid=$RFS_UID gid=$RFS_UID" "$(pick "mode uid gid" "$(meta "$B0/mine")")"
t_eq "non-root owner: data in the union" "minemore" "$(cat "$M/mine")"

t_errno "non-root owner: write to a lower 06755 file succeeds" 0 \
	rfsprobe --uid "$RFS_UID" append "$M/suid" "# x"
t_eq "setuid/setgid cleared by a non-root write (union mode 0755)" 0100755 \
	"$(val mode "$(rfsprobe stat "$M/suid")")"
t_eq "setuid/setgid cleared in the rw branch copy too" 0100755 "$(val mode "$(rfsprobe stat "$B0/suid")")"
t_errno "root: open O_WRONLY of a lower 06755 file succeeds" 0 rfsprobe open "$M/suidroot" w
t_eq "copy-up keeps setuid/setgid (rw branch copy 06755, owner rfs)" "mode=0106755 uid=$RFS_UID" \
	"$(pick "mode uid" "$(meta "$B0/suidroot")")"
t_errno "root: write to it succeeds" 0 rfsprobe append "$M/suidroot" "# x"
t_eq "a root write keeps setuid/setgid (CAP_FSETID)" 0106755 "$(val mode "$(rfsprobe stat "$M/suidroot")")"

# --- the private work directory ----------------------------------------------------------------
t_eq "readdir of the union root lists no .wh.* name" "" "$(names "$M" | grep '^\.wh\.' | oneline)"
names "$M" >"$W/union-root"
hidden_found=''
for n in $(names "$B0"); do
	grep -qxF "$n" "$W/union-root" && continue
	r=$(rfsprobe lstat "$M/$n") && hidden_found="$hidden_found $n"
	diag "rw branch entry not listed in the union: $n (lookup: ${r%% *})"
done
t_eq "entries of the rw branch root not listed by the union are not found by lookup either" "" \
	"$hidden_found"
t_eq "the union root lists exactly the expected names" \
	"app cdev chmod chown fallocgrow fallockeep fifo ftrunc inode ldir linkdst linksrc mine ordtrunc ordwr ordwr2 otrunc owronly p1 removexattr rendst rootonly rsub setxattr sock sub suid suidroot sym trunc utimes" \
	"$(names "$M" | oneline)"

t_ok "umount" umount "$M"
branch_snapshot "$B1" "$B2" >"$W/lower.after"
diff_lists "the lower branches are unchanged by all the copy-ups" "$W/lower.before" "$W/lower.after"

# === big files, on a mount of their own ========================================================
T2=$(rfs_tmpdir)
mkbranches "$T2" 2
C0=$T2/b0 C1=$T2/b1
M2=$T2/mnt
W2=$T2/work
mkdir "$M2" "$W2"

# a 64 MiB sparse file: 4 KiB at 0, 4 KiB at 16 MiB, the last MiB
dd if=/dev/urandom of="$C1/sparse" bs=4096 count=1 2>/dev/null
dd if=/dev/urandom of="$C1/sparse" bs=4096 count=1 seek=4096 conv=notrunc 2>/dev/null
dd if=/dev/urandom of="$C1/sparse" bs=1M count=1 seek=63 conv=notrunc 2>/dev/null
# 16 MiB for the concurrent copy-up
dd if=/dev/urandom of="$C1/c16" bs=1M count=16 2>/dev/null
# 256 MiB of random data
t0=$(date +%s)
dd if=/dev/urandom of="$C1/rand" bs=1M count=256 2>/dev/null
sync
t1=$(date +%s)
rand_sum=$(sha256sum <"$C1/rand" | cut -d' ' -f1)
diag "256 MiB random: written in $((t1 - t0)) s, sha256 in $(($(date +%s) - t1)) s"
# lower_state FILE: its attributes and ctime (not the atime: reading it through
# the union may update that)
lower_state() {
	echo "$1 $(pick "type mode uid gid size mtime" "$(meta "$1")") ctime=$(val ctime "$(rfsprobe times "$1")")"
}
for f in sparse c16 rand; do lower_state "$C1/$f"; done >"$W2/lower.before"

t_ok "mount b0=rw b1=ro for the big files" rfs_mount "$M2" "dirs=$C0=rw:$C1=ro"

# --- sparse ---
lb=$(blocks "$C1/sparse")
t_errno "sparse 64 MiB: open O_RDWR (copy-up) succeeds" 0 rfsprobe open "$M2/sparse" rw
ub=$(blocks "$C0/sparse")
diag "sparse 64 MiB: st_blocks lower $lb, rw branch copy $ub (a full copy would be 131072)"
t_eq "sparse 64 MiB: the copy has the size 67108864" 67108864 "$(val size "$(rfsprobe stat "$C0/sparse")")"
# a full copy allocates 131072 blocks; allow 4 MiB more than the lower file
# (copying in chunks around the three data extents may round them up)
t_ok "sparse 64 MiB: the copy keeps its holes (st_blocks $ub <= lower $lb + 8192)" \
	[ "${ub:-999999}" -le $((lb + 8192)) ]
t_ok "sparse 64 MiB: the copy has the same bytes as the lower file" rfsprobe cmp "$C1/sparse" "$C0/sparse"
t_ok "sparse 64 MiB: the union reads the same bytes" rfsprobe cmp "$C1/sparse" "$M2/sparse"

# --- concurrent copy-up: 4 appenders and 4 pwriters (at 3, 6, 9, 12 MiB) ---
cp "$C1/c16" "$W2/c16.expect"
for k in 1 2 3 4; do rfsprobe pwrite "$W2/c16.expect" $((k * 3145728)) "P$k" >/dev/null; done
go=$W2/go
NL='
'
pids=''
for k in 1 2 3 4; do
	# shellcheck disable=SC2016 # expanded by the inner shells
	sh -c 'while [ ! -e "$1" ]; do usleep 2000; done; exec rfsprobe append "$2" "$3"' \
		sh "$go" "$M2/c16" "A$k$NL" >"$W2/app$k.out" 2>&1 &
	pids="$pids $!"
	# shellcheck disable=SC2016
	sh -c 'while [ ! -e "$1" ]; do usleep 2000; done; exec rfsprobe pwrite "$2" "$3" "$4"' \
		sh "$go" "$M2/c16" $((k * 3145728)) "P$k" >"$W2/pw$k.out" 2>&1 &
	pids="$pids $!"
done
usleep 300000
: >"$go"
rcs=''
for p in $pids; do
	wait "$p"
	rcs="$rcs${rcs:+ }$?"
done
t_eq "concurrent copy-up: all 8 writers (4 O_APPEND, 4 O_RDWR pwrite) succeeded" "0 0 0 0 0 0 0 0" "$rcs"
[ "$rcs" = "0 0 0 0 0 0 0 0" ] || diag "$(cat "$W2"/app*.out "$W2"/pw*.out)"
t_eq "concurrent copy-up: size is 16 MiB plus the 4 appended records" $((16777216 + 12)) \
	"$(val size "$(rfsprobe stat "$M2/c16")")"
t_eq "concurrent copy-up: each appended record is there exactly once" "A1 A2 A3 A4" \
	"$(tail -c 12 "$M2/c16" | sort | oneline)"
t_ok "concurrent copy-up: the first 16 MiB are the lower data with all 4 pwrites" \
	rfsprobe cmp "$M2/c16" "$W2/c16.expect" 16777216
t_ok "concurrent copy-up: the rw branch holds that one file" rfsprobe cmp "$C0/c16" "$M2/c16"

# --- 256 MiB random ---
t0=$(date +%s)
t_errno "256 MiB random: open O_RDWR (copy-up) succeeds" 0 rfsprobe open "$M2/rand" rw
diag "256 MiB random: the copy-up took $(($(date +%s) - t0)) s"
t_eq "256 MiB random: the rw branch copy has the size 268435456" 268435456 \
	"$(val size "$(rfsprobe stat "$C0/rand")")"
t_ok "256 MiB random: the rw branch copy has the lower file's bytes" rfsprobe cmp "$C1/rand" "$C0/rand"
t_eq "256 MiB random: sha256 through the union is the lower file's" "$rand_sum" \
	"$(sha256sum <"$M2/rand" | cut -d' ' -f1)"

t_ok "umount (big files)" umount "$M2"
for f in sparse c16 rand; do lower_state "$C1/$f"; done >"$W2/lower.after"
diff_lists "big files: the lower files are unchanged (attributes, mtime, ctime)" \
	"$W2/lower.before" "$W2/lower.after"
rm -f "$C0/rand" "$C1/rand" "$C0/c16" "$C1/c16"

# === kill -9 during the copy-up of a 512 MiB file ==============================================
T3=$(rfs_tmpdir)
mkbranches "$T3" 2
K0=$T3/b0 K1=$T3/b1
M3=$T3/mnt
mkdir "$M3"
BIG=536870912
t0=$(date +%s)
rfsprobe fill "$K1/big" "$BIG" 12345     # pseudo-random: /dev/urandom is slow under TCG
sync
diag "512 MiB pseudo-random file: written in $(($(date +%s) - t0)) s"
big_before=$(lower_state "$K1/big")

t_ok "mount b0=rw b1=ro for the kill test" rfs_mount "$M3" "dirs=$K0=rw:$K1=ro"
# O_WRONLY without O_TRUNC: the copy-up must not change the data, so the
# union shows the same bytes whether the copy-up was cut short or finished.
# KiB in use on the filesystem of $1 (a copy being made has no name yet,
# so du would not see it).
used_kib() { stat -f -c '%b %f %S' "$1" | awk '{ print int(($1 - $2) * $3 / 1024) }'; }
used0=$(used_kib "$K0")
rfsprobe open "$M3/big" w >/dev/null 2>&1 &
pid=$!
# wait until the copy is under way (the rw branch's filesystem grows by
# 16 MiB), but no more than 3 s (a 512 MiB copy-up in the VM takes longer
# than that)
n=0
while [ "$n" -lt 60 ] && [ $(($(used_kib "$K0") - used0)) -lt 16384 ] && [ -d "/proc/$pid" ] &&
	! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; do
	usleep 50000
	n=$((n + 1))
done
# A regular file is copied as an unnamed file (O_TMPFILE) linked into
# place, as OverlayFS does: nothing of it has a name in the branch before
# it is complete, and copy-ups of different files do not queue on the
# work directory's lock or the branch's rename lock.
t_eq "copy-up under way: the work directory holds no named temporary" "" \
	"$(ls -A "$K0/.wh..wh.orph" | oneline)"
diag "kill -9 after $((n * 50)) ms; rw branch's filesystem $(($(used_kib "$K0") - used0)) KiB fuller"
kill -9 "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ "$rc" = 137 ]; then
	t_ok "kill -9 landed while the opener was in the copy-up (exit status 137)" true
else
	t_skip "kill -9 landed while the opener was in the copy-up" "the opener finished first (status $rc)"
fi
t_eq "after kill -9: the union file has the lower size" "$BIG" "$(val size "$(rfsprobe stat "$M3/big")")"
t_ok "after kill -9: the union shows the old lower data (never a partial copy)" rfsprobe cmp "$K1/big" "$M3/big"
t_eq "after kill -9: no leftover in the union root" "big" "$(names "$M3" | oneline)"
# shellcheck disable=SC2016 # expanded by the inner shell
t_ok "after kill -9: the rw branch holds no partial copy under the file's name" \
	sh -c '[ ! -e "$1" ] || rfsprobe cmp "$1" "$2"' sh "$K0/big" "$K1/big"
t0=$(date +%s)
# shellcheck disable=SC2016
t_ok "after kill -9: a later echo x >> through the union works" sh -c 'echo x >>"$1"' sh "$M3/big"
diag "512 MiB: the copy-up of the later write took $(($(date +%s) - t0)) s"
t_eq "after kill -9: the file is now the lower data plus x" "$((BIG + 2)) x" \
	"$(val size "$(rfsprobe stat "$M3/big")") $(tail -c 2 "$M3/big")"
t_ok "after kill -9: its first 512 MiB are the lower data" rfsprobe cmp "$M3/big" "$K1/big" "$BIG"
t_ok "umount (kill test)" umount "$M3"
t_ok "mount the kill-test branches again" rfs_mount "$M3" "dirs=$K0=rw:$K1=ro"
t_eq "after the new mount: the union root lists only big" "big" "$(names "$M3" | oneline)"
du_all=$(du -sk "$K0" | cut -f1)
du_big=$(du -sk "$K0/big" | cut -f1)
diag "rw branch after the new mount: $du_all KiB in all, $du_big KiB for big"
t_ok "after the new mount: no leftover of the killed copy-up in the rw branch ($du_all - $du_big KiB < 2048)" \
	[ $((du_all - du_big)) -lt 2048 ]
t_ok "umount (kill test, second mount)" umount "$M3"
t_eq "kill test: the lower file is unchanged (attributes, mtime, ctime)" "$big_before" \
	"$(lower_state "$K1/big")"
rm -f "$K0/big" "$K1/big"
t_done
