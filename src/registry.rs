//! The registry actor: session code -> session actor. It creates sessions
//! with unique codes, spreads them over a pool of arbiters, finds them and
//! forgets them when they end.

use crate::error::ApiError;
use crate::game::state::Settings;
use crate::game::Role;
use crate::journal::{SessionHeader, StoredSession};
use crate::session::messages::{Retire, Shutdown, StepDown};
use crate::session::{Env, Forget, Session};
use actix::prelude::*;
use rand::Rng;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;

/// Session codes use letters and digits that cannot be mistaken for others.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Length of a session code.
pub const CODE_LEN: usize = 5;

/// Normalises a code typed by a person; `None` if it cannot be one.
pub fn normalize_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

fn new_code() -> String {
    let mut rng = rand::thread_rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Create a session.
#[derive(Message)]
#[rtype(result = "Result<Created, ApiError>")]
pub struct Create {
    pub title: String,
    pub settings: Settings,
}

/// A new session's code and MC token.
#[derive(Debug, Clone)]
pub struct Created {
    pub code: String,
    pub mc_token: String,
    /// For the display link (docs/protocol.md, Displays).
    pub display_token: String,
    pub addr: Addr<Session>,
}

/// Find a session by code.
#[derive(Message)]
#[rtype(result = "Option<Addr<Session>>")]
pub struct Lookup {
    pub code: String,
}

/// Find the actor serving a session: its owner's, or in cluster mode an
/// edge for a session another node owns (started on first use, from the
/// log). `None`: no such session.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<Session>>, ApiError>")]
pub struct Serve {
    pub code: String,
}

/// Waiting for an edge being opened.
type Opening = tokio::sync::oneshot::Sender<Result<Option<Addr<Session>>, ApiError>>;

/// Tell every session the server is stopping; resolves when all have closed
/// their sockets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutdownAll;

/// See the module docs.
pub struct Registry {
    sessions: HashMap<String, Addr<Session>>,
    /// Codes whose creation is being written to the log.
    creating: HashSet<String>,
    /// Cluster mode: sessions served here as edges (a subset of `sessions`).
    edges: HashSet<String>,
    /// Cluster mode: edges being opened, and who waits for them.
    opening: HashMap<String, Vec<Opening>>,
    arbiters: Vec<ArbiterHandle>,
    next: usize,
    env: Arc<Env>,
}

impl Registry {
    pub fn new(env: Arc<Env>, arbiters: Vec<ArbiterHandle>) -> Self {
        Registry {
            sessions: HashMap::new(),
            creating: HashSet::new(),
            edges: HashSet::new(),
            opening: HashMap::new(),
            arbiters,
            next: 0,
            env,
        }
    }

    fn arbiter(&mut self) -> ArbiterHandle {
        if self.arbiters.is_empty() {
            return Arbiter::current();
        }
        self.next = (self.next + 1) % self.arbiters.len();
        self.arbiters[self.next].clone()
    }
}

impl Registry {
    /// Starts an actor for every session read back from the journal.
    pub fn recover(&mut self, stored: Vec<StoredSession>, ctx: &mut Context<Self>) {
        for st in stored {
            let code = st.header.code.clone();
            let env = self.env.clone();
            let me = ctx.address().recipient();
            let arbiter = self.arbiter();
            let addr = Session::start_in_arbiter(&arbiter, move |_| Session::recover(st, env, me));
            self.sessions.insert(code, addr);
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl Registry {
    /// Starts the actor of a session whose creation is durable.
    fn start_session(&mut self, h: SessionHeader, ctx: &mut Context<Self>) -> Created {
        let env = self.env.clone();
        let me = ctx.address().recipient();
        let arbiter = self.arbiter();
        let (code, nonce) = (h.code.clone(), h.nonce.clone());
        let addr = Session::start_in_arbiter(&arbiter, move |_| {
            Session::new(h.code, h.nonce, h.title, h.settings, env, me)
        });
        self.sessions.insert(code.clone(), addr.clone());
        let mc_token = self.env.auth.issue(&code, &nonce, Role::Mc, None);
        let display_token = self.env.auth.issue(&code, &nonce, Role::Display, None);
        log::info!("session {code} created");
        Created {
            code,
            mc_token,
            display_token,
            addr,
        }
    }
}

impl Handler<Create> for Registry {
    type Result = ResponseActFuture<Self, Result<Created, ApiError>>;

    fn handle(&mut self, msg: Create, _: &mut Context<Self>) -> Self::Result {
        let code = loop {
            let c = new_code();
            // A quarantined session keeps its code (its rows stay untouched).
            let quarantined = self
                .env
                .cfg
                .quarantine
                .iter()
                .any(|q| q.eq_ignore_ascii_case(&c));
            if !self.sessions.contains_key(&c) && !self.creating.contains(&c) && !quarantined {
                break c;
            }
        };
        let mut settings = msg.settings;
        settings.max_players = settings.max_players.clamp(1, self.env.cfg.max_players);
        let header = SessionHeader {
            code: code.clone(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            title: msg.title,
            settings,
            created_ms: crate::protocol::now_ms(),
        };
        let Some(log) = self.env.log.clone() else {
            return Box::pin(
                fut::ready(())
                    .map(move |_, act: &mut Self, ctx| Ok(act.start_session(header, ctx))),
            );
        };
        // Cluster mode: the lease first, so no other node ever sees the
        // session without an owner (and takes it over).
        let cluster = self.env.cluster.clone();
        let claim = cluster.as_ref().map(|c| c.claim(&code));
        self.creating.insert(code.clone());
        let (c, h) = (code.clone(), header.clone());
        let durable = async move {
            if let Some(claim) = claim {
                match claim.await {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => {
                        log::warn!("session {c}: not created: {why}");
                        return false;
                    }
                    Err(_) => return false,
                }
            }
            // The session is durable before anyone learns its code.
            let (tx, rx) = tokio::sync::oneshot::channel();
            let created = log.create(h, tx).is_ok() && matches!(rx.await, Ok(Ok(())));
            if !created {
                if let Some(cl) = &cluster {
                    cl.release(&c);
                }
            }
            created
        };
        Box::pin(durable.into_actor(self).map(move |created, act, ctx| {
            act.creating.remove(&code);
            if created {
                Ok(act.start_session(header, ctx))
            } else {
                Err(ApiError::unavailable())
            }
        }))
    }
}

impl Handler<Lookup> for Registry {
    type Result = Option<Addr<Session>>;

    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Self::Result {
        let code = normalize_code(&msg.code)?;
        self.sessions.get(&code).filter(|a| a.connected()).cloned()
    }
}

impl Handler<Forget> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        let same = match (self.sessions.get(&msg.code), &msg.from) {
            (Some(now), Some(from)) => now == from,
            _ => true,
        };
        if !same {
            return;
        }
        if msg.as_edge {
            self.edges.insert(msg.code);
        } else {
            self.sessions.remove(&msg.code);
            self.edges.remove(&msg.code);
        }
    }
}

/// Cluster mode: this node took a session over; start serving it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt(pub Box<StoredSession>);

/// Cluster mode: this node lost a session's lease; serve it as an edge.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub code: String,
}

impl Handler<Adopt> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) {
        let code = msg.0.header.code.clone();
        // An edge here becomes the owner in place: its sockets stay open.
        if self.edges.remove(&code) {
            if let Some(edge) = self.sessions.get(&code).filter(|a| a.connected()) {
                edge.do_send(crate::session::edge::Promote(msg.0));
                return;
            }
        }
        // An actor of an earlier ownership still stepping down: it writes
        // nothing more (its epoch is fenced), and is replaced.
        if let Some(old) = self.sessions.remove(&code) {
            old.do_send(Retire);
        }
        self.recover(vec![*msg.0], ctx);
    }
}

impl Handler<Release> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Context<Self>) {
        if self.edges.contains(&msg.code) {
            return;
        }
        // It serves on as an edge (and says so with `Forget { as_edge }`),
        // or, if it cannot, retires and is forgotten.
        if let Some(s) = self.sessions.get(&msg.code) {
            s.do_send(StepDown);
        }
    }
}

impl Handler<Serve> for Registry {
    type Result = ResponseFuture<Result<Option<Addr<Session>>, ApiError>>;

    fn handle(&mut self, msg: Serve, ctx: &mut Context<Self>) -> Self::Result {
        let now = |r| -> Self::Result { Box::pin(async move { r }) };
        let Some(code) = normalize_code(&msg.code) else {
            return now(Ok(None));
        };
        if let Some(a) = self.sessions.get(&code).filter(|a| a.connected()) {
            return now(Ok(Some(a.clone())));
        }
        let Some(cluster) = self.env.cluster.clone() else {
            return now(Ok(None));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiting = self.opening.entry(code.clone()).or_default();
        waiting.push(tx);
        if waiting.len() == 1 {
            let read = cluster.open_edge(&code, self.env.cfg.ring_events);
            ctx.spawn(read.into_actor(self).map(move |got, act, ctx| {
                let result = match got {
                    Ok(Ok(Some((stored, feed)))) => Ok(Some(act.start_edge(stored, feed, ctx))),
                    Ok(Ok(None)) => Ok(None),
                    Ok(Err(e)) => {
                        log::warn!("session {code}: cannot serve it as an edge: {e}");
                        Err(crate::cluster::unowned())
                    }
                    Err(_) => Err(crate::cluster::unowned()),
                };
                for tx in act.opening.remove(&code).unwrap_or_default() {
                    let _ = tx.send(result.clone());
                }
            }));
        }
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(crate::cluster::unowned())) })
    }
}

impl Registry {
    /// Starts an edge for a session another node owns (unless this node
    /// took it over meanwhile).
    fn start_edge(
        &mut self,
        stored: StoredSession,
        feed: crate::journal::nats::EdgeFeed,
        ctx: &mut Context<Self>,
    ) -> Addr<Session> {
        let code = stored.header.code.clone();
        if let Some(a) = self.sessions.get(&code).filter(|a| a.connected()) {
            return a.clone();
        }
        let env = self.env.clone();
        let me = ctx.address().recipient();
        let arbiter = self.arbiter();
        let addr =
            Session::start_in_arbiter(&arbiter, move |_| Session::edge(stored, feed, env, me));
        log::info!("session {code}: serving it as an edge");
        self.sessions.insert(code.clone(), addr.clone());
        self.edges.insert(code);
        addr
    }
}

impl Handler<ShutdownAll> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: ShutdownAll, _: &mut Context<Self>) -> Self::Result {
        let sends: Vec<_> = self.sessions.values().map(|s| s.send(Shutdown)).collect();
        Box::pin(async move {
            for s in sends {
                let _ = s.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_five_unambiguous_characters() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(c.len(), 5);
            assert!(!c.contains(['0', 'O', '1', 'I', 'L']));
            assert_eq!(normalize_code(&c.to_lowercase()), Some(c));
        }
        assert_eq!(normalize_code("ABC0E"), None);
        assert_eq!(normalize_code("ABCD"), None);
    }
}
