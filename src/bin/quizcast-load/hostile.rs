//! Hostile-room scenarios (issue 10). Each runs the same night twice on
//! fresh sessions, first without and then with the hostile part, and
//! reports for both the server's CPU, its RSS peak and the innocent probes'
//! event latency (p99), with the ratios:
//!
//! - `leave`: 1% of the players, each holding a distinct score (so a
//!   departure moves everyone's rank), leave during the first question;
//! - `overrides`: the MC overrides 300 scores while the questions run;
//! - `stalled`: 5% of the players stop reading (the others read);
//! - `displays`: 100 displays, joined with the display token, read along.
//!
//! Everything else is the `fanout` night: N players joined, P probes
//! timing every question event, K questions opened and closed.

use crate::client::{self, next_json, send, Target, Ws};
use crate::scenarios::{fail, finish, join_players, probe, run_questions, server_cpu, Sent, Setup};
use crate::stats::{histogram, percentiles, rss_kib, Problems, Report};
use crate::Common;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which hostile part a run adds.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Leave,
    Overrides,
    Stalled,
    Displays,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Leave => "leave",
            Kind::Overrides => "overrides",
            Kind::Stalled => "stalled",
            Kind::Displays => "displays",
        }
    }
}

/// The size of a run.
#[derive(Clone, Copy)]
pub struct Night {
    pub players: usize,
    pub probes: usize,
    pub questions: usize,
    pub interval_ms: u64,
    /// Displays (`displays`) or overrides (`overrides`).
    pub count: usize,
}

/// What one half of a run measured.
struct Measured {
    json: Value,
    p99_us: u64,
    cpu_secs: Option<f64>,
    rss_peak_kib: Option<u64>,
}

/// Samples the server's RSS every 50 ms until stopped; returns the peak.
fn rss_sampler(c: &Common) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Option<u64>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let pid = c.server_pid;
    let s = stop.clone();
    let h = tokio::spawn(async move {
        let pid = pid?;
        let mut peak = 0;
        while !s.load(Relaxed) {
            peak = peak.max(rss_kib(pid).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(peak)
    });
    (stop, h)
}

/// Reads a socket until it closes, counting frames.
fn drain(mut ws: Ws, frames: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(_)) = next_json(&mut ws).await {
            frames.fetch_add(1, Relaxed);
        }
    })
}

/// A session for the night; returns (code, mcToken, displayToken).
async fn session(t: &Target, n: &Night) -> Result<(String, String, String), String> {
    let questions: Vec<Value> = (0..n.questions)
        .map(|i| json!({"id": format!("q{i}"), "kind": "number", "prompt": format!("Question {i}: how many?"), "answer": i, "points": 10}))
        .collect();
    let quiz = json!({"title": "hostile", "settings": {"maxPlayers": n.players + 10},
                      "rounds": [{"id": "r1", "name": "Load", "questions": questions}]});
    let v = t
        .post_ok("/api/sessions", None, json!({"quiz": quiz}))
        .await?;
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let display = s("displayUrl")
        .split("#token=")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((s("code"), s("mcToken"), display))
}

async fn override_score(
    t: &Target,
    code: &str,
    mc: &str,
    pid: &str,
    score: f64,
) -> Result<(), String> {
    t.post_ok(
        &format!("/api/sessions/{code}/scores"),
        Some(mc),
        json!({"playerId": pid, "questionId": "q0", "score": score}),
    )
    .await
    .map(drop)
}

/// Frames the server has queued to clients so far (`/api/stats`).
async fn frames_out(t: &Target) -> Option<u64> {
    let (_, v) = t.http("GET", "/api/stats", None, None).await.ok()?;
    v["messagesOut"].as_u64()
}

/// One night, with or without the hostile part.
async fn night(
    c: &Common,
    setup: &Setup,
    kind: Kind,
    n: Night,
    hostile: bool,
) -> (Measured, Problems) {
    let mut problems = Problems::default();
    let t = &setup.t;
    let (code, mc, display_token) = match session(t, &n).await {
        Ok(x) => x,
        Err(e) => {
            problems.error(e);
            let m = Measured {
                json: json!({}),
                p99_us: 0,
                cpu_secs: None,
                rss_peak_kib: None,
            };
            return (m, problems);
        }
    };
    let (joined, p, _) = join_players(c, t, &setup.src, &code, n.players, "h").await;
    problems.merge(p);
    let total = joined.len();
    let k = n.questions;
    let step = (total / n.probes.clamp(1, total.max(1))).max(1);
    let sent = Sent::new(k);
    let deadline = Instant::now() + Duration::from_secs(c.timeout_secs);
    let frames = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let mut others: Vec<(Ws, String)> = Vec::new();
    for (i, (ws, j)) in joined.into_iter().enumerate() {
        if i % step == 0 && readers.len() < n.probes {
            readers.push(tokio::spawn(probe(ws, k, sent.clone(), deadline)));
        } else {
            others.push((ws, j["playerId"].as_str().unwrap_or_default().to_string()));
        }
    }
    // 1% leavers (with distinct scores) or 5% stalled, in both halves.
    let share = match kind {
        Kind::Leave => (others.len() / 100).max(1),
        Kind::Stalled => (others.len() / 20).max(1),
        _ => 0,
    };
    let special: Vec<(Ws, String)> = others.drain(..share.min(others.len())).collect();
    if kind == Kind::Leave {
        for (i, (_, pid)) in special.iter().enumerate() {
            let score = (10.0 - (i % 20) as f64 * 0.5).max(0.5);
            if let Err(e) = override_score(t, &code, &mc, pid, score).await {
                problems.error(e);
            }
        }
    }
    let ids: Vec<String> = others.iter().map(|(_, p)| p.clone()).collect();
    let mut held = Vec::new();
    let mut drains = Vec::new();
    for (ws, _) in others {
        if kind == Kind::Stalled {
            drains.push(drain(ws, frames.clone())); // the innocent read
        } else {
            held.push(ws); // as in `fanout`: joined, never read
        }
    }
    let mut special_ws = Vec::new();
    for (ws, _) in special {
        if kind == Kind::Stalled && !hostile {
            drains.push(drain(ws, frames.clone()));
        } else {
            special_ws.push(ws);
        }
    }
    // Displays join before the questions and read along.
    let mut displays = (0u64, 0u64);
    if kind == Kind::Displays && hostile {
        for _ in 0..n.count {
            let joined = async {
                let mut ws = setup.src.connect(t).await?;
                client::join(
                    &mut ws,
                    json!({"sessionCode": code, "role": "display", "token": display_token}),
                )
                .await?;
                Ok::<_, String>(ws)
            };
            match joined.await {
                Ok(ws) => {
                    displays.0 += 1;
                    drains.push(drain(ws, frames.clone()));
                }
                Err(_) => displays.1 += 1,
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (stop, rss) = rss_sampler(c);
    let cpu0 = server_cpu(c);
    let out0 = frames_out(t).await;
    let interval = Duration::from_millis(n.interval_ms);
    let questions = run_questions(t, &code, &mc, 0..k, interval, &sent);
    let hostile_part = async {
        if !hostile {
            return Ok::<u64, String>(0);
        }
        match kind {
            Kind::Leave => {
                // During the first question, spread over half its time.
                tokio::time::sleep(interval / 8).await;
                let gap = interval / 4 / special_ws.len().max(1) as u32;
                for ws in special_ws.iter_mut() {
                    send(ws, json!({"type": "leave", "id": "bye", "data": {}})).await?;
                    tokio::time::sleep(gap).await;
                }
                Ok(special_ws.len() as u64)
            }
            Kind::Overrides => {
                let span = interval * k as u32;
                let gap = span / n.count.max(1) as u32;
                for i in 0..n.count {
                    let pid = &ids[(i * 7919) % ids.len().max(1)];
                    override_score(t, &code, &mc, pid, (1 + i % 20) as f64 * 0.5).await?;
                    tokio::time::sleep(gap).await;
                }
                Ok(n.count as u64)
            }
            Kind::Stalled => Ok(special_ws.len() as u64),
            Kind::Displays => Ok(displays.0),
        }
    };
    let (q, h) = tokio::join!(questions, hostile_part);
    if let Err(e) = q {
        problems.error(e);
    }
    let hostile_done = h.unwrap_or_else(|e| {
        problems.error(e);
        0
    });
    let mut lat = histogram();
    for r in readers {
        if let Ok((hist, tr, _)) = r.await {
            let _ = lat.add(&hist);
            problems.merge(tr.problems);
        }
    }
    let cpu1 = server_cpu(c);
    let out1 = frames_out(t).await;
    stop.store(true, Relaxed);
    let rss_peak = rss.await.ok().flatten();
    let cpu_secs = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(((b - a).as_secs_f64() * 1000.0).round() / 1000.0),
        _ => None,
    };
    // Stalled sockets: did the server cut them loose? (Read what is queued.)
    let mut cut_loose = 0;
    if kind == Kind::Stalled && hostile {
        for mut ws in special_ws.drain(..) {
            let gone = tokio::time::timeout(Duration::from_millis(200), async {
                loop {
                    match next_json(&mut ws).await {
                        Some(Ok(_)) => continue,
                        _ => return true,
                    }
                }
            })
            .await
            .unwrap_or(false);
            cut_loose += u64::from(gone);
        }
    }
    drop(held);
    drop(special_ws);
    for d in drains {
        d.abort();
    }
    let p99_us = lat.value_at_quantile(0.99);
    let json = json!({
        "joined": total,
        "hostile": hostile_done,
        "displaysRefused": displays.1,
        "stalledClosedByServer": cut_loose,
        "probeLatency": percentiles(&lat),
        "serverCpuSecs": cpu_secs,
        "serverRssPeakKib": rss_peak,
        "serverFramesOut": out0.zip(out1).map(|(a, b)| b.saturating_sub(a)),
        "framesReadByOthers": frames.load(Relaxed),
    });
    // Let the server settle before the next half.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    (
        Measured {
            json,
            p99_us,
            cpu_secs,
            rss_peak_kib: rss_peak,
        },
        problems,
    )
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => json!(((b / a) * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

pub async fn hostile(c: &Common, kind: Kind, n: Night) -> Report {
    let setup = Setup::new(c);
    let params = json!({"kind": kind.name(), "players": n.players, "probes": n.probes,
                        "questions": n.questions, "intervalMs": n.interval_ms, "count": n.count});
    if n.players < 2 {
        return fail(
            c,
            "hostile",
            params,
            "at least 2 players".into(),
            setup.started,
        );
    }
    let (base, p1) = night(c, &setup, kind, n, false).await;
    let (host, p2) = night(c, &setup, kind, n, true).await;
    let mut problems = p1;
    problems.merge(p2);
    let results = json!({
        "baseline": base.json,
        "withHostile": host.json,
        "ratio": {
            "probeP99": ratio(Some(base.p99_us as f64), Some(host.p99_us as f64)),
            "serverCpu": ratio(base.cpu_secs, host.cpu_secs),
            "serverRssPeak": ratio(base.rss_peak_kib.map(|v| v as f64), host.rss_peak_kib.map(|v| v as f64)),
        },
    });
    finish(c, "hostile", params, results, problems, setup.started)
}
