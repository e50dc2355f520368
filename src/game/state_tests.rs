//! Unit tests of every game rule, without sockets.

use super::marking_tests::play_peer_round;
use super::*;
use crate::game::events::{ChatFrom, CloseReason, EndReason, GameEvent};
use crate::game::quiz::Quiz;
use crate::game::Audience;
use crate::game::{Command, Fact, GameError, Outcome};
use serde_json::json;

pub(super) const T0: u64 = 1_000_000;

pub(super) fn quiz() -> Quiz {
    crate::game::quiz::parse(json!({"title":"Friday Quiz",
      "rounds":[
        {"id":"r1","name":"General","questions":[
          {"id":"q1","kind":"text","prompt":"Capital of France?","answer":"Paris","explanation":"Since 987.","points":1,"timeLimitSec":30},
          {"id":"q2","kind":"choice","prompt":"Largest planet?","choices":["Mars","Jupiter","Venus"],"answer":1,"points":2},
          {"id":"q3","kind":"number","prompt":"Moon landing?","answer":1969,"tolerance":1,"points":1}]},
        {"id":"r2","name":"Landmarks","type":"picture","questions":[
          {"id":"q4","kind":"text","prompt":"Name this","imageUrl":"/m/e.jpg","answer":"Eiffel Tower","marking":"peer","points":2},
          {"id":"q5","kind":"text","prompt":"And this","imageUrl":"/m/b.jpg","marking":"peer","points":1}]}]}))
    .unwrap()
}

pub(super) fn game_with(players: &[&str]) -> GameState {
    let mut g = GameState::new("ABCDE", "T", Settings::default());
    g.apply(Command::LoadQuiz { quiz: quiz() }).unwrap();
    for p in players {
        add(&mut g, p, &p.to_uppercase()).unwrap();
    }
    g
}

pub(super) fn add(
    g: &mut GameState,
    id: &str,
    name: &str,
) -> Result<(Outcome, Vec<GameEvent>), GameError> {
    g.apply(Command::AddPlayer {
        player_id: id.into(),
        name: name.into(),
        device_id: None,
        team: None,
    })
}

pub(super) fn open(g: &mut GameState, qid: Option<&str>) -> Vec<GameEvent> {
    g.apply(Command::OpenQuestion {
        question_id: qid.map(String::from),
        time_limit_sec: None,
        now_ms: T0,
    })
    .unwrap()
    .1
}

pub(super) fn answer(
    g: &mut GameState,
    p: &str,
    q: &str,
    a: Value,
    at: u64,
) -> Result<(Outcome, Vec<GameEvent>), GameError> {
    g.apply(Command::SubmitAnswer {
        player_id: p.into(),
        question_id: q.into(),
        answer: a,
        now_ms: at,
    })
}

pub(super) fn close(g: &mut GameState) {
    g.apply(Command::CloseQuestion {
        reason: CloseReason::Mc,
        opening: None,
    })
    .unwrap();
}

pub(super) fn score(g: &GameState, p: &str) -> f64 {
    g.player(p).unwrap().score
}

#[test]
fn joining_emits_one_staff_event_with_the_count() {
    let mut g = game_with(&[]);
    let (out, ev) = add(&mut g, "p1", "Ada").unwrap();
    assert_eq!(
        out,
        Outcome::PlayerAdded {
            player_id: "p1".into()
        }
    );
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].audience(), Audience::Staff);
    assert!(matches!(&ev[0], GameEvent::PlayerJoined(r) if r.total_players == 1));
}

#[test]
fn names_are_unique_ignoring_case_and_sessions_fill_up() {
    let mut g = GameState::new(
        "ABCDE",
        "T",
        Settings {
            max_players: 2,
            ..Settings::default()
        },
    );
    add(&mut g, "p1", "Ada").unwrap();
    assert_eq!(
        add(&mut g, "p2", " ADA ").unwrap_err(),
        GameError::NameTaken
    );
    assert!(matches!(add(&mut g, "p3", ""), Err(GameError::BadName(_))));
    add(&mut g, "p2", "Bob").unwrap();
    assert_eq!(
        add(&mut g, "p3", "Cy").unwrap_err(),
        GameError::SessionFull(2)
    );
}

#[test]
fn removing_and_resetting_players() {
    let mut g = game_with(&["a", "b"]);
    let (out, ev) = g
        .apply(Command::RemovePlayer {
            player_id: "a".into(),
        })
        .unwrap();
    assert_eq!(out, Outcome::Done);
    assert!(matches!(&ev[0], GameEvent::PlayerRemoved(r) if r.total_players == 1));
    // A removed player's name stays out (see show_tests); another joins.
    assert_eq!(add(&mut g, "a2", "a").unwrap_err(), GameError::Banned);
    add(&mut g, "a2", "Zed").unwrap();
    assert_eq!(
        g.apply(Command::RemovePlayer {
            player_id: "nope".into()
        })
        .unwrap_err(),
        GameError::PlayerNotFound
    );
    let d = g.decide(Command::ResetPlayers).unwrap();
    assert_eq!(
        d.facts,
        vec![Fact::PlayersCleared {
            player_ids: vec!["b".into(), "a2".into()]
        }]
    );
    let (_, ev) = g.apply(Command::ResetPlayers).unwrap();
    assert_eq!(ev, vec![GameEvent::AllCleared {}]);
    assert_eq!(g.total_players(), 0);
}

#[test]
fn permissions_follow_roles() {
    assert!(!Command::ResetPlayers.allowed_for(Role::Player));
    assert!(!Command::Reveal.allowed_for(Role::Display));
    assert!(Command::Reveal.allowed_for(Role::Mc));
    let ans = Command::SubmitAnswer {
        player_id: "p".into(),
        question_id: "q".into(),
        answer: json!(1),
        now_ms: 0,
    };
    assert!(ans.allowed_for(Role::Player) && !ans.allowed_for(Role::Mc));
    let chat = Command::Chat {
        from: ChatFrom {
            player_id: None,
            name: "MC".into(),
            role: Role::Mc,
        },
        text: "hi".into(),
    };
    assert!(chat.allowed_for(Role::Mc) && !chat.allowed_for(Role::Display));
}

#[test]
fn next_question_walks_the_quiz_and_announces_rounds() {
    let mut g = game_with(&["a"]);
    let ev = open(&mut g, None);
    assert!(
        matches!(&ev[0], GameEvent::RoundChanged { round_id, question_count: 3, .. } if round_id == "r1")
    );
    match &ev[1] {
        GameEvent::QuestionOpened(v) => {
            assert_eq!(v.question_id, "q1");
            assert_eq!(v.deadline, Some(T0 + 30_000));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(g.phase, Phase::Question);
    // Cannot open another while one is open.
    let again = g.apply(Command::OpenQuestion {
        question_id: None,
        time_limit_sec: None,
        now_ms: T0,
    });
    assert_eq!(again.unwrap_err(), GameError::WrongPhase("question"));
    close(&mut g);
    let ev = open(&mut g, None);
    assert_eq!(ev.len(), 1, "same round: no round change");
    assert!(
        matches!(&ev[0], GameEvent::QuestionOpened(v) if v.question_id == "q2" && v.deadline.is_none() && v.choices.as_ref().unwrap().len() == 3)
    );
    close(&mut g);
    open(&mut g, None);
    close(&mut g);
    let ev = open(&mut g, None);
    assert!(
        matches!(&ev[0], GameEvent::RoundChanged { round_id, round_type, .. } if round_id == "r2" && round_type == "picture")
    );
    assert!(
        matches!(&ev[1], GameEvent::QuestionOpened(v) if v.image_url.as_deref() == Some("/m/e.jpg"))
    );
    close(&mut g);
    open(&mut g, None);
    close(&mut g);
    let end = g.apply(Command::OpenQuestion {
        question_id: None,
        time_limit_sec: None,
        now_ms: T0,
    });
    assert!(matches!(end, Err(GameError::QuestionNotFound(_))));
}

#[test]
fn a_chosen_question_and_time_limit_override() {
    let mut g = game_with(&[]);
    let (out, _) = g
        .apply(Command::OpenQuestion {
            question_id: Some("q3".into()),
            time_limit_sec: Some(10),
            now_ms: T0,
        })
        .unwrap();
    assert!(matches!(out, Outcome::QuestionOpened { deadline: Some(d), .. } if d == T0 + 10_000));
    close(&mut g);
    let (out, _) = g
        .apply(Command::OpenQuestion {
            question_id: Some("q1".into()),
            time_limit_sec: Some(0),
            now_ms: T0,
        })
        .unwrap();
    assert!(
        matches!(out, Outcome::QuestionOpened { deadline: None, .. }),
        "0 means no timer"
    );
    close(&mut g);
    let bad = g.apply(Command::OpenQuestion {
        question_id: Some("zz".into()),
        time_limit_sec: None,
        now_ms: T0,
    });
    assert!(matches!(bad, Err(GameError::QuestionNotFound(_))));
    let r = g
        .apply(Command::StartRound {
            round_id: "r2".into(),
        })
        .unwrap()
        .1;
    assert!(matches!(&r[0], GameEvent::RoundChanged { round_id, .. } if round_id == "r2"));
    assert!(
        matches!(&open(&mut g, None)[0], GameEvent::QuestionOpened(v) if v.question_id == "q4")
    );
}

#[test]
fn answers_count_until_the_deadline_last_one_wins_and_repeats_change_nothing() {
    let mut g = game_with(&["a", "b"]);
    open(&mut g, Some("q1"));
    let (out, ev) = answer(&mut g, "a", "q1", json!("Lyon"), T0 + 1000).unwrap();
    assert_eq!(
        out,
        Outcome::Answer {
            question_id: "q1".into(),
            revision: 1
        }
    );
    assert!(matches!(
        &ev[0],
        GameEvent::AnswerSubmitted {
            answered_count: 1,
            total_players: 2,
            ..
        }
    ));
    assert_eq!(ev[0].audience(), Audience::Mc);
    let (out, ev) = answer(&mut g, "a", "q1", json!("Lyon"), T0 + 2000).unwrap();
    assert_eq!(
        out,
        Outcome::Answer {
            question_id: "q1".into(),
            revision: 1
        }
    );
    assert!(ev.is_empty(), "idempotent");
    let (out, _) = answer(&mut g, "a", "q1", json!("Paris"), T0 + 3000).unwrap();
    assert_eq!(
        out,
        Outcome::Answer {
            question_id: "q1".into(),
            revision: 2
        }
    );
    // After the deadline, whatever the client's clock says.
    assert_eq!(
        answer(&mut g, "b", "q1", json!("Paris"), T0 + 30_000).unwrap_err(),
        GameError::QuestionClosed
    );
    assert!(matches!(
        answer(&mut g, "b", "q9", json!("x"), T0).unwrap_err(),
        GameError::QuestionNotFound(_)
    ));
    assert_eq!(
        answer(&mut g, "b", "q2", json!(1), T0).unwrap_err(),
        GameError::QuestionClosed,
        "not the open one"
    );
    assert!(matches!(
        answer(&mut g, "b", "q1", json!(""), T0).unwrap_err(),
        GameError::BadRequest(_)
    ));
    close(&mut g);
    assert_eq!(
        answer(&mut g, "b", "q1", json!("Paris"), T0 + 100).unwrap_err(),
        GameError::QuestionClosed
    );
}

#[test]
fn a_stale_timer_cannot_close_a_later_question() {
    let mut g = game_with(&[]);
    g.apply(Command::OpenQuestion {
        question_id: Some("q1".into()),
        time_limit_sec: Some(30),
        now_ms: T0,
    })
    .unwrap();
    let Some((_, opening)) = g.open_timer() else {
        panic!("a timed question has a timer")
    };
    close(&mut g);
    open(&mut g, Some("q2"));
    let stale = g.apply(Command::CloseQuestion {
        reason: CloseReason::Timer,
        opening: Some(opening),
    });
    assert!(stale.is_err());
    assert_eq!(g.phase, Phase::Question);
}

#[test]
fn reveal_scores_auto_marked_answers_and_tells_movers() {
    let mut g = game_with(&["a", "b", "c"]);
    open(&mut g, Some("q2"));
    answer(&mut g, "a", "q2", json!(1), T0).unwrap();
    answer(&mut g, "b", "q2", json!(0), T0).unwrap();
    answer(&mut g, "c", "q2", json!(1), T0).unwrap();
    let ev = g.apply(Command::Reveal).unwrap().1;
    // Revealing an open question closes it first.
    assert!(matches!(
        &ev[0],
        GameEvent::QuestionClosed {
            reason: CloseReason::Mc,
            ..
        }
    ));
    match &ev[1] {
        GameEvent::AnswerRevealed {
            correct_answer,
            distribution,
            ..
        } => {
            assert_eq!(correct_answer, &json!(1));
            assert_eq!(distribution.as_deref(), Some(&[1, 2, 0][..]));
        }
        e => panic!("{e:?}"),
    }
    let updates: Vec<(&str, f64, usize)> = ev
        .iter()
        .filter_map(|e| match e {
            GameEvent::ScoreUpdated {
                player,
                score,
                rank,
                ..
            } => Some((player.as_str(), *score, *rank)),
            _ => None,
        })
        .collect();
    // b stays on 0 but drops from rank 1 to 3; a and c score 2.
    assert_eq!(updates, vec![("a", 2.0, 1), ("c", 2.0, 1), ("b", 0.0, 3)]);
    assert_eq!(score(&g, "a"), 2.0);
    let top = g.top();
    assert_eq!(
        top.iter().map(|e| e.rank).collect::<Vec<_>>(),
        vec![1, 1, 3]
    );
}

#[test]
fn text_and_number_answers_are_matched_forgivingly() {
    let mut g = game_with(&["a", "b"]);
    open(&mut g, Some("q1"));
    answer(&mut g, "a", "q1", json!("  pàris "), T0).unwrap();
    answer(&mut g, "b", "q1", json!("Lyon"), T0).unwrap();
    g.apply(Command::Reveal).unwrap();
    assert_eq!((score(&g, "a"), score(&g, "b")), (1.0, 0.0));
    open(&mut g, Some("q3"));
    answer(&mut g, "a", "q3", json!(1970), T0).unwrap();
    answer(&mut g, "b", "q3", json!("1967"), T0).unwrap();
    g.apply(Command::Reveal).unwrap();
    assert_eq!((score(&g, "a"), score(&g, "b")), (2.0, 0.0));
}

#[test]
fn the_speed_bonus_rewards_fast_correct_answers() {
    let mut g = GameState::new(
        "ABCDE",
        "T",
        Settings {
            speed_bonus: true,
            ..Settings::default()
        },
    );
    let mut q = quiz();
    q.rounds[0].questions[1].time_limit_sec = Some(10);
    q.rounds[0].questions[1].points = 10.0;
    g.apply(Command::LoadQuiz { quiz: q }).unwrap();
    add(&mut g, "fast", "Fast").unwrap();
    add(&mut g, "slow", "Slow").unwrap();
    open(&mut g, Some("q2"));
    answer(&mut g, "fast", "q2", json!(1), T0).unwrap();
    answer(&mut g, "slow", "q2", json!(1), T0 + 9_999).unwrap();
    g.apply(Command::Reveal).unwrap();
    assert_eq!(score(&g, "fast"), 10.0);
    assert_eq!(score(&g, "slow"), 5.0);
}

#[test]
fn chat_follows_the_setting_and_length_rules() {
    let mut g = game_with(&["a"]);
    let from = ChatFrom {
        player_id: Some("a".into()),
        name: "A".into(),
        role: Role::Player,
    };
    let chat = |g: &mut GameState, t: &str| {
        g.apply(Command::Chat {
            from: from.clone(),
            text: t.into(),
        })
    };
    assert_eq!(chat(&mut g, "hi").unwrap_err(), GameError::ChatDisabled);
    let ev = g.apply(Command::SetChat { enabled: true }).unwrap().1;
    assert!(matches!(&ev[0], GameEvent::SettingsChanged { settings } if settings.chat));
    assert!(
        matches!(&chat(&mut g, " hi ").unwrap().1[0], GameEvent::ChatMessage { text, .. } if text == "hi")
    );
    assert!(matches!(chat(&mut g, "   "), Err(GameError::BadRequest(_))));
    assert!(matches!(
        chat(&mut g, &"x".repeat(281)),
        Err(GameError::BadRequest(_))
    ));
    assert!(chat(&mut g, &"é".repeat(280)).is_ok());
}

#[test]
fn snapshots_show_each_role_what_it_may_see() {
    let mut g = game_with(&["a", "b"]);
    open(&mut g, Some("q1"));
    answer(&mut g, "a", "q1", json!("Paris"), T0).unwrap();
    let d = g.snapshot(&View::Display, 2, &|_| true);
    assert_eq!(d["phase"], "question");
    assert_eq!(d["question"]["questionId"], "q1");
    assert_eq!(d["question"]["deadline"], T0 + 30_000);
    assert!(
        d["question"].get("correctAnswer").is_none(),
        "display never sees answers before reveal"
    );
    assert!(d.get("answers").is_none());
    assert!(!d.to_string().contains("Paris"));
    let me = g.snapshot(&View::Player("a".into()), 2, &|_| true);
    assert_eq!(me["me"]["answers"]["q1"], "Paris");
    assert!(me["question"].get("correctAnswer").is_none());
    let other = g.snapshot(&View::Player("b".into()), 2, &|_| true);
    assert!(!other.to_string().contains("Paris"));
    let mc = g.snapshot(&View::Mc, 2, &|p| p == "a");
    assert_eq!(mc["answers"]["a"], "Paris");
    assert_eq!(mc["players"][1]["online"], false);
    assert_eq!(mc["round"]["id"], "r1");
    g.apply(Command::Reveal).unwrap();
    let d = g.snapshot(&View::Display, 2, &|_| true);
    assert_eq!(d["question"]["correctAnswer"], "Paris");
    assert_eq!(d["question"]["explanation"], "Since 987.");
    assert_eq!(d["question"]["closed"], true);
}

#[test]
fn a_marker_sees_the_assignment_and_their_marks_in_the_snapshot() {
    let mut g = game_with(&["a", "b"]);
    play_peer_round(&mut g, &["a", "b"]);
    g.apply(Command::StartMarking {
        round_id: None,
        seed: 3,
    })
    .unwrap();
    let snap = g.snapshot(&View::Player("a".into()), 2, &|_| true);
    let a = &snap["me"]["assignment"];
    let id = a["assignmentId"].as_str().unwrap().to_string();
    assert_eq!(a["items"][0]["answer"], "guess by b");
    g.apply(Command::SubmitMark {
        player_id: "a".into(),
        assignment_id: id,
        question_id: "q4".into(),
        score: 1.0,
    })
    .unwrap();
    let snap = g.snapshot(&View::Player("a".into()), 2, &|_| true);
    assert_eq!(snap["me"]["assignment"]["marks"]["q4"], 1.0);
    let mc = g.snapshot(&View::Mc, 2, &|_| true);
    assert_eq!(mc["marking"]["marksGiven"], 1);
    assert_eq!(mc["marking"]["marksExpected"], 4);
}

#[test]
fn loading_a_quiz_is_for_calm_moments() {
    let mut g = game_with(&["a"]);
    open(&mut g, Some("q1"));
    assert_eq!(
        g.apply(Command::LoadQuiz { quiz: quiz() }).unwrap_err(),
        GameError::WrongPhase("question")
    );
    close(&mut g);
    g.apply(Command::LoadQuiz { quiz: quiz() }).unwrap();
    assert_eq!(g.phase, Phase::Closed, "same question still there");
    assert_eq!(g.title, "Friday Quiz");
}

#[test]
fn nothing_happens_after_the_end() {
    let mut g = game_with(&["a"]);
    let (_, ev) = g
        .apply(Command::End {
            reason: EndReason::Mc,
        })
        .unwrap();
    assert!(
        matches!(&ev[0], GameEvent::SessionEnded { leaderboard, .. } if leaderboard.len() == 1)
    );
    assert_eq!(g.phase, Phase::Ended);
    assert_eq!(
        add(&mut g, "b", "Bob").unwrap_err(),
        GameError::SessionEnded
    );
    assert_eq!(
        g.apply(Command::Reveal).unwrap_err(),
        GameError::SessionEnded
    );
}

#[test]
fn results_list_every_player_and_question() {
    let mut g = game_with(&["a", "b"]);
    open(&mut g, Some("q2"));
    answer(&mut g, "a", "q2", json!(1), T0).unwrap();
    g.apply(Command::Reveal).unwrap();
    let rows = crate::game::results::rows(&mut g);
    assert_eq!(rows.len(), 2 * 5);
    let r = rows
        .iter()
        .find(|r| r.player_id == "a" && r.question_id == "q2")
        .unwrap();
    assert_eq!(
        (r.correct, r.score, r.total, r.rank),
        (Some(true), Some(2.0), 2.0, 1)
    );
    assert_eq!(r.marked_by.as_deref(), Some("auto"));
    let csv = crate::game::results::csv(&rows);
    assert!(csv.starts_with(
        "rank,player_id,name,round_id,question_id,answer,correct,marked_by,score,total\n"
    ));
    assert!(csv.contains("1,a,A,r1,q2,1,true,auto,2,2\n"), "{csv}");
    assert_eq!(csv.lines().count(), 11);
}

#[test]
fn the_same_join_again_is_done_already_and_another_with_the_name_is_not() {
    let mut g = game_with(&[]);
    let (o, events) = add(&mut g, "p1", "Ada").unwrap();
    assert_eq!(
        o,
        Outcome::PlayerAdded {
            player_id: "p1".into()
        }
    );
    assert!(!events.is_empty());
    let (o, events) = add(&mut g, "p1", "Ada").unwrap();
    assert_eq!(
        o,
        Outcome::PlayerAdded {
            player_id: "p1".into()
        }
    );
    assert!(events.is_empty(), "a retry adds nothing");
    assert_eq!(g.total_players(), 1);
    assert!(matches!(
        add(&mut g, "p2", "Ada"),
        Err(GameError::NameTaken)
    ));
}
