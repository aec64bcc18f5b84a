// 同步与成员 and 待处理, with a second node: an invite made in the office's
// app, shown as a QR code (read back from a screenshot with zbarimg) and
// as text; a fresh laptop joins by pasting it into its own app (refusals
// in Chinese); "sync now"; an edit made in the office's app appears in the
// leader's open page without a reload; a status moved on both while they
// were apart shows in the inbox and is settled there; a USB bundle is
// downloaded from one app and uploaded into another.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync, readFileSync } from "node:fs";
import path from "node:path";
import { browser, open, settle, check, cli, cliJson, serve, tempDir, SHOTS } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR, PEER = process.env.GS_PEER;
const G3 = "gongrencun/qinghejv/g03";
const WHO = "李阿姨，3号楼";
let b, leader = null, leaderDir, code;
const dirs = [];

before(async () => {
  b = await browser();
  leaderDir = tempDir("gs-leader-");
  dirs.push(leaderDir);
  cli(leaderDir, ["init", "--name", "三网格楼栋长的电脑"]);
});
after(async () => {
  // a clean stop (a sanitizer build reports leaks in the exit code)
  if (leader) assert.equal(await leader.stop(), 0);
  await b.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function zbar(png) {
  return spawnSync("zbarimg", ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", png], { encoding: "utf8" });
}

test("an invite made in the app is a QR code that reads back as the code shown", async (t) => {
  const { page } = b;
  await open(page, URL, "#/sync");
  await page.getByLabel("角色").selectOption({ label: "楼栋长" });
  await page.getByLabel("负责的网格").selectOption({ label: "第三网格" });
  // who it is for: the members table names the laptop that joins by it
  await page.getByLabel("给谁（姓名、楼栋）").fill(WHO);
  await page.getByRole("button", { name: "生成邀请码" }).click();
  await page.locator("#invite-qr").waitFor();
  assert.match(await page.locator("#invite-out").textContent(), new RegExp("这是给「" + WHO + "」的邀请码"));
  code = await page.locator("#invite-code").inputValue();
  assert.ok(code.length > 40, "a code is shown as text");
  await page.locator("#invite-out").scrollIntoViewIfNeeded();
  await page.evaluate(() => document.getElementById("invite-form").scrollIntoView());
  await check(page, "sync-invite", b.errors);
  const png = path.join(SHOTS, "invite-qr.png");
  await page.locator("#invite-qr").screenshot({ path: png });
  const z = zbar(png);
  if (z.error && z.error.code === "ENOENT") return t.skip("zbarimg is missing (apt-get install zbar-tools)");
  assert.equal(z.status, 0, "zbarimg found a code: " + z.stderr);
  assert.equal(z.stdout.trim(), code);
});

test("a fresh laptop joins by pasting the code into its own app", async () => {
  assert.ok(code, "the invite test ran");
  assert.ok(PEER, "run.sh gives the office's peer address");
  // no gossip of its own in this test: the button makes it sync
  leader = await serve(leaderDir, ["--gossip-ms", "86400000"]);
  const page = await b.ctx.newPage();
  try {
    await open(page, leader.url, "#/sync");
    assert.match(await page.locator("main").textContent(), /本机还没有加入网络/);
    // a mistyped code is refused, in Chinese
    await page.getByLabel("把管理员给的邀请码粘贴到这里").fill(code.slice(0, -3) + "xyz");
    await page.getByRole("button", { name: "加入", exact: true }).click();
    await page.locator("#join-result.error").waitFor();
    assert.match(await page.locator("#join-result").textContent(), /没有加入：(这不是有效的邀请码|这个邀请码被改动过)/);
    assert.equal(cliJson(leaderDir, ["status"]).network, null);
    await page.getByLabel("把管理员给的邀请码粘贴到这里").fill(code);
    await page.getByRole("button", { name: "加入", exact: true }).click();
    await page.locator("#join-result.ok").waitFor();
    assert.match(await page.locator("#join-result").textContent(), /已加入网络「工人村街道」，角色：楼栋长/);
    const st = cliJson(leaderDir, ["status"]);
    assert.equal(st.network.name, "工人村街道");
    assert.equal(st.network.role, "leader");
    // the same code again: refused, in Chinese
    await page.getByLabel("把管理员给的邀请码粘贴到这里").fill(code);
    await page.getByRole("button", { name: "加入", exact: true }).click();
    await page.locator("#join-result.error").waitFor();
    assert.match(await page.locator("#join-result").textContent(), /已经加入了一个网络/);
    // 概况 says, in plain words, what it has not passed on yet: its claim
    const unsent = cliJson(leaderDir, ["status"]).unsent;
    assert.ok(unsent >= 1, "the leader's own claim is not passed on yet");
    await open(page, leader.url, "#/");
    assert.equal(await page.locator("#unsent").textContent(), "还有 " + unsent + " 条修改没传给别的节点");
    // sync now: the grid's records come from the office
    cli(leaderDir, ["peers", "add", PEER]);
    await open(page, leader.url, "#/sync");
    assert.equal(cliJson(leaderDir, ["list", "building"]).length, 0);
    assert.match(await page.locator("#peers").textContent(), /还没试过/);
    await page.getByRole("button", { name: "现在同步" }).click();
    await page.locator("#sync-result", { hasText: "已开始和 1 个节点同步" }).waitFor();
    const want = cliJson(DIR, ["list", "building", "--scope", G3]).length;
    for (let i = 0; i < 100; i++) {
      if (cliJson(leaderDir, ["list", "building"]).length >= want) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(cliJson(leaderDir, ["list", "building"]).length, want);
    await open(page, leader.url, "#/sync");
    await page.waitForFunction(() => Number(document.getElementById("peers-reachable").textContent) >= 1, null, { timeout: 15000 });
    assert.match(await page.locator("#peers").textContent(), new RegExp(PEER.replace(/\./g, "\\.") + "现在连着"));
    // the peers table names the office (its role: the network's creator)
    assert.match(await page.locator("#peers .peer-name").first().textContent(), /^管理员$/);
    await check(page, "sync", b.errors);
    // the office acknowledged the leader's changes: nothing left to pass on
    for (let i = 0; i < 100 && cliJson(leaderDir, ["status"]).unsent !== 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(cliJson(leaderDir, ["status"]).unsent, 0);
    await open(page, leader.url, "#/");
    assert.equal(await page.locator("#unsent").textContent(), "都已传给别的节点");
    await check(page, "overview-unsent", b.errors);
  } finally {
    await page.close();
  }
});

test("an edit made in the office's app appears in the leader's open page, without a reload", async () => {
  assert.ok(leader, "the leader joined");
  const res = cliJson(DIR, ["list", "resident", "--scope", G3, "--limit", "1"])[0];
  const page = await b.ctx.newPage();
  try {
    await open(page, leader.url, "#/resident/" + res.id);
    assert.equal(await page.locator("h1").textContent(), res.fields.name);
    await page.evaluate(() => { window.notReloaded = true; });
    // the office renames the resident in its own app
    await open(b.page, URL, "#/resident/" + res.id + "/edit");
    const name = res.fields.name + "（改）";
    await b.page.getByLabel("姓名").fill(name);
    await b.page.getByRole("button", { name: "保存" }).click();
    await b.page.waitForURL(new RegExp("#/resident/" + res.id + "$"));
    assert.equal(cliJson(DIR, ["get", "resident", res.id]).fields.name, name);
    // live: the leader's page shows it, the same page still
    await page.locator("h1", { hasText: name }).waitFor({ timeout: 20000 });
    assert.equal(await page.evaluate(() => window.notReloaded), true);
    assert.equal(cliJson(leaderDir, ["get", "resident", res.id]).fields.name, name);
  } finally {
    await page.close();
  }
});

test("a status moved on two laptops while apart is in the inbox, and settled there", async () => {
  assert.ok(leader, "the leader joined");
  // an appeal of the leader's grid, resolved, known to both
  const id = cli(DIR, ["appeal", "open", "--category", "repair", "--scope", G3, "单元门禁坏了"]).stdout.trim().match(/[0-9A-Z]{26}/)[0];
  cli(DIR, ["appeal", "accept", id]);
  cli(DIR, ["appeal", "assign", id, "--to", "清河物业服务站"]);
  cli(DIR, ["appeal", "resolve", id]);
  for (let i = 0; i < 100; i++) {
    const r = cli(leaderDir, ["--json", "get", "appeal", id], { ok: false });
    if (r.code === 0 && JSON.parse(r.stdout).fields.status === "resolved") break;
    await new Promise((r2) => setTimeout(r2, 200));
  }
  assert.equal(cliJson(leaderDir, ["get", "appeal", id]).fields.status, "resolved");
  // apart: the leader's laptop is off the network
  assert.equal(await leader.stop(), 0);
  leader = null;
  cli(DIR, ["appeal", "close", id, "--feedback", "satisfied"]);
  await new Promise((r) => setTimeout(r, 20));
  cli(leaderDir, ["appeal", "reopen", id, "--note", "门禁又坏了"]);
  // together again
  leader = await serve(leaderDir, ["--peer", PEER, "--gossip-ms", "500"]);
  for (let i = 0; i < 100; i++) {
    if (cliJson(DIR, ["get", "appeal", id]).fields.status === "reopened") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(cliJson(DIR, ["get", "appeal", id]).fields.status, "reopened");
  const inbox = cliJson(DIR, ["inbox"]);
  assert.ok(inbox.items.some((x) => x.kind === "status_race" && x.refs[0].id === id), "the CLI sees the race");
  const { page } = b;
  await open(page, URL, "#/inbox");
  const item = page.locator(`section.inbox[data-kind=status_race]:has(.item[data-id="${id}"])`);
  await item.waitFor();
  assert.match(await item.textContent(), /在两台电脑上几乎同时被改了状态，现在显示「重新打开」/);
  await check(page, "inbox", b.errors);
  // settled: the office takes it on again
  await item.locator(`.item[data-id="${id}"]`).getByRole("button", { name: "受理", exact: true }).click();
  await page.locator(`.item[data-id="${id}"]`).waitFor({ state: "detached" });
  assert.equal(cliJson(DIR, ["get", "appeal", id]).fields.status, "accepted");
  assert.ok(!cliJson(DIR, ["inbox"]).items.some((x) => x.kind === "status_race" && x.refs[0].id === id), "settled");
});

test("a USB bundle downloaded from one app and uploaded into another", async () => {
  // a reader of the third grid, with no peers: a bundle is all it gets
  const dir = tempDir("gs-reader-");
  dirs.push(dir);
  cli(dir, ["init", "--name", "三网格的只读电脑"]);
  const inv = cli(DIR, ["invite", "--role", "reader", "--scope", G3]).stdout.trim();
  cli(dir, ["join", inv]);
  const reader = await serve(dir);
  const page = await b.ctx.newPage();
  try {
    await open(b.page, URL, "#/sync");
    const [dl] = await Promise.all([b.page.waitForEvent("download"), b.page.getByRole("link", { name: "导出同步包（下载）" }).click()]);
    const file = path.join(dir, "from-office.bundle");
    await dl.saveAs(file);
    const info = cliJson(DIR, ["bundle", "info", file]);
    assert.equal(info.network, "工人村街道");
    assert.ok(info.changes > 0);
    await open(page, reader.url, "#/sync");
    // the file chooser: a button of the page's own, in Chinese; the
    // browser's "Choose File" control is out of sight, yet the input is
    // named by that label and reached by the keyboard
    const pick = page.locator("label[for=bundle-file]");
    assert.equal(await pick.textContent(), "选一个同步包文件……");
    assert.ok(await pick.isVisible());
    const box = await page.locator("#bundle-file").evaluate((e) => {
      const r = e.getBoundingClientRect();
      return { w: r.width, h: r.height, clip: getComputedStyle(e).clipPath };
    });
    assert.ok(box.w <= 1 && box.h <= 1 && box.clip.startsWith("inset(50%"),
      "the browser's own file button is out of sight: " + JSON.stringify(box));
    assert.equal(await page.getByLabel("选一个同步包文件……").getAttribute("type"), "file");
    assert.equal(await page.locator("#bundle-file-name").textContent(), "还没有选文件");
    await page.locator("#bundle-form").evaluate((f) => f.closest("main").querySelector("#bundle-download").focus());
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "bundle-file", "Tab reaches the file chooser");
    // Space opens the chooser, as a click on the label does
    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.keyboard.press("Space")]);
    await chooser.setFiles(file);
    assert.equal(await page.locator("#bundle-file-name").textContent(), path.basename(file));
    const [chooser2] = await Promise.all([page.waitForEvent("filechooser"), pick.click()]);
    await chooser2.setFiles(file);
    await page.getByRole("button", { name: "导入", exact: true }).click();
    await page.locator("#bundle-result", { hasText: "已导入" }).waitFor();
    assert.match(await page.locator("#bundle-result").textContent(), /新收到 [1-9]\d* 条/);
    // the reader now holds its grid's buildings, and nothing of another grid
    const want = cliJson(DIR, ["list", "building", "--scope", G3]).length;
    assert.equal(cliJson(dir, ["list", "building"]).length, want);
    assert.equal(cliJson(dir, ["list", "building", "--scope", "gongrencun/qinghejv/g01"]).length, 0);
    // a file that is not a bundle is refused, and says so
    writeFileSync(path.join(dir, "junk.bundle"), "not a bundle at all");
    await page.locator("#bundle-file").setInputFiles(path.join(dir, "junk.bundle"));
    await page.getByRole("button", { name: "导入", exact: true }).click();
    await page.locator("#bundle-result", { hasText: "没有导入" }).waitFor();
    await check(page, "sync-bundle", b.errors);
  } finally {
    await page.close();
    assert.equal(await reader.stop(), 0);
  }
  assert.ok(readFileSync(path.join(dir, "from-office.bundle")).length > 0);
});

test("a lost laptop is revoked from the office's app, after a confirmation naming it", async () => {
  assert.ok(leader, "the leader joined");
  const key = cliJson(leaderDir, ["id"]).id;
  const { page } = b;
  await open(page, URL, "#/sync");
  const row = page.locator(`#members tr[data-key-short="${key.slice(0, 8)}"]`);
  // named by whom its invite was for, never by its key; the CLI says the same
  // (the cell goes on with "，在 ADDR" once the office has met it: when
  // depends on the sessions, so only the name is compared)
  assert.equal(await row.locator("td.member .member-who").textContent(), WHO);
  assert.match(await row.locator("td.member").textContent(), new RegExp("^" + WHO + "(，在 [0-9.:]+)?$"));
  const m = cliJson(DIR, ["members"]).members.find((x) => x.id === key);
  assert.equal(m.label, WHO);
  assert.equal(m.for, WHO);
  // a member whose invite said nobody: its role and grid, never an id
  const others = cliJson(DIR, ["members"]).members.filter((x) => x.id !== key);
  for (const o of others) {
    const text = await page.locator(`#members tr[data-key-short="${o.id.slice(0, 8)}"] td.member`).textContent();
    assert.ok(!text.includes(o.id.slice(0, 4)), "no key on the page: " + text);
    if (!o.for && o.grid) assert.match(text, new RegExp("（" + o.grid + "）"));
  }
  // the peers table of the leader names the office as the admin
  const lp = cliJson(leaderDir, ["peers"]);
  assert.ok(lp.some((p) => p.name === "admin" || p.name === "管理员"), JSON.stringify(lp));
  let asked = null;
  page.once("dialog", async (d) => { asked = d.message(); await d.dismiss(); });
  await row.getByRole("button", { name: "停用（电脑丢了）" }).click();
  await page.waitForFunction(() => true);
  assert.match(asked, new RegExp("确定停用「" + WHO + "」"));
  assert.equal(cliJson(DIR, ["members"]).members.find((m) => m.id === key).revoked, false, "dismissed: nothing done");
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "停用（电脑丢了）" }).click();
  await page.locator(`#members tr[data-key-short="${key.slice(0, 8)}"]`, { hasText: "已停用" }).waitFor();
  assert.equal(cliJson(DIR, ["members"]).members.find((m) => m.id === key).revoked, true);
  await check(page, "sync-members", b.errors);
});

test("an invite made while the node tells of another change still shows its code", async () => {
  const page = await b.ctx.newPage();
  try {
    // count the node's change events the page gets (before app.js runs)
    await page.addInitScript(() => {
      const ES = window.EventSource;
      window.__changes = 0;
      window.EventSource = class extends ES {
        constructor(...a) {
          super(...a);
          this.addEventListener("change", () => { window.__changes++; });
        }
      };
    });
    await open(page, URL, "#/sync");
    await page.locator("#live[data-live='1']").waitFor();
    await page.getByLabel("角色").selectOption({ label: "楼栋长" });
    await page.getByLabel("负责的网格").selectOption({ label: "第三网格" });
    await page.getByLabel("给谁（姓名、楼栋）").fill("赵大爷，5号楼");
    // the node's answer is held back until it has told the page of a
    // change made meanwhile (the command line's) and the page has done
    // whatever it does with that: before the fix it drew the page again,
    // and the code went into the page it had replaced
    await page.route("**/api/invite", async (route) => {
      const resp = await route.fetch();
      const seen = await page.evaluate(() => window.__changes);
      cli(DIR, ["resident", "add", "--name", "钱多多", "--building", "2号楼", "--unit", "1",
        "--room", "102", "--scope", "gongrencun/qinghejv/g01"]);
      await page.waitForFunction((n) => window.__changes > n, seen, { timeout: 10000 });
      await settle(page);
      await route.fulfill({ response: resp });
    });
    await page.getByRole("button", { name: "生成邀请码" }).click();
    await page.locator("#invite-qr").waitFor({ timeout: 10000 });
    assert.match(await page.locator("#invite-out").textContent(), /这是给「赵大爷，5号楼」的邀请码/);
    assert.ok((await page.locator("#invite-code").inputValue()).length > 40, "the code is shown as text");
    await page.unroute("**/api/invite");
  } finally {
    await page.close();
  }
});
