#!/usr/bin/env bash
# Crash safety of rfs: power cuts during copy-up and rename (issue 6).
#
#   scripts/crash.sh -k KDIR -i INITRD -o OUTDIR [-n ROUNDS]
#
# Each round boots the test VM twice on one scratch disk:
#  1. rfs.crash=act (tests/crash/act.sh): prepares branches, mounts the union
#     and starts a large copy-up, many small copy-ups and many renames; once
#     it prints "rfs-crash: armed", QEMU is killed after a delay (SIGKILL: no
#     sync, no unmount; what the guest's page cache held is lost, what QEMU
#     wrote to the disk image stays, as after a power cut);
#  2. rfs.crash=verify (tests/crash/verify.sh): mounts the same branches and
#     checks old-or-new state for every object, no visible leftovers, the
#     work directory emptied at mount, the lower branch unchanged.
# The rounds cut the power at different moments (delays below). Prints TAP
# lines ("ok - crash N: ..."), each kernel report of either boot as a failed
# test (scripts/kreports.sh), and ends with "# crash: N passed, N failed".
# Exit status 0 when all passed. Used by scripts/check.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

kdir='' initrd='' outdir='' rounds=${RFS_CRASH_ROUNDS:-2}
[ "${RFS_SOAK:-0}" = 0 ] || [ -n "${RFS_CRASH_ROUNDS:-}" ] || rounds=6
while getopts k:i:o:n: opt; do
	case $opt in
	k) kdir=$OPTARG ;;
	i) initrd=$OPTARG ;;
	o) outdir=$OPTARG ;;
	n) rounds=$OPTARG ;;
	*) die "usage: $0 -k KDIR -i INITRD -o OUTDIR [-n ROUNDS]" ;;
	esac
done
[ -n "$kdir" ] && [ -n "$initrd" ] && [ -n "$outdir" ] || die "usage: $0 -k KDIR -i INITRD -o OUTDIR [-n ROUNDS]"

# Round by round (then repeating): what is cut short (tests/crash/act.sh) and
# the seconds from "armed" to the power cut. ext4 commits its journal every
# 5 s (and at each fsync), so a cut after more than 5 s into the large
# copy-up finds its temporary file on disk (a leftover the mount must clean).
cases=(big ops big ops big ops)
delays=(6 0.5 2 2 10 0.1)
pass=0 fail=0
soak=()
[ "${RFS_SOAK:-0}" = 0 ] || soak=(-a "rfs.soak=1")

ok() { echo "ok - crash $*"; pass=$((pass + 1)); }
notok() { echo "not ok - crash $*"; fail=$((fail + 1)); }

# boot ROUND STAGE DIR [vm.sh args]: one boot; a second one when the kernel
# reported a problem while booting, before rfs was loaded (scripts/vm-init).
boot() {
	local r=$1 stage=$2 dir=$3 rc
	shift 3
	for attempt in 1 2; do
		rc=0
		"$rfs_top/scripts/vm.sh" -b -m crash -k "$kdir" -i "$initrd" -o "$dir" -t 900 \
			-D "$outdir/round$r/scratch.img" -a "rfs.crash=$stage" "${soak[@]}" "$@" \
			2>"$dir.vm.log" || rc=$?
		if [ "$attempt" = 1 ] && grep -q '^rfs-init: kernel report during boot' "$dir/console.log"; then
			cp "$dir/console.log" "$dir/console-boot-report.log"
			echo "# crash $r: the kernel reported a problem while booting ($stage), before rfs was loaded; booting again"
			continue
		fi
		break
	done
	return "$rc"
}

# reports ROUND STAGE CONSOLE: kernel reports in one boot's log are failures.
reports() {
	local l r
	r=$("$rfs_top/scripts/kreports.sh" "$3")
	[ -n "$r" ] || return 0
	while IFS= read -r l; do
		case $l in
		'not ok'*) notok "$1 ($2 boot): ${l#not ok - }" ;;
		*) echo "$l" ;;
		esac
	done <<<"$r"
}

for ((r = 1; r <= rounds; r++)); do
	delay=${delays[$(((r - 1) % ${#delays[@]}))]}
	what=${cases[$(((r - 1) % ${#cases[@]}))]}
	mkdir -p "$outdir/round$r"
	rm -f "$outdir/round$r/scratch.img"
	# The act boot only ends by the kill (or by vm.sh's time limit).
	boot "$r" act "$outdir/round$r/act" -K "$delay" -a "rfs.crashcase=$what" || true
	con=$outdir/round$r/act/console.log
	if grep -q '^rfs-crash: armed' "$con"; then
		if [ "$what" = big ]; then
			ok "$r: power cut ${delay}s into a large copy-up"
		else
			ok "$r: power cut ${delay}s after half of the renames, during copy-ups and renames"
		fi
		tr -d '\r' <"$con" | sed -n '/^rfs-crash: armed/d; s/^rfs-crash: /# crash '"$r"': before the cut: /p'
	else
		notok "$r: the act stage never armed the crash"
		sed -n '$!{/./p}' "$outdir/round$r/act/tap.log" | tail -n 5 | sed 's/^/# /'
		tail -n 20 "$con" | sed 's/^/# /'
	fi
	reports "$r" act "$con"

	boot "$r" verify "$outdir/round$r/verify" -r || true
	tap=$outdir/round$r/verify/tap.log
	if ! grep -q '^1\.\.[0-9]' "$tap"; then
		notok "$r: the verify stage did not finish"
		tail -n 20 "$outdir/round$r/verify/console.log" | sed 's/^/# /'
	fi
	while IFS= read -r l; do
		case $l in
		'ok '*) ok "$r: $(sed 's/^ok [0-9]* - //' <<<"$l")" ;;
		'not ok '*) notok "$r: $(sed 's/^not ok [0-9]* - //' <<<"$l")" ;;
		'#'*) echo "# crash $r: ${l#\# }" ;;
		esac
	done < <(tr -d '\r' <"$tap")
	reports "$r" verify "$outdir/round$r/verify/console.log"
	rm -f "$outdir/round$r/scratch.img"
done
echo "# crash: $pass passed, $fail failed"
[ "$fail" = 0 ]
