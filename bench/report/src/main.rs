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
    s
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
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    let _ = root.fill(&WHITE);
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
    let _ = root.present();
}
