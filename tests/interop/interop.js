// gridsync's handshake (Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b, protocol 4)
// against an independent implementation: the npm package noise-handshake
// (pinned in package-lock.json), driven over loopback TCP against a real
// net_peer connection (tests/interop/interop_peer.c).
//
//   node interop.js PATH_TO_interop_peer
//
// Wire: each frame is a 4-byte big-endian length and one Noise message;
// the prologue is "gridsync/1", the PSK the network key; the payloads of
// messages 2 and 3 are msgpack [4, bin 32 Ed25519 node key], whose X25519
// form is the Noise static key; the responder confirms with an empty
// transport message; then one transport message each way.
//
// Cases: JS initiator / C responder and C initiator / JS responder
// complete and exchange a message each way; a JS initiator with the wrong
// PSK gets not one byte back (so no static key), and a JS responder with
// the wrong PSK cannot read message 1 (which holds no static key). Ends
// with the line "N passed, N failed"; exit 1 if any failed.
'use strict'

const assert = require('assert')
const net = require('net')
const { spawn } = require('child_process')
const sodium = require('sodium-universal')
const Noise = require('noise-handshake')
const Cipher = require('noise-handshake/cipher')

const EXE = process.argv[2]
const PATTERN = 'XXpsk0'
const PROLOGUE = Buffer.from('gridsync/1')
const VERSION = 4 // net/peer.h NET_PROTOCOL_VERSION
const HELLO_C = Buffer.from('hello from C')
const HELLO_JS = Buffer.from('hello from JS')

if (!EXE) {
  console.error('usage: node interop.js PATH_TO_interop_peer')
  process.exit(2)
}

// ---- keys and payloads ----

function nodeKeys () {
  const edPk = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const edSk = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_keypair(edPk, edSk)
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(publicKey, edPk)
  sodium.crypto_sign_ed25519_sk_to_curve25519(secretKey, edSk)
  return { edPk, noise: { publicKey, secretKey } }
}

function randomKey () {
  const k = Buffer.alloc(32)
  sodium.randombytes_buf(k)
  return k
}

// msgpack [VERSION, bin 32]: array of 2, positive fixint, bin 8 of 32
function identPayload (edPk) {
  return Buffer.concat([Buffer.from([0x92, VERSION, 0xc4, 0x20]), edPk])
}

// The remote's payload names VERSION and a node key whose X25519 form is
// the static key Noise authenticated; returns that node key.
function checkIdent (payload, rs) {
  assert.strictEqual(payload.length, 36, 'identity payload length')
  assert.deepStrictEqual([...payload.subarray(0, 4)], [0x92, VERSION, 0xc4, 0x20],
    'identity payload: [VERSION, bin 32]')
  const edPk = Buffer.from(payload.subarray(4))
  const x = Buffer.alloc(32)
  sodium.crypto_sign_ed25519_pk_to_curve25519(x, edPk)
  assert.ok(Buffer.from(rs).equals(x), 'node key matches the Noise static key')
  return edPk
}

// ---- frames over a socket ----

class Framed {
  constructor (sock) {
    this.sock = sock
    this.buf = Buffer.alloc(0)
    this.received = 0
    this.waiters = []
    this.ended = false
    sock.on('data', d => {
      this.received += d.length
      this.buf = Buffer.concat([this.buf, d])
      this._pump()
    })
    const end = () => { this.ended = true; this._pump() }
    sock.on('end', end)
    sock.on('close', end)
    sock.on('error', end)
  }

  _pump () {
    while (this.waiters.length) {
      if (this.buf.length >= 4) {
        const n = this.buf.readUInt32BE(0)
        if (this.buf.length >= 4 + n) {
          const f = this.buf.subarray(4, 4 + n)
          this.buf = this.buf.subarray(4 + n)
          this.waiters.shift().resolve(f)
          continue
        }
      }
      if (!this.ended) return
      this.waiters.shift().reject(new Error('connection closed'))
    }
  }

  next () {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this._pump()
    })
  }

  send (m) {
    const h = Buffer.alloc(4)
    h.writeUInt32BE(m.length, 0)
    this.sock.write(Buffer.concat([h, m]))
  }

  closed () {
    return new Promise(resolve => {
      if (this.ended) return resolve()
      this.sock.once('close', resolve)
    })
  }
}

// ---- the C side as a child process ----

function cSide (args) {
  const proc = spawn(EXE, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = []
  const waiters = []
  let rest = ''
  const exited = new Promise(resolve => proc.on('exit', code => resolve(code)))
  proc.stdout.on('data', d => {
    rest += d.toString()
    let i
    while ((i = rest.indexOf('\n')) >= 0) {
      lines.push(rest.slice(0, i))
      rest = rest.slice(i + 1)
    }
    for (const w of waiters.splice(0)) w()
  })
  proc.stdout.on('end', () => { for (const w of waiters.splice(0)) w() })
  // The first line starting with word; rejects if the process ends first.
  async function line (word) {
    for (;;) {
      const l = lines.find(x => x.split(' ')[0] === word)
      if (l !== undefined) return l.slice(word.length + 1)
      if (proc.exitCode !== null && proc.stdout.readableEnded) {
        throw new Error(`C side ended without "${word}": ${lines.join(' | ')}`)
      }
      await new Promise(resolve => waiters.push(resolve))
    }
  }
  return { proc, lines, line, exited }
}

function listen () {
  return new Promise(resolve => {
    const srv = net.createServer()
    srv.listen(0, '127.0.0.1', () => resolve(srv))
  })
}

function connect (port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s))
    s.on('error', reject)
  })
}

function withTimeout (p, ms, what) {
  let t
  return Promise.race([p, new Promise((resolve, reject) => {
    t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)
  })]).finally(() => clearTimeout(t))
}

// ---- cases ----

async function jsInitiatorCResponder () {
  const psk = randomKey()
  const c = cSide(['serve', psk.toString('hex')])
  const port = Number(await c.line('port'))
  const cKey = Buffer.from(await c.line('key'), 'hex')
  const me = nodeKeys()
  const f = new Framed(await connect(port))
  const hs = new Noise(PATTERN, true, me.noise, { psk })
  hs.initialise(PROLOGUE)
  const m1 = hs.send()
  assert.strictEqual(m1.length, 32 + 16, 'message 1: e and an empty payload')
  f.send(m1)
  const p2 = hs.recv(await f.next())
  assert.ok(checkIdent(p2, hs.rs).equals(cKey), 'the C node key')
  f.send(hs.send(identPayload(me.edPk)))
  assert.ok(hs.complete)
  const tx = new Cipher(hs.tx)
  const rx = new Cipher(hs.rx)
  assert.strictEqual(rx.decrypt(await f.next()).length, 0, 'confirmation')
  assert.ok(rx.decrypt(await f.next()).equals(HELLO_C), 'C to JS message')
  f.send(tx.encrypt(HELLO_JS))
  assert.strictEqual(await c.line('open'), me.edPk.toString('hex'),
    'C saw the JS node key')
  assert.strictEqual(await c.line('msg'), HELLO_JS.toString('hex'),
    'JS to C message')
  await f.closed()
  assert.match(await c.line('close'), /^0 /)
  assert.strictEqual(await c.exited, 0)
}

async function cInitiatorJsResponder () {
  const psk = randomKey()
  const me = nodeKeys()
  const srv = await listen()
  const accepted = new Promise(resolve => srv.once('connection', resolve))
  const c = cSide(['connect', String(srv.address().port), psk.toString('hex')])
  const cKey = Buffer.from(await c.line('key'), 'hex')
  const f = new Framed(await accepted)
  srv.close()
  const hs = new Noise(PATTERN, false, me.noise, { psk })
  hs.initialise(PROLOGUE)
  const m1 = await f.next()
  assert.strictEqual(m1.length, 32 + 16, 'message 1: e and an empty payload')
  assert.strictEqual(hs.recv(m1).length, 0, 'message 1 payload is empty')
  f.send(hs.send(identPayload(me.edPk)))
  const p3 = hs.recv(await f.next())
  assert.ok(hs.complete)
  assert.ok(checkIdent(p3, hs.rs).equals(cKey), 'the C node key')
  const tx = new Cipher(hs.tx)
  const rx = new Cipher(hs.rx)
  f.send(tx.encrypt(Buffer.alloc(0))) // the responder's confirmation
  assert.ok(rx.decrypt(await f.next()).equals(HELLO_C), 'C to JS message')
  f.send(tx.encrypt(HELLO_JS))
  assert.strictEqual(await c.line('open'), me.edPk.toString('hex'),
    'C saw the JS node key')
  assert.strictEqual(await c.line('msg'), HELLO_JS.toString('hex'),
    'JS to C message')
  await f.closed()
  assert.match(await c.line('close'), /^0 /)
  assert.strictEqual(await c.exited, 0)
}

async function wrongPskInitiatorLearnsNothing () {
  const c = cSide(['serve', randomKey().toString('hex')])
  const port = Number(await c.line('port'))
  const f = new Framed(await connect(port))
  const hs = new Noise(PATTERN, true, nodeKeys().noise, { psk: randomKey() })
  hs.initialise(PROLOGUE)
  f.send(hs.send())
  await f.closed()
  assert.strictEqual(f.received, 0,
    `the stranger received ${f.received} bytes (message 2 holds the static key)`)
  assert.strictEqual(hs.rs, null, 'no remote static key')
  const close = await c.line('close')
  assert.match(close, /network key/, close)
  assert.ok(!c.lines.some(l => l.startsWith('open')), 'C did not open')
  assert.strictEqual(await c.exited, 1)
}

async function wrongPskResponderLearnsNothing () {
  const srv = await listen()
  const accepted = new Promise(resolve => srv.once('connection', resolve))
  const c = cSide(['connect', String(srv.address().port),
    randomKey().toString('hex')])
  const f = new Framed(await accepted)
  srv.close()
  const hs = new Noise(PATTERN, false, nodeKeys().noise, { psk: randomKey() })
  hs.initialise(PROLOGUE)
  const m1 = await f.next()
  assert.strictEqual(m1.length, 32 + 16, 'message 1 holds no static key')
  assert.throws(() => hs.recv(m1), 'message 1 must not decrypt without the PSK')
  assert.strictEqual(hs.rs, null, 'no remote static key')
  f.sock.destroy()
  const close = await c.line('close')
  assert.match(close, /network key/, close)
  assert.ok(!c.lines.some(l => l.startsWith('open')), 'C did not open')
  assert.strictEqual(await c.exited, 1)
}

async function main () {
  const cases = [
    ['JS initiator, C responder: handshake and a message each way', jsInitiatorCResponder],
    ['C initiator, JS responder: handshake and a message each way', cInitiatorJsResponder],
    ['JS initiator with the wrong PSK: refused, not one byte back', wrongPskInitiatorLearnsNothing],
    ['JS responder with the wrong PSK: cannot read message 1', wrongPskResponderLearnsNothing]
  ]
  let passed = 0
  let failed = 0
  for (const [name, fn] of cases) {
    try {
      await withTimeout(fn(), 20000, name)
      console.log(`ok: ${name}`)
      passed++
    } catch (e) {
      console.log(`FAIL: ${name}: ${e && e.stack ? e.stack : e}`)
      failed++
    }
  }
  console.log(`interop: ${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

main()
