// Writes xxpsk0-noise-handshake.json: Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b
// test vectors made by the independent implementation noise-handshake
// (the pinned package of package-lock.json), in the format of the Noise
// wiki's "Test vectors" page, with the keys, prologue, PSK and payloads
// of cacophony's XXpsk3 vector (tests/vectors/). test_noise.c reproduces
// them byte for byte, offline. Run again only if the pin changes:
//
//   (cd tests/interop && npm ci && node make_vectors.js > xxpsk0-noise-handshake.json)
// (or from a directory where the lock file is installed, with the path of
// tests/vectors/noise-25519-chachapoly-blake2b.json as argument)
'use strict'

const Noise = require('noise-handshake')
const Cipher = require('noise-handshake/cipher')
const dh = require('noise-handshake/dh')
const fs = require('fs')
const path = require('path')

const src = JSON.parse(fs.readFileSync(process.argv[2] || path.join(__dirname,
  '../vectors/noise-25519-chachapoly-blake2b.json')))
const base = src.vectors.find(v =>
  v.protocol_name === 'Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b')
const hex = s => Buffer.from(s, 'hex')

function vector (payloads) {
  const psk = hex(base.init_psks[0])
  const i = new Noise('XXpsk0', true, dh.generateKeyPair(hex(base.init_static)), { psk })
  const r = new Noise('XXpsk0', false, dh.generateKeyPair(hex(base.resp_static)), { psk })
  i.initialise(hex(base.init_prologue))
  r.initialise(hex(base.resp_prologue))
  i.e = dh.generateKeyPair(hex(base.init_ephemeral))
  r.e = dh.generateKeyPair(hex(base.resp_ephemeral))
  const messages = []
  let itx, irx, rtx, rrx
  payloads.forEach((p, mi) => {
    const fromInit = mi % 2 === 0
    let ct
    if (!i.complete) {
      ct = (fromInit ? i : r).send(p)
      const got = (fromInit ? r : i).recv(ct)
      if (!Buffer.from(got).equals(p)) throw new Error('payload differs')
      if (i.complete) {
        itx = new Cipher(i.tx); irx = new Cipher(i.rx)
        rtx = new Cipher(r.tx); rrx = new Cipher(r.rx)
      }
    } else {
      ct = (fromInit ? itx : rtx).encrypt(p)
      const got = (fromInit ? rrx : irx).decrypt(ct)
      if (!Buffer.from(got).equals(p)) throw new Error('transport differs')
    }
    messages.push({ payload: p.toString('hex'), ciphertext: Buffer.from(ct).toString('hex') })
  })
  if (!Buffer.from(i.hash).equals(Buffer.from(r.hash))) throw new Error('hash')
  return {
    protocol_name: 'Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b',
    init_prologue: base.init_prologue,
    init_psks: base.init_psks,
    init_static: base.init_static,
    init_ephemeral: base.init_ephemeral,
    resp_prologue: base.resp_prologue,
    resp_psks: base.resp_psks,
    resp_static: base.resp_static,
    resp_ephemeral: base.resp_ephemeral,
    handshake_hash: Buffer.from(i.hash).toString('hex'),
    messages
  }
}

const fromBase = base.messages.map(m => hex(m.payload))
const empty = [0, 1, 2, 3, 4].map(() => Buffer.alloc(0))
console.log(JSON.stringify({
  comment: 'made by noise-handshake ' + require('noise-handshake/package.json').version +
    ' with tests/interop/make_vectors.js',
  vectors: [vector(fromBase), vector(empty)]
}, null, 1))
