//! The load scenarios. Each one measures and checks correctness as it goes:
//! every event meant for a reader must arrive exactly once, in seq order.

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

pub(crate) fn server_cpu(c: &Common) -> Option<Duration> {
    c.server_pid.and_then(stats::cpu_time)
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

pub async fn fanout(
    c: &Common,
    players: usize,
    probes: usize,
    k: usize,
    interval_ms: u64,
) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let mut problems = Problems::default();
    let (code, mc) = match setup.session(c, "fanout", k, players).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (joined, p, join_lat) = join_players(c, &t, &src, &code, players, "fan").await;
    problems.merge(p);
    let n = joined.len();
    let step = (n / probes.clamp(1, n.max(1))).max(1);
    let sent = Sent::new(k);
    let deadline = Instant::now() + Duration::from_secs(c.timeout_secs);
    let mut held = Vec::new();
    let mut readers = Vec::new();
    for (i, (ws, _)) in joined.into_iter().enumerate() {
        if i % step == 0 && readers.len() < probes {
            readers.push(tokio::spawn(probe(ws, k, sent.clone(), deadline)));
        } else {
            held.push(ws); // joined, never read: the kernel buffers its events
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cpu0 = server_cpu(c);
    let t0 = Instant::now();
    if let Err(e) = run_questions(
        &t,
        &code,
        &mc,
        0..k,
        Duration::from_millis(interval_ms),
        &sent,
    )
    .await
    {
        problems.error(e);
    }
    let mut lat = histogram();
    let mut completion = histogram();
    let mut last = vec![0u64; 2 * k];
    for r in readers {
        if let Ok((h, tr, arrival)) = r.await {
            let _ = lat.add(&h);
            problems.merge(tr.problems);
            for (l, a) in last.iter_mut().zip(arrival) {
                *l = (*l).max(a);
            }
        }
    }
    let phase = t0.elapsed();
    let cpu1 = server_cpu(c);
    for us in last {
        let _ = completion.record(us.max(1));
    }
    let deliveries = 2 * k as u64 * n as u64;
    drop(held);
    let results = json!({
        "joined": n,
        "probes": lat.len() / (2 * k.max(1)) as u64,
        "deliveryLatency": percentiles(&lat),
        "completionLatency": percentiles(&completion),
        "deliveries": deliveries,
        "serverCpuMicrosPerDelivery": cpu_per_delivery(cpu0, cpu1, deliveries),
        "broadcastPhaseSecs": (phase.as_secs_f64() * 100.0).round() / 100.0,
        "joinLatency": percentiles(&join_lat),
    });
    finish(
        c,
        "fanout",
        json!({"players": players, "probes": probes, "questions": k, "intervalMs": interval_ms}),
        results,
        problems,
        started,
    )
}

pub async fn sessions(
    c: &Common,
    sessions: usize,
    players: usize,
    probes: usize,
    k: usize,
    interval_ms: u64,
) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let mut problems = Problems::default();
    let mut setups = Vec::new();
    for s in 0..sessions {
        let (code, mc) = match client::create_session(&t, k, players.max(1)).await {
            Ok(x) => x,
            Err(e) => return fail(c, "sessions", json!({}), e, started),
        };
        let (joined, p, _) = join_players(c, &t, &src, &code, players, &format!("s{s}p")).await;
        problems.merge(p);
        setups.push((code, mc, joined));
    }
    let deadline = Instant::now() + Duration::from_secs(c.timeout_secs);
    let mut readers = Vec::new();
    let mut mcs = Vec::new();
    let mut total = 0u64;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cpu0 = server_cpu(c);
    let t0 = Instant::now();
    let mut held = Vec::new();
    for (code, mc, joined) in setups {
        let sent = Sent::new(k);
        total += 2 * k as u64 * joined.len() as u64;
        let step = (joined.len() / probes.clamp(1, joined.len().max(1))).max(1);
        for (i, (ws, _)) in joined.into_iter().enumerate() {
            if i % step == 0 {
                readers.push(tokio::spawn(probe(ws, k, sent.clone(), deadline)));
            } else {
                held.push(ws); // joined, never read, as in fanout
            }
        }
        let t = t.clone();
        mcs.push(tokio::spawn(async move {
            run_questions(
                &t,
                &code,
                &mc,
                0..k,
                Duration::from_millis(interval_ms),
                &sent,
            )
            .await
        }));
    }
    for m in mcs {
        if let Ok(Err(e)) = m.await {
            problems.error(e);
        }
    }
    let mut lat = histogram();
    for r in readers {
        if let Ok((h, tr, _)) = r.await {
            let _ = lat.add(&h);
            problems.merge(tr.problems);
        }
    }
    let phase = t0.elapsed().as_secs_f64();
    let cpu1 = server_cpu(c);
    drop(held);
    let results = json!({
        "deliveries": total,
        "deliveriesPerSec": (total as f64 / phase).round(),
        "probes": lat.len() / (2 * k.max(1)) as u64,
        "deliveryLatency": percentiles(&lat),
        "serverCpuMicrosPerDelivery": cpu_per_delivery(cpu0, cpu1, total),
        "phaseSecs": (phase * 100.0).round() / 100.0,
    });
    finish(
        c,
        "sessions",
        json!({"sessions": sessions, "players": players, "probesPerSession": probes, "questions": k, "intervalMs": interval_ms}),
        results,
        problems,
        started,
    )
}

pub async fn answers(c: &Common, players: usize, window_ms: u64) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let mut problems = Problems::default();
    let (code, mc) = match setup.session(c, "answers", 1, players).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (joined, p, _) = join_players(c, &t, &src, &code, players, "ans").await;
    problems.merge(p);
    if let Err(e) = t
        .post_ok(
            &format!("/api/sessions/{code}/question"),
            Some(&mc),
            json!({"questionId": "q0"}),
        )
        .await
    {
        return fail(c, "answers", json!({}), e, started);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = Instant::now();
    let first_send = Arc::new(AtomicU64::new(u64::MAX));
    let last_ack = Arc::new(AtomicU64::new(0));
    let timeout = Duration::from_secs(c.timeout_secs);
    let mut tasks = Vec::new();
    for (i, (mut ws, _)) in joined.into_iter().enumerate() {
        let (first_send, last_ack) = (first_send.clone(), last_ack.clone());
        let delay = Duration::from_micros(rand::random::<u64>() % (window_ms.max(1) * 1000));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((base + delay).into()).await;
            let t0 = Instant::now();
            first_send.fetch_min(base.elapsed().as_micros() as u64, Relaxed);
            send(&mut ws, json!({"type": "answer:submit", "id": "a", "data": {"questionId": "q0", "answer": i}})).await?;
            let reply = tokio::time::timeout(timeout, async {
                loop {
                    match next_json(&mut ws).await {
                        Some(Ok(v)) if v["id"] == "a" => return Ok(v),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(e),
                        None => return Err("closed".to_string()),
                    }
                }
            })
            .await
            .map_err(|_| "no ack in time".to_string())??;
            let took = t0.elapsed();
            last_ack.fetch_max(base.elapsed().as_micros() as u64, Relaxed);
            if reply["type"] == "ack" {
                Ok(took)
            } else {
                Err(format!("answer refused: {}", reply["data"]["code"]))
            }
        }));
    }
    let mut lat = histogram();
    for task in tasks {
        match task.await {
            Ok(Ok(d)) => record(&mut lat, d),
            Ok(Err(e)) => problems.error(e),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    let span = Duration::from_micros(
        last_ack
            .load(Relaxed)
            .saturating_sub(first_send.load(Relaxed)),
    );
    let results = json!({
        "acked": lat.len(),
        "ackLatency": percentiles(&lat),
        "acksPerSec": (lat.len() as f64 / span.as_secs_f64().max(1e-6)).round(),
        "firstSendToLastAckSecs": (span.as_secs_f64() * 1000.0).round() / 1000.0,
    });
    finish(
        c,
        "answers",
        json!({"players": players, "windowMs": window_ms}),
        results,
        problems,
        started,
    )
}

pub async fn joins(c: &Common, players: usize) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let (code, _) = match setup.session(c, "joins", 1, players).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sem = Arc::new(Semaphore::new(c.concurrency.max(1)));
    let order = Arc::new(AtomicU64::new(0));
    let pb = bar(c, players, "joining");
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..players {
        let (sem, src, t, code, order, pb) = (
            sem.clone(),
            src.clone(),
            t.clone(),
            code.clone(),
            order.clone(),
            pb.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let start = Instant::now();
            let mut ws = src.connect(&t).await?;
            client::join(
                &mut ws,
                json!({"sessionCode": code, "role": "player", "name": format!("j{i}")}),
            )
            .await?;
            let n = order.fetch_add(1, Relaxed);
            pb.inc(1);
            Ok::<_, String>((ws, n, start.elapsed()))
        }));
    }
    let mut problems = Problems::default();
    let mut all = histogram();
    let mut by_order = Vec::new();
    let mut sockets = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok((ws, n, d))) => {
                record(&mut all, d);
                by_order.push((n, d));
                sockets.push(ws);
            }
            Ok(Err(e)) => problems.error(e),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    let total = t0.elapsed();
    pb.finish_and_clear();
    by_order.sort();
    let tenth = (by_order.len() / 10).max(1);
    let mut first = histogram();
    let mut last = histogram();
    for (_, d) in by_order.iter().take(tenth) {
        record(&mut first, *d);
    }
    for (_, d) in by_order.iter().rev().take(tenth) {
        record(&mut last, *d);
    }
    let ratio = last.value_at_quantile(0.5) as f64 / first.value_at_quantile(0.5).max(1) as f64;
    let (_, info) = t
        .http("GET", &format!("/api/sessions/{code}"), None, None)
        .await
        .unwrap_or((0, Value::Null));
    if info["totalPlayers"].as_u64() != Some(sockets.len() as u64) {
        problems.error(format!(
            "server counts {} players, {} joined",
            info["totalPlayers"],
            sockets.len()
        ));
    }
    drop(sockets);
    let results = json!({
        "joined": by_order.len(),
        "totalSecs": (total.as_secs_f64() * 1000.0).round() / 1000.0,
        "joinsPerSec": (by_order.len() as f64 / total.as_secs_f64()).round(),
        "joinLatency": percentiles(&all),
        "firstTenthLatency": percentiles(&first),
        "lastTenthLatency": percentiles(&last),
        "lastOverFirstMedian": (ratio * 100.0).round() / 100.0,
    });
    finish(
        c,
        "joins",
        json!({"players": players, "concurrency": c.concurrency}),
        results,
        problems,
        started,
    )
}

pub async fn reconnect(c: &Common, players: usize, gap: usize) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let k = gap + 1;
    let mut problems = Problems::default();
    let (code, mc) = match setup.session(c, "reconnect", k, players).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (joined, p, _) = join_players(c, &t, &src, &code, players, "rc").await;
    problems.merge(p);
    let sent = Sent::new(k);
    // Question 0 while everyone is connected.
    let (drop_tx, drop_rx) = watch::channel(false);
    let (back_tx, back_rx) = watch::channel(false);
    let timeout = Duration::from_secs(c.timeout_secs);
    let back_at = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let mut tasks = Vec::new();
    for (i, (mut ws, j)) in joined.into_iter().enumerate() {
        let (mut drop_rx, mut back_rx, src, t, code, back_at) = (
            drop_rx.clone(),
            back_rx.clone(),
            src.clone(),
            t.clone(),
            code.clone(),
            back_at.clone(),
        );
        let token = j["token"].as_str().unwrap_or_default().to_string();
        tasks.push(tokio::spawn(async move {
            let mut tr = Tracker::default();
            // Read until told to drop (after question 0 closed).
            loop {
                tokio::select! {
                    _ = drop_rx.changed() => break,
                    next = next_json(&mut ws) => match next {
                        Some(Ok(v)) => { tr.see(&v); }
                        _ => { tr.problems.error("closed before the drop"); break; }
                    }
                }
            }
            let _ = ws.close(None).await;
            drop(ws);
            let _ = back_rx.changed().await;
            let since = tr.last_seq;
            let mut ws = src.connect(&t).await?;
            let j = client::join(
                &mut ws,
                json!({"sessionCode": code, "role": "player", "token": token, "since": since}),
            )
            .await?;
            if j["resync"] == true {
                tr.problems.error("resync instead of resume");
                return Ok((tr, Duration::ZERO, i));
            }
            let caught = tokio::time::timeout(timeout, async {
                while tr.closed.get(&gap).copied().unwrap_or(0) == 0 {
                    match next_json(&mut ws).await {
                        Some(Ok(v)) => {
                            tr.see(&v);
                        }
                        Some(Err(e)) => return Err(e),
                        None => return Err("closed".to_string()),
                    }
                }
                Ok(())
            })
            .await;
            match caught {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tr.problems.error(e),
                Err(_) => tr.problems.error("not caught up in time"),
            }
            let took = Duration::from_micros(
                (base.elapsed().as_micros() as u64).saturating_sub(back_at.load(Relaxed)),
            );
            tr.settle(0..k);
            Ok::<_, String>((tr, took, i))
        }));
    }
    if let Err(e) = run_questions(&t, &code, &mc, 0..1, Duration::from_millis(400), &sent).await {
        problems.error(e);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = drop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Err(e) = run_questions(&t, &code, &mc, 1..k, Duration::from_millis(200), &sent).await {
        problems.error(e);
    }
    back_at.store(base.elapsed().as_micros() as u64, Relaxed);
    let _ = back_tx.send(true);
    let mut lat = histogram();
    let mut caught_up = Duration::ZERO;
    for task in tasks {
        match task.await {
            Ok(Ok((tr, d, _))) => {
                record(&mut lat, d);
                caught_up = caught_up.max(d);
                problems.merge(tr.problems);
            }
            Ok(Err(e)) => problems.error(e),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    let results = json!({
        "resumed": lat.len(),
        "allCaughtUpSecs": (caught_up.as_secs_f64() * 1000.0).round() / 1000.0,
        "catchUpLatency": percentiles(&lat),
        "gapQuestions": gap,
    });
    finish(
        c,
        "reconnect",
        json!({"players": players, "gapQuestions": gap}),
        results,
        problems,
        started,
    )
}

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
