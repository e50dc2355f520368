//! The actor core over real sockets: joining, tokens, errors, audiences,
//! resume, removal, ending, heartbeats, shutdown.

mod common;

use common::{TestServer, Ws};
use serde_json::{json, Value};
use std::time::Duration;

fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[actix_rt::test]
async fn connection_is_established_with_protocol_and_heartbeat() {
    let srv = TestServer::with(|c| c.heartbeat_ms = 1234).await;
    let ws = srv.ws().await;
    assert_eq!(ws.established["protocolVersion"], 1);
    assert_eq!(ws.established["heartbeatIntervalMs"], 1234);
    assert!(ws.established["connectionId"].is_string());
}

#[actix_rt::test]
async fn each_role_joins_with_its_snapshot() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({"title": "Friday"})).await;

    let (_mc, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    assert_eq!(joined["role"], "mc");
    assert_eq!(joined["snapshot"]["title"], "Friday");
    assert!(joined["snapshot"]["players"].is_array());

    // Player by name: gets a token it can rejoin with.
    let (_p, joined) = srv
        .ws_join(json!({"sessionCode": code.to_lowercase(), "role": "player", "name": "Ada"}))
        .await;
    assert_eq!(joined["role"], "player");
    let pid = joined["playerId"].as_str().unwrap().to_string();
    let token = joined["token"].as_str().unwrap().to_string();
    assert_eq!(joined["snapshot"]["me"]["name"], "Ada");
    assert!(joined["snapshot"].get("players").is_none());

    let (_p2, rejoined) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token}))
        .await;
    assert_eq!(rejoined["playerId"], pid.as_str());
    assert!(
        rejoined.get("token").is_none(),
        "token only when just created"
    );

    // Player by HTTP join, then token over WebSocket.
    let (pid_b, token_b) = srv.join_http(&code, "Bob").await;
    let (_b, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token_b}))
        .await;
    assert_eq!(joined["playerId"], pid_b.as_str());

    let (_d, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    assert_eq!(joined["role"], "display");
    assert_eq!(joined["snapshot"]["totalPlayers"], 2);
    // The display's roster: names only (the lobby wall), never scores or presence.
    assert_eq!(
        joined["snapshot"]["players"],
        json!([{"playerId": pid, "name": "Ada"}, {"playerId": pid_b, "name": "Bob"}])
    );
    assert!(joined["snapshot"].get("me").is_none());
}

#[actix_rt::test]
async fn wrong_or_missing_token_closes_4001() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let (other, other_mc) = srv.create_session(json!({})).await;
    let (_, player_token) = srv.join_http(&code, "Ada").await;
    assert_ne!(code, other);

    for data in [
        json!({"sessionCode": code, "role": "mc"}),
        json!({"sessionCode": code, "role": "mc", "token": "not-a-token"}),
        json!({"sessionCode": code, "role": "mc", "token": other_mc}),
        json!({"sessionCode": code, "role": "mc", "token": player_token}),
        json!({"sessionCode": code, "role": "player"}),
    ] {
        let mut ws = srv.ws().await;
        ws.send(json!({"type": "join", "id": "j", "data": data}))
            .await;
        let err = ws.recv().await.expect("error reply");
        assert_eq!(err["type"], "error", "{data}");
        assert_eq!(err["data"]["code"], "UNAUTHORIZED", "{data}");
        assert_eq!(ws.expect_close().await, 4001, "{data}");
    }
}

#[actix_rt::test]
async fn unknown_session_closes_4004() {
    let srv = TestServer::start().await;
    let mut ws = srv.ws().await;
    ws.send(
        json!({"type": "join", "id": "j", "data": {"sessionCode": "ZZZZZ", "role": "display"}}),
    )
    .await;
    let err = ws.recv().await.unwrap();
    assert_eq!(err["data"]["code"], "SESSION_NOT_FOUND");
    assert_eq!(ws.expect_close().await, 4004);
}

#[actix_rt::test]
async fn message_before_join_gets_not_joined() {
    let srv = TestServer::start().await;
    let mut ws = srv.ws().await;
    let r = ws.call("resync", "r1", json!({})).await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["data"]["code"], "NOT_JOINED");
    // Still usable: ping answers, and a join then works.
    let pong = ws.call("ping", "p1", json!({})).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["data"]["serverTime"].as_u64().unwrap() > 1_600_000_000_000);
    let (code, _) = srv.create_session(json!({})).await;
    ws.join(json!({"sessionCode": code, "role": "display"}))
        .await;
}

#[actix_rt::test]
async fn no_join_within_the_timeout_closes_4000() {
    let srv = TestServer::with(|c| c.join_timeout_ms = 300).await;
    let mut ws = srv.ws().await;
    assert_eq!(ws.expect_close().await, 4000);
}

#[actix_rt::test]
async fn joining_twice_or_a_malformed_join_closes_4000() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let (mut ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    ws.send(json!({"type": "join", "data": {"sessionCode": code, "role": "display"}}))
        .await;
    assert_eq!(ws.expect_close().await, 4000);

    let mut ws = srv.ws().await;
    ws.send(json!({"type": "join", "id": "x", "data": {"role": "display"}}))
        .await;
    assert_eq!(ws.recv().await.unwrap()["data"]["code"], "BAD_MESSAGE");
    assert_eq!(ws.expect_close().await, 4000);
}

#[actix_rt::test]
async fn bad_frames_get_errors_and_the_connection_keeps_working() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;

    p.send_text("{this is not json").await;
    assert_eq!(p.expect("error").await["data"]["code"], "BAD_MESSAGE");
    let r = p.call("dance", "d1", json!({})).await;
    assert_eq!(r["type"], "error");
    assert_eq!(r["data"]["code"], "UNKNOWN_TYPE");
    let big = format!(
        r#"{{"type":"chat:send","data":{{"text":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    p.send_text(&big).await;
    let e = p.expect("error").await;
    assert_eq!(e["data"]["code"], "BAD_MESSAGE");
    assert!(e["data"]["message"].as_str().unwrap().contains("65536"));

    // The same connection still works, and so does the session.
    let r = p.call("resync", "r1", json!({})).await;
    assert_eq!(r["type"], "game:state");
    assert_eq!(r["data"]["snapshot"]["totalPlayers"], 1);
    srv.join_http(&code, "Bob").await;
    assert_eq!(mc.expect("player:joined").await["data"]["name"], "Ada");
    assert_eq!(mc.expect("player:joined").await["data"]["name"], "Bob");
}

#[actix_rt::test]
async fn repeated_malformed_frames_close_4008() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    for _ in 0..5 {
        p.send_text("nope").await;
    }
    assert_eq!(p.expect_close().await, 4008);
}

#[actix_rt::test]
async fn a_flood_is_rate_limited_then_closed_4008() {
    let srv = TestServer::with(|c| {
        c.msg_rate = 1.0;
        c.msg_burst = 5.0;
    })
    .await;
    let (code, _) = srv.create_session(json!({})).await;
    let (mut calm, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Calm"}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Flood"}))
        .await;
    for i in 0..200 {
        p.send(json!({"type": "ping", "id": i})).await;
    }
    let mut limited = 0;
    while let Some(v) = p.recv().await {
        if v["data"]["code"] == "RATE_LIMITED" {
            limited += 1;
        }
    }
    assert!(limited > 0);
    assert_eq!(p.closed, Some(4008));
    // Others are unaffected.
    assert_eq!(calm.call("ping", "c", json!({})).await["type"], "pong");
}

#[actix_rt::test]
async fn a_player_never_receives_staff_only_events() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut d, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    srv.join_http(&code, "Bob").await;
    srv.join_http(&code, "Cy").await;

    let mc_frames = mc.drain_for(Duration::from_millis(1500)).await;
    let d_frames = d.drain_for(Duration::from_millis(100)).await;
    let p_frames = p.drain_for(Duration::from_millis(100)).await;
    assert_eq!(
        types(&mc_frames)
            .iter()
            .filter(|t| *t == "player:joined")
            .count(),
        3
    );
    assert_eq!(
        types(&d_frames)
            .iter()
            .filter(|t| *t == "player:joined")
            .count(),
        3
    );
    assert!(types(&mc_frames).contains(&"presence:changed".to_string()));
    for f in &p_frames {
        assert!(
            matches!(f["type"].as_str(), Some("presence:count")),
            "player got {f}"
        );
    }
    // Presence counts are coalesced: one or two per second, not one per join.
    assert!(!p_frames.is_empty() && p_frames.len() <= 2, "{p_frames:?}");
    let last = p_frames.last().unwrap();
    assert_eq!(last["data"]["totalPlayers"], 3);
    assert_eq!(last["data"]["online"], 1);
}

#[actix_rt::test]
async fn two_sessions_never_see_each_others_events() {
    let srv = TestServer::start().await;
    let (a, a_mc) = srv.create_session(json!({})).await;
    let (b, b_mc) = srv.create_session(json!({})).await;
    let (mut mc_a, _) = srv
        .ws_join(json!({"sessionCode": a, "role": "mc", "token": a_mc}))
        .await;
    let (mut mc_b, _) = srv
        .ws_join(json!({"sessionCode": b, "role": "mc", "token": b_mc}))
        .await;
    srv.join_http(&a, "Ada").await;
    let ev = mc_a.expect("player:joined").await;
    assert_eq!(ev["sessionCode"], a.as_str());
    let seen_by_b = mc_b.drain_for(Duration::from_millis(1300)).await;
    assert!(seen_by_b.is_empty(), "{seen_by_b:?}");
}

#[actix_rt::test]
async fn seq_increases_strictly_and_replies_carry_none() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let mut last = joined["seq"].as_u64().unwrap();
    for n in ["A", "B", "C"] {
        srv.join_http(&code, n).await;
    }
    for _ in 0..3 {
        let ev = mc.expect("player:joined").await;
        let seq = ev["seq"].as_u64().unwrap();
        assert!(seq > last);
        last = seq;
        assert!(ev["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }
    let pong = mc.call("ping", "x", json!({})).await;
    assert!(pong.get("seq").is_none());
}

#[actix_rt::test]
async fn resume_after_drop_replays_missed_events_once_in_order() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mc, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let since = joined["seq"].as_u64().unwrap();
    mc.close().await;

    for n in ["A", "B", "C", "D"] {
        srv.join_http(&code, n).await;
    }
    let (mut back, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token, "since": since}))
        .await;
    assert!(joined.get("resync").is_none());
    let upto = joined["seq"].as_u64().unwrap();
    let frames = back.drain_for(Duration::from_millis(400)).await;
    let replayed: Vec<&Value> = frames
        .iter()
        .filter(|f| f["seq"].as_u64().unwrap() <= upto)
        .collect();
    let names: Vec<&str> = replayed
        .iter()
        .filter(|f| f["type"] == "player:joined")
        .map(|f| f["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["A", "B", "C", "D"]);
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    let mut sorted = seqs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seqs, sorted, "in order, each once");
    assert!(seqs.iter().all(|s| *s > since));
}

#[actix_rt::test]
async fn a_player_resume_replays_only_what_players_may_see() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let (p, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let token = joined["token"].as_str().unwrap().to_string();
    let since = joined["seq"].as_u64().unwrap();
    p.close().await;
    srv.join_http(&code, "Bob").await;
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    let (mut back, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token, "since": since}))
        .await;
    assert!(joined.get("resync").is_none());
    let frames = back.drain_for(Duration::from_millis(300)).await;
    assert!(!frames.is_empty());
    for f in &frames {
        assert_eq!(f["type"], "presence:count", "{f}");
    }
}

#[actix_rt::test]
async fn a_since_older_than_the_ring_and_the_log_replay_resyncs() {
    // The log replays at most `--ring-events` events for a reader at most
    // twice that far behind (tests/resume_from_log.rs); further back, the
    // snapshot.
    let srv = TestServer::with(|c| c.ring_events = 3).await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    for n in ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"] {
        srv.join_http(&code, n).await;
    }
    let (_mc, joined) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token, "since": 0}))
        .await;
    assert_eq!(joined["resync"], true, "{joined}");
    assert_eq!(joined["snapshot"]["totalPlayers"], 10);
}

#[actix_rt::test]
async fn removal_closes_only_the_removed_players_sockets_4003() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut ada, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let ada_id = j["playerId"].as_str().unwrap().to_string();
    let ada_token = j["token"].as_str().unwrap().to_string();
    let (mut ada2, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": ada_token}))
        .await;
    let (mut bob, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Bob"}))
        .await;

    // A player cannot remove anyone.
    let (s, v) = srv
        .request(
            "DELETE",
            &format!("/api/sessions/{code}/players/{ada_id}"),
            Some(&ada_token),
            None,
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "FORBIDDEN");

    let (s, _) = srv
        .request(
            "DELETE",
            &format!("/api/sessions/{code}/players/{ada_id}"),
            Some(&mc_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let removed = ada.expect("player:removed").await;
    assert_eq!(removed["data"]["playerId"], ada_id.as_str());
    assert_eq!(ada.expect_close().await, 4003);
    assert_eq!(ada2.expect_close().await, 4003);
    let ev = mc.expect("player:removed").await;
    assert_eq!(ev["data"]["totalPlayers"], 1);
    assert_eq!(bob.call("ping", "b", json!({})).await["type"], "pong");

    // The removed player's token no longer gets in.
    let mut again = srv.ws().await;
    again
        .send(
            json!({"type":"join","data":{"sessionCode": code, "role":"player","token": ada_token}}),
        )
        .await;
    assert_eq!(again.recv().await.unwrap()["data"]["code"], "FORBIDDEN");
    assert_eq!(again.expect_close().await, 4003);
    // The name stays out until the MC lets Ada back (tests/run_of_show.rs).
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/players"),
            None,
            json!({"name": "Ada"}),
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
}

#[actix_rt::test]
async fn reset_clears_every_player() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut d, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/players/reset"),
            Some(&mc_token),
            json!({}),
        )
        .await;
    assert_eq!(s, 204);
    p.expect("player:all-cleared").await;
    assert_eq!(p.expect_close().await, 4003);
    d.expect("player:all-cleared").await;
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["totalPlayers"], 0);
}

#[actix_rt::test]
async fn ending_closes_everyone_4010_and_refuses_new_joins() {
    let srv = TestServer::start().await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut d, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/end"),
            Some(&mc_token),
            json!({}),
        )
        .await;
    assert_eq!(s, 204);
    for ws in [&mut mc, &mut d, &mut p] {
        let ended = ws.expect("session:ended").await;
        assert_eq!(ended["data"]["reason"], "mc");
        assert_eq!(ended["data"]["leaderboard"][0]["name"], "Ada");
        assert_eq!(ws.expect_close().await, 4010);
    }
    let mut late = srv.ws().await;
    late.send(json!({"type":"join","data":{"sessionCode": code, "role":"display"}}))
        .await;
    assert_eq!(late.recv().await.unwrap()["data"]["code"], "SESSION_ENDED");
    assert_eq!(late.expect_close().await, 4010);
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/players"),
            None,
            json!({"name": "Late"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(v["error"]["code"], "SESSION_ENDED");
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["phase"], "ended");
}

#[actix_rt::test]
async fn a_silent_client_is_closed_4012_and_removed() {
    let srv = TestServer::with(|c| c.heartbeat_ms = 200).await;
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut silent, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Quiet"}))
        .await;
    // `mc` answers pings (the harness pongs while reading); `silent` reads nothing.
    let frames = mc.drain_for(Duration::from_millis(1000)).await;
    assert!(mc.closed.is_none());
    let changed: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "presence:changed")
        .collect();
    assert_eq!(
        changed.last().unwrap()["data"]["online"],
        false,
        "{frames:?}"
    );
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["online"], 0);
    // The silent client finds the close when it finally reads.
    let mut code_seen = None;
    while code_seen.is_none() {
        // Read without answering pings.
        use futures_util::StreamExt;
        match actix_rt::time::timeout(Duration::from_secs(5), silent.conn.next()).await {
            Ok(Some(Ok(awc::ws::Frame::Close(r)))) => code_seen = r.map(|r| u16::from(r.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close: {other:?}"),
        }
    }
    assert_eq!(code_seen, Some(4012));
}

#[actix_rt::test]
async fn shutdown_sends_1001_to_every_socket() {
    let mut srv = TestServer::start().await; // server taken below
    let (code, mc_token) = srv.create_session(json!({})).await;
    let (mut mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (mut p, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let server = srv.server.take().unwrap();
    let stop = actix_rt::spawn(server.shutdown());
    let a = mc.expect_close().await;
    let b = p.expect_close().await;
    assert_eq!((a, b), (1001, 1001));
    stop.await.unwrap();
}

#[actix_rt::test]
async fn origins_are_checked_on_upgrade() {
    let srv = TestServer::with(|c| c.allowed_origins = vec!["http://quiz.example".into()]).await;
    assert_eq!(
        Ws::connect_with(&srv.ws_url, Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert!(Ws::connect_with(&srv.ws_url, Some("http://quiz.example"))
        .await
        .is_ok());
}
