/* Strict msgpack decoding for other modules (net messages): the checks
 * the change decoder uses, exported. */
#include "crdt/crdt_internal.h"

gs_err crdt_mp_unpack(const uint8_t *buf, size_t n, unsigned max_depth,
                      struct msgpack_unpacked *u)
{
  return crdt__mp_unpack(buf, n, max_depth, u);
}

gs_err crdt_mp_uint(const struct msgpack_object *o, uint64_t *out)
{
  return crdt__obj_uint(o, out);
}

gs_err crdt_mp_bin(const struct msgpack_object *o, size_t len, uint8_t *out)
{
  return crdt__obj_bin(o, len, out);
}
