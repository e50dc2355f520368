#!/usr/bin/env bash
# Cluster start-up bench: a fresh 3-server JetStream cluster (R3,
# sync_interval: always), then 3 quizcast nodes started at the same moment
# (as a Compose file or a deploy starts them), RUNS times. Prints, per run,
# the seconds from the start to each node answering GET /api/stats (polled
# every 20 ms), or "exited" for a node that gave up; then the worst node
# per run. Loopback only; every process started and stopped by PID.
#
#   bench/cluster-start.sh                   # 10 runs of target/release/quizcast
#   RUNS=5 BIN=/path/to/quizcast bench/cluster-start.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
if [ -z "${BIN:-}" ]; then
  nice cargo build --release --bin quizcast --quiet
  BIN=target/release/quizcast
fi
NATS=$(tests/cluster/nats.sh)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'cleanup; rm -rf "$TMP"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }

worst_all=()
for run in $(seq "$RUNS"); do
  D="$TMP/run$run"
  mkdir -p "$D"
  R=(); P=(); M=(); Q=()
  for i in 0 1 2; do R+=("$(free_port)"); P+=("$(free_port)"); M+=("$(free_port)"); Q+=("$(free_port)"); done
  routes="\"nats-route://127.0.0.1:${R[0]}\", \"nats-route://127.0.0.1:${R[1]}\", \"nats-route://127.0.0.1:${R[2]}\""
  for i in 0 1 2; do
    cat > "$D/n$i.conf" <<CONF
server_name: n$i
listen: "127.0.0.1:${P[$i]}"
http: "127.0.0.1:${M[$i]}"
jetstream { store_dir: "$D/s$i", sync_interval: always }
cluster { name: start-bench, listen: "127.0.0.1:${R[$i]}", routes: [$routes] }
CONF
    "$NATS" -c "$D/n$i.conf" -l "$D/n$i.log" & PIDS+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:${M[$i]}/healthz" && break; sleep 0.05; done
  done
  urls="nats://127.0.0.1:${P[0]},nats://127.0.0.1:${P[1]},nats://127.0.0.1:${P[2]}"
  t0=$(now)
  QP=()
  for i in 0 1 2; do
    RUST_LOG=info "$BIN" --addr "127.0.0.1:${Q[$i]}" --db "$D/q$i.db" --secret start-bench \
      --cluster "$urls" --node-id "q$i" > "$D/q$i.log" 2>&1 & PIDS+=($!); QP+=($!)
  done
  line="run $run:"
  worst=0
  for i in 0 1 2; do
    got=""
    # Up to 90 s: the slowest start seen before the fix was 69 s.
    for _ in $(seq 4500); do
      if curl -sf -o /dev/null "http://127.0.0.1:${Q[$i]}/api/stats"; then
        got=$(( ($(now) - t0) / 1000000 )); break
      fi
      kill -0 "${QP[$i]}" 2>/dev/null || {
        got=exited
        echo "  node $i exited: $(grep -v '^\[' "$D/q$i.log" | tail -n 1)" >&2
        break
      }
      sleep 0.02
    done
    [ -n "$got" ] || got=timeout
    if [ "$got" = exited ] || [ "$got" = timeout ]; then
      line="$line node $i $got;"; worst=999999
    else
      line="$line node $i $(printf '%d.%03d' $((got / 1000)) $((got % 1000))) s;"
      [ "$got" -le "$worst" ] || worst=$got
    fi
  done
  echo "$line"
  worst_all+=("$worst")
  cleanup
done
printf '%s\n' "${worst_all[@]}" | python3 -c '
import sys
w = sorted(int(l) for l in sys.stdin if l.strip())
bad = sum(1 for x in w if x >= 999999)
ok = [x / 1000 for x in w if x < 999999]
print(f"{len(w)} runs: slowest node per run, median {ok[len(ok)//2] if ok else 0:.2f} s, "
      f"max {max(ok) if ok else 0:.2f} s; runs with a node that exited or never answered: {bad}")'
