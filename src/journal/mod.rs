//! The session log: the single truth about every session. A session actor
//! decides a command into facts, numbers the events those facts produce,
//! and appends both here as one record; only once the log has committed a
//! record are its events fanned out and its callers answered. A restart (or
//! another node) rebuilds each session from its latest snapshot plus the
//! records after it, and refills the replay ring from the logged events.
//!
//! [`SessionLog`] is the interface; [`sqlite::SqliteLog`] is the embedded
//! implementation, [`nats::NatsLog`] the replicated one (cluster mode,
//! NATS JetStream). Appends are fenced: each carries the ownership epoch and
//! the position it expects the session's log to be at, and fails if another
//! writer (or an earlier failed append) moved it, so two writers can never
//! fork a session's history.

pub mod legacy;
pub mod nats;
pub mod sqlite;

use crate::game::state::Settings;
use crate::game::{Audience, Fact, GameState};
use actix::Message;
use bytestring::ByteString;

/// A sequenced event as every recipient got it: the same bytes after a
/// restart as before.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub seq: u64,
    pub audience: Audience,
    pub frame: ByteString,
}

/// One decided command (or one batch of derived events, with no facts):
/// position `pos` in the session's log.
#[derive(Debug, Clone)]
pub struct Record {
    pub pos: u64,
    pub facts: Vec<Fact>,
    pub events: Vec<LoggedEvent>,
}

/// Records to append for one session, fenced by `expected`: the position
/// of the session's last record before these.
pub struct Append {
    pub code: String,
    pub epoch: u64,
    pub expected: u64,
    /// The session's rollback generation, echoed in [`Committed`] so a
    /// late answer about records it already gave up on is ignored.
    pub generation: u64,
    pub records: Vec<Record>,
    /// Told how the append went (from the log's own thread).
    pub notify: Notify,
}

/// Where the answer to an append goes (a session actor's mailbox, usually).
pub type Notify = Box<dyn FnOnce(Committed) + Send>;

/// Whether a session should write a snapshot now: when the records since
/// the last one outnumber `min_records` and a quarter of the state's size
/// (so a snapshot costs O(1) per record), but not while a question is open
/// (the burst of answers) unless the tail has grown four times past that.
pub fn snapshot_due(since: usize, size: usize, question_open: bool, min_records: usize) -> bool {
    let threshold = min_records.max(size / 4);
    since >= threshold && (!question_open || since >= 4 * threshold)
}

/// Why an append did not land.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendFailure {
    /// The store could not write (disk full, I/O error, overloaded).
    #[error("the log could not be written: {0}")]
    Unavailable(String),
    /// Someone else moved the session's log (or an earlier append failed).
    #[error("the log is at position {stored} (epoch {epoch}), not the expected one")]
    Fenced { stored: u64, epoch: u64 },
}

/// The log's answer to one [`Append`].
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Committed {
    pub generation: u64,
    /// Position of the last record of the append.
    pub upto: u64,
    pub result: Result<(), AppendFailure>,
}

/// What a session is created with.
#[derive(Debug, Clone)]
pub struct SessionHeader {
    pub code: String,
    pub nonce: String,
    pub title: String,
    pub settings: Settings,
    pub created_ms: u64,
}

/// A session as read back from the log.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub header: SessionHeader,
    pub ended_ms: Option<u64>,
    pub epoch: u64,
    /// The state as of `pos`: snapshot plus every later record's facts.
    pub state: GameState,
    pub pos: u64,
    /// The last seq sent.
    pub seq: u64,
    /// The most recent events, oldest first (for the replay ring).
    pub events: Vec<LoggedEvent>,
}

/// The log queue is full or stopped; nothing was queued.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the log is overloaded or stopped")]
pub struct LogBusy;

/// The log every session writes to (see the module docs). Every method is
/// non-blocking except `flush` and `close`, which never run on an actor's
/// thread.
pub trait SessionLog: Send + Sync {
    /// Records a new session; `done` hears whether it is durable.
    fn create(
        &self,
        header: SessionHeader,
        done: tokio::sync::oneshot::Sender<Result<(), AppendFailure>>,
    ) -> Result<(), LogBusy>;
    /// Appends records; the session hears [`Committed`].
    fn append(&self, append: Append) -> Result<(), LogBusy>;
    /// Stores the state as of `pos` (and `seq`) and trims what it replaces.
    /// `v`: the format version of `state` (`GameState::format_version`).
    fn snapshot(
        &self,
        code: &str,
        pos: u64,
        seq: u64,
        v: u32,
        state: Vec<u8>,
    ) -> Result<(), LogBusy>;
    /// Marks a session ended (kept readable for the retention time).
    fn ended(&self, code: &str, at_ms: u64) -> Result<(), LogBusy>;
    /// Forgets a session.
    fn delete(&self, code: &str) -> Result<(), LogBusy>;
    /// Codes of the sessions the log holds that have not ended (blocking).
    fn live_sessions(&self) -> Result<Vec<String>, crate::store::StoreError>;
    /// One session as of its last record: snapshot plus the records after
    /// it, and its last `events` events (blocking; a takeover or an edge).
    fn read_session(
        &self,
        code: &str,
        events: usize,
    ) -> Result<Option<StoredSession>, crate::store::StoreError>;
    /// Up to `limit` events after `seq`, oldest first (blocking; a resume
    /// older than the ring).
    fn events_after(
        &self,
        code: &str,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, crate::store::StoreError>;
    /// Waits until everything queued so far is written (shutdown, tests).
    fn flush(&self);
    /// Writes what is queued and stops.
    fn close(&self);
}

/// Serializes one event as sequence number `seq` for `audience`: the bytes
/// every recipient gets, and the log keeps.
pub fn logged(
    code: &str,
    seq: u64,
    now_ms: u64,
    e: &crate::game::GameEvent,
    audience: Audience,
) -> LoggedEvent {
    LoggedEvent {
        seq,
        audience,
        frame: crate::protocol::event_frame(code, seq, now_ms, e),
    }
}

/// Before a recovered session serves anyone: a question whose deadline
/// passed while no one owned the session is closed now, and the close is
/// in the log before the session is started (blocking: start-up only), so
/// no client can see the question open after its deadline.
pub fn close_overdue(
    log: &dyn SessionLog,
    s: &mut StoredSession,
    now_ms: u64,
) -> Result<(), AppendFailure> {
    use crate::game::events::CloseReason;
    use crate::game::Command;
    let Some((deadline, opening)) = s.state.open_timer() else {
        return Ok(());
    };
    if deadline > now_ms || s.ended_ms.is_some() {
        return Ok(());
    }
    let close = Command::CloseQuestion {
        reason: CloseReason::Timer,
        opening: Some(opening),
    };
    let Ok(decision) = s.state.decide(close) else {
        return Ok(());
    };
    let mut state = s.state.clone();
    let mut events = Vec::new();
    let mut seq = s.seq;
    for f in &decision.facts {
        for e in state.evolve(f) {
            seq += 1;
            events.push(logged(&s.header.code, seq, now_ms, &e, e.audience()));
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let append = Append {
        code: s.header.code.clone(),
        epoch: s.epoch,
        expected: s.pos,
        generation: 0,
        records: vec![Record {
            pos: s.pos + 1,
            facts: decision.facts,
            events: events.clone(),
        }],
        notify: Box::new(move |c| {
            let _ = tx.send(c);
        }),
    };
    log.append(append)
        .map_err(|e| AppendFailure::Unavailable(e.to_string()))?;
    let committed = rx
        .recv()
        .map_err(|e| AppendFailure::Unavailable(e.to_string()))?;
    committed.result?;
    s.state = state;
    s.pos += 1;
    s.seq = seq;
    s.events.extend(events);
    Ok(())
}
