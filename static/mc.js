// The MC control panel: create or reopen a session, load a quiz, run it.
import { QuizClient, api, h, text, secondsLeft } from "/static/client.js";

const $ = (id) => document.getElementById(id);
let session = null; // {code, token}
let client = null;
let m = null; // model

const call = (method, path, body) => api(method, `/api/sessions/${session.code}${path}`, { token: session.token, body });

function fail(el) {
  return (e) => text($(el), e.field ? `${e.message}` : e.message);
}

async function create(ev) {
  ev.preventDefault();
  try {
    const r = await api("POST", "/api/sessions", { body: { title: $("new-title").value.trim() || "Quiz night" } });
    begin({ code: r.code, token: r.mcToken });
  } catch (e) { fail("setup-error")(e); }
}

function reopen(ev) {
  ev.preventDefault();
  begin({ code: $("reopen-code").value.trim().toUpperCase(), token: $("reopen-token").value.trim() });
}

function begin(s) {
  session = s;
  localStorage.setItem("quizcast:mc", JSON.stringify(s));
  $("setup").classList.add("hidden");
  $("session").classList.remove("hidden");
  text($("code"), s.code);
  const joinUrl = `${location.origin}/join/${s.code}`;
  $("join-url").href = joinUrl; text($("join-url"), joinUrl);
  $("display-link").href = `/display/${s.code}`;
  $("qr").src = `/api/sessions/${s.code}/qr.svg`;
  client = new QuizClient({ base: location.origin, code: s.code, role: "mc", token: s.token, onEvent, onSnapshot, onState });
  window.quizClient = client;
  client.start();
  setInterval(tick, 250);
}

function onState(state, detail) {
  $("dot").className = "dot " + state;
  text($("conn"), state + (detail ? `: ${detail}` : ""));
  if (state === "closed" && detail && /token|exist/.test(detail)) {
    localStorage.removeItem("quizcast:mc");
    $("session").classList.add("hidden");
    $("setup").classList.remove("hidden");
    text($("setup-error"), `Could not reopen: ${detail}.`);
  }
}

function onSnapshot(snap) {
  m = {
    snap, phase: snap.phase, quiz: snap.quiz || { rounds: [] }, round: snap.round, question: snap.question,
    players: new Map((snap.players || []).map((p) => [p.playerId, p])), board: snap.leaderboard || [],
    answered: Object.keys(snap.answers || {}).length, total: snap.totalPlayers, marking: snap.marking || null,
    settings: snap.settings || {}, chat: m?.chat || [], ended: snap.phase === "ended",
  };
  render();
}

function onEvent(e) {
  if (!m) return;
  const d = e.data || {};
  switch (e.type) {
    case "player:joined": m.players.set(d.playerId, { playerId: d.playerId, name: d.name, score: 0, online: false }); m.total = d.totalPlayers; break;
    case "player:left": case "player:removed": m.players.delete(d.playerId); m.total = d.totalPlayers; break;
    case "player:all-cleared": m.players.clear(); m.total = 0; break;
    case "presence:changed": { const p = m.players.get(d.playerId); if (p) p.online = d.online; break; }
    case "game:round-changed": m.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount }; break;
    case "game:question-opened": m.question = { ...d, closed: false }; m.phase = "question"; m.answered = 0; break;
    case "game:question-closed": if (m.question) m.question.closed = true; m.phase = "closed"; break;
    case "game:answer-revealed": if (m.question) { m.question.revealed = true; m.question.correctAnswer = d.correctAnswer; } break;
    case "player:answer-submitted": if (m.question?.questionId === d.questionId) { m.answered = d.answeredCount; m.total = d.totalPlayers; } break;
    case "game:marking-started": m.phase = "marking"; m.marking = { roundId: d.roundId, marksGiven: 0, marksExpected: null, completed: false }; break;
    case "marking:score-updated": if (m.marking) m.marking.marksGiven = (m.marking.marksGiven || 0) + 1; break;
    case "marking:completed": if (m.marking) m.marking.completed = true; break;
    case "game:marking-ended": m.phase = "closed"; m.marking = null; break;
    case "leaderboard:full":
      m.board = d.entries;
      for (const en of d.entries) { const p = m.players.get(en.playerId); if (p) p.score = en.score; }
      break;
    case "leaderboard:updated": if (!m.board.length) m.board = d.top; break;
    case "chat:message": m.chat.push(d); break;
    case "session:settings-changed": m.settings = d.settings; break;
    case "session:ended":
      m.phase = "ended"; m.ended = true; m.board = d.leaderboard;
      for (const p of m.players.values()) p.online = false; // every socket is closed now
      break;
  }
  render();
}

function render() {
  text($("phase"), `phase: ${m.phase}`);
  const rounds = m.quiz.rounds || [];
  const qs = rounds.reduce((n, r) => n + r.questions.length, 0);
  text($("quiz-summary"), rounds.length ? `${m.snap.title || "Quiz"}: ${rounds.length} rounds, ${qs} questions.` : "No quiz loaded.");
  fillSelect($("round-select"), rounds.map((r) => [r.id, `${r.name} (${r.type || "standard"})`]), m.round?.id);
  fillSelect($("question-select"), rounds.flatMap((r) => r.questions.map((q) => [q.id, `${r.name} · ${q.prompt.slice(0, 60)} [${q.kind}${q.marking ? ", " + q.marking : ""}]`])), m.question?.questionId);
  fillSelect($("ov-question"), rounds.flatMap((r) => r.questions.map((q) => [q.id, q.id + ": " + q.prompt.slice(0, 30)])));
  fillSelect($("ov-player"), [...m.players.values()].map((p) => [p.playerId, p.name]));
  const q = m.question;
  text($("now"), q ? `${q.closed ? "Closed" : "Open"}: ${q.prompt}` + (q.revealed ? ` (answer: ${q.choices ? q.choices[q.correctAnswer] : q.correctAnswer ?? "marked by people"})` : "") : "No question open.");
  text($("answered"), q ? `${m.answered}/${m.total} answered` : "");
  text($("marking-progress"), m.marking ? `Marking ${m.marking.roundId}: ${m.marking.marksGiven ?? 0}${m.marking.marksExpected != null ? "/" + m.marking.marksExpected : ""} marks in${m.marking.completed ? ", all marks are in" : ""}.` : "");
  $("chat-on").checked = !!m.settings.chat;
  text($("player-count"), `(${m.players.size})`);
  $("players").replaceChildren(...[...m.players.values()].map((p) =>
    h("tr", {}, h("td", { class: "name" }, p.name), h("td", {}, p.online ? "●" : "○"), h("td", {}, String(p.score ?? 0)),
      h("td", {}, h("button", { class: "secondary", "aria-label": `Remove ${p.name}`, onclick: () => kick(p) }, "Kick")))));
  $("board").replaceChildren(...m.board.slice(0, 20).map((e) => h("li", {}, h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, String(e.score)))));
  $("chat-log").replaceChildren(...m.chat.map((c) => h("p", {}, h("strong", { class: "name" }, c.from.name + ": "), c.text)));
  for (const id of ["open-next", "open-selected", "close-q", "reveal-q", "marking-on", "marking-off", "round-start", "end"]) $(id).disabled = m.ended;
}

/** Fills a select without fighting the MC: options are rebuilt only when
 * they change, and a choice the MC made stays chosen while it is valid
 * (events re-render this page all the time). `preferred` applies only when
 * nothing valid is chosen yet. */
function fillSelect(sel, options, preferred) {
  const current = sel.value;
  const same = sel.options.length === options.length && options.every(([v, label], i) => sel.options[i].value === v && sel.options[i].textContent === label);
  if (!same) sel.replaceChildren(...options.map(([v, label]) => h("option", { value: v }, label)));
  const valid = (v) => v && options.some(([o]) => o === v);
  sel.value = valid(current) && sel.dataset.touched ? current : valid(preferred) ? preferred : valid(current) ? current : (options[0]?.[0] ?? "");
}

function tick() {
  if (!m?.question || m.question.closed || !client) { text($("countdown"), ""); return; }
  const s = secondsLeft(m.question.deadline, client);
  text($("countdown"), s == null ? "" : `${s}s`);
}

async function kick(p) {
  if (!confirm(`Remove ${p.name} from the quiz?`)) return;
  try { await call("DELETE", `/players/${p.playerId}`); } catch (e) { fail("run-error")(e); }
}

async function loadQuiz(textValue) {
  text($("quiz-error"), "");
  let quiz;
  try { quiz = JSON.parse(textValue); } catch (e) { return text($("quiz-error"), `That is not valid JSON: ${e.message}`); }
  try {
    const r = await call("PUT", "/quiz", quiz);
    text($("quiz-error"), "");
    text($("quiz-summary"), `Loaded: ${r.rounds} rounds, ${r.questions} questions.`);
    const s = await call("GET", "/state");
    onSnapshot(s);
  } catch (e) {
    text($("quiz-error"), e.field ? `Problem at ${e.field}: ${e.message}` : e.message);
    $("quiz-text").focus();
  }
}

const act = (fn) => async () => { text($("run-error"), ""); try { await fn(); } catch (e) { fail("run-error")(e); } };
function limit() { const v = $("time-limit").value.trim(); return v === "" ? undefined : Number(v); }

for (const id of ["round-select", "question-select", "ov-player", "ov-question"]) {
  $(id).addEventListener("change", (ev) => { ev.target.dataset.touched = "1"; });
}
$("create-form").addEventListener("submit", create);
$("reopen-form").addEventListener("submit", reopen);
$("quiz-load").addEventListener("click", () => loadQuiz($("quiz-text").value));
$("quiz-example").addEventListener("click", async () => { const t = await (await fetch("/static/example-quiz.json")).text(); $("quiz-text").value = t; loadQuiz(t); });
$("quiz-file").addEventListener("change", async (ev) => { const f = ev.target.files[0]; if (!f) return; const t = await f.text(); $("quiz-text").value = t; loadQuiz(t); });
$("round-start").addEventListener("click", act(() => call("POST", "/round", { roundId: $("round-select").value })));
$("open-next").addEventListener("click", act(() => call("POST", "/question", { timeLimitSec: limit() })));
$("open-selected").addEventListener("click", act(() => call("POST", "/question", { questionId: $("question-select").value, timeLimitSec: limit() })));
$("close-q").addEventListener("click", act(() => call("POST", "/question/close", {})));
$("reveal-q").addEventListener("click", act(() => call("POST", "/question/reveal", {})));
$("marking-on").addEventListener("click", act(async () => {
  await call("POST", "/marking", { enabled: true, roundId: $("round-select").value || undefined });
  const r = await call("GET", "/marking/results");
  if (m.marking) m.marking.marksExpected = r.progress?.marksExpected ?? null;
  render();
}));
$("marking-off").addEventListener("click", act(() => call("POST", "/marking", { enabled: false })));
$("end").addEventListener("click", act(async () => { if (confirm("End the quiz for everyone?")) await call("POST", "/end", {}); }));
$("chat-on").addEventListener("change", act(() => call("PATCH", "/settings", { chat: $("chat-on").checked })));
$("chat-form").addEventListener("submit", (ev) => { ev.preventDefault(); const t = $("chat-text").value.trim(); if (t) act(async () => { await call("POST", "/chat", { text: t }); $("chat-text").value = ""; })(); });
$("override-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(() => call("POST", "/scores", { playerId: $("ov-player").value, questionId: $("ov-question").value, score: Number($("ov-score").value) }))();
});
$("marks-load").addEventListener("click", act(async () => {
  const r = await call("GET", "/marking/results");
  const name = (id) => m.players.get(id)?.name || id;
  $("marks").replaceChildren(...r.assignments.map((a) => h("tr", {},
    h("td", { class: "name" }, a.markerName || name(a.markerId)), h("td", { class: "name" }, a.markeeName || name(a.markeeId)),
    h("td", {}, Object.entries(a.marks).map(([q, s]) => `${q}: ${s}`).join(", ") || "none yet"))));
}));
$("csv").addEventListener("click", act(async () => {
  const r = await fetch(`/api/sessions/${session.code}/results`, { headers: { Authorization: `Bearer ${session.token}`, Accept: "text/csv" } });
  if (!r.ok) throw new Error(`download failed: ${r.status}`);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: `quizcast-${session.code}.csv` });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}));

const saved = (() => { try { return JSON.parse(localStorage.getItem("quizcast:mc")); } catch (_) { return null; } })();
if (saved?.code && saved?.token) begin(saved);
