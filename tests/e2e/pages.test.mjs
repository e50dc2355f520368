// The pages in a real headless Chromium (Debian's), driven by Playwright:
// an MC, a projector display and four players (one phone-sized, one whose
// WebSockets are blocked) run a whole quiz against the real server binary.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ARTIFACTS, startServer, launchBrowser } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));

const XSS = "<img src=x onerror=f()>";

let server, base, browser;

before(async () => {
  ({ server, base } = await startServer("e2e", ["--heartbeat-ms", "2000"]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

async function page(opts = {}) {
  const context = await browser.newContext(opts.phone
    ? { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
    : { viewport: { width: opts.width || 1280, height: opts.height || 800 } });
  await context.addInitScript(() => { window.QUIZCAST_PING_MS = 1000; });
  if (opts.noWebSocket) {
    await context.addInitScript(() => {
      // A network that refuses WebSockets: every attempt fails at once.
      window.WebSocket = class { constructor() { setTimeout(() => this.onclose?.({ code: 1006 }), 10); } send() {} close() {} };
    });
  }
  const p = await context.newPage();
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  p.on("dialog", (d) => { p.dialogs = (p.dialogs || 0) + 1; d.accept(); });
  return p;
}

/** Waits until the element's text contains `text`. */
async function see(p, selector, text, timeout = 15000) {
  try {
    await p.waitForFunction(([s, t]) => document.querySelector(s)?.textContent.includes(t), [selector, text], { timeout });
  } catch (e) {
    const got = await p.evaluate((s) => document.querySelector(s)?.textContent, selector).catch(() => "?");
    const client = await p.evaluate(() => {
      const c = window.quizClient;
      return c && { state: c.state, mode: c.mode, attempt: c.attempt, lastSeq: c.lastSeq, retrying: !!c.retryTimer,
        socket: c.ws ? c.ws.readyState : null, onLine: navigator.onLine, log: c.log.slice(-40) };
    }).catch(() => null);
    throw new Error(`${selector} never showed ${JSON.stringify(text)}; it shows ${JSON.stringify(got)}; client ${JSON.stringify(client)}`);
  }
}

async function joinAs(p, code, name) {
  await p.goto(`${base}/join/${code}`);
  assert.equal(await p.inputValue("#code"), code);
  await p.fill("#name", name);
  await p.click("#join-btn");
  await see(p, "#stage", "You're in");
}

async function answerText(p, value) {
  await p.fill("#answer", value);
  await p.click("#stage form button[type=submit]");
  await see(p, "#answer-status", "Answer saved");
}

test("a whole quiz night in the browser", async () => {
  const mc = await page({ width: 1300, height: 1400 });
  await mc.goto(`${base}/mc`);
  await mc.fill("#new-title", "Browser night");
  await mc.click("#create-btn");
  await mc.waitForFunction(() => /^[A-Z2-9]{5}$/.test(document.getElementById("code").textContent));
  const code = await mc.textContent("#code");
  assert.match(await mc.getAttribute("#qr", "src"), new RegExp(`/api/sessions/${code}/qr.svg`));
  const qr = await mc.evaluate(async (src) => (await fetch(src)).text(), await mc.getAttribute("#qr", "src"));
  assert.match(qr, /<svg/);

  // A broken quiz shows where it is wrong; the example loads.
  const bad = JSON.parse(readFileSync(join(here, "../../examples/friday-quiz.json"), "utf8"));
  bad.rounds[1].questions[0].kind = "essay";
  await mc.fill("#quiz-text", JSON.stringify(bad));
  await mc.click("#quiz-load");
  await see(mc, "#quiz-error", "rounds[1].questions[0].kind");
  await mc.click("#quiz-example");
  await see(mc, "#quiz-summary", "2 rounds");

  // The projector opens the MC panel's display link: its display token
  // rides in the fragment (tokenless displays are admitted only a couple).
  await mc.waitForFunction(() => document.getElementById("display-url").value.includes("#token="));
  const displayLink = await mc.inputValue("#display-url");
  assert.equal(await mc.getAttribute("#display-link", "href"), displayLink);
  assert.ok(displayLink.startsWith(`${base}/display/${code}#token=`), displayLink);
  const display = await page({ width: 1600, height: 900 });
  await display.goto(displayLink);
  await see(display, "#code", code);
  assert.ok(await display.evaluate(() => !!window.quizClient.token));

  const ada = await page({ phone: true });
  const bob = await page();
  const cy = await page();
  const dee = await page({ noWebSocket: true });
  await joinAs(ada, code, "Ada");
  await joinAs(bob, code, "Bob");
  await joinAs(cy, code, XSS);
  await joinAs(dee, code, "Dee");
  await see(dee, "#conn", "fallback");
  // The MC sees every player online, the polling one too.
  await mc.waitForFunction(() => [...document.querySelectorAll("#players tr")]
    .filter((tr) => tr.textContent.includes("●")).length === 4, null, { timeout: 10000 });

  // Names with markup are text everywhere.
  await see(mc, "#players", XSS);
  assert.equal(await mc.locator("#players img").count(), 0);
  await see(cy, "#me-line", XSS);
  await see(display, "#players", "4 players");

  // A timed question, closed by the timer.
  await mc.fill("#time-limit", "4");
  await mc.click("#open-next");
  for (const p of [ada, bob, cy, dee]) await see(p, "#prompt", "capital of France");
  await see(display, "#prompt", "capital of France");
  await answerText(ada, "Paris");
  await answerText(bob, "Lyon");
  await answerText(dee, "paris");
  await see(display, "#answered", "3 of 4 players answered");
  await see(mc, "#answered", "3 of 4 answered");
  for (const p of [ada, bob, cy, dee]) await see(p, "#stage", "Time's up!", 10000);
  await see(ada, "#your-answer", "Paris");

  // The reveal.
  await mc.click("#reveal-q");
  for (const p of [ada, bob, dee]) await see(p, "#correct-answer", "Paris");
  await see(ada, "#explanation", "987");
  await see(display, "#reveal", "Paris");
  await see(ada, "#me-line", "1 point");
  await see(dee, "#me-line", "1 point");

  // A choice question; the display draws the distribution.
  await mc.fill("#time-limit", "0");
  await mc.click("#open-next");
  await see(ada, "#prompt", "largest planet");
  await ada.click("#stage .choices button:nth-child(2)");
  await see(ada, "#answer-status", "Answer saved");
  await bob.click("#stage .choices button:nth-child(1)");
  await see(bob, "#answer-status", "Answer saved");
  await mc.click("#reveal-q");
  await see(display, "#distribution", "Jupiter ✓");

  // The picture round, peer-marked. Bob is offline when it opens.
  await bob.context().setOffline(true);
  await mc.selectOption("#question-select", "q5");
  await mc.click("#open-selected");
  await see(ada, "#prompt", "Name this landmark");
  await ada.waitForSelector("img.question");
  await answerText(ada, "Eiffel Tower");
  await answerText(cy, "Tour Eiffel");
  // Cy answers while offline: queued, then saved once back.
  await cy.context().setOffline(true);
  await cy.fill("#answer", "La Tour Eiffel");
  await cy.click("#stage form button[type=submit]");
  await see(cy, "#answer-status", "Saving");
  await bob.context().setOffline(false);
  await see(bob, "#prompt", "Name this landmark", 20000);
  await answerText(bob, "Big Ben");
  await cy.context().setOffline(false);
  await see(cy, "#answer-status", "Answer saved", 20000);
  await mc.click("#close-q");
  await mc.selectOption("#round-select", "r2");
  await mc.click("#marking-on");
  for (const p of [ada, bob, cy]) {
    await see(p, "#stage", "Mark another player's answers");
    await p.selectOption(".mark-item select", "2");
    await see(p, "#marking-progress", "1 of 1 marked");
  }
  await see(mc, "#marking-progress", "all marks are in");
  await mc.click("#marking-off");
  await see(ada, "#me-line", "5 points");

  // Chat both ways (the example quiz turns it on).
  await ada.fill("#chat-text", "good luck <b>all</b>");
  await ada.click("#chat-form button");
  await see(bob, "#chat-log", "good luck <b>all</b>");
  await see(mc, "#chat-log", "Ada: good luck");
  assert.equal(await bob.locator("#chat-log b").count(), 0);
  await mc.fill("#chat-text", "two minutes left");
  await mc.click("#chat-form button");
  await see(ada, "#chat-log", "two minutes left");

  // An override from the MC panel moves the leaderboard.
  await mc.selectOption("#ov-player", { label: "Dee" });
  await mc.selectOption("#ov-question", "q4");
  await mc.fill("#ov-score", "1");
  await mc.click("#override-form button");
  await see(dee, "#me-line", "2 points");

  // Results download.
  const [download] = await Promise.all([mc.waitForEvent("download"), mc.click("#csv")]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.match(csv.split("\n")[0], /^rank,player_id,name,round_id,question_id,answer,correct,marked_by,score,total$/);
  assert.ok(csv.includes("Eiffel Tower"));

  // Kicking a player: their page says so and offers to join again.
  const kicked = await page({ phone: true });
  await kicked.goto(`${base}/join/${code}`);
  await kicked.fill("#name", "Kicked");
  await kicked.click("#join-btn");
  await see(kicked, "#me-line", "Kicked");
  await see(mc, "#players", "Kicked");
  await mc.click('#players button[aria-label="Kick Kicked"]');
  await see(kicked, "#join-error", "removed from the quiz");
  assert.equal(await kicked.isVisible("#join"), true);

  // The end.
  await mc.click("#end");
  for (const p of [ada, bob, cy, dee]) await see(p, "#stage", "The quiz is over");
  await see(display, "#stage", "Final results");
  await see(display, "#podium", "Ada");
  assert.equal(await ada.isVisible("#chat-form"), false, "no chat box on the end screen");
  await mc.waitForFunction(() => ![...document.querySelectorAll("#players tr")].some((tr) => tr.textContent.includes("●")));

  for (const [name, p] of Object.entries({ mc, display, "player-phone": ada, "player-bob": bob, "player-markup": cy, "player-polling": dee })) {
    await p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    assert.deepEqual(p.errors, [], `${name} page errors`);
  }
  assert.equal(cy.dialogs || 0, 0, "no script from a name ever ran");
});

test("the dashboard charts live stats", async () => {
  const p = await page();
  await p.goto(`${base}/dashboard`);
  await see(p, "#status", "Up ");
  // Some live traffic: a display watching players join.
  const { code } = await (await fetch(`${base}/api/sessions`, { method: "POST" })).json();
  const d = await page();
  await d.goto(`${base}/display/${code}`);
  await see(d, "#code", code);
  for (let i = 0; i < 5; i++) {
    await fetch(`${base}/api/sessions/${code}/players`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: `Dash ${i}` }) });
    await new Promise((r) => setTimeout(r, 700));
  }
  await p.waitForFunction(() => Number(document.getElementById("v-connections").textContent) >= 1, null, { timeout: 10000 });
  await p.waitForFunction(() => Number(document.getElementById("v-msgs").textContent) > 0
    || [...document.querySelectorAll("polyline")].some((l) => (l.getAttribute("points") || "").split(" ").length > 3), null, { timeout: 10000 });
  await p.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
  assert.deepEqual(p.errors, []);
});

test("the join page explains a wrong code and a taken name", async () => {
  const p = await page({ phone: true });
  await p.goto(`${base}/`);
  await p.fill("#code", "ZZZZZ");
  await p.fill("#name", "Zed");
  await p.click("#join-btn");
  await see(p, "#join-error", "no quiz with that code");
  const r = await fetch(`${base}/api/sessions`, { method: "POST" });
  const { code } = await r.json();
  await fetch(`${base}/api/sessions/${code}/players`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "Zed" }) });
  await p.fill("#code", code);
  await p.click("#join-btn");
  await see(p, "#join-error", "already has that name");
  // Joined, then a reload: back in at once with the saved token.
  await p.fill("#name", "Zoe");
  await p.click("#join-btn");
  await see(p, "#stage", "You're in, Zoe");
  await p.reload();
  await see(p, "#stage", "You're in, Zoe");
  assert.equal(await p.isVisible("#join"), false);
});
