#!/usr/bin/env python3
"""Builds pystrobe's wheel with the standard library only.

Usage: make_wheel.py --version V --bin DIR --readme README.md
                     --licenses FILE --out DIR

A wheel is a zip (PEP 427): the static executables under
pystrobe-V.data/scripts/, which pip installs into the environment's bin/
(on PATH once it is activated), as py-spy's and austin-dist's wheels do;
and pystrobe-V.dist-info/ with WHEEL, METADATA, the licences and RECORD
(every file with its sha256, urlsafe base64 without padding, and size).

Tag: py3-none-manylinux_2_17_x86_64.musllinux_1_1_x86_64. The executables
are static, so they run on any x86-64 Linux (kernel 3.2+), whatever its C
library; the tag says exactly that in words pip understands: any Python 3
(py3, none: no extension module), any glibc-based Linux pip treats as
manylinux (glibc 2.17 and later: every distribution still supported) and
musl-based ones (Alpine). A plain linux_x86_64 tag would install here too,
but PyPI refuses it. Prints the wheel's path.
"""

import argparse
import base64
import hashlib
import os
import sys
import zipfile

TAG = "py3-none-manylinux_2_17_x86_64.musllinux_1_1_x86_64"
SUMMARY = "Out-of-process sampling profiler for CPython, and its regression gate"


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d" % (name, digest.rstrip(b"=").decode(), len(data))


def main():
    parser = argparse.ArgumentParser()
    for option in ("--version", "--bin", "--readme", "--licenses", "--out"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()

    dist = "pystrobe-%s" % args.version
    info = dist + ".dist-info"
    with open(args.readme, "rb") as f:
        readme = f.read().decode("utf-8")
    metadata = (
        "Metadata-Version: 2.1\n"
        "Name: pystrobe\n"
        "Version: %s\n"
        "Summary: %s\n"
        "Requires-Python: >=3\n"
        "Classifier: Operating System :: POSIX :: Linux\n"
        "Description-Content-Type: text/markdown\n"
        "\n%s" % (args.version, SUMMARY, readme)
    )
    wheel = (
        "Wheel-Version: 1.0\n"
        "Generator: pystrobe packaging/make_wheel.py\n"
        "Root-Is-Purelib: false\n"
    )
    for tag in TAG.split("-", 2)[2].split("."):
        wheel += "Tag: py3-none-%s\n" % tag

    files = []  # (name in the wheel, bytes, executable)
    for name in ("pystrobe", "pystrobe-diff"):
        path = os.path.join(args.bin, name)
        if not os.access(path, os.X_OK):
            sys.exit("make_wheel: %s is missing or not executable" % path)
        with open(path, "rb") as f:
            files.append(("%s.data/scripts/%s" % (dist, name), f.read(), True))
    with open(args.licenses, "rb") as f:
        files.append((info + "/THIRD_PARTY_LICENSES", f.read(), False))
    files.append((info + "/METADATA", metadata.encode("utf-8"), False))
    files.append((info + "/WHEEL", wheel.encode("utf-8"), False))
    record = "".join(record_line(n, d) + "\n" for n, d, _ in files)
    record += info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode("utf-8"), False))

    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "%s-%s.whl" % (dist, TAG))
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, executable in files:
            entry = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = (0o100755 if executable else 0o100644) << 16
            z.writestr(entry, data)
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
