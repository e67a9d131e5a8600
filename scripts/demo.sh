#!/usr/bin/env bash
# pystrobe end to end on a fresh machine, the whole story:
#
#   1. build pystrobe and pystrobe-diff;
#   2. start the bundled calendar service (version 1: its fun-notification
#      endpoint answers Fizz/Buzz/FizzBuzz for the day of the month, and a
#      small Fibonacci number on days divisible by 7) and put it under load;
#      it is a pre-forking server, as gunicorn's sync workers: a master
#      that binds the socket and supervises, and worker processes that
#      accept on it and serve;
#   3. record it for a few seconds by the master's PID with --subprocesses,
#      without restarting it: every worker in one pprof profile (with the
#      samples of each process in the summary) and an interactive flame
#      graph with a root frame per process (--processes);
#   4. save that profile as the baseline "calendar" (pystrobe-diff save);
#   5. deploy version 2 (days divisible by 7 answer the day's own Fibonacci
#      number, computed by the same naive recursion), record it again under
#      the same load;
#   6. pystrobe-diff compare: the table, the Markdown report for a pull
#      request, the differential flame graph; the gate exits 1 and names
#      fibonacci (it existed in v1: a regression, not merely a new
#      function) and fun_notification, whose time grew in fibonacci;
#   7. the CI recipe in one command: `pystrobe record --repeat 5 --compare
#      BASE -- CMD` on a fixed-work script, A/A (OK) and a slower version
#      (FAIL).
#
# Every process the demo starts is stopped when it ends (or is interrupted).
# The profiles stay in the output folder it prints.
#
# Usage: scripts/demo.sh [OUTPUT_DIR]    (default: a new /tmp/pystrobe-demo.*)
# Environment: PYTHON (default /usr/bin/python3, else python3 on PATH),
#              SECONDS_PER_RECORDING (default 8), CLIENTS (default 6),
#              WORKERS (the service's worker processes, default 3),
#              PAUSE (each client's pause after an answer, default 0.02 s),
#              RATE (samples per second, default 1000), BUILD_DIR (default
#              build).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1mdemo: %s\033[0m\n' "$*"; }

record_seconds=${SECONDS_PER_RECORDING:-8}
clients=${CLIENTS:-6}
workers=${WORKERS:-3}
pause=${PAUSE:-0.02}
build=${BUILD_DIR:-build}
rate=${RATE:-1000}

say "installing what is missing and building pystrobe, pystrobe-diff"
scripts/install-deps.sh --for demo >/dev/null
# The demo's Python is chosen after install-deps: a fresh machine may have
# none until it runs (a minimal Debian 12 has no python3).
if [ -n "${PYTHON:-}" ]; then
  python=$PYTHON
elif [ -x /usr/bin/python3 ]; then
  python=/usr/bin/python3
else
  python=$(command -v python3)
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  # Without debug information: the demo's build takes about a third less
  # time (88 s instead of 128 s for pystrobe on 2 cores, bench/README.md);
  # scripts/test.sh reuses this folder as it is.
  cmake -S . -B "$build" "${generator[@]}" -DPYSTROBE_WERROR=ON \
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target pystrobe pystrobe-diff >/dev/null
pystrobe=$build/pystrobe
pystrobe_diff=$build/pystrobe-diff

out=${1:-$(mktemp -d /tmp/pystrobe-demo.XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d)
store=$out/baselines
pids=()
# The service's master stops its workers on SIGTERM (and they die with it
# if it is killed outright), so stopping what is in $pids stops them all;
# the master also stops if this script is killed outright (SIGKILL), when
# no trap runs (--exit-with-parent).
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

service_pid=""
load_pids=()
# start_service VERSION: the service in the background, $service_pid (its
# master) set. The port file appears once every worker is forked.
start_service() {
  rm -f "$work/port"
  "$python" tests/workloads/service/calendar_service.py "$work/port" "$1" \
    --workers "$workers" --exit-with-parent >>"$work/service.log" 2>&1 &
  service_pid=$!
  pids+=("$service_pid")
  for _ in $(seq 100); do [ -f "$work/port" ] && break; sleep 0.1; done
  [ -f "$work/port" ] || { echo "demo: the service did not start" >&2; exit 1; }
  echo "calendar service version $1: master PID $service_pid, workers" \
    "$(pgrep -d ' ' -P "$service_pid"), $("$python" --version 2>&1)," \
    "port $(cat "$work/port")"
}
stop_service() {
  for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${load_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  load_pids=()
  kill "$service_pid" 2>/dev/null || true
  wait "$service_pid" 2>/dev/null || true
}
# load SECONDS: $clients concurrent clients, each cycling through the days
# and pausing $pause s after each answer: a steady load that leaves the CPUs
# room, whatever the number of workers. (Clients that never pause would
# keep every CPU of a small machine busy and the workers would wait for
# one: record warns that such a recording's times include that wait.)
load() {
  for _ in $(seq "$clients"); do
    "$python" tests/workloads/service/load.py "$work/port" "$1" "$pause" \
      >>"$work/load.log" 2>&1 &
    pids+=("$!")
    load_pids+=("$!")
  done
}
# record NAME: a pprof profile and a flame graph of the master and all its
# workers, at once. A high rate, because a FizzBuzz answer takes
# microseconds of a request. Both run in the background so that an
# interrupt stops them at once (a trap waits for a foreground command).
record() {
  "$pystrobe" record --pid "$service_pid" --subprocesses \
    -d "$record_seconds" -r 200 -f flamegraph --processes \
    -o "$out/$1.svg" 2>/dev/null &
  local svg_pid=$!
  pids+=("$svg_pid")
  "$pystrobe" record --pid "$service_pid" --subprocesses \
    -d "$record_seconds" -r "$rate" -o "$out/$1.pb.gz" &
  local pb_pid=$!
  pids+=("$pb_pid")
  wait "$pb_pid"
  wait "$svg_pid"
}

say "version 1 under load: $workers workers, $clients clients"
start_service 1
load $((record_seconds + 3))
sleep 1
say "$pystrobe record --pid $service_pid --subprocesses -d $record_seconds -r $rate -o $out/v1.pb.gz"
record v1
stop_service
echo "(the samples of each process above: the master only supervises, so it"
echo " has none; the workers share the requests. v1.svg has a root frame per"
echo " process: --processes)"
echo
echo "Where the service spent its time (pystrobe-diff show):"
"$pystrobe_diff" show "$out/v1.pb.gz" --top 8
echo "... and the fun notification, FizzBuzz: a tiny share of each request:"
"$pystrobe_diff" show "$out/v1.pb.gz" --top 100000 | grep -E 'fizzbuzz|fun_notification' ||
  echo "  (too quick to be sampled at all this time: a few microseconds per request)"

say "$pystrobe_diff save calendar $out/v1.pb.gz --store $store"
"$pystrobe_diff" save calendar "$out/v1.pb.gz" --store "$store"
"$pystrobe_diff" list --store "$store"

say "deploying version 2 (days divisible by 7: naive recursive Fibonacci)"
start_service 2
load $((record_seconds + 3))
sleep 1
say "$pystrobe record --pid $service_pid --subprocesses -d $record_seconds -r $rate -o $out/v2.pb.gz"
record v2
stop_service

# fibonacci already ran in version 1, at a tiny share: version 2 makes it a
# regression (not merely a new function), and fun_notification's total time
# grew through it. An attached recording of a steady service is one
# recording: its time batches are the replicates when they look
# exchangeable (docs/statistics.md).
say "$pystrobe_diff compare calendar $out/v2.pb.gz --fail-on-regression --flamegraph $out/diff.svg"
status=0
"$pystrobe_diff" compare calendar "$out/v2.pb.gz" --store "$store" \
  --fail-on-regression --top 12 --flamegraph "$out/diff.svg" \
  >"$work/compare.txt" || status=$?
cat "$work/compare.txt"

say "the same as Markdown, for a pull-request comment (--format markdown):"
"$pystrobe_diff" compare calendar "$out/v2.pb.gz" --store "$store" \
  --format markdown --top 8 | tee "$out/report.md" || true

# The CI recipe: fixed work, runs as replicates, one command.
ci_script=tests/workloads/diff_gate.py
# At its defaults: a recording for the gate chooses its own rate (about
# 2,000 samples a run).
say "CI: $pystrobe record --repeat 5 --save ci -- $python $ci_script --rounds 40 (the main branch)"
"$pystrobe" record --repeat 5 -o "$out/ci-main.pb.gz" \
  --save ci --store "$store" -- "$python" "$ci_script" --rounds 40 2>/dev/null
say "CI: the same code again: $pystrobe record --repeat 5 --compare ci --fail-on-regression -- ..."
ci_aa=0
"$pystrobe" record --repeat 5 -o "$out/ci-aa.pb.gz" \
  --compare ci --store "$store" --fail-on-regression --top 5 \
  -- "$python" "$ci_script" --rounds 40 2>/dev/null || ci_aa=$?
say "CI: a pull request that makes beta 50% slower:"
ci_ab=0
"$pystrobe" record --repeat 5 -o "$out/ci-pr.pb.gz" \
  --compare ci --store "$store" --fail-on-regression --threshold 15 \
  --format markdown --top 5 \
  -- "$python" "$ci_script" --rounds 40 --scale beta=1.5 2>/dev/null \
  | tee "$work/ci.md" || ci_ab=$?
echo "demo: the A/A run exited $ci_aa (0: OK or INCONCLUSIVE), the pull request $ci_ab (1: FAIL)"

say "files in $out"
cat <<EOF
  v1.pb.gz, v2.pb.gz   pprof profiles:    go tool pprof -http=: $out/v2.pb.gz
                                          or drop them on https://www.speedscope.app
                                          one worker: go tool pprof -tagfocus=pid=PID
  v1.svg, v2.svg       flame graphs, a root frame per process (--processes):
                                          open in a browser (click to zoom, search)
  diff.svg             differential flame graph, widths from v2, red where
                       time grew, blue where it shrank: open in a browser
  report.md            the Markdown report
  baselines/           the baseline store (plain files a team can commit)
EOF

echo
if [ "$status" -eq 1 ] && grep -q '^FAIL: .*fibonacci' "$work/compare.txt"; then
  echo "demo: pystrobe-diff exited 1: the gate caught the regression, as a CI job would."
elif grep -q 'overloaded machine' "$work/compare.txt"; then
  echo "demo: the machine was too busy to judge (see the INCONCLUSIVE line): run the demo again when it is quieter" >&2
  exit 1
else
  echo "demo: pystrobe-diff exited $status without naming fibonacci: the regression was not caught" >&2
  exit 1
fi
if [ "$ci_aa" -ne 0 ] || [ "$ci_ab" -ne 1 ] || ! grep -q 'FAIL: .*beta' "$work/ci.md"; then
  echo "demo: the one-command CI gate did not behave (A/A exit $ci_aa, A/B exit $ci_ab)" >&2
  exit 1
fi
echo "demo: record --repeat 5 --compare: the same code passed, the slower one failed naming beta."
