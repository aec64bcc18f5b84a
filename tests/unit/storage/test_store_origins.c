/* store: records keep their origins by local number (store format 4):
 * read back as the keys they name, numbers of an aborted batch never
 * seen again, numbers past one byte, a number the store lacks refused,
 * and no origin key readable in a sealed store's file. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>

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

TestSuite(store_origins, .init = setup, .fini = teardown);

static const char g07[] = "gongrencun/qinghejv/g07";

/* One change by sk of ops, in a session of its own. */
static void write1(store *s, const uint8_t *sk, crdt_op *ops, size_t n,
                   uint64_t phys)
{
  store_write *w;
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, g07, sizeof g07 - 1, ops, n, phys, NULL,
                                  NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
}

/* The stamp's origin of field `field` of resident id. */
static void origin_of(store *s, const uint8_t id[CRDT_ID_LEN],
                      const char *field, uint8_t out[CRDT_KEY_LEN])
{
  static t_field tf;
  gs_err e = t_get(s, "resident", id, field, &tf);
  cr_assert_eq(e, GS_OK, "%s", gs_errname(e));
  cr_assert(tf.present, "%s is there", field);
  memcpy(out, tf.stamp.origin, CRDT_KEY_LEN);
}

/* The store's LMDB environment opened directly, a transaction begun, and
 * its `records`; the key of resident id in kb (its length in *kn). */
static void raw_begin(bool write, MDB_env **env, MDB_txn **txn, MDB_dbi *db,
                      const uint8_t id[CRDT_ID_LEN], uint8_t kb[128],
                      size_t *kn)
{
  memcpy(kb, "resident", 9); /* coll 0 id scope */
  memcpy(kb + 9, id, CRDT_ID_LEN);
  memcpy(kb + 9 + CRDT_ID_LEN, g07, sizeof g07 - 1);
  *kn = 9 + CRDT_ID_LEN + sizeof g07 - 1;
  cr_assert_eq(mdb_env_create(env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(*env, 32), 0);
  cr_assert_eq(mdb_env_open(*env, dir, write ? 0 : MDB_RDONLY, 0600), 0);
  cr_assert_eq(mdb_txn_begin(*env, NULL, write ? 0 : MDB_RDONLY, txn), 0);
  cr_assert_eq(mdb_dbi_open(*txn, "records", 0, db), 0);
}

/* The records value of resident id with LMDB directly: into buf. */
static size_t raw_get(const uint8_t id[CRDT_ID_LEN], uint8_t *buf,
                      size_t cap)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
  uint8_t kb[128];
  MDB_val k, v;
  raw_begin(false, &env, &txn, &db, id, kb, &k.mv_size);
  k.mv_data = kb;
  cr_assert_eq(mdb_get(txn, db, &k, &v), 0);
  cr_assert_leq(v.mv_size, cap);
  memcpy(buf, v.mv_data, v.mv_size);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return v.mv_size;
}

/* Put buf as the records value of resident id, with LMDB directly. */
static void raw_put(const uint8_t id[CRDT_ID_LEN], const uint8_t *buf,
                    size_t n)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
  uint8_t kb[128];
  MDB_val k, v = {n, (void *)buf};
  raw_begin(true, &env, &txn, &db, id, kb, &k.mv_size);
  k.mv_data = kb;
  cr_assert_eq(mdb_put(txn, db, &k, &v, 0), 0);
  cr_assert_eq(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

Test(store_origins, each_origin_is_a_number_and_reads_back_as_its_key)
{
  store *s;
  uint8_t pk[3][CRDT_KEY_LEN], sk[3][CRDT_SK_LEN], got[CRDT_KEY_LEN], id[16];
  static const char *const fields[3] = {"name", "phone", "note"};
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  t_id(id, 1, 1);
  for (int i = 0; i < 3; i++) {
    crdt_keypair(pk[i], sk[i]);
    crdt_op op = t_set_str("resident", id, fields[i], "王", 3);
    write1(s, sk[i], &op, 1, T_NOW_MS + (uint64_t)i);
  }
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < 3; i++) {
      origin_of(s, id, fields[i], got);
      cr_assert_arr_eq(got, pk[i], CRDT_KEY_LEN, "%s's writer", fields[i]);
    }
    store_close(s); /* and again from the file, no number cached */
    cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  }
  store_close(s);
  /* as kept: version 4, a table of three one-byte numbers, 1 to 3 */
  uint8_t b[4096];
  size_t n = raw_get(id, b, sizeof b);
  cr_assert(n > 6 && b[0] == 0x95 && b[1] == 4 && b[2] == 0x93);
  bool seen[4] = {false};
  for (int i = 0; i < 3; i++) {
    cr_assert(b[3 + i] >= 1 && b[3 + i] <= 3, "number %u", b[3 + i]);
    seen[b[3 + i]] = true;
  }
  cr_assert(seen[1] && seen[2] && seen[3]);
}

/* A session of sk's: two changes of resident id (the second reads the
 * first's bytes back, number and all), then aborted. */
static void aborted_session(store *s, const uint8_t *sk,
                            const uint8_t id[CRDT_ID_LEN], uint64_t phys)
{
  store_write *w;
  crdt_op op = t_set_str("resident", id, "name", "废", 3);
  crdt_op op2 = t_set_str("resident", id, "phone", "1", 1);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_eq(store_write_change(w, g07, sizeof g07 - 1, &op, 1, phys,
                                  NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_change(w, g07, sizeof g07 - 1, &op2, 1, phys + 1,
                                  NULL, NULL),
               GS_OK);
  store_write_abort(w);
}

/* A batch that is aborted numbered its new origin in its transaction
 * only: the number goes with it. Caching the number's key, or the key's
 * number, would read one writer's edits as another's. */
Test(store_origins, an_aborted_batch_leaves_no_origin_number_behind)
{
  store *s;
  uint8_t pka[CRDT_KEY_LEN], ska[CRDT_SK_LEN], pkb[CRDT_KEY_LEN],
      skb[CRDT_SK_LEN], pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN],
      got[CRDT_KEY_LEN], id[16], id2[16];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  crdt_keypair(pka, ska);
  crdt_keypair(pkb, skb);
  crdt_keypair(pk, sk); /* D */
  t_id(id, 1, 1);
  t_id(id2, 1, 2);
  /* A: two changes of one record in one session, then aborted */
  aborted_session(s, ska, id, T_NOW_MS);
  crdt_op op;
  /* A, writing again, is numbered again (the number it was given went
   * with the abort: kept in memory, its records would name a number the
   * table lacks, the next origin's), then B */
  op = t_set_str("resident", id2, "name", "甲", 3);
  write1(s, ska, &op, 1, T_NOW_MS + 2);
  op = t_set_str("resident", id, "name", "乙", 3);
  write1(s, skb, &op, 1, T_NOW_MS + 3);
  origin_of(s, id, "name", got);
  cr_assert_arr_eq(got, pkb, CRDT_KEY_LEN, "B's edit is B's");
  origin_of(s, id2, "name", got);
  cr_assert_arr_eq(got, pka, CRDT_KEY_LEN, "A's edit is A's");
  static t_field tf;
  cr_assert_eq(t_get(s, "resident", id, "phone", &tf), GS_OK);
  cr_assert(!tf.present, "nothing of the aborted session");
  /* and C, aborted after reading its record back, then D first: D has
   * the number C had */
  uint8_t pkc[CRDT_KEY_LEN], skc[CRDT_SK_LEN], id3[16];
  t_id(id3, 1, 3);
  crdt_keypair(pkc, skc);
  aborted_session(s, skc, id3, T_NOW_MS + 4);
  op = t_set_str("resident", id3, "name", "丁", 3);
  write1(s, sk, &op, 1, T_NOW_MS + 6);
  origin_of(s, id3, "name", got);
  cr_assert_arr_eq(got, pk, CRDT_KEY_LEN, "D's edit is D's");
  store_close(s);
  uint8_t b[4096];
  raw_get(id, b, sizeof b);
  cr_assert(b[2] == 0x91 && b[3] == 2, "B is origin 2");
  raw_get(id2, b, sizeof b);
  cr_assert(b[2] == 0x91 && b[3] == 1, "A is origin 1");
}

/* More origins than one byte numbers: 300 writers of one record's tags
 * and of a record each; a table of 300 (msgpack's array 16). */
Test(store_origins, numbers_past_one_byte_read_back)
{
  enum { N = 300 };
  store *s;
  static uint8_t pk[N][CRDT_KEY_LEN], sk[N][CRDT_SK_LEN];
  uint8_t got[CRDT_KEY_LEN], all[16], id[16];
  char tag[16];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  t_id(all, 2, 0);
  for (int i = 0; i < N; i++) {
    crdt_keypair(pk[i], sk[i]);
    t_id(id, 3, (uint64_t)i);
    snprintf(tag, sizeof tag, "t%d", i);
    crdt_op ops[2] = {t_set_str("resident", id, "name", tag, strlen(tag)),
                      t_add_str("resident", all, "tags", tag)};
    write1(s, sk[i], ops, 2, T_NOW_MS + (uint64_t)i);
  }
  store_close(s);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  for (int i = 0; i < N; i += 37) {
    t_id(id, 3, (uint64_t)i);
    origin_of(s, id, "name", got);
    cr_assert_arr_eq(got, pk[i], CRDT_KEY_LEN, "writer %d", i);
  }
  t_id(id, 3, N - 1);
  origin_of(s, id, "name", got);
  cr_assert_arr_eq(got, pk[N - 1], CRDT_KEY_LEN, "number %d: three bytes", N);
  static t_field tf;
  cr_assert_eq(t_get(s, "resident", all, "tags", &tf), GS_OK);
  cr_assert_eq(tf.nelems, N);
  uint64_t entries;
  cr_assert_eq(store_check(s, &entries), GS_OK);
  store_close(s);
  uint8_t b[65536];
  raw_get(all, b, sizeof b);
  cr_assert(b[0] == 0x95 && b[1] == 4 && b[2] == 0xdc, "array 16");
  cr_assert_eq(b[3] << 8 | b[4], N);
}

/* What reading resident id gives when its bytes are b (n of them). */
static gs_err read_with(const uint8_t id[16], const uint8_t *b, size_t n)
{
  store *s;
  static t_field tf;
  raw_put(id, b, n);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  gs_err e = t_get(s, "resident", id, "name", &tf);
  uint64_t entries;
  gs_err c = store_check(s, &entries);
  store_close(s);
  cr_assert_eq(c, e == GS_OK ? GS_OK : GS_ECORRUPT, "store_check agrees");
  return e;
}

Test(store_origins, a_number_the_store_lacks_or_misspelt_is_corruption)
{
  store *s;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], id[16], b[4096], m[4096];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  crdt_keypair(pk, sk);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("resident", id, "name", "王", 3);
  write1(s, sk, &op, 1, T_NOW_MS);
  store_close(s);
  size_t n = raw_get(id, b, sizeof b);
  cr_assert(b[0] == 0x95 && b[1] == 4 && b[2] == 0x91 && b[3] == 1);
  cr_assert_eq(read_with(id, b, n), GS_OK, "as written");
  memcpy(m, b, n);
  m[3] = 99; /* no origin 99 */
  cr_assert_eq(read_with(id, m, n), GS_ECORRUPT);
  m[3] = 0; /* numbers start at 1 */
  cr_assert_eq(read_with(id, m, n), GS_ECORRUPT);
  /* 1 as two bytes: not how it is written */
  m[3] = 0xcc;
  m[4] = 1;
  memcpy(m + 5, b + 4, n - 4);
  cr_assert_eq(read_with(id, m, n + 1), GS_ECORRUPT);
  /* a table longer than the bytes */
  memcpy(m, b, n);
  m[2] = 0xdc, m[3] = 0xff, m[4] = 0xff;
  cr_assert_eq(read_with(id, m, 5), GS_ECORRUPT);
  cr_assert_eq(read_with(id, b, n), GS_OK, "and back as it was");
}

/* The file holds the needle's bytes anywhere? */
static bool file_has(const char *path, const uint8_t *needle, size_t nn)
{
  FILE *f = fopen(path, "rb");
  cr_assert(f);
  static uint8_t buf[1 << 20];
  size_t keep = 0, got;
  bool found = false;
  while (!found && (got = fread(buf + keep, 1, sizeof buf - keep, f)) > 0) {
    size_t have = keep + got;
    for (size_t i = 0; i + nn <= have && !found; i++)
      found = memcmp(buf + i, needle, nn) == 0;
    keep = have < nn ? have : nn - 1;
    memmove(buf, buf + have - keep, keep);
  }
  fclose(f);
  return found;
}

Test(store_origins, a_sealed_store_leaves_no_origin_key_readable)
{
  static const uint8_t key[CRDT_SEAL_KEY_LEN] = {9, 9, 9, 1};
  store *s;
  store_opts o = {.key = key};
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], id[16], got[CRDT_KEY_LEN];
  char path[128];
  cr_assert_eq(store_open_ex(dir, STORE_CREATE, &o, &s), GS_OK);
  crdt_keypair(pk, sk);
  t_id(id, 1, 1);
  crdt_op op = t_set_str("resident", id, "name", "王", 3);
  write1(s, sk, &op, 1, T_NOW_MS);
  origin_of(s, id, "name", got);
  cr_assert_arr_eq(got, pk, CRDT_KEY_LEN);
  store_close(s);
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  cr_assert(!file_has(path, pk, CRDT_KEY_LEN), "the key is sealed");
  /* the check is able to see it: an open store's file has it */
  t_rmtree(dir);
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE, &s), GS_OK);
  write1(s, sk, &op, 1, T_NOW_MS);
  store_close(s);
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  cr_assert(file_has(path, pk, CRDT_KEY_LEN), "in the open store");
}
