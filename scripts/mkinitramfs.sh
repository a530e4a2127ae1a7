#!/usr/bin/env bash
# Build the initramfs (cpio.gz) of the rfs test VM:
#   /bin/busybox + every applet as a symlink, /init (scripts/vm-init),
#   /demo (scripts/vm-demo), /rfs.ko (if given/present), the repo's tests/
#   directory as /tests, and the static test tools built from tests/tools/*/
#   (Rust crates; each binary at /tests/tools/NAME), rfsctl (tools/rfsctl,
#   static, at /tests/tools/rfsctl), and the Debian binaries of the stress
#   suite (fio, stress-ng, dbench) with their libraries.
#
#   scripts/mkinitramfs.sh [-k KDIR] [-m MODULE.ko|none] [-M LIST] -o OUT.cpio.gz
#
# LIST (for a distribution kernel, whose drivers and filesystems are modules):
# a file naming kernel modules (.ko, .ko.xz, .ko.zst), one path a line, in the
# order they must be loaded; they go uncompressed to /lib/modules/preload/ and
# their names to /lib/modules/preload.list, and /init loads them first.
#
# KDIR only provides usr/gen_init_cpio (which writes root-owned entries and
# /dev/console without needing root); without it, the tool is compiled from the
# kernel source into $RFS_CACHE. MODULE defaults to ./rfs.ko at the repo top.
# Nothing is written inside the repo except OUT (normally under ./out/); the
# tools' cargo target directory is $RFS_CACHE/tools-target.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage="usage: $0 [-k KDIR] [-m MODULE.ko|none] [-M LIST] -o OUT.cpio.gz"
kdir='' module='' out='' preload=''
while getopts k:m:M:o: opt; do
	case $opt in
	k) kdir=$OPTARG ;;
	m) module=$OPTARG ;;
	M) preload=$OPTARG ;;
	o) out=$OPTARG ;;
	*) die "$usage" ;;
	esac
done
[ -n "$out" ] || die "$usage"
[ -z "$preload" ] || [ -f "$preload" ] || die "no module list $preload"
[ -n "$module" ] || module=$rfs_top/rfs.ko

busybox=$(command -v busybox) || die "busybox not found (run scripts/setup.sh)"
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
	log "warning: $busybox may not be static (install busybox-static)"
fi

# gen_init_cpio: from the kernel build, else compiled once from the source.
gen=
if [ -n "$kdir" ] && [ -x "$kdir/usr/gen_init_cpio" ]; then
	gen=$kdir/usr/gen_init_cpio
else
	gen=$RFS_CACHE/bin/gen_init_cpio
	if [ ! -x "$gen" ]; then
		gsrc=$(rfs_ksrc)/usr/gen_init_cpio.c
		[ -f "$gsrc" ] || die "no gen_init_cpio: build a kernel first (scripts/build-kernel.sh)"
		mkdir -p "$RFS_CACHE/bin"
		cc -O2 -o "$gen.tmp" "$gsrc" && mv "$gen.tmp" "$gen"
	fi
fi

# Test tools: every tests/tools/NAME/Cargo.toml is built as a static binary NAME.
# One target dir per checkout: cargo copies the final binary out of its
# per-source build only when it rebuilds, so two checkouts sharing a target
# dir would get each other's binary.
tools_target=$RFS_CACHE/tools-target-$(printf '%s' "$rfs_top" | sha1sum | cut -c1-12)
declare -A toolbin=()
for manifest in "$rfs_top"/tests/tools/*/Cargo.toml; do
	[ -f "$manifest" ] || continue
	name=$(basename "$(dirname "$manifest")")
	log "building test tool $name (static)"
	if RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release \
		--manifest-path "$manifest" --target x86_64-unknown-linux-gnu \
		--target-dir "$tools_target" >&2; then
		bin=$tools_target/x86_64-unknown-linux-gnu/release/$name
		if [ -x "$bin" ]; then
			toolbin[$name]=$bin
		else
			die "test tool $name built, but $bin is not there (binary must be named $name)"
		fi
	else
		die "building test tool $name failed"
	fi
done
[ -n "${toolbin[rfsprobe]:-}" ] || log "warning: tests/tools/rfsprobe is not there yet; the VM has no rfsprobe"

# rfsctl, the user's tool (a member of the top-level workspace): static for
# musl when that target and a musl C compiler (musl-gcc, for zstd's C code)
# are installed (the release build), else for gnu with crt-static like the
# test tools.
if [ -f "$rfs_top/tools/rfsctl/Cargo.toml" ]; then
	if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl &&
		{ command -v musl-gcc || command -v x86_64-linux-musl-gcc; } >/dev/null 2>&1; then
		rtarget=x86_64-unknown-linux-musl rflags=
	else
		rtarget=x86_64-unknown-linux-gnu rflags='-C target-feature=+crt-static'
	fi
	log "building rfsctl (static, $rtarget)"
	RUSTFLAGS=$rflags cargo build -q --release --locked -p rfsctl \
		--manifest-path "$rfs_top/Cargo.toml" --target "$rtarget" \
		--target-dir "$tools_target" >&2 || die "building rfsctl failed"
	toolbin[rfsctl]=$tools_target/$rtarget/release/rfsctl
	[ -x "${toolbin[rfsctl]}" ] || die "rfsctl built, but ${toolbin[rfsctl]} is not there"
fi

# Debian's dynamic binaries for tests/stress.sh (scripts/setup.sh installs
# them), like scripts/bench.sh does for the FUSE unions: each binary goes to
# /usr/bin, every library ldd names to the path ldd names (the file it
# resolves to), plus the loader; data files go to their own path. What is
# missing on the host is not fatal here (the other suites do not need it):
# it is written to /etc/rfs-host-tools.missing, one "NAME: reason" a line,
# and the stress suite reports each as a failed test.
host_bins=(fio stress-ng dbench)
host_data=(/usr/share/dbench/client.txt)
host_missing=()
declare -A host_dirs=() host_files=()
# host_add DEST SRC: one file at DEST (its parent directories made first).
host_add() {
	local d=${1%/*}
	[ -z "${host_files[$1]:-}" ] || return 0
	host_files[$1]=$2
	while [ -n "$d" ] && [ -z "${host_dirs[$d]:-}" ]; do
		host_dirs[$d]=1
		d=${d%/*}
	done
}
for bin in "${host_bins[@]}"; do
	if ! path=$(command -v "$bin"); then
		host_missing+=("$bin: not installed on the host (scripts/setup.sh installs it)")
		continue
	fi
	if ! libs=$(ldd "$path" 2>&1); then
		host_missing+=("$bin: ldd $path failed: $(echo "$libs" | head -n 1)")
		continue
	fi
	if grep -q 'not found' <<<"$libs"; then
		host_missing+=("$bin: libraries not found on the host: $(grep 'not found' <<<"$libs" | tr -s ' \t\n' ' ')")
		continue
	fi
	host_add "/usr/bin/$bin" "$(readlink -f "$path")"
	while read -r lib; do
		[ -z "$lib" ] || host_add "$lib" "$(readlink -f "$lib")"
	done < <(sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' <<<"$libs")
done
for f in "${host_data[@]}"; do
	if [ -f "$f" ]; then
		host_add "$f" "$f"
	else
		host_missing+=("$f: not on the host (scripts/setup.sh installs its package)")
	fi
done
missing_list=$(mktemp)
for m in "${host_missing[@]}"; do
	log "warning: stress tools: $m"
	echo "$m"
done >"$missing_list"

list=$(mktemp)
premods=$(mktemp -d)
trap 'rm -rf "$list" "$missing_list" "$premods"' EXIT

# The modules to load first (-M), uncompressed (busybox insmod reads plain
# .ko files), and their load order.
if [ -n "$preload" ]; then
	while IFS= read -r ko; do
		[ -n "$ko" ] || continue
		name=$(basename "$ko")
		case $name in
		*.ko.xz) xz -dc "$ko" >"$premods/${name%.xz}" ;;
		*.ko.zst) zstd -qdc "$ko" >"$premods/${name%.zst}" ;;
		*.ko.gz) gzip -dc "$ko" >"$premods/${name%.gz}" ;;
		*.ko) cp "$ko" "$premods/$name" ;;
		*) die "$preload: $ko is not a kernel module" ;;
		esac
		basename "${name%.ko*}.ko" >>"$premods/preload.list"
	done <"$preload"
	log "$(wc -l <"$premods/preload.list") kernel modules to load first (from $preload)"
fi
{
	for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /tmp /scratch /mnt /root /etc /run \
		/var /var/tmp /tests /tests/tools /lib /lib/modules; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "file /bin/busybox $busybox 0755 0 0"
	"$busybox" --list-full | while read -r applet; do
		[ "$applet" = bin/busybox ] || echo "slink /$applet /bin/busybox 0777 0 0"
	done
	echo "file /init $rfs_top/scripts/vm-init 0755 0 0"
	echo "file /demo $rfs_top/scripts/vm-demo 0755 0 0"
	echo "file /etc/passwd $rfs_top/scripts/vm-passwd 0644 0 0"
	echo "file /etc/group $rfs_top/scripts/vm-group 0644 0 0"
	if [ "$module" != none ] && [ -f "$module" ]; then
		echo "file /rfs.ko $module 0644 0 0"
	elif [ "$module" != none ]; then
		log "warning: $module does not exist; the VM has no rfs.ko"
	fi

	# tests/, without the tool crates' sources and build output.
	(
		cd "$rfs_top/tests"
		find . -mindepth 1 \( -name target -o -name .git \) -prune -o -print | LC_ALL=C sort
	) | while read -r rel; do
		rel=${rel#./}
		src=$rfs_top/tests/$rel
		case $rel in *[[:space:]]*) die "tests/$rel: file names with spaces are not supported" ;; esac
		top=${rel%%/*}
		if [ "$top" = tools ] && [ "$rel" != tools ]; then
			sub=${rel#tools/}
			sub=${sub%%/*}
			[ -f "$rfs_top/tests/tools/$sub/Cargo.toml" ] && continue
		fi
		[ "$rel" = tools ] && continue
		if [ -L "$src" ]; then
			echo "slink /tests/$rel $(readlink "$src") 0777 0 0"
		elif [ -d "$src" ]; then
			echo "dir /tests/$rel 0755 0 0"
		elif [ -f "$src" ]; then
			if [ -x "$src" ]; then m=0755; else m=0644; fi
			echo "file /tests/$rel $src $m 0 0"
		fi
	done
	for name in "${!toolbin[@]}"; do
		echo "file /tests/tools/$name ${toolbin[$name]} 0755 0 0"
	done

	# The stress suite's Debian binaries, libraries and data (see above).
	for d in $(printf '%s\n' "${!host_dirs[@]}" | LC_ALL=C sort); do
		case $d in /bin | /sbin | /usr | /usr/bin | /usr/sbin | /etc | /lib) continue ;; esac # listed above
		echo "dir $d 0755 0 0"
	done
	for f in $(printf '%s\n' "${!host_files[@]}" | LC_ALL=C sort); do
		echo "file $f ${host_files[$f]} 0755 0 0"
	done
	echo "file /etc/rfs-host-tools.missing $missing_list 0644 0 0"

	if [ -f "$premods/preload.list" ]; then
		echo "dir /lib/modules/preload 0755 0 0"
		echo "file /lib/modules/preload.list $premods/preload.list 0644 0 0"
		while IFS= read -r name; do
			echo "file /lib/modules/preload/$name $premods/$name 0644 0 0"
		done <"$premods/preload.list"
	fi
} >"$list"

mkdir -p "$(dirname "$out")"
"$gen" "$list" | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
log "initramfs: $out ($(du -h "$out" | cut -f1))"
