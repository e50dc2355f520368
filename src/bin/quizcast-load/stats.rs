//! Measurements: latency histograms, CPU and memory from /proc, the report.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A latency histogram in microseconds.
pub fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("histogram"))
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_micros() as u64).max(1));
}

/// p50/p90/p99/max in milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    })
}

/// User+system CPU time of a process (clock ticks from /proc/PID/stat).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = 100; // sysconf(_SC_CLK_TCK) on Linux
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

pub fn self_cpu() -> Duration {
    cpu_time(std::process::id()).unwrap_or_default()
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Problems that make a run fail (losses, duplicates, errors by code).
#[derive(Default, Debug)]
pub struct Problems {
    pub missed: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Problems {
    pub fn error(&mut self, what: impl Into<String>) {
        *self.errors.entry(what.into()).or_default() += 1;
    }

    pub fn merge(&mut self, o: Problems) {
        self.missed += o.missed;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    pub fn is_clean(&self) -> bool {
        self.missed == 0 && self.duplicated == 0 && self.out_of_order == 0 && self.errors.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({"missed": self.missed, "duplicated": self.duplicated, "outOfOrder": self.out_of_order, "errors": self.errors})
    }
}

/// A scenario's outcome.
pub struct Report {
    pub scenario: &'static str,
    pub params: Value,
    pub results: Value,
    pub problems: Problems,
    pub wall: Duration,
    pub tool_cpu: Duration,
}

impl Report {
    pub fn to_json(&self) -> Value {
        let secs = self.wall.as_secs_f64().max(1e-9);
        json!({
            "scenario": self.scenario,
            "params": self.params,
            "results": self.results,
            "problems": self.problems.to_json(),
            "ok": self.problems.is_clean(),
            "wallSecs": (secs * 100.0).round() / 100.0,
            "loadToolCpuPercent": (self.tool_cpu.as_secs_f64() / secs * 1000.0).round() / 10.0,
        })
    }

    /// A table a person can read.
    pub fn print_table(&self) {
        let j = self.to_json();
        println!("quizcast-load {}  ({})", self.scenario, flat(&self.params));
        println!("{:-<72}", "");
        print_rows("", &j["results"]);
        println!(
            "{:<40} {}",
            "load tool CPU (% of one core)", j["loadToolCpuPercent"]
        );
        println!("{:<40} {}", "wall time (s)", j["wallSecs"]);
        println!("{:<40} {}", "problems", flat(&self.problems.to_json()));
        println!(
            "{:<40} {}",
            "verdict",
            if self.problems.is_clean() {
                "OK"
            } else {
                "FAILED"
            }
        );
    }
}

fn flat(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", flat(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn print_rows(prefix: &str, v: &Value) {
    if let Value::Object(m) = v {
        for (k, v) in m {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(inner) if inner.contains_key("p99") => {
                    println!(
                        "{:<40} p50 {} ms  p90 {} ms  p99 {} ms  max {} ms  (n={})",
                        name, v["p50"], v["p90"], v["p99"], v["max"], v["count"]
                    );
                }
                Value::Object(_) => print_rows(&name, v),
                other => println!("{name:<40} {other}"),
            }
        }
    }
}
