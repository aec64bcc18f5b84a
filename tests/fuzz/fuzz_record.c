/* libFuzzer target: the record-state decoder (crdt_record_decode). What
 * decodes must encode back to the same bytes (canonical form, in the
 * version it claims) and merge with itself to the same state
 * (idempotence). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  crdt_record *r = NULL, *r2 = NULL;
  uint8_t *enc = NULL, *enc2 = NULL;
  size_t n, n2;
  if (crdt_record_decode(data, size, &r) != GS_OK) {
    if (r)
      abort();
    return 0;
  }
  /* canonical in the version it claims (1: stores of format 1) */
  gs_err err = crdt_record_version(data, size) == 1
                   ? crdt_record_encode_v1(r, &enc, &n)
                   : crdt_record_encode(r, &enc, &n);
  if (err != GS_OK)
    abort();
  if (n != size || memcmp(enc, data, n) != 0)
    abort(); /* not canonical, yet accepted */
  if (crdt_record_version(data, size) == 1) { /* and it reads as version 2 */
    free(enc);
    if (crdt_record_encode(r, &enc, &n) != GS_OK)
      abort();
  }
  if (crdt_record_decode(enc, n, &r2) != GS_OK)
    abort();
  if (crdt_record_merge(r2, r) != GS_OK)
    abort();
  if (crdt_record_encode(r2, &enc2, &n2) != GS_OK)
    abort();
  if (n2 != n || memcmp(enc2, enc, n) != 0)
    abort(); /* merge(r, r) != r */
  free(enc);
  free(enc2);
  crdt_record_free(r);
  crdt_record_free(r2);
  return 0;
}
