//! Whole quizzes over real sockets: rounds, timed questions, answers, reveal,
//! peer marking, overrides, leaderboard, chat, results, resumes.

mod common;

use common::{TestServer, Ws};
use serde_json::{json, Value};
use std::time::Duration;

fn example() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

struct Night {
    srv: TestServer,
    code: String,
    mc_token: String,
    mc: Ws,
    display: Ws,
    players: Vec<(String, String, Ws)>, // (id, token, socket)
}

impl Night {
    async fn start(quiz: Value, names: &[&str]) -> Night {
        Self::start_on(TestServer::start().await, quiz, names).await
    }

    async fn start_on(srv: TestServer, quiz: Value, names: &[&str]) -> Night {
        let (code, mc_token) = srv.create_session(json!({"quiz": quiz})).await;
        let (mc, _) = srv
            .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
            .await;
        let (display, _) = srv
            .ws_join(json!({"sessionCode": code, "role": "display"}))
            .await;
        let mut players = Vec::new();
        for n in names {
            let (ws, j) = srv
                .ws_join(json!({"sessionCode": code, "role": "player", "name": n}))
                .await;
            players.push((
                j["playerId"].as_str().unwrap().to_string(),
                j["token"].as_str().unwrap().to_string(),
                ws,
            ));
        }
        Night {
            srv,
            code,
            mc_token,
            mc,
            display,
            players,
        }
    }

    async fn mc_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.srv
            .post(
                &format!("/api/sessions/{}{path}", self.code),
                Some(&self.mc_token),
                body,
            )
            .await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.mc_post(path, body).await;
        assert!(s == 200 || s == 204, "{path}: {s} {v}");
        v
    }
}

async fn answer(ws: &mut Ws, id: &str, qid: &str, a: Value) -> Value {
    ws.call("answer:submit", id, json!({"questionId": qid, "answer": a}))
        .await
}

#[actix_rt::test]
async fn a_whole_quiz_night_with_a_peer_marked_picture_round() {
    let mut n = Night::start(example(), &["Ada", "Bob", "Cy"]).await;

    // Standard round: a text question, answered over WebSocket and HTTP.
    n.ok("/round", json!({"roundId": "r1"})).await;
    for (_, _, p) in n.players.iter_mut() {
        let ev = p.expect("game:round-changed").await;
        assert_eq!(
            ev["data"],
            json!({"roundId": "r1", "roundName": "General Knowledge", "roundType": "standard", "questionCount": 4})
        );
    }
    let opened = n.ok("/question", json!({})).await;
    assert_eq!(opened["questionId"], "q1");
    let deadline = opened["deadline"].as_u64().unwrap();
    for (_, _, p) in n.players.iter_mut() {
        let ev = p.expect("game:question-opened").await;
        assert_eq!(ev["data"]["prompt"], "What is the capital of France?");
        assert_eq!(ev["data"]["deadline"], deadline);
        assert!(ev["data"].get("answer").is_none());
    }
    let ack = answer(&mut n.players[0].2, "a1", "q1", json!("Lyon")).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["data"], json!({"questionId": "q1", "revision": 1}));
    let ack = answer(&mut n.players[0].2, "a2", "q1", json!(" paris ")).await;
    assert_eq!(ack["data"]["revision"], 2);
    let ack = answer(&mut n.players[0].2, "a3", "q1", json!(" paris ")).await;
    assert_eq!(
        ack["data"]["revision"], 2,
        "the same answer twice changes nothing"
    );
    let (s, v) = n
        .srv
        .post(
            &format!("/api/sessions/{}/answers", n.code),
            Some(&n.players[1].1),
            json!({"questionId": "q1", "answer": "Berlin"}),
        )
        .await;
    assert_eq!((s, v), (200, json!({"questionId": "q1", "revision": 1})));
    // The MC and display see counts; nobody sees the answers.
    let seen = n.mc.expect("player:answer-submitted").await;
    assert_eq!(seen["data"]["totalPlayers"], 3);
    let mut last = seen;
    while last["data"]["answeredCount"] != 2 {
        last = n.mc.expect("player:answer-submitted").await;
    }
    assert_eq!(last["data"]["playerId"], n.players[1].0.as_str());
    n.display.expect("player:answer-submitted").await;

    n.ok("/question/close", json!({})).await;
    let closed = n.players[2].2.expect("game:question-closed").await;
    assert_eq!(closed["data"], json!({"questionId": "q1", "reason": "mc"}));
    let late = answer(&mut n.players[2].2, "late", "q1", json!("Paris")).await;
    assert_eq!(late["data"]["code"], "QUESTION_CLOSED");

    n.ok("/question/reveal", json!({})).await;
    for (_, _, p) in n.players.iter_mut() {
        let ev = p.expect("game:answer-revealed").await;
        assert_eq!(ev["data"]["correctAnswer"], "Paris");
        assert_eq!(
            ev["data"]["explanation"],
            "Paris has been the capital since 987."
        );
    }
    let mine = n.players[0].2.expect("score:updated").await;
    // The contract's fields, plus the award that caused it (extension).
    assert_eq!(mine["data"]["score"], 1.0);
    assert_eq!(mine["data"]["rank"], 1);
    assert_eq!(mine["data"]["questionId"], "q1");
    assert_eq!(mine["data"]["awarded"], 1.0);
    let lb = n.players[0].2.expect("leaderboard:updated").await;
    assert_eq!(lb["data"]["top"][0]["name"], "Ada");
    assert_eq!(lb["data"]["totalPlayers"], 3);
    let full = n.display.expect("leaderboard:full").await;
    assert_eq!(full["data"]["entries"].as_array().unwrap().len(), 3);

    // A choice question: the reveal carries the distribution.
    n.ok("/question", json!({})).await;
    for (i, (_, _, p)) in n.players.iter_mut().enumerate() {
        let ev = p.expect("game:question-opened").await;
        assert_eq!(ev["data"]["choices"], json!(["Mars", "Jupiter", "Venus"]));
        answer(p, "c", "q2", json!(if i == 2 { 0 } else { 1 })).await;
    }
    n.ok("/question/reveal", json!({})).await;
    let ev = n.display.expect("game:answer-revealed").await;
    assert_eq!(ev["data"]["distribution"], json!([1, 2, 0]));

    // Picture round, peer-marked.
    n.ok("/question", json!({"questionId": "q5"})).await;
    let ev = n.players[0].2.expect("game:round-changed").await;
    assert_eq!(ev["data"]["roundType"], "picture");
    let ev = n.players[0].2.expect("game:question-opened").await;
    assert_eq!(ev["data"]["imageUrl"], "/media/eiffel.svg");
    let guesses = ["Eiffel Tower", "Big Ben", "Tour Eiffel"];
    for (i, (_, _, p)) in n.players.iter_mut().enumerate() {
        answer(p, "g", "q5", json!(guesses[i])).await;
    }
    n.ok("/question/close", json!({})).await;
    n.ok("/marking", json!({"enabled": true, "roundId": "r2"}))
        .await;
    let mut assignments = Vec::new();
    for (i, (pid, _, p)) in n.players.iter_mut().enumerate() {
        p.expect("game:marking-started").await;
        let a = p.expect("marking:assignment-created").await;
        let items = a["data"]["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_ne!(
            items[0]["answer"],
            json!(guesses[i]),
            "never their own answers"
        );
        assert_eq!(items[0]["correctAnswer"], "Eiffel Tower");
        assignments.push((
            pid.clone(),
            a["data"]["assignmentId"].as_str().unwrap().to_string(),
            items[0]["answer"].clone(),
        ));
    }
    // Markers give full marks to correct-looking answers.
    for (i, (_, aid, their_answer)) in assignments.iter().enumerate() {
        let score = if their_answer == "Big Ben" { 0.0 } else { 2.0 };
        let p = &mut n.players[i].2;
        let bad = p
            .call(
                "mark:submit",
                "bad",
                json!({"assignmentId": aid, "questionId": "q5", "score": 2.5}),
            )
            .await;
        assert_eq!(bad["data"]["code"], "INVALID_SCORE");
        let ack = p
            .call(
                "mark:submit",
                "m",
                json!({"assignmentId": aid, "questionId": "q5", "score": score}),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        let live = n.mc.expect("marking:score-updated").await;
        assert_eq!(live["data"]["assignmentId"], aid.as_str());
        assert_eq!(live["data"]["score"], score);
    }
    n.mc.expect("marking:completed").await;
    let (s, results) = n
        .srv
        .get(
            &format!("/api/sessions/{}/marking/results", n.code),
            Some(&n.mc_token),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(results["progress"]["completed"], true);
    assert_eq!(results["assignments"].as_array().unwrap().len(), 3);
    let (s, _) = n
        .srv
        .get(
            &format!("/api/sessions/{}/marking/results", n.code),
            Some(&n.players[0].1),
        )
        .await;
    assert_eq!(s, 403);
    n.ok("/marking", json!({"enabled": false})).await;
    n.players[0].2.expect("game:marking-ended").await;

    // An override: the MC gives Bob a half point for q1.
    n.ok(
        "/scores",
        json!({"playerId": n.players[1].0, "questionId": "q1", "score": 0.5}),
    )
    .await;
    let (s, v) = n
        .mc_post(
            "/scores",
            json!({"playerId": n.players[1].0, "questionId": "q1", "score": 3}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("INVALID_SCORE"))
    );

    // Final standings: Ada 1+2+2 = 5, Cy 0+0+2 = 2, Bob 0.5+2+0 = 2.5.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let (_, lb) = n
        .srv
        .get(&format!("/api/sessions/{}/leaderboard", n.code), None)
        .await;
    let got: Vec<(String, f64, u64)> = lb["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["score"].as_f64().unwrap(),
                e["rank"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Ada".into(), 5.0, 1),
            ("Bob".into(), 2.5, 2),
            ("Cy".into(), 2.0, 3)
        ]
    );

    // CSV export.
    let client = awc::Client::default();
    let mut resp = client
        .get(format!("{}/api/sessions/{}/results", n.srv.base, n.code))
        .insert_header(("Authorization", format!("Bearer {}", n.mc_token)))
        .insert_header(("Accept", "text/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csv = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "rank,player_id,name,round_id,question_id,answer,correct,marked_by,score,total"
    );
    assert_eq!(lines.len(), 1 + 3 * 6);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",Ada,r1,q1,paris,true,auto,1,5")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",Bob,r1,q1,Berlin,false,mc,0.5,2.5")),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",Ada,r2,q5,Eiffel Tower,true,peer:")),
        "{csv}"
    );

    // The end.
    n.ok("/end", json!({})).await;
    let ended = n.display.expect("session:ended").await;
    assert_eq!(ended["data"]["leaderboard"][0]["name"], "Ada");
    assert_eq!(n.display.expect_close().await, 4010);
    // Results stay readable after the end.
    let (s, v) = n
        .srv
        .get(
            &format!("/api/sessions/{}/results", n.code),
            Some(&n.mc_token),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["rows"].as_array().unwrap().len(), 18);
}

#[actix_rt::test]
async fn a_timed_question_is_closed_by_the_timer_and_late_answers_refused() {
    let mut n = Night::start(example(), &["Ada"]).await;
    let opened = n
        .ok("/question", json!({"questionId": "q3", "timeLimitSec": 1}))
        .await;
    let deadline = opened["deadline"].as_u64().unwrap();
    n.players[0].2.expect("game:question-opened").await;
    let ack = answer(&mut n.players[0].2, "a", "q3", json!(1969)).await;
    assert_eq!(ack["type"], "ack");
    let closed = n.players[0].2.expect("game:question-closed").await;
    assert_eq!(
        closed["data"],
        json!({"questionId": "q3", "reason": "timer"})
    );
    assert!(closed["timestamp"].as_u64().unwrap() >= deadline);
    let late = answer(&mut n.players[0].2, "b", "q3", json!(1970)).await;
    assert_eq!(late["data"]["code"], "QUESTION_CLOSED");
    let (s, v) = n.mc_post("/question/close", json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("WRONG_PHASE")));
}

#[actix_rt::test]
async fn closing_early_cancels_the_timer() {
    let mut n = Night::start(example(), &["Ada"]).await;
    n.ok("/question", json!({"questionId": "q1", "timeLimitSec": 1}))
        .await;
    n.ok("/question/close", json!({})).await;
    n.ok("/question", json!({"questionId": "q2", "timeLimitSec": 30}))
        .await;
    let frames = n.players[0].2.drain_for(Duration::from_millis(1600)).await;
    let closes: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "game:question-closed")
        .collect();
    assert_eq!(closes.len(), 1, "{frames:?}");
    assert_eq!(closes[0]["data"]["reason"], "mc");
    let ack = answer(&mut n.players[0].2, "a", "q2", json!(1)).await;
    assert_eq!(ack["type"], "ack", "q2 is still open");
}

#[actix_rt::test]
async fn the_display_never_learns_an_answer_before_its_reveal() {
    let mut n = Night::start(example(), &["Ada", "Bob"]).await;
    n.ok("/question", json!({"questionId": "q1"})).await;
    answer(&mut n.players[0].2, "a", "q1", json!("Paris")).await;
    answer(&mut n.players[1].2, "a", "q1", json!("Zanzibar")).await;
    n.ok("/question/close", json!({})).await;
    let before = n.display.drain_for(Duration::from_millis(400)).await;
    let text = serde_json::to_string(&before).unwrap();
    assert!(
        !text.contains("Paris") && !text.contains("Zanzibar"),
        "{text}"
    );
    let (_, snap) = n
        .srv
        .get(&format!("/api/sessions/{}/state", n.code), None)
        .await;
    let text = snap.to_string();
    assert!(
        !text.contains("Paris") && !text.contains("Zanzibar"),
        "{text}"
    );
    let (d2, j) = n
        .srv
        .ws_join(json!({"sessionCode": n.code, "role": "display"}))
        .await;
    assert!(!j.to_string().contains("Paris"));
    drop(d2);
    n.ok("/question/reveal", json!({})).await;
    let ev = n.display.expect("game:answer-revealed").await;
    assert_eq!(ev["data"]["correctAnswer"], "Paris");
    // Bob never sees Ada's answer either.
    let bob = n.players[1].2.drain_for(Duration::from_millis(300)).await;
    assert!(
        !serde_json::to_string(&bob).unwrap().contains("Zanzibar\""),
        "only in his own acks"
    );
}

#[actix_rt::test]
async fn a_player_resuming_mid_question_sees_the_question_deadline_and_own_answer() {
    let mut n = Night::start(example(), &["Ada", "Bob"]).await;
    let opened = n.ok("/question", json!({"questionId": "q1"})).await;
    let (pid, token, mut ws) = n.players.remove(0);
    ws.expect("game:question-opened").await;
    answer(&mut ws, "a", "q1", json!("Paris")).await;
    let since = {
        // The last seq this client saw.
        let r = ws.call("resync", "r", json!({})).await;
        r["data"]["seq"].as_u64().unwrap()
    };
    ws.close().await;
    // Back while the same question is open: question, deadline, own answer.
    let (again, joined) = n
        .srv
        .ws_join(json!({"sessionCode": n.code, "role": "player", "token": token, "since": since}))
        .await;
    let snap = &joined["snapshot"];
    assert_eq!(snap["phase"], "question");
    assert_eq!(snap["question"]["questionId"], "q1");
    assert_eq!(snap["question"]["deadline"], opened["deadline"]);
    assert_eq!(snap["me"]["answers"]["q1"], "Paris");
    let since = joined["seq"].as_u64().unwrap();
    again.close().await;
    // Meanwhile: the MC closes and opens the next question.
    n.ok("/question/close", json!({})).await;
    n.ok("/question", json!({})).await;
    let (mut back, joined) = n
        .srv
        .ws_join(json!({"sessionCode": n.code, "role": "player", "token": token, "since": since}))
        .await;
    assert_eq!(joined["playerId"], pid.as_str());
    assert!(joined.get("resync").is_none());
    let snap = &joined["snapshot"];
    assert_eq!(snap["question"]["questionId"], "q2");
    assert_eq!(snap["me"]["answers"]["q1"], "Paris");
    assert!(
        snap["question"]["deadline"].as_u64().unwrap()
            > opened["deadline"].as_u64().unwrap() - 30_000
    );
    let frames = back.drain_for(Duration::from_millis(400)).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    let closed = kinds
        .iter()
        .position(|k| *k == "game:question-closed")
        .expect("missed close replayed");
    let opened_again = kinds
        .iter()
        .position(|k| *k == "game:question-opened")
        .expect("missed open replayed");
    assert!(closed < opened_again);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "game:question-opened")
            .count(),
        1,
        "once"
    );
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert!(seqs.iter().all(|s| *s > since));
}

#[actix_rt::test]
async fn a_marker_resuming_mid_marking_gets_the_assignment_and_marks() {
    let mut n = Night::start(example(), &["Ada", "Bob"]).await;
    n.ok("/question", json!({"questionId": "q5"})).await;
    answer(&mut n.players[0].2, "a", "q5", json!("Eiffel Tower")).await;
    answer(&mut n.players[1].2, "a", "q5", json!("Big Ben")).await;
    n.ok("/question/close", json!({})).await;
    let (_, token, mut ws) = n.players.remove(0);
    let r = ws.call("resync", "r", json!({})).await;
    let since = r["data"]["seq"].as_u64().unwrap();
    ws.close().await;
    n.ok("/marking", json!({"enabled": true})).await;
    let (mut back, joined) = n
        .srv
        .ws_join(json!({"sessionCode": n.code, "role": "player", "token": token, "since": since}))
        .await;
    let a = &joined["snapshot"]["me"]["assignment"];
    assert_eq!(a["items"][0]["answer"], "Big Ben");
    let aid = a["assignmentId"].as_str().unwrap().to_string();
    assert_eq!(joined["snapshot"]["phase"], "marking");
    let replay = back.drain_for(Duration::from_millis(300)).await;
    let created: Vec<&Value> = replay
        .iter()
        .filter(|f| f["type"] == "marking:assignment-created")
        .collect();
    assert_eq!(created.len(), 1, "the missed assignment, once");
    let ack = back
        .call(
            "mark:submit",
            "m",
            json!({"assignmentId": aid, "questionId": "q5", "score": 0}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    back.close().await;
    let (_, j) = n
        .srv
        .ws_join(json!({"sessionCode": n.code, "role": "player", "token": token}))
        .await;
    assert_eq!(j["snapshot"]["me"]["assignment"]["marks"]["q5"], 0.0);
}

#[actix_rt::test]
async fn quiz_validation_names_the_first_bad_field() {
    let srv = TestServer::start().await;
    let mut bad = example();
    bad["rounds"][1]["questions"][0]["kind"] = json!("essay");
    let (s, v) = srv.post("/api/sessions", None, json!({"quiz": bad})).await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["code"], "INVALID_QUIZ");
    assert_eq!(v["error"]["field"], "rounds[1].questions[0].kind");

    let (code, mc) = srv.create_session(json!({})).await;
    let (_, player) = srv.join_http(&code, "Ada").await;
    let mut bad = example();
    bad["rounds"][0]["questions"][1]["answer"] = json!(7);
    let (s, v) = srv
        .request(
            "PUT",
            &format!("/api/sessions/{code}/quiz"),
            Some(&mc),
            Some(bad),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["field"], "rounds[0].questions[1].answer");
    let (s, _) = srv
        .request(
            "PUT",
            &format!("/api/sessions/{code}/quiz"),
            Some(&player),
            Some(example()),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = srv
        .request(
            "PUT",
            &format!("/api/sessions/{code}/quiz"),
            Some(&mc),
            Some(example()),
        )
        .await;
    assert_eq!((s, v), (200, json!({"rounds": 2, "questions": 6})));
}

#[actix_rt::test]
async fn wrong_phase_and_unknown_questions_get_their_codes() {
    let mut n = Night::start(example(), &["Ada"]).await;
    let early = answer(&mut n.players[0].2, "e", "q1", json!("x")).await;
    assert_eq!(early["data"]["code"], "QUESTION_CLOSED");
    let unknown = answer(&mut n.players[0].2, "u", "nope", json!("x")).await;
    assert_eq!(unknown["data"]["code"], "QUESTION_NOT_FOUND");
    let (s, v) = n.mc_post("/question", json!({"questionId": "zz"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("QUESTION_NOT_FOUND"))
    );
    n.ok("/question", json!({})).await;
    let (s, v) = n.mc_post("/question", json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("WRONG_PHASE")));
    let (s, v) = n
        .mc_post("/marking", json!({"enabled": true, "roundId": "r2"}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("WRONG_PHASE")));
    // A player cannot run the quiz, and the MC cannot answer.
    let (s, _) = n
        .srv
        .post(
            &format!("/api/sessions/{}/question/close", n.code),
            Some(&n.players[0].1),
            json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = n
        .mc_post("/answers", json!({"questionId": "q1", "answer": "Paris"}))
        .await;
    assert_eq!(s, 403);
    let bad = n.players[0]
        .2
        .call(
            "mark:submit",
            "m",
            json!({"assignmentId": "r2-1", "questionId": "q5", "score": 1}),
        )
        .await;
    assert_eq!(bad["data"]["code"], "WRONG_PHASE");
}

#[actix_rt::test]
async fn chat_reaches_everyone_while_on_and_stops_when_the_mc_turns_it_off() {
    let mut n = Night::start(example(), &["Ada", "Bob"]).await;
    let ack = n.players[0]
        .2
        .call("chat:send", "c1", json!({"text": "  hello <b>all</b> "}))
        .await;
    assert_eq!(ack["type"], "ack");
    for ws in [&mut n.players[1].2, &mut n.display, &mut n.mc] {
        let m = ws.expect("chat:message").await;
        assert_eq!(m["data"]["text"], "hello <b>all</b>");
        assert_eq!(m["data"]["from"]["name"], "Ada");
        assert_eq!(m["data"]["from"]["role"], "player");
    }
    let (s, _) = n.mc_post("/chat", json!({"text": "welcome"})).await;
    assert_eq!(s, 204);
    let m = n.players[1].2.expect("chat:message").await;
    assert_eq!(m["data"]["from"]["role"], "mc");
    let too_long = n.players[0]
        .2
        .call("chat:send", "c2", json!({"text": "x".repeat(281)}))
        .await;
    assert_eq!(too_long["data"]["code"], "BAD_REQUEST");
    // Rate-limited per player.
    let mut limited = false;
    for i in 0..10 {
        let r = n.players[1]
            .2
            .call("chat:send", &format!("s{i}"), json!({"text": "spam"}))
            .await;
        if r["data"]["code"] == "RATE_LIMITED" {
            limited = true;
            break;
        }
    }
    assert!(limited);
    let (s, _) = n
        .srv
        .request(
            "PATCH",
            &format!("/api/sessions/{}/settings", n.code),
            Some(&n.mc_token),
            Some(json!({"chat": false})),
        )
        .await;
    assert_eq!(s, 204);
    let ev = n.players[0].2.expect("session:settings-changed").await;
    assert_eq!(ev["data"]["settings"]["chat"], false);
    let off = n.players[0]
        .2
        .call("chat:send", "c3", json!({"text": "hi"}))
        .await;
    assert_eq!(off["data"]["code"], "CHAT_DISABLED");
}

#[actix_rt::test]
async fn an_idle_session_expires() {
    let srv = TestServer::with(|c| c.session_idle_secs = 1).await;
    let mut n = Night::start_on(srv, example(), &["Ada"]).await;
    let ended = n.players[0].2.expect("session:ended").await;
    assert_eq!(ended["data"]["reason"], "expired");
    assert_eq!(n.players[0].2.expect_close().await, 4010);
}
