/*
 * Reading a record value of store format 6 directly (tests that look at
 * the raw tables): a squeezed record is 0x95 5 1, then the zstd frame of
 * its version-4 bytes without the frame's magic, made with the store's
 * dictionary 1 (meta "zdict:1"; storage/store.c, "record dictionaries").
 * Written from that description, not from store.c's code, so that a
 * change of the format fails these tests. Static inline, no Criterion:
 * the caller asserts.
 */
#ifndef GS_TEST_SQUEEZE_UTIL_H
#define GS_TEST_SQUEEZE_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>

static inline bool t_squeezed(const void *v, size_t n)
{
  const uint8_t *b = v;
  return n >= 3 && b[0] == 0x95 && b[1] == 5;
}

/* Value v (n bytes) as its version-4 bytes: a squeezed one decompressed
 * into out (cap bytes) by dict (dn bytes), *outn its length; another
 * copied as it is. false when it does not decompress. */
static inline bool t_unsqueeze(const void *dict, size_t dn, const void *v,
                               size_t n, uint8_t *out, size_t cap,
                               size_t *outn)
{
  const uint8_t *b = v;
  if (!t_squeezed(v, n)) {
    if (n > cap)
      return false;
    memcpy(out, v, n);
    *outn = n;
    return true;
  }
  if (b[2] != 1 || !dict || n + 1 > 1 << 17)
    return false;
  static uint8_t frame[1 << 17];
  static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  memcpy(frame, magic, 4);
  memcpy(frame + 4, b + 3, n - 3);
  ZSTD_DCtx *d = ZSTD_createDCtx();
  if (!d)
    return false;
  size_t got =
      ZSTD_decompress_usingDict(d, out, cap, frame, n + 1, dict, dn);
  ZSTD_freeDCtx(d);
  if (ZSTD_isError(got) || got < 2 || out[0] != 0x95 || out[1] != 4)
    return false;
  *outn = got;
  return true;
}

#endif
