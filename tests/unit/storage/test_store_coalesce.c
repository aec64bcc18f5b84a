/* store: a batch's edits to one record are coalesced (the record loaded
 * and decoded once, every edit applied, encoded and written once at the
 * end of the batch, in key order; issue 20). Guards: the same changes
 * applied as one batch, in batches of a few, and one at a time give the
 * same records, the same history and the same scope index (a property
 * test over a fixed seed: SET, ADD, REMOVE, DELETE, RESTORE, concurrent
 * clocks, many edits per record in a batch); a batch that fails half-way
 * leaves none of its records, history or index entries. */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

static const char scope[] = "gongrencun/qinghejv/g07";

#define NFEEDS 3
#define NIDS 9
#define NCHANGES 90
#define MAXOPS 8

static uint64_t rng = 0x2545f4914f6cdd1dULL; /* fixed seed: runs repeat */
static uint64_t rnd(void)
{
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545f4914f6cdd1dULL;
}

typedef struct gen {
  uint8_t *raw[NCHANGES];
  size_t len[NCHANGES];
  size_t n;
} gen;

/* NCHANGES changes of NFEEDS seeded feeds, interleaved at random (each
 * feed in its order), over NIDS records in two collections. */
static void generate(gen *g)
{
  t_feed f[NFEEDS];
  crdt_stamp adds[NCHANGES * MAXOPS];
  size_t nadds = 0;
  static const char *const colls[2] = {"issue", "resident"};
  static const char *const tags[3] = {"老人", "独居", "需要探访"};
  char text[NCHANGES][MAXOPS][32];
  memset(g, 0, sizeof *g);
  for (int i = 0; i < NFEEDS; i++) {
    uint8_t seed[32] = {(uint8_t)(40 + i)};
    t_feed_init(&f[i], scope);
    crdt_keypair_seed(seed, f[i].pk, f[i].sk);
    crdt_feed_id(f[i].pk, f[i].scope, strlen(f[i].scope), f[i].feed);
  }
  for (size_t c = 0; c < NCHANGES; c++) {
    t_feed *fe = &f[rnd() % NFEEDS];
    crdt_op ops[MAXOPS];
    size_t nops = 1 + rnd() % MAXOPS;
    /* one change in four shares the clock of another feed: a conflict
     * decided by origin */
    crdt_hlc h = fe->hlc + 1;
    if (rnd() % 4 == 0)
      for (int i = 0; i < NFEEDS; i++)
        if (f[i].hlc + 1 > h)
          h = f[i].hlc + 1;
    for (size_t k = 0; k < nops; k++) {
      uint8_t id[CRDT_ID_LEN];
      unsigned r = (unsigned)(rnd() % NIDS);
      t_id(id, (uint8_t)(1 + r % 2), r);
      const char *coll = colls[r % 2];
      unsigned kind = (unsigned)(rnd() % 10);
      snprintf(text[c][k], sizeof text[c][k], "值%zu-%zu", c, k);
      if (kind < 4) {
        ops[k] = t_set_str(coll, id, rnd() % 2 ? "title" : "room",
                           text[c][k], strlen(text[c][k]));
      } else if (kind < 5) {
        ops[k] = t_set_int(coll, id, "n", (int64_t)(rnd() % 100));
      } else if (kind < 7) {
        ops[k] = t_add_str(coll, id, "tags", tags[rnd() % 3]);
        adds[nadds].hlc = h;
        memcpy(adds[nadds].origin, fe->pk, CRDT_KEY_LEN);
        nadds++;
      } else if (kind < 8 && nadds) {
        ops[k] = t_add_str(coll, id, "tags", tags[rnd() % 3]);
        ops[k].kind = CRDT_OP_REMOVE;
        size_t from = rnd() % nadds;
        ops[k].tags = &adds[from];
        ops[k].ntags = nadds - from < 3 ? nadds - from : 3;
      } else {
        memset(&ops[k], 0, sizeof ops[k]);
        ops[k].kind = kind < 9 ? CRDT_OP_DELETE : CRDT_OP_RESTORE;
        ops[k].coll = coll;
        ops[k].coll_len = strlen(coll);
        memcpy(ops[k].id, id, CRDT_ID_LEN);
      }
    }
    uint8_t *raw;
    size_t n;
    cr_assert_eq(t_build(fe, fe->seq + 1, fe->seq ? fe->head : NULL, h, ops,
                         nops, &raw, &n),
                 GS_OK, "change %zu", c);
    cr_assert_eq(t_hash_raw(raw, n, fe->head), GS_OK);
    fe->seq++;
    fe->hlc = h;
    g->raw[g->n] = raw;
    g->len[g->n++] = n;
  }
}

static void gen_free(gen *g)
{
  for (size_t i = 0; i < g->n; i++)
    free(g->raw[i]);
  g->n = 0;
}

/* What one store holds: its digest, records, and every record's history
 * (the hashes of its changes, in order). */
typedef struct seen {
  uint8_t digest[CRDT_HASH_LEN];
  size_t nrecords;
  uint8_t hist[NIDS][NCHANGES][CRDT_HASH_LEN];
  size_t nhist[NIDS];
} seen;

typedef struct hist_ctx {
  seen *sn;
  unsigned r;
} hist_ctx;

static int hist_cb(void *ctx, const crdt_change *c)
{
  hist_ctx *h = ctx;
  cr_assert_lt(h->sn->nhist[h->r], NCHANGES);
  crdt_change_hash(c, h->sn->hist[h->r][h->sn->nhist[h->r]++]);
  return 0;
}

/* Apply g to a fresh store in batches of batch changes; what it holds. */
static void apply_in(const gen *g, size_t batch, seen *sn)
{
  static const char *const colls[2] = {"issue", "resident"};
  char dir[64];
  store *s;
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  size_t ops = 0;
  for (size_t i = 0; i < g->n; i += batch) {
    size_t n = g->n - i < batch ? g->n - i : batch;
    store_result res;
    cr_assert_eq(store_apply(s, (const uint8_t *const *)g->raw + i,
                             g->len + i, n, &res, NULL),
                 GS_OK, "batch at %zu", i);
    cr_assert_eq(res.applied, n);
    ops += res.ops;
  }
  cr_assert_gt(ops, g->n);
  memset(sn, 0, sizeof *sn);
  cr_assert_eq(store_digest(s, NULL, 0, sn->digest, &sn->nrecords), GS_OK);
  for (unsigned r = 0; r < NIDS; r++) {
    uint8_t id[CRDT_ID_LEN];
    t_id(id, (uint8_t)(1 + r % 2), r);
    hist_ctx h = {sn, r};
    cr_assert_eq(store_history(s, colls[r % 2], strlen(colls[r % 2]), id,
                               hist_cb, &h),
                 GS_OK);
  }
  store_close(s);
  t_rmtree(dir);
}

Test(store_coalesce, one_batch_gives_the_records_of_one_change_at_a_time)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  gen g;
  generate(&g);
  static seen one, few, all;
  apply_in(&g, 1, &one);
  apply_in(&g, 7, &few);
  apply_in(&g, NCHANGES, &all);
  cr_assert_eq(one.nrecords, NIDS, "every record reached (and indexed)");
  cr_assert_eq(few.nrecords, one.nrecords);
  cr_assert_eq(all.nrecords, one.nrecords);
  cr_assert_arr_eq(few.digest, one.digest, CRDT_HASH_LEN);
  cr_assert_arr_eq(all.digest, one.digest, CRDT_HASH_LEN);
  size_t total = 0;
  for (unsigned r = 0; r < NIDS; r++) {
    cr_assert_eq(all.nhist[r], one.nhist[r], "history of record %u", r);
    cr_assert_eq(few.nhist[r], one.nhist[r], "history of record %u", r);
    cr_assert_arr_eq(all.hist[r], one.hist[r],
                     one.nhist[r] * CRDT_HASH_LEN);
    cr_assert_arr_eq(few.hist[r], one.hist[r],
                     one.nhist[r] * CRDT_HASH_LEN);
    total += one.nhist[r];
  }
  /* many records were edited by several changes of one batch */
  cr_assert_gt(total, 2 * NIDS);
  gen_free(&g);
}

Test(store_coalesce, a_batch_that_fails_half_way_leaves_nothing)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  char dir[64];
  store *s;
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  t_feed a, b;
  t_feed_init(&a, scope);
  t_feed_init(&b, scope);
  uint8_t id[CRDT_ID_LEN], id2[CRDT_ID_LEN];
  t_id(id, 1, 1);
  t_id(id2, 1, 2);
  uint8_t *raw[4];
  size_t len[4];
  crdt_op o1 = t_set_str("issue", id, "title", "漏水", strlen("漏水"));
  crdt_op o2[2] = {t_set_str("issue", id, "room", "301", 3),
                   t_set_str("issue", id2, "title", "停电", strlen("停电"))};
  crdt_op o3 = t_set_str("issue", id2, "room", "402", 3);
  cr_assert_eq(t_next(&a, &o1, 1, &raw[0], &len[0]), GS_OK);
  cr_assert_eq(t_next(&b, o2, 2, &raw[1], &len[1]), GS_OK);
  cr_assert_eq(t_next(&a, &o3, 1, &raw[2], &len[2]), GS_OK);
  /* the fourth: b's next change with its signature broken */
  crdt_op o4 = t_set_str("issue", id, "title", "伪造", strlen("伪造"));
  cr_assert_eq(t_next(&b, &o4, 1, &raw[3], &len[3]), GS_OK);
  raw[3][len[3] - 1] ^= 0x01; /* the signature: the last 64 bytes */
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  size_t nb, na;
  cr_assert_eq(store_digest(s, NULL, 0, before, &nb), GS_OK);
  size_t bad = 99;
  gs_err err = store_apply(s, (const uint8_t *const *)raw, len, 4, NULL,
                           &bad);
  cr_assert_eq(err, GS_ESIG);
  cr_assert_eq(bad, 3);
  cr_assert_eq(store_digest(s, NULL, 0, after, &na), GS_OK);
  cr_assert_eq(na, 0, "no record of the batch was written");
  cr_assert_eq(nb, 0);
  cr_assert_arr_eq(after, before, CRDT_HASH_LEN);
  seen *sn = calloc(1, sizeof *sn);
  hist_ctx h = {sn, 0};
  cr_assert_eq(store_history(s, "issue", 5, id, hist_cb, &h), GS_ENOTFOUND);
  h.r = 1;
  cr_assert_eq(store_history(s, "issue", 5, id2, hist_cb, &h), GS_ENOTFOUND);
  cr_assert_eq(sn->nhist[0] + sn->nhist[1], 0, "no history entry");
  static t_field tf;
  gs_err gerr = t_get(s, "issue", id, "title", &tf);
  cr_assert(gerr == GS_OK || gerr == GS_ENOTFOUND);
  cr_assert_eq(tf.nscopes, 0);
  /* the good three alone go in, each record with its whole history */
  store_result res;
  cr_assert_eq(store_apply(s, (const uint8_t *const *)raw, len, 3, &res,
                           NULL),
               GS_OK);
  cr_assert_eq(res.ops, 4);
  memset(sn, 0, sizeof *sn);
  h.r = 0;
  cr_assert_eq(store_history(s, "issue", 5, id, hist_cb, &h), GS_OK);
  h.r = 1;
  cr_assert_eq(store_history(s, "issue", 5, id2, hist_cb, &h), GS_OK);
  cr_assert_eq(sn->nhist[0], 2);
  cr_assert_eq(sn->nhist[1], 2);
  cr_assert_eq(store_digest(s, NULL, 0, after, &na), GS_OK);
  cr_assert_eq(na, 2);
  free(sn);
  for (int i = 0; i < 4; i++)
    free(raw[i]);
  store_close(s);
  t_rmtree(dir);
}

/* Keys that defeat a sort by a prefix word (issue 20, fourth pass: a
 * batch's record and hist keys are sorted by the 8 bytes after the prefix
 * they all share, then whole): collections that are prefixes of each
 * other ("a", "ab", "abc"), ids that share 15 of their 16 bytes and ids
 * that differ in the first, the same record in two scopes (its hist
 * entries interleave: the hist list is then sorted whole), and a store
 * that already holds keys before and after the batch's (appends and
 * inserts mixed). The batch gives what one change at a time gives: the
 * same digest, the same history of every record, the same scope index. */
#define KNCH 80
#define KNIDS 6
static const char *const kcolls[3] = {"a", "ab", "abc"};

static void kid(uint8_t id[CRDT_ID_LEN], unsigned r)
{
  memset(id, 0x5a, CRDT_ID_LEN);
  if (r < 4)
    id[CRDT_ID_LEN - 1] = (uint8_t)r; /* 15 bytes in common */
  else
    id[0] = (uint8_t)r; /* differs at once */
}

typedef struct kseen {
  uint8_t digest[CRDT_HASH_LEN];
  size_t nrecords, listed[3];
  uint8_t hist[3][KNIDS][KNCH][CRDT_HASH_LEN];
  size_t nhist[3][KNIDS];
} kseen;

typedef struct khist {
  kseen *k;
  unsigned c, r;
} khist;

static int khist_cb(void *ctx, const crdt_change *c)
{
  khist *h = ctx;
  size_t *n = &h->k->nhist[h->c][h->r];
  cr_assert_lt(*n, KNCH);
  crdt_change_hash(c, h->k->hist[h->c][h->r][(*n)++]);
  return 0;
}

static int kcount_cb(void *ctx, const crdt_record *r)
{
  (void)r;
  ++*(size_t *)ctx;
  return 0;
}

static void kapply(uint8_t *const *raw, const size_t *len, size_t first,
                   bool batch, kseen *k)
{
  char dir[64];
  store *s;
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  for (size_t i = 0; i < KNCH; i++) {
    size_t n = batch && i >= first ? KNCH - i : 1;
    store_result res;
    cr_assert_eq(store_apply(s, (const uint8_t *const *)raw + i, len + i, n,
                             &res, NULL),
                 GS_OK);
    cr_assert_eq(res.applied, n);
    i += n - 1;
  }
  memset(k, 0, sizeof *k);
  cr_assert_eq(store_digest(s, NULL, 0, k->digest, &k->nrecords), GS_OK);
  for (unsigned c = 0; c < 3; c++) {
    cr_assert_eq(store_list(s, kcolls[c], strlen(kcolls[c]), NULL, 0,
                            kcount_cb, &k->listed[c]),
                 GS_OK);
    for (unsigned r = 0; r < KNIDS; r++) {
      uint8_t id[CRDT_ID_LEN];
      kid(id, r);
      khist h = {k, c, r};
      gs_err err = store_history(s, kcolls[c], strlen(kcolls[c]), id,
                                 khist_cb, &h);
      cr_assert(err == GS_OK || err == GS_ENOTFOUND);
    }
  }
  store_close(s);
  t_rmtree(dir);
}

Test(store_coalesce, keys_sharing_long_prefixes_sort_as_bytes)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  static const char *const scopes[2] = {"gongrencun/qinghejv/g07",
                                        "gongrencun/qinghejv/g07/b2"};
  t_feed f[4];
  uint8_t *raw[KNCH];
  size_t len[KNCH];
  char text[KNCH][MAXOPS][24];
  for (int i = 0; i < 4; i++)
    t_feed_init(&f[i], scopes[i % 2]);
  for (size_t c = 0; c < KNCH; c++) {
    t_feed *fe = &f[rnd() % 4];
    crdt_op ops[MAXOPS];
    size_t nops = 1 + rnd() % MAXOPS;
    uint8_t ids[MAXOPS][CRDT_ID_LEN];
    for (size_t k = 0; k < nops; k++) {
      /* the first changes keep to the middle keys, so that the batch
       * after them has keys before and after what the store holds */
      unsigned r = c < 20 ? 1 + (unsigned)(rnd() % 2)
                          : (unsigned)(rnd() % KNIDS);
      const char *coll = kcolls[c < 20 ? 1 : rnd() % 3];
      kid(ids[k], r);
      snprintf(text[c][k], sizeof text[c][k], "值%zu-%zu", c, k);
      ops[k] = t_set_str(coll, ids[k], rnd() % 2 ? "title" : "room",
                         text[c][k], strlen(text[c][k]));
      /* values of each kind that borrows bytes: text, bytes, a ref */
      unsigned kind = (unsigned)(rnd() % 6);
      if (kind == 0) {
        ops[k].value.type = CRDT_BYTES;
      } else if (kind == 1) {
        ops[k].value.type = CRDT_REF;
        ops[k].value.u.ref.coll = kcolls[rnd() % 3];
        ops[k].value.u.ref.coll_len = strlen(ops[k].value.u.ref.coll);
        memset(ops[k].value.u.ref.id, (int)(c + k), CRDT_ID_LEN);
      } else if (kind == 2) {
        ops[k].field = "tags";
        ops[k].field_len = 4;
        ops[k].kind = CRDT_OP_ADD;
      }
    }
    /* a quarter share another feed's clock: decided by origin */
    crdt_hlc h = fe->hlc + 1;
    if (rnd() % 4 == 0)
      for (int i = 0; i < 4; i++)
        if (f[i].hlc + 1 > h)
          h = f[i].hlc + 1;
    cr_assert_eq(t_build(fe, fe->seq + 1, fe->seq ? fe->head : NULL, h, ops,
                         nops, &raw[c], &len[c]),
                 GS_OK);
    cr_assert_eq(t_hash_raw(raw[c], len[c], fe->head), GS_OK);
    fe->seq++;
    fe->hlc = h;
  }
  static kseen one, batched;
  kapply(raw, len, 20, false, &one);
  kapply(raw, len, 20, true, &batched);
  cr_assert_gt(one.nrecords, 12, "records in both scopes: %zu",
               one.nrecords);
  cr_assert_eq(batched.nrecords, one.nrecords);
  cr_assert_arr_eq(batched.digest, one.digest, CRDT_HASH_LEN);
  for (unsigned c = 0; c < 3; c++) {
    cr_assert_eq(batched.listed[c], one.listed[c], "scope index of %s",
                 kcolls[c]);
    for (unsigned r = 0; r < KNIDS; r++) {
      cr_assert_eq(batched.nhist[c][r], one.nhist[c][r]);
      cr_assert_arr_eq(batched.hist[c][r], one.hist[c][r],
                       one.nhist[c][r] * CRDT_HASH_LEN);
    }
  }
  for (size_t c = 0; c < KNCH; c++)
    free(raw[c]);
}

/* A local write's DELETE is applied from the writer's own op, whose
 * field and value it does not have: whatever is left there is not read
 * (the batch's ops are copied with the bytes they borrow, issue 20). */
Test(store_coalesce, a_local_delete_leaves_its_unused_parts_unread)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  char dir[64];
  store *s;
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], id[CRDT_ID_LEN];
  crdt_keypair(pk, sk);
  t_id(id, 1, 7);
  crdt_op ops[2] = {t_set_str("issue", id, "title", "漏水", strlen("漏水"))};
  memset(&ops[1], 0, sizeof ops[1]);
  ops[1].kind = CRDT_OP_DELETE;
  ops[1].coll = "issue";
  ops[1].coll_len = 5;
  memcpy(ops[1].id, id, CRDT_ID_LEN);
  /* what a writer may leave in the parts a DELETE has not */
  ops[1].field = NULL;
  ops[1].field_len = 100;
  ops[1].value.type = CRDT_STR;
  ops[1].value.u.s.p = NULL;
  ops[1].value.u.s.n = 200;
  store_write *w;
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, scope, strlen(scope), ops, 2, T_NOW_MS,
                                  NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_eq(tf.nscopes, 1);
  cr_assert(tf.deleted, "the record is deleted");
  store_close(s);
  t_rmtree(dir);
}
