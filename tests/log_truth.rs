//! The log is the truth: a quiz night (every question kind, a peer-marked
//! round, an MC override, a kick, chat) is played while every frame each
//! role sees is recorded; the real binary is killed with SIGKILL at several
//! points (mid-question, right after a burst of answers, mid-marking) and
//! restarted. After each restart: every role's snapshot equals the one
//! before the kill; clients that resume with `since` get exactly what they
//! missed, once, in order; at the end every client's whole recorded stream
//! equals, seq for seq and byte for byte, the history the log replays to a
//! fresh client of the same role; every acked answer, mark and chat message
//! is there once.

mod common;

use common::recorder::{crash_and_resume, history, player_id, Client};
use common::Child;
use serde_json::{json, Value};
use std::time::Duration;

fn quiz() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

#[actix_rt::test]
async fn a_quiz_night_survives_kill_9_at_any_point_with_nothing_lost_or_forked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc_token) = api.create_session(json!({"quiz": quiz()})).await;
    let code = code.as_str();
    let post = |path: &str| format!("/api/sessions/{code}{path}");
    let mut mc = Client::connect(
        &api,
        "mc",
        json!({"sessionCode": code, "role": "mc", "token": mc_token}),
    )
    .await;
    let mut display = Client::connect(
        &api,
        "display",
        json!({"sessionCode": code, "role": "display"}),
    )
    .await;
    let mut ada = Client::connect(
        &api,
        "ada",
        json!({"sessionCode": code, "role": "player", "name": "Ada"}),
    )
    .await;
    let mut bob = Client::connect(
        &api,
        "bob",
        json!({"sessionCode": code, "role": "player", "name": "Bob"}),
    )
    .await;
    let mut cy = Client::connect(
        &api,
        "cy",
        json!({"sessionCode": code, "role": "player", "name": "Cy"}),
    )
    .await;
    let token = |c: &Client| c.join["token"].as_str().unwrap().to_string();
    let (ada_t, bob_t, cy_t) = (token(&ada), token(&bob), token(&cy));
    let tokens: Vec<(&str, Option<&str>)> = vec![
        ("mc", Some(&mc_token)),
        ("display", None),
        ("ada", Some(&ada_t)),
        ("bob", Some(&bob_t)),
        ("cy", Some(&cy_t)),
    ];
    let mut acked_answers: Vec<(&str, &str, Value)> = Vec::new();
    let mut acked_chat: Vec<String> = Vec::new();

    // Round 1: a text question, answered and revealed.
    let open = |q: &str| json!({"questionId": q, "timeLimitSec": 0});
    ok(api
        .post(&post("/question"), Some(&mc_token), open("q1"))
        .await);
    for (c, a) in [(&mut ada, "Paris"), (&mut bob, "paree"), (&mut cy, "Lyon")] {
        let r = c
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q1", "answer": a}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
    }
    acked_answers.extend([
        ("ada", "q1", json!("Paris")),
        ("bob", "q1", json!("paree")),
        ("cy", "q1", json!("Lyon")),
    ]);
    let r = mc
        .call("chat:send", "c1", json!({"text": "Welcome, everyone!"}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    acked_chat.push("Welcome, everyone!".into());
    ok(api
        .post(&post("/question/reveal"), Some(&mc_token), json!({}))
        .await);

    // A choice question; crash mid-question after a burst of acked answers.
    ok(api
        .post(&post("/question"), Some(&mc_token), open("q2"))
        .await);
    for (c, a) in [(&mut ada, 1), (&mut bob, 0)] {
        let r = c
            .call(
                "answer:submit",
                "b",
                json!({"questionId": "q2", "answer": a}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
    }
    acked_answers.extend([("ada", "q2", json!(1)), ("bob", "q2", json!(0))]);
    let r = ada
        .call("chat:send", "c2", json!({"text": "Easy one"}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    acked_chat.push("Easy one".into());
    for c in [&mut mc, &mut display, &mut ada, &mut bob, &mut cy] {
        c.pump(Duration::from_millis(300)).await;
    }
    let (api, _) = crash_and_resume(
        &mut child,
        &db,
        &[],
        code,
        &mut [&mut mc, &mut display, &mut ada, &mut bob, &mut cy],
        &tokens,
    )
    .await;

    // The question is still open after the crash: Cy answers, then reveal.
    let r = cy
        .call(
            "answer:submit",
            "c",
            json!({"questionId": "q2", "answer": 2}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    acked_answers.push(("cy", "q2", json!(2)));
    ok(api
        .post(&post("/question/reveal"), Some(&mc_token), json!({}))
        .await);

    // A number question; crash right after a burst of answers, without
    // waiting for the events to reach anyone but the answerers.
    ok(api
        .post(&post("/question"), Some(&mc_token), open("q3"))
        .await);
    for (c, a) in [(&mut ada, 1969), (&mut bob, 1970), (&mut cy, 1969)] {
        let r = c
            .call(
                "answer:submit",
                "d",
                json!({"questionId": "q3", "answer": a}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
    }
    acked_answers.extend([
        ("ada", "q3", json!(1969)),
        ("bob", "q3", json!(1970)),
        ("cy", "q3", json!(1969)),
    ]);
    let (api, _) = crash_and_resume(
        &mut child,
        &db,
        &[],
        code,
        &mut [&mut mc, &mut display, &mut ada, &mut bob, &mut cy],
        &tokens,
    )
    .await;
    ok(api
        .post(&post("/question/reveal"), Some(&mc_token), json!({}))
        .await);

    // An MC-marked question, scored by an override.
    ok(api
        .post(&post("/question"), Some(&mc_token), open("q4"))
        .await);
    let r = bob
        .call(
            "answer:submit",
            "e",
            json!({"questionId": "q4", "answer": "door hinge"}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    acked_answers.push(("bob", "q4", json!("door hinge")));
    ok(api
        .post(&post("/question/close"), Some(&mc_token), json!({}))
        .await);
    let bob_id = player_id(&api, code, &bob_t).await;
    let (s, v) = api
        .post(
            &post("/scores"),
            Some(&mc_token),
            json!({"playerId": bob_id, "questionId": "q4", "score": 1}),
        )
        .await;
    assert_eq!(s, 204, "{v}");

    // The picture round, peer-marked; crash mid-marking.
    for (qid, answers) in [
        (
            "q5",
            [
                ("ada", "Eiffel Tower"),
                ("bob", "Tour Eiffel"),
                ("cy", "Big Ben"),
            ],
        ),
        (
            "q6",
            [("ada", "San Francisco"), ("bob", "Oakland"), ("cy", "SF")],
        ),
    ] {
        ok(api
            .post(&post("/question"), Some(&mc_token), open(qid))
            .await);
        for (who, a) in answers {
            let c = match who {
                "ada" => &mut ada,
                "bob" => &mut bob,
                _ => &mut cy,
            };
            let r = c
                .call(
                    "answer:submit",
                    "f",
                    json!({"questionId": qid, "answer": a}),
                )
                .await;
            assert_eq!(r["type"], "ack", "{r}");
            acked_answers.push((who, qid, json!(a)));
        }
        ok(api
            .post(&post("/question/close"), Some(&mc_token), json!({}))
            .await);
    }
    ok(api
        .post(
            &post("/marking"),
            Some(&mc_token),
            json!({"enabled": true, "roundId": "r2"}),
        )
        .await);
    let mut marks = 0;
    for c in [&mut ada, &mut bob] {
        c.pump(Duration::from_millis(300)).await;
        let a = c
            .events
            .values()
            .rev()
            .find(|e| e["type"] == "marking:assignment-created")
            .cloned()
            .unwrap_or_else(|| panic!("{}: no assignment", c.name));
        let aid = a["data"]["assignmentId"].as_str().unwrap().to_string();
        for item in a["data"]["items"].as_array().unwrap() {
            let r = c
                .call(
                    "mark:submit",
                    "m",
                    json!({"assignmentId": aid, "questionId": item["questionId"], "score": 1}),
                )
                .await;
            assert_eq!(r["type"], "ack", "{r}");
            marks += 1;
        }
    }
    assert!(marks >= 2);
    let (api, _) = crash_and_resume(
        &mut child,
        &db,
        &[],
        code,
        &mut [&mut mc, &mut display, &mut ada, &mut bob, &mut cy],
        &tokens,
    )
    .await;
    ok(api
        .post(
            &post("/marking"),
            Some(&mc_token),
            json!({"enabled": false}),
        )
        .await);

    // A kick, a last chat, the end.
    let cy_id = player_id(&api, code, &cy_t).await;
    let r = api
        .request(
            "DELETE",
            &post(&format!("/players/{cy_id}")),
            Some(&mc_token),
            None,
        )
        .await;
    assert_eq!(r.0, 204, "{}", r.1);
    let r = bob.call("chat:send", "c3", json!({"text": "Bye Cy"})).await;
    assert_eq!(r["type"], "ack", "{r}");
    acked_chat.push("Bye Cy".into());
    assert_eq!(
        api.post(&post("/end"), Some(&mc_token), json!({})).await.0,
        204
    );
    for c in [&mut mc, &mut display, &mut ada, &mut bob, &mut cy] {
        c.pump(Duration::from_millis(600)).await;
    }

    // Every client's whole recorded stream is exactly the history the log
    // replays to a fresh client of the same role: same seqs, same bytes.
    let api = child.api();
    for c in [&mc, &display, &ada, &bob] {
        let (_, full) = history(&api, code, c.join["token"].as_str(), 0).await;
        let mine: Vec<(&u64, &Value)> = c.events.iter().collect();
        let theirs: Vec<(&u64, &Value)> = full.range(c.first_seq + 1..).collect();
        assert_eq!(
            mine.len(),
            theirs.len(),
            "{}: missed or extra events",
            c.name
        );
        for ((s1, f1), (s2, f2)) in mine.iter().zip(&theirs) {
            assert_eq!((s1, f1), (s2, f2), "{}: forked history", c.name);
        }
    }
    // Everything acked is there once.
    let (s, results) = api.get(&post("/results"), Some(&mc_token)).await;
    assert_eq!(s, 200, "{results}");
    let text = results.to_string();
    for (who, q, a) in &acked_answers {
        if *who == "cy" {
            continue; // kicked: gone from the results
        }
        assert!(
            text.contains(&a.to_string().trim_matches('"').to_string()),
            "{who} {q} {a} missing: {text}"
        );
    }
    let chats: Vec<String> = mc
        .events
        .values()
        .filter(|e| e["type"] == "chat:message")
        .map(|e| e["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(chats, acked_chat);
}

/// A command that must succeed.
fn ok((status, body): (u16, Value)) {
    assert!((200..300).contains(&status), "{status}: {body}");
}
