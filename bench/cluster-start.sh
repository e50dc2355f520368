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
. bench/lib/nats3.sh
bench_init
now() { date +%s%N; }

worst_all=()
for run in $(seq "$RUNS"); do
  D="$TMP/run$run"
  mkdir -p "$D"
  nats3_start "$D" start-bench
  PIDS+=("${NATS_PIDS[@]}")
  Q=(); for i in 0 1 2; do Q+=("$(free_port)"); done
  urls=$NATS_URLS
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
  stop_all
done
printf '%s\n' "${worst_all[@]}" | python3 -c '
import sys
w = sorted(int(l) for l in sys.stdin if l.strip())
bad = sum(1 for x in w if x >= 999999)
ok = [x / 1000 for x in w if x < 999999]
print(f"{len(w)} runs: slowest node per run, median {ok[len(ok)//2] if ok else 0:.2f} s, "
      f"max {max(ok) if ok else 0:.2f} s; runs with a node that exited or never answered: {bad}")'
