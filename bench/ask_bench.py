"""Ask-and-answer round trips through echo `ask` (issue 79's target: p99 < 20 ms with `serve`
running, for the CLI, MCP and A2A). Never run in CI.

    python3 bench/ask_bench.py BATON [N] [cli,mcp,a2a]

Makes a temporary home (`baton init`) with `baton serve --http` on it (bench/agents_bench.py's
`start`), then N round trips per door, each timed from the send to the final RETURN in hand:
the request delivered, the answer given, the plugin run again:
  cli  `baton send --plugin echo --action ask --wait --json` (exit 3: the request), `baton
       answer ID --input '{"name": …}'`, `baton wait ID --json` (three processes)
  mcp  one `baton mcp` session (the official Python SDK): send_task, wait_for_return (the
       request), answer, wait_for_return
  a2a  a blocking `SendMessage` to echo.ask (ends TASK_STATE_INPUT_REQUIRED), then a blocking
       `SendMessage` with that taskId and the answer as a data part (ends COMPLETED)
Beside them, in the same run, the plain round trip without a question (echo `echo`, each door
as bench/agents_bench.py times it): the reference, so the question's own cost is the difference.
Prints p50/p99/max in milliseconds as JSON.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agents_bench as ab  # noqa: E402


def cli(baton, home, n):
    env = dict(os.environ, BATON_AGENT="Bench-Ask")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        asked = subprocess.run([baton, "--home", home, "send", "--plugin", "echo", "--action", "ask", "--params", "{}",
                                "--wait", "--timeout", "30", "--json"], env=env, capture_output=True)
        assert asked.returncode == 3, asked.stderr
        tid = json.loads(asked.stdout)["in_reply_to"]
        answered = subprocess.run([baton, "--home", home, "answer", tid, "--input", json.dumps({"name": f"n{i}"})],
                                  env=env, capture_output=True)
        assert answered.returncode == 0, answered.stderr
        done = subprocess.run([baton, "--home", home, "wait", tid, "--timeout", "30", "--json"], env=env,
                              capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        assert done.returncode == 0 and json.loads(done.stdout)["status"] == "completed", done.stderr
    return ab.summary(times)


async def mcp(baton, home, n):
    times = []
    async with ab.mcp_client(baton, home, "Bench-Ask-MCP") as c:
        for i in range(n):
            t0 = time.perf_counter()
            sent = await c.call_tool("send_task", {"plugin": "echo", "action": "ask", "params": {}})
            tid = sent.structured_content["id"]
            asked = await c.call_tool("wait_for_return", {"id": tid})
            assert asked.structured_content["status"] == "input_required", asked
            await c.call_tool("answer", {"id": tid, "input": {"name": f"n{i}"}})
            ret = await c.call_tool("wait_for_return", {"id": tid})
            times.append((time.perf_counter() - t0) * 1000)
            assert ret.structured_content["status"] == "completed", ret
    return ab.summary(times)


def a2a(port, key, n, prefix="ask"):
    import httpx

    times = []
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
        for i in range(n):
            ask = {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
                   "params": {"message": {"messageId": f"{prefix}{i}", "role": "ROLE_USER", "parts": [{"data": {}}],
                                          "metadata": {"skill": "echo.ask"}}}}
            t0 = time.perf_counter()
            r = c.post("/a2a", json=ask).json()
            task = r["result"]["task"]
            assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", r
            answer = {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
                      "params": {"message": {"messageId": f"{prefix}{i}-answer", "role": "ROLE_USER", "taskId": task["id"],
                                             "parts": [{"data": {"name": f"n{i}"}}], "metadata": {"skill": "echo.ask"}}}}
            r = c.post("/a2a", json=answer).json()
            times.append((time.perf_counter() - t0) * 1000)
            assert r["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", r
    return ab.summary(times)


def main():
    baton = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else ["cli", "mcp", "a2a"]
    with ab.serving(baton, folder=os.environ.get("BENCH_DIR")) as (home, key, port):
        cli(baton, home, 5)  # warm-up
        a2a(port, key, 5, prefix="warm-up-")
        runs = {
            "cli": lambda: {"ask": cli(baton, home, n), "plain": ab.send_wait(baton, home, n)},
            "mcp": lambda: {"ask": asyncio.run(mcp(baton, home, n)), "plain": asyncio.run(ab.mcp(baton, home, n))},
            "a2a": lambda: {"ask": a2a(port, key, n), "plain": ab.a2a(port, key, n, prefix="plain-")},
        }
        out = ab.measure(runs, only)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
