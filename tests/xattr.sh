#!/bin/sh
# xattr.sh: extended attributes and POSIX ACLs through the union (issue 3,
# item 7: "xattrs pass through (user.*, trusted.* for the mounter,
# security.*, POSIX ACLs), copied up on change; rfs's own xattrs, if any,
# hidden"; notes/semantics.md "Copy-up").
#
# Branches b0=rw b1=ro+wh b2=ro on the scratch ext4 (user.*, trusted.*,
# security.* and POSIX ACLs). Reading: getxattr/listxattr of lower files
# through the union, as root and as nobody (65534), who must see what the
# lower filesystem itself shows it (no trusted.*, EACCES on an unreadable
# file). Changing: setxattr/removexattr of user.*, trusted.*, security.*
# copy the file up with its data and every old xattr; nobody's changes that
# the VFS refuses (EACCES/EPERM) copy nothing up. ACLs: getacl of lower
# files, ACLs honoured by permission checks (read and write), setacl/rmacl
# through the union copy up, other copy-ups (append, chmod) keep the ACL, a
# lower directory's default ACL survives its copy-up and is inherited by
# what is created in it (file, directory, O_TMPFILE, re-creation over a
# whiteout). The lower branches are compared, xattrs and ACLs included,
# before and after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
chmod 0755 "$T"                  # nobody must reach $M
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2
M=$T/mnt
W=$T/work
mkdir "$M" "$W"
NB=65534                         # nobody:nogroup (scripts/vm-passwd)
RFS_UID=1000 RFS2_UID=1001       # rfs, rfs2

# What the branch filesystem takes (ext4 in the VM takes all of it).
probe=$B1/.probe
: >"$probe"
user_ok=0 trusted_ok=0 security_ok=0 acl_ok=0
rfsprobe setxattr "$probe" user.p 1 >/dev/null && user_ok=1
rfsprobe setxattr "$probe" trusted.p 1 >/dev/null && trusted_ok=1
rfsprobe setxattr "$probe" security.p 1 >/dev/null && security_ok=1
rfsprobe setacl "$probe" access u::rw-,u:$NB:r--,g::r--,m::r--,o::--- >/dev/null && acl_ok=1
rm -f "$probe"
diag "branch filesystem: user.*=$user_ok trusted.*=$trusted_ok security.*=$security_ok acl=$acl_ok"
if [ $user_ok$trusted_ok$security_ok$acl_ok != 1111 ]; then
	# Every case below mixes them; a partial set is not worth the bookkeeping.
	t_skip "xattrs and ACLs through the union" "the branch filesystem lacks some of user/trusted/security/acl"
	t_done
fi

ax() { rfsprobe xattrs-all "$1"; }              # every xattr, sorted; ACLs as text
acl() { rfsprobe getacl "$1" "${2:-access}"; }  # the ACL, or ENODATA ...
first() { printf '%s\n' "${1%% *}"; }           # the first word (an errno name)
lsx() { rfsprobe "$@" | sort | oneline; }       # sorted listxattr output
mode_of() { val mode "$(rfsprobe lstat "$1")"; }
# gone REL: the type of $B0/REL, or ENOENT when it was not copied up
gone() { ftype "$B0/$1"; }

# xfile PATH CONTENT MODE UID:GID [NAME=VALUE...]: a lower file with xattrs.
xfile() {
	local p=$1 kv
	mkfile "$p" "$2"
	chmod "$3" "$p"
	chown "$4" "$p"
	shift 4
	for kv in "$@"; do
		rfsprobe setxattr "$p" "${kv%%=*}" "${kv#*=}" >/dev/null || diag "setup: setxattr $p $kv failed"
	done
}

# xsnap DIR...: every object under the DIRs with all its xattrs and ACLs
# (branch_snapshot shows only user.*).
xsnap() {
	find "$@" | sort | while IFS= read -r p; do
		printf '%s %s\n' "$p" "$(ax "$p")"
	done
}

# xall PATH CONTENT MODE UID:GID: xfile with the four standard xattrs.
xall() {
	xfile "$@" trusted.t=tv security.s=sv user.a=1 user.b=two
}

# --- lower objects -----------------------------------------------------------------------
xall "$B1/rx" "data rx" 0644 0:0
xfile "$B2/rx2" "data rx2" 0644 0:0 user.c=3 trusted.t=bottom
xfile "$B1/secret" "secret" 0600 0:0 user.a=1
xall "$B1/setx" "data setx" 0640 "$RFS_UID:$RFS2_UID"
rfsprobe utimens "$B1/setx" 4000000000.5 1000000000.25 >/dev/null
xall "$B1/rmx" "data rmx" 0644 0:0
xall "$B2/trx" "data trx" 0644 0:0
xall "$B1/secx" "data secx" 0644 0:0
xfile "$B1/flags" "data flags" 0644 0:0 user.a=1
xfile "$B1/rmmissing" "data rmmissing" 0644 0:0 user.a=1
xall "$B1/noperm" "data noperm" 0644 0:0
xall "$B1/owned" "data owned" 0644 "$NB:$NB"
xall "$B1/world" "data world" 0666 0:0
xfile "$B1/ownacl" "data ownacl" 0644 "$NB:$NB" user.a=1

# ACLs
A_R=u::rw-,u:$NB:r--,g::---,m::r--,o::---
A_W=u::rw-,u:$NB:rw-,g::---,m::rw-,o::---
A_C=u::rw-,u:$NB:r--,g::r--,m::rw-,o::---
xfile "$B1/acl_r" "acl r" 0600 0:0
rfsprobe setacl "$B1/acl_r" access "$A_R" >/dev/null
xfile "$B1/acl_w" "acl w" 0600 0:0 user.a=1
rfsprobe setacl "$B1/acl_w" access "$A_W" >/dev/null
xfile "$B1/acl_set" "acl set" 0644 0:0 user.a=1
xfile "$B1/acl_app" "acl app" 0600 0:0 user.a=1 trusted.t=tv
rfsprobe setacl "$B1/acl_app" access "$A_R" >/dev/null
xfile "$B2/acl_chmod" "acl chmod" 0600 0:0
rfsprobe setacl "$B2/acl_chmod" access "$A_C" >/dev/null
xfile "$B1/acl_rm" "acl rm" 0600 0:0
rfsprobe setacl "$B1/acl_rm" access "$A_R" >/dev/null
# a 0700 root directory that nobody may search through an ACL
mkfile "$B1/pdir/f" "pdir f"
chmod 0700 "$B1/pdir"
rfsprobe setacl "$B1/pdir" access u::rwx,u:$NB:r-x,g::---,m::r-x,o::--- >/dev/null
# a lower directory (bottom branch) with a default ACL
D_ACL=u::rwx,u:$NB:rwx,g::r-x,m::rwx,o::r-x
mkdir "$B2/dacl"
chmod 0755 "$B2/dacl"
rfsprobe setacl "$B2/dacl" default "$D_ACL" >/dev/null
rfsprobe setxattr "$B2/dacl" user.d dv >/dev/null
rfsprobe creat "$B2/dacl/gonef" 0644 >/dev/null   # inherits the default ACL
printf gone >>"$B2/dacl/gonef"
mkdir "$B2/dacl/sub"
rfsprobe utimens "$B2/dacl" 1100000000.5 1100000000.5 >/dev/null
# a lower directory whose default ACL is removed through the union
mkdir "$B1/ddir"
rfsprobe setacl "$B1/ddir" default "$D_ACL" >/dev/null

branch_snapshot "$B1" "$B2" >"$W/lower.before"
xsnap "$B1" "$B2" >"$W/lowerx.before"

t_ok "mount b0=rw b1=ro+wh b2=ro" rfs_mount "$M" "dirs=$B0=rw:$B1=ro+wh:$B2=ro"

# --- reading through the union ------------------------------------------------------------
t_eq "root: getxattr user.a of a lower file" 1 "$(rfsprobe getxattr "$M/rx" user.a)"
t_eq "root: getxattr user.b" two "$(rfsprobe getxattr "$M/rx" user.b)"
t_eq "root: getxattr trusted.t" tv "$(rfsprobe getxattr "$M/rx" trusted.t)"
t_eq "root: getxattr security.s" sv "$(rfsprobe getxattr "$M/rx" security.s)"
t_errno "root: getxattr of a missing user.zz is ENODATA" ENODATA rfsprobe getxattr "$M/rx" user.zz
t_eq "root: listxattr shows the lower file's names" "security.s trusted.t user.a user.b" \
	"$(lsx listxattr "$M/rx")"
t_eq "root: listxattr through the union = listxattr of the lower file" \
	"$(lsx listxattr "$B1/rx")" "$(lsx listxattr "$M/rx")"
t_eq "root: every xattr of a file in the bottom branch" "trusted.t=bottom user.c=3" "$(ax "$M/rx2")"
t_eq "root: reading xattrs copied nothing up" "ENOENT ENOENT" "$(gone rx) $(gone rx2)"

t_eq "nobody: getxattr user.a of a readable (0644) lower file" 1 \
	"$(rfsprobe --uid $NB getxattr "$M/rx" user.a)"
t_eq "nobody: getxattr security.s" sv "$(rfsprobe --uid $NB getxattr "$M/rx" security.s)"
t_errno "nobody: getxattr trusted.t is ENODATA (as on the lower file)" ENODATA \
	rfsprobe --uid $NB getxattr "$M/rx" trusted.t
t_eq "nobody: the lower file itself lists no trusted.* to nobody (reference)" \
	"security.s user.a user.b" "$(lsx --uid $NB listxattr "$B1/rx")"
t_eq "nobody: listxattr through the union lists no trusted.* either" \
	"security.s user.a user.b" "$(lsx --uid $NB listxattr "$M/rx")"
t_errno "nobody: getxattr user.a of a root 0600 file is EACCES" EACCES \
	rfsprobe --uid $NB getxattr "$M/secret" user.a

# --- setxattr / removexattr copy up ---------------------------------------------------------
t_errno "root: setxattr user.new on a lower file succeeds" 0 rfsprobe setxattr "$M/setx" user.new n
t_eq "setxattr: the file is now in the rw branch" reg "$(ftype "$B0/setx")"
t_eq "setxattr: the copy has the data" "data setx" "$(cat "$B0/setx")"
t_eq "setxattr: the copy has every old xattr plus the new one" \
	"security.s=sv trusted.t=tv user.a=1 user.b=two user.new=n" "$(ax "$B0/setx")"
t_eq "setxattr: the union shows the same" "$(ax "$B0/setx")" "$(ax "$M/setx")"
t_eq "setxattr: the copy keeps mode, owner and mtime" \
	"$(pick "mode uid gid mtime" "$(meta "$B1/setx")")" "$(pick "mode uid gid mtime" "$(meta "$B0/setx")")"
t_eq "setxattr: the lower file keeps its xattrs" "security.s=sv trusted.t=tv user.a=1 user.b=two" \
	"$(ax "$B1/setx")"
t_eq "setxattr: data through the union" "data setx" "$(rfsprobe read-cat "$M/setx")"

t_errno "root: removexattr user.a of a lower file succeeds" 0 rfsprobe removexattr "$M/rmx" user.a
t_eq "removexattr: the copy in the rw branch lacks only user.a" \
	"security.s=sv trusted.t=tv user.b=two" "$(ax "$B0/rmx")"
t_errno "removexattr: getxattr user.a through the union is ENODATA" ENODATA \
	rfsprobe getxattr "$M/rmx" user.a
t_eq "removexattr: listxattr through the union" "security.s trusted.t user.b" "$(lsx listxattr "$M/rmx")"
t_eq "removexattr: the lower file still has user.a" 1 "$(rfsprobe getxattr "$B1/rmx" user.a)"
t_eq "removexattr: the copy has the data" "data rmx" "$(cat "$B0/rmx")"

t_errno "root: setxattr trusted.new on a lower file (bottom branch) succeeds" 0 \
	rfsprobe setxattr "$M/trx" trusted.new tn
t_eq "trusted.*: the copy has it, with the old xattrs" \
	"security.s=sv trusted.new=tn trusted.t=tv user.a=1 user.b=two" "$(ax "$B0/trx")"
t_eq "trusted.*: getxattr through the union" tn "$(rfsprobe getxattr "$M/trx" trusted.new)"
t_errno "trusted.*: the lower file has no trusted.new" ENODATA rfsprobe getxattr "$B2/trx" trusted.new

t_errno "root: setxattr security.new on a lower file succeeds" 0 rfsprobe setxattr "$M/secx" security.new sn
t_eq "security.*: the copy has it, with the old xattrs" \
	"security.new=sn security.s=sv trusted.t=tv user.a=1 user.b=two" "$(ax "$B0/secx")"
t_eq "security.*: getxattr through the union" sn "$(rfsprobe getxattr "$M/secx" security.new)"

t_errno "setxattr XATTR_CREATE of an existing user.a is EEXIST" EEXIST \
	rfsprobe setxattr "$M/flags" user.a x create
t_errno "setxattr XATTR_REPLACE of a missing user.zz is ENODATA" ENODATA \
	rfsprobe setxattr "$M/flags" user.zz x replace
t_eq "the failed setxattr calls changed nothing visible" "user.a=1" "$(ax "$M/flags")"
t_errno "setxattr XATTR_REPLACE of user.a works" 0 rfsprobe setxattr "$M/flags" user.a 2 replace
t_eq "XATTR_REPLACE: new value through the union and in the copy" "2 user.a=2" \
	"$(rfsprobe getxattr "$M/flags" user.a) $(ax "$B0/flags")"

t_errno "removexattr of a missing user.zz of a lower file is ENODATA" ENODATA \
	rfsprobe removexattr "$M/rmmissing" user.zz
t_eq "removexattr of a missing xattr copies nothing up (as OverlayFS)" ENOENT "$(gone rmmissing)"

# --- unprivileged callers -----------------------------------------------------------------------
t_errno "nobody: setxattr user.x on a root 0644 file is EACCES" EACCES \
	rfsprobe --uid $NB setxattr "$M/noperm" user.x 1
t_errno "nobody: removexattr user.a of it is EACCES" EACCES \
	rfsprobe --uid $NB removexattr "$M/noperm" user.a
t_errno "nobody: setxattr trusted.x on it is EPERM" EPERM \
	rfsprobe --uid $NB setxattr "$M/noperm" trusted.x 1
t_errno "nobody: setxattr security.x on it is EPERM" EPERM \
	rfsprobe --uid $NB setxattr "$M/noperm" security.x 1
t_errno "nobody: setacl on it is EPERM (not the owner)" EPERM \
	rfsprobe --uid $NB setacl "$M/noperm" access "$A_R"
t_eq "nobody: none of that copied the file up" ENOENT "$(gone noperm)"
t_eq "nobody: the union still shows the lower xattrs" \
	"security.s=sv trusted.t=tv user.a=1 user.b=two" "$(ax "$M/noperm")"

t_errno "nobody: setxattr user.mine on its own lower file succeeds" 0 \
	rfsprobe --uid $NB setxattr "$M/owned" user.mine m
t_eq "nobody's setxattr: the copy is owned by nobody, mode kept" "mode=0100644 uid=$NB gid=$NB" \
	"$(pick "mode uid gid" "$(meta "$B0/owned")")"
t_eq "nobody's setxattr: the copy keeps trusted.* and security.* (copied as the mounter)" \
	"security.s=sv trusted.t=tv user.a=1 user.b=two user.mine=m" "$(ax "$B0/owned")"

t_errno "nobody: append to a lower root 0666 file succeeds" 0 rfsprobe --uid $NB append "$M/world" "+n"
t_eq "nobody's append: the copy keeps every xattr" "security.s=sv trusted.t=tv user.a=1 user.b=two" \
	"$(ax "$B0/world")"
t_eq "nobody's append: data" "data world+n" "$(cat "$B0/world")"

# --- POSIX ACLs ---------------------------------------------------------------------------------
t_eq "getacl of a lower file through the union" "$A_R" "$(acl "$M/acl_r")"
t_eq "the lower file's mode shows the ACL mask (0640)" 0100640 "$(mode_of "$M/acl_r")"
t_errno "getacl default of a lower file is ENODATA" ENODATA rfsprobe getacl "$M/acl_r" default
t_eq "listxattr shows system.posix_acl_access" "system.posix_acl_access" "$(lsx listxattr "$M/acl_r")"
t_eq "reference: nobody reads the lower file directly (ACL)" "acl r" \
	"$(rfsprobe --uid $NB read-cat "$B1/acl_r")"
t_eq "nobody reads the 0640 root file through the union (ACL u:$NB:r--)" "acl r" \
	"$(rfsprobe --uid $NB read-cat "$M/acl_r")"
t_errno "nobody: access(R_OK) through the union" 0 rfsprobe --uid $NB access "$M/acl_r" r
t_errno "nobody: open for writing is EACCES (the ACL grants r-- only)" EACCES \
	rfsprobe --uid $NB open "$M/acl_r" w
t_errno "rfs (1000, not in the ACL) cannot read it: EACCES" EACCES \
	rfsprobe --uid $RFS_UID read-cat "$M/acl_r"
t_eq "reading under the ACL copied nothing up" ENOENT "$(gone acl_r)"

t_errno "nobody: append to a root 0660 file whose ACL grants u:$NB:rw- succeeds" 0 \
	rfsprobe --uid $NB append "$M/acl_w" "+w"
t_eq "ACL write: the copy has the lower ACL" "$A_W" "$(acl "$B0/acl_w")"
t_eq "ACL write: the copy is root's, mode 0660, data appended" "mode=0100660 uid=0 gid=0 acl w+w" \
	"$(pick "mode uid gid" "$(meta "$B0/acl_w")") $(cat "$B0/acl_w")"
t_eq "ACL write: the copy keeps user.a" "system.posix_acl_access=$A_W user.a=1" "$(ax "$B0/acl_w")"

A_S=u::rw-,u:$RFS_UID:rw-,g::r--,m::rw-,o::r--
t_errno "before setacl: rfs (1000) cannot open the root 0644 file for writing" EACCES \
	rfsprobe --uid $RFS_UID open "$M/acl_set" w
t_eq "before setacl: no ACL (ENODATA)" ENODATA "$(first "$(acl "$M/acl_set")")"
t_errno "root: setacl through the union succeeds" 0 rfsprobe setacl "$M/acl_set" access "$A_S"
t_eq "setacl: the file is copied up with the ACL" "$A_S" "$(acl "$B0/acl_set")"
t_eq "setacl: getacl through the union" "$A_S" "$(acl "$M/acl_set")"
t_eq "setacl: the mask is the group bits: mode 0664 in the copy and the union" "0100664 0100664" \
	"$(mode_of "$B0/acl_set") $(mode_of "$M/acl_set")"
t_eq "setacl: the copy keeps the data and user.a" "acl set system.posix_acl_access=$A_S user.a=1" \
	"$(cat "$B0/acl_set") $(ax "$B0/acl_set")"
t_eq "setacl: the lower file has no ACL and mode 0644" "ENODATA 0100644" \
	"$(first "$(acl "$B1/acl_set")") $(mode_of "$B1/acl_set")"
t_errno "setacl: rfs (1000) may now write the file through the union" 0 \
	rfsprobe --uid $RFS_UID append "$M/acl_set" "+u"
t_eq "setacl: rfs's write is in the copy" "acl set+u" "$(cat "$B0/acl_set")"

t_errno "root: append to a lower file with an ACL succeeds" 0 rfsprobe append "$M/acl_app" "+a"
t_eq "append copy-up keeps the ACL, trusted.* and user.*" \
	"system.posix_acl_access=$A_R trusted.t=tv user.a=1" "$(ax "$B0/acl_app")"
t_eq "append copy-up keeps mode 0640" 0100640 "$(mode_of "$B0/acl_app")"
t_eq "nobody still reads it through the union (ACL of the copy)" "acl app+a" \
	"$(rfsprobe --uid $NB read-cat "$M/acl_app")"

t_errno "root: chmod 0640 of a lower file with an ACL (bottom branch) succeeds" 0 \
	rfsprobe chmod "$M/acl_chmod" 0640
t_eq "chmod copy-up: the copy's ACL keeps u:$NB and takes the new mask" \
	"u::rw-,u:$NB:r--,g::r--,m::r--,o::---" "$(acl "$B0/acl_chmod")"
t_eq "chmod copy-up: mode 0640 in the copy and through the union" "0100640 0100640" \
	"$(mode_of "$B0/acl_chmod") $(mode_of "$M/acl_chmod")"
t_eq "chmod copy-up: the lower ACL is unchanged" "$A_C" "$(acl "$B2/acl_chmod")"

t_eq "before rmacl: nobody reads the file through the union" "acl rm" \
	"$(rfsprobe --uid $NB read-cat "$M/acl_rm")"
t_errno "root: rmacl through the union succeeds" 0 rfsprobe rmacl "$M/acl_rm" access
t_eq "rmacl: the copy has no ACL" ENODATA "$(first "$(acl "$B0/acl_rm")")"
t_eq "rmacl: getacl through the union is ENODATA" ENODATA "$(first "$(acl "$M/acl_rm")")"
t_eq "rmacl: the copy has the data, mode 0640" "acl rm 0100640" "$(cat "$B0/acl_rm") $(mode_of "$B0/acl_rm")"
t_eq "rmacl: the lower file keeps its ACL" "$A_R" "$(acl "$B1/acl_rm")"
t_errno "rmacl: nobody can no longer read it through the union" EACCES \
	rfsprobe --uid $NB read-cat "$M/acl_rm"

t_errno "nobody: setacl on its own lower file succeeds" 0 \
	rfsprobe --uid $NB setacl "$M/ownacl" access "u::rw-,u:$RFS_UID:r--,g::r--,m::r--,o::r--"
t_eq "nobody's setacl: the copy is nobody's, with the ACL and user.a" \
	"uid=$NB gid=$NB system.posix_acl_access=u::rw-,u:$RFS_UID:r--,g::r--,m::r--,o::r-- user.a=1" \
	"$(pick "uid gid" "$(meta "$B0/ownacl")") $(ax "$B0/ownacl")"

t_eq "nobody lists a 0700 root directory through the union (ACL u:$NB:r-x)" f \
	"$(rfsprobe --uid $NB readdir "$M/pdir" | sed 's/ .*//' | grep -v '^\.\.*$' | oneline)"
t_eq "nobody reads a file in it" "pdir f" "$(rfsprobe --uid $NB read-cat "$M/pdir/f")"
t_errno "rfs (1000) cannot search it: EACCES" EACCES rfsprobe --uid $RFS_UID read-cat "$M/pdir/f"

# --- default ACLs of directories ------------------------------------------------------------------
# A file made in a directory with $D_ACL gets the default entries, masked
# by the create mode (its group bits become the mask, umask is ignored).
t_eq "getacl default of a lower directory through the union" "$D_ACL" "$(acl "$M/dacl" default)"
t_eq "reference: a file made in it directly inherited the ACL (mode 0644)" \
	"u::rw-,u:$NB:rwx,g::r-x,m::r--,o::r--" "$(acl "$B2/dacl/gonef")"
t_errno "creat dacl/new 0644 through the union succeeds" 0 rfsprobe creat "$M/dacl/new" 0644
t_eq "the directory was copied up" dir "$(ftype "$B0/dacl")"
t_eq "its copy keeps the default ACL" "$D_ACL" "$(acl "$B0/dacl" default)"
t_eq "its copy has no access ACL (neither had the lower one)" ENODATA "$(first "$(acl "$B0/dacl")")"
t_eq "its copy keeps user.d, mode and owner" "user.d=dv mode=040755 uid=0 gid=0" \
	"$(rfsprobe user-xattrs "$B0/dacl") $(pick "mode uid gid" "$(meta "$B0/dacl")")"
t_eq "the new file inherited the default ACL" "u::rw-,u:$NB:rwx,g::r-x,m::r--,o::r--" \
	"$(acl "$B0/dacl/new")"
t_eq "the new file: getacl through the union" "u::rw-,u:$NB:rwx,g::r-x,m::r--,o::r--" \
	"$(acl "$M/dacl/new")"
t_eq "the new file has mode 0644" 0100644 "$(mode_of "$M/dacl/new")"

t_errno "mkdir dacl/newdir 0755 through the union succeeds" 0 rfsprobe mkdir "$M/dacl/newdir" 0755
t_eq "the new directory inherited the default ACL as its default ACL" "$D_ACL" \
	"$(acl "$M/dacl/newdir" default)"
t_eq "the new directory's access ACL" "u::rwx,u:$NB:rwx,g::r-x,m::r-x,o::r-x" "$(acl "$B0/dacl/newdir")"

t_errno "unlink dacl/gonef (lower) succeeds" 0 rfsprobe unlink "$M/dacl/gonef"
t_errno "creat dacl/gonef 0600 over its whiteout succeeds" 0 rfsprobe creat "$M/dacl/gonef" 0600
t_eq "re-created over a whiteout: it inherited the default ACL (mode 0600)" \
	"u::rw-,u:$NB:rwx,g::r-x,m::---,o::--- 0100600" "$(acl "$B0/dacl/gonef") $(mode_of "$B0/dacl/gonef")"
t_errno "rmdir dacl/sub (lower, empty) succeeds" 0 rfsprobe rmdir "$M/dacl/sub"
t_errno "mkdir dacl/sub 0750 over its whiteout succeeds" 0 rfsprobe mkdir "$M/dacl/sub" 0750
t_eq "opaque mkdir: the new directory inherited the default ACL" "$D_ACL" "$(acl "$B0/dacl/sub" default)"
t_eq "opaque mkdir: its access ACL" "u::rwx,u:$NB:rwx,g::r-x,m::r-x,o::---" "$(acl "$B0/dacl/sub")"
t_ok "opaque mkdir: the directory is opaque" rfsprobe lstat "$B0/dacl/sub/.wh..wh..opq"
t_eq "opaque mkdir: it is empty in the union" "" "$(names "$M/dacl/sub" | oneline)"

t_errno "O_TMPFILE in it, linked as tmpf, succeeds" 0 rfsprobe tmpfile "$M/dacl" tmpdata "$M/dacl/tmpf"
t_eq "the O_TMPFILE file inherited the default ACL (mode 0644)" \
	"u::rw-,u:$NB:rwx,g::r-x,m::r--,o::r--" "$(acl "$M/dacl/tmpf")"
t_errno "nobody may not write it (named entry rwx, but mask r--): EACCES" EACCES \
	rfsprobe --uid $NB open "$M/dacl/tmpf" w

t_errno "root: rmacl default of a lower directory succeeds" 0 rfsprobe rmacl "$M/ddir" default
t_eq "rmacl default: the directory was copied up without it" "dir ENODATA" \
	"$(ftype "$B0/ddir") $(first "$(acl "$B0/ddir" default)")"
t_eq "rmacl default: getacl default through the union is ENODATA" ENODATA \
	"$(first "$(acl "$M/ddir" default)")"
t_eq "rmacl default: the lower directory keeps it" "$D_ACL" "$(acl "$B1/ddir" default)"

# --- rfs's own xattrs, coherence --------------------------------------------------------------------
t_eq "the union root shows no xattrs (rfs's own, if any, are hidden)" "" "$(ax "$M")"
t_eq "root listxattr of a copied-up file = the copy's (nothing added nor hidden)" \
	"$(lsx listxattr "$B0/setx")" "$(lsx listxattr "$M/setx")"
drop_caches
t_eq "after drop_caches: xattrs of a copied-up file through the union" \
	"security.s=sv trusted.t=tv user.a=1 user.b=two user.new=n" "$(ax "$M/setx")"
t_eq "after drop_caches: the ACL set through the union" "$A_S" "$(acl "$M/acl_set")"
t_eq "after drop_caches: a lower file's ACL" "$A_R" "$(acl "$M/acl_r")"
t_eq "after drop_caches: nobody still reads the lower ACL file" "acl r" \
	"$(rfsprobe --uid $NB read-cat "$M/acl_r")"

t_ok "umount" umount "$M"
branch_snapshot "$B1" "$B2" >"$W/lower.after"
diff_lists "the lower branches are unchanged (data, attributes, user.*)" "$W/lower.before" "$W/lower.after"
xsnap "$B1" "$B2" >"$W/lowerx.after"
diff_lists "the lower branches' xattrs and ACLs are unchanged" "$W/lowerx.before" "$W/lowerx.after"
t_done
