// The app's password in a real browser: a node with a password set
// (gridsync ui password) shows the login form (请输入密码) before any
// data, says when the password is wrong, opens on the right one, and
// asks again after logout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import http from "node:http";
import { browser, cli, tempDir, serve, settle, shot, GRIDSYNC } from "./lib.mjs";

const PASSWORD = "青河 longenough";

test("a password: login form, wrong then right password, logout", async () => {
  const root = tempDir("gs-login-");
  const dir = path.join(root, "office");
  cli(dir, ["init", "--name", "青河社区办公室"]);
  cli(dir, ["network", "create", "工人村街道"]);
  const set = spawnSync(GRIDSYNC, ["--dir", dir, "ui", "password"],
    { encoding: "utf8", env: { ...process.env, GRIDSYNC_UI_PASSWORD: PASSWORD } });
  assert.equal(set.status, 0, set.stderr);
  const s = await serve(dir);
  const b = await browser();
  try {
    const { page } = b;
    await page.goto(s.url + "#/");
    await page.waitForSelector(".login-form");
    assert.equal(await page.textContent(".login-form h1"), "请输入密码");
    assert.equal(await page.textContent("#who"), "", "no data before the login");
    await shot(page, "login");

    await page.fill("#login-password", "not the password");
    await page.click(".login-form button");
    await page.waitForFunction(() => document.querySelector(".login-form .error").textContent !== "");
    assert.match(await page.textContent(".login-form .error"), /密码不对/);

    await page.fill("#login-password", PASSWORD);
    await page.click(".login-form button");
    await settle(page);
    assert.equal(await page.$(".login-form"), null, "the form is gone");
    assert.equal(await page.textContent("#who"), "青河社区办公室");
    assert.equal(await page.getAttribute("#main", "data-ready"), "1");
    const cookies = await b.ctx.cookies(s.url);
    const c = cookies.find((k) => k.name === "gs_session");
    assert.ok(c && c.httpOnly && c.sameSite === "Strict", JSON.stringify(cookies));
    assert.equal(await page.evaluate(() => document.cookie), "", "the page cannot read it");

    await page.click("button.logout");
    await page.waitForSelector(".login-form");
    assert.deepEqual(b.errors.filter((e) => !/40[13]/.test(e)), []);
  } finally {
    await b.close();
    assert.equal(await s.stop(), 0);
    rmSync(root, { recursive: true, force: true });
  }
});

// A raw request from a chosen loopback address (127.0.0.2 is this
// computer too): {status, headers, body}.
function from(url, local, method, pathname, headers = {}, body = null) {
  const u = new globalThis.URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: pathname, localAddress: local,
      headers: { Host: u.host, ...headers } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

function loginFrom(url, local, password) {
  return from(url, local, "POST", "/api/login", { "Content-Type": "application/json" }, JSON.stringify({ password }));
}

test("the wrong-password delay is per client address; logout ends that session's event streams", async () => {
  const root = tempDir("gs-login2-");
  const dir = path.join(root, "office");
  cli(dir, ["init", "--name", "青河社区办公室"]);
  cli(dir, ["network", "create", "工人村街道"]);
  const set = spawnSync(GRIDSYNC, ["--dir", dir, "ui", "password"],
    { encoding: "utf8", env: { ...process.env, GRIDSYNC_UI_PASSWORD: PASSWORD } });
  assert.equal(set.status, 0, set.stderr);
  const s = await serve(dir);
  const streams = [];
  try {
    // a wrong password from 127.0.0.2: its answer waits, and meanwhile its
    // logins get 429 unchecked...
    // (twice, so that its delay, 2 s, outlasts a password check on a busy machine)
    assert.equal((await loginFrom(s.url, "127.0.0.2", "not the password")).status, 403);
    const wrong = loginFrom(s.url, "127.0.0.2", "not the password");
    // (checking a password takes a while: wait until the server did)
    for (let i = 0; i < 400 && !/a wrong password from 127\.0\.0\.2 \(2 in a row\)/.test(s.log()); i++)
      await new Promise((r) => setTimeout(r, 25));
    assert.match(s.log(), /a wrong password from 127\.0\.0\.2 \(2 in a row\): its logins wait 2000 ms/);
    assert.equal((await loginFrom(s.url, "127.0.0.2", PASSWORD)).status, 429);
    // ...but another address logs in at once
    const ok = await loginFrom(s.url, "127.0.0.1", PASSWORD);
    assert.equal(ok.status, 200);
    assert.equal((await wrong).status, 403);
    const cookieA = ok.headers["set-cookie"][0].split(";")[0];
    const cookieB = (await loginFrom(s.url, "127.0.0.1", PASSWORD)).headers["set-cookie"][0].split(";")[0];
    const csrf = JSON.parse((await from(s.url, "127.0.0.1", "GET", "/api/session", { Cookie: cookieA })).body).csrf;
    // two event streams, one per session
    const open = (cookie) => new Promise((resolve, reject) => {
      const u = new globalThis.URL(s.url);
      const req = http.request({ host: u.hostname, port: u.port, path: "/api/events",
        headers: { Host: u.host, Cookie: cookie } }, (res) => {
        const st = { status: res.statusCode, ended: false, req };
        res.on("data", () => {});
        res.on("end", () => { st.ended = true; });
        res.on("close", () => { st.ended = true; });
        resolve(st);
      });
      req.on("error", reject);
      req.end();
    });
    const a = await open(cookieA), bb = await open(cookieB);
    streams.push(a, bb);
    assert.equal(a.status, 200);
    assert.equal(bb.status, 200);
    const out = await from(s.url, "127.0.0.1", "POST", "/api/logout",
      { Cookie: cookieA, "X-CSRF-Token": csrf, "Content-Type": "application/json" }, "{}");
    assert.equal(out.status, 200);
    for (let i = 0; i < 50 && !a.ended; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.ended, true, "the logged-out session's stream ended");
    assert.equal(bb.ended, false, "another session's stream stays");
    assert.equal((await from(s.url, "127.0.0.1", "GET", "/api/status", { Cookie: cookieA })).status, 401);
    assert.equal((await from(s.url, "127.0.0.1", "GET", "/api/status", { Cookie: cookieB })).status, 200);
  } finally {
    for (const st of streams) st.req.destroy();
    assert.equal(await s.stop(), 0);
    rmSync(root, { recursive: true, force: true });
  }
});
