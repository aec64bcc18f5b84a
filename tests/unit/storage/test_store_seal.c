/* store: values sealed at rest (issue 19). A store opened with a data key
 * keeps no resident's text in data.mdb; a sealed store opened without its
 * key, under another key, with two values swapped or with a flipped byte
 * is refused with GS_ELOCKED / GS_ESEAL and nothing else is touched; a
 * store of an earlier build is sealed in place as it opens with a key,
 * resumes after a SIGKILL at several points and ends with the same
 * digest, then is compacted (no plaintext in a free page). */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>

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

TestSuite(store_seal, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";
static const char note[] = "行动不便，需定期探访";
#define NREC 12000 /* more than two of the sealing's batches */

static const uint8_t key_a[CRDT_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key_b[CRDT_SEAL_KEY_LEN] = {9, 9, 9};

static gs_err open_key(const uint8_t *key, unsigned flags, store **s)
{
  store_opts o = {.key = key};
  return store_open_ex(dir, flags, &o, s);
}

/* n residents named 张秀英<i> with the note, one origin (a fixed key: two
 * stores filled alike hold the same state). */
static void fill(store *s, size_t n)
{
  store_write *w;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {42};
  crdt_op ops[200];
  char names[100][32];
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (size_t i = 0; i < n;) {
    size_t k = 0;
    for (size_t j = 0; j < 100 && i < n; i++, j++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 7, i);
      snprintf(names[j], sizeof names[j], "张秀英%zu", i);
      ops[k++] = t_set_str("resident", id, "name", names[j],
                           strlen(names[j]));
      ops[k++] = t_set_str("resident", id, "notes", note, sizeof note - 1);
    }
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, k,
                                    T_NOW_MS + i, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
}

/* Does data.mdb hold these bytes anywhere (free pages too)? */
static bool file_has(const char *file, const void *needle, size_t nn)
{
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len + 1);
  cr_assert(b);
  cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  bool hit = memmem(b, (size_t)len, needle, nn) != NULL;
  free(b);
  return hit;
}

static int count_cb(void *ctx, const crdt_record *r)
{
  (void)r;
  ++*(size_t *)ctx;
  return 0;
}

static gs_err get_one(store *s, uint64_t i)
{
  uint8_t id[CRDT_ID_LEN];
  size_t n = 0;
  t_id(id, 7, i);
  gs_err err = store_get(s, "resident", 8, id, count_cb, &n);
  return err ? err : (n == 1 ? GS_OK : GS_ECORRUPT);
}

static void digest_of(const uint8_t *key, uint8_t out[CRDT_HASH_LEN])
{
  store *s;
  size_t n;
  cr_assert_eq(open_key(key, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_digest(s, "", 0, out, &n), GS_OK);
  store_close(s);
}

Test(store_seal, sealed_store_keeps_no_plaintext_and_digests_alike)
{
  store *s;
  uint8_t d_open[CRDT_HASH_LEN], d_sealed[CRDT_HASH_LEN];
  size_t n;
  /* the same writes to an open store first: the digest to match */
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, 300);
  cr_assert_eq(store_digest(s, "", 0, d_open, &n), GS_OK);
  store_close(s);
  cr_assert(file_has("data.mdb", note, sizeof note - 1),
            "an open store holds the note in plain (the search works)");
  t_rmtree(dir);
  cr_assert_eq(mkdir(dir, 0700), 0);

  cr_assert_eq(open_key(key_a, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, 300);
  cr_assert_eq(store_meta_put(s, "name", "王建国的电脑", 18), GS_OK);
  store_close(s);
  cr_assert_not(file_has("data.mdb", note, sizeof note - 1));
  cr_assert_not(file_has("data.mdb", "张秀英", 9));
  cr_assert_not(file_has("data.mdb", "王建国", 9));
  cr_assert_not(file_has("lock.mdb", "张秀英", 9));
  digest_of(key_a, d_sealed);
  cr_assert_arr_eq(d_open, d_sealed, CRDT_HASH_LEN,
                   "sealed and open stores of one state digest alike");
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  char name[64];
  cr_assert_eq(store_meta_get(s, "name", name, sizeof name, &n), GS_OK);
  cr_assert_eq(n, 18);
  cr_assert_eq(memcmp(name, "王建国的电脑", 18), 0);
  cr_assert_eq(get_one(s, 299), GS_OK);
  store_close(s);
}

Test(store_seal, no_key_or_wrong_key_is_refused)
{
  store *s;
  cr_assert_eq(open_key(key_a, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, 10);
  store_close(s);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ELOCKED);
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_ELOCKED);
  cr_assert_eq(open_key(key_b, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(get_one(s, 3), GS_ESEAL);
  uint8_t d[CRDT_HASH_LEN];
  cr_assert_eq(store_digest(s, "", 0, d, NULL), GS_ESEAL);
  store_close(s);
  /* nothing was changed by the refused reads */
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  for (uint64_t i = 0; i < 10; i++)
    cr_assert_eq(get_one(s, i), GS_OK);
  store_close(s);
}

/* The raw value of record i, as LMDB holds it. */
typedef struct raw_env {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi db;
} raw_env;

static void raw_open(raw_env *r)
{
  cr_assert_eq(mdb_env_create(&r->env), 0);
  cr_assert_eq(mdb_env_set_maxdbs(r->env, 16), 0);
  cr_assert_eq(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
  cr_assert_eq(mdb_env_open(r->env, dir, MDB_NOSYNC, 0600), 0);
  cr_assert_eq(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
  cr_assert_eq(mdb_dbi_open(r->txn, "records", 0, &r->db), 0);
}

static void record_key(uint64_t i, uint8_t *kb, MDB_val *k)
{
  kb[0] = 0; /* "resident" 0 id scope */
  memcpy(kb, "resident", 9);
  t_id(kb + 9, 7, i);
  memcpy(kb + 9 + CRDT_ID_LEN, scope, sizeof scope - 1);
  k->mv_data = kb;
  k->mv_size = 9 + CRDT_ID_LEN + sizeof scope - 1;
}

static void raw_close(raw_env *r)
{
  cr_assert_eq(mdb_txn_commit(r->txn), 0);
  mdb_env_close(r->env);
}

Test(store_seal, swapped_values_are_refused)
{
  store *s;
  raw_env r;
  uint8_t k1[128], k2[128], *c1, *c2;
  MDB_val a, b, v1, v2;
  cr_assert_eq(open_key(key_a, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, 10);
  store_close(s);
  raw_open(&r);
  record_key(1, k1, &a);
  record_key(2, k2, &b);
  cr_assert_eq(mdb_get(r.txn, r.db, &a, &v1), 0);
  cr_assert_eq(mdb_get(r.txn, r.db, &b, &v2), 0);
  c1 = malloc(v1.mv_size), c2 = malloc(v2.mv_size);
  memcpy(c1, v1.mv_data, v1.mv_size);
  memcpy(c2, v2.mv_data, v2.mv_size);
  MDB_val n1 = {v2.mv_size, c2}, n2 = {v1.mv_size, c1};
  cr_assert_eq(mdb_put(r.txn, r.db, &a, &n1, 0), 0);
  cr_assert_eq(mdb_put(r.txn, r.db, &b, &n2, 0), 0);
  raw_close(&r);
  free(c1);
  free(c2);
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(get_one(s, 1), GS_ESEAL);
  cr_assert_eq(get_one(s, 2), GS_ESEAL);
  for (uint64_t i = 3; i < 10; i++)
    cr_assert_eq(get_one(s, i), GS_OK, "record %llu still reads",
                 (unsigned long long)i);
  store_close(s);
}

Test(store_seal, flipped_byte_is_refused)
{
  store *s;
  raw_env r;
  uint8_t kb[128], *c;
  MDB_val k, v;
  cr_assert_eq(open_key(key_a, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, 10);
  store_close(s);
  raw_open(&r);
  record_key(4, kb, &k);
  cr_assert_eq(mdb_get(r.txn, r.db, &k, &v), 0);
  c = malloc(v.mv_size);
  memcpy(c, v.mv_data, v.mv_size);
  c[v.mv_size / 2] ^= 0x01;
  MDB_val nv = {v.mv_size, c};
  cr_assert_eq(mdb_put(r.txn, r.db, &k, &nv, 0), 0);
  raw_close(&r);
  free(c);
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(get_one(s, 4), GS_ESEAL);
  /* every other record reads as it was (a look-up does not open the
   * entry past its range) */
  for (uint64_t i = 0; i < 10; i++)
    if (i != 4)
      cr_assert_eq(get_one(s, i), GS_OK, "record %llu", (unsigned long long)i);
  /* a list that reaches it is refused, plainly */
  size_t n = 0;
  cr_assert_eq(store_list(s, "resident", 8, NULL, 0, count_cb, &n), GS_ESEAL);
  store_close(s);
}

/* ---- nonces: never one twice under the data key ---- */

/* n residents written again in round r (new text, later stamps). */
static void fill_round(store *s, size_t n, int r)
{
  store_write *w;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], seed[32] = {42};
  char names[50][48];
  crdt_op ops[50];
  crdt_keypair_seed(seed, pk, sk);
  cr_assert_eq(store_write_begin(s, sk, &w), GS_OK);
  for (size_t i = 0; i < n;) {
    size_t k = 0;
    for (; k < 50 && i < n; i++, k++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 7, i);
      snprintf(names[k], sizeof names[k], "李四%zu-%d", i, r);
      ops[k] = t_set_str("resident", id, "name", names[k], strlen(names[k]));
    }
    cr_assert_eq(store_write_change(w, scope, sizeof scope - 1, ops, k,
                                    T_NOW_MS + (uint64_t)r * 1000000 + i,
                                    NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
}

typedef struct nonces {
  uint8_t (*n)[24];
  size_t len, cap;
} nonces;

/* The nonces of every value of database name (all sealed). */
static void collect(raw_env *r, const char *name, nonces *out)
{
  MDB_dbi db;
  MDB_cursor *cur;
  MDB_val k, v;
  cr_assert_eq(mdb_dbi_open(r->txn, name, 0, &db), 0, "%s", name);
  cr_assert_eq(mdb_cursor_open(r->txn, db, &cur), 0);
  int rc;
  while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
    cr_assert_geq(v.mv_size, CRDT_SEAL_OVERHEAD, "a sealed value of %s",
                  name);
    if (out->len == out->cap) {
      out->cap = out->cap ? 2 * out->cap : 1024;
      out->n = realloc(out->n, out->cap * sizeof *out->n);
      cr_assert(out->n);
    }
    memcpy(out->n[out->len++], v.mv_data, 24);
  }
  cr_assert_eq(rc, MDB_NOTFOUND);
  mdb_cursor_close(cur);
}

static int nonce_cmp(const void *a, const void *b)
{
  return memcmp(a, b, 24);
}

Test(store_seal, nonces_never_repeat_across_writes_and_reopens)
{
  store *s;
  for (int r = 0; r < 3; r++) { /* three opens of one store */
    cr_assert_eq(open_key(key_a, (r ? 0 : STORE_CREATE) | STORE_NOSYNC, &s),
                 GS_OK);
    fill_round(s, 400 + 200 * (size_t)r, r);
    store_close(s);
  }
  raw_env r;
  nonces ns = {0};
  raw_open(&r);
  collect(&r, "records", &ns);
  size_t nrec = ns.len;
  collect(&r, "changes", &ns);
  collect(&r, "vv", &ns);
  raw_close(&r);
  cr_assert_eq(nrec, 800, "the records of the last round");
  cr_assert_geq(ns.len, 800 + 36, "and the changes of all three");
  qsort(ns.n, ns.len, 24, nonce_cmp);
  size_t prefixes = 1;
  for (size_t i = 1; i < ns.len; i++) {
    cr_assert(memcmp(ns.n[i - 1], ns.n[i], 24) != 0, "a nonce used twice");
    prefixes += memcmp(ns.n[i - 1], ns.n[i], 16) != 0;
  }
  /* each open's sealer, and the sealer of its batches' second thread
   * (storage/store.c cipher_chunk) when a batch was large enough */
  cr_assert(prefixes >= 3 && prefixes <= 6,
            "one or two random prefixes per open: %zu", prefixes);
  free(ns.n);
}

/* ---- sealing an earlier build's store in place ---- */

/* The child kills itself at the first report of at least kill_done values
 * sealed (UINT64_MAX: as compaction starts). */
static uint64_t kill_done = 0; /* 0: never */
static int calls;

static void kill_progress(void *ctx, int what, uint64_t done,
                          uint64_t total)
{
  (void)ctx, (void)total;
  calls++;
  cr_assert_neq(what, STORE_PROGRESS_FORMAT, "a store of this format");
  if (what == STORE_PROGRESS_COMPACT)
    done = UINT64_MAX;
  if (kill_done && done >= kill_done)
    raise(SIGKILL);
}

static void make_old_store(uint8_t digest[CRDT_HASH_LEN])
{
  store *s;
  size_t n;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  fill(s, NREC);
  cr_assert_eq(store_meta_put(s, "name", "王建国的电脑", 18), GS_OK);
  cr_assert_eq(store_digest(s, "", 0, digest, &n), GS_OK);
  cr_assert_eq(n, NREC);
  store_close(s);
  cr_assert(file_has("data.mdb", "王建国", 9));
}

static void check_sealed(const uint8_t want[CRDT_HASH_LEN])
{
  uint8_t d[CRDT_HASH_LEN], st;
  size_t n;
  store *s;
  digest_of(key_a, d);
  cr_assert_arr_eq(d, want, CRDT_HASH_LEN, "the state did not change");
  cr_assert_not(file_has("data.mdb", note, sizeof note - 1));
  cr_assert_not(file_has("data.mdb", "王建国", 9));
  for (int i = 0; i < 3000; i += 97) {
    char name[32];
    int len = snprintf(name, sizeof name, "张秀英%d", i);
    cr_assert_not(file_has("data.mdb", name, (size_t)len), "%s", name);
  }
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_meta_get(s, "seal", &st, 1, &n), GS_OK);
  cr_assert_eq(st, 3, "sealed and compacted");
  store_close(s);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ELOCKED);
}

Test(store_seal, old_store_is_sealed_in_place_with_progress)
{
  uint8_t want[CRDT_HASH_LEN];
  make_old_store(want);
  calls = 0, kill_done = 0;
  store *s;
  store_opts o = {.key = key_a, .progress = kill_progress};
  cr_assert_eq(store_open_ex(dir, STORE_NOSYNC, &o, &s), GS_OK);
  cr_assert_geq(calls, 4, "progress after each batch, then compaction");
  store_close(s);
  check_sealed(want);
}

Test(store_seal, sigkill_during_sealing_resumes)
{
  uint8_t want[CRDT_HASH_LEN];
  make_old_store(want);
  /* killed after the first batch, after the second, as compaction
   * starts: each time the next open goes on from there */
  for (int at = 1; at <= 3; at++) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      store *s;
      store_opts o = {.key = key_a, .progress = kill_progress};
      /* a batch of records is 5000 values: the first two opens die
       * after one batch each, the third as it starts compacting */
      kill_done = at == 3 ? UINT64_MAX : 1000;
      store_open_ex(dir, 0, &o, &s);
      _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "kill point %d reached", at);
  }
  check_sealed(want);
}

/* ---- the address book: keyed by a keyed hash when sealed ---- */

typedef struct book {
  char addr[8][64];
  char val[8][64];
  size_t n;
} book;

static int on_peer(void *ctx, const char *addr, const void *val, size_t n)
{
  book *b = ctx;
  cr_assert_lt(b->n, 8);
  snprintf(b->addr[b->n], 64, "%s", addr);
  snprintf(b->val[b->n], 64, "%.*s", (int)n, (const char *)val);
  b->n++;
  return 0;
}

static void check_book(store *s)
{
  book b = {.n = 0};
  char v[64];
  size_t n;
  cr_assert_eq(store_peer_list(s, on_peer, &b), GS_OK);
  cr_assert_eq(b.n, 2);
  cr_assert_str_eq(b.addr[0], "wang-jianguo-laptop.local:7070",
                   "address order");
  cr_assert_str_eq(b.val[0], "王建国的电脑");
  cr_assert_str_eq(b.addr[1], "zhao-office.local:7070");
  cr_assert_eq(store_peer_get(s, "zhao-office.local:7070", v, sizeof v, &n),
               GS_OK);
  cr_assert_eq(n, 3);
  cr_assert_eq(memcmp(v, "xyz", 3), 0);
}

static void write_book(store *s)
{
  cr_assert_eq(store_peer_put(s, "zhao-office.local:7070", "xyz", 3), GS_OK);
  cr_assert_eq(store_peer_put(s, "wang-jianguo-laptop.local:7070",
                              "王建国的电脑", 18),
               GS_OK);
  cr_assert_eq(store_peer_put(s, "10.0.0.9:7070", "gone", 4), GS_OK);
  cr_assert_eq(store_peer_del(s, "10.0.0.9:7070"), GS_OK);
  cr_assert_eq(store_peer_del(s, "10.0.0.9:7070"), GS_ENOTFOUND);
}

Test(store_seal, address_book_keys_are_keyed_hashes)
{
  store *s;
  cr_assert_eq(open_key(key_a, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  write_book(s);
  check_book(s);
  store_close(s);
  cr_assert_not(file_has("data.mdb", "wang-jianguo", 12));
  cr_assert_not(file_has("data.mdb", "zhao-office", 11));
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  check_book(s);
  store_close(s);
}

Test(store_seal, address_book_is_rekeyed_when_sealed_in_place)
{
  store *s;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  write_book(s);
  check_book(s);
  store_close(s);
  cr_assert(file_has("data.mdb", "wang-jianguo", 12));
  cr_assert_eq(open_key(key_a, STORE_NOSYNC, &s), GS_OK);
  check_book(s);
  store_close(s);
  cr_assert_not(file_has("data.mdb", "wang-jianguo", 12));
  cr_assert_not(file_has("data.mdb", "zhao-office", 11));
}
