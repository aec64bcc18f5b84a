/* libFuzzer target: reading Noise handshake messages as the responder of
 * Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b. Input: a 2-byte big-endian
 * length, message 1 of that length, then message 3. Keys are fixed so
 * seeds from tests/fuzz/make_seeds complete the handshake. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATTERN "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"

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
  }
  net_noise_hs_free(hs);
  return 0;
}
