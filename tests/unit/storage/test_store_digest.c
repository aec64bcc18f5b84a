/* store: the state digest converges: same changes in any order give the
 * same digest; different content a different one; prefixes select scopes
 * segment-wise. */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

#define NSTORES 3
#define NFEEDS 3
#define PER_FEED 6

static char dirs[NSTORES][64];
static store *st[NSTORES];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  for (int i = 0; i < NSTORES; i++) {
    cr_assert(t_mkdtemp(dirs[i], sizeof dirs[i]), "mkdtemp");
    st[i] = NULL;
    cr_assert_eq(store_open(dirs[i], STORE_CREATE | STORE_NOSYNC, &st[i]),
                 GS_OK);
  }
}

static void teardown(void)
{
  for (int i = 0; i < NSTORES; i++) {
    store_close(st[i]);
    st[i] = NULL;
    t_rmtree(dirs[i]);
  }
}

TestSuite(store_digest, .init = setup, .fini = teardown);

/* Changes of several feeds, by feed: raw[f][k] is seq k+1 of feed f. */
typedef struct corpus {
  t_feed feeds[NFEEDS];
  uint8_t *raw[NFEEDS][PER_FEED];
  size_t len[NFEEDS][PER_FEED];
} corpus;

static void corpus_free(corpus *c)
{
  for (int f = 0; f < NFEEDS; f++)
    for (int k = 0; k < PER_FEED; k++)
      free(c->raw[f][k]);
}

/* Feeds 0 and 1 write concurrently to the same records in scope g07
 * (including conflicting writes to one field and set adds), feed 2 writes
 * in scope g08. Every feed's hlc runs over the same range, so concurrent
 * writes are decided by stamp, not by arrival. */
static void corpus_build(corpus *c)
{
  static const char *const scopes[NFEEDS] = {
      "gongrencun/qinghejv/g07", "gongrencun/qinghejv/g07",
      "gongrencun/qinghejv/g08"};
  memset(c, 0, sizeof *c);
  for (int f = 0; f < NFEEDS; f++)
    t_feed_init(&c->feeds[f], scopes[f]);
  for (int k = 0; k < PER_FEED; k++) {
    for (int f = 0; f < NFEEDS; f++) {
      uint8_t shared[CRDT_ID_LEN], own[CRDT_ID_LEN];
      char title[32], tag[16];
      t_id(shared, 1, (uint64_t)(k % 2));
      t_id(own, (uint8_t)(10 + f), (uint64_t)k);
      snprintf(title, sizeof title, "f%d k%d", f, k);
      snprintf(tag, sizeof tag, "t%d", (f + k) % 4);
      crdt_op ops[4] = {
          t_set_str("issue", shared, "title", title, strlen(title)),
          t_set_int("issue", shared, "count", f * 100 + k),
          t_add_str("issue", shared, "tags", tag),
          t_set_str("visit", own, "note", title, strlen(title)),
      };
      cr_assert_eq(t_next(&c->feeds[f], ops, 4, &c->raw[f][k], &c->len[f][k]),
                   GS_OK);
    }
  }
}

static void apply_one(store *s, const corpus *c, int f, int k)
{
  store_result res;
  size_t bad = 0;
  const uint8_t *const p[1] = {c->raw[f][k]};
  gs_err err = store_apply(s, p, &c->len[f][k], 1, &res, &bad);
  cr_assert_eq(err, GS_OK, "feed %d seq %d: %s", f, k + 1, gs_strerror(err));
  cr_assert_eq(res.applied, 1);
}

static void apply_feed_run(store *s, const corpus *c, int f, int from, int n)
{
  store_result res;
  cr_assert_eq(store_apply(s, (const uint8_t *const *)&c->raw[f][from],
                           &c->len[f][from], (size_t)n, &res, NULL),
               GS_OK);
  cr_assert_eq(res.applied, (size_t)n);
}

static void digest_of(store *s, const char *prefix, uint8_t out[CRDT_HASH_LEN],
                      size_t *n)
{
  cr_assert_eq(store_digest(s, prefix, prefix ? strlen(prefix) : 0, out, n),
               GS_OK);
}

Test(store_digest, same_changes_in_different_orders_converge)
{
  corpus c;
  corpus_build(&c);

  /* Store 0: feed by feed, one batch per feed. */
  for (int f = 0; f < NFEEDS; f++)
    apply_feed_run(st[0], &c, f, 0, PER_FEED);

  /* Store 1: feeds interleaved one change at a time, last feed first. */
  for (int k = 0; k < PER_FEED; k++)
    for (int f = NFEEDS - 1; f >= 0; f--)
      apply_one(st[1], &c, f, k);

  /* Store 2: feed 1 entirely, then feed 0 and 2 interleaved in a single
   * mixed batch, with duplicates thrown in. */
  apply_feed_run(st[2], &c, 1, 0, PER_FEED);
  const uint8_t *mixed[3 * PER_FEED];
  size_t lens[3 * PER_FEED], m = 0;
  for (int k = 0; k < PER_FEED; k++) {
    mixed[m] = c.raw[2][k], lens[m++] = c.len[2][k];
    mixed[m] = c.raw[0][k], lens[m++] = c.len[0][k];
    mixed[m] = c.raw[1][k], lens[m++] = c.len[1][k];
  }
  store_result res;
  cr_assert_eq(store_apply(st[2], mixed, lens, m, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 2 * PER_FEED);
  cr_assert_eq(res.duplicates, PER_FEED);

  uint8_t d[NSTORES][CRDT_HASH_LEN];
  size_t n[NSTORES];
  for (int i = 0; i < NSTORES; i++)
    digest_of(st[i], NULL, d[i], &n[i]);
  /* 2 shared issues in each of the 2 scopes + one visit per change. */
  cr_assert_eq(n[0], 2 * 2 + NFEEDS * PER_FEED);
  for (int i = 1; i < NSTORES; i++) {
    cr_assert_eq(n[i], n[0]);
    cr_assert_arr_eq(d[i], d[0], CRDT_HASH_LEN, "store %d differs", i);
  }

  /* Reading the contested field agrees too. */
  static t_field a, b;
  uint8_t shared[CRDT_ID_LEN];
  t_id(shared, 1, 0);
  cr_assert_eq(t_get(st[0], "issue", shared, "title", &a), GS_OK);
  cr_assert_eq(t_get(st[1], "issue", shared, "title", &b), GS_OK);
  cr_assert_str_eq(a.str, b.str);
  cr_assert_eq(a.stamp.hlc, b.stamp.hlc);
  corpus_free(&c);
}

Test(store_digest, different_content_gives_different_digest)
{
  corpus c;
  corpus_build(&c);
  uint8_t empty0[CRDT_HASH_LEN], empty1[CRDT_HASH_LEN];
  digest_of(st[0], NULL, empty0, NULL);
  digest_of(st[1], NULL, empty1, NULL);
  cr_assert_arr_eq(empty0, empty1, CRDT_HASH_LEN, "empty stores agree");

  for (int f = 0; f < NFEEDS; f++) {
    apply_feed_run(st[0], &c, f, 0, PER_FEED);
    /* Store 1 lacks the last change of feed 1. */
    apply_feed_run(st[1], &c, f, 0, f == 1 ? PER_FEED - 1 : PER_FEED);
  }
  uint8_t d0[CRDT_HASH_LEN], d1[CRDT_HASH_LEN];
  size_t n0, n1;
  digest_of(st[0], NULL, d0, &n0);
  digest_of(st[1], NULL, d1, &n1);
  cr_assert_neq(memcmp(d0, empty0, CRDT_HASH_LEN), 0);
  cr_assert_neq(memcmp(d0, d1, CRDT_HASH_LEN), 0);
  cr_assert_eq(n0, n1 + 1, "one visit record fewer");

  /* Once it arrives they agree. */
  apply_feed_run(st[1], &c, 1, PER_FEED - 1, 1);
  digest_of(st[1], NULL, d1, &n1);
  cr_assert_arr_eq(d0, d1, CRDT_HASH_LEN);
  cr_assert_eq(n0, n1);

  /* Same record count, one field value differs: differs. */
  t_feed x;
  t_feed_init(&x, "gongrencun/qinghejv/g07");
  uint8_t id[CRDT_ID_LEN], *raw;
  size_t len;
  t_id(id, 10, 0);
  crdt_op op = t_set_int("visit", id, "minutes", 5);
  cr_assert_eq(t_next(&x, &op, 1, &raw, &len), GS_OK);
  cr_assert_eq(t_apply1(st[1], raw, len, NULL), GS_OK);
  digest_of(st[1], NULL, d1, &n1);
  cr_assert_eq(n0, n1);
  cr_assert_neq(memcmp(d0, d1, CRDT_HASH_LEN), 0);
  free(raw);
  corpus_free(&c);
}

/* One change of a fresh feed in scope writing visit/id.note := note,
 * applied to stores a and (if not NULL) b: the very same change. */
static void put_in_scope2(store *a, store *b, const char *scope, uint64_t idn,
                          const char *note)
{
  t_feed f;
  uint8_t id[CRDT_ID_LEN], *raw;
  size_t len;
  t_feed_init(&f, scope);
  t_id(id, 3, idn);
  crdt_op op = t_set_str("visit", id, "note", note, strlen(note));
  cr_assert_eq(t_next(&f, &op, 1, &raw, &len), GS_OK);
  cr_assert_eq(t_apply1(a, raw, len, NULL), GS_OK);
  if (b)
    cr_assert_eq(t_apply1(b, raw, len, NULL), GS_OK);
  free(raw);
}

static void put_in_scope(store *s, const char *scope, uint64_t idn,
                         const char *note)
{
  put_in_scope2(s, NULL, scope, idn, note);
}

Test(store_digest, digest_under_scope_prefix)
{
  /* Same content under gongrencun/qinghejv in both stores; different
   * content elsewhere (and in a sibling whose name extends the prefix). */
  put_in_scope2(st[0], st[1], "gongrencun/qinghejv", 1, "community office");
  put_in_scope2(st[1], st[0], "gongrencun/qinghejv/g07", 2, "grid 7");
  put_in_scope2(st[0], st[1], "gongrencun/qinghejv/g08/b3", 3, "building 3");
  put_in_scope(st[0], "gongrencun/qinghejvx", 4, "not under: longer name");
  put_in_scope(st[0], "gongrencun/qinghejv-2", 5, "not under: dash");
  put_in_scope(st[0], "gongrencun/qinghejv.old", 6, "not under: dot");
  put_in_scope(st[1], "gongrencun/other/g01", 7, "elsewhere");
  put_in_scope(st[1], "a", 8, "sorts first");

  uint8_t d0[CRDT_HASH_LEN], d1[CRDT_HASH_LEN];
  size_t n0, n1;
  digest_of(st[0], "gongrencun/qinghejv", d0, &n0);
  digest_of(st[1], "gongrencun/qinghejv", d1, &n1);
  cr_assert_eq(n0, 3);
  cr_assert_eq(n1, 3);
  cr_assert_arr_eq(d0, d1, CRDT_HASH_LEN, "same state under prefix");

  /* Whole-store digests differ. */
  digest_of(st[0], NULL, d0, &n0);
  digest_of(st[1], "", d1, &n1);
  cr_assert_eq(n0, 6);
  cr_assert_eq(n1, 5);
  cr_assert_neq(memcmp(d0, d1, CRDT_HASH_LEN), 0);

  /* Deeper and segment-wise prefixes. */
  digest_of(st[0], "gongrencun/qinghejv/g08", d0, &n0);
  cr_assert_eq(n0, 1);
  digest_of(st[0], "gongrencun/qinghejv/g0", d0, &n0);
  cr_assert_eq(n0, 0, "g0 is not a segment prefix of g07");
  digest_of(st[0], "gongrencun", d0, &n0);
  cr_assert_eq(n0, 6);
  digest_of(st[1], "gongrencun", d1, &n1);
  cr_assert_eq(n1, 4);

  /* A prefix with no records digests like an empty store. */
  uint8_t e0[CRDT_HASH_LEN], e2[CRDT_HASH_LEN];
  digest_of(st[0], "nowhere", e0, &n0);
  digest_of(st[2], NULL, e2, NULL);
  cr_assert_eq(n0, 0);
  cr_assert_arr_eq(e0, e2, CRDT_HASH_LEN);

  /* A change under the prefix in one store makes them differ. */
  put_in_scope(st[1], "gongrencun/qinghejv/g07", 9, "new visit");
  digest_of(st[0], "gongrencun/qinghejv", d0, &n0);
  digest_of(st[1], "gongrencun/qinghejv", d1, &n1);
  cr_assert_eq(n1, 4);
  cr_assert_neq(memcmp(d0, d1, CRDT_HASH_LEN), 0);
}
