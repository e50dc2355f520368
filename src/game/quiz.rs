//! The quiz format (contract section 7) and its validation. Validation names
//! the first invalid field by its path, e.g. `rounds[1].questions[0].answer`.

use super::state::Settings;
use super::teams::{CEILING_TEAMS, CEILING_TEAM_SIZE};
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
    /// A picture per choice, parallel to `choices` (`null` for a choice
    /// without one). `choices` stays plain text everywhere (the text is the
    /// picture's label and alternative text), so no reader of `choices`
    /// sees a new shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_images: Option<Vec<Option<String>>>,
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

/// A picture's URL: an absolute path (an uploaded `/media/<sha256>.<ext>`
/// among them) or an http(s) URL. The same rule for questions and choices.
fn image_url_ok(field: &str, u: &str) -> Result<(), QuizError> {
    if u.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    let l = u.to_ascii_lowercase();
    if !(l.starts_with('/') || l.starts_with("https://") || l.starts_with("http://")) {
        return Err(bad(field, "must be an absolute path or an http(s) URL"));
    }
    Ok(())
}

/// Whether a question shows a picture of its own, or one on every choice
/// (what a picture round asks of each question).
fn has_pictures(q: &Question) -> bool {
    let set = |u: &Option<String>| u.as_deref().is_some_and(|u| !u.trim().is_empty());
    set(&q.image_url)
        || q.choice_images
            .as_ref()
            .is_some_and(|c| !c.is_empty() && c.iter().all(set))
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
        // The same limits a session checks when the quiz is loaded, so the
        // editor's validation finds them first.
        if !(1..=CEILING_TEAMS).contains(&s.max_teams) {
            return Err(bad(
                "settings.maxTeams",
                format!("must be 1 to {CEILING_TEAMS}"),
            ));
        }
        if !(1..=CEILING_TEAM_SIZE).contains(&s.max_team_size) {
            return Err(bad(
                "settings.maxTeamSize",
                format!("must be 1 to {CEILING_TEAM_SIZE}"),
            ));
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
            if let Some(u) = &q.image_url {
                image_url_ok(&format!("{qp}.imageUrl"), u)?;
            }
            if let Some(images) = &q.choice_images {
                let n = q.choices.as_ref().map_or(0, |c| c.len());
                if q.kind != QuestionKind::Choice || images.len() != n {
                    return Err(bad(
                        format!("{qp}.choiceImages"),
                        "choice questions only: one entry per choice (null for none)",
                    ));
                }
                for (ci, u) in images.iter().enumerate() {
                    if let Some(u) = u {
                        image_url_ok(&format!("{qp}.choiceImages[{ci}]"), u)?;
                    }
                }
            }
            if r.kind == RoundType::Picture && !has_pictures(q) {
                return Err(bad(
                    format!("{qp}.imageUrl"),
                    "picture rounds need an image for each question (or for each of its choices)",
                ));
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
        v["settings"]["teams"] = json!("sheet");
        v["settings"]["maxTeams"] = json!(0);
        assert_eq!(field_of(v.clone()), "settings.maxTeams");
        v["settings"]["maxTeams"] = json!(4);
        v["settings"]["maxTeamSize"] = json!(51);
        assert_eq!(field_of(v.clone()), "settings.maxTeamSize");
        v["settings"]["maxTeamSize"] = json!(3);
        parse(v).unwrap();
        let mut v = sample();
        v["rounds"][0]["colour"] = json!("red");
        assert!(field_of(v).starts_with("rounds[0]"));
    }

    #[test]
    fn choices_may_carry_pictures_beside_their_text() {
        let mut v = sample();
        v["rounds"][0]["questions"][1]["choiceImages"] =
            json!(["/media/mars.png", null, "https://x.example/venus.jpg"]);
        let q = parse(v.clone()).unwrap();
        let c = &q.rounds[0].questions[1];
        assert_eq!(c.choices.as_ref().unwrap()[1], "Jupiter", "text unchanged");
        assert_eq!(
            c.choice_images.as_ref().unwrap(),
            &vec![
                Some("/media/mars.png".to_string()),
                None,
                Some("https://x.example/venus.jpg".to_string())
            ]
        );
        // Written back as it came: parallel, nulls kept.
        let back = serde_json::to_value(&q).unwrap();
        assert_eq!(
            back["rounds"][0]["questions"][1]["choiceImages"],
            v["rounds"][0]["questions"][1]["choiceImages"]
        );
        assert_eq!(
            back["rounds"][0]["questions"][1]["choices"],
            json!(["Mars", "Jupiter", "Venus"])
        );
        // A quiz without them serializes without them.
        let plain = serde_json::to_value(parse(sample()).unwrap()).unwrap();
        assert!(plain["rounds"][0]["questions"][1]
            .get("choiceImages")
            .is_none());
    }

    #[test]
    fn choice_pictures_follow_the_question_picture_rules() {
        let with = |images: Value| {
            let mut v = sample();
            v["rounds"][0]["questions"][1]["choiceImages"] = images;
            v
        };
        let f = "rounds[0].questions[1]";
        assert_eq!(
            field_of(with(json!(["/a.png", null]))),
            format!("{f}.choiceImages"),
            "one per choice"
        );
        assert_eq!(
            field_of(with(json!(["/a.png", null, "/b.png", null]))),
            format!("{f}.choiceImages")
        );
        assert_eq!(
            field_of(with(json!([null, "javascript:alert(1)", null]))),
            format!("{f}.choiceImages[1]")
        );
        assert_eq!(
            field_of(with(json!([null, null, "data:image/png;base64,AA"]))),
            format!("{f}.choiceImages[2]")
        );
        assert_eq!(
            field_of(with(json!(["", null, null]))),
            format!("{f}.choiceImages[0]")
        );
        assert_eq!(
            field_of(with(json!([1, null, null]))),
            format!("{f}.choiceImages[0]")
        );
        assert_eq!(field_of(with(json!("/a.png"))), format!("{f}.choiceImages"));
        // Only choice questions have them.
        let mut v = sample();
        v["rounds"][0]["questions"][0]["choiceImages"] = json!(["/a.png", "/b.png"]);
        assert_eq!(field_of(v), "rounds[0].questions[0].choiceImages");
        // The same URL rule as the question's own picture.
        let mut v = sample();
        v["rounds"][0]["questions"][1]["imageUrl"] = json!("ftp://x/a.png");
        assert_eq!(field_of(v), format!("{f}.imageUrl"));
    }

    #[test]
    fn a_picture_round_question_may_have_its_pictures_on_the_choices() {
        let mut v = sample();
        v["rounds"][1]["questions"][0] = json!({"id":"q4","kind":"choice","prompt":"Which is the Eiffel Tower?",
            "choices":["This one","That one"],"choiceImages":["/media/a.png","/media/b.png"],"answer":0});
        parse(v.clone()).unwrap();
        // Not when a choice has none and the question has none either.
        v["rounds"][1]["questions"][0]["choiceImages"] = json!(["/media/a.png", null]);
        assert_eq!(field_of(v.clone()), "rounds[1].questions[0].imageUrl");
        v["rounds"][1]["questions"][0]["imageUrl"] = json!("/media/q.png");
        parse(v).unwrap();
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
