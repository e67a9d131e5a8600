#!/usr/bin/env bash
# Builds the benchmarks with optimizations into build-bench/ and runs them
# all; results go to bench-results/ (raw JSON and text). bench/README.md says
# how to read them and holds the figures of the last documented run.
#
# Usage: scripts/bench.sh [sample] [rate] [slowdown] [syscalls]   (default: all)
# Environment:
#   PYSTROBE_BENCH_PYTHONS  colon-separated interpreters (default: the 3.8,
#                           3.11, 3.12, 3.13 under ~/.pyenv/versions, plus
#                           /usr/bin/python3.11 for the micro-benchmarks)
#   BENCH_REPS              repetitions of each measurement (default 5)
#   BUILD_DIR, OUT_DIR      default build-bench, bench-results
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-bench}
out_dir=${OUT_DIR:-bench-results}
reps=${BENCH_REPS:-5}
what=("$@")
[ ${#what[@]} -eq 0 ] && what=(sample diff rate slowdown syscalls)

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPYSTROBE_WERROR=ON -DPYSTROBE_TESTS=OFF -DPYSTROBE_BENCH=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target pystrobe pystrobe_sample_bench pystrobe_diff_bench
mkdir -p "$out_dir"

{
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  echo "kernel: $(uname -r)"
  echo "load: $(cat /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out_dir/machine.txt"

record_args=()
for w in "${what[@]}"; do
  case "$w" in
    diff)
      "$build_dir/bench/pystrobe_diff_bench" \
        --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
        | tee "$out_dir/diff_bench.txt"
      ;;
    sample)
      "$build_dir/bench/pystrobe_sample_bench" \
        --benchmark_repetitions="$reps" --benchmark_min_time=0.3 \
        --benchmark_report_aggregates_only=true \
        --benchmark_out="$out_dir/sample.json" --benchmark_out_format=json \
        | tee "$out_dir/sample.txt"
      ;;
    rate | slowdown | syscalls) record_args+=("$w") ;;
    *) echo "unknown benchmark '$w'" >&2; exit 2 ;;
  esac
done
if [ ${#record_args[@]} -gt 0 ]; then
  pythons=()
  [ -n "${PYSTROBE_BENCH_PYTHONS:-}" ] && pythons=(--pythons "$PYSTROBE_BENCH_PYTHONS")
  python3 bench/record_bench.py --pystrobe "$build_dir/pystrobe" \
    --out "$out_dir" --reps "$reps" "${pythons[@]}" "${record_args[@]}" \
    | tee "$out_dir/record.txt"
fi
python3 bench/tables.py "$out_dir" | tee "$out_dir/tables.md"
