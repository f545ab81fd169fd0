"""The router's rows: routed against direct keep-alive HTTP (throughput, added
median latency) in two shapes, one sequential connection and several concurrent
ones; the checkout switch; the router's idle memory. Starts its own keep-alive
HTTP service (a process of its own, a thread per connection), registers two
instances by hand in its own KINFRA_HOME, and drives the kinfra binary given.
The concurrent clients are processes of their own too (one connection each), so
Python's lock is shared by neither the service nor the other clients.

    python3 bench/router.py KINFRA_BINARY OUT_JSON [REQUESTS] [CONNECTIONS]
"""
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

K, OUT = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
CONNS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
# fork: the service's closure and socket go to its process as they are.
MP = multiprocessing.get_context("fork")
ROUTER, A, B, CANON = 28751, 28752, 28753, 28754
BODY = b"ok"


def service(port, name):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name)

    def conn(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                _, buf = buf.split(b"\r\n\r\n", 1)
                c.sendall(answer)
        finally:
            c.close()

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=conn, args=(c,), daemon=True).start()

    # A process of its own: the clients' Python never waits for the service's.
    p = MP.Process(target=loop, daemon=True)
    p.start()
    s.close()
    return p


def run(port, host, n):
    """n keep-alive GETs on one connection: each request's seconds."""
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        c.sendall(req)
        buf = b""
        while True:
            buf += c.recv(65536)
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
                while len(rest) < length:
                    rest += c.recv(65536)
                break
        times.append(time.perf_counter() - t)
    c.close()
    return times


def one_client(args):
    port, host, n, start = args
    while time.time() < start:
        time.sleep(0.0005)
    t0 = time.time()
    times = run(port, host, n)
    return times, t0, time.time()


def concurrent(port, host, conns, n):
    """conns clients, each a process with one keep-alive connection and n GETs,
    started together: every request's time, and requests per second over the whole
    (first request's start to last answer)."""
    with MP.Pool(conns) as pool:
        per = pool.map(one_client, [(port, host, n, time.time() + 0.5)] * conns)
    times = [x for p in per for x in p[0]]
    wall = max(p[2] for p in per) - min(p[1] for p in per)
    return times, len(times) / wall


def get_once(port):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    out = b""
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            break
        if not d:
            break
        out += d
        if out.endswith(b"\r\n\r\na") or out.endswith(b"\r\n\r\nb"):
            break
    c.close()
    return out


def cpu_s(pid):
    """The process's CPU time so far (user + system), in seconds."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


home = tempfile.mkdtemp(prefix="kinfra-bench-router-")
env = dict(os.environ, KINFRA_HOME=home, KINFRA_ROUTER_PORT=str(ROUTER), KINFRA_ROUTER="on")
os.makedirs(f"{home}/sandbox/compose")
entry = lambda i, s: {"instance_id": i, "slot": s, "path": f"{home}/{i}", "created_at": "2026-01-01T00:00:00Z", "is_worktree": True, "parent_repo": None}
json.dump({"version": 1, "local_prod": None, "instances": {"bench-a": entry("bench-a", 1), "bench-b": entry("bench-b", 2)}}, open(f"{home}/sandbox/instances.json", "w"))
json.dump({"version": 1, "ports": {"bench-a": {"PORT_WEB_80": A}, "bench-b": {"PORT_WEB_80": B}}}, open(f"{home}/sandbox/kinfra.json", "w"))
for i in ("bench-a", "bench-b"):
    json.dump({"key": "b", "services": [], "bases": [["PORT_WEB_80", CANON]], "ports": {}}, open(f"{home}/sandbox/compose/{i}.meta.json", "w"))
services = [service(A, b"a"), service(B, b"b")]
subprocess.run([K, "-q", "router", "start"], env=env, check=True, capture_output=True)
status = json.loads(subprocess.run([K, "router", "status", "--json"], env=env, capture_output=True, text=True).stdout)
pid = status["pid"]
try:
    time.sleep(0.5)
    idle = rss_kb(pid)
    run(A, "localhost", 200)
    run(ROUTER, "web.bench-a.localhost", 200)
    # Interleaved rounds, so both see the same machine.
    direct, routed = [], []
    cpu = 0.0
    for _ in range(4):
        direct += run(A, "localhost", N // 4)
        c0 = cpu_s(pid)
        routed += run(ROUTER, f"web.bench-a.localhost:{ROUTER}", N // 4)
        cpu += cpu_s(pid) - c0
    # Several connections at once (a page's parallel fetches, a load test).
    cdirect, crouted, cdirect_rps, crouted_rps = [], [], [], []
    for _ in range(2):
        t, r = concurrent(A, "localhost", CONNS, N // (2 * CONNS))
        cdirect += t
        cdirect_rps.append(r)
        t, r = concurrent(ROUTER, f"web.bench-a.localhost:{ROUTER}", CONNS, N // (2 * CONNS))
        crouted += t
        crouted_rps.append(r)
    after = rss_kb(pid)
    # Checkout switch: from the command's start to the first new connection that
    # reaches the other instance (the command's own start-up included).
    subprocess.run([K, "-q", "checkout", "bench-a"], env=env, check=True, capture_output=True)
    switches = []
    for i in range(10):
        to, want = ("bench-b", b"b") if i % 2 == 0 else ("bench-a", b"a")
        t = time.perf_counter()
        p = subprocess.Popen([K, "-q", "checkout", to], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not get_once(CANON).endswith(want):
            time.sleep(0.001)
        switches.append(time.perf_counter() - t)
        p.wait()
    subprocess.run([K, "-q", "checkout", "--none"], env=env, capture_output=True)
finally:
    subprocess.run([K, "-q", "router", "stop"], env=env, capture_output=True)
    for p in services:
        p.terminate()
res = {
    "requests": N,
    "direct_median_ms": statistics.median(direct) * 1000,
    "routed_median_ms": statistics.median(routed) * 1000,
    "direct_rps": len(direct) / sum(direct),
    "routed_rps": len(routed) / sum(routed),
    # The router's own CPU per routed request (sequential): what the machine's
    # other load does not change, unlike the times.
    "router_cpu_us_per_request": cpu / len(routed) * 1e6,
    "connections": CONNS,
    "concurrent_direct_median_ms": statistics.median(cdirect) * 1000,
    "concurrent_routed_median_ms": statistics.median(crouted) * 1000,
    "concurrent_direct_rps": statistics.median(cdirect_rps),
    "concurrent_routed_rps": statistics.median(crouted_rps),
    "switch_median_ms": statistics.median(switches) * 1000,
    "switch_max_ms": max(switches) * 1000,
    "idle_rss_kb": idle,
    "after_load_rss_kb": after,
}
json.dump(res, open(OUT, "w"), indent=2)
print(json.dumps(res, indent=2))
