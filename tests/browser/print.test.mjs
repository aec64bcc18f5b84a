// Printing and the keyboard: a unit's roster and the report print on A4
// without the menu and buttons; every page can be reached without a mouse.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { browser, open, settle, cli, cliJson, SHOTS } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

async function visible(page, sel) {
  return page.evaluate((s) => [...document.querySelectorAll(s)].some((e) => e.getClientRects().length > 0), sel);
}

for (const [hash, name, heading] of [["#/residents?b=3号楼&u=2", "roster-3-2", "3号楼2单元"],
  ["#/report", "report", null]]) {
  test(`${name} prints on A4 without the menu and buttons`, async () => {
    const { page } = b;
    await open(page, URL, hash);
    await page.emulateMedia({ media: "print" });
    try {
      assert.equal(await visible(page, "nav.tabs"), false, "no menu on paper");
      assert.equal(await visible(page, "main button"), false, "no buttons on paper");
      assert.equal(await visible(page, "form"), false, "no search form on paper");
      if (heading)
        assert.equal(await page.locator("h2.print-only").textContent(), heading);
      const pdf = await page.pdf({ format: "A4", printBackground: true });
      mkdirSync(SHOTS, { recursive: true });
      writeFileSync(path.join(SHOTS, name + ".pdf"), pdf);
      const pages = (pdf.toString("latin1").match(/\/Type\s*\/Page[^s]/g) || []).length;
      assert.ok(pages >= 1 && pages <= 6, `${pages} A4 pages`);
    } finally {
      await page.emulateMedia({ media: "screen" });
    }
    if (heading) {
      // the roster holds every resident of the unit the node has
      const held = cliJson(DIR, ["list", "resident", "--where", "building=3号楼", "--where", "unit=2"]);
      assert.equal(await page.locator("section.room li").count(), held.length);
    }
  });
}

test("every page by keyboard alone: Tab to the menu, Enter, type and search", async () => {
  const { page } = b;
  cli(DIR, ["resident", "add", "--name", "慕容雪芳", "--building", "7号楼", "--unit", "1", "--room", "301",
    "--scope", "gongrencun/qinghejv/g05"]);
  await open(page, URL, "#/");
  const reach = async (pred, max = 40) => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(pred)) return true;
    }
    return false;
  };
  assert.ok(await reach(() => document.activeElement.textContent === "居民"), "Tab reaches 居民");
  // the focus is seen: an outline of 3 px
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineWidth);
  assert.equal(outline, "3px");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/residents$/);
  await settle(page);
  assert.ok(await reach(() => document.activeElement.id === "q"), "Tab reaches the search field");
  await page.keyboard.type("慕容雪芳");
  await page.keyboard.press("Enter");
  await page.waitForURL(/q=/);
  await settle(page);
  assert.match(await page.locator("table.residents").textContent(), /慕容雪芳/);
  assert.ok(await reach(() => document.activeElement.textContent === "慕容雪芳"), "Tab reaches the name");
  await page.keyboard.press("Enter");
  await page.waitForURL(/#\/resident\/[0-9A-Z]{26}$/);
  await settle(page);
  assert.equal(await page.locator("h1").textContent(), "慕容雪芳");
});
