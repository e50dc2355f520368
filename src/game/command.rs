//! Commands: what a caller asks of the game, and what a decided command
//! answers its caller. Commands are inputs; what the log keeps are the
//! [`Fact`](super::fact::Fact)s a command was decided into.

use super::events::{ChatFrom, CloseReason, EndReason};
use super::quiz::Quiz;
use super::state::Role;
use super::teams::{TeamId, TeamMode};
use super::PlayerId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request to change the game, from whichever role is acting. The actor
/// fills in the time and randomness, so deciding stays a pure function.
/// (Serializable only so that journals of an older version, which kept
/// commands, can be converted.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "camelCase")]
pub enum Command {
    /// A new player joins (id chosen by the caller so tokens can be minted for it).
    AddPlayer {
        player_id: PlayerId,
        name: String,
        /// The client's device id (`deviceId`), if it sent one.
        #[serde(default)]
        device_id: Option<String>,
        /// Team mode: the team to join, by id or name; a name no team has
        /// creates that team.
        #[serde(default)]
        team: Option<String>,
    },
    Leave {
        player_id: PlayerId,
    },
    RemovePlayer {
        player_id: PlayerId,
    },
    ResetPlayers,
    /// Lets a removed player (a ban, by its id) back in.
    Unban {
        ban_id: String,
    },
    /// Shows or hides the leaderboard between questions.
    ShowLeaderboard {
        shown: bool,
    },
    LoadQuiz {
        quiz: Quiz,
    },
    StartRound {
        round_id: String,
    },
    /// Opens a chosen question, or the next one.
    OpenQuestion {
        question_id: Option<String>,
        time_limit_sec: Option<u32>,
        now_ms: u64,
    },
    /// Closes the open question; a timer passes the opening it was set for.
    CloseQuestion {
        reason: CloseReason,
        opening: Option<u64>,
    },
    Reveal,
    StartMarking {
        round_id: Option<String>,
        seed: u64,
    },
    EndMarking,
    SubmitAnswer {
        player_id: PlayerId,
        question_id: String,
        answer: Value,
        now_ms: u64,
    },
    SubmitMark {
        player_id: PlayerId,
        assignment_id: String,
        question_id: String,
        score: f64,
    },
    OverrideScore {
        player_id: PlayerId,
        question_id: String,
        score: f64,
    },
    Chat {
        from: ChatFrom,
        text: String,
    },
    SetChat {
        enabled: bool,
    },
    End {
        reason: EndReason,
    },
    /// Chooses team mode (and its limits) before the first question.
    SetTeamMode {
        mode: TeamMode,
        max_teams: Option<usize>,
        max_team_size: Option<usize>,
    },
    CreateTeam {
        name: String,
    },
    RenameTeam {
        team_id: TeamId,
        name: String,
    },
    RemoveTeam {
        team_id: TeamId,
    },
    /// Moves every member of `from` into `into` and removes `from`.
    MergeTeams {
        from: TeamId,
        into: TeamId,
    },
    /// Assigns or moves a player to a team, or out of any (`None`).
    SetTeam {
        player_id: PlayerId,
        team_id: Option<TeamId>,
    },
    OverrideTeamScore {
        team_id: TeamId,
        question_id: String,
        score: f64,
    },
}

impl Command {
    /// Whether a caller of `role` may issue this command.
    pub fn allowed_for(&self, role: Role) -> bool {
        match self {
            Command::AddPlayer { .. } => true,
            Command::Leave { .. } | Command::SubmitAnswer { .. } | Command::SubmitMark { .. } => {
                role == Role::Player
            }
            Command::Chat { .. } => matches!(role, Role::Player | Role::Mc),
            _ => role == Role::Mc,
        }
    }
}

/// What a decided command answers its caller (its effects are in the facts).
/// Serializable: an edge gets it from the owner (cluster mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    PlayerAdded {
        player_id: PlayerId,
    },
    QuestionOpened {
        question_id: String,
        deadline: Option<u64>,
    },
    Answer {
        question_id: String,
        revision: u32,
    },
    TeamCreated {
        team_id: TeamId,
    },
}
