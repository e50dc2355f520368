//! Hostile rooms, part two, over real sockets: memory bounded by bytes (the
//! replay ring through a storm of score overrides, leaderboard diffs),
//! displays with tokens and caps, resumes owed more than a mebibyte, seats
//! of players gone for good, departures folded into one tick, and a large
//! room's moved ranks told a batch per tick.

mod common;

use common::TestServer;
use serde_json::{json, Value};
use std::time::Duration;

/// A quiz of `n` one-point number questions.
fn quiz(n: usize, prompt_len: usize) -> Value {
    let long = "x".repeat(prompt_len);
    let questions: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("q{i}"), "kind": "number", "prompt": format!("{i}{long}"), "answer": i, "points": 5}))
        .collect();
    json!({"rounds": [{"id": "r", "name": "R", "questions": questions}]})
}

/// No per-address limits: the tests are one address.
fn open_limits(c: &mut quizcast::config::Config) {
    c.http_rate = 0.0;
    c.join_rate = 0.0;
    c.upgrade_rate = 0.0;
    c.answer_rate = 0.0;
    c.fsync = false;
}

#[actix_rt::test]
async fn the_ring_stays_under_its_byte_cap_through_500_overrides_with_2000_players() {
    let cap = 1024 * 1024;
    let srv = TestServer::with(|c| {
        open_limits(c);
        c.ring_bytes = cap;
        c.journal = false;
        // Ranks settle within the drains below.
        c.rank_settle_ms = 100;
    })
    .await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz(3, 10)})).await;
    let (mut mc_ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    // The MC reads throughout, as its panel does.
    let mc_reader = actix_rt::spawn(async move {
        let mut frames = Vec::new();
        while let Some(v) = mc_ws.recv_within(Duration::from_secs(3)).await {
            frames.push(v);
        }
        (frames, mc_ws.closed)
    });
    // 50 players on sockets (they read), the rest joined over HTTP.
    let mut ids = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..50 {
        let (ws, j) = srv
            .ws_join(json!({"sessionCode": code, "role": "player", "name": format!("S{i}")}))
            .await;
        ids.push(j["playerId"].as_str().unwrap().to_string());
        sockets.push(ws);
    }
    for i in 50..2000 {
        ids.push(srv.join_http(&code, &format!("H{i}")).await.0);
    }
    for (n, pid) in ids.iter().step_by(4).take(500).enumerate() {
        let (s, v) = srv
            .post(
                &format!("/api/sessions/{code}/scores"),
                Some(&mc),
                json!({"playerId": pid, "questionId": format!("q{}", n % 3), "score": (n % 10) as f64 * 0.5}),
            )
            .await;
        assert_eq!(s, 204, "{v}");
    }
    let (_, stats) = srv.get("/api/stats", None).await;
    let max = stats["ringBytesMax"].as_i64().unwrap();
    assert!(max > 0 && max <= cap as i64, "ring peak {max} over {cap}");
    assert!(stats["ringBytes"].as_i64().unwrap() <= cap as i64);

    // The MC of a 2,000-player session gets the changed entries, at most
    // about once a second, never the whole list four times a second.
    let (frames, closed) = mc_reader.await.unwrap();
    assert_eq!(closed, None, "the MC kept up");
    let full = frames
        .iter()
        .filter(|f| f["type"] == "leaderboard:full")
        .count();
    assert_eq!(
        full, 0,
        "no leaderboard:full past --full-leaderboard-players"
    );
    let changed: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "leaderboard:changed")
        .collect();
    assert!(!changed.is_empty(), "the MC hears what changed");
    assert!(changed.iter().all(|c| c["data"]["totalPlayers"] == 2000));
    // The players on sockets got their own score and rank, and the last one
    // they got matches the leaderboard.
    let (_, board) = srv
        .get(&format!("/api/sessions/{code}/leaderboard"), None)
        .await;
    let entries = board["entries"].as_array().unwrap();
    for (i, ws) in sockets.iter_mut().enumerate().take(8) {
        let got = ws.drain_for(Duration::from_millis(300)).await;
        let last = got
            .iter()
            .rev()
            .find(|f| f["type"] == "score:updated")
            .expect("score:updated");
        let mine = entries.iter().find(|e| e["playerId"] == ids[i]).unwrap();
        assert_eq!(last["data"]["rank"], mine["rank"], "player {i}");
        assert_eq!(last["data"]["score"], mine["score"], "player {i}");
    }
    // An MC resuming from the start is answered, with a snapshot.
    let (_, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc, "since": 0}))
        .await;
    assert_eq!(j["resync"], true);
}

#[actix_rt::test]
async fn displays_need_their_token_past_the_tokenless_allowance_and_are_capped() {
    let srv = TestServer::with(|c| {
        c.tokenless_displays = 1;
        c.max_displays = 3;
    })
    .await;
    let (s, created) = srv.post("/api/sessions", None, json!({})).await;
    assert_eq!(s, 201);
    let code = created["code"].as_str().unwrap();
    let mc = created["mcToken"].as_str().unwrap();
    let url = created["displayUrl"].as_str().unwrap();
    let token = url.split("#token=").nth(1).expect("token in the fragment");

    // One display with the code alone (contract v1, old links) gets in...
    let (mut d0, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    // ...the next one is refused: 4001, told why.
    let mut d1 = srv.ws().await;
    d1.send(json!({"type": "join", "id": "j", "data": {"sessionCode": code, "role": "display"}}))
        .await;
    let e = d1.recv().await.unwrap();
    assert_eq!(e["data"]["code"], "UNAUTHORIZED", "{e}");
    assert!(e["data"]["message"].as_str().unwrap().contains("token"));
    assert_eq!(d1.expect_close().await, 4001);

    // Displays with the token get in, up to the cap.
    let (mut d2, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display", "token": token}))
        .await;
    // The MC panel's route gives a fresh link; players may not have one.
    let (s, link) = srv
        .get(&format!("/api/sessions/{code}/display-link"), Some(mc))
        .await;
    assert_eq!(s, 200, "{link}");
    let fresh = link["displayToken"].as_str().unwrap();
    let (_d3, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display", "token": fresh}))
        .await;
    let mut d4 = srv.ws().await;
    d4.send(json!({"type": "join", "id": "j", "data": {"sessionCode": code, "role": "display", "token": token}}))
        .await;
    let e = d4.recv().await.unwrap();
    assert_eq!(e["data"]["code"], "SESSION_FULL", "{e}");
    assert_eq!(d4.expect_close().await, 4009);
    let (_, player) = srv.join_http(code, "Ann").await;
    let (s, _) = srv
        .get(&format!("/api/sessions/{code}/display-link"), Some(&player))
        .await;
    assert_eq!(s, 403);
    // A player's token is no display token.
    let mut d5 = srv.ws().await;
    d5.send(json!({"type": "join", "id": "j", "data": {"sessionCode": code, "role": "display", "token": player}}))
        .await;
    assert_eq!(d5.recv().await.unwrap()["data"]["code"], "UNAUTHORIZED");

    // What a display sees: public events and a coalesced answered count,
    // never the per-answer or presence stream the MC gets.
    srv.request(
        "PUT",
        &format!("/api/sessions/{code}/quiz"),
        Some(mc),
        Some(quiz(1, 5)),
    )
    .await;
    let (mut mc_ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    srv.post(
        &format!("/api/sessions/{code}/question"),
        Some(mc),
        json!({}),
    )
    .await;
    let mut players = Vec::new();
    for i in 0..6 {
        let (mut ws, _) = srv
            .ws_join(json!({"sessionCode": code, "role": "player", "name": format!("P{i}")}))
            .await;
        let a = ws
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q0", "answer": i}),
            )
            .await;
        assert_eq!(a["type"], "ack", "{a}");
        players.push(ws);
    }
    for d in [&mut d0, &mut d2] {
        let got = d.drain_for(Duration::from_millis(1200)).await;
        let kinds: Vec<&str> = got.iter().filter_map(|f| f["type"].as_str()).collect();
        assert!(kinds.contains(&"game:question-opened"), "{kinds:?}");
        assert!(!kinds.contains(&"presence:changed"), "{kinds:?}");
        let counts: Vec<&Value> = got
            .iter()
            .filter(|f| f["type"] == "player:answer-submitted")
            .collect();
        assert!(
            !counts.is_empty() && counts.len() < 6,
            "coalesced: {}",
            counts.len()
        );
        assert_eq!(counts.last().unwrap()["data"]["answeredCount"], 6);
    }
    let got = mc_ws.drain_for(Duration::from_millis(300)).await;
    let per_answer = got
        .iter()
        .filter(|f| f["type"] == "player:answer-submitted")
        .count();
    assert_eq!(per_answer, 6, "the MC gets every answer");
    assert!(got.iter().any(|f| f["type"] == "presence:changed"));
}

#[actix_rt::test]
async fn a_resume_owed_more_than_a_mebibyte_is_joined_with_a_snapshot_not_closed() {
    let srv = TestServer::with(|c| {
        open_limits(c);
        c.journal = false;
    })
    .await;
    // ~2 KB per question-opened: 600 openings owe a display over 1 MiB.
    let (code, mc) = srv.create_session(json!({"quiz": quiz(5, 1800)})).await;
    let (early, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let seen = j["seq"].as_u64().unwrap();
    early.close().await;
    for i in 0..600 {
        if i > 0 {
            srv.post(
                &format!("/api/sessions/{code}/question/close"),
                Some(&mc),
                json!({}),
            )
            .await;
        }
        let (s, v) = srv
            .post(
                &format!("/api/sessions/{code}/question"),
                Some(&mc),
                json!({"questionId": format!("q{}", i % 5)}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    // Used to be closed 4008 before `joined`, on every retry.
    for since in [0, seen] {
        let (mut ws, j) = srv
            .ws_join(json!({"sessionCode": code, "role": "display", "since": since}))
            .await;
        assert_eq!(j["resync"], true, "{since}");
        assert_eq!(j["snapshot"]["phase"], "question");
        // It stays joined and gets what happens next.
        srv.post(
            &format!("/api/sessions/{code}/question/close"),
            Some(&mc),
            json!({}),
        )
        .await;
        let closed = ws.expect("game:question-closed").await;
        assert!(closed["seq"].as_u64().unwrap() > j["seq"].as_u64().unwrap());
        assert!(ws.closed.is_none());
        ws.close().await;
        srv.post(
            &format!("/api/sessions/{code}/question"),
            Some(&mc),
            json!({"questionId": "q0"}),
        )
        .await;
    }
    // 2,500 chat messages owed to a player: the same.
    let (p, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Late"}))
        .await;
    let token = j["token"].as_str().unwrap().to_string();
    let seen = j["seq"].as_u64().unwrap();
    p.close().await;
    srv.request(
        "PATCH",
        &format!("/api/sessions/{code}/settings"),
        Some(&mc),
        Some(json!({"chat": true})),
    )
    .await;
    let text = "y".repeat(280);
    let mut sent = 0;
    for i in 0..600 {
        // Each sender may burst 5; 500 senders say 5 things each.
        let (_, t) = srv.join_http(&code, &format!("Chat{i}")).await;
        for _ in 0..5 {
            let (s, _) = srv
                .post(
                    &format!("/api/sessions/{code}/chat"),
                    Some(&t),
                    json!({"text": text}),
                )
                .await;
            if s == 204 {
                sent += 1;
            }
        }
        if sent >= 2500 {
            break;
        }
    }
    assert!(sent >= 2500);
    let (mut p, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "token": token, "since": seen}))
        .await;
    assert_eq!(j["resync"], true);
    let pong = p.call("ping", "p", json!({})).await;
    assert_eq!(pong["type"], "pong");
    assert!(p.closed.is_none());
}

#[actix_rt::test]
async fn offline_players_who_never_answered_give_up_their_seats_to_new_ones() {
    let srv = TestServer::with(|c| {
        open_limits(c);
        c.seat_reclaim_secs = 1;
    })
    .await;
    let settings = json!({"maxPlayers": 3});
    let (code, mc) = srv
        .create_session(json!({"quiz": quiz(1, 5), "settings": settings}))
        .await;
    let (mut mc_ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    srv.post(
        &format!("/api/sessions/{code}/question"),
        Some(&mc),
        json!({}),
    )
    .await;
    // A is online; B joined and never connected; C answered and went away.
    let (_a, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "A"}))
        .await;
    let (b, _) = srv.join_http(&code, "B").await;
    let (mut c, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "C"}))
        .await;
    let ack = c
        .call(
            "answer:submit",
            "a",
            json!({"questionId": "q0", "answer": 1}),
        )
        .await;
    assert_eq!(ack["type"], "ack");
    c.close().await;
    // Full, and nobody has been away long enough yet.
    let path = format!("/api/sessions/{code}/players");
    let (s, v) = srv.post(&path, None, json!({"name": "D"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("SESSION_FULL"))
    );
    actix_rt::time::sleep(Duration::from_millis(1300)).await;
    // B's seat goes to D; B is told to the MC as having left.
    let (s, v) = srv.post(&path, None, json!({"name": "D"})).await;
    assert_eq!(s, 201, "{v}");
    let left = mc_ws.expect("player:left").await;
    assert_eq!(left["data"]["playerId"], b.as_str());
    assert_eq!(left["data"]["totalPlayers"], 2);
    // C answered: C keeps the seat although offline. Full again.
    let (s, v) = srv.post(&path, None, json!({"name": "E"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("SESSION_FULL"))
    );
    let (_, stats) = srv.get("/api/stats", None).await;
    assert_eq!(stats["seatsReclaimed"], 1);
}

#[actix_rt::test]
async fn departures_move_ranks_on_the_next_tick_once() {
    let srv = TestServer::with(open_limits).await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz(1, 5)})).await;
    // Scores 5, 4, 3, ... for players 0..6; the leader and the second leave.
    let mut players = Vec::new();
    for i in 0..6 {
        let (ws, j) = srv
            .ws_join(json!({"sessionCode": code, "role": "player", "name": format!("P{i}")}))
            .await;
        let pid = j["playerId"].as_str().unwrap().to_string();
        srv.post(
            &format!("/api/sessions/{code}/scores"),
            Some(&mc),
            json!({"playerId": pid, "questionId": "q0", "score": 5 - i}),
        )
        .await;
        players.push((pid, ws));
    }
    actix_rt::time::sleep(Duration::from_millis(400)).await;
    for (_, ws) in players.iter_mut() {
        ws.drain_for(Duration::from_millis(100)).await;
    }
    let (gone, _) = players.remove(0);
    let (s, _) = srv
        .request(
            "DELETE",
            &format!("/api/sessions/{code}/players/{gone}"),
            Some(&mc),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, mut second) = players.remove(0);
    let ack = second.call("leave", "l", json!({})).await;
    assert_eq!(ack["type"], "ack");
    // Everyone else moves up two places, told on the leaderboard tick: once,
    // or twice if the two departures fell in two ticks; never per event.
    for (i, (_, ws)) in players.iter_mut().enumerate() {
        let got = ws.drain_for(Duration::from_millis(800)).await;
        let scores: Vec<&Value> = got
            .iter()
            .filter(|f| f["type"] == "score:updated")
            .collect();
        assert!((1..=2).contains(&scores.len()), "player {i}: {got:?}");
        assert_eq!(scores.last().unwrap()["data"]["rank"], i + 1);
    }
}

#[actix_rt::test]
async fn a_full_session_mailbox_answers_rate_limited_and_every_message_gets_one_reply() {
    let srv = TestServer::with(|c| {
        open_limits(c);
        c.session_mailbox = 16;
        c.msg_rate = 1e6;
        c.msg_burst = 1e6;
    })
    .await;
    let (code, _) = srv.create_session(json!({"quiz": quiz(1, 5)})).await;
    let (mut ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Flood"}))
        .await;
    // 2,000 messages in one go: far more than 16 fit while the session works.
    let n = 2000;
    let frames: Vec<String> = (0..n)
        .map(|i| {
            json!({"type": "chat:send", "id": format!("c{i}"), "data": {"text": "hi"}}).to_string()
        })
        .collect();
    for f in &frames {
        ws.send_text(f).await;
    }
    let mut replies = std::collections::HashMap::new();
    let mut busy = 0;
    while replies.len() < n {
        let Some(v) = ws.recv().await else {
            panic!("closed after {} replies ({:?})", replies.len(), ws.closed)
        };
        let Some(id) = v["id"].as_str() else { continue };
        *replies.entry(id.to_string()).or_insert(0) += 1;
        if v["data"]["code"] == "RATE_LIMITED" {
            busy += 1;
        }
    }
    assert!(replies.values().all(|&c| c == 1), "one reply each");
    assert!(busy > 0, "the mailbox was never full");
    let (_, stats) = srv.get("/api/stats", None).await;
    assert_eq!(stats["mailboxFull"], busy, "{stats}");
    // Still joined and working.
    assert_eq!(ws.call("ping", "p", json!({})).await["type"], "pong");
}

#[actix_rt::test]
async fn a_large_room_is_told_its_moved_ranks_a_batch_per_tick_each_once() {
    let srv = TestServer::with(|c| {
        open_limits(c);
        // 12 players make a large session here; 3 are told per tick.
        c.full_leaderboard_players = 4;
        c.rank_settle_ms = 100;
        c.rank_settle_batch = 3;
    })
    .await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz(1, 5)})).await;
    let mut ids = Vec::new();
    let mut readers = Vec::new();
    for i in 0..12 {
        let (mut ws, j) = srv
            .ws_join(json!({"sessionCode": code, "role": "player", "name": format!("P{i}")}))
            .await;
        ids.push(j["playerId"].as_str().unwrap().to_string());
        readers.push(actix_rt::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = ws.recv_within(Duration::from_secs(2)).await {
                if v["type"] == "score:updated" {
                    got.push((std::time::Instant::now(), v));
                }
            }
            got
        }));
    }
    // Let the joins' settle pass, then the last to join takes the lead:
    // the 11 others drop from rank 1 to 2 without scoring.
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/scores"),
            Some(&mc),
            json!({"playerId": ids[11], "questionId": "q0", "score": 5}),
        )
        .await;
    assert_eq!(s, 204);
    let mut told = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.await.unwrap();
        if i == 11 {
            assert_eq!(got.len(), 1, "the leader is told once: {got:?}");
            assert_eq!(got[0].1["data"]["rank"], 1);
            continue;
        }
        assert_eq!(got.len(), 1, "player {i} is told once: {got:?}");
        assert_eq!(got[0].1["data"]["rank"], 2, "player {i}");
        assert_eq!(got[0].1["data"]["score"], 0.0, "player {i}");
        told.push((got[0].0, got[0].1["seq"].as_u64().unwrap()));
    }
    // In leaderboard order (ties: join order), over at least 4 ticks of
    // 250 ms, not all in one.
    assert!(told.windows(2).all(|w| w[0].1 < w[1].1), "{told:?}");
    let span = told[10].0 - told[0].0;
    assert!(span >= Duration::from_millis(400), "all in {span:?}");
}

#[actix_rt::test]
async fn a_large_room_is_told_its_moved_ranks_after_a_question_that_opened_meanwhile() {
    let srv = TestServer::with(|c| {
        open_limits(c);
        // 6 players make a large session here.
        c.full_leaderboard_players = 3;
        c.rank_settle_ms = 100;
    })
    .await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz(2, 5)})).await;
    let mut ids = Vec::new();
    let mut readers = Vec::new();
    for i in 0..6 {
        let (mut ws, j) = srv
            .ws_join(json!({"sessionCode": code, "role": "player", "name": format!("P{i}")}))
            .await;
        ids.push(j["playerId"].as_str().unwrap().to_string());
        readers.push(actix_rt::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = ws.recv_within(Duration::from_secs(2)).await {
                let t = v["type"].as_str().unwrap_or("").to_string();
                if t == "score:updated" || t == "game:question-opened" {
                    got.push((t, v["seq"].as_u64().unwrap_or(0), v));
                }
            }
            got
        }));
    }
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    // The last to join takes the lead, and a question opens at once: the
    // others' rank updates wait for the question's fan-out, and still come.
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/scores"),
            Some(&mc),
            json!({"playerId": ids[5], "questionId": "q0", "score": 5}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/question"),
            Some(&mc),
            json!({}),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    for (i, r) in readers.into_iter().enumerate().take(5) {
        let got = r.await.unwrap();
        let opened = got.iter().find(|g| g.0 == "game:question-opened");
        let told: Vec<_> = got.iter().filter(|g| g.0 == "score:updated").collect();
        let (Some(opened), [told]) = (opened, told.as_slice()) else {
            panic!("player {i}: one question and one rank update: {got:?}");
        };
        assert_eq!(told.2["data"]["rank"], 2, "player {i}");
        assert!(opened.1 < told.1, "player {i}: {got:?}");
    }
}
