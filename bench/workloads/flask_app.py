"""A small Flask app for bench/cost_vs_peers.py's gunicorn benchmark.

`/` does a little work in Python (a few frames deep), like a request
handler that renders something; gunicorn serves it with sync workers.
"""
from flask import Flask

app = Flask(__name__)


def render(n):
    return sum(i * i for i in range(n))


def handle():
    return str(render(2000))


@app.route("/")
def index():
    return handle()
