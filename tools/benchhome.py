"""A baton home for the handoff benchmarks (`bench-once.py`, `bench-portable.py`): `home` makes
one with the automatic audit off, `drop` puts N echo TASKs into its inbox."""
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
