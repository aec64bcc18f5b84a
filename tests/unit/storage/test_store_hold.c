/* store: the receive rules of issue 14: a change stamped too far ahead is
 * held (and the clock moves only with applied changes), a bad feed is
 * isolated (store_apply_ex), every change's signature is verified, and
 * held changes are re-checked (store_held_retry). */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static store *s;
static uint64_t now_ms = T_NOW_MS;

static uint64_t test_now(void *ctx)
{
  (void)ctx;
  return now_ms;
}

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  s = NULL;
  now_ms = T_NOW_MS;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  store_set_clock(s, test_now, NULL);
}

static void teardown(void)
{
  store_close(s);
  s = NULL;
  t_rmtree(dir);
}

TestSuite(store_hold, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";
static const char scope2[] = "gongrencun/qinghejv/g08";

#define HOUR_MS (3600ULL * 1000)

/* Build change seq of f with hlc, chained after prev (NULL for seq 1),
 * setting issue/id.title. */
static void build(t_feed *f, uint64_t seq, const uint8_t *prev, crdt_hlc hlc,
                  const uint8_t id[CRDT_ID_LEN], const char *title,
                  uint8_t **raw, size_t *n)
{
  crdt_op op = t_set_str("issue", id, "title", title, strlen(title));
  cr_assert_eq(t_build(f, seq, prev, hlc, &op, 1, raw, n), GS_OK);
}

static gs_err apply_ex(uint8_t **raw, size_t *len, size_t n,
                       const uint8_t *hold, uint8_t *out, store_result *res)
{
  size_t bad = 0;
  return store_apply_ex(s, (const uint8_t *const *)raw, len, n, hold, out, res,
                        &bad);
}

static int count_held(void *ctx, const store_held *h)
{
  size_t *n = ctx;
  (void)h;
  (*n)++;
  return 0;
}

static size_t nheld(void)
{
  size_t n = 0;
  cr_assert_eq(store_held_list(s, count_held, &n), GS_OK);
  return n;
}

static uint64_t held_seq(const uint8_t feed[CRDT_FEED_LEN])
{
  store_feed sf;
  gs_err err = store_feed_get(s, feed, &sf);
  if (err == GS_ENOTFOUND)
    return 0;
  cr_assert_eq(err, GS_OK);
  return sf.seq;
}

/* A local write of one title: must always succeed. */
static gs_err local_write(const uint8_t sk[CRDT_SK_LEN])
{
  store_write *w;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 9, 9);
  crdt_op op = t_set_str("issue", id, "title", "local", 5);
  gs_err err = store_write_begin(s, sk, &w);
  if (err)
    return err;
  if ((err = store_write_change(w, scope, strlen(scope), &op, 1, now_ms, NULL,
                                NULL)) != GS_OK) {
    store_write_abort(w);
    return err;
  }
  return store_write_commit(w);
}

Test(store_hold, stamp_far_ahead_is_held_and_clock_does_not_move)
{
  t_feed f, me;
  uint8_t id[CRDT_ID_LEN], *raw[3];
  size_t len[3];
  uint8_t out[3];
  store_result res;
  t_feed_init(&f, scope);
  t_feed_init(&me, scope);
  t_id(id, 1, 1);
  /* seq 1 within the bound (23 h ahead), seq 2 at 2^63-1 (the finding),
   * seq 3 an ordinary stamp after it */
  crdt_hlc h1 = CRDT_HLC_MAKE(T_NOW_MS + 23 * HOUR_MS, 0);
  build(&f, 1, NULL, h1, id, "one", &raw[0], &len[0]);
  uint8_t head[CRDT_HASH_LEN];
  cr_assert_eq(t_hash_raw(raw[0], len[0], head), GS_OK);
  build(&f, 2, head, CRDT_HLC_LIMIT - 1, id, "two", &raw[1], &len[1]);
  cr_assert_eq(t_hash_raw(raw[1], len[1], head), GS_OK);
  build(&f, 3, head, h1 + 5, id, "three", &raw[2], &len[2]);

  cr_assert_eq(apply_ex(raw, len, 3, NULL, out, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
  cr_assert_eq(res.held, 2);
  cr_assert_eq(out[0], STORE_OUT_APPLIED);
  cr_assert_eq(out[1], STORE_OUT_HELD);
  cr_assert_eq(out[2], STORE_OUT_HELD, "after a held change: held too");
  cr_assert_eq(held_seq(f.feed), 1, "held changes are not in the vv");
  cr_assert_eq(nheld(), 2);
  crdt_hlc hlc;
  cr_assert_eq(store_hlc(s, &hlc), GS_OK);
  cr_assert_eq(hlc, h1, "the clock moved only with the applied change");
  /* a local write still works, with a stamp after the applied one */
  cr_assert_eq(local_write(me.sk), GS_OK);
  cr_assert_eq(store_hlc(s, &hlc), GS_OK);
  cr_assert_gt(hlc, h1);
  cr_assert_lt(CRDT_HLC_MS(hlc), T_NOW_MS + STORE_AHEAD_MAX_MS);

  /* sent again: duplicates of what is held, nothing more held */
  cr_assert_eq(apply_ex(raw + 1, len + 1, 2, NULL, out, &res), GS_OK);
  cr_assert_eq(res.duplicates, 2);
  cr_assert_eq(nheld(), 2);

  /* a different change at a held seq is a fork, seen as such */
  uint8_t *alt;
  size_t altn;
  cr_assert_eq(t_hash_raw(raw[0], len[0], head), GS_OK);
  build(&f, 2, head, h1 + 1, id, "other two", &alt, &altn);
  cr_assert_eq(apply_ex(&alt, &altn, 1, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  store_quar q;
  cr_assert_eq(store_quar_get(s, f.feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  free(alt);
  for (int i = 0; i < 3; i++)
    free(raw[i]);
}

static int check_ok(void *ctx, const crdt_change *c)
{
  (void)ctx, (void)c;
  return STORE_HOLD_NONE;
}

Test(store_hold, held_changes_apply_when_the_clock_catches_up)
{
  t_feed f;
  uint8_t id[CRDT_ID_LEN], *raw[2];
  size_t len[2];
  store_result res;
  t_feed_init(&f, scope);
  t_id(id, 1, 1);
  crdt_hlc far = CRDT_HLC_MAKE(T_NOW_MS + 30 * HOUR_MS, 0);
  build(&f, 1, NULL, far, id, "one", &raw[0], &len[0]);
  uint8_t head[CRDT_HASH_LEN];
  cr_assert_eq(t_hash_raw(raw[0], len[0], head), GS_OK);
  build(&f, 2, head, far + 1, id, "two", &raw[1], &len[1]);
  cr_assert_eq(apply_ex(raw, len, 2, NULL, NULL, &res), GS_OK);
  cr_assert_eq(res.held, 2);

  /* the clock advances 5 hours: still beyond the bound */
  now_ms += 5 * HOUR_MS;
  cr_assert_eq(store_held_retry(s, check_ok, NULL, &res), GS_OK);
  cr_assert_eq(res.applied, 0);
  cr_assert_eq(nheld(), 2);
  /* 7 hours: within it; both apply in order and the clock moves */
  now_ms += 2 * HOUR_MS;
  cr_assert_eq(store_held_retry(s, check_ok, NULL, &res), GS_OK);
  cr_assert_eq(res.applied, 2);
  cr_assert_eq(nheld(), 0);
  cr_assert_eq(held_seq(f.feed), 2);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "two");
  crdt_hlc hlc;
  cr_assert_eq(store_hlc(s, &hlc), GS_OK);
  cr_assert_eq(hlc, far + 1);
  free(raw[0]);
  free(raw[1]);
}

/* Membership: held by the caller's reason, applied or dropped by the
 * re-check. */
static int check_verdict(void *ctx, const crdt_change *c)
{
  (void)c;
  return *(int *)ctx;
}

Test(store_hold, membership_hold_rechecked)
{
  t_feed f, g;
  uint8_t id[CRDT_ID_LEN], *raw[3];
  size_t len[3];
  uint8_t hold[3] = {STORE_HOLD_MEMBER, 0, 0}, out[3];
  store_result res;
  t_feed_init(&f, scope);
  t_feed_init(&g, scope2);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  cr_assert_eq(t_next(&f, &op, 1, &raw[0], &len[0]), GS_OK);
  cr_assert_eq(t_next(&f, &op, 1, &raw[1], &len[1]), GS_OK);
  cr_assert_eq(t_next(&g, &op, 1, &raw[2], &len[2]), GS_OK);
  cr_assert_eq(apply_ex(raw, len, 3, hold, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_HELD);
  cr_assert_eq(out[1], STORE_OUT_HELD);
  cr_assert_eq(out[2], STORE_OUT_APPLIED, "another feed is not held");
  int verdict = STORE_HOLD_MEMBER;
  cr_assert_eq(store_held_retry(s, check_verdict, &verdict, &res), GS_OK);
  cr_assert_eq(res.applied, 0);
  cr_assert_eq(nheld(), 2);
  verdict = STORE_HOLD_NONE; /* the author's claim arrived */
  cr_assert_eq(store_held_retry(s, check_verdict, &verdict, &res), GS_OK);
  cr_assert_eq(res.applied, 2);
  cr_assert_eq(held_seq(f.feed), 2);

  /* refused for good: dropped with the rest of its feed */
  uint8_t *r2[2];
  size_t l2[2];
  uint8_t h2[2] = {STORE_HOLD_MEMBER, STORE_HOLD_MEMBER};
  cr_assert_eq(t_next(&f, &op, 1, &r2[0], &l2[0]), GS_OK);
  cr_assert_eq(t_next(&f, &op, 1, &r2[1], &l2[1]), GS_OK);
  cr_assert_eq(apply_ex(r2, l2, 2, h2, NULL, &res), GS_OK);
  cr_assert_eq(nheld(), 2);
  verdict = -1;
  cr_assert_eq(store_held_retry(s, check_verdict, &verdict, &res), GS_OK);
  cr_assert_eq(nheld(), 0);
  cr_assert_eq(held_seq(f.feed), 2);
  for (int i = 0; i < 3; i++)
    free(raw[i]);
  free(r2[0]);
  free(r2[1]);
}

Test(store_hold, bad_first_signature_of_a_run_is_refused)
{
  /* property 3: a badly signed first change chained by a valid second
   * must not be stored (the next node verifying it would refuse it) */
  t_feed f, g;
  uint8_t id[CRDT_ID_LEN], *raw[3];
  size_t len[3];
  uint8_t out[3];
  store_result res;
  t_feed_init(&f, scope);
  t_feed_init(&g, scope2);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  cr_assert_eq(t_next(&f, &op, 1, &raw[0], &len[0]), GS_OK);
  raw[0][len[0] - 5] ^= 0x01; /* in its signature */
  /* a valid second change whose prev binds the altered bytes */
  uint8_t head[CRDT_HASH_LEN];
  cr_assert_eq(t_hash_raw(raw[0], len[0], head), GS_OK);
  cr_assert_eq(t_build(&f, 2, head, f.hlc + 1, &op, 1, &raw[1], &len[1]),
               GS_OK);
  cr_assert_eq(t_next(&g, &op, 1, &raw[2], &len[2]), GS_OK);
  size_t bad = 99;
  cr_assert_eq(store_apply(s, (const uint8_t *const *)raw, len, 2, &res, &bad),
               GS_ESIG);
  cr_assert_eq(bad, 0);
  /* isolated: the feed is refused, the other feed applied */
  cr_assert_eq(apply_ex(raw, len, 3, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  cr_assert_eq(out[1], STORE_OUT_BAD);
  cr_assert_eq(out[2], STORE_OUT_APPLIED);
  cr_assert_eq(held_seq(f.feed), 0);
  cr_assert_eq(held_seq(g.feed), 1);
  store_quar q;
  cr_assert_eq(store_quar_get(s, f.feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_SIG);
  cr_assert_eq(q.seq, 1);
  for (int i = 0; i < 3; i++)
    free(raw[i]);
}

Test(store_hold, fork_quarantines_the_feed_only)
{
  t_feed f, g;
  uint8_t id[CRDT_ID_LEN], *a[2], *b[1], *more[3];
  size_t al[2], bl[1], ml[3];
  uint8_t out[3];
  store_result res;
  t_feed_init(&f, scope);
  t_feed_init(&g, scope2);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  crdt_op op2 = t_set_str("issue", id, "title", "y", 1);
  cr_assert_eq(t_next(&f, &op, 1, &a[0], &al[0]), GS_OK);
  t_feed branch = f;
  cr_assert_eq(t_next(&f, &op, 1, &a[1], &al[1]), GS_OK);
  cr_assert_eq(t_next(&branch, &op2, 1, &b[0], &bl[0]), GS_OK);
  cr_assert_eq(apply_ex(a, al, 2, NULL, NULL, &res), GS_OK);
  cr_assert_eq(res.applied, 2);
  /* the other branch at seq 2, with a change of another feed */
  more[0] = b[0], ml[0] = bl[0];
  cr_assert_eq(t_next(&g, &op, 1, &more[1], &ml[1]), GS_OK);
  cr_assert_eq(t_next(&branch, &op2, 1, &more[2], &ml[2]), GS_OK);
  cr_assert_eq(apply_ex(more, ml, 3, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  cr_assert_eq(out[1], STORE_OUT_APPLIED);
  cr_assert_eq(out[2], STORE_OUT_BAD);
  store_quar q;
  cr_assert_eq(store_quar_get(s, f.feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  cr_assert_eq(q.seq, 2);
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.forks, 1, "the evidence is kept");
  cr_assert_eq(st.quarantined, 1);
  /* frozen: an extension of the held branch is not applied either */
  uint8_t *ext;
  size_t extn;
  cr_assert_eq(t_next(&f, &op, 1, &ext, &extn), GS_OK);
  cr_assert_eq(apply_ex(&ext, &extn, 1, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  cr_assert_eq(held_seq(f.feed), 2);
  free(ext);
  free(a[0]);
  free(a[1]);
  free(more[0]);
  free(more[1]);
  free(more[2]);
}

Test(store_hold, gap_and_broken_chain_quarantine_without_freezing)
{
  t_feed f;
  uint8_t id[CRDT_ID_LEN], *raw[3];
  size_t len[3];
  uint8_t out[1];
  store_result res;
  t_feed_init(&f, scope);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(t_next(&f, &op, 1, &raw[i], &len[i]), GS_OK);
  /* seq 2 first: a gap */
  cr_assert_eq(apply_ex(&raw[1], &len[1], 1, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  store_quar q;
  cr_assert_eq(store_quar_get(s, f.feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_GAP);
  /* not frozen: the right order then applies */
  cr_assert_eq(apply_ex(raw, len, 3, NULL, NULL, &res), GS_OK);
  cr_assert_eq(res.applied, 3);
  for (int i = 0; i < 3; i++)
    free(raw[i]);
}

Test(store_hold, poisoned_clock_does_not_stop_local_writes)
{
  /* a store whose HLC was driven to the end of the stamp space (by an
   * earlier build) still writes */
  t_feed me;
  t_feed_init(&me, scope);
  store_close(s);
  s = NULL;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  store_set_clock(s, test_now, NULL);
  /* drive it through the strict path of an earlier build: a store with no
   * clock bound cannot be made here, so write the meta value directly */
  uint8_t b[8];
  uint64_t v = CRDT_HLC_LIMIT - 1;
  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (uint8_t)v;
  cr_assert_eq(store_meta_put(s, "hlc", b, 8), GS_OK);
  cr_assert_eq(local_write(me.sk), GS_OK);
  cr_assert_eq(local_write(me.sk), GS_OK);
}

Test(store_hold, feeds_per_member_are_capped, .timeout = 120)
{
  /* one member opening more feeds than STORE_MEMBER_FEEDS_MAX: the ones
   * beyond are set apart, another member's feed still goes in */
  size_t n = STORE_MEMBER_FEEDS_MAX + 2;
  uint8_t **raw = calloc(n + 1, sizeof *raw);
  size_t *len = calloc(n + 1, sizeof *len);
  uint8_t *out = calloc(n + 1, 1);
  t_feed f, other;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 1, 1);
  t_feed_init(&f, scope);
  t_feed_init(&other, scope);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  for (size_t i = 0; i < n; i++) {
    char sc[64];
    snprintf(sc, sizeof sc, "gongrencun/flood/f%zu", i);
    t_feed g;
    t_feed_same_origin(&g, &f, sc);
    cr_assert_eq(t_next(&g, &op, 1, &raw[i], &len[i]), GS_OK);
  }
  cr_assert_eq(t_next(&other, &op, 1, &raw[n], &len[n]), GS_OK);
  store_result res;
  cr_assert_eq(apply_ex(raw, len, n + 1, NULL, out, &res), GS_OK);
  cr_assert_eq(res.applied, STORE_MEMBER_FEEDS_MAX + 1);
  cr_assert_eq(res.bad, 2);
  cr_assert_eq(out[n - 1], STORE_OUT_BAD);
  cr_assert_eq(out[n], STORE_OUT_APPLIED);
  store_quar q;
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(f.pk, "gongrencun/flood/f4096", 22, feed);
  cr_assert_eq(store_quar_get(s, feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_QUOTA);
  /* counted across batches too */
  uint8_t *one;
  size_t onen;
  t_feed g;
  t_feed_same_origin(&g, &f, "gongrencun/flood/later");
  cr_assert_eq(t_next(&g, &op, 1, &one, &onen), GS_OK);
  cr_assert_eq(apply_ex(&one, &onen, 1, NULL, out, &res), GS_OK);
  cr_assert_eq(out[0], STORE_OUT_BAD);
  free(one);
  for (size_t i = 0; i <= n; i++)
    free(raw[i]);
  free(raw);
  free(len);
  free(out);
}
