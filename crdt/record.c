/*
 * Record state and merge.
 *
 * A record is (scope, collection, id) with a tombstone register and
 * fields sorted by name. A field holds an LWW register (stamp + value)
 * and/or an observed-remove set: per element (kept as its canonical value
 * bytes, sorted bytewise) the live add tags and the removed tags. State
 * is always kept canonical:
 *   adds = (all add tags seen) minus (all removed tags seen)
 *   rems = all removed tags seen
 * both sorted, so equal op sets give equal bytes whatever the order.
 * Register ties (equal stamps, only possible inside one change or by
 * forgery) go to the larger value bytes, so merge stays commutative.
 *
 * Canonical encoding, version 3 (written since store format 3):
 *   [3, [origin(bin32)...], [h, o, h, o...], del, [field...]]
 *   del   = nil | [s, bool]
 *   field = name, s, value             (a register; items of the flat
 *         | name, nil, [elem...]       list, not arrays of their own:
 *         | name, s, value, [elem...]  a name is an int or a str, never
 *         | name, nil                  an array)
 *   name  = n | str
 *   elem  = [value, [s...adds]] | [value, [s...adds], [s...rems]]
 * The record's identity (scope, collection, id) is not in the bytes: it
 * is the store's key (and the seal's associated data binds the value to
 * that key); the reader gives it (crdt_record_decode_key). The stamp
 * table holds every stamp the record names (tombstone, registers, set
 * tags), sorted (crdt_stamp_cmp: hlc, then origin), once each, as two
 * ints: h, the hlc (the first) or how much it rises over the one before,
 * and o, the origin's index in the origin table (every origin the stamps
 * name, sorted bytewise, once each). s is a stamp's index in the table:
 * one byte in a record of fewer than 128 stamps, where a stamp cost 11
 * bytes in version 2 (all the ops of one change share one stamp: a
 * resident written once has one). n is a name's index in v3_names (the
 * domain's field names, frozen: see there); any other name is its
 * string. The fields are one flat list; a field with no set elements
 * leaves out their empty list, an element with no removed tag its empty
 * list of removes. A resident of eleven fields written once: 433 bytes
 * in version 2, 181 in version 3 (tests/unit/crdt/test_record3.c).
 * Canonical: only the exact bytes the encoder writes decode (tables
 * sorted, nothing in them unused, a table name by its number, ints in
 * their shortest form).
 *
 * Version 2 (store format 2; still read, and rewritten on open):
 *   [2, scope, coll, id(bin16), [origin(bin32)...], del, [field...]]
 *   del   = nil | [hlc, o, bool]
 *   field = [name, reg, [elem...]]
 *   reg   = nil | [hlc, o, value]
 *   elem  = [value, [[hlc, o]...adds], [[hlc, o]...rems]]
 * where o indexes the origin table: every origin key the record's stamps
 * name, once each, sorted bytewise. A record is mostly written by one or
 * two nodes, so a stamp costs 11 bytes instead of the 44 of version 1,
 * which spelt the 32-byte origin key in every stamp:
 *   [1, scope, coll, id(bin16), del, [field...]]  (o = origin(bin32))
 * Versions 1 and 2 are still read (stores of formats 1 and 2 are
 * rewritten on open, see storage/store.c) and are canonical in their own
 * version: a record decodes only from the exact bytes its version
 * encodes it to.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt_internal.h"

#define RECORD_VERSION 3
#define RECORD_DEPTH 7

typedef struct stamps {
  crdt_stamp *v;
  size_t n, cap;
} stamps;

typedef struct elem {
  uint8_t *val; /* canonical value bytes */
  size_t len;
  stamps adds, rems;
} elem;

typedef struct field {
  char *name;
  size_t name_len;
  bool has_reg;
  crdt_stamp reg_stamp;
  uint8_t *reg_val;
  size_t reg_len;
  elem *elems;
  size_t nelems, cap;
} field;

/* A record's byte strings (scope, collection, field names, values) come
 * from its arena (issue 20, fourth pass: a merge decoded, edited and
 * re-encoded every touched record with a malloc and a free for each of
 * them): first the record's own ARENA_INLINE bytes, then chunks, all
 * freed with the record, none moved (pointers into it stay valid). A
 * value a register or set loses stays there until the record is freed:
 * at most the bytes of the ops applied to it. Arrays (fields, elements,
 * stamps) still grow on the heap. */
#define ARENA_INLINE 512
#define ARENA_CHUNK 2048

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  uint8_t b[];
} chunk;

struct crdt_record {
  char *scope;
  size_t scope_len;
  char *coll;
  size_t coll_len;
  uint8_t id[CRDT_ID_LEN];
  bool has_del;
  crdt_stamp del_stamp;
  bool deleted;
  field *fields;
  size_t nfields, cap;
  chunk *chunks;
  size_t inl_used;
  uint8_t inl[ARENA_INLINE];
};

static void *dup_bytes(const void *p, size_t n)
{
  uint8_t *d = malloc(n ? n : 1);
  if (d && n)
    memcpy(d, p, n);
  return d;
}

/* n bytes of r's arena holding a copy of p (NULL: no memory). */
static void *arena_dup(crdt_record *r, const void *p, size_t n)
{
  uint8_t *d;
  if (n <= ARENA_INLINE - r->inl_used) {
    d = r->inl + r->inl_used;
    r->inl_used += n;
  } else if (r->chunks && n <= r->chunks->cap - r->chunks->used) {
    d = r->chunks->b + r->chunks->used;
    r->chunks->used += n;
  } else {
    size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    chunk *c = malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->cap = cap;
    c->used = n;
    if (r->chunks && n > ARENA_CHUNK) { /* a big one: keep the room */
      c->next = r->chunks->next;
      r->chunks->next = c;
    } else {
      c->next = r->chunks;
      r->chunks = c;
    }
    d = c->b;
  }
  if (n)
    memcpy(d, p, n);
  return d;
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  size_t m = an < bn ? an : bn;
  int c = m ? memcmp(a, b, m) : 0;
  if (c)
    return c;
  return an < bn ? -1 : an > bn;
}

static gs_err grow(void **arr, size_t *cap, size_t need, size_t size)
{
  return crdt_grow(arr, cap, need, size);
}

/* Binary search: index of s in st, or the insertion point as ~index. */
static long stamps_find(const stamps *st, const crdt_stamp *s)
{
  size_t lo = 0, hi = st->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = crdt_stamp_cmp(&st->v[mid], s);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return ~(long)lo;
}

static gs_err stamps_add(stamps *st, const crdt_stamp *s)
{
  long at = stamps_find(st, s);
  if (at >= 0)
    return GS_OK;
  size_t pos = (size_t)~at;
  gs_err err = grow((void **)&st->v, &st->cap, st->n + 1, sizeof *st->v);
  if (err)
    return err;
  memmove(&st->v[pos + 1], &st->v[pos], (st->n - pos) * sizeof *st->v);
  st->v[pos] = *s;
  st->n++;
  return GS_OK;
}

static void stamps_del(stamps *st, const crdt_stamp *s)
{
  long at = stamps_find(st, s);
  if (at < 0)
    return;
  size_t pos = (size_t)at;
  memmove(&st->v[pos], &st->v[pos + 1], (st->n - pos - 1) * sizeof *st->v);
  st->n--;
}

static void elem_clear(elem *e)
{
  free(e->adds.v);
  free(e->rems.v);
}

static void field_clear(field *f)
{
  for (size_t i = 0; i < f->nelems; i++)
    elem_clear(&f->elems[i]);
  free(f->elems);
}

void crdt_record_free(crdt_record *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->nfields; i++)
    field_clear(&r->fields[i]);
  free(r->fields);
  while (r->chunks) {
    chunk *c = r->chunks;
    r->chunks = c->next;
    free(c);
  }
  free(r);
}

crdt_record *crdt_record_new(const char *scope, size_t scope_len,
                             const char *coll, size_t coll_len,
                             const uint8_t id[CRDT_ID_LEN])
{
  if (!crdt_scope_valid(scope, scope_len) || !crdt_name_valid(coll, coll_len))
    return NULL;
  crdt_record *r = malloc(sizeof *r);
  if (!r)
    return NULL;
  memset(r, 0, offsetof(crdt_record, inl)); /* the arena's bytes: unread */
  r->scope = arena_dup(r, scope, scope_len);
  r->coll = arena_dup(r, coll, coll_len);
  if (!r->scope || !r->coll) {
    crdt_record_free(r);
    return NULL;
  }
  r->scope_len = scope_len;
  r->coll_len = coll_len;
  memcpy(r->id, id, CRDT_ID_LEN);
  return r;
}

static long field_find(const crdt_record *r, const char *name, size_t n)
{
  /* after the last: how a record's fields are read, in order */
  if (r->nfields) {
    const field *l = &r->fields[r->nfields - 1];
    int c = bytes_cmp((const uint8_t *)l->name, l->name_len,
                      (const uint8_t *)name, n);
    if (c < 0)
      return ~(long)r->nfields;
    if (c == 0)
      return (long)r->nfields - 1;
  }
  size_t lo = 0, hi = r->nfields;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = bytes_cmp((const uint8_t *)r->fields[mid].name,
                      r->fields[mid].name_len, (const uint8_t *)name, n);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return ~(long)lo;
}

long crdt_record_find(const crdt_record *r, const char *name, size_t n)
{
  long at = field_find(r, name, n);
  return at >= 0 ? at : -1;
}

static gs_err field_get(crdt_record *r, const char *name, size_t n,
                        field **out)
{
  long at = field_find(r, name, n);
  if (at >= 0) {
    *out = &r->fields[at];
    return GS_OK;
  }
  size_t pos = (size_t)~at;
  gs_err err = grow((void **)&r->fields, &r->cap, r->nfields + 1,
                    sizeof *r->fields);
  if (err)
    return err;
  char *nm = arena_dup(r, name, n);
  if (!nm)
    return GS_ENOMEM;
  memmove(&r->fields[pos + 1], &r->fields[pos],
          (r->nfields - pos) * sizeof *r->fields);
  memset(&r->fields[pos], 0, sizeof *r->fields);
  r->fields[pos].name = nm;
  r->fields[pos].name_len = n;
  r->nfields++;
  *out = &r->fields[pos];
  return GS_OK;
}

static gs_err elem_get(crdt_record *r, field *f, const uint8_t *val,
                       size_t len, elem **out)
{
  size_t lo = 0, hi = f->nelems;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = bytes_cmp(f->elems[mid].val, f->elems[mid].len, val, len);
    if (c == 0) {
      *out = &f->elems[mid];
      return GS_OK;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  gs_err err = grow((void **)&f->elems, &f->cap, f->nelems + 1,
                    sizeof *f->elems);
  if (err)
    return err;
  uint8_t *v = arena_dup(r, val, len);
  if (!v)
    return GS_ENOMEM;
  memmove(&f->elems[lo + 1], &f->elems[lo],
          (f->nelems - lo) * sizeof *f->elems);
  memset(&f->elems[lo], 0, sizeof *f->elems);
  f->elems[lo].val = v;
  f->elems[lo].len = len;
  f->nelems++;
  *out = &f->elems[lo];
  return GS_OK;
}

/* LWW: does (s, val) beat the current (cs, cval)? */
static bool lww_wins(const crdt_stamp *s, const uint8_t *val, size_t len,
                     const crdt_stamp *cs, const uint8_t *cval, size_t clen)
{
  int c = crdt_stamp_cmp(s, cs);
  if (c != 0)
    return c > 0;
  return bytes_cmp(val, len, cval, clen) > 0;
}

static gs_err reg_merge(crdt_record *r, field *f, const crdt_stamp *s,
                        const uint8_t *val, size_t len)
{
  if (f->has_reg &&
      !lww_wins(s, val, len, &f->reg_stamp, f->reg_val, f->reg_len))
    return GS_OK;
  uint8_t *v = arena_dup(r, val, len);
  if (!v)
    return GS_ENOMEM;
  f->reg_val = v; /* the one it beat stays in the arena */
  f->reg_len = len;
  f->reg_stamp = *s;
  f->has_reg = true;
  return GS_OK;
}

static void del_merge(crdt_record *r, const crdt_stamp *s, bool deleted)
{
  if (r->has_del) {
    int c = crdt_stamp_cmp(s, &r->del_stamp);
    /* tie: true (deleted) beats false, as bytes 0xc3 > 0xc2 */
    if (c < 0 || (c == 0 && (!deleted || r->deleted)))
      return;
  }
  r->has_del = true;
  r->del_stamp = *s;
  r->deleted = deleted;
}

static gs_err elem_add(elem *e, const crdt_stamp *tag)
{
  if (stamps_find(&e->rems, tag) >= 0)
    return GS_OK; /* already removed: the add is observed and void */
  return stamps_add(&e->adds, tag);
}

static gs_err elem_remove(elem *e, const crdt_stamp *tag)
{
  stamps_del(&e->adds, tag);
  return stamps_add(&e->rems, tag);
}

static bool same_record(const crdt_record *r, const char *coll, size_t cn,
                        const uint8_t *id)
{
  return cn == r->coll_len && memcmp(coll, r->coll, cn) == 0 &&
         memcmp(id, r->id, CRDT_ID_LEN) == 0;
}

/* An op's value packed on the stack (issue 20, fourth pass: an sbuffer
 * took 8 KiB from the heap for every op applied); a longer one moves to
 * the heap. */
typedef struct vbuf {
  uint8_t *data;
  size_t size, cap;
  uint8_t stack[256];
} vbuf;

static int vbuf_write(void *ctx, const char *buf, size_t len)
{
  vbuf *b = ctx;
  if (len > b->cap - b->size) {
    if (b->size + len > SIZE_MAX / 2)
      return -1;
    size_t cap = 2 * (b->size + len);
    uint8_t *d = malloc(cap);
    if (!d)
      return -1;
    memcpy(d, b->data, b->size);
    if (b->data != b->stack)
      free(b->data);
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->size, buf, len);
  b->size += len;
  return 0;
}

gs_err crdt_record_reserve(crdt_record *r, size_t nfields)
{
  return grow((void **)&r->fields, &r->cap, nfields, sizeof *r->fields);
}

static gs_err record_apply(crdt_record *r, const crdt_op *op,
                           const crdt_stamp *st, bool checked)
{
  vbuf sb;
  msgpack_packer pk;
  field *f;
  elem *e;
  gs_err err;

  if (!same_record(r, op->coll, op->coll_len, op->id) ||
      !crdt_hlc_valid(st->hlc))
    return GS_EINVAL;
  if (op->kind == CRDT_OP_DELETE || op->kind == CRDT_OP_RESTORE) {
    del_merge(r, st, op->kind == CRDT_OP_DELETE);
    return GS_OK;
  }
  if (op->kind > CRDT_OP_RESTORE)
    return GS_EINVAL;
  if (!checked) {
    if (!crdt_name_valid(op->field, op->field_len) ||
        crdt_value_check(&op->value) != GS_OK)
      return GS_EINVAL;
    /* A removed tag with an invalid hlc would be kept in state that
     * crdt_record_decode then refuses. */
    if (op->kind == CRDT_OP_REMOVE)
      for (size_t i = 0; i < op->ntags; i++)
        if (!crdt_hlc_valid(op->tags[i].hlc))
          return GS_EINVAL;
  }
  sb.data = sb.stack;
  sb.size = 0;
  sb.cap = sizeof sb.stack;
  msgpack_packer_init(&pk, &sb, vbuf_write);
  if (crdt__value_pack(&pk, &op->value) != 0) {
    err = GS_ENOMEM;
    goto done;
  }
  if ((err = field_get(r, op->field, op->field_len, &f)) != GS_OK)
    goto done;
  const uint8_t *val = (const uint8_t *)sb.data;
  switch (op->kind) {
  case CRDT_OP_SET:
    err = reg_merge(r, f, st, val, sb.size);
    break;
  case CRDT_OP_ADD:
    if ((err = elem_get(r, f, val, sb.size, &e)) == GS_OK)
      err = elem_add(e, st);
    break;
  case CRDT_OP_REMOVE:
    if ((err = elem_get(r, f, val, sb.size, &e)) != GS_OK)
      break;
    for (size_t i = 0; i < op->ntags && !err; i++)
      err = elem_remove(e, &op->tags[i]);
    break;
  default:
    err = GS_EINVAL;
  }
done:
  if (sb.data != sb.stack)
    free(sb.data);
  return err;
}

gs_err crdt_record_apply(crdt_record *r, const crdt_op *op,
                         const crdt_stamp *st)
{
  return record_apply(r, op, st, false);
}

gs_err crdt_record_apply_checked(crdt_record *r, const crdt_op *op,
                                 const crdt_stamp *st)
{
  return record_apply(r, op, st, true);
}

gs_err crdt_record_merge(crdt_record *into, const crdt_record *o)
{
  gs_err err = GS_OK;
  if (into->scope_len != o->scope_len ||
      memcmp(into->scope, o->scope, o->scope_len) != 0 ||
      !same_record(into, o->coll, o->coll_len, o->id))
    return GS_EINVAL;
  if (o->has_del)
    del_merge(into, &o->del_stamp, o->deleted);
  for (size_t i = 0; i < o->nfields && !err; i++) {
    const field *of = &o->fields[i];
    field *f;
    if ((err = field_get(into, of->name, of->name_len, &f)) != GS_OK)
      break;
    if (of->has_reg &&
        (err = reg_merge(into, f, &of->reg_stamp, of->reg_val,
                                  of->reg_len)))
      break;
    for (size_t j = 0; j < of->nelems && !err; j++) {
      const elem *oe = &of->elems[j];
      elem *e;
      if ((err = elem_get(into, f, oe->val, oe->len, &e)) != GS_OK)
        break;
      for (size_t k = 0; k < oe->rems.n && !err; k++)
        err = elem_remove(e, &oe->rems.v[k]);
      for (size_t k = 0; k < oe->adds.n && !err; k++)
        err = elem_add(e, &oe->adds.v[k]);
    }
  }
  return err;
}

/* ---- canonical encoding ---- */

/* The origin table of version 2: sorted, unique origin keys; the first
 * ORIGINS_INLINE kept in the struct (a record names one to three). */
#define ORIGINS_INLINE 8

typedef struct origins {
  uint8_t (*k)[CRDT_KEY_LEN];
  size_t n, cap;
  uint8_t inl[ORIGINS_INLINE][CRDT_KEY_LEN];
} origins;

static void origins_init(origins *o)
{
  o->k = o->inl;
  o->n = 0;
  o->cap = ORIGINS_INLINE;
}

static void origins_free(origins *o)
{
  if (o->k != o->inl)
    free(o->k);
  o->k = o->inl;
}

/* Room for need items of size each in a table whose first ones live in
 * inl (the table's own struct): *v is moved to the heap, or to a bigger
 * block, keeping its n items. */
static gs_err table_reserve(void **v, void *inl, size_t n, size_t *cap,
                            size_t need, size_t size)
{
  if (need <= *cap)
    return GS_OK;
  size_t c = need > 2 * *cap ? need : 2 * *cap;
  if (c > SIZE_MAX / size)
    return GS_ENOMEM;
  void *nv = malloc(c * size);
  if (!nv)
    return GS_ENOMEM;
  memcpy(nv, *v, n * size);
  if (*v != inl)
    free(*v);
  *v = nv;
  *cap = c;
  return GS_OK;
}

/* Room for need keys in o. */
static gs_err origins_reserve(origins *o, size_t need)
{
  void *v = o->k;
  gs_err err = table_reserve(&v, o->inl, o->n, &o->cap, need, CRDT_KEY_LEN);
  o->k = v;
  return err;
}

/* Every stamp r's state holds (tombstone, registers, set tags), in the
 * order of its encoding, to fn; the first error stops the walk. */
static gs_err stamps_each(const crdt_record *r,
                          gs_err (*fn)(void *ctx, const crdt_stamp *s),
                          void *ctx)
{
  gs_err err = GS_OK;
  if (r->has_del)
    err = fn(ctx, &r->del_stamp);
  for (size_t i = 0; i < r->nfields && !err; i++) {
    const field *f = &r->fields[i];
    if (f->has_reg)
      err = fn(ctx, &f->reg_stamp);
    for (size_t j = 0; j < f->nelems && !err; j++) {
      const elem *e = &f->elems[j];
      for (size_t k = 0; k < e->adds.n && !err; k++)
        err = fn(ctx, &e->adds.v[k]);
      for (size_t k = 0; k < e->rems.n && !err; k++)
        err = fn(ctx, &e->rems.v[k]);
    }
  }
  return err;
}

static int key_cmp(const void *a, const void *b)
{
  return memcmp(a, b, CRDT_KEY_LEN);
}

static gs_err origins_push(origins *o, const crdt_stamp *s)
{
  /* most stamps repeat the last origin pushed */
  if (o->n && memcmp(o->k[o->n - 1], s->origin, CRDT_KEY_LEN) == 0)
    return GS_OK;
  if (origins_reserve(o, o->n + 1))
    return GS_ENOMEM;
  memcpy(o->k[o->n++], s->origin, CRDT_KEY_LEN);
  return GS_OK;
}

static gs_err origins_push_cb(void *ctx, const crdt_stamp *s)
{
  return origins_push(ctx, s);
}

static gs_err origins_collect(const crdt_record *r, origins *o)
{
  gs_err err = stamps_each(r, origins_push_cb, o);
  if (err || o->n < 2)
    return err;
  if (o->n <= ORIGINS_INLINE) { /* a few: by insertion */
    for (size_t i = 1; i < o->n; i++)
      for (size_t j = i; j > 0 && key_cmp(o->k[j - 1], o->k[j]) > 0; j--) {
        uint8_t t[CRDT_KEY_LEN];
        memcpy(t, o->k[j], CRDT_KEY_LEN);
        memcpy(o->k[j], o->k[j - 1], CRDT_KEY_LEN);
        memcpy(o->k[j - 1], t, CRDT_KEY_LEN);
      }
  } else {
    qsort(o->k, o->n, sizeof *o->k, key_cmp);
  }
  size_t w = 1;
  for (size_t i = 1; i < o->n; i++)
    if (memcmp(o->k[i], o->k[w - 1], CRDT_KEY_LEN) != 0)
      memmove(o->k[w++], o->k[i], CRDT_KEY_LEN);
  o->n = w;
  return GS_OK;
}

/* A stamp's origin: its 32 bytes (version 1) or its index in the table. */
static int pack_origin(msgpack_packer *pk, const origins *o,
                       const crdt_stamp *s)
{
  if (!o)
    return msgpack_pack_bin_with_body(pk, s->origin, CRDT_KEY_LEN);
  if (o->n <= ORIGINS_INLINE) { /* a few: look them over */
    for (size_t i = 0; i < o->n; i++)
      if (memcmp(o->k[i], s->origin, CRDT_KEY_LEN) == 0)
        return msgpack_pack_uint64(pk, (uint64_t)i);
    return -1;
  }
  const uint8_t (*at)[CRDT_KEY_LEN] =
      bsearch(s->origin, o->k, o->n, sizeof *o->k, key_cmp);
  return at ? msgpack_pack_uint64(pk, (uint64_t)(at - o->k)) : -1;
}

static int pack_stamps(msgpack_packer *pk, const origins *o, const stamps *st)
{
  int rc = msgpack_pack_array(pk, (uint32_t)st->n);
  for (size_t i = 0; i < st->n; i++) {
    rc |= msgpack_pack_array(pk, 2);
    rc |= msgpack_pack_uint64(pk, st->v[i].hlc);
    rc |= pack_origin(pk, o, &st->v[i]);
  }
  return rc;
}

/* Append already-canonical value bytes. */
static int pack_raw(msgpack_sbuffer *sb, const uint8_t *p, size_t n)
{
  return msgpack_sbuffer_write(sb, (const char *)p, n);
}

/* About the bytes r encodes to (more, mostly): the buffer is taken at
 * that size once, not grown from msgpack-c's 8 KiB by doubling. */
static size_t encoded_guess(const crdt_record *r, const origins *o)
{
  size_t n = 64 + r->scope_len + r->coll_len +
             (o ? o->n * (CRDT_KEY_LEN + 2) : 0);
  size_t stamp = o ? 12 : 12 + CRDT_KEY_LEN + 2;
  for (size_t i = 0; i < r->nfields; i++) {
    const field *f = &r->fields[i];
    n += 8 + f->name_len + (f->has_reg ? stamp + f->reg_len : 1);
    for (size_t j = 0; j < f->nelems; j++)
      n += 12 + f->elems[j].len +
           (f->elems[j].adds.n + f->elems[j].rems.n) * (stamp + 1);
  }
  return n;
}

/* ---- version 3: no identity, a stamp table, numbered field names ---- */

/* Version 3's field names: the domain's (node/schema.c's collections),
 * sorted bytewise, a name here written as its index. Frozen: the bytes of
 * every stored record depend on it; it can only grow, at its end, in a
 * new version of the encoding (an index here means this name for ever).
 * At most 128 names, so that each index is one byte. */
#define V3_NAMES(X) \
   X("accepted") X("appeal") X("appeals") X("assigned") X("assignee") \
   X("attendees") X("birth_year") X("building") X("built") X("by") \
   X("category") X("claimants") X("closed") X("companions") X("contact") \
   X("convener") X("corrects") X("cost") X("count") X("date") X("decisions") \
   X("description") X("done") X("donor") X("due") X("emergency_contact") \
   X("emergency_phone") X("employer") X("feedback") X("findings") \
   X("floors") X("followups") X("fulfiller") X("gender") X("goods") \
   X("grid") X("hours") X("household") X("kind") X("leader") X("meeting") \
   X("member") X("members") X("month") X("move_reason") X("moved_from") \
   X("moved_out") X("moved_to") X("name") X("note") X("notes") X("opened") \
   X("opened_by") X("organizer") X("outsiders") X("participants") \
   X("passbook") X("person") X("phone") X("place") X("purpose") \
   X("resident") X("resolved") X("resources") X("room") X("served") \
   X("service") X("size") X("source") X("sponsor") X("status") X("tags") \
   X("team") X("title") X("topics") X("unit") X("units") X("visit") \
   X("visitors") X("what") X("worker") X("year")
#define V3_STR(s) s,
#define V3_LEN(s) (uint8_t)(sizeof s - 1),
static const char *const v3_names[] = {V3_NAMES(V3_STR)};
static const uint8_t v3_lens[] = {V3_NAMES(V3_LEN)};
#define V3_NNAMES (sizeof v3_names / sizeof v3_names[0])
static_assert(V3_NNAMES <= 128, "a name's index is one byte");

/* The index of a name in v3_names, or -1. */
static long v3_name_index(const char *name, size_t n)
{
  size_t lo = 0, hi = V3_NNAMES;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = bytes_cmp((const uint8_t *)v3_names[mid], v3_lens[mid],
                      (const uint8_t *)name, n);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

size_t crdt_record_v3_names(const char *const **names)
{
  if (names)
    *names = v3_names;
  return V3_NNAMES;
}

/* The stamp table of version 3: every stamp the record names, sorted
 * (crdt_stamp_cmp), once each; the first STAB_INLINE in the struct. */
#define STAB_INLINE 16

typedef struct stab {
  crdt_stamp *v;
  size_t n, cap;
  crdt_stamp inl[STAB_INLINE];
} stab;

static void stab_init(stab *t)
{
  t->v = t->inl;
  t->n = 0;
  t->cap = STAB_INLINE;
}

static void stab_free(stab *t)
{
  if (t->v != t->inl)
    free(t->v);
  t->v = t->inl;
}

static gs_err stab_reserve(stab *t, size_t need)
{
  void *v = t->v;
  gs_err err = table_reserve(&v, t->inl, t->n, &t->cap, need, sizeof *t->v);
  t->v = v;
  return err;
}

static gs_err stab_push(stab *t, const crdt_stamp *s)
{
  /* most stamps repeat the last one pushed (one change wrote them) */
  if (t->n && crdt_stamp_cmp(&t->v[t->n - 1], s) == 0)
    return GS_OK;
  if (stab_reserve(t, t->n + 1))
    return GS_ENOMEM;
  t->v[t->n++] = *s;
  return GS_OK;
}

static int stamp_qcmp(const void *a, const void *b)
{
  return crdt_stamp_cmp(a, b);
}

static gs_err stab_push_cb(void *ctx, const crdt_stamp *s)
{
  return stab_push(ctx, s);
}

static gs_err stab_collect(const crdt_record *r, stab *t)
{
  gs_err err = stamps_each(r, stab_push_cb, t);
  if (err || t->n < 2)
    return err;
  qsort(t->v, t->n, sizeof *t->v, stamp_qcmp);
  size_t w = 1;
  for (size_t i = 1; i < t->n; i++)
    if (crdt_stamp_cmp(&t->v[i], &t->v[w - 1]) != 0)
      t->v[w++] = t->v[i];
  t->n = w;
  return GS_OK;
}

/* The index of s in t (it is there: t was collected from the record). */
static uint64_t stab_index(const stab *t, const crdt_stamp *s)
{
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = crdt_stamp_cmp(&t->v[mid], s);
    if (c == 0)
      return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The origin table of a stamp table: its origins sorted, once each. */
static gs_err stab_origins(const stab *t, origins *o)
{
  for (size_t i = 0; i < t->n; i++) {
    bool seen = false;
    for (size_t j = 0; j < o->n && !seen && o->n <= ORIGINS_INLINE; j++)
      seen = memcmp(o->k[j], t->v[i].origin, CRDT_KEY_LEN) == 0;
    if (!seen && origins_push(o, &t->v[i]))
      return GS_ENOMEM;
  }
  if (o->n < 2)
    return GS_OK;
  qsort(o->k, o->n, sizeof *o->k, key_cmp);
  size_t w = 1;
  for (size_t i = 1; i < o->n; i++)
    if (memcmp(o->k[i], o->k[w - 1], CRDT_KEY_LEN) != 0)
      memmove(o->k[w++], o->k[i], CRDT_KEY_LEN);
  o->n = w;
  return GS_OK;
}

static uint64_t origin_index(const origins *o, const uint8_t *k)
{
  if (o->n <= ORIGINS_INLINE) {
    for (size_t i = 0; i < o->n; i++)
      if (memcmp(o->k[i], k, CRDT_KEY_LEN) == 0)
        return i;
    return o->n;
  }
  const uint8_t (*at)[CRDT_KEY_LEN] = bsearch(k, o->k, o->n, sizeof *o->k,
                                              key_cmp);
  return at ? (uint64_t)(at - o->k) : o->n;
}

static int pack_sidx(msgpack_packer *pk, const stab *t, const crdt_stamp *s)
{
  return msgpack_pack_uint64(pk, stab_index(t, s));
}

static int pack_sidxs(msgpack_packer *pk, const stab *t, const stamps *st)
{
  int rc = msgpack_pack_array(pk, (uint32_t)st->n);
  for (size_t i = 0; i < st->n; i++)
    rc |= pack_sidx(pk, t, &st->v[i]);
  return rc;
}

/* Version 3 (see the top of this file). */
static gs_err encode_v3(const crdt_record *r, uint8_t **out, size_t *n)
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  origins o;
  stab t;
  int rc = 0;
  origins_init(&o);
  stab_init(&t);
  msgpack_sbuffer_init(&sb);
  if (stab_collect(r, &t) || stab_origins(&t, &o)) {
    rc = -1;
    goto out;
  }
  size_t guess = encoded_guess(r, &o);
  if ((sb.data = malloc(guess)) != NULL)
    sb.alloc = guess;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  rc |= msgpack_pack_array(&pk, 5);
  rc |= msgpack_pack_uint32(&pk, 3);
  rc |= msgpack_pack_array(&pk, (uint32_t)o.n);
  for (size_t i = 0; i < o.n; i++)
    rc |= msgpack_pack_bin_with_body(&pk, o.k[i], CRDT_KEY_LEN);
  /* the stamps: hlc (the first) or its rise over the one before, and
   * the origin's index; flat, two ints a stamp */
  rc |= msgpack_pack_array(&pk, (uint32_t)(2 * t.n));
  for (size_t i = 0; i < t.n; i++) {
    rc |= msgpack_pack_uint64(&pk, i ? t.v[i].hlc - t.v[i - 1].hlc
                                     : t.v[i].hlc);
    rc |= msgpack_pack_uint64(&pk, origin_index(&o, t.v[i].origin));
  }
  if (r->has_del) {
    rc |= msgpack_pack_array(&pk, 2);
    rc |= pack_sidx(&pk, &t, &r->del_stamp);
    rc |= r->deleted ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
  } else {
    rc |= msgpack_pack_nil(&pk);
  }
  size_t items = 0; /* the fields, flat */
  for (size_t i = 0; i < r->nfields; i++)
    items += (r->fields[i].has_reg ? 3 : 2) + (r->fields[i].nelems > 0);
  if (items > UINT32_MAX) {
    rc = -1;
    goto out;
  }
  rc |= msgpack_pack_array(&pk, (uint32_t)items);
  for (size_t i = 0; i < r->nfields; i++) {
    const field *f = &r->fields[i];
    long ni = v3_name_index(f->name, f->name_len);
    rc |= ni >= 0 ? msgpack_pack_uint64(&pk, (uint64_t)ni)
                  : msgpack_pack_str_with_body(&pk, f->name, f->name_len);
    if (f->has_reg) {
      rc |= pack_sidx(&pk, &t, &f->reg_stamp);
      rc |= pack_raw(&sb, f->reg_val, f->reg_len);
    } else {
      rc |= msgpack_pack_nil(&pk);
    }
    if (!f->nelems)
      continue;
    rc |= msgpack_pack_array(&pk, (uint32_t)f->nelems);
    for (size_t j = 0; j < f->nelems; j++) {
      const elem *e = &f->elems[j];
      rc |= msgpack_pack_array(&pk, e->rems.n ? 3 : 2);
      rc |= pack_raw(&sb, e->val, e->len);
      rc |= pack_sidxs(&pk, &t, &e->adds);
      if (e->rems.n)
        rc |= pack_sidxs(&pk, &t, &e->rems);
    }
  }
out:
  origins_free(&o);
  stab_free(&t);
  if (rc) {
    msgpack_sbuffer_destroy(&sb);
    return GS_ENOMEM;
  }
  crdt__sb_take(&sb, out, n);
  return GS_OK;
}

static gs_err encode_version(const crdt_record *r, unsigned ver,
                             uint8_t **out, size_t *n)
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  origins tab, *o = NULL;
  if (ver == 3)
    return encode_v3(r, out, n);
  origins_init(&tab);
  if (ver == 2) {
    if (origins_collect(r, &tab) != GS_OK) {
      origins_free(&tab);
      return GS_ENOMEM;
    }
    o = &tab;
  }
  msgpack_sbuffer_init(&sb);
  size_t guess = encoded_guess(r, o);
  if ((sb.data = malloc(guess)) != NULL)
    sb.alloc = guess; /* else msgpack-c's own growth */
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_array(&pk, o ? 7 : 6);
  rc |= msgpack_pack_uint32(&pk, ver);
  rc |= msgpack_pack_str_with_body(&pk, r->scope, r->scope_len);
  rc |= msgpack_pack_str_with_body(&pk, r->coll, r->coll_len);
  rc |= msgpack_pack_bin_with_body(&pk, r->id, CRDT_ID_LEN);
  if (o) {
    rc |= msgpack_pack_array(&pk, (uint32_t)o->n);
    for (size_t i = 0; i < o->n; i++)
      rc |= msgpack_pack_bin_with_body(&pk, o->k[i], CRDT_KEY_LEN);
  }
  if (r->has_del) {
    rc |= msgpack_pack_array(&pk, 3);
    rc |= msgpack_pack_uint64(&pk, r->del_stamp.hlc);
    rc |= pack_origin(&pk, o, &r->del_stamp);
    rc |= r->deleted ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
  } else {
    rc |= msgpack_pack_nil(&pk);
  }
  rc |= msgpack_pack_array(&pk, (uint32_t)r->nfields);
  for (size_t i = 0; i < r->nfields; i++) {
    const field *f = &r->fields[i];
    rc |= msgpack_pack_array(&pk, 3);
    rc |= msgpack_pack_str_with_body(&pk, f->name, f->name_len);
    if (f->has_reg) {
      rc |= msgpack_pack_array(&pk, 3);
      rc |= msgpack_pack_uint64(&pk, f->reg_stamp.hlc);
      rc |= pack_origin(&pk, o, &f->reg_stamp);
      rc |= pack_raw(&sb, f->reg_val, f->reg_len);
    } else {
      rc |= msgpack_pack_nil(&pk);
    }
    rc |= msgpack_pack_array(&pk, (uint32_t)f->nelems);
    for (size_t j = 0; j < f->nelems; j++) {
      const elem *e = &f->elems[j];
      rc |= msgpack_pack_array(&pk, 3);
      rc |= pack_raw(&sb, e->val, e->len);
      rc |= pack_stamps(&pk, o, &e->adds);
      rc |= pack_stamps(&pk, o, &e->rems);
    }
  }
  origins_free(&tab);
  if (rc) {
    msgpack_sbuffer_destroy(&sb);
    return GS_ENOMEM;
  }
  crdt__sb_take(&sb, out, n);
  return GS_OK;
}

gs_err crdt_record_encode(const crdt_record *r, uint8_t **out, size_t *n)
{
  return encode_version(r, RECORD_VERSION, out, n);
}

gs_err crdt_record_encode_v1(const crdt_record *r, uint8_t **out, size_t *n)
{
  return encode_version(r, 1, out, n);
}

gs_err crdt_record_encode_v2(const crdt_record *r, uint8_t **out, size_t *n)
{
  return encode_version(r, 2, out, n);
}

unsigned crdt_record_version(const uint8_t *buf, size_t n)
{
  /* fixarray of 6 or 7 (versions 1, 2) or 5 (version 3), then the
   * version as a positive fixint */
  if (n < 2 || buf[1] > 0x7f)
    return 0;
  if (buf[0] == 0x95)
    return buf[1] == 3 ? 3 : 0;
  if (buf[0] != 0x96 && buf[0] != 0x97)
    return 0;
  return buf[1];
}

/* Value bytes of o: re-encode (decode checked it is a valid value). */
static gs_err value_bytes(const msgpack_object *o, msgpack_sbuffer *sb)
{
  crdt_value v;
  msgpack_packer pk;
  gs_err err = crdt__value_from_obj(o, &v);
  if (err)
    return err;
  sb->size = 0;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  return crdt__value_pack(&pk, &v) ? GS_ENOMEM : GS_OK;
}

/* The origin of a stamp: 32 bytes in version 1, an index into the
 * table in version 2. */
static gs_err obj_origin(const msgpack_object *o, const origins *tab,
                         uint8_t out[CRDT_KEY_LEN])
{
  uint64_t i;
  if (!tab)
    return crdt__obj_bin(o, CRDT_KEY_LEN, out);
  if (crdt__obj_uint(o, &i) || i >= tab->n)
    return GS_EDECODE;
  memcpy(out, tab->k[i], CRDT_KEY_LEN);
  return GS_OK;
}

static gs_err decode_stamps(const msgpack_object *o, const origins *tab,
                            bool rems, elem *e)
{
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return GS_EDECODE;
  for (uint32_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *so = &o->via.array.ptr[i];
    crdt_stamp s;
    if (so->type != MSGPACK_OBJECT_ARRAY || so->via.array.size != 2 ||
        crdt__obj_uint(&so->via.array.ptr[0], &s.hlc))
      return GS_EDECODE;
    if (!crdt_hlc_valid(s.hlc))
      return GS_ECLOCK;
    gs_err err = obj_origin(&so->via.array.ptr[1], tab, s.origin);
    if (err)
      return err;
    err = rems ? elem_remove(e, &s) : elem_add(e, &s);
    if (err)
      return err;
  }
  return GS_OK;
}

gs_err crdt_record_decode(const uint8_t *buf, size_t n, crdt_record **out)
{
  msgpack_unpacked u;
  msgpack_sbuffer vb;
  crdt_record *r = NULL;
  uint8_t *check = NULL;
  size_t checklen;
  uint64_t ver;
  origins tab, *ot = NULL;
  gs_err err;

  *out = NULL;
  origins_init(&tab);
  msgpack_sbuffer_init(&vb);
  if ((err = crdt__mp_unpack(buf, n, RECORD_DEPTH, &u)) != GS_OK)
    goto fail;
  const msgpack_object *o = &u.data;
  err = GS_EDECODE;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
    goto fail;
  const msgpack_object *a = o->via.array.ptr;
  if (crdt__obj_uint(&a[0], &ver) || (ver != 1 && ver != 2) ||
      o->via.array.size != (ver == 1 ? 6 : 7))
    goto fail;
  if (a[1].type != MSGPACK_OBJECT_STR || a[2].type != MSGPACK_OBJECT_STR ||
      a[3].type != MSGPACK_OBJECT_BIN || a[3].via.bin.size != CRDT_ID_LEN)
    goto fail;
  r = crdt_record_new(a[1].via.str.ptr, a[1].via.str.size, a[2].via.str.ptr,
                      a[2].via.str.size, (const uint8_t *)a[3].via.bin.ptr);
  if (!r)
    goto fail;
  if (ver == 2) {
    /* the table: bounded by the message (34 bytes an entry) */
    if (a[4].type != MSGPACK_OBJECT_ARRAY)
      goto fail;
    if (origins_reserve(&tab, a[4].via.array.size)) {
      err = GS_ENOMEM;
      goto fail;
    }
    tab.n = a[4].via.array.size;
    for (size_t i = 0; i < tab.n; i++)
      if (crdt__obj_bin(&a[4].via.array.ptr[i], CRDT_KEY_LEN, tab.k[i]))
        goto fail;
    ot = &tab;
    a++; /* the rest is laid out as in version 1 */
  }
  if (a[4].type == MSGPACK_OBJECT_ARRAY) {
    const msgpack_object *d = a[4].via.array.ptr;
    crdt_stamp s;
    if (a[4].via.array.size != 3 || crdt__obj_uint(&d[0], &s.hlc) ||
        !crdt_hlc_valid(s.hlc) || obj_origin(&d[1], ot, s.origin) ||
        d[2].type != MSGPACK_OBJECT_BOOLEAN)
      goto fail;
    del_merge(r, &s, d[2].via.boolean);
  } else if (a[4].type != MSGPACK_OBJECT_NIL) {
    goto fail;
  }
  if (a[5].type != MSGPACK_OBJECT_ARRAY)
    goto fail;
  for (uint32_t i = 0; i < a[5].via.array.size; i++) {
    const msgpack_object *fo = &a[5].via.array.ptr[i];
    const char *name;
    size_t name_len;
    field *f;
    err = GS_EDECODE;
    if (fo->type != MSGPACK_OBJECT_ARRAY || fo->via.array.size != 3)
      goto fail;
    const msgpack_object *fa = fo->via.array.ptr;
    if ((err = crdt__obj_name(&fa[0], &name, &name_len)) != GS_OK ||
        (err = field_get(r, name, name_len, &f)) != GS_OK)
      goto fail;
    err = GS_EDECODE;
    if (fa[1].type == MSGPACK_OBJECT_ARRAY) {
      const msgpack_object *ra = fa[1].via.array.ptr;
      crdt_stamp s;
      if (fa[1].via.array.size != 3 || crdt__obj_uint(&ra[0], &s.hlc) ||
          !crdt_hlc_valid(s.hlc) || obj_origin(&ra[1], ot, s.origin) ||
          value_bytes(&ra[2], &vb) ||
          reg_merge(r, f, &s, (uint8_t *)vb.data, vb.size))
        goto fail;
    } else if (fa[1].type != MSGPACK_OBJECT_NIL) {
      goto fail;
    }
    if (fa[2].type != MSGPACK_OBJECT_ARRAY)
      goto fail;
    for (uint32_t j = 0; j < fa[2].via.array.size; j++) {
      const msgpack_object *eo = &fa[2].via.array.ptr[j];
      elem *e;
      if (eo->type != MSGPACK_OBJECT_ARRAY || eo->via.array.size != 3 ||
          value_bytes(&eo->via.array.ptr[0], &vb) ||
          elem_get(r, f, (uint8_t *)vb.data, vb.size, &e) ||
          decode_stamps(&eo->via.array.ptr[2], ot, true, e) ||
          decode_stamps(&eo->via.array.ptr[1], ot, false, e))
        goto fail;
    }
  }
  /* Only canonical bytes are accepted: re-encode and compare (this also
   * refuses a table out of order, repeated, or naming an unused key). */
  if ((err = encode_version(r, (unsigned)ver, &check, &checklen)) != GS_OK)
    goto fail;
  if (checklen != n || memcmp(check, buf, n) != 0) {
    err = GS_EDECODE;
    goto fail;
  }
  free(check);
  origins_free(&tab);
  msgpack_sbuffer_destroy(&vb);
  msgpack_unpacked_destroy(&u);
  *out = r;
  return GS_OK;
fail:
  free(check);
  origins_free(&tab);
  msgpack_sbuffer_destroy(&vb);
  msgpack_unpacked_destroy(&u);
  crdt_record_free(r);
  return err;
}

/* ---- a direct reader for stored state (crdt_record_decode_state) ----
 * The same layout as the decoder above reads through msgpack-c's object
 * tree, read straight from the bytes: no tree, no zone, no re-encode.
 * Every read is bounded by the buffer; a value is one well-formed
 * msgpack element of depth at most 1 (what crdt_value_decode accepts),
 * kept as its bytes. */
typedef struct rd {
  const uint8_t *p, *end;
} rd;

static uint64_t rd_be(const uint8_t *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static gs_err rd_take(rd *r, size_t n, const uint8_t **out)
{
  if ((size_t)(r->end - r->p) < n)
    return GS_ETRUNC;
  *out = r->p;
  r->p += n;
  return GS_OK;
}

static gs_err rd_array(rd *r, size_t *n)
{
  const uint8_t *b;
  if (rd_take(r, 1, &b))
    return GS_ETRUNC;
  if (*b >= 0x90 && *b <= 0x9f) {
    *n = *b & 0x0f;
  } else if (*b == 0xdc || *b == 0xdd) {
    size_t h = *b == 0xdc ? 2 : 4;
    if (rd_take(r, h, &b))
      return GS_ETRUNC;
    *n = (size_t)rd_be(b, h);
  } else {
    return GS_EDECODE;
  }
  /* every element takes at least a byte */
  return *n <= (size_t)(r->end - r->p) ? GS_OK : GS_ETRUNC;
}

static bool rd_nil(rd *r)
{
  if (r->p < r->end && *r->p == 0xc0) {
    r->p++;
    return true;
  }
  return false;
}

static gs_err rd_uint(rd *r, uint64_t *v)
{
  const uint8_t *b;
  if (rd_take(r, 1, &b))
    return GS_ETRUNC;
  if (*b <= 0x7f) {
    *v = *b;
    return GS_OK;
  }
  size_t h = *b == 0xcc ? 1 : *b == 0xcd ? 2 : *b == 0xce ? 4
             : *b == 0xcf ? 8 : 0;
  if (!h)
    return GS_EDECODE;
  if (rd_take(r, h, &b))
    return GS_ETRUNC;
  *v = rd_be(b, h);
  return GS_OK;
}

/* A str (bin: false) or bin (bin: true). */
static gs_err rd_bytes(rd *r, bool bin, const uint8_t **p, size_t *n)
{
  const uint8_t *b;
  size_t h;
  if (rd_take(r, 1, &b))
    return GS_ETRUNC;
  if (!bin && *b >= 0xa0 && *b <= 0xbf) {
    *n = *b & 0x1f;
    return rd_take(r, *n, p);
  }
  if (bin)
    h = *b == 0xc4 ? 1 : *b == 0xc5 ? 2 : *b == 0xc6 ? 4 : 0;
  else
    h = *b == 0xd9 ? 1 : *b == 0xda ? 2 : *b == 0xdb ? 4 : 0;
  if (!h)
    return GS_EDECODE;
  if (rd_take(r, h, &b))
    return GS_ETRUNC;
  *n = (size_t)rd_be(b, h);
  return rd_take(r, *n, p);
}

/* msgpack-c's writer for the canonical check: compares what is packed
 * with the bytes read, no buffer. */
typedef struct cmp_out {
  const uint8_t *p;
  size_t n, at;
  bool differs;
} cmp_out;

static int cmp_write(void *data, const char *buf, size_t len)
{
  cmp_out *c = data;
  if (c->differs || len > c->n - c->at ||
      memcmp(c->p + c->at, buf, len) != 0)
    c->differs = true;
  else
    c->at += len;
  return 0;
}

/* A str value (most values): what rd_value checks, in its order (the
 * bytes there, at most CRDT_TEXT_MAX, UTF-8, then the header msgpack-c
 * writes for that length: fixstr below 32, str8 below 256, str16 below
 * 65536), without packing it again. */
static gs_err rd_str_value(rd *r, const uint8_t **p, size_t *n)
{
  const uint8_t *b = r->p;
  size_t avail = (size_t)(r->end - r->p), h, len;
  if (*b <= 0xbf) {
    h = 1;
    len = *b & 0x1f;
  } else {
    size_t w = *b == 0xd9 ? 1 : *b == 0xda ? 2 : 4;
    if (avail < 1 + w)
      return GS_ETRUNC;
    h = 1 + w;
    len = (size_t)rd_be(b + 1, w);
  }
  if (len > avail - h)
    return GS_ETRUNC;
  if (len > CRDT_TEXT_MAX)
    return GS_ETOOBIG;
  if (!crdt_utf8_valid((const char *)b + h, len))
    return GS_EUTF8;
  if (h != (len < 32 ? 1u : len < 256 ? 2u : len < 65536 ? 3u : 5u))
    return GS_EDECODE;
  *n = h + len;
  return rd_take(r, *n, p);
}

/* One value (a scalar: nil, bool, int, float64, str, bin, or the ref
 * extension): checked as crdt_value_check does, and in its canonical
 * form (packed again, compared in place); kept as its bytes. */
static gs_err rd_value(rd *r, const uint8_t **p, size_t *n)
{
  if (r->p < r->end &&
      ((*r->p >= 0xa0 && *r->p <= 0xbf) || (*r->p >= 0xd9 && *r->p <= 0xdb)))
    return rd_str_value(r, p, n);
  gs_err err = crdt__mp_span(r->p, (size_t)(r->end - r->p), 0, n);
  if (err)
    return err;
  const uint8_t *b = r->p, *q;
  size_t len;
  crdt_value v;
  memset(&v, 0, sizeof v);
  rd in = {b, b + *n};
  if (*b == 0xc0) {
    v.type = CRDT_NIL;
  } else if (*b == 0xc2 || *b == 0xc3) {
    v.type = CRDT_BOOL;
    v.u.b = *b == 0xc3;
  } else if (*b <= 0x7f || (*b >= 0xcc && *b <= 0xcf)) {
    uint64_t u;
    if ((err = rd_uint(&in, &u)) != GS_OK)
      return err;
    if (u > INT64_MAX)
      return GS_ETOOBIG;
    v.type = CRDT_INT;
    v.u.i = (int64_t)u;
  } else if (*b >= 0xe0) {
    v.type = CRDT_INT;
    v.u.i = (int8_t)*b;
  } else if (*b >= 0xd0 && *b <= 0xd3) {
    size_t h = (size_t)1 << (*b - 0xd0);
    uint64_t u = rd_be(b + 1, h);
    v.type = CRDT_INT; /* sign-extend the h-byte two's complement */
    v.u.i = h == 8 ? (int64_t)u
                   : (int64_t)(u ^ (1ull << (8 * h - 1))) -
                         (int64_t)(1ull << (8 * h - 1));
  } else if (*b == 0xcb) {
    uint64_t u = rd_be(b + 1, 8);
    v.type = CRDT_FLOAT;
    memcpy(&v.u.f, &u, sizeof v.u.f);
  } else if ((*b >= 0xa0 && *b <= 0xbf) || (*b >= 0xd9 && *b <= 0xdb) ||
             (*b >= 0xc4 && *b <= 0xc6)) {
    bool bin = *b >= 0xc4 && *b <= 0xc6;
    if ((err = rd_bytes(&in, bin, &q, &len)) != GS_OK)
      return err;
    v.type = bin ? CRDT_BYTES : CRDT_STR;
    v.u.s.p = (const char *)q;
    v.u.s.n = len;
  } else if (*b == 0xc7 && *n >= 3 && b[2] == 1 && b[1] > CRDT_ID_LEN) {
    v.type = CRDT_REF; /* ext8, type 1: id then collection */
    memcpy(v.u.ref.id, b + 3, CRDT_ID_LEN);
    v.u.ref.coll = (const char *)b + 3 + CRDT_ID_LEN;
    v.u.ref.coll_len = b[1] - CRDT_ID_LEN;
  } else {
    return GS_EDECODE; /* float32, other extensions, containers */
  }
  if ((err = crdt_value_check(&v)) != GS_OK)
    return err;
  cmp_out c = {b, *n, 0, false};
  msgpack_packer pk;
  msgpack_packer_init(&pk, &c, cmp_write);
  if (crdt__value_pack(&pk, &v) != 0 || c.differs || c.at != *n)
    return GS_EDECODE;
  return rd_take(r, *n, p);
}

/* A stamp's hlc then origin (32 bytes in version 1, else a table index). */
static gs_err rd_stamp(rd *r, const origins *tab, crdt_stamp *s)
{
  gs_err err = rd_uint(r, &s->hlc);
  if (err)
    return err;
  if (!crdt_hlc_valid(s->hlc))
    return GS_ECLOCK;
  if (!tab) {
    const uint8_t *k;
    size_t kn;
    if ((err = rd_bytes(r, true, &k, &kn)) != GS_OK)
      return err;
    if (kn != CRDT_KEY_LEN)
      return GS_EDECODE;
    memcpy(s->origin, k, CRDT_KEY_LEN);
    return GS_OK;
  }
  uint64_t i;
  if ((err = rd_uint(r, &i)) != GS_OK)
    return err;
  if (i >= tab->n)
    return GS_EDECODE;
  memcpy(s->origin, tab->k[i], CRDT_KEY_LEN);
  return GS_OK;
}

static gs_err rd_stamps(rd *r, const origins *tab, bool rems, elem *e)
{
  size_t n;
  gs_err err = rd_array(r, &n);
  for (size_t i = 0; i < n && !err; i++) {
    size_t two;
    crdt_stamp s;
    if ((err = rd_array(r, &two)) != GS_OK)
      break;
    if (two != 2)
      return GS_EDECODE;
    if ((err = rd_stamp(r, tab, &s)) != GS_OK)
      break;
    err = rems ? elem_remove(e, &s) : elem_add(e, &s);
  }
  return err;
}

static gs_err rd_field(rd *r, crdt_record *rec, const origins *tab)
{
  size_t n, nn, ne;
  const uint8_t *name, *val;
  field *f;
  gs_err err;
  if ((err = rd_array(r, &n)) != GS_OK)
    return err;
  if (n != 3)
    return GS_EDECODE;
  if ((err = rd_bytes(r, false, &name, &nn)) != GS_OK)
    return err;
  if (!crdt_name_valid((const char *)name, nn))
    return GS_ENAME;
  if ((err = field_get(rec, (const char *)name, nn, &f)) != GS_OK)
    return err;
  if (!rd_nil(r)) {
    crdt_stamp s;
    size_t vn;
    if ((err = rd_array(r, &n)) != GS_OK)
      return err;
    if (n != 3)
      return GS_EDECODE;
    if ((err = rd_stamp(r, tab, &s)) != GS_OK ||
        (err = rd_value(r, &val, &vn)) != GS_OK ||
        (err = reg_merge(rec, f, &s, val, vn)) != GS_OK)
      return err;
  }
  if ((err = rd_array(r, &ne)) != GS_OK)
    return err;
  for (size_t j = 0; j < ne; j++) {
    elem *e;
    size_t vn;
    if ((err = rd_array(r, &n)) != GS_OK)
      return err;
    if (n != 3)
      return GS_EDECODE;
    if ((err = rd_value(r, &val, &vn)) != GS_OK ||
        (err = elem_get(rec, f, val, vn, &e)) != GS_OK)
      return err;
    /* the adds follow the removes in the bytes: read them in the
     * decoder's order (removes first), from a second reader */
    rd adds = *r;
    size_t skip;
    if ((err = crdt__mp_span(r->p, (size_t)(r->end - r->p), 2, &skip)))
      return err;
    r->p += skip;
    if ((err = rd_stamps(r, tab, true, e)) != GS_OK ||
        (err = rd_stamps(&adds, tab, false, e)) != GS_OK)
      return err;
  }
  return GS_OK;
}

/* ---- version 3's reader ---- */

/* A stamp named by its index into t. */
static gs_err rd_sidx(rd *r, const stab *t, crdt_stamp *s)
{
  uint64_t i;
  gs_err err = rd_uint(r, &i);
  if (err)
    return err;
  if (i >= t->n)
    return GS_EDECODE;
  *s = t->v[i];
  return GS_OK;
}

static gs_err rd_sidxs(rd *r, const stab *t, bool rems, elem *e)
{
  size_t n;
  gs_err err = rd_array(r, &n);
  for (size_t i = 0; i < n && !err; i++) {
    crdt_stamp s;
    if ((err = rd_sidx(r, t, &s)) != GS_OK)
      break;
    err = rems ? elem_remove(e, &s) : elem_add(e, &s);
  }
  return err;
}

static bool rd_is_array(const rd *r)
{
  return r->p < r->end &&
         ((*r->p >= 0x90 && *r->p <= 0x9f) || *r->p == 0xdc || *r->p == 0xdd);
}

/* One field from the flat list of fields, *left items of it unread:
 * name, then s and value (a register) or nil, then its elements when the
 * next item is an array (a name never is). */
static gs_err rd_field3(rd *r, crdt_record *rec, const stab *t, size_t *left)
{
  size_t nn, ne = 0;
  const uint8_t *name, *val;
  field *f;
  gs_err err;
  if (*left < 2)
    return GS_EDECODE;
  if (r->p < r->end && (*r->p <= 0x7f || (*r->p >= 0xcc && *r->p <= 0xcf))) {
    uint64_t i;
    if ((err = rd_uint(r, &i)) != GS_OK)
      return err;
    if (i >= V3_NNAMES)
      return GS_EDECODE;
    name = (const uint8_t *)v3_names[i];
    nn = v3_lens[i];
  } else {
    if ((err = rd_bytes(r, false, &name, &nn)) != GS_OK)
      return err;
    if (!crdt_name_valid((const char *)name, nn))
      return GS_ENAME;
  }
  if ((err = field_get(rec, (const char *)name, nn, &f)) != GS_OK)
    return err;
  *left -= 2;
  if (!rd_nil(r)) {
    crdt_stamp s;
    size_t vn;
    if (*left < 1)
      return GS_EDECODE;
    *left -= 1;
    if ((err = rd_sidx(r, t, &s)) != GS_OK ||
        (err = rd_value(r, &val, &vn)) != GS_OK ||
        (err = reg_merge(rec, f, &s, val, vn)) != GS_OK)
      return err;
  }
  if (*left && rd_is_array(r)) {
    *left -= 1;
    if ((err = rd_array(r, &ne)) != GS_OK)
      return err;
  }
  for (size_t j = 0; j < ne; j++) {
    elem *e;
    size_t vn, m, skip;
    if ((err = rd_array(r, &m)) != GS_OK)
      return err;
    if (m != 2 && m != 3)
      return GS_EDECODE;
    if ((err = rd_value(r, &val, &vn)) != GS_OK ||
        (err = elem_get(rec, f, val, vn, &e)) != GS_OK)
      return err;
    if (m == 2) { /* [value, [adds]]: none removed */
      if ((err = rd_sidxs(r, t, false, e)) != GS_OK)
        return err;
      continue;
    }
    /* removes first, as rd_field reads them */
    rd adds = *r;
    if ((err = crdt__mp_span(r->p, (size_t)(r->end - r->p), 1, &skip)))
      return err;
    r->p += skip;
    if ((err = rd_sidxs(r, t, true, e)) != GS_OK ||
        (err = rd_sidxs(&adds, t, false, e)) != GS_OK)
      return err;
  }
  return GS_OK;
}

/* The body of a version-3 record after its version: origin table, stamp
 * table, tombstone, fields, nothing after them. */
static gs_err rd_body3(rd *r, crdt_record *rec)
{
  origins o;
  stab t;
  size_t no, ns, nf;
  gs_err err;
  origins_init(&o);
  stab_init(&t);
  if ((err = rd_array(r, &no)) != GS_OK)
    goto out;
  if ((err = origins_reserve(&o, no)) != GS_OK)
    goto out;
  for (size_t i = 0; i < no; i++) {
    const uint8_t *k;
    size_t kn;
    if ((err = rd_bytes(r, true, &k, &kn)) != GS_OK)
      goto out;
    err = GS_EDECODE;
    if (kn != CRDT_KEY_LEN)
      goto out;
    memcpy(o.k[i], k, CRDT_KEY_LEN);
    o.n++;
  }
  if ((err = rd_array(r, &ns)) != GS_OK)
    goto out;
  err = GS_EDECODE;
  if (ns % 2)
    goto out;
  if ((err = stab_reserve(&t, ns / 2)) != GS_OK) /* bounded: rd_array */
    goto out;
  for (size_t i = 0; i < ns / 2; i++) {
    uint64_t h, oi;
    if ((err = rd_uint(r, &h)) != GS_OK || (err = rd_uint(r, &oi)) != GS_OK)
      goto out;
    err = GS_EDECODE;
    if (oi >= o.n || (i && h > UINT64_MAX - t.v[i - 1].hlc))
      goto out;
    t.v[i].hlc = i ? t.v[i - 1].hlc + h : h;
    memcpy(t.v[i].origin, o.k[oi], CRDT_KEY_LEN);
    err = GS_ECLOCK;
    if (!crdt_hlc_valid(t.v[i].hlc))
      goto out;
    t.n++;
  }
  if (!rd_nil(r)) {
    size_t two;
    crdt_stamp s;
    const uint8_t *b;
    if ((err = rd_array(r, &two)) != GS_OK)
      goto out;
    err = GS_EDECODE;
    if (two != 2)
      goto out;
    if ((err = rd_sidx(r, &t, &s)) != GS_OK || (err = rd_take(r, 1, &b)))
      goto out;
    err = GS_EDECODE;
    if (*b != 0xc2 && *b != 0xc3)
      goto out;
    del_merge(rec, &s, *b == 0xc3);
  }
  if ((err = rd_array(r, &nf)) != GS_OK)
    goto out;
  /* a field is at least 2 items of a byte; mostly 3 */
  if ((err = grow((void **)&rec->fields, &rec->cap, nf / 3 + 1,
                  sizeof *rec->fields)) != GS_OK)
    goto out;
  while (nf && !err)
    err = rd_field3(r, rec, &t, &nf);
  if (!err && r->p != r->end)
    err = GS_ETRAILING;
out:
  origins_free(&o);
  stab_free(&t);
  return err;
}

/* A record's identity given by its reader (the store's key), or NULL:
 * read from the bytes (versions 1 and 2 only). */
typedef struct ident {
  const char *scope, *coll;
  size_t sn, cn;
  const uint8_t *id;
} ident;

static bool ident_is(const ident *k, const crdt_record *r)
{
  return k->sn == r->scope_len && k->cn == r->coll_len &&
         memcmp(k->scope, r->scope, k->sn) == 0 &&
         memcmp(k->coll, r->coll, k->cn) == 0 &&
         memcmp(k->id, r->id, CRDT_ID_LEN) == 0;
}

static gs_err decode_direct(const uint8_t *buf, size_t n, const ident *key,
                            crdt_record **out)
{
  rd r = {buf, buf + n};
  origins tab, *ot = NULL;
  crdt_record *rec = NULL;
  const uint8_t *sp, *cp, *id;
  size_t len, sn, cn, idn, nf;
  uint64_t ver;
  gs_err err;

  *out = NULL;
  origins_init(&tab);
  if ((err = rd_array(&r, &len)) != GS_OK || (err = rd_uint(&r, &ver)))
    goto fail;
  err = GS_EDECODE;
  if (ver == 3 && len == 5 && key) {
    err = GS_EINVAL;
    if (!(rec = crdt_record_new(key->scope, key->sn, key->coll, key->cn,
                                key->id)))
      goto fail;
    if ((err = rd_body3(&r, rec)) != GS_OK)
      goto fail;
    *out = rec;
    return GS_OK;
  }
  if ((ver != 1 && ver != 2) || len != (ver == 1 ? 6 : 7))
    goto fail;
  if ((err = rd_bytes(&r, false, &sp, &sn)) != GS_OK ||
      (err = rd_bytes(&r, false, &cp, &cn)) != GS_OK ||
      (err = rd_bytes(&r, true, &id, &idn)) != GS_OK)
    goto fail;
  err = GS_EDECODE;
  if (idn != CRDT_ID_LEN)
    goto fail;
  rec = crdt_record_new((const char *)sp, sn, (const char *)cp, cn, id);
  if (!rec || (key && !ident_is(key, rec)))
    goto fail;
  if (ver == 2) {
    size_t nt;
    if ((err = rd_array(&r, &nt)) != GS_OK)
      goto fail;
    if (origins_reserve(&tab, nt)) {
      err = GS_ENOMEM;
      goto fail;
    }
    tab.n = nt;
    for (size_t i = 0; i < nt; i++) {
      const uint8_t *k;
      size_t kn;
      if ((err = rd_bytes(&r, true, &k, &kn)) != GS_OK)
        goto fail;
      err = GS_EDECODE;
      if (kn != CRDT_KEY_LEN)
        goto fail;
      memcpy(tab.k[i], k, CRDT_KEY_LEN);
    }
    ot = &tab;
  }
  if (!rd_nil(&r)) {
    size_t three;
    crdt_stamp s;
    const uint8_t *b;
    if ((err = rd_array(&r, &three)) != GS_OK)
      goto fail;
    err = GS_EDECODE;
    if (three != 3)
      goto fail;
    if ((err = rd_stamp(&r, ot, &s)) != GS_OK || (err = rd_take(&r, 1, &b)))
      goto fail;
    err = GS_EDECODE;
    if (*b != 0xc2 && *b != 0xc3)
      goto fail;
    del_merge(rec, &s, *b == 0xc3);
  }
  if ((err = rd_array(&r, &nf)) != GS_OK)
    goto fail;
  /* room for them at once, when the bytes left can hold them (a field
   * takes at least 5) */
  if (nf <= (size_t)(r.end - r.p) / 5 &&
      (err = grow((void **)&rec->fields, &rec->cap, nf,
                  sizeof *rec->fields)) != GS_OK)
    goto fail;
  for (size_t i = 0; i < nf; i++)
    if ((err = rd_field(&r, rec, ot)) != GS_OK)
      goto fail;
  err = GS_ETRAILING;
  if (r.p != r.end)
    goto fail;
  origins_free(&tab);
  *out = rec;
  return GS_OK;
fail:
  origins_free(&tab);
  crdt_record_free(rec);
  return err == GS_OK ? GS_EDECODE : err;
}

gs_err crdt_record_decode_state(const uint8_t *buf, size_t n,
                                crdt_record **out)
{
  return decode_direct(buf, n, NULL, out);
}

gs_err crdt_record_decode_state_key(const uint8_t *buf, size_t n,
                                    const char *scope, size_t sn,
                                    const char *coll, size_t cn,
                                    const uint8_t id[CRDT_ID_LEN],
                                    crdt_record **out)
{
  ident k = {scope, coll, sn, cn, id};
  *out = NULL;
  if (!scope || !coll || !id)
    return GS_EINVAL;
  return decode_direct(buf, n, &k, out);
}

gs_err crdt_record_decode_key(const uint8_t *buf, size_t n, const char *scope,
                              size_t sn, const char *coll, size_t cn,
                              const uint8_t id[CRDT_ID_LEN],
                              crdt_record **out)
{
  ident k = {scope, coll, sn, cn, id};
  uint8_t *check = NULL;
  size_t checklen;
  gs_err err;
  *out = NULL;
  if (!scope || !coll || !id)
    return GS_EINVAL;
  if (crdt_record_version(buf, n) != 3) {
    crdt_record *r;
    if ((err = crdt_record_decode(buf, n, &r)) != GS_OK)
      return err;
    if (!ident_is(&k, r)) { /* not the record its key names */
      crdt_record_free(r);
      return GS_EDECODE;
    }
    *out = r;
    return GS_OK;
  }
  crdt_record *r;
  if ((err = decode_direct(buf, n, &k, &r)) != GS_OK)
    return err;
  /* only canonical bytes: the table sorted, each stamp and origin once
   * and used, a name of the table by its number, every int in its
   * shortest form */
  if ((err = encode_v3(r, &check, &checklen)) != GS_OK)
    goto fail;
  err = GS_EDECODE;
  if (checklen != n || memcmp(check, buf, n) != 0)
    goto fail;
  free(check);
  *out = r;
  return GS_OK;
fail:
  free(check);
  crdt_record_free(r);
  return err;
}

gs_err crdt_record_copy(const crdt_record *r, crdt_record **out)
{
  uint8_t *b;
  size_t n;
  *out = NULL;
  gs_err err = encode_v3(r, &b, &n);
  if (err)
    return err;
  err = crdt_record_decode_state_key(b, n, r->scope, r->scope_len, r->coll,
                                     r->coll_len, r->id, out);
  free(b);
  return err;
}

/* ---- read access ---- */

void crdt_record_identity(const crdt_record *r, const char **scope,
                          size_t *scope_len, const char **coll,
                          size_t *coll_len, uint8_t id[CRDT_ID_LEN])
{
  if (scope)
    *scope = r->scope, *scope_len = r->scope_len;
  if (coll)
    *coll = r->coll, *coll_len = r->coll_len;
  if (id)
    memcpy(id, r->id, CRDT_ID_LEN);
}

bool crdt_record_deleted(const crdt_record *r)
{
  return r->has_del && r->deleted;
}

static void stamp_max(crdt_stamp *m, const crdt_stamp *s)
{
  if (crdt_stamp_cmp(s, m) > 0)
    *m = *s;
}

/* Latest stamp among a field's set entries (zero if none). */
static void set_stamp(const field *f, crdt_stamp *m)
{
  memset(m, 0, sizeof *m);
  for (size_t j = 0; j < f->nelems; j++) {
    const elem *e = &f->elems[j];
    if (e->adds.n)
      stamp_max(m, &e->adds.v[e->adds.n - 1]);
    if (e->rems.n)
      stamp_max(m, &e->rems.v[e->rems.n - 1]);
  }
}

void crdt_record_last_stamp(const crdt_record *r, crdt_stamp *out)
{
  memset(out, 0, sizeof *out);
  if (r->has_del)
    stamp_max(out, &r->del_stamp);
  for (size_t i = 0; i < r->nfields; i++) {
    crdt_stamp s;
    set_stamp(&r->fields[i], &s);
    stamp_max(out, &s);
    if (r->fields[i].has_reg)
      stamp_max(out, &r->fields[i].reg_stamp);
  }
}

size_t crdt_record_nfields(const crdt_record *r)
{
  return r->nfields;
}

gs_err crdt_record_field(const crdt_record *r, size_t i, crdt_field_view *out)
{
  if (i >= r->nfields)
    return GS_EINVAL;
  const field *f = &r->fields[i];
  crdt_stamp ss;
  memset(out, 0, sizeof *out);
  out->name = f->name;
  out->name_len = f->name_len;
  set_stamp(f, &ss);
  out->is_set = f->nelems > 0 &&
                (!f->has_reg || crdt_stamp_cmp(&ss, &f->reg_stamp) > 0);
  if (out->is_set) {
    out->stamp = ss;
    for (size_t j = 0; j < f->nelems; j++)
      out->nelems += f->elems[j].adds.n > 0;
    return GS_OK;
  }
  out->value.type = CRDT_NIL;
  if (f->has_reg) {
    out->stamp = f->reg_stamp;
    return crdt_value_decode(f->reg_val, f->reg_len, &out->value);
  }
  return GS_OK;
}

gs_err crdt_record_elem(const crdt_record *r, size_t i, size_t j,
                        crdt_value *out)
{
  if (i >= r->nfields)
    return GS_EINVAL;
  const field *f = &r->fields[i];
  for (size_t k = 0; k < f->nelems; k++) {
    if (f->elems[k].adds.n == 0)
      continue;
    if (j-- == 0)
      return crdt_value_decode(f->elems[k].val, f->elems[k].len, out);
  }
  return GS_EINVAL;
}

gs_err crdt_record_elem_tags(const crdt_record *r, const char *name,
                             size_t n, const crdt_value *elemv,
                             crdt_stamp **tags, size_t *ntags)
{
  uint8_t *val = NULL;
  size_t len;
  gs_err err;
  *tags = NULL;
  *ntags = 0;
  long fi = crdt_record_find(r, name, n);
  if (fi < 0)
    return GS_OK;
  if ((err = crdt_value_encode(elemv, &val, &len)) != GS_OK)
    return err;
  const field *f = &r->fields[fi];
  for (size_t k = 0; k < f->nelems; k++) {
    const elem *e = &f->elems[k];
    if (bytes_cmp(e->val, e->len, val, len) != 0 || e->adds.n == 0)
      continue;
    *tags = dup_bytes(e->adds.v, e->adds.n * sizeof *e->adds.v);
    if (!*tags) {
      err = GS_ENOMEM;
      break;
    }
    *ntags = e->adds.n;
  }
  free(val);
  return err;
}
