/* libFuzzer target: reading Noise handshake messages as the responder of
 * Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b (protocol 3). Input: a 2-byte
 * big-endian length, message 1 of that length, then message 3. A message
 * 1 that fails is read again as XXpsk3 (protocols 1 and 2), as
 * net/peer.c does to tell an old node to upgrade, and answered. Keys are
 * fixed so seeds from tests/fuzz/make_seeds complete the handshake. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATTERN "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b"
#define LEGACY "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"

/* The legacy path: message 1 of XXpsk3 read, message 2 written. */
static void legacy(const uint8_t *m1, size_t l1, const uint8_t rs[32])
{
  static uint8_t pl[65535], m2[65535];
  net_noise_hs *hs;
  size_t n;
  if (net_noise_hs_new(&hs, LEGACY, false, (const uint8_t *)"gridsync/1", 10,
                       rs, NULL, rs) != GS_OK)
    abort();
  if (net_noise_hs_read(hs, m1, l1, pl, sizeof pl, &n) == GS_OK) {
    if (n > l1 ||
        net_noise_hs_write(hs, (const uint8_t *)"v3", 2, m2, sizeof m2, &n) !=
            GS_OK)
      abort();
  } else if (net_noise_hs_remote_static(hs)) {
    abort(); /* message 1 carries no static key */
  }
  net_noise_hs_free(hs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const uint8_t rs[32] = {2}, re[32] = {4}, psk[32] = {9};
  static uint8_t pl[65535], m2[65535];
  net_noise_hs *hs;
  size_t n;
  if (size < 2)
    return 0;
  size_t l1 = (size_t)data[0] << 8 | data[1];
  if (l1 > size - 2)
    return 0;
  if (net_noise_hs_new(&hs, PATTERN, false, (const uint8_t *)"gridsync/1", 10,
                       rs, NULL, psk) != GS_OK)
    abort();
  net_noise_hs_set_ephemeral(hs, re);
  if (net_noise_hs_read(hs, data + 2, l1, pl, sizeof pl, &n) == GS_OK) {
    if (n > l1)
      abort();
    if (net_noise_hs_write(hs, (const uint8_t *)"r", 1, m2, sizeof m2, &n) !=
        GS_OK)
      abort();
    const uint8_t *m3 = data + 2 + l1;
    size_t l3 = size - 2 - l1;
    if (net_noise_hs_read(hs, m3, l3, pl, sizeof pl, &n) == GS_OK) {
      if (!net_noise_hs_done(hs) || !net_noise_hs_remote_static(hs))
        abort();
      net_noise_cs *tx, *rx;
      if (net_noise_hs_split(hs, &tx, &rx) != GS_OK)
        abort();
      net_noise_cs_free(tx);
      net_noise_cs_free(rx);
    }
  } else {
    if (net_noise_hs_remote_static(hs))
      abort();
    legacy(data + 2, l1, rs);
  }
  net_noise_hs_free(hs);
  return 0;
}
