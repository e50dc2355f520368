//! Ranking with ties (1, 2, 2, 4): a player's rank is one more than the
//! number of players with a strictly higher score.

use super::PlayerId;
use serde::Serialize;

/// How many entries `leaderboard:updated` and snapshots carry.
pub const TOP_N: usize = 10;

/// One line of the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub player_id: PlayerId,
    pub name: String,
    pub score: f64,
    pub rank: usize,
}

/// Ranks `(id, name, score)` triples given in join order; ties keep join order.
pub fn rank<'a, I>(players: I) -> Vec<Entry>
where
    I: IntoIterator<Item = (&'a str, &'a str, f64)>,
{
    let mut entries: Vec<Entry> = players
        .into_iter()
        .map(|(id, name, score)| Entry {
            player_id: id.to_string(),
            name: name.to_string(),
            score,
            rank: 0,
        })
        .collect();
    // Stable sort keeps join order among equal scores.
    entries.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut prev: Option<f64> = None;
    let mut rank = 0;
    for (i, e) in entries.iter_mut().enumerate() {
        if prev != Some(e.score) {
            rank = i + 1;
            prev = Some(e.score);
        }
        e.rank = rank;
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_a_rank_and_the_next_rank_skips() {
        let r = rank([
            ("a", "A", 1.0),
            ("b", "B", 3.0),
            ("c", "C", 2.0),
            ("d", "D", 2.0),
        ]);
        let got: Vec<(&str, usize)> = r.iter().map(|e| (e.player_id.as_str(), e.rank)).collect();
        assert_eq!(got, vec![("b", 1), ("c", 2), ("d", 2), ("a", 4)]);
    }

    #[test]
    fn everyone_on_zero_is_first() {
        let r = rank([("a", "A", 0.0), ("b", "B", 0.0)]);
        assert!(r.iter().all(|e| e.rank == 1));
        assert_eq!(r[0].player_id, "a");
    }
}
