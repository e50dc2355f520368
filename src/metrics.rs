//! Process-wide counters, read by `/api/stats`.

use crate::game::Role;
use crate::protocol::ErrorCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Counters shared by every actor and handler (relaxed atomics: cheap, and
/// exact enough for monitoring).
pub struct Metrics {
    started: Instant,
    pub sockets_open: AtomicI64,
    pub conn_mc: AtomicI64,
    pub conn_player: AtomicI64,
    pub conn_display: AtomicI64,
    pub sessions: AtomicI64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub broadcasts: AtomicU64,
    pub resumes: AtomicU64,
    pub resyncs: AtomicU64,
    /// Resumes and polls older than the ring, replayed from the log.
    pub log_replays: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub heartbeat_closes: AtomicU64,
    /// Connections reset because they outlived their close's grace period.
    pub aborted_connections: AtomicU64,
    errors: Vec<AtomicU64>,
    pub fanout_us: Histogram,
    pub commit_us: Histogram,
    pub commit_batch: Histogram,
    pub journal_commits: AtomicU64,
    /// Appends the log refused (each answered `UNAVAILABLE`).
    pub log_failures: AtomicU64,
    pub polls: AtomicU64,
    /// Bytes held by every session's replay ring, and the most one
    /// session's ring ever held.
    pub ring_bytes: AtomicI64,
    pub ring_bytes_max: AtomicI64,
    /// Socket messages refused because their session's mailbox was full.
    pub mailbox_full: AtomicU64,
    /// Seats of offline players who never answered, given to new players.
    pub seats_reclaimed: AtomicU64,
    /// Times freed heap memory was returned to the OS (`malloc_trim`).
    pub malloc_trims: AtomicU64,
    /// Cluster mode: sessions this node owns (holds the lease of).
    pub cluster_owned: AtomicI64,
    /// Cluster mode: sessions this node took over (from a dead or paused
    /// owner, or its own after a restart).
    pub cluster_takeovers: AtomicU64,
    /// Cluster mode: leases this node lost to another node (step-downs).
    pub cluster_leases_lost: AtomicU64,
    /// Cluster mode: sessions this node serves as an edge (owned elsewhere).
    pub cluster_edges: AtomicI64,
    /// Cluster mode: time from an edge sending a command to the owner's
    /// answer (retries included).
    pub cluster_forward_us: Histogram,
    /// Edge: from the owner serializing an event to this node receiving
    /// it in a relay (the log append included).
    pub cluster_relay_lag_us: Histogram,
    /// Cluster mode: forwarded commands tried again (no owner, a timeout).
    pub cluster_forward_retries: AtomicU64,
    /// Cluster mode: edges that missed relayed records and read the log.
    pub cluster_edge_catchups: AtomicU64,
    /// Cluster mode: 1 while this node's NATS connection is up.
    pub cluster_nats_connected: AtomicI64,
    /// Cluster mode: nodes in the live list at the last sweep (this one
    /// included).
    pub cluster_live_nodes: AtomicI64,
    /// Cluster mode: one ownership sweep (listing the sessions and the
    /// leases, taking orphaned sessions over).
    pub cluster_sweep_us: Histogram,
}

/// A fixed-bucket histogram of relaxed atomics (Prometheus style, cumulative
/// on export).
pub struct Histogram {
    bounds: &'static [u64],
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: u64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum.fetch_add(v, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn sum(&self) -> u64 {
        self.sum.load(Relaxed)
    }

    /// Prometheus exposition lines for this histogram.
    fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut acc = 0;
        for (i, b) in self.bounds.iter().enumerate() {
            acc += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {acc}");
        }
        acc += self.counts[self.bounds.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {acc}");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            self.sum(),
            self.count()
        );
    }
}

const MICROS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];
const SWEEP_MICROS: &[u64] = &[
    1_000, 5_000, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
];
const BATCH: &[u64] = &[
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            sockets_open: AtomicI64::new(0),
            conn_mc: AtomicI64::new(0),
            conn_player: AtomicI64::new(0),
            conn_display: AtomicI64::new(0),
            sessions: AtomicI64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            broadcasts: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            log_replays: AtomicU64::new(0),
            slow_consumer_closes: AtomicU64::new(0),
            heartbeat_closes: AtomicU64::new(0),
            aborted_connections: AtomicU64::new(0),
            errors: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            fanout_us: Histogram::new(MICROS),
            commit_us: Histogram::new(MICROS),
            commit_batch: Histogram::new(BATCH),
            journal_commits: AtomicU64::new(0),
            log_failures: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            ring_bytes: AtomicI64::new(0),
            ring_bytes_max: AtomicI64::new(0),
            mailbox_full: AtomicU64::new(0),
            seats_reclaimed: AtomicU64::new(0),
            malloc_trims: AtomicU64::new(0),
            cluster_owned: AtomicI64::new(0),
            cluster_takeovers: AtomicU64::new(0),
            cluster_leases_lost: AtomicU64::new(0),
            cluster_edges: AtomicI64::new(0),
            cluster_forward_us: Histogram::new(MICROS),
            cluster_relay_lag_us: Histogram::new(MICROS),
            cluster_forward_retries: AtomicU64::new(0),
            cluster_edge_catchups: AtomicU64::new(0),
            cluster_nats_connected: AtomicI64::new(0),
            cluster_live_nodes: AtomicI64::new(0),
            cluster_sweep_us: Histogram::new(SWEEP_MICROS),
        }
    }
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    pub fn joined(&self, role: Role, delta: i64) {
        let c = match role {
            Role::Mc => &self.conn_mc,
            Role::Player => &self.conn_player,
            Role::Display => &self.conn_display,
        };
        c.fetch_add(delta, Relaxed);
    }

    pub fn journal_commit(&self, took: std::time::Duration, batch: usize) {
        self.journal_commits.fetch_add(1, Relaxed);
        self.commit_us.observe(took.as_micros() as u64);
        self.commit_batch.observe(batch as u64);
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The JSON body of `/api/stats`.
    pub fn stats(&self) -> Value {
        let errors: serde_json::Map<String, Value> = ErrorCode::ALL
            .iter()
            .zip(&self.errors)
            .filter(|(_, n)| n.load(Relaxed) > 0)
            .map(|(c, n)| (c.as_str().to_string(), json!(n.load(Relaxed))))
            .collect();
        json!({
            "connections": {
                "open": self.sockets_open.load(Relaxed),
                "mc": self.conn_mc.load(Relaxed),
                "player": self.conn_player.load(Relaxed),
                "display": self.conn_display.load(Relaxed),
            },
            "sessions": self.sessions.load(Relaxed),
            "messagesIn": self.messages_in.load(Relaxed),
            "messagesOut": self.messages_out.load(Relaxed),
            "broadcasts": self.broadcasts.load(Relaxed),
            "resumes": self.resumes.load(Relaxed),
            "resyncs": self.resyncs.load(Relaxed),
            "logReplays": self.log_replays.load(Relaxed),
            "slowConsumerCloses": self.slow_consumer_closes.load(Relaxed),
            "heartbeatCloses": self.heartbeat_closes.load(Relaxed),
            "abortedConnections": self.aborted_connections.load(Relaxed),
            "errors": errors,
            "fanout": {"count": self.fanout_us.count(), "sumMicros": self.fanout_us.sum()},
            "journal": {
                "commits": self.journal_commits.load(Relaxed),
                "ops": self.commit_batch.sum(),
                "commitMicrosSum": self.commit_us.sum(),
                "failures": self.log_failures.load(Relaxed),
            },
            "polls": self.polls.load(Relaxed),
            "ringBytes": self.ring_bytes.load(Relaxed),
            "ringBytesMax": self.ring_bytes_max.load(Relaxed),
            "mailboxFull": self.mailbox_full.load(Relaxed),
            "seatsReclaimed": self.seats_reclaimed.load(Relaxed),
            "mallocTrims": self.malloc_trims.load(Relaxed),
            "cluster": {
                "owned": self.cluster_owned.load(Relaxed),
                "takeovers": self.cluster_takeovers.load(Relaxed),
                "leasesLost": self.cluster_leases_lost.load(Relaxed),
                "edges": self.cluster_edges.load(Relaxed),
                "forwards": self.cluster_forward_us.count(),
                "forwardMicrosSum": self.cluster_forward_us.sum(),
                "forwardRetries": self.cluster_forward_retries.load(Relaxed),
                "relays": self.cluster_relay_lag_us.count(),
                "relayLagMicrosSum": self.cluster_relay_lag_us.sum(),
                "edgeCatchups": self.cluster_edge_catchups.load(Relaxed),
                "natsConnected": self.cluster_nats_connected.load(Relaxed) == 1,
                "liveNodes": self.cluster_live_nodes.load(Relaxed),
                "sweeps": self.cluster_sweep_us.count(),
                "sweepMicrosSum": self.cluster_sweep_us.sum(),
            },
            "uptimeSecs": self.uptime_secs(),
        })
    }

    /// The `/metrics` body, Prometheus text format.
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, lines: &[(&str, i64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in lines {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        gauge(
            "quizcast_connections",
            "Joined WebSocket connections by role.",
            "gauge",
            &[
                ("{role=\"mc\"}", self.conn_mc.load(Relaxed)),
                ("{role=\"player\"}", self.conn_player.load(Relaxed)),
                ("{role=\"display\"}", self.conn_display.load(Relaxed)),
            ],
        );
        gauge(
            "quizcast_sockets_open",
            "Open WebSocket connections, joined or not.",
            "gauge",
            &[("", self.sockets_open.load(Relaxed))],
        );
        gauge(
            "quizcast_sessions",
            "Live sessions.",
            "gauge",
            &[("", self.sessions.load(Relaxed))],
        );
        gauge(
            "quizcast_cluster_sessions_owned",
            "Cluster mode: sessions this node holds the lease of.",
            "gauge",
            &[("", self.cluster_owned.load(Relaxed))],
        );
        gauge(
            "quizcast_cluster_edges",
            "Cluster mode: sessions this node serves as an edge (owned by another node).",
            "gauge",
            &[("", self.cluster_edges.load(Relaxed))],
        );
        gauge(
            "quizcast_cluster_nats_connected",
            "Cluster mode: 1 while this node's NATS connection is up, else 0.",
            "gauge",
            &[("", self.cluster_nats_connected.load(Relaxed))],
        );
        gauge(
            "quizcast_cluster_live_nodes",
            "Cluster mode: quizcast nodes alive (this one included), as the last ownership sweep read them.",
            "gauge",
            &[("", self.cluster_live_nodes.load(Relaxed))],
        );
        gauge(
            "quizcast_ring_bytes",
            "Bytes of event frames held for replay, all sessions.",
            "gauge",
            &[("", self.ring_bytes.load(Relaxed))],
        );
        let c = |a: &AtomicU64| a.load(Relaxed) as i64;
        gauge(
            "quizcast_messages_in_total",
            "Client frames received.",
            "counter",
            &[("", c(&self.messages_in))],
        );
        gauge(
            "quizcast_messages_out_total",
            "Frames queued to clients.",
            "counter",
            &[("", c(&self.messages_out))],
        );
        gauge(
            "quizcast_broadcasts_total",
            "Session events fanned out.",
            "counter",
            &[("", c(&self.broadcasts))],
        );
        gauge(
            "quizcast_log_failures_total",
            "Appends the log refused (answered UNAVAILABLE).",
            "counter",
            &[("", c(&self.log_failures))],
        );
        gauge(
            "quizcast_cluster_takeovers_total",
            "Cluster mode: sessions this node took over (from a dead or paused owner, or its own after a restart).",
            "counter",
            &[("", c(&self.cluster_takeovers))],
        );
        gauge(
            "quizcast_cluster_leases_lost_total",
            "Cluster mode: leases lost to another node (step-downs).",
            "counter",
            &[("", c(&self.cluster_leases_lost))],
        );
        gauge(
            "quizcast_cluster_forward_retries_total",
            "Cluster mode: forwarded commands tried again (no owner answered, or not in time).",
            "counter",
            &[("", c(&self.cluster_forward_retries))],
        );
        gauge(
            "quizcast_cluster_edge_catchups_total",
            "Cluster mode: times an edge missed relayed records and read them from the log.",
            "counter",
            &[("", c(&self.cluster_edge_catchups))],
        );
        gauge(
            "quizcast_resumes_total",
            "Joins that resumed with since.",
            "counter",
            &[("", c(&self.resumes))],
        );
        gauge(
            "quizcast_resyncs_total",
            "Resumes that needed a snapshot.",
            "counter",
            &[("", c(&self.resyncs))],
        );
        gauge(
            "quizcast_log_replays_total",
            "Resumes and long polls older than the ring, replayed from the log.",
            "counter",
            &[("", c(&self.log_replays))],
        );
        gauge(
            "quizcast_slow_consumer_closes_total",
            "Sockets closed 4008 for not keeping up.",
            "counter",
            &[("", c(&self.slow_consumer_closes))],
        );
        gauge(
            "quizcast_heartbeat_closes_total",
            "Sockets closed 4012.",
            "counter",
            &[("", c(&self.heartbeat_closes))],
        );
        gauge(
            "quizcast_aborted_connections_total",
            "Connections reset for outliving their close by the grace period.",
            "counter",
            &[("", c(&self.aborted_connections))],
        );
        gauge(
            "quizcast_polls_total",
            "Long-poll requests.",
            "counter",
            &[("", c(&self.polls))],
        );
        let errors: Vec<(String, i64)> = ErrorCode::ALL
            .iter()
            .zip(&self.errors)
            .map(|(code, n)| {
                (
                    format!("{{code=\"{}\"}}", code.as_str()),
                    n.load(Relaxed) as i64,
                )
            })
            .collect();
        let errors: Vec<(&str, i64)> = errors.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        gauge(
            "quizcast_errors_total",
            "Errors sent to clients, by code.",
            "counter",
            &errors,
        );
        self.fanout_us.render(
            "quizcast_fanout_duration_microseconds",
            "Time to queue one event for its audience.",
            &mut out,
        );
        self.cluster_forward_us.render(
            "quizcast_cluster_forward_duration_microseconds",
            "Cluster mode: an edge's forwarded command until the owner's answer, retries included.",
            &mut out,
        );
        self.cluster_relay_lag_us.render(
            "quizcast_cluster_relay_lag_microseconds",
            "Cluster mode: from the owner serializing an event to an edge receiving it (log append and relay).",
            &mut out,
        );
        self.cluster_sweep_us.render(
            "quizcast_cluster_sweep_duration_microseconds",
            "Cluster mode: one ownership sweep (listing sessions and leases, taking orphaned sessions over).",
            &mut out,
        );
        self.commit_us.render(
            "quizcast_journal_commit_duration_microseconds",
            "Journal transaction time.",
            &mut out,
        );
        self.commit_batch.render(
            "quizcast_journal_batch_size",
            "Ops per journal transaction.",
            &mut out,
        );
        out
    }
}
