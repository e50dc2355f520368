// Team mode in the MC panel (docs/protocol.md, Teams): choose the mode and
// limits before the first question, make teams, move players between them,
// rename, merge and remove teams, see the team standings, and mark or
// override a team's answer (sheet mode). mc.js calls in here.
import { h, text } from "/static/client.js";

const $ = (id) => document.getElementById(id);
let call = null;
let t = null; // {mode, maxTeams, maxTeamSize, teams}
let snap = null;
let timer = null;

const MODES = { off: "off", sum: "sum of members' scores", mean: "mean of members' scores", sheet: "one answer sheet per team" };

async function act(fn) {
  text($("teams-error"), "");
  try { await fn(); } catch (e) { text($("teams-error"), e.message); }
  refresh();
}

/** Re-reads the teams (and the MC snapshot for players and sheets), debounced. */
export function refresh(now) {
  if (!call) return;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      [t, snap] = await Promise.all([call("GET", "/teams"), call("GET", "/state")]);
      render();
    } catch (_) {}
  }, now ? 0 : 300);
}

export function teamsInit(caller) {
  call = caller;
  $("teams-mode-form").onsubmit = (ev) => {
    ev.preventDefault();
    const n = (id) => ($(id).value.trim() ? Number($(id).value) : undefined);
    act(() => call("PUT", "/teams/mode", { teams: $("teams-mode").value, maxTeams: n("teams-max"), maxTeamSize: n("teams-size") }));
  };
  $("team-create-form").onsubmit = (ev) => {
    ev.preventDefault();
    const name = $("team-new").value.trim();
    if (!name) return;
    act(async () => { await call("POST", "/teams", { name }); $("team-new").value = ""; });
  };
  $("team-move-form").onsubmit = (ev) => {
    ev.preventDefault();
    const pid = $("move-player").value;
    if (!pid) return;
    act(() => call("PUT", `/teams/members/${encodeURIComponent(pid)}`, { teamId: $("move-team").value || null }));
  };
  refresh(true);
}

/** Team events (and anything that changes who is where) refresh the panel. */
export function teamsEvent(e) {
  if (/^(team:|player:(joined|left|removed|all-cleared)|leaderboard:updated|session:settings-changed|session:ended|game:answer-revealed|game:question-opened)/.test(e.type)
    || (e.type === "player:answer-submitted" && t && t.mode !== "off")) refresh();
}

function options(sel, list, keep = true) {
  const current = sel.value;
  sel.replaceChildren(...list.map(([v, label]) => h("option", { value: v }, label)));
  if (keep && list.some(([v]) => v === current)) sel.value = current;
}

function render() {
  if (!t) return;
  const on = t.mode !== "off";
  text($("teams-mode-label"), on ? `(${MODES[t.mode]})` : "(off)");
  if (document.activeElement?.closest?.("#teams-mode-form") == null) {
    $("teams-mode").value = t.mode;
    $("teams-max").value = String(t.maxTeams);
    $("teams-size").value = String(t.maxTeamSize);
  }
  const started = snap && (snap.question || snap.round || snap.phase !== "lobby");
  $("teams-mode-set").disabled = !!started;
  text($("teams-mode-hint"), started ? "Team mode is fixed once the first question has opened." : "Choose before the first question.");
  for (const id of ["team-create-form", "team-move-form", "teams-table"]) $(id).classList.toggle("hidden", !on);
  const teamOpts = t.teams.map((x) => [x.teamId, x.name]);
  $("teams-rows").replaceChildren(...t.teams.map((x) => {
    const into = h("select", { "aria-label": `Merge ${x.name} into` }, t.teams.filter((y) => y.teamId !== x.teamId).map((y) => h("option", { value: y.teamId }, y.name)));
    return h("tr", { "data-team": x.teamId },
      h("td", {}, x.rank ? `#${x.rank}` : ""),
      h("td", { class: "name" }, x.name),
      h("td", {}, x.members.map((p) => p.name).join(", ") || "(nobody)"),
      h("td", {}, String(x.score)),
      h("td", {}, h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", onclick: () => {
          const name = prompt(`New name for ${x.name}`, x.name);
          if (name && name.trim() !== x.name) act(() => call("PATCH", `/teams/${x.teamId}`, { name: name.trim() }));
        } }, "Rename"),
        t.teams.length > 1 ? into : null,
        t.teams.length > 1 ? h("button", { type: "button", class: "secondary", onclick: () => {
          if (confirm(`Merge ${x.name} into ${into.selectedOptions[0]?.textContent}?`)) act(() => call("POST", `/teams/${x.teamId}/merge`, { into: into.value }));
        } }, "Merge") : null,
        h("button", { type: "button", class: "secondary danger", onclick: () => {
          if (confirm(`Remove team ${x.name}? Its players stay in the quiz without a team.`)) act(() => call("DELETE", `/teams/${x.teamId}`));
        } }, "Remove"))));
  }));
  const teamOf = new Map();
  for (const x of t.teams) for (const p of x.members) teamOf.set(p.playerId, x.name);
  options($("move-player"), (snap?.players || []).map((p) => [p.playerId, `${p.name}${teamOf.has(p.playerId) ? ` (${teamOf.get(p.playerId)})` : " (no team)"}`]));
  options($("move-team"), [...teamOpts, ["", "No team"]]);
  renderSheets();
}

/** Each team's answer to the question on screen (its sheet, or its
 * members' own answers), with buttons that mark or override the team. */
function renderSheets() {
  const q = snap?.question;
  const show = t.mode !== "off" && !!q;
  $("team-answers-block").classList.toggle("hidden", !show);
  if (!show) return;
  const answers = snap.teamAnswers || {};
  const say = (v) => (q.choices ? q.choices[v] ?? String(v) : String(v));
  $("team-answers").replaceChildren(...t.teams.map((x) => {
    const a = answers[x.teamId];
    const own = x.members.filter((p) => snap.answers?.[p.playerId] != null).map((p) => `${p.name}: ${say(snap.answers[p.playerId])}`);
    const shown = t.mode !== "sheet" ? own.join("; ") || "(none)" : a == null ? "(none)" : say(a.answer);
    const marks = [];
    for (let s = 0; s <= (q.points ?? 1); s += q.points > 4 ? 1 : 0.5) {
      marks.push(h("button", { type: "button", class: "secondary", onclick: () => act(() => call("POST", "/team-scores", { teamId: x.teamId, questionId: q.questionId, score: s })) }, String(s)));
    }
    return h("tr", {}, h("td", { class: "name" }, x.name),
      h("td", {}, shown, a ? h("span", { class: "muted" }, ` (rev ${a.revision}, ${a.name || "?"})`) : null),
      h("td", {}, h("div", { class: "markbtns", role: "group", "aria-label": `Points for ${x.name}` }, marks)));
  }));
}
