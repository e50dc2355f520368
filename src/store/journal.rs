//! The session journal: every state-changing command of every session, in
//! SQLite, written by one thread off the actors' threads. Whatever arrives
//! while a commit is running is written together in the next transaction
//! (group commit), so a burst of answers costs a few commits, not thousands.
//! After each commit, sessions are told how far their commands are durable,
//! and only then do they acknowledge.

use crate::game::state::Settings;
use crate::game::Command;
use crate::metrics::Metrics;
use actix::{Message, Recipient};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::StoreError;

/// Ops waiting for the writer before senders are refused (never blocks an actor).
const QUEUE: usize = 262_144;
/// Most ops in one transaction.
const MAX_BATCH: usize = 16_384;

/// Tells a session that its commands up to `upto` are committed (or failed).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Committed {
    pub upto: u64,
    pub ok: bool,
}

/// One thing to write.
pub enum Op {
    CreateSession {
        code: String,
        nonce: String,
        title: String,
        settings: Settings,
        created_ms: u64,
    },
    /// A session's `n`th command, applied when the session's seq was `seq`.
    Command {
        code: String,
        n: u64,
        seq: u64,
        cmd: Box<Command>,
        notify: Recipient<Committed>,
    },
    /// The highest seq a session has sent so far.
    Seq {
        code: String,
        seq: u64,
    },
    Ended {
        code: String,
        at_ms: u64,
    },
    Delete {
        code: String,
    },
    /// Replies once everything before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// The journal is not taking more writes right now.
#[derive(Debug, thiserror::Error)]
#[error("the journal is overloaded or stopped")]
pub struct JournalBusy;

/// A session as the journal remembers it.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub code: String,
    pub nonce: String,
    pub title: String,
    pub settings: Settings,
    pub ended_ms: Option<u64>,
    pub seq: u64,
    /// Commands in order, with the count of the last one.
    pub commands: Vec<Command>,
    pub last_n: u64,
}

/// Handle to the writer thread.
pub struct Journal {
    tx: Mutex<Option<SyncSender<Op>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpoints: Mutex<Option<(JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>)>>,
}

/// How often the WAL is checkpointed into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn checkpoint_loop(conn: Connection, stop: Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            log::warn!("journal checkpoint: {e}");
        }
    }
    // Leave a small WAL behind on a clean stop.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

fn schema(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS sessions (
            code TEXT PRIMARY KEY, nonce TEXT NOT NULL, title TEXT NOT NULL,
            settings TEXT NOT NULL, created_ms INTEGER NOT NULL,
            ended_ms INTEGER, seq INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE IF NOT EXISTS commands (
            code TEXT NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL, cmd TEXT NOT NULL,
            PRIMARY KEY (code, n)) WITHOUT ROWID;",
    )?;
    Ok(())
}

impl Journal {
    /// Opens the journal at `path` and reads back every stored session, first
    /// deleting ended sessions older than `retention_ms`.
    pub fn open(
        path: &Path,
        durable: bool,
        retention_ms: u64,
        metrics: Arc<Metrics>,
    ) -> Result<(Journal, Vec<StoredSession>), StoreError> {
        let conn = super::open(path)?;
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        schema(&conn)?;
        let now = crate::protocol::now_ms();
        conn.execute(
            "DELETE FROM commands WHERE code IN (SELECT code FROM sessions WHERE ended_ms IS NOT NULL AND ended_ms < ?1)",
            params![now.saturating_sub(retention_ms) as i64],
        )?;
        conn.execute(
            "DELETE FROM sessions WHERE ended_ms IS NOT NULL AND ended_ms < ?1",
            params![now.saturating_sub(retention_ms) as i64],
        )?;
        let stored = load(&conn)?;
        // Checkpoints copy the WAL into the database and fsync it; done inside
        // a commit they stall every ack queued behind it. A separate
        // connection checkpoints instead (PASSIVE: never blocks the writer).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = super::open(path)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let checkpoints = std::thread::Builder::new()
            .name("quizcast-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stop2))?;
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("quizcast-journal".into())
            .spawn(move || writer(conn, rx, metrics))?;
        Ok((
            Journal {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                checkpoints: Mutex::new(Some((checkpoints, stop))),
            },
            stored,
        ))
    }

    /// Queues an op without blocking.
    pub fn send(&self, op: Op) -> Result<(), JournalBusy> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref().map(|tx| tx.try_send(op)) {
            Some(Ok(())) => Ok(()),
            Some(Err(TrySendError::Full(_))) | Some(Err(TrySendError::Disconnected(_))) | None => {
                Err(JournalBusy)
            }
        }
    }

    /// Waits until everything queued so far is committed (blocking; for
    /// shutdown and tests, never on an actor's thread).
    pub fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.send(Op::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Commits what is queued and stops the writer.
    pub fn close(&self) {
        self.flush();
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        if let Some((t, stop)) = self
            .checkpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = t.join();
        }
    }
}

fn load(conn: &Connection) -> Result<Vec<StoredSession>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT code, nonce, title, settings, ended_ms, seq FROM sessions ORDER BY created_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut cmds = conn.prepare("SELECT n, seq, cmd FROM commands WHERE code = ?1 ORDER BY n")?;
    for row in rows {
        let (code, nonce, title, settings, ended_ms, seq) = row?;
        let mut stored = StoredSession {
            settings: serde_json::from_str(&settings).unwrap_or_default(),
            code,
            nonce,
            title,
            ended_ms: ended_ms.map(|x| x as u64),
            seq: seq as u64,
            commands: Vec::new(),
            last_n: 0,
        };
        let list = cmds.query_map(params![stored.code], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for c in list {
            let (n, seq, text) = c?;
            stored.last_n = n as u64;
            stored.seq = stored.seq.max(seq as u64);
            match serde_json::from_str(&text) {
                Ok(cmd) => stored.commands.push(cmd),
                Err(e) => log::error!("session {}: unreadable command {n}: {e}", stored.code),
            }
        }
        out.push(stored);
    }
    Ok(out)
}

/// After the first op of a batch, how long to wait for more before
/// committing: a burst then costs one fsync per millisecond, not one per op.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

fn writer(mut conn: Connection, rx: Receiver<Op>, metrics: Arc<Metrics>) {
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
        let ok = match write_batch(&mut conn, &batch) {
            Ok(()) => true,
            Err(e) => {
                log::error!("journal commit failed: {e}");
                false
            }
        };
        metrics.journal_commit(started.elapsed(), batch.len());
        let mut done: HashMap<&str, (u64, &Recipient<Committed>)> = HashMap::new();
        for op in &batch {
            match op {
                Op::Command {
                    code, n, notify, ..
                } => {
                    let e = done.entry(code.as_str()).or_insert((*n, notify));
                    e.0 = e.0.max(*n);
                }
                Op::Flush(tx) => {
                    let _ = tx.send(());
                }
                _ => {}
            }
        }
        for (_, (upto, r)) in done {
            r.do_send(Committed { upto, ok });
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[Op]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    for op in batch {
        match op {
            Op::CreateSession {
                code,
                nonce,
                title,
                settings,
                created_ms,
            } => {
                let settings = serde_json::to_string(settings).unwrap_or_default();
                tx.prepare_cached("DELETE FROM commands WHERE code = ?1")?
                    .execute(params![code])?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO sessions (code, nonce, title, settings, created_ms, ended_ms, seq) VALUES (?1, ?2, ?3, ?4, ?5, NULL, 0)",
                )?
                .execute(params![code, nonce, title, settings, *created_ms as i64])?;
            }
            Op::Command {
                code, n, seq, cmd, ..
            } => {
                let text = serde_json::to_string(cmd).unwrap_or_default();
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO commands (code, n, seq, cmd) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![code, *n as i64, *seq as i64, text])?;
            }
            Op::Seq { code, seq } => {
                tx.prepare_cached("UPDATE sessions SET seq = max(seq, ?2) WHERE code = ?1")?
                    .execute(params![code, *seq as i64])?;
            }
            Op::Ended { code, at_ms } => {
                tx.prepare_cached("UPDATE sessions SET ended_ms = ?2 WHERE code = ?1")?
                    .execute(params![code, *at_ms as i64])?;
            }
            Op::Delete { code } => {
                tx.prepare_cached("DELETE FROM commands WHERE code = ?1")?
                    .execute(params![code])?;
                tx.prepare_cached("DELETE FROM sessions WHERE code = ?1")?
                    .execute(params![code])?;
            }
            Op::Flush(_) => {}
        }
    }
    tx.commit()
}
