"""Builds a known tree of asyncio tasks, writes its own truth, holds still.

usage: async_tree.py TRUTH_JSON [--pure-python]

--pure-python: asyncio without its C module _asyncio (blocked before the
import), so that tasks and futures are asyncio.tasks._PyTask and
asyncio.futures._PyFuture.

The tree: the main task (unnamed: "Task-1") awaits a `server` task, which
runs a TaskGroup of three `request-N` tasks (handle -> load_profile ->
fetch_user -> asyncio.sleep), a `lock-holder` and a `lock-waiter` (waiting
on an asyncio.Lock), a `gatherer` awaiting asyncio.gather of two
coroutines (wrapped in unnamed tasks), `thread-future` awaiting a future
that a thread of the default executor would set, a `chain-outer` ->
`chain-inner` pair (create_task, then await), tasks awaiting others
through asyncio's helpers (`shield-caller` awaits asyncio.shield() of its
`shielded` task, `wait-caller` asyncio.wait() of `wait-a` and `wait-b`,
`wait-for-caller` asyncio.wait_for() of its `wait-for-target` task, and
`wait-for-coro` asyncio.wait_for() of a coroutine, which 3.11 wraps in an
unnamed task of its own and 3.12+ runs inline), and `cycle-a` / `cycle-b`
awaiting each other (a deadlock). Once every task is suspended where it
should be, the `holder` task calls hold_still() synchronously: the event
loop is then frozen, and hold_still writes, for every task of
asyncio.all_tasks(), its id, name, state, coroutine chain (innermost first:
the cr_await chain of get_coro(), or for the running task its frames down to
its coroutine's) and the ids of the tasks awaiting it (3.14+: what
asyncio.capture_call_graph reads; before, from the tree's structure: a
TaskGroup's parent task, a task whose _fut_waiter is this task or a gather
over it, the task that shielded it, and a task whose wait() or wait_for()
coroutine holds it in its own locals `fs` or `fut`), then blocks forever in
Event.wait().
"""

import sys

if "--pure-python" in sys.argv[2:]:
    sys.modules["_asyncio"] = None  # ImportError for `import _asyncio`

import asyncio
import json
import os
import threading

TRUTH = sys.argv[1]
STOP = threading.Event()  # never set: the executor thread and hold_still


def frame_info(f):
    code = f.f_code
    return {
        "function": code.co_name,
        "qualname": getattr(code, "co_qualname", code.co_name),
        "file": code.co_filename,
        "line": f.f_lineno,
    }


def coroutine_chain(coro):
    """Innermost first: the task's coroutine, what it awaits, and so on."""
    frames = []
    seen = set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        if asyncio.iscoroutine(coro) and hasattr(coro, "cr_frame"):
            frame, coro_next = coro.cr_frame, coro.cr_await
        elif hasattr(coro, "gi_frame"):
            frame, coro_next = coro.gi_frame, coro.gi_yieldfrom
        else:
            break
        if frame is None:
            break
        frames.append(frame_info(frame))
        coro = coro_next
    frames.reverse()
    return frames


def running_chain(task):
    """The running task's frames, innermost first, down to its coroutine."""
    bottom = task.get_coro().cr_frame
    frames = []
    f = sys._getframe(1)
    while f is not None:
        frames.append(frame_info(f))
        if f is bottom:
            return frames
        f = f.f_back
    raise RuntimeError("the running task's coroutine is not on the stack")


TASK_GROUPS = []  # every TaskGroup the tree opened


SHIELDS = []  # (task awaiting through asyncio.shield, the shielded task)


def waited_in_asyncio(task):
    """What `task` waits on inside asyncio.wait() / wait_for(): the locals
    `fs` of tasks._wait and `fut` of tasks.wait_for, read from the frames of
    its coroutine chain (3.11's wait_for holds there the task it wrapped the
    coroutine in)."""
    waited = []
    coro, seen = task.get_coro(), set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        if hasattr(coro, "cr_frame"):
            frame, coro_next = coro.cr_frame, coro.cr_await
        elif hasattr(coro, "gi_frame"):
            frame, coro_next = coro.gi_frame, coro.gi_yieldfrom
        else:
            break
        if frame is None:
            break
        if frame.f_code is asyncio.tasks._wait.__code__:
            waited.extend(frame.f_locals["fs"])
        elif frame.f_code is asyncio.tasks.wait_for.__code__:
            waited.append(frame.f_locals["fut"])
        coro = coro_next
    return waited


def awaiters(task, all_tasks):
    # 3.14+: what asyncio.capture_call_graph reads for a future's awaiters
    # (it recurses without end on the cycle-a/cycle-b ring, hence not it).
    if hasattr(asyncio, "capture_call_graph"):
        by = task._asyncio_awaited_by or ()
        return sorted(id(f) for f in by if f in all_tasks)
    # Before 3.14 asyncio does not record awaiters: derived from the tree's
    # own structure, as 3.14 records them. A TaskGroup's children are
    # awaited by the task that opened the group; a task awaiting another
    # directly, or a gather() over it, waits on it (Task._fut_waiter); a
    # task that shielded another, or waits on it in asyncio.wait() or
    # wait_for(), awaits it.
    by = set()
    for group in TASK_GROUPS:
        if task in group._tasks:
            by.add(group._parent_task)
    for caller, shielded in SHIELDS:
        if shielded is task:
            by.add(caller)
    for other in all_tasks:
        waiter = other._fut_waiter
        if waiter is task:
            by.add(other)
        elif (isinstance(waiter, asyncio.tasks._GatheringFuture) and
              task in waiter._children):
            by.add(other)
        elif any(w is task for w in waited_in_asyncio(other)):
            by.add(other)
    return sorted(id(f) for f in by if f in all_tasks)


def hold_still():
    current = asyncio.current_task()
    tasks = asyncio.all_tasks()
    truth = {"pid": os.getpid(), "thread_id": threading.get_ident(),
             "python_version": "%d.%d.%d" % sys.version_info[:3],
             "tasks": []}
    for t in tasks:
        running = t is current
        truth["tasks"].append({
            "id": id(t),
            "name": t.get_name(),
            "state": "running" if running else "pending",
            "frames": running_chain(t) if running else
                      coroutine_chain(t.get_coro()),
            "awaited_by": awaiters(t, tasks),
        })
    # The running task is dumped blocked in STOP.wait() below: its
    # innermost frame here is on that line (Event.wait's frames come on top).
    with open(__file__) as f:
        wait_line = 1 + [i for i, line in enumerate(f)
                         if line.strip() == "STOP.wait()  # HOLD"][0]
    for t in truth["tasks"]:
        if t["state"] == "running":
            assert t["frames"][0]["function"] == "hold_still"
            t["frames"][0]["line"] = wait_line
    tmp = TRUTH + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f)
    os.rename(tmp, TRUTH)
    # The loop holds still from here on.
    STOP.wait()  # HOLD


async def fetch_user(n):
    await asyncio.sleep(3600 + n)


async def load_profile(n):
    await fetch_user(n)


async def handle(n):
    await load_profile(n)


async def lock_holder(lock, locked):
    async with lock:
        locked.set()
        await asyncio.sleep(3600)


async def lock_waiter(lock, locked):
    await locked.wait()
    async with lock:
        pass


async def child(n):
    await asyncio.sleep(3600 + n)


async def gatherer():
    await asyncio.gather(child(1), child(2))


async def thread_future():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, STOP.wait)


async def chain_inner():
    await asyncio.sleep(3600)


async def chain_outer():
    inner = asyncio.create_task(chain_inner(), name="chain-inner")
    await inner


async def shield_caller():
    inner = asyncio.create_task(chain_inner(), name="shielded")
    SHIELDS.append((asyncio.current_task(), inner))
    await asyncio.shield(inner)


async def wait_caller():
    a = asyncio.create_task(child(3), name="wait-a")
    b = asyncio.create_task(child(4), name="wait-b")
    await asyncio.wait([a, b])


async def wait_for_caller():
    target = asyncio.create_task(chain_inner(), name="wait-for-target")
    await asyncio.wait_for(target, 3600)


async def wait_for_coro():
    await asyncio.wait_for(fetch_user(7), 3600)


CYCLE = {}


async def cycle_member(other):
    while other not in CYCLE:
        await asyncio.sleep(0.01)
    await CYCLE[other]


async def server():
    lock = asyncio.Lock()
    locked = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        TASK_GROUPS.append(tg)
        for n in range(3):
            tg.create_task(handle(n), name="request-%d" % n)
        tg.create_task(lock_holder(lock, locked), name="lock-holder")
        tg.create_task(lock_waiter(lock, locked), name="lock-waiter")
        tg.create_task(gatherer(), name="gatherer")
        tg.create_task(thread_future(), name="thread-future")
        tg.create_task(chain_outer(), name="chain-outer")
        tg.create_task(shield_caller(), name="shield-caller")
        tg.create_task(wait_caller(), name="wait-caller")
        tg.create_task(wait_for_caller(), name="wait-for-caller")
        tg.create_task(wait_for_coro(), name="wait-for-coro")


async def holder():
    # Suspended everywhere: every other task has run up to its await.
    for _ in range(50):
        await asyncio.sleep(0.01)
    try:
        hold_still()
    except BaseException:
        # A truth that cannot be written ends the run loudly (the test
        # prints this log), never a silently missing task.
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


async def main():
    srv = asyncio.create_task(server(), name="server")
    CYCLE["a"] = asyncio.create_task(cycle_member("b"), name="cycle-a")
    CYCLE["b"] = asyncio.create_task(cycle_member("a"), name="cycle-b")
    asyncio.create_task(holder(), name="holder")
    await srv


asyncio.run(main())
