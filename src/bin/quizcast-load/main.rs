//! quizcast-load: drives simulated players against a quizcast server over
//! the public contract only (HTTP and WebSocket), measuring latency and
//! checking that every player gets every event meant for it exactly once,
//! in order. Loopback targets only; every run is bounded in count and time.

mod client;
mod hostile;
mod recovery;
mod scenarios;
mod stats;

use clap::{Parser, Subcommand};

/// Load-test a quizcast server (loopback only).
#[derive(Parser)]
#[command(
    name = "quizcast-load",
    version,
    about = "Load-tests a quizcast server over its public HTTP and WebSocket contract, checking that every \
             player gets every event once and in order (exit status 1 otherwise). Loopback targets only.",
    long_about = None
)]
struct Cli {
    /// Server base URL (a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// Nodes of one cluster, repeated (`--target http://127.0.0.1:8081
    /// --target http://127.0.0.1:8082 ...`): players and calls go to them in
    /// turn, as behind a round-robin load balancer. Replaces --url.
    #[arg(long, global = true)]
    target: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// The server's process id, to report its CPU time and memory from /proc.
    /// Repeatable (a cluster: every quizcast and nats-server process): the
    /// CPU time is summed over all of them; memory is the first one's.
    #[arg(long, global = true)]
    server_pid: Vec<u32>,
    /// Spread client sockets over 127.0.0.1 .. 127.0.0.N (more ports).
    #[arg(long, default_value_t = 4, global = true)]
    sources: u8,
    /// Connections opened at once.
    #[arg(long, default_value_t = 256, global = true)]
    concurrency: usize,
    /// Give up on any one wait after this many seconds.
    #[arg(long, default_value_t = 120, global = true)]
    timeout_secs: u64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// One session of N players; the MC opens and closes K questions over
    /// HTTP. Reports delivery latency (MC request
    /// sent -> event parsed) on a sample of reading probes, completion time
    /// (last probe) and, with --server-pid, server CPU per delivery. The other
    /// players join and then hold their sockets unread.
    Fanout {
        /// Players in the session.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Players that read and time every event.
        #[arg(long, default_value_t = 200)]
        probes: usize,
        /// Questions the MC opens and closes.
        #[arg(long, default_value_t = 5)]
        questions: usize,
        /// Time from one question's opening to the next's.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// S sessions of P players each, every MC running K questions at the same
    /// time. Reports deliveries per second (all players) and latency on the
    /// probes of each session; the other players hold their sockets unread.
    Sessions {
        /// Sessions running at once.
        #[arg(long, default_value_t = 10)]
        sessions: usize,
        /// Players in each session.
        #[arg(long, default_value_t = 100)]
        players: usize,
        /// Players per session that read and time every event.
        #[arg(long, default_value_t = 50)]
        probes: usize,
        /// Questions each MC opens and closes.
        #[arg(long, default_value_t = 5)]
        questions: usize,
        /// Time from one question's opening to the next's.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// N players answer the same question within a window of W ms. Reports
    /// ack latency and acks per second (durable acks when the journal is on).
    Answers {
        /// Players, each answering once.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// The answers are spread at random over this window.
        #[arg(long, default_value_t = 1000)]
        window_ms: u64,
    },
    /// N players connect and join as fast as the server accepts. Reports
    /// joins per second, join latency, and first-tenth vs last-tenth latency
    /// (a flat per-join cost keeps the ratio near 1).
    Joins {
        /// Players to connect and join (--concurrency at a time).
        #[arg(long, default_value_t = 1000)]
        players: usize,
    },
    /// N players drop at once while the MC runs G more questions, then all
    /// resume with `since`. Reports the time until every player caught up and
    /// counts missed and duplicated events (must be zero).
    Reconnect {
        /// Players that drop and resume.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Questions the MC runs while they are away.
        #[arg(long, default_value_t = 3)]
        gap_questions: usize,
    },
    /// Writes S sessions of P players and K answered questions into a fresh
    /// log exactly as the server would, then starts the server binary on it
    /// and times its recovery (start -> listening). Needs no running server.
    Recovery {
        /// The quizcast binary to start.
        #[arg(long, default_value = "target/release/quizcast")]
        server_bin: String,
        /// Sessions in the log.
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        /// Players per session.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Answered questions per session.
        #[arg(long, default_value_t = 30)]
        questions: usize,
        /// Keep the written log at this path (and reuse it when it exists:
        /// only the recovery is timed).
        #[arg(long)]
        keep_db: Option<std::path::PathBuf>,
    },
    /// A hostile case (issue 10) run twice, without and with the hostile
    /// part: `leave` (1% of players leave during a question), `overrides`
    /// (the MC overrides --count scores), `stalled` (5% stop reading),
    /// `displays` (--count displays). Reports server CPU, RSS peak and the
    /// innocent probes' latency for both, and the ratios.
    Hostile {
        /// Which hostile part.
        #[arg(value_enum)]
        kind: hostile::Kind,
        /// Players in the session.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// Players that read and time every question event.
        #[arg(long, default_value_t = 100)]
        probes: usize,
        /// Questions the MC opens and closes.
        #[arg(long, default_value_t = 4)]
        questions: usize,
        /// Time from one question's opening to the next's.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Overrides (`overrides`, default 300) or displays (`displays`,
        /// default 100).
        #[arg(long)]
        count: Option<usize>,
    },
    /// N players (over the --targets in turn) follow one session while the
    /// MC opens and closes a question every --interval-ms for
    /// --duration-secs; it kills nothing. A player whose socket closes (a
    /// node killed by someone else) resumes with `since` on the next target.
    /// Reports each player's longest gap (the longest it waited for an event
    /// the MC had asked for), reconnects, resyncs, and the time from the
    /// first close seen to the last player resumed and to every player
    /// having the first event sent after it. Prints `gaps: running CODE
    /// UNIX_MS INTERVAL_MS` on stderr just before the first question opens
    /// (a script or test can time a kill from it).
    Gaps {
        /// Players in the session.
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// How long the MC runs questions.
        #[arg(long, default_value_t = 30)]
        duration_secs: u64,
        /// Time from one question's opening to the next's (closed halfway).
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
    },
    /// Hold N joined connections for T seconds; with --server-pid, the
    /// server's RSS per connection.
    Idle {
        /// Connections to hold (one process holds at most its open-file limit).
        #[arg(long, default_value_t = 1000)]
        players: usize,
        /// How long to hold them.
        #[arg(long, default_value_t = 10)]
        hold_secs: u64,
        /// Processes of this tool to spread the connections over (each
        /// process can hold at most its open-file limit).
        #[arg(long, default_value_t = 1)]
        procs: usize,
        /// Internal: run as one of --procs children.
        #[arg(long, hide = true)]
        child: bool,
    },
}

/// Settings every scenario shares.
pub struct Common {
    pub target: client::Target,
    pub json: bool,
    /// The first --server-pid (memory is read from it).
    pub server_pid: Option<u32>,
    /// Every --server-pid (CPU time is summed over them).
    pub server_pids: Vec<u32>,
    pub sources: u8,
    pub concurrency: usize,
    pub timeout_secs: u64,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let urls = if cli.target.is_empty() {
        vec![cli.url.clone()]
    } else {
        cli.target.clone()
    };
    let target = match client::Target::parse(&urls) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("quizcast-load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // The hard limit cannot be raised without privileges; take all of it.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let common = Common {
        target,
        json: cli.json,
        server_pid: cli.server_pid.first().copied(),
        server_pids: cli.server_pid.clone(),
        sources: cli.sources,
        concurrency: cli.concurrency,
        timeout_secs: cli.timeout_secs.max(1),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("quizcast-load: runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let report = rt.block_on(async {
        match cli.scenario {
            Scenario::Fanout {
                players,
                probes,
                questions,
                interval_ms,
            } => scenarios::fanout(&common, players, probes, questions.max(1), interval_ms).await,
            Scenario::Sessions {
                sessions,
                players,
                probes,
                questions,
                interval_ms,
            } => {
                scenarios::sessions(
                    &common,
                    sessions,
                    players,
                    probes,
                    questions.max(1),
                    interval_ms,
                )
                .await
            }
            Scenario::Answers { players, window_ms } => {
                scenarios::answers(&common, players, window_ms).await
            }
            Scenario::Joins { players } => scenarios::joins(&common, players).await,
            Scenario::Hostile {
                kind,
                players,
                probes,
                questions,
                interval_ms,
                count,
            } => {
                let count = count.unwrap_or(match kind {
                    hostile::Kind::Overrides => 300,
                    _ => 100,
                });
                let night = hostile::Night {
                    players,
                    probes,
                    questions: questions.max(1),
                    interval_ms,
                    count,
                };
                hostile::hostile(&common, kind, night).await
            }
            Scenario::Gaps {
                players,
                duration_secs,
                interval_ms,
            } => scenarios::gaps(&common, players, duration_secs, interval_ms.max(10)).await,
            Scenario::Reconnect {
                players,
                gap_questions,
            } => scenarios::reconnect(&common, players, gap_questions.max(1)).await,
            Scenario::Recovery {
                server_bin,
                sessions,
                players,
                questions,
                keep_db,
            } => {
                let shape = (sessions, players, questions.max(1));
                recovery::recovery(&common, &server_bin, shape, keep_db).await
            }
            Scenario::Idle {
                players,
                hold_secs,
                procs,
                child,
            } => {
                if procs > 1 && !child {
                    // Every child plays against the same targets.
                    let mut base: Vec<String> = urls
                        .iter()
                        .flat_map(|u| ["--target".to_string(), u.clone()])
                        .collect();
                    base.extend([
                        "--sources".to_string(),
                        cli.sources.to_string(),
                        "--concurrency".to_string(),
                        cli.concurrency.to_string(),
                        "--timeout-secs".to_string(),
                        cli.timeout_secs.to_string(),
                    ]);
                    scenarios::idle_multi(&common, players, hold_secs, procs, base).await
                } else {
                    scenarios::idle(&common, players, hold_secs, child).await
                }
            }
        }
    });
    if common.json {
        println!("{}", report.to_json());
    } else {
        report.print_table();
    }
    if report.problems.is_clean() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
