//! Players following one session while someone else kills a node: the
//! longest gap each player saw, reconnects, resyncs, kill-to-resumed.
//!
//! The scenario kills nothing. N players join over the `--target`s in turn
//! and read every event; the MC opens and closes a question on a fixed
//! cadence (open at `i × interval`, close half an interval later, no
//! question timer), its HTTP calls failing over to the next target. A
//! player whose socket closes or fails reconnects to the next target
//! (round-robin from its own, a refused node skipped at once, backing off
//! 125 ms .. 2 s after a full round of refusals) and resumes with its token
//! and `since` = the last seq it saw. A `resync: true` is a problem.
//! Checked for every player: each seq once and in order, each question's
//! open and close exactly once (after a resume too), and each with the same
//! seq as every other player got it with.
//!
//! **The gap.** Between questions the session sends nothing, so silence
//! alone is not a gap. For each question event (open or close of question
//! i, in order) a player waited from the later of (a) the moment the MC
//! first asked for the event and (b) the moment the player got the
//! previous question event, until the event reached it (live or in the
//! replay after its resume). A player's *longest gap* is the largest such
//! wait: the longest time it went without its stream while the session was
//! sending (the MC had asked for something the player did not have yet). On
//! a quiet run it is the delivery latency; through a kill it is the
//! takeover (for everyone: the MC's command waits for the next owner) plus,
//! for the dead node's players, their reconnect and resume. The session's
//! own stall (the same wait measured on the earliest arrival among all
//! players) is reported beside it, and so is each player's longest *lag*:
//! how long after the earliest player it got a question event (the cost of
//! its own reconnect and resume, without the session's stall).

use super::*;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Close codes after which the protocol says not to reconnect.
const TERMINAL: [&str; 6] = [
    "closed 4000",
    "closed 4001",
    "closed 4003",
    "closed 4004",
    "closed 4009",
    "closed 4010",
];

/// What every player shares.
struct Ctx {
    sent: Arc<Sent>,
    targets: Vec<SocketAddr>,
    src: Arc<Sources>,
    code: String,
    k: usize,
    deadline: Instant,
    /// Connection attempts at once while resuming (as when joining).
    resuming: Semaphore,
}

impl Ctx {
    fn now(&self) -> u64 {
        (self.sent.base.elapsed().as_micros() as u64).max(1)
    }
}

/// One player's run.
#[derive(Default)]
struct Followed {
    tr: Tracker,
    /// µs since the base at which each question event arrived (slot 2i:
    /// open of question i, 2i+1: its close); 0: never.
    arrival: Vec<u64>,
    /// The seq each question event came with (the same for every player).
    seqs: Vec<u64>,
    reconnects: u32,
    resynced: u32,
    /// Why its sockets ended ("closed 1001", "socket: ...").
    reasons: Vec<String>,
    /// Each resume: (close seen, joined again), µs since the base.
    resumes: Vec<(u64, u64)>,
    /// When its first socket ended (µs since the base).
    first_close: Option<u64>,
    lost: bool,
}

async fn follow(ctx: Arc<Ctx>, mut ws: Ws, joined: Value) -> Followed {
    let k = ctx.k;
    let mut f = Followed {
        arrival: vec![0; 2 * k],
        seqs: vec![0; 2 * k],
        ..Default::default()
    };
    let token = joined["token"].as_str().unwrap_or_default().to_string();
    f.tr.last_seq = joined["seq"].as_u64().unwrap_or(0);
    let n = ctx.targets.len();
    let mut cur = ws
        .get_ref()
        .peer_addr()
        .ok()
        .and_then(|a| ctx.targets.iter().position(|t| *t == a))
        .unwrap_or(0);
    while !f.tr.closed.contains_key(&(k - 1)) {
        let next = tokio::time::timeout_at(ctx.deadline.into(), next_json(&mut ws)).await;
        let why = match next {
            Ok(Some(Ok(v))) => {
                if let Some((opened, i)) = f.tr.see(&v) {
                    let slot = 2 * i + usize::from(!opened);
                    if i < k && f.arrival[slot] == 0 {
                        f.arrival[slot] = ctx.now();
                        f.seqs[slot] = v["seq"].as_u64().unwrap_or(0);
                    }
                }
                continue;
            }
            Ok(Some(Err(e))) if e.starts_with("bad JSON") => {
                f.tr.problems.error(e);
                continue;
            }
            Ok(Some(Err(e))) => e,
            Ok(None) => "socket: ended".to_string(),
            Err(_) => {
                f.tr.problems.error("timed out following the session");
                f.lost = true;
                break;
            }
        };
        let closed_at = ctx.now();
        f.first_close.get_or_insert(closed_at);
        let reason = if why.starts_with("closed") {
            why.clone()
        } else {
            "socket error or reset".to_string()
        };
        f.reasons.push(reason);
        if TERMINAL.contains(&why.as_str()) {
            f.tr.problems.error(format!("terminal close: {why}"));
            f.lost = true;
            break;
        }
        drop(ws);
        f.reconnects += 1;
        match resume(&ctx, &mut cur, n, &token, f.tr.last_seq).await {
            Ok((w, j)) => {
                f.resumes.push((closed_at, ctx.now()));
                if j["resync"] == true {
                    f.resynced += 1;
                    f.tr.problems.error("resync instead of resume");
                    f.tr.last_seq = f.tr.last_seq.max(j["seq"].as_u64().unwrap_or(0));
                }
                ws = w;
            }
            Err(e) => {
                f.tr.problems.error(e);
                f.lost = true;
                break;
            }
        }
    }
    f.tr.settle(0..k);
    f
}

/// Reconnects to the next target (from `cur`, round-robin) and rejoins with
/// `since`; a node that refuses is skipped at once, a full round of
/// refusals backs off. Until the run's deadline.
async fn resume(
    ctx: &Ctx,
    cur: &mut usize,
    n: usize,
    token: &str,
    since: u64,
) -> Result<(Ws, Value), String> {
    let mut backoff = Duration::from_millis(125);
    let mut tries = 0usize;
    loop {
        *cur = (*cur + 1) % n;
        let addr = ctx.targets[*cur];
        let attempt = async {
            let _permit = ctx.resuming.acquire().await;
            let mut ws = ctx.src.connect_to(addr).await?;
            let j = client::join(
                &mut ws,
                json!({"sessionCode": ctx.code, "role": "player", "token": token, "since": since}),
            )
            .await?;
            Ok::<_, String>((ws, j))
        };
        let err = match tokio::time::timeout(Duration::from_secs(15), attempt).await {
            Ok(Ok(x)) => return Ok(x),
            Ok(Err(e)) => e,
            Err(_) => "resume timed out".to_string(),
        };
        tries += 1;
        if tries % n == 0 {
            let jitter = Duration::from_millis(rand::random::<u64>() % 125);
            if Instant::now() + backoff > ctx.deadline {
                return Err(format!("could not resume: {err}"));
            }
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// The MC's calls, failing over: a call that cannot connect, breaks, times
/// out or is answered 5xx (`UNAVAILABLE` is 503) is sent again to the next
/// target, backing off 100 ms .. 1 s. A 409 to a call sent again means an
/// earlier try landed (its answer was lost with the node): the question
/// was already opened or closed.
#[derive(Default)]
struct Mc {
    calls: u64,
    retries: u64,
    landed_earlier: u64,
    longest: Duration,
}

impl Mc {
    async fn call(
        &mut self,
        t: &Target,
        path: &str,
        mc: &str,
        body: Value,
        until: Instant,
    ) -> Result<(), String> {
        let t0 = Instant::now();
        self.calls += 1;
        let mut backoff = Duration::from_millis(100);
        let mut retried = false;
        loop {
            let r = tokio::time::timeout(
                Duration::from_secs(20),
                t.http("POST", path, Some(mc), Some(&body)),
            )
            .await;
            let err = match r {
                Ok(Ok((s, _))) if (200..300).contains(&s) => break,
                Ok(Ok((409, _))) if retried => {
                    self.landed_earlier += 1;
                    break;
                }
                Ok(Ok((s, v))) if s >= 500 => format!("POST {path}: {s} {v}"),
                Ok(Ok((s, v))) => return Err(format!("POST {path}: {s} {v}")),
                Ok(Err(e)) => format!("POST {path}: {e}"),
                Err(_) => format!("POST {path}: no answer in 20 s"),
            };
            if Instant::now() + backoff > until {
                return Err(err);
            }
            retried = true;
            self.retries += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
        self.longest = self.longest.max(t0.elapsed());
        Ok(())
    }

    /// Question i opens at `i × interval` and closes half an interval
    /// later; a call that returned late (a takeover) moves the rest of the
    /// plan back, so events stay at least half an interval apart.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &mut self,
        t: &Target,
        code: &str,
        mc: &str,
        k: usize,
        interval: Duration,
        sent: &Sent,
        until: Instant,
    ) -> Result<(), String> {
        let half = interval / 2;
        let mut at = Instant::now();
        for i in 0..2 * k {
            tokio::time::sleep_until(at.into()).await;
            let (q, path, body) = if i % 2 == 0 {
                let body = json!({"questionId": format!("q{}", i / 2), "timeLimitSec": 0});
                (&sent.open, format!("/api/sessions/{code}/question"), body)
            } else {
                let path = format!("/api/sessions/{code}/question/close");
                (&sent.close, path, json!({}))
            };
            sent.mark(q, i / 2);
            self.call(t, &path, mc, body, until).await?;
            at += half;
            if at < Instant::now() {
                at = Instant::now() + half;
            }
        }
        Ok(())
    }
}

fn secs(us: u64) -> Value {
    json!((us as f64 / 1e3).round() / 1e3)
}

pub async fn gaps(c: &Common, players: usize, duration_secs: u64, interval_ms: u64) -> Report {
    let setup = Setup::new(c);
    let (started, t, src) = (setup.started, setup.t.clone(), setup.src.clone());
    let interval = Duration::from_millis(interval_ms);
    let k = ((duration_secs * 1000) / interval_ms).max(1) as usize;
    let params = json!({"players": players, "durationSecs": duration_secs, "intervalMs": interval_ms,
                        "questions": k, "targets": t.addrs().len()});
    let mut problems = Problems::default();
    let (code, mc) = match setup.session(c, "gaps", k, players).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (joined, p, join_lat) = join_players(c, &t, &src, &code, players, "gap").await;
    problems.merge(p);
    let n = joined.len();
    let sent = Sent::new(k);
    let base_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let run_for = interval * k as u32 + Duration::from_secs(c.timeout_secs);
    let ctx = Arc::new(Ctx {
        sent: sent.clone(),
        targets: t.addrs().to_vec(),
        src: src.clone(),
        code: code.clone(),
        k,
        deadline: Instant::now() + run_for,
        resuming: Semaphore::new(c.concurrency.max(1)),
    });
    let followers: Vec<_> = joined
        .into_iter()
        .map(|(ws, j)| tokio::spawn(follow(ctx.clone(), ws, j)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let unix_now = base_unix_ms + sent.base.elapsed().as_millis() as u64;
    eprintln!("gaps: running {code} {unix_now} {interval_ms}");
    let mut mcs = Mc::default();
    if let Err(e) = mcs
        .run(&t, &code, &mc, k, interval, &sent, ctx.deadline)
        .await
    {
        problems.error(format!("mc: {e}"));
    }
    let mut all = Vec::with_capacity(n);
    for f in followers {
        match f.await {
            Ok(f) => all.push(f),
            Err(e) => problems.error(format!("task: {e}")),
        }
    }
    let asked: Vec<u64> = (0..2 * k)
        .map(|s| {
            let v = if s % 2 == 0 { &sent.open } else { &sent.close };
            v[s / 2].load(Relaxed)
        })
        .collect();
    // The earliest arrival of each question event among all players.
    let first: Vec<u64> = (0..2 * k)
        .map(|s| {
            all.iter()
                .map(|f| f.arrival[s])
                .filter(|&a| a > 0)
                .min()
                .unwrap_or(0)
        })
        .collect();
    let longest_gap = |arrival: &[u64]| -> u64 {
        let mut worst = 0;
        for s in 0..arrival.len() {
            if arrival[s] == 0 {
                continue; // missed: counted by the tracker
            }
            let prev = if s > 0 { arrival[s - 1] } else { 0 };
            worst = worst.max(arrival[s].saturating_sub(prev.max(asked[s])));
        }
        worst
    };
    let stall = longest_gap(&first);
    let (mut gap_all, mut gap_moved, mut gap_stayed) = (histogram(), histogram(), histogram());
    let (mut lag, mut lag_moved, mut lag_stayed) = (histogram(), histogram(), histogram());
    let mut resume_lat = histogram();
    let mut reasons: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut moved, mut reconnects, mut resynced, mut lost) = (0u64, 0u64, 0u64, 0u64);
    let mut first_close: Option<u64> = None;
    let mut last_resumed: Option<u64> = None;
    for f in &all {
        let g = Duration::from_micros(longest_gap(&f.arrival));
        let behind = (0..2 * k)
            .filter(|&s| f.arrival[s] > 0)
            .map(|s| f.arrival[s] - first[s])
            .max()
            .unwrap_or(0);
        let behind = Duration::from_micros(behind);
        record(&mut gap_all, g);
        record(&mut lag, behind);
        if f.reconnects > 0 {
            moved += 1;
            record(&mut gap_moved, g);
            record(&mut lag_moved, behind);
        } else {
            record(&mut gap_stayed, g);
            record(&mut lag_stayed, behind);
        }
        reconnects += f.reconnects as u64;
        resynced += f.resynced as u64;
        lost += u64::from(f.lost);
        for r in &f.reasons {
            *reasons.entry(r.clone()).or_default() += 1;
        }
        for &(closed, back) in &f.resumes {
            record(&mut resume_lat, Duration::from_micros(back - closed));
            last_resumed = Some(last_resumed.unwrap_or(0).max(back));
        }
        if let Some(closed) = f.first_close {
            first_close = Some(first_close.map_or(closed, |c: u64| c.min(closed)));
        }
    }
    // The first question event any player got after the first close (the
    // session sending again), and when the last player had it.
    let after = first_close.and_then(|fc| (0..2 * k).find(|&s| first[s] > fc));
    let all_caught_up = after.map(|s| all.iter().map(|f| f.arrival[s]).max().unwrap_or(0));
    // Every player got each question event with the same seq (one history,
    // whichever node served it, before and after the takeover).
    let mut diverged = 0u64;
    for s in 0..2 * k {
        let mut seen = all.iter().map(|f| f.seqs[s]).filter(|&q| q > 0);
        if let Some(q0) = seen.next() {
            diverged += seen.filter(|&q| q != q0).count() as u64;
        }
    }
    if diverged > 0 {
        *problems
            .errors
            .entry("a question event with another seq than other players got".into())
            .or_default() += diverged;
    }
    for f in all {
        problems.merge(f.tr.problems);
    }
    let unix = |us: Option<u64>| us.map(|u| base_unix_ms + u / 1000);
    let since_close = |us: Option<u64>| match (first_close, us) {
        (Some(fc), Some(u)) if u > 0 => secs(u.saturating_sub(fc)),
        _ => Value::Null,
    };
    let results = json!({
        "joined": n,
        "questions": k,
        "longestGap": percentiles(&gap_all),
        "longestGapReconnected": percentiles(&gap_moved),
        "longestGapStayed": percentiles(&gap_stayed),
        "sessionStallSecs": secs(stall),
        "longestLagBehindFirst": percentiles(&lag),
        "longestLagReconnected": percentiles(&lag_moved),
        "longestLagStayed": percentiles(&lag_stayed),
        "reconnectedPlayers": moved,
        "reconnects": reconnects,
        "resynced": resynced,
        "lostPlayers": lost,
        "disconnects": reasons,
        "resumeLatency": percentiles(&resume_lat),
        "killToResumedSecs": since_close(last_resumed),
        "killToSessionSendingSecs": since_close(after.map(|s| first[s])),
        "killToAllCaughtUpSecs": since_close(all_caught_up),
        "firstCloseUnixMs": unix(first_close),
        "lastResumedUnixMs": unix(last_resumed),
        "allCaughtUpUnixMs": unix(all_caught_up),
        "mc": {"calls": mcs.calls, "retries": mcs.retries, "landedEarlier": mcs.landed_earlier,
               "longestCallSecs": (mcs.longest.as_secs_f64() * 1000.0).round() / 1000.0},
        "joinLatency": percentiles(&join_lat),
    });
    finish(c, "gaps", params, results, problems, started)
}
