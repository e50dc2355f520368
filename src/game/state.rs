//! The game state, its phases, and the one transition function.

use super::events::{
    ChatFrom, CloseReason, EndReason, GameEvent, MarkingItem, PlayerRef, QuestionView,
};
use super::leaderboard::{Entry, Standings, TOP_N};
use super::marking::{self, Assignment};
use super::quiz::{self, Marking, Question, Quiz};
use super::scoring;
use super::{names, GameError, PlayerId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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

/// A player's answer to one question.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRecord {
    pub value: Value,
    pub revision: u32,
    pub at_ms: u64,
}

/// Who decided a score.
#[derive(Debug, Clone, PartialEq)]
pub enum MarkedBy {
    Auto,
    Peer(PlayerId),
    Mc,
}

impl MarkedBy {
    pub fn label(&self) -> String {
        match self {
            MarkedBy::Auto => "auto".into(),
            MarkedBy::Peer(p) => format!("peer:{p}"),
            MarkedBy::Mc => "mc".into(),
        }
    }
}

/// Points a player got for one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Award {
    pub score: f64,
    pub by: MarkedBy,
}

/// The question on screen.
#[derive(Debug, Clone, PartialEq)]
struct Current {
    round: usize,
    index: usize,
    /// Counts openings, so a stale timer cannot close a later question.
    opening: u64,
    opened_at: u64,
    deadline: Option<u64>,
    closed: bool,
    revealed: bool,
}

/// A round being peer-marked (or marked earlier, kept for results).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkingRound {
    pub round_id: String,
    pub assignments: Vec<Assignment>,
    completed_sent: bool,
}

/// A request to change the game, from whichever role is acting. Commands
/// carry their own time and randomness, so replaying a session's journal of
/// commands rebuilds exactly the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "camelCase")]
pub enum Command {
    /// A new player joins (id chosen by the caller so tokens can be minted for it).
    AddPlayer {
        player_id: PlayerId,
        name: String,
    },
    Leave {
        player_id: PlayerId,
    },
    RemovePlayer {
        player_id: PlayerId,
    },
    ResetPlayers,
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

/// What a successful command returns to its caller (besides events).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    PlayerAdded {
        player_id: PlayerId,
    },
    /// Players whose connections must be closed (removed or cleared).
    PlayersGone(Vec<PlayerId>),
    /// A question opened; the actor sets a timer for the deadline.
    QuestionOpened {
        question_id: String,
        deadline: Option<u64>,
        opening: u64,
    },
    Answer {
        question_id: String,
        revision: u32,
    },
}

/// Which view of the state a snapshot is for.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    Mc,
    Display,
    Player(PlayerId),
}

type Events = Vec<GameEvent>;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 280;

/// The whole state of one quiz session.
#[derive(Debug, Clone)]
pub struct GameState {
    pub code: String,
    pub title: String,
    pub phase: Phase,
    pub settings: Settings,
    quiz: Quiz,
    players: HashMap<PlayerId, Player>,
    order: Vec<PlayerId>,
    names: HashMap<String, PlayerId>,
    standings: Standings,
    /// Score and rank each player was last told.
    told: HashMap<PlayerId, (f64, usize)>,
    round: Option<usize>,
    current: Option<Current>,
    openings: u64,
    /// When each question was last opened, and its time limit (for the speed bonus).
    timing: HashMap<String, (u64, Option<u64>)>,
    answers: HashMap<String, HashMap<PlayerId, AnswerRecord>>,
    awards: HashMap<PlayerId, BTreeMap<String, Award>>,
    marking: Option<MarkingRound>,
    marked: Vec<MarkingRound>,
}

fn wrong(phase: Phase) -> GameError {
    GameError::WrongPhase(phase.as_str())
}

impl GameState {
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
            standings: Standings::default(),
            told: HashMap::new(),
            round: None,
            current: None,
            openings: 0,
            timing: HashMap::new(),
            answers: HashMap::new(),
            awards: HashMap::new(),
            marking: None,
            marked: Vec::new(),
        }
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

    fn find(&self, qid: &str) -> Option<(usize, usize)> {
        self.quiz.rounds.iter().enumerate().find_map(|(ri, r)| {
            r.questions
                .iter()
                .position(|q| q.id == qid)
                .map(|qi| (ri, qi))
        })
    }

    fn question(&self, qid: &str) -> Option<&Question> {
        self.find(qid)
            .map(|(r, i)| &self.quiz.rounds[r].questions[i])
    }

    fn current_question(&self) -> Option<&Question> {
        self.current
            .as_ref()
            .map(|c| &self.quiz.rounds[c.round].questions[c.index])
    }

    /// The one transition function: applies `cmd` or explains why not.
    pub fn apply(&mut self, cmd: Command) -> Result<(Outcome, Events), GameError> {
        if self.phase == Phase::Ended {
            return Err(GameError::SessionEnded);
        }
        let done = |events: Events| Ok((Outcome::Done, events));
        match cmd {
            Command::AddPlayer { player_id, name } => self.add_player(player_id, name),
            Command::Leave { player_id } => {
                let r = self.drop_player(&player_id)?;
                let mut ev = vec![GameEvent::PlayerLeft(r)];
                ev.extend(self.rescore());
                Ok((Outcome::PlayersGone(vec![player_id]), ev))
            }
            Command::RemovePlayer { player_id } => {
                let r = self.drop_player(&player_id)?;
                let mut ev = vec![GameEvent::PlayerRemoved(r)];
                ev.extend(self.rescore());
                Ok((Outcome::PlayersGone(vec![player_id]), ev))
            }
            Command::ResetPlayers => {
                let gone = std::mem::take(&mut self.order);
                self.players.clear();
                self.names.clear();
                self.told.clear();
                self.awards.clear();
                self.answers.clear();
                if let Some(m) = self.marking.as_mut() {
                    m.assignments.clear();
                }
                self.standings.invalidate();
                Ok((Outcome::PlayersGone(gone), vec![GameEvent::AllCleared {}]))
            }
            Command::LoadQuiz { quiz } => self.load_quiz(quiz).and_then(|_| done(vec![])),
            Command::StartRound { round_id } => self.start_round(&round_id).and_then(done),
            Command::OpenQuestion {
                question_id,
                time_limit_sec,
                now_ms,
            } => self.open_question(question_id, time_limit_sec, now_ms),
            Command::CloseQuestion { reason, opening } => {
                self.close_question(reason, opening).and_then(done)
            }
            Command::Reveal => self.reveal().and_then(done),
            Command::StartMarking { round_id, seed } => {
                self.start_marking(round_id, seed).and_then(done)
            }
            Command::EndMarking => self.end_marking().and_then(done),
            Command::SubmitAnswer {
                player_id,
                question_id,
                answer,
                now_ms,
            } => self.submit_answer(player_id, question_id, answer, now_ms),
            Command::SubmitMark {
                player_id,
                assignment_id,
                question_id,
                score,
            } => self
                .submit_mark(&player_id, &assignment_id, &question_id, score)
                .and_then(done),
            Command::OverrideScore {
                player_id,
                question_id,
                score,
            } => self
                .override_score(player_id, question_id, score)
                .and_then(done),
            Command::Chat { from, text } => self.chat(from, text).and_then(done),
            Command::SetChat { enabled } => {
                self.settings.chat = enabled;
                done(vec![GameEvent::SettingsChanged {
                    settings: self.settings.clone(),
                }])
            }
            Command::End { reason } => {
                self.phase = Phase::Ended;
                if let Some(m) = self.marking.take() {
                    self.marked.push(m);
                }
                let leaderboard = self.top();
                done(vec![GameEvent::SessionEnded {
                    reason,
                    leaderboard,
                }])
            }
        }
    }

    fn add_player(
        &mut self,
        player_id: PlayerId,
        name: String,
    ) -> Result<(Outcome, Events), GameError> {
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
        if let Some(e) = self.entry_of(&player_id) {
            self.told.insert(player_id.clone(), (e.score, e.rank));
        }
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
        self.told.remove(id);
        self.awards.remove(id);
        self.standings.invalidate();
        Ok(PlayerRef {
            player_id: p.id,
            name: p.name,
            total_players: self.players.len(),
        })
    }

    fn load_quiz(&mut self, quiz: Quiz) -> Result<(), GameError> {
        if !matches!(self.phase, Phase::Lobby | Phase::Closed) {
            return Err(wrong(self.phase));
        }
        quiz::validate(&quiz).map_err(|e| GameError::InvalidQuiz(e.to_string()))?;
        if let Some(t) = &quiz.title {
            self.title = t.clone();
        }
        if let Some(s) = &quiz.settings {
            let cap = self.settings.max_players.max(s.max_players);
            self.settings = Settings {
                max_players: s.max_players.min(cap),
                ..s.clone()
            };
        }
        // Keep the position only if it still points at the same question.
        let keep_id = self.current_question().map(|q| q.id.clone());
        let old = self.current.take();
        self.quiz = quiz;
        self.round = None;
        if let (Some(id), Some(mut c)) = (keep_id, old) {
            if let Some((r, i)) = self.find(&id) {
                c.round = r;
                c.index = i;
                self.round = Some(r);
                self.current = Some(c);
            }
        }
        if self.current.is_none() {
            self.phase = Phase::Lobby;
        }
        Ok(())
    }

    fn round_changed(&self, r: usize) -> GameEvent {
        let round = &self.quiz.rounds[r];
        GameEvent::RoundChanged {
            round_id: round.id.clone(),
            round_name: round.name.clone(),
            round_type: round.kind.as_str().into(),
            question_count: round.questions.len(),
        }
    }

    fn start_round(&mut self, round_id: &str) -> Result<Events, GameError> {
        if !matches!(self.phase, Phase::Lobby | Phase::Closed) {
            return Err(wrong(self.phase));
        }
        let r = self
            .quiz
            .rounds
            .iter()
            .position(|r| r.id == round_id)
            .ok_or_else(|| GameError::QuestionNotFound(format!("round {round_id}")))?;
        self.round = Some(r);
        self.current = None;
        Ok(vec![self.round_changed(r)])
    }

    /// The question after the current one, in quiz order.
    fn next_position(&self) -> Option<(usize, usize)> {
        let (r, i) = match (&self.current, self.round) {
            (Some(c), _) => (c.round, c.index + 1),
            (None, Some(r)) => (r, 0),
            (None, None) => (0, 0),
        };
        let mut r = r;
        let mut i = i;
        while r < self.quiz.rounds.len() {
            if i < self.quiz.rounds[r].questions.len() {
                return Some((r, i));
            }
            r += 1;
            i = 0;
        }
        None
    }

    fn open_question(
        &mut self,
        question_id: Option<String>,
        time_limit_sec: Option<u32>,
        now_ms: u64,
    ) -> Result<(Outcome, Events), GameError> {
        if !matches!(self.phase, Phase::Lobby | Phase::Closed) {
            return Err(wrong(self.phase));
        }
        let (r, i) = match &question_id {
            Some(id) => self
                .find(id)
                .ok_or_else(|| GameError::QuestionNotFound(id.clone()))?,
            None => self
                .next_position()
                .ok_or_else(|| GameError::QuestionNotFound("no questions left".into()))?,
        };
        if let Some(t) = time_limit_sec {
            if t > 3600 {
                return Err(GameError::BadRequest(
                    "timeLimitSec must be at most 3600".into(),
                ));
            }
        }
        let mut events = Vec::new();
        if self.round != Some(r) {
            self.round = Some(r);
            events.push(self.round_changed(r));
        }
        let q = &self.quiz.rounds[r].questions[i];
        // An explicit 0 opens the question without a timer.
        let limit = time_limit_sec.or(q.time_limit_sec).filter(|t| *t > 0);
        let limit_ms = limit.map(|t| t as u64 * 1000);
        let deadline = limit_ms.map(|l| now_ms + l);
        self.openings += 1;
        self.current = Some(Current {
            round: r,
            index: i,
            opening: self.openings,
            opened_at: now_ms,
            deadline,
            closed: false,
            revealed: false,
        });
        self.timing.insert(q.id.clone(), (now_ms, limit_ms));
        self.phase = Phase::Question;
        let view = self.question_view(r, i, deadline);
        let question_id = view.question_id.clone();
        events.push(GameEvent::QuestionOpened(view));
        Ok((
            Outcome::QuestionOpened {
                question_id,
                deadline,
                opening: self.openings,
            },
            events,
        ))
    }

    fn question_view(&self, r: usize, i: usize, deadline: Option<u64>) -> QuestionView {
        let round = &self.quiz.rounds[r];
        let q = &round.questions[i];
        QuestionView {
            round_id: round.id.clone(),
            question_id: q.id.clone(),
            index: i,
            prompt: q.prompt.clone(),
            kind: q.kind.as_str().into(),
            choices: q.choices.clone(),
            image_url: q.image_url.clone(),
            points: q.points,
            deadline,
        }
    }

    fn close_question(
        &mut self,
        reason: CloseReason,
        opening: Option<u64>,
    ) -> Result<Events, GameError> {
        let c = self.current.as_mut().ok_or(wrong(self.phase))?;
        if self.phase != Phase::Question || opening.is_some_and(|o| o != c.opening) {
            return Err(wrong(self.phase));
        }
        c.closed = true;
        self.phase = Phase::Closed;
        let question_id = self.quiz.rounds[c.round].questions[c.index].id.clone();
        Ok(vec![GameEvent::QuestionClosed {
            question_id,
            reason,
        }])
    }

    fn reveal(&mut self) -> Result<Events, GameError> {
        let mut events = Vec::new();
        match self.phase {
            Phase::Question => events.extend(self.close_question(CloseReason::Mc, None)?),
            Phase::Closed if self.current.is_some() => {}
            p => return Err(wrong(p)),
        }
        let Some(c) = self.current.as_mut() else {
            return Err(wrong(self.phase));
        };
        c.revealed = true;
        let q = self.quiz.rounds[c.round].questions[c.index].clone();
        let answers = self.answers.get(&q.id);
        let distribution = q.choices.as_ref().map(|choices| {
            let mut counts = vec![0usize; choices.len()];
            for a in answers.into_iter().flat_map(|m| m.values()) {
                if let Some(i) = a.value.as_u64().filter(|i| (*i as usize) < counts.len()) {
                    counts[i as usize] += 1;
                }
            }
            counts
        });
        events.push(GameEvent::AnswerRevealed {
            question_id: q.id.clone(),
            correct_answer: q.answer.clone(),
            explanation: q.explanation.clone(),
            distribution,
        });
        if q.marking() == Marking::Auto {
            let (opened, limit) = self.timing.get(&q.id).copied().unwrap_or((0, None));
            let speed = self.settings.speed_bonus;
            let mut scored = Vec::new();
            for (pid, a) in answers.into_iter().flatten() {
                let score = match scoring::is_correct(&q, &a.value) {
                    Some(true) => scoring::correct_points(
                        q.points,
                        speed,
                        a.at_ms.saturating_sub(opened),
                        limit,
                    ),
                    _ => 0.0,
                };
                scored.push((pid.clone(), score));
            }
            for (pid, score) in scored {
                let awards = self.awards.entry(pid).or_default();
                // An MC override stands over automatic marking.
                if !matches!(
                    awards.get(&q.id),
                    Some(Award {
                        by: MarkedBy::Mc,
                        ..
                    })
                ) {
                    awards.insert(
                        q.id.clone(),
                        Award {
                            score,
                            by: MarkedBy::Auto,
                        },
                    );
                }
            }
            events.extend(self.rescore());
        }
        Ok(events)
    }

    fn start_marking(&mut self, round_id: Option<String>, seed: u64) -> Result<Events, GameError> {
        if !matches!(self.phase, Phase::Lobby | Phase::Closed) {
            return Err(wrong(self.phase));
        }
        let r = match &round_id {
            Some(id) => self
                .quiz
                .rounds
                .iter()
                .position(|r| &r.id == id)
                .ok_or_else(|| GameError::QuestionNotFound(format!("round {id}")))?,
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
        let pairs = marking::derange(&markees, seed);
        let round_id = round.id.clone();
        let mut events = vec![GameEvent::MarkingStarted {
            round_id: round_id.clone(),
        }];
        let mut assignments = Vec::new();
        for (n, (marker, markee)) in pairs.into_iter().enumerate() {
            let a = Assignment {
                assignment_id: format!("{round_id}-{}", n + 1),
                round_id: round_id.clone(),
                question_ids: answered(&markee),
                marker_id: marker,
                markee_id: markee,
                marks: BTreeMap::new(),
            };
            events.push(GameEvent::AssignmentCreated {
                marker: a.marker_id.clone(),
                assignment_id: a.assignment_id.clone(),
                round_id: round_id.clone(),
                items: self.items(&a),
            });
            assignments.push(a);
        }
        let completed = assignments.is_empty();
        if completed {
            events.push(GameEvent::MarkingCompleted {
                round_id: round_id.clone(),
            });
        }
        self.marking = Some(MarkingRound {
            round_id,
            assignments,
            completed_sent: completed,
        });
        self.phase = Phase::Marking;
        Ok(events)
    }

    /// What a marker sees of an assignment.
    fn items(&self, a: &Assignment) -> Vec<MarkingItem> {
        a.question_ids
            .iter()
            .filter_map(|qid| {
                let q = self.question(qid)?;
                let answer = self.answers.get(qid)?.get(&a.markee_id)?.value.clone();
                Some(MarkingItem {
                    question_id: qid.clone(),
                    prompt: q.prompt.clone(),
                    answer,
                    correct_answer: (!q.answer.is_null()).then(|| q.answer.clone()),
                    points: q.points,
                })
            })
            .collect()
    }

    fn submit_mark(
        &mut self,
        player: &str,
        assignment_id: &str,
        qid: &str,
        score: f64,
    ) -> Result<Events, GameError> {
        if self.phase != Phase::Marking {
            return Err(wrong(self.phase));
        }
        let points = self.question(qid).map(|q| q.points);
        let m = self.marking.as_mut().ok_or(wrong(Phase::Marking))?;
        let a = m
            .assignments
            .iter_mut()
            .find(|a| a.assignment_id == assignment_id && a.marker_id == player)
            .ok_or(GameError::AssignmentNotFound)?;
        if !a.question_ids.iter().any(|q| q == qid) {
            return Err(GameError::QuestionNotFound(qid.to_string()));
        }
        let points = points.ok_or_else(|| GameError::QuestionNotFound(qid.to_string()))?;
        if !quiz::valid_score(score, points) {
            return Err(GameError::InvalidScore(format!(
                "must be 0 to {points} in halves"
            )));
        }
        if a.marks.get(qid) == Some(&score) {
            return Ok(vec![]);
        }
        a.marks.insert(qid.to_string(), score);
        let mut events = vec![GameEvent::MarkUpdated {
            assignment_id: a.assignment_id.clone(),
            question_id: qid.to_string(),
            marker_id: a.marker_id.clone(),
            markee_id: a.markee_id.clone(),
            score,
        }];
        if !m.completed_sent && m.assignments.iter().all(Assignment::complete) {
            m.completed_sent = true;
            events.push(GameEvent::MarkingCompleted {
                round_id: m.round_id.clone(),
            });
        }
        Ok(events)
    }

    fn end_marking(&mut self) -> Result<Events, GameError> {
        if self.phase != Phase::Marking {
            return Err(wrong(self.phase));
        }
        let m = self.marking.take().ok_or(wrong(self.phase))?;
        for a in &m.assignments {
            if !self.players.contains_key(&a.markee_id) {
                continue;
            }
            let awards = self.awards.entry(a.markee_id.clone()).or_default();
            for (qid, score) in &a.marks {
                if !matches!(
                    awards.get(qid),
                    Some(Award {
                        by: MarkedBy::Mc,
                        ..
                    })
                ) {
                    awards.insert(
                        qid.clone(),
                        Award {
                            score: *score,
                            by: MarkedBy::Peer(a.marker_id.clone()),
                        },
                    );
                }
            }
        }
        let mut events = vec![GameEvent::MarkingEnded {
            round_id: m.round_id.clone(),
        }];
        self.marked.push(m);
        self.phase = if self.current.is_some() {
            Phase::Closed
        } else {
            Phase::Lobby
        };
        events.extend(self.rescore());
        Ok(events)
    }

    fn override_score(
        &mut self,
        player: PlayerId,
        qid: String,
        score: f64,
    ) -> Result<Events, GameError> {
        if !self.players.contains_key(&player) {
            return Err(GameError::PlayerNotFound);
        }
        let q = self
            .question(&qid)
            .ok_or_else(|| GameError::QuestionNotFound(qid.clone()))?;
        if !quiz::valid_score(score, q.points) {
            return Err(GameError::InvalidScore(format!(
                "must be 0 to {} in halves",
                q.points
            )));
        }
        self.awards.entry(player).or_default().insert(
            qid,
            Award {
                score,
                by: MarkedBy::Mc,
            },
        );
        Ok(self.rescore())
    }

    fn submit_answer(
        &mut self,
        player: PlayerId,
        qid: String,
        answer: Value,
        now_ms: u64,
    ) -> Result<(Outcome, Events), GameError> {
        if !self.players.contains_key(&player) {
            return Err(GameError::PlayerNotFound);
        }
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
        let value = scoring::normalize_answer(q, &answer).map_err(GameError::BadRequest)?;
        let answers = self.answers.entry(qid.clone()).or_default();
        let revision = match answers.get_mut(&player) {
            Some(a) if a.value == value => {
                return Ok((
                    Outcome::Answer {
                        question_id: qid,
                        revision: a.revision,
                    },
                    vec![],
                ))
            }
            Some(a) => {
                a.value = value;
                a.revision += 1;
                a.at_ms = now_ms;
                a.revision
            }
            None => {
                answers.insert(
                    player.clone(),
                    AnswerRecord {
                        value,
                        revision: 1,
                        at_ms: now_ms,
                    },
                );
                1
            }
        };
        let ev = GameEvent::AnswerSubmitted {
            player_id: player,
            question_id: qid.clone(),
            answered_count: answers.len(),
            total_players: self.players.len(),
        };
        Ok((
            Outcome::Answer {
                question_id: qid,
                revision,
            },
            vec![ev],
        ))
    }

    fn chat(&mut self, from: ChatFrom, text: String) -> Result<Events, GameError> {
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
        Ok(vec![GameEvent::ChatMessage { from, text }])
    }

    /// Recomputes totals and tells each player whose score or rank moved.
    fn rescore(&mut self) -> Events {
        for p in self.players.values_mut() {
            p.score = self
                .awards
                .get(&p.id)
                .map_or(0.0, |m| m.values().map(|a| a.score).sum());
        }
        self.standings.invalidate();
        let entries = self.leaderboard();
        let mut events = Vec::new();
        for e in entries {
            let now = (e.score, e.rank);
            if self.told.get(&e.player_id) != Some(&now) {
                self.told.insert(e.player_id.clone(), now);
                events.push(GameEvent::ScoreUpdated {
                    player: e.player_id,
                    score: e.score,
                    rank: e.rank,
                });
            }
        }
        events
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

    /// Marking progress of the current marking round.
    pub fn marking_progress(&self) -> Option<marking::Progress> {
        self.marking
            .as_ref()
            .map(|m| marking::progress(&m.round_id, &m.assignments))
    }

    fn question_snapshot(&self) -> Value {
        let Some(c) = &self.current else {
            return Value::Null;
        };
        let q = &self.quiz.rounds[c.round].questions[c.index];
        let mut v = serde_json::to_value(self.question_view(c.round, c.index, c.deadline))
            .unwrap_or(Value::Null);
        v["closed"] = json!(c.closed);
        v["revealed"] = json!(c.revealed);
        if c.revealed {
            v["correctAnswer"] = q.answer.clone();
            if let Some(e) = &q.explanation {
                v["explanation"] = json!(e);
            }
        }
        v
    }

    /// The state as `view` may see it (contract section 6). `online` tells
    /// whether a player has a live connection; `online_count` is the total.
    pub fn snapshot(
        &mut self,
        view: &View,
        online_count: usize,
        online: &dyn Fn(&str) -> bool,
    ) -> Value {
        let leaderboard = self.top();
        let round = self.round.map(|r| {
            let round = &self.quiz.rounds[r];
            json!({"id": round.id, "name": round.name, "type": round.kind.as_str(), "questionCount": round.questions.len()})
        });
        let mut snap = json!({
            "code": self.code,
            "title": self.title,
            "phase": self.phase,
            "round": round,
            "question": self.question_snapshot(),
            "totalPlayers": self.players.len(),
            "online": online_count,
            "leaderboard": leaderboard,
            "settings": self.settings,
        });
        if let Some(m) = &self.marking {
            snap["marking"] = json!({"roundId": m.round_id});
        }
        match view {
            View::Player(pid) => {
                if let Some(e) = self.entry_of(pid) {
                    let answers: serde_json::Map<String, Value> = self
                        .answers
                        .iter()
                        .filter_map(|(q, m)| m.get(pid).map(|a| (q.clone(), a.value.clone())))
                        .collect();
                    snap["me"] = json!({
                        "playerId": e.player_id, "name": e.name, "score": e.score, "rank": e.rank,
                        "answers": answers,
                    });
                    let mine = self
                        .marking
                        .as_ref()
                        .and_then(|m| m.assignments.iter().find(|a| &a.marker_id == pid));
                    if let Some(a) = mine {
                        snap["me"]["assignment"] = json!({
                            "assignmentId": a.assignment_id, "roundId": a.round_id,
                            "items": self.items(a), "marks": a.marks,
                        });
                    }
                }
            }
            View::Mc => {
                let list: Vec<Value> = self
                    .players()
                    .map(|p| json!({"playerId": p.id, "name": p.name, "score": p.score, "online": online(&p.id)}))
                    .collect();
                snap["players"] = Value::Array(list);
                snap["quiz"] = serde_json::to_value(&self.quiz).unwrap_or(Value::Null);
                if let Some(q) = self.current_question() {
                    let answers: serde_json::Map<String, Value> = self
                        .answers
                        .get(&q.id)
                        .map(|m| {
                            m.iter()
                                .map(|(p, a)| (p.clone(), a.value.clone()))
                                .collect()
                        })
                        .unwrap_or_default();
                    snap["answers"] = Value::Object(answers);
                    snap["question"]["correctAnswer"] = q.answer.clone();
                }
                if let Some(p) = self.marking_progress() {
                    snap["marking"] = json!(p);
                }
            }
            View::Display => {}
        }
        snap
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
