/* store: a local change signed aside (issue 20; storage/store.c "a local
 * change signed aside"). A big local change is signed, hashed and packed
 * on the cipher worker while its records are written: the changes a
 * session stores are the bytes signed on one thread (the same key and
 * stamps give the same bytes, as Ed25519 is deterministic), kept in the
 * same frames, each packed once, whoever signs them, their
 * chain holds, another store accepts them (their signatures verify), and
 * the state digest is the same; a small change is signed on the store's
 * thread; with one CPU no change is signed aside. */
#include <criterion/criterion.h>

#include <zstd.h>

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

TestSuite(store_sign, .init = setup, .fini = teardown, .timeout = 120);

static const char scope[] = "gongrencun/qinghejv/g07";
static const uint8_t key_a[CRDT_SEAL_KEY_LEN] = {9, 8, 7, 6, 5, 4, 3, 2};
#define NCH 24  /* changes of a session */
#define PER 100 /* records of a big change: about 8 KiB, signed aside */

/* Nothing is signed aside with one CPU: the worker does not watch. */
#define SKIP_ON_ONE_CPU()                                                      \
  do {                                                                         \
    if (!t_two_cpus())                                                         \
      cr_skip_test("one CPU: the worker does not watch, nothing is signed "    \
                   "aside");                                                   \
  } while (0)

static store *open_new(const char *name)
{
  char d[128];
  store *s;
  snprintf(d, sizeof d, "%s/%s", dir, name);
  cr_assert_eq(mkdir(d, 0700), 0);
  store_opts o = {.key = key_a};
  cr_assert_eq(store_open_ex(d, STORE_CREATE | STORE_NOSYNC, &o, &s), GS_OK);
  return s;
}

/* Change k of a session holds per(k) records (k odd: 3, a small
 * change; every change big when all_big). */
static bool all_big;
static size_t per(int k)
{
  return k % 2 && !all_big ? 3 : PER;
}

/* One session of NCH changes by the origin of seed0 in s, signed how,
 * its feed's changes before it: seq0. Every change of s's feeds into
 * out (when not NULL). */
static void session(store *s, uint8_t seed0, int how, uint64_t seq0,
                    t_raws *out)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {seed0};
  char names[PER][64];
  crdt_op ops[PER];
  store_write *w;
  crdt_keypair_seed(seed, pk, sk);
  store__sign_aside(s, how);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (int k = 0; k < NCH; k++) {
    for (size_t i = 0; i < per(k); i++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 3, (uint64_t)k * PER + i);
      snprintf(names[i], sizeof names[i], "王秀英 %d-%zu 幸福里3号楼2单元",
               k, i);
      ops[i] = t_set_str("resident", id, "name", names[i], strlen(names[i]));
    }
    uint64_t seq = 0;
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, per(k),
                                    T_NOW_MS + (uint64_t)k, &seq, NULL),
                 GS_OK, "change %d", k);
    cr_assert_eq(seq, seq0 + (uint64_t)k + 1);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  if (out)
    cr_assert_eq(t_raws_read(s, NULL, out), GS_OK);
}

static int kept_cb(void *ctx, uint64_t seq, const uint8_t *kept, size_t n,
                   size_t raw_len)
{
  (void)seq, (void)raw_len;
  return t_raws_keep(ctx, 0, kept, n);
}

/* The changes of the session's feed (seed0's) as s keeps them (packed,
 * opened from their seals): how they were packed, and by whom, shows. */
static void kept_read(store *s, uint8_t seed0, t_raws *out)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {seed0};
  uint8_t feed[CRDT_FEED_LEN];
  crdt_keypair_seed(seed, pk, sk);
  crdt_feed_id(pk, scope, sizeof scope - 1, feed);
  cr_assert_eq(store_feed_read_kept(s, feed, 1, NCH, kept_cb, out), GS_OK);
}

static void digest(store *s, uint8_t out[CRDT_HASH_LEN])
{
  size_t n = 0;
  cr_assert_eq(store_digest(s, "", 0, out, &n), GS_OK);
  cr_assert_eq(n, all_big ? NCH * PER : (NCH / 2) * PER + (NCH / 2) * 3);
}

static void same_raws(const t_raws *a, const t_raws *b, const char *what)
{
  cr_assert_eq(a->len, b->len);
  for (size_t i = 0; i < a->len; i++)
    cr_assert(a->n[i] == b->n[i] && memcmp(a->b[i], b->b[i], a->n[i]) == 0,
              "%s: change %zu differs from the one signed inline", what, i);
}

/* Each change verifies, and chains on the one before it. */
static void chained(const t_raws *r)
{
  uint8_t head[CRDT_HASH_LEN];
  for (size_t i = 0; i < r->len; i++) {
    crdt_change *c;
    cr_assert_eq(crdt_change_decode(r->b[i], r->n[i], &c), GS_OK);
    cr_assert(crdt_change_verify(c), "change %zu's signature", i);
    cr_assert_eq(c->seq, i + 1);
    if (i)
      cr_assert_arr_eq(c->prev, head, CRDT_HASH_LEN, "change %zu's prev", i);
    crdt_change_hash(c, head);
    crdt_change_free(c);
  }
}

/* The four ways a session's big changes are signed, and their names. */
enum { HOWS = 4 };
static const int hows[HOWS] = {STORE__SIGN_INLINE, STORE__SIGN_ASIDE,
                               STORE__SIGN_WORKER, STORE__SIGN_WORKER_SIGNS};
static const char *how_names[HOWS] = {"inline", "aside", "worker",
                                      "worker signs"};

Test(store_sign, signed_aside_or_inline_the_same_changes_and_state)
{
  t_raws raws[HOWS] = {{0}}, kept[HOWS] = {{0}};
  uint8_t dg[HOWS][CRDT_HASH_LEN];
  uint64_t counts[HOWS][4], packs[HOWS][2];
  for (int h = 0; h < HOWS; h++) {
    store *s = open_new(how_names[h]);
    session(s, 5, hows[h], 0, &raws[h]);
    cr_assert_eq(raws[h].len, NCH);
    digest(s, dg[h]);
    store__sign_counts(s, counts[h]);
    store__change_packs(s, packs[h]);
    kept_read(s, 5, &kept[h]);
    cr_assert_eq(kept[h].len, NCH);
    cr_log_info("%s: %llu changes signed aside by the worker, %llu by the "
                "store's thread",
                how_names[h], (unsigned long long)counts[h][0],
                (unsigned long long)counts[h][1]);
    store_close(s);
  }
  chained(&raws[0]);
  for (int h = 1; h < HOWS; h++) {
    same_raws(&raws[0], &raws[h], how_names[h]);
    /* packed with their signing or by the store: the same frames */
    same_raws(&kept[0], &kept[h], how_names[h]);
    cr_assert_arr_eq(dg[0], dg[h], CRDT_HASH_LEN, "%s: the digest",
                     how_names[h]);
  }
  for (size_t i = 0; i < NCH; i++)
    cr_assert(kept[0].n[i] + 16 <= raws[0].n[i] &&
                  memcmp(kept[0].b[i], "\x28\xb5\x2f\xfd", 4) == 0,
              "change %zu kept packed (%zu of %zu bytes)", i, kept[0].n[i],
              raws[0].n[i]);
  cr_assert_eq(counts[0][0] + counts[0][1], 0, "inline: none aside");
  /* each change packed once (write_keep takes the frame made for the
   * store); one signed aside is packed with its signing, by the worker,
   * or by the store's thread if it comes for it first (not when the
   * worker is to do it all: STORE__SIGN_WORKER) */
  cr_assert_eq(packs[0][0], NCH, "inline: each packed by the store");
  cr_assert_eq(packs[0][1], 0);
  for (int h = 1; h < HOWS; h++)
    cr_assert_eq(packs[h][0] + packs[h][1], NCH, "%s: each packed once",
                 how_names[h]);
  cr_assert_leq(packs[1][1], counts[1][0]);
  cr_assert_eq(packs[2][1], counts[2][0],
               "worker: the changes it signed packed with their signing");
  cr_assert_eq(packs[3][1], 0, "worker signs: the store's thread packs");
#ifdef _WIN32
  for (int h = 1; h < HOWS; h++)
    cr_assert_eq(counts[h][0] + counts[h][1], 0, "one thread on Windows");
#else
  if (t_two_cpus()) {
    /* the big changes, and only they, signed aside (by default not
     * after a stall of the worker: fewer on a busy machine) */
    cr_assert_leq(counts[1][0] + counts[1][1], NCH / 2);
    for (int h = 2; h < HOWS; h++) {
      cr_assert_eq(counts[h][0], NCH / 2,
                   "%s: each big one signed by the worker", how_names[h]);
      cr_assert_eq(counts[h][1], 0);
    }
  } else {
    for (int h = 1; h < HOWS; h++)
      cr_assert_eq(counts[h][0] + counts[h][1], 0, "one CPU: none aside");
  }
#endif

  /* another store takes the changes signed by the worker: each verifies */
  store *r = open_new("receiver");
  store_result res;
  cr_assert_eq(store_apply(r, (const uint8_t *const *)raws[2].b, raws[2].n,
                           raws[2].len, &res, NULL),
               GS_OK);
  cr_assert_eq(res.applied, NCH);
  uint8_t dr[CRDT_HASH_LEN];
  digest(r, dr);
  cr_assert_arr_eq(dr, dg[0], CRDT_HASH_LEN, "the receiver's digest");
  store_close(r);
  for (int h = 0; h < HOWS; h++) {
    t_raws_free(&raws[h]);
    t_raws_free(&kept[h]);
  }
}

/* Sessions one after another in one store, a big batch of another
 * origin's changes applied between them (its records sealed by both
 * threads): every change of the sessions still chains and verifies. */
Test(store_sign, sessions_between_received_batches_chain)
{
  store *other = open_new("other");
  t_raws theirs = {0};
  session(other, 6, STORE__SIGN_INLINE, 0, &theirs);
  store_close(other);

  store *s = open_new("mixed");
  for (uint64_t round = 0; round < 3; round++) {
    session(s, 5, STORE__SIGN_ASIDE, round * NCH, NULL);
    if (round == 0) {
      store_result res;
      cr_assert_eq(store_apply(s, (const uint8_t *const *)theirs.b, theirs.n,
                               theirs.len, &res, NULL),
                   GS_OK);
      cr_assert_eq(res.applied, NCH);
    }
  }
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {5};
  uint8_t feed[CRDT_FEED_LEN];
  crdt_keypair_seed(seed, pk, sk);
  crdt_feed_id(pk, scope, sizeof scope - 1, feed);
  t_raws mine = {0};
  cr_assert_eq(t_raws_read(s, feed, &mine), GS_OK);
  cr_assert_eq(mine.len, 3 * NCH, "one feed, three sessions");
  chained(&mine);
  t_raws_free(&mine);
  t_raws_free(&theirs);
  store_close(s);
}

/* One big change (PER records) by the origin of seed 5 in w. */
static void one_big(store_write *w, int k)
{
  static char names[PER][64];
  crdt_op ops[PER];
  for (size_t i = 0; i < PER; i++) {
    uint8_t id[CRDT_ID_LEN];
    t_id(id, 4, (uint64_t)k * PER + i);
    snprintf(names[i], sizeof names[i], "李桂兰 %d-%zu 幸福里5号楼", k, i);
    ops[i] = t_set_str("resident", id, "name", names[i], strlen(names[i]));
  }
  cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, PER,
                                  T_NOW_MS + (uint64_t)k, NULL, NULL),
               GS_OK, "change %d", k);
  /* kept now (else at the next call): its signing counted */
  cr_assert_eq(store__write_settle(w), GS_OK);
}

/* The worker off its core while it signs (store__sign_delay: it sleeps
 * 2 ms) is a stall: each one in a row doubles the back-off (4, 8, 16
 * big changes left to sign on the store's thread); in the back-off no
 * change is signed aside, and once it is over they are again. */
Test(store_sign, a_stalled_worker_backs_off_and_comes_back)
{
#ifdef _WIN32
  cr_skip_test("one thread on Windows: nothing is signed aside");
#else
  SKIP_ON_ONE_CPU();
  store *s = open_new("stall");
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {5};
  uint64_t c[4];
  store_write *w;
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  store__sign_aside(s, STORE__SIGN_WORKER);
  store__sign_delay(s, 2000);
  int k = 0;
  for (uint64_t want = 4; want <= 16; want *= 2) {
    one_big(w, k++);
    store__sign_counts(s, c);
    cr_assert_eq(c[0], (uint64_t)k, "signed by the worker");
    cr_assert_eq(c[3], want, "the back-off after %d stalls in a row", k);
  }
  store__sign_delay(s, 0);
  store__sign_aside(s, STORE__SIGN_ASIDE);
  for (int i = 0; i < 16; i++) {
    one_big(w, k++);
    store__sign_counts(s, c);
    cr_assert_eq(c[0] + c[1], 3, "change %d signed aside in the back-off",
                 k);
    cr_assert_eq(c[3], (uint64_t)(15 - i));
  }
  one_big(w, k++);
  store__sign_counts(s, c);
  cr_assert_eq(c[0] + c[1], 4, "signed aside again after the back-off");
  cr_assert_eq(store_write_commit(w), GS_OK);
  t_raws r = {0};
  cr_assert_eq(t_raws_read(s, NULL, &r), GS_OK);
  cr_assert_eq(r.len, (size_t)k);
  chained(&r);
  t_raws_free(&r);
  store_close(s);
#endif
}

/* One change of nres residents (t_resident_ops, pad digits of memo) by
 * the origin of seed 7, as the whole of a session in a new store name,
 * signed how; its bytes as kept into kept (malloc'd), as read into raw. */
static void fit_session(const char *name, int how, size_t nres, size_t pad,
                        uint8_t **kept, size_t *keptn, uint8_t **raw,
                        size_t *rawn, uint64_t packs[2])
{
  static t_residents rs;
  static crdt_op ops[T_RESIDENTS_MAX * 8 + 1];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {7};
  store_write *w;
  size_t nops = t_resident_ops(&rs, nres, pad, ops);
  cr_assert_gt(nops, 0);
  store *s = open_new(name);
  crdt_keypair_seed(seed, pk, sk);
  store__sign_aside(s, how);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, nops,
                                  T_NOW_MS, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  store__change_packs(s, packs);
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(pk, scope, sizeof scope - 1, feed);
  t_raws k = {0}, r = {0};
  cr_assert_eq(store_feed_read_kept(s, feed, 1, 1, kept_cb, &k), GS_OK);
  cr_assert_eq(t_raws_read(s, feed, &r), GS_OK);
  cr_assert(k.len == 1 && r.len == 1);
  *kept = k.b[0], *keptn = k.n[0], *raw = r.b[0], *rawn = r.n[0];
  free(k.b), free(k.n), free(r.b), free(r.n);
  store_close(s);
}

/* A change whose level-1 frame lands just over the in-page limit is
 * packed again to fit (storage/store.c, pack_to_fit); signed aside, it is
 * so packed with its signing, the same frame the store's thread makes,
 * and the same when the store's thread packs what the worker signed. */
Test(store_sign, a_change_packed_again_to_fit_with_its_signing)
{
#ifdef _WIN32
  cr_skip_test("one thread on Windows: nothing is signed aside");
#else
  SKIP_ON_ONE_CPU();
  uint8_t *kept = NULL, *raw = NULL;
  size_t keptn = 0, rawn = 0, nres, l1 = 0;
  uint64_t packs[2];
  char name[32];
  size_t pad = 0;
  for (nres = 20; nres <= T_RESIDENTS_MAX && !kept; nres++)
    for (pad = 0; pad < 200; pad += 4) {
      snprintf(name, sizeof name, "inline%zu-%zu", nres, pad);
      fit_session(name, STORE__SIGN_INLINE, nres, pad, &kept, &keptn, &raw,
                  &rawn, packs);
      cr_assert_eq(packs[0], 1);
      uint8_t *z = malloc(ZSTD_compressBound(rawn));
      l1 = ZSTD_compress(z, ZSTD_compressBound(rawn), raw, rawn, 1);
      cr_assert(!ZSTD_isError(l1));
      free(z);
      if (keptn < l1)
        break; /* packed again, tighter than level 1 */
      free(kept), free(raw);
      kept = raw = NULL;
    }
  nres--;
  cr_assert(kept, "a change the store packs again to fit");
  cr_assert_geq(rawn, 4096, "one big enough to be signed aside");
  cr_log_info("%zu residents, pad %zu: %zu bytes, level 1 %zu, kept %zu",
              nres, pad, rawn, l1, keptn);
  uint8_t *kept2, *raw2;
  size_t kept2n, raw2n;
  fit_session("worker", STORE__SIGN_WORKER, nres, pad, &kept2, &kept2n, &raw2,
              &raw2n, packs);
  cr_assert_eq(packs[0], 0, "none packed by the store's thread");
  cr_assert_eq(packs[1], 1, "packed with its signing");
  cr_assert(raw2n == rawn && memcmp(raw2, raw, rawn) == 0, "the same change");
  cr_assert(kept2n == keptn && memcmp(kept2, kept, keptn) == 0,
            "the same frame, packed again to fit (%zu, %zu bytes)", kept2n,
            keptn);
  free(kept2), free(raw2);
  /* signed by the worker, packed by the store's thread: the same too */
  fit_session("signs", STORE__SIGN_WORKER_SIGNS, nres, pad, &kept2, &kept2n,
              &raw2, &raw2n, packs);
  cr_assert_eq(packs[0], 1, "packed by the store's thread");
  cr_assert_eq(packs[1], 0);
  cr_assert(raw2n == rawn && memcmp(raw2, raw, rawn) == 0, "the same change");
  cr_assert(kept2n == keptn && memcmp(kept2, kept, keptn) == 0,
            "the same frame (%zu, %zu bytes)", kept2n, keptn);
  free(kept), free(raw), free(kept2), free(raw2);
#endif
}

/* The last change of a session is kept at the session's next call (its
 * signing goes on meanwhile: write_settle). Met by MDB_MAP_FULL there,
 * the session is redone in a grown map, and holds the same changes and
 * state as one that never met it; a session aborted with its last
 * change pending leaves nothing of it. */
Test(store_sign, a_pending_change_met_by_a_full_map_or_an_abort)
{
  t_raws want = {0}, got = {0};
  uint8_t dw[CRDT_HASH_LEN], dg_[CRDT_HASH_LEN];
  store *s = open_new("plain");
  session(s, 5, STORE__SIGN_INLINE, 0, &want);
  digest(s, dw);
  store_close(s);

  s = open_new("full");
  store__settle_full(s, 3);
  session(s, 5, STORE__SIGN_WORKER, 0, &got);
  digest(s, dg_);
  same_raws(&want, &got, "after a full map");
  cr_assert_arr_eq(dw, dg_, CRDT_HASH_LEN, "the digest after a full map");
  chained(&got);
  uint64_t c[4];
  store__sign_counts(s, c);
#ifndef _WIN32
  if (t_two_cpus()) {
    cr_assert_eq(c[0], NCH / 2, "each big one signed aside once");
    cr_assert_eq(store__settle_full(s, 0), 0, "the three full maps met");
  }
#endif

  /* a session more, aborted with its last (big) change pending */
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {5};
  crdt_keypair_seed(seed, pk, sk);
  store_write *w;
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  one_big(w, 100);
  static char names[PER][64];
  crdt_op ops[PER];
  for (size_t i = 0; i < PER; i++) {
    uint8_t id[CRDT_ID_LEN];
    t_id(id, 6, i);
    snprintf(names[i], sizeof names[i], "赵凤英 %zu", i);
    ops[i] = t_set_str("resident", id, "name", names[i], strlen(names[i]));
  }
  cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, PER,
                                  T_NOW_MS + 200, NULL, NULL),
               GS_OK);
  store_write_abort(w);
  uint8_t feed[CRDT_FEED_LEN], da[CRDT_HASH_LEN];
  store_feed sf;
  crdt_feed_id(pk, scope, sizeof scope - 1, feed);
  cr_assert_eq(store_feed_get(s, feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, NCH, "nothing of the aborted session kept");
  digest(s, da);
  cr_assert_arr_eq(da, dw, CRDT_HASH_LEN, "the state as before it");
  store_close(s);
  t_raws_free(&want);
  t_raws_free(&got);
}

/* Big changes one after another: each one's records are written while
 * the one before it is still being signed (it was built with a stand-in
 * prev, set once the one before is kept), and nothing of the changes
 * differs from those signed inline; a full map met as the one before is
 * kept, or by the records after it (the one before then only listed for
 * the replay), redoes the session and loses nothing. */
Test(store_sign, big_changes_in_a_row_written_while_the_one_before_is_signed)
{
  all_big = true;
  t_raws raws[HOWS + 1] = {{0}};
  uint8_t dg[HOWS + 1][CRDT_HASH_LEN];
  uint64_t after[HOWS + 1][2];
  for (int h = 0; h <= HOWS; h++) {
    store *s = open_new(h < HOWS ? how_names[h] : "full maps");
    if (h == HOWS) { /* the worker's, with full maps of both kinds */
      store__settle_full(s, 2);
      store__records_full(s, 3);
    }
    session(s, 5, hows[h < HOWS ? h : 2], 0, &raws[h]);
    cr_assert_eq(raws[h].len, NCH);
    digest(s, dg[h]);
    store__sign_after(s, after[h]);
    if (h == HOWS) {
#ifndef _WIN32
      if (t_two_cpus()) {
        cr_assert_eq(store__settle_full(s, 0), 0, "both full keeps met");
        cr_assert_eq(store__records_full(s, 0), 0, "the three full "
                                                   "records met");
        cr_assert_eq(after[h][1], 3, "the change before listed, not kept, "
                                     "each time");
      }
#endif
    }
    store_close(s);
  }
  chained(&raws[0]);
  for (int h = 1; h <= HOWS; h++) {
    same_raws(&raws[0], &raws[h], h < HOWS ? how_names[h] : "full maps");
    cr_assert_arr_eq(dg[0], dg[h], CRDT_HASH_LEN, "the digest (%d)", h);
  }
  cr_assert_eq(after[0][0], 0, "inline: none");
#ifdef _WIN32
  for (int h = 1; h <= HOWS; h++)
    cr_assert_eq(after[h][0], 0, "one thread on Windows");
#else
  if (t_two_cpus())
    for (int h = 2; h < HOWS; h++)
      cr_assert_eq(after[h][0], NCH - 1, "%s: each change after the first "
                                         "written while the one before "
                                         "was signed",
                   how_names[h]);
#endif
  for (int h = 0; h <= HOWS; h++)
    t_raws_free(&raws[h]);
  all_big = false;
}
