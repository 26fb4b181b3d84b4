#!/usr/bin/env bash
# Where one `send --wait` spends its time (never run in CI): N round trips to the echo plugin,
# 50 ms apart, with `perf trace -a` recording a few syscalls of every process (syscalls only,
# so little overhead), then the median and p90 of each step, matched by process:
#   bash bench/send_timeline.sh BATON [N]        (needs perf; root or perf_event_paranoid <= 1)
set -euo pipefail
B=$(realpath "$1"); N=${2:-40}
W=$(mktemp -d); H=$W/h; OUT=$W/trace.txt
trap 'kill $SP 2>/dev/null; rm -rf "$W"' EXIT
"$B" init --home "$H" >/dev/null 2>&1
"$B" --home "$H" serve >/dev/null 2>&1 &
SP=$!
sleep 2
for _ in 1 2 3; do "$B" --home "$H" send --plugin echo --action echo --params '{"x":1}' --from claude --wait --json >/dev/null; done
perf trace -a -e 'execve,exit_group,renameat2,linkat,fsync,fdatasync' -o "$OUT" -- bash -c \
  "for i in \$(seq $N); do '$B' --home '$H' send --plugin echo --action echo --params '{\"x\":1}' --from claude --wait --json >/dev/null; sleep 0.05; done"
python3 - "$OUT" "$SP" <<'PY'
import re, statistics, sys
serve = int(sys.argv[2])
ev = []
for l in open(sys.argv[1]):
    m = re.match(r'\s*([\d.]+) \(\s*([\d.]*)\s*(?:ms)?\): (.+?)/(\d+) (\w+)\(', l)
    if m:
        t, d, comm, pid, sc = m.groups()
        ev.append((float(t), float(d or 0), comm, int(pid), sc, l))
rows = []
for s in [e for e in ev if e[4] == "execve" and e[3] != serve and "= -1" not in e[5] and "bash" not in e[2] and "seq" not in e[2] and "sleep" not in e[2]]:
    mine = [e for e in ev if e[3] == s[3] and e[0] >= s[0]]
    fd = [e for e in mine if e[4] == "fdatasync"]; rn = [e for e in mine if e[4] == "renameat2"]; ex = [e for e in mine if e[4] == "exit_group"]
    if not (fd and rn and ex):
        continue
    sv = [e for e in ev if e[3] == serve and rn[0][0] < e[0] < ex[0][0]]
    wal = [e for e in sv if e[4] == "fsync"]; dat = [e for e in sv if e[4] == "fdatasync"]; link = [e for e in sv if e[4] == "linkat"]
    if not wal or not dat or len(link) < 2:
        continue
    rows.append({
        "send: exec -> its TASK's sync": fd[0][0] - s[0], "the TASK's sync": fd[0][1],
        "serve: TASK visible -> claim's WAL fsync": wal[0][0] - rn[0][0], "the WAL fsync": wal[0][1],
        "-> the RETURN's sync (the plugin runs)": dat[0][0] - wal[0][0] - wal[0][1], "the RETURN's sync": dat[0][1],
        "-> the RETURN visible": link[1][0] - dat[0][0] - dat[0][1], "-> the send's exit": ex[0][0] - link[1][0],
        "exec -> exit": ex[0][0] - s[0]})
print(f"{len(rows)} round trips (ms): median, p90")
for k in rows[0]:
    v = sorted(r[k] for r in rows)
    print(f"  {k:42s} {statistics.median(v):6.2f} {v[int(len(v) * 0.9)]:6.2f}")
PY
