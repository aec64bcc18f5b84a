/*
 * The change format (DESIGN.md section 4):
 *
 *   change = [v=1, origin(bin32), scope(str), seq(uint), prev(bin32),
 *             hlc(uint), ops(array), sig(bin64)]
 *   op     = [0 SET,     coll, id(bin16), field, value]
 *          | [1 ADD,     coll, id, field, elem]
 *          | [2 REMOVE,  coll, id, field, elem, [[hlc, origin]...]]
 *          | [3 DELETE,  coll, id]
 *          | [4 RESTORE, coll, id]
 *
 * The body of a change is the encoding of its first seven elements as a
 * 7-array: the encoded change with its header byte 0x98 replaced by 0x97
 * and its last 66 bytes (the bin64 signature) removed. Two versions:
 *   v=2 (built since issue 20's eighth pass): the digest d =
 *       BLAKE2b-256(CHANGE_DOMAIN || body); the signature covers
 *       CHANGE_DOMAIN || d; the change's hash (the next change's prev) is
 *       BLAKE2b-256(d || sig). A big change's bytes are hashed once, not
 *       three times (twice by Ed25519's SHA-512, once for the chain).
 *   v=1 (stored and received still): the signature covers
 *       CHANGE_DOMAIN_V1 || body; the hash is BLAKE2b-256 of the bytes.
 * Both domains are 18 bytes, so a build's layout is one. Only the
 * canonical encoding (msgpack-c's smallest forms) is accepted, so one
 * change has exactly one byte form and a fork can be told from a
 * re-encoding by comparing bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt_internal.h"

#define CHANGE_VERSION 2 /* the version built */
#define CHANGE_DOMAIN "gridsync-change-v2"
#define CHANGE_DOMAIN_V1 "gridsync-change-v1"
_Static_assert(sizeof CHANGE_DOMAIN == sizeof CHANGE_DOMAIN_V1,
               "one layout of a build");
#define SIG_TAIL (2 + CRDT_SIG_LEN) /* bin8 header + signature */
#define CHANGE_DEPTH 5              /* change, ops, op, tags, tag */

static const uint8_t zero_hash[CRDT_HASH_LEN];

static void body_digest(const uint8_t *raw, size_t n,
                        uint8_t d[CRDT_HASH_LEN]);

static gs_err check_header(const crdt_change *c)
{
  if (!crdt_scope_valid(c->scope, c->scope_len))
    return GS_ESCOPE;
  if (c->seq == 0)
    return GS_EDECODE;
  bool prev_zero = memcmp(c->prev, zero_hash, CRDT_HASH_LEN) == 0;
  if ((c->seq == 1) != prev_zero)
    return GS_ECHAIN;
  if (!crdt_hlc_valid(c->hlc))
    return GS_ECLOCK;
  if (c->nops == 0 || c->nops > CRDT_OPS_MAX)
    return GS_ETOOBIG;
  return GS_OK;
}

/* coll_checked: op's collection is the bytes of one checked already */
static gs_err check_op(const crdt_op *op, bool coll_checked)
{
  if (!coll_checked && !crdt_name_valid(op->coll, op->coll_len))
    return GS_ENAME;
  switch (op->kind) {
  case CRDT_OP_DELETE:
  case CRDT_OP_RESTORE:
    return GS_OK;
  case CRDT_OP_SET:
  case CRDT_OP_ADD:
  case CRDT_OP_REMOVE:
    break;
  default:
    return GS_EDECODE;
  }
  if (!crdt_name_valid(op->field, op->field_len))
    return GS_ENAME;
  gs_err err = crdt_value_check(&op->value);
  if (err)
    return err;
  if (op->kind != CRDT_OP_SET && op->value.type != CRDT_STR &&
      op->value.type != CRDT_REF)
    return GS_EDECODE; /* set elements are strings or refs */
  if (op->kind == CRDT_OP_REMOVE) {
    if (op->ntags == 0 || op->ntags > CRDT_TAGS_MAX)
      return GS_ETOOBIG;
    for (size_t i = 0; i < op->ntags; i++)
      if (!crdt_hlc_valid(op->tags[i].hlc))
        return GS_ECLOCK;
  }
  return GS_OK;
}

static int pack_op(msgpack_packer *pk, const crdt_op *op)
{
  static const uint32_t arity[] = {5, 5, 6, 3, 3};
  int rc = msgpack_pack_array(pk, arity[op->kind]);
  rc |= msgpack_pack_uint32(pk, (uint32_t)op->kind);
  rc |= msgpack_pack_str_with_body(pk, op->coll, op->coll_len);
  rc |= msgpack_pack_bin_with_body(pk, op->id, CRDT_ID_LEN);
  if (op->kind == CRDT_OP_DELETE || op->kind == CRDT_OP_RESTORE)
    return rc;
  rc |= msgpack_pack_str_with_body(pk, op->field, op->field_len);
  rc |= crdt__value_pack(pk, &op->value);
  if (op->kind == CRDT_OP_REMOVE) {
    rc |= msgpack_pack_array(pk, (uint32_t)op->ntags);
    for (size_t i = 0; i < op->ntags; i++)
      rc |= crdt__stamp_pack(pk, &op->tags[i]);
  }
  return rc;
}

/* Encode c into sb; with sig == NULL, the 7-element unsigned form. */
static gs_err encode(const crdt_change *c, const uint8_t *sig,
                     msgpack_sbuffer *sb)
{
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_array(&pk, sig ? 8 : 7);
  rc |= msgpack_pack_uint32(&pk, c->version ? c->version : CHANGE_VERSION);
  rc |= msgpack_pack_bin_with_body(&pk, c->origin, CRDT_KEY_LEN);
  rc |= msgpack_pack_str_with_body(&pk, c->scope, c->scope_len);
  rc |= msgpack_pack_uint64(&pk, c->seq);
  rc |= msgpack_pack_bin_with_body(&pk, c->prev, CRDT_HASH_LEN);
  rc |= msgpack_pack_uint64(&pk, c->hlc);
  rc |= msgpack_pack_array(&pk, (uint32_t)c->nops);
  for (size_t i = 0; i < c->nops && rc == 0; i++)
    rc |= pack_op(&pk, &c->ops[i]);
  if (sig)
    rc |= msgpack_pack_bin_with_body(&pk, sig, CRDT_SIG_LEN);
  return rc ? GS_ENOMEM : GS_OK;
}

/* The bytes a version-1 signature covers: domain || unsigned encoding. */
static uint8_t *signed_message(const uint8_t *unsigned_enc, size_t n,
                               size_t *outlen)
{
  size_t dl = sizeof CHANGE_DOMAIN_V1 - 1;
  uint8_t *m = malloc(dl + n);
  if (!m)
    return NULL;
  memcpy(m, CHANGE_DOMAIN_V1, dl);
  memcpy(m + dl, unsigned_enc, n);
  *outlen = dl + n;
  return m;
}

/* ---- building: the canonical encoding written directly ----
 * crdt_change_build writes msgpack-c's smallest forms itself into one
 * buffer (issue 20: msgpack's packer made a call through its writer for
 * every item, 5% of a bulk load). The decoder re-encodes with msgpack-c
 * and refuses any other byte form, so a change built here that differed
 * from msgpack-c's encoding would fail to decode (tests/unit/crdt:
 * build_matches_msgpack_at_every_size_boundary). */

typedef struct wbuf {
  uint8_t *p;
  size_t n, cap;
  bool oom;
} wbuf;

static uint8_t *w_room(wbuf *b, size_t k)
{
  if (b->oom)
    return NULL;
  if (k > b->cap - b->n) {
    size_t cap = b->cap * 2 > b->n + k ? b->cap * 2 : b->n + k;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return NULL;
    }
    b->p = p;
    b->cap = cap;
  }
  uint8_t *at = b->p + b->n;
  b->n += k;
  return at;
}

static void w_bytes(wbuf *b, const void *p, size_t n)
{
  uint8_t *at = w_room(b, n);
  if (at && n)
    memcpy(at, p, n);
}

/* tag, then v big-endian in len bytes */
static void w_tag(wbuf *b, uint8_t tag, uint64_t v, unsigned len)
{
  uint8_t *at = w_room(b, 1 + len);
  if (!at)
    return;
  at[0] = tag;
  for (unsigned i = 0; i < len; i++)
    at[1 + i] = (uint8_t)(v >> (8 * (len - 1 - i)));
}

static void w_uint(wbuf *b, uint64_t v)
{
  if (v < 128)
    w_tag(b, (uint8_t)v, 0, 0);
  else if (v < 256)
    w_tag(b, 0xcc, v, 1);
  else if (v < 65536)
    w_tag(b, 0xcd, v, 2);
  else if (v <= UINT32_MAX)
    w_tag(b, 0xce, v, 4);
  else
    w_tag(b, 0xcf, v, 8);
}

static void w_int(wbuf *b, int64_t v)
{
  if (v >= 0)
    w_uint(b, (uint64_t)v);
  else if (v >= -32)
    w_tag(b, (uint8_t)(int8_t)v, 0, 0);
  else if (v >= -128)
    w_tag(b, 0xd0, (uint64_t)v & 0xff, 1);
  else if (v >= -32768)
    w_tag(b, 0xd1, (uint64_t)v & 0xffff, 2);
  else if (v >= INT32_MIN)
    w_tag(b, 0xd2, (uint64_t)v & 0xffffffffu, 4);
  else
    w_tag(b, 0xd3, (uint64_t)v, 8);
}

/* a str (fix, 8, 16, 32) or bin (8, 16, 32) header of n bytes */
static void w_head(wbuf *b, bool str, size_t n)
{
  if (str && n < 32)
    w_tag(b, (uint8_t)(0xa0 | n), 0, 0);
  else if (n < 256)
    w_tag(b, str ? 0xd9 : 0xc4, n, 1);
  else if (n < 65536)
    w_tag(b, str ? 0xda : 0xc5, n, 2);
  else
    w_tag(b, str ? 0xdb : 0xc6, n, 4);
}

static void w_str(wbuf *b, const void *p, size_t n)
{
  w_head(b, true, n);
  w_bytes(b, p, n);
}

static void w_bin(wbuf *b, const void *p, size_t n)
{
  w_head(b, false, n);
  w_bytes(b, p, n);
}

static void w_array(wbuf *b, size_t n)
{
  if (n < 16)
    w_tag(b, (uint8_t)(0x90 | n), 0, 0);
  else if (n < 65536)
    w_tag(b, 0xdc, n, 2);
  else
    w_tag(b, 0xdd, n, 4);
}

static void w_value(wbuf *b, const crdt_value *v)
{
  switch (v->type) {
  case CRDT_NIL:
    w_tag(b, 0xc0, 0, 0);
    return;
  case CRDT_BOOL:
    w_tag(b, v->u.b ? 0xc3 : 0xc2, 0, 0);
    return;
  case CRDT_INT:
    w_int(b, v->u.i);
    return;
  case CRDT_FLOAT: {
    uint64_t bits;
    memcpy(&bits, &v->u.f, sizeof bits);
    w_tag(b, 0xcb, bits, 8);
    return;
  }
  case CRDT_STR:
    w_str(b, v->u.s.p, v->u.s.n);
    return;
  case CRDT_BYTES:
    w_bin(b, v->u.s.p, v->u.s.n);
    return;
  case CRDT_REF: { /* ext 1: id then collection */
    size_t n = CRDT_ID_LEN + v->u.ref.coll_len;
    static const uint8_t fix[17] = {[1] = 0xd4, [2] = 0xd5, [4] = 0xd6,
                                    [8] = 0xd7, [16] = 0xd8};
    if (n <= 16 && fix[n])
      w_tag(b, fix[n], 0, 0);
    else if (n < 256)
      w_tag(b, 0xc7, n, 1);
    else if (n < 65536)
      w_tag(b, 0xc8, n, 2);
    else
      w_tag(b, 0xc9, n, 4);
    w_tag(b, 1, 0, 0); /* value.c's REF_EXT_TYPE */
    w_bytes(b, v->u.ref.id, CRDT_ID_LEN);
    w_bytes(b, v->u.ref.coll, v->u.ref.coll_len);
    return;
  }
  }
  b->oom = true; /* not a type: check_op refused it before */
}

static void w_op(wbuf *b, const crdt_op *op)
{
  static const uint8_t arity[] = {5, 5, 6, 3, 3};
  w_array(b, arity[op->kind]);
  w_uint(b, (uint64_t)op->kind);
  w_str(b, op->coll, op->coll_len);
  w_bin(b, op->id, CRDT_ID_LEN);
  if (op->kind == CRDT_OP_DELETE || op->kind == CRDT_OP_RESTORE)
    return;
  w_str(b, op->field, op->field_len);
  w_value(b, &op->value);
  if (op->kind == CRDT_OP_REMOVE) {
    w_array(b, op->ntags);
    for (size_t i = 0; i < op->ntags; i++) { /* crdt__stamp_pack */
      w_array(b, 2);
      w_uint(b, op->tags[i].hlc);
      w_bin(b, op->tags[i].origin, CRDT_KEY_LEN);
    }
  }
}

/* An upper bound of the encoding of v. */
static size_t value_bound(const crdt_value *v)
{
  switch (v->type) {
  case CRDT_STR:
  case CRDT_BYTES:
    return v->u.s.n + 5;
  case CRDT_REF:
    return v->u.ref.coll_len + CRDT_ID_LEN + 8;
  default:
    return 10;
  }
}

/* An upper bound of the bytes crdt_change_build writes for c: the domain,
 * the header, the ops, the signature. Only sizes the first buffer (it
 * grows past it if ever short). */
static size_t build_bound(const crdt_change *c)
{
  size_t n = sizeof CHANGE_DOMAIN + 128 + c->scope_len + SIG_TAIL;
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    n += 32 + op->coll_len + op->field_len + value_bound(&op->value) +
         48 * op->ntags;
  }
  return n;
}

gs_err crdt_change_build_unsigned(const crdt_change *c, uint8_t **out,
                                  size_t *n)
{
  const size_t dl = sizeof CHANGE_DOMAIN - 1;
  wbuf b = {0};
  gs_err err = check_header(c);

  if (err)
    return err;
  for (size_t i = 0; i < c->nops; i++) {
    /* the ops of one record name its collection by one pointer: checked
     * once (issue 20) */
    const crdt_op *op = &c->ops[i];
    bool same = i && op->coll == c->ops[i - 1].coll &&
                op->coll_len == c->ops[i - 1].coll_len;
    if ((err = check_op(op, same)) != GS_OK)
      return err;
  }
  /* the signed message built in place: the domain, then the 7-array
   * unsigned encoding; crdt_change_sign_built moves the domain out */
  b.cap = build_bound(c);
  if (b.cap > CRDT_CHANGE_MAX + dl + 1024)
    b.cap = CRDT_CHANGE_MAX + dl + 1024;
  if (!(b.p = malloc(b.cap)))
    return GS_ENOMEM;
  w_bytes(&b, CHANGE_DOMAIN, dl);
  w_array(&b, 7);
  w_uint(&b, CHANGE_VERSION);
  w_bin(&b, c->origin, CRDT_KEY_LEN);
  w_str(&b, c->scope, c->scope_len);
  w_uint(&b, c->seq);
  w_bin(&b, c->prev, CRDT_HASH_LEN);
  w_uint(&b, c->hlc);
  w_array(&b, c->nops);
  for (size_t i = 0; i < c->nops && !b.oom; i++)
    w_op(&b, &c->ops[i]);
  if (b.oom) {
    err = GS_ENOMEM;
    goto fail;
  }
  if (b.n - dl + SIG_TAIL > CRDT_CHANGE_MAX) {
    err = GS_ETOOBIG;
    goto fail;
  }
  /* room for the signature, so that signing allocates nothing */
  size_t body = b.n;
  w_room(&b, SIG_TAIL);
  if (b.oom) {
    err = GS_ENOMEM;
    goto fail;
  }
  *out = b.p;
  *n = body;
  return GS_OK;
fail:
  free(b.p);
  return err;
}

/* What a version-2 signature covers: CHANGE_DOMAIN || d. */
#define DIGEST_MSG_LEN (sizeof CHANGE_DOMAIN - 1 + CRDT_HASH_LEN)
static void digest_message(const uint8_t d[CRDT_HASH_LEN],
                           uint8_t m[DIGEST_MSG_LEN])
{
  memcpy(m, CHANGE_DOMAIN, sizeof CHANGE_DOMAIN - 1);
  memcpy(m + sizeof CHANGE_DOMAIN - 1, d, CRDT_HASH_LEN);
}

/* A version-2 change's hash: BLAKE2b-256(d || sig). */
static void id_of(const uint8_t d[CRDT_HASH_LEN],
                  const uint8_t sig[CRDT_SIG_LEN], uint8_t out[CRDT_HASH_LEN])
{
  uint8_t m[CRDT_HASH_LEN + CRDT_SIG_LEN];
  memcpy(m, d, CRDT_HASH_LEN);
  memcpy(m + CRDT_HASH_LEN, sig, CRDT_SIG_LEN);
  crdt_hash(m, sizeof m, out);
}

void crdt_change_sign_built(const uint8_t sk[CRDT_SK_LEN], uint8_t *buf,
                            size_t *n)
{
  crdt_change_sign_built_hash(sk, buf, n, NULL, NULL);
}

void crdt_change_sign_built_hash(const uint8_t sk[CRDT_SK_LEN], uint8_t *buf,
                                 size_t *n, uint8_t digest[CRDT_HASH_LEN],
                                 uint8_t hash[CRDT_HASH_LEN])
{
  const size_t dl = sizeof CHANGE_DOMAIN - 1;
  uint8_t sig[CRDT_SIG_LEN], d[CRDT_HASH_LEN];
  uint8_t msg[DIGEST_MSG_LEN];
  crdt_hash(buf, *n, d); /* the domain and the body, as built */
  digest_message(d, msg);
  crdt_sign(sk, msg, sizeof msg, sig);
  if (digest)
    memcpy(digest, d, CRDT_HASH_LEN);
  if (hash)
    id_of(d, sig, hash);
  memmove(buf, buf + dl, *n - dl);
  size_t m = *n - dl;
  buf[0] = 0x98; /* the 7-array becomes the 8-array with the signature */
  buf[m] = 0xc4; /* bin8 */
  buf[m + 1] = CRDT_SIG_LEN;
  memcpy(buf + m + 2, sig, CRDT_SIG_LEN);
  *n = m + SIG_TAIL;
}

gs_err crdt_change_set_prev(uint8_t *buf, size_t n,
                            const uint8_t prev[CRDT_HASH_LEN])
{
  /* domain, 0x97, version 2, bin8 32 origin, str scope, uint seq, bin8
   * 32 prev: the canonical forms crdt_change_build_unsigned writes */
  const size_t dl = sizeof CHANGE_DOMAIN - 1;
  size_t i = dl;
  if (memcmp(prev, zero_hash, CRDT_HASH_LEN) == 0 || n < dl + 40 ||
      memcmp(buf, CHANGE_DOMAIN, dl) != 0 || buf[i] != 0x97 ||
      buf[i + 1] != CHANGE_VERSION || buf[i + 2] != 0xc4 ||
      buf[i + 3] != CRDT_KEY_LEN)
    return GS_EINVAL;
  i += 4 + CRDT_KEY_LEN;
  size_t sl; /* the scope: fixstr or str8 (at most CRDT_SCOPE_MAX) */
  if ((buf[i] & 0xe0) == 0xa0)
    sl = buf[i] & 0x1f, i += 1;
  else if (buf[i] == 0xd9 && i + 1 < n)
    sl = buf[i + 1], i += 2;
  else
    return GS_EINVAL;
  i += sl;
  if (i >= n)
    return GS_EINVAL;
  uint8_t t = buf[i]; /* the seq: above 1, so no zero prev to replace */
  size_t ul = t < 0x80 ? 1 : t == 0xcc ? 2 : t == 0xcd ? 3
            : t == 0xce ? 5 : t == 0xcf ? 9 : 0;
  if (!ul || (t < 0x80 && t < 2))
    return GS_EINVAL;
  i += ul;
  if (i + 2 + CRDT_HASH_LEN > n || buf[i] != 0xc4 ||
      buf[i + 1] != CRDT_HASH_LEN ||
      memcmp(buf + i + 2, zero_hash, CRDT_HASH_LEN) == 0)
    return GS_EINVAL;
  memcpy(buf + i + 2, prev, CRDT_HASH_LEN);
  return GS_OK;
}

gs_err crdt_change_build(const crdt_change *c, const uint8_t sk[CRDT_SK_LEN],
                         uint8_t **out, size_t *n)
{
  gs_err err = crdt_change_build_unsigned(c, out, n);
  if (err == GS_OK)
    crdt_change_sign_built(sk, *out, n);
  return err;
}

/* Decoded change: the public struct first, then what it owns. */
typedef struct change_box {
  crdt_change c;
  crdt_op *ops;
  crdt_stamp *tags;
  uint8_t *raw;
} change_box;

void crdt_change_free(crdt_change *c)
{
  if (!c)
    return;
  change_box *b = (change_box *)c;
  free(b->ops);
  free(b->tags);
  free(b->raw);
  free(b);
}

static gs_err str_in(const msgpack_object *o, const uint8_t *raw, size_t n)
{
  if (o->type == MSGPACK_OBJECT_STR)
    return crdt__within(o->via.str.ptr, o->via.str.size, raw, n)
               ? GS_OK : GS_EDECODE;
  return GS_OK;
}

static gs_err decode_op(const msgpack_object *o, crdt_op *op,
                        crdt_stamp *tags, size_t *ntags_used,
                        size_t tags_cap)
{
  uint64_t kind;
  gs_err err;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 3)
    return GS_EDECODE;
  const msgpack_object *a = o->via.array.ptr;
  uint32_t size = o->via.array.size;
  if ((err = crdt__obj_uint(&a[0], &kind)) != GS_OK)
    return err;
  if (kind > CRDT_OP_RESTORE)
    return GS_EDECODE;
  static const uint32_t arity[] = {5, 5, 6, 3, 3};
  if (size != arity[kind])
    return GS_EDECODE;
  memset(op, 0, sizeof *op);
  op->kind = (crdt_op_kind)kind;
  if ((err = crdt__obj_name(&a[1], &op->coll, &op->coll_len)) != GS_OK)
    return err;
  if ((err = crdt__obj_bin(&a[2], CRDT_ID_LEN, op->id)) != GS_OK)
    return err;
  if (size == 3)
    return GS_OK;
  if ((err = crdt__obj_name(&a[3], &op->field, &op->field_len)) != GS_OK)
    return err;
  if ((err = crdt__value_from_obj(&a[4], &op->value)) != GS_OK)
    return err;
  if (op->kind == CRDT_OP_REMOVE) {
    const msgpack_object *t = &a[5];
    if (t->type != MSGPACK_OBJECT_ARRAY)
      return GS_EDECODE;
    if (t->via.array.size == 0 || t->via.array.size > CRDT_TAGS_MAX ||
        t->via.array.size > tags_cap - *ntags_used)
      return GS_ETOOBIG;
    op->tags = tags + *ntags_used;
    op->ntags = t->via.array.size;
    for (uint32_t i = 0; i < t->via.array.size; i++)
      if ((err = crdt__obj_stamp(&t->via.array.ptr[i],
                                 &tags[*ntags_used + i])) != GS_OK)
        return err;
    *ntags_used += op->ntags;
  }
  /* what check_op checks, the readers above have checked (names by
   * crdt__obj_name, the value by crdt__value_from_obj, the tags' count
   * and clocks here, with the same errors) but for this; not again
   * (issue 20: each text was checked for UTF-8 twice) */
  if (op->kind != CRDT_OP_SET && op->kind <= CRDT_OP_REMOVE &&
      op->value.type != CRDT_STR && op->value.type != CRDT_REF)
    return GS_EDECODE; /* set elements are strings or refs */
  return GS_OK;
}

/* Every borrowed pointer of op must lie in the change's own buffer. */
static gs_err op_in(const crdt_op *op, const uint8_t *raw, size_t n)
{
  if (!crdt__within(op->coll, op->coll_len, raw, n))
    return GS_EDECODE;
  if (op->field && !crdt__within(op->field, op->field_len, raw, n))
    return GS_EDECODE;
  const crdt_value *v = &op->value;
  if ((v->type == CRDT_STR || v->type == CRDT_BYTES) && v->u.s.n &&
      !crdt__within(v->u.s.p, v->u.s.n, raw, n))
    return GS_EDECODE;
  if (v->type == CRDT_REF &&
      !crdt__within(v->u.ref.coll, v->u.ref.coll_len, raw, n))
    return GS_EDECODE;
  return GS_OK;
}

gs_err crdt_change_decode(const uint8_t *buf, size_t n, crdt_change **out)
{
  msgpack_unpacked u;
  msgpack_sbuffer sb;
  change_box *b = NULL;
  gs_err err;
  uint64_t v;

  *out = NULL;
  msgpack_sbuffer_init(&sb);
  msgpack_unpacked_init(&u);
  if (n > CRDT_CHANGE_MAX) {
    err = GS_ETOOBIG;
    goto fail;
  }
  if (!(b = calloc(1, sizeof *b)) || !(b->raw = malloc(n ? n : 1))) {
    err = GS_ENOMEM;
    goto fail;
  }
  memcpy(b->raw, buf, n);
  msgpack_unpacked_destroy(&u);
  if ((err = crdt__mp_unpack(b->raw, n, CHANGE_DEPTH, &u)) != GS_OK)
    goto fail;
  const msgpack_object *o = &u.data;
  err = GS_EDECODE;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 8)
    goto fail;
  const msgpack_object *a = o->via.array.ptr;
  crdt_change *c = &b->c;
  if ((err = crdt__obj_uint(&a[0], &v)) != GS_OK)
    goto fail;
  if (v != 1 && v != 2) {
    err = GS_EVERSION;
    goto fail;
  }
  c->version = (uint8_t)v;
  if ((err = crdt__obj_bin(&a[1], CRDT_KEY_LEN, c->origin)) != GS_OK)
    goto fail;
  err = GS_EDECODE;
  if (a[2].type != MSGPACK_OBJECT_STR || str_in(&a[2], b->raw, n))
    goto fail;
  c->scope = a[2].via.str.ptr;
  c->scope_len = a[2].via.str.size;
  if ((err = crdt__obj_uint(&a[3], &c->seq)) != GS_OK ||
      (err = crdt__obj_bin(&a[4], CRDT_HASH_LEN, c->prev)) != GS_OK ||
      (err = crdt__obj_uint(&a[5], &c->hlc)) != GS_OK ||
      (err = crdt__obj_bin(&a[7], CRDT_SIG_LEN, c->sig)) != GS_OK)
    goto fail;
  err = GS_EDECODE;
  if (a[6].type != MSGPACK_OBJECT_ARRAY)
    goto fail;
  c->nops = a[6].via.array.size;
  if ((err = check_header(c)) != GS_OK)
    goto fail;
  /* Tags are bounded by the input size (each takes over 34 bytes). */
  size_t tags_cap = n / 34 + 1, tags_used = 0;
  if (!(b->ops = calloc(c->nops, sizeof *b->ops)) ||
      !(b->tags = calloc(tags_cap, sizeof *b->tags))) {
    err = GS_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < c->nops; i++) {
    if ((err = decode_op(&a[6].via.array.ptr[i], &b->ops[i], b->tags,
                         &tags_used, tags_cap)) != GS_OK ||
        (err = op_in(&b->ops[i], b->raw, n)) != GS_OK)
      goto fail;
  }
  c->ops = b->ops;
  c->raw = b->raw;
  c->raw_len = n;
  /* Canonical form only: re-encoding must give the same bytes. */
  if ((err = encode(c, c->sig, &sb)) != GS_OK)
    goto fail;
  if (sb.size != n || memcmp(sb.data, b->raw, n) != 0) {
    err = GS_EDECODE;
    goto fail;
  }
  if (c->version == 2) { /* for crdt_change_verify and crdt_change_hash */
    body_digest(b->raw, n, c->digest);
    c->has_digest = true;
  }
  msgpack_sbuffer_destroy(&sb);
  msgpack_unpacked_destroy(&u);
  *out = c;
  return GS_OK;
fail:
  msgpack_sbuffer_destroy(&sb);
  msgpack_unpacked_destroy(&u);
  crdt_change_free(b ? &b->c : NULL);
  return err;
}

/* The version of an encoded change: its first element, a fixint (0 when
 * raw is no such encoding). */
static unsigned raw_version(const uint8_t *raw, size_t n)
{
  if (!raw || n < SIG_TAIL + 2 || raw[0] != 0x98 || raw[1] > 0x7f)
    return 0;
  return raw[1];
}

/* A version-2 change's digest from its n encoded bytes (n checked by
 * raw_version): BLAKE2b-256(CHANGE_DOMAIN || 0x97 || the body after its
 * header byte). */
static void body_digest(const uint8_t *raw, size_t n,
                        uint8_t d[CRDT_HASH_LEN])
{
  static const uint8_t head = 0x97;
  crdt_hasher h;
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, CHANGE_DOMAIN, sizeof CHANGE_DOMAIN - 1);
  crdt_hasher_update(&h, &head, 1);
  crdt_hasher_update(&h, raw + 1, n - SIG_TAIL - 1);
  crdt_hasher_final(&h, d);
}

static void digest_of(const crdt_change *c, uint8_t d[CRDT_HASH_LEN])
{
  if (c->has_digest)
    memcpy(d, c->digest, CRDT_HASH_LEN);
  else
    body_digest(c->raw, c->raw_len, d);
}

bool crdt_change_verify(const crdt_change *c)
{
  unsigned v = raw_version(c->raw, c->raw_len);
  if (v == 2) {
    uint8_t d[CRDT_HASH_LEN], m[DIGEST_MSG_LEN];
    digest_of(c, d);
    digest_message(d, m);
    return crdt_verify(c->origin, m, sizeof m, c->sig);
  }
  if (v != 1)
    return false;
  size_t body = c->raw_len - SIG_TAIL, msglen;
  uint8_t *msg = signed_message(c->raw, body, &msglen);
  if (!msg)
    return false;
  msg[sizeof CHANGE_DOMAIN_V1 - 1] = 0x97;
  bool ok = crdt_verify(c->origin, msg, msglen, c->sig);
  free(msg);
  return ok;
}

void crdt_change_hash(const crdt_change *c, uint8_t out[CRDT_HASH_LEN])
{
  if (raw_version(c->raw, c->raw_len) != 2) {
    crdt_hash(c->raw, c->raw_len, out);
    return;
  }
  uint8_t d[CRDT_HASH_LEN];
  digest_of(c, d);
  id_of(d, c->raw + c->raw_len - CRDT_SIG_LEN, out);
}

void crdt_change_hash_raw(const uint8_t *raw, size_t n,
                          uint8_t out[CRDT_HASH_LEN])
{
  crdt_change c = {.raw = raw, .raw_len = n};
  crdt_change_hash(&c, out);
}

void crdt_feed_id(const uint8_t origin[CRDT_KEY_LEN], const char *scope,
                  size_t scope_len, uint8_t out[CRDT_FEED_LEN])
{
  crdt_hasher h;
  uint8_t full[CRDT_HASH_LEN];
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, "gridsync-feed", 13);
  crdt_hasher_update(&h, origin, CRDT_KEY_LEN);
  crdt_hasher_update(&h, scope, scope_len);
  crdt_hasher_final(&h, full);
  memcpy(out, full, CRDT_FEED_LEN);
}
