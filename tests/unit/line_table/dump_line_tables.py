"""Dumps line tables and the interpreter's own line for every offset.

Runs under every interpreter from 2.7 to 3.13 (so: Python 2.7 syntax that
3.x also accepts). For each code object of a corpus (stdlib modules plus
synthetic sources built to stress the line table formats) it prints:

  V <major.minor.micro> <format>
  C <name> <co_firstlineno> <code length> <step> <table hex or ->
  E <line>x<count> ...     the expected line at offsets 0, step, 2*step, ...
  X <name> <offset> <expected> <PyCode_Addr2Line>   (a disagreement)
  A <offsets checked against PyCode_Addr2Line>
  Z <code objects>

The expected lines come from the interpreter's Python-level view (co_lines()
on 3.10+, dis.findlinestarts() before); when ctypes is present every offset
is also checked against the C function PyCode_Addr2Line, the function the
profiler must agree with, and a disagreement is reported as an X line.
"""
from __future__ import print_function

import binascii
import dis
import os
import sys
import types

VERSION = sys.version_info[:2]

if VERSION < (3, 0):
    FORMAT = "lnotab27"
elif VERSION < (3, 10):
    FORMAT = "lnotab36"
elif VERSION < (3, 11):
    FORMAT = "linetable310"
else:
    FORMAT = "locations311"

# 2.7 instructions are 1 or 3 bytes; from 3.6 on every instruction is a
# 2-byte code unit, so only even offsets are instruction offsets.
STEP = 1 if VERSION < (3, 0) else 2


def addr2line_function():
    try:
        import ctypes
        fn = ctypes.pythonapi.PyCode_Addr2Line
    except (ImportError, AttributeError):
        return None
    fn.argtypes = [ctypes.py_object, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def line_table_bytes(code):
    if VERSION >= (3, 10):
        return code.co_linetable
    return code.co_lnotab


def expected_lines(code):
    """The line at each byte offset of the bytecode, as Python reports it."""
    length = len(code.co_code)
    if VERSION >= (3, 10):
        lines = [-1] * length
        for start, end, line in code.co_lines():
            for offset in range(max(start, 0), min(end, length)):
                lines[offset] = -1 if line is None else line
        return lines
    # Before 3.10 an offset's line is the line of the last line start at or
    # before it, and co_firstlineno before the first start; this is what
    # PyCode_Addr2Line of those versions computes.
    lines = [code.co_firstlineno] * length
    starts = sorted(dis.findlinestarts(code))
    for index, (start, line) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else length
        for offset in range(start, min(end, length)):
            lines[offset] = line
    return lines


def walk_code(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for nested in walk_code(const):
                yield nested


def stdlib_sources():
    import argparse
    import difflib
    import inspect
    import json.decoder
    import string
    import tarfile
    import textwrap
    for module in (os, inspect, argparse, json.decoder, difflib, string,
                   textwrap, tarfile):
        path = module.__file__
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        with open(path, "rb") as f:
            yield os.path.basename(path), f.read()


def synthetic_sources():
    """Sources whose line tables need the long, chained and negative forms."""
    gap = "\n" * 300
    comments = "".join("# comment %d\n" % i for i in range(700))

    # A decorator 300 and 700 lines above its function: the first line of
    # the function is the decorator's (3.8+), so its body is far away.
    yield "far_decorator", (
        "def deco(f):\n    return f\n\n"
        "@deco\n" + gap + "def far():\n    x = 1\n    return x\n\n"
        "@deco\n" + comments + "def farther():\n    return 2\n")

    # A 300-line dict literal whose values run code on every line, and
    # statements after long gaps, forward by > 127, > 255 and > 65535 lines.
    body = "".join("    'k%d': f(%d),\n" % (i, i) for i in range(300))
    yield "big_dict", (
        "def f(x):\n    return x\n"
        "def make():\n    d = {\n" + body + "    }\n"
        + "\n" * 200 + "    a = 1\n" + comments + "    b = a + 1\n"
        + "\n" * 70000 + "    return d, a, b\n"
        "D = make()\n")

    # Backward jumps: loops whose bodies span hundreds of lines jump back to
    # the loop head; a call's arguments far below the callee's name bring
    # the line back up when the call executes.
    yield "backward", (
        "def loops(n):\n"
        "    total = 0\n"
        "    while n > 0:\n"
        "        n -= 1\n" + gap +
        "        total += n\n"
        "    for i in range(3):\n" + comments +
        "        total += i\n"
        "    return total\n"
        "def calls(g):\n"
        "    return g(\n" + gap + "        1,\n" + gap + "        2)\n"
        "def calls_back(g, h):\n"
        "    return g(1,\n" + "\n" * 140 +
        "             h(2),\n" + "\n" * 300 + "             3)\n")

    # More than 255 bytes of bytecode on one line, once in a function and
    # once at module level, and a line wider than 255 columns.
    names = ", ".join("a%d" % i for i in range(200))
    calls = " + ".join("f(%d)" % i for i in range(150))
    yield "long_line", (
        "def f(x):\n    return x\n"
        "def wide(" + names + "):\n"
        "    return [" + names + "]\n"
        "def busy():\n"
        "    return " + calls + "\n"
        "TOTAL = " + calls + "\n")

    # The usual constructs: lambdas, comprehensions, generators, try/except/
    # finally, with, nested functions and closures, while with break and
    # continue, conditional expressions, assert, async def (3.5+ only, so in
    # a separate source).
    yield "constructs", (
        "import contextlib\n"
        "square = lambda x: (x *\n"
        "                    x)\n"
        "def comprehensions(xs):\n"
        "    a = [x for x in xs\n"
        "         if x]\n"
        "    b = {x: y for x, y in zip(xs,\n"
        "                              xs)}\n"
        "    c = {x for x in xs}\n"
        "    d = (x\n"
        "         for x in xs)\n"
        "    return a, b, c, list(d)\n"
        "def gen(n):\n"
        "    i = 0\n"
        "    while True:\n"
        "        if i >= n:\n"
        "            break\n"
        "        i += 1\n"
        "        if i % 2:\n"
        "            continue\n"
        "        yield i\n"
        "def handlers(f):\n"
        "    try:\n"
        "        f()\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
        "    except (KeyError,\n"
        "            IndexError):\n"
        "        pass\n"
        "    else:\n"
        "        return 1\n"
        "    finally:\n"
        "        print('done')\n"
        "    try:\n"
        "        return f()\n"
        "    finally:\n"
        "        f()\n"
        "def withs(path):\n"
        "    with open(path) as a, \\\n"
        "         open(path) as b:\n"
        "        return a.read() + b.read()\n"
        "    with contextlib.suppress(OSError):\n"
        "        pass\n"
        "def outer(x):\n"
        "    def middle(y):\n"
        "        def inner(z):\n"
        "            return (x +\n"
        "                    y +\n"
        "                    z)\n"
        "        return inner\n"
        "    return middle\n"
        "class K(object):\n"
        "    attr = [i for i in range(3)]\n"
        "    def method(self, v):\n"
        "        assert v, 'needs v'\n"
        "        return (v if v > 0\n"
        "                else -v)\n")

    if VERSION >= (3, 6):
        yield "async", (
            "async def agen(xs):\n"
            "    for x in xs:\n"
            "        yield x\n"
            "async def coro(xs):\n"
            "    async for x in agen(xs):\n"
            "        await x\n"
            "    return [y async for y in agen(xs)]\n")

    # Many short functions at large line numbers: 3.11+ encodes their first
    # line deltas with the long or no-column forms.
    yield "many_small", "".join(
        "def s%d(a):\n    return a + %d\n" % (i, i) + "\n" * (i * 37)
        for i in range(40))


def compile_corpus():
    sources = list(synthetic_sources())
    sources.extend(stdlib_sources())
    for name, source in sources:
        # dont_inherit: this file's __future__ flags must not change how the
        # stdlib sources compile (print is a statement in 2.7's modules).
        code = compile(source, name, "exec", 0, True)
        for nested in walk_code(code):
            yield name, nested


def run_length(lines):
    out = []
    previous = None
    count = 0
    for line in lines:
        if line == previous:
            count += 1
            continue
        if count:
            out.append("%dx%d" % (previous, count))
        previous = line
        count = 1
    if count:
        out.append("%dx%d" % (previous, count))
    return " ".join(out)


def main():
    addr2line = addr2line_function()
    write = sys.stdout.write
    write("V %d.%d.%d %s\n" % (sys.version_info[0], sys.version_info[1],
                               sys.version_info[2], FORMAT))
    checked = 0
    count = 0
    for source_name, code in compile_corpus():
        name = "%s:%s:%d" % (source_name, code.co_name, code.co_firstlineno)
        table = line_table_bytes(code)
        hex_table = binascii.hexlify(table).decode("ascii") if table else "-"
        lines = expected_lines(code)
        write("C %s %d %d %d %s\n" % (name, code.co_firstlineno, len(lines),
                                      STEP, hex_table))
        write("E %s\n" % run_length(lines[::STEP]))
        if addr2line is not None:
            for offset in range(0, len(lines), STEP):
                got = addr2line(code, offset)
                checked += 1
                if got != lines[offset]:
                    write("X %s %d %d %d\n" % (name, offset, lines[offset],
                                               got))
        count += 1
    write("A %d\n" % checked)
    write("Z %d\n" % count)


if __name__ == "__main__":
    main()
