/* store: applying received changes: materialising, version vector,
 * history, duplicates, and every refusal (gap, chain, signature, fork)
 * being all-or-nothing. */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

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

TestSuite(store_apply, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";

/* A change list of up to 8 built changes, freed by changes_free. */
typedef struct changes {
  uint8_t *raw[8];
  size_t len[8];
  size_t n;
} changes;

static void changes_add(changes *cs, uint8_t *raw, size_t n)
{
  cr_assert_lt(cs->n, 8);
  cs->raw[cs->n] = raw;
  cs->len[cs->n] = n;
  cs->n++;
}

static void changes_free(changes *cs)
{
  for (size_t i = 0; i < cs->n; i++)
    free(cs->raw[i]);
  cs->n = 0;
}

/* Next change of f setting issue/id.title := title; added to cs. */
static void next_title(changes *cs, t_feed *f, const uint8_t id[CRDT_ID_LEN],
                       const char *title)
{
  crdt_op op = t_set_str("issue", id, "title", title, strlen(title));
  uint8_t *raw;
  size_t n;
  cr_assert_eq(t_next(f, &op, 1, &raw, &n), GS_OK);
  changes_add(cs, raw, n);
}

static gs_err apply(const changes *cs, size_t from, size_t count,
                    store_result *res, size_t *bad)
{
  return store_apply(s, (const uint8_t *const *)cs->raw + from, cs->len + from,
                     count, res, bad);
}

static void digest(uint8_t out[CRDT_HASH_LEN], size_t *n)
{
  cr_assert_eq(store_digest(s, NULL, 0, out, n), GS_OK);
}

/* The store holds nothing at all: no record, feed, change, history. */
static void assert_empty(const t_feed *f, const uint8_t id[CRDT_ID_LEN])
{
  store_stats st;
  store_feed sf;
  static t_field tf;
  t_hist h;
  crdt_hlc hlc;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.records, 0, "records: %zu", st.records);
  cr_assert_eq(st.changes, 0, "changes: %zu", st.changes);
  cr_assert_eq(st.feeds, 0, "feeds: %zu", st.feeds);
  cr_assert_eq(store_feed_get(s, f->feed, &sf), GS_ENOTFOUND);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_ENOTFOUND);
  cr_assert_eq(t_history(s, "issue", id, &h), GS_ENOTFOUND);
  cr_assert_eq(store_hlc(s, &hlc), GS_OK);
  cr_assert_eq(hlc, 0, "hlc not observed by a refused batch");
}

typedef struct feeds_seen {
  size_t n;
  store_feed f[4];
} feeds_seen;

static int feeds_cb(void *ctx, const store_feed *f)
{
  feeds_seen *fs = ctx;
  if (fs->n < 4)
    fs->f[fs->n] = *f;
  fs->n++;
  return 0;
}

typedef struct raw_seen {
  size_t n;
  uint64_t seq[8];
  uint8_t *bytes[8];
  size_t len[8];
} raw_seen;

static int raw_cb(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  raw_seen *r = ctx;
  if (r->n < 8) {
    r->seq[r->n] = seq;
    r->bytes[r->n] = malloc(n);
    memcpy(r->bytes[r->n], b, n);
    r->len[r->n] = n;
  }
  r->n++;
  return 0;
}

static void raw_seen_free(raw_seen *r)
{
  for (size_t i = 0; i < r->n && i < 8; i++)
    free(r->bytes[i]);
}

Test(store_apply, applied_change_is_materialized)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  static t_field tf;
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  t_id(b, 1, 2);

  crdt_op ops[4] = {
      t_set_str("issue", a, "title", "Leaky roof", 10),
      t_set_int("issue", a, "floor", 3),
      t_add_str("issue", a, "tags", "urgent"),
      t_set_str("visit", b, "note", "came by", 7),
  };
  uint8_t *raw;
  size_t n;
  cr_assert_eq(t_next(&f, ops, 4, &raw, &n), GS_OK);
  store_result res;
  size_t bad = 77;
  const uint8_t *const cs[1] = {raw};
  cr_assert_eq(store_apply(s, cs, &n, 1, &res, &bad), GS_OK);
  cr_assert_eq(bad, 77, "bad_index untouched on success");
  cr_assert_eq(res.applied, 1);
  cr_assert_eq(res.duplicates, 0);
  cr_assert_eq(res.ops, 4);
  cr_assert_eq(res.max_hlc, f.hlc);

  /* Records, with their fields, scope and stamps. */
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_eq(tf.nscopes, 1);
  cr_assert_str_eq(tf.scope, scope);
  cr_assert(tf.present);
  cr_assert_eq(tf.type, CRDT_STR);
  cr_assert_str_eq(tf.str, "Leaky roof");
  cr_assert_eq(tf.stamp.hlc, f.hlc);
  cr_assert_arr_eq(tf.stamp.origin, f.pk, CRDT_KEY_LEN);
  cr_assert_not(tf.deleted);
  cr_assert_eq(t_get(s, "issue", a, "floor", &tf), GS_OK);
  cr_assert_eq(tf.type, CRDT_INT);
  cr_assert_eq(tf.i, 3);
  cr_assert_eq(t_get(s, "issue", a, "tags", &tf), GS_OK);
  cr_assert(tf.is_set);
  cr_assert_eq(tf.nelems, 1);
  cr_assert_eq(t_get(s, "visit", b, "note", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "came by");
  /* Same id, other collection: not found. */
  cr_assert_eq(t_get(s, "visit", a, "note", &tf), GS_ENOTFOUND);

  /* Version vector. */
  feeds_seen fs = {0};
  cr_assert_eq(store_feeds(s, feeds_cb, &fs), GS_OK);
  cr_assert_eq(fs.n, 1);
  cr_assert_eq(fs.f[0].seq, 1);
  cr_assert_arr_eq(fs.f[0].feed, f.feed, CRDT_FEED_LEN);
  cr_assert_arr_eq(fs.f[0].origin, f.pk, CRDT_KEY_LEN);
  cr_assert_arr_eq(fs.f[0].head, f.head, CRDT_HASH_LEN);
  cr_assert_str_eq(fs.f[0].scope, scope);
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(memcmp(&sf, &fs.f[0], offsetof(store_feed, scope)), 0);
  cr_assert_str_eq(sf.scope, scope);

  /* History of both records names the change. */
  t_hist h;
  cr_assert_eq(t_history(s, "issue", a, &h), GS_OK);
  cr_assert_eq(h.n, 1, "one entry per change, not per op");
  cr_assert_eq(h.seq[0], 1);
  cr_assert_eq(h.hlc[0], f.hlc);
  cr_assert_arr_eq(h.origin[0], f.pk, CRDT_KEY_LEN);
  cr_assert_eq(t_history(s, "visit", b, &h), GS_OK);
  cr_assert_eq(h.n, 1);

  /* The raw bytes are kept as received. */
  raw_seen rs = {0};
  cr_assert_eq(store_feed_read(s, f.feed, 1, 10, raw_cb, &rs), GS_OK);
  cr_assert_eq(rs.n, 1);
  cr_assert_eq(rs.seq[0], 1);
  cr_assert_eq(rs.len[0], n);
  cr_assert_arr_eq(rs.bytes[0], raw, n);
  raw_seen_free(&rs);

  /* The node's clock observed the change (receive rule). */
  crdt_hlc hlc;
  cr_assert_eq(store_hlc(s, &hlc), GS_OK);
  cr_assert_geq(hlc, f.hlc);

  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.records, 2);
  cr_assert_eq(st.changes, 1);
  cr_assert_eq(st.feeds, 1);
  cr_assert_eq(st.forks, 0);
  free(raw);
}

Test(store_apply, run_of_changes_updates_head_and_history)
{
  t_feed f, g;
  uint8_t a[CRDT_ID_LEN];
  static t_field tf;
  changes cs = {0};
  t_feed_init(&f, scope);
  t_feed_init(&g, "gongrencun/qinghejv/g08");
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");
  next_title(&cs, &f, a, "three");
  uint8_t head3[CRDT_HASH_LEN];
  memcpy(head3, f.head, sizeof head3);
  uint8_t b[CRDT_ID_LEN];
  t_id(b, 2, 1);
  next_title(&cs, &g, b, "other feed");

  store_result res;
  cr_assert_eq(apply(&cs, 0, 4, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 4);
  cr_assert_eq(res.ops, 4);
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "three");
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 3);
  cr_assert_arr_eq(sf.head, head3, CRDT_HASH_LEN);
  cr_assert_eq(store_feed_get(s, g.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 1);
  feeds_seen fs = {0};
  cr_assert_eq(store_feeds(s, feeds_cb, &fs), GS_OK);
  cr_assert_eq(fs.n, 2);
  cr_assert_lt(memcmp(fs.f[0].feed, fs.f[1].feed, CRDT_FEED_LEN), 0,
               "feeds in id order");

  t_hist h;
  cr_assert_eq(t_history(s, "issue", a, &h), GS_OK);
  cr_assert_eq(h.n, 3);
  for (size_t i = 0; i < 3; i++)
    cr_assert_eq(h.seq[i], i + 1, "oldest first");
  cr_assert_lt(h.hlc[0], h.hlc[1]);

  /* store_feed_read returns exactly the asked range. */
  raw_seen rs = {0};
  cr_assert_eq(store_feed_read(s, f.feed, 2, 3, raw_cb, &rs), GS_OK);
  cr_assert_eq(rs.n, 2);
  cr_assert_eq(rs.seq[0], 2);
  cr_assert_eq(rs.seq[1], 3);
  cr_assert_eq(rs.len[1], cs.len[2]);
  cr_assert_arr_eq(rs.bytes[1], cs.raw[2], cs.len[2]);
  raw_seen_free(&rs);
  changes_free(&cs);
}

Test(store_apply, duplicate_apply_is_idempotent)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");

  store_result res;
  cr_assert_eq(apply(&cs, 0, 1, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 1);
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  size_t n1, n2;
  digest(d1, &n1);
  store_stats st1, st2;
  cr_assert_eq(store_stats_get(s, &st1), GS_OK);

  /* The same change again, alone and twice in one batch. */
  cr_assert_eq(apply(&cs, 0, 1, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 0);
  cr_assert_eq(res.duplicates, 1);
  cr_assert_eq(res.ops, 0);
  cr_assert_eq(res.max_hlc, 0);
  const uint8_t *twice[2] = {cs.raw[0], cs.raw[0]};
  size_t lens[2] = {cs.len[0], cs.len[0]};
  cr_assert_eq(store_apply(s, twice, lens, 2, &res, NULL), GS_OK);
  cr_assert_eq(res.duplicates, 2);
  cr_assert_eq(res.applied, 0);

  digest(d2, &n2);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN, "digest unchanged by duplicates");
  cr_assert_eq(n1, n2);
  cr_assert_eq(store_stats_get(s, &st2), GS_OK);
  cr_assert_eq(st2.changes, st1.changes);
  cr_assert_eq(st2.records, st1.records);
  t_hist h;
  cr_assert_eq(t_history(s, "issue", a, &h), GS_OK);
  cr_assert_eq(h.n, 1, "no second history entry");

  /* A batch holding a duplicate then a new change: both handled. */
  cr_assert_eq(apply(&cs, 0, 2, &res, NULL), GS_OK);
  cr_assert_eq(res.duplicates, 1);
  cr_assert_eq(res.applied, 1);
  cr_assert_eq(t_history(s, "issue", a, &h), GS_OK);
  cr_assert_eq(h.n, 2);
  digest(d2, &n2);
  cr_assert_neq(memcmp(d1, d2, CRDT_HASH_LEN), 0, "new change changes digest");
  changes_free(&cs);
}

Test(store_apply, gap_is_refused_and_nothing_stored)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  uint8_t empty[CRDT_HASH_LEN], d[CRDT_HASH_LEN];
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  digest(empty, NULL);
  next_title(&cs, &f, a, "one");   /* 0: seq 1 */
  next_title(&cs, &f, a, "two");   /* 1: seq 2 */
  next_title(&cs, &f, a, "three"); /* 2: seq 3 */
  next_title(&cs, &f, a, "four");  /* 3: seq 4 */

  /* Seq 2 with nothing held. */
  size_t bad = 99;
  store_result res;
  cr_assert_eq(apply(&cs, 1, 1, &res, &bad), GS_EGAP);
  cr_assert_eq(bad, 0);
  assert_empty(&f, a);

  /* Two good changes, then seq 4 after seq 2: the whole batch goes. */
  const uint8_t *batch[3] = {cs.raw[0], cs.raw[1], cs.raw[3]};
  size_t lens[3] = {cs.len[0], cs.len[1], cs.len[3]};
  bad = 99;
  cr_assert_eq(store_apply(s, batch, lens, 3, &res, &bad), GS_EGAP);
  cr_assert_eq(bad, 2, "bad_index names the offender");
  assert_empty(&f, a);
  size_t nrec = 5;
  digest(d, &nrec);
  cr_assert_arr_eq(d, empty, CRDT_HASH_LEN);
  cr_assert_eq(nrec, 0);

  /* Out of order within a batch: seq 2 before seq 1. */
  const uint8_t *swapped[2] = {cs.raw[1], cs.raw[0]};
  size_t slens[2] = {cs.len[1], cs.len[0]};
  cr_assert_eq(store_apply(s, swapped, slens, 2, &res, &bad), GS_EGAP);
  cr_assert_eq(bad, 0);
  assert_empty(&f, a);

  /* After all that, the feed in order is accepted. */
  cr_assert_eq(apply(&cs, 0, 4, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 4);
  changes_free(&cs);
}

Test(store_apply, gap_in_one_feed_discards_other_feeds_of_batch)
{
  t_feed f, g;
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  t_feed_init(&f, scope);
  t_feed_init(&g, "gongrencun/qinghejv/g09");
  t_id(a, 1, 1);
  t_id(b, 2, 1);
  next_title(&cs, &g, b, "g1"); /* 0 */
  next_title(&cs, &f, a, "f1"); /* 1 */
  next_title(&cs, &f, a, "f2"); /* 2 */
  next_title(&cs, &g, b, "g2"); /* 3 */
  next_title(&cs, &g, b, "g3"); /* 4 */
  /* g1, f1, g3: g3 does not follow g1. */
  const uint8_t *batch[3] = {cs.raw[0], cs.raw[1], cs.raw[4]};
  size_t lens[3] = {cs.len[0], cs.len[1], cs.len[4]};
  cr_assert_eq(store_apply(s, batch, lens, 3, &res, &bad), GS_EGAP);
  cr_assert_eq(bad, 2);
  assert_empty(&f, a);
  store_feed sf;
  cr_assert_eq(store_feed_get(s, g.feed, &sf), GS_ENOTFOUND);
  changes_free(&cs);
}

Test(store_apply, broken_chain_is_echain)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");

  /* A properly signed seq 2 whose prev is not seq 1's hash. */
  uint8_t wrong[CRDT_HASH_LEN];
  memcpy(wrong, f.head, sizeof wrong); /* seq 2's own hash: not seq 1's */
  crdt_op op = t_set_str("issue", a, "title", "forged", 6);
  uint8_t *raw;
  size_t n;
  cr_assert_eq(t_build(&f, 2, wrong, f.hlc + 5, &op, 1, &raw, &n), GS_OK);
  changes_add(&cs, raw, n); /* 2 */

  const uint8_t *batch[2] = {cs.raw[0], cs.raw[2]};
  size_t lens[2] = {cs.len[0], cs.len[2]};
  cr_assert_eq(store_apply(s, batch, lens, 2, &res, &bad), GS_ECHAIN);
  cr_assert_eq(bad, 1);
  assert_empty(&f, a);

  /* Same after seq 1 was committed on its own. */
  cr_assert_eq(apply(&cs, 0, 1, &res, NULL), GS_OK);
  bad = 99;
  cr_assert_eq(apply(&cs, 2, 1, &res, &bad), GS_ECHAIN);
  cr_assert_eq(bad, 0);
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 1);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "one");
  /* The real seq 2 still goes in. */
  cr_assert_eq(apply(&cs, 1, 1, &res, NULL), GS_OK);
  cr_assert_eq(res.applied, 1);
  changes_free(&cs);
}

Test(store_apply, bad_signature_on_last_change_of_run_is_esig)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");
  next_title(&cs, &f, a, "three");
  /* The signature is the last 64 bytes of the encoding. */
  cs.raw[2][cs.len[2] - 1] ^= 0x01;

  cr_assert_eq(apply(&cs, 0, 3, &res, &bad), GS_ESIG);
  cr_assert_eq(bad, 2);
  assert_empty(&f, a);

  /* Seq 1 and 2 alone are fine; then seq 3 alone with the bad
   * signature. */
  cr_assert_eq(apply(&cs, 0, 2, &res, NULL), GS_OK);
  bad = 99;
  cr_assert_eq(apply(&cs, 2, 1, &res, &bad), GS_ESIG);
  cr_assert_eq(bad, 0);
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 2);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "two");
  changes_free(&cs);
}

/* Find needle in raw bytes (for tampering with an encoded change). */
static uint8_t *find_bytes(uint8_t *raw, size_t n, const char *needle)
{
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(raw + i, needle, k) == 0)
      return raw + i;
  return NULL;
}

Test(store_apply, tampered_or_foreign_signed_change_is_esig)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");

  /* Content altered after signing (still a valid encoding). */
  uint8_t *p = find_bytes(cs.raw[1], cs.len[1], "two");
  cr_assert_not_null(p);
  p[1] = 'W';
  cr_assert_eq(apply(&cs, 0, 2, &res, &bad), GS_ESIG);
  cr_assert_eq(bad, 1);
  assert_empty(&f, a);

  /* A run claiming f's origin but signed with another key: every change
   * is verified, so the first one already fails. */
  t_feed forger = f;
  uint8_t otherpk[CRDT_KEY_LEN];
  crdt_keypair(otherpk, forger.sk);
  forger.seq = 0;
  forger.hlc = CRDT_HLC_MAKE(T_NOW_MS, 0);
  changes fc = {0};
  next_title(&fc, &forger, a, "forged one");
  next_title(&fc, &forger, a, "forged two");
  bad = 99;
  cr_assert_eq(apply(&fc, 0, 2, &res, &bad), GS_ESIG);
  cr_assert_eq(bad, 0);
  assert_empty(&f, a);

  /* A corrupted signature in the middle of a run is caught too: either
   * by its own verify (every change is verified: index 1). */
  changes mc = {0};
  t_feed g;
  t_feed_init(&g, scope);
  next_title(&mc, &g, a, "m1");
  next_title(&mc, &g, a, "m2");
  next_title(&mc, &g, a, "m3");
  mc.raw[1][mc.len[1] - 3] ^= 0x40;
  bad = 99;
  gs_err err = apply(&mc, 0, 3, &res, &bad);
  cr_assert_eq(err, GS_ESIG, "%s", gs_errname(err));
  cr_assert_eq(bad, 1, "bad_index %zu", bad);
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.changes, 0);
  changes_free(&mc);
  changes_free(&fc);
  changes_free(&cs);
}

Test(store_apply, fork_is_refused_with_evidence)
{
  t_feed f, g;
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  static t_field tf;
  t_feed_init(&f, scope);
  t_feed_init(&g, "gongrencun/qinghejv/g10");
  t_id(a, 1, 1);
  t_id(b, 2, 1);
  next_title(&cs, &f, a, "one"); /* 0 */
  uint8_t head1[CRDT_HASH_LEN];
  memcpy(head1, f.head, sizeof head1);
  next_title(&cs, &f, a, "two"); /* 1 */
  uint8_t head2[CRDT_HASH_LEN];
  memcpy(head2, f.head, sizeof head2);
  cr_assert_eq(apply(&cs, 0, 2, &res, NULL), GS_OK);
  uint8_t d0[CRDT_HASH_LEN], d1[CRDT_HASH_LEN];
  digest(d0, NULL);

  /* A validly signed, different change at held seq 2 (a node restored
   * from an old backup writing again). */
  crdt_op op = t_set_str("issue", a, "title", "restored", 8);
  uint8_t *fork2;
  size_t fork2_len;
  cr_assert_eq(t_build(&f, 2, head1, f.hlc + 100, &op, 1, &fork2, &fork2_len),
               GS_OK);
  changes_add(&cs, fork2, fork2_len); /* 2 */
  cr_assert_eq(apply(&cs, 2, 1, &res, &bad), GS_EFORK);
  cr_assert_eq(bad, 0);

  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.forks, 1, "fork evidence recorded");
  cr_assert_eq(st.changes, 2);
  /* The held change is unchanged. */
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 2);
  cr_assert_arr_eq(sf.head, head2, CRDT_HASH_LEN);
  raw_seen rs = {0};
  cr_assert_eq(store_feed_read(s, f.feed, 2, 2, raw_cb, &rs), GS_OK);
  cr_assert_eq(rs.n, 1);
  cr_assert_eq(rs.len[0], cs.len[1]);
  cr_assert_arr_eq(rs.bytes[0], cs.raw[1], cs.len[1]);
  raw_seen_free(&rs);
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "two");
  digest(d1, NULL);
  cr_assert_arr_eq(d0, d1, CRDT_HASH_LEN);
  t_hist h;
  cr_assert_eq(t_history(s, "issue", a, &h), GS_OK);
  cr_assert_eq(h.n, 2);

  /* In a batch after a good change of another feed: bad_index names the
   * fork and the good change is not stored either. A fork at seq 1. */
  next_title(&cs, &g, b, "g1"); /* 3 */
  crdt_op op1 = t_set_str("issue", a, "title", "other one", 9);
  uint8_t *fork1;
  size_t fork1_len;
  cr_assert_eq(t_build(&f, 1, NULL, f.hlc + 200, &op1, 1, &fork1, &fork1_len),
               GS_OK);
  changes_add(&cs, fork1, fork1_len); /* 4 */
  bad = 99;
  cr_assert_eq(apply(&cs, 3, 2, &res, &bad), GS_EFORK);
  cr_assert_eq(bad, 1);
  cr_assert_eq(store_feed_get(s, g.feed, &sf), GS_ENOTFOUND);
  cr_assert_eq(t_get(s, "issue", b, "title", &tf), GS_ENOTFOUND);
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.forks, 2);
  cr_assert_eq(st.changes, 2);

  /* A "fork" that its origin never signed is refused but is not
   * evidence. */
  crdt_op op3 = t_set_str("issue", a, "title", "unsigned", 8);
  uint8_t *fake;
  size_t fake_len;
  cr_assert_eq(t_build(&f, 2, head1, f.hlc + 300, &op3, 1, &fake, &fake_len),
               GS_OK);
  fake[fake_len - 1] ^= 0x01;
  changes_add(&cs, fake, fake_len); /* 5 */
  cr_assert_eq(apply(&cs, 5, 1, &res, &bad), GS_EFORK);
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.forks, 2, "unsigned fork is not evidence");

  /* The fork is refused again on a second try; the real change is still
   * a duplicate. */
  cr_assert_eq(apply(&cs, 2, 1, &res, &bad), GS_EFORK);
  cr_assert_eq(apply(&cs, 1, 1, &res, &bad), GS_OK);
  cr_assert_eq(res.duplicates, 1);
  changes_free(&cs);
}

Test(store_apply, undecodable_change_is_refused)
{
  t_feed f;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  store_result res;
  size_t bad = 99;
  t_feed_init(&f, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");
  /* Truncated second change. */
  cs.len[1] -= 10;
  cr_assert_neq(apply(&cs, 0, 2, &res, &bad), GS_OK);
  cr_assert_eq(bad, 1);
  assert_empty(&f, a);
  /* Garbage. */
  uint8_t junk[3] = {0xc1, 0x00, 0xff};
  const uint8_t *jp[2] = {cs.raw[0], junk};
  size_t jl[2] = {cs.len[0], sizeof junk};
  bad = 99;
  cr_assert_neq(store_apply(s, jp, jl, 2, &res, &bad), GS_OK);
  cr_assert_eq(bad, 1);
  assert_empty(&f, a);
  /* An empty batch is fine and does nothing. */
  cr_assert_eq(store_apply(s, NULL, NULL, 0, &res, NULL), GS_OK);
  cr_assert_eq(res.applied + res.duplicates, 0);
  changes_free(&cs);
}

static int stop_after_one(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  (void)seq;
  (void)b;
  (void)n;
  (*(size_t *)ctx)++;
  return 1;
}

Test(store_apply, feed_read_ranges)
{
  t_feed f, other;
  uint8_t a[CRDT_ID_LEN];
  changes cs = {0};
  t_feed_init(&f, scope);
  t_feed_init(&other, scope);
  t_id(a, 1, 1);
  next_title(&cs, &f, a, "one");
  next_title(&cs, &f, a, "two");
  next_title(&cs, &f, a, "three");
  cr_assert_eq(apply(&cs, 0, 3, NULL, NULL), GS_OK);

  /* [0, big]: seq 0 never exists, so this is the whole feed. */
  raw_seen rs = {0};
  cr_assert_eq(store_feed_read(s, f.feed, 0, UINT64_MAX, raw_cb, &rs), GS_OK);
  cr_assert_eq(rs.n, 3);
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(rs.seq[i], i + 1);
    cr_assert_eq(rs.len[i], cs.len[i]);
    cr_assert_arr_eq(rs.bytes[i], cs.raw[i], cs.len[i]);
  }
  raw_seen_free(&rs);

  /* Empty ranges and a feed not held: nothing, no error. */
  memset(&rs, 0, sizeof rs);
  cr_assert_eq(store_feed_read(s, f.feed, 3, 2, raw_cb, &rs), GS_OK);
  cr_assert_eq(store_feed_read(s, f.feed, 4, 100, raw_cb, &rs), GS_OK);
  cr_assert_eq(store_feed_read(s, other.feed, 1, 100, raw_cb, &rs), GS_OK);
  cr_assert_eq(rs.n, 0);

  /* The callback stops the walk. */
  size_t calls = 0;
  cr_assert_eq(store_feed_read(s, f.feed, 1, 3, stop_after_one, &calls), GS_OK);
  cr_assert_eq(calls, 1);
  changes_free(&cs);
}

/* A batch big enough that its signatures are verified on two threads
 * (storage/store.c, sigs_verify: half each): a bad signature in either
 * half is found, at its index, and nothing is stored; isolating, only its
 * feed stops there. */
#define BIG_PER_FEED 120

Test(store_apply, a_bad_signature_in_either_half_of_a_big_batch)
{
  enum { N = 2 * BIG_PER_FEED };
  uint8_t *raw[N];
  size_t len[N];
  t_feed f, g;
  uint8_t a[CRDT_ID_LEN];
  t_feed_init(&f, scope);
  t_feed_init(&g, "gongrencun/qinghejv/g08");
  t_id(a, 1, 1);
  for (size_t i = 0; i < N; i++) {
    char title[32];
    snprintf(title, sizeof title, "第%zu次", i);
    crdt_op op = t_set_str("issue", a, "title", title, strlen(title));
    cr_assert_eq(t_next(i < BIG_PER_FEED ? &f : &g, &op, 1, &raw[i], &len[i]),
                 GS_OK);
  }
  const size_t where[2] = {50, BIG_PER_FEED + 80}; /* one in each half */
  for (int w = 0; w < 2; w++) {
    size_t k = where[w], bad = 99;
    store_result res;
    raw[k][len[k] - 2] ^= 0x08;
    gs_err err = store_apply(s, (const uint8_t *const *)raw, len, N, &res,
                             &bad);
    cr_assert_eq(err, GS_ESIG, "%s", gs_errname(err));
    cr_assert_eq(bad, k, "bad_index %zu, not %zu", bad, k);
    assert_empty(&f, a);
    raw[k][len[k] - 2] ^= 0x08;
  }
  /* isolating: the feed of the bad change stops before it, the other is
   * applied whole */
  size_t k = where[1];
  raw[k][len[k] - 2] ^= 0x08;
  uint8_t out[N];
  store_result res;
  cr_assert_eq(store_apply_ex(s, (const uint8_t *const *)raw, len, N, NULL,
                              out, &res, NULL),
               GS_OK);
  for (size_t i = 0; i < N; i++)
    cr_assert_eq(out[i], i < k ? STORE_OUT_APPLIED : STORE_OUT_BAD,
                 "change %zu: %d", i, out[i]);
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, BIG_PER_FEED);
  cr_assert_eq(store_feed_get(s, g.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, k - BIG_PER_FEED);
  for (size_t i = 0; i < N; i++)
    free(raw[i]);
}
