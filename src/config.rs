//! Every knob in one typed struct: flags with environment twins and defaults.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// quizcast: a live-quiz game coordinator.
#[derive(Debug, Clone, Parser)]
#[command(name = "quizcast", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "QUIZCAST_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: String,
    /// SQLite database file (created on first start).
    #[arg(long, env = "QUIZCAST_DB", default_value = "./data/quizcast.db")]
    pub db: PathBuf,
    /// Token signing secret; generated once and kept in the database when absent.
    #[arg(long, env = "QUIZCAST_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Interval between WebSocket heartbeat pings, in milliseconds.
    #[arg(long, env = "QUIZCAST_HEARTBEAT_MS", default_value_t = 15_000)]
    pub heartbeat_ms: u64,
    /// Comma-separated origins allowed to open WebSockets (default: any).
    #[arg(long, env = "QUIZCAST_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Time a new WebSocket has to send `join`, in milliseconds.
    #[arg(long, env = "QUIZCAST_JOIN_TIMEOUT_MS", default_value_t = 10_000)]
    pub join_timeout_ms: u64,
    /// Largest accepted client frame, in bytes.
    #[arg(long, env = "QUIZCAST_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,
    /// Bytes a socket's outbound queue may hold before it is coalesced or closed.
    #[arg(long, env = "QUIZCAST_OUTBOX_BYTES", default_value_t = 1024 * 1024)]
    pub outbox_bytes: usize,
    /// Recent events kept per session for resuming clients.
    #[arg(long, env = "QUIZCAST_RING_EVENTS", default_value_t = 16_384)]
    pub ring_events: usize,
    /// Bytes of event frames a session's replay ring may hold: a quarter
    /// for the public lane, a quarter for the staff lane, half for all
    /// per-player lanes together. A frame over an eighth of its lane's share
    /// is not kept (resuming across it resyncs).
    #[arg(long, env = "QUIZCAST_RING_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub ring_bytes: usize,
    /// Sessions with at most this many players send `leaderboard:full` (every
    /// player) to the MC and displays with each leaderboard tick, as in the
    /// contract; larger ones send the MC `leaderboard:changed` (changed
    /// entries only) instead, at most once per `--leaderboard-diff-ms`.
    #[arg(long, env = "QUIZCAST_FULL_LEADERBOARD_PLAYERS", default_value_t = 200)]
    pub full_leaderboard_players: usize,
    /// Least time between two `leaderboard:changed` to the MC, and between
    /// two `leaderboard:updated` to everyone, in a large session, in ms.
    #[arg(long, env = "QUIZCAST_LEADERBOARD_DIFF_MS", default_value_t = 1_000)]
    pub leaderboard_diff_ms: u64,
    /// Displays get the answered count coalesced to one
    /// `player:answer-submitted` per this many ms (never one per answer).
    #[arg(long, env = "QUIZCAST_DISPLAY_COUNT_MS", default_value_t = 500)]
    pub display_count_ms: u64,
    /// Displays joined at once per session (past it: `SESSION_FULL`, 4009).
    #[arg(long, env = "QUIZCAST_MAX_DISPLAYS", default_value_t = 20)]
    pub max_displays: usize,
    /// Of those, displays that may join with the session code alone (no
    /// display token: contract v1 clients, display links made before display
    /// tokens). Past it, or at 0: `UNAUTHORIZED`, 4001.
    #[arg(long, env = "QUIZCAST_TOKENLESS_DISPLAYS", default_value_t = 2)]
    pub tokenless_displays: usize,
    /// When a full session gets a new player, the player offline longest who
    /// never answered, and offline at least this many seconds, leaves to
    /// make room (0: never; full means full).
    #[arg(long, env = "QUIZCAST_SEAT_RECLAIM_SECS", default_value_t = 60)]
    pub seat_reclaim_secs: u64,
    /// Messages a session actor's mailbox holds; past it, socket messages
    /// get `RATE_LIMITED` and HTTP requests wait for room.
    #[arg(long, env = "QUIZCAST_SESSION_MAILBOX", default_value_t = 16_384)]
    pub session_mailbox: usize,
    /// Every this many seconds, if the number of open sockets fell since the
    /// last look, return freed heap memory to the OS (glibc `malloc_trim`);
    /// 0: never.
    #[arg(long, env = "QUIZCAST_MALLOC_TRIM_SECS", default_value_t = 30)]
    pub malloc_trim_secs: u64,
    /// Client messages per second allowed per connection (token bucket rate).
    #[arg(long, env = "QUIZCAST_MSG_RATE", default_value_t = 20.0)]
    pub msg_rate: f64,
    /// Burst of client messages allowed per connection.
    #[arg(long, env = "QUIZCAST_MSG_BURST", default_value_t = 40.0)]
    pub msg_burst: f64,
    /// Default and upper bound for players per session.
    #[arg(long, env = "QUIZCAST_MAX_PLAYERS", default_value_t = 10_000)]
    pub max_players: usize,
    /// A session with no activity for this long expires, in seconds.
    #[arg(long, env = "QUIZCAST_SESSION_IDLE_SECS", default_value_t = 6 * 3600)]
    pub session_idle_secs: u64,
    /// How long an ended session stays readable for its results, in seconds.
    #[arg(long, env = "QUIZCAST_ENDED_RETENTION_SECS", default_value_t = 24 * 3600)]
    pub ended_retention_secs: u64,
    /// Threads for session actors (0: one per core). Measured against
    /// running sessions on the HTTP worker threads next to their sockets:
    /// dedicated threads gave lower fan-out latency (bench/README.md).
    #[arg(long, env = "QUIZCAST_SESSION_THREADS", default_value_t = 0)]
    pub session_threads: usize,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "QUIZCAST_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// Journal every change to the database and acknowledge only once it is
    /// committed; false keeps sessions in memory only (for measuring).
    #[arg(long, env = "QUIZCAST_JOURNAL", default_value_t = true, action = clap::ArgAction::Set)]
    pub journal: bool,
    /// fsync every journal commit (SQLite synchronous=FULL); false syncs only
    /// at WAL checkpoints (synchronous=NORMAL: survives a crashed or killed
    /// process, not a power cut).
    #[arg(long, env = "QUIZCAST_FSYNC", default_value_t = true, action = clap::ArgAction::Set)]
    pub fsync: bool,
    /// Most open WebSocket connections in total.
    #[arg(long, env = "QUIZCAST_MAX_CONNECTIONS", default_value_t = 60_000)]
    pub max_connections: usize,
    /// Session creations and HTTP joins per second per client address
    /// (0: no limit).
    #[arg(long, env = "QUIZCAST_HTTP_RATE", default_value_t = 50.0)]
    pub http_rate: f64,
    /// Burst of session creations and HTTP joins per client address.
    #[arg(long, env = "QUIZCAST_HTTP_BURST", default_value_t = 500.0)]
    pub http_burst: f64,
    /// New players joining by name (HTTP or WebSocket `join` with `name`)
    /// per second per client address (0: no limit). Rejoins with a token
    /// are not counted.
    #[arg(long, env = "QUIZCAST_JOIN_RATE", default_value_t = 5.0)]
    pub join_rate: f64,
    /// Burst of new players joining by name per client address: a room
    /// behind one NAT arriving at once.
    #[arg(long, env = "QUIZCAST_JOIN_BURST", default_value_t = 500.0)]
    pub join_burst: f64,
    /// WebSocket upgrades (`GET /ws`) per second per client address
    /// (0: no limit).
    #[arg(long, env = "QUIZCAST_UPGRADE_RATE", default_value_t = 50.0)]
    pub upgrade_rate: f64,
    /// Burst of WebSocket upgrades per client address: every phone behind
    /// one NAT reconnecting after a Wi-Fi drop.
    #[arg(long, env = "QUIZCAST_UPGRADE_BURST", default_value_t = 1000.0)]
    pub upgrade_burst: f64,
    /// Answers and marks over HTTP (the polling fallback) per second per
    /// client address (0: no limit).
    #[arg(long, env = "QUIZCAST_ANSWER_RATE", default_value_t = 100.0)]
    pub answer_rate: f64,
    /// Burst of answers and marks over HTTP per client address.
    #[arg(long, env = "QUIZCAST_ANSWER_BURST", default_value_t = 1000.0)]
    pub answer_burst: f64,
    /// Picture uploads and package imports per second per client address
    /// (0: no limit): each costs a full decode.
    #[arg(long, env = "QUIZCAST_UPLOAD_RATE", default_value_t = 2.0)]
    pub upload_rate: f64,
    /// Burst of picture uploads per client address: a picture round's
    /// worth dropped into the editor at once.
    #[arg(long, env = "QUIZCAST_UPLOAD_BURST", default_value_t = 60.0)]
    pub upload_burst: f64,
    /// Client addresses each per-address limit keeps track of at most
    /// (buckets that have refilled are forgotten first).
    #[arg(long, env = "QUIZCAST_RATE_LIMIT_ADDRESSES", default_value_t = 100_000)]
    pub rate_limit_addresses: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed, as IP addresses
    /// or CIDR blocks, comma-separated (e.g. `127.0.0.1,10.0.0.0/8`; empty:
    /// none). Behind them the per-address limits count the client each
    /// proxy saw, not the proxy (src/proxies.rs says how the header is read).
    #[arg(long, env = "QUIZCAST_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::proxies::Cidr>,
    /// After the server closes a WebSocket (or it ends), milliseconds the
    /// connection has to deliver what is queued before it is aborted (TCP
    /// reset), so a peer that stopped reading cannot keep it, and its
    /// kernel buffers, open.
    #[arg(long, env = "QUIZCAST_CLOSE_GRACE_MS", default_value_t = 5_000)]
    pub close_grace_ms: u64,
    /// A player on the long-poll fallback counts as online this many seconds
    /// after their last poll (and while one is waiting).
    #[arg(long, env = "QUIZCAST_POLL_PRESENCE_SECS", default_value_t = 10)]
    pub poll_presence_secs: u64,
    /// Kernel send buffer per connection in bytes, as given to SO_SNDBUF
    /// (Linux doubles it for its bookkeeping, so 131072 holds at most
    /// 256 KiB); 0: the kernel's autotuning, up to net.ipv4.tcp_wmem's
    /// maximum (4 MiB here). Bounds what a stalled reader holds in the kernel.
    #[arg(long, env = "QUIZCAST_TCP_SEND_BUFFER", default_value_t = 128 * 1024)]
    pub tcp_send_buffer: usize,
    /// Records a session may add to its log before a snapshot of its state
    /// is written (at least; a large session waits for a quarter of its size
    /// so snapshots cost O(1) per record). Bounds what a restart replays.
    #[arg(long, env = "QUIZCAST_SNAPSHOT_RECORDS", default_value_t = 1000)]
    pub snapshot_records: usize,
    /// Most recent events per session read back into the replay ring on a
    /// restart (older `since` resumes get `resync`).
    #[arg(long, env = "QUIZCAST_RECOVERY_EVENTS", default_value_t = 4096)]
    pub recovery_events: usize,
    /// Sessions (codes) whose log cannot be read are set aside, untouched,
    /// instead of refusing to start. Comma-separated; never applied silently.
    #[arg(long, env = "QUIZCAST_QUARANTINE", value_delimiter = ',')]
    pub quarantine: Vec<String>,
    /// Largest picture accepted by `POST /api/images` and in a quiz
    /// package, in bytes (5 MiB: a phone photo; larger ones are resized to
    /// 1600 px anyway).
    #[arg(long, env = "QUIZCAST_MAX_IMAGE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_image_bytes: usize,
    /// Largest quiz package (zip) accepted for import, in bytes, both as
    /// sent and unpacked.
    #[arg(long, env = "QUIZCAST_MAX_PACKAGE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_package_bytes: usize,
    /// Seconds between sweeps that delete pictures no saved quiz and no
    /// session refers to (0: never sweep). The first runs a minute after
    /// start.
    #[arg(long, env = "QUIZCAST_IMAGE_GC_SECS", default_value_t = 3600)]
    pub image_gc_secs: u64,
    /// Age in seconds before an unreferenced picture may be swept: time for
    /// an upload to be saved in a quiz.
    #[arg(long, env = "QUIZCAST_IMAGE_GC_GRACE_SECS", default_value_t = 24 * 3600)]
    pub image_gc_grace_secs: u64,
    /// Cluster mode: NATS servers (`nats://host:port`, comma-separated, any
    /// of one JetStream cluster) that keep the session log instead of the
    /// SQLite database (which then holds only the signing secret and this
    /// node's id). Several nodes may share one cluster: each session is
    /// owned by one node through a lease, and taken over when its owner
    /// dies (docs/cluster.md).
    #[arg(long, env = "QUIZCAST_CLUSTER", value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// Cluster mode: this node's name in ownership leases. Default: one
    /// generated on first start and kept in the database, so a restarted
    /// node takes its own sessions back at once instead of waiting for its
    /// leases to expire. Two running nodes must never share one.
    #[arg(long, env = "QUIZCAST_NODE_ID")]
    pub node_id: Option<String>,
    /// Cluster mode: how long an ownership lease lives without renewal
    /// (renewed every third of it). A dead owner's sessions are taken over
    /// within about this plus 2 s; every node of a cluster must use the
    /// same value (it is the lease bucket's max age).
    #[arg(long, env = "QUIZCAST_LEASE_MS", default_value_t = 5000)]
    pub lease_ms: u64,
    /// Replicas of the cluster log's stream and buckets: 3 survives the
    /// loss of any one NATS server; at most the number of servers.
    #[arg(long, env = "QUIZCAST_CLUSTER_REPLICAS", default_value_t = 3)]
    pub cluster_replicas: usize,
    /// In a session larger than `--full-leaderboard-players`, the ranks
    /// moved by departures and overrides are told (one `score:updated` per
    /// moved player) at most this often, in milliseconds; a player's own
    /// score change is always told at once.
    #[arg(long, env = "QUIZCAST_RANK_SETTLE_MS", default_value_t = 2_000)]
    pub rank_settle_ms: u64,
    /// In such a session, one leaderboard tick (250 ms) tells at most this
    /// many of them; the rest follow on the next ticks (a 10,000-player
    /// room in 5 ticks, not in one long turn that delays everything else).
    #[arg(long, env = "QUIZCAST_RANK_SETTLE_BATCH", default_value_t = 2_000)]
    pub rank_settle_batch: usize,
    /// Serve `/metrics` and `/api/stats` (set false to hide them).
    #[arg(long, env = "QUIZCAST_PUBLIC_STATS", default_value_t = true, action = clap::ArgAction::Set)]
    pub public_stats: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["quizcast"])
    }
}

impl Config {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(10))
    }

    pub fn close_grace(&self) -> Duration {
        Duration::from_millis(self.close_grace_ms.max(10))
    }

    pub fn join_timeout(&self) -> Duration {
        Duration::from_millis(self.join_timeout_ms.max(10))
    }

    /// Whether a WebSocket upgrade from `origin` is allowed.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        let list: Vec<&str> = self
            .allowed_origins
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if list.is_empty() || list.contains(&"*") {
            return true;
        }
        match origin {
            // Non-browser clients (scripts) send no Origin.
            None => true,
            Some(o) => list
                .iter()
                .any(|a| a.eq_ignore_ascii_case(o.trim_end_matches('/'))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.addr, "0.0.0.0:8080");
        assert_eq!(c.heartbeat_ms, 15_000);
        assert_eq!(c.max_frame_bytes, 65_536);
        assert!(c.origin_allowed(Some("https://x.example")));
        // Hostile-room defaults (docs/operations.md says why).
        assert_eq!(c.tcp_send_buffer, 128 * 1024);
        assert_eq!(c.close_grace_ms, 5_000);
        assert_eq!((c.join_rate, c.join_burst), (5.0, 500.0));
        assert_eq!((c.upgrade_rate, c.upgrade_burst), (50.0, 1000.0));
        // Pictures (docs/quiz-format.md): 5 MiB each, swept hourly after a day.
        assert_eq!(c.max_image_bytes, 5 * 1024 * 1024);
        assert_eq!((c.image_gc_secs, c.image_gc_grace_secs), (3600, 86_400));
        // Bounded by bytes, displays, seats (docs/operations.md, Limits).
        assert_eq!(c.ring_bytes, 8 * 1024 * 1024);
        assert_eq!(c.full_leaderboard_players, 200);
        assert_eq!(c.leaderboard_diff_ms, 1_000);
        assert_eq!(c.display_count_ms, 500);
        assert_eq!((c.max_displays, c.tokenless_displays), (20, 2));
        assert_eq!((c.rank_settle_ms, c.rank_settle_batch), (2_000, 2_000));
        assert_eq!(c.seat_reclaim_secs, 60);
        assert_eq!(c.session_mailbox, 16_384);
        assert_eq!(c.malloc_trim_secs, 30);
        assert!(c.cluster.is_empty(), "SQLite is the default log");
    }

    #[test]
    fn cluster_takes_a_list_of_nats_urls() {
        let c = Config::parse_from([
            "quizcast",
            "--cluster",
            "nats://127.0.0.1:4222,nats://127.0.0.1:4223",
        ]);
        assert_eq!(
            c.cluster,
            ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
        );
        assert_eq!(c.cluster_replicas, 3);
    }

    #[test]
    fn origins_restrict_browsers_only() {
        let c = Config::parse_from([
            "quizcast",
            "--allowed-origins",
            "https://a.example,https://b.example",
        ]);
        assert!(c.origin_allowed(Some("https://b.example")));
        assert!(!c.origin_allowed(Some("https://evil.example")));
        assert!(c.origin_allowed(None));
    }
}
