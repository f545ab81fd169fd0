#!/usr/bin/env python3
"""Checks src/'s architecture from its `crate::` and `super::` paths (unit-test
modules left out): every module sits in one layer of LAYERS, imports only from its
own layer or those below it, and no modules import each other in a circle.
Exits 1, naming each offending import, when either is broken; `-e` prints every
edge. Run by scripts/test (and so by CI)."""
import collections
import os
import pathlib
import re
import sys

# From the bottom up; a module's layer is the longest entry that prefixes its path.
LAYERS = [
    ("support", ["support"]),
    ("state", ["state"]),
    ("tools", ["tools"]),
    ("engine", ["engine"]),
    ("stack", ["stack"]),
    ("instance", ["instance"]),
    ("data", ["data"]),
    ("router", ["router"]),
    ("agents and setup", ["agents", "setup"]),
    ("cli", ["cli"]),
]

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"


def modules():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = pathlib.Path(dirpath) / f
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("bin/") or rel in ("main.rs", "lib.rs"):
                continue
            parts = rel[:-3].split("/")
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts[-1] == "tests":  # a `#[cfg(test)] mod tests;` file
                continue
            mods["::".join(parts)] = path
    return mods


def without_tests(text):
    for marker in ("#[cfg(test)]\nmod tests", "#[cfg(test)]\n#[path", "#[cfg(test)]\npub mod tests"):
        i = text.find(marker)
        if i >= 0:
            text = text[:i]
    return text


def edges(mods):
    names = set(mods)

    def owner(path):
        segs = path.split("::")
        for i in range(len(segs), 0, -1):
            c = "::".join(segs[:i])
            if c in names:
                return c
        return None

    out = collections.defaultdict(set)
    for m, p in mods.items():
        text = without_tests(p.read_text())
        # Comments are not imports: drop `//` lines (doc links would count otherwise).
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for mm in re.finditer(r"crate::([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)", text):
            r = owner(mm.group(1))
            if r and r != m and not m.startswith(r + "::"):
                out[m].add(r)
        parent = m.rsplit("::", 1)[0] if "::" in m else ""
        for mm in re.finditer(r"\bsuper::([a-z_]+)", text):
            if parent:
                c = parent + "::" + mm.group(1)
                if c in names and c != m:
                    out[m].add(c)
    return out


def layer_of(m):
    top = m.split("::")[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return i
    return None


def circles(mods, out):
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(out[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)
    return found


def main():
    mods = modules()
    out = edges(mods)
    problems = []
    for m in sorted(mods):
        if layer_of(m) is None:
            problems.append(f"{m}: in no layer (add its folder to LAYERS in scripts/layers.py)")
    for m in sorted(out):
        for d in sorted(out[m]):
            lm, ld = layer_of(m), layer_of(d)
            if lm is not None and ld is not None and ld > lm:
                problems.append(
                    f"{m} ({LAYERS[lm][0]}) imports {d} ({LAYERS[ld][0]}): an arrow back up the layers"
                )
    for comp in circles(mods, out):
        problems.append(f"an import circle of {len(comp)} modules: {' -> '.join(comp)}")
    if "-e" in sys.argv:
        for m in sorted(out):
            print(m, "->", ", ".join(sorted(out[m])))
    if problems:
        print("scripts/layers.py: the module structure is broken:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"layers: {len(mods)} modules in {len(LAYERS)} layers, no arrow back up, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
