//! The load scenarios. Each one measures and checks correctness as it goes:
//! every event meant for a reader must arrive exactly once, in seq order.
//! Shared here: joining players, running questions, probes, the report.

mod answers;
mod fanout;
mod gaps;
mod idle;
mod reconnect;

pub use answers::{answers, joins};
pub use fanout::{fanout, sessions};
pub use gaps::gaps;
pub use idle::{idle, idle_multi};
pub use reconnect::reconnect;

use crate::client::{self, next_json, send, Sources, Target, Ws};
use crate::stats::{self, histogram, percentiles, record, Problems, Report};
use crate::Common;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

pub(crate) fn bar(c: &Common, n: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(n as u64);
    if c.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        b.set_draw_target(ProgressDrawTarget::hidden());
    }
    b.set_style(
        ProgressStyle::with_template("{msg:12} {bar:40} {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    b
}

/// Times the MC sent each question's open and close, as µs since `base`.
pub(crate) struct Sent {
    base: Instant,
    open: Vec<AtomicU64>,
    close: Vec<AtomicU64>,
}

impl Sent {
    pub(crate) fn new(k: usize) -> Arc<Sent> {
        Arc::new(Sent {
            base: Instant::now(),
            open: (0..k).map(|_| AtomicU64::new(0)).collect(),
            close: (0..k).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    fn mark(&self, v: &[AtomicU64], i: usize) {
        v[i].store(self.base.elapsed().as_micros() as u64, Relaxed);
    }

    fn since(&self, v: &[AtomicU64], i: usize) -> Duration {
        let sent = v[i].load(Relaxed);
        Duration::from_micros((self.base.elapsed().as_micros() as u64).saturating_sub(sent))
    }
}

/// Follows one reader's stream: seq order, duplicates, question events.
#[derive(Default)]
pub(crate) struct Tracker {
    last_seq: u64,
    seen: HashSet<u64>,
    opened: HashMap<usize, u32>,
    closed: HashMap<usize, u32>,
    pub(crate) problems: Problems,
}

impl Tracker {
    /// Checks the envelope; returns the question index of a question event.
    fn see(&mut self, v: &Value) -> Option<(bool, usize)> {
        if let Some(seq) = v["seq"].as_u64() {
            if !self.seen.insert(seq) {
                self.problems.duplicated += 1;
                return None;
            }
            if seq <= self.last_seq {
                self.problems.out_of_order += 1;
            }
            self.last_seq = self.last_seq.max(seq);
        }
        let kind = v["type"].as_str()?;
        let idx = || {
            v["data"]["questionId"]
                .as_str()?
                .trim_start_matches('q')
                .parse::<usize>()
                .ok()
        };
        match kind {
            "game:question-opened" => {
                let i = idx()?;
                *self.opened.entry(i).or_default() += 1;
                Some((true, i))
            }
            "game:question-closed" => {
                let i = idx()?;
                *self.closed.entry(i).or_default() += 1;
                Some((false, i))
            }
            "error" => {
                self.problems
                    .error(v["data"]["code"].as_str().unwrap_or("?").to_string());
                None
            }
            _ => None,
        }
    }

    /// Counts questions in `range` not seen exactly once, opened and closed.
    fn settle(&mut self, range: std::ops::Range<usize>) {
        for i in range {
            for m in [&self.opened, &self.closed] {
                match m.get(&i).copied().unwrap_or(0) {
                    0 => self.problems.missed += 1,
                    1 => {}
                    n => self.problems.duplicated += (n - 1) as u64,
                }
            }
        }
    }
}

/// Connects and joins `n` players to `code`, `concurrency` at a time.
pub(crate) async fn join_players(
    c: &Common,
    t: &Target,
    src: &Arc<Sources>,
    code: &str,
    n: usize,
    prefix: &str,
) -> (Vec<(Ws, Value)>, Problems, Histogram<u64>) {
    let sem = Arc::new(Semaphore::new(c.concurrency.max(1)));
    let pb = bar(c, n, "joining");
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (sem, src, t, pb) = (sem.clone(), src.clone(), t.clone(), pb.clone());
        let name = format!("{prefix}{i}");
        let code = code.to_string();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t0 = Instant::now();
            let mut ws = src.connect(&t).await?;
            let joined = client::join(
                &mut ws,
                json!({"sessionCode": code, "role": "player", "name": name}),
            )
            .await?;
            pb.inc(1);
            Ok::<_, String>((ws, joined, t0.elapsed()))
        }));
    }
    let mut out = Vec::with_capacity(n);
    let mut problems = Problems::default();
    let mut lat = histogram();
    for task in tasks {
        match task.await {
            Ok(Ok((ws, joined, d))) => {
                record(&mut lat, d);
                out.push((ws, joined));
            }
            Ok(Err(e)) => problems.error(format!("join: {e}")),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    pb.finish_and_clear();
    (out, problems, lat)
}

/// The MC runs questions `range`: open, wait, close, wait.
pub(crate) async fn run_questions(
    t: &Target,
    code: &str,
    mc: &str,
    range: std::ops::Range<usize>,
    interval: Duration,
    sent: &Sent,
) -> Result<(), String> {
    for i in range {
        sent.mark(&sent.open, i);
        t.post_ok(
            &format!("/api/sessions/{code}/question"),
            Some(mc),
            json!({"questionId": format!("q{i}")}),
        )
        .await?;
        tokio::time::sleep(interval / 2).await;
        sent.mark(&sent.close, i);
        t.post_ok(
            &format!("/api/sessions/{code}/question/close"),
            Some(mc),
            json!({}),
        )
        .await?;
        tokio::time::sleep(interval / 2).await;
    }
    Ok(())
}

/// A reader that times question events until it has seen `k` closes.
pub(crate) async fn probe(
    mut ws: Ws,
    k: usize,
    sent: Arc<Sent>,
    deadline: Instant,
) -> (Histogram<u64>, Tracker, Vec<u64>) {
    let mut lat = histogram();
    let mut tr = Tracker::default();
    // Latest arrival (µs after sending) per event, for completion times.
    let mut arrival = vec![0u64; 2 * k];
    while tr.closed.len() < k {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = match tokio::time::timeout(left, next_json(&mut ws)).await {
            Ok(Some(Ok(v))) => v,
            Ok(Some(Err(e))) => {
                tr.problems.error(e);
                break;
            }
            Ok(None) => {
                tr.problems.error("closed early");
                break;
            }
            Err(_) => {
                tr.problems.error("timed out");
                break;
            }
        };
        if let Some((opened, i)) = tr.see(&next) {
            if i < k {
                let d = sent.since(if opened { &sent.open } else { &sent.close }, i);
                record(&mut lat, d);
                let slot = if opened { 2 * i } else { 2 * i + 1 };
                arrival[slot] = arrival[slot].max(d.as_micros() as u64);
            }
        }
    }
    tr.settle(0..k);
    (lat, tr, arrival)
}

/// What every scenario starts with: its clock and CPU baseline, the target,
/// the source addresses.
pub(crate) struct Setup {
    pub(crate) started: (Instant, Duration),
    pub(crate) t: Target,
    pub(crate) src: Arc<Sources>,
}

impl Setup {
    pub(crate) fn new(c: &Common) -> Setup {
        Setup {
            started: (Instant::now(), stats::self_cpu()),
            t: c.target.clone(),
            src: Arc::new(Sources::new(c.sources)),
        }
    }

    /// A fresh session with `k` questions; a failed report if it cannot be made.
    async fn session(
        &self,
        c: &Common,
        scenario: &'static str,
        k: usize,
        players: usize,
    ) -> Result<(String, String), Report> {
        client::create_session(&self.t, k, players.max(1))
            .await
            .map_err(|e| fail(c, scenario, json!({}), e, self.started))
    }
}

/// CPU time summed over every --server-pid (None if any cannot be read).
pub(crate) fn server_cpu(c: &Common) -> Option<Duration> {
    if c.server_pids.is_empty() {
        return None;
    }
    c.server_pids.iter().map(|&p| stats::cpu_time(p)).sum()
}

fn cpu_per_delivery(before: Option<Duration>, after: Option<Duration>, deliveries: u64) -> Value {
    match (before, after) {
        (Some(b), Some(a)) if deliveries > 0 => {
            let us = (a - b).as_secs_f64() * 1e6 / deliveries as f64;
            json!((us * 100.0).round() / 100.0)
        }
        _ => Value::Null,
    }
}

pub(crate) fn finish(
    c: &Common,
    scenario: &'static str,
    params: Value,
    results: Value,
    problems: Problems,
    started: (Instant, Duration),
) -> Report {
    let _ = c;
    Report {
        scenario,
        params,
        results,
        problems,
        wall: started.0.elapsed(),
        tool_cpu: stats::self_cpu().saturating_sub(started.1),
    }
}

pub(crate) fn fail(
    c: &Common,
    scenario: &'static str,
    params: Value,
    e: String,
    started: (Instant, Duration),
) -> Report {
    let mut p = Problems::default();
    p.error(e);
    finish(c, scenario, params, json!({}), p, started)
}
