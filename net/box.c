/* A secret sealed to one node's key: see box.h. */
#include <sodium.h>
#include <string.h>

#include "net/box.h"

gs_err net_box_seal(const uint8_t ed_pk[32], const uint8_t *m, size_t n,
                    uint8_t *out)
{
  uint8_t x_pk[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0 ||
      crypto_box_seal(out, m, n, x_pk) != 0)
    return GS_ECRYPTO;
  return GS_OK;
}

gs_err net_box_open(const uint8_t ed_sk[64], const uint8_t *in, size_t n,
                    uint8_t *out)
{
  uint8_t x_pk[crypto_box_PUBLICKEYBYTES], x_sk[crypto_box_SECRETKEYBYTES];
  gs_err err = GS_OK;
  if (n < crypto_box_SEALBYTES)
    return GS_ETRUNC;
  /* the public half of an Ed25519 secret key is its last 32 bytes */
  if (crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) != 0 ||
      crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_sk + 32) != 0 ||
      crypto_box_seal_open(out, in, n, x_pk, x_sk) != 0)
    err = GS_ECRYPTO;
  sodium_memzero(x_sk, sizeof x_sk);
  return err;
}

gs_err net_pwhash(const char *pw, char out[NET_PWHASH_MAX])
{
  _Static_assert(crypto_pwhash_STRBYTES <= NET_PWHASH_MAX, "hash size");
  if (sodium_init() < 0 ||
      crypto_pwhash_str_alg(out, pw, strlen(pw),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return GS_ENOMEM;
  return GS_OK;
}

bool net_pwhash_ok(const char *hash, const char *pw)
{
  /* crypto_pwhash_str_verify reads up to crypto_pwhash_STRBYTES */
  char h[crypto_pwhash_STRBYTES] = {0};
  size_t n = strlen(hash);
  if (n == 0 || n >= sizeof h || sodium_init() < 0)
    return false;
  memcpy(h, hash, n);
  return crypto_pwhash_str_verify(h, pw, strlen(pw)) == 0;
}
