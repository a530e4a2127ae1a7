#!/bin/sh
# aufs.sh: rfs as a drop-in for AUFS users (issue "AUFS drop-in").
#
#  1. Docker's aufs storage driver's own mount string (`br:...,dio,xino=...`)
#     mounts; `dio`/`nodio` are accepted (nodio: O_DIRECT refused, as AUFS
#     does by default) and changeable by remount.
#  2. O_DIRECT through the union (union files take O_DIRECT as overlayfs's
#     do; the branch file does the direct I/O): reads of a lower file, a
#     write that copies the file up, reads right after a copy-up, the
#     branch's alignment rules (a misaligned O_DIRECT read fails as it does
#     natively), O_DIRECT added later with fcntl(F_SETFL), and a tmpfs
#     branch; every result compared with the same operation on a plain file.
#  3. a branch given without a permission on a filesystem that cannot be
#     written is `rr` (AUFS's default for squashfs, iso9660, ... and read-only
#     mounts): `dirs=/cdrom` gives a read-only union, and a live-CD stack
#     (tmpfs rw on top) works.
#  4. AUFS's other mount options and branch attributes are accepted (a
#     note in the kernel log for those without effect); bad values and
#     unknown ones stay EINVAL.
#  5. Docker's aufs driver start to end: 50 layers with 64-hex ids, the
#     first mount with what fits in a page, the rest by remount append
#     chunks with a trailing comma; the container's changes (an rm -rf of
#     an opaque lower directory, a package manager's rename); the diff as
#     the driver tars it.
#  6. AUFS compatibility mode (insmod rfs.ko aufs_compat=1): registered as
#     "aufs" too, AUFS's statfs magic, /sys/fs/aufs; off by default. AUFS's
#     own auplink protocol (/proc/fs/aufs/plink_maint, AUFS_CTL_BRINFO,
#     <ino>.<hino> pseudo-link names; rfsprobe auplink does what aufs-util's
#     auplink does), also after a remount with a fresh xino file.
#  7. the pseudo-link flush (what `auplink MNT flush` does before umount):
#     every name of a hard-linked lower file of which one name was copied up
#     becomes a real hard link in the writable branch, the pseudo-links go
#     (orphans too), nothing else is copied up, the union's view and inode
#     numbers stay; a committed layer holds every name; root only; EAGAIN
#     when a pseudo-link is made meanwhile; EROFS on a read-only union.
#     The Docker lifecycle in 5 runs the flush before umount, where the
#     driver runs `auplink` (which does not work on rfs).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T=$(rfs_tmpdir)
mkbranches "$T" 3
B0=$T/b0 B1=$T/b1 B2=$T/b2 M=$T/mnt
mkdir "$M"
XINO=/dev/shm/aufs.xino
RFS_UID=1000                    # scripts/vm-passwd: rfs

# pattern FILE SIZE SEED: a file of SIZE bytes of a repeatable pattern.
pattern() {
	awk -v n="$2" -v s="$3" 'BEGIN { for (i = 0; i < n; i++) printf "%c", 65 + (i * 13 + s) % 26 }' >"$1"
}

pattern "$B1/l1" 16384 1
pattern "$B2/l2" 12288 2
pattern "$B1/w" 16384 3
pattern "$T/w.orig" 16384 3
pattern "$B1/after" 8192 4
mkdir -p "$T/native"

# res CMD...: "ok", or the errno name rfsprobe printed.
res() {
	local out
	if out=$("$@" 2>/dev/null); then echo ok; else printf '%s\n' "$out" | head -n 1 | cut -d' ' -f1; fi
}

# --- 1. Docker's mount string ----------------------------------------------------
DOCKER="br:$B0=rw:$B1=ro+wh:$B2=ro+wh,dio,xino=$XINO"
t_ok "Docker's aufs mount string mounts (br:...=rw:...=ro+wh,dio,xino=$XINO)" rfs_mount "$M" "$DOCKER"
t_eq "the union shows both layers" "after l1 l2 w" "$(names "$M" | oneline)"
t_eq "dio is the default: /proc/mounts shows no nodio" "" "$(mount_opts "$M" | tr , '\n' | grep -x nodio)"
t_errno "dio takes no value" EINVAL rfsprobe mount rfs none "$T/native" "br:$B1=ro,dio=1"

# --- 2. O_DIRECT -------------------------------------------------------------------
t_ok "O_DIRECT read of a lower file" rfsprobe direct-read "$M/l1" 4096 8192
rfsprobe direct-read "$M/l1" 4096 8192 >"$T/got" 2>/dev/null
dd if="$B1/l1" bs=4096 skip=1 count=2 2>/dev/null >"$T/want"
t_ok "... gives the file's bytes" cmp "$T/got" "$T/want"
t_ok "O_DIRECT read of a file two layers down" sh -c "rfsprobe direct-read '$M/l2' 0 12288 | cmp - '$B2/l2'"
t_fail "the lower file was not copied up by the reads" [ -e "$B0/l1" ]

t_eq "O_DIRECT write into a lower file (copies it up)" 8192 "$(rfsprobe direct-write "$M/w" 4096 8192 9)"
cp "$B1/w" "$T/native/w"
rfsprobe direct-write "$T/native/w" 4096 8192 9 >/dev/null
t_ok "... the union file holds the write over the old data" cmp "$M/w" "$T/native/w"
t_ok "... in the writable branch" cmp "$B0/w" "$T/native/w"
t_ok "... the lower file is unchanged" cmp "$B1/w" "$T/w.orig"
t_ok "... an O_DIRECT read right after gives the new data" sh -c "rfsprobe direct-read '$M/w' 0 16384 | cmp - '$T/native/w'"
drop_caches
t_ok "... also after drop_caches" sh -c "rfsprobe direct-read '$M/w' 0 16384 | cmp - '$T/native/w'"

# A buffered write copies the file up; O_DIRECT reads at once see the copy.
printf 'XY' | dd of="$M/after" bs=1 seek=100 conv=notrunc 2>/dev/null
cp "$B1/after" "$T/native/after"
printf 'XY' | dd of="$T/native/after" bs=1 seek=100 conv=notrunc 2>/dev/null
t_ok "O_DIRECT read right after a buffered write's copy-up" sh -c "rfsprobe direct-read '$M/after' 0 8192 | cmp - '$T/native/after'"

# The branch's own rules apply: ext4 wants O_DIRECT offsets aligned.
cp "$B1/l1" "$T/native/l1"
native=$(res rfsprobe direct-read "$T/native/l1" 1 4096)
t_eq "a misaligned O_DIRECT read: the same result as natively ($native)" "$native" "$(res rfsprobe direct-read "$M/l1" 1 4096)"
native=$(res rfsprobe direct-read "$T/native/l1" 1 4096 setfl)
t_eq "O_DIRECT added by fcntl(F_SETFL) reaches the branch file (misaligned read as natively: $native)" \
	"$native" "$(res rfsprobe direct-read "$M/l1" 1 4096 setfl)"
dd if="$T/want" bs=4096 count=1 2>/dev/null >"$T/want4k"
t_ok "an aligned read after fcntl(F_SETFL, O_DIRECT) works" sh -c "rfsprobe direct-read '$M/l1' 4096 4096 setfl | cmp - '$T/want4k'"

# O_APPEND cleared (set) by fcntl(F_SETFL) after the open: pwrite(2) at 0
# overwrites (appends), as natively (overlayfs: ovl_change_flags).
for mode in noappend append; do
	printf 'abcdef' >"$B0/fl-$mode"
	printf 'abcdef' >"$T/native/fl-$mode"
	rfsprobe setfl-write "$T/native/fl-$mode" $mode XY 0
	t_ok "fcntl(F_SETFL) $mode after the open: pwrite at 0 does what it does natively ($(cat "$T/native/fl-$mode"))" \
		rfsprobe setfl-write "$M/fl-$mode" $mode XY 0
	t_eq "... the file holds the same bytes" "$(cat "$T/native/fl-$mode")" "$(cat "$M/fl-$mode")"
done
rm -f "$M/fl-noappend" "$M/fl-append"

# --- nodio ---------------------------------------------------------------------------
t_ok "remount,nodio" mount -o remount,nodio "$M"
t_eq "/proc/mounts shows nodio" "nodio" "$(mount_opts "$M" | tr , '\n' | grep -x nodio)"
t_errno "nodio: an O_DIRECT open fails (EINVAL), as AUFS without dio" EINVAL rfsprobe direct-read "$M/l1" 0 4096
t_errno "nodio: O_DIRECT added by fcntl fails at the read" EINVAL rfsprobe direct-read "$M/l1" 0 4096 setfl
t_ok "nodio: buffered reads work" cmp "$M/l1" "$B1/l1"
t_ok "remount,dio" mount -o remount,dio "$M"
t_ok "dio again: O_DIRECT reads work" sh -c "rfsprobe direct-read '$M/l1' 4096 8192 | cmp - '$T/want'"
t_ok "umount" umount "$M"
t_ok "mount with nodio" rfs_mount "$M" "br:$B0=rw:$B1=ro+wh,nodio"
t_errno "... O_DIRECT open: EINVAL" EINVAL rfsprobe direct-read "$M/l1" 0 4096
umount "$M"

# --- a tmpfs writable branch ---------------------------------------------------------
TM=$T/tm
mkdir -p "$TM"
mount -t tmpfs -o size=16m tmpfs "$TM"
mkdir -p "$TM/up" "$TM/mnt"
pattern "$TM/native" 8192 5
nat=$(res rfsprobe direct-write "$TM/native" 0 4096 6)
rfs_mount "$TM/mnt" "br:$TM/up=rw:$B1=ro+wh"
cp "$B1/after" "$TM/up/t"
got=$(res rfsprobe direct-write "$TM/mnt/t" 0 4096 6)
t_eq "tmpfs branch: O_DIRECT write does what it does natively ($nat)" "$nat" "$got"
umount "$TM/mnt"
umount "$TM"
rm -f "$XINO"

# --- 3. default permission of a read-only filesystem ------------------------------------
# AUFS picks `rr` for a branch given without a permission whose filesystem
# cannot be written (a live CD: `dirs=/cdrom`); the union is then read-only.
RO=$T/rofs
mkdir -p "$RO" "$T/romnt"
mount -t tmpfs -o size=4m tmpfs "$RO"
mkfile "$RO/etc/hostname" "live"
mkfile "$B1/etc/motd" "lower"
mount -o remount,ro "$RO"
t_ok "dirs= of a read-only filesystem, no permission given: mounts" rfs_mount "$T/romnt" "dirs=$RO"
t_eq "... the branch is rr" "dirs=$RO=rr" "$(mount_opts "$T/romnt" | tr , '\n' | grep '^dirs=')"
t_eq "... reads work" "live" "$(cat "$T/romnt/etc/hostname")"
t_errno "... the union is read-only (EROFS)" EROFS rfsprobe creat "$T/romnt/new"
umount "$T/romnt"
t_ok "dirs=RO:LOWER: the read-only branch 0 is rr too" rfs_mount "$T/romnt" "dirs=$RO:$B1"
t_eq "... both read" "live lower" "$(cat "$T/romnt/etc/hostname") $(cat "$T/romnt/etc/motd")"
t_errno "... writes: EROFS" EROFS rfsprobe creat "$T/romnt/etc/new"
umount "$T/romnt"
t_errno "an explicit =rw on a read-only filesystem still fails (EROFS)" EROFS rfsprobe mount rfs none "$T/romnt" "dirs=$RO=rw"
is_mounted "$T/romnt" && umount "$T/romnt"
rfs_mount "$T/romnt" "dirs=$B0=rw:$B1=ro+wh"
t_ok "remount,append: of the read-only filesystem without a permission" mount -o "remount,append:$RO" "$T/romnt"
t_eq "... it is rr there too" "dirs=$B0=rw:$B1=ro+wh:$RO=rr" "$(mount_opts "$T/romnt" | tr , '\n' | grep '^dirs=')"
t_ok "... a remount with the same dirs= and no permission changes nothing" \
	mount -o "remount,dirs=$B0=rw:$B1=ro+wh:$RO" "$T/romnt"
t_eq "... still rr" "dirs=$B0=rw:$B1=ro+wh:$RO=rr" "$(mount_opts "$T/romnt" | tr , '\n' | grep '^dirs=')"
umount "$T/romnt"
# A live-CD style stack: a tmpfs on top, the read-only image below.
mkdir -p "$T/live/up"
mount -t tmpfs -o size=8m tmpfs "$T/live/up"
t_ok "live CD: dirs=TMPFS=rw:IMAGE (no permission for the image)" rfs_mount "$T/romnt" "dirs=$T/live/up=rw:$RO"
t_eq "... the image is rr" "dirs=$T/live/up=rw:$RO=rr" "$(mount_opts "$T/romnt" | tr , '\n' | grep '^dirs=')"
echo changed >"$T/romnt/etc/hostname"
t_eq "... changes land in the tmpfs" "changed" "$(cat "$T/live/up/etc/hostname")"
t_eq "... the image is unchanged" "live" "$(cat "$RO/etc/hostname")"
umount "$T/romnt"
umount "$T/live/up"
umount "$RO"

# --- 4. AUFS's other options and branch attributes ---------------------------------------
# Accepted, so fstab lines and scripts written for AUFS mount; those with
# no effect in rfs say so in the kernel log.
dmesg -c >/dev/null 2>&1
AOPTS="br:$B0=rw+nolwh:$B1=ro+wh+unpin:$B2=rr+icex,dirperm1,nowarn_perm,wsum,noplink,diropq=w,rdcache=10,rdblk=def,rdhash=def,dirwh=3,notrunc_xib,plink,acl,quiet,create=tdp,cpup=tdp"
t_ok "an AUFS fstab line with its options and branch attributes mounts" rfs_mount "$M" "$AOPTS"
t_eq "... the branches have their permissions" "dirs=$B0=rw:$B1=ro+wh:$B2=rr" "$(mount_opts "$M" | tr , '\n' | grep '^dirs=')"
t_eq "... and work" "after etc l1 l2 w" "$(names "$M" | oneline)"
umount "$M"
t_ok "options without effect are noted in the kernel log" sh -c "dmesg | grep -q 'rfs: option noplink has no effect'"
t_ok "... and branch attributes" sh -c "dmesg | grep -q 'rfs: branch attribute +unpin has no effect'"
t_fail "... options rfs already follows are not" sh -c "dmesg | grep -q 'rfs: option dirperm1'"
for o in nodirperm1 warn_perm verbose shwh noshwh wsum sum nosum clean_plink noacl dirren nodirren trunc_xib \
	notrunc_xino diropq=a itrunc_xino=1 fhsm_sec=1 create=rr create=mfs:60 create=tdmfs:100:60 \
	cpup=bup copyup_policy=bu create_policy=tdp; do
	rfsprobe mount rfs none "$M" "br:$B0=rw:$B1=ro+wh,$o" >/dev/null 2>&1 && r=ok || r=fail
	is_mounted "$M" && umount "$M"
	[ $r = ok ] || break
done
t_eq "each AUFS option mounts alone (last tried: $o)" ok "$r"
for o in "rdcache=x" "diropq=sometimes" "create=bogus" "cpup=sideways" "bogus" "sum=1"; do
	t_errno "bad value or unknown option: $o is EINVAL" EINVAL rfsprobe mount rfs none "$M" "br:$B0=rw:$B1=ro+wh,$o"
	is_mounted "$M" && umount "$M"
done
t_errno "an unknown branch attribute is EINVAL" EINVAL rfsprobe mount rfs none "$M" "br:$B0=rw:$B1=ro+bogus"
t_errno "+wh on rw stays EINVAL" EINVAL rfsprobe mount rfs none "$M" "br:$B0=rw+wh:$B1=ro"

# sum: statfs adds up the branches' filesystems, each once (AUFS's meaning).
SM=$T/sum
mkdir -p "$SM/a" "$SM/b" "$SM/mnt"
mount -t tmpfs -o size=8m tmpfs "$SM/a"
mount -t tmpfs -o size=16m tmpfs "$SM/b"
mkdir -p "$SM/a/up" "$SM/a/low" "$SM/b/low"
kb() { df -k "$1" | awk 'NR == 2 { print $2 }'; }
t_ok "mount with sum (branches on an 8 MiB and a 16 MiB tmpfs, one of them twice)" \
	rfs_mount "$SM/mnt" "br:$SM/a/up=rw:$SM/a/low=ro:$SM/b/low=ro,sum"
t_eq "sum: df shows both filesystems, each once" $(($(kb "$SM/a") + $(kb "$SM/b"))) "$(kb "$SM/mnt")"
t_eq "sum: shown in /proc/mounts" sum "$(mount_opts "$SM/mnt" | tr , '\n' | grep -x sum)"
t_ok "remount,nosum" mount -o remount,nosum "$SM/mnt"
t_eq "nosum: df shows the writable branch's filesystem" "$(kb "$SM/a")" "$(kb "$SM/mnt")"
umount "$SM/mnt"
umount "$SM/a"
umount "$SM/b"

# --- 5. Docker's aufs driver, start to end -------------------------------------------------
# Layers with ids of 64 hex digits, more than fit in one mount(2) page: the
# driver mounts what fits, then adds the rest by remount with
# "append:LAYER=ro+wh," chunks (a trailing comma), as aufs.go does.
D=$T/docker
mkdir -p "$D/layers" "$D/diff" "$D/mnt"
NL=50
i=0
while [ $i -lt $NL ]; do
	id=$(printf '%064x' $((i * 7919 + 1)))
	mkdir -p "$D/layers/$id/etc" "$D/layers/$id/usr/share/l$i"
	echo "layer $i" >"$D/layers/$id/etc/layer-$i"
	echo "$i" >"$D/layers/$id/etc/top"
	echo "$id" >>"$D/ids"
	i=$((i + 1))
done
# the topmost image layer (first id) deletes etc/layer-1 and makes usr opaque
first=$(head -n 1 "$D/ids")
: >"$D/layers/$first/etc/.wh.layer-1"
: >"$D/layers/$first/usr/.wh..wh..opq"
mkdir -p "$D/layers/$first/usr/bin" && echo sh >"$D/layers/$first/usr/bin/sh"
# and has a file with two names (hard links)
echo conf >"$D/layers/$first/etc/hl-a" && ln "$D/layers/$first/etc/hl-a" "$D/layers/$first/etc/hl-b"
# the first mount: as many layers as fit in a page
data="br:$D/diff=rw"
rest=""
while read -r id; do
	if [ -z "$rest" ] && [ $((${#data} + ${#D} + 90)) -lt 4000 ]; then
		data="$data:$D/layers/$id=ro+wh"
	else
		rest="$rest $id"
	fi
done <"$D/ids"
data="$data,dio,xino=/dev/shm/aufs.xino"
t_ok "docker: first mount, ${#data} bytes of options" rfs_mount "$D/mnt" "$data"
chunk=""
nchunks=0
for id in $rest; do
	chunk="${chunk}append:$D/layers/$id=ro+wh,"
	if [ ${#chunk} -gt 3000 ]; then
		# mount(2) with MS_REMOUNT and this data, as the driver calls it
		rfsprobe remount "$D/mnt" "$chunk" >/dev/null || break
		chunk="" nchunks=$((nchunks + 1))
	fi
done
[ -z "$chunk" ] || { rfsprobe remount "$D/mnt" "$chunk" >/dev/null && nchunks=$((nchunks + 1)); }
S=/sys/fs/rfs/si_$(mount_si "$D/mnt")
t_eq "docker: remount,append:...=ro+wh, chunks ($nchunks) add every layer" $((NL + 1)) "$(ls "$S" | grep -c '^br[0-9]')"
t_eq "docker: the bottom layer is the last branch" "$D/layers/$(tail -n 1 "$D/ids")=ro+wh" "$(cat "$S/br$NL")"
t_eq "docker: every layer shows" $((NL - 1)) "$(ls "$D/mnt/etc" | grep -c '^layer-')"
t_eq "docker: the top layer's file wins" 0 "$(cat "$D/mnt/etc/top")"
t_errno "docker: the whiteout hides etc/layer-1" ENOENT rfsprobe lstat "$D/mnt/etc/layer-1"
t_eq "docker: the opaque usr shows only the top layer" "bin share" "$(names "$D/mnt/usr" | oneline)"
t_eq "docker: ... and its share only the top layer's" "l0" "$(names "$D/mnt/usr/share" | oneline)"
# the container's changes
echo new >"$D/mnt/etc/new"
echo changed >"$D/mnt/etc/top"
rm "$D/mnt/etc/layer-7"
rm -rf "$D/mnt/usr"
mkdir -p "$D/mnt/usr/local" && echo tool >"$D/mnt/usr/local/tool"
mkdir -p "$D/mnt/opt/pkg.tmp/lib" && echo so >"$D/mnt/opt/pkg.tmp/lib/x.so"
mv "$D/mnt/opt/pkg.tmp" "$D/mnt/opt/pkg"
echo edited >>"$D/mnt/etc/hl-a"
t_eq "docker: the container's view" "changed new so tool" \
	"$(cat "$D/mnt/etc/top") $(cat "$D/mnt/etc/new") $(cat "$D/mnt/opt/pkg/lib/x.so") $(cat "$D/mnt/usr/local/tool")"
t_eq "docker: the other name of the edited hard link shows the change" "conf edited" "$(cat "$D/mnt/etc/hl-b" | oneline)"
# the driver runs `auplink MNT flush` before umount
t_eq "docker: the pseudo-link flush links the other name" "linked 1 removed 1" "$(rfsprobe plink-flush "$D/mnt")"
# the layer diff as the driver tars it: the rw directory without
# .wh..wh.* except .wh..wh..opq
umount "$D/mnt"
diffs=$(cd "$D/diff" && find . | awk -F/ '{ bad = 0; for (i = 2; i <= NF; i++) if (index($i, ".wh..wh.") == 1 && $i != ".wh..wh..opq") bad = 1; if (!bad) print }' | sort | tr '\n' ' ')
t_eq "docker: the diff holds the changes, whiteouts and opaque markers" \
	". ./etc ./etc/.wh.layer-7 ./etc/hl-a ./etc/hl-b ./etc/new ./etc/top ./opt ./opt/pkg ./opt/pkg/lib ./opt/pkg/lib/x.so ./usr ./usr/.wh..wh..opq ./usr/local ./usr/local/tool " \
	"$diffs"
t_eq "docker: nothing else of rfs's in the diff but .wh..wh.* (excluded by the driver)" "" \
	"$(cd "$D/diff" && ls -a | grep '^\.wh\.\.wh\.' | grep -v -x -e .wh..wh.orph -e .wh..wh.plnk)"
t_eq "docker: /dev/shm/aufs.xino is not left behind" "" "$(ls -a /dev/shm | grep aufs)"
t_eq "docker: the diff's two names are one file with the change" "2 conf edited" \
	"$(stat -c %h "$D/diff/etc/hl-b") $(cat "$D/diff/etc/hl-b" | oneline)"
t_eq "docker: ... the same inode" "$(stat -c %i "$D/diff/etc/hl-a")" "$(stat -c %i "$D/diff/etc/hl-b")"

# --- 7. pseudo-link flush ---------------------------------------------------------------------
P=$T/plink
mkdir -p "$P/u" "$P/l/sub" "$P/mnt" "$P/commit"
chmod 0755 "$T" "$P"                    # the unprivileged user must reach $P/mnt
echo data >"$P/l/h1" && ln "$P/l/h1" "$P/l/sub/h2" && ln "$P/l/h1" "$P/l/sub/h3"
echo cdata >"$P/l/c1" && ln "$P/l/c1" "$P/l/c2"
echo odata >"$P/l/o1" && ln "$P/l/o1" "$P/l/sub/o2"
echo keep >"$P/l/k1" && ln "$P/l/k1" "$P/l/k2"
t_ok "plink: mount" rfs_mount "$P/mnt" "br:$P/u=rw:$P/l=ro+wh"
t_eq "plink: none at first" "count 0" "$(rfsprobe plink-info "$P/mnt" | cut -d' ' -f3-)"
echo more >>"$P/mnt/h1"
echo gone >>"$P/mnt/o1"
t_eq "plink: the other names read the copy" "data more|data more" \
	"$(cat "$P/mnt/sub/h2" | oneline)|$(cat "$P/mnt/sub/h3" | oneline)"
rm "$P/mnt/o1" "$P/mnt/sub/o2"
t_eq "plink: two pseudo-links, one of them an orphan" "count 2" "$(rfsprobe plink-info "$P/mnt" | cut -d' ' -f3-)"
t_errno "plink: info is for root only (EPERM)" EPERM rfsprobe --uid "$RFS_UID" plink-info "$P/mnt"
t_errno "plink: link is for root only (EPERM)" EPERM rfsprobe --uid "$RFS_UID" plink-link "$P/mnt/sub/h2"
t_errno "plink: clean is for root only (EPERM)" EPERM rfsprobe --uid "$RFS_UID" plink-clean "$P/mnt" 0
t_eq "plink: link of a file without a copy does nothing" "0" "$(rfsprobe plink-link "$P/mnt/k1")"
t_eq "plink: ... and copies nothing up" "" "$(ls "$P/u" | grep -x -e k1 -e k2)"
t_eq "plink: link of a directory does nothing" "0" "$(rfsprobe plink-link "$P/mnt/sub")"
# a pseudo-link made between the epoch and the clean: EAGAIN, nothing removed
epoch=$(rfsprobe plink-info "$P/mnt" | cut -d' ' -f2)
echo cmore >>"$P/mnt/c1"
t_errno "plink: clean after a new pseudo-link is EAGAIN" EAGAIN rfsprobe plink-clean "$P/mnt" "$epoch"
t_eq "plink: ... and removes nothing" "count 3" "$(rfsprobe plink-info "$P/mnt" | cut -d' ' -f3-)"
ino_before=$(stat -c %i "$P/mnt/h1" "$P/mnt/sub/h2" "$P/mnt/sub/h3" "$P/mnt/c1" "$P/mnt/c2" "$P/mnt/k1" | oneline)
t_eq "plink: flush links every name of a copied file, drops every pseudo-link" "linked 3 removed 3" \
	"$(rfsprobe plink-flush "$P/mnt")"
t_eq "plink: the names are hard links of the copy in the writable branch" "3 3 3 2 2" \
	"$(stat -c %h "$P/u/h1" "$P/u/sub/h2" "$P/u/sub/h3" "$P/u/c1" "$P/u/c2" | oneline)"
t_eq "plink: ... one inode each" "1 1" \
	"$(stat -c %i "$P/u/h1" "$P/u/sub/h2" "$P/u/sub/h3" | sort -u | wc -l) $(stat -c %i "$P/u/c1" "$P/u/c2" | sort -u | wc -l)"
t_eq "plink: the pseudo-link directory is empty" "" "$(ls -A "$P/u/.wh..wh.plnk")"
t_eq "plink: untouched hard links stay below" "" "$(ls "$P/u" | grep -x -e k1 -e k2)"
t_eq "plink: the union shows the same data" "data more|data more|cdata cmore|keep" \
	"$(cat "$P/mnt/sub/h2" | oneline)|$(cat "$P/mnt/sub/h3" | oneline)|$(cat "$P/mnt/c2" | oneline)|$(cat "$P/mnt/k2")"
t_eq "plink: ... with the same inode numbers" "$ino_before" \
	"$(stat -c %i "$P/mnt/h1" "$P/mnt/sub/h2" "$P/mnt/sub/h3" "$P/mnt/c1" "$P/mnt/c2" "$P/mnt/k1" | oneline)"
drop_caches
t_eq "plink: ... also after the caches are dropped" "$ino_before" \
	"$(stat -c %i "$P/mnt/h1" "$P/mnt/sub/h2" "$P/mnt/sub/h3" "$P/mnt/c1" "$P/mnt/c2" "$P/mnt/k1" | oneline)"
t_eq "plink: a second flush finds nothing" "linked 0 removed 0" "$(rfsprobe plink-flush "$P/mnt")"
echo again >>"$P/mnt/sub/h2"
t_eq "plink: the names stay one file after the flush" "data more again" "$(cat "$P/mnt/h1" | oneline)"
t_ok "plink: remount ro" mount -o remount,ro "$P/mnt"
t_errno "plink: link on a read-only union is EROFS" EROFS rfsprobe plink-link "$P/mnt/h1"
umount "$P/mnt"
# the writable branch as a committed layer holds every name
t_ok "plink: the writable branch mounts as a layer" rfs_mount "$P/commit" "br:$P/u=ro+wh"
t_eq "plink: ... with every name of the changed files" "data more again|cdata cmore" \
	"$(cat "$P/commit/sub/h3" | oneline)|$(cat "$P/commit/c2" | oneline)"
umount "$P/commit"

# A copied name removed or replaced, the other name still below; the other
# name looked up first after the caches were dropped; a mount sharing the
# writable branch; a remount between the epoch and the clean; a descriptor
# from before a clean.
Q=$T/plink2
mkdir -p "$Q/u" "$Q/l" "$Q/l2" "$Q/mnt" "$Q/mnt2"
for n in r s c e; do echo data >"$Q/l/${n}1" && ln "$Q/l/${n}1" "$Q/l/${n}2"; done
dd if=/dev/urandom of="$Q/l/g1" bs=1M count=8 2>/dev/null && ln "$Q/l/g1" "$Q/l/g2"
t_ok "plink: mount for the removal cases" rfs_mount "$Q/mnt" "br:$Q/u=rw:$Q/l=ro+wh"
SQ=/sys/fs/rfs/si_$(mount_si "$Q/mnt")
t_ok "plink: a second mount shares the writable branch" rfs_mount "$Q/mnt2" "br:$Q/u=rw:$Q/l2=ro+wh"
t_errno "plink: flush while another mount shares the writable branch is EBUSY" EBUSY rfsprobe plink-flush "$Q/mnt"
umount "$Q/mnt2"
echo more >>"$Q/mnt/r1" && rm "$Q/mnt/r1"
echo more >>"$Q/mnt/s1" && echo new >"$Q/mnt/tmp" && mv "$Q/mnt/tmp" "$Q/mnt/s1"
t_eq "plink: the other names read the copy after the copied name went" "data more|data more" \
	"$(cat "$Q/mnt/r2" | oneline)|$(cat "$Q/mnt/s2" | oneline)"
echo more >>"$Q/mnt/c1"
drop_caches
cat "$Q/mnt/c2" >/dev/null
t_ok "plink: the copied name opens for writing after its sibling was looked up first" \
	rfsprobe open "$Q/mnt/c1" w
epoch=$(rfsprobe plink-info "$Q/mnt" | cut -d' ' -f2)
rfsprobe remount "$Q/mnt" "append:$Q/l2=ro+wh" >/dev/null
t_errno "plink: clean after a remount is EAGAIN" EAGAIN rfsprobe plink-clean "$Q/mnt" "$epoch"
bytes=$(cat "$SQ/copyup_bytes")
t_eq "plink: flush after the removals" "linked 3 removed 3" "$(rfsprobe plink-flush "$Q/mnt")"
t_eq "plink: ... copies no data" "$bytes" "$(cat "$SQ/copyup_bytes")"
t_eq "plink: the remaining names are in the writable branch with the copy's data" "data more|data more|data more|new" \
	"$(cat "$Q/u/r2" | oneline)|$(cat "$Q/u/s2" | oneline)|$(cat "$Q/u/c2" | oneline)|$(cat "$Q/u/s1")"
t_eq "plink: ... one inode with the names left" "1 1" "$(stat -c %h "$Q/u/r2" "$Q/u/s2" | oneline)"
drop_caches
t_eq "plink: ... and the union shows them" "data more|data more" "$(cat "$Q/mnt/r2" | oneline)|$(cat "$Q/mnt/s2" | oneline)"
# a descriptor opened before a clean that ran without a walk (the file's
# other name reads the lower file again, as documented): a link through it
# copies nothing
echo more >>"$Q/mnt/g1"
drop_caches
exec 3<"$Q/mnt/g2"
epoch=$(rfsprobe plink-info "$Q/mnt" | cut -d' ' -f2)
rfsprobe plink-clean "$Q/mnt" "$epoch" >/dev/null
bytes=$(cat "$SQ/copyup_bytes")
t_eq "plink: link through a descriptor from before the clean does nothing" "0" "$(rfsprobe plink-link /proc/self/fd/3)"
t_eq "plink: ... and copies no data" "$bytes" "$(cat "$SQ/copyup_bytes")"
exec 3<&-
t_eq "plink: info on a union without a writable branch" "count 0" \
	"$(rfs_mount "$Q/mnt2" "br:$Q/l2=ro" && rfsprobe plink-info "$Q/mnt2" | cut -d' ' -f3-; umount "$Q/mnt2")"
umount "$Q/mnt"

# Copy-ups of hard-linked names while flushes run: every name ends with the
# copy's data, as links of one file.
R=$T/plink3
mkdir -p "$R/u" "$R/l" "$R/mnt"
i=1
while [ $i -le 60 ]; do echo "v$i" >"$R/l/a$i" && ln "$R/l/a$i" "$R/l/b$i"; i=$((i + 1)); done
t_ok "plink: mount for the concurrent flushes" rfs_mount "$R/mnt" "br:$R/u=rw:$R/l=ro+wh"
(
	i=1
	while [ $i -le 60 ]; do echo x >>"$R/mnt/a$i"; i=$((i + 1)); done
	: >"$R/done"
) &
bad=0 runs=0
while [ ! -e "$R/done" ]; do
	out=$(rfsprobe plink-flush "$R/mnt" 2>&1) || case $out in *EAGAIN*) ;; *) bad=$((bad + 1)); diag "$out" ;; esac
	runs=$((runs + 1))
done
wait
t_eq "plink: flushes during copy-ups fail only with EAGAIN ($runs runs)" 0 "$bad"
t_ok "plink: a last flush" rfsprobe plink-flush "$R/mnt"
wrong=0 i=1
while [ $i -le 60 ]; do
	[ "$(cat "$R/mnt/b$i" | oneline)" = "v$i x" ] && [ "$(stat -c %i "$R/u/a$i")" = "$(stat -c %i "$R/u/b$i")" ] ||
		wrong=$((wrong + 1))
	i=$((i + 1))
done
t_eq "plink: every pair is one file with the change, in the writable branch" 0 "$wrong"
t_eq "plink: no pseudo-link left" "" "$(ls -A "$R/u/.wh..wh.plnk")"
umount "$R/mnt"

# --- 6. AUFS compatibility mode -------------------------------------------------------------
# insmod rfs.ko aufs_compat=1: also registered as "aufs" (Docker's aufs
# driver up to 23 looks for it in /proc/filesystems and mounts -t aufs),
# statfs magic 0x61756673, /sys/fs/aufs. Off by default.
t_fail "compatibility mode is off by default: no aufs in /proc/filesystems" grep -q 'aufs$' /proc/filesystems
if [ -n "${RFS_MODULE:-}" ] && rmmod rfs 2>/dev/null; then
	t_ok "insmod rfs.ko aufs_compat=1" insmod "$RFS_MODULE" aufs_compat=1
	t_eq "/proc/filesystems lists 'nodev aufs'" "nodev	aufs" "$(grep -x 'nodev	aufs' /proc/filesystems)"
	t_ok "mount -t aufs with Docker's string" mount -t aufs -o "br:$B0=rw:$B1=ro+wh,dio,xino=/dev/shm/aufs.xino" none "$M"
	t_eq "... /proc/mounts shows type aufs" aufs "$(awk -v m="$M" '$2 == m { print $3 }' /proc/mounts)"
	t_eq "... statfs f_type is AUFS's" 61756673 "$(stat -f -c %t "$M")"
	t_ok "... /sys/fs/aufs/si_<id>/br0 names the rw branch" sh -c "cat /sys/fs/aufs/si_$(mount_si "$M")/br0 | grep -qx '$B0=rw'"
	t_eq "... reads work" "after etc l1 w" "$(names "$M" | oneline)"
	umount "$M"
	# auplink (aufs-util), which Docker's driver runs before each umount:
	# /proc/fs/aufs/plink_maint, AUFS_CTL_BRINFO, AUFS-style names in
	# .wh..wh.plnk. rfsprobe auplink does what it does.
	P=$T/auplink
	mkdir -p "$P/u" "$P/l" "$P/mnt"
	echo data >"$P/l/a" && ln "$P/l/a" "$P/l/b" && mkdir "$P/l/d" && ln "$P/l/a" "$P/l/d/c"
	echo other >"$P/l/x"
	t_ok "auplink: mount -t aufs" mount -t aufs -o "br:$P/u=rw:$P/l=ro+wh,xino=/dev/shm/aufs.xino" none "$P/mnt"
	t_eq "auplink: AUFS_CTL_BRINFO lists the branches (id, AUFS perm bits, path)" \
		"0x1 $P/u|0x1002 $P/l" "$(rfsprobe brinfo "$P/mnt" | cut -d' ' -f2- | tr '\n' '|' | sed 's/|$//')"
	t_errno "auplink: ... on a file: ENOTTY" ENOTTY rfsprobe brinfo "$P/mnt/x"
	echo more >>"$P/mnt/a"
	t_eq "auplink: a copy-up of a hard-linked file makes one pseudo-link" 1 "$(ls -A "$P/u/.wh..wh.plnk" | wc -l)"
	# One named as rfs did before its names started with "_": still used,
	# and renamed for auplink (which reads a number before the first dot).
	k=$(ls -A "$P/u/.wh..wh.plnk")
	mv "$P/u/.wh..wh.plnk/$k" "$P/u/.wh..wh.plnk/${k#_}"
	drop_caches
	t_eq "auplink: a pseudo-link named the old way still serves the other names" "data more" "$(cat "$P/mnt/b" | oneline)"
	# Docker mounts each time with a private xino file: the numbers are new.
	t_ok "auplink: umount, mount again (a fresh xino file)" sh -c \
		"umount '$P/mnt' && mount -t aufs -o 'br:$P/u=rw:$P/l=ro+wh,xino=/dev/shm/aufs.xino' none '$P/mnt'"
	# A name served by the pseudo-link is looked up first (and kept).
	exec 4<"$P/mnt/d/c"
	t_eq "auplink: ... every name of the file shows one inode number" 1 \
		"$(stat -c %i "$P/mnt/d/c" "$P/mnt/a" "$P/mnt/b" | sort -u | wc -l)"
	ino=$(stat -c %i "$P/mnt/a")
	t_eq "auplink: list names the names to link" "$P/mnt/a|$P/mnt/b|$P/mnt/d/c" \
		"$(rfsprobe auplink "$P/mnt" list | grep '^/' | sort | tr '\n' '|' | sed 's/|$//')"
	t_ok "auplink: ... and their inode number" sh -c "rfsprobe auplink '$P/mnt' list | head -n 1 | grep -qw $ino"
	t_ok "auplink: flush" rfsprobe auplink "$P/mnt" flush
	exec 4<&-
	t_eq "auplink: ... every name is a hard link to the copy in the writable branch" "3 3 3" \
		"$(stat -c %h "$P/u/a" "$P/u/b" "$P/u/d/c" | oneline)"
	t_eq "auplink: ... of one inode" 1 "$(stat -c %i "$P/u/a" "$P/u/b" "$P/u/d/c" | sort -u | wc -l)"
	t_eq "auplink: ... no pseudo-link is left" "" "$(ls -A "$P/u/.wh..wh.plnk")"
	t_eq "auplink: ... nothing else was copied up" "none" "$(stat -c %s "$P/u/x" 2>/dev/null || echo none)"
	t_eq "auplink: ... the union shows the change through every name" "data more|data more" \
		"$(cat "$P/mnt/b" | oneline)|$(cat "$P/mnt/d/c" | oneline)"
	t_ok "auplink: flush with no pseudo-link left" rfsprobe auplink "$P/mnt" flush
	t_fail "plink_maint: an unknown union id is refused" sh -c 'printf si=fffffff0 >/proc/fs/aufs/plink_maint'
	t_fail "plink_maint: clean before si= is refused" sh -c 'printf clean >/proc/fs/aufs/plink_maint'
	t_fail "plink_maint: not for other users" rfsprobe --uid $RFS_UID open /proc/fs/aufs/plink_maint w
	t_ok "auplink: umount" umount "$P/mnt"
	t_ok "mount -t rfs still works and keeps its own magic" rfs_mount "$M" "br:$B0=rw:$B1=ro+wh"
	t_eq "... statfs f_type is rfs's" 72667321 "$(stat -f -c %t "$M")"
	umount "$M"
	t_ok "rmmod" rmmod rfs
	t_fail "... /sys/fs/aufs is gone" [ -e /sys/fs/aufs ]
	t_fail "... and /proc/fs/aufs" [ -e /proc/fs/aufs ]
	t_fail "... and aufs from /proc/filesystems" grep -q 'aufs$' /proc/filesystems
	t_ok "insmod rfs.ko (default mode again)" insmod "$RFS_MODULE"
else
	t_skip "AUFS compatibility mode" "rfs cannot be unloaded here (RFS_MODULE unset or module busy)"
fi
ensure_module
t_done
