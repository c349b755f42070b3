#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate in crates/*/src.

A module `a` depends on module `b` when a file of `a` names a path into `b` (`crate::b::...`,
`super::...` or `self::...`). A module's uses of its own descendants (`use child::...`) are not
edges: a parent declares its children, so that direction is one-way by construction. Every
other edge counts, a child's use of its parent included. Prints each cycle (strongly connected component with more than one module) and
exits 1 if there is one.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def modules_of(src):
    """Module path (tuple) of each .rs file under src."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            out[os.path.join(dirpath, f)] = tuple(parts)
    return out


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def strip_tests(text):
    # `#[cfg(test)] mod tests { ... }` blocks use anything; they are not the module's design.
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def resolve(module, head, segments, known):
    if head == "crate":
        base = ()
    elif head == "super":
        base = module[:-1]
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
    else:
        base = module
    path = base + tuple(segments)
    # The longest known module that prefixes the path.
    while path and path not in known:
        path = path[:-1]
    return path


def cycles(crate_src):
    files = modules_of(crate_src)
    known = set(files.values())
    edges = {m: set() for m in known}
    for path, module in files.items():
        text = strip_tests(strip_comments(open(path, encoding="utf-8").read()))
        for head, rest in PATH.findall(text):
            segments = rest.split("::")[1:]
            target = resolve(module, head, segments, known)
            if target == module or target[: len(module)] == module:
                continue  # itself or a descendant: declaring and using children is one-way
            edges[module].add(target)
    # Tarjan's strongly connected components.
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(known):
        if v not in index:
            visit(v)
    return out, edges


def main():
    failed = False
    crates = os.path.join(ROOT, "crates")
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        if not os.path.isdir(src):
            continue
        found, edges = cycles(src)
        for comp in found:
            failed = True
            names = ["::".join(m) or "(root)" for m in comp]
            print(f"{crate}: import cycle between {', '.join(names)}")
            for m in comp:
                inside = sorted("::".join(t) or "(root)" for t in edges[m] if t in comp)
                print(f"    {'::'.join(m) or '(root)'} -> {', '.join(inside)}")
    if not failed:
        print("no import cycle between the modules of any crate")
    sys.exit(1 if failed else 0)


main()
