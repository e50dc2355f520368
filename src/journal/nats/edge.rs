//! Core NATS between nodes (docs/cluster.md, "Edges"): the owner relays
//! every message it logged, as logged, on `quizcast.ev.<code>` once it has
//! landed; a node serving a session it does not own (an edge) subscribes
//! and hands the records to its session actor. Commands an edge takes go
//! to the owner as requests on `quizcast.cmd.<code>`, which only the owner
//! subscribes to. Core NATS delivers at most once: the edge notices a gap
//! in positions and reads the log (the truth) to fill it.
//!
//! Everything here runs on the log's runtime; actors only get messages.

use super::read::{self, WireRecord};
use super::{subject, Handles, NatsLog};
use crate::journal::{LoggedEvent, Record, StoredSession};
use crate::store::StoreError;
use actix::{Message, Recipient};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events of committed records, as logged.
pub const EV_PREFIX: &str = "quizcast.ev.";
/// Commands for a session's owner.
pub const CMD_PREFIX: &str = "quizcast.cmd.";
/// One try of a forwarded command: long enough for a commit under load.
const TRY_FOR: Duration = Duration::from_secs(3);
/// Reads of a session an edge tries again (0.2 + 0.4 + 0.8 + 1.6 s apart)
/// before it answers `UNAVAILABLE`.
const OPEN_TRIES: u32 = 4;
/// Commands an owner works on at once per session (more wait in NATS).
const SERVE_AT_ONCE: usize = 512;

/// Records the owner committed, relayed to an edge (in order).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relayed {
    pub epoch: u64,
    /// The position the log is at with these (an edge below it lost a
    /// relay: the owner's tip, a message with no records, says so too).
    pub last: u64,
    pub records: Vec<Record>,
}

/// A command forwarded by an edge (the bytes as sent); the owner answers
/// with the reply's bytes (empty: no answer is sent, the edge retries).
#[derive(Message)]
#[rtype(result = "Bytes")]
pub struct Forwarded(pub Bytes);

/// A task feeding an actor; stops (and unsubscribes) when dropped.
pub struct Feed(tokio::task::JoinHandle<()>);

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An edge's subscription to a session's relay, opened before the session
/// was read so that no record falls between the read and the first relay.
pub struct EdgeFeed(async_nats::Subscriber);

/// Why a forwarded command got no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForwardError {
    /// No owner answered within the budget (nobody owns the session now,
    /// or the cluster is unreachable): the client should retry.
    #[error("no node serving the session answered within {0:?}")]
    NoOwner(Duration),
    #[error("the session code cannot be a subject")]
    BadCode,
}

fn ev_subject(code: &str) -> Option<String> {
    subject(code).ok().map(|_| format!("{EV_PREFIX}{code}"))
}

fn cmd_subject(code: &str) -> Option<String> {
    subject(code).ok().map(|_| format!("{CMD_PREFIX}{code}"))
}

/// The owner: relays a message that landed in the log (at most once: an
/// edge that misses it reads the log).
pub(super) async fn relay(h: &Handles, code: &str, headers: HeaderMap, payload: Bytes) {
    let Some(subject) = ev_subject(code) else {
        return;
    };
    // Tests: a relay lost on the way (edges must read the log).
    fail::fail_point!("relay-drop", |_| ());
    if let Err(e) = h
        .client
        .publish_with_headers(subject, headers, payload)
        .await
    {
        log::warn!("session {code}: relay not sent ({e}); edges will read the log");
    }
}

/// A relayed message's records (None: unreadable, skipped: the next one
/// shows the gap).
fn decode(code: &str, m: &async_nats::Message) -> Option<Relayed> {
    let (_, epoch, _, last, _) = read::parse_headers(code, m.headers.as_ref()).ok()?;
    let records: Vec<WireRecord> = serde_json::from_slice(&m.payload).ok()?;
    let records = records
        .into_iter()
        .map(|r| Record {
            pos: r.pos,
            facts: r.facts,
            events: r
                .events
                .into_iter()
                .map(|e| LoggedEvent {
                    seq: e.seq,
                    audience: e.audience,
                    frame: e.frame.into(),
                })
                .collect(),
        })
        .collect();
    Some(Relayed {
        epoch,
        last,
        records,
    })
}

impl NatsLog {
    /// Opens an edge: subscribes to the session's relay, then reads the
    /// session from the log (None: the cluster does not hold it).
    pub fn open_edge(
        &self,
        code: &str,
        events: usize,
    ) -> tokio::sync::oneshot::Receiver<Result<Option<(StoredSession, EdgeFeed)>, StoreError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = self.h.clone();
        let code = code.to_string();
        self.handle.spawn(async move {
            let got = async {
                let subject = ev_subject(&code).ok_or_else(|| {
                    StoreError::Cluster(super::ClusterError::BadCode(code.clone()))
                })?;
                let sub = h
                    .client
                    .subscribe(subject)
                    .await
                    .map_err(|e| super::ClusterError::request("relay subscription", e))?;
                // The subscription is in place on the server before the read.
                h.client
                    .flush()
                    .await
                    .map_err(|e| super::ClusterError::request("relay subscription", e))?;
                let opts = read::LoadOptions {
                    ring_events: events,
                    ..Default::default()
                };
                // A session created a moment ago on another node may not
                // be readable here yet (a fresh cluster: "no responders"
                // while a replica catches up): a few tries, backing off.
                let mut tries = 0;
                let s = loop {
                    match read::read_one(&h, &code, &opts).await {
                        Err(e) if tries < OPEN_TRIES => {
                            tries += 1;
                            log::debug!("session {code}: reading it to serve as an edge: {e}");
                            tokio::time::sleep(Duration::from_millis(100 << tries)).await;
                        }
                        other => break other?,
                    }
                };
                Ok(s.map(|l| (l.session, EdgeFeed(sub))))
            }
            .await;
            let _ = tx.send(got);
        });
        rx
    }

    /// Hands an edge's relayed records to its actor, in order (waiting for
    /// room in its bounded mailbox; meanwhile NATS buffers, and past its
    /// limit drops, which the edge sees as a gap).
    pub fn feed(&self, code: &str, feed: EdgeFeed, to: Recipient<Relayed>) -> Feed {
        let code = code.to_string();
        let mut sub = feed.0;
        Feed(self.handle.spawn(async move {
            while let Some(m) = sub.next().await {
                if let Some(r) = decode(&code, &m) {
                    if to.send(r).await.is_err() {
                        break;
                    }
                }
            }
        }))
    }

    /// A session read from the log, off the actor's thread (an edge that
    /// missed records).
    pub fn read_async(
        &self,
        code: &str,
        events: usize,
    ) -> tokio::sync::oneshot::Receiver<Result<Option<StoredSession>, StoreError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = self.h.clone();
        let code = code.to_string();
        self.handle.spawn(async move {
            let opts = read::LoadOptions {
                ring_events: events,
                ..Default::default()
            };
            let got = read::read_one(&h, &code, &opts).await;
            let _ = tx.send(got.map(|o| o.map(|l| l.session)));
        });
        rx
    }

    /// The owner: answers the session's forwarded commands through its
    /// actor, several at once, until dropped.
    pub fn serve(&self, code: &str, to: Recipient<Forwarded>) -> Feed {
        let h = self.h.clone();
        let code = code.to_string();
        Feed(self.handle.spawn(async move {
            let Some(subject) = cmd_subject(&code) else {
                return;
            };
            let mut sub = match h.client.subscribe(subject).await {
                Ok(s) => s,
                Err(e) => {
                    log::error!("session {code}: cannot serve forwarded commands: {e}");
                    return;
                }
            };
            let limit = Arc::new(tokio::sync::Semaphore::new(SERVE_AT_ONCE));
            while let Some(m) = sub.next().await {
                let Some(reply) = m.reply.clone() else {
                    // A report with no answer expected (presence).
                    to.do_send(Forwarded(m.payload));
                    continue;
                };
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let (to, client) = (to.clone(), h.client.clone());
                tokio::spawn(async move {
                    // An actor gone (stepped down) answers nothing: the
                    // edge retries against the next owner.
                    // No answer either from one that is not the owner now.
                    match to.send(Forwarded(m.payload)).await {
                        Ok(answer) if !answer.is_empty() => {
                            let _ = client.publish(reply, answer).await;
                        }
                        _ => {}
                    }
                    drop(permit);
                });
            }
        }))
    }

    /// An edge: sends a command to whoever owns the session, retrying the
    /// same bytes (the same idempotency id) within `budget`: through a
    /// takeover, the next owner answers.
    pub fn forward(
        &self,
        code: &str,
        payload: Bytes,
        budget: Duration,
    ) -> tokio::sync::oneshot::Receiver<Result<Bytes, ForwardError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let client = self.h.client.clone();
        let code = code.to_string();
        let metrics = self.metrics.clone();
        self.handle.spawn(async move {
            let Some(subject) = cmd_subject(&code) else {
                let _ = tx.send(Err(ForwardError::BadCode));
                return;
            };
            let started = Instant::now();
            let mut backoff = Duration::from_millis(100);
            let got = loop {
                let left = budget.saturating_sub(started.elapsed());
                let req = async_nats::Request::new()
                    .payload(payload.clone())
                    .timeout(Some(TRY_FOR.min(left).max(Duration::from_millis(50))));
                match client.send_request(subject.clone(), req).await {
                    Ok(m) => break Ok(m.payload),
                    Err(e) => {
                        if started.elapsed() + backoff >= budget {
                            break Err(ForwardError::NoOwner(budget));
                        }
                        log::debug!("session {code}: forwarded command: {e}; retrying");
                        metrics
                            .cluster_forward_retries
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            };
            metrics
                .cluster_forward_us
                .observe(started.elapsed().as_micros() as u64);
            let _ = tx.send(got);
        });
        rx
    }

    /// The owner: where the session's log is (every second), so an edge
    /// that lost the last relays notices even when nothing else happens.
    pub fn tip(&self, code: &str, epoch: u64, pos: u64, seq: u64) {
        let Some(subject) = ev_subject(code) else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            super::H_VERSION,
            crate::game::fact::FACT_VERSION.to_string().as_str(),
        );
        headers.insert(super::H_EPOCH, epoch.to_string().as_str());
        headers.insert(super::H_POS, format!("{pos}-{pos}").as_str());
        headers.insert(super::H_SEQ, seq.to_string().as_str());
        let client = self.h.client.clone();
        self.handle.spawn(async move {
            let _ = client
                .publish_with_headers(subject, headers, Bytes::from_static(b"[]"))
                .await;
        });
    }

    /// An edge: a message to the owner that needs no answer (at most once).
    pub fn tell(&self, code: &str, payload: Bytes) {
        let Some(subject) = cmd_subject(code) else {
            return;
        };
        let client = self.h.client.clone();
        self.handle.spawn(async move {
            let _ = client.publish(subject, payload).await;
        });
    }

    /// Whether this node's connection to NATS is up (for /metrics).
    pub fn connected(&self) -> bool {
        self.h.client.connection_state() == async_nats::connection::State::Connected
    }
}
