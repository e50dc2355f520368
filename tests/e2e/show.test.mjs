// The run of show (issue 11), in a real headless Chromium against the real
// server: an MC on a 1366x768 laptop drives a whole night with the panel's
// primary button alone, two projectors (1280x720 and 1920x1080) must show
// everything without scrolling at every step, three phones show verdicts,
// and axe-core finds nothing on any page in any state visited. Screenshots
// of every step land in tests/e2e/artifacts/show-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ARTIFACTS, startServer, launchBrowser, newPage, see as seeText, axe } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));

let server, base, browser;

before(async () => {
  ({ server, base } = await startServer("show", ["--heartbeat-ms", "2000"]));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

const page = (opts = {}) => newPage(browser, opts);
const see = seeText;

/** The MC's current-state block (with its primary button) is on screen, also scrolled to the bottom. */
async function nowInView(mc, label) {
  for (const y of [0, 100000]) {
    const r = await mc.evaluate((y) => {
      window.scrollTo(0, y);
      const b = document.getElementById("now-block").getBoundingClientRect();
      const p = document.getElementById("primary").getBoundingClientRect();
      return { top: b.top, bottom: b.bottom, left: b.left, right: b.right, ptop: p.top, pbottom: p.bottom, w: innerWidth, h: innerHeight };
    }, y);
    assert.ok(r.top >= 0 && r.bottom <= r.h && r.left >= 0 && r.right <= r.w && r.ptop >= 0 && r.pbottom <= r.h,
      `${label}: the current-state block is out of view at scroll ${y}: ${JSON.stringify(r)}`);
  }
  await mc.evaluate(() => window.scrollTo(0, 0));
}

/** Nothing on the display is outside the screen or cut off by its panel; the page never scrolls. */
async function fits(d, label) {
  const bad = await d.evaluate(() => {
    const out = [];
    const W = innerWidth, H = innerHeight;
    const doc = document.documentElement;
    if (doc.scrollHeight > H + 1 || doc.scrollWidth > W + 1) out.push(`page scrolls: ${doc.scrollWidth}x${doc.scrollHeight}`);
    for (const el of document.querySelectorAll("main *")) {
      if (!el.getClientRects().length) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const name = el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className;
      if (r.top < -1 || r.left < -1 || r.bottom > H + 1 || r.right > W + 1) out.push(`${name} off screen: ${JSON.stringify(r)}`);
      const panel = el.closest(".panel");
      if (panel && panel !== el) {
        const pr = panel.getBoundingClientRect();
        if (r.bottom > pr.bottom + 1 || r.right > pr.right + 1) out.push(`${name} cut off by its panel: ${r.bottom} > ${pr.bottom}`);
      }
    }
    return out;
  });
  assert.deepEqual(bad, [], `display ${label}`);
}

async function answerText(p, value) {
  await p.fill("#answer", value);
  await p.click("#stage form button[type=submit]");
  await see(p, "#answer-status", "Answer saved");
}

test("a night run by the MC panel's primary button alone", async () => {
  const mc = await page({ width: 1366, height: 768 });
  const d720 = await page({ width: 1280, height: 720 });
  const d1080 = await page({ width: 1920, height: 1080 });
  const phones = { ada: await page({ phone: true }), bob: await page({ phone: true }), cy: await page({ phone: true }) };
  const { ada, bob, cy } = phones;
  const all = { mc, "display-720": d720, "display-1080": d1080, ...phones };
  let n = 0;
  /** One step of the show: screenshots of every page, the layout checks, axe when asked. */
  const checkpoint = async (name, { a11y = false } = {}) => {
    n++;
    await nowInView(mc, name);
    await fits(d720, `1280x720 at ${name}`);
    await fits(d1080, `1920x1080 at ${name}`);
    const tag = String(n).padStart(2, "0");
    for (const [who, p] of Object.entries(all)) {
      if (who === "bob" || who === "cy") continue;
      await p.screenshot({ path: join(ARTIFACTS, `show-${tag}-${name}-${who}.png`) });
    }
    if (a11y) for (const [who, p] of Object.entries(all)) await axe(p, `${who} at ${name}`);
  };
  const primary = async (label) => {
    await see(mc, "#primary", label);
    await mc.click("#primary");
  };

  await mc.goto(`${base}/mc`);
  await axe(mc, "mc setup");
  await mc.fill("#new-title", "Show night");
  await mc.click("#create-btn");
  await mc.waitForFunction(() => /^[A-Z2-9]{5}$/.test(document.getElementById("code").textContent));
  const code = await mc.textContent("#code");
  await see(mc, "#primary", "Load a quiz first");
  assert.equal(await mc.isDisabled("#primary"), true);
  await mc.click("#quiz-example");
  await see(mc, "#quiz-summary", "2 rounds");
  // (The summary shows "2 rounds" from the load's reply, a moment before the snapshot that collapses the panel.)
  await mc.waitForFunction(() => !document.getElementById("quiz-panel").open, null, { timeout: 5000 })
    .catch(() => assert.fail("the quiz panel is collapsed once loaded"));
  // The MC link carries the session to another device.
  assert.match(await mc.inputValue("#share-link"), new RegExp(`/mc#code=${code}&token=`));

  await d720.goto(`${base}/display/${code}`);
  await d1080.goto(`${base}/display/${code}`);
  for (const [name, p] of Object.entries(phones)) {
    await p.goto(`${base}/join/${code}`);
    await p.fill("#name", name[0].toUpperCase() + name.slice(1));
    await p.click("#join-btn");
    await see(p, "#stage", "You're in");
  }
  for (const d of [d720, d1080]) { await see(d, "#wall", "Ada"); await see(d, "#wall", "Cy"); await see(d, "#players", "3 players"); }
  // Secondary actions the lobby forbids say why.
  assert.equal(await mc.getAttribute("#close-q", "aria-disabled"), "true");
  assert.match(await mc.getAttribute("#close-q", "title"), /No question is open/);
  await checkpoint("lobby", { a11y: true });

  // Round 1.
  await primary("Start round 1: General Knowledge");
  for (const p of [ada, d720]) await see(p, "#round-banner", "General Knowledge");
  await checkpoint("round-1");

  // Q1 with a short limit: Ada types but never presses Submit; it is sent at the deadline.
  await mc.fill("#time-limit", "4");
  await primary("Open question 1 of 4");
  for (const p of Object.values(phones)) await see(p, "#prompt", "capital of France");
  await ada.fill("#answer", "Paris");
  await see(ada, "#draft-note", "will be sent when the time runs out");
  await answerText(bob, "Lyon");
  await see(mc, "#answers", "Lyon");
  await see(mc, "#waiting", "Ada");
  await checkpoint("q1-open", { a11y: true });
  for (const p of [ada, bob]) await see(p, "#stage", "Time's up!", 10000);
  await see(mc, "#answers", "Paris");
  assert.equal(await mc.inputValue("#time-limit"), "", "the time limit was for that question only");
  await primary("Reveal");
  await see(ada, "#verdict", "Correct! +1");
  await see(bob, "#verdict", "Not this time");
  await see(cy, "#verdict", "No answer this time");
  await see(d720, "#reveal", "Paris");
  await checkpoint("q1-revealed", { a11y: true });

  // Q2, a choice question, closed by the MC.
  await primary("Open question 2 of 4");
  await see(ada, "#prompt", "largest planet");
  await see(d720, "#choices", "Jupiter");
  await ada.click("#stage .choices button:nth-child(2)");
  await see(ada, "#answer-status", "Answer saved");
  await bob.click("#stage .choices button:nth-child(1)");
  await see(bob, "#answer-status", "Answer saved");
  await see(mc, "#answered", "2 of 3 answered");
  await checkpoint("q2-open", { a11y: true });
  await primary("Close now");
  await primary("Reveal");
  await see(ada, "#verdict", "Correct! +2");
  await see(bob, "#verdict", "Not this time");
  await see(d720, "#distribution", "Jupiter ✓");
  await checkpoint("q2-revealed");

  // Q3, a number.
  await primary("Open question 3 of 4");
  await see(ada, "#prompt", "land on the Moon");
  await answerText(ada, "1969");
  await answerText(bob, "1970");
  await primary("Close now");
  await primary("Reveal");
  await see(ada, "#verdict", "Correct! +1");
  await see(bob, "#verdict", "Not this time");
  // The verdict comes from the server's award: a reload keeps it exact.
  for (const p of [ada, bob]) await p.reload();
  await see(ada, "#verdict", "Correct! +1");
  await see(bob, "#verdict", "Not this time");
  await checkpoint("q3-revealed");

  // Q4, marked by the MC from the live answers.
  await primary("Open question 4 of 4");
  await see(ada, "#prompt", "rhymes with");
  await answerText(ada, "Sporange");
  await answerText(cy, "Door hinge");
  await see(mc, "#answers", "Sporange");
  await primary("Close now");
  await primary("Reveal");
  await see(ada, "#verdict", "Waiting for the marks");
  await mc.click('#answers button[aria-label="Give Ada 1 point"]');
  await see(ada, "#verdict", "Marked by the quiz master: +1");
  await checkpoint("q4-marked", { a11y: true });
  await ada.reload();
  await see(ada, "#verdict", "Marked by the quiz master: +1");

  // Between rounds, the primary button shows the standings on every screen.
  await primary("Show leaderboard");
  for (const d of [d720, d1080]) { await see(d, "#board-moment", "Leaderboard"); await see(d, "#moment", "Ada"); }
  await see(ada, "#my-standing", "You are #1");
  await see(cy, "#board-moment", "The leaderboard");
  await cy.reload();
  await see(cy, "#board-moment", "The leaderboard");
  assert.equal(await mc.textContent("#board-toggle"), "Hide leaderboard");
  await see(mc, "#now", "Showing the leaderboard");
  await checkpoint("leaderboard-moment", { a11y: true });

  // Round 2: pictures, peer-marked.
  await primary("Start round 2: Famous Landmarks");
  for (const p of [ada, d1080]) await see(p, "#round-banner", "Famous Landmarks");
  await primary("Open question 1 of 2");
  for (const p of [ada, d720, d1080]) await p.waitForSelector("img.question");
  await answerText(ada, "Eiffel Tower");
  await answerText(bob, "Big Ben");
  await answerText(cy, "Tour Eiffel");
  await checkpoint("q5-picture-open", { a11y: true });
  await primary("Close now");
  await primary("Reveal");
  await see(d720, "#reveal", "Eiffel Tower");
  await checkpoint("q5-picture-revealed");
  await primary("Open question 2 of 2");
  await see(ada, "#prompt", "In which city");
  await answerText(ada, "San Francisco");
  await answerText(bob, "Oakland");
  await primary("Close now");
  await primary("Reveal");
  await checkpoint("q6-revealed");

  await primary("Start marking");
  for (const p of Object.values(phones)) {
    await see(p, "#stage", "Mark another player's answers");
    for (const sel of await p.$$(".mark-item select")) {
      const values = await sel.evaluate((s) => [...s.options].map((o) => o.value).filter(Boolean));
      await sel.selectOption(values.at(-1));
    }
    await p.waitForFunction(() => /^(\d+) of \1 marked$/.test(document.getElementById("marking-progress")?.textContent || ""));
  }
  await see(mc, "#primary-hint", "All marks are in");
  await checkpoint("marking", { a11y: true });
  await primary("End marking");
  for (const p of Object.values(phones)) await see(p, "#mark-note", "Marked by your peers: +");
  await checkpoint("marking-ended");
  // The MC moves to another device: the round is known to be marked there.
  const mc2 = await page({ width: 1366, height: 768 });
  await mc2.goto(await mc.inputValue("#share-link"));
  await see(mc2, "#primary", "End the quiz");
  await mc2.context().close();

  await primary("End the quiz");
  for (const p of Object.values(phones)) await see(p, "#final", "You finished #");
  for (const d of [d720, d1080]) await see(d, "#podium", "1st");
  await see(mc, "#results", "Final results");
  await see(mc, "#primary", "New session");
  await checkpoint("ended", { a11y: true });

  // A reload after the end still shows the final rank, podium and results.
  for (const p of [ada, d720, mc]) await p.reload();
  await see(ada, "#final", "You finished #1");
  await see(d720, "#podium", "Ada");
  await see(mc, "#results-rows", "Ada");
  await checkpoint("reloaded-after-end", { a11y: true });

  await mc.click("#primary");
  assert.equal(await mc.isVisible("#setup"), true, "New session goes back to the start");
  for (const [who, p] of Object.entries(all)) assert.deepEqual(p.errors, [], `${who} page errors`);
});

test("a kicked player is kept out, by name and by device, until the MC lets them back", async () => {
  const mc = await page({ width: 1366, height: 768 });
  await mc.goto(`${base}/mc`);
  await mc.fill("#new-title", "Kick night");
  await mc.click("#create-btn");
  await mc.waitForFunction(() => /^[A-Z2-9]{5}$/.test(document.getElementById("code").textContent));
  const code = await mc.textContent("#code");
  const p = await page({ phone: true });
  await p.goto(`${base}/join/${code}`);
  await p.fill("#name", "Mallory");
  await p.click("#join-btn");
  await see(p, "#stage", "You're in");
  await see(mc, "#players", "Mallory");
  await mc.click('#players button[aria-label="Kick Mallory"]');
  await see(p, "#join-error", "removed");
  // The same name, or another name from the same phone: refused, with the reason.
  for (const name of ["Mallory", "Totally New"]) {
    await p.fill("#name", name);
    await p.click("#join-btn");
    await see(p, "#join-error", "The quiz master removed you");
  }
  await see(mc, "#bans", "Mallory");
  await axe(mc, "mc with a removed player");
  await mc.screenshot({ path: join(ARTIFACTS, "show-kept-out-mc.png") });
  await p.screenshot({ path: join(ARTIFACTS, "show-kept-out-phone.png") });
  await mc.click('#bans button[aria-label="Let back in Mallory"]');
  await mc.waitForFunction(() => document.getElementById("bans-block").classList.contains("hidden"));
  await p.fill("#name", "Mallory");
  await p.click("#join-btn");
  await see(p, "#stage", "You're in");
  await axe(p, "player back in");
  for (const x of [mc, p]) assert.deepEqual(x.errors, []);
  await mc.context().close();
  await p.context().close();
});

test("a player on long polling leaves over HTTP", async () => {
  const r = await (await fetch(`${base}/api/sessions`, { method: "POST" })).json();
  const p = await page({ phone: true, blockableWebSocket: true });
  await p.goto(`${base}/join/${r.code}`);
  await p.fill("#name", "Polly");
  await p.click("#join-btn");
  await see(p, "#conn", "live (fallback)");
  await p.click("#leave");
  await see(p, "#join-error", "You left the quiz");
  const state = await (await fetch(`${base}/api/sessions/${r.code}/state`, { headers: { authorization: `Bearer ${r.mcToken}` } })).json();
  assert.equal(state.totalPlayers, 0, JSON.stringify(state));
  // Leaving keeps nobody out.
  await p.fill("#name", "Polly");
  await p.click("#join-btn");
  await see(p, "#stage", "You're in");
  assert.deepEqual(p.errors, []);
  await p.context().close();
});

test("a phone falls back to long polling, comes back to WebSocket, and shows offline within 2 s", async () => {
  const r = await (await fetch(`${base}/api/sessions`, { method: "POST" })).json();
  const mcCall = (path, body) => fetch(`${base}/api/sessions/${r.code}${path}`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${r.mcToken}` }, body: JSON.stringify(body) });
  await fetch(`${base}/api/sessions/${r.code}/quiz`, { method: "PUT", headers: { "content-type": "application/json", authorization: `Bearer ${r.mcToken}` },
    body: readFileSync(join(here, "../../examples/friday-quiz.json")) });
  const p = await page({ phone: true, blockableWebSocket: true });
  await p.goto(`${base}/join/${r.code}`);
  await p.fill("#name", "Flip");
  await p.click("#join-btn");
  await see(p, "#conn", "live (fallback)");
  assert.equal(await p.evaluate(() => window.quizClient.mode), "poll");
  await mcCall("/question", { questionId: "q2", timeLimitSec: 0 });
  await see(p, "#prompt", "largest planet");
  await p.screenshot({ path: join(ARTIFACTS, "show-polling.png") });

  // WebSockets work again: the next probe takes the client back.
  await p.evaluate(() => { window.blockWS = false; });
  await p.waitForFunction(() => window.quizClient.mode === "ws" && document.getElementById("conn").textContent === "live", null, { timeout: 10000 });
  await mcCall("/question/close", {});
  await see(p, "#stage", "Time's up!");
  await mcCall("/question", { questionId: "q3", timeLimitSec: 0 });
  await see(p, "#prompt", "land on the Moon");
  await answerText(p, "1969");

  // The network goes: "offline" within 2 s; back: live again.
  const t0 = Date.now();
  await p.context().setOffline(true);
  await p.waitForFunction(() => /offline/.test(document.getElementById("conn").textContent), null, { timeout: 2000 });
  assert.ok(Date.now() - t0 < 2000, `offline shown after ${Date.now() - t0} ms`);
  await p.context().setOffline(false);
  await p.waitForFunction(() => document.getElementById("conn").textContent === "live", null, { timeout: 15000 });
  await axe(p, "player after the round trip");

  // Leave: the player is gone from the quiz and back at the join form.
  await p.click("#leave");
  await see(p, "#join-error", "You left the quiz");
  const state = await (await fetch(`${base}/api/sessions/${r.code}/state`, { headers: { authorization: `Bearer ${r.mcToken}` } })).json();
  assert.equal(state.players.length, 0, JSON.stringify(state.players));
  assert.deepEqual(p.errors, []);
});

test("assets are compressed, fingerprinted and cacheable", async () => {
  const html = await fetch(`${base}/join/ABCDE`, { headers: { "accept-encoding": "gzip" } });
  assert.equal(html.headers.get("content-encoding"), "gzip");
  const etag = html.headers.get("etag");
  assert.ok(etag);
  const body = await html.text();
  // The page names everything it needs up front: one round trip after the HTML.
  const css = body.match(/href="(\/static\/style\.[0-9a-f]{8}\.css)"/)?.[1];
  const js = body.match(/src="(\/static\/player\.[0-9a-f]{8}\.js)"/)?.[1];
  const pre = body.match(/rel="modulepreload" href="(\/static\/client\.[0-9a-f]{8}\.js)"/)?.[1];
  assert.ok(css && js && pre, body);
  for (const url of [css, js, pre]) {
    const a = await fetch(base + url, { headers: { "accept-encoding": "gzip" } });
    assert.equal(a.status, 200);
    assert.equal(a.headers.get("content-encoding"), "gzip", url);
    assert.match(a.headers.get("cache-control"), /immutable/);
  }
  const player = await (await fetch(base + js)).text();
  assert.ok(player.includes(pre), "player.js imports the same fingerprinted client.js");
  const again = await fetch(`${base}/join/ABCDE`, { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  const plain = await fetch(`${base}/static/client.js`);
  assert.equal(plain.headers.get("cache-control"), "no-cache");
  assert.equal((await fetch(`${base}/static/client.js`, { headers: { "if-none-match": plain.headers.get("etag") } })).status, 304);
});

test("the lobby wall shows every name that fits and counts the rest", async () => {
  const { code } = await (await fetch(`${base}/api/sessions`, { method: "POST" })).json();
  const add = (name) => fetch(`${base}/api/sessions/${code}/players`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) });
  const d = await page({ width: 1280, height: 720 });
  await d.goto(`${base}/display/${code}`);
  await see(d, "#code", code);
  for (let i = 0; i < 150; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => add(`Player number ${i + k + 1}`)));
  await see(d, "#players", "150 players");
  await see(d, "#wall .more", "more");
  const shown = await d.evaluate(() => [...document.querySelectorAll("#wall li:not(.more)")].filter((li) => !li.hidden).length);
  const more = Number((await d.textContent("#wall .more")).match(/\d+/)[0]);
  assert.equal(shown + more, 150);
  assert.ok(shown >= 12, `only ${shown} names shown`);
  await fits(d, "1280x720 lobby with 150 players");
  // A reload keeps the wall: the names come with the display's snapshot.
  await d.reload();
  await see(d, "#wall .more", "more");
  const again = await d.evaluate(() => [...document.querySelectorAll("#wall li:not(.more)")].filter((li) => !li.hidden).length);
  assert.equal(again + Number((await d.textContent("#wall .more")).match(/\d+/)[0]), 150);
  await see(d, "#wall", "Player number 150");
  await d.screenshot({ path: join(ARTIFACTS, "show-lobby-wall-720.png") });
  await axe(d, "display lobby wall");
});
