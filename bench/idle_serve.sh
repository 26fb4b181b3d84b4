#!/usr/bin/env bash
# What an idle `serve` costs the machine (never run in CI):
#
#     bash bench/idle_serve.sh BATON [SECONDS]
#
# Makes a home in a temp folder (`baton init`), starts `baton serve` on it, waits 3 s, then
# counts over SECONDS (default 10) the context switches of all its threads (each one a wake-up)
# and the CPU it used (clock ticks, from /proc/PID/stat), and lists its busiest threads.
set -euo pipefail
bin=$1 secs=${2:-10}
home=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$home"' EXIT
"$bin" --home "$home" init >/dev/null 2>&1
"$bin" --home "$home" serve >/dev/null 2>&1 &
pid=$!
sleep 3
switches() { cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
cpu() { awk '{print $14 + $15}' /proc/"$pid"/stat; }
s0=$(switches) c0=$(cpu)
sleep "$secs"
s1=$(switches) c1=$(cpu)
echo "$(basename "$bin"): $(((s1 - s0) / secs)) context switches/s, $((c1 - c0)) ticks of CPU in ${secs} s, $(ls /proc/"$pid"/task | wc -l) threads"
for t in /proc/"$pid"/task/*; do
  echo "  $(cat "$t/comm"): $(awk '/^voluntary_ctxt/ {print $2}' "$t/status") switches since start"
done | sort -t: -k2 -n -r | head -4
