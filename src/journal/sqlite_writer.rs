//! The log's writer thread: batches ops from the queue into one transaction
//! (one fsync per burst), fences every append by position and epoch, and
//! answers each append once its batch is committed (or refused).

use super::*;

/// The writer's end of the queue: every op taken lowers the count.
pub(super) struct Queue {
    pub(super) rx: Receiver<Op>,
    pub(super) queued: Arc<AtomicUsize>,
}

impl Queue {
    fn taken(&self, op: Op) -> Op {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        op
    }
    fn recv(&self) -> Result<Op, std::sync::mpsc::RecvError> {
        self.rx.recv().map(|op| self.taken(op))
    }
    fn try_recv(&self) -> Result<Op, std::sync::mpsc::TryRecvError> {
        self.rx.try_recv().map(|op| self.taken(op))
    }
    fn recv_timeout(&self, d: Duration) -> Result<Op, std::sync::mpsc::RecvTimeoutError> {
        self.rx.recv_timeout(d).map(|op| self.taken(op))
    }
}

pub(super) fn writer(mut conn: Connection, rx: Queue, mut ends: Ends, metrics: Arc<Metrics>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let until = Instant::now() + LINGER;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() || matches!(batch.last(), Some(Op::Flush(_))) {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
            }
        }
        let started = Instant::now();
        let mut fenced: Vec<Option<AppendFailure>> = vec![None; batch.len()];
        let result = write_batch(&mut conn, &batch, &ends, &mut fenced);
        metrics.journal_commit(started.elapsed(), batch.len());
        let failure = match &result {
            Ok(new_ends) => {
                for (code, end) in new_ends {
                    ends.insert(code.clone(), *end);
                }
                None
            }
            Err(e) => {
                log::error!("log commit failed: {e}");
                Some(AppendFailure::Unavailable(e.to_string()))
            }
        };
        for (op, fence) in batch.into_iter().zip(fenced) {
            let result = match (&failure, fence) {
                (Some(f), _) => Err(f.clone()),
                (None, Some(f)) => Err(f),
                (None, None) => Ok(()),
            };
            match op {
                Op::Append(a) => {
                    let upto = a.records.last().map_or(a.expected, |r| r.pos);
                    (a.notify)(Committed {
                        generation: a.generation,
                        upto,
                        result,
                    });
                }
                Op::Create(_, done) => {
                    let _ = done.send(result);
                }
                Op::Flush(tx) => {
                    let _ = tx.send(());
                }
                _ => {}
            }
        }
    }
}

/// Writes one batch in one transaction; returns where each appended
/// session's log now ends. An append whose fence does not hold is skipped
/// and its failure noted in `fenced`.
fn write_batch(
    conn: &mut Connection,
    batch: &[Op],
    ends: &Ends,
    fenced: &mut [Option<AppendFailure>],
) -> Result<Ends, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut moved: Ends = HashMap::new();
    let mut seqs: HashMap<&str, u64> = HashMap::new();
    for (i, op) in batch.iter().enumerate() {
        match op {
            Op::Create(h, _) => {
                delete_session(&tx, &h.code)?;
                let settings = serde_json::to_string(&h.settings).unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO sessions (code, nonce, title, settings, created_ms, ended_ms, seq, pos, epoch)
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, 0, 0, 1)",
                )?
                .execute(params![h.code, h.nonce, h.title, settings, h.created_ms as i64])?;
                moved.insert(h.code.clone(), (1, 0));
            }
            Op::Append(a) => {
                let end = moved.get(&a.code).or_else(|| ends.get(&a.code)).copied();
                match end {
                    Some((epoch, pos)) if epoch == a.epoch && pos == a.expected => {}
                    other => {
                        let (epoch, stored) = other.unwrap_or((0, 0));
                        fenced[i] = Some(AppendFailure::Fenced { stored, epoch });
                        continue;
                    }
                }
                let mut last = a.expected;
                for r in &a.records {
                    write_record(&tx, &a.code, a.epoch, r)?;
                    last = r.pos;
                    if let Some(e) = r.events.last() {
                        seqs.insert(a.code.as_str(), e.seq);
                    }
                }
                moved.insert(a.code.clone(), (a.epoch, last));
            }
            Op::Snapshot {
                code,
                pos,
                seq,
                v,
                state,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO snapshots (code, pos, seq, v, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    code,
                    *pos as i64,
                    *seq as i64,
                    *v,
                    state
                ])?;
                tx.prepare_cached("DELETE FROM facts WHERE code = ?1 AND pos <= ?2")?
                    .execute(params![code, *pos as i64])?;
                tx.prepare_cached("DELETE FROM events WHERE code = ?1 AND seq <= ?2")?
                    .execute(params![code, seq.saturating_sub(EVENTS_KEPT) as i64])?;
            }
            Op::Ended { code, at_ms } => {
                tx.prepare_cached("UPDATE sessions SET ended_ms = ?2 WHERE code = ?1")?
                    .execute(params![code, *at_ms as i64])?;
            }
            Op::Delete { code } => delete_session(&tx, code)?,
            Op::Flush(_) => {}
        }
    }
    for (code, (_, pos)) in &moved {
        let seq = seqs.get(code.as_str()).copied().unwrap_or(0);
        tx.prepare_cached("UPDATE sessions SET pos = ?2, seq = max(seq, ?3) WHERE code = ?1")?
            .execute(params![code, *pos as i64, seq as i64])?;
    }
    #[cfg(feature = "failpoints")]
    fail::fail_point!("log-commit", |_| Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("injected: database or disk is full".into())
    )));
    tx.commit()?;
    Ok(moved)
}

fn write_record(
    tx: &rusqlite::Transaction,
    code: &str,
    epoch: u64,
    r: &Record,
) -> Result<(), rusqlite::Error> {
    let body = serde_json::to_vec(&r.facts).unwrap_or_default();
    tx.prepare_cached("INSERT INTO facts (code, pos, v, epoch, body) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![
            code,
            r.pos as i64,
            crate::game::fact::version_of(&r.facts),
            epoch as i64,
            body
        ])?;
    let mut ev = tx.prepare_cached(
        "INSERT INTO events (code, seq, pos, audience, frame) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in &r.events {
        let audience = serde_json::to_string(&e.audience).unwrap_or_default();
        ev.execute(params![
            code,
            e.seq as i64,
            r.pos as i64,
            audience,
            &*e.frame
        ])?;
    }
    Ok(())
}
