//! The messages a session answers: joins, client messages, HTTP commands
//! and reads. Reads are served from the durable state, so nothing anyone
//! reads is missing from the log.

use super::commit::Waiter;
use super::connections::{Conn, ConnId};
use super::messages::*;
use super::Session;
use crate::error::ApiError;
use crate::game::events::ChatFrom;
use crate::game::{Command, Outcome, Phase, PlayerId, Role};
use crate::outbox::Outbox;
use crate::protocol::{
    reply_frame, AnswerAck, ClientMessage, ErrorCode, JoinedReply, MarkAck, StateReply,
};
use actix::prelude::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A socket joining by name, waiting for its player to be durable.
pub struct PendingJoin {
    conn: ConnId,
    player: PlayerId,
    since: Option<u64>,
    reply_id: Option<Value>,
    outbox: Arc<Outbox>,
    tx: tokio::sync::oneshot::Sender<Result<Joined, ApiError>>,
}

/// A connection about to join, as known once its role and player are.
struct Arrival {
    conn: ConnId,
    role: Role,
    player: Option<PlayerId>,
    /// Only for a player the join just created.
    token: Option<String>,
    since: Option<u64>,
    reply_id: Option<Value>,
    outbox: Arc<Outbox>,
    /// A display without a display token.
    tokenless: bool,
    /// The events after `since` read from the log, if the ring did not
    /// reach back that far.
    older: Option<super::backfill::Older>,
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Session {
    /// Registers a joined connection and sends `joined` (snapshot as of the
    /// durable seq) and, on a resume, what it missed. A replay that would
    /// not fit the connection's outbox is answered with `resync` instead,
    /// so a resume can never be closed as too slow before it is joined.
    fn attach(&mut self, a: Arrival) -> Joined {
        let Arrival {
            conn,
            role,
            player,
            token,
            since,
            reply_id,
            outbox,
            tokenless,
            older,
        } = a;
        self.last_activity = std::time::Instant::now();
        let first = self.conns.insert(
            conn,
            Conn {
                role,
                player: player.clone(),
                outbox,
                tokenless,
            },
        );
        self.env.metrics.joined(role, 1);
        if first {
            if let Some(p) = player.as_ref().filter(|p| {
                !self.pollers.contains_key(p.as_str()) && !self.remote.contains(p.as_str())
            }) {
                self.presence_changed(p.clone(), true);
            }
        }
        let budget = self.env.cfg.outbox_bytes / 2;
        let replay = since.map(|since| {
            self.ring
                .since(since, self.seq, role, player.as_deref())
                .map(|held| {
                    held.into_iter()
                        .map(|h| h.frame.clone())
                        .collect::<Vec<_>>()
                })
                .or_else(|| {
                    let older = older.as_deref()?;
                    let (frames, _) = self.replay_with(older, since, role, player.as_deref())?;
                    Some(frames)
                })
                .filter(|frames| frames.iter().map(|f| f.len()).sum::<usize>() <= budget)
        });
        let snapshot = self.snapshot(&Self::view(role, player.as_ref()));
        let resync = match &replay {
            Some(None) => {
                self.env.metrics.resyncs.fetch_add(1, Relaxed);
                Some(true)
            }
            Some(Some(_)) => {
                self.env.metrics.resumes.fetch_add(1, Relaxed);
                None
            }
            None => None,
        };
        let data = JoinedReply {
            role,
            seq: self.seq,
            snapshot,
            player_id: player.clone(),
            token,
            resync,
        };
        self.reply(
            conn,
            reply_frame("joined", reply_id.as_ref(), to_value(&data)),
        );
        if let Some(Some(frames)) = replay {
            for f in frames {
                self.reply(conn, f);
            }
        }
        Joined { role, player }
    }

    /// A join by name whose player is now durable (or was refused).
    pub(super) fn complete_join(&mut self, j: PendingJoin, result: Result<(), ApiError>) {
        let outcome = result.map(|()| {
            let token =
                self.env
                    .auth
                    .issue(self.code(), &self.nonce, Role::Player, Some(&j.player));
            self.attach(Arrival {
                conn: j.conn,
                role: Role::Player,
                player: Some(j.player),
                token: Some(token),
                since: j.since,
                reply_id: j.reply_id,
                outbox: j.outbox,
                tokenless: false,
                older: None,
            })
        });
        let _ = j.tx.send(outcome);
    }

    fn new_player_id(&self) -> PlayerId {
        loop {
            let id = format!("p{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
            if self.live.player(&id).is_none() {
                break id;
            }
        }
    }
}

impl Handler<Join> for Session {
    type Result = ResponseFuture<Result<Joined, ApiError>>;

    fn handle(&mut self, msg: Join, ctx: &mut Context<Self>) -> Self::Result {
        let now = |r: Result<Joined, ApiError>| -> Self::Result { Box::pin(async move { r }) };
        if self.durable.phase == Phase::Ended {
            return now(Err(ApiError::new(
                ErrorCode::SessionEnded,
                "the session has ended",
            )));
        }
        let tokenless = msg.role == Role::Display && msg.claims.is_none();
        // An edge may not have the player yet (joined through another node
        // a moment ago): it reads the log once, then tries again.
        let unknown_player = msg.claims.as_ref().is_some_and(|c| {
            c.role == Role::Player
                && c.sn == self.nonce
                && self
                    .durable
                    .player(c.pid.as_deref().unwrap_or(""))
                    .is_none()
        });
        if unknown_player && !msg.caught_up {
            if let (Some(cluster), true) = (self.env.cluster.clone(), self.is_edge()) {
                let read = cluster.read_async(self.code(), self.env.cfg.ring_events);
                let me = ctx.address();
                return Box::pin(async move {
                    let stored = read.await.ok().and_then(|r| r.ok()).flatten();
                    let _ = me.send(super::edge::CaughtUp(stored.map(Box::new))).await;
                    let retry = Join {
                        caught_up: true,
                        ..msg
                    };
                    me.send(retry)
                        .await
                        .unwrap_or_else(|_| Err(ApiError::unavailable()))
                });
            }
        }
        // A resume older than the ring: read the log first, then join.
        if let (Some(since), Some(claims), None) = (msg.since, &msg.claims, &msg.older) {
            if let Ok((role, player)) = self.caller(Some(claims)) {
                if let Some(read) = self.read_older(since, role, player.as_deref()) {
                    let me = ctx.address();
                    return Box::pin(async move {
                        let older = read.await.ok().flatten().unwrap_or_default();
                        let retry = Join {
                            older: Some(older),
                            ..msg
                        };
                        me.send(retry)
                            .await
                            .unwrap_or_else(|_| Err(ApiError::unavailable()))
                    });
                }
            }
        }
        let (role, player) = match (msg.role, &msg.claims, msg.name) {
            (Role::Display, None, _) => (Role::Display, None),
            (Role::Player, None, Some(name)) => {
                let pid = self.new_player_id();
                let (tx, rx) = tokio::sync::oneshot::channel();
                let join = PendingJoin {
                    conn: msg.conn,
                    player: pid.clone(),
                    since: msg.since,
                    reply_id: msg.reply_id,
                    outbox: msg.outbox,
                    tx,
                };
                let cmd = Command::AddPlayer {
                    player_id: pid,
                    name,
                    device_id: msg.device_id,
                    team: msg.team,
                };
                self.make_room(ctx);
                let waiter = |_: Option<&Outcome>| Some(Waiter::Join(Box::new(join)));
                return match self.run(Role::Player, None, cmd, waiter, ctx) {
                    Ok(_) => Box::pin(async move {
                        rx.await.unwrap_or_else(|_| Err(ApiError::unavailable()))
                    }),
                    Err(e) => now(Err(e)),
                };
            }
            (want, Some(claims), _) => match self.caller(Some(claims)) {
                Ok((role, _)) if role != want => {
                    return now(Err(ApiError::new(
                        ErrorCode::Unauthorized,
                        "token is for another role",
                    )))
                }
                Ok(x) => x,
                Err(e) => return now(Err(e)),
            },
            (_, None, _) => {
                return now(Err(ApiError::new(ErrorCode::Unauthorized, "token missing")))
            }
        };
        if role == Role::Display {
            if let Err(e) = self.admit_display(tokenless) {
                return now(Err(e));
            }
        }
        let joined = self.attach(Arrival {
            conn: msg.conn,
            role,
            player,
            token: None,
            since: msg.since,
            reply_id: msg.reply_id,
            outbox: msg.outbox,
            tokenless,
            older: msg.older,
        });
        now(Ok(joined))
    }
}

impl Handler<FromClient> for Session {
    type Result = ();

    fn handle(&mut self, msg: FromClient, ctx: &mut Context<Self>) {
        let Some(conn) = self.conns.get(msg.conn) else {
            return;
        };
        let (role, player) = (conn.role, conn.player.clone());
        let id = msg.id;
        let c = msg.conn;
        // Replies go only to messages that asked for one (an `id`), and
        // only once the change is durable.
        // (An edge's forwarded command that failed hears `None`: the
        // error goes back with the message's id.)
        let ack = |data: Value| {
            let id = id.clone();
            move |o: Option<&Outcome>| {
                (id.is_some() || o.is_none()).then(|| Waiter::Reply {
                    conn: c,
                    frame: reply_frame("ack", id.as_ref(), data),
                    id,
                })
            }
        };
        // Cluster mode: how an edge's owner recognises a retry.
        self.idem = id
            .as_ref()
            .map(|v| super::forwarded::client_key(role, player.as_ref(), c, v));
        let result = match msg.msg {
            ClientMessage::Resync => {
                let snapshot = self.snapshot(&Self::view(role, player.as_ref()));
                let data = to_value(&StateReply {
                    seq: self.seq,
                    snapshot,
                });
                self.reply(c, reply_frame("game:state", id.as_ref(), data));
                Ok(())
            }
            ClientMessage::Leave => {
                let cmd = Command::Leave {
                    player_id: String::new(),
                };
                self.run(role, player.as_ref(), cmd, ack(json!({})), ctx)
                    .map(drop)
            }
            ClientMessage::Answer(a) => {
                let cmd = Command::SubmitAnswer {
                    player_id: String::new(),
                    question_id: a.question_id,
                    answer: a.answer,
                    now_ms: 0,
                };
                let id2 = id.clone();
                let waiter = move |o: Option<&Outcome>| {
                    let Some(o) = o else {
                        let frame = bytestring::ByteString::new();
                        return Some(Waiter::Reply {
                            conn: c,
                            frame,
                            id: id2,
                        });
                    };
                    let Outcome::Answer {
                        question_id,
                        revision,
                    } = o
                    else {
                        return None;
                    };
                    let data = to_value(&AnswerAck {
                        question_id: question_id.clone(),
                        revision: *revision,
                    });
                    id2.is_some().then(|| Waiter::Reply {
                        conn: c,
                        frame: reply_frame("ack", id2.as_ref(), data),
                        id: id2,
                    })
                };
                self.run(role, player.as_ref(), cmd, waiter, ctx).map(drop)
            }
            ClientMessage::Mark(m) => {
                let data = to_value(&MarkAck {
                    assignment_id: m.assignment_id.clone(),
                    question_id: m.question_id.clone(),
                    score: m.score,
                });
                let cmd = Command::SubmitMark {
                    player_id: String::new(),
                    assignment_id: m.assignment_id,
                    question_id: m.question_id,
                    score: m.score,
                };
                self.run(role, player.as_ref(), cmd, ack(data), ctx)
                    .map(drop)
            }
            ClientMessage::Chat(t) => {
                let cmd = Command::Chat {
                    from: ChatFrom {
                        player_id: None,
                        name: String::new(),
                        role,
                    },
                    text: t.text,
                };
                self.run(role, player.as_ref(), cmd, ack(json!({})), ctx)
                    .map(drop)
            }
            ClientMessage::Join(_) | ClientMessage::Ping => {
                // The socket handles these itself; reaching here is a bug.
                Err(ApiError::new(ErrorCode::BadMessage, "unexpected message"))
            }
        };
        self.idem = None;
        if let Err(e) = result {
            self.reply_error(c, id.as_ref(), &e);
        }
    }
}

impl Handler<Disconnect> for Session {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
        self.drop_conn(msg.conn, crate::protocol::close::NORMAL, "", true);
    }
}

impl Session {
    /// Runs an HTTP caller's command; the future resolves once it is durable.
    fn run_http(
        &mut self,
        role: Role,
        player: Option<&PlayerId>,
        cmd: Command,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<Outcome, ApiError>> {
        // Resolves once the command is durable (or failed).
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiter =
            move |o: Option<&Outcome>| Some(Waiter::Http(tx, o.cloned().unwrap_or(Outcome::Done)));
        match self.run(role, player, cmd, waiter, ctx) {
            Ok(_) => {
                Box::pin(async move { rx.await.unwrap_or_else(|_| Err(ApiError::unavailable())) })
            }
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

impl Handler<Apply> for Session {
    type Result = ResponseFuture<Result<Outcome, ApiError>>;

    fn handle(&mut self, msg: Apply, ctx: &mut Context<Self>) -> Self::Result {
        let (role, player) = match self.caller(msg.claims.as_ref()) {
            Ok(x) => x,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        if self.durable.phase == Phase::Ended {
            let e = ApiError::new(ErrorCode::SessionEnded, "the session has ended");
            return Box::pin(async move { Err(e) });
        }
        if let Some(k) = msg.key {
            // Per caller, not per connection: the MC's retry through
            // another node (or after a restart) is the same command.
            let who = player.clone().unwrap_or_else(|| role.as_str().to_string());
            let key = format!("{who}/http/{k}");
            if self.is_edge() {
                self.idem = Some(key);
            } else {
                self.handling = Some(super::forwarded::command_id(&key, &msg.cmd));
            }
        }
        self.run_http(role, player.as_ref(), msg.cmd, ctx)
    }
}

impl Handler<CreatePlayer> for Session {
    type Result = ResponseFuture<Result<(PlayerId, String), ApiError>>;

    fn handle(&mut self, msg: CreatePlayer, ctx: &mut Context<Self>) -> Self::Result {
        let pid = self.new_player_id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cmd = Command::AddPlayer {
            player_id: pid.clone(),
            name: msg.name,
            device_id: msg.device_id,
            team: msg.team,
        };
        self.make_room(ctx);
        let waiter = move |_: Option<&Outcome>| Some(Waiter::Player(tx, pid));
        match self.run(Role::Player, None, cmd, waiter, ctx) {
            Ok(_) => {
                Box::pin(async move { rx.await.unwrap_or_else(|_| Err(ApiError::unavailable())) })
            }
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

impl Handler<LoadQuizAsOwner> for Session {
    type Result = ResponseFuture<Result<(), ApiError>>;

    fn handle(&mut self, msg: LoadQuizAsOwner, ctx: &mut Context<Self>) -> Self::Result {
        let done = self.run_http(Role::Mc, None, Command::LoadQuiz { quiz: msg.quiz }, ctx);
        Box::pin(async move { done.await.map(drop) })
    }
}

impl Handler<ReadState> for Session {
    type Result = Result<Value, ApiError>;

    fn handle(&mut self, msg: ReadState, _: &mut Context<Self>) -> Self::Result {
        let (role, player) = self.caller(msg.claims.as_ref())?;
        let snapshot = self.snapshot(&Self::view(role, player.as_ref()));
        Ok(to_value(&StateReply {
            seq: self.seq,
            snapshot,
        }))
    }
}

impl Handler<ReadInfo> for Session {
    type Result = MessageResult<ReadInfo>;

    fn handle(&mut self, _: ReadInfo, _: &mut Context<Self>) -> Self::Result {
        MessageResult(json!({
            "code": self.durable.code,
            "title": self.durable.title,
            "phase": self.durable.phase,
            "totalPlayers": self.durable.total_players(),
            "online": self.online_total(),
        }))
    }
}

impl Handler<Shutdown> for Session {
    type Result = ();

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        for id in self.conns.ids() {
            self.drop_conn(
                id,
                crate::protocol::close::GOING_AWAY,
                "server going away",
                false,
            );
        }
    }
}

impl Handler<ReadLeaderboard> for Session {
    type Result = MessageResult<ReadLeaderboard>;

    fn handle(&mut self, _: ReadLeaderboard, _: &mut Context<Self>) -> Self::Result {
        let entries = self.durable.leaderboard();
        let mut v = json!({"entries": entries, "totalPlayers": self.durable.total_players()});
        if let Some(teams) = self.durable.team_all() {
            v["teams"] = json!(teams);
        }
        MessageResult(v)
    }
}

impl Handler<ReadResults> for Session {
    type Result = Result<Vec<crate::game::results::Row>, ApiError>;

    fn handle(&mut self, msg: ReadResults, _: &mut Context<Self>) -> Self::Result {
        if self.caller(msg.claims.as_ref())?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        Ok(crate::game::results::rows(&mut self.durable))
    }
}

impl Handler<ReadMarking> for Session {
    type Result = Result<Value, ApiError>;

    fn handle(&mut self, msg: ReadMarking, _: &mut Context<Self>) -> Self::Result {
        if self.caller(msg.claims.as_ref())?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        let game = &self.durable;
        let name = |id: &str| game.player(id).map(|p| p.name.clone());
        let assignments: Vec<Value> = game
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
        Ok(json!({"progress": game.marking_progress(), "assignments": assignments}))
    }
}

impl Handler<ReadBans> for Session {
    type Result = Result<Value, ApiError>;

    fn handle(&mut self, msg: ReadBans, _: &mut Context<Self>) -> Self::Result {
        if self.caller(Some(&msg.claims))?.0 != Role::Mc {
            return Err(ApiError::forbidden());
        }
        let bans: Vec<Value> = self
            .durable
            .bans()
            .iter()
            .map(|b| json!({"banId": b.ban_id, "name": b.name, "device": b.device.is_some()}))
            .collect();
        Ok(Value::Array(bans))
    }
}
