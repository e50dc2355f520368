//! Cluster mode: presence across nodes. An edge tells the owner which
//! players it has online (by socket or long poll): the whole set, when it
//! changes and at least every [`REPORT_EVERY`], as a fire-and-forget
//! message on the session's command subject. The owner counts a player
//! online if any node has them, and forgets an edge's set when it has not
//! heard from it for [`FORGET_AFTER`] (a dead edge's players go offline).
//! So presence events, counts and seat reclaiming see every node's players.

use super::Session;
use crate::game::PlayerId;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// An edge repeats its set at least this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(2);
/// An edge not heard from for this long is taken to have no one online.
const FORGET_AFTER: Duration = Duration::from_secs(7);

/// Players online on other nodes (the owner's view), per reporting edge.
#[derive(Default)]
pub struct RemotePresence {
    by_edge: HashMap<String, (Instant, HashSet<PlayerId>)>,
}

impl RemotePresence {
    pub fn contains(&self, p: &str) -> bool {
        self.by_edge.values().any(|(_, s)| s.contains(p))
    }

    /// Every player online on some edge.
    pub fn players(&self) -> HashSet<&PlayerId> {
        self.by_edge.values().flat_map(|(_, s)| s.iter()).collect()
    }

    /// Replaces one edge's set; the players whose presence there changed.
    fn report(&mut self, edge: String, online: HashSet<PlayerId>) -> Vec<PlayerId> {
        let before = self
            .by_edge
            .insert(edge, (Instant::now(), online.clone()))
            .map(|(_, s)| s)
            .unwrap_or_default();
        before.symmetric_difference(&online).cloned().collect()
    }

    /// Forgets edges not heard from; their players.
    fn expire(&mut self) -> Vec<PlayerId> {
        let mut gone = Vec::new();
        self.by_edge.retain(|_, (at, s)| {
            let keep = at.elapsed() < FORGET_AFTER;
            if !keep {
                gone.extend(s.drain());
            }
            keep
        });
        gone
    }
}

/// Changes an edge keeps while it waits for the owner's list (beyond: it
/// asks again).
const EARLY_CHANGES: usize = 65_536;

/// An edge's view of who is online on the other nodes, for the snapshots
/// it serves (the per-player flags and the online count): the owner's list
/// (`EdgeRequest::Online`, as of a seq), then every relayed
/// `presence:changed` after that seq.
#[derive(Default)]
pub struct Elsewhere {
    online: HashSet<PlayerId>,
    /// The seq the owner's list was as of (None: not had yet).
    as_of: Option<u64>,
    /// Changes relayed before the list came: (seq, player, online).
    early: Vec<(u64, PlayerId, bool)>,
}

impl Elsewhere {
    pub fn contains(&self, p: &str) -> bool {
        self.online.contains(p)
    }

    pub fn players(&self) -> impl Iterator<Item = &PlayerId> {
        self.online.iter()
    }

    /// Whether the owner's list has come (and is not stale).
    pub fn known(&self) -> bool {
        self.as_of.is_some()
    }

    /// A relayed `presence:changed` (false: too many waiting for the list;
    /// ask again).
    pub fn changed(&mut self, seq: u64, player: PlayerId, online: bool) -> bool {
        match self.as_of {
            Some(at) if seq > at => {
                if online {
                    self.online.insert(player);
                } else {
                    self.online.remove(&player);
                }
            }
            Some(_) => {}
            None => {
                if self.early.len() >= EARLY_CHANGES {
                    self.early.clear();
                    return false;
                }
                self.early.push((seq, player, online));
            }
        }
        true
    }

    /// The owner's list as of `seq`, with the changes relayed after it.
    pub fn listed(&mut self, seq: u64, online: Vec<PlayerId>) {
        self.online = online.into_iter().collect();
        self.as_of = Some(seq);
        for (s, p, on) in std::mem::take(&mut self.early) {
            self.changed(s, p, on);
        }
    }

    /// Forgets the list (a new owner: ask again).
    pub fn stale(&mut self) {
        self.as_of = None;
        self.early.clear();
    }
}

/// The player and status of a `presence:changed` frame (None: another kind).
pub fn presence_change(frame: &str) -> Option<(PlayerId, bool)> {
    if !frame.starts_with("{\"type\":\"presence:changed\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(frame).ok()?;
    let p = v["data"]["playerId"].as_str()?.to_string();
    Some((p, v["data"]["online"].as_bool()?))
}

/// What an edge last told the owner, and when.
#[derive(Default)]
pub struct Reported {
    online: HashSet<PlayerId>,
    at: Option<Instant>,
}

impl Session {
    /// The owner: an edge's players online now.
    pub(super) fn remote_report(&mut self, edge: String, online: Vec<PlayerId>) {
        let online: HashSet<PlayerId> = online
            .into_iter()
            .filter(|p| self.durable.player(p).is_some())
            .collect();
        let touched: Vec<(PlayerId, bool)> = online
            .iter()
            .chain(
                self.remote
                    .by_edge
                    .get(&edge)
                    .map(|(_, s)| s.iter())
                    .into_iter()
                    .flatten(),
            )
            .map(|p| (p.clone(), self.is_online(p)))
            .collect();
        self.remote.report(edge, online);
        self.presence_settle(touched);
    }

    /// The owner: forgets edges it has not heard from.
    pub(super) fn remote_expire(&mut self) {
        let stale: Vec<(PlayerId, bool)> = self
            .remote
            .by_edge
            .values()
            .filter(|(at, _)| at.elapsed() >= FORGET_AFTER)
            .flat_map(|(_, s)| s.iter())
            .map(|p| (p.clone(), true))
            .collect();
        if stale.is_empty() {
            return;
        }
        self.remote.expire();
        self.presence_settle(stale);
    }

    /// Records the presence changes of players whose status may have moved.
    fn presence_settle(&mut self, touched: Vec<(PlayerId, bool)>) {
        let mut seen = HashSet::new();
        for (p, was) in touched {
            if !seen.insert(p.clone()) {
                continue;
            }
            let now = self.is_online(&p);
            if now != was {
                self.presence_changed(p, now);
            }
        }
    }

    /// An edge: tells the owner who is online here, when that changed or
    /// every [`REPORT_EVERY`] (fire and forget: the next report repairs a
    /// lost one).
    pub(super) fn report_presence(&mut self) {
        let Some(cluster) = self.env.cluster.clone() else {
            return;
        };
        let online: HashSet<PlayerId> = self
            .durable
            .players()
            .filter(|p| self.conns.is_online(&p.id) || self.pollers.contains_key(&p.id))
            .map(|p| p.id.clone())
            .collect();
        let code = self.durable.code.clone();
        let Some(edge) = self.edge.as_mut() else {
            return;
        };
        let due = edge.reported.at.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if online == edge.reported.online && !due {
            return;
        }
        let body = super::forwarded::presence_request(online.iter().cloned().collect());
        cluster.tell(&code, body);
        edge.reported = Reported {
            online,
            at: Some(Instant::now()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_applies_only_the_changes_after_the_owners_list() {
        let mut e = Elsewhere::default();
        assert!(e.changed(5, "a".into(), true));
        assert!(e.changed(9, "b".into(), true));
        assert!(e.changed(11, "c".into(), false));
        // The list as of seq 9: a went offline meanwhile, c is online.
        e.listed(9, vec!["b".into(), "c".into()]);
        assert!(!e.contains("a"), "seq 5 is older than the list");
        assert!(e.contains("b"));
        assert!(!e.contains("c"), "seq 11 came after the list");
        e.changed(12, "a".into(), true);
        e.changed(8, "b".into(), false);
        assert!(e.contains("a") && e.contains("b"));
        assert_eq!(e.players().count(), 2);
    }

    #[test]
    fn presence_changes_are_read_from_their_frames() {
        let f = r#"{"type":"presence:changed","data":{"playerId":"p1","online":true},"seq":3}"#;
        assert_eq!(presence_change(f), Some(("p1".to_string(), true)));
        assert_eq!(
            presence_change(r#"{"type":"presence:count","data":{}}"#),
            None
        );
    }

    #[test]
    fn a_player_is_online_while_any_edge_reports_them() {
        let mut r = RemotePresence::default();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let mut moved = r.report("e1".into(), set(&["a", "b"]));
        moved.sort();
        assert_eq!(moved, ["a", "b"]);
        r.report("e2".into(), set(&["b"]));
        let moved = r.report("e1".into(), set(&["a"]));
        assert_eq!(moved, ["b"]);
        assert!(r.contains("b"), "still on e2");
        assert_eq!(r.players().len(), 2);
        assert!(r.expire().is_empty(), "both heard from just now");
    }
}
