//! A recording client for the crash tests (`tests/log_truth.rs`, the cluster tests):
//! every sequenced frame it receives, by seq, a duplicate or out-of-order
//! seq failing the test; resumes with `since`; commands retried while the
//! log answers `UNAVAILABLE` (what a real client does), within a bound.

use super::{Child, TestServer, Ws};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a command may keep being refused (a NATS leader election).
pub const RETRY_FOR: Duration = Duration::from_secs(60);

pub struct Client {
    pub name: &'static str,
    pub join: Value,
    pub ws: Option<Ws>,
    pub events: BTreeMap<u64, Value>,
    pub last_seq: u64,
    pub first_seq: u64,
}

impl Client {
    pub async fn connect(api: &TestServer, name: &'static str, join: Value) -> Client {
        let (ws, joined) = api.ws_join(join.clone()).await;
        let seq = joined["seq"].as_u64().expect("joined has a seq");
        let mut c = Client {
            name,
            join,
            ws: Some(ws),
            events: BTreeMap::new(),
            last_seq: seq,
            first_seq: seq,
        };
        if let Some(t) = joined["token"].as_str() {
            c.join = json!({"sessionCode": c.join["sessionCode"], "role": "player", "token": t});
        }
        c
    }

    pub fn token(&self) -> Option<String> {
        self.join["token"].as_str().map(str::to_string)
    }

    /// Records an event (its seq must be new and higher); a frame with no
    /// seq (a reply) is handed back.
    pub fn record(&mut self, f: Value) -> Option<Value> {
        let Some(seq) = f["seq"].as_u64() else {
            return Some(f);
        };
        assert!(
            seq > self.last_seq,
            "{}: seq {seq} after {} (duplicate or out of order): {f}",
            self.name,
            self.last_seq
        );
        self.last_seq = seq;
        self.events.insert(seq, f);
        None
    }

    /// Records whatever arrives within `d`.
    pub async fn pump(&mut self, d: Duration) {
        let frames = match self.ws.as_mut() {
            Some(ws) => ws.drain_for(d).await,
            None => return,
        };
        for f in frames {
            self.record(f);
        }
    }

    /// Sends a message until it is acked (retrying `UNAVAILABLE` with a new
    /// id, as a client would), recording events meanwhile.
    pub async fn call(&mut self, kind: &str, id: &str, data: Value) -> Value {
        let until = Instant::now() + RETRY_FOR;
        for attempt in 0.. {
            let rid = format!("{id}-{attempt}");
            let ws = self.ws.as_mut().expect("connected");
            ws.send(json!({"type": kind, "id": rid, "data": data}))
                .await;
            let reply = loop {
                let ws = self.ws.as_mut().expect("connected");
                let f = ws
                    .recv_within(RETRY_FOR)
                    .await
                    .unwrap_or_else(|| panic!("{}: no reply to {kind}", self.name));
                if let Some(reply) = self.record(f) {
                    if reply["id"] == rid.as_str() {
                        break reply;
                    }
                }
            };
            let refused = reply["type"] == "error" && reply["data"]["code"] == "UNAVAILABLE";
            if !refused || Instant::now() > until {
                return reply;
            }
            actix_rt::time::sleep(Duration::from_millis(250)).await;
        }
        unreachable!()
    }

    /// Rejoins (a restarted node) with `since`; records the replay.
    pub async fn resume(&mut self, api: &TestServer) -> Value {
        let mut ws = api.ws().await;
        let mut join = self.join.clone();
        join["since"] = json!(self.last_seq);
        ws.send(json!({"type": "join", "id": "j", "data": join}))
            .await;
        let joined = ws.recv().await.expect("joined");
        assert_eq!(joined["type"], "joined", "{}: {joined}", self.name);
        let data = joined["data"].clone();
        assert!(
            data.get("resync").is_none(),
            "{}: forced resync: {data}",
            self.name
        );
        self.ws = Some(ws);
        self.pump(Duration::from_millis(300)).await;
        data
    }
}

/// A snapshot without who happens to be connected.
pub fn settled(mut snap: Value) -> Value {
    snap["online"] = Value::Null;
    if let Some(players) = snap["players"].as_array_mut() {
        for p in players {
            p["online"] = Value::Null;
        }
    }
    snap
}

/// Every role's snapshot of a session.
pub async fn snapshots(
    api: &TestServer,
    code: &str,
    tokens: &[(&str, Option<&str>)],
) -> Vec<Value> {
    let mut out = Vec::new();
    for (who, token) in tokens {
        let (s, v) = api
            .get(&format!("/api/sessions/{code}/state"), *token)
            .await;
        assert_eq!(s, 200, "{who}: {v}");
        out.push(settled(v));
    }
    out
}

/// An HTTP command that must succeed, retried while the log answers 503.
pub async fn ok(api: &TestServer, path: &str, token: &str, body: Value) {
    let until = Instant::now() + RETRY_FOR;
    loop {
        let (status, v) = api.post(path, Some(token), body.clone()).await;
        if (200..300).contains(&status) {
            return;
        }
        assert!(
            status == 503 && Instant::now() < until,
            "{path}: {status}: {v}"
        );
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every event the log holds for a role after `since`, and the current seq.
pub async fn history(
    api: &TestServer,
    code: &str,
    token: Option<&str>,
    since: u64,
) -> (u64, BTreeMap<u64, Value>) {
    let (s, v) = api
        .get(&format!("/api/sessions/{code}/events?since={since}"), token)
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("resync").is_none(), "the log holds it all: {v}");
    let events = v["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["seq"].as_u64().expect("seq"), e.clone()))
        .collect();
    (v["seq"].as_u64().expect("seq"), events)
}

/// Kills the quizcast node, restarts it on the cluster, and checks that
/// every role's snapshot and the session's seq are as before; everyone
/// resumes with `since` (no resync) and gets what it missed.
pub async fn crash_and_resume(
    child: &mut Child,
    db: &std::path::Path,
    args: &[&str],
    code: &str,
    clients: &mut [&mut Client],
    tokens: &[(&str, Option<&str>)],
) -> (TestServer, u64) {
    let api = child.api();
    let before = snapshots(&api, code, tokens).await;
    let (seq_before, _) = history(&api, code, tokens[0].1, 0).await;
    child.kill9();
    for c in clients.iter_mut() {
        c.ws = None;
    }
    *child = Child::spawn(db, args);
    let api = child.api();
    let after = snapshots(&api, code, tokens).await;
    for ((who, _), (b, a)) in tokens.iter().zip(before.iter().zip(&after)) {
        assert_eq!(a, b, "{who}: the snapshot changed across the crash");
    }
    let (seq_after, _) = history(&api, code, tokens[0].1, 0).await;
    assert_eq!(seq_after, seq_before, "the seq read back from the cluster");
    for c in clients.iter_mut() {
        c.resume(&api).await;
    }
    (api, seq_before)
}

/// A player's id, from their own snapshot.
pub async fn player_id(api: &TestServer, code: &str, token: &str) -> String {
    let (_, v) = api
        .get(&format!("/api/sessions/{code}/state"), Some(token))
        .await;
    v["me"]["playerId"].as_str().expect("playerId").to_string()
}
