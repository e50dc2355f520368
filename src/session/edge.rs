//! Cluster mode: a session actor on a node that does not own the session
//! (an edge). It holds its own sockets, ring and long polls like an owner,
//! and a copy of the durable state that it keeps by applying the records
//! the owner relays (the logged facts and events, the same bytes): so a
//! join's snapshot is exactly as of the seq it then receives from, and
//! per-player events keep their audience. It decides nothing: every
//! command goes to the owner as a NATS request with an idempotency id, and
//! the reply is given once the edge has relayed the record it answers
//! (so an ack never overtakes its own events). A gap in the relayed
//! positions (core NATS is at-most-once) is filled by reading the log.
//! When this node takes the session over, the edge becomes the owner in
//! place: its sockets stay open.
//!
//! The owner's side (answering forwarded commands) is in forwarded.rs.

use super::commit::{Pending, Waiter};
use super::forwarded::{command_id, CmdReply, CmdRequest, EdgeRequest};
use super::Session;
use crate::error::ApiError;
use crate::game::{Command, Outcome, Phase, PlayerId, Role};
use crate::journal::nats::{EdgeFeed, Feed, Relayed};
use crate::journal::{LoggedEvent, StoredSession};
use crate::protocol::{close, ErrorCode};
use actix::prelude::*;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How long an edge keeps trying to reach an owner for one command: a
/// takeover (lease + sweep) fits, with room.
const FORWARD_BUDGET: Duration = Duration::from_secs(14);
/// Commands one edge has in flight or waiting for their record at most
/// (beyond: `RATE_LIMITED`).
const MAX_FORWARDS: usize = 4096;
/// An answer whose record has not been relayed by then sends the edge to
/// the log.
const CATCH_UP_AFTER: Duration = Duration::from_millis(400);
/// An edge with nobody on it stops after this long.
const EDGE_IDLE: Duration = Duration::from_secs(30);
/// Builds who hears about a command once the owner answered: `Some` with
/// the outcome, `None` when it failed (the waiter then hears the error).
pub type MakeWaiter = Box<dyn FnOnce(Option<&Outcome>) -> Option<Waiter>>;

/// What an edge holds besides what every session holds.
#[derive(Default)]
pub struct EdgeState {
    /// The relay subscription until the actor starts, then its feed.
    pending: Option<EdgeFeed>,
    feed: Option<Feed>,
    /// Answers waiting for their record to be relayed: (seq, waiter).
    after_seq: Vec<(u64, Waiter)>,
    catching_up: bool,
    forwards: usize,
    /// The presence last told the owner.
    pub reported: super::remote::Reported,
    /// Who is online on the other nodes (for the snapshots served here).
    pub elsewhere: super::remote::Elsewhere,
    asking_online: bool,
}

/// The coalescing kind of a relayed frame (the ring keeps only the latest
/// of some kinds, as the owner's does).
pub(super) fn kind_of(frame: &str) -> Option<&'static str> {
    const KINDS: [&str; 4] = [
        "leaderboard:updated",
        "leaderboard:full",
        "presence:count",
        "player:answer-submitted",
    ];
    let rest = frame.strip_prefix("{\"type\":\"")?;
    KINDS.into_iter().find(|k| {
        rest.strip_prefix(k)
            .is_some_and(|after| after.starts_with('"'))
    })
}

/// The envelope's `timestamp` (its last field: event_frame), in ms.
fn frame_timestamp(frame: &str) -> Option<u64> {
    let (_, n) = frame.strip_suffix('}')?.rsplit_once("\"timestamp\":")?;
    n.parse().ok()
}

/// This node now owns the session it served as an edge: take over in
/// place (sockets stay open).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Promote(pub Box<StoredSession>);

/// The session as read from the log (an edge that was behind).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CaughtUp(pub Option<Box<StoredSession>>);

impl Session {
    /// An edge for a session another node owns, from the log as read right
    /// after subscribing to its relay.
    pub fn edge(
        stored: StoredSession,
        feed: EdgeFeed,
        env: std::sync::Arc<super::Env>,
        registry: Recipient<super::Forget>,
    ) -> Self {
        let mut s = Session::recover(stored, env, registry);
        s.edge = Some(EdgeState {
            pending: Some(feed),
            ..EdgeState::default()
        });
        s
    }

    pub(super) fn is_edge(&self) -> bool {
        self.edge.is_some()
    }

    /// At start: an edge starts taking relayed records, an owner in a
    /// cluster starts answering forwarded commands.
    pub(super) fn start_cluster(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.env.cluster.clone() else {
            return;
        };
        let code = self.code().to_string();
        match self.edge.as_mut() {
            Some(e) => {
                self.env.metrics.cluster_edges.fetch_add(1, Relaxed);
                if let Some(f) = e.pending.take() {
                    e.feed = Some(cluster.feed(&code, f, ctx.address().recipient()));
                }
                self.ask_online(ctx);
            }
            None => self.serving = Some(cluster.serve(&code, ctx.address().recipient())),
        }
    }

    /// An edge (an owner that stepped down) starts taking relayed records.
    pub(super) fn follow(&mut self, feed: EdgeFeed, ctx: &mut Context<Self>) {
        let Some(cluster) = self.env.cluster.clone() else {
            return;
        };
        let fed = cluster.feed(self.code(), feed, ctx.address().recipient());
        if let Some(e) = self.edge.as_mut() {
            e.feed = Some(fed);
        }
    }

    /// The owner: tells the edges where the log is (see `NatsLog::tip`).
    pub(super) fn send_tip(&self) {
        if let (Some(c), false) = (&self.env.cluster, self.is_edge() || self.stepped_down) {
            c.tip(self.code(), self.epoch, self.pos, self.seq);
        }
    }

    /// An edge sends the command to the owner; `make` hears the answer.
    pub(super) fn forward(
        &mut self,
        role: Role,
        player: Option<&PlayerId>,
        cmd: Command,
        key: Option<String>,
        make: MakeWaiter,
        ctx: &mut Context<Self>,
    ) -> Result<(), ApiError> {
        let Some(cluster) = self.env.cluster.clone() else {
            return Err(ApiError::unavailable());
        };
        let Some(edge) = self.edge.as_mut() else {
            return Err(ApiError::unavailable());
        };
        if edge.forwards + edge.after_seq.len() >= MAX_FORWARDS {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many commands waiting for the session; try again",
            ));
        }
        let id = match key {
            Some(k) => command_id(&k, &cmd),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let req = EdgeRequest::Command(CmdRequest {
            id,
            role,
            player: player.cloned(),
            cmd,
        });
        let body = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
        edge.forwards += 1;
        self.last_activity = Instant::now();
        let rx = cluster.forward(self.code(), body.into(), FORWARD_BUDGET);
        ctx.spawn(rx.into_actor(self).map(move |res, act, ctx| {
            if let Some(e) = act.edge.as_mut() {
                e.forwards = e.forwards.saturating_sub(1);
            }
            let reply = match res {
                Ok(Ok(bytes)) => match serde_json::from_slice::<CmdReply>(&bytes) {
                    Ok(CmdReply::Ok { outcome, seq }) => Ok((outcome, seq)),
                    Ok(CmdReply::Err { code, message }) => Err(ApiError::new(code, message)),
                    Err(_) => Err(ApiError::internal()),
                },
                Ok(Err(e)) => {
                    log::warn!("session {}: {e}", act.code());
                    Err(crate::cluster::unowned())
                }
                Err(_) => Err(ApiError::unavailable()),
            };
            match reply {
                Ok((outcome, seq)) => {
                    if let Some(w) = make(Some(&outcome)) {
                        act.after_seq(seq, w, ctx);
                    }
                }
                Err(e) => {
                    if let Some(w) = make(None) {
                        act.resolve(w, Err(e));
                    }
                }
            }
        }));
        Ok(())
    }

    /// Answers `w` once this edge has relayed up to `seq` (reading the log
    /// if that does not happen soon).
    fn after_seq(&mut self, seq: u64, w: Waiter, ctx: &mut Context<Self>) {
        let Some(edge) = self.edge.as_mut().filter(|_| seq > self.seq) else {
            self.resolve(w, Ok(()));
            return;
        };
        edge.after_seq.push((seq, w));
        ctx.run_later(CATCH_UP_AFTER, move |act, ctx| {
            let behind = act
                .edge
                .as_ref()
                .is_some_and(|e| e.after_seq.iter().any(|(s, _)| *s > act.seq));
            if behind {
                act.catch_up(ctx);
            }
        });
    }

    /// Answers the waiters whose record is here now.
    fn release_waiters(&mut self) {
        let seq = self.seq;
        let ready: Vec<Waiter> = match self.edge.as_mut() {
            Some(e) => {
                let (ready, keep) = std::mem::take(&mut e.after_seq)
                    .into_iter()
                    .partition(|(s, _)| *s <= seq);
                e.after_seq = keep;
                ready.into_iter().map(|(_, w)| w).collect::<Vec<_>>()
            }
            None => Vec::new(),
        };
        for w in ready {
            self.resolve(w, Ok(()));
        }
    }

    /// Reads the session from the log (once at a time) and applies what
    /// this edge missed.
    pub(super) fn catch_up(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.env.cluster.clone() else {
            return;
        };
        let Some(edge) = self.edge.as_mut().filter(|e| !e.catching_up) else {
            return;
        };
        edge.catching_up = true;
        self.env.metrics.cluster_edge_catchups.fetch_add(1, Relaxed);
        let rx = cluster.read_async(self.code(), self.env.cfg.ring_events);
        ctx.spawn(rx.into_actor(self).map(|res, act, ctx| {
            if let Some(e) = act.edge.as_mut() {
                e.catching_up = false;
            }
            match res {
                Ok(Ok(Some(s))) => act.resync_from(s, ctx),
                Ok(Ok(None)) => act.finish(ctx),
                Ok(Err(e)) => {
                    log::warn!("session {}: edge catch-up: {e}", act.code());
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.catch_up(ctx));
                }
                Err(_) => {}
            }
        }));
    }

    /// Brings this copy up to the log's: the state as read, and the events
    /// after this copy's seq delivered in order. Clients who missed more
    /// than the log still returns are sent to resume (1001).
    pub(super) fn resync_from(&mut self, stored: StoredSession, ctx: &mut Context<Self>) {
        self.epoch = self.epoch.max(stored.epoch);
        if stored.pos <= self.pos {
            self.release_waiters();
            return;
        }
        let missed: Vec<LoggedEvent> = stored
            .events
            .iter()
            .filter(|e| e.seq > self.seq)
            .cloned()
            .collect();
        let whole = missed
            .first()
            .map_or(stored.seq <= self.seq, |e| e.seq == self.seq + 1);
        self.durable = stored.state;
        self.pos = stored.pos;
        self.ended_ms = self.ended_ms.or(stored.ended_ms);
        if whole {
            for e in &missed {
                self.seq = e.seq;
                self.deliver(e, kind_of(&e.frame));
            }
        } else {
            let base = stored
                .events
                .first()
                .map_or(stored.seq, |e| e.seq.saturating_sub(1));
            self.ring =
                super::ring::Ring::new(self.env.cfg.ring_events, self.env.cfg.ring_bytes, base);
            for e in stored.events {
                self.ring.push(e.seq, e.audience, e.frame, None);
            }
            self.report_ring();
            for id in self.conns.ids() {
                self.drop_conn(id, close::GOING_AWAY, "reconnect and resume", false);
            }
        }
        self.seq = self.seq.max(stored.seq);
        // Players removed meanwhile lose their sockets, as on the owner.
        let gone: Vec<u64> = self
            .conns
            .ids()
            .into_iter()
            .filter(|id| {
                self.conns
                    .get(*id)
                    .and_then(|c| c.player.as_ref())
                    .is_some_and(|p| self.durable.player(p).is_none())
            })
            .collect();
        for id in gone {
            self.drop_conn(id, close::FORBIDDEN, "removed by the MC", false);
        }
        self.release_waiters();
        if self.durable.phase == Phase::Ended {
            self.finish(ctx);
        }
    }

    /// An edge without the owner's list of who is online asks for it
    /// (at start, after a step-down, after a takeover).
    pub(super) fn ask_online(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.env.cluster.clone() else {
            return;
        };
        let Some(e) = self
            .edge
            .as_mut()
            .filter(|e| !e.asking_online && !e.elsewhere.known())
        else {
            return;
        };
        e.asking_online = true;
        let rx = cluster.forward(
            self.code(),
            super::forwarded::online_request(),
            Duration::from_secs(5),
        );
        ctx.spawn(rx.into_actor(self).map(|res, act, _| {
            let Some(e) = act.edge.as_mut() else {
                return;
            };
            e.asking_online = false;
            let reply = res
                .ok()
                .and_then(|r| r.ok())
                .and_then(|b| serde_json::from_slice::<super::forwarded::OnlineReply>(&b).ok());
            if let Some(r) = reply {
                e.elsewhere.listed(r.seq, r.online);
            }
        }));
    }

    /// An edge with nobody on it for a while stops (and unsubscribes).
    pub(super) fn edge_idle(&mut self, ctx: &mut Context<Self>) {
        let Some(e) = &self.edge else {
            return;
        };
        let nobody = self.conns.ids().is_empty()
            && self.pollers.is_empty()
            && self.waiters.is_empty()
            && e.forwards == 0
            && e.after_seq.is_empty();
        if nobody && self.last_activity.elapsed() >= EDGE_IDLE {
            self.registry.do_send(super::Forget {
                code: self.code().to_string(),
                from: Some(ctx.address()),
                as_edge: false,
            });
            ctx.stop();
        }
    }
}

impl Handler<Relayed> for Session {
    type Result = ();

    fn handle(&mut self, msg: Relayed, ctx: &mut Context<Self>) {
        if self.edge.is_none() {
            return;
        }
        if msg.epoch > self.epoch {
            // A new owner: once it has heard from the edges, ask it again
            // who is online (the dead node's players are not).
            let after = super::remote::REPORT_EVERY * 2;
            ctx.run_later(after, |act, _| {
                if let Some(e) = act.edge.as_mut() {
                    e.elsewhere.stale();
                }
            });
        }
        self.epoch = self.epoch.max(msg.epoch);
        let newest = msg.records.last().and_then(|r| r.events.last());
        if let Some(ts) = newest.and_then(|e| frame_timestamp(&e.frame)) {
            let lag_ms = crate::protocol::now_ms().saturating_sub(ts);
            self.env
                .metrics
                .cluster_relay_lag_us
                .observe(lag_ms.saturating_mul(1000));
        }
        for r in msg.records {
            if r.pos <= self.pos {
                continue;
            }
            if r.pos != self.pos + 1 {
                // Missed (at-most-once delivery): the log has it.
                self.catch_up(ctx);
                return;
            }
            let events = r
                .events
                .into_iter()
                .map(|e| {
                    let k = kind_of(&e.frame);
                    (e, k)
                })
                .collect();
            self.apply_committed(Pending::relayed(r.pos, r.facts, events), ctx);
        }
        if msg.last > self.pos {
            // The tip says the log is further on: a relay was lost.
            self.catch_up(ctx);
        }
        self.release_waiters();
    }
}

impl Handler<CaughtUp> for Session {
    type Result = ();

    fn handle(&mut self, msg: CaughtUp, ctx: &mut Context<Self>) {
        if let Some(s) = msg.0 {
            if self.edge.is_some() {
                self.resync_from(*s, ctx);
            }
        }
    }
}

impl Handler<Promote> for Session {
    type Result = ();

    fn handle(&mut self, msg: Promote, ctx: &mut Context<Self>) {
        let Some(edge) = self.edge.take() else {
            return;
        };
        self.env.metrics.cluster_edges.fetch_sub(1, Relaxed);
        drop(edge.feed);
        // Still an edge while catching up, so nothing is decided early.
        self.edge = Some(EdgeState {
            after_seq: edge.after_seq,
            ..EdgeState::default()
        });
        let stored = *msg.0;
        self.epoch = stored.epoch;
        self.resync_from(stored, ctx);
        let waiting = self.edge.take().map(|e| e.after_seq).unwrap_or_default();
        for (_, w) in waiting {
            self.resolve(w, Ok(()));
        }
        self.live = self.durable.clone();
        self.live_pos = self.pos;
        self.live_seq = self.seq;
        self.recovered = true;
        let ids: Vec<PlayerId> = self.durable.players().map(|p| p.id.clone()).collect();
        for p in ids {
            if self.conns.is_online(&p) {
                self.seats.present(&p);
            } else {
                self.seats.offline(&p);
            }
        }
        log::info!("session {}: this edge owns the session now", self.code());
        self.start_cluster(ctx);
        if self.durable.phase == Phase::Ended {
            self.finish(ctx);
        } else {
            self.sync_timer(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_frames_keep_their_coalescing_kind() {
        let f = r#"{"type":"leaderboard:updated","data":{},"sessionCode":"ABCDE","seq":3}"#;
        assert_eq!(kind_of(f), Some("leaderboard:updated"));
        let f = r#"{"type":"leaderboard:full-ish","data":{}}"#;
        assert_eq!(kind_of(f), None);
        assert_eq!(kind_of(r#"{"type":"question:opened"}"#), None);
        let e = crate::game::GameEvent::PresenceCount {
            online: 1,
            total_players: 2,
        };
        let f = crate::protocol::event_frame("ABCDE", 7, 1_795_000_000_123, &e);
        assert_eq!(frame_timestamp(&f), Some(1_795_000_000_123));
        assert_eq!(frame_timestamp(r#"{"type":"x"}"#), None);
    }
}
