// The English switch: the app's own words and the schema's labels turn
// English, the choice is remembered (localStorage) across pages and
// reloads, and 中文 switches back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check } from "./lib.mjs";

const URL = process.env.GS_URL;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

function menu(page) {
  return page.locator(".tabs a").allTextContents();
}

test("the English switch: the page's words and the schema's labels, remembered", async () => {
  const { page } = b;
  await open(page, URL, "#/visits");
  assert.deepEqual((await menu(page)).slice(0, 4), ["概况", "居民", "诉求与微心愿", "走访"]);
  assert.ok(await page.getByRole("checkbox", { name: "安全隐患", exact: true }).isVisible());
  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "English" }).click()]);
  await settle(page);
  assert.deepEqual(await menu(page), ["Overview", "Residents", "Appeals and micro-wishes", "Visits",
    "Councils and co-building list", "Time bank", "Reports", "Sync and members", "To settle"]);
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  assert.equal(await page.locator("h1").textContent(), "Visits");
  // the schema's labels: in words of the codes
  assert.ok(await page.getByRole("checkbox", { name: "hazard", exact: true }).isVisible());
  assert.ok(await page.getByRole("button", { name: "Save the visit" }).isVisible());
  assert.equal(await page.evaluate(() => localStorage.getItem("gs-lang")), "en");
  await check(page, "english-visits", b.errors);
  // remembered on another page, after a reload
  await open(page, URL, "#/appeals");
  await page.reload();
  await settle(page);
  assert.equal(await page.locator("h1").textContent(), "Appeals and micro-wishes");
  const cols = await page.locator(".board .column h2").allTextContents();
  assert.ok(cols.some((c) => /^open \(\d+\)$/.test(c)), "status labels in English: " + cols.join(" "));
  await check(page, "english-appeals", b.errors);
  // and back
  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "中文" }).click()]);
  await settle(page);
  assert.equal(await page.locator("h1").textContent(), "诉求与微心愿");
  assert.equal(await page.evaluate(() => localStorage.getItem("gs-lang")), "zh");
});
