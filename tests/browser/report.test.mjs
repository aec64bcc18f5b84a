// 报表: the page's figures are `gridsync report --json`'s.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { browser, open, settle, check, cli, cliJson } from "./lib.mjs";

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

test("the report exports as a CSV file Excel opens, with the CLI's figures", async () => {
  const { page } = b;
  await open(page, URL, "#/report");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("#export-csv").click()]);
  assert.equal(dl.suggestedFilename(), "报表.csv");
  const text = readFileSync(await dl.path(), "utf8");
  assert.equal(text.charCodeAt(0), 0xfeff, "a byte order mark, for Excel");
  const rows = text.slice(1).trim().split("\r\n").map((l) => l.split(","));
  assert.deepEqual(rows[0].slice(0, 5), ["网格", "居民", "户", "诉求", "办结"]);
  const rep = cliJson(DIR, ["report"]);
  assert.equal(rows.length, 1 + rep.grids.length + 1);
  const total = rows[rows.length - 1];
  assert.equal(total[0], "合计");
  assert.deepEqual(total.slice(1).map(Number), [rep.total.residents, rep.total.households,
    rep.total.appeals.opened, rep.total.appeals.resolved, rep.total.visits, rep.total.disputes_mediated,
    rep.total.hazards_found, rep.total.meetings, rep.total.tasks_done, rep.total.errands_done,
    rep.total.volunteer_hours]);
  assert.ok(!/[0-9A-Z]{26}|gongrencun/.test(text), "grids by name, no ids or paths");
});

// The period picker (issue 17): a month chosen on the page gives the
// totals of `gridsync report --month M --json`; a year, and dates from
// and to, those of --year and --since/--until; the node refuses what the
// CLI refuses (an end before the start), and the page says so.
test("a month picked on the report page has the totals of gridsync report --month", async () => {
  const { page } = b;
  await open(page, URL, "#/report");
  await page.locator("#rp-month").fill("2026-10");
  await page.locator("#period-month button").click();
  await page.waitForFunction(() => location.hash === "#/report?month=2026-10");
  await settle(page);
  assert.equal(await page.locator("main h1").textContent(), "报表（2026-10）");
  const rep = cliJson(DIR, ["report", "--month", "2026-10"]);
  assert.equal(rep.since, "2026-10-01");
  assert.equal(rep.until, "2026-10-31");
  const want = {};
  for (const [k, get] of Object.entries(FIG)) want[k] = get(rep.total);
  assert.deepEqual(await figures(page), want);
  assert.ok(want.visits > 0, "a seeded month has visits");
  const all = cliJson(DIR, ["report"]);
  assert.ok(want.visits < all.total.visits, "a month is not the whole");
  await check(page, "report-month", b.errors);
});

for (const [hash, args] of [["#/report?year=2025", ["--year", "2025"]],
  ["#/report?since=2026-03-01&until=2026-05-31", ["--since", "2026-03-01", "--until", "2026-05-31"]]]) {
  test(`the report page's totals equal gridsync report --json ${args.join(" ")}`, async () => {
    const { page } = b;
    await open(page, URL, hash);
    const rep = cliJson(DIR, ["report", ...args]);
    const want = {};
    for (const [k, get] of Object.entries(FIG)) want[k] = get(rep.total);
    assert.deepEqual(await figures(page), want);
  });
}

test("the year picker and a refused period", async () => {
  const { page } = b;
  await open(page, URL, "#/report");
  await page.locator("#rp-year").selectOption("2025");
  await page.locator("#period-year button").click();
  await page.waitForFunction(() => location.hash === "#/report?year=2025");
  await settle(page);
  assert.equal(await page.locator("main h1").textContent(), "报表（2025 年）");
  // an end before the start, as the CLI refuses it
  assert.notEqual(cli(DIR, ["report", "--since", "2026-05-01", "--until", "2026-04-01"], { ok: false }).code, 0);
  await open(page, URL, "#/report?since=2026-05-01&until=2026-04-01");
  assert.match(await page.locator("#report-error").textContent(), /^这段时间不行：/);
  // year and month together, and a month that is none, refused by the node
  for (const q of ["year=2026&month=2026-11", "month=2026-13", "year=abc", "since=2026-01-01&year=2026"]) {
    const r = await fetch(URL + "api/report?" + q);
    assert.equal(r.status, 400, q);
    assert.equal((await r.json()).error.code, "GS_EINVAL", q);
  }
});
