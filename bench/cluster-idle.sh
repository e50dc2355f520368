#!/usr/bin/env bash
# What idle sessions cost a cluster: a fresh 3-server JetStream cluster
# (R3, sync_interval: always) and 3 quizcast nodes started together;
# SESSIONS sessions created round-robin over the nodes (nobody plays);
# then, over WINDOW seconds of idling, the messages the NATS servers
# handled per second (in + out, summed over the three, from /varz), the
# CPU the quizcast nodes and the NATS servers used (from /proc), and the
# nodes' mean ownership sweep time (/api/stats, when the build reports
# it). Ownership renewals and sweeps are what is left when nothing
# happens. Loopback only; every process started and stopped by PID.
#
#   bench/cluster-idle.sh                          # 1,000 sessions, target/release/quizcast
#   SESSIONS=3000 BIN=/path/to/quizcast bench/cluster-idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SESSIONS=${SESSIONS:-1000}
WINDOW=${WINDOW:-20}
. bench/lib/nats3.sh
bench_init

nats3_start "$TMP" idle-bench
PIDS+=("${NATS_PIDS[@]}"); NP=("${NATS_PIDS[@]}"); M=("${NATS_MONITOR[@]}")
Q=(); QP=()
for i in 0 1 2; do Q+=("$(free_port)"); done
urls=$NATS_URLS
for i in 0 1 2; do
  RUST_LOG=warn "$BIN" --addr "127.0.0.1:${Q[$i]}" --db "$TMP/q$i.db" --secret idle-bench \
    --cluster "$urls" --node-id "q$i" --http-rate 0 > "$TMP/q$i.log" 2>&1 & PIDS+=($!); QP+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 1500); do curl -sf -o /dev/null "http://127.0.0.1:${Q[$i]}/api/stats" && break; sleep 0.02; done
done

echo "creating $SESSIONS sessions over 3 nodes..." >&2
python3 - "$SESSIONS" "${Q[@]}" <<'PY'
import json, sys, urllib.request, concurrent.futures as cf
n, ports = int(sys.argv[1]), sys.argv[2:]
quiz = json.load(open("examples/friday-quiz.json"))
body = json.dumps({"quiz": quiz}).encode()
def make(i):
    req = urllib.request.Request(f"http://127.0.0.1:{ports[i % len(ports)]}/api/sessions", body,
                                 {"Content-Type": "application/json"})
    for _ in range(20):
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except Exception:
            pass
    return 0
with cf.ThreadPoolExecutor(8) as ex:
    got = list(ex.map(make, range(n)))
bad = sum(1 for s in got if s not in (200, 201))
print(f"created {n - bad} of {n}", file=sys.stderr)
PY

# Let the creates settle (snapshots, first sweeps), then measure.
sleep 5
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
msgs() {
  local t=0 i v
  for i in 0 1 2; do
    v=$(curl -sf "http://127.0.0.1:${M[$i]}/varz" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["in_msgs"] + v["out_msgs"])')
    t=$((t + v))
  done
  echo "$t"
}
sweeps() {
  local i
  for i in 0 1 2; do
    curl -sf "http://127.0.0.1:${Q[$i]}/api/stats" | python3 -c 'import json,sys; c=json.load(sys.stdin).get("cluster",{}); print(c.get("sweeps",0), c.get("sweepMicrosSum",0), len(c.get("sessions",[])))'
  done
}
m0=$(msgs); s0=$(sweeps)
q0=0; for p in "${QP[@]}"; do q0=$((q0 + $(cpu_ticks "$p"))); done
n0=0; for p in "${NP[@]}"; do n0=$((n0 + $(cpu_ticks "$p"))); done
sleep "$WINDOW"
m1=$(msgs); s1=$(sweeps)
q1=0; for p in "${QP[@]}"; do q1=$((q1 + $(cpu_ticks "$p"))); done
n1=0; for p in "${NP[@]}"; do n1=$((n1 + $(cpu_ticks "$p"))); done
HZ=$(getconf CLK_TCK)
python3 - "$SESSIONS" "$WINDOW" "$m0" "$m1" "$q0" "$q1" "$n0" "$n1" "$HZ" "$BIN" "$s0" "$s1" <<'PY'
import sys
n, w, m0, m1, q0, q1, n0, n1, hz = (float(x) for x in sys.argv[1:10])
binary, s0, s1 = sys.argv[10], sys.argv[11].split("\n"), sys.argv[12].split("\n")
sweeps = [tuple(int(x) for x in l.split()) for l in s0], [tuple(int(x) for x in l.split()) for l in s1]
dn = sum(b[0] - a[0] for a, b in zip(*sweeps))
dus = sum(b[1] - a[1] for a, b in zip(*sweeps))
owned = [b[2] for b in sweeps[1]]
print(f"{binary}: {int(n)} idle sessions over 3 nodes (owned {owned}), {int(w)} s window")
print(f"  NATS messages/s (in+out, 3 servers): {(m1 - m0) / w:,.0f}")
print(f"  CPU: quizcast nodes {100 * (q1 - q0) / hz / w:.1f}% of a core, nats-servers {100 * (n1 - n0) / hz / w:.1f}%")
print(f"  sweeps: {dn} in the window, mean {dus / dn / 1000:.1f} ms" if dn else "  sweeps: not reported by this build")
PY
