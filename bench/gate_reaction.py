"""Gate reaction: how long after the backend becomes healthy does `kinfra up` report it?

The demo backend serves /api/v1/health from a file in the instance directory. With
the stack running, each round removes that file, starts `kinfra sandbox up`, waits
until the gate is polling, then recreates the file at a known instant and times how
long kinfra takes to report the backend check as passed.
usage: gate_reaction.py KINFRA INSTANCE_DIR ROUNDS  (JSON on stdout)
"""
import json
import os
import random
import subprocess
import sys
import time

kinfra, inst, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
health = os.path.join(inst, "backend", "www", "api", "v1", "health")
body = open(health).read()
subprocess.run([kinfra, "-q", "sandbox", "up", "--no-secrets"], cwd=inst, check=True, stdout=subprocess.DEVNULL)
reactions = []
try:
    for _ in range(rounds):
        os.remove(health)
        p = subprocess.Popen(
            [kinfra, "sandbox", "up", "--no-secrets", "--timeout", "30"],
            cwd=inst, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for line in p.stderr:
            if "Waiting for the stack" in line:
                break
        time.sleep(0.3 + random.random() * 0.4)  # the gate is polling by now
        t0 = time.monotonic()
        with open(health, "w") as f:
            f.write(body)
        t1 = None
        for line in p.stderr:
            if "backend" in line and "passed" in line:
                t1 = time.monotonic()
                break
        p.stderr.read()
        p.wait()
        if t1 is not None and p.returncode == 0:
            reactions.append(round((t1 - t0) * 1000, 1))
finally:
    if not os.path.exists(health):
        with open(health, "w") as f:
            f.write(body)
    subprocess.run([kinfra, "-q", "sandbox", "down", "--volumes"], cwd=inst, stdout=subprocess.DEVNULL)
json.dump({"reactions_ms": reactions, "rounds": rounds}, sys.stdout)
