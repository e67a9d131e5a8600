#!/usr/bin/env bash
# The static pystrobe in roots that have nothing else (issue 18, item 1).
#
#   tests/package/static_root_test.sh STATIC_BUILD_DIR
#
# 1. An empty root: a temp dir with only pystrobe and pystrobe-diff and a
#    /proc mounted in a private mount namespace (unshare -m), entered with
#    chroot: no libc, no loader, no /usr. From there `pystrobe dump --pid P`
#    (and --native) of a Python process outside the root must print the
#    stack the process wrote of itself, and `pystrobe record` must write a
#    profile that pystrobe-diff reads.
# 2. The Debian forky root (scripts/install-deps.sh; newer glibc, CPython
#    3.14): the same binary copied in, against the root's own python3.14,
#    started in the same root.
# Needs root (unshare, mount, chroot). Exits 0 on success, 1 on a mismatch.
set -euo pipefail
static=$(realpath "${1:?usage: static_root_test.sh STATIC_BUILD_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
target_py=$here/stack_target.py
forky=${PYSTROBE_FORKY_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/pystrobe/forky-root}

name=static_root_test
work=$(mktemp -d)
# shellcheck source=tests/package/lib.sh
. "$here/lib.sh"
trap 'stop_targets; rm -rf "$work"' EXIT
for b in pystrobe pystrobe-diff; do
  [ -x "$static/$b" ] || fail "$static/$b is missing"
  file "$static/$b" | grep -q 'statically linked' || fail "file: $b is not statically linked"
  if ldd "$static/$b" >/dev/null 2>&1; then fail "ldd lists libraries of $b"; fi
done

# in_root ROOT CMD...: CMD chrooted in ROOT with ROOT/proc mounted in a
# private mount namespace (gone when the command ends).
in_root() {
  local root=$1
  shift
  unshare -m sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
    sh "$root" "$root" "$@"
}

# --- 1. the empty root ---
root=$work/root
mkdir -p "$root/proc" "$root/out"
cp "$static/pystrobe" "$static/pystrobe-diff" "$root/"
[ "$(find "$root" -mindepth 1 | wc -l)" -eq 4 ] || fail "root is not empty"
start_target "$work/truth" python3 "$target_py" "$work/truth"
in_root "$root" /pystrobe dump --pid "$target" >"$work/dump" 2>"$work/err" ||
  fail "dump in the empty root exited $?: $(cat "$work/err")"
expect_stack "$work/truth" "$work/dump" "empty root"
in_root "$root" /pystrobe dump --pid "$target" --native >"$work/native" 2>"$work/err" ||
  fail "dump --native in the empty root exited $?: $(cat "$work/err")"
expect_stack "$work/truth" "$work/native" "empty root, --native"
# time.sleep ends in the C library's clock_nanosleep (glibc) or nanosleep.
grep -E '^    .*nanosleep .*\[native\]$' "$work/native" >/dev/null ||
  fail "empty root: no native sleep frame in: $(cat "$work/native")"
in_root "$root" /pystrobe record --pid "$target" --idle -d 1 -r 100 -o /out/p.pb.gz \
  >/dev/null 2>"$work/err" || fail "record in the empty root exited $?: $(cat "$work/err")"
in_root "$root" /pystrobe-diff show /out/p.pb.gz --top 100 >"$work/show" 2>"$work/err" ||
  fail "pystrobe-diff show in the empty root exited $?: $(cat "$work/err")"
grep -q 'inner' "$work/show" || fail "the recorded profile has no inner(): $(cat "$work/show")"
echo "static_root_test: empty root: dump, dump --native, record and show agree with the target ($(python3 --version))"

# --- 2. the forky root, against its own python3.14 ---
if [ ! -x "$forky/usr/bin/python3.14" ]; then
  fail "no forky root at $forky (scripts/install-deps.sh)"
fi
dir=tmp/pystrobe-static-test.$$
mkdir -p "$forky/$dir"
cp "$static/pystrobe" "$target_py" "$forky/$dir/"
trap 'stop_targets; rm -rf "$work" "$forky/$dir"' EXIT
in_root "$forky" /usr/bin/python3.14 "/$dir/stack_target.py" "/$dir/truth" &
pids+=("$!")
for _ in $(seq 100); do [ -f "$forky/$dir/truth" ] && break; sleep 0.1; done
[ -f "$forky/$dir/truth" ] || fail "python3.14 in the forky root did not report"
fpid=$(pgrep -f "^/usr/bin/python3.14 /$dir/stack_target.py" | head -n 1)
[ -n "$fpid" ] || fail "no python3.14 process found"
in_root "$forky" "/$dir/pystrobe" dump --pid "$fpid" >"$work/fdump" 2>"$work/err" ||
  fail "dump in the forky root exited $?: $(cat "$work/err")"
expect_stack "$forky/$dir/truth" "$work/fdump" "forky root, python3.14"
grep -q '^Python 3.14' "$work/fdump" || fail "forky root: not 3.14: $(head -n 2 "$work/fdump")"
kill "$fpid"
echo "static_root_test: forky root: dump of its python3.14 agrees with the target"
echo "static_root_test: PASS"
