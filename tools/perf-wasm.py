#!/usr/bin/env python3
"""Names the wasm frames of a `perf record` of baton: perf shows a plugin's compiled code as
`[JIT] tid N` addresses, because wasmtime copies it into anonymous memory. This maps them back
to the plugin's Rust functions, from three things: the code mapping's start in the process's
`/proc/PID/maps` (saved while it ran), the compiled `.cwasm`'s symbol table (`wasm[0]::function[N]`,
offsets from its `.text`), and the component's `name` section (N -> Rust name; build the plugin
with `CARGO_PROFILE_RELEASE_STRIP=false` so it has one). Prints self and inclusive shares,
optionally within a time window (seconds from the first sample) to look at one phase.

  perf record -F 2000 -g -o run.data baton --home H serve --once &
  sleep 1.5; cat /proc/$(pgrep -f 'baton --home H serve')/maps > run.maps; wait
  tools/perf-wasm.py run.data run.maps ~/.cache/baton/SHA-*.cwasm plugin.wasm [--from 4.4 --to 5.4]
"""
import argparse, bisect, collections, re, subprocess, sys


def leb(b, i):
    r = s = 0
    while True:
        x = b[i]
        i += 1
        r |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return r, i


def function_names(component):
    """Function index -> name, from the first core module's `name` section ({} when stripped)."""
    b = open(component, "rb").read()
    i, module = 8, None
    while i < len(b) and module is None:
        sid = b[i]
        n, i = leb(b, i + 1)
        if sid == 1:  # a core module inside the component
            module = b[i:i + n]
        i += n
    if module is None:
        module = b  # a plain core module
    i = 8
    while i < len(module):
        sid = module[i]
        n, i = leb(module, i + 1)
        end = i + n
        if sid == 0:
            ln, j = leb(module, i)
            if module[j:j + ln] == b"name":
                j += ln
                while j < end:
                    sub = module[j]
                    sl, j = leb(module, j + 1)
                    if sub == 1:
                        count, j = leb(module, j)
                        names = {}
                        for _ in range(count):
                            idx, j = leb(module, j)
                            l, j = leb(module, j)
                            names[idx] = module[j:j + l].decode(errors="replace")
                            j += l
                        return names
                    j += sl
        i = end
    return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("maps")
    ap.add_argument("cwasm")
    ap.add_argument("component")
    ap.add_argument("--from", dest="lo", type=float, default=0.0)
    ap.add_argument("--to", dest="hi", type=float, default=1e9)
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    # The anonymous executable mapping (not [vdso]) holds the compiled plugin.
    spans = [tuple(int(x, 16) for x in l.split()[0].split("-")) for l in open(a.maps)
             if " r-xp 00000000 00:00 0" in l and l.rstrip().endswith(" 0")]
    if not spans:
        sys.exit(f"{a.maps}: no anonymous executable mapping (was it saved while the plugin ran?)")
    names = function_names(a.component)
    syms = []
    for l in subprocess.run(["nm", "-n", a.cwasm], capture_output=True, text=True, check=True).stdout.splitlines():
        addr, _, s = l.split(" ", 2)
        m = re.match(r"wasm\[0\]::function\[(\d+)\]", s)
        syms.append((int(addr, 16), names.get(int(m.group(1)), s) if m else s))
    addrs = [x for x, _ in syms]

    def sym(ip):
        for lo, hi in spans:
            if lo <= ip < hi:
                k = bisect.bisect_right(addrs, ip - lo) - 1
                return syms[k][1] if k >= 0 else None
        return None

    out = subprocess.run(["perf", "script", "-i", a.data, "-F", "time,ip"], capture_output=True, text=True, check=True).stdout
    total = in_wasm = 0
    own, incl = collections.Counter(), collections.Counter()
    t0 = None
    for block in out.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        t = float(lines[0].strip().rstrip(":"))
        t0 = t if t0 is None else t0
        if not a.lo <= t - t0 < a.hi:
            continue
        ips = [int(x.strip(), 16) for x in lines[1:] if x.strip()]
        total += 1
        top = sym(ips[0]) if ips else None
        if top:
            in_wasm += 1
            own[top] += 1
        seen = set()
        for ip in ips:
            s = sym(ip)
            if s and s not in seen:
                seen.add(s)
                incl[s] += 1
    if not total:
        sys.exit("no samples in that window")
    print(f"{total} samples, {100 * in_wasm / total:.1f}% in the plugin's code (self)")
    for title, c in (("self", own), ("inclusive", incl)):
        print(f"--- {title}")
        for s, n in c.most_common(a.top):
            print(f"{100 * n / total:5.1f}% {s[:160]}")


if __name__ == "__main__":
    main()
