// quizcast client module, shared by every page.
//
// One connection to a session: WebSocket first, long polling when WebSockets
// fail, and back to a WebSocket as soon as one works again (probed every
// `probeEveryMs` while polling); resume with `since` so nothing is missed or
// shown twice; app-level ping to notice dead connections, and "offline" shown
// within `offlineAfterMs` of silence (or at once when the browser says it is
// offline); reconnect with capped exponential backoff and jitter; honour
// terminal close codes; queue answers and marks while disconnected and resend
// them until acknowledged; estimate the server clock.
//
// Pure helpers are exported for unit tests (node --test).

/** Close codes after which reconnecting is pointless. */
export const TERMINAL_CLOSE = new Map([
  [4000, "protocol error"],
  [4001, "your session token is no longer valid"],
  [4003, "you were removed from the quiz"],
  [4004, "this quiz does not exist"],
  [4009, "the quiz is full"],
  [4010, "the quiz has ended"],
]);

export function shouldReconnect(code) {
  return !TERMINAL_CLOSE.has(code);
}

/** Delay before reconnect attempt `attempt` (0-based): fast first retry,
 * doubling, capped at 30 s, with jitter so a room of phones does not
 * reconnect in lockstep. Never below 100 ms. */
export function backoffDelay(attempt, random = Math.random) {
  const base = 250 * 2 ** Math.min(attempt, 10);
  const capped = Math.min(30000, base);
  return Math.max(100, Math.round(capped * (0.5 + random() / 2)));
}

/** Filters events already seen; returns the new ones and the new last seq. */
export function takeNew(events, lastSeq) {
  const fresh = [];
  let last = lastSeq;
  for (const e of events) {
    if (typeof e.seq !== "number") { fresh.push(e); continue; }
    if (e.seq <= last) continue;
    last = e.seq;
    fresh.push(e);
  }
  return { fresh, last };
}

/** Server clock offset from one ping round trip (ms to add to Date.now()). */
export function clockOffset(sentAt, receivedAt, serverTime) {
  return serverTime - (sentAt + receivedAt) / 2;
}

/** Message types that must survive disconnects until acknowledged. */
const DURABLE = new Set(["answer:submit", "mark:submit"]);
/** HTTP twins for the polling fallback. */
const HTTP_SEND = {
  "answer:submit": "answers",
  "mark:submit": "marks",
  "chat:send": "chat",
};

export class QuizClient {
  /**
   * @param {object} o
   * @param {string} o.base     http(s) origin, e.g. location.origin
   * @param {string} o.code     session code
   * @param {string} o.role     "player" | "mc" | "display"
   * @param {string} [o.token]
   * @param {(ev: object) => void} [o.onEvent]     every new session event, in order
   * @param {(snap: object, info: object) => void} [o.onSnapshot]
   * @param {(state: string, detail?: string) => void} [o.onState]
   */
  constructor(o) {
    this.base = o.base.replace(/\/$/, "");
    this.code = o.code;
    this.role = o.role;
    this.token = o.token || null;
    this.onEvent = o.onEvent || (() => {});
    this.onSnapshot = o.onSnapshot || (() => {});
    this.onState = o.onState || (() => {});
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    this.window = o.window || null;
    this.fetch = o.fetch || ((...a) => globalThis.fetch(...a));
    this.setTimeout = o.setTimeout || ((f, ms) => globalThis.setTimeout(f, ms));
    this.clearTimeout = o.clearTimeout || ((t) => globalThis.clearTimeout(t));
    this.random = o.random || Math.random;
    // Pages may tune these (tests shorten them) with window.QUIZCAST_PING_MS
    // and window.QUIZCAST_PROBE_MS.
    // A ping a second keeps "offline" within 2 s of a silent network loss
    // (a phone on wifi without internet fires no offline event); a few bytes
    // a second per phone.
    this.pingEveryMs = o.pingEveryMs || globalThis.QUIZCAST_PING_MS || 1000;
    // The connection counts as dead when the oldest unanswered ping is this old
    // (slow networks still get a few seconds before a reconnect).
    this.pongTimeoutMs = o.pongTimeoutMs || Math.max(4000, 2 * this.pingEveryMs);
    // Nothing heard for this long: show "offline" (the connection is kept,
    // and shows "live" again as soon as anything arrives).
    this.offlineAfterMs = o.offlineAfterMs || Math.max(1900, this.pingEveryMs + 900);
    // While on long polling, try a WebSocket again this often.
    this.probeEveryMs = o.probeEveryMs || globalThis.QUIZCAST_PROBE_MS || 15000;
    // A connection attempt that neither opens nor fails (flaky mobile data)
    // is abandoned after this long.
    this.connectTimeoutMs = o.connectTimeoutMs || Math.max(3000, 3 * this.pingEveryMs);
    this.lastSeq = null;
    this.offset = 0;
    this.state = "idle";
    this.attempt = 0;
    this.wsFailures = 0;
    this.mode = "ws";
    this.ws = null;
    this.nextId = 1;
    // Message ids are unique across page loads too: in cluster mode a
    // message id (with its command) is how a retry through another node is
    // recognised, so a reload must not reuse "c1".
    this.idPrefix = "c" + randomTag() + "-";
    this.pending = new Map(); // id -> {type, data, resolve, reject, key}
    this.queue = new Map(); // key -> message waiting for a connection or ack
    this.stopped = false;
    this.timers = new Set();
    /** The last 100 things that happened to this connection, for support. */
    this.log = [];
  }

  note(what) {
    this.log.push(`${Date.now() % 100000} ${what}`);
    if (this.log.length > 100) this.log.shift();
  }

  setState(s, detail) {
    if (this.state === s && !detail) return;
    this.note(`state ${s}${detail ? " " + detail : ""}`);
    this.state = s;
    this.onState(s, detail);
  }

  later(f, ms) {
    const t = this.setTimeout(() => { this.timers.delete(t); f(); }, ms);
    this.timers.add(t);
    return t;
  }

  /** Server time now, in epoch ms. */
  now() {
    return Date.now() + this.offset;
  }

  start() {
    this.stopped = false;
    // The network is back (or the phone woke up): don't sit out a long
    // backoff, try again now.
    const g = this.window || globalThis;
    if (g.addEventListener && !this.listening) {
      this.listening = true;
      g.addEventListener("online", () => this.retryNow());
      g.addEventListener("offline", () => {
        if (!this.stopped && this.state !== "closed") this.setState("offline");
      });
      g.document?.addEventListener?.("visibilitychange", () => {
        if (g.document.visibilityState === "visible") this.retryNow();
      });
    }
    if (!this.WebSocket) return this.startPolling();
    this.openSocket();
  }

  /** True when the browser knows it has no network. */
  browserOffline() {
    const n = (this.window || globalThis).navigator;
    return !!n && n.onLine === false;
  }

  /** Cuts a pending backoff short when the network is known to be back. */
  retryNow() {
    if (this.stopped || this.state === "connected" || this.state === "polling") return;
    if (this.mode === "poll") this.probeNow();
    if (this.retryTimer) {
      this.clearTimeout(this.retryTimer);
      this.timers.delete(this.retryTimer);
      this.retryTimer = null;
    } else if (this.mode === "poll" && this.pollAbort) {
      // A long poll may hang on a dead network: start a fresh one.
      this.restartPoll = true;
      this.pollAbort.abort();
      return;
    } else if (!(this.mode === "ws" && this.abandon && this.abandon())) {
      return; // an attempt is under way and not stuck in connecting
    }
    this.attempt = 0;
    if (this.mode === "ws") this.openSocket();
    else this.poll();
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) this.clearTimeout(t);
    this.timers.clear();
    if (this.ws) { try { this.ws.close(1000); } catch (_) {} }
    this.ws = null;
    if (this.pollAbort) { try { this.pollAbort.abort(); } catch (_) {} }
  }

  /**
   * A player leaves for good: `leave` over a joined WebSocket, else its
   * HTTP twin (`DELETE .../players/me`, e.g. on long polling). Resolves
   * once the server has it (or rejects); stops the connection either way.
   */
  async leave(timeoutMs = 3000) {
    const viaSocket = this.mode === "ws" && this.state === "connected";
    let timer;
    const timeout = new Promise((_, no) => { timer = this.setTimeout(() => no(new Error("timeout")), timeoutMs); });
    const done = viaSocket ? this.send("leave", {})
      : this.fetch(`${this.base}/api/sessions/${this.code}/players/me`, {
        method: "DELETE", headers: { Authorization: `Bearer ${this.token}` },
      }).then((r) => { if (!r.ok && r.status !== 403) throw new Error("leave " + r.status); });
    done.catch(() => {}); // a late failure after the timeout is nobody's business
    try { await Promise.race([done, timeout]); } finally { this.clearTimeout(timer); this.stop(); }
  }

  joinData() {
    const d = { sessionCode: this.code, role: this.role };
    if (this.token) d.token = this.token;
    if (this.lastSeq !== null) d.since = this.lastSeq;
    return d;
  }

  /**
   * Opens a WebSocket and joins. `probe`: a try while on long polling; the
   * polling goes on until this socket has joined, and a failure just waits
   * for the next probe.
   */
  openSocket(probe = false) {
    if (this.stopped) return;
    if (probe) { this.probing = true; this.note("probe ws"); }
    else this.setState(this.attempt === 0 && this.lastSeq === null ? "connecting" : this.browserOffline() || this.state === "offline" ? "offline" : "reconnecting");
    const url = this.base.replace(/^http/, "ws") + "/ws";
    let ws;
    try {
      ws = new this.WebSocket(url);
    } catch (_) {
      if (probe) { this.probing = false; return this.scheduleProbe(); }
      return this.socketFailed(false);
    }
    if (!probe) this.ws = ws;
    else this.probeWs = ws;
    let opened = false;
    let joined = false;
    let pongDue = null;
    let pingTimer = null;
    let quiet = null;
    // Any frame proves the connection alive; silence shows "offline".
    const heard = () => {
      if (quiet) this.clearTimeout(quiet);
      quiet = this.later(() => { quiet = null; if (this.ws === ws) this.setState("offline"); }, this.offlineAfterMs);
      if (this.state === "offline" && this.ws === ws && !this.browserOffline()) this.setState("connected");
    };
    // A probe that does not work out waits for the next probe.
    const probeFailed = () => {
      this.probing = false;
      if (this.probeWs === ws) this.probeWs = null;
      this.scheduleProbe();
    };
    // Abandons an attempt that hangs (no open, no close) or never gets joined.
    let connectDue = this.later(() => {
      connectDue = null;
      if (joined) return;
      try { ws.close(4999); } catch (_) {}
      cleanup();
      if (probe) return probeFailed();
      this.socketFailed();
    }, this.connectTimeoutMs);
    if (!probe) this.abandon = () => {
      if (joined) return false;
      try { ws.close(4999); } catch (_) {}
      cleanup();
      return true;
    };
    const dead = () => {
      this.note("no pong: dead");
      try { ws.close(4999); } catch (_) {}
      cleanup();
      this.socketLost(joined);
    };
    const ping = () => {
      if (this.ws !== ws) return;
      const sentAt = Date.now();
      this.rawSend({ type: "ping", id: "ping-" + sentAt });
      // Measured from the oldest unanswered ping.
      if (!pongDue) pongDue = this.later(dead, this.pongTimeoutMs);
      pingTimer = this.later(ping, this.pingEveryMs);
    };
    const cleanup = () => {
      if (pongDue) this.clearTimeout(pongDue);
      if (pingTimer) this.clearTimeout(pingTimer);
      if (quiet) { this.clearTimeout(quiet); quiet = null; }
      if (connectDue) { this.clearTimeout(connectDue); connectDue = null; }
      if (!probe || joined) this.abandon = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (this.ws === ws) this.ws = null;
    };
    ws.onopen = () => { opened = true; };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      this.note(`close ${e.code} opened=${opened} joined=${joined}`);
      cleanup();
      if (probe && !joined) return probeFailed();
      if (!opened) return this.socketFailed(false);
      if (!shouldReconnect(e.code)) {
        this.stopped = true;
        this.setState("closed", TERMINAL_CLOSE.get(e.code));
        return;
      }
      this.socketLost(joined);
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (msg.type === "connection:established") {
        try { ws.send(JSON.stringify({ type: "join", id: "join", data: this.joinData() })); } catch (_) {}
        return;
      }
      if (msg.type === "joined") {
        this.note(`joined seq=${msg.data.seq} resync=${!!msg.data.resync} since=${this.lastSeq}`);
        joined = true;
        if (probe) {
          // A WebSocket works again: leave long polling. The poll under way
          // is dropped; the join's replay from `since` covers its events.
          probe = false;
          this.probing = false;
          this.probeWs = null;
          if (this.probeTimer) { this.clearTimeout(this.probeTimer); this.timers.delete(this.probeTimer); this.probeTimer = null; }
          if (this.retryTimer) { this.clearTimeout(this.retryTimer); this.timers.delete(this.retryTimer); this.retryTimer = null; }
          this.ws = ws;
          this.mode = "ws";
          if (this.pollAbort) { try { this.pollAbort.abort(); } catch (_) {} this.pollAbort = null; }
          this.note("back to ws");
        }
        if (connectDue) { this.clearTimeout(connectDue); connectDue = null; }
        this.attempt = 0;
        this.wsFailures = 0;
        this.mode = "ws";
        this.handleJoined(msg.data);
        this.setState("connected");
        heard();
        ping();
        this.flushQueue();
        return;
      }
      if (joined) heard();
      if (msg.type === "pong") {
        if (pongDue) { this.clearTimeout(pongDue); pongDue = null; }
        const sentAt = Number(String(msg.id || "").replace("ping-", ""));
        if (sentAt) this.offset = clockOffset(sentAt, Date.now(), msg.data.serverTime);
        return;
      }
      this.handleMessage(msg);
    };
  }

  handleJoined(data) {
    if (data.token && !this.token) this.token = data.token;
    if (data.playerId) this.playerId = data.playerId;
    // First join or resync: the snapshot is the whole truth as of data.seq.
    // A resume: the events in (since, seq] follow, in order; applying them to
    // what this client already shows brings it up to date, so the snapshot
    // (newer than those events) is not applied on top.
    if (this.lastSeq === null || data.resync) {
      this.lastSeq = data.seq;
      this.onSnapshot(data.snapshot, { resync: !!data.resync, seq: data.seq, joined: data });
    }
  }

  handleMessage(msg) {
    if (msg.type === "ack" || msg.type === "error" || msg.type === "game:state") {
      if (msg.type === "game:state") {
        this.lastSeq = msg.data.seq;
        this.onSnapshot(msg.data.snapshot, { resync: true, seq: msg.data.seq });
      }
      const p = msg.id != null ? this.pending.get(String(msg.id)) : null;
      if (p) {
        this.pending.delete(String(msg.id));
        if (p.key) this.queue.delete(p.key);
        if (msg.type === "error") p.reject(Object.assign(new Error(msg.data.message), { code: msg.data.code }));
        else p.resolve(msg.data);
      }
      return;
    }
    this.note(`event ${msg.type} ${msg.seq}`);
    const { fresh, last } = takeNew([msg], this.lastSeq ?? 0);
    this.lastSeq = last;
    for (const e of fresh) this.onEvent(e);
  }

  socketLost(wasJoined) {
    if (this.stopped) return;
    if (!wasJoined) this.wsFailures++;
    this.retry();
  }

  socketFailed() {
    if (this.stopped) return;
    this.wsFailures++;
    // WebSockets blocked (proxy, captive portal)? Fall back to long polling
    // (a display polls without a token).
    if (this.wsFailures >= 2 && (this.token || this.role === "display")) return this.startPolling();
    this.retry();
  }

  retry() {
    const delay = backoffDelay(this.attempt++, this.random);
    this.setState(this.attempt > 6 || this.browserOffline() || this.state === "offline" ? "offline" : "reconnecting");
    this.retryTimer = this.later(() => {
      this.retryTimer = null;
      return this.mode === "ws" ? this.openSocket() : this.poll();
    }, delay);
  }

  rawSend(obj) {
    if (this.ws && this.ws.readyState === 1) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  /**
   * Sends a message; resolves with the ack's data. Answers and marks are
   * queued while disconnected and resent until acknowledged (the server
   * treats a repeat as a no-op); `key` makes a newer one replace an older.
   */
  send(type, data, key) {
    return new Promise((resolve, reject) => {
      const id = this.idPrefix + this.nextId++;
      const entry = { id, type, data, resolve, reject, key: DURABLE.has(type) ? key || type + ":" + id : null };
      if (entry.key) {
        const old = this.queue.get(entry.key);
        if (old) { this.pending.delete(old.id); old.reject(Object.assign(new Error("replaced"), { code: "REPLACED" })); }
        this.queue.set(entry.key, entry);
      }
      this.pending.set(id, entry);
      this.transmit(entry);
    });
  }

  transmit(entry) {
    if (this.mode === "poll") return this.httpSend(entry);
    if (!this.rawSend({ type: entry.type, id: entry.id, data: entry.data }) && !entry.key) {
      this.pending.delete(entry.id);
      entry.reject(Object.assign(new Error("not connected"), { code: "OFFLINE" }));
    }
  }

  flushQueue() {
    for (const entry of this.queue.values()) this.transmit(entry);
  }

  async httpSend(entry) {
    const route = HTTP_SEND[entry.type];
    if (!route) return;
    try {
      const r = await this.fetch(`${this.base}/api/sessions/${this.code}/${route}`, {
        method: "POST",
        // A resend of the same message is recognised (one effect).
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}`, "Idempotency-Key": entry.id },
        body: JSON.stringify(entry.data),
      });
      const body = r.status === 204 ? {} : await r.json().catch(() => ({}));
      if (!this.pending.has(entry.id)) return;
      if (r.ok) {
        this.pending.delete(entry.id);
        if (entry.key) this.queue.delete(entry.key);
        entry.resolve(body);
      } else if (r.status < 500 && r.status !== 429) {
        this.pending.delete(entry.id);
        if (entry.key) this.queue.delete(entry.key);
        entry.reject(Object.assign(new Error(body.error?.message || r.statusText), { code: body.error?.code }));
      }
    } catch (_) {
      // Offline: stays queued (if durable) and goes again on the next poll.
      if (!entry.key) { this.pending.delete(entry.id); entry.reject(Object.assign(new Error("offline"), { code: "OFFLINE" })); }
    }
  }

  startPolling() {
    this.mode = "poll";
    this.attempt = 0;
    this.setState("polling");
    this.scheduleProbe();
    this.poll();
  }

  /** While polling, tries a WebSocket again after `probeEveryMs`. */
  scheduleProbe() {
    if (this.stopped || this.mode !== "poll" || !this.WebSocket || this.probeTimer || this.probing) return;
    this.probeTimer = this.later(() => { this.probeTimer = null; this.probeNow(); }, this.probeEveryMs);
  }

  probeNow() {
    if (this.stopped || this.mode !== "poll" || !this.WebSocket || this.probing) return;
    if (this.probeTimer) { this.clearTimeout(this.probeTimer); this.timers.delete(this.probeTimer); this.probeTimer = null; }
    this.openSocket(true);
  }

  async poll() {
    if (this.stopped || this.mode !== "poll") return;
    const since = this.lastSeq ?? 0;
    const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    try {
      const t0 = Date.now();
      const ac = typeof AbortController === "function" ? new AbortController() : null;
      this.pollAbort = ac;
      const r = await this.fetch(`${this.base}/api/sessions/${this.code}/events?since=${since}&wait=${this.lastSeq === null ? 0 : 25}`, { headers, signal: ac?.signal });
      if (this.mode !== "poll" || this.stopped) return; // back on a WebSocket
      if (r.status === 401 || r.status === 403 || r.status === 404) {
        this.stopped = true;
        this.setState("closed", r.status === 404 ? TERMINAL_CLOSE.get(4004) : TERMINAL_CLOSE.get(r.status === 403 ? 4003 : 4001));
        return;
      }
      if (!r.ok) throw new Error("poll " + r.status);
      const date = Date.parse(r.headers.get("date") || "");
      if (date && Date.now() - t0 < 1500) this.offset = clockOffset(t0, Date.now(), date);
      const body = await r.json();
      if (this.mode !== "poll" || this.stopped) return;
      this.pollAbort = null;
      this.setState("polling");
      this.attempt = 0;
      if (body.resync || this.lastSeq === null) {
        let snap = body.snapshot;
        if (!snap) {
          const s = await this.fetch(`${this.base}/api/sessions/${this.code}/state`, { headers });
          snap = await s.json();
        }
        this.lastSeq = body.seq;
        this.onSnapshot(snap, { resync: true, seq: body.seq });
      } else {
        const { fresh, last } = takeNew(body.events || [], this.lastSeq);
        this.lastSeq = Math.max(last, body.seq);
        for (const e of fresh) {
          this.onEvent(e);
          if (e.type === "session:ended") { this.stopped = true; this.setState("closed", TERMINAL_CLOSE.get(4010)); return; }
        }
      }
      this.flushQueue();
      this.later(() => this.poll(), 0);
    } catch (_) {
      this.pollAbort = null;
      if (this.mode !== "poll" || this.stopped) return;
      if (this.restartPoll) { this.restartPoll = false; this.later(() => this.poll(), 0); return; }
      this.retry();
    }
  }
}

/** Renders text safely: user content never becomes markup. */
export function text(el, value) {
  el.textContent = value == null ? "" : String(value);
  return el;
}

/** Creates an element with text and attributes (no innerHTML anywhere). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A short random tag (ids unique across page loads). */
function randomTag() {
  const u = globalThis.crypto?.randomUUID?.();
  return u ? u.slice(0, 8) : Math.random().toString(36).slice(2, 10);
}

/** How long a change is retried while the server cannot take it. */
const API_RETRY_MS = 15000;

/**
 * Calls the HTTP API; throws an Error with `.code` and `.field` on failure.
 * A change (any method but GET) carries an `Idempotency-Key` and is sent
 * again with the same key while the network fails or the server answers
 * 503 (a node taking a session over, a full disk), for up to 15 s: the
 * server runs it once however often it arrives.
 */
export async function api(method, path, { token, body, retryMs = API_RETRY_MS } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const change = method !== "GET";
  if (change) headers["Idempotency-Key"] = "k" + randomTag() + randomTag();
  const until = Date.now() + (change ? retryMs : 0);
  let r;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      if (r.status !== 503 || Date.now() + wait > until) break;
    } catch (e) {
      if (Date.now() + wait > until) throw Object.assign(new Error("offline: " + e.message), { code: "OFFLINE" });
    }
    await new Promise((res) => setTimeout(res, wait));
  }
  if (r.status === 204) return {};
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error(data.error?.message || `${r.status} ${r.statusText}`);
    e.code = data.error?.code;
    e.field = data.error?.field;
    e.status = r.status;
    throw e;
  }
  return data;
}

/** Seconds left until `deadline` by the server's clock. */
export function secondsLeft(deadline, client) {
  if (!deadline) return null;
  return Math.max(0, Math.ceil((deadline - client.now()) / 1000));
}
