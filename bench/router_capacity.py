"""The router's wake and capacity rows, on real sandboxes of one small project
(busybox httpd with a healthcheck, holding 32 MiB of memory so its footprint is
a stack's, not a process's), in a KINFRA_HOME of its own:

- wake: a request by name for the stopped sandbox, then the same request again
  every 20 ms (a browser follows the starting page's refresh every 2 s) until the
  service answers: from the first request to the first byte of the answer,
  against that stack's own `sandbox up` time (+ 300 ms allowed);
- capacity: KINFRA_MEMORY_BUDGET set to fit 3 of these stacks (their recorded
  footprint, measured on the first and given to every sandbox: the same stack),
  then each of N sandboxes asked for by name in turn, all stopped at first: each
  must answer (the wake stops the least recently used idle one to make room,
  `up --make-room --wait`), never more than 3 running, none refused.

    python3 bench/router_capacity.py KINFRA_BINARY WORK_DIR OUT_JSON QUICK(0|1)
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

K, W, OUT, QUICK = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
ROUTER = 28761
N = 4 if QUICK else 8
RUNS = 2 if QUICK else 4
FIT = 3
P = os.path.join(W, "cap")
HOME = os.path.join(W, "cap-home")
env = dict(os.environ, KINFRA_HOME=HOME, KINFRA_ROUTER="off", KINFRA_ROUTER_PORT=str(ROUTER))

COMPOSE = """services:
  web:
    image: busybox:1.35
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/shm/hold bs=1048576 count=32 2>/dev/null; echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
    ports:
      - "28790:80"
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 1s
      timeout: 2s
      retries: 30
"""


def k(args, cwd, check=True, extra=None):
    e = dict(env, **(extra or {}))
    return subprocess.run([K, "-q"] + args, cwd=cwd, env=e, check=check, capture_output=True, text=True)


def get(host):
    """One GET by name through the router: (status, seconds to the first byte)."""
    t = time.perf_counter()
    try:
        c = socket.create_connection(("127.0.0.1", ROUTER), timeout=10)
        c.sendall(b"GET /index.html HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (host.encode(), ROUTER))
        first = c.recv(12)
        dt = time.perf_counter() - t
        c.close()
        return int(first.split()[1]) if len(first.split()) > 1 else 0, dt
    except (OSError, ValueError):
        return 0, time.perf_counter() - t


def wake(host, limit=180):
    """From the first request to the first byte of the service's own answer."""
    t = time.perf_counter()
    statuses = set()
    while time.perf_counter() - t < limit:
        status, _ = get(host)
        statuses.add(status)
        if status == 200:
            return time.perf_counter() - t, statuses
        time.sleep(0.02)
    return None, statuses


def running():
    out = subprocess.run(["docker", "ps", "--filter", "label=com.docker.compose.project", "--format",
                          '{{.Label "com.docker.compose.project"}}'], capture_output=True, text=True).stdout
    return sorted({p for p in out.split() if p.startswith("cap--")})


os.makedirs(P)
open(os.path.join(P, "compose.yaml"), "w").write(COMPOSE)
subprocess.run("git init -q && git add -A && git -c user.email=b@example.invalid -c user.name=b commit -qm cap",
               shell=True, cwd=P, check=True)
names = [f"c{i}" for i in range(1, N + 1)]
dirs = {n: os.path.join(W, f"cap--{n}") for n in names}
for n in names:
    k(["sandbox", "create", n], P)
try:
    # The stack's own up time (stopped before each), and its footprint recorded.
    ups = []
    for _ in range(RUNS):
        k(["sandbox", "down"], dirs["c1"])
        t = time.perf_counter()
        k(["sandbox", "up"], dirs["c1"])
        ups.append(time.perf_counter() - t)
    side = os.path.join(HOME, "sandbox", "kinfra.json")
    deadline = time.time() + 30
    fp = None
    while fp is None and time.time() < deadline:
        fp = json.load(open(side)).get("footprints", {}).get("cap--c1")
        time.sleep(0.2)
    k(["sandbox", "down"], dirs["c1"])
    if fp is None:
        raise SystemExit("no footprint was recorded for cap--c1")
    doc = json.load(open(side))
    for n in names:
        doc.setdefault("footprints", {})[f"cap--{n}"] = fp
    json.dump(doc, open(side, "w"), indent=2)
    budget = int(fp * (FIT + 0.5))
    renv = {"KINFRA_ROUTER": "on", "KINFRA_MEMORY_BUDGET": str(budget), "KINFRA_BUDGET_POLL_MS": "200"}
    k(["router", "start"], P, extra=renv)

    # Wake: one sandbox, stopped, asked for by name.
    wakes = []
    for _ in range(RUNS):
        dt, _ = wake("web.cap--c1.localhost")
        wakes.append(dt)
        k(["sandbox", "down"], dirs["c1"])

    # Capacity: every sandbox in turn, all stopped at first.
    answered, most, times, refused = 0, 0, [], []
    for n in names:
        dt, statuses = wake(f"web.cap--{n}.localhost")
        if dt is not None:
            answered += 1
            times.append(dt)
        else:
            refused.append(n)
        most = max(most, len(running()))
    log = open(os.path.join(HOME, "router", "wake.log")).read() if os.path.exists(os.path.join(HOME, "router", "wake.log")) else ""
    no_room = log.count("no room to start")
    stops = log.count("to make room")
finally:
    # The downs first: each waits for a wake's `up` still at its gate (the service
    # answers before the gate passes), which starts a router when none runs.
    for n in names:
        k(["sandbox", "down", "--volumes"], dirs[n], check=False)
    k(["router", "stop"], P, check=False)

res = {
    "up_median_ms": statistics.median(ups) * 1000,
    "up_ms": [u * 1000 for u in ups],
    "wake_median_ms": statistics.median([w for w in wakes if w is not None] or [float("nan")]) * 1000,
    "wake_ms": [None if w is None else w * 1000 for w in wakes],
    "footprint_bytes": fp,
    "budget_bytes": budget,
    "fit": FIT,
    "sandboxes": N,
    "answered": answered,
    "most_running": most,
    "capacity_wake_ms": [t * 1000 for t in times],
    "refused": refused,
    "no_room_in_wake_log": no_room,
    "stopped_to_make_room": stops,
}
json.dump(res, open(OUT, "w"), indent=2)
print(json.dumps(res, indent=2))
