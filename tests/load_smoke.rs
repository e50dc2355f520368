//! quizcast-load against the real server binary: a small run of every
//! scenario. Correctness only (no loss, no duplicates, no errors); timings
//! belong to bench/, never to tests.

mod common;

use common::{load_tool, Child};
use serde_json::Value;

fn run(child: &Child, args: &[&str]) -> Value {
    load_tool(&[child], Some(child.proc.id()), args)
}

#[test]
fn every_scenario_runs_clean_at_small_scale() {
    let dir = tempfile::tempdir().unwrap();
    let child = Child::spawn(&dir.path().join("q.db"), &[]);

    let r = run(
        &child,
        &[
            "fanout",
            "--players",
            "200",
            "--probes",
            "50",
            "--questions",
            "3",
            "--interval-ms",
            "200",
        ],
    );
    assert_eq!(r["results"]["joined"], 200);
    assert_eq!(r["results"]["deliveryLatency"]["count"], 50 * 3 * 2);
    assert!(r["results"]["serverCpuMicrosPerDelivery"].is_number());

    let r = run(
        &child,
        &[
            "sessions",
            "--sessions",
            "3",
            "--players",
            "40",
            "--probes",
            "10",
            "--questions",
            "2",
            "--interval-ms",
            "200",
        ],
    );
    assert_eq!(r["results"]["deliveries"], 3 * 40 * 2 * 2);
    assert_eq!(r["results"]["probes"], 3 * 10);

    let r = run(
        &child,
        &["answers", "--players", "200", "--window-ms", "500"],
    );
    assert_eq!(r["results"]["acked"], 200);

    let r = run(&child, &["joins", "--players", "200"]);
    assert_eq!(r["results"]["joined"], 200);

    let r = run(
        &child,
        &["reconnect", "--players", "200", "--gap-questions", "2"],
    );
    assert_eq!(r["results"]["resumed"], 200);

    let r = run(&child, &["idle", "--players", "200", "--hold-secs", "2"]);
    assert_eq!(r["results"]["held"], 200);
    assert!(r["results"]["serverRssKiBPerConnection"].is_number());

    // Beyond one process's open-file limit: the same, split over processes.
    let r = run(
        &child,
        &[
            "idle",
            "--players",
            "300",
            "--hold-secs",
            "2",
            "--procs",
            "3",
        ],
    );
    assert_eq!(r["results"]["held"], 300);
    assert_eq!(r["results"]["processes"], 3);
}

#[test]
fn every_hostile_scenario_runs_clean_at_small_scale() {
    let dir = tempfile::tempdir().unwrap();
    let child = Child::spawn(
        &dir.path().join("q.db"),
        &[
            "--upgrade-rate",
            "0",
            "--join-rate",
            "0",
            "--http-rate",
            "0",
            "--max-displays",
            "30",
        ],
    );
    for (kind, count) in [
        ("leave", "0"),
        ("overrides", "60"),
        ("stalled", "0"),
        ("displays", "20"),
    ] {
        let r = run(
            &child,
            &[
                "hostile",
                kind,
                "--players",
                "200",
                "--probes",
                "20",
                "--questions",
                "2",
                "--interval-ms",
                "300",
                "--count",
                count,
            ],
        );
        let (base, host) = (&r["results"]["baseline"], &r["results"]["withHostile"]);
        assert_eq!(base["joined"], 200, "{kind}: {r}");
        assert_eq!(host["joined"], 200, "{kind}: {r}");
        assert_eq!(base["probeLatency"]["count"], 20 * 2 * 2, "{kind}: {r}");
        assert_eq!(host["probeLatency"]["count"], 20 * 2 * 2, "{kind}: {r}");
        assert!(host["serverCpuSecs"].is_number(), "{kind}: {r}");
        assert!(host["serverRssPeakKib"].is_number(), "{kind}: {r}");
        assert!(r["results"]["ratio"]["probeP99"].is_number(), "{kind}: {r}");
        let expected = match kind {
            "leave" => 1,   // 1% of the 180 non-probes
            "stalled" => 9, // 5% of them
            _ => count.parse().unwrap(),
        };
        assert_eq!(host["hostile"], expected, "{kind}: {r}");
        assert_eq!(host["displaysRefused"], 0, "{kind}: {r}");
    }
}

#[test]
fn the_load_tool_refuses_non_loopback_targets() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast-load"))
        .args(["--url", "http://10.1.2.3:8080", "joins", "--players", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn the_recovery_scenario_rebuilds_a_written_log() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quizcast-load"))
        .args([
            "--json",
            "recovery",
            "--server-bin",
            env!("CARGO_BIN_EXE_quizcast"),
        ])
        .args(["--sessions", "3", "--players", "40", "--questions", "4"])
        .output()
        .expect("run quizcast-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{report}");
    assert_eq!(report["ok"], true, "{report}");
    // 1 quiz + 40 joins + 4 x (open + 40 answers + reveal), per session.
    assert_eq!(report["results"]["records"], 3 * (1 + 40 + 4 * 42));
}
