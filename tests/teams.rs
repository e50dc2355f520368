//! Team mode over real sockets: a team night where members on different
//! sockets write one shared sheet, the MC's team routes and their errors,
//! results by team; and a restart (kill -9 of the real binary) mid-night
//! with the teams, sheets and team scores intact.

mod common;

use common::{Child, TestServer, Ws};
use serde_json::{json, Value};

fn quiz(mode: &str) -> Value {
    json!({"title": "Team night",
      "settings": {"teams": mode, "maxTeams": 4, "maxTeamSize": 3},
      "rounds": [{"id": "r1", "name": "General", "questions": [
        {"id": "q1", "kind": "text", "prompt": "Capital of France?", "answer": "Paris", "points": 2},
        {"id": "q2", "kind": "choice", "prompt": "Largest planet?", "choices": ["Mars", "Jupiter"], "answer": 1, "points": 1}]}]})
}

/// A player joining `team` on a socket: the socket, its id and token.
async fn join(api: &TestServer, code: &str, name: &str, team: &str) -> (Ws, String, String) {
    let (ws, j) = api
        .ws_join(json!({"sessionCode": code, "role": "player", "name": name, "team": team}))
        .await;
    (
        ws,
        j["playerId"].as_str().unwrap().to_string(),
        j["token"].as_str().unwrap().to_string(),
    )
}

async fn sheet_night(api: &TestServer) -> (String, String, Vec<Ws>) {
    let (code, mc) = api.create_session(json!({"quiz": quiz("sheet")})).await;
    let (mut ada, _, _) = join(api, &code, "Ada", "Owls").await;
    let (mut bea, _, _) = join(api, &code, "Bea", "owls").await;
    let (cy, _, _) = join(api, &code, "Cy", "Foxes").await;
    // Ada learns Bea joined her team.
    let ev = ada.expect("team:updated").await;
    assert_eq!(ev["data"]["name"], "Owls");
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    let (s, _) = api
        .post(&p("/question"), Some(&mc), json!({"questionId": "q1"}))
        .await;
    assert_eq!(s, 200);
    // Two members on two sockets write one sheet: last write wins, both see it.
    let ack = ada
        .call(
            "answer:submit",
            "a1",
            json!({"questionId": "q1", "answer": "Rome"}),
        )
        .await;
    assert_eq!(ack["data"]["revision"], 1, "{ack}");
    let ack = bea
        .call(
            "answer:submit",
            "b1",
            json!({"questionId": "q1", "answer": "Paris"}),
        )
        .await;
    assert_eq!(ack["data"]["revision"], 2, "{ack}");
    loop {
        let ev = ada.expect("team:sheet-updated").await;
        if ev["data"]["revision"] == 2 {
            assert_eq!(ev["data"]["answer"], "Paris");
            assert_eq!(ev["data"]["name"], "Bea");
            break;
        }
    }
    (code, mc, vec![ada, bea, cy])
}

#[actix_rt::test]
async fn a_team_night_with_one_sheet_per_team() {
    let api = TestServer::start().await;
    let (code, mc, mut socks) = sheet_night(&api).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    socks[2]
        .call(
            "answer:submit",
            "c1",
            json!({"questionId": "q1", "answer": "Lyon"}),
        )
        .await;
    let (s, _) = api.post(&p("/question/reveal"), Some(&mc), json!({})).await;
    assert_eq!(s, 204);
    // The team's members hear the team's score.
    let ev = socks[1].expect("team:score-updated").await;
    assert_eq!(ev["data"]["name"], "Owls");
    assert_eq!(ev["data"]["score"], 2.0);
    assert_eq!(ev["data"]["rank"], 1);
    // The leaderboard gains the teams.
    let ev = socks[2].expect("leaderboard:updated").await;
    assert_eq!(ev["data"]["teams"][0]["name"], "Owls", "{ev}");
    assert!(ev["data"]["top"].is_array(), "per-player fields stay");
    // The MC marks a team by hand.
    let (s, v) = api
        .post(
            &p("/team-scores"),
            Some(&mc),
            json!({"teamId": "t2", "questionId": "q1", "score": 1}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (_, teams) = api.get(&p("/teams"), None).await;
    assert_eq!(teams["mode"], "sheet");
    assert_eq!(teams["teams"][1]["score"], 1.0, "{teams}");
    assert_eq!(teams["teams"][0]["members"][1]["name"], "Bea");
    // Results by team, with members, as JSON and CSV.
    let (_, r) = api.get(&p("/results"), Some(&mc)).await;
    assert_eq!(r["teams"][0]["name"], "Owls");
    assert_eq!(r["teams"][0]["members"].as_array().unwrap().len(), 2);
    assert_eq!(r["teams"][0]["questions"][0]["answer"], "Paris");
    let (_, csv) = api.get(&p("/results?format=csv"), Some(&mc)).await;
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.starts_with("team_rank,team_id,team,members,"), "{csv}");
    assert!(
        csv.contains("1,t1,Owls,Ada; Bea,r1,q1,Paris,true,auto,2,2"),
        "{csv}"
    );
    let (_, players) = api
        .get(&p("/results?format=csv&by=player"), Some(&mc))
        .await;
    assert!(players.as_str().unwrap().starts_with("rank,player_id,name"));
    // The end names the teams.
    api.post(&p("/end"), Some(&mc), json!({})).await;
    let ev = socks[0].expect("session:ended").await;
    assert_eq!(ev["data"]["teams"][0]["name"], "Owls");
}

#[actix_rt::test]
async fn the_mc_runs_the_teams_and_limits_are_clear() {
    let api = TestServer::start().await;
    let (code, mc) = api.create_session(json!({"quiz": quiz("off")})).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    // Team mode off: a team in the join is refused with a clear code.
    let (s, v) = api
        .post(&p("/players"), None, json!({"name": "Ada", "team": "Owls"}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("TEAMS_OFF")));
    // The MC turns team mode on (before the first question).
    let (s, v) = api
        .request(
            "PUT",
            &p("/teams/mode"),
            Some(&mc),
            Some(json!({"teams": "sum", "maxTeams": 2, "maxTeamSize": 2})),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = api
        .post(&p("/teams"), Some(&mc), json!({"name": "Owls"}))
        .await;
    assert_eq!((s, v["teamId"].as_str()), (201, Some("t1")));
    let (s, v) = api
        .post(&p("/teams"), Some(&mc), json!({"name": "OWLS"}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("TEAM_NAME_TAKEN"))
    );
    let (ada, _) = api.join_http(&code, "Ada").await;
    let (s, _) = api
        .post(&p("/players"), None, json!({"name": "Bea", "team": "t1"}))
        .await;
    assert_eq!(s, 201);
    let (s, v) = api
        .request(
            "PUT",
            &p(&format!("/teams/members/{ada}")),
            Some(&mc),
            Some(json!({"teamId": "t1"})),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = api
        .post(&p("/players"), None, json!({"name": "Cy", "team": "Owls"}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("TEAM_FULL")),
        "{v}"
    );
    let (s, _) = api
        .post(&p("/players"), None, json!({"name": "Cy", "team": "Foxes"}))
        .await;
    assert_eq!(s, 201);
    let (s, v) = api
        .post(&p("/players"), None, json!({"name": "Di", "team": "Bats"}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("TEAMS_FULL")));
    let (s, _) = api
        .request(
            "PATCH",
            &p("/teams/t2"),
            Some(&mc),
            Some(json!({"name": "Red Foxes"})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = api
        .post(&p("/teams/t2/merge"), Some(&mc), json!({"into": "t1"}))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("TEAM_FULL")));
    let (s, _) = api
        .request("DELETE", &p("/teams/t1"), Some(&mc), None)
        .await;
    assert_eq!(s, 204);
    let (s, v) = api
        .request("DELETE", &p("/teams/t1"), Some(&mc), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("TEAM_NOT_FOUND"))
    );
    let (_, t) = api.get(&p("/teams"), None).await;
    assert_eq!(t["teams"].as_array().unwrap().len(), 1);
    assert_eq!(t["teams"][0]["name"], "Red Foxes");
    // A player token may not run teams; the mode is fixed once play starts.
    let (_, tok) = api.join_http(&code, "Eve").await;
    let (s, _) = api
        .post(&p("/teams"), Some(&tok), json!({"name": "Mine"}))
        .await;
    assert_eq!(s, 403);
    api.post(&p("/question"), Some(&mc), json!({})).await;
    let (s, v) = api
        .request(
            "PUT",
            &p("/teams/mode"),
            Some(&mc),
            Some(json!({"teams": "mean"})),
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("WRONG_PHASE")));
}

#[actix_rt::test]
async fn teams_survive_a_kill_9_mid_night() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &[]);
    let api = child.api();
    let (code, mc, socks) = sheet_night(&api).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    api.post(&p("/question/reveal"), Some(&mc), json!({})).await;
    let (_, before) = api.get(&p("/state"), Some(&mc)).await;
    drop(socks);
    child.kill9();

    let child = Child::spawn(&db, &[]);
    let api = child.api();
    let (s, after) = api.get(&p("/state"), Some(&mc)).await;
    assert_eq!(s, 200);
    for k in ["teams", "teamLeaderboard", "settings"] {
        assert_eq!(after[k], before[k], "{k}");
    }
    assert_eq!(after["teamLeaderboard"][0]["score"], 2.0);
    assert!(after["teams"][0]["members"].is_array());
    // A newcomer picks a team that existed before the restart.
    let (mut cy2, _, _) = join(&api, &code, "Dee", "Foxes").await;
    let j = cy2.call("resync", "r", json!({})).await;
    assert_eq!(j["data"]["snapshot"]["me"]["team"]["name"], "Foxes");
    assert_eq!(
        j["data"]["snapshot"]["me"]["team"]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, t) = api.get(&p("/teams"), None).await;
    let owls = &t["teams"][0];
    assert_eq!(owls["name"], "Owls");
    assert_eq!(owls["members"].as_array().unwrap().len(), 2);
}

#[actix_rt::test]
async fn peer_marking_pairs_teams_and_any_member_marks() {
    let api = TestServer::start().await;
    let mut q = quiz("sum");
    q["rounds"][0]["questions"][0]["marking"] = json!("peer");
    let (code, mc) = api.create_session(json!({ "quiz": q })).await;
    let p = |path: &str| format!("/api/sessions/{code}{path}");
    let (mut ada, _, ada_token) = join(&api, &code, "Ada", "Owls").await;
    let (mut bea, _, _) = join(&api, &code, "Bea", "Owls").await;
    let (mut cy, _, _) = join(&api, &code, "Cy", "Foxes").await;
    api.post(&p("/question"), Some(&mc), json!({"questionId": "q1"}))
        .await;
    for (ws, a) in [(&mut ada, "Paris"), (&mut bea, "Lyon"), (&mut cy, "Paris")] {
        let ack = ws
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q1", "answer": a}),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    api.post(&p("/question/close"), Some(&mc), json!({})).await;
    let (s, v) = api
        .post(&p("/marking"), Some(&mc), json!({"enabled": true}))
        .await;
    assert_eq!(s, 204, "{v}");
    // Cy (the Foxes) marks both Owls; each Owl gets the Foxes' assignment.
    let mut cy_ids = Vec::new();
    for _ in 0..2 {
        let a = cy.expect("marking:assignment-created").await;
        cy_ids.push(a["data"]["assignmentId"].as_str().unwrap().to_string());
    }
    let owl = ada.expect("marking:assignment-created").await;
    assert_eq!(owl["data"]["items"][0]["answer"], "Paris");
    let (_, me) = api.get(&p("/state"), Some(&ada_token)).await;
    assert_eq!(me["me"]["assignments"].as_array().unwrap().len(), 1);
    // Bea marks for her team (the assignment came to both Owls).
    let id = owl["data"]["assignmentId"].as_str().unwrap();
    let ack = bea
        .call(
            "mark:submit",
            "m",
            json!({"assignmentId": id, "questionId": "q1", "score": 2}),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    for (id, score) in cy_ids.iter().zip([2, 0]) {
        let ack = cy
            .call(
                "mark:submit",
                "m",
                json!({"assignmentId": id, "questionId": "q1", "score": score}),
            )
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    api.post(&p("/marking"), Some(&mc), json!({"enabled": false}))
        .await;
    let (_, board) = api.get(&p("/leaderboard"), None).await;
    let teams: Vec<(String, f64)> = board["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["score"].as_f64().unwrap(),
            )
        })
        .collect();
    // Which Owl got the 2 depends on the draw; the team's sum does not.
    assert_eq!(teams, vec![("Owls".into(), 2.0), ("Foxes".into(), 2.0)]);
}
