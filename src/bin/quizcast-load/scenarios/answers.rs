//! Answers (durable acks) and joins: latency and rate.

use super::*;

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
