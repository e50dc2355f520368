//! Which live node takes an orphaned session over: rendezvous (highest
//! random weight) hashing of the session code over the live nodes' ids.
//!
//! Every node computes the same answer from the same list, with no
//! coordination, so a dead node's sessions spread evenly over the nodes
//! left (each gets about 1/n of them), and a node joining or leaving moves
//! only the sessions it wins or held. The hash is spelled out here (FNV-1a
//! then a 64-bit finalizer), not `std`'s, because nodes of different builds
//! must agree on it.

/// The node among `live` that should take `code` over (None: no nodes).
pub fn preferred<'a>(code: &str, live: &'a [String]) -> Option<&'a str> {
    live.iter()
        .map(|n| (weight(code, n), n.as_str()))
        .max()
        .map(|(_, n)| n)
}

/// The weight of `node` for `code`: FNV-1a of `code`, a 0xff separator
/// (never in UTF-8), then `node`; mixed so nearby inputs differ widely.
fn weight(code: &str, node: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in code.bytes().chain([0xff]).chain(node.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    // splitmix64's finalizer.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn code(i: usize) -> String {
        format!("C{i:05}")
    }

    #[test]
    fn no_nodes_no_preference_and_one_node_takes_everything() {
        assert_eq!(preferred("ABCDE", &[]), None);
        let one = nodes(&["a"]);
        assert!((0..100).all(|i| preferred(&code(i), &one) == Some("a")));
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_of_the_list() {
        let ab = nodes(&["n1", "n2", "n3"]);
        let ba = nodes(&["n3", "n1", "n2"]);
        for i in 0..500 {
            assert_eq!(preferred(&code(i), &ab), preferred(&code(i), &ba));
        }
    }

    #[test]
    fn sessions_spread_evenly_over_the_nodes() {
        let live = nodes(&["n1", "n2", "n3"]);
        let mut count = std::collections::HashMap::new();
        for i in 0..3000 {
            *count
                .entry(preferred(&code(i), &live).unwrap())
                .or_insert(0) += 1;
        }
        for n in &live {
            let c = count[n.as_str()];
            assert!((850..=1150).contains(&c), "{n}: {c} of 3000");
        }
    }

    #[test]
    fn a_node_leaving_moves_only_its_own_sessions() {
        let three = nodes(&["n1", "n2", "n3"]);
        let two = nodes(&["n1", "n3"]);
        let mut moved = 0;
        for i in 0..1000 {
            let before = preferred(&code(i), &three).unwrap();
            let after = preferred(&code(i), &two).unwrap();
            if before == "n2" {
                moved += 1;
            } else {
                assert_eq!(before, after, "{}", code(i));
            }
        }
        assert!(moved > 250, "n2 held {moved} of 1000");
    }

    /// Nodes of different builds must agree: these weights are part of
    /// the cluster's behaviour (change them only with every node at once).
    /// The values were computed by an independent implementation (Python).
    #[test]
    fn the_weights_are_stable_across_builds() {
        assert_eq!(weight("ABCDE", "n1"), 0x1200_78d8_d6e5_b4f7);
        assert_eq!(weight("ABCDE", "n2"), 0x0a20_3c7a_6639_2d31);
        assert_eq!(weight("ZQ7KP", "node-a"), 0x94a2_cb52_05a0_770f);
        let live = nodes(&["n1", "n2", "n3"]);
        let got: Vec<_> = ["ABCDE", "ZQ7KP", "K2M4X", "P9RTQ"]
            .iter()
            .map(|c| preferred(c, &live).unwrap())
            .collect();
        assert_eq!(got, ["n1", "n3", "n1", "n3"]);
    }
}
