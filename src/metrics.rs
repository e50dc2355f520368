//! Process-wide counters, read by `/api/stats`.

use crate::game::Role;
use crate::protocol::ErrorCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Counters shared by every actor and handler (relaxed atomics: cheap, and
/// exact enough for monitoring).
pub struct Metrics {
    started: Instant,
    pub sockets_open: AtomicI64,
    pub conn_mc: AtomicI64,
    pub conn_player: AtomicI64,
    pub conn_display: AtomicI64,
    pub sessions: AtomicI64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub broadcasts: AtomicU64,
    pub resumes: AtomicU64,
    pub resyncs: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub heartbeat_closes: AtomicU64,
    errors: Vec<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            sockets_open: AtomicI64::new(0),
            conn_mc: AtomicI64::new(0),
            conn_player: AtomicI64::new(0),
            conn_display: AtomicI64::new(0),
            sessions: AtomicI64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            broadcasts: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            slow_consumer_closes: AtomicU64::new(0),
            heartbeat_closes: AtomicU64::new(0),
            errors: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    pub fn joined(&self, role: Role, delta: i64) {
        let c = match role {
            Role::Mc => &self.conn_mc,
            Role::Player => &self.conn_player,
            Role::Display => &self.conn_display,
        };
        c.fetch_add(delta, Relaxed);
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The JSON body of `/api/stats`.
    pub fn stats(&self) -> Value {
        let errors: serde_json::Map<String, Value> = ErrorCode::ALL
            .iter()
            .zip(&self.errors)
            .filter(|(_, n)| n.load(Relaxed) > 0)
            .map(|(c, n)| (c.as_str().to_string(), json!(n.load(Relaxed))))
            .collect();
        json!({
            "connections": {
                "open": self.sockets_open.load(Relaxed),
                "mc": self.conn_mc.load(Relaxed),
                "player": self.conn_player.load(Relaxed),
                "display": self.conn_display.load(Relaxed),
            },
            "sessions": self.sessions.load(Relaxed),
            "messagesIn": self.messages_in.load(Relaxed),
            "messagesOut": self.messages_out.load(Relaxed),
            "broadcasts": self.broadcasts.load(Relaxed),
            "resumes": self.resumes.load(Relaxed),
            "resyncs": self.resyncs.load(Relaxed),
            "slowConsumerCloses": self.slow_consumer_closes.load(Relaxed),
            "heartbeatCloses": self.heartbeat_closes.load(Relaxed),
            "errors": errors,
            "uptimeSecs": self.uptime_secs(),
        })
    }
}
