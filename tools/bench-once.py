#!/usr/bin/env python3
"""`baton serve --once` over N echo TASKs, start-up included (the clock starts before the process
does), for one or more binaries (say, before and after a change), rounds interleaved; and in the
same run, in the same folder, the disk's own limits: N small files each written and fdatasync'ed,
against N files written and then one sync (syncfs of that file system).

  cargo build --release -p baton-app --bins
  mkdir -p /tmp/after && cp target/release/baton target/release/baton-host /tmp/after/
  tools/bench-once.py /tmp/before/baton,/tmp/after/baton [N=20000] [ROUNDS=3]

(`baton` hands `serve` to the `baton-host` beside it: copy both, each build in its own folder.)

BENCH_DIR picks the file system (default: the system temp folder). Each binary's first round
may compile the plugins into the per-user cache; the median hides it.
"""
import ctypes, json, os, statistics, subprocess, sys, tempfile, time

LIBC = ctypes.CDLL(None, use_errno=True)

from benchhome import drop, home

def once(bin_, n):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        root = home(bin_, base)
        drop(root, n)
        os.sync()  # the drops' own writeback is not baton's cost
        t = time.monotonic()
        r = subprocess.run(["/usr/bin/time", "-f", "%U %S", bin_, "--home", root, "serve", "--once"], check=True,
                           stderr=subprocess.PIPE, env={**os.environ, "BATON_LOG": "warn"}, text=True)
        dt = time.monotonic() - t
        user, sys_ = (float(x) for x in r.stderr.strip().splitlines()[-1].split())
        returns = [f for f in os.listdir(os.path.join(root, "handoffs/Bench-Agent/01_inbox")) if "__RETURN__" in f]
        assert len(returns) == n, f"{bin_}: {len(returns)} RETURNs for {n} TASKs"
        return n / dt, dt, user, sys_

def empty(bin_):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        root = home(bin_, base)
        t = time.monotonic()
        subprocess.run([bin_, "--home", root, "serve", "--once"], check=True, stderr=subprocess.DEVNULL,
                       env={**os.environ, "BATON_LOG": "warn"})
        return time.monotonic() - t

def disk(n):
    """Files/s: write+fdatasync each, then write all + one syncfs, 300-byte files like a RETURN."""
    data = b"x" * 300
    out = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as base:
        for mode in ("fdatasync each", "one syncfs"):
            d = os.path.join(base, mode.replace(" ", "-"))
            os.mkdir(d)
            os.sync()
            t = time.monotonic()
            for i in range(n):
                fd = os.open(os.path.join(d, f"f{i}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, data)
                if mode == "fdatasync each":
                    os.fdatasync(fd)
                os.close(fd)
            if mode == "one syncfs":
                fd = os.open(d, os.O_RDONLY)
                if LIBC.syncfs(fd) != 0:
                    raise OSError(ctypes.get_errno(), "syncfs")
                os.close(fd)
            dfd = os.open(d, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            out[mode] = n / (time.monotonic() - t)
    return out

def main():
    bins = sys.argv[1].split(",")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    res = {b: [] for b in bins}
    emp = {b: [] for b in bins}
    dsk = {"fdatasync each": [], "one syncfs": []}
    for r in range(rounds):
        order = bins if r % 2 == 0 else list(reversed(bins))
        for b in order:
            emp[b].append(empty(b))
            rate, dt, user, sys_ = once(b, n)
            res[b].append(rate)
            print(f"round {r}: {b}: {rate:.0f} handoffs/s ({dt:.2f} s, {user:.2f} s user, {sys_:.2f} s system); empty serve --once {emp[b][-1]:.3f} s", flush=True)
        for k, v in disk(min(n, 2000)).items():
            dsk[k].append(v)
        print(f"round {r}: disk: {dsk['fdatasync each'][-1]:.0f} files/s with fdatasync each, {dsk['one syncfs'][-1]:.0f} files/s with one syncfs", flush=True)
    print(f"\nmedian of {rounds} rounds, {n} TASKs, start-up included:")
    for b in bins:
        print(f"  {b}: {statistics.median(res[b]):.0f} handoffs/s; empty serve --once {statistics.median(emp[b]):.3f} s")
    print(f"  disk: {statistics.median(dsk['fdatasync each']):.0f} files/s fdatasync each, {statistics.median(dsk['one syncfs']):.0f} files/s one syncfs")

if __name__ == "__main__":
    main()
