// In English, no Chinese of the app's own on any page: every page of the
// seeded community, its panels and its print views, checked for Han
// characters outside what people entered (marked .data: names,
// addresses, notes, record text) and outside text marked as Chinese
// (lang="zh-CN": the switch back to 中文), nor Chinese punctuation.
// Titles, placeholders, aria-labels, alt texts, button values and
// dialogs are checked too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { browser, open, settle, check, cliJson, shot } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
let b;
before(async () => {
  b = await browser();
  // two dozen pages, some of them heavy (the overview's to-dos, the whole
  // door-knock sheet): a sanitizer build on a busy machine takes its time
  b.ctx.setDefaultTimeout(60000);
  await b.page.addInitScript(() => localStorage.setItem("gs-lang", "en"));
});
after(async () => { await b.close(); });

// Every Han character the app itself put on the page, with where.
async function ownChinese(page) {
  return page.evaluate(() => {
    // Han characters, and the Chinese punctuation that goes with them
    // (、。「」 and the full-width forms ：，（）)
    const han = /[\p{Script=Han}\u3000-\u303f\uff01-\uff5e]/u;
    const bad = [];
    const exempt = (e) => e.closest(".data, [lang^=zh], script, style");
    const where = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      (e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : "");
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const e = n.parentElement;
      if (!e || exempt(e) || !han.test(n.nodeValue)) continue;
      bad.push(JSON.stringify(n.nodeValue.trim().slice(0, 60)) + " in " + where(e));
    }
    for (const e of document.querySelectorAll("[title], [placeholder], [aria-label], [alt], button[value], input[type=submit], input[type=button]")) {
      for (const a of ["title", "placeholder", "aria-label", "alt", "value"]) {
        if (!e.hasAttribute(a) || (a === "value" && e.tagName === "INPUT" && !["submit", "button"].includes(e.type))) continue;
        if (han.test(e.getAttribute(a)) && !e.closest("[lang^=zh]"))
          bad.push(a + "=" + JSON.stringify(e.getAttribute(a)) + " of " + where(e));
      }
    }
    if (han.test(document.title)) bad.push("the title " + JSON.stringify(document.title));
    return bad;
  });
}

async function english(page, what) {
  // drawn, not the page of a fault
  assert.notEqual(await page.locator("main h1").first().textContent(), "Something went wrong", what);
  const bad = await ownChinese(page);
  assert.deepEqual(bad, [], `${what}: Chinese of the app's own in English`);
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en", what);
}

async function visit(page, hash, what) {
  try {
    await open(page, URL, hash);
  } catch (err) {
    err.message = what + " (" + hash + "): " + err.message;
    throw err;
  }
  await english(page, what);
  return page;
}

test("in English, every page of the app and its print views has no Chinese of its own", async () => {
  const { page } = b;
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const res = cliJson(DIR, ["list", "resident", "--where", "building=3号楼", "--where", "unit=2"]);
  const r = res.find((x) => x.fields.household || x.fields.room);
  assert.ok(r, "a resident of 3号楼 2单元 to show");
  const tb = cliJson(DIR, ["list", "timebank"]);
  const person = tb.find((x) => x.fields.person && x.fields.person.$ref).fields.person.$ref;
  const pages = [
    ["#/", "overview"], ["#/residents", "residents"], ["#/residents?q=" + encodeURIComponent(r.fields.name), "search by name"],
    ["#/residents?q=138", "search by phone"], ["#/residents?q=zzzz", "search finding none"],
    ["#/residents?b=" + encodeURIComponent("3号楼"), "a building"],
    ["#/residents?b=" + encodeURIComponent("3号楼") + "&u=2", "a stairwell"],
    ["#/resident/" + r.id, "a resident"], ["#/resident/" + r.id + "/edit", "editing a resident"],
    ["#/residents/new", "a new resident"], ["#/appeals", "the appeals board"],
    ["#/appeals?status=closed", "appeals of one status"], ["#/appeals?status=nosuch", "an unknown status"],
    ["#/visits", "visits"], ["#/visits?days=30&b=" + encodeURIComponent("3号楼"), "visits of a building"],
    ["#/visits/sheet?days=90&b=" + encodeURIComponent("3号楼"), "a door-knock sheet"],
    ["#/meetings", "councils"], ["#/timebank", "the time bank"], ["#/passbook/" + person, "a passbook"],
    ["#/report", "the report"], ["#/report?since=" + new Date().getFullYear() + "-01-01", "the year's report"],
    ["#/sync", "sync and members"], ["#/inbox", "to settle"], ["#/nosuchpage", "no such page"],
  ];
  for (const [hash, what] of pages) await visit(page, hash, what);

  // the to-dos filled in later, on the overview
  await open(page, URL, "#/");
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById("due-visits").textContent));
  await english(page, "the overview's to-dos");
  await check(page, "english-home", b.errors);

  // the panels a click opens: assign, close with feedback, a claim
  await open(page, URL, "#/appeals");
  await page.locator("#new-appeal > summary").click();
  await english(page, "the new appeal form");
  const assign = page.locator(".item button[data-verb=assign]").first();
  if (await assign.count()) { await assign.click(); await english(page, "the assign panel"); }
  const close = page.locator(".item button[data-verb=close]").first();
  if (await close.count()) { await close.click(); await english(page, "the close panel"); }
  await check(page, "english-appeals-board", b.errors);
  await open(page, URL, "#/meetings");
  await page.locator("#new-meeting > summary").click();
  const more = page.locator("#more-meeting summary");
  if (await more.count()) await more.click();
  const claim = page.locator(".item button[data-verb=claim]").first();
  if (await claim.count()) await claim.click();
  await english(page, "the meeting form and a claim");
  await open(page, URL, "#/visits");
  const vmore = page.locator("#more-visit summary");
  if (await vmore.count()) await vmore.click();
  await english(page, "the visit form's more part");
  await check(page, "english-visits-form", b.errors);

  // a refusal shown by the page: a spend beyond the balance
  await open(page, URL, "#/timebank");
  await page.fill("#person", r.fields.name);
  await page.fill("#hours", "9999");
  await page.getByRole("button", { name: "Spend hours" }).click();
  // a name several people have: the page asks which one first
  await page.waitForFunction(() => document.getElementById("tb-error").textContent.length > 0 ||
    document.querySelector("#timebank-form .pick button"));
  if (await page.locator("#timebank-form .pick button").count()) {
    await english(page, "choosing among people of one name");
    await page.locator("#timebank-form .pick button.choice").first().click();
    await page.waitForFunction(() => document.getElementById("tb-error").textContent.length > 0);
  }
  await english(page, "a refused spend");

  // an invite as a QR code and text
  await open(page, URL, "#/sync");
  await page.getByRole("button", { name: "Make an invite code" }).click();
  await page.waitForSelector("#invite-qr");
  await english(page, "an invite");
  await check(page, "english-sync-invite", b.errors);

  // the print views, as printed
  await page.emulateMedia({ media: "print" });
  try {
    for (const [hash, what] of [["#/residents?b=" + encodeURIComponent("3号楼") + "&u=2", "a printed roster"],
      ["#/visits/sheet?days=90", "a printed door-knock sheet"], ["#/passbook/" + person, "a printed passbook"],
      ["#/report", "a printed report"]]) await visit(page, hash, what);
  } finally {
    await page.emulateMedia({ media: "screen" });
  }

  // a dialog: moving a resident out asks first (dismissed: nothing done)
  await open(page, URL, "#/resident/" + r.id);
  await page.getByRole("button", { name: "Moved out" }).click();
  await page.waitForFunction(() => true);
  assert.equal(dialogs.length, 1, "the move-out asks first");
  assert.doesNotMatch(dialogs[0].replace(r.fields.name, ""), /\p{Script=Han}/u, "the dialog: " + dialogs[0]);
  assert.equal(cliJson(DIR, ["get", "resident", r.id]).deleted, false, "dismissed: not moved out");
  await shot(page, "english-resident");
  assert.deepEqual(b.errors, []);
});
