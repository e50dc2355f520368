# Sourced by the cluster bench scripts: a fresh 3-server NATS JetStream
# cluster on loopback (R3-ready, sync_interval: always), started by PID.
#
#   nats3_start DIR NAME   starts it with stores and logs under DIR; sets
#                          NATS_CLIENT (client ports), NATS_MONITOR (monitor
#                          ports), NATS_PIDS, NATS_URLS (the --cluster value)
#                          and waits until every server is healthy
#   free_port              prints a free loopback port
#   bench_init             BIN (target/release/quizcast, built, unless set),
#                          NATS (installed if needed), TMP, PIDS, and a trap
#                          that kills every PID in PIDS and removes TMP
#   stop_all               kills every PID in PIDS (started by the script)

bench_init() {
  if [ -z "${BIN:-}" ]; then
    nice cargo build --release --bin quizcast --quiet
    BIN=target/release/quizcast
  fi
  NATS=$(tests/cluster/nats.sh)
  TMP=$(mktemp -d)
  PIDS=()
  trap 'stop_all; rm -rf "$TMP"' EXIT
}

stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nats3_start() {
  local dir=$1 name=$2 i routes
  local route=()
  NATS_CLIENT=(); NATS_MONITOR=(); NATS_PIDS=()
  for i in 0 1 2; do
    route+=("$(free_port)"); NATS_CLIENT+=("$(free_port)"); NATS_MONITOR+=("$(free_port)")
  done
  routes="\"nats-route://127.0.0.1:${route[0]}\", \"nats-route://127.0.0.1:${route[1]}\", \"nats-route://127.0.0.1:${route[2]}\""
  for i in 0 1 2; do
    cat > "$dir/n$i.conf" <<CONF
server_name: n$i
listen: "127.0.0.1:${NATS_CLIENT[$i]}"
http: "127.0.0.1:${NATS_MONITOR[$i]}"
jetstream { store_dir: "$dir/s$i", sync_interval: always }
cluster { name: $name, listen: "127.0.0.1:${route[$i]}", routes: [$routes] }
CONF
    "$NATS" -c "$dir/n$i.conf" -l "$dir/n$i.log" &
    NATS_PIDS+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:${NATS_MONITOR[$i]}/healthz" && break; sleep 0.05; done
  done
  NATS_URLS="nats://127.0.0.1:${NATS_CLIENT[0]},nats://127.0.0.1:${NATS_CLIENT[1]},nats://127.0.0.1:${NATS_CLIENT[2]}"
}
