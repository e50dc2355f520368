//! Creating the log stream and the buckets, safely from several nodes at
//! once (a Compose file or a deploy starting every node together).
//!
//! nats-server (2.15.1, R3) drops the reply to a stream `UPDATE` or `INFO`
//! that arrives while another client's `CREATE` of the same stream is being
//! proposed: the caller waits out its whole timeout although the stream
//! was made in milliseconds. The client's `get_or_create` and
//! `create_or_update` send exactly those, so three nodes started together
//! on a fresh cluster waited 10 s or more, and one whose later bucket hit
//! it again gave up. A `CREATE` with the same configuration is answered
//! every time, even for a stream that exists or is being made, so each
//! resource here is made by `CREATE` alone, retried with a short timeout
//! until answered; only a stream that exists with *another* configuration
//! (made by an older version, or edited by an operator) is then opened or
//! updated.

use super::ClusterError;
use async_nats::jetstream::{self, context::CreateStreamError, kv, object_store, stream};
use std::future::Future;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// One attempt's wait: well above a healthy cluster's milliseconds, well
/// below the client's request timeout, so a lost reply costs this.
const TRY: Duration = Duration::from_secs(2);
/// All attempts at one resource (an election on a fresh cluster included).
const BUDGET: Duration = Duration::from_secs(30);

/// What one attempt came to.
enum Tried<T> {
    Made(T),
    /// The stream exists with another configuration.
    InUse,
    /// No answer, or an answer worth trying again (no leader yet).
    Again(String),
}

/// Runs `attempt` until it makes the resource, exists with another
/// configuration (then `in_use`), or [`BUDGET`] is spent.
async fn until_made<T, A, AF, U, UF>(
    what: &'static str,
    mut attempt: A,
    in_use: U,
) -> Result<T, ClusterError>
where
    A: FnMut() -> AF,
    AF: Future<Output = Tried<T>>,
    U: Fn() -> UF,
    UF: Future<Output = Tried<T>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        let mut tried = attempt().await;
        if matches!(tried, Tried::InUse) {
            tried = in_use().await;
        }
        match tried {
            Tried::Made(t) => return Ok(t),
            Tried::InUse => {
                return Err(ClusterError::Request {
                    what,
                    reason: "exists with another configuration".into(),
                })
            }
            Tried::Again(reason) if started.elapsed() >= BUDGET => {
                return Err(ClusterError::Request { what, reason })
            }
            Tried::Again(reason) => {
                log::info!("JetStream {what}: {reason}; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Classifies a create's outcome: made, in use (error 10058 anywhere in
/// the error's chain), or worth another try.
fn classify<T, E>(got: Result<Result<T, E>, tokio::time::error::Elapsed>) -> Tried<T>
where
    E: std::error::Error + 'static,
{
    match got {
        Ok(Err(e)) if name_in_use(&e) => Tried::InUse,
        other => answered(other),
    }
}

/// A follow-up's outcome (open or update an existing stream): made, or
/// worth another try.
fn answered<T, E: std::fmt::Display>(
    got: Result<Result<T, E>, tokio::time::error::Elapsed>,
) -> Tried<T> {
    match got {
        Ok(Ok(t)) => Tried::Made(t),
        Ok(Err(e)) => Tried::Again(e.to_string()),
        Err(_) => Tried::Again(format!("no answer within {TRY:?}")),
    }
}

/// Whether the error (or one it wraps) is the server's "stream name
/// already in use with a different configuration".
fn name_in_use(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(c) = err.downcast_ref::<CreateStreamError>() {
            if let jetstream::context::CreateStreamErrorKind::JetStream(j) = c.kind() {
                if j.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST {
                    return true;
                }
            }
        }
        cur = err.source();
    }
    false
}

/// The log stream. One that exists with another configuration is used as
/// it is: changing a live log (its replicas, limits) is an operator's call.
pub(super) async fn stream(
    js: &jetstream::Context,
    config: stream::Config,
) -> Result<stream::Stream, ClusterError> {
    let name = config.name.clone();
    until_made(
        "log stream",
        || async { classify(timeout(TRY, js.create_stream(config.clone())).await) },
        || async { answered(timeout(TRY, js.get_stream(&name)).await) },
    )
    .await
}

/// A key-value bucket. One that exists with another configuration is
/// updated to this one (a node started with another `--lease-ms`, or a
/// newer version's settings).
pub(super) async fn key_value(
    js: &jetstream::Context,
    what: &'static str,
    config: kv::Config,
) -> Result<kv::Store, ClusterError> {
    until_made(
        what,
        || async { classify(timeout(TRY, js.create_key_value(config.clone())).await) },
        || async { answered(timeout(TRY, js.update_key_value(config.clone())).await) },
    )
    .await
}

/// An object store. One that exists with another configuration is used as
/// it is (its chunks are the same whatever its limits).
pub(super) async fn object_store(
    js: &jetstream::Context,
    what: &'static str,
    config: object_store::Config,
) -> Result<object_store::ObjectStore, ClusterError> {
    let bucket = config.bucket.clone();
    until_made(
        what,
        || async { classify(timeout(TRY, js.create_object_store(config.clone())).await) },
        || async { answered(timeout(TRY, js.get_object_store(&bucket)).await) },
    )
    .await
}
