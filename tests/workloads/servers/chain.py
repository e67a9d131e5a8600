"""A launcher chain: started as `bash -c "python3 chain.py OUT"`, runs two
Python children, one as a script and one with `python -m chain_child`, each
burning CPU in child_work; writes their pids to OUT."""
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, PYTHONPATH=here)
children = [
    subprocess.Popen([sys.executable, os.path.join(here, "chain_child.py"), "1.5"]),
    subprocess.Popen([sys.executable, "-m", "chain_child", "1.5"], env=env),
]
pids = [c.pid for c in children]
for c in children:
    c.wait()
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump(pids, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
