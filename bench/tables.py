#!/usr/bin/env python3
"""Markdown tables from the results of scripts/bench.sh.

usage: bench/tables.py DIR   (DIR holds sample.json and/or record_bench.json)
"""
import json
import os
import sys


def sample_table(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        kind, py, mode, depth = b["run_name"].split("/")[:4]
        cpu_us = b["cpu_time"] / 1e3
        real_us = b["real_time"] / 1e3
        rows.setdefault((py, mode, int(depth)), {})[kind] = (
            cpu_us, real_us, b.get("reads", 0), b.get("errors", 0))
    print("| python | target | depth | ReadThreads CPU µs | reads/sample "
          "| SamplePath CPU µs | blocking freeze µs (real) "
          "| one read per frame CPU µs |")
    print("|---|---|---|---|---|---|---|---|")
    for (py, mode, depth), kinds in sorted(
            rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        rt = kinds.get("ReadThreads")
        sp = kinds.get("SamplePath")
        bl = kinds.get("Blocking")
        one = kinds.get("OneReadPerFrame")
        print("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
            py[2:], mode, depth,
            "%.1f" % rt[0] if rt else "",
            "%.0f" % rt[2] if rt else "",
            "%.1f" % sp[0] if sp else "",
            "%.0f" % bl[1] if bl else "",
            "%.0f" % one[0] if one else ""))


def record_tables(path):
    with open(path) as f:
        data = json.load(f)
    for key in sorted(k for k in data if k.startswith("rate")):
        print("\n%s\n" % key)
        print("| python | requested Hz | achieved Hz (median) | runs | late "
              "| missed | CPU µs/tick | share of a core |")
        print("|---|---|---|---|---|---|---|---|")
        for r in data[key]:
            m = r["median"]
            print("| %s | %d | %.0f | %s | %d | %d | %.1f | %.0f%% |" % (
                r["python"], r["rate"], m["hz"],
                " / ".join("%.0f" % x["hz"] for x in r["runs"]),
                m["late"], m["missed"], m["cpu_per_tick_us"],
                100 * m["cpu_s"] / m["seconds"]))
    if "slowdown" in data:
        print("\n| python | sampler | ticks/s | slowdown, calls per wall s "
              "(median [min..max]) | slowdown, calls per CPU s "
              "| target time lost per tick µs |")
        print("|---|---|---|---|---|---|")
        for r in data["slowdown"]:
            print("| %s | %s | %s | %+.1f%% [%+.1f..%+.1f] "
                  "| %+.1f%% [%+.1f..%+.1f] | %s |" % (
                      r["python"], r["config"],
                      "%.0f" % r["ticks_per_s"] if "ticks_per_s" in r else "",
                      r["slowdown_wall_pct"], *r["slowdown_wall_range"],
                      r["slowdown_cpu_pct"], *r["slowdown_cpu_range"],
                      "%.0f" % r["lost_per_tick_us"]
                      if "lost_per_tick_us" in r else ""))
    if "syscalls" in data:
        print("\n| python | options | syscalls per tick | by name |")
        print("|---|---|---|---|")
        for r in data["syscalls"]:
            print("| %s | %s | %.1f | %s |" % (
                r["python"], r["options"], r["total_per_tick"],
                ", ".join("%s %.1f" % kv for kv in sorted(
                    r["per_tick"].items(), key=lambda kv: -kv[1]))))


def main():
    d = sys.argv[1]
    if os.path.exists(os.path.join(d, "sample.json")):
        sample_table(os.path.join(d, "sample.json"))
    if os.path.exists(os.path.join(d, "record_bench.json")):
        record_tables(os.path.join(d, "record_bench.json"))


if __name__ == "__main__":
    main()
