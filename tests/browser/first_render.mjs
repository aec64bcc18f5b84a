// Time to first render of the residents page, for tests/bench/bench_web.py
// (not a test): navigation start to the first resident row visible, in
// Debian's chromium, ROUNDS fresh navigations. Prints one JSON line:
// {"ms": [...]}.
//
//   node tests/browser/first_render.mjs http://127.0.0.1:PORT/ ROUNDS
import { chromium } from "playwright-core";

const [url, rounds = "20"] = process.argv.slice(2);
const b = await chromium.launch({ executablePath: process.env.GS_CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"] });
const ctx = await b.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN" });
// in the page, from its first script on: the time the first row is seen
await ctx.addInitScript(() => {
  const look = () => {
    const r = document.querySelector("table.residents tbody tr");
    if (r && r.getClientRects().length) { window.__firstRow = performance.now(); return true; }
    return false;
  };
  new MutationObserver((_, o) => { if (look()) o.disconnect(); })
    .observe(document, { childList: true, subtree: true });
});
const page = await ctx.newPage();
const ms = [];
for (let i = 0; i < Number(rounds); i++) {
  await page.goto("about:blank"); // leave the app: the next load is a fresh one
  await page.goto(url + "#/residents");
  await page.waitForFunction(() => window.__firstRow !== undefined, null, { timeout: 30000 });
  ms.push(await page.evaluate(() => window.__firstRow));
}
await b.close();
console.log(JSON.stringify({ ms }));
