//! Deciding team commands, and the team parts of joining, answering,
//! revealing and peer marking. Like [`decide`](super::decide), nothing
//! here mutates: every choice (a new team's id, the sheet's revision, the
//! pairs of teams that mark each other, the awards) is written into facts.

use super::command::{Command, Outcome};
use super::decide::{auto_score, check_score, Decision};
use super::fact::Fact;
use super::marking::{self, Assignment};
use super::quiz::Question;
use super::state::{Award, GameState, MarkedBy};
use super::teams::{TeamId, TeamMode, TeamPair, CEILING_TEAMS, CEILING_TEAM_SIZE};
use super::{names, GameError, PlayerId};
use serde_json::Value;
use std::collections::BTreeMap;

/// A quiz's team limits must be within the ceilings (so team events stay small).
pub(super) fn check_team_limits(s: &super::state::Settings) -> Result<(), GameError> {
    if !(1..=CEILING_TEAMS).contains(&s.max_teams) {
        return Err(GameError::InvalidQuiz(format!(
            "settings.maxTeams: must be 1 to {CEILING_TEAMS}"
        )));
    }
    if !(1..=CEILING_TEAM_SIZE).contains(&s.max_team_size) {
        return Err(GameError::InvalidQuiz(format!(
            "settings.maxTeamSize: must be 1 to {CEILING_TEAM_SIZE}"
        )));
    }
    Ok(())
}

fn is_mc(a: Option<&Award>) -> bool {
    matches!(
        a,
        Some(Award {
            by: MarkedBy::Mc,
            ..
        })
    )
}

impl GameState {
    fn teams_on(&self) -> Result<(), GameError> {
        if self.settings.teams.is_off() {
            Err(GameError::TeamsOff)
        } else {
            Ok(())
        }
    }

    fn known_team(&self, id: &str) -> Result<&super::teams::Team, GameError> {
        self.teams.get(id).ok_or(GameError::TeamNotFound)
    }

    /// A valid team name no other team has (compared like player names).
    fn team_name(&self, raw: &str, except: Option<&str>) -> Result<String, GameError> {
        let name = names::validate(raw)?;
        let key = names::key(&name);
        let taken = self
            .teams
            .list
            .iter()
            .any(|t| Some(t.id.as_str()) != except && names::key(&t.name) == key);
        if taken {
            return Err(GameError::TeamNameTaken);
        }
        Ok(name)
    }

    fn new_team(&self, raw: &str) -> Result<Fact, GameError> {
        self.teams_on()?;
        let name = self.team_name(raw, None)?;
        if self.teams.list.len() >= self.settings.max_teams {
            return Err(GameError::TeamsFull(self.settings.max_teams));
        }
        Ok(Fact::TeamCreated {
            team_id: format!("t{}", self.teams.created + 1),
            name,
        })
    }

    fn room_in(&self, team: &super::teams::Team, joining: usize) -> Result<(), GameError> {
        if team.members.len() + joining > self.settings.max_team_size {
            return Err(GameError::TeamFull(
                team.name.clone(),
                self.settings.max_team_size,
            ));
        }
        Ok(())
    }

    /// The facts that put a joining player into the team they named: an
    /// existing team by id or by name, else a new team with that name.
    pub(super) fn team_join_facts(
        &self,
        player_id: &PlayerId,
        wanted: &str,
    ) -> Result<Vec<Fact>, GameError> {
        self.teams_on()?;
        let wanted = wanted.trim();
        let key = names::key(wanted);
        let existing = self
            .teams
            .list
            .iter()
            .find(|t| t.id == wanted || names::key(&t.name) == key);
        let mut facts = Vec::new();
        let team_id = match existing {
            Some(t) => {
                self.room_in(t, 1)?;
                t.id.clone()
            }
            None => {
                let f = self.new_team(wanted)?;
                let Fact::TeamCreated { team_id, .. } = &f else {
                    return Err(GameError::TeamNotFound);
                };
                let id = team_id.clone();
                facts.push(f);
                id
            }
        };
        facts.push(Fact::TeamMemberSet {
            player_id: player_id.clone(),
            team_id: Some(team_id),
        });
        Ok(facts)
    }

    /// Decides the MC's team commands.
    pub(super) fn decide_team(&self, cmd: Command) -> Result<Decision, GameError> {
        let one = |f: Fact| Decision {
            facts: vec![f],
            outcome: Outcome::Done,
        };
        match cmd {
            Command::SetTeamMode {
                mode,
                max_teams,
                max_team_size,
            } => {
                if self.openings > 0 {
                    return Err(GameError::TeamModeLocked);
                }
                let teams = max_teams.unwrap_or(self.settings.max_teams);
                let size = max_team_size.unwrap_or(self.settings.max_team_size);
                if !(1..=CEILING_TEAMS).contains(&teams) {
                    return Err(GameError::BadRequest(format!(
                        "maxTeams must be 1 to {CEILING_TEAMS}"
                    )));
                }
                if !(1..=CEILING_TEAM_SIZE).contains(&size) {
                    return Err(GameError::BadRequest(format!(
                        "maxTeamSize must be 1 to {CEILING_TEAM_SIZE}"
                    )));
                }
                let mut settings = self.settings.clone();
                settings.teams = mode;
                settings.max_teams = teams;
                settings.max_team_size = size;
                Ok(one(Fact::SettingsChanged { settings }))
            }
            Command::CreateTeam { name } => {
                let f = self.new_team(&name)?;
                let Fact::TeamCreated { team_id, .. } = &f else {
                    return Err(GameError::TeamNotFound);
                };
                let outcome = Outcome::TeamCreated {
                    team_id: team_id.clone(),
                };
                Ok(Decision {
                    facts: vec![f],
                    outcome,
                })
            }
            Command::RenameTeam { team_id, name } => {
                self.known_team(&team_id)?;
                let name = self.team_name(&name, Some(&team_id))?;
                Ok(one(Fact::TeamRenamed { team_id, name }))
            }
            Command::RemoveTeam { team_id } => {
                self.known_team(&team_id)?;
                Ok(one(Fact::TeamRemoved {
                    team_id,
                    into: None,
                }))
            }
            Command::MergeTeams { from, into } => {
                let f = self.known_team(&from)?;
                let t = self.known_team(&into)?;
                if from == into {
                    return Err(GameError::BadRequest(
                        "a team cannot be merged into itself".into(),
                    ));
                }
                self.room_in(t, f.members.len())?;
                Ok(one(Fact::TeamRemoved {
                    team_id: from,
                    into: Some(into),
                }))
            }
            Command::SetTeam { player_id, team_id } => {
                if !self.players.contains_key(&player_id) {
                    return Err(GameError::PlayerNotFound);
                }
                let current = self.teams.of.get(&player_id);
                if current == team_id.as_ref() {
                    return Ok(Decision::done_empty());
                }
                if let Some(t) = &team_id {
                    self.teams_on()?;
                    self.room_in(self.known_team(t)?, 1)?;
                }
                Ok(one(Fact::TeamMemberSet { player_id, team_id }))
            }
            Command::OverrideTeamScore {
                team_id,
                question_id,
                score,
            } => {
                self.known_team(&team_id)?;
                let q = self
                    .question(&question_id)
                    .ok_or_else(|| GameError::QuestionNotFound(question_id.clone()))?;
                check_score(score, q.points)?;
                Ok(one(Fact::TeamScoreOverridden {
                    team_id,
                    question_id,
                    score,
                }))
            }
            _ => Err(GameError::BadRequest("not a team command".into())),
        }
    }

    /// In sheet mode, a member's answer goes on the team's sheet: the same
    /// answer again changes nothing, another one is the next revision.
    pub(super) fn decide_sheet_answer(
        &self,
        player: PlayerId,
        qid: String,
        value: Value,
        now_ms: u64,
    ) -> Option<Decision> {
        if self.settings.teams != TeamMode::Sheet {
            return None;
        }
        let team = self.teams.of.get(&player)?.clone();
        let previous = self.sheet_of(&team, &qid);
        if let Some(e) = previous.filter(|e| e.value == value) {
            return Some(Decision {
                facts: vec![],
                outcome: Outcome::Answer {
                    question_id: qid,
                    revision: e.revision,
                },
            });
        }
        let revision = previous.map_or(1, |e| e.revision + 1);
        Some(Decision {
            facts: vec![Fact::SheetAnswered {
                team_id: team,
                player_id: player,
                question_id: qid.clone(),
                value,
                revision,
                at_ms: now_ms,
            }],
            outcome: Outcome::Answer {
                question_id: qid,
                revision,
            },
        })
    }

    /// Every answer to a question's value: players' own and team sheets'.
    pub(super) fn all_answer_values(&self, qid: &str) -> Vec<&Value> {
        let own = self.answers.get(qid).into_iter().flat_map(|m| m.values());
        let sheets = self.teams.sheets.get(qid).into_iter().flatten();
        own.map(|a| &a.value)
            .chain(sheets.map(|(_, e)| &e.value))
            .collect()
    }

    /// Automatic awards for team sheets at a reveal (teams in creation
    /// order; an MC override stands).
    pub(super) fn sheet_awards(&self, q: &Question) -> Vec<(TeamId, f64)> {
        let (opened, limit) = self.timing.get(&q.id).copied().unwrap_or((0, None));
        self.teams
            .list
            .iter()
            .filter(|t| !is_mc(self.team_award_of(&t.id, &q.id)))
            .filter_map(|t| {
                let e = self.sheet_of(&t.id, &q.id)?;
                let s = auto_score(
                    q,
                    &e.value,
                    self.settings.speed_bonus,
                    opened,
                    e.at_ms,
                    limit,
                );
                Some((t.id.clone(), s))
            })
            .collect()
    }

    /// Peer marking in team mode pairs teams (a random cycle, so no team
    /// marks itself): with a sheet, each team marks another team's sheet;
    /// otherwise each team marks every answering member of another team.
    /// Fewer than two teams with answers: no pairs (the MC marks).
    pub(super) fn team_assignments(
        &self,
        round_id: &str,
        peer: &[&Question],
        seed: u64,
    ) -> Vec<Assignment> {
        let sheet = self.settings.teams == TeamMode::Sheet;
        let answered = |who: &str| -> Vec<String> {
            peer.iter()
                .filter(|q| {
                    if sheet {
                        self.sheet_of(who, &q.id).is_some()
                    } else {
                        self.answer_of(who, &q.id).is_some()
                    }
                })
                .map(|q| q.id.clone())
                .collect()
        };
        let markees: Vec<TeamId> = self
            .teams
            .list
            .iter()
            .filter(|t| {
                if sheet {
                    !answered(&t.id).is_empty()
                } else {
                    t.members.iter().any(|m| !answered(m).is_empty())
                }
            })
            .map(|t| t.id.clone())
            .collect();
        let mut out = Vec::new();
        for (marker, markee) in marking::derange(&markees, seed) {
            let pair = TeamPair {
                marker_team: marker.clone(),
                markee_team: markee.clone(),
            };
            let who: Vec<String> = if sheet {
                vec![markee.clone()]
            } else {
                self.teams
                    .get(&markee)
                    .map(|t| t.members.clone())
                    .unwrap_or_default()
            };
            for w in who {
                let qs = answered(&w);
                if qs.is_empty() {
                    continue;
                }
                out.push(Assignment {
                    assignment_id: format!("{round_id}-{}", out.len() + 1),
                    round_id: round_id.to_string(),
                    marker_id: marker.clone(),
                    markee_id: w,
                    question_ids: qs,
                    marks: BTreeMap::new(),
                    teams: Some(pair.clone()),
                });
            }
        }
        out
    }

    /// Whether `player` may mark `a`: its marker, or a member of its
    /// marking team.
    pub(super) fn may_mark(&self, a: &Assignment, player: &str) -> bool {
        match &a.teams {
            Some(_) => self.teams.of.get(player) == Some(&a.marker_id),
            None => a.marker_id == player,
        }
    }

    /// The peer awards for team sheets when marking ends.
    pub(super) fn sheet_peer_awards(
        &self,
        assignments: &[Assignment],
    ) -> Vec<(TeamId, String, f64, TeamId)> {
        let mut out = Vec::new();
        for a in assignments.iter().filter(|a| a.is_sheet()) {
            if self.teams.get(&a.markee_id).is_none() {
                continue;
            }
            for (qid, score) in &a.marks {
                if !is_mc(self.team_award_of(&a.markee_id, qid)) {
                    out.push((
                        a.markee_id.clone(),
                        qid.clone(),
                        *score,
                        a.marker_id.clone(),
                    ));
                }
            }
        }
        out
    }
}

impl Decision {
    fn done_empty() -> Self {
        Decision {
            facts: vec![],
            outcome: Outcome::Done,
        }
    }
}
