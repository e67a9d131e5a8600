"""Sends requests to the calendar service for a while: load for demo.sh.

    load.py PORT_FILE SECONDS [PAUSE]

One client: GET /fun?day=N for the days 1..31 in turn, one request at a
time, pausing PAUSE seconds (default 0) after each answer.
"""
import sys
import time
import urllib.request

port = int(open(sys.argv[1]).read())
seconds = float(sys.argv[2])
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
deadline = time.time() + seconds
day = 0
while time.time() < deadline:
    day = day % 31 + 1
    urllib.request.urlopen("http://127.0.0.1:%d/fun?day=%d" % (port, day)).read()
    if pause:
        time.sleep(pause)
