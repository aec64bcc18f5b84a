/*
 * CRDT laws on random inputs with fixed seeds (10,000 cases per law):
 * merge is commutative, associative and idempotent; applying the same ops
 * in any order, with duplicates, gives byte-identical canonical state; a
 * write made after observing another always wins, whatever the clocks.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

#define CASES 10000
#define MAX_OPS 24

/* splitmix64: a fixed, portable stream for each seed */
typedef struct rng {
  uint64_t s;
} rng;

static uint64_t next(rng *r)
{
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t below(rng *r, size_t n)
{
  return (size_t)(next(r) % n);
}

static uint8_t origins[3][CRDT_KEY_LEN];
static const uint8_t rec_id[CRDT_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8,
                                            9, 10, 11, 12, 13, 14, 15, 16};
static const char *scope = "gongrencun/qinghejv/g07";

static const char *texts[] = {"", "王秀英", "李建国", "a", "😀", "独居"};
static const char *elems[] = {"elderly", "lives-alone", "disabled",
                              "党员"};
static const char *fields[] = {"name", "age", "note", "tags", "room"};

/* One generated op with its stamp. */
typedef struct gop {
  crdt_op op;
  crdt_stamp st;
  crdt_stamp tag; /* REMOVE: the add it observed */
} gop;

static void random_value(rng *r, crdt_value *v)
{
  memset(v, 0, sizeof *v);
  switch (below(r, 7)) {
  case 0:
    v->type = CRDT_NIL;
    break;
  case 1:
    v->type = CRDT_BOOL, v->u.b = below(r, 2);
    break;
  case 2:
    v->type = CRDT_INT, v->u.i = (int64_t)next(r) >> below(r, 64);
    break;
  case 3: {
    static const double fs[] = {0.0, -0.0, 1.5, -2.25, 1e300, 3.0};
    v->type = CRDT_FLOAT, v->u.f = fs[below(r, 6)];
    break;
  }
  case 4: {
    const char *t = texts[below(r, 6)];
    v->type = CRDT_STR, v->u.s.p = t, v->u.s.n = strlen(t);
    break;
  }
  case 5:
    v->type = CRDT_BYTES, v->u.s.p = "\x00\xff\x10", v->u.s.n = below(r, 4);
    break;
  default:
    v->type = CRDT_REF, v->u.ref.coll = "household", v->u.ref.coll_len = 9;
    memset(v->u.ref.id, (int)below(r, 3), CRDT_ID_LEN);
    break;
  }
}

/* A random history of ops on one record from three origins; small hlc
 * ranges force ties and concurrent writes. */
static size_t random_ops(rng *r, gop *ops)
{
  size_t n = 1 + below(r, MAX_OPS);
  size_t nadds = 0;
  size_t adds[MAX_OPS];
  for (size_t i = 0; i < n; i++) {
    gop *g = &ops[i];
    memset(g, 0, sizeof *g);
    g->st.hlc = CRDT_HLC_MAKE(1790000000000ULL + below(r, 4), below(r, 3));
    memcpy(g->st.origin, origins[below(r, 3)], CRDT_KEY_LEN);
    crdt_op *op = &g->op;
    op->coll = "resident";
    op->coll_len = 8;
    memcpy(op->id, rec_id, CRDT_ID_LEN);
    const char *f = fields[below(r, 5)];
    op->field = f;
    op->field_len = strlen(f);
    size_t k = below(r, 10);
    if (k < 4) {
      op->kind = CRDT_OP_SET;
      random_value(r, &op->value);
    } else if (k < 7) {
      op->kind = CRDT_OP_ADD;
      const char *e = elems[below(r, 4)];
      op->value.type = CRDT_STR, op->value.u.s.p = e;
      op->value.u.s.n = strlen(e);
      adds[nadds++] = i;
    } else if (k < 8 && nadds) {
      /* remove an element whose add was observed: names that add's tag */
      const gop *a = &ops[adds[below(r, nadds)]];
      op->kind = CRDT_OP_REMOVE;
      op->field = a->op.field;
      op->field_len = a->op.field_len;
      op->value = a->op.value;
      g->tag = a->st;
      op->tags = &g->tag;
      op->ntags = 1;
      /* a remove happens after the add it saw */
      if (g->st.hlc <= a->st.hlc)
        g->st.hlc = a->st.hlc + 1;
    } else {
      op->kind = below(r, 2) ? CRDT_OP_DELETE : CRDT_OP_RESTORE;
    }
  }
  return n;
}

static crdt_record *empty(void)
{
  crdt_record *rec = crdt_record_new(scope, strlen(scope), "resident", 8,
                                     rec_id);
  cr_assert_not_null(rec);
  return rec;
}

/* A record from the ops whose bit is set in mask (in the given order). */
static crdt_record *build(const gop *ops, size_t n, uint32_t mask)
{
  crdt_record *rec = empty();
  for (size_t i = 0; i < n; i++)
    if (mask & (1u << i))
      cr_assert_eq(crdt_record_apply(rec, &ops[i].op, &ops[i].st), GS_OK);
  return rec;
}

typedef struct bytes {
  uint8_t *p;
  size_t n;
} bytes;

static bytes enc(const crdt_record *rec)
{
  bytes b;
  cr_assert_eq(crdt_record_encode(rec, &b.p, &b.n), GS_OK);
  return b;
}

static void assert_same(const crdt_record *a, const crdt_record *b,
                        const char *law, int i)
{
  bytes x = enc(a), y = enc(b);
  cr_assert(x.n == y.n && memcmp(x.p, y.p, x.n) == 0,
            "%s fails on case %d (%zu vs %zu bytes)", law, i, x.n, y.n);
  free(x.p);
  free(y.p);
}

static crdt_record *copy(const crdt_record *a)
{
  bytes x = enc(a);
  crdt_record *c;
  cr_assert_eq(crdt_record_decode(x.p, x.n, &c), GS_OK);
  free(x.p);
  return c;
}

static crdt_record *merged(const crdt_record *a, const crdt_record *b)
{
  crdt_record *m = copy(a);
  cr_assert_eq(crdt_record_merge(m, b), GS_OK);
  return m;
}

static void init_origins(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  for (int i = 0; i < 3; i++)
    memset(origins[i], 0x10 * (i + 1), CRDT_KEY_LEN);
}

TestSuite(crdt_props, .init = init_origins, .timeout = 300);

Test(crdt_props, merge_is_commutative)
{
  rng r = {1};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_ops(&r, ops);
    uint32_t ma = (uint32_t)next(&r), mb = (uint32_t)next(&r);
    crdt_record *a = build(ops, n, ma), *b = build(ops, n, mb);
    crdt_record *ab = merged(a, b), *ba = merged(b, a);
    assert_same(ab, ba, "commutativity", i);
    crdt_record_free(a), crdt_record_free(b);
    crdt_record_free(ab), crdt_record_free(ba);
  }
}

Test(crdt_props, merge_is_associative)
{
  rng r = {2};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_ops(&r, ops);
    crdt_record *a = build(ops, n, (uint32_t)next(&r));
    crdt_record *b = build(ops, n, (uint32_t)next(&r));
    crdt_record *c = build(ops, n, (uint32_t)next(&r));
    crdt_record *ab = merged(a, b), *ab_c = merged(ab, c);
    crdt_record *bc = merged(b, c), *a_bc = merged(a, bc);
    assert_same(ab_c, a_bc, "associativity", i);
    crdt_record_free(a), crdt_record_free(b), crdt_record_free(c);
    crdt_record_free(ab), crdt_record_free(ab_c);
    crdt_record_free(bc), crdt_record_free(a_bc);
  }
}

Test(crdt_props, merge_is_idempotent_and_absorbs_subsets)
{
  rng r = {3};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_ops(&r, ops);
    uint32_t m = (uint32_t)next(&r);
    crdt_record *a = build(ops, n, m), *aa = merged(a, a);
    assert_same(aa, a, "idempotence", i);
    /* merging in a subset of what a holds changes nothing */
    crdt_record *sub = build(ops, n, m & (uint32_t)next(&r));
    crdt_record *as = merged(a, sub);
    assert_same(as, a, "absorption", i);
    crdt_record_free(a), crdt_record_free(aa);
    crdt_record_free(sub), crdt_record_free(as);
  }
}

Test(crdt_props, any_order_with_duplicates_gives_the_same_bytes)
{
  rng r = {4};
  gop ops[MAX_OPS];
  size_t order[3 * MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_ops(&r, ops);
    crdt_record *ref = build(ops, n, 0xffffffffu);
    /* a shuffled sequence holding each op once or more */
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
      order[k++] = j;
      while (below(&r, 3) == 0 && k < 3 * MAX_OPS)
        order[k++] = j;
    }
    for (size_t j = k - 1; j > 0; j--) {
      size_t s = below(&r, j + 1), t = order[j];
      order[j] = order[s], order[s] = t;
    }
    crdt_record *rec = empty();
    for (size_t j = 0; j < k; j++)
      cr_assert_eq(crdt_record_apply(rec, &ops[order[j]].op,
                                     &ops[order[j]].st),
                   GS_OK);
    assert_same(rec, ref, "order independence", i);
    /* and the same state reached by merging halves */
    crdt_record *h1 = build(ops, n, 0x55555555u), *h2 = build(ops, n,
                                                             0xaaaaaaaau);
    crdt_record *m = merged(h2, h1);
    assert_same(m, ref, "merge of halves", i);
    crdt_record_free(rec), crdt_record_free(ref);
    crdt_record_free(h1), crdt_record_free(h2), crdt_record_free(m);
  }
}

/* Two nodes with arbitrary (often wrong) physical clocks: B observes A's
 * write, then writes the same field; B's value wins on both nodes. */
Test(crdt_props, a_write_after_observing_another_wins)
{
  rng r = {5};
  static const uint64_t clocks[] = {
      0,                       /* dead CMOS battery: 1970 */
      946684800000ULL,         /* 2000 */
      1790000000000ULL,        /* now-ish */
      1790000000001ULL,        /* */
      4102444800000ULL,        /* 2100 */
      32503680000000ULL,       /* year 3000 */
  };
  for (int i = 0; i < CASES; i++) {
    crdt_hlc ha = 0, hb = 0;
    /* some history on each node first */
    for (size_t k = below(&r, 4); k > 0; k--) {
      crdt_hlc t;
      cr_assert_eq(crdt_hlc_tick(&ha, clocks[below(&r, 6)], &t), GS_OK);
      cr_assert_eq(crdt_hlc_tick(&hb, clocks[below(&r, 6)], &t), GS_OK);
    }
    uint64_t pa = clocks[below(&r, 6)] + below(&r, 5);
    uint64_t pb = clocks[below(&r, 6)] + below(&r, 5);
    crdt_stamp sa = {0}, sb = {0};
    memcpy(sa.origin, origins[below(&r, 3)], CRDT_KEY_LEN);
    memcpy(sb.origin, origins[below(&r, 3)], CRDT_KEY_LEN);
    cr_assert_eq(crdt_hlc_tick(&ha, pa, &sa.hlc), GS_OK);
    cr_assert_eq(crdt_hlc_observe(&hb, sa.hlc), GS_OK);
    cr_assert_eq(crdt_hlc_tick(&hb, pb, &sb.hlc), GS_OK);
    cr_assert_gt(crdt_stamp_cmp(&sb, &sa), 0, "case %d: stamp not after",
                 i);

    crdt_op wa = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                  .field = "status", .field_len = 6};
    memcpy(wa.id, rec_id, CRDT_ID_LEN);
    crdt_op wb = wa;
    random_value(&r, &wa.value);
    do
      random_value(&r, &wb.value);
    while (crdt_value_equal(&wa.value, &wb.value));
    crdt_record *x = empty(), *y = empty();
    crdt_record_apply(x, &wa, &sa);
    crdt_record_apply(x, &wb, &sb);
    crdt_record_apply(y, &wb, &sb);
    crdt_record_apply(y, &wa, &sa);
    assert_same(x, y, "order", i);
    long fi = crdt_record_find(x, "status", 6);
    cr_assert_geq(fi, 0);
    crdt_field_view fv;
    gs_err fe = crdt_record_field(x, (size_t)fi, &fv);
    cr_assert_eq(fe, GS_OK, "case %d: field: %s (type %d)", i,
                 gs_strerror(fe), wb.value.type);
    cr_assert(crdt_value_equal(&fv.value, &wb.value),
              "case %d: the later write lost", i);
    crdt_record_free(x), crdt_record_free(y);
  }
}

Test(crdt_props, add_wins_over_a_concurrent_remove)
{
  /* node A adds "elderly" again while B removes the add it saw */
  crdt_stamp s1 = {.hlc = CRDT_HLC_MAKE(1790000000000ULL, 0)};
  crdt_stamp s2 = {.hlc = CRDT_HLC_MAKE(1790000000005ULL, 0)};
  crdt_stamp s3 = {.hlc = CRDT_HLC_MAKE(1790000000003ULL, 0)};
  memcpy(s1.origin, origins[0], CRDT_KEY_LEN);
  memcpy(s2.origin, origins[1], CRDT_KEY_LEN);
  memcpy(s3.origin, origins[0], CRDT_KEY_LEN);
  crdt_op add = {.kind = CRDT_OP_ADD, .coll = "resident", .coll_len = 8,
                 .field = "tags", .field_len = 4,
                 .value = {.type = CRDT_STR, .u.s = {"elderly", 7}}};
  memcpy(add.id, rec_id, CRDT_ID_LEN);
  crdt_op rem = add;
  rem.kind = CRDT_OP_REMOVE;
  rem.tags = &s1;
  rem.ntags = 1;
  crdt_record *a = empty(), *b = empty();
  crdt_record_apply(a, &add, &s1);
  crdt_record_apply(b, &add, &s1);
  crdt_record_apply(b, &rem, &s2); /* B removes what it saw (later stamp) */
  crdt_record_apply(a, &add, &s3); /* A adds again, concurrently */
  crdt_record *m = merged(a, b);
  long fi = crdt_record_find(m, "tags", 4);
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(m, (size_t)fi, &fv), GS_OK);
  cr_assert(fv.is_set);
  cr_assert_eq(fv.nelems, 1, "the concurrent add was lost");
  /* without the concurrent add, the remove takes effect */
  crdt_record *c = empty();
  crdt_record_apply(c, &add, &s1);
  crdt_record_apply(c, &rem, &s2);
  fi = crdt_record_find(c, "tags", 4);
  cr_assert_eq(crdt_record_field(c, (size_t)fi, &fv), GS_OK);
  cr_assert_eq(fv.nelems, 0);
  crdt_record_free(a), crdt_record_free(b), crdt_record_free(m);
  crdt_record_free(c);
}

Test(crdt_props, delete_and_restore_are_last_writer_wins)
{
  crdt_op del = {.kind = CRDT_OP_DELETE, .coll = "resident", .coll_len = 8};
  memcpy(del.id, rec_id, CRDT_ID_LEN);
  crdt_op res = del;
  res.kind = CRDT_OP_RESTORE;
  crdt_stamp s1 = {.hlc = CRDT_HLC_MAKE(1790000000000ULL, 0)};
  crdt_stamp s2 = {.hlc = CRDT_HLC_MAKE(1790000000000ULL, 1)};
  memcpy(s1.origin, origins[0], CRDT_KEY_LEN);
  memcpy(s2.origin, origins[0], CRDT_KEY_LEN);
  crdt_record *a = empty();
  crdt_record_apply(a, &res, &s2);
  crdt_record_apply(a, &del, &s1); /* older delete arrives late */
  cr_assert(!crdt_record_deleted(a));
  crdt_record *b = empty();
  crdt_record_apply(b, &del, &s2);
  crdt_record_apply(b, &res, &s1);
  cr_assert(crdt_record_deleted(b));
  crdt_record_free(a), crdt_record_free(b);
}
