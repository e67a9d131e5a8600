"""A real asyncio service under load: aiohttp (Debian's python3-aiohttp) with
a fast and a slow endpoint, for tests/integration/record_async_service_test.cc.

usage: app.py DIR

GET /fast answers at once. GET /slow runs slow_endpoint(): it renders a
little (pure Python, 0.5-1.5 ms of CPU), awaits slow_query() (a pool of two
"connections", an asyncio.Semaphore, then asyncio.sleep for 6-14 ms: the
awaited coroutine whose share of the handler's wall time is measured), then
awaits fetch_cache() (asyncio.sleep for 2-6 ms).

While slow_endpoint runs, its task is named "slow-request" (set_name on
entry, the previous name back on exit: whether aiohttp runs each request in
a task of its own or in its connection's, a profile's `task` label then
marks exactly the handler's time). The service measures itself with
time.perf_counter: for each slow request, the handler's wall time and the
time spent inside `await slow_query()`, summed over the requests that end in
a window.

Protocol, through files in DIR (as the service sees it):
- DIR/ready     written once the server listens: its port;
- DIR/start-K   created by the test: window K (1, 2, ...) begins;
- DIR/stop-K    window K ends: DIR/truth-K.json is written
                ({"requests", "handler_s", "query_s", "fast_requests"});
- DIR/exit      the service stops (exit 0). It stops by itself after 10
                minutes.
The control task looks for these files every 5 ms.
"""

import asyncio
import json
import os
import random
import sys
import time

from aiohttp import web

DIR = sys.argv[1]
RNG = random.Random()
perf_counter = time.perf_counter
thread_time = time.thread_time
WINDOW = {"open": False, "requests": 0, "handler_s": 0.0, "query_s": 0.0,
          "fast_requests": 0}
POOL = None  # asyncio.Semaphore(2), made in main() (inside the loop)


def render():
    end = thread_time() + RNG.uniform(0.0005, 0.0015)
    x = 0
    while thread_time() < end:
        x += 1
    return x


async def slow_query():
    async with POOL:
        await asyncio.sleep(RNG.uniform(0.006, 0.014))
    return [("row", 1)]


async def fetch_cache():
    await asyncio.sleep(RNG.uniform(0.002, 0.006))
    return "cached"


async def slow_endpoint(request):
    task = asyncio.current_task()
    previous = task.get_name()
    task.set_name("slow-request")
    t0 = perf_counter()
    try:
        render()
        q0 = perf_counter()
        rows = await slow_query()
        query = perf_counter() - q0
        cached = await fetch_cache()
        body = "%d rows, %s\n" % (len(rows), cached)
    finally:
        handler = perf_counter() - t0
        task.set_name(previous)
    if WINDOW["open"]:
        WINDOW["requests"] += 1
        WINDOW["handler_s"] += handler
        WINDOW["query_s"] += query
    return web.Response(text=body)


async def fast_endpoint(request):
    if WINDOW["open"]:
        WINDOW["fast_requests"] += 1
    return web.Response(text="fast\n")


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def control():
    give_up = time.monotonic() + 600
    k = 1
    while time.monotonic() < give_up:
        if os.path.exists(os.path.join(DIR, "exit")):
            return
        if not WINDOW["open"]:
            if os.path.exists(os.path.join(DIR, "start-%d" % k)):
                WINDOW.update(open=True, requests=0, handler_s=0.0,
                              query_s=0.0, fast_requests=0)
        elif os.path.exists(os.path.join(DIR, "stop-%d" % k)):
            WINDOW["open"] = False
            truth = {key: WINDOW[key] for key in
                     ("requests", "handler_s", "query_s", "fast_requests")}
            write_atomically(os.path.join(DIR, "truth-%d.json" % k),
                             json.dumps(truth))
            k += 1
        await asyncio.sleep(0.005)


async def main():
    global POOL
    POOL = asyncio.Semaphore(2)
    app = web.Application()
    app.router.add_get("/fast", fast_endpoint)
    app.router.add_get("/slow", slow_endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    write_atomically(os.path.join(DIR, "ready"), str(port))
    try:
        await asyncio.create_task(control(), name="control")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
