"""Turns the benchmark's raw results into bench/RESULTS.md (markdown on stdout)."""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

out, quick = sys.argv[1], sys.argv[2] == "1"


def load(name):
    with open(os.path.join(out, name)) as f:
        return json.load(f)["results"]


def ms(x):
    return f"{x * 1000:.1f}"


def short(cmd):
    return cmd.split("/")[-1] if cmd.startswith("/") else cmd


def row(r):
    name = short(r["command"]).replace("|", "\\|")
    return f"| `{name}` | {ms(r['median'])} | {ms(r['min'])}–{ms(r['max'])} |"


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return "?"


checks = []


def target(name, value, limit, unit=""):
    ok = value <= limit
    checks.append((name, value, limit, unit, ok))
    return f"**{value:.2f}{unit}** (target ≤ {limit}{unit}: {'met' if ok else 'MISSED'})"


cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
mem_gib = sh("free -g | awk '/Mem:/ {print $2}'")
engine = sh("docker version --format '{{.Server.Version}}'")
compose = sh("docker compose version --short 2>/dev/null") or ("docker-compose " + sh("docker-compose version --short"))
stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
print("# kinfra benchmark results\n")
print(f"- date: {stamp}" + (" (quick run: few samples)" if quick else ""))
print(f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu or '?'}, {mem_gib} GiB")
print(f"- docker engine {engine}; compose: {compose}")
binary = os.environ.get("KINFRA_BENCH_BINARY", "")
linked = "static (musl)" if "musl" in binary else "release build"
print(f"- kinfra measured: {linked}, `{os.path.relpath(binary) if binary else '?'}`")
print("- times in milliseconds: median, and min–max over the runs; hyperfine, each comparison side by side in one run\n")

s = load("startup.json")
git = s[0]["median"]
print("## 1. Start-up (Docker unreachable)\n")
print("| command | median | min–max |\n|---|---|---|")
for r in s:
    print(row(r))
for r in s[1:]:
    name = short(r["command"])
    print(f"\n`{name}` / `git --version`: " + target("start-up " + name, r["median"] / git, 3))

def comparison(title, measure, name, limit):
    """A two-command table (baseline first) and the ratio of the second to the first."""
    rs = load(name)
    print(f"\n## {title}\n")
    print("| command | median | min–max |\n|---|---|---|")
    for r in rs:
        print(row(r))
    print("\nratio: " + target(measure, rs[1]["median"] / rs[0]["median"], limit))


comparison("2. list: 10 registered, 3 running, against one `docker ps`", "list vs docker ps", "list.json", 1.5)
comparison("3. up on the demo stack, against compose up + wait (same environment, stack down before each run)",
           "up vs compose", "up.json", 1.10)

g = json.load(open(os.path.join(out, "gate.json")))
print("\n## 4. Gate reaction (backend made healthy at a known instant)\n")
if g["reactions_ms"]:
    med = statistics.median(g["reactions_ms"])
    print(f"{len(g['reactions_ms'])}/{g['rounds']} rounds; min–max {min(g['reactions_ms'])}–{max(g['reactions_ms'])} ms; "
          "median " + target("gate reaction", med, 250, " ms"))
else:
    print("no round completed")
    checks.append(("gate reaction", float("nan"), 250, " ms", False))

comparison("5. Setup (`kinfra-setup --non-interactive --demo`) against git clone + uv sync + local-prod init by hand",
           "setup vs by hand", "setup.json", 1.15)

comparison("9a. A project that is not KTRDR (its own kinfra.toml): up against compose up + wait",
           "non-KTRDR up vs compose", "shop-up.json", 1.20)
comparison("9b. The same project: status against one `docker ps`",
           "non-KTRDR status vs docker ps", "shop-status.json", 1.5)
comparison("10a. A project without configuration (fixed host port, its own port per instance): up against compose up + wait",
           "zero-config up vs compose", "depot-up.json", 1.20)
comparison("10b. The same project: status against one `docker ps`",
           "zero-config status vs docker ps", "depot-status.json", 1.5)
comparison("11. The common real shape: two services without healthchecks, no configuration: up against compose up --wait",
           "no-healthcheck up vs compose", "plain-up.json", 1.10)

comparison("12a. Data: a 1 GiB volume of a running service, plain copy (ext4): `snapshot save` against `cp -a` inside the engine",
           "data plain copy vs cp -a", "data-plain.json", 1.3)
print("\n## 12b. Data on copy-on-write storage (XFS reflink): `sandbox create --data SNAPSHOT` (1 GiB) against an empty `create`\n")
if os.path.exists(os.path.join(out, "data-cow.json")):
    rs = load("data-cow.json")
    print("| command | median | min–max |\n|---|---|---|")
    for r in rs:
        print(row(r))
    print("\nmore than an empty create: " + target("create --data, more than create (s)", rs[1]["median"] - rs[0]["median"], 1.0, " s"))
    paused = [int(x) for x in open(os.path.join(out, "data-cow-paused.txt")).read().split() if x.strip().isdigit()]
    med = statistics.median(paused) if paused else float("nan")
    print(f"\nsource paused while `snapshot save` copied 1 GiB ({len(paused)} runs, {min(paused, default=0)}–{max(paused, default=0)} ms): median "
          + target("source paused (reflink)", med, 200, " ms"))
else:
    print("not measured (the copy-on-write engine needs root)")
    checks.append(("create --data, more than create (s)", float("nan"), 1.0, " s", False))

comparison("13. Kept secrets: the second `up` of a stack with 5 `op://` references of 2 items, against the same `up` with literals",
           "kept secrets up vs literals", "secrets-up.json", 1.05)
def calls(name):
    try:
        return int(open(os.path.join(out, name)).read().strip() or 0)
    except (OSError, ValueError):
        return -1
first, later = calls("secrets-first-calls.txt"), calls("secrets-later-calls.txt")
print(f"\ncalls to `op`: first `up` {first} (target 2, one per item); every later `up` together "
      + target("op calls after the first up", later, 0, ""))
print("\n## 14. A sandbox on another machine's engine, over SSH (scripts/remote-engine.sh: an engine in a network namespace)\n")
if os.path.exists(os.path.join(out, "remote-up.json")):
    comparison("14a. Remote: up against `docker -H ssh://… compose up -d --wait` of the same project",
               "remote up vs compose over ssh", "remote-up.json", 1.3)
    comparison("14b. Remote: first mirror of a 2,400-file tree (`sandbox sync-code`) against a plain `rsync -a`",
               "first mirror vs rsync -a", "remote-mirror.json", 1.5)
    vis = [int(x) for x in open(os.path.join(out, "remote-visible.txt")).read().split() if x.strip().isdigit()]
    med = statistics.median(vis) / 1000 if vis else float("nan")
    print(f"\n## 14c. Remote: change to visible (an edit here until the engine serves it; {len(vis)} edits, "
          f"{min(vis, default=0)}–{max(vis, default=0)} ms)\n\nmedian " + target("remote change-to-visible (s)", med, 2, " s"))
    comparison("14d. Remote: a request through the forwarded port against one to the engine's own address",
               "forwarded request vs direct", "remote-request.json", 1.2)
else:
    print("not measured (the remote-engine rig needs root)")
    checks.append(("remote up vs compose over ssh", float("nan"), 1.3, "", False))

total = int(open(os.path.join(out, "contention-total-us.txt")).read().strip())
waits = [int(x) for x in open(os.path.join(out, "lock-waits.txt")).read().split()]
print("\n## 6. Registry contention: 10 parallel `sandbox init`\n")
print(f"total wall time {total / 1000:.1f} ms; lock acquisitions {len(waits)}; longest wait for the lock "
      f"{(max(waits) if waits else 0) / 1000:.2f} ms; median wait {(statistics.median(waits) if waits else 0) / 1000:.2f} ms")

def kb(name):
    try:
        return int(open(os.path.join(out, name)).read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return float("nan")


ml, mu = kb("mem-list.txt"), kb("mem-up.txt")
print("\n## 7. Footprint\n")
print("kinfra's own peak RSS (VmHWM) during `sandbox list`: " + target("memory list", ml, 20, " MB"))
print("\nkinfra's own peak RSS during `sandbox up`: " + target("memory up", mu, 20, " MB"))
print(f"\nwith the children GNU time also counts (the docker CLI, compose): list {kb('mem-list-tree.txt'):.1f} MB, "
      f"up {kb('mem-up-tree.txt'):.1f} MB")
ks = int(open(os.path.join(out, "size-kinfra.txt")).read()) / 1e6
ss = int(open(os.path.join(out, "size-setup.txt")).read()) / 1e6
print(f"\nrelease binaries: kinfra {ks:.1f} MB, kinfra-setup {ss:.1f} MB")

print("\n## 8. Growth: list and status from 1 to 10 instances\n")
print("| instances | list median | status median |\n|---|---|---|")
first = None
for n in (1, 5, 10):
    r = load(f"growth-{n}.json")
    print(f"| {n} | {ms(r[0]['median'])} | {ms(r[1]['median'])} |")
    if first is None:
        first = r
    last = r
print(f"\nlist 10/1: {last[0]['median'] / first[0]['median']:.2f}×, status 10/1: {last[1]['median'] / first[1]['median']:.2f}× (flat: one Docker call whatever the count)")

rp = os.path.join(out, "router.json")
if os.path.exists(rp):
    r = json.load(open(rp))
    print("\n## 15. Router: routed against direct keep-alive HTTP (small answers)\n")
    conns = r.get("connections")
    print("| shape | path | median latency (ms) | requests/s |\n|---|---|---|---|")
    print(f"| one connection, sequential | direct | {r['direct_median_ms']:.3f} | {r['direct_rps']:.0f} |")
    print(f"| one connection, sequential | routed | {r['routed_median_ms']:.3f} | {r['routed_rps']:.0f} |")
    if conns:
        print(f"| {conns} connections at once | direct | {r['concurrent_direct_median_ms']:.3f} | {r['concurrent_direct_rps']:.0f} |")
        print(f"| {conns} connections at once | routed | {r['concurrent_routed_median_ms']:.3f} | {r['concurrent_routed_rps']:.0f} |")
    if "relay_rps" in r:
        print(f"| one connection, sequential | C relay (floor) | {r['relay_median_ms']:.3f} | {r['relay_rps']:.0f} |")
        if conns:
            print(f"| {conns} connections at once | C relay (floor) | {r['concurrent_relay_median_ms']:.3f} | {r['concurrent_relay_rps']:.0f} |")
    if "router_cpu_us_per_request" in r:
        print(f"\nthe router's own CPU per routed request: {r['router_cpu_us_per_request']:.0f} µs (user + system, /proc)")
    if "cpu_us_per_request" in r:
        # Where a request's CPU goes: a proxy's share against the client's and the
        # service's is what bounds its throughput when the machine's cores are the limit.
        print("\n| CPU µs per request | client | service | in the middle |\n|---|---|---|---|")
        for k, v in r["cpu_us_per_request"].items():
            mid = "–" if k.endswith("direct") else f"{v[2]:.1f}"
            print(f"| {k.replace('_', ' ')} | {v[0]:.1f} | {v[1]:.1f} | {mid} |")
    if "relay_rps" in r:
        print("\nthe floor, bench/relay.c (a C byte relay: epoll, no HTTP, the same system calls per request "
              f"as the router) between the same client and service, in the same rounds: {r['relay_rps'] / r['direct_rps']:.2f}× direct "
              "on one connection" + (f", {r['concurrent_relay_rps'] / r['concurrent_direct_rps']:.2f}× with {conns}" if conns else "")
              + f"; the router {r['routed_rps'] / r['direct_rps']:.2f}×" + (f", {r['concurrent_routed_rps'] / r['concurrent_direct_rps']:.2f}×" if conns else ""))
    if "load_average" in r:
        print(f"\nload average at the end of the row: {r['load_average'][0]:.1f}")
    print(f"\n{r['requests']} requests each way and shape; the sequential ones interleaved in four rounds, "
          "the concurrent ones in four (each client a process with its own connection; the service a process of its own).")
    # The target is one (routed ≥ 0.8× direct); both shapes are held to it.
    print("\none connection, sequential, direct/routed throughput (routed ≥ 0.8× direct): "
          + target("router throughput direct/routed, one connection", r["direct_rps"] / r["routed_rps"], 1.25))
    if conns:
        print(f"\n{conns} connections at once, direct/routed throughput (routed ≥ 0.8× direct): "
              + target(f"router throughput direct/routed, {conns} connections", r["concurrent_direct_rps"] / r["concurrent_routed_rps"], 1.25))
    print("\nadded median latency (one connection): " + target("router added median latency", r["routed_median_ms"] - r["direct_median_ms"], 1.0, " ms"))
    print("\ncheckout switch (command start to the first new connection on the other instance): "
          + target("checkout switch", r["switch_median_ms"], 100, " ms") + f", max {r['switch_max_ms']:.0f} ms")
    print("\nrouter RSS idle: " + target("router idle RSS", r["idle_rss_kb"] / 1024, 15, " MB")
          + f"; after the load {r['after_load_rss_kb'] / 1024:.1f} MB")

cp = os.path.join(out, "router-capacity.json")
print("\n## 16. Router: wake on request (a stopped sandbox asked for by name, until its service answers)\n")
if os.path.exists(cp):
    c = json.load(open(cp))
    wakes = [w for w in c["wake_ms"] if w is not None]
    print(f"`sandbox up` of the stack: median {c['up_median_ms']:.0f} ms ({min(c['up_ms']):.0f}–{max(c['up_ms']):.0f}); "
          f"wake, from the first request to the first byte of the answer (asked again every 20 ms): "
          f"{len(wakes)}/{len(c['wake_ms'])} woke, {min(wakes, default=float('nan')):.0f}–{max(wakes, default=float('nan')):.0f} ms")
    print("\nwake beyond `up`: median " + target("router wake beyond up", statistics.median(wakes) - c["up_median_ms"] if wakes else float("nan"), 300, " ms")
          + " (a browser asks again on the starting page's 2 s refresh)")
    print(f"\n## 17. Router: capacity (KINFRA_MEMORY_BUDGET fits {c['fit']} stacks of {c['footprint_bytes'] / 1048576:.0f} MiB; "
          f"{c['sandboxes']} sandboxes asked for by name in turn, all stopped at first)\n")
    waits = c["capacity_wake_ms"]
    print(f"answered {c['answered']}/{c['sandboxes']}; at most {c['most_running']} running; "
          f"{c['stopped_to_make_room']} stopped to make room; never answered: {', '.join(c['refused']) or 'none'}; "
          f"refusals for the budget in the wake log: {c['no_room_in_wake_log']}"
          f"; each wake {min(waits, default=0):.0f}–{max(waits, default=0):.0f} ms (a sandbox used in the last 10 s is not idle: a wake may wait for one to be)")
    print("\nsandboxes not answering or refused: " + target("router capacity: sandboxes not answering", c["sandboxes"] - c["answered"] + c["no_room_in_wake_log"], 0, ""))
    print("\nrunning beyond the budget's 3: " + target("router capacity: running beyond the fit", max(0, c["most_running"] - c["fit"]), 0, ""))
else:
    print("not measured (bench/router_capacity.py failed; its error is in the run's output)")
    checks.append(("router wake beyond up", float("nan"), 300, " ms", False))
    checks.append(("router capacity: sandboxes not answering", float("nan"), 0, "", False))

print("\n## Targets\n")
print("| measure | value | target | |\n|---|---|---|---|")
for name, v, lim, unit, ok in checks:
    print(f"| {name} | {v:.2f}{unit} | ≤ {lim}{unit} | {'met' if ok else 'MISSED'} |")

hist = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HISTORY.md")
if os.path.exists(hist):
    print("\n" + open(hist).read())
