#!/usr/bin/env node
// The comparison systems of tests/bench/run.sh: Automerge 3 and PouchDB
// (pouchdb-node, LevelDB adapter) on the same resident records and edits
// as gridsync. Each command prints one JSON object on stdout.
//
//   node peers.js automerge|pouchdb writes N DURABLE
//   node peers.js automerge|pouchdb merge RECORDS EDITS
//   node peers.js automerge sync N        (two processes, TCP loopback)
//   node peers.js pouchdb sync N          (two databases, one process)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const { fork } = require('child_process');

const now = () => Number(process.hrtime.bigint()) / 1e9;
const tmp = (p) => fs.mkdtempSync(path.join(os.tmpdir(), 'gs-peer-' + p + '-'));

// The record of bench_sync.py's load lines: ten fields, Chinese text.
function resident(i) {
  return {
    name: '居民' + i, gender: i % 2 ? '女' : '男', birth_year: 1930 + i % 80,
    phone: '139' + String(i).padStart(8, '0'), building: String(1 + i % 19),
    unit: String(1 + i % 3), room: String(101 + i % 600),
    note: '第' + i + '户，独居老人，每周三上门探访。',
    tags: i % 3 ? ['elderly'] : ['lives-alone'], household: 'household/' + String(Math.floor(i / 3)).padStart(26, '0'),
  };
}
const rid = (i) => 'r' + String(i).padStart(8, '0');
const FIELDS = ['name', 'phone', 'room', 'note', 'building'];

// The edits of bench_merge.c's shape: pairs (A, B); one pair in ten
// edits the same field of the same record on both sides.
function* edits(nrec, nedits) {
  let s = 0x2545f491n;
  const rnd = () => { s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn; return Number(s >> 33n); };
  for (let p = 0; p < nedits / 2; p++) {
    const conflict = p % 10 === 0;
    let rec = rnd() % nrec, f = FIELDS[rnd() % FIELDS.length];
    const a = [rec, f, f + '改为' + p + '号A'];
    if (!conflict) { rec = rnd() % nrec; f = FIELDS[rnd() % FIELDS.length]; }
    yield [a, [rec, f, f + '改为' + p + '号B']];
  }
}

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

// ---------------------------------------------------------------- Automerge
function am() { return require('@automerge/automerge'); }

function amWrites(n, durable) {
  const A = am();
  const dir = tmp('am');
  // durable one-record edits: each change appended (saveIncremental) + fsync
  let doc = A.init();
  const fd = fs.openSync(path.join(dir, 'log'), 'a');
  let t0 = now();
  for (let i = 0; i < durable; i++) {
    doc = A.change(doc, (d) => { d[rid(i)] = resident(i); });
    fs.writeSync(fd, A.saveIncremental(doc));
    fs.fsyncSync(fd);
  }
  const dur = durable / (now() - t0);
  fs.closeSync(fd);
  // bulk: records in changes of 40 (as gridsync's bench), one save + fsync
  doc = A.init();
  t0 = now();
  for (let i = 0; i < n;) {
    doc = A.change(doc, (d) => { for (let k = 0; k < 40 && i < n; k++, i++) d[rid(i)] = resident(i); });
  }
  const bytes = A.save(doc);
  const f2 = fs.openSync(path.join(dir, 'doc'), 'w');
  fs.writeSync(f2, bytes);
  fs.fsyncSync(f2);
  fs.closeSync(f2);
  const bulk = n / (now() - t0);
  fs.rmSync(dir, { recursive: true, force: true });
  out({ system: 'automerge', durable_per_s: dur, bulk_per_s: bulk, bytes_per_record: bytes.length / n });
}

function amMerge(nrec, nedits) {
  const A = am();
  let base = A.init();
  for (let i = 0; i < nrec;) {
    base = A.change(base, (d) => { for (let k = 0; k < 100 && i < nrec; k++, i++) { const r = {}; for (const f of FIELDS) r[f] = '初始值' + f + i; d[rid(i)] = r; } });
  }
  let a = A.clone(base), b = A.clone(base);
  const baseHeads = A.getHeads(base);
  let pa = [], pb = [], k = 0;
  const flush = () => {
    a = A.change(a, (d) => { for (const [r, f, v] of pa) d[rid(r)][f] = v; });
    b = A.change(b, (d) => { for (const [r, f, v] of pb) d[rid(r)][f] = v; });
    pa = []; pb = [];
  };
  for (const [ea, eb] of edits(nrec, nedits)) {
    pa.push(ea); pb.push(eb);
    if (++k % 100 === 0) flush();
  }
  if (pa.length) flush();
  const ca = A.getChanges(A.load(A.save(base)), a), cb = A.getChanges(A.load(A.save(base)), b);
  void baseHeads;
  const changes = [];
  for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
    if (i < ca.length) changes.push(ca[i]);
    if (i < cb.length) changes.push(cb[i]);
  }
  let target = A.load(A.save(base));
  const t0 = now();
  for (let i = 0; i < changes.length; i += 200)
    [target] = A.applyChanges(target, changes.slice(i, i + 200));
  const secs = now() - t0;
  out({ system: 'automerge', edits: nedits, seconds: secs, edits_per_s: nedits / secs });
}

// Frames over a socket: length(4) type(1) body. Types: M a sync
// message, P "nothing to say" (a poke or an idle answer), R report RSS.
function framed(sock, onMsg) {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 5) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 5 + n) break;
      const type = String.fromCharCode(buf[4]);
      const m = new Uint8Array(buf.subarray(5, 5 + n));
      buf = buf.subarray(5 + n);
      onMsg(type, m);
    }
  });
  return (type, m) => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(m ? m.length : 0);
    h[4] = type.charCodeAt(0);
    sock.write(m ? Buffer.concat([h, m]) : h);
    return 5 + (m ? m.length : 0);
  };
}

// The serving side: holds N records, answers each frame with its next
// sync message (or P); on R reports its peak RSS.
function amServe(n) {
  const A = am();
  let doc = A.init();
  for (let i = 0; i < n;) doc = A.change(doc, (d) => { for (let k = 0; k < 40 && i < n; k++, i++) d[rid(i)] = resident(i); });
  let st = A.initSyncState();
  const srv = net.createServer((sock) => {
    sock.setNoDelay(true);
    const send = framed(sock, (type, m) => {
      if (type === 'R') { process.send({ rss: process.resourceUsage().maxRSS * 1024 }); return; }
      if (type === 'M') [doc, st] = A.receiveSyncMessage(doc, st, m);
      const r = A.generateSyncMessage(doc, st); st = r[0];
      if (r[1]) send('M', r[1]); else send('P', null);
    });
  });
  srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port }));
  process.on('message', (m) => { if (m === 'edit') { doc = A.change(doc, (d) => { d[rid(0)].note = '已上门探访'; }); process.send({ edited: true }); } });
}

// The client: an empty document syncing from the serving process until
// both sides have nothing to say; then one edit on the server.
function amSync(n) {
  const A = am();
  const child = fork(__filename, ['automerge', 'serve', String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let doc = A.init(), st = A.initSyncState(), bytes = 0, sock, send, phase = 'cold', t0;
  const res = {};
  const next = () => { const r = A.generateSyncMessage(doc, st); st = r[0]; return r[1]; };
  const talk = () => { const m = next(); bytes += send(m ? 'M' : 'P', m); return m; };
  child.on('message', (m) => {
    if (m.port) {
      sock = net.connect(m.port, '127.0.0.1', () => { sock.setNoDelay(true); t0 = now(); talk(); });
      send = framed(sock, (type, msg) => {
        bytes += 5 + msg.length;
        if (type === 'M') [doc, st] = A.receiveSyncMessage(doc, st, msg);
        if (phase === 'inc' && doc[rid(0)] && doc[rid(0)].note === '已上门探访') {
          res.inc_ms = (now() - t0) * 1000; phase = 'inc-drain';
        }
        if (type === 'P') {
          const mine = next();
          if (!mine) { // both idle: quiescent
            if (phase === 'cold') {
              res.cold_s = now() - t0; res.cold_bytes = bytes; res.records = Object.keys(doc).length;
              phase = 'edit'; child.send('edit');
            } else if (phase === 'inc-drain') {
              res.inc_bytes = bytes; phase = 'done'; send('R', null);
            }
            return;
          }
          bytes += send('M', mine);
          return;
        }
        talk();
      });
    } else if (m.edited) {
      phase = 'inc'; bytes = 0; t0 = now(); talk();
    } else if (m.rss !== undefined) {
      res.serve_rss = m.rss;
      child.kill(); sock.destroy();
      out(Object.assign({ system: 'automerge', n }, res));
    }
  });
}

// ---------------------------------------------------------------- PouchDB
function pouch() { return require('pouchdb-node'); }

async function pdWrites(n, durable) {
  const P = pouch();
  const dir = tmp('pd');
  let db = new P(path.join(dir, 'one'));
  let t0 = now();
  for (let i = 0; i < durable; i++) await db.put(Object.assign({ _id: rid(i) }, resident(i)));
  const dur = durable / (now() - t0);
  await db.close();
  db = new P(path.join(dir, 'bulk'));
  t0 = now();
  for (let i = 0; i < n;) {
    const docs = [];
    for (let k = 0; k < 1000 && i < n; k++, i++) docs.push(Object.assign({ _id: rid(i) }, resident(i)));
    await db.bulkDocs(docs);
  }
  const bulk = n / (now() - t0);
  await db.close();
  const size = dirSize(path.join(dir, 'bulk'));
  fs.rmSync(dir, { recursive: true, force: true });
  out({ system: 'pouchdb', adapter: 'leveldb', durable_per_s: dur, bulk_per_s: bulk, bytes_per_record: size / n });
}

function dirSize(d) {
  let s = 0;
  for (const f of fs.readdirSync(d)) s += fs.statSync(path.join(d, f)).size;
  return s;
}

// PouchDB merges whole documents (a revision tree per document, one
// winning revision), not fields: each side's edits of a record become
// revisions, received by replication.
async function pdMerge(nrec, nedits) {
  const P = pouch();
  const dir = tmp('pdm');
  const base = new P(path.join(dir, 'base'));
  for (let i = 0; i < nrec;) {
    const docs = [];
    for (let k = 0; k < 1000 && i < nrec; k++, i++) { const r = { _id: rid(i) }; for (const f of FIELDS) r[f] = '初始值' + f + i; docs.push(r); }
    await base.bulkDocs(docs);
  }
  const a = new P(path.join(dir, 'a')), b = new P(path.join(dir, 'b')), t = new P(path.join(dir, 't'));
  await P.replicate(base, a); await P.replicate(base, b); await P.replicate(base, t);
  let pa = new Map(), pb = new Map(), k = 0;
  const flush = async () => {
    for (const [db, pend] of [[a, pa], [b, pb]]) {
      const got = await db.allDocs({ keys: [...pend.keys()], include_docs: true });
      await db.bulkDocs(got.rows.map((r) => Object.assign(r.doc, pend.get(r.id))));
    }
    pa = new Map(); pb = new Map();
  };
  for (const [ea, eb] of edits(nrec, nedits)) {
    const put = (m, [r, f, v]) => { const o = m.get(rid(r)) || {}; o[f] = v; m.set(rid(r), o); };
    put(pa, ea); put(pb, eb);
    if (++k % 100 === 0) await flush();
  }
  if (pa.size) await flush();
  const t0 = now();
  await P.replicate(a, t); await P.replicate(b, t);
  const secs = now() - t0;
  await Promise.all([base.close(), a.close(), b.close(), t.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
  out({ system: 'pouchdb', edits: nedits, seconds: secs, edits_per_s: nedits / secs, note: 'edits batched into document revisions (100 edits per bulkDocs)' });
}

async function pdSync(n) {
  const P = pouch();
  const dir = tmp('pds');
  const a = new P(path.join(dir, 'a')), b = new P(path.join(dir, 'b'));
  for (let i = 0; i < n;) {
    const docs = [];
    for (let k = 0; k < 1000 && i < n; k++, i++) docs.push(Object.assign({ _id: rid(i) }, resident(i)));
    await a.bulkDocs(docs);
  }
  let t0 = now();
  await P.replicate(a, b);
  const cold = now() - t0;
  const rep = P.replicate(a, b, { live: true });
  await new Promise((r) => setTimeout(r, 500));
  const lat = [];
  for (let i = 0; i < 5; i++) {
    const d = await a.get(rid(i));
    d.note = '已上门探访' + i;
    t0 = now();
    const w = await a.put(d);
    for (;;) {
      const got = await b.get(rid(i));
      if (got._rev === w.rev) break;
      await new Promise((r) => setTimeout(r, 1));
    }
    lat.push((now() - t0) * 1000);
  }
  rep.cancel();
  lat.sort((x, y) => x - y);
  const rss = process.resourceUsage().maxRSS * 1024;
  await Promise.all([a.close(), b.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
  out({ system: 'pouchdb', n, cold_s: cold, inc_ms: lat[2], rss_two_dbs: rss, note: 'replication between two LevelDB databases in one process: no wire' });
}

// ---------------------------------------------------------------- main
async function main() {
  const [sys, cmd, x, y] = process.argv.slice(2);
  const nx = Number(x), ny = Number(y);
  if (sys === 'automerge' && cmd === 'writes') return amWrites(nx, ny);
  if (sys === 'automerge' && cmd === 'merge') return amMerge(nx, ny);
  if (sys === 'automerge' && cmd === 'sync') return amSync(nx);
  if (sys === 'automerge' && cmd === 'serve') return amServe(nx);
  if (sys === 'pouchdb' && cmd === 'writes') return pdWrites(nx, ny);
  if (sys === 'pouchdb' && cmd === 'merge') return pdMerge(nx, ny);
  if (sys === 'pouchdb' && cmd === 'sync') return pdSync(nx);
  process.stderr.write('usage: peers.js automerge|pouchdb writes|merge|sync ...\n');
  process.exit(2);
}
main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
