#!/bin/sh
# model.sh: model-based random testing of the union (issue 6, item 1).
#
# tests/tools/rfsmodel runs random operations (create, write at offsets,
# append, truncate, unlink, mkdir, rmdir, rename of files and directories,
# link, symlink, chmod, utimes, setxattr, direct edits of the branches,
# remount append/del) on a union b0=rw:b1=ro+wh:b2=ro with random contents,
# and on the reference model src/logic/model.rs, in lock-step. After each
# operation it compares the errno, the union view and every branch. One test
# per seed; on a difference rfsmodel shrinks the sequence and prints a
# runnable reproducer script (as diag lines).
#
# Short mode (RFS_SOAK=0): a few seeds, a few minutes under the debug kernel.
# Soak mode (RFS_SOAK=1, `make soak T=model`): >= 100 000 operations.
# RFS_MODEL_SEEDS / RFS_MODEL_OPS override the seed list and ops per seed.
. "$(dirname "$0")/lib.sh"

if [ "${RFS_SOAK:-0}" = 1 ]; then
	seeds=${RFS_MODEL_SEEDS:-"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"}
	ops=${RFS_MODEL_OPS:-6000}
else
	seeds=${RFS_MODEL_SEEDS:-"1 2 3 4"}
	ops=${RFS_MODEL_OPS:-250}
fi

d=$(rfs_tmpdir)
start=$(date +%s)
for s in $seeds; do
	out=$d/seed$s.out
	if rfsmodel run --seed "$s" --ops "$ops" --dir "$d" >"$out" 2>&1; then
		diag "$(tail -n 1 "$out")"
		t_ok "rfsmodel seed $s, $ops ops" true
	else
		diag "$(cat "$out")"
		t_ok "rfsmodel seed $s, $ops ops (see the reproducer above)" false
	fi
done
diag "model: $(echo $seeds | wc -w) seeds x $ops ops in $(($(date +%s) - start))s"
t_done
