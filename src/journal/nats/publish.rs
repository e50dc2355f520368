//! One fenced publish of a session's batch. A publish that gets no answer
//! (a stream leader election, a lost connection) is retried for
//! [`RETRY_FOR`] with the same `Nats-Msg-Id` and fence, so a publish that did
//! land is acknowledged as a duplicate instead of being written twice or
//! refused. If the outcome is still unknown, the session's last message
//! tells; if even that cannot be read, the append is refused (`UNAVAILABLE`)
//! and the writer reads the session's end back before its next publish.

use super::read::{self, End};
use super::{subject, Handles};
use crate::store::StoreError;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::HeaderMap;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// How long an unanswered publish is retried (covers a stream leader
/// election, a few seconds) before the append is refused.
pub(super) const RETRY_FOR: Duration = Duration::from_secs(15);

/// How a publish ended.
pub(super) enum Outcome {
    /// At this stream sequence.
    Landed(u64),
    /// Someone else wrote to the session since this writer's last message.
    Fenced,
    /// Not written, and the cluster could not say otherwise.
    Unavailable(String),
}

/// Publishes one fenced message, retrying what got no answer (see the
/// module docs).
pub(super) async fn publish(
    h: &Handles,
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    msg_id: &str,
) -> Outcome {
    let deadline = Instant::now() + RETRY_FOR;
    let mut backoff = Duration::from_millis(50);
    let mut retried = false;
    loop {
        let sent =
            h.js.publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                .await;
        let acked = match sent {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        let err = match acked {
            Ok(ack) => return Outcome::Landed(ack.sequence),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                // The server deduplicates before it checks the fence, but a
                // retry refused by the fence may still be our own earlier
                // attempt: the last message says.
                if retried {
                    if let Some(seq) = landed(h, &subject, msg_id).await {
                        return Outcome::Landed(seq);
                    }
                }
                return Outcome::Fenced;
            }
            Err(e) => e,
        };
        if Instant::now() + backoff >= deadline {
            // Did it land anyway? The session's last message says.
            return match landed(h, &subject, msg_id).await {
                Some(seq) => Outcome::Landed(seq),
                None => Outcome::Unavailable(err.to_string()),
            };
        }
        retried = true;
        log::warn!("{subject}: publish not acknowledged ({err}); retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// The stream sequence of the session's last message if it is the one
/// published with `msg_id`.
async fn landed(h: &Handles, subject: &str, msg_id: &str) -> Option<u64> {
    match read::last_message(h, subject).await {
        Ok(Some((seq, Some(hm))))
            if hm.get(NATS_MESSAGE_ID).map(|v| v.as_str()) == Some(msg_id) =>
        {
            Some(seq)
        }
        _ => None,
    }
}

/// Where a session's log ends, read from the cluster.
pub(super) async fn resolve(h: &Handles, code: &str) -> Result<End, StoreError> {
    let subject = subject(code)?;
    let epoch = read::entry(h, code).await?.map_or(0, |e| e.epoch);
    match read::last_message(h, &subject).await? {
        None => Ok(End {
            epoch,
            ..End::default()
        }),
        Some((sseq, hm)) => {
            let (_, e, _, last, seq) = read::parse_headers(code, hm.as_ref())?;
            Ok(End {
                epoch: epoch.max(e),
                pos: last,
                seq,
                subject_seq: sseq,
            })
        }
    }
}
