#!/usr/bin/env python3
"""Start-up time of an executable: the median of N runs of `EXE --version`.

Usage: startup_time.py EXE [EXE...] [--runs 20]

Each run is timed from fork to exit (time.perf_counter around
subprocess.run, output discarded); one untimed run first warms the page
cache. Prints the median, the fastest and the slowest in milliseconds.
"""

import argparse
import os
import statistics
import subprocess
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("exe", nargs="+")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for exe in args.exe:
        cmd = [exe, "--version"]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            times.append((time.perf_counter() - start) * 1000)
        print("%s: %d bytes, --version median %.2f ms (min %.2f, max %.2f, %d runs)"
              % (exe, os.path.getsize(exe), statistics.median(times), min(times),
                 max(times), args.runs))


if __name__ == "__main__":
    main()
