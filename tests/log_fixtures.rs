//! A log written by an earlier version opens in this one: the fixtures in
//! tests/fixtures/ (README there) recover to the state their writer showed,
//! tokens still work, and play goes on.

mod common;

use common::Child;
use serde_json::{json, Value};

/// The parts of an MC snapshot that every version since the fixture has.
fn essentials(s: &Value) -> Value {
    let players: Vec<Value> = s["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!([p["playerId"], p["name"], p["score"]]))
        .collect();
    json!({
        "code": s["code"], "title": s["title"], "phase": s["phase"],
        "round": s["round"]["id"], "question": s["question"]["questionId"],
        "totalPlayers": s["totalPlayers"], "leaderboard": s["leaderboard"],
        "players": players, "settings": s["settings"], "marking": s["marking"],
    })
}

async fn recovers(fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    std::fs::copy(format!("tests/fixtures/{fixture}.db"), &db).unwrap();
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("tests/fixtures/{fixture}.json")).unwrap(),
    )
    .unwrap();
    let code = meta["code"].as_str().unwrap();
    let mc = meta["mcToken"].as_str().unwrap();
    let ada = meta["ada"]["token"].as_str().unwrap();
    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    let (s, now) = api.get(&p("/state"), Some(mc)).await;
    assert_eq!(s, 200, "{fixture}: {now}");
    assert_eq!(essentials(&now), essentials(&meta["state"]), "{fixture}");
    let (s, me) = api.get(&p("/state"), Some(ada)).await;
    assert_eq!(s, 200, "{fixture}: the player's token still works");
    assert_eq!(me["me"]["answers"]["q2"], 1);
    assert_eq!(me["me"]["answers"]["q5"], "Eiffel Tower");
    // Play goes on: ending the marking applies the logged peer marks.
    let (s, v) = api
        .post(&p("/marking"), Some(mc), json!({"enabled": false}))
        .await;
    assert!((200..300).contains(&s), "{fixture}: {s} {v}");
    let (_, board) = api.get(&p("/leaderboard"), None).await;
    let score = |name: &str| {
        board["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["score"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(score("Ada"), 4.0, "{fixture}: q2 auto (2) + q5 peer (2)");
    assert_eq!(score("Bob"), 0.0, "{fixture}");
}

#[actix_rt::test]
async fn a_fact_log_of_format_1_recovers() {
    recovers("log-v1").await;
}

#[actix_rt::test]
async fn a_first_release_command_journal_is_converted_and_recovers() {
    recovers("first-release").await;
}

#[actix_rt::test]
async fn a_record_of_an_unknown_format_stops_the_start_and_can_be_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    std::fs::copy("tests/fixtures/log-v1.db", &db).unwrap();
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/log-v1.json").unwrap())
            .unwrap();
    let code = meta["code"].as_str().unwrap();
    {
        let conn = rusqlite_conn(&db);
        conn.execute(
            "UPDATE facts SET v = 99 WHERE pos = (SELECT max(pos) FROM facts)",
            [],
        )
        .unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast"))
        .args(["--addr", "127.0.0.1:0"])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!out.status.success(), "it must refuse to start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(code) && err.contains("format version 99") && err.contains("--quarantine"),
        "the refusal names the session, the position and the way out: {err}"
    );
    // With the session quarantined, the server starts without it.
    let child = Child::spawn(&db, &["--quarantine", code]);
    let (s, _) = child
        .api()
        .get(&format!("/api/sessions/{code}"), None)
        .await;
    assert_eq!(s, 404);
}

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}
