#!/usr/bin/env python3
"""Handoffs/s with the portable (macOS) file primitives forced, against the Linux-native ones,
in one run: the same N echo TASKs drained by `baton serve --once` (start-up included, durable:
every RETURN synced, every claim and filing synced), rounds alternating between the two binaries.

  cargo build -p baton-app --bins && mkdir -p /tmp/native && cp target/debug/baton target/debug/baton-host /tmp/native/
  printf '#!/bin/sh\nBATON_FS_PORTABLE=1 exec /tmp/native/baton "$@"\n' > /tmp/portable && chmod +x /tmp/portable
  tools/bench-portable.py /tmp/native/baton /tmp/portable [N] [ROUNDS]

(The portable primitives are chosen by `BATON_FS_PORTABLE=1`, read once per process; `baton`
hands `serve` to the `baton-host` beside it, so copy both.)
"""
import json, os, statistics, subprocess, sys, tempfile, time

from benchhome import drop, home

def rate(bin_, n):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        root = home(bin_, base)
        drop(root, n)
        t = time.monotonic()
        subprocess.run([bin_, "--home", root, "serve", "--once"], check=True, stderr=subprocess.DEVNULL,
                       env={**os.environ, "BATON_LOG": "warn"})
        dt = time.monotonic() - t
        returns = [f for f in os.listdir(os.path.join(root, "handoffs/Bench-Agent/01_inbox")) if "__RETURN__" in f]
        assert len(returns) == n, f"{bin_}: {len(returns)} RETURNs for {n} TASKs"
        return n / dt

def main():
    native, portable = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    res = {"native": [], "portable": []}
    for r in range(rounds):
        order = [("native", native), ("portable", portable)]
        if r % 2:
            order.reverse()
        for label, b in order:
            res[label].append(rate(b, n))
        print(f"round {r}: native {res['native'][-1]:.0f}/s, portable {res['portable'][-1]:.0f}/s", flush=True)
    mn, mp = statistics.median(res["native"]), statistics.median(res["portable"])
    print(f"median of {rounds}: native {mn:.0f}/s, portable {mp:.0f}/s, portable/native {mp / mn:.2f}")

if __name__ == "__main__":
    main()
