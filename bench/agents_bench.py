"""Agent round-trip benchmark (never run in CI).

    python3 bench/agents_bench.py BATON [N] [send_wait,by_hand,mcp,a2a]

Makes a temporary home (`baton init`), starts `baton serve` on it, then measures N round trips
(default 1,000) to the echo plugin, each timed from the start of the send to the RETURN in hand:
  send_wait  `baton send --plugin echo --action echo --params … --wait --json` (one process each)
  by_hand    the same TASK written by hand (temp file, rename into the inbox), then polling the
             sender's inbox every millisecond for the RETURN (what scripts did before `send`)
  mcp        one `baton mcp` session driven by the official Python SDK: send_task, then
             wait_for_return
  a2a        `serve --http`'s A2A endpoint: a blocking `SendMessage` to the skill echo.echo,
             timed until the completed task is in hand (one keep-alive HTTP connection; the
             JSON-RPC body written by hand, as the SDK's transport sends it)
BENCH_FILED=K first writes K old RETURNs into each folder that a long-used home fills: `a2a`'s
`02_processed/` (A2A files every answer it delivered there) and the unread inboxes of the CLI
and MCP senders (`Bench-CLI`, `Bench-MCP`), as after K earlier round trips of each.
Prints p50/p99/max in milliseconds as JSON; for send_wait also the CPU time (user + system) of
each `baton send` process (p50/p99), which is what a loaded machine multiplies: the load average
while the bench ran is printed beside it.
"""

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs):
    return {"n": len(xs), "p50_ms": round(pct(xs, 50), 2), "p99_ms": round(pct(xs, 99), 2), "max_ms": round(max(xs), 2)}


def send_wait(baton, home, n):
    env = dict(os.environ, BATON_AGENT="Bench-CLI")
    times, cpu = [], []
    for i in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run([baton, "--home", home, "send", "--plugin", "echo", "--action", "echo",
                              "--params", json.dumps({"i": i}), "--wait", "--timeout", "30", "--json"],
                             env=env, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000)
        assert out.returncode == 0 and json.loads(out.stdout)["status"] == "completed", out.stderr
    out = summary(times)
    out["cpu_p50_ms"], out["cpu_p99_ms"] = round(pct(cpu, 50), 2), round(pct(cpu, 99), 2)
    return out


def by_hand(home, n):
    root = os.path.join(home, "handoffs")
    inbox = os.path.join(root, "baton", "01_inbox")
    mine = os.path.join(root, "Bench-Hand", "01_inbox")
    os.makedirs(mine, exist_ok=True)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        tid = uuid.uuid4().hex
        body = {"schema": "baton.handoff/v1", "id": tid, "kind": "task",
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "from": "Bench-Hand", "title": "echo", "plugin": "echo", "action": "echo", "params": {"i": i}}
        name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"__TASK__echo-{tid}__Bench-Hand.json"
        tmp = os.path.join(root, f".tmp-{tid}")
        with open(tmp, "w") as f:
            json.dump(body, f)
        os.rename(tmp, os.path.join(inbox, name))
        seen = set()
        found = None
        while found is None:
            for entry in os.listdir(mine):
                if entry in seen or "__RETURN__" not in entry:
                    continue
                seen.add(entry)
                with open(os.path.join(mine, entry)) as f:
                    if json.load(f).get("in_reply_to") == tid:
                        found = entry
                        break
            if found is None:
                time.sleep(0.001)
        times.append((time.perf_counter() - t0) * 1000)
        os.rename(os.path.join(mine, found), os.path.join(mine, "." + found))  # read: out of the way
    return summary(times)


def mcp_client(baton, home, agent):
    """One `baton mcp --agent AGENT` session through the official Python SDK."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=baton, args=["--home", home, "mcp", "--agent", agent],
                                   env={k: v for k, v in os.environ.items() if k.startswith("XDG_")})
    return Client(params)


async def mcp(baton, home, n):
    times = []
    async with mcp_client(baton, home, "Bench-MCP") as c:
        for i in range(n):
            t0 = time.perf_counter()
            sent = await c.call_tool("send_task", {"plugin": "echo", "action": "echo", "params": {"i": i}})
            ret = await c.call_tool("wait_for_return", {"id": sent.structured_content["id"]})
            times.append((time.perf_counter() - t0) * 1000)
            assert ret.structured_content["status"] == "completed", ret
    return summary(times)


def a2a(port, key, n, prefix="b"):
    """`prefix` names the messages: a `messageId` sent before is not a new task but a replay of
    the old one (the warm-up uses its own prefix, so the measured run sends only new ones)."""
    import httpx

    times = []
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
        for i in range(n):
            body = {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
                    "params": {"message": {"messageId": f"{prefix}{i}", "role": "ROLE_USER", "parts": [{"data": {"i": i}}],
                                           "metadata": {"skill": "echo.echo"}}}}
            t0 = time.perf_counter()
            r = c.post("/a2a", json=body).json()
            times.append((time.perf_counter() - t0) * 1000)
            assert r["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", r
    return summary(times)


def fill(home, k):
    """K old RETURNs (a 2020 stamp) in each folder a long-used home fills."""
    for folder in ("a2a/02_processed", "Bench-CLI/01_inbox", "Bench-MCP/01_inbox"):
        d = os.path.join(home, "handoffs", folder)
        os.makedirs(d, exist_ok=True)
        for i in range(k):
            body = {"schema": "baton.handoff/v1", "id": f"old-r{i}", "kind": "return", "in_reply_to": f"old-{i}",
                    "created_at": "2020-01-01T00:00:00Z", "from": "baton", "title": "Re: echo.echo",
                    "status": "completed", "result": {"i": i}}
            with open(os.path.join(d, f"20200101T000000Z__RETURN__echo-old-{i}__baton.json"), "w") as f:
                json.dump(body, f)


def start(baton, d, filed, toml=""):
    """A home in `d` (`init`, `toml` added to its baton.toml, `filed` old RETURNs in each filled
    folder, a dashboard key) and `serve --http` on a free port: (home, key, port, the serve
    process)."""
    import socket
    home = os.path.join(d, "home")
    subprocess.run([baton, "--home", home, "init"], check=True, capture_output=True)
    if toml:
        with open(os.path.join(home, "baton.toml"), "a") as f:
            f.write("\n" + toml)
    fill(home, filed)
    key = subprocess.run([baton, "--home", home, "key", "rotate"], check=True, capture_output=True,
                         text=True).stdout.strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen([baton, "--home", home, "serve", "--http", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return home, key, port, serve


@contextlib.contextmanager
def serving(baton, filed=0, folder=None, toml=""):
    """A fresh home (see `start`) with `serve --http` on it, its plugins loaded: (home, key,
    port) while the block runs; `serve` stopped and the home removed after."""
    with tempfile.TemporaryDirectory(dir=folder) as d:
        home, key, port, serve = start(baton, d, filed, toml)
        try:
            time.sleep(3)  # plugins loaded
            yield home, key, port
        finally:
            serve.terminate()
            serve.wait()


def measure(runs, only):
    """Each chosen run of `runs`, with the load average before and after."""
    load0 = os.getloadavg()[0]
    out = {k: runs[k]() for k in only}
    out["load_avg_1min"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
    return out


def main():
    baton = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with serving(baton, int(os.environ.get("BENCH_FILED", "0"))) as (home, key, port):
        send_wait(baton, home, 20)  # warm-up
        a2a(port, key, 20, prefix="warm-up-")
        only = sys.argv[3].split(",") if len(sys.argv) > 3 else ["send_wait", "by_hand", "mcp", "a2a"]
        runs = {"send_wait": lambda: send_wait(baton, home, n), "by_hand": lambda: by_hand(home, n),
                "mcp": lambda: asyncio.run(mcp(baton, home, n)), "a2a": lambda: a2a(port, key, n)}
        out = measure(runs, only)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
