"""A baton home for the handoff benchmarks (`bench-once.py`, `bench-portable.py`): `home` makes
one with the automatic audit off, `drop` puts N echo TASKs into its inbox. `Daemon` runs
`baton serve` on a home and times single TASKs from the drop to their RETURN (inotify), for the
plugin benchmarks' end-to-end figures on a warm daemon (`spotify-bench.py`, `drive-sync-bench.py`)."""
import json, os, subprocess

def home(bin_, base):
    root = os.path.join(base, "home")
    subprocess.run([bin_, "--home", root, "init"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    toml = os.path.join(root, "baton.toml")
    text = open(toml).read().replace("enabled = true", "enabled = false")  # handoffs only, no audit
    open(toml, "w").write(text)
    return root

def drop(root, n):
    inbox = os.path.join(root, "handoffs/baton/01_inbox")
    for i in range(n):
        body = {"schema": "baton.handoff/v1", "id": f"B{i:06}", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                "from": "Bench-Agent", "title": f"T{i:06}", "plugin": "echo", "action": "echo", "params": {"i": i}}
        tmp = os.path.join(root, f".drop-{i}")
        with open(tmp, "w") as f:
            json.dump(body, f)
        os.rename(tmp, os.path.join(inbox, f"20260118T070951Z__TASK__T{i:06}__Bench-Agent.json"))


# --- A warm daemon: drop → RETURN latency through a running `baton serve` -------------------

import ctypes, select, struct, time

_libc = ctypes.CDLL(None, use_errno=True)
_IN_CREATE, _IN_MOVED_TO = 0x100, 0x80


class Returns:
    """Watches a reply inbox with inotify (no polling: the timestamp is when the kernel tells
    us the RETURN's name appeared, and the watcher costs no CPU while it waits)."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        self.fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or _libc.inotify_add_watch(self.fd, folder.encode(), _IN_CREATE | _IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.folder, self.pending = folder, []

    def next(self, timeout=120.0):
        """(monotonic time seen, file name) of the next RETURN to appear."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                t, name = self.pending.pop(0)
                if "__RETURN__" in name and not name.startswith("."):
                    return t, name
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no RETURN in {self.folder} within {timeout} s")
            if not select.select([self.fd], [], [], left)[0]:
                continue
            t = time.monotonic()
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            i = 0
            while i + 16 <= len(buf):
                _wd, _mask, _cookie, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + n].split(b"\0", 1)[0].decode()
                self.pending.append((t, name))
                i += 16 + n

    def close(self):
        os.close(self.fd)



def task_file(root, tid, plugin, action, params, sender="Bench-Agent"):
    """Drops one TASK (atomic rename) and returns the monotonic time of the drop."""
    body = {"schema": "baton.handoff/v1", "id": tid, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
            "from": sender, "title": action, "plugin": plugin, "action": action, "params": params}
    tmp = os.path.join(root, f".drop-{tid}")
    with open(tmp, "w") as f:
        json.dump(body, f)
    t = time.monotonic()
    os.rename(tmp, os.path.join(root, "handoffs/baton/01_inbox", f"20260118T070951Z__TASK__{tid}__{sender}.json"))
    return t


def cpu_seconds(pid):
    """CPU seconds process `pid` has used so far (user + system, all its threads, including
    ones that ended): on a shared machine the wall time waits for a core, the CPU does not."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Daemon:
    """`baton serve` (the daemon, not --once) on a home, for drop → RETURN timings on a warm
    process: what a user running serve as a service sees. `latency(...)` drops one TASK at a
    time and waits for its RETURN, so each figure is one task alone, end to end (claim, ledger,
    plugin run, RETURN written and synced, original filed)."""

    def __init__(self, bin_, root, env, sender="Bench-Agent"):
        self.root, self.sender = root, sender
        self.box = os.path.join(root, "handoffs", sender, "01_inbox")
        self.returns = Returns(self.box)
        self.read = os.path.join(root, ".bench-read")
        os.makedirs(self.read, exist_ok=True)
        self.proc = subprocess.Popen([bin_, "--home", root, "serve"], env=env, stdout=subprocess.DEVNULL)
        self.n = 0

    def run(self, plugin, action, params, timeout=600.0):
        """One TASK through the daemon: (seconds from the drop to its RETURN, the RETURN)."""
        self.n += 1
        tid = f"D{os.getpid()}x{self.n}"
        t0 = task_file(self.root, tid, plugin, action, params, self.sender)
        t1, name = self.returns.next(timeout)
        with open(os.path.join(self.box, name)) as f:
            ret = json.load(f)
        assert ret.get("in_reply_to") == tid, f"{name} answers {ret.get('in_reply_to')}, not {tid}"
        # Picked up, as an agent does: moved out of the handoffs tree (kept, not deleted). Left
        # in place, the RETURNs pile up and every pass of the daemon lists them again (it
        # records what agents pass each other), which is not what a served agent's inbox looks like.
        os.rename(os.path.join(self.box, name), os.path.join(self.read, name))
        return t1 - t0, ret

    def cpu(self):
        """CPU seconds the daemon has used so far (see `cpu_seconds`)."""
        return cpu_seconds(self.proc.pid)

    def sched(self):
        """(ns on a CPU, ns runnable but waiting for a CPU) summed over the daemon's live threads
        (/proc/PID/task/*/schedstat): the second is what a loaded machine adds to a drop →
        RETURN time (threads that ended meanwhile are not counted)."""
        run = wait = 0
        base = f"/proc/{self.proc.pid}/task"
        for t in os.listdir(base):
            try:
                with open(f"{base}/{t}/schedstat") as f:
                    a, b, _ = f.read().split()
                run, wait = run + int(a), wait + int(b)
            except (OSError, ValueError):
                pass
        return run, wait

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.returns.close()
