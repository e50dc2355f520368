//! The HTTP control API over a real socket.

mod common;

use common::TestServer;
use serde_json::json;

#[actix_rt::test]
async fn create_returns_code_token_and_urls() {
    let srv = TestServer::start().await;
    let (s, v) = srv
        .post("/api/sessions", None, json!({"title": "Quiz"}))
        .await;
    assert_eq!(s, 201);
    let code = v["code"].as_str().unwrap();
    assert_eq!(code.len(), 5);
    assert!(v["joinUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/join/{code}")));
    // The display link carries its display token in the fragment.
    assert!(v["displayUrl"]
        .as_str()
        .unwrap()
        .contains(&format!("/display/{code}#token=")));
    let (s, info) = srv
        .get(&format!("/api/sessions/{}", code.to_lowercase()), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        info,
        json!({"code": code, "title": "Quiz", "phase": "lobby", "totalPlayers": 0, "online": 0})
    );
}

#[actix_rt::test]
async fn unknown_sessions_are_404() {
    let srv = TestServer::start().await;
    let (s, v) = srv.get("/api/sessions/ZZZZZ", None).await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "SESSION_NOT_FOUND");
    let (s, _) = srv
        .post("/api/sessions/ZZZZZ/players", None, json!({"name": "A"}))
        .await;
    assert_eq!(s, 404);
}

#[actix_rt::test]
async fn joining_checks_names() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    srv.join_http(&code, "Ada").await;
    let p = format!("/api/sessions/{code}/players");
    let (s, v) = srv.post(&p, None, json!({"name": " ADA "})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("NAME_TAKEN")));
    let (s, v) = srv.post(&p, None, json!({"name": "   "})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("BAD_REQUEST")));
    let (s, v) = srv.post(&p, None, json!({"nom": "x"})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("BAD_REQUEST")));
}

#[actix_rt::test]
async fn a_full_session_refuses_players() {
    let srv = TestServer::start().await;
    let (code, _) = srv
        .create_session(json!({"settings": {"maxPlayers": 1}}))
        .await;
    srv.join_http(&code, "Ada").await;
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/players"),
            None,
            json!({"name": "Bob"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("SESSION_FULL"))
    );
    let mut ws = srv.ws().await;
    ws.send(json!({"type":"join","data":{"sessionCode": code,"role":"player","name":"Cy"}}))
        .await;
    assert_eq!(ws.recv().await.unwrap()["data"]["code"], "SESSION_FULL");
    assert_eq!(ws.expect_close().await, 4009);
}

#[actix_rt::test]
async fn mc_routes_refuse_players_displays_and_other_sessions() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let (_, other_mc) = srv.create_session(json!({})).await;
    let (_, player) = srv.join_http(&code, "Ada").await;
    let end = format!("/api/sessions/{code}/end");
    let (s, v) = srv.post(&end, Some(&player), json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
    let (s, v) = srv.post(&end, None, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let (s, _) = srv.post(&end, Some(&other_mc), json!({})).await;
    assert_eq!(s, 401);
    let (s, _) = srv.post(&end, Some("garbage"), json!({})).await;
    assert_eq!(s, 401);
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["phase"], "lobby");
}

#[actix_rt::test]
async fn state_view_is_chosen_by_the_token() {
    let srv = TestServer::start().await;
    let (code, mc) = srv.create_session(json!({})).await;
    let (pid, player) = srv.join_http(&code, "Ada").await;
    let path = format!("/api/sessions/{code}/state");
    let (_, v) = srv.get(&path, Some(&mc)).await;
    assert_eq!(v["players"][0]["playerId"], pid.as_str());
    let (_, v) = srv.get(&path, Some(&player)).await;
    assert_eq!(v["me"]["playerId"], pid.as_str());
    assert!(v.get("players").is_none());
    let (_, v) = srv.get(&path, None).await;
    // The display: the roster's names only, nothing of anyone's own.
    assert_eq!(v["players"], json!([{"playerId": pid, "name": "Ada"}]));
    assert!(v.get("me").is_none());
    assert_eq!(v["totalPlayers"], 1);
}

#[actix_rt::test]
async fn bodies_over_the_limit_are_413_and_bad_json_400() {
    let srv = TestServer::start().await;
    let (s, v) = srv
        .post("/api/sessions", None, json!({"title": "x".repeat(2 << 20)}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );
    let (s, v) = srv
        .post(
            "/api/sessions",
            None,
            json!({"settings": {"maxPlayers": "lots"}}),
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("BAD_REQUEST")));
}

#[actix_rt::test]
async fn health_and_stats() {
    let srv = TestServer::start().await;
    let (s, _) = srv.get("/healthz", None).await;
    assert_eq!(s, 200);
    let (code, _) = srv.create_session(json!({})).await;
    let (_ws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let (s, v) = srv.get("/api/stats", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["sessions"], 1);
    assert_eq!(v["connections"]["display"], 1);
    assert!(v["messagesIn"].as_u64().unwrap() >= 1);
    assert!(v["uptimeSecs"].is_u64());
}

#[actix_rt::test]
async fn a_session_can_be_created_without_a_body() {
    let srv = TestServer::start().await;
    let client = awc::Client::default();
    let resp = client
        .post(format!("{}/api/sessions", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}
