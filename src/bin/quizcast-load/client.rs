//! Talking to quizcast exactly as a browser or script would: HTTP/1.1 for the
//! MC's control calls and WebSocket (tokio-tungstenite) for everyone.
//!
//! The HTTP client is a few lines over a TCP stream: the tool makes a handful
//! of simple JSON calls (`Connection: close`, `Content-Length` bodies), which
//! does not justify a full HTTP client stack in the load generator.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// The server under test (loopback only): one address, or several nodes of
/// one cluster, which connections and calls take in turn (round-robin, as a
/// plain load balancer would spread them).
#[derive(Clone)]
pub struct Target {
    addrs: std::sync::Arc<[SocketAddr]>,
    next: std::sync::Arc<AtomicUsize>,
}

impl Target {
    pub fn parse(urls: &[String]) -> Result<Target, String> {
        let addrs = urls
            .iter()
            .map(|u| parse_one(u))
            .collect::<Result<Vec<_>, _>>()?;
        if addrs.is_empty() {
            return Err("no target address".into());
        }
        Ok(Target {
            addrs: addrs.into(),
            next: Default::default(),
        })
    }

    /// Every node, in the order given.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address the next connection or call goes to.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[self.next.fetch_add(1, Ordering::Relaxed) % self.addrs.len()]
    }

    /// One HTTP request; returns the status and the JSON body (Null if none).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let addr = self.addr();
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            addr,
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&buf);
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .ok_or("malformed HTTP response")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no HTTP status")?;
        let value = if rest.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(rest).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// POSTs and insists on a 2xx.
    pub async fn post_ok(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Value, String> {
        let (s, v) = self.http("POST", path, token, Some(&body)).await?;
        if (200..300).contains(&s) {
            Ok(v)
        } else {
            Err(format!("POST {path}: {s} {v}"))
        }
    }

    /// `post_ok`, sent again while the server answers 503 `UNAVAILABLE`
    /// (as a client does: a fresh cluster still electing, a takeover), for
    /// up to `budget`.
    pub async fn post_ok_retrying(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        budget: std::time::Duration,
    ) -> Result<Value, String> {
        let until = std::time::Instant::now() + budget;
        let mut wait = std::time::Duration::from_millis(250);
        loop {
            let (s, v) = self.http("POST", path, token, Some(&body)).await?;
            if (200..300).contains(&s) {
                return Ok(v);
            }
            if s != 503 || std::time::Instant::now() + wait > until {
                return Err(format!("POST {path}: {s} {v}"));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(2));
        }
    }
}

/// Loopback source addresses, used round-robin so that more client sockets
/// fit than one address's ephemeral port range allows.
pub struct Sources {
    ips: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

/// One `--url` or `--target`: `http://host:port`, loopback only.
fn parse_one(url: &str) -> Result<SocketAddr, String> {
    let hostport = url
        .trim_start_matches("http://")
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or("")
        .replace("localhost", "127.0.0.1");
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|e| format!("{url}: {e} (use host:port, e.g. http://127.0.0.1:8080)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to load {addr}: quizcast-load only targets loopback addresses"
        ));
    }
    Ok(addr)
}

impl Sources {
    pub fn new(count: u8) -> Sources {
        let count = count.max(1);
        Sources {
            ips: (1..=count).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> Ipv4Addr {
        self.ips[self.next.fetch_add(1, Ordering::Relaxed) % self.ips.len()]
    }

    /// Opens a WebSocket to `/ws` from the next source address.
    pub async fn connect(&self, t: &Target) -> Result<Ws, String> {
        self.connect_to(t.addr()).await
    }

    /// Opens a WebSocket to `/ws` on one given node.
    pub async fn connect_to(&self, addr: SocketAddr) -> Result<Ws, String> {
        let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        sock.bind(SocketAddr::new(self.pick().into(), 0))
            .map_err(|e| format!("bind: {e}"))?;
        let stream = sock
            .connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let url = format!("ws://{addr}/ws");
        let (ws, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        Ok(ws)
    }
}

/// The next JSON text frame (pings are answered by tungstenite as we read).
pub async fn next_json(ws: &mut Ws) -> Option<Result<Value, String>> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => {
                return Some(
                    serde_json::from_str(&t).map_err(|e| format!("bad JSON from server: {e}")),
                )
            }
            Ok(Message::Close(c)) => {
                return Some(Err(format!(
                    "closed {}",
                    c.map(|c| u16::from(c.code)).unwrap_or(1005)
                )))
            }
            Ok(_) => continue,
            Err(e) => return Some(Err(format!("socket: {e}"))),
        }
    }
}

pub async fn send(ws: &mut Ws, v: Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Sends `join` and waits for `joined`; returns its data.
pub async fn join(ws: &mut Ws, data: Value) -> Result<Value, String> {
    send(ws, json!({"type": "join", "id": "j", "data": data})).await?;
    loop {
        let v = next_json(ws).await.ok_or("closed before joined")??;
        match v["type"].as_str() {
            Some("joined") => return Ok(v["data"].clone()),
            Some("error") => return Err(format!("join refused: {}", v["data"]["code"])),
            _ => continue,
        }
    }
}

/// Creates a session with `k` number questions; returns (code, mcToken).
pub async fn create_session(
    t: &Target,
    k: usize,
    max_players: usize,
) -> Result<(String, String), String> {
    let questions: Vec<Value> = (0..k)
        .map(|i| json!({"id": format!("q{i}"), "kind": "number", "prompt": format!("Question {i}: how many?"), "answer": i}))
        .collect();
    let quiz = json!({"title": "load test", "settings": {"maxPlayers": max_players},
                      "rounds": [{"id": "r1", "name": "Load", "questions": questions}]});
    let v = t
        .post_ok_retrying(
            "/api/sessions",
            None,
            json!({"quiz": quiz}),
            std::time::Duration::from_secs(15),
        )
        .await?;
    Ok((
        v["code"].as_str().unwrap_or_default().to_string(),
        v["mcToken"].as_str().unwrap_or_default().to_string(),
    ))
}
