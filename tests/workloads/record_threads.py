"""Multithreaded CPU-bound workload for the `pystrobe record` --gil and
--blocking tests.

Usage: python record_threads.py DIR [THREADS]

THREADS (default 3) worker threads spin in pure Python (spin_worker) and so
contend for the GIL; the main thread wakes every 10 ms to count: it writes
the count to DIR/counter (atomically), so a test can see that the process
keeps making progress. Same DIR protocol as record_split.py (ready, start,
stop, truth.json); every worker measures its own CPU time
(time.thread_time()) between start and stop.

truth.json: {"pid", "window_s", "workers": [{"native_id", "cpu_s"}]}.
"""

import json
import os
import sys
import threading
import time

thread_time = time.thread_time

_phase = [0]  # 0: warming up, 1: measuring, 2: stopped


def spin_worker(report):
    cpu0 = None
    x = 0
    while _phase[0] < 2:
        x += 1
        if cpu0 is None and _phase[0] == 1:
            cpu0 = thread_time()
    report["cpu_s"] = thread_time() - (cpu0 if cpu0 is not None else
                                       thread_time())
    return x


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    directory = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    start_path = os.path.join(directory, "start")
    stop_path = os.path.join(directory, "stop")
    counter_path = os.path.join(directory, "counter")
    reports, threads = [], []
    for _ in range(count):
        report = {}
        t = threading.Thread(target=spin_worker, args=(report,))
        t.daemon = True
        t.start()
        reports.append(report)
        threads.append(t)
    for t, report in zip(threads, reports):
        report["native_id"] = t.native_id
    counter = 0
    wall0 = 0.0
    give_up = time.time() + 600
    while time.time() < give_up:
        counter += 1
        write_atomically(counter_path, "%d\n" % counter)
        if counter == 1:
            write_atomically(os.path.join(directory, "ready"),
                             "%d\n" % os.getpid())
        if _phase[0] == 0 and os.path.exists(start_path):
            wall0 = time.time()
            _phase[0] = 1
        if _phase[0] == 1 and (os.path.exists(stop_path) or
                               time.time() - wall0 > 60):
            break
        time.sleep(0.010)
    _phase[0] = 2
    for t in threads:
        t.join()
    truth = {"pid": os.getpid(), "window_s": time.time() - wall0,
             "workers": reports}
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


if __name__ == "__main__":
    main()
