"""A target with one Python thread parked at a fixed stack depth.

usage: deep.py DEPTH block|spin READY_FILE

The main thread recurses until the stack holds DEPTH Python frames (the
module frame included), writes its PID and the depth to READY_FILE, then
either blocks in a C call (block: the thread sleeps in the kernel, its stack
never changes) or spins in a Python loop (spin: the thread runs on a CPU, only
the innermost frame's instruction pointer moves). It runs until killed.
"""
import os
import sys
import time


def ready(path, depth):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (os.getpid(), depth))
    os.rename(tmp, path)


def park(mode, path, depth):
    ready(path, depth)
    if mode == "block":
        while True:
            time.sleep(3600)
    x = 0
    while True:
        x += 1


def recurse(n, mode, path, depth):
    if n <= 1:
        park(mode, path, depth)
    else:
        recurse(n - 1, mode, path, depth)


def main():
    depth, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sys.setrecursionlimit(max(1000, depth + 100))
    # Frames: <module>, main, recurse x (depth - 3), park.
    recurse(depth - 3, mode, path, depth)


if __name__ == "__main__":
    main()
