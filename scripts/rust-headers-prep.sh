#!/usr/bin/env bash
# Complete a distribution's kernel headers with the Rust metadata that an
# out-of-tree Rust module needs and that Debian's linux-headers packages do not
# ship: rust/*.rmeta (core, kernel, bindings, pin_init, ...), the proc-macro
# libraries rust/*.so, rust/kernel/generated_arch_*_asm.rs and
# scripts/target.json. They are regenerated from the kernel's own source (the
# linux-source-X.Y package of the same Debian version) with the headers'
# .config by `make modules_prepare` in a build directory of their own (O=),
# with the compilers the kernel was built with, then copied into the headers.
#
#   scripts/rust-headers-prep.sh [-s SOURCE] [-w WORKDIR] KERNELRELEASE
#
#   KERNELRELEASE  e.g. 7.3.4+deb13-amd64; the headers are /lib/modules/KERNELRELEASE/build
#   -s  the kernel source: an unpacked tree (used read-only) or a .tar.xz
#       (default /usr/src/linux-source-X.Y.tar.xz from the linux-source-X.Y
#       package, which must have the headers' Debian version)
#   -w  where the metadata is built and kept (default
#       $RFS_CACHE/debian-KERNELRELEASE-DEBVERSION): a second run, or a run for
#       another copy of the same headers, only copies it again (~1 s)
#
# Runs where the headers are installed: in the trixie chroot for
# scripts/debian-kernel.sh, on Debian 13 itself as the PRE_BUILD step of
# dkms.conf. Does nothing when the headers already have the metadata of this
# key (kernel release, Debian version, toolchain, .config; stamp
# HEADERS/rust/.rfs-rust-metadata). The files it adds to the headers are not
# the package's: `apt purge linux-headers-KREL` leaves them (and the
# directory) behind. The crates' metadata is only usable by the rustc that made it, and
# the symbol names of the kernel's Rust exports embed a hash of rustc's version
# string, so rustc and bindgen must print exactly the versions in the headers'
# .config (CONFIG_RUSTC_VERSION_TEXT, CONFIG_BINDGEN_VERSION_TEXT): for
# 7.3.4+deb13 that is trixie main's rustc 1.85.1+dfsg1 and bindgen 0.71.1, not
# rustup's 1.85.1 nor backports' rustc. Needs (Debian packages) rustc rust-src
# bindgen libclang-dev gcc-14 make bc bison flex libelf-dev libssl-dev openssl
# python3 dwarves xz-utils.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 [-s SOURCE] [-w WORKDIR] KERNELRELEASE"; }
src='' work=''
while getopts s:w: opt; do
	case $opt in
	s) src=$OPTARG ;;
	w) work=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 1 ] || usage
krel=$1

hdir=/lib/modules/$krel/build
[ -f "$hdir/.config" ] || die "no kernel headers for $krel ($hdir/.config; install linux-headers-$krel)"
hdir=$(realpath "$hdir")
config=$hdir/.config

# config_text NAME: the string value of CONFIG_NAME in the headers' .config.
config_text() {
	sed -n "s/^CONFIG_$1=\"\\(.*\\)\"\$/\\1/p" "$config"
}
grep -qx 'CONFIG_RUST=y' "$config" || die "kernel $krel was built without Rust support (CONFIG_RUST)"

# The toolchain must be the kernel's own.
want_rustc=$(config_text RUSTC_VERSION_TEXT)
want_bindgen=$(config_text BINDGEN_VERSION_TEXT)
cc=$(config_text CC_VERSION_TEXT)
cc=${cc%% *}
have_rustc=$(rustc --version 2>/dev/null) || die "no rustc (Debian package rustc, $want_rustc)"
have_bindgen=$(bindgen --version 2>/dev/null) || die "no bindgen (Debian package bindgen, $want_bindgen)"
[ "$have_rustc" = "$want_rustc" ] ||
	die "rustc is '$have_rustc' but $krel was built with '$want_rustc' (install the distribution's rustc of that version)"
[ "$have_bindgen" = "$want_bindgen" ] ||
	die "bindgen is '$have_bindgen' but $krel was built with '$want_bindgen'"
command -v "$cc" >/dev/null || die "no $cc, the C compiler $krel was built with"

# The Debian version of the headers (the cache key; the source must match).
debver=$(dpkg-query -W -f '${Version}' "linux-headers-$krel" 2>/dev/null) || debver=unknown
[ -n "$work" ] || work=$RFS_CACHE/debian-$krel-$debver
mkdir -p "$work"
rfs_lock "$work/.lock"
key=$(printf '%s\n' "$krel" "$debver" "$have_rustc" "$have_bindgen" "$cc" | cat - "$config" | sha256sum | cut -c1-16)
overlay=$work/overlay
# Already done for these headers (a second DKMS build, another module).
stamp=$hdir/rust/.rfs-rust-metadata
if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && [ -f "$hdir/rust/libkernel.rmeta" ] &&
	[ -f "$hdir/scripts/target.json" ]; then
	log "Rust metadata for $krel already in $hdir"
	exit 0
fi

if [ "$(cat "$work/.rfs-ready" 2>/dev/null)" != "$key" ]; then
	rm -f "$work/.rfs-ready"
	kver=${krel%%-*}  # 7.3.4+deb13
	kver=${kver%%+*}  # 7.3.4
	series=$(echo "$kver" | cut -d. -f1-2)
	if [ -z "$src" ]; then
		src=/usr/src/linux-source-$series.tar.xz
		[ -f "$src" ] || die "no $src: install linux-source-$series (version $debver), e.g. apt-get install linux-source-$series=$debver"
		sver=$(dpkg-query -W -f '${Version}' "linux-source-$series" 2>/dev/null) || sver=unknown
		[ "$debver" = unknown ] || [ "$sver" = "$debver" ] ||
			die "linux-source-$series is $sver but the headers are $debver (they must be the same Debian version)"
	fi
	if [ -f "$src" ]; then
		log "unpacking $src into $work/src"
		rm -rf "$work/src"
		mkdir -p "$work/src"
		tar -xJf "$src" -C "$work/src" --strip-components=1
		src=$work/src
	fi
	[ -f "$src/Makefile" ] || die "$src is not a kernel source tree"
	have_kver=$(make -s -C "$src" kernelversion)
	[ "$have_kver" = "$kver" ] || die "the source in $src is Linux $have_kver, the headers are $kver"

	obj=$work/obj
	rm -rf "$obj" "$overlay"
	mkdir -p "$obj"
	cp "$config" "$obj/.config"
	kmake=(make -C "$src" O="$obj" ARCH=x86 CC="$cc" KERNELRELEASE="$krel")
	case $cc in *-linux-gnu-*) kmake+=(CROSS_COMPILE="${cc%%-linux-gnu-*}-linux-gnu-") ;; esac
	"${kmake[@]}" -s olddefconfig
	# The same toolchain gives the same configuration; a difference means the
	# metadata would describe another kernel.
	if ! cmp -s "$config" "$obj/.config"; then
		diff "$config" "$obj/.config" | head -n 20 >&2 || true
		die "olddefconfig changed the headers' .config (toolchain or source differs from the kernel's)"
	fi
	log "make modules_prepare for $krel in $obj (several minutes)"
	start=$SECONDS
	"${kmake[@]}" -j"$(nproc)" modules_prepare >"$work/modules_prepare.log" 2>&1 || {
		tail -n 40 "$work/modules_prepare.log" >&2
		die "modules_prepare failed; see $work/modules_prepare.log"
	}
	log "modules_prepare: $((SECONDS - start)) s"

	mkdir -p "$overlay/rust/kernel" "$overlay/scripts"
	cp "$obj"/rust/*.rmeta "$obj"/rust/*.so "$overlay/rust/"
	cp "$obj"/rust/kernel/generated_arch_*_asm.rs "$overlay/rust/kernel/"
	cp "$obj/scripts/target.json" "$overlay/scripts/"
	[ -f "$overlay/rust/libkernel.rmeta" ] || die "modules_prepare made no rust/libkernel.rmeta"
	# Only the metadata is kept.
	rm -rf "$obj" "$work/src"
	echo "$key" >"$work/.rfs-ready"
fi

# Into the headers ($hdir/scripts is a symlink to the linux-kbuild package's
# scripts directory; the file goes there).
mkdir -p "$hdir/rust/kernel"
cp "$overlay"/rust/*.rmeta "$overlay"/rust/*.so "$hdir/rust/"
cp "$overlay"/rust/kernel/*.rs "$hdir/rust/kernel/"
cp "$overlay/scripts/target.json" "$hdir/scripts/"
echo "$key" >"$stamp"
log "Rust metadata for $krel installed in $hdir (from $overlay)"
