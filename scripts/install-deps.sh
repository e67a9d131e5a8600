#!/usr/bin/env bash
# Installs everything pystrobe's build and tests need, from Debian's packages.
# Idempotent: packages already present are not touched, and nothing runs
# apt-get when everything is there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format clang-tidy libclang-rt-14-dev
  libunwind-dev libdw-dev libelf-dev
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  golang-go python3 python3.11-dbg
  procps util-linux libxml2-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# Debian's libunwind-dev (with libunwind-ptrace) conflicts with LLVM's
# libunwind-14-dev; apt removes the latter, which nothing here needs.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
