//! Deciding: a command and the current state in, the facts it produces (or a
//! typed refusal) out. Nothing here mutates the state; every choice (ids,
//! normalized names and answers, points, marking pairs, times) is made here
//! and written into the facts, so applying them later re-decides nothing.

use super::command::{Command, Outcome};
use super::events::{ChatFrom, CloseReason};
use super::fact::Fact;
use super::marking::{self, Assignment};
use super::quiz::{self, Marking, Question, Quiz};
use super::state::{Award, GameState, MarkedBy, Phase, Settings, MAX_CHAT_CHARS};
use super::{names, scoring, GameError, PlayerId};
use serde_json::Value;
use std::collections::BTreeMap;

/// A decided command: the facts to record and what its caller is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub facts: Vec<Fact>,
    pub outcome: Outcome,
}

impl Decision {
    fn done(facts: Vec<Fact>) -> Self {
        Decision {
            facts,
            outcome: Outcome::Done,
        }
    }

    fn one(fact: Fact) -> Self {
        Decision::done(vec![fact])
    }
}

fn wrong(phase: Phase) -> GameError {
    GameError::WrongPhase(phase.as_str())
}

fn is_mc_award(a: Option<&Award>) -> bool {
    matches!(
        a,
        Some(Award {
            by: MarkedBy::Mc,
            ..
        })
    )
}

impl GameState {
    /// The one decision function: what `cmd` would change, or why not.
    pub fn decide(&self, cmd: Command) -> Result<Decision, GameError> {
        if self.phase == Phase::Ended {
            return Err(GameError::SessionEnded);
        }
        match cmd {
            Command::AddPlayer {
                player_id,
                name,
                device_id,
                team,
            } => self.decide_join(player_id, &name, device_id, team),
            Command::Leave { player_id } => {
                self.known(&player_id)?;
                Ok(Decision::one(Fact::PlayerLeft { player_id }))
            }
            Command::RemovePlayer { player_id } => self.decide_remove(player_id),
            Command::Unban { ban_id } => {
                if !self.bans.iter().any(|b| b.ban_id == ban_id) {
                    return Err(GameError::BanNotFound);
                }
                Ok(Decision::one(Fact::PlayerUnbanned { ban_id }))
            }
            Command::ShowLeaderboard { shown } => {
                self.in_phase(&[Phase::Lobby, Phase::Closed])?;
                if shown == self.leaderboard_shown {
                    return Ok(Decision::done(vec![]));
                }
                Ok(Decision::one(Fact::LeaderboardShown { shown }))
            }
            Command::ResetPlayers => Ok(Decision::one(Fact::PlayersCleared {
                player_ids: self.order.clone(),
            })),
            Command::LoadQuiz { quiz } => self.decide_quiz(quiz),
            Command::StartRound { round_id } => {
                self.in_phase(&[Phase::Lobby, Phase::Closed])?;
                let round = self.round_index(&round_id)?;
                Ok(Decision::one(Fact::RoundStarted { round }))
            }
            Command::OpenQuestion {
                question_id,
                time_limit_sec,
                now_ms,
            } => self.decide_open(question_id, time_limit_sec, now_ms),
            Command::CloseQuestion { reason, opening } => {
                self.decide_close(reason, opening).map(Decision::one)
            }
            Command::Reveal => self.decide_reveal(),
            Command::StartMarking { round_id, seed } => self.decide_marking(round_id, seed),
            Command::EndMarking => self.decide_end_marking(),
            Command::SubmitAnswer {
                player_id,
                question_id,
                answer,
                now_ms,
            } => self.decide_answer(player_id, question_id, &answer, now_ms),
            Command::SubmitMark {
                player_id,
                assignment_id,
                question_id,
                score,
            } => self.decide_mark(&player_id, assignment_id, question_id, score),
            Command::OverrideScore {
                player_id,
                question_id,
                score,
            } => {
                self.known(&player_id)?;
                let q = self
                    .question(&question_id)
                    .ok_or_else(|| GameError::QuestionNotFound(question_id.clone()))?;
                check_score(score, q.points)?;
                Ok(Decision::one(Fact::ScoreOverridden {
                    player_id,
                    question_id,
                    score,
                }))
            }
            Command::Chat { from, text } => self.decide_chat(from, &text),
            Command::SetChat { enabled } => Ok(Decision::one(Fact::SettingsChanged {
                settings: Settings {
                    chat: enabled,
                    ..self.settings.clone()
                },
            })),
            Command::End { reason } => Ok(Decision::one(Fact::Ended { reason })),
            cmd @ (Command::SetTeamMode { .. }
            | Command::CreateTeam { .. }
            | Command::RenameTeam { .. }
            | Command::RemoveTeam { .. }
            | Command::MergeTeams { .. }
            | Command::SetTeam { .. }
            | Command::OverrideTeamScore { .. }) => self.decide_team(cmd),
        }
    }

    fn known(&self, player: &str) -> Result<(), GameError> {
        if self.players.contains_key(player) {
            Ok(())
        } else {
            Err(GameError::PlayerNotFound)
        }
    }

    fn in_phase(&self, allowed: &[Phase]) -> Result<(), GameError> {
        if allowed.contains(&self.phase) {
            Ok(())
        } else {
            Err(wrong(self.phase))
        }
    }

    fn round_index(&self, round_id: &str) -> Result<usize, GameError> {
        self.quiz
            .rounds
            .iter()
            .position(|r| r.id == round_id)
            .ok_or_else(|| GameError::QuestionNotFound(format!("round {round_id}")))
    }

    fn decide_join(
        &self,
        player_id: PlayerId,
        raw: &str,
        device_id: Option<String>,
        team: Option<String>,
    ) -> Result<Decision, GameError> {
        let name = names::validate(raw)?;
        if let Some(d) = &device_id {
            check_device(d)?;
        }
        let key = names::key(&name);
        // The same join again (its id is the caller's: a retry through
        // another node after a takeover): already done, nothing new.
        if self.names.get(&key) == Some(&player_id)
            && self
                .players
                .get(&player_id)
                .is_some_and(|p| p.device == device_id)
        {
            return Ok(Decision {
                facts: Vec::new(),
                outcome: Outcome::PlayerAdded { player_id },
            });
        }
        // Kept out before anything else: a removed player learns why, not
        // that the session is full or the name taken.
        if self
            .bans
            .iter()
            .any(|b| b.key == key || (b.device.is_some() && b.device == device_id))
        {
            return Err(GameError::Banned);
        }
        if self.players.len() >= self.settings.max_players {
            return Err(GameError::SessionFull(self.settings.max_players));
        }
        if self.names.contains_key(&key) {
            return Err(GameError::NameTaken);
        }
        if self.players.contains_key(&player_id) {
            return Err(GameError::BadRequest("duplicate player id".into()));
        }
        let mut facts = vec![Fact::PlayerJoined {
            player_id: player_id.clone(),
            name,
            device_id,
        }];
        if let Some(team) = team.filter(|t| !t.trim().is_empty()) {
            facts.extend(self.team_join_facts(&player_id, &team)?);
        }
        Ok(Decision {
            facts,
            outcome: Outcome::PlayerAdded { player_id },
        })
    }

    /// A removal keeps the player out: their name's key and device are
    /// decided here, so the ban never depends on state that later changes.
    fn decide_remove(&self, player_id: PlayerId) -> Result<Decision, GameError> {
        let p = self
            .players
            .get(&player_id)
            .ok_or(GameError::PlayerNotFound)?;
        Ok(Decision::done(vec![
            Fact::PlayerRemoved {
                player_id: player_id.clone(),
            },
            Fact::PlayerBanned {
                ban_id: player_id.clone(),
                player_id,
                name: p.name.clone(),
                key: names::key(&p.name),
                device_id: p.device.clone(),
            },
        ]))
    }

    fn decide_quiz(&self, quiz: Quiz) -> Result<Decision, GameError> {
        self.in_phase(&[Phase::Lobby, Phase::Closed])?;
        quiz::validate(&quiz).map_err(|e| GameError::InvalidQuiz(e.to_string()))?;
        if let Some(s) = &quiz.settings {
            super::team_decide::check_team_limits(s)?;
        }
        let settings = match &quiz.settings {
            Some(s) => {
                let cap = self.settings.max_players.max(s.max_players);
                Settings {
                    max_players: s.max_players.min(cap),
                    ..s.clone()
                }
            }
            None => self.settings.clone(),
        };
        Ok(Decision::one(Fact::QuizLoaded { quiz, settings }))
    }

    /// The question after the current one, in quiz order.
    pub(super) fn next_position(&self) -> Option<(usize, usize)> {
        let (mut r, mut i) = match (&self.current, self.round) {
            (Some(c), _) => (c.round, c.index + 1),
            (None, Some(r)) => (r, 0),
            (None, None) => (0, 0),
        };
        while r < self.quiz.rounds.len() {
            if i < self.quiz.rounds[r].questions.len() {
                return Some((r, i));
            }
            r += 1;
            i = 0;
        }
        None
    }

    fn decide_open(
        &self,
        question_id: Option<String>,
        time_limit_sec: Option<u32>,
        now_ms: u64,
    ) -> Result<Decision, GameError> {
        self.in_phase(&[Phase::Lobby, Phase::Closed])?;
        let (round, index) = match &question_id {
            Some(id) => self
                .find(id)
                .ok_or_else(|| GameError::QuestionNotFound(id.clone()))?,
            None => self
                .next_position()
                .ok_or_else(|| GameError::QuestionNotFound("no questions left".into()))?,
        };
        if time_limit_sec.is_some_and(|t| t > 3600) {
            return Err(GameError::BadRequest(
                "timeLimitSec must be at most 3600".into(),
            ));
        }
        let q = &self.quiz.rounds[round].questions[index];
        // An explicit 0 opens the question without a timer.
        let limit_ms = time_limit_sec
            .or(q.time_limit_sec)
            .filter(|t| *t > 0)
            .map(|t| t as u64 * 1000);
        Ok(Decision {
            facts: vec![Fact::QuestionOpened {
                round,
                index,
                at_ms: now_ms,
                limit_ms,
            }],
            outcome: Outcome::QuestionOpened {
                question_id: q.id.clone(),
                deadline: limit_ms.map(|l| now_ms + l),
            },
        })
    }

    fn decide_close(&self, reason: CloseReason, opening: Option<u64>) -> Result<Fact, GameError> {
        let c = self.current.as_ref().ok_or(wrong(self.phase))?;
        if self.phase != Phase::Question || opening.is_some_and(|o| o != c.opening) {
            return Err(wrong(self.phase));
        }
        Ok(Fact::QuestionClosed { reason })
    }

    fn decide_reveal(&self) -> Result<Decision, GameError> {
        let mut facts = Vec::new();
        match self.phase {
            Phase::Question => facts.push(self.decide_close(CloseReason::Mc, None)?),
            Phase::Closed if self.current.is_some() => {}
            p => return Err(wrong(p)),
        }
        let q = self.current_question().ok_or(wrong(self.phase))?;
        let answers = self.answers.get(&q.id);
        let distribution = q.choices.as_ref().map(|choices| {
            let mut counts = vec![0usize; choices.len()];
            for v in self.all_answer_values(&q.id) {
                if let Some(i) = v.as_u64().filter(|i| (*i as usize) < counts.len()) {
                    counts[i as usize] += 1;
                }
            }
            counts
        });
        let mut awards = Vec::new();
        let mut team_awards = Vec::new();
        if q.marking() == Marking::Auto {
            team_awards = self.sheet_awards(q);
            let (opened, limit) = self.timing.get(&q.id).copied().unwrap_or((0, None));
            // Join order, so the fact (and the log) is the same on every run.
            for pid in &self.order {
                let Some(a) = answers.and_then(|m| m.get(pid)) else {
                    continue;
                };
                // An MC override stands over automatic marking.
                if is_mc_award(self.award_of(pid, &q.id)) {
                    continue;
                }
                let score = auto_score(
                    q,
                    &a.value,
                    self.settings.speed_bonus,
                    opened,
                    a.at_ms,
                    limit,
                );
                awards.push((pid.clone(), score));
            }
        }
        facts.push(Fact::AnswerRevealed {
            distribution,
            awards,
            team_awards,
        });
        Ok(Decision::done(facts))
    }

    fn decide_marking(&self, round_id: Option<String>, seed: u64) -> Result<Decision, GameError> {
        self.in_phase(&[Phase::Lobby, Phase::Closed])?;
        let r = match &round_id {
            Some(id) => self.round_index(id)?,
            None => self.round.ok_or_else(|| {
                GameError::BadRequest("no round is current; name one with roundId".into())
            })?,
        };
        let round = &self.quiz.rounds[r];
        let peer: Vec<&Question> = round
            .questions
            .iter()
            .filter(|q| q.marking() == Marking::Peer)
            .collect();
        if peer.is_empty() {
            return Err(GameError::BadRequest(format!(
                "round {} has no peer-marked questions",
                round.id
            )));
        }
        if !self.settings.teams.is_off() && !self.teams.list.is_empty() {
            return Ok(Decision::one(Fact::MarkingStarted {
                round_id: round.id.clone(),
                assignments: self.team_assignments(&round.id, &peer, seed),
            }));
        }
        let answered = |pid: &PlayerId| -> Vec<String> {
            peer.iter()
                .filter(|q| self.answers.get(&q.id).is_some_and(|m| m.contains_key(pid)))
                .map(|q| q.id.clone())
                .collect()
        };
        let markees: Vec<PlayerId> = self
            .order
            .iter()
            .filter(|p| !answered(p).is_empty())
            .cloned()
            .collect();
        let assignments = marking::derange(&markees, seed)
            .into_iter()
            .enumerate()
            .map(|(n, (marker, markee))| Assignment {
                assignment_id: format!("{}-{}", round.id, n + 1),
                round_id: round.id.clone(),
                question_ids: answered(&markee),
                marker_id: marker,
                markee_id: markee,
                marks: BTreeMap::new(),
                teams: None,
            })
            .collect();
        Ok(Decision::one(Fact::MarkingStarted {
            round_id: round.id.clone(),
            assignments,
        }))
    }

    fn decide_mark(
        &self,
        player: &str,
        assignment_id: String,
        question_id: String,
        score: f64,
    ) -> Result<Decision, GameError> {
        if self.phase != Phase::Marking {
            return Err(wrong(self.phase));
        }
        let m = self.marking.as_ref().ok_or(wrong(Phase::Marking))?;
        let a = m
            .find(&assignment_id)
            .filter(|a| self.may_mark(a, player))
            .ok_or(GameError::AssignmentNotFound)?;
        if !a.question_ids.contains(&question_id) {
            return Err(GameError::QuestionNotFound(question_id));
        }
        let points = self
            .question(&question_id)
            .map(|q| q.points)
            .ok_or_else(|| GameError::QuestionNotFound(question_id.clone()))?;
        check_score(score, points)?;
        if a.marks.get(&question_id) == Some(&score) {
            return Ok(Decision::done(vec![]));
        }
        Ok(Decision::one(Fact::MarkGiven {
            assignment_id,
            question_id,
            score,
        }))
    }

    fn decide_end_marking(&self) -> Result<Decision, GameError> {
        if self.phase != Phase::Marking {
            return Err(wrong(self.phase));
        }
        let m = self.marking.as_ref().ok_or(wrong(self.phase))?;
        let mut awards = Vec::new();
        for a in &m.assignments {
            if a.is_sheet() || !self.players.contains_key(&a.markee_id) {
                continue;
            }
            for (qid, score) in &a.marks {
                if !is_mc_award(self.award_of(&a.markee_id, qid)) {
                    awards.push((
                        a.markee_id.clone(),
                        qid.clone(),
                        *score,
                        a.marker_id.clone(),
                    ));
                }
            }
        }
        Ok(Decision::one(Fact::MarkingEnded {
            awards,
            team_awards: self.sheet_peer_awards(&m.assignments),
        }))
    }

    fn decide_answer(
        &self,
        player: PlayerId,
        qid: String,
        answer: &Value,
        now_ms: u64,
    ) -> Result<Decision, GameError> {
        self.known(&player)?;
        let q = self
            .question(&qid)
            .ok_or_else(|| GameError::QuestionNotFound(qid.clone()))?;
        let open = self.phase == Phase::Question
            && self.current_question().is_some_and(|c| c.id == qid)
            && self
                .current
                .as_ref()
                .is_some_and(|c| c.deadline.is_none_or(|d| now_ms < d));
        if !open {
            return Err(GameError::QuestionClosed);
        }
        let value = scoring::normalize_answer(q, answer).map_err(GameError::BadRequest)?;
        if let Some(d) =
            self.decide_sheet_answer(player.clone(), qid.clone(), value.clone(), now_ms)
        {
            return Ok(d);
        }
        let previous = self.answer_of(&player, &qid);
        if let Some(a) = previous.filter(|a| a.value == value) {
            // The same answer again changes nothing (idempotent).
            return Ok(Decision {
                facts: vec![],
                outcome: Outcome::Answer {
                    question_id: qid,
                    revision: a.revision,
                },
            });
        }
        let revision = previous.map_or(1, |a| a.revision + 1);
        Ok(Decision {
            facts: vec![Fact::AnswerRecorded {
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

    fn decide_chat(&self, from: ChatFrom, text: &str) -> Result<Decision, GameError> {
        if !self.settings.chat {
            return Err(GameError::ChatDisabled);
        }
        let text = text.trim().to_string();
        let n = text.chars().count();
        if n == 0 || n > MAX_CHAT_CHARS {
            return Err(GameError::BadRequest(format!(
                "chat text must be 1 to {MAX_CHAT_CHARS} characters"
            )));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(GameError::BadRequest(
                "chat text must not contain control characters".into(),
            ));
        }
        Ok(Decision::one(Fact::ChatSent { from, text }))
    }
}

/// Longest accepted device id.
pub const MAX_DEVICE_CHARS: usize = 64;

/// A device id is an opaque token the client made up: 8-64 characters
/// from `A-Z a-z 0-9 - _` (a UUID fits).
fn check_device(d: &str) -> Result<(), GameError> {
    let ok = (8..=MAX_DEVICE_CHARS).contains(&d.len())
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(GameError::BadRequest(format!(
            "deviceId must be 8 to {MAX_DEVICE_CHARS} characters from A-Z, a-z, 0-9, - and _"
        )))
    }
}

pub(super) fn check_score(score: f64, points: f64) -> Result<(), GameError> {
    if quiz::valid_score(score, points) {
        Ok(())
    } else {
        Err(GameError::InvalidScore(format!(
            "must be 0 to {points} in halves"
        )))
    }
}

/// Points for an automatically marked answer.
pub(super) fn auto_score(
    q: &Question,
    value: &Value,
    speed: bool,
    opened: u64,
    at: u64,
    limit: Option<u64>,
) -> f64 {
    match scoring::is_correct(q, value) {
        Some(true) => scoring::correct_points(q.points, speed, at.saturating_sub(opened), limit),
        _ => 0.0,
    }
}
