/* Sealed files under the network key (see seal.h). */
#include <sodium.h>
#include <string.h>

#include "net/seal.h"

static void bundle_key(const uint8_t netkey[32], uint8_t k[32])
{
  static const char ctx[] = "gridsync-bundle-v1";
  crypto_generichash(k, 32, (const uint8_t *)ctx, sizeof ctx - 1, netkey, 32);
}

gs_err net_seal(const uint8_t netkey[32], const uint8_t *ad, size_t adlen,
                const uint8_t *pt, size_t n, uint8_t *out)
{
  uint8_t k[32];
  unsigned long long cl;
  bundle_key(netkey, k);
  randombytes_buf(out, NET_SEAL_NONCE);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + NET_SEAL_NONCE, &cl, pt, n,
                                             ad, adlen, NULL, out, k);
  sodium_memzero(k, sizeof k);
  return GS_OK;
}

gs_err net_unseal(const uint8_t netkey[32], const uint8_t *ad, size_t adlen,
                  const uint8_t *in, size_t n, uint8_t *pt)
{
  uint8_t k[32];
  unsigned long long pl;
  if (n < NET_SEAL_NONCE + NET_SEAL_TAG)
    return GS_ETRUNC;
  bundle_key(netkey, k);
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      pt, &pl, NULL, in + NET_SEAL_NONCE, n - NET_SEAL_NONCE, ad, adlen, in,
      k);
  sodium_memzero(k, sizeof k);
  return rc == 0 ? GS_OK : GS_ECRYPTO;
}
