#!/bin/sh
# namespace.sh: namespace operations through the union (issue 3,
# "Namespace operations", "Writes after copy-up", "Directory cache
# coherence").
#
# Branches b0=rw b1=ro+wh b2=ro. create, mkdir, mknod (fifo, char device,
# regular), symlink, link (also of a lower file: one inode, nlink 2),
# unlink and rmdir, in the root, in a merged directory and in a lower-only
# directory: new objects land in the rw branch. O_TMPFILE (and linkat of
# it); writable MAP_SHARED mmap; fsync/fdatasync; the dentry cache after
# each change. The lower branches never change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
chmod 0755 "$T"                  # the unprivileged user must reach $M
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"
RFS_UID=1000

mkfile "$B0/md/u" "u"                    # merged directory md
mkfile "$B1/md/l" "l"
mkfile "$B2/ld/z" "z"                    # lower-only directory ld
chmod 0751 "$B2/ld"
mkfile "$B1/hl" "hard data"              # hard links of a lower file
mkfile "$B0/uf" "upper file"             # hard links of an upper file
mkfile "$B1/exists" "lower exists"
mkdir "$B1/ldir"
head -c 12288 /dev/zero | tr '\0' a >"$B1/mm"        # 3 pages for mmap
head -c 12288 /dev/zero | tr '\0' b >"$B0/mmu"
cp "$B1/mm" "$W/mm.orig"
mkfile "$B1/lsync" "lower sync"
mkfile "$B0/usync" "upper sync"
mkfile "$B1/dc/lower" "dc lower"         # dentry cache checks
mkdir "$B1/pub"                          # world-writable lower directory
chmod 0777 "$B1/pub"
mkdir "$B1/priv"                         # not writable by the user
chmod 0755 "$B1/priv"

branch_snapshot "$B1" "$B2" >"$W/lower.before"
t_ok "mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# --- create ---------------------------------------------------------------------------
for d in "" md/ ld/; do
	where=${d:-root}
	where=${where%/}
	t_errno "create in $where: open O_CREAT|O_EXCL succeeds" 0 rfsprobe open "$M/${d}new" w,creat,excl 0640
	t_eq "create in $where: a 0640 regular file in the rw branch" "reg 0100640" \
		"$(s=$(rfsprobe lstat "$B0/${d}new"); echo "$(val type "$s") $(val mode "$s")")"
	t_errno "create in $where: write to it" 0 rfsprobe write "$M/${d}new" "new in $where"
	t_eq "create in $where: the data is in the rw branch" "new in $where" "$(cat "$B0/${d}new")"
	t_eq "create in $where: and reads through the union" "new in $where" "$(cat "$M/${d}new")"
done
t_eq "create in ld: the lower-only parent was copied up with its mode 0751" 040751 \
	"$(val mode "$(rfsprobe lstat "$B0/ld")")"
t_eq "create in md: md lists the new, upper and lower entries" "l new u" "$(names "$M/md" | oneline)"
t_eq "create in ld: ld lists the new and the lower entry" "new z" "$(names "$M/ld" | oneline)"
t_errno "O_CREAT|O_EXCL of a name that exists in a lower branch is EEXIST" EEXIST \
	rfsprobe open "$M/exists" w,creat,excl
t_errno "EEXIST: no copy-up happened" ENOENT rfsprobe lstat "$B0/exists"
t_errno "creat (O_CREAT|O_TRUNC) of an existing lower file truncates a copy" 0 rfsprobe creat "$M/exists"
t_eq "creat of an existing lower file: empty in the union and in the rw branch" "0 0" \
	"$(val size "$(rfsprobe stat "$M/exists")") $(val size "$(rfsprobe stat "$B0/exists")")"

# a file created by an unprivileged user is the user's, even though the rw
# branch is written with the mounter's credentials
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
t_ok "non-root (su rfs): echo > pub/mine in a 0777 lower directory" su rfs -c 'echo mine >"$1"' sh "$M/pub/mine"
t_eq "non-root create: owned by rfs in the rw branch" "uid=$RFS_UID gid=$RFS_UID" \
	"$(pick "uid gid" "$(meta "$B0/pub/mine")")"
t_eq "non-root create: owned by rfs in the union" "uid=$RFS_UID gid=$RFS_UID" \
	"$(pick "uid gid" "$(meta "$M/pub/mine")")"
t_eq "non-root create: pub was copied up with its mode 0777 and owner root" "mode=040777 uid=0" \
	"$(pick "mode uid" "$(meta "$B0/pub")")"
t_errno "non-root: mkdir in a root 0755 lower directory is EACCES" EACCES \
	rfsprobe --uid "$RFS_UID" mkdir "$M/priv/d"
t_errno "non-root: creat in it is EACCES" EACCES rfsprobe --uid "$RFS_UID" creat "$M/priv/f"
t_errno "non-root EACCES: the directory was not copied up" ENOENT rfsprobe lstat "$B0/priv"

# --- mkdir, mknod, symlink ------------------------------------------------------------------
for d in "" md/ ld/; do
	where=${d:-root}
	where=${where%/}
	t_errno "mkdir in $where succeeds (mode 0750)" 0 rfsprobe mkdir "$M/${d}newdir" 0750
	t_eq "mkdir in $where: a 0750 directory in the rw branch" "dir 040750" \
		"$(s=$(rfsprobe lstat "$B0/${d}newdir"); echo "$(val type "$s") $(val mode "$s")")"
	t_eq "mkdir in $where: empty in the union" "" "$(names "$M/${d}newdir" | oneline)"
	t_errno "mknod fifo in $where succeeds" 0 rfsprobe mknod "$M/${d}fifo" fifo 0600
	t_eq "mknod fifo in $where: a fifo in the rw branch" fifo "$(ftype "$B0/${d}fifo")"
	t_eq "mknod fifo in $where: a round trip through the union" ok "$(rfsprobe fifo-roundtrip "$M/${d}fifo")"
	t_errno "symlink in $where succeeds" 0 rfsprobe symlink "target-$where" "$M/${d}sym"
	t_eq "symlink in $where: a symlink in the rw branch" "lnk target-$where" \
		"$(ftype "$B0/${d}sym") $(rfsprobe readlink "$B0/${d}sym")"
	t_eq "symlink in $where: readlink through the union" "target-$where" "$(rfsprobe readlink "$M/${d}sym")"
done
t_errno "mknod char device 1:3 (root) succeeds" 0 rfsprobe mknod "$M/md/null" chr 1 3 0666
t_eq "mknod chr: a char device 1:3 in the rw branch" "chr 1:3" \
	"$(s=$(rfsprobe lstat "$B0/md/null"); echo "$(val type "$s") $(val rdev "$s")")"
t_eq "mknod chr: reading it through the union gives EOF" 0 "$(rfsprobe read-cat "$M/md/null" | wc -c | tr -d ' ')"
t_errno "mknod regular file succeeds" 0 rfsprobe mknod "$M/regnode" reg 0600
t_eq "mknod reg: an empty regular file in the rw branch" "reg 0" \
	"$(s=$(rfsprobe lstat "$B0/regnode"); echo "$(val type "$s") $(val size "$s")")"
t_errno "symlink to a lower file resolves through the union" 0 rfsprobe symlink md/l "$M/tolower"
t_eq "symlink to a lower file: reads the lower data" l "$(cat "$M/tolower")"
t_errno "mkdir over an existing lower directory is EEXIST" EEXIST rfsprobe mkdir "$M/ldir"
t_errno "mkdir over an existing lower file is EEXIST" EEXIST rfsprobe mkdir "$M/hl"
t_errno "symlink over an existing lower name is EEXIST" EEXIST rfsprobe symlink x "$M/md/l"

# --- hard links --------------------------------------------------------------------------------
ino=$(rfsprobe inode-of "$M/hl")
t_errno "link of a lower file succeeds" 0 rfsprobe link "$M/hl" "$M/hl2"
t_eq "link lower: both names have one union inode number (the old one)" "$ino $ino" \
	"$(rfsprobe inode-of "$M/hl") $(rfsprobe inode-of "$M/hl2")"
t_eq "link lower: nlink 2 for both names" "2 2" \
	"$(val nlink "$(rfsprobe stat "$M/hl")") $(val nlink "$(rfsprobe stat "$M/hl2")")"
t_eq "link lower: both names read the data" "hard data hard data" "$(cat "$M/hl") $(cat "$M/hl2")"
t_eq "link lower: both names are one inode in the rw branch" \
	"$(rfsprobe inode-of "$B0/hl")" "$(rfsprobe inode-of "$B0/hl2")"
t_errno "link lower: append through the new name" 0 rfsprobe append "$M/hl2" "+more"
t_eq "link lower: the old name reads the appended data" "hard data+more" "$(cat "$M/hl")"
t_eq "link lower: after the write, still one union inode, nlink 2" "$ino $ino 2" \
	"$(rfsprobe inode-of "$M/hl") $(rfsprobe inode-of "$M/hl2") $(val nlink "$(rfsprobe stat "$M/hl")")"
t_errno "link lower: a third name in the merged directory" 0 rfsprobe link "$M/hl" "$M/md/hl3"
t_eq "link lower: nlink 3, same inode number" "3 $ino" \
	"$(val nlink "$(rfsprobe stat "$M/md/hl3")") $(rfsprobe inode-of "$M/md/hl3")"
drop_caches
t_eq "link lower: after drop_caches, the three names are one inode" "$ino $ino $ino" \
	"$(rfsprobe inode-of "$M/hl") $(rfsprobe inode-of "$M/hl2") $(rfsprobe inode-of "$M/md/hl3")"
t_eq "link lower: after drop_caches, the data" "hard data+more" "$(cat "$M/md/hl3")"
t_eq "link lower: the lower file is unchanged" "hard data" "$(cat "$B1/hl")"

t_errno "link of an upper file succeeds" 0 rfsprobe link "$M/uf" "$M/uf2"
t_eq "link upper: one union inode number, nlink 2" \
	"$(rfsprobe inode-of "$M/uf") 2" "$(rfsprobe inode-of "$M/uf2") $(val nlink "$(rfsprobe stat "$M/uf2")")"
t_errno "link upper: unlink the first name" 0 rfsprobe unlink "$M/uf"
t_eq "link upper: the second name remains, nlink 1" "upper file 1" \
	"$(cat "$M/uf2") $(val nlink "$(rfsprobe stat "$M/uf2")")"
# The union inode keeps the upper dentry of the name it was made for; the
# other names must still be removed and renamed by their own name.
mkfile "$M/hk" "hk data"
t_errno "link upper: a second name (hk2) of hk" 0 rfsprobe link "$M/hk" "$M/hk2"
t_errno "link upper: a third name (hk3) of hk" 0 rfsprobe link "$M/hk" "$M/hk3"
t_errno "link upper: unlink the second name (not the one the inode was made for)" 0 rfsprobe unlink "$M/hk2"
t_eq "link upper: hk2 is gone from the rw branch, hk and hk3 remain with nlink 2" "ENOENT 2 2" \
	"$(rfsprobe lstat "$B0/hk2" | cut -d' ' -f1) $(val nlink "$(rfsprobe stat "$B0/hk")") $(val nlink "$(rfsprobe stat "$M/hk3")")"
t_errno "link upper: rename the third name" 0 rfsprobe rename "$M/hk3" "$M/hk4"
t_eq "link upper: the rename moved hk3, not hk" "hk data hk data ENOENT" \
	"$(cat "$M/hk") $(cat "$B0/hk4") $(rfsprobe lstat "$B0/hk3" | cut -d' ' -f1)"
mkfile "$M/hk5" "hk5 data"
t_errno "link upper: rename another file over a second name" 0 rfsprobe rename "$M/hk5" "$M/hk4"
t_eq "link upper: hk keeps its data, hk4 has the new one, nlink 1" "hk data hk5 data 1" \
	"$(cat "$M/hk") $(cat "$M/hk4") $(val nlink "$(rfsprobe stat "$M/hk")")"

# --- unlink and rmdir of what was created ---------------------------------------------------------
for d in "" md/ ld/; do
	where=${d:-root}
	where=${where%/}
	t_errno "unlink in $where succeeds" 0 rfsprobe unlink "$M/${d}new"
	t_errno "unlink in $where: gone from the rw branch" ENOENT rfsprobe lstat "$B0/${d}new"
	t_errno "unlink in $where: no whiteout for an upper-only name" ENOENT rfsprobe lstat "$B0/${d}.wh.new"
	t_errno "unlink in $where: gone from the union" ENOENT rfsprobe lstat "$M/${d}new"
	t_errno "rmdir in $where succeeds" 0 rfsprobe rmdir "$M/${d}newdir"
	t_errno "rmdir in $where: gone from the rw branch" ENOENT rfsprobe lstat "$B0/${d}newdir"
	t_errno "rmdir in $where: no whiteout for an upper-only name" ENOENT rfsprobe lstat "$B0/${d}.wh.newdir"
	t_errno "rmdir in $where: gone from the union" ENOENT rfsprobe lstat "$M/${d}newdir"
done
t_errno "unlink of a directory is EISDIR" EISDIR rfsprobe unlink "$M/ldir"
t_errno "rmdir of a file is ENOTDIR" ENOTDIR rfsprobe rmdir "$M/hl"

# --- O_TMPFILE --------------------------------------------------------------------------------
names "$M" >"$W/root.before"
names "$M/md" >"$W/md.before"
t_errno "O_TMPFILE in the union root opens" 0 rfsprobe open "$M" rw,tmpfile
t=$(rfsprobe tmpfile "$M" "tmp data")
t_eq "O_TMPFILE in the root: write, read back, nlink 0, size 8" "reg nlink=0 size=8" \
	"$(val type "$t") nlink=$(val nlink "$t") size=$(val size "$t")"
t=$(rfsprobe tmpfile "$M/md" "tmp data")
t_eq "O_TMPFILE in a merged directory: nlink 0, size 8" "reg nlink=0 size=8" \
	"$(val type "$t") nlink=$(val nlink "$t") size=$(val size "$t")"
t=$(rfsprobe tmpfile "$M/ldir" "tmp data")
t_eq "O_TMPFILE in a lower-only directory: nlink 0, size 8" "reg nlink=0 size=8" \
	"$(val type "$t") nlink=$(val nlink "$t") size=$(val size "$t")"
names "$M" >"$W/root.after"
names "$M/md" >"$W/md.after"
diff_lists "O_TMPFILE left no name in the union root" "$W/root.before" "$W/root.after"
diff_lists "O_TMPFILE left no name in md" "$W/md.before" "$W/md.after"
t=$(rfsprobe tmpfile "$M/md" "linked tmp" "$M/md/fromtmp")
t_eq "O_TMPFILE + linkat(AT_EMPTY_PATH) into md: nlink 1 after the link" "reg nlink=1" \
	"$(val type "$t") nlink=$(val nlink "$t")"
t_eq "O_TMPFILE + linkat: the name reads the data through the union" "linked tmp" "$(cat "$M/md/fromtmp")"
t_eq "O_TMPFILE + linkat: the file is in the rw branch" "linked tmp" "$(cat "$B0/md/fromtmp")"
t_eq "O_TMPFILE + linkat: md lists it" "fifo fromtmp hl3 l null sym u" "$(names "$M/md" | oneline)"

# --- writable shared mmap ------------------------------------------------------------------------
cp "$W/mm.orig" "$W/mm.expect"
rfsprobe pwrite "$W/mm.expect" 5000 HELLO >/dev/null
rfsprobe pwrite "$W/mm.expect" 8190 PAGEBOUNDARY >/dev/null
t_errno "mmap(MAP_SHARED, PROT_WRITE) write into a lower file succeeds" 0 rfsprobe mmap-write "$M/mm" 5000 HELLO
t_errno "mmap write across a page boundary succeeds" 0 rfsprobe mmap-write "$M/mm" 8190 PAGEBOUNDARY
t_ok "mmap write: the rw branch copy has the new bytes" cmp "$W/mm.expect" "$B0/mm"
t_ok "mmap write: read(2) through the union sees them" cmp "$W/mm.expect" "$M/mm"
t_eq "mmap write: read and mmap through the union agree" same "$(rfsprobe cmp-mmap "$M/mm")"
t_ok "mmap write: the lower file is unchanged" cmp "$W/mm.orig" "$B1/mm"
drop_caches
t_ok "mmap write: still there after drop_caches" cmp "$W/mm.expect" "$M/mm"
cp "$B0/mmu" "$W/mmu.expect"
rfsprobe pwrite "$W/mmu.expect" 4096 UPPER >/dev/null
t_errno "mmap write into an upper file succeeds" 0 rfsprobe mmap-write "$M/mmu" 4096 UPPER
t_ok "mmap write upper: the rw branch file has the new bytes" cmp "$W/mmu.expect" "$B0/mmu"

# --- fsync / fdatasync ----------------------------------------------------------------------------
t_errno "write + fsync of an upper file" 0 rfsprobe sync-write "$M/usync" "+fsync" fsync
t_eq "fsync upper: the data is in the rw branch" "upper sync+fsync" "$(cat "$B0/usync")"
t_errno "write + fdatasync of an upper file" 0 rfsprobe sync-write "$M/usync" "+fdatasync" fdatasync
t_eq "fdatasync upper: the data is in the rw branch" "upper sync+fsync+fdatasync" "$(cat "$B0/usync")"
t_errno "write + fdatasync of a lower file (copy-up)" 0 rfsprobe sync-write "$M/lsync" "+fdatasync" fdatasync
t_eq "fdatasync lower: the copy has the data" "lower sync+fdatasync" "$(cat "$B0/lsync")"
t_errno "fsync of a directory in the union" 0 rfsprobe fsync "$M/md"

# --- dentry cache coherence -----------------------------------------------------------------------
t_errno "dcache: stat of a missing name is ENOENT (negative dentry)" ENOENT rfsprobe stat "$M/dc/n"
t_errno "dcache: create it through the union" 0 rfsprobe creat "$M/dc/n"
t_eq "dcache: stat finds it now" reg "$(ftype "$M/dc/n")"
t_errno "dcache: unlink it" 0 rfsprobe unlink "$M/dc/n"
t_errno "dcache: stat is ENOENT again" ENOENT rfsprobe stat "$M/dc/n"
t_errno "dcache: mkdir it" 0 rfsprobe mkdir "$M/dc/n"
t_eq "dcache: stat finds a directory" dir "$(ftype "$M/dc/n")"
t_errno "dcache: rmdir it" 0 rfsprobe rmdir "$M/dc/n"
t_errno "dcache: ENOENT after rmdir" ENOENT rfsprobe stat "$M/dc/n"
t_errno "dcache: symlink it" 0 rfsprobe symlink lower "$M/dc/n"
t_eq "dcache: the symlink resolves" "dc lower" "$(cat "$M/dc/n")"
t_errno "dcache: rename it to m" 0 rfsprobe rename "$M/dc/n" "$M/dc/m"
t_errno "dcache: n is ENOENT after the rename" ENOENT rfsprobe lstat "$M/dc/n"
t_eq "dcache: m is the symlink" lnk "$(ftype "$M/dc/m")"
t_eq "dcache: a lower name is there" reg "$(ftype "$M/dc/lower")"
t_errno "dcache: unlink the lower name" 0 rfsprobe unlink "$M/dc/lower"
t_errno "dcache: the lower name is ENOENT (not the cached lower dentry)" ENOENT rfsprobe stat "$M/dc/lower"
t_errno "dcache: create the lower name again" 0 rfsprobe creat "$M/dc/lower"
t_eq "dcache: it is the new empty file, not the lower one" "reg 0" \
	"$(s=$(rfsprobe stat "$M/dc/lower"); echo "$(val type "$s") $(val size "$s")")"
t_eq "dcache: readdir agrees" "lower m" "$(names "$M/dc" | oneline)"

# --- file handles (D37 in the parity audit) -------------------------------------------------------
# Identifying handles (fanotify's FAN_REPORT_FID, name_to_handle_at with
# AT_HANDLE_FID) come from the union inode number; decodable ones (NFS
# export, open_by_handle_at) are not offered, as OverlayFS without
# nfs_export=on.
echo fid >"$B0/fid1"
ln "$B0/fid1" "$B0/fid2"
echo other >"$B0/fid3"
h1=$(rfsprobe fid "$M/fid1")
t_ok "file handles: AT_HANDLE_FID gives a handle" test -n "$h1"
t_eq "... two names of one file give the same one" "$h1" "$(rfsprobe fid "$M/fid2")"
t_ok "... another file another one" test "$h1" != "$(rfsprobe fid "$M/fid3")"
echo 2 >/proc/sys/vm/drop_caches
t_eq "... the same after the inode left the cache" "$h1" "$(rfsprobe fid "$M/fid1")"
t_errno "... a decodable handle: EOPNOTSUPP" EOPNOTSUPP rfsprobe fid "$M/fid1" plain

t_ok "umount" umount "$M"
branch_snapshot "$B1" "$B2" >"$W/lower.after"
diff_lists "the lower branches are unchanged" "$W/lower.before" "$W/lower.after"
t_done
