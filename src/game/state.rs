//! The game state and its parts. What may change it is decided in
//! [`decide`](super::decide) and applied in [`evolve`](super::evolve); views
//! of it for each role are in [`view`](super::view).

use super::marking::{self, Assignment};
use super::quiz::{Question, Quiz};
use super::ranking::RankIndex;
use super::teams::{self, TeamMode, Teams};
use super::GameEvent;
use super::PlayerId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Who is acting: decides what a command may do and what a snapshot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Mc,
    Player,
    Display,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mc => "mc",
            Role::Player => "player",
            Role::Display => "display",
        }
    }
}

/// Where the quiz is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Lobby,
    Question,
    Closed,
    Marking,
    Ended,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Lobby => "lobby",
            Phase::Question => "question",
            Phase::Closed => "closed",
            Phase::Marking => "marking",
            Phase::Ended => "ended",
        }
    }
}

/// Session settings (contract section 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub speed_bonus: bool,
    pub chat: bool,
    pub max_players: usize,
    /// Extension: team mode (`off`, `sum`, `mean`, `sheet`); left out when
    /// off, so settings written before teams existed read back the same.
    #[serde(skip_serializing_if = "TeamMode::is_off")]
    pub teams: TeamMode,
    /// Extension: at most this many teams (left out at its default).
    #[serde(skip_serializing_if = "is_default_max_teams")]
    pub max_teams: usize,
    /// Extension: at most this many players in one team.
    #[serde(skip_serializing_if = "is_default_max_team_size")]
    pub max_team_size: usize,
}

fn is_default_max_teams(n: &usize) -> bool {
    *n == teams::DEFAULT_MAX_TEAMS
}

fn is_default_max_team_size(n: &usize) -> bool {
    *n == teams::DEFAULT_MAX_TEAM_SIZE
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            speed_bonus: false,
            chat: false,
            max_players: 10_000,
            teams: TeamMode::Off,
            max_teams: teams::DEFAULT_MAX_TEAMS,
            max_team_size: teams::DEFAULT_MAX_TEAM_SIZE,
        }
    }
}

/// A contestant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Player {
    pub id: PlayerId,
    pub name: String,
    pub score: f64,
    /// The device id the player joined from, when the client sent one: a
    /// removal bans it too (so a kicked player cannot come back by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A player's answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerRecord {
    pub value: Value,
    pub revision: u32,
    pub at_ms: u64,
}

/// Who decided a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MarkedBy {
    Auto,
    Peer(PlayerId),
    Mc,
}

impl MarkedBy {
    /// Who marked, as the wire says it (`auto`, `peer`, `mc`).
    pub fn kind(&self) -> &'static str {
        match self {
            MarkedBy::Auto => "auto",
            MarkedBy::Peer(_) => "peer",
            MarkedBy::Mc => "mc",
        }
    }

    pub fn label(&self) -> String {
        match self {
            MarkedBy::Auto => "auto".into(),
            MarkedBy::Peer(p) => format!("peer:{p}"),
            MarkedBy::Mc => "mc".into(),
        }
    }
}

/// Points a player got for one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Award {
    pub score: f64,
    pub by: MarkedBy,
}

/// The question on screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Current {
    pub round: usize,
    pub index: usize,
    /// Counts openings, so a stale timer cannot close a later question.
    pub opening: u64,
    pub opened_at: u64,
    pub deadline: Option<u64>,
    pub closed: bool,
    pub revealed: bool,
}

/// A round being peer-marked (or marked earlier, kept for results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkingRound {
    pub round_id: String,
    pub assignments: Vec<Assignment>,
    pub(super) completed_sent: bool,
    /// Assignment positions by id and by marker, and how many assignments
    /// still lack a mark, so a mark costs O(1) rather than a scan of every
    /// assignment. Derived: rebuilt after a snapshot is loaded.
    #[serde(skip)]
    index: Option<MarkingIndex>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct MarkingIndex {
    by_id: HashMap<String, usize>,
    by_marker: HashMap<PlayerId, usize>,
    incomplete: usize,
}

impl MarkingRound {
    pub(super) fn new(round_id: &str, assignments: Vec<Assignment>, completed_sent: bool) -> Self {
        let mut m = MarkingRound {
            round_id: round_id.to_string(),
            assignments,
            completed_sent,
            index: None,
        };
        m.reindex();
        m
    }

    fn reindex(&mut self) {
        let valid = self
            .index
            .as_ref()
            .is_some_and(|i| i.by_id.len() == self.assignments.len());
        if !valid {
            self.index = Some(MarkingIndex {
                by_id: (self.assignments.iter().enumerate())
                    .map(|(i, a)| (a.assignment_id.clone(), i))
                    .collect(),
                by_marker: (self.assignments.iter().enumerate())
                    .map(|(i, a)| (a.marker_id.clone(), i))
                    .collect(),
                incomplete: self.assignments.iter().filter(|a| !a.complete()).count(),
            });
        }
    }

    fn valid_index(&self) -> Option<&MarkingIndex> {
        self.index
            .as_ref()
            .filter(|i| i.by_id.len() == self.assignments.len())
    }

    /// An assignment by id (a scan only before the index is rebuilt).
    pub(super) fn find(&self, id: &str) -> Option<&Assignment> {
        match self.valid_index() {
            Some(i) => i.by_id.get(id).and_then(|&n| self.assignments.get(n)),
            None => self.assignments.iter().find(|a| a.assignment_id == id),
        }
    }

    /// A marker's assignment.
    pub(super) fn of_marker(&self, marker: &str) -> Option<&Assignment> {
        match self.valid_index() {
            Some(i) => i
                .by_marker
                .get(marker)
                .and_then(|&n| self.assignments.get(n)),
            None => self.assignments.iter().find(|a| a.marker_id == marker),
        }
    }

    /// Records a mark; returns the assignment and whether every assignment
    /// is now complete.
    pub(super) fn give(&mut self, id: &str, qid: &str, score: f64) -> Option<(&Assignment, bool)> {
        self.reindex();
        let index = self.index.as_mut()?;
        let a = self.assignments.get_mut(*index.by_id.get(id)?)?;
        let before = a.complete();
        a.marks.insert(qid.to_string(), score);
        if !before && a.complete() {
            index.incomplete = index.incomplete.saturating_sub(1);
        }
        Some((a, index.incomplete == 0))
    }

    /// Drops every assignment (every player was cleared).
    pub(super) fn clear(&mut self) {
        self.assignments.clear();
        self.index = None;
    }
}

/// A player the MC removed, kept out until the MC lets them back: their
/// name (compared on its confusable key, so a look-alike spelling is out
/// too) and the device they played on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ban {
    /// The removed player's id (unique in the session, so a fine ban id).
    pub ban_id: String,
    pub name: String,
    pub key: String,
    pub device: Option<String>,
}

/// Which view of the state a snapshot is for.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    Mc,
    Display,
    Player(PlayerId),
}

pub(super) type Events = Vec<GameEvent>;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 280;

/// The whole state of one quiz session. Serializable as a snapshot (the
/// rank index is rebuilt, never stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GameState {
    pub code: String,
    pub title: String,
    pub phase: Phase,
    pub settings: Settings,
    pub(super) quiz: Quiz,
    pub(super) players: HashMap<PlayerId, Player>,
    pub(super) order: Vec<PlayerId>,
    pub(super) names: HashMap<String, PlayerId>,
    /// Players in leaderboard order, kept sorted as scores change; `None`
    /// until first needed after a snapshot is loaded. Derived.
    #[serde(skip)]
    pub(super) ranks: Option<RankIndex>,
    /// Score and rank each player was last told.
    pub(super) told: HashMap<PlayerId, (f64, usize)>,
    /// A settle of ranks told only part of the room: the position in
    /// leaderboard order where it goes on (see `settle_ranks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) rank_round: Option<usize>,
    pub(super) round: Option<usize>,
    pub(super) current: Option<Current>,
    pub(super) openings: u64,
    /// When each question was last opened, and its time limit (for the speed bonus).
    pub(super) timing: HashMap<String, (u64, Option<u64>)>,
    pub(super) answers: HashMap<String, HashMap<PlayerId, AnswerRecord>>,
    pub(super) awards: HashMap<PlayerId, BTreeMap<String, Award>>,
    pub(super) marking: Option<MarkingRound>,
    pub(super) marked: Vec<MarkingRound>,
    /// The MC is showing the leaderboard (until the next question, round or
    /// marking). Defaults keep snapshots of earlier versions readable.
    #[serde(default)]
    pub(super) leaderboard_shown: bool,
    /// Removed players kept out (see [`Ban`]).
    #[serde(default)]
    pub(super) bans: Vec<Ban>,
    /// Team mode's teams, sheets and team awards (see [`teams`]).
    #[serde(default)]
    pub(super) teams: Teams,
    /// Cluster mode: forwarded commands already handled (handled.rs).
    #[serde(default, skip_serializing_if = "super::handled::Handled::is_empty")]
    pub(super) handled: super::handled::Handled,
}

impl GameState {
    /// The outcome of a forwarded command already handled (by its id).
    pub fn handled(&self, id: &str) -> Option<&super::command::Outcome> {
        self.handled.get(id)
    }

    pub fn new(code: impl Into<String>, title: impl Into<String>, settings: Settings) -> Self {
        GameState {
            code: code.into(),
            title: title.into(),
            phase: Phase::Lobby,
            settings,
            quiz: Quiz::default(),
            players: HashMap::new(),
            order: Vec::new(),
            names: HashMap::new(),
            ranks: Some(RankIndex::default()),
            told: HashMap::new(),
            rank_round: None,
            round: None,
            current: None,
            openings: 0,
            timing: HashMap::new(),
            answers: HashMap::new(),
            awards: HashMap::new(),
            marking: None,
            marked: Vec::new(),
            leaderboard_shown: false,
            bans: Vec::new(),
            teams: Teams::default(),
            handled: Default::default(),
        }
    }

    /// Players the MC removed and has not let back in, oldest first.
    pub fn bans(&self) -> &[Ban] {
        &self.bans
    }

    pub fn quiz(&self) -> &Quiz {
        &self.quiz
    }

    pub fn total_players(&self) -> usize {
        self.players.len()
    }

    pub fn player(&self, id: &str) -> Option<&Player> {
        self.players.get(id)
    }

    /// Players in join order.
    pub fn players(&self) -> impl Iterator<Item = &Player> {
        self.order.iter().filter_map(|id| self.players.get(id))
    }

    /// Roughly how many items the state holds: what a snapshot costs to write.
    pub fn size_hint(&self) -> usize {
        self.players.len() + self.answers.values().map(HashMap::len).sum::<usize>()
    }

    pub(super) fn find(&self, qid: &str) -> Option<(usize, usize)> {
        self.quiz.rounds.iter().enumerate().find_map(|(ri, r)| {
            r.questions
                .iter()
                .position(|q| q.id == qid)
                .map(|qi| (ri, qi))
        })
    }

    pub(super) fn question(&self, qid: &str) -> Option<&Question> {
        self.find(qid)
            .map(|(r, i)| &self.quiz.rounds[r].questions[i])
    }

    pub(super) fn current_question(&self) -> Option<&Question> {
        self.current
            .as_ref()
            .and_then(|c| self.quiz.rounds.get(c.round)?.questions.get(c.index))
    }

    /// The oldest fact format that reads this state as a snapshot: 2 only
    /// while it holds cluster retry ids or a settle stopped mid-round
    /// (`fact::version_of` says the same of records).
    pub fn format_version(&self) -> u32 {
        if self.handled.is_empty() && self.rank_round.is_none() {
            1
        } else {
            2
        }
    }

    /// Changes whenever a question opens or closes: a large session gives
    /// those fan-outs the workers to themselves (session/boards.rs).
    pub fn question_marker(&self) -> (u64, bool) {
        (self.openings, self.phase == Phase::Question)
    }

    /// The open question's deadline and opening, when it has a timer.
    pub fn open_timer(&self) -> Option<(u64, u64)> {
        let c = self
            .current
            .as_ref()
            .filter(|_| self.phase == Phase::Question)?;
        c.deadline.map(|d| (d, c.opening))
    }

    /// Every answer and award, for results.
    pub fn answer_of(&self, player: &str, qid: &str) -> Option<&AnswerRecord> {
        self.answers.get(qid)?.get(player)
    }

    pub fn award_of(&self, player: &str, qid: &str) -> Option<&Award> {
        self.awards.get(player)?.get(qid)
    }

    /// Every assignment, current and past.
    pub fn assignments(&self) -> impl Iterator<Item = &Assignment> {
        self.marked
            .iter()
            .chain(self.marking.iter())
            .flat_map(|m| m.assignments.iter())
    }

    /// Rounds whose peer marking has ended, in the order they were marked
    /// (each once), so no device offers to mark them again.
    pub fn marked_rounds(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in &self.marked {
            if !out.contains(&m.round_id) {
                out.push(m.round_id.clone());
            }
        }
        out
    }

    /// Marking progress of the current marking round.
    pub fn marking_progress(&self) -> Option<marking::Progress> {
        self.marking
            .as_ref()
            .map(|m| marking::progress(&m.round_id, &m.assignments))
    }

    /// The state as a comparable value (tests: live state == state rebuilt
    /// from the log).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "marking_tests.rs"]
mod marking_tests;
