"""Power of the regression gate, measured on real recordings.

    python3 bench/gate_power.py record [--out DIR] [--reps R]
    python3 bench/gate_power.py compare [--out DIR] [--threshold PCT]

`record` runs tests/workloads/diff_gate.py under `pystrobe record --repeat N
--mode cpu -r 200` for N in 1, 3, 5, 10: per repetition one baseline and one
new profile for each true change of beta (0% = A/A, 5, 10, 20, 30, 50% more
iterations; beta is ~25% of the work). `compare` runs `pystrobe-diff
compare` on every pair and prints, per N and change, how often the gate
FAILed naming beta, FAILed naming something else, or was INCONCLUSIVE.
The profiles are kept, so the comparison can be re-run with another
pystrobe-diff without recording again. Results: bench/README.md.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = [1, 3, 5, 10]
CHANGES = [0, 5, 10, 20, 30, 50]


def record(args):
    os.makedirs(args.out, exist_ok=True)
    workload = os.path.join(ROOT, "tests/workloads/diff_gate.py")
    for rep in range(args.reps):
        for n in RUNS:
            for change in ["base"] + CHANGES:
                path = os.path.join(args.out, f"n{n}_r{rep}_{change}.pb.gz")
                if os.path.exists(path):
                    continue
                cmd = [args.pystrobe, "record", "-o", path, "--repeat", str(n),
                       "--mode", "cpu", "-r", "200", "--", args.python,
                       workload, "--rounds", "60"]
                if change != "base" and change != 0:
                    cmd += ["--scale", f"beta={1 + change / 100}"]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                print(path, flush=True)


def compare(args):
    print(f"threshold {args.threshold}%; cells: FAIL naming beta / FAIL "
          f"naming another / INCONCLUSIVE, of {args.reps} pairs")
    print("N runs | " + " | ".join(f"beta +{c}%" if c else "A/A"
                                   for c in CHANGES))
    for n in RUNS:
        cells = []
        for change in CHANGES:
            hit = other = inconclusive = 0
            for rep in range(args.reps):
                base = os.path.join(args.out, f"n{n}_r{rep}_base.pb.gz")
                new = os.path.join(args.out, f"n{n}_r{rep}_{change}.pb.gz")
                out = subprocess.run(
                    [args.diff, "compare", base, new, "--format", "csv",
                     "--threshold", str(args.threshold)],
                    capture_output=True, text=True).stdout
                regressed = {line.split(",")[0] for line in out.splitlines()
                             if line.split(",")[3:4] == ["regression"]}
                verdict = subprocess.run(
                    [args.diff, "compare", base, new, "--threshold",
                     str(args.threshold)],
                    capture_output=True, text=True).stdout.strip()
                last = verdict.splitlines()[-1] if verdict else ""
                if "beta" in regressed:
                    hit += 1
                if regressed - {"beta", "main", "<module>"}:
                    other += 1
                if last.startswith("INCONCLUSIVE"):
                    inconclusive += 1
            cells.append(f"{hit}/{other}/{inconclusive}")
        print(f"{n} | " + " | ".join(cells))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["record", "compare"])
    p.add_argument("--out", default=os.path.expanduser(
        "~/.cache/pystrobe/bench-gate"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threshold", type=float, default=10)
    p.add_argument("--pystrobe", default=os.path.join(ROOT, "build/pystrobe"))
    p.add_argument("--diff", default=os.path.join(ROOT, "build/pystrobe-diff"))
    p.add_argument("--python", default="/usr/bin/python3")
    args = p.parse_args()
    {"record": record, "compare": compare}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
