//! Edges (docs/cluster.md): 3 nats-server and 3 quizcast processes on
//! loopback, one session whose MC, display and players are spread over the
//! three nodes round-robin, as behind a round-robin load balancer, with no
//! retry to find the owner. Every client sees every event meant for it once,
//! in order, with the same bytes for each seq on every node (and no event
//! meant for someone else); answers sent through edges are acked and
//! counted once, and a retry of the same message is recognised (acked
//! again, no second effect). kill -9 of the owner mid-question: the edges'
//! clients keep their sockets (a pause), the dead node's clients resume on
//! the others with `since`, answers sent during the takeover are acked once
//! the next owner has them, and the question closes at its deadline.
//! Then kill -9 of the NATS server leading the log stream (moved first to
//! the server the owner is connected to: it loses its connection and the
//! log's leader at once, and the leases bucket's leader with them),
//! with three quizcast nodes again: a question
//! opens, is answered on every node and closes at its deadline while that
//! server is down, another once it is back; every acked answer is in the
//! results once, every client's events are in order with no gap or dup,
//! and the final scores are a recount of the answers.
//! With the `failpoints` feature the owner also loses a third of its
//! relayed messages: the edges fill the gaps from the log.
//! Skipped, saying so, only when nats-server cannot be installed.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::recorder::{history, ok, Client};
use common::{Child, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SECRET: &str = "edges-test-secret";

/// A recording client joined on one node (the first answer must be
/// `joined`: every node serves the session). A fresh cluster may still be
/// settling: `UNAVAILABLE` is retried, as a client would.
async fn connect(api: &TestServer, name: &'static str, join: Value) -> Client {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ws = api.ws().await;
        ws.send(json!({"type": "join", "id": "j", "data": join}))
            .await;
        let v = ws.recv().await.expect("an answer to the join");
        if v["type"] == "joined" {
            let data = v["data"].clone();
            let seq = data["seq"].as_u64().expect("joined has a seq");
            let mut c = Client {
                name,
                join: join.clone(),
                ws: Some(ws),
                events: BTreeMap::new(),
                last_seq: seq,
                first_seq: seq,
            };
            if let Some(t) = data["token"].as_str() {
                c.join = json!({"sessionCode": join["sessionCode"], "role": "player", "token": t});
            }
            return c;
        }
        assert_eq!(v["data"]["code"], "UNAVAILABLE", "{name}: {v}");
        assert!(Instant::now() < until, "{name}: never joined: {v}");
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The node owning `code` per `/api/stats`, polled until `bound`.
async fn owner_of(apis: &[(usize, &TestServer)], code: &str, bound: Duration) -> Option<usize> {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        for (node, api) in apis {
            let (_, stats) = api.get("/api/stats", None).await;
            let owned = stats["cluster"]["sessions"].as_array().cloned();
            if owned.is_some_and(|o| o.iter().any(|c| c == code)) {
                return Some(*node);
            }
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Every player's answer to `q` in the results (with its count), by name.
async fn answers(api: &TestServer, code: &str, mc: &str, q: &str) -> BTreeMap<String, Value> {
    let (s, v) = api
        .get(&format!("/api/sessions/{code}/results"), Some(mc))
        .await;
    assert_eq!(s, 200, "{v}");
    let mut out = BTreeMap::new();
    for r in v["rows"].as_array().expect("rows") {
        if r["questionId"] == q && !r["answer"].is_null() {
            let name = r["name"].as_str().unwrap_or_default().to_string();
            assert!(
                out.insert(name.clone(), r["answer"].clone()).is_none(),
                "{name} answered {q} twice in the results: {v}"
            );
        }
    }
    out
}

/// Sends `msg` again on the client's socket (a client retrying after a
/// lost ack) and returns the answer with its id, recording events meanwhile.
async fn resend(c: &mut Client, msg: Value) -> Value {
    let id = msg["id"].clone();
    c.ws.as_mut().expect("connected").send(msg).await;
    loop {
        let f = c.ws.as_mut().unwrap().recv().await.expect("an answer");
        if f["id"] == id {
            return f;
        }
        if let Some(seq) = f["seq"].as_u64() {
            c.events.insert(seq, f);
            c.last_seq = seq;
        }
    }
}

/// Kinds the ring keeps only the latest of: a replay may skip older ones.
const COALESCED: [&str; 4] = [
    "presence:count",
    "leaderboard:updated",
    "leaderboard:full",
    "player:answer-submitted",
];

/// Every client's events are exactly its view of the log (from the node
/// given, for its own token): the same bytes, nothing for anyone else,
/// nothing missed (but superseded kinds); and for each seq, every client
/// that has it has the same bytes, whatever node it was on.
async fn same_history(api: &TestServer, code: &str, clients: &[&Client]) {
    let mut by_seq: BTreeMap<u64, (&str, &Value)> = BTreeMap::new();
    for c in clients {
        let token = c.join["token"].as_str();
        let (_, full) = history(api, code, token, 0).await;
        let coalesced = |ev: &Value| COALESCED.contains(&ev["type"].as_str().unwrap_or_default());
        for (seq, ev) in full.range(c.first_seq + 1..) {
            match c.events.get(seq) {
                Some(mine) => assert_eq!(mine, ev, "{}: seq {seq} differs from the log", c.name),
                None => assert!(coalesced(ev), "{}: seq {seq} missed: {ev}", c.name),
            }
        }
        for (seq, ev) in &c.events {
            assert!(
                full.contains_key(seq) || coalesced(ev),
                "{}: seq {seq} is not in its view of the log (meant for someone else?): {ev}",
                c.name
            );
            match by_seq.get(seq) {
                Some((who, theirs)) => {
                    assert_eq!(*theirs, ev, "seq {seq}: {who} and {} differ", c.name)
                }
                None => {
                    by_seq.insert(*seq, (c.name, ev));
                }
            }
        }
    }
}

#[actix_rt::test]
async fn clients_spread_over_every_node_see_one_history_and_survive_the_owner() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    let urls = cluster.urls();
    let args = ["--cluster", urls.as_str(), "--secret", SECRET];
    let dir = tempfile::tempdir().unwrap();
    // The owner (node 0) loses a third of its relays on the way, when the
    // build has fail points: the edges must fill the gaps from the log.
    let drops = cfg!(feature = "failpoints");
    let lossy: &[(&str, &str)] = &[("FAILPOINTS", "relay-drop=33%return")];
    let dbs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.db")))
        .collect();
    let mut nodes = Child::spawn_together(
        &(0..3)
            .map(|i| {
                let env = if i == 0 && drops { lossy } else { &[] };
                (dbs[i].as_path(), &args[..], env)
            })
            .collect::<Vec<_>>(),
    );
    let mut apis: Vec<TestServer> = nodes.iter().map(Child::api).collect();
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc_t) = apis[0].create_session(json!({"quiz": quiz})).await;
    let code = code.as_str();
    let path = |p: &str| format!("/api/sessions/{code}{p}");

    // Round-robin, no retry to find the owner (node 0): the MC on node 1,
    // the display on node 2, players on every node.
    let mut mc = connect(
        &apis[1],
        "mc",
        json!({"sessionCode": code, "role": "mc", "token": mc_t}),
    )
    .await;
    let mut display = connect(
        &apis[2],
        "display",
        json!({"sessionCode": code, "role": "display"}),
    )
    .await;
    let names = ["Ada", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy"];
    let mut players = Vec::new();
    for (i, n) in names.into_iter().enumerate() {
        let join = json!({"sessionCode": code, "role": "player", "name": n});
        players.push(connect(&apis[i % 3], n, join).await);
    }
    let node_of = |i: usize| i % 3;
    // A player created over HTTP on one node joins its socket on another.
    let (s, v) = apis[2]
        .post(&path("/players"), None, json!({"name": "Jo"}))
        .await;
    assert_eq!(s, 201, "an HTTP join through an edge: {v}");
    let jo_t = v["token"].as_str().expect("a token").to_string();
    let jo = connect(
        &apis[1],
        "Jo",
        json!({"sessionCode": code, "role": "player", "token": jo_t}),
    )
    .await;
    players.push(jo);
    // The owner counts the players on every node online (edges report
    // them), and so do the MC's presence events.
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = apis[0].get(&path("/state"), Some(&mc_t)).await;
        assert_eq!(s, 200, "{v}");
        let snap = v.get("snapshot").unwrap_or(&v);
        let online: Vec<&Value> = snap["players"]
            .as_array()
            .expect("players")
            .iter()
            .filter(|p| p["online"] == true)
            .collect();
        if online.len() == players.len() {
            break;
        }
        assert!(
            Instant::now() < until,
            "the owner sees {} online: {v}",
            online.len()
        );
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        mc.pump(Duration::from_millis(200)).await;
        let count = mc
            .events
            .values()
            .rev()
            .find(|e| e["type"] == "presence:count")
            .map(|e| e["data"]["online"].clone());
        if count == Some(json!(players.len())) {
            break;
        }
        assert!(Instant::now() < until, "the MC's count: {count:?}");
    }
    let (_, stats) = apis[1].get("/api/stats", None).await;
    assert_eq!(stats["cluster"]["edges"], 1, "node 1 is an edge: {stats}");
    assert_eq!(stats["cluster"]["sessions"], json!([]), "{stats}");

    // q1 opened through an edge (HTTP forwarded); everyone answers.
    let open = |q: &str, secs: u64| json!({"questionId": q, "timeLimitSec": secs});
    ok(&apis[2], &path("/question"), &mc_t, open("q1", 60)).await;
    let q1 = [
        "Paris", "Lyon", "Paris", "Nice", "Paris", "Lille", "Paris", "Rome", "Paris", "Oslo",
    ];
    let mut acked_q1 = BTreeMap::new();
    for (i, p) in players.iter_mut().enumerate() {
        let r = p
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q1", "answer": q1[i]}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{}: {r}", p.name);
        acked_q1.insert(p.name.to_string(), json!(q1[i]));
    }
    // The same message again (a client retrying after a lost ack) is
    // recognised: acked again with the same revision, no second effect.
    let retry = json!({"type": "answer:submit", "id": "a-0", "data": {"questionId": "q1", "answer": q1[1]}});
    let again = resend(&mut players[1], retry.clone()).await;
    assert_eq!(again["type"], "ack", "{again}");
    assert_eq!(
        again["data"]["revision"], 1,
        "recognised, not a second answer: {again}"
    );
    ok(&apis[1], &path("/question/close"), &mc_t, json!({})).await;
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(300)).await;
    }
    assert_eq!(answers(&apis[1], code, &mc_t, "q1").await, acked_q1);
    let everyone: Vec<&Client> = players.iter().chain([&mc, &display]).collect();
    for api in &apis {
        same_history(api, code, &everyone).await;
    }
    let closed = |c: &Client, q: &str| {
        c.events
            .values()
            .any(|e| e["type"] == "game:question-closed" && e["data"]["questionId"] == q)
    };
    assert!(
        everyone.iter().all(|c| closed(c, "q1")),
        "everyone saw q1 close"
    );
    if drops {
        for api in &apis[1..] {
            let (_, m) = api.get("/api/stats", None).await;
            let n = m["cluster"]["edgeCatchups"].as_u64().unwrap_or(0);
            assert!(n > 0, "relays were dropped: the edge read the log: {m}");
        }
    }

    // q2 (20 s); kill -9 the owner two seconds in.
    // (Timed from before the call: the deadline is set by the owner, and
    // the reply through an edge comes once the edge has the record.)
    let q2_opened = Instant::now();
    ok(&apis[1], &path("/question"), &mc_t, open("q2", 20)).await;
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(200)).await;
    }
    let mut acked_q2 = BTreeMap::new();
    for (i, p) in players.iter_mut().enumerate().take(3) {
        let r = p
            .call(
                "answer:submit",
                "b",
                json!({"questionId": "q2", "answer": 1}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{}: {r}", p.name);
        acked_q2.insert(names[i].to_string(), json!(1));
    }
    nodes[0].kill9();
    let killed = Instant::now();
    // Clients of the dead node resume on the others; the edges' clients
    // keep their sockets and answer during the takeover (acked once the
    // next owner has it).
    for (i, p) in players.iter_mut().enumerate() {
        if i < names.len() && node_of(i) == 0 {
            p.ws = None;
            let mut rejoin = p.join.clone();
            rejoin["since"] = json!(p.last_seq);
            let mut again = connect(&apis[1 + i % 2], p.name, rejoin).await;
            assert!(again.events.is_empty());
            p.ws = again.ws.take();
            p.pump(Duration::from_millis(200)).await;
        }
    }
    for (i, p) in players.iter_mut().enumerate().skip(3) {
        let r = p
            .call(
                "answer:submit",
                "c",
                json!({"questionId": "q2", "answer": 2}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{}: {r}", p.name);
        let name = p.name.to_string();
        acked_q2.insert(name, json!(2));
        if i == 3 {
            eprintln!(
                "first answer after kill -9 acked {:?} after it",
                killed.elapsed()
            );
        }
    }
    let live = [(1, &apis[1]), (2, &apis[2])];
    let b = owner_of(&live, code, Duration::from_secs(20))
        .await
        .expect("a surviving node owns the session");
    eprintln!(
        "node {b} owns the session {:?} after the kill",
        killed.elapsed()
    );
    let until = q2_opened + Duration::from_secs(40);
    // (Everyone is read meanwhile: a socket left unread answers no pings.)
    while !closed(&mc, "q2") {
        assert!(Instant::now() < until, "q2 never closed");
        for c in players.iter_mut().chain([&mut mc, &mut display]) {
            c.pump(Duration::from_millis(20)).await;
        }
    }
    let after = q2_opened.elapsed();
    eprintln!("q2 (20 s) closed {after:?} after it opened");
    assert!(
        after >= Duration::from_secs(19) && after <= Duration::from_secs(24),
        "q2 closed {after:?} after opening, not at its deadline"
    );
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(400)).await;
    }
    for (i, p) in players.iter().enumerate() {
        if i < names.len() && node_of(i) != 0 {
            assert!(
                p.ws.as_ref().is_some_and(|w| w.closed.is_none()),
                "{}: an edge's client keeps its socket through the takeover",
                p.name
            );
        }
    }
    for c in [&mc, &display] {
        let closed = c.ws.as_ref().map(|w| w.closed);
        assert_eq!(closed, Some(None), "{}: keeps its socket", c.name);
    }
    // Bob's q1 answer once more, now that q1 is closed and the owner that
    // acked it is dead: the next owner knows its id from the log.
    let again = resend(&mut players[1], retry).await;
    assert_eq!(
        again["type"], "ack",
        "recognised after the takeover: {again}"
    );
    assert_eq!(again["data"]["revision"], 1, "{again}");
    assert_eq!(answers(&apis[b], code, &mc_t, "q2").await, acked_q2);
    assert_eq!(answers(&apis[b], code, &mc_t, "q1").await, acked_q1);
    let everyone: Vec<&Client> = players.iter().chain([&mc, &display]).collect();
    assert!(
        everyone.iter().all(|c| closed(c, "q2")),
        "everyone saw q2 close"
    );
    for api in [&apis[1], &apis[2]] {
        same_history(api, code, &everyone).await;
    }
    let (_, m) = apis[3 - b].get("/api/stats", None).await;
    assert!(m["cluster"]["forwards"].as_u64() > Some(0), "{m}");
    assert_eq!(m["cluster"]["natsConnected"], true, "{m}");

    // kill -9 of the NATS server leading the log stream, with three
    // quizcast nodes. Node 0 comes back (an edge: node b owns the session
    // now) and its players go back to it: players on every node, the MC on
    // node 1, the display on node 2.
    nodes[0] = Child::spawn(&dir.path().join("n0.db"), &args);
    apis[0] = nodes[0].api();
    for (i, p) in players.iter_mut().enumerate() {
        if i < names.len() && node_of(i) == 0 {
            p.ws = None;
            let mut rejoin = p.join.clone();
            rejoin["since"] = json!(p.last_seq);
            let mut again = connect(&apis[0], p.name, rejoin).await;
            assert!(again.events.is_empty());
            p.ws = again.ws.take();
        }
    }
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(200)).await;
    }
    // The stream leader is the server the owner is connected to, so the
    // owner loses its connection and the log's leader at once. (Each node
    // picks one of the URLs it is given.) The leases bucket's leader is
    // put there too, the worst case: its election (4-9 s) can outlast the
    // 5 s lease, another node may take the session over and the old owner
    // steps down; it serves on as an edge, so its clients keep their
    // sockets and every check below still holds.
    let on: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| cluster.servers_of(n.proc.id()))
        .collect();
    let server = |i: usize| cluster.nodes[i].name.clone();
    for (k, s) in on.iter().enumerate() {
        let s: Vec<String> = s.iter().map(|&i| server(i)).collect();
        eprintln!("quizcast node {k} is connected to NATS {s:?}");
    }
    let url_list = cluster.url_list();
    let leases = format!("KV_{}", quizcast::journal::nats::LEASES_BUCKET);
    if let Some(&s) = on[b].first() {
        let log = quizcast::journal::nats::STREAM;
        let moved = cluster::move_leader(&url_list, log, &server(s)).await;
        eprintln!(
            "log stream leader moved to {} (the owner's): {moved}",
            server(s)
        );
        if cluster::leader_of(&url_list, &leases).await != server(s) {
            let moved = cluster::move_leader(&url_list, &leases, &server(s)).await;
            eprintln!("leases bucket leader moved to it too: {moved}");
        }
    }
    let leader = cluster::stream_leader(&url_list).await;
    let victim = cluster.index_of(&leader).expect("the leader is ours");
    let cut: Vec<usize> = (0..3).filter(|k| on[*k].contains(&victim)).collect();
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(100)).await;
    }
    cluster.kill9(victim);
    let killed = Instant::now();
    eprintln!(
        "NATS {leader} (leads the log stream) killed; quizcast nodes {cut:?} were \
         connected to it; node {b} owns the session"
    );
    // While it is down: q2 revealed, q3 opened (through edges), answered
    // on every node, closed by its timer.
    ok(&apis[0], &path("/question/reveal"), &mc_t, json!({})).await;
    let paused = killed.elapsed();
    ok(&apis[2], &path("/question"), &mc_t, open("q3", 5)).await;
    let q3_open = killed.elapsed();
    let q3 = |i: usize| if i % 2 == 0 { 1969 } else { 1970 };
    let mut acked_q3 = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for (i, p) in players.iter_mut().enumerate() {
        let sent = Instant::now();
        let r = p
            .call(
                "answer:submit",
                "d",
                json!({"questionId": "q3", "answer": q3(i)}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{}: {r}", p.name);
        slowest = slowest.max(sent.elapsed());
        acked_q3.insert(p.name.to_string(), json!(q3(i) as f64));
    }
    eprintln!(
        "play paused {paused:?} (kill -9 to the first command acked: the reveal); \
         q3 opened {q3_open:?} after the kill; slowest of 10 answers acked in {slowest:?}"
    );
    let mut all: Vec<&mut Client> = players.iter_mut().chain([&mut mc, &mut display]).collect();
    let late = closed_by_timer(&mut all, "q3").await;
    eprintln!("q3 closed {late} ms after its deadline, NATS {leader} still down");
    ok(&apis[1], &path("/question/reveal"), &mc_t, json!({})).await;

    // It comes back and catches up (everyone read meanwhile); q4 opens,
    // is answered on every node, closes by its timer; the MC marks it.
    cluster.respawn(victim);
    let until = Instant::now() + Duration::from_secs(60);
    while !cluster.healthy(victim) {
        assert!(Instant::now() < until, "NATS {leader} never came back");
        for c in all.iter_mut() {
            c.pump(Duration::from_millis(20)).await;
        }
    }
    eprintln!("NATS {leader} back {:?} after the kill", killed.elapsed());
    drop(all);
    ok(&apis[0], &path("/question"), &mc_t, open("q4", 5)).await;
    let q4 = |i: usize| if i % 3 == 0 { "door hinge" } else { "sporange" };
    let mut acked_q4 = BTreeMap::new();
    for (i, p) in players.iter_mut().enumerate() {
        let r = p
            .call(
                "answer:submit",
                "e",
                json!({"questionId": "q4", "answer": q4(i)}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{}: {r}", p.name);
        acked_q4.insert(p.name.to_string(), json!(q4(i)));
    }
    let mut all: Vec<&mut Client> = players.iter_mut().chain([&mut mc, &mut display]).collect();
    let late = closed_by_timer(&mut all, "q4").await;
    eprintln!("q4 closed {late} ms after its deadline, NATS {leader} back");
    drop(all);
    let (_, v) = apis[b].get(&path("/results"), Some(&mc_t)).await;
    let ids: BTreeMap<String, String> = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["playerId"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut marked = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        if q4(i) == "door hinge" {
            let score = json!({"playerId": ids[*n], "questionId": "q4", "score": 1});
            ok(&apis[2], &path("/scores"), &mc_t, score).await;
            marked.insert(n.to_string(), 1.0);
        }
    }
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(300)).await;
    }

    // Every acked answer is in the results once, on every node; every
    // client's events are its view of the log, in order, no gap, no dup
    // (the recorder fails on a dup or a seq going back); everyone kept
    // their socket; the final scores are a recount of the answers.
    for api in &apis {
        assert_eq!(answers(api, code, &mc_t, "q1").await, acked_q1);
        assert_eq!(answers(api, code, &mc_t, "q2").await, acked_q2);
        assert_eq!(answers(api, code, &mc_t, "q3").await, acked_q3);
        assert_eq!(answers(api, code, &mc_t, "q4").await, acked_q4);
    }
    let everyone: Vec<&Client> = players.iter().chain([&mc, &display]).collect();
    for api in &apis {
        same_history(api, code, &everyone).await;
    }
    for c in &everyone {
        let open = c.ws.as_ref().map(|w| w.closed);
        assert_eq!(open, Some(None), "{}: keeps its socket", c.name);
    }
    let all3: Vec<(usize, &TestServer)> = apis.iter().enumerate().collect();
    let owner = owner_of(&all3, code, Duration::from_secs(10)).await;
    eprintln!("node {owner:?} owns the session after the NATS kill (node {b} before)");
    for api in &apis {
        recount(api, code, &mc_t, &marked).await;
        let (_, m) = api.get("/api/stats", None).await;
        assert_eq!(m["cluster"]["natsConnected"], true, "{m}");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Reads every client until all of them saw question `q` close; it must
/// close by its timer, at the deadline its opening announced (from 0.5 s
/// before, clocks being the same machine's, to 4 s after). How late, in ms.
async fn closed_by_timer(clients: &mut [&mut Client], q: &str) -> i64 {
    let find = |c: &Client, kind: &str| {
        c.events
            .values()
            .find(|e| e["type"] == kind && e["data"]["questionId"] == q)
            .cloned()
    };
    let opened = find(clients[0], "game:question-opened").expect("q opened");
    let deadline = opened["data"]["deadline"].as_i64().expect("a deadline");
    let until = Instant::now() + Duration::from_secs(60);
    let mut late = None;
    loop {
        for c in clients.iter_mut() {
            c.pump(Duration::from_millis(5)).await;
        }
        let seen = clients
            .iter()
            .filter(|c| find(c, "game:question-closed").is_some())
            .count();
        if seen > 0 && late.is_none() {
            late = Some(now_ms() - deadline);
        }
        if seen == clients.len() {
            break;
        }
        assert!(Instant::now() < until, "{q} never closed for everyone");
    }
    for c in clients.iter() {
        let closed = find(c, "game:question-closed").expect("closed");
        assert_eq!(closed["data"]["reason"], "timer", "{}: {closed}", c.name);
    }
    let late = late.expect("closed");
    assert!(
        (-500..=4000).contains(&late),
        "{q} closed {late} ms after its deadline"
    );
    late
}

/// The final scores (results and leaderboard) are a recount of the
/// answers in the results: q1 closed unrevealed (no award), q2 and q3
/// revealed (auto-marked with the quiz's key: Jupiter, 2 points; 1969,
/// 1 point), q4 marked by the MC (`marked`: name -> score).
async fn recount(api: &TestServer, code: &str, mc: &str, marked: &BTreeMap<String, f64>) {
    let (s, v) = api
        .get(&format!("/api/sessions/{code}/results"), Some(mc))
        .await;
    assert_eq!(s, 200, "{v}");
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for r in v["rows"].as_array().expect("rows") {
        let name = r["name"].as_str().expect("name").to_string();
        let a = &r["answer"];
        let award = match r["questionId"].as_str().expect("questionId") {
            "q2" => Some(if a.as_u64() == Some(1) { 2.0 } else { 0.0 }),
            "q3" => Some(if a.as_f64() == Some(1969.0) { 1.0 } else { 0.0 }),
            "q4" => marked.get(&name).copied(),
            _ => None,
        };
        assert_eq!(r["score"].as_f64(), award, "{name}: {r}");
        *totals.entry(name).or_default() += award.unwrap_or(0.0);
    }
    for r in v["rows"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        assert_eq!(r["total"].as_f64(), Some(totals[name]), "{name}: {r}");
    }
    let (s, board) = api
        .get(&format!("/api/sessions/{code}/leaderboard"), None)
        .await;
    assert_eq!(s, 200, "{board}");
    let entries = board["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), totals.len(), "{board}");
    for e in entries {
        let name = e["name"].as_str().expect("name");
        assert_eq!(e["score"].as_f64(), Some(totals[name]), "{name}: {board}");
    }
    eprintln!("final scores, recounted from the answers: {totals:?}");
}
