//! Nothing lost: the real binary is killed with SIGKILL and restarted on the
//! same database; SIGTERM shuts down cleanly.

mod common;

use common::{Child, Ws};
use serde_json::{json, Value};
use std::time::Duration;

fn quiz() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

#[actix_rt::test]
async fn acked_answers_marks_and_scores_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc) = api.create_session(json!({"quiz": quiz()})).await;
    let (mut ada, j) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let (ada_id, ada_token) = (
        j["playerId"].as_str().unwrap().to_string(),
        j["token"].as_str().unwrap().to_string(),
    );
    let (bob_id, bob_token) = api.join_http(&code, "Bob").await;
    let (mut bob, _) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "token": bob_token}))
        .await;

    // A revealed, auto-marked question.
    let post = |path: &str| format!("/api/sessions/{code}{path}");
    assert_eq!(
        api.post(&post("/question"), Some(&mc), json!({"questionId": "q2"}))
            .await
            .0,
        200
    );
    let ack = ada
        .call(
            "answer:submit",
            "a1",
            json!({"questionId": "q2", "answer": 1}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    let (s, _) = api
        .post(
            &post("/answers"),
            Some(&bob_token),
            json!({"questionId": "q2", "answer": 0}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        api.post(&post("/question/reveal"), Some(&mc), json!({}))
            .await
            .0,
        204
    );
    // A peer-marked question, marked but not yet applied.
    assert_eq!(
        api.post(&post("/question"), Some(&mc), json!({"questionId": "q5"}))
            .await
            .0,
        200
    );
    ada.call(
        "answer:submit",
        "a2",
        json!({"questionId": "q5", "answer": "Eiffel Tower"}),
    )
    .await;
    bob.call(
        "answer:submit",
        "b2",
        json!({"questionId": "q5", "answer": "Tour Eiffel"}),
    )
    .await;
    assert_eq!(
        api.post(&post("/question/close"), Some(&mc), json!({}))
            .await
            .0,
        204
    );
    assert_eq!(
        api.post(&post("/marking"), Some(&mc), json!({"enabled": true}))
            .await
            .0,
        204
    );
    let a = ada.expect("marking:assignment-created").await;
    let aid = a["data"]["assignmentId"].as_str().unwrap().to_string();
    let ack = ada
        .call(
            "mark:submit",
            "m1",
            json!({"assignmentId": aid, "questionId": "q5", "score": 1.5}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(
        api.post(
            &post("/scores"),
            Some(&mc),
            json!({"playerId": bob_id, "questionId": "q1", "score": 1})
        )
        .await
        .0,
        204
    );
    let last_seq = ada.call("resync", "r", json!({})).await["data"]["seq"]
        .as_u64()
        .unwrap();

    child.kill9();
    let child = Child::spawn(&db, &[]);
    let api = child.api();

    // Tokens still work; every acked answer, mark and score is there.
    let (_, mc_view) = api
        .get(&format!("/api/sessions/{code}/state"), Some(&mc))
        .await;
    assert_eq!(mc_view["phase"], "marking");
    let score = |id: &str| {
        mc_view["players"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["playerId"] == id)
            .unwrap()["score"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(score(&ada_id), 2.0, "q2 auto-marked");
    assert_eq!(score(&bob_id), 1.0, "the MC override");
    let (back, joined) = api
        .ws_join(
            json!({"sessionCode": code, "role": "player", "token": ada_token, "since": last_seq}),
        )
        .await;
    let snap = &joined["snapshot"];
    assert_eq!(snap["me"]["answers"]["q2"], 1);
    assert_eq!(snap["me"]["answers"]["q5"], "Eiffel Tower");
    assert_eq!(snap["me"]["assignment"]["assignmentId"], aid.as_str());
    assert_eq!(snap["me"]["assignment"]["marks"]["q5"], 1.5);
    // Nothing was sent that the log does not hold: the resume continues
    // exactly where the client was, with no resync and no gap in seq.
    assert!(joined.get("resync").is_none(), "{joined}");
    assert!(joined["seq"].as_u64().unwrap() >= last_seq);
    drop(back);

    // The quiz goes on: marking off applies the journaled mark.
    assert_eq!(
        api.post(
            &format!("/api/sessions/{code}/marking"),
            Some(&mc),
            json!({"enabled": false})
        )
        .await
        .0,
        204
    );
    let (_, lb) = api
        .get(&format!("/api/sessions/{code}/leaderboard"), None)
        .await;
    let bob_total = lb["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["playerId"] == bob_id.as_str())
        .unwrap()["score"]
        .clone();
    assert_eq!(bob_total, 2.5, "1 override + 1.5 from Ada's mark");
}

#[actix_rt::test]
async fn a_deadline_that_passed_while_down_closes_the_question_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc) = api.create_session(json!({"quiz": quiz()})).await;
    let (_, token) = api.join_http(&code, "Ada").await;
    let (s, v) = api
        .post(
            &format!("/api/sessions/{code}/question"),
            Some(&mc),
            json!({"questionId": "q1", "timeLimitSec": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let deadline = v["deadline"].as_u64().unwrap();
    child.kill9();
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let (mut p, joined) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token}))
        .await;
    assert_eq!(joined["snapshot"]["phase"], "closed");
    assert_eq!(joined["snapshot"]["question"]["closed"], true);
    assert_eq!(joined["snapshot"]["question"]["deadline"], deadline);
    let late = p
        .call(
            "answer:submit",
            "x",
            json!({"questionId": "q1", "answer": "Paris"}),
        )
        .await;
    assert_eq!(late["data"]["code"], "QUESTION_CLOSED");
}

#[actix_rt::test]
async fn a_running_timer_is_rearmed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc) = api.create_session(json!({"quiz": quiz()})).await;
    let (_, token) = api.join_http(&code, "Ada").await;
    api.post(
        &format!("/api/sessions/{code}/question"),
        Some(&mc),
        json!({"questionId": "q1", "timeLimitSec": 3}),
    )
    .await;
    child.kill9();
    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let (mut p, joined) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token}))
        .await;
    assert_eq!(joined["snapshot"]["phase"], "question");
    let ack = p
        .call(
            "answer:submit",
            "x",
            json!({"questionId": "q1", "answer": "Paris"}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    let closed = p.expect("game:question-closed").await;
    assert_eq!(closed["data"]["reason"], "timer");
}

#[actix_rt::test]
async fn sigterm_sends_1001_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc) = api.create_session(json!({})).await;
    let (mut m, _) = api
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    let (mut p, _) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let status = std::thread::scope(|_| child.term());
    assert!(status.success(), "{status:?}");
    assert_eq!(m.expect_close().await, 1001);
    assert_eq!(p.expect_close().await, 1001);
    // The session and its player come back.
    let child = Child::spawn(&db, &[]);
    let (s, v) = child
        .api()
        .get(&format!("/api/sessions/{code}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["totalPlayers"], 1);
    let _ = Ws::connect(&child.api().ws_url).await;
}

#[actix_rt::test]
async fn an_ended_session_keeps_its_results_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc) = api.create_session(json!({"quiz": quiz()})).await;
    api.join_http(&code, "Ada").await;
    assert_eq!(
        api.post(&format!("/api/sessions/{code}/end"), Some(&mc), json!({}))
            .await
            .0,
        204
    );
    child.kill9();
    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let (s, v) = api
        .get(&format!("/api/sessions/{code}/results"), Some(&mc))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"].as_array().unwrap().len(), 6);
    let mut late = api.ws().await;
    late.send(json!({"type": "join", "data": {"sessionCode": code, "role": "display"}}))
        .await;
    assert_eq!(late.expect_close().await, 4010);
}
