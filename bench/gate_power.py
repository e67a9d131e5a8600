"""Power and cost of the regression gate on real recordings (issue 17).

    python3 bench/gate_power.py record|compare|all [--trials 20] [--cells P]
        [--build DIR (default build/)] [--rate HZ] [--cache DIR]

A cell is WORKLOAD:RECIPE:CONDITION:MODE; --cells takes comma-separated
fnmatch patterns, missing fields match all (`helper:stored:quiet:wall`,
`diff`, `*:interleaved:neighbour`). Workloads, ~0.5 s a run on the 2-core VM
with /usr/bin/python3 (measured, HELPER_SCALE and DIFF_ROUNDS below):
  helper  tests/workloads/gate_shapes.py helper: five handlers doing all
          their work through one helper spin(); target render_page (20%),
          changed by --grow render_page=F.
  diff    tests/workloads/diff_gate.py: alpha/beta/gamma/tiny; target beta
          (25%), changed by --scale beta=F.
Changes: A/A, +30%, +50%. Conditions: quiet; neighbour (`python3 -c 'while
True: pass'`, not pinned, for the whole cell, killed after and checked
gone). Modes: wall; cpu (--mode cpu). Recipes at their defaults (-r only
with --rate):
  stored       `pystrobe record --repeat 5 -o base.pb.gz -- CMD` per trial,
               one more per change (A/A: a second base recording), then
               `pystrobe-diff compare BASE NEW --threshold 10 -f csv`.
  interleaved  `pystrobe record --repeat 5 --base-command BASECMD
               --threshold 10 -f csv -o new.pb.gz -- NEWCMD` per trial and
               change (skipped when `record --help` lacks --base-command);
               `compare` re-runs pystrobe-diff on new.base.pb.gz/new.pb.gz
               and notes where it disagrees with record's own verdict.
Counted per cell, verdicts from the verdict line (stderr, else the table's
last line): A/A FAIL/OK/INCONCLUSIVE; a change: FAIL with the target's csv
row `regression` / FAIL with a regression row of any other function than
the target's callers (wrapper, helper, main, <module> of the workload's
file; the shared spin counts: its code did not change) / INCONCLUSIVE.
Cost: a record command's wall time over the plain runs it contains, timed
once per trial and command without pystrobe, in the cell's condition
(median over the cell). Notes
under a table: the functions of false alarms, verdicts refused for an
overloaded machine, the builds recorded with.
Profiles stay in --cache (default ~/.cache/pystrobe/bench-gate2/CELL/, with
-rRATE appended for --rate): `compare` re-runs with a new pystrobe-diff,
`record` adds only the trials a cell lacks.
"""
import argparse
import csv
import datetime
import fnmatch
import io
import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPER_SCALE = "2.1"  # gate_shapes.py helper: ~0.50 s (0.47 s at 2.0)
DIFF_ROUNDS = "40"    # diff_gate.py: ~0.49 s
WORKLOADS = {  # name: (file, target, callers whose totals grow with it)
    "helper": ("gate_shapes.py", "render_page",
               {"wrapper", "measured", "helper", "main", "<module>"}),
    "diff": ("diff_gate.py", "beta", {"main", "<module>"}),
}
RECIPES = ["stored", "interleaved"]
CONDITIONS = ["quiet", "neighbour"]
MODES = ["wall", "cpu"]
CHANGES = [("aa", 1.0), ("30", 1.3), ("50", 1.5)]
RUNS = 5


def workload_cmd(args, workload, factor):
    path, target, _ = WORKLOADS[workload]
    cmd = [args.python, os.path.join(ROOT, "tests", "workloads", path)]
    if workload == "helper":
        cmd += ["helper", "--scale", HELPER_SCALE]
    else:
        cmd += ["--rounds", DIFF_ROUNDS]
    grow = "--grow" if workload == "helper" else "--scale"
    return cmd + ([grow, f"{target}={factor}"] if factor != 1.0 else [])


def all_cells():
    return [f"{w}:{r}:{c}:{m}" for w in WORKLOADS for c in CONDITIONS
            for m in MODES for r in RECIPES]


def selected(args):
    pats = [p + ":*" * (3 - p.count(":")) for p in args.cells.split(",") if p]
    return [c for c in all_cells() if any(fnmatch.fnmatch(c, p) for p in pats)]


def cell_dir(args, cell):
    return os.path.join(args.cache, cell.replace(":", "-"))


def trials_done(args, cell):
    d = cell_dir(args, cell)
    return sorted(int(f[1:-5]) for f in os.listdir(d) if f.endswith(".json")) \
        if os.path.isdir(d) else []


def timed(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"gate_power: exit {p.returncode}: {shlex.join(cmd)}\n"
                 f"{p.stderr[-2000:]}")
    return dt, p


def build_id(binary):
    """The tree's commit and when BINARY was built (others edit the tree)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True).stdout
    built = datetime.datetime.fromtimestamp(os.path.getmtime(binary))
    return f"{commit.strip()}, {binary} of {built:%Y-%m-%d %H:%M}"


def start_neighbour(args):
    return subprocess.Popen([args.python, "-c", "while True: pass"],
                            start_new_session=True)


def stop_neighbour(proc):
    proc.kill()
    proc.wait()
    try:  # reaped: its pid is gone, or reused by another command
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            if b"while True" in f.read():
                sys.exit(f"gate_power: neighbour {proc.pid} still running")
    except FileNotFoundError:
        pass


def record_trial(args, cell, trial):
    workload, recipe, _, mode = cell.split(":")
    pre = os.path.join(cell_dir(args, cell), f"t{trial:02d}")
    rec = [args.pystrobe, "record", "--repeat", str(RUNS)]
    rec += ["--mode", "cpu"] if mode == "cpu" else []
    rec += ["-r", str(args.rate)] if args.rate else []
    base = workload_cmd(args, workload, 1.0)
    info = {"build": build_id(args.pystrobe), "plain": {}, "record": {}}
    for name, factor in [("base", 1.0)] + CHANGES[1:]:
        info["plain"][name] = timed(workload_cmd(args, workload, factor))[0]
    info["plain"]["aa"] = info["plain"]["base"]
    sides = (["base"] if recipe == "stored" else []) + [c for c, _ in CHANGES]
    random.Random(trial).shuffle(sides)  # no side always records first
    for side in sides:
        factor = dict(CHANGES).get(side, 1.0)
        new = workload_cmd(args, workload, factor)
        out = f"{pre}-{side}.pb.gz"
        if recipe == "stored":
            dt, _ = timed(rec + ["-o", out, "--"] + new)
            info["record"][side] = dt / (RUNS * info["plain"][side])
        else:
            dt, p = timed(rec + ["--base-command", shlex.join(base),
                                 "--threshold", str(args.threshold),
                                 "-f", "csv", "-o", out, "--"] + new)
            for ext, text in ((".out", p.stdout), (".err", p.stderr)):
                with open(f"{pre}-{side}{ext}", "w") as f:
                    f.write(text)
            info["record"][side] = dt / (RUNS * (info["plain"]["base"]
                                                 + info["plain"][side]))
    with open(pre + ".json.tmp", "w") as f:
        json.dump(info, f)
    os.rename(pre + ".json.tmp", pre + ".json")


def record(args):
    help_text = subprocess.run([args.pystrobe, "record", "--help"],
                               capture_output=True, text=True)
    interleaved = "--base-command" in help_text.stdout + help_text.stderr
    for cell in selected(args):
        if ":interleaved:" in cell and not interleaved:
            print(f"{cell}: skipped, `{args.pystrobe} record --help` does "
                  f"not mention --base-command", flush=True)
            continue
        todo = [t for t in range(args.trials)
                if t not in trials_done(args, cell)]
        if not todo:
            continue
        os.makedirs(cell_dir(args, cell), exist_ok=True)
        neighbour = start_neighbour(args) if ":neighbour:" in cell else None
        try:
            for t in todo:
                t0 = time.monotonic()
                record_trial(args, cell, t)
                print(f"{cell}: trial {t + 1}/{args.trials} "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
        finally:
            if neighbour:
                stop_neighbour(neighbour)


def parse_report(csv_text, err_text, workload):
    """(verdict, target named, other functions named) by a FAIL report."""
    path, target, callers = WORKLOADS[workload]
    names = set()
    for r in csv.DictReader(io.StringIO(csv_text)):
        # A regression explained by another (a helper called more by the
        # target) is counted with that one, not as a false alarm.
        if r.get("verdict") == "regression" and not r.get("explained_by"):
            ours = os.path.basename(r["file"]) == path
            name = r["function"].rsplit(".", 1)[-1]
            names.add(name if ours else f"{r['function']} ({r['file']})")
    verdict = ""
    for line in err_text.splitlines():
        line = line.removeprefix("pystrobe-diff: ")
        if line.split(":")[0] in ("FAIL", "OK", "INCONCLUSIVE"):
            verdict = line.split(":")[0]
    if verdict != "FAIL":  # INCONCLUSIVE lists regressions it did not judge
        names = set()
    return verdict, target in names, names - {target} - callers


def compare_pair(args, base, new, workload):
    cmd = [args.diff, "compare", base, new, "--threshold",
           str(args.threshold)]
    p = subprocess.run(cmd + ["--format", "csv"], capture_output=True,
                       text=True)
    if p.returncode != 0:
        return "ERROR", False, set(), False
    err = p.stderr
    if not parse_report("", err, workload)[0]:  # no verdict line on stderr:
        table = subprocess.run(cmd, capture_output=True, text=True).stdout
        err = table.strip().splitlines()[-1] if table.strip() else ""
    return parse_report(p.stdout, err, workload) + ("overloaded" in err,)


def compare(args):
    print(f"{datetime.date.today()}; {os.cpu_count()} CPUs, {cpu_model()}; "
          f"pystrobe {build_id(args.diff)}; `{shlex.join(sys.argv)}`; "
          f"threshold {args.threshold}%, {RUNS} runs a side\n")
    print("Cells: A/A = FAIL/OK/INCONCLUSIVE; a change = FAIL naming the "
          "target / false alarm / INCONCLUSIVE, of N trials; cost = record's "
          "wall time over the workload's own runs; run = the base workload's "
          "own run time, median.\n")
    notes, builds = [], set()
    for workload, (_, target, _) in WORKLOADS.items():
        cells = [c for c in selected(args) if c.startswith(workload + ":")
                 and trials_done(args, c)]
        if not cells:
            continue
        print(f"### {workload} (target {target})\n")
        print("| condition | mode | recipe | N | A/A | +30% | +50% | cost | "
              "run |\n" + "| --- " * 9 + "|")
        for cell in cells:
            recipe, condition, mode = cell.split(":")[1:]
            d = cell_dir(args, cell)
            trials = trials_done(args, cell)
            counts = {c: Counter() for c, _ in CHANGES}
            costs, runs, others, disagree = [], [], Counter(), 0
            for t in trials:
                pre = os.path.join(d, f"t{t:02d}")
                with open(pre + ".json") as f:
                    info = json.load(f)
                builds.add(info.get("build", "?"))
                costs += info["record"].values()
                runs.append(info["plain"]["base"])
                for change, _ in CHANGES:
                    new = f"{pre}-{change}.pb.gz"
                    base = (f"{pre}-base.pb.gz" if recipe == "stored"
                            else f"{pre}-{change}.base.pb.gz")
                    v, hit, other, busy = compare_pair(args, base, new,
                                                       workload)
                    counts[change].update({v: 1, "hit": hit, "busy": busy,
                                           "other": bool(other)})
                    others.update(other)
                    if recipe == "interleaved":
                        with open(f"{pre}-{change}.err") as f:
                            rv = parse_report("", f.read(), workload)[0]
                        disagree += rv != v
                    if v == "ERROR":
                        notes.append(f"{cell} t{t:02d}-{change}: "
                                     "pystrobe-diff compare failed")
            aa = counts["aa"]
            row = [f"{aa['FAIL']}/{aa['OK']}/{aa['INCONCLUSIVE']}"]
            row += [f"{counts[c]['hit']}/{counts[c]['other']}/"
                    f"{counts[c]['INCONCLUSIVE']}" for c in ("30", "50")]
            cost = (f"{statistics.median(costs):.2f}× (max {max(costs):.2f}) "
                    f"| {statistics.median(runs):.2f} s")
            print(f"| {condition} | {mode} | {recipe} | {len(trials)} | "
                  + " | ".join(row) + f" | {cost} |")
            if others:
                notes.append(f"{cell}: regressions of unchanged functions: "
                             + ", ".join(f"{n} ×{k}" for n, k in
                                         others.most_common()))
            busy = sum(counts[c]["busy"] for c, _ in CHANGES)
            if busy:
                notes.append(f"{cell}: {busy} of {3 * len(trials)} verdicts: "
                             "a side was recorded on an overloaded machine")
            if disagree:
                notes.append(f"{cell}: pystrobe-diff compare disagrees with "
                             f"record's own verdict in {disagree} pairs")
        print()
    notes.append("recorded with " + "; ".join(sorted(builds)))
    for note in notes:
        print(f"- {note}")


def cpu_model():
    with open("/proc/cpuinfo") as f:
        return next((ln.split(":", 1)[1].strip() for ln in f
                     if ln.startswith("model name")), "unknown CPU")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["record", "compare", "all"])
    p.add_argument("--cells", default="*", help="e.g. helper:stored:quiet:wall"
                   ",diff:*:neighbour (WORKLOAD:RECIPE:CONDITION:MODE)")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--threshold", type=float, default=10)
    p.add_argument("--rate", type=int, help="pass -r RATE to record "
                   "(experiments; default: the recording's own choice)")
    p.add_argument("--cache", help="default ~/.cache/pystrobe/bench-gate2")
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="the directory of pystrobe and pystrobe-diff")
    p.add_argument("--python", default="/usr/bin/python3")
    args = p.parse_args()
    args.pystrobe = os.path.join(args.build, "pystrobe")
    args.diff = os.path.join(args.build, "pystrobe-diff")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill neighbour
    args.cache = args.cache or os.path.expanduser(
        "~/.cache/pystrobe/bench-gate2" + (f"-r{args.rate}" if args.rate
                                           else ""))
    if args.what in ("record", "all"):
        record(args)
    if args.what in ("compare", "all"):
        compare(args)


if __name__ == "__main__":
    sys.exit(main())
