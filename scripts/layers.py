#!/usr/bin/env python3
"""Checks src/'s architecture from its `crate::` and `super::` paths (unit-test
modules left out): every module sits in one layer of LAYERS, imports only from its
own layer or those below it, and no modules import each other in a circle. A name
lib.rs re-exports (`crate::Error`) counts as an import of the module it comes from.
Also: the bottom layer, support, names no type defined above it (its errors and
helpers know nothing of kinfra's domain; an upper layer's error type used there is
the kind of leak this catches).
Exits 1, naming each offending import, when any is broken; `-e` prints every
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


def reexports():
    """`pub use a::b::{X, Y};` in lib.rs: X and Y stand for the module a::b."""
    out = {}
    text = (ROOT / "lib.rs").read_text()
    for m in re.finditer(r"^pub use ([a-z_:]+)::\{([^}]*)\};", text, re.M):
        for name in m.group(2).split(","):
            if name.strip():
                out[name.strip()] = m.group(1)
    for m in re.finditer(r"^pub use ([a-z_:]+)::([A-Za-z_][A-Za-z0-9_]*);", text, re.M):
        out[m.group(2)] = m.group(1)
    return out


def code_of(path):
    """A file's code: unit tests and `//` comment lines left out."""
    text = without_tests(path.read_text())
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))


def edges(mods):
    names = set(mods)
    roots = reexports()

    def owner(path):
        segs = path.split("::")
        for i in range(len(segs), 0, -1):
            c = "::".join(segs[:i])
            if c in names:
                return c
        return None

    out = collections.defaultdict(set)
    for m, p in mods.items():
        # Comments are not imports: drop `//` lines (doc links would count otherwise).
        text = code_of(p)
        for mm in re.finditer(r"crate::([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)", text):
            path = mm.group(1)
            head = path.split("::")[0]
            if head in roots:
                path = roots[head] + "::" + path
            r = owner(path)
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


TYPE_DEF = re.compile(r"\b(?:struct|enum|trait|type)\s+([A-Z][A-Za-z0-9_]*)")


def support_names_domain(mods):
    """Types defined above support that support's code names. Not counted: names
    support defines too (`Error`), its enums' variants (`ExitKind::Failure`), a
    path's later segments (`std::process::Command`) and associated types
    (`Item = …`), and what it imports (`use std::process::Command`)."""
    below, above = set(), set()
    for m, p in mods.items():
        text = code_of(p)
        names = set(TYPE_DEF.findall(text))
        if m.split("::")[0] == "support":
            below.update(names)
            below.update(re.findall(r"^\s*([A-Z][A-Za-z0-9_]*)\s*[,({=]", text, re.M))
            # What it imports comes from std, a crate or support itself.
            for use in re.findall(r"^\s*(?:pub )?use [^;]*;", text, re.M | re.S):
                below.update(re.findall(r"\b[A-Z][A-Za-z0-9_]*\b", use))
        else:
            above.update(names)
    domain = above - below
    found = []
    for m, p in sorted(mods.items()):
        if m.split("::")[0] != "support":
            continue
        words = set(re.findall(r"(?<!::)\b([A-Z][A-Za-z0-9_]*)\b(?!\s*=[^=>])", code_of(p)))
        for name in sorted(words & domain):
            found.append(f"{m} (support) names {name}, a type of a layer above: support knows nothing of kinfra's domain")
    return found


# Words of kinfra's domain: support's errors carry none of them in their names.
DOMAIN_WORDS = [
    "Registry", "Sandbox", "Instance", "Slot", "Compose", "Engine", "Snapshot",
    "Router", "Stack", "Secret", "Gate", "Worktree", "LocalProd", "Checkout",
    "Docker", "Git", "Volume", "Budget", "Prepare", "Host", "Identity", "EnvFile",
]


def support_errors_are_domain_free(mods):
    """Every error enum of support (`…Error`, `ExitKind`) and its variants: none
    is named for a part of kinfra's domain (those errors belong to their layer)."""
    found = []
    for m, p in sorted(mods.items()):
        if m.split("::")[0] != "support":
            continue
        text = code_of(p)
        for e in re.finditer(r"^pub enum ([A-Z][A-Za-z0-9_]*) \{\n(.*?)^\}", text, re.M | re.S):
            name, body = e.group(1), e.group(2)
            if not (name.endswith("Error") or name == "ExitKind"):
                continue
            names = [name] + re.findall(r"^    ([A-Z][A-Za-z0-9_]*)\b", body, re.M)
            for n in names:
                for w in DOMAIN_WORDS:
                    if w in n:
                        found.append(f"{m} (support) defines the error {n}: {w} is kinfra's domain; it belongs to its layer")
    return found


def main():
    mods = modules()
    out = edges(mods)
    problems = support_names_domain(mods) + support_errors_are_domain_free(mods)
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
