//! The session actor: one per quiz session. It owns the connection set and
//! two copies of the game state: `durable`, what the log holds (every read
//! and snapshot comes from it), and `live`, the durable state plus the
//! records still being written (every command is decided against it).
//!
//! A command flows one way: decide against `live` -> facts -> number and
//! serialize the events they produce (once) -> append to the log -> on
//! commit, apply the facts to `durable`, fan the events out, answer the
//! callers. A failed append refuses the command with `UNAVAILABLE` and puts
//! `live` back to `durable` plus what is still in flight; nothing it
//! produced was ever sent. Heartbeats for all sockets run on one interval.

pub mod backfill;
pub mod boards;
pub mod commit;
pub mod connections;
pub mod displays;
pub mod edge;
pub mod fanout;
pub mod forwarded;
pub mod handlers;
pub mod messages;
pub mod presence;
pub mod remote;
pub mod ring;
pub mod seats;
pub mod teams;

use crate::auth::{Auth, Claims};
use crate::config::Config;
use crate::error::ApiError;
use crate::game::events::{ChatFrom, EndReason};
use crate::game::state::{Settings, View};
use crate::game::{Command, GameEvent, GameState, Phase, PlayerId, Role};
use crate::journal::{SessionLog, StoredSession};
use crate::metrics::Metrics;
use crate::protocol::{close, now_ms, ErrorCode};
use crate::ratelimit::TokenBucket;
use actix::prelude::*;
use commit::Pending;
use connections::Connections;
use ring::Ring;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared, read-only context every session gets.
pub struct Env {
    pub cfg: Arc<Config>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    /// None when the log is turned off (`--journal false`: commits are
    /// immediate and nothing survives a restart).
    pub log: Option<Arc<dyn SessionLog>>,
    /// Cluster mode: the same log, for ownership leases (claim, release).
    pub cluster: Option<Arc<crate::journal::nats::NatsLog>>,
}

/// Asks the registry to forget an ended session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub code: String,
    /// The actor asking (a session taken back by this node after it stepped
    /// down must not be forgotten on the old actor's word).
    pub from: Option<Addr<Session>>,
    /// The actor stays, serving the session as an edge from now on (it
    /// lost the session's lease): it is kept, and counted an edge.
    pub as_edge: bool,
}

/// How often coalesced presence counts may go out.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);
/// How often coalesced leaderboards may go out (at most 4 a second).
const LEADERBOARD_INTERVAL: Duration = Duration::from_millis(250);
/// Chat messages per second per sender, and the burst allowed.
const CHAT_RATE: (f64, f64) = (0.5, 5.0);

/// See the module docs.
pub struct Session {
    /// What the log holds; reads, snapshots and joins are served from it.
    durable: GameState,
    /// `durable` plus every pending record; commands are decided against it.
    live: GameState,
    nonce: String,
    /// Ownership epoch every append carries (a fence for cluster takeovers).
    epoch: u64,
    /// Position of the last record, and the last seq, the log holds.
    pos: u64,
    seq: u64,
    /// Position and seq of the last record proposed (>= `pos`, `seq`).
    live_pos: u64,
    live_seq: u64,
    /// Bumped on every rollback, so late answers about abandoned records
    /// are ignored.
    generation: u64,
    /// Records appended but not yet committed, oldest first.
    pending: VecDeque<Pending>,
    ring: Ring,
    conns: Connections,
    env: Arc<Env>,
    registry: Recipient<Forget>,
    presence_dirty: bool,
    leaderboard_dirty: bool,
    /// A player left or was removed since the last leaderboard tick.
    ranks_dirty: bool,
    /// What the MC was last sent of the full leaderboard.
    board: boards::BoardSent,
    /// The latest answered count, for the displays' coalesced copy.
    display_answered: Option<GameEvent>,
    /// Ring bytes last added to the process-wide gauge.
    ring_reported: i64,
    /// Players whose seats may be reclaimed when the session is full.
    seats: seats::Seats,
    last_activity: Instant,
    /// The question timer and the opening it closes.
    timer: Option<(u64, SpawnHandle)>,
    /// Failed attempts to close an overdue question (backs the retry off).
    timer_failures: u32,
    chat_limits: HashMap<String, TokenBucket>,
    /// Set when rebuilt from the log: timers are re-armed on start.
    recovered: bool,
    ended_ms: Option<u64>,
    /// Records committed since the last snapshot.
    since_snapshot: usize,
    /// Parked long-polls.
    waiters: presence::Waiters,
    /// Players present through long polling, with their last poll.
    pollers: HashMap<PlayerId, Instant>,
    /// Presence changes not yet recorded (one entry per player: bounded).
    presence_changes: HashMap<PlayerId, bool>,
    /// Cluster mode: another node owns the session now; nothing more is
    /// written or sent from here.
    stepped_down: bool,
    /// Cluster mode: set while this node serves the session as an edge
    /// (another node owns it; edge.rs).
    edge: Option<edge::EdgeState>,
    /// Cluster mode, owner: the subscription answering edges' commands.
    serving: Option<crate::journal::nats::Feed>,
    /// Cluster mode, owner: recent forwarded ids and their answers.
    recent: forwarded::Recent,
    /// The idempotency key of the client message being run (edge.rs).
    idem: Option<String>,
    /// Cluster mode, owner: players online on edges (remote.rs).
    remote: remote::RemotePresence,
    /// Cluster mode, owner: the id of the forwarded command being run.
    handling: Option<String>,
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
        let game = GameState::new(code, title, settings);
        Session {
            live: game.clone(),
            durable: game,
            nonce,
            epoch: 1,
            pos: 0,
            seq: 0,
            live_pos: 0,
            live_seq: 0,
            generation: 0,
            pending: VecDeque::new(),
            ring: Ring::new(env.cfg.ring_events, env.cfg.ring_bytes, 0),
            conns: Connections::default(),
            env,
            registry,
            presence_dirty: false,
            leaderboard_dirty: false,
            ranks_dirty: false,
            board: boards::BoardSent::default(),
            display_answered: None,
            ring_reported: 0,
            seats: seats::Seats::default(),
            last_activity: Instant::now(),
            timer: None,
            timer_failures: 0,
            chat_limits: HashMap::new(),
            recovered: false,
            ended_ms: None,
            since_snapshot: 0,
            waiters: presence::Waiters::default(),
            pollers: HashMap::new(),
            presence_changes: HashMap::new(),
            stepped_down: false,
            edge: None,
            serving: None,
            recent: forwarded::Recent::default(),
            idem: None,
            remote: remote::RemotePresence::default(),
            handling: None,
        }
    }

    /// A session rebuilt from the log: the state it holds, seq continuing
    /// at the last logged one, and the ring refilled with the logged events
    /// (the same bytes clients saw before).
    pub fn recover(stored: StoredSession, env: Arc<Env>, registry: Recipient<Forget>) -> Self {
        let h = stored.header;
        let mut s = Session::new(h.code, h.nonce, h.title, h.settings, env, registry);
        s.live = stored.state.clone();
        s.durable = stored.state;
        s.epoch = stored.epoch;
        s.pos = stored.pos;
        s.live_pos = stored.pos;
        s.seq = stored.seq;
        s.live_seq = stored.seq;
        let base = stored
            .events
            .first()
            .map_or(stored.seq, |e| e.seq.saturating_sub(1));
        s.ring = Ring::new(s.env.cfg.ring_events, s.env.cfg.ring_bytes, base);
        for e in stored.events {
            s.ring.push(e.seq, e.audience, e.frame, None);
        }
        s.report_ring();
        s.recovered = true;
        // Nobody is connected yet after a restart: every seat is idle.
        let ids: Vec<PlayerId> = s.durable.players().map(|p| p.id.clone()).collect();
        for p in ids {
            s.seats.offline(&p);
        }
        s.ended_ms = stored.ended_ms;
        s
    }

    fn code(&self) -> &str {
        &self.durable.code
    }

    /// Puts the caller's identity, the time and fresh randomness into a
    /// command, so nobody acts as another and deciding stays pure.
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
                if self.live.settings.chat && !bucket.take() {
                    return Err(ApiError::new(
                        ErrorCode::RateLimited,
                        "too many chat messages; slow down",
                    ));
                }
                let name = match player.and_then(|p| self.live.player(p)) {
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
                if self.durable.player(&pid).is_none() {
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

    /// Players online on any node: an edge adds those the owner says are
    /// online elsewhere (remote.rs) to its own.
    fn online_total(&self) -> usize {
        let local = self.online_count();
        let Some(e) = &self.edge else {
            return local;
        };
        local
            + e.elsewhere
                .players()
                .filter(|p| !self.conns.is_online(p) && !self.pollers.contains_key(*p))
                .filter(|p| self.durable.player(p).is_some())
                .count()
    }

    /// The durable state as `view` may see it.
    fn snapshot(&mut self, view: &View) -> serde_json::Value {
        let online = self.online_total();
        let (conns, pollers, remote) = (&self.conns, &self.pollers, &self.remote);
        let elsewhere = self.edge.as_ref().map(|e| &e.elsewhere);
        self.durable.snapshot(view, online, &|p| {
            conns.is_online(p)
                || pollers.contains_key(p)
                || remote.contains(p)
                || elsewhere.is_some_and(|e| e.contains(p))
        })
    }

    /// After `session:ended`: close every socket 4010, keep the results for
    /// the retention time, then stop.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        for id in self.conns.ids() {
            self.drop_conn(id, close::ENDED, "session ended", false);
        }
        let ended = *self.ended_ms.get_or_insert_with(now_ms);
        if self.is_edge() {
            // The owner records the end and deletes the session; an edge
            // keeps serving the results a little while, then goes.
            let keep = Duration::from_secs(self.env.cfg.ended_retention_secs.min(60));
            ctx.run_later(keep, |act, ctx| {
                act.registry.do_send(Forget {
                    code: act.code().to_string(),
                    from: Some(ctx.address()),
                    as_edge: false,
                });
                ctx.stop();
            });
            return;
        }
        if let Some(log) = &self.env.log {
            if log.ended(self.code(), ended).is_err() {
                log::error!("session {}: could not record the end time", self.code());
            }
        }
        let keep_until = ended + self.env.cfg.ended_retention_secs * 1000;
        let retention = Duration::from_millis(keep_until.saturating_sub(now_ms()));
        ctx.run_later(retention, |act, ctx| {
            if let Some(log) = &act.env.log {
                let _ = log.delete(act.code());
            }
            if let Some(c) = &act.env.cluster {
                c.release(act.code());
            }
            act.registry.do_send(Forget {
                code: act.code().to_string(),
                from: Some(ctx.address()),
                as_edge: false,
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
        if self.is_edge() {
            self.edge_idle(ctx);
            return;
        }
        let idle = Duration::from_secs(self.env.cfg.session_idle_secs);
        if self.live.phase != Phase::Ended && self.last_activity.elapsed() >= idle {
            log::info!("session {} expired after {:?} idle", self.code(), idle);
            let end = Command::End {
                reason: EndReason::Expired,
            };
            if let Err(e) = self.run(Role::Mc, None, end, |_| None, ctx) {
                log::warn!("session {}: could not expire: {}", self.code(), e.message);
            }
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounded: sockets `try_send` and answer RATE_LIMITED when it is
        // full, HTTP handlers `send` and wait for room.
        ctx.set_mailbox_capacity(self.env.cfg.session_mailbox.max(16));
        self.env.metrics.sessions.fetch_add(1, Relaxed);
        ctx.run_interval(self.env.cfg.heartbeat(), |act, _| act.heartbeat());
        self.start_cluster(ctx);
        if self.recovered {
            if self.durable.phase == Phase::Ended {
                self.finish(ctx);
            } else {
                // An overdue question closes at once; a running one re-arms.
                self.sync_timer(ctx);
            }
        }
        ctx.run_interval(PRESENCE_INTERVAL, |act, ctx| {
            act.sweep_pollers(ctx);
            act.flush_presence(ctx);
            act.send_tip();
            act.ask_online(ctx);
        });
        // Presence changes are recorded in batches, at most 4 a second: a
        // storm of 10,000 joins costs a few records, not 10,000.
        ctx.run_interval(LEADERBOARD_INTERVAL, |act, ctx| {
            act.flush_presence_changes(ctx);
            act.flush_leaderboard(ctx);
        });
        let every = Duration::from_millis(self.env.cfg.display_count_ms.max(50));
        ctx.run_interval(every, |act, ctx| act.flush_display_count(ctx));
        let check = Duration::from_secs(self.env.cfg.session_idle_secs.clamp(1, 60));
        ctx.run_interval(check, |act, ctx| act.expire_if_idle(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.env.metrics.sessions.fetch_sub(1, Relaxed);
        if self.is_edge() {
            self.env.metrics.cluster_edges.fetch_sub(1, Relaxed);
        }
        let m = &self.env.metrics;
        m.ring_bytes.fetch_sub(self.ring_reported, Relaxed);
    }
}
