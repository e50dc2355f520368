// The quiz editor's mechanics (issue 12) in a real headless Chromium against
// the real server: an MC writes a short quiz with every question kind and
// pictures, sees validation at the field as they type, reorders (buttons and
// drag), duplicates and deletes, uploads pictures by picker, paste and drop
// (for a question and for a choice), previews, reloads (nothing lost, not
// even an unfinished edit), exports and re-imports it as a package, copies
// and deletes quizzes, and opens the library from another device. axe-core
// finds nothing in the editor in any state visited. Starting a session from
// the editor and playing it is the whole night in night.test.mjs.
// Screenshots land in tests/e2e/artifacts/editor-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ARTIFACTS, startServer, launchBrowser, newPage, see as seeText, axe, png } from "./harness.mjs";


let server, base, browser;

before(async () => {
  ({ server, base } = await startServer("editor", []));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

const page = () => newPage(browser, { width: 1280, height: 900, downloads: true });
const see = (p, selector, text, timeout = 30000) => seeText(p, selector, text, timeout);

const shot = (p, name) => p.screenshot({ path: join(ARTIFACTS, `editor-${name}.png`), fullPage: true });
const f = (path) => "#f-" + path.replace(/[^A-Za-z0-9]+/g, "-");
const q = (ri, qi, field) => f(`rounds[${ri}].questions[${qi}].${field}`);
const saved = (p) => see(p, "#save-state", "Saved");

test("an MC writes a quiz with every kind and pictures, reorders, reloads, exports, imports and copies it", async () => {
  const p = await page();
  await p.goto(`${base}/editor`);
  await p.waitForFunction(() => window.editorReady);
  await see(p, "#library-empty", "No quizzes yet");
  await axe(p, "empty library");
  const key = await p.evaluate(() => localStorage.getItem("quizcast:library"));
  assert.match(key, /^[0-9a-f]{32}$/);
  assert.equal(await p.inputValue("#library-link"), `${base}/editor#library=${key}`);

  await p.click("#new-quiz");
  await p.waitForSelector("#editor:not(.hidden)");
  await p.fill(f("title"), "Editor night");
  await p.click("#add-round");
  await p.fill(f("rounds[0].name"), "General");

  // Validation at the field, as you type: the new question has no prompt yet.
  await see(p, "#problems", "Round 1, question 1, question: must not be empty");
  await see(p, q(0, 0, "prompt") + "-err", "must not be empty");
  assert.equal(await p.getAttribute(q(0, 0, "prompt"), "aria-invalid"), "true");
  await see(p, "#save-state", "Not saved yet");
  await shot(p, "invalid");
  await axe(p, "a field in error");

  await p.fill(q(0, 0, "prompt"), "Capital of France?");
  await p.fill(q(0, 0, "answer"), "Paris");
  await p.fill(q(0, 0, "accept"), "Paree\nParis, France");
  await p.fill(q(0, 0, "timeLimitSec"), "30");
  await p.fill(q(0, 0, "explanation"), "Since 987.");
  await saved(p);
  assert.equal(await p.textContent("#problems"), "");

  await p.click("button:has-text('+ Multiple choice') >> nth=0");
  await p.fill(q(0, 1, "prompt"), "Largest planet?");
  await p.fill(q(0, 1, "choices[0]"), "Mars");
  await p.fill(q(0, 1, "choices[1]"), "Jupiter");
  await p.click(`[data-focus="q-0-1-addchoice"]`);
  await p.fill(q(0, 1, "choices[2]"), "Venus");
  await p.check(`${f("rounds[0].questions[1].answer")}-1`);
  await p.fill(q(0, 1, "points"), "2");
  await p.selectOption(q(0, 1, "marking"), "auto");

  await p.click("button:has-text('+ Number') >> nth=0");
  await p.fill(q(0, 2, "prompt"), "Year of the moon landing?");
  await p.fill(q(0, 2, "points"), "0.3");
  await see(p, q(0, 2, "points") + "-err", "multiple of 0.5");
  await p.fill(q(0, 2, "points"), "1");
  await p.fill(q(0, 2, "answer"), "1969");
  await p.fill(q(0, 2, "tolerance"), "1");
  await saved(p);

  // Reorder with the keyboard's buttons; duplicate and delete.
  await p.click("[aria-label='Move question 3 of round 1 up']");
  assert.equal(await p.inputValue(q(0, 1, "prompt")), "Year of the moon landing?");
  assert.equal(await p.evaluate(() => document.activeElement.getAttribute("aria-label")), "Move question 2 of round 1 up", "focus follows the moved question");
  await p.click("[aria-label='Move question 2 of round 1 down']");
  assert.equal(await p.inputValue(q(0, 2, "prompt")), "Year of the moon landing?");
  // ...and by dragging a question's handle onto another question (on a
  // screen tall enough to hold both).
  await p.setViewportSize({ width: 1280, height: 3400 });
  await p.evaluate(() => window.scrollTo(0, 0));
  const onto = { targetPosition: { x: 40, y: 12 } };
  await p.dragAndDrop('[data-question="0:2"] .handle', '[data-question="0:0"]', onto);
  assert.equal(await p.inputValue(q(0, 0, "prompt")), "Year of the moon landing?");
  await p.dragAndDrop('[data-question="0:0"] .handle', '[data-question="0:2"]', onto);
  assert.equal(await p.inputValue(q(0, 2, "prompt")), "Year of the moon landing?");
  await p.setViewportSize({ width: 1280, height: 900 });
  await p.click("[aria-label='Duplicate question 1 of round 1']");
  assert.equal(await p.inputValue(q(0, 1, "prompt")), "Capital of France?");
  await p.click("[aria-label='Delete question 2 of round 1']");
  assert.equal(await p.inputValue(q(0, 1, "prompt")), "Largest planet?");

  // A picture round with an uploaded picture.
  await p.click("#add-round");
  await p.fill(f("rounds[1].name"), "Pictures");
  await p.fill(q(1, 0, "prompt"), "What colours are these?");
  await p.selectOption(f("rounds[1].type"), "picture");
  await see(p, q(1, 0, "imageUrl") + "-err", "picture rounds need an image");
  await p.setInputFiles(q(1, 0, "imageFile"), { name: "gradient.png", mimeType: "image/png", buffer: png(64, 48) });
  await p.waitForSelector("img.thumb");
  assert.match(await p.inputValue(q(1, 0, "imageUrl")), /^\/media\/[0-9a-f]{64}\.png$/);
  await p.fill(q(1, 0, "answer"), "Red and green");
  await p.selectOption(q(1, 0, "marking"), "peer");
  await saved(p);

  // Pasting a picture while in a question, and dropping one onto it, upload it too.
  const drop = async (how, buffer) => {
    const before = await p.inputValue(q(1, 0, "imageUrl"));
    await p.focus(q(1, 0, "prompt"));
    await p.evaluate(([how, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
      if (how === "paste") document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
      else document.querySelector('[data-question="1:0"]').dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [how, buffer.toString("base64")]);
    await p.waitForFunction(([sel, before]) => document.querySelector(sel)?.value !== before, [q(1, 0, "imageUrl"), before]);
  };
  await drop("paste", png(32, 32));
  await drop("drop", png(64, 48));
  await saved(p);

  // The same for a choice: pasting while in a choice's row, or dropping on
  // the row, gives that choice its picture (not the question).
  const choicePicture = async (how, ci, buffer) => {
    await p.focus(q(0, 1, `choices[${ci}]`));
    await p.evaluate(([how, ci, b64]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], "choice.png", { type: "image/png" }));
      const row = document.querySelector(`[data-question="0:1"] li.choice[data-choice="${ci}"]`);
      if (how === "paste") document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true }));
      else row.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, [how, ci, buffer.toString("base64")]);
    await p.waitForSelector(`img${q(0, 1, `choiceImages[${ci}]`)}`);
  };
  await choicePicture("paste", 0, png(20, 20, 10));
  await choicePicture("drop", 2, png(20, 20, 250));
  assert.equal(await p.locator(`img${q(0, 1, "choiceImages[1]")}`).count(), 0, "the other choices have none");
  await saved(p);

  // A text file is refused at the field, and nothing changes.
  await p.setInputFiles(q(1, 0, "imageFile"), { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("just some text, honest") });
  await see(p, "#problems", "not a PNG, JPEG, WebP or GIF");
  assert.match(await p.inputValue(q(1, 0, "imageUrl")), /^\/media\//);

  // Preview as a phone and as the projector.
  await p.click("[aria-label='Preview question 1 of round 2']");
  await see(p, "#preview-frames", "What colours are these?");
  assert.equal(await p.locator("#preview-frames img.question").count(), 2);
  await p.check("#preview-reveal");
  await see(p, "#preview-frames .pv-projector", "Answer: Red and green");
  await shot(p, "preview");
  await axe(p, "editor with preview");

  // Reload: the quiz comes back from the server as it was.
  const id = await p.evaluate(() => location.hash.match(/quiz=(\w+)/)[1]);
  await p.reload();
  await p.waitForFunction(() => window.editorReady);
  await p.waitForSelector("#editor:not(.hidden)");
  assert.equal(await p.inputValue(f("title")), "Editor night");
  assert.equal(await p.inputValue(q(0, 0, "accept")), "Paree\nParis, France");
  assert.equal(await p.inputValue(q(0, 1, "choices[2]")), "Venus");
  assert.equal(await p.isChecked(`${f("rounds[0].questions[1].answer")}-1`), true);
  assert.equal(await p.inputValue(q(0, 2, "tolerance")), "1");
  assert.equal(await p.inputValue(f("rounds[1].type")), "picture");

  // An unfinished edit survives a reload too (kept in this browser).
  await p.fill(q(0, 0, "prompt"), "");
  await see(p, "#save-state", "Not saved yet");
  await p.reload();
  await p.waitForFunction(() => window.editorReady);
  await see(p, "#save-state", "Restored changes");
  assert.equal(await p.inputValue(q(0, 0, "prompt")), "");
  await p.fill(q(0, 0, "prompt"), "Capital of France?");
  await saved(p);

  const stored = await p.evaluate(async ([id, key]) => (await (await fetch(`/api/library/quizzes/${id}`, { headers: { "X-Library-Key": key } })).json()).quiz, [id, key]);
  assert.deepEqual(stored.rounds.map((r) => r.questions.map((x) => x.kind)), [["text", "choice", "number"], ["text"]]);
  assert.deepEqual(stored.rounds[0].questions[0].accept, ["Paree", "Paris, France"]);
  assert.equal(stored.rounds[0].questions[1].answer, 1);
  const pics = stored.rounds[0].questions[1].choiceImages;
  assert.equal(pics.length, 3);
  assert.match(pics[0], /^\/media\/[0-9a-f]{64}\.png$/);
  assert.equal(pics[1], null);
  assert.match(pics[2], /^\/media\/[0-9a-f]{64}\.png$/);
  assert.equal(stored.settings.maxPlayers, 10000);
  await shot(p, "quiz");
  await axe(p, "whole quiz");

  // Export, then import the file as a second quiz.
  const [download] = await Promise.all([p.waitForEvent("download"), p.click("#export")]);
  assert.match(download.suggestedFilename(), /^Editor-night\.quizcast\.zip$/);
  const zipPath = join(ARTIFACTS, "editor-export.zip");
  await download.saveAs(zipPath);
  await p.click("#close-quiz");
  await see(p, "#library-list", "Editor night");
  await axe(p, "library with a quiz");
  await p.setInputFiles("#import-file", zipPath);
  await p.waitForSelector("#editor:not(.hidden)");
  await p.waitForFunction((id) => !location.hash.includes(id), id);
  assert.equal(await p.inputValue(q(0, 1, "choices[2]")), "Venus");
  assert.match(await p.inputValue(q(1, 0, "imageUrl")), /^\/media\/[0-9a-f]{64}\.png$/);
  assert.equal(await p.getAttribute(`img${q(0, 1, "choiceImages[2]")}`, "src"), pics[2], "choice pictures travel in the package");
  // Removing a choice's picture, then the choice itself, keeps the rest in step.
  await p.click("[aria-label='Remove the picture of choice 1']");
  await p.waitForSelector(`input${q(0, 1, "choiceImages[0]")}`);
  await p.click("[aria-label='Remove choice 1']");
  assert.equal(await p.inputValue(q(0, 1, "choices[1]")), "Venus");
  assert.equal(await p.getAttribute(`img${q(0, 1, "choiceImages[1]")}`, "src"), pics[2]);
  await saved(p);
  await p.click("#close-quiz");
  await p.waitForFunction(() => document.querySelectorAll("#library-list tr").length === 2);

  // A new quiz from an existing one, made while editing it.
  await p.click("#library-list tr:nth-child(1) button:has-text('Open')");
  await p.waitForSelector("#editor:not(.hidden)");
  const importedId = await p.evaluate(() => location.hash.match(/quiz=(\w+)/)[1]);
  await p.click("#copy-quiz");
  await p.waitForFunction((id) => !location.hash.includes(id), importedId);
  assert.equal(await p.inputValue(f("title")), "Editor night (copy)");
  await p.click("#close-quiz");
  await p.waitForFunction(() => document.querySelectorAll("#library-list tr").length === 3);
  await p.click("#library-list tr:nth-child(1) button:has-text('Delete')");
  await p.waitForFunction(() => document.querySelectorAll("#library-list tr").length === 2);

  assert.deepEqual(p.errors, []);

  // Another device opens the library link and finds both quizzes.
  const other = await page();
  await other.goto(`${base}/editor#library=${key}`);
  await other.waitForFunction(() => window.editorReady);
  await other.waitForFunction(() => document.querySelectorAll("#library-list tr").length === 2);
  assert.equal(await other.evaluate(() => localStorage.getItem("quizcast:library")), key);
  assert.equal(new URL(other.url()).hash, "", "the key leaves the address bar");
  assert.deepEqual(other.errors, []);
});
