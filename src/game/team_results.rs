//! Results by team: each team with its rank, total and members, and its
//! score (and, with a shared sheet, its answer) per question; as JSON, and
//! as CSV with one line per team per question.

use super::results::{csv_field, num};
use super::scoring;
use super::state::GameState;
use serde::Serialize;
use serde_json::Value;

/// One team member in results, with their own total (0 with a sheet).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberResult {
    pub player_id: String,
    pub name: String,
    pub score: f64,
}

/// A team's result for one question.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamQuestion {
    pub round_id: String,
    pub question_id: String,
    /// The sheet's answer (sheet mode), else null.
    pub answer: Value,
    pub correct: Option<bool>,
    pub marked_by: Option<String>,
    pub score: Option<f64>,
}

/// One team's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamResult {
    pub team_id: String,
    pub name: String,
    pub rank: usize,
    pub total: f64,
    pub members: Vec<MemberResult>,
    pub questions: Vec<TeamQuestion>,
}

/// Every team in rank order, or nothing when team mode is off.
pub fn teams(game: &mut GameState) -> Vec<TeamResult> {
    let standings = game.team_standings();
    let mut out = Vec::with_capacity(standings.len());
    for e in standings {
        let Some(t) = game.teams().iter().find(|t| t.id == e.team_id).cloned() else {
            continue;
        };
        let members = t
            .members
            .iter()
            .filter_map(|m| game.player(m))
            .map(|p| MemberResult {
                player_id: p.id.clone(),
                name: p.name.clone(),
                score: p.score,
            })
            .collect();
        let mut questions = Vec::new();
        for round in &game.quiz().rounds {
            for q in &round.questions {
                let sheet = game.sheet_of(&t.id, &q.id).map(|s| s.value.clone());
                let own = game.team_award_of(&t.id, &q.id);
                questions.push(TeamQuestion {
                    round_id: round.id.clone(),
                    question_id: q.id.clone(),
                    correct: sheet.as_ref().and_then(|a| scoring::is_correct(q, a)),
                    answer: sheet.unwrap_or(Value::Null),
                    marked_by: own.map(|a| a.by.label()),
                    score: game.team_question_score(&t, &q.id),
                });
            }
        }
        out.push(TeamResult {
            team_id: t.id.clone(),
            name: t.name.clone(),
            rank: e.rank,
            total: e.score,
            members,
            questions,
        });
    }
    out
}

/// The team results as CSV: one line per team per question, the members'
/// names in one column (`;`-separated).
pub fn csv(teams: &[TeamResult]) -> String {
    let mut out = String::from(
        "team_rank,team_id,team,members,round_id,question_id,answer,correct,marked_by,score,team_total\n",
    );
    for t in teams {
        let members: Vec<&str> = t.members.iter().map(|m| m.name.as_str()).collect();
        for q in &t.questions {
            let answer = match &q.answer {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let cols = [
                t.rank.to_string(),
                csv_field(&t.team_id),
                csv_field(&t.name),
                csv_field(&members.join("; ")),
                csv_field(&q.round_id),
                csv_field(&q.question_id),
                csv_field(&answer),
                q.correct.map(|c| c.to_string()).unwrap_or_default(),
                q.marked_by.clone().unwrap_or_default(),
                q.score.map(num).unwrap_or_default(),
                num(t.total),
            ];
            out.push_str(&cols.join(","));
            out.push('\n');
        }
    }
    out
}
