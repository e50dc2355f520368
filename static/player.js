// The player page: join, answer, mark, watch the leaderboard.
import { QuizClient, api, h, text, secondsLeft } from "/static/client.js";
import { TEAM_ERRORS, offerTeams, teamChoice, teamsFromSnapshot, teamEvent, renderTeam } from "/static/player-teams.js";

const $ = (id) => document.getElementById(id);
const store = {
  get(code) { try { return JSON.parse(localStorage.getItem("quizcast:player:" + code)); } catch (_) { return null; } },
  set(code, v) { localStorage.setItem("quizcast:player:" + code, JSON.stringify(v)); localStorage.setItem("quizcast:last", code); },
  clear(code) { localStorage.removeItem("quizcast:player:" + code); },
  // The end screen, kept so that a reload after the end still shows it.
  final(code, v) {
    try {
      if (v === undefined) return JSON.parse(localStorage.getItem("quizcast:final:" + code));
      localStorage.setItem("quizcast:final:" + code, JSON.stringify(v));
    } catch (_) { return null; }
  },
};

/**
 * This browser's device id (docs/protocol.md, Device ids): made up once and
 * kept, so a player the MC removed stays out on this device.
 */
function deviceId(storage = globalThis.localStorage) {
  const KEY = "quizcast:device";
  try {
    const kept = storage.getItem(KEY);
    if (kept && /^[A-Za-z0-9_-]{8,64}$/.test(kept)) return kept;
    const made = globalThis.crypto?.randomUUID?.()
      || Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
    storage.setItem(KEY, made);
    return made;
  } catch (_) {
    return undefined; // no storage (private mode): join without one
  }
}

const points = (n) => `${n ?? 0} ${Number(n) === 1 ? "point" : "points"}`;
/** Loose comparison of a text answer (case, spaces, accents), as the server marks. */
const norm = (v) => String(v ?? "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/\s+/g, " ").trim();

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
  FORBIDDEN: "The quiz master removed you from this quiz. Ask them to let you back in.",
  ...TEAM_ERRORS,
};

function announce(msg) { text($("announce"), msg); }

function setConn(state, detail) {
  const labels = { connecting: "connecting…", connected: "live", reconnecting: "reconnecting…", offline: "offline, retrying", polling: "live (fallback)", closed: "disconnected", ended: "quiz over" };
  $("dot").className = "dot " + state;
  text($("conn"), labels[state] || state);
  if (state === "closed") onClosed(detail);
}

function onClosed(detail) {
  if (!model && detail && /ended/.test(detail)) return showFinal();
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

/** After the end (e.g. a reload): the final screen from the server if it
 * still lets this player read the session, else from what this phone kept. */
async function showFinal() {
  const saved = store.get(code);
  let snap = null;
  try { snap = await api("GET", `/api/sessions/${code}/state`, { token: saved?.token }); } catch (_) {}
  const kept = store.final(code);
  if (snap?.me) {
    onSnapshot({ ...snap, phase: "ended" });
  } else if (kept) {
    onSnapshot({ title: kept.title, phase: "ended", leaderboard: kept.leaderboard || [], me: kept.me, settings: {} });
  } else {
    return showJoin("This quiz has ended.");
  }
  setConn("ended");
}

async function leave() {
  if (!client || !confirm("Leave the quiz? Your score stays on the leaderboard, but you cannot come back under this name.")) return;
  // Over the WebSocket, or its HTTP twin on long polling.
  try { await client.leave(); } catch (_) { /* gone anyway on this phone */ }
  store.clear(code);
  showJoin("You left the quiz.");
}

function showJoin(msg) {
  if (client) client.stop();
  client = null;
  model = null;
  $("game").classList.add("hidden");
  $("leave").classList.add("hidden");
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
    const r = await api("POST", `/api/sessions/${c}/players`, { body: { name, deviceId: deviceId(), team: teamChoice() } });
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
  $("leave").classList.remove("hidden");
  history.replaceState(null, "", "/join/" + c);
  client = new QuizClient({ base: location.origin, code: c, role: "player", token, onEvent, onSnapshot, onState: setConn });
  window.quizClient = client;
  client.start();
  if (!ticker) ticker = setInterval(tick, 250);
}

function onSnapshot(snap) {
  model = {
    title: snap.title, phase: snap.phase, round: snap.round, question: snap.question,
    me: { awards: {}, ...(snap.me || { answers: {} }) }, leaderboard: snap.leaderboard || [], total: snap.totalPlayers, online: snap.online,
    showBoard: !!snap.leaderboardShown,
    settings: snap.settings || {}, assignment: snap.me?.assignment || null, reveal: null, chat: model?.chat || [],
    // A team may mark several players' answers (team mode): every assignment.
    assignments: snap.me?.assignments || (snap.me?.assignment ? [snap.me.assignment] : []),
    saving: {}, errors: {}, drafts: model?.drafts || {}, autoSent: model?.autoSent || {},
    verdict: model?.verdict || null, markNote: model?.markNote || null, newRound: false,
    peerRounds: model?.peerRounds || {},
  };
  teamsFromSnapshot(model, snap);
  if (snap.question?.revealed) {
    model.reveal = { correctAnswer: snap.question.correctAnswer, explanation: snap.question.explanation };
    if (model.verdict?.qid !== snap.question.questionId) judge(snap.question.questionId, true);
  }
  if (snap.phase === "ended") keepFinal();
  stageKey = "";
  render();
}

function onEvent(e) {
  if (!model) return;
  const d = e.data || {};
  const teamDelta = teamEvent(model, e, announce);
  // A shared sheet has no points of its own: the team's score decides.
  if (teamDelta != null && model.teamMode === "sheet") scored(teamDelta);
  switch (e.type) {
    case "game:round-changed":
      model.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount };
      model.question = null; model.reveal = null; model.newRound = true; model.showBoard = false;
      announce(`New round: ${d.roundName}.`);
      break;
    case "game:question-opened":
      model.question = { ...d, closed: false, revealed: false };
      model.phase = "question"; model.reveal = null; model.verdict = null; model.markNote = null; model.newRound = false; model.showBoard = false;
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
      judge(d.questionId, false);
      announce(`The answer was ${describe(model.question, d.correctAnswer)}. ${model.verdict?.text || ""}`);
      break;
    case "game:marking-started":
      model.phase = "marking"; model.showBoard = false;
      model.peerRounds[d.roundId] = { before: model.me.score ?? 0 };
      break;
    case "marking:assignment-created":
      if (!model.assignments.some((a) => a.assignmentId === d.assignmentId)) model.assignments.push({ ...d, marks: {} });
      model.assignment = model.assignments[0]; announce("You have answers to mark."); break;
    case "game:marking-ended": {
      model.phase = "closed"; model.assignment = null; model.assignments = [];
      const pr = model.peerRounds[d.roundId];
      if (pr) { pr.ended = true; model.markNote = { text: "Marked by your peers: waiting for the scores…", cls: "muted" }; setTimeout(() => settlePeer(d.roundId), 1500); }
      break;
    }
    case "score:updated": {
      const before = model.me.score ?? 0;
      model.me.score = d.score; model.me.rank = d.rank;
      // The awards that caused it (extension): exact verdicts.
      if (d.awards) { model.me.awards = { ...model.me.awards, ...d.awards }; awarded(d.awards); }
      else scored(d.score - before);
      announce(`Your score is ${points(d.score)}, rank ${d.rank}.`);
      break;
    }
    case "game:leaderboard-shown":
      model.showBoard = d.shown; model.leaderboard = d.top; model.total = d.totalPlayers;
      if (d.shown) announce(`The leaderboard: you are #${model.me.rank ?? "-"} with ${points(model.me.score)}.`);
      break;
    case "leaderboard:updated": model.leaderboard = d.top; model.total = d.totalPlayers; break;
    case "presence:count": model.online = d.online; model.total = d.totalPlayers; break;
    case "chat:message": model.chat.push(d); if (model.chat.length > 100) model.chat.shift(); break;
    case "session:settings-changed": model.settings = d.settings; break;
    case "session:ended": model.phase = "ended"; model.showBoard = false; model.leaderboard = d.leaderboard; keepFinal(); announce("The quiz is over."); break;
    case "player:left": case "player:removed": break;
  }
  render();
}

function keepFinal() {
  if (code) store.final(code, { title: model.title, leaderboard: model.leaderboard, me: { ...model.me, answers: {} } });
}

/**
 * The verdict on the player's own answer once the question is revealed,
 * from what the contract sends: the correct answer, the player's saved
 * answer and the `score:updated` that follows the reveal (its delta is the
 * award; no update within a moment means no points). Peer- and MC-marked
 * questions (no correct answer given) wait for their marks.
 */
function judge(qid, fromSnapshot) {
  const q = model.question;
  if (!q || q.questionId !== qid) return;
  const mine = model.me.answers?.[qid];
  const correct = model.reveal?.correctAnswer;
  const v = { qid, before: model.me.score ?? 0, settled: false };
  const award = model.me.awards?.[qid];
  if (award) {
    // The server's own award (kept in the snapshot): exact, also after a reload.
    model.verdict = Object.assign(v, verdictOf(q, award), { settled: true });
    return;
  }
  if (correct == null || (q.marking && q.marking !== "auto")) {
    v.people = true;
    v.text = mine == null ? "No answer this time" : "Waiting for the marks";
    v.cls = "muted";
    v.settled = mine == null;
  } else if (mine == null) {
    Object.assign(v, { text: "No answer this time", cls: "wrong", icon: "–", settled: true });
  } else {
    const right = q.kind === "choice" ? Number(mine) === Number(correct)
      : q.kind === "number" ? Number(mine) === Number(correct) : norm(mine) === norm(correct);
    const award = model.settings?.speedBonus ? "" : ` +${q.points ?? 1}`;
    if (right) Object.assign(v, { text: `Correct!${award}`, cls: "correct", icon: "✓", right: true });
    else Object.assign(v, { text: "Checking…", cls: "muted" });
    // A choice is decided here; otherwise the score update decides (accepted
    // spellings and tolerances are known only to the server).
    v.settled = q.kind === "choice" || fromSnapshot;
    if (!right && v.settled) Object.assign(v, { text: "Not this time", cls: "wrong", icon: "✗" });
    // The award comes in the score:updated right behind the reveal; this
    // only covers a server that does not name awards.
    if (!v.settled) setTimeout(() => {
      if (model?.verdict === v && !v.settled) {
        v.settled = true;
        if (!v.right) Object.assign(v, { text: "Not this time", cls: "wrong", icon: "✗" });
        render(true);
      }
    }, 3000);
  }
  model.verdict = v;
}

/** The verdict an award gives ({score, by}: auto, peer or mc). */
function verdictOf(q, a) {
  const plus = `+${a.score}`;
  if (a.by === "mc") return { text: `Marked by the quiz master: ${a.score > 0 ? plus : "0"}`, cls: a.score > 0 ? "correct" : "wrong", icon: a.score > 0 ? "✓" : "✗", people: true };
  if (a.by === "peer") return { text: `Marked by your peers: ${a.score} of ${q?.points ?? a.score}`, cls: a.score > 0 ? "correct" : "wrong", icon: a.score > 0 ? "✓" : "✗", people: true };
  return a.score > 0 ? { text: `Correct! ${plus}`, cls: "correct", icon: "✓", right: true } : { text: "Not this time", cls: "wrong", icon: "✗" };
}

/** Awards named by a score update: the verdict of the current question, and
 * after peer marking what the round's marks added up to. */
function awarded(awards) {
  const v = model.verdict;
  const q = model.question;
  if (v && q && awards[v.qid] && q.questionId === v.qid) Object.assign(v, verdictOf(q, awards[v.qid]), { settled: true });
  const peer = Object.values(awards).filter((a) => a.by === "peer");
  if (peer.length) {
    const sum = peer.reduce((n, a) => n + a.score, 0);
    for (const pr of Object.values(model.peerRounds)) if (pr.ended) pr.settled = true;
    model.markNote = { text: `Marked by your peers: +${sum} this round`, cls: sum > 0 ? "correct" : "muted" };
    announce(model.markNote.text);
  }
}

/** A score change: the award of the verdict waiting for it, if any. */
function scored(delta) {
  const v = model.verdict;
  if (model.phase === "marking" || Object.values(model.peerRounds).some((p) => p.ended && !p.settled)) return;
  if (!v || v.settled && !v.people) return;
  if (v.people) {
    if (delta === 0) return;
    Object.assign(v, { text: `Marked by the quiz master: ${delta > 0 ? "+" : ""}${delta}`, cls: delta > 0 ? "correct" : "wrong", icon: delta > 0 ? "✓" : "✗", settled: true });
  } else if (delta > 0) {
    Object.assign(v, { text: `Correct! +${delta}`, cls: "correct", icon: "✓", right: true, settled: true });
  } else if (!v.right) {
    Object.assign(v, { text: "Not this time", cls: "wrong", icon: "✗", settled: true });
  }
}

/** After peer marking: what the marks added up to for the round. */
function settlePeer(roundId) {
  const pr = model?.peerRounds[roundId];
  if (!pr || pr.settled) return;
  pr.settled = true;
  const delta = (model.me.score ?? 0) - pr.before;
  const v = model.verdict;
  if (v?.people && !v.settled) Object.assign(v, { text: "Marked by your peers", settled: true });
  model.markNote = { text: `Marked by your peers: +${delta} this round`, cls: delta > 0 ? "correct" : "muted" };
  announce(model.markNote.text);
  render(true);
}

/** The picture of choice `i`, if it has one (text stays its label, so the
 * picture itself is decorative to a screen reader). */
function choicePicture(q, i, id) {
  const src = q?.kind === "choice" ? q.choiceImages?.[i] : null;
  return src ? h("img", { class: "choice-pic", src, alt: "", id }) : null;
}

function describe(q, answer) {
  if (answer == null) return "(marked by people)";
  if (q?.kind === "choice" && q.choices) return q.choices[answer] ?? String(answer);
  return String(answer);
}

function render(force) {
  if (!model) return;
  text($("title"), model.title || "quizcast");
  document.title = (model.title || "quizcast") + ": play";
  // A shared sheet scores the team only: its line stands for the player's.
  const sheet = model.teamMode === "sheet" && model.team;
  text($("me-line"), !model.me?.name ? "" : sheet ? `${model.me.name} · ${model.team.name} · ${points(model.team.score)} · #${model.team.rank ?? "-"}`
    : `${model.me.name} · ${points(model.me.score)} · #${model.me.rank ?? "-"}`);
  $("board").closest("section").classList.toggle("hidden", !!sheet);
  renderBoard();
  renderChat();
  renderTeam(model);
  const q = model.question;
  const key = [model.phase, q?.questionId, q?.closed, q?.revealed, model.assignments.map((a) => a.assignmentId).join(), model.round?.id, model.showBoard,
    model.showBoard ? JSON.stringify(model.leaderboard) : "",
    model.verdict?.text, model.markNote?.text, model.sheetRev, force ? Math.random() : ""].join("|");
  if (key !== stageKey) { stageKey = key; renderStage(); } else updateStatus();
}

function renderBoard() {
  const board = $("board");
  const me = model.me?.playerId;
  const row = (e) => h("li", { class: e.playerId === me ? "me" : "" },
    h("span", { class: "name" }, `${e.rank}. ${e.name}`, e.playerId === me ? h("span", { class: "you" }, " (you)") : null),
    h("span", {}, `${e.score}`));
  const rows = model.leaderboard.map(row);
  // Outside the top 10: the player's own line below it.
  if (me && model.me.rank && !model.leaderboard.some((e) => e.playerId === me)) {
    rows.push(h("li", { class: "gap", "aria-hidden": "true" }, "…"), row({ playerId: me, rank: model.me.rank, name: model.me.name, score: model.me.score ?? 0 }));
  }
  board.replaceChildren(...rows);
}

/** The leaderboard moment the MC shows between questions: the top 10 and
 * where this player stands (until the next question). */
function boardMoment() {
  const me = model.me?.playerId;
  const inTop = model.leaderboard.some((e) => e.playerId === me);
  return [h("h2", { id: "board-moment" }, "The leaderboard"),
    h("ol", { class: "board moment", "aria-label": "Top 10" }, model.leaderboard.map((e) => h("li", { class: e.playerId === me ? "me" : "" },
      h("span", { class: "name" }, `${e.rank}. ${e.name}`, e.playerId === me ? h("span", { class: "you" }, " (you)") : null), h("span", {}, String(e.score))))),
    h("p", { id: "my-standing", class: "big" }, model.me?.rank
      ? `You are #${model.me.rank} with ${points(model.me.score)}${inTop ? "" : ` (of ${model.total ?? "?"} players)`}.` : "")];
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
  if (model.round && model.phase !== "ended") nodes.push(h("p", { class: "muted" }, `${model.round.name}${q ? ` · question ${q.index + 1} of ${model.round.questionCount}` : ""}`));
  $("leave").classList.toggle("hidden", model.phase === "ended");
  if (model.phase === "ended") {
    $("dot").className = "dot ended";
    text($("conn"), "quiz over");
    nodes.push(h("h2", {}, "The quiz is over"), h("p", { id: "final" }, model.teamMode === "sheet" && model.team
      ? `Your team ${model.team.name} finished #${model.team.rank ?? "-"}. Thanks for playing!`
      : `You finished #${model.me?.rank ?? "-"} with ${points(model.me?.score)}. Thanks for playing!`));
  } else if (model.phase === "marking") {
    nodes.push(...markingView());
  } else if (model.showBoard) {
    nodes.push(...boardMoment());
  } else if (!q && model.round && (model.newRound || model.phase !== "lobby")) {
    const kind = model.round.type && model.round.type !== "standard" ? `${model.round.type[0].toUpperCase()}${model.round.type.slice(1)} round` : "Round";
    nodes.push(h("h2", { id: "round-banner" }, `${kind}: ${model.round.name}`),
      h("p", {}, `${model.round.questionCount} ${model.round.questionCount === 1 ? "question" : "questions"}. Get ready!`));
    if (model.markNote) nodes.push(h("p", { class: "verdict " + model.markNote.cls, id: "mark-note" }, model.markNote.text));
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
      const v = model.reveal && model.verdict?.qid === q.questionId ? model.verdict : null;
      if (v) nodes.push(h("p", { class: "verdict " + v.cls, id: "verdict" }, v.icon ? h("span", { "aria-hidden": "true" }, v.icon + " ") : null, v.text));
      if (model.markNote) nodes.push(h("p", { class: "verdict " + model.markNote.cls, id: "mark-note" }, model.markNote.text));
      const mine = model.me.answers?.[q.questionId];
      nodes.push(h("p", {}, "Your answer: ", h("strong", { id: "your-answer" }, mine == null ? "(none)" : describe(q, mine)),
        mine == null ? null : choicePicture(q, mine)));
      if (model.reveal) {
        nodes.push(model.reveal.correctAnswer == null
          ? h("p", { class: "muted", id: "correct-answer" }, "No set answer: this one is marked by people.")
          : h("p", { class: "correct", id: "correct-answer" }, "Correct answer: ", describe(q, model.reveal.correctAnswer),
            choicePicture(q, model.reveal.correctAnswer, "correct-picture")));
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
      } }, choicePicture(q, i), h("span", {}, `${String.fromCharCode(65 + i)}. ${c}`))));
  }
  const qid = q.questionId;
  const input = h("input", { id: "answer", name: "answer", autocomplete: "off", inputmode: q.kind === "number" ? "decimal" : "text",
    value: model.drafts[qid] ?? mine ?? "", "aria-describedby": "draft-note",
    oninput: () => { model.drafts[qid] = input.value; updateStatus(); } });
  return h("form", { onsubmit: (ev) => { ev.preventDefault(); const v = parse(q, input.value); if (v != null) submit(v); } },
    h("label", { for: "answer" }, q.kind === "number" ? "Your answer (a number)" : "Your answer"),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Submit")),
    h("p", { id: "draft-note", class: "muted" }));
}

function parse(q, raw) {
  const v = String(raw ?? "").trim();
  if (!v) return null;
  if (q.kind !== "number") return v;
  const n = Number(v.replace(",", "."));
  return Number.isFinite(n) ? n : null;
}

/** A typed answer that differs from the saved one (null when none). */
function unsent(q) {
  const draft = model.drafts[q.questionId];
  const v = parse(q, draft);
  if (v == null) return null;
  const mine = model.me.answers?.[q.questionId];
  return mine != null && String(mine) === String(v) ? null : v;
}

function sendAnswer(q, value) {
  const qid = q.questionId;
  model.saving[qid] = true;
  delete model.errors[qid];
  updateStatus();
  client.send("answer:submit", { questionId: qid, answer: value }, "answer:" + qid).then(() => {
    model.me.answers[qid] = value;
    delete model.saving[qid];
    if (model.drafts[qid] != null && String(parse(q, model.drafts[qid])) === String(value)) delete model.drafts[qid];
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
  const note = $("draft-note");
  if (note) text(note, !q.closed && !model.saving[qid] && unsent(q) != null
    ? (q.deadline ? "Not sent yet: it will be sent when the time runs out." : "Not sent yet: press Submit.") : "");
  const count = $("count");
  if (count) text(count, `${model.total ?? 0} players in the quiz`);
}

/** How long before the deadline (server clock) a typed, unsubmitted answer is sent for the player. */
const AUTO_SUBMIT_MS = 1000;

function tick() {
  const el = $("countdown");
  if (!el || !model?.question || !client) return;
  const q = model.question;
  if (q.deadline && !q.closed && !model.autoSent[q.questionId] && !model.saving[q.questionId]
      && q.deadline - client.now() <= AUTO_SUBMIT_MS) {
    const v = unsent(q);
    if (v != null) { model.autoSent[q.questionId] = true; sendAnswer(q, v); announce("Your typed answer was sent."); }
  }
  const s = secondsLeft(model.question.deadline, client);
  if (s == null) { text(el, ""); return; }
  text(el, `${s}s`);
  el.classList.toggle("low", s <= 5);
}

function markingView() {
  const all = model.assignments;
  if (!all.length) return [h("h2", {}, "Marking time"), h("p", { class: "muted" }, "The quiz master is marking this round.")];
  const nodes = [h("h2", {}, model.teamMode && model.teamMode !== "off" ? "Mark another team's answers" : "Mark another player's answers"),
    h("p", { id: "marking-progress" }, progressText())];
  all.forEach((a, n) => {
    for (const item of a.items) {
      // The first assignment keeps the plain ids; a team's further ones are numbered.
      const id = "mark-" + item.questionId + (n ? `-${n + 1}` : "");
      const options = [];
      for (let s = 0; s <= item.points; s += 0.5) options.push(h("option", { value: String(s), selected: a.marks?.[item.questionId] === s }, String(s)));
      const select = h("select", { id, onchange: (ev) => sendMark(a, item, Number(ev.target.value)) },
        h("option", { value: "", selected: a.marks?.[item.questionId] == null }, "choose…"), options);
      nodes.push(h("div", { class: "panel mark-item" },
        h("p", { class: "muted" }, item.prompt),
        h("p", {}, "Their answer: ", h("strong", { class: "their-answer" }, item.answer == null ? "(none)" : String(item.answer))),
        item.correctAnswer != null ? h("p", { class: "muted" }, "Expected: ", String(item.correctAnswer)) : null,
        h("label", { for: id }, `Points (0 to ${item.points})`), select));
    }
  });
  return nodes;
}

function progressText() {
  const done = model.assignments.reduce((n, a) => n + Object.keys(a.marks || {}).length, 0);
  return `${done} of ${model.assignments.reduce((n, a) => n + a.items.length, 0)} marked`;
}

function sendMark(a, item, score) {
  if (Number.isNaN(score)) return;
  client.send("mark:submit", { assignmentId: a.assignmentId, questionId: item.questionId, score }, `mark:${a.assignmentId}:${item.questionId}`).then(() => {
    a.marks = { ...(a.marks || {}), [item.questionId]: score };
    const p = $("marking-progress");
    if (p) text(p, progressText());
  }, (e) => { if (e.code !== "REPLACED") alert(e.message); });
}

$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", leave);
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
if (!saved?.token) offerTeams(initial);
$("code").addEventListener("input", () => offerTeams($("code").value.trim().toUpperCase()));
