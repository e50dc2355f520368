//! Hostile rooms, over real sockets: per-address admission control,
//! invisible and look-alike names, and a stalled reader cut loose.

mod common;

use awc::ws::Frame;
use common::{raw_ws_join, TestServer, Ws};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// An HTTP/1.1 client whose connections come from `ip` (127.0.0.0/8 all
/// reach a server on 127.0.0.1).
fn client_from(ip: &str) -> awc::Client {
    let ip: IpAddr = ip.parse().unwrap();
    awc::Client::builder()
        .connector(awc::Connector::new().local_address(ip))
        .max_http_version(awc::http::Version::HTTP_11)
        .timeout(Duration::from_secs(20))
        .finish()
}

/// A WebSocket from `ip`: the socket, or the refusal's status and Retry-After.
async fn ws_from(srv: &TestServer, ip: &str) -> Result<Ws, (u16, Option<String>)> {
    let (resp, conn) = match client_from(ip).ws(&srv.ws_url).connect().await {
        Ok(x) => x,
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => {
            // awc drops the response here; ask again over plain HTTP for the headers.
            let r = client_from(ip)
                .get(&srv.ws_url.replace("ws://", "http://"))
                .insert_header(("Upgrade", "websocket"))
                .insert_header(("Connection", "Upgrade"))
                .insert_header(("Sec-WebSocket-Version", "13"))
                .insert_header(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
                .send()
                .await
                .unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(r.status().as_u16(), s.as_u16());
            return Err((s.as_u16(), retry));
        }
        Err(e) => panic!("ws connect: {e}"),
    };
    drop(resp);
    let mut ws = Ws {
        conn,
        established: Value::Null,
        closed: None,
    };
    let first = ws.recv().await.expect("connection:established");
    assert_eq!(first["type"], "connection:established");
    Ok(ws)
}

/// POST from `ip`: status, Retry-After, body.
async fn post_from(
    srv: &TestServer,
    ip: &str,
    path: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut r = client_from(ip)
        .post(format!("{}{}", srv.base, path))
        .send_json(&body)
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    (r.status().as_u16(), retry, v)
}

#[actix_rt::test]
async fn upgrades_past_the_per_address_limit_are_refused_while_another_address_gets_in() {
    let srv = TestServer::with(|c| {
        c.upgrade_rate = 0.01;
        c.upgrade_burst = 3.0;
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(ws_from(&srv, "127.0.0.1").await.expect("within the burst"));
    }
    let refused = ws_from(&srv, "127.0.0.1").await.err();
    let (status, retry) = refused.expect("the fourth upgrade is refused");
    assert_eq!(status, 429);
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=200).contains(&retry), "{retry}");
    // Another address is not affected.
    let mut other = ws_from(&srv, "127.0.0.2").await.expect("another address");
    let pong = other.call("ping", "p", json!({})).await;
    assert_eq!(pong["type"], "pong");
    // The refusals are counted.
    let (_, stats) = srv.get("/api/stats", None).await;
    assert!(
        stats["errors"]["RATE_LIMITED"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

#[actix_rt::test]
async fn joins_by_name_are_limited_per_address_on_both_paths() {
    let srv = TestServer::with(|c| {
        c.join_rate = 0.01;
        c.join_burst = 2.0;
    })
    .await;
    let (code, _) = srv.create_session(json!({})).await;
    let players = format!("/api/sessions/{code}/players");

    // One join over HTTP and one over WebSocket use the address's burst.
    let (s, _, _) = post_from(&srv, "127.0.0.1", &players, json!({"name": "A"})).await;
    assert_eq!(s, 201);
    let mut ws = ws_from(&srv, "127.0.0.1").await.unwrap();
    let joined = ws
        .join(json!({"sessionCode": code, "role": "player", "name": "B"}))
        .await;
    let token_b = joined["token"].as_str().unwrap().to_string();

    // Both paths are now refused for this address, with RATE_LIMITED.
    let (s, retry, v) = post_from(&srv, "127.0.0.1", &players, json!({"name": "C"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{v}"
    );
    assert!(retry.expect("Retry-After").parse::<u64>().unwrap() >= 1);
    let mut ws2 = ws_from(&srv, "127.0.0.1").await.unwrap();
    let reply = ws2
        .call(
            "join",
            "j9",
            json!({"sessionCode": code, "role": "player", "name": "D"}),
        )
        .await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["data"]["code"], "RATE_LIMITED");
    // The socket stays usable (it may join later, e.g. with a token).
    let rejoined = ws2
        .call(
            "join",
            "j10",
            json!({"sessionCode": code, "role": "player", "token": token_b}),
        )
        .await;
    assert_eq!(
        rejoined["type"], "joined",
        "rejoining with a token is not limited"
    );

    // Another address still gets in, on both paths.
    let (s, _, v) = post_from(&srv, "127.0.0.2", &players, json!({"name": "E"})).await;
    assert_eq!(s, 201, "{v}");
    let mut ws3 = ws_from(&srv, "127.0.0.2").await.unwrap();
    ws3.join(json!({"sessionCode": code, "role": "player", "name": "F"}))
        .await;
    let (_, info) = srv.get(&format!("/api/sessions/{code}"), None).await;
    assert_eq!(info["totalPlayers"], 4, "{info}");
}

#[actix_rt::test]
async fn answers_and_marks_over_http_are_limited_per_address() {
    let srv = TestServer::with(|c| {
        c.answer_rate = 0.01;
        c.answer_burst = 2.0;
    })
    .await;
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc) = srv.create_session(json!({"quiz": quiz})).await;
    let (_, token) = srv.join_http(&code, "Ann").await;
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/question"),
            Some(&mc),
            json!({"questionId": "q1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let path = format!("/api/sessions/{code}/answers");
    let answer = json!({"questionId": "q1", "answer": "Paris"});
    for _ in 0..2 {
        let (s, v) = srv.post(&path, Some(&token), answer.clone()).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = srv.post(&path, Some(&token), answer.clone()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
    let (s, v) = srv
        .post(
            &format!("/api/sessions/{code}/marks"),
            Some(&token),
            json!({"assignmentId": "a", "questionId": "q1", "score": 1}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
}

#[actix_rt::test]
async fn invisible_hidden_and_look_alike_names_are_refused_with_the_right_code() {
    let srv = TestServer::start().await;
    let (code, _) = srv.create_session(json!({})).await;
    let players = format!("/api/sessions/{code}/players");
    srv.join_http(&code, "Ann").await;

    let invisible = [
        "\u{3164}",
        "\u{2800}",
        "\u{034F}\u{034F}",
        "\u{200B}",
        "\u{115F}\u{1160}",
        "\u{FEFF}",
        " \u{00AD} ",
    ];
    for name in invisible {
        let (s, v) = srv.post(&players, None, json!({"name": name})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{name:?}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("visible"),
            "{v}"
        );
    }
    for name in ["\u{202E}nnA", "Bo\u{2066}b", "\u{200F}Bob", "\u{061C}"] {
        let (s, v) = srv.post(&players, None, json!({"name": name})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{name:?}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("bidirectional"),
            "{v}"
        );
    }
    for name in ["Bob\u{200B}", "Bo\u{200D}b", "\u{2060}Bob"] {
        let (s, v) = srv.post(&players, None, json!({"name": name})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("BAD_REQUEST")),
            "{name:?}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("zero-width"),
            "{v}"
        );
    }
    // Look-alikes of "Ann": taken.
    for name in ["ANN", "\u{410}nn", "\u{430}nn", "Ａｎｎ", " Ann  "] {
        let (s, v) = srv.post(&players, None, json!({"name": name})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("NAME_TAKEN")),
            "{name:?}: {v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("look-alike"),
            "{v}"
        );
    }
    // The same rules over WebSocket.
    let mut ws = srv.ws().await;
    let reply = ws
        .call(
            "join",
            "j1",
            json!({"sessionCode": code, "role": "player", "name": "\u{3164}"}),
        )
        .await;
    assert_eq!(reply["data"]["code"], "BAD_REQUEST", "{reply}");
    let mut ws = srv.ws().await;
    let reply = ws
        .call(
            "join",
            "j1",
            json!({"sessionCode": code, "role": "player", "name": "\u{410}nn"}),
        )
        .await;
    assert_eq!(reply["data"]["code"], "NAME_TAKEN", "{reply}");
    // Ordinary names, and names with emoji, still join; full-width is shown normalized.
    let (s, v) = srv.post(&players, None, json!({"name": "Ｂｅａ"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = srv
        .post(&players, None, json!({"name": "Zoë \u{2764}\u{FE0F}"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let (_, board) = srv
        .get(&format!("/api/sessions/{code}/leaderboard"), None)
        .await;
    let names: Vec<&str> = board["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"Bea"), "{names:?}");
    assert_eq!(names.len(), 3, "{names:?}");
}

/// A reader that stops reading while the server pushes: it is closed 4008,
/// and its TCP connection is then aborted within the grace period even
/// though it never reads the close frame.
#[actix_rt::test]
async fn a_stalled_reader_is_disconnected_within_the_grace_period() {
    let grace = Duration::from_millis(1500);
    let srv = TestServer::with(|c| {
        c.outbox_bytes = 32 * 1024;
        c.tcp_send_buffer = 16 * 1024;
        c.close_grace_ms = 1500;
        // No heartbeat close during the test: the 4008 is what closes it.
        c.heartbeat_ms = 60_000;
    })
    .await;
    let long = "x".repeat(1900);
    let questions: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("q{i}"), "kind": "number", "prompt": format!("{i}{long}"), "answer": i}))
        .collect();
    let big = json!({"rounds": [{"id": "r", "name": "Long", "questions": questions}]});
    let (code, mc) = srv.create_session(json!({"quiz": big})).await;
    let addr = srv.base.trim_start_matches("http://").parse().unwrap();
    let mut stalled = raw_ws_join(addr, &json!({"sessionCode": code, "role": "display"}));
    // A healthy display too: it must stay connected throughout.
    let (mut healthy, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "display"}))
        .await;
    let reader = actix_rt::spawn(async move {
        let mut n = 0;
        while let Some(v) = healthy.recv_within(Duration::from_secs(10)).await {
            if v["type"] == "game:question-opened" {
                n += 1;
                if n == 150 {
                    break;
                }
            }
        }
        (n, healthy)
    });

    for i in 0..150 {
        let (s, v) = srv
            .post(
                &format!("/api/sessions/{code}/question"),
                Some(&mc),
                json!({"questionId": format!("q{}", i % 5)}),
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
    let (n, mut healthy) = reader.await.unwrap();
    assert_eq!(n, 150, "the healthy display got every question");
    let (_, stats) = srv.get("/api/stats", None).await;
    assert_eq!(stats["slowConsumerCloses"], 1, "{stats}");
    let closed_at = Instant::now();

    // The stalled connection goes away on the server's side (its socket
    // actor ends only once actix drops the connection), without the client
    // reading anything.
    let deadline = closed_at + grace + Duration::from_secs(15);
    loop {
        let (_, stats) = srv.get("/api/stats", None).await;
        if stats["connections"]["open"] == 1 && stats["abortedConnections"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled connection is still open: {stats}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // When the client reads again, its connection has been reset (it never
    // got to the close frame at the end of its backlog).
    let read_end = actix_web::rt::task::spawn_blocking(move || {
        use std::io::Read;
        stalled
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stalled.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e.kind()),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(read_end, Err(std::io::ErrorKind::ConnectionReset));

    // The healthy display is still connected and answered.
    let pong = healthy.call("ping", "p", json!({})).await;
    assert_eq!(pong["type"], "pong");
    let mut frames = 0;
    while let Ok(Some(Ok(f))) =
        actix_rt::time::timeout(Duration::from_millis(10), healthy.conn.next()).await
    {
        if matches!(f, Frame::Close(_)) {
            panic!("the healthy display was closed");
        }
        frames += 1;
    }
    let _ = frames;
}
