//! What each role may see of the state (contract section 6).

use super::state::{GameState, View};
use serde_json::{json, Value};

/// How many names the display's snapshot carries (the newest ones): enough
/// for any lobby wall, bounded so a 10,000-player snapshot stays small.
pub const DISPLAY_NAMES: usize = 200;

impl GameState {
    fn question_snapshot(&self) -> Value {
        let Some(c) = &self.current else {
            return Value::Null;
        };
        let (Some(q), Some(view)) = (
            self.current_question(),
            self.question_view(c.round, c.index, c.deadline),
        ) else {
            return Value::Null;
        };
        let mut v = serde_json::to_value(view).unwrap_or(Value::Null);
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

    /// The state as `view` may see it. `online` tells whether a player has
    /// a live connection; `online_count` is the total.
    pub fn snapshot(
        &mut self,
        view: &View,
        online_count: usize,
        online: &dyn Fn(&str) -> bool,
    ) -> Value {
        let leaderboard = self.top();
        let round = self.round.and_then(|r| self.quiz.rounds.get(r)).map(|round| {
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
            "leaderboardShown": self.leaderboard_shown,
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
                    // Each question's award, so a verdict survives a reload.
                    let awards: serde_json::Map<String, Value> = self
                        .awards
                        .get(pid)
                        .into_iter()
                        .flatten()
                        .map(|(q, a)| (q.clone(), json!({"score": a.score, "by": a.by.kind()})))
                        .collect();
                    snap["me"] = json!({
                        "playerId": e.player_id, "name": e.name, "score": e.score, "rank": e.rank,
                        "answers": answers, "awards": awards,
                    });
                    // In team mode a team may mark several players' answers:
                    // `assignments` lists them all, `assignment` is the first.
                    // Without a team, the marker index answers in O(1) (a
                    // reconnect storm during marking must not cost N^2).
                    let candidates: Vec<&crate::game::marking::Assignment> =
                        match (self.marking.as_ref(), self.teams.of.get(pid.as_str())) {
                            (Some(m), Some(_)) => m.assignments.iter().collect(),
                            (Some(m), None) => m.of_marker(pid).into_iter().collect(),
                            (None, _) => Vec::new(),
                        };
                    let mine: Vec<Value> = candidates
                        .into_iter()
                        .filter(|a| self.may_mark(a, pid))
                        .map(|a| {
                            json!({
                                "assignmentId": a.assignment_id, "roundId": a.round_id,
                                "items": self.items(a), "marks": a.marks,
                            })
                        })
                        .collect();
                    if let Some(first) = mine.first() {
                        snap["me"]["assignment"] = first.clone();
                        snap["me"]["assignments"] = Value::Array(mine);
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
                snap["markedRounds"] = json!(self.marked_rounds());
                let bans: Vec<Value> = self
                    .bans
                    .iter()
                    .map(|b| json!({"banId": b.ban_id, "name": b.name, "device": b.device.is_some()}))
                    .collect();
                snap["bans"] = Value::Array(bans);
            }
            View::Display => {
                // The newest names, in join order (the lobby wall after a reload).
                let skip = self.order.len().saturating_sub(DISPLAY_NAMES);
                let names: Vec<Value> = self.order[skip..]
                    .iter()
                    .filter_map(|id| self.players.get(id))
                    .map(|p| json!({"playerId": p.id, "name": p.name}))
                    .collect();
                snap["players"] = Value::Array(names);
            }
        }
        self.team_snapshot(&mut snap, view);
        snap
    }
}
