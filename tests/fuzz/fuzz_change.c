/* libFuzzer target: the change decoder (crdt_change_decode). A decoded
 * change must re-verify without crashing and hash deterministically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int init;
  if (!init) {
    if (crdt_crypto_init() != GS_OK)
      abort();
    init = 1;
  }
  crdt_change *c = NULL;
  if (crdt_change_decode(data, size, &c) != GS_OK) {
    if (c)
      abort(); /* nothing allocated on error */
    return 0;
  }
  /* canonical-only decoder: the raw bytes are the input */
  if (c->raw_len != size || memcmp(c->raw, data, size) != 0)
    abort();
  uint8_t h1[CRDT_HASH_LEN], h2[CRDT_HASH_LEN];
  crdt_change_hash(c, h1);
  crdt_change_hash_raw(data, size, h2);
  if (memcmp(h1, h2, sizeof h1) != 0)
    abort();
  (void)crdt_change_verify(c);
  for (size_t i = 0; i < c->nops; i++)
    if (c->ops[i].kind <= CRDT_OP_REMOVE &&
        crdt_value_check(&c->ops[i].value) != GS_OK)
      abort(); /* the decoder let an invalid value through */
  crdt_change_free(c);
  return 0;
}
