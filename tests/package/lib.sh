# Shared by the package tests (sourced): the stack target and its truth.
# The caller sets $name (for messages) and $work (a temp dir it removes).

pids=()
fail() { echo "$name: FAIL: $*" >&2; exit 1; }
stop_targets() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }

# start_target TRUTH PYTHON...: tests/package/stack_target.py in the
# background; $target is its PID once it has written TRUTH (its own stack).
start_target() {
  local truth=$1
  shift
  "$@" &
  target=$!
  pids+=("$target")
  for _ in $(seq 100); do [ -f "$truth" ] && return; sleep 0.1; done
  fail "the target did not report its stack ($*)"
}

# python_frames DUMP_OUTPUT: "function file:line" of each Python frame of a
# `pystrobe dump`, the format stack_target.py writes.
python_frames() {
  grep -E '^    ' "$1" | grep -v '\[native\]$' |
    sed -E 's/^    (.*) \((.*)\)$/\1 \2/'
}

# expect_stack TRUTH DUMP_OUTPUT WHAT: the dump shows the target's own stack.
expect_stack() {
  python_frames "$2" >"$2.frames"
  diff -u "$1" "$2.frames" >&2 || fail "$3: the dump differs from the target's own stack"
}
