/* The hashing and signing that changes need, on libsodium. */
#include "crdt/crdt.h"

#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>

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
