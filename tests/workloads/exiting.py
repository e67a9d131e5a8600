"""A target that exits on its own while a profiler may be reading it.

Usage: python exiting.py READY_FILE MIN_DELAY_MS MAX_DELAY_MS

Builds a few threads with stacks worth reading, writes READY_FILE atomically,
then exits (os._exit, no interpreter teardown) after a random delay in
[MIN_DELAY_MS, MAX_DELAY_MS] milliseconds, so that a dump started right after
READY_FILE appears finds the target anywhere between alive and gone. With a
large delay it serves as a plain long-running Python target.
Valid Python 2.7 and 3.x.
"""

import os
import random
import sys
import threading
import time


def _nest(n, event):
    if n > 0:
        return _nest(n - 1, event)
    event.wait()


def main():
    ready_path = sys.argv[1]
    min_delay_ms, max_delay_ms = float(sys.argv[2]), float(sys.argv[3])
    release = threading.Event()
    for _ in range(4):
        t = threading.Thread(target=_nest, args=(60, release))
        t.daemon = True
        t.start()
    tmp = ready_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(tmp, ready_path)
    time.sleep(random.uniform(min_delay_ms, max_delay_ms) / 1000.0)
    os._exit(0)


if __name__ == "__main__":
    main()
