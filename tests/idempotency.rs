//! `Idempotency-Key` on HTTP commands (docs/protocol.md): the same key and
//! command from the same caller is one command, however often it is sent,
//! also after a kill -9 and restart (the key is in the log with the
//! command's effects; in cluster mode the next owner knows it the same
//! way). A retry is answered as the first time, with no second effect.

mod common;

use common::recorder::history;
use common::{Child, TestServer};
use serde_json::{json, Value};

fn chats(events: &std::collections::BTreeMap<u64, Value>) -> Vec<String> {
    events
        .values()
        .filter(|e| e["type"] == "chat:message")
        .map(|e| e["data"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// POSTs `body` as `token`, with `Idempotency-Key: key` unless empty.
async fn send(api: &TestServer, path: &str, token: &str, body: Value, key: &str) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = if key.is_empty() {
        vec![]
    } else {
        vec![("Idempotency-Key", key)]
    };
    api.request_with("POST", path, Some(token), Some(body), &headers)
        .await
}

#[actix_rt::test]
async fn a_retried_http_command_with_its_key_has_one_effect_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc) = api.create_session(json!({"quiz": quiz})).await;
    let (_, ada) = api.join_http(&code, "Ada").await;
    let chat = format!("/api/sessions/{code}/chat");
    let open = format!("/api/sessions/{code}/question");
    // The same chat message sent three times with its key: once.
    for _ in 0..3 {
        let (s, v) = send(&api, &chat, &ada, json!({"text": "hi"}), "c-1").await;
        assert_eq!(s, 204, "{v}");
    }
    // Another text under the same key is another command; no key, as before.
    let (s, _) = send(&api, &chat, &ada, json!({"text": "ho"}), "c-1").await;
    assert_eq!(s, 204);
    let (s, _) = send(&api, &chat, &ada, json!({"text": "hi"}), "").await;
    assert_eq!(s, 204);
    let (_, events) = history(&api, &code, Some(&mc), 0).await;
    assert_eq!(chats(&events), ["hi", "ho", "hi"]);

    // The MC opens q1; the same call again is answered as the first time
    // (without its key the second open is a new command).
    let q1 = json!({"questionId": "q1", "timeLimitSec": 0});
    let (first, v1) = send(&api, &open, &mc, q1.clone(), "open-q1").await;
    assert!(first < 300, "{first} {v1}");
    let (again, v2) = send(&api, &open, &mc, q1.clone(), "open-q1").await;
    assert_eq!((again, &v2), (first, &v1));
    let (_, before) = history(&api, &code, Some(&mc), 0).await;

    // kill -9 and restart: the log knows both keys.
    child.kill9();
    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let (s, _) = send(&api, &chat, &ada, json!({"text": "hi"}), "c-1").await;
    assert_eq!(s, 204);
    let (again, v3) = send(&api, &open, &mc, q1.clone(), "open-q1").await;
    assert_eq!((again, &v3), (first, &v1));
    let (_, after) = history(&api, &code, Some(&mc), 0).await;
    assert_eq!(chats(&after), ["hi", "ho", "hi"], "no second effect");
    let opened = |e: &std::collections::BTreeMap<u64, Value>| {
        e.values()
            .filter(|e| e["type"] == "game:question-opened")
            .count()
    };
    assert_eq!(opened(&after), 1);
    assert_eq!(opened(&before), 1);

    // A key must be printable ASCII, at most 128 characters.
    let long = "k".repeat(129);
    let (s, v) = send(&api, &chat, &ada, json!({"text": "x"}), &long).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "BAD_REQUEST", "{v}");
}
