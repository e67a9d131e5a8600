"""Workload for `pystrobe top --subprocesses` (tests/integration/top_test.cc).

Usage: python top_tree.py DIR

The parent sleeps in parent_waits_for_children; its children spin in
hot_child_for_top. The first child is forked by multiprocessing at start;
the second is started with subprocess (a new interpreter running this file)
once DIR/more exists, so it appears while top runs. The parent writes the
children's pids to DIR/children (a JSON list, atomically) each time one
starts, then DIR/ready after the first. Children exit when the parent does
(they watch their parent pid); everything ends after 10 minutes.
"""

import json
import multiprocessing
import os
import subprocess
import sys
import time

GIVE_UP_S = 600


def hot_child_for_top(parent):
    end = time.time() + GIVE_UP_S
    n = 0
    while time.time() < end and os.getppid() == parent:
        n += 1
    return n


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def parent_waits_for_children(directory, pids, started):
    give_up = time.time() + GIVE_UP_S
    while time.time() < give_up:
        if started is None and os.path.exists(os.path.join(directory, "more")):
            started = subprocess.Popen(
                [sys.executable, "-S", "-E", os.path.abspath(__file__),
                 "child", str(os.getpid())])
            pids.append(started.pid)
            write_atomically(os.path.join(directory, "children"),
                             json.dumps(pids))
        time.sleep(0.05)


def main():
    if sys.argv[1] == "child":
        hot_child_for_top(int(sys.argv[2]))
        return
    directory = sys.argv[1]
    ctx = multiprocessing.get_context("fork")
    first = ctx.Process(target=hot_child_for_top, args=(os.getpid(),),
                        daemon=True)
    first.start()
    pids = [first.pid]
    write_atomically(os.path.join(directory, "children"), json.dumps(pids))
    write_atomically(os.path.join(directory, "ready"), "%d\n" % os.getpid())
    parent_waits_for_children(directory, pids, None)


if __name__ == "__main__":
    main()
