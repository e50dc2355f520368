//! The `recovery` scenario: how long a restart takes to rebuild a big log.
//! It writes S sessions of P players and K answered questions into a fresh
//! database exactly as the server would (the same facts, events, records
//! and snapshot policy, through the same log writer), then starts the
//! server binary on it and times start -> listening (the server recovers
//! every session before it listens), and checks a few sessions' state.

use crate::stats::{Problems, Report};
use crate::Common;
use quizcast::game::state::Settings;
use quizcast::game::{Command, GameState, Phase};
use quizcast::journal::sqlite::{LoadOptions, SqliteLog};
use quizcast::journal::{
    logged, snapshot_due, Append, Committed, Record, SessionHeader, SessionLog,
};
use quizcast::metrics::Metrics;
use serde_json::json;
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `n`th session's code (five characters of the code alphabet).
fn code_of(mut n: usize) -> String {
    let a = quizcast::registry::CODE_ALPHABET;
    (0..quizcast::registry::CODE_LEN)
        .map(|_| {
            let c = a[n % a.len()] as char;
            n /= a.len();
            c
        })
        .collect()
}

/// A quiz of `k` choice questions in rounds of ten.
fn quiz(k: usize) -> quizcast::game::quiz::Quiz {
    let rounds: Vec<_> = (0..k.div_ceil(10))
        .map(|r| {
            let questions: Vec<_> = (r * 10..k.min(r * 10 + 10))
                .map(|i| json!({"id": format!("q{i}"), "kind": "choice", "prompt": format!("Question {i}?"),
                                "choices": ["A", "B", "C", "D"], "answer": i % 4, "points": 1}))
                .collect();
            json!({"id": format!("r{r}"), "name": format!("Round {r}"), "questions": questions})
        })
        .collect();
    quizcast::game::quiz::parse(json!({"title": "Recovery bench", "rounds": rounds}))
        .expect("a valid quiz")
}

/// Appends decided commands as the session actor does.
struct Writer<'a> {
    log: &'a SqliteLog,
    code: String,
    state: GameState,
    pos: u64,
    seq: u64,
    since_snapshot: usize,
    failed: Arc<AtomicU64>,
    records: u64,
}

impl Writer<'_> {
    fn run(&mut self, cmd: Command) {
        let Ok(d) = self.state.decide(cmd) else {
            self.failed.fetch_add(1, Relaxed);
            return;
        };
        let mut events = Vec::new();
        for f in &d.facts {
            for e in self.state.evolve(f) {
                self.seq += 1;
                let audience = e.audience();
                events.push(logged(
                    &self.code,
                    self.seq,
                    1_700_000_000_000,
                    &e,
                    audience,
                ));
            }
        }
        self.pos += 1;
        let mut append = Some(Append {
            code: self.code.clone(),
            epoch: 1,
            expected: self.pos - 1,
            generation: 0,
            records: vec![Record {
                pos: self.pos,
                facts: d.facts,
                events,
            }],
            notify: {
                let failed = self.failed.clone();
                Box::new(move |c: Committed| {
                    if c.result.is_err() {
                        failed.fetch_add(1, Relaxed);
                    }
                })
            },
        });
        // The writer's queue is bounded: wait for room, as a session would
        // be told UNAVAILABLE and retry.
        while let Some(a) = append.take() {
            if let Err(back) = self.log.append_or_return(a) {
                append = Some(back);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.records += 1;
        self.since_snapshot += 1;
        let due = snapshot_due(
            self.since_snapshot,
            self.state.size_hint(),
            self.state.phase == Phase::Question,
            1000,
        );
        if due {
            let body = serde_json::to_vec(&self.state).unwrap_or_default();
            let v = self.state.format_version();
            while self
                .log
                .snapshot(&self.code, self.pos, self.seq, v, body.clone())
                .is_err()
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.since_snapshot = 0;
        }
    }
}

fn write_log(db: &std::path::Path, sessions: usize, players: usize, k: usize) -> (u64, u64) {
    let opts = LoadOptions::default();
    let (log, _) =
        SqliteLog::open(db, false, &opts, Arc::new(Metrics::default())).expect("open the log");
    let failed = Arc::new(AtomicU64::new(0));
    let mut records = 0;
    let q = quiz(k);
    for s in 0..sessions {
        let code = code_of(s);
        let (tx, _rx) = tokio::sync::oneshot::channel();
        let header = SessionHeader {
            code: code.clone(),
            nonce: format!("nonce{s}"),
            title: "Recovery bench".into(),
            settings: Settings {
                max_players: players.max(1),
                ..Settings::default()
            },
            created_ms: 1_700_000_000_000 + s as u64,
        };
        let _ = log.create(header.clone(), tx);
        let mut w = Writer {
            log: &log,
            code,
            state: GameState::new(header.code.clone(), header.title, header.settings),
            pos: 0,
            seq: 0,
            since_snapshot: 0,
            failed: failed.clone(),
            records: 0,
        };
        w.run(Command::LoadQuiz { quiz: q.clone() });
        for p in 0..players {
            w.run(Command::AddPlayer {
                player_id: format!("p{p}"),
                name: format!("Player {p}"),
                device_id: None,
                team: None,
            });
        }
        let mut now = 1_700_000_000_000u64;
        for i in 0..k {
            now += 60_000;
            w.run(Command::OpenQuestion {
                question_id: Some(format!("q{i}")),
                time_limit_sec: Some(0),
                now_ms: now,
            });
            for p in 0..players {
                w.run(Command::SubmitAnswer {
                    player_id: format!("p{p}"),
                    question_id: format!("q{i}"),
                    answer: json!((p + i) % 4),
                    now_ms: now + 1000,
                });
            }
            w.run(Command::Reveal);
        }
        records += w.records;
    }
    log.close();
    (records, failed.load(Relaxed))
}

/// Runs the scenario against the server binary at `server`.
pub async fn recovery(
    c: &Common,
    server: &str,
    (sessions, players, k): (usize, usize, usize),
    keep: Option<std::path::PathBuf>,
) -> Report {
    let started = Instant::now();
    let mut problems = Problems::default();
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            problems.error(format!("temp dir: {e}"));
            return report(c, started, json!({}), problems, (sessions, players, k));
        }
    };
    let reuse = keep.as_ref().is_some_and(|p| p.exists());
    let db = keep.clone().unwrap_or_else(|| dir.join("recovery.db"));
    let db2 = db.clone();
    let write_started = Instant::now();
    let (records, failed) = if reuse {
        (0, 0)
    } else {
        tokio::task::spawn_blocking(move || write_log(&db2, sessions, players, k))
            .await
            .unwrap_or((0, 1))
    };
    let write_secs = write_started.elapsed().as_secs_f64();
    if failed > 0 {
        problems.error(format!("{failed} commands refused while writing"));
    }
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(db.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    // Start the server on it and time start -> listening.
    let t0 = Instant::now();
    let child = std::process::Command::new(server)
        .args(["--addr", "127.0.0.1:0", "--workers", "1"])
        .arg("--db")
        .arg(&db)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(ch) => ch,
        Err(e) => {
            problems.error(format!("start {server}: {e}"));
            return report(c, started, json!({}), problems, (sessions, players, k));
        }
    };
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let recovery_secs = t0.elapsed().as_secs_f64();
    let rss = crate::stats::rss_kib(child.id());
    let addr = line
        .trim()
        .strip_prefix("quizcast listening on ")
        .unwrap_or("")
        .to_string();
    if addr.is_empty() {
        problems.error("the server did not start");
    } else {
        for s in [0, sessions.saturating_sub(1)] {
            let url = format!("{addr}/api/sessions/{}", code_of(s));
            match reqwest_like_get(&url).await {
                Some(v) if v["totalPlayers"] == json!(players) && v["phase"] == "closed" => {}
                other => {
                    problems.error(format!("session {} recovered wrong: {other:?}", code_of(s)))
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let results = json!({
        "records": records,
        "writeSecs": (write_secs * 100.0).round() / 100.0,
        "dbMiB": (db_bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
        "recoverySecs": (recovery_secs * 1000.0).round() / 1000.0,
        "serverRssKiBAfterRecovery": rss,
    });
    report(c, started, results, problems, (sessions, players, k))
}

fn report(
    _: &Common,
    started: Instant,
    results: serde_json::Value,
    problems: Problems,
    (sessions, players, k): (usize, usize, usize),
) -> Report {
    Report {
        scenario: "recovery",
        params: json!({"sessions": sessions, "players": players, "questions": k}),
        results,
        problems,
        wall: started.elapsed(),
        tool_cpu: crate::stats::self_cpu(),
    }
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("quizcast-recovery-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A plain HTTP GET of a JSON body (loopback, no keep-alive).
async fn reqwest_like_get(url: &str) -> Option<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/')?;
    let mut s = tokio::net::TcpStream::connect(host).await.ok()?;
    let req = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}
