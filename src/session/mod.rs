//! The session actor: one per quiz session. It owns the connection set and
//! the game state, turns commands into events, numbers them, serializes each
//! once, and fans the shared bytes out to the event's audience. It also runs
//! the heartbeat for all of its sockets on one interval.

pub mod connections;
pub mod messages;
pub mod ring;

use crate::auth::{Auth, Claims};
use crate::config::Config;
use crate::error::ApiError;
use crate::game::events::{ChatFrom, CloseReason, EndReason};
use crate::game::state::{Settings, View};
use crate::game::{Command, GameEvent, GameState, Outcome, Phase, PlayerId, Role};
use crate::metrics::Metrics;
use crate::outbox::Push;
use crate::protocol::{
    close, error_frame, event_frame, now_ms, reply_frame, ClientMessage, ErrorCode,
};
use crate::ratelimit::TokenBucket;
use crate::store::journal::{Committed, Journal, Op, StoredSession};
use actix::prelude::*;
use connections::{Conn, ConnId, Connections};
use messages::*;
use ring::Ring;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared, read-only context every session gets.
pub struct Env {
    pub cfg: Arc<Config>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    /// None when the journal is turned off (acks are then immediate).
    pub journal: Option<Arc<Journal>>,
}

/// Seqs skipped after a restart: events sent but not yet journaled when the
/// server stopped can never be numbered again.
pub const SEQ_GAP_ON_RECOVERY: u64 = 100_000;

/// A reply held back until the command it answers is durable.
enum Pending {
    Frame(ConnId, bytestring::ByteString),
    Http(
        tokio::sync::oneshot::Sender<Result<Outcome, ApiError>>,
        Outcome,
    ),
}

/// Asks the registry to forget an ended session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub code: String,
}

/// How often coalesced presence counts may go out.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// How often coalesced leaderboards may go out (at most 4 a second).
const LEADERBOARD_INTERVAL: Duration = Duration::from_millis(250);
/// Chat messages per second per sender, and the burst allowed.
const CHAT_RATE: (f64, f64) = (0.5, 5.0);

/// See the module docs.
pub struct Session {
    game: GameState,
    nonce: String,
    seq: u64,
    ring: Ring,
    conns: Connections,
    env: Arc<Env>,
    registry: Recipient<Forget>,
    presence_dirty: bool,
    leaderboard_dirty: bool,
    last_activity: Instant,
    /// The question timer, cancelled when the question closes early.
    timer: Option<SpawnHandle>,
    chat_limits: HashMap<String, TokenBucket>,
    /// Commands journaled so far.
    journaled: u64,
    pending: VecDeque<(u64, Pending)>,
    journaled_seq: u64,
    /// Set when rebuilt from the journal: timers are re-armed on start.
    recovered: bool,
    ended_ms: Option<u64>,
    /// Parked long-polls.
    waiters: Vec<Waiter>,
    /// Players present through long polling, with their last poll.
    pollers: HashMap<PlayerId, Instant>,
}

/// A long-poll waiting for its first event.
struct Waiter {
    role: Role,
    player: Option<PlayerId>,
    tx: tokio::sync::oneshot::Sender<String>,
}

/// A long-poll body: `{"seq":M,"events":[...]}` from already-serialized frames.
fn poll_body<'a>(seq: u64, frames: impl Iterator<Item = &'a bytestring::ByteString>) -> String {
    let mut body = format!("{{\"seq\":{seq},\"events\":[");
    for (i, f) in frames.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(f);
    }
    body.push_str("]}");
    body
}

impl Session {
    pub fn new(
        code: String,
        nonce: String,
        title: String,
        settings: Settings,
        env: Arc<Env>,
        registry: Recipient<Forget>,
    ) -> Self {
        Session {
            game: GameState::new(code, title, settings),
            nonce,
            seq: 0,
            ring: Ring::new(env.cfg.ring_events, 0),
            conns: Connections::default(),
            env,
            registry,
            presence_dirty: false,
            leaderboard_dirty: false,
            last_activity: Instant::now(),
            timer: None,
            chat_limits: HashMap::new(),
            journaled: 0,
            pending: VecDeque::new(),
            journaled_seq: 0,
            recovered: false,
            ended_ms: None,
            waiters: Vec::new(),
            pollers: HashMap::new(),
        }
    }

    /// Rebuilds a session from its journal by replaying its commands.
    pub fn recover(stored: StoredSession, env: Arc<Env>, registry: Recipient<Forget>) -> Self {
        let mut s = Session::new(
            stored.code.clone(),
            stored.nonce,
            stored.title,
            stored.settings,
            env,
            registry,
        );
        for cmd in stored.commands {
            if let Err(e) = s.game.apply(cmd) {
                log::warn!("session {}: replayed command refused: {e}", stored.code);
            }
        }
        s.journaled = stored.last_n;
        s.seq = stored.seq + SEQ_GAP_ON_RECOVERY;
        s.journaled_seq = stored.seq;
        s.ring = Ring::new(s.env.cfg.ring_events, s.seq);
        s.recovered = true;
        s.ended_ms = stored.ended_ms;
        s
    }

    /// A copy of `cmd` for the journal, taken before `apply` consumes it;
    /// none when nothing will be journaled (no journal, or chat).
    fn journal_copy(&self, cmd: &Command) -> Option<Command> {
        (self.env.journal.is_some() && !matches!(cmd, Command::Chat { .. })).then(|| cmd.clone())
    }

    /// Writes an applied command to the journal; returns its number, to wait on.
    fn journal(
        &mut self,
        cmd: Option<Command>,
        ctx: &mut Context<Self>,
    ) -> Result<Option<u64>, ApiError> {
        let (Some(j), Some(cmd)) = (self.env.journal.clone(), cmd) else {
            return Ok(None);
        };
        self.journaled += 1;
        let op = Op::Command {
            code: self.game.code.clone(),
            n: self.journaled,
            seq: self.seq,
            cmd: Box::new(cmd),
            notify: ctx.address().recipient(),
        };
        match j.send(op) {
            Ok(()) => Ok(Some(self.journaled)),
            Err(e) => {
                log::error!("session {}: {e}", self.game.code);
                Err(ApiError::new(
                    ErrorCode::Internal,
                    "could not save; try again",
                ))
            }
        }
    }

    fn journal_op(&self, op: Op) {
        if let Some(j) = &self.env.journal {
            if let Err(e) = j.send(op) {
                log::error!("session {}: {e}", self.game.code);
            }
        }
    }

    fn journal_seq(&mut self) {
        if self.seq > self.journaled_seq {
            self.journaled_seq = self.seq;
            self.journal_op(Op::Seq {
                code: self.game.code.clone(),
                seq: self.seq,
            });
        }
    }

    /// Holds a reply until command `n` is durable (sends it now if `n` is None).
    fn reply_when_durable(&mut self, n: Option<u64>, conn: ConnId, frame: bytestring::ByteString) {
        match n {
            Some(n) => self.pending.push_back((n, Pending::Frame(conn, frame))),
            None => self.reply(conn, frame),
        }
    }

    /// An HTTP reply that resolves once command `n` is durable.
    fn http_when_durable(
        &mut self,
        result: Result<(Outcome, Option<u64>), ApiError>,
    ) -> ResponseFuture<Result<Outcome, ApiError>> {
        match result {
            Ok((outcome, Some(n))) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                self.pending.push_back((n, Pending::Http(tx, outcome)));
                Box::pin(async move { rx.await.unwrap_or_else(|_| Err(ApiError::internal())) })
            }
            Ok((outcome, None)) => Box::pin(async move { Ok(outcome) }),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    fn code(&self) -> &str {
        &self.game.code
    }

    /// Numbers, serializes (once) and delivers one event to its audience.
    fn emit(&mut self, event: GameEvent) {
        let started = Instant::now();
        self.seq += 1;
        let frame = event_frame(&self.game.code, self.seq, now_ms(), &event);
        let audience = event.audience();
        let key = event.coalesce_key();
        let mut sent = 0u64;
        let mut overflow = Vec::new();
        self.conns.for_audience(&audience, |id, c| {
            sent += 1;
            if c.send(frame.clone(), key) == Push::Overflow {
                overflow.push(id);
            }
        });
        let m = &self.env.metrics;
        m.fanout_us.observe(started.elapsed().as_micros() as u64);
        m.broadcasts.fetch_add(1, Relaxed);
        m.messages_out.fetch_add(sent, Relaxed);
        if !self.waiters.is_empty() {
            self.wake_polls(&audience, &frame);
        }
        self.ring.push(self.seq, audience, frame);
        for id in overflow {
            self.env.metrics.slow_consumer_closes.fetch_add(1, Relaxed);
            self.drop_conn(id, close::POLICY, "too slow to keep up", true);
        }
    }

    /// Answers every parked long-poll this event is for.
    fn wake_polls(&mut self, audience: &crate::game::Audience, frame: &bytestring::ByteString) {
        let seq = self.seq;
        let waiters = std::mem::take(&mut self.waiters);
        for w in waiters {
            if w.tx.is_closed() {
                continue;
            }
            if audience.includes(w.role, w.player.as_deref()) {
                let _ = w.tx.send(poll_body(seq, std::iter::once(frame)));
            } else {
                self.waiters.push(w);
            }
        }
    }

    fn emit_all(&mut self, events: Vec<GameEvent>) {
        for e in events {
            if matches!(
                e,
                GameEvent::ScoreUpdated { .. }
                    | GameEvent::PlayerRemoved(_)
                    | GameEvent::PlayerLeft(_)
                    | GameEvent::AllCleared {}
            ) {
                self.leaderboard_dirty = true;
            }
            self.emit(e);
        }
    }

    /// Sends the coalesced leaderboards when scores moved.
    fn flush_leaderboard(&mut self) {
        if !self.leaderboard_dirty || self.game.phase == Phase::Ended {
            return;
        }
        self.leaderboard_dirty = false;
        let top = self.game.top();
        let total = self.game.total_players();
        self.emit(GameEvent::LeaderboardUpdated {
            top,
            total_players: total,
        });
        let entries = self.game.leaderboard();
        self.emit(GameEvent::LeaderboardFull { entries });
    }

    /// Puts the caller's identity into a command, so nobody acts as another.
    fn bind(
        &mut self,
        cmd: Command,
        role: Role,
        player: Option<&PlayerId>,
    ) -> Result<Command, ApiError> {
        let me = player.cloned().unwrap_or_default();
        Ok(match cmd {
            Command::SubmitAnswer {
                question_id,
                answer,
                ..
            } => Command::SubmitAnswer {
                player_id: me,
                question_id,
                answer,
                now_ms: now_ms(),
            },
            Command::SubmitMark {
                assignment_id,
                question_id,
                score,
                ..
            } => Command::SubmitMark {
                player_id: me,
                assignment_id,
                question_id,
                score,
            },
            Command::Leave { .. } => Command::Leave { player_id: me },
            Command::OpenQuestion {
                question_id,
                time_limit_sec,
                ..
            } => Command::OpenQuestion {
                question_id,
                time_limit_sec,
                now_ms: now_ms(),
            },
            Command::Chat { text, .. } => {
                let key = player.cloned().unwrap_or_else(|| role.as_str().to_string());
                let bucket = self
                    .chat_limits
                    .entry(key)
                    .or_insert_with(|| TokenBucket::new(CHAT_RATE.0, CHAT_RATE.1));
                if self.game.settings.chat && !bucket.take() {
                    return Err(ApiError::new(
                        ErrorCode::RateLimited,
                        "too many chat messages; slow down",
                    ));
                }
                let name = match player.and_then(|p| self.game.player(p)) {
                    Some(p) => p.name.clone(),
                    None => "Quiz master".to_string(),
                };
                Command::Chat {
                    from: ChatFrom {
                        player_id: player.cloned(),
                        name,
                        role,
                    },
                    text,
                }
            }
            Command::StartMarking { round_id, .. } => Command::StartMarking {
                round_id,
                seed: rand::random(),
            },
            other => other,
        })
    }

    /// Sends a reply (no seq) to one connection.
    fn reply(&mut self, conn: ConnId, frame: bytestring::ByteString) {
        let overflow = match self.conns.get(conn) {
            Some(c) => c.send(frame, None) == Push::Overflow,
            None => false,
        };
        if overflow {
            self.env.metrics.slow_consumer_closes.fetch_add(1, Relaxed);
            self.drop_conn(conn, close::POLICY, "too slow to keep up", true);
        }
    }

    fn reply_error(&mut self, conn: ConnId, id: Option<&Value>, e: &ApiError) {
        self.env.metrics.error(e.code);
        self.reply(conn, error_frame(id, e.code, &e.message));
    }

    /// Closes and forgets a connection, updating presence.
    fn drop_conn(&mut self, id: ConnId, code: u16, reason: &str, discard: bool) {
        if let Some((conn, last)) = self.conns.remove(id) {
            conn.close(code, reason, discard);
            self.env.metrics.joined(conn.role, -1);
            if last {
                if let Some(p) = conn.player {
                    if !self.pollers.contains_key(&p) {
                        self.presence_left(p);
                    }
                }
            }
        }
    }

    /// Players online by socket or by long polling.
    fn online_count(&self) -> usize {
        self.conns.online_players()
            + self
                .pollers
                .keys()
                .filter(|p| !self.conns.is_online(p))
                .count()
    }

    fn is_online(&self, p: &str) -> bool {
        self.conns.is_online(p) || self.pollers.contains_key(p)
    }

    /// A player's long poll: they count as online while polling.
    fn poll_seen(&mut self, player: &str) {
        let was = self.is_online(player);
        self.pollers.insert(player.to_string(), Instant::now());
        if !was {
            self.presence_dirty = true;
            self.emit(GameEvent::PresenceChanged {
                player_id: player.to_string(),
                online: true,
            });
        }
    }

    /// Polling players that stopped polling go offline.
    fn sweep_pollers(&mut self) {
        let grace = Duration::from_secs(self.env.cfg.poll_presence_secs.max(1));
        let parked: std::collections::HashSet<&str> = self
            .waiters
            .iter()
            .filter(|w| !w.tx.is_closed())
            .filter_map(|w| w.player.as_deref())
            .collect();
        let gone: Vec<PlayerId> = self
            .pollers
            .iter()
            .filter(|(p, at)| at.elapsed() > grace && !parked.contains(p.as_str()))
            .map(|(p, _)| p.clone())
            .collect();
        for p in gone {
            self.pollers.remove(&p);
            if !self.conns.is_online(&p) {
                self.presence_left(p);
            }
        }
    }

    fn presence_left(&mut self, player: PlayerId) {
        self.presence_dirty = true;
        if self.game.player(&player).is_some() {
            self.emit(GameEvent::PresenceChanged {
                player_id: player,
                online: false,
            });
        }
    }

    /// Who a token's bearer is here; `None` claims are a display.
    fn caller(&self, claims: Option<&Claims>) -> Result<(Role, Option<PlayerId>), ApiError> {
        let Some(c) = claims else {
            return Ok((Role::Display, None));
        };
        if c.sn != self.nonce {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "token is for an earlier session",
            ));
        }
        match c.role {
            Role::Player => {
                let pid = c.pid.clone().unwrap_or_default();
                if self.game.player(&pid).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::Forbidden,
                        "player was removed from the session",
                    ));
                }
                Ok((Role::Player, Some(pid)))
            }
            role => Ok((role, None)),
        }
    }

    fn view(role: Role, player: Option<&PlayerId>) -> View {
        match (role, player) {
            (Role::Mc, _) => View::Mc,
            (Role::Player, Some(p)) => View::Player(p.clone()),
            _ => View::Display,
        }
    }

    fn snapshot(&mut self, view: &View) -> Value {
        let online = self.online_count();
        let (conns, pollers) = (&self.conns, &self.pollers);
        self.game.snapshot(view, online, &|p| {
            conns.is_online(p) || pollers.contains_key(p)
        })
    }

    fn new_player(
        &mut self,
        name: String,
        ctx: &mut Context<Self>,
    ) -> Result<(PlayerId, String, Option<u64>), ApiError> {
        let pid = loop {
            let id = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
            if self.game.player(&id).is_none() {
                break id;
            }
        };
        let cmd = Command::AddPlayer {
            player_id: pid.clone(),
            name,
        };
        let record = self.journal_copy(&cmd);
        let (_, events) = self.game.apply(cmd)?;
        let token = self
            .env
            .auth
            .issue(self.code(), &self.nonce, Role::Player, Some(&pid));
        self.emit_all(events);
        let n = self.journal(record, ctx)?;
        Ok((pid, token, n))
    }

    /// Runs a command for a caller, emits its events, and does what its
    /// outcome asks of the connections.
    fn run(
        &mut self,
        role: Role,
        player: Option<&PlayerId>,
        cmd: Command,
        ctx: &mut Context<Self>,
    ) -> Result<(Outcome, Option<u64>), ApiError> {
        if !cmd.allowed_for(role) {
            return Err(ApiError::forbidden());
        }
        let cmd = self.bind(cmd, role, player)?;
        let ending = matches!(cmd, Command::End { .. });
        let (closing_code, closing_reason) = match cmd {
            Command::Leave { .. } => (close::NORMAL, "left the session"),
            _ => (close::FORBIDDEN, "removed by the MC"),
        };
        let record = self.journal_copy(&cmd);
        let (outcome, events) = self.game.apply(cmd)?;
        self.last_activity = Instant::now();
        self.emit_all(events);
        let n = self.journal(record, ctx)?;
        if let Outcome::PlayersGone(gone) = &outcome {
            for p in gone {
                self.ring.forget_player(p);
                self.pollers.remove(p);
                for id in self.conns.of_player(p) {
                    self.drop_conn(id, closing_code, closing_reason, false);
                }
            }
            self.presence_dirty = true;
        }
        if let Outcome::QuestionOpened {
            deadline: Some(deadline),
            opening,
            ..
        } = &outcome
        {
            self.set_timer(*deadline, *opening, ctx);
        }
        if self.game.phase != Phase::Question {
            if let Some(h) = self.timer.take() {
                ctx.cancel_future(h);
            }
        }
        if ending {
            self.flush_leaderboard();
            self.finish(ctx);
        }
        Ok((outcome, n))
    }

    /// Closes the question at its deadline (server time).
    fn set_timer(&mut self, deadline: u64, opening: u64, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let wait = Duration::from_millis(deadline.saturating_sub(now_ms()));
        self.timer = Some(ctx.run_later(wait, move |act, ctx| {
            act.timer = None;
            let close = Command::CloseQuestion {
                reason: CloseReason::Timer,
                opening: Some(opening),
            };
            // A question already closed by the MC makes this a no-op.
            let _ = act.run(Role::Mc, None, close, ctx);
        }));
    }

    /// After `session:ended`: close every socket 4010, keep the results for
    /// the retention time, then stop.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        for id in self.conns.ids() {
            self.drop_conn(id, close::ENDED, "session ended", false);
        }
        let ended = *self.ended_ms.get_or_insert_with(now_ms);
        self.journal_seq();
        self.journal_op(Op::Ended {
            code: self.game.code.clone(),
            at_ms: ended,
        });
        let keep_until = ended + self.env.cfg.ended_retention_secs * 1000;
        let retention = Duration::from_millis(keep_until.saturating_sub(now_ms()));
        ctx.run_later(retention, |act, ctx| {
            act.journal_op(Op::Delete {
                code: act.game.code.clone(),
            });
            act.registry.do_send(Forget {
                code: act.game.code.clone(),
            });
            ctx.stop();
        });
    }

    fn heartbeat(&mut self) {
        let now = now_ms();
        let limit = 2 * self.env.cfg.heartbeat().as_millis() as u64;
        let mut dead = Vec::new();
        for id in self.conns.ids() {
            if let Some(c) = self.conns.get(id) {
                if now.saturating_sub(c.outbox.last_seen_ms()) > limit {
                    dead.push(id);
                } else {
                    c.ping();
                }
            }
        }
        for id in dead {
            self.env.metrics.heartbeat_closes.fetch_add(1, Relaxed);
            self.drop_conn(id, close::HEARTBEAT, "no sign of life", true);
        }
    }

    fn expire_if_idle(&mut self, ctx: &mut Context<Self>) {
        let idle = Duration::from_secs(self.env.cfg.session_idle_secs);
        if self.game.phase != Phase::Ended && self.last_activity.elapsed() >= idle {
            log::info!("session {} expired after {:?} idle", self.code(), idle);
            let _ = self.run(
                Role::Mc,
                None,
                Command::End {
                    reason: EndReason::Expired,
                },
                ctx,
            );
        }
    }
}

impl Session {
    /// After a restart: close a question whose deadline passed while down,
    /// re-arm the timer of one still running, keep an ended one for its
    /// retention.
    fn resume_after_restart(&mut self, ctx: &mut Context<Self>) {
        if self.game.phase == Phase::Ended {
            self.finish(ctx);
            return;
        }
        if let Some((deadline, opening)) = self.game.open_timer() {
            if deadline <= now_ms() {
                let close = Command::CloseQuestion {
                    reason: CloseReason::Timer,
                    opening: Some(opening),
                };
                if let Err(e) = self.run(Role::Mc, None, close, ctx) {
                    log::warn!(
                        "session {}: closing overdue question: {}",
                        self.code(),
                        e.message
                    );
                }
            } else {
                self.set_timer(deadline, opening, ctx);
            }
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1 << 16);
        self.env.metrics.sessions.fetch_add(1, Relaxed);
        ctx.run_interval(self.env.cfg.heartbeat(), |act, _| act.heartbeat());
        if self.recovered {
            self.resume_after_restart(ctx);
        }
        ctx.run_interval(PRESENCE_INTERVAL, |act, _| {
            act.journal_seq();
            act.sweep_pollers();
            if act.presence_dirty && act.game.phase != Phase::Ended {
                act.presence_dirty = false;
                let online = act.online_count();
                let total = act.game.total_players();
                act.emit(GameEvent::PresenceCount {
                    online,
                    total_players: total,
                });
            }
        });
        ctx.run_interval(LEADERBOARD_INTERVAL, |act, _| act.flush_leaderboard());
        let check = Duration::from_secs(self.env.cfg.session_idle_secs.clamp(1, 60));
        ctx.run_interval(check, |act, ctx| act.expire_if_idle(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.env.metrics.sessions.fetch_sub(1, Relaxed);
    }
}

impl Handler<Join> for Session {
    type Result = Result<Joined, ApiError>;

    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
        if self.game.phase == Phase::Ended {
            return Err(ApiError::new(
                ErrorCode::SessionEnded,
                "the session has ended",
            ));
        }
        let mut token = None;
        let (role, player) = match (msg.role, &msg.claims, msg.name) {
            (Role::Display, _, _) => (Role::Display, None),
            (Role::Player, None, Some(name)) => {
                let (pid, t, _) = self.new_player(name, ctx)?;
                token = Some(t);
                (Role::Player, Some(pid))
            }
            (want, Some(claims), _) => {
                let (role, pid) = self.caller(Some(claims))?;
                if role != want {
                    return Err(ApiError::new(
                        ErrorCode::Unauthorized,
                        "token is for another role",
                    ));
                }
                (role, pid)
            }
            (_, None, _) => return Err(ApiError::new(ErrorCode::Unauthorized, "token missing")),
        };
        self.last_activity = Instant::now();
        let conn = Conn {
            role,
            player: player.clone(),
            outbox: msg.outbox,
        };
        let first = self.conns.insert(msg.conn, conn);
        self.env.metrics.joined(role, 1);
        if first {
            if let Some(p) = player
                .as_ref()
                .filter(|p| !self.pollers.contains_key(p.as_str()))
            {
                self.presence_dirty = true;
                self.emit(GameEvent::PresenceChanged {
                    player_id: p.clone(),
                    online: true,
                });
            }
        }
        // The joined reply and any replay are queued before any later event.
        let view = Self::view(role, player.as_ref());
        let snapshot = self.snapshot(&view);
        let replay = msg.since.map(|since| {
            self.ring
                .since(since, self.seq, role, player.as_deref())
                .map(|held| {
                    held.into_iter()
                        .map(|h| h.frame.clone())
                        .collect::<Vec<_>>()
                })
        });
        let mut data = json!({ "role": role, "seq": self.seq, "snapshot": snapshot });
        if let Some(p) = &player {
            data["playerId"] = json!(p);
        }
        if let Some(t) = token {
            data["token"] = json!(t);
        }
        match &replay {
            Some(None) => {
                data["resync"] = json!(true);
                self.env.metrics.resyncs.fetch_add(1, Relaxed);
            }
            Some(Some(_)) => {
                self.env.metrics.resumes.fetch_add(1, Relaxed);
            }
            None => {}
        }
        self.reply(msg.conn, reply_frame("joined", msg.reply_id.as_ref(), data));
        if let Some(Some(frames)) = replay {
            for f in frames {
                self.reply(msg.conn, f);
            }
        }
        Ok(Joined { role, player })
    }
}

impl Handler<FromClient> for Session {
    type Result = ();

    fn handle(&mut self, msg: FromClient, ctx: &mut Context<Self>) {
        let Some(conn) = self.conns.get(msg.conn) else {
            return;
        };
        let (role, player) = (conn.role, conn.player.clone());
        let id = msg.id.as_ref();
        type Reply<'a> = (Option<(&'a str, Value)>, Option<u64>);
        let result: Result<Reply, ApiError> = match msg.msg {
            ClientMessage::Resync => {
                let snap = self.snapshot(&Self::view(role, player.as_ref()));
                Ok((
                    Some(("game:state", json!({ "seq": self.seq, "snapshot": snap }))),
                    None,
                ))
            }
            ClientMessage::Leave => {
                let cmd = Command::Leave {
                    player_id: String::new(),
                };
                self.run(role, player.as_ref(), cmd, ctx)
                    .map(|(_, n)| (None, n))
            }
            ClientMessage::Answer(a) => {
                let cmd = Command::SubmitAnswer {
                    player_id: String::new(),
                    question_id: a.question_id,
                    answer: a.answer,
                    now_ms: 0,
                };
                match self.run(role, player.as_ref(), cmd, ctx) {
                    Ok((
                        Outcome::Answer {
                            question_id,
                            revision,
                        },
                        n,
                    )) => Ok((
                        Some((
                            "ack",
                            json!({"questionId": question_id, "revision": revision}),
                        )),
                        n,
                    )),
                    Ok((_, n)) => Ok((None, n)),
                    Err(e) => Err(e),
                }
            }
            ClientMessage::Mark(m) => {
                let data = json!({"assignmentId": m.assignment_id, "questionId": m.question_id, "score": m.score});
                let cmd = Command::SubmitMark {
                    player_id: String::new(),
                    assignment_id: m.assignment_id,
                    question_id: m.question_id,
                    score: m.score,
                };
                self.run(role, player.as_ref(), cmd, ctx)
                    .map(|(_, n)| (Some(("ack", data)), n))
            }
            ClientMessage::Chat(c) => {
                let cmd = Command::Chat {
                    from: ChatFrom {
                        player_id: None,
                        name: String::new(),
                        role,
                    },
                    text: c.text,
                };
                self.run(role, player.as_ref(), cmd, ctx)
                    .map(|(_, n)| (None, n))
            }
            ClientMessage::Join(_) | ClientMessage::Ping => {
                // The socket handles these itself; reaching here is a bug.
                Err(ApiError::new(ErrorCode::BadMessage, "unexpected message"))
            }
        };
        match result {
            // Replies go only to messages that asked for one (an `id`), and
            // `game:state` always; acks only once the change is durable.
            Ok((Some((kind, data)), n)) if id.is_some() || kind != "ack" => {
                self.reply_when_durable(n, msg.conn, reply_frame(kind, id, data))
            }
            Ok((Some(_), _)) => {}
            Ok((None, n)) => {
                if id.is_some() && self.conns.get(msg.conn).is_some() {
                    self.reply_when_durable(n, msg.conn, reply_frame("ack", id, json!({})));
                }
            }
            Err(e) => self.reply_error(msg.conn, id, &e),
        }
    }
}

impl Handler<Committed> for Session {
    type Result = ();

    fn handle(&mut self, msg: Committed, _: &mut Context<Self>) {
        while self.pending.front().is_some_and(|(n, _)| *n <= msg.upto) {
            let Some((_, p)) = self.pending.pop_front() else {
                break;
            };
            let failed = || ApiError::new(ErrorCode::Internal, "could not save; try again");
            match p {
                Pending::Frame(conn, frame) => {
                    if msg.ok {
                        self.reply(conn, frame);
                    } else {
                        let id: Option<Value> = serde_json::from_str::<Value>(&frame)
                            .ok()
                            .and_then(|v| v.get("id").cloned());
                        self.reply_error(conn, id.as_ref(), &failed());
                    }
                }
                Pending::Http(tx, outcome) => {
                    let _ = tx.send(if msg.ok { Ok(outcome) } else { Err(failed()) });
                }
            }
        }
    }
}

impl Handler<Disconnect> for Session {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.drop_conn(msg.conn, close::NORMAL, "", true);
    }
}

impl Handler<Apply> for Session {
    type Result = ResponseFuture<Result<Outcome, ApiError>>;

    fn handle(&mut self, msg: Apply, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.caller(msg.claims.as_ref()).and_then(|(role, player)| {
            if self.game.phase == Phase::Ended {
                return Err(ApiError::new(
                    ErrorCode::SessionEnded,
                    "the session has ended",
                ));
            }
            self.run(role, player.as_ref(), msg.cmd, ctx)
        });
        self.http_when_durable(result)
    }
}

impl Handler<CreatePlayer> for Session {
    type Result = ResponseFuture<Result<(PlayerId, String), ApiError>>;

    fn handle(&mut self, msg: CreatePlayer, ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let (pid, token, n) = match self.new_player(msg.name, ctx) {
            Ok(x) => x,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let done = self.http_when_durable(Ok((Outcome::Done, n)));
        Box::pin(async move { done.await.map(|_| (pid, token)) })
    }
}

impl Handler<ReadState> for Session {
    type Result = Result<Value, ApiError>;

    fn handle(&mut self, msg: ReadState, _: &mut Context<Self>) -> Self::Result {
        let (role, player) = self.caller(msg.claims.as_ref())?;
        let snap = self.snapshot(&Self::view(role, player.as_ref()));
        Ok(json!({ "seq": self.seq, "snapshot": snap }))
    }
}

impl Handler<ReadInfo> for Session {
    type Result = MessageResult<ReadInfo>;

    fn handle(&mut self, _: ReadInfo, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "code": self.game.code,
            "title": self.game.title,
            "phase": self.game.phase,
            "totalPlayers": self.game.total_players(),
            "online": self.online_count(),
        }))
    }
}

impl Handler<Shutdown> for Session {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        self.journal_seq();
        for id in self.conns.ids() {
            self.drop_conn(id, close::GOING_AWAY, "server going away", false);
        }
    }
}

impl Handler<Poll> for Session {
    type Result = Result<PollReply, ApiError>;

    fn handle(&mut self, msg: Poll, _: &mut Context<Self>) -> Self::Result {
        let (role, player) = self.caller(msg.claims.as_ref())?;
        self.env.metrics.polls.fetch_add(1, Relaxed);
        if let Some(p) = &player {
            if self.game.phase != Phase::Ended {
                self.poll_seen(p);
            }
        }
        let held = self
            .ring
            .since(msg.since, self.seq, role, player.as_deref());
        let Some(held) = held else {
            self.env.metrics.resyncs.fetch_add(1, Relaxed);
            let snap = self.snapshot(&Self::view(role, player.as_ref()));
            let body = json!({"seq": self.seq, "resync": true, "snapshot": snap, "events": []});
            return Ok(PollReply::Ready(body.to_string()));
        };
        if !held.is_empty() || !msg.wait || self.game.phase == Phase::Ended {
            let body = poll_body(self.seq, held.iter().map(|h| &h.frame));
            return Ok(PollReply::Ready(body));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters.retain(|w| !w.tx.is_closed());
        self.waiters.push(Waiter { role, player, tx });
        Ok(PollReply::Wait(rx))
    }
}

impl Handler<ReadLeaderboard> for Session {
    type Result = MessageResult<ReadLeaderboard>;

    fn handle(&mut self, _: ReadLeaderboard, _: &mut Context<Self>) -> Self::Result {
        let entries = self.game.leaderboard();
        MessageResult(json!({"entries": entries, "totalPlayers": self.game.total_players()}))
    }
}

impl Handler<ReadResults> for Session {
    type Result = Result<Vec<crate::game::results::Row>, ApiError>;

    fn handle(&mut self, msg: ReadResults, _: &mut Context<Self>) -> Self::Result {
        if self.caller(msg.claims.as_ref())?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        Ok(crate::game::results::rows(&mut self.game))
    }
}

impl Handler<ReadMarking> for Session {
    type Result = Result<Value, ApiError>;

    fn handle(&mut self, msg: ReadMarking, _: &mut Context<Self>) -> Self::Result {
        if self.caller(msg.claims.as_ref())?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        let name = |id: &str| self.game.player(id).map(|p| p.name.clone());
        let assignments: Vec<Value> = self
            .game
            .assignments()
            .map(|a| {
                json!({
                    "assignmentId": a.assignment_id, "roundId": a.round_id,
                    "markerId": a.marker_id, "markerName": name(&a.marker_id),
                    "markeeId": a.markee_id, "markeeName": name(&a.markee_id),
                    "questionIds": a.question_ids, "marks": a.marks, "complete": a.complete(),
                })
            })
            .collect();
        Ok(json!({"progress": self.game.marking_progress(), "assignments": assignments}))
    }
}

impl Handler<LoadQuizAsOwner> for Session {
    type Result = ResponseFuture<Result<(), ApiError>>;

    fn handle(&mut self, msg: LoadQuizAsOwner, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.run(Role::Mc, None, Command::LoadQuiz { quiz: msg.quiz }, ctx);
        let done = self.http_when_durable(result);
        Box::pin(async move { done.await.map(|_| ()) })
    }
}
