//! Peer marking: who marks whom (a derangement: nobody marks themselves),
//! the marks given, and progress.

use super::teams::TeamPair;
use super::PlayerId;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One marker's job: another player's answers to the round's peer questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub assignment_id: String,
    pub round_id: String,
    pub marker_id: PlayerId,
    pub markee_id: PlayerId,
    /// Question ids the markee answered, in quiz order.
    pub question_ids: Vec<String>,
    /// Marks given so far, by question id.
    pub marks: BTreeMap<String, f64>,
    /// Team mode: the teams this assignment pairs (then `markerId` is the
    /// marking team's id; see [`TeamPair`]). Absent for players.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<TeamPair>,
}

impl Assignment {
    /// Whether this assignment marks a team's shared sheet (its markee is
    /// the team itself rather than one member).
    pub fn is_sheet(&self) -> bool {
        self.teams
            .as_ref()
            .is_some_and(|t| t.markee_team == self.markee_id)
    }

    pub fn complete(&self) -> bool {
        self.question_ids.iter().all(|q| self.marks.contains_key(q))
    }
}

/// Pairs each of `players` with another to mark: a random single cycle, so
/// nobody marks themselves and everyone is marked once. Fewer than two
/// players: no pairs (the MC marks).
pub fn derange(players: &[PlayerId], seed: u64) -> Vec<(PlayerId, PlayerId)> {
    if players.len() < 2 {
        return Vec::new();
    }
    let mut order: Vec<&PlayerId> = players.iter().collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    (0..order.len())
        .map(|i| (order[i].clone(), order[(i + 1) % order.len()].clone()))
        .collect()
}

/// Marking progress for the MC.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub round_id: String,
    pub assignments: usize,
    pub marks_given: usize,
    pub marks_expected: usize,
    pub completed: bool,
}

/// Progress over a set of assignments.
pub fn progress(round_id: &str, assignments: &[Assignment]) -> Progress {
    let expected: usize = assignments.iter().map(|a| a.question_ids.len()).sum();
    let given: usize = assignments.iter().map(|a| a.marks.len()).sum();
    Progress {
        round_id: round_id.to_string(),
        assignments: assignments.len(),
        marks_given: given,
        marks_expected: expected,
        completed: given == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nobody_marks_themselves_and_everyone_is_marked_once() {
        for n in 2..40 {
            let players: Vec<PlayerId> = (0..n).map(|i| format!("p{i}")).collect();
            for seed in 0..20 {
                let pairs = derange(&players, seed);
                assert_eq!(pairs.len(), n);
                assert!(pairs.iter().all(|(a, b)| a != b));
                let markers: HashSet<_> = pairs.iter().map(|p| &p.0).collect();
                let markees: HashSet<_> = pairs.iter().map(|p| &p.1).collect();
                assert_eq!(markers.len(), n);
                assert_eq!(markees.len(), n);
            }
        }
    }

    #[test]
    fn one_player_gets_no_assignment() {
        assert!(derange(&["p".to_string()], 1).is_empty());
        assert!(derange(&[], 1).is_empty());
    }

    #[test]
    fn progress_counts_marks() {
        let mut a = Assignment {
            assignment_id: "a".into(),
            round_id: "r".into(),
            marker_id: "m".into(),
            markee_id: "e".into(),
            question_ids: vec!["q1".into(), "q2".into()],
            marks: BTreeMap::new(),
            teams: None,
        };
        a.marks.insert("q1".into(), 1.0);
        let p = progress("r", std::slice::from_ref(&a));
        assert_eq!(
            (p.marks_given, p.marks_expected, p.completed),
            (1, 2, false)
        );
        a.marks.insert("q2".into(), 0.5);
        assert!(a.complete());
        assert!(progress("r", &[a]).completed);
    }
}
