"""A Python process that reports its own stack, for the package tests.

Usage: python3 stack_target.py TRUTH_FILE

outer() -> middle() -> inner() writes the stack it sees of itself
(traceback.extract_stack, innermost first, one "function file:line" a line)
to TRUTH_FILE atomically, then sleeps forever on the line it reported, so
that `pystrobe dump --pid` from outside must print the same frames.
"""

import os
import sys
import time
import traceback


def report(path):
    frames = traceback.extract_stack(sys._getframe(1))
    lines = ["%s %s:%d" % (f.name, f.filename, f.lineno) for f in reversed(frames)]
    with open(path + ".tmp", "w") as out:
        out.write("\n".join(lines) + "\n")
    os.rename(path + ".tmp", path)


def inner(path):
    report(path); time.sleep(1e6)  # noqa: E702 (same line: the dump's line)


def middle(path):
    inner(path)


def outer(path):
    middle(path)


if __name__ == "__main__":
    outer(os.path.abspath(sys.argv[1]))
