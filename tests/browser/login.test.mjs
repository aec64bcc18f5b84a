// The app's password in a real browser: a node with a password set
// (gridsync ui password) shows the login form (请输入密码) before any
// data, says when the password is wrong, opens on the right one, and
// asks again after logout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
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
