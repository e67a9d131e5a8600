#!/usr/bin/env bash
# How long scripts/demo.sh takes to show its first profile on a fresh
# Debian 12: a minimal debootstrap root (nothing but git and
# ca-certificates added), a clone of this repository's HEAD in it, and the
# demo run inside it with an empty environment, every line of its output
# stamped with the seconds since the start. apt-get's own log and the
# build folder's files split the time into installing, building and
# recording.
#
# Usage: bench/demo_first_run.sh [ROOT]   (default /tmp/pystrobe-fresh-root;
#        it is removed and made again; needs root, debootstrap and a mirror)
# Environment: MIRROR (default http://deb.debian.org/debian)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/tmp/pystrobe-fresh-root}
mirror=${MIRROR:-http://deb.debian.org/debian}

unmount() {
  for m in proc dev sys; do
    umount -R "$root/$m" 2>/dev/null || true
  done
}
trap unmount EXIT
unmount
rm -rf "$root"
echo "demo_first_run: debootstrap bookworm into $root (not timed)"
debootstrap --variant=minbase --include=ca-certificates,git bookworm \
  "$root" "$mirror" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
git clone -q "$repo" "$root/root/pystrobe"
echo "demo_first_run: $(git -C "$repo" log --oneline -1)"
echo "demo_first_run: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

start=$(date +%s.%N)
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM=dumb \
  bash -c 'cd /root/pystrobe && scripts/demo.sh /root/demo-out' 2>&1 |
  while IFS= read -r line; do
    now=$(date +%s.%N)
    awk -v a="$now" -v b="$start" -v l="$line" 'BEGIN { printf "%7.1fs %s\n", a - b, l }'
  done

stamp() { date -d "$1" +%s.%N; }
since() { awk -v a="$(stamp "$1")" -v b="$start" 'BEGIN { printf "%.1f", a - b }'; }
apt_end=$(sed -n 's/^End-Date: //p' "$root/var/log/apt/history.log" | head -1)
echo "demo_first_run: apt-get install ended at $(since "$apt_end") s"
echo "demo_first_run: pystrobe linked at" \
  "$(since "@$(stat -c %Y "$root/root/pystrobe/build/pystrobe")") s," \
  "pystrobe-diff at" \
  "$(since "@$(stat -c %Y "$root/root/pystrobe/build/pystrobe-diff")") s"
echo "demo_first_run: the first profile is the first 'pystrobe: N samples' line above"
