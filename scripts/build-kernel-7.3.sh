#!/usr/bin/env bash
# Build (or reuse) the rfs Linux 7.3 test kernel: trixie-backports'
# linux-source-7.3, tinyconfig + scripts/kconfig/base.config +
# scripts/kconfig/FLAVOR.config (+ scripts/kconfig/7.3.config, the 7.3-only
# adjustments), configured and built in the Debian trixie chroot
# (scripts/trixie-chroot.sh, made if missing) with its toolchain: LLVM=1 with
# clang/LLD 19, rustc 1.85.1 and bindgen 0.71 (the host's clang 14 is below
# 7.3's minimum).
#
#   scripts/build-kernel-7.3.sh [release|debug]    (or scripts/build-kernel.sh FLAVOR 7.3)
#
# Prints the build directory. The source and build directories live in
# $RFS_CACHE and are bind-mounted into the chroot at the same paths, so the
# printed path is a KDIR inside the chroot too (scripts/build-module.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kver=7.3
flavor=${1:-debug}
[ -f "$rfs_top/scripts/kconfig/$flavor.config" ] || die "unknown kernel flavour '$flavor'"

"$rfs_top/scripts/trixie-chroot.sh" >/dev/null
kdir=$(rfs_kdir "$flavor" "$kver")
rfs_lock "$RFS_CACHE/.$(basename "$kdir").lock"
if [ -f "$kdir/.rfs-built" ]; then
	echo "$kdir"
	exit 0
fi

pkg=$(rfs_ksrc_pkg "$kver")
src=$(rfs_ksrc "$kver")
ver=$(rfs_ksrc_version "$kver")
if [ ! -f "$src/.rfs-unpacked" ]; then
	debs=$RFS_CACHE/debs
	deb=$debs/${pkg}_${ver//:/%3a}_all.deb
	if [ ! -f "$deb" ]; then
		log "downloading $pkg $ver (in the trixie chroot)"
		mkdir -p "$debs"
		rfs_trixie_run -b "$debs" -C "$debs" -- apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver" >&2
		[ -f "$deb" ] || die "apt-get download did not give $deb"
	fi
	log "unpacking $pkg into $src"
	[ -z "$(rfs_mounts_below "$src")" ] || die "something is mounted below $src"
	rm -rf "$src"
	mkdir -p "$src"
	rfs_trixie_run -b "$debs" -b "$src" -- sh -c \
		'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "./usr/src/$2.tar.xz" | tar -xJf - -C "$3" --strip-components=1' \
		sh "$deb" "$pkg" "$src"
	touch "$src/.rfs-unpacked"
fi

frags=("$rfs_top/scripts/kconfig/base.config" "$rfs_top/scripts/kconfig/$flavor.config")
[ ! -f "$rfs_top/scripts/kconfig/$kver.config" ] || frags+=("$rfs_top/scripts/kconfig/$kver.config")

log "configuring $flavor $kver kernel in $kdir"
[ -z "$(rfs_mounts_below "$kdir")" ] || die "something is mounted below $kdir"
rm -rf "$kdir"
mkdir -p "$kdir"
kmake() {
	rfs_trixie_run -b "$src" -b "$kdir" -- make -C "$src" O="$kdir" LLVM=1 "$@"
}
kmake -s tinyconfig
(cd "$kdir" && "$src/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" \
	"${frags[@]}" >/dev/null)
kmake -s olddefconfig

# Every option asked for must have survived olddefconfig (a missing dependency
# silently drops an option otherwise). A later fragment overrides an earlier
# one, as in merge_config.sh.
declare -A want=()
order=()
for frag in "${frags[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) opt=${line%%=*} val=${line#*=} ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *} val=n ;;
		"# rfs: gone CONFIG_"*) opt=${line#\# rfs: gone } val=gone ;;
		*) continue ;;
		esac
		[ -n "${want[$opt]+set}" ] || order+=("$opt")
		want[$opt]=$val
	done <"$frag"
done
missing=0
for opt in "${order[@]}"; do
	val=${want[$opt]}
	if [ "$val" = gone ]; then
		continue
	elif [ "$val" = n ]; then
		grep -q "^$opt=" "$kdir/.config" && { log "config: $opt is still set"; missing=1; }
	else
		grep -qx "$opt=$val" "$kdir/.config" || { log "config: $opt=$val did not stick"; missing=1; }
	fi
done
[ $missing = 0 ] || die "kernel config does not match the fragments"

log "building $flavor $kver kernel (this takes several minutes)"
start=$SECONDS
kmake -j"$(( $(nproc) + 1 ))" bzImage modules >"$kdir/build.log" 2>&1 || {
	tail -n 40 "$kdir/build.log" >&2
	die "kernel build failed; see $kdir/build.log"
}
log "built in $((SECONDS - start)) s"
touch "$kdir/.rfs-built"
echo "$kdir"
