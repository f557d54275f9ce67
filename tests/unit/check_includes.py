#!/usr/bin/env python3
"""The layering rules of the source tree, and their check.

Each module is a folder; RULES says which other modules (or single headers)
its files may include with #include "...". System and library headers
(#include <...>) are not checked. The folder READMEs state the same rules on
their "May include:" line; this script checks that they agree, that no file
crosses a rule, and that the modules' include graph has no cycle.

Usage: check_includes.py SOURCE_DIR    (exit 0 when everything holds)
       check_includes.py --self-test SOURCE_DIR   (the check fails on a broken copy)
"""
import os
import re
import sys

# module -> what its files may include besides their own module. An entry
# ending in "/" is a whole module; otherwise it is one header.
RULES = {
    "include/strata": [],
    "base": [],
    "policy": [],
    "allocator": ["base/", "policy/tiers.h"],
    "profiler": ["base/", "policy/", "allocator/layout.h"],
    "src/prof": ["base/", "policy/", "allocator/", "profiler/"],
    "src/engine": ["base/", "policy/", "allocator/", "profiler/", "src/prof/"],
    "src/runtime": ["base/", "policy/", "allocator/", "profiler/", "src/prof/", "src/engine/",
                    "include/strata/"],
    "interpose": ["base/sys.h", "allocator/heap.h", "allocator/jemalloc_api.h",
                  "allocator/layout.h", "allocator/sigsafe.h", "src/runtime/runtime.h"],
    "src/tools": ["base/", "policy/", "allocator/discovery.h", "profiler/",
                  "src/runtime/config_load.h", "src/tools/report/"],
    "src/tools/report": ["base/", "policy/", "profiler/"],
}

# Folders whose files are not checked: tests, benchmarks and examples may use anything.
UNCHECKED = ("tests/", "bench/", "examples/", "build", ".git", "docs/", "scripts/")
SOURCE_EXT = (".h", ".cc", ".c", ".S")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(path):
    """The module a repository path belongs to (longest matching folder)."""
    best = None
    for m in RULES:
        if path.startswith(m + "/") and (best is None or len(m) > len(best)):
            best = m
    return best


def resolve(inc):
    """Repository path of an include as the build's include path finds it."""
    if inc.startswith("strata/"):
        return "include/" + inc
    return inc


def allowed(mod, target):
    if module_of(target) == mod:
        return True
    for entry in RULES[mod]:
        if entry.endswith("/") and target.startswith(entry):
            return True
        if target == entry:
            return True
    return False


def readme_rules(root, mod):
    """The backticked entries on the README's 'May include:' line, or None."""
    path = os.path.join(root, mod, "README.md")
    if not os.path.exists(path):
        return None
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^May include:(.*?)(?:\n\n|\Z)", text, re.M | re.S)
    if not m:
        return None
    line = m.group(1)
    if re.match(r"\s*nothing", line):
        return []
    return sorted(set(re.findall(r"`([^`]+)`", line)))


def self_test():
    """The check itself fails on a crossing and on a cycle (a copy of the tree, broken twice)."""
    import shutil
    import subprocess
    import tempfile
    root = sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        for d in set(m.split("/")[0] for m in RULES):
            shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
        with open(os.path.join(tmp, "allocator", "heap.h"), "a") as f:
            f.write('\n#include "src/engine/engine.h"\n')  # a crossing and a cycle
        r = subprocess.run([sys.executable, __file__, tmp], capture_output=True, text=True)
        out = r.stdout
        ok = (r.returncode == 1 and "allocator/heap.h" in out and "module cycle:" in out)
        print(out)
        print("self-test:", "the check catches a crossing and a cycle" if ok else "FAILED")
        return 0 if ok else 1


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--self-test":
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    errors = []
    graph = {m: set() for m in RULES}
    nfiles = 0
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if not (rel_dir + d + "/").startswith(UNCHECKED)]
        for fn in filenames:
            if not fn.endswith(SOURCE_EXT):
                continue
            path = rel_dir + fn
            mod = module_of(path)
            if mod is None:
                errors.append(f"{path}: in no module (add its folder to RULES in {__file__})")
                continue
            nfiles += 1
            with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = resolve(m.group(1))
                    if not os.path.exists(os.path.join(root, target)):
                        local = os.path.join(os.path.dirname(path), m.group(1))
                        if os.path.exists(os.path.join(root, local)):
                            errors.append(f"{path}:{lineno}: includes \"{m.group(1)}\" relative "
                                          f"to its folder (write the path from the source root)")
                        continue  # generated or system header
                    tmod = module_of(target)
                    if tmod is not None and tmod != mod:
                        graph[mod].add(tmod)
                    if not allowed(mod, target):
                        errors.append(f"{path}:{lineno}: includes {target}, which {mod}/ may not "
                                      f"(may include: {', '.join(RULES[mod]) or 'nothing'})")
    # Cycles between modules (depth-first search, reporting each cycle once).
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cyc = stack[stack.index(n):] + [n]
                errors.append("module cycle: " + " -> ".join(cyc))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    # The READMEs state the same rules.
    for mod, entries in RULES.items():
        have = readme_rules(root, mod)
        if mod == "include/strata":
            continue
        want = sorted(entries)
        if have is None:
            errors.append(f"{mod}/README.md: no 'May include:' line (expected: {want})")
        elif have != want:
            errors.append(f"{mod}/README.md: 'May include:' says {have}, the rules say {want}")
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} layering problem(s); the rules are RULES in tests/unit/check_includes.py")
        return 1
    print(f"{nfiles} files in {len(RULES)} modules: includes follow the rules, no module cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
