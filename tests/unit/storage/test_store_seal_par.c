/* store: a batch's cipher work on two threads (issue 19; storage/store.c
 * touched_write and "the cipher work of a batch"). A batch of more than
 * one chunk (TOUCHED_CHUNK, 1,024 records) with a flipped byte or two
 * swapped values in its stored records is refused (GS_ESEAL), one with
 * records that open but do not decode is refused as corrupt
 * (GS_ECORRUPT), and either leaves every table as it was; a batch applied on two threads stores records
 * that open to the same plain bytes, and the same digest, as the same
 * changes applied in batches too small for the second thread; every nonce
 * of such a store is distinct; a record whose edit lost is not rewritten
 * (its sealed bytes stay the same). */
#include <criterion/criterion.h>
#include <lmdb.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "tests/unit/storage/squeeze_util.h"
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

TestSuite(store_seal_par, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";
static const uint8_t key_a[CRDT_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
#define NREC 3000 /* records of a batch: three chunks */

static char *sub(const char *name)
{
  static char path[4][128];
  static int next;
  char *p = path[next++ % 4];
  snprintf(p, sizeof path[0], "%s/%s", dir, name);
  return p;
}

static gs_err open_at(const char *d, bool sealed, store **s)
{
  store_opts o = {.key = sealed ? key_a : NULL};
  return store_open_ex(d, STORE_CREATE | STORE_NOSYNC, &o, s);
}

/* The changes of origin seed: records 0, step, 2 step... (n of them)
 * each set to a name of round r, per records a change, stamps from
 * phys_ms. */
static void make_changes_at(uint8_t seed0, size_t n, size_t step, size_t per,
                            int r, uint64_t phys_ms, t_raws *out)
{
  char src[128];
  store *s;
  store_write *w;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {seed0};
  crdt_op ops[100];
  char names[100][48];
  snprintf(src, sizeof src, "%s/src%u-%d", dir, seed0, r);
  cr_assert_eq(mkdir(src, 0700), 0);
  cr_assert_eq(open_at(src, false, &s), GS_OK);
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (size_t i = 0; i < n;) {
    size_t k = 0;
    for (; k < per && i < n; i++, k++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 7, i * step);
      snprintf(names[k], sizeof names[k], "张秀英%zu-%d", i * step, r);
      ops[k] = t_set_str("resident", id, "name", names[k], strlen(names[k]));
    }
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, k,
                                    phys_ms + i, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  cr_assert_eq(t_raws_read(s, NULL, out), GS_OK);
  store_close(s);
  t_rmtree(src);
}

static void make_changes(uint8_t seed0, size_t n, size_t per, int r,
                         uint64_t phys_ms, t_raws *out)
{
  make_changes_at(seed0, n, 1, per, r, phys_ms, out);
}

/* Apply changes [from, to) of r in one batch. */
static gs_err apply_range(store *s, const t_raws *r, size_t from, size_t to)
{
  store_result res;
  return store_apply(s, (const uint8_t *const *)r->b + from, r->n + from,
                     to - from, &res, NULL);
}

/* ---- the raw tables ---- */

typedef struct raw_env {
  MDB_env *env;
  MDB_txn *txn;
} raw_env;

static void raw_open(raw_env *r, const char *d, unsigned flags)
{
  cr_assert_eq(mdb_env_create(&r->env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(r->env, 16), 0);
  cr_assert_eq(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
  cr_assert_eq(mdb_env_open(r->env, d, MDB_NOSYNC, 0600), 0);
  cr_assert_eq(mdb_txn_begin(r->env, NULL, flags, &r->txn), 0);
}

static void raw_close(raw_env *r)
{
  cr_assert_eq(mdb_txn_commit(r->txn), 0);
  mdb_env_close(r->env);
}

static MDB_dbi raw_db(raw_env *r, const char *name)
{
  MDB_dbi db;
  cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &db), 0, "%s", name);
  return db;
}

static void record_key(uint64_t i, uint8_t *kb, MDB_val *k)
{
  memcpy(kb, "resident", 9); /* "resident" 0 id scope */
  t_id(kb + 9, 7, i);
  memcpy(kb + 9 + CRDT_ID_LEN, scope, sizeof scope - 1);
  k->mv_data = kb;
  k->mv_size = 9 + CRDT_ID_LEN + sizeof scope - 1;
}

/* FNV-1a of every key and value of every table of the store at d. */
static uint64_t tables_hash(const char *d)
{
  static const char *const names[] = {
      "meta", "changes", "vv",   "records", "byscope", "hist",
      "forks", "peers",  "heard", "held",   "quar",    "quota"};
  raw_env r;
  uint64_t h = 1469598103934665603ULL;
  raw_open(&r, d, MDB_RDONLY);
  for (size_t t = 0; t < sizeof names / sizeof *names; t++) {
    MDB_dbi db;
    MDB_cursor *cur;
    MDB_val k, v;
    if (mdb_dbi_open(r.txn, names[t], 0, &db) != 0)
      continue;
    cr_assert_eq(mdb_cursor_open(r.txn, db, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
      const MDB_val *p[2] = {&k, &v};
      for (int j = 0; j < 2; j++) {
        h = (h ^ p[j]->mv_size) * 1099511628211ULL;
        for (size_t b = 0; b < p[j]->mv_size; b++)
          h = (h ^ ((const uint8_t *)p[j]->mv_data)[b]) * 1099511628211ULL;
      }
    }
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(r.txn);
  mdb_env_close(r.env);
  return h;
}

/* Record i's stored value at d, opened under key_a (plain, *pn bytes;
 * the caller frees) and its nonce. */
static uint8_t *record_plain(raw_env *r, uint64_t i, size_t *pn,
                             uint8_t nonce[24])
{
  uint8_t kb[128], ad[160];
  MDB_val k, v;
  record_key(i, kb, &k);
  cr_assert_eq(mdb_get(r->txn, raw_db(r, "records"), &k, &v), 0,
               "record %llu", (unsigned long long)i);
  cr_assert_geq(v.mv_size, CRDT_SEAL_OVERHEAD);
  memcpy(ad, "records", 8);
  memcpy(ad + 8, k.mv_data, k.mv_size);
  uint8_t *p = malloc(v.mv_size - CRDT_SEAL_OVERHEAD + 1);
  cr_assert(p);
  cr_assert_eq(crdt_seal_open(key_a, ad, 8 + k.mv_size, v.mv_data,
                              v.mv_size, p),
               GS_OK, "record %llu opens", (unsigned long long)i);
  memcpy(nonce, v.mv_data, 24);
  *pn = v.mv_size - CRDT_SEAL_OVERHEAD;
  return p;
}

/* A sealed store at d holding the NREC records of set 1 (one origin, 100
 * records a change). */
static void seeded(const char *d, t_raws *set1)
{
  store *s;
  cr_assert_eq(mkdir(d, 0700), 0);
  cr_assert_eq(open_at(d, true, &s), GS_OK);
  cr_assert_eq(apply_range(s, set1, 0, set1->len), GS_OK);
  store_close(s);
}

/* At d: record i's value with a byte flipped, or (swap) the values of
 * records i and j swapped. */
static void tamper(const char *d, uint64_t i, uint64_t j, bool swap)
{
  raw_env r;
  uint8_t k1[128], k2[128];
  MDB_val a, b, v1, v2;
  raw_open(&r, d, 0);
  MDB_dbi db = raw_db(&r, "records");
  record_key(i, k1, &a);
  record_key(j, k2, &b);
  cr_assert_eq(mdb_get(r.txn, db, &a, &v1), 0);
  cr_assert_eq(mdb_get(r.txn, db, &b, &v2), 0);
  uint8_t *c1 = malloc(v1.mv_size), *c2 = malloc(v2.mv_size);
  cr_assert(c1 && c2);
  memcpy(c1, v1.mv_data, v1.mv_size);
  memcpy(c2, v2.mv_data, v2.mv_size);
  if (swap) {
    MDB_val n1 = {v2.mv_size, c2}, n2 = {v1.mv_size, c1};
    cr_assert_eq(mdb_put(r.txn, db, &a, &n1, 0), 0);
    cr_assert_eq(mdb_put(r.txn, db, &b, &n2, 0), 0);
  } else {
    c1[v1.mv_size / 2] ^= 0x01;
    MDB_val n1 = {v1.mv_size, c1};
    cr_assert_eq(mdb_put(r.txn, db, &a, &n1, 0), 0);
  }
  raw_close(&r);
  free(c1);
  free(c2);
}

/* At d: record i's value replaced by bytes that open under key_a (in
 * its place: the right associated data) but are no record (0xc1: a
 * byte msgpack never uses, then a few more). */
static void seal_garbage(const char *d, uint64_t i)
{
  static const uint8_t junk[] = {0xc1, 0x93, 0x01, 0x02, 0xc1, 0xff, 0x00,
                                 0x7f, 0xc1, 0xc1, 0x42, 0x17};
  raw_env r;
  uint8_t kb[128], ad[160], out[sizeof junk + CRDT_SEAL_OVERHEAD];
  MDB_val k;
  raw_open(&r, d, 0);
  record_key(i, kb, &k);
  memcpy(ad, "records", 8);
  memcpy(ad + 8, k.mv_data, k.mv_size);
  crdt_seal(key_a, ad, 8 + k.mv_size, junk, sizeof junk, out);
  MDB_val v = {sizeof out, out};
  cr_assert_eq(mdb_put(r.txn, raw_db(&r, "records"), &k, &v, 0), 0);
  raw_close(&r);
}

/* Set 1 (records 0..NREC-1 of one origin) stored at d, and set 2
 * (another origin's edit of every record, in one batch of three chunks)
 * to apply to it: the batches the refusal tests tamper with. */
static void seeded_and_edit(const char *d, t_raws *set1, t_raws *set2)
{
  make_changes(1, NREC, 100, 1, T_NOW_MS, set1);
  make_changes(2, NREC, 100, 2, T_NOW_MS + 1000000, set2);
  seeded(d, set1);
}

/* Set 2 (another origin's edit of every record, in one batch of three
 * chunks) applied to a store whose stored records were tampered with:
 * refused, and every table as it was. */
static void refused_untouched(bool swap)
{
  t_raws set1 = {0}, set2 = {0};
  store *s;
  const char *d = sub("t");
  seeded_and_edit(d, &set1, &set2);
  /* in the middle of the batch (the second chunk); swapped: across the
   * chunks, one in the first and one in the third */
  if (swap)
    tamper(d, 700, 2300, true);
  else
    tamper(d, 1500, 0, false);
  uint64_t before = tables_hash(d);
  cr_assert_eq(open_at(d, true, &s), GS_OK);
  cr_assert_eq(apply_range(s, &set2, 0, set2.len), GS_ESEAL);
  /* the same again: the refusal is not a state */
  cr_assert_eq(apply_range(s, &set2, 0, set2.len), GS_ESEAL);
  store_close(s);
  cr_assert_eq(tables_hash(d), before, "nothing written by the refused batch");
  t_raws_free(&set1);
  t_raws_free(&set2);
}

Test(store_seal_par, flipped_byte_mid_batch_is_refused_and_nothing_written,
     .timeout = 120)
{
  refused_untouched(false);
}

Test(store_seal_par, swapped_values_in_a_batch_are_refused_and_nothing_written,
     .timeout = 120)
{
  refused_untouched(true);
}

/* The store's dictionary (meta "zdict:1", sealed) opened into d (cap
 * 16 KiB); *dn 0 when there is none. */
static void sealed_dict(raw_env *r, uint8_t *d, size_t *dn)
{
  MDB_val k = {7, "zdict:1"}, v;
  uint8_t ad[16] = "meta";
  memcpy(ad + 5, "zdict:1", 7);
  *dn = 0;
  if (mdb_get(r->txn, raw_db(r, "meta"), &k, &v) != 0)
    return;
  cr_assert(v.mv_size > CRDT_SEAL_OVERHEAD &&
            v.mv_size - CRDT_SEAL_OVERHEAD <= 16384);
  cr_assert_eq(crdt_seal_open(key_a, ad, 12, v.mv_data, v.mv_size, d), GS_OK,
               "the dictionary sealed");
  *dn = v.mv_size - CRDT_SEAL_OVERHEAD;
}

/* The plain bytes of every record of the stores at p and q are the same
 * (squeezed ones unsqueezed: each store trained its own dictionary, from
 * the records it held when it had ZDICT_MIN);
 * *prefixes: the distinct nonce prefixes of p's records. */
static void same_plain(const char *p, const char *q, size_t *prefixes_p,
                       size_t *prefixes_q)
{
  raw_env rp, rq;
  uint8_t(*np)[24] = malloc(NREC * 24), (*nq)[24] = malloc(NREC * 24);
  cr_assert(np && nq);
  raw_open(&rp, p, MDB_RDONLY);
  raw_open(&rq, q, MDB_RDONLY);
  static uint8_t dp[16384], dq[16384], xp[4096], yq[4096];
  size_t dpn, dqn;
  sealed_dict(&rp, dp, &dpn);
  sealed_dict(&rq, dq, &dqn);
  cr_assert(dpn && dqn, "both stores have a dictionary");
  for (uint64_t i = 0; i < NREC; i++) {
    size_t a, b, an, bn;
    uint8_t *x0 = record_plain(&rp, i, &an, np[i]);
    uint8_t *y0 = record_plain(&rq, i, &bn, nq[i]);
    cr_assert(t_unsqueeze(dp, dpn, x0, an, xp, sizeof xp, &a));
    cr_assert(t_unsqueeze(dq, dqn, y0, bn, yq, sizeof yq, &b));
    free(x0);
    free(y0);
    uint8_t *x = xp, *y = yq;
    cr_assert_eq(a, b, "record %llu: the same length", (unsigned long long)i);
    cr_assert_eq(memcmp(x, y, a), 0, "record %llu: the same plain bytes",
                 (unsigned long long)i);
  }
  mdb_txn_abort(rp.txn);
  mdb_env_close(rp.env);
  mdb_txn_abort(rq.txn);
  mdb_env_close(rq.env);
  uint8_t(*ns[2])[24] = {np, nq};
  size_t *out[2] = {prefixes_p, prefixes_q};
  for (int t = 0; t < 2; t++) {
    *out[t] = 0;
    for (size_t i = 0; i < NREC; i++) {
      bool seen = false;
      for (size_t j = 0; j < i && !seen; j++)
        seen = memcmp(ns[t][i], ns[t][j], 16) == 0;
      *out[t] += !seen;
    }
  }
  free(np);
  free(nq);
}

static void digest_at(const char *d, uint8_t out[CRDT_HASH_LEN])
{
  store *s;
  size_t n;
  cr_assert_eq(open_at(d, true, &s), GS_OK);
  cr_assert_eq(store_digest(s, "", 0, out, &n), GS_OK);
  cr_assert_eq(n, NREC);
  store_close(s);
}

typedef struct nonces {
  uint8_t (*n)[24];
  size_t len, cap;
} nonces;

static void collect(const char *d, const char *name, nonces *out)
{
  raw_env r;
  MDB_cursor *cur;
  MDB_val k, v;
  raw_open(&r, d, MDB_RDONLY);
  cr_assert_eq(mdb_cursor_open(r.txn, raw_db(&r, name), &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    cr_assert_geq(v.mv_size, CRDT_SEAL_OVERHEAD, "a sealed value of %s",
                  name);
    if (out->len == out->cap) {
      out->cap = out->cap ? 2 * out->cap : 1024;
      out->n = realloc(out->n, out->cap * sizeof *out->n);
      cr_assert(out->n);
    }
    memcpy(out->n[out->len++], v.mv_data, 24);
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(r.txn);
  mdb_env_close(r.env);
}

static int nonce_cmp(const void *a, const void *b)
{
  return memcmp(a, b, 24);
}

/* Store p gets each set in one batch (three chunks: two threads), store
 * q change by change (10 records: below the second thread's minimum). */
Test(store_seal_par, two_threads_store_what_one_stores, .timeout = 240)
{
  t_raws set1 = {0}, set2 = {0}, set3 = {0};
  store *sp, *sq;
  const char *p = sub("p"), *q = sub("q");
  uint8_t dp[CRDT_HASH_LEN], dq[CRDT_HASH_LEN], d3[CRDT_HASH_LEN];
  size_t pre_p, pre_q;
  make_changes(1, NREC, 10, 1, T_NOW_MS, &set1);
  make_changes(2, NREC, 10, 2, T_NOW_MS + 1000000, &set2);
  cr_assert_eq(mkdir(p, 0700), 0);
  cr_assert_eq(mkdir(q, 0700), 0);
  cr_assert_eq(open_at(p, true, &sp), GS_OK);
  cr_assert_eq(open_at(q, true, &sq), GS_OK);
  /* new records, then every one edited (opened, merged, sealed again) */
  t_raws *sets[2] = {&set1, &set2};
  for (int t = 0; t < 2; t++) {
    cr_assert_eq(apply_range(sp, sets[t], 0, sets[t]->len), GS_OK);
    for (size_t i = 0; i < sets[t]->len; i++)
      cr_assert_eq(apply_range(sq, sets[t], i, i + 1), GS_OK);
  }
  store_close(sp);
  store_close(sq);
  same_plain(p, q, &pre_p, &pre_q);
  cr_assert_eq(pre_q, 1, "one thread: the store's one sealer");
  cr_assert(pre_p >= 1 && pre_p <= 2, "at most two sealers: %zu", pre_p);
  /* info, not cr_log_warn: Criterion exits 1 after any warning, and a
   * busy machine is no failure */
  if (pre_p == 1)
    cr_log_info("the second thread did not run (a busy machine?)");
  digest_at(p, dp);
  digest_at(q, dq);
  cr_assert_arr_eq(dp, dq, CRDT_HASH_LEN, "the same state digest");

  /* every nonce of p distinct: records, changes, vectors */
  nonces ns = {0};
  collect(p, "records", &ns);
  collect(p, "changes", &ns);
  collect(p, "vv", &ns);
  cr_assert_geq(ns.len, NREC + 600);
  qsort(ns.n, ns.len, 24, nonce_cmp);
  for (size_t i = 1; i < ns.len; i++)
    cr_assert(memcmp(ns.n[i - 1], ns.n[i], 24) != 0, "a nonce used twice");
  free(ns.n);

  /* edits that lose (older stamps, a third origin) to the first 2,000
   * records: their stored bytes, nonce included, stay as they were */
  make_changes(3, 2000, 100, 3, T_NOW_MS - 1000000, &set3);
  raw_env r;
  uint8_t(*before)[24] = malloc(2000 * 24);
  cr_assert(before);
  raw_open(&r, p, MDB_RDONLY);
  for (uint64_t i = 0; i < 2000; i++) {
    size_t n;
    free(record_plain(&r, i, &n, before[i]));
  }
  mdb_txn_abort(r.txn);
  mdb_env_close(r.env);
  cr_assert_eq(open_at(p, true, &sp), GS_OK);
  cr_assert_eq(apply_range(sp, &set3, 0, set3.len), GS_OK);
  store_close(sp);
  raw_open(&r, p, MDB_RDONLY);
  for (uint64_t i = 0; i < 2000; i++) {
    size_t n;
    uint8_t nonce[24];
    free(record_plain(&r, i, &n, nonce));
    cr_assert_eq(memcmp(nonce, before[i], 24), 0,
                 "record %llu: not rewritten", (unsigned long long)i);
  }
  mdb_txn_abort(r.txn);
  mdb_env_close(r.env);
  free(before);
  digest_at(p, d3);
  cr_assert_arr_eq(d3, dp, CRDT_HASH_LEN, "lost edits change no state");
  t_raws_free(&set1);
  t_raws_free(&set2);
  t_raws_free(&set3);
}

/* ---- both threads taking blocks of the same chunks ----
 * The worker made slow (store__cipher_delay: it waits after taking each
 * block, as a worker taken off its core would), so that this thread
 * opens and seals most blocks itself, the ones after the block the worker
 * holds included, and the worker the others. */
#define SLOW_US 400

static void counts_say_both(store *s, bool opens)
{
  uint64_t c[4];
  store__cipher_counts(s, c);
  cr_log_info("blocks: opened %llu here, %llu by the worker; sealed %llu "
              "here, %llu by the worker",
              (unsigned long long)c[0], (unsigned long long)c[1],
              (unsigned long long)c[2], (unsigned long long)c[3]);
  cr_assert_gt(c[2], 0, "this thread sealed blocks itself");
  if (opens)
    cr_assert_gt(c[0], 0, "this thread opened blocks itself");
  if (c[1] + c[3] == 0)
    cr_log_info("the worker took no block (a busy machine?)");
}

/* A slow worker's store, each set in one batch (three chunks), against
 * the same changes applied change by change (one thread): the same plain
 * bytes and digest, at most two nonce prefixes, every nonce distinct. */
Test(store_seal_par, blocks_taken_by_both_threads_store_what_one_stores,
     .timeout = 240)
{
  t_raws set1 = {0}, set2 = {0};
  store *sp, *sq;
  const char *p = sub("p"), *q = sub("q");
  uint8_t dp[CRDT_HASH_LEN], dq[CRDT_HASH_LEN];
  size_t pre_p, pre_q;
  make_changes(1, NREC, 10, 1, T_NOW_MS, &set1);
  make_changes(2, NREC, 10, 2, T_NOW_MS + 1000000, &set2);
  cr_assert_eq(mkdir(p, 0700), 0);
  cr_assert_eq(mkdir(q, 0700), 0);
  cr_assert_eq(open_at(p, true, &sp), GS_OK);
  cr_assert_eq(open_at(q, true, &sq), GS_OK);
  store__cipher_delay(sp, SLOW_US);
  t_raws *sets[2] = {&set1, &set2};
  for (int t = 0; t < 2; t++) {
    cr_assert_eq(apply_range(sp, sets[t], 0, sets[t]->len), GS_OK);
    for (size_t i = 0; i < sets[t]->len; i++)
      cr_assert_eq(apply_range(sq, sets[t], i, i + 1), GS_OK);
  }
  counts_say_both(sp, true);
  store_close(sp);
  store_close(sq);
  same_plain(p, q, &pre_p, &pre_q);
  cr_assert_eq(pre_q, 1, "one thread: the store's one sealer");
  cr_assert(pre_p >= 1 && pre_p <= 2, "at most two sealers: %zu", pre_p);
  digest_at(p, dp);
  digest_at(q, dq);
  cr_assert_arr_eq(dp, dq, CRDT_HASH_LEN, "the same state digest");
  nonces ns = {0};
  collect(p, "records", &ns);
  collect(p, "changes", &ns);
  collect(p, "vv", &ns);
  cr_assert_geq(ns.len, NREC + 600);
  qsort(ns.n, ns.len, 24, nonce_cmp);
  for (size_t i = 1; i < ns.len; i++)
    cr_assert(memcmp(ns.n[i - 1], ns.n[i], 24) != 0, "a nonce used twice");
  free(ns.n);
  t_raws_free(&set1);
  t_raws_free(&set2);
}

/* A flipped byte in the second chunk, the worker slow (the block opened
 * by this thread while the worker holds an earlier one): refused, every
 * table as it was; then the same store without the delay refuses too. */
/* The store in d refuses the batch set with want, with the worker slow
 * (both threads take blocks) and then at its own pace, and nothing of
 * either try is written. */
static void refused_both_ways(const char *d, const t_raws *set, gs_err want)
{
  store *s;
  uint64_t before = tables_hash(d);
  cr_assert_eq(open_at(d, true, &s), GS_OK);
  store__cipher_delay(s, SLOW_US);
  cr_assert_eq(apply_range(s, set, 0, set->len), want);
  counts_say_both(s, true);
  store__cipher_delay(s, 0);
  cr_assert_eq(apply_range(s, set, 0, set->len), want);
  store_close(s);
  cr_assert_eq(tables_hash(d), before, "nothing written by the refused batch");
}

Test(store_seal_par, flipped_byte_with_a_slow_worker_is_refused, .timeout = 120)
{
  t_raws set1 = {0}, set2 = {0};
  const char *d = sub("t");
  seeded_and_edit(d, &set1, &set2);
  tamper(d, 1500, 0, false);
  refused_both_ways(d, &set2, GS_ESEAL);
  t_raws_free(&set1);
  t_raws_free(&set2);
}

/* Records that open but do not decode, one in each of the three chunks
 * of a batch (opened by the worker, or by this thread with the worker
 * slow): refused as corrupt (GS_ECORRUPT, not GS_ESEAL: they open),
 * every table as it was, with the worker slow and without; nothing of the
 * failed chunks is left allocated (ASan's leak check). A guard for any
 * change of who opens, decodes or encodes (issue 19, fifth pass). */
Test(store_seal_par, record_that_opens_but_does_not_decode_is_refused,
     .timeout = 120)
{
  t_raws set1 = {0}, set2 = {0};
  const char *d = sub("t");
  seeded_and_edit(d, &set1, &set2);
  seal_garbage(d, 300);
  seal_garbage(d, 1500);
  seal_garbage(d, 2900);
  refused_both_ways(d, &set2, GS_ECORRUPT);
  t_raws_free(&set1);
  t_raws_free(&set2);
}

/* The refused batch again once the bad record is mended (its stored
 * bytes copied from a store seeded alike): applied in one batch (three
 * chunks, two threads), the same plain bytes and digest as the same
 * changes applied change by change (10 records: one thread). */
Test(store_seal_par, mended_batch_after_a_refusal_is_applied_as_one_thread_would,
     .timeout = 240)
{
  t_raws set1 = {0}, set2 = {0};
  store *sp, *sq;
  const char *p = sub("p"), *q = sub("q");
  uint8_t dp[CRDT_HASH_LEN], dq[CRDT_HASH_LEN];
  make_changes(1, NREC, 100, 1, T_NOW_MS, &set1);
  make_changes(2, NREC, 10, 2, T_NOW_MS + 1000000, &set2);
  seeded(p, &set1);
  seeded(q, &set1);
  seal_garbage(p, 1500);
  cr_assert_eq(open_at(p, true, &sp), GS_OK);
  cr_assert_eq(apply_range(sp, &set2, 0, set2.len), GS_ECORRUPT);
  store_close(sp);
  /* the bad record mended (set 1's own bytes again, from q) */
  raw_env rq, rp;
  uint8_t kb[128];
  MDB_val k, v;
  record_key(1500, kb, &k);
  raw_open(&rq, q, MDB_RDONLY);
  cr_assert_eq(mdb_get(rq.txn, raw_db(&rq, "records"), &k, &v), 0);
  raw_open(&rp, p, 0);
  cr_assert_eq(mdb_put(rp.txn, raw_db(&rp, "records"), &k, &v, 0), 0);
  raw_close(&rp);
  mdb_txn_abort(rq.txn);
  mdb_env_close(rq.env);
  cr_assert_eq(open_at(p, true, &sp), GS_OK);
  cr_assert_eq(open_at(q, true, &sq), GS_OK);
  cr_assert_eq(apply_range(sp, &set2, 0, set2.len), GS_OK);
  for (size_t i = 0; i < set2.len; i++)
    cr_assert_eq(apply_range(sq, &set2, i, i + 1), GS_OK);
  store_close(sp);
  store_close(sq);
  size_t pre_p, pre_q;
  same_plain(p, q, &pre_p, &pre_q);
  digest_at(p, dp);
  digest_at(q, dq);
  cr_assert_arr_eq(dp, dq, CRDT_HASH_LEN, "the same state digest");
  t_raws_free(&set1);
  t_raws_free(&set2);
}

/* ---- the records read through one cursor in key order ----
 * touched_write reads a batch's records with one cursor moved in key
 * order (MDB_SET from where it is), across the puts of the batch. A store
 * holding the even records gets one batch (six chunks) editing every
 * record, the odd ones new (inserted between the even ones: pages split
 * under the cursor), with stamps older than the even ones' names: every
 * even record keeps its name (read as stored: a record read wrong, or not
 * found, would take the batch's name), every odd one has the batch's. In
 * an open store (one thread: a read, then a put) and a sealed one. */
static void cursor_reads_across_puts(bool sealed)
{
  t_raws set1 = {0}, set2 = {0};
  store *s;
  const char *d = sub("c");
  make_changes_at(1, NREC, 2, 100, 1, T_NOW_MS + 1000000, &set1);
  make_changes_at(2, 2 * NREC, 1, 100, 2, T_NOW_MS, &set2);
  cr_assert_eq(mkdir(d, 0700), 0);
  cr_assert_eq(open_at(d, sealed, &s), GS_OK);
  cr_assert_eq(apply_range(s, &set1, 0, set1.len), GS_OK);
  cr_assert_eq(apply_range(s, &set2, 0, set2.len), GS_OK);
  t_field *tf = malloc(sizeof *tf);
  cr_assert(tf);
  for (size_t i = 0; i < 2 * NREC; i++) {
    uint8_t id[CRDT_ID_LEN];
    char want[48];
    t_id(id, 7, i);
    snprintf(want, sizeof want, "张秀英%zu-%d", i, i % 2 ? 2 : 1);
    cr_assert_eq(t_get(s, "resident", id, "name", tf), GS_OK);
    cr_assert(tf->present, "record %zu", i);
    cr_assert_str_eq(tf->str, want, "record %zu", i);
  }
  free(tf);
  store_close(s);
  t_raws_free(&set1);
  t_raws_free(&set2);
}

Test(store_seal_par, records_read_through_one_cursor_open_store,
     .timeout = 120)
{
  cursor_reads_across_puts(false);
}

Test(store_seal_par, records_read_through_one_cursor_sealed_store,
     .timeout = 120)
{
  cursor_reads_across_puts(true);
}

/* A sealed store at sub(name) that applied one batch of NREC records
 * (three chunks: the worker made), in *s; its changes in *set. */
static void sealed_after_a_batch(const char *name, t_raws *set, store **s)
{
  const char *d = sub(name);
  make_changes(1, NREC, 10, 1, T_NOW_MS, set);
  cr_assert_eq(mkdir(d, 0700), 0);
  cr_assert_eq(open_at(d, true, s), GS_OK);
  cr_assert_eq(apply_range(*s, set, 0, set->len), GS_OK);
}

/* The worker watches for its next work a while (CIPHER_WATCH_NS, a
 * quarter of a millisecond) before it sleeps: a store whose batches have
 * stopped has a worker that uses no CPU. Measured over 300 ms after a
 * pause of 50 ms (at most 20 ms allowed: a worker that never stopped
 * watching would take nearly all 300). */
Test(store_seal_par, an_idle_worker_sleeps, .timeout = 120)
{
  t_raws set = {0};
  store *s;
  sealed_after_a_batch("idle", &set, &s);
  int64_t c0 = store__cipher_worker_cpu_ns(s);
#ifdef _WIN32
  cr_assert_eq(c0, -1, "one thread on Windows: no worker");
#else
  cr_assert_geq(c0, 0, "a batch of three chunks made the worker");
  usleep(50000);
  int64_t c1 = store__cipher_worker_cpu_ns(s);
  usleep(300000);
  int64_t c2 = store__cipher_worker_cpu_ns(s);
  cr_assert_lt(c2 - c1, 20000000, "the idle worker used %lld ns in 300 ms",
               (long long)(c2 - c1));
#endif
  store_close(s);
  t_raws_free(&set);
}

/* On one CPU the worker does not watch: it would hold the core the store
 * thread needs. This test's thread (and so the worker it makes) may run
 * on one CPU only; its watching stays 0 through a batch of three chunks,
 * and the batch is stored as on two. */
Test(store_seal_par, on_one_cpu_the_worker_does_not_watch, .timeout = 120)
{
#ifdef __linux__
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
  cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0, "setaffinity");
  t_raws set = {0};
  store *s;
  uint8_t dg[CRDT_HASH_LEN];
  size_t nrec = 0;
  sealed_after_a_batch("one", &set, &s);
  cr_assert_geq(store__cipher_worker_cpu_ns(s), 0, "the worker was made");
  cr_assert_eq(store__cipher_watch_ns(s), 0, "the worker watched on one CPU");
  cr_assert_eq(store_digest(s, "", 0, dg, &nrec), GS_OK);
  cr_assert_eq(nrec, NREC);
  store_close(s);
  t_raws_free(&set);
#else
  cr_skip_test("sched_setaffinity is Linux's: one CPU cannot be asked for "
               "here");
#endif
}
