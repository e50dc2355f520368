//! The game state, its phases, and the one transition function.

use super::events::{EndReason, GameEvent, PlayerRef};
use super::leaderboard::{Entry, Standings, TOP_N};
use super::{names, GameError, PlayerId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            speed_bonus: false,
            chat: false,
            max_players: 10_000,
        }
    }
}

/// A contestant.
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    pub id: PlayerId,
    pub name: String,
    pub score: f64,
}

/// A request to change the game, from whichever role is acting.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A new player joins (id chosen by the caller so tokens can be minted for it).
    AddPlayer { player_id: PlayerId, name: String },
    /// A player leaves for good.
    Leave { player_id: PlayerId },
    /// The MC removes a player.
    RemovePlayer { player_id: PlayerId },
    /// The MC removes every player.
    ResetPlayers,
    /// The session ends.
    End { reason: EndReason },
}

impl Command {
    /// Whether a caller of `role` may issue this command.
    pub fn allowed_for(&self, role: Role) -> bool {
        match self {
            Command::AddPlayer { .. } => true,
            Command::Leave { .. } => role == Role::Player,
            Command::RemovePlayer { .. } | Command::ResetPlayers | Command::End { .. } => {
                role == Role::Mc
            }
        }
    }
}

/// What a successful command returns to its caller (besides events).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    PlayerAdded {
        player_id: PlayerId,
    },
    /// Players whose connections must be closed (removed or cleared).
    PlayersGone(Vec<PlayerId>),
}

/// Which view of the state a snapshot is for.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    Mc,
    Display,
    Player(PlayerId),
}

/// The whole state of one quiz session.
#[derive(Debug, Clone)]
pub struct GameState {
    pub code: String,
    pub title: String,
    pub phase: Phase,
    pub settings: Settings,
    players: HashMap<PlayerId, Player>,
    order: Vec<PlayerId>,
    names: HashMap<String, PlayerId>,
    standings: Standings,
}

impl GameState {
    pub fn new(code: impl Into<String>, title: impl Into<String>, settings: Settings) -> Self {
        GameState {
            code: code.into(),
            title: title.into(),
            phase: Phase::Lobby,
            settings,
            players: HashMap::new(),
            order: Vec::new(),
            names: HashMap::new(),
            standings: Standings::default(),
        }
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

    /// The one transition function: applies `cmd` or explains why not.
    pub fn apply(&mut self, cmd: Command) -> Result<(Outcome, Vec<GameEvent>), GameError> {
        if self.phase == Phase::Ended {
            return Err(GameError::SessionEnded);
        }
        match cmd {
            Command::AddPlayer { player_id, name } => self.add_player(player_id, name),
            Command::Leave { player_id } => {
                let r = self.drop_player(&player_id)?;
                Ok((
                    Outcome::PlayersGone(vec![player_id]),
                    vec![GameEvent::PlayerLeft(r)],
                ))
            }
            Command::RemovePlayer { player_id } => {
                let r = self.drop_player(&player_id)?;
                Ok((
                    Outcome::PlayersGone(vec![player_id]),
                    vec![GameEvent::PlayerRemoved(r)],
                ))
            }
            Command::ResetPlayers => {
                let gone = std::mem::take(&mut self.order);
                self.players.clear();
                self.names.clear();
                self.standings.invalidate();
                Ok((Outcome::PlayersGone(gone), vec![GameEvent::AllCleared {}]))
            }
            Command::End { reason } => {
                self.phase = Phase::Ended;
                let leaderboard = self.top();
                Ok((
                    Outcome::Done,
                    vec![GameEvent::SessionEnded {
                        reason,
                        leaderboard,
                    }],
                ))
            }
        }
    }

    fn add_player(
        &mut self,
        player_id: PlayerId,
        name: String,
    ) -> Result<(Outcome, Vec<GameEvent>), GameError> {
        let name = names::validate(&name)?;
        if self.players.len() >= self.settings.max_players {
            return Err(GameError::SessionFull(self.settings.max_players));
        }
        let key = names::key(&name);
        if self.names.contains_key(&key) {
            return Err(GameError::NameTaken);
        }
        if self.players.contains_key(&player_id) {
            return Err(GameError::BadRequest("duplicate player id".into()));
        }
        self.names.insert(key, player_id.clone());
        self.order.push(player_id.clone());
        let player = Player {
            id: player_id.clone(),
            name: name.clone(),
            score: 0.0,
        };
        self.standings.push(&player);
        self.players.insert(player_id.clone(), player);
        let ev = GameEvent::PlayerJoined(PlayerRef {
            player_id: player_id.clone(),
            name,
            total_players: self.players.len(),
        });
        Ok((Outcome::PlayerAdded { player_id }, vec![ev]))
    }

    fn drop_player(&mut self, id: &str) -> Result<PlayerRef, GameError> {
        let p = self.players.remove(id).ok_or(GameError::PlayerNotFound)?;
        self.names.remove(&names::key(&p.name));
        self.order.retain(|x| x != id);
        self.standings.invalidate();
        Ok(PlayerRef {
            player_id: p.id,
            name: p.name,
            total_players: self.players.len(),
        })
    }

    fn standings(&mut self) -> &Standings {
        if self.standings.is_stale() {
            let players = self
                .order
                .iter()
                .filter_map(|id| self.players.get(id))
                .map(|p| (p.id.as_str(), p.name.as_str(), p.score));
            self.standings.rebuild(players);
        }
        &self.standings
    }

    /// The top of the leaderboard.
    pub fn top(&mut self) -> Vec<Entry> {
        self.standings().top(TOP_N)
    }

    /// Every player, ranked.
    pub fn leaderboard(&mut self) -> Vec<Entry> {
        self.standings().all().to_vec()
    }

    /// A player's own line of the leaderboard.
    pub fn entry_of(&mut self, id: &str) -> Option<Entry> {
        self.standings().get(id).cloned()
    }

    /// The state as `view` may see it (contract section 6). `online` tells
    /// whether a player has a live connection; `online_count` is the total.
    pub fn snapshot(
        &mut self,
        view: &View,
        online_count: usize,
        online: &dyn Fn(&str) -> bool,
    ) -> serde_json::Value {
        use serde_json::json;
        let leaderboard = self.top();
        let mut snap = json!({
            "code": self.code,
            "title": self.title,
            "phase": self.phase,
            "round": null,
            "question": null,
            "totalPlayers": self.players.len(),
            "online": online_count,
            "leaderboard": leaderboard,
            "settings": self.settings,
        });
        match view {
            View::Player(pid) => {
                if let Some(e) = self.entry_of(pid) {
                    snap["me"] = json!({
                        "playerId": e.player_id,
                        "name": e.name,
                        "score": e.score,
                        "rank": e.rank,
                        "answers": {},
                    });
                }
            }
            View::Mc => {
                let list: Vec<_> = self
                    .players()
                    .map(|p| {
                        json!({"playerId": p.id, "name": p.name, "score": p.score, "online": online(&p.id)})
                    })
                    .collect();
                snap["players"] = serde_json::Value::Array(list);
            }
            View::Display => {}
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game() -> GameState {
        GameState::new("ABCDE", "Test", Settings::default())
    }

    fn add(
        g: &mut GameState,
        id: &str,
        name: &str,
    ) -> Result<(Outcome, Vec<GameEvent>), GameError> {
        g.apply(Command::AddPlayer {
            player_id: id.into(),
            name: name.into(),
        })
    }

    #[test]
    fn joining_emits_one_staff_event_with_the_count() {
        let mut g = game();
        let (out, ev) = add(&mut g, "p1", "Ada").unwrap();
        assert_eq!(
            out,
            Outcome::PlayerAdded {
                player_id: "p1".into()
            }
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].audience(), crate::game::Audience::Staff);
        match &ev[0] {
            GameEvent::PlayerJoined(r) => assert_eq!(r.total_players, 1),
            e => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn names_are_unique_ignoring_case() {
        let mut g = game();
        add(&mut g, "p1", "Ada").unwrap();
        assert_eq!(
            add(&mut g, "p2", " ADA ").unwrap_err(),
            GameError::NameTaken
        );
        assert!(matches!(add(&mut g, "p3", ""), Err(GameError::BadName(_))));
    }

    #[test]
    fn a_full_session_refuses_players() {
        let mut g = GameState::new(
            "ABCDE",
            "T",
            Settings {
                max_players: 1,
                ..Settings::default()
            },
        );
        add(&mut g, "p1", "Ada").unwrap();
        assert_eq!(
            add(&mut g, "p2", "Bob").unwrap_err(),
            GameError::SessionFull(1)
        );
    }

    #[test]
    fn removing_frees_the_name_and_reports_the_player() {
        let mut g = game();
        add(&mut g, "p1", "Ada").unwrap();
        let (out, ev) = g
            .apply(Command::RemovePlayer {
                player_id: "p1".into(),
            })
            .unwrap();
        assert_eq!(out, Outcome::PlayersGone(vec!["p1".into()]));
        assert!(matches!(&ev[0], GameEvent::PlayerRemoved(r) if r.total_players == 0));
        add(&mut g, "p2", "ada").unwrap();
        assert_eq!(
            g.apply(Command::RemovePlayer {
                player_id: "nope".into()
            })
            .unwrap_err(),
            GameError::PlayerNotFound
        );
    }

    #[test]
    fn reset_clears_everyone() {
        let mut g = game();
        add(&mut g, "p1", "Ada").unwrap();
        add(&mut g, "p2", "Bob").unwrap();
        let (out, ev) = g.apply(Command::ResetPlayers).unwrap();
        assert_eq!(out, Outcome::PlayersGone(vec!["p1".into(), "p2".into()]));
        assert_eq!(ev, vec![GameEvent::AllCleared {}]);
        assert_eq!(g.total_players(), 0);
    }

    #[test]
    fn nothing_happens_after_the_end() {
        let mut g = game();
        add(&mut g, "p1", "Ada").unwrap();
        let (_, ev) = g
            .apply(Command::End {
                reason: EndReason::Mc,
            })
            .unwrap();
        assert!(
            matches!(&ev[0], GameEvent::SessionEnded { leaderboard, .. } if leaderboard.len() == 1)
        );
        assert_eq!(g.phase, Phase::Ended);
        assert_eq!(
            add(&mut g, "p2", "Bob").unwrap_err(),
            GameError::SessionEnded
        );
    }

    #[test]
    fn only_the_mc_runs_the_session() {
        assert!(!Command::ResetPlayers.allowed_for(Role::Player));
        assert!(!Command::End {
            reason: EndReason::Mc
        }
        .allowed_for(Role::Display));
        assert!(Command::ResetPlayers.allowed_for(Role::Mc));
    }

    #[test]
    fn snapshots_differ_by_view() {
        let mut g = game();
        add(&mut g, "p1", "Ada").unwrap();
        let mc = g.snapshot(&View::Mc, 1, &|_| true);
        assert_eq!(mc["players"][0]["online"], true);
        let me = g.snapshot(&View::Player("p1".into()), 1, &|_| true);
        assert_eq!(me["me"]["rank"], 1);
        assert!(me.get("players").is_none());
        let d = g.snapshot(&View::Display, 1, &|_| true);
        assert!(d.get("players").is_none() && d.get("me").is_none());
        assert_eq!(d["phase"], "lobby");
    }
}
