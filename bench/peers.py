"""Peers from the package index, for bench/cost_vs_peers.py.

py-spy (0.4.x) and Austin 4 (`austin-dist`) are installed with pip into a
cached virtual environment, ~/.cache/pystrobe/peers-venv, never committed
and never a dependency of pystrobe. Pinned so that figures compare:

  py-spy       PYSPY_VERSION; `py-spy record --nonblocking -f raw`, samples
               from its own summary ("Samples: N Errors: E"). Nonblocking:
               pystrobe's default does not stop the target either.
  austin-dist  AUSTIN4_VERSION; its wheel says manylinux_2_12 but the binary
               needs glibc 2.38 (GLIBC_2.38 in `objdump -T`), which Debian 12
               (2.36) lacks: it then runs through the glibc of the forky
               root that scripts/install-deps.sh sets up (its dynamic loader
               with --library-path), still on this machine's kernel and
               /proc. Samples from its own summary ("Error rate E/N"); its
               output (MOJO, binary) goes to /dev/null.

A peer that cannot run here is reported as skipped with the reason, never
silently left out.
"""
import os
import re
import signal
import subprocess
import sys
import threading

PYSPY_VERSION = "0.4.3"
AUSTIN4_VERSION = "4.0.0"
VENV = os.path.expanduser("~/.cache/pystrobe/peers-venv")
FORKY = os.path.expanduser("~/.cache/pystrobe/forky-root")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _installed(binary, version):
    try:
        out = subprocess.run(["%s/bin/pip" % VENV, "show", binary],
                             capture_output=True, text=True).stdout
    except OSError:
        return False
    return "Version: %s" % version in out


def ensure_venv():
    """Installs the pinned peers into the cached venv (once)."""
    if not os.access(os.path.join(VENV, "bin", "pip"), os.X_OK):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    wanted = []
    if not _installed("py-spy", PYSPY_VERSION):
        wanted.append("py-spy==" + PYSPY_VERSION)
    if not _installed("austin-dist", AUSTIN4_VERSION):
        wanted.append("austin-dist==" + AUSTIN4_VERSION)
    if wanted:
        print("peers: pip install %s into %s" % (" ".join(wanted), VENV),
              file=sys.stderr, flush=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q"] +
                       wanted, check=True)


def pyspy():
    """The py-spy command prefix, or (None, reason)."""
    ensure_venv()
    binary = os.path.join(VENV, "bin", "py-spy")
    if not os.access(binary, os.X_OK):
        return None, "py-spy is not in " + VENV
    return [binary], ""


def austin4():
    """The Austin 4 command prefix, or (None, reason)."""
    ensure_venv()
    binary = os.path.join(VENV, "bin", "austin")
    if not os.access(binary, os.X_OK):
        return None, "austin is not in " + VENV
    probe = subprocess.run([binary, "--version"], capture_output=True,
                           text=True)
    if probe.returncode == 0:
        return [binary], ""
    if "GLIBC_" not in probe.stderr:
        return None, probe.stderr.strip()[:200]
    loader = os.path.join(FORKY, "lib64", "ld-linux-x86-64.so.2")
    if not os.access(loader, os.X_OK):
        return None, ("austin-dist %s needs a newer glibc than this "
                      "machine's and the forky root (scripts/install-deps.sh)"
                      " is missing" % AUSTIN4_VERSION)
    libs = ":".join(os.path.join(FORKY, d) for d in
                    ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    return [loader, "--library-path", libs, binary], ""


def pyspy_record(prefix, pid, rate, seconds, out, extra=()):
    return prefix + ["record", "--nonblocking", "-r", str(rate), "-d",
                     str(seconds), "-p", str(pid), "-f", "raw", "-o", out] + \
        list(extra)


def austin4_record(prefix, pid, interval_us, seconds, extra=()):
    return prefix + ["-i", "%dus" % interval_us, "-x", str(seconds), "-o",
                     os.devnull] + list(extra) + ["-p", str(pid)]


def pyspy_samples(stderr):
    m = re.search(r"Samples: (\d+) Errors: (\d+)", stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, -1)


def austin4_samples(stderr):
    m = re.search(r"Error rate[ .]*(\d+)/(\d+)", ANSI.sub("", stderr))
    return (int(m.group(2)), int(m.group(1))) if m else (0, -1)


def result(child, per):
    """A peer's figures from its Child (cost_vs_peers.Child)."""
    # py-spy writes its summary to stdout, Austin to stderr.
    err = (child.out + child.err).decode(errors="replace")
    if child.name.startswith("py-spy"):
        samples, errors = pyspy_samples(err)
        # Thread-samples: the raw output's counts (one line per stack).
        thread_samples = 0
        if getattr(child, "raw_path", None) and os.path.exists(
                child.raw_path):
            with open(child.raw_path) as f:
                for line in f:
                    head, _, count = line.rstrip().rpartition(" ")
                    if head and count.isdigit():
                        thread_samples += int(count)
    else:
        samples, errors = austin4_samples(err)
        thread_samples = None
    if samples == 0:
        raise RuntimeError("%s took no samples (exit %s): %s" % (
            child.name, child.proc.returncode, ANSI.sub("", err)[-600:]))
    return {"samples": samples, "errors": errors, "cpu_s": child.cpu_s,
            "user_s": child.user_s, "sys_s": child.sys_s,
            "per_sample_us": per(child.cpu_s, samples),
            "thread_samples": thread_samples, "rc": child.proc.returncode,
            "interrupted": child.interrupted}


def start(child_class, name, prefix, cmd, seconds, raw_path=None):
    """A Child running a peer, or None without one. A peer still running 5 s
    after its `seconds` is behind (py-spy on 200 threads 50 deep, --idle,
    reads each frame with several syscalls and falls minutes behind): it is
    interrupted (SIGINT: py-spy writes what it has and its summary) and
    killed 15 s later; the result says so."""
    if prefix is None:
        return None
    c = child_class(name, cmd)
    c.raw_path = raw_path
    c.interrupted = False

    def running():
        # Not Popen.poll(): it would reap the child before Child.wait4
        # collects its rusage.
        try:
            with open("/proc/%d/stat" % c.proc.pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def interrupt():
        if running():
            c.interrupted = True
            os.kill(c.proc.pid, signal.SIGINT)

    def kill():
        if running():
            os.kill(c.proc.pid, signal.SIGKILL)
    for delay, action in ((seconds + 5, interrupt), (seconds + 20, kill)):
        t = threading.Timer(delay, action)
        t.daemon = True
        t.start()
    return c
