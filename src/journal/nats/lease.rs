//! Ownership leases (cluster mode with several nodes): a node owns a
//! session while it holds key `<code>` in the `quizcast_leases` bucket,
//! whose entries live `--lease-ms` unless renewed (the bucket's max age:
//! every renewal writes a fresh entry). Renewals are compare-and-set on the
//! entry's revision, so a node whose lease was taken over learns it at its
//! next renewal and steps down.
//!
//! The lease alone is not the fence (a paused owner does not know it lost
//! it): a node taking a session over raises the session's epoch
//! (compare-and-set on its entry in `quizcast_sessions`) and appends an
//! *ownership record* (no facts, no events, the new epoch) at the log's end
//! before it serves anyone. From then on every append of the old owner
//! expects an older subject sequence and JetStream refuses it: the old
//! owner gets `Fenced` with the newer epoch and steps down. On top of that,
//! the writer refuses to publish for a session whose lease this node could
//! not confirm within the lease time (the [`Gate`]), so an owner cut off
//! from NATS, or woken from a pause, stops writing on its own.

use super::members::Members;
use super::read::{self, End, Kept, SessionEntry};
use super::{ClusterError, Handles, Op, REQUEST_TIMEOUT};
use crate::journal::{Append, AppendFailure, Committed, Record, StoredSession};
use crate::store::StoreError;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The leases bucket.
pub const LEASES_BUCKET: &str = "quizcast_leases";

/// What a lease says.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseValue {
    node: String,
}

/// What ownership tells the node (in order, from the log's runtime).
#[derive(Debug)]
pub enum OwnershipEvent {
    /// This node took the session over: start serving it.
    Adopted(Box<StoredSession>),
    /// This node lost the session's lease: stop serving it at once.
    StepDown(String),
}

/// Whether this node may write a session now: only while its lease is
/// confirmed (renewed less than a lease time ago, minus a margin). Off
/// until ownership starts (a single node without leases, and the tests of
/// the log alone).
#[derive(Default)]
pub(super) struct Gate {
    pub(super) on: AtomicBool,
    until: Mutex<HashMap<String, Instant>>,
}

impl Gate {
    pub fn allows(&self, code: &str) -> bool {
        if !self.on.load(Relaxed) {
            return true;
        }
        let until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        until.get(code).is_some_and(|t| Instant::now() < *t)
    }

    fn set(&self, code: &str, until: Instant) {
        let mut m = self.until.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(code.to_string(), until);
    }

    fn clear(&self, code: &str) {
        let mut m = self.until.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(code);
    }
}

/// This node's side of the leases.
pub(super) struct Owner {
    pub h: Handles,
    pub leases: kv::Store,
    pub gate: Arc<Gate>,
    pub node: String,
    pub ttl: Duration,
    pub ring_events: usize,
    /// The writer's queue (adoptions and ownership records go through it,
    /// in order with every other append). Weak: closing the log closes it.
    pub ops: tokio::sync::mpsc::WeakSender<Op>,
    /// Sessions this node owns, with their lease revision.
    pub owned: Mutex<HashMap<String, u64>>,
    /// The epoch each owned session was taken at (1: created here).
    pub epochs: Mutex<HashMap<String, u64>>,
    /// Quarantined sessions (`--quarantine`): never taken over.
    pub skip: std::collections::HashSet<String>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub events: std::sync::mpsc::Sender<OwnershipEvent>,
    /// The live nodes, for placing orphaned sessions.
    pub members: Members,
    /// The live nodes as the last sweep read them (for `/api/stats`).
    pub live: Mutex<Vec<String>>,
    /// Orphaned sessions another live node is preferred for, since when
    /// this node has seen them orphaned: taken after [`Owner::grace`] if
    /// that node does not.
    pub orphans: Mutex<HashMap<String, Instant>>,
    /// Whether a sweep has looked at every lease's holder since start.
    pub swept: AtomicBool,
}

/// Creates (or opens) the leases bucket: entries live `ttl`.
pub(super) async fn bucket(
    h: &Handles,
    ttl: Duration,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    super::provision::key_value(
        &h.js,
        "leases bucket",
        kv::Config {
            bucket: LEASES_BUCKET.into(),
            description: "quizcast session ownership leases".into(),
            history: 1,
            max_age: ttl,
            storage: async_nats::jetstream::stream::StorageType::File,
            num_replicas: replicas.max(1),
            ..Default::default()
        },
    )
    .await
}

impl Owner {
    fn body(&self) -> bytes::Bytes {
        serde_json::to_vec(&LeaseValue {
            node: self.node.clone(),
        })
        .unwrap_or_default()
        .into()
    }

    /// How long after a renewal was *sent* this node may still write: the
    /// server started the entry's age later than that, so it expires later.
    fn valid_until(&self, sent: Instant) -> Instant {
        sent + self.ttl - (self.ttl / 5).max(Duration::from_millis(100))
    }

    fn hold(&self, code: &str, revision: u64, sent: Instant) {
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        owned.insert(code.to_string(), revision);
        self.metrics
            .cluster_owned
            .store(owned.len() as i64, Relaxed);
        drop(owned);
        self.gate.set(code, self.valid_until(sent));
    }

    /// Forgets a lease in the local table; its revision if it was held.
    fn unhold(&self, code: &str) -> Option<u64> {
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        let rev = owned.remove(code);
        self.metrics
            .cluster_owned
            .store(owned.len() as i64, Relaxed);
        drop(owned);
        self.epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code);
        self.gate.clear(code);
        rev
    }

    /// A new session's lease, taken before the session exists in the log
    /// (so no other node can see the session without an owner).
    pub async fn claim(&self, code: &str) -> Result<(), String> {
        let sent = Instant::now();
        match self.leases.create(code, self.body()).await {
            Ok(rev) => {
                self.hold(code, rev, sent);
                self.set_epoch(code, 1);
                Ok(())
            }
            Err(e) => Err(format!("lease for {code}: {e}")),
        }
    }

    fn set_epoch(&self, code: &str, epoch: u64) {
        self.epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(code.to_string(), epoch);
    }

    /// Whether this node holds the session's lease for the ownership taken
    /// at `epoch` (not a later one of its own).
    pub fn holds_at(&self, code: &str, epoch: u64) -> bool {
        let epochs = self.epochs.lock().unwrap_or_else(|p| p.into_inner());
        epochs.get(code) == Some(&epoch)
    }

    /// Gives a lease up (the session was deleted, or the node stops).
    pub async fn release(&self, code: &str) {
        if let Some(rev) = self.unhold(code) {
            if let Err(e) = self.leases.delete_expect_revision(code, Some(rev)).await {
                log::warn!("session {code}: releasing its lease: {e}");
            }
        }
    }

    /// Renews every lease this node holds, side by side; a lease whose
    /// revision moved (taken over) or that expired means stepping down.
    pub async fn renew_all(&self) {
        let held: Vec<(String, u64)> = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(c, r)| (c.clone(), *r))
            .collect();
        let body = self.body();
        let renewals = held.into_iter().map(|(code, rev)| {
            let body = body.clone();
            async move {
                let sent = Instant::now();
                let r =
                    tokio::time::timeout(self.ttl / 3, self.leases.update(&code, body, rev)).await;
                (code, rev, sent, r)
            }
        });
        for (code, rev, sent, r) in futures_util::future::join_all(renewals).await {
            match r {
                Ok(Ok(new)) => {
                    let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
                    // Released meanwhile: leave it released.
                    if owned.get(&code) == Some(&rev) {
                        owned.insert(code.clone(), new);
                        drop(owned);
                        self.gate.set(&code, self.valid_until(sent));
                    }
                }
                Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                    if self.retake(&code).await {
                        continue;
                    }
                    log::warn!("session {code}: lease lost (taken over); stepping down");
                    // Its lease stays for whoever has it now.
                    self.unhold(&code);
                    self.metrics.cluster_leases_lost.fetch_add(1, Relaxed);
                    let _ = self.events.send(OwnershipEvent::StepDown(code));
                }
                Ok(Err(e)) => log::warn!("session {code}: lease not renewed: {e}"),
                Err(_) => log::warn!("session {code}: lease renewal timed out"),
            }
        }
    }

    /// A lease that expired while the cluster could not renew it (a NATS
    /// leader election longer than the lease) and that nobody took since:
    /// taken again, and the session goes on here, but only if nobody took
    /// the session over meanwhile (and let it go again): its epoch in the
    /// cluster must still be the one this node took it at, or this node
    /// would serve a stale copy until its next append is fenced.
    async fn retake(&self, code: &str) -> bool {
        let mine = self
            .epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(code)
            .copied();
        let sent = Instant::now();
        let Ok(rev) = self.leases.create(code, self.body()).await else {
            return false;
        };
        let logged = super::publish::resolve(&self.h, code)
            .await
            .map(|e| e.epoch);
        let still = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(code);
        // The log unreadable for now (its own election): kept; the fence
        // still refuses any write of a stale copy.
        let current = match (mine, logged) {
            (Some(m), Ok(l)) => l <= m,
            (Some(_), Err(_)) => true,
            (None, _) => false,
        };
        if still && current {
            log::warn!("session {code}: lease expired unrenewed and was taken again");
            self.hold(code, rev, sent);
            return true;
        }
        // Not ours to keep: let whoever sweeps next take it over from the log.
        if let Err(e) = self.leases.delete_expect_revision(code, Some(rev)).await {
            log::warn!("session {code}: giving back a lease: {e}");
        }
        false
    }

    /// One pass over every session in the cluster: each one nobody holds a
    /// lease on (its owner died), or that this node held before a restart,
    /// is taken over here. Returns what was taken over.
    pub async fn sweep(&self) -> Vec<StoredSession> {
        let started = Instant::now();
        let codes = match read::codes(&self.h).await {
            Ok(c) => c,
            Err(e) => {
                log::warn!("ownership sweep: {e}");
                return Vec::new();
            }
        };
        let live = self.members.live().await;
        if let Some(l) = &live {
            self.metrics
                .cluster_live_nodes
                .store(l.len() as i64, Relaxed);
            *self.live.lock().unwrap_or_else(|p| p.into_inner()) = l.clone();
        }
        // Every lease as one listing of keys, so a sweep costs two listings
        // however many sessions there are, not a read per session. The
        // first sweep reads each lease instead: one still held by this
        // node (a restart) is taken back at once, not left to expire.
        let leased = if self.swept.load(Relaxed) {
            self.leased().await
        } else {
            None
        };
        let mut orphaned = std::collections::HashSet::new();
        let mut adopted = Vec::new();
        for code in codes {
            if self.skip.contains(&code) {
                continue;
            }
            let owned = self
                .owned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&code);
            if owned {
                continue;
            }
            if leased.as_ref().is_some_and(|l| l.contains(&code)) {
                continue;
            }
            let reclaim = match self.leases.entry(&code).await {
                Ok(Some(e)) if e.operation == Operation::Put => {
                    match serde_json::from_slice::<LeaseValue>(&e.value) {
                        // Held by this node before it restarted.
                        Ok(v) if v.node == self.node => Some(e.revision),
                        _ => continue,
                    }
                }
                Ok(_) => None,
                Err(e) => {
                    log::warn!("session {code}: reading its lease: {e}");
                    continue;
                }
            };
            if reclaim.is_none() {
                orphaned.insert(code.clone());
                if !self.my_turn(&code, live.as_deref()) {
                    continue;
                }
            }
            match self.take_over(&code, reclaim).await {
                Ok(Some(s)) => adopted.push(s),
                Ok(None) => {}
                Err(e) => log::error!("session {code}: takeover failed: {e}"),
            }
        }
        self.orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|c, _| orphaned.contains(c));
        self.swept.store(true, Relaxed);
        self.metrics
            .cluster_sweep_us
            .observe(started.elapsed().as_micros() as u64);
        adopted
    }

    /// The codes that have a lease now (None: the listing failed; the
    /// sweep then reads each lease).
    async fn leased(&self) -> Option<std::collections::HashSet<String>> {
        let mut keys = match self.leases.keys().await {
            Ok(k) => k,
            Err(e) => {
                log::warn!("ownership sweep: listing leases: {e}");
                return None;
            }
        };
        let mut out = std::collections::HashSet::new();
        while let Some(k) = futures_util::StreamExt::next(&mut keys).await {
            match k {
                Ok(k) => {
                    out.insert(k);
                }
                Err(e) => {
                    log::warn!("ownership sweep: listing leases: {e}");
                    return None;
                }
            }
        }
        Some(out)
    }

    /// How long an orphaned session waits for the live node it is placed
    /// on before any node takes it (that node paused, or its list stale).
    fn grace(&self) -> Duration {
        self.ttl / 2
    }

    /// Whether this node should try to take an orphaned session over now:
    /// it is the one placement prefers among the live nodes (or the list
    /// could not be read), or the preferred one let [`Owner::grace`] pass.
    fn my_turn(&self, code: &str, live: Option<&[String]>) -> bool {
        let Some(live) = live else {
            return true;
        };
        let mut waiting = self.orphans.lock().unwrap_or_else(|p| p.into_inner());
        if super::placement::preferred(code, live) == Some(self.node.as_str()) {
            waiting.remove(code);
            return true;
        }
        let since = *waiting.entry(code.to_string()).or_insert_with(Instant::now);
        since.elapsed() >= self.grace()
    }

    /// Takes the lease (create, or compare-and-set on `reclaim`), then the
    /// session (see [`Owner::adopt`]). None: another node was first.
    async fn take_over(
        &self,
        code: &str,
        reclaim: Option<u64>,
    ) -> Result<Option<StoredSession>, StoreError> {
        let sent = Instant::now();
        let rev = match reclaim {
            None => match self.leases.create(code, self.body()).await {
                Ok(rev) => rev,
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => return Ok(None),
                Err(e) => return Err(ClusterError::request("take a lease", e).into()),
            },
            Some(r) => match self.leases.update(code, self.body(), r).await {
                Ok(rev) => rev,
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => return Ok(None),
                Err(e) => return Err(ClusterError::request("take a lease", e).into()),
            },
        };
        self.hold(code, rev, sent);
        match self.adopt(code).await {
            Ok(Some(s)) => {
                self.set_epoch(code, s.epoch);
                self.metrics.cluster_takeovers.fetch_add(1, Relaxed);
                log::info!(
                    "session {code}: taken over by node {} (epoch {}, position {}, seq {})",
                    self.node,
                    s.epoch,
                    s.pos,
                    s.seq
                );
                Ok(Some(s))
            }
            other => {
                self.release(code).await;
                other
            }
        }
    }

    /// Raises the epoch, reads the session back, and writes the ownership
    /// record at its end; a write by the old owner in between (it fences
    /// the ownership record) means reading again.
    async fn adopt(&self, code: &str) -> Result<Option<StoredSession>, StoreError> {
        let opts = read::LoadOptions {
            ring_events: self.ring_events,
            ..Default::default()
        };
        for _ in 0..3 {
            let Some(epoch) = raise_epoch(&self.h, code).await? else {
                return Ok(None);
            };
            let Some(loaded) = read::read_one(&self.h, code, &opts).await? else {
                return Ok(None);
            };
            let mut s = loaded.session;
            let end = End {
                epoch: epoch.max(loaded.end.epoch),
                ..loaded.end
            };
            let committed = self.ownership_record(code, end, loaded.index).await?;
            match committed.result {
                Ok(()) => {
                    s.pos = end.pos + 1;
                    s.epoch = end.epoch;
                    return Ok(Some(s));
                }
                Err(AppendFailure::Fenced { .. }) => continue,
                Err(AppendFailure::Unavailable(why)) => {
                    return Err(ClusterError::request("write the ownership record", why).into())
                }
            }
        }
        Err(ClusterError::request("take a session over", "its log kept moving").into())
    }

    /// Tells the writer where the session ends (under the new epoch), then
    /// appends the ownership record there and waits for the answer.
    async fn ownership_record(
        &self,
        code: &str,
        end: End,
        index: Vec<Kept>,
    ) -> Result<Committed, StoreError> {
        let stopped = || StoreError::from(ClusterError::Stopped);
        let ops = self.ops.upgrade().ok_or_else(stopped)?;
        ops.send(Op::Adopt {
            code: code.to_string(),
            end: Box::new(end),
            index,
        })
        .await
        .map_err(|_| stopped())?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let append = Append {
            code: code.to_string(),
            epoch: end.epoch,
            expected: end.pos,
            generation: 0,
            records: vec![Record {
                pos: end.pos + 1,
                facts: Vec::new(),
                events: Vec::new(),
            }],
            notify: Box::new(move |c| {
                let _ = tx.send(c);
            }),
        };
        ops.send(Op::Append(append)).await.map_err(|_| stopped())?;
        match tokio::time::timeout(4 * REQUEST_TIMEOUT, rx).await {
            Ok(Ok(c)) => Ok(c),
            _ => Err(stopped()),
        }
    }
}

/// Raises a session's epoch by compare-and-set on its entry (above any
/// epoch in its log); None if the session is gone.
async fn raise_epoch(h: &Handles, code: &str) -> Result<Option<u64>, StoreError> {
    let logged = super::publish::resolve(h, code).await?.epoch;
    for _ in 0..5 {
        let entry = h
            .sessions
            .entry(code)
            .await
            .map_err(|e| ClusterError::request("read a session", e))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
            return Ok(None);
        };
        let mut e: SessionEntry = serde_json::from_slice(&entry.value)
            .map_err(|e| ClusterError::request("session entry", e))?;
        e.epoch = e.epoch.max(logged) + 1;
        let body = serde_json::to_vec(&e).map_err(|e| ClusterError::request("session entry", e))?;
        match h.sessions.update(code, body.into(), entry.revision).await {
            Ok(_) => return Ok(Some(e.epoch)),
            Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => continue,
            Err(err) => return Err(ClusterError::request("raise the epoch", err).into()),
        }
    }
    Err(ClusterError::request("raise the epoch", "the entry kept changing").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_through_only_confirmed_leases_once_on() {
        let g = Gate::default();
        assert!(g.allows("ABCDE"), "off: a single node writes everything");
        g.on.store(true, Relaxed);
        assert!(!g.allows("ABCDE"), "no lease, no write");
        g.set("ABCDE", Instant::now() + Duration::from_secs(5));
        assert!(g.allows("ABCDE"));
        g.set("ABCDE", Instant::now() - Duration::from_millis(1));
        assert!(!g.allows("ABCDE"), "a lease past its time is not confirmed");
        g.set("ABCDE", Instant::now() + Duration::from_secs(5));
        g.clear("ABCDE");
        assert!(!g.allows("ABCDE"));
    }
}
