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
