/*
 * CRDT laws on random inputs with fixed seeds, 10,000 cases per law:
 *   - merge is commutative, associative and idempotent (canonical bytes
 *     compared byte for byte);
 *   - the same set of ops applied in any order, with duplicates, spread
 *     over replicas that merge in any order, gives identical bytes;
 *   - the state is what the CRDT semantics say: LWW registers, an
 *     observed-remove add-wins set, an LWW tombstone (checked against a
 *     simple model);
 *   - a write made after observing another (HLC observe, then tick) wins,
 *     also from a node whose clock is far behind;
 *   - a concurrent add and remove of one element leave it present.
 * Random histories use every value type (nil, bool, int extremes, floats
 * with -0.0, subnormals and DBL_MAX, Chinese text, bytes with NULs, refs),
 * set elements that are strings or refs, and deletes and restores; small
 * clock ranges and three origins force ties and concurrency.
 */
#include <float.h>

#include "crdt_test_util.h"

#define CASES 10000
#define MAX_OPS 20
#define T0 1790000000000ULL

static uint8_t origins[3][CRDT_KEY_LEN];
static const uint8_t rec_id[CRDT_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8,
                                            9, 10, 11, 12, 13, 14, 15, 16};
static const char *scope = "gongrencun/qinghejv/g07";

static const char *texts[] = {"", "王秀英", "李建国", "独居老人", "a",
                              "😀", "3单元502室", "\xe4\xb8\xad"};
static const char *elem_texts[] = {"elderly", "lives-alone", "党员",
                                   "残疾人", ""};
static const char *reg_fields[] = {"name", "age", "note", "room"};
static const char *set_fields[] = {"tags", "members"};
#define MIXED "status" /* takes both SET and ADD: laws only, not the model */

static void props_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  for (int i = 0; i < 3; i++) {
    memset(origins[i], 0x10 * (i + 1), CRDT_KEY_LEN);
    origins[i][CRDT_KEY_LEN - 1] = (uint8_t)i; /* differ in the last byte */
  }
}

TestSuite(crdt_props, .init = props_init, .timeout = 300);

/* ---- random values and histories ---- */

static void random_ref(tu_rng *r, crdt_value *v)
{
  v->type = CRDT_REF;
  v->u.ref.coll = tu_below(r, 2) ? "household" : "resident";
  v->u.ref.coll_len = strlen(v->u.ref.coll);
  memset(v->u.ref.id, (int)tu_below(r, 3), CRDT_ID_LEN);
}

static void random_value(tu_rng *r, crdt_value *v)
{
  static const int64_t ints[] = {0, 1, -1, 127, 128, -32, -33, INT64_MAX,
                                 INT64_MIN, 83};
  static const double floats[] = {0.0, -0.0, 1.5, -2.25, DBL_MAX, -DBL_MIN,
                                  4.9406564584124654e-324, 1e300};
  memset(v, 0, sizeof *v);
  switch (tu_below(r, 7)) {
  case 0:
    v->type = CRDT_NIL;
    break;
  case 1:
    v->type = CRDT_BOOL, v->u.b = tu_below(r, 2);
    break;
  case 2:
    v->type = CRDT_INT;
    v->u.i = tu_below(r, 3) ? ints[tu_below(r, 10)] : (int64_t)tu_next(r);
    break;
  case 3:
    v->type = CRDT_FLOAT, v->u.f = floats[tu_below(r, 8)];
    break;
  case 4: {
    const char *t = texts[tu_below(r, 8)];
    v->type = CRDT_STR, v->u.s.p = t, v->u.s.n = strlen(t);
    break;
  }
  case 5:
    v->type = CRDT_BYTES, v->u.s.p = "\0\xff\x10\x80", v->u.s.n = tu_below(r, 5);
    break;
  default:
    random_ref(r, v);
    break;
  }
}

static void random_elem(tu_rng *r, crdt_value *v)
{
  memset(v, 0, sizeof *v);
  if (tu_below(r, 4) == 0) {
    random_ref(r, v);
    return;
  }
  const char *t = elem_texts[tu_below(r, 5)];
  v->type = CRDT_STR, v->u.s.p = t, v->u.s.n = strlen(t);
}

/* One generated op with its stamp; a REMOVE's tags live in tags[]. */
typedef struct gop {
  crdt_op op;
  crdt_stamp st;
  crdt_stamp tags[4];
} gop;

static crdt_stamp random_stamp(tu_rng *r)
{
  crdt_stamp s;
  s.hlc = CRDT_HLC_MAKE(T0 + tu_below(r, 4), tu_below(r, 3));
  memcpy(s.origin, origins[tu_below(r, 3)], CRDT_KEY_LEN);
  return s;
}

static bool same_field(const crdt_op *a, const crdt_op *b)
{
  return a->field_len == b->field_len &&
         memcmp(a->field, b->field, a->field_len) == 0;
}

/* A random history of n ops on one record. A REMOVE names some of the
 * adds of its element seen so far (or, rarely, a tag never added) and is
 * stamped after them. */
static size_t random_history(tu_rng *r, gop *ops, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    gop *g = &ops[i];
    memset(g, 0, sizeof *g);
    g->st = random_stamp(r);
    crdt_op *op = &g->op;
    op->coll = "resident";
    op->coll_len = 8;
    memcpy(op->id, rec_id, CRDT_ID_LEN);
    size_t k = tu_below(r, 20);
    const char *f;
    if (k < 7) {
      op->kind = CRDT_OP_SET;
      f = tu_below(r, 8) ? reg_fields[tu_below(r, 4)] : MIXED;
      random_value(r, &op->value);
    } else if (k < 12) {
      op->kind = CRDT_OP_ADD;
      f = tu_below(r, 8) ? set_fields[tu_below(r, 2)] : MIXED;
      random_elem(r, &op->value);
    } else if (k < 16) {
      /* remove: pick an earlier add */
      size_t adds[MAX_OPS], na = 0;
      for (size_t j = 0; j < i; j++)
        if (ops[j].op.kind == CRDT_OP_ADD)
          adds[na++] = j;
      op->kind = CRDT_OP_REMOVE;
      if (na == 0 || tu_below(r, 10) == 0) {
        f = set_fields[tu_below(r, 2)];
        random_elem(r, &op->value);
        g->tags[0] = random_stamp(r); /* a tag never (yet) added */
        op->ntags = 1;
      } else {
        const gop *a = &ops[adds[tu_below(r, na)]];
        f = a->op.field;
        op->value = a->op.value;
        /* the tags of that element seen so far: a random subset */
        for (size_t j = 0; j < i && op->ntags < 4; j++) {
          const gop *o = &ops[j];
          if (o->op.kind != CRDT_OP_ADD || !same_field(&o->op, &a->op) ||
              !crdt_value_equal(&o->op.value, &op->value))
            continue;
          if (o != a && tu_below(r, 2))
            continue;
          bool dup = false;
          for (size_t t = 0; t < op->ntags; t++)
            dup |= crdt_stamp_cmp(&g->tags[t], &o->st) == 0;
          if (!dup)
            g->tags[op->ntags++] = o->st;
        }
        /* a remove happens after the adds it saw */
        for (size_t t = 0; t < op->ntags; t++)
          if (g->st.hlc <= g->tags[t].hlc)
            g->st.hlc = g->tags[t].hlc + 1 + tu_below(r, 2);
      }
      op->tags = g->tags;
    } else {
      op->kind = tu_below(r, 2) ? CRDT_OP_DELETE : CRDT_OP_RESTORE;
      f = NULL;
    }
    op->field = f;
    op->field_len = f ? strlen(f) : 0;
  }
  return n;
}

/* ---- records ---- */

static crdt_record *empty(void)
{
  crdt_record *rec = crdt_record_new(scope, strlen(scope), "resident", 8,
                                     rec_id);
  cr_assert_not_null(rec);
  return rec;
}

static void apply(crdt_record *rec, const gop *g)
{
  gs_err err = crdt_record_apply(rec, &g->op, &g->st);
  cr_assert_eq(err, GS_OK, "apply: %s", gs_errname(err));
}

/* A record from the ops whose bit is set in mask, in order. */
static crdt_record *build(const gop *ops, size_t n, uint32_t mask)
{
  crdt_record *rec = empty();
  for (size_t i = 0; i < n; i++)
    if (mask & (1u << i))
      apply(rec, &ops[i]);
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
  if (x.n != y.n || memcmp(x.p, y.p, x.n) != 0)
    cr_assert_fail("%s fails on case %d (%zu vs %zu bytes)", law, i, x.n,
                   y.n);
  free(x.p);
  free(y.p);
}

/* A copy through the canonical encoding. */
static crdt_record *copy(const crdt_record *a)
{
  bytes x = enc(a);
  crdt_record *c;
  const char *sc, *co;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(a, &sc, &sn, &co, &cn, id);
  gs_err err = crdt_record_decode_key(x.p, x.n, sc, sn, co, cn, id, &c);
  cr_assert_eq(err, GS_OK, "decode of an encoded record: %s",
               gs_errname(err));
  free(x.p);
  return c;
}

/* merge(a, b) as a new record: an empty record merged with a, then b
 * (so merge into empty is exercised too; the round trip is checked in
 * state_matches_the_semantics). */
static crdt_record *merged(const crdt_record *a, const crdt_record *b)
{
  crdt_record *m = empty();
  cr_assert_eq(crdt_record_merge(m, a), GS_OK);
  cr_assert_eq(crdt_record_merge(m, b), GS_OK);
  return m;
}

static uint32_t rmask(tu_rng *r, size_t n)
{
  return (uint32_t)tu_next(r) & ((1u << n) - 1);
}

/* ---- the laws ---- */

Test(crdt_props, merge_is_commutative)
{
  tu_rng r = {1};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_history(&r, ops, 1 + tu_below(&r, MAX_OPS));
    crdt_record *a = build(ops, n, rmask(&r, n));
    crdt_record *b = build(ops, n, rmask(&r, n));
    crdt_record *ab = merged(a, b), *ba = merged(b, a);
    assert_same(ab, ba, "commutativity", i);
    crdt_record_free(a), crdt_record_free(b);
    crdt_record_free(ab), crdt_record_free(ba);
  }
}

Test(crdt_props, merge_is_associative)
{
  tu_rng r = {2};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_history(&r, ops, 1 + tu_below(&r, MAX_OPS));
    crdt_record *a = build(ops, n, rmask(&r, n));
    crdt_record *b = build(ops, n, rmask(&r, n));
    crdt_record *c = build(ops, n, rmask(&r, n));
    crdt_record *ab = merged(a, b), *ab_c = merged(ab, c);
    crdt_record *bc = merged(b, c), *a_bc = merged(a, bc);
    assert_same(ab_c, a_bc, "associativity", i);
    crdt_record_free(a), crdt_record_free(b), crdt_record_free(c);
    crdt_record_free(ab), crdt_record_free(ab_c);
    crdt_record_free(bc), crdt_record_free(a_bc);
  }
}

Test(crdt_props, merge_is_idempotent)
{
  tu_rng r = {3};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_history(&r, ops, 1 + tu_below(&r, MAX_OPS));
    uint32_t m = rmask(&r, n);
    crdt_record *a = build(ops, n, m), *aa = merged(a, a);
    assert_same(aa, a, "idempotence", i);
    /* in place, into itself */
    crdt_record *self = copy(a);
    cr_assert_eq(crdt_record_merge(self, self), GS_OK);
    assert_same(self, a, "self-merge", i);
    /* merging in what a already holds (a subset) changes nothing */
    crdt_record *sub = build(ops, n, m & rmask(&r, n));
    crdt_record *as = merged(a, sub);
    assert_same(as, a, "absorption", i);
    /* nor does applying an op a already holds */
    if (m) {
      size_t j = (size_t)__builtin_ctz(m);
      apply(self, &ops[j]);
      assert_same(self, a, "idempotent apply", i);
    }
    crdt_record_free(a), crdt_record_free(aa), crdt_record_free(self);
    crdt_record_free(sub), crdt_record_free(as);
  }
}

static void shuffle(tu_rng *r, size_t *v, size_t n)
{
  for (size_t j = n; j > 1; j--) {
    size_t s = tu_below(r, j), t = v[j - 1];
    v[j - 1] = v[s], v[s] = t;
  }
}

Test(crdt_props, any_order_with_duplicates_and_replicas_gives_the_same_bytes)
{
  tu_rng r = {4};
  gop ops[MAX_OPS];
  size_t order[3 * MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_history(&r, ops, 1 + tu_below(&r, MAX_OPS));
    crdt_record *ref = build(ops, n, 0xffffffffu);
    /* one replica: a shuffled sequence holding each op once or more */
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
      order[k++] = j;
      while (tu_below(&r, 3) == 0 && k < 3 * MAX_OPS)
        order[k++] = j;
    }
    shuffle(&r, order, k);
    crdt_record *rec = empty();
    for (size_t j = 0; j < k; j++)
      apply(rec, &ops[order[j]]);
    assert_same(rec, ref, "order independence", i);
    /* three replicas each get some of the ops (every op reaches at least
     * one), apply them shuffled, then merge in a random order */
    crdt_record *rep[3] = {empty(), empty(), empty()};
    for (size_t j = 0; j < n; j++)
      order[j] = j;
    shuffle(&r, order, n);
    for (size_t j = 0; j < n; j++) {
      unsigned who = 1 + (unsigned)tu_below(&r, 7); /* non-empty subset */
      for (int x = 0; x < 3; x++)
        if (who & (1u << x))
          apply(rep[x], &ops[order[j]]);
    }
    size_t p[3] = {0, 1, 2};
    shuffle(&r, p, 3);
    crdt_record *m1 = merged(rep[p[0]], rep[p[1]]);
    crdt_record *m2 = merged(m1, rep[p[2]]);
    assert_same(m2, ref, "replicas merged", i);
    crdt_record_free(rec), crdt_record_free(ref);
    for (int x = 0; x < 3; x++)
      crdt_record_free(rep[x]);
    crdt_record_free(m1), crdt_record_free(m2);
  }
}

/* ---- the state against a model of the semantics ---- */

static bytes value_bytes(const crdt_value *v)
{
  bytes b;
  cr_assert_eq(crdt_value_encode(v, &b.p, &b.n), GS_OK);
  return b;
}

static int bytes_cmp(bytes a, bytes b)
{
  size_t m = a.n < b.n ? a.n : b.n;
  int c = m ? memcmp(a.p, b.p, m) : 0;
  return c ? c : (a.n > b.n) - (a.n < b.n);
}

static bool field_is(const crdt_op *op, const char *f)
{
  return op->field && op->field_len == strlen(f) &&
         memcmp(op->field, f, op->field_len) == 0;
}

static int stamp_sort(const void *a, const void *b)
{
  return crdt_stamp_cmp(a, b);
}

static void check_model(const crdt_record *rec, const gop *ops, size_t n,
                        int i)
{
  /* tombstone: the latest DELETE/RESTORE; ties to DELETE */
  const gop *tw = NULL;
  for (size_t j = 0; j < n; j++) {
    const gop *g = &ops[j];
    if (g->op.kind != CRDT_OP_DELETE && g->op.kind != CRDT_OP_RESTORE)
      continue;
    int c = tw ? crdt_stamp_cmp(&g->st, &tw->st) : 1;
    if (c > 0 || (c == 0 && g->op.kind == CRDT_OP_DELETE))
      tw = g;
  }
  cr_assert_eq(crdt_record_deleted(rec), tw && tw->op.kind == CRDT_OP_DELETE,
               "case %d: tombstone", i);

  /* registers: the SET with the largest stamp (ties: larger value bytes) */
  for (size_t f = 0; f < 4; f++) {
    const char *name = reg_fields[f];
    const gop *win = NULL;
    bytes wb = {0};
    for (size_t j = 0; j < n; j++) {
      const gop *g = &ops[j];
      if (g->op.kind != CRDT_OP_SET || !field_is(&g->op, name))
        continue;
      bytes b = value_bytes(&g->op.value);
      int c = win ? crdt_stamp_cmp(&g->st, &win->st) : 1;
      if (c > 0 || (c == 0 && bytes_cmp(b, wb) > 0)) {
        free(wb.p);
        win = g, wb = b;
      } else {
        free(b.p);
      }
    }
    long fi = crdt_record_find(rec, name, strlen(name));
    if (!win) {
      cr_assert_eq(fi, -1, "case %d: field %s appeared", i, name);
      continue;
    }
    free(wb.p);
    cr_assert_geq(fi, 0);
    crdt_field_view fv;
    cr_assert_eq(crdt_record_field(rec, (size_t)fi, &fv), GS_OK);
    cr_assert(!fv.is_set);
    cr_assert(crdt_value_equal(&fv.value, &win->op.value),
              "case %d: register %s holds the wrong value", i, name);
    cr_assert_eq(crdt_stamp_cmp(&fv.stamp, &win->st), 0);
  }

  /* sets: an element's live tags are its add stamps that no remove of
   * that element named (add wins over any remove that did not see it) */
  for (size_t f = 0; f < 2; f++) {
    const char *name = set_fields[f];
    size_t live_elems = 0;
    bool any = false;
    for (size_t j = 0; j < n; j++) {
      const gop *e = &ops[j];
      if (e->op.kind == CRDT_OP_SET || !field_is(&e->op, name))
        continue;
      any = true;
      /* first op naming this element only */
      bool first = true;
      for (size_t x = 0; x < j && first; x++)
        if (ops[x].op.kind != CRDT_OP_SET && field_is(&ops[x].op, name) &&
            crdt_value_equal(&ops[x].op.value, &e->op.value))
          first = false;
      if (!first)
        continue;
      crdt_stamp want[MAX_OPS];
      size_t nw = 0;
      for (size_t x = 0; x < n; x++) {
        const gop *a = &ops[x];
        if (a->op.kind != CRDT_OP_ADD || !field_is(&a->op, name) ||
            !crdt_value_equal(&a->op.value, &e->op.value))
          continue;
        bool removed = false, dup = false;
        for (size_t y = 0; y < n; y++) {
          const gop *rm = &ops[y];
          if (rm->op.kind != CRDT_OP_REMOVE || !field_is(&rm->op, name) ||
              !crdt_value_equal(&rm->op.value, &e->op.value))
            continue;
          for (size_t t = 0; t < rm->op.ntags; t++)
            removed |= crdt_stamp_cmp(&rm->op.tags[t], &a->st) == 0;
        }
        for (size_t t = 0; t < nw; t++)
          dup |= crdt_stamp_cmp(&want[t], &a->st) == 0;
        if (!removed && !dup)
          want[nw++] = a->st;
      }
      qsort(want, nw, sizeof *want, stamp_sort);
      crdt_stamp *got;
      size_t ng;
      cr_assert_eq(crdt_record_elem_tags(rec, name, strlen(name),
                                         &e->op.value, &got, &ng),
                   GS_OK);
      cr_assert_eq(ng, nw, "case %d: %zu live tags, want %zu", i, ng, nw);
      for (size_t t = 0; t < nw; t++)
        cr_assert_eq(crdt_stamp_cmp(&got[t], &want[t]), 0, "case %d", i);
      free(got);
      live_elems += nw > 0;
    }
    long fi = crdt_record_find(rec, name, strlen(name));
    cr_assert_eq(fi >= 0, any, "case %d: field %s", i, name);
    if (fi >= 0) {
      crdt_field_view fv;
      cr_assert_eq(crdt_record_field(rec, (size_t)fi, &fv), GS_OK);
      cr_assert(fv.is_set);
      cr_assert_eq(fv.nelems, live_elems, "case %d: live elements", i);
      for (size_t j = 0; j < live_elems; j++) {
        crdt_value ev;
        cr_assert_eq(crdt_record_elem(rec, (size_t)fi, j, &ev), GS_OK);
        cr_assert(ev.type == CRDT_STR || ev.type == CRDT_REF);
      }
    }
  }
}

Test(crdt_props, state_matches_the_semantics)
{
  tu_rng r = {5};
  gop ops[MAX_OPS];
  for (int i = 0; i < CASES; i++) {
    size_t n = random_history(&r, ops, 1 + tu_below(&r, MAX_OPS));
    crdt_record *rec = build(ops, n, 0xffffffffu);
    check_model(rec, ops, n, i);
    /* the canonical encoding round trips and keeps the state */
    crdt_record *back = copy(rec);
    assert_same(back, rec, "encode(decode(encode(r)))", i);
    check_model(back, ops, n, i);
    crdt_record_free(rec), crdt_record_free(back);
  }
}

/* ---- causality through the HLC ---- */

/* A chain of nodes with arbitrary, often very wrong clocks: each observes
 * the previous node's write (a received change), then writes the same
 * field, the tombstone, and removes what it saw of a set element. Every
 * later write wins, whatever order the writes are applied or merged in. */
Test(crdt_props, a_write_after_observing_another_wins)
{
  static const uint64_t clocks[] = {
      0,                 /* dead CMOS battery: 1970 */
      946684800000ULL,   /* 2000 */
      T0 - 86400000ULL,  /* a day behind */
      T0,                /* now */
      T0 + 1,            /* */
      4102444800000ULL,  /* 2100 */
      32503680000000ULL, /* year 3000 */
  };
  tu_rng r = {6};
  for (int i = 0; i < CASES; i++) {
    size_t k = 2 + tu_below(&r, 4);
    gop w[3 * 5];
    crdt_hlc prev = 0;
    crdt_stamp last_st = {0};
    crdt_value last_v = {0};
    bool last_del = false;
    crdt_record *nodes[5];
    for (size_t j = 0; j < k; j++) {
      /* node j: its own history, then the previous write arrives */
      crdt_hlc st = 0, t;
      for (size_t h = tu_below(&r, 3); h > 0; h--)
        cr_assert_eq(crdt_hlc_tick(&st, clocks[tu_below(&r, 7)], &t), GS_OK);
      if (prev)
        cr_assert_eq(crdt_hlc_observe(&st, prev), GS_OK);
      uint64_t phys = clocks[tu_below(&r, 7)] + tu_below(&r, 3);
      crdt_stamp s;
      memcpy(s.origin, origins[tu_below(&r, 3)], CRDT_KEY_LEN);
      cr_assert_eq(crdt_hlc_tick(&st, phys, &s.hlc), GS_OK);
      cr_assert_gt(s.hlc, prev, "case %d: node %zu ticked backwards", i, j);
      if (j > 0)
        cr_assert_gt(crdt_stamp_cmp(&s, &last_st), 0);
      /* its writes: a register, the tombstone, and (after the first) a
       * remove of the element the previous node added, then its own add */
      gop *g = &w[3 * j];
      memset(g, 0, 3 * sizeof *g);
      for (int x = 0; x < 3; x++) {
        g[x].st = s;
        g[x].op.coll = "resident", g[x].op.coll_len = 8;
        memcpy(g[x].op.id, rec_id, CRDT_ID_LEN);
      }
      g[0].op.kind = CRDT_OP_SET;
      g[0].op.field = "status", g[0].op.field_len = 6;
      random_value(&r, &g[0].op.value);
      g[1].op.kind = tu_below(&r, 2) ? CRDT_OP_DELETE : CRDT_OP_RESTORE;
      g[2].op.field = "tags", g[2].op.field_len = 4;
      g[2].op.value.type = CRDT_STR;
      g[2].op.value.u.s.p = "党员", g[2].op.value.u.s.n = 6;
      if (j > 0 && tu_below(&r, 2)) {
        g[2].op.kind = CRDT_OP_REMOVE; /* removes the add it saw */
        g[2].tags[0] = last_st;
        g[2].op.tags = g[2].tags;
        g[2].op.ntags = 1;
      } else {
        g[2].op.kind = CRDT_OP_ADD;
      }
      /* the element stays if any add was not removed */
      last_st = s, last_v = g[0].op.value;
      last_del = g[1].op.kind == CRDT_OP_DELETE;
      prev = s.hlc;
      nodes[j] = empty();
      for (int x = 0; x < 3; x++)
        apply(nodes[j], &g[x]);
    }
    /* all writes, shuffled, on one record */
    size_t order[15], nw = 3 * k;
    for (size_t j = 0; j < nw; j++)
      order[j] = j;
    shuffle(&r, order, nw);
    crdt_record *all = empty();
    for (size_t j = 0; j < nw; j++)
      apply(all, &w[order[j]]);
    /* and the nodes' records merged in a random order */
    size_t p[5];
    for (size_t j = 0; j < k; j++)
      p[j] = j;
    shuffle(&r, p, k);
    crdt_record *m = copy(nodes[p[0]]);
    for (size_t j = 1; j < k; j++)
      cr_assert_eq(crdt_record_merge(m, nodes[p[j]]), GS_OK);
    assert_same(m, all, "merge vs apply", i);
    long fi = crdt_record_find(all, "status", 6);
    cr_assert_geq(fi, 0);
    crdt_field_view fv;
    cr_assert_eq(crdt_record_field(all, (size_t)fi, &fv), GS_OK);
    cr_assert(crdt_value_equal(&fv.value, &last_v),
              "case %d: the last write lost", i);
    cr_assert_eq(crdt_stamp_cmp(&fv.stamp, &last_st), 0);
    cr_assert_eq(crdt_record_deleted(all), last_del,
                 "case %d: the last delete/restore lost", i);
    /* the set: the last node's add survives; if it removed instead, the
     * element is gone unless an earlier add was never seen removed */
    bool present = false;
    for (size_t j = 0; j < k; j++) {
      if (w[3 * j + 2].op.kind != CRDT_OP_ADD)
        continue;
      bool removed = j + 1 < k &&
                     w[3 * (j + 1) + 2].op.kind == CRDT_OP_REMOVE;
      present |= !removed;
    }
    crdt_value el = {.type = CRDT_STR, .u.s = {"党员", 6}};
    crdt_stamp *tags;
    size_t nt;
    cr_assert_eq(crdt_record_elem_tags(all, "tags", 4, &el, &tags, &nt),
                 GS_OK);
    cr_assert_eq(nt > 0, present, "case %d: set element", i);
    free(tags);
    crdt_record_free(all), crdt_record_free(m);
    for (size_t j = 0; j < k; j++)
      crdt_record_free(nodes[j]);
  }
}

/* Node A adds an element (some tags); node B sees some or all of them and
 * removes what it saw; concurrently A adds it again. Merged either way,
 * the element is present exactly when some add was not seen by a remove. */
Test(crdt_props, add_wins_over_a_concurrent_remove)
{
  tu_rng r = {7};
  for (int i = 0; i < CASES; i++) {
    crdt_value el;
    random_elem(&r, &el);
    crdt_op add = {.kind = CRDT_OP_ADD, .coll = "resident", .coll_len = 8,
                   .field = "tags", .field_len = 4, .value = el};
    memcpy(add.id, rec_id, CRDT_ID_LEN);
    crdt_record *a = empty(), *b = empty();
    crdt_hlc ha = 0, hb = 0;
    uint64_t pa = T0 + tu_below(&r, 3), pb = tu_below(&r, 2) ? 0 : T0;
    /* A's first adds, all seen by B */
    crdt_stamp seen[3];
    size_t nseen = 1 + tu_below(&r, 3);
    for (size_t j = 0; j < nseen; j++) {
      seen[j].hlc = 0;
      memcpy(seen[j].origin, origins[0], CRDT_KEY_LEN);
      cr_assert_eq(crdt_hlc_tick(&ha, pa, &seen[j].hlc), GS_OK);
      cr_assert_eq(crdt_record_apply(a, &add, &seen[j]), GS_OK);
      cr_assert_eq(crdt_record_apply(b, &add, &seen[j]), GS_OK);
      cr_assert_eq(crdt_hlc_observe(&hb, seen[j].hlc), GS_OK);
    }
    /* B removes the tags it observed (maybe only some of them) */
    size_t nrem = tu_below(&r, 4) ? nseen : 1 + tu_below(&r, nseen);
    crdt_stamp rs;
    memcpy(rs.origin, origins[1], CRDT_KEY_LEN);
    cr_assert_eq(crdt_hlc_tick(&hb, pb, &rs.hlc), GS_OK);
    crdt_op rem = add;
    rem.kind = CRDT_OP_REMOVE;
    rem.tags = seen;
    rem.ntags = nrem;
    cr_assert_eq(crdt_record_apply(b, &rem, &rs), GS_OK);
    /* concurrently, A adds again (or not) */
    bool again = tu_below(&r, 2);
    if (again) {
      crdt_stamp s2;
      memcpy(s2.origin, origins[0], CRDT_KEY_LEN);
      cr_assert_eq(crdt_hlc_tick(&ha, pa, &s2.hlc), GS_OK);
      cr_assert_eq(crdt_record_apply(a, &add, &s2), GS_OK);
    }
    crdt_record *ab = merged(a, b), *ba = merged(b, a);
    assert_same(ab, ba, "add/remove commutativity", i);
    bool want = again || nrem < nseen;
    crdt_field_view fv;
    long fi = crdt_record_find(ab, "tags", 4);
    cr_assert_geq(fi, 0);
    cr_assert_eq(crdt_record_field(ab, (size_t)fi, &fv), GS_OK);
    cr_assert(fv.is_set);
    cr_assert_eq(fv.nelems, want ? 1u : 0u,
                 "case %d: again=%d removed %zu of %zu", i, again, nrem,
                 nseen);
    if (want) {
      crdt_value got;
      cr_assert_eq(crdt_record_elem(ab, (size_t)fi, 0, &got), GS_OK);
      cr_assert(crdt_value_equal(&got, &el));
    }
    crdt_record_free(a), crdt_record_free(b);
    crdt_record_free(ab), crdt_record_free(ba);
  }
}
