//! Cluster mode with several nodes: what ownership (the leases in
//! [`crate::journal::nats`]) decides reaches the registry here. A session
//! taken over is first brought up to date in the log (a question whose
//! deadline passed while nobody owned the session is closed there, before
//! anyone can see it open), then started; a lease lost makes the session
//! step down at once.
//!
//! A node that does not own a session answers for it with "reconnect"
//! rather than serving it (see docs/cluster.md: HTTP 503 `UNAVAILABLE`, a
//! WebSocket join closed with 1001); behind a round-robin load balancer the
//! client's retry lands on the owner.

use crate::journal::nats::OwnershipEvent;
use crate::journal::{close_overdue, SessionLog};
use crate::registry::{Adopt, Registry, Release};
use actix::Addr;
use std::sync::Arc;

/// Relays ownership events to the registry on a thread of its own (closing
/// an overdue question waits for the log; never on an actor's thread).
pub fn relay(
    events: std::sync::mpsc::Receiver<OwnershipEvent>,
    log: Arc<dyn SessionLog>,
    registry: Addr<Registry>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("quizcast-ownership".into())
        .spawn(move || {
            while let Ok(e) = events.recv() {
                match e {
                    OwnershipEvent::Adopted(mut s) => {
                        let now = crate::protocol::now_ms();
                        if let Err(e) = close_overdue(log.as_ref(), &mut s, now) {
                            log::error!(
                                "session {}: closing an overdue question: {e}",
                                s.header.code
                            );
                        }
                        registry.do_send(Adopt(s));
                    }
                    OwnershipEvent::StepDown(code) => registry.do_send(Release { code }),
                }
            }
        })?;
    Ok(())
}

/// A session this node does not serve: whether another node of the
/// cluster does (or is about to), so the client should reconnect and try
/// again rather than be told the session does not exist.
pub async fn elsewhere(cluster: Option<&Arc<crate::journal::nats::NatsLog>>, code: &str) -> bool {
    let Some(c) = cluster else {
        return false;
    };
    let Some(code) = crate::registry::normalize_code(code) else {
        return false;
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(5), c.exists(&code)).await,
        Ok(Ok(true))
    )
}

/// What a client is told when the session lives on another node.
pub fn moved() -> crate::error::ApiError {
    crate::error::ApiError::new(
        crate::protocol::ErrorCode::Unavailable,
        "this session is served by another node of the cluster; reconnect and try again",
    )
}
