// 诉求与微心愿: open an appeal and move it to closed with feedback; a move
// the schema forbids is neither offered nor accepted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cli, cliJson, token, request } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

const TEXT = "楼道声控灯坏了，晚上看不见台阶";

function item(page, id) {
  return page.locator(`.item[data-id="${id}"]`);
}

async function verb(page, id, name) {
  await item(page, id).getByRole("button", { name, exact: true }).click();
}

async function status(page, id) {
  await settle(page);
  return item(page, id).locator("xpath=ancestor::section[1]").getAttribute("data-status");
}

test("open an appeal and move it through to closed with feedback 满意", async () => {
  const { page } = b;
  // a resident of a rare name, so that the name is enough
  cli(DIR, ["resident", "add", "--name", "诸葛兰芳", "--building", "2号楼", "--unit", "1",
    "--room", "101", "--scope", "gongrencun/qinghejv/g01"]);
  await open(page, URL, "#/appeals");
  await page.getByText("登记新诉求").click();
  await page.getByLabel("类别").selectOption({ label: "维修" });
  await page.getByLabel("哪位居民提的（姓名）").fill("诸葛兰芳");
  await page.getByLabel("诉求内容").fill(TEXT);
  await check(page, "appeal-new", b.errors);
  await page.getByRole("button", { name: "登记", exact: true }).click();
  const card = page.locator(".item", { hasText: TEXT });
  await card.waitFor();
  const id = await card.getAttribute("data-id");
  assert.equal(await status(page, id), "open");
  assert.match(await card.textContent(), /诸葛兰芳/);
  let rec = cliJson(DIR, ["get", "appeal", id]);
  assert.equal(rec.fields.status, "open");
  assert.equal(rec.fields.category, "repair");
  assert.equal(rec.fields.description, TEXT);

  await verb(page, id, "受理");
  await page.locator(`section[data-status=accepted] .item[data-id="${id}"]`).waitFor();
  assert.equal(cliJson(DIR, ["get", "appeal", id]).fields.status, "accepted");

  // assigned to a unit picked by name from a list
  await verb(page, id, "交办");
  await item(page, id).getByLabel("交给哪个共建单位或志愿队？").selectOption({ label: "清河物业服务站" });
  await check(page, "appeal-assign", b.errors);
  await item(page, id).getByRole("button", { name: "确定交办" }).click();
  await page.locator(`section[data-status=assigned] .item[data-id="${id}"]`).waitFor();
  assert.match(await item(page, id).textContent(), /承办：清河物业服务站/);
  rec = cliJson(DIR, ["get", "appeal", id]);
  assert.equal(rec.fields.status, "assigned");
  const unit = cliJson(DIR, ["list", "unit", "--where", "name=清河物业服务站"])[0];
  assert.equal(rec.fields.assignee.$ref, "unit/" + unit.id);

  await verb(page, id, "办结");
  await page.locator(`section[data-status=resolved] .item[data-id="${id}"]`).waitFor();
  assert.equal(cliJson(DIR, ["get", "appeal", id]).fields.status, "resolved");

  await verb(page, id, "回访并关闭");
  await item(page, id).getByRole("radio", { name: "满意", exact: true }).check();
  await item(page, id).getByRole("button", { name: "确定关闭" }).click();
  await page.locator(`section[data-status=closed] .item[data-id="${id}"]`).waitFor();
  assert.match(await item(page, id).textContent(), /评价：满意/);
  await check(page, "appeals-board", b.errors);
  rec = cliJson(DIR, ["get", "appeal", id]);
  assert.equal(rec.fields.status, "closed");
  assert.equal(rec.fields.feedback, "satisfied");
  assert.ok(rec.fields.closed, "the closing date is recorded");
});

test("a move the schema forbids is not offered, and a forged one is refused with the CLI's text", async () => {
  const { page } = b;
  const out = cli(DIR, ["appeal", "open", "--category", "safety", "--scope", "gongrencun/qinghejv/g02",
    "消防通道被电动车堵住"]).stdout;
  const id = out.match(/[0-9A-Z]{26}/)[0];
  await open(page, URL, "#/appeals");
  const buttons = await item(page, id).locator("button[data-verb]").allTextContents();
  assert.deepEqual(buttons, ["受理"], "an open appeal offers only 受理");
  // the same move forged, with the app's token
  const r = await request(URL, "POST", `api/records/appeal/${id}/verbs/close`,
    { "X-CSRF-Token": await token(URL), "Content-Type": "application/json" },
    JSON.stringify({ fields: { feedback: "satisfied" } }));
  assert.equal(r.status, 422);
  const body = JSON.parse(r.body);
  assert.equal(body.error.code, "GS_ESCHEMA");
  const c = cli(DIR, ["appeal", "close", id, "--feedback", "satisfied"], { ok: false });
  assert.equal(c.code, 1);
  assert.ok(c.stderr.includes(body.error.text),
    `the CLI says "${c.stderr.trim()}", the API "${body.error.text}"`);
  // nothing moved
  assert.equal(cliJson(DIR, ["get", "appeal", id]).fields.status, "open");
  await open(page, URL, "#/appeals");
  assert.equal(await status(page, id), "open");
});

test("a name that several residents share: the page asks which, by address and age, never by id", async () => {
  const { page } = b;
  const same = cliJson(DIR, ["list", "resident", "--where", "name=王燕"]);
  assert.ok(same.length >= 2, "the seeded community has several 王燕");
  await open(page, URL, "#/appeals");
  await page.getByText("登记新诉求").click();
  await page.getByLabel("类别").selectOption({ label: "环境卫生" });
  await page.getByLabel("哪位居民提的（姓名）").fill("王燕");
  await page.getByLabel("诉求内容").fill("楼下垃圾桶满了没人清");
  await page.getByRole("button", { name: "登记", exact: true }).click();
  const choices = page.locator("#appeal-form .choice");
  await choices.first().waitFor();
  assert.equal(await choices.count(), Math.min(same.length, 12));
  assert.match(await page.locator("#appeal-form .pick").textContent(), /有 \d+ 位居民都叫「王燕」，请选是哪一位/);
  await check(page, "appeal-which-resident", b.errors);
  // the one of 1号楼1单元101
  const want = same.find((r) => r.fields.building === "1号楼" && r.fields.unit === "1" && r.fields.room === "101");
  assert.ok(want);
  await choices.filter({ hasText: "1号楼1单元101" }).first().click();
  const card = page.locator(".item", { hasText: "楼下垃圾桶满了没人清" });
  await card.waitFor();
  const rec = cliJson(DIR, ["get", "appeal", await card.getAttribute("data-id")]);
  assert.equal(rec.fields.resident.$ref, "resident/" + want.id);
  assert.equal(rec.fields.category, "environment");
  assert.equal(rec.scope, want.scope, "the appeal is in the resident's grid");
});

test("every appeal of a status, newest first, a page at a time", async () => {
  const { page } = b;
  const closed = cliJson(DIR, ["list", "appeal", "--where", "status=closed"]);
  assert.ok(closed.length > 40, "the seeded year has many closed appeals");
  await open(page, URL, "#/appeals");
  await page.locator("section[data-status=closed] a.all").click();
  await page.waitForURL(/status=closed$/);
  await settle(page);
  assert.match(await page.locator("h1").textContent(), new RegExp(`已关闭（${closed.length} 件）`));
  assert.equal(await page.evaluate(() => window.scrollY), 0, "a new page starts at its top");
  const ids = async () => page.locator(".item").evaluateAll((els) => els.map((e) => e.dataset.id));
  const newest = closed.slice(-20).reverse().map((r) => r.id);
  assert.deepEqual(await ids(), newest, "page 1: the newest 20, newest first");
  await check(page, "appeals-closed", b.errors);
  await page.getByRole("link", { name: "下一页" }).click();
  await page.waitForURL(/page=2$/);
  await settle(page);
  assert.deepEqual(await ids(), closed.slice(-40, -20).reverse().map((r) => r.id), "page 2: the 20 before");
  assert.match(await page.locator("#page-of").textContent(), new RegExp(`第 2 页，共 ${Math.ceil(closed.length / 20)} 页`));
});
