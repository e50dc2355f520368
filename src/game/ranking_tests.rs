use super::*;
use crate::game::leaderboard::rank;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The index's full order as (id, score, rank).
fn listed(ix: &RankIndex) -> Vec<(String, f64, usize)> {
    ix.iter().map(|(i, s, r)| (i.to_string(), s, r)).collect()
}

/// The same players fully sorted by the reference ranking.
fn sorted(join_order: &[(String, f64)]) -> Vec<(String, f64, usize)> {
    rank(join_order.iter().map(|(i, s)| (i.as_str(), i.as_str(), *s)))
        .into_iter()
        .map(|e| (e.player_id, e.score, e.rank))
        .collect()
}

#[test]
fn an_override_moves_only_the_players_between_and_ties_keep_join_order() {
    let mut ix = RankIndex::default();
    for id in ["a", "b", "c", "d"] {
        ix.insert(id, 0.0);
    }
    assert_eq!(ix.take_dirty(), Some(0));
    // c goes top; a, b drop to rank 2 (positions 1, 2), d stays 4th.
    ix.set_score("c", 3.0);
    assert_eq!(ix.take_dirty(), Some(0));
    let ids: Vec<(&str, usize)> = ix.iter().map(|(i, _, r)| (i, r)).collect();
    assert_eq!(ids, vec![("c", 1), ("a", 2), ("b", 2), ("d", 2)]);
    // d ties with c: joined later, so after c, and both rank 1.
    ix.set_score("d", 3.0);
    assert_eq!(ix.take_dirty(), Some(1));
    assert_eq!(ix.get("d"), Some((3.0, 1)));
    assert_eq!(ix.get("a"), Some((0.0, 3)));
    // Back to zero: behind a and b (join order), but before nobody later.
    ix.set_score("c", 0.0);
    let ids: Vec<&str> = ix.iter().map(|(i, _, _)| i).collect();
    assert_eq!(ids, vec!["d", "a", "b", "c"]);
    assert_eq!(ix.get("c"), Some((0.0, 2)));
}

#[test]
fn a_departure_marks_only_the_players_below_it() {
    let mut ix = RankIndex::from_join_order([("a", 5.0), ("b", 4.0), ("c", 3.0)]);
    ix.take_dirty();
    assert!(!ix.is_dirty());
    assert!(ix.remove("b"));
    assert!(!ix.remove("b"));
    assert_eq!(ix.take_dirty(), Some(1));
    assert_eq!(ix.get("c"), Some((3.0, 2)));
    assert_eq!(ix.get("b"), None);
    assert!(!ix.set_score("b", 1.0));
    // The same score again changes nothing.
    assert!(ix.set_score("a", 5.0));
    assert!(!ix.is_dirty());
}

#[test]
fn positive_and_negative_zero_share_a_rank_as_in_the_full_sort() {
    let players = vec![
        ("a".to_string(), -0.0),
        ("b".to_string(), 1.0),
        ("c".to_string(), 0.0),
    ];
    let ix = RankIndex::from_join_order(players.iter().map(|(i, s)| (i.as_str(), *s)));
    assert_eq!(listed(&ix), sorted(&players));
    assert_eq!(ix.get("a").map(|g| g.1), Some(2));
}

/// Property: after any sequence of joins, departures and score changes
/// (with many ties), the index lists exactly what a full sort of the
/// players in join order lists, every lookup agrees with it, and every
/// player whose (score, rank) moved sits at or after the dirty position.
#[test]
fn incremental_ranks_equal_a_full_sort_after_random_operations() {
    for seed in 0..400u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ix = RankIndex::default();
        let mut join_order: Vec<(String, f64)> = Vec::new();
        let mut next = 0;
        // Few distinct scores, so ties are everywhere; -0.0 now and then.
        let score = |rng: &mut StdRng| match rng.gen_range(0..12) {
            0 => -0.0,
            n => f64::from(n % 6) / 2.0,
        };
        let mut told: HashMap<String, (f64, usize)> = HashMap::new();
        for _ in 0..rng.gen_range(1..120) {
            match rng.gen_range(0..10) {
                0..=2 => {
                    let id = format!("p{next}");
                    next += 1;
                    let s = if rng.gen_bool(0.7) {
                        0.0
                    } else {
                        score(&mut rng)
                    };
                    ix.insert(&id, s);
                    join_order.push((id, s));
                }
                3 if !join_order.is_empty() => {
                    let i = rng.gen_range(0..join_order.len());
                    let (id, _) = join_order.remove(i);
                    assert!(ix.remove(&id));
                    told.remove(&id);
                }
                4..=8 if !join_order.is_empty() => {
                    let i = rng.gen_range(0..join_order.len());
                    let s = score(&mut rng);
                    join_order[i].1 = s;
                    assert!(ix.set_score(&join_order[i].0, s));
                }
                _ => {
                    // Settle: everyone from the dirty position on is told;
                    // nobody before it may have moved.
                    let want = sorted(&join_order);
                    match ix.take_dirty() {
                        Some(d) => {
                            for (id, s, r) in &want[..d.min(want.len())] {
                                assert_eq!(told.get(id), Some(&(*s, *r)), "seed {seed}");
                            }
                            for (id, s, r) in ix.iter_from(d) {
                                told.insert(id.to_string(), (s, r));
                            }
                        }
                        None => {
                            for (id, s, r) in &want {
                                assert_eq!(told.get(id), Some(&(*s, *r)), "seed {seed}");
                            }
                        }
                    }
                }
            }
            let want = sorted(&join_order);
            assert_eq!(listed(&ix), want, "seed {seed}");
            assert_eq!(ix.len(), want.len());
            for (pos, (id, s, r)) in want.iter().enumerate() {
                assert_eq!(ix.get(id), Some((*s, *r)), "seed {seed}");
                let from: Vec<_> = ix.iter_from(pos).take(1).collect();
                assert_eq!(from, vec![(id.as_str(), *s, *r)], "seed {seed}");
            }
        }
        // Rebuilding from the join order gives the same index order.
        let rebuilt = RankIndex::from_join_order(join_order.iter().map(|(i, s)| (i.as_str(), *s)));
        assert_eq!(listed(&rebuilt), listed(&ix), "seed {seed}");
    }
}
