/* store: records squeezed by a dictionary trained from the store's own
 * records (store format 6; storage/store.c, "record dictionaries"). Below
 * ZDICT_MIN (1,000) records a store has no dictionary and keeps records
 * as version 4; at the write that brings it there it trains one and
 * squeezes every record, shorter, and reads each back as before (the
 * same fields, the same digest as the records unsqueezed); a dictionary
 * trained in a transaction that is aborted or replayed is not left
 * behind nor used; the dictionary is sealed in a sealed store; a damaged
 * squeezed value, or one whose dictionary is gone, is corruption
 * (GS_ECORRUPT), never a crash; records that do not squeeze are kept as
 * they are. */
#include <criterion/criterion.h>
#include <lmdb.h>

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

TestSuite(store_squeeze, .init = setup, .fini = teardown, .timeout = 120);

static const char scope[] = "gongrencun/qinghejv/g07";
static const uint8_t key_a[CRDT_SEAL_KEY_LEN] = {9, 8, 7, 6, 5};
#define ZDICT_MIN 1000 /* store.c's */

static gs_err open_at(bool sealed, store **s)
{
  store_opts o = {.key = sealed ? key_a : NULL};
  return store_open_ex(dir, STORE_CREATE | STORE_NOSYNC, &o, s);
}

/* Residents [from, to) written in one session (a change each, as a
 * person's edits are), as a community's look: a name, a building, a
 * phone, a birth year. noise: a name of random bytes instead (nothing
 * for a dictionary to find). abort: the session aborted, not committed;
 * replay: redone once in a new transaction before the commit. */
static void residents(store *s, size_t from, size_t to, bool noise,
                      bool abort, bool replay)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {42};
  store_write *w;
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (size_t i = from; i < to; i++) {
    uint8_t id[CRDT_ID_LEN];
    char name[48], bld[32], phone[16];
    t_id(id, 3, i);
    if (noise) {
      uint8_t raw[20]; /* 40 hex digits */
      t_noise(raw, sizeof raw, i + 1);
      for (size_t j = 0; j < sizeof raw; j++)
        snprintf(name + 2 * j, 3, "%02x", raw[j]);
    } else {
      snprintf(name, sizeof name, "张秀英%zu", i);
    }
    snprintf(bld, sizeof bld, "%zu号楼", 1 + i % 12);
    snprintf(phone, sizeof phone, "1380013%04zu", i % 10000);
    crdt_op ops[4] = {
        t_set_str("resident", id, "name", name, strlen(name)),
        t_set_str("resident", id, "building", bld, strlen(bld)),
        t_set_str("resident", id, "phone", phone, strlen(phone)),
        t_set_int("resident", id, "birth_year", (int64_t)(1935 + i % 60)),
    };
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, 4,
                                    T_NOW_MS + i, NULL, NULL),
                 GS_OK);
  }
  if (abort) {
    store_write_abort(w);
    return;
  }
  if (replay)
    cr_assert_eq(store__write_replay(w), GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
}

/* ---- the raw tables ---- */

typedef struct raw_env {
  MDB_env *env;
  MDB_txn *txn;
} raw_env;

static void raw_open(raw_env *r, bool write)
{
  cr_assert_eq(mdb_env_create(&r->env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(r->env, 16), 0);
  cr_assert_eq(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
  cr_assert_eq(mdb_env_open(r->env, dir, write ? MDB_NOSYNC : MDB_RDONLY,
                            0600),
               0);
  cr_assert_eq(mdb_txn_begin(r->env, NULL, write ? 0 : MDB_RDONLY, &r->txn),
               0);
}

static void raw_close(raw_env *r, bool commit)
{
  if (commit)
    cr_assert_eq(mdb_txn_commit(r->txn), 0);
  else
    mdb_txn_abort(r->txn);
  mdb_env_close(r->env);
}

static MDB_dbi raw_db(raw_env *r, const char *name)
{
  MDB_dbi db;
  cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &db), 0);
  return db;
}

/* A cursor of the records table at its entry i (k, v). */
static MDB_cursor *raw_nth(raw_env *r, size_t i, MDB_val *k, MDB_val *v)
{
  MDB_cursor *cur;
  cr_assert_eq(mdb_cursor_open(r->txn, raw_db(r, "records"), &cur), 0);
  cr_assert_eq(mdb_cursor_get(cur, k, v, MDB_FIRST), 0);
  for (size_t at = 0; at < i; at++)
    cr_assert_eq(mdb_cursor_get(cur, k, v, MDB_NEXT), 0);
  return cur;
}

/* The value of cur's entry (key k) replaced by b (n bytes). */
static void raw_put_current(MDB_cursor *cur, const MDB_val *k, const void *b,
                            size_t n)
{
  /* a copy of the key: a put that resizes the value moves its page */
  uint8_t kb[512];
  cr_assert_leq(k->mv_size, sizeof kb);
  memcpy(kb, k->mv_data, k->mv_size);
  MDB_val nk = {k->mv_size, kb}, nv = {n, (void *)b};
  cr_assert_eq(mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT), 0);
}

/* The dictionary of an unsealed store (dn 0: none), copied to d. */
static void raw_dict(raw_env *r, uint8_t d[16384], size_t *dn)
{
  MDB_val k = {7, "zdict:1"}, v;
  *dn = 0;
  if (mdb_get(r->txn, raw_db(r, "meta"), &k, &v) != 0)
    return;
  cr_assert(v.mv_size > 0 && v.mv_size <= 16384);
  memcpy(d, v.mv_data, v.mv_size);
  *dn = v.mv_size;
}

typedef struct census {
  size_t records, squeezed, v4, other;
  size_t bytes, v4_bytes; /* as kept; unsqueezed */
} census;

/* Every record of an unsealed store, counted by its form, each squeezed
 * one unsqueezed by the store's dictionary. */
static census count_records(void)
{
  raw_env r;
  census c = {0};
  static uint8_t d[16384], v4[4096];
  size_t dn, got;
  MDB_val k, v;
  MDB_cursor *cur;
  raw_open(&r, false);
  raw_dict(&r, d, &dn);
  cr_assert_eq(mdb_cursor_open(r.txn, raw_db(&r, "records"), &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    const uint8_t *b = v.mv_data;
    c.records++;
    c.bytes += v.mv_size;
    if (t_squeezed(v.mv_data, v.mv_size)) {
      c.squeezed++;
      cr_assert(dn, "a squeezed record, and no dictionary");
      cr_assert(t_unsqueeze(d, dn, v.mv_data, v.mv_size, v4, sizeof v4, &got),
                "a squeezed record unsqueezes");
      cr_assert_lt(v.mv_size, got, "squeezed only when shorter");
      c.v4_bytes += got;
    } else if (v.mv_size >= 2 && b[0] == 0x95 && b[1] == 4) {
      c.v4++;
      c.v4_bytes += v.mv_size;
    } else {
      c.other++;
    }
  }
  mdb_cursor_close(cur);
  raw_close(&r, false);
  return c;
}

/* Every record unsqueezed in place and the dictionary removed, with LMDB
 * directly: the store as format 5 kept the same records. */
static void unsqueeze_all(void)
{
  raw_env r;
  static uint8_t d[16384], v4[4096];
  size_t dn, got;
  MDB_val k, v;
  MDB_cursor *cur;
  raw_open(&r, true);
  raw_dict(&r, d, &dn);
  cr_assert(dn);
  cr_assert_eq(mdb_cursor_open(r.txn, raw_db(&r, "records"), &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    if (!t_squeezed(v.mv_data, v.mv_size))
      continue;
    cr_assert(t_unsqueeze(d, dn, v.mv_data, v.mv_size, v4, sizeof v4, &got));
    raw_put_current(cur, &k, v4, got);
  }
  mdb_cursor_close(cur);
  MDB_val dk = {7, "zdict:1"};
  cr_assert_eq(mdb_del(r.txn, raw_db(&r, "meta"), &dk, NULL), 0);
  raw_close(&r, true);
}

static void digest_of(store *s, uint8_t out[CRDT_HASH_LEN], size_t want)
{
  size_t n;
  cr_assert_eq(store_digest(s, "", 0, out, &n), GS_OK);
  cr_assert_eq(n, want);
}

static void name_is(store *s, size_t i, const char *want)
{
  static t_field tf;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 3, i);
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_OK, "resident %zu",
               i);
  cr_assert_str_eq(tf.str, want);
}

static void names_read_back(store *s, size_t n)
{
  for (size_t i = 0; i < n; i += 97) {
    char name[48];
    snprintf(name, sizeof name, "张秀英%zu", i);
    name_is(s, i, name);
  }
}

Test(store_squeeze, below_the_threshold_nothing_is_squeezed)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, ZDICT_MIN - 1, false, false, false);
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.records, ZDICT_MIN - 1);
  cr_assert_eq(c.v4, ZDICT_MIN - 1, "every record version 4");
  cr_assert_eq(c.squeezed, 0);
  raw_env r;
  uint8_t d[16384];
  size_t dn;
  raw_open(&r, false);
  raw_dict(&r, d, &dn);
  raw_close(&r, false);
  cr_assert_eq(dn, 0, "no dictionary yet");
}

Test(store_squeeze, the_thousandth_record_squeezes_them_all_and_they_read_back)
{
  store *s;
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, ZDICT_MIN - 1, false, false, false);
  residents(s, ZDICT_MIN - 1, 1500, false, false, false);
  names_read_back(s, 1500);
  digest_of(s, d1, 1500);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK, "every entry reads back");
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.records, 1500);
  cr_assert_eq(c.other, 0);
  cr_assert_eq(c.squeezed, 1500, "every record squeezed (%zu as version 4)",
               c.v4);
  cr_assert_lt(c.bytes * 2, c.v4_bytes, "squeezed to under half: %zu of %zu",
               c.bytes, c.v4_bytes);
  cr_log_info("1,500 residents: %zu bytes squeezed, %zu as version 4",
              c.bytes, c.v4_bytes);

  /* reopened: the same; then the same records unsqueezed (as format 5
   * kept them) give the same digest, read-only */
  cr_assert_eq(open_at(false, &s), GS_OK);
  names_read_back(s, 1500);
  digest_of(s, d2, 1500);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN);
  store_close(s);
  unsqueeze_all();
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  digest_of(s, d2, 1500);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN, "the digest is of the records, "
                   "not of how they are kept");
  store_close(s);
}

Test(store_squeeze, an_edit_writes_the_record_squeezed_again)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, 1200, false, false, false);
  store_close(s);
  unsqueeze_all(); /* as format 5 left them, without the upgrade's marks */
  cr_assert_eq(open_at(false, &s), GS_OK);
  /* one more resident: the dictionary trained now, every record squeezed */
  residents(s, 1200, 1201, false, false, false);
  name_is(s, 1200, "张秀英1200");
  names_read_back(s, 1201);
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.squeezed, 1201);
}

Test(store_squeeze, a_dictionary_of_an_aborted_session_is_not_kept_nor_used)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, 600, false, false, false);
  /* trains at its 1,000th record, then aborted: nothing of it stays */
  residents(s, 600, 1300, false, true, false);
  census c = count_records();
  cr_assert_eq(c.records, 600);
  cr_assert_eq(c.squeezed, 0);
  /* the next session, below the threshold: squeezes nothing (with the
   * dictionary of the aborted one, its records would not read back) */
  residents(s, 600, 900, false, false, false);
  store_close(s);
  c = count_records();
  cr_assert_eq(c.records, 900);
  cr_assert_eq(c.squeezed, 0, "nothing squeezed by a dictionary not kept");
  cr_assert_eq(open_at(false, &s), GS_OK);
  names_read_back(s, 900);
  /* and past it: a dictionary of its own */
  residents(s, 900, 1100, false, false, false);
  names_read_back(s, 1100);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
  c = count_records();
  cr_assert_eq(c.squeezed, 1100);
}

Test(store_squeeze, a_replayed_session_trains_again_in_its_new_transaction)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, 1400, false, false, true);
  names_read_back(s, 1400);
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.squeezed, 1400);
  cr_assert_eq(open_at(false, &s), GS_OK);
  names_read_back(s, 1400);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
}

Test(store_squeeze, a_sealed_store_seals_its_dictionary)
{
  store *s;
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  cr_assert_eq(open_at(true, &s), GS_OK);
  residents(s, 0, 1200, false, false, false);
  names_read_back(s, 1200);
  digest_of(s, d1, 1200);
  store_close(s);
  /* with LMDB directly: the dictionary opens only with the key, and no
   * resident's name is readable in it */
  raw_env r;
  raw_open(&r, false);
  MDB_val k = {7, "zdict:1"}, v;
  cr_assert_eq(mdb_get(r.txn, raw_db(&r, "meta"), &k, &v), 0);
  cr_assert_gt(v.mv_size, CRDT_SEAL_OVERHEAD);
  cr_assert_null(memmem(v.mv_data, v.mv_size, "张秀英", strlen("张秀英")),
                 "no plaintext of a resident in the sealed dictionary");
  static uint8_t d[16384];
  uint8_t ad[16] = "meta";
  memcpy(ad + 5, "zdict:1", 7);
  cr_assert_leq(v.mv_size - CRDT_SEAL_OVERHEAD, sizeof d);
  cr_assert_eq(crdt_seal_open(key_a, ad, 12, v.mv_data, v.mv_size, d), GS_OK);
  cr_assert_not_null(memmem(d, v.mv_size - CRDT_SEAL_OVERHEAD, "张秀英",
                            strlen("张秀英")),
                     "opened: made of the residents' records");
  /* and the records squeezed under the seal */
  MDB_cursor *cur;
  size_t squeezed = 0;
  static uint8_t plain[4096];
  cr_assert_eq(mdb_cursor_open(r.txn, raw_db(&r, "records"), &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    uint8_t rad[160];
    cr_assert_leq(k.mv_size + 8, sizeof rad);
    memcpy(rad, "records", 8);
    memcpy(rad + 8, k.mv_data, k.mv_size);
    cr_assert_leq(v.mv_size, sizeof plain);
    cr_assert_eq(crdt_seal_open(key_a, rad, 8 + k.mv_size, v.mv_data,
                                v.mv_size, plain),
                 GS_OK);
    squeezed += t_squeezed(plain, v.mv_size - CRDT_SEAL_OVERHEAD);
  }
  mdb_cursor_close(cur);
  raw_close(&r, false);
  cr_assert_eq(squeezed, 1200);
  cr_assert_eq(open_at(true, &s), GS_OK);
  digest_of(s, d2, 1200);
  cr_assert_arr_eq(d1, d2, CRDT_HASH_LEN);
  store_close(s);
}

Test(store_squeeze, records_with_nothing_in_common_are_kept_as_they_are)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, 1100, true, false, false);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.records, 1100);
  cr_assert_eq(c.other, 0);
  /* a dictionary still finds the building, phone and stamps in common:
   * whatever it squeezed is shorter (count_records checks), the rest is
   * version 4 */
  cr_assert_eq(c.squeezed + c.v4, 1100);
  cr_assert_leq(c.bytes, c.v4_bytes);
}

/* Copy file from to to; 0 on success. */
static int t_copy_file(const char *from, const char *to)
{
  FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
  static char buf[1 << 16];
  size_t n;
  int rc = in && out ? 0 : -1;
  while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
    rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
  if (in && ferror(in))
    rc = -1;
  if (out && fclose(out) != 0)
    rc = -1;
  if (in)
    fclose(in);
  return rc;
}

/* Record i's raw value replaced by what damage makes of it. */
typedef void (*damage_fn)(uint8_t *b, size_t *n, uint64_t seed);

static void damage_record(size_t i, damage_fn f, uint64_t seed)
{
  raw_env r;
  raw_open(&r, true);
  MDB_val k, v;
  MDB_cursor *cur = raw_nth(&r, i, &k, &v);
  static uint8_t b[4096];
  size_t n = v.mv_size;
  cr_assert(t_squeezed(v.mv_data, n));
  memcpy(b, v.mv_data, n);
  f(b, &n, seed);
  raw_put_current(cur, &k, b, n);
  mdb_cursor_close(cur);
  raw_close(&r, true);
}

static void cut_short(uint8_t *b, size_t *n, uint64_t seed)
{
  (void)b;
  *n = 3 + seed % (*n - 3);
}

static void flip_byte(uint8_t *b, size_t *n, uint64_t seed)
{
  size_t at = 3 + seed % (*n - 3);
  b[at] ^= (uint8_t)(1 + (seed >> 8) % 255);
}

static void other_dict(uint8_t *b, size_t *n, uint64_t seed)
{
  (void)n;
  b[2] = (uint8_t)(2 + seed % 250);
}

static void longer(uint8_t *b, size_t *n, uint64_t seed)
{
  b[*n] = (uint8_t)seed;
  ++*n;
}

/* store_check over a store with record i damaged: GS_OK (a flip in a
 * literal gives other bytes that still decode: an unsealed store does not
 * tell, as with a record kept plain) or GS_ECORRUPT, never a crash; the
 * cuts, a trailing byte and an unknown dictionary always corruption. */
static gs_err check_after(size_t i, damage_fn f, uint64_t seed)
{
  store *s;
  uint64_t entries;
  damage_record(i, f, seed);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  gs_err err = store_check(s, &entries);
  store_close(s);
  cr_assert(err == GS_OK || err == GS_ECORRUPT, "%d", err);
  return err;
}

Test(store_squeeze, a_damaged_squeezed_record_is_corruption_never_a_crash)
{
  store *s;
  cr_assert_eq(open_at(false, &s), GS_OK);
  residents(s, 0, 1100, false, false, false);
  store_close(s);
  char backup[128], data[128];
  snprintf(data, sizeof data, "%s/data.mdb", dir);
  snprintf(backup, sizeof backup, "%s/data.bak", dir);
  cr_assert_eq(t_copy_file(data, backup), 0);
  damage_fn always[] = {cut_short, other_dict, longer};
  for (size_t f = 0; f < sizeof always / sizeof *always; f++)
    for (uint64_t seed = 1; seed <= 8; seed++) {
      cr_assert_eq(t_copy_file(backup, data), 0);
      cr_assert_eq(check_after(seed * 131, always[f], seed * 7919),
                   GS_ECORRUPT, "damage %zu, seed %llu", f,
                   (unsigned long long)seed);
    }
  size_t corrupt = 0;
  for (uint64_t seed = 1; seed <= 64; seed++) {
    cr_assert_eq(t_copy_file(backup, data), 0);
    corrupt += check_after(seed * 17, flip_byte, seed * 104729) == GS_ECORRUPT;
  }
  cr_log_info("a flipped byte: %zu of 64 told as corruption", corrupt);
  cr_assert_gt(corrupt, 0);

  /* the dictionary gone: every squeezed record is corruption */
  cr_assert_eq(t_copy_file(backup, data), 0);
  raw_env r;
  raw_open(&r, true);
  MDB_val dk = {7, "zdict:1"};
  cr_assert_eq(mdb_del(r.txn, raw_db(&r, "meta"), &dk, NULL), 0);
  raw_close(&r, true);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  static t_field tf;
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 3, 5);
  cr_assert_eq(t_get(s, "resident", id, "name", &tf), GS_ECORRUPT);
  store_close(s);
}

/* ---- squeezed on two threads ---- */

/* The version-4 bytes of every record of the store at d, in key order,
 * hashed (squeezed ones unsqueezed; sealed ones opened with key_a), and
 * how many were squeezed. */
static void plain_hash(const char *d, bool sealed, uint8_t out[CRDT_HASH_LEN],
                       size_t *squeezed, size_t *records)
{
  raw_env r;
  static uint8_t dict[16384], v4[4096], plain[4096];
  size_t dn = 0, got;
  MDB_val k, v;
  MDB_cursor *cur;
  crdt_hasher h;
  char keep[64];
  memcpy(keep, dir, sizeof keep);
  snprintf(dir, sizeof dir, "%s", d); /* raw_open opens dir */
  raw_open(&r, false);
  memcpy(dir, keep, sizeof keep);
  MDB_val dk = {7, "zdict:1"}, dv;
  if (mdb_get(r.txn, raw_db(&r, "meta"), &dk, &dv) == 0) {
    if (sealed) {
      uint8_t ad[16] = "meta";
      memcpy(ad + 5, "zdict:1", 7);
      cr_assert_eq(crdt_seal_open(key_a, ad, 12, dv.mv_data, dv.mv_size, dict),
                   GS_OK);
      dn = dv.mv_size - CRDT_SEAL_OVERHEAD;
    } else {
      memcpy(dict, dv.mv_data, dv.mv_size);
      dn = dv.mv_size;
    }
  }
  crdt_hasher_init(&h);
  *squeezed = *records = 0;
  cr_assert_eq(mdb_cursor_open(r.txn, raw_db(&r, "records"), &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
    const void *p = v.mv_data;
    size_t n = v.mv_size;
    if (sealed) {
      uint8_t rad[160];
      cr_assert_leq(k.mv_size + 8, sizeof rad);
      memcpy(rad, "records", 8);
      memcpy(rad + 8, k.mv_data, k.mv_size);
      cr_assert_eq(crdt_seal_open(key_a, rad, 8 + k.mv_size, v.mv_data,
                                  v.mv_size, plain),
                   GS_OK);
      p = plain;
      n = v.mv_size - CRDT_SEAL_OVERHEAD;
    }
    *squeezed += t_squeezed(p, n);
    ++*records;
    cr_assert(t_unsqueeze(dict, dn, p, n, v4, sizeof v4, &got));
    crdt_hasher_update(&h, k.mv_data, k.mv_size);
    crdt_hasher_update(&h, v4, got);
  }
  mdb_cursor_close(cur);
  raw_close(&r, false);
  crdt_hasher_final(&h, out);
}

/* The changes of 1,500 residents (one each, as residents() writes them)
 * applied to a store at p in batches of 1,500 (chunks of 1,024 records:
 * the second thread squeezes) and to one at q a change at a time (one
 * thread), then all edited again the same way: the same records, byte
 * for byte before squeezing, both squeezed, the same digest. */
static void two_threads_squeeze_as_one(bool sealed)
{
  char src[96], p[96], q[96];
  store *s, *sp, *sq;
  t_raws set = {0};
  snprintf(src, sizeof src, "%s/src", dir);
  snprintf(p, sizeof p, "%s/p", dir);
  snprintf(q, sizeof q, "%s/q", dir);
  cr_assert_eq(mkdir(src, 0700), 0);
  cr_assert_eq(mkdir(p, 0700), 0);
  cr_assert_eq(mkdir(q, 0700), 0);
  cr_assert_eq(store_open(src, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  residents(s, 0, 1500, false, false, false);
  residents(s, 0, 1500, false, false, false); /* every one edited */
  cr_assert_eq(t_raws_read(s, NULL, &set), GS_OK);
  store_close(s);
  cr_assert_eq(set.len, 3000);
  store_opts o = {.key = sealed ? key_a : NULL};
  cr_assert_eq(store_open_ex(p, STORE_CREATE | STORE_NOSYNC, &o, &sp), GS_OK);
  cr_assert_eq(store_open_ex(q, STORE_CREATE | STORE_NOSYNC, &o, &sq), GS_OK);
  store_result res;
  for (size_t at = 0; at < set.len; at += 1500)
    cr_assert_eq(store_apply(sp, (const uint8_t *const *)set.b + at,
                             set.n + at, 1500, &res, NULL),
                 GS_OK);
  for (size_t i = 0; i < set.len; i++)
    cr_assert_eq(store_apply(sq, (const uint8_t *const *)set.b + i, set.n + i,
                             1, &res, NULL),
                 GS_OK);
  uint64_t cp[4], cq[4];
  store__cipher_counts(sp, cp);
  store__cipher_counts(sq, cq);
  cr_assert_eq(cq[0] + cq[1] + cq[2] + cq[3], 0, "q: one thread");
  cr_assert_gt(cp[2] + cp[3], 0, "p: blocks squeezed by the two threads' "
               "protocol");
  if (cp[3] == 0) /* info: Criterion fails a run on a warning */
    cr_log_info("the second thread did not run (a busy machine?)");
  uint8_t dp[CRDT_HASH_LEN], dq[CRDT_HASH_LEN];
  size_t n;
  cr_assert_eq(store_digest(sp, "", 0, dp, &n), GS_OK);
  cr_assert_eq(n, 1500);
  cr_assert_eq(store_digest(sq, "", 0, dq, &n), GS_OK);
  cr_assert_arr_eq(dp, dq, CRDT_HASH_LEN, "the same digest");
  uint64_t entries;
  cr_assert_eq(store_check(sp, &entries), GS_OK);
  store_close(sp);
  store_close(sq);
  uint8_t hp[CRDT_HASH_LEN], hq[CRDT_HASH_LEN];
  size_t sqp, sqq, rp, rq;
  plain_hash(p, sealed, hp, &sqp, &rp);
  plain_hash(q, sealed, hq, &sqq, &rq);
  cr_assert(rp == 1500 && rq == 1500);
  cr_assert_arr_eq(hp, hq, CRDT_HASH_LEN, "the same version-4 bytes");
  cr_assert_eq(sqp, 1500, "p: every record squeezed");
  cr_assert_eq(sqq, 1500, "q: every record squeezed");
  t_raws_free(&set);
}

Test(store_squeeze, two_threads_squeeze_an_open_store_as_one_does)
{
  two_threads_squeeze_as_one(false);
}

Test(store_squeeze, two_threads_squeeze_a_sealed_store_as_one_does)
{
  two_threads_squeeze_as_one(true);
}

/* A damaged squeezed record met by a batch that two threads apply (the
 * worker unsqueezes it as it opens its block): the batch is refused as
 * corrupt, nothing of it written. */
Test(store_squeeze, a_batch_meeting_a_damaged_record_is_refused_on_two_threads)
{
  char src[96];
  store *s;
  t_raws set = {0};
  snprintf(src, sizeof src, "%s/src", dir);
  cr_assert_eq(mkdir(src, 0700), 0);
  cr_assert_eq(store_open(src, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  residents(s, 0, 1500, false, false, false);
  residents(s, 0, 1500, false, false, false);
  cr_assert_eq(t_raws_read(s, NULL, &set), GS_OK);
  store_close(s);
  store_result res;
  cr_assert_eq(open_at(false, &s), GS_OK);
  cr_assert_eq(store_apply(s, (const uint8_t *const *)set.b, set.n, 1500,
                           &res, NULL),
               GS_OK);
  uint8_t before[CRDT_HASH_LEN];
  size_t n;
  cr_assert_eq(store_digest(s, "", 0, before, &n), GS_OK);
  store_close(s);
  /* record 700's frame cut short */
  static uint8_t keep[4096];
  size_t keepn;
  {
    raw_env r;
    MDB_val k, v;
    raw_open(&r, false);
    MDB_cursor *cur = raw_nth(&r, 700, &k, &v);
    memcpy(keep, v.mv_data, keepn = v.mv_size);
    mdb_cursor_close(cur);
    raw_close(&r, false);
  }
  damage_record(700, cut_short, 5);
  cr_assert_eq(open_at(false, &s), GS_OK);
  cr_assert_eq(store_apply(s, (const uint8_t *const *)set.b + 1500,
                           set.n + 1500, 1500, &res, NULL),
               GS_ECORRUPT);
  uint64_t c[4];
  store__cipher_counts(s, c);
  cr_assert_gt(c[0] + c[1], 0, "opened by the two threads' protocol");
  store_close(s);
  /* the record as it was: the store as before the refused batch */
  {
    raw_env r;
    MDB_val k, v;
    raw_open(&r, true);
    MDB_cursor *cur = raw_nth(&r, 700, &k, &v);
    raw_put_current(cur, &k, keep, keepn);
    mdb_cursor_close(cur);
    raw_close(&r, true);
  }
  uint8_t after[CRDT_HASH_LEN];
  cr_assert_eq(open_at(false, &s), GS_OK);
  cr_assert_eq(store_digest(s, "", 0, after, &n), GS_OK);
  cr_assert_arr_eq(before, after, CRDT_HASH_LEN, "nothing of it written");
  /* and the batch applies now */
  cr_assert_eq(store_apply(s, (const uint8_t *const *)set.b + 1500,
                           set.n + 1500, 1500, &res, NULL),
               GS_OK);
  cr_assert_eq(res.applied, 1500);
  store_close(s);
  t_raws_free(&set);
}

/* Records of 1.5 KB (a long visit log each): the dictionary's samples
 * stop at 1 MiB (about 680 of them, so that training stays near 50 ms),
 * fewer than ZDICT_MIN, and it is trained all the same. */
Test(store_squeeze, big_records_train_from_a_mebibyte_of_samples)
{
  store *s;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {43};
  store_write *w;
  static char note[1600];
  cr_assert_eq(open_at(false, &s), GS_OK);
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (size_t i = 0; i < 1100; i++) {
    uint8_t id[CRDT_ID_LEN];
    size_t at = 0;
    t_id(id, 4, i);
    for (int v = 0; at < 1450; v++)
      at += (size_t)snprintf(note + at, sizeof note - at,
                             "第%zu户第%d次上门：老人身体尚好，药已按时服用。",
                             i, v);
    crdt_op op = t_set_str("visit", id, "log", note, at);
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, &op, 1,
                                    T_NOW_MS + i, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
  census c = count_records();
  cr_assert_eq(c.records, 1100);
  cr_assert_eq(c.squeezed, 1100, "a dictionary from fewer, bigger samples");
  cr_assert_lt(c.bytes * 4, c.v4_bytes, "%zu of %zu bytes", c.bytes,
               c.v4_bytes);
}
