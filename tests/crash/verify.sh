# shellcheck shell=dash
# Crash safety, stage 2 of 2 (scripts/crash.sh boots this with
# rfs.mode=crash rfs.crash=verify after the power cut during act.sh).
#
# Mounts the same branches again and checks that every object shows its old
# or its new state, never a partial one; that nothing of rfs's own
# bookkeeping is visible; that the work directory is emptied at mount; that
# the lower branch is unchanged; and that the union still works.

. /tests/lib.sh

d=/scratch/crash
work=$d/b0/.wh..wh.orph

if ! [ -f "$d/count" ]; then
	t_ok "the scratch disk still holds the branches" false
	t_done
fi
n=$(cat "$d/count")
left=$(ls -A "$work" 2>/dev/null | wc -l)
diag "before the mount: $left leftover(s) in the work directory"
[ "$left" = 0 ] || ls -lA "$work" 2>/dev/null | head -n 5 | while IFS= read -r l; do diag "  $l"; done

t_ok "mount the same branches again" rfs_mount "$d/mnt" "dirs=$d/b0=rw:$d/b1=ro"
t_eq "the work directory is emptied at mount" "" "$(ls -A "$work" 2>&1)"

sum=$(md5sum <"$d/mnt/big" | cut -d' ' -f1)
state=partial
[ "$sum" != "$(cat "$d/big.old")" ] || state=old
[ "$sum" != "$(cat "$d/big.new")" ] || state=new
up=absent
[ ! -e "$d/b0/big" ] || up="$(wc -c <"$d/b0/big") bytes"
diag "large file: $state state (its copy in the writable branch: $up)"
t_ok "the large file shows its old or its new contents" [ "$state" != partial ]

bad='' nold=0 nnew=0
i=0
while [ "$i" -lt "$n" ]; do
	f=$d/mnt/s/f$i
	echo "old $i" >/tmp/expect
	m=$(stat -c %a "$f" 2>&1)
	if ! cmp -s /tmp/expect "$f"; then
		bad="$bad f$i:contents"
	elif [ "$m" = 644 ]; then
		nold=$((nold + 1))
	elif [ "$m" = 600 ]; then
		nnew=$((nnew + 1))
	else
		bad="$bad f$i:mode-$m"
	fi
	i=$((i + 1))
done
diag "small files: $nold old, $nnew new"
t_eq "every small file shows its old or its new mode, with its whole contents" "" "$bad"

bad='' nold=0 nnew=0
i=0
while [ "$i" -lt "$n" ]; do
	if [ -e "$d/mnt/r/f$i" ] && ! [ -e "$d/mnt/r/g$i" ]; then
		nold=$((nold + 1))
		f=$d/mnt/r/f$i
	elif [ -e "$d/mnt/r/g$i" ] && ! [ -e "$d/mnt/r/f$i" ]; then
		nnew=$((nnew + 1))
		f=$d/mnt/r/g$i
	else
		bad="$bad f$i/g$i:both-or-neither"
		f=
	fi
	echo "content $i" >/tmp/expect
	[ -z "$f" ] || cmp -s /tmp/expect "$f" || bad="$bad $f:contents"
	if [ -d "$d/mnt/r/dd$i" ] && ! [ -e "$d/mnt/r/ee$i" ]; then
		f=$d/mnt/r/dd$i
	elif [ -d "$d/mnt/r/ee$i" ] && ! [ -e "$d/mnt/r/dd$i" ]; then
		f=$d/mnt/r/ee$i
	else
		bad="$bad dd$i/ee$i:both-or-neither"
		f=
	fi
	[ -z "$f" ] || [ -z "$(ls -A "$f")" ] || bad="$bad $f:not-empty"
	i=$((i + 1))
done
diag "renamed files: $nold at the old name, $nnew at the new name"
t_eq "every renamed file and directory is at exactly one of its names, whole" "" "$bad"

t_eq "no rfs bookkeeping is visible in the union" "" "$(find "$d/mnt" -name '.wh.*' 2>&1)"
t_eq "the union's top level holds only what was there" "big r s" "$(ls -A "$d/mnt" | tr '\n' ' ' | sed 's/ $//')"
t_eq "the lower branch's names are unchanged" "" \
	"$(cd "$d/b1" && find . | sort | diff "$d/lower.list" - 2>&1)"
t_eq "the lower branch's contents are unchanged" "" \
	"$(cd "$d/b1" && find . -type f | sort | xargs md5sum | diff "$d/lower.md5" - 2>&1)"

t_ok "the union still copies up and writes" sh -c "echo again >>'$d/mnt/s/f1' && tail -n 1 '$d/mnt/s/f1' | grep -qx again"
src=$d/mnt/r/dd0
[ -e "$src" ] || src=$d/mnt/r/ee0
t_ok "the union still renames" mv "$src" "$d/mnt/r/zz0"
t_ok "umount" umount "$d/mnt"
t_done
