//! Fan-out: committed events to every connection in their audience (the
//! shared bytes, never re-serialized), into the replay ring and to parked
//! long-polls; replies to one connection. Derived broadcasts are in `boards`.

use super::connections::ConnId;
use super::Session;
use crate::error::ApiError;
use crate::journal::LoggedEvent;
use crate::outbox::Push;
use crate::protocol::{close, error_frame};
use bytestring::ByteString;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

impl Session {
    /// Delivers one committed event to its audience.
    pub(super) fn deliver(&mut self, e: &LoggedEvent, key: Option<&'static str>) {
        let started = Instant::now();
        let mut sent = 0u64;
        let mut overflow = Vec::new();
        self.conns.for_audience(&e.audience, |id, c| {
            sent += 1;
            if c.send(e.frame.clone(), key) == Push::Overflow {
                overflow.push(id);
            }
        });
        let m = &self.env.metrics;
        m.fanout_us.observe(started.elapsed().as_micros() as u64);
        m.broadcasts.fetch_add(1, Relaxed);
        m.messages_out.fetch_add(sent, Relaxed);
        if !self.waiters.is_empty() {
            self.wake_polls(e);
        }
        if let Some(edge) = self.edge.as_mut() {
            if let Some((p, online)) = super::remote::presence_change(&e.frame) {
                edge.elsewhere.changed(e.seq, p, online);
            }
        }
        // The latest leaderboard or count supersedes older ones in the
        // ring (kept once); the per-answer stream is history, never.
        let supersedes = key.filter(|k| *k != "player:answer-submitted");
        self.ring
            .push(e.seq, e.audience.clone(), e.frame.clone(), supersedes);
        self.report_ring();
        for id in overflow {
            self.env.metrics.slow_consumer_closes.fetch_add(1, Relaxed);
            self.drop_conn(id, close::POLICY, "too slow to keep up", true);
        }
    }

    /// Keeps the process-wide ring gauges in step with this ring.
    pub(super) fn report_ring(&mut self) {
        let now = self.ring.bytes() as i64;
        let m = &self.env.metrics;
        m.ring_bytes.fetch_add(now - self.ring_reported, Relaxed);
        m.ring_bytes_max.fetch_max(now, Relaxed);
        self.ring_reported = now;
    }

    /// Sends a reply (no seq) to one connection.
    pub(super) fn reply(&mut self, conn: ConnId, frame: ByteString) {
        let overflow = match self.conns.get(conn) {
            Some(c) => c.send(frame, None) == Push::Overflow,
            None => false,
        };
        if overflow {
            self.env.metrics.slow_consumer_closes.fetch_add(1, Relaxed);
            self.drop_conn(conn, close::POLICY, "too slow to keep up", true);
        }
    }

    pub(super) fn reply_error(&mut self, conn: ConnId, id: Option<&Value>, e: &ApiError) {
        self.env.metrics.error(e.code);
        self.reply(conn, error_frame(id, e.code, &e.message));
    }

    /// Closes and forgets a connection, updating presence.
    pub(super) fn drop_conn(&mut self, id: ConnId, code: u16, reason: &str, discard: bool) {
        if let Some((conn, last)) = self.conns.remove(id) {
            conn.close(code, reason, discard);
            self.env.metrics.joined(conn.role, -1);
            if last {
                if let Some(p) = conn.player {
                    if !self.is_online(&p) {
                        self.presence_left(p);
                    }
                }
            }
        }
    }
}
