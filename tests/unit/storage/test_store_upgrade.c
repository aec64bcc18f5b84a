/* store: changes are kept zstd-packed and read back as they were; a
 * store of format 1 (records in version 1, a 32-byte origin key in every
 * stamp; changes unpacked), 2 (records in version 2: an origin table,
 * the identity in the value; hist keys spelling the feed), 3 (records in
 * version 3, origins spelt; hist keys with the hlc and a feed number) or
 * 4 (format 5's records, format 3's hist keys) is upgraded to format 5
 * (version-3 records with origin numbers, hist keys without the hlc) as
 * it opens, in batches that resume after a crash; the state, its digest,
 * every change and every record's history read back do not change. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <lmdb.h>
#include <zstd.h>

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

TestSuite(store_upgrade, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";
#define NREC 12000 /* more than two of the upgrade's batches */

/* The node's LMDB environment opened directly, as another program (an
 * older gridsync) would: one transaction, cursors on named databases. */
typedef struct raw_env {
  MDB_env *env;
  MDB_txn *txn;
  bool write;
} raw_env;

static void raw_open(raw_env *r, bool write)
{
  r->write = write;
  cr_assert_eq(mdb_env_create(&r->env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(r->env, 16), 0);
  cr_assert_eq(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
  cr_assert_eq(mdb_env_open(r->env, dir, write ? MDB_NOSYNC : MDB_RDONLY,
                            0600),
               0);
  cr_assert_eq(mdb_txn_begin(r->env, NULL, write ? 0 : MDB_RDONLY, &r->txn),
               0);
}

static MDB_dbi raw_db(raw_env *r, const char *name)
{
  MDB_dbi db;
  cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &db), 0);
  return db;
}

static MDB_cursor *raw_cursor(raw_env *r, const char *name)
{
  MDB_cursor *cur;
  cr_assert_eq(mdb_cursor_open(r->txn, raw_db(r, name), &cur), 0);
  return cur;
}

/* Replace the value under the cursor. The key goes as a copy: a put that
 * resizes the value moves the page's bytes under the cursor's key. */
static void raw_replace(MDB_cursor *cur, const MDB_val *k, const void *v,
                        size_t n)
{
  uint8_t kc[512];
  cr_assert_leq(k->mv_size, sizeof kc);
  memcpy(kc, k->mv_data, k->mv_size);
  MDB_val nk = {k->mv_size, kc}, nv = {n, (void *)v};
  cr_assert_eq(mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT), 0);
}

/* Close, committing what a writing open did. */
static void raw_close(raw_env *r, MDB_cursor *cur)
{
  if (cur)
    mdb_cursor_close(cur);
  if (r->write)
    cr_assert_eq(mdb_txn_commit(r->txn), 0);
  else
    mdb_txn_abort(r->txn);
  mdb_env_close(r->env);
}

static bool is_frame(const MDB_val *v)
{
  return v->mv_size >= 4 && memcmp(v->mv_data, "\x28\xb5\x2f\xfd", 4) == 0;
}

/* NREC residents written by one origin, every third one edited and tagged
 * by a second origin: records with origin tables of one and two keys. */
static void fill(void)
{
  store *s;
  store_write *w;
  uint8_t pk[CRDT_KEY_LEN], sk[2][CRDT_SK_LEN];
  crdt_op ops[200];
  char names[100][32];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  crdt_keypair(pk, sk[0]);
  crdt_keypair(pk, sk[1]);
  for (int o = 0; o < 2; o++) {
    cr_assert_eq(store_write_begin(s, sk[o], &w), GS_OK);
    for (size_t i = 0; i < NREC;) {
      size_t k = 0;
      for (size_t j = 0; j < 100 && i < NREC; i++, j++) {
        if (o == 1 && i % 3)
          continue;
        uint8_t id[CRDT_ID_LEN];
        t_id(id, 7, i);
        snprintf(names[j], sizeof names[j], "%s%zu", o ? "改" : "居民", i);
        ops[k++] = t_set_str("resident", id, "name", names[j],
                             strlen(names[j]));
        ops[k++] = o ? t_add_str("resident", id, "tags", "elderly")
                     : t_set_int("resident", id, "birth_year",
                                 (int64_t)(1930 + i % 80));
      }
      if (k)
        cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, k,
                                        T_NOW_MS + i, NULL, NULL),
                     GS_OK);
    }
    cr_assert_eq(store_write_commit(w), GS_OK);
  }
  store_close(s);
}

/* Is v a record value of format 4 (version 3's bytes, origins by local
 * number)? */
static bool is_v4(const MDB_val *v)
{
  const uint8_t *b = v->mv_data;
  return v->mv_size >= 2 && b[0] == 0x95 && b[1] == 4;
}

/* Record value v as version-4 bytes (a squeezed one unsqueezed by the
 * store's dictionary, in v4; another as it is), with LMDB directly in r
 * (the store is not sealed). */
static MDB_val raw_v4(raw_env *r, const MDB_val *v, uint8_t v4[4096])
{
  if (!t_squeezed(v->mv_data, v->mv_size))
    return *v;
  MDB_val dk = {7, "zdict:1"}, dv, u = {0, v4};
  cr_assert_eq(mdb_get(r->txn, raw_db(r, "meta"), &dk, &dv), 0,
               "a squeezed record, and the dictionary");
  cr_assert(t_unsqueeze(dv.mv_data, dv.mv_size, v->mv_data, v->mv_size, v4,
                        4096, &u.mv_size));
  return u;
}

/* A record value as version-3 bytes, with LMDB directly (the store is not
 * sealed): format 6's squeezed ones unsqueezed (raw_v4); format 4's origin numbers (here below 128, one byte each)
 * looked up in `originno` and spelt again, in buf; other versions as they
 * are. */
static MDB_val raw_v3(raw_env *r, const MDB_val *v, uint8_t *buf, size_t cap)
{
  static uint8_t v4[4096];
  MDB_val u4 = raw_v4(r, v, v4);
  v = &u4;
  const uint8_t *b = v->mv_data;
  if (!is_v4(v))
    return *v;
  cr_assert_geq(v->mv_size, 3);
  cr_assert_eq(b[2] & 0xf0, 0x90, "a short origin table");
  size_t n = b[2] & 0x0f, w = 3, at = 3;
  cr_assert_leq(v->mv_size + n * (1 + CRDT_KEY_LEN), cap);
  memcpy(buf, b, 3);
  buf[1] = 3;
  MDB_dbi on = raw_db(r, "originno");
  for (size_t i = 0; i < n; i++, at++) {
    cr_assert(b[at] >= 1 && b[at] < 0x80, "a number in one byte");
    uint8_t no[4] = {0, 0, 0, b[at]};
    MDB_val k = {4, no}, o;
    cr_assert_eq(mdb_get(r->txn, on, &k, &o), 0, "origin %u", b[at]);
    cr_assert_eq(o.mv_size, CRDT_KEY_LEN);
    buf[w++] = 0xc4;
    buf[w++] = CRDT_KEY_LEN;
    memcpy(buf + w, o.mv_data, CRDT_KEY_LEN);
    w += CRDT_KEY_LEN;
  }
  memcpy(buf + w, b + at, v->mv_size - at);
  return (MDB_val){w + v->mv_size - at, buf};
}

/* A record as the store keeps it (coll 0 id scope: the key), any
 * version. */
static crdt_record *raw_record(raw_env *r, const MDB_val *k,
                               const MDB_val *sv)
{
  static uint8_t buf[4096];
  const char *kb = k->mv_data;
  size_t cn = strlen(kb), head = cn + 1 + CRDT_ID_LEN;
  crdt_record *rec;
  MDB_val u = raw_v3(r, sv, buf, sizeof buf), *v = &u;
  cr_assert_leq(head, k->mv_size);
  cr_assert_eq(crdt_record_decode_key(v->mv_data, v->mv_size, kb + head,
                                      k->mv_size - head, kb, cn,
                                      (const uint8_t *)kb + cn + 1, &rec),
               GS_OK);
  return rec;
}

/* Every change's hlc by (feed, seq), read through the store (any
 * format) before its hist keys are forged: format 5's keys hold none. */
typedef struct change_hlc {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
  crdt_hlc hlc;
} change_hlc;
static change_hlc hlcs[1024];
static size_t nhlcs;

typedef struct hlc_ctx {
  store *s;
  const uint8_t *feed;
} hlc_ctx;

static int hlc_keep(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  const hlc_ctx *hc = ctx;
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert_lt(nhlcs, sizeof hlcs / sizeof *hlcs);
  memcpy(hlcs[nhlcs].feed, hc->feed, CRDT_FEED_LEN);
  hlcs[nhlcs].seq = seq;
  hlcs[nhlcs++].hlc = c->hlc;
  crdt_change_free(c);
  return 0;
}

static int hlc_feed(void *ctx, const store_feed *f)
{
  hlc_ctx hc = {ctx, f->feed};
  cr_assert_eq(store_feed_read(ctx, f->feed, 1, f->seq, hlc_keep, &hc),
               GS_OK);
  return 0;
}

static void hlcs_read(void)
{
  store *s;
  nhlcs = 0;
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(store_feeds(s, hlc_feed, s), GS_OK);
  store_close(s);
}

static crdt_hlc hlc_of(const uint8_t feed[CRDT_FEED_LEN], uint64_t seq)
{
  for (size_t i = 0; i < nhlcs; i++)
    if (hlcs[i].seq == seq && memcmp(hlcs[i].feed, feed, CRDT_FEED_LEN) == 0)
      return hlcs[i].hlc;
  cr_assert_fail("no change %" PRIu64 " of the feed", seq);
  return 0;
}

/* A LEB128 at *b (format 5's hist key tail), *b moved past it. */
static uint64_t leb(const uint8_t **b, const uint8_t *end)
{
  uint64_t v = 0;
  for (unsigned shift = 0;; shift += 7) {
    cr_assert(*b < end && shift < 64, "a LEB128 in the tail");
    uint8_t g = *(*b)++;
    v |= (uint64_t)(g & 0x7f) << shift;
    if (!(g & 0x80))
      return v;
  }
}

static void be_put(uint8_t *b, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* hist keys as formats 3 and 4 wrote them (coll 0 id hlc(8) feed
 * number(4) seq(8), big-endian), with LMDB directly: those of format 5
 * (the feed number and seq as LEB128s) rewritten, from the first key of
 * the from-th record's on (hlcs_read first); 20-byte ones kept. The last
 * key before those in mark (optional, 96 bytes), its length in *markn. */
static void hist_to_v3(raw_env *r, size_t from, uint8_t *mark, size_t *markn)
{
  MDB_dbi fno = raw_db(r, "feedno"), hist = raw_db(r, "hist");
  MDB_cursor *cur;
  MDB_val k, v;
  static uint8_t keys[NREC * 3][96], olds[NREC * 3][96], head0[96];
  static size_t lens[NREC * 3], oldn[NREC * 3];
  size_t n = 0, rec = 0, head0n = 0;
  cr_assert_eq(mdb_cursor_open(r->txn, hist, &cur), 0);
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    size_t head = strlen(k.mv_data) + 1 + CRDT_ID_LEN;
    const uint8_t *kb = k.mv_data, *t = kb + head, *end = kb + k.mv_size;
    if (head0n && (head0n != head || memcmp(head0, kb, head) != 0))
      rec++;
    memcpy(head0, kb, head0n = head);
    if (rec < from && mark) {
      cr_assert_leq(k.mv_size, 96);
      memcpy(mark, kb, *markn = k.mv_size);
    }
    if (rec < from || k.mv_size == head + 20)
      continue;
    cr_assert_leq(k.mv_size, head + 15, "format 5's hist key");
    uint64_t no = leb(&t, end), seq = leb(&t, end);
    cr_assert_eq(t, end);
    cr_assert_lt(n, NREC * 3);
    uint8_t nb[4];
    be_put(nb, no, 4);
    MDB_val nk = {4, nb}, feed;
    cr_assert_eq(mdb_get(r->txn, fno, &nk, &feed), 0);
    cr_assert_eq(feed.mv_size, CRDT_FEED_LEN);
    memcpy(keys[n], kb, head);
    be_put(keys[n] + head, hlc_of(feed.mv_data, seq), 8);
    memcpy(keys[n] + head + 8, nb, 4);
    be_put(keys[n] + head + 12, seq, 8);
    lens[n] = head + 20;
    memcpy(olds[n], kb, oldn[n] = k.mv_size);
    n++;
  }
  mdb_cursor_close(cur);
  for (size_t i = 0; i < n; i++) {
    MDB_val ok = {oldn[i], olds[i]}, nk = {lens[i], keys[i]}, ev = {0, ""};
    cr_assert_eq(mdb_del(r->txn, hist, &ok, NULL), 0);
    cr_assert_eq(mdb_put(r->txn, hist, &nk, &ev, 0), 0);
  }
}

/* hist keys as formats 1 and 2 wrote them (coll 0 id hlc feed(32) seq,
 * the feed spelt, not numbered), and no feed numbers, with LMDB
 * directly: from format 3's (hist_to_v3 first). */
static void hist_to_old(raw_env *r)
{
  MDB_dbi fno = raw_db(r, "feedno"), hist = raw_db(r, "hist");
  MDB_cursor *cur;
  MDB_val k, v;
  static uint8_t keys[NREC * 3][96];
  static size_t lens[NREC * 3];
  size_t n = 0;
  cr_assert_eq(mdb_cursor_open(r->txn, hist, &cur), 0);
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    size_t head = strlen(k.mv_data) + 1 + CRDT_ID_LEN;
    cr_assert_eq(k.mv_size, head + 20, "format 3's hist key");
    cr_assert_lt(n, NREC * 3);
    MDB_val nk = {4, (uint8_t *)k.mv_data + head + 8}, feed;
    cr_assert_eq(mdb_get(r->txn, fno, &nk, &feed), 0);
    cr_assert_eq(feed.mv_size, CRDT_FEED_LEN);
    memcpy(keys[n], k.mv_data, head + 8);
    memcpy(keys[n] + head + 8, feed.mv_data, CRDT_FEED_LEN);
    memcpy(keys[n] + head + 8 + CRDT_FEED_LEN,
           (uint8_t *)k.mv_data + head + 12, 8);
    lens[n++] = head + 8 + CRDT_FEED_LEN + 8;
  }
  mdb_cursor_close(cur);
  cr_assert_eq(mdb_drop(r->txn, hist, 0), 0);
  cr_assert_eq(mdb_drop(r->txn, fno, 0), 0);
  for (size_t i = 0; i < n; i++) {
    MDB_val nk = {lens[i], keys[i]}, ev = {0, ""};
    cr_assert_eq(mdb_put(r->txn, hist, &nk, &ev, 0), 0);
  }
}

/* The entries of table db, with LMDB directly: those for which is_a
 * holds in *a, the others in *b. */
static void count_split(const char *db,
                        bool (*is_a)(const MDB_val *k, const MDB_val *v),
                        size_t *a, size_t *b)
{
  raw_env r;
  MDB_val k, v;
  *a = *b = 0;
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, db);
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    ++*(is_a(&k, &v) ? a : b);
  raw_close(&r, cur);
}

/* hist keys, with LMDB directly: of format 5 (*now: coll 0 id, then the
 * feed number and seq as LEB128s, at most 15 bytes), of formats 3 and 4
 * (*v3: hlc 8, feed number 4, seq 8) and of formats 1 and 2 (*old: hlc
 * 8, the feed spelt 16, seq 8). */
static void count_hist(size_t *now, size_t *v3, size_t *old)
{
  raw_env r;
  MDB_val k, v;
  *now = *v3 = *old = 0;
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "hist");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    size_t tail = k.mv_size - (strlen(k.mv_data) + 1 + CRDT_ID_LEN);
    cr_assert(tail <= 15 || tail == 20 || tail == 32, "a tail of %zu", tail);
    ++*(tail <= 15 ? now : tail == 20 ? v3 : old);
  }
  raw_close(&r, cur);
}

static int count_change(void *ctx, const crdt_change *c)
{
  (void)c;
  ++*(size_t *)ctx;
  return 0;
}

/* store_history of resident i: how many changes wrote it. */
static size_t history_of(store *s, size_t i)
{
  uint8_t id[CRDT_ID_LEN];
  size_t n = 0;
  t_id(id, 7, i);
  gs_err e = store_history(s, "resident", 8, id, count_change, &n);
  cr_assert_eq(e, GS_OK, "%s", gs_errname(e));
  return n;
}

typedef struct hist_hash {
  crdt_hasher h;
  size_t n;
} hist_hash;

static int hash_history(void *ctx, const crdt_change *c)
{
  hist_hash *hh = ctx;
  uint8_t b[16];
  be_put(b, c->hlc, 8);
  be_put(b + 8, c->seq, 8);
  crdt_hasher_update(&hh->h, b, sizeof b);
  crdt_hasher_update(&hh->h, c->origin, CRDT_KEY_LEN);
  hh->n++;
  return 0;
}

/* A hash of the history of every fifth resident (each change's hlc, seq
 * and origin, in the order store_history gives them), read-only; and how
 * many changes that is. */
static void histories(uint8_t out[CRDT_HASH_LEN], size_t *changes)
{
  store *s;
  hist_hash hh = {.n = 0};
  crdt_hasher_init(&hh.h);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  for (size_t i = 0; i < NREC; i += 5) {
    uint8_t id[CRDT_ID_LEN];
    t_id(id, 7, i);
    cr_assert_eq(store_history(s, "resident", 8, id, hash_history, &hh),
                 GS_OK);
  }
  store_close(s);
  crdt_hasher_final(&hh.h, out);
  *changes = hh.n;
}

/* With LMDB directly, as an older gridsync left a store: every record
 * from `from` on in version oldver (1: format 1's, 2: format 2's, 3:
 * format 3's, 4: as it is, format 4's and 5's; all of them if from is 0,
 * and then, below 4, no origin numbers), the ones before as they are
 * (format 5's), format (1 to STORE_FORMAT), every hist key as formats 3
 * and 4 wrote them (with the hlc; and spelling the feed, as formats 1 and
 * 2, if oldver is below 3; and the mark "upgrade-hist" at the start if
 * format is STORE_FORMAT: the hist pass to come) and the records' upgrade
 * mark (NULL: none; with one, in format STORE_FORMAT, the squeeze pass's
 * too); no record squeezed, no dictionary. Returns how many records were rewritten. */
static size_t make_old_v(size_t from, uint64_t format, const char *mark_key,
                         size_t mark_n, unsigned oldver)
{
  raw_env r;
  MDB_val k, v;
  size_t i = 0, rewritten = 0;
  hlcs_read();
  raw_open(&r, true);
  MDB_dbi meta = raw_db(&r, "meta");
  MDB_cursor *cur = raw_cursor(&r, "records");
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), i++) {
    if (i < from || oldver == 4) { /* as a build before format 6 left it */
      if (t_squeezed(v.mv_data, v.mv_size)) {
        static uint8_t v4[4096];
        MDB_val u = raw_v4(&r, &v, v4);
        raw_replace(cur, &k, u.mv_data, u.mv_size);
      }
      continue;
    }
    crdt_record *rec = raw_record(&r, &k, &v);
    uint8_t *b;
    size_t n;
    cr_assert_eq(oldver == 1   ? crdt_record_encode_v1(rec, &b, &n)
                 : oldver == 2 ? crdt_record_encode_v2(rec, &b, &n)
                               : crdt_record_encode(rec, &b, &n),
                 GS_OK);
    crdt_record_free(rec);
    raw_replace(cur, &k, b, n);
    free(b);
    rewritten++;
  }
  cr_assert_eq(rc, MDB_NOTFOUND);
  mdb_cursor_close(cur);
  MDB_val zk = {7, "zdict:1"}; /* no record squeezed now */
  rc = mdb_del(r.txn, meta, &zk, NULL);
  cr_assert(rc == 0 || rc == MDB_NOTFOUND);
  if (from == 0 && oldver < 4) /* a build before format 4 had no such table */
    cr_assert_eq(mdb_drop(r.txn, raw_db(&r, "originno"), 1), 0);
  /* format 1 kept changes as they are: unpack them all (a mark is only
   * ever left on records here) */
  static uint8_t raw[CRDT_CHANGE_MAX];
  cur = raw_cursor(&r, "changes");
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (from || oldver != 1 || !is_frame(&v))
      continue;
    size_t n = ZSTD_decompress(raw, sizeof raw, v.mv_data, v.mv_size);
    cr_assert(!ZSTD_isError(n));
    raw_replace(cur, &k, raw, n);
  }
  mdb_cursor_close(cur);
  hist_to_v3(&r, 0, NULL, NULL);
  if (oldver < 3)
    hist_to_old(&r);
  if (format == STORE_FORMAT) { /* after the records' pass */
    MDB_val hk = {12, "upgrade-hist"}, hv = {0, ""};
    cr_assert_eq(mdb_put(r.txn, meta, &hk, &hv, 0), 0);
  }
  uint8_t f[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)format};
  k = (MDB_val){6, "format"}, v = (MDB_val){8, f};
  cr_assert_eq(mdb_put(r.txn, meta, &k, &v, 0), 0);
  k = (MDB_val){15, "upgrade-changes"};
  v = (MDB_val){0, ""};
  if (oldver == 1 && (format == 1 || from == 0))
    cr_assert_eq(mdb_put(r.txn, meta, &k, &v, 0), 0);
  k = (MDB_val){7, "upgrade"};
  if (mark_key) {
    v = (MDB_val){mark_n, (void *)mark_key};
    cr_assert_eq(mdb_put(r.txn, meta, &k, &v, 0), 0);
    MDB_val sk = {15, "upgrade-squeeze"}, sv = {0, ""}; /* the pass after */
    if (format == STORE_FORMAT)
      cr_assert_eq(mdb_put(r.txn, meta, &sk, &sv, 0), 0);
  } else {
    rc = mdb_del(r.txn, meta, &k, NULL);
    cr_assert(rc == 0 || rc == MDB_NOTFOUND);
  }
  raw_close(&r, NULL);
  return rewritten;
}

static size_t make_old(size_t from, uint64_t format, const char *mark_key,
                       size_t mark_n)
{
  return make_old_v(from, format, mark_key, mark_n, 1);
}

/* Every record in format 6's bytes: squeezed, or version 4 where that
 * is no shorter (an edited one, unlike the others: a handful). */
static void all_squeezed(const size_t counts[6])
{
  cr_assert_eq(counts[4] + counts[5], NREC, "%zu %zu %zu %zu", counts[1],
               counts[2], counts[3], counts[4]);
  cr_assert_geq(counts[5], NREC - 10, "squeezed: %zu of %d", counts[5], NREC);
}

/* How many records are in each version, with LMDB directly; and the key
 * of the index-th record. */
static void count_versions(size_t counts[6], size_t index, uint8_t *key,
                           size_t *keyn)
{
  raw_env r;
  MDB_val k, v;
  size_t i = 0;
  memset(counts, 0, 6 * sizeof *counts);
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "records");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), i++) {
    unsigned ver = t_squeezed(v.mv_data, v.mv_size) ? 5
                   : is_v4(&v) ? 4
                               : crdt_record_version(v.mv_data, v.mv_size);
    counts[ver <= 5 ? ver : 0]++;
    if (key && i == index) {
      memcpy(key, k.mv_data, k.mv_size);
      *keyn = k.mv_size;
    }
  }
  raw_close(&r, cur);
}

static bool packed_change(const MDB_val *k, const MDB_val *v)
{
  (void)k;
  return is_frame(v);
}

/* Changes kept packed / as they are, with LMDB directly. */
static void count_changes(size_t *packed, size_t *plain)
{
  count_split("changes", packed_change, packed, plain);
}

/* A hash of every change as store_feed_read gives it, feed by feed. */
typedef struct feeds_hash {
  store *s;
  crdt_hasher h;
  size_t changes, bytes;
  gs_err err;
} feeds_hash;

static int hash_change(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  feeds_hash *fh = ctx;
  crdt_change *c;
  (void)seq;
  /* each one still a valid, signed change */
  if (crdt_change_decode(b, n, &c) != GS_OK || !crdt_change_verify(c)) {
    fh->err = GS_ECORRUPT;
    return 1;
  }
  crdt_change_free(c);
  crdt_hasher_update(&fh->h, b, n);
  fh->changes++;
  fh->bytes += n;
  return 0;
}

static int hash_feed(void *ctx, const store_feed *f)
{
  feeds_hash *fh = ctx;
  gs_err err = store_feed_read(fh->s, f->feed, 1, f->seq, hash_change, fh);
  if (err && !fh->err)
    fh->err = err;
  return fh->err != GS_OK;
}

static void feeds_digest(uint8_t out[CRDT_HASH_LEN], size_t *changes)
{
  feeds_hash fh = {0};
  cr_assert_eq(store_open(dir, STORE_RDONLY, &fh.s), GS_OK);
  crdt_hasher_init(&fh.h);
  cr_assert_eq(store_feeds(fh.s, hash_feed, &fh), GS_OK);
  cr_assert_eq(fh.err, GS_OK, "%s", gs_errname(fh.err));
  crdt_hasher_final(&fh.h, out);
  *changes = fh.changes;
  store_close(fh.s);
}

static uint64_t format_of(store *s)
{
  uint8_t f[8];
  size_t n;
  cr_assert_eq(store_meta_get(s, "format", f, sizeof f, &n), GS_OK);
  cr_assert_eq(n, 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | f[i];
  return v;
}

static void digest(uint8_t out[CRDT_HASH_LEN], size_t *nrec)
{
  store *s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_digest(s, NULL, 0, out, nrec), GS_OK);
  store_close(s);
}

Test(store_upgrade, changes_are_kept_packed_and_read_back_whole)
{
  uint8_t h1[CRDT_HASH_LEN], h2[CRDT_HASH_LEN];
  size_t packed, plain, nch;
  fill();
  count_changes(&packed, &plain);
  cr_assert_eq(packed, 240, "every bulk change packed (%zu plain)", plain);
  cr_assert_eq(plain, 0);
  feeds_digest(h1, &nch);
  cr_assert_eq(nch, 240);
  /* a received copy of the same changes: duplicates, told apart from
   * forks by their unpacked bytes */
  t_feed f;
  t_feed_init(&f, scope);
  uint8_t id[CRDT_ID_LEN], *raw;
  size_t n;
  store_result res;
  store *s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  t_id(id, 9, 1);
  char body[300];
  memset(body, 'x', sizeof body); /* a change that packs */
  crdt_op op = t_set_str("resident", id, "note", body, sizeof body);
  cr_assert_eq(t_next(&f, &op, 1, &raw, &n), GS_OK);
  cr_assert_eq(t_apply1(s, raw, n, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
  cr_assert_eq(t_apply1(s, raw, n, &res), GS_OK);
  cr_assert_eq(res.applied, 0, "a duplicate");
  store_close(s);
  free(raw);
  count_changes(&packed, &plain);
  cr_assert_eq(packed, 241);
  feeds_digest(h2, &nch);
  cr_assert_eq(nch, 241);
  cr_assert(memcmp(h1, h2, CRDT_HASH_LEN) != 0);
}

Test(store_upgrade, a_damaged_packed_change_is_corruption)
{
  fill();
  raw_env r;
  MDB_val k, v;
  raw_open(&r, true);
  MDB_cursor *cur = raw_cursor(&r, "changes");
  cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
  cr_assert(is_frame(&v));
  uint8_t *z = malloc(v.mv_size);
  size_t zn = v.mv_size;
  memcpy(z, v.mv_data, zn);
  z[zn / 2] ^= 0x55; /* a flipped byte in the middle of the frame */
  raw_replace(cur, &k, z, zn);
  raw_close(&r, cur);
  free(z);
  feeds_hash fh = {0};
  cr_assert_eq(store_open(dir, STORE_RDONLY, &fh.s), GS_OK);
  crdt_hasher_init(&fh.h);
  cr_assert_eq(store_feeds(fh.s, hash_feed, &fh), GS_OK);
  cr_assert_eq(fh.err, GS_ECORRUPT, "%s", gs_errname(fh.err));
  store_close(fh.s);
}

Test(store_upgrade, a_format_1_store_is_rewritten_as_it_opens)
{
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  uint8_t fbefore[CRDT_HASH_LEN], fafter[CRDT_HASH_LEN];
  size_t n, counts[6], packed, plain, nch;
  struct stat st;
  char path[128];
  fill();
  digest(before, &n);
  cr_assert_eq(n, NREC);
  feeds_digest(fbefore, &nch);
  snprintf(path, sizeof path, "%s/data.mdb", dir);

  cr_assert_eq(make_old(0, 1, NULL, 0), NREC);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[1], NREC, "all in version 1 now");
  count_changes(&packed, &plain);
  cr_assert(packed == 0 && plain == 240, "and changes unpacked");
  feeds_digest(fafter, &nch);
  cr_assert_arr_eq(fbefore, fafter, CRDT_HASH_LEN);
  cr_assert_eq(stat(path, &st), 0);

  /* read-only: read as it is, nothing rewritten */
  store *s;
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(format_of(s), 1);
  static t_field tf;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 7, 3);
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "改3");
  store_close(s);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[1], NREC);

  /* opened for writing: upgraded, the same state and digest */
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(format_of(s), STORE_FORMAT);
  char mark[8];
  cr_assert_eq(store_meta_get(s, "upgrade", mark, sizeof mark, &n),
               GS_ENOTFOUND, "done: no mark left");
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "改3");
  store_close(s);
  count_versions(counts, 0, NULL, NULL);
  all_squeezed(counts);
  cr_assert_eq(counts[1], 0);
  digest(after, &n);
  cr_assert_eq(n, NREC);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
  count_changes(&packed, &plain);
  cr_assert(packed == 240 && plain == 0, "changes packed: %zu/%zu", packed,
            plain);
  feeds_digest(fafter, &nch);
  cr_assert_arr_eq(fbefore, fafter, CRDT_HASH_LEN, "the same changes");
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_meta_get(s, "upgrade-changes", mark, sizeof mark, &n),
               GS_ENOTFOUND);
  store_close(s);
}

/* Open for writing, then: every record in format 4's bytes, the same
 * digest. */
static void open_and_check_upgraded(const uint8_t before[CRDT_HASH_LEN])
{
  store *s;
  size_t counts[6], n;
  uint8_t after[CRDT_HASH_LEN];
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  store_close(s);
  count_versions(counts, 0, NULL, NULL);
  all_squeezed(counts);
  digest(after, &n);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
}

Test(store_upgrade, an_interrupted_upgrade_resumes_from_its_mark)
{
  uint8_t before[CRDT_HASH_LEN], key[512];
  size_t n, counts[6], keyn = 0;
  fill();
  digest(before, &n);
  /* as a crash after the first batches left it: format 4 already, the
   * records up to the mark rewritten, the rest still in version 1 */
  count_versions(counts, 7000, key, &keyn);
  cr_assert_gt(keyn, 0);
  cr_assert_eq(make_old(7001, STORE_FORMAT, (const char *)key, keyn), NREC - 7001);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[1], NREC - 7001);
  open_and_check_upgraded(before);
  /* a mark at the very start (the upgrade began, nothing rewritten yet) */
  make_old(0, STORE_FORMAT, "", 0);
  open_and_check_upgraded(before);
}

Test(store_upgrade, a_damaged_old_record_fails_the_open_and_keeps_the_mark)
{
  fill();
  make_old(0, 1, NULL, 0);
  /* spoil one record's bytes (still a version-1 header) */
  raw_env r;
  MDB_val k, v;
  raw_open(&r, true);
  MDB_cursor *cur = raw_cursor(&r, "records");
  cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
  for (int i = 0; i < 9000; i++)
    cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_NEXT), 0);
  static const uint8_t bad[] = {0x96, 0x01, 0xc0};
  raw_replace(cur, &k, bad, sizeof bad);
  raw_close(&r, cur);

  store *s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ECORRUPT);
  cr_assert_null(s);
  /* what was rewritten stays; the rest waits behind the mark */
  size_t counts[6];
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[4], 5000, "the batch before the damage");
  cr_assert_eq(counts[1], NREC - 5000);
}

/* ---- format 2 to format 3 ---- */

/* A hash of every records entry (key and value bytes, format 4's as
 * version 3's: the numbers are local) with LMDB directly, and LMDB's
 * count of free pages' list entries. */
static void raw_records(uint8_t out[CRDT_HASH_LEN], size_t *freelist)
{
  raw_env r;
  MDB_val k, v;
  crdt_hasher h;
  crdt_hasher_init(&h);
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "records");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint8_t len[2] = {(uint8_t)(k.mv_size >> 8), (uint8_t)k.mv_size};
    crdt_hasher_update(&h, len, 2);
    crdt_hasher_update(&h, k.mv_data, k.mv_size);
    static uint8_t buf[4096];
    MDB_val u = raw_v3(&r, &v, buf, sizeof buf);
    crdt_hasher_update(&h, u.mv_data, u.mv_size);
  }
  crdt_hasher_final(&h, out);
  if (freelist) {
    MDB_stat st;
    cr_assert_eq(mdb_stat(r.txn, 0, &st), 0); /* FREE_DBI */
    *freelist = st.ms_entries;
  }
  raw_close(&r, cur);
}

static void digest_rdonly(uint8_t out[CRDT_HASH_LEN], uint64_t want_format)
{
  store *s;
  size_t n;
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(format_of(s), want_format);
  cr_assert_eq(store_digest(s, NULL, 0, out, &n), GS_OK);
  cr_assert_eq(n, NREC);
  store_close(s);
}

Test(store_upgrade, a_format_2_store_is_rewritten_as_it_opens)
{
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN], mixed[CRDT_HASH_LEN];
  uint8_t raw0[CRDT_HASH_LEN], raw1[CRDT_HASH_LEN];
  uint8_t fbefore[CRDT_HASH_LEN], fafter[CRDT_HASH_LEN];
  size_t n, counts[6], packed, plain, nch, freelist;
  struct stat st0, st1;
  char path[128];
  fill(); /* a fresh store of format 3 */
  digest(before, &n);
  raw_records(raw0, NULL);
  feeds_digest(fbefore, &nch);
  snprintf(path, sizeof path, "%s/data.mdb", dir);

  cr_assert_eq(make_old_v(0, 2, NULL, 0, 2), NREC);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[2], NREC, "all in version 2 now");
  count_changes(&packed, &plain);
  cr_assert(packed == 240 && plain == 0, "format 2 packs its changes");
  size_t hn, h3, ho;
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == 0 && h3 == 0 && ho == NREC + NREC / 3,
            "hist keys spell the feed");
  {
    store *r;
    cr_assert_eq(store_open(dir, STORE_RDONLY, &r), GS_OK);
    cr_assert_eq(history_of(r, 3), 2, "an old hist key read as it is");
    store_close(r);
  }
  raw_records(raw1, NULL);
  cr_assert(memcmp(raw0, raw1, CRDT_HASH_LEN) != 0);
  /* read-only: read as it is; its digest is the fresh store's (each
   * record re-encoded in version 3 for it) */
  digest_rdonly(mixed, 2);
  cr_assert_arr_eq(before, mixed, CRDT_HASH_LEN);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[2], NREC, "nothing rewritten read-only");
  cr_assert_eq(stat(path, &st0), 0);

  /* opened for writing: every record in format 4's bytes, byte for byte
   * (as version 3) what the fresh store holds; the changes as they were;
   * compacted */
  store *s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(format_of(s), STORE_FORMAT);
  cr_assert_eq(STORE_FORMAT, 6);
  char mark[8];
  cr_assert_eq(store_meta_get(s, "upgrade", mark, sizeof mark, &n),
               GS_ENOTFOUND, "done: no mark left");
  cr_assert_eq(store_meta_get(s, "upgrade-changes", mark, sizeof mark, &n),
               GS_ENOTFOUND, "format 2's changes need no pass");
  static t_field tf;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 7, 3);
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "改3");
  cr_assert_eq(history_of(s, 3), 2, "both changes of it, by feed number");
  cr_assert_eq(history_of(s, 4), 1);
  store_close(s);
  size_t hnew, hold;
  count_hist(&hnew, &h3, &hold);
  cr_assert(hold == 0 && h3 == 0, "every hist key by feed number, no hlc");
  cr_assert_eq(hnew, NREC + NREC / 3);
  count_versions(counts, 0, NULL, NULL);
  all_squeezed(counts);
  raw_records(raw1, &freelist);
  cr_assert_arr_eq(raw0, raw1, CRDT_HASH_LEN, "the same bytes as fresh");
  digest(after, &n);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
  feeds_digest(fafter, &nch);
  cr_assert_arr_eq(fbefore, fafter, CRDT_HASH_LEN, "the same changes");
  cr_assert_eq(stat(path, &st1), 0);
  cr_log_info("format 2 -> 4: data.mdb %lld -> %lld bytes, %zu free-list "
              "entries after",
              (long long)st0.st_size, (long long)st1.st_size, freelist);
  cr_assert_lt(st1.st_size, st0.st_size, "compacted: %lld -> %lld",
               (long long)st0.st_size, (long long)st1.st_size);
#ifndef _WIN32 /* there the DACL does it (win/gs_win.c) */
  cr_assert_eq(st1.st_mode & 0777, 0600, "the copy is this user's only: %o",
               (unsigned)(st1.st_mode & 0777));
#endif
}

/* ---- format 3 to format 4 ---- */

/* The bytes of every records value, with LMDB directly. */
static size_t raw_value_bytes(void)
{
  raw_env r;
  MDB_val k, v;
  size_t n = 0;
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "records");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    n += v.mv_size;
  raw_close(&r, cur);
  return n;
}

/* The same with squeezed records counted at their version-4 length. */
static size_t raw_v4_bytes(void)
{
  raw_env r;
  MDB_val k, v;
  size_t n = 0;
  static uint8_t v4[4096];
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "records");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    n += raw_v4(&r, &v, v4).mv_size;
  raw_close(&r, cur);
  return n;
}

static void progress_told(void *ctx, int what, uint64_t done, uint64_t total);

/* What an upgrade told of itself, in order. */
typedef struct told {
  int what[64];
  uint64_t done[64], total[64];
  size_t n;
} told;

Test(store_upgrade, a_format_3_store_gets_origin_numbers_as_it_opens)
{
  uint8_t before[CRDT_HASH_LEN], mixed[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  uint8_t raw0[CRDT_HASH_LEN], raw1[CRDT_HASH_LEN];
  uint8_t fbefore[CRDT_HASH_LEN], fafter[CRDT_HASH_LEN];
  uint8_t hbefore[CRDT_HASH_LEN], hmid[CRDT_HASH_LEN], hafter[CRDT_HASH_LEN];
  size_t n, counts[6], nch, hn, h3, ho, nh;
  fill();
  digest(before, &n);
  raw_records(raw0, NULL);
  feeds_digest(fbefore, &nch);
  histories(hbefore, &nh);
  size_t fresh = raw_v4_bytes(), fresh_squeezed = raw_value_bytes();
  cr_assert_lt(fresh_squeezed, fresh - fresh / 20, "squeezed: %zu of %zu bytes",
               fresh_squeezed, fresh);

  /* as the last format-3 build left it: version-3 records, no origin
   * numbers (nor their table), hist keys with the hlc and by feed number,
   * no mark */
  cr_assert_eq(make_old_v(0, 3, NULL, 0, 3), NREC);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[3], NREC);
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == 0 && h3 == NREC + NREC / 3 && ho == 0,
            "format 3's hist keys: %zu %zu %zu", hn, h3, ho);
  histories(hmid, &nh);
  cr_assert_arr_eq(hbefore, hmid, CRDT_HASH_LEN, "their histories read as "
                   "they are");
  size_t old = raw_value_bytes();
  /* every origin a record names is spelt in it (34 bytes), in format 4
   * one byte: NREC records of one origin, every third of two */
  cr_assert_eq(old - fresh, (size_t)33 * (NREC + NREC / 3),
               "%zu -> %zu bytes", old, fresh);
  digest_rdonly(mixed, 3);
  cr_assert_arr_eq(before, mixed, CRDT_HASH_LEN, "read as it is");
  {
    store *r;
    static t_field tf;
    uint8_t id[CRDT_ID_LEN];
    t_id(id, 7, 3);
    cr_assert_eq(store_open(dir, STORE_RDONLY, &r), GS_OK);
    cr_assert_eq(t_get(r, "resident", id, "name", &tf), GS_OK);
    cr_assert_str_eq(tf.str, "改3");
    cr_assert_eq(history_of(r, 3), 2);
    store_close(r);
  }
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[3], NREC, "nothing rewritten read-only");

  /* opened for writing: the records and the hist keys walked, told as
   * it goes, then compacted */
  static told t;
  store *s;
  store_opts o = {.progress = progress_told, .progress_ctx = &t};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  cr_assert_eq(format_of(s), STORE_FORMAT);
  char mark[8];
  cr_assert_eq(store_meta_get(s, "upgrade", mark, sizeof mark, &n),
               GS_ENOTFOUND, "done: no mark left");
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK, "every entry reads back");
  store_close(s);
  cr_assert_geq(t.n, 2);
  cr_assert_eq(t.what[t.n - 2], STORE_PROGRESS_FORMAT);
  uint64_t all = NREC + NREC + NREC + NREC / 3;
  cr_assert_eq(t.done[t.n - 2], all,
               "the records (twice: upgraded, squeezed) and the hist keys");
  cr_assert_eq(t.total[t.n - 2], all);
  cr_assert_eq(t.what[t.n - 1], STORE_PROGRESS_COMPACT);
  count_versions(counts, 0, NULL, NULL);
  all_squeezed(counts);
  cr_assert_eq(raw_v4_bytes(), fresh, "as small as a fresh store's");
  /* another dictionary (from more samples than the fresh store had when
   * it trained its own): as small or smaller */
  size_t squeezed = raw_value_bytes();
  cr_assert_lt(squeezed, fresh_squeezed + fresh_squeezed / 20,
               "squeezed again: %zu bytes, fresh %zu", squeezed,
               fresh_squeezed);
  raw_records(raw1, NULL);
  cr_assert_arr_eq(raw0, raw1, CRDT_HASH_LEN, "the same bytes as fresh");
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == NREC + NREC / 3 && h3 == 0 && ho == 0,
            "hist keys without the hlc: %zu %zu %zu", hn, h3, ho);
  histories(hafter, &nh);
  cr_assert_eq(nh, NREC / 5 + NREC / 15);
  cr_assert_arr_eq(hbefore, hafter, CRDT_HASH_LEN, "the same histories");
  digest(after, &n);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
  feeds_digest(fafter, &nch);
  cr_assert_arr_eq(fbefore, fafter, CRDT_HASH_LEN, "the same changes");
}

/* ---- format 4 (hist keys with the hlc) to format 5 ---- */

/* A store of format 4 as a build of it left it (its records as format
 * 5's, hist keys of 20-byte tails): only the hist keys rewritten, the
 * histories read the same before, as it is read-only, and after. */
Test(store_upgrade, a_format_4_store_gets_short_hist_keys_as_it_opens)
{
  uint8_t before[CRDT_HASH_LEN], mixed[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  uint8_t raw0[CRDT_HASH_LEN], raw1[CRDT_HASH_LEN];
  uint8_t hbefore[CRDT_HASH_LEN], hmid[CRDT_HASH_LEN], hafter[CRDT_HASH_LEN];
  size_t n, counts[6], hn, h3, ho, nh;
  fill();
  digest(before, &n);
  raw_records(raw0, NULL);
  histories(hbefore, &nh);
  cr_assert_eq(nh, NREC / 5 + NREC / 15);
  cr_assert_eq(make_old_v(0, 4, NULL, 0, 4), 0, "records as they are");
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == 0 && h3 == NREC + NREC / 3 && ho == 0);
  digest_rdonly(mixed, 4);
  cr_assert_arr_eq(before, mixed, CRDT_HASH_LEN);
  histories(hmid, &nh);
  cr_assert_arr_eq(hbefore, hmid, CRDT_HASH_LEN, "read as they are");

  static told t;
  store *s;
  store_opts o = {.progress = progress_told, .progress_ctx = &t};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  cr_assert_eq(format_of(s), STORE_FORMAT);
  char mark[8];
  cr_assert_eq(store_meta_get(s, "upgrade-hist", mark, sizeof mark, &n),
               GS_ENOTFOUND, "done: no mark left");
  cr_assert_eq(store_meta_get(s, "upgrade", mark, sizeof mark, &n),
               GS_ENOTFOUND);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK, "every entry reads back");
  store_close(s);
  cr_assert_geq(t.n, 2);
  cr_assert_eq(t.what[t.n - 2], STORE_PROGRESS_FORMAT);
  cr_assert_eq(t.done[t.n - 2], NREC + NREC + NREC / 3,
               "the records squeezed and the hist keys");
  cr_assert_eq(t.what[t.n - 1], STORE_PROGRESS_COMPACT);
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == NREC + NREC / 3 && h3 == 0 && ho == 0,
            "hist keys without the hlc: %zu %zu %zu", hn, h3, ho);
  count_versions(counts, 0, NULL, NULL);
  all_squeezed(counts);
  raw_records(raw1, NULL);
  cr_assert_arr_eq(raw0, raw1, CRDT_HASH_LEN, "the records untouched");
  histories(hafter, &nh);
  cr_assert_arr_eq(hbefore, hafter, CRDT_HASH_LEN, "the same histories");
  digest(after, &n);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
}

/* The hist pass cut short: the keys up to its mark short already, the
 * rest with their hlc; read as they are (both forms), then the pass
 * resumes past the mark. */
Test(store_upgrade, a_hist_upgrade_cut_short_resumes_from_its_mark)
{
  uint8_t hbefore[CRDT_HASH_LEN], hmid[CRDT_HASH_LEN], hafter[CRDT_HASH_LEN];
  uint8_t mk[96];
  size_t mkn = 0, hn, h3, ho, nh;
  fill();
  histories(hbefore, &nh);
  hlcs_read();
  raw_env r;
  raw_open(&r, true);
  hist_to_v3(&r, NREC / 2, mk, &mkn);
  cr_assert_gt(mkn, 0);
  MDB_val k = {12, "upgrade-hist"}, v = {mkn, mk};
  cr_assert_eq(mdb_put(r.txn, raw_db(&r, "meta"), &k, &v, 0), 0);
  raw_close(&r, NULL);
  count_hist(&hn, &h3, &ho);
  cr_assert(hn > 0 && h3 > 0 && ho == 0 && hn + h3 == NREC + NREC / 3,
            "half-way: %zu %zu", hn, h3);
  histories(hmid, &nh);
  cr_assert_arr_eq(hbefore, hmid, CRDT_HASH_LEN, "both forms read");

  static told t;
  store *s;
  store_opts o = {.progress = progress_told, .progress_ctx = &t};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  store_close(s);
  cr_assert_geq(t.n, 2);
  cr_assert_eq(t.done[t.n - 2], h3, "only the keys past the mark walked");
  count_hist(&hn, &h3, &ho);
  cr_assert(hn == NREC + NREC / 3 && h3 == 0 && ho == 0);
  histories(hafter, &nh);
  cr_assert_arr_eq(hbefore, hafter, CRDT_HASH_LEN);
}

Test(store_upgrade, a_format_2_upgrade_cut_short_resumes_from_its_mark)
{
  uint8_t before[CRDT_HASH_LEN], mixed[CRDT_HASH_LEN], key[512];
  uint8_t raw0[CRDT_HASH_LEN], raw1[CRDT_HASH_LEN];
  size_t n, counts[6], keyn = 0;
  fill();
  digest(before, &n);
  raw_records(raw0, NULL);
  /* as SIGKILL after the first batches left it: format 4 already, the
   * records up to the mark rewritten, the rest still in version 2 */
  count_versions(counts, 5999, key, &keyn);
  cr_assert_eq(make_old_v(6000, STORE_FORMAT, (const char *)key, keyn, 2),
               NREC - 6000);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[2], NREC - 6000);
  cr_assert_eq(counts[4], 6000);
  digest_rdonly(mixed, STORE_FORMAT);
  cr_assert_arr_eq(before, mixed, CRDT_HASH_LEN, "the half-way digest");
  /* an edit in between lands on an old record: written in version 3 */
  open_and_check_upgraded(before);
  raw_records(raw1, NULL);
  cr_assert_arr_eq(raw0, raw1, CRDT_HASH_LEN);
  /* and again from the very start */
  make_old_v(0, STORE_FORMAT, "", 0, 2);
  open_and_check_upgraded(before);
  raw_records(raw1, NULL);
  cr_assert_arr_eq(raw0, raw1, CRDT_HASH_LEN);
}

Test(store_upgrade, an_edit_of_a_version_2_record_writes_version_3)
{
  uint8_t mixed[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  size_t counts[6], n;
  fill();
  /* records in version 2 and no mark: the open leaves them so (as a
   * store another process is upgrading shows them to this one) */
  make_old_v(1, STORE_FORMAT, NULL, 0, 2);
  store *s;
  store_write *w;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  crdt_keypair(pk, sk);
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 7, 6);
  crdt_op ops[2] = {t_set_str("resident", id, "name", "新名", 6),
                    t_add_str("resident", id, "tags", "veteran")};
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, 2,
                                  T_NOW_MS + 100000, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  static t_field tf;
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "新名");
  cr_assert_eq(store_digest(s, NULL, 0, mixed, &n), GS_OK);
  store_close(s);
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[4], 2, "the first and the edited one");
  cr_assert_eq(counts[2], NREC - 2);
  /* all of them back in version 2 and upgraded: the digest stays */
  make_old_v(0, STORE_FORMAT, "", 0, 2);
  open_and_check_upgraded(mixed);
  digest(after, &n);
  cr_assert_arr_eq(mixed, after, CRDT_HASH_LEN);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "新名");
  store_close(s);
}

Test(store_upgrade, a_store_of_a_later_format_is_refused)
{
  fill();
  raw_env r;
  raw_open(&r, true);
  uint8_t f[8] = {0, 0, 0, 0, 0, 0, 0, STORE_FORMAT + 1};
  MDB_val k = {6, "format"}, v = {8, f};
  cr_assert_eq(mdb_put(r.txn, raw_db(&r, "meta"), &k, &v, 0), 0);
  raw_close(&r, NULL);
  store *s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_EVERSION);
  cr_assert_null(s);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_EVERSION);
}

/* How many records are sealed squeezed values (format 6's; opened with
 * key), with LMDB directly. */
static size_t count_sealed_squeezed(const uint8_t key[CRDT_SEAL_KEY_LEN])
{
  raw_env r;
  MDB_val k, v;
  size_t n = 0;
  crdt_sealer *sl;
  static uint8_t plain[65536], ad[600];
  cr_assert_eq(crdt_sealer_new(key, &sl), GS_OK);
  raw_open(&r, false);
  MDB_cursor *cur = raw_cursor(&r, "records");
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    cr_assert_leq(k.mv_size + 8, sizeof ad);
    memcpy(ad, "records", 8); /* the table's name and its 0, then the key */
    memcpy(ad + 8, k.mv_data, k.mv_size);
    cr_assert_geq(v.mv_size, CRDT_SEAL_OVERHEAD);
    cr_assert_leq(v.mv_size, sizeof plain);
    cr_assert_eq(crdt_sealer_open(sl, ad, 8 + k.mv_size, v.mv_data,
                                  v.mv_size, plain),
                 GS_OK, "every record sealed under its key");
    n += t_squeezed(plain, v.mv_size - CRDT_SEAL_OVERHEAD);
  }
  raw_close(&r, cur);
  crdt_sealer_free(sl);
  return n;
}

Test(store_upgrade, an_unsealed_format_2_store_given_a_key_is_upgraded_and_sealed)
{
  static const uint8_t key[CRDT_SEAL_KEY_LEN] = {7, 7, 7, 1};
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  size_t n, counts[6];
  fill();
  digest(before, &n);
  make_old_v(0, 2, NULL, 0, 2); /* an earlier build's: unsealed, format 2 */
  count_versions(counts, 0, NULL, NULL);
  cr_assert_eq(counts[2], NREC);
  store *s;
  store_opts o = {.key = key};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  cr_assert_eq(format_of(s), STORE_FORMAT);
  cr_assert_eq(store_digest(s, NULL, 0, after, &n), GS_OK);
  cr_assert_eq(n, NREC);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK, "every entry reads back");
  store_close(s);
  cr_assert_geq(count_sealed_squeezed(key), NREC - 10,
                "upgraded, squeezed, then sealed");
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ELOCKED);
}

Test(store_upgrade, a_hist_key_of_an_unknown_feed_number_is_corruption)
{
  fill();
  store *s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(history_of(s, 3), 2);
  store_close(s);
  /* the numbers' table lost: every hist key names a number not there */
  raw_env r;
  raw_open(&r, true);
  MDB_val k, v;
  MDB_cursor *cur = raw_cursor(&r, "feedno");
  size_t n = 0;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    n++;
  cr_assert_eq(n, 4, "two feeds: each by its number and its number by it");
  mdb_cursor_close(cur);
  cr_assert_eq(mdb_drop(r.txn, raw_db(&r, "feedno"), 0), 0);
  raw_close(&r, NULL);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  uint8_t id[CRDT_ID_LEN];
  size_t got = 0;
  t_id(id, 7, 3);
  cr_assert_eq(store_history(s, "resident", 8, id, count_change, &got),
               GS_ECORRUPT);
  store_close(s);
}


static void progress_told(void *ctx, int what, uint64_t done, uint64_t total)
{
  told *t = ctx;
  cr_assert_lt(t->n, 64);
  t->what[t->n] = what, t->done[t->n] = done, t->total[t->n] = total;
  t->n++;
}

Test(store_upgrade, a_format_2_upgrade_tells_its_progress_then_compaction)
{
  fill();
  cr_assert_eq(make_old_v(0, 2, NULL, 0, 2), NREC);
  static told t;
  store *s;
  store_opts o = {.progress = progress_told, .progress_ctx = &t};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  store_close(s);
  /* every record (twice: upgraded, squeezed) and hist key walked,
   * counted up to about all of them, then compaction once, last; nothing
   * sealed (no key) */
  uint64_t all = NREC + NREC + NREC + NREC / 3;
  cr_assert_geq(t.n, 2, "at least one step and the compaction");
  for (size_t i = 0; i + 1 < t.n; i++) {
    cr_assert_eq(t.what[i], STORE_PROGRESS_FORMAT, "step %zu", i);
    cr_assert_eq(t.total[i], all, "about all the entries");
    cr_assert(i == 0 || t.done[i] > t.done[i - 1], "counts only rise");
  }
  cr_assert_eq(t.done[t.n - 2], all, "the last step counts them all");
  cr_assert_eq(t.what[t.n - 1], STORE_PROGRESS_COMPACT);
  /* opened again: nothing left to upgrade, nothing told */
  t.n = 0;
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  store_close(s);
  cr_assert_eq(t.n, 0);
}

/* The batch that rewrote the last record left its mark on it (a SIGKILL
 * before the next batch found nothing past it): the next open ends the
 * pass, with nothing left to do and nothing refused. */
Test(store_upgrade, a_mark_on_the_last_record_ends_the_pass)
{
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN], key[512];
  size_t n, counts[6], keyn = 0;
  fill();
  digest(before, &n);
  count_versions(counts, NREC - 1, key, &keyn);
  cr_assert_eq(make_old_v(NREC, STORE_FORMAT, (const char *)key, keyn, 2), 0);
  store *s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  char mark[8];
  cr_assert_eq(store_meta_get(s, "upgrade", mark, sizeof mark, &n),
               GS_ENOTFOUND, "the pass ended");
  store_close(s);
  digest(after, &n);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN);
}
