"""A multiprocessing pool (start method from argv[1]: fork or spawn) of 3
workers running burn_task; writes the pids that ran tasks to argv[2]."""
import json
import multiprocessing
import os
import sys
import time


def burn_task(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return os.getpid()


def main():
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(3) as pool:
        pids = pool.map(burn_task, [0.25] * 18, chunksize=1)
    with open(sys.argv[2] + ".tmp", "w") as f:
        json.dump(sorted(set(pids)), f)
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])


if __name__ == "__main__":
    main()
