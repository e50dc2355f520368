#!/usr/bin/env bash
# Cluster bench (issue 14): 3 nats-servers (one JetStream cluster, R3,
# sync_interval: always) and 3 quizcast nodes on this machine, loopback only.
#
#   (a) fanout, PLAYERS players of one session spread over the 3 nodes
#       (--target x3), and the same fanout against one quizcast node on
#       SQLite (no cluster) in the same run: p99, CPU per delivery (summed
#       over every server process), RSS (every process). Correctness and
#       overhead: on 2 cores a cluster cannot show a speed-up.
#   (b) gaps, PLAYERS players over the 3 nodes following one session; once
#       the questions run, this script finds the session's owner
#       (GET /api/stats: cluster.sessions) and kill -9's it by PID in the
#       middle of a question; the scenario reports every player's longest
#       gap and the time from the first close it saw to the last player
#       resumed; this script adds kill -> resumed from its own kill time.
#
# Servers (nats x3 + quizcast x3, or the single node) are pinned to core 0,
# the load tool to core 1, as in bench/run.sh. A fresh cluster (fresh
# stores) for each run. Every process is started and stopped by PID.
#
#   bench/cluster.sh                 # 10,000 players (about 6 minutes)
#   PLAYERS=300 bench/cluster.sh     # a small run (results under results/quick/)
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYERS=${PLAYERS:-10000}
GAPS_SECS=${GAPS_SECS:-45}      # questions run this long in (b)
KILL_AFTER=${KILL_AFTER:-15}    # seconds into the questions the owner dies
DATE=$(date -u +%Y-%m-%d)
OUT=bench/results
[ "$PLAYERS" -ge 10000 ] || OUT=bench/results/quick
mkdir -p "$OUT"

nice cargo build --release --bins --quiet
NATS=$(tests/cluster/nats.sh)
TMP=$(mktemp -d)
PIDS=()   # every process this script started and has not reaped yet
# ours PID: still this script's child (never signal a reused PID).
ours() { [ "$(awk '/^PPid:/ {print $2}' "/proc/$1/status" 2>/dev/null)" = "$$" ]; }
# stop PID...: kill -9 each (the runs are over; nothing to flush), reap it,
# forget it.
stop() {
  local p q keep=()
  for p in "$@"; do ! ours "$p" || kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for q in "${PIDS[@]}"; do
    for p in "$@"; do [ "$q" != "$p" ] || continue 2; done
    keep+=("$q")
  done
  PIDS=("${keep[@]}")
}
cleanup() {
  stop "${PIDS[@]}"
  rm -rf "$TMP"
}
trap cleanup EXIT
PIN_SERVER="taskset -c 0"
PIN_LOAD="taskset -c 1"
command -v taskset >/dev/null || { PIN_SERVER=""; PIN_LOAD=""; }
RUNS="$TMP/runs.jsonl"
: > "$RUNS"
LIMITS="--max-players 20000 --max-connections 60000 --upgrade-rate 0 --join-rate 0 --http-rate 0 --answer-rate 0"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# load OUT ARGS...: the load tool in the background, its report into OUT;
# sets LOAD. wait_load: waits for it (at most 900 s: then kill -9), sets
# status.
load() {
  local out="$1"; shift
  $PIN_LOAD target/release/quizcast-load "$@" > "$out" 2> "$out.err" &
  LOAD=$!; PIDS+=("$LOAD")
}
wait_load() {
  local _
  for _ in $(seq 9000); do ours "$LOAD" && [ "$(awk '{print $3}' "/proc/$LOAD/stat")" != Z ] || break; sleep 0.1; done
  status=0
  ours "$LOAD" && [ "$(awk '{print $3}' "/proc/$LOAD/stat")" != Z ] && { echo "   the load tool ran past 900 s: killed" >&2; kill -9 "$LOAD"; }
  wait "$LOAD" || status=$?
  stop "$LOAD"
}

# start_cluster NAME: 3 nats-servers + 3 quizcast nodes under $TMP/NAME;
# sets NATS_PIDS, NODE_PIDS, NODE_ADDRS.
start_cluster() {
  local dir="$TMP/$1" i
  mkdir -p "$dir"
  local routes=() ports=() mons=()
  for i in 1 2 3; do routes+=("$(free_port)"); ports+=("$(free_port)"); mons+=("$(free_port)"); done
  local route_list
  route_list=$(printf '"nats-route://127.0.0.1:%s", ' "${routes[@]}"); route_list=${route_list%, }
  NATS_PIDS=(); NODE_PIDS=(); NODE_ADDRS=()
  for i in 0 1 2; do
    cat > "$dir/n$i.conf" <<EOF
server_name: n$i
listen: "127.0.0.1:${ports[$i]}"
http: "127.0.0.1:${mons[$i]}"
jetstream {
  store_dir: "$dir/n$i"
  sync_interval: always
  max_memory_store: 256MB
  max_file_store: 4GB
}
cluster {
  name: quizcast-bench
  listen: "127.0.0.1:${routes[$i]}"
  routes: [$route_list]
}
EOF
    $PIN_SERVER "$NATS" -c "$dir/n$i.conf" -l "$dir/n$i.log" </dev/null >/dev/null 2>&1 &
    NATS_PIDS+=($!); PIDS+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 600); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${mons[$i]}/healthz" || true)" = 200 ] && break
      sleep 0.1
    done
  done
  local urls
  urls=$(printf 'nats://127.0.0.1:%s,' "${ports[@]}"); urls=${urls%,}
  # One node at a time, each tried up to 3 times: a node gives up when
  # JetStream does not answer its first requests in time (a fresh cluster
  # still electing, on a busy core).
  local try
  for i in 0 1 2; do
    NODE_ADDRS+=("")
    for try in 1 2 3; do
      # shellcheck disable=SC2086
      RUST_LOG=warn $PIN_SERVER target/release/quizcast --addr 127.0.0.1:0 --db "$dir/q$i.db" \
          --secret bench-cluster-secret --cluster "$urls" $LIMITS \
          > "$dir/q$i.out" 2> "$dir/q$i.err" &
      local pid=$!
      PIDS+=("$pid")
      for _ in $(seq 600); do
        grep -q listening "$dir/q$i.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      NODE_ADDRS[i]=$(sed -n 's/^quizcast listening on http:\/\///p' "$dir/q$i.out")
      if [ -n "${NODE_ADDRS[$i]}" ]; then NODE_PIDS+=("$pid"); break; fi
      echo "   quizcast node $i did not start (try $try): $(tail -1 "$dir/q$i.err")" >&2
      stop "$pid"
    done
    [ -n "${NODE_ADDRS[$i]}" ] || { echo "quizcast node $i did not start" >&2; exit 1; }
  done
}

# procs_json PID...: peak and current RSS (KiB) and CPU seconds of each.
procs_json() {
  python3 - "$@" <<'PY'
import json, sys
out = []
for pid in sys.argv[1:]:
    r = {"pid": int(pid)}
    try:
        st = open(f"/proc/{pid}/status").read()
        for l in st.splitlines():
            if l.startswith("VmHWM:"): r["peakRssKiB"] = int(l.split()[1])
            if l.startswith("VmRSS:"): r["rssKiB"] = int(l.split()[1])
            if l.startswith("Name:"): r["name"] = l.split()[1]
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        r["cpuSecs"] = (int(f[11]) + int(f[12])) / 100
    except OSError:
        r["gone"] = True
    out.append(r)
print(json.dumps(out))
PY
}

targets() { local a; for a in "$@"; do printf -- '--target http://%s ' "$a"; done; }
pid_args() { local p; for p in "$@"; do printf -- '--server-pid %s ' "$p"; done; }

record() { # LABEL EXIT REPORT PROCS [EXTRA_JSON]
  printf '{"label":"%s","exit":%s,"report":%s,"processes":%s,"extra":%s}\n' "$1" "$2" "$3" "$4" "${5:-null}" >> "$RUNS"
  echo "$3" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  ", r["scenario"], json.dumps(r["results"])[:400], "ok" if r["ok"] else "FAILED", json.dumps(r["problems"])[:300], file=sys.stderr)'
}

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# (a) fanout over 3 nodes
echo "== fanout $PLAYERS over 3 nodes" >&2
start_cluster fanout3
# shellcheck disable=SC2046
load "$TMP/fanout3.json" $(targets "${NODE_ADDRS[@]}") \
    $(pid_args "${NODE_PIDS[@]}" "${NATS_PIDS[@]}") --sources 8 --json --timeout-secs 120 \
    fanout --players "$PLAYERS" --probes 200 --questions 5 --interval-ms 1000
wait_load
report=$(cat "$TMP/fanout3.json")
[ -n "$report" ] || report='{"scenario":"fanout","ok":false,"results":{},"problems":{}}'
record "3 nodes (NATS R3)" "$status" "$report" "$(procs_json "${NODE_PIDS[@]}" "${NATS_PIDS[@]}")"
stop "${NODE_PIDS[@]}" "${NATS_PIDS[@]}"

# (a') the same fanout against one node on SQLite
echo "== fanout $PLAYERS on one node (SQLite)" >&2
# shellcheck disable=SC2086
RUST_LOG=warn $PIN_SERVER target/release/quizcast --addr 127.0.0.1:0 --db "$TMP/single.db" $LIMITS \
    > "$TMP/single.out" 2> "$TMP/single.err" &
SINGLE=$!; PIDS+=($SINGLE)
for _ in $(seq 600); do grep -q listening "$TMP/single.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^quizcast listening on http:\/\///p' "$TMP/single.out")
load "$TMP/fanout1.json" --target "http://$addr" --server-pid "$SINGLE" \
    --sources 8 --json --timeout-secs 120 \
    fanout --players "$PLAYERS" --probes 200 --questions 5 --interval-ms 1000
wait_load
report=$(cat "$TMP/fanout1.json")
[ -n "$report" ] || report='{"scenario":"fanout","ok":false,"results":{},"problems":{}}'
record "1 node (SQLite)" "$status" "$report" "$(procs_json "$SINGLE")"
stop "$SINGLE"

# (b) gaps over 3 nodes, the owner killed mid-question
echo "== gaps $PLAYERS over 3 nodes, kill -9 of the owner ${KILL_AFTER}s into the questions" >&2
start_cluster gaps3
# shellcheck disable=SC2046
load "$TMP/gaps.json" $(targets "${NODE_ADDRS[@]}") --sources 8 --json \
    --timeout-secs 120 gaps --players "$PLAYERS" --duration-secs "$GAPS_SECS" --interval-ms 1000
line=""
for _ in $(seq 6000); do   # joining 10,000 players may take minutes
  line=$(grep -m1 '^gaps: running' "$TMP/gaps.json.err" || true)
  [ -n "$line" ] && break
  ours "$LOAD" || break
  sleep 0.1
done
extra=null
if [ -n "$line" ]; then
  read -r _ _ code start_ms interval_ms <<< "$line"
  owner=-1
  for _ in $(seq 100); do
    for i in 0 1 2; do
      if curl -s "http://${NODE_ADDRS[$i]}/api/stats" | python3 -c 'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin).get("cluster",{}).get("sessions",[]) else 1)' "$code"; then
        owner=$i; break 2
      fi
    done
    sleep 0.1
  done
  # A quarter of an interval after a question opened, KILL_AFTER seconds in.
  m=$(( (KILL_AFTER * 1000 + interval_ms - 1) / interval_ms ))
  at=$(( start_ms + m * interval_ms + interval_ms / 4 ))
  wait_ms=$(( at - $(now_ms) ))
  [ "$wait_ms" -le 0 ] || sleep "$(python3 -c "print($wait_ms/1000)")"
  if [ "$owner" -ge 0 ]; then
    kill_ms=$(now_ms)
    kill -9 "${NODE_PIDS[$owner]}"
    stop "${NODE_PIDS[$owner]}"
    echo "   kill -9 of node $owner (pid ${NODE_PIDS[$owner]}), the owner of $code, at $kill_ms" >&2
    extra=$(printf '{"killedNode":%s,"killUnixMs":%s,"code":"%s"}' "$owner" "$kill_ms" "$code")
  else
    echo "   no node owns $code: nothing killed" >&2
  fi
else
  echo "   the gaps scenario never started its questions: $(tail -3 "$TMP/gaps.json.err")" >&2
fi
wait_load
report=$(cat "$TMP/gaps.json")
[ -n "$report" ] || report='{"scenario":"gaps","ok":false,"results":{},"problems":{}}'
extra=$(python3 - "$extra" "$report" <<'PY'
import json, sys
e = json.loads(sys.argv[1]) or {}
r = json.loads(sys.argv[2]).get("results", {})
k = e.get("killUnixMs")
def since(key):
    v = r.get(key)
    return None if k is None or v is None else round((v - k) / 1000, 3)
e["scriptKillToFirstCloseSecs"] = since("firstCloseUnixMs")
e["scriptKillToResumedSecs"] = since("lastResumedUnixMs")
e["scriptKillToAllCaughtUpSecs"] = since("allCaughtUpUnixMs")
print(json.dumps(e))
PY
)
survivors=()
for i in 0 1 2; do [ "$i" = "${owner:--1}" ] || survivors+=("${NODE_PIDS[$i]}"); done
record "3 nodes, kill -9 of the owner" "$status" "$report" "$(procs_json "${survivors[@]}" "${NATS_PIDS[@]}")" "$extra"
stop "${survivors[@]}" "${NATS_PIDS[@]}"
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RUNS" "$OUT/$DATE-cluster.json" "$OUT/$DATE-cluster.md" "$DATE" "$PLAYERS" "$LOADAVG_START" "$LOADAVG_END" <<'PY'
import json, sys, os, platform
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def pct(res, key):
    h = res.get(key) or {}
    return " / ".join(f"{h.get(q, 0) / 1000:.2f}" for q in ("p50", "p99", "max"))
date, players = sys.argv[4], int(sys.argv[5])
machine = f"{os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE')*os.sysconf('SC_PHYS_PAGES')/2**30)} GiB, {platform.platform()}"
doc = {"date": date, "machine": machine, "players": players, "command": "bench/cluster.sh",
       "loadAverageStart": sys.argv[6], "loadAverageEnd": sys.argv[7], "runs": runs}
json.dump(doc, open(sys.argv[2], "w"), indent=1)
md = [f"# Cluster bench, {date}: {players} players, 3 nodes", "",
      f"`bench/cluster.sh` (PLAYERS={players}). Machine: {machine}. Load average (1/5/15 min) "
      f"at the start {sys.argv[6]}, at the end {sys.argv[7]} (shared machine: other builds ran).", "",
      "Servers pinned to core 0 (3 nats-server + 3 quizcast, or the single node), the load tool to core 1.", "",
      "## Fan-out: correctness and overhead", "",
      "| setup | joined | p50 ms | p99 ms | max ms | server CPU µs/delivery (all server processes) | peak RSS MiB (sum) | processes | ok |",
      "|---|---|---|---|---|---|---|---|---|"]
for r in runs:
    rep = r["report"]
    if rep.get("scenario") != "fanout": continue
    res, lat = rep.get("results", {}), rep.get("results", {}).get("deliveryLatency", {})
    procs = r["processes"]
    rss = sum(p.get("peakRssKiB", 0) for p in procs) / 1024
    detail = ", ".join(f"{p.get('name','?')} {p.get('peakRssKiB',0)/1024:.0f}" for p in procs)
    md.append(f"| {r['label']} | {res.get('joined')} | {lat.get('p50')} | {lat.get('p99')} | {lat.get('max')} | "
              f"{res.get('serverCpuMicrosPerDelivery')} | {rss:.0f} ({detail}) | {len(procs)} | {'yes' if rep.get('ok') else 'NO'} |")
md += ["", "Two cores cannot show a speed-up from three nodes: all six server processes share core 0. "
       "The row says what the cluster costs (NATS, relays to edges, the R3 log) for the same deliveries, "
       "and that every probe still got every event once, in order.", "",
       "## kill -9 of the owner under load (gaps)", ""]
for r in runs:
    rep = r["report"]
    if rep.get("scenario") != "gaps": continue
    res, e = rep.get("results", {}), r.get("extra") or {}
    g, gm, gs = res.get("longestGap", {}), res.get("longestGapReconnected", {}), res.get("longestGapStayed", {})
    md += [f"Players {res.get('joined')}, {res.get('questions')} questions 1 s apart, the default 5 s lease "
           f"(a takeover waits for the dead owner's lease to expire: docs/cluster.md); node {e.get('killedNode')} "
           f"(the owner) killed -9 by the script; ok: {'yes' if rep.get('ok') else 'NO'}; problems: `{json.dumps(rep.get('problems'))}`.", "",
           "| figure | value |", "|---|---|",
           f"| players reconnected (the dead node's) / reconnects | {res.get('reconnectedPlayers')} / {res.get('reconnects')} |",
           f"| resynced / lost | {res.get('resynced')} / {res.get('lostPlayers')} |",
           f"| longest gap per player, all: p50 / p99 / max (s) | {g.get('p50',0)/1000:.2f} / {g.get('p99',0)/1000:.2f} / {g.get('max',0)/1000:.2f} |",
           f"| ... players that stayed on an edge | {gs.get('p50',0)/1000:.2f} / {gs.get('p99',0)/1000:.2f} / {gs.get('max',0)/1000:.2f} |",
           f"| ... players that reconnected | {gm.get('p50',0)/1000:.2f} / {gm.get('p99',0)/1000:.2f} / {gm.get('max',0)/1000:.2f} |",
           f"| session stall (earliest arrival, s) | {res.get('sessionStallSecs')} |",
           f"| longest lag behind the first player, all: p50 / p99 / max (s) | {pct(res, 'longestLagBehindFirst')} |",
           f"| ... players that stayed on an edge | {pct(res, 'longestLagStayed')} |",
           f"| ... players that reconnected | {pct(res, 'longestLagReconnected')} |",
           f"| resume (close seen -> joined again): p50 / p99 / max (s) | {res.get('resumeLatency',{}).get('p50',0)/1000:.2f} / {res.get('resumeLatency',{}).get('p99',0)/1000:.2f} / {res.get('resumeLatency',{}).get('max',0)/1000:.2f} |",
           f"| players' side: first close -> last player resumed (s) | {res.get('killToResumedSecs')} |",
           f"| players' side: first close -> session sending again (s) | {res.get('killToSessionSendingSecs')} |",
           f"| players' side: first close -> every player has that event (s) | {res.get('killToAllCaughtUpSecs')} |",
           f"| script: kill -9 -> first close seen (s) | {e.get('scriptKillToFirstCloseSecs')} |",
           f"| script: kill -9 -> last player resumed (s) | {e.get('scriptKillToResumedSecs')} |",
           f"| script: kill -9 -> every player has the first event after it (s) | {e.get('scriptKillToAllCaughtUpSecs')} |",
           f"| MC calls / retries / longest call (s) | {res.get('mc',{}).get('calls')} / {res.get('mc',{}).get('retries')} / {res.get('mc',{}).get('longestCallSecs')} |",
           f"| load tool CPU (% of one core) | {rep.get('loadToolCpuPercent')} |", ""]
md += ["What the figures mean: bench/README.md (\"The `gaps` scenario\"). Unlike `fanout`, every one of "
       "the players reads every event here, so the spread of arrivals (the lag) includes the load tool "
       "reading all its sockets on one core. The full reports are in the JSON file next to this one."]
open(sys.argv[3], "w").write("\n".join(md) + "\n")
PY
echo "wrote $OUT/$DATE-cluster.json, $OUT/$DATE-cluster.md" >&2
# A gaps run without its kill measured nothing: a failure too.
failed=$(python3 -c 'import json,sys; runs=json.load(open(sys.argv[1]))["runs"]; print(sum(1 for r in runs if not r["report"].get("ok") or (r["report"].get("scenario") == "gaps" and not (r.get("extra") or {}).get("killUnixMs"))))' "$OUT/$DATE-cluster.json")
[ "$failed" = 0 ] || { echo "$failed run(s) reported problems" >&2; exit 1; }
