// The operations dashboard: live charts from /api/stats.
import { h, text } from "/static/client.js";

const SVG = "http://www.w3.org/2000/svg";
const KEEP = 120;
const series = [
  { id: "connections", label: "Connections", get: (s) => s.connections.open },
  { id: "sessions", label: "Sessions", get: (s) => s.sessions },
  { id: "msgs", label: "Messages out / s", rate: (s) => s.messagesOut },
  { id: "msgsin", label: "Messages in / s", rate: (s) => s.messagesIn },
  { id: "fanout", label: "Fan-out, mean µs per event", ratio: (s) => [s.fanout.sumMicros, s.fanout.count] },
  { id: "commit", label: "Journal commit, mean µs", ratio: (s) => [s.journal.commitMicrosSum, s.journal.commits] },
];
const data = Object.fromEntries(series.map((s) => [s.id, []]));
let prev = null;

for (const s of series) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${KEEP} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", s.label + " over the last two minutes");
  const path = document.createElementNS(SVG, "polyline");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "#ffcc33");
  path.setAttribute("stroke-width", "1.5");
  path.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(path);
  s.path = path;
  s.value = h("div", { class: "value", id: "v-" + s.id }, "–");
  document.getElementById("charts").append(h("section", { class: "panel" }, h("h2", {}, s.label), s.value, svg));
}

async function poll() {
  try {
    const r = await fetch("/api/stats", { cache: "no-store" });
    const st = await r.json();
    const now = performance.now();
    for (const s of series) {
      let v = null;
      if (s.get) v = s.get(st);
      else if (s.rate && prev) v = (s.rate(st) - s.rate(prev.st)) / ((now - prev.at) / 1000);
      else if (s.ratio && prev) {
        const [a, b] = s.ratio(st); const [pa, pb] = s.ratio(prev.st);
        v = b > pb ? (a - pa) / (b - pb) : 0;
      }
      if (v == null) continue;
      const arr = data[s.id];
      arr.push(v); if (arr.length > KEEP) arr.shift();
      const max = Math.max(1, ...arr);
      // Zero sits just above the bottom edge so a flat line stays visible.
      s.path.setAttribute("points", arr.map((y, i) => `${i + KEEP - arr.length},${96 - (y / max) * 90}`).join(" "));
      text(s.value, Number.isInteger(v) ? String(v) : v.toFixed(1));
    }
    prev = { st, at: now };
    text(document.getElementById("status"), `Up ${st.uptimeSecs}s.`);
  } catch (e) {
    text(document.getElementById("status"), "Cannot reach the server: " + e.message);
  }
  setTimeout(poll, 1000);
}
poll();
