/* store: local write sessions: abort stores nothing, commit stores
 * signed, chained changes, seqs and the HLC continue after a reopen. */
#include <criterion/criterion.h>

#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char dir2[64]; /* a second store, for tests that need one */
static store *s;
static uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  crdt_keypair(pk, sk);
}

static void teardown(void)
{
  store_close(s);
  s = NULL;
  t_rmtree(dir);
  t_rmtree(dir2);
  dir2[0] = '\0';
}

TestSuite(store_write, .init = setup, .fini = teardown);

static const char g07[] = "gongrencun/qinghejv/g07";
static const char g08[] = "gongrencun/qinghejv/g08";

static gs_err write_title(store_write *w, const char *scope,
                          const uint8_t id[CRDT_ID_LEN], const char *title,
                          uint64_t phys, uint64_t *seq, crdt_hlc *hlc)
{
  crdt_op op = t_set_str("issue", id, "title", title, strlen(title));
  return store_write_change(w, scope, strlen(scope), &op, 1, phys, seq, hlc);
}

static void feed_of(const char *scope, uint8_t feed[CRDT_FEED_LEN])
{
  crdt_feed_id(pk, scope, strlen(scope), feed);
}

/* Walk a feed: seqs 1..n, decodes, verifies, chains. Returns n or -1. */
typedef struct walk {
  uint64_t n;
  uint8_t head[CRDT_HASH_LEN];
  bool bad;
  crdt_hlc last_hlc;
} walk;

static int walk_cb(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  walk *wk = ctx;
  crdt_change *c;
  if (seq != wk->n + 1 || crdt_change_decode(b, n, &c) != GS_OK) {
    wk->bad = true;
    return 1;
  }
  bool ok = crdt_change_verify(c) && memcmp(c->origin, pk, CRDT_KEY_LEN) == 0 &&
            c->seq == seq && c->hlc > wk->last_hlc &&
            (seq == 1 || memcmp(c->prev, wk->head, CRDT_HASH_LEN) == 0);
  crdt_change_hash(c, wk->head);
  wk->last_hlc = c->hlc;
  crdt_change_free(c);
  if (!ok) {
    wk->bad = true;
    return 1;
  }
  wk->n++;
  return 0;
}

static uint64_t walk_feed(store *st, const char *scope)
{
  uint8_t feed[CRDT_FEED_LEN];
  walk wk = {0};
  feed_of(scope, feed);
  cr_assert_eq(store_feed_read(st, feed, 1, UINT64_MAX, walk_cb, &wk), GS_OK);
  cr_assert_not(wk.bad, "feed %s broken after seq %llu", scope,
                (unsigned long long)wk.n);
  return wk.n;
}

Test(store_write, abort_stores_nothing)
{
  store_write *w = NULL;
  uint8_t id[CRDT_ID_LEN];
  uint64_t seq = 0;
  t_id(id, 1, 1);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_not_null(w);
  cr_assert_eq(write_title(w, g07, id, "draft", T_NOW_MS, &seq, NULL), GS_OK);
  cr_assert_eq(seq, 1);
  cr_assert_eq(write_title(w, g08, id, "draft 2", T_NOW_MS, &seq, NULL), GS_OK);
  store_write_abort(w);
  store_write_abort(NULL);

  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.changes, 0);
  cr_assert_eq(st.records, 0);
  cr_assert_eq(st.feeds, 0);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_ENOTFOUND);
  crdt_hlc h;
  cr_assert_eq(store_hlc(s, &h), GS_OK);
  cr_assert_eq(h, 0);

  /* The next session starts again at seq 1. */
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(write_title(w, g07, id, "final", T_NOW_MS, &seq, NULL), GS_OK);
  cr_assert_eq(seq, 1);
  cr_assert_eq(store_write_commit(w), GS_OK);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "final");
}

Test(store_write, commit_stores_signed_chained_changes)
{
  store_write *w = NULL;
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  uint64_t seq;
  crdt_hlc h1, h2, h3;
  t_id(a, 1, 1);
  t_id(b, 1, 2);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(write_title(w, g07, a, "one", T_NOW_MS, &seq, &h1), GS_OK);
  cr_assert_eq(seq, 1);
  cr_assert_eq(write_title(w, g07, a, "two", T_NOW_MS, &seq, &h2), GS_OK);
  cr_assert_eq(seq, 2);
  cr_assert_eq(write_title(w, g08, b, "other", T_NOW_MS, &seq, &h3), GS_OK);
  cr_assert_eq(seq, 1, "another scope is another feed");
  cr_assert_geq(CRDT_HLC_MS(h1), T_NOW_MS);
  cr_assert_lt(h1, h2);
  cr_assert_lt(h2, h3);
  cr_assert_eq(store_write_commit(w), GS_OK);

  static t_field tf;
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "two");
  cr_assert_str_eq(tf.scope, g07);
  cr_assert_eq(tf.stamp.hlc, h2);
  cr_assert_arr_eq(tf.stamp.origin, pk, CRDT_KEY_LEN);
  cr_assert_eq(t_get(s, "issue", b, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "other");
  cr_assert_str_eq(tf.scope, g08);

  uint8_t feed[CRDT_FEED_LEN];
  store_feed sf;
  feed_of(g07, feed);
  cr_assert_eq(store_feed_get(s, feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 2);
  cr_assert_arr_eq(sf.origin, pk, CRDT_KEY_LEN);
  cr_assert_eq(walk_feed(s, g07), 2);
  cr_assert_eq(walk_feed(s, g08), 1);
  t_hist hist;
  cr_assert_eq(t_history(s, "issue", a, &hist), GS_OK);
  cr_assert_eq(hist.n, 2);
  crdt_hlc h;
  cr_assert_eq(store_hlc(s, &h), GS_OK);
  cr_assert_eq(h, h3, "the node's HLC is stored at commit");
}

Test(store_write, seqs_and_hlc_continue_after_reopen)
{
  store_write *w = NULL;
  uint8_t a[CRDT_ID_LEN];
  uint64_t seq;
  crdt_hlc h1, h2;
  t_id(a, 1, 1);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(write_title(w, g07, a, "one", T_NOW_MS, &seq, NULL), GS_OK);
  cr_assert_eq(write_title(w, g07, a, "two", T_NOW_MS, &seq, &h1), GS_OK);
  cr_assert_eq(seq, 2);
  cr_assert_eq(store_write_commit(w), GS_OK);
  store_close(s);
  s = NULL;

  cr_assert_eq(store_open(dir, 0, &s), GS_OK);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  /* The physical clock went back an hour: the stamp still grows. */
  cr_assert_eq(write_title(w, g07, a, "three", T_NOW_MS - 3600000, &seq, &h2),
               GS_OK);
  cr_assert_eq(seq, 3);
  cr_assert_gt(h2, h1);
  cr_assert_eq(store_write_commit(w), GS_OK);
  cr_assert_eq(walk_feed(s, g07), 3);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "three");
}

Test(store_write, local_write_is_ordered_after_received_change)
{
  /* Receive a change stamped an hour ahead of our clock; a local write
   * made afterwards must win over it (causality), even though our clock
   * is behind. */
  t_feed f;
  uint8_t a[CRDT_ID_LEN], *raw;
  size_t len;
  t_feed_init(&f, g07);
  f.hlc = CRDT_HLC_MAKE(T_NOW_MS + 3600000, 0);
  t_id(a, 1, 1);
  crdt_op op = t_set_str("issue", a, "title", "remote", 6);
  cr_assert_eq(t_next(&f, &op, 1, &raw, &len), GS_OK);
  store_result res;
  cr_assert_eq(t_apply1(s, raw, len, &res), GS_OK);
  free(raw);
  crdt_hlc h;
  cr_assert_eq(store_hlc(s, &h), GS_OK);
  cr_assert_geq(h, f.hlc);

  store_write *w;
  crdt_hlc mine;
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(write_title(w, g07, a, "local edit", T_NOW_MS, NULL, &mine),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  cr_assert_gt(mine, f.hlc);
  static t_field tf;
  cr_assert_eq(t_get(s, "issue", a, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "local edit");
}

Test(store_write, invalid_input_leaves_session_usable)
{
  store_write *w;
  uint8_t a[CRDT_ID_LEN];
  uint64_t seq = 0;
  t_id(a, 1, 1);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(write_title(w, "bad//scope", a, "x", T_NOW_MS, &seq, NULL),
               GS_ESCOPE);
  crdt_op op = t_set_str("Bad-Name", a, "title", "x", 1);
  cr_assert_neq(store_write_change(w, g07, strlen(g07), &op, 1, T_NOW_MS, &seq,
                                   NULL),
                GS_OK);
  cr_assert_neq(store_write_change(w, g07, strlen(g07), &op, 0, T_NOW_MS, &seq,
                                   NULL),
                GS_OK, "a change without ops");
  cr_assert_eq(write_title(w, g07, a, "good", T_NOW_MS, &seq, NULL), GS_OK);
  cr_assert_eq(seq, 1, "failed writes used no seq");
  cr_assert_eq(store_write_commit(w), GS_OK);
  cr_assert_eq(walk_feed(s, g07), 1);
}

/* Raw changes copied out of store_feed_read. */
typedef struct raw_copy {
  uint8_t *raw[16];
  size_t len[16];
  size_t n;
} raw_copy;

static int copy_cb(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  raw_copy *c = ctx;
  (void)seq;
  if (c->n >= 16)
    return 1;
  c->raw[c->n] = malloc(n);
  memcpy(c->raw[c->n], b, n);
  c->len[c->n++] = n;
  return 0;
}

Test(store_write, written_changes_replicate_to_another_store)
{
  /* What a session wrote, read back raw and applied elsewhere, rebuilds
   * the same state: the stored bytes are complete, signed changes. */
  store *s2 = NULL;
  store_write *w;
  cr_assert(t_mkdtemp(dir2, sizeof dir2));
  cr_assert_eq(store_open(dir2, STORE_CREATE | STORE_NOSYNC, &s2), GS_OK);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (int i = 0; i < 7; i++) {
    uint8_t id[CRDT_ID_LEN];
    char t[16];
    t_id(id, 1, (uint64_t)(i % 3));
    snprintf(t, sizeof t, "v%d", i);
    cr_assert_eq(write_title(w, i % 2 ? g08 : g07, id, t,
                             T_NOW_MS + (uint64_t)i, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);

  const char *scopes[2] = {g07, g08};
  size_t total = 0;
  for (int k = 0; k < 2; k++) {
    uint8_t feed[CRDT_FEED_LEN];
    store_feed sf;
    raw_copy c = {.n = 0};
    feed_of(scopes[k], feed);
    cr_assert_eq(store_feed_get(s, feed, &sf), GS_OK);
    cr_assert_eq(store_feed_read(s, feed, 1, sf.seq, copy_cb, &c), GS_OK);
    cr_assert_eq(c.n, sf.seq);
    store_result res;
    gs_err err = store_apply(s2, (const uint8_t *const *)c.raw, c.len, c.n,
                             &res, NULL);
    for (size_t i = 0; i < c.n; i++)
      free(c.raw[i]);
    cr_assert_eq(err, GS_OK, "%s", gs_errname(err));
    cr_assert_eq(res.applied, sf.seq);
    total += res.applied;
  }
  cr_assert_eq(total, 7);
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  size_t n1, n2;
  cr_assert_eq(store_digest(s, NULL, 0, d1, &n1), GS_OK);
  cr_assert_eq(store_digest(s2, NULL, 0, d2, &n2), GS_OK);
  cr_assert_eq(n1, 6, "3 ids in each of 2 scopes");
  cr_assert_eq(n1, n2);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN);
  store_close(s2);
}

Test(store_write, one_change_revisiting_records_matches_one_change_per_op)
{
  /* A change's records are written at its end, in key order: ops that
   * come back to a record after others, ids in descending order and
   * several scopes give the same state and history as one op per
   * change, in a second store. */
  store *s2 = NULL;
  store_write *w;
  enum { NOPS = 40 };
  crdt_op ops[NOPS];
  char text[NOPS][16];
  uint8_t ids[5][CRDT_ID_LEN];
  for (int r = 0; r < 5; r++)
    t_id(ids[r], 2, (uint64_t)(100 - r)); /* descending */
  for (int i = 0; i < NOPS; i++) {
    snprintf(text[i], sizeof text[i], "v%d", i);
    ops[i] = t_set_str(i % 2 ? "issue" : "task", ids[(i * 3) % 5],
                       i % 4 < 2 ? "title" : "note", text[i],
                       strlen(text[i]));
  }
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, g07, strlen(g07), ops, NOPS, T_NOW_MS,
                                  NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_change(w, g08, strlen(g08), ops + 5, 7,
                                  T_NOW_MS + 1, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);

  cr_assert(t_mkdtemp(dir2, sizeof dir2));
  cr_assert_eq(store_open(dir2, STORE_CREATE | STORE_NOSYNC, &s2), GS_OK);
  uint8_t sk2[CRDT_SK_LEN], pk2[CRDT_KEY_LEN];
  crdt_keypair(pk2, sk2);
  cr_assert_eq(store_write_begin(s2, sk2, &w), GS_OK);
  for (int i = 0; i < NOPS; i++)
    cr_assert_eq(store_write_change(w, g07, strlen(g07), &ops[i], 1,
                                    T_NOW_MS, NULL, NULL),
                 GS_OK);
  for (int i = 5; i < 12; i++)
    cr_assert_eq(store_write_change(w, g08, strlen(g08), &ops[i], 1,
                                    T_NOW_MS + 1, NULL, NULL),
                 GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);

  /* the same values (stamps differ: other origin, other clocks) */
  static t_field a, b;
  const char *colls[2] = {"issue", "task"}, *fields[2] = {"title", "note"};
  size_t found = 0;
  for (int r = 0; r < 5; r++)
    for (int c = 0; c < 2; c++)
      for (int f = 0; f < 2; f++) {
        gs_err e1 = t_get(s, colls[c], ids[r], fields[f], &a);
        gs_err e2 = t_get(s2, colls[c], ids[r], fields[f], &b);
        cr_assert_eq(e1, e2);
        cr_assert_eq(a.nscopes, b.nscopes);
        cr_assert_eq(a.present, b.present);
        if (a.present) {
          cr_assert_str_eq(a.str, b.str, "%s %d %s", colls[c], r, fields[f]);
          found++;
        }
        /* one history entry per change that touched the record */
        t_hist h;
        if (t_history(s, colls[c], ids[r], &h) == GS_OK)
          cr_assert_leq(h.n, 2);
      }
  cr_assert_gt(found, 0);
  store_stats st1, st2;
  cr_assert_eq(t_stats(s, &st1), GS_OK);
  cr_assert_eq(t_stats(s2, &st2), GS_OK);
  cr_assert_eq(st1.records, st2.records);
  store_close(s2);
}

/* The ops of change k of the replay test: packed well (repeated text),
 * not at all (noise), or too small to pack, in turn. */
static size_t replay_ops(int k, crdt_op *ops, char (*text)[2048],
                         uint8_t (*ids)[CRDT_ID_LEN])
{
  size_t n = k % 3 == 2 ? 1 : 6;
  for (size_t j = 0; j < n; j++) {
    size_t len = k % 3 == 2 ? 3 : 2000;
    if (k % 3 == 0)
      for (size_t b = 0; b < len; b++)
        text[j][b] = "居民第户"[(b + (size_t)k) % 12];
    else
      t_noise(text[j], len, (uint64_t)k * 16 + j);
    memcpy(text[j], "ok", k % 3 == 2 ? 2 : 0); /* a tiny one */
    t_id(ids[j], 7, (uint64_t)k * 16 + j);
    ops[j] = t_set_str("doc", ids[j], "body", text[j], len);
    ops[j].value.type = CRDT_BYTES;
  }
  return n;
}

Test(store_write, a_replayed_session_rebuilds_the_same_state)
{
  /* A session redone after MDB_MAP_FULL applies the change bytes it kept:
   * since the copy apply_into packed is kept (no second zstd pass), a
   * wrong copy would fail to decode or change the state. The same
   * changes, same key and clock, in a second store without a replay:
   * the same state digest, the feed whole and verified. */
  static char text[6][2048];
  uint8_t ids[6][CRDT_ID_LEN];
  crdt_op ops[6];
  store *s2 = NULL;
  store_write *w;
  enum { NCH = 60 };
  cr_assert(t_mkdtemp(dir2, sizeof dir2));
  cr_assert_eq(store_open(dir2, STORE_CREATE | STORE_NOSYNC, &s2), GS_OK);
  for (int pass = 0; pass < 2; pass++) {
    store *st = pass ? s2 : s;
    cr_assert_eq(store_write_begin(st, sk, &w), GS_OK);
    for (int k = 0; k < NCH; k++) {
      size_t n = replay_ops(k, ops, text, ids);
      cr_assert_eq(store_write_change(w, g07, strlen(g07), ops, n,
                                      T_NOW_MS + (uint64_t)k, NULL, NULL),
                   GS_OK, "change %d", k);
      if (pass == 0 && (k == 20 || k == NCH - 1))
        cr_assert_eq(store__write_replay(w), GS_OK, "replay after %d", k);
    }
    cr_assert_eq(store_write_commit(w), GS_OK);
  }
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  size_t n1, n2;
  cr_assert_eq(store_digest(s, NULL, 0, d1, &n1), GS_OK);
  cr_assert_eq(store_digest(s2, NULL, 0, d2, &n2), GS_OK);
  cr_assert_eq(n1, n2);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN, "the replayed store differs");
  cr_assert_eq(walk_feed(s, g07), NCH);
  store_stats a, b;
  cr_assert_eq(store_stats_get(s, &a), GS_OK);
  cr_assert_eq(store_stats_get(s2, &b), GS_OK);
  cr_assert_eq(a.changes, (size_t)NCH);
  cr_assert_eq(a.records, b.records);
  store_close(s2);
}
