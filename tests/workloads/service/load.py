"""Sends requests to the calendar service for a while: load for demo.sh."""
import sys
import time
import urllib.request

port = int(open(sys.argv[1]).read())
seconds = float(sys.argv[2])
deadline = time.time() + seconds
day = 0
while time.time() < deadline:
    day = day % 31 + 1
    urllib.request.urlopen("http://127.0.0.1:%d/fun?day=%d" % (port, day)).read()
