#!/usr/bin/env bash
# Build (or reuse) the rfs test kernel: Linux 6.12 from Debian's linux-source-6.12,
# tinyconfig + scripts/kconfig/base.config + scripts/kconfig/FLAVOR.config, built with LLVM.
#
#   scripts/build-kernel.sh [release|debug]
#
# Prints the build directory (usable as KDIR for `make`). Cached under $RFS_CACHE,
# keyed by kernel version and config, so a second run does nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:-debug}
[ -f "$rfs_top/scripts/kconfig/$flavor.config" ] || die "unknown kernel flavour '$flavor'"

kdir=$(rfs_kdir "$flavor")
if [ -f "$kdir/.rfs-built" ]; then
	echo "$kdir"
	exit 0
fi

src=$(rfs_ksrc)
if [ ! -f "$src/.rfs-unpacked" ]; then
	log "unpacking $RFS_KSRC_PKG into $src"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xf /usr/src/$RFS_KSRC_PKG.tar.xz -C "$src" --strip-components=1
	touch "$src/.rfs-unpacked"
fi

log "configuring $flavor kernel in $kdir"
rm -rf "$kdir"
mkdir -p "$kdir"
kmake() { make -C "$src" O="$kdir" LLVM=1 "$@"; }
kmake -s tinyconfig
(cd "$kdir" && "$src/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" \
	"$rfs_top/scripts/kconfig/base.config" "$rfs_top/scripts/kconfig/$flavor.config" >/dev/null)
kmake -s olddefconfig

# Every option asked for must have survived olddefconfig (a missing dependency
# silently drops an option otherwise).
missing=0
for frag in base "$flavor"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			opt=${line%%=*} val=${line#*=}
			[ "$val" = n ] && continue
			grep -qx "$opt=$val" "$kdir/.config" || { log "config: $opt=$val did not stick"; missing=1; }
			;;
		"# CONFIG_"*" is not set")
			opt=${line#\# }; opt=${opt%% *}
			grep -q "^$opt=" "$kdir/.config" && { log "config: $opt is still set"; missing=1; }
			;;
		esac
	done < "$rfs_top/scripts/kconfig/$frag.config"
done
[ $missing = 0 ] || die "kernel config does not match the fragments"

log "building $flavor kernel (this takes several minutes)"
kmake -j"$(( $(nproc) + 1 ))" bzImage modules >"$kdir/build.log" 2>&1 || {
	tail -n 40 "$kdir/build.log" >&2
	die "kernel build failed; see $kdir/build.log"
}
touch "$kdir/.rfs-built"
echo "$kdir"
