"""An aiohttp application for gunicorn's pre-forking master, whose workers
come and go, for tests/integration/record_async_prefork_test.cc.

usage: PYSTROBE_APP_DIR=DIR gunicorn --worker-class aiohttp.GunicornWebWorker
           --chdir tests/workloads/async_service ... prefork_app:make_app

GET /slow runs slow_endpoint(): a little pure-Python CPU (render, 0.5-1.5
ms), then `await slow_backend()` (asyncio.sleep for 6-14 ms: the awaited
coroutine whose share of the handler's wall time is measured), then
`await fetch_cache()` (asyncio.sleep for 2-6 ms). GET /cpu runs
cpu_endpoint(): crunch() burns 2 ms of thread CPU and awaits nothing.

While a handler runs, its task is named "slow-request" or "cpu-request"
(set_name on entry, the previous name back on exit), so a profile's `task`
label marks exactly the handler's time.

Each worker writes its own truth into DIR (wall-clock stamps are
time.time(), the clock pystrobe stamps its profiles with):
- DIR/ready.PID       once the worker's application is set up: the time;
- DIR/truth.PID.json  when the worker shuts down (aiohttp's on_cleanup,
                      after its last request), recycled by --max-requests
                      or stopped by the master: {"pid", "started", "ended",
                      "requests" (both endpoints), "cpu_requests",
                      "slow": [[t0, q0, q1, t1], ...]}, one entry per /slow
                      request: the handler's start, `await slow_backend()`'s
                      start and end, the handler's end.
A worker that is killed, or hangs, writes no truth file.
"""

import asyncio
import json
import os
import random
import time

from aiohttp import web

DIR = os.environ["PYSTROBE_APP_DIR"]
RNG = random.Random()
wall = time.time
thread_time = time.thread_time
STATE = {"started": 0.0, "requests": 0, "cpu_requests": 0, "slow": []}


def spin(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def render():
    return spin(RNG.uniform(0.0005, 0.0015))


def crunch():
    return spin(0.002)


async def slow_backend():
    await asyncio.sleep(RNG.uniform(0.006, 0.014))
    return [("row", 1)]


async def fetch_cache():
    await asyncio.sleep(RNG.uniform(0.002, 0.006))
    return "cached"


async def slow_endpoint(request):
    task = asyncio.current_task()
    previous = task.get_name()
    task.set_name("slow-request")
    t0 = wall()
    try:
        render()
        q0 = wall()
        rows = await slow_backend()
        q1 = wall()
        cached = await fetch_cache()
        body = "%d rows, %s\n" % (len(rows), cached)
    finally:
        t1 = wall()
        task.set_name(previous)
    STATE["slow"].append((t0, q0, q1, t1))
    STATE["requests"] += 1
    return web.Response(text=body)


async def cpu_endpoint(request):
    task = asyncio.current_task()
    previous = task.get_name()
    task.set_name("cpu-request")
    try:
        n = crunch()
    finally:
        task.set_name(previous)
    STATE["cpu_requests"] += 1
    STATE["requests"] += 1
    return web.Response(text="cpu %d\n" % n)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def on_startup(app):
    STATE["started"] = wall()
    write_atomically(os.path.join(DIR, "ready.%d" % os.getpid()),
                     repr(STATE["started"]))


async def on_cleanup(app):
    truth = dict(STATE, pid=os.getpid(), ended=wall())
    write_atomically(os.path.join(DIR, "truth.%d.json" % os.getpid()),
                     json.dumps(truth))


async def make_app():
    app = web.Application()
    app.router.add_get("/slow", slow_endpoint)
    app.router.add_get("/cpu", cpu_endpoint)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
