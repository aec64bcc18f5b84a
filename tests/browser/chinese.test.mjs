// In Chinese, no English of the app's own on any page (issue 17): every
// page of the seeded community, its panels, print views, dialogs, a
// refusal and a peer that cannot be reached, checked for Latin words
// outside what people entered (marked .data: names, addresses, notes,
// record text, the node's own words) and outside text marked as English
// (lang="en": the switch to English). Allowed: the few words a Chinese
// page uses as they are (gridsync, USB, Excel, CSV, QR, A4, units like
// MB, "U 盘"), numbers, dates, times and IP addresses. Titles, placeholders,
// aria-labels, alt texts, button values and dialogs are checked too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { rmSync } from "node:fs";
import { browser, open, settle, check, cli, cliJson, serve, shot, tempDir } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
const ALLOWED = ["gridsync", "USB", "Excel", "CSV", "QR", "A4", "MB", "KB", "GB"];
let b;
const cleanup = [];
before(async () => {
  b = await browser();
  b.ctx.setDefaultTimeout(60000); // some pages are heavy under a sanitizer
});
after(async () => {
  for (const f of cleanup.reverse()) await f();
  await b.close();
});

// The English words of the app's own on the page, with where (run in the
// page: allowed is ALLOWED).
function ownEnglishIn(allowed) {
  const word = /[A-Za-z][A-Za-z'’-]*/g;
  const ok = new Set(allowed);
  // IP addresses, and "U 盘" (Chinese for a USB stick)
  const latin = (s) => (s.replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, "").replace(/U ?盘/g, "")
    .match(word) || []).filter((w) => !ok.has(w));
  const bad = [];
  const exempt = (e) => e.closest(".data, [lang=en], script, style, noscript");
  const where = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : "");
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const e = n.parentElement;
    if (!e || exempt(e)) continue;
    const w = latin(n.nodeValue);
    if (w.length) bad.push(JSON.stringify(w.join(" ")) + " in " + JSON.stringify(n.nodeValue.trim().slice(0, 60)) + " of " + where(e));
  }
  for (const e of document.querySelectorAll("[title], [placeholder], [aria-label], [alt], button[value], input[type=submit], input[type=button]")) {
    if (e.closest("[lang=en]")) continue;
    for (const a of ["title", "placeholder", "aria-label", "alt", "value"]) {
      if (!e.hasAttribute(a) || (a === "value" && !(e.tagName === "INPUT" && ["submit", "button"].includes(e.type)))) continue;
      const w = latin(e.getAttribute(a));
      if (w.length) bad.push(a + "=" + JSON.stringify(e.getAttribute(a)) + " of " + where(e));
    }
  }
  const tw = latin(document.title);
  if (tw.length) bad.push("the title " + JSON.stringify(document.title));
  return bad;
}

async function chinese(page, what) {
  assert.notEqual(await page.locator("main h1").first().textContent(), "出错了", what);
  const bad = await page.evaluate(ownEnglishIn, ALLOWED);
  assert.deepEqual(bad, [], `${what}: English of the app's own on the Chinese page`);
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN", what);
}

async function visit(page, url, hash, what) {
  try {
    await open(page, url, hash);
  } catch (err) {
    err.message = what + " (" + hash + "): " + err.message;
    throw err;
  }
  await chinese(page, what);
}

// A loopback port nothing listens on: taken from the OS, then let go.
function closedPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

test("in Chinese, every page of the app and its print views has no English of its own", async () => {
  const { page } = b;
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const res = cliJson(DIR, ["list", "resident", "--where", "building=3号楼", "--where", "unit=2"]);
  const r = res.find((x) => x.fields.household || x.fields.room);
  assert.ok(r, "a resident of 3号楼 2单元 to show");
  const tb = cliJson(DIR, ["list", "timebank"]);
  const person = tb.find((x) => x.fields.person && x.fields.person.$ref).fields.person.$ref;
  const year = new Date().getFullYear();
  const pages = [
    ["#/", "overview"], ["#/residents", "residents"], ["#/residents?q=" + encodeURIComponent(r.fields.name), "search by name"],
    ["#/residents?q=138", "search by phone"], ["#/residents?q=zzzz", "search finding none"],
    ["#/residents?b=" + encodeURIComponent("3号楼"), "a building"],
    ["#/residents?b=" + encodeURIComponent("3号楼") + "&u=2", "a stairwell"],
    ["#/resident/" + r.id, "a resident"], ["#/resident/" + r.id + "/edit", "editing a resident"],
    ["#/residents/new", "a new resident"], ["#/appeals", "the appeals board"],
    ["#/appeals?status=closed", "appeals of one status"], ["#/appeals?status=nosuch", "an unknown status"],
    ["#/visits", "visits"], ["#/visits?days=30&b=" + encodeURIComponent("3号楼"), "visits of a building"],
    ["#/visits/sheet?days=90&b=" + encodeURIComponent("3号楼"), "a door-knock sheet"],
    ["#/meetings", "councils"], ["#/timebank", "the time bank"], ["#/passbook/" + person, "a passbook"],
    ["#/report", "the report"], ["#/report?since=" + year + "-01-01", "the year's report"],
    ["#/report?month=" + year + "-01", "a month's report"], ["#/report?year=" + year, "a year's report"],
    ["#/report?since=" + year + "-03-01&until=" + year + "-02-01", "a period refused"],
    ["#/sync", "sync and members"], ["#/inbox", "to settle"], ["#/nosuchpage", "no such page"],
  ];
  for (const [hash, what] of pages) await visit(page, URL, hash, what);

  // the to-dos filled in later, on the overview
  await open(page, URL, "#/");
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById("due-visits").textContent));
  await chinese(page, "the overview's to-dos");

  // the panels a click opens: a new appeal, assign, close with feedback, a claim
  await open(page, URL, "#/appeals");
  await page.locator("#new-appeal > summary").click();
  await chinese(page, "the new appeal form");
  const assign = page.locator(".item button[data-verb=assign]").first();
  if (await assign.count()) { await assign.click(); await chinese(page, "the assign panel"); }
  const close = page.locator(".item button[data-verb=close]").first();
  if (await close.count()) { await close.click(); await chinese(page, "the close panel"); }
  await open(page, URL, "#/meetings");
  await page.locator("#new-meeting > summary").click();
  const more = page.locator("#more-meeting summary");
  if (await more.count()) await more.click();
  const claim = page.locator(".item button[data-verb=claim]").first();
  if (await claim.count()) await claim.click();
  await chinese(page, "the meeting form and a claim");
  await open(page, URL, "#/visits");
  const vmore = page.locator("#more-visit summary");
  if (await vmore.count()) await vmore.click();
  await chinese(page, "the visit form's more part");

  // a refusal shown by the page: a spend beyond the balance
  await open(page, URL, "#/timebank");
  await page.fill("#person", r.fields.name);
  await page.fill("#hours", "9999");
  await page.getByRole("button", { name: "支取" }).click();
  await page.waitForFunction(() => document.getElementById("tb-error").textContent.length > 0 ||
    document.querySelector("#timebank-form .pick button"));
  if (await page.locator("#timebank-form .pick button").count()) {
    await chinese(page, "choosing among people of one name");
    await page.locator("#timebank-form .pick button.choice").first().click();
    await page.waitForFunction(() => document.getElementById("tb-error").textContent.length > 0);
  }
  assert.match(await page.locator("#tb-error").textContent(), /没有支取/);
  await chinese(page, "a refused spend");
  // a mistyped invite code, refused
  await open(page, URL, "#/sync");
  await page.getByLabel("把管理员给的邀请码粘贴到这里").fill("GS1-not-a-code");
  await page.getByRole("button", { name: "加入", exact: true }).click();
  await page.locator("#join-result.error").waitFor();
  await chinese(page, "a refused invite code");

  // an invite as a QR code and text
  await open(page, URL, "#/sync");
  await page.getByRole("button", { name: "生成邀请码" }).click();
  await page.waitForSelector("#invite-qr");
  await chinese(page, "an invite");

  // the print views, as printed
  await page.emulateMedia({ media: "print" });
  try {
    for (const [hash, what] of [["#/residents?b=" + encodeURIComponent("3号楼") + "&u=2", "a printed roster"],
      ["#/visits/sheet?days=90", "a printed door-knock sheet"], ["#/passbook/" + person, "a printed passbook"],
      ["#/report", "a printed report"]]) await visit(page, URL, hash, what);
  } finally {
    await page.emulateMedia({ media: "screen" });
  }

  // a dialog: moving a resident out asks first (dismissed: nothing done)
  await open(page, URL, "#/resident/" + r.id);
  await page.getByRole("button", { name: "迁出", exact: true }).click();
  await page.waitForFunction(() => true);
  assert.equal(dialogs.length, 1, "the move-out asks first");
  const dw = (dialogs[0].replace(r.fields.name, "").match(/[A-Za-z]{2,}/g) || []).filter((w) => !ALLOWED.includes(w));
  assert.deepEqual(dw, [], "the dialog: " + dialogs[0]);
  assert.equal(cliJson(DIR, ["get", "resident", r.id]).deleted, false, "dismissed: not moved out");
  assert.deepEqual(b.errors, []);
});

test("in Chinese, a peer that cannot be reached, after 现在同步, has no English of the app's own", async () => {
  const { page } = b;
  const dir = tempDir("gs-zh-peer-");
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const addr = "127.0.0.1:" + await closedPort();
  cli(dir, ["init", "--name", "五网格楼栋长的电脑"]);
  cli(dir, ["network", "create", "测试街道"]);
  cli(dir, ["peers", "add", addr]);
  const srv = await serve(dir, ["--gossip-ms", "86400000"]);
  cleanup.push(async () => assert.equal(await srv.stop(), 0));
  await visit(page, srv.url, "#/sync", "a peer not tried yet");
  await page.locator("#sync-now").click();
  // the page draws itself again after the sync; the row then says why
  const why = page.locator("#peers tbody tr", { hasText: addr }).locator(".peer-why");
  await why.waitFor();
  assert.match(await why.textContent(), /^连不上：/);
  await settle(page);
  await chinese(page, "a peer that cannot be reached");
  assert.equal(cliJson(dir, ["peers"]).find((x) => x.addr === addr).kind, "unreachable");
  await shot(page, "chinese-sync-peer-unreachable");
});
