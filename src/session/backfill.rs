//! Resumes older than the ring, from the log. A client that was away
//! longer than the ring reaches back (a phone asleep through a burst of
//! per-player events, an edge or a new owner whose ring was filled from
//! the log's tail) would otherwise get a snapshot (`resync`). The log holds
//! every event with its exact bytes, so the session reads the missing ones
//! off its thread and replays them, then the ring's; what the reader may
//! not see is filtered by audience, and superseded kinds are conflated as
//! the ring does. A read that fails, or that does not reach back to the
//! client's `since` (the log trims behind its snapshots), falls back to the
//! resync the contract describes.

use super::Session;
use crate::game::Role;
use crate::journal::LoggedEvent;
use bytestring::ByteString;
use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

/// What a log read brings: the events after the reader's `since`, oldest
/// first (possibly past the actor's seq: committed, not yet applied).
pub type Older = Vec<LoggedEvent>;

impl Session {
    /// Reads the events after `since` from the log, off the actor's thread,
    /// if the ring cannot replay them for this reader and the log might.
    /// At most `--ring-events` events are read, and only for a reader at
    /// most twice that far behind (further back, a snapshot is cheaper).
    pub(super) fn read_older(
        &self,
        since: u64,
        role: Role,
        player: Option<&str>,
    ) -> Option<tokio::task::JoinHandle<Option<Older>>> {
        let limit = self.env.cfg.ring_events.max(1);
        let behind = self.seq.checked_sub(since)?;
        if behind == 0 || behind > 2 * limit as u64 {
            return None;
        }
        if self.ring.since(since, self.seq, role, player).is_some() {
            return None;
        }
        let log = self.env.log.clone()?;
        let code = self.code().to_string();
        Some(tokio::task::spawn_blocking(move || {
            match log.events_after(&code, since, limit) {
                Ok(events) => Some(events),
                Err(e) => {
                    log::warn!("session {code}: reading events after {since}: {e}");
                    None
                }
            }
        }))
    }

    /// The frames after `since` this reader may see, from the log's events
    /// (`older`) and then the ring; `None` when they do not join up (the
    /// reader must resync). Returns the frames and the seq they reach.
    pub(super) fn replay_with(
        &self,
        older: &[LoggedEvent],
        since: u64,
        role: Role,
        player: Option<&str>,
    ) -> Option<(Vec<ByteString>, u64)> {
        if older.first()?.seq != since + 1 {
            return None;
        }
        let upto = older.last()?.seq.min(self.seq);
        let rest = self.ring.since(upto, self.seq, role, player)?;
        let frames = older
            .iter()
            .take_while(|e| e.seq <= upto)
            .filter(|e| e.audience.includes(role, player))
            .map(|e| &e.frame)
            .chain(rest.into_iter().map(|h| &h.frame));
        let frames = conflate(frames.cloned().collect());
        self.env.metrics.log_replays.fetch_add(1, Relaxed);
        Some((frames, self.seq))
    }

    /// A long poll's answer from the log's events alone: what this reader
    /// may see of them, up to the actor's seq (the next poll goes on from
    /// there, from the ring or the log again).
    pub(super) fn poll_from(
        &self,
        older: &[LoggedEvent],
        since: u64,
        role: Role,
        player: Option<&str>,
    ) -> Option<String> {
        if older.first()?.seq != since + 1 {
            return None;
        }
        let upto = older.last()?.seq.min(self.seq);
        let frames: Vec<ByteString> = older
            .iter()
            .take_while(|e| e.seq <= upto)
            .filter(|e| e.audience.includes(role, player))
            .map(|e| e.frame.clone())
            .collect();
        self.env.metrics.log_replays.fetch_add(1, Relaxed);
        Some(super::presence::poll_body(upto, conflate(frames).iter()))
    }
}

/// Keeps only the latest frame of each superseding kind (a leaderboard, a
/// count), as the ring and a slow socket's queue do.
fn conflate(frames: Vec<ByteString>) -> Vec<ByteString> {
    let mut seen: HashSet<&'static str> = HashSet::new();
    let keep: Vec<bool> = frames
        .iter()
        .rev()
        .map(|f| match super::edge::kind_of(f) {
            Some(k) => seen.insert(k),
            None => true,
        })
        .collect();
    frames
        .into_iter()
        .zip(keep.into_iter().rev())
        .filter_map(|(f, k)| k.then_some(f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_of_a_superseding_kind_is_kept() {
        let f = |s: &str| ByteString::from(s.to_string());
        let frames = vec![
            f(r#"{"type":"leaderboard:updated","seq":1}"#),
            f(r#"{"type":"question:opened","seq":2}"#),
            f(r#"{"type":"presence:count","seq":3}"#),
            f(r#"{"type":"leaderboard:updated","seq":4}"#),
            f(r#"{"type":"presence:count","seq":5}"#),
        ];
        let kept: Vec<String> = conflate(frames).iter().map(|b| b.to_string()).collect();
        assert_eq!(
            kept,
            vec![
                r#"{"type":"question:opened","seq":2}"#,
                r#"{"type":"leaderboard:updated","seq":4}"#,
                r#"{"type":"presence:count","seq":5}"#,
            ]
        );
    }
}
