"""Clock-phased workload for `pystrobe record --every` (window files).

Usage: python record_windows.py DIR

One thread spins, and which function it spins in says what time it is:
during wall-clock second t (Unix time, floor) it runs second_<t % 10>. A
window of a recording that covers [T0, T0 + D] may hold only the functions
of the seconds it covers: a window holding samples of another window's time
(a cumulative or misplaced window) holds more of them.
Writes DIR/ready (atomically) once it runs; runs until killed (at most 10
minutes).
"""

import os
import sys
import time

for _k in range(10):
    exec(compile("def second_%d(end):\n"
                 "    while time.time() < end: pass\n" % _k, __file__, "exec"))


def main():
    directory = sys.argv[1]
    functions = [globals()["second_%d" % k] for k in range(10)]
    ready = False
    give_up = time.time() + 600
    while time.time() < give_up:
        now = time.time()
        # Spin until the next second starts, in slices of 50 ms at most.
        functions[int(now) % 10](min(float(int(now) + 1), now + 0.05))
        if not ready:
            tmp = os.path.join(directory, "ready.tmp")
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.rename(tmp, os.path.join(directory, "ready"))
            ready = True


if __name__ == "__main__":
    main()
