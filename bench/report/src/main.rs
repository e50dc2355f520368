//! `quizcast-bench-report RESULTS.json OUT_DIR`: writes `<name>.md` (a table a
//! person can read) and `<name>.svg` (latency percentiles against players).

use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: quizcast-bench-report RESULTS.json OUT_DIR");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("read results");
    let run: Value = serde_json::from_str(&text).expect("results JSON");
    let stem = std::path::Path::new(&args[1]).file_stem().and_then(|s| s.to_str()).unwrap_or("results").to_string();
    let out = std::path::Path::new(&args[2]);
    std::fs::write(out.join(format!("{stem}.md")), markdown(&run)).expect("write markdown");
    chart(&run, &out.join(format!("{stem}.svg")));
}

fn num(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn lat(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    format!("{} / {} / {} / {}", num(&v["p50"]), num(&v["p90"]), num(&v["p99"]), num(&v["max"]))
}

fn markdown(run: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# quizcast bench, {}\n", run["date"].as_str().unwrap_or("?"));
    let _ = writeln!(s, "Machine: {}. Server pinned to core {}, load tool to core {}. Command: `{}`.\n",
        run["machine"].as_str().unwrap_or("?"), num(&run["serverCore"]), num(&run["loadCore"]), run["command"].as_str().unwrap_or("bench/run.sh"));
    let _ = writeln!(s, "Latencies in ms as p50 / p90 / p99 / max. Server CPU and peak RSS are the server process's, over the whole run (setup included).\n");
    let _ = writeln!(s, "| scenario | params | key result | latency (ms) | server CPU µs/delivery | server CPU s | server peak RSS MiB | load tool CPU % | ok |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in run["runs"].as_array().into_iter().flatten() {
        let rep = &r["report"];
        let res = &rep["results"];
        let (key, latency) = match rep["scenario"].as_str().unwrap_or("") {
            "fanout" => (format!("completion p99 {} ms", num(&res["completionLatency"]["p99"])), lat(&res["deliveryLatency"])),
            "sessions" => (format!("{} deliveries/s", num(&res["deliveriesPerSec"])), lat(&res["deliveryLatency"])),
            "answers" => (format!("{} acks/s, {} acked", num(&res["acksPerSec"]), num(&res["acked"])), lat(&res["ackLatency"])),
            "joins" => (format!("{} joins in {} s ({}/s), last/first tenth median {}", num(&res["joined"]), num(&res["totalSecs"]), num(&res["joinsPerSec"]), num(&res["lastOverFirstMedian"])), lat(&res["joinLatency"])),
            "reconnect" => (format!("all caught up in {} s", num(&res["allCaughtUpSecs"])), lat(&res["catchUpLatency"])),
            "recovery" => (format!("recovered {} records ({} MiB) in {} s", num(&res["records"]), num(&res["dbMiB"]), num(&res["recoverySecs"])), "-".into()),
            "hostile" => (format!("{}: probe p99 x{}, server CPU x{}, RSS peak x{} against the same night without it", num(&rep["params"]["kind"]).trim_matches('"'), num(&res["ratio"]["probeP99"]), num(&res["ratio"]["serverCpu"]), num(&res["ratio"]["serverRssPeak"])), lat(&res["withHostile"]["probeLatency"])),
            "idle" => (format!("{} held, {} KiB/conn", num(&res["held"]), num(&res["serverRssKiBPerConnection"])), "-".into()),
            _ => ("?".into(), "-".into()),
        };
        let params = rep["params"].as_object().map(|m| m.iter().map(|(k, v)| format!("{k}={}", num(v))).collect::<Vec<_>>().join(" ")).unwrap_or_default();
        let params = match r["label"].as_str() { Some(l) if !l.is_empty() => format!("{params} ({l})"), _ => params };
        let _ = writeln!(s, "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            num(&rep["scenario"]).trim_matches('"'), params, key, latency,
            num(&res["serverCpuMicrosPerDelivery"]), num(&r["serverCpuSecs"]),
            r["serverPeakRssKiB"].as_f64().map(|k| format!("{:.1}", k / 1024.0)).unwrap_or("-".into()),
            num(&rep["loadToolCpuPercent"]), if rep["ok"] == true { "yes" } else { "NO" });
    }
    peers_markdown(run, &mut s);
    s
}

/// quizcast / Node ratios from one `compare.sh` run per size.
struct PeerRow {
    players: f64,
    p99: Option<f64>,
    cpu: Option<f64>,
    kib: Option<f64>,
}

fn ratio(a: &Value, b: &Value) -> Option<f64> {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn peer_rows(run: &Value) -> Vec<PeerRow> {
    run["peers"].as_array().into_iter().flatten().map(|p| {
        let (q, o) = (&p["servers"]["quizcast"], &p["servers"]["node-ws"]);
        PeerRow {
            players: p["players"].as_f64().unwrap_or(0.0),
            p99: ratio(&q["p99_ms"], &o["p99_ms"]),
            cpu: ratio(&q["server_cpu_us_per_delivery"], &o["server_cpu_us_per_delivery"]),
            kib: ratio(&q["kib_per_conn"], &o["kib_per_conn"]),
        }
    }).collect()
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}")).unwrap_or("-".into())
}

fn peers_markdown(run: &Value, s: &mut String) {
    let peers = run["peers"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Side by side with the peers (`../shared/peers/compare.sh`)\n");
    let _ = writeln!(s, "One run per size: each server fresh on core 0, the peers' own driver on core 1, 200 probes, 5 questions. \
        A delivery is one player's share of a question (its open and its close: two frames). \
        The floor is the kernel's CPU for one 200-byte loopback write; \"above floor\" is quizcast's CPU per frame (half a delivery) minus it.\n");
    let _ = writeln!(s, "| players | server | p99 ms | server CPU µs/delivery | KiB/conn | join s | lost |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for p in &peers {
        for label in ["quizcast", "node-ws"] {
            let r = &p["servers"][label];
            let _ = writeln!(s, "| {} | {label} | {} | {} | {} | {} | {} |", num(&p["players"]),
                num(&r["p99_ms"]), num(&r["server_cpu_us_per_delivery"]), num(&r["kib_per_conn"]), num(&r["join_s"]), num(&r["lost"]));
        }
    }
    let _ = writeln!(s, "\n| players | p99 quizcast/Node | CPU per delivery quizcast/Node | KiB per conn quizcast/Node | floor µs/send | quizcast µs/frame above floor |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for (p, row) in peers.iter().zip(peer_rows(run)) {
        let above = match (p["servers"]["quizcast"]["server_cpu_us_per_delivery"].as_f64(), p["floorUsPerSend"].as_f64()) {
            (Some(c), Some(f)) => format!("{:.1}", c / 2.0 - f),
            _ => "-".into(),
        };
        let _ = writeln!(s, "| {} | {} | {} | {} | {} | {above} |", num(&p["players"]),
            fmt_ratio(row.p99), fmt_ratio(row.cpu), fmt_ratio(row.kib), num(&p["floorUsPerSend"]));
    }
    let _ = writeln!(s, "\nIssue 13's targets: p99 and CPU per delivery ≤ 0.6 × Node's, KiB per connection ≤ Node's, ≤ 3 µs per frame above the floor.");
}

fn chart(run: &Value, path: &std::path::Path) {
    // Fan-out delivery latency percentiles against players.
    // Pinned runs (server on one core) make the lines; other settings
    // (e.g. unpinned) are drawn as separate p99 markers.
    let mut points: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut others: Vec<(f64, f64, String)> = Vec::new();
    for r in run["runs"].as_array().into_iter().flatten() {
        let rep = &r["report"];
        let label = r["label"].as_str().unwrap_or("");
        if rep["scenario"] == "fanout" && !label.is_empty() {
            if let (Some(n), Some(p99)) = (rep["params"]["players"].as_f64(), rep["results"]["deliveryLatency"]["p99"].as_f64()) {
                others.push((n, p99, label.to_string()));
            }
            continue;
        }
        if rep["scenario"] == "fanout" {
            let l = &rep["results"]["deliveryLatency"];
            if let (Some(n), Some(a), Some(b), Some(c)) = (rep["params"]["players"].as_f64(), l["p50"].as_f64(), l["p90"].as_f64(), l["p99"].as_f64()) {
                points.push((n, a, b, c));
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let canvas = SVGBackend::new(path, (1280, 480)).into_drawing_area();
    let _ = canvas.fill(&WHITE);
    let (root, right) = canvas.split_horizontally(800);
    ratio_chart(run, &right);
    let max_x = points.iter().map(|p| p.0).fold(1000.0, f64::max) * 1.05;
    let max_y = points.iter().map(|p| p.3).chain(others.iter().map(|o| o.1)).fold(10.0, f64::max) * 1.15;
    let mut chart = match ChartBuilder::on(&root)
        .caption("quizcast fan-out: delivery latency vs players", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chart: {e}");
            return;
        }
    };
    let _ = chart.configure_mesh().x_desc("players in one session").y_desc("latency (ms)").draw();
    let series: [(&str, RGBColor, fn(&(f64, f64, f64, f64)) -> f64); 3] =
        [("p50", BLUE, |p| p.1), ("p90", GREEN, |p| p.2), ("p99", RED, |p| p.3)];
    for (name, color, f) in series {
        let data: Vec<(f64, f64)> = points.iter().map(|p| (p.0, f(p))).collect();
        if let Ok(s) = chart.draw_series(LineSeries::new(data.clone(), color.stroke_width(2))) {
            s.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        let _ = chart.draw_series(data.iter().map(|p| Circle::new(*p, 4, color.filled())));
    }
    for (n, p99, label) in others {
        let name = format!("p99, {label}");
        if let Ok(s) = chart.draw_series(std::iter::once(TriangleMarker::new((n, p99), 8, MAGENTA.filled()))) {
            s.label(name).legend(|(x, y)| TriangleMarker::new((x + 9, y), 6, MAGENTA.filled()));
        }
    }
    let _ = chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw();
    let _ = canvas.present();
}

/// quizcast / Node ratios against players, with the parity line (1) and
/// issue 13's target for p99 and CPU (0.6).
fn ratio_chart<DB: DrawingBackend>(run: &Value, area: &DrawingArea<DB, plotters::coord::Shift>) {
    let rows = peer_rows(run);
    if rows.is_empty() {
        return;
    }
    let max_x = rows.iter().map(|r| r.players).fold(1000.0, f64::max) * 1.05;
    let max_y = rows.iter().flat_map(|r| [r.p99, r.cpu, r.kib]).flatten().fold(1.2, f64::max) * 1.15;
    let Ok(mut chart) = ChartBuilder::on(area)
        .caption("quizcast / Node (same run)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)
    else {
        return;
    };
    let _ = chart.configure_mesh().x_desc("players in one session").y_desc("ratio").draw();
    for (y, color, name) in [(1.0, BLACK, "parity"), (0.6, MAGENTA, "target 0.6")] {
        if let Ok(s) = chart.draw_series(LineSeries::new(vec![(0.0, y), (max_x, y)], color.mix(0.5).stroke_width(1))) {
            s.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
    }
    let series: [(&str, RGBColor, fn(&PeerRow) -> Option<f64>); 3] =
        [("p99", RED, |r| r.p99), ("CPU/delivery", BLUE, |r| r.cpu), ("KiB/conn", GREEN, |r| r.kib)];
    for (name, color, f) in series {
        let data: Vec<(f64, f64)> = rows.iter().filter_map(|r| f(r).map(|v| (r.players, v))).collect();
        if let Ok(s) = chart.draw_series(LineSeries::new(data.clone(), color.stroke_width(2))) {
            s.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        let _ = chart.draw_series(data.iter().map(|p| Circle::new(*p, 4, color.filled())));
    }
    let _ = chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw();
}
