// The player page: join, answer, mark, watch the leaderboard.
import { QuizClient, api, h, text, secondsLeft } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const store = {
  get(code) { try { return JSON.parse(localStorage.getItem("quizcast:player:" + code)); } catch (_) { return null; } },
  set(code, v) { localStorage.setItem("quizcast:player:" + code, JSON.stringify(v)); localStorage.setItem("quizcast:last", code); },
  clear(code) { localStorage.removeItem("quizcast:player:" + code); },
};

let client = null;
let model = null;
let code = null;
let ticker = null;
let stageKey = "";

const JOIN_ERRORS = {
  SESSION_NOT_FOUND: "There is no quiz with that code. Check the code on the screen.",
  NAME_TAKEN: "Someone in this quiz already has that name. Pick another one.",
  SESSION_FULL: "This quiz is full.",
  SESSION_ENDED: "This quiz has already ended.",
  RATE_LIMITED: "Too many attempts. Wait a moment and try again.",
};

function announce(msg) { text($("announce"), msg); }

function setConn(state, detail) {
  const labels = { connecting: "connecting…", connected: "live", reconnecting: "reconnecting…", offline: "offline, retrying", polling: "live (fallback)", closed: "disconnected" };
  $("dot").className = "dot " + state;
  text($("conn"), labels[state] || state);
  if (state === "closed") onClosed(detail);
}

function onClosed(detail) {
  if (!model) return showJoin(detail);
  if (model.phase === "ended") return;
  if (detail && /removed|token|does not exist/.test(detail)) {
    store.clear(code);
    showJoin("You left the quiz: " + detail + ".");
  } else if (detail && /ended/.test(detail)) {
    model.phase = "ended";
    render();
  }
}

function showJoin(msg) {
  if (client) client.stop();
  client = null;
  model = null;
  $("game").classList.add("hidden");
  $("join").classList.remove("hidden");
  text($("join-error"), msg || "");
}

async function join(ev) {
  ev.preventDefault();
  const c = $("code").value.trim().toUpperCase();
  const name = $("name").value.trim();
  text($("join-error"), "");
  if (!/^[A-Z2-9]{5}$/.test(c)) return text($("join-error"), "A session code has 5 letters and digits.");
  if (!name) return text($("join-error"), "Please enter your name.");
  $("join-btn").disabled = true;
  try {
    const r = await api("POST", `/api/sessions/${c}/players`, { body: { name } });
    store.set(c, { token: r.token, playerId: r.playerId, name });
    start(c, r.token);
  } catch (e) {
    text($("join-error"), JOIN_ERRORS[e.code] || e.message);
  } finally {
    $("join-btn").disabled = false;
  }
}

function start(c, token) {
  code = c;
  $("join").classList.add("hidden");
  $("game").classList.remove("hidden");
  history.replaceState(null, "", "/join/" + c);
  client = new QuizClient({ base: location.origin, code: c, role: "player", token, onEvent, onSnapshot, onState: setConn });
  window.quizClient = client;
  client.start();
  if (!ticker) ticker = setInterval(tick, 250);
}

function onSnapshot(snap) {
  model = {
    title: snap.title, phase: snap.phase, round: snap.round, question: snap.question,
    me: snap.me || { answers: {} }, leaderboard: snap.leaderboard || [], total: snap.totalPlayers, online: snap.online,
    settings: snap.settings || {}, assignment: snap.me?.assignment || null, reveal: null, chat: model?.chat || [],
    saving: {}, errors: {},
  };
  if (snap.question?.revealed) model.reveal = { correctAnswer: snap.question.correctAnswer, explanation: snap.question.explanation };
  stageKey = "";
  render();
}

function onEvent(e) {
  if (!model) return;
  const d = e.data || {};
  switch (e.type) {
    case "game:round-changed": model.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount }; break;
    case "game:question-opened":
      model.question = { ...d, closed: false, revealed: false };
      model.phase = "question"; model.reveal = null;
      announce(`New question: ${d.prompt}`);
      break;
    case "game:question-closed":
      if (model.question?.questionId === d.questionId) model.question.closed = true;
      model.phase = "closed";
      announce("Time is up.");
      break;
    case "game:answer-revealed":
      model.reveal = d;
      if (model.question?.questionId === d.questionId) model.question.revealed = true;
      announce(`The answer was ${describe(model.question, d.correctAnswer)}.`);
      break;
    case "game:marking-started": model.phase = "marking"; break;
    case "marking:assignment-created": model.assignment = { ...d, marks: {} }; announce("You have answers to mark."); break;
    case "game:marking-ended": model.phase = "closed"; model.assignment = null; break;
    case "score:updated": model.me.score = d.score; model.me.rank = d.rank; announce(`Your score is ${d.score}, rank ${d.rank}.`); break;
    case "leaderboard:updated": model.leaderboard = d.top; model.total = d.totalPlayers; break;
    case "presence:count": model.online = d.online; model.total = d.totalPlayers; break;
    case "chat:message": model.chat.push(d); if (model.chat.length > 100) model.chat.shift(); break;
    case "session:settings-changed": model.settings = d.settings; break;
    case "session:ended": model.phase = "ended"; model.leaderboard = d.leaderboard; announce("The quiz is over."); break;
    case "player:left": case "player:removed": break;
  }
  render();
}

function describe(q, answer) {
  if (answer == null) return "(marked by people)";
  if (q?.kind === "choice" && q.choices) return q.choices[answer] ?? String(answer);
  return String(answer);
}

function render() {
  if (!model) return;
  text($("title"), model.title || "quizcast");
  document.title = (model.title || "quizcast") + ": play";
  text($("me-line"), model.me?.name ? `${model.me.name} · ${model.me.score ?? 0} pts · #${model.me.rank ?? "-"}` : "");
  renderBoard();
  renderChat();
  const q = model.question;
  const key = [model.phase, q?.questionId, q?.closed, q?.revealed, model.assignment?.assignmentId].join("|");
  if (key !== stageKey) { stageKey = key; renderStage(); } else updateStatus();
}

function renderBoard() {
  const board = $("board");
  board.replaceChildren(...model.leaderboard.map((e) =>
    h("li", { class: e.playerId === model.me?.playerId ? "me" : "" },
      h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, `${e.score}`))));
}

function renderChat() {
  const on = !!model.settings?.chat && model.phase !== "ended";
  $("chat").classList.toggle("hidden", !on && model.chat.length === 0);
  $("chat-form").classList.toggle("hidden", !on);
  $("chat-log").replaceChildren(...model.chat.map((m) => h("p", {}, h("strong", { class: "name" }, m.from.name + ": "), m.text)));
}

function renderStage() {
  const stage = $("stage");
  const q = model.question;
  const nodes = [];
  if (model.round) nodes.push(h("p", { class: "muted" }, `${model.round.name}${q ? ` · question ${q.index + 1} of ${model.round.questionCount}` : ""}`));
  if (model.phase === "ended") {
    nodes.push(h("h2", {}, "The quiz is over"), h("p", {}, `You finished #${model.me?.rank ?? "-"} with ${model.me?.score ?? 0} points. Thanks for playing!`));
  } else if (model.phase === "marking") {
    nodes.push(...markingView());
  } else if (!q) {
    nodes.push(h("h2", {}, `You're in, ${model.me?.name || "player"}!`), h("p", { class: "muted" }, "Waiting for the quiz master to start…"), h("p", { id: "count", class: "muted" }));
  } else {
    nodes.push(h("p", { class: "prompt", id: "prompt" }, q.prompt));
    if (q.imageUrl) nodes.push(h("img", { class: "question", src: q.imageUrl, alt: "Picture for this question" }));
    if (!q.closed) {
      nodes.push(h("div", { class: "countdown", id: "countdown", "aria-hidden": "true" }));
      nodes.push(answerForm(q));
    } else {
      nodes.push(h("h2", {}, q.revealed || model.reveal ? "The answer" : "Time's up!"));
      const mine = model.me.answers?.[q.questionId];
      nodes.push(h("p", {}, "Your answer: ", h("strong", { id: "your-answer" }, mine == null ? "(none)" : describe(q, mine))));
      if (model.reveal) {
        nodes.push(h("p", { class: "correct", id: "correct-answer" }, "Correct answer: ", describe(q, model.reveal.correctAnswer)));
        if (model.reveal.explanation) nodes.push(h("p", { class: "muted", id: "explanation" }, model.reveal.explanation));
      }
    }
    nodes.push(h("p", { id: "answer-status", "aria-live": "polite" }));
  }
  stage.replaceChildren(...nodes);
  stage.classList.remove("flash"); void stage.offsetWidth; stage.classList.add("flash");
  updateStatus();
  tick();
}

function answerForm(q) {
  const mine = model.me.answers?.[q.questionId];
  const submit = (value) => sendAnswer(q, value);
  if (q.kind === "choice") {
    return h("div", { class: "choices", role: "group", "aria-label": "Choices" },
      q.choices.map((c, i) => h("button", { type: "button", "aria-pressed": String(mine === i), onclick: (ev) => {
        for (const b of ev.currentTarget.parentElement.children) b.setAttribute("aria-pressed", "false");
        ev.currentTarget.setAttribute("aria-pressed", "true");
        submit(i);
      } }, `${String.fromCharCode(65 + i)}. ${c}`)));
  }
  const input = h("input", { id: "answer", name: "answer", autocomplete: "off", inputmode: q.kind === "number" ? "decimal" : "text", value: mine ?? "" });
  return h("form", { onsubmit: (ev) => { ev.preventDefault(); const v = input.value.trim(); if (v) submit(q.kind === "number" ? Number(v.replace(",", ".")) : v); } },
    h("label", { for: "answer" }, q.kind === "number" ? "Your answer (a number)" : "Your answer"),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Submit")));
}

function sendAnswer(q, value) {
  const qid = q.questionId;
  model.saving[qid] = true;
  delete model.errors[qid];
  updateStatus();
  client.send("answer:submit", { questionId: qid, answer: value }, "answer:" + qid).then(() => {
    model.me.answers[qid] = value;
    delete model.saving[qid];
    updateStatus();
  }, (e) => {
    if (e.code === "REPLACED") return;
    delete model.saving[qid];
    model.errors[qid] = e.code === "QUESTION_CLOSED" ? "Too late: the question has closed." : e.message;
    updateStatus();
  });
}

function updateStatus() {
  const el = $("answer-status");
  const q = model?.question;
  if (!el || !q) return;
  const qid = q.questionId;
  el.className = "";
  if (model.errors[qid]) { el.className = "error"; text(el, model.errors[qid]); }
  else if (model.saving[qid]) text(el, client?.state === "connected" || client?.state === "polling" ? "Saving…" : "Saving… (waiting for the connection)");
  else if (model.me.answers?.[qid] != null && !q.closed) { el.className = "saved"; text(el, "Answer saved ✓"); }
  else if (!q.closed) text(el, "Not answered yet");
  else text(el, "");
  const count = $("count");
  if (count) text(count, `${model.total ?? 0} players in the quiz`);
}

function tick() {
  const el = $("countdown");
  if (!el || !model?.question || !client) return;
  const s = secondsLeft(model.question.deadline, client);
  if (s == null) { text(el, ""); return; }
  text(el, `${s}s`);
  el.classList.toggle("low", s <= 5);
}

function markingView() {
  const a = model.assignment;
  if (!a) return [h("h2", {}, "Marking time"), h("p", { class: "muted" }, "The quiz master is marking this round.")];
  const done = Object.keys(a.marks || {}).length;
  const nodes = [h("h2", {}, "Mark another player's answers"),
    h("p", { id: "marking-progress" }, `${done} of ${a.items.length} marked`)];
  for (const item of a.items) {
    const id = "mark-" + item.questionId;
    const options = [];
    for (let s = 0; s <= item.points; s += 0.5) options.push(h("option", { value: String(s), selected: a.marks?.[item.questionId] === s }, String(s)));
    const select = h("select", { id, onchange: (ev) => sendMark(item, Number(ev.target.value)) },
      h("option", { value: "", selected: a.marks?.[item.questionId] == null }, "choose…"), options);
    nodes.push(h("div", { class: "panel mark-item" },
      h("p", { class: "muted" }, item.prompt),
      h("p", {}, "Their answer: ", h("strong", { class: "their-answer" }, item.answer == null ? "(none)" : String(item.answer))),
      item.correctAnswer != null ? h("p", { class: "muted" }, "Expected: ", String(item.correctAnswer)) : null,
      h("label", { for: id }, `Points (0 to ${item.points})`), select));
  }
  return nodes;
}

function sendMark(item, score) {
  const a = model.assignment;
  if (Number.isNaN(score)) return;
  client.send("mark:submit", { assignmentId: a.assignmentId, questionId: item.questionId, score }, "mark:" + item.questionId).then(() => {
    a.marks = { ...(a.marks || {}), [item.questionId]: score };
    const p = $("marking-progress");
    if (p) text(p, `${Object.keys(a.marks).length} of ${a.items.length} marked`);
  }, (e) => { if (e.code !== "REPLACED") alert(e.message); });
}

$("join-form").addEventListener("submit", join);
$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = $("chat-text").value.trim();
  if (!t || !client) return;
  client.send("chat:send", { text: t }).then(() => { $("chat-text").value = ""; }, (e) => alert(e.message));
});

// Start: /join/CODE fills in the code; a saved token rejoins at once.
const fromPath = location.pathname.match(/^\/join\/([A-Za-z0-9]{5})/);
const initial = (fromPath ? fromPath[1] : localStorage.getItem("quizcast:last") || "").toUpperCase();
$("code").value = initial;
const saved = initial ? store.get(initial) : null;
if (saved?.token) {
  $("name").value = saved.name || "";
  start(initial, saved.token);
} else if (initial) {
  $("name").focus();
}
