//! Cluster mode, the owner's side of edges (edge.rs has the edge's): the
//! wire format between them, and the owner answering forwarded commands.
//! The owner remembers its recent answers (bounded) so a retry still in
//! flight, or one that was refused, gets the same answer; a retry of a
//! command that had effects is also known from the log (game/handled.rs),
//! by this owner or the next.

use super::commit::Waiter;
use super::Session;
use crate::error::ApiError;
use crate::game::{Command, Outcome, Phase, PlayerId, Role};
use crate::journal::nats::Forwarded;
use crate::protocol::ErrorCode;
use actix::prelude::*;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Ids an owner remembers per session (each costs its reply, ~100 bytes).
const RECENT_IDS: usize = 10_000;

/// What an edge sends the owner.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EdgeRequest {
    Command(CmdRequest),
    /// The players online on the sending node (remote.rs).
    Presence {
        edge: String,
        online: Vec<PlayerId>,
    },
    /// Who is online on any node, as of which seq (an edge's snapshots).
    Online,
}

/// The owner's answer to [`EdgeRequest::Online`].
#[derive(Serialize, Deserialize)]
pub struct OnlineReply {
    pub seq: u64,
    pub online: Vec<PlayerId>,
}

/// An edge's question for the owner's list of who is online.
pub fn online_request() -> Bytes {
    Bytes::from(serde_json::to_vec(&EdgeRequest::Online).unwrap_or_default())
}

/// An edge's presence report (see remote.rs).
pub fn presence_request(online: Vec<PlayerId>) -> Bytes {
    let r = EdgeRequest::Presence {
        edge: instance().to_string(),
        online,
    };
    Bytes::from(serde_json::to_vec(&r).unwrap_or_default())
}

/// A command as an edge forwards it.
#[derive(Serialize, Deserialize)]
pub struct CmdRequest {
    /// Idempotency id: the same id is one command, however often it is sent.
    pub id: String,
    pub role: Role,
    pub player: Option<PlayerId>,
    pub cmd: Command,
}

/// The owner's answer: the outcome and the seq the session was at once the
/// command was durable (the edge answers its client once it is there too).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmdReply {
    Ok { outcome: Outcome, seq: u64 },
    Err { code: ErrorCode, message: String },
}

fn encode(r: &CmdReply) -> Bytes {
    // Plain data: serializing cannot fail.
    Bytes::from(serde_json::to_vec(r).unwrap_or_default())
}

fn err_reply(e: &ApiError) -> Bytes {
    encode(&CmdReply::Err {
        code: e.code,
        message: e.message.clone(),
    })
}

/// The owner's memory of recent forwarded ids.
#[derive(Default)]
pub struct Recent {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
}

enum Slot {
    InFlight(Vec<tokio::sync::oneshot::Sender<Bytes>>),
    Done(Bytes),
}

impl Recent {
    fn finish(&mut self, id: &str, reply: Bytes, keep: bool) {
        let waiting = match self.slots.remove(id) {
            Some(Slot::InFlight(w)) => w,
            _ => Vec::new(),
        };
        for tx in waiting {
            let _ = tx.send(reply.clone());
        }
        if keep {
            self.slots.insert(id.to_string(), Slot::Done(reply));
            self.order.push_back(id.to_string());
            while self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    if matches!(self.slots.get(&old), Some(Slot::Done(_))) {
                        self.slots.remove(&old);
                    }
                }
            }
        }
    }
}

/// A process-wide prefix for ids of callers with no player id (their
/// connection ids are this node's own).
fn instance() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_string())
}

/// The idempotency key of a client message: who sent it and its id (the
/// command's hash is added when it is forwarded, so a reused message id
/// with another command is another command). A player's and the MC's are
/// theirs on any connection and node (a retry after reconnecting is
/// recognised); anyone else's are their connection's.
pub fn client_key(
    role: Role,
    player: Option<&PlayerId>,
    conn: u64,
    id: &serde_json::Value,
) -> String {
    match (role, player) {
        (_, Some(p)) => format!("{p}/{id}"),
        (Role::Mc, None) => format!("mc/{id}"),
        _ => format!("{}-{conn}/{id}", instance()),
    }
}

/// The idempotency id of a client message's command: its key and a hash
/// of the command as the client gave it (before the owner binds it).
pub fn command_id(key: &str, cmd: &Command) -> String {
    let json = serde_json::to_vec(cmd).unwrap_or_default();
    format!("{key}/{:016x}", fnv(&json))
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Session {
    /// The owner: one forwarded command's answer is ready.
    fn forward_done(&mut self, id: &str, result: Result<Outcome, ApiError>) {
        let (reply, keep) = match result {
            Ok(outcome) => (
                encode(&CmdReply::Ok {
                    outcome,
                    seq: self.seq,
                }),
                true,
            ),
            // Refused: a retry may go through (nothing was written).
            Err(e) => (err_reply(&e), false),
        };
        self.recent.finish(id, reply, keep);
    }

    pub(super) fn resolve_forward(&mut self, id: String, result: Result<Outcome, ApiError>) {
        self.forward_done(&id, result);
    }
}

impl Handler<Forwarded> for Session {
    type Result = ResponseFuture<Bytes>;

    fn handle(&mut self, msg: Forwarded, ctx: &mut Context<Self>) -> Self::Result {
        let ready = |b: Bytes| -> Self::Result { Box::pin(async move { b }) };
        // Not the owner (any more): no answer, so the edge tries again,
        // with the same id, against whoever owns the session next.
        if self.edge.is_some() || self.stepped_down {
            return ready(Bytes::new());
        }
        let req = match serde_json::from_slice(&msg.0) {
            Ok(EdgeRequest::Command(r)) => r,
            Ok(EdgeRequest::Presence { edge, online }) => {
                self.remote_report(edge, online);
                return ready(Bytes::new());
            }
            Ok(EdgeRequest::Online) => {
                let online = self
                    .durable
                    .players()
                    .filter(|p| self.is_online(&p.id))
                    .map(|p| p.id.clone())
                    .collect();
                let r = OnlineReply {
                    seq: self.seq,
                    online,
                };
                return ready(Bytes::from(serde_json::to_vec(&r).unwrap_or_default()));
            }
            Err(_) => {
                let e = ApiError::new(ErrorCode::BadMessage, "unreadable forwarded command");
                return ready(err_reply(&e));
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.recent.slots.get_mut(&req.id) {
            Some(Slot::Done(b)) => return ready(b.clone()),
            Some(Slot::InFlight(w)) => w.push(tx),
            None => {
                if self.durable.phase == Phase::Ended {
                    let e = ApiError::new(ErrorCode::SessionEnded, "the session has ended");
                    return ready(err_reply(&e));
                }
                self.recent
                    .slots
                    .insert(req.id.clone(), Slot::InFlight(vec![tx]));
                if matches!(req.cmd, Command::AddPlayer { .. }) {
                    self.make_room(ctx);
                }
                let id = req.id.clone();
                let waiter = move |o: Option<&Outcome>| {
                    o.map(|o| Waiter::Forward {
                        id,
                        outcome: o.clone(),
                    })
                };
                self.handling = Some(req.id.clone());
                let ran = self.run(req.role, req.player.as_ref(), req.cmd, waiter, ctx);
                self.handling = None;
                if let Err(e) = ran {
                    self.forward_done(&req.id, Err(e));
                }
            }
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| err_reply(&ApiError::unavailable()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_remembers_answered_ids_within_a_bound() {
        let mut r = Recent::default();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        r.slots.insert("a".into(), Slot::InFlight(vec![tx]));
        r.finish("a", Bytes::from_static(b"ok"), true);
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from_static(b"ok")));
        assert!(matches!(r.slots.get("a"), Some(Slot::Done(_))));
        r.finish("b", Bytes::from_static(b"no"), false);
        assert!(!r.slots.contains_key("b"), "a refusal is not remembered");
        for i in 0..RECENT_IDS + 5 {
            r.finish(&i.to_string(), Bytes::new(), true);
        }
        assert_eq!(r.slots.len(), RECENT_IDS);
        assert!(!r.slots.contains_key("a"), "the oldest are forgotten");
    }

    #[test]
    fn a_reused_message_id_with_another_command_is_another_key() {
        let k = client_key(
            Role::Player,
            Some(&"p1".to_string()),
            7,
            &serde_json::json!("a"),
        );
        assert_eq!(k, "p1/\"a\"");
        let mc = client_key(Role::Mc, None, 7, &serde_json::json!("a"));
        assert_eq!(mc, client_key(Role::Mc, None, 8, &serde_json::json!("a")));
        assert_ne!(
            client_key(Role::Display, None, 7, &serde_json::json!("a")),
            client_key(Role::Display, None, 8, &serde_json::json!("a"))
        );
        assert_ne!(fnv(b"{\"q\":1}"), fnv(b"{\"q\":2}"));
    }
}
