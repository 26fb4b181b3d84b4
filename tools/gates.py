#!/usr/bin/env python3
"""The structure rules `./x gates` keeps (docs/internals.md, "Rules the gates keep"):

  1. no function over 150 lines in crates/**/src and plugins/*/src, counted from `fn` to its
     closing brace (test modules and the test-fixture plugins excepted);
  2. no module cycle inside a crate (its top-level modules, by their `crate::` paths);
  3. no crate under crates/platform depending on a crate under crates/music;
  4. at most 20 `Result<_, String>` in each crate's src (test code excepted);
  5. crates/platform/cli at most 3,000 lines;
  6. every connection to the state is made by the home (`baton_home::State`,
     `baton_home::state::connect`): no `Ledger::open`/`Ledger::open_at` in crates/**/src
     outside the ledger itself, the home's `state.rs`, `baton migrate` (which opens a second
     state on purpose) and the catalog's `handoffs` source (a music crate, which depends on no
     home), test code excepted.

Each failure prints the offender and the rule; the exit status is 1 if any rule is broken.
Run from anywhere: `python3 tools/gates.py` (it finds the repository from its own path).
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FN_LINES = 150
MAX_STRING_RESULTS = 20
MAX_CLI_LINES = 3000
# Plugins that exist to be hostile, old or odd on purpose (the sandbox's and upgrades' tests).
FIXTURE_PLUGINS = {"testkit", "legacy-echo", "legacy-v0-2", "legacy-v0-3", "music-v0-5"}

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
                r"(?:extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")
TEST_MOD = re.compile(r"^\s*#\[cfg\(test\)\]\s*$")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*(;|\{)")
LEDGER_OPEN = re.compile(r"\bLedger::open(?:_at)?\s*\(")
# Where a connection to the state may be made (rule 6), relative to the repository.
LEDGER_OPENERS = (
    os.path.join("crates", "platform", "ledger") + os.sep,
    os.path.join("crates", "platform", "home", "src", "state.rs"),
    os.path.join("crates", "app", "src", "migrate.rs"),
    os.path.join("crates", "music", "catalog", "src", "virtuals.rs"),
)
STRING_RESULT = re.compile(r"Result<[^<>;{}]*?(?:<[^<>]*>[^<>;{}]*?)*,\s*String\s*>")


def strip(text):
    """`text` with comments, string and char literals blanked (newlines kept), so braces and
    words inside them are not code."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two == "//":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif two == "/*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text[j:j + 2] == "/*":
                    depth, j = depth + 1, j + 2
                elif text[j:j + 2] == "*/":
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = len(re.match(r'r(#*)"', text[i:]).group(1))
            end = text.find('"' + "#" * hashes, i + 2 + hashes)
            end = n if end < 0 else end + 1 + hashes
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def closing(code, start):
    """The index of the brace that closes the one at `start`."""
    depth = 0
    for j in range(start, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def test_ranges(code):
    """Character ranges of `#[cfg(test)] mod NAME { … }` blocks, and the names of
    `#[cfg(test)] mod NAME;` files."""
    ranges, files = [], []
    lines = code.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for k, line in enumerate(lines):
        if not TEST_MOD.match(line):
            continue
        for nxt in range(k + 1, min(k + 4, len(lines))):
            m = MOD_DECL.match(lines[nxt])
            if m:
                if m.group(2) == ";":
                    files.append(m.group(1))
                else:
                    start = code.index("{", offsets[nxt])
                    ranges.append((offsets[k], closing(code, start)))
                break
            if lines[nxt].strip() and not lines[nxt].strip().startswith("#"):
                break
    return ranges, files


def source_files(src):
    """Every .rs file under `src`, without the test-only module files it declares."""
    skip = set()
    found = []
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith(".rs"):
                found.append(os.path.join(dirpath, name))
    for path in found:
        code = strip(open(path, encoding="utf-8").read())
        _, files = test_ranges(code)
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        here = base if stem in ("lib", "main", "mod") else os.path.join(base, stem)
        for f in files:
            skip.add(os.path.join(here, f + ".rs"))
            skip.add(os.path.join(here, f, "mod.rs"))
            for dirpath, _, names in os.walk(os.path.join(here, f)):
                skip.update(os.path.join(dirpath, n) for n in names)
    return [p for p in found if p not in skip and os.sep + "tests" + os.sep not in p[len(src):]]


def crates():
    """(name, folder) of every crate of ours with a src/ folder: crates/** and plugins/*."""
    out = []
    for base in ("crates", "plugins"):
        for dirpath, dirs, names in os.walk(os.path.join(ROOT, base)):
            dirs[:] = [d for d in dirs if d not in ("target", "node_modules", ".git")]
            if "Cargo.toml" in names and os.path.isdir(os.path.join(dirpath, "src")):
                text = open(os.path.join(dirpath, "Cargo.toml"), encoding="utf-8").read()
                m = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M)
                if m:
                    out.append((m.group(1), dirpath))
    return out


def rel(path):
    return os.path.relpath(path, ROOT)


def long_functions(files):
    bad = []
    for path in files:
        code = strip(open(path, encoding="utf-8").read())
        tests, _ = test_ranges(code)
        lines = code.split("\n")
        pos = 0
        for k, line in enumerate(lines):
            m = FN.match(line)
            start_of_line = pos
            pos += len(line) + 1
            if not m or any(a <= start_of_line <= b for a, b in tests):
                continue
            # The body: the first `{` after the signature, unless a `;` ends it first (a
            # trait method without a body).
            brace, semi = code.find("{", start_of_line), code.find(";", start_of_line)
            if brace < 0 or (0 <= semi < brace and code[start_of_line:semi].count("(") == code[start_of_line:semi].count(")")):
                continue
            end = closing(code, brace)
            n = code.count("\n", start_of_line, end) + 1
            if n > MAX_FN_LINES:
                bad.append(f"{rel(path)}:{k + 1}: fn {m.group(1)} is {n} lines (rule 1: at most {MAX_FN_LINES})")
    return bad


def module_cycles(name, src, files):
    """Cycles among a crate's top-level modules, by `crate::MODULE` paths in each module."""
    top = {}
    for path in files:
        parts = os.path.relpath(path, src).split(os.sep)
        first = os.path.splitext(parts[0])[0]
        if first in ("lib", "main"):
            continue
        top.setdefault(first, []).append(path)
    edges = {m: set() for m in top}
    for m, paths in top.items():
        for path in paths:
            code = strip(open(path, encoding="utf-8").read())
            tests, _ = test_ranges(code)
            for t in re.finditer(r"\bcrate::(\w+)", code):
                if any(a <= t.start() <= b for a, b in tests):
                    continue
                other = t.group(1)
                if other in top and other != m:
                    edges[m].add(other)
            # `use crate::{a, b::c}`
            for g in re.finditer(r"\bcrate::\{([^}]*)\}", code):
                for other in re.findall(r"(?:^|,)\s*(\w+)", g.group(1)):
                    if other in top and other != m:
                        edges[m].add(other)
    # Tarjan's strongly connected components.
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [f"{name}: modules {' <-> '.join(c)} use each other (rule 2: no module cycle inside a crate)" for c in out]


def platform_on_music(all_crates):
    music = {n for n, d in all_crates if rel(d).startswith(os.path.join("crates", "music"))}
    bad = []
    for n, d in all_crates:
        if not rel(d).startswith(os.path.join("crates", "platform")):
            continue
        text = open(os.path.join(d, "Cargo.toml"), encoding="utf-8").read()
        for dep in re.findall(r'^\s*([\w-]+)\s*=', text, re.M):
            if dep in music:
                bad.append(f"{rel(d)}: depends on the music crate {dep} (rule 3: no platform crate depends on a music crate)")
    return bad


def string_results(name, files):
    n, where = 0, []
    for path in files:
        code = strip(open(path, encoding="utf-8").read())
        tests, _ = test_ranges(code)
        for m in STRING_RESULT.finditer(code):
            if any(a <= m.start() <= b for a, b in tests):
                continue
            n += 1
            where.append(f"{rel(path)}:{code.count(chr(10), 0, m.start()) + 1}")
    if n > MAX_STRING_RESULTS:
        return [f"{name}: {n} `Result<_, String>` (rule 4: at most {MAX_STRING_RESULTS}): " + ", ".join(where)]
    return []


def ledger_opens(files):
    bad = []
    for path in files:
        if rel(path).startswith(LEDGER_OPENERS):
            continue
        code = strip(open(path, encoding="utf-8").read())
        tests, _ = test_ranges(code)
        for m in LEDGER_OPEN.finditer(code):
            if any(a <= m.start() <= b for a, b in tests):
                continue
            line = code.count(chr(10), 0, m.start()) + 1
            bad.append(f"{rel(path)}:{line}: opens the state itself (rule 6: through the home, "
                       "`ctx.ledger()`/`ctx.connect()` or `baton_home::state::connect`)")
    return bad


def cli_lines():
    src = os.path.join(ROOT, "crates", "platform", "cli", "src")
    n = sum(open(p, encoding="utf-8").read().count("\n") for p in source_files_all(src))
    return [] if n <= MAX_CLI_LINES else [f"crates/platform/cli: {n} lines (rule 5: at most {MAX_CLI_LINES}; a command's logic lives in its domain crate)"]


def source_files_all(src):
    return [os.path.join(d, f) for d, _, names in os.walk(src) for f in names if f.endswith(".rs")]


def main():
    failures = []
    all_crates = crates()
    for name, d in all_crates:
        fixture = rel(d).startswith("plugins" + os.sep) and os.path.basename(d) in FIXTURE_PLUGINS
        src = os.path.join(d, "src")
        files = source_files(src)
        if not fixture:
            failures += long_functions(files)
        failures += module_cycles(name, src, files)
        failures += string_results(name, files)
        failures += ledger_opens(files)
    failures += platform_on_music(all_crates)
    failures += cli_lines()
    for f in failures:
        print(f"gates: {f}")
    if failures:
        print(f"gates: {len(failures)} rule(s) broken")
        return 1
    print(f"gates: {len(all_crates)} crates keep the rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
