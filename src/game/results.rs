//! Results: every player, question, answer, mark and total, as JSON or CSV.

use super::scoring;
use super::state::GameState;
use serde::Serialize;
use serde_json::Value;

/// One player's result for one question.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub player_id: String,
    pub name: String,
    pub round_id: String,
    pub question_id: String,
    pub answer: Value,
    /// Auto-marking's verdict, when the question can be auto-marked.
    pub correct: Option<bool>,
    pub marked_by: Option<String>,
    pub score: Option<f64>,
    pub total: f64,
    pub rank: usize,
}

/// Every row, players in rank order, questions in quiz order.
pub fn rows(game: &mut GameState) -> Vec<Row> {
    let board = game.leaderboard();
    let mut out = Vec::new();
    for e in board {
        for round in &game.quiz().rounds {
            for q in &round.questions {
                let answer = game.answer_of(&e.player_id, &q.id).map(|a| a.value.clone());
                let award = game.award_of(&e.player_id, &q.id);
                out.push(Row {
                    player_id: e.player_id.clone(),
                    name: e.name.clone(),
                    round_id: round.id.clone(),
                    question_id: q.id.clone(),
                    correct: answer.as_ref().and_then(|a| scoring::is_correct(q, a)),
                    answer: answer.unwrap_or(Value::Null),
                    marked_by: award.map(|a| a.by.label()),
                    score: award.map(|a| a.score),
                    total: e.score,
                    rank: e.rank,
                });
            }
        }
    }
    out
}

/// Quotes a CSV field when needed, and defuses spreadsheet formulas.
pub(super) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(super) fn num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The rows as CSV with a header line.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "rank,player_id,name,round_id,question_id,answer,correct,marked_by,score,total\n",
    );
    for r in rows {
        let answer = match &r.answer {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let cols = [
            r.rank.to_string(),
            csv_field(&r.player_id),
            csv_field(&r.name),
            csv_field(&r.round_id),
            csv_field(&r.question_id),
            csv_field(&answer),
            r.correct.map(|c| c.to_string()).unwrap_or_default(),
            r.marked_by.clone().unwrap_or_default(),
            r.score.map(num).unwrap_or_default(),
            num(r.total),
        ];
        out.push_str(&cols.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-5"), "-5");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.0), "2");
    }
}
