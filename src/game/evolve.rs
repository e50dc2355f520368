//! Evolving: a fact applied to the state, and the events it produces. This
//! is the only code that changes a [`GameState`]; it never refuses and never
//! re-decides, so the live state, the state rebuilt from the log, and the
//! state of another node replaying the same facts are the same.

use super::command::{Command, Outcome};
use super::events::{GameEvent, MarkingItem, PlayerRef, QuestionView};
use super::fact::Fact;
use super::marking::Assignment;
use super::state::{
    AnswerRecord, Award, Ban, Current, Events, GameState, MarkedBy, MarkingRound, Phase, Player,
};
use super::teams::SheetEntry;
use super::{names, GameError};

impl GameState {
    /// Applies one fact; returns the events it produces, in order.
    pub fn evolve(&mut self, fact: &Fact) -> Events {
        match fact {
            Fact::Handled { id, outcome } => {
                self.handled.insert(id.clone(), outcome.clone());
                Vec::new()
            }
            Fact::PlayerJoined {
                player_id,
                name,
                device_id,
            } => self.join(player_id, name, device_id.clone()),
            Fact::PlayerLeft { player_id } => self.drop_player(player_id, GameEvent::PlayerLeft),
            Fact::PlayerRemoved { player_id } => {
                self.drop_player(player_id, GameEvent::PlayerRemoved)
            }
            Fact::PlayerBanned {
                ban_id,
                player_id,
                name,
                key,
                device_id,
            } => {
                self.bans.retain(|b| &b.ban_id != ban_id);
                self.bans.push(Ban {
                    ban_id: ban_id.clone(),
                    name: name.clone(),
                    key: key.clone(),
                    device: device_id.clone(),
                });
                vec![GameEvent::PlayerBanned {
                    ban_id: ban_id.clone(),
                    player_id: player_id.clone(),
                    name: name.clone(),
                    device: device_id.is_some(),
                }]
            }
            Fact::PlayerUnbanned { ban_id } => {
                let Some(i) = self.bans.iter().position(|b| &b.ban_id == ban_id) else {
                    return vec![];
                };
                let b = self.bans.remove(i);
                vec![GameEvent::PlayerUnbanned {
                    ban_id: b.ban_id,
                    name: b.name,
                }]
            }
            Fact::LeaderboardShown { shown } => {
                self.leaderboard_shown = *shown;
                vec![GameEvent::LeaderboardShown {
                    shown: *shown,
                    top: self.top(),
                    total_players: self.players.len(),
                    teams: self.team_top(),
                }]
            }
            Fact::PlayersCleared { .. } => {
                self.order.clear();
                self.players.clear();
                self.names.clear();
                self.told.clear();
                self.awards.clear();
                self.answers.clear();
                if let Some(m) = self.marking.as_mut() {
                    m.clear();
                }
                self.clear_team_members();
                self.ranks = Some(Default::default());
                self.rank_round = None;
                vec![GameEvent::AllCleared {}]
            }
            Fact::QuizLoaded { quiz, settings } => {
                if let Some(t) = &quiz.title {
                    self.title = t.clone();
                }
                self.settings = settings.clone();
                // Keep the position only if it still points at the same question.
                let keep_id = self.current_question().map(|q| q.id.clone());
                let old = self.current.take();
                self.quiz = quiz.clone();
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
                vec![]
            }
            Fact::RoundStarted { round } => {
                self.leaderboard_shown = false;
                self.round = Some(*round);
                self.current = None;
                self.round_changed(*round).into_iter().collect()
            }
            Fact::QuestionOpened {
                round,
                index,
                at_ms,
                limit_ms,
            } => self.open(*round, *index, *at_ms, *limit_ms),
            Fact::QuestionClosed { reason } => {
                self.phase = Phase::Closed;
                let Some(c) = self.current.as_mut() else {
                    return vec![];
                };
                c.closed = true;
                let (r, i) = (c.round, c.index);
                match self.quiz.rounds.get(r).and_then(|r| r.questions.get(i)) {
                    Some(q) => vec![GameEvent::QuestionClosed {
                        question_id: q.id.clone(),
                        reason: *reason,
                    }],
                    None => vec![],
                }
            }
            Fact::AnswerRevealed {
                distribution,
                awards,
                team_awards,
            } => self.reveal(distribution, awards, team_awards),
            Fact::MarkingStarted {
                round_id,
                assignments,
            } => self.start_marking(round_id, assignments),
            Fact::MarkGiven {
                assignment_id,
                question_id,
                score,
            } => self.mark(assignment_id, question_id, *score),
            Fact::MarkingEnded {
                awards,
                team_awards,
            } => {
                for (team, qid, score, marker) in team_awards {
                    self.teams.awards.entry(team.clone()).or_default().insert(
                        qid.clone(),
                        Award {
                            score: *score,
                            by: MarkedBy::Peer(marker.clone()),
                        },
                    );
                }
                let mut given = Vec::with_capacity(awards.len());
                for (markee, qid, score, marker) in awards {
                    let award = Award {
                        score: *score,
                        by: MarkedBy::Peer(marker.clone()),
                    };
                    self.awards
                        .entry(markee.clone())
                        .or_default()
                        .insert(qid.clone(), award.clone());
                    // Only players still in the session are told.
                    if self.players.contains_key(markee) {
                        given.push((markee.clone(), qid.clone(), award));
                    }
                }
                let mut events = Vec::new();
                if let Some(m) = self.marking.take() {
                    events.push(GameEvent::MarkingEnded {
                        round_id: m.round_id.clone(),
                    });
                    self.marked.push(m);
                }
                self.phase = if self.current.is_some() {
                    Phase::Closed
                } else {
                    Phase::Lobby
                };
                events.extend(self.rescore_with(&given));
                events
            }
            Fact::ScoreOverridden {
                player_id,
                question_id,
                score,
            } => {
                let award = Award {
                    score: *score,
                    by: MarkedBy::Mc,
                };
                self.awards
                    .entry(player_id.clone())
                    .or_default()
                    .insert(question_id.clone(), award.clone());
                // Only this player is told now; ranks it moved are told by
                // the next `RanksSettled`, so 300 overrides in a 10,000
                // player room cost 300 events plus one tell per tick.
                self.rescore_one(player_id, Some((question_id.clone(), award)))
            }
            Fact::RanksSettled { limit } => self.settle_ranks(*limit),
            Fact::AnswerRecorded {
                player_id,
                question_id,
                value,
                revision,
                at_ms,
            } => {
                let answers = self.answers.entry(question_id.clone()).or_default();
                answers.insert(
                    player_id.clone(),
                    AnswerRecord {
                        value: value.clone(),
                        revision: *revision,
                        at_ms: *at_ms,
                    },
                );
                vec![GameEvent::AnswerSubmitted {
                    player_id: player_id.clone(),
                    question_id: question_id.clone(),
                    answered_count: self.answered_count(question_id),
                    total_players: self.players.len(),
                }]
            }
            Fact::ChatSent { from, text } => vec![GameEvent::ChatMessage {
                from: from.clone(),
                text: text.clone(),
            }],
            Fact::SettingsChanged { settings } => {
                self.settings = settings.clone();
                vec![GameEvent::SettingsChanged {
                    settings: settings.clone(),
                }]
            }
            Fact::Ended { reason } => {
                self.phase = Phase::Ended;
                self.leaderboard_shown = false;
                if let Some(m) = self.marking.take() {
                    self.marked.push(m);
                }
                let leaderboard = self.top();
                vec![GameEvent::SessionEnded {
                    reason: *reason,
                    leaderboard,
                    teams: self.team_top(),
                }]
            }
            Fact::TeamCreated { team_id, name } => self.evolve_team_created(team_id, name),
            Fact::TeamRenamed { team_id, name } => self.evolve_team_renamed(team_id, name),
            Fact::TeamRemoved { team_id, into } => {
                self.evolve_team_removed(team_id, into.as_deref())
            }
            Fact::TeamMemberSet { player_id, team_id } => {
                self.evolve_member_set(player_id, team_id.as_deref())
            }
            Fact::SheetAnswered {
                team_id,
                player_id,
                question_id,
                value,
                revision,
                at_ms,
            } => {
                let entry = SheetEntry {
                    value: value.clone(),
                    revision: *revision,
                    at_ms: *at_ms,
                    by: player_id.clone(),
                };
                self.evolve_sheet(team_id, entry, question_id)
            }
            Fact::TeamScoreOverridden {
                team_id,
                question_id,
                score,
            } => {
                self.teams
                    .awards
                    .entry(team_id.clone())
                    .or_default()
                    .insert(
                        question_id.clone(),
                        Award {
                            score: *score,
                            by: MarkedBy::Mc,
                        },
                    );
                self.rescore()
            }
        }
    }

    /// Decides and applies in one step (tests and journal conversion).
    pub fn apply(&mut self, cmd: Command) -> Result<(Outcome, Events), GameError> {
        let d = self.decide(cmd)?;
        let mut events = Vec::new();
        for f in &d.facts {
            events.extend(self.evolve(f));
        }
        Ok((d.outcome, events))
    }

    fn join(&mut self, player_id: &str, name: &str, device: Option<String>) -> Events {
        self.names.insert(names::key(name), player_id.to_string());
        self.order.push(player_id.to_string());
        let player = Player {
            id: player_id.to_string(),
            name: name.to_string(),
            score: 0.0,
            device,
        };
        self.players.insert(player_id.to_string(), player);
        let ranks = self.ranks_mut();
        ranks.insert(player_id, 0.0);
        if let Some(now) = ranks.get(player_id) {
            self.told.insert(player_id.to_string(), now);
        }
        vec![GameEvent::PlayerJoined(PlayerRef {
            player_id: player_id.to_string(),
            name: name.to_string(),
            total_players: self.players.len(),
        })]
    }

    fn drop_player(&mut self, id: &str, event: fn(PlayerRef) -> GameEvent) -> Events {
        let Some(p) = self.players.remove(id) else {
            return vec![];
        };
        self.names.remove(&names::key(&p.name));
        self.order.retain(|x| x != id);
        self.told.remove(id);
        self.awards.remove(id);
        if let Some(r) = self.ranks.as_mut() {
            r.remove(id);
        }
        let team = self.unassign(id);
        // Scores do not change; the ranks that moved are told by the next
        // `RanksSettled`, so a departure costs one event, not one per player.
        let mut events = vec![event(PlayerRef {
            player_id: p.id,
            name: p.name,
            total_players: self.players.len(),
        })];
        if let Some(t) = team {
            events.extend(self.team_updated(&t));
        }
        events
    }

    fn round_changed(&self, r: usize) -> Option<GameEvent> {
        let round = self.quiz.rounds.get(r)?;
        Some(GameEvent::RoundChanged {
            round_id: round.id.clone(),
            round_name: round.name.clone(),
            round_type: round.kind.as_str().into(),
            question_count: round.questions.len(),
        })
    }

    fn open(&mut self, r: usize, i: usize, at_ms: u64, limit_ms: Option<u64>) -> Events {
        let mut events = Vec::new();
        if self.round != Some(r) {
            self.round = Some(r);
            events.extend(self.round_changed(r));
        }
        let deadline = limit_ms.map(|l| at_ms + l);
        self.openings += 1;
        self.leaderboard_shown = false;
        self.current = Some(Current {
            round: r,
            index: i,
            opening: self.openings,
            opened_at: at_ms,
            deadline,
            closed: false,
            revealed: false,
        });
        self.phase = Phase::Question;
        if let Some(view) = self.question_view(r, i, deadline) {
            self.timing
                .insert(view.question_id.clone(), (at_ms, limit_ms));
            events.push(GameEvent::QuestionOpened(view));
        }
        events
    }

    pub(super) fn question_view(
        &self,
        r: usize,
        i: usize,
        deadline: Option<u64>,
    ) -> Option<QuestionView> {
        let round = self.quiz.rounds.get(r)?;
        let q = round.questions.get(i)?;
        Some(QuestionView {
            round_id: round.id.clone(),
            question_id: q.id.clone(),
            index: i,
            prompt: q.prompt.clone(),
            kind: q.kind.as_str().into(),
            choices: q.choices.clone(),
            choice_images: q
                .choice_images
                .clone()
                .filter(|c| c.iter().any(Option::is_some)),
            image_url: q.image_url.clone(),
            points: q.points,
            deadline,
            marking: q.marking().as_str().to_string(),
        })
    }

    fn reveal(
        &mut self,
        distribution: &Option<Vec<usize>>,
        awards: &[(String, f64)],
        team_awards: &[(String, f64)],
    ) -> Events {
        let Some(c) = self.current.as_mut() else {
            return vec![];
        };
        c.revealed = true;
        let Some(q) = self.current_question().cloned() else {
            return vec![];
        };
        let mut events = vec![GameEvent::AnswerRevealed {
            question_id: q.id.clone(),
            correct_answer: q.answer.clone(),
            explanation: q.explanation.clone(),
            distribution: distribution.clone(),
        }];
        for (team, score) in team_awards {
            self.teams.awards.entry(team.clone()).or_default().insert(
                q.id.clone(),
                Award {
                    score: *score,
                    by: MarkedBy::Auto,
                },
            );
        }
        if !team_awards.is_empty() && awards.is_empty() {
            events.extend(self.rescore());
        }
        if !awards.is_empty() {
            let mut given = Vec::with_capacity(awards.len());
            for (pid, score) in awards {
                let award = Award {
                    score: *score,
                    by: MarkedBy::Auto,
                };
                self.awards
                    .entry(pid.clone())
                    .or_default()
                    .insert(q.id.clone(), award.clone());
                given.push((pid.clone(), q.id.clone(), award));
            }
            events.extend(self.rescore_with(&given));
        }
        events
    }

    fn start_marking(&mut self, round_id: &str, assignments: &[Assignment]) -> Events {
        let mut events = vec![GameEvent::MarkingStarted {
            round_id: round_id.to_string(),
        }];
        for a in assignments {
            // A team's assignment goes to each of its members.
            let markers = match &a.teams {
                Some(_) => self
                    .teams
                    .get(&a.marker_id)
                    .map(|t| t.members.clone())
                    .unwrap_or_default(),
                None => vec![a.marker_id.clone()],
            };
            for marker in markers {
                events.push(GameEvent::AssignmentCreated {
                    marker,
                    assignment_id: a.assignment_id.clone(),
                    round_id: round_id.to_string(),
                    items: self.items(a),
                });
            }
        }
        let completed = assignments.is_empty();
        if completed {
            events.push(GameEvent::MarkingCompleted {
                round_id: round_id.to_string(),
            });
        }
        self.marking = Some(MarkingRound::new(round_id, assignments.to_vec(), completed));
        self.phase = Phase::Marking;
        self.leaderboard_shown = false;
        events
    }

    /// What a marker sees of an assignment.
    pub(super) fn items(&self, a: &Assignment) -> Vec<MarkingItem> {
        a.question_ids
            .iter()
            .filter_map(|qid| {
                let q = self.question(qid)?;
                let answer = if a.is_sheet() {
                    self.sheet_of(&a.markee_id, qid)?.value.clone()
                } else {
                    self.answers.get(qid)?.get(&a.markee_id)?.value.clone()
                };
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

    fn mark(&mut self, assignment_id: &str, qid: &str, score: f64) -> Events {
        let Some(m) = self.marking.as_mut() else {
            return vec![];
        };
        let Some((a, all_complete)) = m.give(assignment_id, qid, score) else {
            return vec![];
        };
        let mut events = vec![GameEvent::MarkUpdated {
            assignment_id: a.assignment_id.clone(),
            question_id: qid.to_string(),
            marker_id: a.marker_id.clone(),
            markee_id: a.markee_id.clone(),
            score,
        }];
        if !m.completed_sent && all_complete {
            m.completed_sent = true;
            events.push(GameEvent::MarkingCompleted {
                round_id: m.round_id.clone(),
            });
        }
        events
    }
}
