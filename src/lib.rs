//! quizcast: a live-quiz game coordinator.
//!
//! # Layout
//! - [`game`]: the pure core (phases, players, scoring, leaderboard); no actix.
//! - [`protocol`]: wire types, error and close codes; every frame is built there.
//! - [`session`]: the session actor: connections, fan-out, heartbeats, timers.
//! - [`socket`]: the WebSocket actor; the only module that knows `actix-web-actors`.
//! - [`outbox`]: a connection's bounded outbound queue (slow-consumer policy).
//! - [`registry`]: session code -> session actor.
//! - [`http`]: HTTP handlers, one file per resource.
//! - [`journal`]: the session log (facts and events), fenced appends; SQLite,
//!   or NATS JetStream in cluster mode (`--cluster`).
//! - [`store`]: the database schema (migrations) and the signing secret.
//! - [`library`]: saved quizzes, uploaded pictures, quiz packages.
//! - [`admission`]: every per-address limit (on [`ratelimit`]'s buckets).
//! - [`trim`]: gives freed heap back to the OS after connection floods.
//! - [`cluster`]: cluster mode's ownership events reach the registry.
//! - [`auth`], [`config`], [`metrics`], [`error`].
//!
//! Data flows one way: socket or HTTP handler -> session actor ->
//! `GameState::decide` -> facts -> log (append, commit) ->
//! `GameState::evolve` -> events -> fan-out. Nothing is sent that the log
//! does not hold.

pub mod admission;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod error;
pub mod game;
pub mod http;
pub mod journal;
pub mod library;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod proxies;
pub mod ratelimit;
pub mod registry;
pub mod session;
pub mod socket;
pub mod store;
pub mod trim;

use actix::{Actor, Addr, Arbiter};
use actix_web::{dev::ServerHandle, web, App, HttpServer};
use auth::Auth;
use config::Config;
use metrics::Metrics;
use registry::{Registry, ShutdownAll};
use session::Env;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// What every handler and socket can reach.
pub struct AppState {
    pub registry: Addr<Registry>,
    pub cfg: Arc<Config>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub log: Option<Arc<dyn journal::SessionLog>>,
    /// Cluster mode: the JetStream log, which also knows which sessions
    /// exist on other nodes.
    pub cluster: Option<Arc<journal::nats::NatsLog>>,
    /// Per-address limits on sessions, joins, upgrades, answers and marks.
    pub admission: admission::Admission,
    /// Saved quizzes and pictures (the editor's library).
    pub library: Arc<library::Library>,
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    handle: ServerHandle,
    registry: Addr<Registry>,
    task: actix_rt::task::JoinHandle<std::io::Result<()>>,
    arbiters: Vec<Arbiter>,
    log: Option<Arc<dyn journal::SessionLog>>,
    cluster: Option<Arc<journal::nats::NatsLog>>,
    sweeper: Option<actix_rt::task::JoinHandle<()>>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Starts the server on `listener`; must run inside an actix system.
pub fn start(cfg: Config, listener: TcpListener) -> Result<Server, StartError> {
    let db = store::open(&cfg.db)?;
    let secret = store::secret(&db, cfg.secret.as_deref())?;
    drop(db);
    let library = Arc::new(library::Library::open(
        &cfg.db,
        cfg.max_image_bytes,
        cfg.max_package_bytes,
    )?);
    let cfg = Arc::new(cfg);
    let metrics = Arc::new(Metrics::default());
    trim::spawn(&metrics, cfg.malloc_trim_secs);
    let cluster: Vec<String> = cfg
        .cluster
        .iter()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    if !cfg.journal && !cluster.is_empty() {
        log::warn!("--journal false: sessions stay in memory; --cluster is ignored");
    }
    let mut nats_log: Option<Arc<journal::nats::NatsLog>> = None;
    let mut ownership_events = None;
    let (session_log, stored): (Option<Arc<dyn journal::SessionLog>>, _) =
        if cfg.journal && !cluster.is_empty() {
            let opts = journal::nats::LoadOptions {
                retention_ms: cfg.ended_retention_secs * 1000,
                ring_events: cfg.recovery_events,
                quarantine: cfg
                    .quarantine
                    .iter()
                    .map(|c| c.trim().to_uppercase())
                    .collect(),
            };
            let nats = journal::nats::ClusterOptions {
                urls: cluster.clone(),
                replicas: cfg.cluster_replicas,
            };
            let (l, _) = journal::nats::NatsLog::open(&nats, &opts, metrics.clone())?;
            let l = Arc::new(l);
            // Only the sessions this node takes ownership of are served
            // here: those nobody owns, and its own from before a restart.
            let db = store::open(&cfg.db)?;
            let node = store::node_id(&db, cfg.node_id.as_deref())?;
            drop(db);
            let (tx, rx) = std::sync::mpsc::channel();
            let owned = l.start_ownership(
                node.clone(),
                std::time::Duration::from_millis(cfg.lease_ms),
                cfg.cluster_replicas,
                &opts,
                tx,
            )?;
            log::info!(
                "cluster mode: the session log is on NATS JetStream at {} (stream {}, R{}); \
             node {node} owns {} session(s), leases of {} ms (docs/cluster.md)",
                cluster.join(","),
                journal::nats::STREAM,
                cfg.cluster_replicas,
                owned.len(),
                cfg.lease_ms
            );
            ownership_events = Some(rx);
            nats_log = Some(l.clone());
            (Some(l as Arc<dyn journal::SessionLog>), owned)
        } else if cfg.journal {
            let opts = journal::sqlite::LoadOptions {
                retention_ms: cfg.ended_retention_secs * 1000,
                ring_events: cfg.recovery_events,
                quarantine: cfg
                    .quarantine
                    .iter()
                    .map(|c| c.trim().to_uppercase())
                    .collect(),
            };
            let (l, stored) =
                journal::sqlite::SqliteLog::open(&cfg.db, cfg.fsync, &opts, metrics.clone())?;
            (Some(Arc::new(l)), stored)
        } else {
            (None, Vec::new())
        };
    // A question whose deadline passed while no one served the session is
    // closed, in the log, before anyone can see it.
    let mut stored = stored;
    if let Some(l) = &session_log {
        let now = protocol::now_ms();
        for s in &mut stored {
            if let Err(e) = journal::close_overdue(l.as_ref(), s, now) {
                log::error!(
                    "session {}: closing an overdue question: {e}",
                    s.header.code
                );
            }
        }
    }
    let env = Arc::new(Env {
        cfg: cfg.clone(),
        auth: Arc::new(Auth::new(secret.as_bytes())),
        metrics,
        log: session_log.clone(),
        cluster: nats_log.clone(),
    });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let threads = if cfg.session_threads == 0 {
        cores
    } else {
        cfg.session_threads
    };
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let mut registry = Registry::new(env.clone(), arbiters.iter().map(|a| a.handle()).collect());
    if !stored.is_empty() {
        log::info!("recovering {} session(s) from the log", stored.len());
    }
    let registry = Registry::create(move |ctx| {
        registry.recover(stored, ctx);
        registry
    });
    if let (Some(events), Some(l)) = (ownership_events, &session_log) {
        cluster::relay(events, l.clone(), registry.clone())?;
    }
    let state = web::Data::new(AppState {
        registry: registry.clone(),
        cfg: cfg.clone(),
        auth: env.auth.clone(),
        metrics: env.metrics.clone(),
        log: session_log.clone(),
        cluster: nats_log.clone(),
        admission: admission::Admission::new(&cfg),
        library: library.clone(),
    });
    // Sessions are searched for the pictures they use in their log; without
    // a journal they are not in the database, so nothing is swept.
    let sweeper = (cfg.journal && cfg.image_gc_secs > 0).then(|| {
        actix_rt::spawn(sweep_images(
            library,
            std::time::Duration::from_secs(cfg.image_gc_secs),
            cfg.image_gc_grace_secs * 1000,
        ))
    });
    let addr = listener.local_addr()?;
    let send_buffer = cfg.tcp_send_buffer;
    let workers = if cfg.workers == 0 { cores } else { cfg.workers };
    let server =
        HttpServer::new(move || App::new().app_data(state.clone()).configure(http::routes))
            .on_connect(move |conn, data| {
                if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                    if send_buffer > 0 {
                        let _ = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer);
                    }
                    // Lets a WebSocket abort its connection after a close
                    // its peer never reads (socket::ConnFd).
                    use std::os::fd::AsRawFd;
                    data.insert(socket::ConnFd::new(tcp.as_raw_fd()));
                }
            })
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(3)
            .max_connections(50_000)
            .backlog(4096)
            .listen(listener)?
            .run();
    let handle = server.handle();
    let task = actix_rt::spawn(server);
    Ok(Server {
        addr,
        handle,
        registry,
        task,
        arbiters,
        log: session_log,
        cluster: nats_log,
        sweeper,
    })
}

/// The periodic picture sweep ([`library::gc`]): a minute after start, then
/// every `every`.
async fn sweep_images(lib: Arc<library::Library>, every: std::time::Duration, grace_ms: u64) {
    let mut wait = std::time::Duration::from_secs(60).min(every);
    loop {
        actix_rt::time::sleep(wait).await;
        wait = every;
        let lib = lib.clone();
        match web::block(move || lib.sweep(protocol::now_ms(), grace_ms)).await {
            Ok(Ok(gone)) if !gone.is_empty() => {
                log::info!("image sweep: deleted {} unused picture(s)", gone.len())
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => log::warn!("image sweep failed: {e}"),
            Err(e) => log::warn!("image sweep failed: {e}"),
        }
    }
}

impl Server {
    /// Graceful stop: every socket gets 1001, then the listener closes.
    pub async fn shutdown(self) {
        if let Some(s) = &self.sweeper {
            s.abort();
        }
        let _ = self.registry.send(ShutdownAll).await;
        // Let the sockets write their close frames.
        actix_rt::time::sleep(std::time::Duration::from_millis(200)).await;
        self.handle.stop(true).await;
        let _ = self.task.await;
        for a in self.arbiters {
            a.stop();
        }
        let cluster = self.cluster;
        if let Some(l) = self.log {
            // Commit whatever is queued, then (cluster mode) give the
            // leases up so other nodes take the sessions over at once;
            // off the async threads.
            let _ = actix_web::web::block(move || {
                l.flush();
                if let Some(c) = cluster {
                    c.release_all();
                }
                l.close()
            })
            .await;
        }
    }
}
