//! The long-poll fallback, slow consumers, and limits, over real sockets.

mod common;

use common::{raw_ws_join, read_close_code, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn quiz() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

#[actix_rt::test]
async fn long_poll_returns_events_in_order_waits_and_resyncs() {
    let srv = TestServer::with(|c| c.ring_events = 50).await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz()})).await;
    let (pid, token) = srv.join_http(&code, "Ada").await;
    let (mut ws, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token}))
        .await;
    let start = joined["seq"].as_u64().unwrap();
    let events =
        |since: u64, wait: u64| format!("/api/sessions/{code}/events?since={since}&wait={wait}");

    // Nothing new: waits, and answers as soon as an event arrives.
    let poll = {
        let srv_base = srv.base.clone();
        let (path, token) = (events(start, 10), token.clone());
        actix_rt::spawn(async move {
            let t = Instant::now();
            let r = TestServer::remote(srv_base.trim_start_matches("http://").parse().unwrap())
                .get(&path, Some(&token))
                .await;
            (r, t.elapsed())
        })
    };
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    srv.post(
        &format!("/api/sessions/{code}/question"),
        Some(&mc),
        json!({"questionId": "q1"}),
    )
    .await;
    let ((s, body), took) = poll.await.unwrap();
    assert_eq!(s, 200);
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let polled = body["events"].as_array().unwrap().clone();
    assert!(!polled.is_empty());
    assert!(polled
        .iter()
        .any(|e| e["type"] == "game:round-changed" || e["type"] == "game:question-opened"));

    // The same events, in the same order, as the WebSocket client saw.
    srv.post(
        &format!("/api/sessions/{code}/question/close"),
        Some(&mc),
        json!({}),
    )
    .await;
    srv.post(
        &format!("/api/sessions/{code}/question/reveal"),
        Some(&mc),
        json!({}),
    )
    .await;
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    let ws_frames: Vec<Value> = ws.drain_for(Duration::from_millis(300)).await;
    let (s, body) = srv.get(&events(start, 0), Some(&token)).await;
    assert_eq!(s, 200);
    let seqs = |v: &[Value]| {
        v.iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(body["events"].as_array().unwrap()), seqs(&ws_frames));
    assert_eq!(
        body["seq"].as_u64().unwrap(),
        *seqs(&ws_frames).last().unwrap()
    );
    // A player's poll never carries staff-only events.
    for e in body["events"].as_array().unwrap() {
        assert!(
            !matches!(
                e["type"].as_str(),
                Some("player:joined" | "presence:changed" | "leaderboard:full")
            ),
            "{e}"
        );
    }
    // The MC's poll does.
    let (_, staff) = srv.get(&events(0, 0), Some(&mc)).await;
    assert!(staff["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "player:joined" && e["data"]["playerId"] == pid.as_str()));

    // No events and a short wait: an empty list with the current seq.
    let t = Instant::now();
    let (_, empty) = srv
        .get(&events(body["seq"].as_u64().unwrap(), 1), Some(&token))
        .await;
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(empty["events"], json!([]));

    // Older than the ring and than a log replay reaches (twice the ring):
    // resync with a snapshot (tests/resume_from_log.rs: within reach).
    for i in 0..120 {
        srv.join_http(&code, &format!("P{i}")).await;
    }
    let (_, old) = srv.get(&events(0, 0), Some(&mc)).await;
    assert_eq!(old["resync"], true);
    assert_eq!(old["snapshot"]["totalPlayers"], 121);
    assert_eq!(old["events"], json!([]));
}

#[actix_rt::test]
async fn a_socket_that_stops_reading_is_closed_4008_while_others_keep_receiving() {
    let srv = TestServer::with(|c| {
        c.outbox_bytes = 32 * 1024;
        c.tcp_send_buffer = 16 * 1024;
        // The reader resumes to find its 4008; not aborted before then.
        c.close_grace_ms = 120_000;
    })
    .await;
    let long = "x".repeat(1900);
    let questions: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("q{i}"), "kind": "number", "prompt": format!("{i}{long}"), "answer": i}))
        .collect();
    let big = json!({"rounds": [{"id": "r", "name": "Long", "questions": questions}]});
    let (code, mc) = srv.create_session(json!({"quiz": big})).await;
    let addr = srv.base.trim_start_matches("http://").parse().unwrap();
    let mut slow = raw_ws_join(addr, &json!({"sessionCode": code, "role": "display"}));
    let (mut fast, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Fast"}))
        .await;

    let rounds = 150;
    let reader = actix_rt::spawn(async move {
        let mut opened = Vec::new();
        while opened.len() < rounds {
            let v = fast.expect("game:question-opened").await;
            opened.push(v["seq"].as_u64().unwrap());
        }
        opened
    });
    for i in 0..rounds {
        let q = format!("q{}", i % 5);
        let (s, v) = srv
            .post(
                &format!("/api/sessions/{code}/question"),
                Some(&mc),
                json!({"questionId": q}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        srv.post(
            &format!("/api/sessions/{code}/question/close"),
            Some(&mc),
            json!({}),
        )
        .await;
    }
    let opened = reader.await.unwrap();
    assert_eq!(opened.len(), rounds, "the fast reader got every question");
    assert!(opened.windows(2).all(|w| w[0] < w[1]));
    let (_, stats) = srv.get("/api/stats", None).await;
    assert_eq!(stats["slowConsumerCloses"], 1);
    let code = actix_web::rt::task::spawn_blocking(move || read_close_code(&mut slow))
        .await
        .unwrap();
    assert_eq!(code, Some(4008));
}

#[actix_rt::test]
async fn session_creation_and_joins_are_rate_limited_per_address() {
    let srv = TestServer::with(|c| {
        c.http_rate = 0.1;
        c.http_burst = 3.0;
    })
    .await;
    let (code, _) = srv.create_session(json!({})).await;
    srv.join_http(&code, "A").await;
    srv.join_http(&code, "B").await;
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/players"),
            None,
            json!({"name": "C"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
    let (s, _) = srv.post("/api/sessions", None, json!({})).await;
    assert_eq!(s, 429);
    // Other routes are not limited by it.
    let (s, _) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(s, 200);
}

#[actix_rt::test]
async fn the_connection_cap_refuses_upgrades() {
    let srv = TestServer::with(|c| c.max_connections = 2).await;
    let _a = srv.ws().await;
    let _b = srv.ws().await;
    assert_eq!(
        common::Ws::connect_with(&srv.ws_url, None).await.err(),
        Some(503)
    );
}

#[actix_rt::test]
async fn metrics_are_served_in_prometheus_text() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({"quiz": quiz()})).await;
    let (_p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let mut resp = awc::Client::default()
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    for needle in [
        "quizcast_connections{role=\"player\"} 1",
        "quizcast_sessions 1",
        "# TYPE quizcast_fanout_duration_microseconds histogram",
        "quizcast_journal_commit_duration_microseconds_count",
        "quizcast_journal_batch_size_bucket{le=\"+Inf\"}",
        "quizcast_errors_total{code=\"RATE_LIMITED\"} 0",
        "quizcast_slow_consumer_closes_total 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[actix_rt::test]
async fn durable_answers_survive_an_in_process_restart_on_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = TestServer::with(|c| c.db = db.clone()).await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz()})).await;
    let (_, token) = srv.join_http(&code, "Ada").await;
    srv.post(
        &format!("/api/sessions/{code}/question"),
        Some(&mc),
        json!({"questionId": "q1"}),
    )
    .await;
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/answers"),
            Some(&token),
            json!({"questionId": "q1", "answer": "Paris"}),
        )
        .await;
    assert_eq!(s, 200);
    srv.shutdown().await;
    let srv = TestServer::with(|c| c.db = db.clone()).await;
    let (_, me) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&token))
        .await;
    assert_eq!(me["me"]["answers"]["q1"], "Paris");
}

#[actix_rt::test]
async fn a_player_on_the_long_poll_fallback_counts_as_online_while_polling() {
    let srv = TestServer::with(|c| c.poll_presence_secs = 1).await;
    let (code, mc) = srv.create_session(json!({})).await;
    let (mut mc_ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    let (pid, token) = srv.join_http(&code, "Poller").await;
    let (s, _) = srv
        .get(
            &format!("/api/sessions/{code}/events?since=0&wait=0"),
            Some(&token),
        )
        .await;
    assert_eq!(s, 200);
    let on = mc_ws.expect("presence:changed").await;
    assert_eq!(on["data"], json!({"playerId": pid, "online": true}));
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["online"], 1);
    let (_, state) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&mc))
        .await;
    assert_eq!(state["players"][0]["online"], true);
    // No more polls: offline after the grace period.
    let off = mc_ws.expect("presence:changed").await;
    assert_eq!(off["data"], json!({"playerId": pid, "online": false}));
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["online"], 0);
}

/// `POST /api/sessions/{code}/players` with an `X-Forwarded-For` header.
async fn join_forwarded(srv: &TestServer, code: &str, name: &str, forwarded: &str) -> u16 {
    let resp = awc::Client::new()
        .post(format!("{}/api/sessions/{code}/players", srv.base))
        .insert_header(("X-Forwarded-For", forwarded))
        .send_json(&json!({ "name": name }))
        .await
        .unwrap();
    resp.status().as_u16()
}

#[actix_rt::test]
async fn behind_a_trusted_proxy_joins_are_counted_per_forwarded_client() {
    let srv = TestServer::with(|c| {
        c.join_rate = 0.01;
        c.join_burst = 2.0;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let (code, _) = srv.create_session(json!({})).await;
    // Two phones behind the proxy spend their own buckets...
    assert_eq!(join_forwarded(&srv, &code, "A1", "203.0.113.1").await, 201);
    assert_eq!(join_forwarded(&srv, &code, "A2", "203.0.113.1").await, 201);
    assert_eq!(join_forwarded(&srv, &code, "A3", "203.0.113.1").await, 429);
    assert_eq!(join_forwarded(&srv, &code, "B1", "203.0.113.2").await, 201);
    // ...and an address a client wrote to the left of the proxy's is not
    // believed: this is still 203.0.113.1.
    assert_eq!(
        join_forwarded(&srv, &code, "A4", "198.51.100.9, 203.0.113.1").await,
        429
    );
}

#[actix_rt::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let srv = TestServer::with(|c| {
        c.join_rate = 0.01;
        c.join_burst = 2.0;
    })
    .await;
    let (code, _) = srv.create_session(json!({})).await;
    assert_eq!(join_forwarded(&srv, &code, "A1", "203.0.113.1").await, 201);
    assert_eq!(join_forwarded(&srv, &code, "A2", "203.0.113.2").await, 201);
    // Every "client" was 127.0.0.1 all along.
    assert_eq!(join_forwarded(&srv, &code, "A3", "203.0.113.3").await, 429);
}
