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

    /// The log could not record a change; nothing changed.
    pub fn unavailable() -> Self {
        ApiError::new(
            ErrorCode::Unavailable,
            "the change could not be saved; nothing changed, try again",
        )
    }
}

/// The contract error code a rule violation is reported as.
fn game_code(e: &GameError) -> ErrorCode {
    match e {
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
        GameError::Banned => ErrorCode::Forbidden,
        GameError::BanNotFound => ErrorCode::PlayerNotFound,
        GameError::TeamsOff => ErrorCode::TeamsOff,
        GameError::TeamNotFound => ErrorCode::TeamNotFound,
        GameError::TeamsFull(_) => ErrorCode::TeamsFull,
        GameError::TeamFull(..) => ErrorCode::TeamFull,
        GameError::TeamNameTaken => ErrorCode::TeamNameTaken,
        GameError::TeamModeLocked => ErrorCode::WrongPhase,
    }
}

impl From<GameError> for ApiError {
    fn from(e: GameError) -> Self {
        ApiError::new(game_code(&e), e.to_string())
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

impl From<crate::library::LibraryError> for ApiError {
    fn from(e: crate::library::LibraryError) -> Self {
        use crate::library::images::ImageError;
        use crate::library::package::PackageError;
        use crate::library::LibraryError as L;
        let code = match &e {
            L::NotFound => ErrorCode::QuizNotFound,
            L::BadKey => ErrorCode::Unauthorized,
            L::Quiz(q) => return ApiError::from(q.clone()),
            L::Image(ImageError::TooLarge { .. })
            | L::Package(PackageError::TooLarge(_))
            | L::Package(PackageError::Image {
                err: ImageError::TooLarge { .. },
                ..
            }) => ErrorCode::PayloadTooLarge,
            L::Full | L::BadName | L::Image(_) | L::Package(_) => ErrorCode::BadRequest,
            L::Sql(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                log::warn!("library: {e}");
                return ApiError::unavailable();
            }
            L::Sql(_) => {
                log::error!("library: {e}");
                return ApiError::internal();
            }
        };
        let field = match &e {
            L::BadName => Some("name".to_string()),
            L::Package(p) => p.field().map(str::to_string),
            _ => None,
        };
        ApiError {
            code,
            message: e.to_string(),
            field,
        }
    }
}
