"""An asyncio service whose handler burns a known share of its time.

usage: async_record.py DIR [--pure-python]

--pure-python: asyncio without its C module _asyncio (pure-Python tasks).

The main task awaits a `server` task, which runs a TaskGroup holding one
`request` task; that task loops over handle(), which awaits burn() (pure
Python spinning for a random 4-8 ms of this thread's CPU time, no await
inside) and then nap() (asyncio.sleep for a random 2-6 ms). The workload
measures itself over the recorded window: this thread's CPU time, the CPU
and wall time spent inside burn(), the wall time nap() waits, and the
window's wall time.

Protocol, through files in DIR (as the target sees it):
- DIR/ready  written once the loop runs;
- DIR/start  created by the test before it starts the profiler: counters
             are zeroed and measuring starts;
- DIR/stop   created by the test once the profiler is done: DIR/truth.json
             is written ({"window_s", "total_cpu_s", "burn_cpu_s",
             "burn_wall_s", "nap_wall_s"}) and the workload exits 0. It
             exits by itself after 10 minutes.
"""

import sys

if "--pure-python" in sys.argv[2:]:
    sys.modules["_asyncio"] = None  # ImportError for `import _asyncio`

import asyncio
import json
import os
import random
import time

DIR = sys.argv[1]
thread_time = time.thread_time
STATE = {"measuring": False, "burn_cpu": 0.0, "burn_wall": 0.0,
         "nap_wall": 0.0}
RNG = random.Random()


async def burn():
    seconds = RNG.uniform(0.004, 0.008)
    cpu0, wall0 = thread_time(), time.monotonic()
    end = cpu0 + seconds
    x = 0
    while thread_time() < end:
        x += 1
    if STATE["measuring"]:
        STATE["burn_cpu"] += thread_time() - cpu0
        STATE["burn_wall"] += time.monotonic() - wall0
    return x


async def nap():
    wall0 = time.monotonic()
    await asyncio.sleep(RNG.uniform(0.002, 0.006))
    if STATE["measuring"]:
        STATE["nap_wall"] += time.monotonic() - wall0


async def handle():
    await burn()
    await nap()


async def request_loop():
    while True:
        await handle()


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


async def control(server_task):
    write_atomically(os.path.join(DIR, "ready"), "1")
    give_up = time.monotonic() + 600
    while not os.path.exists(os.path.join(DIR, "start")):
        await asyncio.sleep(0.01)
    STATE["measuring"] = True
    cpu0, wall0 = thread_time(), time.monotonic()
    while not os.path.exists(os.path.join(DIR, "stop")):
        if time.monotonic() > give_up:
            break
        await asyncio.sleep(0.01)
    STATE["measuring"] = False
    truth = {"window_s": time.monotonic() - wall0,
             "total_cpu_s": thread_time() - cpu0,
             "burn_cpu_s": STATE["burn_cpu"],
             "burn_wall_s": STATE["burn_wall"],
             "nap_wall_s": STATE["nap_wall"]}
    write_atomically(os.path.join(DIR, "truth.json"), json.dumps(truth))
    server_task.cancel()


async def server():
    async with asyncio.TaskGroup() as tg:
        tg.create_task(request_loop(), name="request")


async def main():
    srv = asyncio.create_task(server(), name="server")
    asyncio.create_task(control(srv), name="control")
    try:
        await srv
    except asyncio.CancelledError:
        pass


asyncio.run(main())
