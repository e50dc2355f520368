// The projector display: code, join link and QR; the question and its
// countdown; the reveal with a bar chart; the podium. Never sees answers
// before their reveal (the server never sends them to this role).
import { QuizClient, h, text, secondsLeft } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const code = (location.pathname.match(/^\/display\/([A-Za-z0-9]{5})/) || [])[1]?.toUpperCase();
let m = null;
let client = null;

function onSnapshot(snap) {
  m = { title: snap.title, phase: snap.phase, round: snap.round, question: snap.question, board: snap.leaderboard || [],
        total: snap.totalPlayers, online: snap.online, answered: 0, reveal: null };
  if (snap.question?.revealed) m.reveal = { correctAnswer: snap.question.correctAnswer, explanation: snap.question.explanation };
  render();
}

function onEvent(e) {
  if (!m) return;
  const d = e.data || {};
  switch (e.type) {
    case "game:round-changed": m.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount }; m.question = null; m.reveal = null; break;
    case "game:question-opened": m.question = { ...d, closed: false }; m.phase = "question"; m.answered = 0; m.reveal = null; break;
    case "game:question-closed": if (m.question) m.question.closed = true; m.phase = "closed"; break;
    case "game:answer-revealed": m.reveal = d; break;
    case "player:answer-submitted": if (m.question?.questionId === d.questionId) m.answered = d.answeredCount; m.total = d.totalPlayers; break;
    case "player:joined": case "player:left": case "player:removed": m.total = d.totalPlayers; break;
    case "presence:count": m.online = d.online; m.total = d.totalPlayers; break;
    case "leaderboard:updated": m.board = d.top; break;
    case "leaderboard:full": m.board = d.entries.slice(0, 10); break;
    case "game:marking-started": m.phase = "marking"; break;
    case "game:marking-ended": m.phase = "closed"; break;
    case "session:ended": m.phase = "ended"; m.board = d.leaderboard; break;
  }
  render();
}

function answerText(q, a) {
  if (a == null) return "marked by the players";
  return q?.choices ? q.choices[a] ?? String(a) : String(a);
}

function podium() {
  const [a, b, c] = m.board;
  const slot = (e, cls, place) => h("div", { class: cls }, h("div", {}, place), e ? h("strong", {}, e.name) : h("strong", {}, "—"), e ? `${e.score} pts` : "");
  return h("div", { class: "podium", id: "podium" }, slot(b, "p2", "2nd"), slot(a, "p1", "1st"), slot(c, "p3", "3rd"));
}

function render() {
  text($("title"), m.title || "");
  text($("players"), `${m.total ?? 0} players`);
  const nodes = [];
  const q = m.question;
  if (m.phase === "ended") {
    nodes.push(h("h2", {}, "Final results"), podium());
  } else if (m.phase === "marking") {
    nodes.push(h("h2", {}, "Peer marking"), h("p", {}, "Players are marking each other's answers…"));
  } else if (!q) {
    nodes.push(h("h2", {}, m.round ? `Next up: ${m.round.name}` : "Get ready!"), h("p", { class: "muted" }, "Scan the code or go to the link to join."));
    if (m.board.some((e) => e.score > 0)) nodes.push(podium());
  } else {
    if (m.round) nodes.push(h("p", { class: "muted" }, `${m.round.name} · question ${q.index + 1} of ${m.round.questionCount}`));
    nodes.push(h("p", { class: "prompt", id: "prompt" }, q.prompt));
    if (q.imageUrl) nodes.push(h("img", { class: "question", src: q.imageUrl, alt: "Question picture" }));
    if (q.choices && !m.reveal) nodes.push(h("ol", { type: "A" }, q.choices.map((c) => h("li", {}, c))));
    if (!q.closed) nodes.push(h("div", { class: "countdown", id: "countdown" }));
    nodes.push(h("p", { id: "answered" }, `${m.answered} of ${m.total ?? 0} answered`));
    if (m.reveal) {
      nodes.push(h("h2", { class: "correct", id: "reveal" }, "Answer: ", answerText(q, m.reveal.correctAnswer)));
      if (m.reveal.explanation) nodes.push(h("p", { class: "muted" }, m.reveal.explanation));
      if (m.reveal.distribution && q.choices) {
        const max = Math.max(1, ...m.reveal.distribution);
        nodes.push(h("div", { class: "dist", id: "distribution" }, q.choices.map((c, i) => h("div", {},
          h("div", { class: "label" }, h("span", {}, `${String.fromCharCode(65 + i)}. ${c}${i === m.reveal.correctAnswer ? " ✓" : ""}`), h("span", {}, String(m.reveal.distribution[i] ?? 0))),
          h("div", { class: "bar", style: `width:${((m.reveal.distribution[i] ?? 0) / max) * 100}%` })))));
      }
    } else if (q.closed) {
      nodes.push(h("h2", {}, "Time's up!"));
    }
  }
  $("stage").replaceChildren(...nodes);
  $("board").replaceChildren(...m.board.slice(0, 10).map((e) => h("li", {}, h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, String(e.score)))));
  tick();
}

function tick() {
  const el = $("countdown");
  if (!el || !m?.question || !client) return;
  const s = secondsLeft(m.question.deadline, client);
  text(el, s == null ? "" : `${s}`);
  el.classList.toggle("low", s != null && s <= 5);
}

if (!code) {
  text($("title"), "No session code in the address: open /display/CODE.");
} else {
  text($("code"), code);
  text($("join-url"), `${location.host}/join/${code}`);
  $("qr").src = `/api/sessions/${code}/qr.svg`;
  client = new QuizClient({ base: location.origin, code, role: "display", onEvent, onSnapshot, onState: (s, d) => {
    $("dot").className = "dot " + s; text($("conn"), s + (d ? `: ${d}` : ""));
  } });
  window.quizClient = client;
  client.start();
  setInterval(tick, 250);
}
