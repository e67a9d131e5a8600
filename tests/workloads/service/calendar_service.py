"""A small calendar service used by scripts/demo.sh.

It serves HTTP on 127.0.0.1: GET /fun?day=N returns a "fun notification" for
that day of the month (Fizz, Buzz or FizzBuzz; on days divisible by 7 a
Fibonacci number: small in version 1, the day's own in version 2), computed
by a few layers of ordinary Python so that a profile has something to show.

    calendar_service.py PORT_FILE [VERSION] [--workers N] [--exit-with-parent]

It writes its port to PORT_FILE once it accepts connections.

By default (--workers 3) it is a pre-forking server, as gunicorn's sync
workers: the master binds the listening socket and forks N workers that
accept on it and serve one request at a time; the master only supervises: it forks a new worker for
one that died, and on SIGTERM (or SIGINT) it stops every worker, waits for
them, and exits. A worker also dies with its master if the master is
killed outright (PR_SET_PDEATHSIG), so no worker is ever left behind.
Every process names its main thread (calendar-master, calendar-worker).
--exit-with-parent: the master gets SIGTERM (and so stops) when the process
that started it exits, however it exits (scripts/demo.sh killed by SIGKILL).

With --workers 0 it is one process serving each request in a thread of its
own; the threads each have an OS-level name, as many servers set.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = 1

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1


def prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent():
    """SIGTERM when the parent exits; False if it is already gone."""
    parent = os.getppid()
    prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    return os.getppid() == parent


def set_os_thread_name(name):
    prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))


def fizzbuzz(day):
    if day % 15 == 0:
        return "FizzBuzz"
    if day % 3 == 0:
        return "Fizz"
    if day % 5 == 0:
        return "Buzz"
    return str(day)


def fibonacci(n):
    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)


def fun_notification(day):
    if day % 7 == 0:
        # Version 1: a small Fibonacci number for days divisible by 7 (a few
        # hundred calls). Version 2: the day's own, by the same naive
        # recursion (up to fibonacci(28): hundreds of thousands of calls).
        n = day if VERSION >= 2 else 10 + day // 7
        return "Fibonacci says %d" % fibonacci(n)
    return fizzbuzz(day)


def render_month(days):
    return [{"day": d, "fun": fun_notification(d)} for d in days]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path != "/fun":
            self.send_error(404)
            return
        day = int(query.get("day", ["1"])[0])
        body = json.dumps(render_month([day])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def process_request_thread(self, request, client_address):
        set_os_thread_name("worker")
        super().process_request_thread(request, client_address)


def write_port(port_file, port):
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)


def serve_single(port_file):
    server = Server(("127.0.0.1", 0), Handler)
    write_port(port_file, server.server_address[1])
    server.serve_forever()


class WorkerServer(HTTPServer):
    """Serves requests accepted on a socket the master bound."""

    def __init__(self, listener):
        super().__init__(listener.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener


def worker_main(listener, master_pid):
    # Die with the master, whatever kills it; it may already be gone.
    if not die_with_parent() or os.getppid() != master_pid:
        os._exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    set_os_thread_name("calendar-worker")
    server = WorkerServer(listener)
    while True:
        try:
            request, address = listener.accept()
        except OSError:
            continue
        # One request at a time, as a sync worker: handled, then closed.
        try:
            server.process_request(request, address)
        except Exception:
            server.handle_error(request, address)
            server.shutdown_request(request)


class Master:
    def __init__(self, listener, workers):
        self.listener = listener
        self.count = workers
        self.workers = set()
        self.stopping = False
        self.pid = os.getpid()

    def spawn(self):
        # Signals wait until the new worker is in self.workers, so a stop
        # never misses one.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    worker_main(self.listener, self.pid)
                finally:
                    os._exit(1)
            self.workers.add(pid)
        finally:
            signal.pthread_sigmask(
                signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})

    def stop(self, signum, frame):
        self.stopping = True
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self, port_file, exit_with_parent):
        signal.signal(signal.SIGTERM, self.stop)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self.stop)
        if exit_with_parent and not die_with_parent():
            return
        set_os_thread_name("calendar-master")
        for _ in range(self.count):
            if self.stopping:
                return
            self.spawn()
        write_port(port_file, self.listener.getsockname()[1])
        while self.workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.workers:
                continue
            self.workers.discard(pid)
            if self.stopping:
                continue
            how = ("killed by signal %d" % os.WTERMSIG(status)
                   if os.WIFSIGNALED(status)
                   else "exited with status %d" % os.WEXITSTATUS(status))
            print("calendar master %d: worker %d %s, forking another"
                  % (self.pid, pid, how), file=sys.stderr)
            time.sleep(0.1)  # no fork storm if workers die at once
            if not self.stopping:
                self.spawn()


def serve_forked(port_file, workers, exit_with_parent):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    Master(listener, workers).run(port_file, exit_with_parent)


def main():
    global VERSION
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port_file")
    parser.add_argument("version", nargs="?", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3,
                        help="pre-fork N sync workers (default 3); 0: one "
                        "threaded process")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started it exits")
    args = parser.parse_args()
    if args.workers < 0:
        parser.error("--workers must be >= 0")
    VERSION = args.version
    if args.workers:
        serve_forked(args.port_file, args.workers, args.exit_with_parent)
    else:
        if not args.exit_with_parent or die_with_parent():
            serve_single(args.port_file)


if __name__ == "__main__":
    main()
