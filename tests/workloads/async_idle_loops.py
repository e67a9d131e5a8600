"""Event loops on three threads, every task waiting: which thread runs each.

usage: async_idle_loops.py TRUTH [--pure-python]

--pure-python: asyncio without its C module _asyncio (pure-Python tasks).

The main thread and two others each run asyncio.run(serve(k)); serve
(named "t{k}-serve") starts two tasks "t{k}-w0" and "t{k}-w1" that sleep
for an hour, and awaits them through gather. A fourth thread, running no
loop, waits until all three loops have parked their tasks, then writes
TRUTH atomically (JSON): {"pid", "python_version", "tasks": [{"id",
"name", "state", "frames": [], "thread_id"}], "loops": [{"loop",
"thread_id", "native_id"}]}, where thread_id is threading.get_ident() of
the thread running the task's loop. Every loop then waits in its selector
with no task to run. Exits by itself after 10 minutes.
"""

import sys

if "--pure-python" in sys.argv[2:]:
    sys.modules["_asyncio"] = None  # ImportError for `import _asyncio`

import asyncio
import json
import os
import queue
import threading
import time

TRUTH = sys.argv[1]
LOOPS = 3
parked = queue.Queue()


async def nap():
    await asyncio.sleep(3600)


async def serve(k):
    asyncio.current_task().set_name(f"t{k}-serve")
    workers = [asyncio.create_task(nap(), name=f"t{k}-w{i}") for i in range(2)]
    await asyncio.sleep(0)  # the workers start and park in their sleep
    loop = asyncio.get_running_loop()
    parked.put({
        "loop": id(loop),
        "thread_id": threading.get_ident(),
        "native_id": threading.get_native_id(),
        "tasks": [(id(t), t.get_name()) for t in asyncio.all_tasks(loop)],
    })
    await asyncio.gather(*workers)


def run_loop(k):
    try:
        asyncio.run(serve(k))
    except BaseException:
        pass


def write_truth():
    loops = [parked.get() for _ in range(LOOPS)]
    tasks = []
    for loop in loops:
        for task_id, name in loop.pop("tasks"):
            tasks.append({"id": task_id, "name": name, "state": "pending",
                          "frames": [], "thread_id": loop["thread_id"]})
    truth = {"pid": os.getpid(),
             "python_version": "%d.%d.%d" % sys.version_info[:3],
             "tasks": tasks, "loops": loops}
    with open(TRUTH + ".tmp", "w") as f:
        json.dump(truth, f)
    os.rename(TRUTH + ".tmp", TRUTH)
    time.sleep(600)
    os._exit(0)


threading.Thread(target=write_truth, name="truth", daemon=True).start()
for k in range(1, LOOPS):
    threading.Thread(target=run_loop, args=(k,), name=f"loop{k}",
                     daemon=True).start()
run_loop(0)
