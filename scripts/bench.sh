#!/usr/bin/env bash
# The rfs benchmark (`make bench`, `make bench MODE=full`): rfs against
# OverlayFS, the native filesystem, fuse-overlayfs and unionfs-fuse, every
# workload in one boot of the *release* test kernel in QEMU (TCG).
#
#   scripts/bench.sh [-m quick|full] [-r REPS] [-w w1,w2,...] [-f FS,FS,...]
#                    [-o OUTDIR] [-t SECS] [-k] [-S] [-c] [-p]
#
#   -m  quick (default: small sizes, a few minutes) or full (the sizes of
#       issue 5: 10 000 hot files, 1-500 branches, 100 000-entry readdir,
#       1 GiB files, 8 parallel 64 MiB copy-ups, ...; about an hour of
#       VM time under TCG)
#   -r  repetitions of every run (default 5; the report gives the median and
#       the spread)
#   -w  only these workloads (w1 hot path, w2 cold lookup, w3 readdir,
#       w4 sequential read, w5 copy-up, w6 metadata mix, w7 remount append,
#       w8 memory, w9 parallel copy-up, w10 container start, w11 package
#       install)
#   -f  only these filesystems (native, rfs, overlayfs, fuse-overlayfs,
#       unionfs-fuse)
#   -o  results directory (default out/bench/DATE-MODE; out/bench/latest
#       points to the last one)
#   -t  QEMU wall-clock limit in seconds (default: quick 1200, full 21600)
#   -k  keep the working disk images (out/bench/work/)
#   -S  start a shell in the guest at the end (on a terminal)
#   -c  show the whole kernel console (default: only the driver's progress)
#   -p  also profile: after the measured runs of W1, W2 (128 branches), W5,
#       W6, W9 (the largest process count), W10 and W11, run the same
#       operation once more for rfs and
#       OverlayFS under `perf record -a -g` (the host's perf binary and its
#       libraries go into the initramfs); report.md then lists the hottest
#       kernel functions of each (profile.md has the call chains)
#
# Steps: scripts/setup.sh plus the benchmark's Debian packages (fuse-overlayfs,
# unionfs-fuse, fuse3, gnuplot-nox, xfsprogs); the release kernel
# (scripts/build-kernel.sh release, cached); rfs.ko for it, built in a copy of
# the tree (out/bench/build); the static driver tests/bench/rfsbench; the disk
# images (scripts/bench-prep.py: an ext4 image with the branch trees and an
# xfs image with reflink=1, cached under $RFS_CACHE/bench keyed by the sizes,
# and copied for each run since the run writes to them); the initramfs
# (scripts/mkinitramfs.sh plus a second archive with /bench/init,
# tests/bench/driver.sh, rfsbench, and fuse-overlayfs, unionfs and
# fusermount3 with their shared libraries and the dynamic loader). The guest's
# results come back as JSON lines on its second serial port (raw.jsonl);
# scripts/bench-report.py then writes results.json, results.csv, report.md
# and the plots (gnuplot) into the results directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

mode=quick reps=5 only='' fslist='' outdir='' limit='' keep=0 shell=0 console=0 profile=0
while getopts m:r:w:f:o:t:kSchp opt; do
	case $opt in
	m) mode=$OPTARG ;;
	r) reps=$OPTARG ;;
	w) only=$OPTARG ;;
	f) fslist=$OPTARG ;;
	o) outdir=$OPTARG ;;
	t) limit=$OPTARG ;;
	k) keep=1 ;;
	S) shell=1 ;;
	c) console=1 ;;
	p) profile=1 ;;
	*) usage ;;
	esac
done
case $mode in quick | full) ;; *) die "unknown mode '$mode' (quick or full)" ;; esac
case $reps in '' | *[!0-9]*) die "-r needs a number" ;; esac
[ "$reps" -ge 1 ] || die "-r needs at least 1"

bench=$rfs_top/out/bench
mkdir -p "$bench"
rfs_lock "$bench/.bench.lock"
stamp=$(date -u +%Y-%m-%d_%H%M%S)
[ -n "$outdir" ] || outdir=$bench/$stamp-$mode
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
work=$bench/work
rm -rf "$work"
mkdir -p "$work"

# ------------------------------------------------------------------ sizes
# Everything the prep script and the guest driver need; the image cache key
# is a hash of this text and of scripts/bench-prep.py.
params=$work/params.sh
if [ "$mode" = full ]; then
	cat >"$params" <<-'EOF'
		MODE=full
		HOT_FILES=10000
		TREE_FILES=100000
		TREE_DIRS=100
		COLD_BRANCHES='1 8 32 128 500'
		COLD_FILES=100
		COLD_FILLER=16
		RD_ENTRIES=100000
		RD_BRANCHES=8
		RD_WH_PCT=10
		SEQ_SIZE=1G
		CU_SIZES='1M 64M 1G'
		CU_XFS_SIZES='4K 1M 64M 1G'
		TAR_FILES=3000
		REMOUNT_BRANCHES=500
		CU_PAR_COUNTS='1 2 4 8'
		CU_PAR_SIZE=64M
		CU_PAR_SMALL=1000
		CU_PAR_REPS=3
		IMG_LAYERS=30
		IMG_FILLER=3000
		PKG_FILES=3000
		EXT4_SIZE=10G
		EXT4_INODES=900000
		XFS_SIZE=8G
	EOF
	[ -n "$limit" ] || limit=21600
else
	cat >"$params" <<-'EOF'
		MODE=quick
		HOT_FILES=600
		TREE_FILES=2000
		TREE_DIRS=8
		COLD_BRANCHES='1 8 32 128 500'
		COLD_FILES=20
		COLD_FILLER=4
		RD_ENTRIES=5000
		RD_BRANCHES=8
		RD_WH_PCT=10
		SEQ_SIZE=16M
		CU_SIZES='1M 8M'
		CU_XFS_SIZES='4K 1M 8M'
		TAR_FILES=120
		REMOUNT_BRANCHES=500
		CU_PAR_COUNTS='1 2 4 8'
		CU_PAR_SIZE=8M
		CU_PAR_SMALL=100
		CU_PAR_REPS=3
		IMG_LAYERS=30
		IMG_FILLER=1000
		PKG_FILES=300
		EXT4_SIZE=2G
		EXT4_INODES=262144
		XFS_SIZE=512M
	EOF
	[ -n "$limit" ] || limit=1200
fi

# ------------------------------------------------------------------ packages
log "setup (scripts/setup.sh)"
"$rfs_top/scripts/setup.sh" >"$outdir/setup.log" 2>&1 || {
	tail -n 40 "$outdir/setup.log" >&2
	die "scripts/setup.sh failed"
}
pkgs=(fuse-overlayfs unionfs-fuse fuse3 gnuplot-nox xfsprogs e2fsprogs python3)
[ "$profile" = 0 ] || pkgs+=(linux-perf)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	{
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
	} >>"$outdir/setup.log" 2>&1 || {
		tail -n 20 "$outdir/setup.log" >&2
		die "apt-get install ${missing[*]} failed"
	}
fi
export PATH=$PATH:/sbin:/usr/sbin

# ------------------------------------------------------------------ kernel + module
log "release kernel (scripts/build-kernel.sh release)"
kdir=$(rfs_lock "$RFS_CACHE/.kernel-build.lock"
	"$rfs_top/scripts/build-kernel.sh" release)
bzimage=$kdir/arch/x86/boot/bzImage

build=$bench/build
log "rfs.ko for $(basename "$kdir") in $build"
rm -rf "$build"
mkdir -p "$build"
(cd "$rfs_top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done |
	tar --null -T - -cf -) | tar -C "$build" -xf -
if ! make -C "$build" -j"$(nproc)" KDIR="$kdir" >"$outdir/module-build.log" 2>&1 ||
	[ ! -f "$build/rfs.ko" ]; then
	tail -n 60 "$outdir/module-build.log" >&2
	die "building rfs.ko for the release kernel failed ($outdir/module-build.log)"
fi

log "building tests/bench/rfsbench (static)"
btarget=$RFS_CACHE/bench-target
RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release \
	--manifest-path "$rfs_top/tests/bench/rfsbench/Cargo.toml" \
	--target x86_64-unknown-linux-gnu --target-dir "$btarget" >&2 ||
	die "building rfsbench failed"
rfsbench=$btarget/x86_64-unknown-linux-gnu/release/rfsbench

# ------------------------------------------------------------------ disk images
key=$(cat "$params" "$rfs_top/scripts/bench-prep.py" | sha256sum | cut -c1-12)
imgdir=$RFS_CACHE/bench/img-$mode-$key
(
	rfs_lock "$RFS_CACHE/bench/.prep.lock"
	if [ ! -f "$imgdir/.done" ]; then
		log "preparing the $mode disk images in $imgdir (once; cached)"
		for old in "$RFS_CACHE"/bench/img-"$mode"-*; do
			[ "$old" = "$imgdir" ] || rm -rf "$old"
		done
		rm -rf "$imgdir"
		mkdir -p "$imgdir"
		python3 "$rfs_top/scripts/bench-prep.py" "$params" "$imgdir/stage" \
			"$imgdir/ext4.img" "$imgdir/xfs.img"
		touch "$imgdir/.done"
	fi
)
log "copying the disk images (the run writes to them)"
cp --sparse=always "$imgdir/ext4.img" "$work/ext4.img"
cp --sparse=always "$imgdir/xfs.img" "$work/xfs.img"

# ------------------------------------------------------------------ initramfs
log "initramfs"
"$rfs_top/scripts/mkinitramfs.sh" -k "$kdir" -m "$build/rfs.ko" -o "$work/base.cpio.gz" \
	2>"$work/initramfs.log" || { cat "$work/initramfs.log" >&2; die "mkinitramfs.sh failed"; }
list=$work/bench.list
{
	for d in /bench /m /b /x /lib64 /lib /lib/x86_64-linux-gnu /usr/lib /usr/lib/x86_64-linux-gnu; do
		echo "dir $d 0755 0 0"
	done
	echo "file /bench/init $rfs_top/tests/bench/init 0755 0 0"
	echo "file /bench/driver.sh $rfs_top/tests/bench/driver.sh 0755 0 0"
	echo "file /bench/rfsbench $rfsbench 0755 0 0"
	declare -A seen=()
	bins="fuse-overlayfs unionfs fusermount3"
	if [ "$profile" = 1 ]; then
		# Debian's linux-perf (6.1) reads the 6.12 kernel's perf events;
		# /usr/bin/perf is the binary itself (the package diverts the
		# wrapper away).
		command -v perf >/dev/null 2>&1 || die "-p needs perf (apt-get install linux-perf)"
		bins="$bins perf"
	fi
	for bin in $bins; do
		path=$(command -v "$bin") || die "$bin not found"
		echo "file /usr/bin/$bin $(readlink -f "$path") 0755 0 0"
		# Every library ldd names, at the path it names, and the loader.
		while read -r lib; do
			if [ -z "$lib" ] || [ -n "${seen[$lib]:-}" ]; then continue; fi
			seen[$lib]=1
			echo "file $lib $(readlink -f "$lib") 0755 0 0"
		done < <(ldd "$path" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p')
	done
} >"$list"
gen=$kdir/usr/gen_init_cpio
[ -x "$gen" ] || gen=$RFS_CACHE/bin/gen_init_cpio
"$gen" "$list" | gzip -1 >"$work/bench.cpio.gz"
cat "$work/base.cpio.gz" "$work/bench.cpio.gz" >"$work/initramfs.cpio.gz"

# ------------------------------------------------------------------ host facts
config_sha=$(sha256sum "$kdir/.config" | cut -c1-12)
rev=$(git -C "$rfs_top" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$rfs_top" status --porcelain 2>/dev/null)" ] || rev="$rev+dirty"
python3 - "$outdir/host.json" <<EOF
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M:%S UTC')",
    "mode": "$mode",
    "reps": $reps,
    "kernel_dir": "$(basename "$kdir")",
    "kernel_config_sha256": "$config_sha",
    "kernel_release": "$(cat "$kdir/include/config/kernel.release" 2>/dev/null)",
    "rfs_rev": "$rev",
    "rfs_ko_sha256": "$(sha256sum "$build/rfs.ko" | cut -c1-12)",
    "host_cpu": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)",
    "host_ncpu": $(nproc),
    "qemu": "$(qemu-system-x86_64 --version | head -n1)",
    "command": "scripts/bench.sh $*",
    "images": "$(basename "$imgdir")",
    "host_load_before": "$(cut -d' ' -f1-3 /proc/loadavg)",
}, open(sys.argv[1], "w"), indent=1)
EOF
cp "$params" "$outdir/params.sh"

# ------------------------------------------------------------------ boot
# The guest's clock: without HPET or ACPI PM timer (tinyconfig) the kernel
# can only calibrate the TSC against the PIT, which fails under TCG when the
# host is busy; it then falls back to jiffies (4 ms steps) and every short
# measurement is quantized. QEMU TCG's guest TSC ticks at the host TSC's
# rate, so measure that here and hand it over (tsc_early_khz), and trust it
# (tsc=reliable: no watchdog to compare it with anyway).
tsc_khz=$("$rfsbench" tsc-khz 2>/dev/null) || tsc_khz=
append="console=ttyS0,115200 panic=-1 rdinit=/bench/init slab_nomerge tsc=reliable rfsbench.reps=$reps"
[ -z "$tsc_khz" ] || append="$append tsc_early_khz=$tsc_khz"
[ -z "$only" ] || append="$append rfsbench.only=$only"
[ -z "$fslist" ] || append="$append rfsbench.fs=$fslist"
[ "$shell" = 0 ] || append="$append rfsbench.shell=1"
[ "$profile" = 0 ] || append="$append rfsbench.profile=1"
# Two vCPUs (MTTCG: one host thread each), so that W9's parallel copy-ups
# and the FUSE daemons' threads can run at once. Two sockets: the kernel
# has no ACPI, and SeaBIOS's MP table lists only the first CPU of each
# socket (QEMU's default for -smp 2 is one socket of two cores: one CPU).
raw=$outdir/raw.jsonl
con=$outdir/console.log
: >"$raw"
: >"$con"
qemu=(
	qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 4G -smp 2,sockets=2,cores=1,threads=1
	-nodefaults -display none -nic none -no-reboot
	-kernel "$bzimage" -initrd "$work/initramfs.cpio.gz" -append "$append"
	-drive "file=$work/ext4.img,format=raw,if=virtio,cache=unsafe"
	-drive "file=$work/xfs.img,format=raw,if=virtio,cache=unsafe"
)
log "booting $(basename "$kdir") ($mode mode, $reps repetitions, limit ${limit}s)"
log "console: $con"
log "results: $raw"
start=$(date +%s)
rc=0
if [ "$shell" = 1 ] && [ -t 0 ] && [ -t 1 ]; then
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	qemu+=(-chardev "stdio,id=con,mux=on,signal=off,logfile=$con"
		-serial chardev:con -mon chardev=con,mode=readline -serial "file:$raw")
	timeout --foreground -k 10 "$limit" "${qemu[@]}" || rc=$?
	stty sane 2>/dev/null || true
else
	qemu+=(-serial "file:$con" -serial "file:$raw")
	timeout -k 10 "$limit" "${qemu[@]}" </dev/null >"$outdir/qemu.log" 2>&1 &
	qpid=$!
	# Progress while it runs; tail ends with QEMU.
	if [ "$console" = 1 ]; then
		tail --pid="$qpid" -n +1 -f "$con" || true
	else
		tail --pid="$qpid" -n +1 -f "$con" | grep --line-buffered -a 'rfs-bench:' || true
	fi
	wait "$qpid" || rc=$?
fi
secs=$(($(date +%s) - start))
[ "$rc" != 124 ] || log "QEMU killed after ${limit}s"
log "QEMU exited with status $rc after ${secs}s"
if [ "$rc" != 0 ]; then
	grep -av 'TCG doesn.t support requested feature' "$outdir/qemu.log" >&2 || true
fi

# ------------------------------------------------------------------ report
python3 "$rfs_top/scripts/bench-report.py" "$outdir" --vm-seconds "$secs" \
	--load-after "$(cut -d' ' -f1-3 /proc/loadavg)" --summary ||
	die "bench-report.py failed"
ln -sfn "$(basename "$outdir")" "$bench/latest"
[ "$keep" = 1 ] || rm -rf "$work"
grep -q '"type":"end"' "$raw" || die "the guest did not finish (see $con); partial report in $outdir"
log "report: $outdir/report.md"
