#!/usr/bin/env bash
# The cross-kernel smoke that `make check` runs after the full run under the
# 6.12 debug kernel: a few suites (RFS_SMOKE_SUITES) under the Linux 7.3 debug
# test kernel and under Debian's unmodified 7.3.4+deb13-amd64 kernel, each
# with its own rfs.ko, logs in out/smoke-7.3 and out/smoke-debian.
# `make check KVER=7.3` and `make check KVER=debian` run every suite there.
#
# Each kernel is smoked only when what it needs was built before: the trixie
# chroot (scripts/trixie-chroot.sh), the 7.3 debug kernel (`make kernel
# KVER=7.3`, about 27 minutes), Debian's kernel image and its completed
# headers (`make debian-module` and `scripts/debian-kernel.sh kernel`, about
# 10 minutes). Building them here would not fit CI's 90 minutes on a fresh
# machine; a kernel that is missing is reported as a skip with the command
# that builds it. RFS_SMOKE_BUILD=1 builds what is missing instead.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

suites=${RFS_SMOKE_SUITES:-aufs copyup rename}
read -r -a suites <<<"$suites"
build=${RFS_SMOKE_BUILD:-0}
krel=${RFS_DEBIAN_KREL:-7.3.4+deb13-amd64}
failed=()

# ready KVER: whether KVER's kernel (and the chroot its module needs) exist.
ready() {
	[ -f "$(rfs_trixie_dir)/.rfs-ready" ] || return 1
	case $1 in
	7.3) [ -f "$(rfs_kdir debug 7.3)/.rfs-built" ] ;;
	debian)
		# The image (debian-kernel.sh kernel) and the prepared headers
		# (debian-kernel.sh module) of the chroot's candidate version.
		compgen -G "$RFS_CACHE/debian-$krel-*/image/vmlinuz*" >/dev/null &&
			compgen -G "$RFS_CACHE/debian-$krel-*/overlay" >/dev/null
		;;
	esac
}

for kver in 7.3 debian; do
	what="cross-kernel smoke under $kver (${suites[*]})"
	if [ "$build" != 1 ] && ! ready "$kver"; then
		case $kver in
		7.3) how="make kernel KVER=7.3" ;;
		debian) how="make debian-module; scripts/debian-kernel.sh kernel" ;;
		esac
		echo "ok - $what # SKIP its kernel is not built here (build it with: $how)"
		continue
	fi
	log "$what"
	start=$SECONDS
	if RFS_KVER=$kver RFS_OUT="$rfs_top/out/smoke-$kver" "$rfs_top/scripts/check.sh" "${suites[@]}"; then
		echo "ok - $what, $((SECONDS - start)) s"
	else
		echo "not ok - $what, $((SECONDS - start)) s (logs: out/smoke-$kver/)"
		failed+=("$kver")
	fi
done
[ ${#failed[@]} = 0 ] || die "cross-kernel smoke failed under: ${failed[*]}"
