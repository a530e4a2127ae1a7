#!/bin/sh
# rfsctl.sh: the rfsctl command-line tool (tools/rfsctl, static, at
# /tests/tools/rfsctl in the VM; issue 18).
#
#  1. rfsctl mount: branches as arguments (default and given permissions,
#     generic flags), shown by /proc/mounts.
#  2. rfsctl list: the human table and --json (branches with path, perm
#     and id from sysfs, options, counters after a copy-up), every union or
#     one.
#  3. more branches than fit in one mount(2) page: 321 branches from
#     --branches-from, passed as dirs= plus append= fsconfig keys; all in
#     sysfs, the top-most copy of a name wins, the bottom layer is reached.
#  4. rfsctl branch append / prepend / add / mod / del on a live union.
#  5. mount.rfs (argv[0]): mount(8)'s helper call, and -o remount.
#  6. rfsctl plink info / list / flush: hard links in the writable branch,
#     no pseudo-link left; auplink (argv[0]) flush / list / cpup and its
#     exit codes (22 for bad arguments).
#  7. errors: a nonexistent branch, not an rfs mount, a path inside a
#     union, a bad option, a del of no branch (with the kernel's message),
#     mod without a permission.
#  8. completions and man pages.
#  9. import / diff / check: an OCI layout made here (tar, gzip, sha256sum;
#     busybox in the bottom layer, a whiteout and an opaque directory in the
#     top one) imported and mounted, chroot into the union, changes made
#     through it (a hard-linked file copied up and flushed), rfsctl diff of
#     the mount, the diff imported as a new layer on top, the stack mounted
#     again with a fresh upper shows the same tree; import --mount; a docker
#     save archive of the same layers (--ref) gives the same union; a blob
#     size/digest mismatch (74), a filled DIR (17) and a --ref of no image
#     (2) refused; rfsctl check of the branches: --fix refused on a mounted
#     union (16), leftovers and a useless whiteout found (1), fixed, and
#     nothing found afterwards.
# 10. rfsctl busy: b0=rw, b1=ro; a cwd in a directory only in b1, a file of
#     b1 open, a file of b1 mapped (rfsprobe mmap-hold) are listed for b1
#     (status 0), nothing for b0 (status 1); BRANCH as other spellings,
#     #INDEX, id:ID; --json; an open FIFO listed as not checked; a mapping
#     made before a copy-up still holds b1 and not b0, one made after it
#     holds b0 and not b1, one of a file deleted since is still found
#     (map_files); helpers gone: status 1 and the del works; not an rfs
#     mount, not a branch (status 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/common-rfs.sh"

T0=$(date +%s)
D=$(rfs_tmpdir)
OUT=$D/out ERR=$D/err
mkdir -p "$D/bin"
RFSCTL=$(command -v rfsctl)
if [ -z "$RFSCTL" ]; then
	t_skip "rfsctl" "not in the VM image (scripts/mkinitramfs.sh builds it)"
	t_done
fi
ln -s "$RFSCTL" "$D/bin/mount.rfs"
ln -s "$RFSCTL" "$D/bin/auplink"

# t_has DESC FILE TEXT: pass if FILE has TEXT (a fixed string) in it.
t_has() {
	if grep -q -F -e "$3" "$2"; then
		t_eq "$1" ok ok
	else
		t_eq "$1" "a line with: $3" "$(cat "$2")"
	fi
}

# run CMD...: CMD's stdout to $OUT, stderr to $ERR; its status in $rc.
run() {
	"$@" >"$OUT" 2>"$ERR"
	rc=$?
}

# --- 1. mount ----------------------------------------------------------------------------------
mkdir -p "$D/u" "$D/l1/sub" "$D/l2" "$D/l3" "$D/l4" "$D/mnt"
echo one >"$D/l1/f1"
echo two >"$D/l2/f2"
echo three >"$D/l3/f3"
echo four >"$D/l4/f4"
M=$D/mnt
t_ok "mount: three branches as arguments" rfsctl mount -o nosuid,udba=none "$D/u" "$D/l1=ro+wh" "$D/l2" "$M"
t_eq "mount: /proc/mounts shows the branches with their permissions" "$D/u=rw:$D/l1=ro+wh:$D/l2=ro" \
	"$(mount_opt "$M" dirs)"
t_eq "mount: rfs options reach the kernel" "none" "$(mount_opt "$M" udba)"
t_has "mount: generic flags are mount attributes" /proc/mounts "$M rfs rw,nosuid"
t_eq "mount: the union shows the lower files" "one two" "$(cat "$M/f1") $(cat "$M/f2")"
SI=$(mount_si "$M")

# --- 2. list -----------------------------------------------------------------------------------
echo more >>"$M/f1"
run rfsctl list "$M"
t_eq "list: exit status 0" 0 "$rc"
t_has "list: the union's line" "$OUT" "$M (rfs, si=$SI, rw,nosuid"
t_ok "list: branch 1 with its id, permission and path" grep -q -E "^ +1 +65 +ro\\+wh +[0-9]+ +$D/l1\$" "$OUT"
t_ok "list: the top branch is rw with id 64" grep -q -E "^ +0 +64 +rw +[0-9]+ +$D/u\$" "$OUT"
t_has "list: options" "$OUT" "options: rw,udba=none"
t_has "list: counters (one copy-up of 4 bytes)" "$OUT" "copy-ups 1 (4 bytes)"
run rfsctl list
t_has "list: every union (no argument)" "$OUT" "$M (rfs, si=$SI"
run rfsctl list --json "$M"
t_eq "list --json: exit status 0" 0 "$rc"
t_has "list --json: the mount point" "$OUT" "\"mount_point\": \"$M\""
t_has "list --json: the type" "$OUT" '"fstype": "rfs"'
t_has "list --json: the sysfs id" "$OUT" "\"si\": \"$SI\""
t_has "list --json: a branch path" "$OUT" "\"path\": \"$D/l1\""
t_has "list --json: a permission" "$OUT" '"perm": "ro+wh"'
t_has "list --json: a branch id" "$OUT" '"id": 66'
t_has "list --json: the copy-up counter" "$OUT" '"copyups": 1'
t_has "list --json: read from sysfs" "$OUT" '"branches_from": "sysfs"'
t_eq "list --json: one object per branch" 3 "$(grep -c '"index":' "$OUT")"
if command -v jq >/dev/null 2>&1; then
	t_eq "list --json: parses (jq)" "$D/l2 ro" "$(jq -r '.[0].branches[2] | "\(.path) \(.perm)"' "$OUT")"
else
	t_eq "list --json: an array of one object" "[]" "$(sed -n '1p;$p' "$OUT" | tr -d '\n')"
fi

# --- 3. more branches than fit in one mount(2) page ----------------------------------------------
N=320
L=$D/many
mkdir -p "$L/top" "$L/mnt"
echo "# top first" >"$L/list"
echo "$L/top=rw" >>"$L/list"
t0=$(date +%s)
i=0
while [ "$i" -lt "$N" ]; do
	n=$(printf '%04d' "$i")
	echo "$L/layer-with-a-longer-name-$n" >>"$L/list"
	i=$((i + 1))
done
# shellcheck disable=SC2046 # one path a line, no spaces in them
mkdir $(grep -v '^#' "$L/list" | grep -v '=rw$')
for l in $(grep -v '^#' "$L/list" | grep -v '=rw$'); do
	n=${l##*-}
	echo "$n" >"$l/only-$n"
	echo "$n" >"$l/same"
done
diag "many: $N layers made in $(($(date +%s) - t0)) s"
t_ok "many: the list is more than a page of mount(2) options" test "$(wc -c <"$L/list")" -gt 8192
t_ok "many: mount $((N + 1)) branches from --branches-from" rfsctl mount --branches-from "$L/list" "$L/mnt"
MSI=$(mount_si "$L/mnt")
t_eq "many: sysfs has every branch" "$((N + 1))" "$(ls "/sys/fs/rfs/si_$MSI" | grep -c '^br[0-9]')"
t_eq "many: the bottom branch is the last layer" "$L/layer-with-a-longer-name-0319=ro" \
	"$(cat "/sys/fs/rfs/si_$MSI/br$N")"
t_eq "many: the top-most copy of a name wins" "0000" "$(cat "$L/mnt/same")"
t_eq "many: the bottom layer is reached" "0319" "$(cat "$L/mnt/only-0319")"
t_eq "many: every layer's file is there" "$N" "$(ls "$L/mnt" | grep -c '^only-')"
run rfsctl list --json "$L/mnt"
t_eq "many: list --json shows every branch" "$((N + 1))" "$(grep -c '"index":' "$OUT")"
umount "$L/mnt"
# shellcheck disable=SC2046 # one argument a line, no spaces in them
t_ok "many: the same list as arguments" rfsctl mount $(grep -v '^#' "$L/list") "$L/mnt"
t_eq "many: ... every branch" "$((N + 1))" "$(ls "/sys/fs/rfs/si_$(mount_si "$L/mnt")" | grep -c '^br[0-9]')"
umount "$L/mnt"
diag "many: done in $(($(date +%s) - t0)) s"

# --- 4. branch management ------------------------------------------------------------------------
run rfsctl branch append "$M" "$D/l3"
t_eq "branch append: exit status 0" "0 " "$rc $(cat "$ERR")"
t_eq "branch append: at the bottom" "$D/u=rw:$D/l1=ro+wh:$D/l2=ro:$D/l3=ro" "$(mount_opt "$M" dirs)"
t_has "branch append: prints the new table" "$OUT" "$D/l3"
t_eq "branch append: its file shows" "three" "$(cat "$M/f3")"
t_ok "branch del" rfsctl branch del "$M" "$D/l3"
t_eq "branch del: gone" "$D/u=rw:$D/l1=ro+wh:$D/l2=ro" "$(mount_opt "$M" dirs)"
t_ok "branch del: its file is gone" test ! -e "$M/f3"
t_ok "branch add at index 2" rfsctl branch add "$M" 2 "$D/l3=ro+wh" "$D/l4"
t_eq "branch add: in place, in order" "$D/u=rw:$D/l1=ro+wh:$D/l3=ro+wh:$D/l4=ro:$D/l2=ro" "$(mount_opt "$M" dirs)"
t_ok "branch mod" rfsctl branch mod "$M" "$D/l2=rr"
t_eq "branch mod: the new permission" "$D/l2=rr" "$(cat "/sys/fs/rfs/si_$SI/br4")"
t_ok "branch del of two" rfsctl branch del "$M" "$D/l3" "$D/l4/"
t_eq "branch del of two: both gone" "$D/u=rw:$D/l1=ro+wh:$D/l2=rr" "$(mount_opt "$M" dirs)"
mkdir -p "$D/p1" "$D/p2"
t_ok "branch prepend of two" rfsctl branch prepend "$M" "$D/p1=ro" "$D/p2=ro"
t_eq "branch prepend: the first given on top" "$D/p1=ro:$D/p2=ro:$D/u=rw" "$(mount_opt "$M" dirs | cut -d: -f1-3)"
t_ok "branch del of the prepended" rfsctl branch del "$M" "$D/p1" "$D/p2"
run rfsctl branch append --json "$M" "$D/l3"
t_has "branch append --json: the new state" "$OUT" "\"path\": \"$D/l3\""
rfsctl branch del "$M" "$D/l3" >/dev/null

# --- 5. mount.rfs ----------------------------------------------------------------------------------
mkdir -p "$D/m2" "$D/u2"
t_ok "mount.rfs: mount(8)'s helper call" "$D/bin/mount.rfs" none "$D/m2" -n -o "rw,nodev,dirs=$D/u2=rw:$D/l1=ro"
t_eq "mount.rfs: the branches" "$D/u2=rw:$D/l1=ro" "$(mount_opt "$D/m2" dirs)"
t_has "mount.rfs: nodev" /proc/mounts "$D/m2 rfs rw,nodev"
t_ok "mount.rfs: -o remount,append:BR" "$D/bin/mount.rfs" none "$D/m2" -o "remount,append:$D/l2"
t_eq "mount.rfs: remount applied" "$D/u2=rw:$D/l1=ro:$D/l2=ro" "$(mount_opt "$D/m2" dirs)"
run "$D/bin/mount.rfs" none "$D/m2x" -o "dirs=$D/u2"
t_eq "mount.rfs: a missing mount point is mount(8)'s failure status 32" 32 "$rc"
umount "$D/m2"

# --- 6. pseudo-links -----------------------------------------------------------------------------
P=$D/plink
mkdir -p "$P/u" "$P/l/sub" "$P/mnt"
echo data >"$P/l/h1" && ln "$P/l/h1" "$P/l/sub/h2" && ln "$P/l/h1" "$P/l/sub/h3"
echo cdata >"$P/l/c1" && ln "$P/l/c1" "$P/l/c2"
echo keep >"$P/l/k1" && ln "$P/l/k1" "$P/l/k2"
t_ok "plink: mount" rfsctl mount "$P/u" "$P/l=ro+wh" "$P/mnt"
t_eq "plink info: none at first" "count 0" "$(rfsctl plink info "$P/mnt" | cut -d' ' -f3-)"
echo more >>"$P/mnt/h1"
t_eq "plink info: one pseudo-link" "count 1" "$(rfsctl plink info "$P/mnt" | cut -d' ' -f3-)"
run rfsctl plink info --json "$P/mnt"
t_has "plink info --json" "$OUT" '"count": 1'
t_eq "plink list: one path in the writable branch" "1 $P/u/.wh..wh.plnk/" \
	"$(rfsctl plink list "$P/mnt" | wc -l) $(rfsctl plink list "$P/mnt" | sed 's|[^/]*$||')"
t_eq "plink flush: links both other names, removes the pseudo-link" "linked 2 removed 1" \
	"$(rfsctl plink flush "$P/mnt")"
t_eq "plink flush: hard links of one inode in the writable branch" "3 3 3" \
	"$(stat -c %h "$P/u/h1" "$P/u/sub/h2" "$P/u/sub/h3" | tr '\n' ' ' | sed 's/ $//')"
t_eq "plink flush: ... one inode" 1 "$(stat -c %i "$P/u/h1" "$P/u/sub/h2" "$P/u/sub/h3" | sort -u | wc -l)"
t_eq "plink flush: no pseudo-link left" "" "$(ls -A "$P/u/.wh..wh.plnk")"
t_eq "plink flush: untouched hard links stay below" "" "$(ls "$P/u" | grep -x -e k1 -e k2)"
t_eq "plink flush: the union shows the same data" "data more|data more" \
	"$(cat "$P/mnt/sub/h2" | tr '\n' ' ' | sed 's/ $//')|$(cat "$P/mnt/sub/h3" | tr '\n' ' ' | sed 's/ $//')"
run rfsctl plink flush --json "$P/mnt"
t_has "plink flush --json" "$OUT" '"removed": 0'

# auplink, as Docker runs it before umount
echo cmore >>"$P/mnt/c1"
run "$D/bin/auplink" "$P/mnt" list
t_eq "auplink list: one pseudo-link" "0 1" "$rc $(wc -l <"$OUT")"
run "$D/bin/auplink" "$P/mnt" cpup
t_eq "auplink cpup: exit status 0" 0 "$rc"
# c1, c2 and the pseudo-link in .wh..wh.plnk/
t_eq "auplink cpup: the other name is linked" 3 "$(stat -c %h "$P/u/c2")"
t_eq "auplink cpup: the pseudo-link stays" "count 1" "$(rfsctl plink info "$P/mnt" | cut -d' ' -f3-)"
run "$D/bin/auplink" "$P/mnt" flush
t_eq "auplink flush: exit status 0" 0 "$rc"
t_eq "auplink flush: no pseudo-link left" "count 0" "$(rfsctl plink info "$P/mnt" | cut -d' ' -f3-)"
t_eq "auplink flush: the copy keeps its two names" 2 "$(stat -c %h "$P/u/c2")"
run "$D/bin/auplink"
t_eq "auplink: no arguments is 22 (EINVAL)" 22 "$rc"
run "$D/bin/auplink" "$P/mnt" bogus
t_eq "auplink: an unknown command is 22" 22 "$rc"
run "$D/bin/auplink" "$D" flush
t_eq "auplink: not an rfs mount is 22" 22 "$rc"
t_has "auplink: ... with a message" "$ERR" "not an rfs mount"
umount "$P/mnt"

# --- 7. errors -----------------------------------------------------------------------------------
mkdir -p "$D/m3"
run rfsctl mount "$D/u" "$D/nonexistent" "$D/m3"
t_eq "error: a nonexistent branch fails (status 1)" 1 "$rc"
t_has "error: ... naming the branch" "$ERR" "rfsctl: branch $D/nonexistent: No such file or directory"
t_fail "error: ... and mounts nothing" is_mounted "$D/m3"
run rfsctl mount "$D/u" "$D/nonexistent-mnt"
t_has "error: a missing mount point" "$ERR" "mount point $D/nonexistent-mnt: No such file or directory"
run rfsctl list "$D"
t_eq "error: list of a directory that is not a mount" 2 "$rc"
t_has "error: ... not an rfs mount, on what it is" "$ERR" "$D: not an rfs mount (it is on "
run rfsctl list /proc
t_has "error: list of another filesystem's mount" "$ERR" "/proc: not an rfs mount (type proc)"
run rfsctl branch append "$M/sub" "$D/l3"
t_has "error: a path inside a union" "$ERR" "inside the union mounted at $M"
run rfsctl branch append "$D" "$D/l3"
t_has "error: branch append on a non-union" "$ERR" "not an rfs mount"
run rfsctl branch append "$M" "$D/nonexistent"
t_has "error: appending a nonexistent branch" "$ERR" "branch $D/nonexistent: No such file or directory"
run rfsctl branch del "$M" "$D/l4"
t_eq "error: del of a directory that is no branch fails" 1 "$rc"
t_has "error: ... with the errno" "$ERR" "rfsctl: remount: Invalid argument"
t_has "error: ... and the kernel's message from the fs_context log" "$ERR" "rfsctl: kernel: error:"
t_eq "error: ... and changes nothing" "$D/u=rw:$D/l1=ro+wh:$D/l2=rr" "$(mount_opt "$M" dirs)"
run rfsctl branch mod "$M" "$D/l2"
t_has "error: mod without a permission" "$ERR" "give PATH=PERM"
run rfsctl mount -o udba=sometimes "$D/u" "$D/m3"
t_has "error: a bad option, found by the logic crate's parser" "$ERR" "option udba=sometimes:"
run rfsctl mount "$D/u" "$D/u/" "$D/m3"
t_has "error: a duplicate branch" "$ERR" "branches: duplicate"
run rfsctl mount -o "dirs=$D/u" "$D/l1" "$D/m3"
t_has "error: branches given two ways" "$ERR" "give the branches one way"
run rfsctl plink flush "$D"
t_has "error: plink flush of a non-union" "$ERR" "not an rfs mount"
run rfsctl bogus
t_eq "error: an unknown subcommand is status 2" 2 "$rc"
umount "$M"

# --- 8. completions, man pages --------------------------------------------------------------------
run rfsctl completions bash
t_has "completions bash" "$OUT" "complete -F _rfsctl"
mkdir -p "$D/man"
t_ok "man: writes the pages" rfsctl man --dir "$D/man"
t_has "man: rfsctl.1 is a man page" "$D/man/rfsctl.1" ".TH rfsctl 1"
t_ok "man: one page per subcommand" test -s "$D/man/rfsctl-branch.1"
t_ok "--help of every subcommand" sh -c 'for c in list mount branch plink import diff check completions man; do rfsctl $c --help >/dev/null || exit 1; done'
t_ok "man: import, diff and check pages" test -s "$D/man/rfsctl-import.1" -a -s "$D/man/rfsctl-diff.1" -a -s "$D/man/rfsctl-check.1"

# --- 9. import, diff, check ----------------------------------------------------------------------
t9=$(date +%s)
# sha FILE: its sha256 in hex. size FILE: its size.
sha() { sha256sum <"$1" | cut -d' ' -f1; }
size() { echo $(($(wc -c <"$1"))); }
# mkoci OUT ROOTFS...: an OCI image layout in OUT, one gzip layer per ROOTFS
# directory (bottom first), with its config, manifest and index.
mkoci() {
	local out=$1 r t dig diffs='' descs='' sep='' cfg man
	shift
	mkdir -p "$out/blobs/sha256"
	t=$out/layer.tar
	for r in "$@"; do
		(cd "$r" && tar -cf - .) >"$t"
		diffs="$diffs$sep\"sha256:$(sha "$t")\""
		gzip -c <"$t" >"$t.gz"
		dig=$(sha "$t.gz")
		descs="$descs$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dig\",\"size\":$(size "$t.gz")}"
		mv "$t.gz" "$out/blobs/sha256/$dig"
		rm -f "$t"
		sep=,
	done
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
		"$diffs" >"$out/blob"
	cfg="\"digest\":\"sha256:$(sha "$out/blob")\",\"size\":$(size "$out/blob")"
	mv "$out/blob" "$out/blobs/sha256/$(sha "$out/blob")"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json",%s},"layers":[%s]}' \
		"$cfg" "$descs" >"$out/blob"
	man="\"digest\":\"sha256:$(sha "$out/blob")\",\"size\":$(size "$out/blob")"
	mv "$out/blob" "$out/blobs/sha256/$(sha "$out/blob")"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",%s}]}' "$man" \
		>"$out/index.json"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
}
# mkdocker OUT ROOTFS...: a `docker save` archive (manifest.json, the config
# named by its digest, one uncompressed DIR/layer.tar per ROOTFS).
mkdocker() {
	local out=$1 w=$1.d r i=0 diffs='' layers='' sep='' cfg
	shift
	mkdir -p "$w"
	for r in "$@"; do
		mkdir -p "$w/l$i"
		(cd "$r" && tar -cf - .) >"$w/l$i/layer.tar"
		diffs="$diffs$sep\"sha256:$(sha "$w/l$i/layer.tar")\""
		layers="$layers$sep\"l$i/layer.tar\""
		sep=,
		i=$((i + 1))
	done
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >"$w/config"
	cfg=$(sha "$w/config").json
	mv "$w/config" "$w/$cfg"
	printf '[{"Config":"%s","RepoTags":["bb:test"],"Layers":[%s]}]' "$cfg" "$layers" >"$w/manifest.json"
	(cd "$w" && tar -cf - .) >"$out"
}
# tree DIR: every name (sorted) and every file's checksum: what a union shows.
tree() {
	(cd "$1" && find . | sort && find . -type f -exec md5sum {} \; | sort)
}
I=$D/img
mkdir -p "$I/r0/bin" "$I/r0/etc" "$I/r0/d" "$I/r1/etc" "$I/r1/d"
# (busybox's own sh answers `command -v busybox` with the applet's name)
bb=/bin/busybox
[ -x "$bb" ] || bb=$(command -v busybox)
cp "$bb" "$I/r0/bin/busybox"
ln -s busybox "$I/r0/bin/sh"
echo base >"$I/r0/etc/motd"
echo gone >"$I/r0/etc/gone"
echo old >"$I/r0/d/old"
echo linked >"$I/r0/etc/hl1"
ln "$I/r0/etc/hl1" "$I/r0/etc/hl2"
echo top >"$I/r1/etc/motd"
: >"$I/r1/etc/.wh.gone"
: >"$I/r1/d/.wh..wh..opq"
echo new >"$I/r1/d/new"
mkoci "$I/oci" "$I/r0" "$I/r1"
S=$D/stack
run rfsctl import --json "$I/oci" "$S"
t_eq "import: an OCI layout, exit status 0" "0 " "$rc $(cat "$ERR")"
t_eq "import --json: two layers" 2 "$(grep -c '"diff_id":' "$OUT")"
t_has "import --json: the mount option, top first" "$OUT" "\"mount_option\": \"br:$S/upper=rw:$S/layers/1=ro+wh:$S/layers/0=ro+wh\""
t_ok "import: busybox in layers/0" test -x "$S/layers/0/bin/busybox"
t_ok "import: the whiteout kept in layers/1" test -f "$S/layers/1/etc/.wh.gone"
t_ok "import: the opaque marker kept in layers/1" test -f "$S/layers/1/d/.wh..wh..opq"
t_eq "import: hard links kept" "$(stat -c %i "$S/layers/0/etc/hl1")" "$(stat -c %i "$S/layers/0/etc/hl2")"
t_ok "import: DIR/upper made" test -d "$S/upper"
run rfsctl import "$I/oci" "$S"
t_eq "import: a filled DIR is refused (EEXIST)" 17 "$rc"
cp -r "$I/oci" "$I/bad"
for b in "$I/bad/blobs/sha256/"*; do
	if [ "$(size "$b")" -gt 100000 ]; then
		printf x >>"$b"
	fi
done
run rfsctl import "$I/bad" "$D/stack-bad"
t_eq "import: a blob that is not its digest is refused (EBADMSG)" 74 "$rc"
t_has "import: ... saying so" "$ERR" "bytes where the manifest says"
t_fail "import: ... and leaves nothing" test -e "$D/stack-bad"

U=$D/im
mkdir -p "$U"
t_ok "import: the stack mounts from DIR/branches" rfsctl mount --branches-from "$S/branches" "$U"
t_eq "union: the top layer's file" top "$(cat "$U/etc/motd")"
t_fail "union: the whiteout hides etc/gone" test -e "$U/etc/gone"
t_eq "union: the opaque directory shows the top layer only" new "$(ls "$U/d")"
t_eq "union: chroot runs busybox from the union" hello "$(chroot "$U" /bin/sh -c 'echo hello')"
echo changed >"$U/etc/motd"
rm "$U/d/new"
mkdir "$U/newdir"
echo x >"$U/newdir/f"
ln -s motd "$U/etc/link"
echo more >>"$U/etc/hl1"
t_ok "union: plink flush before the diff" rfsctl plink flush "$U"
tree "$U" >"$D/tree-before"
run rfsctl check "$S/upper" "$S/layers/1" "$S/layers/0" --fix
t_eq "check --fix: refused on a mounted union (EBUSY)" 16 "$rc"
t_has "check --fix: ... naming the union" "$ERR" "umount it first"
run rfsctl diff "$U" -o "$D/change.tar.gz"
t_eq "diff: the mount's rw branch, exit status 0" "0 " "$rc $(cat "$ERR")"
t_has "diff: prints the digest" "$OUT" "digest sha256:"
t_ok "diff: the output is gzip" sh -c "gzip -dc \"$D/change.tar.gz\" >/dev/null"
tar -tzf "$D/change.tar.gz" >"$D/change.list"
t_has "diff: the changed file" "$D/change.list" "etc/motd"
t_has "diff: the removed file's whiteout" "$D/change.list" "d/.wh.new"
t_has "diff: the new directory" "$D/change.list" "newdir/f"
t_fail "diff: none of rfs's private names" grep -E '[.]wh[.][.]wh[.](orph|plnk|xino)' "$D/change.list"
run rfsctl diff "$U" -o - --json
t_eq "diff -o -: the layer on stdout, the summary on stderr" "0 1" "$rc $(grep -c '"diff_id"' "$ERR")"
umount "$U"
run rfsctl import --layer "$D/change.tar.gz" "$S"
t_eq "import --layer: exit status 0" "0 " "$rc $(cat "$ERR")"
t_ok "import --layer: layers/2" test -f "$S/layers/2/etc/motd"
t_ok "import --layer: the whiteout" test -f "$S/layers/2/d/.wh.new"
mv "$S/upper" "$D/old-upper"
mkdir "$S/upper"
t_ok "import --layer: the three layers mount with a fresh upper" rfsctl mount --branches-from "$S/branches" "$U"
t_eq "re-mount: the change is there" changed "$(cat "$U/etc/motd")"
t_fail "re-mount: the removed file stays removed" test -e "$U/d/new"
t_eq "re-mount: both names of the hard-linked file show the change" "linked more linked more" \
	"$(cat "$U/etc/hl1" "$U/etc/hl2" | tr '\n' ' ' | sed 's/ $//')"
tree "$U" >"$D/tree-after"
t_ok "re-mount: the same tree as the union before the diff" cmp "$D/tree-before" "$D/tree-after"
umount "$U"
mkdir -p "$D/im3"
run rfsctl import --mount "$D/im3" -o udba=none "$I/oci" "$D/stack3"
t_eq "import --mount: exit status 0" "0 " "$rc $(cat "$ERR")"
t_has "import --mount: says where" "$OUT" "mounted on $D/im3"
t_eq "import --mount: the union" top "$(cat "$D/im3/etc/motd")"
tree "$D/im3" >"$D/tree-oci"
umount "$D/im3"
mkdocker "$I/save.tar" "$I/r0" "$I/r1"
mkdir -p "$D/im4"
run rfsctl import --ref bb:test --mount "$D/im4" "$I/save.tar" "$D/stack4"
t_eq "import: a docker save archive (--ref, --mount), exit status 0" "0 " "$rc $(cat "$ERR")"
t_eq "import: docker save: the union" "top" "$(cat "$D/im4/etc/motd")"
t_eq "import: docker save: chroot into it" hello "$(chroot "$D/im4" /bin/sh -c 'echo hello')"
tree "$D/im4" >"$D/tree-docker"
t_ok "import: docker save: the same union as the OCI layout of the same layers" cmp "$D/tree-oci" "$D/tree-docker"
umount "$D/im4"
run rfsctl import --ref other:tag "$I/save.tar" "$D/stack5"
t_eq "import: docker save: --ref of no image (ENOENT)" 2 "$rc"
mkdir -p "$S/upper/.wh..wh.orph"
echo tmp >"$S/upper/.wh..wh.orph/#rfs.1.2"
: >"$S/upper/.wh.nothing-below"
run rfsctl check "$S/upper" "$S/layers/2" "$S/layers/1" "$S/layers/0"
t_eq "check: something found is status 1" 1 "$rc"
t_has "check: the copy-up leftover" "$OUT" "leftover .wh..wh.orph/#rfs.1.2"
t_has "check: the useless whiteout" "$OUT" "whiteout .wh.nothing-below"
run rfsctl check --fix --json "$S/upper" "$S/layers/2" "$S/layers/1" "$S/layers/0"
t_eq "check --fix: status 0" 0 "$rc"
t_eq "check --fix --json: both fixed" 2 "$(grep -c '"fixed": true' "$OUT")"
run rfsctl check "$S/upper" "$S/layers/2" "$S/layers/1" "$S/layers/0"
t_eq "check: afterwards nothing" "0 4 branches: nothing found" "$rc $(cat "$OUT")"
diag "import/diff/check: $(($(date +%s) - t9)) s"

# --- 10. busy ------------------------------------------------------------------------------------
t10=$(date +%s)
B=$D/busy
BM=$B/mnt
mkdir -p "$B/b0" "$B/b1/only1" "$BM"
echo held >"$B/b1/held"
echo mapped >"$B/b1/mapped"
echo doomed >"$B/b1/doomed"
mkfifo "$B/b1/fifo"
t_ok "busy: mount b0=rw b1=ro" rfsctl mount "$B/b0=rw" "$B/b1=ro" "$BM"
BID1=$(cat "/sys/fs/rfs/si_$(mount_si "$BM")/brid1")
# has_cwd PID DIR, has_fd PID N: what a helper holds once it runs.
# await CMD...: CMD, retried for up to 5 s.
has_cwd() { [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]; }
has_fd() { [ -e "/proc/$1/fd/$2" ]; }
await() {
	local n=0
	until "$@"; do
		[ "$n" -ge 50 ] && return 1
		sleep 0.1
		n=$((n + 1))
	done
}
# A working directory that exists only in b1, a file of b1 open as fd 3, and
# (rfsprobe mmap-hold) a file of b1 mapped with its fd closed.
(cd "$BM/only1" && exec sleep 1000) </dev/null >/dev/null 2>&1 &
cwd_pid=$!
sh -c 'exec 3<"$1"; exec sleep 1000' sh "$BM/held" </dev/null >/dev/null 2>&1 &
fd_pid=$!
map_pid=
if command -v rfsprobe >/dev/null 2>&1; then
	rfsprobe mmap-hold "$BM/mapped" "$B/ready" </dev/null >/dev/null 2>&1 &
	map_pid=$!
	await test -e "$B/ready" || diag "busy: rfsprobe mmap-hold did not get ready"
fi
await has_cwd "$cwd_pid" "$BM/only1" && await has_fd "$fd_pid" 3 || diag "busy: the helpers did not start"
run rfsctl busy "$BM" "$B/b1"
t_eq "busy: something holds b1: exit status 0" "0 " "$rc $(cat "$ERR")"
t_has "busy: a table with a header" "$OUT" "PID  COMMAND"
t_ok "busy: the cwd in a directory only in b1" grep -q -E "^ *$cwd_pid +[^ ]+ +cwd +$BM/only1\$" "$OUT"
t_ok "busy: the file of b1 open as fd 3" grep -q -E "^ *$fd_pid +[^ ]+ +fd 3 +$BM/held\$" "$OUT"
if [ -n "$map_pid" ]; then
	t_ok "busy: the mapping of a file of b1 (its fd closed)" \
		grep -q -E "^ *$map_pid +rfsprobe +mmap +$BM/mapped\$" "$OUT"
else
	t_skip "busy: the mapping of a file of b1" "no rfsprobe (mmap-hold) in the VM image"
fi
t_eq "busy: nothing else (and not rfsctl itself)" 0 "$(grep -v -e '^ *PID ' -e "^ *$cwd_pid " -e "^ *$fd_pid " \
	${map_pid:+-e "^ *$map_pid "} "$OUT" | wc -l)"
run rfsctl busy "$BM" "$B/b0"
t_eq "busy: nothing holds b0: exit status 1, nothing printed" "1 |" "$rc $(cat "$ERR")|$(cat "$OUT")"
run rfsctl busy "$BM" "$B/./b1/"
t_eq "busy: BRANCH spelt another way" 0 "$rc"
run sh -c "cd '$B' && rfsctl busy '$BM' b1"
t_eq "busy: BRANCH as a relative path" 0 "$rc"
ln -s b1 "$B/b1-link"
run rfsctl busy "$BM" "$B/b1-link"
t_eq "busy: BRANCH through a symlink" 0 "$rc"
run rfsctl busy "$BM" '#1'
t_eq "busy: BRANCH as #INDEX" "0 $(grep -c . "$OUT")" "$rc $(rfsctl busy "$BM" "$B/b1" | grep -c .)"
run rfsctl busy "$BM" "id:$BID1"
t_eq "busy: BRANCH as id:ID" 0 "$rc"
run rfsctl busy "$BM" '#0'
t_eq "busy: #0 is b0: status 1" 1 "$rc"

run rfsctl busy --json "$BM" "$B/b1"
t_eq "busy --json: exit status 0" 0 "$rc"
t_has "busy --json: the cwd" "$OUT" '"what": "cwd"'
t_has "busy --json: the fd's number" "$OUT" '"fd": 3'
t_has "busy --json: its process" "$OUT" "\"pid\": $fd_pid"
t_has "busy --json: its command" "$OUT" "\"command\": \"$(cat "/proc/$fd_pid/comm")\""
t_has "busy --json: the path" "$OUT" "\"path\": \"$BM/held\""
t_has "busy --json: the type" "$OUT" '"type": "directory"'
t_has "busy --json: holds" "$OUT" '"holds": true'
t_eq "busy --json: the branch ids (b1's)" "$BID1" "$(grep -A1 '"branches": \[' "$OUT" | sed -n 2p | tr -d ' ')"
t_has "busy --json: the top member is not an upper" "$OUT" '"upper": false'
if command -v jq >/dev/null 2>&1; then
	t_eq "busy --json: parses (jq)" "$cwd_pid cwd $BM/only1" \
		"$(jq -r ".[] | select(.pid == $cwd_pid) | \"\(.pid) \(.what) \(.path)\"" "$OUT")"
else
	t_eq "busy --json: an array of objects" "[{" "$(sed -n '1p;2p' "$OUT" | tr -d ' \n')"
	t_eq "busy --json: ... closed" "}]" "$(tail -n 2 "$OUT" | tr -d ' \n')"
fi
run rfsctl busy --json "$BM" "$B/b0"
t_eq "busy --json: nothing holds b0: an empty array, status 1" "1 []" "$rc $(cat "$OUT")"

# A FIFO of the union is never opened: listed as not checked, whatever the
# branch, and not counted.
sh -c 'exec 4<>"$1"; exec sleep 1000' sh "$BM/fifo" </dev/null >/dev/null 2>&1 &
fifo_pid=$!
await has_fd "$fifo_pid" 4 || diag "busy: the FIFO holder did not start"
run rfsctl busy "$BM" "$B/b0"
t_eq "busy: an open FIFO does not count: status 1" 1 "$rc"
t_ok "busy: ... but is listed as not checked" \
	grep -q -E "^ *$fifo_pid +[^ ]+ +fd 4 +$BM/fifo +\(not checked: a fifo\)\$" "$OUT"
kill "$fifo_pid" 2>/dev/null
wait "$fifo_pid" 2>/dev/null

# A mapping made before a copy-up keeps mapping b1's file: it holds b1,
# not b0 where the copy is.
if [ -n "$map_pid" ]; then
	echo more >>"$BM/mapped"
	t_ok "busy: the mapped file was copied up to b0" test -f "$B/b0/mapped"
	# /proc/PID/maps shows the union's inode: only the kernel's mapped
	# bits in RFS_IOC_MEMBERS tell which member the mapping maps.
	run rfsctl busy "$BM" "$B/b1"
	t_ok "busy: after the copy-up the mapping still holds b1" \
		grep -q -E "^ *$map_pid +rfsprobe +mmap +$BM/mapped\$" "$OUT"
	run rfsctl busy "$BM" "$B/b0"
	t_eq "busy: ... and not b0" "1 |" "$rc |$(cat "$OUT")"
	rm -f "$B/ready"
	wait "$map_pid" 2>/dev/null
	# A mapping made after the copy-up maps the copy.
	rfsprobe mmap-hold "$BM/mapped" "$B/ready" </dev/null >/dev/null 2>&1 &
	map_pid=$!
	await test -e "$B/ready" || diag "busy: rfsprobe mmap-hold did not get ready"
	run rfsctl busy "$BM" "$B/b0"
	t_ok "busy: a mapping made after the copy-up holds b0" \
		grep -q -E "^ *$map_pid +rfsprobe +mmap +$BM/mapped\$" "$OUT"
	run rfsctl busy "$BM" "$B/b1"
	t_fail "busy: ... and not b1" grep -q -E "^ *$map_pid " "$OUT"
	rm -f "$B/ready"
	wait "$map_pid" 2>/dev/null
	# A mapping of a file deleted since: found through map_files.
	rfsprobe mmap-hold "$BM/doomed" "$B/ready" </dev/null >/dev/null 2>&1 &
	map_pid=$!
	await test -e "$B/ready" || diag "busy: rfsprobe mmap-hold did not get ready"
	rm "$BM/doomed"
	run rfsctl busy "$BM" "$B/b1"
	t_ok "busy: a mapping of a file deleted since still holds b1" \
		grep -q -E "^ *$map_pid +rfsprobe +mmap +$BM/doomed \(deleted\)\$" "$OUT"
	rm -f "$B/ready"
	wait "$map_pid" 2>/dev/null
fi
kill "$cwd_pid" "$fd_pid" 2>/dev/null
wait "$cwd_pid" "$fd_pid" 2>/dev/null
run rfsctl busy "$BM" "$B/b1"
t_eq "busy: the helpers gone, nothing holds b1: status 1, nothing printed" "1 " "$rc $(cat "$OUT")"
t_ok "busy: and b1 can be deleted" rfsctl branch del "$BM" "$B/b1"

# errors
run rfsctl busy "$D" "$B/b1"
t_eq "busy: not an rfs mount is status 2" 2 "$rc"
t_has "busy: ... saying so" "$ERR" "$D: not an rfs mount"
run rfsctl busy "$BM" "$D/l1"
t_eq "busy: a directory that is no branch of the union is status 2" 2 "$rc"
t_has "busy: ... saying so" "$ERR" "$D/l1: not a branch of the union mounted at $BM"
run rfsctl busy "$BM" '#5'
t_has "busy: an index past the bottom" "$ERR" "#5: not a branch of the union"
run rfsctl busy "$BM" "$B/nonexistent"
t_eq "busy: a missing BRANCH is ENOENT (2)" 2 "$rc"
t_has "busy: ... naming it" "$ERR" "branch $B/nonexistent: No such file or directory"
t_ok "busy: --help" rfsctl busy --help
t_ok "busy: its man page" test -s "$D/man/rfsctl-busy.1"
umount "$BM"
diag "busy: $(($(date +%s) - t10)) s"

diag "rfsctl suite: $(($(date +%s) - T0)) s"
t_done
