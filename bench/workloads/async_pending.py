"""An asyncio service holding N pending tasks (default 1000) beside one busy
request task, for bench/async_cost.py.

usage: async_pending.py READY_FILE [N]

The N tasks wait in `await asyncio.sleep(3600)` under `idle_handler` (a
three-coroutine chain each); the `request` task loops burn() (pure Python,
2 ms) and asyncio.sleep(1 ms). READY_FILE is written once all tasks exist.
"""

import asyncio
import os
import sys
import time


async def wait_forever():
    await asyncio.sleep(3600)


async def idle_handler():
    await wait_forever()


async def burn():
    end = time.thread_time() + 0.002
    while time.thread_time() < end:
        pass


async def request_loop():
    while True:
        await burn()
        await asyncio.sleep(0.001)


async def main():
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    tasks = [asyncio.create_task(idle_handler(), name="idle-%d" % i)
             for i in range(n)]
    busy = asyncio.create_task(request_loop(), name="request")
    await asyncio.sleep(0.1)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("1")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    await asyncio.gather(busy, *tasks)


asyncio.run(main())
