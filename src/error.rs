//! The one error type handlers and actors answer with: a contract code and a
//! human message. Layer errors convert into it in one place each.

use crate::auth::AuthError;
use crate::game::GameError;
use crate::protocol::ErrorCode;

/// An error as a client sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The offending field, for validation errors (e.g. a quiz's).
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found() -> Self {
        ApiError::new(ErrorCode::SessionNotFound, "no such session")
    }

    pub fn forbidden() -> Self {
        ApiError::new(ErrorCode::Forbidden, "this role may not do that")
    }

    pub fn internal() -> Self {
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl From<GameError> for ApiError {
    fn from(e: GameError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::game::quiz::QuizError> for ApiError {
    fn from(e: crate::game::quiz::QuizError) -> Self {
        ApiError {
            code: ErrorCode::InvalidQuiz,
            message: e.to_string(),
            field: Some(e.field),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(ErrorCode::Unauthorized, e.to_string())
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(_: actix::MailboxError) -> Self {
        // The session stopped between lookup and delivery: it is gone.
        ApiError::not_found()
    }
}
