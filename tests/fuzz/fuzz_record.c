/* libFuzzer target: the record-state decoders (crdt_record_decode for
 * versions 1 and 2, crdt_record_decode_key for any version, version 3
 * given a fixed identity). What decodes must encode back to the same
 * bytes (canonical form, in the version it claims) and merge with itself
 * to the same state (idempotence). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fid[CRDT_ID_LEN] = {1, 2, 3};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  crdt_record *r = NULL, *r2 = NULL;
  uint8_t *enc = NULL, *enc2 = NULL;
  size_t n, n2;
  unsigned ver = crdt_record_version(data, size);
  gs_err err = ver == 3 ? crdt_record_decode_key(data, size, "s", 1,
                                                 "resident", 8, fid, &r)
                        : crdt_record_decode(data, size, &r);
  if (err != GS_OK) {
    if (r)
      abort();
    return 0;
  }
  /* canonical in the version it claims */
  err = ver == 1   ? crdt_record_encode_v1(r, &enc, &n)
        : ver == 2 ? crdt_record_encode_v2(r, &enc, &n)
                   : crdt_record_encode(r, &enc, &n);
  if (err != GS_OK)
    abort();
  if (n != size || memcmp(enc, data, n) != 0)
    abort(); /* not canonical, yet accepted */
  if (ver != 3) { /* and it reads as version 3 */
    free(enc);
    if (crdt_record_encode(r, &enc, &n) != GS_OK)
      abort();
  }
  const char *sc, *co;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &sc, &sn, &co, &cn, id);
  if (crdt_record_decode_key(enc, n, sc, sn, co, cn, id, &r2) != GS_OK)
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
