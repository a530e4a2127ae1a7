#!/usr/bin/env bash
# Find kernel reports in a VM console log and print each distinct one as a
# failed TAP test ("not ok - kernel: HEADER") with its first 40 lines as diag.
# Prints nothing when the log is clean. Used by scripts/check.sh.
#
#   scripts/kreports.sh CONSOLE.LOG
#
# A report starts at a kernel line (with a printk timestamp) whose message
# begins with BUG:/BUG <cache>/WARNING:/INFO:/Oops/Kernel panic/kernel BUG/
# general protection fault/Unable to handle/UBSAN:/RIP:/watchdog: BUG/
# rcu: INFO:, or contains KASAN, "possible circular locking", "lockdep" (but
# not the boot banner "RCU lockdep checking is enabled"); or at a kmemleak
# "unreferenced object" block (the runner cats /sys/kernel/debug/kmemleak).
# It ends at "---[ end ...", at the closing ===== line of a KASAN/SLUB report,
# at </TASK> of a stack dump (lockdep, might_sleep, hung task), at the first
# unindented line after a kmemleak block, or after 300 lines. A RIP:/Kernel
# panic/INFO: lockdep header within 20 lines after the end of a report belongs
# to that report (the register dump and panic after an Oops). Reports are told
# apart by their header with CPU/PID numbers and addresses masked (plus the top
# of the backtrace for kmemleak), so a WARN hit 100 times counts once.
set -euo pipefail

if [ $# != 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 CONSOLE.LOG" >&2
	exit 2
fi

tr -d '\r' <"$1" | awk '
function norm(s) {
	gsub(/0x[0-9a-fA-F]+/, "0x?", s)
	gsub(/[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]+/, "?", s)
	gsub(/CPU: [0-9]+/, "CPU: N", s)
	gsub(/PID: [0-9]+/, "PID: N", s)
	gsub(/[Pp]id[: ]+[0-9]+/, "pid N", s)
	gsub(/:[0-9]+ blocked for more than [0-9]+/, ":N blocked for more than N", s)
	gsub(/\[#[0-9]+\]/, "[#N]", s)
	gsub(/size [0-9]+/, "size N", s)
	gsub(/\/[0-9]+ /, "/N ", s)
	gsub(/  +/, " ", s)
	return s
}
function is_header(m) {
	if (m ~ /^(BUG:|BUG [^ ]+ \(|WARNING:|INFO: |Oops|Kernel panic|kernel BUG|general protection fault|Unable to handle|UBSAN:|RIP:|watchdog: BUG|rcu: INFO:)/) return 1
	if (m ~ /KASAN|possible circular locking/) return 1
	if (m ~ /lockdep/ && m !~ /^rcu:[ \t]+RCU lockdep checking is enabled/) return 1
	return 0
}
function is_weak(m) {
	return m ~ /^(RIP:|Kernel panic|Kernel Offset|INFO: lockdep)/
}
function kind_of(m) {
	if (m ~ /^BUG: KASAN|^BUG [^ ]+ \(/) return "kasan"
	if (m ~ /^WARNING: CPU: [0-9]+ PID:/) return "warn"
	if (m ~ /^(BUG: kernel NULL|BUG: unable to handle|Oops|general protection fault|kernel BUG|Unable to handle|RIP:)/) return "oops"
	if (m ~ /^Kernel panic/) return "panic"
	return "stack"
}
function start(m, raw, kind) {
	in_rep = 1; rkind = kind; rlines = 0; rtext = ""; rhead = m; rkey = norm(m); rframes = 0
	add(raw)
}
function add(raw) {
	rlines++
	if (rlines <= 40) rtext = rtext "\n# " raw
}
function finish(   k) {
	in_rep = 0; since_end = 0
	k = rkey
	if (!(k in count)) { order[++n] = k; head[k] = rhead; text[k] = rtext }
	count[k]++
}
BEGIN { n = 0; in_rep = 0; since_end = 1000 }
{
	raw = $0
	ts = (raw ~ /^\[ *[0-9]+\.[0-9]+\] /)
	msg = raw
	if (ts) sub(/^\[ *[0-9]+\.[0-9]+\] /, "", msg)

	if (in_rep && rkind == "kmemleak") {
		if (raw ~ /^[ \t]/) {
			add(raw)
			# the top of the backtrace tells leaks apart
			if (bt && rframes < 4) {
				f = raw; sub(/^[ \t]+/, "", f); sub(/^\[<[0-9a-fx]+>\] /, "", f); sub(/\+0x.*/, "", f)
				rkey = rkey " <" f ">"; rframes++
			}
			if (raw ~ /backtrace/) bt = 1
			next
		}
		finish()
	}
	if (in_rep) {
		if (!ts) next
		add(raw)
		if (msg ~ /^---\[ end / ||
		    (rkind == "kasan" && msg ~ /^=+$/) ||
		    (rkind == "stack" && msg ~ /<\/TASK>/) ||
		    rlines >= 300)
			finish()
		next
	}
	since_end++
	if (raw ~ /unreferenced object 0x/) {
		m = raw; sub(/^.*unreferenced object/, "unreferenced object", m)
		start(m, raw, "kmemleak"); bt = 0
		next
	}
	if (!ts || !is_header(msg)) next
	if (is_weak(msg) && since_end <= 20 && n > 0) {
		# part of the report that just ended (register dump, panic)
		k = order[n]
		if (split(text[k], _l, "\n") <= 40) text[k] = text[k] "\n# " raw
		next
	}
	start(msg, raw, kind_of(msg))
}
END {
	if (in_rep) finish()
	for (i = 1; i <= n; i++) {
		k = order[i]
		times = count[k] > 1 ? " (" count[k] " times)" : ""
		print "not ok - kernel: " head[k] times text[k]
	}
}'
