#!/usr/bin/env bash
# rfs for Debian's STOCK kernel (default 7.3.4+deb13-amd64, trixie-backports),
# all in the Debian trixie chroot (scripts/trixie-chroot.sh) and nothing on the
# host's apt:
#
#   scripts/debian-kernel.sh [module]     (or `make debian-module`)
#     installs linux-headers-KREL in the chroot, completes them with the Rust
#     metadata Debian does not ship (scripts/rust-headers-prep.sh: modules_prepare
#     on linux-source-X.Y with the headers' .config, cached in
#     $RFS_CACHE/debian-KREL-DEBVERSION), builds rfs.ko against them the way
#     DKMS does (make -C /lib/modules/KREL/build M=<copy of the sources> modules,
#     in out/module-debian), checks its vermagic and that every undefined symbol
#     is exported by Debian's kernel (Module.symvers), and prints its path.
#   scripts/debian-kernel.sh kernel
#     downloads Debian's unmodified kernel image (linux-binary-KREL), modules
#     (linux-modules-KREL) and linux-base-KREL (modules.builtin), unpacks them into $RFS_CACHE/debian-KREL-DEBVERSION/image
#     (vmlinuz, usr/lib/modules/KREL with modules.dep, usr/gen_init_cpio for
#     scripts/mkinitramfs.sh -k) and prints that directory: a kernel directory
#     for scripts/vm.sh -k.
#   scripts/debian-kernel.sh dkms
#     tests dkms.conf in the chroot: installs dkms and linux-source-X.Y there,
#     removes the Rust metadata from the headers (a fresh Debian 13), then
#     dkms add, build and install rfs for KREL; prints the installed module.
#   scripts/debian-kernel.sh modules [MODULE...]
#     prints the files (.ko.xz) of these Debian modules (default: the test
#     VM's, RFS_DEBIAN_MODULES) and of the modules they need, in load order
#     (for scripts/mkinitramfs.sh -M).
#
# Environment: RFS_DEBIAN_KREL (default 7.3.4+deb13-amd64), RFS_DEBIAN_MODULES
# (default: virtio_blk for the scratch disk, ext4 on it, and the filesystems
# the suites and benchmarks may use as branches). The C code is
# compiled with the compiler Debian built the kernel with (gcc-14, set by the
# headers' .kernelvariables), not LLVM=1: the headers' .config says
# CONFIG_CC_IS_GCC, and its C flags are gcc's. rustc is the kernel's own
# (trixie main's 1.85.1+dfsg1) and bindgen uses libclang as always, with the
# gcc-only flags filtered out (Kbuild).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

krel=${RFS_DEBIAN_KREL:-7.3.4+deb13-amd64}
read -r -a vm_modules <<<"${RFS_DEBIAN_MODULES:-virtio_blk ext4 xfs overlay squashfs erofs loop}"
what=${1:-module}
[ $# = 0 ] || shift
series=${krel%%-*}
series=$(echo "${series%%+*}" | cut -d. -f1-2)

"$rfs_top/scripts/trixie-chroot.sh" >/dev/null
troot=$(rfs_trixie_dir)
debs=$RFS_CACHE/debs

# The Debian version of the kernel packages (the chroot's apt candidate).
# shellcheck disable=SC2016 # dpkg-query's format, not shell
debver=$(rfs_trixie_run apt-cache policy "linux-headers-$krel" 2>/dev/null |
	awk '$1 == "Candidate:" && $2 != "(none)" { print $2; found = 1 } END { exit !found }') ||
	die "no package linux-headers-$krel in the chroot's apt sources (trixie, trixie-backports)"
ddir=$RFS_CACHE/debian-$krel-$debver

# download PKG: PKG=$debver's .deb in $debs (downloaded once); prints its path.
download() {
	local deb=$debs/${1}_${debver//:/%3a}_$2.deb
	if [ ! -f "$deb" ]; then
		log "downloading $1 $debver (in the trixie chroot)"
		mkdir -p "$debs"
		rfs_trixie_run -b "$debs" -C "$debs" -- \
			apt-get download -q -o APT::Sandbox::User=root "$1=$debver" >&2
		[ -f "$deb" ] || die "apt-get download did not give $deb"
	fi
	echo "$deb"
}

# source: a kernel source of the same Debian version for modules_prepare: the
# unpacked tree of the 7.3 test kernel when it is that version, else the
# tarball out of linux-source-X.Y's package.
source_for_prep() {
	local tree deb
	if [ "$series" = 7.3 ] && [ "$(rfs_ksrc_version 7.3 2>/dev/null)" = "$debver" ]; then
		tree=$(rfs_ksrc 7.3)
		if [ -f "$tree/.rfs-unpacked" ]; then
			echo "$tree"
			return
		fi
	fi
	if [ ! -f "$ddir/linux-source-$series.tar.xz" ]; then
		deb=$(download "linux-source-$series" all)
		mkdir -p "$ddir"
		dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./usr/src/linux-source-$series.tar.xz" \
			>"$ddir/linux-source-$series.tar.xz.tmp"
		mv "$ddir/linux-source-$series.tar.xz.tmp" "$ddir/linux-source-$series.tar.xz"
	fi
	echo "$ddir/linux-source-$series.tar.xz"
}

# chroot_install PKG...: install PKG=$debver... in the trixie chroot (only
# there) unless they are installed.
chroot_install() {
	local pkg want=()
	for pkg in "$@"; do
		# shellcheck disable=SC2016 # dpkg-query's format, not shell
		[ "$(rfs_trixie_run dpkg-query -W -f '${Status} ${Version}' "$pkg" 2>/dev/null)" = \
			"install ok installed $debver" ] || want+=("$pkg=$debver")
	done
	[ ${#want[@]} != 0 ] || return 0
	log "installing ${want[*]} in the trixie chroot"
	rfs_trixie_run -- apt-get install -y -q --no-install-recommends "${want[@]}" \
		>"$RFS_CACHE/debian-apt.log" 2>&1 || {
		tail -n 20 "$RFS_CACHE/debian-apt.log" >&2
		die "installing ${want[*]} in the chroot failed ($RFS_CACHE/debian-apt.log)"
	}
}

build_module() {
	local hdir=/usr/src/linux-headers-$krel src build logf start vermagic undef missing
	chroot_install "linux-headers-$krel"

	src=$(source_for_prep)
	rfs_trixie_run -b "$RFS_CACHE" -b "$rfs_top" -b "$src" -- \
		env RFS_CACHE="$RFS_CACHE" "$rfs_top/scripts/rust-headers-prep.sh" -s "$src" -w "$ddir" "$krel"

	build=$rfs_top/out/module-debian-$krel
	logf=$build.log
	rfs_lock "$build.lock"
	log "rfs.ko for Debian's $krel in $build"
	[ -z "$(rfs_mounts_below "$build")" ] || die "something is mounted below $build"
	rm -rf "$build"
	mkdir -p "$build"
	rfs_copy_sources "$build"
	start=$SECONDS
	rfs_trixie_run -b "$build" -- make -k -C "/lib/modules/$krel/build" M="$build" -j"$(nproc)" modules \
		>"$logf" 2>&1 || {
		tail -n 60 "$logf" >&2
		die "building rfs.ko for $krel failed after $((SECONDS - start)) s ($logf)"
	}
	[ -f "$build/rfs.ko" ] || die "no rfs.ko after the build ($logf)"
	log "built in $((SECONDS - start)) s"

	# The module must be one Debian's kernel loads: its vermagic, and every
	# symbol it needs exported by the kernel or its modules.
	vermagic=$(rfs_trixie_run -b "$build" -- modinfo -F vermagic "$build/rfs.ko")
	case $vermagic in
	"$krel "*) log "vermagic: $vermagic" ;;
	*) die "rfs.ko's vermagic is '$vermagic', not for $krel" ;;
	esac
	undef=$(rfs_trixie_run -b "$build" -- nm -u "$build/rfs.ko" | awk '{ print $2 }' | LC_ALL=C sort -u)
	missing=$(LC_ALL=C comm -23 <(echo "$undef") \
		<(awk '{ print $2 }' "$troot$hdir/Module.symvers" | LC_ALL=C sort -u))
	[ -z "$missing" ] || die "symbols of rfs.ko that $krel does not export: $(echo "$missing" | tr '\n' ' ')"
	log "all $(echo "$undef" | wc -l) undefined symbols of rfs.ko are in $krel's Module.symvers"
	echo "$build/rfs.ko"
}

unpack_kernel() {
	local img=$ddir/image tmp=$ddir/image.tmp pkg deb src
	if [ -f "$img/.rfs-ready" ]; then
		echo "$img"
		return
	fi
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# linux-base-KREL has modules.builtin and modules.order for depmod.
	for pkg in binary modules base; do
		deb=$(download "linux-$pkg-$krel" amd64)
		dpkg-deb -x "$deb" "$tmp"
	done
	[ -f "$tmp/usr/lib/modules/$krel/vmlinuz" ] || die "no usr/lib/modules/$krel/vmlinuz in linux-binary-$krel"
	ln -s "usr/lib/modules/$krel/vmlinuz" "$tmp/vmlinuz"
	rfs_trixie_run -b "$tmp" -- depmod -b "$tmp/usr" "$krel"
	# gen_init_cpio, for scripts/mkinitramfs.sh -k, from the kernel's source.
	src=$(source_for_prep)
	if [ -d "$src" ]; then
		cc -O2 -o "$tmp/usr/gen_init_cpio" "$src/usr/gen_init_cpio.c"
	else
		tar -xJOf "$src" "linux-source-$series/usr/gen_init_cpio.c" >"$tmp/gen_init_cpio.c"
		cc -O2 -o "$tmp/usr/gen_init_cpio" "$tmp/gen_init_cpio.c"
		rm -f "$tmp/gen_init_cpio.c"
	fi
	touch "$tmp/.rfs-ready"
	rm -rf "$img"
	mv "$tmp" "$img"
	log "Debian's kernel $krel $debver in $img"
	echo "$img"
}

# The DKMS test: dkms.conf used as on Debian 13, in the chroot against the
# headers installed there, starting from headers without the Rust metadata
# (PRE_BUILD must make or restore it from linux-source-X.Y).
dkms_test() {
	local ver usrc hdir=/usr/src/linux-headers-$krel ko vermagic start
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$rfs_top/dkms.conf")
	[ -n "$ver" ] || die "no PACKAGE_VERSION in dkms.conf"
	chroot_install "linux-headers-$krel" "linux-source-$series"
	if ! rfs_trixie_run dpkg-query -W dkms >/dev/null 2>&1; then
		log "installing dkms in the trixie chroot"
		rfs_trixie_run -- apt-get install -y -q --no-install-recommends dkms >"$RFS_CACHE/debian-apt.log" 2>&1 || {
			tail -n 20 "$RFS_CACHE/debian-apt.log" >&2
			die "installing dkms in the chroot failed ($RFS_CACHE/debian-apt.log)"
		}
	fi
	# shellcheck disable=SC2016 # expanded by the chroot's sh
	rfs_trixie_run -- sh -c 'dkms remove "rfs/$1" --all >/dev/null 2>&1 || true' sh "$ver"
	rm -rf "$troot$hdir/rust" "$troot$hdir/scripts/target.json"
	usrc=$troot/usr/src/rfs-$ver
	rm -rf "$usrc"
	mkdir -p "$usrc"
	rfs_copy_sources "$usrc"
	start=$SECONDS
	log "dkms add, build, install rfs/$ver for $krel in the trixie chroot"
	# shellcheck disable=SC2016 # expanded by the chroot's sh
	rfs_trixie_run -- sh -exc '
		dkms add "rfs/$1"
		dkms build "rfs/$1" -k "$2"
		dkms install "rfs/$1" -k "$2"
		dkms status rfs
	' sh "$ver" "$krel" >"$rfs_top/out/dkms-$krel.log" 2>&1 || {
		tail -n 40 "$rfs_top/out/dkms-$krel.log" >&2
		tail -n 40 "$troot/var/lib/dkms/rfs/$ver/build/make.log" >&2 2>/dev/null || true
		die "dkms failed after $((SECONDS - start)) s ($rfs_top/out/dkms-$krel.log)"
	}
	ko=$(cd "$troot" && find "lib/modules/$krel/updates" -name 'rfs.ko*' | head -n 1)
	[ -n "$ko" ] || die "dkms install put no rfs.ko under /lib/modules/$krel/updates"
	vermagic=$(rfs_trixie_run -- modinfo -F vermagic "/$ko")
	log "dkms: /$ko in the chroot, vermagic $vermagic, $((SECONDS - start)) s ($rfs_top/out/dkms-$krel.log)"
	echo "$troot/$ko"
}

case $what in
dkms)
	dkms_test
	;;
module)
	build_module
	;;
kernel)
	rfs_lock "$ddir.image.lock"
	unpack_kernel
	;;
modules)
	[ $# != 0 ] || set -- "${vm_modules[@]}"
	img=$ddir/image
	[ -f "$img/.rfs-ready" ] || die "no Debian kernel in $img (run $0 kernel)"
	rfs_trixie_run -b "$img" -- modprobe -d "$img/usr" -S "$krel" -a --show-depends "$@" |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
	;;
*)
	die "usage: $0 [module | kernel | modules [MODULE...] | dkms]"
	;;
esac
