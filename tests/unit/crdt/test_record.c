/*
 * Record state: construction, apply and its refusals, the read views,
 * merge preconditions, the canonical encoding, and the strict record
 * decoder on malformed and non-canonical input.
 */
#include <math.h>

#include "record_test_util.h"

TestSuite(crdt_record, .init = record_init);

static crdt_op op_base(crdt_op_kind kind, const char *field)
{
  crdt_op op = {.kind = kind, .coll = "resident", .coll_len = 8,
                .field = field, .field_len = field ? strlen(field) : 0};
  memcpy(op.id, rid, CRDT_ID_LEN);
  return op;
}

static void set_str(crdt_record *r, const char *field, const char *s,
                    crdt_stamp st)
{
  crdt_op op = op_base(CRDT_OP_SET, field);
  op.value.type = CRDT_STR;
  op.value.u.s.p = s;
  op.value.u.s.n = strlen(s);
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
}

static void add_str(crdt_record *r, const char *field, const char *s,
                    crdt_stamp st)
{
  crdt_op op = op_base(CRDT_OP_ADD, field);
  op.value.type = CRDT_STR;
  op.value.u.s.p = s;
  op.value.u.s.n = strlen(s);
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
}

static void remove_str(crdt_record *r, const char *field, const char *s,
                       const crdt_stamp *tags, size_t ntags, crdt_stamp st)
{
  crdt_op op = op_base(CRDT_OP_REMOVE, field);
  op.value.type = CRDT_STR;
  op.value.u.s.p = s;
  op.value.u.s.n = strlen(s);
  op.tags = tags;
  op.ntags = ntags;
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
}

static void tomb(crdt_record *r, bool del, crdt_stamp st)
{
  crdt_op op = op_base(del ? CRDT_OP_DELETE : CRDT_OP_RESTORE, NULL);
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
}

typedef struct bytes {
  uint8_t *p;
  size_t n;
} bytes;

static bytes enc_version(const crdt_record *r, unsigned ver)
{
  bytes b;
  cr_assert_eq(ver == 1   ? crdt_record_encode_v1(r, &b.p, &b.n)
               : ver == 2 ? crdt_record_encode_v2(r, &b.p, &b.n)
                          : crdt_record_encode(r, &b.p, &b.n),
               GS_OK);
  uint8_t *exact = tu_dup(b.p, b.n);
  free(b.p);
  b.p = exact;
  return b;
}

/* Version 2 (stores of format 2; version 3 is tested in test_record3.c),
 * and version 1 (stores of format 1). */
static bytes enc(const crdt_record *r)
{
  return enc_version(r, 2);
}

static bytes enc1(const crdt_record *r)
{
  return enc_version(r, 1);
}

static bool same(bytes a, bytes b)
{
  return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* A record using every part of the encoding: tombstone, registers of
 * every type, a set with live and removed elements, several tags. */
static crdt_record *rich(void)
{
  crdt_record *r = empty();
  set_str(r, "name", "王秀英", stamp(NOW, 0, oa));
  crdt_op op = op_base(CRDT_OP_SET, "age");
  op.value = (crdt_value){.type = CRDT_INT, .u.i = 83};
  crdt_stamp s1 = stamp(NOW, 1, oa);
  cr_assert_eq(crdt_record_apply(r, &op, &s1), GS_OK);
  op = op_base(CRDT_OP_SET, "score");
  op.value = (crdt_value){.type = CRDT_FLOAT, .u.f = -0.0};
  cr_assert_eq(crdt_record_apply(r, &op, &s1), GS_OK);
  op = op_base(CRDT_OP_SET, "household");
  op.value.type = CRDT_REF;
  op.value.u.ref.coll = "household";
  op.value.u.ref.coll_len = 9;
  memset(op.value.u.ref.id, 0x42, CRDT_ID_LEN);
  cr_assert_eq(crdt_record_apply(r, &op, &s1), GS_OK);
  crdt_stamp t1 = stamp(NOW, 2, oa), t2 = stamp(NOW + 1, 0, ob);
  add_str(r, "tags", "独居", t1);
  add_str(r, "tags", "独居", t2);
  add_str(r, "tags", "elderly", t1);
  add_str(r, "tags", "floating", t1);
  remove_str(r, "tags", "floating", &t1, 1, stamp(NOW + 2, 0, oa));
  tomb(r, true, stamp(NOW + 3, 0, ob));
  return r;
}

Test(crdt_record, new_checks_its_arguments)
{
  cr_assert_null(crdt_record_new("a//b", 4, "resident", 8, rid));
  cr_assert_null(crdt_record_new("", 0, "resident", 8, rid));
  cr_assert_null(crdt_record_new(scope, strlen(scope), "Resident", 8, rid));
  cr_assert_null(crdt_record_new(scope, strlen(scope), "", 0, rid));
  crdt_record *r = empty();
  const char *s, *c;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &s, &sn, &c, &cn, id);
  cr_assert(sn == strlen(scope) && memcmp(s, scope, sn) == 0);
  cr_assert(cn == 8 && memcmp(c, "resident", 8) == 0);
  cr_assert_eq(memcmp(id, rid, CRDT_ID_LEN), 0);
  cr_assert_eq(crdt_record_nfields(r), 0);
  cr_assert(!crdt_record_deleted(r));
  crdt_stamp last;
  memset(&last, 0x77, sizeof last);
  crdt_record_last_stamp(r, &last);
  static const crdt_stamp zero;
  cr_assert_eq(memcmp(&last, &zero, sizeof last), 0);
  crdt_record_free(r);
  crdt_record_free(NULL);
}

Test(crdt_record, apply_refuses_bad_ops_and_changes_nothing)
{
  crdt_record *r = rich();
  bytes before = enc(r);
  crdt_stamp st = stamp(NOW + 100, 0, oa);
  crdt_op op = op_base(CRDT_OP_SET, "name");
  op.value = (crdt_value){.type = CRDT_INT, .u.i = 1};
  crdt_op bad;
#define REFUSE(o, s)                                                        \
  do {                                                                      \
    crdt_stamp s_ = (s);                                                    \
    cr_assert_eq(crdt_record_apply(r, &(o), &s_), GS_EINVAL, "line %d",     \
                 __LINE__);                                                 \
    bytes now_ = enc(r);                                                    \
    cr_assert(same(now_, before), "line %d: state changed", __LINE__);      \
    free(now_.p);                                                           \
  } while (0)
  bad = op, bad.coll = "visit", bad.coll_len = 5;
  REFUSE(bad, st);
  bad = op, bad.id[3] ^= 1;
  REFUSE(bad, st);
  bad = op, bad.kind = CRDT_OP_DELETE, bad.id[0] ^= 1;
  REFUSE(bad, st);
  bad = op;
  REFUSE(bad, ((crdt_stamp){.hlc = 0}));
  REFUSE(bad, ((crdt_stamp){.hlc = CRDT_HLC_LIMIT}));
  bad = op, bad.kind = CRDT_OP_DELETE;
  REFUSE(bad, ((crdt_stamp){.hlc = UINT64_MAX}));
  bad = op, bad.field = "Name";
  REFUSE(bad, st);
  bad = op, bad.field = "", bad.field_len = 0;
  REFUSE(bad, st);
  bad = op, bad.kind = (crdt_op_kind)9;
  REFUSE(bad, st);
  bad = op, bad.value = (crdt_value){.type = CRDT_FLOAT, .u.f = NAN};
  REFUSE(bad, st);
  bad = op, bad.value.type = CRDT_STR, bad.value.u.s.p = "\xc0\xaf";
  bad.value.u.s.n = 2;
  REFUSE(bad, st);
  /* a remove naming an invalid tag would leave state that cannot be
   * encoded and decoded again */
  crdt_stamp badtag = {.hlc = 0};
  bad = op_base(CRDT_OP_REMOVE, "tags");
  bad.value.type = CRDT_STR, bad.value.u.s.p = "elderly";
  bad.value.u.s.n = 7, bad.tags = &badtag, bad.ntags = 1;
  REFUSE(bad, st);
  badtag.hlc = CRDT_HLC_LIMIT;
  REFUSE(bad, st);
#undef REFUSE
  free(before.p);
  crdt_record_free(r);
}

Test(crdt_record, registers_are_last_writer_wins)
{
  crdt_record *r = empty();
  set_str(r, "name", "new", stamp(NOW, 5, oa));
  set_str(r, "name", "old", stamp(NOW, 4, ob)); /* older, arrives late */
  set_str(r, "name", "same-ms-other-origin", stamp(NOW, 5, ob)); /* later */
  long fi = crdt_record_find(r, "name", 4);
  cr_assert_eq(fi, 0);
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(r, 0, &fv), GS_OK);
  cr_assert(!fv.is_set);
  cr_assert_eq(fv.value.type, CRDT_STR);
  cr_assert_eq(fv.value.u.s.n, strlen("same-ms-other-origin"));
  cr_assert_eq(crdt_stamp_cmp(&fv.stamp, &(crdt_stamp){0}) > 0, true);
  crdt_stamp want = stamp(NOW, 5, ob);
  cr_assert_eq(crdt_stamp_cmp(&fv.stamp, &want), 0);
  /* equal stamps (one change writing a field twice): the outcome does not
   * depend on the order */
  crdt_record *x = empty(), *y = empty();
  crdt_stamp s = stamp(NOW, 0, oa);
  set_str(x, "note", "a", s), set_str(x, "note", "b", s);
  set_str(y, "note", "b", s), set_str(y, "note", "a", s);
  bytes bx = enc(x), by = enc(y);
  cr_assert(same(bx, by));
  free(bx.p), free(by.p);
  crdt_record_free(x), crdt_record_free(y), crdt_record_free(r);
}

Test(crdt_record, views_of_fields_sets_and_tombstone)
{
  crdt_record *r = rich();
  cr_assert(crdt_record_deleted(r));
  cr_assert_eq(crdt_record_nfields(r), 5);
  static const char *names[] = {"age", "household", "name", "score", "tags"};
  for (size_t i = 0; i < 5; i++) {
    crdt_field_view fv;
    cr_assert_eq(crdt_record_field(r, i, &fv), GS_OK);
    cr_assert(fv.name_len == strlen(names[i]) &&
                  memcmp(fv.name, names[i], fv.name_len) == 0,
              "fields in name order");
    cr_assert_eq(crdt_record_find(r, names[i], strlen(names[i])), (long)i);
  }
  cr_assert_eq(crdt_record_find(r, "nam", 3), -1);
  cr_assert_eq(crdt_record_find(r, "zzz", 3), -1);
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(r, 5, &fv), GS_EINVAL);
  cr_assert_eq(crdt_record_field(r, 0, &fv), GS_OK);
  cr_assert(fv.value.type == CRDT_INT && fv.value.u.i == 83);
  cr_assert_eq(crdt_record_field(r, 3, &fv), GS_OK);
  cr_assert(fv.value.type == CRDT_FLOAT && signbit(fv.value.u.f),
            "-0.0 kept");
  cr_assert_eq(crdt_record_field(r, 1, &fv), GS_OK);
  cr_assert_eq(fv.value.type, CRDT_REF);
  cr_assert(fv.value.u.ref.coll_len == 9 &&
            memcmp(fv.value.u.ref.coll, "household", 9) == 0);
  /* the set: two live elements (floating was removed), in canonical
   * order of their encoded bytes: "独居" (a6 ...) before "elderly" (a7 ...) */
  cr_assert_eq(crdt_record_field(r, 4, &fv), GS_OK);
  cr_assert(fv.is_set);
  cr_assert_eq(fv.nelems, 2);
  crdt_value e0, e1, e2;
  cr_assert_eq(crdt_record_elem(r, 4, 0, &e0), GS_OK);
  cr_assert_eq(crdt_record_elem(r, 4, 1, &e1), GS_OK);
  cr_assert_eq(crdt_record_elem(r, 4, 2, &e2), GS_EINVAL);
  cr_assert_eq(crdt_record_elem(r, 9, 0, &e2), GS_EINVAL);
  cr_assert(e0.u.s.n == 6 && memcmp(e0.u.s.p, "独居", 6) == 0);
  cr_assert(e1.u.s.n == 7 && memcmp(e1.u.s.p, "elderly", 7) == 0);
  /* the live tags of an element: what a remove must name */
  crdt_stamp *tags;
  size_t ntags;
  crdt_value dj = {.type = CRDT_STR, .u.s = {"独居", 6}};
  cr_assert_eq(crdt_record_elem_tags(r, "tags", 4, &dj, &tags, &ntags),
               GS_OK);
  cr_assert_eq(ntags, 2);
  crdt_stamp t1 = stamp(NOW, 2, oa), t2 = stamp(NOW + 1, 0, ob);
  cr_assert_eq(crdt_stamp_cmp(&tags[0], &t1), 0);
  cr_assert_eq(crdt_stamp_cmp(&tags[1], &t2), 0);
  /* the latest write kept in the state: the tombstone */
  crdt_stamp last, want = stamp(NOW + 3, 0, ob);
  crdt_record_last_stamp(r, &last);
  cr_assert_eq(crdt_stamp_cmp(&last, &want), 0);
  /* removing exactly those empties the element */
  remove_str(r, "tags", "独居", tags, ntags, stamp(NOW + 9, 0, oa));
  free(tags);
  cr_assert_eq(crdt_record_elem_tags(r, "tags", 4, &dj, &tags, &ntags),
               GS_OK);
  cr_assert_null(tags);
  cr_assert_eq(ntags, 0);
  crdt_value fl = {.type = CRDT_STR, .u.s = {"floating", 8}};
  cr_assert_eq(crdt_record_elem_tags(r, "tags", 4, &fl, &tags, &ntags),
               GS_OK);
  cr_assert_eq(ntags, 0);
  cr_assert_eq(crdt_record_elem_tags(r, "nope", 4, &fl, &tags, &ntags),
               GS_OK);
  cr_assert_eq(ntags, 0);
  crdt_value nan = {.type = CRDT_FLOAT, .u.f = NAN};
  cr_assert_neq(crdt_record_elem_tags(r, "tags", 4, &nan, &tags, &ntags),
                GS_OK);
  cr_assert_eq(crdt_record_field(r, 4, &fv), GS_OK);
  cr_assert_eq(fv.nelems, 1);
  /* a later add is the latest write again */
  add_str(r, "tags", "new", stamp(NOW + 10, 0, oa));
  want = stamp(NOW + 10, 0, oa);
  crdt_record_last_stamp(r, &last);
  cr_assert_eq(crdt_stamp_cmp(&last, &want), 0);
  set_str(r, "name", "x", stamp(NOW + 11, 0, ob));
  want = stamp(NOW + 11, 0, ob);
  crdt_record_last_stamp(r, &last);
  cr_assert_eq(crdt_stamp_cmp(&last, &want), 0);
  crdt_record_free(r);
}

Test(crdt_record, a_field_is_a_set_when_its_latest_write_was)
{
  crdt_record *r = empty();
  set_str(r, "x", "v", stamp(NOW, 0, oa));
  add_str(r, "x", "e", stamp(NOW, 1, oa));
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(r, 0, &fv), GS_OK);
  cr_assert(fv.is_set);
  cr_assert_eq(fv.nelems, 1);
  set_str(r, "x", "w", stamp(NOW, 2, oa));
  cr_assert_eq(crdt_record_field(r, 0, &fv), GS_OK);
  cr_assert(!fv.is_set);
  cr_assert(fv.value.u.s.n == 1 && fv.value.u.s.p[0] == 'w');
  /* a field never set reads as nil */
  crdt_record *s = empty();
  crdt_stamp t = stamp(NOW, 0, oa);
  remove_str(s, "y", "e", &t, 1, stamp(NOW, 1, oa));
  cr_assert_eq(crdt_record_field(s, 0, &fv), GS_OK);
  cr_assert_eq(fv.nelems, 0);
  crdt_record_free(r), crdt_record_free(s);
}

Test(crdt_record, tombstone_is_last_writer_wins_and_restorable)
{
  crdt_record *r = empty();
  tomb(r, true, stamp(NOW, 1, oa));
  cr_assert(crdt_record_deleted(r));
  tomb(r, false, stamp(NOW, 0, oa)); /* older restore: void */
  cr_assert(crdt_record_deleted(r));
  tomb(r, false, stamp(NOW, 2, oa));
  cr_assert(!crdt_record_deleted(r));
  tomb(r, true, stamp(NOW, 1, ob)); /* older delete: void */
  cr_assert(!crdt_record_deleted(r));
  /* a delete keeps the fields (nothing is erased) */
  set_str(r, "name", "x", stamp(NOW, 3, oa));
  tomb(r, true, stamp(NOW, 4, oa));
  cr_assert(crdt_record_deleted(r));
  cr_assert_eq(crdt_record_nfields(r), 1);
  /* equal stamps: the same outcome in either order */
  crdt_record *x = empty(), *y = empty();
  crdt_stamp s = stamp(NOW, 0, oa);
  tomb(x, true, s), tomb(x, false, s);
  tomb(y, false, s), tomb(y, true, s);
  cr_assert_eq(crdt_record_deleted(x), crdt_record_deleted(y));
  crdt_record_free(r), crdt_record_free(x), crdt_record_free(y);
}

Test(crdt_record, merge_checks_identity_and_self_merge_is_a_no_op)
{
  crdt_record *r = rich();
  bytes before = enc(r);
  crdt_record *other_scope = crdt_record_new("a", 1, "resident", 8, rid);
  crdt_record *other_coll = crdt_record_new(scope, strlen(scope), "visit", 5,
                                            rid);
  uint8_t id2[CRDT_ID_LEN];
  memcpy(id2, rid, CRDT_ID_LEN);
  id2[15] ^= 1;
  crdt_record *other_id = crdt_record_new(scope, strlen(scope), "resident",
                                          8, id2);
  crdt_record *others[] = {other_scope, other_coll, other_id};
  for (int i = 0; i < 3; i++) {
    const char *c;
    size_t cn;
    uint8_t oid[CRDT_ID_LEN];
    crdt_record_identity(others[i], NULL, NULL, &c, &cn, oid);
    crdt_op op = op_base(CRDT_OP_SET, "zzz");
    op.coll = c, op.coll_len = cn;
    memcpy(op.id, oid, CRDT_ID_LEN);
    crdt_stamp st = stamp(NOW + 50, 0, oa);
    cr_assert_eq(crdt_record_apply(others[i], &op, &st), GS_OK);
    cr_assert_eq(crdt_record_merge(r, others[i]), GS_EINVAL);
    cr_assert_eq(crdt_record_merge(others[i], r), GS_EINVAL);
    bytes now = enc(r);
    cr_assert(same(now, before));
    free(now.p);
    crdt_record_free(others[i]);
  }
  cr_assert_eq(crdt_record_merge(r, r), GS_OK);
  bytes now = enc(r);
  cr_assert(same(now, before));
  free(now.p);
  /* merging into an empty record copies the state */
  crdt_record *e = empty();
  cr_assert_eq(crdt_record_merge(e, r), GS_OK);
  now = enc(e);
  cr_assert(same(now, before));
  free(now.p);
  free(before.p);
  crdt_record_free(e);
  crdt_record_free(r);
}

Test(crdt_record, encoding_round_trips)
{
  crdt_record *r = rich();
  bytes b = enc(r);
  crdt_record *d;
  cr_assert_eq(crdt_record_decode(b.p, b.n, &d), GS_OK);
  bytes b2 = enc(d);
  cr_assert(same(b, b2));
  cr_assert(crdt_record_deleted(d));
  cr_assert_eq(crdt_record_nfields(d), 5);
  /* the decoded record owns its memory */
  memset(b.p, 0, b.n);
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(d, 2, &fv), GS_OK);
  cr_assert(fv.value.u.s.n == 9 && memcmp(fv.value.u.s.p, "王秀英", 9) == 0);
  free(b.p), free(b2.p);
  crdt_record_free(d);
  /* an empty record too */
  crdt_record *e = empty();
  b = enc(e);
  cr_assert_eq(crdt_record_decode(b.p, b.n, &d), GS_OK);
  b2 = enc(d);
  cr_assert(same(b, b2));
  free(b.p), free(b2.p);
  crdt_record_free(d), crdt_record_free(e);
  crdt_record_free(r);
}

/* ---- the decoder on malformed input ---- */

static gs_err rdecode(const uint8_t *b, size_t n)
{
  uint8_t *exact = tu_dup(b, n);
  crdt_record *r = (crdt_record *)exact; /* must be overwritten */
  gs_err err = crdt_record_decode(exact, n, &r);
  if (err)
    cr_assert_null(r, "an error left a record behind");
  crdt_record_free(r);
  free(exact);
  return err;
}

Test(crdt_record, every_truncation_and_trailing_bytes)
{
  crdt_record *r = rich();
  bytes b = enc(r);
  for (size_t len = 0; len < b.n; len++)
    cr_assert_eq(rdecode(b.p, len), GS_ETRUNC, "truncated to %zu", len);
  uint8_t *more = malloc(b.n + 1);
  memcpy(more, b.p, b.n);
  more[b.n] = 0xc0;
  cr_assert_eq(rdecode(more, b.n + 1), GS_ETRAILING);
  cr_assert_eq(rdecode(more, b.n), GS_OK);
  free(more), free(b.p);
  crdt_record_free(r);
}

/* Positions whose value may be any value: register values [5][i][1][2]
 * and set elements [5][i][2][j][0] (one further in version 2, after its
 * origin table [4]). */
static bool free_value(const tu_node *nd, unsigned ver)
{
  if (nd->path[0] != 5 + (ver == 2))
    return false;
  return (nd->depth == 4 && nd->path[2] == 1 && nd->path[3] == 2) ||
         (nd->depth == 5 && nd->path[2] == 2 && nd->path[4] == 0);
}

/* nil-or-[stamp, value] positions: the tombstone [4], registers [5][i][1]. */
static bool optional(const tu_node *nd, unsigned ver)
{
  size_t o = ver == 2;
  return (nd->depth == 1 && nd->path[0] == 4 + o) ||
         (nd->depth == 3 && nd->path[0] == 5 + o && nd->path[2] == 1);
}

static void wrong_types(unsigned ver)
{
  crdt_record *r = rich();
  /* and one field with a register and a set, and one never-set register */
  set_str(r, "tags", "reg", stamp(NOW - 1, 0, ob));
  bytes b = enc_version(r, ver);
  msgpack_unpacked u;
  tu_node nodes[512];
  size_t nn = tu_nodes(b.p, b.n, &u, nodes, 512);
  cr_assert_gt(nn, 60);
  size_t cn;
  uint8_t *copy = tu_splice(b.p, b.n, NULL, 0, NULL, 0, &cn);
  cr_assert(cn == b.n && memcmp(copy, b.p, cn) == 0);
  free(copy);
  size_t tried = 0;
  for (size_t i = 0; i < nn; i++) {
    const tu_node *nd = &nodes[i];
    int orig = tu_kind_of(nd->o);
    for (int k = 0; k < TU_NKINDS; k++) {
      if (k == orig)
        continue;
      if (free_value(nd, ver) &&
          !(k == TU_ARRAY || k == TU_MAP || k == TU_F32 || k == TU_EXT))
        continue;
      if (optional(nd, ver) && k == TU_NIL)
        continue; /* an absent register or tombstone is valid */
      uint8_t rep[32];
      size_t rn = tu_kind_bytes(k, rep), mn;
      uint8_t *m = tu_splice(b.p, b.n, nd->path, nd->depth, rep, rn, &mn);
      gs_err err = rdecode(m, mn);
      cr_assert_eq(err, GS_EDECODE,
                   "v%u: kind %d at node %zu (depth %zu): %s", ver, k, i,
                   nd->depth, gs_errname(err));
      free(m);
      tried++;
    }
  }
  cr_assert_gt(tried, 400);
  msgpack_unpacked_destroy(&u);
  free(b.p);
  crdt_record_free(r);
}

Test(crdt_record, a_wrong_type_at_every_position)
{
  wrong_types(2);
  wrong_types(1);
}

static gs_err rsplice(bytes b, const size_t *path, size_t depth,
                      const void *rep, size_t rn)
{
  size_t mn;
  uint8_t *m = tu_splice(b.p, b.n, path, depth, rep, rn, &mn);
  gs_err err = rdecode(m, mn);
  free(m);
  return err;
}

#define P(...) ((const size_t[]){__VA_ARGS__}), \
               (sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t))
#define RSPLICE(want, path, ...)                                            \
  do {                                                                      \
    static const uint8_t rep_[] = {__VA_ARGS__};                            \
    gs_err got_ = rsplice(b, path, rep_, sizeof rep_);                      \
    cr_assert_eq(got_, want, "line %d: got %s", __LINE__,                   \
                 gs_errname(got_));                                         \
  } while (0)

/* rich() in version 1: [1, scope, "resident", id, [hlc, origin, true],
 * fields]
 * fields: 0 age, 1 household, 2 name, 3 score, 4 tags
 * tags elems (by bytes): 0 "独居" (2 adds), 1 "elderly", 2 "floating"
 * (no adds, 1 rem) */
Test(crdt_record, bad_values_at_known_positions)
{
  crdt_record *r = rich();
  bytes b = enc1(r);
  RSPLICE(GS_OK, P(0), 0x01);
  RSPLICE(GS_EDECODE, P(0), 0x02); /* unknown version */
  RSPLICE(GS_EDECODE, P(0), 0x00);
  RSPLICE(GS_EDECODE, P(1), 0xa4, 'a', '/', '/', 'b');
  RSPLICE(GS_EDECODE, P(1), 0xa0);
  RSPLICE(GS_EDECODE, P(1), 0xa2, 0xc0, 0xaf);
  RSPLICE(GS_OK, P(1), 0xa1, 'a');
  RSPLICE(GS_EDECODE, P(2), 0xa1, 'A');
  RSPLICE(GS_EDECODE, P(2), 0xa2, 0xe5, 0xb1);
  RSPLICE(GS_EDECODE, P(3), 0xc4, 1, 0);
  RSPLICE(GS_EDECODE, P(4), 0x92, 0x01, 0xc3);
  RSPLICE(GS_EDECODE, P(4, 0), 0x00); /* hlc 0 */
  RSPLICE(GS_EDECODE, P(4, 0), 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  RSPLICE(GS_EDECODE, P(4, 1), 0xc4, 1, 0);
  RSPLICE(GS_OK, P(4), 0xc0); /* no tombstone at all: valid */
  /* field names */
  RSPLICE(GS_ENAME, P(5, 0, 0), 0xa3, 'A', 'g', 'e');
  RSPLICE(GS_ENAME, P(5, 0, 0), 0xa0);
  RSPLICE(GS_ENAME, P(5, 0, 0), 0xa2, 0xc0, 0xaf);
  /* registers */
  RSPLICE(GS_EDECODE, P(5, 0, 1), 0x92, 0x01, 0x01);
  RSPLICE(GS_EDECODE, P(5, 0, 1, 0), 0x00);
  RSPLICE(GS_EDECODE, P(5, 0, 1, 2), 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0);
  RSPLICE(GS_EDECODE, P(5, 2, 1, 2), 0xa2, 0xc0, 0xaf);
  RSPLICE(GS_EDECODE, P(5, 0, 1, 2), 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  RSPLICE(GS_OK, P(5, 0, 1, 2), 0x2a); /* another value: fine */
  /* set elements and their tags */
  RSPLICE(GS_EDECODE, P(5, 4, 2, 0), 0x92, 0xa1, 'a', 0x90);
  RSPLICE(GS_EDECODE, P(5, 4, 2, 0, 1, 0), 0x92, 0x00, 0xc4, 32, 0, 0, 0,
          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
          0, 0, 0, 0, 0, 0, 0);
  RSPLICE(GS_EDECODE, P(5, 4, 2, 0, 1, 0, 1), 0xc4, 1, 0);
  RSPLICE(GS_EDECODE, P(5, 4, 2, 0, 1, 0), 0x91, 0x01);
  RSPLICE(GS_EDECODE, P(5, 4, 2, 1, 0), 0xa2, 0xed, 0xa0);
  free(b.p);
  crdt_record_free(r);
}

Test(crdt_record, only_the_canonical_encoding_is_accepted)
{
  crdt_record *r = rich();
  bytes b = enc1(r);
  size_t n1, n2;
  /* wider integer and string forms */
  RSPLICE(GS_EDECODE, P(0), 0xcc, 0x01);
  RSPLICE(GS_EDECODE, P(2), 0xd9, 8, 'r', 'e', 's', 'i', 'd', 'e', 'n', 't');
  RSPLICE(GS_EDECODE, P(5, 0, 1, 2), 0xcc, 83); /* age 83 as uint8 */
  RSPLICE(GS_OK, P(5, 0, 1, 2), 83);
  /* fields out of order, and a field twice */
  uint8_t *f0 = tu_sub(b.p, b.n, P(5, 0), &n1);
  uint8_t *f1 = tu_sub(b.p, b.n, P(5, 1), &n2);
  uint8_t *two = malloc(1 + n1 + n2);
  two[0] = 0x92;
  memcpy(two + 1, f1, n2);
  memcpy(two + 1 + n2, f0, n1);
  cr_assert_eq(rsplice(b, P(5), two, 1 + n1 + n2), GS_EDECODE);
  memcpy(two + 1, f0, n1);
  memcpy(two + 1 + n1, f1, n2);
  cr_assert_eq(rsplice(b, P(5), two, 1 + n1 + n2), GS_OK, "in order: fine");
  memcpy(two + 1 + n1, f0, n1);
  cr_assert_eq(rsplice(b, P(5), two, 1 + 2 * n1), GS_EDECODE, "duplicate");
  free(f0), free(f1), free(two);
  /* set elements out of order */
  uint8_t *e0 = tu_sub(b.p, b.n, P(5, 4, 2, 0), &n1);
  uint8_t *e1 = tu_sub(b.p, b.n, P(5, 4, 2, 1), &n2);
  uint8_t *e2;
  size_t n3;
  e2 = tu_sub(b.p, b.n, P(5, 4, 2, 2), &n3);
  uint8_t *three = malloc(1 + n1 + n2 + n3);
  three[0] = 0x93;
  memcpy(three + 1, e1, n2);
  memcpy(three + 1 + n2, e0, n1);
  memcpy(three + 1 + n1 + n2, e2, n3);
  cr_assert_eq(rsplice(b, P(5, 4, 2), three, 1 + n1 + n2 + n3), GS_EDECODE);
  free(e0), free(e1), free(e2), free(three);
  /* add tags out of order, duplicated, or also removed */
  uint8_t *t0 = tu_sub(b.p, b.n, P(5, 4, 2, 0, 1, 0), &n1);
  uint8_t *t1 = tu_sub(b.p, b.n, P(5, 4, 2, 0, 1, 1), &n2);
  cr_assert_eq(n1, n2);
  uint8_t *tt = malloc(1 + 2 * n1);
  tt[0] = 0x92;
  memcpy(tt + 1, t1, n1);
  memcpy(tt + 1 + n1, t0, n1);
  cr_assert_eq(rsplice(b, P(5, 4, 2, 0, 1), tt, 1 + 2 * n1), GS_EDECODE);
  memcpy(tt + 1, t0, n1);
  memcpy(tt + 1 + n1, t0, n1);
  cr_assert_eq(rsplice(b, P(5, 4, 2, 0, 1), tt, 1 + 2 * n1), GS_EDECODE);
  tt[0] = 0x91;
  cr_assert_eq(rsplice(b, P(5, 4, 2, 0, 2), tt, 1 + n1), GS_EDECODE,
               "a tag both live and removed");
  memcpy(tt + 1, t1, n1); /* "elderly" was added with t0's stamp only */
  cr_assert_eq(rsplice(b, P(5, 4, 2, 1, 2), tt, 1 + n1), GS_OK,
               "a removed tag never added here: a valid state");
  free(t0), free(t1), free(tt);
  free(b.p);
  crdt_record_free(r);
}

Test(crdt_record, every_flipped_bit_is_refused_or_canonical)
{
  crdt_record *r = rich();
  bytes b = enc(r);
  size_t accepted = 0;
  for (size_t bit = 0; bit < b.n * 8; bit++) {
    b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    crdt_record *d = NULL;
    if (crdt_record_decode(b.p, b.n, &d) == GS_OK) {
      bytes again = enc(d);
      cr_assert(same(again, b), "bit %zu: accepted a non-canonical form",
                bit);
      free(again.p);
      crdt_record_free(d);
      accepted++;
    } else {
      cr_assert_null(d);
    }
    b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  cr_assert_gt(accepted, 0, "some flips (in ids, origins) are valid");
  free(b.p);
  crdt_record_free(r);
}

Test(crdt_record, lying_lengths_and_depth_bombs)
{
  static const uint8_t lies[][8] = {
      {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x96, 0xdd, 0x7f, 0xff, 0xff, 0xff},
      {0xdb, 0xff, 0xff, 0xff, 0xff}, {0xc6, 0x7f, 0xff, 0xff, 0xff},
      {0xdf, 0xff, 0xff, 0xff, 0xff}, {0x96, 0x01, 0xda, 0xff, 0xff},
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++)
    for (size_t len = 1; len <= sizeof lies[i]; len++)
      cr_assert_eq(rdecode(lies[i], len), GS_ETRUNC, "lie %zu/%zu", i, len);
  cr_assert_eq(rdecode((const uint8_t *)"", 0), GS_ETRUNC);
  cr_assert_eq(rdecode((const uint8_t *)"\xc1", 1), GS_EDECODE);
  size_t dn = 100000;
  uint8_t *deep = malloc(dn);
  memset(deep, 0x91, dn - 1);
  deep[dn - 1] = 0xc0;
  cr_assert_eq(rdecode(deep, dn), GS_EDECODE);
  free(deep);
  /* deeper than a record can be, at an element's value */
  crdt_record *r = rich();
  bytes b = enc(r);
  RSPLICE(GS_EDECODE, P(6, 4, 2, 0, 0), 0x91, 0x91, 0x91, 0xc0);
  free(b.p);
  crdt_record_free(r);
}

/* rich() in version 2: [2, scope, "resident", id, [oa, ob], [hlc, 1, true],
 * fields], every stamp naming its origin by index. */
Test(crdt_record, the_origin_table)
{
  crdt_record *r = rich();
  bytes b = enc(r), b1 = enc1(r);
  cr_assert_eq(crdt_record_version(b.p, b.n), 2);
  cr_assert_eq(crdt_record_version(b1.p, b1.n), 1);
  cr_assert_eq(crdt_record_version((const uint8_t *)"\x96", 1), 0);
  /* 9 stamps (4 registers, the tombstone, 4 set tags) lose their 34-byte
   * keys for a 1-byte index; a table of two keys is added */
  cr_assert_eq(b1.n - b.n, 9 * 33 - (1 + 2 * 34), "v1 %zu, v2 %zu", b1.n,
               b.n);
  /* version 1 decodes to the same state: it re-encodes as b */
  crdt_record *d;
  cr_assert_eq(crdt_record_decode(b1.p, b1.n, &d), GS_OK);
  bytes again = enc(d);
  cr_assert(same(again, b));
  free(again.p);
  crdt_record_free(d);
  size_t n0, n1;
  uint8_t *k0 = tu_sub(b.p, b.n, P(4, 0), &n0);
  uint8_t *k1 = tu_sub(b.p, b.n, P(4, 1), &n1);
  cr_assert(n0 == 34 && n1 == 34);
  cr_assert(memcmp(k0 + 2, oa, 32) == 0 && memcmp(k1 + 2, ob, 32) == 0,
            "sorted bytewise");
  uint8_t tab[1 + 3 * 34];
  tab[0] = 0x92;
  memcpy(tab + 1, k0, 34), memcpy(tab + 35, k1, 34);
  cr_assert_eq(rsplice(b, P(4), tab, 69), GS_OK, "as it was");
  memcpy(tab + 1, k1, 34), memcpy(tab + 35, k0, 34);
  cr_assert_eq(rsplice(b, P(4), tab, 69), GS_EDECODE, "out of order");
  memcpy(tab + 35, k1, 34);
  cr_assert_eq(rsplice(b, P(4), tab, 69), GS_EDECODE, "a key twice");
  tab[0] = 0x93;
  memcpy(tab + 1, k0, 34), memcpy(tab + 35, k1, 34);
  memcpy(tab + 69, k1, 34);
  memset(tab + 71, 0xcc, 32);
  cr_assert_eq(rsplice(b, P(4), tab, 103), GS_EDECODE, "a key no stamp uses");
  tab[0] = 0x91;
  cr_assert_eq(rsplice(b, P(4), tab, 35), GS_EDECODE, "a key missing");
  cr_assert_eq(rsplice(b, P(4), "\x90", 1), GS_EDECODE, "no table");
  RSPLICE(GS_EDECODE, P(4, 0), 0xc4, 1, 0);
  /* the tombstone's origin index */
  RSPLICE(GS_OK, P(5, 1), 0x00); /* ob is still used by a tag: valid */
  RSPLICE(GS_EDECODE, P(5, 1), 0x02); /* past the table */
  RSPLICE(GS_EDECODE, P(5, 1), 0xcc, 0x01); /* a wider form */
  RSPLICE(GS_EDECODE, P(5, 1), 0xff);
  /* a set tag's index: "独居" added by oa and ob */
  RSPLICE(GS_EDECODE, P(6, 4, 2, 0, 1, 0, 1), 0x05);
  RSPLICE(GS_EDECODE, P(6, 4, 2, 0, 1, 0), 0x92, 0x00, 0x00); /* hlc 0 */
  RSPLICE(GS_EDECODE, P(6, 4, 2, 0, 1, 0), 0x93, 0x01, 0x00, 0x00);
  RSPLICE(GS_OK, P(6, 4, 2, 0, 1, 0), 0x92, 0x01, 0x00); /* an early tag */
  /* each version's layout under the other's number */
  RSPLICE(GS_EDECODE, P(0), 0x01);
  uint8_t *v2as1 = tu_dup(b1.p, b1.n);
  v2as1[1] = 0x02;
  cr_assert_eq(rdecode(v2as1, b1.n), GS_EDECODE);
  free(v2as1);
  free(k0), free(k1);
  free(b.p), free(b1.p);
  crdt_record_free(r);
}

Test(crdt_record, origin_tables_stay_canonical_under_merge)
{
  /* three origins met in different orders give one table, one encoding */
  uint8_t oc[CRDT_KEY_LEN];
  memset(oc, 0x11, sizeof oc);
  crdt_record *x = empty(), *y = empty();
  set_str(x, "name", "甲", stamp(NOW, 0, ob));
  set_str(x, "phone", "1", stamp(NOW, 0, oc));
  add_str(x, "tags", "a", stamp(NOW, 1, oa));
  add_str(y, "tags", "a", stamp(NOW, 1, oa));
  set_str(y, "phone", "1", stamp(NOW, 0, oc));
  set_str(y, "name", "甲", stamp(NOW, 0, ob));
  bytes bx = enc(x), by = enc(y);
  cr_assert(same(bx, by));
  crdt_record *d;
  cr_assert_eq(crdt_record_decode(bx.p, bx.n, &d), GS_OK);
  /* and a record whose last stamp of an origin went drops that key */
  set_str(d, "phone", "2", stamp(NOW + 5, 0, ob));
  bytes bd = enc(d);
  size_t n;
  uint8_t *t = tu_sub(bd.p, bd.n, P(4), &n);
  cr_assert_eq(t[0], 0x92, "oc no longer named: two keys left");
  free(t);
  free(bx.p), free(by.p), free(bd.p);
  crdt_record_free(d), crdt_record_free(x), crdt_record_free(y);
}

/* ---- crdt_record_decode_state: the direct reader of stored state ---- */

/* Whatever bytes: never a crash, no record left on an error; where the
 * canonical decoder accepts, the state reader gives the same record. */
static void state_agrees(const uint8_t *b, size_t n)
{
  uint8_t *exact = tu_dup(b, n);
  crdt_record *c = (crdt_record *)exact, *d = (crdt_record *)exact;
  gs_err ec = crdt_record_decode(exact, n, &c);
  gs_err ed = crdt_record_decode_state(exact, n, &d);
  if (ed)
    cr_assert_null(d, "an error left a record behind");
  if (!ec) {
    cr_assert_eq(ed, GS_OK, "canonical bytes the state reader refused");
    bytes bc = enc(c), bd = enc(d);
    cr_assert(same(bc, bd));
    free(bc.p), free(bd.p);
  }
  if (!ed) { /* what it read re-encodes canonically */
    bytes bd = enc(d);
    crdt_record *back;
    cr_assert_eq(crdt_record_decode(bd.p, bd.n, &back), GS_OK);
    crdt_record_free(back);
    free(bd.p);
  }
  crdt_record_free(c);
  crdt_record_free(d);
  free(exact);
}

Test(crdt_record, the_state_reader_reads_what_the_decoder_reads)
{
  crdt_record *r = rich(), *e = empty();
  bytes v[3] = {enc(r), enc1(r), enc(e)};
  for (int i = 0; i < 3; i++) {
    crdt_record *d;
    cr_assert_eq(crdt_record_decode_state(v[i].p, v[i].n, &d), GS_OK);
    bytes b2 = enc(d), want = enc(i == 2 ? e : r);
    cr_assert(same(b2, want), "version %d", i == 1 ? 1 : 2);
    free(b2.p), free(want.p);
    crdt_record_free(d);
    /* every truncation refused, trailing bytes refused */
    for (size_t len = 0; len < v[i].n; len++) {
      crdt_record *t = (crdt_record *)&t;
      cr_assert_neq(crdt_record_decode_state(v[i].p, len, &t), GS_OK,
                    "truncated to %zu", len);
      cr_assert_null(t);
    }
    /* every byte changed, to a few values: never a crash, and agreement
     * with the canonical decoder wherever that one accepts */
    static const uint8_t to[] = {0x00, 0x01, 0x7f, 0x90, 0x93, 0x9f, 0xa0,
                                 0xbf, 0xc0, 0xc2, 0xc4, 0xcc, 0xcf, 0xd9,
                                 0xdc, 0xdd, 0xff};
    uint8_t *m = tu_dup(v[i].p, v[i].n);
    for (size_t at = 0; at < v[i].n; at++) {
      uint8_t keep = m[at];
      for (size_t k = 0; k < sizeof to; k++) {
        m[at] = to[k];
        state_agrees(m, v[i].n);
      }
      m[at] = keep;
    }
    free(m);
    free(v[i].p);
  }
  crdt_record_free(r), crdt_record_free(e);
}

/* The arena (issue 20, fourth pass): names and values live in the
 * record's own bytes, then in chunks, never moved. A record of 40 fields
 * written 400 times in a fixed random order, with values from 1 byte to
 * CRDT_TEXT_MAX (past the inline room and a chunk's size, a chunk's
 * room left over kept for the next small ones), has exactly the value of
 * each field's latest write, and the encoding of a record that got only
 * those latest writes; decoded again and written over once more, the
 * same. A value or name moved or overwritten in the arena would show. */
Test(crdt_record, values_in_the_arena_survive_every_write)
{
  enum { NF = 40, NW = 400 };
  static char val[NF][CRDT_TEXT_MAX + 1];
  char names[NF][8];
  uint64_t last_ms[NF] = {0};
  tu_rng g = {0x5eed};
  crdt_record *r = empty(), *want = empty();
  for (int f = 0; f < NF; f++)
    snprintf(names[f], sizeof names[f], "f%02d", f);
  for (int w = 0; w < NW; w++) {
    int f = (int)tu_below(&g, NF);
    size_t len = w % 7 == 0 ? CRDT_TEXT_MAX - tu_below(&g, 3000)
                            : 1 + tu_below(&g, 300);
    for (size_t i = 0; i < len; i++)
      val[f][i] = (char)('a' + (w + i) % 26);
    val[f][len] = 0;
    last_ms[f] = NOW + (uint64_t)w;
    set_str(r, names[f], val[f], stamp(NOW + (uint64_t)w, 0, oa));
    /* an older write to another field loses and changes nothing */
    int o = (f + 1) % NF;
    if (last_ms[o])
      set_str(r, names[o], "older", stamp(last_ms[o] - 1, 0, ob));
  }
  for (int f = 0; f < NF; f++)
    if (last_ms[f])
      set_str(want, names[f], val[f], stamp(last_ms[f], 0, oa));
  for (int round = 0; round < 2; round++) {
    for (int f = 0; f < NF; f++) {
      long at = crdt_record_find(r, names[f], strlen(names[f]));
      if (!last_ms[f]) {
        cr_assert_lt(at, 0);
        continue;
      }
      crdt_field_view fv;
      cr_assert_geq(at, 0);
      cr_assert_eq(crdt_record_field(r, (size_t)at, &fv), GS_OK);
      cr_assert_eq(fv.value.type, CRDT_STR);
      cr_assert_eq(fv.value.u.s.n, strlen(val[f]), "field %d", f);
      cr_assert(memcmp(fv.value.u.s.p, val[f], fv.value.u.s.n) == 0);
    }
    bytes a = enc(r), b = enc(want);
    cr_assert(same(a, b));
    crdt_record_free(r);
    cr_assert_eq(crdt_record_decode_state(a.p, a.n, &r), GS_OK);
    free(a.p), free(b.p);
    /* one more losing write to every field, on the decoded record */
    for (int f = 0; f < NF; f++)
      if (last_ms[f])
        set_str(r, names[f], "older", stamp(last_ms[f] - 1, 0, ob));
  }
  crdt_record_free(r), crdt_record_free(want);
}

/* The state reader's own path for text values (issue 20, fourth pass:
 * no packing again): a str is accepted only in the header msgpack-c
 * writes for its length, at every width's edge, and refused when it is
 * longer than CRDT_TEXT_MAX, not UTF-8, or cut short, as the packing
 * path refused it. */
static bytes with_header(bytes rec, size_t at, size_t old_h, size_t len,
                         size_t new_h)
{
  bytes b = {malloc(rec.n - old_h + new_h), rec.n - old_h + new_h};
  memcpy(b.p, rec.p, at);
  uint8_t *h = b.p + at;
  if (new_h == 1) {
    h[0] = (uint8_t)(0xa0 | len);
  } else {
    h[0] = new_h == 2 ? 0xd9 : new_h == 3 ? 0xda : 0xdb;
    for (size_t i = 1; i < new_h; i++)
      h[i] = (uint8_t)(len >> (8 * (new_h - 1 - i)));
  }
  memcpy(h + new_h, rec.p + at + old_h, rec.n - at - old_h);
  return b;
}

Test(crdt_record, the_state_reader_takes_text_only_in_its_canonical_form)
{
  static const size_t lens[] = {0, 1, 31, 32, 255, 256, 4000, CRDT_TEXT_MAX};
  static char text[CRDT_TEXT_MAX + 1];
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    size_t len = lens[i];
    memset(text, 'x', len);
    text[len] = 0;
    crdt_record *r = empty(), *d;
    set_str(r, "name", text, stamp(NOW, 0, oa));
    bytes b = enc(r);
    cr_assert_eq(crdt_record_decode_state(b.p, b.n, &d), GS_OK);
    crdt_record_free(d);
    /* where the value starts: its header, then the text, then the end
     * of the record (no set, the last field) */
    size_t h = len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5;
    size_t at = b.n - 1 - len - h; /* the last byte: the empty set */
    cr_assert_eq(b.p[b.n - 1], 0x90);
    for (size_t nh = 1; nh <= 5; nh++) {
      if (nh == 4 || (nh == 1 && len >= 32) || (nh == 2 && len >= 256))
        continue;
      bytes m = with_header(b, at, h, len, nh);
      gs_err e = crdt_record_decode_state(m.p, m.n, &d);
      if (nh == h) {
        cr_assert_eq(e, GS_OK, "length %zu", len);
        crdt_record_free(d);
      } else {
        cr_assert_eq(e, GS_EDECODE, "length %zu in a header of %zu", len,
                     nh);
        cr_assert_null(d);
      }
      /* the canonical decoder agrees */
      crdt_record *c;
      cr_assert_eq(crdt_record_decode(m.p, m.n, &c) == GS_OK, nh == h);
      crdt_record_free(c);
      free(m.p);
    }
    if (len) { /* not UTF-8 */
      uint8_t *m = tu_dup(b.p, b.n);
      m[at + h] = 0xff;
      cr_assert_eq(crdt_record_decode_state(m, b.n, &d), GS_EUTF8);
      free(m);
    }
    /* cut short inside the header or the text */
    for (size_t cut = at + 1; cut < b.n - 1; cut += 1 + len / 8) {
      uint8_t *m = tu_dup(b.p, cut);
      cr_assert_neq(crdt_record_decode_state(m, cut, &d), GS_OK);
      free(m);
    }
    free(b.p);
    crdt_record_free(r);
  }
  /* one byte over CRDT_TEXT_MAX, in a header that says so */
  memset(text, 'x', CRDT_TEXT_MAX);
  crdt_record *r = empty(), *d;
  set_str(r, "name", text, stamp(NOW, 0, oa));
  bytes b = enc(r);
  size_t at = b.n - 1 - CRDT_TEXT_MAX - 3;
  bytes big = {malloc(b.n + 1), b.n + 1};
  memcpy(big.p, b.p, at);
  big.p[at] = 0xda;
  big.p[at + 1] = (uint8_t)((CRDT_TEXT_MAX + 1) >> 8);
  big.p[at + 2] = (uint8_t)(CRDT_TEXT_MAX + 1);
  memset(big.p + at + 3, 'x', CRDT_TEXT_MAX + 1);
  big.p[big.n - 1] = 0x90;
  cr_assert_eq(crdt_record_decode_state(big.p, big.n, &d), GS_ETOOBIG);
  free(big.p), free(b.p);
  crdt_record_free(r);
}
