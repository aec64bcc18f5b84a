/* store: a change kept in its page (issue 20). A change whose level-1
 * frame, as stored (sealed or not), lands just over the largest value
 * LMDB keeps in a leaf page is packed again and kept in its page: the
 * `changes` database has no overflow page, and the change reads back
 * byte for byte. A change that cannot fit is kept as level 1 made it.
 * The limit is found on LMDB itself (a scratch environment's overflow
 * count), not from the store's arithmetic. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <zstd.h>

#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char scratch[64];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  cr_assert(t_mkdtemp(scratch, sizeof scratch), "mkdtemp");
}

static void teardown(void)
{
  t_rmtree(dir);
  t_rmtree(scratch);
}

TestSuite(store_inpage, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";
static const uint8_t seal_key[CRDT_SEAL_KEY_LEN] = {7, 7, 7, 1};
#define KEY_LEN (CRDT_FEED_LEN + 8) /* a change's key: feed, seq */

/* ---- LMDB, opened directly ---- */

static void env_open(const char *where, unsigned flags, MDB_env **env,
                     MDB_txn **txn)
{
  cr_assert_eq(mdb_env_create(env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(*env, 32), 0);
  cr_assert_eq(mdb_env_set_mapsize(*env, (size_t)1 << 28), 0);
  cr_assert_eq(mdb_env_open(*env, where, flags, 0600), 0);
  cr_assert_eq(mdb_txn_begin(*env, NULL, flags & MDB_RDONLY, txn), 0);
}

/* The largest value LMDB keeps in a leaf page under a change's key, by
 * trying: values of growing size put in a scratch environment until one
 * takes an overflow page. */
static size_t in_page_max(void)
{
  static size_t max;
  if (max)
    return max;
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
  static uint8_t v[8192];
  env_open(scratch, MDB_NOSYNC, &env, &txn);
  cr_assert_eq(mdb_dbi_open(txn, "probe", MDB_CREATE, &db), 0);
  for (size_t n = 1024; n < sizeof v && !max; n++) {
    uint8_t k[KEY_LEN] = {0};
    k[KEY_LEN - 2] = (uint8_t)(n >> 8);
    k[KEY_LEN - 1] = (uint8_t)n;
    MDB_val kv = {sizeof k, k}, vv = {n, v};
    MDB_stat st;
    cr_assert_eq(mdb_put(txn, db, &kv, &vv, 0), 0);
    cr_assert_eq(mdb_stat(txn, db, &st), 0);
    if (st.ms_overflow_pages)
      max = n - 1;
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  cr_assert_gt(max, 0);
  return max;
}

/* The store's `changes` database: entries and overflow pages. */
static void changes_stat(size_t *entries, size_t *overflow)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
  MDB_stat st;
  env_open(dir, MDB_RDONLY, &env, &txn);
  cr_assert_eq(mdb_dbi_open(txn, "changes", 0, &db), 0);
  cr_assert_eq(mdb_stat(txn, db, &st), 0);
  *entries = st.ms_entries;
  *overflow = st.ms_overflow_pages;
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

/* ---- changes ---- */

#define NRES_MAX 48
static t_residents rs;
static crdt_op ops[NRES_MAX * 8 + 1];

/* A change of f (seq 1) shaped like a bulk load's (t_resident_ops). *raw
 * is malloc'd. */
static void resident_change(const t_feed *f, size_t nres, size_t pad,
                            uint8_t **raw, size_t *n)
{
  cr_assert_leq(nres, NRES_MAX);
  size_t k = t_resident_ops(&rs, nres, pad, ops);
  cr_assert_eq(t_build(f, 1, NULL, f->hlc + 1, ops, k, raw, n), GS_OK);
}

/* A change of f (seq 1) that packs only by a long run: nnoise bytes of
 * noise (no parser finds anything in them) and 8 KiB of one letter. */
static void noise_change(const t_feed *f, size_t nnoise, uint8_t **raw,
                         size_t *n)
{
  static uint8_t noise[4096];
  static char run[8192];
  uint8_t id[CRDT_ID_LEN];
  cr_assert_leq(nnoise, sizeof noise);
  t_noise(noise, nnoise, 99);
  memset(run, 'x', sizeof run);
  t_id(id, 3, 1);
  crdt_op o[2];
  o[0] = t_set_str("file", id, "blob", (const char *)noise, nnoise);
  o[0].value.type = CRDT_BYTES;
  o[1] = t_set_str("file", id, "pad", run, sizeof run);
  cr_assert_eq(t_build(f, 1, NULL, f->hlc + 1, o, 2, raw, n), GS_OK);
}

/* raw's level-1 frame (the store's first try), malloc'd. */
static uint8_t *level1(const uint8_t *raw, size_t n, size_t *zn)
{
  size_t cap = ZSTD_compressBound(n);
  uint8_t *z = malloc(cap);
  cr_assert(z);
  *zn = ZSTD_compress(z, cap, raw, n, 1);
  cr_assert(!ZSTD_isError(*zn));
  return z;
}

/* A feed of a fixed key: the same changes on every run. */
static void feed_fixed(t_feed *f, uint8_t seed0)
{
  uint8_t seed[32] = {seed0};
  t_feed_init(f, scope);
  crdt_keypair_seed(seed, f->pk, f->sk);
  crdt_feed_id(f->pk, f->scope, strlen(f->scope), f->feed);
}

/* A resident change of f whose level-1 frame, stored with over more
 * bytes (the seal's), is over in_page_max() by 1 to slack bytes. */
static void change_just_over(const t_feed *f, size_t over, size_t slack,
                             uint8_t **raw, size_t *n)
{
  size_t max = in_page_max();
  for (size_t nres = 20; nres <= NRES_MAX; nres++) {
    for (size_t pad = 0; pad < 400; pad += 2) {
      size_t zn;
      resident_change(f, nres, pad, raw, n);
      free(level1(*raw, *n, &zn));
      if (zn + over > max + slack)
        break; /* more pad only adds */
      if (zn + over > max)
        return;
      free(*raw);
    }
  }
  cr_assert_fail("no resident change lands just over %zu", max);
}

/* ---- reading back ---- */

typedef struct got {
  uint8_t *b;
  size_t n, raw_len, calls;
} got;

static int on_raw(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  got *g = ctx;
  (void)seq;
  g->calls++;
  g->b = malloc(n);
  memcpy(g->b, b, n);
  g->n = n;
  return 0;
}

static int on_kept(void *ctx, uint64_t seq, const uint8_t *b, size_t n,
                   size_t raw_len)
{
  got *g = ctx;
  g->raw_len = raw_len;
  return on_raw(ctx, seq, b, n);
}

static gs_err open_store(bool sealed, unsigned flags, store **s)
{
  store_opts o = {.key = sealed ? seal_key : NULL};
  return store_open_ex(dir, flags, &o, s);
}

/* f's change 1, as read (raw) and as kept (the frame, opened). */
static void read_back(bool sealed, const t_feed *f, got *raw, got *kept)
{
  store *s;
  cr_assert_eq(open_store(sealed, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(store_feed_read(s, f->feed, 1, 1, on_raw, raw), GS_OK);
  cr_assert_eq(store_feed_read_kept(s, f->feed, 1, 1, on_kept, kept), GS_OK);
  store_close(s);
  cr_assert_eq(raw->calls, 1);
  cr_assert_eq(kept->calls, 1);
}

static bool is_frame(const uint8_t *b, size_t n)
{
  return n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0;
}

static void apply_raw(store *s, const uint8_t *raw, size_t n)
{
  store_result res;
  cr_assert_eq(t_apply1(s, raw, n, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
}

/* A change whose level-1 frame is just over the limit (by 1 to 8 bytes,
 * as stored) is kept in its page, a smaller frame of the same bytes. */
static void just_over_is_kept_in_page(bool sealed)
{
  size_t over = sealed ? CRDT_SEAL_OVERHEAD : 0;
  t_feed f;
  uint8_t *raw;
  size_t n, zn, entries, overflow;
  store *s;
  feed_fixed(&f, 1);
  change_just_over(&f, over, 8, &raw, &n);
  uint8_t *z1 = level1(raw, n, &zn);
  cr_assert_gt(zn + over, in_page_max(), "level 1 alone would overflow");

  cr_assert_eq(open_store(sealed, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  apply_raw(s, raw, n);
  store_close(s);

  changes_stat(&entries, &overflow);
  cr_assert_eq(entries, 1);
  cr_assert_eq(overflow, 0, "kept in its page (%zu overflow pages)",
               overflow);
  got r = {0}, k = {0};
  read_back(sealed, &f, &r, &k);
  cr_assert_eq(r.n, n);
  cr_assert(memcmp(r.b, raw, n) == 0, "read back byte for byte");
  cr_assert(is_frame(k.b, k.n), "kept packed");
  cr_assert_eq(k.raw_len, n);
  cr_assert_lt(k.n, zn, "packed smaller than level 1 did");
  cr_assert_leq(k.n + over, in_page_max());
  /* and it unpacks, with any zstd, to the change */
  uint8_t *u = malloc(n);
  cr_assert_eq(ZSTD_decompress(u, n, k.b, k.n), n);
  cr_assert(memcmp(u, raw, n) == 0);
  free(u);
  free(r.b), free(k.b), free(z1), free(raw);
}

Test(store_inpage, a_change_just_over_the_limit_is_kept_in_its_page)
{
  just_over_is_kept_in_page(false);
}

Test(store_inpage, a_sealed_change_just_over_the_limit_is_kept_in_its_page)
{
  just_over_is_kept_in_page(true);
}

/* A change that cannot fit: its level-1 frame is just over the limit too
 * (by 24 to 48 bytes: within the store's reach, a 25th of the frame), but
 * it is noise that no parser packs smaller. It is kept as level 1 made
 * it, on its overflow page; a change just over beside it, in the same
 * store, fits. */
static void cannot_fit_stays_level_1(bool sealed)
{
  size_t over = sealed ? CRDT_SEAL_OVERHEAD : 0, max = in_page_max();
  t_feed fa, fb;
  uint8_t *ra = NULL, *rb_ = NULL;
  size_t na, nb = 0, za, zb = 0, entries, overflow;
  feed_fixed(&fa, 2);
  feed_fixed(&fb, 3); /* another feed */
  change_just_over(&fa, over, 8, &ra, &na);
  uint8_t *z1a = level1(ra, na, &za);
  uint8_t *z1b = NULL;
  for (size_t nn = max / 2; nn < max + 200; nn++) {
    noise_change(&fb, nn, &rb_, &nb);
    z1b = level1(rb_, nb, &zb);
    if (zb + over >= max + 24 && zb + over <= max + 48)
      break;
    free(z1b), free(rb_);
    z1b = NULL;
  }
  cr_assert(z1b, "a noise change just over the limit");
  cr_assert_lt(zb + 16, nb, "one the store keeps packed");

  store *s;
  cr_assert_eq(open_store(sealed, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  apply_raw(s, ra, na);
  apply_raw(s, rb_, nb);
  store_close(s);

  changes_stat(&entries, &overflow);
  cr_assert_eq(entries, 2);
  cr_assert_eq(overflow, 1, "the noise change on its overflow page, the "
                            "other in its page (%zu)",
               overflow);
  got r = {0}, k = {0};
  read_back(sealed, &fb, &r, &k);
  cr_assert_eq(r.n, nb);
  cr_assert(memcmp(r.b, rb_, nb) == 0, "read back byte for byte");
  cr_assert_eq(k.n, zb, "kept as level 1 made it");
  cr_assert(memcmp(k.b, z1b, zb) == 0);
  free(r.b), free(k.b);
  got r2 = {0}, k2 = {0};
  read_back(sealed, &fa, &r2, &k2);
  cr_assert_eq(r2.n, na);
  cr_assert(memcmp(r2.b, ra, na) == 0);
  cr_assert_lt(k2.n, za);
  free(r2.b), free(k2.b);
  free(z1a), free(z1b), free(ra), free(rb_);
}

Test(store_inpage, a_change_that_cannot_fit_stays_as_level_1_made_it)
{
  cannot_fit_stays_level_1(false);
}

Test(store_inpage, a_sealed_change_that_cannot_fit_stays_as_level_1_made_it)
{
  cannot_fit_stays_level_1(true);
}
