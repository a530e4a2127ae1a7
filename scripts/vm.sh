#!/usr/bin/env bash
# Boot the rfs test VM in QEMU (TCG: KVM does not work here).
#
#   scripts/vm.sh [-k KDIR] [-i INITRD] [-o OUTDIR] [-m check|demo|shell]
#                 [-s SUITE,SUITE] [-t SECS] [-T SUITE_SECS] [-c] [-b] [-S]
#                 [-a 'EXTRA KERNEL ARGS'] [-D DISK] [-r] [-K SECS]
#
#   -k  kernel build dir (default: the debug test kernel, scripts/build-kernel.sh),
#       or a directory with a vmlinuz (scripts/debian-kernel.sh kernel)
#   -i  initramfs (default: OUTDIR/initramfs-debug.cpio.gz, scripts/mkinitramfs.sh)
#   -o  where logs and the scratch disk go (default: ./out)
#   -m  what the guest's /init does (rfs.mode=): check, crash, demo or shell
#       (default shell)
#   -s  check mode: run only these suites (rfs.suites=)
#   -t  QEMU wall-clock limit in seconds (default: check 4800, others 900;
#       none for an interactive session)
#   -T  check mode: per-suite limit in the guest (rfs.timeout=, default 1500)
#   -c  batch mode: also show the kernel console on stdout while it runs
#   -b  batch mode even on a terminal
#   -S  start a shell in the guest at the end, also in check mode
#   -D  the scratch disk image (default OUTDIR/scratch.img)
#   -r  reuse the scratch disk as it is (default: a fresh one every run)
#   -K  crash test: kill QEMU (SIGKILL, no shutdown: a power cut) SECS
#       seconds after the console shows "rfs-crash: armed"
#
# Serial ports: ttyS0 = kernel console -> OUTDIR/console.log (on the terminal
# too when interactive: stdin is a tty, -serial mon:stdio, Ctrl-A X quits);
# ttyS1 = the test output (TAP) -> OUTDIR/tap.log. A fresh sparse 4 GiB ext4
# image OUTDIR/scratch.img is the guest's /dev/vda (mounted on /scratch).
# The guest ends with `reboot -f`; QEMU runs with -no-reboot, so it exits then.
# Exit status: QEMU's, 124 if the time limit killed it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

kdir='' initrd='' outdir=$rfs_top/out mode=shell suites='' limit='' suite_limit=''
show=0 batch=0 shell=0 extra='' scratch='' reuse=0 killafter=''
while getopts k:i:o:m:s:t:T:cbSa:D:rK:h opt; do
	case $opt in
	k) kdir=$OPTARG ;;
	i) initrd=$OPTARG ;;
	o) outdir=$OPTARG ;;
	m) mode=$OPTARG ;;
	s) suites=$OPTARG ;;
	t) limit=$OPTARG ;;
	T) suite_limit=$OPTARG ;;
	c) show=1 ;;
	b) batch=1 ;;
	S) shell=1 ;;
	a) extra="${extra:+$extra }$OPTARG" ;;
	D) scratch=$OPTARG ;;
	r) reuse=1 ;;
	K) killafter=$OPTARG ;;
	*) usage ;;
	esac
done
case $mode in check | crash | demo | shell) ;; *) die "unknown mode '$mode' (check, crash, demo, shell)" ;; esac

[ -n "$kdir" ] || kdir=$(rfs_kdir debug)
[ -n "$initrd" ] || initrd=$outdir/initramfs-debug.cpio.gz
bzimage=$kdir/arch/x86/boot/bzImage
# A distribution's kernel (scripts/debian-kernel.sh kernel): KDIR/vmlinuz.
[ -f "$bzimage" ] || [ ! -f "$kdir/vmlinuz" ] || bzimage=$kdir/vmlinuz
[ -f "$bzimage" ] || die "no kernel at $bzimage (scripts/build-kernel.sh debug)"
[ -f "$initrd" ] || die "no initramfs at $initrd (scripts/mkinitramfs.sh)"

interactive=0
if [ "$batch" = 0 ] && [ -t 0 ] && [ -t 1 ]; then
	interactive=1
fi
if [ -z "$limit" ]; then
	if [ "$interactive" = 1 ] && [ "$mode" != check ]; then
		limit=0
	elif [ "$mode" = check ] || [ "$mode" = crash ]; then
		limit=4800
	else
		limit=900
	fi
fi
# The guest's shell at the end: on a terminal in demo/shell mode, or when asked.
if [ "$interactive" = 1 ] && [ "$mode" != check ]; then
	shell=1
fi

mkdir -p "$outdir"
rfs_lock "$outdir/.vm.lock" # runs with the same OUTDIR share the files below
console=$outdir/console.log
tap=$outdir/tap.log
[ -n "$scratch" ] || scratch=$outdir/scratch.img
rm -f "$console" "$tap"
: >"$console"
: >"$tap"

# The scratch disk: sparse, recreated every run unless reused (-r).
if [ "$reuse" = 0 ] || [ ! -f "$scratch" ]; then
	rm -f "$scratch"
	mkfs=$(PATH=$PATH:/sbin:/usr/sbin command -v mkfs.ext4) || die "mkfs.ext4 not found (e2fsprogs)"
	truncate -s 4G "$scratch"
	"$mkfs" -q -F -L rfs-scratch "$scratch"
fi

append="console=ttyS0,115200 panic=-1 rfs.mode=$mode"
[ -z "$suites" ] || append="$append rfs.suites=$suites"
[ -z "$suite_limit" ] || append="$append rfs.timeout=$suite_limit"
[ "$shell" = 0 ] || append="$append rfs.shell=1"
[ "$mode" != demo ] || append="$append quiet"
[ -z "$extra" ] || append="$append $extra"

# Two CPUs, as two sockets: SeaBIOS's MP table (the test kernels have no
# ACPI) lists only the first CPU of each socket, so QEMU's default topology
# for -smp 2 (one socket, two cores) boots with one CPU.
qemu=(
	qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 2,sockets=2,cores=1,threads=1
	-nodefaults -display none -nic none -no-reboot
	-kernel "$bzimage" -initrd "$initrd" -append "$append"
	-drive "file=$scratch,format=raw,if=virtio,cache=unsafe"
)
if [ "$interactive" = 1 ]; then
	# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
	qemu+=(
		-chardev "stdio,id=con,mux=on,signal=off,logfile=$console"
		-serial chardev:con -mon chardev=con,mode=readline
	)
else
	qemu+=(-serial "file:$console")
fi
qemu+=(-serial "file:$tap")

log "booting $(basename "$kdir") (mode=$mode${suites:+, suites=$suites}, limit ${limit}s)"
log "console: $console"
[ "$mode" != check ] || log "TAP: $tap"

if [ "$interactive" = 1 ]; then
	rc=0
	timeout --foreground -k 10 "$limit" "${qemu[@]}" || rc=$?
	stty sane 2>/dev/null || true
else
	tailpid=
	if [ "$show" = 1 ]; then
		tail -n +1 -f "$console" &
		tailpid=$!
	fi
	rc=0
	timeout -k 10 "$limit" "${qemu[@]}" </dev/null >"$outdir/qemu.log" 2>&1 &
	qpid=$!
	if [ -n "$killafter" ]; then
		# The power cut: `timeout` runs QEMU as its child, in its own process
		# group (--foreground is not given), so kill the child directly.
		while kill -0 "$qpid" 2>/dev/null && ! grep -q '^rfs-crash: armed' "$console"; do
			sleep 0.05
		done
		if kill -0 "$qpid" 2>/dev/null; then
			sleep "$killafter"
			log "killing QEMU ${killafter}s after the guest armed the crash"
			pkill -KILL -P "$qpid" 2>/dev/null || true
		fi
	fi
	wait "$qpid" || rc=$?
	if [ -n "$tailpid" ]; then
		sleep 0.3
		kill "$tailpid" 2>/dev/null || true
		wait "$tailpid" 2>/dev/null || true
	fi
	if [ "$rc" != 0 ]; then
		[ "$rc" != 124 ] || log "QEMU killed after ${limit}s"
		grep -av 'TCG doesn.t support requested feature' "$outdir/qemu.log" >&2 || true
	fi
fi
log "QEMU exited with status $rc"
exit "$rc"
