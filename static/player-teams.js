// Team mode on the phone (docs/protocol.md, Teams): the join form's team
// field (pick a team or type a new name), the player's team with its
// score and members, the team's shared answer sheet in sheet mode, and the
// team leaderboard. Kept apart from player.js, which calls in here.
import { api, h, text } from "/static/client.js";

const $ = (id) => document.getElementById(id);
const points = (n) => `${n ?? 0} ${Number(n) === 1 ? "point" : "points"}`;

export const TEAM_ERRORS = {
  TEAM_FULL: "That team is full. Pick another team or make a new one.",
  TEAMS_FULL: "No more teams can be made. Pick one of the teams listed.",
  TEAMS_OFF: "This quiz is not played in teams: leave the team empty.",
  TEAM_NAME_TAKEN: "Another team has a name like that. Pick it from the list or choose another name.",
};

/** Shows the team field when the session with `code` plays in teams. */
export async function offerTeams(code) {
  const field = $("team-field");
  let t = null;
  if (/^[A-Z2-9]{5}$/.test(code)) {
    try { t = await api("GET", `/api/sessions/${code}/teams`); } catch (_) { t = null; }
  }
  const on = !!t && t.mode !== "off";
  field.classList.toggle("hidden", !on);
  $("team").required = on;
  if (!on) return;
  $("team-list").replaceChildren(...t.teams.filter((x) => !x.full).map((x) => h("option", { value: x.name })));
  const listed = t.teams.map((x) => `${x.name} (${x.memberCount})`).join(", ");
  text($("team-hint"), (listed ? `Teams so far: ${listed}. Pick one, or type a new name to make your own team.`
    : "No teams yet: type a name to make your team.")
    + (t.mode === "sheet" ? " Your team answers on one shared sheet." : ""));
}

/** The team the join form names, if the session plays in teams. */
export function teamChoice() {
  if ($("team-field").classList.contains("hidden")) return undefined;
  return $("team").value.trim() || undefined;
}

/** Team state from a snapshot (`me.team`, `teamLeaderboard`). In sheet
 * mode the team's sheet is the player's own answers. */
export function teamsFromSnapshot(model, snap) {
  model.teamMode = snap.settings?.teams || "off";
  model.teamBoard = snap.teamLeaderboard || [];
  model.team = snap.me?.team || null;
  model.sheet = {};
  if (model.team && model.teamMode === "sheet") {
    for (const [q, e] of Object.entries(model.team.sheet || {})) { model.sheet[q] = e; model.me.answers[q] = e.answer; }
    for (const [q, a] of Object.entries(model.team.awards || {})) model.me.awards[q] = a;
  }
}

/** Applies a team event (and the team parts of leaderboard events);
 * returns the change of the team's score for `team:score-updated`. */
export function teamEvent(model, e, announce) {
  const d = e.data || {};
  const me = model.me?.playerId;
  switch (e.type) {
    case "team:updated":
      if (d.members.some((m) => m.playerId === me)) {
        model.team = { ...(model.team?.teamId === d.teamId ? model.team : { score: 0 }), teamId: d.teamId, name: d.name, members: d.members };
      } else if (model.team?.teamId === d.teamId) {
        model.team = null;
      }
      break;
    case "team:removed":
      if (model.team?.teamId === d.teamId) { model.team = null; if (!d.mergedInto) announce(`The quiz master removed your team ${d.name}.`); }
      break;
    case "team:sheet-updated":
      model.sheet[d.questionId] = d;
      model.me.answers[d.questionId] = d.answer;
      if (model.drafts) delete model.drafts[d.questionId];
      model.sheetRev = `${d.questionId}:${d.revision}`;
      if (d.playerId !== me) announce(`${d.name} changed your team's answer.`);
      break;
    case "team:score-updated": {
      const before = model.team?.score ?? 0;
      if (model.team) Object.assign(model.team, { score: d.score, rank: d.rank, name: d.name });
      announce(`Your team ${d.name} has ${points(d.score)}, rank ${d.rank}.`);
      return d.score - before;
    }
    case "leaderboard:updated": case "game:leaderboard-shown": case "session:ended":
      if (d.teams) model.teamBoard = d.teams;
      break;
    case "session:settings-changed":
      model.teamMode = d.settings?.teams || "off";
      break;
  }
  return null;
}

/** The team panel: the player's team, its sheet answer, the team board. */
export function renderTeam(model) {
  const on = model.teamMode && model.teamMode !== "off";
  $("team-panel").classList.toggle("hidden", !on);
  if (!on) return;
  const t = model.team;
  const names = t?.members?.map((m) => m.name).join(", ");
  text($("team-line"), t ? `Team ${t.name} · ${points(t.score)}${t.rank ? ` · #${t.rank}` : ""}${names ? ` · ${names}` : ""}`
    : "You are not in a team yet: the quiz master can put you in one.");
  const q = model.question;
  const entry = q && model.teamMode === "sheet" ? model.sheet?.[q.questionId] : null;
  const shown = entry ? (q.choices ? q.choices[entry.answer] ?? String(entry.answer) : String(entry.answer)) : null;
  text($("team-sheet"), !q || model.teamMode !== "sheet" || !t ? ""
    : entry ? `Your team's answer: ${shown} (revision ${entry.revision}, by ${entry.name || "a teammate"})`
      : "Your team's answer: none yet. Anyone in the team can answer; the last answer counts.");
  if (model.phase === "ended" && t) text($("team-final"), `Your team ${t.name} finished #${t.rank ?? "-"} with ${points(t.score)}.`);
  else text($("team-final"), "");
  $("team-board").replaceChildren(...(model.teamBoard || []).map((e) => h("li", { class: e.teamId === t?.teamId ? "me" : "" },
    h("span", { class: "name" }, `${e.rank}. ${e.name}`), h("span", {}, String(e.score)))));
}
