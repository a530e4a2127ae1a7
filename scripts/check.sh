#!/usr/bin/env bash
# The one test command of rfs (`make check`, `make check T=suite`, .ci/run).
#
#   scripts/check.sh [SUITE...]        SUITE = tests/SUITE.sh (default: all)
#
#  1. scripts/setup.sh (packages, rust-src, bindgen);
#  2. the debug test kernel (KASAN, lockdep, kmemleak): scripts/build-kernel.sh;
#  3. the module: `make KDIR=<debug kernel>` at the repo top -> ./rfs.ko
#     (a build failure ends the run, with the build output);
#  4. `cargo test` at the repo top (if there is a Cargo.toml) and in
#     tests/tools/rfsmodel (the model's host tests): their passed and
#     failed counts are added to the totals; a failed build counts as 1 failure;
#  5. the initramfs (scripts/mkinitramfs.sh) and the VM in check mode
#     (scripts/vm.sh): the suites' TAP is printed as it arrives;
#  6. the kernel console log is scanned for kernel reports (scripts/kreports.sh):
#     each distinct one is a failed test; a VM run that did not finish is one too.
# The last line printed is always "N passed, N failed"; the exit status is
# non-zero if anything failed. Logs: out/console.log, out/tap.log,
# out/module-build.log, out/cargo-test.log.
#
# Environment: RFS_VM_TIMEOUT (QEMU limit, s, default 4800),
# RFS_SUITE_TIMEOUT (per suite in the guest, s, default 1500),
# RFS_SOAK=1 (suites that have one run their long soak mode; `make soak`),
# RFS_MODEL_SEEDS=FIRST-LAST (only those seeds of model.sh's soak plan),
# RFS_CONSOLE=1 (show the kernel console while the VM runs),
# RFS_SKIP_MODULE=1 (boot without rfs.ko: for work on the harness itself),
# RFS_KVER=7.3 (the Linux 7.3 test kernel instead of 6.12; `make check KVER=7.3`),
# RFS_KVER=debian (Debian's unmodified kernel, RFS_DEBIAN_KREL, default
# 7.3.4+deb13-amd64, with rfs.ko built against its headers and its driver and
# filesystem modules in the initramfs: scripts/debian-kernel.sh;
# `make check KVER=debian`), RFS_MODULE_KO=PATH (load this rfs.ko, built
# elsewhere for that kernel, instead of building one), RFS_OUT=DIR (logs and
# images there instead of ./out; scripts/smoke.sh uses out/smoke-KVER).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

out=${RFS_OUT:-$rfs_top/out}
mkdir -p "$out"
# One run at a time: runs share ./out and the in-tree module build.
rfs_lock "$out/.check.lock"
pass=0 fail=0 skip=0
failed=()
bgpids=()

# result OK|FAIL DESC: print and count one test of the harness itself.
result() {
	if [ "$1" = OK ]; then
		echo "ok - $2"
		pass=$((pass + 1))
	else
		echo "not ok - $2"
		fail=$((fail + 1))
		failed+=("$2")
	fi
}

# diag_file FILE [N]: the last N (default 60) lines of FILE as TAP diag.
diag_file() {
	tail -n "${2:-60}" "$1" | sed 's/^/# /'
}

finish() {
	local rc=$?
	local p
	for p in "${bgpids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then
		result FAIL "scripts/check.sh stopped unexpectedly (status $rc)"
	fi
	if [ ${#failed[@]} -gt 0 ]; then
		echo "# failed:"
		printf '#   %s\n' "${failed[@]}"
	fi
	[ "$skip" = 0 ] || echo "# $skip of the passed tests were skipped"
	printf '%d passed, %d failed\n' "$pass" "$fail"
	[ "$fail" = 0 ] && exit 0
	exit 1
}
trap finish EXIT

# hard_fail DESC [LOG]: a step that the rest depends on failed.
hard_fail() {
	result FAIL "$1"
	[ -z "${2:-}" ] || diag_file "$2" "${3:-60}"
	exit 1
}

# Suites asked for must exist. "crash" is the crash-safety test
# (scripts/crash.sh: boots of its own, after the suites' VM).
names=()
crash=0
[ $# != 0 ] || crash=1
for s in "$@"; do
	s=${s%.sh}
	s=${s#tests/}
	if [ "$s" = crash ]; then
		crash=1
		continue
	fi
	[ -f "$rfs_top/tests/$s.sh" ] || hard_fail "no such suite: tests/$s.sh (or crash)"
	names+=("$s")
done

log "setup"
"$rfs_top/scripts/setup.sh" >"$out/setup.log" 2>&1 || hard_fail "scripts/setup.sh" "$out/setup.log"

if [ "$RFS_KVER" = debian ]; then
	log "Debian's kernel (scripts/debian-kernel.sh kernel)"
	kdir=$("$rfs_top/scripts/debian-kernel.sh" kernel 2>"$out/kernel-build.log") ||
		hard_fail "get Debian's kernel" "$out/kernel-build.log"
else
	log "debug kernel (scripts/build-kernel.sh debug $RFS_KVER)"
	kdir=$(rfs_lock "$RFS_CACHE/.kernel-build.lock"
		"$rfs_top/scripts/build-kernel.sh" debug "$RFS_KVER" 2>"$out/kernel-build.log") ||
		hard_fail "build the debug kernel" "$out/kernel-build.log"
fi
log "kernel: $kdir"

module="$rfs_top/rfs.ko"
if [ "${RFS_SKIP_MODULE:-0}" = 1 ]; then
	log "RFS_SKIP_MODULE=1: not building nor loading rfs.ko"
	module=none
elif [ -n "${RFS_MODULE_KO:-}" ]; then
	log "RFS_MODULE_KO: loading $RFS_MODULE_KO (not built here)"
	[ -f "$RFS_MODULE_KO" ] || hard_fail "RFS_MODULE_KO: no $RFS_MODULE_KO"
	module=$RFS_MODULE_KO
elif [ "$RFS_KVER" = debian ]; then
	log "module (scripts/debian-kernel.sh module)"
	module=$("$rfs_top/scripts/debian-kernel.sh" module 2>"$out/module-build.log") || {
		echo "# module build output (out/module-build.log, out/module-debian-*.log):"
		diag_file "$out/module-build.log" 200
		hard_fail "build rfs.ko for Debian's kernel (scripts/debian-kernel.sh module)"
	}
elif [ "$RFS_KVER" != 6.12 ]; then
	# Another kernel: built in its own copy with that kernel's toolchain.
	log "module (scripts/build-module.sh $RFS_KVER debug)"
	module=$("$rfs_top/scripts/build-module.sh" "$RFS_KVER" debug 2>"$out/module-build.log") || {
		echo "# module build output (out/module-$RFS_KVER-debug.log):"
		diag_file "$out/module-$RFS_KVER-debug.log" 200
		hard_fail "build rfs.ko (scripts/build-module.sh $RFS_KVER debug)"
	}
else
	log "module (make KDIR=$kdir)"
	# Objects built for another kernel must not be mixed in.
	stamp=$out/.module-kdir
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$kdir" ]; then
		make -C "$rfs_top" KDIR="$kdir" clean >/dev/null 2>&1 || true
	fi
	rm -f "$rfs_top/rfs.ko"
	if make -C "$rfs_top" -j"$(nproc)" KDIR="$kdir" >"$out/module-build.log" 2>&1 &&
		[ -f "$rfs_top/rfs.ko" ]; then
		echo "$kdir" >"$stamp"
		nwarn=$(grep -c 'warning:' "$out/module-build.log" || true)
		[ "$nwarn" = 0 ] || echo "# module build: $nwarn warnings (out/module-build.log)"
	else
		echo "# module build output (out/module-build.log):"
		diag_file "$out/module-build.log" 200
		hard_fail "build rfs.ko (make KDIR=$kdir)"
	fi
fi

if [ -f "$rfs_top/Cargo.toml" ]; then
	log "cargo test"
	crc=0
	# The workspace, then rfsmodel's host tests (its own workspace: the
	# generator and the reference model run together without a mount).
	{
		(cd "$rfs_top" && cargo test --color never) || crc=$?
		(cd "$rfs_top/tests/tools/rfsmodel" && cargo test --color never) || crc=$?
	} >"$out/cargo-test.log" 2>&1
	cpass=0 cfail=0 cign=0
	while read -r p f i; do
		cpass=$((cpass + p)) cfail=$((cfail + f)) cign=$((cign + i))
	done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' \
		"$out/cargo-test.log")
	echo "# cargo test: $cpass passed, $cfail failed, $cign ignored (out/cargo-test.log)"
	pass=$((pass + cpass))
	fail=$((fail + cfail))
	while read -r t; do
		echo "not ok - cargo test $t"
		failed+=("cargo test $t")
	done < <(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$out/cargo-test.log")
	if [ "$crc" != 0 ] && [ "$cfail" = 0 ]; then
		result FAIL "cargo test (exit status $crc)"
		diag_file "$out/cargo-test.log" 40
	fi
fi

log "initramfs"
initrd=$out/initramfs-debug.cpio.gz
# The 6.12 kernel's gen_init_cpio runs on the host; others were built in a
# chroot, so mkinitramfs.sh compiles its own (Debian's kernel directory has
# one compiled on the host).
kargs=()
[ "$RFS_KVER" != 6.12 ] || kargs=(-k "$kdir")
if [ "$RFS_KVER" = debian ]; then
	# Debian's kernel has the scratch disk's driver and most filesystems as
	# modules: these and what they need go into the initramfs, loaded first.
	initrd=$out/initramfs-debian.cpio.gz
	"$rfs_top/scripts/debian-kernel.sh" modules >"$out/debian-modules.list" \
		2>"$out/initramfs.log" || hard_fail "list Debian's kernel modules" "$out/initramfs.log"
	kargs=(-k "$kdir" -M "$out/debian-modules.list")
fi
"$rfs_top/scripts/mkinitramfs.sh" "${kargs[@]}" -m "$module" -o "$initrd" 2>"$out/initramfs.log" ||
	hard_fail "build the initramfs" "$out/initramfs.log"
grep -i warning "$out/initramfs.log" | sed 's/^/# /' || true

if [ ${#names[@]} != 0 ] || [ $# = 0 ]; then
# The VM; its TAP (ttyS1) is printed as it arrives.
vmargs=(-b -m check -k "$kdir" -i "$initrd" -o "$out" -t "${RFS_VM_TIMEOUT:-4800}"
	-T "${RFS_SUITE_TIMEOUT:-1500}")
[ "${RFS_SOAK:-0}" = 0 ] || vmargs+=(-a "rfs.soak=$RFS_SOAK")
[ -z "${RFS_MODEL_SEEDS:-}" ] || vmargs+=(-a "rfs.model_seeds=$RFS_MODEL_SEEDS")
[ ${#names[@]} = 0 ] || vmargs+=(-s "$(IFS=,; echo "${names[*]}")")
[ "${RFS_CONSOLE:-0}" != 1 ] || vmargs+=(-c)
log "VM (this takes a while under TCG)"
t0=$(date +%s)
for attempt in 1 2; do
	rm -f "$out/tap.log"
	"$rfs_top/scripts/vm.sh" "${vmargs[@]}" 2>"$out/vm.log" &
	vmpid=$!
	while [ ! -e "$out/tap.log" ] && kill -0 "$vmpid" 2>/dev/null; do
		sleep 0.2
	done
	tail -n +1 -f --pid="$vmpid" "$out/tap.log" 2>/dev/null | tr -d '\r' &
	bgpids+=($!)
	vmrc=0
	wait "$vmpid" || vmrc=$?
	wait "${bgpids[@]}" 2>/dev/null || true
	bgpids=()
	# vm-init reboots at once when the kernel reported a problem while it
	# booted, before rfs was loaded (see scripts/vm-init): boot once more.
	if [ "$attempt" = 1 ] && grep -q '^rfs-init: kernel report during boot' "$out/console.log"; then
		cp "$out/console.log" "$out/console-boot-report.log"
		echo "# VM: the kernel reported a problem while booting, before rfs was loaded; booting again" \
			"(first console log: $out/console-boot-report.log)"
		continue
	fi
	break
done
t1=$(date +%s)

tap=$out/tap.log
console=$out/console.log
n_ok=$(grep -cE '^ok( |$)' "$tap" || true)
n_notok=$(grep -cE '^not ok( |$)' "$tap" || true)
n_skip=$(grep -ciE '^ok( |$).*# *skip' "$tap" || true)
pass=$((pass + n_ok))
fail=$((fail + n_notok))
skip=$((skip + n_skip))
while IFS= read -r l; do failed+=("$l"); done < <(sed -n 's/^not ok *[0-9]* *-* *//p' "$tap")

boot=$(sed -n 's/^rfs-init: started at \([0-9.]*\)s.*/\1/p' "$console" | head -n 1)
echo "# VM: ${boot:+/init started ${boot}s after boot, }$((t1 - t0))s in all, QEMU status $vmrc"
if ! grep -q '^# rfs-run-suites: done' "$tap"; then
	why="VM run did not finish"
	[ "$vmrc" != 124 ] || why="$why (killed after ${RFS_VM_TIMEOUT:-4800}s)"
	[ "$n_ok$n_notok" != 00 ] || why="$why: no results at all"
	result FAIL "$why"
	echo "# last lines of $console:"
	diag_file "$console" 50
	grep -av 'TCG doesn.t support' "$out/vm.log" | sed 's/^/# vm.sh: /' || true
fi

# Kernel reports in the console log: each distinct one is a failed test.
reports=$("$rfs_top/scripts/kreports.sh" "$console")
if [ -n "$reports" ]; then
	echo "$reports"
	while IFS= read -r l; do
		fail=$((fail + 1))
		failed+=("${l#not ok - }")
	done < <(grep '^not ok' <<<"$reports")
fi

echo "# logs: $console $tap"
fi

# Crash safety: power cuts during copy-up and rename, then a fresh boot.
if [ "$crash" = 1 ]; then
	log "crash safety (scripts/crash.sh, $((${RFS_CRASH_ROUNDS:-2} * 2)) boots)"
	t0=$(date +%s)
	nc=0
	while IFS= read -r l; do
		case $l in
		'ok '*) pass=$((pass + 1)) nc=$((nc + 1)) ;;
		'not ok '*)
			fail=$((fail + 1))
			failed+=("${l#not ok - }")
			;;
		esac
		echo "$l"
	done < <("$rfs_top/scripts/crash.sh" -k "$kdir" -i "$initrd" -o "$out/crash" 2>"$out/crash.log" || echo "# crash.sh: exit status $?")
	[ "$nc" != 0 ] || result FAIL "crash safety: no test passed (out/crash.log)"
	echo "# crash: $(($(date +%s) - t0))s; logs under $out/crash"
fi
