// 时间银行: a deposit, then a spend refused for overdraft, the reason shown.
import { spawnSync } from "node:child_process";
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cli, cliJson, GRIDSYNC } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

function entries(personId) {
  return cliJson(DIR, ["list", "timebank"]).filter((t) => t.fields.person.$ref === "resident/" + personId);
}

test("a deposit, then a spend refused for overdraft with the message on the page", async () => {
  const { page } = b;
  const id = cli(DIR, ["resident", "add", "--name", "上官志强", "--tags", "volunteer",
    "--scope", "gongrencun/qinghejv/g03"]).stdout.trim();
  await open(page, URL, "#/timebank");
  await page.getByLabel("志愿者或居民（姓名）").fill("上官志强");
  await page.getByLabel("时长（小时）").fill("2");
  await page.getByLabel("服务", { exact: true }).selectOption({ label: "陪伴聊天" });
  await page.getByLabel("备注（服务了谁、做了什么）").fill("陪独居老人聊天");
  await page.getByRole("button", { name: "存入工时" }).click();
  const row = page.locator("#timebank-recent tbody tr", { hasText: "上官志强" });
  await row.first().waitFor();
  assert.equal(await row.count(), 1, "one deposit shown");
  assert.match(await row.first().textContent(), /上官志强存入2陪伴聊天陪独居老人聊天/);
  let held = entries(id);
  assert.equal(held.length, 1);
  assert.equal(held[0].fields.kind, "deposit");
  assert.equal(held[0].fields.hours, 2);
  assert.equal(held[0].fields.service, "companionship");

  await settle(page);
  await page.getByLabel("志愿者或居民（姓名）").fill("上官志强");
  await page.getByLabel("时长（小时）").fill("5");
  // the balance is shown once the name is typed
  await page.locator("#tb-balance", { hasText: "上官志强 现有 2 小时" }).waitFor();
  await page.getByRole("button", { name: "支取工时（兑换服务）" }).click();
  const msg = page.locator("#tb-error");
  await msg.filter({ hasText: "不够支取" }).waitFor();
  const shownText = await msg.textContent();
  assert.match(shownText, /上官志强 现在只有 2 小时，不够支取 5 小时/, "and says it in Chinese");
  const c = cli(DIR, ["timebank", "spend", "上官志强", "5"], { ok: false });
  assert.equal(c.code, 1);
  assert.match(c.stderr, /上官志强 has 2 h; spending 5 h would overdraw/);
  // the node's own words, in the app's language: what the CLI says in Chinese
  const zh = spawnSync(GRIDSYNC, ["--dir", DIR, "timebank", "spend", "上官志强", "5"],
    { encoding: "utf8", env: { ...process.env, LANG: "zh_CN.UTF-8", LC_ALL: "zh_CN.UTF-8", LANGUAGE: "" } });
  assert.equal(zh.status, 1);
  const said = "上官志强 有 2 小时；支取 5 小时会让账户透支";
  if (zh.stderr.includes(said)) {
    assert.ok(shownText.includes("节点的说明：" + said), `the page shows the node's reason in Chinese: ${shownText}`);
  } else {
    // no zh_CN.UTF-8 locale here: the node's words stay English, on both
    assert.ok(shownText.includes("节点的说明："), shownText);
  }
  await check(page, "timebank-overdraft", b.errors);
  // nothing was spent
  held = entries(id);
  assert.deepEqual(held.map((t) => t.fields.kind), ["deposit"]);
  assert.match(cli(DIR, ["timebank", "balance", "上官志强"]).stdout, /上官志强(\s+\(居民\))?\s+2 h/);
  // the app's balance call answers what the CLI's --json does
  const api = await (await fetch(URL + "api/timebank/balance?person=" + encodeURIComponent("上官志强"))).json();
  assert.deepEqual(api, cliJson(DIR, ["timebank", "balance", "上官志强"]));
});

test("a passbook: every entry with the balance after it, printable", async () => {
  const { page } = b;
  cli(DIR, ["timebank", "deposit", "上官志强", "1.5", "--service", "repair"]);
  cli(DIR, ["timebank", "spend", "上官志强", "3"]);
  const held = cliJson(DIR, ["timebank", "balance", "上官志强"]);
  await open(page, URL, "#/timebank");
  await page.locator("#timebank-recent").getByRole("link", { name: "上官志强" }).first().click();
  await page.waitForURL(/#\/passbook\/resident\/[0-9A-Z]{26}$/);
  await settle(page);
  assert.match(await page.locator("#passbook-balance").textContent(), new RegExp(`现有 ${held.balance} 小时`));
  const rows = await page.locator("#passbook tbody tr").evaluateAll((trs) =>
    trs.map((tr) => [...tr.cells].slice(1, 4).map((td) => td.textContent)));
  assert.deepEqual(rows, [["存入", "+2", "2"], ["存入", "+1.5", "3.5"], ["支取", "−3", "0.5"]]);
  assert.equal(held.balance, 0.5);
  await check(page, "passbook", b.errors);
  await page.emulateMedia({ media: "print" });
  assert.equal(await page.locator("main button").first().isVisible(), false, "no buttons on paper");
  await page.emulateMedia({ media: "screen" });
});
