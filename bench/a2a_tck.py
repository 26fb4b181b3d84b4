"""The official A2A conformance kit (TCK, github.com/a2aproject/a2a-tck) against `serve --http`
(never run in CI).

    python3 bench/a2a_tck.py BATON [must|should|may|all]

Needs a checkout of the TCK (its `1.0-dev` branch) in $TCK_DIR (default /var/tmp/a2a-tck) and a
Python with its requirements in $TCK_PYTHON (default /var/tmp/a2a-tck-venv/bin/python):

    git clone https://github.com/a2aproject/a2a-tck /var/tmp/a2a-tck
    git -C /var/tmp/a2a-tck checkout 1.0-dev
    python3 -m venv /var/tmp/a2a-tck-venv && /var/tmp/a2a-tck-venv/bin/pip install -e /var/tmp/a2a-tck

Makes a temporary home (bench/agents_bench.py's `start`) with `[a2a] default_agent = "tck-agent"`,
so the TCK's messages (which name no skill) become TASKs in that agent's inbox, and runs:
  - the test agent, in a thread: `baton inbox tck-agent --json` in a loop, answering each TASK
    with `baton reply` as the TCK's reference agent answers its scenario (the prefix of the
    message's `messageId`, read from `baton show ID --json`'s `a2a_sent` event; see `answer`);
  - a reverse proxy on another loopback port that adds `Authorization: Bearer KEY` (the TCK's
    clients send no auth header and have no option for one). Besides the key it changes only
    what any reverse proxy does: the `Host` it passes on is serve's own address (serve's Host
    check wants it), and the card's interface URL names the proxy's address instead of serve's,
    so the TCK comes back through the proxy. Each response is sent on a connection closed
    after it (server-sent events stream through as they come);
  - `run_tck.py --sut-host http://PROXY --transport jsonrpc --level LEVEL` (default `must`), in
    $TCK_DIR, which writes its reports under $TCK_DIR/reports/.
Prints a JSON summary: the TCK's commit; the tests passed, failed and skipped (each failure with
its message, each skip with its reason; the tests of the other transports, gRPC and HTTP+JSON,
counted apart); and the MUST requirements by the TCK's compatibility report's verdict (PASS,
FAIL, SKIPPED, NOT TESTED), each failed one with its errors.
"""

import http.client
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agents_bench as ab  # noqa: E402

AGENT = "tck-agent"

# Request headers the proxy does not pass on (hop-by-hop), and response headers it writes itself.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


def proxy(port, key):
    """A reverse proxy on a free loopback port to `serve --http` on `port`, adding the key: the
    server (serving in a daemon thread) and its port. Responses stream through as they come
    (server-sent events), each on a connection closed after it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def forward(self):
            try:
                self.relay()
            except OSError:
                pass  # either side went away (a test that gives up on a stream, say)

        def relay(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"authorization"}}
            headers["Authorization"] = f"Bearer {key}"
            headers["Host"] = f"127.0.0.1:{port}"  # serve's Host check wants its own address
            up = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            up.request(self.command, self.path, body=body, headers=headers)
            r = up.getresponse()
            self.send_response(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in HOP | {"content-length"}:
                    self.send_header(k, v)
            self.send_header("Connection", "close")
            self.close_connection = True
            if self.path.startswith("/.well-known/") and r.status == 200:
                # The card names the address it was asked at: the proxy's, so the TCK comes back
                # through it.
                card = r.read().replace(f"//127.0.0.1:{port}/".encode(), f"//127.0.0.1:{pport[0]}/".encode())
                self.send_header("Content-Length", str(len(card)))
                self.end_headers()
                self.wfile.write(card)
                up.close()
                return
            self.end_headers()
            try:
                while chunk := r.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            finally:
                up.close()

        do_GET = do_POST = do_PUT = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    pport = [server.server_address[1]]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class Agent:
    """The TCK's test agent, played through baton's CLI: each TASK in its inbox is answered by
    `baton reply` as the TCK's reference agent (sut/a2a-python/sut_agent.py, made from
    scenarios/*.feature) answers the message's `messageId` prefix. What baton cannot say is
    said the nearest way: a text artifact as a `result` `{"text": …}` (a RETURN's artifacts are
    its result, a data part, and file paths), a file's bytes as a file written beside the home,
    a direct message as the completed task's status message."""

    def __init__(self, baton, home, work):
        self.baton, self.home, self.work = baton, home, work
        self.env = dict(os.environ, BATON_AGENT=AGENT)
        self.done = set()  # TASK ids answered (or being answered)
        self.asked = {}  # TASK id → its message id, for TASKs that asked back
        self.log = []  # (message id, what was answered), in order
        self.errors = []
        self.stop = threading.Event()

    def run(self, *args):
        return subprocess.run([self.baton, "--home", self.home, *args], env=self.env, capture_output=True, text=True)

    def message_id(self, task_id):
        out = self.run("show", task_id, "--json")
        if out.returncode != 0:
            return None
        for e in json.loads(out.stdout).get("events", []):
            if e.get("event") == "a2a_sent":
                return e["detail"].get("message_id") or ""
        return None

    def reply(self, task_id, status, summary, *extra):
        out = self.run("reply", task_id, "--status", status, "--summary", summary, *extra)
        if out.returncode != 0:
            self.errors.append(f"reply {task_id} {status}: {out.stderr.strip()}")

    def file(self, name, text):
        d = os.path.join(self.work, f"artifacts-{len(self.log)}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def answer(self, task_id, mid):
        """One TASK, by its message's prefix (the reference agent's first match wins, so the
        longer prefixes are tried first)."""
        text = lambda t: ["--result", json.dumps({"text": t})]  # noqa: E731
        self.log.append((mid, task_id))
        if mid.startswith("test-resubscribe-message-id"):
            # A long-running task: working a while (a resubscribing client sees it), then done.
            threading.Timer(4, self.reply, (task_id, "completed", "done")).start()
        elif mid.startswith("tck-stream-artifact-chunked"):
            self.reply(task_id, "completed", "done", *text("chunk-1 chunk-2"))
        elif mid.startswith("tck-stream-artifact-text"):
            self.reply(task_id, "completed", "done", *text("Streamed text content"))
        elif mid.startswith("tck-stream-artifact-file") or mid.startswith("tck-artifact-file") and not mid.startswith(
            "tck-artifact-file-url"
        ):
            self.reply(task_id, "completed", "done", "--artifact", self.file("output.txt", "tck"))
        elif mid.startswith("tck-stream-ordering-001"):
            self.reply(task_id, "completed", "done", *text("Ordered output"))
        elif mid.startswith("tck-artifact-file-url"):
            self.reply(task_id, "completed", "done", "--artifact", "https://example.com/output.txt")
        elif mid.startswith("tck-message-response"):
            self.reply(task_id, "completed", "Direct message response")
        elif mid.startswith("tck-input-required"):
            self.asked[task_id] = mid
            self.reply(task_id, "input_required", "Input required", "--input-schema", "{}")
        elif mid.startswith("tck-complete-task"):
            self.reply(task_id, "completed", "Hello from TCK")
        elif mid.startswith("tck-artifact-text"):
            self.reply(task_id, "completed", "done", *text("Generated text content"))
        elif mid.startswith("tck-artifact-data"):
            self.reply(task_id, "completed", "done", "--result", json.dumps({"key": "value", "count": 42}))
        elif mid.startswith("tck-reject-task"):
            self.reply(task_id, "rejected", "rejected")
        elif mid.startswith("tck-stream-001"):
            self.reply(task_id, "completed", "done", *text("Stream hello from TCK"))
        elif mid.startswith("tck-stream-002"):
            self.reply(task_id, "completed", "done")
        elif mid.startswith("tck-stream-003"):
            self.reply(task_id, "completed", "done", *text("Stream task lifecycle"))
        else:
            self.reply(task_id, "completed", f"Unhandled messageId prefix: {mid}")

    def loop(self):
        while not self.stop.is_set():
            out = self.run("inbox", AGENT, "--json")
            if out.returncode != 0:
                self.errors.append(f"inbox: {out.stderr.strip()}")
                self.stop.wait(1)
                continue
            for h in json.loads(out.stdout).get("handoffs", []):
                hid, kind, body = h.get("id"), h.get("kind"), h.get("body") or {}
                if kind == "input" and hid not in self.done:
                    # The answer to a question asked: the task it answers completes.
                    self.done.add(hid)
                    task_id = body.get("in_reply_to") or body.get("task_id")
                    if task_id in self.asked:
                        self.reply(task_id, "completed", "Hello from TCK")
                elif kind == "task" and hid not in self.done and hid not in self.asked:
                    mid = self.message_id(hid)
                    if mid is None:
                        continue  # its a2a_sent event is not recorded yet: the next look
                    self.done.add(hid)
                    self.answer(hid, mid)
            self.stop.wait(0.05)


def results(tck):
    """The junit report's tests (passed, failed with message, skipped with reason; a test
    skipped because it is for gRPC or HTTP+JSON, which serve does not offer, counted apart) and
    the compatibility report's MUST requirements by verdict, each one not passed with its
    errors."""
    tests = {"passed": [], "failed": [], "skipped": [], "other_transport": 0}
    for case in ET.parse(os.path.join(tck, "reports", "junitreport.xml")).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            tests["failed"].append({"test": name, "message": (bad.get("message") or bad.text or "")[:600]})
        elif skip is not None:
            reason = skip.get("message") or ""
            if "not configured" in reason:
                tests["other_transport"] += 1
            else:
                tests["skipped"].append({"test": name, "reason": reason[:300]})
        else:
            tests["passed"].append(name)
    path = os.path.join(tck, "reports", "compatibility.json")
    compat = json.load(open(path)) if os.path.exists(path) else {}
    musts = {}
    for rid, r in compat.get("per_requirement", {}).items():
        if r.get("level") != "MUST":
            continue
        musts.setdefault(r["status"], []).append(rid)
        if r["status"] == "FAIL" or r.get("transports", {}).get("jsonrpc") == "FAIL":
            musts.setdefault("failures", {})[rid] = [e[:300] for e in r.get("errors", [])]
    counts = {k: len(v) for k, v in musts.items() if k != "failures"}
    return tests, {"counts": counts, "failures": musts.get("failures", {}),
                   "summary": compat.get("summary", {}).get("must_compatibility")}


def main():
    baton = os.path.abspath(sys.argv[1])
    level = sys.argv[2] if len(sys.argv) > 2 else "must"
    tck = os.environ.get("TCK_DIR", "/var/tmp/a2a-tck")
    python = os.environ.get("TCK_PYTHON", "/var/tmp/a2a-tck-venv/bin/python")
    commit = subprocess.run(["git", "-C", tck, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with ab.serving(baton, toml=f'[a2a]\ndefault_agent = "{AGENT}"\n') as (home, key, port):
        os.makedirs(os.path.join(home, "handoffs", AGENT, "01_inbox"), exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            agent = Agent(baton, home, work)
            loop = threading.Thread(target=agent.loop, daemon=True)
            loop.start()
            server, pport = proxy(port, key)
            cmd = [python, "run_tck.py", "--sut-host", f"http://127.0.0.1:{pport}", "--transport", "jsonrpc"]
            if level != "all":
                cmd += ["--level", level]
            t0 = time.monotonic()
            run = subprocess.run(cmd, cwd=tck, capture_output=True, text=True)
            took = time.monotonic() - t0
            agent.stop.set()
            loop.join()
            server.shutdown()
    tests, musts = results(tck)
    out = {
        "tck_commit": commit,
        "command": " ".join(cmd[1:]),
        "level": level,
        "seconds": round(took, 1),
        "exit": run.returncode,
        "tests": {"passed": len(tests["passed"]), "failed": len(tests["failed"]), "skipped": len(tests["skipped"]),
                  "skipped_other_transport": tests["other_transport"]},
        "failures": tests["failed"],
        "skips": tests["skipped"],
        "must_requirements": musts,
        "agent_errors": agent.errors,
        "pytest": run.stdout.strip().splitlines()[-1:],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
