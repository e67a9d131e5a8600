"""A small calendar service used by scripts/demo.sh.

It serves HTTP on 127.0.0.1: GET /fun?day=N returns a "fun notification" for
that day of the month (Fizz, Buzz or FizzBuzz; on days divisible by 7 a
Fibonacci number: small in version 1, the day's own in version 2), computed
by a few layers of
ordinary Python so that a profile has something to show. Worker threads each
have an OS-level name, as many servers set.
"""
import ctypes
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = 1


def set_os_thread_name(name):
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


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


def main():
    global VERSION
    port_file = sys.argv[1]
    VERSION = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    server = Server(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
