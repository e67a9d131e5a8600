"""A Flask app for `record --subprocesses` tests under gunicorn.

Two endpoints burn CPU in pure Python: /slow in slow_work (6 ms of thread
CPU), /fast in fast_work (2 ms). Each worker measures the CPU time it spent
in each function (time.thread_time) and writes it at exit, with its pid, to
$PYSTROBE_APP_DIR/times.<pid>.json: the ground truth a profile of the
workers is compared with.
"""
import atexit
import json
import os
import time

from flask import Flask

app = Flask(__name__)
_times = {"slow_work": 0.0, "fast_work": 0.0, "requests": 0}


def _spin(seconds):
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def slow_work():
    start = time.thread_time()
    n = _spin(0.006)
    _times["slow_work"] += time.thread_time() - start
    return n


def fast_work():
    start = time.thread_time()
    n = _spin(0.002)
    _times["fast_work"] += time.thread_time() - start
    return n


@app.route("/slow")
def slow():
    _times["requests"] += 1
    return "slow %d\n" % slow_work()


@app.route("/fast")
def fast():
    _times["requests"] += 1
    return "fast %d\n" % fast_work()


def dump_times():
    folder = os.environ.get("PYSTROBE_APP_DIR")
    if not folder or _times["requests"] == 0:
        return
    path = os.path.join(folder, "times.%d.json" % os.getpid())
    with open(path + ".tmp", "w") as f:
        json.dump(dict(_times, pid=os.getpid()), f)
    os.rename(path + ".tmp", path)


atexit.register(dump_times)
