//! A resume older than the ring is replayed from the log (no snapshot):
//! the real binary with a ring of 10 events; a phone is away while the MC
//! runs five questions (more than 10 events); when it comes back with
//! `since`, over a WebSocket and over a long poll, it gets every event it
//! may see after `since`, once and in order, with the same bytes as a phone
//! that stayed connected (superseded kinds conflated, as the ring does).

mod common;

use common::recorder::Client;
use common::Child;
use serde_json::{json, Value};
use std::time::Duration;

/// Kinds of which a replay keeps only the latest (docs/protocol.md).
const CONFLATED: [&str; 4] = [
    "leaderboard:updated",
    "leaderboard:full",
    "presence:count",
    "player:answer-submitted",
];

fn kind(e: &Value) -> &str {
    e["type"].as_str().unwrap_or_default()
}

#[actix_rt::test]
async fn a_resume_older_than_the_ring_is_replayed_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let child = Child::spawn(&dir.path().join("q.db"), &["--ring-events", "10"]);
    let api = child.api();
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc_token) = api.create_session(json!({"quiz": quiz})).await;
    let post = |path: &str| format!("/api/sessions/{code}{path}");
    let join = |name: &str| json!({"sessionCode": code, "role": "player", "name": name});
    let mut ada = Client::connect(&api, "ada", join("Ada")).await;
    let mut bob = Client::connect(&api, "bob", join("Bob")).await;
    ada.pump(Duration::from_millis(300)).await;
    bob.pump(Duration::from_millis(300)).await;

    // Ada goes away; five questions run.
    let since = ada.last_seq;
    ada.ws.take().expect("connected").close().await;
    for q in ["q1", "q2", "q3", "q4", "q5"] {
        let (s, v) = api
            .post(
                &post("/question"),
                Some(&mc_token),
                json!({"questionId": q, "timeLimitSec": 0}),
            )
            .await;
        assert!(s == 200 || s == 204, "{s} {v}");
        let (s, v) = api
            .post(&post("/question/close"), Some(&mc_token), json!({}))
            .await;
        assert!(s == 200 || s == 204, "{s} {v}");
        bob.pump(Duration::from_millis(150)).await;
    }
    bob.pump(Duration::from_millis(600)).await;
    let (_, stats) = api.get("/api/stats", None).await;
    let seq_now = bob.last_seq;
    assert!(
        seq_now > since + 10,
        "more happened than the ring holds: {since} -> {seq_now}"
    );

    // What a phone that stayed sees after `since`, with superseded kinds
    // kept once (the latest).
    let stayed: Vec<&Value> = bob.events.range(since + 1..).map(|(_, e)| e).collect();
    let expected: Vec<&Value> = stayed
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            !CONFLATED.contains(&kind(e)) || !stayed[i + 1..].iter().any(|l| kind(l) == kind(e))
        })
        .map(|(_, e)| *e)
        .collect();
    assert!(
        expected.iter().any(|e| kind(e) == "game:question-opened"),
        "{expected:?}"
    );

    // Over a WebSocket: no resync, exactly that.
    let data = ada.resume(&api).await;
    assert!(data.get("resync").is_none(), "{data}");
    ada.pump(Duration::from_millis(300)).await;
    // (Ada's own return, seq_now + 1 on, is news, not replay.)
    let replayed: Vec<&Value> = ada
        .events
        .range(since + 1..=seq_now)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(replayed, expected, "the replay from the log");

    // Over long polls (Bob's view, from the same `since`): the same. A poll
    // answered from the log brings at most `--ring-events` events and the
    // seq to poll on from.
    let token = bob.token().expect("Bob's token");
    let mut polled: Vec<Value> = Vec::new();
    let mut at = since;
    for _ in 0..4 {
        let (s, v) = api
            .get(
                &format!("/api/sessions/{code}/events?since={at}&wait=0"),
                Some(&token),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert!(v.get("resync").is_none(), "{v}");
        polled.extend(v["events"].as_array().expect("events").iter().cloned());
        at = v["seq"].as_u64().expect("seq");
        if at >= seq_now {
            break;
        }
    }
    assert!(at >= seq_now, "{at} < {seq_now}");
    // (Ada's return since then is news, not replay.)
    let polled: Vec<&Value> = polled
        .iter()
        .filter(|e| e["seq"].as_u64() <= Some(seq_now))
        .collect();
    assert_eq!(
        polled, expected,
        "the long polls from the log, then the ring"
    );

    // The log was read for both; nobody was resynced.
    let (_, after) = api.get("/api/stats", None).await;
    assert!(after["logReplays"].as_u64() >= Some(2), "{after}");
    assert_eq!(after["resyncs"], stats["resyncs"], "{after}");

    // Further back than the log keeps events for a reader (since 0 is
    // before Ada joined; the log has it all): still a replay, not a resync.
    let (s, v) = api
        .get(
            &format!("/api/sessions/{code}/events?since=0&wait=0"),
            Some(&token),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("resync").is_none(), "{v}");
    assert_eq!(
        v["events"][0]["seq"].as_u64().map(|s| s >= 1),
        Some(true),
        "{v}"
    );
}
