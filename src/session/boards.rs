//! Derived broadcasts, coalesced on timers: the leaderboards, the ranks
//! moved by departures, and the displays' answered count.
//!
//! A leaderboard tick sends `leaderboard:updated` (top 10) to everyone when
//! what it shows differs from the last one sent. The full list goes to the
//! MC and displays as `leaderboard:full` only while the session is small
//! (`--full-leaderboard-players`); a larger session sends the MC
//! `leaderboard:changed` with just the entries that moved, at most once per
//! `--leaderboard-diff-ms`, so 10,000 players cost the MC's phone a few
//! changed lines a second rather than the whole list 4 times a second.
//! Displays show only the top 10, which `leaderboard:updated` has.

use super::Session;
use crate::game::leaderboard::Entry;
use crate::game::{Audience, Fact, GameEvent, Phase, PlayerId};
use actix::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the MC was last sent of the full leaderboard.
#[derive(Default)]
pub struct BoardSent {
    /// Score and rank of every player in the last full or changed list.
    told: HashMap<PlayerId, (f64, usize)>,
    /// A large-session diff is owed (scores moved since the last one).
    owed: bool,
    last: Option<Instant>,
    /// When ranks were last settled (told to every player whose rank moved).
    settled: Option<Instant>,
    /// The question marker the last tick saw (`GameState::question_marker`).
    question: Option<(u64, bool)>,
    /// The last `leaderboard:updated` proposed: one that would show the
    /// same top, total and teams again is not sent (in a 10,000-player room
    /// most score changes are below the top 10, and each one sent is N
    /// frames). Forgotten when a record is refused.
    top: Option<GameEvent>,
    /// When the last `leaderboard:updated` went out.
    top_at: Option<Instant>,
}

impl BoardSent {
    /// A record was refused: what it carried was never sent.
    pub(super) fn forget_top(&mut self) {
        self.top = None;
    }

    /// Entries that differ from what was told, and players no longer
    /// present; remembers `entries` as told.
    fn diff(&mut self, entries: &[Entry]) -> (Vec<Entry>, Vec<PlayerId>) {
        let mut changed = Vec::new();
        let mut next = HashMap::with_capacity(entries.len());
        for e in entries {
            let now = (e.score, e.rank);
            if self.told.remove(&e.player_id) != Some(now) {
                changed.push(e.clone());
            }
            next.insert(e.player_id.clone(), now);
        }
        let removed = std::mem::replace(&mut self.told, next)
            .into_keys()
            .collect();
        (changed, removed)
    }

    fn remember(&mut self, entries: &[Entry]) {
        self.told = entries
            .iter()
            .map(|e| (e.player_id.clone(), (e.score, e.rank)))
            .collect();
    }
}

/// Whether a tick holds its broadcasts: a large session whose question
/// opened or closed since the last tick (`last`, the marker that tick saw).
fn hold_for_question(large: bool, last: Option<(u64, bool)>, now: (u64, bool)) -> bool {
    large && last.is_some_and(|m| m != now)
}

impl Session {
    /// The leaderboard tick (every 250 ms): ranks moved by departures, the
    /// top 10, and the full list or its changes (module docs).
    pub(super) fn flush_leaderboard(&mut self, ctx: &mut Context<Self>) {
        // An edge relays the owner's leaderboards.
        if self.live.phase == Phase::Ended || self.is_edge() {
            return;
        }
        let diff_every = Duration::from_millis(self.env.cfg.leaderboard_diff_ms);
        if self.leaderboard_dirty {
            self.board.owed = true;
        }
        let diff_due = self.board.owed && self.board.last.is_none_or(|t| t.elapsed() >= diff_every);
        let mut facts = Vec::new();
        // Settling ranks tells every player whose rank moved: up to N
        // frames. A large session settles at most once per
        // `--rank-settle-ms` (2 s), so a burst of MC overrides costs a few
        // rounds of rank updates, not one per tick.
        let large = self.live.total_players() > self.env.cfg.full_leaderboard_players;
        // A question that opened or closed since the last tick is still
        // being fanned out to every player: in a large session, N frames
        // of rank updates or top 10 queued now would wake every socket
        // again ahead of it. They wait one tick (at least 250 ms after the
        // question's event) instead.
        let marker = self.live.question_marker();
        if hold_for_question(large, self.board.question.replace(marker), marker) {
            return;
        }
        let settle_every = if large {
            Duration::from_millis(self.env.cfg.rank_settle_ms)
        } else {
            Duration::ZERO
        };
        // Each `leaderboard:updated` is one frame per player: a large
        // session sends it at most once per `--leaderboard-diff-ms`, as it
        // sends the MC its changes.
        let top_due = !large || self.board.top_at.is_none_or(|t| t.elapsed() >= diff_every);
        let top_later = self.leaderboard_dirty && !top_due;
        let settle_due = self
            .board
            .settled
            .is_none_or(|t| t.elapsed() >= settle_every);
        // A round of settling that told part of the room goes on each tick.
        let going_on = self.live.settling_ranks();
        let settle = going_on || (self.ranks_dirty && settle_due);
        if !(self.leaderboard_dirty || diff_due || settle) {
            return;
        }
        if settle {
            self.ranks_dirty = false;
            if !going_on {
                self.board.settled = Some(Instant::now());
            }
            // A large session tells at most `--rank-settle-batch` players a
            // tick, so no turn of the actor sends N frames at once.
            let limit = large.then_some(self.env.cfg.rank_settle_batch);
            facts.push(Fact::RanksSettled { limit });
        }
        let mut events = Vec::new();
        if top_due && std::mem::take(&mut self.leaderboard_dirty) {
            let top = GameEvent::LeaderboardUpdated {
                top: self.live.top(),
                total_players: self.live.total_players(),
                teams: self.live.team_top(),
            };
            if self.board.top.as_ref() != Some(&top) {
                self.board.top = Some(top.clone());
                self.board.top_at = Some(Instant::now());
                events.push(top);
            }
        }
        let total = self.live.total_players();
        if total <= self.env.cfg.full_leaderboard_players {
            if self.board.owed {
                let entries = self.live.leaderboard();
                self.board.remember(&entries);
                self.board.owed = false;
                events.push(GameEvent::LeaderboardFull {
                    entries,
                    teams: self.live.team_all(),
                });
            }
        } else if self.board.owed && self.board.last.is_none_or(|t| t.elapsed() >= diff_every) {
            self.board.owed = false;
            self.board.last = Some(Instant::now());
            let (entries, removed) = self.board.diff(&self.live.leaderboard());
            if !entries.is_empty() || !removed.is_empty() {
                events.push(GameEvent::LeaderboardChanged {
                    entries,
                    removed,
                    total_players: total,
                });
            }
        }
        // The ranks fact is evolved first, so its `score:updated` events
        // come before the boards that include them.
        let extra = events.into_iter().map(super::commit::derived).collect();
        self.propose(facts, extra, None, ctx);
        // The `score:updated` this tick told flagged the board again; it
        // already shows them (telling moves no rank).
        self.ranks_dirty = false;
        self.leaderboard_dirty = top_later;
    }

    /// Displays' answered count: the latest `player:answer-submitted`, at
    /// most once per `--display-count-ms`, never one per answer.
    pub(super) fn flush_display_count(&mut self, ctx: &mut Context<Self>) {
        if self.live.phase == Phase::Ended || self.is_edge() {
            self.display_answered = None;
            return;
        }
        let Some(e) = self.display_answered.take() else {
            return;
        };
        // Nobody to show it to: skip it (a display that joins later gets the
        // next count; the count is state, not history).
        if self.conns.displays().0 > 0 || self.waiters.has_displays() {
            self.propose(Vec::new(), vec![(e, Audience::Display)], None, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, score: f64, rank: usize) -> Entry {
        Entry {
            player_id: id.into(),
            name: id.to_uppercase(),
            score,
            rank,
        }
    }

    #[test]
    fn a_large_session_holds_one_tick_after_a_question_opens_or_closes() {
        // Opened (openings 1 -> 2, into the question), then closed.
        assert!(hold_for_question(true, Some((1, false)), (2, true)));
        assert!(hold_for_question(true, Some((2, true)), (2, false)));
        // The next tick sees the same marker: broadcasts go.
        assert!(!hold_for_question(true, Some((2, true)), (2, true)));
        // The first tick has nothing to compare; small sessions never hold.
        assert!(!hold_for_question(true, None, (2, true)));
        assert!(!hold_for_question(false, Some((1, false)), (2, true)));
    }

    #[test]
    fn a_diff_carries_what_moved_and_who_left() {
        let mut b = BoardSent::default();
        b.remember(&[e("a", 2.0, 1), e("b", 1.0, 2), e("c", 0.0, 3)]);
        // b leaves: c moves up; a stays.
        let (changed, removed) = b.diff(&[e("a", 2.0, 1), e("c", 0.0, 2)]);
        assert_eq!(changed, vec![e("c", 0.0, 2)]);
        assert_eq!(removed, vec!["b".to_string()]);
        // Nothing moved: an empty diff; a newcomer is a change.
        assert_eq!(b.diff(&[e("a", 2.0, 1), e("c", 0.0, 2)]), (vec![], vec![]));
        let (changed, removed) = b.diff(&[e("a", 2.0, 1), e("c", 0.0, 2), e("d", 0.0, 2)]);
        assert_eq!((changed, removed), (vec![e("d", 0.0, 2)], vec![]));
    }
}
