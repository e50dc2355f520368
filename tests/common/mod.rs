//! Test harness: a real server on 127.0.0.1:0, a real HTTP client and a real
//! WebSocket client (awc), used the way a browser or a script would.
#![allow(dead_code)]

pub mod library;
pub mod recorder;

use awc::ws::{CloseCode, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use quizcast::config::Config;
use serde_json::{json, Value};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub base: String,
    pub ws_url: String,
    pub server: Option<quizcast::Server>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            db: dir.path().join("q.db"),
            workers: 1,
            ..Config::default()
        };
        tweak(&mut cfg);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = quizcast::start(cfg, listener).unwrap();
        let addr = server.addr;
        TestServer {
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            server: Some(server),
            _dir: dir,
        }
    }

    /// An in-process server on an existing database file (restarts).
    pub async fn on_db(db: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut cfg = Config {
            db: db.to_path_buf(),
            workers: 1,
            ..Config::default()
        };
        tweak(&mut cfg);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = quizcast::start(cfg, listener).unwrap();
        let addr = server.addr;
        TestServer {
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            server: Some(server),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub async fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.request_with(method, path, token, body, &[]).await
    }

    /// `request` with extra headers.
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(40))
            .finish();
        let url = format!("{}{}", self.base, path);
        let mut req = match method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "PUT" => client.put(url),
            "DELETE" => client.delete(url),
            "PATCH" => client.patch(url),
            m => panic!("method {m}"),
        };
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut resp = match body {
            Some(b) => req.send_json(&b).await.unwrap(),
            None => req.send().await.unwrap(),
        };
        let status = resp.status().as_u16();
        let bytes = resp.body().limit(16 << 20).await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.request("POST", path, token, Some(body)).await
    }

    /// Creates a session; returns (code, mcToken).
    pub async fn create_session(&self, body: Value) -> (String, String) {
        let (s, v) = self.post("/api/sessions", None, body).await;
        assert_eq!(s, 201, "{v}");
        (
            v["code"].as_str().unwrap().into(),
            v["mcToken"].as_str().unwrap().into(),
        )
    }

    /// Joins a player over HTTP; returns (playerId, token).
    pub async fn join_http(&self, code: &str, name: &str) -> (String, String) {
        let (s, v) = self
            .post(
                &format!("/api/sessions/{code}/players"),
                None,
                json!({"name": name}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        (
            v["playerId"].as_str().unwrap().into(),
            v["token"].as_str().unwrap().into(),
        )
    }

    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.ws_url).await
    }

    /// A socket joined with `data`; returns it and the `joined` data.
    pub async fn ws_join(&self, data: Value) -> (Ws, Value) {
        let mut ws = self.ws().await;
        let joined = ws.join(data).await;
        (ws, joined)
    }
}

type Conn = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

pub struct Ws {
    pub conn: Conn,
    pub established: Value,
    /// Set once a close frame has been seen.
    pub closed: Option<u16>,
}

impl Ws {
    pub async fn connect(url: &str) -> Self {
        Self::connect_with(url, None).await.expect("ws connect")
    }

    pub async fn connect_with(url: &str, origin: Option<&str>) -> Result<Self, u16> {
        let client = awc::Client::builder()
            .max_http_version(awc::http::Version::HTTP_11)
            .finish();
        let mut req = client.ws(url).max_frame_size(32 << 20);
        if let Some(o) = origin {
            req = req.origin(o);
        }
        let (_, conn) = match req.connect().await {
            Ok(x) => x,
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => return Err(s.as_u16()),
            Err(e) => panic!("ws connect: {e}"),
        };
        let mut ws = Ws {
            conn,
            established: Value::Null,
            closed: None,
        };
        let first = ws.recv().await.expect("connection:established");
        assert_eq!(first["type"], "connection:established");
        ws.established = first["data"].clone();
        Ok(ws)
    }

    pub async fn send(&mut self, v: Value) {
        self.conn
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, s: &str) {
        self.conn
            .send(Message::Text(s.to_string().into()))
            .await
            .unwrap();
    }

    /// The next text frame as JSON, within `WAIT`; None on close or timeout.
    pub async fn recv(&mut self) -> Option<Value> {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, d: Duration) -> Option<Value> {
        let deadline = actix_rt::time::Instant::now() + d;
        loop {
            let next = actix_rt::time::timeout(
                deadline.saturating_duration_since(actix_rt::time::Instant::now()),
                self.conn.next(),
            )
            .await
            .ok()??;
            match next {
                Ok(Frame::Text(b)) => {
                    return Some(serde_json::from_slice(&b).expect("server sent JSON"))
                }
                Ok(Frame::Ping(p)) => {
                    let _ = self.conn.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(reason)) => {
                    self.closed = Some(reason.map(|r| u16::from(r.code)).unwrap_or(1005));
                    return None;
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next frame of `kind`, skipping others.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            match self.recv().await {
                Some(v) if v["type"] == kind => return v,
                Some(_) => continue,
                None => panic!(
                    "expected {kind}, connection closed ({:?}) or silent",
                    self.closed
                ),
            }
        }
    }

    /// Every frame received within `d`.
    pub async fn drain_for(&mut self, d: Duration) -> Vec<Value> {
        let deadline = actix_rt::time::Instant::now() + d;
        let mut out = Vec::new();
        while let Some(v) = self
            .recv_within(deadline.saturating_duration_since(actix_rt::time::Instant::now()))
            .await
        {
            out.push(v);
        }
        out
    }

    /// Reads until the close frame; returns its code.
    pub async fn expect_close(&mut self) -> u16 {
        while self.closed.is_none() {
            if self.recv_within(Duration::from_secs(10)).await.is_none() && self.closed.is_none() {
                panic!("no close frame");
            }
        }
        self.closed.unwrap()
    }

    pub async fn join(&mut self, data: Value) -> Value {
        self.send(json!({"type": "join", "id": "j1", "data": data}))
            .await;
        let v = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("no reply to join (closed {:?})", self.closed));
        assert_eq!(v["type"], "joined", "{v}");
        assert_eq!(v["id"], "j1");
        v["data"].clone()
    }

    /// Sends a message with an id and returns the reply to it, skipping events.
    pub async fn call(&mut self, kind: &str, id: &str, data: Value) -> Value {
        self.send(json!({"type": kind, "id": id, "data": data}))
            .await;
        loop {
            let v = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("no reply to {kind}"));
            if v["id"] == id {
                return v;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self
            .conn
            .send(Message::Close(Some(CloseCode::Normal.into())))
            .await;
    }
}

impl TestServer {
    /// A handle on a server running elsewhere (e.g. a child process).
    pub fn remote(addr: std::net::SocketAddr) -> Self {
        TestServer {
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            server: None,
            _dir: tempfile::tempdir().unwrap(),
        }
    }
}

/// One node to start: its database, extra flags and extra environment.
pub type NodeSpec<'a> = (&'a std::path::Path, &'a [&'a str], &'a [(&'a str, &'a str)]);

/// The real `quizcast` binary as a child process.
pub struct Child {
    pub proc: std::process::Child,
    pub addr: std::net::SocketAddr,
}

impl Child {
    pub fn spawn(db: &std::path::Path, extra: &[&str]) -> Child {
        Child::spawn_env(db, extra, &[])
    }

    /// `spawn` with extra environment (e.g. `FAILPOINTS` in a build with
    /// the `failpoints` feature).
    pub fn spawn_env(db: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
        Child::ready(Child::launch(db, extra, env))
    }

    /// Starts every node before waiting for any, as a Compose file or a
    /// deploy does (cluster nodes then set the stream and buckets up at the
    /// same moment).
    pub fn spawn_together(nodes: &[NodeSpec]) -> Vec<Child> {
        let procs: Vec<_> = nodes
            .iter()
            .map(|(db, extra, env)| Child::launch(db, extra, env))
            .collect();
        procs.into_iter().map(Child::ready).collect()
    }

    fn launch(db: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_quizcast"))
            .args(["--addr", "127.0.0.1:0", "--workers", "1"])
            .arg("--db")
            .arg(db)
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn quizcast")
    }

    /// Waits for the "listening" line (a node that exits instead fails).
    fn ready(mut proc: std::process::Child) -> Child {
        use std::io::BufRead;
        let stdout = proc.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("quizcast listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Child { proc, addr }
    }

    pub fn api(&self) -> TestServer {
        TestServer::remote(self.addr)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub fn term(&mut self) -> std::process::ExitStatus {
        std::process::Command::new("kill")
            .args(["-TERM", &self.proc.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..100 {
            if let Some(s) = self.proc.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.proc.kill();
        panic!("no exit within 10 s of SIGTERM");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// A WebSocket client that joins and then never reads: a tiny receive buffer
/// so the server cannot hide the backlog in kernel buffers.
pub fn raw_ws_join(addr: std::net::SocketAddr, join: &Value) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: std::net::TcpStream = sock.into();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let payload = json!({"type": "join", "data": join})
        .to_string()
        .into_bytes();
    let mut frame = vec![0x81u8];
    assert!(payload.len() < 65536);
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    let mask = [1u8, 2, 3, 4];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, c)| c ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    s
}

/// Reads a raw socket to its end; returns the close code it carried, if any.
pub fn read_close_code(s: &mut std::net::TcpStream) -> Option<u16> {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut data = Vec::new();
    let _ = s.read_to_end(&mut data);
    let mut i = 0;
    while i + 2 <= data.len() {
        let op = data[i] & 0x0f;
        let mut len = (data[i + 1] & 0x7f) as usize;
        let mut at = i + 2;
        if len == 126 {
            len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
            at += 2;
        } else if len == 127 {
            len = u64::from_be_bytes(data[at..at + 8].try_into().unwrap()) as usize;
            at += 8;
        }
        if op == 0x8 && len >= 2 && at + 2 <= data.len() {
            return Some(u16::from_be_bytes([data[at], data[at + 1]]));
        }
        i = at + len;
    }
    None
}

/// Runs quizcast-load with one `--target` per node (and the server's pid for
/// its CPU and memory figures) and checks its report: ok, nothing missed,
/// nothing duplicated. Returns the report.
pub fn load_tool(nodes: &[&Child], server_pid: Option<u32>, args: &[&str]) -> Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast-load"));
    for n in nodes {
        cmd.arg("--target").arg(format!("http://{}", n.addr));
    }
    if let Some(pid) = server_pid {
        cmd.arg("--server-pid").arg(pid.to_string());
    }
    let out = cmd
        .args(["--json", "--timeout-secs", "60"])
        .args(args)
        .output()
        .expect("run quizcast-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{args:?} failed: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["problems"]["missed"], 0, "{report}");
    assert_eq!(report["problems"]["duplicated"], 0, "{report}");
    report
}
