/*
 * Storage benchmark: durable single-record puts per second, bulk records
 * per second, and a bare LMDB loop writing the same bytes, as ratios.
 *
 *   bench_store [--durable N] [--bulk N] [--dir DIR]
 *
 * Records are shaped like residents: ten fields, Chinese text. The bare
 * loop writes, per record, the bytes gridsync stored for it (the change
 * and the materialised record) under append-ordered keys, in pieces of at
 * most 1 KiB, with the same commit pattern (one fsync per record; one per
 * bulk load), in a fresh process; the median of three runs.
 *
 * The bulk figure times the store's calls alone (begin, each change,
 * commit): the bare loop is handed its bytes, so the bench's making of
 * its residents (snprintf, their ids) is not counted against gridsync;
 * it is printed on its own line ("input made by the bench").
 *
 * First it prints where the bulk store's bytes go, per database (records,
 * hist, changes, byscope): LMDB's page counts times the page size over
 * the records, and the mean key and stored (sealed) value.
 *
 * Last, after those lines, the format's required work alone (no LMDB):
 * the same residents in changes of 40, with only what the store's format
 * asks of every change whatever holds it (see floor_change), timed like
 * the bulk row, in a fresh process like the bare loop (the median of
 * three); the cap it puts on the bulk ratio; and its pieces' cost per
 * record, each piece timed on its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

#include "crdt/crdt.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU seconds (user and system): the figure to compare on
 * a machine others use too. */
static double cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This thread's CPU seconds: in the bulk load, the store's thread (the
 * pipeline's longer stage while the cipher worker has room). */
static double thread_cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what, int err)
{
  fprintf(stderr, "bench_store: %s: %s\n", what,
          err < 0 && err > -40000 ? mdb_strerror(err) : gs_strerror(err));
  exit(1);
}

static const char *surnames[] = {"王", "李", "张", "刘", "陈", "杨", "赵",
                                 "黄", "周", "吴"};
static const char *given[] = {"秀英", "建国", "桂兰", "玉兰", "德明",
                              "淑珍", "志强", "凤英", "国华", "丽娟"};

/* The ops of one resident-like record; text lives in buf. */
typedef struct resident {
  char name[32], phone[16], room[8], note[160], building[8];
  crdt_op ops[10];
} resident;

static void make_resident(resident *r, uint64_t i, const uint8_t id[16])
{
  static const char *fields[10] = {"name",  "gender", "birth_year", "phone",
                                   "building", "unit", "room", "note",
                                   "tags", "household"};
  snprintf(r->name, sizeof r->name, "%s%s", surnames[i % 10],
           given[(i / 10) % 10]);
  snprintf(r->phone, sizeof r->phone, "139%08" PRIu64, i % 100000000);
  snprintf(r->building, sizeof r->building, "%" PRIu64, 1 + i % 19);
  snprintf(r->room, sizeof r->room, "%" PRIu64, 101 + i % 600);
  snprintf(r->note, sizeof r->note, "第%" PRIu64 "户，独居老人，每周三上门探访，"
                                    "楼道灯已报修。",
           i);
  for (int k = 0; k < 10; k++) {
    crdt_op *op = &r->ops[k];
    memset(op, 0, sizeof *op);
    op->kind = k == 8 ? CRDT_OP_ADD : CRDT_OP_SET;
    op->coll = "resident";
    op->coll_len = 8;
    memcpy(op->id, id, 16);
    op->field = fields[k];
    op->field_len = strlen(fields[k]);
    crdt_value *v = &op->value;
    switch (k) {
    case 0:
      v->type = CRDT_STR, v->u.s.p = r->name, v->u.s.n = strlen(r->name);
      break;
    case 1:
      v->type = CRDT_STR, v->u.s.p = i % 2 ? "男" : "女", v->u.s.n = 3;
      break;
    case 2:
      v->type = CRDT_INT, v->u.i = 1930 + (int64_t)(i % 80);
      break;
    case 3:
      v->type = CRDT_STR, v->u.s.p = r->phone, v->u.s.n = strlen(r->phone);
      break;
    case 4:
      v->type = CRDT_STR, v->u.s.p = r->building,
      v->u.s.n = strlen(r->building);
      break;
    case 5:
      v->type = CRDT_INT, v->u.i = 1 + (int64_t)(i % 3);
      break;
    case 6:
      v->type = CRDT_STR, v->u.s.p = r->room, v->u.s.n = strlen(r->room);
      break;
    case 7:
      v->type = CRDT_STR, v->u.s.p = r->note, v->u.s.n = strlen(r->note);
      break;
    case 8:
      v->type = CRDT_STR, v->u.s.p = i % 3 ? "elderly" : "lives-alone",
      v->u.s.n = strlen(v->u.s.p);
      break;
    case 9:
      v->type = CRDT_REF, v->u.ref.coll = "household", v->u.ref.coll_len = 9;
      memcpy(v->u.ref.id, id, 16);
      break;
    }
  }
}

static uint64_t dir_bytes_used(store *s)
{
  store_stats st;
  if (store_stats_get(s, &st) != GS_OK)
    return 0;
  return st.used_bytes;
}

/* A bare LMDB environment with one database. */
static void bare_open(const char *dir, unsigned flags, MDB_env **env,
                      MDB_dbi *dbi)
{
  int rc;
  MDB_txn *t;
  mkdir(dir, 0700);
  if ((rc = mdb_env_create(env)) ||
      (rc = mdb_env_set_mapsize(*env, (size_t)4 << 30)) ||
      (rc = mdb_env_open(*env, dir, flags, 0600)) ||
      (rc = mdb_txn_begin(*env, NULL, 0, &t)) ||
      (rc = mdb_dbi_open(t, NULL, 0, dbi)) || (rc = mdb_txn_commit(t)))
    die("bare lmdb", rc);
}

#define BARE_PIECE 1024

/* Write n values of size each, append-ordered keys, commit every `every`
 * puts. Returns seconds. */
static double bare_loop(const char *dir, size_t n, size_t size,
                        size_t every, unsigned flags, double *cpu)
{
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *t = NULL;
  uint8_t *val = malloc(size), key[8];
  int rc;
  bare_open(dir, flags, &env, &dbi);
  for (size_t i = 0; i < size; i++)
    val[i] = (uint8_t)(i * 131);
  double t0 = now_s(), c0 = cpu_s();
  for (size_t i = 0; i < n; i++) {
    if (!t && (rc = mdb_txn_begin(env, NULL, 0, &t)))
      die("bare begin", rc);
    /* in pieces of at most BARE_PIECE bytes: one value of more than
     * about 2 KB would take an overflow page of its own, and the bare
     * loop's speed would jump at that size */
    for (size_t off = 0, part = 0; off < size; off += BARE_PIECE, part++) {
      uint64_t kk = (uint64_t)i << 16 | part;
      for (int b = 0; b < 8; b++)
        key[b] = (uint8_t)(kk >> (56 - 8 * b));
      size_t len = size - off < BARE_PIECE ? size - off : BARE_PIECE;
      MDB_val k = {8, key}, v = {len, val + off};
      if ((rc = mdb_put(t, dbi, &k, &v, MDB_APPEND)))
        die("bare put", rc);
    }
    if ((i + 1) % every == 0 || i + 1 == n) {
      if ((rc = mdb_txn_commit(t)))
        die("bare commit", rc);
      t = NULL;
    }
  }
  double secs = now_s() - t0;
  *cpu = cpu_s() - c0;
  mdb_env_close(env);
  free(val);
  return secs;
}

/* bare_loop in a fresh process (this program with --bare-loop), after
 * the page cache was written back: LMDB mallocs its dirty pages, and a
 * heap that gridsync's phases left behind changes a bare loop's speed
 * twofold. Returns seconds; *cpu its CPU seconds. */
/* Where the bulk store's bytes go: per database, its pages (branch,
 * leaf, overflow) times the page size over the records, from LMDB's own
 * counts (mdb_stat), and the whole file's used pages the same way. */
static void db_breakdown(const char *dir, size_t nrec)
{
  static const char *const dbs[] = {"records", "hist", "changes", "byscope"};
  MDB_env *env;
  MDB_txn *txn;
  MDB_envinfo info;
  MDB_stat st;
  uint64_t total = 0;
  if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 32) ||
      mdb_env_open(env, dir, MDB_RDONLY, 0600) ||
      mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
    fprintf(stderr, "bench_store: cannot read %s's databases\n", dir);
    mdb_env_close(env);
    return;
  }
  printf("bulk store by database (LMDB pages x page size / records):\n");
  printf("%-10s %10s %10s %10s %10s %14s %6s %6s\n", "database", "entries",
         "leaf", "overflow", "branch", "bytes/record", "key", "value");
  for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, dbs[i], 0, &dbi) || mdb_stat(txn, dbi, &st))
      continue;
    uint64_t pages = st.ms_branch_pages + st.ms_leaf_pages +
                     st.ms_overflow_pages;
    total += pages * st.ms_psize;
    /* the mean key and value (as stored: sealed) of an entry */
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t kb = 0, vb = 0;
    if (mdb_cursor_open(txn, dbi, &cur) == 0) {
      for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        kb += k.mv_size, vb += v.mv_size;
      mdb_cursor_close(cur);
    }
    double ne = st.ms_entries ? (double)st.ms_entries : 1;
    printf("%-10s %10zu %10zu %10zu %10zu %14.1f %6.1f %6.1f\n", dbs[i],
           st.ms_entries, st.ms_leaf_pages, st.ms_overflow_pages,
           st.ms_branch_pages, (double)(pages * st.ms_psize) / (double)nrec,
           (double)kb / ne, (double)vb / ne);
  }
  if (!mdb_env_info(env, &info) && !mdb_env_stat(env, &st))
    printf("%-10s %10s %10s %10s %10s %14.1f   (the four: %.1f)\n",
           "file", "", "", "", "",
           (double)((info.me_last_pgno + 1) * st.ms_psize) / (double)nrec,
           (double)total / (double)nrec);
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

static double bare_run(const char *dir, size_t n, size_t size, size_t every,
                       double *cpu)
{
  char cmd[1024];
  double secs = -1;
  sync();
  snprintf(cmd, sizeof cmd, "/proc/%d/exe --bare-loop '%s' %zu %zu %zu",
           (int)getpid(), dir, n, size, every);
  FILE *p = popen(cmd, "r");
  if (!p || fscanf(p, "%lf %lf", &secs, cpu) != 2 || pclose(p) != 0 ||
      secs <= 0) {
    fprintf(stderr, "bench_store: the bare loop failed\n");
    exit(1);
  }
  return secs;
}

/* ---- the format's required work alone (no LMDB) ----
 *
 * What one bulk change needs because of the store's format, done as
 * store_write_change does it (storage/store.c: write_once, apply_into,
 * change_pack, touched_apply, seal_value), with no LMDB call and none of
 * the store's bookkeeping (the version vector and its seal, the feed
 * number, the indexes, the sort of the batch's ops, the session's kept
 * bytes, the cipher worker): the change built and signed
 * (crdt_change_build_unsigned, crdt_change_sign_built_hash: its digest
 * signed), its hash from that digest (crdt_change_hash: the next change's
 * prev and the version vector's head), its zstd frame (change_pack's
 * level, bound and rule), each record's state (crdt_record_new, the
 * record's ops applied with the change's stamp, crdt_record_encode),
 * each record squeezed (store format 6: zstd level 1 with a dictionary
 * trained once, before the clock, from the first FLOOR_SAMPLES records,
 * as the store trains its own; here of the version-3 bytes, whose origin
 * the store numbers first) and, in a sealed store, the change's kept bytes and every record sealed
 * (crdt_sealer_seal, the store's associated data: the table's name, 0,
 * the LMDB key). The constants below are store.c's and change.c's. */
#define FLOOR_PACK_MIN 64   /* store.c PACK_MIN */
#define FLOOR_PACK_GAIN 16  /* PACK_GAIN */
#define FLOOR_PACK_LEVEL 1  /* PACK_LEVEL */
#define FLOOR_DOMAIN "gridsync-change-v2" /* change.c CHANGE_DOMAIN */
#define FLOOR_SAMPLES 2000 /* store.c ZDICT_SAMPLES */
#define FLOOR_DICT 16384   /* ZDICT_CAP */
#define FLOOR_SCOPE "s/c/g01"
#define FLOOR_COLL "resident"

/* The pieces, each timed on its own (floor_change with a clock). */
enum { F_BUILD, F_SIGN, F_HASH, F_ZSTD, F_RECORDS, F_SQUEEZE, F_SEAL, F_N };

typedef struct floor_ctx {
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  crdt_sealer *sealer; /* NULL: the store is not sealed */
  ZSTD_CCtx *zc, *rc; /* the change's frame; the records' */
  ZSTD_CDict *dict;   /* the records' dictionary */
  uint8_t *zbuf, *rbuf, *sbuf, *msg;
  size_t scap, mcap;
  uint8_t feed[CRDT_FEED_LEN];
  uint8_t prev[CRDT_HASH_LEN];
  uint64_t seq;
  crdt_hlc hlc;
  uint8_t *enc[64]; /* a change's records, encoded */
  size_t encn[64];
  uint64_t raw_b, packed_b, rec_b, sq_b, nrec, nch; /* bytes made */
  bool sign_checked;
} floor_ctx;

/* The split's clock: t[piece] gains the CPU seconds since the last mark. */
typedef struct floor_clock {
  double t[F_N], at;
} floor_clock;

static void floor_mark(floor_clock *fk, int piece)
{
  if (!fk)
    return;
  double now = cpu_s();
  if (piece >= 0)
    fk->t[piece] += now - fk->at;
  fk->at = now;
}

static void *floor_room(uint8_t **b, size_t *cap, size_t need)
{
  if (need > *cap) {
    uint8_t *nb = realloc(*b, need);
    if (!nb)
      die("floor", GS_ENOMEM);
    *b = nb;
    *cap = need;
  }
  return *b;
}

/* Seal n bytes of msg for table db under key (as seal_value does). */
static void floor_seal(floor_ctx *f, const char *db, const void *key,
                       size_t kn, const void *msg, size_t n)
{
  uint8_t ad[16 + 512];
  size_t dn = strlen(db);
  memcpy(ad, db, dn + 1);
  memcpy(ad + dn + 1, key, kn);
  floor_room(&f->sbuf, &f->scap, n + CRDT_SEAL_OVERHEAD);
  if (crdt_sealer_seal(f->sealer, ad, dn + 1 + kn, msg, n, f->sbuf) != GS_OK)
    die("floor seal", GS_ECRYPTO);
}

#define FLOOR_REC_MAX 65536 /* store.c ZREC_MAX */

/* The records' dictionary of f, trained from the first FLOOR_SAMPLES
 * residents' records (version 3), as a store trains its own. */
static void floor_dict(floor_ctx *f)
{
  size_t cap = (size_t)FLOOR_SAMPLES * 1024, at = 0;
  uint8_t *samples = malloc(cap), *dict = malloc(FLOOR_DICT);
  size_t *sizes = malloc(FLOOR_SAMPLES * sizeof *sizes);
  uint8_t id[CRDT_ID_LEN], last[CRDT_ID_LEN] = {0};
  crdt_stamp st = {.hlc = 1};
  resident r;
  gs_err err;
  if (!samples || !dict || !sizes)
    die("floor dict", GS_ENOMEM);
  memcpy(st.origin, f->pk, CRDT_KEY_LEN);
  for (size_t i = 0; i < FLOOR_SAMPLES; i++) {
    uint8_t *enc;
    size_t n;
    crdt_id_next(1735689600000ULL, NULL, last, id);
    memcpy(last, id, CRDT_ID_LEN);
    make_resident(&r, i, id);
    crdt_record *rec = crdt_record_new(FLOOR_SCOPE, strlen(FLOOR_SCOPE),
                                       FLOOR_COLL, strlen(FLOOR_COLL), id);
    if (!rec)
      die("floor dict", GS_ENOMEM);
    for (int o = 0; o < 10; o++)
      if ((err = crdt_record_apply(rec, &r.ops[o], &st)))
        die("floor dict", err);
    if ((err = crdt_record_encode(rec, &enc, &n)))
      die("floor dict", err);
    crdt_record_free(rec);
    if (n > cap - at)
      die("floor dict", GS_ENOMEM);
    memcpy(samples + at, enc, n);
    at += n;
    sizes[i] = n;
    free(enc);
  }
  size_t want = at / 10 < FLOOR_DICT ? at / 10 : FLOOR_DICT;
  size_t dn = ZDICT_trainFromBuffer(dict, want, samples, sizes, FLOOR_SAMPLES);
  if (ZDICT_isError(dn))
    die("floor dict", GS_ECORRUPT);
  if (!(f->dict = ZSTD_createCDict(dict, dn, 1)) ||
      !(f->rc = ZSTD_createCCtx()) ||
      !(f->rbuf = malloc(ZSTD_compressBound(FLOOR_REC_MAX))))
    die("floor dict", GS_ENOMEM);
  /* as store.c squeezes: no checksum, no dictionary id */
  if (ZSTD_isError(ZSTD_CCtx_setParameter(f->rc, ZSTD_c_checksumFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(f->rc, ZSTD_c_dictIDFlag, 0)) ||
      ZSTD_isError(ZSTD_CCtx_refCDict(f->rc, f->dict)))
    die("floor dict", GS_EINVAL);
  free(samples);
  free(dict);
  free(sizes);
}

/* The required work of one change of k residents (ops: k * 10, the ids
 * in rs). fk NULL: the work as the store does it, nothing else; else each
 * piece marked on fk, and the change's signature made once more on its
 * own (F_SIGN; checked once to be the same bytes), which the build
 * (F_BUILD) made too. */
static void floor_change(floor_ctx *f, const crdt_op *ops,
                         const resident *rs, size_t k, uint64_t phys_ms,
                         floor_clock *fk)
{
  crdt_change c = {.seq = 0};
  uint8_t *raw;
  size_t rawlen;
  gs_err err;
  floor_mark(fk, -1);
  if ((err = crdt_hlc_tick(&f->hlc, phys_ms, &f->hlc)))
    die("floor clock", err);
  memcpy(c.origin, f->pk, CRDT_KEY_LEN);
  c.scope = FLOOR_SCOPE;
  c.scope_len = strlen(FLOOR_SCOPE);
  c.seq = ++f->seq;
  if (c.seq > 1)
    memcpy(c.prev, f->prev, CRDT_HASH_LEN);
  c.hlc = f->hlc;
  c.ops = ops;
  c.nops = k * 10;
  /* built and signed as the store's worker does: the change's hash made
   * from the digest signed */
  uint8_t digest[CRDT_HASH_LEN];
  if ((err = crdt_change_build_unsigned(&c, &raw, &rawlen)))
    die("floor build", err);
  crdt_change_sign_built_hash(f->sk, raw, &rawlen, digest, f->prev);
  c.raw = raw;
  c.raw_len = rawlen;
  memcpy(c.sig, raw + rawlen - CRDT_SIG_LEN, CRDT_SIG_LEN);
  floor_mark(fk, F_BUILD);
  if (fk) { /* the signing: the digest of the domain and the 7-array,
             * then Ed25519 of the domain and the digest (change.c) */
    size_t dl = strlen(FLOOR_DOMAIN), body = rawlen - 2 - CRDT_SIG_LEN;
    uint8_t sig[CRDT_SIG_LEN], d[CRDT_HASH_LEN], sm[64];
    floor_room(&f->msg, &f->mcap, dl + body);
    memcpy(f->msg, FLOOR_DOMAIN, dl);
    memcpy(f->msg + dl, raw, body);
    f->msg[dl] = 0x97;
    floor_mark(fk, -1);
    crdt_hash(f->msg, dl + body, d);
    memcpy(sm, FLOOR_DOMAIN, dl);
    memcpy(sm + dl, d, CRDT_HASH_LEN);
    crdt_sign(f->sk, sm, dl + CRDT_HASH_LEN, sig);
    floor_mark(fk, F_SIGN);
    if (!f->sign_checked && (memcmp(sig, c.sig, CRDT_SIG_LEN) != 0 ||
                             memcmp(d, digest, CRDT_HASH_LEN) != 0)) {
      fprintf(stderr, "bench_store: the sign piece signs other bytes\n");
      exit(1);
    }
    f->sign_checked = true;
    /* the change's hash alone: of the digest and the signature */
    uint8_t ds[CRDT_HASH_LEN + CRDT_SIG_LEN], h[CRDT_HASH_LEN];
    memcpy(ds, d, CRDT_HASH_LEN);
    memcpy(ds + CRDT_HASH_LEN, sig, CRDT_SIG_LEN);
    floor_mark(fk, -1);
    crdt_hash(ds, sizeof ds, h);
    floor_mark(fk, F_HASH);
    if (memcmp(h, f->prev, CRDT_HASH_LEN) != 0) {
      fprintf(stderr, "bench_store: the hash piece hashes other bytes\n");
      exit(1);
    }
  }
  const uint8_t *kept = raw;
  size_t keptn = rawlen;
  if (rawlen >= FLOOR_PACK_MIN && rawlen <= CRDT_CHANGE_MAX) {
    size_t z = ZSTD_compressCCtx(f->zc, f->zbuf,
                                 ZSTD_compressBound(CRDT_CHANGE_MAX), raw,
                                 rawlen, FLOOR_PACK_LEVEL);
    if (!ZSTD_isError(z) && z + FLOOR_PACK_GAIN <= rawlen)
      kept = f->zbuf, keptn = z;
  }
  floor_mark(fk, F_ZSTD);
  /* the records: key coll 0 id(16) scope (store.c record_key) */
  uint8_t key[sizeof FLOOR_COLL + CRDT_ID_LEN + sizeof FLOOR_SCOPE];
  size_t cn = strlen(FLOOR_COLL), sn = strlen(FLOOR_SCOPE);
  size_t kn = cn + 1 + CRDT_ID_LEN + sn;
  memcpy(key, FLOOR_COLL, cn + 1);
  memcpy(key + cn + 1 + CRDT_ID_LEN, FLOOR_SCOPE, sn);
  crdt_stamp st = {.hlc = f->hlc};
  memcpy(st.origin, f->pk, CRDT_KEY_LEN);
  for (size_t r = 0; r < k; r++) {
    crdt_record *rec = crdt_record_new(FLOOR_SCOPE, sn, FLOOR_COLL, cn,
                                       rs[r].ops[0].id);
    if (!rec)
      die("floor record", GS_ENOMEM);
    for (int o = 0; o < 10; o++)
      if ((err = crdt_record_apply(rec, &ops[r * 10 + o], &st)))
        die("floor apply", err);
    if ((err = crdt_record_encode(rec, &f->enc[r], &f->encn[r])))
      die("floor encode", err);
    crdt_record_free(rec);
  }
  floor_mark(fk, F_RECORDS);
  for (size_t r = 0; r < k; r++) { /* kept when shorter, as store.c does */
    f->rec_b += f->encn[r];
    size_t z = ZSTD_compress2(f->rc, f->rbuf,
                              ZSTD_compressBound(FLOOR_REC_MAX), f->enc[r],
                              f->encn[r]);
    if (!ZSTD_isError(z) && z > 4 && z - 1 < f->encn[r]) {
      memcpy(f->enc[r] + 3, f->rbuf + 4, z - 4);
      f->encn[r] = z - 1;
    }
    f->sq_b += f->encn[r];
  }
  floor_mark(fk, F_SQUEEZE);
  if (f->sealer) {
    uint8_t ck[CRDT_FEED_LEN + 8]; /* changes: feed(16) seq(8) */
    memcpy(ck, f->feed, CRDT_FEED_LEN);
    for (int b = 0; b < 8; b++)
      ck[CRDT_FEED_LEN + b] = (uint8_t)(c.seq >> (56 - 8 * b));
    floor_seal(f, "changes", ck, sizeof ck, kept, keptn);
    for (size_t r = 0; r < k; r++) {
      memcpy(key + cn + 1, rs[r].ops[0].id, CRDT_ID_LEN);
      floor_seal(f, "records", key, kn, f->enc[r], f->encn[r]);
    }
  }
  floor_mark(fk, F_SEAL);
  f->raw_b += rawlen;
  f->packed_b += keptn;
  for (size_t r = 0; r < k; r++)
    free(f->enc[r]);
  f->nrec += k;
  f->nch++;
  free(raw);
}

/* The required work of n residents in changes of per (as the bulk load
 * makes them), sealed or not: once as the store does it, timed like the
 * bulk row (the making of the residents not counted), then once more
 * piece by piece. Prints wall and CPU seconds of the first, the CPU
 * seconds of each piece, then the bytes made (change raw and kept,
 * record encoded) per change and per record. */
static void floor_loop(size_t n, size_t per, bool sealed)
{
  floor_ctx f = {.seq = 0};
  gs_err err;
  uint8_t key[CRDT_SEAL_KEY_LEN];
  if ((err = crdt_crypto_init()))
    die("crypto", err);
  crdt_keypair(f.pk, f.sk);
  crdt_random(key, sizeof key);
  if (sealed && (err = crdt_sealer_new(key, &f.sealer)))
    die("sealer", err);
  crdt_wipe(key, sizeof key);
  crdt_feed_id(f.pk, FLOOR_SCOPE, strlen(FLOOR_SCOPE), f.feed);
  if (!(f.zc = ZSTD_createCCtx()) ||
      !(f.zbuf = malloc(ZSTD_compressBound(CRDT_CHANGE_MAX))))
    die("floor", GS_ENOMEM);
  floor_dict(&f);
  crdt_op *ops = malloc(per * 10 * sizeof *ops);
  resident *rs = malloc(per * sizeof *rs);
  if (!ops || !rs || per > sizeof f.enc / sizeof f.enc[0])
    die("floor", GS_ENOMEM);
  floor_clock fk = {.at = 0};
  double wall = 0, cpu = 0, bytes[4] = {0};
  for (int pass = 0; pass < 2; pass++) {
    uint8_t id[CRDT_ID_LEN], last[CRDT_ID_LEN] = {0};
    f.seq = 0;
    f.hlc = 0;
    f.raw_b = f.packed_b = f.rec_b = f.sq_b = f.nrec = f.nch = 0;
    for (size_t i = 0; i < n;) {
      size_t k = 0;
      struct timespec rt;
      clock_gettime(CLOCK_REALTIME, &rt);
      uint64_t ms = (uint64_t)rt.tv_sec * 1000 + (uint64_t)rt.tv_nsec / 1000000;
      for (; k < per && i < n; k++, i++) {
        crdt_id_next(ms, NULL, last, id);
        memcpy(last, id, CRDT_ID_LEN);
        make_resident(&rs[k], i, id);
        memcpy(&ops[k * 10], rs[k].ops, sizeof rs[k].ops);
      }
      double t0 = now_s(), c0 = cpu_s();
      floor_change(&f, ops, rs, k, ms, pass ? &fk : NULL);
      if (!pass) {
        wall += now_s() - t0;
        cpu += cpu_s() - c0;
      }
    }
    if (!pass) {
      bytes[0] = (double)f.raw_b / (double)f.nch;
      bytes[1] = (double)f.packed_b / (double)f.nch;
      bytes[2] = (double)f.rec_b / (double)f.nrec;
      bytes[3] = (double)f.sq_b / (double)f.nrec;
    }
  }
  printf("%.6f %.6f", wall, cpu);
  for (int p = 0; p < F_N; p++)
    printf(" %.6f", fk.t[p]);
  printf(" %.1f %.1f %.1f %.1f\n", bytes[0], bytes[1], bytes[2], bytes[3]);
  crdt_sealer_free(f.sealer);
  ZSTD_freeCCtx(f.zc);
  ZSTD_freeCCtx(f.rc);
  ZSTD_freeCDict(f.dict);
  free(f.zbuf);
  free(f.rbuf);
  free(f.sbuf);
  free(f.msg);
  free(ops);
  free(rs);
}

#define FLOOR_FIGS (2 + F_N + 4)

/* floor_loop in a fresh process (as bare_run, for the same reason): its
 * FLOOR_FIGS figures into v. */
static void floor_run(size_t n, size_t per, bool sealed, double v[FLOOR_FIGS])
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "/proc/%d/exe --floor-loop %zu %zu %d",
           (int)getpid(), n, per, sealed ? 1 : 0);
  FILE *p = popen(cmd, "r");
  int got = 0;
  for (int i = 0; p && i < FLOOR_FIGS; i++)
    got += fscanf(p, "%lf", &v[i]) == 1;
  if (!p || pclose(p) != 0 || got != FLOOR_FIGS || v[1] <= 0) {
    fprintf(stderr, "bench_store: the required work's loop failed\n");
    exit(1);
  }
}

static double median3(const double v[3])
{
  double a = v[0], b = v[1], c = v[2];
  if ((a <= b && b <= c) || (c <= b && b <= a))
    return b;
  if ((b <= a && a <= c) || (c <= a && a <= b))
    return a;
  return c;
}

static void rm_rf(const char *dir)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_store: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
  size_t durable_n = 300, bulk_n = 100000;
  const char *base = "/tmp";
  if (argc == 6 && strcmp(argv[1], "--bare-loop") == 0) {
    double cpu;
    double secs = bare_loop(argv[2], strtoull(argv[3], NULL, 10),
                            strtoull(argv[4], NULL, 10),
                            strtoull(argv[5], NULL, 10), 0, &cpu);
    printf("%.6f %.6f\n", secs, cpu);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "--floor-loop") == 0) {
    floor_loop(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
               strcmp(argv[4], "1") == 0);
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--durable") == 0 && i + 1 < argc)
      durable_n = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--bulk") == 0 && i + 1 < argc)
      bulk_n = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      base = argv[++i];
    else {
      fprintf(stderr,
              "usage: bench_store [--durable N] [--bulk N] [--dir DIR]\n");
      return 2;
    }
  }
  if (!durable_n || !bulk_n) {
    fprintf(stderr, "bench_store: counts must be positive\n");
    return 2;
  }
  char root[512], dir[600];
  snprintf(root, sizeof root, "%s/gs-bench-XXXXXX", base);
  if (!mkdtemp(root)) {
    fprintf(stderr, "bench_store: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  resident *r = malloc(sizeof *r);
  uint8_t id[16];
  gs_err err;
  node *n;

  /* without GRIDSYNC_PASSPHRASE the nodes are open ones (NODE_INIT_OPEN:
   * the data key kept unwrapped); with it, as before */
  const char *pass = getenv("GRIDSYNC_PASSPHRASE");
  unsigned init_flags = pass && *pass ? 0 : NODE_INIT_OPEN;

  /* 1. durable single-record puts: one change, one fsync each */
  snprintf(dir, sizeof dir, "%s/durable", root);
  if ((err = node_init_ex(dir, "bench", init_flags)) ||
      (err = node_open(dir, 0, NULL, &n)))
    die("node", err);
  uint64_t used0 = dir_bytes_used(node__store(n));
  sync();
  double t0 = now_s();
  for (size_t i = 0; i < durable_n; i++) {
    node_id_new(n, id);
    make_resident(r, i, id);
    if ((err = node__write(n, "s/c/g01", 7, r->ops, 10, NULL)))
      die("put", err);
  }
  double d_secs = now_s() - t0;
  uint64_t d_bytes = dir_bytes_used(node__store(n)) - used0;
  node_close(n);

  /* 2. bulk: many records per change, one transaction, one fsync */
  snprintf(dir, sizeof dir, "%s/bulk", root);
  if ((err = node_init_ex(dir, "bench", init_flags)) ||
      (err = node_open(dir, 0, NULL, &n)))
    die("node", err);
  used0 = dir_bytes_used(node__store(n));
  const size_t per_change = 40; /* 400 ops, well under the change limit */
  /* The residents are made a chunk of changes at a time, outside the
   * timed windows, and each chunk's changes are then written in one
   * window, its last change kept in it (store__write_settle): a change
   * signed aside is kept at the next call, and its signing goes on while
   * the store's thread writes the next change's records, so the time
   * between two calls must be the store's own (as it is in a chunk), not
   * the bench's making of residents, where that work would be free. */
  enum { CHUNK = 250 }; /* changes: 10,000 residents, about 11 MB */
  crdt_op *ops = malloc(CHUNK * per_change * 10 * sizeof *ops);
  resident *rs = malloc(CHUNK * per_change * sizeof *rs);
  size_t in_change[CHUNK];
  if (!ops || !rs)
    die("bulk input", GS_ENOMEM);
  store_write *w;
  double b_secs = 0, in_secs = 0, t1, b_cpu = 0, c0, c1;
  double b_tcpu = 0, h0, h1; /* the store's thread's CPU */
  /* the store's cipher worker's watching for work (awake, no work: in
   * the CPU figure), in the timed windows */
  uint64_t x0, x1, b_watch = 0;
  store *bs = node__store(n);
  sync();
  t0 = now_s();
  c0 = cpu_s();
  h0 = thread_cpu_s();
  x0 = store__cipher_watch_ns(bs);
  if ((err = node__write_begin(n, &w)))
    die("bulk begin", err);
  for (size_t i = 0; i < bulk_n;) {
    t1 = now_s();
    c1 = cpu_s();
    h1 = thread_cpu_s();
    x1 = store__cipher_watch_ns(bs);
    b_secs += t1 - t0;
    b_cpu += c1 - c0;
    b_tcpu += h1 - h0;
    b_watch += x1 - x0;
    size_t nch = 0, made = 0;
    for (; nch < CHUNK && i < bulk_n; nch++) {
      size_t k = 0;
      for (; k < per_change && i < bulk_n; k++, i++, made++) {
        node_id_new(n, id);
        make_resident(&rs[made], i, id);
        memcpy(&ops[made * 10], rs[made].ops, sizeof rs[made].ops);
      }
      in_change[nch] = k;
    }
    t0 = now_s();
    c0 = cpu_s();
    h0 = thread_cpu_s();
    x0 = store__cipher_watch_ns(bs);
    in_secs += t0 - t1;
    for (size_t ch = 0, at = 0; ch < nch; at += in_change[ch++])
      if ((err = store_write_change(w, "s/c/g01", 7, &ops[at * 10],
                                    in_change[ch] * 10, node_now(n), NULL,
                                    NULL)))
        die("bulk change", err);
    if ((err = store__write_settle(w)))
      die("bulk change", err);
  }
  if ((err = store_write_commit(w)))
    die("bulk commit", err);
  b_secs += now_s() - t0;
  b_cpu += cpu_s() - c0;
  b_tcpu += thread_cpu_s() - h0;
  b_watch += store__cipher_watch_ns(bs) - x0;
  uint64_t signs[4]; /* each change signed aside: by whom, the waits */
  store__sign_counts(bs, signs);
  uint64_t b_bytes = dir_bytes_used(node__store(n)) - used0;
  /* sealed or not, as the store says: its plain meta entry "seal" (how far
   * it is sealed; absent in a store without a data key) */
  uint8_t seal_state = 0;
  size_t seal_n = 0;
  bool sealed = store_meta_get(bs, "seal", &seal_state, 1, &seal_n) ==
                    GS_OK &&
                seal_n == 1 && seal_state != 0;
  bool open_node = node_is_open(n);
  node_close(n);
  db_breakdown(dir, bulk_n);

  /* 3. bare LMDB: the same bytes per record, same commit pattern; the
   * median of three runs, each after the page cache was written back
   * (a bare loop right after a big write varies twofold otherwise) */
  size_t d_size = d_bytes / durable_n, b_size = b_bytes / bulk_n;
  double bd[3], bb[3], cd[3], cb[3];
  for (int k = 0; k < 3; k++) {
    snprintf(dir, sizeof dir, "%s/bare-durable-%d", root, k);
    bd[k] = bare_run(dir, durable_n, d_size, 1, &cd[k]);
    snprintf(dir, sizeof dir, "%s/bare-bulk-%d", root, k);
    bb[k] = bare_run(dir, bulk_n, b_size, bulk_n, &cb[k]);
  }
  double bd_secs = median3(bd), bb_secs = median3(bb), bb_cpu = median3(cb);
  /* 4. the format's required work alone, the median of three runs (of
   * each figure) */
  double fl[3][FLOOR_FIGS], fm[FLOOR_FIGS];
  for (int k = 0; k < 3; k++)
    floor_run(bulk_n, per_change, sealed, fl[k]);
  for (int i = 0; i < FLOOR_FIGS; i++) {
    double v[3] = {fl[0][i], fl[1][i], fl[2][i]};
    fm[i] = median3(v);
  }

  double d_rate = (double)durable_n / d_secs, b_rate = (double)bulk_n / b_secs;
  double bd_rate = (double)durable_n / bd_secs,
         bb_rate = (double)bulk_n / bb_secs;
  printf("gridsync storage benchmark (%zu durable puts, %zu bulk records)\n",
         durable_n, bulk_n);
  printf("%-34s %12s %14s %10s\n", "workload", "records/s", "bytes/record",
         "ratio");
  printf("%-34s %12.0f %14zu %10s\n", "gridsync durable put (fsync each)",
         d_rate, d_size, "");
  printf("%-34s %12.0f %14zu %9.2fx\n", "bare LMDB, same bytes, fsync each",
         bd_rate, d_size, d_rate / bd_rate);
  printf("%-34s %12.0f %14zu %10s\n", "gridsync bulk (one transaction)",
         b_rate, b_size, "");
  printf("%-34s %12.0f %14zu %9.2fx\n", "bare LMDB, same bytes, one txn",
         bb_rate, b_size, b_rate / bb_rate);
  printf("%-34s %12.0f %14s %10s\n", "input made by the bench (not timed)",
         (double)bulk_n / in_secs, "", "");
  printf("%-34s %12.0f %14zu %10s\n", "gridsync bulk, per CPU second",
         (double)bulk_n / b_cpu, b_size, "");
  printf("%-34s %12.0f %14zu %9.2fx\n", "bare LMDB bulk, per CPU second",
         (double)bulk_n / bb_cpu, b_size, bb_cpu / b_cpu);
  double b_work = b_cpu - (double)b_watch / 1e9;
  printf("%-34s %12.0f %14zu %9.2fx\n", "gridsync bulk, per CPU s of work",
         (double)bulk_n / b_work, b_size, bb_cpu / b_work);
  printf("  (less the cipher worker's %.3f s awake watching for work; "
         "the store's sealing on two threads)\n",
         (double)b_watch / 1e9);
  printf("  (%llu changes signed aside: %llu by the worker, %llu by the "
         "store's thread; it waited %.3f s for the worker's)\n",
         (unsigned long long)(signs[0] + signs[1]),
         (unsigned long long)signs[0], (unsigned long long)signs[1],
         (double)signs[2] / 1e9);
  printf("  (the store's thread: %.2f us of CPU a record, of %.2f us of the "
         "wall; the whole process %.2f)\n",
         b_tcpu * 1e6 / (double)bulk_n, b_secs * 1e6 / (double)bulk_n,
         b_cpu * 1e6 / (double)bulk_n);
  printf("ratio = gridsync rate / bare LMDB rate (1.00x = as fast as the "
         "bare loop)\n");
  /* the format's required work alone: its rows, the cap, its pieces */
  double f_wall = fm[0], f_cpu = fm[1], us = 1e6 / (double)bulk_n;
  printf("the format's required work alone (no LMDB, no bookkeeping), "
         "in a %s store (meta \"seal\" %u), %s node:\n",
         sealed ? "sealed" : "not sealed", (unsigned)seal_state,
         open_node ? "an open (no passphrase)" : "a passphrase");
  printf("%-44s %12s %14s %10s\n", "workload", "records/s", "bytes/record",
         "ratio");
  printf("%-44s %12.0f %14zu %9.2fx\n",
         "the format's required work alone (no LMDB)",
         (double)bulk_n / f_wall, b_size, bb_secs / f_wall);
  printf("%-44s %12.0f %14zu %9.2fx\n",
         "the format's required work, per CPU second",
         (double)bulk_n / f_cpu, b_size, bb_cpu / f_cpu);
  printf("cap (bare LMDB bulk CPU s / the required work's CPU s): %.2fx; "
         "gridsync bulk per CPU s %.2fx; goal %.2fx\n",
         bb_cpu / f_cpu, bb_cpu / b_cpu, 0.5);
  printf("  with gridsync's LMDB writes as cheap as the bare loop's "
         "(bare / (bare + required work)): %.2fx\n",
         bb_cpu / (bb_cpu + f_cpu));
  printf("the required work per record, us of CPU, each piece timed on its "
         "own:\n");
  printf("  %-58s %6.2f\n",
         "build (checks, encode, sign the digest, the change's hash)",
         fm[2 + F_BUILD] * us);
  printf("  %-58s %6.2f\n",
         "  of it: sign (BLAKE2b of the body, Ed25519 of that)",
         fm[2 + F_SIGN] * us);
  printf("  %-58s %6.2f\n",
         "  of it: the change's hash (BLAKE2b of digest and sig)",
         fm[2 + F_HASH] * us);
  printf("  %-58s %6.2f\n", "  of it: encode and checks (the rest)",
         (fm[2 + F_BUILD] - fm[2 + F_SIGN] - fm[2 + F_HASH]) * us);
  printf("  %-58s %6.2f\n", "zstd (level 1 frame of the change)",
         fm[2 + F_ZSTD] * us);
  printf("  %-58s %6.2f\n",
         "encode the records (crdt_record_new, apply, encode)",
         fm[2 + F_RECORDS] * us);
  printf("  %-58s %6.2f\n",
         "squeeze the records (zstd level 1, the store's dictionary)",
         fm[2 + F_SQUEEZE] * us);
  printf("  %-58s %6.2f\n",
         sealed ? "seal (XChaCha20-Poly1305: each record, the change)"
                : "seal (none: the store is not sealed)",
         fm[2 + F_SEAL] * us);
  printf("  %-58s %6.2f  (timed at once: %.2f)\n", "the pieces' sum",
         (fm[2 + F_BUILD] + fm[2 + F_ZSTD] +
          fm[2 + F_RECORDS] + fm[2 + F_SQUEEZE] + fm[2 + F_SEAL]) * us,
         f_cpu * us);
  printf("  (its bytes: a change of %zu records %.0f B, kept %.0f B; "
         "a record %.1f B encoded, %.1f B squeezed)\n",
         per_change, fm[2 + F_N], fm[3 + F_N], fm[4 + F_N], fm[5 + F_N]);
  free(ops);
  free(rs);
  free(r);
  rm_rf(root);
  return 0;
}
