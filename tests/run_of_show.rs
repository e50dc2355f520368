//! The run-of-show extensions (issue 11) over real sockets: the leaderboard
//! moment, removed players kept out (name and device) until the MC lets
//! them back, per-question awards that survive a reload, the marking mode,
//! the rounds already marked, the display's roster, and leaving over HTTP.

mod common;

use common::{TestServer, Ws};
use serde_json::{json, Value};
use std::time::Duration;

fn example() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

/// A session with the example quiz, an MC socket and a display socket.
async fn night(srv: &TestServer) -> (String, String, Ws, Ws) {
    let (code, mc_token) = srv.create_session(json!({"quiz": example()})).await;
    let (mc, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc_token}))
        .await;
    let (display, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    (code, mc_token, mc, display)
}

async fn mc(srv: &TestServer, code: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    srv.post(&format!("/api/sessions/{code}{path}"), Some(token), body)
        .await
}

async fn player(srv: &TestServer, code: &str, name: &str) -> (String, String, Ws) {
    let (ws, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": name}))
        .await;
    (
        j["playerId"].as_str().unwrap().into(),
        j["token"].as_str().unwrap().into(),
        ws,
    )
}

#[actix_rt::test]
async fn the_leaderboard_moment_reaches_every_role_until_the_next_question() {
    let srv = TestServer::start().await;
    let (code, token, mut mc_ws, mut display) = night(&srv).await;
    let (_, ada_token, mut ada) = player(&srv, &code, "Ada").await;

    // A player may not show it.
    let (s, v) = mc(
        &srv,
        &code,
        &ada_token,
        "/leaderboard/show",
        json!({"shown": true}),
    )
    .await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));

    let (s, v) = mc(
        &srv,
        &code,
        &token,
        "/leaderboard/show",
        json!({"shown": true}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    for ws in [&mut mc_ws, &mut display, &mut ada] {
        let e = ws.expect("game:leaderboard-shown").await;
        assert_eq!(e["data"]["shown"], true);
        assert_eq!(e["data"]["top"][0]["name"], "Ada");
        assert_eq!(e["data"]["totalPlayers"], 1);
    }
    // A reload during the moment still shows it.
    let (_, st) = srv.get(&format!("/api/sessions/{code}/state"), None).await;
    assert_eq!(st["leaderboardShown"], true);

    // The next question ends it; showing it while a question is open is refused.
    let (s, _) = mc(
        &srv,
        &code,
        &token,
        "/question",
        json!({"questionId": "q1"}),
    )
    .await;
    assert_eq!(s, 200);
    let opened = ada.expect("game:question-opened").await;
    assert_eq!(opened["data"]["marking"], "auto");
    let (_, st) = srv.get(&format!("/api/sessions/{code}/state"), None).await;
    assert_eq!(st["leaderboardShown"], false);
    assert_eq!(st["question"]["marking"], "auto");
    let (s, v) = mc(&srv, &code, &token, "/leaderboard/show", json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("WRONG_PHASE")));

    // An empty body shows it; `shown: false` hides it again.
    mc(&srv, &code, &token, "/question/close", json!({})).await;
    let (s, _) = srv
        .request(
            "POST",
            &format!("/api/sessions/{code}/leaderboard/show"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        ada.expect("game:leaderboard-shown").await["data"]["shown"],
        true
    );
    mc(
        &srv,
        &code,
        &token,
        "/leaderboard/show",
        json!({"shown": false}),
    )
    .await;
    assert_eq!(
        ada.expect("game:leaderboard-shown").await["data"]["shown"],
        false
    );
}

#[actix_rt::test]
async fn a_removed_player_stays_out_by_name_and_device_until_let_back() {
    let srv = TestServer::start().await;
    let (code, token, mut mc_ws, _display) = night(&srv).await;
    let device = "3b241101-e2bb-4255-8caf-4136c566a962";
    let join = |name: &str, device: Option<&str>| {
        let mut body = json!({"name": name});
        if let Some(d) = device {
            body["deviceId"] = json!(d);
        }
        body
    };
    let players = format!("/api/sessions/{code}/players");
    let (s, v) = srv.post(&players, None, join("Ann", Some(device))).await;
    assert_eq!(s, 201, "{v}");
    let ann = v["playerId"].as_str().unwrap().to_string();

    let (s, _) = srv
        .request("DELETE", &format!("{players}/{ann}"), Some(&token), None)
        .await;
    assert_eq!(s, 204);
    let banned = mc_ws.expect("player:banned").await;
    assert_eq!(banned["data"]["name"], "Ann");
    assert_eq!(banned["data"]["device"], true);
    let ban_id = banned["data"]["banId"].as_str().unwrap().to_string();

    // Same name (and a look-alike) over HTTP, same device under a new name,
    // and a WebSocket join by name: all refused with FORBIDDEN.
    for body in [
        join("Ann", None),
        join("\u{0410}NN", None),
        join("Someone New", Some(device)),
    ] {
        let (s, v) = srv.post(&players, None, body.clone()).await;
        assert_eq!(s, 403, "{body}: {v}");
        assert_eq!(v["error"]["code"], "FORBIDDEN");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("removed you"));
    }
    let mut ws = srv.ws().await;
    ws.send(json!({"type": "join", "id": "j", "data":
        {"sessionCode": code, "role": "player", "name": "Other", "deviceId": device}}))
        .await;
    assert_eq!(ws.recv().await.unwrap()["data"]["code"], "FORBIDDEN");
    assert_eq!(ws.expect_close().await, 4003);

    // The MC lists who is kept out (the device id itself is never shown).
    let bans_url = format!("/api/sessions/{code}/bans");
    let (s, v) = srv.get(&bans_url, Some(&token)).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["bans"],
        json!([{"banId": ban_id, "name": "Ann", "device": true}])
    );
    let (_, st) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&token))
        .await;
    assert_eq!(st["bans"], v["bans"]);
    let (_, ann2) = srv.join_http(&code, "Bob").await;
    assert_eq!(srv.get(&bans_url, Some(&ann2)).await.0, 403);

    // Lifting the ban lets Ann back, on the same device.
    let (s, _) = srv
        .request(
            "DELETE",
            &format!("{bans_url}/{ban_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(mc_ws.expect("player:unbanned").await["data"]["name"], "Ann");
    let (s, v) = srv
        .request(
            "DELETE",
            &format!("{bans_url}/{ban_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("PLAYER_NOT_FOUND"))
    );
    let (s, v) = srv.post(&players, None, join("Ann", Some(device))).await;
    assert_eq!(s, 201, "{v}");

    // A malformed device id is a client bug, said so.
    let (s, v) = srv.post(&players, None, join("Cy", Some("no"))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("BAD_REQUEST")));
}

#[actix_rt::test]
async fn awards_are_told_per_question_and_survive_a_reload() {
    let srv = TestServer::start().await;
    let (code, token, _mc, _display) = night(&srv).await;
    let (_, ada_token, mut ada) = player(&srv, &code, "Ada").await;
    let (_, _, mut bob) = player(&srv, &code, "Bob").await;

    // q2 (choice, 2 points): Ada right, Bob wrong.
    mc(
        &srv,
        &code,
        &token,
        "/question",
        json!({"questionId": "q2", "timeLimitSec": 0}),
    )
    .await;
    for (ws, a) in [(&mut ada, 1), (&mut bob, 0)] {
        let ack = ws
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q2", "answer": a}),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    mc(&srv, &code, &token, "/question/reveal", json!({})).await;
    let mine = ada.expect("score:updated").await["data"].clone();
    assert_eq!(mine["questionId"], "q2");
    assert_eq!(mine["awarded"], 2.0);
    assert_eq!(mine["by"], "auto");
    assert_eq!(mine["score"], 2.0);
    assert_eq!(mine["rank"], 1);
    // Bob is told his zero exactly (his rank moved too).
    let his = bob.expect("score:updated").await["data"].clone();
    assert_eq!(
        (his["questionId"].as_str(), his["awarded"].as_f64()),
        (Some("q2"), Some(0.0))
    );

    // q1 scored by the MC (an override of a wrong answer).
    mc(
        &srv,
        &code,
        &token,
        "/question",
        json!({"questionId": "q1", "timeLimitSec": 0}),
    )
    .await;
    ada.call(
        "answer:submit",
        "b",
        json!({"questionId": "q1", "answer": "Lyon"}),
    )
    .await;
    mc(&srv, &code, &token, "/question/close", json!({})).await;
    let pid = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&ada_token))
        .await
        .1["me"]["playerId"]
        .clone();
    mc(
        &srv,
        &code,
        &token,
        "/scores",
        json!({"playerId": pid, "questionId": "q1", "score": 0.5}),
    )
    .await;
    let upd = ada.expect("score:updated").await["data"].clone();
    assert_eq!(
        (upd["questionId"].as_str(), upd["by"].as_str()),
        (Some("q1"), Some("mc"))
    );
    assert_eq!(upd["awarded"], 0.5);

    // A reload: the snapshot has every award.
    let (_, st) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&ada_token))
        .await;
    assert_eq!(
        st["me"]["awards"],
        json!({"q1": {"score": 0.5, "by": "mc"}, "q2": {"score": 2.0, "by": "auto"}})
    );
}

#[actix_rt::test]
async fn the_mc_snapshot_lists_marked_rounds_and_the_display_the_roster() {
    let srv = TestServer::start().await;
    let (code, token, _mc, _display) = night(&srv).await;
    let (_, _, mut ada) = player(&srv, &code, "Ada").await;
    let (_, _, mut bob) = player(&srv, &code, "Bob").await;
    let state = |t: Option<String>| {
        let srv = &srv;
        let code = code.clone();
        async move {
            srv.get(&format!("/api/sessions/{code}/state"), t.as_deref())
                .await
                .1
                .clone()
        }
    };
    // The display's roster, in join order; the MC's list is its own.
    let d = state(None).await;
    assert_eq!(
        d["players"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Ada", "Bob"]
    );

    // Round 2 is peer-marked: play it, mark it, end marking.
    mc(
        &srv,
        &code,
        &token,
        "/question",
        json!({"questionId": "q5", "timeLimitSec": 0}),
    )
    .await;
    let opened = ada.expect("game:question-opened").await;
    assert_eq!(opened["data"]["marking"], "peer");
    for ws in [&mut ada, &mut bob] {
        ws.call(
            "answer:submit",
            "a",
            json!({"questionId": "q5", "answer": "Eiffel Tower"}),
        )
        .await;
    }
    mc(&srv, &code, &token, "/question/close", json!({})).await;
    assert_eq!(state(Some(token.clone())).await["markedRounds"], json!([]));
    let (s, v) = mc(
        &srv,
        &code,
        &token,
        "/marking",
        json!({"enabled": true, "roundId": "r2"}),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    mc(&srv, &code, &token, "/marking", json!({"enabled": false})).await;
    let m = state(Some(token.clone())).await;
    assert_eq!(m["markedRounds"], json!(["r2"]));
    assert!(d.get("markedRounds").is_none());
}

#[actix_rt::test]
async fn a_player_leaves_over_http_as_over_a_websocket() {
    let srv = TestServer::start().await;
    let (code, token, mut mc_ws, _display) = night(&srv).await;
    let (pid, ptoken) = srv.join_http(&code, "Ada").await;
    mc_ws.expect("player:joined").await;
    let me = format!("/api/sessions/{code}/players/me");

    // Only a player token leaves; the MC has no "me".
    let (s, _) = srv.request("DELETE", &me, Some(&token), None).await;
    assert_eq!(s, 403);
    let (s, _) = srv.request("DELETE", &me, None, None).await;
    assert_eq!(s, 401);

    let (s, v) = srv.request("DELETE", &me, Some(&ptoken), None).await;
    assert_eq!(s, 204, "{v}");
    let left = mc_ws.expect("player:left").await;
    assert_eq!(left["data"]["playerId"], pid.as_str());
    assert_eq!(left["data"]["totalPlayers"], 0);
    // The token is spent; leaving keeps nobody out.
    let (s, _) = srv.request("DELETE", &me, Some(&ptoken), None).await;
    assert_eq!(s, 403);
    srv.join_http(&code, "Ada").await;
    assert!(mc_ws
        .drain_for(Duration::from_millis(200))
        .await
        .iter()
        .all(|e| e["type"] != "player:banned"));
}

#[actix_rt::test]
async fn bans_awards_and_the_moment_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = TestServer::on_db(&db, |_| {}).await;
    let (code, token, _mc, _display) = night(&srv).await;
    let players = format!("/api/sessions/{code}/players");
    let device = "device-0123456789";
    let (_, v) = srv
        .post(&players, None, json!({"name": "Ann", "deviceId": device}))
        .await;
    let ann = v["playerId"].as_str().unwrap().to_string();
    let (_, bob_token) = srv.join_http(&code, "Bob").await;
    mc(
        &srv,
        &code,
        &token,
        "/question",
        json!({"questionId": "q2", "timeLimitSec": 0}),
    )
    .await;
    let (s, _) = srv
        .post(
            &format!("/api/sessions/{code}/answers"),
            Some(&bob_token),
            json!({"questionId": "q2", "answer": 1}),
        )
        .await;
    assert_eq!(s, 200);
    mc(&srv, &code, &token, "/question/reveal", json!({})).await;
    srv.request("DELETE", &format!("{players}/{ann}"), Some(&token), None)
        .await;
    mc(&srv, &code, &token, "/leaderboard/show", json!({})).await;
    srv.shutdown().await;

    let srv = TestServer::on_db(&db, |_| {}).await;
    let (s, v) = srv
        .post(&players, None, json!({"name": "Other", "deviceId": device}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
    let (_, st) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&bob_token))
        .await;
    assert_eq!(st["leaderboardShown"], true);
    assert_eq!(
        st["me"]["awards"],
        json!({"q2": {"score": 2.0, "by": "auto"}})
    );
    let (_, st) = srv
        .get(&format!("/api/sessions/{code}/state"), Some(&token))
        .await;
    assert_eq!(st["bans"][0]["name"], "Ann");
}
