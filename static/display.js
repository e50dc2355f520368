// The projector display: code, join link and QR; a wall of who joined; the
// question with its picture, choices and countdown; the reveal with a bar
// chart; the podium. Sized to the screen (see display.html): nothing ever
// scrolls. Never sees answers before their reveal (the server never sends
// them to this role).
import { QuizClient, api, h, text, secondsLeft } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const code = (location.pathname.match(/^\/display\/([A-Za-z0-9]{5})/) || [])[1]?.toUpperCase();
// The MC's display link carries a display token in the fragment (never sent
// in a URL); without one the server admits only a couple of displays.
const token = new URLSearchParams(location.hash.slice(1)).get("token") || undefined;
let m = null;
let client = null;
/** Who joined, oldest first: the snapshot's roster (the newest 200), then
 * every `player:joined`. Names beyond it are counted in "+N more". */
const names = new Map();

const points = (n) => `${n ?? 0} ${Number(n) === 1 ? "point" : "points"}`;
const plural = (n, one, many) => `${n ?? 0} ${Number(n) === 1 ? one : many}`;

function onSnapshot(snap) {
  m = { title: snap.title, phase: snap.phase, round: snap.round, question: snap.question, board: snap.leaderboard || [],
        total: snap.totalPlayers, online: snap.online, answered: 0, reveal: null, newRound: false, showBoard: !!snap.leaderboardShown,
        // Team mode: the team standings stand in for the players' everywhere.
        teams: snap.settings?.teams && snap.settings.teams !== "off" ? snap.teamLeaderboard || [] : null };
  if (snap.players) {
    names.clear();
    for (const p of snap.players) names.set(p.playerId, p.name);
  }
  for (const e of m.board) if (!names.has(e.playerId)) names.set(e.playerId, e.name);
  if (snap.question?.revealed) m.reveal = { correctAnswer: snap.question.correctAnswer, explanation: snap.question.explanation };
  if (m.phase === "ended") keepFinal();
  render();
}

function keepFinal() {
  try { localStorage.setItem("quizcast:display-final:" + code, JSON.stringify({ title: m.title, board: m.board, teams: m.teams })); } catch (_) {}
}

function onEvent(e) {
  if (!m) return;
  const d = e.data || {};
  if (d.teams && /^(leaderboard:|game:leaderboard-shown|session:ended)/.test(e.type)) m.teams = d.teams;
  if (e.type === "session:settings-changed") m.teams = d.settings?.teams && d.settings.teams !== "off" ? m.teams || [] : null;
  if (e.type === "team:updated" && m.teams && !m.teams.some((x) => x.teamId === d.teamId)) m.teams.push({ teamId: d.teamId, name: d.name, score: 0, rank: m.teams.length + 1 });
  switch (e.type) {
    case "game:round-changed": m.round = { id: d.roundId, name: d.roundName, type: d.roundType, questionCount: d.questionCount }; m.question = null; m.reveal = null; m.newRound = true; m.showBoard = false; break;
    case "game:question-opened": m.question = { ...d, closed: false }; m.phase = "question"; m.answered = 0; m.reveal = null; m.newRound = false; m.showBoard = false; break;
    case "game:leaderboard-shown": m.showBoard = d.shown; m.board = d.top; m.total = d.totalPlayers; break;
    case "game:question-closed": if (m.question) m.question.closed = true; m.phase = "closed"; break;
    case "game:answer-revealed": m.reveal = d; break;
    case "player:answer-submitted": if (m.question?.questionId === d.questionId) m.answered = d.answeredCount; m.total = d.totalPlayers; break;
    case "player:joined": names.set(d.playerId, d.name); m.total = d.totalPlayers; break;
    case "player:left": case "player:removed": names.delete(d.playerId); m.total = d.totalPlayers; break;
    case "player:all-cleared": names.clear(); m.total = 0; break;
    case "presence:count": m.online = d.online; m.total = d.totalPlayers; break;
    case "leaderboard:updated": m.board = d.top; break;
    case "leaderboard:full": m.board = d.entries.slice(0, 10); break;
    case "game:marking-started": m.phase = "marking"; m.showBoard = false; break;
    case "game:marking-ended": m.phase = "closed"; break;
    case "session:ended": m.phase = "ended"; m.showBoard = false; m.board = d.leaderboard; keepFinal(); break;
  }
  render();
}

/** The picture of choice `i`, if it has one; its text is beside it, so the
 * picture is decorative to a screen reader. */
function choicePicture(q, i, id, cls = "choice-pic") {
  const src = q?.choices ? q.choiceImages?.[i] : null;
  return src ? h("img", { class: cls, src, alt: "", id }) : null;
}

function answerText(q, a) {
  if (a == null) return "marked by the players";
  return q?.choices ? q.choices[a] ?? String(a) : String(a);
}

/** The standings shown: the teams' in team mode, else the players'. */
const board = () => m.teams || m.board;

function podium() {
  const [a, b, c] = board();
  const slot = (e, cls, place) => h("div", { class: cls }, h("div", { class: "place" }, place),
    h("strong", {}, e ? e.name : "—"), e ? points(e.score) : "");
  return h("div", { class: "podium", id: "podium", "aria-label": m.teams ? "Team podium" : "Podium" }, slot(b, "p2", "2nd"), slot(a, "p1", "1st"), slot(c, "p3", "3rd"));
}

/** The lobby wall: the newest names first (a player sees their own name
 * appear), as many as fit, then "+N more". */
function wall() {
  const list = [...names.values()].reverse();
  return h("ul", { class: "wall", id: "wall", "aria-label": "Players who joined" }, list.map((n) => h("li", {}, n)));
}

/** Hides the names that do not fit the wall and counts them in a last chip. */
function fitWall() {
  const el = $("wall");
  if (!el) return;
  const items = [...el.children].filter((li) => !li.classList.contains("more"));
  for (const li of items) li.hidden = false;
  el.querySelector(".more")?.remove();
  const limit = el.clientHeight;
  const fits = (li) => li.offsetTop - el.offsetTop + li.offsetHeight <= limit + 1;
  let shown = items.length;
  // Players who joined before the roster this screen knows (a reload in a big room).
  const unknown = Math.max(0, (m?.total ?? 0) - items.length);
  while (shown > 0 && !fits(items[shown - 1])) shown--;
  if (shown === items.length && !unknown) return;
  for (const li of items.slice(shown)) li.hidden = true;
  const more = h("li", { class: "more" });
  el.append(more);
  // Make room for the "+N more" chip itself.
  for (;;) {
    text(more, `+${items.length - shown + unknown} more`);
    if (fits(more) || shown === 0) break;
    items[--shown].hidden = true;
  }
}

function render() {
  text($("title"), m.title || "quizcast");
  text($("players"), plural(m.total, "player", "players"));
  const nodes = [];
  const q = m.question;
  if (m.phase === "ended") {
    nodes.push(h("h2", {}, m.teams ? "Final results: teams" : "Final results"), podium());
  } else if (m.showBoard) {
    // The leaderboard moment: the top 10, large, in two columns (fits 720p).
    nodes.push(h("h2", { id: "board-moment" }, m.teams ? "Team leaderboard" : "Leaderboard"),
      h("ol", { class: "moment", id: "moment" }, board().slice(0, 10).map((e) =>
        h("li", {}, h("span", { class: "rank" }, `${e.rank}`), h("span", { class: "name" }, e.name), h("span", { class: "pts" }, String(e.score))))));
  } else if (m.phase === "marking") {
    nodes.push(h("h2", {}, "Peer marking"), h("p", { class: "big-msg" }, "Players are marking each other's answers on their phones…"));
  } else if (!q) {
    if (m.round && (m.newRound || m.phase !== "lobby")) {
      const kind = m.round.type && m.round.type !== "standard" ? `${m.round.type[0].toUpperCase()}${m.round.type.slice(1)} round` : "Next round";
      nodes.push(h("p", { class: "muted roundline" }, kind), h("h2", { id: "round-banner" }, m.round.name),
        h("p", { class: "big-msg" }, `${plural(m.round.questionCount, "question", "questions")}. Get your phones ready!`));
    } else {
      nodes.push(h("h2", {}, "Get ready!"), h("p", { class: "big-msg muted" }, names.size ? "Joined so far:" : "Scan the code or go to the link to join."));
    }
    if (board().some((e) => e.score > 0)) nodes.push(podium());
    else nodes.push(wall());
  } else {
    if (m.round) nodes.push(h("p", { class: "muted roundline" }, `${m.round.name} · question ${q.index + 1} of ${m.round.questionCount} · ${points(q.points)}`));
    nodes.push(h("p", { class: "prompt", id: "prompt" }, q.prompt));
    if (q.imageUrl) nodes.push(h("img", { class: "question", src: q.imageUrl, alt: "Question picture" }));
    if (q.choices && !m.reveal) {
      // With pictures the grid takes the height left and shares it out.
      const pics = q.choiceImages?.some(Boolean);
      nodes.push(h("ol", { class: pics ? "choices-big pics" : "choices-big", id: "choices" }, q.choices.map((c, i) =>
        h("li", {}, h("span", { class: "letter" }, String.fromCharCode(65 + i)), choicePicture(q, i), h("span", {}, c)))));
    }
    if (m.reveal) {
      nodes.push(h("h2", { class: "correct", id: "reveal" }, h("span", { "aria-hidden": "true" }, "✓ "), "Answer: ", answerText(q, m.reveal.correctAnswer)));
      const pic = choicePicture(q, m.reveal.correctAnswer);
      if (pic) nodes.push(h("div", { class: "reveal-pic", id: "reveal-picture" }, pic));
      if (m.reveal.explanation) nodes.push(h("p", { class: "muted explain" }, m.reveal.explanation));
      if (m.reveal.distribution && q.choices) {
        const max = Math.max(1, ...m.reveal.distribution);
        nodes.push(h("div", { class: "dist", id: "distribution" }, q.choices.map((c, i) => h("div", {},
          h("div", { class: "label" }, h("span", {}, choicePicture(q, i, null, "dist-pic"), `${String.fromCharCode(65 + i)}. ${c}${i === m.reveal.correctAnswer ? " ✓" : ""}`), h("span", {}, String(m.reveal.distribution[i] ?? 0))),
          h("div", { class: "bar", style: `width:${((m.reveal.distribution[i] ?? 0) / max) * 100}%` })))));
      }
    }
    nodes.push(h("div", { class: "meter" },
      !q.closed ? h("span", { class: "countdown", id: "countdown" }) : (!m.reveal ? h("span", { class: "countdown" }, "Time's up!") : null),
      h("span", { id: "answered" }, `${m.answered} of ${plural(m.total, "player", "players")} answered`)));
  }
  $("stage").replaceChildren(...nodes);
  fitWall();
  text($("side-h"), m.teams ? "Top teams" : "Top 10");
  $("board").replaceChildren(...board().slice(0, 10).map((e) => h("li", {}, h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, String(e.score)))));
  tick();
}

function tick() {
  const el = $("countdown");
  if (!el || !m?.question || !client) return;
  const s = secondsLeft(m.question.deadline, client);
  text(el, s == null ? "" : `${s}`);
  el.classList.toggle("low", s != null && s <= 5);
}

/** After the end (e.g. a reload): the final podium, from the server while it
 * keeps the session readable, else from what this screen kept. */
async function showFinal() {
  let snap = null;
  try { snap = await api("GET", `/api/sessions/${code}/state`, { token }); } catch (_) {}
  let kept = null;
  try { kept = JSON.parse(localStorage.getItem("quizcast:display-final:" + code)); } catch (_) {}
  if (snap) onSnapshot({ ...snap, phase: "ended" });
  else if (kept) onSnapshot({ title: kept.title, phase: "ended", leaderboard: kept.board, teamLeaderboard: kept.teams, settings: { teams: kept.teams ? "sum" : "off" } });
}

if (!code) {
  text($("title"), "No session code in the address: open /display/CODE.");
} else {
  text($("code"), code);
  text($("join-url"), `${location.host}/join/${code}`);
  $("qr").src = `/api/sessions/${code}/qr.svg`;
  client = new QuizClient({ base: location.origin, code, role: "display", token, onEvent, onSnapshot, onState: (s, d) => {
    $("dot").className = "dot " + s; text($("conn"), s + (d ? `: ${d}` : ""));
    if (s === "closed" && d && /ended/.test(d) && (!m || m.phase !== "ended")) showFinal();
  } });
  window.quizClient = client;
  client.start();
  setInterval(tick, 250);
  addEventListener("resize", () => fitWall());
}
