//! The session log on NATS JetStream (cluster mode, `--cluster`): the same
//! [`SessionLog`] as the embedded SQLite log, kept by a replicated engine
//! (Raft, R3 by default) so that any node can read a session back and, once
//! ownership and failover are built on it, take it over.
//!
//! # Layout in JetStream
//! - Stream `QUIZCAST_LOG`, subjects `quizcast.log.<code>`: one message per
//!   *commit batch* of one session, holding one or more consecutive records
//!   (`[{pos, facts, events}, …]` as JSON). Headers: `Quizcast-Version`
//!   (the fact format), `Quizcast-Epoch` (the writer's ownership epoch),
//!   `Quizcast-Pos` (`first-last` record positions) and `Quizcast-Seq` (the
//!   last event seq in it, so a resume skips older messages unread).
//! - Record positions stay the session's own (1, 2, 3, …, as in SQLite);
//!   the stream's sequence is global to all sessions and only used as the
//!   fence: every publish carries `Nats-Expected-Last-Subject-Sequence`,
//!   the stream sequence of the session's last message as this writer knows
//!   it (0 for none), so a publish lands only if nobody else wrote to the
//!   session since. The epoch is checked against the writer's own view
//!   and recorded in every message.
//! - Key-value bucket `quizcast_sessions`, key `<code>`: the session header
//!   (title, settings, nonce, created, ended) and its ownership epoch.
//! - Object store `quizcast_snapshots`, object `<code>`: the latest snapshot
//!   (`{"v","pos","seq"}` line, then the state), any size (chunked; a KV value
//!   would be capped by the server's `max_payload`).
//!
//! A snapshot lets recovery start at its position; the messages it replaces
//! are purged (purge by subject below a stream sequence) once their events
//! are more than [`EVENTS_KEPT`] seqs old, so `since` resumes keep working.

mod edge;
mod lease;
mod members;
mod ownership;
pub mod placement;
mod provision;
mod publish;
mod read;
mod writer;

use super::{
    Append, AppendFailure, LogBusy, LoggedEvent, SessionHeader, SessionLog, StoredSession,
};
use crate::metrics::Metrics;
use crate::store::StoreError;
use async_nats::jetstream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use edge::{EdgeFeed, Feed, ForwardError, Forwarded, Relayed, CMD_PREFIX, EV_PREFIX};
pub use lease::{OwnershipEvent, LEASES_BUCKET};
pub use members::NODES_BUCKET;
pub use read::LoadOptions;

/// The stream holding every session's records.
pub const STREAM: &str = "QUIZCAST_LOG";
/// Subject prefix: a session's records are on `quizcast.log.<code>`.
pub const SUBJECT_PREFIX: &str = "quizcast.log.";
/// Session headers and ownership epochs.
pub const SESSIONS_BUCKET: &str = "quizcast_sessions";
/// Latest snapshot per session.
pub const SNAPSHOTS_BUCKET: &str = "quizcast_snapshots";
/// Events kept in the stream behind a snapshot, for `since` resumes.
pub const EVENTS_KEPT: u64 = crate::journal::sqlite::EVENTS_KEPT;

const H_VERSION: &str = "Quizcast-Version";
const H_EPOCH: &str = "Quizcast-Epoch";
const H_POS: &str = "Quizcast-Pos";
const H_SEQ: &str = "Quizcast-Seq";

/// Ops waiting for the writer before senders are refused.
const QUEUE: usize = 262_144;
/// How long a blocking read (recovery, resume) may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a starting node waits for JetStream to have a leader.
const STARTUP_WAIT: Duration = Duration::from_secs(40);
/// JetStream API and publish-ack timeout per attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the cluster log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect { urls: String, reason: String },
    #[error(
        "nats-server {found} is too old: cluster mode needs 2.11 or newer \
         (per-key TTL; fenced appends enforced when applied in a cluster)"
    )]
    ServerTooOld { found: String },
    #[error("JetStream {what}: {reason}")]
    Request { what: &'static str, reason: String },
    #[error("session code {0:?} cannot be a NATS subject token")]
    BadCode(String),
    #[error("the cluster log is stopped")]
    Stopped,
}

impl ClusterError {
    fn request(what: &'static str, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::Request {
            what,
            reason: e.to_string(),
        }
    }
}

/// How to reach the cluster and lay the log out in it.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// NATS URLs (`nats://host:port`), any of the cluster's servers.
    pub urls: Vec<String>,
    /// Replicas of the stream and buckets (3 in production; at most the
    /// number of JetStream servers).
    pub replicas: usize,
}

/// JetStream handles shared by the writer and the readers.
#[derive(Clone)]
struct Handles {
    /// Core NATS: the event relay and forwarded commands (edge.rs).
    client: async_nats::Client,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    sessions: jetstream::kv::Store,
    snapshots: jetstream::object_store::ObjectStore,
    /// The server's largest message: a batch is split below it.
    max_payload: usize,
}

/// The subject of a session's records.
fn subject(code: &str) -> Result<String, ClusterError> {
    let ok = !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(ClusterError::BadCode(code.to_string()));
    }
    Ok(format!("{SUBJECT_PREFIX}{code}"))
}

/// One thing for the writer to do (in order).
enum Op {
    /// Boxed: settings make the header large, and every op is this size.
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
    /// This node took the session over: its log ends at `end` (under the
    /// new epoch). Boxed: rare, and it would make every op larger.
    Adopt {
        code: String,
        end: Box<read::End>,
        index: Vec<read::Kept>,
    },
    Flush(std::sync::mpsc::Sender<()>),
}

/// The JetStream session log: a writer task and blocking reads, on a
/// runtime of its own (the actix threads never wait on the network).
pub struct NatsLog {
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    tx: Mutex<Option<tokio::sync::mpsc::Sender<Op>>>,
    done: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    h: Handles,
    gate: Arc<lease::Gate>,
    owner: Mutex<Option<Arc<lease::Owner>>>,
    metrics: Arc<Metrics>,
}

impl NatsLog {
    /// Connects, creates the stream and buckets when missing, and reads
    /// back every stored session (deleting ended ones past retention).
    pub fn open(
        cluster: &ClusterOptions,
        opts: &LoadOptions,
        metrics: Arc<Metrics>,
    ) -> Result<(NatsLog, Vec<StoredSession>), StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("quizcast-nats")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let cluster = cluster.clone();
        let opts = opts.clone();
        let metrics_c = metrics.clone();
        let opened = run_blocking(&handle, async move {
            // A cluster that answers but has no JetStream leader yet (an
            // election after a server died) is waited for, within a bound;
            // one that cannot be reached at all is an error at once.
            let started = tokio::time::Instant::now();
            loop {
                let attempt = async {
                    let h = setup(&cluster, &metrics_c).await?;
                    let loaded = read::load_all(&h, &opts).await?;
                    Ok::<_, StoreError>((h, loaded))
                }
                .await;
                match attempt {
                    Err(StoreError::Cluster(ClusterError::Request { what, reason }))
                        if started.elapsed() < STARTUP_WAIT =>
                    {
                        log::warn!("JetStream not ready ({what}: {reason}); trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    other => break other,
                }
            }
        });
        let (h, loaded) = match opened {
            Ok(Ok(got)) => got,
            Ok(Err(e)) => {
                // Dropping a runtime blocks, which panics on an async thread
                // (quizcast starts on one).
                rt.shutdown_background();
                return Err(e);
            }
            Err(e) => {
                rt.shutdown_background();
                return Err(e.into());
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let (done_tx, done) = std::sync::mpsc::channel();
        let gate = Arc::new(lease::Gate::default());
        let mut w = writer::Writer::new(h.clone(), metrics.clone(), gate.clone());
        let mut stored = Vec::with_capacity(loaded.len());
        for l in loaded {
            w.know(&l.session, l.end, l.index);
            stored.push(l.session);
        }
        handle.spawn(async move {
            w.run(rx).await;
            let _ = done_tx.send(());
        });
        Ok((
            NatsLog {
                rt: Mutex::new(Some(rt)),
                handle,
                tx: Mutex::new(Some(tx)),
                done: Mutex::new(Some(done)),
                h,
                gate,
                owner: Mutex::new(None),
                metrics,
            },
            stored,
        ))
    }

    fn send(&self, op: Op) -> Result<(), LogBusy> {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return Err(LogBusy);
        };
        tx.try_send(op).map_err(|_| LogBusy)
    }
}

/// Runs `fut` on the log's runtime and waits for it from this (non-async)
/// thread, with a bound.
fn run_blocking<T: Send + 'static>(
    handle: &tokio::runtime::Handle,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, ClusterError> {
    let (tx, rx) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(READ_TIMEOUT)
        .map_err(|_| ClusterError::Request {
            what: "read",
            reason: format!("no answer within {READ_TIMEOUT:?}"),
        })
}

/// Connects and makes sure the stream and buckets exist.
async fn setup(c: &ClusterOptions, metrics: &Arc<Metrics>) -> Result<Handles, ClusterError> {
    let m = metrics.clone();
    let urls = c.urls.join(",");
    let connect_err = |e: &dyn std::fmt::Display| ClusterError::Connect {
        urls: urls.clone(),
        reason: e.to_string(),
    };
    let addrs: Vec<async_nats::ServerAddr> = c
        .urls
        .iter()
        .map(|u| u.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|e| connect_err(&e))?;
    let client = async_nats::ConnectOptions::new()
        .name("quizcast")
        .connection_timeout(REQUEST_TIMEOUT)
        .event_callback(move |e| {
            let m = m.clone();
            async move {
                let up = |v| {
                    m.cluster_nats_connected
                        .store(v, std::sync::atomic::Ordering::Relaxed)
                };
                match e {
                    async_nats::Event::Connected => {
                        up(1);
                        log::info!("NATS: connected")
                    }
                    async_nats::Event::Disconnected => {
                        up(0);
                        log::warn!("NATS: disconnected")
                    }
                    other => log::warn!("NATS: {other}"),
                }
            }
        })
        .connect(addrs)
        .await
        .map_err(|e| connect_err(&e))?;
    metrics
        .cluster_nats_connected
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let info = client.server_info();
    if !version_at_least(&info.version, 2, 11) {
        return Err(ClusterError::ServerTooOld {
            found: info.version,
        });
    }
    let max_payload = info.max_payload;
    let mut js = jetstream::new(client.clone());
    js.set_timeout(REQUEST_TIMEOUT);
    let replicas = c.replicas.max(1);
    let stream = provision::stream(
        &js,
        jetstream::stream::Config {
            name: STREAM.into(),
            description: Some("quizcast session logs (facts and events)".into()),
            subjects: vec![format!("{SUBJECT_PREFIX}>")],
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        },
    )
    .await?;
    let found = stream.cached_info().config.num_replicas;
    if found != replicas {
        // Changing a live stream's replicas is an operator's decision
        // (`nats stream edit`), not something to do at every start.
        log::warn!(
            "stream {STREAM} has {found} replicas, not the {replicas} asked for; left as it is"
        );
    }
    let sessions = provision::key_value(
        &js,
        "sessions bucket",
        jetstream::kv::Config {
            bucket: SESSIONS_BUCKET.into(),
            description: "quizcast session headers and ownership epochs".into(),
            history: 1,
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        },
    )
    .await?;
    let snapshots = provision::object_store(
        &js,
        "snapshot store",
        jetstream::object_store::Config {
            bucket: SNAPSHOTS_BUCKET.into(),
            description: Some("quizcast session snapshots".into()),
            storage: jetstream::stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        },
    )
    .await?;
    Ok(Handles {
        client,
        js,
        stream,
        sessions,
        snapshots,
        max_payload,
    })
}

/// Whether a server version string (`2.15.1`, `v2.11.0-beta`) is at least
/// `major.minor`.
fn version_at_least(v: &str, major: u64, minor: u64) -> bool {
    let mut parts = v
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

impl SessionLog for NatsLog {
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
        let h = self.h.clone();
        run_blocking(&self.handle, async move { read::live_sessions(&h).await })?
    }

    fn read_session(&self, code: &str, events: usize) -> Result<Option<StoredSession>, StoreError> {
        let h = self.h.clone();
        let code = code.to_string();
        let opts = LoadOptions {
            ring_events: events,
            ..Default::default()
        };
        let got = run_blocking(&self.handle, async move {
            read::read_one(&h, &code, &opts).await
        })??;
        Ok(got.map(|l| l.session))
    }

    fn events_after(
        &self,
        code: &str,
        seq: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let h = self.h.clone();
        let code = code.to_string();
        run_blocking(&self.handle, async move {
            read::events_after(&h, &code, seq, limit).await
        })?
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
        if let Some(done) = self.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = done.recv_timeout(READ_TIMEOUT);
        }
        if let Some(rt) = self.rt.lock().unwrap_or_else(|p| p.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for NatsLog {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics on an async thread.
        if let Some(rt) = self.rt.lock().unwrap_or_else(|p| p.into_inner()).take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_are_compared_by_major_and_minor() {
        assert!(version_at_least("2.15.1", 2, 11));
        assert!(version_at_least("v2.11.0-beta.1", 2, 11));
        assert!(!version_at_least("2.9.10", 2, 11));
        assert!(!version_at_least("garbage", 2, 11));
    }

    #[test]
    fn only_plain_codes_become_subjects() {
        assert_eq!(subject("ABCDE").unwrap(), "quizcast.log.ABCDE");
        assert!(subject("A.B").is_err());
        assert!(subject("A*").is_err());
        assert!(subject("").is_err());
    }
}
