//! The quiz format (contract section 7) and its validation. Validation names
//! the first invalid field by its path, e.g. `rounds[1].questions[0].answer`.

use super::state::Settings;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// What kind of answer a question takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    Text,
    Choice,
    Number,
}

impl QuestionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Text => "text",
            QuestionKind::Choice => "choice",
            QuestionKind::Number => "number",
        }
    }
}

/// Who marks a question's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Marking {
    Auto,
    Peer,
    Mc,
}

impl Marking {
    pub fn as_str(self) -> &'static str {
        match self {
            Marking::Auto => "auto",
            Marking::Peer => "peer",
            Marking::Mc => "mc",
        }
    }
}

/// A round's presentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RoundType {
    #[default]
    Standard,
    Picture,
}

impl RoundType {
    pub fn as_str(self) -> &'static str {
        match self {
            RoundType::Standard => "standard",
            RoundType::Picture => "picture",
        }
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub answer: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Marking>,
    #[serde(default = "one")]
    pub points: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_sec: Option<u32>,
}

fn one() -> f64 {
    1.0
}

impl Question {
    /// The marking that applies: explicit, else auto when the question can
    /// be auto-marked, else by the MC.
    pub fn marking(&self) -> Marking {
        self.marking.unwrap_or(match self.kind {
            QuestionKind::Choice | QuestionKind::Number => Marking::Auto,
            QuestionKind::Text if self.answer.is_string() => Marking::Auto,
            QuestionKind::Text => Marking::Mc,
        })
    }
}

/// One round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Round {
    pub id: String,
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: RoundType,
    pub questions: Vec<Question>,
}

/// A whole quiz.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quiz {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    #[serde(default)]
    pub rounds: Vec<Round>,
}

/// The first invalid field of a quiz.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct QuizError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> QuizError {
    QuizError {
        field: field.into(),
        message: message.into(),
    }
}

/// Longest prompt, answer, explanation, etc.
const MAX_TEXT: usize = 2000;
/// Longest time limit.
const MAX_TIME_LIMIT: u32 = 3600;

/// Parses and checks a quiz.
pub fn parse(raw: Value) -> Result<Quiz, QuizError> {
    let quiz: Quiz = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "quiz".to_string()
        } else {
            path
        };
        bad(field, e.into_inner().to_string())
    })?;
    validate(&quiz)?;
    Ok(quiz)
}

/// Whether `score` is a valid mark out of `points`: 0..=points in halves.
pub fn valid_score(score: f64, points: f64) -> bool {
    score.is_finite() && score >= 0.0 && score <= points && (score * 2.0).fract() == 0.0
}

fn text_ok(field: &str, s: &str, required: bool) -> Result<(), QuizError> {
    if required && s.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if s.chars().count() > MAX_TEXT {
        return Err(bad(field, format!("must be at most {MAX_TEXT} characters")));
    }
    Ok(())
}

/// Checks everything serde cannot.
pub fn validate(quiz: &Quiz) -> Result<(), QuizError> {
    if let Some(t) = &quiz.title {
        text_ok("title", t, false)?;
    }
    if let Some(s) = &quiz.settings {
        if s.max_players == 0 {
            return Err(bad("settings.maxPlayers", "must be at least 1"));
        }
    }
    let mut round_ids = HashSet::new();
    let mut question_ids = HashSet::new();
    for (ri, r) in quiz.rounds.iter().enumerate() {
        let rp = format!("rounds[{ri}]");
        if r.id.trim().is_empty() || !round_ids.insert(r.id.as_str()) {
            return Err(bad(format!("{rp}.id"), "must be a unique, non-empty id"));
        }
        text_ok(&format!("{rp}.name"), &r.name, true)?;
        if r.questions.is_empty() {
            return Err(bad(
                format!("{rp}.questions"),
                "a round needs at least one question",
            ));
        }
        for (qi, q) in r.questions.iter().enumerate() {
            let qp = format!("{rp}.questions[{qi}]");
            if q.id.trim().is_empty() || !question_ids.insert(q.id.as_str()) {
                return Err(bad(format!("{qp}.id"), "must be a unique, non-empty id"));
            }
            text_ok(&format!("{qp}.prompt"), &q.prompt, true)?;
            if let Some(e) = &q.explanation {
                text_ok(&format!("{qp}.explanation"), e, false)?;
            }
            if !(q.points.is_finite()
                && q.points > 0.0
                && q.points <= 1000.0
                && (q.points * 2.0).fract() == 0.0)
            {
                return Err(bad(
                    format!("{qp}.points"),
                    "must be a positive multiple of 0.5, at most 1000",
                ));
            }
            if let Some(t) = q.time_limit_sec {
                if t == 0 || t > MAX_TIME_LIMIT {
                    return Err(bad(
                        format!("{qp}.timeLimitSec"),
                        format!("must be 1 to {MAX_TIME_LIMIT}"),
                    ));
                }
            }
            if r.kind == RoundType::Picture
                && q.image_url.as_deref().is_none_or(|u| u.trim().is_empty())
            {
                return Err(bad(
                    format!("{qp}.imageUrl"),
                    "picture rounds need an image for each question",
                ));
            }
            if let Some(u) = &q.image_url {
                let l = u.to_ascii_lowercase();
                if !(l.starts_with('/') || l.starts_with("https://") || l.starts_with("http://")) {
                    return Err(bad(
                        format!("{qp}.imageUrl"),
                        "must be an absolute path or an http(s) URL",
                    ));
                }
            }
            match q.kind {
                QuestionKind::Choice => {
                    let n = q.choices.as_ref().map_or(0, |c| c.len());
                    if !(2..=10).contains(&n) {
                        return Err(bad(
                            format!("{qp}.choices"),
                            "choice questions need 2 to 10 choices",
                        ));
                    }
                    for (ci, c) in q.choices.iter().flatten().enumerate() {
                        text_ok(&format!("{qp}.choices[{ci}]"), c, true)?;
                    }
                    match q.answer.as_u64() {
                        Some(i) if (i as usize) < n => {}
                        _ => {
                            return Err(bad(
                                format!("{qp}.answer"),
                                format!("must be a choice index from 0 to {}", n - 1),
                            ))
                        }
                    }
                }
                QuestionKind::Number => {
                    if q.choices.is_some() {
                        return Err(bad(
                            format!("{qp}.choices"),
                            "only choice questions have choices",
                        ));
                    }
                    if !q.answer.as_f64().is_some_and(f64::is_finite) {
                        return Err(bad(format!("{qp}.answer"), "must be a number"));
                    }
                    if q.tolerance.is_some_and(|t| !(t.is_finite() && t >= 0.0)) {
                        return Err(bad(format!("{qp}.tolerance"), "must be a number >= 0"));
                    }
                }
                QuestionKind::Text => {
                    if q.choices.is_some() {
                        return Err(bad(
                            format!("{qp}.choices"),
                            "only choice questions have choices",
                        ));
                    }
                    match &q.answer {
                        Value::String(s) => text_ok(&format!("{qp}.answer"), s, true)?,
                        Value::Null if q.marking() != Marking::Auto => {}
                        Value::Null => {
                            return Err(bad(
                                format!("{qp}.answer"),
                                "auto-marked text questions need an answer",
                            ))
                        }
                        _ => return Err(bad(format!("{qp}.answer"), "must be a string")),
                    }
                    for (ai, a) in q.accept.iter().enumerate() {
                        text_ok(&format!("{qp}.accept[{ai}]"), a, true)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn sample() -> Value {
        json!({"title":"Friday Quiz",
          "settings":{"speedBonus":false,"chat":false,"maxPlayers":10000},
          "rounds":[
            {"id":"r1","name":"General Knowledge","type":"standard","questions":[
              {"id":"q1","kind":"text","prompt":"Capital of France?","answer":"Paris","accept":["paris"],"explanation":"Since 987.","points":1,"timeLimitSec":30},
              {"id":"q2","kind":"choice","prompt":"Largest planet?","choices":["Mars","Jupiter","Venus"],"answer":1,"points":2},
              {"id":"q3","kind":"number","prompt":"Moon landing?","answer":1969,"tolerance":0,"points":1}]},
            {"id":"r2","name":"Famous Landmarks","type":"picture","questions":[
              {"id":"q4","kind":"text","prompt":"Name this landmark","imageUrl":"/media/eiffel.jpg","answer":"Eiffel Tower","marking":"peer","points":1}]}]})
    }

    #[test]
    fn the_contract_example_is_valid() {
        let q = parse(sample()).unwrap();
        assert_eq!(q.rounds.len(), 2);
        assert_eq!(q.rounds[0].questions[1].marking(), Marking::Auto);
        assert_eq!(q.rounds[1].questions[0].marking(), Marking::Peer);
        assert_eq!(q.rounds[1].kind, RoundType::Picture);
    }

    fn field_of(v: Value) -> String {
        parse(v).unwrap_err().field
    }

    #[test]
    fn errors_name_the_first_bad_field() {
        let mut v = sample();
        v["rounds"][0]["questions"][1]["answer"] = json!(5);
        assert_eq!(field_of(v), "rounds[0].questions[1].answer");
        let mut v = sample();
        v["rounds"][1]["questions"][0]["kind"] = json!("essay");
        assert_eq!(field_of(v), "rounds[1].questions[0].kind");
        let mut v = sample();
        v["rounds"][1]["questions"][0]["id"] = json!("q1");
        assert_eq!(field_of(v), "rounds[1].questions[0].id");
        let mut v = sample();
        v["rounds"][1]["questions"][0]
            .as_object_mut()
            .unwrap()
            .remove("imageUrl");
        assert_eq!(field_of(v), "rounds[1].questions[0].imageUrl");
        let mut v = sample();
        v["rounds"][0]["questions"][2]["answer"] = json!("nineteen");
        assert_eq!(field_of(v), "rounds[0].questions[2].answer");
        let mut v = sample();
        v["rounds"][0]["questions"][0]["points"] = json!(0.3);
        assert_eq!(field_of(v), "rounds[0].questions[0].points");
        let mut v = sample();
        v["rounds"][0]["questions"][0]["timeLimitSec"] = json!(0);
        assert_eq!(field_of(v), "rounds[0].questions[0].timeLimitSec");
        let mut v = sample();
        v["rounds"][0]["questions"] = json!([]);
        assert_eq!(field_of(v), "rounds[0].questions");
        let mut v = sample();
        v["rounds"][0]["colour"] = json!("red");
        assert!(field_of(v).starts_with("rounds[0]"));
    }

    #[test]
    fn text_without_an_answer_is_marked_by_people() {
        let mut v = sample();
        v["rounds"][0]["questions"][0]
            .as_object_mut()
            .unwrap()
            .remove("answer");
        let q = parse(v.clone()).unwrap();
        assert_eq!(q.rounds[0].questions[0].marking(), Marking::Mc);
        v["rounds"][0]["questions"][0]["marking"] = json!("auto");
        assert_eq!(field_of(v), "rounds[0].questions[0].answer");
    }

    #[test]
    fn scores_are_halves_within_the_points() {
        assert!(valid_score(0.0, 1.0) && valid_score(0.5, 1.0) && valid_score(2.0, 2.0));
        assert!(!valid_score(-0.5, 1.0) && !valid_score(1.5, 1.0) && !valid_score(0.25, 1.0));
        assert!(!valid_score(f64::NAN, 1.0));
    }
}
