// The whole night (issue 12, "What must show"), in a real headless Chromium
// against the real server: an MC writes a short quiz in the editor (every
// question kind, team mode with one answer sheet per team, an uploaded
// picture for a picture round and one on an answer choice), saves it,
// reloads, starts a session from it in one click; three phones join two
// teams from the join form (the MC also creates, moves, merges and removes
// teams from the panel), play every question on their team's shared sheet
// (each member sees the others' answers live, with the revision), mark the
// other team in the peer-marked picture round, and the night ends on the
// projector's team podium and a CSV by team. axe-core finds nothing in the
// editor, or on any page in any state visited. Screenshots land in
// tests/e2e/artifacts/night-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS, startServer, launchBrowser, newPage, see as seeText, axe, png } from "./harness.mjs";

let server, base, browser;

before(async () => {
  ({ server, base } = await startServer("night", ["--heartbeat-ms", "2000"]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

const page = (opts = {}) => newPage(browser, opts);
const see = (p, selector, text, timeout = 20000) => seeText(p, selector, text, timeout);
const f = (path) => "#f-" + path.replace(/[^A-Za-z0-9]+/g, "-");
const q = (ri, qi, field) => f(`rounds[${ri}].questions[${qi}].${field}`);
const MEDIA = /^\/media\/[0-9a-f]{64}\.png$/;

async function joinTeam(p, code, name, team) {
  await p.goto(`${base}/join/${code}`);
  await p.waitForSelector("#team-field:not(.hidden)");
  await p.fill("#name", name);
  await p.fill("#team", team);
  await p.click("#join-btn");
  await see(p, "#stage", `You're in, ${name}`);
}

/** The editor: writes the night's quiz, checks it survives a reload, and
 * starts a session from it; returns the MC page, the session and the
 * uploaded pictures. */
async function writeQuiz() {
  const ed = await page({ width: 1280, height: 900, downloads: true });
  await ed.goto(`${base}/editor`);
  await ed.waitForFunction(() => window.editorReady);
  await ed.click("#new-quiz");
  await ed.waitForSelector("#editor:not(.hidden)");
  await ed.fill(f("title"), "Team night");
  // Team mode, set in the editor: one answer sheet per team.
  await ed.selectOption(f("settings.teams"), "sheet");
  await ed.fill(f("settings.maxTeams"), "0");
  await see(ed, f("settings.maxTeams") + "-err", "must be 1 to 500");
  await ed.fill(f("settings.maxTeams"), "4");
  await ed.fill(f("settings.maxTeamSize"), "3");

  // Round 1: a text, a choice (a picture on the right choice) and a number question.
  await ed.click("#add-round");
  await ed.fill(f("rounds[0].name"), "General");
  await ed.fill(q(0, 0, "prompt"), "Capital of France?");
  await ed.fill(q(0, 0, "answer"), "Paris");
  await ed.fill(q(0, 0, "accept"), "Paree");
  await ed.click("button:has-text('+ Multiple choice') >> nth=0");
  await ed.fill(q(0, 1, "prompt"), "Largest planet?");
  await ed.fill(q(0, 1, "choices[0]"), "Mars");
  await ed.fill(q(0, 1, "choices[1]"), "Jupiter");
  await ed.click(`[data-focus="q-0-1-addchoice"]`);
  await ed.fill(q(0, 1, "choices[2]"), "Venus");
  await ed.check(`${f("rounds[0].questions[1].answer")}-1`);
  await ed.fill(q(0, 1, "points"), "2");
  // A choice's picture: a non-picture is refused at that choice, a PNG is kept.
  await ed.setInputFiles(q(0, 1, "choiceImages[1]"), { name: "jupiter.png", mimeType: "image/png", buffer: Buffer.from("not a picture at all") });
  await see(ed, q(0, 1, "choiceImages[1]") + "-err", "not a PNG, JPEG, WebP or GIF");
  await see(ed, "#problems", "Round 1, question 2, picture of choice 2");
  await ed.setInputFiles(q(0, 1, "choiceImages[1]"), { name: "jupiter.png", mimeType: "image/png", buffer: png(40, 40, 30) });
  await ed.waitForSelector(`img${q(0, 1, "choiceImages[1]")}`);
  const choicePic = await ed.getAttribute(`img${q(0, 1, "choiceImages[1]")}`, "src");
  assert.match(choicePic, MEDIA);
  await ed.click("button:has-text('+ Number') >> nth=0");
  await ed.fill(q(0, 2, "prompt"), "Year of the moon landing?");
  await ed.fill(q(0, 2, "answer"), "1969");
  await ed.fill(q(0, 2, "tolerance"), "1");

  // Round 2: a picture round, its question's picture uploaded, peer-marked.
  await ed.click("#add-round");
  await ed.fill(f("rounds[1].name"), "Pictures");
  await ed.selectOption(f("rounds[1].type"), "picture");
  await ed.fill(q(1, 0, "prompt"), "What colours are these?");
  await see(ed, q(1, 0, "imageUrl") + "-err", "picture rounds need an image");
  await ed.setInputFiles(q(1, 0, "imageFile"), { name: "gradient.png", mimeType: "image/png", buffer: png(64, 48) });
  await ed.waitForSelector("img.thumb:not(.choice-thumb)");
  const questionPic = await ed.inputValue(q(1, 0, "imageUrl"));
  assert.match(questionPic, MEDIA);
  await ed.fill(q(1, 0, "answer"), "Red and green");
  await ed.selectOption(q(1, 0, "marking"), "peer");
  await see(ed, "#save-state", "Saved");
  assert.equal(await ed.textContent("#problems"), "");

  // The preview shows the choice's picture as a phone and as the projector.
  await ed.click("[aria-label='Preview question 2 of round 1']");
  await see(ed, "#preview-frames", "Largest planet?");
  assert.equal(await ed.locator(`#preview-frames img.choice-pic[src="${choicePic}"]`).count(), 2);
  await ed.screenshot({ path: join(ARTIFACTS, "night-editor.png"), fullPage: true });
  await axe(ed, "editor with the night's quiz and a preview");

  // Reload: the quiz comes back from the server as written.
  await ed.reload();
  await ed.waitForFunction(() => window.editorReady);
  await ed.waitForSelector("#editor:not(.hidden)");
  assert.equal(await ed.inputValue(f("settings.teams")), "sheet");
  assert.equal(await ed.inputValue(f("settings.maxTeamSize")), "3");
  assert.equal(await ed.getAttribute(`img${q(0, 1, "choiceImages[1]")}`, "src"), choicePic);
  assert.equal(await ed.inputValue(q(1, 0, "imageUrl")), questionPic);
  assert.equal(await ed.inputValue(q(0, 2, "tolerance")), "1");
  const key = await ed.evaluate(() => localStorage.getItem("quizcast:library"));
  const id = await ed.evaluate(() => location.hash.match(/quiz=(\w+)/)[1]);
  const stored = await ed.evaluate(async ([id, key]) => (await (await fetch(`/api/library/quizzes/${id}`, { headers: { "X-Library-Key": key } })).json()).quiz, [id, key]);
  assert.deepEqual(stored.settings, { speedBonus: false, chat: false, maxPlayers: 10000, teams: "sheet", maxTeams: 4, maxTeamSize: 3 });
  assert.deepEqual(stored.rounds.map((r) => r.questions.map((x) => x.kind)), [["text", "choice", "number"], ["text"]]);
  assert.deepEqual(stored.rounds[0].questions[1].choices, ["Mars", "Jupiter", "Venus"]);
  assert.deepEqual(stored.rounds[0].questions[1].choiceImages, [null, choicePic, null]);
  await axe(ed, "editor after a reload");

  // One click starts the session: the editor becomes the MC panel.
  await ed.click("#start-session");
  await ed.waitForURL(/\/mc/);
  await see(ed, "#quiz-summary", "2 rounds, 4 questions");
  await see(ed, "#teams-mode-label", "one answer sheet per team");
  const code = await ed.textContent("#code");
  assert.ok(await ed.locator("a[href='/editor']").count() >= 1, "the MC panel links back to the editor");
  assert.deepEqual(ed.errors, []);
  return { mc: ed, code, choicePic, questionPic };
}

test("the whole night: a quiz written in the editor, played by three phones in two teams to the team podium and a CSV by team", async () => {
  const { mc, code, choicePic, questionPic } = await writeQuiz();
  const primary = async (label) => {
    await see(mc, "#primary", label);
    await mc.click("#primary");
  };
  const display = await page({ width: 1280, height: 720 });
  await display.goto(`${base}/display/${code}`);

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

  // Question 1, text: typed answers on the sheet; the MC marks a team by hand.
  await primary("Start round 1: General");
  await see(display, "#round-banner", "General");
  await primary("Open question 1 of 3");
  await see(cy, "#prompt", "Capital of France?");
  await bea.fill("#answer", "Paris");
  await bea.click("#stage form button[type=submit]");
  await see(ada, "#team-sheet", "Paris (revision 1, by Bea)");
  await cy.fill("#answer", "Lyon");
  await cy.click("#stage form button[type=submit]");
  await see(cy, "#answer-status", "Answer saved");
  await see(mc, "#team-answers", "Lyon");
  await primary("Close now");
  await primary("Reveal");
  await see(bea, "#team-line", "Team Owls · 1 point");
  await mc.click("#team-answers tr:nth-child(2) .markbtns button:nth-child(2)");
  await see(cy, "#team-line", "Team Foxes · 0.5 points");

  // Question 2, a choice with a picture: one sheet per team, each member
  // sees the other's answer live; the picture is on phones and the projector.
  await primary("Open question 2 of 3");
  await see(ada, "#prompt", "Largest planet?");
  assert.equal(await ada.getAttribute("#stage .choices button:nth-child(2) img.choice-pic", "src"), choicePic);
  assert.equal(await ada.locator("#stage .choices img.choice-pic").count(), 1, "only the choice that has one");
  await see(display, "#choices", "Jupiter");
  assert.equal(await display.getAttribute("#choices li:nth-child(2) img.choice-pic", "src"), choicePic);
  await ada.click("#stage .choices button:nth-child(1)");
  await see(bea, "#team-sheet", "Your team's answer: Mars (revision 1, by Ada)");
  await bea.click("#stage .choices button:nth-child(2)");
  await see(ada, "#team-sheet", "Your team's answer: Jupiter (revision 2, by Bea)");
  assert.equal(await ada.getAttribute("#stage .choices button:nth-child(2)", "aria-pressed"), "true");
  await cy.click("#stage .choices button:nth-child(3)");
  await see(cy, "#team-sheet", "revision 1, by Cy");
  await see(mc, "#team-answers", "Jupiter");
  await ada.screenshot({ path: join(ARTIFACTS, "night-choice-phone.png") });
  await display.screenshot({ path: join(ARTIFACTS, "night-choice-display.png") });
  await axe(bea, "phone with the team's sheet and choice pictures");
  await axe(display, "projector with choice pictures");
  await axe(mc, "MC panel with team answers");
  await primary("Close now");
  await primary("Reveal");
  await see(ada, "#team-line", "Team Owls · 3 points · #1");
  await see(bea, "#verdict", "Correct");
  await see(display, "#reveal", "Jupiter");
  assert.equal(await display.getAttribute("#reveal-picture img", "src"), choicePic);
  assert.equal(await cy.getAttribute("#correct-picture", "src"), choicePic);
  await see(display, "#board", "Owls");
  await see(display, "#side-h", "Top teams");

  // Question 3, a number.
  await primary("Open question 3 of 3");
  await see(cy, "#prompt", "Year of the moon landing?");
  await cy.fill("#answer", "1970");
  await cy.click("#stage form button[type=submit]");
  await see(cy, "#answer-status", "Answer saved");
  await ada.fill("#answer", "1975");
  await ada.click("#stage form button[type=submit]");
  await see(bea, "#team-sheet", "1975 (revision 1, by Ada)");
  await primary("Close now");
  await primary("Reveal");
  await see(cy, "#team-line", "Team Foxes · 1.5 points");

  // Round 2, the picture round: the teams mark each other's sheets.
  await primary("Show leaderboard");
  await primary("Start round 2: Pictures");
  await primary("Open question 1 of 1");
  await see(bea, "#prompt", "What colours are these?");
  assert.equal(await bea.getAttribute("#stage img.question", "src"), questionPic);
  assert.equal(await display.getAttribute("#stage img.question", "src"), questionPic);
  await bea.fill("#answer", "Red and green");
  await bea.click("#stage form button[type=submit]");
  await see(ada, "#team-sheet", "Red and green (revision 1, by Bea)");
  await cy.fill("#answer", "Blue");
  await cy.click("#stage form button[type=submit]");
  await see(cy, "#answer-status", "Answer saved");
  await primary("Close now");
  await primary("Reveal");
  await see(ada, "#verdict", "Waiting for the marks");
  await primary("Start marking");
  await see(ada, "#stage", "Mark another team's answers");
  await see(ada, ".their-answer", "Blue");
  await see(cy, ".their-answer", "Red and green");
  await axe(cy, "phone marking another team");
  await ada.selectOption(".mark-item select", "0");
  await see(ada, "#marking-progress", "1 of 1 marked");
  await cy.selectOption(".mark-item select", "1");
  await see(cy, "#marking-progress", "1 of 1 marked");
  await primary("End marking");
  await see(ada, "#team-line", "Team Owls · 4 points · #1");

  // The end: the team podium, and the results by team.
  await primary("End the quiz");
  await see(display, "#stage", "Final results: teams");
  await see(display, "#podium .p1", "Owls");
  await see(display, "#podium .p2", "Foxes");
  await see(ada, "#team-final", "Your team Owls finished #1 with 4 points");
  await see(cy, "#team-board", "Foxes");
  await display.screenshot({ path: join(ARTIFACTS, "night-podium.png") });
  await ada.screenshot({ path: join(ARTIFACTS, "night-phone.png") });
  await axe(display, "team podium");
  await axe(ada, "phone at the end in a team");
  await axe(mc, "MC panel at the end");

  // The CSV from the MC panel names each team with its members.
  const [download] = await Promise.all([mc.waitForEvent("download"), mc.click("#csv")]);
  const lines = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
  assert.equal(lines[0], "team_rank,team_id,team,members,round_id,question_id,answer,correct,marked_by,score,team_total");
  const csv = lines.join("\n");
  assert.ok(lines.includes("1,t1,Owls,Ada; Bea,r1,q2,1,true,auto,2,4"), csv);
  assert.ok(lines.includes("2,t2,Foxes,Cy,r1,q1,Lyon,false,mc,0.5,1.5"), csv);
  assert.ok(lines.includes("2,t2,Foxes,Cy,r2,q4,Blue,false,peer:t1,0,1.5"), csv);
  assert.ok(lines.includes("1,t1,Owls,Ada; Bea,r2,q4,Red and green,true,peer:t2,1,4"), csv);
  for (const p of [display, mc, ada, bea, cy]) assert.deepEqual(p.errors, []);
});
