//! Messages a session actor answers, named for what they ask.

use super::connections::ConnId;
use crate::auth::Claims;
use crate::error::ApiError;
use crate::game::{Command, Outcome, PlayerId, Role};
use crate::outbox::Outbox;
use crate::protocol::ClientMessage;
use actix::Message;
use serde_json::Value;
use std::sync::Arc;

/// A socket asks to join; the `joined` reply and any replay go to its outbox.
#[derive(Message)]
#[rtype(result = "Result<Joined, ApiError>")]
pub struct Join {
    pub conn: ConnId,
    pub role: Role,
    /// Verified token claims, when the client sent a token.
    pub claims: Option<Claims>,
    /// A new player's name (join by name).
    pub name: Option<String>,
    /// A new player's device id (`deviceId`), if the client sent one.
    pub device_id: Option<String>,
    /// Team mode: the team a new player joins or creates.
    pub team: Option<String>,
    pub since: Option<u64>,
    pub reply_id: Option<Value>,
    pub outbox: Arc<Outbox>,
    /// Cluster mode: an edge already read the log for this join (a player
    /// it did not know yet: created through another node a moment ago).
    pub caught_up: bool,
    /// The events after `since` read from the log (the ring did not reach
    /// back that far; session/backfill.rs).
    pub older: Option<super::backfill::Older>,
}

/// Who a socket turned out to be.
#[derive(Debug, Clone)]
pub struct Joined {
    pub role: Role,
    pub player: Option<PlayerId>,
}

/// A joined socket's message; replies go to its outbox.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromClient {
    pub conn: ConnId,
    pub id: Option<Value>,
    pub msg: ClientMessage,
}

/// A socket went away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub conn: ConnId,
}

/// An HTTP caller asks for a change.
#[derive(Message)]
#[rtype(result = "Result<Outcome, ApiError>")]
pub struct Apply {
    pub claims: Option<Claims>,
    pub cmd: Command,
    /// The request's `Idempotency-Key`: the same key and command from the
    /// same caller is one command, however often it is sent, on any node.
    pub key: Option<String>,
}

/// HTTP join: creates a player and mints its token.
#[derive(Message)]
#[rtype(result = "Result<(PlayerId, String), ApiError>")]
pub struct CreatePlayer {
    pub name: String,
    pub device_id: Option<String>,
    /// Team mode: the team to join or create.
    pub team: Option<String>,
}

/// The snapshot for the caller's view.
#[derive(Message)]
#[rtype(result = "Result<Value, ApiError>")]
pub struct ReadState {
    pub claims: Option<Claims>,
}

/// The public summary (`GET /api/sessions/{code}`).
#[derive(Message)]
#[rtype(result = "Value")]
pub struct ReadInfo;

/// The server is stopping: close every socket with 1001.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Cluster mode: this node lost the session's lease (another node owns it
/// now). The session stops writing and serves on as an edge: its sockets
/// and long polls stay, and get the new owner's events (docs/cluster.md).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StepDown;

/// Cluster mode: a newer actor of this node serves the session now (it
/// took the session back while this one was still stepping down). This one
/// writes nothing more, closes its sockets with 1001 (clients reconnect)
/// and stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

/// The full leaderboard (anyone).
#[derive(Message)]
#[rtype(result = "Value")]
pub struct ReadLeaderboard;

/// Every player's results (MC only).
#[derive(Message)]
#[rtype(result = "Result<Vec<crate::game::results::Row>, ApiError>")]
pub struct ReadResults {
    pub claims: Option<Claims>,
}

/// The removed players kept out (MC only).
#[derive(Message)]
#[rtype(result = "Result<Value, ApiError>")]
pub struct ReadBans {
    pub claims: crate::auth::Claims,
}

/// Every marking assignment with its marks (MC only).
#[derive(Message)]
#[rtype(result = "Result<Value, ApiError>")]
pub struct ReadMarking {
    pub claims: Option<Claims>,
}

/// Loads the quiz a session was created with (the creator is its MC).
#[derive(Message)]
#[rtype(result = "Result<(), ApiError>")]
pub struct LoadQuizAsOwner {
    pub quiz: crate::game::quiz::Quiz,
}

/// A long-poll: events after `since` for the caller's view.
#[derive(Message)]
#[rtype(result = "Result<PollReply, ApiError>")]
pub struct Poll {
    pub claims: Option<Claims>,
    pub since: u64,
    /// Park until an event arrives when there is none yet.
    pub wait: bool,
}

/// What a long-poll gets.
pub enum PollReply {
    /// A JSON body to send as is.
    Ready(String),
    /// Nothing yet: the body arrives on this channel when an event does.
    Wait(tokio::sync::oneshot::Receiver<String>),
}

/// The MC asks for a display token for the display link.
#[derive(Message)]
#[rtype(result = "Result<String, ApiError>")]
pub struct DisplayLink {
    pub claims: Claims,
}
