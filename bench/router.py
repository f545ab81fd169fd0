"""The router's rows: routed against direct keep-alive HTTP (throughput, added
median latency) in two shapes, one sequential connection and several concurrent
ones; the checkout switch; the router's idle memory. Starts its own keep-alive
HTTP service (a process of its own, a thread per connection), registers two
instances by hand in its own KINFRA_HOME, and drives the kinfra binary given.
The concurrent clients are processes of their own too (one connection each), so
Python's lock is shared by neither the service nor the other clients. A third
path, when a C compiler is there, is the floor: bench/relay.c, a byte relay with
no HTTP, measured in the same rounds. Each path's CPU per request is recorded by
side (client, service, the process in the middle).

    python3 bench/router.py KINFRA_BINARY OUT_JSON [REQUESTS] [CONNECTIONS] [WORK_US]

WORK_US (default 0, what bench/run.sh measures) makes the service spend that
much CPU on each request before it answers, as a real application does: with
it, the same row says what share of a request's cost the router is for a
service that does some work.
"""
import json
import multiprocessing
import os
import shutil
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
WORK = float(sys.argv[5]) / 1e6 if len(sys.argv) > 5 else 0.0
# fork: the service's closure and socket go to its process as they are.
MP = multiprocessing.get_context("fork")
ROUTER, A, B, CANON, RELAY = 28751, 28752, 28753, 28754, 28755
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
                # CPU time, not wall time: the work is the same however busy the machine.
                t = time.thread_time()
                while WORK and time.thread_time() - t < WORK:
                    pass
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
    """n keep-alive GETs on one connection: each request's seconds. One request
    goes first, untimed: a proxy opens its connection to the service on the
    first request (the service's accept and thread start), where a direct
    client's connect has paid for them before the clock starts."""
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()
    times = []
    for _ in range(n + 1):
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
    return times[1:]


def one_client(args):
    port, host, n, start = args
    while time.time() < start:
        time.sleep(0.0005)
    t0, c0 = time.time(), time.process_time()
    times = run(port, host, n)
    return times, t0, time.time(), time.process_time() - c0


def concurrent(port, host, conns, n):
    """conns clients, each a process with one keep-alive connection and n GETs,
    started together: every request's time, requests per second over the whole
    (first request's start to last answer), and the clients' CPU seconds."""
    with MP.Pool(conns) as pool:
        per = pool.map(one_client, [(port, host, n, time.time() + 0.5)] * conns)
    times = [x for p in per for x in p[0]]
    wall = max(p[2] for p in per) - min(p[1] for p in per)
    return times, len(times) / wall, sum(p[3] for p in per)


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


def relay(home, port, upstream):
    """bench/relay.c, built with the machine's C compiler and started (None
    without a compiler: its rows are then not measured)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    exe = f"{home}/relay"
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "relay.c")
    if subprocess.run([cc, "-O2", "-o", exe, src], capture_output=True).returncode != 0:
        return None
    p = subprocess.Popen([exe, str(port), str(upstream)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.02)
    p.terminate()
    return None


home = tempfile.mkdtemp(prefix="kinfra-bench-router-")
env = dict(os.environ, KINFRA_HOME=home, KINFRA_ROUTER_PORT=str(ROUTER), KINFRA_ROUTER="on")
os.makedirs(f"{home}/sandbox/compose")
entry = lambda i, s: {"instance_id": i, "slot": s, "path": f"{home}/{i}", "created_at": "2026-01-01T00:00:00Z", "is_worktree": True, "parent_repo": None}
json.dump({"version": 1, "local_prod": None, "instances": {"bench-a": entry("bench-a", 1), "bench-b": entry("bench-b", 2)}}, open(f"{home}/sandbox/instances.json", "w"))
json.dump({"version": 1, "ports": {"bench-a": {"PORT_WEB_80": A}, "bench-b": {"PORT_WEB_80": B}}}, open(f"{home}/sandbox/kinfra.json", "w"))
for i in ("bench-a", "bench-b"):
    json.dump({"key": "b", "services": [], "bases": [["PORT_WEB_80", CANON]], "ports": {}}, open(f"{home}/sandbox/compose/{i}.meta.json", "w"))
services = [service(A, b"a"), service(B, b"b")]
floor = relay(home, RELAY, A)
subprocess.run([K, "-q", "router", "start"], env=env, check=True, capture_output=True)
status = json.loads(subprocess.run([K, "router", "status", "--json"], env=env, capture_output=True, text=True).stdout)
pid = status["pid"]
try:
    time.sleep(0.5)
    idle = rss_kb(pid)
    routed_host = f"web.bench-a.localhost:{ROUTER}"
    # Each path: its port, the Host it is asked for, the process in the middle.
    paths = {"direct": (A, "localhost", None), "routed": (ROUTER, routed_host, pid)}
    if floor:
        paths["relay"] = (RELAY, routed_host, floor.pid)
    for port, host, _ in paths.values():
        run(port, host, 200)
    # Interleaved rounds, so every path sees the same machine. Each side's CPU
    # seconds (client, service, the process in the middle) are counted apart: the
    # times swing with the machine's other load, CPU per request much less.
    spid = services[0].pid
    times = {k: [] for k in paths}
    ctimes = {k: [] for k in paths}
    crps = {k: [] for k in paths}
    cpu = {k: [0.0, 0.0, 0.0] for k in list(paths) + [f"concurrent_{k}" for k in paths]}

    def count(key, mid, f):
        c0, s0, m0 = time.process_time(), cpu_s(spid), cpu_s(mid) if mid else 0.0
        out = f()
        own = out[2] if isinstance(out, tuple) else time.process_time() - c0
        for i, d in enumerate((own, cpu_s(spid) - s0, cpu_s(mid) - m0 if mid else 0.0)):
            cpu[key][i] += d
        return out

    for _ in range(4):
        for k, (port, host, mid) in paths.items():
            times[k] += count(k, mid, lambda: run(port, host, N // 4))
    # Several connections at once (a page's parallel fetches, a load test).
    for _ in range(4):
        for k, (port, host, mid) in paths.items():
            t, r, _ = count(f"concurrent_{k}", mid, lambda: concurrent(port, host, CONNS, N // (4 * CONNS)))
            ctimes[k] += t
            crps[k].append(r)
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
    for p in services + ([floor] if floor else []):
        p.terminate()
res = {
    "requests": N,
    "direct_median_ms": statistics.median(times["direct"]) * 1000,
    "routed_median_ms": statistics.median(times["routed"]) * 1000,
    "direct_rps": len(times["direct"]) / sum(times["direct"]),
    "routed_rps": len(times["routed"]) / sum(times["routed"]),
    # The router's own CPU per routed request (sequential): what the machine's
    # other load does not change, unlike the times.
    "router_cpu_us_per_request": cpu["routed"][2] / len(times["routed"]) * 1e6,
    # CPU µs per request of each side, [client, service, the process in the
    # middle]: where a request's CPU goes, by path and shape.
    "cpu_us_per_request": {
        k: [round(x / len(times["direct"] if k in paths else ctimes["direct"]) * 1e6, 1) for x in v]
        for k, v in cpu.items()
    },
    "connections": CONNS,
    "service_work_us": WORK * 1e6,
    "concurrent_direct_median_ms": statistics.median(ctimes["direct"]) * 1000,
    "concurrent_routed_median_ms": statistics.median(ctimes["routed"]) * 1000,
    "concurrent_direct_rps": statistics.median(crps["direct"]),
    "concurrent_routed_rps": statistics.median(crps["routed"]),
    "switch_median_ms": statistics.median(switches) * 1000,
    "switch_max_ms": max(switches) * 1000,
    "idle_rss_kb": idle,
    "after_load_rss_kb": after,
    "load_average": os.getloadavg(),
}
if floor:
    # The floor: a C relay with no HTTP, the least any proxy here can cost.
    res["relay_median_ms"] = statistics.median(times["relay"]) * 1000
    res["relay_rps"] = len(times["relay"]) / sum(times["relay"])
    res["concurrent_relay_median_ms"] = statistics.median(ctimes["relay"]) * 1000
    res["concurrent_relay_rps"] = statistics.median(crps["relay"])
json.dump(res, open(OUT, "w"), indent=2)
print(json.dumps(res, indent=2))
