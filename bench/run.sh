#!/usr/bin/env bash
# quizcast benchmark: builds in release mode, then for every scenario and
# size starts a fresh server (on a fresh temporary database, pinned to core 0)
# and runs quizcast-load against it (pinned to core 1). Records the server's
# peak RSS and CPU time per run and writes bench/results/<date>.json, .md and
# .svg. Loopback only; every run is bounded.
#
#   bench/run.sh            # the full suite (1k, 5k, 10k players; idle at the fd limit)
#   QUICK=1 bench/run.sh    # a small version of the same, in about a minute
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --bins --quiet
(cd bench/report && cargo build --release --quiet)

DATE=$(date -u +%Y-%m-%d)
OUT=bench/results
# A quick run never replaces the results of record.
[ -z "${QUICK:-}" ] || OUT=bench/results/quick
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'pkill -P $$ quizcast 2>/dev/null || true; rm -rf "$TMP"' EXIT
SERVER_CORE=0
LOAD_CORE=1
PIN_SERVER="taskset -c $SERVER_CORE"
PIN_LOAD="taskset -c $LOAD_CORE"
command -v taskset >/dev/null || { PIN_SERVER=""; PIN_LOAD=""; }

if [ -n "${QUICK:-}" ]; then SIZES="200 500"; IDLE=1000; else SIZES="1000 5000 10000"; IDLE=18000; fi

RUNS="$TMP/runs.jsonl"
: > "$RUNS"
PEERS_RUNS="$TMP/peers.jsonl"
: > "$PEERS_RUNS"

# The peers (issue 13): ../shared/peers/compare.sh runs quizcast, seed 000's
# Node + ws server and the kernel floor side by side, with its own driver
# (not quizcast-load), fresh servers on core 0 and the driver on core 1. Its
# 10,000 players come from one address, so the per-address limits
# (docs/operations.md) are turned off through their environment twins, as
# for quizcast-load below. compare.sh builds the driver and the floor and
# installs ws the first time.
PEERS_DIR=../shared/peers
peers() {
  local n="$1" out="$TMP/peers-$1.txt"
  [ -x "$PEERS_DIR/compare.sh" ] || { echo "no $PEERS_DIR/compare.sh: peers skipped" >&2; return; }
  echo "== peers (compare.sh) $n" >&2
  QUIZCAST_UPGRADE_RATE=0 QUIZCAST_JOIN_RATE=0 QUIZCAST_HTTP_RATE=0 QUIZCAST_ANSWER_RATE=0 \
      timeout 900 "$PEERS_DIR/compare.sh" target/release/quizcast "$n" > "$out" 2> "$out.err" \
      || echo "  compare.sh $n failed (exit $?): $(tail -3 "$out.err")" >&2
  python3 - "$n" "$out" >> "$PEERS_RUNS" <<'PY'
import json, re, sys
n, path = int(sys.argv[1]), sys.argv[2]
servers, floor = {}, None
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        r = json.loads(line); servers[r["label"]] = r
    m = re.match(r"floor .*?([0-9.]+) us cpu/send", line)
    if m: floor = float(m.group(1))
print(json.dumps({"players": n, "servers": servers, "floorUsPerSend": floor}))
PY
  tail -n 1 "$PEERS_RUNS" | python3 -c 'import json,sys; r=json.load(sys.stdin); q,o=r["servers"].get("quizcast",{}),r["servers"].get("node-ws",{}); print("  p99 ms %s vs %s, CPU us/delivery %s vs %s, KiB/conn %s vs %s, floor %s us/send" % (q.get("p99_ms"),o.get("p99_ms"),q.get("server_cpu_us_per_delivery"),o.get("server_cpu_us_per_delivery"),q.get("kib_per_conn"),o.get("kib_per_conn"),r["floorUsPerSend"]), file=sys.stderr)'
}
for n in $SIZES; do
  peers "$n"
done

# run LABEL "SERVER FLAGS" SCENARIO ARGS...
run() {
  local label="$1" flags="$2"; shift 2
  local db="$TMP/q-$RANDOM.db"
  # shellcheck disable=SC2086
  # The load tool plays thousands of phones from a few loopback addresses:
  # the per-address limits (docs/operations.md) are off for it.
  $PIN_SERVER target/release/quizcast --addr 127.0.0.1:0 --db "$db" --max-players 20000 \
      --max-connections 60000 --upgrade-rate 0 --join-rate 0 --http-rate 0 --answer-rate 0 \
      $flags > "$TMP/server.out" 2> "$TMP/server.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$TMP/server.out" 2>/dev/null && break; sleep 0.1; done
  local addr
  addr=$(sed -n 's/^quizcast listening on http:\/\///p' "$TMP/server.out")
  echo "== $* $label" >&2
  local report status=0
  report=$($PIN_LOAD target/release/quizcast-load --url "http://$addr" --server-pid "$pid" \
      --sources 8 --json --timeout-secs 120 "$@") || status=$?
  local hwm cpu
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  cpu=$(awk '{print ($14+$15)/100}' "/proc/$pid/stat" | sed 's/)//')
  kill -TERM "$pid"; wait "$pid" || true
  echo "$report" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(" ", r["scenario"], json.dumps(r["results"])[:300], "ok" if r["ok"] else "FAILED", file=sys.stderr)'
  printf '{"label":"%s","serverFlags":"%s","serverPeakRssKiB":%s,"serverCpuSecs":%s,"exit":%s,"report":%s}\n' \
      "$label" "$flags" "$hwm" "$cpu" "$status" "$report" >> "$RUNS"
}

for n in $SIZES; do
  run "" "" fanout --players "$n" --probes 200 --questions 5 --interval-ms 1000
done
# The same at the largest size with the server free to use both cores (the
# load tool's 200 probes need little), as the issue's targets are stated.
LARGEST=${SIZES##* }
PIN_SERVER_SAVED="$PIN_SERVER"; PIN_LOAD_SAVED="$PIN_LOAD"; PIN_SERVER=""; PIN_LOAD=""
run "unpinned, 2 cores" "--workers 2" fanout --players "$LARGEST" --probes 200 --questions 5 --interval-ms 1000
PIN_SERVER="$PIN_SERVER_SAVED"; PIN_LOAD="$PIN_LOAD_SAVED"
for n in $SIZES; do
  run "" "" joins --players "$n"
done
for n in $SIZES; do
  run "journal on" "" answers --players "$n" --window-ms 1000
done
ANS=$([ -n "${QUICK:-}" ] && echo 500 || echo 5000)
run "journal off" "--journal false" answers --players "$ANS" --window-ms 1000
run "journal on, no fsync" "--fsync false" answers --players "$ANS" --window-ms 1000
for n in $SIZES; do
  run "" "" reconnect --players "$n" --gap-questions 3
done
for n in $SIZES; do
  run "" "" sessions --sessions 10 --players $((n / 10)) --questions 5 --interval-ms 1000
done
# Hostile rooms (issue 10): each runs the same night without and then with
# the hostile part and reports the ratios. Stalled readers get a small outbox
# and send buffer so the slow-consumer close and the abort happen in seconds;
# 100 displays need --max-displays past its default of 20.
for kind in leave overrides; do
  run "" "" hostile "$kind" --players "$LARGEST" --probes 200 --questions 5 --interval-ms 1000
done
run "small outbox" "--outbox-bytes 65536 --tcp-send-buffer 16384" hostile stalled --players "$LARGEST" --probes 200 --questions 5 --interval-ms 1000
run "--max-displays 100" "--max-displays 100" hostile displays --players "$LARGEST" --probes 200 --questions 5 --interval-ms 1000 --count 100
# One server process holds at most ~19,000 sockets here (20,000 fd hard
# limit); the load side splits over processes the same way it would for 50k.
run "2 load processes" "" idle --players "$IDLE" --hold-secs 10 --procs 2

# Recovery: a log of S sessions x P players x K answered questions, written
# as the server writes it, then the time from start to listening.
if [ -n "${QUICK:-}" ]; then REC="--sessions 10 --players 200 --questions 10"; else REC="--sessions 100 --players 1000 --questions 30"; fi
echo "== recovery $REC" >&2
status=0
# shellcheck disable=SC2086
report=$($PIN_LOAD target/release/quizcast-load --json recovery --server-bin target/release/quizcast $REC) || status=$?
printf '{"label":"","serverFlags":"","serverPeakRssKiB":%s,"serverCpuSecs":0,"exit":%s,"report":%s}\n' \
    "$(echo "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"].get("serverRssKiBAfterRecovery") or 0)')" \
    "$status" "$report" >> "$RUNS"

python3 - "$RUNS" "$OUT/$DATE.json" "$DATE" "$PEERS_RUNS" <<'PY'
import json, sys, platform, os
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peers = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30)} GiB, {platform.platform()}"
json.dump({"date": sys.argv[3], "machine": machine, "serverCore": 0, "loadCore": 1,
           "command": "bench/run.sh" + (" (QUICK=1)" if os.environ.get("QUICK") else ""), "runs": runs, "peers": peers},
          open(sys.argv[2], "w"), indent=1)
PY
bench/report/target/release/quizcast-bench-report "$OUT/$DATE.json" "$OUT"
cp "$OUT/$DATE.md" "$OUT/latest.md"
cp "$OUT/$DATE.svg" "$OUT/latest.svg"
echo "wrote $OUT/$DATE.json, $OUT/$DATE.md, $OUT/$DATE.svg" >&2
# A peers run counts as a problem if quizcast's run is missing or lost a probe.
failed=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for r in d["runs"] if not r["report"]["ok"]) + sum(1 for p in d.get("peers", []) if p["servers"].get("quizcast", {}).get("lost", 1) != 0))' "$OUT/$DATE.json")
[ "$failed" = 0 ] || { echo "$failed run(s) reported problems" >&2; exit 1; }
