// 议事会与共建清单: a four-party council with participants, topics and
// decisions, and a co-building list whose items two units claim by name;
// only the moves the schema allows are offered.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cliJson } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => { b = await browser(); });
after(async () => { await b.close(); });

const TITLE = "8号楼加装电梯协商会";
const TASKS = ["联系电梯厂家现场勘察", "一楼住户意见征集"];

test("record a four-party council with a co-building list claimed by two units", async () => {
  const { page } = b;
  await open(page, URL, "#/meetings");
  await page.getByText("记一次议事会").click();
  await page.getByLabel("类型").selectOption({ label: "四方议事会" });
  await page.getByLabel("会议名称").fill(TITLE);
  await page.getByLabel("所属网格").selectOption({ label: "第三网格" });
  await page.getByLabel("参会（一行一位或一方）").fill("社区党委\n居委会\n业委会\n清河物业服务站");
  await page.getByLabel("议题（一行一个）").fill("加装电梯费用分摊");
  await page.getByLabel("决议（一行一条）").fill("按楼层分摊费用\n物业负责施工协调");
  await page.getByLabel(/共建清单/).fill(TASKS.join("\n"));
  // a field the page does not ask for by itself, from the schema
  await page.locator("#new-meeting").getByText("更多（可不填）").click();
  await page.locator("#x-meeting-note").fill("下次会议前物业报价");
  await check(page, "meeting-form", b.errors);
  await page.getByRole("button", { name: "记下议事会" }).click();
  await page.locator("#meetings .meeting", { hasText: TITLE }).waitFor();
  const ms = cliJson(DIR, ["list", "meeting", "--where", "title=" + TITLE]);
  assert.equal(ms.length, 1);
  const m = ms[0];
  assert.equal(m.fields.kind, "four-party");
  assert.equal(m.fields.note, "下次会议前物业报价");
  assert.equal(m.scope, "gongrencun/qinghejv/g03");
  assert.deepEqual(m.fields.participants.slice().sort(), ["业委会", "居委会", "清河物业服务站", "社区党委"].sort());
  assert.deepEqual(m.fields.decisions.slice().sort(), ["按楼层分摊费用", "物业负责施工协调"].sort());
  const tasks = cliJson(DIR, ["list", "task", "--where", "meeting=meeting/" + m.id]);
  assert.deepEqual(tasks.map((t) => t.fields.what).sort(), TASKS.slice().sort());
  assert.ok(tasks.every((t) => t.fields.status === "open" && t.scope === m.scope));
  assert.match(await page.locator("#meetings").textContent(), /四方议事会：8号楼加装电梯协商会/);

  // two units claim one item each, by name from a list
  const units = ["清河物业服务站", cliJson(DIR, ["list", "unit"]).map((u) => u.fields.name).find((n) => n !== "清河物业服务站")];
  for (let i = 0; i < 2; i++) {
    const t = tasks.find((x) => x.fields.what === TASKS[i]);
    const card = page.locator(`.item[data-id="${t.id}"]`);
    // open: only claim is offered
    assert.deepEqual(await card.locator("button[data-verb]").evaluateAll((bs) => bs.map((x) => x.dataset.verb)), ["claim"]);
    await card.getByRole("button", { name: "认领" }).click();
    await card.getByLabel("哪个单位认领？").selectOption({ label: units[i] });
    if (i === 0) await check(page, "meeting-claim", b.errors);
    await card.getByRole("button", { name: "确定认领" }).click();
    await page.locator(`section[data-status=claimed] .item[data-id="${t.id}"]`).waitFor();
    const held = cliJson(DIR, ["get", "task", t.id]);
    assert.equal(held.fields.status, "claimed");
    const unit = cliJson(DIR, ["get", held.fields.unit.$ref.split("/")[0], held.fields.unit.$ref.split("/")[1]]);
    assert.equal(unit.fields.name, units[i]);
    assert.match(await page.locator(`.item[data-id="${t.id}"]`).textContent(), new RegExp("认领：" + units[i]));
  }
  // the first is done
  const t0 = tasks.find((x) => x.fields.what === TASKS[0]);
  await page.locator(`.item[data-id="${t0.id}"]`).getByRole("button", { name: "完成" }).click();
  await page.locator(`section[data-status=done] .item[data-id="${t0.id}"]`).waitFor();
  const done = cliJson(DIR, ["get", "task", t0.id]);
  assert.equal(done.fields.status, "done");
  assert.match(done.fields.done, /^\d{4}-\d\d-\d\d$/);
  await settle(page);
  await check(page, "meetings", b.errors);
});
