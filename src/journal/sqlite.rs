//! The embedded session log: SQLite, written by one thread off the actors'
//! threads. Whatever arrives while a commit runs is written together in the
//! next transaction (group commit), so a burst of answers costs a few
//! commits, not thousands. After each commit every session is told how its
//! appends went, and only then do its events go out.

use super::{
    Append, AppendFailure, Committed, LogBusy, LoggedEvent, Record, SessionHeader, SessionLog,
    StoredSession,
};
use crate::game::fact::FACT_VERSION;
use crate::game::{Audience, Fact, GameState};
use crate::metrics::Metrics;
use crate::store::{self, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Ops waiting for the writer before senders are refused (never blocks an
/// actor). Counted beside an unbounded channel rather than a `sync_channel`
/// of this capacity, which allocates (and, as its ring turns over, keeps
/// resident) every slot up front: 25 MB for a queue that is nearly always
/// empty.
const QUEUE: usize = 262_144;
/// Most ops in one transaction.
const MAX_BATCH: usize = 16_384;
/// After the first op of a batch, how long to wait for more before
/// committing: a burst then costs one fsync per millisecond, not one per op.
const LINGER: Duration = Duration::from_millis(1);
/// How often the WAL is checkpointed into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Events kept in the log behind a snapshot, for clients resuming with `since`.
pub const EVENTS_KEPT: u64 = 20_000;

/// One thing for the writer to do.
enum Op {
    /// Boxed: the header (with its settings) is the largest payload, and
    /// every op is moved through the writer's queue.
    Create(
        Box<SessionHeader>,
        tokio::sync::oneshot::Sender<Result<(), AppendFailure>>,
    ),
    Append(Append),
    Snapshot {
        code: String,
        pos: u64,
        seq: u64,
        v: u32,
        state: Vec<u8>,
    },
    Ended {
        code: String,
        at_ms: u64,
    },
    Delete {
        code: String,
    },
    /// Replies once everything before it is written.
    Flush(std::sync::mpsc::Sender<()>),
}

/// How recovery reads the log.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Ended sessions older than this are deleted first.
    pub retention_ms: u64,
    /// Most recent events read back per session (for the replay ring).
    pub ring_events: usize,
    /// Sessions whose unreadable records are set aside instead of stopping
    /// the start (their rows stay untouched).
    pub quarantine: HashSet<String>,
}

/// Handle to the writer thread.
pub struct SqliteLog {
    /// Reads (never on an actor's thread) on their own connection: WAL
    /// readers never block the writer.
    reader: Mutex<Connection>,
    tx: Mutex<Option<Sender<Op>>>,
    /// Ops sent and not yet taken by the writer (the bound on `tx`).
    queued: Arc<AtomicUsize>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpoints: Mutex<Option<(JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>)>>,
}

/// Where each session's log ends, as the writer knows it: the fence.
type Ends = HashMap<String, (u64, u64)>;

impl SqliteLog {
    /// Opens the log at `path` and reads back every stored session.
    pub fn open(
        path: &Path,
        durable: bool,
        opts: &LoadOptions,
        metrics: Arc<Metrics>,
    ) -> Result<(SqliteLog, Vec<StoredSession>), StoreError> {
        let mut conn = store::open(path)?;
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        super::legacy::convert(&mut conn)?;
        let cutoff = crate::protocol::now_ms().saturating_sub(opts.retention_ms) as i64;
        let old: Vec<String> = conn
            .prepare("SELECT code FROM sessions WHERE ended_ms IS NOT NULL AND ended_ms < ?1")?
            .query_map(params![cutoff], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for code in old {
            delete_session(&conn, &code)?;
        }
        let started = Instant::now();
        let stored = load(path, &conn, opts)?;
        if !stored.is_empty() {
            log::info!(
                "read {} session(s) back from the log in {} ms",
                stored.len(),
                started.elapsed().as_millis()
            );
        }
        let ends: Ends = stored
            .iter()
            .map(|s| (s.header.code.clone(), (s.epoch, s.pos)))
            .collect();
        // Checkpoints copy the WAL into the database and fsync it; done inside
        // a commit they stall every ack queued behind it. A separate
        // connection checkpoints instead (PASSIVE: never blocks the writer).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = store::open(path)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let checkpoints = std::thread::Builder::new()
            .name("quizcast-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stop2))?;
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = Queue {
            rx,
            queued: queued.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("quizcast-log".into())
            .spawn(move || writer(conn, taken, ends, metrics))?;
        let reader = Mutex::new(store::open(path)?);
        Ok((
            SqliteLog {
                reader,
                tx: Mutex::new(Some(tx)),
                queued,
                thread: Mutex::new(Some(thread)),
                checkpoints: Mutex::new(Some((checkpoints, stop))),
            },
            stored,
        ))
    }

    /// Appends, handing the append back while the queue is full (for a
    /// bulk writer that waits instead of refusing, e.g. the recovery bench).
    pub fn append_or_return(&self, append: Append) -> Result<(), Append> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(append);
        };
        match self.try_send(tx, Op::Append(append)) {
            Ok(()) => Ok(()),
            Err(Op::Append(a)) => Err(a),
            Err(_) => Ok(()),
        }
    }

    /// Sends unless `QUEUE` ops are already waiting (or the writer is gone),
    /// handing the op back.
    fn try_send(&self, tx: &Sender<Op>, op: Op) -> Result<(), Op> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(op);
        }
        tx.send(op).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            e.0
        })
    }

    fn send(&self, op: Op) -> Result<(), LogBusy> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref().map(|tx| self.try_send(tx, op)) {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) | None => Err(LogBusy),
        }
    }
}

impl SessionLog for SqliteLog {
    fn create(
        &self,
        header: SessionHeader,
        done: tokio::sync::oneshot::Sender<Result<(), AppendFailure>>,
    ) -> Result<(), LogBusy> {
        self.send(Op::Create(Box::new(header), done))
    }

    fn append(&self, append: Append) -> Result<(), LogBusy> {
        self.send(Op::Append(append))
    }

    fn snapshot(
        &self,
        code: &str,
        pos: u64,
        seq: u64,
        v: u32,
        state: Vec<u8>,
    ) -> Result<(), LogBusy> {
        self.send(Op::Snapshot {
            code: code.to_string(),
            pos,
            seq,
            v,
            state,
        })
    }

    fn ended(&self, code: &str, at_ms: u64) -> Result<(), LogBusy> {
        self.send(Op::Ended {
            code: code.to_string(),
            at_ms,
        })
    }

    fn delete(&self, code: &str) -> Result<(), LogBusy> {
        self.send(Op::Delete {
            code: code.to_string(),
        })
    }

    fn live_sessions(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let codes = conn
            .prepare_cached("SELECT code FROM sessions WHERE ended_ms IS NULL ORDER BY created_ms")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(codes)
    }

    fn read_session(&self, code: &str, events: usize) -> Result<Option<StoredSession>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let opts = LoadOptions {
            ring_events: events,
            ..LoadOptions::default()
        };
        let mut stmt = conn.prepare_cached(
            "SELECT nonce, title, settings, created_ms, ended_ms, seq, pos, epoch FROM sessions WHERE code = ?1",
        )?;
        let row = stmt
            .query_row(params![code], |r| {
                Ok((
                    SessionHeader {
                        code: code.to_string(),
                        nonce: r.get(0)?,
                        title: r.get(1)?,
                        settings: Default::default(),
                        created_ms: r.get::<_, i64>(3)? as u64,
                    },
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)? as u64,
                    r.get::<_, i64>(6)? as u64,
                    r.get::<_, i64>(7)? as u64,
                ))
            })
            .optional()?;
        let Some((mut header, settings, ended, seq, pos, epoch)) = row else {
            return Ok(None);
        };
        header.settings = serde_json::from_str(&settings)
            .map_err(|e| unreadable(code, 0, "session settings", e))?;
        let mut s = load_one(&conn, header, seq, pos, epoch, &opts)?;
        s.ended_ms = ended.map(|x| x as u64);
        Ok(Some(s))
    }

    fn events_after(
        &self,
        code: &str,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT seq, audience, frame FROM events WHERE code = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let mut rows = stmt.query(params![code, seq as i64, limit as i64])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let s = r.get::<_, i64>(0)? as u64;
            let audience: Audience = serde_json::from_str(&r.get::<_, String>(1)?)
                .map_err(|e| unreadable(code, s, "event audience", e))?;
            out.push(LoggedEvent {
                seq: s,
                audience,
                frame: r.get::<_, String>(2)?.into(),
            });
        }
        Ok(out)
    }

    fn flush(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.send(Op::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    fn close(&self) {
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

fn checkpoint_loop(conn: Connection, stop: Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            log::warn!("log checkpoint: {e}");
        }
    }
    // Leave a small WAL behind on a clean stop.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

fn delete_session(conn: &Connection, code: &str) -> Result<(), rusqlite::Error> {
    for table in ["facts", "events", "snapshots", "sessions"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE code = ?1"))?
            .execute(params![code])?;
    }
    Ok(())
}

/// A record the reader cannot use, with where it is.
fn unreadable(code: &str, pos: u64, what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unreadable {
        code: code.to_string(),
        pos,
        reason: format!("{what}: {why}"),
    }
}

fn check_version(code: &str, pos: u64, what: &str, v: u32) -> Result<(), StoreError> {
    if v == 0 || v > FACT_VERSION {
        return Err(unreadable(
            code,
            pos,
            what,
            format!("format version {v}; this build reads 1 to {FACT_VERSION}"),
        ));
    }
    Ok(())
}

/// Reads every session back, spread over the cores (each thread on its own
/// read connection: parsing snapshots and replaying records is CPU work).
fn load(
    path: &Path,
    conn: &Connection,
    opts: &LoadOptions,
) -> Result<Vec<StoredSession>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT code, nonce, title, settings, created_ms, ended_ms, seq, pos, epoch
         FROM sessions ORDER BY created_ms",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                SessionHeader {
                    code: r.get(0)?,
                    nonce: r.get(1)?,
                    title: r.get(2)?,
                    settings: Default::default(),
                    created_ms: r.get::<_, i64>(4)? as u64,
                },
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, i64>(6)? as u64,
                r.get::<_, i64>(7)? as u64,
                r.get::<_, i64>(8)? as u64,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, rows.len().max(1));
    // Session i goes to thread i % threads; results come back in order.
    let results: Vec<Vec<Result<Option<StoredSession>, StoreError>>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let mine: Vec<_> = rows.iter().skip(t).step_by(threads).cloned().collect();
                    scope.spawn(move || -> Vec<Result<Option<StoredSession>, StoreError>> {
                        let conn = match store::open(path) {
                            Ok(c) => c,
                            Err(e) => return vec![Err(e)],
                        };
                        mine.into_iter()
                            .map(|row| load_row(&conn, row, opts))
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(StoreError::Io(std::io::Error::other(
                            "a recovery thread panicked",
                        )))]
                    })
                })
                .collect()
        });
    let _ = conn;
    let mut per_thread: Vec<_> = results.into_iter().map(|v| v.into_iter()).collect();
    let mut out = Vec::new();
    for i in 0..rows.len() {
        match per_thread[i % threads].next() {
            Some(Ok(Some(s))) => out.push(s),
            Some(Ok(None)) => {}
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(out)
}

/// One row of `sessions`: (header, settings, ended, seq, pos, epoch).
type SessionRow = (SessionHeader, String, Option<i64>, u64, u64, u64);

/// Loads one session; `None` when it is quarantined.
fn load_row(
    conn: &Connection,
    (mut header, settings, ended_ms, seq, pos, epoch): SessionRow,
    opts: &LoadOptions,
) -> Result<Option<StoredSession>, StoreError> {
    let loaded = serde_json::from_str(&settings)
        .map_err(|e| unreadable(&header.code, 0, "session settings", e))
        .and_then(|settings| {
            header.settings = settings;
            load_one(conn, header.clone(), seq, pos, epoch, opts)
        });
    match loaded {
        Ok(mut s) => {
            s.ended_ms = ended_ms.map(|x| x as u64);
            Ok(Some(s))
        }
        Err(e @ StoreError::Unreadable { .. }) if opts.quarantine.contains(&header.code) => {
            log::error!(
                "session {} quarantined (left untouched in the log): {e}",
                header.code
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn load_one(
    conn: &Connection,
    header: SessionHeader,
    seq: u64,
    pos: u64,
    epoch: u64,
    opts: &LoadOptions,
) -> Result<StoredSession, StoreError> {
    let code = header.code.clone();
    let snap: Option<(u64, u64, u32, Vec<u8>)> = conn
        .prepare_cached("SELECT pos, seq, v, body FROM snapshots WHERE code = ?1")?
        .query_row(params![code], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, u32>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    let (mut state, from) = match snap {
        Some((spos, _, v, body)) => {
            check_version(&code, spos, "snapshot", v)?;
            let state: GameState = serde_json::from_slice(&body)
                .map_err(|e| unreadable(&code, spos, "snapshot", e))?;
            (state, spos)
        }
        None => (
            GameState::new(code.clone(), header.title.clone(), header.settings.clone()),
            0,
        ),
    };
    let mut last = from;
    let mut facts = conn.prepare_cached(
        "SELECT pos, v, body FROM facts WHERE code = ?1 AND pos > ?2 ORDER BY pos",
    )?;
    let mut rows = facts.query(params![code, from as i64])?;
    while let Some(r) = rows.next()? {
        let p = r.get::<_, i64>(0)? as u64;
        check_version(&code, p, "record", r.get::<_, u32>(1)?)?;
        let body: Vec<u8> = r.get(2)?;
        let list: Vec<Fact> =
            serde_json::from_slice(&body).map_err(|e| unreadable(&code, p, "record", e))?;
        if p != last + 1 {
            return Err(unreadable(&code, p, "record", format!("gap after {last}")));
        }
        for f in &list {
            state.evolve(f);
        }
        last = p;
    }
    if last != pos {
        return Err(unreadable(
            &code,
            last,
            "log",
            format!("ends at {last} but the session says {pos}"),
        ));
    }
    let mut events = Vec::new();
    let mut ev = conn.prepare_cached(
        "SELECT seq, audience, frame FROM events WHERE code = ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let mut rows = ev.query(params![code, opts.ring_events as i64])?;
    while let Some(r) = rows.next()? {
        let s = r.get::<_, i64>(0)? as u64;
        let audience: Audience = serde_json::from_str(&r.get::<_, String>(1)?)
            .map_err(|e| unreadable(&code, s, "event audience", e))?;
        let frame: String = r.get(2)?;
        events.push(LoggedEvent {
            seq: s,
            audience,
            frame: frame.into(),
        });
    }
    events.reverse();
    Ok(StoredSession {
        header,
        ended_ms: None,
        epoch,
        state,
        pos,
        seq,
        events,
    })
}

#[path = "sqlite_writer.rs"]
mod writer;
use writer::{writer, Queue};

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;
