//! quizcast-load against a 3-node cluster with `--target` for each node:
//! players, the MC's calls and the probes go to the nodes in turn (as
//! behind a round-robin load balancer), and every reader still gets every
//! event once, in order; every answer through any node is acked once.
//! Correctness only; timings belong to bench/.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::Child;
use serde_json::Value;

fn run(nodes: &[Child], args: &[&str]) -> Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast-load"));
    for n in nodes {
        cmd.arg("--target").arg(format!("http://{}", n.addr));
    }
    let out = cmd
        .args(["--json", "--timeout-secs", "60"])
        .args(args)
        .output()
        .expect("run quizcast-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{args:?} failed: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["problems"]["missed"], 0, "{report}");
    assert_eq!(report["problems"]["duplicated"], 0, "{report}");
    report
}

#[test]
fn the_load_tool_spreads_one_session_over_every_node() {
    let Some(cluster) = NatsCluster::start(3) else {
        return;
    };
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
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Child> = (0..3)
        .map(|i| Child::spawn(&dir.path().join(format!("n{i}.db")), &args))
        .collect();

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
