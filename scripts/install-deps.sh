#!/usr/bin/env bash
# Installs everything pystrobe's build and tests need, from Debian's packages,
# and sets up the interpreters the integration tests read besides the
# machine's own (cached under ~/.cache/pystrobe, built once):
#   - a Debian forky root (debootstrap, minbase) with Debian's CPython 3.13,
#     3.14 and 3.15, their debug builds and headers: $PYSTROBE_FORKY_ROOT,
#     default ~/.cache/pystrobe/forky-root (about 1 GB, a minute or two),
#     and forky's python3-aiohttp in it;
#     plus python3.14-pie, a PIE executable on its libpython3.14.so;
#   - a free-threaded CPython 3.13t built from Debian trixie's python3.13
#     source package: $PYSTROBE_PY313T, default ~/.cache/pystrobe/cpython-3.13t
#     (about 7 minutes on 2 cores).
# Idempotent: packages already present are not touched, nothing runs apt-get
# when everything is there, and a finished interpreter set-up (marked by a
# stamp file written last) is never redone. Everything comes from Debian's
# archive through apt-get and debootstrap; nothing from PyPI.
#
#   scripts/install-deps.sh                   # packages and interpreters
#   PYSTROBE_NO_INTERPRETERS=1 scripts/install-deps.sh   # packages only
#   scripts/install-deps.sh --for demo        # what scripts/demo.sh needs:
#       the build's packages and the demo's Python (the machine's python3,
#       standard library only); no test interpreters, no forky root, no
#       3.13t, no clang, Go or servers (about 1 minute on a fresh Debian 12
#       instead of about 10)
set -euo pipefail

mode=all
case "${1:-}" in
  "") ;;
  --for)
    case "${2:-}" in
      demo) mode=demo ;;
      *) echo "install-deps: --for takes demo, not '${2:-}'" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: scripts/install-deps.sh [--for demo]" >&2; exit 2 ;;
esac

# Configuring the build (tests included, as scripts/build.sh does) and
# running the demo: its service and load clients use only the standard
# library; pgrep (procps) lists the workers.
demo_packages=(
  build-essential cmake ninja-build pkg-config
  libdw-dev libelf-dev libabsl-dev libprotobuf-dev protobuf-compiler
  zlib1g-dev libgtest-dev libgmock-dev python3 procps libssl-dev
)

packages=(
  build-essential cmake ninja-build pkg-config git
  clang clang-format clang-tidy libclang-rt-14-dev
  libunwind-dev libdw-dev libelf-dev
  python3-numpy
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  # TLS for --push to an https backend (static archives too: docs/push.md).
  libssl-dev
  golang-go python3 python3.11-dbg
  procps util-linux libxml2-utils
  # Servers for the --subprocesses tests (issue 11); aiohttp for the
  # asyncio service test (issue 20) on Debian's python3.11.
  gunicorn python3-flask wrk python3-aiohttp
  # `pystrobe top` is tested in a tmux pane (send-keys, capture-pane).
  tmux
  # The forky root and the 3.13t build (ctypes needs libffi).
  debootstrap debian-archive-keyring dpkg-dev xz-utils libffi-dev
  # bench/cost_vs_peers.py builds Austin 3.7.0 from trixie's source package.
  autoconf automake strace
)

if [ "$mode" = demo ]; then packages=("${demo_packages[@]}"); fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: every package is installed"
else
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  # Debian's libunwind-dev (with libunwind-ptrace) conflicts with LLVM's
  # libunwind-14-dev; apt removes the latter, which nothing here needs.
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$mode" = demo ]; then
  echo "install-deps: --for demo: no test interpreters"
  exit 0
fi
# --- The OpenTelemetry Collector the --push tests run (issue 19) ---
# Built from the Go module proxy with the machine's Go 1.26 into
# ~/.cache/pystrobe/otelcol-<version>/ (about 3 minutes the first time);
# without that Go, the push tests skip and say why.
collector_script=$(cd "$(dirname "$0")/.." && pwd)/tests/push/build_collector.sh
if [ -x "${PYSTROBE_GO:-/usr/local/go/bin/go}" ]; then
  echo "install-deps: OpenTelemetry Collector at $("$collector_script")"
else
  echo "install-deps: no Go 1.26 at /usr/local/go/bin/go: the push tests will skip" >&2
fi

if [ "${PYSTROBE_NO_INTERPRETERS:-0}" = 1 ]; then
  echo "install-deps: PYSTROBE_NO_INTERPRETERS=1: no forky root, no 3.13t"
  exit 0
fi

cache=${XDG_CACHE_HOME:-$HOME/.cache}/pystrobe
forky_root=${PYSTROBE_FORKY_ROOT:-$cache/forky-root}
py313t=${PYSTROBE_PY313T:-$cache/cpython-3.13t}
mirror=${PYSTROBE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
stamp=.pystrobe-ready

# Unmounts whatever is mounted below $1 (debootstrap mounts proc and sys in
# its target; a failed run may leave them), deepest first, so that removing
# the folder never reaches into a live /proc or /sys.
unmount_below() {
  local dir
  dir=$(realpath -m "$1")
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r m; do "${sudo_cmd[@]}" umount -l "$m" || true; done
}

# --- Debian forky: CPython 3.13, 3.14 (+ d, -pie), 3.15 (+ d), headers ---
forky_packages=python3.13,python3.14,python3.14-dbg,python3.14-dev,python3.15,python3.15-dbg,python3.15-dev
if [ -f "$forky_root/$stamp" ]; then
  echo "install-deps: forky root ready at $forky_root"
else
  echo "install-deps: debootstrap forky into $forky_root (about a minute and 1 GB)"
  # Debian 12's debootstrap has no forky script; sid's builds forky.
  script=/usr/share/debootstrap/scripts/sid
  tmp=$forky_root.partial
  unmount_below "$tmp"
  "${sudo_cmd[@]}" rm -rf "$tmp"
  mkdir -p "$(dirname "$forky_root")"
  start=$(date +%s)
  if ! "${sudo_cmd[@]}" nice debootstrap --variant=minbase \
      --include="$forky_packages" forky "$tmp" "$mirror" "$script" \
      >"$tmp.log" 2>&1; then
    unmount_below "$tmp"
    echo "install-deps: debootstrap failed; last lines of $tmp.log:" >&2
    tail -n 20 "$tmp.log" >&2
    exit 1
  fi
  unmount_below "$tmp"
  unmount_below "$forky_root"
  "${sudo_cmd[@]}" rm -rf "$forky_root"
  mv "$tmp" "$forky_root"
  rm -f "$tmp.log"
  date -u +%FT%TZ >"$forky_root/$stamp"
  echo "install-deps: forky root ready after $(($(date +%s) - start)) s"
fi

# Packages the tests use inside the forky root, from its own archive:
# aiohttp for record_async_service_test (issue 20), for forky's 3.14/3.15;
# 3.13's headers and debug information, for the layout table's 3.13.15 rows
# (tools/layouts/generate) and the native tests' extension module.
forky_extra=(python3-aiohttp python3.13-dev python3.13-dbg)
forky_missing=()
for p in "${forky_extra[@]}"; do
  if ! "${sudo_cmd[@]}" chroot "$forky_root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
      grep -q "install ok installed"; then
    forky_missing+=("$p")
  fi
done
if [ ${#forky_missing[@]} -eq 0 ]; then
  echo "install-deps: forky root has ${forky_extra[*]}"
else
  echo "install-deps: installing ${forky_missing[*]} into the forky root"
  # The root's Release files may have expired since debootstrap (a
  # moving suite, an old mirror snapshot): then install from the lists
  # the root has.
  "${sudo_cmd[@]}" chroot "$forky_root" apt-get \
    -o Acquire::Check-Valid-Until=false update -qq ||
    echo "install-deps: apt-get update in the forky root failed; using its lists" >&2
  "${sudo_cmd[@]}" chroot "$forky_root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${forky_missing[@]}"
fi

# Debian's python3.14 is linked without PIE, libpython inside: build the
# PIE variant (a PIE executable on the root's libpython3.14.so) the tests
# read too. Compiled here, against the root's headers and library.
pie=$forky_root/usr/local/bin/python3.14-pie
pie_src=$(cd "$(dirname "$0")/.." && pwd)/tests/workloads/python_pie.c
if [ ! -x "$pie" ] || [ "$pie_src" -nt "$pie" ]; then
  echo "install-deps: building $pie"
  mkdir -p "$(dirname "$pie")"
  # --allow-shlib-undefined: libpython needs the root's newer glibc, which
  # the program runs with; the link only has the machine's.
  cc -O2 -fPIE -pie -o "$pie" "$pie_src" \
    -I "$forky_root/usr/include/python3.14" -idirafter "$forky_root/usr/include" \
    -L "$forky_root/usr/lib/x86_64-linux-gnu" -lpython3.14 \
    -Wl,--allow-shlib-undefined
fi

# --- Free-threaded 3.13t from Debian trixie's python3.13 source package ---
if [ -f "$py313t/$stamp" ]; then
  echo "install-deps: free-threaded 3.13t ready at $py313t"
else
  echo "install-deps: building free-threaded CPython 3.13t into $py313t (about 7 minutes)"
  start=$(date +%s)
  # A private apt state with one deb-src line for trixie: the machine's own
  # sources and package lists stay as they are.
  apt_dir=$cache/apt-trixie-src
  mkdir -p "$apt_dir/etc" "$apt_dir/lists/partial" "$apt_dir/cache" "$apt_dir/src"
  cat >"$apt_dir/etc/trixie-src.sources" <<SOURCES
Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  apt_opts=(-o Dir::Etc::SourceList=/dev/null
            -o Dir::Etc::SourceParts="$apt_dir/etc"
            -o Dir::State::Lists="$apt_dir/lists"
            -o Dir::Cache="$apt_dir/cache"
            -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update -qq
  (cd "$apt_dir/src" && apt-get "${apt_opts[@]}" source --download-only -qq python3.13)
  orig=$(ls "$apt_dir"/src/python3.13_3.13.*.orig.tar.xz | sort -V | tail -n 1)
  build=$apt_dir/build
  rm -rf "$build"
  mkdir -p "$build"
  # The upstream tarball as Debian ships it (CPython 3.13.5 in trixie),
  # without Debian's packaging patches: a plain --disable-gil build.
  tar -xf "$orig" -C "$build" --strip-components=1
  rm -rf "$py313t"
  (cd "$build" &&
    nice ./configure --disable-gil --enable-shared --with-ensurepip=no \
      --prefix="$py313t" \
      LDFLAGS="-Wl,-rpath,$py313t/lib" >"$build/pystrobe-build.log" 2>&1 &&
    nice make -j"$(nproc)" >>"$build/pystrobe-build.log" 2>&1 &&
    make install >>"$build/pystrobe-build.log" 2>&1) || {
    echo "install-deps: the 3.13t build failed; last lines of $build/pystrobe-build.log:" >&2
    tail -n 20 "$build/pystrobe-build.log" >&2
    exit 1
  }
  "$py313t/bin/python3.13t" -c 'import sys, ctypes; assert not sys._is_gil_enabled()'
  rm -rf "$build"
  date -u +%FT%TZ >"$py313t/$stamp"
  echo "install-deps: 3.13t ready after $(($(date +%s) - start)) s"
fi
