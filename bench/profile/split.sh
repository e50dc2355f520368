#!/usr/bin/env bash
# bench/profile/split.sh quizcast|node N: the peers' fan-out driver (core 1)
# against quizcast (BIN, default target/release/quizcast) or the peers' Node
# server (core 0); perf-records the server for 4 s of the question phase and
# prints the driver's JSON and the server's CPU split by kernel/user.
# Loopback only.
set -u
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
label=$1; n=$2; here=$(realpath ../shared/peers)
if [ $label = node ]; then PORT=8190 taskset -c 0 node $here/node-ws/server.js >$T/s.log 2>&1 & port=8190
else QUIZCAST_UPGRADE_RATE=0 QUIZCAST_JOIN_RATE=0 taskset -c 0 ${BIN:-target/release/quizcast} --addr 127.0.0.1:8193 --db $T/q.db >$T/s.log 2>&1 & port=8193; fi
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
taskset -c 1 $here/driver/target/release/fanout-driver --addr 127.0.0.1:$port --players $n --questions 5 --pid $pid --label $label > $T/split.json &
dp=$!
# wait for joins to finish: the driver prints only at the end; poll the server's established sockets
for _ in $(seq 600); do c=$(ss -tn state established "( sport = :$port )" | wc -l); [ $c -ge $n ] && break; sleep 0.1; done
sleep 1
perf record -F 4000 -p $pid -o $T/perf.data -- sleep 4 2>/dev/null >/dev/null
wait $dp
kill $pid; wait $pid 2>/dev/null
cat $T/split.json
perf report -i $T/perf.data --no-children --sort dso --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -4
rm -rf "$T"
