//! The session log on a real 3-node NATS JetStream cluster (loopback):
//! the fence (a stale position or another epoch is refused, by this writer
//! and by JetStream itself for a second writer), read-back, snapshots; and
//! a quiz night on a quizcast node started with `--cluster` that survives
//! kill -9 of the node and of the NATS server leading the log stream.
//! Skipped, saying so, only when nats-server cannot be installed.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::recorder::{crash_and_resume, history, ok, player_id, Client};
use common::Child;
use quizcast::game::events::ChatFrom;
use quizcast::game::state::Settings;
use quizcast::game::{Audience, Fact, Role};
use quizcast::journal::nats::{ClusterOptions, LoadOptions, NatsLog};
use quizcast::journal::{
    Append, AppendFailure, Committed, LoggedEvent, Record, SessionHeader, SessionLog,
};
use quizcast::metrics::Metrics;
use serde_json::{json, Value};
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn header(code: &str) -> SessionHeader {
    SessionHeader {
        code: code.into(),
        nonce: "n".into(),
        title: "T".into(),
        settings: Default::default(),
        created_ms: 1,
    }
}

/// An append of one record with one chat fact, reporting to `tx`.
fn append(code: &str, epoch: u64, expected: u64, tx: &mpsc::Sender<Committed>) -> Append {
    let tx = tx.clone();
    let facts = vec![Fact::ChatSent {
        from: ChatFrom {
            player_id: None,
            name: "MC".into(),
            role: Role::Mc,
        },
        text: format!("record {}", expected + 1),
    }];
    Append {
        code: code.into(),
        epoch,
        expected,
        generation: 0,
        records: vec![Record {
            pos: expected + 1,
            facts,
            events: vec![LoggedEvent {
                seq: expected + 1,
                audience: Audience::All,
                frame: format!("{{\"seq\":{}}}", expected + 1).into(),
            }],
        }],
        notify: Box::new(move |c| {
            let _ = tx.send(c);
        }),
    }
}

fn open(c: &NatsCluster, ring: usize) -> (NatsLog, Vec<quizcast::journal::StoredSession>) {
    NatsLog::open(
        &ClusterOptions {
            urls: c.url_list(),
            replicas: 3,
        },
        &LoadOptions {
            ring_events: ring,
            retention_ms: 3_600_000,
            ..Default::default()
        },
        Arc::new(Metrics::default()),
    )
    .expect("open the cluster log")
}

/// The next answer, within a bound.
fn next(rx: &mpsc::Receiver<Committed>) -> (u64, Result<(), AppendFailure>) {
    let c = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("an answer from the log");
    (c.upto, c.result)
}

/// A read, retried while a fresh cluster (on a slow machine) still times out.
fn settled<T, E: std::fmt::Display>(mut read: impl FnMut() -> Result<T, E>) -> T {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match read() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() < until => {
                eprintln!("read refused ({e}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("read never succeeded: {e}"),
        }
    }
}

#[test]
fn appends_are_fenced_by_position_and_epoch_and_read_back() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let (log, stored) = open(&cluster, 10);
    assert!(stored.is_empty());
    // A fresh cluster may still be electing its buckets' leaders: a
    // create refused as unavailable is retried, as a client would.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (done, created) = tokio::sync::oneshot::channel();
        log.create(header("ABCDE"), done).unwrap();
        log.flush();
        match created.blocking_recv().unwrap() {
            Ok(()) => break,
            Err(e) if std::time::Instant::now() < until => {
                eprintln!("create refused ({e}); retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("create never succeeded: {e}"),
        }
    }
    // Chat needs chat on: a settings fact first, as record 1.
    let (tx, rx) = mpsc::channel();
    let mut first = append("ABCDE", 1, 0, &tx);
    first.records[0].facts = vec![Fact::SettingsChanged {
        settings: Settings {
            chat: true,
            ..Default::default()
        },
    }];
    log.append(first).unwrap();
    log.append(append("ABCDE", 1, 1, &tx)).unwrap();
    // A second writer at a stale position, and one of another epoch.
    log.append(append("ABCDE", 1, 1, &tx)).unwrap();
    log.append(append("ABCDE", 2, 2, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (1, Ok(())));
    assert_eq!(next(&rx), (2, Ok(())));
    let stale = AppendFailure::Fenced {
        stored: 2,
        epoch: 1,
    };
    assert_eq!(next(&rx), (2, Err(stale.clone())));
    assert_eq!(next(&rx), (3, Err(stale)));
    assert_eq!(settled(|| log.live_sessions()), vec!["ABCDE".to_string()]);
    let s = settled(|| log.read_session("ABCDE", 10)).unwrap();
    assert_eq!((s.pos, s.seq, s.epoch, s.events.len()), (2, 2, 1, 2));
    assert!(s.state.settings.chat);
    assert_eq!(s.events[1].frame, "{\"seq\":2}");
    let after = settled(|| log.events_after("ABCDE", 1, 10));
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);

    // A second writer (another node, say) that read the session at 2 while
    // this one moved on to 3: JetStream itself refuses its publish.
    let (other, stored) = open(&cluster, 10);
    assert_eq!((stored.len(), stored[0].pos), (1, 2));
    log.append(append("ABCDE", 1, 2, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (3, Ok(())));
    other.append(append("ABCDE", 1, 2, &tx)).unwrap();
    other.flush();
    assert_eq!(
        next(&rx),
        (
            3,
            Err(AppendFailure::Fenced {
                stored: 3,
                epoch: 1
            })
        )
    );
    other.close();

    // A snapshot replaces the facts it covers; the state reads the same.
    let s = settled(|| log.read_session("ABCDE", 10)).unwrap();
    log.snapshot(
        "ABCDE",
        3,
        3,
        s.state.format_version(),
        serde_json::to_vec(&s.state).unwrap(),
    )
    .unwrap();
    log.append(append("ABCDE", 1, 3, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (4, Ok(())));
    let ended = quizcast::protocol::now_ms();
    log.ended("ABCDE", ended).unwrap();
    log.close();
    let (log, stored) = open(&cluster, 10);
    assert_eq!(stored.len(), 1, "ended, but within retention");
    assert_eq!((stored[0].pos, stored[0].seq), (4, 4));
    assert_eq!(stored[0].ended_ms, Some(ended));
    assert_eq!(stored[0].events.len(), 4, "events behind the snapshot stay");
    assert!(settled(|| log.live_sessions()).is_empty());
    // Deleted: gone, and the code can be created afresh.
    log.delete("ABCDE").unwrap();
    log.flush();
    assert!(settled(|| log.read_session("ABCDE", 10)).is_none());
    let (done, created) = tokio::sync::oneshot::channel();
    log.create(header("ABCDE"), done).unwrap();
    log.flush();
    assert_eq!(created.blocking_recv().unwrap(), Ok(()));
    let s = settled(|| log.read_session("ABCDE", 10)).unwrap();
    assert_eq!((s.pos, s.seq, s.events.len()), (0, 0, 0));
    // Its first append is fenced at "no message yet" and lands.
    log.append(append("ABCDE", 1, 0, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (1, Ok(())));
    snapshots_trim_what_they_replace_once_its_events_are_old(&log);
    log.close();
}

/// Records 1 (seq 1), 2 (seqs 2..=EVENTS_KEPT + 2) and 3: a snapshot at 3
/// purges message 1 (its events are more than EVENTS_KEPT old) and keeps 2;
/// the state and the kept events read back the same.
fn snapshots_trim_what_they_replace_once_its_events_are_old(log: &NatsLog) {
    use quizcast::journal::nats::EVENTS_KEPT;
    let (done, created) = tokio::sync::oneshot::channel();
    log.create(header("TRIMS"), done).unwrap();
    log.flush();
    assert_eq!(created.blocking_recv().unwrap(), Ok(()));
    let (tx, rx) = mpsc::channel();
    log.append(append("TRIMS", 1, 0, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (1, Ok(())));
    let mut many = append("TRIMS", 1, 1, &tx);
    many.records[0].events = (2..=EVENTS_KEPT + 2)
        .map(|seq| LoggedEvent {
            seq,
            audience: Audience::All,
            frame: "{}".into(),
        })
        .collect();
    log.append(many).unwrap();
    log.flush();
    assert_eq!(next(&rx), (2, Ok(())));
    let mut last = append("TRIMS", 1, 2, &tx);
    let top = EVENTS_KEPT + 3;
    last.records[0].events[0].seq = top;
    log.append(last).unwrap();
    log.flush();
    assert_eq!(next(&rx), (3, Ok(())));
    let before = settled(|| log.read_session("TRIMS", 5)).unwrap();
    assert_eq!(settled(|| log.events_after("TRIMS", 0, 1))[0].seq, 1);
    log.snapshot(
        "TRIMS",
        3,
        top,
        before.state.format_version(),
        serde_json::to_vec(&before.state).unwrap(),
    )
    .unwrap();
    log.flush();
    let after = settled(|| log.read_session("TRIMS", 5)).unwrap();
    assert_eq!((after.pos, after.seq), (3, top));
    assert_eq!(after.state.to_value(), before.state.to_value());
    assert_eq!(after.events, before.events);
    let first = settled(|| log.events_after("TRIMS", 0, 1));
    assert_eq!(first[0].seq, 2, "record 1 was purged, record 2 kept");
}

#[test]
fn a_burst_of_appends_goes_out_in_a_few_messages_in_order() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let metrics = Arc::new(Metrics::default());
    let (log, _) = NatsLog::open(
        &ClusterOptions {
            urls: cluster.url_list(),
            replicas: 3,
        },
        &LoadOptions::default(),
        metrics.clone(),
    )
    .expect("open the cluster log");
    let (done, created) = tokio::sync::oneshot::channel();
    log.create(header("BURST"), done).unwrap();
    log.flush();
    assert_eq!(created.blocking_recv().unwrap(), Ok(()));
    let (tx, rx) = mpsc::channel();
    let n = 2_000;
    for i in 0..n {
        log.append(append("BURST", 1, i, &tx)).unwrap();
    }
    log.flush();
    for i in 1..=n {
        assert_eq!(next(&rx), (i, Ok(())));
    }
    let commits = metrics
        .journal_commits
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(commits < n / 4, "{commits} publishes for {n} appends");
    let s = settled(|| log.read_session("BURST", 5)).unwrap();
    assert_eq!((s.pos, s.seq), (n, n));
    log.close();
}

#[test]
fn a_record_larger_than_max_payload_is_refused_and_the_session_goes_on() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let (log, _) = open(&cluster, 10);
    let (done, created) = tokio::sync::oneshot::channel();
    log.create(header("BIGGY"), done).unwrap();
    log.flush();
    assert_eq!(created.blocking_recv().unwrap(), Ok(()));
    let (tx, rx) = mpsc::channel();
    let mut big = append("BIGGY", 1, 0, &tx);
    big.records[0].events[0].frame = "x".repeat(2 << 20).into();
    log.append(big).unwrap();
    log.flush();
    let (upto, r) = next(&rx);
    assert_eq!(upto, 1);
    assert!(matches!(r, Err(AppendFailure::Unavailable(_))), "{r:?}");
    log.append(append("BIGGY", 1, 0, &tx)).unwrap();
    log.flush();
    assert_eq!(next(&rx), (1, Ok(())));
    log.close();
}

#[actix_rt::test]
async fn a_quiz_night_on_the_cluster_log_survives_kill_9_of_the_node_and_of_the_stream_leader() {
    let Some(mut cluster) = NatsCluster::start(3) else {
        return;
    };
    let urls = cluster.urls();
    let args = [
        "--cluster",
        urls.as_str(),
        "--secret",
        "cluster-test-secret",
        // Snapshots (and the reads that start from them) all night long.
        "--snapshot-records",
        "5",
    ];
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let mut child = Child::spawn(&db, &args);
    let api = child.api();
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let (code, mc_t) = api.create_session(json!({"quiz": quiz})).await;
    let code = code.as_str();
    let path = |p: &str| format!("/api/sessions/{code}{p}");
    let join = |role: &str| json!({"sessionCode": code, "role": role});
    let mut mc = Client::connect(
        &api,
        "mc",
        json!({"sessionCode": code, "role": "mc", "token": mc_t}),
    )
    .await;
    let mut display = Client::connect(&api, "display", join("display")).await;
    let mut ada = Client::connect(
        &api,
        "ada",
        json!({"sessionCode": code, "role": "player", "name": "Ada"}),
    )
    .await;
    let mut bob = Client::connect(
        &api,
        "bob",
        json!({"sessionCode": code, "role": "player", "name": "Bob"}),
    )
    .await;
    let mut cy = Client::connect(
        &api,
        "cy",
        json!({"sessionCode": code, "role": "player", "name": "Cy"}),
    )
    .await;
    let (ada_t, bob_t) = (ada.token().unwrap(), bob.token().unwrap());
    let cy_t = cy.token().unwrap();
    let tokens: Vec<(&str, Option<&str>)> = vec![
        ("mc", Some(&mc_t)),
        ("display", None),
        ("ada", Some(&ada_t)),
        ("bob", Some(&bob_t)),
        ("cy", Some(&cy_t)),
    ];
    let open = |q: &str| json!({"questionId": q, "timeLimitSec": 0});
    let mut acked: Vec<&str> = Vec::new();

    // Round 1 on the cluster log: answers, chat, reveal; q2 left open.
    ok(&api, &path("/question"), &mc_t, open("q1")).await;
    for (c, a) in [(&mut ada, "Paris"), (&mut bob, "Lyon")] {
        let r = c
            .call(
                "answer:submit",
                "a",
                json!({"questionId": "q1", "answer": a}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
        acked.push(a);
    }
    let r = mc.call("chat:send", "c", json!({"text": "Welcome!"})).await;
    assert_eq!(r["type"], "ack", "{r}");
    ok(&api, &path("/question/reveal"), &mc_t, json!({})).await;
    ok(&api, &path("/question"), &mc_t, open("q2")).await;
    let r = ada
        .call(
            "answer:submit",
            "b",
            json!({"questionId": "q2", "answer": 1}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    for c in [&mut mc, &mut display, &mut ada, &mut bob, &mut cy] {
        c.pump(Duration::from_millis(200)).await;
    }

    // kill -9 the quizcast node; a new one reads everything back from
    // the cluster: same snapshots, same seq; the next event is last + 1.
    let clients = &mut [&mut mc, &mut display, &mut ada, &mut bob, &mut cy];
    let (api, last) = crash_and_resume(&mut child, &db, &args, code, clients, &tokens).await;
    let r = bob
        .call(
            "answer:submit",
            "c",
            json!({"questionId": "q2", "answer": 0}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    let (_, next) = history(&api, code, Some(&mc_t), last).await;
    assert_eq!(
        next.keys().next(),
        Some(&(last + 1)),
        "seq goes on at last + 1"
    );
    ok(&api, &path("/question/reveal"), &mc_t, json!({})).await;

    // kill -9 the NATS server leading the log stream: play goes on (a
    // command may wait out the election, or be refused and retried).
    let leader = cluster::stream_leader(&cluster.url_list()).await;
    let victim = cluster.index_of(&leader).expect("the leader is ours");
    cluster.kill9(victim);
    let killed = std::time::Instant::now();
    ok(&api, &path("/question"), &mc_t, open("q3")).await;
    for (c, a) in [(&mut ada, 1969), (&mut bob, 1970)] {
        let r = c
            .call(
                "answer:submit",
                "d",
                json!({"questionId": "q3", "answer": a}),
            )
            .await;
        assert_eq!(r["type"], "ack", "{r}");
    }
    let r = bob
        .call("chat:send", "e", json!({"text": "Still here"}))
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    eprintln!(
        "stream leader {leader} killed: play went on, {:?} for a question and 3 acks",
        killed.elapsed()
    );
    // It comes back and catches up; play goes on.
    cluster.restart(victim);
    ok(&api, &path("/question/reveal"), &mc_t, json!({})).await;
    ok(&api, &path("/question"), &mc_t, open("q4")).await;
    let r = ada
        .call(
            "answer:submit",
            "f",
            json!({"questionId": "q4", "answer": "door hinge"}),
        )
        .await;
    assert_eq!(r["type"], "ack", "{r}");
    acked.push("door hinge");
    ok(&api, &path("/question/close"), &mc_t, json!({})).await;
    let ada_id = player_id(&api, code, &ada_t).await;
    let score = json!({"playerId": ada_id, "questionId": "q4", "score": 1});
    ok(&api, &path("/scores"), &mc_t, score).await;

    // The picture round, peer-marked; the node is killed mid-marking.
    for (qid, answers) in [
        (
            "q5",
            [("Eiffel Tower", 0), ("Big Ben", 1), ("Tour Eiffel", 2)],
        ),
        ("q6", [("San Francisco", 0), ("Oakland", 1), ("SF", 2)]),
    ] {
        ok(&api, &path("/question"), &mc_t, open(qid)).await;
        for (a, who) in answers {
            let c = [&mut ada, &mut bob, &mut cy].into_iter().nth(who).unwrap();
            let r = c
                .call(
                    "answer:submit",
                    "g",
                    json!({"questionId": qid, "answer": a}),
                )
                .await;
            assert_eq!(r["type"], "ack", "{r}");
        }
        ok(&api, &path("/question/close"), &mc_t, json!({})).await;
    }
    let marking = json!({"enabled": true, "roundId": "r2"});
    ok(&api, &path("/marking"), &mc_t, marking).await;
    for c in [&mut ada, &mut bob] {
        c.pump(Duration::from_millis(300)).await;
        let a = c
            .events
            .values()
            .rev()
            .find(|e| e["type"] == "marking:assignment-created")
            .cloned()
            .unwrap_or_else(|| panic!("{}: no assignment", c.name));
        let aid = a["data"]["assignmentId"].as_str().unwrap().to_string();
        for item in a["data"]["items"].as_array().unwrap() {
            let mark = json!({"assignmentId": aid, "questionId": item["questionId"], "score": 1});
            let r = c.call("mark:submit", "m", mark).await;
            assert_eq!(r["type"], "ack", "{r}");
        }
    }
    let clients = &mut [&mut mc, &mut display, &mut ada, &mut bob, &mut cy];
    let (api, _) = crash_and_resume(&mut child, &db, &args, code, clients, &tokens).await;
    ok(&api, &path("/marking"), &mc_t, json!({"enabled": false})).await;

    // A kick, a last chat, the end.
    let cy_id = player_id(&api, code, &cy_t).await;
    let kick = api
        .request(
            "DELETE",
            &path(&format!("/players/{cy_id}")),
            Some(&mc_t),
            None,
        )
        .await;
    assert_eq!(kick.0, 204, "{}", kick.1);
    let r = bob.call("chat:send", "h", json!({"text": "Bye Cy"})).await;
    assert_eq!(r["type"], "ack", "{r}");
    ok(&api, &path("/end"), &mc_t, json!({})).await;
    for c in [&mut mc, &mut display, &mut ada, &mut bob] {
        c.pump(Duration::from_millis(500)).await;
    }

    // One more node crash after the end: still all there. Every client's
    // stream is exactly what the log replays (same seqs, same bytes).
    child.kill9();
    let mut child = Child::spawn(&db, &args);
    let api = child.api();
    for c in [&mc, &display, &ada, &bob] {
        let token = c.join["token"].as_str();
        let (_, full) = history(&api, code, token, 0).await;
        let mine: Vec<_> = c.events.iter().collect();
        let theirs: Vec<_> = full.range(c.first_seq + 1..).collect();
        assert_eq!(mine, theirs, "{}: missed, extra or forked events", c.name);
    }
    // The history lives in the JetStream stream, not in the node's file.
    let (seq, _) = history(&api, code, Some(&mc_t), 0).await;
    let logged = cluster::last_logged_seq(&cluster.url_list(), code).await;
    assert_eq!(logged, Some(seq), "the last event is in the log stream");
    assert!(cluster::has_snapshot(&cluster.url_list(), code).await);
    let (s, results) = api.get(&path("/results"), Some(&mc_t)).await;
    assert_eq!(s, 200, "{results}");
    let text = results.to_string();
    for a in acked {
        assert!(text.contains(a), "{a} missing: {text}");
    }
    // A clean stop flushes the cluster log and exits 0.
    assert!(child.term().success());
}

#[test]
fn a_node_whose_cluster_cannot_be_reached_refuses_to_start_and_says_why() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast"))
        .args(["--addr", "127.0.0.1:0", "--cluster"])
        .arg(format!("nats://127.0.0.1:{port}"))
        .arg("--db")
        .arg(dir.path().join("q.db"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("still running 30 s after start without a cluster");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("cannot connect to NATS"), "{err}");
}

/// The leases bucket's entry lifetime, as the cluster has it.
async fn leases_max_age(urls: &[String]) -> Duration {
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let name = format!("KV_{}", quizcast::journal::nats::LEASES_BUCKET);
    let mut s = js.get_stream(&name).await.expect("the leases bucket");
    s.info().await.expect("its info").config.max_age
}

/// Nodes started at the same moment on a fresh cluster (a Compose file, a
/// deploy) all set the stream and buckets up and serve: nats-server drops
/// the reply to a stream update or info that meets another node's create,
/// which once left two of three such nodes giving up at start. A node
/// started later with another `--lease-ms` finds the leases bucket with
/// another configuration and updates it to its own.
#[actix_rt::test]
async fn nodes_started_together_all_start_and_another_lease_updates_the_bucket() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let urls = cluster.urls();
    let args = |lease: &'static str| {
        vec![
            "--cluster".to_string(),
            urls.clone(),
            "--secret".into(),
            "start-test-secret".into(),
            "--lease-ms".into(),
            lease.into(),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<_> = (0..4)
        .map(|i| dir.path().join(format!("n{i}.db")))
        .collect();
    let five = args("5000");
    let five: Vec<&str> = five.iter().map(String::as_str).collect();
    let nodes = Child::spawn_together(
        &dbs[..3]
            .iter()
            .map(|db| (db.as_path(), &five[..], &[][..]))
            .collect::<Vec<_>>(),
    );
    let quiz: Value = serde_json::from_str(include_str!("../examples/friday-quiz.json")).unwrap();
    let mut codes = Vec::new();
    for n in &nodes {
        let (code, _) = n.api().create_session(json!({"quiz": quiz})).await;
        codes.push(code);
    }
    // Every node reads every other node's session from the one log.
    for n in &nodes {
        for code in &codes {
            let r = n.api().get(&format!("/api/sessions/{code}"), None).await;
            assert_eq!(r.0, 200, "{code} on {}: {}", n.addr, r.1);
        }
    }
    assert_eq!(
        leases_max_age(&cluster.url_list()).await,
        Duration::from_secs(5)
    );

    let four = args("4000");
    let four: Vec<&str> = four.iter().map(String::as_str).collect();
    let late = Child::spawn(&dbs[3], &four);
    assert_eq!(
        leases_max_age(&cluster.url_list()).await,
        Duration::from_secs(4)
    );
    let (code, _) = late.api().create_session(json!({"quiz": quiz})).await;
    let r = nodes[0]
        .api()
        .get(&format!("/api/sessions/{code}"), None)
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
}
