#!/usr/bin/env bash
# pystrobe end to end on a fresh machine: build, start the bundled calendar
# service, put it under load, and dump the Python stacks of its threads while
# it serves (attached by PID, without restarting it).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh >/dev/null
scripts/build.sh build >/dev/null
python=${PYTHON:-$(command -v python3)}

work=$(mktemp -d)
service_pid=""
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$python" tests/workloads/service/calendar_service.py "$work/port" &
service_pid=$!
for _ in $(seq 100); do [ -f "$work/port" ] && break; sleep 0.1; done
echo "demo: calendar service (PID $service_pid, $("$python" --version 2>&1)) on port $(cat "$work/port")"

"$python" tests/workloads/service/load.py "$work/port" 30 &
load_pid=$!
sleep 1

echo "demo: build/pystrobe dump --pid $service_pid"
build/pystrobe dump --pid "$service_pid"
echo
echo "demo: the same as JSON (build/pystrobe dump --pid $service_pid --json), first 400 bytes:"
build/pystrobe dump --pid "$service_pid" --json | head -c 400
echo
echo "demo: done; the service kept running throughout (state: $(awk '{print $3}' /proc/$service_pid/stat))"
