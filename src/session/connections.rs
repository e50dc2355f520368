//! A session's connection set, indexed by audience so that an event for the
//! MC or one player touches only those connections, never all of them.

use crate::game::{Audience, PlayerId, Role};
use crate::outbox::{Outbox, Push};
use bytestring::ByteString;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Identifies a connection (socket or long-poll client) server-wide.
pub type ConnId = u64;

/// One joined connection.
pub struct Conn {
    pub role: Role,
    pub player: Option<PlayerId>,
    pub outbox: Arc<Outbox>,
    /// A display that joined with the session code alone (no display token).
    pub tokenless: bool,
}

impl Conn {
    /// Queues a frame and wakes the socket when needed.
    pub fn send(&self, frame: ByteString, coalesce: Option<&'static str>) -> Push {
        self.outbox.push_text(frame, coalesce)
    }

    pub fn ping(&self) {
        self.outbox.push_ping();
    }

    pub fn close(&self, code: u16, reason: &str, discard: bool) {
        self.outbox.close(code, reason, discard);
    }
}

/// See the module docs.
#[derive(Default)]
pub struct Connections {
    all: HashMap<ConnId, Conn>,
    staff: HashSet<ConnId>,
    mc: HashSet<ConnId>,
    displays: HashSet<ConnId>,
    /// Displays without a display token (a subset of `displays`).
    tokenless: HashSet<ConnId>,
    by_player: HashMap<PlayerId, Vec<ConnId>>,
}

impl Connections {
    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.all.get(&id)
    }

    /// Players with at least one live connection.
    pub fn online_players(&self) -> usize {
        self.by_player.len()
    }

    pub fn is_online(&self, player: &str) -> bool {
        self.by_player.contains_key(player)
    }

    /// Adds a connection; true when it is its player's first.
    pub fn insert(&mut self, id: ConnId, conn: Conn) -> bool {
        let mut first = false;
        match conn.role {
            Role::Mc => {
                self.mc.insert(id);
                self.staff.insert(id);
            }
            Role::Display => {
                self.staff.insert(id);
                self.displays.insert(id);
                if conn.tokenless {
                    self.tokenless.insert(id);
                }
            }
            Role::Player => {
                if let Some(p) = &conn.player {
                    let list = self.by_player.entry(p.clone()).or_default();
                    first = list.is_empty();
                    list.push(id);
                }
            }
        }
        self.all.insert(id, conn);
        first
    }

    /// Removes a connection; returns it, and whether its player is now offline.
    pub fn remove(&mut self, id: ConnId) -> Option<(Conn, bool)> {
        let conn = self.all.remove(&id)?;
        self.mc.remove(&id);
        self.staff.remove(&id);
        self.displays.remove(&id);
        self.tokenless.remove(&id);
        let mut last = false;
        if let Some(p) = &conn.player {
            if let Some(list) = self.by_player.get_mut(p) {
                list.retain(|c| *c != id);
                if list.is_empty() {
                    self.by_player.remove(p);
                    last = true;
                }
            }
        }
        Some((conn, last))
    }

    /// Joined displays, and how many of them came without a token.
    pub fn displays(&self) -> (usize, usize) {
        (self.displays.len(), self.tokenless.len())
    }

    /// Connections of one player.
    pub fn of_player(&self, player: &str) -> Vec<ConnId> {
        self.by_player.get(player).cloned().unwrap_or_default()
    }

    /// Every connection id.
    pub fn ids(&self) -> Vec<ConnId> {
        self.all.keys().copied().collect()
    }

    /// Calls `f` for every connection in `audience`.
    pub fn for_audience(&self, audience: &Audience, mut f: impl FnMut(ConnId, &Conn)) {
        let mut each = |ids: &mut dyn Iterator<Item = &ConnId>| {
            for id in ids {
                if let Some(c) = self.all.get(id) {
                    f(*id, c);
                }
            }
        };
        match audience {
            Audience::All => {
                for (id, c) in &self.all {
                    f(*id, c);
                }
            }
            Audience::Staff => each(&mut self.staff.iter()),
            Audience::Mc => each(&mut self.mc.iter()),
            Audience::Display => each(&mut self.displays.iter()),
            Audience::Player(p) => {
                if let Some(list) = self.by_player.get(p) {
                    each(&mut list.iter())
                }
            }
            Audience::StaffAndPlayer(p) => {
                each(&mut self.staff.iter());
                if let Some(list) = self.by_player.get(p) {
                    each(&mut list.iter())
                }
            }
        }
    }
}
