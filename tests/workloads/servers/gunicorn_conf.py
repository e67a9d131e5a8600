"""gunicorn settings for the tests: each worker touches
$PYSTROBE_APP_DIR/ready.<pid> once it serves, and writes its times when it
exits (worker_exit runs in the worker, also when max_requests recycles it).
"""
import os


def post_worker_init(worker):
    folder = os.environ.get("PYSTROBE_APP_DIR")
    if folder:
        open(os.path.join(folder, "ready.%d" % os.getpid()), "w").close()


def worker_exit(server, worker):
    import app

    app.dump_times()
