"""One arm of an interleaved recording (`pystrobe record --base-command`),
for the test of the order the arms run in: appends "ARM PID TIME" to the log
at its start (one write of one line, so arms that follow one another append
whole lines), then does a fixed amount of work for the sampler to see.

    gate_arms.py --arm base|new --log FILE [--work N] [--exit CODE]
"""
import argparse
import os
import time


def spin(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


def work(n):
    for _ in range(n):
        spin(2000)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arm", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--work", type=int, default=300)
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()
    line = "%s %d %.6f\n" % (args.arm, os.getpid(), time.time())
    fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    work(args.work)
    raise SystemExit(args.exit)


if __name__ == "__main__":
    main()
