//! Commands already handled, by idempotency id (cluster mode: the id an
//! edge forwards a command with). The owner records the id and the outcome
//! in the facts of the command's record ([`crate::game::Fact::Handled`]), so
//! a retry of the same command is answered with the same outcome and no
//! second effect, even by the node that takes the session over later.
//! Bounded: the most recent [`KEEP`] ids (a retry comes within seconds).

use super::command::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Ids remembered (each costs its id and outcome, ~100 bytes).
pub const KEEP: u64 = 4096;

/// See the module docs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Handled {
    /// id -> (order handled, outcome).
    ids: HashMap<String, (u64, Outcome)>,
    next: u64,
}

impl Handled {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Outcome> {
        self.ids.get(id).map(|(_, o)| o)
    }

    /// Remembers an id; the oldest are forgotten in batches (amortized O(1)).
    pub fn insert(&mut self, id: String, outcome: Outcome) {
        self.ids.insert(id, (self.next, outcome));
        self.next += 1;
        if self.ids.len() as u64 > KEEP + KEEP / 4 {
            let floor = self.next.saturating_sub(KEEP);
            self.ids.retain(|_, (n, _)| *n >= floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_ids_are_kept_within_the_bound() {
        let mut h = Handled::default();
        h.insert("first".into(), Outcome::Done);
        assert_eq!(h.get("first"), Some(&Outcome::Done));
        for i in 0..2 * KEEP {
            h.insert(i.to_string(), Outcome::Done);
        }
        assert!(h.get("first").is_none(), "forgotten");
        assert!(h.get(&(2 * KEEP - 1).to_string()).is_some());
        assert!(h.ids.len() as u64 <= KEEP + KEEP / 4);
    }
}

#[cfg(test)]
mod version_tests {
    use super::super::fact::{version_of, Fact};
    use super::super::state::GameState;
    use super::*;

    #[test]
    fn single_node_records_and_snapshots_keep_format_1() {
        let plain = vec![Fact::QuestionClosed {
            reason: super::super::events::CloseReason::Mc,
        }];
        assert_eq!(version_of(&plain), 1);
        let mut with_id = plain.clone();
        with_id.push(Fact::Handled {
            id: "p1:m1:abc".into(),
            outcome: Outcome::Done,
        });
        assert_eq!(version_of(&with_id), 2);
        assert_eq!(version_of(&[Fact::RanksSettled { limit: None }]), 1);
        assert_eq!(version_of(&[Fact::RanksSettled { limit: Some(2) }]), 2);

        let mut state = GameState::new("ABCDE", "T", super::super::state::Settings::default());
        assert_eq!(state.format_version(), 1);
        state.handled.insert("p1:m1:abc".into(), Outcome::Done);
        assert_eq!(state.format_version(), 2);
        let mut mid_round = GameState::new("ABCDE", "T", super::super::state::Settings::default());
        mid_round.rank_round = Some(3);
        assert_eq!(mid_round.format_version(), 2);
    }
}
