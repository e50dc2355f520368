//! Cluster mode with several nodes: what ownership (the leases in
//! [`crate::journal::nats`]) decides reaches the registry here. A session
//! taken over is first brought up to date in the log (a question whose
//! deadline passed while nobody owned the session is closed there, before
//! anyone can see it open), then started; a lease lost makes the session
//! step down at once.
//!
//! A node that does not own a session serves it as an edge
//! (session/edge.rs); "reconnect" (HTTP 503 `UNAVAILABLE`, a WebSocket join
//! closed with 1001) is only for a session nobody owns at the moment.

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

/// What a client is told when nobody serves the session at the moment
/// (its owner died and no node has taken it over yet, or the cluster is
/// unreachable): reconnect and try again.
pub fn unowned() -> crate::error::ApiError {
    crate::error::ApiError::new(
        crate::protocol::ErrorCode::Unavailable,
        "no node of the cluster serves this session at the moment; reconnect and try again",
    )
}
