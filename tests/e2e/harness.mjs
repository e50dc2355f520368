// What every browser test shares: the real server binary on a fresh
// database, Debian's Chromium, pages at a phone's or a screen's size, and
// the two checks every test uses (text shown, axe-core clean).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = join(here, "artifacts");
const BIN = process.env.QUIZCAST_BIN || join(here, "../../target/debug/quizcast");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Starts the server on 127.0.0.1:0 with a fresh database; resolves to {server, base}. */
export async function startServer(name, args = []) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), `quizcast-${name}-`));
  const server = spawn(BIN, ["--addr", "127.0.0.1:0", "--db", join(dir, "q.db"), ...args],
    { stdio: ["ignore", "pipe", "inherit"] });
  const base = await new Promise((resolve, reject) => {
    let buf = "";
    server.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    server.on("exit", (c) => reject(new Error("server exited " + c)));
  });
  return { server, base };
}

/** Debian's Chromium, headless. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A page: a 360x740 phone (`phone`), or a screen of `width` x `height`;
 * `blockableWebSocket` gives a network whose WebSockets fail while
 * `window.blockWS` is true. Page errors are collected in `p.errors`.
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext(opts.phone
    ? { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
    : { viewport: { width: opts.width || 1280, height: opts.height || 800 }, acceptDownloads: !!opts.downloads });
  await context.addInitScript(() => { window.QUIZCAST_PING_MS = 1000; window.QUIZCAST_PROBE_MS = 1000; });
  if (opts.blockableWebSocket) {
    await context.addInitScript(() => {
      const Real = window.WebSocket;
      window.blockWS = true;
      window.WebSocket = function (url) {
        if (!window.blockWS) return new Real(url);
        const fake = { readyState: 0, send() {}, close() {} };
        setTimeout(() => fake.onclose?.({ code: 1006 }), 10);
        return fake;
      };
    });
  }
  const p = await context.newPage();
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(String(e)));
  p.on("dialog", (d) => d.accept());
  return p;
}

/** Waits until the element's text contains `text`; says what it showed instead. */
export async function see(p, selector, text, timeout = 15000) {
  try {
    await p.waitForFunction(([s, t]) => document.querySelector(s)?.textContent.includes(t), [selector, text], { timeout });
  } catch (e) {
    const got = await p.evaluate((s) => document.querySelector(s)?.textContent, selector).catch(() => "?");
    throw new Error(`${selector} never showed ${JSON.stringify(text)}; it shows ${JSON.stringify(got)}`);
  }
}

/** axe-core in the page: no violations, whatever the state. */
export async function axe(p, label) {
  if (!(await p.evaluate(() => !!window.axe))) await p.evaluate(AXE);
  const violations = await p.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`));
  assert.deepEqual(violations, [], `axe on ${label}`);
}

/** A real PNG (a w x h gradient), made here so the test needs no files. */
export function png(w, h, blue = 140) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const o = y * (w * 3 + 1) + 1 + x * 3;
    raw[o] = (x * 255) / w; raw[o + 1] = (y * 255) / h; raw[o + 2] = blue;
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
