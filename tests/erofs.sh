#!/bin/sh
# erofs.sh: a union without any rw branch is read-only (issue 3, "no rw
# branch -> EROFS"; notes/semantics.md "Removal and creation"). Every
# modification through it fails with EROFS, whatever branch the object lives
# in, and the branches stay untouched. Unions with an rw branch are written
# to: see copyup.sh, whiteout.sh, namespace.sh and rename.sh.
#
# Two mounts of the same branches: ro ro ro+wh, and rr ro+wh rr.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"

mkfile "$B0/upper" "in b0"                 # a file in the top branch
mkfile "$B1/lower" "in b1"                 # a file only in a lower branch
mkfile "$B2/lower2" "in b2"
mkdir "$B0/udir" "$B1/ldir" "$B1/ldir2"    # empty dirs, top and lower
mkfile "$B0/mdir/a" a                      # a merged directory
mkfile "$B1/mdir/b" b
ln -s lower "$B1/lnk"
mkfifo "$B1/fifo"
mkfile "$B2/hidden" "hidden by b1"         # whited out in b1 (honored when b1 is ro+wh)
: >"$B1/.wh.hidden"
setfattr_ok=1
rfsprobe setxattr "$B1/lower" user.rfs keep >/dev/null || setfattr_ok=0

# every_write_fails LABEL NAMES: all modifying operations through $M are
# EROFS; afterwards the root lists NAMES.
every_write_fails() {
	_ew=$1
	t_errno "$_ew: creat a new file" EROFS rfsprobe creat "$M/new"
	t_errno "$_ew: creat in a merged directory" EROFS rfsprobe creat "$M/mdir/new"
	t_errno "$_ew: open O_CREAT|O_EXCL" EROFS rfsprobe open "$M/new2" w,creat,excl
	t_errno "$_ew: open O_WRONLY of a lower file" EROFS rfsprobe open "$M/lower" w
	t_errno "$_ew: open O_RDWR of a lower file" EROFS rfsprobe open "$M/lower" rw
	t_errno "$_ew: open O_WRONLY|O_TRUNC of a lower file" EROFS rfsprobe open "$M/lower" w,trunc
	t_errno "$_ew: open O_RDONLY|O_TRUNC of a lower file" EROFS rfsprobe open "$M/lower" r,trunc
	t_errno "$_ew: open O_APPEND of a lower file" EROFS rfsprobe open "$M/lower" a
	t_errno "$_ew: open O_WRONLY of a file in the top branch" EROFS rfsprobe open "$M/upper" w
	t_errno "$_ew: open O_RDWR of a file in the top branch" EROFS rfsprobe open "$M/upper" rw
	t_errno "$_ew: open O_WRONLY of a file in the bottom branch" EROFS rfsprobe open "$M/lower2" w
	t_errno "$_ew: write to a lower file" EROFS rfsprobe write "$M/lower" data
	t_errno "$_ew: append to a file in the top branch" EROFS rfsprobe append "$M/upper" data
	t_errno "$_ew: O_TMPFILE in the root" EROFS rfsprobe open "$M" rw,tmpfile
	t_errno "$_ew: O_TMPFILE in a merged directory" EROFS rfsprobe open "$M/mdir" w,tmpfile
	t_errno "$_ew: mkdir" EROFS rfsprobe mkdir "$M/newdir"
	t_errno "$_ew: mkdir in a merged directory" EROFS rfsprobe mkdir "$M/mdir/newdir"
	t_errno "$_ew: rmdir of an empty dir in the top branch" EROFS rfsprobe rmdir "$M/udir"
	t_errno "$_ew: rmdir of an empty lower dir" EROFS rfsprobe rmdir "$M/ldir"
	t_errno "$_ew: unlink of a file in the top branch" EROFS rfsprobe unlink "$M/upper"
	t_errno "$_ew: unlink of a lower file" EROFS rfsprobe unlink "$M/lower"
	t_errno "$_ew: unlink of a lower symlink" EROFS rfsprobe unlink "$M/lnk"
	t_errno "$_ew: unlink in a merged directory" EROFS rfsprobe unlink "$M/mdir/b"
	t_errno "$_ew: rename a lower file to a new name" EROFS rfsprobe rename "$M/lower" "$M/renamed"
	t_errno "$_ew: rename a file in the top branch" EROFS rfsprobe rename "$M/upper" "$M/renamed"
	t_errno "$_ew: rename over an existing file" EROFS rfsprobe rename "$M/lower" "$M/upper"
	t_errno "$_ew: rename a directory" EROFS rfsprobe rename "$M/ldir" "$M/ldir-renamed"
	t_errno "$_ew: rename into a merged directory" EROFS rfsprobe rename "$M/lower" "$M/mdir/lower"
	t_errno "$_ew: rename RENAME_NOREPLACE" EROFS rfsprobe rename "$M/lower" "$M/renamed" noreplace
	# RENAME_EXCHANGE and RENAME_WHITEOUT may be refused as unsupported
	# flags (EINVAL) before the EROFS check; both leave everything as it is
	for _fl in exchange whiteout; do
		case $_fl in exchange) _to=upper ;; *) _to=renamed ;; esac
		_out=$(rfsprobe rename "$M/lower" "$M/$_to" $_fl)
		case $_out in EROFS* | EINVAL*) _r=0 ;; *) _r=1 ;; esac
		_got=${_out%% *}
		t_ok "$_ew: rename with the $_fl flag is refused, EROFS or EINVAL (got: ${_got:-success})" [ $_r = 0 ]
	done
	t_errno "$_ew: link a lower file" EROFS rfsprobe link "$M/lower" "$M/hardlink"
	t_errno "$_ew: link a file in the top branch" EROFS rfsprobe link "$M/upper" "$M/hardlink"
	t_errno "$_ew: symlink" EROFS rfsprobe symlink lower "$M/newlink"
	t_errno "$_ew: mknod fifo" EROFS rfsprobe mknod "$M/newfifo" fifo
	t_errno "$_ew: mknod char device" EROFS rfsprobe mknod "$M/newchr" chr 1 3
	t_errno "$_ew: mknod regular file" EROFS rfsprobe mknod "$M/newreg" reg
	t_errno "$_ew: truncate a lower file" EROFS rfsprobe truncate "$M/lower" 1
	t_errno "$_ew: truncate a file in the top branch" EROFS rfsprobe truncate "$M/upper" 0
	t_errno "$_ew: chmod a lower file" EROFS rfsprobe chmod "$M/lower" 0600
	t_errno "$_ew: chmod a file in the top branch" EROFS rfsprobe chmod "$M/upper" 0600
	t_errno "$_ew: chmod a directory" EROFS rfsprobe chmod "$M/mdir" 0700
	t_errno "$_ew: chmod the root" EROFS rfsprobe chmod "$M" 0700
	t_errno "$_ew: chown a lower file" EROFS rfsprobe chown "$M/lower" 1 1
	t_errno "$_ew: lchown a symlink" EROFS rfsprobe lchown "$M/lnk" 1 1
	t_errno "$_ew: utimes (now) of a lower file" EROFS rfsprobe utimes "$M/lower"
	t_errno "$_ew: utimes (explicit) of a file in the top branch" EROFS rfsprobe utimes "$M/upper" 1000
	t_errno "$_ew: setxattr on a lower file" EROFS rfsprobe setxattr "$M/lower" user.x v
	t_errno "$_ew: setxattr on a directory" EROFS rfsprobe setxattr "$M/mdir" user.x v
	if [ $setfattr_ok = 1 ]; then
		t_errno "$_ew: removexattr on a lower file" EROFS rfsprobe removexattr "$M/lower" user.rfs
	else
		t_skip "$_ew: removexattr on a lower file" "branch filesystem has no user xattrs"
	fi
	t_errno "$_ew: fallocate of a lower file" EROFS rfsprobe fallocate "$M/lower" 0 4096
	t_errno "$_ew: pwrite to a lower file" EROFS rfsprobe pwrite "$M/lower" 0 x
	t_errno "$_ew: writable mmap of a lower file" EROFS rfsprobe mmap-write "$M/lower" 0 x
	t_errno "$_ew: O_TMPFILE + linkat" EROFS rfsprobe tmpfile "$M" data "$M/tmplinked"
	# creating a reserved name: EROFS or EPERM, both refuse it
	out=$(rfsprobe creat "$M/.wh.lower")
	case $out in EROFS* | EPERM*) r=0 ;; *) r=1; diag "creat .wh.lower: '$out'" ;; esac
	t_ok "$_ew: creat of a reserved .wh. name fails (EROFS or EPERM)" [ $r = 0 ]
	# reading still works after all that
	t_eq "$_ew: the lower file still reads" "in b1" "$(cat "$M/lower")"
	t_eq "$_ew: the top file still reads" "in b0" "$(cat "$M/upper")"
	t_eq "$_ew: opening a fifo for writing is not EROFS" ok "$(rfsprobe fifo-roundtrip "$M/fifo")"
	t_eq "$_ew: no new name appeared" "$2" "$(names "$M" | oneline)"
}

# one_mount OPTS LABEL NAMES: mount, every_write_fails, branches unchanged
one_mount() {
	t_ok "mount $2" rfs_mount "$M" "$1"
	branch_snapshot "$B0" "$B1" "$B2" >"$W/before"
	every_write_fails "$2" "$3"
	branch_snapshot "$B0" "$B1" "$B2" >"$W/after"
	diff_lists "$2: all branches unchanged after every attempted write" "$W/before" "$W/after"
	t_ok "$2: umount" umount "$M"
}

# b1 plain ro: its .wh.hidden is not honored, b2's hidden shows
one_mount "dirs=$B0=ro:$B1=ro:$B2=ro+wh" "ro+ro+ro+wh" \
	"fifo hidden ldir ldir2 lnk lower lower2 mdir udir upper"
# b1 ro+wh: hidden is whited out
one_mount "dirs=$B0=rr:$B1=ro+wh:$B2=rr" "rr+ro+wh+rr" \
	"fifo ldir ldir2 lnk lower lower2 mdir udir upper"
t_done
