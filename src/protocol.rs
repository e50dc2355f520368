//! Wire types of the contract: client messages, the server envelope, error
//! codes and close codes. Every frame is built here, once.

use crate::game::{GameEvent, Role};
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The protocol version announced in `connection:established`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    BadMessage,
    Unauthorized,
    Forbidden,
    SessionNotFound,
    SessionEnded,
    SessionFull,
    NameTaken,
    NotJoined,
    UnknownType,
    WrongPhase,
    QuestionNotFound,
    QuestionClosed,
    AssignmentNotFound,
    InvalidScore,
    RateLimited,
    PayloadTooLarge,
    ChatDisabled,
    /// Extension: no player with that id in the session.
    PlayerNotFound,
    /// Extension: a quiz that fails validation (HTTP 422).
    InvalidQuiz,
    /// Extension: the server failed; nothing the client did.
    Internal,
    /// Extension: the log could not record the change (disk full, I/O
    /// error, overload); nothing changed, try again (HTTP 503).
    Unavailable,
    /// Extension: no quiz with that id in the caller's library (HTTP 404).
    QuizNotFound,
    /// Extension: team mode is off in this session.
    TeamsOff,
    /// Extension: no team with that id.
    TeamNotFound,
    /// Extension: the session has its most teams (`maxTeams`).
    TeamsFull,
    /// Extension: the team has its most members (`maxTeamSize`).
    TeamFull,
    /// Extension: another team has that name.
    TeamNameTaken,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 28] = [
        ErrorCode::BadRequest,
        ErrorCode::BadMessage,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::SessionNotFound,
        ErrorCode::SessionEnded,
        ErrorCode::SessionFull,
        ErrorCode::NameTaken,
        ErrorCode::NotJoined,
        ErrorCode::UnknownType,
        ErrorCode::WrongPhase,
        ErrorCode::QuestionNotFound,
        ErrorCode::QuestionClosed,
        ErrorCode::AssignmentNotFound,
        ErrorCode::InvalidScore,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::ChatDisabled,
        ErrorCode::PlayerNotFound,
        ErrorCode::InvalidQuiz,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::QuizNotFound,
        ErrorCode::TeamsOff,
        ErrorCode::TeamNotFound,
        ErrorCode::TeamsFull,
        ErrorCode::TeamFull,
        ErrorCode::TeamNameTaken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::BadMessage => "BAD_MESSAGE",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::SessionNotFound => "SESSION_NOT_FOUND",
            ErrorCode::SessionEnded => "SESSION_ENDED",
            ErrorCode::SessionFull => "SESSION_FULL",
            ErrorCode::NameTaken => "NAME_TAKEN",
            ErrorCode::NotJoined => "NOT_JOINED",
            ErrorCode::UnknownType => "UNKNOWN_TYPE",
            ErrorCode::WrongPhase => "WRONG_PHASE",
            ErrorCode::QuestionNotFound => "QUESTION_NOT_FOUND",
            ErrorCode::QuestionClosed => "QUESTION_CLOSED",
            ErrorCode::AssignmentNotFound => "ASSIGNMENT_NOT_FOUND",
            ErrorCode::InvalidScore => "INVALID_SCORE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::ChatDisabled => "CHAT_DISABLED",
            ErrorCode::PlayerNotFound => "PLAYER_NOT_FOUND",
            ErrorCode::InvalidQuiz => "INVALID_QUIZ",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::QuizNotFound => "QUIZ_NOT_FOUND",
            ErrorCode::TeamsOff => "TEAMS_OFF",
            ErrorCode::TeamNotFound => "TEAM_NOT_FOUND",
            ErrorCode::TeamsFull => "TEAMS_FULL",
            ErrorCode::TeamFull => "TEAM_FULL",
            ErrorCode::TeamNameTaken => "TEAM_NAME_TAKEN",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::BadMessage
            | ErrorCode::UnknownType
            | ErrorCode::NotJoined => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::SessionNotFound
            | ErrorCode::QuestionNotFound
            | ErrorCode::AssignmentNotFound
            | ErrorCode::PlayerNotFound
            | ErrorCode::QuizNotFound
            | ErrorCode::TeamNotFound => 404,
            ErrorCode::SessionEnded
            | ErrorCode::SessionFull
            | ErrorCode::NameTaken
            | ErrorCode::WrongPhase
            | ErrorCode::QuestionClosed
            | ErrorCode::ChatDisabled
            | ErrorCode::TeamsOff
            | ErrorCode::TeamsFull
            | ErrorCode::TeamFull
            | ErrorCode::TeamNameTaken => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::InvalidScore | ErrorCode::InvalidQuiz => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// The close code a WebSocket join refused with this error ends with.
    pub fn join_close(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => close::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::PlayerNotFound => close::FORBIDDEN,
            ErrorCode::SessionNotFound => close::NOT_FOUND,
            ErrorCode::SessionFull => close::FULL,
            ErrorCode::SessionEnded => close::ENDED,
            ErrorCode::RateLimited => close::POLICY,
            _ => close::PROTOCOL,
        }
    }
}

/// `joined`: the reply to a `join` (contract section 3).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinedReply {
    pub role: Role,
    pub seq: u64,
    pub snapshot: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_id: Option<String>,
    /// Only when the join just created the player.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The events since `since` are no longer held: the snapshot is the truth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resync: Option<bool>,
}

/// `game:state` (reply to `resync`) and `GET .../state`'s envelope.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateReply {
    pub seq: u64,
    pub snapshot: Value,
}

/// The `ack` of `answer:submit` (and the body of `POST .../answers`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerAck {
    pub question_id: String,
    pub revision: u32,
}

/// The `ack` of `mark:submit`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkAck {
    pub assignment_id: String,
    pub question_id: String,
    pub score: f64,
}

/// WebSocket close codes of the contract.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 4000;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const FORBIDDEN: u16 = 4003;
    pub const NOT_FOUND: u16 = 4004;
    pub const POLICY: u16 = 4008;
    pub const FULL: u16 = 4009;
    pub const ENDED: u16 = 4010;
    pub const HEARTBEAT: u16 = 4012;
}

/// A client frame's envelope before its `data` is interpreted.
#[derive(Debug, Deserialize)]
pub struct ClientEnvelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub data: Value,
}

/// `join` data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinData {
    pub session_code: String,
    pub role: Role,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub since: Option<u64>,
    /// Extension: the client's device id (with `name`), so a player the MC
    /// removed stays out on this device.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Extension: in team mode, the team a new player joins (by id or
    /// name; a new name creates the team).
    #[serde(default)]
    pub team: Option<String>,
}

/// `answer:submit` data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerData {
    pub question_id: String,
    pub answer: Value,
}

/// `mark:submit` data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkData {
    pub assignment_id: String,
    pub question_id: String,
    pub score: f64,
}

/// `chat:send` data.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatData {
    pub text: String,
}

/// A client message, understood.
#[derive(Debug, Clone)]
pub enum ClientMessage {
    Join(JoinData),
    Ping,
    Leave,
    Resync,
    Answer(AnswerData),
    Mark(MarkData),
    Chat(ChatData),
}

/// Why a frame could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("frame is not a JSON object with a string \"type\": {0}")]
    BadJson(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("invalid data for {kind}: {reason}")]
    BadData { kind: &'static str, reason: String },
}

impl ParseError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::BadJson(_) => ErrorCode::BadMessage,
            ParseError::UnknownType(_) => ErrorCode::UnknownType,
            ParseError::BadData { .. } => ErrorCode::BadMessage,
        }
    }
}

/// Parses one text frame; the `id` is returned even when the rest is bad so
/// the error can be addressed to it.
pub fn parse_client(text: &str) -> (Option<Value>, Result<ClientMessage, ParseError>) {
    let env: ClientEnvelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => return (None, Err(ParseError::BadJson(e.to_string()))),
    };
    let id = env.id.filter(|v| v.is_string() || v.is_number());
    fn data<T: for<'de> Deserialize<'de>>(kind: &'static str, v: Value) -> Result<T, ParseError> {
        let v = if v.is_null() { json!({}) } else { v };
        serde_json::from_value(v).map_err(|e| ParseError::BadData {
            kind,
            reason: e.to_string(),
        })
    }
    let msg = match env.kind.as_str() {
        "join" => data("join", env.data).map(ClientMessage::Join),
        "ping" => Ok(ClientMessage::Ping),
        "leave" => Ok(ClientMessage::Leave),
        "resync" => Ok(ClientMessage::Resync),
        "answer:submit" => data("answer:submit", env.data).map(ClientMessage::Answer),
        "mark:submit" => data("mark:submit", env.data).map(ClientMessage::Mark),
        "chat:send" => data("chat:send", env.data).map(ClientMessage::Chat),
        other => Err(ParseError::UnknownType(other.chars().take(64).collect())),
    };
    (id, msg)
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventEnvelope<'a> {
    #[serde(flatten)]
    event: &'a GameEvent,
    session_code: &'a str,
    seq: u64,
    timestamp: u64,
}

/// Serializes a session event once; the bytes are shared by every recipient.
pub fn event_frame(code: &str, seq: u64, timestamp: u64, event: &GameEvent) -> ByteString {
    let env = EventEnvelope {
        event,
        session_code: code,
        seq,
        timestamp,
    };
    match serde_json::to_string(&env) {
        Ok(s) => ByteString::from(s),
        // Serializing plain data cannot fail; keep the wire valid regardless.
        Err(e) => {
            log::error!("event serialization failed: {e}");
            ByteString::from_static("{\"type\":\"error\",\"data\":{\"code\":\"INTERNAL\"}}")
        }
    }
}

/// A reply frame (`ack`, `joined`, `pong`, `game:state`, ...) with no `seq`.
pub fn reply_frame(kind: &str, id: Option<&Value>, data: Value) -> ByteString {
    let mut v = json!({ "type": kind, "data": data });
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    ByteString::from(v.to_string())
}

/// An `error` reply.
pub fn error_frame(id: Option<&Value>, code: ErrorCode, message: &str) -> ByteString {
    reply_frame(
        "error",
        id,
        json!({ "code": code.as_str(), "message": message }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_join_and_keeps_the_id() {
        let (id, m) = parse_client(
            r#"{"type":"join","id":"j1","data":{"sessionCode":"abcde","role":"player","name":"Ada","since":4}}"#,
        );
        assert_eq!(id, Some(json!("j1")));
        match m.unwrap() {
            ClientMessage::Join(j) => {
                assert_eq!(j.role, Role::Player);
                assert_eq!(j.since, Some(4));
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn bad_frames_get_their_codes() {
        assert_eq!(
            parse_client("{nope").1.unwrap_err().code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            parse_client("[1]").1.unwrap_err().code(),
            ErrorCode::BadMessage
        );
        let (id, m) = parse_client(r#"{"type":"dance","id":7}"#);
        assert_eq!(id, Some(json!(7)));
        assert_eq!(m.unwrap_err().code(), ErrorCode::UnknownType);
        let (_, m) = parse_client(r#"{"type":"join","data":{"role":"player"}}"#);
        assert_eq!(m.unwrap_err().code(), ErrorCode::BadMessage);
    }

    #[test]
    fn ping_needs_no_data() {
        assert!(matches!(
            parse_client(r#"{"type":"ping"}"#).1,
            Ok(ClientMessage::Ping)
        ));
    }

    #[test]
    fn event_frames_carry_the_envelope() {
        let f = event_frame("ABCDE", 3, 99, &GameEvent::AllCleared {});
        let v: Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["type"], "player:all-cleared");
        assert_eq!(v["sessionCode"], "ABCDE");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["timestamp"], 99);
        assert_eq!(v["data"], json!({}));
    }

    #[test]
    fn every_code_has_a_status() {
        for c in ErrorCode::ALL {
            assert!((400..600).contains(&c.http_status()), "{c:?}");
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
    }
}
