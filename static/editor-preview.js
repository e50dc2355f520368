// The editor's preview: a question as a phone shows it (the player page's
// markup and classes) and as the projector shows it (the display's), with
// the answer revealed or not. Built from the quiz being edited, so it shows
// what players will see before anything is saved.
import { h } from "/static/client.js";

const LETTERS = "ABCDEFGHIJ";

/** What players see as the right answer. */
function answerText(q) {
  if (q.kind === "choice") return q.choices?.[q.answer] ?? "";
  if (q.kind === "number") return q.answer == null ? "" : String(q.answer) + (q.tolerance ? ` (± ${q.tolerance})` : "");
  return typeof q.answer === "string" ? q.answer : "Marked by people";
}

/** Choice `i`'s picture, if any (its text is beside it). */
function pic(q, i) {
  const src = q.choiceImages?.[i];
  return src ? h("img", { class: "choice-pic", src, alt: "" }) : null;
}

function points(n) { return `${n ?? 1} ${Number(n ?? 1) === 1 ? "point" : "points"}`; }

/** The phone's view (player page). */
function phone(round, q, index, revealed) {
  const nodes = [h("p", { class: "muted" }, `${round.name} · question ${index + 1} of ${round.questions.length}`),
    h("p", { class: "prompt" }, q.prompt || "(no question yet)")];
  if (q.imageUrl) nodes.push(h("img", { class: "question", src: q.imageUrl, alt: "Picture for this question" }));
  if (q.timeLimitSec && !revealed) nodes.push(h("div", { class: "countdown" }, String(q.timeLimitSec)));
  if (q.kind === "choice") {
    // Look-alikes of the phone's buttons: a preview has nothing to press.
    nodes.push(h("ul", { class: "pv-choices" },
      (q.choices || []).map((c, i) => h("li", { class: revealed && i === q.answer ? "right" : null }, pic(q, i),
        c || `(choice ${i + 1})`, revealed && i === q.answer ? " ✓" : ""))));
  } else {
    nodes.push(h("div", { class: "pv-input" }, q.kind === "number" ? "A number" : "Your answer"));
  }
  nodes.push(h("p", { class: "muted" }, points(q.points)));
  if (revealed) {
    nodes.push(h("p", { class: "verdict" }, `Answer: ${answerText(q)}`));
    if (q.explanation) nodes.push(h("p", {}, q.explanation));
  }
  return h("div", { class: "pv-phone" }, h("div", { class: "pv-screen" }, nodes));
}

/** The projector's view (display page). */
function projector(round, q, index, revealed) {
  const nodes = [h("p", { class: "muted roundline" }, `${round.name} · question ${index + 1} of ${round.questions.length}`),
    h("p", { class: "prompt" }, q.prompt || "(no question yet)")];
  if (q.imageUrl) nodes.push(h("img", { class: "question", src: q.imageUrl, alt: "Picture for this question" }));
  if (q.kind === "choice") {
    nodes.push(h("ol", { class: "choices-big" }, (q.choices || []).map((c, i) =>
      h("li", { class: revealed && i === q.answer ? "right" : null }, h("span", { class: "letter" }, LETTERS[i]), pic(q, i), c, revealed && i === q.answer ? " ✓" : ""))));
  }
  if (revealed) {
    nodes.push(h("p", { class: "reveal" }, `Answer: ${answerText(q)}`));
    if (q.explanation) nodes.push(h("p", { class: "explain" }, q.explanation));
  } else {
    nodes.push(h("div", { class: "meter" }, h("span", { class: "countdown" }, q.timeLimitSec ? String(q.timeLimitSec) : ""),
      h("span", {}, "0 of 0 answered")));
  }
  return h("div", { class: "pv-projector" }, nodes);
}

/** Renders the preview of question `qi` of round `ri` into `root`. */
export function renderPreview(root, quiz, ri, qi, revealed) {
  const round = quiz.rounds[ri];
  const q = round?.questions[qi];
  if (!q) { root.replaceChildren(); return; }
  root.replaceChildren(
    h("figure", {}, h("figcaption", {}, "On a phone"), phone(round, q, qi, revealed)),
    h("figure", {}, h("figcaption", {}, "On the projector"), projector(round, q, qi, revealed)));
}
