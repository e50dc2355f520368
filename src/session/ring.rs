//! Recent events of a session, for clients that resume with `since` (and for
//! the long-poll fallback).
//!
//! Events are kept in lanes by audience: one for everyone, one for the staff
//! (MC and display), and a small one per player. So per-player events (one
//! `score:updated` each on a reveal) and per-player staff events
//! (`presence:changed` as 10,000 phones reconnect) never push the events that
//! everyone needs out of reach. A reader's replay merges its lanes by seq.

use crate::game::{Audience, PlayerId, Role};
use bytestring::ByteString;
use std::collections::{HashMap, VecDeque};

/// One held event.
#[derive(Debug, Clone)]
pub struct Held {
    pub seq: u64,
    pub audience: Audience,
    pub frame: ByteString,
}

#[derive(Debug)]
struct Lane {
    items: VecDeque<Held>,
    cap: usize,
    /// Every event of this lane with seq <= floor is no longer held.
    floor: u64,
}

impl Lane {
    fn new(cap: usize, floor: u64) -> Self {
        Lane {
            items: VecDeque::new(),
            cap: cap.max(1),
            floor,
        }
    }

    fn push(&mut self, h: Held) {
        if self.items.len() >= self.cap {
            if let Some(old) = self.items.pop_front() {
                self.floor = old.seq;
            }
        }
        self.items.push_back(h);
    }

    fn after(&self, since: u64) -> impl Iterator<Item = &Held> {
        let start = self.items.partition_point(|h| h.seq <= since);
        self.items.range(start..)
    }
}

/// Events held per player (their own `score:updated`, assignments, ...).
const PLAYER_LANE: usize = 256;

/// See the module docs.
#[derive(Debug)]
pub struct Ring {
    all: Lane,
    staff: Lane,
    players: HashMap<PlayerId, Lane>,
    /// Seq when the ring started: nothing before it is held anywhere.
    base: u64,
}

impl Ring {
    /// An empty ring for a session whose last sent seq is `seq`.
    pub fn new(cap: usize, seq: u64) -> Self {
        Ring {
            all: Lane::new(cap, seq),
            staff: Lane::new(cap, seq),
            players: HashMap::new(),
            base: seq,
        }
    }

    fn player_lane(&mut self, p: &str) -> &mut Lane {
        let base = self.base;
        self.players
            .entry(p.to_string())
            .or_insert_with(|| Lane::new(PLAYER_LANE, base))
    }

    pub fn push(&mut self, seq: u64, audience: Audience, frame: ByteString) {
        let held = Held {
            seq,
            audience: audience.clone(),
            frame,
        };
        match &audience {
            Audience::All => self.all.push(held),
            Audience::Staff | Audience::Mc => self.staff.push(held),
            Audience::Player(p) => self.player_lane(p).push(held),
            Audience::StaffAndPlayer(p) => {
                self.player_lane(p).push(held.clone());
                self.staff.push(held);
            }
        }
    }

    /// Drops a player's lane (the player is gone).
    pub fn forget_player(&mut self, p: &str) {
        self.players.remove(p);
    }

    /// The frames after `since` that `role`/`player` may see, in seq order;
    /// `None` when some of them are no longer held (the client must resync).
    pub fn since(
        &self,
        since: u64,
        last_seq: u64,
        role: Role,
        player: Option<&str>,
    ) -> Option<Vec<&Held>> {
        if since > last_seq {
            return None;
        }
        let mut lanes: Vec<&Lane> = vec![&self.all];
        if role != Role::Player {
            lanes.push(&self.staff);
        }
        if let (Role::Player, Some(p)) = (role, player) {
            if let Some(l) = self.players.get(p) {
                lanes.push(l);
            } else if since < self.base {
                return None;
            }
        }
        if lanes.iter().any(|l| since < l.floor) {
            return None;
        }
        let mut out: Vec<&Held> = lanes
            .into_iter()
            .flat_map(|l| l.after(since))
            .filter(|h| h.audience.includes(role, player))
            .collect();
        out.sort_by_key(|h| h.seq);
        Some(out)
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

    fn seqs(v: Option<Vec<&Held>>) -> Vec<u64> {
        v.unwrap().iter().map(|h| h.seq).collect()
    }

    #[test]
    fn replays_exactly_what_was_missed_for_the_role() {
        let r = ring_with(6, 10);
        assert_eq!(seqs(r.since(2, 6, Role::Player, Some("p"))), vec![3, 5]);
        assert_eq!(seqs(r.since(2, 6, Role::Mc, None)), vec![3, 4, 5, 6]);
        assert!(r.since(6, 6, Role::Mc, None).unwrap().is_empty());
    }

    #[test]
    fn too_old_or_from_the_future_means_resync() {
        let r = ring_with(20, 5);
        // Each lane holds 5: all = 11..19 odd (floor 9), staff = 12..20 even (floor 10).
        assert!(r.since(9, 20, Role::Mc, None).is_none());
        assert_eq!(
            seqs(r.since(10, 20, Role::Mc, None)),
            (11..=20).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(r.since(9, 20, Role::Player, Some("p"))).len(),
            5,
            "players need only the public lane"
        );
        assert!(r.since(21, 20, Role::Mc, None).is_none());
    }

    #[test]
    fn a_flood_of_staff_or_per_player_events_does_not_evict_public_ones() {
        let mut r = Ring::new(4, 0);
        r.push(1, Audience::All, ByteString::from("q"));
        for s in 2..1000 {
            r.push(s, Audience::Staff, ByteString::from("presence"));
        }
        for s in 1000..1500 {
            r.push(
                s,
                Audience::Player(format!("p{s}")),
                ByteString::from("score"),
            );
        }
        r.push(
            1500,
            Audience::Player("me".into()),
            ByteString::from("mine"),
        );
        // A player who saw nothing since 0 still resumes exactly.
        assert_eq!(
            seqs(r.since(0, 1500, Role::Player, Some("me"))),
            vec![1, 1500]
        );
        assert_eq!(seqs(r.since(0, 1500, Role::Player, Some("other"))), vec![1]);
        // The staff lane did overflow: the MC must resync.
        assert!(r.since(0, 1500, Role::Mc, None).is_none());
    }

    #[test]
    fn removed_players_lanes_go_and_staff_and_player_events_reach_both() {
        let mut r = Ring::new(8, 0);
        r.push(
            1,
            Audience::StaffAndPlayer("p".into()),
            ByteString::from("removed"),
        );
        assert_eq!(seqs(r.since(0, 1, Role::Player, Some("p"))), vec![1]);
        assert_eq!(seqs(r.since(0, 1, Role::Display, None)), vec![1]);
        r.forget_player("p");
        assert!(r.since(0, 1, Role::Player, Some("p")).unwrap().is_empty());
    }
}
