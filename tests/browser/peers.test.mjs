// 同步与成员's peers table says in plain words why a sync failed (issue
// 17): a node whose one peer is a closed port shows, in its last outcome,
// the node's Chinese sentence on the Chinese page and the English one on
// the English page, with the node's own words under it; the CLI's
// `peers --json` gives the same kind, its sentence and the raw note; a
// node of another network (another key) says so.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { rmSync } from "node:fs";
import { browser, open, check, cli, cliJson, serve, tempDir } from "./lib.mjs";

let b, srv = null, other = null, dir, otherDir, addr, otherAddr;

// A loopback port nothing listens on: taken from the OS, then let go.
function closedPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  b = await browser();
  dir = tempDir("gs-peers-");
  addr = "127.0.0.1:" + await closedPort();
  cli(dir, ["init", "--name", "五网格楼栋长的电脑"]);
  cli(dir, ["network", "create", "测试街道"]);
  cli(dir, ["peers", "add", addr]);
  const r = cli(dir, ["sync", addr], { ok: false });
  assert.notEqual(r.code, 0, "a sync with a closed port fails");
  // a node of another network, listening
  otherDir = tempDir("gs-peers-other-");
  cli(otherDir, ["init", "--name", "别的街道的电脑"]);
  cli(otherDir, ["network", "create", "别的街道"]);
  other = await serve(otherDir, ["--gossip-ms", "86400000"]);
  otherAddr = other.output().match(/^serving on (127\.0\.0\.1:\d+) /m)[1];
  cli(dir, ["peers", "add", otherAddr]);
  assert.notEqual(cli(dir, ["sync", otherAddr], { ok: false }).code, 0, "another network's node refuses");
  // no gossip of its own meanwhile: the rows stay as the syncs left them
  srv = await serve(dir, ["--gossip-ms", "86400000"]);
});
after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
  if (other) assert.equal(await other.stop(), 0);
  await b.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

test("the CLI keeps the kind with the raw note", () => {
  const peers = cliJson(dir, ["peers"]);
  const p = peers.find((x) => x.addr === addr);
  assert.ok(p, "the closed port is in the book");
  assert.equal(p.kind, "unreachable");
  assert.ok(p.failures >= 1);
  assert.ok(p.note.length > 0, "the node's own words are kept");
  assert.match(p.outcome, /other computer may be switched off|那台电脑可能没开机/);
  const o = peers.find((x) => x.addr === otherAddr);
  assert.equal(o.kind, "key", "another network key: " + o.note);
});

test("a peer that cannot be reached, in plain Chinese, then in English", async () => {
  const { page } = b;
  await open(page, srv.url, "#/sync");
  const row = page.locator("#peers tbody tr", { hasText: addr });
  await row.waitFor();
  const why = row.locator(".peer-why");
  assert.match(await why.textContent(), /^连不上：那台电脑可能没开机.*不在同一个网络/);
  assert.doesNotMatch((await why.textContent()).replace(/gridsync/g, ""), /[A-Za-z]{2,}/, "no English in the Chinese sentence");
  // the node's words are there for whoever helps, folded
  assert.equal(await row.locator("details summary").textContent(), "节点的原话（英文）");
  assert.equal(await row.locator("details .data").isVisible(), false);
  const keyRow = page.locator("#peers tbody tr", { hasText: otherAddr });
  assert.match(await keyRow.locator(".peer-why").textContent(), /^那台电脑不认本机的网络密钥/);
  await check(page, "sync-peer-unreachable", b.errors);

  await page.evaluate(() => localStorage.setItem("gs-lang", "en"));
  try {
    await open(page, srv.url, "#/sync");
    const rowEn = page.locator("#peers tbody tr", { hasText: addr });
    await rowEn.waitFor();
    assert.match(await rowEn.locator(".peer-why").textContent(),
      /^Cannot reach it: the other computer may be switched off/);
    assert.equal(await rowEn.locator("details summary").textContent(), "The node's words");
    await check(page, "sync-peer-unreachable-en", b.errors);
  } finally {
    await page.evaluate(() => localStorage.removeItem("gs-lang"));
  }
});
