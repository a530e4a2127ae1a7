#!/usr/bin/env bash
# Build (or reuse) an rfs test kernel of a flavour and a Linux version:
#   6.12 (default): Debian 12's linux-source-6.12, built on the host with LLVM
#                   (scripts/build-kernel-6.12.sh);
#   7.3:            trixie-backports' linux-source-7.3, built in the Debian trixie
#                   chroot with trixie's toolchain (scripts/build-kernel-7.3.sh).
# Both are tinyconfig + scripts/kconfig/base.config + scripts/kconfig/FLAVOR.config.
#
#   scripts/build-kernel.sh [release|debug] [6.12|7.3]
#   RFS_KVER=7.3 scripts/build-kernel.sh [release|debug]
#
# Prints the build directory (usable as KDIR for `make`; the 7.3 one inside the
# chroot, see scripts/build-module.sh). Cached under $RFS_CACHE, keyed by kernel
# version, config and toolchain, so a second run does nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavor=${1:-debug}
kver=${2:-$RFS_KVER}
[ -f "$rfs_top/scripts/kconfig/$flavor.config" ] || die "unknown kernel flavour '$flavor'"
[ -x "$rfs_top/scripts/build-kernel-$kver.sh" ] || die "unknown kernel version '$kver' (known: $rfs_kvers)"
RFS_KVER=$kver exec "$rfs_top/scripts/build-kernel-$kver.sh" "$flavor"
