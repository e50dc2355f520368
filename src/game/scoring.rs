//! Answer matching and points.

use super::quiz::{Question, QuestionKind};
use serde_json::Value;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest text answer a player may send.
pub const MAX_ANSWER_CHARS: usize = 500;

/// Folds case, accents and spaces: "  Éiffel  tower " == "eiffeltower".
pub fn fold_text(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c) && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Checks a submitted answer's shape for the question and returns it in
/// canonical form (choice index, number, or trimmed text).
pub fn normalize_answer(q: &Question, answer: &Value) -> Result<Value, String> {
    match q.kind {
        QuestionKind::Choice => {
            let n = q.choices.as_ref().map_or(0, |c| c.len());
            let i = answer
                .as_u64()
                .or_else(|| answer.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or("a choice answer is the index of a choice")?;
            if (i as usize) < n {
                Ok(Value::from(i))
            } else {
                Err(format!("choice index must be below {n}"))
            }
        }
        QuestionKind::Number => {
            let x = answer
                .as_f64()
                .or_else(|| {
                    answer
                        .as_str()
                        .and_then(|s| s.trim().replace(',', ".").parse().ok())
                })
                .filter(|x: &f64| x.is_finite())
                .ok_or("a number answer must be a number")?;
            Ok(serde_json::Number::from_f64(x)
                .map(Value::Number)
                .unwrap_or(Value::Null))
        }
        QuestionKind::Text => {
            let s = answer
                .as_str()
                .ok_or("a text answer must be a string")?
                .trim();
            if s.is_empty() {
                return Err("the answer is empty".into());
            }
            if s.chars().count() > MAX_ANSWER_CHARS {
                return Err(format!("answers are at most {MAX_ANSWER_CHARS} characters"));
            }
            if s.chars().any(|c| c.is_control()) {
                return Err("answers must not contain control characters".into());
            }
            Ok(Value::String(s.to_string()))
        }
    }
}

/// Whether an (already normalized) answer is correct; `None` when the
/// question cannot be auto-marked.
pub fn is_correct(q: &Question, answer: &Value) -> Option<bool> {
    match q.kind {
        QuestionKind::Choice => {
            Some(answer.as_u64().is_some() && answer.as_u64() == q.answer.as_u64())
        }
        QuestionKind::Number => {
            let want = q.answer.as_f64()?;
            let got = answer.as_f64()?;
            Some((got - want).abs() <= q.tolerance.unwrap_or(0.0) + 1e-9)
        }
        QuestionKind::Text => {
            let want = q.answer.as_str()?;
            let got = fold_text(answer.as_str()?);
            Some(
                std::iter::once(want)
                    .chain(q.accept.iter().map(String::as_str))
                    .any(|a| fold_text(a) == got),
            )
        }
    }
}

/// Points for a correct auto-marked answer. With the speed bonus,
/// `round(points * (1 - t/T/2))`, never less than half the points.
pub fn correct_points(points: f64, speed_bonus: bool, taken_ms: u64, limit_ms: Option<u64>) -> f64 {
    match (speed_bonus, limit_ms) {
        (true, Some(limit)) if limit > 0 => {
            let frac = (taken_ms as f64 / limit as f64).clamp(0.0, 1.0);
            (points * (1.0 - frac / 2.0))
                .round()
                .clamp(points / 2.0, points)
        }
        _ => points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Value) -> Question {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_ignores_case_spaces_and_accents() {
        let q = q(
            json!({"id":"q","kind":"text","prompt":"?","answer":"Eiffel Tower","accept":["La Tour Eiffel"]}),
        );
        for a in [
            "eiffel tower",
            "  EIFFEL   TOWER ",
            "Eiffeltower",
            "Éiffel Tówer",
            "la tour eiffel",
        ] {
            assert_eq!(is_correct(&q, &json!(a)), Some(true), "{a}");
        }
        assert_eq!(is_correct(&q, &json!("Big Ben")), Some(false));
    }

    #[test]
    fn numbers_use_the_tolerance() {
        let q = q(json!({"id":"q","kind":"number","prompt":"?","answer":100,"tolerance":5}));
        assert_eq!(is_correct(&q, &json!(104.9)), Some(true));
        assert_eq!(is_correct(&q, &json!(95)), Some(true));
        assert_eq!(is_correct(&q, &json!(106)), Some(false));
        assert_eq!(
            normalize_answer(&q, &json!(" 1969 ")).unwrap(),
            json!(1969.0)
        );
        assert!(normalize_answer(&q, &json!("soon")).is_err());
    }

    #[test]
    fn choices_are_indices() {
        let q =
            q(json!({"id":"q","kind":"choice","prompt":"?","choices":["a","b","c"],"answer":1}));
        assert_eq!(is_correct(&q, &json!(1)), Some(true));
        assert_eq!(is_correct(&q, &json!(2)), Some(false));
        assert!(normalize_answer(&q, &json!(3)).is_err());
        assert_eq!(normalize_answer(&q, &json!("2")).unwrap(), json!(2));
    }

    #[test]
    fn text_answers_are_checked() {
        let q = q(json!({"id":"q","kind":"text","prompt":"?","answer":"x"}));
        assert!(normalize_answer(&q, &json!("   ")).is_err());
        assert!(normalize_answer(&q, &json!(5)).is_err());
        assert!(normalize_answer(&q, &json!("x".repeat(501))).is_err());
        assert_eq!(
            normalize_answer(&q, &json!(" Paris ")).unwrap(),
            json!("Paris")
        );
    }

    #[test]
    fn speed_bonus_never_drops_below_half() {
        assert_eq!(correct_points(10.0, false, 9_000, Some(10_000)), 10.0);
        assert_eq!(correct_points(10.0, true, 0, Some(10_000)), 10.0);
        assert_eq!(correct_points(10.0, true, 5_000, Some(10_000)), 8.0); // round(7.5)
        assert_eq!(correct_points(10.0, true, 10_000, Some(10_000)), 5.0);
        assert_eq!(correct_points(10.0, true, 50_000, Some(10_000)), 5.0);
        assert_eq!(correct_points(10.0, true, 5_000, None), 10.0);
        assert_eq!(correct_points(1.0, true, 9_999, Some(10_000)), 1.0);
    }
}
