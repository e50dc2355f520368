//! Everyone drops and resumes with `since`: nothing missed, nothing twice.

use super::*;

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
