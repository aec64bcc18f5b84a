// 报表: the page's figures are `gridsync report --json`'s.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, check, cliJson } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

const FIG = {
  appeals: (t) => t.appeals.opened, resolved: (t) => t.appeals.resolved, visits: (t) => t.visits,
  disputes_mediated: (t) => t.disputes_mediated, hazards_found: (t) => t.hazards_found,
  meetings: (t) => t.meetings, errands_done: (t) => t.errands_done,
  volunteer_hours: (t) => t.volunteer_hours,
};

async function figures(page) {
  const out = {};
  for (const el of await page.locator("#report-total [data-figure]").all())
    out[await el.getAttribute("data-figure")] = Number(await el.locator(".big").textContent());
  return out;
}

for (const [hash, args, name] of [["#/report", [], "report"],
  ["#/report?since=2026-01-01", ["--since", "2026-01-01"], "report-year"]]) {
  test(`the report page's totals equal gridsync report --json ${args.join(" ")}`, async () => {
    const { page } = b;
    await open(page, URL, hash);
    const rep = cliJson(DIR, ["report", ...args]);
    const want = {};
    for (const [k, get] of Object.entries(FIG)) want[k] = get(rep.total);
    assert.deepEqual(await figures(page), want);
    assert.ok(want.appeals > 0 && want.visits > 0, "a seeded year has figures");
    // one row per grid, named, with the grid's figures
    const rows = page.locator("#report-grids tbody tr");
    assert.equal(await rows.count(), rep.grids.length);
    const grids = cliJson(DIR, ["list", "grid"]);
    for (let i = 0; i < rep.grids.length; i++) {
      const g = rep.grids[i];
      const cells = await rows.nth(i).locator("td").allTextContents();
      const named = grids.find((x) => x.scope === g.grid);
      if (named) assert.equal(cells[0], named.fields.name);
      assert.deepEqual(cells.slice(1, 7).map(Number), [g.residents, g.appeals.opened,
        g.appeals.resolved, g.visits, g.hazards_found, g.volunteer_hours]);
    }
    await check(page, name, b.errors);
  });
}
