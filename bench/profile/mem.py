"""RSS per connection, step by step: N TCP connections, then their WebSocket
upgrades, then joins as players; the server's VmRSS after each step.
usage: python3 bench/profile/mem.py N QUIZCAST_BINARY [server flags...]
(PORT=8194 by default; WRAP="heaptrack -o FILE" runs the server under
heaptrack and kill -9s it at the end, so the live heap is what it held.)
Loopback only."""
import socket, sys, time, os, subprocess, json, base64, resource, tempfile
resource.setrlimit(resource.RLIMIT_NOFILE, (19900, 19900))
n = int(sys.argv[1]); bin = sys.argv[2]; extra = sys.argv[3:]
env = dict(os.environ, QUIZCAST_UPGRADE_RATE="0", QUIZCAST_JOIN_RATE="0", QUIZCAST_HTTP_RATE="0")
tmp = tempfile.mkdtemp()
db = os.path.join(tmp, "m.db")
PORT=int(os.environ.get("PORT","8194"))
p = subprocess.Popen(os.environ.get("WRAP","taskset -c 0").split()+[bin,"--addr",f"127.0.0.1:{PORT}","--db",db,"--join-timeout-ms","600000"]+extra, env=env, stdout=open(os.path.join(tmp, "server.out"),"w"), stderr=subprocess.STDOUT)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
for _ in range(100):
    try: socket.create_connection(("127.0.0.1",PORT)).close(); break
    except OSError: time.sleep(0.1)
# a session
import urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/sessions", data=json.dumps({"title":"m"}).encode(), headers={"Content-Type":"application/json"})
code = json.load(urllib.request.urlopen(req))["code"]
time.sleep(0.5)
r0 = rss()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1",PORT)); socks.append(s)
time.sleep(1); r1 = rss()
key = base64.b64encode(os.urandom(16)).decode()
for s in socks:
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
bad=0
for s in socks:
    d=s.recv(4096)
    if not d.startswith(b"HTTP/1.1 101"): bad+=1; first=d[:200]
if bad: print("not upgraded", bad, first)
time.sleep(1); r2 = rss()
def frame(t):
    b = t.encode(); m = os.urandom(4)
    hdr = bytes([0x81]) + (bytes([0x80|len(b)]) if len(b) < 126 else bytes([0x80|126]) + len(b).to_bytes(2,"big"))
    return hdr + m + bytes(c ^ m[i%4] for i,c in enumerate(b))
for i,s in enumerate(socks):
    s.sendall(frame(json.dumps({"type":"join","id":"j","data":{"sessionCode":code,"role":"player","name":f"p{i}"}})))
    if i % 200 == 199:
        for t in socks[i-199:i+1]: t.recv(65536)
time.sleep(2); r3 = rss()
print(json.dumps({"n":n,"base_kib":r0,"tcp_kib_per_conn":round((r1-r0)/n,2),"upgraded_kib_per_conn":round((r2-r1)/n,2),"joined_kib_per_conn":round((r3-r2)/n,2),"total_kib_per_conn":round((r3-r0)/n,2)}))
(subprocess.run(['pkill','-9','-f',f'quizcast --addr 127.0.0.1:{PORT}']) if os.environ.get('WRAP') else p.kill()); p.wait()
import shutil
shutil.rmtree(tmp, ignore_errors=True)
