#!/bin/sh
# read.sh: the read path of the union (issue 2, "Files opened for reading",
# "Inodes").
#
# File contents via read(2), mmap, cat (sendfile/splice) and dd (llseek) for
# several sizes; attributes from the top-most lower object; symlinks, fifos
# and device nodes; permission checks against the lower inode's mode; inode
# numbers unique within the mount and stable (also after dropping caches).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
chmod 0755 "$T"                  # the unprivileged reader must reach $M
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"

# --- contents of several sizes, in the top and in lower branches -------------------
SIZES="0 1 4095 4096 4097 65536 1048699"
for s in $SIZES; do
	head -c "$s" /dev/urandom >"$B1/f$s"
done
head -c 1228800 /dev/urandom >"$B2/deep"      # only in b2
head -c 3000 /dev/urandom >"$B0/top"          # only in rw b0
mkfile "$B0/over" "upper contents"
mkfile "$B2/over" "lower contents, longer than the upper ones"
mkfile "$B1/dir/inner" "inner"
# sparse file: a hole then data
head -c 4096 /dev/urandom | dd of="$B2/sparse" bs=4096 seek=256 2>/dev/null
chmod 0640 "$B1/f4096"
chown 12:34 "$B1/f4096"
touch -d '2001-02-03 04:05:06' "$B1/f4096" 2>/dev/null || touch -t 200102030405.06 "$B1/f4096"

# --- symlinks ------------------------------------------------------------------------------
mkfile "$B1/target" "target contents"
ln -s target "$B1/rel"                   # relative, same branch
ln -s onlyb2 "$B1/cross"                 # target only in another branch
mkfile "$B2/onlyb2" "only in b2"
ln -s "$M/target" "$B2/abs"              # absolute, pointing into the union
ln -s dir "$B2/dirlink"                  # to a directory
ln -s missing "$B1/dangling"
ln -s rel "$B2/chain"                    # symlink to a symlink

# --- special files ---------------------------------------------------------------------------
mkfifo "$B1/fifo"
mknod "$B2/null" c 1 3
mknod "$B2/zero" c 1 5

# --- permissions -------------------------------------------------------------------------------
mkfile "$B1/secret" "secret"
chmod 0600 "$B1/secret"
mkfile "$B1/public" "public"
chmod 0644 "$B1/public"
mkfile "$B0/masked" "upper 0600"         # top-most mode decides
chmod 0600 "$B0/masked"
mkfile "$B1/masked" "lower 0644"
chmod 0644 "$B1/masked"
mkfile "$B1/private/file" "in a 0700 dir"
chmod 0700 "$B1/private"
NOBODY=65534

# --- inode numbers: two tmpfs branches with identical inode numbering ---------------------------
mkdir "$T/t1" "$T/t2"
mount -t tmpfs tmpfs "$T/t1"
mount -t tmpfs tmpfs "$T/t2"
for t in t1 t2; do
	mkdir "$T/$t/sub"
	for i in 1 2 3 4 5; do printf '%s' "$t$i" >"$T/$t/sub/$t-$i"; done
done
diag "tmpfs inode numbers: t1 $(rfsprobe inode-of "$T/t1/sub/t1-1") t2 $(rfsprobe inode-of "$T/t2/sub/t2-1")"
ln "$B1/public" "$B1/public-hardlink"

rfs_mount "$M" "dirs=$B0=rw:$B1=ro:$B2=ro"
t_eq "mount 3 branches" "rfs" "$(mount_line "$M" | awk '{ print $3 }')"
diag "scratch mount: $(mount_line "$RFS_SCRATCH")"

# --- contents ---------------------------------------------------------------------------------
for s in $SIZES; do
	b=$(md5sum <"$B1/f$s" | cut -d' ' -f1)
	t_ok "size $s: cmp union file with the branch file" cmp "$B1/f$s" "$M/f$s"
	t_eq "size $s: read(2) in odd chunks matches" "$b" "$(rfsprobe read-cat "$M/f$s" | md5sum | cut -d' ' -f1)"
	t_eq "size $s: mmap(MAP_SHARED) matches" "$b" "$(rfsprobe mmap-cat "$M/f$s" | md5sum | cut -d' ' -f1)"
	t_eq "size $s: read and mmap agree (cmp-mmap)" "same" "$(rfsprobe cmp-mmap "$M/f$s")"
	t_eq "size $s: st_size" "$s" "$(field size "$(rfsprobe stat "$M/f$s")")"
done
# shellcheck disable=SC2002 # cat on purpose: busybox cat uses sendfile (splice_read)
t_eq "cat (sendfile/splice) of a 1 MiB+ file matches" \
	"$(md5sum <"$B1/f1048699" | cut -d' ' -f1)" "$(cat "$M/f1048699" | md5sum | cut -d' ' -f1)"
t_eq "dd with skip (llseek) reads the right bytes" \
	"$(dd if="$B1/f1048699" bs=1000 skip=1000 count=3 2>/dev/null | md5sum | cut -d' ' -f1)" \
	"$(dd if="$M/f1048699" bs=1000 skip=1000 count=3 2>/dev/null | md5sum | cut -d' ' -f1)"
t_ok "a file only in the bottom branch reads correctly" cmp "$B2/deep" "$M/deep"
t_ok "a file only in the rw branch reads correctly" cmp "$B0/top" "$M/top"
t_eq "an overridden file reads the top-most branch's contents" "upper contents" "$(cat "$M/over")"
t_eq "an overridden file has the top-most branch's size" 14 "$(field size "$(rfsprobe stat "$M/over")")"
t_ok "a sparse file reads correctly" cmp "$B2/sparse" "$M/sparse"
t_eq "a sparse file reads correctly via mmap" "same" "$(rfsprobe cmp-mmap "$M/sparse")"
t_eq "a file in a subdirectory" "inner" "$(cat "$M/dir/inner")"
t_errno "read(2) of a directory is EISDIR" EISDIR rfsprobe read-cat "$M/dir"
t_ok "fsync of a file opened read-only works" rfsprobe fsync "$M/f4096"

# attributes come from the top-most lower object (st_dev/st_ino are the union's)
strip() { sed -e 's/dev=[^ ]* //' -e 's/ino=[^ ]* //'; }
t_eq "stat: mode/nlink/uid/gid/size/blocks/mtime of the branch file" \
	"$(rfsprobe stat "$B1/f4096" | strip)" "$(rfsprobe stat "$M/f4096" | strip)"
t_eq "stat of a directory: mode/uid/gid of the top-most one" \
	"$(field mode "$(rfsprobe stat "$B1/dir")")" "$(field mode "$(rfsprobe stat "$M/dir")")"
t_eq "hard links in a branch: st_nlink is the lower one (2)" 2 "$(field nlink "$(rfsprobe stat "$M/public")")"
[ "$(rfsprobe inode-of "$M/public")" = "$(rfsprobe inode-of "$M/public-hardlink")" ] ||
	diag "info (not required by issue 2): two hard links of one lower inode have different union inode numbers"

# the page cache is the lower one: an in-place change in the branch shows up
printf 'XYZ' | dd of="$B1/f4097" bs=1 seek=100 conv=notrunc 2>/dev/null
t_ok "an in-place change of a branch file is read through the union" cmp "$B1/f4097" "$M/f4097"
t_eq "... and through mmap" "same" "$(rfsprobe cmp-mmap "$M/f4097")"

# --- symlinks ---------------------------------------------------------------------------------
t_eq "readlink of a relative symlink" "target" "$(rfsprobe readlink "$M/rel")"
t_eq "lstat of a symlink: type and size" "lnk 6" \
	"$(l=$(rfsprobe lstat "$M/rel"); echo "$(field type "$l") $(field size "$l")")"
t_eq "following a relative symlink" "target contents" "$(cat "$M/rel")"
t_eq "a symlink whose target is in another branch resolves in the union" "only in b2" "$(cat "$M/cross")"
t_eq "an absolute symlink into the union" "target contents" "$(cat "$M/abs")"
t_eq "a symlink to a symlink" "target contents" "$(cat "$M/chain")"
t_eq "a symlink to a directory lists it" "inner" "$(names "$M/dirlink/" | oneline)"
t_errno "a dangling symlink: stat is ENOENT" ENOENT rfsprobe stat "$M/dangling"
t_eq "a dangling symlink: lstat shows it" "lnk" "$(field type "$(rfsprobe lstat "$M/dangling")")"
t_eq "readlink of a dangling symlink" "missing" "$(rfsprobe readlink "$M/dangling")"
t_errno "readlink of a regular file is EINVAL" EINVAL rfsprobe readlink "$M/target"

# --- fifo ---------------------------------------------------------------------------------------
t_eq "a fifo from a lower branch is a fifo" "fifo" "$(field type "$(rfsprobe stat "$M/fifo")")"
t_eq "fifo round trip through the union (opening it for writing is not a file write)" \
	"ok" "$(rfsprobe fifo-roundtrip "$M/fifo")"
# shellcheck disable=SC2016 # $1 is expanded by the inner shell
timeout 10 sh -c 'echo "hello fifo" >"$1"' sh "$M/fifo" &
wpid=$!
got=$(timeout 10 cat "$M/fifo")
wait $wpid
t_eq "fifo: shell writer in the background, cat reads" "hello fifo" "$got"

# --- device nodes ----------------------------------------------------------------------------
t_eq "a char device node (1,3) keeps its type and rdev" "chr 1:3" \
	"$(s=$(rfsprobe stat "$M/null"); echo "$(field type "$s") $(field rdev "$s")")"
t_eq "reading a /dev/null node through the union gives EOF" "0" \
	"$(rfsprobe read-cat "$M/null" | wc -c | tr -d ' ')"
t_eq "reading 1000 bytes of a /dev/zero node through the union" "1000" \
	"$(head -c 1000 "$M/zero" | wc -c | tr -d ' ')"

# --- permissions ---------------------------------------------------------------------------------
t_eq "root reads a 0600 file" "secret" "$(cat "$M/secret")"
t_eq "an unprivileged user reads a 0644 file" "public" "$(rfsprobe --uid $NOBODY read-cat "$M/public")"
t_errno "an unprivileged user cannot read a 0600 root file (EACCES)" EACCES \
	rfsprobe --uid $NOBODY read-cat "$M/secret"
t_errno "access(R_OK) agrees (EACCES)" EACCES rfsprobe --uid $NOBODY access "$M/secret" r
t_errno "the top-most branch's mode decides (0600 over 0644)" EACCES \
	rfsprobe --uid $NOBODY read-cat "$M/masked"
t_errno "an unprivileged user cannot look into a 0700 directory" EACCES \
	rfsprobe --uid $NOBODY stat "$M/private/file"
t_errno "an unprivileged user cannot list a 0700 directory" EACCES \
	rfsprobe --uid $NOBODY readdir "$M/private"
t_errno "executing a non-executable file is refused (access X_OK)" EACCES \
	rfsprobe --uid $NOBODY access "$M/public" x

# udba: a chmod made directly in the branch counts at once, for a cached
# object too.
t_eq "an unprivileged user reads a 0644 file (cached now)" "public" "$(rfsprobe --uid $NOBODY read-cat "$M/public")"
chmod 0600 "$B1/public"
t_errno "after a direct chmod 0600 in the branch, the user gets EACCES" EACCES \
	rfsprobe --uid $NOBODY read-cat "$M/public"
chmod 0644 "$B1/public"

t_ok "umount" umount "$M"

# --- inode numbers ------------------------------------------------------------------------------
# t1 and t2 are fresh tmpfs with the same creation sequence, so their lower
# inode numbers coincide; the union must still give every object its own.
rfs_mount "$M" "dirs=$T/t1=ro:$T/t2=ro:$B1=ro"
t_eq "mount over two tmpfs branches and one ext4 branch" "rfs" "$(mount_line "$M" | awk '{ print $3 }')"
find "$M" >"$W/objs"
while read -r p; do echo "$(rfsprobe inode-of "$p") $p"; done <"$W/objs" >"$W/inos1"
t_eq "all objects stat fine" "" "$(grep '^E' "$W/inos1" | head -3 | oneline)"
t_eq "inode numbers unique within the mount (lower numbers collide)" "" \
	"$(grep -v '/public-hardlink$' "$W/inos1" | cut -d' ' -f1 | sort | uniq -d | head -5 | oneline)"
t_eq "hard links in a branch share one union inode number" \
	"$(grep '/public$' "$W/inos1" | cut -d' ' -f1)" "$(grep '/public-hardlink$' "$W/inos1" | cut -d' ' -f1)"
diag "$(wc -l <"$W/objs" | tr -d ' ') objects checked"
while read -r p; do echo "$(rfsprobe inode-of "$p") $p"; done <"$W/objs" >"$W/inos2"
diff_lists "inode numbers are the same on a second stat" "$W/inos1" "$W/inos2"
sync
echo 2 >/proc/sys/vm/drop_caches
while read -r p; do echo "$(rfsprobe inode-of "$p") $p"; done <"$W/objs" >"$W/inos3"
diff_lists "inode numbers are the same after drop_caches (dentries and inodes evicted)" \
	"$W/inos1" "$W/inos3"
t_ok "umount" umount "$M"
umount "$T/t1"
umount "$T/t2"
t_done
