//! Session events (contract section 4) and who may see each one.

use super::leaderboard::Entry;
use super::teams::{MemberRef, TeamEntry, TeamId};
use super::PlayerId;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Who an event is delivered to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Audience {
    /// Every connection: players, MC and display.
    All,
    /// The MC and the display.
    Staff,
    /// The MC only.
    Mc,
    /// Displays only (their coalesced copy of a staff event).
    Display,
    /// One player only.
    Player(PlayerId),
    /// The MC, the display, and one player (e.g. the removed one).
    StaffAndPlayer(PlayerId),
}

impl Audience {
    /// Whether a connection with this role (and player id) receives the event.
    pub fn includes(&self, role: super::Role, player: Option<&str>) -> bool {
        use super::Role;
        match self {
            Audience::All => true,
            Audience::Staff => matches!(role, Role::Mc | Role::Display),
            Audience::Mc => role == Role::Mc,
            Audience::Display => role == Role::Display,
            Audience::Player(p) => role == Role::Player && player == Some(p.as_str()),
            Audience::StaffAndPlayer(p) => {
                matches!(role, Role::Mc | Role::Display)
                    || (role == Role::Player && player == Some(p.as_str()))
            }
        }
    }
}

/// Why a question was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseReason {
    Timer,
    Mc,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    Mc,
    Expired,
}

/// A player as named in roster events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerRef {
    pub player_id: PlayerId,
    pub name: String,
    pub total_players: usize,
}

/// One item of a peer-marking assignment, as the marker sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkingItem {
    pub question_id: String,
    pub prompt: String,
    pub answer: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<Value>,
    pub points: f64,
}

/// Who sent a chat message.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub player_id: Option<PlayerId>,
    pub name: String,
    pub role: super::Role,
}

/// The question as shown to everyone when it opens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionView {
    pub round_id: String,
    pub question_id: String,
    pub index: usize,
    pub prompt: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// Extension: a picture per choice, parallel to `choices` (`null` for
    /// none); absent when no choice has one, so `choices` keeps its shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_images: Option<Vec<Option<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    pub points: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
    /// Extension: who marks it (`auto`, `peer`, `mc`), so a phone knows
    /// whether to expect a verdict at the reveal or later.
    pub marking: String,
}

/// One question's award, as its player is told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwardView {
    pub score: f64,
    /// `auto`, `peer` or `mc`.
    pub by: String,
}

/// Everything that can happen in a session, as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum GameEvent {
    #[serde(rename = "game:round-changed", rename_all = "camelCase")]
    RoundChanged {
        round_id: String,
        round_name: String,
        round_type: String,
        question_count: usize,
    },
    #[serde(rename = "game:question-opened")]
    QuestionOpened(QuestionView),
    #[serde(rename = "game:question-closed", rename_all = "camelCase")]
    QuestionClosed {
        question_id: String,
        reason: CloseReason,
    },
    #[serde(rename = "game:answer-revealed", rename_all = "camelCase")]
    AnswerRevealed {
        question_id: String,
        correct_answer: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        explanation: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        distribution: Option<Vec<usize>>,
    },
    #[serde(rename = "game:marking-started", rename_all = "camelCase")]
    MarkingStarted { round_id: String },
    #[serde(rename = "marking:assignment-created", rename_all = "camelCase")]
    AssignmentCreated {
        #[serde(skip)]
        marker: PlayerId,
        assignment_id: String,
        round_id: String,
        items: Vec<MarkingItem>,
    },
    #[serde(rename = "marking:score-updated", rename_all = "camelCase")]
    MarkUpdated {
        assignment_id: String,
        question_id: String,
        marker_id: PlayerId,
        markee_id: PlayerId,
        score: f64,
    },
    #[serde(rename = "marking:completed", rename_all = "camelCase")]
    MarkingCompleted { round_id: String },
    #[serde(rename = "game:marking-ended", rename_all = "camelCase")]
    MarkingEnded { round_id: String },
    #[serde(rename = "score:updated", rename_all = "camelCase")]
    ScoreUpdated {
        #[serde(skip)]
        player: PlayerId,
        score: f64,
        rank: usize,
        /// Extension: when one question's award caused the update, that
        /// question, the points it gave and who marked it.
        #[serde(skip_serializing_if = "Option::is_none")]
        question_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        awarded: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Extension: every award that caused the update (several after
        /// peer marking), by question id.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        awards: BTreeMap<String, AwardView>,
    },
    #[serde(rename = "leaderboard:updated", rename_all = "camelCase")]
    LeaderboardUpdated {
        top: Vec<Entry>,
        total_players: usize,
        /// Extension: the top teams, in team mode only.
        #[serde(skip_serializing_if = "Option::is_none")]
        teams: Option<Vec<TeamEntry>>,
    },
    #[serde(rename = "leaderboard:full", rename_all = "camelCase")]
    LeaderboardFull {
        entries: Vec<Entry>,
        /// Extension: every team, in team mode only.
        #[serde(skip_serializing_if = "Option::is_none")]
        teams: Option<Vec<TeamEntry>>,
    },
    /// Extension: in a large session, the entries of the full leaderboard
    /// that changed since the last `leaderboard:full`/`leaderboard:changed`,
    /// and the players no longer in it (docs/protocol.md).
    #[serde(rename = "leaderboard:changed", rename_all = "camelCase")]
    LeaderboardChanged {
        entries: Vec<Entry>,
        removed: Vec<PlayerId>,
        total_players: usize,
    },
    #[serde(rename = "player:joined")]
    PlayerJoined(PlayerRef),
    #[serde(rename = "player:left")]
    PlayerLeft(PlayerRef),
    #[serde(rename = "player:removed")]
    PlayerRemoved(PlayerRef),
    /// Extension: the MC removed this player and keeps them out (MC only).
    #[serde(rename = "player:banned", rename_all = "camelCase")]
    PlayerBanned {
        ban_id: String,
        player_id: PlayerId,
        name: String,
        /// Whether their device is kept out too (never the id itself).
        device: bool,
    },
    /// Extension: the MC let a removed player back in (MC only).
    #[serde(rename = "player:unbanned", rename_all = "camelCase")]
    PlayerUnbanned { ban_id: String, name: String },
    /// Extension: the MC shows (or hides) the leaderboard between questions;
    /// the moment also ends when a question opens, a round starts or
    /// marking starts.
    #[serde(rename = "game:leaderboard-shown", rename_all = "camelCase")]
    LeaderboardShown {
        shown: bool,
        top: Vec<Entry>,
        total_players: usize,
        /// Extension: the top teams, in team mode only.
        #[serde(skip_serializing_if = "Option::is_none")]
        teams: Option<Vec<TeamEntry>>,
    },
    #[serde(rename = "player:all-cleared")]
    AllCleared {},
    #[serde(rename = "presence:changed", rename_all = "camelCase")]
    PresenceChanged { player_id: PlayerId, online: bool },
    #[serde(rename = "presence:count", rename_all = "camelCase")]
    PresenceCount { online: usize, total_players: usize },
    #[serde(rename = "player:answer-submitted", rename_all = "camelCase")]
    AnswerSubmitted {
        player_id: PlayerId,
        question_id: String,
        answered_count: usize,
        total_players: usize,
    },
    #[serde(rename = "chat:message")]
    ChatMessage { from: ChatFrom, text: String },
    /// Extension: the MC changed a setting (e.g. turned chat off).
    #[serde(rename = "session:settings-changed")]
    SettingsChanged { settings: super::state::Settings },
    #[serde(rename = "session:ended")]
    SessionEnded {
        reason: EndReason,
        leaderboard: Vec<Entry>,
        /// Extension: the final top teams, in team mode only.
        #[serde(skip_serializing_if = "Option::is_none")]
        teams: Option<Vec<TeamEntry>>,
    },
    /// Extension: a team was created or its name or members changed. Sent
    /// to the staff (`to` absent) and to each member (`to` that member).
    #[serde(rename = "team:updated", rename_all = "camelCase")]
    TeamUpdated {
        #[serde(skip)]
        to: Option<PlayerId>,
        team_id: TeamId,
        name: String,
        members: Vec<MemberRef>,
    },
    /// Extension: the MC removed a team (or merged it into another); to the
    /// staff and to each of its former members.
    #[serde(rename = "team:removed", rename_all = "camelCase")]
    TeamRemoved {
        #[serde(skip)]
        to: Option<PlayerId>,
        team_id: TeamId,
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        merged_into: Option<TeamId>,
    },
    /// Extension: a member wrote the team's answer sheet (to each member).
    #[serde(rename = "team:sheet-updated", rename_all = "camelCase")]
    TeamSheetUpdated {
        #[serde(skip)]
        to: PlayerId,
        team_id: TeamId,
        question_id: String,
        answer: Value,
        revision: u32,
        /// Who wrote this revision.
        player_id: PlayerId,
        name: String,
    },
    /// Extension: the team's score or rank changed (to each member).
    #[serde(rename = "team:score-updated", rename_all = "camelCase")]
    TeamScoreUpdated {
        #[serde(skip)]
        to: PlayerId,
        team_id: TeamId,
        name: String,
        score: f64,
        rank: usize,
    },
}

impl GameEvent {
    /// Who receives this event.
    pub fn audience(&self) -> Audience {
        use GameEvent::*;
        match self {
            AssignmentCreated { marker, .. } => Audience::Player(marker.clone()),
            ScoreUpdated { player, .. } => Audience::Player(player.clone()),
            TeamSheetUpdated { to, .. } | TeamScoreUpdated { to, .. } => {
                Audience::Player(to.clone())
            }
            TeamUpdated { to, .. } | TeamRemoved { to, .. } => match to {
                Some(p) => Audience::Player(p.clone()),
                None => Audience::Staff,
            },
            // Per-answer and per-presence events are the MC's working
            // stream; displays get a coalesced answered count instead.
            MarkUpdated { .. }
            | MarkingCompleted { .. }
            | PlayerBanned { .. }
            | PlayerUnbanned { .. }
            | PresenceChanged { .. }
            | AnswerSubmitted { .. }
            | LeaderboardChanged { .. } => Audience::Mc,
            LeaderboardFull { .. } | PlayerJoined(_) => Audience::Staff,
            PlayerLeft(p) | PlayerRemoved(p) => Audience::StaffAndPlayer(p.player_id.clone()),
            RoundChanged { .. }
            | QuestionOpened(_)
            | QuestionClosed { .. }
            | AnswerRevealed { .. }
            | MarkingStarted { .. }
            | MarkingEnded { .. }
            | LeaderboardUpdated { .. }
            | LeaderboardShown { .. }
            | AllCleared {}
            | PresenceCount { .. }
            | ChatMessage { .. }
            | SettingsChanged { .. }
            | SessionEnded { .. } => Audience::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::Role;

    #[test]
    fn events_serialize_with_contract_names() {
        let e = GameEvent::PlayerJoined(PlayerRef {
            player_id: "p1".into(),
            name: "Ada".into(),
            total_players: 3,
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "player:joined");
        assert_eq!(v["data"]["playerId"], "p1");
        assert_eq!(v["data"]["totalPlayers"], 3);
        let e = GameEvent::ScoreUpdated {
            player: "p1".into(),
            score: 2.0,
            rank: 1,
            question_id: None,
            awarded: None,
            by: None,
            awards: BTreeMap::new(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "score:updated");
        assert!(v["data"].get("player").is_none());
        // The award fields are extensions: absent unless an award caused it.
        assert!(v["data"].get("questionId").is_none());
        assert!(v["data"].get("awards").is_none());
        assert_eq!(
            serde_json::to_value(GameEvent::AllCleared {}).unwrap()["data"],
            serde_json::json!({})
        );
    }

    #[test]
    fn audiences_keep_staff_events_from_players() {
        let staff = GameEvent::PlayerJoined(PlayerRef {
            player_id: "p1".into(),
            name: "Ada".into(),
            total_players: 1,
        })
        .audience();
        assert!(!staff.includes(Role::Player, Some("p1")));
        assert!(staff.includes(Role::Display, None));
        // The per-answer and presence stream is the MC's alone.
        let presence = GameEvent::PresenceChanged {
            player_id: "p1".into(),
            online: true,
        }
        .audience();
        assert!(!presence.includes(Role::Display, None));
        assert!(presence.includes(Role::Mc, None));
        assert!(Audience::Display.includes(Role::Display, None));
        assert!(!Audience::Display.includes(Role::Mc, None));
        let one = Audience::Player("p1".into());
        assert!(one.includes(Role::Player, Some("p1")));
        assert!(!one.includes(Role::Player, Some("p2")));
        assert!(!one.includes(Role::Mc, None));
        assert!(!Audience::Mc.includes(Role::Display, None));
    }
}
