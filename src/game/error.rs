//! Typed rule violations (mapped to the contract's error codes in `crate::error`).

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
    #[error(
        "the quiz master removed you from this quiz; ask them to let you back in \
         (the name and this device are kept out until then)"
    )]
    Banned,
    #[error("no such removed player (they may already be back in)")]
    BanNotFound,
    #[error("this session is not played in teams (the MC can turn team mode on before the first question)")]
    TeamsOff,
    #[error("no such team")]
    TeamNotFound,
    #[error("no more teams can be made (at most {0}); join one of the teams there are")]
    TeamsFull(usize),
    #[error("team {0} is full (at most {1} players a team)")]
    TeamFull(String, usize),
    #[error("another team already has that name (names are compared ignoring case and look-alike letters)")]
    TeamNameTaken,
    #[error("team mode can only be changed before the first question")]
    TeamModeLocked,
}
