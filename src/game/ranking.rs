//! An incremental rank index: every player in leaderboard order (score
//! descending, ties in join order), kept sorted as scores change, so an
//! override, a join or a departure costs a binary search plus a move of the
//! entries between the old and the new position, never a re-sort of all N.
//!
//! Ranks follow [`leaderboard::rank`](super::leaderboard::rank) exactly: a
//! player's rank is one more than the number of players with a strictly
//! higher score. The index also remembers the lowest position changed since
//! ranks were last settled, so settling only looks at the players below it.

use super::PlayerId;
use std::cmp::Ordering;
use std::collections::HashMap;

/// One player's place in the order.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    score: f64,
    /// Join order: ties keep it.
    seq: u64,
    id: PlayerId,
}

/// Leaderboard order: higher score first, then earlier join.
fn order(a: (f64, u64), b: (f64, u64)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// See the module docs. Scores are finite (they come from JSON numbers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankIndex {
    slots: Vec<Slot>,
    /// Each player's (score, seq): finds their slot by binary search.
    keys: HashMap<PlayerId, (f64, u64)>,
    next_seq: u64,
    /// Positions from here on may hold a player whose (score, rank) is not
    /// what they were last told; `None`: nobody's is.
    dirty_from: Option<usize>,
}

impl RankIndex {
    /// An index of `players` given in join order, all of them due to be
    /// checked at the next settle (what they were told is not known here).
    pub fn from_join_order<'a, I>(players: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, f64)>,
    {
        let mut slots: Vec<Slot> = players
            .into_iter()
            .enumerate()
            .map(|(i, (id, score))| Slot {
                score,
                seq: i as u64,
                id: id.to_string(),
            })
            .collect();
        slots.sort_by(|a, b| order((a.score, a.seq), (b.score, b.seq)));
        let keys = slots
            .iter()
            .map(|s| (s.id.clone(), (s.score, s.seq)))
            .collect();
        RankIndex {
            next_seq: slots.len() as u64,
            dirty_from: (!slots.is_empty()).then_some(0),
            slots,
            keys,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn mark(&mut self, pos: usize) {
        self.dirty_from = Some(self.dirty_from.map_or(pos, |d| d.min(pos)));
    }

    /// Where a key sits (or would be inserted).
    fn locate(&self, key: (f64, u64)) -> Result<usize, usize> {
        self.slots
            .binary_search_by(|s| order((s.score, s.seq), key))
    }

    fn position(&self, id: &str) -> Option<usize> {
        let key = *self.keys.get(id)?;
        self.locate(key).ok()
    }

    /// Adds a player who just joined (after everyone already in on the
    /// same score). A player already in keeps their place and gets `score`.
    pub fn insert(&mut self, id: &str, score: f64) {
        if self.keys.contains_key(id) {
            self.set_score(id, score);
            return;
        }
        let key = (score, self.next_seq);
        self.next_seq += 1;
        let pos = self.locate(key).unwrap_or_else(|p| p);
        self.slots.insert(
            pos,
            Slot {
                score,
                seq: key.1,
                id: id.to_string(),
            },
        );
        self.keys.insert(id.to_string(), key);
        self.mark(pos);
    }

    /// Takes a player out; false if they were not in.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(pos) = self.position(id) else {
            return false;
        };
        self.slots.remove(pos);
        self.keys.remove(id);
        self.mark(pos);
        true
    }

    /// Moves a player to their new score: only the entries between the old
    /// and the new position shift. False if the player is not in.
    pub fn set_score(&mut self, id: &str, score: f64) -> bool {
        let Some(&(old, seq)) = self.keys.get(id) else {
            return false;
        };
        if old.total_cmp(&score).is_eq() {
            return true;
        }
        let Ok(from) = self.locate((old, seq)) else {
            return false;
        };
        // Where it goes among the others (as if it were taken out first).
        let key = (score, seq);
        let to = self.locate(key).unwrap_or_else(|p| p);
        let to = if to > from { to - 1 } else { to };
        if to >= from {
            self.slots[from..=to].rotate_left(1);
        } else {
            self.slots[to..=from].rotate_right(1);
        }
        self.slots[to].score = score;
        self.keys.insert(id.to_string(), key);
        // Ranks below the higher of the two positions may move too (a tie
        // joined or left), so everything from it on is checked.
        self.mark(from.min(to));
        true
    }

    /// The rank of whoever is at `pos`.
    fn rank_at(&self, pos: usize) -> usize {
        let s = self.slots[pos].score;
        // Strictly higher scores form a prefix (0.0 and -0.0 are equal).
        self.slots[..pos].partition_point(|k| k.score.total_cmp(&s).is_gt() && k.score != s) + 1
    }

    /// A player's score and rank.
    pub fn get(&self, id: &str) -> Option<(f64, usize)> {
        let pos = self.position(id)?;
        Some((self.slots[pos].score, self.rank_at(pos)))
    }

    /// Players from position `from` on, in order, with score and rank.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (&str, f64, usize)> + '_ {
        let start = self.slots.get(from).map(|_| self.rank_at(from));
        let mut prev: Option<f64> = None;
        let mut rank = start.unwrap_or(1);
        self.slots.iter().enumerate().skip(from).map(move |(i, s)| {
            if prev.is_some_and(|p| p != s.score) {
                rank = i + 1;
            }
            prev = Some(s.score);
            (s.id.as_str(), s.score, rank)
        })
    }

    /// Every player, in order, with score and rank.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64, usize)> + '_ {
        self.iter_from(0)
    }

    /// The lowest position that may hold a player not told their current
    /// score and rank, and forgets it (the caller tells them).
    pub fn take_dirty(&mut self) -> Option<usize> {
        self.dirty_from.take()
    }

    /// Whether anyone may be owed their rank.
    pub fn is_dirty(&self) -> bool {
        self.dirty_from.is_some()
    }
}

#[cfg(test)]
#[path = "ranking_tests.rs"]
mod tests;
