//! A refused write refuses the command and changes nothing: while the log
//! cannot write (an injected fault in its writer, or a genuinely full
//! filesystem), every command gets `UNAVAILABLE`, nothing is fanned out,
//! reads keep working; afterwards play goes on without a restart, and a
//! restart shows no trace of the refused commands.
//!
//! Needs the `failpoints` feature (the test command turns it on).
#![cfg(feature = "failpoints")]

mod common;

use common::{TestServer, Ws};
use serde_json::{json, Value};
use std::time::Duration;

fn quiz() -> Value {
    serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap()
}

/// Sequenced events among frames.
fn events(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| f.get("seq").is_some()).collect()
}

#[actix_rt::test]
async fn while_the_log_fails_commands_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut srv = TestServer::on_db(&db, |_| {}).await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz()})).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    let (mut mcws, _) = srv
        .ws_join(json!({"sessionCode": code, "role": "mc", "token": mc}))
        .await;
    let (mut ada, j) = srv
        .ws_join(json!({"sessionCode": code, "role": "player", "name": "Ada"}))
        .await;
    let ada_token = j["token"].as_str().unwrap().to_string();
    assert_eq!(
        srv.post(&p("/question"), Some(&mc), json!({"questionId": "q2"}))
            .await
            .0,
        200
    );
    let ack = ada
        .call(
            "answer:submit",
            "a1",
            json!({"questionId": "q2", "answer": 0}),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    // Let the presence and leaderboard batches land.
    mcws.drain_for(Duration::from_millis(1500)).await;
    let before = mcws.call("resync", "r1", json!({})).await["data"].clone();
    let seq_before = before["seq"].as_u64().unwrap();

    fail::cfg("log-commit", "return").unwrap();

    // A WebSocket command: error with its id, connection kept.
    let r = ada
        .call(
            "answer:submit",
            "a2",
            json!({"questionId": "q2", "answer": 2}),
        )
        .await;
    assert_eq!(r["type"], "error", "{r}");
    assert_eq!(r["data"]["code"], "UNAVAILABLE");
    let pong = ada.call("ping", "p1", json!({})).await;
    assert_eq!(pong["type"], "pong", "the connection stays open");
    let r = ada.call("chat:send", "c1", json!({"text": "lost?"})).await;
    assert_eq!(r["data"]["code"], "UNAVAILABLE", "{r}");
    // HTTP commands: 503.
    let (s, v) = srv.post(&p("/question/close"), Some(&mc), json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (503, Some("UNAVAILABLE")));
    let (s, _) = srv.post(&p("/players"), None, json!({"name": "Bob"})).await;
    assert_eq!(s, 503);
    let (s, _) = srv
        .post(
            &p("/scores"),
            Some(&mc),
            json!({"playerId": j["playerId"], "questionId": "q1", "score": 1}),
        )
        .await;
    assert_eq!(s, 503);
    // A join by name: error, the socket may try again.
    let mut cy = Ws::connect(&srv.ws_url).await;
    let _ = cy.recv().await; // connection:established
    let r = cy
        .call(
            "join",
            "j1",
            json!({"sessionCode": code, "role": "player", "name": "Cy"}),
        )
        .await;
    assert_eq!(r["data"]["code"], "UNAVAILABLE", "{r}");
    assert!(cy.closed.is_none());
    // Session creation: 503.
    let (s, _) = srv.post("/api/sessions", None, json!({})).await;
    assert_eq!(s, 503);
    // Nothing was fanned out; reads keep working and show nothing changed.
    let seen = mcws.drain_for(Duration::from_millis(1200)).await;
    assert!(events(&seen).is_empty(), "{seen:?}");
    let (s, during) = srv.get(&p("/state"), Some(&mc)).await;
    assert_eq!(s, 200);
    let mut expected = before["snapshot"].clone();
    // Only who is online may differ (Cy's socket is connected, not joined).
    expected["online"] = during["online"].clone();
    assert_eq!(during, expected);
    let now = mcws.call("resync", "r2", json!({})).await["data"].clone();
    assert_eq!(now["seq"], before["seq"]);

    fail::remove("log-commit");

    // Play goes on without a restart; seq continues at last + 1.
    let r = cy
        .call(
            "join",
            "j2",
            json!({"sessionCode": code, "role": "player", "name": "Cy"}),
        )
        .await;
    assert_eq!(r["type"], "joined", "{r}");
    let ack = ada
        .call(
            "answer:submit",
            "a3",
            json!({"questionId": "q2", "answer": 1}),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(
        ack["data"]["revision"], 2,
        "the refused revision never happened"
    );
    let seen = mcws.drain_for(Duration::from_millis(800)).await;
    let seqs: Vec<u64> = events(&seen)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.first(), Some(&(seq_before + 1)), "{seen:?}");

    // A restart shows no trace of the refused commands.
    drop((mcws, ada, cy));
    srv.shutdown().await;
    let srv = TestServer::on_db(&db, |_| {}).await;
    let (_, after) = srv.get(&p("/state"), Some(&mc)).await;
    let snap = &after;
    assert_eq!(
        snap["phase"], "question",
        "the refused close never happened"
    );
    assert_eq!(snap["answers"][j["playerId"].as_str().unwrap()], 1);
    let names: Vec<&str> = snap["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Ada", "Cy"], "Bob's refused join left nothing");
    assert_eq!(
        snap["players"][0]["score"], 0.0,
        "the refused override left nothing"
    );
    let (_, poll) = srv
        .get(&p(&format!("/events?since={seq_before}")), Some(&ada_token))
        .await;
    assert!(
        !poll.to_string().contains("lost?"),
        "the refused chat message left nothing: {poll}"
    );
}

/// Mounts a small tmpfs (needs root); `None` where that is not allowed.
fn small_filesystem(dir: &std::path::Path, size: &str) -> Option<()> {
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(())
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem holding `dir` with one file; returns its path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

#[actix_rt::test]
async fn a_full_disk_refuses_commands_and_play_resumes_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    if small_filesystem(dir.path(), "8m").is_none() {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    }
    let _unmount = Unmount(dir.path().to_path_buf());
    let db = dir.path().join("q.db");
    let mut srv = TestServer::on_db(&db, |_| {}).await;
    let (code, mc) = srv.create_session(json!({"quiz": quiz()})).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    let quiz_titled = |n: usize| {
        let mut q = quiz();
        q["title"] = json!(format!("Night {n}"));
        // Pad the quiz so each load is a sizeable record (~12 KB).
        for round in q["rounds"].as_array_mut().unwrap() {
            for question in round["questions"].as_array_mut().unwrap() {
                question["explanation"] = json!("x".repeat(1_900));
            }
        }
        q
    };
    assert_eq!(
        srv.request("PUT", &p("/quiz"), Some(&mc), Some(quiz_titled(0)))
            .await
            .0,
        200
    );
    let filler = fill(dir.path());
    // Write until the log runs out of room (the WAL can absorb a little).
    let mut last_ok = 0;
    let mut refused = None;
    for n in 1..400 {
        let (s, v) = srv
            .request("PUT", &p("/quiz"), Some(&mc), Some(quiz_titled(n)))
            .await;
        match s {
            200 => last_ok = n,
            503 => {
                assert_eq!(v["error"]["code"], "UNAVAILABLE");
                refused = Some(n);
                break;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    let refused = refused.expect("a full disk must refuse a write");
    let (s, v) = srv.get(&p("/state"), Some(&mc)).await;
    assert_eq!(s, 200, "reads keep working");
    assert_eq!(v["title"], format!("Night {last_ok}"));
    // Room again: commands work without a restart.
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = None;
    for n in refused + 1..refused + 20 {
        let (s, _) = srv
            .request("PUT", &p("/quiz"), Some(&mc), Some(quiz_titled(n)))
            .await;
        if s == 200 {
            recovered = Some(n);
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = recovered.expect("commands work again once there is room");
    srv.shutdown().await;
    let srv = TestServer::on_db(&db, |_| {}).await;
    let (_, v) = srv.get(&p("/state"), Some(&mc)).await;
    assert_eq!(v["title"], format!("Night {recovered}"));
}
