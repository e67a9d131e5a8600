#!/usr/bin/env bash
# scripts/package.sh end to end (issue 18, item 2), and `cmake --install`.
#
#   tests/package/package_test.sh STATIC_BUILD_DIR [BUILD_DIR]
#
# Runs scripts/package.sh into a temp dir (STATIC_BUILD_DIR is configured
# and built there when missing) and checks each artefact the way a user
# would use it, against a Python process that reports its own stack:
#   - the tarball: its listing, and the extracted pystrobe dumps the target;
#   - the .deb: `dpkg-deb -c` lists ./usr/bin/pystrobe{,-diff}, `dpkg-deb -f`
#     has no Depends, and `dpkg -x` into a scratch root gives a pystrobe
#     that dumps the target;
#   - the wheel: RECORD's sha256 of every file, then `python3 -m venv` +
#     `pip install --no-index` and the venv's pystrobe, found on PATH,
#     dumps the target; pystrobe-diff is on PATH too.
# With BUILD_DIR: `cmake --install BUILD_DIR --prefix P` installs both.
set -euo pipefail
static=$(realpath -m "${1:?usage: package_test.sh STATIC_BUILD_DIR [BUILD_DIR]}")
build=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
name=package_test
work=$(mktemp -d)
# shellcheck source=tests/package/lib.sh
. "$here/lib.sh"
trap 'stop_targets; rm -rf "$work"' EXIT

start=$(date +%s)
STATIC_BUILD_DIR=$static "$source_dir/scripts/package.sh" "$work/dist" >"$work/package.log" 2>&1 ||
  fail "scripts/package.sh exited $?: $(tail -n 5 "$work/package.log")"
echo "$name: scripts/package.sh took $(($(date +%s) - start)) s"
dist=$work/dist
version=$("$static/pystrobe" --version | awk '{print $2}')
start_target "$work/truth" python3 "$here/stack_target.py" "$work/truth"

# --- tarball ---
tarball=$dist/pystrobe-$version-linux-x86_64.tar.gz
[ -f "$tarball" ] || fail "no $tarball"
tar -tzf "$tarball" | sort >"$work/tar.list"
for f in pystrobe pystrobe-diff README.md THIRD_PARTY_LICENSES; do
  grep -qx "pystrobe-$version-linux-x86_64/$f" "$work/tar.list" || fail "the tarball lacks $f"
done
mkdir "$work/tar" && tar -xzf "$tarball" -C "$work/tar"
tbin=$work/tar/pystrobe-$version-linux-x86_64
file "$tbin/pystrobe" | grep -q 'statically linked' || fail "tarball: pystrobe is not static"
"$tbin/pystrobe" dump --pid "$target" >"$work/tar.dump" || fail "tarball: dump exited $?"
expect_stack "$work/truth" "$work/tar.dump" "tarball"
grep -q 'GNU C Library' "$tbin/THIRD_PARTY_LICENSES" || fail "tarball: glibc's licence missing"

# --- .deb ---
deb=$dist/pystrobe_${version}_amd64.deb
[ -f "$deb" ] || fail "no $deb"
dpkg-deb -c "$deb" >"$work/deb.list"
for f in ./usr/bin/pystrobe ./usr/bin/pystrobe-diff ./usr/share/doc/pystrobe/README.md; do
  awk '{print $6}' "$work/deb.list" | grep -qx "$f" || fail ".deb lacks $f: $(cat "$work/deb.list")"
done
grep -E '^-rwxr-xr-x .* \./usr/bin/pystrobe$' "$work/deb.list" >/dev/null ||
  fail ".deb: /usr/bin/pystrobe is not executable"
if dpkg-deb -f "$deb" Depends | grep -q .; then fail ".deb has dependencies"; fi
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail ".deb is not amd64"
dpkg -x "$deb" "$work/deb"
"$work/deb/usr/bin/pystrobe" dump --pid "$target" >"$work/deb.dump" || fail ".deb: dump exited $?"
expect_stack "$work/truth" "$work/deb.dump" ".deb"

# --- wheel ---
wheels=("$dist"/*.whl)
[ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || fail "not one wheel in $dist"
python3 - "${wheels[0]}" <<'PY' || fail "wheel: bad RECORD"
import base64, hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = set(z.namelist())
record = [n for n in names if n.endswith(".dist-info/RECORD")]
assert len(record) == 1, record
listed = set()
for line in z.read(record[0]).decode().splitlines():
    path, digest, size = line.rsplit(",", 2)
    listed.add(path)
    if path == record[0]:
        continue
    data = z.read(path)
    want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert digest == "sha256=" + want and int(size) == len(data), path
assert listed == names, names ^ listed
for s in ("pystrobe", "pystrobe-diff"):
    assert any(n.endswith(".data/scripts/" + s) for n in names), s
PY
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-index --disable-pip-version-check "${wheels[0]}" \
  >"$work/pip.log" 2>&1 || fail "pip install exited $?: $(cat "$work/pip.log")"
wheel_pystrobe=$(PATH=$work/venv/bin:/usr/bin:/bin command -v pystrobe)
[ "$wheel_pystrobe" = "$work/venv/bin/pystrobe" ] || fail "wheel: pystrobe on PATH is $wheel_pystrobe"
PATH=$work/venv/bin:/usr/bin:/bin pystrobe dump --pid "$target" >"$work/wheel.dump" ||
  fail "wheel: dump exited $?"
expect_stack "$work/truth" "$work/wheel.dump" "wheel"
PATH=$work/venv/bin:/usr/bin:/bin pystrobe-diff --version | grep -qx "pystrobe-diff $version" ||
  fail "wheel: pystrobe-diff is not on PATH"

# --- cmake --install ---
if [ -n "$build" ]; then
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
  for b in pystrobe pystrobe-diff; do
    [ -x "$work/prefix/bin/$b" ] || fail "cmake --install did not install bin/$b"
  done
  "$work/prefix/bin/pystrobe" dump --pid "$target" >"$work/install.dump"
  expect_stack "$work/truth" "$work/install.dump" "cmake --install"
fi
echo "$name: PASS (tarball, .deb, wheel${build:+, cmake --install} each dumped the target's own stack)"
