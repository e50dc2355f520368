// The quiz editor's form: one model (the quiz as JSON, exactly the format
// the server validates), rendered into rounds and questions with a field
// for everything the format has. Every input names its place in the quiz
// (data-field="rounds[0].questions[1].answer"), which is how the server's
// INVALID_QUIZ error.field finds the input to show its message at. All
// user text is set with textContent or .value, never as markup.
import { h, text } from "/static/client.js";

export const KINDS = { text: "Text answer", choice: "Multiple choice", number: "Number" };
const MARKING = [["", "Default (automatic when possible)"], ["auto", "Automatic"], ["peer", "Peer marking"], ["mc", "Marked by the MC"]];

/** A new id with `prefix` that no round or question of `quiz` has. */
export function nextId(quiz, prefix) {
  const used = new Set();
  for (const r of quiz.rounds || []) { used.add(r.id); for (const q of r.questions || []) used.add(q.id); }
  let n = 1;
  while (used.has(prefix + n)) n++;
  return prefix + n;
}

/** A blank question of `kind` (its id unique in `quiz`). */
export function newQuestion(quiz, kind) {
  const q = { id: nextId(quiz, "q"), kind, prompt: "", points: 1 };
  if (kind === "choice") { q.choices = ["", ""]; q.answer = 0; }
  return q;
}

/** A round with one blank text question. */
export function newRound(quiz) {
  const r = { id: nextId(quiz, "r"), name: `Round ${(quiz.rounds || []).length + 1}`, type: "standard", questions: [] };
  quiz.rounds.push(r);
  r.questions.push(newQuestion(quiz, "text"));
  return r;
}

/** A deep copy of a question or round with fresh ids. */
export function duplicate(quiz, item, isRound) {
  const copy = JSON.parse(JSON.stringify(item));
  if (isRound) {
    copy.id = nextId(quiz, "r");
    copy.name = `${item.name} (copy)`;
    // Reserve each id as it is made, so the copies differ from each other.
    const holder = { id: copy.id, questions: [] };
    quiz.rounds.push(holder);
    for (const q of copy.questions) { q.id = nextId(quiz, "q"); holder.questions.push(q); }
    quiz.rounds.pop();
  } else {
    copy.id = nextId(quiz, "q");
  }
  return copy;
}

/** Changes a question's kind, keeping what still applies. */
export function setKind(q, kind) {
  if (q.kind === kind) return;
  q.kind = kind;
  delete q.tolerance;
  if (kind !== "text") delete q.accept;
  if (kind === "choice") {
    if (!Array.isArray(q.choices)) q.choices = ["", ""];
    q.answer = 0;
  } else {
    delete q.choices;
    delete q.choiceImages;
    if (kind === "number") delete q.answer;
    else if (typeof q.answer !== "string") delete q.answer;
  }
}

/** Sets (or with `url` null, removes) the picture of choice `ci`: the
 * format's `choiceImages`, one entry per choice, dropped when all are empty. */
export function setChoiceImage(q, ci, url) {
  const n = (q.choices || []).length;
  const list = Array.from({ length: n }, (_, i) => q.choiceImages?.[i] ?? null);
  if (ci < n) list[ci] = url || null;
  if (list.some(Boolean)) q.choiceImages = list; else delete q.choiceImages;
}

/** Keeps `choiceImages` in step when choice `ci` is removed. */
function removeChoice(q, ci) {
  q.choices.splice(ci, 1);
  if (Array.isArray(q.choiceImages)) q.choiceImages.splice(ci, 1);
  setChoiceImage(q, q.choices.length, null);
  if (q.answer === ci) q.answer = 0; else if (q.answer > ci) q.answer -= 1;
}

/** "rounds[1].questions[0].answer" -> "Round 2, question 1, answer". */
export function describePath(path) {
  if (!path || path === "quiz") return "The quiz";
  const words = { prompt: "question", imageUrl: "picture", timeLimitSec: "time limit", maxPlayers: "most players",
    speedBonus: "speed bonus", accept: "also accepted", questions: "questions", choices: "choices", choiceImages: "choice pictures" };
  return path.split(".").map((part, i) => {
    const m = part.match(/^(\w+)(?:\[(\d+)\])?$/);
    if (!m) return part;
    const [, name, idx] = m;
    const n = idx == null ? "" : ` ${Number(idx) + 1}`;
    const label = name === "rounds" ? "round" : name === "questions" ? "question" : name === "choices" ? "choice"
      : name === "choiceImages" && idx != null ? "picture of choice"
      : name === "accept" ? "accepted answer" : (words[name] || name);
    const s = idx == null ? label : label + n;
    return i === 0 ? s[0].toUpperCase() + s.slice(1) : s;
  }).join(", ");
}

const idOf = (path) => "f-" + path.replace(/[^A-Za-z0-9]+/g, "-");

/** A labelled input with its place in the quiz and room for its error. */
function field(label, path, input, hint) {
  input.id = idOf(path);
  input.dataset.field = path;
  const err = h("p", { class: "field-error", id: input.id + "-err", role: "status" });
  const hintEl = hint ? h("p", { class: "hint", id: input.id + "-hint" }, hint) : null;
  input.setAttribute("aria-describedby", [hintEl && hintEl.id, err.id].filter(Boolean).join(" "));
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintEl, err);
}

function textInput(value, onInput, attrs = {}) {
  const el = h(attrs.multiline ? "textarea" : "input", { ...attrs, multiline: null, rows: attrs.multiline ? 2 : null });
  el.value = value ?? "";
  el.addEventListener("input", () => onInput(el.value));
  return el;
}

function numberInput(value, onInput, attrs = {}) {
  const el = h("input", { type: "number", inputmode: "decimal", ...attrs });
  el.value = value ?? "";
  el.addEventListener("input", () => onInput(el.value.trim() === "" ? null : Number(el.value)));
  return el;
}

function select(options, value, onChange) {
  const el = h("select", {}, options.map(([v, label]) => h("option", { value: v }, label)));
  el.value = value ?? "";
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

/** A small button with visible text and a full accessible name. */
function tool(label, name, onclick, focusKey, extra = {}) {
  return h("button", { type: "button", class: "secondary tool", "aria-label": name, title: name, "data-focus": focusKey, onclick, ...extra }, label);
}

/**
 * Renders the whole quiz into `root`. `ctx` receives changes:
 * changed(rerender, focusKey), upload(file, {path, set(url)}), preview(ri, qi),
 * move(kind, from, to), and `drag` state lives on ctx too.
 */
export function renderQuiz(root, quiz, ctx) {
  const edit = (fn, rerender = false, focus) => () => { fn(); ctx.changed(rerender, focus); };
  const nodes = [];
  const settings = quiz.settings || {};
  const setSetting = (k, v) => {
    quiz.settings = { speedBonus: false, chat: false, maxPlayers: 10000, ...(quiz.settings || {}), [k]: v };
  };
  const bonus = h("input", { type: "checkbox" }); bonus.checked = !!settings.speedBonus;
  bonus.addEventListener("change", () => { setSetting("speedBonus", bonus.checked); ctx.changed(false); });
  const chat = h("input", { type: "checkbox" }); chat.checked = !!settings.chat;
  chat.addEventListener("change", () => { setSetting("chat", chat.checked); ctx.changed(false); });
  const maxPlayers = numberInput(settings.maxPlayers ?? "", (v) => { setSetting("maxPlayers", v ?? 10000); ctx.changed(false); }, { min: 1, step: 1 });
  nodes.push(h("section", { class: "panel", "aria-labelledby": "quiz-settings-h" },
    h("h2", { id: "quiz-settings-h" }, "Quiz"),
    field("Title", "title", textInput(quiz.title, (v) => { quiz.title = v; ctx.changed(false); }, { maxlength: 120, "data-focus": "title" })),
    h("div", { class: "row settings" },
      h("label", { class: "check" }, bonus, " Speed bonus (faster right answers score more)"),
      h("label", { class: "check" }, chat, " Chat during the quiz")),
    field("Most players", "settings.maxPlayers", maxPlayers, "Empty: the server's limit."),
    ...teamFields(quiz, setSetting, ctx)));

  quiz.rounds.forEach((r, ri) => nodes.push(renderRound(quiz, r, ri, ctx, edit)));
  nodes.push(h("div", { class: "row" },
    h("button", { type: "button", id: "add-round", "data-focus": "add-round", onclick: edit(() => newRound(quiz), true, `round-${quiz.rounds.length}-name`) }, "Add a round")));
  root.replaceChildren(...nodes);
}

const TEAMS = [["off", "No teams: everyone plays alone"], ["sum", "Teams: every member answers, the team scores the sum"],
  ["mean", "Teams: every member answers, the team scores the mean"], ["sheet", "Teams: one answer sheet per team"]];

/** Team mode and its limits (docs/quiz-format.md, settings.teams). */
function teamFields(quiz, setSetting, ctx) {
  const settings = quiz.settings || {};
  const mode = select(TEAMS, settings.teams || "off", (v) => {
    setSetting("teams", v);
    if (v === "off") for (const k of ["teams", "maxTeams", "maxTeamSize"]) delete quiz.settings[k];
    ctx.changed(true, "settings-teams");
  });
  mode.dataset.focus = "settings-teams";
  const out = [field("Teams", "settings.teams", mode, "The MC can still change this for a session before the first question.")];
  if ((settings.teams || "off") !== "off") {
    const limit = (key, dflt, max) => numberInput(settings[key] ?? "", (v) => {
      if (v == null) delete quiz.settings?.[key]; else setSetting(key, v);
      ctx.changed(false);
    }, { min: 1, max, step: 1, placeholder: String(dflt) });
    out.push(h("div", { class: "row two" },
      field("Most teams", "settings.maxTeams", limit("maxTeams", 50, 500), "Empty: 50."),
      field("Most players in a team", "settings.maxTeamSize", limit("maxTeamSize", 8, 50), "Empty: 8.")));
  }
  return out;
}

function renderRound(quiz, r, ri, ctx, edit) {
  const n = ri + 1;
  const rp = `rounds[${ri}]`;
  const last = quiz.rounds.length - 1;
  const move = (to) => edit(() => ctx.move("round", [ri], [to]), true, `r-${r.id}-${to < ri ? "up" : "down"}`);
  const head = h("div", { class: "item-head" },
    h("span", { class: "handle", draggable: "true", title: "Drag to reorder", "aria-hidden": "true" }, "⠿"),
    h("h3", { id: `round-${ri}-h` }, `Round ${n}`, h("span", { class: "muted" }, r.name ? ` · ${r.name}` : "")),
    h("div", { class: "tools" },
      tool("↑", `Move round ${n} up`, move(ri - 1), `r-${r.id}-up`, { disabled: ri === 0 }),
      tool("↓", `Move round ${n} down`, move(ri + 1), `r-${r.id}-down`, { disabled: ri === last }),
      tool("Duplicate", `Duplicate round ${n}`, edit(() => quiz.rounds.splice(ri + 1, 0, duplicate(quiz, r, true)), true, `round-${ri + 1}-name`), `r-${r.id}-dup`),
      tool("Delete", `Delete round ${n}`, () => { if (confirm(`Delete round ${n} and its ${r.questions.length} question(s)?`)) edit(() => quiz.rounds.splice(ri, 1), true, "add-round")(); }, `r-${r.id}-del`)));
  head.querySelector(".handle").addEventListener("dragstart", (ev) => { ev.dataTransfer.setData("text/x-quizcast", `round:${ri}`); ev.dataTransfer.effectAllowed = "move"; });
  const name = textInput(r.name, (v) => { r.name = v; ctx.changed(false); }, { maxlength: 200, "data-focus": `round-${ri}-name` });
  const type = select([["standard", "Standard"], ["picture", "Picture round (every question has a picture)"]], r.type || "standard",
    (v) => { r.type = v; ctx.changed(false); });
  const questions = r.questions.map((q, qi) => renderQuestion(quiz, r, ri, q, qi, ctx, edit));
  const add = h("div", { class: "row add", "data-field": `${rp}.questions`, id: idOf(`${rp}.questions`), tabindex: "-1" },
    h("span", { class: "muted" }, "Add a question:"),
    Object.entries(KINDS).map(([k, label]) => h("button", { type: "button", class: "secondary", "data-focus": `add-${ri}-${k}`,
      onclick: edit(() => r.questions.push(newQuestion(quiz, k)), true, `q-${ri}-${r.questions.length}-prompt`) }, `+ ${label}`)),
    h("p", { class: "field-error", id: idOf(`${rp}.questions`) + "-err", role: "status" }));
  const section = h("section", { class: "round panel", "aria-labelledby": `round-${ri}-h`, "data-round": ri, "data-field": rp },
    head,
    h("div", { class: "row two" }, field("Round name", `${rp}.name`, name), field("Round type", `${rp}.type`, type)),
    h("div", { class: "questions" }, questions),
    add);
  dropTarget(section, (src) => src.startsWith("round:"), (src) => { ctx.move("round", [Number(src.split(":")[1])], [ri]); ctx.changed(true); });
  return section;
}

function renderQuestion(quiz, r, ri, q, qi, ctx, edit) {
  const n = qi + 1;
  const qp = `rounds[${ri}].questions[${qi}]`;
  const label = `question ${n} of round ${ri + 1}`;
  const last = r.questions.length - 1;
  const move = (to) => edit(() => ctx.move("question", [ri, qi], [ri, to]), true, `q-${q.id}-${to < qi ? "up" : "down"}`);
  const head = h("div", { class: "item-head" },
    h("span", { class: "handle", draggable: "true", title: "Drag to reorder", "aria-hidden": "true" }, "⠿"),
    h("h4", { id: `q-${ri}-${qi}-h` }, `Question ${n}`, h("span", { class: "muted" }, ` · ${KINDS[q.kind] || q.kind}`)),
    h("div", { class: "tools" },
      tool("Preview", `Preview ${label}`, () => ctx.preview(ri, qi), `q-${q.id}-preview`),
      tool("↑", `Move ${label} up`, move(qi - 1), `q-${q.id}-up`, { disabled: qi === 0 }),
      tool("↓", `Move ${label} down`, move(qi + 1), `q-${q.id}-down`, { disabled: qi === last }),
      tool("Duplicate", `Duplicate ${label}`, edit(() => r.questions.splice(qi + 1, 0, duplicate(quiz, q, false)), true, `q-${ri}-${qi + 1}-prompt`), `q-${q.id}-dup`),
      tool("Delete", `Delete ${label}`, () => { if (confirm(`Delete question ${n}?`)) edit(() => r.questions.splice(qi, 1), true, `add-${ri}-text`)(); }, `q-${q.id}-del`)));
  head.querySelector(".handle").addEventListener("dragstart", (ev) => { ev.dataTransfer.setData("text/x-quizcast", `question:${ri}:${qi}`); ev.dataTransfer.effectAllowed = "move"; });
  const kind = select(Object.entries(KINDS), q.kind, (v) => { setKind(q, v); ctx.changed(true, `q-${ri}-${qi}-kind`); });
  kind.dataset.focus = `q-${ri}-${qi}-kind`;
  const prompt = textInput(q.prompt, (v) => { q.prompt = v; ctx.changed(false); }, { multiline: true, maxlength: 2000, "data-focus": `q-${ri}-${qi}-prompt` });
  const body = [h("div", { class: "row two" }, field("Kind", `${qp}.kind`, kind), field("Points", `${qp}.points`,
    numberInput(q.points, (v) => { if (v == null) delete q.points; else q.points = v; ctx.changed(false); }, { min: 0.5, step: 0.5, max: 1000 }))),
  field("Question", `${qp}.prompt`, prompt),
  renderImage(q, qp, ri, qi, ctx)];
  body.push(...answerFields(q, qp, ri, qi, ctx, edit));
  const marking = select(MARKING, q.marking || "", (v) => { if (v) q.marking = v; else delete q.marking; ctx.changed(false); });
  const timer = numberInput(q.timeLimitSec, (v) => { if (v == null) delete q.timeLimitSec; else q.timeLimitSec = v; ctx.changed(false); }, { min: 1, max: 3600, step: 1 });
  body.push(h("div", { class: "row two" }, field("Time limit (seconds)", `${qp}.timeLimitSec`, timer, "Empty: no timer."),
    field("Marking", `${qp}.marking`, marking)));
  body.push(field("Explanation (shown with the answer)", `${qp}.explanation`,
    textInput(q.explanation, (v) => { if (v) q.explanation = v; else delete q.explanation; ctx.changed(false); }, { multiline: true, maxlength: 2000 })));
  const art = h("article", { class: "question", "aria-labelledby": `q-${ri}-${qi}-h`, "data-question": `${ri}:${qi}`, "data-field": qp }, head, body);
  // Pasting a picture sets the picture of what has the focus: a choice's
  // when it is in a choice's row, else the question's.
  art.addEventListener("focusin", (ev) => {
    const ci = ev.target.closest?.("li.choice")?.dataset.choice;
    ctx.active = { q, qp, ri, qi, picture: ci == null ? questionPicture(q, qp) : choicePicture(q, qp, Number(ci)) };
  });
  dropTarget(art, (src) => src.startsWith("question:"), (src) => {
    const [, fr, fq] = src.split(":").map(Number);
    ctx.move("question", [fr, fq], [ri, qi]);
    ctx.changed(true);
  }, (file) => ctx.upload(file, questionPicture(q, qp)));
  return art;
}

/** Where an uploaded picture goes: `{path, set(url)}`. */
const questionPicture = (q, qp) => ({ path: `${qp}.imageUrl`, set: (url) => { q.imageUrl = url; } });
const choicePicture = (q, qp, ci) => ({ path: `${qp}.choiceImages[${ci}]`, set: (url) => setChoiceImage(q, ci, url) });

/** A choice's picture: its thumbnail and remove button, or a file picker
 * (a picture can also be dropped on the row or pasted into it). */
function choiceImageEdit(q, qp, ri, qi, ci, ctx) {
  const path = `${qp}.choiceImages[${ci}]`;
  const src = q.choiceImages?.[ci];
  const err = h("p", { class: "field-error", id: idOf(path) + "-err", role: "status" });
  if (src) {
    const thumb = h("img", { class: "thumb choice-thumb", src, alt: `Picture for choice ${ci + 1}`, id: idOf(path), "data-field": path, tabindex: "-1" });
    return [thumb, tool("✕ picture", `Remove the picture of choice ${ci + 1}`, () => { setChoiceImage(q, ci, null); ctx.changed(true, `q-${ri}-${qi}-cpic${ci}`); },
      `q-${ri}-${qi}-rmcpic${ci}`), err];
  }
  const file = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", class: "file choice-file",
    id: idOf(path), "data-field": path, "data-focus": `q-${ri}-${qi}-cpic${ci}`, "aria-describedby": err.id });
  file.addEventListener("change", () => { if (file.files[0]) ctx.upload(file.files[0], choicePicture(q, qp, ci)); });
  return [h("label", { for: file.id, class: "sr-only" }, `Picture for choice ${ci + 1} (optional)`), file, err];
}

function answerFields(q, qp, ri, qi, ctx, edit) {
  if (q.kind === "choice") {
    const choices = q.choices || (q.choices = []);
    const rows = choices.map((c, ci) => {
      const radio = h("input", { type: "radio", name: `correct-${ri}-${qi}`, id: idOf(`${qp}.answer`) + `-${ci}` });
      radio.checked = q.answer === ci;
      radio.addEventListener("change", () => { q.answer = ci; ctx.changed(false); });
      const input = textInput(c, (v) => { choices[ci] = v; ctx.changed(false); }, { maxlength: 2000, "data-focus": `q-${ri}-${qi}-c${ci}` });
      input.id = idOf(`${qp}.choices[${ci}]`);
      input.dataset.field = `${qp}.choices[${ci}]`;
      const err = h("p", { class: "field-error", id: input.id + "-err", role: "status" });
      input.setAttribute("aria-describedby", err.id);
      const li = h("li", { class: "choice", "data-choice": ci },
        h("label", { class: "check correct" }, radio, " Correct"),
        h("label", { for: input.id, class: "sr-only" }, `Choice ${ci + 1}`),
        input,
        tool("✕", `Remove choice ${ci + 1}`, edit(() => removeChoice(q, ci), true, `q-${ri}-${qi}-addchoice`),
          `q-${ri}-${qi}-rm${ci}`, { disabled: choices.length <= 2 }),
        err,
        ...choiceImageEdit(q, qp, ri, qi, ci, ctx));
      dropTarget(li, null, null, (file) => ctx.upload(file, choicePicture(q, qp, ci)));
      return li;
    });
    const group = h("fieldset", { class: "choices-edit", "data-field": `${qp}.choices`, id: idOf(`${qp}.choices`), tabindex: "-1" },
      h("legend", {}, "Choices (mark the correct one)"),
      h("ol", {}, rows),
      h("button", { type: "button", class: "secondary", "data-focus": `q-${ri}-${qi}-addchoice`, disabled: choices.length >= 10,
        onclick: edit(() => { choices.push(""); if (q.choiceImages) q.choiceImages.push(null); }, true, `q-${ri}-${qi}-c${choices.length}`) }, "Add a choice"),
      h("p", { class: "hint" }, "Each choice may have a picture (optional): pick a file, or drop or paste one on its row. Its text is still shown, and read out to screen readers."),
      h("p", { class: "field-error", id: idOf(`${qp}.choices`) + "-err", role: "status" }),
      h("p", { class: "field-error", id: idOf(`${qp}.choiceImages`) + "-err", "data-field": `${qp}.choiceImages`, role: "status" }),
      h("p", { class: "field-error", id: idOf(`${qp}.answer`) + "-err", "data-field": `${qp}.answer`, role: "status" }));
    return [group];
  }
  if (q.kind === "number") {
    return [h("div", { class: "row two" },
      field("Answer", `${qp}.answer`, numberInput(q.answer, (v) => { if (v == null || Number.isNaN(v)) delete q.answer; else q.answer = v; ctx.changed(false); }, { step: "any" })),
      field("Tolerance (accepted distance)", `${qp}.tolerance`, numberInput(q.tolerance, (v) => { if (v == null) delete q.tolerance; else q.tolerance = v; ctx.changed(false); }, { min: 0, step: "any" }), "Empty: exactly."))];
  }
  const accept = textInput((q.accept || []).join("\n"), (v) => {
    const list = v.split("\n").map((s) => s.trim()).filter(Boolean);
    if (list.length) q.accept = list; else delete q.accept;
    ctx.changed(false);
  }, { multiline: true });
  return [field("Answer", `${qp}.answer`, textInput(typeof q.answer === "string" ? q.answer : "", (v) => {
    if (v.trim()) q.answer = v; else delete q.answer;
    ctx.changed(false);
  }, { maxlength: 2000 }), "Matched ignoring case, accents and spaces. Empty: marked by people."),
  field("Also accept (one per line)", `${qp}.accept`, accept)];
}

function renderImage(q, qp, ri, qi, ctx) {
  const file = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", class: "file" });
  file.addEventListener("change", () => { if (file.files[0]) ctx.upload(file.files[0], questionPicture(q, qp)); });
  const url = textInput(q.imageUrl, (v) => { if (v.trim()) q.imageUrl = v.trim(); else delete q.imageUrl; ctx.changed(false); }, { inputmode: "url", placeholder: "/media/… or https://…" });
  const parts = [];
  if (q.imageUrl) {
    parts.push(h("img", { class: "thumb", src: q.imageUrl, alt: `Picture for question ${qi + 1} of round ${ri + 1}` }),
      tool("Remove picture", `Remove picture of question ${qi + 1} of round ${ri + 1}`, () => { delete q.imageUrl; ctx.changed(true); }, `q-${ri}-${qi}-rmimg`));
  }
  const fileId = idOf(`${qp}.imageFile`);
  file.id = fileId;
  return h("div", { class: "image-edit" },
    h("div", { class: "row" }, ...parts),
    field("Picture URL", `${qp}.imageUrl`, url),
    h("label", { for: fileId }, "Upload a picture (PNG, JPEG, WebP or GIF; or drop or paste one here)"),
    file);
}

/** Makes `el` accept drops: items accepted by `accepts` (moved with
 * `onMove`; null: none) and, when `onFile` is given, image files. */
function dropTarget(el, accepts, onMove, onFile) {
  el.addEventListener("dragover", (ev) => {
    const types = Array.from(ev.dataTransfer?.types || []);
    if ((accepts && types.includes("text/x-quizcast")) || (onFile && types.includes("Files"))) {
      ev.preventDefault();
      el.classList.add("drop");
    }
  });
  el.addEventListener("dragleave", () => el.classList.remove("drop"));
  el.addEventListener("drop", (ev) => {
    el.classList.remove("drop");
    const src = ev.dataTransfer.getData("text/x-quizcast");
    if (src && accepts?.(src)) { ev.preventDefault(); ev.stopPropagation(); onMove(src); return; }
    const f = ev.dataTransfer.files?.[0];
    if (f && onFile) { ev.preventDefault(); ev.stopPropagation(); onFile(f); }
  });
}

/** Shows `message` at the input for `path` (the deepest one whose place
 * contains it); returns the element, or null when none is on the page. */
export function showFieldError(root, path, message) {
  clearFieldErrors(root);
  if (!path) return null;
  let best = null;
  for (const el of root.querySelectorAll("[data-field]")) {
    const f = el.dataset.field;
    const fits = path === f || path.startsWith(f + ".") || path.startsWith(f + "[");
    if (fits && (!best || f.length > best.dataset.field.length)) best = el;
  }
  if (!best) return null;
  const err = document.getElementById((best.id || "") + "-err") || (best.classList.contains("field-error") ? best : null);
  if (err) { text(err, message); err.classList.add("shown"); }
  if (best.matches("input, select, textarea")) best.setAttribute("aria-invalid", "true");
  return best;
}

export function clearFieldErrors(root) {
  for (const el of root.querySelectorAll(".field-error.shown")) { text(el, ""); el.classList.remove("shown"); }
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}
