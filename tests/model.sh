#!/bin/sh
# model.sh: model-based random testing of the union (issue 6, item 1).
#
# tests/tools/rfsmodel runs random operations (create, write at offsets,
# append, truncate, unlink, mkdir, rmdir, rename and RENAME_NOREPLACE of files
# and directories, link, symlink, chmod, utimes, setxattr, direct edits of
# the branches, remount append/del) on a union b0=rw:b1=ro+wh:b2=ro with
# random contents, and on the reference model src/logic/model.rs, in
# lock-step. It compares the errno of every call and, after every
# --check-every'th operation (and the last), the union view (names, types,
# data, modes, link counts, user xattrs, known mtimes) and every branch (the
# read-only ones must hold exactly what the tester put there, the writable
# one what rfs should have written). One test per seed; on a difference
# rfsmodel shrinks the sequence and prints a runnable reproducer script and
# the expected/actual difference (as diag lines).
#
# Known rfs bugs are kept out of the generated cases by rfsmodel's --avoid
# switches (default: the known ones; `rfsmodel run ... --avoid none` brings
# them back). See tests/tools/rfsmodel/README.md.
#
# Short mode (RFS_SOAK=0, the CI default): about 3 minutes under the debug
# kernel. Soak mode (RFS_SOAK=1, `make soak T=model`): 100 000 operations.
. "$(dirname "$0")/lib.sh"

# Each line: SEED OPS CHECK_EVERY
if [ "${RFS_SOAK:-0}" = 1 ]; then
	plan=$(awk 'BEGIN { for (s = 101; s <= 120; s++) print s, 5000, 5 }')
else
	plan="1 300 3
2 300 3
3 300 3
4 300 3
5 1000 25
6 1000 25"
fi

d=$(rfs_tmpdir)
start=$(date +%s)
total=0
while read -r seed ops every; do
	[ -n "$seed" ] || continue
	out=$d/seed$seed.out
	t0=$(date +%s)
	if rfsmodel run --seed "$seed" --ops "$ops" --check-every "$every" --dir "$d" >"$out" 2>&1; then
		diag "$(cat "$out") [$(($(date +%s) - t0))s]"
		t_ok "rfsmodel seed $seed: $ops ops, state checked every $every" true
	else
		diag "$(cat "$out")"
		t_ok "rfsmodel seed $seed: $ops ops (see the reproducer above)" false
	fi
	total=$((total + ops))
done <<PLAN
$plan
PLAN
diag "model: $total operations in $(($(date +%s) - start))s"
t_done
