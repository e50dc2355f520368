//! Held connections: RSS per connection, over one or several processes.

use super::*;

/// Most players one session takes by default; idle spreads larger runs.
const SESSION_CAP: usize = 10_000;

/// Holds `players` joined connections for `hold_secs`. As a child of a
/// multi-process run (`ready` set), prints `ready` once everyone has joined.
pub async fn idle(c: &Common, players: usize, hold_secs: u64, ready: bool) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let mut codes = Vec::new();
    for _ in 0..players.div_ceil(SESSION_CAP).max(1) {
        match setup.session(c, "idle", 1, SESSION_CAP.min(players)).await {
            Ok((code, _)) => codes.push(code),
            Err(r) => return r,
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = c.server_pid.and_then(stats::rss_kib);
    let mut joined = Vec::new();
    let mut problems = Problems::default();
    let mut join_lat = histogram();
    for (i, code) in codes.iter().enumerate() {
        let share = players / codes.len() + usize::from(i < players % codes.len());
        let (j, p, l) = join_players(c, &t, &src, code, share, &format!("idle{i}-")).await;
        joined.extend(j);
        problems.merge(p);
        let _ = join_lat.add(&l);
    }
    let n = joined.len();
    if ready {
        println!("ready {n}");
    }
    let mut tasks = Vec::new();
    let until = Instant::now() + Duration::from_secs(hold_secs);
    for (mut ws, _) in joined {
        tasks.push(tokio::spawn(async move {
            // Keep reading so heartbeat pings are answered.
            loop {
                match tokio::time::timeout_at(until.into(), next_json(&mut ws)).await {
                    Err(_) => return Ok(ws),
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(e))) => return Err(e),
                    Ok(None) => return Err("closed".to_string()),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(hold_secs.min(2))).await;
    let rss1 = c.server_pid.and_then(stats::rss_kib);
    let mut kept = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(ws)) => kept.push(ws),
            Ok(Err(e)) => problems.error(format!("held connection: {e}")),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    let rss2 = c.server_pid.and_then(stats::rss_kib);
    let results = json!({
        "held": kept.len(),
        "sessions": codes.len(),
        "serverRssKiBBefore": rss0,
        "serverRssKiBAfter": rss2,
        "serverRssKiBPerConnection": per_connection(rss0, rss2.or(rss1), n),
        "joinLatency": percentiles(&join_lat),
    });
    drop(kept);
    finish(
        c,
        "idle",
        json!({"players": players, "holdSecs": hold_secs}),
        results,
        problems,
        started,
    )
}

fn per_connection(before: Option<u64>, after: Option<u64>, n: usize) -> Value {
    match (before, after) {
        (Some(a), Some(b)) if n > 0 => {
            json!(((b.saturating_sub(a)) as f64 / n as f64 * 100.0).round() / 100.0)
        }
        _ => Value::Null,
    }
}

/// `idle` over several processes of this tool, for more connections than one
/// process's open-file limit allows: each child holds a share and reports;
/// the server's RSS is read once every child has joined.
pub async fn idle_multi(
    c: &Common,
    players: usize,
    hold_secs: u64,
    procs: usize,
    base_args: Vec<String>,
) -> Report {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let started = (Instant::now(), stats::self_cpu());
    let mut problems = Problems::default();
    let rss0 = c.server_pid.and_then(stats::rss_kib);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return fail(
                c,
                "idle",
                json!({}),
                format!("own executable: {e}"),
                started,
            )
        }
    };
    let mut children = Vec::new();
    for i in 0..procs {
        let share = players / procs + usize::from(i < players % procs);
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&base_args)
            .args([
                "--json",
                "idle",
                "--child",
                "--players",
                &share.to_string(),
                "--hold-secs",
                &hold_secs.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(mut child) => {
                let out = child.stdout.take().map(|o| BufReader::new(o).lines());
                children.push((child, out));
            }
            Err(e) => problems.error(format!("spawn: {e}")),
        }
    }
    // Wait for every child to say it has joined its share.
    let deadline = Instant::now() + Duration::from_secs(c.timeout_secs);
    let mut joined = 0usize;
    for (_, out) in children.iter_mut() {
        let Some(lines) = out.as_mut() else { continue };
        match tokio::time::timeout_at(deadline.into(), lines.next_line()).await {
            Ok(Ok(Some(l))) if l.starts_with("ready ") => {
                joined += l[6..].trim().parse::<usize>().unwrap_or(0)
            }
            other => problems.error(format!("child did not get ready: {other:?}")),
        }
    }
    let rss1 = c.server_pid.and_then(stats::rss_kib);
    let mut held = 0u64;
    let mut worst_p99 = 0f64;
    let mut children_cpu = Duration::ZERO;
    for (mut child, out) in children {
        if let Some(mut lines) = out {
            while let Ok(Ok(Some(l))) =
                tokio::time::timeout_at(deadline.into(), lines.next_line()).await
            {
                if let Ok(r) = serde_json::from_str::<Value>(&l) {
                    held += r["results"]["held"].as_u64().unwrap_or(0);
                    let pct = r["loadToolCpuPercent"].as_f64().unwrap_or(0.0);
                    let wall = r["wallSecs"].as_f64().unwrap_or(0.0);
                    children_cpu += Duration::from_secs_f64((pct / 100.0 * wall).max(0.0));
                    worst_p99 =
                        worst_p99.max(r["results"]["joinLatency"]["p99"].as_f64().unwrap_or(0.0));
                    for (code, n) in r["problems"]["errors"].as_object().into_iter().flatten() {
                        for _ in 0..n.as_u64().unwrap_or(1) {
                            problems.error(code.clone());
                        }
                    }
                }
            }
        }
        match child.wait().await {
            Ok(s) if s.success() => {}
            Ok(s) => problems.error(format!("child exited {s}")),
            Err(e) => problems.error(format!("child: {e}")),
        }
    }
    let results = json!({
        "held": held,
        "processes": procs,
        "serverRssKiBBefore": rss0,
        "serverRssKiBAfter": rss1,
        "serverRssKiBPerConnection": per_connection(rss0, rss1, joined),
        "worstChildJoinP99Ms": worst_p99,
    });
    let params = json!({"players": players, "holdSecs": hold_secs, "procs": procs});
    let mut report = finish(c, "idle", params, results, problems, started);
    // The load tool's CPU is the parent's and every child's.
    report.tool_cpu += children_cpu;
    report
}
