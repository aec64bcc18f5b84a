// 走访: a visit logged in a few steps, with a hazard, and an appeal opened
// from that finding in the same step (linked to the visit); households not
// visited in N days, per building; the door-knock sheet printed on A4.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { browser, open, settle, check, cli, cliJson, SHOTS } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

const NOTE = "三楼楼道堆放纸箱，挡住消防通道";

test("log a visit with a hazard and open an appeal from it", async () => {
  const { page } = b;
  await open(page, URL, "#/visits");
  await page.getByLabel("楼栋", { exact: true }).selectOption({ label: "4号楼" });
  await page.getByLabel("单元", { exact: true }).fill("2");
  await page.getByLabel("房号", { exact: true }).fill("301");
  await page.getByRole("checkbox", { name: "安全隐患", exact: true }).check();
  await page.getByRole("checkbox", { name: "「安全隐患」登记为诉求" }).check();
  await page.getByLabel("记录", { exact: true }).fill(NOTE);
  await page.getByLabel("跟进（一行一件）").fill("通知物业清理\n下周回访");
  await page.getByLabel("走访人").fill("王秀英");
  await check(page, "visit-form", b.errors);
  const t0 = Date.now();
  await page.getByRole("button", { name: "记下这次走访" }).click();
  await page.locator("#visits-recent td", { hasText: NOTE }).waitFor();
  assert.ok(Date.now() - t0 < 30000);
  // the node holds the visit, of that household, with the finding
  const visits = cliJson(DIR, ["list", "visit", "--where", "notes=" + NOTE]);
  assert.equal(visits.length, 1);
  const v = visits[0];
  assert.deepEqual(v.fields.findings, ["hazard"]);
  assert.deepEqual(v.fields.followups.slice().sort(), ["下周回访", "通知物业清理"].sort());
  assert.equal(v.fields.by, "王秀英");
  const hh = cliJson(DIR, ["get", "household", v.fields.household.$ref.split("/")[1]]);
  assert.equal(hh.fields.room, "301");
  assert.equal(hh.fields.unit, "2");
  // and an appeal opened from the finding, linked to the visit
  const appeals = cliJson(DIR, ["list", "appeal", "--where", "visit=visit/" + v.id]);
  assert.equal(appeals.length, 1);
  const a = appeals[0];
  assert.equal(a.fields.category, "safety");
  assert.equal(a.fields.source, "visit");
  assert.equal(a.fields.status, "open");
  assert.equal(a.fields.household.$ref, v.fields.household.$ref);
  assert.match(a.fields.description, /安全隐患/);
  // the visit shows by address, never an id
  assert.match(await page.locator("#visits-recent").textContent(), /4号楼2单元301/);
  await check(page, "visits", b.errors);
});

test("households not visited in N days, per building, as the node counts them", async () => {
  const { page } = b;
  await open(page, URL, "#/visits");
  await page.getByLabel("多少天没走访").selectOption("30");
  await page.getByRole("button", { name: "看看" }).click();
  await page.waitForURL(/days=30$/);
  await settle(page);
  // per building: how many of each, as the node counts them
  const all = cliJson(DIR, ["household", "unvisited", "--days", "30"]);
  const per = {};
  for (const x of all) per[x.building] = (per[x.building] || 0) + 1;
  const chips = await page.locator("#unvisited-buildings a").evaluateAll((as) => as.map((a) => [a.dataset.building, a.textContent]));
  assert.deepEqual(chips.map(([n]) => n).sort(), Object.keys(per).sort());
  for (const [n, t] of chips) assert.equal(t, n + "（" + per[n] + " 户）");
  await page.getByLabel("看哪个楼栋").selectOption({ label: "6号楼" });
  await page.getByRole("button", { name: "看看" }).click();
  await page.waitForURL(/days=30&b=/);
  await settle(page);
  const held = cliJson(DIR, ["household", "unvisited", "--days", "30", "--building", "6号楼"]);
  assert.match(await page.locator("#unvisited-title").textContent(), new RegExp("6号楼：30 天没走访的有 " + held.length + " 户"));
  const rows = await page.locator("#unvisited tbody tr").count();
  assert.equal(rows, Math.min(200, held.length));
  assert.equal(await page.locator("#unvisited tbody tr td").first().textContent(), held[0].address);
  // a row's button fills the form with that household
  await page.locator("#unvisited tbody tr").first().getByRole("link", { name: "走访这一户" }).click();
  await settle(page);
  assert.equal(await page.locator("#visit-preset").textContent(), "走访：" + held[0].address);
  await check(page, "visits-unvisited", b.errors);
});

test("the door-knock sheet prints on A4 without the menu and buttons", async () => {
  const { page } = b;
  await open(page, URL, "#/visits/sheet?days=60&b=" + encodeURIComponent("2号楼"));
  const held = cliJson(DIR, ["household", "unvisited", "--days", "60", "--building", "2号楼"]);
  assert.equal(await page.locator("#sheet tbody tr").count(), held.length);
  await check(page, "visit-sheet", b.errors);
  await page.emulateMedia({ media: "print" });
  try {
    const vis = (s) => page.evaluate((q) => [...document.querySelectorAll(q)].some((e) => e.getClientRects().length > 0), s);
    assert.equal(await vis("nav.tabs"), false, "no menu on paper");
    assert.equal(await vis("main button"), false, "no buttons on paper");
    assert.equal(await vis("#sheet"), true, "the sheet on paper");
    // the sheet fits the A4 width: 210 mm less 2 x 15 mm margins = 180 mm
    const w = await page.evaluate(() => document.getElementById("sheet").getBoundingClientRect().width);
    await page.setViewportSize({ width: 680, height: 960 }); // 180 mm at 96 dpi
    const w2 = await page.evaluate(() => document.getElementById("sheet").scrollWidth);
    assert.ok(w2 <= 682, `the sheet is ${w2} px wide on A4 (was ${w})`);
    const pdf = await page.pdf({ format: "A4", printBackground: true });
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(path.join(SHOTS, "door-knock-sheet.pdf"), pdf);
    const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
    assert.ok(pages >= 1 && pages <= 20, `${pages} A4 pages`);
  } finally {
    await page.emulateMedia({ media: "screen" });
    await page.setViewportSize({ width: 1366, height: 768 });
  }
});

// An appeal opened from a visit stores the same whatever the page's
// language (issue 17): the category as the schema's code, the
// description in the schema's words; labels are the page's, at display.
test("an appeal opened from a visit is stored the same from the English and the Chinese page", async () => {
  const { page } = b;
  const stored = {};
  for (const lng of ["en", "zh"]) {
    const note = "楼道灯坏了（" + lng + "）";
    await page.evaluate((l) => localStorage.setItem("gs-lang", l), lng);
    try {
      await page.goto(URL + "#/visits");
      await page.reload(); // the language is read when the app starts
      await settle(page);
      assert.equal(await page.evaluate(() => document.documentElement.lang), lng === "en" ? "en" : "zh-CN");
      await page.locator("#vbuilding").selectOption({ label: "4号楼" });
      await page.locator("#vunit").fill("1");
      await page.locator("#vroom").fill("102");
      await page.locator('input[name=finding][value=hazard]').check();
      await page.locator('input[name=appeal-from][value=hazard]').check();
      await page.locator("#notes").fill(note);
      await page.locator("#by").fill("王秀英");
      await page.locator("#visit-form button[type=submit]").click();
      await page.locator("#visits-recent td", { hasText: note }).waitFor();
    } finally {
      await page.evaluate(() => localStorage.removeItem("gs-lang"));
    }
    const v = cliJson(DIR, ["list", "visit", "--where", "notes=" + note]);
    assert.equal(v.length, 1, lng);
    const a = cliJson(DIR, ["list", "appeal", "--where", "visit=visit/" + v[0].id]);
    assert.equal(a.length, 1, lng);
    stored[lng] = { category: a[0].fields.category, source: a[0].fields.source,
      description: a[0].fields.description.replace(note, "NOTE") };
  }
  assert.deepEqual(stored.en, stored.zh);
  assert.deepEqual(stored.zh, { category: "safety", source: "visit", description: "安全隐患：NOTE" });
});
