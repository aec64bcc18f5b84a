/* libFuzzer target: the frame reader of net/peer.c and transport
 * decryption. The input is a byte stream from a peer after the handshake:
 * frames are cut from it as the peer does and each is decrypted with a
 * fixed key; a frame that fails ends the stream, as it closes a
 * connection. Frames must never point outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"
#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[32] = {0x67, 0x72, 0x69, 0x64}; /* "grid" */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static uint8_t out[65535];
  net_noise_cs *rx;
  if (net__noise_cs_from_key(key, &rx) != GS_OK)
    abort();
  size_t off = 0;
  for (;;) {
    const uint8_t *f;
    size_t flen, used, n;
    int r = net__frame_next(data + off, size - off, 16, &f, &flen, &used);
    if (r <= 0)
      break;
    if (f < data || f + flen > data + size || used != flen + 4 ||
        flen < 16 || flen > 65535)
      abort();
    if (net_noise_cs_decrypt(rx, f, flen, out, sizeof out, &n) != GS_OK)
      break;
    if (n != flen - 16)
      abort();
    off += used;
  }
  net_noise_cs_free(rx);
  return 0;
}
