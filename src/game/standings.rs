//! Scores and ranks of the game state: totals from awards, the rank index
//! kept in step with them, and telling each player their score and rank
//! when they move (`score:updated`).
//!
//! What each player was last told is in `told`; the rank index marks the
//! lowest position changed since, so settling ranks looks only at the
//! players from there down, and one override costs O(log N) plus the
//! entries it passes, not a sort of all N.

use super::events::AwardView;
use super::leaderboard::{Entry, TOP_N};
use super::ranking::RankIndex;
use super::state::{Award, Events, GameState};
use super::{GameEvent, PlayerId};
use std::collections::{BTreeMap, HashMap};

/// Above this share of players changing score at once (a reveal, the end
/// of marking), the index is rebuilt by one sort rather than moved player
/// by player (each move may shift up to N entries).
const REBUILD_SHARE: usize = 8;

impl GameState {
    /// The rank index, built from the join order if it is not yet (after a
    /// snapshot was loaded).
    pub(super) fn ranks_mut(&mut self) -> &mut RankIndex {
        let (order, players) = (&self.order, &self.players);
        self.ranks.get_or_insert_with(|| {
            RankIndex::from_join_order(
                order
                    .iter()
                    .filter_map(|id| players.get(id))
                    .map(|p| (p.id.as_str(), p.score)),
            )
        })
    }

    /// A player's total from their awards.
    fn total_of(&self, id: &str) -> f64 {
        self.awards
            .get(id)
            .map_or(0.0, |m| m.values().map(|a| a.score).sum())
    }

    /// Recomputes totals and tells each player whose score or rank moved.
    pub(super) fn rescore(&mut self) -> Events {
        self.rescore_with(&[])
    }

    /// As [`rescore`](Self::rescore), after the awards in `awarded` (player,
    /// question, award) were just decided: each of those players is told
    /// even when their score did not move (a zero is a verdict too), and
    /// their update names the awards that caused it.
    pub(super) fn rescore_with(&mut self, awarded: &[(PlayerId, String, Award)]) -> Events {
        let mut changed: Vec<(PlayerId, f64)> = Vec::new();
        for p in self.players.values() {
            let total = self.total_of(&p.id);
            if !total.total_cmp(&p.score).is_eq() {
                changed.push((p.id.clone(), total));
            }
        }
        for (id, total) in &changed {
            if let Some(p) = self.players.get_mut(id) {
                p.score = *total;
            }
        }
        if changed.len() > 16 && changed.len() * REBUILD_SHARE > self.players.len() {
            self.ranks = None;
        } else if self.ranks.is_some() {
            let ranks = self.ranks_mut();
            for (id, total) in &changed {
                ranks.set_score(id, *total);
            }
        }
        let mut caused: HashMap<&str, BTreeMap<String, AwardView>> = HashMap::new();
        for (pid, qid, a) in awarded {
            caused.entry(pid.as_str()).or_default().insert(
                qid.clone(),
                AwardView {
                    score: a.score,
                    by: a.by.kind().to_string(),
                },
            );
        }
        // Without verdicts to tell, only the players from the first changed
        // position on (or where a settle stopped) can be owed anything.
        let owed = self.owed_from();
        let from = if caused.is_empty() { owed } else { Some(0) };
        let mut events = Vec::new();
        if let (Some(from), Some(ranks)) = (from, self.ranks.as_ref()) {
            for (id, score, rank) in ranks.iter_from(from) {
                let now = (score, rank);
                let awards = caused.remove(id).unwrap_or_default();
                if self.told.get(id) != Some(&now) || !awards.is_empty() {
                    self.told.insert(id.to_string(), now);
                    events.push(score_updated(id, now, awards));
                }
            }
        }
        events.extend(self.team_rescore());
        events
    }

    /// The first position that may hold a player owed their score and
    /// rank; everyone is told from there on, so both marks are cleared.
    fn owed_from(&mut self) -> Option<usize> {
        let round = self.rank_round.take();
        let dirty = self.ranks_mut().take_dirty();
        match (round, dirty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tells players whose rank moved since ranks were last settled (by
    /// departures, or by another player's new score). Totals are already
    /// current: every change of awards rescored the players it touched.
    ///
    /// Without a `limit`, everyone owed is told. With one, a round of
    /// settling tells at most `limit` players per call, in leaderboard
    /// order, and the next call goes on where it stopped (`rank_round`);
    /// what changes behind it is left to the next round. Which players a
    /// call tells depends only on the state, so replaying the facts (or a
    /// snapshot and the facts after it) tells the same ones.
    pub(super) fn settle_ranks(&mut self, limit: Option<usize>) -> Events {
        self.ranks_mut();
        let from = match (limit, self.rank_round.take()) {
            (None, round) => {
                self.rank_round = round;
                self.owed_from()
            }
            (Some(_), Some(at)) => Some(at),
            (Some(_), None) => self.ranks_mut().take_dirty(),
        };
        let limit = limit.map_or(usize::MAX, |l| l.max(1));
        let mut events = Vec::new();
        if let (Some(from), Some(ranks)) = (from, self.ranks.as_ref()) {
            for (i, (id, score, rank)) in ranks.iter_from(from).enumerate() {
                let now = (score, rank);
                if self.told.get(id) == Some(&now) {
                    continue;
                }
                if events.len() == limit {
                    self.rank_round = Some(from + i);
                    break;
                }
                self.told.insert(id.to_string(), now);
                events.push(score_updated(id, now, BTreeMap::new()));
            }
        }
        events.extend(self.team_rescore());
        events
    }

    /// A round of settling ranks is part way through.
    pub fn settling_ranks(&self) -> bool {
        self.rank_round.is_some()
    }

    /// Recomputes one player's total and tells them if their score or rank
    /// moved, or an award (`awarded`: question, award) was just decided for
    /// them; the ranks of others are left to a later [`Self::settle_ranks`].
    pub(super) fn rescore_one(&mut self, id: &str, awarded: Option<(String, Award)>) -> Events {
        let total = self.total_of(id);
        let Some(p) = self.players.get_mut(id) else {
            return vec![];
        };
        p.score = total;
        let ranks = self.ranks_mut();
        ranks.set_score(id, total);
        let Some(now) = ranks.get(id) else {
            return vec![];
        };
        if self.told.get(id) == Some(&now) && awarded.is_none() {
            return vec![];
        }
        self.told.insert(id.to_string(), now);
        let awards: BTreeMap<String, AwardView> = awarded
            .map(|(q, a)| {
                (
                    q,
                    AwardView {
                        score: a.score,
                        by: a.by.kind().to_string(),
                    },
                )
            })
            .into_iter()
            .collect();
        vec![score_updated(id, now, awards)]
    }

    fn entry(&self, id: &str, score: f64, rank: usize) -> Entry {
        Entry {
            player_id: id.to_string(),
            name: self
                .players
                .get(id)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            score,
            rank,
        }
    }

    /// The top of the leaderboard.
    pub fn top(&mut self) -> Vec<Entry> {
        self.ranks_mut();
        let Some(ranks) = self.ranks.as_ref() else {
            return vec![];
        };
        ranks
            .iter()
            .take(TOP_N)
            .map(|(id, s, r)| self.entry(id, s, r))
            .collect()
    }

    /// Every player, ranked.
    pub fn leaderboard(&mut self) -> Vec<Entry> {
        self.ranks_mut();
        let Some(ranks) = self.ranks.as_ref() else {
            return vec![];
        };
        ranks
            .iter()
            .map(|(id, s, r)| self.entry(id, s, r))
            .collect()
    }

    /// A player's own line of the leaderboard.
    pub fn entry_of(&mut self, id: &str) -> Option<Entry> {
        let (score, rank) = self.ranks_mut().get(id)?;
        Some(self.entry(id, score, rank))
    }
}

/// A `score:updated`; a single award is named in the flat fields too.
fn score_updated(
    id: &str,
    (score, rank): (f64, usize),
    awards: BTreeMap<String, AwardView>,
) -> GameEvent {
    let single = (awards.len() == 1)
        .then(|| awards.iter().next())
        .flatten()
        .map(|(q, a)| (q.clone(), a.clone()));
    GameEvent::ScoreUpdated {
        player: id.to_string(),
        score,
        rank,
        question_id: single.as_ref().map(|(q, _)| q.clone()),
        awarded: single.as_ref().map(|(_, a)| a.score),
        by: single.map(|(_, a)| a.by),
        awards,
    }
}
