// Every page at 1366x768 as a building leader over 60 sees it: Chinese,
// names never ids, type of 18 px or more, no sideways scroll; a
// screenshot of each (tests/browser/screenshots/).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cliJson } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

// The smallest type of any visible text on the page, and where.
async function smallestType(page) {
  return page.evaluate(() => {
    let min = Infinity, where = "";
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.textContent.trim()) continue;
      const e = n.parentElement;
      if (!e || e.closest("[hidden], script, style, option, datalist")) continue;
      if (!e.getClientRects().length) continue;
      const px = parseFloat(getComputedStyle(e).fontSize);
      if (px < min) { min = px; where = e.tagName + " " + n.textContent.trim().slice(0, 20); }
    }
    return { min, where };
  });
}

async function looks(page, name) {
  const t = await smallestType(page);
  assert.ok(t.min >= 18, `${name}: text of ${t.min}px (${t.where})`);
  const lang = await page.evaluate(() => document.documentElement.lang);
  assert.equal(lang, "zh-CN");
  await check(page, name, b.errors);
}

test("the whole flow at 1366x768: every page, by the menu, named, large, no sideways scroll", async () => {
  const { page } = b;
  await open(page, URL, "#/");
  assert.match(await page.locator("main").textContent(), /青河社区办公室，管理员，网络「工人村街道」/);
  const open1 = cliJson(DIR, ["list", "appeal", "--where", "status=open"]).length +
    cliJson(DIR, ["list", "appeal", "--where", "status=reopened"]).length;
  assert.equal(Number(await page.locator("#open-appeals").textContent()), open1);
  // the to-dos: households due for a visit and the inbox, as the node counts them
  const [due, inbox] = await (await page.waitForFunction(() => {
    const d = document.getElementById("due-visits").textContent, i = document.getElementById("inbox-items").textContent;
    return /^\d+$/.test(d) && /^\d+$/.test(i) ? [Number(d), Number(i)] : false;
  }, null, { timeout: 30000 })).jsonValue();
  assert.equal(due, cliJson(DIR, ["household", "unvisited", "--days", "90"]).length);
  assert.equal(inbox, cliJson(DIR, ["inbox"]).items.length);
  await looks(page, "home");
  for (const [tab, name] of [["居民", "residents"], ["诉求与微心愿", "appeals"], ["走访", "visits-menu"],
    ["议事会与共建清单", "meetings-menu"], ["时间银行", "timebank"], ["报表", "report-menu"],
    ["同步与成员", "sync-menu"], ["待处理", "inbox-menu"], ["概况", "home-again"]]) {
    await page.getByRole("navigation", { name: "主菜单" }).getByRole("link", { name: tab }).click();
    await settle(page);
    assert.equal(await page.locator(".tabs a[aria-current=page]").textContent(), tab);
    await looks(page, name);
  }
  // a building, a unit, a resident, the edit form
  await page.getByRole("navigation", { name: "主菜单" }).getByRole("link", { name: "居民" }).click();
  await settle(page);
  await page.locator("nav.buildings a").nth(4).click();
  await settle(page);
  await looks(page, "residents-building-5");
  await page.locator("section.room li a").first().click();
  await settle(page);
  await looks(page, "resident");
  await page.getByRole("link", { name: "修改" }).click();
  await settle(page);
  await looks(page, "resident-edit");
  // the appeal form opened
  await open(page, URL, "#/appeals");
  await page.getByText("登记新诉求").click();
  await looks(page, "appeals-form");
});

test("the pages fit a phone (375 px) without sideways scroll", async () => {
  const { page } = b;
  await page.setViewportSize({ width: 375, height: 812 });
  try {
    for (const hash of ["#/", "#/residents", "#/residents?b=3号楼", "#/appeals", "#/timebank", "#/report",
      "#/visits", "#/visits/sheet?days=30&b=3号楼", "#/meetings", "#/sync", "#/inbox"]) {
      await open(page, URL, hash);
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(sw <= 375, `${hash}: ${sw} px wide`);
      const t = await smallestType(page);
      assert.ok(t.min >= 18, `${hash}: text of ${t.min}px on a phone (${t.where})`);
      const top = await page.evaluate(() => document.querySelector(".top").getBoundingClientRect().height);
      assert.ok(top <= 90, `${hash}: the title bar takes ${top} px of a phone (two lines at most)`);
    }
    await open(page, URL, "#/residents?b=3号楼");
    await page.screenshot({ path: new globalThis.URL("screenshots/phone-building.png", import.meta.url).pathname });
    await open(page, URL, "#/visits");
    await page.screenshot({ path: new globalThis.URL("screenshots/phone-visits.png", import.meta.url).pathname });
  } finally {
    await page.setViewportSize({ width: 1366, height: 768 });
  }
});
