"""Smoke-run the `audit` component outside baton, with wasmtime-py standing in for the host.

Until the baton host runs plugins, this checks the component end to end: WASI p2 preopens
(`/plans` and `/repos` read-only, `/reports` read-write), and a fake `baton:plugin/host`
that prints logs and progress, grants the three folders, keeps kv in a JSON file and
records follow-ups.

    python3 -m venv /tmp/wt && /tmp/wt/bin/pip install wasmtime==50.0.1
    (cd plugins && cargo build --release --target wasm32-wasip2 -p audit)
    /tmp/wt/bin/python plugins/audit/tests/smoke.py plugins/target/wasm32-wasip2/release/audit.wasm \
        PLANS_DIR REPOS_DIR REPORTS_DIR '{"followup_agent": "Claude-Code-Agent"}'

Prints the outcome (summary, result keys, artifacts), the time `handle` took, and the
follow-ups emitted. Run it twice: the second run must report "inputs unchanged" and emit
nothing.
"""
import json
import os
import sys
import time

import wasmtime
from wasmtime import component as c


def main() -> None:
    wasm, plans, repos, reports = sys.argv[1:5]
    params = sys.argv[5] if len(sys.argv) > 5 else "{}"
    kv_file = os.path.join(reports, ".smoke-kv.json")

    engine = wasmtime.Engine()
    comp = c.Component.from_file(engine, wasm)
    linker = c.Linker(engine)
    linker.add_wasip2()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.preopen_dir(plans, "/plans", False)
    wasi.preopen_dir(repos, "/repos", False)
    wasi.preopen_dir(reports, "/reports", True)
    store.set_wasi(wasi)

    kv = json.load(open(kv_file)) if os.path.exists(kv_file) else {}
    emitted = []

    class Grant(c.Record):
        def __init__(self, name: str, guest_path: str, writable: bool) -> None:
            self.name = name
            setattr(self, "guest-path", guest_path)
            self.writable = writable

    def emit(_store, fu):  # type: ignore[no-untyped-def]
        emitted.append({"to": fu.to, "title": fu.title, "body": json.loads(fu.body),
                        "correlation_id": getattr(fu, "correlation-id")})
        return c.Variant("ok", f"followup-{len(emitted)}")

    def kv_set(_s, k, v):  # type: ignore[no-untyped-def]
        kv[k] = v

    def kv_delete(_s, k):  # type: ignore[no-untyped-def]
        kv.pop(k, None)

    with linker.root() as root:
        with root.add_instance("baton:plugin/host@0.1.0") as host:
            host.add_func("log", lambda _s, lvl, msg: print(f"[log {lvl}] {msg}"))
            host.add_func("progress", lambda _s, d, t, m: print(f"[progress {d}/{t}] {m}"))
            host.add_func("grants", lambda _s: [Grant("plans", "/plans", False),
                                                Grant("repos", "/repos", False),
                                                Grant("reports", "/reports", True)])
            host.add_func("kv-get", lambda _s, k: kv.get(k))
            host.add_func("kv-set", kv_set)
            host.add_func("kv-delete", kv_delete)
            host.add_func("lock-acquire", lambda _s, name, timeout: None)
            host.add_func("lock-release", lambda _s, name: None)
            host.add_func("emit", emit)

    inst = linker.instantiate(store, comp)
    info = inst.get_func(store, "describe")(store)
    print("describe:", info.name, info.version, [a.name for a in info.actions],
          [(f.name, f.writable) for f in info.folders])

    class Task(c.Record):
        pass

    task = Task()
    task.id = "smoke-1"
    task.action = "audit"
    task.params = params
    task.sender = "Smoke-Test"
    task.title = "Plans audit"
    setattr(task, "correlation-id", None)
    t0 = time.perf_counter()
    res = inst.get_func(store, "handle")(store, task)
    print(f"handle took {(time.perf_counter() - t0) * 1000:.0f} ms")
    out = res.payload if isinstance(res, c.Variant) else res
    if hasattr(out, "summary"):
        result = json.loads(out.result)
        print("summary:", out.summary)
        print("result keys:", sorted(result))
        print("artifacts:", out.artifacts)
    else:
        print("failure:", out)
    print("follow-ups emitted:", len(emitted))
    for f in emitted:
        print("  ", f["to"], "|", f["title"])
    json.dump(kv, open(kv_file, "w"))


if __name__ == "__main__":
    main()
