// The MC control panel, built around the run of show: the current state and
// one primary "next step" button always in view; the other actions below,
// disabled (with the reason) where the phase forbids them; live answers with
// marking in place; a link to move to another device; results at the end.
import { QuizClient, api, h, text, secondsLeft } from "/static/client.js";
import { teamsInit, teamsEvent, refresh as refreshTeams } from "/static/mc-teams.js";

const $ = (id) => document.getElementById(id);
let session = null; // {code, token}
let client = null;
let m = null; // model
let ticker = null;

const call = (method, path, body) => api(method, `/api/sessions/${session.code}${path}`, { token: session.token, body });
const points = (n) => `${n ?? 0} ${Number(n) === 1 ? "point" : "points"}`;

function announce(msg) { text($("announce"), msg); }

async function create(ev) {
  ev.preventDefault();
  try {
    const r = await api("POST", "/api/sessions", { body: { title: $("new-title").value.trim() || "Quiz night" } });
    begin({ code: r.code, token: r.mcToken });
  } catch (e) { text($("setup-error"), e.message); }
}

/** "…/mc#code=K7PQ2&token=…" -> {code, token} */
function fromLink(link) {
  const hash = String(link || "").split("#")[1];
  if (!hash) return null;
  const p = new URLSearchParams(hash);
  return p.get("code") && p.get("token") ? { code: p.get("code").toUpperCase(), token: p.get("token") } : null;
}

function reopen(ev) {
  ev.preventDefault();
  const s = fromLink($("reopen-link").value.trim())
    || { code: $("reopen-code").value.trim().toUpperCase(), token: $("reopen-token").value.trim() };
  if (!/^[A-Za-z2-9]{5}$/.test(s.code) || !s.token) return text($("setup-error"), "Paste the MC link, or the code and the MC token.");
  begin(s);
}

function begin(s) {
  session = s;
  localStorage.setItem("quizcast:mc", JSON.stringify(s));
  $("setup").classList.add("hidden");
  $("session").classList.remove("hidden");
  text($("setup-error"), "");
  text($("code"), s.code);
  const joinUrl = `${location.origin}/join/${s.code}`;
  $("join-url").href = joinUrl; text($("join-url"), joinUrl);
  $("display-link").href = `/display/${s.code}`;
  showDisplayLink(s);
  $("qr").src = `/api/sessions/${s.code}/qr.svg`;
  // The token travels in the fragment: never sent to the server in a URL.
  $("share-link").value = `${location.origin}/mc#code=${encodeURIComponent(s.code)}&token=${encodeURIComponent(s.token)}`;
  text($("mc-token"), s.token);
  client = new QuizClient({ base: location.origin, code: s.code, role: "mc", token: s.token, onEvent, onSnapshot, onState });
  window.quizClient = client;
  client.start();
  if (!ticker) ticker = setInterval(tick, 250);
  teamsInit(call);
}

/** The display link with its display token (in the fragment), shown so it
 * can be opened on the projector's computer. */
async function showDisplayLink(s) {
  try {
    const r = await api("GET", `/api/sessions/${s.code}/display-link`, { token: s.token });
    const u = new URL(r.displayUrl, location.origin);
    const link = `${location.origin}${u.pathname}${u.hash}`;
    $("display-link").href = link;
    $("display-url").value = link;
  } catch (_) { /* the tokenless link above still works for a couple of displays */ }
}

function newSession() {
  if (client) client.stop();
  client = null; m = null; session = null;
  localStorage.removeItem("quizcast:mc");
  $("session").classList.add("hidden");
  $("setup").classList.remove("hidden");
  $("results").classList.add("hidden");
  text($("phase"), "");
  $("new-title").focus();
}

function onState(state, detail) {
  $("dot").className = "dot " + state;
  text($("conn"), state + (detail ? `: ${detail}` : ""));
  if (state === "closed" && detail && /token|exist/.test(detail)) {
    localStorage.removeItem("quizcast:mc");
    $("session").classList.add("hidden");
    $("setup").classList.remove("hidden");
    text($("setup-error"), `Could not reopen: ${detail}.`);
  } else if (state === "closed" && detail && /ended/.test(detail) && !m) {
    // Reopened after the end: read the final state while the server keeps it.
    call("GET", "/state").then((s) => onSnapshot({ ...s, phase: "ended" }), () => {});
  }
}

function onSnapshot(snap) {
  const hadQuiz = (m?.quiz.rounds || []).length > 0;
  m = {
    snap, title: snap.title, phase: snap.phase, quiz: snap.quiz || { rounds: [] }, round: snap.round, question: snap.question,
    players: new Map((snap.players || []).map((p) => [p.playerId, p])), board: snap.leaderboard || [],
    answers: snap.answers || {}, total: snap.totalPlayers, marking: snap.marking || null,
    settings: snap.settings || {}, chat: m?.chat || [], ended: snap.phase === "ended", given: m?.given || {},
    results: m?.results || null,
    // From the server, so another device knows which rounds are marked.
    markedRounds: new Set(snap.markedRounds || []),
    bans: new Map((snap.bans || []).map((b) => [b.banId, b])),
    showBoard: !!snap.leaderboardShown, boardShownFor: m?.boardShownFor || null,
  };
  const hasQuiz = m.quiz.rounds.length > 0;
  if (!hasQuiz) $("quiz-panel").open = true;
  else if (!hadQuiz) $("quiz-panel").open = false;
  if (m.ended) loadResults();
  refreshTeams();
  render();
}

let refetch = null;
/** The answers themselves come with the MC's snapshot; events only say who answered. */
function refreshAnswers() {
  if (refetch) return;
  refetch = setTimeout(async () => {
    refetch = null;
    try {
      const s = await call("GET", "/state");
      if (m && s.question?.questionId === m.question?.questionId) { m.answers = s.answers || {}; render(); }
    } catch (_) {}
  }, 300);
}

function onEvent(e) {
  if (!m) return;
  teamsEvent(e);
  const d = e.data || {};
  switch (e.type) {
    case "player:joined": m.players.set(d.playerId, { playerId: d.playerId, name: d.name, score: 0, online: false }); m.total = d.totalPlayers; break;
    case "player:left": case "player:removed": m.players.delete(d.playerId); m.total = d.totalPlayers; break;
    case "player:all-cleared": m.players.clear(); m.total = 0; break;
    case "player:banned": m.bans.set(d.banId, { banId: d.banId, name: d.name, device: d.device }); break;
    case "player:unbanned": m.bans.delete(d.banId); announce(`${d.name} may join again.`); break;
    case "game:leaderboard-shown":
      m.showBoard = d.shown;
      if (d.shown) m.boardShownFor = m.round?.id || "lobby";
      break;
    case "presence:changed": { const p = m.players.get(d.playerId); if (p) p.online = d.online; break; }
    case "game:round-changed":
      m.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount };
      m.question = null; m.answers = {}; m.showBoard = false;
      announce(`Round started: ${d.roundName}`);
      break;
    case "game:question-opened": m.question = { ...d, closed: false }; m.phase = "question"; m.answers = {}; m.showBoard = false; refreshAnswers(); break;
    case "game:question-closed": if (m.question) m.question.closed = true; m.phase = "closed"; refreshAnswers(); break;
    case "game:answer-revealed": if (m.question) { m.question.revealed = true; m.question.correctAnswer = d.correctAnswer; } break;
    case "player:answer-submitted":
      if (m.question?.questionId === d.questionId) {
        if (!(d.playerId in m.answers)) m.answers[d.playerId] = undefined;
        m.answeredCount = d.answeredCount; m.total = d.totalPlayers;
        refreshAnswers();
      }
      break;
    case "game:marking-started": m.phase = "marking"; m.showBoard = false; m.marking = { roundId: d.roundId, marksGiven: 0, marksExpected: null, completed: false }; break;
    case "marking:score-updated": if (m.marking) m.marking.marksGiven = (m.marking.marksGiven || 0) + 1; break;
    case "marking:completed": if (m.marking) m.marking.completed = true; break;
    case "game:marking-ended":
      m.phase = "closed"; m.marking = null;
      m.markedRounds.add(d.roundId);
      break;
    case "leaderboard:full":
      m.board = d.entries;
      m.ranks = new Map(d.entries.map((en) => [en.playerId, en]));
      for (const en of d.entries) { const p = m.players.get(en.playerId); if (p) p.score = en.score; }
      break;
    case "leaderboard:changed": // large sessions: only what moved (docs/protocol.md)
      if (!m.ranks) {
        // Joined mid-session: the snapshot has only the top 10; fetch the rest once.
        m.ranks = new Map(m.board.map((en) => [en.playerId, en]));
        const mine = m;
        call("GET", "/leaderboard").then((r) => {
          if (m !== mine) return;
          m.ranks = new Map(r.entries.map((en) => [en.playerId, en]));
          m.board = r.entries;
          render();
        }, () => {});
      }
      for (const id of d.removed) m.ranks.delete(id);
      for (const en of d.entries) { m.ranks.set(en.playerId, en); const p = m.players.get(en.playerId); if (p) p.score = en.score; }
      m.board = [...m.ranks.values()].sort((a, b) => a.rank - b.rank);
      break;
    case "leaderboard:updated": if (!m.board.length) m.board = d.top; break;
    case "chat:message": m.chat.push(d); break;
    case "session:settings-changed": m.settings = d.settings; break;
    case "session:ended":
      m.phase = "ended"; m.ended = true; m.board = d.leaderboard; m.showBoard = false;
      for (const p of m.players.values()) p.online = false; // every socket is closed now
      loadResults();
      break;
  }
  render();
}

// ---- the run of show ----------------------------------------------------

const markingOf = (q) => q.marking || "auto";
const findQ = (id) => {
  for (const r of m.quiz.rounds) { const i = r.questions.findIndex((q) => q.id === id); if (i >= 0) return { round: r, q: r.questions[i], i }; }
  return null;
};

/** What the MC does next in this phase: {label, run, hint?} (run null: nothing to do). */
function nextStep() {
  const rounds = m.quiz.rounds || [];
  if (m.ended) return { label: "New session", run: newSession, hint: "Start a new session for the next quiz (this one stays readable for its results)." };
  if (!rounds.length) return { label: "Load a quiz first", run: null, hint: "Load a quiz below (or use the example quiz) to start." };
  const q = m.question;
  if (m.phase === "marking") {
    const mk = m.marking;
    return { label: "End marking", run: () => call("POST", "/marking", { enabled: false }),
      hint: mk?.completed ? "All marks are in." : "Players are marking: end when the marks are in (unmarked answers score 0)." };
  }
  if (m.phase === "question" && q && !q.closed) return { label: "Close now", run: () => call("POST", "/question/close", {}) };
  if (q && q.closed && !q.revealed) return { label: "Reveal", run: () => call("POST", "/question/reveal", {}) };
  const ri = m.round ? rounds.findIndex((r) => r.id === m.round.id) : -1;
  if (ri < 0) return { label: `Start round 1: ${rounds[0].name}`, run: () => call("POST", "/round", { roundId: rounds[0].id }) };
  const round = rounds[ri];
  const qi = q && q.roundId === round.id ? round.questions.findIndex((x) => x.id === q.questionId) : -1;
  let hint = "";
  const cur = qi >= 0 ? round.questions[qi] : null;
  if (cur && markingOf(cur) === "mc") hint = "This question is marked by you: give points in Live answers before moving on.";
  if (qi + 1 < round.questions.length) {
    const next = round.questions[qi + 1];
    return { label: `Open question ${qi + 2} of ${round.questions.length}`, hint,
      run: () => call("POST", "/question", { questionId: next.id, timeLimitSec: limit() }) };
  }
  if (round.questions.some((x) => markingOf(x) === "peer") && !m.markedRounds.has(round.id)) {
    return { label: "Start marking", hint: hint || `The players mark each other's answers to ${round.name}.`, run: startMarking(round.id) };
  }
  // Between rounds: the standings, once, before the next round starts.
  if (ri + 1 < rounds.length && !m.showBoard && m.boardShownFor !== round.id) {
    return { label: "Show leaderboard", hint: hint || `${round.name} is done: show the standings on the screen and the phones.`,
      run: () => call("POST", "/leaderboard/show", { shown: true }) };
  }
  if (ri + 1 < rounds.length) {
    const nr = rounds[ri + 1];
    return { label: `Start round ${ri + 2}: ${nr.name}`, hint, run: () => call("POST", "/round", { roundId: nr.id }) };
  }
  return { label: "End the quiz", hint: hint || "That was the last question: show the final results.", run: () => call("POST", "/end", {}) };
}

const startMarking = (roundId) => async () => {
  await call("POST", "/marking", { enabled: true, roundId });
  try {
    const r = await call("GET", "/marking/results");
    if (m.marking) m.marking.marksExpected = r.progress?.marksExpected ?? null;
  } catch (_) {}
  render();
};

/** Why a secondary action is not possible now (null: it is). */
function forbidden(id) {
  if (m.ended) return "The quiz has ended";
  const noQuiz = !(m.quiz.rounds || []).length;
  const q = m.question;
  const open = m.phase === "question" && q && !q.closed;
  switch (id) {
    case "round-start": return noQuiz ? "Load a quiz first" : open ? "A question is open: close it first" : m.phase === "marking" ? "End marking first" : null;
    case "open-selected": case "open-next": return noQuiz ? "Load a quiz first" : open ? "A question is already open: close it first" : m.phase === "marking" ? "End marking first" : null;
    case "close-q": return open ? null : "No question is open";
    case "reveal-q": return !q ? "No question to reveal yet" : q.revealed ? "This answer is already revealed" : m.phase === "marking" ? "End marking first" : null;
    case "marking-on": return noQuiz ? "Load a quiz first" : open ? "Close the question first" : m.phase === "marking" ? "Marking is already on" : !m.round ? "Start a round first" : null;
    case "marking-off": return m.phase === "marking" ? null : "Marking has not started";
    case "board-toggle": return noQuiz && !m.players.size ? "Nobody has joined yet" : open ? "A question is open: close it first" : m.phase === "marking" ? "End marking first" : null;
    case "end": return null;
  }
  return null;
}

function setAllowed(btn, reason) {
  if (reason) { btn.setAttribute("aria-disabled", "true"); btn.title = reason; }
  else { btn.removeAttribute("aria-disabled"); btn.removeAttribute("title"); }
}

function describe(q, a) {
  if (a === undefined) return "…";
  if (a == null) return "(none)";
  return q?.choices ? `${String.fromCharCode(65 + Number(a))}. ${q.choices[a] ?? a}` : String(a);
}

function render() {
  if (!m) return;
  text($("phase"), `phase: ${m.phase}`);
  if (m.ended) { $("dot").className = "dot ended"; text($("conn"), "quiz over"); }
  const rounds = m.quiz.rounds || [];
  const qs = rounds.reduce((n, r) => n + r.questions.length, 0);
  text($("quiz-summary"), rounds.length ? `${m.title || "Quiz"}: ${rounds.length} rounds, ${qs} questions.` : "No quiz loaded.");
  fillSelect($("round-select"), rounds.map((r) => [r.id, `${r.name} (${r.type || "standard"})`]), m.round?.id);
  fillSelect($("question-select"), rounds.flatMap((r) => r.questions.map((q) => [q.id, `${r.name} · ${q.prompt.slice(0, 60)} [${q.kind}${q.marking ? ", " + q.marking : ""}]`])), m.question?.questionId);
  fillSelect($("ov-question"), rounds.flatMap((r) => r.questions.map((q) => [q.id, q.id + ": " + q.prompt.slice(0, 30)])), m.question?.questionId);
  fillSelect($("ov-player"), [...m.players.values()].map((p) => [p.playerId, p.name]));

  // The current state.
  const q = m.question;
  const ri = m.round ? rounds.findIndex((r) => r.id === m.round.id) : -1;
  text($("now-round"), m.round ? `Round ${ri + 1} of ${rounds.length}: ${m.round.name}` + (q ? ` · question ${q.index + 1} of ${m.round.questionCount}` : "") : m.ended ? "The quiz is over" : "Lobby");
  const state = m.ended ? "The quiz is over: final results below." : !q ? (m.round ? "Round announced: no question open yet." : "No question open.")
    : `${q.closed ? (q.revealed ? "Revealed" : "Closed") : "Open"}: ${q.prompt}` + (q.revealed ? ` (answer: ${q.correctAnswer == null ? "marked by people" : describe(q, q.correctAnswer)})` : "");
  text($("now"), m.showBoard ? "Showing the leaderboard on the screen and the phones (until the next question)." : m.phase === "marking" ? `Peer marking: ${m.marking?.marksGiven ?? 0}${m.marking?.marksExpected != null ? " of " + m.marking.marksExpected : ""} marks in${m.marking?.completed ? ", all in" : ""}` : state);
  const answeredIds = Object.keys(m.answers);
  const players = [...m.players.values()];
  text($("answered"), q && !m.ended ? `${answeredIds.length} of ${players.length || m.total || 0} answered` : "");
  const missing = q && !q.revealed && !m.ended ? players.filter((p) => !(p.playerId in m.answers)).map((p) => p.name) : [];
  text($("waiting"), missing.length ? `Waiting for: ${missing.slice(0, 6).join(", ")}${missing.length > 6 ? ` and ${missing.length - 6} more` : ""}` : "");

  // The next step.
  const step = nextStep();
  const primary = $("primary");
  text(primary, step.label);
  primary.disabled = !step.run;
  primary.dataset.step = step.label;
  text($("primary-hint"), step.hint || "");
  for (const id of ["round-start", "open-selected", "open-next", "close-q", "reveal-q", "marking-on", "marking-off", "board-toggle", "end"]) setAllowed($(id), forbidden(id));
  text($("board-toggle"), m.showBoard ? "Hide leaderboard" : "Show leaderboard");

  text($("marking-progress"), m.marking ? `Marking ${m.marking.roundId}: ${m.marking.marksGiven ?? 0}${m.marking.marksExpected != null ? "/" + m.marking.marksExpected : ""} marks in${m.marking.completed ? ", all marks are in" : ""}.` : "");
  $("chat-on").checked = !!m.settings.chat;
  text($("player-count"), `(${m.players.size})`);
  $("players").replaceChildren(...players.map((p) =>
    h("tr", {}, h("td", { class: "name" }, p.name),
      h("td", {}, h("span", { "aria-hidden": "true" }, p.online ? "● " : "○ "), p.online ? "online" : "offline"),
      h("td", {}, String(p.score ?? 0)),
      h("td", {}, h("button", { class: "secondary", "aria-label": `Kick ${p.name}`, onclick: () => kick(p) }, "Kick")))));
  renderBans();
  $("board").replaceChildren(...m.board.slice(0, 20).map((e) => h("li", {}, h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, String(e.score)))));
  $("chat-log").replaceChildren(...m.chat.map((c) => h("p", {}, h("strong", { class: "name" }, c.from.name + ": "), c.text)));
  renderAnswers();
  renderResults();
}

/** Removed players kept out, each with a button to let them back in. */
function renderBans() {
  const bans = [...m.bans.values()];
  $("bans-block").classList.toggle("hidden", bans.length === 0);
  $("bans").replaceChildren(...bans.map((b) => h("li", {}, h("span", { class: "name" }, b.name),
    b.device ? h("span", { class: "muted" }, " (and their device)") : null, " ",
    h("button", { type: "button", class: "secondary", "aria-label": `Let back in ${b.name}`, onclick: () => unban(b) }, "Let back in"))));
}

async function unban(b) {
  try { await call("DELETE", `/bans/${encodeURIComponent(b.banId)}`); } catch (e) { text($("run-error"), e.message); }
}

/** The current question's answers, by player, with marking in place for MC-marked questions. */
function renderAnswers() {
  const q = m.question;
  const meta = q ? findQ(q.questionId) : null;
  const mcMarked = meta && markingOf(meta.q) === "mc";
  text($("answers-count"), q ? `(${Object.keys(m.answers).length})` : "");
  text($("answers-hint"), !q ? "Answers show here while a question is open."
    : mcMarked ? (q.closed ? "You mark this question: give each answer its points." : "You mark this question: give points once it is closed.")
    : meta && markingOf(meta.q) === "peer" ? "Players mark this question during peer marking." : "Marked automatically at the reveal.");
  $("answers-mark-h").classList.toggle("hidden", !mcMarked);
  const rows = [];
  for (const [pid, a] of Object.entries(m.answers)) {
    const p = m.players.get(pid);
    const cells = [h("td", { class: "name" }, p?.name || pid), h("td", { class: "name" }, describe(q, a))];
    if (mcMarked) {
      const given = m.given[q.questionId]?.[pid];
      const btns = [];
      for (let s = 0; s <= (meta.q.points ?? 1); s += 0.5) {
        btns.push(h("button", { type: "button", class: "secondary", "aria-pressed": String(given === s), "aria-label": `Give ${p?.name || pid} ${points(s)}`,
          "aria-disabled": q.closed ? null : "true", title: q.closed ? null : "Close the question first",
          onclick: () => q.closed && giveMark(pid, q.questionId, s) }, String(s)));
      }
      cells.push(h("td", {}, h("div", { class: "markbtns" }, btns)));
    }
    rows.push(h("tr", {}, cells));
  }
  $("answers").replaceChildren(...rows);
}

async function giveMark(playerId, questionId, score) {
  text($("answers-error"), "");
  try {
    await call("POST", "/scores", { playerId, questionId, score });
    (m.given[questionId] ||= {})[playerId] = score;
    announce(`Saved: ${m.players.get(playerId)?.name} gets ${points(score)}.`);
    render();
  } catch (e) { text($("answers-error"), e.message); }
}

async function loadResults() {
  try {
    const r = await call("GET", "/results");
    const by = new Map();
    for (const row of r.rows || []) if (!by.has(row.playerId)) by.set(row.playerId, row);
    m.results = [...by.values()].sort((a, b) => a.rank - b.rank);
    render();
  } catch (_) {
    m.results = m.board.map((e) => ({ rank: e.rank, name: e.name, total: e.score }));
    render();
  }
}

function renderResults() {
  $("results").classList.toggle("hidden", !m.ended);
  if (!m.ended) return;
  const rows = m.results || m.board.map((e) => ({ rank: e.rank, name: e.name, total: e.score }));
  $("results-rows").replaceChildren(...rows.map((r) => h("tr", {}, h("td", {}, `#${r.rank}`), h("td", { class: "name" }, r.name), h("td", {}, String(r.total)))));
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
  text($("countdown"), s == null ? "no timer" : `${s}s`);
}

async function kick(p) {
  if (!confirm(`Remove ${p.name} from the quiz? They cannot rejoin (by name or from their device) until you let them back in.`)) return;
  try { await call("DELETE", `/players/${p.playerId}`); } catch (e) { text($("run-error"), e.message); }
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

/** The time limit applies to the next question only, then the field clears. */
function limit() {
  const v = $("time-limit").value.trim();
  $("time-limit").value = "";
  return v === "" ? undefined : Number(v);
}

/** Runs an action of a button; a disabled one says why instead. */
const act = (btn, fn, errId = "run-error") => async () => {
  text($(errId), "");
  if (btn && btn.getAttribute("aria-disabled") === "true") return text($(errId), `${btn.textContent}: ${btn.title}.`);
  if (btn) btn.setAttribute("aria-busy", "true");
  try { await fn(); } catch (e) { text($(errId), e.message); } finally { btn?.removeAttribute("aria-busy"); }
};
const on = (id, fn) => $(id).addEventListener("click", act($(id), fn));

for (const id of ["round-select", "question-select", "ov-player", "ov-question"]) {
  $(id).addEventListener("change", (ev) => { ev.target.dataset.touched = "1"; });
}
$("create-form").addEventListener("submit", create);
$("reopen-form").addEventListener("submit", reopen);
$("quiz-load").addEventListener("click", () => loadQuiz($("quiz-text").value));
$("quiz-example").addEventListener("click", async () => { const t = await (await fetch("/static/example-quiz.json")).text(); $("quiz-text").value = t; loadQuiz(t); });
$("quiz-file").addEventListener("change", async (ev) => { const f = ev.target.files[0]; if (!f) return; const t = await f.text(); $("quiz-text").value = t; loadQuiz(t); });
$("primary").addEventListener("click", act(null, async () => {
  const step = nextStep();
  if (!step.run) return;
  if (step.label === "End the quiz" && !confirm("End the quiz for everyone and show the final results?")) return;
  $("primary").disabled = true;
  try { await step.run(); } finally { if (m) render(); }
}, "now-error"));
on("round-start", () => call("POST", "/round", { roundId: $("round-select").value }));
on("open-next", () => call("POST", "/question", { timeLimitSec: limit() }));
on("open-selected", () => call("POST", "/question", { questionId: $("question-select").value, timeLimitSec: limit() }));
on("close-q", () => call("POST", "/question/close", {}));
on("reveal-q", () => call("POST", "/question/reveal", {}));
on("marking-on", () => startMarking($("round-select").value || undefined)());
on("marking-off", () => call("POST", "/marking", { enabled: false }));
on("board-toggle", () => call("POST", "/leaderboard/show", { shown: !m.showBoard }));
on("end", async () => { if (confirm("End the quiz for everyone?")) await call("POST", "/end", {}); });
$("chat-on").addEventListener("change", act(null, () => call("PATCH", "/settings", { chat: $("chat-on").checked })));
$("chat-form").addEventListener("submit", (ev) => { ev.preventDefault(); const t = $("chat-text").value.trim(); if (t) act(null, async () => { await call("POST", "/chat", { text: t }); $("chat-text").value = ""; })(); });
$("override-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const st = $("ov-status");
  const player = $("ov-player").selectedOptions[0]?.textContent || "";
  const qid = $("ov-question").value;
  const score = Number($("ov-score").value.replace(",", "."));
  st.className = "";
  text(st, "Saving…");
  try {
    await call("POST", "/scores", { playerId: $("ov-player").value, questionId: qid, score });
    st.className = "ok";
    text(st, `✓ Saved: ${player} now has ${points(score)} for ${qid}.`);
  } catch (e) {
    st.className = "error";
    text(st, `Not saved: ${e.message}`);
  }
});
$("copy-link").addEventListener("click", async () => {
  const input = $("share-link");
  try { await navigator.clipboard.writeText(input.value); text($("copy-status"), "Copied."); }
  catch (_) { input.select(); text($("copy-status"), "Selected: copy it with Ctrl+C."); }
});
$("new-session").addEventListener("click", newSession);
$("marks-load").addEventListener("click", act(null, async () => {
  const r = await call("GET", "/marking/results");
  const name = (id) => m.players.get(id)?.name || id;
  $("marks").replaceChildren(...r.assignments.map((a) => h("tr", {},
    h("td", { class: "name" }, a.markerName || name(a.markerId)), h("td", { class: "name" }, a.markeeName || name(a.markeeId)),
    h("td", {}, Object.entries(a.marks).map(([q, s]) => `${q}: ${s}`).join(", ") || "none yet"))));
}));
const downloadCsv = act(null, async () => {
  const r = await fetch(`/api/sessions/${session.code}/results`, { headers: { Authorization: `Bearer ${session.token}`, Accept: "text/csv" } });
  if (!r.ok) throw new Error(`download failed: ${r.status}`);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: `quizcast-${session.code}.csv` });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});
$("csv").addEventListener("click", downloadCsv);
$("csv2").addEventListener("click", downloadCsv);

// A shared MC link (#code=…&token=…) wins over what this browser kept.
const linked = fromLink(location.href);
if (linked) history.replaceState(null, "", "/mc");
const saved = linked || (() => { try { return JSON.parse(localStorage.getItem("quizcast:mc")); } catch (_) { return null; } })();
if (saved?.code && saved?.token) begin(saved);
