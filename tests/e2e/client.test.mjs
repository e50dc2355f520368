// Unit tests of static/client.js with fake sockets, timers and fetch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, shouldReconnect, takeNew, clockOffset, QuizClient } from "../../static/client.js";

test("backoff: fast first retry, doubling, capped at 30 s, jittered", () => {
  assert.equal(backoffDelay(0, () => 1), 250);
  assert.equal(backoffDelay(0, () => 0), 125);
  assert.equal(backoffDelay(1, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 2000);
  assert.equal(backoffDelay(20, () => 1), 30000);
  assert.equal(backoffDelay(20, () => 0), 15000);
  for (let a = 0; a < 30; a++) {
    const d = backoffDelay(a);
    assert.ok(d >= 100 && d <= 30000, `attempt ${a}: ${d}`);
  }
});

test("terminal close codes stop reconnecting", () => {
  for (const c of [4000, 4001, 4003, 4004, 4009, 4010]) assert.equal(shouldReconnect(c), false, String(c));
  for (const c of [1000, 1001, 1006, 4008, 4012]) assert.equal(shouldReconnect(c), true, String(c));
});

test("takeNew drops what was already seen and keeps order", () => {
  const { fresh, last } = takeNew([{ seq: 3 }, { seq: 5 }, { seq: 5 }, { seq: 4 }, { seq: 7 }], 3);
  assert.deepEqual(fresh.map((e) => e.seq), [5, 7]);
  assert.equal(last, 7);
});

test("clock offset from a round trip", () => {
  assert.equal(clockOffset(1000, 1100, 5050), 4000);
});

class Timers {
  constructor() { this.q = []; this.id = 0; }
  set = (f, ms) => { const t = { f, ms, id: ++this.id }; this.q.push(t); return t.id; };
  clear = (id) => { this.q = this.q.filter((t) => t.id !== id); };
  /** Fires the earliest timer. */
  next() { this.q.sort((a, b) => a.ms - b.ms); const t = this.q.shift(); if (t) t.f(); return t; }
  delays() { return this.q.map((t) => t.ms); }
}

function fakeSockets() {
  const made = [];
  class FakeWS {
    constructor(url) { this.url = url; this.sent = []; this.readyState = 0; made.push(this); }
    send(d) { this.sent.push(JSON.parse(d)); }
    close(code) { this.readyState = 3; this.closedWith = code; }
    // test helpers
    open() { this.readyState = 1; this.onopen?.(); this.msg({ type: "connection:established", data: { protocolVersion: 1 } }); }
    msg(o) { this.onmessage?.({ data: JSON.stringify(o) }); }
    drop(code = 1006) { this.readyState = 3; this.onclose?.({ code }); }
    last(type) { return [...this.sent].reverse().find((m) => m.type === type); }
  }
  return { FakeWS, made };
}

function client(extra = {}) {
  const timers = new Timers();
  const { FakeWS, made } = fakeSockets();
  const events = [], snaps = [], states = [];
  const c = new QuizClient({
    base: "http://quiz.test", code: "ABCDE", role: "player", token: "tok",
    WebSocket: FakeWS, setTimeout: timers.set, clearTimeout: timers.clear, random: () => 1,
    onEvent: (e) => events.push(e), onSnapshot: (s, i) => snaps.push([s, i]), onState: (s, d) => states.push([s, d]),
    ...extra,
  });
  return { c, timers, made, events, snaps, states };
}

test("joins with the token, then resumes with since after a drop, without duplicates", () => {
  const { c, timers, made, events, snaps } = client();
  c.start();
  made[0].open();
  assert.deepEqual(made[0].last("join").data, { sessionCode: "ABCDE", role: "player", token: "tok" });
  made[0].msg({ type: "joined", id: "join", data: { role: "player", seq: 10, snapshot: { phase: "lobby" } } });
  assert.equal(snaps.length, 1);
  assert.equal(c.state, "connected");
  made[0].msg({ type: "game:question-opened", seq: 11, data: {} });
  made[0].msg({ type: "game:question-closed", seq: 12, data: {} });
  made[0].drop(1006);
  assert.equal(c.state, "reconnecting");
  // First retry is quick.
  assert.ok(timers.delays().includes(250), String(timers.delays()));
  while (made.length < 2) timers.next();
  made[1].open();
  assert.equal(made[1].last("join").data.since, 12);
  made[1].msg({ type: "joined", id: "join", data: { role: "player", seq: 14, snapshot: { phase: "closed" } } });
  // The replay may overlap what was seen: shown once.
  made[1].msg({ type: "game:question-closed", seq: 12, data: {} });
  made[1].msg({ type: "game:answer-revealed", seq: 13, data: {} });
  assert.deepEqual(events.map((e) => e.seq), [11, 12, 13]);
});

test("terminal close codes end the client with a reason", () => {
  const { c, timers, made, states } = client();
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  made[0].drop(4003);
  assert.equal(c.state, "closed");
  assert.match(states.at(-1)[1], /removed/);
  assert.equal(timers.q.filter((t) => t.ms < 30000).length, 0, "no reconnect scheduled");
});

test("an answer sent while offline is queued and resent until acknowledged", async () => {
  const { c, timers, made } = client();
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  made[0].drop(1006);
  const acked = c.send("answer:submit", { questionId: "q1", answer: "Paris" }, "answer:q1");
  // A newer answer to the same question replaces the queued one.
  const newer = c.send("answer:submit", { questionId: "q1", answer: "Lyon" }, "answer:q1");
  await assert.rejects(acked, (e) => e.code === "REPLACED");
  while (made.length < 2) timers.next();
  made[1].open();
  made[1].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  const sent = made[1].sent.filter((m) => m.type === "answer:submit");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].data.answer, "Lyon");
  made[1].msg({ type: "ack", id: sent[0].id, data: { questionId: "q1", revision: 1 } });
  assert.deepEqual(await newer, { questionId: "q1", revision: 1 });
  assert.equal(c.queue.size, 0);
});

test("a missing pong is a dead connection", () => {
  const { c, timers, made } = client({ pingEveryMs: 1000, pongTimeoutMs: 500 });
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  assert.ok(made[0].last("ping"));
  timers.next(); // the pong deadline (500 ms) fires first
  assert.equal(made[0].closedWith, 4999);
  assert.equal(c.state, "reconnecting");
});

test("a pong sets the clock offset", () => {
  const { c, made } = client();
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  const ping = made[0].last("ping");
  made[0].msg({ type: "pong", id: ping.id, data: { serverTime: Date.now() + 60000 } });
  assert.ok(Math.abs(c.offset - 60000) < 1000, String(c.offset));
});

test("when WebSockets fail, it falls back to long polling and sees every event once", async () => {
  const calls = [];
  const responses = [
    { seq: 5, resync: true, snapshot: { phase: "lobby" }, events: [] },
    { seq: 7, events: [{ type: "game:question-opened", seq: 6, data: {} }, { type: "presence:count", seq: 7, data: {} }] },
    { seq: 7, events: [{ type: "presence:count", seq: 7, data: {} }] },
  ];
  const fetch = async (url) => {
    calls.push(url);
    const body = responses.shift() || { seq: 7, events: [] };
    return { ok: true, status: 200, headers: { get: () => null }, json: async () => body };
  };
  const { c, timers, made, events, snaps } = client({ fetch });
  c.start();
  made[0].drop(1006); // never opened
  while (made.length < 2) timers.next();
  made[1].drop(1006); // never opened again: fall back
  assert.equal(c.mode, "poll");
  for (let i = 0; i < 10 && responses.length; i++) {
    await new Promise((r) => setImmediate(r));
    timers.next();
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(snaps.length, 1);
  assert.deepEqual(events.map((e) => e.seq), [6, 7]);
  assert.match(calls[1], /since=5/);
  assert.match(calls[2], /since=7/);
});

test("the browser's online event cuts a long backoff short", () => {
  const listeners = {};
  const win = { addEventListener: (t, f) => { listeners[t] = f; } };
  const { c, timers, made } = client({ window: win });
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  // Many failed attempts: the next retry is far away.
  c.attempt = 8;
  made[0].drop(1006);
  assert.ok(Math.max(...timers.delays()) >= 30000 / 2, String(timers.delays()));
  assert.equal(made.length, 1);
  listeners.online();
  assert.equal(made.length, 2, "reconnected at once");
  assert.equal(c.attempt, 0);
  // The long backoff was cancelled, not left to fire later.
  assert.equal(c.retryTimer, null);
  assert.ok(Math.max(...timers.delays()) <= c.connectTimeoutMs, String(timers.delays()));
});

test("an attempt that hangs in connecting is abandoned and retried", () => {
  const listeners = {};
  const win = { addEventListener: (t, f) => { listeners[t] = f; } };
  const { c, timers, made } = client({ window: win, connectTimeoutMs: 3000 });
  c.start();
  // Never opens, never closes: the connect timeout gives up on it.
  assert.ok(timers.delays().includes(3000));
  timers.next();
  assert.equal(made[0].closedWith, 4999);
  assert.equal(c.state, "reconnecting");
  while (made.length < 2) timers.next();
  // The second attempt hangs too, but the network comes back: retry now.
  listeners.online();
  assert.equal(made[1].closedWith, 4999);
  assert.equal(made.length, 3);
  made[2].open();
  made[2].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  assert.equal(c.state, "connected");
});

/** Fires the queued timer with this delay (the fake clock has no absolute time). */
function fire(timers, ms) {
  const t = timers.q.find((x) => x.ms === ms);
  assert.ok(t, `no timer of ${ms} ms in ${timers.delays()}`);
  timers.clear(t.id);
  t.f();
}

test("silence shows offline within 2 s, and anything heard shows live again", () => {
  const { c, timers, made, states } = client({ pingEveryMs: 1000, pongTimeoutMs: 4000, offlineAfterMs: 1900 });
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  assert.equal(c.state, "connected");
  assert.ok(c.offlineAfterMs < 2000);
  fire(timers, 1900);
  assert.equal(c.state, "offline");
  assert.equal(made[0].closedWith, undefined, "the socket is kept until the pong deadline");
  made[0].msg({ type: "pong", id: made[0].last("ping").id, data: { serverTime: Date.now() } });
  assert.equal(c.state, "connected");
  // Still silent at the pong deadline: dead, and the retry keeps saying offline.
  fire(timers, 1000); // the next ping
  fire(timers, 1900);
  fire(timers, 4000);
  assert.equal(made[0].closedWith, 4999);
  assert.equal(c.state, "offline");
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "connected", "offline", "connected", "offline"]);
});

test("the defaults notice a silent network loss within 2 s", () => {
  const { c } = client();
  assert.ok(c.pingEveryMs < c.offlineAfterMs && c.offlineAfterMs <= 2000, `${c.pingEveryMs} ${c.offlineAfterMs}`);
  assert.ok(c.pongTimeoutMs >= 4000, "a slow network is not cut off at once");
});

test("the browser's offline event shows offline at once", () => {
  const listeners = {};
  const win = { addEventListener: (t, f) => { listeners[t] = f; }, navigator: { onLine: true } };
  const { c, made } = client({ window: win });
  c.start();
  made[0].open();
  made[0].msg({ type: "joined", id: "join", data: { seq: 1, snapshot: {} } });
  win.navigator.onLine = false;
  listeners.offline();
  assert.equal(c.state, "offline");
  // Frames that still trickle in do not claim "live" while the browser is offline.
  made[0].msg({ type: "presence:count", seq: 2, data: {} });
  assert.equal(c.state, "offline");
  win.navigator.onLine = true;
  made[0].msg({ type: "presence:count", seq: 3, data: {} });
  assert.equal(c.state, "connected");
});

function pollingClient(extra = {}) {
  const calls = [];
  const aborted = [];
  const fetch = (url, opts = {}) => {
    calls.push(url);
    if (calls.length === 1) {
      const body = { seq: 5, resync: true, snapshot: { phase: "lobby" }, events: [] };
      return Promise.resolve({ ok: true, status: 200, headers: { get: () => null }, json: async () => body });
    }
    // Later polls hang (a long poll with nothing new) until aborted.
    return new Promise((_, reject) => opts.signal?.addEventListener("abort", () => { aborted.push(url); reject(new Error("aborted")); }));
  };
  const ctx = client({ fetch, probeEveryMs: 5000, ...extra });
  ctx.calls = calls;
  ctx.aborted = aborted;
  return ctx;
}

test("while long polling, a WebSocket is probed and taken back as soon as it works", async () => {
  const { c, timers, made, calls, aborted, snaps, events } = pollingClient();
  c.start();
  made[0].drop(1006);
  while (made.length < 2) timers.next();
  made[1].drop(1006);
  assert.equal(c.mode, "poll");
  assert.equal(c.state, "polling");
  for (let i = 0; i < 5; i++) { await new Promise((r) => setImmediate(r)); if (timers.q.some((t) => t.ms === 0)) fire(timers, 0); }
  assert.equal(snaps.length, 1);
  assert.equal(calls.length, 2, "a long poll is waiting");
  // The probe: a WebSocket that fails keeps the client polling and waits for the next probe.
  fire(timers, 5000);
  assert.equal(made.length, 3);
  made[2].drop(1006);
  assert.equal(c.mode, "poll");
  assert.equal(c.state, "polling");
  assert.ok(timers.delays().includes(5000), "next probe scheduled");
  // The next probe works: back on the WebSocket, resuming from the polled seq.
  fire(timers, 5000);
  assert.equal(made.length, 4);
  made[3].open();
  assert.equal(made[3].last("join").data.since, 5);
  made[3].msg({ type: "joined", id: "join", data: { role: "player", seq: 6, snapshot: { phase: "question" } } });
  made[3].msg({ type: "game:question-opened", seq: 6, data: {} });
  assert.equal(c.mode, "ws");
  assert.equal(c.state, "connected");
  assert.equal(aborted.length, 1, "the waiting long poll was dropped");
  assert.equal(snaps.length, 1, "a resume, not a new snapshot");
  assert.deepEqual(events.map((e) => e.seq), [6]);
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 2, "no more polling");
  assert.ok(!timers.delays().includes(5000), "no more probes");
  // Answers now go over the WebSocket.
  c.send("answer:submit", { questionId: "q1", answer: "x" }, "answer:q1");
  assert.equal(made[3].last("answer:submit").data.answer, "x");
});

test("leave goes over the WebSocket when joined, else over HTTP (DELETE players/me)", async () => {
  // Joined on a WebSocket: a `leave` message, answered by its ack.
  const a = client();
  a.c.start();
  a.made[0].open();
  a.made[0].msg({ type: "joined", id: "join", data: { role: "player", seq: 1, snapshot: {} } });
  const left = a.c.leave();
  const msg = a.made[0].last("leave");
  assert.ok(msg, "sent leave");
  a.made[0].msg({ type: "ack", id: msg.id, data: {} });
  await left;
  assert.equal(a.c.stopped, true);

  // On long polling (or with no socket): the HTTP twin, with the token.
  const calls = [];
  const fetch = async (url, init) => { calls.push([url, init]); return { ok: true, status: 204 }; };
  const b = client({ fetch });
  b.c.mode = "poll";
  await b.c.leave();
  assert.equal(calls[0][0], "http://quiz.test/api/sessions/ABCDE/players/me");
  assert.equal(calls[0][1].method, "DELETE");
  assert.equal(calls[0][1].headers.Authorization, "Bearer tok");
  assert.equal(b.c.stopped, true);
});
