#!/usr/bin/env bash
# One quizcast-load run against a given server binary, for comparing two
# builds in the same run (e.g. before/after a change):
#   bench/side-by-side.sh LABEL BINARY "SERVER FLAGS" SCENARIO ARGS...
# A fresh server on a fresh database, pinned to core 0; the load tool
# (target/release/quizcast-load) on core 1. Prints one line (answers, fanout
# or hostile). Loopback only.
set -u
label="$1"; bin="$2"; flags="$3"; shift 3
db=$(mktemp -u "${TMPDIR:-/tmp}/q-XXXX.db")
taskset -c 0 $bin --addr 127.0.0.1:0 --db "$db" --max-players 20000 --max-connections 60000 $flags > ${TMPDIR:-/tmp}/srv.out 2>${TMPDIR:-/tmp}/srv.err &
pid=$!
for _ in $(seq 100); do grep -q listening ${TMPDIR:-/tmp}/srv.out 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/^quizcast listening on http:\/\///p' ${TMPDIR:-/tmp}/srv.out)
r=$(taskset -c 1 "$(dirname "$0")/../target/release/quizcast-load" --url "http://$addr" --server-pid $pid --sources 8 --json --timeout-secs 120 "$@")
kill -TERM $pid; wait $pid 2>/dev/null
rm -f "$db"*
echo "$r" | python3 -c "
import json,sys; r=json.load(sys.stdin); res=r['results']
def p(h): return '' if not isinstance(h,dict) else f\"p50 {h.get('p50')} p99 {h.get('p99')}\"
def ms(v): return v
if r['scenario']=='hostile':
  b, h, q = res.get('baseline', {}), res.get('withHostile', {}), res.get('ratio', {})
  print('$label', 'hostile', r['params']['kind'], 'p99 ms', ms(b.get('probeLatency', {}).get('p99')), '->', ms(h.get('probeLatency', {}).get('p99')), '(x%s)' % q.get('probeP99'),
        'cpu s', b.get('serverCpuSecs'), '->', h.get('serverCpuSecs'), '(x%s)' % q.get('serverCpu'), 'rss x%s' % q.get('serverRssPeak'),
        'frames', b.get('serverFramesOut'), '->', h.get('serverFramesOut'), 'ok' if r['ok'] else 'FAIL')
elif r['scenario']=='answers': print('$label', 'answers', res.get('acked'), 'acks/s', res.get('acksPerSec'), 'ack', p(res.get('ackLatency')), 'ok' if r['ok'] else 'FAIL')
else: print('$label', 'fanout', 'delivery', p(res.get('deliveryLatency')), 'cpu us/deliv', res.get('serverCpuMicrosPerDelivery'), 'rss KiB/conn', res.get('serverRssKiBPerConnection'), 'ok' if r['ok'] else 'FAIL')
"
