//! Ownership, as the rest of quizcast sees it: start it, claim a new
//! session's lease, give leases up, ask whether the cluster holds a
//! session. The leases themselves are in [`super::lease`].

use super::lease::{bucket, Owner, OwnershipEvent};
use super::members::Members;
use super::{read, ClusterError, NatsLog};
use crate::journal::StoredSession;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node looks for sessions without an owner.
fn sweep_every(ttl: Duration) -> Duration {
    (ttl / 5).clamp(Duration::from_millis(200), Duration::from_secs(1))
}

impl NatsLog {
    fn owner(&self) -> Option<Arc<Owner>> {
        self.owner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts ownership (several nodes on one cluster): opens the leases
    /// bucket, takes over at once every session nobody owns (or that this
    /// node owned before a restart), and from then on renews its leases
    /// every third of `ttl` and looks for ownerless sessions a few times a
    /// lease. Returns the sessions taken over now (blocking: start-up);
    /// later ones arrive as [`OwnershipEvent`]s.
    pub fn start_ownership(
        &self,
        node: String,
        ttl: Duration,
        replicas: usize,
        opts: &read::LoadOptions,
        events: std::sync::mpsc::Sender<OwnershipEvent>,
    ) -> Result<Vec<StoredSession>, StoreError> {
        let ttl = ttl.max(Duration::from_millis(1000));
        let ops = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|tx| tx.downgrade())
            .ok_or(ClusterError::Stopped)?;
        let h = self.h.clone();
        let me = node.clone();
        let (leases, members) = super::run_blocking(&self.handle, async move {
            let leases = bucket(&h, ttl, replicas).await?;
            let members = Members::open(&h, &me, ttl, replicas).await?;
            // Listed before the first sweep, so the others place on it.
            members.join().await;
            Ok::<_, ClusterError>((leases, members))
        })??;
        self.gate.on.store(true, Relaxed);
        let owner = Arc::new(Owner {
            h: self.h.clone(),
            leases,
            gate: self.gate.clone(),
            node,
            ttl,
            ring_events: opts.ring_events,
            ops,
            owned: Mutex::new(HashMap::new()),
            epochs: Mutex::new(HashMap::new()),
            skip: opts.quarantine.clone(),
            metrics: self.metrics.clone(),
            events: events.clone(),
            members,
            live: Mutex::new(Vec::new()),
            orphans: Mutex::new(HashMap::new()),
            swept: std::sync::atomic::AtomicBool::new(false),
        });
        *self.owner.lock().unwrap_or_else(|p| p.into_inner()) = Some(owner.clone());
        let o = owner.clone();
        let first = super::run_blocking(&self.handle, async move { o.sweep().await })?;
        let o = owner.clone();
        self.handle.spawn(async move {
            loop {
                tokio::time::sleep(o.ttl / 3).await;
                o.renew_all().await;
            }
        });
        let o = owner.clone();
        self.handle.spawn(async move {
            loop {
                tokio::time::sleep(super::members::beat_every(o.ttl)).await;
                o.members.beat().await;
            }
        });
        self.handle.spawn(async move {
            let every = sweep_every(owner.ttl);
            loop {
                // Jitter, so the nodes do not all race for the same lease.
                let jitter = every.mul_f64(rand::random::<f64>() / 2.0);
                tokio::time::sleep(every + jitter).await;
                for s in owner.sweep().await {
                    if events.send(OwnershipEvent::Adopted(Box::new(s))).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(first)
    }

    /// Takes the lease of a new session (before it is created in the log).
    /// Without ownership started, there is nothing to take.
    pub fn claim(&self, code: &str) -> tokio::sync::oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.owner() {
            Some(o) => {
                let code = code.to_string();
                self.handle.spawn(async move {
                    let _ = tx.send(o.claim(&code).await);
                });
            }
            None => {
                let _ = tx.send(Ok(()));
            }
        }
        rx
    }

    /// Gives up a session's lease (deleted, or failed to be created).
    pub fn release(&self, code: &str) {
        if let Some(o) = self.owner() {
            let code = code.to_string();
            self.handle.spawn(async move { o.release(&code).await });
        }
    }

    /// A session actor that found a newer epoch in the log gives up the
    /// lease it was started under, if this node still holds it (then
    /// nobody serves the session: another node, or this one, takes it over
    /// from the log at its next sweep). A later ownership of this same
    /// node is left alone.
    pub fn release_at(&self, code: &str, epoch: u64) {
        if let Some(o) = self.owner() {
            if o.holds_at(code, epoch) {
                let code = code.to_string();
                self.handle.spawn(async move { o.release(&code).await });
            }
        }
    }

    /// Gives up every lease (a clean stop, after the last appends were
    /// written), so other nodes take the sessions over at once.
    pub fn release_all(&self) {
        let Some(o) = self.owner() else {
            return;
        };
        let _ = super::run_blocking(&self.handle, async move {
            // Off the list first: the sessions given up next go to the
            // others at once, none waits for this node.
            o.members.leave().await;
            let held: Vec<String> = o
                .owned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .cloned()
                .collect();
            for code in held {
                o.release(&code).await;
            }
        });
    }

    /// The live nodes as this node last read them (empty before ownership).
    pub fn live_nodes(&self) -> Vec<String> {
        let Some(o) = self.owner() else {
            return Vec::new();
        };
        let live = o.live.lock().unwrap_or_else(|p| p.into_inner());
        live.clone()
    }

    /// This node's id in the cluster (None before ownership).
    pub fn node(&self) -> Option<String> {
        self.owner().map(|o| o.node.clone())
    }

    /// Codes of the sessions this node owns.
    pub fn owned(&self) -> Vec<String> {
        let Some(o) = self.owner() else {
            return Vec::new();
        };
        let owned = o.owned.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<String> = owned.keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether the cluster holds a session with this code (one this node
    /// does not serve: another node owns it, or is about to).
    pub fn exists(&self, code: &str) -> tokio::sync::oneshot::Receiver<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = self.h.clone();
        let code = code.to_string();
        self.handle.spawn(async move {
            let found = matches!(read::entry(&h, &code).await, Ok(Some(_)));
            let _ = tx.send(found);
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_run_a_few_times_per_lease() {
        assert_eq!(sweep_every(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(
            sweep_every(Duration::from_secs(2)),
            Duration::from_millis(400)
        );
        assert_eq!(
            sweep_every(Duration::from_millis(500)),
            Duration::from_millis(200)
        );
    }
}
