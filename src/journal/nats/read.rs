//! Reading the JetStream log: the wire formats, a session rebuilt from its
//! snapshot plus the records after it, resumes, the list of live sessions.
//! Reads go through the stream leader (the message-get API and an ordered
//! consumer), never a follower's possibly older copy, and stop at the last
//! message the leader had when the read began.

use super::{subject, ClusterError, Handles, H_EPOCH, H_POS, H_SEQ, H_VERSION, REQUEST_TIMEOUT};
use crate::game::fact::FACT_VERSION;
use crate::game::state::Settings;
use crate::game::{Audience, Fact, GameState};
use crate::journal::{LoggedEvent, SessionHeader, StoredSession};
use crate::store::StoreError;
use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::HeaderMap;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use tokio::io::AsyncReadExt;

/// One record as stored in a message (a message holds one or more).
#[derive(Serialize, Deserialize)]
pub(super) struct WireRecord {
    pub pos: u64,
    pub facts: Vec<Fact>,
    pub events: Vec<WireEvent>,
}

/// One sequenced event, with the exact bytes clients got.
#[derive(Serialize, Deserialize)]
pub(super) struct WireEvent {
    pub seq: u64,
    pub audience: Audience,
    pub frame: String,
}

/// A session's entry in the sessions bucket.
#[derive(Serialize, Deserialize)]
pub(super) struct SessionEntry {
    pub v: u32,
    pub nonce: String,
    pub title: String,
    pub settings: Settings,
    pub created_ms: u64,
    pub ended_ms: Option<u64>,
    /// The ownership epoch the session's records are written under.
    pub epoch: u64,
}

impl SessionEntry {
    pub fn new(h: &SessionHeader, epoch: u64) -> SessionEntry {
        SessionEntry {
            v: FACT_VERSION,
            nonce: h.nonce.clone(),
            title: h.title.clone(),
            settings: h.settings.clone(),
            created_ms: h.created_ms,
            ended_ms: None,
            epoch,
        }
    }
}

/// The first line of a snapshot object.
#[derive(Serialize, Deserialize)]
pub(super) struct SnapshotMeta {
    pub v: u32,
    pub pos: u64,
    pub seq: u64,
}

/// Where a session's log ends: what a writer needs for the fence.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct End {
    pub epoch: u64,
    pub pos: u64,
    /// Last event seq written.
    pub seq: u64,
    /// Stream sequence of the session's last message (0: none).
    pub subject_seq: u64,
}

/// A message still in the stream, for trimming behind a snapshot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    pub last_pos: u64,
    pub last_seq: u64,
    pub stream_seq: u64,
}

/// A session read back, with what its writer needs to go on.
pub(super) struct Loaded {
    pub session: StoredSession,
    pub end: End,
    pub index: Vec<Kept>,
}

/// How recovery reads the log.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Ended sessions older than this are deleted first.
    pub retention_ms: u64,
    /// Most recent events read back per session (for the replay ring).
    pub ring_events: usize,
    /// Sessions whose unreadable records are set aside instead of stopping
    /// the start (left untouched in the cluster).
    pub quarantine: HashSet<String>,
}

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

/// The headers of one message: (version, epoch, first pos, last pos, last seq).
pub(super) fn parse_headers(
    code: &str,
    h: Option<&HeaderMap>,
) -> Result<(u32, u64, u64, u64, u64), StoreError> {
    let get = |name: &str| h.and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
    let bad = |what: &str| unreadable(code, 0, "record headers", what);
    let v = get(H_VERSION)
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| bad("no format version"))?;
    let epoch = get(H_EPOCH)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad("no epoch"))?;
    let pos = get(H_POS).ok_or_else(|| bad("no position"))?;
    let (a, b) = pos.split_once('-').ok_or_else(|| bad("bad position"))?;
    let (first, last) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => return Err(bad("bad position")),
    };
    let seq = get(H_SEQ).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    check_version(code, first, "record", v)?;
    Ok((v, epoch, first, last, seq))
}

/// The session's last message: its stream sequence and headers (None: no
/// message on the subject).
pub(super) async fn last_message(
    h: &Handles,
    subject: &str,
) -> Result<Option<(u64, Option<HeaderMap>)>, ClusterError> {
    match h.stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(Some((m.sequence, Some(m.headers)))),
        Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(ClusterError::request("read the last record", e)),
    }
}

/// Visits every message on `subject` in order, up to the last one there
/// was when the scan began.
async fn scan(
    h: &Handles,
    subject: &str,
    mut visit: impl FnMut(u64, Option<&HeaderMap>, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Some((last, _)) = last_message(h, subject).await? else {
        return Ok(());
    };
    let consumer = h
        .stream
        .create_consumer(OrderedConfig {
            filter_subject: subject.to_string(),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| ClusterError::request("open a reader", e))?;
    let mut msgs = consumer
        .messages()
        .await
        .map_err(|e| ClusterError::request("read records", e))?;
    loop {
        let m = match tokio::time::timeout(2 * REQUEST_TIMEOUT, msgs.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(ClusterError::request("read records", e).into()),
            Ok(None) => return Err(ClusterError::request("read records", "ended early").into()),
            Err(_) => return Err(ClusterError::request("read records", "timed out").into()),
        };
        let sseq = m
            .info()
            .map_err(|e| ClusterError::request("read records", e))?
            .stream_sequence;
        visit(sseq, m.headers.as_ref(), &m.payload)?;
        if sseq >= last {
            return Ok(());
        }
    }
}

/// Tries of a session entry read that found no responder.
const NO_RESPONDER_TRIES: u32 = 5;

/// A session's entry, if it has one. A read answered "no responders" (a
/// bucket just created, its replicas not yet answering direct gets: a
/// fresh cluster) is tried again a few times, backing off (~3 s in all).
pub(super) async fn entry(h: &Handles, code: &str) -> Result<Option<SessionEntry>, StoreError> {
    let mut tries = 0;
    let got = loop {
        match h.sessions.get(code).await {
            Err(e) if tries + 1 < NO_RESPONDER_TRIES && e.to_string().contains("no responders") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
            }
            other => break other,
        }
    };
    let Some(bytes) = got.map_err(|e| ClusterError::request("read a session", e))? else {
        return Ok(None);
    };
    let e: SessionEntry =
        serde_json::from_slice(&bytes).map_err(|e| unreadable(code, 0, "session entry", e))?;
    check_version(code, 0, "session entry", e.v)?;
    Ok(Some(e))
}

/// The latest snapshot: its meta and the state's bytes.
async fn snapshot(h: &Handles, code: &str) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
    use async_nats::jetstream::object_store::GetErrorKind;
    let mut obj = match h.snapshots.get(code).await {
        Ok(o) => o,
        Err(e) if e.kind() == GetErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClusterError::request("read a snapshot", e).into()),
    };
    let mut body = Vec::new();
    obj.read_to_end(&mut body)
        .await
        .map_err(|e| ClusterError::request("read a snapshot", e))?;
    let nl = body
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| unreadable(code, 0, "snapshot", "no meta line"))?;
    let meta: SnapshotMeta =
        serde_json::from_slice(&body[..nl]).map_err(|e| unreadable(code, 0, "snapshot", e))?;
    check_version(code, meta.pos, "snapshot", meta.v)?;
    let state = body.split_off(nl + 1);
    Ok(Some((meta, state)))
}

/// One session as of its last record, or None if the log does not have it.
pub(super) async fn read_one(
    h: &Handles,
    code: &str,
    opts: &LoadOptions,
) -> Result<Option<Loaded>, StoreError> {
    let subject = subject(code)?;
    let Some(e) = entry(h, code).await? else {
        return Ok(None);
    };
    let header = SessionHeader {
        code: code.to_string(),
        nonce: e.nonce.clone(),
        title: e.title.clone(),
        settings: e.settings.clone(),
        created_ms: e.created_ms,
    };
    let (mut state, from, mut seq) = match snapshot(h, code).await? {
        Some((meta, body)) => {
            let state: GameState = serde_json::from_slice(&body)
                .map_err(|e| unreadable(code, meta.pos, "snapshot", e))?;
            (state, meta.pos, meta.seq)
        }
        None => (
            GameState::new(code.to_string(), e.title.clone(), e.settings.clone()),
            0,
            0,
        ),
    };
    let mut end = End {
        epoch: e.epoch,
        pos: from,
        seq,
        subject_seq: 0,
    };
    let mut index = Vec::new();
    let mut ring: VecDeque<LoggedEvent> = VecDeque::new();
    scan(h, &subject, |sseq, headers, payload| {
        let (_, epoch, first, last, last_seq) = parse_headers(code, headers)?;
        end.subject_seq = sseq;
        end.epoch = end.epoch.max(epoch);
        index.push(Kept {
            last_pos: last,
            last_seq,
            stream_seq: sseq,
        });
        let records: Vec<WireRecord> =
            serde_json::from_slice(payload).map_err(|e| unreadable(code, first, "record", e))?;
        for r in records {
            for ev in r.events {
                seq = seq.max(ev.seq);
                if opts.ring_events > 0 {
                    if ring.len() == opts.ring_events {
                        ring.pop_front();
                    }
                    ring.push_back(LoggedEvent {
                        seq: ev.seq,
                        audience: ev.audience,
                        frame: ev.frame.into(),
                    });
                }
            }
            if r.pos <= from {
                continue;
            }
            if r.pos != end.pos + 1 {
                return Err(unreadable(
                    code,
                    r.pos,
                    "record",
                    format!("gap after {}", end.pos),
                ));
            }
            for f in &r.facts {
                state.evolve(f);
            }
            end.pos = r.pos;
        }
        Ok(())
    })
    .await?;
    end.seq = seq;
    let session = StoredSession {
        header,
        ended_ms: e.ended_ms,
        epoch: end.epoch,
        state,
        pos: end.pos,
        seq,
        events: ring.into_iter().collect(),
    };
    Ok(Some(Loaded {
        session,
        end,
        index,
    }))
}

/// Every stored session (recovery at start): ended ones past retention are
/// deleted first; an unreadable one stops the start unless quarantined.
pub(super) async fn load_all(h: &Handles, opts: &LoadOptions) -> Result<Vec<Loaded>, StoreError> {
    let cutoff = crate::protocol::now_ms().saturating_sub(opts.retention_ms);
    let mut out = Vec::new();
    for code in codes(h).await? {
        let e = match entry(h, &code).await {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(err @ StoreError::Unreadable { .. }) if opts.quarantine.contains(&code) => {
                log::error!("session {code} quarantined (left untouched in the cluster): {err}");
                continue;
            }
            Err(err) => return Err(err),
        };
        if e.ended_ms.is_some_and(|t| t < cutoff) {
            super::writer::delete_session(h, &code).await?;
            continue;
        }
        match read_one(h, &code, opts).await {
            Ok(Some(l)) => out.push(l),
            Ok(None) => {}
            Err(err @ StoreError::Unreadable { .. }) if opts.quarantine.contains(&code) => {
                log::error!("session {code} quarantined (left untouched in the cluster): {err}");
            }
            Err(err) => return Err(err),
        }
    }
    out.sort_by_key(|l| l.session.header.created_ms);
    Ok(out)
}

/// Every code in the sessions bucket.
pub(super) async fn codes(h: &Handles) -> Result<Vec<String>, StoreError> {
    let mut keys = match h.sessions.keys().await {
        Ok(k) => k,
        Err(e) => return Err(ClusterError::request("list sessions", e).into()),
    };
    let mut out = Vec::new();
    while let Some(k) = keys.next().await {
        out.push(k.map_err(|e| ClusterError::request("list sessions", e))?);
    }
    Ok(out)
}

/// Codes of the sessions that have not ended, oldest first.
pub(super) async fn live_sessions(h: &Handles) -> Result<Vec<String>, StoreError> {
    let mut live = Vec::new();
    for code in codes(h).await? {
        if let Some(e) = entry(h, &code).await? {
            if e.ended_ms.is_none() {
                live.push((e.created_ms, code));
            }
        }
    }
    live.sort();
    Ok(live.into_iter().map(|(_, c)| c).collect())
}

/// Up to `limit` events after `seq`, oldest first. Messages whose last
/// event is not after `seq` are skipped without decoding their bodies.
pub(super) async fn events_after(
    h: &Handles,
    code: &str,
    seq: u64,
    limit: usize,
) -> Result<Vec<LoggedEvent>, StoreError> {
    let subject = subject(code)?;
    let mut out = Vec::new();
    scan(h, &subject, |_, headers, payload| {
        let (_, _, first, _, last_seq) = parse_headers(code, headers)?;
        if last_seq <= seq || out.len() >= limit {
            return Ok(());
        }
        let records: Vec<WireRecord> =
            serde_json::from_slice(payload).map_err(|e| unreadable(code, first, "record", e))?;
        for ev in records.into_iter().flat_map(|r| r.events) {
            if ev.seq > seq && out.len() < limit {
                out.push(LoggedEvent {
                    seq: ev.seq,
                    audience: ev.audience,
                    frame: ev.frame.into(),
                });
            }
        }
        Ok(())
    })
    .await?;
    Ok(out)
}
