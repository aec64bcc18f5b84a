/*
 * Record encoding version 3 (store format 3): no identity in the value
 * (the reader gives it: crdt_record_decode_key), one table of the
 * record's stamps named by index, the domain's field names by number.
 * What it saves on a resident, its round trips, and its strictness: a
 * record decodes only from the exact bytes version 3 encodes it to, each
 * rule refused on its own.
 */
#include "record_test_util.h"

TestSuite(crdt_record3, .init = record_init);

static void apply(crdt_record *r, crdt_op_kind kind, const char *field,
                  const char *s, const crdt_stamp *tags, size_t ntags,
                  crdt_stamp st)
{
  crdt_op op = {.kind = kind, .coll = "resident", .coll_len = 8,
                .field = field, .field_len = field ? strlen(field) : 0,
                .tags = tags, .ntags = ntags};
  memcpy(op.id, rid, CRDT_ID_LEN);
  if (s) {
    op.value.type = CRDT_STR;
    op.value.u.s.p = s;
    op.value.u.s.n = strlen(s);
  }
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
}

typedef struct bytes {
  uint8_t *p;
  size_t n;
} bytes;

static bytes enc3(const crdt_record *r)
{
  bytes b;
  cr_assert_eq(crdt_record_encode(r, &b.p, &b.n), GS_OK);
  uint8_t *exact = tu_dup(b.p, b.n);
  free(b.p);
  b.p = exact;
  return b;
}

static gs_err dec3(const uint8_t *p, size_t n, crdt_record **out)
{
  return crdt_record_decode_key(p, n, scope, strlen(scope), "resident", 8,
                                rid, out);
}

/* A resident as the domain writes one: ten fields, one change. */
static crdt_record *resident(void)
{
  static const char *const f[][2] = {
      {"name", "王秀英"},        {"gender", "女"},
      {"phone", "13812345678"}, {"household", "h-0001"},
      {"building", "3号楼"},     {"room", "302"},
      {"status", "living"},     {"note", "独居, 每周探访"},
      {"emergency_contact", "王建国"}, {"emergency_phone", "13987654321"}};
  crdt_record *r = empty();
  crdt_stamp st = stamp(NOW, 0, oa);
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    apply(r, CRDT_OP_SET, f[i][0], f[i][1], NULL, 0, st);
  apply(r, CRDT_OP_ADD, "tags", "elderly", NULL, 0, st);
  return r;
}

static bool has(const bytes *b, const void *p, size_t n)
{
  for (size_t i = 0; i + n <= b->n; i++)
    if (memcmp(b->p + i, p, n) == 0)
      return true;
  return false;
}

static void hex(const char *what, const bytes *b)
{
  char line[3 * 32 + 1];
  cr_log_info("%s: %zu bytes", what, b->n);
  for (size_t i = 0; i < b->n; i += 32) {
    size_t k = 0;
    for (size_t j = i; j < b->n && j < i + 32; j++)
      k += (size_t)snprintf(line + k, sizeof line - k, "%02x ", b->p[j]);
    cr_log_info("  %s", line);
  }
}

Test(crdt_record3, a_resident_written_once_costs_one_stamp)
{
  crdt_record *r = resident();
  bytes b2, b3 = enc3(r);
  cr_assert_eq(crdt_record_encode_v2(r, &b2.p, &b2.n), GS_OK);
  hex("version 2", &b2);
  hex("version 3", &b3);
  fprintf(stderr, "record v3: a resident of 11 fields, one change: "
                  "%zu bytes in version 2, %zu in version 3\n",
          b2.n, b3.n);
  /* [3, [origin], [hlc, 0], nil, [fields...]]: one origin, one stamp;
   * each register field [n, 0, value] */
  cr_assert_eq(b3.p[0], 0x95);
  cr_assert_eq(b3.p[1], 3);
  cr_assert_eq(b3.p[2], 0x91);
  cr_assert_eq(b3.p[3], 0xc4);
  cr_assert_eq(b3.p[4], CRDT_KEY_LEN);
  cr_assert_eq(b3.p[5 + CRDT_KEY_LEN], 0x92, "one stamp: two ints");
  cr_assert_leq(b3.n, 181);
  /* no scope, collection or field name of the table in the bytes */
  cr_assert(!has(&b3, scope, strlen(scope)));
  cr_assert(!has(&b3, "resident", 8));
  cr_assert(!has(&b3, "emergency_phone", 15));
  cr_assert(!has(&b3, rid, CRDT_ID_LEN));
  cr_assert(has(&b2, "emergency_phone", 15), "v2 spells it");
  cr_assert_lt(b3.n + 150, b2.n, "v3 %zu vs v2 %zu", b3.n, b2.n);
  crdt_record *d;
  cr_assert_eq(dec3(b3.p, b3.n, &d), GS_OK);
  bytes again = enc3(d);
  cr_assert(again.n == b3.n && memcmp(again.p, b3.p, b3.n) == 0);
  crdt_field_view fv;
  long i = crdt_record_find(d, "emergency_phone", 15);
  cr_assert_geq(i, 0);
  cr_assert_eq(crdt_record_field(d, (size_t)i, &fv), GS_OK);
  cr_assert_eq(fv.value.u.s.n, 11);
  cr_assert_eq(memcmp(fv.value.u.s.p, "13987654321", 11), 0);
  free(b2.p), free(b3.p), free(again.p);
  crdt_record_free(d), crdt_record_free(r);
}

/* Two origins, stamps shared and not, a removed tag, a tombstone, a name
 * outside the table. */
static crdt_record *rich(void)
{
  crdt_record *r = resident();
  crdt_stamp s2 = stamp(NOW + 5, 0, ob), s3 = stamp(NOW + 5, 0, oa);
  crdt_stamp s4 = stamp(NOW + 9, 3, ob), tag = stamp(NOW, 0, oa);
  apply(r, CRDT_OP_SET, "phone", "13900000000", NULL, 0, s2);
  apply(r, CRDT_OP_ADD, "tags", "lives-alone", NULL, 0, s3);
  apply(r, CRDT_OP_REMOVE, "tags", "elderly", &tag, 1, s4);
  apply(r, CRDT_OP_SET, "x_custom", "自定义", NULL, 0, s4);
  apply(r, CRDT_OP_DELETE, NULL, NULL, NULL, 0, s2);
  return r;
}

Test(crdt_record3, round_trips_through_every_reader)
{
  crdt_record *r = rich();
  bytes b = enc3(r), b2;
  crdt_record *d = NULL, *c = NULL;
  cr_assert_eq(dec3(b.p, b.n, &d), GS_OK);
  bytes x = enc3(d);
  cr_assert(x.n == b.n && memcmp(x.p, b.p, b.n) == 0);
  cr_assert(crdt_record_deleted(d));
  cr_assert_eq(crdt_record_decode_state_key(b.p, b.n, scope, strlen(scope),
                                            "resident", 8, rid, &c),
               GS_OK);
  bytes y = enc3(c);
  cr_assert(y.n == b.n && memcmp(y.p, b.p, b.n) == 0);
  crdt_record_free(c);
  /* the copy: the same bytes */
  cr_assert_eq(crdt_record_copy(r, &c), GS_OK);
  bytes z = enc3(c);
  cr_assert(z.n == b.n && memcmp(z.p, b.p, b.n) == 0);
  crdt_record_free(c);
  /* identity not in the bytes: the keyless decoder cannot read it */
  cr_assert_eq(crdt_record_decode(b.p, b.n, &c), GS_EDECODE);
  cr_assert_null(c);
  cr_assert_eq(crdt_record_decode_state(b.p, b.n, &c), GS_EDECODE);
  /* version 2 reads through the keyed decoder, of its own record only */
  cr_assert_eq(crdt_record_encode_v2(r, &b2.p, &b2.n), GS_OK);
  cr_assert_eq(crdt_record_version(b2.p, b2.n), 2);
  cr_assert_eq(crdt_record_version(b.p, b.n), 3);
  cr_assert_eq(dec3(b2.p, b2.n, &c), GS_OK);
  bytes w = enc3(c);
  cr_assert(w.n == b.n && memcmp(w.p, b.p, b.n) == 0);
  crdt_record_free(c);
  uint8_t other[CRDT_ID_LEN];
  memcpy(other, rid, sizeof other);
  other[15] ^= 1;
  cr_assert_eq(crdt_record_decode_key(b2.p, b2.n, scope, strlen(scope),
                                      "resident", 8, other, &c),
               GS_EDECODE, "a v2 value under another record's key");
  cr_assert_eq(crdt_record_decode_state_key(b2.p, b2.n, scope, 3,
                                            "resident", 8, rid, &c),
               GS_EDECODE);
  /* bytes of version 3 read as another record's are that record */
  cr_assert_eq(crdt_record_decode_key(b.p, b.n, scope, strlen(scope),
                                      "household", 9, other, &c),
               GS_OK);
  const char *cc;
  size_t cn;
  uint8_t cid[CRDT_ID_LEN];
  crdt_record_identity(c, NULL, NULL, &cc, &cn, cid);
  cr_assert(cn == 9 && memcmp(cc, "household", 9) == 0 &&
            memcmp(cid, other, CRDT_ID_LEN) == 0);
  crdt_record_free(c);
  free(b.p), free(b2.p), free(x.p), free(y.p), free(z.p), free(w.p);
  crdt_record_free(d), crdt_record_free(r);
}

Test(crdt_record3, the_name_table_is_sorted_and_small)
{
  const char *const *names;
  size_t n = crdt_record_v3_names(&names);
  cr_assert_geq(n, 80);
  cr_assert_leq(n, 128);
  for (size_t i = 1; i < n; i++)
    cr_assert_lt(strcmp(names[i - 1], names[i]), 0, "%s", names[i]);
  for (size_t i = 0; i < n; i++)
    cr_assert(crdt_name_valid(names[i], strlen(names[i])));
}

/* ---- strictness: hand-built bytes ----
 * A record of two origins (oa < ob), stamps s0 = (h, oa), s1 = (h, ob),
 * s2 = (h + 7, oa); fields "name" = s0 "甲", "note" = s1 "乙", and "tags"
 * (by number, or spelt) holding "elderly" added by s2. Each knob breaks
 * one rule. */
typedef struct knobs {
  bool origins_unsorted;   /* [ob, oa] (and indices swapped) */
  bool extra_origin;       /* a third origin nobody names */
  int stamps;              /* 0: as canonical; 1: s1 before s0 (same
                              hlc, origin indices falling); 2: s0 twice;
                              3: an unused stamp at the end; 4: an odd
                              count; 5: origin index out of range */
  unsigned name_idx;       /* "name" by this index (0: its own) */
  bool name_spelt;         /* "name" as a string */
  unsigned reg_idx;        /* "note"'s stamp index (0: s1 = 1) */
  bool empty_elems;        /* "name" with an empty [] of elements */
  bool reg_split;          /* "note" as name, [s, value] */
  bool empty_rems;         /* "elderly" with an empty [] of removes */
  bool field_arrays;       /* each field in an array of its own */
  bool trailing;           /* a byte after the record */
  bool custom_spelt;       /* a field outside the table, spelt: valid */
} knobs;

static unsigned name_number(const char *name)
{
  const char *const *names;
  size_t n = crdt_record_v3_names(&names);
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return (unsigned)i;
  cr_assert_fail("%s is not in the table", name);
  return 0;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
  msgpack_pack_str_with_body(pk, s, strlen(s));
}

static bytes build(const knobs *k)
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint64_t h = CRDT_HLC_MAKE(NOW, 0);
  unsigned ia = k->origins_unsorted ? 1 : 0, ib = 1 - ia;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 5);
  msgpack_pack_uint32(&pk, 3);
  msgpack_pack_array(&pk, k->extra_origin ? 3 : 2);
  msgpack_pack_bin_with_body(&pk, k->origins_unsorted ? ob : oa, CRDT_KEY_LEN);
  msgpack_pack_bin_with_body(&pk, k->origins_unsorted ? oa : ob, CRDT_KEY_LEN);
  if (k->extra_origin) {
    uint8_t oc[CRDT_KEY_LEN];
    memset(oc, 0xcc, sizeof oc);
    msgpack_pack_bin_with_body(&pk, oc, CRDT_KEY_LEN);
  }
  switch (k->stamps) {
  case 1: /* s1, s0, s2: not sorted */
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint64(&pk, h), msgpack_pack_uint64(&pk, ib);
    msgpack_pack_uint64(&pk, 0), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 7), msgpack_pack_uint64(&pk, ia);
    break;
  case 2: /* s0, s0, s1, s2 */
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint64(&pk, h), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 0), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 0), msgpack_pack_uint64(&pk, ib);
    msgpack_pack_uint64(&pk, 7), msgpack_pack_uint64(&pk, ia);
    break;
  case 4: /* an odd count */
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint64(&pk, h), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 0), msgpack_pack_uint64(&pk, ib);
    msgpack_pack_uint64(&pk, 7), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 1);
    break;
  default: /* s0, s1, s2 (and, 3: s3 = (h + 9, ob) unused) */
    msgpack_pack_array(&pk, k->stamps == 3 ? 8 : 6);
    msgpack_pack_uint64(&pk, h), msgpack_pack_uint64(&pk, ia);
    msgpack_pack_uint64(&pk, 0),
        msgpack_pack_uint64(&pk, k->stamps == 5 ? 2 : ib);
    msgpack_pack_uint64(&pk, 7), msgpack_pack_uint64(&pk, ia);
    if (k->stamps == 3)
      msgpack_pack_uint64(&pk, 2), msgpack_pack_uint64(&pk, ib);
  }
  /* the stamps' indices: shifted by one where s0 is there twice */
  unsigned s0 = 0, s1 = k->stamps == 1 ? 0 : k->stamps == 2 ? 2 : 1,
           s2 = k->stamps == 2 ? 3 : 2;
  if (k->stamps == 1)
    s0 = 1;
  msgpack_pack_nil(&pk);
  /* the fields, flat: name, s, value / name, nil, [elems] */
  msgpack_pack_array(&pk, k->field_arrays
                              ? 3u + k->custom_spelt
                              : 9u + 3 * k->custom_spelt + k->empty_elems -
                                    k->reg_split);
  /* "name" */
  if (k->field_arrays)
    msgpack_pack_array(&pk, 3);
  if (k->name_spelt)
    pk_str(&pk, "name");
  else
    msgpack_pack_uint64(&pk, k->name_idx ? k->name_idx : name_number("name"));
  msgpack_pack_uint64(&pk, s0);
  pk_str(&pk, "甲");
  if (k->empty_elems)
    msgpack_pack_array(&pk, 0);
  /* "note" */
  if (k->field_arrays)
    msgpack_pack_array(&pk, 3);
  msgpack_pack_uint64(&pk, name_number("note"));
  if (k->reg_split)
    msgpack_pack_array(&pk, 2);
  msgpack_pack_uint64(&pk, k->reg_idx ? k->reg_idx : s1);
  pk_str(&pk, "乙");
  /* "tags" */
  if (k->field_arrays)
    msgpack_pack_array(&pk, 3);
  msgpack_pack_uint64(&pk, name_number("tags"));
  msgpack_pack_nil(&pk);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_array(&pk, k->empty_rems ? 3 : 2);
  pk_str(&pk, "elderly");
  msgpack_pack_array(&pk, 1);
  msgpack_pack_uint64(&pk, s2);
  if (k->empty_rems)
    msgpack_pack_array(&pk, 0);
  if (k->custom_spelt) { /* after "tags": "x_custom" sorts last */
    pk_str(&pk, "x_custom");
    msgpack_pack_uint64(&pk, s0);
    pk_str(&pk, "丙");
  }
  if (k->trailing)
    msgpack_pack_nil(&pk);
  bytes b = {tu_dup(sb.data, sb.size), sb.size};
  msgpack_sbuffer_destroy(&sb);
  return b;
}

/* The record build() describes, made by apply. */
static crdt_record *built(bool custom)
{
  crdt_record *r = empty();
  apply(r, CRDT_OP_SET, "name", "甲", NULL, 0, stamp(NOW, 0, oa));
  apply(r, CRDT_OP_SET, "note", "乙", NULL, 0, stamp(NOW, 0, ob));
  apply(r, CRDT_OP_ADD, "tags", "elderly", NULL, 0, stamp(NOW, 7, oa));
  if (custom)
    apply(r, CRDT_OP_SET, "x_custom", "丙", NULL, 0, stamp(NOW, 0, oa));
  return r;
}

static gs_err try_build(const knobs *k)
{
  bytes b = build(k);
  crdt_record *d = (crdt_record *)&b; /* must be overwritten */
  gs_err err = dec3(b.p, b.n, &d);
  if (err)
    cr_assert_null(d, "an error left a record behind");
  crdt_record_free(d);
  free(b.p);
  return err;
}

Test(crdt_record3, the_hand_built_bytes_are_the_encoders)
{
  for (int custom = 0; custom < 2; custom++) {
    knobs k = {.custom_spelt = custom};
    bytes b = build(&k);
    crdt_record *r = built(custom);
    bytes e = enc3(r);
    cr_assert(b.n == e.n && memcmp(b.p, e.p, b.n) == 0,
              "the builder writes what the encoder does (%zu vs %zu)", b.n,
              e.n);
    cr_assert_eq(try_build(&k), GS_OK);
    free(b.p), free(e.p);
    crdt_record_free(r);
  }
}

Test(crdt_record3, each_rule_is_refused_on_its_own)
{
  static const struct {
    const char *what;
    knobs k;
  } bad[] = {
      {"origin table out of order", {.origins_unsorted = true}},
      {"an origin no stamp names", {.extra_origin = true}},
      {"stamp table out of order", {.stamps = 1}},
      {"a stamp twice", {.stamps = 2}},
      {"a stamp nothing names", {.stamps = 3}},
      {"a stamp table of an odd count", {.stamps = 4}},
      {"an origin index out of range", {.stamps = 5}},
      {"a stamp index out of range", {.reg_idx = 3}},
      {"a stamp index far out of range", {.reg_idx = 100000}},
      {"a table name spelt as a string", {.name_spelt = true}},
      {"a name number out of the table", {.name_idx = 127}},
      {"an empty list of elements written", {.empty_elems = true}},
      {"a register in its own array", {.reg_split = true}},
      {"an empty list of removes written", {.empty_rems = true}},
      {"fields in arrays of their own", {.field_arrays = true}},
      {"trailing bytes", {.trailing = true}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    gs_err err = try_build(&bad[i].k);
    cr_assert_neq(err, GS_OK, "%s: accepted", bad[i].what);
    cr_assert(err == GS_EDECODE || err == GS_ETRAILING, "%s: %s",
              bad[i].what, gs_errname(err));
  }
  knobs tr = {.trailing = true};
  cr_assert_eq(try_build(&tr), GS_ETRAILING);
  /* the state reader (no canonical check) still refuses what it cannot
   * read: an index out of range, an odd table, trailing bytes */
  static const knobs unreadable[] = {
      {.stamps = 4}, {.stamps = 5}, {.reg_idx = 3}, {.name_idx = 127},
      {.trailing = true}};
  for (size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
    bytes b = build(&unreadable[i]);
    crdt_record *d;
    cr_assert_neq(crdt_record_decode_state_key(b.p, b.n, scope, strlen(scope),
                                               "resident", 8, rid, &d),
                  GS_OK, "case %zu", i);
    free(b.p);
  }
}

Test(crdt_record3, every_truncation_and_byte_flip_is_refused_or_canonical)
{
  crdt_record *r = rich();
  bytes b = enc3(r);
  for (size_t cut = 0; cut < b.n; cut++) {
    uint8_t *p = tu_dup(b.p, cut);
    crdt_record *d;
    cr_assert_neq(dec3(p, cut, &d), GS_OK, "a cut at %zu", cut);
    cr_assert_neq(crdt_record_decode_state_key(p, cut, scope, strlen(scope),
                                               "resident", 8, rid, &d),
                  GS_OK, "a cut at %zu", cut);
    free(p);
  }
  /* a flipped byte: refused, or another record's canonical bytes */
  for (size_t i = 0; i < b.n; i++) {
    uint8_t *p = tu_dup(b.p, b.n);
    p[i] ^= 0x41;
    crdt_record *d;
    if (dec3(p, b.n, &d) == GS_OK) {
      bytes e = enc3(d);
      cr_assert(e.n == b.n && memcmp(e.p, p, b.n) == 0, "flip at %zu", i);
      free(e.p);
      crdt_record_free(d);
    }
    if (crdt_record_decode_state_key(p, b.n, scope, strlen(scope),
                                     "resident", 8, rid, &d) == GS_OK)
      crdt_record_free(d);
    free(p);
  }
  free(b.p);
  crdt_record_free(r);
}

Test(crdt_record3, a_record_of_many_stamps_and_origins_round_trips)
{
  /* 300 stamps (indices of two bytes past 127) from 20 origins (past the
   * encoder's 8 kept inline) */
  crdt_record *r = empty();
  uint8_t o[20][CRDT_KEY_LEN];
  for (int i = 0; i < 20; i++)
    memset(o[i], 0x10 + 7 * i, CRDT_KEY_LEN);
  for (int i = 0; i < 300; i++) {
    char v[16];
    snprintf(v, sizeof v, "t%d", i);
    apply(r, CRDT_OP_ADD, "tags", v, NULL, 0,
          stamp(NOW + (uint64_t)(i / 3), (unsigned)(i % 3), o[(i * 7) % 20]));
    if (i % 10 == 0)
      apply(r, CRDT_OP_SET, i % 20 ? "note" : "x_free", v, NULL, 0,
            stamp(NOW + 1000 + (uint64_t)i, 0, o[i % 20]));
  }
  bytes b = enc3(r);
  crdt_record *d, *c;
  cr_assert_eq(dec3(b.p, b.n, &d), GS_OK);
  bytes x = enc3(d);
  cr_assert(x.n == b.n && memcmp(x.p, b.p, b.n) == 0);
  cr_assert_eq(crdt_record_decode_state_key(b.p, b.n, scope, strlen(scope),
                                            "resident", 8, rid, &c),
               GS_OK);
  bytes y = enc3(c);
  cr_assert(y.n == b.n && memcmp(y.p, b.p, b.n) == 0);
  /* the same state as version 2 holds it */
  bytes b2;
  crdt_record *e;
  cr_assert_eq(crdt_record_encode_v2(r, &b2.p, &b2.n), GS_OK);
  cr_assert_eq(dec3(b2.p, b2.n, &e), GS_OK);
  bytes z = enc3(e);
  cr_assert(z.n == b.n && memcmp(z.p, b.p, b.n) == 0);
  free(b.p), free(x.p), free(y.p), free(z.p), free(b2.p);
  crdt_record_free(r), crdt_record_free(d), crdt_record_free(c);
  crdt_record_free(e);
}
