#!/usr/bin/env python3
"""Finds import cycles between the modules of one Rust crate.

Usage: scripts/check-cycles.py [--with-tests] SRC_DIR [SRC_DIR ...]

Each SRC_DIR is a crate's source directory (the one holding lib.rs or main.rs). A module is a
file: `foo.rs` and `foo/mod.rs` are `foo`, `foo/bar.rs` is `foo::bar`, lib.rs/main.rs is the
crate root. Module A depends on module B when A's code names B by path: `crate::b::…`,
`super::…` or `self::…`, in `use` trees (braces expanded) and in expressions; a path is charged
to the longest module it names (`crate::foo::bar::Baz` is `foo::bar` when that file exists,
otherwise `foo`). `mod` declarations and bare paths to child modules are not edges. Test code
(`#[cfg(test)]` items) is skipped unless --with-tests is given.

Prints every cycle (a strongly connected component of two or more modules) with one line per
edge inside it, naming the file and line that makes it. Exits 1 if any crate has a cycle, 0
otherwise. The code must be rustfmt-formatted: a test item ends at the first line holding only
its closing brace at the item's indentation.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:\s*::\s*(?:[A-Za-z_][A-Za-z0-9_]*|\{))+)")
USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+")


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_test_items(lines: list, with_tests: bool) -> list:
    """The lines, with those of `#[cfg(test)]` items blanked (kept in place for line numbers)."""
    if with_tests:
        return lines
    out = list(lines)
    i = 0
    while i < len(out):
        if out[i].strip() == "#[cfg(test)]":
            indent = len(out[i]) - len(out[i].lstrip())
            j = i
            # Skip further attributes and doc comments to the item itself.
            while j + 1 < len(out) and (out[j + 1].strip().startswith("#[") or out[j + 1].strip().startswith("///")):
                j += 1
            j += 1
            end = j
            if j < len(out) and not out[j].rstrip().endswith(";"):
                closing = " " * indent + "}"
                end = j
                while end < len(out) and out[end].rstrip() != closing:
                    end += 1
            for k in range(i, min(end + 1, len(out))):
                out[k] = ""
            i = end + 1
        else:
            i += 1
    return out


def strip_comments(line: str) -> str:
    """Drops a `//` comment and the contents of string literals (roughly: one line at a time)."""
    out, i, in_str = [], 0, False
    while i < len(line):
        c = line[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append('""')
            i += 1
            continue
        if line.startswith("//", i):
            break
        out.append(c)
        i += 1
    return "".join(out)


def expand_use(tree: str) -> list:
    """The paths of a use tree: `crate::{a::B, c}` -> [`crate::a::B`, `crate::c`]."""
    tree = re.sub(r"\s+", "", tree)

    def split_top(s: str) -> list:
        parts, depth, start = [], 0, 0
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        return [p for p in parts if p]

    def walk(prefix: str, s: str) -> list:
        brace = s.find("{")
        if brace == -1:
            s = s.split(" as ")[0]
            return [prefix + s]
        head, body = s[:brace], s[brace + 1 : s.rfind("}")]
        out = []
        for part in split_top(body):
            out.extend(walk(prefix + head, part))
        return out

    return [p.replace("::self", "") for p in walk("", tree.rstrip(";"))]


def resolve(path: str, here: tuple, modules: set):
    """The module a `crate::…`/`super::…`/`self::…` path names, or None."""
    segs = [s for s in re.split(r"\s*::\s*", path) if s and s != "{"]
    base = list(here)
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            segs = segs[1:]
    best = tuple(base)
    for k in range(1, len(segs) + 1):
        candidate = tuple(base + segs[:k])
        if candidate in modules:
            best = candidate
    return best


def edges_of(src: Path, with_tests: bool):
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f) for f in files}
    edges = {}
    for f in files:
        here = module_of(src, f)
        lines = strip_test_items(f.read_text().splitlines(), with_tests)
        lines = [strip_comments(line) for line in lines]
        i = 0
        while i < len(lines):
            line, lineno = lines[i], i + 1
            paths = []
            if USE.match(line):
                stmt = USE.sub("", line)
                while ";" not in stmt and i + 1 < len(lines):
                    i += 1
                    stmt += " " + lines[i]
                paths = [p for p in expand_use(stmt.split(";")[0]) if re.match(r"(crate|super|self)\b", p)]
            else:
                paths = [m.group(0) for m in PATH.finditer(line)]
            for p in paths:
                target = resolve(p, here, modules)
                if target is not None and target != here:
                    edges.setdefault((here, target), f"{f.relative_to(src)}:{lineno}")
            i += 1
    return modules, edges


def cycles(modules: set, edges: dict) -> list:
    """Strongly connected components of two or more modules (Tarjan)."""
    graph = {m: sorted(t for (s, t) in edges if s == m) for m in modules}
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for m in sorted(modules):
        if m not in index:
            visit(m)
    return found


def name(module: tuple) -> str:
    return "::".join(module) or "crate"


def main(argv: list) -> int:
    with_tests = "--with-tests" in argv
    dirs = [a for a in argv if a != "--with-tests"]
    if not dirs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for d in dirs:
        src = Path(d)
        if not (src / "lib.rs").exists() and not (src / "main.rs").exists():
            print(f"{d}: no lib.rs or main.rs here; pass a crate's src directory", file=sys.stderr)
            return 2
        modules, edges = edges_of(src, with_tests)
        found = cycles(modules, edges)
        if not found:
            print(f"{d}: no import cycles among {len(modules)} modules")
            continue
        failed = True
        for component in found:
            members = set(component)
            print(f"{d}: import cycle among {', '.join(name(m) for m in component)}:")
            for (s, t), where in sorted(edges.items()):
                if s in members and t in members:
                    print(f"  {name(s)} -> {name(t)}  ({where})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
