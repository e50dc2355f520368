//! Facts: what a decided command changed, with everything that was decided
//! in it (the player's id and normalized name, the normalized answer and its
//! revision, the points awarded, the marking pairs drawn, the time). The log
//! keeps facts, never commands: replaying facts re-decides nothing, so a new
//! version's scoring or shuffling can never change what already happened.
//!
//! Every fact is serialized with [`FACT_VERSION`] beside it; a reader that
//! meets a version it does not know refuses to start rather than guess.

use super::events::{ChatFrom, CloseReason, EndReason};
use super::marking::Assignment;
use super::quiz::Quiz;
use super::state::Settings;
use super::teams::TeamId;
use super::PlayerId;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version written beside every fact and snapshot.
/// 2: `Fact::Handled` (cluster mode's retry ids) and `RanksSettled` with a
/// `limit` (settling in rounds): a build before 2 would replay the first
/// wrongly and ignore the second, telling other players than the log did.
pub const FACT_VERSION: u32 = 2;

/// The version to write beside `facts`: the oldest that reads them, so a
/// log without cluster retry ids (every single-node log) stays readable by
/// the builds before version 2, and a downgrade keeps working.
pub fn version_of(facts: &[Fact]) -> u32 {
    let newer = |f: &Fact| {
        matches!(
            f,
            Fact::Handled { .. } | Fact::RanksSettled { limit: Some(_) }
        )
    };
    if facts.iter().any(newer) {
        2
    } else {
        1
    }
}

/// One decided change to a session (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "fact",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Fact {
    /// A command forwarded with this idempotency id was decided (in this
    /// record) with this outcome (game/handled.rs).
    Handled {
        id: String,
        outcome: super::command::Outcome,
    },
    PlayerJoined {
        player_id: PlayerId,
        name: String,
        /// The client's device id, when it sent one (added later: absent
        /// in older records).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_id: Option<String>,
    },
    PlayerLeft {
        player_id: PlayerId,
    },
    PlayerRemoved {
        player_id: PlayerId,
    },
    /// A removed player is kept out: their name's confusable key and
    /// their device, as decided at the removal (recorded right after
    /// `PlayerRemoved`).
    PlayerBanned {
        ban_id: String,
        player_id: PlayerId,
        name: String,
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_id: Option<String>,
    },
    /// The MC let a removed player back in.
    PlayerUnbanned {
        ban_id: String,
    },
    /// The MC showed (or hid) the leaderboard between questions.
    LeaderboardShown {
        shown: bool,
    },
    /// Every player was cleared; the ids are the ones whose sockets close.
    PlayersCleared {
        player_ids: Vec<PlayerId>,
    },
    /// A quiz was loaded, with the settings that resulted.
    QuizLoaded {
        quiz: Quiz,
        settings: Settings,
    },
    RoundStarted {
        round: usize,
    },
    QuestionOpened {
        round: usize,
        index: usize,
        at_ms: u64,
        limit_ms: Option<u64>,
    },
    QuestionClosed {
        reason: CloseReason,
    },
    /// The open or closed question's answer was shown, with the automatic
    /// awards decided for it (MC overrides already left out).
    AnswerRevealed {
        distribution: Option<Vec<usize>>,
        awards: Vec<(PlayerId, f64)>,
        /// Team mode `sheet`: the awards decided for team sheets (added
        /// later: absent in older records and when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        team_awards: Vec<(TeamId, f64)>,
    },
    /// Peer marking began with these pairs (marks still empty).
    MarkingStarted {
        round_id: String,
        assignments: Vec<Assignment>,
    },
    MarkGiven {
        assignment_id: String,
        question_id: String,
        score: f64,
    },
    /// Marking ended; the peer awards it settled (markee, question, score, marker).
    MarkingEnded {
        awards: Vec<(PlayerId, String, f64, PlayerId)>,
        /// Team sheets' peer awards (markee team, question, score, marker
        /// team); absent in older records and when empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        team_awards: Vec<(TeamId, String, f64, TeamId)>,
    },
    ScoreOverridden {
        player_id: PlayerId,
        question_id: String,
        score: f64,
    },
    /// Players whose rank moved since they were last told (by departures,
    /// which tell nobody at once) are told now: one fact per leaderboard
    /// tick, however many players left in it. With a `limit`, at most that
    /// many are told; the round goes on at the next one (a 10,000-player
    /// settle spread over a few ticks instead of one long turn).
    RanksSettled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
    AnswerRecorded {
        player_id: PlayerId,
        question_id: String,
        value: Value,
        revision: u32,
        at_ms: u64,
    },
    ChatSent {
        from: ChatFrom,
        text: String,
    },
    SettingsChanged {
        settings: Settings,
    },
    Ended {
        reason: EndReason,
    },
    /// A team was created (its id decided here: `t` and a counter).
    TeamCreated {
        team_id: TeamId,
        name: String,
    },
    TeamRenamed {
        team_id: TeamId,
        name: String,
    },
    /// A team was removed; its members stay without a team, or move to
    /// `into` (a merge).
    TeamRemoved {
        team_id: TeamId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        into: Option<TeamId>,
    },
    /// A player joined, moved to or left (`None`) a team.
    TeamMemberSet {
        player_id: PlayerId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<TeamId>,
    },
    /// A member wrote their team's shared answer sheet.
    SheetAnswered {
        team_id: TeamId,
        player_id: PlayerId,
        question_id: String,
        value: Value,
        revision: u32,
        at_ms: u64,
    },
    /// The MC set a team's score for one question.
    TeamScoreOverridden {
        team_id: TeamId,
        question_id: String,
        score: f64,
    },
}
