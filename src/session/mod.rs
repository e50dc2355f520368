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
use crate::game::events::EndReason;
use crate::game::state::{Settings, View};
use crate::game::{Command, GameEvent, GameState, Outcome, Phase, PlayerId, Role};
use crate::metrics::Metrics;
use crate::outbox::Push;
use crate::protocol::{
    close, error_frame, event_frame, now_ms, reply_frame, ClientMessage, ErrorCode,
};
use actix::prelude::*;
use connections::{Conn, ConnId, Connections};
use messages::*;
use ring::Ring;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared, read-only context every session gets.
pub struct Env {
    pub cfg: Arc<Config>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
}

/// Asks the registry to forget an ended session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub code: String,
}

/// How often coalesced presence counts may go out.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(1);

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
    last_activity: Instant,
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
            last_activity: Instant::now(),
        }
    }

    fn code(&self) -> &str {
        &self.game.code
    }

    /// Numbers, serializes (once) and delivers one event to its audience.
    fn emit(&mut self, event: GameEvent) {
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
        m.broadcasts.fetch_add(1, Relaxed);
        m.messages_out.fetch_add(sent, Relaxed);
        self.ring.push(self.seq, audience, frame);
        for id in overflow {
            self.env.metrics.slow_consumer_closes.fetch_add(1, Relaxed);
            self.drop_conn(id, close::POLICY, "too slow to keep up", true);
        }
    }

    fn emit_all(&mut self, events: Vec<GameEvent>) {
        for e in events {
            self.emit(e);
        }
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
                    self.presence_left(p);
                }
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
        let conns = &self.conns;
        self.game
            .snapshot(view, conns.online_players(), &|p| conns.is_online(p))
    }

    fn new_player(&mut self, name: String) -> Result<(PlayerId, String), ApiError> {
        let pid = loop {
            let id = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
            if self.game.player(&id).is_none() {
                break id;
            }
        };
        let (_, events) = self.game.apply(Command::AddPlayer {
            player_id: pid.clone(),
            name,
        })?;
        let token = self
            .env
            .auth
            .issue(self.code(), &self.nonce, Role::Player, Some(&pid));
        self.emit_all(events);
        Ok((pid, token))
    }

    /// Runs a command for a caller, emits its events, and does what its
    /// outcome asks of the connections.
    fn run(
        &mut self,
        role: Role,
        cmd: Command,
        ctx: &mut Context<Self>,
    ) -> Result<Outcome, ApiError> {
        if !cmd.allowed_for(role) {
            return Err(ApiError::forbidden());
        }
        let ending = matches!(cmd, Command::End { .. });
        let (closing_code, closing_reason) = match cmd {
            Command::Leave { .. } => (close::NORMAL, "left the session"),
            _ => (close::FORBIDDEN, "removed by the MC"),
        };
        let (outcome, events) = self.game.apply(cmd)?;
        self.last_activity = Instant::now();
        self.emit_all(events);
        if let Outcome::PlayersGone(gone) = &outcome {
            for p in gone {
                for id in self.conns.of_player(p) {
                    self.drop_conn(id, closing_code, closing_reason, false);
                }
            }
            self.presence_dirty = true;
        }
        if ending {
            self.finish(ctx);
        }
        Ok(outcome)
    }

    /// After `session:ended`: close every socket 4010, keep the results for
    /// the retention time, then stop.
    fn finish(&mut self, ctx: &mut Context<Self>) {
        for id in self.conns.ids() {
            self.drop_conn(id, close::ENDED, "session ended", false);
        }
        let retention = Duration::from_secs(self.env.cfg.ended_retention_secs);
        ctx.run_later(retention, |act, ctx| {
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
                Command::End {
                    reason: EndReason::Expired,
                },
                ctx,
            );
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1 << 16);
        self.env.metrics.sessions.fetch_add(1, Relaxed);
        ctx.run_interval(self.env.cfg.heartbeat(), |act, _| act.heartbeat());
        ctx.run_interval(PRESENCE_INTERVAL, |act, _| {
            if act.presence_dirty && act.game.phase != Phase::Ended {
                act.presence_dirty = false;
                let online = act.conns.online_players();
                let total = act.game.total_players();
                act.emit(GameEvent::PresenceCount {
                    online,
                    total_players: total,
                });
            }
        });
        let check = Duration::from_secs(self.env.cfg.session_idle_secs.clamp(1, 60));
        ctx.run_interval(check, |act, ctx| act.expire_if_idle(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.env.metrics.sessions.fetch_sub(1, Relaxed);
    }
}

impl Handler<Join> for Session {
    type Result = Result<Joined, ApiError>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
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
                let (pid, t) = self.new_player(name)?;
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
            waker: msg.waker,
        };
        let first = self.conns.insert(msg.conn, conn);
        self.env.metrics.joined(role, 1);
        if first {
            if let Some(p) = &player {
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
        let result: Result<Option<(&str, Value)>, ApiError> = match msg.msg {
            ClientMessage::Resync => {
                let snap = self.snapshot(&Self::view(role, player.as_ref()));
                Ok(Some((
                    "game:state",
                    json!({ "seq": self.seq, "snapshot": snap }),
                )))
            }
            ClientMessage::Leave => match player {
                Some(p) => self
                    .run(role, Command::Leave { player_id: p }, ctx)
                    .map(|_| None),
                None => Err(ApiError::forbidden()),
            },
            ClientMessage::Join(_) | ClientMessage::Ping => {
                // The socket handles these itself; reaching here is a bug.
                Err(ApiError::new(ErrorCode::BadMessage, "unexpected message"))
            }
            ClientMessage::Answer(_) | ClientMessage::Mark(_) | ClientMessage::Chat(_) => Err(
                ApiError::new(ErrorCode::WrongPhase, "no quiz is running in this session"),
            ),
        };
        match result {
            Ok(Some((kind, data))) => self.reply(msg.conn, reply_frame(kind, id, data)),
            Ok(None) => {
                if id.is_some() && self.conns.get(msg.conn).is_some() {
                    self.reply(msg.conn, reply_frame("ack", id, json!({})));
                }
            }
            Err(e) => self.reply_error(msg.conn, id, &e),
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
    type Result = Result<Outcome, ApiError>;

    fn handle(&mut self, msg: Apply, ctx: &mut Context<Self>) -> Self::Result {
        let (role, _) = self.caller(msg.claims.as_ref())?;
        if self.game.phase == Phase::Ended {
            return Err(ApiError::new(
                ErrorCode::SessionEnded,
                "the session has ended",
            ));
        }
        self.run(role, msg.cmd, ctx)
    }
}

impl Handler<CreatePlayer> for Session {
    type Result = Result<(PlayerId, String), ApiError>;

    fn handle(&mut self, msg: CreatePlayer, _: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        self.new_player(msg.name)
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
            "online": self.conns.online_players(),
        }))
    }
}

impl Handler<Shutdown> for Session {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        for id in self.conns.ids() {
            self.drop_conn(id, close::GOING_AWAY, "server going away", false);
        }
    }
}
