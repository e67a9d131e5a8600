#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every
# test: unit and integration tests (against every CPython found under
# ~/.pyenv/versions and /usr/bin/python3.*), then the unit tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer. CI runs exactly this.
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
echo "test.sh: interpreters found: ${pythons[*]:-none}"

echo "test.sh: build (RelWithDebInfo, -Werror)"
scripts/build.sh build
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600

echo "test.sh: unit tests under ASan+UBSan"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DPYSTROBE_SANITIZE=address,undefined
ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit --timeout 900

echo "test.sh: all tests passed"
