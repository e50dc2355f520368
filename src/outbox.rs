//! A connection's bounded outbound queue, shared by its session (which
//! pushes) and its socket (which drains it as a stream, [`Frames`]).
//!
//! Why not the socket actor's mailbox: a socket whose peer stops reading is
//! not polled, so its mailbox never drains, and `do_send` would grow it
//! without bound. Here the session sees the queued bytes, conflates
//! superseded events, and closes the connection when it still overflows.
//! Waking the socket is one atomic waker call, no message allocation.

use bytestring::ByteString;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// One frame waiting to be written.
#[derive(Debug, Clone, PartialEq)]
pub enum OutFrame {
    Text(ByteString),
    Ping,
    Close(u16, String),
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; a wake-up was already pending.
    Queued,
    /// Queued, and the socket was woken.
    Wake,
    /// No room even after conflation: the caller closes the connection.
    Overflow,
    /// The connection is closing; the frame was dropped.
    Closed,
}

struct Item {
    frame: OutFrame,
    coalesce: Option<&'static str>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Item>,
    bytes: usize,
    wake_pending: bool,
    closed: bool,
}

/// See the module docs.
pub struct Outbox {
    inner: Mutex<Inner>,
    limit: usize,
    last_seen_ms: AtomicU64,
    waker: AtomicWaker,
    /// Notified when the connection is closed by the server (or its socket
    /// actor ends): the socket's reaper then gives it a grace period to go.
    ended: tokio::sync::Notify,
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
        Outbox {
            inner: Mutex::new(Inner::default()),
            limit,
            last_seen_ms: AtomicU64::new(crate::protocol::now_ms()),
            waker: AtomicWaker::new(),
            ended: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a sign of life from the peer.
    pub fn touch(&self) {
        self.last_seen_ms
            .store(crate::protocol::now_ms(), Ordering::Relaxed);
    }

    pub fn last_seen_ms(&self) -> u64 {
        self.last_seen_ms.load(Ordering::Relaxed)
    }

    fn wake(inner: &mut Inner) -> Push {
        if inner.wake_pending {
            Push::Queued
        } else {
            inner.wake_pending = true;
            Push::Wake
        }
    }

    /// Wakes the socket when a push asked for it (outside the lock).
    fn notify(&self, p: Push) -> Push {
        if p == Push::Wake {
            self.waker.wake();
        }
        p
    }

    /// Queues a text frame; `coalesce` names events a newer one supersedes.
    pub fn push_text(&self, text: ByteString, coalesce: Option<&'static str>) -> Push {
        let p = self.push_text_locked(text, coalesce);
        self.notify(p)
    }

    fn push_text_locked(&self, text: ByteString, coalesce: Option<&'static str>) -> Push {
        let mut inner = self.lock();
        if inner.closed {
            return Push::Closed;
        }
        let len = text.len();
        if inner.bytes + len > self.limit {
            if let Some(key) = coalesce {
                let mut freed = 0;
                inner.queue.retain(|i| {
                    let drop = i.coalesce == Some(key);
                    if drop {
                        if let OutFrame::Text(t) = &i.frame {
                            freed += t.len();
                        }
                    }
                    !drop
                });
                inner.bytes -= freed;
            }
            if inner.bytes + len > self.limit {
                return Push::Overflow;
            }
        }
        inner.bytes += len;
        inner.queue.push_back(Item {
            frame: OutFrame::Text(text),
            coalesce,
        });
        Self::wake(&mut inner)
    }

    /// Queues a heartbeat ping (not counted against the byte limit).
    pub fn push_ping(&self) -> Push {
        let p = {
            let mut inner = self.lock();
            if inner.closed {
                return Push::Closed;
            }
            inner.queue.push_back(Item {
                frame: OutFrame::Ping,
                coalesce: None,
            });
            Self::wake(&mut inner)
        };
        self.notify(p)
    }

    /// Queues a close frame after what is queued; nothing more is accepted.
    /// With `discard`, queued frames are dropped first (the peer is too slow
    /// to ever read them).
    pub fn close(&self, code: u16, reason: &str, discard: bool) -> Push {
        let p = {
            let mut inner = self.lock();
            if inner.closed {
                return Push::Closed;
            }
            if discard {
                inner.queue.clear();
                inner.bytes = 0;
            }
            inner.closed = true;
            inner.queue.push_back(Item {
                frame: OutFrame::Close(code, reason.to_string()),
                coalesce: None,
            });
            Self::wake(&mut inner)
        };
        self.ended.notify_one();
        self.notify(p)
    }

    /// Records that the connection is ending (its socket closed or stopped);
    /// wakes [`ended`](Self::ended).
    pub fn mark_ended(&self) {
        self.ended.notify_one();
    }

    /// Resolves once the server has closed this connection ([`close`](Self::close))
    /// or its socket ended ([`mark_ended`](Self::mark_ended)), also if that
    /// happened before the call.
    pub async fn ended(&self) {
        self.ended.notified().await
    }

    #[cfg(test)]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes every queued frame; the next push will ask for a new wake.
    pub fn drain(&self) -> Vec<OutFrame> {
        let mut inner = self.lock();
        inner.wake_pending = false;
        inner.bytes = 0;
        inner.queue.drain(..).map(|i| i.frame).collect()
    }

    /// Takes every queued frame, or registers `cx` to be woken by the next push.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Vec<OutFrame>> {
        self.waker.register(cx.waker());
        let frames = self.drain();
        if frames.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(frames)
        }
    }

    /// Bytes currently queued.
    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// The outbox as a stream of batches of frames, for the socket actor.
pub struct Frames(pub Arc<Outbox>);

impl futures_util::Stream for Frames {
    type Item = Vec<OutFrame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_drain(cx).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn text(n: usize) -> ByteString {
        ByteString::from("x".repeat(n))
    }

    #[test]
    fn only_the_first_push_asks_for_a_wake() {
        let o = Outbox::new(100);
        assert_eq!(o.push_text(text(10), None), Push::Wake);
        assert_eq!(o.push_text(text(10), None), Push::Queued);
        assert_eq!(o.drain().len(), 2);
        assert_eq!(o.push_ping(), Push::Wake);
    }

    #[test]
    fn a_full_queue_conflates_then_overflows() {
        let o = Outbox::new(100);
        o.push_text(text(40), Some("lb"));
        o.push_text(text(40), None);
        // Dropping the older leaderboard makes room for the newer one.
        assert_eq!(o.push_text(text(40), Some("lb")), Push::Queued);
        assert_eq!(o.queued_bytes(), 80);
        // Nothing to conflate: overflow.
        assert_eq!(o.push_text(text(40), None), Push::Overflow);
        let frames = o.drain();
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn a_close_before_anyone_waits_still_ends_the_wait() {
        let o = Outbox::new(100);
        o.close(4008, "slow", true);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(o.ended());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let o = Outbox::new(100);
        let mut fut = std::pin::pin!(o.ended());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        o.mark_ended();
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn close_discards_and_refuses_more() {
        let o = Outbox::new(100);
        o.push_text(text(50), None);
        o.close(4008, "slow", true);
        assert_eq!(o.push_text(text(1), None), Push::Closed);
        assert_eq!(o.drain(), vec![OutFrame::Close(4008, "slow".into())]);
        assert!(o.is_closed());
    }
}
