#!/usr/bin/env python3
"""`baton audit` with history on a repository of 10,000 commits (issue 82: < 3 s).

    python3 bench/audit_history.py BIN [COMMITS=10000] [RUNS=7] [PLANS=100]

BIN is a build's `baton` (its `baton-host` beside it). The script makes, with one
`git fast-import`, a repository of COMMITS commits in a temporary folder: PLANS plans in
`plans/PLAN_NNN.md` (free-form Markdown, 20 ticked tasks each, every task naming the file it created), the
first 2,000 commits each creating one of those files, the rest editing them, and, spread over
the last half of history, one commit in 25 deleting a claimed file (about 200 deletions) and
one in 250 renaming one (about 20). So every audit has missing files and must read history:
one `git log -M --diff-filter=DR` for the work tree.

Then, RUNS times each, alternated: `baton audit --repo DIR --json --force` on the work tree
(history read) and on a plain copy of the same files without `.git` (the reference: the same
audit with history skipped), and `git log -M --diff-filter=DR --name-status` alone (the history
pass by itself). Prints the medians, every raw time, the deleted/renamed counts the audit
reported (they must match what the history holds), and the load average before and after.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CODE = "import json\n\n\ndef handle(event):\n    data = json.loads(event)\n    return data.get('id')\n"


def stream(commits, plans):
    """The fast-import stream, and how many files it deletes and renames."""
    files = plans * 20
    out = []
    mark = 0
    deleted, renamed = set(), {}
    alive = []

    def blob(data):
        nonlocal mark
        mark += 1
        b = data.encode()
        out.append(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(b), b))
        return mark

    t0 = 1_700_000_000
    for c in range(commits):
        ops = []
        if c == 0:
            for p in range(plans):
                lines = [f"# Plan {p:03}", "", "## Tasks", ""]
                for j in range(20):
                    lines.append(f"- [x] Create `src/m{p:03}/mod_{j:02}.py` with its handler")
                ops.append((f"plans/PLAN_{p:03}.md", blob("\n".join(lines) + "\n")))
        n = c % files
        path = f"src/m{n // 20:03}/mod_{n % 20:02}.py"
        if c < files:
            ops.append((path, blob(CODE + f"# {c}\n")))
            alive.append(path)
        elif c > commits // 2 and c % 25 == 0 and alive:
            victim = alive.pop((c * 7919) % len(alive))
            ops.append(("D", victim))
            deleted.add(victim)
        elif c > commits // 2 and c % 250 == 3 and alive:
            old = alive.pop((c * 104729) % len(alive))
            new = old.replace("src/", "lib/")
            ops.append(("R", old, new))
            renamed[old] = new
        else:
            live = [p for p in (path,) if p in alive] or [alive[c % len(alive)]]
            ops.append((live[0], blob(CODE + f"# edit {c}\n")))
        body = f"commit {c}".encode()
        out.append(b"commit refs/heads/main\n")
        out.append(b"committer Bench <bench@example.com> %d +0000\n" % (t0 + c * 60))
        out.append(b"data %d\n%s\n" % (len(body), body))
        for op in ops:
            if op[0] == "D":
                out.append(b"D %s\n" % op[1].encode())
            elif op[0] == "R":
                out.append(b"R %s %s\n" % (op[1].encode(), op[2].encode()))
            else:
                out.append(b"M 100644 :%d %s\n" % (op[1], op[0].encode()))
        out.append(b"\n")
    return b"".join(out), len(deleted), len(renamed)


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} exited {r.returncode}: {r.stderr.decode()[-2000:]}")
    return dt, r.stdout


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    commits = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    plans = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    tmp = tempfile.mkdtemp(prefix="bench-audit-history-")
    try:
        repo = os.path.join(tmp, "repo")
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
        t = time.perf_counter()
        data, n_del, n_ren = stream(commits, plans)
        subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input=data, check=True)
        subprocess.run(["git", "-C", repo, "checkout", "-q", "main"], check=True)
        made = time.perf_counter() - t
        count = subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"], capture_output=True,
                               text=True, check=True).stdout.strip()
        plain = os.path.join(tmp, "plain")
        shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
        home = os.path.join(tmp, "home")
        env = dict(os.environ, BATON_LOG="warn")
        env.pop("BATON_STATE", None)
        subprocess.run([binary, "--home", home, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(tmp, "out")

        def audit(d):
            return [binary, "--home", home, "audit", "--repo", d, "--out", out, "--json", "--force"]

        load0 = os.getloadavg()
        print(f"repository: {count} commits, {plans} plans, {plans * 20} claimed files; history deletes "
              f"{n_del} of them and renames {n_ren} (made in {made:.1f} s)")
        print(f"nproc {os.cpu_count()}, load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
        hist, ref, log = [], [], []
        report = None
        timed(audit(repo), env)  # warm the plugin's compiled module and the page cache
        for _ in range(runs):
            dt, so = timed(audit(repo), env)
            hist.append(dt)
            report = so
            ref.append(timed(audit(plain), env)[0])
            log.append(timed(["git", "-C", repo, "log", "-M", "--diff-filter=DR", "--name-status",
                              "--format=%x01%h %cI", "--reverse"])[0])
        load1 = os.getloadavg()
        j = json.loads(report)
        deleted = sum(1 for f in j["false_claims"] if f.get("status") == "deleted")
        moved = sum(1 for p in j["plans"] for d in p["deliverables"] if d["status"] == "moved")
        print(f"audit reported: {len(j['plans'])} plans, {deleted} deleted (false claims), {moved} moved; note: "
              f"{j.get('moved')}")
        print(f"load average after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
        for name, xs in (("audit, work tree with history", hist), ("audit, plain copy (no history)", ref),
                         ("git log -M --diff-filter=DR alone", log)):
            print(f"{name}: median {statistics.median(xs) * 1000:.0f} ms; raw "
                  + " ".join(f"{x * 1000:.0f}" for x in xs))
        if deleted != n_del or moved != n_ren:
            sys.exit(f"the audit found {deleted} deleted and {moved} moved, history has {n_del} and {n_ren}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
