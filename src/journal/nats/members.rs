//! Which quizcast nodes are alive: each node keeps a key in the
//! `quizcast_nodes` bucket, written every quarter of a lease and living
//! three fifths of one (the bucket's max age), and deletes it on a clean
//! stop. A dead node so leaves the list well before its leases expire
//! (even with the server's second of slack in expiring entries), and its
//! sessions are placed over the nodes left, not on itself. The list feeds
//! [`super::placement`]: a dead node's sessions go to the live nodes
//! evenly instead of all to whichever node sweeps first.
//!
//! Only placement reads it; a stale or missing list costs evenness, never
//! safety (the lease's compare-and-set still decides who owns a session).

use super::{ClusterError, Handles};
use async_nats::jetstream::kv;
use futures_util::StreamExt;
use std::time::Duration;

/// The bucket of live nodes.
pub const NODES_BUCKET: &str = "quizcast_nodes";

/// How long an entry lives, for leases of `ttl`.
pub(super) fn lifetime(ttl: Duration) -> Duration {
    ttl * 3 / 5
}

/// How often a node writes its entry, for leases of `ttl`: a beat late
/// by a quarter lease still keeps the node listed.
pub(super) fn beat_every(ttl: Duration) -> Duration {
    ttl / 4
}

/// This node's membership.
pub(super) struct Members {
    kv: kv::Store,
    node: String,
    key: String,
}

/// A node id as a key: hex, since ids are free text (`--node-id`) and keys
/// allow only a few characters.
fn key_of(node: &str) -> String {
    node.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The node id back from a key (None: not one of ours).
fn node_of(key: &str) -> Option<String> {
    if key.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

impl Members {
    /// Opens (or creates) the bucket, for leases of `ttl`.
    pub async fn open(
        h: &Handles,
        node: &str,
        ttl: Duration,
        replicas: usize,
    ) -> Result<Members, ClusterError> {
        let kv = super::provision::key_value(
            &h.js,
            "nodes bucket",
            kv::Config {
                bucket: NODES_BUCKET.into(),
                description: "quizcast nodes alive (for placing orphaned sessions)".into(),
                history: 1,
                max_age: lifetime(ttl),
                storage: async_nats::jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            },
        )
        .await?;
        Ok(Members {
            kv,
            node: node.to_string(),
            key: key_of(node),
        })
    }

    async fn put(&self) -> Result<(), String> {
        self.kv
            .put(&self.key, self.node.clone().into())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Says this node is alive (for one more lease).
    pub async fn beat(&self) {
        if let Err(e) = self.put().await {
            log::warn!("node list: {e}");
        }
    }

    /// The first beat, tried again for a few seconds: a bucket made a
    /// moment ago may not take writes through every server yet ("no stream
    /// found"), and until this node is listed the others place nothing
    /// here (they still could: placement only orders who tries first).
    pub async fn join(&self) {
        let mut last = String::new();
        for _ in 0..30 {
            match self.put().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        log::warn!("node list: not listed yet ({last}); trying at the next renewal");
    }

    /// Leaves the list (a clean stop), so placement skips this node at once.
    pub async fn leave(&self) {
        if let Err(e) = self.kv.delete(&self.key).await {
            log::warn!("node list: leaving: {e}");
        }
    }

    /// The live nodes' ids, sorted, this node among them; None if the list
    /// cannot be read.
    pub async fn live(&self) -> Option<Vec<String>> {
        let mut keys = match self.kv.keys().await {
            Ok(k) => k,
            Err(e) => {
                log::warn!("node list: {e}");
                return None;
            }
        };
        let mut out = vec![self.node.clone()];
        while let Some(k) = keys.next().await {
            match k {
                Ok(k) => out.extend(node_of(&k)),
                Err(e) => {
                    log::warn!("node list: {e}");
                    return None;
                }
            }
        }
        out.sort();
        out.dedup();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_node_id_survives_the_trip_through_a_key() {
        for id in ["n1", "quizcast 2", "ünïcode/é", "5f3a", ""] {
            let k = key_of(id);
            assert!(k.bytes().all(|b| b.is_ascii_hexdigit()), "{k}");
            assert_eq!(node_of(&k).as_deref(), Some(id));
        }
        assert_eq!(node_of("abc"), None);
        assert_eq!(node_of("zz"), None);
    }
}
