#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test: unit and integration tests (against every CPython found under
# ~/.pyenv/versions and /usr/bin/python3.*, Debian forky's 3.13-3.15 chrooted
# and the free-threaded 3.13t, both set up by install-deps.sh), then the unit
# tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer, then a short run of each
# fuzzer (scripts/fuzz.sh). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)

# The interpreters the integration tests will use, so the log shows them.
pythons=()
for p in "$HOME"/.pyenv/versions/*/bin/python[23].[0-9]* /usr/bin/python[23].[0-9]*; do
  case "$p" in *-config|*-gdb.py|*m) continue ;; esac
  [ -x "$p" ] && file -L "$p" 2>/dev/null | grep -q ELF && pythons+=("$p")
done
# Set up by install-deps.sh: Debian forky's 3.13-3.15 (run chrooted) and the
# free-threaded 3.13t.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pystrobe
forky_root=${PYSTROBE_FORKY_ROOT:-$cache/forky-root}
py313t=${PYSTROBE_PY313T:-$cache/cpython-3.13t}
if [ -f "$forky_root/.pystrobe-ready" ]; then
  for p in usr/bin/python3.13 usr/bin/python3.14 usr/bin/python3.14d \
           usr/local/bin/python3.14-pie usr/bin/python3.15 usr/bin/python3.15d; do
    [ -x "$forky_root/$p" ] && pythons+=("chroot:$forky_root:/$p")
  done
else
  echo "test.sh: no forky root at $forky_root: 3.14/3.15 tests will be skipped"
fi
if [ -f "$py313t/.pystrobe-ready" ]; then
  pythons+=("$py313t/bin/python3.13t")
else
  echo "test.sh: no 3.13t at $py313t: free-threaded tests will be skipped"
fi
echo "test.sh: interpreters found: ${pythons[*]:-none}"

# build/ keeps the build type it was configured with (RelWithDebInfo by
# default; Release when scripts/demo.sh made it first).
echo "test.sh: build (-Werror)"
scripts/build.sh build
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' build/CMakeCache.txt)
echo "test.sh: built build/ as ${type:-RelWithDebInfo (the default)}"
# A red stage does not hide the others: every stage runs, the script fails
# at the end naming the ones that failed.
failed=()
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600 ||
  failed+=("unit and integration tests")

echo "test.sh: unit tests under ASan+UBSan"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DPYSTROBE_SANITIZE=address,undefined
ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 900 ||
  failed+=("unit tests under ASan+UBSan")

# Each libFuzzer target (tests/fuzz: pprof files, /proc/PID/maps, ELF,
# baseline metadata, the frame walker, line tables) for
# PYSTROBE_FUZZ_SECONDS (default 20) over its seed corpus, built with clang
# under ASan+UBSan in build-fuzz/: 2 minutes of runs, after a clang build of
# the libraries (about 10 minutes on 2 loaded cores, once; then incremental).
echo "test.sh: fuzz targets (clang, ASan+UBSan), a short run of each"
scripts/fuzz.sh build-fuzz || failed+=("fuzz targets")

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'test.sh: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "test.sh: all tests passed"
