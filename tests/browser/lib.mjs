// Helpers of the browser tests: the gridsync CLI, `gridsync serve`
// processes on loopback (ports chosen by the OS), and Debian's chromium
// driven by playwright-core (never a downloaded browser).
//
// The runner (run.sh) seeds one demo community and serves it; its
// directory and the app's address come in GS_DIR and GS_URL. GRIDSYNC is
// the binary under test.
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const GRIDSYNC = process.env.GRIDSYNC;
export const CHROMIUM = process.env.GS_CHROMIUM || "/usr/bin/chromium";
export const SHOTS = path.join(HERE, "screenshots");
export const W = 1366, H = 768;
// A record id: 26 characters of Crockford base32.
export const ID_RE = /[0-9A-Z]{26}/;

if (!GRIDSYNC) throw new Error("GRIDSYNC is not set: run tests/browser/run.sh");

// Run the CLI; throws on a nonzero exit unless ok is false.
export function cli(dir, args, { ok = true } = {}) {
  const r = spawnSync(GRIDSYNC, ["--dir", dir, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (ok && r.status !== 0)
    throw new Error(`gridsync ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The CLI's --json answer.
export function cliJson(dir, args) {
  return JSON.parse(cli(dir, ["--json", ...args]).stdout);
}

// A fresh node directory (removed by the caller's cleanup).
export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

// `gridsync serve` on loopback with extra args; resolves once the app's
// address is printed, or rejects with what it printed if it exits first.
export function serve(dir, extra = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(GRIDSYNC, ["--dir", dir, "serve", "--listen", "127.0.0.1:0",
      "--ui", "127.0.0.1:0", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    const timer = setTimeout(() => { p.kill("SIGKILL"); reject(new Error("serve did not start: " + out + err)); }, 15000);
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/the app is at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve({ url: m[1], proc: p, stop: () => stop(p), output: () => out, log: () => err }); }
    });
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${out}${err}`)); });
  });
}

function stop(p) {
  return new Promise((resolve) => {
    if (p.exitCode !== null) return resolve(p.exitCode);
    p.on("exit", (code) => resolve(code));
    p.kill("SIGTERM");
  });
}

// Chromium headless, background networking off, a fresh profile; one
// 1366x768 page in Chinese, Beijing time.
export async function browser() {
  const profile = tempDir("gs-chromium-");
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
      "--disable-default-apps", "--disable-extensions"],
    viewport: { width: W, height: H },
    locale: "zh-CN",
    timezoneId: "Asia/Shanghai",
  });
  // a wait is a bound on a fault, not a speed test: the sanitizer build on
  // a busy two-core machine has taken over 10 s for a step that takes 0.3
  ctx.setDefaultTimeout(30000);
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // an answer of 4xx is the page's to explain (and the tests check it
  // does); any other console error is a fault
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      errors.push(m.text());
  });
  return {
    ctx, page, errors,
    close: async () => { await ctx.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

// Open a page of the app and wait until it has drawn (the app marks main
// when a page is drawn, and for which address).
export async function open(page, url, hash) {
  const target = url + (hash || "#/");
  if (page.url() === target) await page.reload();
  else await page.goto(target);
  await settle(page);
}

export async function settle(page) {
  await page.waitForFunction(() => {
    const m = document.getElementById("main");
    return m && m.dataset.ready === "1" && m.dataset.drawn === (location.hash || "#/");
  });
}

// What a person sees: no horizontal scroll at 1366 px, no record id in
// the visible text, no script error; then a screenshot.
export async function check(page, name, errors) {
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(sw <= W, `${name}: the page scrolls sideways (${sw} px wide)`);
  const text = await page.evaluate(() => document.body.innerText);
  const id = text.match(ID_RE);
  assert.equal(id, null, `${name}: a record id on the page: ${id && id[0]}`);
  const junk = text.match(/\b(null|undefined|NaN)\b|\[object /);
  assert.equal(junk, null, `${name}: a program's word on the page: ${junk && junk[0]}`);
  if (errors) assert.deepEqual(errors, [], `${name}: script errors`);
  await shot(page, name);
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + ".png") });
}

// The app's CSRF token, as the page gets it.
export async function token(url) {
  const r = await fetch(url + "api/session");
  return (await r.json()).csrf;
}

// A raw HTTP request to the app (any headers, Host included): resolves to
// {status, headers, body}. body may be a string or a Buffer; the answer
// is taken as soon as it comes, even if the server stops reading early.
export function request(url, method, pathname, headers = {}, body = null) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: "/" + pathname,
      headers: { Host: u.host, ...headers } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}
