//! Unit tests of peer marking and MC overrides, without sockets.

use super::tests::*;
use super::*;
use crate::game::events::MarkingItem;
use crate::game::{Audience, Command, GameError, GameEvent};
use serde_json::json;

pub(super) fn play_peer_round(g: &mut GameState, players: &[&str]) {
    open(g, Some("q4"));
    for p in players {
        answer(g, p, "q4", json!(format!("guess by {p}")), T0).unwrap();
    }
    close(g);
    open(g, Some("q5"));
    for p in players {
        answer(g, p, "q5", json!("Big Ben"), T0).unwrap();
    }
    close(g);
}

#[test]
fn peer_marking_assigns_others_answers_and_applies_marks_at_the_end() {
    let mut g = game_with(&["a", "b", "c", "d"]);
    play_peer_round(&mut g, &["a", "b", "c"]);
    let ev = g
        .apply(Command::StartMarking {
            round_id: None,
            seed: 7,
        })
        .unwrap()
        .1;
    assert_eq!(g.phase, Phase::Marking);
    assert!(matches!(&ev[0], GameEvent::MarkingStarted { round_id } if round_id == "r2"));
    let assigned: Vec<(String, String, Vec<MarkingItem>)> = ev
        .iter()
        .filter_map(|e| match e {
            GameEvent::AssignmentCreated {
                marker,
                assignment_id,
                items,
                ..
            } => {
                assert_eq!(e.audience(), Audience::Player(marker.clone()));
                Some((marker.clone(), assignment_id.clone(), items.clone()))
            }
            _ => None,
        })
        .collect();
    // d answered nothing: neither marks nor is marked.
    assert_eq!(assigned.len(), 3);
    for (marker, _, items) in &assigned {
        assert_eq!(items.len(), 2);
        assert!(
            !items[0].answer.as_str().unwrap().ends_with(marker.as_str()),
            "never their own"
        );
        assert_eq!(items[0].correct_answer, Some(json!("Eiffel Tower")));
        assert_eq!(items[1].correct_answer, None);
    }
    // Questions cannot be opened while marking.
    assert!(g
        .apply(Command::OpenQuestion {
            question_id: None,
            time_limit_sec: None,
            now_ms: T0
        })
        .is_err());

    let (m0, a0, _) = &assigned[0];
    let mark = |g: &mut GameState, p: &str, a: &str, q: &str, s: f64| {
        g.apply(Command::SubmitMark {
            player_id: p.into(),
            assignment_id: a.into(),
            question_id: q.into(),
            score: s,
        })
    };
    assert!(matches!(
        mark(&mut g, m0, a0, "q4", 2.5),
        Err(GameError::InvalidScore(_))
    ));
    assert!(matches!(
        mark(&mut g, m0, a0, "q4", 0.25),
        Err(GameError::InvalidScore(_))
    ));
    assert_eq!(
        mark(&mut g, "d", a0, "q4", 1.0).unwrap_err(),
        GameError::AssignmentNotFound
    );
    assert!(matches!(
        mark(&mut g, m0, a0, "q1", 1.0),
        Err(GameError::QuestionNotFound(_))
    ));
    let ev = mark(&mut g, m0, a0, "q4", 1.5).unwrap().1;
    assert!(matches!(&ev[0], GameEvent::MarkUpdated { score, .. } if *score == 1.5));
    assert_eq!(ev[0].audience(), Audience::Mc);
    assert!(
        mark(&mut g, m0, a0, "q4", 1.5).unwrap().1.is_empty(),
        "same mark twice changes nothing"
    );
    assert_eq!(g.marking_progress().unwrap().marks_given, 1);

    let mut completed = 0;
    for (m, a, _) in &assigned {
        for q in ["q4", "q5"] {
            let ev = mark(&mut g, m, a, q, if q == "q4" { 2.0 } else { 0.5 })
                .unwrap()
                .1;
            completed += ev
                .iter()
                .filter(|e| matches!(e, GameEvent::MarkingCompleted { .. }))
                .count();
        }
    }
    assert_eq!(
        completed, 1,
        "marking:completed once, when the last mark is in"
    );
    // Scores are applied only when marking ends.
    assert_eq!(score(&g, "a"), 0.0);
    let ev = g.apply(Command::EndMarking).unwrap().1;
    assert!(matches!(&ev[0], GameEvent::MarkingEnded { .. }));
    for p in ["a", "b", "c"] {
        assert_eq!(score(&g, p), 2.5, "{p}");
    }
    assert_eq!(score(&g, "d"), 0.0);
    assert_eq!(g.phase, Phase::Closed);
    assert_eq!(g.assignments().count(), 3);
    assert!(g
        .award_of("a", "q4")
        .unwrap()
        .by
        .label()
        .starts_with("peer:"));
}

#[test]
fn with_one_answerer_the_mc_marks() {
    let mut g = game_with(&["a", "b"]);
    play_peer_round(&mut g, &["a"]);
    let ev = g
        .apply(Command::StartMarking {
            round_id: Some("r2".into()),
            seed: 1,
        })
        .unwrap()
        .1;
    assert!(!ev
        .iter()
        .any(|e| matches!(e, GameEvent::AssignmentCreated { .. })));
    assert!(ev
        .iter()
        .any(|e| matches!(e, GameEvent::MarkingCompleted { .. })));
    g.apply(Command::OverrideScore {
        player_id: "a".into(),
        question_id: "q4".into(),
        score: 2.0,
    })
    .unwrap();
    g.apply(Command::EndMarking).unwrap();
    assert_eq!(score(&g, "a"), 2.0);
}

#[test]
fn marking_needs_peer_questions_and_the_right_phase() {
    let mut g = game_with(&["a"]);
    let e = g.apply(Command::StartMarking {
        round_id: Some("r1".into()),
        seed: 1,
    });
    assert!(matches!(e, Err(GameError::BadRequest(_))));
    open(&mut g, Some("q4"));
    let e = g.apply(Command::StartMarking {
        round_id: Some("r2".into()),
        seed: 1,
    });
    assert_eq!(e.unwrap_err(), GameError::WrongPhase("question"));
    assert_eq!(
        g.apply(Command::EndMarking).unwrap_err(),
        GameError::WrongPhase("question")
    );
}

#[test]
fn mc_overrides_stand_over_auto_and_peer_marks() {
    let mut g = game_with(&["a"]);
    open(&mut g, Some("q2"));
    answer(&mut g, "a", "q2", json!(0), T0).unwrap();
    close(&mut g);
    let ev = g
        .apply(Command::OverrideScore {
            player_id: "a".into(),
            question_id: "q2".into(),
            score: 1.5,
        })
        .unwrap()
        .1;
    assert!(matches!(&ev[0], GameEvent::ScoreUpdated { score, .. } if *score == 1.5));
    g.apply(Command::Reveal).unwrap();
    assert_eq!(score(&g, "a"), 1.5);
    assert!(matches!(
        g.apply(Command::OverrideScore {
            player_id: "a".into(),
            question_id: "q2".into(),
            score: 3.0
        }),
        Err(GameError::InvalidScore(_))
    ));
    assert_eq!(
        g.apply(Command::OverrideScore {
            player_id: "x".into(),
            question_id: "q2".into(),
            score: 1.0
        })
        .unwrap_err(),
        GameError::PlayerNotFound
    );
}
