//! Durability: proposing records to the log, and what happens when the log
//! answers. Events go out, callers are answered and sockets of departed
//! players close only once the record is committed; a failed append rolls
//! the live state back and answers `UNAVAILABLE`.

use super::connections::ConnId;
use super::handlers::PendingJoin;
use super::Session;
use crate::error::ApiError;
use crate::game::events::CloseReason;
use crate::game::{Audience, Command, Fact, GameEvent, Outcome, Phase, PlayerId, Role};
use crate::journal::{Append, AppendFailure, Committed, LoggedEvent, Record};
use crate::protocol::{close, now_ms};
use actix::prelude::*;
use bytestring::ByteString;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Seconds an owner that stepped down keeps trying to read the log to
/// serve on as an edge.
const EDGE_OPEN_TRIES: u32 = 30;

/// Someone waiting for a record to be committed.
pub enum Waiter {
    /// A WebSocket reply (an `ack`), sent once durable; an error with the
    /// same id if the record fails.
    Reply {
        conn: ConnId,
        id: Option<Value>,
        frame: ByteString,
    },
    /// An HTTP handler waiting for the outcome.
    Http(
        tokio::sync::oneshot::Sender<Result<Outcome, ApiError>>,
        Outcome,
    ),
    /// A socket joining by name: joins once its player is durable.
    Join(Box<PendingJoin>),
    /// An HTTP join: the token is handed out once the player is durable.
    Player(
        tokio::sync::oneshot::Sender<Result<(PlayerId, String), ApiError>>,
        PlayerId,
    ),
    /// Cluster mode: a command an edge forwarded (by its idempotency id).
    Forward { id: String, outcome: Outcome },
}

/// A record in flight.
pub struct Pending {
    pos: u64,
    facts: Vec<Fact>,
    events: Vec<(LoggedEvent, Option<&'static str>)>,
    waiters: Vec<Waiter>,
}

impl Pending {
    /// A record the owner committed, as an edge applies it.
    pub fn relayed(
        pos: u64,
        facts: Vec<Fact>,
        events: Vec<(LoggedEvent, Option<&'static str>)>,
    ) -> Pending {
        Pending {
            pos,
            facts,
            events,
            waiters: Vec::new(),
        }
    }
}

/// Why a failed append refuses the commands in it.
fn unavailable() -> ApiError {
    ApiError::unavailable()
}

/// An event with the audience the game gives it.
pub fn derived(e: GameEvent) -> (GameEvent, Audience) {
    let a = e.audience();
    (e, a)
}

/// Events a slow reader may skip in favour of a newer one of the same kind.
pub fn coalesce_key(event: &GameEvent) -> Option<&'static str> {
    use GameEvent::*;
    match event {
        LeaderboardUpdated { .. } => Some("leaderboard:updated"),
        LeaderboardFull { .. } => Some("leaderboard:full"),
        PresenceCount { .. } => Some("presence:count"),
        AnswerSubmitted { .. } => Some("player:answer-submitted"),
        _ => None,
    }
}

impl Session {
    /// Decides a command for a caller and proposes its facts; `waiter`
    /// builds who hears about it once it is durable (given `None` when an
    /// edge's forwarded command failed: the waiter then hears the error).
    /// An edge decides nothing: it forwards the command to the owner and
    /// answers `Outcome::Done` at once; the waiter hears the real outcome.
    pub(super) fn run(
        &mut self,
        role: Role,
        player: Option<&PlayerId>,
        cmd: Command,
        waiter: impl FnOnce(Option<&Outcome>) -> Option<Waiter> + 'static,
        ctx: &mut Context<Self>,
    ) -> Result<Outcome, ApiError> {
        if !cmd.allowed_for(role) {
            return Err(ApiError::forbidden());
        }
        let key = self.idem.take();
        if self.is_edge() {
            self.forward(role, player, cmd, key, Box::new(waiter), ctx)?;
            return Ok(Outcome::Done);
        }
        // Cluster mode: a command with an idempotency id (forwarded, or a
        // client message with an `id`) that was handled already, by this
        // owner or an earlier one, is answered as then, once durable.
        let client_id = || {
            key.as_deref()
                .map(|k| super::forwarded::command_id(k, &cmd))
        };
        let handling = match self.handling.take() {
            Some(id) => Some(id),
            None if self.env.cluster.is_some() => client_id(),
            None => None,
        };
        if let Some(o) = handling
            .as_deref()
            .and_then(|id| self.live.handled(id))
            .cloned()
        {
            let w = waiter(Some(&o));
            self.propose(Vec::new(), Vec::new(), w, ctx);
            return Ok(o);
        }
        let cmd = self.bind(cmd, role, player)?;
        let mut decision = self.live.decide(cmd)?;
        // A forwarded command's id goes into the log with its effects, so
        // the next owner recognises a retry too (game/handled.rs).
        if let Some(id) = handling.filter(|_| !decision.facts.is_empty()) {
            decision.facts.push(Fact::Handled {
                id,
                outcome: decision.outcome.clone(),
            });
        }
        self.last_activity = std::time::Instant::now();
        let w = waiter(Some(&decision.outcome));
        self.propose(decision.facts, Vec::new(), w, ctx);
        Ok(decision.outcome)
    }

    /// Applies `facts` to the live state, numbers and serializes the events
    /// they produce (plus `extra`, derived events with their audience), and
    /// appends the record.
    /// Nothing to record: the waiter waits for what is already in flight
    /// (the state it was answered from), or is answered now.
    pub(super) fn propose(
        &mut self,
        facts: Vec<Fact>,
        extra: Vec<(GameEvent, Audience)>,
        waiter: Option<Waiter>,
        ctx: &mut Context<Self>,
    ) {
        // An edge writes nothing (the owner does).
        if self.stepped_down || self.is_edge() {
            if let Some(w) = waiter {
                self.resolve(w, Err(unavailable()));
            }
            return;
        }
        if facts.is_empty() && extra.is_empty() {
            match (self.pending.back_mut(), waiter) {
                (Some(p), Some(w)) => p.waiters.push(w),
                (None, Some(w)) => self.resolve(w, Ok(())),
                (_, None) => {}
            }
            return;
        }
        let mut produced = Vec::new();
        for f in &facts {
            produced.extend(self.live.evolve(f).into_iter().map(derived));
        }
        produced.extend(extra);
        let now = now_ms();
        let mut events = Vec::with_capacity(produced.len());
        for (e, audience) in produced {
            match &e {
                GameEvent::AllCleared {} => self.leaderboard_dirty = true,
                // Ranks moved by a departure or by another player's new
                // score are told with the next leaderboard tick, once for
                // any number of them (`Fact::RanksSettled`).
                GameEvent::ScoreUpdated { .. }
                | GameEvent::PlayerRemoved(_)
                | GameEvent::PlayerLeft(_) => {
                    self.leaderboard_dirty = true;
                    self.ranks_dirty = true;
                }
                // Team mode: the team lines of the leaderboard moved.
                GameEvent::TeamScoreUpdated { .. } | GameEvent::TeamRemoved { to: None, .. } => {
                    self.leaderboard_dirty = true
                }
                GameEvent::AnswerSubmitted { .. } if audience == Audience::Mc => {
                    self.display_answered = Some(e.clone())
                }
                _ => {}
            }
            self.live_seq += 1;
            let logged = crate::journal::logged(self.code(), self.live_seq, now, &e, audience);
            events.push((logged, coalesce_key(&e)));
        }
        self.live_pos += 1;
        let pos = self.live_pos;
        self.pending.push_back(Pending {
            pos,
            facts,
            events,
            waiters: waiter.into_iter().collect(),
        });
        self.sync_timer(ctx);
        let Some(log) = self.env.log.clone() else {
            // No log: committed as soon as decided.
            self.committed(pos, ctx);
            return;
        };
        let Some(p) = self.pending.back() else {
            return;
        };
        let record = Record {
            pos,
            facts: p.facts.clone(),
            events: p.events.iter().map(|(e, _)| e.clone()).collect(),
        };
        let append = Append {
            code: self.code().to_string(),
            epoch: self.epoch,
            expected: pos - 1,
            generation: self.generation,
            records: vec![record],
            notify: {
                let me = ctx.address();
                Box::new(move |c| me.do_send(c))
            },
        };
        if log.append(append).is_err() {
            log::error!("session {}: the log queue is full", self.code());
            self.roll_back(pos, &AppendFailure::Unavailable("queue full".into()), ctx);
        }
    }

    /// Everything up to `upto` is durable: apply, fan out, answer.
    fn committed(&mut self, upto: u64, ctx: &mut Context<Self>) {
        while self.pending.front().is_some_and(|p| p.pos <= upto) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.apply_committed(p, ctx);
        }
        self.timer_failures = 0;
        self.sync_timer(ctx);
        self.maybe_snapshot();
    }

    pub(super) fn apply_committed(&mut self, p: Pending, ctx: &mut Context<Self>) {
        let mut gone: Vec<(PlayerId, u16, &'static str)> = Vec::new();
        let mut ended = false;
        for f in &p.facts {
            match f {
                Fact::PlayerLeft { player_id } => {
                    gone.push((player_id.clone(), close::NORMAL, "left the session"))
                }
                Fact::PlayerRemoved { player_id } => {
                    gone.push((player_id.clone(), close::FORBIDDEN, "removed by the MC"))
                }
                Fact::PlayersCleared { player_ids } => gone.extend(
                    player_ids
                        .iter()
                        .map(|p| (p.clone(), close::FORBIDDEN, "removed by the MC")),
                ),
                Fact::Ended { .. } => ended = true,
                // Holds a seat while it never connects (seats.rs); a socket
                // joining by name comes online right after this.
                Fact::PlayerJoined { player_id, .. } => self.seats.offline(player_id),
                _ => {}
            }
            if let Fact::PlayersCleared { .. } = f {
                self.seats.clear();
            }
            self.durable.evolve(f);
        }
        self.pos = p.pos;
        self.since_snapshot += 1;
        for (e, key) in &p.events {
            self.seq = e.seq;
            self.deliver(e, *key);
        }
        for w in p.waiters {
            self.resolve(w, Ok(()));
        }
        if !gone.is_empty() {
            for (player, code, reason) in gone {
                self.seats.present(&player);
                self.ring.forget_player(&player);
                self.pollers.remove(&player);
                for id in self.conns.of_player(&player) {
                    self.drop_conn(id, code, reason, false);
                }
            }
            self.presence_dirty = true;
        }
        if ended {
            self.finish(ctx);
        }
    }

    /// Answers one waiter: `Ok` once its record is durable, `Err` if it failed.
    pub(super) fn resolve(&mut self, w: Waiter, result: Result<(), ApiError>) {
        match (w, result) {
            (Waiter::Reply { conn, frame, .. }, Ok(())) => self.reply(conn, frame),
            (Waiter::Reply { conn, id, .. }, Err(e)) => self.reply_error(conn, id.as_ref(), &e),
            (Waiter::Http(tx, outcome), r) => {
                let _ = tx.send(r.map(|()| outcome));
            }
            (Waiter::Join(j), r) => self.complete_join(*j, r),
            (Waiter::Player(tx, pid), r) => {
                let token = self
                    .env
                    .auth
                    .issue(self.code(), &self.nonce, Role::Player, Some(&pid));
                let _ = tx.send(r.map(|()| (pid, token)));
            }
            (Waiter::Forward { id, outcome }, r) => self.resolve_forward(id, r.map(|()| outcome)),
        }
    }

    /// The log refused the record at `from` (and so everything after it):
    /// answer their callers `UNAVAILABLE` and rebuild the live state from
    /// the durable one plus what is still in flight before it.
    fn roll_back(&mut self, from: u64, why: &AppendFailure, ctx: &mut Context<Self>) {
        log::error!(
            "session {}: records from {from} refused by the log: {why}",
            self.code()
        );
        self.env.metrics.log_failures.fetch_add(1, Relaxed);
        self.timer_failures += 1;
        let keep = self.pending.iter().take_while(|p| p.pos < from).count();
        let failed: Vec<Pending> = self.pending.drain(keep..).collect();
        self.generation += 1;
        self.live = self.durable.clone();
        for p in &self.pending {
            for f in &p.facts {
                self.live.evolve(f);
            }
        }
        self.live_pos = self.pending.back().map_or(self.pos, |p| p.pos);
        self.live_seq = self
            .pending
            .iter()
            .flat_map(|p| p.events.last())
            .map(|(e, _)| e.seq)
            .last()
            .unwrap_or(self.seq);
        // Derived broadcasts that were refused go out again later, and so
        // do the rank updates of a refused `RanksSettled`.
        self.leaderboard_dirty = true;
        self.board.forget_top();
        self.ranks_dirty = true;
        self.presence_dirty = true;
        for p in failed {
            for w in p.waiters {
                self.resolve(w, Err(unavailable()));
            }
        }
        self.sync_timer(ctx);
    }

    /// Arms the question timer for the live state's open question (or
    /// cancels it). A close that the log refused is retried with a backoff.
    pub(super) fn sync_timer(&mut self, ctx: &mut Context<Self>) {
        // The owner closes questions; an edge's state is only relayed.
        let want = if self.is_edge() {
            None
        } else {
            self.live.open_timer()
        };
        match (want, &self.timer) {
            (Some((_, opening)), Some((armed, _))) if *armed == opening => {}
            (Some((deadline, opening)), _) => {
                if let Some((_, h)) = self.timer.take() {
                    ctx.cancel_future(h);
                }
                let backoff = 500 * u64::from(self.timer_failures.min(10));
                let wait = deadline.saturating_sub(now_ms()).max(backoff);
                let h = ctx.run_later(Duration::from_millis(wait), move |act, ctx| {
                    act.timer = None;
                    let close = Command::CloseQuestion {
                        reason: CloseReason::Timer,
                        opening: Some(opening),
                    };
                    // A question already closed by the MC makes this a no-op.
                    let _ = act.run(Role::Mc, None, close, |_| None, ctx);
                });
                self.timer = Some((opening, h));
            }
            (None, Some(_)) => {
                if let Some((_, h)) = self.timer.take() {
                    ctx.cancel_future(h);
                }
            }
            (None, None) => {}
        }
    }

    /// Writes a snapshot of the durable state when the records since the
    /// last one cost more to replay than the snapshot costs to write, and
    /// not in the middle of a burst of answers unless the tail grows long.
    fn maybe_snapshot(&mut self) {
        let Some(log) = self.env.log.clone() else {
            return;
        };
        let due = crate::journal::snapshot_due(
            self.since_snapshot,
            self.durable.size_hint(),
            self.durable.phase == Phase::Question,
            self.env.cfg.snapshot_records,
        );
        if !due {
            return;
        }
        let body = match serde_json::to_vec(&self.durable) {
            Ok(b) => b,
            Err(e) => {
                log::error!("session {}: snapshot: {e}", self.code());
                return;
            }
        };
        let v = self.durable.format_version();
        if log
            .snapshot(self.code(), self.pos, self.seq, v, body)
            .is_ok()
        {
            self.since_snapshot = 0;
        }
    }
}

impl Session {
    /// Another node owns the session now (cluster mode): this actor writes
    /// nothing more and serves on as an edge. Every command in flight is
    /// refused (`UNAVAILABLE`: nothing of it was sent; a retry with its id
    /// is recognised if it did land), the live state goes back to what was
    /// committed, and the sockets and long polls stay: they get the new
    /// owner's events from the log and the relay, after the last seq they
    /// saw (so no client sees a fork, and none has to reconnect).
    pub(super) fn demote(&mut self, ctx: &mut Context<Self>) {
        if self.stepped_down || self.is_edge() {
            return;
        }
        if self.env.cluster.is_none() {
            self.retire(ctx);
            return;
        }
        self.generation += 1;
        self.refuse_pending();
        self.serving = None;
        if let Some((_, h)) = self.timer.take() {
            ctx.cancel_future(h);
        }
        self.live = self.durable.clone();
        self.live_pos = self.pos;
        self.live_seq = self.seq;
        self.remote = super::remote::RemotePresence::default();
        self.presence_changes.clear();
        // Derived broadcasts owed (a refused record's leaderboard, ranks,
        // counts) are the new owner's to send now; if this node takes the
        // session back, it starts from nothing owed, as any new owner.
        self.leaderboard_dirty = false;
        self.ranks_dirty = false;
        self.presence_dirty = false;
        self.board = super::boards::BoardSent::default();
        self.display_answered = None;
        self.edge = Some(super::edge::EdgeState::default());
        self.env.metrics.cluster_edges.fetch_add(1, Relaxed);
        self.registry.do_send(super::Forget {
            code: self.code().to_string(),
            from: Some(ctx.address()),
            as_edge: true,
        });
        self.open_as_edge(0, ctx);
    }

    /// Subscribes to the relay and reads the log, to serve on as an edge;
    /// a read that fails (the cluster electing a leader) is tried again
    /// each second for [`EDGE_OPEN_TRIES`] seconds, then the sockets close
    /// (1001: their clients reconnect, to any node).
    fn open_as_edge(&mut self, tries: u32, ctx: &mut Context<Self>) {
        let Some(cluster) = self.env.cluster.clone() else {
            self.retire(ctx);
            return;
        };
        let read = cluster.open_edge(self.code(), self.env.cfg.ring_events);
        ctx.spawn(read.into_actor(self).map(move |got, act, ctx| {
            if !act.is_edge() || act.stepped_down {
                // Taken back meanwhile (Promote), or retired.
                return;
            }
            match got {
                Ok(Ok(Some((stored, feed)))) => {
                    act.follow(feed, ctx);
                    act.resync_from(stored, ctx);
                    act.ask_online(ctx);
                }
                Ok(Err(e)) if tries + 1 < EDGE_OPEN_TRIES => {
                    log::warn!("session {}: reading the log to serve on: {e}", act.code());
                    ctx.run_later(Duration::from_secs(1), move |act, ctx| {
                        act.open_as_edge(tries + 1, ctx)
                    });
                }
                other => {
                    if let Ok(Err(e)) = other {
                        log::warn!("session {}: cannot serve on as an edge: {e}", act.code());
                    }
                    act.retire(ctx);
                }
            }
        }));
    }

    /// Refuses every command in flight (`UNAVAILABLE`).
    fn refuse_pending(&mut self) {
        let failed: Vec<Pending> = self.pending.drain(..).collect();
        for p in failed {
            for w in p.waiters {
                self.resolve(w, Err(unavailable()));
            }
        }
    }

    /// This actor is done with the session (cluster mode: a newer actor
    /// serves it, or it could not serve on as an edge): nothing more is
    /// written, every socket closes with 1001 so its client reconnects (to
    /// any node), the registry forgets it, and it stops.
    pub(super) fn retire(&mut self, ctx: &mut Context<Self>) {
        if self.stepped_down {
            return;
        }
        self.stepped_down = true;
        self.generation += 1;
        self.refuse_pending();
        for id in self.conns.ids() {
            self.drop_conn(
                id,
                close::GOING_AWAY,
                "the session moved to another node; reconnect",
                false,
            );
        }
        self.registry.do_send(super::Forget {
            code: self.code().to_string(),
            from: Some(ctx.address()),
            as_edge: false,
        });
        ctx.stop();
    }
}

impl Handler<super::messages::StepDown> for Session {
    type Result = ();

    fn handle(&mut self, _: super::messages::StepDown, ctx: &mut Context<Self>) {
        log::warn!("session {}: lease lost; serving on as an edge", self.code());
        self.demote(ctx);
    }
}

impl Handler<super::messages::Retire> for Session {
    type Result = ();

    fn handle(&mut self, _: super::messages::Retire, ctx: &mut Context<Self>) {
        self.retire(ctx);
    }
}

impl Handler<Committed> for Session {
    type Result = ();

    fn handle(&mut self, msg: Committed, ctx: &mut Context<Self>) {
        if msg.generation != self.generation {
            return;
        }
        match msg.result {
            Ok(()) => self.committed(msg.upto, ctx),
            Err(why) => {
                if let AppendFailure::Fenced { epoch, .. } = &why {
                    if *epoch > self.epoch {
                        log::warn!(
                            "session {}: another node owns it now (epoch {epoch} > {})",
                            self.code(),
                            self.epoch
                        );
                        if let Some(c) = &self.env.cluster {
                            c.release_at(self.code(), self.epoch);
                        }
                        self.demote(ctx);
                        return;
                    }
                }
                self.roll_back(msg.upto, &why, ctx);
            }
        }
    }
}
