// The app's guards, seen from outside: CSRF and origin, Host (DNS
// rebinding), loopback only, body size. Each asserts that nothing was
// stored.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { spawnSync } from "node:child_process";
import { browser, cliJson, token, request, tempDir, cli, GRIDSYNC } from "./lib.mjs";

const URL = process.env.GS_URL, DIR = process.env.GS_DIR;
const JSONH = { "Content-Type": "application/json" };
const BODY = JSON.stringify({ scope: "gongrencun/qinghejv/g01", fields: { name: "不该有的人" } });

function intruders() {
  return cliJson(DIR, ["list", "resident", "--where", "name=不该有的人"]).length;
}

test("a cross-site POST without the token is refused, in a real browser too", async () => {
  // by hand: no token, another origin
  let r = await request(URL, "POST", "api/records/resident",
    { ...JSONH, Origin: "http://evil.example", "Sec-Fetch-Site": "cross-site" }, BODY);
  assert.equal(r.status, 403);
  assert.equal(JSON.parse(r.body).error.code, "GS_EPERM");
  // the token alone is not enough from another origin
  r = await request(URL, "POST", "api/records/resident",
    { ...JSONH, "X-CSRF-Token": await token(URL), Origin: "http://evil.example" }, BODY);
  assert.equal(r.status, 403);
  // a wrong token from the app's own origin
  r = await request(URL, "POST", "api/records/resident",
    { ...JSONH, "X-CSRF-Token": "0".repeat(64), Origin: URL.replace(/\/$/, "") }, BODY);
  assert.equal(r.status, 403);

  // a page on another site posts a form to the app, as an attack would
  const evil = http.createServer((req, res) => {
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.end(`<!doctype html><form id=f method=post enctype=text/plain
      action="${URL}api/records/resident"><input name='${BODY.slice(0, -1)}, "x": "' value='"}'></form>
      <script>document.getElementById("f").submit()</script>`);
  });
  await new Promise((ok) => evil.listen(0, "127.0.0.2", ok));
  const b = await browser();
  try {
    const answer = b.page.waitForResponse((res) => res.url().includes("/api/records/resident"));
    await b.page.goto(`http://127.0.0.2:${evil.address().port}/`);
    const res = await answer;
    assert.equal(res.status(), 403);
  } finally {
    await b.close();
    evil.close();
  }
  assert.equal(intruders(), 0, "nothing was stored");
});

test("Host: evil.example is refused (421)", async () => {
  for (const [method, path] of [["GET", ""], ["GET", "api/session"], ["GET", "api/records/resident"]]) {
    const r = await request(URL, method, path, { Host: "evil.example" });
    assert.equal(r.status, 421, `${method} /${path}`);
    assert.equal(JSON.parse(r.body).error.code, "GS_EPERM");
    assert.ok(!r.body.includes("csrf"), "no token handed to another host");
  }
  const r = await request(URL, "POST", "api/records/resident",
    { ...JSONH, Host: "evil.example", "X-CSRF-Token": await token(URL) }, BODY);
  assert.equal(r.status, 421);
  assert.equal(intruders(), 0);
});

test("--ui 0.0.0.0:0 is refused at start with a clear message", async () => {
  const dir = tempDir("gs-browser-wide-");
  try {
    cli(dir, ["init", "--name", "楼栋长的电脑"]);
    cli(dir, ["network", "create", "试验网络"]);
    const r = spawnSync(GRIDSYNC, ["--dir", dir, "serve", "--listen", "127.0.0.1:0", "--ui", "0.0.0.0:0"],
      { encoding: "utf8", timeout: 10000 });
    assert.equal(r.status, 1, "exit 1, not a server running");
    assert.match(r.stderr, /answers only on this computer/);
    assert.match(r.stderr, /password/);
    assert.ok(!/the app is at/.test(r.stdout), "nothing served");
  } finally {
    spawnSync("rm", ["-rf", dir]);
  }
});

// A body of n bytes sent in pieces on a raw socket; the answer is what
// the server wrote before it closed (it may stop reading early).
function bigPost(url, n, chunked, csrf) {
  const u = new globalThis.URL(url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let got = "", failed = null;
    sock.setEncoding("utf8");
    sock.on("data", (d) => { got += d; });
    sock.on("error", (e) => { failed = e.code; });
    sock.on("close", () => {
      const m = got.match(/^HTTP\/1\.[01] (\d{3})/);
      const i = got.indexOf("\r\n\r\n");
      let body = i >= 0 ? got.slice(i + 4) : "";
      if (/transfer-encoding: chunked/i.test(got.slice(0, i))) body = body.replace(/^[0-9a-f]+\r\n/i, "").replace(/\r\n0\r\n\r\n$/, "");
      resolve({ status: m ? Number(m[1]) : null, body, failed });
    });
    sock.write(`POST /api/records/resident HTTP/1.1\r\nHost: ${u.host}\r\nX-CSRF-Token: ${csrf}\r\n` +
      "Content-Type: application/json\r\nConnection: close\r\n" +
      (chunked ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${n}\r\nExpect: 100-continue\r\n`) + "\r\n");
    const piece = Buffer.alloc(64 * 1024, 0x20);
    const head = Buffer.from(piece.length.toString(16) + "\r\n"), tail = Buffer.from("\r\n");
    let sent = 0;
    const pump = () => {
      while (sent < n && !failed && !sock.destroyed) {
        sent += piece.length;
        const ok = chunked ? (sock.write(head), sock.write(piece), sock.write(tail)) : sock.write(piece);
        if (!ok) { sock.once("drain", pump); return; }
      }
      if (!failed && !sock.destroyed) sock.end(chunked ? "0\r\n\r\n" : "");
    };
    if (chunked) return pump();
    // announced: as HTTP clients do, wait a moment for a refusal before
    // sending the body (a server that refuses does not read it)
    const t = setTimeout(pump, 1000);
    sock.once("data", () => {
      if (/^HTTP\/1\.[01] 100/.test(got)) { clearTimeout(t); got = got.replace(/^HTTP\/1\.[01] 100[^\n]*\r\n\r\n/, ""); pump(); }
      else { clearTimeout(t); sock.end(); }
    });
  });
}

test("a 10 MB body is refused (413), announced or not", async () => {
  const csrf = await token(URL);
  for (const chunked of [false, true]) {
    const r = await bigPost(URL, 10 * 1024 * 1024, chunked, csrf);
    assert.equal(r.status, 413, `${chunked ? "chunked" : "Content-Length"}: ${r.failed || ""}`);
    assert.equal(JSON.parse(r.body).error.code, "GS_ETOOBIG");
  }
  // and the app still answers
  const r = await request(URL, "GET", "api/status");
  assert.equal(r.status, 200);
});

test("the network calls: a write without the token, a forged origin, an oversized bundle, a bad code, a cross-site download", async () => {
  const members = () => cliJson(DIR, ["members"]).members.length;
  const before0 = members();
  const tok = await token(URL);
  // an invite, a revoke, a join, a sync, a bundle: never without the token, never from another origin
  for (const [p, body] of [["api/invite", { role: "admin", scope: "gongrencun" }], ["api/revoke", { key: "A".repeat(52) }],
    ["api/join", { code: "x" }], ["api/sync", {}], ["api/bundle", "junk"]]) {
    let r = await request(URL, "POST", p, JSONH, typeof body === "string" ? body : JSON.stringify(body));
    assert.equal(r.status, 403, p + " without the token");
    r = await request(URL, "POST", p, { ...JSONH, "X-CSRF-Token": tok, Origin: "http://evil.example" },
      typeof body === "string" ? body : JSON.stringify(body));
    assert.equal(r.status, 403, p + " from another origin");
  }
  // a bundle announced beyond 64 MiB is refused before it is read
  let r = await request(URL, "POST", "api/bundle", { "X-CSRF-Token": tok, "Content-Type": "application/octet-stream",
    "Content-Length": String(65 * 1024 * 1024) });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.body).error.text, /64 MiB/);
  // any other call keeps its 1 MiB bound
  r = await request(URL, "POST", "api/join", { ...JSONH, "X-CSRF-Token": tok, "Content-Length": String(2 * 1024 * 1024) });
  assert.equal(r.status, 413);
  // garbage as a bundle: refused whole, nothing stored
  const changes = cliJson(DIR, ["status"]).changes;
  r = await request(URL, "POST", "api/bundle", { "X-CSRF-Token": tok, "Content-Type": "application/octet-stream" },
    Buffer.alloc(4096, 7));
  assert.equal(r.status, 422);
  assert.equal(cliJson(DIR, ["status"]).changes, changes);
  // a code far too long, a code of junk, a role or scope that is not one
  r = await request(URL, "POST", "api/join", { ...JSONH, "X-CSRF-Token": tok }, JSON.stringify({ code: "x".repeat(5000) }));
  assert.equal(r.status, 400);
  r = await request(URL, "POST", "api/invite", { ...JSONH, "X-CSRF-Token": tok }, JSON.stringify({ role: "king", scope: "gongrencun" }));
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).error.field, "role");
  r = await request(URL, "POST", "api/invite", { ...JSONH, "X-CSRF-Token": tok }, JSON.stringify({ role: "leader", scope: "a//b" }));
  assert.equal(r.status, 400);
  r = await request(URL, "POST", "api/invite", { ...JSONH, "X-CSRF-Token": tok }, JSON.stringify({ role: "leader", scope: "gongrencun", days: 9999 }));
  assert.equal(r.status, 400);
  r = await request(URL, "POST", "api/revoke", { ...JSONH, "X-CSRF-Token": tok }, JSON.stringify({ key: "not a key" }));
  assert.equal(r.status, 400);
  // whom an invite is for: text of at most 60 bytes, no line breaks, a string
  const written = cliJson(DIR, ["status"]).changes;
  for (const who of ["王".repeat(21), "王阿姨\n3号楼", "a\u0007b", 42, ["王阿姨"], { x: 1 }]) {
    r = await request(URL, "POST", "api/invite", { ...JSONH, "X-CSRF-Token": tok },
      JSON.stringify({ role: "leader", scope: "gongrencun/qinghejv/g01", for: who }));
    assert.equal(r.status, 400, JSON.stringify(who));
    assert.equal(JSON.parse(r.body).error.field, "for");
  }
  assert.equal(cliJson(DIR, ["status"]).changes, written, "a refused invite writes nothing");
  assert.equal(members(), before0, "no member added or changed");
  // the questions' arguments are checked
  for (const q of ["days=0", "days=abc", "days=99999", "limit=0", "limit=999999", "scope=a%2F%2Fb"])
    assert.equal((await request(URL, "GET", "api/unvisited?" + q)).status, 400, q);
  // a bundle is downloaded only by the app itself
  r = await request(URL, "GET", "api/bundle", { "Sec-Fetch-Site": "cross-site" });
  assert.equal(r.status, 403);
});
