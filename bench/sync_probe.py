"""What a new handoff's sync costs, as a new file and over a spare (never run in CI).

    python3 bench/sync_probe.py DIR [N]

In DIR (on the disk to measure), N times each, alternated: a new file of 600 bytes written,
`fdatasync`ed and renamed into a folder (what `send` did before spares), and the same bytes
written over a spare (a 4 KiB file of spaces made and synced beforehand), `fdatasync`ed, cut
to 600 bytes and renamed (what baton_fs::spares does). Twice: idle, then beside another
writer that creates, syncs and deletes a file and syncs its folder every 2 ms (other syncs
on the same journal, as `serve`'s and other agents' are). Prints p50/p90/p99 in ms.
"""
import os
import sys
import threading
import time

SPARE = 4096
BODY = b'{"a": 1}' + b" " * 590


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[int(p / 100 * (len(xs) - 1))], 2)


def main():
    root, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400
    d = os.path.join(root, f"sync-probe-{os.getpid()}")
    for sub in ("pool", "inbox", "noise"):
        os.makedirs(os.path.join(d, sub))
    stop = threading.Event()

    def noise():
        i = 0
        while not stop.is_set():
            p = os.path.join(d, "noise", f"n{i}")
            fd = os.open(p, os.O_CREAT | os.O_WRONLY)
            os.write(fd, b"z" * 300)
            os.fdatasync(fd)
            os.close(fd)
            dfd = os.open(os.path.join(d, "noise"), os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
            os.unlink(p)
            i += 1
            time.sleep(0.002)

    for load in (False, True):
        stop.clear()
        th = threading.Thread(target=noise)
        if load:
            th.start()
        fds = []
        for i in range(n):
            fd = os.open(os.path.join(d, "pool", f"s{i}"), os.O_CREAT | os.O_WRONLY)
            os.write(fd, b" " * SPARE)
            fds.append(fd)
        for fd in fds:
            os.fdatasync(fd)
            os.close(fd)
        new, spare = [], []
        for i in range(n):
            t0 = time.perf_counter()
            tmp = os.path.join(d, f"tmp{i}")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL)
            os.write(fd, BODY)
            os.fdatasync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(d, "inbox", f"a{i}"))
            new.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.002)
            t0 = time.perf_counter()
            s = os.path.join(d, "pool", f"s{i}")
            fd = os.open(s, os.O_WRONLY)
            os.pwrite(fd, BODY.ljust(SPARE, b" "), 0)
            os.fdatasync(fd)
            os.ftruncate(fd, len(BODY))
            os.close(fd)
            os.rename(s, os.path.join(d, "inbox", f"b{i}"))
            spare.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.002)
        stop.set()
        if load:
            th.join()
        print(f"{'beside syncs' if load else 'idle'}: new file p50/p90/p99 {pct(new, 50)}/{pct(new, 90)}/{pct(new, 99)} ms"
              f" | over a spare {pct(spare, 50)}/{pct(spare, 90)}/{pct(spare, 99)} ms")
        for f in os.listdir(os.path.join(d, "inbox")):
            os.unlink(os.path.join(d, "inbox", f))
    for sub in ("pool", "inbox", "noise"):
        os.rmdir(os.path.join(d, sub))
    os.rmdir(d)


if __name__ == "__main__":
    main()
