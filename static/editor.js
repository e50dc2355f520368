// The quiz editor: the library (list, open, rename, copy, delete, export,
// import), editing one quiz with validation at the field as you type, saving
// on its own (and a copy in this browser until the server has it), pictures
// by file picker, drag and drop or paste, a preview, and "Start a session".
//
// The library key lives in localStorage and travels as a link
// (/editor#library=KEY: the fragment is never sent to the server); requests
// carry it in X-Library-Key.
import { api, h, text } from "/static/client.js";
import { renderQuiz, showFieldError, clearFieldErrors, describePath } from "/static/editor-form.js";
import { renderPreview } from "/static/editor-preview.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "quizcast:library";
const draftKey = (id) => `quizcast:editor-draft:${id}`;
const VALIDATE_MS = 400;

let key = null;
let current = null; // {id, quiz, updatedMs}
let dirty = false; // changes the server does not have yet
let valid = true;
let timer = null;
let saving = null;
let previewAt = null; // [ri, qi]
const ctx = { changed, upload, preview, move, active: null };

function announce(msg) { text($("announce"), msg); }

/** A library request; throws like client.js's api (with .code, .field). */
async function lib(method, path, body, raw) {
  const headers = { "X-Library-Key": key };
  if (body !== undefined && !raw) headers["Content-Type"] = "application/json";
  if (raw) headers["Content-Type"] = raw;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
  if (r.status === 204) return {};
  if (r.ok && (r.headers.get("content-type") || "").includes("zip")) return r;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(data.error?.message || `${r.status} ${r.statusText}`);
    Object.assign(e, { code: data.error?.code, field: data.error?.field, status: r.status });
    throw e;
  }
  return data;
}

// ---- The library ----

function keyFromLink(link) {
  const m = String(link || "").match(/library=([A-Za-z0-9_-]{22,64})/);
  return m ? m[1] : /^[A-Za-z0-9_-]{22,64}$/.test(String(link).trim()) ? String(link).trim() : null;
}

async function ensureKey() {
  const linked = keyFromLink(location.hash);
  if (linked) {
    localStorage.setItem(KEY_STORE, linked);
    history.replaceState(null, "", "/editor");
  }
  key = localStorage.getItem(KEY_STORE);
  if (!key) {
    key = (await api("POST", "/api/library")).key;
    localStorage.setItem(KEY_STORE, key);
  }
  $("library-link").value = `${location.origin}/editor#library=${key}`;
}

function when(ms) {
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleDateString();
}

async function refreshList() {
  try {
    const { quizzes } = await lib("GET", "/api/library/quizzes");
    $("library-list").replaceChildren(...quizzes.map((q) => {
      const act = (label, name, fn) => h("button", { type: "button", class: "secondary", "aria-label": `${name} ${q.name}`, onclick: fn }, label);
      return h("tr", {},
        h("td", {}, h("a", { href: `#quiz=${q.id}`, onclick: (ev) => { ev.preventDefault(); openQuiz(q.id); } }, q.name)),
        h("td", {}, String(q.rounds)), h("td", {}, String(q.questions)), h("td", {}, when(q.updatedMs)),
        h("td", {},
          act("Open", "Open", () => openQuiz(q.id)),
          act("Rename", "Rename", () => rename(q)),
          act("Copy", "Copy", () => copy(q)),
          act("Export", "Export", () => exportQuiz(q.id)),
          h("button", { type: "button", class: "danger", "aria-label": `Delete ${q.name}`, onclick: () => remove(q) }, "Delete")));
    }));
    $("library-empty").classList.toggle("hidden", quizzes.length > 0);
    $("library-table").classList.toggle("hidden", quizzes.length === 0);
    text($("lib-state"), `${quizzes.length} ${quizzes.length === 1 ? "quiz" : "quizzes"} in your library`);
    text($("library-error"), "");
  } catch (e) { text($("library-error"), e.message); }
}

async function act(fn, done) {
  try { await fn(); text($("library-error"), ""); if (done) announce(done); } catch (e) { text($("library-error"), e.message); }
  await refreshList();
}

function rename(q) {
  const name = prompt("New name", q.name);
  if (name == null || !name.trim()) return;
  act(async () => {
    await lib("PATCH", `/api/library/quizzes/${q.id}`, { name: name.trim() });
    if (current?.id === q.id) current.quiz.title = name.trim(), render();
  }, `Renamed to ${name.trim()}`);
}

function copy(q) { act(() => lib("POST", `/api/library/quizzes/${q.id}/copy`), `Copied ${q.name}`); }

function remove(q) {
  if (!confirm(`Delete "${q.name}"? This cannot be undone.`)) return;
  act(async () => {
    await lib("DELETE", `/api/library/quizzes/${q.id}`);
    localStorage.removeItem(draftKey(q.id));
    if (current?.id === q.id) closeQuiz();
  }, `Deleted ${q.name}`);
}

async function newQuiz() {
  await act(async () => {
    const e = await lib("POST", "/api/library/quizzes", { title: "Untitled quiz", settings: { speedBonus: false, chat: false, maxPlayers: 10000 }, rounds: [] });
    await openQuiz(e.id);
  });
}

async function exportQuiz(id) {
  try {
    if (current?.id === id) await saveNow();
    const r = await lib("GET", `/api/library/quizzes/${id}/package`);
    const name = (r.headers.get("content-disposition") || "").match(/filename="([^"]+)"/)?.[1] || "quiz.quizcast.zip";
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: name, class: "hidden" });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    announce(`Exported ${name}`);
  } catch (e) { text($("library-error"), e.message); setState(e.message, true); }
}

async function importFile() {
  const f = $("import-file").files[0];
  if (!f) return;
  await act(async () => {
    const e = await lib("POST", "/api/library/import", f, f.name.endsWith(".json") ? "application/json" : "application/zip");
    $("import-file").value = "";
    await openQuiz(e.id);
  }, `Imported ${f.name}`);
}

// ---- One quiz ----

function readDraft(id) {
  try { return JSON.parse(localStorage.getItem(draftKey(id))); } catch (_) { return null; }
}

async function openQuiz(id) {
  // Unsaved (say, invalid) changes stay in this browser's copy.
  if (current && dirty) await saveNow().catch(() => {});
  const e = await lib("GET", `/api/library/quizzes/${id}`);
  current = { id, quiz: e.quiz, updatedMs: e.updatedMs };
  if (!Array.isArray(current.quiz.rounds)) current.quiz.rounds = [];
  dirty = false;
  const draft = readDraft(id);
  if (draft && draft.at > e.updatedMs) {
    current.quiz = draft.quiz;
    dirty = true;
    setState("Restored changes this browser had not saved yet");
  } else {
    localStorage.removeItem(draftKey(id));
    setState("Saved");
  }
  history.replaceState(null, "", `/editor#quiz=${id}`);
  $("editor").classList.remove("hidden");
  $("library").classList.add("hidden");
  closePreview();
  render();
  schedule();
  $("f-title")?.focus();
}

function closeQuiz() {
  current = null; dirty = false;
  $("editor").classList.add("hidden");
  $("library").classList.remove("hidden");
  history.replaceState(null, "", "/editor");
  refreshList();
}

function render(focusKey) {
  renderQuiz($("form"), current.quiz, ctx);
  if (previewAt) showPreview();
  if (focusKey) {
    const el = document.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
    if (el && !el.disabled) el.focus(); else document.querySelector(`[data-focus="${CSS.escape(focusKey.replace(/-(up|down)$/, (m) => (m === "-up" ? "-down" : "-up")))}"]`)?.focus();
  }
  text(document.querySelector("title"), `quizcast: ${current.quiz.title || "Untitled quiz"} (editor)`);
}

function setState(msg, bad = false) {
  const el = $("save-state");
  text(el, msg);
  el.className = bad ? "error" : "saved";
}

/** Every edit comes here: keep a copy in this browser, then check and save. */
function changed(rerender, focusKey) {
  dirty = true;
  localStorage.setItem(draftKey(current.id), JSON.stringify({ at: Date.now(), quiz: current.quiz }));
  setState("Unsaved changes…");
  if (rerender) render(focusKey);
  else if (previewAt) showPreview();
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => { check().catch(() => {}); }, VALIDATE_MS);
}

/** Validates with the server's rules; shows the first problem at its field;
 * saves when the quiz is valid. */
async function check() {
  if (!current) return;
  const id = current.id;
  try {
    await api("POST", "/api/quizzes/validate", { body: current.quiz });
    if (current?.id !== id) return;
    valid = true;
    text($("problems"), "");
    clearFieldErrors($("form"));
    if (dirty) await saveNow();
  } catch (e) {
    if (current?.id !== id) return;
    if (e.code !== "INVALID_QUIZ") { setState(`Not saved: ${e.message}`, true); return; }
    valid = false;
    showProblem(e.field, e.message);
    setState("Not saved yet: fix the problem shown (your changes are kept in this browser)", true);
  }
}

function showProblem(field, message) {
  const msg = message.startsWith(field + ": ") ? message.slice(field.length + 2) : message;
  const el = showFieldError($("form"), field, msg);
  const go = el ? h("button", { type: "button", class: "secondary tool", onclick: () => { el.scrollIntoView({ block: "center" }); el.focus(); } }, "Go to it") : null;
  $("problems").replaceChildren(h("p", {}, h("strong", {}, `${describePath(field)}: `), msg, " "), go || "");
}

/** Saves now if the server lacks changes (valid quizzes only). */
async function saveNow() {
  if (!current || !dirty) return;
  if (saving) return saving;
  const { id, quiz } = current;
  const snapshot = JSON.stringify(quiz);
  saving = (async () => {
    try {
      const e = await lib("PUT", `/api/library/quizzes/${id}`, quiz);
      if (current?.id === id) {
        current.updatedMs = e.updatedMs;
        if (JSON.stringify(current.quiz) === snapshot) {
          dirty = false;
          localStorage.removeItem(draftKey(id));
          setState(`Saved at ${new Date().toLocaleTimeString()}`);
        } else {
          schedule(); // edited while this save was on its way
        }
      }
    } catch (e) {
      if (e.code === "INVALID_QUIZ") { valid = false; showProblem(e.field, e.message); }
      setState(`Not saved: ${e.message}`, true);
      throw e;
    } finally { saving = null; }
  })();
  return saving;
}

function move(kind, from, to) {
  const rounds = current.quiz.rounds;
  if (kind === "round") {
    const [f] = from, [t] = to;
    if (t < 0 || t >= rounds.length || f === t) return;
    rounds.splice(t, 0, rounds.splice(f, 1)[0]);
  } else {
    const [fr, fq] = from, [tr, tq] = to;
    const src = rounds[fr]?.questions, dst = rounds[tr]?.questions;
    if (!src || !dst || tq < 0 || tq > dst.length || (fr === tr && (fq === tq || tq >= dst.length))) return;
    dst.splice(tq, 0, src.splice(fq, 1)[0]);
  }
  announce("Moved");
}

// ---- Pictures ----

/** Uploads `file` and puts its URL at `target` ({path, set(url)}: the
 * question's picture or a choice's). */
async function upload(file, target) {
  const { path } = target;
  if (!file.type.startsWith("image/") && !/\.(png|jpe?g|webp|gif)$/i.test(file.name || "")) {
    showProblem(path, `${file.name || "That file"} is not a picture: use PNG, JPEG, WebP or GIF.`);
    return;
  }
  setState(`Uploading ${file.name || "picture"}…`);
  try {
    const r = await lib("POST", "/api/images", file, file.type || "application/octet-stream");
    target.set(r.url);
    announce(`Picture uploaded (${r.width}×${r.height})`);
    changed(true);
  } catch (e) {
    showProblem(path, e.message);
    setState(`Upload refused: ${e.message}`, true);
  }
}

document.addEventListener("paste", (ev) => {
  if (!current || !ctx.active) return;
  const f = Array.from(ev.clipboardData?.files || []).find((x) => x.type.startsWith("image/"));
  if (!f) return;
  ev.preventDefault();
  upload(f, ctx.active.picture);
});

// ---- Preview ----

function preview(ri, qi) {
  previewAt = [ri, qi];
  $("preview").classList.remove("hidden");
  showPreview();
  $("preview-h").scrollIntoView({ block: "start" });
  $("preview-reveal").focus();
}

function showPreview() {
  const [ri, qi] = previewAt;
  if (!current.quiz.rounds[ri]?.questions[qi]) return closePreview();
  text($("preview-h"), `Preview: round ${ri + 1}, question ${qi + 1}`);
  renderPreview($("preview-frames"), current.quiz, ri, qi, $("preview-reveal").checked);
}

function closePreview() {
  previewAt = null;
  $("preview").classList.add("hidden");
}

// ---- Start a session ----

async function startSession() {
  try {
    clearTimeout(timer);
    await check();
    if (!valid) { announce("Fix the problem shown first"); return; }
    await saveNow();
    const r = await api("POST", "/api/sessions", { body: { quiz: current.quiz } });
    location.href = `/mc#code=${encodeURIComponent(r.code)}&token=${encodeURIComponent(r.mcToken)}`;
  } catch (e) {
    if (e.code === "INVALID_QUIZ") showProblem(e.field, e.message);
    setState(`Could not start: ${e.message}`, true);
  }
}

// ---- Wiring ----

$("new-quiz").addEventListener("click", newQuiz);
$("import-file").addEventListener("change", importFile);
$("copy-link").addEventListener("click", async () => {
  $("library-link").select();
  try { await navigator.clipboard.writeText($("library-link").value); announce("Library link copied"); } catch (_) { document.execCommand?.("copy"); }
});
$("switch-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const k = keyFromLink($("switch-link").value);
  if (!k) return text($("library-error"), "That is not a library link.");
  localStorage.setItem(KEY_STORE, k);
  key = k;
  $("library-link").value = `${location.origin}/editor#library=${key}`;
  $("switch-link").value = "";
  refreshList();
  announce("Opened the other library");
});
$("save-now").addEventListener("click", () => { clearTimeout(timer); check().catch(() => {}); });
$("export").addEventListener("click", () => current && exportQuiz(current.id));
// A new quiz from this one: saved first, then the copy is opened.
$("copy-quiz").addEventListener("click", async () => {
  if (!current) return;
  try {
    await saveNow();
    const e = await lib("POST", `/api/library/quizzes/${current.id}/copy`);
    await openQuiz(e.id);
    announce(`Now editing ${e.name}`);
  } catch (e) { setState(`Could not copy: ${e.message}`, true); }
});
$("close-quiz").addEventListener("click", async () => { try { await saveNow(); } catch (_) { /* kept in this browser */ } closeQuiz(); });
$("start-session").addEventListener("click", startSession);
$("preview-reveal").addEventListener("change", () => previewAt && showPreview());
$("preview-close").addEventListener("click", closePreview);

// Leaving with changes the server lacks: they are in localStorage already;
// also try to send them (keepalive outlives the page).
window.addEventListener("beforeunload", () => {
  if (!current || !dirty || !valid) return;
  try {
    fetch(`/api/library/quizzes/${current.id}`, { method: "PUT", keepalive: true,
      headers: { "Content-Type": "application/json", "X-Library-Key": key }, body: JSON.stringify(current.quiz) });
  } catch (_) { /* the local copy is restored on the next visit */ }
});

(async () => {
  try {
    await ensureKey();
    await refreshList();
    const id = location.hash.match(/quiz=([0-9a-f]{32})/)?.[1];
    if (id) await openQuiz(id);
  } catch (e) { text($("library-error"), e.message); }
  window.editorReady = true;
})();
