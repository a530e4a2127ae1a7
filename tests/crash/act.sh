# shellcheck shell=dash
# Crash safety, stage 1 of 2 (scripts/crash.sh boots this with
# rfs.mode=crash rfs.crash=act, then cuts the power).
#
# Makes two branches on the scratch disk, records what the lower branch holds
# and what every object may look like afterwards, mounts the union and then
# either (rfs.crashcase=big) appends to a large lower file, one long copy-up
# of the whole file, or (ops) at once changes the mode of many small lower
# files (short copy-ups) and renames lower files and empty lower directories
# (copy-up, whiteout at the old name, rename). It prints "rfs-crash: armed"
# on the console when the copy-up starts or half way through the renames;
# the host kills QEMU a moment later, while these run; tests/crash/verify.sh
# checks the result on the next boot. Prints TAP only for the preparation
# (the rest is cut off).

d=/scratch/crash
# What to cut short (rfs.crashcase= on the kernel command line): "big", one
# long copy-up, or "ops", many copy-ups and renames at once.
what=$(sed -n 's/.*rfs\.crashcase=\([a-z]*\).*/\1/p' /proc/cmdline)
n=${RFS_CRASH_FILES:-150}
big_mb=${RFS_CRASH_BIG_MB:-160}
[ "${RFS_SOAK:-0}" = 0 ] || { n=600; big_mb=400; }

rm -rf "$d"
mkdir -p "$d/b0" "$d/b1/s" "$d/b1/r" "$d/mnt" || { echo "not ok 1 - make the branches"; exit 1; }
head -c 1048576 /dev/urandom >"$d/chunk"
i=0
while [ "$i" -lt "$big_mb" ]; do
	cat "$d/chunk"
	i=$((i + 1))
done >"$d/b1/big"
rm -f "$d/chunk"
i=0
while [ "$i" -lt "$n" ]; do
	echo "old $i" >"$d/b1/s/f$i"
	echo "content $i" >"$d/b1/r/f$i"
	mkdir "$d/b1/r/dd$i"
	i=$((i + 1))
done
echo "$n" >"$d/count"
md5sum <"$d/b1/big" | cut -d' ' -f1 >"$d/big.old"
{ cat "$d/b1/big"; echo tail; } | md5sum | cut -d' ' -f1 >"$d/big.new"
(cd "$d/b1" && find . | sort >"$d/lower.list" && find . -type f | sort | xargs md5sum >"$d/lower.md5")
sync
echo "ok 1 - branches prepared ($big_mb MiB file, $n small files, $n files and $n directories to rename)"

if ! mount -t rfs -o "dirs=$d/b0=rw:$d/b1=ro" none "$d/mnt"; then
	echo "not ok 2 - mount"
	exit 1
fi
echo "ok 2 - mounted"
case $what in
big)
	# One long copy-up: the power goes while the copy is being written.
	echo "rfs-crash: armed" >/dev/console
	echo tail >>"$d/mnt/big"
	echo "rfs-crash: the large copy-up finished" >/dev/console
	;;
*)
	# Many short copy-ups and renames at once (they take turns on the
	# mount's copy-up lock); the power goes half way through the renames.
	(
		i=0
		while [ "$i" -lt "$n" ]; do
			# A copy-up of the whole file that leaves its data as it
			# was (data written by the application without fsync could
			# be half on disk after the cut, as on any filesystem).
			chmod 600 "$d/mnt/s/f$i"
			i=$((i + 1))
		done
		echo "rfs-crash: the small copy-ups finished" >/dev/console
	) &
	(
		i=0
		while [ "$i" -lt "$n" ]; do
			[ "$i" != $((n / 2)) ] || echo "rfs-crash: armed" >/dev/console
			mv "$d/mnt/r/f$i" "$d/mnt/r/g$i"
			mv "$d/mnt/r/dd$i" "$d/mnt/r/ee$i"
			i=$((i + 1))
		done
		echo "rfs-crash: the renames finished" >/dev/console
	) &
	;;
esac
wait
echo "rfs-crash: everything finished before the power cut" >/dev/console
# The host is about to cut the power; never shut down cleanly.
sleep 3600
