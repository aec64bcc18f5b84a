// 居民: add, find, building -> unit -> room, live updates from the CLI.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cli, cliJson } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

function residentsNamed(name) {
  return cliJson(DIR, ["list", "resident", "--where", "name=" + name]);
}

test("add an elderly resident living alone, tags as check boxes", async () => {
  const { page } = b;
  assert.equal(residentsNamed("欧阳秀英").length, 0);
  await open(page, URL, "#/residents");
  await page.getByRole("link", { name: "登记新居民" }).first().click();
  await settle(page);
  await page.getByLabel("姓名").fill("欧阳秀英");
  await page.getByLabel("性别").selectOption({ label: "女" });
  await page.getByLabel("出生年份").fill("1948");
  await page.getByLabel("电话").fill("139 0000 2222");
  await page.getByLabel("楼栋").fill("3号楼");
  await page.getByLabel("单元").fill("2");
  await page.getByLabel("房号").fill("502");
  // the tags are check boxes with the schema's Chinese labels
  const boxes = page.locator("fieldset.checks input[type=checkbox]");
  assert.ok(await boxes.count() >= 10, "one check box per tag");
  await page.getByRole("checkbox", { name: "老年人" }).check();
  await page.getByRole("checkbox", { name: "独居" }).check();
  await check(page, "resident-new", b.errors);
  await page.getByRole("button", { name: "登记", exact: true }).click();
  await page.waitForURL(/#\/resident\/[0-9A-Z]{26}$/);
  await settle(page);
  // the page shows what was written, in words
  await assert.doesNotReject(page.getByRole("heading", { name: "欧阳秀英" }).waitFor());
  const tags = await page.locator("td[data-field=tags]").textContent();
  assert.match(tags, /老年人/);
  assert.match(tags, /独居/);
  assert.match(await page.locator("td[data-field=birth_year]").textContent(), /1948年（\d+岁）/);
  await check(page, "resident-detail", b.errors);
  // and the node holds it
  const got = residentsNamed("欧阳秀英");
  assert.equal(got.length, 1);
  const f = got[0].fields;
  assert.deepEqual([...f.tags].sort(), ["elderly", "lives-alone"]);
  assert.equal(f.birth_year, 1948);
  assert.equal(f.phone, "13900002222", "the phone is stored without its spaces");
  assert.equal(f.gender, "女");
  assert.equal(f.building, "3号楼");
  assert.equal(got[0].scope, cliJson(DIR, ["list", "building", "--where", "name=3号楼"])[0].scope,
    "the grid defaults to the building's");
  const id = page.url().split("/").pop();
  assert.equal(got[0].id, id);
});

test("find a resident by a phone typed with spaces", async () => {
  const { page } = b;
  cli(DIR, ["resident", "add", "--name", "司马德全", "--phone", "13800001111",
    "--building", "5号楼", "--unit", "1", "--room", "201", "--scope", "gongrencun/qinghejv/g04"]);
  await open(page, URL, "#/residents");
  await page.getByLabel("找居民（姓名或电话）").fill("138 0000 1111");
  await page.getByRole("button", { name: "查找" }).click();
  await page.waitForURL(/q=13800001111$/);
  await settle(page);
  const rows = page.locator("table.residents tbody tr");
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /司马德全.*13800001111/);
  assert.match(await page.locator("#count").textContent(), /找到 1 位/);
  await check(page, "resident-search", b.errors);
  // a part of the number, with a dash, finds it too
  await page.getByLabel("找居民（姓名或电话）").fill("0000-1111");
  await page.getByRole("button", { name: "查找" }).click();
  await page.waitForURL(/q=00001111$/);
  await settle(page);
  assert.match(await page.locator("table.residents").textContent(), /司马德全/);
  // the node holds that one resident with that phone
  const got = cliJson(DIR, ["list", "resident", "--where", "phone=13800001111"]);
  assert.deepEqual(got.map((r) => r.fields.name), ["司马德全"]);
});

test("building -> unit -> room, a household's members together", async () => {
  const { page } = b;
  await open(page, URL, "#/residents");
  await page.locator("nav.buildings").getByRole("link", { name: "3号楼", exact: true }).click();
  await settle(page);
  await page.locator("nav.units").getByRole("link", { name: "2单元" }).click();
  await page.waitForURL(/u=2$/);
  await settle(page);
  const room = page.locator("section.room", { has: page.getByRole("heading", { name: "502室" }) });
  assert.match(await room.textContent(), /欧阳秀英/);
  // every resident the node has in 3号楼 2单元 room 502 is in that box
  const held = cliJson(DIR, ["list", "resident", "--where", "building=3号楼", "--where", "unit=2",
    "--where", "room=502"]).map((r) => r.fields.name);
  assert.ok(held.length >= 1);
  const shownNames = await room.locator("li a").allTextContents();
  assert.deepEqual(shownNames.sort(), held.sort());
  // the room count is the node's
  const rooms = new Set(cliJson(DIR, ["list", "resident", "--where", "building=3号楼", "--where", "unit=2"])
    .map((r) => r.fields.room));
  assert.equal(await page.locator("section.room").count(), rooms.size);
  await check(page, "residents-building", b.errors);
});

test("an edit made by the CLI in another process appears within a second, without a reload", async (t) => {
  const { page } = b;
  const r = residentsNamed("欧阳秀英")[0];
  await open(page, URL, "#/resident/" + r.id);
  await page.evaluate(() => { window.__same_page = true; });
  // the page's event stream is open (as it is long before anyone edits)
  await page.locator("#live[data-live='1']").waitFor();
  cli(DIR, ["resident", "edit", r.id, "--phone", "13711112222"]);
  // from the write (the CLI's exit: a sanitizer build's CLI alone may take
  // a second to start) to the page showing it
  const t0 = Date.now();
  await page.locator("td[data-field=phone]", { hasText: "13711112222" }).waitFor({ timeout: 5000 });
  const ms = Date.now() - t0;
  assert.equal(await page.evaluate(() => window.__same_page), true, "the page was not reloaded");
  assert.ok(ms <= 1000, `seen after ${ms} ms`);
  t.diagnostic(`the CLI's edit was on the page ${ms} ms after the CLI wrote it`);
  assert.equal(cliJson(DIR, ["get", "resident", r.id]).fields.phone, "13711112222");
});

test("edit: a tag unchecked is removed, a moved-out resident can be restored", async () => {
  const { page } = b;
  const r = residentsNamed("欧阳秀英")[0];
  await open(page, URL, "#/resident/" + r.id);
  await page.getByRole("link", { name: "修改" }).click();
  await settle(page);
  assert.equal(await page.getByRole("checkbox", { name: "独居" }).isChecked(), true, "the form shows the tags held");
  await page.getByRole("checkbox", { name: "独居" }).uncheck();
  await page.getByRole("checkbox", { name: "重点关爱" }).check();
  await check(page, "resident-edit-tags", b.errors);
  await page.getByRole("button", { name: "保存" }).click();
  await page.waitForURL(/#\/resident\/[0-9A-Z]{26}$/);
  await settle(page);
  assert.match(await page.locator("td[data-field=tags]").textContent(), /^老年人、重点关爱$/);
  assert.deepEqual([...cliJson(DIR, ["get", "resident", r.id]).fields.tags].sort(), ["elderly", "special-care"]);

  // moving out is a delete, with a question first
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "迁出" }).click();
  await page.getByRole("heading", { name: "欧阳秀英（已迁出）" }).waitFor();
  assert.equal(cliJson(DIR, ["get", "resident", r.id]).deleted, true);
  await page.getByRole("button", { name: "恢复（搬回来了）" }).click();
  await page.getByRole("heading", { name: "欧阳秀英", exact: true }).waitFor();
  assert.equal(cliJson(DIR, ["get", "resident", r.id]).deleted, false);
});

test("a resident's page lists the others of the household", async () => {
  const { page } = b;
  const all = cliJson(DIR, ["list", "resident", "--where", "building=2号楼"]);
  const by = new Map();
  for (const r of all) if (r.fields.household) {
    const k = r.fields.household.$ref;
    by.set(k, (by.get(k) || []).concat([r]));
  }
  const family = [...by.values()].find((v) => v.length >= 3);
  assert.ok(family, "the seeded 2号楼 has a household of three or more");
  await open(page, URL, "#/resident/" + family[0].id);
  const shownNames = await page.locator("ul.mates li a").allTextContents();
  assert.deepEqual(shownNames.sort(), family.slice(1).map((r) => r.fields.name).sort());
  await check(page, "resident-household", b.errors);
});
