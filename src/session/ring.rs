//! A bounded ring of a session's recent events, for clients that resume
//! with `since` (and for the long-poll fallback).

use crate::game::{Audience, Role};
use bytestring::ByteString;
use std::collections::VecDeque;

/// One held event.
#[derive(Debug, Clone)]
pub struct Held {
    pub seq: u64,
    pub audience: Audience,
    pub frame: ByteString,
}

/// See the module docs.
#[derive(Debug)]
pub struct Ring {
    items: VecDeque<Held>,
    cap: usize,
    /// Every event with seq <= floor is no longer held.
    floor: u64,
}

impl Ring {
    /// An empty ring for a session whose last sent seq is `seq`.
    pub fn new(cap: usize, seq: u64) -> Self {
        Ring {
            items: VecDeque::new(),
            cap: cap.max(1),
            floor: seq,
        }
    }

    pub fn push(&mut self, seq: u64, audience: Audience, frame: ByteString) {
        if self.items.len() >= self.cap {
            if let Some(old) = self.items.pop_front() {
                self.floor = old.seq;
            }
        }
        self.items.push_back(Held {
            seq,
            audience,
            frame,
        });
    }

    /// The frames after `since` that `role`/`player` may see, in order; `None`
    /// when some of them are no longer held (the client must resync).
    pub fn since(
        &self,
        since: u64,
        last_seq: u64,
        role: Role,
        player: Option<&str>,
    ) -> Option<Vec<&Held>> {
        if since < self.floor || since > last_seq {
            return None;
        }
        let start = self.items.partition_point(|h| h.seq <= since);
        Some(
            self.items
                .range(start..)
                .filter(|h| h.audience.includes(role, player))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(n: u64, cap: usize) -> Ring {
        let mut r = Ring::new(cap, 0);
        for s in 1..=n {
            let aud = if s % 2 == 0 {
                Audience::Staff
            } else {
                Audience::All
            };
            r.push(s, aud, ByteString::from(s.to_string()));
        }
        r
    }

    #[test]
    fn replays_exactly_what_was_missed_for_the_role() {
        let r = ring_with(6, 10);
        let got: Vec<u64> = r
            .since(2, 6, Role::Player, Some("p"))
            .unwrap()
            .iter()
            .map(|h| h.seq)
            .collect();
        assert_eq!(got, vec![3, 5]);
        let got: Vec<u64> = r
            .since(2, 6, Role::Mc, None)
            .unwrap()
            .iter()
            .map(|h| h.seq)
            .collect();
        assert_eq!(got, vec![3, 4, 5, 6]);
        assert!(r.since(6, 6, Role::Mc, None).unwrap().is_empty());
    }

    #[test]
    fn too_old_or_from_the_future_means_resync() {
        let r = ring_with(20, 5);
        assert!(r.since(14, 20, Role::Mc, None).is_none());
        assert_eq!(r.since(15, 20, Role::Mc, None).unwrap().len(), 5);
        assert!(r.since(21, 20, Role::Mc, None).is_none());
    }
}
