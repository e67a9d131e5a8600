"""Burns argv[1] seconds of CPU in child_work (forever with "inf")."""
import sys
import time


def child_work(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


if __name__ == "__main__":
    child_work(float(sys.argv[1]))
