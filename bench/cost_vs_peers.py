#!/usr/bin/python3
"""What a sample costs as a user pays it: pystrobe beside Austin and a floor.

Whole-process CPU time (user + system, getrusage of each child: attach,
symbol reading and profile writing included) per sample, measured side by
side in ONE run so that the machine's load and speed are the same for all:

  deep      a CPython 3.12 thread 100 frames deep, spinning. At the same
            time, for SECONDS: `pystrobe record --pid P --rate 1000`,
            Austin 3.7.0 (`austin -i 1000 -p P`, output counted through a
            pipe) and the floor (bench/cost_floor.c: one absolute-deadline
            wake-up at 1 kHz plus one process_vm_readv of exactly the ranges
            pystrobe read in its last sample, captured with strace just
            before). Targets (issue 11): pystrobe >= 10x below Austin, within
            1.5x of the floor. Also prints the floor with one procfs pread
            more per tick (stat, schedstat), for the breakdown.
  threads   a 200-thread service (bench/workloads/service.py: 50 frames deep,
            2 threads spinning, the rest blocked in Event.wait) and the same
            service with 1 thread, each recorded at 100 Hz with --idle (every
            thread a sample), at the same time: CPU per thread-sample of the
            200-thread one within 2x of the single-thread one.
  native    a CPython 3.12 thread in a 54-frame mixed stack (Python -> C ->
            Python ... 25 times, tests/workloads/native_burn.py deep 25,
            spinning in C), recorded at 100 Hz for SECONDS each, one after
            the other (one ptracer at a time): plain, --blocking, --native.
            pystrobe's CPU per sample, and the target's freeze per sample
            from the target's own CPU time (/proc/PID/stat, against a
            stretch with no profiler attached).
  gunicorn  8 gunicorn sync workers of a small Flask app under load, recorded
            with `pystrobe record --pid MASTER --subprocesses -r 100`: under
            3% of one core in total. Skipped (with a message) while pystrobe
            has no --subprocesses, or gunicorn/flask are missing.

Peers from the package index (bench/peers.py): py-spy 0.4.3 and Austin
4.0.0 (austin-dist), pip-installed into ~/.cache/pystrobe/peers-venv on
first use, attach to the same targets in the same run: deep at 1 kHz,
the 200-thread service at 100 Hz (py-spy --idle), gunicorn at 100 Hz
(py-spy --subprocesses, austin -C); py-spy --nonblocking, as pystrobe
does not stop the target. Austin 4's wheel needs glibc 2.38 and runs
through the forky root's glibc. --no-peers leaves them out.

Austin is built from Debian trixie's `austin` source package into
~/.cache/pystrobe/austin (a private apt state with one deb-src line; the
machine's sources are untouched), never committed.

usage: bench/cost_vs_peers.py [--pystrobe build/pystrobe] [--seconds 20]
           [--reps N] [--out FILE.json] [--no-peers] [deep] [threads] [native]
           [gunicorn]
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = os.path.join(HERE, "workloads")
CACHE = os.path.expanduser("~/.cache/pystrobe/austin")
PY312 = os.path.expanduser("~/.pyenv/versions/3.12.1/bin/python3.12")
AUSTIN_VERSION = "3.7.0"
SUMMARY = re.compile(
    r"(\d+) samples in ([\d.]+) s \((\d+) ticks, ([\d.]+) Hz\), (\d+) late, "
    r"(\d+) missed, (\d+) errors")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# --------------------------------------------------------------------------
# Austin from Debian's source package

def apt_options(apt_dir):
    return ["-o", "Dir::Etc::SourceList=/dev/null",
            "-o", "Dir::Etc::SourceParts=" + os.path.join(apt_dir, "etc"),
            "-o", "Dir::State::Lists=" + os.path.join(apt_dir, "lists"),
            "-o", "Dir::Cache=" + os.path.join(apt_dir, "cache"),
            "-o", "APT::Sandbox::User=root"]


def ensure_austin():
    """Returns the path of Austin 3.7.0, building it on first use."""
    binary = os.path.join(CACHE, "bin", "austin")
    if os.access(binary, os.X_OK):
        out = subprocess.run([binary, "--version"], capture_output=True,
                             text=True).stdout
        if AUSTIN_VERSION in out:
            return binary
    for tool in ("apt-get", "autoreconf", "make", "cc"):
        if shutil.which(tool) is None:
            raise SystemExit("cost_vs_peers: %s is needed to build Austin "
                             "(apt-get install autoconf automake build-essential)"
                             % tool)
    log("building Austin %s from Debian trixie's source package into %s"
        % (AUSTIN_VERSION, CACHE))
    apt_dir = os.path.join(CACHE, "apt")
    for d in ("etc", "lists/partial", "cache", "src"):
        os.makedirs(os.path.join(apt_dir, d), exist_ok=True)
    with open(os.path.join(apt_dir, "etc", "trixie-src.sources"), "w") as f:
        f.write("Types: deb-src\nURIs: http://deb.debian.org/debian\n"
                "Suites: trixie\nComponents: main\n"
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    opts = apt_options(apt_dir)
    subprocess.run(["apt-get"] + opts + ["update", "-qq"], check=True)
    src = os.path.join(apt_dir, "src")
    # --download-only: the tarballs are unpacked below. apt checks each
    # file against the signed Sources index; a mirror that lacks the .dsc
    # or the Debian tarball (seen here) still gives the upstream one.
    subprocess.run(["apt-get"] + opts + ["source", "--download-only", "-qq",
                                          "austin"], cwd=src)
    origs = glob.glob(os.path.join(src, "austin_%s.orig.tar.*"
                                   % AUSTIN_VERSION))
    if not origs:
        raise SystemExit("cost_vs_peers: apt-get source austin gave no "
                         "austin_%s.orig tarball" % AUSTIN_VERSION)
    build = os.path.join(CACHE, "build")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    subprocess.run(["tar", "-xf", origs[0], "-C", build,
                    "--strip-components=1"], check=True)
    debian = glob.glob(os.path.join(src, "austin_%s-*.debian.tar.*"
                                    % AUSTIN_VERSION))
    if debian:
        subprocess.run(["tar", "-xf", debian[0], "-C", build], check=True)
        series = os.path.join(build, "debian", "patches", "series")
        if os.path.exists(series):
            with open(series) as f:
                for name in f.read().split():
                    if name.startswith("#"):
                        continue
                    with open(os.path.join(build, "debian", "patches",
                                           name)) as p:
                        subprocess.run(["patch", "-p1", "-s"], stdin=p,
                                       cwd=build, check=True)
    else:
        log("cost_vs_peers: no Debian tarball on this mirror; building the "
            "upstream source of the package without Debian's patches")
    logfile = os.path.join(build, "pystrobe-build.log")
    with open(logfile, "w") as out:
        for cmd in (["autoreconf", "--install"], ["./configure"],
                    # Only `austin`: `austinp` needs binutils-dev and
                    # libunwind, and is not what is compared.
                    ["make", "-C", "src", "austin"]):
            r = subprocess.run(["nice"] + cmd, cwd=build, stdout=out,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise SystemExit("cost_vs_peers: Austin's build failed at %s;"
                                 " see %s" % (" ".join(cmd), logfile))
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    shutil.copy2(os.path.join(build, "src", "austin"), binary)
    return binary


def ensure_floor():
    binary = os.path.join(CACHE, "bin", "cost_floor")
    source = os.path.join(HERE, "cost_floor.c")
    if (not os.access(binary, os.X_OK) or
            os.path.getmtime(binary) < os.path.getmtime(source)):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        subprocess.run(["cc", "-O2", "-Wall", "-o", binary, source],
                       check=True)
    return binary


# --------------------------------------------------------------------------
# Running things side by side

class Child:
    """A child process whose rusage is collected when it ends."""

    def __init__(self, name, cmd, stdout=subprocess.PIPE, count_lines=False):
        self.name, self.cmd = name, cmd
        self.lines = 0
        self.meta = []
        self.proc = subprocess.Popen(cmd, stdout=stdout,
                                     stderr=subprocess.PIPE)
        self.out = b""
        self.err = b""
        self._readers = [threading.Thread(target=self._read_err)]
        if stdout is subprocess.PIPE:
            self._readers.append(threading.Thread(
                target=self._count if count_lines else self._read_out))
        for r in self._readers:
            r.start()

    def _read_err(self):
        self.err = self.proc.stderr.read()

    def _read_out(self):
        self.out = self.proc.stdout.read()

    def _count(self):
        # Austin's samples: one line per thread and sample; metadata lines
        # start with '#'. Counted here so that nothing is written to disk.
        pending = b""
        for chunk in iter(lambda: self.proc.stdout.read(1 << 16), b""):
            chunk = pending + chunk
            lines = chunk.split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b"#"):
                    self.meta.append(line.decode(errors="replace"))
                elif line.strip():
                    self.lines += 1

    def wait(self):
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        for r in self._readers:
            r.join()
        self.user_s, self.sys_s = ru.ru_utime, ru.ru_stime
        self.cpu_s = ru.ru_utime + ru.ru_stime
        return self


def wait_ready(path, proc, timeout=30):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError("the workload did not become ready")
        time.sleep(0.01)


def start_target(cmd, ready):
    if os.path.exists(ready):
        os.remove(ready)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    wait_ready(ready, proc)
    time.sleep(0.2)  # let it reach its steady state
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def pystrobe_cmd(args, pid, rate, seconds, out, extra=(), binary=None):
    return [binary or args.pystrobe, "record", "--pid", str(pid), "-r", str(rate),
            "-d", str(seconds), "-o", out, "--checkpoint", "0"] + list(extra)


def pystrobe_result(child):
    text = child.err.decode(errors="replace")
    m = SUMMARY.search(text)
    if child.proc.returncode != 0 or not m:
        raise RuntimeError("pystrobe failed (%s): %s"
                           % (child.proc.returncode, text[-800:]))
    keys = ("samples", "seconds", "ticks", "hz", "late", "missed", "errors")
    r = dict(zip(keys, (float(x) for x in m.groups())))
    r.update(cpu_s=child.cpu_s, user_s=child.user_s, sys_s=child.sys_s)
    return r


IOVEC = re.compile(r"iov_base=(0x[0-9a-f]+), iov_len=(\d+)")


def capture_ranges(args, pid, tmp):
    """The remote ranges of pystrobe's last steady-state process_vm_readv on
    `pid` at 1 kHz (strace of a short recording): what the floor reads."""
    trace = os.path.join(tmp, "vm.strace")
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=process_vm_readv",
                    "-e", "signal=none", "-s", "64", "-o", trace] +
                   pystrobe_cmd(args, pid, 1000, 0.5,
                                os.path.join(tmp, "capture.pb.gz")),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    with open(trace) as f:
        calls = [l for l in f if "process_vm_readv(" in l]
    # The last complete call. Local buffers print as strings, remote ones as
    # addresses: the addresses are the remote ranges.
    for line in reversed(calls):
        remote = IOVEC.findall(line)
        if remote and ") = " in line:
            return [(int(a, 16), int(n)) for a, n in remote]
    raise RuntimeError("no process_vm_readv of pystrobe seen by strace")


def per(cpu_s, n):
    return 1e6 * cpu_s / n if n else float("nan")


# --------------------------------------------------------------------------
# deep: 100 frames at 1 kHz, pystrobe vs Austin vs the floor

def bench_deep(args, results):
    austin = ensure_austin()
    floor = ensure_floor()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ready = os.path.join(tmp, "ready")
        for rep in range(args.reps):
            target = start_target(
                [PY312, os.path.join(WORKLOADS, "deep.py"), "100", "spin",
                 ready], ready)
            try:
                ranges = capture_ranges(args, target.pid, tmp)
                range_args = ["%x:%d" % r for r in ranges]
                stat = "/proc/%d/task/%d/stat" % (target.pid, target.pid)
                schedstat = stat.replace("/stat", "/schedstat")
                n = args.seconds
                load_before = loadavg()
                children = [
                    Child("floor", [floor, str(target.pid), str(n), "1000"] +
                          range_args),
                    Child("floor+stat", [floor, str(target.pid), str(n),
                                         "1000", "--pread", stat] + range_args),
                    Child("floor+schedstat",
                          [floor, str(target.pid), str(n), "1000", "--pread",
                           schedstat] + range_args),
                    Child("wake-up only", [floor, str(target.pid), str(n),
                                           "1000"]),
                    Child("pystrobe", pystrobe_cmd(
                        args, target.pid, 1000, n,
                        os.path.join(tmp, "deep.pb.gz"))),
                    Child("austin", [austin, "-i", "1000", "-p",
                                     str(target.pid), "-x", str(n)],
                          count_lines=True),
                ] + [Child("pystrobe " + name, pystrobe_cmd(
                    args, target.pid, 1000, n,
                    os.path.join(tmp, "deep-%d.pb.gz" % i), binary=binary))
                     for i, (name, binary) in enumerate(args.also_builds)]
                raw = os.path.join(tmp, "deep.pyspy.txt")
                children += [c for c in (
                    peers.start(Child, "py-spy", args.pyspy, peers.pyspy_record(
                        args.pyspy or [], target.pid, 1000, n, raw), n, raw),
                    peers.start(Child, "austin 4", args.austin4,
                                peers.austin4_record(args.austin4 or [],
                                                     target.pid, 1000, n), n))
                    if c is not None]
                for c in children:
                    c.wait()
            finally:
                stop(target)
            row = {"load_before": load_before, "load_after": loadavg(),
                   "seconds": n, "ranges": len(ranges),
                   "bytes": sum(r[1] for r in ranges),
                   "pages": len({(a + i) >> 12 for a, l in ranges
                                 for i in range(0, l, 64)} |
                                {(a + l - 1) >> 12 for a, l in ranges})}
            for c in children:
                if c.name.startswith("pystrobe"):
                    p = pystrobe_result(c)
                    row[c.name] = dict(p, per_sample_us=per(c.cpu_s,
                                                                p["samples"]),
                                           user_per_sample_us=per(
                                               c.user_s, p["samples"]),
                                           sys_per_sample_us=per(
                                               c.sys_s, p["samples"]))
                elif c.name in ("py-spy", "austin 4"):
                    row[c.name] = peers.result(c, per)
                elif c.name == "austin":
                    row["austin"] = dict(austin_result(c), meta=[
                        m for m in c.meta if "saturation" in m])
                    if c.lines == 0:
                        raise RuntimeError("austin took no samples: "
                                           + c.err.decode(errors="replace")
                                           [-800:])
                else:
                    row[c.name] = floor_result(c, 1)
            p, a, f = row["pystrobe"], row["austin"], row["floor"]
            row["austin_over_pystrobe"] = a["per_sample_us"] / p[
                "per_sample_us"]
            row["pystrobe_over_floor"] = p["per_sample_us"] / f[
                "per_sample_us"]
            rows.append(row)
            print("deep 3.12 x100 @1 kHz, %g s, load %s -> %s; floor reads "
                  "%d B in %d ranges (%d pages)" % (
                      n, row["load_before"], row["load_after"], row["bytes"],
                      row["ranges"], row["pages"]))
            for name in (["pystrobe"] + ["pystrobe " + a for a, _ in
                                         args.also_builds] +
                         ["austin", "py-spy", "austin 4", "floor",
                          "floor+stat", "floor+schedstat", "wake-up only"]):
                if name not in row:
                    continue
                r = row[name]
                print("  %-16s %7d samples  %7.2f s CPU (user %.2f, sys %.2f)"
                      "  %7.1f us/sample" % (name, r["samples"], r["cpu_s"],
                                             r["user_s"], r["sys_s"],
                                             r["per_sample_us"]))
            print("  Austin / pystrobe = %.1fx (target >= 10x); pystrobe / "
                  "floor = %.2fx (target <= 1.5x)" % (
                      row["austin_over_pystrobe"],
                      row["pystrobe_over_floor"]), flush=True)
    results["deep"] = rows


# --------------------------------------------------------------------------
# threads: 200 threads at 100 Hz vs 1 thread at 100 Hz

def bench_threads(args, results):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            targets = {}
            try:
                for name, threads, busy in (("1 thread", 1, 1),
                                            ("200 threads", 200, 2)):
                    ready = os.path.join(tmp, "ready-%d" % threads)
                    targets[name] = start_target(
                        [PY312, os.path.join(WORKLOADS, "service.py"),
                         str(threads), "50", str(busy), ready], ready)
                n = args.seconds
                load_before = loadavg()
                children = {name: Child(name, pystrobe_cmd(
                    args, t.pid, 100, n,
                    os.path.join(tmp, name[:3].strip() + ".pb.gz"),
                    ["--idle"])) for name, t in targets.items()}
                # The peers on the 200-thread service, every thread a
                # sample as pystrobe's --idle.
                big = targets["200 threads"].pid
                raw = os.path.join(tmp, "threads.pyspy.txt")
                peer_children = [c for c in (
                    peers.start(Child, "py-spy", args.pyspy,
                                peers.pyspy_record(args.pyspy or [], big, 100,
                                                   n, raw, ["--idle"]), n,
                                raw),
                    peers.start(Child, "austin 4", args.austin4,
                                peers.austin4_record(args.austin4 or [], big,
                                                     10000, n), n))
                    if c is not None]
                for c in list(children.values()) + peer_children:
                    c.wait()
            finally:
                for t in targets.values():
                    stop(t)
            row = {"load_before": load_before, "load_after": loadavg(),
                   "seconds": n}
            for name, c in children.items():
                p = pystrobe_result(c)
                row[name] = dict(p, per_thread_sample_us=per(c.cpu_s,
                                                             p["samples"]),
                                 per_tick_us=per(c.cpu_s, p["ticks"]))
            row["ratio"] = (row["200 threads"]["per_thread_sample_us"] /
                            row["1 thread"]["per_thread_sample_us"])
            for c in peer_children:
                r = peers.result(c, per)
                # py-spy's summary counts ticks, its raw output thread-
                # samples; Austin's "Error rate E/N" counts thread-samples.
                thread_samples = (r["thread_samples"] if c.name == "py-spy"
                                  else r["samples"])
                row["200 threads, " + c.name] = dict(
                    r, thread_samples=thread_samples,
                    per_thread_sample_us=per(c.cpu_s, thread_samples))
            rows.append(row)
            print("threads 3.12 x50 @100 Hz --idle, %g s, load %s -> %s"
                  % (n, row["load_before"], row["load_after"]))
            for name in ("1 thread", "200 threads"):
                r = row[name]
                print("  %-12s %8d samples %6d ticks %6.2f s CPU  %6.1f us/"
                      "thread-sample  %7.1f us/tick" % (
                          name, r["samples"], r["ticks"], r["cpu_s"],
                          r["per_thread_sample_us"], r["per_tick_us"]))
            print("  200 threads / 1 thread = %.2fx per thread-sample "
                  "(target <= 2x)" % row["ratio"], flush=True)
            for c in peer_children:
                r = row["200 threads, " + c.name]
                print("  200 threads, %-8s %8d thread-samples %6.2f s CPU "
                      "%7.1f us/thread-sample (pystrobe: %.1f)%s" % (
                          c.name, r["thread_samples"], r["cpu_s"],
                          r["per_thread_sample_us"],
                          row["200 threads"]["per_thread_sample_us"],
                          ", interrupted 5 s after its end: behind"
                          if r["interrupted"] else ""), flush=True)
    results["threads"] = rows


# --------------------------------------------------------------------------
# native: --native against plain and --blocking sampling, one at a time

def build_native_ext(tmp):
    paths = subprocess.run(
        [PY312, "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['include']); print(sysconfig.get_config_var('EXT_SUFFIX'))"],
        capture_output=True, text=True, check=True).stdout.split()
    ext = os.path.join(tmp, "ext")
    os.makedirs(ext, exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-g", "-I" + paths[0],
                    os.path.join(ROOT, "tests", "workloads", "native_ext.c"),
                    "-o", os.path.join(ext, "native_ext" + paths[1])],
                   check=True)
    return ext


def process_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_native(args, results):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ext = build_native_ext(tmp)
        ready = os.path.join(tmp, "ready")
        target = start_target(
            [PY312, "-S", "-E", os.path.join(ROOT, "tests", "workloads",
                                             "native_burn.py"),
             ext, "deep", "25", ready], ready)
        try:
            n = args.seconds
            load_before = loadavg()
            # The target's own CPU share with nothing attached: the
            # reference its share under each recording is compared with.
            c0, t0 = process_cpu_s(target.pid), time.monotonic()
            time.sleep(n)
            alone = (process_cpu_s(target.pid) - c0) / (time.monotonic() - t0)
            row = {"load_before": load_before, "seconds": n,
                   "target_alone_share": alone}
            for name, extra in (("plain", []), ("--blocking", ["--blocking"]),
                                ("--native", ["--native"])):
                c0, t0 = process_cpu_s(target.pid), time.monotonic()
                c = Child(name, pystrobe_cmd(
                    args, target.pid, 100, n, os.path.join(tmp, "n.pb.gz"),
                    extra)).wait()
                wall = time.monotonic() - t0
                share = (process_cpu_s(target.pid) - c0) / wall
                p = pystrobe_result(c)
                row[name] = dict(
                    p, per_sample_us=per(c.cpu_s, p["samples"]),
                    target_share=share,
                    freeze_per_sample_us=per(max(0.0, alone - share) * wall,
                                             p["samples"]))
            row["load_after"] = loadavg()
        finally:
            stop(target)
        rows.append(row)
        print("native 3.12 54-frame mixed stack @100 Hz, %g s each, load %s "
              "-> %s; the target alone ran %.1f%% of the time"
              % (n, row["load_before"], row["load_after"], 100 * alone))
        for name in ("plain", "--blocking", "--native"):
            r = row[name]
            print("  %-10s %6d samples %6.2f s CPU %7.1f us/sample  target "
                  "ran %5.1f%%, frozen %7.1f us/sample" % (
                      name, r["samples"], r["cpu_s"], r["per_sample_us"],
                      100 * r["target_share"], r["freeze_per_sample_us"]),
                  flush=True)
    results["native"] = rows


# --------------------------------------------------------------------------
# gunicorn: 8 workers with --subprocesses at 100 Hz

def has_subprocesses(args):
    r = subprocess.run([args.pystrobe, "record", "--help"],
                       capture_output=True, text=True)
    return "--subprocesses" in r.stdout + r.stderr


def load_generator(port, seconds):
    """wrk if installed, else a few Python client threads (in this
    process: their CPU is not pystrobe's)."""
    if shutil.which("wrk"):
        return subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d%ds" % seconds,
             "http://127.0.0.1:%d/" % port], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    import http.client
    end = time.monotonic() + seconds

    def client():
        while time.monotonic() < end:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/")
                c.getresponse().read()
                c.close()
            except OSError:
                time.sleep(0.05)
    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    return threads


def capture_tick_ranges(args, pid, tmp):
    """{target pid: merged remote ranges} that pystrobe read in its last
    complete tick of a short `--subprocesses` recording at 100 Hz of `pid`
    (strace): what the floor reads per process and tick, the prefetch batch
    and the reads after it together."""
    trace = os.path.join(tmp, "tick.strace")
    subprocess.run(["strace", "-f", "-qq", "-e",
                    "trace=process_vm_readv,clock_nanosleep", "-e",
                    "signal=none", "-s", "64", "-o", trace] +
                   pystrobe_cmd(args, pid, 100, 1.5,
                                os.path.join(tmp, "capture.pb.gz"),
                                ["--subprocesses"]),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    ticks, current = [], {}
    with open(trace) as f:
        for line in f:
            if "clock_nanosleep(" in line:
                if current:
                    ticks.append(current)
                current = {}
            elif "process_vm_readv(" in line and ") = " in line:
                m = re.search(r"process_vm_readv\((\d+),", line)
                remote = IOVEC.findall(line)
                if m and remote:
                    current.setdefault(int(m.group(1)), []).extend(
                        (int(a, 16), int(n)) for a, n in remote)
    # The last tick that read every process the most ticks read.
    widest = max((len(t) for t in ticks), default=0)
    full = [t for t in ticks if len(t) == widest]
    if not full:
        raise RuntimeError("no process_vm_readv of pystrobe seen by strace")
    merged = {}
    for target, ranges in full[-1].items():
        out = []
        for a, n in sorted(ranges):
            if out and a <= out[-1][0] + out[-1][1]:
                end = max(out[-1][0] + out[-1][1], a + n)
                out[-1] = (out[-1][0], end - out[-1][0])
            else:
                out.append((a, n))
        merged[target] = out
    return merged


def austin_result(c):
    """Austin's figures: one output line per sample (-C: one per thread)."""
    return {"samples": c.lines, "cpu_s": c.cpu_s, "user_s": c.user_s,
            "sys_s": c.sys_s, "per_sample_us": per(c.cpu_s, c.lines),
            "rc": c.proc.returncode}


def floor_result(c, per_tick):
    """cost_floor's figures: `per_tick` samples per iteration (one per
    process it reads)."""
    m = dict(re.findall(r"(\w+)=(\d+)", c.out.decode()))
    it = int(m.get("iterations", 0))
    return {"samples": it * per_tick, "ticks": it,
            "failed": int(m.get("failed", -1)), "cpu_s": c.cpu_s,
            "user_s": c.user_s, "sys_s": c.sys_s,
            "per_sample_us": per(c.cpu_s, it * per_tick)}


def bench_gunicorn(args, results):
    if not has_subprocesses(args):
        print("gunicorn: skipped: this pystrobe has no `record "
              "--subprocesses` yet (issue 11 item 1)")
        return
    gunicorn = shutil.which("gunicorn")
    flask = subprocess.run(["/usr/bin/python3", "-c", "import flask"],
                           capture_output=True).returncode == 0
    if gunicorn is None or not flask:
        print("gunicorn: skipped: needs Debian's gunicorn and python3-flask "
              "(scripts/install-deps.sh)")
        return
    austin = ensure_austin()
    floor = ensure_floor()
    port = 18000 + os.getpid() % 1000
    master = subprocess.Popen(
        [gunicorn, "-w", "8", "-b", "127.0.0.1:%d" % port, "--chdir",
         WORKLOADS, "flask_app:app"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # workers booted
        n = args.seconds
        with tempfile.TemporaryDirectory() as tmp:
            load = load_generator(port, n + 8)
            time.sleep(1)
            ticks = capture_tick_ranges(args, master.pid, tmp)
            floor_args = []
            for i, (target, ranges) in enumerate(sorted(ticks.items())):
                floor_args += ([str(target)] if i == 0 else
                               ["--pid", str(target)])
                floor_args += ["%x:%d" % r for r in ranges]
            floor_cmd = [floor, floor_args[0], str(n), "100"] + floor_args[1:]
            load_before = loadavg()
            children = [
                Child("pystrobe", pystrobe_cmd(
                    args, master.pid, 100, n, os.path.join(tmp, "g.pb.gz"),
                    ["--subprocesses"])),
                Child("austin", [austin, "-C", "-i", "10000", "-p",
                                 str(master.pid), "-x", str(n)],
                      count_lines=True),
                Child("floor", floor_cmd),
                Child("wake-up only", [floor, str(master.pid), str(n), "100"]),
            ] + [c for c in (
                peers.start(Child, "py-spy", args.pyspy, peers.pyspy_record(
                    args.pyspy or [], master.pid, 100, n,
                    os.path.join(tmp, "g.pyspy.txt"), ["--subprocesses"]),
                    n, os.path.join(tmp, "g.pyspy.txt")),
                peers.start(Child, "austin 4", args.austin4,
                            peers.austin4_record(args.austin4 or [],
                                                 master.pid, 10000, n, ["-C"]),
                            n))
                if c is not None] + [Child("pystrobe " + name, pystrobe_cmd(
                args, master.pid, 100, n,
                os.path.join(tmp, "g-%d.pb.gz" % i), ["--subprocesses"],
                binary=binary)) for i, (name, binary) in
                enumerate(args.also_builds)]
            for c in children:
                c.wait()
            if isinstance(load, subprocess.Popen):
                load.wait()
            else:
                for t in load:
                    t.join()
        row = {"load_before": load_before, "load_after": loadavg(),
               "seconds": n, "processes": len(ticks),
               "floor_bytes_per_tick": sum(l for r in ticks.values()
                                           for _, l in r),
               "floor_ranges_per_tick": sum(len(r) for r in ticks.values())}
        for c in children:
            if c.name.startswith("pystrobe"):
                p = pystrobe_result(c)
                row[c.name] = dict(p, per_sample_us=per(c.cpu_s,
                                                            p["samples"]))
            elif c.name == "austin":
                row["austin"] = austin_result(c)
            elif c.name in ("py-spy", "austin 4"):
                row[c.name] = peers.result(c, per)
            elif c.name == "floor":
                row["floor"] = floor_result(c, len(ticks))
            else:
                row[c.name] = floor_result(c, 1)
        for r in row.values():
            if isinstance(r, dict):
                r["core_pct"] = 100 * r["cpu_s"] / n
        results["gunicorn"] = row
        print("gunicorn 8 workers @100 Hz, %g s, load %s -> %s; the floor "
              "reads %d B in %d ranges per tick from %d processes" % (
                  n, row["load_before"], row["load_after"],
                  row["floor_bytes_per_tick"], row["floor_ranges_per_tick"],
                  row["processes"]))
        for name in (["pystrobe"] + ["pystrobe " + a for a, _ in
                                     args.also_builds] +
                     ["austin", "py-spy", "austin 4", "floor",
                      "wake-up only"]):
            if name not in row:
                continue
            r = row[name]
            print("  %-16s %7d samples  %6.2f s CPU (user %.2f, sys %.2f) "
                  "= %5.2f%% of one core  %6.1f us/sample" % (
                      name, r["samples"], r["cpu_s"], r["user_s"], r["sys_s"],
                      r["core_pct"], r["per_sample_us"]))
        print("  target: pystrobe < 3% of one core", flush=True)
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pystrobe", default=os.path.join(ROOT, "build",
                                                      "pystrobe"))
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--out", help="also write the figures as JSON here")
    p.add_argument("--also", action="append", default=[],
                   metavar="NAME=BINARY",
                   help="deep: attach another pystrobe build too, in the "
                   "same run (before/after figures under the same load)")
    p.add_argument("--no-peers", dest="peers", action="store_false",
                   help="leave out py-spy and Austin 4 (PyPI, installed "
                   "into ~/.cache/pystrobe/peers-venv on first use)")
    p.add_argument("benchmarks", nargs="*",
                   default=["deep", "threads", "native", "gunicorn"])
    args = p.parse_args()
    args.pystrobe = os.path.abspath(args.pystrobe)
    args.also_builds = []
    for spec in args.also:
        name, _, binary = spec.partition("=")
        if not binary or not os.access(binary, os.X_OK):
            raise SystemExit("cost_vs_peers: --also wants NAME=BINARY, not "
                             + spec)
        args.also_builds.append((name, os.path.abspath(binary)))
    if not os.access(PY312, os.X_OK):
        raise SystemExit("cost_vs_peers: needs " + PY312)
    args.pyspy = args.austin4 = None
    if args.peers:
        args.pyspy, why = peers.pyspy()
        if args.pyspy is None:
            print("py-spy: skipped: " + why)
        args.austin4, why = peers.austin4()
        if args.austin4 is None:
            print("austin 4: skipped: " + why)
    results = {"machine": {"nproc": os.cpu_count(), "kernel": os.uname().release,
                           "pystrobe": args.pystrobe,
                           "py-spy": peers.PYSPY_VERSION if args.pyspy else None,
                           "austin 4": peers.AUSTIN4_VERSION if args.austin4
                           else None}}
    for name in args.benchmarks:
        {"deep": bench_deep, "threads": bench_threads,
         "native": bench_native,
         "gunicorn": bench_gunicorn}[name](args, results)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
