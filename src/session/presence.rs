//! Presence (who is online, by socket or by long polling) and the long-poll
//! fallback. Presence changes are gathered and recorded in batches, like
//! every other sequenced event; the online count goes out at most once a
//! second.

use super::messages::{Poll, PollReply};
use super::Session;
use crate::error::ApiError;
use crate::game::{Audience, GameEvent, Phase, PlayerId, Role};
use crate::journal::LoggedEvent;
use actix::prelude::*;
use bytestring::ByteString;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// A long-poll waiting for its first event.
pub struct PollWaiter {
    role: Role,
    player: Option<PlayerId>,
    tx: tokio::sync::oneshot::Sender<String>,
}

/// Parked long-polls, indexed by who they are for, so an event wakes only
/// its audience's polls: a per-player event touches that player's polls,
/// never every parked poll.
#[derive(Default)]
pub struct Waiters {
    by_player: HashMap<PlayerId, Vec<PollWaiter>>,
    mc: Vec<PollWaiter>,
    displays: Vec<PollWaiter>,
}

impl Waiters {
    pub fn is_empty(&self) -> bool {
        self.by_player.is_empty() && self.mc.is_empty() && self.displays.is_empty()
    }

    /// Whether a display's long poll is parked.
    pub fn has_displays(&self) -> bool {
        !self.displays.is_empty()
    }

    fn park(&mut self, w: PollWaiter) {
        match (w.role, &w.player) {
            (Role::Player, Some(p)) => self.by_player.entry(p.clone()).or_default().push(w),
            (Role::Mc, _) => self.mc.push(w),
            _ => self.displays.push(w),
        }
    }

    /// Forgets polls whose client went away.
    fn sweep(&mut self) {
        self.mc.retain(|w| !w.tx.is_closed());
        self.displays.retain(|w| !w.tx.is_closed());
        self.by_player.retain(|_, v| {
            v.retain(|w| !w.tx.is_closed());
            !v.is_empty()
        });
    }

    fn parked(&self, player: &str) -> bool {
        self.by_player.contains_key(player)
    }

    /// Takes every poll `audience` includes.
    fn take(&mut self, audience: &Audience) -> Vec<PollWaiter> {
        let mut out = Vec::new();
        match audience {
            Audience::All => {
                out.append(&mut self.mc);
                out.append(&mut self.displays);
                for (_, mut v) in self.by_player.drain() {
                    out.append(&mut v);
                }
            }
            Audience::Staff => {
                out.append(&mut self.mc);
                out.append(&mut self.displays);
            }
            Audience::Mc => out.append(&mut self.mc),
            Audience::Display => out.append(&mut self.displays),
            Audience::Player(p) => out.extend(self.by_player.remove(p).unwrap_or_default()),
            Audience::StaffAndPlayer(p) => {
                out.append(&mut self.mc);
                out.append(&mut self.displays);
                out.extend(self.by_player.remove(p).unwrap_or_default());
            }
        }
        out
    }
}

/// A long-poll body: `{"seq":M,"events":[...]}` from already-serialized frames.
pub(super) fn poll_body<'a>(seq: u64, frames: impl Iterator<Item = &'a ByteString>) -> String {
    let mut body = format!("{{\"seq\":{seq},\"events\":[");
    for (i, f) in frames.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(f);
    }
    body.push_str("]}");
    body
}

impl Session {
    /// Players online by socket or by long polling.
    pub(super) fn online_count(&self) -> usize {
        let local = |p: &str| self.conns.is_online(p) || self.pollers.contains_key(p);
        self.conns.online_players()
            + self
                .pollers
                .keys()
                .filter(|p| !self.conns.is_online(p))
                .count()
            + self
                .remote
                .players()
                .into_iter()
                .filter(|p| !local(p))
                .count()
    }

    /// Online here (socket or long poll) or, for an owner, on an edge.
    pub(super) fn is_online(&self, p: &str) -> bool {
        self.conns.is_online(p) || self.pollers.contains_key(p) || self.remote.contains(p)
    }

    /// A player came online or went offline: recorded with the next batch.
    pub(super) fn presence_changed(&mut self, player: PlayerId, online: bool) {
        self.presence_dirty = true;
        if online {
            self.seats.present(&player);
        } else {
            self.seats.offline(&player);
        }
        if self.durable.player(&player).is_some() {
            self.presence_changes.insert(player, online);
        }
    }

    pub(super) fn presence_left(&mut self, player: PlayerId) {
        self.presence_changed(player, false);
    }

    /// Records the gathered presence changes as one batch of events.
    pub(super) fn flush_presence_changes(&mut self, ctx: &mut Context<Self>) {
        // Presence on an edge is not told to the owner yet (docs/cluster.md).
        if self.presence_changes.is_empty() || self.live.phase == Phase::Ended || self.is_edge() {
            self.presence_changes.clear();
            return;
        }
        let events = std::mem::take(&mut self.presence_changes)
            .into_iter()
            .map(|(player_id, online)| {
                super::commit::derived(GameEvent::PresenceChanged { player_id, online })
            })
            .collect();
        self.propose(Vec::new(), events, None, ctx);
    }

    /// Presence changes and, at most once a second, the online count.
    pub(super) fn flush_presence(&mut self, ctx: &mut Context<Self>) {
        if self.is_edge() {
            self.presence_dirty = false;
            self.report_presence();
        } else {
            self.remote_expire();
        }
        if self.presence_dirty && self.live.phase != Phase::Ended {
            self.presence_dirty = false;
            let count = GameEvent::PresenceCount {
                online: self.online_count(),
                total_players: self.live.total_players(),
            };
            self.propose(Vec::new(), vec![super::commit::derived(count)], None, ctx);
        }
    }

    /// A player's long poll: they count as online while polling.
    fn poll_seen(&mut self, player: &str) {
        let was = self.is_online(player);
        self.pollers.insert(player.to_string(), Instant::now());
        if !was {
            self.presence_changed(player.to_string(), true);
        }
    }

    /// Polling players that stopped polling go offline.
    pub(super) fn sweep_pollers(&mut self, _ctx: &mut Context<Self>) {
        self.waiters.sweep();
        let grace = Duration::from_secs(self.env.cfg.poll_presence_secs.max(1));
        let waiters = &self.waiters;
        let gone: Vec<PlayerId> = self
            .pollers
            .iter()
            .filter(|(p, at)| at.elapsed() > grace && !waiters.parked(p))
            .map(|(p, _)| p.clone())
            .collect();
        for p in gone {
            self.pollers.remove(&p);
            if !self.is_online(&p) {
                self.presence_left(p);
            }
        }
    }

    /// Answers every parked long-poll this event is for.
    pub(super) fn wake_polls(&mut self, e: &LoggedEvent) {
        for w in self.waiters.take(&e.audience) {
            if !w.tx.is_closed() {
                let _ = w.tx.send(poll_body(e.seq, std::iter::once(&e.frame)));
            }
        }
    }
}

impl Session {
    /// A long poll's answer that resyncs: the snapshot is the truth.
    fn poll_resync(&mut self, role: Role, player: Option<&PlayerId>) -> String {
        self.env.metrics.resyncs.fetch_add(1, Relaxed);
        let snap = self.snapshot(&Self::view(role, player));
        json!({"seq": self.seq, "resync": true, "snapshot": snap, "events": []}).to_string()
    }
}

impl Handler<Poll> for Session {
    type Result = Result<PollReply, ApiError>;

    fn handle(&mut self, msg: Poll, ctx: &mut Context<Self>) -> Self::Result {
        let (role, player) = self.caller(msg.claims.as_ref())?;
        self.env.metrics.polls.fetch_add(1, Relaxed);
        if let Some(p) = &player {
            if self.durable.phase != Phase::Ended {
                self.poll_seen(p);
            }
        }
        let held = self
            .ring
            .since(msg.since, self.seq, role, player.as_deref());
        let Some(held) = held else {
            // Older than the ring: from the log if it reaches back.
            if let Some(read) = self.read_older(msg.since, role, player.as_deref()) {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let since = msg.since;
                ctx.spawn(read.into_actor(self).map(move |got, act, _| {
                    let older = got.ok().flatten().unwrap_or_default();
                    let body = act
                        .poll_from(&older, since, role, player.as_deref())
                        .unwrap_or_else(|| act.poll_resync(role, player.as_ref()));
                    let _ = tx.send(body);
                }));
                return Ok(PollReply::Wait(rx));
            }
            return Ok(PollReply::Ready(self.poll_resync(role, player.as_ref())));
        };
        if !held.is_empty() || !msg.wait || self.durable.phase == Phase::Ended {
            let body = poll_body(self.seq, held.iter().map(|h| &h.frame));
            return Ok(PollReply::Ready(body));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters.park(PollWaiter { role, player, tx });
        Ok(PollReply::Wait(rx))
    }
}
