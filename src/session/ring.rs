//! Recent events of a session, for clients that resume with `since` (and for
//! the long-poll fallback).
//!
//! Events are kept in lanes by audience: one for everyone, one for the staff
//! (MC and display), and a small one per player. So per-player events (one
//! `score:updated` each on a reveal) and per-player staff events
//! (`presence:changed` as 10,000 phones reconnect) never push the events that
//! everyone needs out of reach. A reader's replay merges its lanes by seq.
//!
//! Memory is bounded by bytes as well as by count: the public and the staff
//! lane each hold at most a quarter of `--ring-bytes`, and all player lanes
//! together at most half of it (the oldest player event anywhere goes
//! first). A frame larger than an eighth of its lane's budget (a
//! `leaderboard:full` of thousands of players) is not kept at all: it acts
//! as a barrier, and a reader that would need it resyncs from the snapshot,
//! which is what it would have been sent anyway once the replay no longer
//! fits its outbox. And the latest of a kind that supersedes the ones
//! before it (`leaderboard:full`, `leaderboard:updated`, `presence:count`)
//! is kept once: the older ones' frames are freed and replays skip them,
//! as a slow socket's outbox conflates them.

use crate::game::{Audience, PlayerId, Role};
use bytestring::ByteString;
use std::collections::{HashMap, VecDeque};

/// One held event.
#[derive(Debug, Clone)]
pub struct Held {
    pub seq: u64,
    pub audience: Audience,
    pub frame: ByteString,
    /// A newer event of the same kind made this one moot; its frame is
    /// freed and a replay skips it.
    superseded: bool,
}

#[derive(Debug)]
struct Lane {
    items: VecDeque<Held>,
    cap: usize,
    /// The latest event of each superseding kind (`leaderboard:full`, ...).
    latest: HashMap<&'static str, u64>,
    /// Bytes of the frames held.
    bytes: usize,
    /// Every event of this lane with seq <= floor is no longer held.
    floor: u64,
}

impl Lane {
    fn new(cap: usize, floor: u64) -> Self {
        Lane {
            items: VecDeque::new(),
            cap: cap.max(1),
            latest: HashMap::new(),
            bytes: 0,
            floor,
        }
    }

    /// Appends `h`, dropping the oldest past the count cap or `max_bytes`;
    /// a frame over `max_frame` is not kept but raises the floor past it.
    /// Returns the bytes freed and added.
    /// An event of kind `supersedes` makes the previous one of that kind
    /// moot (it is kept once: the latest).
    fn push(
        &mut self,
        h: Held,
        supersedes: Option<&'static str>,
        max_bytes: usize,
        max_frame: usize,
    ) -> (usize, usize) {
        let len = h.frame.len();
        if len > max_frame {
            let freed = self.bytes;
            self.items.clear();
            self.latest.clear();
            self.bytes = 0;
            self.floor = h.seq;
            return (freed, 0);
        }
        let mut freed = 0;
        if let Some(prev) = supersedes.and_then(|k| self.latest.insert(k, h.seq)) {
            let i = self.items.partition_point(|x| x.seq < prev);
            if let Some(old) = self.items.get_mut(i).filter(|x| x.seq == prev) {
                freed += old.frame.len();
                self.bytes -= old.frame.len();
                old.frame = ByteString::new();
                old.superseded = true;
            }
        }
        self.items.push_back(h);
        self.bytes += len;
        while self.items.len() > self.cap || (self.bytes > max_bytes && self.items.len() > 1) {
            freed += self.pop_front();
        }
        (freed, len)
    }

    /// Drops the oldest item; returns its size.
    fn pop_front(&mut self) -> usize {
        match self.items.pop_front() {
            Some(old) => {
                self.floor = old.seq;
                self.bytes -= old.frame.len();
                old.frame.len()
            }
            None => 0,
        }
    }

    fn after(&self, since: u64) -> impl Iterator<Item = &Held> {
        let start = self.items.partition_point(|h| h.seq <= since);
        self.items.range(start..).filter(|h| !h.superseded)
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
    /// Every player-lane push, oldest first, to evict across lanes by age
    /// (entries whose event is already gone are skipped).
    player_order: VecDeque<(u64, PlayerId)>,
    /// Bytes and events held in all player lanes.
    player_bytes: usize,
    player_items: usize,
    /// Budget of the public and of the staff lane, and of all player lanes.
    lane_bytes: usize,
    players_bytes: usize,
    /// Seq when the ring started: nothing before it is held anywhere.
    base: u64,
}

impl Ring {
    /// An empty ring for a session whose last sent seq is `seq`, holding at
    /// most `cap` events per lane and `bytes` bytes of frames in all.
    pub fn new(cap: usize, bytes: usize, seq: u64) -> Self {
        let bytes = bytes.max(1024);
        Ring {
            all: Lane::new(cap, seq),
            staff: Lane::new(cap, seq),
            players: HashMap::new(),
            player_order: VecDeque::new(),
            player_bytes: 0,
            player_items: 0,
            lane_bytes: bytes / 4,
            players_bytes: bytes / 2,
            base: seq,
        }
    }

    /// Bytes of frames held, in all lanes.
    pub fn bytes(&self) -> usize {
        self.all.bytes + self.staff.bytes + self.player_bytes
    }

    fn push_player(&mut self, p: &str, held: Held) {
        let base = self.base;
        let seq = held.seq;
        let max_frame = self.players_bytes / 8;
        let lane = self
            .players
            .entry(p.to_string())
            .or_insert_with(|| Lane::new(PLAYER_LANE, base));
        let before = lane.items.len();
        let (freed, added) = lane.push(held, None, usize::MAX, max_frame);
        self.player_items = self.player_items + lane.items.len() - before;
        self.player_bytes = self.player_bytes + added - freed;
        if added > 0 {
            self.player_order.push_back((seq, p.to_string()));
        }
        while self.player_bytes > self.players_bytes {
            let Some((seq, p)) = self.player_order.pop_front() else {
                break;
            };
            if let Some(lane) = self.players.get_mut(&p) {
                if lane.items.front().is_some_and(|h| h.seq == seq) {
                    self.player_bytes -= lane.pop_front();
                    self.player_items -= 1;
                }
            }
        }
        // Entries of events already gone (count cap, departed players) are
        // dropped in bulk once they outnumber the live ones.
        if self.player_order.len() > 2 * self.player_items + 1024 {
            let players = &self.players;
            self.player_order.retain(|(seq, p)| {
                players
                    .get(p)
                    .is_some_and(|l| l.items.front().is_some_and(|h| h.seq <= *seq))
            });
        }
    }

    /// Holds an event. `supersedes`: its kind, when a newer event of the
    /// kind makes older ones moot (the latest leaderboard or count is all a
    /// resuming reader needs), so the ring keeps one of each such kind.
    pub fn push(
        &mut self,
        seq: u64,
        audience: Audience,
        frame: ByteString,
        supersedes: Option<&'static str>,
    ) {
        let held = Held {
            seq,
            audience: audience.clone(),
            frame,
            superseded: false,
        };
        let (lane_bytes, max_frame) = (self.lane_bytes, self.lane_bytes / 8);
        match &audience {
            Audience::All => {
                self.all.push(held, supersedes, lane_bytes, max_frame);
            }
            // One lane serves several audiences: a kind supersedes only
            // within its own audience.
            Audience::Staff => {
                self.staff.push(held, supersedes, lane_bytes, max_frame);
            }
            Audience::Mc | Audience::Display => {
                self.staff.push(held, None, lane_bytes, max_frame);
            }
            Audience::Player(p) => self.push_player(p, held),
            Audience::StaffAndPlayer(p) => {
                self.push_player(p, held.clone());
                self.staff.push(held, None, lane_bytes, max_frame);
            }
        }
    }

    /// Drops a player's lane (the player is gone).
    pub fn forget_player(&mut self, p: &str) {
        if let Some(l) = self.players.remove(p) {
            self.player_bytes -= l.bytes;
            self.player_items -= l.items.len();
        }
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
        let mut r = Ring::new(cap, 1 << 20, 0);
        for s in 1..=n {
            let aud = if s % 2 == 0 {
                Audience::Staff
            } else {
                Audience::All
            };
            r.push(s, aud, ByteString::from(s.to_string()), None);
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
        let mut r = Ring::new(4, 1 << 20, 0);
        r.push(1, Audience::All, ByteString::from("q"), None);
        for s in 2..1000 {
            r.push(s, Audience::Staff, ByteString::from("presence"), None);
        }
        for s in 1000..1500 {
            r.push(
                s,
                Audience::Player(format!("p{s}")),
                ByteString::from("score"),
                None,
            );
        }
        r.push(
            1500,
            Audience::Player("me".into()),
            ByteString::from("mine"),
            None,
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
        let mut r = Ring::new(8, 1 << 20, 0);
        r.push(
            1,
            Audience::StaffAndPlayer("p".into()),
            ByteString::from("removed"),
            None,
        );
        assert_eq!(seqs(r.since(0, 1, Role::Player, Some("p"))), vec![1]);
        assert_eq!(seqs(r.since(0, 1, Role::Display, None)), vec![1]);
        r.forget_player("p");
        assert!(r.since(0, 1, Role::Player, Some("p")).unwrap().is_empty());
    }

    #[test]
    fn bytes_stay_under_the_cap_and_large_frames_are_a_barrier() {
        let cap = 64 * 1024;
        let mut r = Ring::new(100_000, cap, 0);
        let frame = ByteString::from("x".repeat(100));
        let mut seq = 0;
        for i in 0..5000 {
            seq += 1;
            r.push(seq, Audience::All, frame.clone(), None);
            seq += 1;
            r.push(seq, Audience::Staff, frame.clone(), None);
            seq += 1;
            r.push(
                seq,
                Audience::Player(format!("p{}", i % 300)),
                frame.clone(),
                None,
            );
            assert!(r.bytes() <= cap, "{} > {cap}", r.bytes());
        }
        // The newest events are still there.
        let last = r.since(seq - 3, seq, Role::Player, Some("p199")).unwrap();
        assert_eq!(last.len(), 2);
        // A frame over an eighth of the staff lane is not kept: a staff
        // reader from before it resyncs; one from after it replays.
        seq += 1;
        r.push(
            seq,
            Audience::Staff,
            ByteString::from("y".repeat(cap / 16)),
            None,
        );
        assert!(r.since(seq - 1, seq, Role::Mc, None).is_none());
        seq += 1;
        r.push(seq, Audience::Staff, frame.clone(), None);
        assert_eq!(seqs(r.since(seq - 1, seq, Role::Mc, None)), vec![seq]);
        // Players never needed it.
        assert!(r.since(seq - 3, seq, Role::Player, Some("p1")).is_some());
        assert!(r.bytes() <= cap);
        // Departed players' bytes are released.
        for i in 0..300 {
            r.forget_player(&format!("p{i}"));
        }
        assert!(r.bytes() <= cap / 2);
    }

    #[test]
    fn a_superseding_kind_is_kept_once_and_replays_skip_the_old_ones() {
        let mut r = Ring::new(100, 1 << 20, 0);
        let lb = Some("leaderboard:full");
        r.push(1, Audience::Staff, ByteString::from("full-1"), lb);
        r.push(2, Audience::Staff, ByteString::from("joined"), None);
        r.push(3, Audience::Staff, ByteString::from("full-3"), lb);
        r.push(4, Audience::Mc, ByteString::from("mc-only"), None);
        assert_eq!(seqs(r.since(0, 4, Role::Mc, None)), vec![2, 3, 4]);
        assert_eq!(seqs(r.since(0, 4, Role::Display, None)), vec![2, 3]);
        assert_eq!(r.bytes(), "joined".len() + "full-3".len() + "mc-only".len());
    }
}
