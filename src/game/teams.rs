//! Team mode: players grouped in teams, scored by the sum or the mean of
//! their members' scores, or by one shared answer sheet per team.
//!
//! Teams live in the [`GameState`] like everything else and change only
//! through facts (`TeamCreated`, `TeamMemberSet`, `SheetAnswered`, ...), so
//! they survive restarts and replay exactly. Deciding the team commands is
//! in [`team_decide`](super::team_decide); this module holds the types, the
//! team standings and applying the team facts.
//!
//! Events meant for "a team" are emitted once per member with that
//! member as their audience (teams are small, bounded by `maxTeamSize`),
//! so the session's fan-out and replay need no team index.

use super::events::GameEvent;
use super::leaderboard;
use super::state::{Award, Events, GameState};
use super::PlayerId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Identifies a team within one session (`t1`, `t2`, ...; never reused).
pub type TeamId = String;

/// How a session plays in teams (setting `teams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TeamMode {
    /// No teams: every player for themselves.
    #[default]
    Off,
    /// Every member answers; a team scores the sum of its members' scores.
    Sum,
    /// Every member answers; a team scores the mean of its members' scores
    /// (fair to small teams).
    Mean,
    /// One answer sheet per team: any member writes it, the last write wins.
    Sheet,
}

impl TeamMode {
    pub fn is_off(&self) -> bool {
        *self == TeamMode::Off
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TeamMode::Off => "off",
            TeamMode::Sum => "sum",
            TeamMode::Mean => "mean",
            TeamMode::Sheet => "sheet",
        }
    }
}

/// Default for `maxTeams`.
pub const DEFAULT_MAX_TEAMS: usize = 50;
/// Default for `maxTeamSize`.
pub const DEFAULT_MAX_TEAM_SIZE: usize = 8;
/// Hard ceilings for the two limits, so team events stay small.
pub const CEILING_TEAMS: usize = 500;
pub const CEILING_TEAM_SIZE: usize = 50;

/// One team: its name and members in the order they joined it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub members: Vec<PlayerId>,
}

/// A team's answer to one question on its shared sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetEntry {
    pub value: Value,
    pub revision: u32,
    pub at_ms: u64,
    /// The member who wrote this revision.
    pub by: PlayerId,
}

/// Everything team mode keeps (empty when teams were never used; the
/// defaults keep snapshots of earlier versions readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Teams {
    /// Teams in creation order.
    pub list: Vec<Team>,
    /// Each player's team.
    pub of: HashMap<PlayerId, TeamId>,
    /// Teams ever created (the next id's number).
    pub created: u64,
    /// Shared sheets: question id -> team id -> entry.
    pub sheets: HashMap<String, HashMap<TeamId, SheetEntry>>,
    /// Awards given to a team as a whole (sheet marks, MC overrides):
    /// team id -> question id -> award.
    pub awards: HashMap<TeamId, BTreeMap<String, Award>>,
    /// Score and rank each team's members were last told.
    pub told: HashMap<TeamId, (f64, usize)>,
}

impl Teams {
    pub fn get(&self, id: &str) -> Option<&Team> {
        self.list.iter().find(|t| t.id == id)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Team> {
        self.list.iter_mut().find(|t| t.id == id)
    }
}

/// Which teams a team peer-marking assignment pairs (absent for players).
/// `markerId` is then the marking team; `markeeId` is the marked team for
/// a sheet, or the marked member when members answer on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamPair {
    pub marker_team: TeamId,
    pub markee_team: TeamId,
}

/// One line of the team leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamEntry {
    pub team_id: TeamId,
    pub name: String,
    pub score: f64,
    pub rank: usize,
    pub member_count: usize,
}

/// A team member as named in team events.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRef {
    pub player_id: PlayerId,
    pub name: String,
}

/// Rounds to hundredths so means print sensibly (and replay exactly).
fn hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl GameState {
    /// The team mode in force.
    pub fn team_mode(&self) -> TeamMode {
        self.settings.teams
    }

    /// Teams in creation order.
    pub fn teams(&self) -> &[Team] {
        &self.teams.list
    }

    /// A player's team, if they are in one.
    pub fn team_of(&self, player: &str) -> Option<&Team> {
        self.teams.of.get(player).and_then(|t| self.teams.get(t))
    }

    /// A team's sheet answer to a question.
    pub fn sheet_of(&self, team: &str, qid: &str) -> Option<&SheetEntry> {
        self.teams.sheets.get(qid)?.get(team)
    }

    /// A team's own award for a question (sheet mark or MC override).
    pub fn team_award_of(&self, team: &str, qid: &str) -> Option<&Award> {
        self.teams.awards.get(team)?.get(qid)
    }

    /// A team's points for one question: its own award when it has one;
    /// otherwise, when members answer on their own, the sum (or mean) of
    /// their awards for it.
    pub fn team_question_score(&self, t: &Team, qid: &str) -> Option<f64> {
        if let Some(a) = self.team_award_of(&t.id, qid) {
            return Some(a.score);
        }
        let n = t.members.len();
        let scores: Vec<f64> = t
            .members
            .iter()
            .filter_map(|m| self.award_of(m, qid).map(|a| a.score))
            .collect();
        match self.settings.teams {
            _ if scores.is_empty() => None,
            TeamMode::Sum => Some(scores.iter().sum()),
            TeamMode::Mean if n > 0 => Some(hundredths(scores.iter().sum::<f64>() / n as f64)),
            _ => None,
        }
    }

    /// A team's total (see [`team_question_score`](Self::team_question_score)).
    pub fn team_score(&self, t: &Team) -> f64 {
        let own: f64 = self
            .teams
            .awards
            .get(&t.id)
            .map_or(0.0, |m| m.values().map(|a| a.score).sum());
        let members = match self.settings.teams {
            TeamMode::Sum | TeamMode::Mean => {
                let own_q = self.teams.awards.get(&t.id);
                let sum: f64 = t
                    .members
                    .iter()
                    .flat_map(|m| self.awards.get(m).into_iter().flatten())
                    .filter(|(q, _)| !own_q.is_some_and(|o| o.contains_key(*q)))
                    .map(|(_, a)| a.score)
                    .sum();
                if self.settings.teams == TeamMode::Sum {
                    sum
                } else if t.members.is_empty() {
                    0.0
                } else {
                    sum / t.members.len() as f64
                }
            }
            _ => 0.0,
        };
        hundredths(own + members)
    }

    /// Every team, ranked (ties share a rank, creation order among them);
    /// empty when team mode is off.
    pub fn team_standings(&self) -> Vec<TeamEntry> {
        if self.settings.teams.is_off() {
            return Vec::new();
        }
        let scored: Vec<(&Team, f64)> = self
            .teams
            .list
            .iter()
            .map(|t| (t, self.team_score(t)))
            .collect();
        let count: HashMap<&str, usize> = scored
            .iter()
            .map(|(t, _)| (t.id.as_str(), t.members.len()))
            .collect();
        leaderboard::rank(
            scored
                .iter()
                .map(|(t, s)| (t.id.as_str(), t.name.as_str(), *s)),
        )
        .into_iter()
        .map(|e| TeamEntry {
            member_count: count.get(e.player_id.as_str()).copied().unwrap_or(0),
            team_id: e.player_id,
            name: e.name,
            score: e.score,
            rank: e.rank,
        })
        .collect()
    }

    /// The top of the team leaderboard, for leaderboard events; `None`
    /// when team mode is off (the field is then left out).
    pub fn team_top(&self) -> Option<Vec<TeamEntry>> {
        (!self.settings.teams.is_off()).then(|| {
            let mut all = self.team_standings();
            all.truncate(leaderboard::TOP_N);
            all
        })
    }

    /// Every team ranked, or `None` when team mode is off.
    pub fn team_all(&self) -> Option<Vec<TeamEntry>> {
        (!self.settings.teams.is_off()).then(|| self.team_standings())
    }

    /// Tells each team's members when its score or rank moved.
    pub(super) fn team_rescore(&mut self) -> Events {
        let mut events = Vec::new();
        for e in self.team_standings() {
            let now = (e.score, e.rank);
            if self.teams.told.get(&e.team_id) == Some(&now) {
                continue;
            }
            self.teams.told.insert(e.team_id.clone(), now);
            let members = self
                .teams
                .get(&e.team_id)
                .map(|t| t.members.clone())
                .unwrap_or_default();
            for m in members {
                events.push(GameEvent::TeamScoreUpdated {
                    to: m,
                    team_id: e.team_id.clone(),
                    name: e.name.clone(),
                    score: e.score,
                    rank: e.rank,
                });
            }
        }
        events
    }

    pub(super) fn members_of(&self, t: &Team) -> Vec<MemberRef> {
        t.members
            .iter()
            .filter_map(|m| self.players.get(m))
            .map(|p| MemberRef {
                player_id: p.id.clone(),
                name: p.name.clone(),
            })
            .collect()
    }

    /// `team:updated` for the staff and for each member.
    pub(super) fn team_updated(&self, team: &str) -> Events {
        let Some(t) = self.teams.get(team) else {
            return vec![];
        };
        let members = self.members_of(t);
        let event = |to: Option<PlayerId>| GameEvent::TeamUpdated {
            to,
            team_id: t.id.clone(),
            name: t.name.clone(),
            members: members.clone(),
        };
        std::iter::once(event(None))
            .chain(t.members.iter().map(|m| event(Some(m.clone()))))
            .collect()
    }

    pub(super) fn evolve_team_created(&mut self, team_id: &str, name: &str) -> Events {
        self.teams.created += 1;
        self.teams.list.push(Team {
            id: team_id.to_string(),
            name: name.to_string(),
            members: Vec::new(),
        });
        let mut events = self.team_updated(team_id);
        events.extend(self.team_rescore());
        events
    }

    pub(super) fn evolve_team_renamed(&mut self, team_id: &str, name: &str) -> Events {
        let Some(t) = self.teams.get_mut(team_id) else {
            return vec![];
        };
        t.name = name.to_string();
        // Everyone told the old name learns the new one.
        self.teams.told.remove(team_id);
        let mut events = self.team_updated(team_id);
        events.extend(self.team_rescore());
        events
    }

    /// Moves a player out of their team (if any) and into `team` (if any).
    pub(super) fn evolve_member_set(&mut self, player: &str, team: Option<&str>) -> Events {
        let old = self.unassign(player);
        if let Some(id) = team.filter(|t| self.teams.get(t).is_some()) {
            if let Some(t) = self.teams.get_mut(id) {
                t.members.push(player.to_string());
            }
            self.teams.of.insert(player.to_string(), id.to_string());
            // The newcomer is told the team's score as it stands.
            self.teams.told.remove(id);
        }
        let mut events = Vec::new();
        if let Some(o) = old.as_deref().filter(|o| Some(*o) != team) {
            events.extend(self.team_updated(o));
            // The player who left learns it: the old team without them.
            if let Some(t) = self.teams.get(o) {
                events.push(GameEvent::TeamUpdated {
                    to: Some(player.to_string()),
                    team_id: t.id.clone(),
                    name: t.name.clone(),
                    members: self.members_of(t),
                });
            }
        }
        if let Some(t) = team {
            events.extend(self.team_updated(t));
        }
        // Players' own scores do not move with their team: only teams'.
        events.extend(self.team_rescore());
        events
    }

    /// Takes a player out of their team; returns the team they were in.
    pub(super) fn unassign(&mut self, player: &str) -> Option<TeamId> {
        let old = self.teams.of.remove(player)?;
        if let Some(t) = self.teams.get_mut(&old) {
            t.members.retain(|m| m != player);
        }
        Some(old)
    }

    /// Removes a team; its members stay in the session without a team.
    /// With `into`, the members move there, and the target keeps its own
    /// sheet and awards, taking the removed team's where it has none.
    pub(super) fn evolve_team_removed(&mut self, team_id: &str, into: Option<&str>) -> Events {
        let Some(i) = self.teams.list.iter().position(|t| t.id == team_id) else {
            return vec![];
        };
        let gone = self.teams.list.remove(i);
        for m in &gone.members {
            self.teams.of.remove(m);
        }
        let awards = self.teams.awards.remove(team_id).unwrap_or_default();
        let mut sheets = Vec::new();
        for (q, m) in self.teams.sheets.iter_mut() {
            if let Some(e) = m.remove(team_id) {
                sheets.push((q.clone(), e));
            }
        }
        self.teams.told.remove(team_id);
        let target = into.filter(|t| self.teams.get(t).is_some());
        if let Some(t) = target {
            // The newcomers are told the merged team's standing.
            self.teams.told.remove(t);
            for m in &gone.members {
                self.teams.of.insert(m.clone(), t.to_string());
            }
            if let Some(team) = self.teams.get_mut(t) {
                team.members.extend(gone.members.iter().cloned());
            }
            let own = self.teams.awards.entry(t.to_string()).or_default();
            for (q, a) in awards {
                own.entry(q).or_insert(a);
            }
            for (q, e) in sheets {
                self.teams
                    .sheets
                    .entry(q)
                    .or_default()
                    .entry(t.to_string())
                    .or_insert(e);
            }
        }
        let mut events = Vec::new();
        let removed = |to: Option<PlayerId>| GameEvent::TeamRemoved {
            to,
            team_id: gone.id.clone(),
            name: gone.name.clone(),
            merged_into: target.map(str::to_string),
        };
        events.push(removed(None));
        events.extend(gone.members.iter().map(|m| removed(Some(m.clone()))));
        if let Some(t) = target {
            events.extend(self.team_updated(t));
        }
        events.extend(self.team_rescore());
        events
    }

    /// A member wrote the team's sheet.
    pub(super) fn evolve_sheet(&mut self, team: &str, entry: SheetEntry, qid: &str) -> Events {
        let by_name = self
            .players
            .get(&entry.by)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let view = |to: PlayerId| GameEvent::TeamSheetUpdated {
            to,
            team_id: team.to_string(),
            question_id: qid.to_string(),
            answer: entry.value.clone(),
            revision: entry.revision,
            player_id: entry.by.clone(),
            name: by_name.clone(),
        };
        let mut events: Events = self
            .teams
            .get(team)
            .map(|t| t.members.iter().map(|m| view(m.clone())).collect())
            .unwrap_or_default();
        let by = entry.by.clone();
        self.teams
            .sheets
            .entry(qid.to_string())
            .or_default()
            .insert(team.to_string(), entry);
        events.push(GameEvent::AnswerSubmitted {
            player_id: by,
            question_id: qid.to_string(),
            answered_count: self.answered_count(qid),
            total_players: self.players.len(),
        });
        events
    }

    /// Answers in for a question: players' own plus team sheets.
    pub(super) fn answered_count(&self, qid: &str) -> usize {
        self.answers.get(qid).map_or(0, HashMap::len)
            + self.teams.sheets.get(qid).map_or(0, HashMap::len)
    }

    /// A cleared roster empties every team (the teams stay).
    pub(super) fn clear_team_members(&mut self) {
        for t in &mut self.teams.list {
            t.members.clear();
        }
        self.teams.of.clear();
        self.teams.sheets.clear();
        self.teams.awards.clear();
        self.teams.told.clear();
    }

    /// The team part of a snapshot. Everyone: `teamLeaderboard` (top 10)
    /// and `teams`; staff see members by name; a player sees every team's
    /// name and size (to pick one) and, as `me.team`, their own team with
    /// its members and its sheet. The MC also sees `teamAnswers` for the
    /// open question. Nothing is added when team mode is off.
    pub(super) fn team_snapshot(&self, snap: &mut Value, view: &super::state::View) {
        use super::state::View;
        if self.settings.teams.is_off() {
            return;
        }
        let standings = self.team_standings();
        snap["teamLeaderboard"] = json!(standings
            .iter()
            .take(leaderboard::TOP_N)
            .collect::<Vec<_>>());
        let by_id: HashMap<&str, &TeamEntry> =
            standings.iter().map(|e| (e.team_id.as_str(), e)).collect();
        let line = |t: &Team, members: bool| {
            let e = by_id.get(t.id.as_str());
            let mut v = json!({
                "teamId": t.id, "name": t.name, "memberCount": t.members.len(),
                "score": e.map_or(0.0, |e| e.score), "rank": e.map_or(0, |e| e.rank),
            });
            if members {
                v["members"] = json!(self.members_of(t));
            }
            v
        };
        let staff = !matches!(view, View::Player(_));
        snap["teams"] = json!(self
            .teams
            .list
            .iter()
            .map(|t| line(t, staff))
            .collect::<Vec<_>>());
        match view {
            View::Player(pid) => {
                let Some(t) = self.team_of(pid) else {
                    if snap.get("me").is_some() {
                        snap["me"]["team"] = Value::Null;
                    }
                    return;
                };
                let mut mine = line(t, true);
                let sheet: serde_json::Map<String, Value> = self
                    .teams
                    .sheets
                    .iter()
                    .filter_map(|(q, m)| m.get(&t.id).map(|e| (q.clone(), self.sheet_view(e))))
                    .collect();
                mine["sheet"] = Value::Object(sheet);
                let awards: serde_json::Map<String, Value> = self
                    .teams
                    .awards
                    .get(&t.id)
                    .into_iter()
                    .flatten()
                    .map(|(q, a)| (q.clone(), json!({"score": a.score, "by": a.by.kind()})))
                    .collect();
                mine["awards"] = Value::Object(awards);
                if snap.get("me").is_some() {
                    snap["me"]["team"] = mine;
                }
            }
            View::Mc => {
                if let Some(q) = self.current_question() {
                    let answers: serde_json::Map<String, Value> = self
                        .teams
                        .sheets
                        .get(&q.id)
                        .into_iter()
                        .flatten()
                        .map(|(t, e)| (t.clone(), self.sheet_view(e)))
                        .collect();
                    snap["teamAnswers"] = Value::Object(answers);
                }
            }
            View::Display => {}
        }
    }

    fn sheet_view(&self, e: &SheetEntry) -> Value {
        json!({
            "answer": e.value, "revision": e.revision, "playerId": e.by,
            "name": self.players.get(&e.by).map(|p| p.name.clone()),
        })
    }
}
