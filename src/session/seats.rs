//! Seats in a full session. A player who joined and went away without ever
//! answering (a bot that filled the room and disconnected, a phone that
//! scanned the code and left) should not keep a real player out with
//! `SESSION_FULL` until the MC resets. So when a new player arrives at a
//! full session, the player offline longest, who never answered anything
//! and has been offline for at least `--seat-reclaim-secs`, leaves
//! (`player:left`, as if they had pressed Leave) and the newcomer takes
//! the seat. A player who answered even once keeps their seat for the
//! night, online or not; so does anyone offline for less than the grace
//! period (a phone that lost Wi-Fi for a moment).
//!
//! Cost: O(1) amortized per presence change and per join (a queue by time
//! offline, stale entries dropped lazily).

use super::Session;
use crate::game::{Command, GameState, PlayerId, Role};
use actix::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Offline players, oldest first (see the module docs).
#[derive(Default)]
pub struct Seats {
    since: HashMap<PlayerId, Instant>,
    queue: VecDeque<(Instant, PlayerId)>,
}

impl Seats {
    /// `p` went offline (or joined without connecting) now.
    pub fn offline(&mut self, p: &str) {
        let now = Instant::now();
        self.since.insert(p.to_string(), now);
        self.queue.push_back((now, p.to_string()));
        if self.queue.len() > 2 * self.since.len() + 1024 {
            let since = &self.since;
            self.queue.retain(|(t, p)| since.get(p) == Some(t));
        }
    }

    /// `p` is online again, or gone from the session.
    pub fn present(&mut self, p: &str) {
        self.since.remove(p);
    }

    pub fn clear(&mut self) {
        self.since.clear();
        self.queue.clear();
    }

    /// The player offline longest (at least `grace`) for whom `free` holds;
    /// players for whom it does not are dropped for good (they answered).
    fn reclaimable(&mut self, grace: Duration, free: impl Fn(&str) -> bool) -> Option<PlayerId> {
        while let Some((t, p)) = self.queue.front() {
            if self.since.get(p) != Some(t) {
                self.queue.pop_front();
            } else if t.elapsed() < grace {
                return None;
            } else if !free(p) {
                let (_, p) = self.queue.pop_front()?;
                self.since.remove(&p);
            } else {
                let (_, p) = self.queue.pop_front()?;
                self.since.remove(&p);
                return Some(p);
            }
        }
        None
    }
}

/// Whether `p` never answered any question of the quiz.
fn never_answered(game: &GameState, p: &str) -> bool {
    game.quiz()
        .rounds
        .iter()
        .flat_map(|r| r.questions.iter())
        .all(|q| game.answer_of(p, &q.id).is_none())
}

impl Session {
    /// Before a new player is added: when the session is full, frees the
    /// seat of a player gone for good (module docs).
    pub(super) fn make_room(&mut self, ctx: &mut Context<Self>) {
        let secs = self.env.cfg.seat_reclaim_secs;
        // The owner makes room when it adds the forwarded player.
        if secs == 0 || self.is_edge() || self.live.total_players() < self.live.settings.max_players
        {
            return;
        }
        let (live, conns, pollers) = (&self.live, &self.conns, &self.pollers);
        let remote = &self.remote;
        let free = |p: &str| {
            live.player(p).is_some()
                && !conns.is_online(p)
                && !pollers.contains_key(p)
                && !remote.contains(p)
                && never_answered(live, p)
        };
        let Some(p) = self.seats.reclaimable(Duration::from_secs(secs), free) else {
            return;
        };
        let leave = Command::Leave {
            player_id: p.clone(),
        };
        match self.run(Role::Player, Some(&p), leave, |_| None, ctx) {
            Ok(_) => {
                log::info!("session {}: seat of {p} reclaimed", self.code());
                self.env.metrics.seats_reclaimed.fetch_add(1, Relaxed);
            }
            Err(e) => log::warn!("session {}: reclaiming {p}: {}", self.code(), e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_offline_free_player_goes_first_and_answerers_never() {
        let mut s = Seats::default();
        s.offline("a");
        s.offline("b");
        s.offline("c");
        s.present("a");
        let zero = Duration::ZERO;
        assert_eq!(s.reclaimable(zero, |p| p != "b"), Some("c".into()));
        // b answered: dropped for good, even when it goes offline again...
        assert_eq!(s.reclaimable(zero, |p| p != "b"), None);
        // ...unless it is offline anew (checked again then).
        s.offline("b");
        assert_eq!(s.reclaimable(zero, |_| true), Some("b".into()));
        s.offline("d");
        assert_eq!(s.reclaimable(Duration::from_secs(60), |_| true), None);
    }
}
