#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, tests/fuzz/) into
# build-fuzz/ and runs each for a short, bounded time over its seed corpus
# (ctest -L fuzz, one fuzzer at a time): any crash, leak, sanitizer report,
# timeout or out-of-memory fails. scripts/test.sh calls this.
#
#   scripts/fuzz.sh [--build-only] [BUILD_DIR]   # default build-fuzz
#   PYSTROBE_FUZZ_SECONDS=60 scripts/fuzz.sh     # longer runs (default 20 s)
#
# --build-only stops before the runs (e.g. to build while another fuzzer
# has the machine's cores).
#
# The unit and integration tests are not built here (-DPYSTROBE_TESTS=OFF):
# scripts/test.sh builds those with gcc.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build-only ]; then
  build_only=1
  shift
fi
build_dir=${1:-build-fuzz}
seconds=${PYSTROBE_FUZZ_SECONDS:-20}
for tool in clang clang++; do
  command -v "$tool" >/dev/null || {
    echo "fuzz.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYSTROBE_WERROR=ON \
    -DPYSTROBE_TESTS=OFF -DPYSTROBE_FUZZ=ON -DPYSTROBE_FUZZ_SECONDS="$seconds"
else
  cmake -S . -B "$build_dir" -DPYSTROBE_FUZZ_SECONDS="$seconds"
fi
cmake --build "$build_dir" -j"$(nproc)" --target pystrobe_fuzzers
[ "$build_only" = 1 ] && exit 0
ctest --test-dir "$build_dir" -L fuzz --output-on-failure
