/* Internals shared by the crdt module; not part of the public API. */
#ifndef GS_CRDT_INTERNAL_H
#define GS_CRDT_INTERNAL_H

#include <msgpack.h>

#include "crdt/crdt.h"

/* Structural pre-check of untrusted msgpack before msgpack-c sees it:
 * exactly one object spans buf (GS_ETRUNC / GS_ETRAILING otherwise), no
 * container declares more elements than bytes remain, nesting is at most
 * max_depth, no reserved byte (0xc1). msgpack-c allocates its object tree
 * from the declared counts, so after this check that allocation is bounded
 * by a small multiple of n (CONVENTIONS rule 10). */
gs_err crdt__mp_guard(const uint8_t *buf, size_t n, unsigned max_depth);
/* As crdt__mp_guard for the one element at the start of buf, which may be
 * followed by more bytes: *used gets its length. */
gs_err crdt__mp_span(const uint8_t *buf, size_t n, unsigned max_depth,
                     size_t *used);

/* Guard, then unpack the one object in buf into *u (initialised here;
 * the caller destroys it). Strings and bins point into buf. */
gs_err crdt__mp_unpack(const uint8_t *buf, size_t n, unsigned max_depth,
                       msgpack_unpacked *u);

/* Value <-> msgpack. Decoding checks everything crdt_value_check does;
 * pointers borrow from the object (hence the unpacked buffer). */
gs_err crdt__value_from_obj(const msgpack_object *o, crdt_value *out);
int crdt__value_pack(msgpack_packer *pk, const crdt_value *v);

/* Small typed readers; GS_EDECODE on a type or size mismatch. */
gs_err crdt__obj_uint(const msgpack_object *o, uint64_t *out);
gs_err crdt__obj_bin(const msgpack_object *o, size_t len, uint8_t *out);
gs_err crdt__obj_name(const msgpack_object *o, const char **p, size_t *n);
gs_err crdt__obj_stamp(const msgpack_object *o, crdt_stamp *out);
int crdt__stamp_pack(msgpack_packer *pk, const crdt_stamp *st);

/* true when [p, p+n) lies within [base, base+len). */
static inline bool crdt__within(const void *p, size_t n, const void *base,
                                size_t len)
{
  const uint8_t *a = p, *b = base;
  if (n == 0)
    return true; /* an empty view reads nothing (its pointer may be "") */
  return a >= b && n <= len && (size_t)(a - b) <= len - n;
}

/* Hand the sbuffer's bytes to the caller (who frees them). */
static inline void crdt__sb_take(msgpack_sbuffer *sb, uint8_t **out,
                                 size_t *n)
{
  *n = sb->size;
  *out = (uint8_t *)msgpack_sbuffer_release(sb);
}

#endif
