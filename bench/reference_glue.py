#!/usr/bin/env python3
"""The reference: what the hand-glued setup baton replaces does for each handoff.

Poll the inbox, parse each TASK, "run" it (echo its params), write a RETURN with fsync,
move the original to 02_processed. No sandbox, no ledger, no crash safety: a lower bound
on the work per handoff, in the language the seed scripts use.
Usage: reference_glue.py HANDOFFS_ROOT EXPECTED_COUNT
"""
import json, os, sys, time

root, expected = sys.argv[1], int(sys.argv[2])
inbox = os.path.join(root, "baton", "01_inbox")
processed = os.path.join(root, "baton", "02_processed")
os.makedirs(processed, exist_ok=True)
done = 0
while done < expected:
    names = sorted(n for n in os.listdir(inbox) if n.endswith(".json") and not n.startswith("."))
    if not names:
        time.sleep(0.001)
        continue
    for name in names:
        path = os.path.join(inbox, name)
        with open(path, "rb") as f:
            task = json.load(f)
        reply = os.path.join(root, task.get("reply_to") or task["from"], "01_inbox")
        os.makedirs(reply, exist_ok=True)
        ret = {"schema": "baton.handoff/v1", "kind": "return", "in_reply_to": task["id"],
               "status": "completed", "summary": "echo", "result": task.get("params", {})}
        out = os.path.join(reply, name.replace("__TASK__", "__RETURN__"))
        with open(out + ".tmp", "w") as f:
            json.dump(ret, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(out + ".tmp", out)
        os.rename(path, os.path.join(processed, name))
        done += 1
