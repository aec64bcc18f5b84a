/* Typed values, their canonical msgpack form, and msgpack guards. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt_internal.h"

#define REF_EXT_TYPE 1

static uint64_t be_read(const uint8_t *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}

gs_err crdt__mp_guard(const uint8_t *buf, size_t n, unsigned max_depth)
{
  size_t used;
  gs_err err = crdt__mp_span(buf, n, max_depth, &used);
  return err ? err : used == n ? GS_OK : GS_ETRAILING;
}

gs_err crdt__mp_span(const uint8_t *buf, size_t n, unsigned max_depth,
                     size_t *used)
{
  /* stack[d] = elements still to read in the container open at depth d. */
  uint64_t stack[16];
  unsigned depth = 0;
  size_t pos = 0;

  if (max_depth > 15)
    return GS_EINVAL;
  stack[0] = 1;
  while (depth > 0 || stack[0] > 0) {
    if (stack[depth] == 0) {
      depth--;
      continue;
    }
    stack[depth]--;
    if (pos >= n)
      return GS_ETRUNC;
    uint8_t b = buf[pos++];
    uint64_t skip = 0, items = 0;
    size_t hdr = 0; /* bytes of length field following b */
    bool container = false;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      /* fixints, nil, bools */
    } else if (b <= 0x8f) {
      items = 2 * (uint64_t)(b & 0x0f), container = true;
    } else if (b <= 0x9f) {
      items = b & 0x0f, container = true;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
      case 0xc4: case 0xd9: hdr = 1; break;               /* bin8, str8 */
      case 0xc5: case 0xda: hdr = 2; break;
      case 0xc6: case 0xdb: hdr = 4; break;
      case 0xc7: hdr = 1, skip = 1; break;                 /* ext: +type */
      case 0xc8: hdr = 2, skip = 1; break;
      case 0xc9: hdr = 4, skip = 1; break;
      case 0xca: skip = 4; break;
      case 0xcb: skip = 8; break;
      case 0xcc: case 0xd0: skip = 1; break;
      case 0xcd: case 0xd1: skip = 2; break;
      case 0xce: case 0xd2: skip = 4; break;
      case 0xcf: case 0xd3: skip = 8; break;
      case 0xd4: skip = 2; break;
      case 0xd5: skip = 3; break;
      case 0xd6: skip = 5; break;
      case 0xd7: skip = 9; break;
      case 0xd8: skip = 17; break;
      case 0xdc: hdr = 2, container = true; break;
      case 0xdd: hdr = 4, container = true; break;
      case 0xde: hdr = 2, container = true; break;
      case 0xdf: hdr = 4, container = true; break;
      default: return GS_EDECODE; /* 0xc1 */
      }
      if (hdr) {
        if (n - pos < hdr)
          return GS_ETRUNC;
        uint64_t len = be_read(buf + pos, hdr);
        pos += hdr;
        if (container)
          items = (b == 0xde || b == 0xdf) ? 2 * len : len;
        else
          skip += len;
      }
    }
    if (skip > n - pos)
      return GS_ETRUNC;
    pos += (size_t)skip;
    if (container && items > 0) {
      if (items > n - pos)
        return GS_ETRUNC; /* every element needs at least one byte */
      if (depth + 1 > max_depth)
        return GS_EDECODE;
      stack[++depth] = items;
    }
  }
  *used = pos;
  return GS_OK;
}

gs_err crdt__mp_unpack(const uint8_t *buf, size_t n, unsigned max_depth,
                       msgpack_unpacked *u)
{
  msgpack_unpacked_init(u);
  gs_err err = crdt__mp_guard(buf, n, max_depth);
  if (err)
    return err;
  size_t off = 0;
  switch (msgpack_unpack_next(u, (const char *)buf, n, &off)) {
  case MSGPACK_UNPACK_SUCCESS:
    return off == n ? GS_OK : GS_ETRAILING;
  case MSGPACK_UNPACK_EXTRA_BYTES:
    return GS_ETRAILING;
  case MSGPACK_UNPACK_CONTINUE:
    return GS_ETRUNC;
  case MSGPACK_UNPACK_NOMEM_ERROR:
    return GS_ENOMEM;
  default:
    return GS_EDECODE;
  }
}

gs_err crdt__obj_uint(const msgpack_object *o, uint64_t *out)
{
  if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return GS_EDECODE;
  *out = o->via.u64;
  return GS_OK;
}

gs_err crdt__obj_bin(const msgpack_object *o, size_t len, uint8_t *out)
{
  if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != len)
    return GS_EDECODE;
  memcpy(out, o->via.bin.ptr, len);
  return GS_OK;
}

gs_err crdt__obj_name(const msgpack_object *o, const char **p, size_t *n)
{
  if (o->type != MSGPACK_OBJECT_STR)
    return GS_EDECODE;
  if (!crdt_name_valid(o->via.str.ptr, o->via.str.size))
    return GS_ENAME;
  *p = o->via.str.ptr;
  *n = o->via.str.size;
  return GS_OK;
}

gs_err crdt__obj_stamp(const msgpack_object *o, crdt_stamp *out)
{
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
    return GS_EDECODE;
  gs_err err = crdt__obj_uint(&o->via.array.ptr[0], &out->hlc);
  if (err)
    return err;
  if (!crdt_hlc_valid(out->hlc))
    return GS_ECLOCK;
  return crdt__obj_bin(&o->via.array.ptr[1], CRDT_KEY_LEN, out->origin);
}

int crdt__stamp_pack(msgpack_packer *pk, const crdt_stamp *st)
{
  int rc = msgpack_pack_array(pk, 2);
  rc |= msgpack_pack_uint64(pk, st->hlc);
  rc |= msgpack_pack_bin(pk, CRDT_KEY_LEN);
  rc |= msgpack_pack_bin_body(pk, st->origin, CRDT_KEY_LEN);
  return rc;
}

gs_err crdt_value_check(const crdt_value *v)
{
  switch (v->type) {
  case CRDT_NIL:
  case CRDT_BOOL:
  case CRDT_INT:
    return GS_OK;
  case CRDT_FLOAT:
    return isfinite(v->u.f) ? GS_OK : GS_EINVAL;
  case CRDT_STR:
    if (v->u.s.n > CRDT_TEXT_MAX)
      return GS_ETOOBIG;
    return crdt_utf8_valid(v->u.s.p, v->u.s.n) ? GS_OK : GS_EUTF8;
  case CRDT_BYTES:
    return v->u.s.n > CRDT_TEXT_MAX ? GS_ETOOBIG : GS_OK;
  case CRDT_REF:
    return crdt_name_valid(v->u.ref.coll, v->u.ref.coll_len) ? GS_OK
                                                             : GS_ENAME;
  }
  return GS_EINVAL;
}

int crdt__value_pack(msgpack_packer *pk, const crdt_value *v)
{
  switch (v->type) {
  case CRDT_NIL:
    return msgpack_pack_nil(pk);
  case CRDT_BOOL:
    return v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  case CRDT_INT:
    return msgpack_pack_int64(pk, v->u.i);
  case CRDT_FLOAT:
    return msgpack_pack_double(pk, v->u.f);
  case CRDT_STR:
    return msgpack_pack_str_with_body(pk, v->u.s.p, v->u.s.n);
  case CRDT_BYTES:
    return msgpack_pack_bin_with_body(pk, v->u.s.p, v->u.s.n);
  case CRDT_REF: {
    int rc = msgpack_pack_ext(pk, CRDT_ID_LEN + v->u.ref.coll_len,
                              REF_EXT_TYPE);
    rc |= msgpack_pack_ext_body(pk, v->u.ref.id, CRDT_ID_LEN);
    rc |= msgpack_pack_ext_body(pk, v->u.ref.coll, v->u.ref.coll_len);
    return rc;
  }
  }
  return -1;
}

gs_err crdt__value_from_obj(const msgpack_object *o, crdt_value *out)
{
  memset(out, 0, sizeof *out);
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
    out->type = CRDT_NIL;
    return GS_OK;
  case MSGPACK_OBJECT_BOOLEAN:
    out->type = CRDT_BOOL;
    out->u.b = o->via.boolean;
    return GS_OK;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    if (o->via.u64 > INT64_MAX)
      return GS_ETOOBIG;
    out->type = CRDT_INT;
    out->u.i = (int64_t)o->via.u64;
    return GS_OK;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    out->type = CRDT_INT;
    out->u.i = o->via.i64;
    return GS_OK;
  case MSGPACK_OBJECT_FLOAT64:
    out->type = CRDT_FLOAT;
    out->u.f = o->via.f64;
    break;
  case MSGPACK_OBJECT_STR:
    out->type = CRDT_STR;
    /* msgpack-c may give no pointer for an empty string */
    out->u.s.p = o->via.str.size ? o->via.str.ptr : "";
    out->u.s.n = o->via.str.size;
    break;
  case MSGPACK_OBJECT_BIN:
    out->type = CRDT_BYTES;
    out->u.s.p = o->via.bin.size ? o->via.bin.ptr : "";
    out->u.s.n = o->via.bin.size;
    break;
  case MSGPACK_OBJECT_EXT:
    if (o->via.ext.type != REF_EXT_TYPE || o->via.ext.size <= CRDT_ID_LEN)
      return GS_EDECODE;
    out->type = CRDT_REF;
    memcpy(out->u.ref.id, o->via.ext.ptr, CRDT_ID_LEN);
    out->u.ref.coll = o->via.ext.ptr + CRDT_ID_LEN;
    out->u.ref.coll_len = o->via.ext.size - CRDT_ID_LEN;
    break;
  default:
    return GS_EDECODE; /* float32, arrays, maps: not values */
  }
  return crdt_value_check(out);
}

gs_err crdt_value_encode(const crdt_value *v, uint8_t **out, size_t *n)
{
  gs_err err = crdt_value_check(v);
  if (err)
    return err;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (crdt__value_pack(&pk, v) != 0) {
    msgpack_sbuffer_destroy(&sb);
    return GS_ENOMEM;
  }
  crdt__sb_take(&sb, out, n);
  return GS_OK;
}

gs_err crdt_value_decode(const uint8_t *buf, size_t n, crdt_value *out)
{
  msgpack_unpacked u;
  gs_err err = crdt__mp_unpack(buf, n, 1, &u);
  if (err)
    goto done;
  err = crdt__value_from_obj(&u.data, out);
  if (err)
    goto done;
  /* Views must point into buf, not into the unpacker's zone. */
  if ((out->type == CRDT_STR || out->type == CRDT_BYTES) &&
      !crdt__within(out->u.s.p, out->u.s.n, buf, n))
    err = GS_EDECODE;
  if (out->type == CRDT_REF &&
      !crdt__within(out->u.ref.coll, out->u.ref.coll_len, buf, n))
    err = GS_EDECODE;
  if (err)
    goto done;
  /* Canonical form only (as the change and record decoders): one value,
   * one byte form. */
  {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (crdt__value_pack(&pk, out) != 0)
      err = GS_ENOMEM;
    else if (sb.size != n || memcmp(sb.data, buf, n) != 0)
      err = GS_EDECODE;
    msgpack_sbuffer_destroy(&sb);
  }
done:
  msgpack_unpacked_destroy(&u);
  return err;
}

bool crdt_value_equal(const crdt_value *a, const crdt_value *b)
{
  if (a->type != b->type)
    return false;
  switch (a->type) {
  case CRDT_NIL:
    return true;
  case CRDT_BOOL:
    return a->u.b == b->u.b;
  case CRDT_INT:
    return a->u.i == b->u.i;
  case CRDT_FLOAT:
    return memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0;
  case CRDT_STR:
  case CRDT_BYTES:
    return a->u.s.n == b->u.s.n &&
           (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
  case CRDT_REF:
    return a->u.ref.coll_len == b->u.ref.coll_len &&
           memcmp(a->u.ref.id, b->u.ref.id, CRDT_ID_LEN) == 0 &&
           memcmp(a->u.ref.coll, b->u.ref.coll, a->u.ref.coll_len) == 0;
  }
  return false;
}
