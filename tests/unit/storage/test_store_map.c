/* store: the LMDB map grows by itself. store.c starts every environment
 * with a 64 MiB map (INITIAL_MAP); these tests write well past that, in
 * one huge transaction, in many small ones, and in one local write
 * session, and expect no MDB_MAP_FULL and every byte back. */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

#define INITIAL_MAP_BYTES ((uint64_t)64 << 20) /* store.c's INITIAL_MAP */
#ifdef _WIN32 /* store.c's MAP_GROWN_MIN: smaller where the file is the map */
#define T_MAP_GROWN_MIN ((uint64_t)128 << 20)
#else
#define T_MAP_GROWN_MIN ((uint64_t)1 << 30)
#endif
#define BODY CRDT_TEXT_MAX                     /* bytes per string field */
#define OPS_PER_CHANGE 3
/* ~48 KiB of change + ~48 KiB of records per change: 900 changes make
 * about 90 MiB, well past the initial map. */
#define NCHANGES 900

static char dir[64];
static store *s;

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
}

static void teardown(void)
{
  store_close(s);
  s = NULL;
  t_rmtree(dir);
}

TestSuite(store_map, .init = setup, .fini = teardown, .timeout = 120);

static const char scope[] = "gongrencun/qinghejv/g07";

/* The body (bytes) of record (k, j): a header naming it, then noise
 * that does not compress. */
static void body_fill(char *buf, int k, int j)
{
  t_noise(buf, BODY, (uint64_t)(k * OPS_PER_CHANGE + j));
  int n = snprintf(buf, 32, "k=%d j=%d;", k, j);
  buf[n] = '|'; /* overwrite snprintf's NUL */
}

/* The ops of change k, bodies in bufs (OPS_PER_CHANGE * BODY bytes). */
static void bulk_ops(int k, char *bufs, crdt_op ops[OPS_PER_CHANGE],
                     uint8_t ids[OPS_PER_CHANGE][CRDT_ID_LEN])
{
  for (int j = 0; j < OPS_PER_CHANGE; j++) {
    t_id(ids[j], 5, (uint64_t)(k * OPS_PER_CHANGE + j));
    body_fill(bufs + (size_t)j * BODY, k, j);
    ops[j] = t_set_str("doc", ids[j], "body", bufs + (size_t)j * BODY, BODY);
    ops[j].value.type = CRDT_BYTES;
  }
}

static void bulk_next(t_feed *f, int k, uint8_t **raw, size_t *len)
{
  static char bufs[OPS_PER_CHANGE * BODY];
  crdt_op ops[OPS_PER_CHANGE];
  uint8_t ids[OPS_PER_CHANGE][CRDT_ID_LEN];
  bulk_ops(k, bufs, ops, ids);
  cr_assert_eq(t_next(f, ops, OPS_PER_CHANGE, raw, len), GS_OK);
}

/* Every record of every change is there, complete. Checks every 7th
 * change plus the first and last to keep it quick. */
static void check_bodies(store *st, int n)
{
  static t_field tf;
  static char want[BODY];
  for (int k = 0; k < n; k++) {
    if (k % 7 != 0 && k != n - 1)
      continue;
    for (int j = 0; j < OPS_PER_CHANGE; j++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 5, (uint64_t)(k * OPS_PER_CHANGE + j));
      cr_assert_eq(t_get(st, "doc", id, "body", &tf), GS_OK, "k=%d j=%d", k, j);
      body_fill(want, k, j);
      cr_assert_eq(tf.str_len, BODY);
      cr_assert_eq(memcmp(tf.str, want, BODY), 0, "body of k=%d j=%d", k, j);
    }
  }
}

static void check_grown(store *st, int n, bool reopened)
{
  store_stats ss;
  cr_assert_eq(store_stats_get(st, &ss), GS_OK);
  cr_assert_eq(ss.changes, (size_t)n);
  cr_assert_eq(ss.records, (size_t)n * OPS_PER_CHANGE);
  cr_assert_gt(ss.used_bytes, INITIAL_MAP_BYTES,
               "the test must write past the initial map (used %llu)",
               (unsigned long long)ss.used_bytes);
  cr_assert_gt(ss.map_size, INITIAL_MAP_BYTES);
  /* each growth redoes a write session: the first one is a big step
   * (a reopened store gets only headroom over its data) */
  if (!reopened)
    cr_assert_geq(ss.map_size, T_MAP_GROWN_MIN,
                  "a grown map is at least %llu MiB (map %llu)",
                  (unsigned long long)(T_MAP_GROWN_MIN >> 20),
                  (unsigned long long)ss.map_size);
  cr_assert_geq(ss.map_size, ss.used_bytes);
}

/* Close, reopen (durably) and check again: the grown map is reopened. */
static void reopen_and_check(int n)
{
  uint8_t d0[CRDT_HASH_LEN], d1[CRDT_HASH_LEN];
  size_t n0, n1;
  cr_assert_eq(store_digest(s, NULL, 0, d0, &n0), GS_OK);
  store_close(s);
  s = NULL;
  cr_assert_eq(store_open(dir, 0, &s), GS_OK);
  cr_assert_eq(store_digest(s, NULL, 0, d1, &n1), GS_OK);
  cr_assert_eq(n0, n1);
  cr_assert_arr_eq(d0, d1, CRDT_HASH_LEN);
  check_grown(s, n, true);
  check_bodies(s, n);
}

Test(store_map, initial_map_is_what_the_tests_assume)
{
  store_stats ss;
  cr_assert_eq(store_stats_get(s, &ss), GS_OK);
  cr_assert_eq(ss.map_size, INITIAL_MAP_BYTES,
               "store.c's INITIAL_MAP changed: update store_map tests");
}

Test(store_map, many_small_transactions_grow_the_map)
{
  t_feed f;
  t_feed_init(&f, scope);
  for (int k = 0; k < NCHANGES; k++) {
    uint8_t *raw;
    size_t len;
    store_result res;
    bulk_next(&f, k, &raw, &len);
    gs_err err = t_apply1(s, raw, len, &res);
    free(raw);
    cr_assert_eq(err, GS_OK, "change %d: %s", k, gs_errname(err));
    cr_assert_eq(res.applied, 1);
  }
  check_grown(s, NCHANGES, false);
  check_bodies(s, NCHANGES);
  reopen_and_check(NCHANGES);
}

Test(store_map, one_huge_batch_grows_the_map)
{
  t_feed f;
  uint8_t **raw = calloc(NCHANGES, sizeof *raw);
  size_t *len = calloc(NCHANGES, sizeof *len);
  cr_assert(raw && len);
  t_feed_init(&f, scope);
  for (int k = 0; k < NCHANGES; k++)
    bulk_next(&f, k, &raw[k], &len[k]);
  store_result res;
  size_t bad = 0;
  gs_err err = store_apply(s, (const uint8_t *const *)raw, len, NCHANGES, &res,
                           &bad);
  for (int k = 0; k < NCHANGES; k++)
    free(raw[k]);
  free(raw);
  free(len);
  cr_assert_eq(err, GS_OK, "%s at %zu", gs_errname(err), bad);
  cr_assert_eq(res.applied, NCHANGES);
  cr_assert_eq(res.ops, (size_t)NCHANGES * OPS_PER_CHANGE);
  check_grown(s, NCHANGES, false);
  reopen_and_check(NCHANGES);
}

/* Walks a feed with store_feed_read: seqs follow, each change decodes,
 * verifies and chains to the previous one. */
typedef struct chain_check {
  uint64_t expect;
  uint8_t head[CRDT_HASH_LEN];
  gs_err err;
} chain_check;

static int chain_cb(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  chain_check *cc = ctx;
  crdt_change *c;
  if (seq != cc->expect || crdt_change_decode(b, n, &c) != GS_OK) {
    cc->err = GS_EDECODE;
    return 1;
  }
  if (!crdt_change_verify(c))
    cc->err = GS_ESIG;
  else if (seq > 1 && memcmp(c->prev, cc->head, CRDT_HASH_LEN) != 0)
    cc->err = GS_ECHAIN;
  crdt_change_hash(c, cc->head);
  crdt_change_free(c);
  if (cc->err)
    return 1;
  cc->expect++;
  return 0;
}

/* One write session of NCHANGES big changes grows the map (its changes
 * redone in a new transaction after MDB_MAP_FULL), each change signed
 * as how says (store__sign_aside). */
static void write_session_grows(int how)
{
  static char bufs[OPS_PER_CHANGE * BODY];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  store_write *w = NULL;
  crdt_keypair(pk, sk);
  store__sign_aside(s, how);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  crdt_hlc last = 0;
  for (int k = 0; k < NCHANGES; k++) {
    crdt_op ops[OPS_PER_CHANGE];
    uint8_t ids[OPS_PER_CHANGE][CRDT_ID_LEN];
    uint64_t seq = 0;
    crdt_hlc hlc = 0;
    bulk_ops(k, bufs, ops, ids);
    gs_err err = store_write_change(w, scope, strlen(scope), ops,
                                    OPS_PER_CHANGE, T_NOW_MS, &seq, &hlc);
    cr_assert_eq(err, GS_OK, "change %d: %s", k, gs_errname(err));
    cr_assert_eq(seq, (uint64_t)k + 1);
    cr_assert_gt(hlc, last);
    last = hlc;
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  check_grown(s, NCHANGES, false);

  /* The feed is a proper chain: head seq, and every change verifies. */
  uint8_t feed[CRDT_FEED_LEN];
  store_feed sf;
  crdt_feed_id(pk, scope, strlen(scope), feed);
  cr_assert_eq(store_feed_get(s, feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, NCHANGES);
  chain_check cc = {.expect = 1};
  cr_assert_eq(store_feed_read(s, feed, 1, NCHANGES, chain_cb, &cc), GS_OK);
  cr_assert_eq(cc.err, GS_OK, "feed broken at seq %llu: %s",
               (unsigned long long)cc.expect, gs_errname(cc.err));
  cr_assert_eq(cc.expect, (uint64_t)NCHANGES + 1);
  crdt_hlc h;
  cr_assert_eq(store_hlc(s, &h), GS_OK);
  cr_assert_eq(h, last);
  uint64_t signs[4];
  store__sign_counts(s, signs);
  cr_log_info("changes signed aside: %llu by the worker, %llu by the store's "
              "thread",
              (unsigned long long)signs[0], (unsigned long long)signs[1]);
#ifndef _WIN32
  uint64_t after[2];
  store__sign_after(s, after);
  cr_log_info("written while the one before was signed: %llu; listed for "
              "a replay: %llu",
              (unsigned long long)after[0], (unsigned long long)after[1]);
  if (how == STORE__SIGN_WORKER && t_two_cpus()) {
    cr_assert_geq(signs[0], NCHANGES, "the worker signed each change (one "
                                      "that met MDB_MAP_FULL, again)");
    cr_assert_gt(after[0], NCHANGES / 2, "records written while the "
                                         "change before was signed");
  }
#endif
  reopen_and_check(NCHANGES);
}

Test(store_map, one_write_session_grows_the_map)
{
  write_session_grows(STORE__SIGN_ASIDE);
}

/* The same with every change signed by the worker while its records are
 * written: the MDB_MAP_FULL met meanwhile is waited out, and the session
 * redone. */
Test(store_map, one_write_session_signed_by_the_worker_grows_the_map)
{
  write_session_grows(STORE__SIGN_WORKER);
}

Test(store_map, meta_put_after_growth)
{
  /* Fill past the map with changes, then a meta write still works. */
  t_feed f;
  t_feed_init(&f, scope);
  for (int k = 0; k < NCHANGES; k += 50) {
    uint8_t *raw[50];
    size_t len[50];
    int m = NCHANGES - k < 50 ? NCHANGES - k : 50;
    for (int i = 0; i < m; i++)
      bulk_next(&f, k + i, &raw[i], &len[i]);
    gs_err err = store_apply(s, (const uint8_t *const *)raw, len, (size_t)m,
                             NULL, NULL);
    for (int i = 0; i < m; i++)
      free(raw[i]);
    cr_assert_eq(err, GS_OK, "batch at %d: %s", k, gs_errname(err));
  }
  static char big[100000];
  memset(big, 'm', sizeof big);
  cr_assert_eq(store_meta_put(s, "big", big, sizeof big), GS_OK);
  static char back[100000];
  size_t n;
  cr_assert_eq(store_meta_get(s, "big", back, sizeof back, &n), GS_OK);
  cr_assert_eq(n, sizeof big);
  cr_assert_eq(memcmp(big, back, sizeof big), 0);
  check_grown(s, NCHANGES, false);
}

Test(store_map, small_writes_after_reopening_a_grown_store)
{
  /* A store grown past its initial map in one transaction (an import:
   * no free pages left), then reopened (by a server, say): every kind of
   * small write works at once. Found by the sync bench: the first commit
   * after reopening ran out of map inside mdb_txn_commit. */
  static char bufs[OPS_PER_CHANGE * BODY];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  store_write *w = NULL;
  crdt_keypair(pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (int k = 0; k < NCHANGES; k++) {
    crdt_op ops[OPS_PER_CHANGE];
    uint8_t ids[OPS_PER_CHANGE][CRDT_ID_LEN];
    bulk_ops(k, bufs, ops, ids);
    cr_assert_eq(store_write_change(w, scope, strlen(scope), ops,
                                    OPS_PER_CHANGE, T_NOW_MS, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  for (int round = 0; round < 2; round++) {
    store_close(s);
    s = NULL;
    cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", 7070 + round);
    gs_err err = store_peer_put(s, addr, "x", 1);
    cr_assert_eq(err, GS_OK, "%s", gs_errname(err));
    uint8_t feeds[3][CRDT_FEED_LEN] = {{1}, {2}, {3}};
    uint64_t seqs[3] = {5, 6, 7 + (uint64_t)round};
    err = store_heard_raise(s, (const uint8_t(*)[CRDT_FEED_LEN])feeds, seqs,
                            3);
    cr_assert_eq(err, GS_OK, "%s", gs_errname(err));
    cr_assert_eq(store_meta_put(s, "k", "v", 1), GS_OK);
    crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                  .field = "name", .field_len = 4,
                  .value = {.type = CRDT_STR, .u.s = {"x", 1}}};
    cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
    cr_assert_eq(store_write_change(w, "a/b", 3, &op, 1, T_NOW_MS, NULL,
                                    NULL),
                 GS_OK);
    cr_assert_eq(store_write_commit(w), GS_OK);
  }
}
