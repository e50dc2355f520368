//! quizcast-load against a 3-node cluster with `--target` for each node:
//! players, the MC's calls and the probes go to the nodes in turn (as
//! behind a round-robin load balancer), and every reader still gets every
//! event once, in order; every answer through any node is acked once.
//! Correctness only; timings belong to bench/.

mod cluster;
mod common;

use cluster::NatsCluster;
use common::{load_tool, Child};
use serde_json::Value;

fn run(nodes: &[Child], args: &[&str]) -> Value {
    load_tool(&nodes.iter().collect::<Vec<_>>(), None, args)
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
