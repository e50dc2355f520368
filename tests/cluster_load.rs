//! quizcast-load against a 3-node cluster with `--target` for each node:
//! players, the MC's calls and the probes go to the nodes in turn (as
//! behind a round-robin load balancer), and every reader still gets every
//! event once, in order; every answer through any node is acked once.
//! Through kill -9 of the session's owner every player follows the session
//! to its end (the dead node's players resume with `since` on the others).
//! Correctness only; timings belong to bench/.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::{load_tool, Child};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Three quizcast nodes on the cluster, with the per-address limits off
/// (every simulated player comes from loopback).
fn three_nodes(cluster: &NatsCluster, dir: &std::path::Path) -> Vec<Child> {
    let urls = cluster.urls();
    let args = [
        "--cluster",
        urls.as_str(),
        "--secret",
        "load-test-secret",
        "--upgrade-rate",
        "0",
        "--join-rate",
        "0",
        "--http-rate",
        "0",
        "--answer-rate",
        "0",
    ];
    let dbs: Vec<_> = (0..3).map(|i| dir.join(format!("n{i}.db"))).collect();
    Child::spawn_together(
        &dbs.iter()
            .map(|db| (db.as_path(), &args[..], &[][..]))
            .collect::<Vec<_>>(),
    )
}

fn run(nodes: &[Child], args: &[&str]) -> Value {
    load_tool(&nodes.iter().collect::<Vec<_>>(), None, args)
}

#[test]
fn the_load_tool_spreads_one_session_over_every_node() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_nodes(&cluster, dir.path());

    let r = run(
        &nodes,
        &[
            "fanout",
            "--players",
            "150",
            "--probes",
            "30",
            "--questions",
            "3",
            "--interval-ms",
            "500",
        ],
    );
    assert_eq!(r["results"]["joined"], 150, "{r}");
    assert_eq!(r["results"]["deliveryLatency"]["count"], 30 * 3 * 2, "{r}");

    let r = run(
        &nodes,
        &["answers", "--players", "90", "--window-ms", "500"],
    );
    assert_eq!(r["results"]["acked"], 90, "{r}");
}

/// A GET on a node, its JSON body (Null if none): std only, as the test
/// runs outside any async runtime.
fn get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return Value::Null;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null)
}

/// kill -9 of the session's owner while ~100 players over 3 nodes follow it
/// (`quizcast-load gaps`, which kills nothing itself): every player is
/// still there at the end (the dead node's resumed on another node with
/// `since`, none resynced), every question event reached every player once
/// and in order, and no player waited past a generous bound. Correctness,
/// not timing: the bound is far above the takeover time (docs/cluster.md).
#[test]
fn every_player_follows_the_session_through_the_owners_death() {
    use std::io::BufRead;
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(&cluster, dir.path());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast-load"));
    for n in &nodes {
        cmd.arg("--target").arg(format!("http://{}", n.addr));
    }
    let mut tool = cmd
        .args(["--json", "--timeout-secs", "60", "gaps", "--players", "100"])
        .args(["--duration-secs", "14", "--interval-ms", "1000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run quizcast-load");
    // Its stderr, line by line (it says when the questions start).
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = tool.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("quizcast-load: {line}");
            let _ = tx.send(line);
        }
    });
    let stdout = tool.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stdout), &mut s);
        s
    });
    let started = Instant::now();
    let running = loop {
        let left = Duration::from_secs(60).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with("gaps: running ") => break l,
            Ok(_) => continue,
            Err(e) => {
                let _ = tool.kill();
                let _ = tool.wait();
                panic!("the scenario did not start its questions: {e}");
            }
        }
    };
    let code = running.split_whitespace().nth(2).unwrap().to_string();
    // The owner: the node whose /api/stats lists the session.
    let until = Instant::now() + Duration::from_secs(10);
    let owner = loop {
        let found = nodes.iter().position(|n| {
            get_json(n.addr, "/api/stats")["cluster"]["sessions"]
                .as_array()
                .is_some_and(|s| s.iter().any(|c| c == code.as_str()))
        });
        if let Some(i) = found {
            break i;
        }
        assert!(Instant::now() < until, "no node owns {code}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Mid-question, a few questions in.
    std::thread::sleep(Duration::from_millis(4250));
    nodes[owner].kill9();
    eprintln!("killed node {owner}, the owner of {code}");
    // Bounded: the tool's own deadlines end it well before this.
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = tool.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = tool.kill();
            let _ = tool.wait();
            panic!("quizcast-load gaps did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out.join().unwrap();
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    eprintln!("{r}");
    assert!(status.success(), "{r}");
    assert_eq!(r["ok"], true, "{r}");
    let p = &r["problems"];
    assert_eq!(p["missed"], 0, "{r}");
    assert_eq!(p["duplicated"], 0, "{r}");
    assert_eq!(p["outOfOrder"], 0, "{r}");
    let res = &r["results"];
    assert_eq!(res["joined"], 100, "{r}");
    assert_eq!(res["lostPlayers"], 0, "{r}");
    assert_eq!(res["resynced"], 0, "{r}");
    // The dead node's players (a third) came back on the others.
    assert!(res["reconnectedPlayers"].as_u64() >= Some(1), "{r}");
    assert!(res["killToResumedSecs"].is_number(), "{r}");
    assert!(res["longestGap"]["max"].as_f64().unwrap() < 15_000.0, "{r}");
}
