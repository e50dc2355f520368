//! One big session, and many sessions at once: delivery latency and CPU.

use super::*;

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
