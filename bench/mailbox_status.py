#!/usr/bin/env python3
"""`baton status` over 100 Claude Code teams of 10 inboxes (5 messages each, a roster per team):
the first run (which records every message in the ledger) and warm runs, in seconds.

    python3 bench/mailbox_status.py BIN [ROUNDS]
"""
import json, os, subprocess, sys, tempfile, time

def main():
    binary = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    base = tempfile.mkdtemp(prefix="mbx-status-")
    home, teams = os.path.join(base, "home"), os.path.join(base, "teams")
    for t in range(100):
        inboxes = os.path.join(teams, "team-%d" % t, "inboxes")
        os.makedirs(inboxes)
        members = [{"name": "agent-%d" % a, "agentType": "general-purpose", "model": "haiku", "cwd": "/src"} for a in range(10)]
        with open(os.path.join(teams, "team-%d" % t, "config.json"), "w") as f:
            json.dump({"name": "team-%d" % t, "leadAgentId": "agent-0@team-%d" % t, "members": members}, f)
        for a in range(10):
            msgs = [{"from": "agent-0", "text": "message %d %s" % (m, "x" * 200), "summary": "m%d" % m,
                     "timestamp": "2026-02-22T16:25:22.%03dZ" % m, "read": m % 2 == 0} for m in range(5)]
            with open(os.path.join(inboxes, "agent-%d.json" % a), "w") as f:
                json.dump(msgs, f, indent=2)
    env = dict(os.environ, BATON_HOME=home)
    subprocess.run([binary, "init"], env=env, check=True, capture_output=True)
    subprocess.run([binary, "mailbox", "add", "claude-team", teams], env=env, check=True, capture_output=True)
    times = []
    for r in range(rounds + 1):
        t = time.perf_counter()
        out = subprocess.run([binary, "status", "--json"], env=env, check=True, capture_output=True).stdout
        times.append(time.perf_counter() - t)
    agents = [a for a in json.loads(out)["agents"] if a.get("kind") == "claude-team"]
    n = sum(a["counts"]["unread"] + a["counts"]["read"] for a in agents)
    warm = sorted(times[1:])
    print("status over %d inboxes, %d messages: first %.2f s (records every message), warm median %.2f s, max %.2f s; load %s"
          % (len(agents), n, times[0], warm[len(warm) // 2], warm[-1], os.getloadavg()))

main()
