# shellcheck shell=bash
# Shared settings for rfs's scripts. Sourced, not run.

# Where the test kernels, the initramfs pieces and other build products are kept
# between runs. Outside the repository so a clean clone reuses them.
RFS_CACHE=${RFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rfs}

rfs_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "rfs: $*" >&2; exit 1; }
log() { echo "rfs: $*" >&2; }

# The test kernels: Linux 6.12 (the default), built on the host, and Linux 7.3,
# built in a Debian trixie chroot (scripts/build-kernel-7.3.sh). RFS_KVER picks
# the version where a script takes none.
RFS_KVER=${RFS_KVER:-6.12}
rfs_kvers="6.12 7.3"

# The Debian package that carries the kernel source, and its exact version
# (the sublevel moves with bookworm-security, so it is part of the cache key).
# For 7.3 the package is trixie-backports' (the chroot's apt candidate).
RFS_KSRC_PKG=linux-source-6.12
rfs_ksrc_pkg() {
	echo "linux-source-${1:-$RFS_KVER}"
}
rfs_ksrc_version() {
	local kver=${1:-$RFS_KVER}
	case $kver in
	6.12) dpkg-query -W -f '${Version}' "$RFS_KSRC_PKG" 2>/dev/null ;;
	7.3)
		[ -f "$(rfs_trixie_dir)/.rfs-ready" ] || return 1
		rfs_trixie_run apt-cache policy "$(rfs_ksrc_pkg "$kver")" 2>/dev/null |
			awk '$1 == "Candidate:" && $2 != "(none)" { print $2; found = 1 } END { exit !found }'
		;;
	*) die "unknown kernel version '$kver' (known: $rfs_kvers)" ;;
	esac
}

# rfs_kdir FLAVOR [KVER]: the build directory of the test kernel of that flavour
# (release or debug), keyed by source version, the config fragments and the
# recipe (scripts/build-kernel-KVER.sh; for 7.3 also the trixie chroot, i.e.
# its toolchain).
rfs_kdir() {
	local flavor=$1 kver=${2:-$RFS_KVER} ver key
	ver=$(rfs_ksrc_version "$kver") ||
		die "$(rfs_ksrc_pkg "$kver") is not available (run scripts/setup.sh$([ "$kver" = 6.12 ] || echo ", scripts/trixie-chroot.sh"))"
	case $kver in
	6.12)
		key=$(cat "$rfs_top/scripts/kconfig/base.config" "$rfs_top/scripts/kconfig/$flavor.config" \
			"$rfs_top/scripts/build-kernel-6.12.sh" | sha256sum | cut -c1-12)
		;;
	*)
		key=$({
			cat "$rfs_top/scripts/kconfig/base.config" "$rfs_top/scripts/kconfig/$flavor.config"
			cat "$rfs_top/scripts/kconfig/$kver".* 2>/dev/null || true
			cat "$rfs_top/scripts/build-kernel-$kver.sh"
			basename "$(rfs_trixie_dir)"
		} | sha256sum | cut -c1-12)
		;;
	esac
	echo "$RFS_CACHE/kernel-$ver-$flavor-$key"
}

# rfs_ksrc [KVER]: the unpacked kernel source tree.
rfs_ksrc() {
	echo "$RFS_CACHE/src/linux-$(rfs_ksrc_version "${1:-$RFS_KVER}")"
}

export PATH="$HOME/.cargo/bin:$PATH"

# rfs_lock FILE: hold an exclusive lock on FILE until the calling script exits
# (waits, with a message, while another run holds it). Serializes runs that
# share ./out or a kernel build directory.
rfs_lock() {
	local fd
	mkdir -p "$(dirname "$1")"
	exec {fd}>>"$1"
	if ! flock -n "$fd"; then
		log "waiting for $1 (another run holds it)"
		flock "$fd"
	fi
}

# ---------------------------------------------------------------------------
# The Debian trixie chroot (scripts/trixie-chroot.sh) that builds the Linux 7.3
# test kernel and the module for it with the toolchain Debian built its 7.3
# kernel with: trixie main's rustc 1.85.1, bindgen 0.71, clang/LLVM 19, gcc-14.
RFS_TRIXIE_PKGS=(
	rustc rust-src bindgen gcc-14 gcc make bc bison flex libelf-dev libssl-dev
	dwarves python3 cpio kmod xz-utils clang llvm lld libclang-dev binutils
	libc6-dev openssl
)

# The Debian archive URI the host's apt uses (the first deb.debian.org-style
# archive serving a bookworm suite, not -security), for the chroot's sources.
rfs_debian_mirror() {
	local uri
	uri=$({
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
			/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ /^bookworm(-updates)?$/) print u }
			/^$/ { u = "" }'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" { o = ($2 ~ /^\[/) ? 1 : 0; if ($(3 + o) ~ /^bookworm(-updates)?$/) print $(2 + o) }'
	} | head -n 1)
	echo "${uri:-http://deb.debian.org/debian}"
}

# rfs_trixie_dir: the chroot, keyed by its package list and mirror (a change
# of either makes a new one).
rfs_trixie_dir() {
	local key
	key=$(printf '%s\n' trixie "$(rfs_debian_mirror)" "${RFS_TRIXIE_PKGS[@]}" | sha256sum | cut -c1-12)
	echo "$RFS_CACHE/trixie-$key"
}

# rfs_trixie_run [-b DIR]... [-C DIR] -- CMD...: run CMD as root in the trixie
# chroot, with /proc, /sys, /dev and every DIR bind-mounted at the same path
# (so a path means the same inside and out) and CMD started in the -C DIR.
# The mounts are made in a private mount namespace of their own (unshare): the
# kernel drops them when CMD ends, however it ends (Ctrl-C, kill -9), and no
# other process, on the host or in a concurrent run, sees them.
rfs_trixie_run() {
	local root binds=() cwd=/
	root=$(rfs_trixie_dir)
	while [ $# -gt 0 ]; do
		case $1 in
		-b) binds+=("$(realpath -m "$2")"); shift 2 ;;
		-C) cwd=$2; shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[ -f "$root/.rfs-ready" ] || die "no trixie chroot at $root (run scripts/trixie-chroot.sh)"
	rfs_chroot_exec "$root" "$cwd" "${#binds[@]}" "${binds[@]}" "$@"
}

# rfs_chroot_exec ROOT CWD N DIR1..DIRN CMD...: the mechanism of rfs_trixie_run
# (also used by scripts/trixie-chroot.sh before the chroot is complete).
rfs_chroot_exec() {
	local d
	for d in "${@:4:$3}"; do mkdir -p "$d"; done
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare --mount --propagation private -- bash -euo pipefail -c '
		root=$1 cwd=$2 n=$3; shift 3
		for d in /proc /sys /dev "${@:1:n}"; do
			mkdir -p "$root$d"
			mount --bind "$d" "$root$d"
		done
		shift "$n"
		exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive \
			sh -c "cd \"\$1\" && shift && exec \"\$@\"" sh "$cwd" "$@"
	' rfs-chroot "$@"
}

# rfs_mounts_below DIR: list the mount points at or below DIR (none expected:
# checked before a chroot or a tree that was bind-mounted into one is deleted).
rfs_mounts_below() {
	local dir
	dir=$(realpath -m "$1")
	awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo
}

# rfs_copy_sources DIR: a private copy of the sources in DIR (tracked and new
# files; no build products), for builds that must not share objects with the
# in-tree one.
rfs_copy_sources() {
	local dest=$1
	if git -C "$rfs_top" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$rfs_top" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -C "$dest" -xf -
	else
		tar -C "$rfs_top" --exclude=./.git --exclude=./out --exclude=./target \
			--exclude='*.o' --exclude='*.ko' --exclude='*.cmd' -cf - . | tar -C "$dest" -xf -
	fi
}
