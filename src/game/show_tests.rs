//! Unit tests of the run-of-show rules (issue 11): the leaderboard moment,
//! removed players kept out, per-question awards, the marking mode, the
//! rounds already marked and the display's roster.

use super::events::{CloseReason, GameEvent};
use super::quiz::{self, Quiz};
use super::state::{GameState, Phase, Settings, View};
use super::{Audience, Command, Fact, GameError};
use serde_json::{json, Value};

const T0: u64 = 1_000_000;

fn quiz() -> Quiz {
    quiz::parse(json!({"title":"Show",
      "rounds":[
        {"id":"r1","name":"General","questions":[
          {"id":"q1","kind":"text","prompt":"Capital of France?","answer":"Paris","points":1},
          {"id":"q2","kind":"choice","prompt":"Largest planet?","choices":["Mars","Jupiter"],"answer":1,"points":2},
          {"id":"q3","kind":"text","prompt":"A rhyme for orange?","points":1}]},
        {"id":"r2","name":"Pictures","questions":[
          {"id":"q4","kind":"text","prompt":"Name this","answer":"Eiffel Tower","marking":"peer","points":2},
          {"id":"q5","kind":"text","prompt":"And this","marking":"peer","points":1}]}]}))
    .unwrap()
}

fn game() -> GameState {
    let mut g = GameState::new("ABCDE", "T", Settings::default());
    g.apply(Command::LoadQuiz { quiz: quiz() }).unwrap();
    g
}

fn join(g: &mut GameState, id: &str, name: &str, device: Option<&str>) -> Result<(), GameError> {
    g.apply(Command::AddPlayer {
        player_id: id.into(),
        name: name.into(),
        device_id: device.map(String::from),
        team: None,
    })
    .map(drop)
}

fn open(g: &mut GameState, qid: &str) -> Vec<GameEvent> {
    g.apply(Command::OpenQuestion {
        question_id: Some(qid.into()),
        time_limit_sec: None,
        now_ms: T0,
    })
    .unwrap()
    .1
}

fn answer(g: &mut GameState, p: &str, q: &str, a: Value) {
    g.apply(Command::SubmitAnswer {
        player_id: p.into(),
        question_id: q.into(),
        answer: a,
        now_ms: T0 + 10,
    })
    .unwrap();
}

fn close(g: &mut GameState) {
    g.apply(Command::CloseQuestion {
        reason: CloseReason::Mc,
        opening: None,
    })
    .unwrap();
}

fn wire(e: &GameEvent) -> Value {
    serde_json::to_value(e).unwrap()
}

fn snap(g: &mut GameState, view: View) -> Value {
    g.snapshot(&view, 0, &|_| false)
}

#[test]
fn the_leaderboard_moment_goes_to_everyone_and_ends_when_a_question_opens() {
    let mut g = game();
    join(&mut g, "a", "Ada", None).unwrap();
    let ev = g.apply(Command::ShowLeaderboard { shown: true }).unwrap().1;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].audience(), Audience::All);
    let v = wire(&ev[0]);
    assert_eq!(v["type"], "game:leaderboard-shown");
    assert_eq!(v["data"]["shown"], true);
    assert_eq!(v["data"]["top"][0]["name"], "Ada");
    assert_eq!(v["data"]["totalPlayers"], 1);
    for view in [View::Mc, View::Display, View::Player("a".into())] {
        assert_eq!(snap(&mut g, view)["leaderboardShown"], true);
    }
    // Showing it again changes nothing (no fact, no event).
    let d = g.decide(Command::ShowLeaderboard { shown: true }).unwrap();
    assert!(d.facts.is_empty());
    open(&mut g, "q1");
    assert_eq!(snap(&mut g, View::Display)["leaderboardShown"], false);
    // Not while a question is open.
    assert_eq!(
        g.apply(Command::ShowLeaderboard { shown: true })
            .unwrap_err(),
        GameError::WrongPhase("question")
    );
    close(&mut g);
    g.apply(Command::ShowLeaderboard { shown: true }).unwrap();
    let ev = g
        .apply(Command::ShowLeaderboard { shown: false })
        .unwrap()
        .1;
    assert_eq!(wire(&ev[0])["data"]["shown"], false);
    // A round starting ends the moment too.
    g.apply(Command::ShowLeaderboard { shown: true }).unwrap();
    g.apply(Command::StartRound {
        round_id: "r2".into(),
    })
    .unwrap();
    assert!(!g.to_value()["leaderboard_shown"].as_bool().unwrap());
}

#[test]
fn a_removed_player_is_kept_out_by_name_and_device_until_let_back() {
    let mut g = game();
    join(&mut g, "a", "Ann", Some("device-aaaa")).unwrap();
    let ev = g
        .apply(Command::RemovePlayer {
            player_id: "a".into(),
        })
        .unwrap()
        .1;
    assert!(matches!(&ev[0], GameEvent::PlayerRemoved(p) if p.player_id == "a"));
    let banned = ev
        .iter()
        .find(|e| matches!(e, GameEvent::PlayerBanned { .. }))
        .unwrap();
    assert_eq!(banned.audience(), Audience::Mc);
    assert_eq!(g.bans().len(), 1);
    // The same name, a look-alike (Cyrillic a, capitals) or the same device
    // under another name: all refused.
    for (name, device) in [
        ("Ann", None),
        ("\u{0430}NN", Some("device-bbbb")),
        ("Someone Else", Some("device-aaaa")),
    ] {
        assert_eq!(
            join(&mut g, "x", name, device),
            Err(GameError::Banned),
            "{name}"
        );
    }
    // Another name on another device is fine.
    join(&mut g, "b", "Bob", Some("device-bbbb")).unwrap();
    // The MC sees the ban (never the device id itself) and lifts it.
    let mc = snap(&mut g, View::Mc);
    assert_eq!(
        mc["bans"],
        json!([{"banId": "a", "name": "Ann", "device": true}])
    );
    assert_eq!(
        g.apply(Command::Unban {
            ban_id: "zz".into()
        })
        .unwrap_err(),
        GameError::BanNotFound
    );
    let ev = g.apply(Command::Unban { ban_id: "a".into() }).unwrap().1;
    assert_eq!(wire(&ev[0])["type"], "player:unbanned");
    assert_eq!(ev[0].audience(), Audience::Mc);
    join(&mut g, "a2", "Ann", Some("device-aaaa")).unwrap();
}

#[test]
fn leaving_and_clearing_keep_nobody_out() {
    let mut g = game();
    join(&mut g, "a", "Ann", Some("device-aaaa")).unwrap();
    join(&mut g, "b", "Bob", None).unwrap();
    g.apply(Command::Leave {
        player_id: "a".into(),
    })
    .unwrap();
    g.apply(Command::ResetPlayers).unwrap();
    assert!(g.bans().is_empty());
    join(&mut g, "a2", "Ann", Some("device-aaaa")).unwrap();
    join(&mut g, "b2", "Bob", None).unwrap();
}

#[test]
fn device_ids_are_short_opaque_tokens() {
    let mut g = game();
    for bad in [
        "short",
        "has space in it",
        "ünïcödé-device",
        &"x".repeat(65),
    ] {
        assert!(
            matches!(
                join(&mut g, "a", "Ann", Some(bad)),
                Err(GameError::BadRequest(_))
            ),
            "{bad}"
        );
    }
    join(
        &mut g,
        "a",
        "Ann",
        Some("3b241101-e2bb-4255-8caf-4136c566a962"),
    )
    .unwrap();
    // Two players may share a device (a family phone) until one is removed.
    join(
        &mut g,
        "b",
        "Bob",
        Some("3b241101-e2bb-4255-8caf-4136c566a962"),
    )
    .unwrap();
}

/// The `score:updated` events of a batch, as the wire shows them, by player.
fn updates(ev: &[GameEvent]) -> Vec<(String, Value)> {
    ev.iter()
        .filter_map(|e| match e {
            GameEvent::ScoreUpdated { player, .. } => {
                Some((player.clone(), wire(e)["data"].clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn each_award_is_told_to_its_player_even_a_zero() {
    let mut g = game();
    join(&mut g, "a", "Ada", None).unwrap();
    join(&mut g, "b", "Bob", None).unwrap();
    join(&mut g, "c", "Cy", None).unwrap();
    open(&mut g, "q2");
    answer(&mut g, "a", "q2", json!(1));
    answer(&mut g, "b", "q2", json!(0));
    let ev = g.apply(Command::Reveal).unwrap().1;
    let u = updates(&ev);
    let of = |p: &str| u.iter().find(|(x, _)| x == p).map(|(_, d)| d.clone());
    assert_eq!(
        of("a").unwrap(),
        json!({"score": 2.0, "rank": 1, "questionId": "q2", "awarded": 2.0, "by": "auto",
               "awards": {"q2": {"score": 2.0, "by": "auto"}}})
    );
    // Bob's score did not move, his rank did; he learns his zero exactly.
    assert_eq!(of("b").unwrap()["awarded"], 0.0);
    assert_eq!(of("b").unwrap()["questionId"], "q2");
    // Cy did not answer: his rank moved, no award named.
    let cy = of("c").unwrap();
    assert!(cy.get("questionId").is_none() && cy.get("awards").is_none());
    // The snapshot keeps the verdicts.
    let me = &snap(&mut g, View::Player("b".into()))["me"];
    assert_eq!(me["awards"], json!({"q2": {"score": 0.0, "by": "auto"}}));
    assert_eq!(
        snap(&mut g, View::Player("c".into()))["me"]["awards"],
        json!({})
    );

    // An MC mark of a question nobody else's score depends on.
    open(&mut g, "q3");
    answer(&mut g, "a", "q3", json!("Sporange"));
    close(&mut g);
    let ev = g
        .apply(Command::OverrideScore {
            player_id: "a".into(),
            question_id: "q3".into(),
            score: 0.0,
        })
        .unwrap()
        .1;
    let u = updates(&ev);
    assert_eq!(u.len(), 1, "only Ada is told: {u:?}");
    assert_eq!(u[0].1["by"], "mc");
    assert_eq!(u[0].1["awarded"], 0.0);
}

#[test]
fn peer_awards_of_a_round_come_in_one_update_per_player() {
    let mut g = game();
    join(&mut g, "a", "Ada", None).unwrap();
    join(&mut g, "b", "Bob", None).unwrap();
    for q in ["q4", "q5"] {
        open(&mut g, q);
        answer(&mut g, "a", q, json!("Eiffel Tower"));
        answer(&mut g, "b", q, json!("Big Ben"));
        close(&mut g);
    }
    g.apply(Command::StartMarking {
        round_id: Some("r2".into()),
        seed: 7,
    })
    .unwrap();
    for a in g.assignments().cloned().collect::<Vec<_>>() {
        for q in &a.question_ids {
            g.apply(Command::SubmitMark {
                player_id: a.marker_id.clone(),
                assignment_id: a.assignment_id.clone(),
                question_id: q.clone(),
                score: 1.0,
            })
            .unwrap();
        }
    }
    let ev = g.apply(Command::EndMarking).unwrap().1;
    let u = updates(&ev);
    assert_eq!(u.len(), 2);
    for (_, d) in &u {
        // Two questions caused it: no single questionId, both in `awards`.
        assert!(d.get("questionId").is_none(), "{d}");
        assert_eq!(
            d["awards"],
            json!({"q4": {"score": 1.0, "by": "peer"}, "q5": {"score": 1.0, "by": "peer"}})
        );
    }
    // The MC's snapshot lists the round as marked (no "Start marking" again).
    assert_eq!(snap(&mut g, View::Mc)["markedRounds"], json!(["r2"]));
    assert_eq!(
        snap(&mut g, View::Player("a".into()))["me"]["awards"]["q5"]["by"],
        "peer"
    );
}

#[test]
fn questions_say_who_marks_them() {
    let mut g = game();
    for (q, marking) in [("q1", "auto"), ("q3", "mc"), ("q4", "peer")] {
        let ev = open(&mut g, q);
        let opened = ev
            .iter()
            .find(|e| matches!(e, GameEvent::QuestionOpened(_)))
            .unwrap();
        assert_eq!(wire(opened)["data"]["marking"], marking);
        assert_eq!(snap(&mut g, View::Display)["question"]["marking"], marking);
        close(&mut g);
    }
    assert_eq!(g.phase, Phase::Closed);
}

#[test]
fn the_display_gets_the_newest_names_bounded() {
    let mut g = GameState::new("ABCDE", "T", Settings::default());
    for i in 0..250 {
        join(&mut g, &format!("p{i}"), &format!("Player {i}"), None).unwrap();
    }
    let s = snap(&mut g, View::Display);
    let names = s["players"].as_array().unwrap();
    assert_eq!(names.len(), super::view::DISPLAY_NAMES);
    assert_eq!(names[0]["name"], "Player 50");
    assert_eq!(
        names[199],
        json!({"playerId": "p249", "name": "Player 249"})
    );
    assert_eq!(s["totalPlayers"], 250);
    // Players never get the roster.
    assert!(snap(&mut g, View::Player("p1".into()))
        .get("players")
        .is_none());
}

#[test]
fn records_and_snapshots_of_the_previous_version_still_read() {
    // A join as the previous version wrote it: no device id.
    let old: Fact =
        serde_json::from_value(json!({"fact": "playerJoined", "playerId": "a", "name": "Ann"}))
            .unwrap();
    let mut g = game();
    g.evolve(&old);
    // And it is written back the same way.
    assert_eq!(
        serde_json::to_value(&old).unwrap(),
        json!({"fact": "playerJoined", "playerId": "a", "name": "Ann"})
    );
    // A snapshot without the new fields.
    let mut v = g.to_value();
    let o = v.as_object_mut().unwrap();
    o.remove("leaderboard_shown");
    o.remove("bans");
    let back: GameState = serde_json::from_value(v).unwrap();
    assert_eq!(back.to_value(), g.to_value());
}

#[test]
fn choice_pictures_reach_everyone_beside_unchanged_choices() {
    let mut g = game();
    join(&mut g, "a", "Ann", None).unwrap();
    // Without pictures the question reads exactly as before.
    let ev = open(&mut g, "q2");
    let opened = wire(ev.last().unwrap());
    assert_eq!(opened["data"]["choices"], json!(["Mars", "Jupiter"]));
    assert!(opened["data"].get("choiceImages").is_none());
    close(&mut g);
    // With pictures: `choices` still plain text, `choiceImages` beside it,
    // in the event and in every role's snapshot (a phone reloading mid-question).
    let mut q = serde_json::to_value(quiz()).unwrap();
    q["rounds"][0]["questions"][1]["choiceImages"] = json!([null, "/media/jupiter.png"]);
    let mut g = GameState::new("ABCDE", "T", Settings::default());
    g.apply(Command::LoadQuiz {
        quiz: quiz::parse(q).unwrap(),
    })
    .unwrap();
    join(&mut g, "a", "Ann", None).unwrap();
    let ev = open(&mut g, "q2");
    let opened = wire(ev.last().unwrap());
    assert_eq!(opened["type"], "game:question-opened");
    assert_eq!(opened["data"]["choices"], json!(["Mars", "Jupiter"]));
    assert_eq!(
        opened["data"]["choiceImages"],
        json!([null, "/media/jupiter.png"])
    );
    for view in [View::Player("a".into()), View::Display, View::Mc] {
        let s = snap(&mut g, view);
        assert_eq!(s["question"]["choices"], json!(["Mars", "Jupiter"]));
        assert_eq!(
            s["question"]["choiceImages"],
            json!([null, "/media/jupiter.png"])
        );
    }
    // The MC's copy of the quiz keeps them too (the panel shows them).
    assert_eq!(
        snap(&mut g, View::Mc)["quiz"]["rounds"][0]["questions"][1]["choiceImages"][1],
        "/media/jupiter.png"
    );
}
