//! Typed rule violations, each mapped to one of the contract's error codes.

use crate::protocol::ErrorCode;

/// Why a command was refused by the game rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GameError {
    #[error("the session has ended")]
    SessionEnded,
    #[error("the session is full ({0} players)")]
    SessionFull(usize),
    #[error(
        "that name is already taken in this session (names are compared ignoring case, \
         compatibility forms and look-alike letters, e.g. Cyrillic \u{430} for a)"
    )]
    NameTaken,
    #[error("invalid name: {0}")]
    BadName(String),
    #[error("no such player")]
    PlayerNotFound,
    #[error("this role may not do that")]
    Forbidden,
    #[error("not allowed in phase {0}")]
    WrongPhase(&'static str),
    #[error("no such round or question: {0}")]
    QuestionNotFound(String),
    #[error("the question is closed")]
    QuestionClosed,
    #[error("no such assignment")]
    AssignmentNotFound,
    #[error("invalid score: {0}")]
    InvalidScore(String),
    #[error("chat is turned off")]
    ChatDisabled,
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("invalid quiz: {0}")]
    InvalidQuiz(String),
}

impl GameError {
    /// The contract error code this rule violation is reported as.
    pub fn code(&self) -> ErrorCode {
        match self {
            GameError::SessionEnded => ErrorCode::SessionEnded,
            GameError::SessionFull(_) => ErrorCode::SessionFull,
            GameError::NameTaken => ErrorCode::NameTaken,
            GameError::BadName(_) => ErrorCode::BadRequest,
            GameError::PlayerNotFound => ErrorCode::PlayerNotFound,
            GameError::Forbidden => ErrorCode::Forbidden,
            GameError::WrongPhase(_) => ErrorCode::WrongPhase,
            GameError::QuestionNotFound(_) => ErrorCode::QuestionNotFound,
            GameError::QuestionClosed => ErrorCode::QuestionClosed,
            GameError::AssignmentNotFound => ErrorCode::AssignmentNotFound,
            GameError::InvalidScore(_) => ErrorCode::InvalidScore,
            GameError::ChatDisabled => ErrorCode::ChatDisabled,
            GameError::BadRequest(_) => ErrorCode::BadRequest,
            GameError::InvalidQuiz(_) => ErrorCode::InvalidQuiz,
        }
    }
}
