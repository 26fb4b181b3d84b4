"""A2A requests one by one, in a home filled like a long-used one (never run in CI).

    python3 bench/a2a_tail.py BATON N FILED [new|replay]

Makes a home with FILED old RETURNs in each folder that a long-used home fills (as
`agents_bench.py`'s BENCH_FILED), starts `serve --http`, then:
  new     N new blocking `SendMessage`s to echo.echo; prints p50/p99/p99.9/max, how many took
          over 20 ms, and when each request over 10 ms started (seconds into the run), so a
          stall that recurs (once a second, say) shows as a pattern
  replay  N new messages, then the same N `messageId`s again (a client retrying after a lost
          answer); prints each replay's time
"""

import os
import sys
import tempfile
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agents_bench  # noqa: E402


def send(c, i, message_id):
    body = {"jsonrpc": "2.0", "id": i, "method": "SendMessage",
            "params": {"message": {"messageId": message_id, "role": "ROLE_USER", "parts": [{"data": {"i": i}}],
                                   "metadata": {"skill": "echo.echo"}}}}
    t0 = time.perf_counter()
    r = c.post("/a2a", json=body).json()
    assert r["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", r
    return t0, (time.perf_counter() - t0) * 1000


def main():
    baton, n, filed = os.path.abspath(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "new"
    with tempfile.TemporaryDirectory() as d:
        _, key, port, serve = agents_bench.start(baton, d, filed)
        try:
            time.sleep(3)  # plugins loaded
            agents_bench.a2a(port, key, 20, prefix="warm-up-")
            headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
                if mode == "replay":
                    for i in range(n):
                        send(c, i, f"r{i}")
                    print("replays (ms):", " ".join(f"{send(c, i, f'r{i}')[1]:.1f}" for i in range(n)))
                    return
                start = time.perf_counter()
                rows = [send(c, i, f"t{i}") for i in range(n)]
        finally:
            serve.terminate()
            serve.wait()
    lat = sorted(ms for _, ms in rows)
    pick = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))]  # noqa: E731
    print(f"p50 {pick(0.5):.2f} p99 {pick(0.99):.2f} p99.9 {pick(0.999):.2f} max {lat[-1]:.2f} ms; "
          f"over 20 ms: {sum(1 for x in lat if x > 20)} of {n}")
    print("over 10 ms (start s: ms):", " ".join(f"{t0 - start:.3f}:{ms:.1f}" for t0, ms in rows if ms > 10))


if __name__ == "__main__":
    main()
