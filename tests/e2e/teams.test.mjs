// Team mode (issue 12), in a real headless Chromium against the real server:
// three phones join two teams from the join form, play a short quiz on one
// shared answer sheet per team (each member sees the others' answers live,
// with the revision), and the night ends on the projector's team podium and
// a CSV by team; the MC panel lists the teams; axe-core finds nothing on any
// page in any state visited. Screenshots land in tests/e2e/artifacts/teams-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ARTIFACTS, startServer, launchBrowser, newPage, see as seeText, axe } from "./harness.mjs";

let server, base, browser;

before(async () => {
  ({ server, base } = await startServer("teams", ["--heartbeat-ms", "2000"]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

const page = (opts = {}) => newPage(browser, opts);
const see = seeText;

const QUIZ = {
  title: "Team night",
  settings: { teams: "sheet", maxTeams: 4, maxTeamSize: 3 },
  rounds: [{ id: "r1", name: "General", questions: [
    { id: "q1", kind: "choice", prompt: "Largest planet?", choices: ["Mars", "Jupiter", "Venus"], answer: 1, points: 2 },
    { id: "q2", kind: "text", prompt: "Capital of France?", answer: "Paris", points: 1 },
  ] }],
};

async function call(method, path, token, body) {
  const r = await fetch(base + path, {
    method, headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const t = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${t}`);
  return t ? (t.startsWith("{") ? JSON.parse(t) : t) : null;
}

async function joinTeam(p, code, name, team) {
  await p.goto(`${base}/join/${code}`);
  await p.waitForSelector("#team-field:not(.hidden)");
  await p.fill("#name", name);
  await p.fill("#team", team);
  await p.click("#join-btn");
  await see(p, "#stage", `You're in, ${name}`);
}

test("three phones in two teams play on shared sheets to the team podium and a CSV by team", async () => {
  const { code, mcToken } = await call("POST", "/api/sessions", undefined, { quiz: QUIZ });
  const S = `/api/sessions/${code}`;
  const display = await page({ width: 1280, height: 720 });
  await display.goto(`${base}/display/${code}`);
  const mc = await page({ width: 1366, height: 768 });
  await mc.goto(`${base}/mc#code=${code}&token=${encodeURIComponent(mcToken)}`);
  await see(mc, "#teams-mode-label", "one answer sheet per team");

  const ada = await page({ phone: true });
  await ada.goto(`${base}/join/${code}`);
  await see(ada, "#team-hint", "type a name to make your team");
  await axe(ada, "join form with a team field");
  await ada.fill("#name", "Ada");
  await ada.fill("#team", "Owls");
  await ada.click("#join-btn");
  await see(ada, "#stage", "You're in, Ada");
  const bea = await page({ phone: true });
  await bea.goto(`${base}/join/${code}`);
  // The teams so far are offered to pick from.
  await see(bea, "#team-hint", "Owls (1)");
  assert.equal(await bea.evaluate(() => [...document.querySelectorAll("#team-list option")].map((o) => o.value).join()), "Owls");
  await bea.fill("#name", "Bea");
  await bea.fill("#team", "Owls");
  await bea.click("#join-btn");
  await see(bea, "#team-line", "Team Owls");
  const cy = await page({ phone: true });
  await joinTeam(cy, code, "Cy", "Foxes");
  await see(ada, "#team-line", "Ada, Bea");
  await see(mc, "#teams-rows", "Foxes");
  await see(mc, "#teams-rows", "Ada, Bea");
  await axe(mc, "MC panel with teams");
  await axe(ada, "phone in the lobby with a team");

  // The MC makes a team, moves Cy there, merges it back into Foxes, and
  // removes a spare team, all from the panel.
  await mc.fill("#team-new", "Bats");
  await mc.click("#team-create-form button");
  await see(mc, "#teams-rows", "Bats");
  const cyId = await cy.evaluate(() => window.quizClient.playerId);
  await mc.selectOption("#move-player", cyId);
  await mc.selectOption("#move-team", "t3");
  await mc.click("#team-move-form button");
  await see(cy, "#team-line", "Team Bats");
  await mc.selectOption('#teams-rows tr[data-team="t3"] select', "t2");
  await mc.click('#teams-rows tr[data-team="t3"] button:text("Merge")');
  await see(cy, "#team-line", "Team Foxes");
  await mc.fill("#team-new", "Spare");
  await mc.click("#team-create-form button");
  await see(mc, "#teams-rows", "Spare");
  await mc.click('#teams-rows tr[data-team="t4"] button:text("Remove")');
  await mc.waitForFunction(() => !document.querySelector("#teams-rows").textContent.includes("Spare"));
  assert.ok(!(await mc.textContent("#teams-rows")).includes("Bats"));

  // Question 1: one sheet per team; each member sees the other's answer live.
  await call("POST", `${S}/question`, mcToken, { questionId: "q1" });
  await see(ada, "#prompt", "Largest planet?");
  await ada.click("#stage .choices button:nth-child(1)");
  await see(bea, "#team-sheet", "Your team's answer: Mars (revision 1, by Ada)");
  await bea.click("#stage .choices button:nth-child(2)");
  await see(ada, "#team-sheet", "Your team's answer: Jupiter (revision 2, by Bea)");
  assert.equal(await ada.getAttribute("#stage .choices button:nth-child(2)", "aria-pressed"), "true");
  await cy.click("#stage .choices button:nth-child(3)");
  await see(cy, "#team-sheet", "revision 1, by Cy");
  await see(mc, "#team-answers", "Jupiter");
  await axe(bea, "phone with the team's sheet");
  await axe(mc, "MC panel with team answers");
  await call("POST", `${S}/question/reveal`, mcToken, {});
  await see(ada, "#team-line", "Team Owls · 2 points · #1");
  await see(bea, "#verdict", "Correct");
  await see(display, "#board", "Owls");
  await see(display, "#side-h", "Top teams");

  // Question 2: typed answers on the sheet.
  await call("POST", `${S}/question`, mcToken, { questionId: "q2" });
  await see(cy, "#prompt", "Capital of France?");
  await bea.fill("#answer", "Paris");
  await bea.click("#stage form button[type=submit]");
  await see(ada, "#team-sheet", "Paris (revision 1, by Bea)");
  await cy.fill("#answer", "Lyon");
  await cy.click("#stage form button[type=submit]");
  await see(cy, "#answer-status", "Answer saved");
  await call("POST", `${S}/question/reveal`, mcToken, {});
  await see(bea, "#team-line", "3 points");
  // The MC marks a team by hand from the panel (an override per team).
  await see(mc, "#team-answers", "Lyon");
  await mc.click("#team-answers tr:nth-child(2) .markbtns button:nth-child(2)");
  await see(cy, "#team-line", "Team Foxes · 0.5 points · #2");

  await call("POST", `${S}/end`, mcToken, {});
  await see(display, "#stage", "Final results: teams");
  await see(display, "#podium .p1", "Owls");
  await see(display, "#podium .p2", "Foxes");
  await see(ada, "#team-final", "Your team Owls finished #1 with 3 points");
  await see(cy, "#team-board", "Foxes");
  await display.screenshot({ path: join(ARTIFACTS, "teams-podium.png") });
  await ada.screenshot({ path: join(ARTIFACTS, "teams-phone.png") });
  await axe(display, "team podium");
  await axe(ada, "phone at the end in a team");
  await axe(mc, "MC panel at the end");

  // Results by team: the CSV names each team with its members.
  const csv = await mc.evaluate(async ([code, token]) => (await fetch(`/api/sessions/${code}/results`, { headers: { Authorization: `Bearer ${token}`, Accept: "text/csv" } })).text(), [code, mcToken]);
  const lines = csv.trim().split("\n");
  assert.equal(lines[0], "team_rank,team_id,team,members,round_id,question_id,answer,correct,marked_by,score,team_total");
  assert.ok(lines.includes("1,t1,Owls,Ada; Bea,r1,q1,1,true,auto,2,3"), csv);
  assert.ok(lines.includes("2,t2,Foxes,Cy,r1,q2,Lyon,false,mc,0.5,0.5"), csv);
  for (const p of [display, mc, ada, bea, cy]) assert.deepEqual(p.errors, []);
});
