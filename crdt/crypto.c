/* The hashing and signing that changes need, on libsodium. */
#include "crdt/crdt.h"

#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static_assert(sizeof(crypto_generichash_state) <= sizeof(crdt_hasher),
              "crdt_hasher too small for libsodium's state");

gs_err crdt_crypto_init(void)
{
  return sodium_init() < 0 ? GS_ECRYPTO : GS_OK;
}

void crdt_random(void *buf, size_t n)
{
  randombytes_buf(buf, n);
}

gs_err crdt_grow(void **arr, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return GS_OK;
  size_t nc = *cap ? *cap : 4;
  while (nc < need) {
    if (nc > SIZE_MAX / 2)
      return GS_ENOMEM;
    nc *= 2;
  }
  if (size && nc > SIZE_MAX / size)
    return GS_ENOMEM;
  void *p = realloc(*arr, nc * size);
  if (!p)
    return GS_ENOMEM;
  *arr = p;
  *cap = nc;
  return GS_OK;
}

void crdt_hash(const void *data, size_t n, uint8_t out[CRDT_HASH_LEN])
{
  crypto_generichash(out, CRDT_HASH_LEN, data, n, NULL, 0);
}

void crdt_hasher_init(crdt_hasher *h)
{
  crypto_generichash_init((crypto_generichash_state *)h->opaque, NULL, 0,
                          CRDT_HASH_LEN);
}

void crdt_hasher_update(crdt_hasher *h, const void *data, size_t n)
{
  crypto_generichash_update((crypto_generichash_state *)h->opaque, data, n);
}

void crdt_hasher_final(crdt_hasher *h, uint8_t out[CRDT_HASH_LEN])
{
  crypto_generichash_final((crypto_generichash_state *)h->opaque, out,
                           CRDT_HASH_LEN);
}

void crdt_keypair(uint8_t pk[CRDT_KEY_LEN], uint8_t sk[CRDT_SK_LEN])
{
  crypto_sign_keypair(pk, sk);
}

void crdt_keypair_seed(const uint8_t seed[32], uint8_t pk[CRDT_KEY_LEN],
                       uint8_t sk[CRDT_SK_LEN])
{
  crypto_sign_seed_keypair(pk, sk, seed);
}

void crdt_sk_to_pk(const uint8_t sk[CRDT_SK_LEN], uint8_t pk[CRDT_KEY_LEN])
{
  crypto_sign_ed25519_sk_to_pk(pk, sk);
}

void crdt_sign(const uint8_t sk[CRDT_SK_LEN], const void *msg, size_t n,
               uint8_t sig[CRDT_SIG_LEN])
{
  crypto_sign_detached(sig, NULL, msg, n, sk);
}

bool crdt_verify(const uint8_t pk[CRDT_KEY_LEN], const void *msg, size_t n,
                 const uint8_t sig[CRDT_SIG_LEN])
{
  return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}

void crdt_wipe(void *p, size_t n)
{
  sodium_memzero(p, n);
}

void crdt_seal(const uint8_t key[CRDT_SEAL_KEY_LEN], const void *ad,
               size_t adn, const void *msg, size_t n, uint8_t *out)
{
  static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                        crypto_aead_xchacha20poly1305_ietf_ABYTES ==
                    CRDT_SEAL_OVERHEAD,
                "seal overhead");
  static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES ==
                    CRDT_SEAL_KEY_LEN,
                "seal key");
  randombytes_buf(out, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, msg, n, ad,
      adn, NULL, out, key);
}

void crdt_seal_nonce(const uint8_t key[CRDT_SEAL_KEY_LEN],
                     const uint8_t nonce[24], const void *ad, size_t adn,
                     const void *msg, size_t n, uint8_t *out)
{
  memcpy(out, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, msg, n, ad,
      adn, NULL, out, key);
}

gs_err crdt_seal_open(const uint8_t key[CRDT_SEAL_KEY_LEN], const void *ad,
                      size_t adn, const uint8_t *in, size_t n, uint8_t *out)
{
  const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (n < CRDT_SEAL_OVERHEAD)
    return GS_ESEAL;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + nb,
                                                 n - nb, ad, adn, in,
                                                 key) != 0) {
    sodium_memzero(out, n - CRDT_SEAL_OVERHEAD);
    return GS_ESEAL;
  }
  return GS_OK;
}

gs_err crdt_pwhash(uint8_t out[CRDT_SEAL_KEY_LEN], const char *pass,
                   size_t passn, const uint8_t salt[CRDT_SALT_LEN],
                   uint64_t ops, uint64_t mem)
{
  static_assert(crypto_pwhash_SALTBYTES == CRDT_SALT_LEN, "salt");
  if (ops < CRDT_PWHASH_OPS_MIN || ops > CRDT_PWHASH_OPS_MAX ||
      mem < CRDT_PWHASH_MEM_MIN || mem > CRDT_PWHASH_MEM_MAX ||
      mem > SIZE_MAX)
    return GS_EINVAL;
  if (crypto_pwhash(out, CRDT_SEAL_KEY_LEN, pass, passn, salt,
                    (unsigned long long)ops, (size_t)mem,
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    return GS_ENOMEM; /* libsodium fails only when memory is short */
  return GS_OK;
}

void *crdt_secret_alloc(size_t n)
{
  return sodium_malloc(n); /* guarded; sodium_malloc mlocks when it can */
}

void crdt_secret_free(void *p)
{
  sodium_free(p); /* wipes, unlocks; NULL is a no-op */
}

void crdt_hash_keyed(const uint8_t key[CRDT_SEAL_KEY_LEN], const char *ctx,
                     const void *data, size_t n, uint8_t *out, size_t outn)
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, key, CRDT_SEAL_KEY_LEN, outn);
  crypto_generichash_update(&st, (const unsigned char *)ctx, strlen(ctx) + 1);
  crypto_generichash_update(&st, data, n);
  crypto_generichash_final(&st, out, outn);
  sodium_memzero(&st, sizeof st);
}

/* ---- the sealer (crdt.h): XChaCha20-Poly1305-IETF as RFC 8439 section
 * 2.8 and draft-irtf-cfrg-xchacha section 2.3 build it: subkey =
 * HChaCha20(key, nonce[0..16]); ChaCha20-IETF under the subkey with nonce
 * 0(4) | nonce[16..24]: block 0's first 32 bytes are the Poly1305 key,
 * blocks 1.. the key stream; the tag is Poly1305 of ad | pad16 | ct |
 * pad16 | le64(adn) | le64(n). Test: tests/unit/crdt/test_sealer.c checks
 * it against libsodium's AEAD both ways. */

#define SEALER_RUN 256 /* libsodium's ChaCha20 runs of 4 blocks */
#define SEALER_KS (CRDT_SEALER_FAST + 64)
/* The bytes Poly1305 takes, laid out in one buffer when the ad is at most
 * SEALER_AD (one call costs a fifth less than five) */
#define SEALER_AD 1024
#define SEALER_MAC (SEALER_AD + 16 + CRDT_SEALER_FAST + 16 + 16)

typedef struct sealer_sub {
  uint8_t prefix[16];
  uint8_t sub[32];
  bool used;
} sealer_sub;

struct crdt_sealer {
  uint8_t key[CRDT_SEAL_KEY_LEN];
  uint8_t nonce[24]; /* prefix | counter of the last value sealed */
  uint64_t count;
  sealer_sub mine; /* the subkey of this sealer's prefix */
  sealer_sub cache[CRDT_SEALER_CACHE]; /* by the prefix's first byte */
  uint8_t ks[SEALER_KS]; /* block 0 then the key stream of one value */
  uint8_t mac[SEALER_MAC]; /* ad | pad | ct | pad | lengths (public) */
};
static_assert(SEALER_KS % SEALER_RUN == 0, "whole runs");

gs_err crdt_sealer_new(const uint8_t key[CRDT_SEAL_KEY_LEN],
                       crdt_sealer **out)
{
  crdt_sealer *s = sodium_malloc(sizeof *s);
  *out = NULL;
  if (!s)
    return GS_ENOMEM;
  memset(s, 0, sizeof *s);
  memcpy(s->key, key, CRDT_SEAL_KEY_LEN);
  randombytes_buf(s->nonce, 16);
  memcpy(s->mine.prefix, s->nonce, 16);
  crypto_core_hchacha20(s->mine.sub, s->nonce, s->key, NULL);
  s->mine.used = true;
  *out = s;
  return GS_OK;
}

void crdt_sealer_free(crdt_sealer *s)
{
  sodium_free(s); /* wipes all of it */
}

static void le64_put(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++, v >>= 8)
    p[i] = (uint8_t)v;
}

/* out = a ^ b (n bytes), eight at a time (a byte loop is not vectorised
 * at -O2, the default build's: a fifth of a record's seal) */
static void xor_bytes(uint8_t *out, const uint8_t *a, const uint8_t *b,
                      size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    x ^= y;
    memcpy(out + i, &x, 8);
  }
  for (; i < n; i++)
    out[i] = a[i] ^ b[i];
}

/* The tag of ct (n <= CRDT_SEALER_FAST) under Poly1305 key pk. */
static void sealer_tag(crdt_sealer *s, const uint8_t pk[32], const void *ad,
                       size_t adn, const uint8_t *ct, size_t n,
                       uint8_t tag[16])
{
  static const uint8_t zero[16];
  uint8_t lens[16];
  if (adn <= SEALER_AD) {
    uint8_t *p = s->mac;
    size_t ap = (0x10 - adn) & 0xf, cp = (0x10 - n) & 0xf;
    memcpy(p, ad, adn);
    memset(p + adn, 0, ap);
    p += adn + ap;
    memcpy(p, ct, n);
    memset(p + n, 0, cp);
    p += n + cp;
    le64_put(p, adn);
    le64_put(p + 8, n);
    p += 16;
    crypto_onetimeauth_poly1305(tag, s->mac, (size_t)(p - s->mac), pk);
    return;
  }
  crypto_onetimeauth_poly1305_state st;
  crypto_onetimeauth_poly1305_init(&st, pk);
  crypto_onetimeauth_poly1305_update(&st, ad, adn);
  crypto_onetimeauth_poly1305_update(&st, zero, (0x10 - adn) & 0xf);
  crypto_onetimeauth_poly1305_update(&st, ct, n);
  crypto_onetimeauth_poly1305_update(&st, zero, (0x10 - n) & 0xf);
  le64_put(lens, adn);
  le64_put(lens + 8, n);
  crypto_onetimeauth_poly1305_update(&st, lens, sizeof lens);
  crypto_onetimeauth_poly1305_final(&st, tag);
  sodium_memzero(&st, sizeof st);
}

/* Block 0 and the key stream of n bytes under sub and nonce[16..24]
 * into s->ks, in whole runs; the length made (to wipe). n <=
 * CRDT_SEALER_FAST. */
static size_t sealer_stream(crdt_sealer *s, const uint8_t sub[32],
                            const uint8_t *nonce, size_t n)
{
  uint8_t n12[12] = {0};
  memcpy(n12 + 4, nonce + 16, 8);
  size_t len = (64 + n + SEALER_RUN - 1) / SEALER_RUN * SEALER_RUN;
  crypto_stream_chacha20_ietf(s->ks, len, n12, sub);
  return len;
}

gs_err crdt_sealer_seal(crdt_sealer *s, const void *ad, size_t adn,
                        const void *msg, size_t n, uint8_t *out)
{
  if (s->count == UINT64_MAX)
    return GS_ECRYPTO;
  s->count++;
  for (int i = 0; i < 8; i++)
    s->nonce[16 + i] = (uint8_t)(s->count >> (56 - 8 * i));
  memcpy(out, s->nonce, 24);
  uint8_t *ct = out + 24;
  if (n > CRDT_SEALER_FAST) { /* libsodium's own, under the subkey */
    uint8_t n12[12] = {0};
    memcpy(n12 + 4, s->nonce + 16, 8);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        ct, ct + n, NULL, msg, n, ad, adn, NULL, n12, s->mine.sub);
    return GS_OK;
  }
  size_t len = sealer_stream(s, s->mine.sub, s->nonce, n);
  xor_bytes(ct, msg, s->ks + 64, n);
  sealer_tag(s, s->ks, ad, adn, ct, n, ct + n);
  sodium_memzero(s->ks, len);
  return GS_OK;
}

/* The subkey of a nonce's prefix: this sealer's, the cached one of its
 * slot (prefixes are random: their first byte spreads them), or worked
 * out (and cached there). */
static const uint8_t *sealer_sub_of(crdt_sealer *s, const uint8_t *nonce)
{
  if (memcmp(nonce, s->mine.prefix, 16) == 0)
    return s->mine.sub;
  sealer_sub *c = &s->cache[nonce[0] % CRDT_SEALER_CACHE];
  if (c->used && memcmp(nonce, c->prefix, 16) == 0)
    return c->sub;
  memcpy(c->prefix, nonce, 16);
  crypto_core_hchacha20(c->sub, nonce, s->key, NULL);
  c->used = true;
  return c->sub;
}

gs_err crdt_sealer_open(crdt_sealer *s, const void *ad, size_t adn,
                        const uint8_t *in, size_t n, uint8_t *out)
{
  if (n < CRDT_SEAL_OVERHEAD)
    return GS_ESEAL;
  size_t pn = n - CRDT_SEAL_OVERHEAD;
  const uint8_t *ct = in + 24, *sub = sealer_sub_of(s, in);
  if (pn > CRDT_SEALER_FAST) {
    uint8_t n12[12] = {0};
    memcpy(n12 + 4, in + 16, 8);
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            out, NULL, ct, pn, ct + pn, ad, adn, n12, sub) != 0) {
      sodium_memzero(out, pn);
      return GS_ESEAL;
    }
    return GS_OK;
  }
  uint8_t tag[16];
  size_t len = sealer_stream(s, sub, in, pn);
  sealer_tag(s, s->ks, ad, adn, ct, pn, tag);
  if (crypto_verify_16(tag, ct + pn) != 0) {
    sodium_memzero(s->ks, len);
    return GS_ESEAL; /* out untouched */
  }
  xor_bytes(out, ct, s->ks + 64, pn);
  sodium_memzero(s->ks, len);
  return GS_OK;
}
