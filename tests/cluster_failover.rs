//! Several quizcast nodes on one NATS JetStream cluster (3 nats-server and
//! 3 quizcast processes on loopback, every one started and stopped by PID):
//! a session is owned by one node through its lease; the others serve it
//! as edges (clients join through any node, as behind a round-robin load
//! balancer; tests/cluster_edges.rs covers edges themselves). kill -9 the owner
//! mid-question: another node takes over within the bound, the question
//! still closes at its deadline, every acked answer is in the results
//! once, resumed clients get every event once with the same bytes. SIGSTOP
//! the new owner past its lease, then SIGCONT: a third node has taken over
//! and the paused one writes nothing (the log's epochs never go back); it
//! serves on as an edge, its client keeping its socket.
//! SIGTERM the owner: it gives its lease up and the last node takes over at
//! once.
//! Skipped, saying so, only when nats-server cannot be installed.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::recorder::{history, ok, Client};
use common::{Child, TestServer, Ws};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SECRET: &str = "failover-test-secret";
/// What the issue asks: a dead owner's sessions are taken over within 10 s
/// (default `--lease-ms` 5000).
const TAKEOVER_BOUND: Duration = Duration::from_secs(10);

/// Joins through the nodes in round-robin order from `start`, as a client
/// behind a round-robin load balancer does: every node serves the session,
/// but while nobody owns it (a takeover) a join by name is answered
/// `UNAVAILABLE` and closed with 1001; the next node is tried.
/// Returns the node it landed on, the socket and the `joined` data.
async fn join_any(apis: &[(usize, &TestServer)], start: usize, data: &Value) -> (usize, Ws, Value) {
    let until = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        let (node, api) = apis[(start + attempt) % apis.len()];
        let mut ws = api.ws().await;
        ws.send(json!({"type": "join", "id": "j", "data": data}))
            .await;
        match ws.recv().await {
            Some(v) if v["type"] == "joined" => return (node, ws, v["data"].clone()),
            Some(v) => {
                assert_eq!(v["data"]["code"], "UNAVAILABLE", "node {node}: {v}");
            }
            None => {}
        }
        assert!(Instant::now() < until, "no node took the join of {data}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// A recording client joined on whichever node owns the session.
async fn connect_any(
    apis: &[(usize, &TestServer)],
    start: usize,
    name: &'static str,
    join: Value,
) -> Client {
    let (_, ws, joined) = join_any(apis, start, &join).await;
    let seq = joined["seq"].as_u64().expect("joined has a seq");
    let mut c = Client {
        name,
        join,
        ws: Some(ws),
        events: BTreeMap::new(),
        last_seq: seq,
        first_seq: seq,
    };
    if let Some(t) = joined["token"].as_str() {
        c.join = json!({"sessionCode": c.join["sessionCode"], "role": "player", "token": t});
    }
    c
}

/// Rejoins with `since` through the nodes (round-robin) and records the
/// replay; a forced resync fails the test.
async fn resume_any(c: &mut Client, apis: &[(usize, &TestServer)], start: usize) {
    let mut join = c.join.clone();
    join["since"] = json!(c.last_seq);
    let (_, ws, data) = join_any(apis, start, &join).await;
    assert!(
        data.get("resync").is_none(),
        "{}: forced resync: {data}",
        c.name
    );
    c.ws = Some(ws);
    c.pump(Duration::from_millis(300)).await;
}

/// The node owning the session (its `/api/stats` lists it, and its state
/// answers 200), polled until `bound`; None if none did.
async fn owner(
    apis: &[(usize, &TestServer)],
    code: &str,
    mc: &str,
    bound: Duration,
) -> Option<usize> {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        for (node, api) in apis {
            if owns(api, code).await {
                let (s, _) = api
                    .get(&format!("/api/sessions/{code}/state"), Some(mc))
                    .await;
                if s == 200 {
                    return Some(*node);
                }
            }
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Whether the node holds the session's lease.
async fn owns(api: &TestServer, code: &str) -> bool {
    let (_, stats) = api.get("/api/stats", None).await;
    stats["cluster"]["sessions"]
        .as_array()
        .is_some_and(|o| o.iter().any(|c| c == code))
}

/// Waits (recording) for the MC to see question `q` close; how long after
/// `opened` that was, and the reason.
async fn closed_at(mc: &mut Client, q: &str, opened: Instant) -> (Duration, Value) {
    let until = opened + Duration::from_secs(60);
    loop {
        let hit = mc
            .events
            .values()
            .find(|e| e["type"] == "game:question-closed" && e["data"]["questionId"] == q);
        if let Some(e) = hit {
            return (opened.elapsed(), e["data"]["reason"].clone());
        }
        assert!(Instant::now() < until, "{q} never closed");
        mc.pump(Duration::from_millis(100)).await;
    }
}

/// Every player's answer to `q` in the results, by name.
async fn answers(api: &TestServer, code: &str, mc: &str, q: &str) -> BTreeMap<String, Value> {
    let (s, v) = api
        .get(&format!("/api/sessions/{code}/results"), Some(mc))
        .await;
    assert_eq!(s, 200, "{v}");
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["questionId"] == q && !r["answer"].is_null())
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["answer"].clone(),
            )
        })
        .collect()
}

/// Events a replay skips once a newer one of the same kind exists (the
/// ring's coalescing): a client that got one live has one the replay lacks.
const COALESCED: [&str; 4] = [
    "presence:count",
    "leaderboard:updated",
    "leaderboard:full",
    "player:answer-submitted",
];

/// Every client's recording matches what the owner replays for it from
/// where it joined: every event both have has the same bytes (no forked
/// history), and any event only one side has is one that a newer event of
/// its kind supersedes (a ring that saw both skips the older on replay; a
/// ring refilled from the log after a takeover does not know). Seqs never
/// doubled (the recorder checks).
async fn same_history(api: &TestServer, code: &str, clients: &[&Client]) {
    for c in clients {
        let token = c.join["token"].as_str();
        let (_, full) = history(api, code, token, 0).await;
        let coalesced = |ev: &Value| COALESCED.contains(&ev["type"].as_str().unwrap_or_default());
        for (seq, ev) in full.range(c.first_seq + 1..) {
            match c.events.get(seq) {
                Some(mine) => assert_eq!(mine, ev, "{}: seq {seq} forked", c.name),
                None => assert!(coalesced(ev), "{}: seq {seq} missed: {ev}", c.name),
            }
        }
        for (seq, ev) in &c.events {
            assert!(
                full.contains_key(seq) || coalesced(ev),
                "{}: seq {seq} is not in the log's history: {ev}",
                c.name
            );
        }
    }
}

/// The (epoch, first pos, last pos) of every message of the session in the
/// log stream, in stream order.
async fn logged_messages(urls: &[String], code: &str) -> Vec<(u64, u64, u64)> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    use futures_util::StreamExt;
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(quizcast::journal::nats::STREAM)
        .await
        .expect("the log stream");
    let subject = format!("{}{code}", quizcast::journal::nats::SUBJECT_PREFIX);
    let last = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the session's last message")
        .sequence;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: subject,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("a reader");
    let mut msgs = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), msgs.next())
            .await
            .expect("a message within 10 s")
            .expect("a message")
            .expect("a message");
        let h = m.headers.as_ref().expect("headers");
        let epoch: u64 = h
            .get("Quizcast-Epoch")
            .expect("epoch")
            .as_str()
            .parse()
            .unwrap();
        let pos = h.get("Quizcast-Pos").expect("pos").as_str().to_string();
        let (a, b) = pos.split_once('-').expect("first-last");
        out.push((epoch, a.parse().unwrap(), b.parse().unwrap()));
        if m.info().expect("info").stream_sequence >= last {
            return out;
        }
    }
}

fn signal(child: &Child, sig: i32) {
    let pid = child.proc.id() as i32;
    // SAFETY: kill(2) on the PID of a child this test started.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig})");
}

#[actix_rt::test]
async fn a_dead_or_paused_owner_is_taken_over_and_history_never_forks() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let urls = cluster.urls();
    let args = ["--cluster", urls.as_str(), "--secret", SECRET];
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.db")))
        .collect();
    let mut nodes = Child::spawn_together(
        &dbs.iter()
            .map(|db| (db.as_path(), &args[..], &[][..]))
            .collect::<Vec<_>>(),
    );
    let apis: Vec<TestServer> = nodes.iter().map(Child::api).collect();
    let all: Vec<(usize, &TestServer)> = apis.iter().enumerate().collect();
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc_t) = apis[0].create_session(json!({"quiz": quiz})).await;
    let code = code.as_str();
    let path = |p: &str| format!("/api/sessions/{code}{p}");

    // Node 0 created the session and owns it; the others serve it too (as
    // edges).
    assert!(owns(&apis[0], code).await, "the creator owns the session");
    let (s, v) = apis[1].get(&path("/state"), Some(&mc_t)).await;
    assert_eq!(s, 200, "an edge serves the state: {v}");
    let (s, v) = apis[1].get("/api/sessions/ZZZZZ", None).await;
    assert_eq!(s, 404, "a code the cluster does not hold is not found: {v}");
    let (s, v) = apis[2].get(&path(""), None).await;
    assert_eq!(s, 200, "an edge serves the summary: {v}");

    // Everyone joins through the load balancer (starting at any node).
    let mc_join = json!({"sessionCode": code, "role": "mc", "token": mc_t});
    let mut mc = connect_any(&all, 1, "mc", mc_join).await;
    let mut display = connect_any(
        &all,
        2,
        "display",
        json!({"sessionCode": code, "role": "display"}),
    )
    .await;
    let names = ["Ada", "Bob", "Cy", "Di", "Ed", "Flo"];
    let mut players = Vec::new();
    for (i, n) in names.into_iter().enumerate() {
        let join = json!({"sessionCode": code, "role": "player", "name": n});
        players.push(connect_any(&all, i, n, join).await);
    }

    // Every node's snapshot counts every node's players online (an edge
    // has the owner's list and the relayed changes), and flags each one.
    for (node, api) in &all {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let (s, v) = api.get(&path("/state"), Some(&mc_t)).await;
            assert_eq!(s, 200, "{v}");
            let snap = &v;
            let flagged = snap["players"]
                .as_array()
                .map_or(0, |ps| ps.iter().filter(|p| p["online"] == true).count());
            if snap["online"] == names.len() && flagged == names.len() {
                break;
            }
            assert!(
                Instant::now() < until,
                "node {node}'s snapshot does not see every node's players online: {snap}"
            );
            actix_rt::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let (_, stats) = apis[1].get("/api/stats", None).await;
    assert!(
        stats["cluster"]["relays"].as_u64() > Some(0),
        "an edge measures its relay lag: {stats}"
    );

    // q1 for 30 s; four answers acked on node 0, then kill -9 node 0.
    let open = |q: &str, secs: u64| json!({"questionId": q, "timeLimitSec": secs});
    ok(&apis[0], &path("/question"), &mc_t, open("q1", 30)).await;
    let q1_opened = Instant::now();
    let mut acked_q1: BTreeMap<String, Value> = BTreeMap::new();
    let q1_answers = ["Paris", "Lyon", "Nice", "Paris", "Lille", "Paris"];
    for (i, p) in players.iter_mut().enumerate().take(4) {
        let r = p
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q1", "answer": q1_answers[i]}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
        acked_q1.insert(names[i].to_string(), json!(q1_answers[i]));
    }
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(200)).await;
    }
    nodes[0].kill9();
    let killed = Instant::now();
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.ws = None;
    }
    let live: Vec<(usize, &TestServer)> = vec![(1, &apis[1]), (2, &apis[2])];
    let b = owner(&live, code, &mc_t, Duration::from_secs(30))
        .await
        .expect("a surviving node takes the session over");
    let took = killed.elapsed();
    eprintln!("kill -9 of the owner: node {b} took the session over in {took:?}");
    assert!(took < TAKEOVER_BOUND, "takeover took {took:?}");

    // Everyone resumes with `since` through the load balancer (Ada on the
    // new owner: the next step pauses it under her); the rest answer; the
    // question closes at its deadline, on the new owner.
    resume_any(&mut players[0], &[(b, &apis[b])], 0).await;
    for (i, c) in players
        .iter_mut()
        .skip(1)
        .chain([&mut mc, &mut display])
        .enumerate()
    {
        resume_any(c, &live, i).await;
    }
    for (i, p) in players.iter_mut().enumerate().skip(4) {
        let r = p
            .call(
                "answer:submit",
                "b",
                json!({"questionId": "q1", "answer": q1_answers[i]}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
        acked_q1.insert(names[i].to_string(), json!(q1_answers[i]));
    }
    let (after, reason) = closed_at(&mut mc, "q1", q1_opened).await;
    eprintln!("q1 (30 s) closed {after:?} after it opened ({reason})");
    assert_eq!(reason, "timer");
    assert!(
        after >= Duration::from_secs(29) && after <= Duration::from_secs(34),
        "q1 closed {after:?} after opening, not at its deadline"
    );
    let b_api = &apis[b];
    assert_eq!(
        answers(b_api, code, &mc_t, "q1").await,
        acked_q1,
        "every acked answer, once"
    );
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(200)).await;
    }
    let everyone: Vec<&Client> = players.iter().chain([&mc, &display]).collect();
    same_history(b_api, code, &everyone).await;

    // q2 on node b; SIGSTOP it past its lease, with an answer sent to it
    // while it is stopped (it reads it when it wakes).
    ok(b_api, &path("/question"), &mc_t, open("q2", 30)).await;
    let q2_opened = Instant::now();
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(200)).await;
    }
    signal(&nodes[b], libc::SIGSTOP);
    let stopped = Instant::now();
    let mut paused = players[0].ws.take().expect("Ada is on node b");
    paused
        .send(json!({"type": "answer:submit", "id": "late", "data": {"questionId": "q2", "answer": 2}}))
        .await;
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.ws = None;
    }
    let c_node = 3 - b;
    let third: Vec<(usize, &TestServer)> = vec![(c_node, &apis[c_node])];
    let got = owner(&third, code, &mc_t, Duration::from_secs(30)).await;
    let took = stopped.elapsed();
    assert_eq!(
        got,
        Some(c_node),
        "node {c_node} takes over from the paused node"
    );
    eprintln!("SIGSTOP of the owner: node {c_node} took the session over in {took:?}");
    assert!(took < TAKEOVER_BOUND, "takeover took {took:?}");
    for (i, c) in players
        .iter_mut()
        .skip(1)
        .chain([&mut mc, &mut display])
        .enumerate()
    {
        resume_any(c, &third, i).await;
    }
    let mut acked_q2: BTreeMap<String, Value> = BTreeMap::new();
    for (i, p) in players.iter_mut().enumerate().skip(1).take(3) {
        let r = p
            .call(
                "answer:submit",
                "c",
                json!({"questionId": "q2", "answer": 1}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
        acked_q2.insert(names[i].to_string(), json!(1));
    }

    // SIGCONT: the paused node reads Ada's answer but writes nothing of its
    // own: it steps down and serves on as an edge. Ada keeps her socket and
    // gets the new owner's history after the last seq she saw (no fork, no
    // gap); her answer is either refused (UNAVAILABLE: the paused node had
    // decided it, the log refused it) or forwarded to the new owner and
    // acked; then it counts, once.
    signal(&nodes[b], libc::SIGCONT);
    players[0].ws = Some(paused);
    let until = Instant::now() + Duration::from_secs(15);
    let mut late: Option<Value> = None;
    while late.is_none() && Instant::now() < until {
        let ws = players[0].ws.as_mut().expect("Ada's socket");
        let Some(f) = ws
            .recv_within(until.saturating_duration_since(Instant::now()))
            .await
        else {
            break;
        };
        if let Some(reply) = players[0].record(f) {
            if reply["id"] == "late" {
                late = Some(reply);
            }
        }
    }
    let late = late.expect("the paused node answers Ada's answer once it wakes");
    match late["type"].as_str() {
        Some("ack") => {
            acked_q2.insert("Ada".into(), json!(2));
        }
        _ => assert_eq!(late["data"]["code"], "UNAVAILABLE", "{late}"),
    }
    eprintln!("the paused node's answer to Ada's answer sent while it was stopped: {late}");
    let until = Instant::now() + Duration::from_secs(10);
    while owns(&apis[b], code).await {
        assert!(Instant::now() < until, "the old owner still owns it");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Ada answers again on the same socket: the old owner, an edge now,
    // forwards it to the new owner.
    let r = players[0]
        .call(
            "answer:submit",
            "d",
            json!({"questionId": "q2", "answer": 0}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    assert!(
        players[0].ws.as_ref().is_some_and(|w| w.closed.is_none()),
        "the node that stepped down closed Ada's socket"
    );
    acked_q2.insert("Ada".into(), json!(0));
    let (after, reason) = closed_at(&mut mc, "q2", q2_opened).await;
    eprintln!("q2 (30 s) closed {after:?} after it opened ({reason})");
    assert_eq!(reason, "timer");
    assert!(
        after >= Duration::from_secs(29) && after <= Duration::from_secs(34),
        "q2 closed {after:?} after opening, not at its deadline"
    );
    let c_api = &apis[c_node];
    assert_eq!(
        answers(c_api, code, &mc_t, "q2").await,
        acked_q2,
        "every acked answer, once"
    );
    assert_eq!(answers(c_api, code, &mc_t, "q1").await, acked_q1);
    for c in players.iter_mut().chain([&mut mc, &mut display]) {
        c.pump(Duration::from_millis(300)).await;
    }
    let everyone: Vec<&Client> = players.iter().chain([&mc, &display]).collect();
    same_history(c_api, code, &everyone).await;

    // The log itself: positions contiguous, epochs never going back (one
    // per owner: 1 the creator, then each takeover's), so nothing of an
    // old owner landed after a newer one's ownership record.
    let msgs = logged_messages(&cluster.url_list(), code).await;
    let mut epochs: Vec<u64> = Vec::new();
    for w in msgs.windows(2) {
        let ((e0, _, last), (e1, first, _)) = (w[0], w[1]);
        assert_eq!(first, last + 1, "a gap or overlap in the log: {msgs:?}");
        assert!(e1 >= e0, "an older epoch after a newer one: {msgs:?}");
    }
    for (e, _, _) in &msgs {
        if epochs.last() != Some(e) {
            epochs.push(*e);
        }
    }
    assert_eq!(epochs.len(), 3, "one epoch per owner: {msgs:?}");
    assert_eq!(epochs[0], 1, "the creator's: {msgs:?}");
    let (_, stats) = c_api.get("/api/stats", None).await;
    assert_eq!(stats["cluster"]["sessions"], json!([code]), "{stats}");
    assert!(stats["cluster"]["takeovers"].as_u64() >= Some(1), "{stats}");
    let (_, stats) = apis[b].get("/api/stats", None).await;
    assert_eq!(stats["cluster"]["leasesLost"], 1, "{stats}");

    // A clean stop (SIGTERM) gives the lease up: the other node takes the
    // session over at its next sweep, without waiting out the lease.
    let (seq, events_c) = history(c_api, code, Some(&mc_t), 0).await;
    assert!(
        nodes[c_node].term().success(),
        "node {c_node} stops cleanly"
    );
    let stopped = Instant::now();
    let b_only: Vec<(usize, &TestServer)> = vec![(b, &apis[b])];
    let got = owner(&b_only, code, &mc_t, Duration::from_secs(10)).await;
    let took = stopped.elapsed();
    eprintln!("SIGTERM of the owner: node {b} took the session over in {took:?}");
    assert_eq!(got, Some(b));
    assert!(
        took < Duration::from_secs(4),
        "a released lease is taken at once, not after {took:?}"
    );
    // The same history; the next owner may add presence (it holds sockets
    // and polls it served as an edge, which the old owner was not told of:
    // docs/cluster.md, what is left).
    let (seq_b, events_b) = history(&apis[b], code, Some(&mc_t), 0).await;
    assert!(seq_b >= seq, "{seq_b} < {seq}");
    for (s, e) in &events_c {
        assert_eq!(
            events_b.get(s),
            Some(e),
            "seq {s} differs on the next owner"
        );
    }
    for (s, e) in events_b.range(seq + 1..) {
        let kind = e["type"].as_str().unwrap_or_default();
        assert!(
            kind.starts_with("presence:"),
            "seq {s} after the takeover: {e}"
        );
    }
    assert!(nodes[b].term().success(), "node {b} stops cleanly");
}
