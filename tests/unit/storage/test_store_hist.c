/* store: the history index (`hist`, format 5). Its keys name a change by
 * the feed's local number and the seq, each a short LEB128, and hold no
 * hlc: store_history still gives a record's changes by hlc, then feed
 * number, then seq, whatever the keys' order; a record of thousands of
 * changes reads whole; a tail that is not exactly two canonical numbers
 * is corruption. */
#include <criterion/criterion.h>
#include <lmdb.h>

#include "tests/unit/storage/store_test_util.h"

static char dir[64];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
}

static void teardown(void)
{
  t_rmtree(dir);
}

TestSuite(store_hist, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";

/* Change seq + 1 of f at hlc (above f's last), applied to s. */
static void apply_at(store *s, t_feed *f, crdt_hlc hlc, const crdt_op *op)
{
  uint8_t *raw;
  size_t n;
  store_result res;
  cr_assert_gt(hlc, f->hlc);
  f->hlc = hlc - 1; /* t_next ticks it by one */
  cr_assert_eq(t_next(f, op, 1, &raw, &n), GS_OK);
  cr_assert_eq(t_apply1(s, raw, n, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
  free(raw);
}

/* The hist keys of (coll, id), with LMDB directly: their tails' lengths
 * in tails (cap), how many there are. */
static size_t raw_tails(const char *coll, const uint8_t id[CRDT_ID_LEN],
                        size_t *tails, size_t cap)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
  MDB_cursor *cur;
  uint8_t pre[64];
  size_t pn = strlen(coll) + 1 + CRDT_ID_LEN, n = 0;
  memcpy(pre, coll, strlen(coll) + 1);
  memcpy(pre + strlen(coll) + 1, id, CRDT_ID_LEN);
  cr_assert_eq(mdb_env_create(&env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
  cr_assert_eq(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
  cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
  cr_assert_eq(mdb_dbi_open(txn, "hist", 0, &db), 0);
  cr_assert_eq(mdb_cursor_open(txn, db, &cur), 0);
  MDB_val k = {pn, pre}, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size >= pn && memcmp(k.mv_data, pre, pn) == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (n < cap)
      tails[n] = k.mv_size - pn;
    n++;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return n;
}

/* Three feeds edit one record, their hlcs interleaved (and two equal):
 * the keys sort by feed number then seq, the history by hlc, a tie by
 * the feed numbered first (the one applied first). */
Test(store_hist, history_is_in_hlc_order_not_key_order)
{
  store *s;
  t_feed f[3];
  uint8_t id[CRDT_ID_LEN];
  const crdt_hlc h0 = CRDT_HLC_MAKE(T_NOW_MS, 0);
  t_id(id, 5, 1);
  crdt_op op = t_set_str("resident", id, "name", "王秀英", 9);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  for (int i = 0; i < 3; i++)
    t_feed_init(&f[i], scope);
  /* applied in this order: the feeds get numbers 1, 2, 3 */
  static const struct {
    int feed;
    unsigned at;
  } steps[] = {{0, 10}, {0, 30}, {0, 50}, {1, 20}, {1, 40}, {2, 30}, {2, 60}};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
    apply_at(s, &f[steps[i].feed], h0 + steps[i].at, &op);
  /* by hlc: A1 10, B1 20, A2 30 and C1 30 (A numbered first), B2 40,
   * A3 50, C2 60 */
  static const struct {
    int feed;
    uint64_t seq;
    unsigned at;
  } want[] = {{0, 1, 10}, {1, 1, 20}, {0, 2, 30}, {2, 1, 30},
              {1, 2, 40}, {0, 3, 50}, {2, 2, 60}};
  t_hist h;
  cr_assert_eq(t_history(s, "resident", id, &h), GS_OK);
  cr_assert_eq(h.n, 7);
  for (size_t i = 0; i < 7; i++) {
    cr_assert_eq(h.hlc[i], h0 + want[i].at, "change %zu", i);
    cr_assert_eq(h.seq[i], want[i].seq, "change %zu", i);
    cr_assert_arr_eq(h.origin[i], f[want[i].feed].pk, CRDT_KEY_LEN,
                     "change %zu", i);
  }
  store_close(s);
  /* each key's tail two bytes: the feed's number and the seq, both < 128 */
  size_t tails[8];
  cr_assert_eq(raw_tails("resident", id, tails, 8), 7);
  for (size_t i = 0; i < 7; i++)
    cr_assert_eq(tails[i], 2, "tail %zu: %zu bytes", i, tails[i]);
}

typedef struct many {
  size_t n, stop_at;
  crdt_hlc last;
  uint64_t next_a; /* the next seq of the first feed */
  const uint8_t *a;
  bool sorted, a_in_order;
} many;

static int many_cb(void *ctx, const crdt_change *c)
{
  many *m = ctx;
  if (m->n && c->hlc <= m->last)
    m->sorted = false;
  if (memcmp(c->origin, m->a, CRDT_KEY_LEN) == 0 && c->seq != m->next_a++)
    m->a_in_order = false;
  m->last = c->hlc;
  return ++m->n == m->stop_at;
}

/* One record, 3,000 changes of one feed and 30 of another between them:
 * its seqs past 127 take two bytes (their keys no longer sort by seq),
 * the changes' bytes far more than store_history keeps decoded between
 * its passes. All come back, by hlc; a callback's stop still stops. */
Test(store_hist, a_record_of_thousands_of_changes_reads_whole_and_in_order,
     .timeout = 120)
{
  enum { NA = 3000, NB = 30, BATCH = 100 };
  store *s;
  t_feed a, b;
  uint8_t id[CRDT_ID_LEN];
  static char note[600];
  const crdt_hlc h0 = CRDT_HLC_MAKE(T_NOW_MS, 0);
  t_id(id, 5, 2);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  t_feed_init(&a, scope);
  t_feed_init(&b, scope);
  static uint8_t *raws[BATCH];
  static size_t lens[BATCH];
  size_t nb = 0, bi = 0;
  for (size_t i = 0; i < NA; i++) {
    /* a note that does not pack to nothing: t_noise as hex */
    uint8_t noise[sizeof note / 2 - 1]; /* 598 hex digits and their 0 */
    t_noise(noise, sizeof noise, i);
    for (size_t j = 0; j < sizeof noise; j++)
      snprintf(note + 2 * j, 3, "%02x", noise[j]);
    crdt_op op = t_set_str("resident", id, "note", note, sizeof note - 2);
    a.hlc = h0 + 4 * i; /* t_next: + 1 */
    cr_assert_eq(t_next(&a, &op, 1, &raws[nb], &lens[nb]), GS_OK);
    nb++;
    if (i % 100 == 50 && bi < NB) { /* between two of a's */
      crdt_op ob = t_set_int("resident", id, "unit", (int64_t)bi);
      b.hlc = h0 + 4 * i + 2;
      cr_assert_eq(t_next(&b, &ob, 1, &raws[nb], &lens[nb]), GS_OK);
      nb++, bi++;
    }
    if (nb >= BATCH - 1 || i == NA - 1) {
      store_result res;
      cr_assert_eq(store_apply(s, (const uint8_t *const *)raws, lens, nb,
                               &res, NULL),
                   GS_OK);
      cr_assert_eq(res.applied, nb);
      for (size_t j = 0; j < nb; j++)
        free(raws[j]);
      nb = 0;
    }
  }
  cr_assert_eq(bi, NB);
  many m = {.a = a.pk, .next_a = 1, .sorted = true, .a_in_order = true};
  cr_assert_eq(store_history(s, "resident", 8, id, many_cb, &m), GS_OK);
  cr_assert_eq(m.n, NA + NB);
  cr_assert(m.sorted, "by hlc");
  cr_assert(m.a_in_order, "the first feed's by seq");
  cr_assert_eq(m.next_a, NA + 1);
  cr_assert_eq(m.last, h0 + 4 * (NA - 1) + 1);
  /* stopped after ten: ten called, and no error */
  many m10 = {.a = a.pk, .next_a = 1, .sorted = true, .a_in_order = true,
              .stop_at = 10};
  cr_assert_eq(store_history(s, "resident", 8, id, many_cb, &m10), GS_OK);
  cr_assert_eq(m10.n, 10);
  cr_assert(m10.sorted && m10.a_in_order);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
  static size_t tails[NA + NB];
  cr_assert_eq(raw_tails("resident", id, tails, NA + NB), NA + NB);
  size_t two = 0;
  for (size_t i = 0; i < NA + NB; i++) {
    cr_assert(tails[i] == 2 || tails[i] == 3, "tail %zu", tails[i]);
    two += tails[i] == 2;
  }
  cr_assert_eq(two, 127 + NB, "seqs 1 to 127 of a and all of b's in one "
               "byte, the rest in two");
}

/* Replace every hist key of (coll, id) by its head and tail (tn bytes),
 * with LMDB directly; with mark, also leave the hist upgrade's mark at
 * the start. */
static void forge_tail(const uint8_t id[CRDT_ID_LEN], const uint8_t *tail,
                       size_t tn, bool mark)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db, meta;
  MDB_cursor *cur;
  uint8_t key[128];
  size_t pn = 9 + CRDT_ID_LEN;
  memcpy(key, "resident", 9);
  memcpy(key + 9, id, CRDT_ID_LEN);
  cr_assert_eq(mdb_env_create(&env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
  cr_assert_eq(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
  cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
  cr_assert_eq(mdb_dbi_open(txn, "hist", 0, &db), 0);
  cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  cr_assert_eq(mdb_cursor_open(txn, db, &cur), 0);
  MDB_val k = {pn, key}, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= pn && memcmp(k.mv_data, key, pn) == 0) {
    cr_assert_eq(mdb_cursor_del(cur, 0), 0);
    k = (MDB_val){pn, key};
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  }
  mdb_cursor_close(cur);
  cr_assert_leq(pn + tn, sizeof key);
  memcpy(key + pn, tail, tn);
  k = (MDB_val){pn + tn, key};
  v = (MDB_val){0, ""};
  cr_assert_eq(mdb_put(txn, db, &k, &v, 0), 0);
  if (mark) {
    MDB_val mk = {12, "upgrade-hist"};
    cr_assert_eq(mdb_put(txn, meta, &mk, &v, 0), 0);
  }
  cr_assert_eq(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

Test(store_hist, a_damaged_hist_tail_is_corruption)
{
  store *s;
  t_feed f;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 5, 3);
  crdt_op op = t_set_str("resident", id, "name", "李建国", 9);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  t_feed_init(&f, scope);
  apply_at(s, &f, CRDT_HLC_MAKE(T_NOW_MS, 5), &op);
  store_close(s);
  size_t tl[2];
  cr_assert_eq(raw_tails("resident", id, tl, 2), 1);
  cr_assert_eq(tl[0], 2, "feed 1, seq 1: a byte each");

  static const struct {
    uint8_t b[20];
    size_t n;
    const char *what;
  } bad[] = {
      {{0x81, 0x00, 0x01}, 3, "the feed number 1 in two bytes"},
      {{0x01, 0x81, 0x00}, 3, "the seq 1 in two bytes"},
      {{0x01, 0x81}, 2, "the seq cut short"},
      {{0x01}, 1, "no seq"},
      {{0}, 0, "no tail"},
      {{0x01, 0x01, 0x01}, 3, "a byte after the seq"},
      {{0x00, 0x01}, 2, "feed number 0"},
      {{0x01, 0x00}, 2, "seq 0"},
      {{0x81, 0x80, 0x80, 0x80, 0x10, 0x01}, 6, "a feed number past 32 bits"},
      {{0x01, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02},
       11,
       "a seq past 64 bits"},
      {{0x01, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x01},
       12,
       "a seq of 11 bytes"},
      {{0x01, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 17,
       "17 bytes: no form's length"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    forge_tail(id, bad[i].b, bad[i].n, false);
    cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
    t_hist h;
    gs_err e = t_history(s, "resident", id, &h);
    cr_assert_eq(e, GS_ECORRUPT, "%s: %s", bad[i].what, gs_errname(e));
    uint64_t entries;
    cr_assert_eq(store_check(s, &entries), GS_ECORRUPT, "%s", bad[i].what);
    store_close(s);
  }
  /* the hist pass of an upgrade refuses it too (and keeps its mark) */
  forge_tail(id, bad[0].b, bad[0].n, true);
  s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ECORRUPT);
  cr_assert_null(s);
  /* the same key well formed reads */
  static const uint8_t good[] = {0x01, 0x01};
  forge_tail(id, good, sizeof good, false);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  t_hist h;
  cr_assert_eq(t_history(s, "resident", id, &h), GS_OK);
  cr_assert_eq(h.n, 1);
  store_close(s);
}
