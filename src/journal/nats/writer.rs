//! The JetStream writer: one task that turns queued appends into fenced
//! publishes. Each session has at most one publish in flight; whatever it
//! appends meanwhile goes out together in its next message (group commit
//! per session: a burst of answers costs one replicated write per round
//! trip, not one per answer), while different sessions publish side by
//! side (publish async, await the acks together).
//!
//! Publishing itself, with its retries, is in [`super::publish`].

use super::lease::Gate;
use super::publish::{publish, resolve, Outcome};
use super::read::{self, End, Kept, SessionEntry};
use super::{subject, ClusterError, Handles, Op, EVENTS_KEPT, H_EPOCH, H_POS, H_SEQ, H_VERSION};
use crate::game::fact::FACT_VERSION;
use crate::game::{Audience, Fact};
use crate::journal::{Append, AppendFailure, Committed, SessionHeader, StoredSession};
use crate::metrics::Metrics;
use crate::store::StoreError;
use async_nats::header::{NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
use async_nats::HeaderMap;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Room left in a message for its headers.
const HEADER_ROOM: usize = 1024;

/// A record as written (borrowed; read back as [`read::WireRecord`], which
/// must keep the same field names).
#[derive(Serialize)]
struct RecordOut<'a> {
    pos: u64,
    facts: &'a [Fact],
    events: Vec<EventOut<'a>>,
}

#[derive(Serialize)]
struct EventOut<'a> {
    seq: u64,
    audience: &'a Audience,
    frame: &'a str,
}

/// One message in flight: the appends it carries and where it leaves the
/// session's log if it lands.
struct Batch {
    code: String,
    appends: Vec<Append>,
    /// Appends that did not chain, answered after the others (in order).
    refused: Vec<(Append, AppendFailure)>,
    end: End,
    started: Instant,
    /// The message as logged, relayed to edges once it landed (edge.rs).
    relay: (HeaderMap, bytes::Bytes),
}

pub(super) struct Writer {
    h: Handles,
    metrics: Arc<Metrics>,
    /// Where each session's log ends, as this writer knows it: the fence.
    ends: HashMap<String, End>,
    /// Messages still in the stream per session (for trimming).
    index: HashMap<String, VecDeque<Kept>>,
    queued: HashMap<String, VecDeque<Append>>,
    /// Sessions with a publish in flight.
    busy: HashSet<String>,
    /// Makes message ids unique to this process (see `start`).
    instance: String,
    flushes: Vec<std::sync::mpsc::Sender<()>>,
    /// The newest snapshot waiting to be written, per session.
    snap_next: HashMap<String, (u64, u64, u32, Vec<u8>)>,
    /// Sessions with a snapshot being written.
    snap_busy: HashSet<String>,
    /// Whether this node's lease lets it write a session now.
    gate: Arc<Gate>,
}

type Inflight = FuturesUnordered<BoxFuture<'static, (Batch, Outcome)>>;
/// Snapshot writes: (code, pos, seq, how it went).
type Snapshots = FuturesUnordered<BoxFuture<'static, (String, u64, u64, Result<(), ClusterError>)>>;

impl Writer {
    pub fn new(h: Handles, metrics: Arc<Metrics>, gate: Arc<Gate>) -> Writer {
        Writer {
            h,
            metrics,
            ends: HashMap::new(),
            index: HashMap::new(),
            queued: HashMap::new(),
            busy: HashSet::new(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            flushes: Vec::new(),
            snap_next: HashMap::new(),
            snap_busy: HashSet::new(),
            gate,
        }
    }

    /// A session read back at start: its fence and its kept messages.
    pub fn know(&mut self, s: &StoredSession, end: End, index: Vec<Kept>) {
        self.ends.insert(s.header.code.clone(), end);
        self.index.insert(s.header.code.clone(), index.into());
    }

    pub async fn run(mut self, mut rx: tokio::sync::mpsc::Receiver<Op>) {
        let mut inflight: Inflight = FuturesUnordered::new();
        let mut snaps: Snapshots = FuturesUnordered::new();
        let mut open = true;
        loop {
            tokio::select! {
                op = rx.recv(), if open => match op {
                    Some(op) => {
                        self.handle(op).await;
                        while let Ok(op) = rx.try_recv() {
                            self.handle(op).await;
                        }
                    }
                    None => open = false,
                },
                Some((batch, outcome)) = inflight.next(), if !inflight.is_empty() => {
                    self.finish(batch, outcome).await;
                }
                Some((code, pos, seq, r)) = snaps.next(), if !snaps.is_empty() => {
                    self.snap_busy.remove(&code);
                    match r {
                        Ok(()) => self.trim(&code, pos, seq).await,
                        Err(e) => log::warn!("session {code}: snapshot at {pos} not written: {e}"),
                    }
                }
                else => {}
            }
            self.start_ready(&mut inflight).await;
            self.start_snapshots(&mut snaps);
            let idle = inflight.is_empty()
                && snaps.is_empty()
                && self.snap_next.is_empty()
                && self.queued.values().all(VecDeque::is_empty);
            if idle {
                for f in self.flushes.drain(..) {
                    let _ = f.send(());
                }
                if !open {
                    return;
                }
            }
        }
    }

    async fn handle(&mut self, op: Op) {
        match op {
            Op::Append(a) => self.queued.entry(a.code.clone()).or_default().push_back(a),
            Op::Create(header, done) => {
                let r = self.create(&header).await;
                if let Err(e) = &r {
                    log::error!("session {}: create: {e}", header.code);
                }
                let _ = done.send(r);
            }
            Op::Snapshot {
                code,
                pos,
                seq,
                v,
                state,
            } => {
                // A newer snapshot replaces one still waiting.
                self.snap_next.insert(code, (pos, seq, v, state));
            }
            Op::Ended { code, at_ms } => {
                if let Err(e) = self.ended(&code, at_ms).await {
                    log::warn!("session {code}: could not mark it ended: {e}");
                }
            }
            Op::Delete { code } => {
                self.ends.remove(&code);
                self.queued.remove(&code);
                self.snap_next.remove(&code);
                self.index.remove(&code);
                if let Err(e) = delete_session(&self.h, &code).await {
                    log::warn!("session {code}: delete: {e}");
                }
            }
            Op::Adopt { code, end, index } => {
                self.ends.insert(code.clone(), *end);
                self.index.insert(code, index.into());
            }
            Op::Flush(tx) => self.flushes.push(tx),
        }
    }

    /// Records a new session at epoch 1, position 0. A code used before by
    /// a session that has ended starts clean; a live one is refused.
    async fn create(&mut self, header: &SessionHeader) -> Result<(), AppendFailure> {
        let code = header.code.as_str();
        let unavailable = |e: &dyn std::fmt::Display| AppendFailure::Unavailable(e.to_string());
        subject(code).map_err(|e| unavailable(&e))?;
        let body =
            serde_json::to_vec(&SessionEntry::new(header, 1)).map_err(|e| unavailable(&e))?;
        match self.h.sessions.create(code, body.clone().into()).await {
            Ok(_) => {}
            Err(e) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                // Never wipe a session that has not ended (another node's,
                // once several nodes share the cluster): pick another code.
                let live = read::entry(&self.h, code)
                    .await
                    .map_err(|e| unavailable(&e))?
                    .is_some_and(|e| e.ended_ms.is_none());
                if live {
                    return Err(AppendFailure::Unavailable(format!(
                        "session code {code} is in use in the cluster"
                    )));
                }
                delete_session(&self.h, code)
                    .await
                    .map_err(|e| unavailable(&e))?;
                self.h
                    .sessions
                    .put(code, body.into())
                    .await
                    .map_err(|e| unavailable(&e))?;
            }
            Err(e) => return Err(unavailable(&e)),
        }
        self.ends.insert(
            code.to_string(),
            End {
                epoch: 1,
                ..End::default()
            },
        );
        self.index.remove(code);
        Ok(())
    }

    /// Publishes the next batch of every session that has appends queued
    /// and nothing in flight.
    async fn start_ready(&mut self, inflight: &mut Inflight) {
        let ready: Vec<String> = self
            .queued
            .iter()
            .filter(|(c, q)| !q.is_empty() && !self.busy.contains(*c))
            .map(|(c, _)| c.clone())
            .collect();
        for code in ready {
            if !self.gate.allows(&code) {
                // Paused, cut off, or taken over: never write on a lease
                // that may have expired.
                let why = AppendFailure::Unavailable(format!(
                    "this node's lease on session {code} is not confirmed"
                ));
                for a in self.queued.remove(&code).unwrap_or_default() {
                    notify(a, Err(why.clone()));
                }
                continue;
            }
            let end = match self.ends.get(&code) {
                Some(e) => *e,
                None => match resolve(&self.h, &code).await {
                    Ok(e) => {
                        self.ends.insert(code.clone(), e);
                        e
                    }
                    Err(e) => {
                        let why = AppendFailure::Unavailable(e.to_string());
                        for a in self.queued.remove(&code).unwrap_or_default() {
                            notify(a, Err(why.clone()));
                        }
                        continue;
                    }
                },
            };
            if let Some(fut) = self.start(&code, end) {
                self.busy.insert(code);
                inflight.push(fut);
            }
        }
        self.queued.retain(|_, q| !q.is_empty());
    }

    /// Takes the appends that chain onto `end` (refusing those that do
    /// not: a stale position or another epoch), up to the server's largest
    /// message, into one fenced publish.
    fn start(&mut self, code: &str, end: End) -> Option<BoxFuture<'static, (Batch, Outcome)>> {
        let queue = self.queued.get_mut(code)?;
        let budget = self.h.max_payload.saturating_sub(HEADER_ROOM).max(1024);
        let mut payload = vec![b'['];
        let mut appends = Vec::new();
        let mut refused = Vec::new();
        let mut next = end;
        while let Some(a) = queue.pop_front() {
            if a.epoch != end.epoch || a.expected != next.pos {
                let fenced = AppendFailure::Fenced {
                    stored: next.pos,
                    epoch: end.epoch,
                };
                refused.push((a, fenced));
                continue;
            }
            let mut piece = Vec::new();
            let mut seq = next.seq;
            for r in &a.records {
                let out = RecordOut {
                    pos: r.pos,
                    facts: &r.facts,
                    events: r
                        .events
                        .iter()
                        .map(|e| EventOut {
                            seq: e.seq,
                            audience: &e.audience,
                            frame: &e.frame,
                        })
                        .collect(),
                };
                if !piece.is_empty() {
                    piece.push(b',');
                }
                // Facts and events are plain data: this cannot fail.
                if let Err(e) = serde_json::to_writer(&mut piece, &out) {
                    log::error!("session {code}: record {}: {e}", r.pos);
                }
                seq = r.events.last().map_or(seq, |e| e.seq.max(seq));
            }
            if payload.len() + piece.len() + 2 > budget {
                if appends.is_empty() {
                    let why = format!(
                        "a record of {} bytes is larger than the NATS server's max_payload ({})",
                        piece.len(),
                        self.h.max_payload
                    );
                    log::error!("session {code}: {why}");
                    notify(a, Err(AppendFailure::Unavailable(why)));
                    continue;
                }
                queue.push_front(a);
                break;
            }
            if piece.is_empty() {
                // Nothing to write: it chains trivially.
                notify(a, Ok(()));
                continue;
            }
            if appends.is_empty() {
                payload.extend_from_slice(&piece);
            } else {
                payload.push(b',');
                payload.extend_from_slice(&piece);
            }
            next.pos = a.records.last().map_or(next.pos, |r| r.pos);
            next.seq = seq;
            appends.push(a);
        }
        payload.push(b']');
        let Some(first_append) = appends.first() else {
            for (a, why) in refused {
                notify(a, Err(why));
            }
            return None;
        };
        let first = first_append.expected + 1;
        let mut headers = HeaderMap::new();
        headers.insert(H_VERSION, FACT_VERSION.to_string().as_str());
        headers.insert(H_EPOCH, end.epoch.to_string().as_str());
        headers.insert(H_POS, format!("{first}-{}", next.pos).as_str());
        headers.insert(H_SEQ, next.seq.to_string().as_str());
        // Unique to this batch (the generation changes on a roll-back that
        // proposes other records at the same positions), so the dedup
        // window only ever matches a retry of this very publish.
        let msg_id = format!(
            "{code}.{first}-{}.{}.{}.{}",
            next.pos, end.epoch, first_append.generation, self.instance
        );
        headers.insert(NATS_MESSAGE_ID, msg_id.as_str());
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            end.subject_seq.to_string().as_str(),
        );
        let payload = bytes::Bytes::from(payload);
        let batch = Batch {
            code: code.to_string(),
            appends,
            refused,
            end: next,
            started: Instant::now(),
            relay: (headers.clone(), payload.clone()),
        };
        let h = self.h.clone();
        let subject = match subject(code) {
            Ok(s) => s,
            Err(e) => {
                let why = AppendFailure::Unavailable(e.to_string());
                for a in batch.appends {
                    notify(a, Err(why.clone()));
                }
                for (a, why) in batch.refused {
                    notify(a, Err(why));
                }
                return None;
            }
        };
        Some(Box::pin(async move {
            let outcome = publish(&h, subject, headers, payload, &msg_id).await;
            (batch, outcome)
        }))
    }

    /// A publish ended: the session's end moves (or is forgotten) and every
    /// append in it hears the outcome.
    async fn finish(&mut self, batch: Batch, outcome: Outcome) {
        let code = batch.code.clone();
        self.busy.remove(&code);
        self.metrics
            .journal_commit(batch.started.elapsed(), batch.appends.len());
        let result = match outcome {
            Outcome::Landed(stream_seq) => {
                let end = End {
                    subject_seq: stream_seq,
                    ..batch.end
                };
                self.ends.insert(code.clone(), end);
                self.index.entry(code.clone()).or_default().push_back(Kept {
                    last_pos: end.pos,
                    last_seq: end.seq,
                    stream_seq,
                });
                let (headers, payload) = batch.relay.clone();
                super::edge::relay(&self.h, &code, headers, payload).await;
                Ok(())
            }
            Outcome::Fenced => {
                let now = resolve(&self.h, &code).await;
                let (stored, epoch) = match &now {
                    Ok(e) => (e.pos, e.epoch),
                    Err(_) => (0, 0),
                };
                match now {
                    Ok(e) => self.ends.insert(code.clone(), e),
                    Err(_) => self.ends.remove(&code),
                };
                log::error!("session {code}: the log moved under this writer (now at {stored}, epoch {epoch})");
                Err(AppendFailure::Fenced { stored, epoch })
            }
            Outcome::Unavailable(why) => {
                // The outcome is unknown: read the end back before the next
                // publish of this session.
                self.ends.remove(&code);
                log::error!("session {code}: the log could not be written: {why}");
                Err(AppendFailure::Unavailable(why))
            }
        };
        for a in batch.appends {
            notify(a, result.clone());
        }
        for (a, why) in batch.refused {
            notify(a, Err(why));
        }
    }

    /// Writes the waiting snapshots off the publish path (a large one takes
    /// a while and must not hold up every session's commits), one at a time
    /// per session so an older one never lands over a newer one.
    fn start_snapshots(&mut self, snaps: &mut Snapshots) {
        let ready: Vec<String> = self
            .snap_next
            .keys()
            .filter(|c| !self.snap_busy.contains(*c))
            .cloned()
            .collect();
        for code in ready {
            let Some((pos, seq, v, state)) = self.snap_next.remove(&code) else {
                continue;
            };
            self.snap_busy.insert(code.clone());
            let store = self.h.snapshots.clone();
            snaps.push(Box::pin(async move {
                let r = write_snapshot(&store, &code, pos, seq, v, state).await;
                (code, pos, seq, r)
            }));
        }
    }

    /// After a snapshot at `pos` (`seq`): purges the messages it replaces
    /// whose events are more than [`EVENTS_KEPT`] seqs old.
    async fn trim(&mut self, code: &str, pos: u64, seq: u64) {
        let keep_from = seq.saturating_sub(EVENTS_KEPT);
        let Some(idx) = self.index.get_mut(code) else {
            return;
        };
        let mut below = None;
        // The last message always stays: it is the fence.
        while idx.len() > 1 {
            match idx.front() {
                Some(k) if k.last_pos <= pos && k.last_seq <= keep_from => {
                    below = Some(k.stream_seq + 1);
                    idx.pop_front();
                }
                _ => break,
            }
        }
        let (Some(n), Ok(subject)) = (below, subject(code)) else {
            return;
        };
        if let Err(e) = self.h.stream.purge().filter(subject).sequence(n).await {
            log::warn!("session {code}: trimming the log below {n}: {e}");
        }
    }

    async fn ended(&mut self, code: &str, at_ms: u64) -> Result<(), StoreError> {
        let Some(mut e) = read::entry(&self.h, code).await? else {
            return Ok(());
        };
        e.ended_ms = Some(at_ms);
        let body = serde_json::to_vec(&e).map_err(|e| ClusterError::request("session entry", e))?;
        self.h
            .sessions
            .put(code, body.into())
            .await
            .map_err(|e| ClusterError::request("mark a session ended", e))?;
        Ok(())
    }
}

/// Stores a snapshot: a `{"v","pos","seq"}` line, then the state.
async fn write_snapshot(
    store: &async_nats::jetstream::object_store::ObjectStore,
    code: &str,
    pos: u64,
    seq: u64,
    v: u32,
    state: Vec<u8>,
) -> Result<(), ClusterError> {
    let meta = read::SnapshotMeta { v, pos, seq };
    let mut body = serde_json::to_vec(&meta).map_err(|e| ClusterError::request("snapshot", e))?;
    body.push(b'\n');
    body.extend_from_slice(&state);
    store
        .put(code, &mut body.as_slice())
        .await
        .map_err(|e| ClusterError::request("write a snapshot", e))?;
    Ok(())
}

fn notify(a: Append, result: Result<(), AppendFailure>) {
    let upto = a.records.last().map_or(a.expected, |r| r.pos);
    (a.notify)(Committed {
        generation: a.generation,
        upto,
        result,
    });
}

/// Removes a session's records, snapshot and entry (the entry last, so a
/// crash midway leaves it listed and deleted again).
pub(super) async fn delete_session(h: &Handles, code: &str) -> Result<(), ClusterError> {
    use async_nats::jetstream::object_store::DeleteErrorKind;
    let subject = subject(code)?;
    h.stream
        .purge()
        .filter(subject)
        .await
        .map_err(|e| ClusterError::request("purge a session", e))?;
    match h.snapshots.delete(code).await {
        Ok(()) => {}
        Err(e) if e.kind() == DeleteErrorKind::NotFound => {}
        Err(e) => return Err(ClusterError::request("delete a snapshot", e)),
    }
    h.sessions
        .purge(code)
        .await
        .map_err(|e| ClusterError::request("delete a session", e))?;
    Ok(())
}
