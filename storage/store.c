/* The node's LMDB store: feeds, version vector, records and indexes. */
#include "storage/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#ifndef _WIN32
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#endif
#include <sys/file.h>
#include <sys/stat.h>
#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INITIAL_MAP ((size_t)64 << 20)
#ifdef _WIN32
/* On Windows LMDB sets data.mdb's length to the map size (the file is the
 * map): the map grows in smaller steps there, from 64 MiB by doubling to
 * 256 MiB and then 256 MiB a step, so a small community's file stays
 * small; a write session starts with 64 MiB free. */
#define MAP_GROWN_MIN ((size_t)128 << 20)
#define WRITE_ROOM ((size_t)64 << 20)
#define MAP_STEP_MAX ((size_t)256 << 20)
#else
#define MAP_GROWN_MIN ((size_t)1 << 30)
#define WRITE_ROOM ((size_t)256 << 20) /* free map a write session starts with */
#define MAP_STEP_MAX \
  (SIZE_MAX / 4 < MAP_GROWN_MIN ? MAP_GROWN_MIN : MAP_GROWN_MIN * 4)
#endif
#define RETRIES 8
#define OMEMO 4 /* origins a write transaction remembers the numbers of */

enum { DB_META, DB_CHANGES, DB_VV, DB_RECORDS, DB_BYSCOPE, DB_HIST, DB_FORKS,
       DB_PEERS, DB_HEARD, DB_HELD, DB_QUAR, DB_QUOTA, DB_FEEDNO, DB_ORIGINNO,
       DB_COUNT };
/* Databases from DB_FIRST_LATER on came after format 2 was released: a
 * store without them gets them when first opened for writing (read-only,
 * they read as empty). */
#define DB_FIRST_LATER DB_HELD
static const char *const db_names[DB_COUNT] = {
    "meta",  "changes", "vv",    "records", "byscope",
    "hist",  "forks",   "peers", "heard",   "held", "quar", "quota",
    "feedno", "originno"};

/* A thread's means to pack a change (change_pack, pack_frame): the
 * store's, used by its thread, and the signing task's (a change signed
 * aside is packed with its signing: "a local change signed aside"), used
 * by the one thread that runs the task. */
typedef struct packer {
  ZSTD_CCtx *zc;
  ZSTD_CCtx *zc_fit; /* the second try (pack_to_fit) */
  uint8_t *zbuf;     /* ZSTD_compressBound(CRDT_CHANGE_MAX) */
  uint8_t *zbuf_fit; /* the same size: the second try's frame */
  uint64_t frames;   /* changes packed (store__change_packs) */
} packer;
static gs_err pack_frame(packer *p, const uint8_t *raw, size_t n, size_t fit,
                         size_t *z);
static void packer_free(packer *p);

/* A thread's means to squeeze records ("record dictionaries"). */
typedef struct squeezer {
  ZSTD_CCtx *cc;
  ZSTD_DCtx *dc;
  uint8_t *frame; /* ZREC_FRAME bytes */
} squeezer;

struct store {
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  unsigned flags;
  /* changes are kept zstd-compressed (change_pack / change_unpack); a
   * store is used by one thread, so one packer and unpacking context */
  packer pk;
  ZSTD_DCtx *zd;
  /* the largest kept change LMDB holds in its leaf page, before sealing
   * (change_fit; 0: not known) */
  size_t change_in_page;
  uint8_t *dbuf; /* CRDT_CHANGE_MAX: an unpacked change */
  /* the last change packed: its input, and the packed size in pk.zbuf
   * (0: kept as it is); write_keep copies it instead of packing again */
  const uint8_t *zlast;
  size_t zlast_n, zlast_z;
  bool absent[DB_COUNT]; /* a later database not in a read-only store */
  store_now_fn now;
  void *now_ctx;
  /* sealing at rest (see "sealed values" below) */
  uint8_t *key;  /* the data key (crdt_secret_alloc); NULL: not sealed */
  crdt_sealer *sealer; /* of key: nonces fresh per open (crdt.h) */
  bool mixed;    /* sealing under way: a value that does not open may
                  * be one not sealed yet */
  uint8_t *sbuf; /* a value being sealed */
  size_t scap;
  /* a batch's cipher work on two threads (touched_write; "the cipher
   * work of a batch" below): the second thread's sealer (its own nonce
   * prefix) and the thread, both made at the first batch that uses them */
  crdt_sealer *sealer2;
  struct cipher_worker *worker;
  struct cipher_item *titems; /* touched_write's chunk, kept: tcap */
  size_t tcap;
  uint8_t *tplain; /* its opened values (wiped after each batch): tpcap */
  size_t tpcap;
  uint8_t *tsealed; /* its sealed values (ciphertext only): tscap */
  size_t tscap;
  unsigned cipher_skip;    /* chunks left to do on this thread alone */
  unsigned cipher_delay_us; /* tests: store__cipher_delay */
  uint64_t cipher_here[2];  /* blocks opened, sealed by this thread */
  int sign_how;             /* tests: store__sign_aside (STORE__SIGN_*) */
  unsigned settle_full;     /* tests: store__settle_full */
  unsigned records_full;    /* tests: store__records_full */
  uint64_t signs[2];        /* local changes signed aside: by the worker,
                             * by this thread */
  uint64_t sign_wait_ns;    /* this thread's waits for the worker's */
  uint64_t sign_after[2];   /* changes whose records were written while
                             * the one before was signed; pending ones
                             * listed for a replay, not kept */
  unsigned sign_skip;       /* big local changes left to sign here */
  unsigned sign_backoff;    /* the skip after the next signing stall */
  unsigned sign_delay_us;   /* tests: store__sign_delay */
  unsigned cipher_backoff; /* the skip after the next stall */
  bool put_sealed; /* sv_put: the value given is sealed already */
  struct {
    uint8_t *b;
    size_t cap;
  } ob[STORE_OPEN_SLOTS]; /* opened values, used in turn */
  unsigned onext;
  int lockfd; /* seal.lock: shared while open, exclusive to compact */
  uint64_t sealed_count; /* values sealed by this open's upgrade */
  uint64_t upgraded_count; /* entries walked by this open's format upgrade */
  store_progress_fn progress;
  void *progress_ctx;
  /* received changes' frames, kept as they came (store_apply_frames) */
  crdt_change *const *kf_cs;
  const uint8_t *const *kf_p;
  const size_t *kf_n;
  size_t kf_count, kf_pos;
  /* origins by local number (format 4, "origin numbers" below): the
   * write transaction begun last (txn_begin) and its count; the origin
   * numbers committed before it began (wcommitted, once wc_gen == wgen);
   * the last OMEMO origins numbered in it (omemo, in turn from omemo_next;
   * valid while omemo_gen == wgen); number -> key of those known
   * committed (onk[no - 1] when onk_have[no - 1]); a record's format-3
   * bytes rebuilt (ubuf) */
  MDB_txn *wtxn;
  uint64_t wgen, wc_gen, omemo_gen;
  uint32_t wcommitted;
  struct {
    uint8_t key[CRDT_KEY_LEN];
    uint32_t no; /* 0: empty */
  } omemo[OMEMO];
  unsigned omemo_next;
  uint8_t (*onk)[CRDT_KEY_LEN];
  bool *onk_have;
  size_t onk_cap;
  uint8_t *ubuf;
  size_t ucap;
  /* records squeezed by a dictionary (format 6, "record dictionaries"
   * below): dictionary 1 known committed (zdc, zdd), or trained in the
   * write transaction of zt_gen (ztc, ztd); the one the write transaction
   * of zw_gen squeezes with (zw, NULL: none); this thread's squeezer
   * (zq); a squeezed record's bytes (zrec, zrecn); the records held at a
   * training that failed in this open (tried again at twice as many) */
  ZSTD_CDict *zdc, *ztc, *zw;
  ZSTD_DDict *zdd, *ztd;
  uint64_t zt_gen, zw_gen, zfail_at;
  squeezer zq; /* this thread's */
  uint8_t *zrec;
  size_t zrecn; /* zrec's bytes */
};

static uint64_t realtime_ms(void *ctx)
{
  struct timespec ts;
  (void)ctx;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec < 0 ? 0
                       : (uint64_t)ts.tv_sec * 1000 +
                             (uint64_t)ts.tv_nsec / 1000000;
}

void store_set_clock(store *s, store_now_fn now, void *ctx)
{
  s->now = now ? now : realtime_ms;
  s->now_ctx = now ? ctx : NULL;
}

/* The largest stamp (ms part) a received change may carry to be applied
 * now. */
static uint64_t ahead_limit_ms(store *s)
{
  uint64_t now = s->now(s->now_ctx);
  return now > UINT64_MAX - STORE_AHEAD_MAX_MS ? UINT64_MAX
                                               : now + STORE_AHEAD_MAX_MS;
}

static gs_err lmdb_err(int rc)
{
  return rc > 0 ? -rc : rc; /* errno values become negative */
}

static void be64_put(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint64_t be64_get(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* ---- sealed values ----
 *
 * With a data key, every value that can carry personal data is kept
 * sealed (XChaCha20-Poly1305, by the store's crdt_sealer: a nonce prefix
 * fresh per open, then a count) with the table's name and the
 * LMDB key as associated data, so that a value moved to another key or
 * table does not open. Sealing happens here only: sv_put seals, sv_get
 * and sv_cursor_get open; the rest of this file reads and writes plain
 * values. Not sealed: empty values (the index tables: all is in the key),
 * the pure counters of `heard` and `quota`, and the meta entries that
 * say how to read the store (format, seal state, upgrade marks). An
 * opened value lives in one of STORE_OPEN_SLOTS buffers used in turn: it
 * is valid until that many more values are opened, far beyond any value
 * this file holds while reading others. Keys are ids, scopes, seqs and
 * addresses; DESIGN.md section 5 says which. */

static int db_index(const store *s, MDB_dbi dbi)
{
  for (int i = 0; i < DB_COUNT; i++)
    if (s->dbi[i] == dbi && !s->absent[i])
      return i;
  return -1;
}

static bool meta_plain(const MDB_val *k)
{
  static const char *const names[] = {"format", "seal", "upgrade",
                                      "upgrade-changes", "upgrade-hist",
                                      "upgrade-squeeze"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (k->mv_size == strlen(names[i]) &&
        memcmp(k->mv_data, names[i], k->mv_size) == 0)
      return true;
  return k->mv_size > 5 && memcmp(k->mv_data, "seal:", 5) == 0;
}

/* Is a value of db under k kept sealed (when the store has a key)? */
static bool sealed_db(int db, const MDB_val *k)
{
  switch (db) {
  case DB_HEARD:
  case DB_QUOTA:
  case DB_BYSCOPE:
  case DB_HIST:
  case DB_FEEDNO: /* feed ids (keys elsewhere too) and their numbers */
  case -1:
    return false;
  case DB_ORIGINNO: /* a number's origin key sealed; an origin's number not */
    return k->mv_size == 4;
  case DB_META:
    return !meta_plain(k);
  default:
    return true;
  }
}

/* The associated data of a value: table name, 0, key. */
static size_t seal_ad(int db, const MDB_val *k, uint8_t *ad, size_t cap)
{
  size_t nn = strlen(db_names[db]);
  if (nn + 1 + k->mv_size > cap)
    return 0;
  memcpy(ad, db_names[db], nn);
  ad[nn] = 0;
  memcpy(ad + nn + 1, k->mv_data, k->mv_size);
  return nn + 1 + k->mv_size;
}
#define AD_MAX (16 + 512)

/* Seal v (for db, key k) into the store's buffer; *out views it. */
static int seal_value(store *s, int db, const MDB_val *k, const MDB_val *v,
                      MDB_val *out)
{
  uint8_t ad[AD_MAX];
  size_t adn = seal_ad(db, k, ad, sizeof ad);
  if (!adn)
    return MDB_BAD_VALSIZE;
  size_t need = v->mv_size + CRDT_SEAL_OVERHEAD;
  if (need > s->scap) {
    uint8_t *b = realloc(s->sbuf, need);
    if (!b)
      return GS_ENOMEM;
    s->sbuf = b;
    s->scap = need;
  }
  /* nonce: 16 random bytes of this open, then a count (no system call
   * per value; unique under the key) */
  if (crdt_sealer_seal(s->sealer, ad, adn, v->mv_data, v->mv_size,
                       s->sbuf) != GS_OK)
    return GS_ECRYPTO;
  out->mv_data = s->sbuf;
  out->mv_size = need;
  return 0;
}

/* Open v (of db, key k) in place: v then views the plain value. A value
 * that does not open is GS_ESEAL, unless sealing is under way (then it is
 * one not sealed yet, and read as it is). */
static int open_value(store *s, int db, const MDB_val *k, MDB_val *v)
{
  if (!s->key || v->mv_size == 0 || !sealed_db(db, k))
    return 0;
  uint8_t ad[AD_MAX];
  size_t adn = seal_ad(db, k, ad, sizeof ad);
  if (!adn || v->mv_size < CRDT_SEAL_OVERHEAD)
    return s->mixed ? 0 : GS_ESEAL;
  size_t need = v->mv_size - CRDT_SEAL_OVERHEAD;
  unsigned slot = s->onext;
  if (need > s->ob[slot].cap || !s->ob[slot].b) {
    size_t cap = need < 256 ? 256 : need;
    uint8_t *b = malloc(cap);
    if (!b)
      return GS_ENOMEM;
    if (s->ob[slot].b) {
      crdt_wipe(s->ob[slot].b, s->ob[slot].cap);
      free(s->ob[slot].b);
    }
    s->ob[slot].b = b;
    s->ob[slot].cap = cap;
  }
  if (crdt_sealer_open(s->sealer, ad, adn, v->mv_data, v->mv_size,
                       s->ob[slot].b) != GS_OK)
    return s->mixed ? 0 : GS_ESEAL;
  s->onext = (slot + 1) % STORE_OPEN_SLOTS;
  v->mv_data = s->ob[slot].b;
  v->mv_size = need;
  return 0;
}

static int sv_get(store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                  MDB_val *v)
{
  int rc = mdb_get(txn, dbi, k, v);
  return rc ? rc : open_value(s, db_index(s, dbi), k, v);
}

static int sv_put(store *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                  MDB_val *v, unsigned flags)
{
  int db = db_index(s, dbi);
  if (!s->key || s->put_sealed || v->mv_size == 0 || !sealed_db(db, k))
    return mdb_put(txn, dbi, k, v, flags);
  MDB_val sv;
  int rc = seal_value(s, db, k, v, &sv);
  return rc ? rc : mdb_put(txn, dbi, k, &sv, flags);
}

/* sv_put through cur (flags 0: LMDB looks on the cursor's page first). */
static int sv_cursor_put(store *s, MDB_cursor *cur, MDB_val *k, MDB_val *v)
{
  int db = db_index(s, mdb_cursor_dbi(cur));
  if (!s->key || s->put_sealed || v->mv_size == 0 || !sealed_db(db, k))
    return mdb_cursor_put(cur, k, v, 0);
  MDB_val sv;
  int rc = seal_value(s, db, k, v, &sv);
  return rc ? rc : mdb_cursor_put(cur, k, &sv, 0);
}

static int sv_cursor_get(store *s, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                         MDB_cursor_op op)
{
  int rc = mdb_cursor_get(cur, k, v, op);
  return rc ? rc : open_value(s, db_index(s, mdb_cursor_dbi(cur)), k, v);
}

/* The same in a range: an entry whose key lacks the prefix pre is the
 * end (MDB_NOTFOUND) and is not opened, so that a scan never opens (nor
 * is refused by) the entry just past its range. */
static int sv_cursor_in(store *s, MDB_cursor *cur, MDB_val *k, MDB_val *v,
                        MDB_cursor_op op, const void *pre, size_t pn)
{
  int rc = mdb_cursor_get(cur, k, v, op);
  if (rc)
    return rc;
  if (k->mv_size < pn || memcmp(k->mv_data, pre, pn) != 0)
    return MDB_NOTFOUND;
  return open_value(s, db_index(s, mdb_cursor_dbi(cur)), k, v);
}

/* ---- the cipher work of a batch, on two threads ----
 *
 * touched_write's records are opened and sealed by a worker thread while
 * this thread decodes, applies and encodes them (issue 19: the time a
 * person waits is the wall clock, and a laptop has two cores). A chunk's
 * records go in blocks of CIPHER_BLOCK: the worker opens blocks in key
 * order, ahead of this thread, which opens a block itself when it needs
 * one the worker has not taken, and, while the worker is still on the
 * block it needs, opens the next ones no thread has taken (so neither
 * waits while the other works); the worker seals the blocks this thread
 * has encoded, woken when CIPHER_WAKE blocks are ready (in a smaller
 * chunk, not woken for seals: it seals what is encoded when it gets
 * there), and before it sleeps it watches a while for blocks to seal
 * or the next job (cipher_watch); when every block is encoded (and so
 * opened), this thread writes the records block by block in key order,
 * sealing a block itself when the worker has not taken it, and the next
 * untaken ones while the worker finishes the one it wants. A block's
 * seal squeezes its records first (store format 6, "record
 * dictionaries": a squeeze costs about 1 us, more than the seal), so the
 * worker runs for an open store with a dictionary too, where it only
 * squeezes. So this thread never waits for the worker to start (on a
 * busy machine the worker may not run at all: then this thread does all
 * of it), only, briefly, for a block the worker is doing when no other
 * is left to do. Sealed values go into one buffer kept by the store
 * (tsealed, sized between chunks, at most TSEALED_MAX), not one
 * allocation each. The worker seals with its own sealer
 * (crdt_sealer_new draws it its own random nonce prefix, so the nonces of
 * the two never meet: docs/SEALING.md, "Nonces") and squeezes with its
 * own zstd context; it is made at the first chunk of at least
 * CIPHER_THREAD_MIN records of a sealed store (or one with a dictionary) and waits
 * for work until the store is closed. It reads only the bytes it is
 * given and writes only the items of the blocks it takes (no LMDB call,
 * no store field). Without threads (Windows), or when the thread cannot
 * be made, this thread does all of it, in the same order: the same
 * bytes. */

/* Squeezing a record (see "record dictionaries" below) touches no store
 * field, so that either thread of a batch may do it: with a thread's
 * squeezer, its zstd context (no checksum, no dictionary id:
 * squeezer_init) and its frame buffer. */
#define ZREC_MAX 65536 /* bigger records are kept as they are */
#define ZREC_FRAME ZSTD_COMPRESSBOUND(ZREC_MAX)

static bool squeezer_init(squeezer *q)
{
  if (!q->cc && (q->cc = ZSTD_createCCtx()) &&
      (ZSTD_isError(ZSTD_CCtx_setParameter(q->cc, ZSTD_c_checksumFlag, 0)) ||
       ZSTD_isError(ZSTD_CCtx_setParameter(q->cc, ZSTD_c_dictIDFlag, 0)) ||
       ZSTD_isError(
           ZSTD_CCtx_setParameter(q->cc, ZSTD_c_contentSizeFlag, 1)))) {
    ZSTD_freeCCtx(q->cc);
    q->cc = NULL;
  }
  if (!q->dc)
    q->dc = ZSTD_createDCtx();
  if (!q->frame)
    q->frame = malloc(ZREC_FRAME);
  return q->cc && q->dc && q->frame;
}

static void squeezer_free(squeezer *q)
{
  ZSTD_freeCCtx(q->cc);
  ZSTD_freeDCtx(q->dc);
  q->dc = NULL;
  if (q->frame)
    crdt_wipe(q->frame, ZREC_FRAME);
  free(q->frame);
  q->cc = NULL;
  q->frame = NULL;
}

static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* Is v a record value as format 4 on keeps it (origins_pack)? */
static bool record_packed(const MDB_val *v)
{
  const uint8_t *b = v->mv_data;
  return v->mv_size >= 2 && b[0] == 0x95 && b[1] == 4;
}

/* Is v a record value as format 6 on may keep it (squeezed)? */
static bool record_squeezed(const MDB_val *v)
{
  const uint8_t *b = v->mv_data;
  return v->mv_size >= 2 && b[0] == 0x95 && b[1] == 5;
}

/* Record b (*n bytes, version 4) squeezed in place by cd when that is
 * shorter (*n shrinks): 0x95 5 1, then the frame without its magic. */
static void squeeze_bytes(squeezer *q, const ZSTD_CDict *cd, uint8_t *b,
                          size_t *n)
{
  MDB_val v = {*n, b};
  if (*n < 3 || *n > ZREC_MAX || !record_packed(&v) ||
      ZSTD_isError(ZSTD_CCtx_refCDict(q->cc, cd)))
    return;
  size_t z = ZSTD_compress2(q->cc, q->frame, ZREC_FRAME, b, *n);
  if (ZSTD_isError(z) || z <= 4 || memcmp(q->frame, zstd_magic, 4) != 0 ||
      3 + (z - 4) >= *n)
    return; /* kept as it is: no shorter */
  b[1] = 5;
  b[2] = 1;
  memcpy(b + 3, q->frame + 4, z - 4);
  *n = 3 + (z - 4);
}

/* A squeezed record b (n bytes) as its version-4 bytes, strictly: the
 * frame (its magic put back, in q->frame) must say how many bytes it
 * holds, at most ZREC_MAX, be exactly n - 3 bytes and give exactly those,
 * and they must be version 4 (GS_ECORRUPT else). Into out (ZREC_MAX
 * bytes), or, out NULL, a buffer of their size made here (*made). */
static gs_err unsqueeze_bytes(squeezer *q, const ZSTD_DDict *dd,
                              const uint8_t *b, size_t n, uint8_t *out,
                              uint8_t **made, size_t *outn)
{
  size_t fn = n - 3 + 4;
  MDB_val v = {n, (void *)b};
  if (n < 4 || !record_squeezed(&v) || b[2] != 1 || fn > ZREC_FRAME)
    return GS_ECORRUPT;
  if (!dd)
    return GS_ECORRUPT; /* squeezed, and no dictionary */
  memcpy(q->frame, zstd_magic, 4);
  memcpy(q->frame + 4, b + 3, n - 3);
  unsigned long long want = ZSTD_getFrameContentSize(q->frame, fn);
  if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
      want > ZREC_MAX || want < 2 ||
      ZSTD_findFrameCompressedSize(q->frame, fn) != fn)
    return GS_ECORRUPT;
  if (!out && !(out = *made = malloc(want)))
    return GS_ENOMEM;
  size_t got = ZSTD_decompress_usingDDict(q->dc, out, out == *made ? want
                                                                   : ZREC_MAX,
                                          q->frame, fn, dd);
  MDB_val u = {got, out};
  gs_err err = ZSTD_isError(got)
                   ? ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation
                         ? GS_ENOMEM
                         : GS_ECORRUPT
               : got != want || !record_packed(&u) ? GS_ECORRUPT
                                                   : GS_OK;
  if (err && made && *made) {
    crdt_wipe(*made, want);
    free(*made);
    *made = NULL;
  }
  *outn = got;
  return err;
}

#define TOUCHED_CHUNK 1024 /* records: bounds the plain bytes held */
#define CIPHER_THREAD_MIN 16 /* records; fewer: waking the worker costs more */
#define CIPHER_BLOCK 8       /* records taken at a time (about 3 us) */
#define CIPHER_WAKE 16       /* blocks ready to seal that wake the worker */
#define TSEALED_MAX (1u << 20) /* bytes of sealed values kept between chunks */
#define CIPHER_BLOCKS(m) (((m) + CIPHER_BLOCK - 1) / CIPHER_BLOCK)

typedef struct cipher_item {
  MDB_val k;            /* the record's key */
  int rc;               /* of its read: 0, MDB_NOTFOUND, an error */
  const uint8_t *raw;   /* the stored value (in the map) */
  size_t rawn;
  const uint8_t *plain; /* the opened value (raw when not sealed) */
  size_t plainn;
  uint8_t *enc;         /* the new value (crdt_record_encode; owned) */
  size_t encn;
  uint8_t *sealed;      /* enc sealed (NULL: put enc as it is); in the
                         * store's tsealed, or owned when sown */
  size_t from, to;      /* its ops: idx[from..to) */
  bool fresh, same;     /* a new record; enc equals plain (not written) */
  bool sown;            /* sealed is malloc'd (tsealed was full) */
  bool sq;              /* enc to be squeezed, before its seal */
  bool opened;          /* plain was opened from a sealed raw */
  uint8_t *unsq;        /* plain unsqueezed on the way (owned), unsqn */
  size_t unsqn;
  gs_err err;           /* of its open or seal */
} cipher_item;

#ifndef _WIN32
typedef struct cipher_job {
  cipher_item *it;
  size_t m, nb;
  bool mixed;
  uint32_t gen;
  unsigned delay_us; /* tests: the worker's wait after taking a block */
  uint64_t *here;    /* this thread's counts (store's cipher_here) */
  const ZSTD_CDict *cd; /* the records' dictionary (items with sq) */
  const ZSTD_DDict *dd; /* the same, to unsqueeze as they are opened */
  squeezer *here_q;  /* this thread's squeezer (the store's) */
} cipher_job;

/* Open (it->raw into it->plain, which points into the chunk's buffer;
 * then, when it is squeezed, unsqueezed by the job's dictionary into a
 * buffer of its own, it->unsq) or seal (it->enc squeezed with q when
 * it->sq, then into it->sealed) item it of job j with sealer, as
 * open_value, record_unsqueeze, record_squeeze and seal_value do (same
 * associated data, same rule for a store being sealed). Touches only it,
 * q and sealer. */
static void cipher_one(bool mixed, crdt_sealer *sealer, squeezer *q,
                       const cipher_job *j, cipher_item *it, bool seal)
{
  if (seal) {
    if (it->sq)
      squeeze_bytes(q, j->cd, it->enc, &it->encn);
    if (!it->sealed)
      return; /* nothing to seal */
    uint8_t ad[AD_MAX];
    size_t adn = seal_ad(DB_RECORDS, &it->k, ad, sizeof ad);
    /* it->err written only on a failure (else the item's line would go
     * back and forth between the two cores) */
    gs_err err = !adn ? lmdb_err(MDB_BAD_VALSIZE)
                 : crdt_sealer_seal(sealer, ad, adn, it->enc, it->encn,
                                    it->sealed) != GS_OK
                     ? GS_ECRYPTO
                     : GS_OK;
    if (err)
      it->err = err;
    return;
  }
  if (it->rc)
    return; /* not read */
  if (it->plain != it->raw) { /* sealed: opened into it->plain */
    uint8_t ad[AD_MAX];
    size_t adn = seal_ad(DB_RECORDS, &it->k, ad, sizeof ad);
    if (adn && it->rawn >= CRDT_SEAL_OVERHEAD &&
        crdt_sealer_open(sealer, ad, adn, it->raw, it->rawn,
                         (uint8_t *)it->plain) == GS_OK) {
      it->opened = true;
    } else if (mixed) { /* one not sealed yet: read as it is */
      it->plain = it->raw;
      it->plainn = it->rawn;
    } else {
      it->err = GS_ESEAL;
      return;
    }
  }
  MDB_val pv = {it->plainn, (void *)it->plain};
  if (j->dd && record_squeezed(&pv)) { /* squeezed: unsqueezed too */
    uint8_t *u = NULL;
    gs_err err = unsqueeze_bytes(q, j->dd, it->plain, it->plainn, NULL, &u,
                                 &it->unsqn);
    if (err) {
      it->err = err;
      return;
    }
    it->unsq = u;
    it->plain = u;
    it->plainn = it->unsqn;
  }
}

static void cipher_block(crdt_sealer *sealer, squeezer *q,
                         const cipher_job *j, size_t b, bool seal)
{
  size_t end = (b + 1) * CIPHER_BLOCK < j->m ? (b + 1) * CIPHER_BLOCK : j->m;
  for (size_t i = b * CIPHER_BLOCK; i < end; i++)
    cipher_one(j->mixed, sealer, q, j, &j->it[i], seal);
}

#define CIPHER_MAXB CIPHER_BLOCKS(TOUCHED_CHUNK)

/* A job's next block to open or seal: its generation (high 32 bits) and
 * the block (low 32), taken by a compare-and-swap of both, so that a
 * worker late for a job that has ended takes nothing of the next. */
#define CIPHER_TAG(gen, b) ((uint64_t)(gen) << 32 | (uint64_t)(b))
#define CIPHER_GEN(v) ((uint32_t)((v) >> 32))
#define CIPHER_IDX(v) ((size_t)((v) & 0xffffffffu))


typedef struct cipher_worker {
  pthread_t t;
  pthread_mutex_t mu;
  pthread_cond_t go;   /* a job posted, seal blocks ready, or quit */
  crdt_sealer *sealer; /* the worker's (store's sealer2; NULL: open) */
  squeezer sq;         /* the worker's */
  /* under mu */
  cipher_job job;      /* the job posted last */
  bool has_job;        /* posted, not taken by the worker */
  atomic_bool posted;  /* has_job or quit, read without the lock
                        * (cipher_watch) */
  bool quit;
  /* shared without the lock */
  atomic_bool waiting;   /* the worker waits (under mu) for seal blocks */
  _Atomic uint64_t onext; /* CIPHER_TAG: the next block to open */
  _Atomic uint64_t snext; /* CIPHER_TAG: the next block to seal */
  atomic_size_t encoded;  /* blocks encoded by this thread: sealable */
  atomic_bool odone[CIPHER_MAXB], sdone[CIPHER_MAXB];
  atomic_uint_fast64_t wopened, wsealed; /* blocks done by the worker */
  atomic_uint_fast64_t watched_ns;       /* its CPU time in cipher_watch */
  uint64_t watch_ns; /* how long it watches: CIPHER_WATCH_NS, 0 on one CPU */
  uint64_t waited_ns; /* this thread's waits for the job's blocks */
  /* a local change to sign ("a local change signed aside", below): the
   * task's state (SIGN_*), then what it is given (set before it is
   * posted) and gives (read once it is done) */
  atomic_int sign_state;
  const uint8_t *sign_sk;
  uint8_t *sign_buf;
  size_t sign_n;
  size_t sign_fit;      /* the change_fit to pack the signed change for */
  bool sign_pack;       /* the worker may pack it (tests: not) */
  uint8_t sign_hash[CRDT_HASH_LEN];
  packer sign_pk;       /* the task's: the signed change packed */
  size_t sign_z;        /* its frame's size in sign_pk.zbuf (0: kept raw) */
  gs_err sign_err;      /* of its packing */
  uint64_t sign_off_ns; /* the worker's time off its core while signing */
  unsigned sign_delay_us; /* tests: the worker's sleep as it signs */
} cipher_worker;

/* ---- a local change signed aside (issue 20) ----
 * Signing a local change is a quarter of a bulk load's time on the store
 * thread (Ed25519 hashes the change twice), and needs nothing but the
 * change's bytes; the change's records need nothing of its signature. So
 * write_once posts a big change's signing (with the hash of the signed
 * change, its feed's new head, and its packing: pack_frame) to the
 * worker, writes the change's records meanwhile, and then keeps the
 * change: the signature is done by the worker, or, when the worker has
 * not taken it by then, by this thread (so this thread waits only for a
 * signing already begun). The task is one slot: SIGN_POSTED by this
 * thread, taken by one compare-and-swap (SIGN_TAKEN) by either thread,
 * SIGN_SIGNED once signed and hashed; its packing is then taken by one
 * compare-and-swap too, by the worker (SIGN_PACKING, SIGN_DONE once
 * packed, with the task's packer) or by this thread when it comes for the
 * change first (SIGN_PACK_HERE: packed as change_keep packs, with the
 * store's packer); this thread alone sets it back to SIGN_NONE. The
 * worker takes it before any other work of its own: the records' opens
 * and seals that it has not taken, this thread does. Same bytes either
 * way. A worker taken off its core mid-signing (a busy machine:
 * sign_stall) sends the next big changes to this thread for a while, as
 * cipher_backoff does chunks. */
enum {
  SIGN_NONE,
  SIGN_POSTED,
  SIGN_TAKEN,
  SIGN_SIGNED,
  SIGN_PACKING,
  SIGN_PACK_HERE,
  SIGN_DONE
};
#define SIGN_ASIDE_MIN 4096 /* bytes of a change; smaller: signed here */

static uint64_t mono_ns(void);
static uint64_t thread_cpu_ns(void);

/* Sign the task and hash the signed change; on the worker (worker true),
 * with its time off its core meanwhile (its wall time less its CPU time)
 * in sign_off_ns, and then pack it (pack_frame, with the task's packer:
 * the frame the store's thread would make) unless this thread has taken
 * the packing. */
static void sign_run(cipher_worker *w, bool worker)
{
  uint64_t t0 = worker ? mono_ns() : 0, c0 = worker ? thread_cpu_ns() : 0;
  if (worker && w->sign_delay_us)
    usleep(w->sign_delay_us);
  crdt_change_sign_built_hash(w->sign_sk, w->sign_buf, &w->sign_n, NULL,
                              w->sign_hash);
  w->sign_off_ns = 0;
  if (worker) {
    uint64_t wall = mono_ns() - t0, cpu = thread_cpu_ns() - c0;
    w->sign_off_ns = wall > cpu ? wall - cpu : 0;
  }
  /* read before the task is published as signed: the store's thread may
   * then pack it, and post the next task, at once */
  bool pack = worker && w->sign_pack;
  atomic_store_explicit(&w->sign_state, SIGN_SIGNED, memory_order_release);
  int want = SIGN_SIGNED;
  if (!pack ||
      !atomic_compare_exchange_strong(&w->sign_state, &want, SIGN_PACKING))
    return; /* this thread packs it */
  w->sign_err =
      pack_frame(&w->sign_pk, w->sign_buf, w->sign_n, w->sign_fit, &w->sign_z);
  atomic_store_explicit(&w->sign_state, SIGN_DONE, memory_order_release);
}

/* The task, taken by the worker (worker true) or this thread: true if it
 * was posted. */
static bool sign_try(cipher_worker *w, bool worker)
{
  int want = SIGN_POSTED;
  if (atomic_load_explicit(&w->sign_state, memory_order_relaxed) !=
          SIGN_POSTED ||
      !atomic_compare_exchange_strong(&w->sign_state, &want, SIGN_TAKEN))
    return false;
  sign_run(w, worker);
  return true;
}

static uint64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait for a block the worker has taken: a few spins (a block takes
 * about 3 us), then yielding the core, timed (a worker stopped mid-block
 * by a busy machine: see cipher_backoff). */
static void cipher_spin(cipher_worker *w, const atomic_bool *flag)
{
  for (unsigned n = 0; n < 4096; n++)
    if (atomic_load(flag))
      return;
  uint64_t t0 = mono_ns();
  while (!atomic_load(flag))
    sched_yield();
  w->waited_ns += mono_ns() - t0;
}

/* Take block b of counter c (of job j) when it is next: false when it is
 * not (taken already, or the job is over). */
static bool cipher_claim(_Atomic uint64_t *c, const cipher_job *j, size_t *b)
{
  uint64_t v = atomic_load(c);
  for (;;) {
    if (CIPHER_GEN(v) != j->gen || CIPHER_IDX(v) >= j->nb)
      return false;
    if (atomic_compare_exchange_weak(c, &v, v + 1)) {
      *b = CIPHER_IDX(v);
      return true;
    }
  }
}

/* Before it sleeps, the worker watches a while (CIPHER_WATCH_NS) for
 * its next work: a job posted (j NULL) or a block of j ready to seal.
 * Waking a sleeping thread cost the store thread about 10 us of kernel
 * time a chunk (a futex wake, an interrupt to the other core) and the
 * worker as long again before it ran, while this thread did the first
 * blocks itself; a write session's chunks come about 100-250 us apart
 * (a change built, signed and packed between them), so watching through
 * the gap saves both, at the price of the second core's time during the
 * gap (docs/PERFORMANCE.md, "The worker watches before it sleeps"). A
 * store with no batches has a worker asleep; a process that may run on
 * one CPU only has a worker that never watches (it would hold the core
 * the store thread needs). True: the work is there. */
#define CIPHER_WATCH_NS 250000u

static bool cipher_watch_for(cipher_worker *w, const cipher_job *j,
                             uint64_t t0)
{
  for (unsigned n = 1;; n++) {
    if (atomic_load_explicit(&w->posted, memory_order_acquire))
      return !j; /* a job, or the quit: the next one's */
    if (atomic_load_explicit(&w->sign_state, memory_order_relaxed) ==
        SIGN_POSTED)
      return true; /* a change to sign: taken before the rest */
    if (j) {
      uint64_t v = atomic_load(&w->snext);
      if (CIPHER_GEN(v) != j->gen || CIPHER_IDX(v) >= j->nb)
        return false;
      if (CIPHER_IDX(v) < atomic_load(&w->encoded))
        return true;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
    if (n % 64 == 0 && mono_ns() - t0 > w->watch_ns)
      return false;
    /* every 256 pauses (about 10 us) the core is offered to a thread
     * with work (load's feeder, parsing its next lines, had to wait for
     * a watching worker: 3.5% of a load); with none, sched_yield returns
     * at once */
    if (n % 256 == 0)
      sched_yield();
  }
}

static uint64_t thread_cpu_ns(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Watch as above; the worker's CPU time doing so is added to watched_ns
 * (its own clock: a worker taken off its core while watching costs
 * nothing). */
static bool cipher_watch(cipher_worker *w, const cipher_job *j)
{
  if (!w->watch_ns)
    return false;
  uint64_t c0 = thread_cpu_ns();
  bool there = cipher_watch_for(w, j, mono_ns());
  uint64_t c1 = thread_cpu_ns();
  atomic_fetch_add_explicit(&w->watched_ns, c1 > c0 ? c1 - c0 : 0,
                            memory_order_relaxed);
  return there;
}

/* The worker's part of job j: the blocks it can take. */
static void cipher_work(cipher_worker *w, const cipher_job *j)
{
  size_t b;
  sign_try(w, true);
  while (cipher_claim(&w->onext, j, &b)) {
    if (j->delay_us)
      usleep(j->delay_us);
    cipher_block(w->sealer, &w->sq, j, b, false);
    atomic_fetch_add_explicit(&w->wopened, 1, memory_order_relaxed);
    atomic_store(&w->odone[b], true);
  }
  for (;;) {
    sign_try(w, true);
    uint64_t v = atomic_load(&w->snext);
    if (CIPHER_GEN(v) != j->gen || CIPHER_IDX(v) >= j->nb)
      return; /* all taken, or the job is over */
    if (CIPHER_IDX(v) < atomic_load(&w->encoded)) {
      if (cipher_claim(&w->snext, j, &b)) {
        if (j->delay_us)
          usleep(j->delay_us);
        cipher_block(w->sealer, &w->sq, j, b, true);
        atomic_fetch_add_explicit(&w->wsealed, 1, memory_order_relaxed);
        atomic_store(&w->sdone[b], true);
      }
      continue;
    }
    if (cipher_watch(w, j))
      continue;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->waiting, true);
    for (;;) {
      v = atomic_load(&w->snext);
      size_t e = atomic_load(&w->encoded);
      if (w->has_job || w->quit || CIPHER_GEN(v) != j->gen ||
          CIPHER_IDX(v) >= j->nb || e >= j->nb ||
          e >= CIPHER_IDX(v) + CIPHER_WAKE ||
          atomic_load(&w->sign_state) == SIGN_POSTED)
        break;
      pthread_cond_wait(&w->go, &w->mu);
    }
    atomic_store(&w->waiting, false);
    bool next = w->has_job || w->quit;
    pthread_mutex_unlock(&w->mu);
    if (next)
      return;
  }
}

static void *cipher_thread(void *arg)
{
  cipher_worker *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    if (!w->has_job && !w->quit) {
      pthread_mutex_unlock(&w->mu);
      cipher_watch(w, NULL);
      bool signed_one = sign_try(w, true);
      pthread_mutex_lock(&w->mu);
      if (signed_one)
        continue; /* then watch again */
    }
    while (!w->has_job && !w->quit &&
           atomic_load(&w->sign_state) != SIGN_POSTED)
      pthread_cond_wait(&w->go, &w->mu);
    if (w->quit)
      break;
    if (!w->has_job) {
      pthread_mutex_unlock(&w->mu);
      sign_try(w, true);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    w->has_job = false;
    atomic_store(&w->posted, false);
    cipher_job j = w->job;
    pthread_mutex_unlock(&w->mu);
    cipher_work(w, &j);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* The CPUs this process may run on. With one, a watching worker would
 * hold the core the store thread needs: it does not watch. */
static long cpus_usable(void)
{
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return CPU_COUNT(&set);
#endif
  return sysconf(_SC_NPROCESSORS_ONLN);
}

/* The worker, its sealer (a sealed store's) and its squeezer, made now
 * if not yet: NULL when one cannot be (then this thread does the work). */
static cipher_worker *cipher_worker_get(store *s)
{
  if (s->worker)
    return s->worker;
  if (s->key && !s->sealer2 && crdt_sealer_new(s->key, &s->sealer2) != GS_OK)
    return NULL;
  cipher_worker *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  if (!squeezer_init(&w->sq)) {
    squeezer_free(&w->sq);
    free(w);
    return NULL;
  }
  w->sealer = s->sealer2;
  w->watch_ns = cpus_usable() >= 2 ? CIPHER_WATCH_NS : 0;
  if (pthread_mutex_init(&w->mu, NULL) != 0)
    goto fail_mu;
  if (pthread_cond_init(&w->go, NULL) != 0)
    goto fail_go;
  if (pthread_create(&w->t, NULL, cipher_thread, w) != 0)
    goto fail_thread;
  s->worker = w;
  return w;
fail_thread:
  pthread_cond_destroy(&w->go);
fail_go:
  pthread_mutex_destroy(&w->mu);
fail_mu:
  squeezer_free(&w->sq);
  free(w);
  return NULL;
}

static void cipher_worker_stop(store *s)
{
  cipher_worker *w = s->worker;
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  w->quit = true;
  atomic_store(&w->posted, true);
  pthread_cond_signal(&w->go);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->t, NULL);
  pthread_cond_destroy(&w->go);
  pthread_mutex_destroy(&w->mu);
  squeezer_free(&w->sq);
  packer_free(&w->sign_pk);
  free(w);
  s->worker = NULL;
}

/* Post the opens and seals of the m items of a chunk (their reads done,
 * their plain buffers set) to the worker: the job of generation gen. */
static void cipher_post(cipher_worker *w, cipher_item *it, size_t m,
                        store *s, const ZSTD_CDict *cd, const ZSTD_DDict *dd)
{
  pthread_mutex_lock(&w->mu);
  cipher_job *j = &w->job;
  *j = (cipher_job){it,           m,  CIPHER_BLOCKS(m),
                    s->mixed,     j->gen + 1, s->cipher_delay_us,
                    s->cipher_here, cd, dd, &s->zq};
  for (size_t b = 0; b < j->nb; b++) {
    atomic_store(&w->odone[b], false);
    atomic_store(&w->sdone[b], false);
  }
  atomic_store(&w->encoded, 0);
  w->waited_ns = 0;
  atomic_store(&w->onext, CIPHER_TAG(j->gen, 0));
  atomic_store(&w->snext, CIPHER_TAG(j->gen, 0));
  w->has_job = true;
  atomic_store_explicit(&w->posted, true, memory_order_release);
  pthread_cond_signal(&w->go);
  pthread_mutex_unlock(&w->mu);
}

/* Block b of job j, taken by this thread: opened or sealed (seal), then
 * marked done (done: odone or sdone). */
static void cipher_here(const cipher_job *j, crdt_sealer *sealer,
                        atomic_bool *done, size_t b, bool seal)
{
  cipher_block(sealer, j->here_q, j, b, seal);
  j->here[seal]++;
  atomic_store(&done[b], true);
}

/* Wait until block b (taken by the worker) is done (flag: odone or
 * sdone of b), doing meanwhile the next blocks of counter c that no
 * thread has taken yet (this thread wants them next: so neither thread
 * waits while the other works), then spinning as cipher_spin does. */
static void cipher_help(cipher_worker *w, crdt_sealer *sealer,
                        _Atomic uint64_t *c, atomic_bool *done,
                        const atomic_bool *flag, bool seal)
{
  const cipher_job *j = &w->job;
  size_t b;
  while (!atomic_load(flag) && cipher_claim(c, j, &b))
    cipher_here(j, sealer, done, b, seal);
  cipher_spin(w, flag);
}

/* Block b opened (seal false) or sealed (true): by the worker, or now by
 * this thread (the only one to change w->job, so it reads it without
 * the lock). While the worker does b, this thread does the next blocks
 * no one has taken. Opens come in key order ahead of the decoding;
 * seals when every block before b is sealed (the chunk's puts, in key
 * order, after the last open). */
static void cipher_take(cipher_worker *w, crdt_sealer *sealer, size_t b,
                        bool seal)
{
  const cipher_job *j = &w->job;
  _Atomic uint64_t *next = seal ? &w->snext : &w->onext;
  atomic_bool *done = seal ? w->sdone : w->odone;
  uint64_t want = CIPHER_TAG(j->gen, b);
  if (atomic_compare_exchange_strong(next, &want, want + 1))
    cipher_here(j, sealer, done, b, seal);
  else if (!atomic_load(&done[b])) /* the worker has it */
    cipher_help(w, sealer, next, done, &done[b], seal);
}

/* Blocks up to n encoded (their sealed buffers set): sealable. */
static void cipher_encoded(cipher_worker *w, size_t n)
{
  atomic_store(&w->encoded, n);
  if (atomic_load(&w->waiting) &&
      n >= CIPHER_IDX(atomic_load(&w->snext)) + CIPHER_WAKE) {
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->go);
    pthread_mutex_unlock(&w->mu);
  }
}

/* The job ended: every block not yet taken is taken here (sealed; not
 * opened: an open is wanted only on the way, and an error ends it), and
 * the worker's blocks are waited for (never the worker itself: late, it
 * finds nothing left). Then no thread touches the items. */
static void cipher_finish(cipher_worker *w, crdt_sealer *sealer)
{
  const cipher_job *j = &w->job;
  size_t b;
  atomic_store(&w->encoded, j->nb);
  while (cipher_claim(&w->snext, j, &b))
    cipher_here(j, sealer, w->sdone, b, true);
  while (cipher_claim(&w->onext, j, &b))
    atomic_store(&w->odone[b], true);
  for (b = 0; b < j->nb; b++) {
    cipher_spin(w, &w->odone[b]);
    cipher_spin(w, &w->sdone[b]);
  }
}

/* A chunk whose blocks this thread waited for more than CIPHER_STALL_NS
 * (the worker was not running: a busy machine) makes the next
 * cipher_backoff chunks go on this thread alone (4, doubled at each
 * stall in a row up to 4,096): a stall costs a time slice (this thread
 * waits only for the one block the worker holds: it does the others
 * itself), about what the worker saves in a few chunks (a full chunk's
 * cipher work is about half a millisecond); a machine busy for long
 * reaches the longest skip after a dozen stalls. A chunk without one
 * resets it. */
#define CIPHER_STALL_NS 200000u
#define CIPHER_BACKOFF_MIN 4u
#define CIPHER_BACKOFF_MAX 4096u

/* The back-off after a stall in a row: CIPHER_BACKOFF_MIN, doubled, at
 * most CIPHER_BACKOFF_MAX. */
static unsigned backoff_next(unsigned cur)
{
  return !cur                          ? CIPHER_BACKOFF_MIN
         : cur >= CIPHER_BACKOFF_MAX / 2 ? CIPHER_BACKOFF_MAX
                                         : 2 * cur;
}

static void cipher_backoff(store *s, const cipher_worker *w)
{
  if (s->cipher_delay_us)
    return; /* a test's delay is not a busy machine */
  if (w->waited_ns <= CIPHER_STALL_NS) {
    s->cipher_backoff = 0;
    return;
  }
  s->cipher_backoff = backoff_next(s->cipher_backoff);
  s->cipher_skip = s->cipher_backoff;
}

/* Post the signing of buf (n bytes: crdt_change_build_unsigned's) with
 * sk to the worker, and its packing for fit (change_fit). */
static void sign_post(cipher_worker *w, const uint8_t *sk, uint8_t *buf,
                      size_t n, size_t fit)
{
  w->sign_sk = sk;
  w->sign_buf = buf;
  w->sign_n = n;
  w->sign_fit = fit;
  pthread_mutex_lock(&w->mu);
  atomic_store_explicit(&w->sign_state, SIGN_POSTED, memory_order_release);
  pthread_cond_signal(&w->go);
  pthread_mutex_unlock(&w->mu);
}

/* Wait (as cipher_spin waits) while the task's state is a or b; the
 * time waited in s->sign_wait_ns. */
static int sign_spin(store *s, cipher_worker *w, int a, int b)
{
  int st = atomic_load_explicit(&w->sign_state, memory_order_acquire);
  if (st != a && st != b)
    return st;
  uint64_t begun = mono_ns();
  unsigned k = 0;
  while ((st = atomic_load_explicit(&w->sign_state, memory_order_acquire)) ==
             a ||
         st == b)
    if (++k >= 4096)
      sched_yield();
  s->sign_wait_ns += mono_ns() - begun;
  return st;
}

/* The posted signing, done: by this thread if the worker has not taken
 * it, else waited for (as cipher_spin waits). *n: the signed change's
 * length, hash its hash; *packed: whether the task packed it (its frame
 * in the task's packer, sign_z and sign_err), else this thread is to.
 * The task is free again after. Returns the worker's time off its core
 * while it signed (0 when this thread did). */
static uint64_t sign_wait(store *s, cipher_worker *w, size_t *n,
                          uint8_t hash[CRDT_HASH_LEN], bool *packed)
{
  bool worker_only = s->sign_how == STORE__SIGN_WORKER ||
                     s->sign_how == STORE__SIGN_WORKER_SIGNS;
  if (worker_only) /* tests: the worker's to take (and to pack) */
    while (atomic_load(&w->sign_state) == SIGN_POSTED)
      sched_yield();
  bool here = sign_try(w, false);
  s->signs[here]++;
  int st = sign_spin(s, w, SIGN_TAKEN,
                     worker_only && w->sign_pack ? SIGN_SIGNED : SIGN_TAKEN);
  int want = SIGN_SIGNED;
  if (st == SIGN_SIGNED &&
      atomic_compare_exchange_strong(&w->sign_state, &want, SIGN_PACK_HERE))
    st = SIGN_PACK_HERE;
  else
    st = sign_spin(s, w, SIGN_SIGNED, SIGN_PACKING);
  *packed = st == SIGN_DONE;
  *n = w->sign_n;
  memcpy(hash, w->sign_hash, CRDT_HASH_LEN);
  uint64_t off = w->sign_off_ns;
  atomic_store_explicit(&w->sign_state, SIGN_NONE, memory_order_relaxed);
  return off;
}

/* After a change signed aside: the worker off its core for more than
 * CIPHER_STALL_NS while it signed (off_ns; a busy machine) makes the
 * next sign_backoff big local changes be signed on this thread (4,
 * doubled at each such stall in a row, up to 4,096); a signing without
 * one resets it. The measure is the worker's own (its wall time less its
 * CPU time), not this thread's wait: a big change's signing may take
 * longer than its records' writing on a machine that is not busy. */
static void sign_stall(store *s, uint64_t off_ns)
{
  if (off_ns <= CIPHER_STALL_NS) {
    s->sign_backoff = 0;
    return;
  }
  s->sign_backoff = backoff_next(s->sign_backoff);
  s->sign_skip = s->sign_backoff;
}
#else
struct cipher_worker {
  int unused;
};
static void cipher_worker_stop(store *s)
{
  (void)s;
}
#endif

void store__cipher_delay(store *s, unsigned delay_us)
{
  s->cipher_delay_us = delay_us;
}

void store__sign_aside(store *s, int how)
{
  s->sign_how = how;
}

void store__sign_delay(store *s, unsigned delay_us)
{
  s->sign_delay_us = delay_us;
}

void store__sign_counts(const store *s, uint64_t out[4])
{
  out[0] = s->signs[0];
  out[1] = s->signs[1];
  out[2] = s->sign_wait_ns;
  out[3] = s->sign_skip;
}

void store__sign_after(const store *s, uint64_t out[2])
{
  out[0] = s->sign_after[0];
  out[1] = s->sign_after[1];
}

void store__change_packs(const store *s, uint64_t out[2])
{
  out[0] = s->pk.frames;
#ifndef _WIN32
  out[1] = s->worker ? s->worker->sign_pk.frames : 0;
#else
  out[1] = 0;
#endif
}

void store__cipher_counts(const store *s, uint64_t out[4])
{
  out[0] = s->cipher_here[0];
  out[2] = s->cipher_here[1];
  out[1] = out[3] = 0;
#ifndef _WIN32
  if (s->worker) {
    out[1] = atomic_load(&s->worker->wopened);
    out[3] = atomic_load(&s->worker->wsealed);
  }
#endif
}

uint64_t store__cipher_watch_ns(const store *s)
{
#ifndef _WIN32
  if (s->worker)
    return atomic_load(&s->worker->watched_ns);
#else
  (void)s;
#endif
  return 0;
}

int64_t store__cipher_worker_cpu_ns(const store *s)
{
#ifndef _WIN32
  clockid_t c;
  struct timespec ts;
  if (s->worker && pthread_getcpuclockid(s->worker->t, &c) == 0 &&
      clock_gettime(c, &ts) == 0)
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#else
  (void)s;
#endif
  return -1;
}

/* Begin a transaction, adopting a map another process has grown. */
static gs_err txn_begin(store *s, unsigned flags, MDB_txn **txn)
{
  for (int i = 0; i < RETRIES; i++) {
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc == 0 && !(flags & MDB_RDONLY)) { /* see "origin numbers" */
      s->wtxn = *txn;
      s->wgen++;
    }
    if (rc != MDB_MAP_RESIZED)
      return lmdb_err(rc);
    if ((rc = mdb_env_set_mapsize(s->env, 0)) != 0)
      return lmdb_err(rc);
  }
  return MDB_MAP_RESIZED;
}

/* Grow the map after MDB_MAP_FULL; no transaction may be open. Each
 * growth costs a retry of what was being written -- for a bulk write
 * session, the whole session so far -- so the map grows in big steps: to
 * at least MAP_GROWN_MIN, then by doubling, at most MAP_STEP_MAX a step.
 * The map is address space, not disk (LMDB's file grows only with the
 * data); where a big step cannot be mapped, a smaller one is tried. */
static gs_err grow_map(store *s)
{
  MDB_envinfo info;
  int rc = mdb_env_info(s->env, &info);
  if (rc)
    return lmdb_err(rc);
  size_t cur = info.me_mapsize;
  size_t step = cur < MAP_STEP_MAX ? cur : MAP_STEP_MAX;
  if (cur + step < MAP_GROWN_MIN)
    step = MAP_GROWN_MIN - cur;
  for (;;) {
    rc = mdb_env_set_mapsize(s->env, cur + step);
    if (rc == 0 || step <= cur / 2 || step <= INITIAL_MAP)
      return lmdb_err(rc);
    step /= 2;
  }
}

/* An existing environment opens with a map just the size of its data:
 * give it room, so that the first writes do not all start by growing. */
static void ensure_headroom(store *s)
{
  MDB_envinfo info;
  MDB_stat st;
  if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
    return;
  size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
  if (info.me_mapsize >= used + used / 4)
    return; /* a quarter free is room enough */
  mdb_env_set_mapsize(s->env,
                      used + (used / 2 < INITIAL_MAP ? INITIAL_MAP : used / 2));
}

static void zdict_free(store *s);

void store_close(store *s)
{
  if (!s)
    return;
  if (s->env) {
    if (s->flags & STORE_NOSYNC)
      mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
  }
  packer_free(&s->pk);
  ZSTD_freeDCtx(s->zd);
  if (s->dbuf)
    crdt_wipe(s->dbuf, CRDT_CHANGE_MAX);
  free(s->dbuf);
  for (int i = 0; i < STORE_OPEN_SLOTS; i++) {
    if (s->ob[i].b)
      crdt_wipe(s->ob[i].b, s->ob[i].cap);
    free(s->ob[i].b);
  }
  if (s->sbuf)
    crdt_wipe(s->sbuf, s->scap);
  free(s->sbuf);
  free(s->onk);
  free(s->onk_have);
  if (s->ubuf)
    crdt_wipe(s->ubuf, s->ucap);
  free(s->ubuf);
  zdict_free(s);
  cipher_worker_stop(s);
  free(s->titems);
  free(s->tsealed);
  if (s->tplain)
    crdt_wipe(s->tplain, s->tpcap);
  free(s->tplain);
  crdt_sealer_free(s->sealer);
  crdt_sealer_free(s->sealer2);
  crdt_secret_free(s->key);
  if (s->lockfd >= 0)
    close(s->lockfd);
  free(s);
}

/* ---- changes as kept: zstd frames ---- */

/* A change is kept as the zstd frame of its bytes when that is smaller
 * (by PACK_GAIN at least), else as it is: the two are told apart by the
 * frame's magic, which no change (a msgpack array) starts with. Changes
 * repeat collection, ids and field names in every op: a bulk change of
 * 40 residents packs about tenfold, a one-record edit by a third. Level 1:
 * the fastest, and on these changes as small as level 3. */
#define PACK_MIN 64
#define PACK_GAIN 16
#define PACK_LEVEL 1

/* Changes kept in their page (issue 20). LMDB puts a node (an 8-byte
 * header, the key, the value) of more than me_nodemax =
 * ((page size - PAGEHDRSZ) / MDB_MINKEYS & -2) - sizeof(indx_t) bytes
 * on an overflow page of its own: with 4 KiB pages and a change's 24-byte
 * key, a kept value of 2,007 bytes or more takes a whole page (2,006
 * fits, as store_inpage finds on LMDB itself), where two in-page
 * values share one. A bulk change of 40 residents packs to about that
 * size at level 1. A frame that overflows by at most a PACK_REACH-th of
 * its size (80 bytes at 2 KB) is packed again (pack_to_fit): level 1's
 * tables and window, searched by zstd's lazy parser for matches of 5
 * bytes or more. On those changes that takes 3 to 4 times level 1's time
 * and saves 80 bytes on average, and 9 in 10 of them then fit (of those
 * over by 80 to 120 bytes, 1 in 4 would). Levels 3 and 4 are no smaller
 * than 1 there, 6 to 8 fit fewer in more time, 19 fits nearly all in
 * 150 times level 1's. The frame is kept only if it fits; it is the same
 * format either way. */
#define PACK_REACH 25
#define PACK_FIT_MINMATCH 5

/* The largest value LMDB keeps in a leaf page of psize bytes under a key
 * of keyn bytes (PAGEHDRSZ 16: 64-bit page numbers; with 32-bit ones it
 * is 12, and this is 2 bytes short of the true bound there). */
static size_t leaf_value_max(size_t psize, size_t keyn)
{
  if (psize < 256)
    return 0;
  size_t nodemax = (((psize - 16) / 2) & ~(size_t)1) - 2;
  return nodemax > 8 + keyn ? nodemax - 8 - keyn : 0;
}

/* The largest packed change that stays in its page, as it is stored:
 * sealed in a store with a key (0: not known). */
static size_t change_fit(const store *s)
{
  size_t over = s->key ? CRDT_SEAL_OVERHEAD : 0;
  return s->change_in_page > over ? s->change_in_page - over : 0;
}

/* Is a packed change of z bytes worth packing again to fit in fit? */
static bool pack_in_reach(size_t z, size_t fit)
{
  return fit && z > fit && z - fit <= z / PACK_REACH;
}

/* raw (n bytes) packed again, more tightly, into p->zbuf_fit: its size,
 * or 0 if it does not come to fit bytes or less (or the try failed: the
 * frame had is kept then). */
static size_t pack_to_fit(packer *p, const uint8_t *raw, size_t n, size_t fit)
{
  if (!p->zc_fit) {
    if (!(p->zc_fit = ZSTD_createCCtx()))
      return 0;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(
            p->zc_fit, ZSTD_c_compressionLevel, PACK_LEVEL)) ||
        ZSTD_isError(
            ZSTD_CCtx_setParameter(p->zc_fit, ZSTD_c_strategy, ZSTD_lazy)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(p->zc_fit, ZSTD_c_minMatch,
                                            PACK_FIT_MINMATCH))) {
      ZSTD_freeCCtx(p->zc_fit);
      p->zc_fit = NULL;
      return 0;
    }
  }
  if (!p->zbuf_fit &&
      !(p->zbuf_fit = malloc(ZSTD_compressBound(CRDT_CHANGE_MAX))))
    return 0;
  size_t z = ZSTD_compress2(p->zc_fit, p->zbuf_fit,
                            ZSTD_compressBound(CRDT_CHANGE_MAX), raw, n);
  return ZSTD_isError(z) || z > fit ? 0 : z;
}

/* zbuf_fit's frame made zbuf's (the two buffers trade places). */
static void pack_take_fit(packer *p)
{
  uint8_t *b = p->zbuf;
  p->zbuf = p->zbuf_fit;
  p->zbuf_fit = b;
}

/* raw (n bytes) packed into p->zbuf: *z the frame's size, 0 when raw is
 * to be kept as it is (too small or too big to pack, or not smaller by
 * PACK_GAIN). fit: the largest packed size that stays in its page
 * (change_fit; 0: none tried for, as for a frame kept in memory only). */
static gs_err pack_frame(packer *p, const uint8_t *raw, size_t n, size_t fit,
                         size_t *z)
{
  *z = 0;
  if (n < PACK_MIN || n > CRDT_CHANGE_MAX)
    return GS_OK;
  if (!p->zc && !(p->zc = ZSTD_createCCtx()))
    return GS_ENOMEM;
  if (!p->zbuf && !(p->zbuf = malloc(ZSTD_compressBound(CRDT_CHANGE_MAX))))
    return GS_ENOMEM;
  size_t f = ZSTD_compressCCtx(p->zc, p->zbuf,
                               ZSTD_compressBound(CRDT_CHANGE_MAX), raw, n,
                               PACK_LEVEL);
  p->frames++;
  if (ZSTD_isError(f))
    return ZSTD_getErrorCode(f) == ZSTD_error_memory_allocation ? GS_ENOMEM
                                                                : GS_OK;
  if (f + PACK_GAIN <= n && pack_in_reach(f, fit)) {
    size_t zf = pack_to_fit(p, raw, n, fit);
    if (zf) {
      pack_take_fit(p);
      f = zf;
    }
  }
  if (f + PACK_GAIN <= n)
    *z = f;
  return GS_OK;
}

static void packer_free(packer *p)
{
  ZSTD_freeCCtx(p->zc);
  ZSTD_freeCCtx(p->zc_fit);
  if (p->zbuf)
    crdt_wipe(p->zbuf, ZSTD_compressBound(CRDT_CHANGE_MAX));
  if (p->zbuf_fit)
    crdt_wipe(p->zbuf_fit, ZSTD_compressBound(CRDT_CHANGE_MAX));
  free(p->zbuf);
  free(p->zbuf_fit);
  memset(p, 0, sizeof *p);
}

/* The bytes to keep for raw: *out is raw itself or the store's buffer
 * (valid until the next pack). fit: as pack_frame's. */
static gs_err change_pack(store *s, const uint8_t *raw, size_t n, size_t fit,
                          MDB_val *out)
{
  size_t z;
  out->mv_data = (void *)raw;
  out->mv_size = n;
  s->zlast = NULL;
  gs_err err = pack_frame(&s->pk, raw, n, fit, &z);
  if (err)
    return err;
  if (z) {
    out->mv_data = s->pk.zbuf;
    out->mv_size = z;
  }
  s->zlast = raw;
  s->zlast_n = n;
  s->zlast_z = z;
  return GS_OK;
}

void store_apply_frames(store *s, crdt_change *const *cs,
                        const uint8_t *const *frame, const size_t *frame_n,
                        size_t n)
{
  s->kf_cs = cs;
  s->kf_p = frame;
  s->kf_n = frame_n;
  s->kf_count = n;
  s->kf_pos = 0;
}

/* The bytes to keep for c: the frame it came in (store_apply_frames),
 * else change_pack's. The changes are applied in the order given, so the
 * next one is looked at first. */
static gs_err change_pack_kept(store *s, const crdt_change *c, MDB_val *out)
{
  for (size_t k = 0; k < s->kf_count; k++) {
    size_t i = (s->kf_pos + k) % s->kf_count;
    if (s->kf_cs[i] != c)
      continue;
    s->kf_pos = i + 1;
    if (s->kf_p[i] && s->kf_n[i] + PACK_GAIN <= c->raw_len &&
        c->raw_len <= CRDT_CHANGE_MAX) {
      out->mv_data = (void *)s->kf_p[i];
      out->mv_size = s->kf_n[i];
      return GS_OK;
    }
    break;
  }
  return change_pack(s, c->raw, c->raw_len, change_fit(s), out);
}

/* A kept change's bytes: v itself, or unpacked into the store's buffer
 * (valid until the next unpack). A frame that does not unpack to at most
 * CRDT_CHANGE_MAX bytes, exactly as many as it says, is corruption. */
static gs_err change_unpack(store *s, const MDB_val *v, const uint8_t **p,
                            size_t *n)
{
  const uint8_t *b = v->mv_data;
  if (v->mv_size < 4 || memcmp(b, zstd_magic, 4) != 0) {
    *p = b;
    *n = v->mv_size;
    return GS_OK;
  }
  unsigned long long want = ZSTD_getFrameContentSize(b, v->mv_size);
  if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
      want > CRDT_CHANGE_MAX)
    return GS_ECORRUPT;
  if (!s->zd && !(s->zd = ZSTD_createDCtx()))
    return GS_ENOMEM;
  if (!s->dbuf && !(s->dbuf = malloc(CRDT_CHANGE_MAX)))
    return GS_ENOMEM;
  size_t got = ZSTD_decompressDCtx(s->zd, s->dbuf, CRDT_CHANGE_MAX, b,
                                   v->mv_size);
  if (ZSTD_isError(got))
    return ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation
               ? GS_ENOMEM
               : GS_ECORRUPT;
  if (got != want)
    return GS_ECORRUPT;
  *p = s->dbuf;
  *n = got;
  return GS_OK;
}

/* ---- upgrading a store of format 1 ---- */

#define UPGRADE_BATCH 5000 /* entries rewritten per transaction */
#define UPGRADE_KEY_MAX 512 /* longer keys are corruption */

static int lmdb_keycmp(const void *a, size_t an, const void *b, size_t bn);

/* Format 1 stores held records in version 1 (a 32-byte origin key in
 * every stamp) and changes as they are; format 2 writes records in
 * version 2 (an origin table) and changes zstd-packed; format 3 writes
 * records in version 3 (no identity in the value: the key is it; a stamp
 * table; the domain's field names by number) and hist keys naming the
 * feed by a local number; format 4 keeps the version-3 bytes with their
 * origin table as local numbers ("origin numbers" below); format 5's
 * hist keys hold no hlc, their feed number and seq as short numbers
 * ("hist keys" below); format 6 squeezes records by a dictionary
 * trained from the store's own ("record dictionaries" below). Opening a
 * store of an older format marks it format 6 at once (a binary that
 * knows only an older format then refuses it, GS_EVERSION, instead of
 * meeting entries it cannot read) and leaves,
 * per database, a meta mark = the key after which old entries may
 * remain; upgrade_db rewrites them in batches, moving the mark, and
 * removes it at the end. A crash in between resumes on the next open;
 * old and new entries are both read meanwhile, so nothing waits for it
 * to finish (a record of version 1 or 2 is read with its key, which must
 * name the identity it holds). From format 2 or 3 records and hist keys
 * are rewritten (format 2's changes are packed already), from format 4
 * hist keys and records, from format 5 records only (squeezed, once a
 * dictionary is trained from the first of them). A finished upgrade then compacts the
 * store as sealing does (no old bytes left in a free page), when no other
 * process has it open. */

/* The new bytes for v, or nv->mv_data NULL when v is as it should be;
 * *owned is what the caller frees afterwards. */
typedef gs_err (*upgrade_fn)(store *s, MDB_txn *txn, const MDB_val *v,
                             MDB_val *nv, void **owned);

static gs_err origins_pack(store *s, MDB_txn *txn, uint8_t *b, size_t *n);

static gs_err record_unsqueeze(store *s, MDB_txn *txn, MDB_val *v);
static gs_err upgrade_squeeze(store *s, MDB_txn *txn, const MDB_val *v,
                              MDB_val *nv, void **owned);
static gs_err zdict_upgrade_train(store *s);

static gs_err upgrade_record(store *s, MDB_txn *txn, const MDB_val *v,
                             MDB_val *nv, void **owned)
{
  uint8_t *enc;
  size_t n;
  gs_err err;
  nv->mv_data = NULL;
  if (record_packed(v) || record_squeezed(v))
    return GS_OK; /* format 4's already */
  if (crdt_record_version(v->mv_data, v->mv_size) == 3) {
    if (!(enc = malloc(v->mv_size)))
      return GS_ENOMEM;
    memcpy(enc, v->mv_data, n = v->mv_size);
  } else { /* versions 1 and 2 hold their identity: no key needed */
    crdt_record *r;
    if ((err = crdt_record_decode(v->mv_data, v->mv_size, &r)) != GS_OK)
      return err == GS_ENOMEM ? err : GS_ECORRUPT;
    err = crdt_record_encode(r, &enc, &n);
    crdt_record_free(r);
    if (err)
      return err;
  }
  if ((err = origins_pack(s, txn, enc, &n)) != GS_OK) {
    free(enc);
    return err;
  }
  *owned = enc;
  nv->mv_data = enc;
  nv->mv_size = n;
  return GS_OK;
}

static gs_err upgrade_change(store *s, MDB_txn *txn, const MDB_val *v,
                             MDB_val *nv, void **owned)
{
  (void)owned;
  (void)txn;
  nv->mv_data = NULL;
  if (v->mv_size >= 4 && memcmp(v->mv_data, zstd_magic, 4) == 0)
    return GS_OK;
  MDB_val packed;
  gs_err err = change_pack(s, v->mv_data, v->mv_size, change_fit(s), &packed);
  if (!err && packed.mv_data != v->mv_data)
    *nv = packed;
  return err;
}

/* One batch of an upgrade pass over db, begun: a write transaction, the
 * pass's mark (meta entry mk: the key after which old entries may
 * remain; empty: from the first) copied into last (its length in
 * lastn), and a cursor on db at the first entry past it (values opened
 * when sealed, unless keys only), its result in *rc (MDB_NOTFOUND: none
 * left). *txn NULL and GS_OK when the mark is gone: the pass is done. */
static gs_err upgrade_begin(store *s, int db, MDB_val *mk,
                            bool keys_only, MDB_txn **txn, MDB_cursor **cur,
                            uint8_t last[UPGRADE_KEY_MAX], size_t *lastn,
                            MDB_val *k, MDB_val *v, int *rc)
{
  MDB_val mv;
  *cur = NULL;
  gs_err err = txn_begin(s, 0, txn);
  if (err)
    return err;
  if ((*rc = sv_get(s, *txn, s->dbi[DB_META], mk, &mv)) == MDB_NOTFOUND) {
    mdb_txn_abort(*txn);
    *txn = NULL;
    return GS_OK;
  }
  if (*rc)
    return GS_OK;
  if (mv.mv_size > UPGRADE_KEY_MAX)
    return GS_ECORRUPT;
  *lastn = mv.mv_size;
  memcpy(last, mv.mv_data, *lastn);
  if ((*rc = mdb_cursor_open(*txn, s->dbi[db], cur)) != 0) {
    *cur = NULL;
    return GS_OK;
  }
  MDB_cursor_op first = *lastn ? MDB_SET_RANGE : MDB_FIRST;
  k->mv_size = *lastn, k->mv_data = last;
  *rc = keys_only ? mdb_cursor_get(*cur, k, v, first)
                  : sv_cursor_get(s, *cur, k, v, first);
  if (*lastn && *rc == 0 && k->mv_size == *lastn &&
      memcmp(k->mv_data, last, *lastn) == 0)
    *rc = keys_only ? mdb_cursor_get(*cur, k, v, MDB_NEXT)
                    : sv_cursor_get(s, *cur, k, v, MDB_NEXT);
  /* each batch starts past the last: a damaged tree must not loop */
  if (*lastn && *rc == 0 &&
      lmdb_keycmp(k->mv_data, k->mv_size, last, *lastn) <= 0)
    return GS_ECORRUPT;
  return GS_OK;
}

/* One batch of an upgrade pass, ended (the cursor closed already): the
 * mark removed at the end of db, else moved to last; then committed. An
 * LMDB result. */
static int upgrade_end(store *s, MDB_txn **txn, MDB_val *mk, bool end,
                       const uint8_t *last, size_t lastn, bool *done)
{
  int rc;
  if (end) {
    rc = mdb_del(*txn, s->dbi[DB_META], mk, NULL);
  } else {
    MDB_val lv = {lastn, (void *)last};
    rc = sv_put(s, *txn, s->dbi[DB_META], mk, &lv, 0);
  }
  if (rc == 0) {
    rc = mdb_txn_commit(*txn);
    *txn = NULL;
    *done = rc == 0 && end;
  }
  return rc;
}

/* What a batch of an upgrade pass comes to: what is still open of it
 * closed (aborted), err or LMDB's rc; a full map is grown (the batch is
 * then tried again). */
static gs_err upgrade_out(store *s, MDB_cursor *cur, MDB_txn *txn,
                          gs_err err, int rc, bool *done)
{
  if (cur)
    mdb_cursor_close(cur);
  if (txn)
    mdb_txn_abort(txn);
  if (err)
    return err;
  if (rc)
    *done = false;
  return rc == MDB_MAP_FULL ? grow_map(s) : lmdb_err(rc);
}

static gs_err upgrade_batch(store *s, int db, const char *mark,
                            upgrade_fn fn, bool *done)
{
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  uint8_t last[UPGRADE_KEY_MAX];
  size_t lastn = 0, seen = 0;
  MDB_val mk = {strlen(mark), (void *)mark}, k, v;
  int rc = 0;
  gs_err err = upgrade_begin(s, db, &mk, false, &txn, &cur, last, &lastn, &k,
                             &v, &rc);
  if (!err && !txn) {
    *done = true;
    return GS_OK;
  }
  if (err || (rc && rc != MDB_NOTFOUND))
    goto out;
  for (; rc == 0 && !err && seen < UPGRADE_BATCH;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT), seen++) {
    if (k.mv_size > sizeof last) {
      err = GS_ECORRUPT;
      break;
    }
    /* a copy: a put that resizes the value moves the page under k */
    lastn = k.mv_size;
    memcpy(last, k.mv_data, lastn);
    MDB_val nv = {0, NULL};
    void *owned = NULL;
    if (!fn) { /* sealing: every value that is kept sealed, (re)sealed */
      if (s->key && v.mv_size && sealed_db(db, &k))
        nv = v;
    } else if ((err = fn(s, txn, &v, &nv, &owned)) != GS_OK) {
      break;
    }
    if (nv.mv_data) {
      MDB_val nk = {lastn, last}, sv;
      if (s->key && nv.mv_size && sealed_db(db, &nk) &&
          (rc = seal_value(s, db, &nk, &nv, &sv)) == 0)
        nv = sv;
      if (rc == 0)
        rc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT);
    }
    if (s->progress && fn == NULL)
      s->sealed_count++;
    else if (s->progress)
      s->upgraded_count++;
    free(owned);
    if (rc)
      break;
  }
  if (err)
    goto out;
  mdb_cursor_close(cur);
  cur = NULL;
  if (rc == MDB_NOTFOUND || rc == 0) /* the end: every entry rewritten */
    rc = upgrade_end(s, &txn, &mk, rc == MDB_NOTFOUND, last, lastn, done);
out:
  return upgrade_out(s, cur, txn, err, rc, done);
}

static const struct {
  int db;
  const char *mark;
  upgrade_fn fn;
} upgrades[] = {
    {DB_RECORDS, "upgrade", upgrade_record},
    {DB_CHANGES, "upgrade-changes", upgrade_change},
    {DB_RECORDS, "upgrade-squeeze", upgrade_squeeze},
};

/* meta "seal" (plain, 1 byte): how far a store is sealed. Absent: a
 * store of an earlier build, or one opened without a key. */
enum { SEAL_NONE = 0, SEAL_SEALING = 1, SEAL_SEALED = 2, SEAL_DONE = 3 };

/* The databases that hold sealed values: each sealed from its first key
 * when a store is sealed (its mark "seal:" name) */
static const int seal_dbs[] = {DB_META,  DB_CHANGES, DB_VV,   DB_RECORDS,
                               DB_FORKS, DB_PEERS,   DB_HELD, DB_QUAR,
                               DB_ORIGINNO};
#define SEAL_NDBS (sizeof seal_dbs / sizeof seal_dbs[0])

static void seal_mark(int db, char *buf, size_t cap)
{
  snprintf(buf, cap, "seal:%s", db_names[db]);
}

static gs_err seal_state_put(store *s, uint8_t state)
{
  for (int tries = 0; tries < RETRIES; tries++) {
    MDB_txn *txn;
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    MDB_val k = {4, "seal"}, v = {1, &state};
    int rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
    for (size_t i = 0; !rc && state == SEAL_SEALING && i < SEAL_NDBS; i++) {
      /* every sealed database from its first key */
      char mark[32];
      if (s->absent[seal_dbs[i]])
        continue;
      seal_mark(seal_dbs[i], mark, sizeof mark);
      MDB_val mk = {strlen(mark), mark}, mv = {0, ""};
      rc = mdb_put(txn, s->dbi[DB_META], &mk, &mv, 0);
    }
    if (rc)
      mdb_txn_abort(txn);
    else
      rc = mdb_txn_commit(txn);
    if (rc != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return lmdb_err(MDB_MAP_FULL);
}

/* Databases whose values are sealed in place when a store gets its key;
 * mark "seal:<name>" = the key after which plain values may remain. */

static gs_err seal_peers(store *s, const char *mark);

/* Seal every value of a store not sealed yet, in batches that each move
 * their database's mark; then the state becomes SEAL_SEALED. */
static gs_err seal_values(store *s)
{
  uint64_t total = 0;
  MDB_txn *txn;
  gs_err err;
  if (s->progress && (err = txn_begin(s, MDB_RDONLY, &txn)) == GS_OK) {
    for (size_t i = 0; i < SEAL_NDBS; i++) {
      MDB_stat st;
      if (!s->absent[seal_dbs[i]] &&
          mdb_stat(txn, s->dbi[seal_dbs[i]], &st) == 0)
        total += st.ms_entries;
    }
    mdb_txn_abort(txn);
  }
  for (size_t i = 0; i < SEAL_NDBS; i++) {
    char mark[32];
    bool done = false;
    if (s->absent[seal_dbs[i]])
      continue;
    seal_mark(seal_dbs[i], mark, sizeof mark);
    if (seal_dbs[i] == DB_PEERS) { /* rekeyed too: see the address book */
      if ((err = seal_peers(s, mark)) != GS_OK)
        return err;
      continue;
    }
    while (!done) {
      uint64_t before = s->sealed_count;
      if ((err = upgrade_batch(s, seal_dbs[i], mark, NULL, &done)) != GS_OK)
        return err;
      if (s->progress && s->sealed_count != before)
        s->progress(s->progress_ctx, STORE_PROGRESS_SEAL, s->sealed_count,
                    total);
    }
  }
  return seal_state_put(s, SEAL_SEALED);
}

static gs_err upgrade_hist_batch(store *s, bool *done);

/* About how many entries the format upgrade walks: those of the
 * databases it has marks for (for its progress; 0 when unknown). */
static uint64_t upgrade_total(store *s)
{
  MDB_txn *txn;
  uint64_t total = 0;
  if (txn_begin(s, MDB_RDONLY, &txn) != GS_OK)
    return 0;
  for (size_t i = 0; i <= sizeof upgrades / sizeof upgrades[0]; i++) {
    bool hist = i == sizeof upgrades / sizeof upgrades[0];
    const char *mark = hist ? "upgrade-hist" : upgrades[i].mark;
    int db = hist ? DB_HIST : upgrades[i].db;
    MDB_val mk = {strlen(mark), (void *)mark}, mv;
    MDB_stat st;
    if (sv_get(s, txn, s->dbi[DB_META], &mk, &mv) == 0 &&
        mdb_stat(txn, s->dbi[db], &st) == 0)
      total += st.ms_entries;
  }
  mdb_txn_abort(txn);
  return total;
}

static void upgrade_progress(store *s, uint64_t total, uint64_t *shown)
{
  if (s->progress && s->upgraded_count != *shown) {
    *shown = s->upgraded_count;
    s->progress(s->progress_ctx, STORE_PROGRESS_FORMAT, *shown,
                total > *shown ? total : *shown);
  }
}

static gs_err upgrade_records(store *s)
{
  uint64_t total = s->progress ? upgrade_total(s) : 0, shown = 0;
  for (size_t i = 0; i < sizeof upgrades / sizeof upgrades[0]; i++) {
    bool done = false;
    gs_err terr = upgrades[i].fn == upgrade_squeeze ? zdict_upgrade_train(s)
                                                    : GS_OK;
    if (terr)
      return terr;
    while (!done) {
      gs_err err = upgrade_batch(s, upgrades[i].db, upgrades[i].mark,
                                 upgrades[i].fn, &done);
      if (err)
        return err;
      upgrade_progress(s, total, &shown);
    }
  }
  bool done = false;
  while (!done) {
    gs_err err = upgrade_hist_batch(s, &done);
    if (err)
      return err;
    upgrade_progress(s, total, &shown);
  }
  return GS_OK;
}

/* Mark a store of format from (1 to 5) format 6, to be upgraded from its
 * first record (from format 1, 2 or 3: format 4's records are as format
 * 5's), its first change (from format 1: format 2's are packed already),
 * its first hist key (from format 4 or older) and its first record again
 * to squeeze (from format 5 or older). */
static gs_err upgrade_start(store *s, uint64_t from)
{
  for (int tries = 0; tries < RETRIES; tries++) {
    MDB_txn *txn;
    uint8_t f[8];
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    MDB_val fk = {6, "format"}, fv, mv = {0, ""};
    int rc = sv_get(s, txn, s->dbi[DB_META], &fk, &fv);
    if (rc == 0 && fv.mv_size == 8 && be64_get(fv.mv_data) == STORE_FORMAT) {
      mdb_txn_abort(txn); /* another process began it meanwhile */
      return GS_OK;
    }
    be64_put(f, STORE_FORMAT);
    fv = (MDB_val){8, f};
    rc = sv_put(s, txn, s->dbi[DB_META], &fk, &fv, 0);
    for (size_t i = 0; !rc && i < sizeof upgrades / sizeof upgrades[0]; i++) {
      MDB_val mk = {strlen(upgrades[i].mark), (void *)upgrades[i].mark};
      if (from == 1 || (upgrades[i].fn == upgrade_record && from <= 3) ||
          (upgrades[i].fn == upgrade_squeeze && from <= 5))
        rc = sv_put(s, txn, s->dbi[DB_META], &mk, &mv, 0);
    }
    MDB_val hk = {12, "upgrade-hist"}; /* hist keys without their hlc */
    if (!rc && from <= 4)
      rc = sv_put(s, txn, s->dbi[DB_META], &hk, &mv, 0);
    if (rc)
      mdb_txn_abort(txn);
    else
      rc = mdb_txn_commit(txn); /* frees txn, failed or not */
    if (rc != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return lmdb_err(MDB_MAP_FULL);
}

/* Compact a sealed store: copy its live pages (MDB_CP_COMPACT: no free
 * page, so no plaintext an earlier build left in one) to a new file,
 * fsync it, and rename it over data.mdb. Only when no other process has
 * the store open (the exclusive lock on seal.lock): GS_EBUSY else, and
 * the store stays as it is (compacted at a later open). On success the
 * environment is closed (s->env NULL): the caller opens it again. */
static gs_err compact(store *s, const char *dir)
{
  char tmp[4200], from[4300], to[4300];
  if (s->lockfd < 0)
    return GS_EBUSY;
  if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
    /* a failed conversion may have dropped the shared lock (flock(2)):
     * take it again, or a compaction elsewhere would not see this open */
    while (flock(s->lockfd, LOCK_SH) != 0 && errno == EINTR)
      ;
    return GS_EBUSY;
  }
  gs_err err = GS_OK;
  snprintf(tmp, sizeof tmp, "%s/compact.tmp", dir);
  snprintf(from, sizeof from, "%s/data.mdb", tmp);
  snprintf(to, sizeof to, "%s/data.mdb", dir);
  unlink(from); /* a copy a crash left behind */
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
    err = -errno;
    goto out;
  }
  int rc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
  if (rc) {
    err = lmdb_err(rc);
    goto out;
  }
  /* LMDB made the copy under the umask (0644, in a 0700 directory): it is
   * the store's file from the rename on, this user's only as the first */
  if (chmod(from, 0600) != 0) {
    err = -errno;
    goto out;
  }
  /* read-write: Windows flushes only a handle open for writing */
  int fd = open(from, O_RDWR | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    err = -errno;
    if (fd >= 0)
      close(fd);
    goto out;
  }
  close(fd);
  mdb_env_close(s->env);
  s->env = NULL;
  if (rename(from, to) != 0) {
    err = -errno;
    goto out;
  }
  rmdir(tmp);
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
    fsync(fd);
    close(fd);
  }
out:
  if (err)
    unlink(from), rmdir(tmp);
  flock(s->lockfd, LOCK_SH);
  return err;
}

static gs_err open_once(const char *dir, unsigned flags, const store_opts *o,
                        bool compacted, store **out, bool *want_compact);

gs_err store_open(const char *dir, unsigned flags, store **out)
{
  return store_open_ex(dir, flags, NULL, out);
}

gs_err store_open_ex(const char *dir, unsigned flags, const store_opts *o,
                     store **out)
{
  bool want = false;
  gs_err err = open_once(dir, flags, o, false, out, &want);
  if (err || !want)
    return err;
  if ((*out)->progress)
    (*out)->progress((*out)->progress_ctx, STORE_PROGRESS_COMPACT, 0, 0);
  err = compact(*out, dir);
  if (err == GS_EBUSY)
    return GS_OK; /* another process has it open: compacted later */
  store_close(*out);
  *out = NULL;
  if (err)
    return err;
  return open_once(dir, flags, o, true, out, &want);
}

static gs_err open_once(const char *dir, unsigned flags, const store_opts *o,
                        bool compacted, store **out, bool *want_compact)
{
  char path[4096];
  MDB_txn *txn = NULL;
  store *s = NULL;
  gs_err err;
  bool old_format = false;
  uint64_t from_format = STORE_FORMAT;
  int rc;
  uint8_t seal_state = SEAL_NONE;

  *out = NULL;
  *want_compact = false;
  if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
    return GS_EINVAL;
  if (access(path, F_OK) != 0 && !(flags & STORE_CREATE))
    return GS_ENOTINIT;
  if (!(s = calloc(1, sizeof *s)))
    return GS_ENOMEM;
  s->flags = flags;
  s->lockfd = -1;
  store_set_clock(s, NULL, NULL);
  if (o && o->key) {
    if (!(s->key = crdt_secret_alloc(CRDT_SEAL_KEY_LEN))) {
      err = GS_ENOMEM;
      goto fail;
    }
    memcpy(s->key, o->key, CRDT_SEAL_KEY_LEN);
    if ((err = crdt_sealer_new(s->key, &s->sealer)) != GS_OK)
      goto fail;
  }
  if (o) {
    s->progress = o->progress;
    s->progress_ctx = o->progress_ctx;
  }
  /* held shared while open; compaction takes it exclusive (and a store
   * opening meanwhile waits here) */
  if (snprintf(path, sizeof path, "%s/seal.lock", dir) < (int)sizeof path &&
      (s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0)
    flock(s->lockfd, LOCK_SH);
  /* Not MDB_WRITEMAP (issue 20, docs/PERFORMANCE.md "Merge, third
   * pass"): with it LMDB sizes data.mdb to the whole map on Linux too (a
   * sparse file that copies to USB sticks at full size), a full disk
   * kills the process with SIGBUS instead of failing the commit, and with
   * group commit it saves no CPU. */
  unsigned envflags = MDB_NOTLS;
  if (flags & STORE_NOSYNC)
    envflags |= MDB_NOSYNC;
  if (flags & STORE_RDONLY)
    envflags |= MDB_RDONLY;
  if ((rc = mdb_env_create(&s->env)) != 0 ||
      (rc = mdb_env_set_maxdbs(s->env, DB_COUNT + 2)) != 0 ||
      (rc = mdb_env_set_mapsize(s->env, INITIAL_MAP)) != 0) {
    err = lmdb_err(rc);
    goto fail;
  }
  if ((rc = mdb_env_open(s->env, dir, envflags, 0600)) != 0) {
    err = lmdb_err(rc);
    mdb_env_close(s->env);
    s->env = NULL;
    goto fail;
  }
#ifdef _WIN32 /* mode 0600 means nothing to LMDB there: the DACL does it */
  if (flags & STORE_CREATE) {
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    chmod(path, 0600); /* win/gs_win.c: this user and SYSTEM only */
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    chmod(path, 0600);
  }
#endif
  MDB_stat est; /* the page size: the file's, once it has one */
  if (mdb_env_stat(s->env, &est) == 0)
    s->change_in_page = leaf_value_max(est.ms_psize, CRDT_FEED_LEN + 8);
  int dead;
  mdb_reader_check(s->env, &dead); /* slots of killed processes */
  if (!(flags & STORE_RDONLY))
    ensure_headroom(s);
  bool create = (flags & STORE_CREATE) && !(flags & STORE_RDONLY);
  if ((err = txn_begin(s, create ? 0 : MDB_RDONLY, &txn)) != GS_OK)
    goto fail;
  bool later_missing = false;
  for (int i = 0; i < DB_COUNT; i++) {
    rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &s->dbi[i]);
    if (rc == MDB_NOTFOUND && i >= DB_FIRST_LATER) {
      s->absent[i] = later_missing = true;
      continue;
    }
    if (rc == MDB_NOTFOUND) {
      err = GS_ENOTINIT;
      goto fail;
    }
    if (rc) {
      err = lmdb_err(rc);
      goto fail;
    }
  }
  MDB_val k = {6, "format"}, v;
  rc = sv_get(s, txn, s->dbi[DB_META], &k, &v);
  bool fresh = false;
  uint8_t f[8];
  if (rc == MDB_NOTFOUND && create) {
    be64_put(f, STORE_FORMAT);
    v.mv_data = f;
    v.mv_size = 8;
    fresh = true;
    rc = sv_put(s, txn, s->dbi[DB_META], &k, &v, 0);
  } else if (rc == 0 && v.mv_size == 8 && be64_get(v.mv_data) >= 1 &&
             be64_get(v.mv_data) < STORE_FORMAT) {
    old_format = true; /* upgraded below, unless read-only */
    from_format = be64_get(v.mv_data);
  } else if (rc == 0 && (v.mv_size != 8 || be64_get(v.mv_data) != STORE_FORMAT)) {
    err = GS_EVERSION;
    goto fail;
  } else if (rc == MDB_NOTFOUND) {
    err = GS_ENOTINIT;
    goto fail;
  }
  if (rc) {
    err = lmdb_err(rc);
    goto fail;
  }
  { /* how far it is sealed; a new store with a key is sealed at once */
    MDB_val sk = {4, "seal"}, sv;
    rc = mdb_get(txn, s->dbi[DB_META], &sk, &sv);
    if (rc == 0 && sv.mv_size == 1 && *(uint8_t *)sv.mv_data <= SEAL_DONE) {
      seal_state = *(uint8_t *)sv.mv_data;
    } else if (rc == 0) {
      err = GS_ECORRUPT;
      goto fail;
    } else if (rc == MDB_NOTFOUND && s->key && fresh) {
      uint8_t st = SEAL_DONE;
      sv.mv_size = 1;
      sv.mv_data = &st;
      if ((rc = mdb_put(txn, s->dbi[DB_META], &sk, &sv, 0)) != 0) {
        err = lmdb_err(rc);
        goto fail;
      }
      seal_state = SEAL_DONE;
    } else if (rc != MDB_NOTFOUND) {
      err = lmdb_err(rc);
      goto fail;
    }
    rc = 0;
    if (seal_state != SEAL_NONE && !s->key) {
      err = GS_ELOCKED;
      goto fail;
    }
    s->mixed = s->key && seal_state < SEAL_SEALED;
  }
  /* an upgrade left unfinished: look in this read transaction, so that
   * an upgraded store opens without waiting for LMDB's write lock (a long
   * `load` in another process holds it) */
  bool unfinished = old_format;
  for (size_t i = 0; !unfinished && i < sizeof upgrades / sizeof *upgrades;
       i++) {
    MDB_val mk = {strlen(upgrades[i].mark), (void *)upgrades[i].mark}, mv;
    unfinished = sv_get(s, txn, s->dbi[DB_META], &mk, &mv) == 0;
  }
  if (!unfinished) {
    MDB_val hk = {12, "upgrade-hist"}, hv;
    unfinished = sv_get(s, txn, s->dbi[DB_META], &hk, &hv) == 0;
  }
  if ((rc = mdb_txn_commit(txn)) != 0) {
    txn = NULL;
    err = lmdb_err(rc);
    goto fail;
  }
  txn = NULL;
  if (later_missing && !(flags & STORE_RDONLY)) {
    /* a store of an earlier build: add the later databases */
    if ((err = txn_begin(s, 0, &txn)) != GS_OK)
      goto fail;
    for (int i = DB_FIRST_LATER; i < DB_COUNT; i++)
      if (s->absent[i]) {
        if ((rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]))) {
          err = lmdb_err(rc);
          goto fail;
        }
        s->absent[i] = false;
      }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) {
      err = lmdb_err(rc);
      goto fail;
    }
  }
  if (!(flags & STORE_RDONLY) && unfinished &&
      ((old_format && (err = upgrade_start(s, from_format)) != GS_OK) ||
       (err = upgrade_records(s)) != GS_OK))
    goto fail;
  /* records rewritten: their old bytes left no free page behind (the
   * compaction sealing does, below) */
  bool upgraded = !(flags & STORE_RDONLY) && unfinished && !compacted;
  if (s->key && !(flags & STORE_RDONLY)) {
    /* a store without its seal yet: sealed in place, then compacted */
    if (seal_state == SEAL_NONE &&
        (err = seal_state_put(s, SEAL_SEALING)) != GS_OK)
      goto fail;
    if (seal_state <= SEAL_SEALING) {
      if ((err = seal_values(s)) != GS_OK)
        goto fail;
      s->mixed = false;
      seal_state = SEAL_SEALED;
    }
    if (seal_state == SEAL_SEALED && compacted &&
        (err = seal_state_put(s, SEAL_DONE)) != GS_OK)
      goto fail;
    *want_compact = seal_state == SEAL_SEALED && !compacted;
  }
  *want_compact = *want_compact || upgraded;
  *out = s;
  return GS_OK;
fail:
  if (txn)
    mdb_txn_abort(txn);
  store_close(s);
  return err;
}

/* ---- meta ---- */

/* Small values by key (kn bytes) in one of the plain databases. */
static gs_err kv_getb(store *s, int db, const void *key, size_t kn, void *buf,
                      size_t cap, size_t *n)
{
  MDB_txn *txn;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  MDB_val k = {kn, (void *)key}, v;
  int rc = sv_get(s, txn, s->dbi[db], &k, &v);
  if (rc == 0) {
    memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    if (n)
      *n = v.mv_size;
  }
  mdb_txn_abort(txn);
  return rc == MDB_NOTFOUND ? GS_ENOTFOUND : lmdb_err(rc);
}

static gs_err kv_get(store *s, int db, const char *key, void *buf,
                     size_t cap, size_t *n)
{
  return kv_getb(s, db, key, strlen(key), buf, cap, n);
}

/* Put (buf non-NULL) or delete (buf NULL) key in db; also delete the key
 * old (ok, optional: an entry it replaces, if there). */
static gs_err kv_putb(store *s, int db, const void *key, size_t kn,
                      const void *buf, size_t n, const void *old,
                      size_t oldn)
{
  for (int i = 0; i < RETRIES; i++) {
    MDB_txn *txn;
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    MDB_val k = {kn, (void *)key}, v = {n, (void *)buf};
    int rc = buf ? sv_put(s, txn, s->dbi[db], &k, &v, 0)
                 : mdb_del(txn, s->dbi[db], &k, NULL);
    if (old) {
      MDB_val ok = {oldn, (void *)old};
      int r2 = mdb_del(txn, s->dbi[db], &ok, NULL);
      if (rc == MDB_NOTFOUND && r2 == 0)
        rc = 0; /* deleted: it was under the old key */
      else if (rc == 0 && r2 && r2 != MDB_NOTFOUND)
        rc = r2;
    }
    if (rc == 0) {
      /* a commit can need pages too (MDB_MAP_FULL); it frees txn */
      if ((rc = mdb_txn_commit(txn)) == 0 || rc != MDB_MAP_FULL)
        return lmdb_err(rc);
    } else {
      mdb_txn_abort(txn);
    }
    if (rc == MDB_NOTFOUND)
      return GS_ENOTFOUND;
    if (rc != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return MDB_MAP_FULL;
}

static gs_err kv_put(store *s, int db, const char *key, const void *buf,
                     size_t n)
{
  return kv_putb(s, db, key, strlen(key), buf, n, NULL, 0);
}

gs_err store_meta_get(store *s, const char *key, void *buf, size_t cap,
                      size_t *n)
{
  return kv_get(s, DB_META, key, buf, cap, n);
}

gs_err store_meta_any(store *s, const char *prefix, bool *any)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  size_t pn = strlen(prefix);
  *any = false;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  int rc = mdb_cursor_open(txn, s->dbi[DB_META], &cur);
  if (rc == 0) {
    MDB_val k = {pn, (void *)prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0)
      *any = k.mv_size >= pn && memcmp(k.mv_data, prefix, pn) == 0;
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  return rc == 0 || rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

gs_err store_meta_put(store *s, const char *key, const void *buf, size_t n)
{
  return kv_put(s, DB_META, key, buf ? buf : "", n);
}

/* The address book. In a sealed store an entry's key is not the address
 * (a host name may name a person: "wang-laptop.local:7070") but 0 then
 * a keyed BLAKE2b-128 of it (PEER_KEY_LEN bytes; no address starts with
 * 0), and the value is len(1) address value, sealed. A store being
 * sealed may still hold entries under their address: they are read, and
 * replaced when written or deleted (seal_peers rekeys them all). */
#define PEER_KEY_LEN 17

static void peer_key(const store *s, const char *addr, size_t an,
                     uint8_t out[PEER_KEY_LEN])
{
  out[0] = 0;
  crdt_hash_keyed(s->key, "gridsync-peer", addr, an, out + 1, 16);
}

/* An entry of the sealed form: its address (NUL-terminated into addr)
 * and value; false if it is not one. */
static bool peer_parse(const MDB_val *v, char addr[STORE_ADDR_MAX + 1],
                       const uint8_t **val, size_t *n)
{
  const uint8_t *p = v->mv_data;
  if (v->mv_size < 1 || p[0] == 0 || (size_t)p[0] + 1 > v->mv_size)
    return false;
  memcpy(addr, p + 1, p[0]);
  addr[p[0]] = '\0';
  *val = p + 1 + p[0];
  *n = v->mv_size - 1 - p[0];
  return true;
}

gs_err store_peer_get(store *s, const char *addr, void *buf, size_t cap,
                      size_t *n)
{
  size_t an = strlen(addr);
  if (!s->key)
    return kv_get(s, DB_PEERS, addr, buf, cap, n);
  if (!an || an > STORE_ADDR_MAX)
    return GS_ENOTFOUND;
  uint8_t pk[PEER_KEY_LEN];
  uint8_t b[1 + STORE_ADDR_MAX + STORE_PEER_VAL_MAX];
  size_t bn;
  peer_key(s, addr, an, pk);
  gs_err err = kv_getb(s, DB_PEERS, pk, sizeof pk, b, sizeof b, &bn);
  if (err == GS_ENOTFOUND && s->mixed)
    return kv_get(s, DB_PEERS, addr, buf, cap, n);
  if (err)
    return err;
  char got[STORE_ADDR_MAX + 1];
  const uint8_t *val;
  size_t vn;
  MDB_val v = {bn < sizeof b ? bn : sizeof b, b};
  if (bn > sizeof b || !peer_parse(&v, got, &val, &vn) ||
      strcmp(got, addr) != 0)
    return GS_ECORRUPT;
  memcpy(buf, val, vn < cap ? vn : cap);
  if (n)
    *n = vn;
  return GS_OK;
}

gs_err store_peer_put(store *s, const char *addr, const void *buf, size_t n)
{
  size_t an = strlen(addr);
  if (!an || an > STORE_ADDR_MAX)
    return GS_EINVAL;
  if (!s->key)
    return kv_put(s, DB_PEERS, addr, buf ? buf : "", n);
  if (n > STORE_PEER_VAL_MAX)
    return GS_ETOOBIG;
  uint8_t pk[PEER_KEY_LEN];
  uint8_t b[1 + STORE_ADDR_MAX + STORE_PEER_VAL_MAX];
  peer_key(s, addr, an, pk);
  b[0] = (uint8_t)an;
  memcpy(b + 1, addr, an);
  if (n)
    memcpy(b + 1 + an, buf, n);
  return kv_putb(s, DB_PEERS, pk, sizeof pk, b, 1 + an + n,
                 s->mixed ? addr : NULL, an);
}

gs_err store_peer_del(store *s, const char *addr)
{
  size_t an = strlen(addr);
  if (!s->key)
    return kv_put(s, DB_PEERS, addr, NULL, 0);
  if (!an || an > STORE_ADDR_MAX)
    return GS_ENOTFOUND;
  uint8_t pk[PEER_KEY_LEN];
  peer_key(s, addr, an, pk);
  return kv_putb(s, DB_PEERS, pk, sizeof pk, NULL, 0,
                 s->mixed ? addr : NULL, an);
}

typedef struct peer_ent {
  char addr[STORE_ADDR_MAX + 1];
  uint8_t *val;
  size_t n;
} peer_ent;

static int peer_ent_cmp(const void *a, const void *b)
{
  return strcmp(((const peer_ent *)a)->addr, ((const peer_ent *)b)->addr);
}

gs_err store_peer_list(store *s, store_peer_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  peer_ent *es = NULL;
  size_t ne = 0, cap = 0;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  /* read all, then call back in address order (a sealed book is in hash
   * order): the book is small (node/ bounds it) */
  int rc = mdb_cursor_open(txn, s->dbi[DB_PEERS], &cur);
  if (rc == 0) {
    for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
         rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
      char addr[STORE_ADDR_MAX + 1];
      const uint8_t *val = v.mv_data;
      size_t vn = v.mv_size;
      if (k.mv_size == PEER_KEY_LEN && ((const uint8_t *)k.mv_data)[0] == 0) {
        if (!s->key || !peer_parse(&v, addr, &val, &vn))
          continue; /* not ours */
      } else if (k.mv_size && k.mv_size <= STORE_ADDR_MAX) {
        memcpy(addr, k.mv_data, k.mv_size); /* an unsealed entry */
        addr[k.mv_size] = '\0';
      } else {
        continue;
      }
      if (crdt_grow((void **)&es, &cap, ne + 1, sizeof *es) ||
          !(es[ne].val = malloc(vn ? vn : 1))) {
        rc = GS_ENOMEM;
        break;
      }
      memcpy(es[ne].addr, addr, sizeof addr);
      memcpy(es[ne].val, val, vn);
      es[ne++].n = vn;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
      rc = 0;
  }
  mdb_txn_abort(txn);
  if (rc == 0 && ne > 0) { /* qsort(NULL, 0) is undefined */
    qsort(es, ne, sizeof *es, peer_ent_cmp);
    for (size_t i = 0; i < ne; i++)
      if (cb(ctx, es[i].addr, es[i].val, es[i].n))
        break;
  }
  for (size_t i = 0; i < ne; i++) {
    crdt_wipe(es[i].val, es[i].n);
    free(es[i].val);
  }
  free(es);
  return lmdb_err(rc);
}

/* Sealing: every entry of the book under its address moves to its keyed
 * hash, in one transaction (the book is small), and the mark goes. */
static gs_err seal_peers(store *s, const char *mark)
{
  for (int tries = 0; tries < RETRIES; tries++) {
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    peer_ent *es = NULL;
    size_t ne = 0, cap = 0;
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    int rc = mdb_cursor_open(txn, s->dbi[DB_PEERS], &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if ((k.mv_size == PEER_KEY_LEN && ((uint8_t *)k.mv_data)[0] == 0) ||
          k.mv_size == 0 || k.mv_size > STORE_ADDR_MAX ||
          v.mv_size > STORE_PEER_VAL_MAX)
        continue; /* sealed already, or not ours */
      if (crdt_grow((void **)&es, &cap, ne + 1, sizeof *es) ||
          !(es[ne].val = malloc(v.mv_size ? v.mv_size : 1))) {
        rc = GS_ENOMEM;
        break;
      }
      memcpy(es[ne].addr, k.mv_data, k.mv_size);
      es[ne].addr[k.mv_size] = '\0';
      memcpy(es[ne].val, v.mv_data, v.mv_size);
      es[ne++].n = v.mv_size;
    }
    if (cur)
      mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
      rc = 0;
    for (size_t i = 0; rc == 0 && i < ne; i++) {
      size_t an = strlen(es[i].addr);
      uint8_t pk[PEER_KEY_LEN], b[1 + STORE_ADDR_MAX + STORE_PEER_VAL_MAX];
      b[0] = (uint8_t)an;
      memcpy(b + 1, es[i].addr, an);
      memcpy(b + 1 + an, es[i].val, es[i].n);
      peer_key(s, es[i].addr, an, pk);
      MDB_val ok = {an, es[i].addr}, nk = {PEER_KEY_LEN, pk},
              nv = {1 + an + es[i].n, b};
      if ((rc = mdb_del(txn, s->dbi[DB_PEERS], &ok, NULL)) == 0)
        rc = sv_put(s, txn, s->dbi[DB_PEERS], &nk, &nv, 0);
    }
    for (size_t i = 0; i < ne; i++) {
      crdt_wipe(es[i].val, es[i].n);
      free(es[i].val);
    }
    free(es);
    if (rc == 0) {
      MDB_val mk = {strlen(mark), (void *)mark};
      rc = mdb_del(txn, s->dbi[DB_META], &mk, NULL);
      if (rc == MDB_NOTFOUND)
        rc = 0;
    }
    if (rc)
      mdb_txn_abort(txn);
    else
      rc = mdb_txn_commit(txn);
    if (rc != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return lmdb_err(MDB_MAP_FULL);
}

static gs_err hlc_get(store *s, MDB_txn *txn, crdt_hlc *out)
{
  MDB_val k = {3, "hlc"}, v;
  int rc = sv_get(s, txn, s->dbi[DB_META], &k, &v);
  *out = 0;
  if (rc == MDB_NOTFOUND)
    return GS_OK;
  if (rc)
    return lmdb_err(rc);
  if (v.mv_size != 8)
    return GS_ECORRUPT;
  *out = be64_get(v.mv_data);
  return GS_OK;
}

static gs_err hlc_put(store *s, MDB_txn *txn, crdt_hlc h)
{
  uint8_t b[8];
  be64_put(b, h);
  MDB_val k = {3, "hlc"}, v = {8, b};
  return lmdb_err(sv_put(s, txn, s->dbi[DB_META], &k, &v, 0));
}

gs_err store_hlc(store *s, crdt_hlc *out)
{
  MDB_txn *txn;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  err = hlc_get(s, txn, out);
  mdb_txn_abort(txn);
  return err;
}

/* ---- keys ---- */

typedef struct key_buf {
  uint8_t b[512];
  size_t n;
} key_buf;

static void key_add(key_buf *k, const void *p, size_t n)
{
  memcpy(k->b + k->n, p, n); /* callers bound sizes by CRDT_*_MAX */
  k->n += n;
}

static void record_key(key_buf *k, const char *coll, size_t cn,
                       const uint8_t *id, const char *scope, size_t sn)
{
  k->n = 0;
  key_add(k, coll, cn);
  key_add(k, "", 1);
  key_add(k, id, CRDT_ID_LEN);
  key_add(k, scope, sn);
}

/* The identity a records key names (coll 0 id(16) scope, as record_key
 * writes it); false when k is not such a key. */
static bool record_key_parse(const MDB_val *k, const char **coll, size_t *cn,
                             const uint8_t **id, const char **scope,
                             size_t *sn)
{
  const char *kb = k->mv_data, *nul = memchr(kb, 0, k->mv_size);
  if (!nul || (size_t)(nul - kb) + 1 + CRDT_ID_LEN > k->mv_size)
    return false;
  size_t head = (size_t)(nul - kb) + 1 + CRDT_ID_LEN;
  *coll = kb;
  *cn = (size_t)(nul - kb);
  *id = (const uint8_t *)nul + 1;
  *scope = kb + head;
  *sn = k->mv_size - head;
  return true;
}

/* The record stored as v under key k, in any version (format 3's have no
 * identity of their own: the key gives it; an older one's must match
 * it). state: crdt_record_decode_state_key (to be changed and re-encoded)
 * instead of the strict decode. GS_ECORRUPT for bytes that do not decode
 * (GS_ENOMEM passes). */
static gs_err origins_unpack(store *s, MDB_txn *txn, MDB_val *v);

static gs_err record_decode(store *s, MDB_txn *txn, const MDB_val *k,
                            const MDB_val *v, bool state, crdt_record **out)
{
  const char *coll, *scope;
  const uint8_t *id;
  size_t cn, sn;
  MDB_val u = *v;
  *out = NULL;
  if (!record_key_parse(k, &coll, &cn, &id, &scope, &sn))
    return GS_ECORRUPT;
  gs_err err = origins_unpack(s, txn, &u);
  if (err)
    return err;
  err = state ? crdt_record_decode_state_key(u.mv_data, u.mv_size, scope, sn,
                                             coll, cn, id, out)
              : crdt_record_decode_key(u.mv_data, u.mv_size, scope, sn, coll,
                                       cn, id, out);
  return err == GS_OK || err == GS_ENOMEM ? err : GS_ECORRUPT;
}

static void feed_seq_key(uint8_t k[CRDT_FEED_LEN + 8],
                         const uint8_t feed[CRDT_FEED_LEN], uint64_t seq)
{
  memcpy(k, feed, CRDT_FEED_LEN);
  be64_put(k + CRDT_FEED_LEN, seq);
}

/* vv value: seq(8) head(32) origin(32) scope */
static gs_err vv_decode(const MDB_val *v, const uint8_t feed[CRDT_FEED_LEN],
                        store_feed *out)
{
  if (v->mv_size < 72 || v->mv_size > 72 + CRDT_SCOPE_MAX)
    return GS_ECORRUPT;
  const uint8_t *p = v->mv_data;
  memcpy(out->feed, feed, CRDT_FEED_LEN);
  out->seq = be64_get(p);
  memcpy(out->head, p + 8, CRDT_HASH_LEN);
  memcpy(out->origin, p + 40, CRDT_KEY_LEN);
  memcpy(out->scope, p + 72, v->mv_size - 72);
  out->scope[v->mv_size - 72] = '\0';
  return GS_OK;
}

/* ---- applying a change ---- */

/* The last key of one database, followed through a run of puts. */
typedef struct last_key {
  key_buf k;
  bool known, none; /* none: the database is empty */
} last_key;

static int lmdb_keycmp(const void *a, size_t an, const void *b, size_t bn)
{
  int r = memcmp(a, b, an < bn ? an : bn);
  return r ? r : (an > bn) - (an < bn);
}

/* Put k -> v in db, as an append when k sorts after every key held: LMDB
 * then fills pages to the brim instead of splitting them. last follows
 * the database's last key (looked up once, then kept), so that a key
 * that does not sort last costs no failed append. */
static int put_ordered(store *s, MDB_txn *txn, MDB_dbi db, last_key *last,
                       MDB_val *k, MDB_val *v)
{
  if (!last->known) {
    MDB_cursor *cur;
    MDB_val lk, lv;
    int rc = mdb_cursor_open(txn, db, &cur);
    if (rc)
      return rc;
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
      return rc;
    last->none = rc == MDB_NOTFOUND;
    if (!last->none) {
      if (lk.mv_size > sizeof last->k.b)
        return MDB_BAD_VALSIZE; /* not a key of ours */
      memcpy(last->k.b, lk.mv_data, lk.mv_size);
      last->k.n = lk.mv_size;
    }
    last->known = true;
  }
  if (last->none ||
      lmdb_keycmp(k->mv_data, k->mv_size, last->k.b, last->k.n) > 0) {
    int rc = sv_put(s, txn, db, k, v, MDB_APPEND);
    if (rc == 0 && k->mv_size <= sizeof last->k.b) {
      memcpy(last->k.b, k->mv_data, k->mv_size);
      last->k.n = k->mv_size;
      last->none = false;
    } else if (rc == 0) {
      last->known = false;
    }
    return rc;
  }
  return sv_put(s, txn, db, k, v, 0);
}

/* The record edits of a batch of changes (issue 20: coalescing, key
 * order). The checks of every change (duplicate, gap, chain, signature,
 * fork, quota, holds) run first, in order, as before; an applied change
 * only notes its ops here. At the end of the batch the notes are sorted
 * by record key (stably: a record's edits keep their order), and each
 * record touched is read and decoded once, gets all its edits, and is
 * encoded and written once, in key order: a batch of received edits
 * walks the B-tree once in order instead of jumping about it, and the
 * records of a bulk change land as appends (full pages). A record that
 * was in the store already has its scope index entry (neither records
 * nor that index lose entries): only a new record writes one. The hist
 * entries (one per record per change) are written sorted too. Nothing
 * in a batch reads the records, the scope index or the history before
 * its end, so holding their writes to the end changes no decision; a
 * batch that fails writes nothing (its transaction is aborted). */

/* ---- hist keys ----
 *
 * One hist key: the record's head (coll 0 id(16)), then a tail naming
 * the change, in one of three forms:
 *
 *   format 5:     feed number, seq: each an unsigned LEB128 (7 bits a
 *                 byte, low group first, 0x80 on every byte but the
 *                 last), canonical: no redundant last byte 0x00 (nor
 *                 one past 5 bytes for the number, 10 for the seq, nor
 *                 bits past 32 and 64), neither 0. 2 to 15 bytes (3 in
 *                 a bulk load: number 1, seq < 16384).
 *   formats 3, 4: hlc(8) feed number(4) seq(8), big-endian: 20 bytes.
 *   formats 1, 2: hlc(8) feed(16) seq(8): 32 bytes.
 *
 * The forms are told apart by the tail's length alone: a format-5 tail is
 * at most HIST_TAIL_MAX (15) bytes, the old ones exactly 20 and 32, and
 * the head's length is known (its collection name ends at the first 0,
 * then 16 bytes of id). No tag byte, then: it would cost a byte a key
 * and tell nothing the length does not (bench_store's keys, 27 or 28
 * bytes, make LMDB nodes of 36 bytes and their 2-byte pointers, 107 a
 * leaf page; a byte more makes them 38, LMDB keeping nodes even: 102 a
 * page, about 2 B a record more). A tail of any other length, or a
 * format-5 one whose two numbers do not end exactly at its end (each
 * LEB128 ends itself), is corruption. A later form must keep to the
 * unused lengths (16 to 19, 21 to 31, over 32) or take a tag byte.
 *
 * No hlc in the key (format 5): store_history reads a record's entries
 * and sorts them by their changes' hlc, then feed number, then seq (the
 * order formats 3 and 4 kept by key). */
#define HIST_TAIL_MAX (5 + 10)
#define HIST_TAIL_NUMBERED (8 + 4 + 8) /* formats 3, 4 */
#define HIST_TAIL_SPELT (8 + CRDT_FEED_LEN + 8) /* formats 1, 2 */

enum { HIST_FORM_NEW, HIST_FORM_NUMBERED, HIST_FORM_SPELT };

/* A hist key's tail, parsed: form, the feed's number (not of
 * HIST_FORM_SPELT) or the feed (of it: feed points into the tail), seq,
 * and the hlc of the old forms. */
typedef struct hist_tail {
  int form;
  uint32_t no;
  const uint8_t *feed;
  uint64_t seq, hlc;
} hist_tail;

static size_t leb_put(uint8_t *b, uint64_t v)
{
  size_t n = 0;
  do {
    uint8_t g = (uint8_t)(v & 0x7f);
    v >>= 7;
    b[n++] = (uint8_t)(g | (v ? 0x80 : 0));
  } while (v);
  return n;
}

/* A canonical LEB128 of at most max at b (n bytes): its length, 0 when
 * truncated, longer than it need be or over max. */
static size_t leb_get(const uint8_t *b, size_t n, uint64_t max, uint64_t *v)
{
  uint64_t x = 0;
  for (size_t i = 0; i < n && i < 10; i++) {
    uint64_t g = b[i] & 0x7f;
    if (i == 9 && g > 1)
      return 0; /* bits past 64 */
    x |= g << (7 * i);
    if (!(b[i] & 0x80)) {
      if ((i && !b[i]) || x > max)
        return 0;
      *v = x;
      return i + 1;
    }
  }
  return 0;
}

/* The tail of a format-5 hist key in t (HIST_TAIL_MAX bytes): its
 * length. */
static size_t hist_tail_put(uint8_t *t, uint32_t no, uint64_t seq)
{
  size_t n = leb_put(t, no);
  return n + leb_put(t + n, seq);
}

/* Parse hist key k (head, then tail): GS_ECORRUPT unless it is one of
 * the three forms above. */
static gs_err hist_key_parse(const MDB_val *k, hist_tail *out)
{
  const uint8_t *kb = k->mv_data, *nul = memchr(kb, 0, k->mv_size);
  if (!nul || (size_t)(nul - kb) + 1 + CRDT_ID_LEN > k->mv_size)
    return GS_ECORRUPT;
  size_t head = (size_t)(nul - kb) + 1 + CRDT_ID_LEN, n = k->mv_size - head;
  const uint8_t *t = kb + head;
  memset(out, 0, sizeof *out);
  if (n == HIST_TAIL_NUMBERED || n == HIST_TAIL_SPELT) {
    out->hlc = be64_get(t);
    if (n == HIST_TAIL_NUMBERED) {
      out->form = HIST_FORM_NUMBERED;
      out->no = be32_get(t + 8);
      out->seq = be64_get(t + 12);
      if (!out->no)
        return GS_ECORRUPT;
    } else {
      out->form = HIST_FORM_SPELT;
      out->feed = t + 8;
      out->seq = be64_get(t + 8 + CRDT_FEED_LEN);
    }
    return out->seq ? GS_OK : GS_ECORRUPT;
  }
  uint64_t no;
  size_t a = n <= HIST_TAIL_MAX ? leb_get(t, n, UINT32_MAX, &no) : 0;
  size_t b = a ? leb_get(t + a, n - a, UINT64_MAX, &out->seq) : 0;
  if (!b || a + b != n || !no || !out->seq)
    return GS_ECORRUPT;
  out->form = HIST_FORM_NEW;
  out->no = (uint32_t)no;
  return GS_OK;
}

/* A local number in db (`feedno`, `originno`): key (kn bytes, never 4)
 * -> its number (4 bytes, big-endian), and the number -> val (vn bytes;
 * sealed where sealed_db says). The first is 1, the next 2...; a number
 * is never reused (entries are never removed). In txn: a new number is
 * written there, and goes with it if it aborts. */
static gs_err local_number(store *s, MDB_txn *txn, int db, const void *key,
                           size_t kn, const void *val, size_t vn, uint32_t *no)
{
  MDB_val k = {kn, (void *)key}, v;
  MDB_stat st;
  uint8_t nb[4];
  if (s->absent[db])
    return GS_ECORRUPT;
  int rc = mdb_get(txn, s->dbi[db], &k, &v);
  if (rc == 0) {
    if (v.mv_size != 4)
      return GS_ECORRUPT;
    const uint8_t *b = v.mv_data;
    *no = be32_get(b);
    return *no ? GS_OK : GS_ECORRUPT;
  }
  if (rc != MDB_NOTFOUND)
    return lmdb_err(rc);
  if ((rc = mdb_stat(txn, s->dbi[db], &st)) != 0)
    return lmdb_err(rc);
  if (st.ms_entries % 2 || st.ms_entries / 2 >= UINT32_MAX)
    return GS_ECORRUPT;
  *no = (uint32_t)(st.ms_entries / 2 + 1);
  be32_put(nb, *no);
  MDB_val nv = {4, nb}, rk = {4, nb}, rv = {vn, (void *)val};
  if ((rc = mdb_put(txn, s->dbi[db], &k, &nv, MDB_NOOVERWRITE)) ||
      (rc = sv_put(s, txn, s->dbi[db], &rk, &rv, MDB_NOOVERWRITE)))
    return rc == MDB_KEYEXIST ? GS_ECORRUPT : lmdb_err(rc);
  return GS_OK;
}

/* What local number no (4 bytes, big-endian) of db names: vn bytes. */
static gs_err local_of_number(store *s, MDB_txn *txn, int db,
                              const uint8_t no[4], void *val, size_t vn)
{
  MDB_val k = {4, (void *)no}, v;
  if (s->absent[db])
    return GS_ECORRUPT;
  int rc = sv_get(s, txn, s->dbi[db], &k, &v);
  if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != vn))
    return GS_ECORRUPT;
  if (rc)
    return lmdb_err(rc);
  memcpy(val, v.mv_data, vn);
  return GS_OK;
}

/* A feed's local number, in `feedno`: the feed's 16 bytes <-> 4. */
static gs_err feed_number(store *s, MDB_txn *txn,
                          const uint8_t feed[CRDT_FEED_LEN], uint32_t *no)
{
  return local_number(s, txn, DB_FEEDNO, feed, CRDT_FEED_LEN, feed,
                      CRDT_FEED_LEN, no);
}

/* The feed of local number no (4 bytes, as in a hist key). */
static gs_err feed_of_number(store *s, MDB_txn *txn, const uint8_t no[4],
                             uint8_t feed[CRDT_FEED_LEN])
{
  return local_of_number(s, txn, DB_FEEDNO, no, feed, CRDT_FEED_LEN);
}

/* ---- origin numbers (store format 4 on) ----
 *
 * A record's bytes name each origin (a node's 32-byte key) its stamps
 * were made by in a table at their head (crdt/record.c, version 3). A
 * store of format 4 or 5 keeps that table as local numbers from `originno`
 * (one to five bytes each instead of 34), the rest of the bytes as they
 * are: origins_pack on the way in, origins_unpack on the way out, so
 * that everything else here (decode, the digest, compares) reads the
 * version-3 bytes. In `originno`: an origin's id (below) -> its number,
 * and the number -> the origin key (sealed: a key is not left readable
 * in a sealed store, only its hash, as feed ids are).
 *
 * Numbers are assigned in write transactions that may abort, so a number
 * -> key is cached (onk) only when it is known committed: read in a
 * read-only transaction, or below the count the write transaction began
 * with. */

static void origin_id(const uint8_t origin[CRDT_KEY_LEN], uint8_t id[16])
{
  crdt_hasher h;
  uint8_t d[CRDT_HASH_LEN];
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, "gridsync-origin-number", 22);
  crdt_hasher_update(&h, origin, CRDT_KEY_LEN);
  crdt_hasher_final(&h, d);
  memcpy(id, d, 16);
}

/* The origin numbers committed before the write transaction txn began
 * (s->wcommitted), read at the first need in it, before any is added. */
static gs_err origins_committed(store *s, MDB_txn *txn)
{
  if (txn != s->wtxn || s->wc_gen == s->wgen)
    return GS_OK;
  MDB_stat st;
  int rc = s->absent[DB_ORIGINNO] ? 0
                                  : mdb_stat(txn, s->dbi[DB_ORIGINNO], &st);
  if (rc)
    return lmdb_err(rc);
  s->wcommitted =
      s->absent[DB_ORIGINNO] ? 0 : (uint32_t)(st.ms_entries / 2);
  s->wc_gen = s->wgen;
  return GS_OK;
}

/* origin's local number, added in txn (a write transaction) if new. */
static gs_err origin_number(store *s, MDB_txn *txn,
                            const uint8_t origin[CRDT_KEY_LEN], uint32_t *no)
{
  /* most records of a batch name one origin, or the two or three that
   * edit the same records */
  if (txn == s->wtxn && s->omemo_gen == s->wgen)
    for (unsigned i = 0; i < OMEMO; i++)
      if (s->omemo[i].no &&
          memcmp(s->omemo[i].key, origin, CRDT_KEY_LEN) == 0) {
        *no = s->omemo[i].no;
        return GS_OK;
      }
  uint8_t id[16];
  gs_err err = origins_committed(s, txn);
  if (err)
    return err;
  origin_id(origin, id);
  if ((err = local_number(s, txn, DB_ORIGINNO, id, sizeof id, origin,
                          CRDT_KEY_LEN, no)) != GS_OK)
    return err;
  if (txn == s->wtxn) {
    if (s->omemo_gen != s->wgen) { /* a new transaction: forget the last's */
      memset(s->omemo, 0, sizeof s->omemo);
      s->omemo_next = 0;
      s->omemo_gen = s->wgen;
    }
    memcpy(s->omemo[s->omemo_next].key, origin, CRDT_KEY_LEN);
    s->omemo[s->omemo_next].no = *no;
    s->omemo_next = (s->omemo_next + 1) % OMEMO;
  }
  return GS_OK;
}

/* The origin key of local number no. */
static gs_err origin_of_number(store *s, MDB_txn *txn, uint32_t no,
                               uint8_t origin[CRDT_KEY_LEN])
{
  if (no && no <= s->onk_cap && s->onk_have[no - 1]) {
    memcpy(origin, s->onk[no - 1], CRDT_KEY_LEN);
    return GS_OK;
  }
  uint8_t nb[4];
  be32_put(nb, no);
  gs_err err = origins_committed(s, txn);
  if (!err && no)
    err = local_of_number(s, txn, DB_ORIGINNO, nb, origin, CRDT_KEY_LEN);
  if (err || !no)
    return err ? err : GS_ECORRUPT;
  if (txn == s->wtxn && no > s->wcommitted)
    return GS_OK; /* may go with txn: not cached */
  if (no > s->onk_cap) {
    size_t cap = s->onk_cap ? s->onk_cap : 16;
    while (cap < no)
      cap *= 2;
    void *k = realloc(s->onk, cap * sizeof *s->onk);
    if (!k)
      return GS_OK; /* not cached */
    s->onk = k;
    bool *h = realloc(s->onk_have, cap * sizeof *h);
    if (!h)
      return GS_OK;
    memset(h + s->onk_cap, 0, (cap - s->onk_cap) * sizeof *h);
    s->onk_have = h;
    s->onk_cap = cap;
  }
  memcpy(s->onk[no - 1], origin, CRDT_KEY_LEN);
  s->onk_have[no - 1] = true;
  return GS_OK;
}

/* A msgpack array head at b (n bytes): its count and length. */
static bool mp_array_head(const uint8_t *b, size_t n, size_t *count,
                          size_t *len)
{
  if (n >= 1 && (b[0] & 0xf0) == 0x90) {
    *count = b[0] & 0x0f;
    *len = 1;
  } else if (n >= 3 && b[0] == 0xdc) {
    *count = (size_t)b[1] << 8 | b[2];
    *len = 3;
  } else if (n >= 5 && b[0] == 0xdd) {
    *count = be32_get(b + 1);
    *len = 5;
  } else {
    return false;
  }
  return true;
}

/* The version-3 bytes of a record (b, *n bytes; crdt_record_encode) as a
 * store of format 4 or 5 keeps them, in place (*n shrinks): version 4, the
 * origin table's keys (bin 32 each) replaced by their local numbers
 * (msgpack's shortest uint), the rest as it was. In txn, a write
 * transaction (new origins are numbered). */
static gs_err origins_pack(store *s, MDB_txn *txn, uint8_t *b, size_t *n)
{
  size_t count, hl;
  if (*n < 3 || b[0] != 0x95 || b[1] != 3 ||
      !mp_array_head(b + 2, *n - 2, &count, &hl))
    return GS_ECORRUPT;
  size_t r = 2 + hl, w = r;
  for (size_t i = 0; i < count; i++, r += 2 + CRDT_KEY_LEN) {
    uint32_t no;
    if (*n - r < 2 + CRDT_KEY_LEN || b[r] != 0xc4 || b[r + 1] != CRDT_KEY_LEN)
      return GS_ECORRUPT;
    gs_err err = origin_number(s, txn, b + r + 2, &no);
    if (err)
      return err;
    /* w + 5 <= r + 2: the key is read before its bytes are written over */
    if (no < 0x80) {
      b[w++] = (uint8_t)no;
    } else if (no < 0x100) {
      b[w++] = 0xcc;
      b[w++] = (uint8_t)no;
    } else if (no < 0x10000) {
      b[w++] = 0xcd;
      b[w++] = (uint8_t)(no >> 8);
      b[w++] = (uint8_t)no;
    } else {
      b[w++] = 0xce;
      for (int j = 3; j >= 0; j--)
        b[w++] = (uint8_t)(no >> (8 * j));
    }
  }
  memmove(b + w, b + r, *n - r);
  *n = w + (*n - r);
  b[1] = 4;
  return GS_OK;
}

/* A record value *v of version 4 (origins_pack) or 5 (squeezed, see
 * "record dictionaries") as its version-3 bytes, rebuilt in the store's
 * buffer; *v then views them (until the next value rebuilt). A value of
 * another version is left as it is. Strict:
 * a number must be written as origins_pack writes it, and be one the
 * store has (GS_ECORRUPT else). */
static gs_err origins_unpack(store *s, MDB_txn *txn, MDB_val *v)
{
  if (record_squeezed(v)) { /* format 6's: its version-4 bytes first */
    gs_err err = record_unsqueeze(s, txn, v);
    if (err)
      return err;
  }
  const uint8_t *b = v->mv_data;
  size_t n = v->mv_size, count, hl;
  if (!record_packed(v))
    return GS_OK;
  if (!mp_array_head(b + 2, n - 2, &count, &hl) || count > n)
    return GS_ECORRUPT;
  size_t need = n + count * (1 + CRDT_KEY_LEN);
  if (need > s->ucap) {
    size_t cap = need < 512 ? 512 : need;
    uint8_t *nb = malloc(cap);
    if (!nb)
      return GS_ENOMEM;
    if (s->ubuf) {
      crdt_wipe(s->ubuf, s->ucap);
      free(s->ubuf);
    }
    s->ubuf = nb;
    s->ucap = cap;
  }
  uint8_t *u = s->ubuf;
  memcpy(u, b, 2 + hl);
  u[1] = 3;
  size_t r = 2 + hl, w = r;
  for (size_t i = 0; i < count; i++) {
    uint32_t no = 0;
    size_t len = 0;
    if (r < n && b[r] >= 1 && b[r] < 0x80)
      no = b[r], len = 1;
    else if (n - r >= 2 && b[r] == 0xcc && b[r + 1] >= 0x80)
      no = b[r + 1], len = 2;
    else if (n - r >= 3 && b[r] == 0xcd && b[r + 1])
      no = (uint32_t)b[r + 1] << 8 | b[r + 2], len = 3;
    else if (n - r >= 5 && b[r] == 0xce && (b[r + 1] || b[r + 2]))
      no = be32_get(b + r + 1), len = 5;
    if (!len)
      return GS_ECORRUPT;
    u[w] = 0xc4;
    u[w + 1] = CRDT_KEY_LEN;
    gs_err err = origin_of_number(s, txn, no, u + w + 2);
    if (err)
      return err == GS_ENOMEM ? err : GS_ECORRUPT;
    r += len;
    w += 2 + CRDT_KEY_LEN;
  }
  memcpy(u + w, b + r, n - r);
  v->mv_data = u;
  v->mv_size = w + (n - r);
  return GS_OK;
}

/* ---- record dictionaries (store format 6 on) ----
 *
 * A community's records are alike: the same collections, field names,
 * scopes, origin numbers and stamps, many of the same values (a
 * building, a street, a phone's first digits). zstd alone gains little
 * on a value of 230 bytes, but with a dictionary trained from the store's
 * own records it packs one to a third or less (docs/PERFORMANCE.md,
 * "Storage per record, fifth pass: store format 6"). So a store of format 6 trains dictionary 1 once, from its
 * first ZDICT_SAMPLES packed records (origins_pack's version 4), when it
 * first holds ZDICT_MIN records; keeps it in meta "zdict:1" (sealed in a
 * sealed store, like every value made of residents' data); and keeps a
 * record "squeezed" when that is shorter: 0x95 5 (version 5), the
 * dictionary's number (1), then the zstd frame of its version-4 bytes
 * without the frame's magic (no checksum, no dictionary id: the record
 * is sealed or checked as a whole by its decode). The dictionary is
 * never changed once written, so a committed one is cached for the
 * store's life; one trained in a write transaction that may yet abort
 * is used in that transaction only. The records held when it is trained
 * (the ZDICT_MIN or so before, and those of the transaction) are squeezed
 * in the same transaction; the format upgrade squeezes a format-5
 * store's. record_unsqueeze is strict: a frame must decompress to at most
 * ZREC_MAX bytes, exactly as many as it says, and to version-4 bytes
 * (GS_ECORRUPT else). */

#define ZREC_LEVEL 1          /* zstd's level: 3 gains under 2% */
#define ZDICT_MIN 1000        /* records before a dictionary is trained */
#define ZDICT_SAMPLES 2000    /* records it is trained from */
#define ZDICT_SAMPLE_MAX 4096 /* bigger ones are not samples */
#define ZDICT_SAMPLE_BYTES (1u << 20) /* at most: 49 ms of training */
#define ZDICT_CAP 16384       /* its size: 8 KiB packs 0.5% worse */

static const MDB_val zdict_key = {7, "zdict:1"};

static void zdict_drop_trained(store *s)
{
  ZSTD_freeCDict(s->ztc);
  ZSTD_freeDDict(s->ztd);
  s->ztc = NULL;
  s->ztd = NULL;
  s->zt_gen = 0;
}

static void zdict_free(store *s)
{
  zdict_drop_trained(s);
  ZSTD_freeCDict(s->zdc);
  ZSTD_freeDDict(s->zdd);
  squeezer_free(&s->zq);
  if (s->zrec)
    crdt_wipe(s->zrec, ZREC_MAX);
  free(s->zrec);
  s->zdc = s->zw = NULL;
  s->zdd = NULL;
  s->zrec = NULL;
}

/* zstd's two forms of dictionary bytes d (n of them): GS_ENOMEM, and
 * neither, when one cannot be made. */
static gs_err zdict_make(const void *d, size_t n, ZSTD_CDict **cd,
                         ZSTD_DDict **dd)
{
  *cd = ZSTD_createCDict(d, n, ZREC_LEVEL);
  *dd = ZSTD_createDDict(d, n);
  if (*cd && *dd)
    return GS_OK;
  ZSTD_freeCDict(*cd);
  ZSTD_freeDDict(*dd);
  *cd = NULL;
  *dd = NULL;
  return GS_ENOMEM;
}

/* Dictionary 1 as txn sees it (*cd, *dd; NULL: the store has none yet):
 * the one txn trained, else the committed one (cached once read). */
static gs_err zdict_find(store *s, MDB_txn *txn, ZSTD_CDict **cd,
                         ZSTD_DDict **dd)
{
  if (s->ztc && txn == s->wtxn) {
    if (s->zt_gen == s->wgen) {
      *cd = s->ztc;
      *dd = s->ztd;
      return GS_OK;
    }
    /* an earlier write transaction's: committed or not, read again;
     * never dropped by a read transaction, as the write transaction that
     * trained it may still be open (a read meets a squeezed record only
     * once a dictionary is committed, so none can today: kept safe) */
    zdict_drop_trained(s);
  }
  if (!s->zdc) {
    MDB_val k = zdict_key, v;
    int rc = sv_get(s, txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
      *cd = NULL;
      *dd = NULL;
      return GS_OK;
    }
    if (rc)
      return lmdb_err(rc);
    if (v.mv_size < 8 || v.mv_size > ZDICT_CAP)
      return GS_ECORRUPT;
    gs_err err = zdict_make(v.mv_data, v.mv_size, &s->zdc, &s->zdd);
    if (err)
      return err;
  }
  *cd = s->zdc;
  *dd = s->zdd;
  return GS_OK;
}

/* The buffer of an unsqueezed record (zrec), made at the first need. */
static gs_err zrec_room(store *s)
{
  if (!s->zrec && !(s->zrec = malloc(ZREC_MAX)))
    return GS_ENOMEM;
  return GS_OK;
}

/* The dictionary txn squeezes with (*cd NULL: none), looked up once
 * per write transaction; this thread's squeezer made ready. */
static gs_err zdict_for_write(store *s, MDB_txn *txn, ZSTD_CDict **cd)
{
  ZSTD_DDict *dd;
  if (txn == s->wtxn && s->zw_gen == s->wgen) {
    *cd = s->zw;
  } else {
    gs_err err = zdict_find(s, txn, cd, &dd);
    if (err)
      return err;
    if (txn == s->wtxn) {
      s->zw = *cd;
      s->zw_gen = s->wgen;
    }
  }
  return *cd && !squeezer_init(&s->zq) ? GS_ENOMEM : GS_OK;
}

/* Record b (*n bytes, version 4) squeezed in place when the store has a
 * dictionary and that is shorter (*n shrinks); else left as it is. */
static gs_err record_squeeze(store *s, MDB_txn *txn, uint8_t *b, size_t *n)
{
  ZSTD_CDict *cd;
  gs_err err = zdict_for_write(s, txn, &cd);
  if (!err && cd)
    squeeze_bytes(&s->zq, cd, b, n);
  return err;
}

/* A squeezed record value *v as its version-4 bytes, in the store's
 * buffer (zrec; *v then views them until the next one). */
static gs_err record_unsqueeze(store *s, MDB_txn *txn, MDB_val *v)
{
  ZSTD_CDict *cd;
  ZSTD_DDict *dd;
  uint8_t *none = NULL;
  size_t got;
  gs_err err = zdict_find(s, txn, &cd, &dd);
  if (err)
    return err;
  if (zrec_room(s) != GS_OK || !squeezer_init(&s->zq))
    return GS_ENOMEM;
  if ((err = unsqueeze_bytes(&s->zq, dd, v->mv_data, v->mv_size, s->zrec,
                             &none, &got)) != GS_OK)
    return err;
  v->mv_data = s->zrec;
  v->mv_size = s->zrecn = got;
  return GS_OK;
}

/* Every record of the table that is kept as version 4, squeezed in txn
 * (after a dictionary is trained in it). */
static gs_err squeeze_all(store *s, MDB_txn *txn)
{
  MDB_cursor *cur;
  uint8_t *b = malloc(ZREC_MAX), kb[UPGRADE_KEY_MAX];
  int rc = b ? mdb_cursor_open(txn, s->dbi[DB_RECORDS], &cur) : 0;
  gs_err err = GS_OK;
  if (!b || rc) {
    free(b);
    return b ? lmdb_err(rc) : GS_ENOMEM;
  }
  MDB_val k, v;
  for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    size_t n = v.mv_size;
    if (!record_packed(&v) || n > ZREC_MAX)
      continue;
    if (k.mv_size > sizeof kb) {
      err = GS_ECORRUPT;
      break;
    }
    memcpy(b, v.mv_data, n);
    if ((err = record_squeeze(s, txn, b, &n)) != GS_OK)
      break;
    if (n == v.mv_size)
      continue; /* no shorter */
    /* a copy: a put that resizes the value moves the page under k */
    MDB_val nk = {k.mv_size, kb}, nv = {n, b}, sv;
    memcpy(kb, k.mv_data, k.mv_size);
    if (s->key && (rc = seal_value(s, DB_RECORDS, &nk, &nv, &sv)) == 0)
      nv = sv;
    if (rc || (rc = mdb_cursor_put(cur, &nk, &nv, MDB_CURRENT)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  crdt_wipe(b, ZREC_MAX);
  free(b);
  if (!err && rc && rc != MDB_NOTFOUND)
    err = lmdb_err(rc);
  return err;
}

/* Dictionary 1 trained in txn (a write transaction) from the table's
 * first ZDICT_SAMPLES version-4 records (or as many as fill
 * ZDICT_SAMPLE_BYTES) and put in meta; then, when squeeze, every record
 * squeezed. *made false when the store has too few such records (fewer
 * than ZDICT_MIN, in under half those bytes) or zstd could not train one
 * (nothing written). */
static gs_err zdict_train(store *s, MDB_txn *txn, bool squeeze, bool *made)
{
  MDB_cursor *cur;
  size_t *sizes = malloc(ZDICT_SAMPLES * sizeof *sizes), ns = 0, at = 0;
  size_t cap = ZDICT_SAMPLE_BYTES;
  uint8_t *samples = malloc(cap), *dict = malloc(ZDICT_CAP);
  gs_err err = GS_OK;
  *made = false;
  int rc = sizes && samples && dict
               ? mdb_cursor_open(txn, s->dbi[DB_RECORDS], &cur)
               : ENOMEM;
  if (rc)
    goto out;
  MDB_val k, v;
  for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST);
       rc == 0 && ns < ZDICT_SAMPLES;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    if (!record_packed(&v) || v.mv_size > ZDICT_SAMPLE_MAX)
      continue;
    if (cap - at < v.mv_size)
      break; /* enough bytes: training time grows with them */
    memcpy(samples + at, v.mv_data, v.mv_size);
    at += v.mv_size;
    sizes[ns++] = v.mv_size;
  }
  mdb_cursor_close(cur);
  if (rc && rc != MDB_NOTFOUND)
    goto out;
  rc = 0;
  if (ns < ZDICT_MIN && at < cap / 2)
    goto out;
  /* zstd wants some ten times the dictionary's size in samples */
  size_t want = at / 10 < ZDICT_CAP ? at / 10 : ZDICT_CAP;
  size_t dn = want < 1024 ? 0
                          : ZDICT_trainFromBuffer(dict, want, samples, sizes,
                                                  (unsigned)ns);
  if (!dn || ZDICT_isError(dn))
    goto out; /* alike or too few: tried again later */
  MDB_val dk = zdict_key, dv = {dn, dict};
  if ((rc = sv_put(s, txn, s->dbi[DB_META], &dk, &dv, 0)) != 0)
    goto out;
  zdict_drop_trained(s);
  if (zdict_make(dict, dn, &s->ztc, &s->ztd) != GS_OK) {
    rc = ENOMEM;
    goto out;
  }
  s->zt_gen = s->wgen;
  s->zw = s->ztc;
  s->zw_gen = s->wgen;
  *made = true;
  if (squeeze)
    err = squeeze_all(s, txn);
out:
  if (samples)
    crdt_wipe(samples, cap);
  if (dict)
    crdt_wipe(dict, ZDICT_CAP);
  free(samples);
  free(dict);
  free(sizes);
  if (!err && rc)
    err = rc == ENOMEM ? GS_ENOMEM : lmdb_err(rc);
  return err;
}

/* After a write in txn: dictionary 1 trained (and the records squeezed)
 * when the store has none and holds ZDICT_MIN records or more (after a
 * training that failed in this open, twice as many as it had then). */
static gs_err zdict_maybe(store *s, MDB_txn *txn)
{
  ZSTD_CDict *cd;
  ZSTD_DDict *dd;
  if (txn == s->wtxn && s->zw_gen == s->wgen && s->zw)
    return GS_OK;
  gs_err err = zdict_find(s, txn, &cd, &dd);
  if (err || cd)
    return err;
  MDB_stat st;
  int rc = mdb_stat(txn, s->dbi[DB_RECORDS], &st);
  if (rc)
    return lmdb_err(rc);
  if (st.ms_entries < ZDICT_MIN || st.ms_entries < s->zfail_at)
    return GS_OK;
  bool made;
  if ((err = zdict_train(s, txn, true, &made)) == GS_OK && !made)
    s->zfail_at = st.ms_entries * 2;
  return err;
}

/* The squeeze pass of the format upgrade: a version-4 record squeezed
 * (upgrade_fn) when the store has a dictionary. */
static gs_err upgrade_squeeze(store *s, MDB_txn *txn, const MDB_val *v,
                              MDB_val *nv, void **owned)
{
  nv->mv_data = NULL;
  if (!record_packed(v) || v->mv_size > ZREC_MAX)
    return GS_OK;
  uint8_t *b = malloc(v->mv_size);
  size_t n = v->mv_size;
  if (!b)
    return GS_ENOMEM;
  memcpy(b, v->mv_data, n);
  gs_err err = record_squeeze(s, txn, b, &n);
  if (err || n == v->mv_size) {
    crdt_wipe(b, v->mv_size);
    free(b);
    return err;
  }
  *owned = b;
  nv->mv_data = b;
  nv->mv_size = n;
  return GS_OK;
}

/* Before the squeeze pass (while its mark is there): the dictionary
 * trained in a transaction of its own, when the store has none and
 * enough records. */
static gs_err zdict_upgrade_train(store *s)
{
  for (int tries = 0; tries < RETRIES; tries++) {
    MDB_txn *txn;
    MDB_val mk = {15, "upgrade-squeeze"}, mv;
    ZSTD_CDict *cd;
    ZSTD_DDict *dd;
    MDB_stat st;
    bool made = false;
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    int rc = sv_get(s, txn, s->dbi[DB_META], &mk, &mv);
    if (rc == 0)
      rc = mdb_stat(txn, s->dbi[DB_RECORDS], &st);
    if (rc == 0 && (err = zdict_find(s, txn, &cd, &dd)) == GS_OK && !cd &&
        st.ms_entries >= ZDICT_MIN)
      err = zdict_train(s, txn, false, &made);
    if (err || rc || !made) {
      mdb_txn_abort(txn);
      return err ? err : rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
    }
    if ((rc = mdb_txn_commit(txn)) != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return lmdb_err(MDB_MAP_FULL);
}

/* One batch of the hist upgrade (the keys of formats 1 to 4, the hlc in
 * them and the feed spelt or numbered, to format 5's, see "hist keys"):
 * up to UPGRADE_BATCH old keys after the mark "upgrade-hist" deleted and
 * put again as new ones, the mark moved to the last; new keys met on the
 * way are passed over. *done at the end (the mark removed). */
static gs_err upgrade_hist_batch(store *s, bool *done)
{
  static const char mark[] = "upgrade-hist";
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  uint8_t last[UPGRADE_KEY_MAX];
  size_t lastn = 0, nold = 0, used = 0;
  uint8_t *buf = NULL; /* the old keys: length (2 bytes) then the key */
  MDB_val mk = {sizeof mark - 1, (void *)mark}, k, v;
  int rc = 0;
  gs_err err = upgrade_begin(s, DB_HIST, &mk, true, &txn, &cur, last, &lastn,
                             &k, &v, &rc);
  if (!err && !txn) {
    *done = true;
    return GS_OK;
  }
  if (!rc && !err && !(buf = malloc(UPGRADE_BATCH * (2 + sizeof last))))
    err = GS_ENOMEM;
  if ((rc && rc != MDB_NOTFOUND) || err)
    goto out;
  for (; rc == 0 && nold < UPGRADE_BATCH;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    hist_tail t;
    if (s->progress)
      s->upgraded_count++;
    if (k.mv_size > sizeof last || (err = hist_key_parse(&k, &t)) != GS_OK) {
      err = GS_ECORRUPT;
      goto out;
    }
    if (t.form == HIST_FORM_NEW)
      continue;
    buf[used] = (uint8_t)(k.mv_size >> 8);
    buf[used + 1] = (uint8_t)k.mv_size;
    memcpy(buf + used + 2, k.mv_data, k.mv_size);
    used += 2 + k.mv_size;
    nold++;
    lastn = k.mv_size;
    memcpy(last, k.mv_data, lastn);
  }
  mdb_cursor_close(cur);
  cur = NULL;
  if (rc && rc != MDB_NOTFOUND)
    goto out;
  bool end = rc == MDB_NOTFOUND;
  rc = 0;
  for (size_t at = 0; at < used && !rc && !err;) {
    size_t kn = (size_t)buf[at] << 8 | buf[at + 1];
    uint8_t *kb = buf + at + 2, nk[UPGRADE_KEY_MAX];
    MDB_val ok = {kn, kb}, ev = {0, ""};
    hist_tail t;
    at += 2 + kn;
    if ((err = hist_key_parse(&ok, &t)) != GS_OK ||
        (t.form == HIST_FORM_SPELT &&
         (err = feed_number(s, txn, t.feed, &t.no)) != GS_OK))
      break;
    size_t head = kn - (t.form == HIST_FORM_SPELT ? HIST_TAIL_SPELT
                                                  : HIST_TAIL_NUMBERED);
    memcpy(nk, kb, head); /* coll 0 id */
    MDB_val nkv = {head + hist_tail_put(nk + head, t.no, t.seq), nk};
    if ((rc = mdb_del(txn, s->dbi[DB_HIST], &ok, NULL)) == 0)
      rc = mdb_put(txn, s->dbi[DB_HIST], &nkv, &ev, 0);
  }
  if (err || rc)
    goto out;
  rc = upgrade_end(s, &txn, &mk, end, last, lastn, done);
out:
  free(buf);
  return upgrade_out(s, cur, txn, err, rc, done);
}

/* Keys one after the other in one buffer, each preceded by its length
 * (two bytes, big-endian: record keys are up to 281 bytes). */
typedef struct key_list {
  uint8_t *b;
  size_t n, cap;
  size_t *off; /* where each key starts in b */
  size_t nk, capk;
} key_list;

static void key_list_free(key_list *l)
{
  free(l->b);
  free(l->off);
  memset(l, 0, sizeof *l);
}

static size_t key_len_at(const key_list *l, size_t off)
{
  return (size_t)l->b[off - 2] << 8 | l->b[off - 1];
}

/* Append the key made of a (an bytes) then b (bn bytes). */
static gs_err key_list_add(key_list *l, const void *a, size_t an,
                           const void *b, size_t bn)
{
  size_t kn = an + bn;
  if (kn > sizeof ((key_buf *)0)->b)
    return GS_ECORRUPT;
  if (crdt_grow((void **)&l->b, &l->cap, l->n + 2 + kn, 1) ||
      crdt_grow((void **)&l->off, &l->capk, l->nk + 1, sizeof *l->off))
    return GS_ENOMEM;
  uint8_t *p = l->b + l->n;
  p[0] = (uint8_t)(kn >> 8);
  p[1] = (uint8_t)kn;
  memcpy(p + 2, a, an);
  if (bn)
    memcpy(p + 2 + an, b, bn);
  l->off[l->nk++] = l->n + 2;
  l->n += 2 + kn;
  return GS_OK;
}

static int key_list_cmp(const key_list *l, size_t a, size_t b)
{
  return lmdb_keycmp(l->b + a, key_len_at(l, a), l->b + b, key_len_at(l, b));
}

/* A key's place in a sort (issue 20, fourth pass): the 8 bytes of the
 * key that follow the prefix every key of the list shares, big-endian
 * and zero-padded, then the key's index. Two keys whose words differ
 * are ordered by their words alone: both keys hold the shared prefix, so
 * the first byte where they differ lies in the word (a key that ends
 * inside it is padded with zeros, and is a prefix of the other up to
 * there: it sorts first either way). Equal words fall back to the whole
 * keys. */
typedef struct sort_ent {
  uint64_t word;
  size_t i;
} sort_ent;

/* How many leading bytes every key of l shares (at most the shortest). */
static size_t key_list_shared(const key_list *l)
{
  if (!l->nk)
    return 0;
  const uint8_t *k0 = l->b + l->off[0];
  size_t m = key_len_at(l, l->off[0]);
  for (size_t i = 1; i < l->nk && m; i++) {
    const uint8_t *k = l->b + l->off[i];
    size_t kn = key_len_at(l, l->off[i]), j = 0;
    if (kn < m)
      m = kn;
    while (j < m && k[j] == k0[j])
      j++;
    m = j;
  }
  return m;
}

static uint64_t key_word(const key_list *l, size_t i, size_t shared)
{
  const uint8_t *k = l->b + l->off[i];
  size_t kn = key_len_at(l, l->off[i]);
  uint64_t w = 0;
  for (size_t j = 0; j < 8; j++)
    w = w << 8 | (shared + j < kn ? k[shared + j] : 0);
  return w;
}

static int sort_ent_cmp(const key_list *l, const sort_ent *a,
                        const sort_ent *b)
{
  if (a->word != b->word)
    return a->word < b->word ? -1 : 1;
  return key_list_cmp(l, l->off[a->i], l->off[b->i]);
}

/* Stable sort of a (n entries) by sort_ent_cmp, tmp (n) as scratch: a
 * bottom-up merge sort (qsort has no context argument, and is not
 * stable); the result in a. */
static void ents_merge_sort(const key_list *l, sort_ent *a, sort_ent *tmp,
                            size_t n)
{
  sort_ent *from = a, *to = tmp;
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n;
      size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi)
        to[o++] = sort_ent_cmp(l, &from[i], &from[j]) <= 0 ? from[i++]
                                                          : from[j++];
      while (i < mid)
        to[o++] = from[i++];
      while (j < hi)
        to[o++] = from[j++];
    }
    sort_ent *t = from;
    from = to;
    to = t;
  }
  if (from != a)
    memcpy(a, from, n * sizeof *a);
}

#define SORT_RUN_INSERT 16 /* equal words: sorted by insertion up to this */

/* Stable sort of idx (n indexes of keys of l) by key: by the words first,
 * a byte at a time from the last (a radix sort: stable, no comparisons;
 * a byte all the words share is skipped), then each run of equal words
 * by the whole keys (by insertion when short, else merged). */
static gs_err key_list_sort(const key_list *l, size_t *idx, size_t n)
{
  /* already in key order (a bulk load's new records, their ids by
   * creation): n - 1 comparisons; keys out of order stop this at their
   * first inversion, mostly the first few keys */
  size_t in = 1;
  while (in < n && key_list_cmp(l, l->off[idx[in - 1]], l->off[idx[in]]) <= 0)
    in++;
  if (in >= n)
    return GS_OK;
  sort_ent *e = malloc(2 * n * sizeof *e);
  if (!e)
    return GS_ENOMEM;
  sort_ent *a = e, *tmp = e + n;
  size_t shared = key_list_shared(l);
  for (size_t i = 0; i < n; i++)
    a[i] = (sort_ent){key_word(l, idx[i], shared), idx[i]};
  for (unsigned shift = 0; shift < 64; shift += 8) {
    size_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++)
      cnt[(a[i].word >> shift) & 0xff]++;
    if (cnt[(a[0].word >> shift) & 0xff] == n)
      continue; /* the same byte in every word */
    for (size_t b = 0, sum = 0; b < 256; b++) {
      size_t c = cnt[b];
      cnt[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[cnt[(a[i].word >> shift) & 0xff]++] = a[i];
    sort_ent *t = a;
    a = tmp;
    tmp = t;
  }
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && a[j].word == a[i].word)
      j++;
    if (j - i > SORT_RUN_INSERT) {
      ents_merge_sort(l, a + i, tmp, j - i);
    } else {
      for (size_t k = i + 1; k < j; k++) {
        sort_ent cur = a[k];
        size_t m = k;
        for (; m > i && sort_ent_cmp(l, &a[m - 1], &cur) > 0; m--)
          a[m] = a[m - 1];
        a[m] = cur;
      }
    }
    i = j;
  }
  for (size_t i = 0; i < n; i++)
    idx[i] = a[i].i;
  free(e);
  return GS_OK;
}

/* Sort idx (the n keys of l, 0..n-1 in order) by insertion when they
 * come nearly in order: touched_write's hist list is in key order but for
 * the few entries of one record (one per change, in batch order), so
 * this is about n comparisons. Stable. False, idx unsorted, once it
 * would move more than about 8 keys a key: then key_list_sort. */
static bool key_list_nearly(const key_list *l, size_t *idx, size_t n)
{
  size_t budget = 8 * n + 64;
  for (size_t i = 1; i < n; i++) {
    size_t cur = idx[i], j = i;
    for (; j > 0 && key_list_cmp(l, l->off[idx[j - 1]], l->off[cur]) > 0;
         j--) {
      if (!budget--)
        return false;
      idx[j] = idx[j - 1];
    }
    idx[j] = cur;
  }
  return true;
}

/* Put every key of l (empty values) into db, in key order, through one
 * cursor: LMDB finds a key that falls in the page the cursor is on
 * without a search from the root, and sorted keys mostly do. Keys that
 * come nearly in order (touched_write's hist list) are sorted by
 * insertion. */
static gs_err key_list_write(store *s, MDB_txn *txn, MDB_dbi db, key_list *l)
{
  (void)s; /* empty values: nothing to seal (sealed_db) */
  if (!l->nk)
    return GS_OK;
  size_t *idx = malloc(l->nk * sizeof *idx);
  if (!idx)
    return GS_ENOMEM;
  for (size_t i = 0; i < l->nk; i++)
    idx[i] = i;
  gs_err err = GS_OK;
  if (!key_list_nearly(l, idx, l->nk)) {
    for (size_t i = 0; i < l->nk; i++)
      idx[i] = i;
    err = key_list_sort(l, idx, l->nk);
  }
  MDB_val empty = {0, ""}, lk, lv;
  MDB_cursor *cur = NULL;
  int rc = 0;
  if (!err && (rc = mdb_cursor_open(txn, db, &cur)) != 0)
    err = lmdb_err(rc);
  /* the database's last key: keys after it are appends (full pages) */
  bool none = false;
  key_buf last = {.n = 0};
  if (!err) {
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    if (rc == MDB_NOTFOUND)
      none = true;
    else if (rc)
      err = lmdb_err(rc);
    else if (lk.mv_size > sizeof last.b)
      err = GS_ECORRUPT; /* not a key of ours */
    else
      memcpy(last.b, lk.mv_data, last.n = lk.mv_size);
  }
  bool append = none;
  for (size_t i = 0; i < l->nk && !err; i++) {
    size_t off = l->off[idx[i]];
    if (i && key_list_cmp(l, l->off[idx[i - 1]], off) == 0)
      continue;
    MDB_val k = {key_len_at(l, off), l->b + off};
    if (!append && lmdb_keycmp(k.mv_data, k.mv_size, last.b, last.n) > 0)
      append = true; /* and so is every key after it */
    if ((rc = mdb_cursor_put(cur, &k, &empty, append ? MDB_APPEND : 0)))
      err = lmdb_err(rc);
  }
  if (cur)
    mdb_cursor_close(cur);
  free(idx);
  return err;
}

/* One applied change of the batch: its stamp and hist key tail. */
typedef struct noted_change {
  const crdt_change *c;
  uint8_t tail[HIST_TAIL_MAX];
  uint8_t tailn;
} noted_change;

typedef struct touched_set {
  key_list keys;  /* the record key of each op noted, in batch order */
  const crdt_op **op; /* op[i] is the op of keys.off[i] */
  uint32_t *chg;      /* and the change it is in (index into ch) */
  size_t capop, capchg;
  noted_change *ch;
  size_t nch, capch;
  crdt_op *opv; /* the ops copied in key order (touched_gather) */
  char *opb;    /* and the bytes their names and values borrow */
} touched_set;

static void touched_free(touched_set *ts)
{
  key_list_free(&ts->keys);
  free(ts->op);
  free(ts->chg);
  free(ts->ch);
  free(ts->opv);
  free(ts->opb);
  memset(ts, 0, sizeof *ts);
}

/* Note applied change c of the feed numbered feedno: its ops are
 * applied by touched_write. */
static gs_err touched_note(touched_set *ts, const crdt_change *c,
                           uint32_t feedno)
{
  if (ts->nch >= UINT32_MAX ||
      crdt_grow((void **)&ts->ch, &ts->capch, ts->nch + 1, sizeof *ts->ch))
    return GS_ENOMEM;
  noted_change *nc = &ts->ch[ts->nch];
  nc->c = c;
  nc->tailn = (uint8_t)hist_tail_put(nc->tail, feedno, c->seq);
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    key_buf k;
    gs_err err;
    record_key(&k, op->coll, op->coll_len, op->id, c->scope, c->scope_len);
    size_t at = ts->keys.nk;
    if ((err = key_list_add(&ts->keys, k.b, k.n, NULL, 0)) != GS_OK)
      return err;
    if (crdt_grow((void **)&ts->op, &ts->capop, at + 1, sizeof *ts->op) ||
        crdt_grow((void **)&ts->chg, &ts->capchg, at + 1, sizeof *ts->chg))
      return GS_ENOMEM;
    ts->op[at] = op;
    ts->chg[at] = (uint32_t)ts->nch;
  }
  ts->nch++;
  return GS_OK;
}

/* Read item it's stored record (it->rc: 0, MDB_NOTFOUND or an error)
 * through cur, a cursor of the records table that touched_write moves in
 * key order (MDB_SET from where it is: LMDB looks on the cursor's page
 * first, not from the root, and the records come in key order, most on
 * the page of the one before): it->raw views it in the map, it->plain too
 * until it is opened; *pneed grows by the bytes it opens to. */
static void touched_read(store *s, MDB_cursor *cur, cipher_item *it,
                         size_t *pneed)
{
  MDB_val v, k = it->k;
  it->rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
  if (it->rc)
    return;
  it->raw = it->plain = v.mv_data;
  it->rawn = it->plainn = v.mv_size;
  if (!s->key || v.mv_size == 0)
    return; /* read as it is (as open_value does) */
  if (v.mv_size >= CRDT_SEAL_OVERHEAD)
    *pneed += v.mv_size - CRDT_SEAL_OVERHEAD;
  else if (!s->mixed)
    it->rc = GS_ESEAL; /* too short to be sealed */
}

/* Item it's record (opened, or new), its ops idx[it->from..it->to)
 * applied, encoded into it->enc; the hist entry of each (record, change)
 * added to hist; it->same when, in a sealed store, the new bytes are the
 * opened ones (version 4's, a squeezed one's unsqueezed; not a value
 * that sealing under way has not sealed yet): then neither squeezed,
 * sealed nor written again. Not in an open store: there the compare of
 * every record costs more (2% of a merge) than the rare put of a lost
 * edit it saves. Else squeezed now, or, defer, marked to be squeezed by
 * the thread that seals its block (it->sq). */
static gs_err touched_apply(store *s, MDB_txn *txn, touched_set *ts,
                            const size_t *idx, cipher_item *it,
                            key_list *hist, bool defer)
{
  const uint8_t *old = it->plain; /* its version-4 bytes */
  size_t oldn = it->plainn;
  size_t first = idx[it->from];
  const crdt_change *c0 = ts->ch[ts->chg[first]].c;
  const crdt_op *op0 = ts->op[first];
  crdt_record *rec = NULL;
  gs_err err;
  if (it->rc == MDB_NOTFOUND) {
    it->fresh = true;
    if (!(rec = crdt_record_new(c0->scope, c0->scope_len, op0->coll,
                                op0->coll_len, op0->id)))
      return GS_ENOMEM;
    if ((err = crdt_record_reserve(rec, it->to - it->from)) != GS_OK) {
      crdt_record_free(rec);
      return err;
    }
  } else if (it->rc || it->err) {
    return it->rc ? lmdb_err(it->rc) : it->err;
  } else {
    MDB_val pv = {it->plainn, (void *)it->plain};
    bool squeezed = record_squeezed(&pv);
    if ((err = record_decode(s, txn, &it->k, &pv, true, &rec)) != GS_OK)
      return err;
    if (squeezed) /* unsqueezed by the decode, in zrec until the next */
      old = s->zrec, oldn = s->zrecn;
  }
  /* the key is coll 0 id(16) scope, as record_key wrote it */
  const uint8_t *kb = it->k.mv_data, *nul = memchr(kb, 0, it->k.mv_size);
  if (!nul || (size_t)(nul - kb) + 1 + CRDT_ID_LEN > it->k.mv_size) {
    err = GS_ECORRUPT;
    goto out;
  }
  size_t head = (size_t)(nul - kb) + 1 + CRDT_ID_LEN;
  uint32_t last_chg = UINT32_MAX;
  for (size_t p = it->from; p < it->to; p++) {
    const noted_change *nc = &ts->ch[ts->chg[idx[p]]];
    crdt_stamp st = {.hlc = nc->c->hlc};
    memcpy(st.origin, nc->c->origin, CRDT_KEY_LEN);
    /* each op is of a change built (crdt_change_build_unsigned) or
     * decoded (crdt_change_decode) here: checked there */
    if ((err = crdt_record_apply_checked(rec, ts->op[idx[p]], &st)) !=
        GS_OK)
      goto out;
    if (ts->chg[idx[p]] != last_chg) { /* hist: coll 0 id feedno seq */
      last_chg = ts->chg[idx[p]];
      if ((err = key_list_add(hist, kb, head, nc->tail, nc->tailn)))
        goto out;
    }
  }
  if ((err = crdt_record_encode(rec, &it->enc, &it->encn)) != GS_OK ||
      (err = origins_pack(s, txn, it->enc, &it->encn)) != GS_OK)
    goto out;
  it->same = s->key && !it->fresh && it->opened && it->encn == oldn &&
             memcmp(it->enc, old, oldn) == 0;
  if (!it->same && defer)
    it->sq = true;
  else if (!it->same)
    err = record_squeeze(s, txn, it->enc, &it->encn);
out:
  crdt_record_free(rec);
  return err;
}

/* Write item it's new value (sealed already, or sealed now by sv_put)
 * unless it is the same, and note the scope index entry of a new record
 * in scopes. A key that does not sort after the table's last goes
 * through cur (the batch's read cursor, near it in key order), one after
 * it as put_ordered's append. */
static gs_err touched_put(store *s, MDB_txn *txn, MDB_cursor *cur,
                          cipher_item *it, last_key *lr, key_list *scopes)
{
  if (it->same)
    return GS_OK;
  if (it->err)
    return it->err;
  MDB_val ev = {it->encn, it->enc};
  if (it->sealed) {
    ev.mv_data = it->sealed;
    ev.mv_size = it->encn + CRDT_SEAL_OVERHEAD;
  }
  s->put_sealed = it->sealed != NULL;
  MDB_val k = it->k;
  int rc = lr->known && !lr->none &&
                   lmdb_keycmp(k.mv_data, k.mv_size, lr->k.b, lr->k.n) <= 0
               ? sv_cursor_put(s, cur, &k, &ev)
               : put_ordered(s, txn, s->dbi[DB_RECORDS], lr, &k, &ev);
  s->put_sealed = false;
  if (rc)
    return lmdb_err(rc);
  if (!it->fresh)
    return GS_OK;
  /* byscope: scope 0 coll 0 id */
  const uint8_t *kb = it->k.mv_data;
  size_t cn = strlen((const char *)kb), head = cn + 1 + CRDT_ID_LEN;
  key_buf ik = {.n = 0};
  key_add(&ik, kb + head, it->k.mv_size - head);
  key_add(&ik, "", 1);
  key_add(&ik, kb, cn);
  key_add(&ik, "", 1);
  key_add(&ik, kb + cn + 1, CRDT_ID_LEN);
  return key_list_add(scopes, ik.b, ik.n, NULL, 0);
}

/* The bytes of op's collection, field and value (what applying it
 * reads), copied to *at and borrowed from there; with b NULL only
 * counted. A set REMOVE's tags stay where they are. */
static size_t op_bytes_move(crdt_op *op, char *b, size_t at)
{
  /* field and value only for the kinds that have them (a DELETE's may
   * be anything a local writer left there) */
  bool fv = op->kind <= CRDT_OP_REMOVE;
  crdt_value *v = &op->value;
  bool text = fv && (v->type == CRDT_STR || v->type == CRDT_BYTES);
  bool ref = fv && v->type == CRDT_REF;
  size_t n = op->coll_len + (fv ? op->field_len : 0) +
             (text ? v->u.s.n : ref ? v->u.ref.coll_len : 0);
  if (!b)
    return at + n;
  char *p = b + at;
  memcpy(p, op->coll, op->coll_len);
  op->coll = p;
  p += op->coll_len;
  if (fv && op->field_len) {
    memcpy(p, op->field, op->field_len);
    op->field = p;
    p += op->field_len;
  }
  if (text && v->u.s.n) {
    memcpy(p, v->u.s.p, v->u.s.n);
    v->u.s.p = p;
  } else if (ref && v->u.ref.coll_len) {
    memcpy(p, v->u.ref.coll, v->u.ref.coll_len);
    v->u.ref.coll = p;
  }
  return at + n;
}

/* Lay the notes out in key order (idx, n of them, as key_list_sort left
 * it), then idx := 0, 1, 2...: the keys, the ops (copied, with the bytes
 * they borrow from their changes) and their change indexes, so that the
 * pass over the records reads them one after the other instead of
 * jumping about the batch's memory for each (a cache miss or four per
 * op: a tenth of a merge's time). On no memory nothing changes. */
static void touched_gather(touched_set *ts, size_t *idx, size_t n)
{
  key_list *kl = &ts->keys, nk = {0};
  crdt_op *opv = malloc((n ? n : 1) * sizeof *opv);
  uint32_t *chg = malloc((n ? n : 1) * sizeof *chg);
  if (!opv || !chg || crdt_grow((void **)&nk.b, &nk.cap, kl->n, 1) ||
      crdt_grow((void **)&nk.off, &nk.capk, n ? n : 1, sizeof *nk.off)) {
    free(opv);
    free(chg);
    key_list_free(&nk);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t off = kl->off[idx[i]], kn = key_len_at(kl, off);
    memcpy(nk.b + nk.n, kl->b + off - 2, 2 + kn);
    nk.off[i] = nk.n + 2;
    nk.n += 2 + kn;
    opv[i] = *ts->op[idx[i]];
    chg[i] = ts->chg[idx[i]];
  }
  nk.nk = n;
  size_t nb = 0;
  for (size_t i = 0; i < n; i++)
    nb = op_bytes_move(&opv[i], NULL, nb);
  char *opb = malloc(nb ? nb : 1);
  for (size_t i = 0, at = 0; opb && i < n; i++)
    at = op_bytes_move(&opv[i], opb, at);
  for (size_t i = 0; i < n; i++) {
    ts->op[i] = &opv[i];
    idx[i] = i;
  }
  key_list_free(kl);
  *kl = nk;
  free(ts->chg);
  ts->chg = chg;
  ts->capchg = n;
  free(ts->opv);
  ts->opv = opv;
  free(ts->opb);
  ts->opb = opb; /* NULL: the ops borrow from their changes still */
}

#ifndef _WIN32
/* Room for item it's sealed value: the next bytes of the store's tsealed
 * (*sat: the bytes the chunk wants so far), else its own allocation
 * (it->sown). tsealed is not moved while a chunk uses it (the worker
 * writes there): touched_sealed_grow sizes it between chunks. */
static gs_err touched_sealed_room(store *s, cipher_item *it, size_t *sat)
{
  size_t need = it->encn + CRDT_SEAL_OVERHEAD;
  if (*sat <= s->tscap && need <= s->tscap - *sat) {
    it->sealed = s->tsealed + *sat;
  } else if ((it->sealed = malloc(need))) {
    it->sown = true;
  } else {
    return GS_ENOMEM;
  }
  *sat += need;
  return GS_OK;
}

/* After a chunk that wanted sat bytes of sealed values: tsealed made big
 * enough for the next one like it (a quarter more), up to TSEALED_MAX
 * (records of 250 bytes: four chunks; bigger ones get their own). On no
 * memory it stays as it is (then the items get their own). */
static void touched_sealed_grow(store *s, size_t sat)
{
  if (sat <= s->tscap || s->tscap >= TSEALED_MAX)
    return;
  size_t want = sat < TSEALED_MAX - TSEALED_MAX / 5 ? sat + sat / 4
                                                    : TSEALED_MAX;
  uint8_t *b = malloc(want);
  if (!b)
    return;
  free(s->tsealed);
  s->tsealed = b;
  s->tscap = want;
}
#endif

/* Apply every noted op, one record at a time in key order (each read,
 * decoded, encoded and written once), then write the scope index entry
 * of each new record and the hist entry of each (record, change). In
 * chunks of TOUCHED_CHUNK records. A chunk of a sealed store with the
 * worker ("the cipher work of a batch" above): all of its records are
 * read, then decoded, applied and encoded in key order here while the
 * worker opens and seals them, then written in key order as their blocks
 * are sealed (the first put after the last open); no put comes
 * between a chunk's reads and its last open, so the map's bytes read
 * stay as they are while they are opened. Otherwise each record is read,
 * opened, applied, sealed and written in turn. In a sealed store, a
 * record whose new bytes equal its stored ones (every op of it lost to a
 * later stamp) is not written again. The first error in key order is the one returned (a
 * value that does not open: GS_ESEAL), and the caller aborts the
 * transaction: nothing is written. */
/* What item it owns, freed (a plaintext wiped first). */
static void touched_item_free(cipher_item *it)
{
  free(it->enc);
  if (it->sown)
    free(it->sealed);
  if (it->unsq) {
    crdt_wipe(it->unsq, it->unsqn);
    free(it->unsq);
  }
  it->enc = it->sealed = it->unsq = NULL;
}

static gs_err touched_write(store *s, MDB_txn *txn, touched_set *ts)
{
  key_list *kl = &ts->keys;
  size_t n = kl->nk;
  size_t *idx = malloc((n ? n : 1) * sizeof *idx);
  size_t cap = n < TOUCHED_CHUNK ? (n ? n : 1) : TOUCHED_CHUNK;
  key_list scopes = {0}, hist = {0};
  MDB_cursor *rcur = NULL; /* the records read, in key order */
  cipher_item *items; /* a chunk's records (s->titems) */
  size_t used = 0, m = 0; /* bytes of s->tplain used */
#ifndef _WIN32
  cipher_worker *w = NULL; /* of the chunk being applied */
#else
  const void *w = NULL; /* one thread */
#endif
  gs_err err = GS_OK;
  if (cap > s->tcap) {
    free(s->titems);
    s->tcap = 0;
    if ((s->titems = malloc(cap * sizeof *s->titems)))
      s->tcap = cap;
  }
  items = s->titems;
  if (!idx || !items) {
    free(idx);
    return GS_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    idx[i] = i;
  /* the ops by record key, each record's in batch order */
  if ((err = key_list_sort(kl, idx, n)) != GS_OK)
    goto out;
  touched_gather(ts, idx, n);
  int crc = mdb_cursor_open(txn, s->dbi[DB_RECORDS], &rcur);
  if (crc) {
    rcur = NULL;
    err = lmdb_err(crc);
    goto out;
  }
  last_key lr = {.known = false};
  ZSTD_CDict *cd; /* the records' dictionary, if the store has one */
  if ((err = zdict_for_write(s, txn, &cd)) != GS_OK)
    goto out;
#ifndef _WIN32
  /* the worker unsqueezes as it opens in an open store; in a sealed one
   * it has the opens and seals already, and this thread unsqueezes (in
   * record_decode): bench_seal's sealed local edit 1.13 -> 1.11x of the
   * open store's time */
  const ZSTD_DDict *dd = !cd || s->key ? NULL
                         : cd == s->ztc ? s->ztd
                                        : s->zdd;
#endif
  for (size_t i = 0; i < n;) {
    /* the chunk's records */
    for (m = 0; i < n && m < TOUCHED_CHUNK; m++) {
      cipher_item *it = &items[m];
      size_t first = idx[i];
      memset(it, 0, sizeof *it);
      it->k.mv_size = key_len_at(kl, kl->off[first]);
      it->k.mv_data = kl->b + kl->off[first];
      it->from = i;
      for (; i < n && key_list_cmp(kl, kl->off[first], kl->off[idx[i]]) == 0;
           i++)
        ;
      it->to = i;
    }
#ifndef _WIN32
    if ((s->key || cd) && m >= CIPHER_THREAD_MIN && s->cipher_skip)
      s->cipher_skip--;
    else if ((s->key || cd) && m >= CIPHER_THREAD_MIN)
      w = cipher_worker_get(s);
#endif
    if (!w) { /* each record in turn, on this thread */
      for (size_t j = 0; j < m; j++) {
        cipher_item *it = &items[j];
        size_t none = 0;
        touched_read(s, rcur, it, &none);
        if (!it->rc && s->key && it->rawn) {
          MDB_val v = {it->rawn, (void *)it->raw};
          int rc = open_value(s, DB_RECORDS, &it->k, &v);
          if (rc)
            it->rc = rc;
          it->opened = v.mv_data != (void *)it->raw;
          it->plain = v.mv_data;
          it->plainn = v.mv_size;
        }
        if ((err = touched_apply(s, txn, ts, idx, it, &hist, false)) !=
                GS_OK ||
            (err = touched_put(s, txn, rcur, it, &lr, &scopes)) != GS_OK)
          goto out;
        free(it->enc);
        it->enc = NULL;
      }
      m = 0;
      continue;
    }
#ifndef _WIN32
    /* read, then opened and sealed by the worker as this thread goes */
    size_t pneed = 0;
    for (size_t j = 0; j < m; j++)
      touched_read(s, rcur, &items[j], &pneed);
    if (pneed > s->tpcap) {
      if (s->tplain)
        crdt_wipe(s->tplain, used > s->tpcap ? s->tpcap : used);
      free(s->tplain);
      s->tpcap = used = 0;
      if (!(s->tplain = malloc(pneed))) {
        err = GS_ENOMEM;
        w = NULL;
        goto out;
      }
      s->tpcap = pneed;
    }
    if (pneed > used)
      used = pneed;
    size_t at = 0, sat = 0; /* bytes of tplain, of tsealed (wanted) */
    for (size_t j = 0; s->key && j < m; j++)
      if (!items[j].rc && items[j].rawn >= CRDT_SEAL_OVERHEAD) {
        items[j].plain = s->tplain + at;
        items[j].plainn = items[j].rawn - CRDT_SEAL_OVERHEAD;
        at += items[j].plainn;
      }
    cipher_post(w, items, m, s, cd, dd);
    for (size_t j = 0; j < m; j++) {
      cipher_item *it = &items[j];
      if (j % CIPHER_BLOCK == 0)
        cipher_take(w, s->sealer, j / CIPHER_BLOCK, false);
      if ((err = touched_apply(s, txn, ts, idx, it, &hist, cd != NULL)) !=
          GS_OK)
        goto out;
      if (s->key && !it->same && it->encn &&
          (err = touched_sealed_room(s, it, &sat)) != GS_OK)
        goto out;
      if ((j + 1) % CIPHER_BLOCK == 0 || j + 1 == m)
        cipher_encoded(w, CIPHER_BLOCKS(j + 1));
    }
    /* every block opened: sealed (by either thread) and written in key
     * order, block by block, while the worker seals the next ones */
    for (size_t j = 0; j < m; j++) {
      if (j % CIPHER_BLOCK == 0)
        cipher_take(w, s->sealer, j / CIPHER_BLOCK, true);
      if ((err = touched_put(s, txn, rcur, &items[j], &lr, &scopes)) != GS_OK)
        goto out;
    }
    cipher_finish(w, s->sealer);
    cipher_backoff(s, w);
    w = NULL;
    for (size_t j = 0; j < m; j++)
      touched_item_free(&items[j]);
    m = 0;
    touched_sealed_grow(s, sat);
#endif
  }
  if ((err = key_list_write(s, txn, s->dbi[DB_BYSCOPE], &scopes)) == GS_OK)
    err = key_list_write(s, txn, s->dbi[DB_HIST], &hist);
out:
#ifndef _WIN32
  if (w) /* failed half-way: the worker leaves the chunk first */
    cipher_finish(w, s->sealer);
#endif
  for (size_t j = 0; j < m; j++)
    touched_item_free(&items[j]);
  if (rcur)
    mdb_cursor_close(rcur);
  free(idx);
  if (used)
    crdt_wipe(s->tplain, used); /* no plaintext left between batches */
  key_list_free(&scopes);
  key_list_free(&hist);
  if (!err && n) /* the store's dictionary, at its ZDICT_MIN'th record */
    err = zdict_maybe(s, txn);
  return err;
}

static gs_err cursor_open(store *s, int db, MDB_txn **txn, MDB_cursor **cur);
static void cursor_close(MDB_txn *txn, MDB_cursor *cur);

/* Outcome of one change within a transaction. */
enum { APPLIED, DUPLICATE, HELD };

/* What a batch's changes are checked against. */
typedef struct apply_ctx {
  bool held_any;     /* the held database has entries */
  uint64_t limit_ms; /* stamps beyond this are held */
  uint8_t sig;       /* SIG_GOOD/SIG_BAD: this change's signature, verified
                        before the batch (sigs_verify); 0: verify here */
} apply_ctx;

enum { SIG_GOOD = 1, SIG_BAD = 2 };

/* True when c's signature is good: as verified before the batch when ax
 * says so, else verified now. */
static bool sig_ok(const crdt_change *c, const apply_ctx *ax)
{
  return ax && ax->sig ? ax->sig == SIG_GOOD : crdt_change_verify(c);
}

static void feed_next(uint8_t k[CRDT_FEED_LEN + 8],
                      const uint8_t feed[CRDT_FEED_LEN])
{
  memcpy(k, feed, CRDT_FEED_LEN);
  memset(k + CRDT_FEED_LEN, 0xff, 8);
}

/* The highest held seq of feed (0: none held) and that change's hash. */
static gs_err held_top(store *s, MDB_txn *txn,
                       const uint8_t feed[CRDT_FEED_LEN], uint64_t *top,
                       uint8_t hash[CRDT_HASH_LEN])
{
  MDB_cursor *cur;
  uint8_t kb[CRDT_FEED_LEN + 8];
  MDB_val k = {sizeof kb, kb}, v;
  *top = 0;
  feed_next(kb, feed);
  int rc = mdb_cursor_open(txn, s->dbi[DB_HELD], &cur);
  if (rc)
    return lmdb_err(rc);
  rc = sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && k.mv_size == sizeof kb &&
      memcmp(k.mv_data, kb, sizeof kb) == 0) {
    /* seq 2^64-1 itself held */
  } else if (rc == 0 || rc == MDB_NOTFOUND) {
    rc = sv_cursor_get(s, cur, &k, &v,
                        rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  }
  if (rc == 0 && k.mv_size == sizeof kb &&
      memcmp(k.mv_data, feed, CRDT_FEED_LEN) == 0) {
    if (v.mv_size < 1 + CRDT_HASH_LEN) {
      mdb_cursor_close(cur);
      return GS_ECORRUPT;
    }
    *top = be64_get((const uint8_t *)k.mv_data + CRDT_FEED_LEN);
    memcpy(hash, (const uint8_t *)v.mv_data + 1, CRDT_HASH_LEN);
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

static gs_err held_put(store *s, MDB_txn *txn, const uint8_t *ck,
                       const crdt_change *c, uint8_t reason)
{
  MDB_stat st;
  int rc = mdb_stat(txn, s->dbi[DB_HELD], &st);
  if (rc)
    return lmdb_err(rc);
  if (st.ms_entries >= STORE_HELD_MAX)
    return GS_ETOOBIG;
  uint8_t *b = malloc(1 + CRDT_HASH_LEN + c->raw_len);
  if (!b)
    return GS_ENOMEM;
  b[0] = reason;
  crdt_change_hash(c, b + 1);
  memcpy(b + 1 + CRDT_HASH_LEN, c->raw, c->raw_len);
  MDB_val k = {CRDT_FEED_LEN + 8, (void *)ck},
          v = {1 + CRDT_HASH_LEN + c->raw_len, b};
  rc = sv_put(s, txn, s->dbi[DB_HELD], &k, &v, 0);
  free(b);
  return lmdb_err(rc);
}

/* Apply decoded change c in txn, its records' writes kept in ts (the
 * caller writes them with touched_write before the commit). verify:
 * check its signature. ax: the receive rules (NULL for local writes:
 * applied as they are). hold: a reason the caller has to hold it. An
 * error after the checks (only no memory, a corrupt record or LMDB's)
 * leaves ts half-applied: the caller must abort the transaction. */
/* Keep change c (its checks passed) in txn: its bytes (packed: kept, or
 * packed here when kept is NULL) under its feed and seq, and its feed's
 * entry in the version vector, the feed's head hash (the change's hash:
 * computed here when hash is NULL). */
static gs_err change_keep(store *s, MDB_txn *txn, const crdt_change *c,
                          const uint8_t feed[CRDT_FEED_LEN],
                          const uint8_t *hash, const MDB_val *kept)
{
  uint8_t ck[CRDT_FEED_LEN + 8];
  MDB_val cv;
  gs_err err;
  int rc;
  feed_seq_key(ck, feed, c->seq);
  MDB_val ckv = {sizeof ck, ck};
  if (kept)
    cv = *kept;
  else if ((err = change_pack_kept(s, c, &cv)) != GS_OK)
    return err;
  last_key lc = {.known = false};
  if ((rc = put_ordered(s, txn, s->dbi[DB_CHANGES], &lc, &ckv, &cv)) != 0)
    return lmdb_err(rc);
  uint8_t vvb[72 + CRDT_SCOPE_MAX];
  be64_put(vvb, c->seq);
  if (hash)
    memcpy(vvb + 8, hash, CRDT_HASH_LEN);
  else
    crdt_change_hash(c, vvb + 8);
  memcpy(vvb + 40, c->origin, CRDT_KEY_LEN);
  memcpy(vvb + 72, c->scope, c->scope_len);
  MDB_val fk = {CRDT_FEED_LEN, (void *)feed};
  MDB_val fv = {72 + c->scope_len, vvb};
  if ((rc = sv_put(s, txn, s->dbi[DB_VV], &fk, &fv, 0)) != 0)
    return lmdb_err(rc);
  return GS_OK;
}

/* The head of feed in txn's view of the vector into *out (seq 0: the
 * feed has no change yet). */
static gs_err feed_head(store *s, MDB_txn *txn,
                        const uint8_t feed[CRDT_FEED_LEN], store_feed *out)
{
  MDB_val fk = {CRDT_FEED_LEN, (void *)feed}, fv;
  memset(out, 0, sizeof *out);
  int rc = sv_get(s, txn, s->dbi[DB_VV], &fk, &fv);
  if (rc == MDB_NOTFOUND)
    return GS_OK;
  return rc ? lmdb_err(rc) : vv_decode(&fv, feed, out);
}

static gs_err apply_into(store *s, MDB_txn *txn, const crdt_change *c,
                         bool verify, const apply_ctx *ax, uint8_t hold,
                         touched_set *ts, int *outcome)
{
  uint8_t feed[CRDT_FEED_LEN], ck[CRDT_FEED_LEN + 8];
  store_feed held = {.seq = 0};
  gs_err err;
  int rc;

  crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
  if ((err = feed_head(s, txn, feed, &held)) != GS_OK)
    return err;
  feed_seq_key(ck, feed, c->seq);
  MDB_val ckv = {sizeof ck, ck}, cv;
  if (c->seq <= held.seq) {
    const uint8_t *held_raw;
    size_t held_n;
    if ((rc = sv_get(s, txn, s->dbi[DB_CHANGES], &ckv, &cv)) != 0)
      return rc == MDB_NOTFOUND ? GS_ECORRUPT : lmdb_err(rc);
    if ((err = change_unpack(s, &cv, &held_raw, &held_n)) != GS_OK)
      return err;
    if (held_n == c->raw_len && memcmp(held_raw, c->raw, c->raw_len) == 0) {
      *outcome = DUPLICATE;
      return GS_OK;
    }
    return GS_EFORK;
  }
  /* changes of this feed held after what is applied: c comes after them */
  uint64_t top = held.seq;
  uint8_t top_hash[CRDT_HASH_LEN];
  memcpy(top_hash, held.head, CRDT_HASH_LEN);
  bool after_held = false;
  if (ax && ax->held_any) {
    uint64_t htop;
    uint8_t hh[CRDT_HASH_LEN];
    if ((err = held_top(s, txn, feed, &htop, hh)) != GS_OK)
      return err;
    if (htop > held.seq) {
      if (c->seq <= htop) {
        if ((rc = sv_get(s, txn, s->dbi[DB_HELD], &ckv, &cv)) != 0)
          return rc == MDB_NOTFOUND ? GS_ECORRUPT : lmdb_err(rc);
        if (cv.mv_size == 1 + CRDT_HASH_LEN + c->raw_len &&
            memcmp((const uint8_t *)cv.mv_data + 1 + CRDT_HASH_LEN, c->raw,
                   c->raw_len) == 0) {
          *outcome = DUPLICATE;
          return GS_OK;
        }
        return GS_EFORK;
      }
      top = htop;
      memcpy(top_hash, hh, CRDT_HASH_LEN);
      after_held = true;
    }
  }
  if (c->seq != top + 1)
    return GS_EGAP;
  if (c->seq > 1 && memcmp(c->prev, top_hash, CRDT_HASH_LEN) != 0)
    return GS_ECHAIN;
  if (verify && !sig_ok(c, ax))
    return GS_ESIG;
  if (ax) {
    uint8_t reason = after_held ? STORE_HOLD_AFTER : hold;
    if (!reason && CRDT_HLC_MS(c->hlc) > ax->limit_ms)
      reason = STORE_HOLD_CLOCK;
    if (reason) {
      if ((err = held_put(s, txn, ck, c, reason)) != GS_OK)
        return err;
      *outcome = HELD;
      return GS_OK;
    }
  }

  if ((err = change_keep(s, txn, c, feed, NULL, NULL)) != GS_OK)
    return err;
  uint32_t feedno;
  if ((err = feed_number(s, txn, feed, &feedno)) != GS_OK ||
      (err = touched_note(ts, c, feedno)) != GS_OK)
    return err;
  *outcome = APPLIED;
  return GS_OK;
}

/* Apply decoded change c in txn and write its records at once (local
 * writes, held changes: one change at a time). */
static gs_err apply_one(store *s, MDB_txn *txn, const crdt_change *c,
                        bool verify, const apply_ctx *ax, uint8_t hold,
                        int *outcome)
{
  touched_set ts = {.nch = 0};
  gs_err err = apply_into(s, txn, c, verify, ax, hold, &ts, outcome);
  if (!err && *outcome == APPLIED)
    err = touched_write(s, txn, &ts);
  touched_free(&ts);
  return err;
}

/* Raise the stored HLC to at least h (the receive rule). */
static gs_err hlc_observe(store *s, MDB_txn *txn, crdt_hlc h)
{
  crdt_hlc cur;
  gs_err err = hlc_get(s, txn, &cur);
  if (err || crdt_hlc_observe(&cur, h) != GS_OK)
    return err;
  return hlc_put(s, txn, cur);
}

static void record_fork(store *s, const crdt_change *c)
{
  /* Evidence only counts when the origin really signed it. */
  if (!crdt_change_verify(c))
    return;
  uint8_t feed[CRDT_FEED_LEN], ck[CRDT_FEED_LEN + 8];
  crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
  feed_seq_key(ck, feed, c->seq);
  for (int i = 0; i < RETRIES; i++) {
    MDB_txn *txn;
    if (txn_begin(s, 0, &txn) != GS_OK)
      return;
    MDB_val k = {sizeof ck, ck}, v = {c->raw_len, (void *)c->raw};
    int rc = sv_put(s, txn, s->dbi[DB_FORKS], &k, &v, 0);
    if (rc == 0) {
      if ((rc = mdb_txn_commit(txn)) != MDB_MAP_FULL)
        return;
    } else {
      mdb_txn_abort(txn);
    }
    if (rc != MDB_MAP_FULL || grow_map(s) != GS_OK)
      return;
  }
}

/* Record that a bad change (reason) of feed was seen; a fork's evidence
 * (validly signed) goes to `forks`. A frozen (forked) feed stays so. */
static gs_err quar_put(store *s, MDB_txn *txn,
                       const uint8_t feed[CRDT_FEED_LEN],
                       const crdt_change *c, uint8_t reason)
{
  MDB_val k = {CRDT_FEED_LEN, (void *)feed}, v;
  int rc = sv_get(s, txn, s->dbi[DB_QUAR], &k, &v);
  if (rc == 0 && v.mv_size >= 1 && ((const uint8_t *)v.mv_data)[0] ==
                                       STORE_BAD_FORK &&
      reason != STORE_BAD_FORK)
    return GS_OK; /* frozen already: keep the fork's entry */
  if (rc && rc != MDB_NOTFOUND)
    return lmdb_err(rc);
  if (rc == MDB_NOTFOUND && reason != STORE_BAD_FORK) {
    /* a relay can make up bad changes of feeds no one holds: their notes
     * are kept only up to a bound (a fork needs the author's signature) */
    MDB_stat st;
    if ((rc = mdb_stat(txn, s->dbi[DB_QUAR], &st)) != 0)
      return lmdb_err(rc);
    if (st.ms_entries >= STORE_QUAR_MAX)
      return GS_OK;
  }
  uint8_t b[1 + 8 + 8 + CRDT_KEY_LEN + CRDT_SCOPE_MAX];
  b[0] = reason;
  be64_put(b + 1, c->seq);
  be64_put(b + 9, s->now(s->now_ctx));
  memcpy(b + 17, c->origin, CRDT_KEY_LEN);
  memcpy(b + 17 + CRDT_KEY_LEN, c->scope, c->scope_len);
  v.mv_data = b;
  v.mv_size = 17 + CRDT_KEY_LEN + c->scope_len;
  if ((rc = sv_put(s, txn, s->dbi[DB_QUAR], &k, &v, 0)) != 0)
    return lmdb_err(rc);
  if (reason == STORE_BAD_FORK) {
    uint8_t ck[CRDT_FEED_LEN + 8];
    feed_seq_key(ck, feed, c->seq);
    MDB_val fk = {sizeof ck, ck}, fv = {c->raw_len, (void *)c->raw};
    rc = sv_put(s, txn, s->dbi[DB_FORKS], &fk, &fv, 0);
  }
  return lmdb_err(rc);
}

static bool feed_frozen(store *s, MDB_txn *txn,
                        const uint8_t feed[CRDT_FEED_LEN])
{
  MDB_val k = {CRDT_FEED_LEN, (void *)feed}, v;
  return sv_get(s, txn, s->dbi[DB_QUAR], &k, &v) == 0 && v.mv_size >= 1 &&
         ((const uint8_t *)v.mv_data)[0] == STORE_BAD_FORK;
}

static bool feed_listed(const uint8_t (*list)[CRDT_FEED_LEN], size_t n,
                        const uint8_t feed[CRDT_FEED_LEN])
{
  for (size_t i = 0; i < n; i++)
    if (memcmp(list[i], feed, CRDT_FEED_LEN) == 0)
      return true;
  return false;
}

/* One author's counts in a batch: as stored, plus this batch's. */
typedef struct quota {
  uint8_t origin[CRDT_KEY_LEN];
  uint64_t feeds, changes, bytes;
  bool dirty;
} quota;

static gs_err quota_find(store *s, MDB_txn *txn, quota *qs, size_t *nq,
                         const uint8_t origin[CRDT_KEY_LEN], quota **out)
{
  for (size_t i = 0; i < *nq; i++)
    if (memcmp(qs[i].origin, origin, CRDT_KEY_LEN) == 0) {
      *out = &qs[i];
      return GS_OK;
    }
  quota *q = &qs[(*nq)++];
  memset(q, 0, sizeof *q);
  memcpy(q->origin, origin, CRDT_KEY_LEN);
  MDB_val k = {CRDT_KEY_LEN, (void *)origin}, v;
  int rc = sv_get(s, txn, s->dbi[DB_QUOTA], &k, &v);
  if (rc == 0 && v.mv_size == 24) {
    const uint8_t *p = v.mv_data;
    q->feeds = be64_get(p);
    q->changes = be64_get(p + 8);
    q->bytes = be64_get(p + 16);
  } else if (rc && rc != MDB_NOTFOUND) {
    return lmdb_err(rc);
  }
  *out = q;
  return GS_OK;
}

static bool over_quota(const quota *q, const crdt_change *c)
{
  return (c->seq == 1 && q->feeds >= STORE_MEMBER_FEEDS_MAX) ||
         q->changes >= STORE_MEMBER_CHANGES_MAX ||
         q->bytes + c->raw_len > STORE_MEMBER_BYTES_MAX;
}

static gs_err quota_write(store *s, MDB_txn *txn, const quota *qs, size_t nq)
{
  for (size_t i = 0; i < nq; i++) {
    if (!qs[i].dirty)
      continue;
    uint8_t b[24];
    be64_put(b, qs[i].feeds);
    be64_put(b + 8, qs[i].changes);
    be64_put(b + 16, qs[i].bytes);
    MDB_val k = {CRDT_KEY_LEN, (void *)qs[i].origin}, v = {24, b};
    int rc = sv_put(s, txn, s->dbi[DB_QUOTA], &k, &v, 0);
    if (rc)
      return lmdb_err(rc);
  }
  return GS_OK;
}

static bool feed_error(gs_err e)
{
  return e == GS_EFORK || e == GS_EGAP || e == GS_ECHAIN || e == GS_ESIG;
}

/* ---- a batch's signatures, verified on two threads (issue 20) ----
 * Verifying is a tenth of a merge's CPU and needs nothing of the store:
 * before a batch's transaction, every change's signature is verified,
 * half of them on a second thread (POSIX; one thread on Windows, or
 * when a thread cannot be started), and the checks in order then use the
 * results: every signature is still verified before anything is
 * applied, the decisions are the same. Each thread only reads the
 * changes and writes its own entries of sigs. */
#define SIG_THREAD_MIN 32 /* smaller batches: one thread */

typedef struct sig_job {
  crdt_change *const *cs;
  uint8_t *sigs;
  size_t from, to;
} sig_job;

static void sig_run(const sig_job *j)
{
  for (size_t i = j->from; i < j->to; i++)
    j->sigs[i] = crdt_change_verify(j->cs[i]) ? SIG_GOOD : SIG_BAD;
}

#ifndef _WIN32
static void *sig_thread(void *arg)
{
  sig_run(arg);
  return NULL;
}
#endif

/* sigs (n entries) := SIG_GOOD or SIG_BAD for each change. */
static void sigs_verify(crdt_change *const *cs, size_t n, uint8_t *sigs)
{
  sig_job all = {cs, sigs, 0, n};
#ifndef _WIN32
  if (n >= SIG_THREAD_MIN) {
    sig_job other = {cs, sigs, n / 2, n};
    pthread_t t;
    if (pthread_create(&t, NULL, sig_thread, &other) == 0) {
      sig_job mine = {cs, sigs, 0, n / 2};
      sig_run(&mine);
      pthread_join(t, NULL);
      return;
    }
  }
#endif
  sig_run(&all);
}

/* One attempt at a batch; MDB_MAP_FULL means grow and retry. isolate: a
 * bad feed is skipped (see store_apply_ex), else the batch fails. bad
 * (n entries, isolate only) collects the feeds skipped. */
static gs_err apply_batch(store *s, crdt_change *const *cs, size_t n,
                          const uint8_t *hold, const uint8_t *sigs,
                          uint8_t *out, bool isolate,
                          uint8_t (*badf)[CRDT_FEED_LEN], quota *quotas,
                          store_result *res, size_t *bad)
{
  MDB_txn *txn;
  MDB_stat hs, qs;
  size_t nbadf = 0, nquota = 0;
  touched_set ts = {.nch = 0}; /* the records of the whole batch */
  gs_err err = txn_begin(s, 0, &txn);
  if (err)
    return err;
  memset(res, 0, sizeof *res);
  apply_ctx ax = {.limit_ms = ahead_limit_ms(s)};
  int rc = mdb_stat(txn, s->dbi[DB_HELD], &hs);
  if (!rc)
    rc = mdb_stat(txn, s->dbi[DB_QUAR], &qs);
  if (rc) {
    err = lmdb_err(rc);
    goto fail;
  }
  ax.held_any = hs.ms_entries > 0;
  bool any_quar = qs.ms_entries > 0;
  for (size_t i = 0; i < n; i++) {
    const crdt_change *c = cs[i];
    uint8_t feed[CRDT_FEED_LEN];
    int outcome;
    *bad = i;
    crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
    if (isolate && feed_listed((const uint8_t(*)[CRDT_FEED_LEN])badf, nbadf,
                               feed)) {
      if (out)
        out[i] = STORE_OUT_BAD;
      res->bad++;
      continue;
    }
    if (any_quar && feed_frozen(s, txn, feed)) {
      /* a forked feed: nothing more of it is applied here */
      if (!isolate) {
        err = GS_EFORK;
        goto fail;
      }
      memcpy(badf[nbadf++], feed, CRDT_FEED_LEN);
      if (out)
        out[i] = STORE_OUT_BAD;
      res->bad++;
      continue;
    }
    quota *q;
    if ((err = quota_find(s, txn, quotas, &nquota, c->origin, &q)) != GS_OK)
      goto fail;
    if (over_quota(q, c)) {
      if (!isolate) {
        err = GS_ETOOBIG;
        goto fail;
      }
      if ((err = quar_put(s, txn, feed, c, STORE_BAD_QUOTA)) != GS_OK)
        goto fail;
      any_quar = true;
      memcpy(badf[nbadf++], feed, CRDT_FEED_LEN);
      if (out)
        out[i] = STORE_OUT_BAD;
      res->bad++;
      continue;
    }
    /* every change is verified: a run whose first change is badly signed
     * but chained by a valid second must not get in (the next node would
     * refuse it) */
    ax.sig = sigs ? sigs[i] : 0;
    err = apply_into(s, txn, c, true, &ax, hold ? hold[i] : 0, &ts,
                     &outcome);
    if (err == GS_ETOOBIG && isolate) {
      /* the held store is full: not stored; the sender tries again */
      memcpy(badf[nbadf++], feed, CRDT_FEED_LEN);
      if (out)
        out[i] = STORE_OUT_FULL;
      continue;
    }
    if (feed_error(err) && isolate) {
      bool signed_ok = err == GS_ESIG ? false : sig_ok(c, &ax);
      uint8_t reason = err == GS_EGAP     ? STORE_BAD_GAP
                       : err == GS_ESIG   ? STORE_BAD_SIG
                       : !signed_ok       ? STORE_BAD_SIG
                       : STORE_BAD_FORK; /* fork, or chained to another */
      if (err == GS_ECHAIN && !signed_ok)
        reason = STORE_BAD_CHAIN;
      if ((err = quar_put(s, txn, feed, c, reason)) != GS_OK)
        goto fail;
      any_quar = true;
      memcpy(badf[nbadf++], feed, CRDT_FEED_LEN);
      if (out)
        out[i] = STORE_OUT_BAD;
      res->bad++;
      continue;
    }
    if (err)
      goto fail;
    if (outcome == DUPLICATE) {
      if (out)
        out[i] = STORE_OUT_DUP;
      res->duplicates++;
      continue;
    }
    if (outcome == HELD) {
      if (out)
        out[i] = STORE_OUT_HELD;
      ax.held_any = true;
      res->held++;
      continue;
    }
    if (out)
      out[i] = STORE_OUT_APPLIED;
    q->feeds += c->seq == 1;
    q->changes++;
    q->bytes += c->raw_len;
    q->dirty = true;
    res->applied++;
    res->ops += c->nops;
    if (c->hlc > res->max_hlc)
      res->max_hlc = c->hlc;
  }
  if ((err = touched_write(s, txn, &ts)) != GS_OK ||
      (err = quota_write(s, txn, quotas, nquota)) != GS_OK)
    goto fail;
  touched_free(&ts);
  /* only applied changes move the clock, and none is beyond the limit */
  if (res->max_hlc && (err = hlc_observe(s, txn, res->max_hlc)) != GS_OK)
    goto fail;
  return lmdb_err(mdb_txn_commit(txn));
fail:
  touched_free(&ts);
  mdb_txn_abort(txn);
  return err;
}

static gs_err apply_common(store *s, const uint8_t *const *changes,
                           const size_t *lens, size_t n, const uint8_t *hold,
                           uint8_t *out, bool isolate, store_result *res,
                           size_t *bad_index)
{
  crdt_change **cs = calloc(n ? n : 1, sizeof *cs);
  uint8_t(*badf)[CRDT_FEED_LEN] =
      isolate ? malloc((n ? n : 1) * sizeof *badf) : NULL;
  quota *quotas = malloc((n ? n : 1) * sizeof *quotas);
  size_t bad = 0;
  store_result tmp;
  gs_err err = GS_OK;

  if (!res)
    res = &tmp;
  memset(res, 0, sizeof *res);
  if (!cs || !quotas || (isolate && !badf)) {
    free(cs);
    free(badf);
    free(quotas);
    return GS_ENOMEM;
  }
  for (size_t i = 0; i < n && !err; i++) {
    bad = i;
    err = crdt_change_decode(changes[i], lens[i], &cs[i]);
  }
  uint8_t *sigs = err ? NULL : malloc(n ? n : 1);
  if (sigs)
    sigs_verify(cs, n, sigs);
  for (int tries = 0; !err; tries++) {
    err = apply_batch(s, cs, n, hold, sigs, out, isolate, badf, quotas, res,
                      &bad);
    if (err != MDB_MAP_FULL || tries + 1 >= RETRIES)
      break;
    err = grow_map(s); /* then try the whole batch again */
  }
  if (err == GS_EFORK && !isolate)
    record_fork(s, cs[bad]);
  if (err && bad_index)
    *bad_index = bad;
  for (size_t i = 0; i < n; i++)
    crdt_change_free(cs[i]);
  free(cs);
  free(sigs);
  free(badf);
  free(quotas);
  return err;
}

/* ---- applying changes the caller decoded (issue 20) ----
 * The receive path decodes each change once (to classify it) and hands
 * the decoded changes here: store_apply_ex would decode them again. */

gs_err store_apply_changes(store *s, crdt_change *const *cs, size_t n,
                           const uint8_t *hold, uint8_t *out,
                           store_result *res, size_t *bad_index)
{
  uint8_t(*badf)[CRDT_FEED_LEN] = malloc((n ? n : 1) * sizeof *badf);
  quota *quotas = malloc((n ? n : 1) * sizeof *quotas);
  uint8_t *sigs = NULL;
  size_t bad = 0;
  store_result tmp;
  gs_err err = GS_ENOMEM;

  if (!res)
    res = &tmp;
  memset(res, 0, sizeof *res);
  if (!badf || !quotas)
    goto out;
  if ((sigs = malloc(n ? n : 1)) != NULL) /* else verified one by one */
    sigs_verify(cs, n, sigs);
  for (int tries = 0;; tries++) {
    err = apply_batch(s, cs, n, hold, sigs, out, true, badf, quotas, res,
                      &bad);
    if (err != MDB_MAP_FULL || tries + 1 >= RETRIES)
      break;
    if ((err = grow_map(s)) != GS_OK) /* then try the whole batch again */
      break;
  }
  if (err && bad_index)
    *bad_index = bad;
out:
  free(sigs);
  free(badf);
  free(quotas);
  return err;
}

gs_err store_apply(store *s, const uint8_t *const *changes,
                   const size_t *lens, size_t n, store_result *res,
                   size_t *bad_index)
{
  return apply_common(s, changes, lens, n, NULL, NULL, false, res,
                      bad_index);
}

gs_err store_apply_ex(store *s, const uint8_t *const *changes,
                      const size_t *lens, size_t n, const uint8_t *hold,
                      uint8_t *out, store_result *res, size_t *bad_index)
{
  return apply_common(s, changes, lens, n, hold, out, true, res, bad_index);
}

/* ---- held changes ---- */

gs_err store_held_list(store *s, store_held_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  if (s->absent[DB_HELD])
    return GS_OK;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  int rc = mdb_cursor_open(txn, s->dbi[DB_HELD], &cur);
  if (rc) {
    mdb_txn_abort(txn);
    return lmdb_err(rc);
  }
  for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    crdt_change *c;
    if (v.mv_size <= 1 + CRDT_HASH_LEN)
      continue;
    if (crdt_change_decode((const uint8_t *)v.mv_data + 1 + CRDT_HASH_LEN,
                           v.mv_size - 1 - CRDT_HASH_LEN, &c) != GS_OK)
      continue;
    store_held h = {c, ((const uint8_t *)v.mv_data)[0]};
    int stop = cb(ctx, &h);
    crdt_change_free(c);
    if (stop)
      break;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return rc == 0 || rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

/* The key just after every key of feed: the next feed's first. false
 * when feed is the last possible. */
static bool feed_after(uint8_t k[CRDT_FEED_LEN + 8],
                       const uint8_t feed[CRDT_FEED_LEN])
{
  memcpy(k, feed, CRDT_FEED_LEN);
  memset(k + CRDT_FEED_LEN, 0, 8);
  for (int i = CRDT_FEED_LEN - 1; i >= 0; i--)
    if (++k[i] != 0)
      return true;
  return false;
}

static gs_err retry_once(store *s, store_held_check check, void *ctx,
                         store_result *res)
{
  MDB_txn *txn;
  MDB_cursor *cur = NULL;
  uint8_t kb[CRDT_FEED_LEN + 8];
  uint8_t *raw = malloc(CRDT_CHANGE_MAX);
  gs_err err;
  memset(res, 0, sizeof *res);
  if (!raw)
    return GS_ENOMEM;
  if ((err = txn_begin(s, 0, &txn)) != GS_OK) {
    free(raw);
    return err;
  }
  uint64_t limit = ahead_limit_ms(s);
  memset(kb, 0, sizeof kb);
  int rc = mdb_cursor_open(txn, s->dbi[DB_HELD], &cur);
  while (rc == 0) {
    MDB_val k = {sizeof kb, kb}, v;
    rc = sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE);
    if (rc)
      break;
    if (k.mv_size != sizeof kb || v.mv_size <= 1 + CRDT_HASH_LEN ||
        v.mv_size - 1 - CRDT_HASH_LEN > CRDT_CHANGE_MAX) {
      err = GS_ECORRUPT;
      goto out;
    }
    memcpy(kb, k.mv_data, sizeof kb);
    size_t rn = v.mv_size - 1 - CRDT_HASH_LEN;
    memcpy(raw, (const uint8_t *)v.mv_data + 1 + CRDT_HASH_LEN, rn);
    uint64_t seq = be64_get(kb + CRDT_FEED_LEN);
    store_feed held = {.seq = 0};
    MDB_val fk = {CRDT_FEED_LEN, kb}, fv;
    if ((rc = sv_get(s, txn, s->dbi[DB_VV], &fk, &fv)) == 0) {
      if ((err = vv_decode(&fv, kb, &held)) != GS_OK)
        goto out;
    } else if (rc != MDB_NOTFOUND) {
      break;
    }
    rc = 0;
    crdt_change *c = NULL;
    int verdict = -1; /* drop: a stale or undecodable entry */
    if (seq == held.seq + 1 &&
        crdt_change_decode(raw, rn, &c) == GS_OK) {
      verdict = CRDT_HLC_MS(c->hlc) > limit ? STORE_HOLD_CLOCK
                : check                      ? check(ctx, c)
                                             : STORE_HOLD_NONE;
    } else if (seq > held.seq + 1) {
      verdict = STORE_HOLD_AFTER; /* waits for an earlier one */
    }
    quota q1[1];
    quota *q = NULL;
    if (verdict == STORE_HOLD_NONE) {
      size_t nq = 0;
      if ((err = quota_find(s, txn, q1, &nq, c->origin, &q)) != GS_OK)
        goto out_c;
      if (over_quota(q, c)) {
        if ((err = quar_put(s, txn, kb, c, STORE_BAD_QUOTA)) != GS_OK)
          goto out_c;
        verdict = -1; /* dropped with the rest of its feed */
      }
    }
    if (verdict == STORE_HOLD_NONE) {
      int outcome;
      MDB_val dk = {sizeof kb, kb};
      if ((rc = mdb_del(txn, s->dbi[DB_HELD], &dk, NULL)) != 0)
        goto out_c;
      err = apply_one(s, txn, c, false, NULL, 0, &outcome);
      if (feed_error(err)) {
        /* no longer follows what is held (cannot happen unless the store
         * was changed by hand): dropped, checked before any write */
        err = GS_OK;
        crdt_change_free(c);
        if (!feed_after(kb, kb))
          break;
        continue;
      }
      if (err)
        goto out_c;
      q->feeds += c->seq == 1;
      q->changes++;
      q->bytes += c->raw_len;
      q->dirty = true;
      if ((err = quota_write(s, txn, q, 1)) != GS_OK)
        goto out_c;
      res->applied++;
      res->ops += c->nops;
      if (c->hlc > res->max_hlc)
        res->max_hlc = c->hlc;
      crdt_change_free(c);
      be64_put(kb + CRDT_FEED_LEN, seq + 1);
      if (seq == UINT64_MAX && !feed_after(kb, kb))
        break;
      continue;
    }
    if (verdict < 0) {
      /* drop this one and the rest of its feed */
      uint8_t end[CRDT_FEED_LEN + 8];
      bool more = feed_after(end, kb);
      for (;;) {
        MDB_val dk = {sizeof kb, kb}, dv;
        rc = sv_cursor_get(s, cur, &dk, &dv, MDB_SET_RANGE);
        if (rc || (more && lmdb_keycmp(dk.mv_data, dk.mv_size, end,
                                       sizeof end) >= 0) ||
            memcmp(dk.mv_data, kb, CRDT_FEED_LEN) != 0)
          break;
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
          break;
      }
      if (rc && rc != MDB_NOTFOUND)
        goto out_c;
      rc = 0;
    } else if (c && v.mv_size && verdict != ((const uint8_t *)v.mv_data)[0]) {
      /* still held, perhaps for another reason now */
      MDB_val uk = {sizeof kb, kb}, uv;
      if ((rc = sv_get(s, txn, s->dbi[DB_HELD], &uk, &uv)) == 0 &&
          uv.mv_size > 0) {
        uint8_t *nb = malloc(uv.mv_size);
        if (!nb) {
          err = GS_ENOMEM;
          goto out_c;
        }
        memcpy(nb, uv.mv_data, uv.mv_size);
        nb[0] = (uint8_t)verdict;
        MDB_val nv = {uv.mv_size, nb};
        rc = sv_put(s, txn, s->dbi[DB_HELD], &uk, &nv, 0);
        free(nb);
        if (rc)
          goto out_c;
      }
      rc = 0;
    }
    crdt_change_free(c);
    /* this feed waits: go on with the next */
    if (!feed_after(kb, kb))
      break;
    continue;
  out_c:
    crdt_change_free(c);
    goto out;
  }
  if (rc == MDB_NOTFOUND)
    rc = 0;
  if (!err && rc)
    err = lmdb_err(rc);
  if (!err && res->max_hlc)
    err = hlc_observe(s, txn, res->max_hlc);
out:
  if (cur)
    mdb_cursor_close(cur);
  if (!err && rc == 0) {
    err = lmdb_err(mdb_txn_commit(txn));
  } else {
    if (!err)
      err = lmdb_err(rc);
    mdb_txn_abort(txn);
  }
  free(raw);
  return err;
}

gs_err store_held_retry(store *s, store_held_check check, void *ctx,
                        store_result *res)
{
  store_result tmp;
  gs_err err;
  if (!res)
    res = &tmp;
  memset(res, 0, sizeof *res);
  if (s->absent[DB_HELD])
    return GS_OK;
  for (int tries = 0;; tries++) {
    err = retry_once(s, check, ctx, res);
    if (err != MDB_MAP_FULL || tries + 1 >= RETRIES)
      return err;
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
}

/* ---- quarantined feeds ---- */

static bool quar_decode(const MDB_val *k, const MDB_val *v, store_quar *q)
{
  if (k->mv_size != CRDT_FEED_LEN || v->mv_size < 17 + CRDT_KEY_LEN ||
      v->mv_size > 17 + CRDT_KEY_LEN + CRDT_SCOPE_MAX)
    return false;
  const uint8_t *p = v->mv_data;
  memcpy(q->feed, k->mv_data, CRDT_FEED_LEN);
  q->reason = p[0];
  q->seq = be64_get(p + 1);
  q->at_ms = be64_get(p + 9);
  memcpy(q->origin, p + 17, CRDT_KEY_LEN);
  size_t sn = v->mv_size - 17 - CRDT_KEY_LEN;
  memcpy(q->scope, p + 17 + CRDT_KEY_LEN, sn);
  q->scope[sn] = '\0';
  return true;
}

gs_err store_quar_list(store *s, store_quar_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  if (s->absent[DB_QUAR])
    return GS_OK;
  gs_err err = cursor_open(s, DB_QUAR, &txn, &cur);
  if (err)
    return err;
  int rc;
  for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    store_quar q;
    if (quar_decode(&k, &v, &q) && cb(ctx, &q))
      break;
  }
  cursor_close(txn, cur);
  return rc == 0 || rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

gs_err store_quar_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                      store_quar *out)
{
  MDB_txn *txn;
  if (s->absent[DB_QUAR])
    return GS_ENOTFOUND;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  MDB_val k = {CRDT_FEED_LEN, (void *)feed}, v;
  int rc = sv_get(s, txn, s->dbi[DB_QUAR], &k, &v);
  if (rc == 0)
    err = quar_decode(&k, &v, out) ? GS_OK : GS_ECORRUPT;
  else
    err = rc == MDB_NOTFOUND ? GS_ENOTFOUND : lmdb_err(rc);
  mdb_txn_abort(txn);
  return err;
}

/* ---- local writes ---- */

struct store_write {
  store *s;
  MDB_txn *txn;
  uint8_t sk[CRDT_SK_LEN];
  uint8_t pk[CRDT_KEY_LEN];
  crdt_hlc hlc;
  /* The bytes of the changes written so far (packed), replayed (decoded
   * again) only if the map must grow: a built change is applied from the
   * caller's ops, never decoded on the write path. */
  uint8_t **done;
  size_t *done_len;
  size_t ndone, cap; /* kept packed (write_keep) */
  /* One meta entry written with the commit (store_write_meta), in the
   * same transaction; mkey[0] == 0: none. */
  char mkey[STORE_WRITE_META_KEY + 1];
  uint8_t mval[STORE_WRITE_META_VAL];
  size_t mlen;
  bool mdel;
  /* The last change, signed aside, its records written, its signing and
   * packing perhaps not done yet: kept by write_settle at the session's
   * next call, so that the signing goes on while the caller makes the
   * next change ("a local change signed aside"). raw NULL: none. */
  struct {
    uint8_t *raw; /* its bytes, signed in place */
    size_t rawlen;
    crdt_change c; /* its header (no ops), its scope in scope */
    char scope[CRDT_SCOPE_MAX];
    uint8_t feed[CRDT_FEED_LEN];
    struct cipher_worker *wk;
  } pend;
};

/* How write_settle_how keeps the pending change: in w's transaction, the
 * session redone after a full map (SETTLE_REPLAY) or MDB_MAP_FULL
 * returned, the change listed (SETTLE_KEEP: its caller redoes it); or
 * only listed, the transaction having failed (SETTLE_LIST: a replay
 * follows and applies it). */
typedef enum settle_how { SETTLE_REPLAY, SETTLE_KEEP, SETTLE_LIST } settle_how;
static gs_err write_settle_how(store_write *w, settle_how how);
static gs_err write_settle(store_write *w)
{
  return write_settle_how(w, SETTLE_REPLAY);
}
static void write_drain(store_write *w);

void store_write_abort(store_write *w)
{
  if (!w)
    return;
  write_drain(w);
  if (w->txn)
    mdb_txn_abort(w->txn);
  for (size_t i = 0; i < w->ndone; i++)
    free(w->done[i]);
  free(w->done);
  free(w->done_len);
  crdt_wipe(w->sk, sizeof w->sk);
  free(w);
}

gs_err store_write_meta(store_write *w, const char *key, const void *buf,
                        size_t n)
{
  size_t kn = strlen(key);
  if (kn == 0 || kn > STORE_WRITE_META_KEY || n > STORE_WRITE_META_VAL)
    return GS_EINVAL;
  memcpy(w->mkey, key, kn + 1);
  w->mdel = buf == NULL;
  w->mlen = buf ? n : 0;
  if (buf && n)
    memcpy(w->mval, buf, n);
  return GS_OK;
}

/* The meta entry of w, put (or deleted) in its transaction. */
static gs_err write_meta_apply(store_write *w)
{
  if (!w->mkey[0])
    return GS_OK;
  MDB_val k = {strlen(w->mkey), w->mkey}, v = {w->mlen, w->mval};
  int rc = w->mdel ? mdb_del(w->txn, w->s->dbi[DB_META], &k, NULL)
                   : sv_put(w->s, w->txn, w->s->dbi[DB_META], &k, &v, 0);
  return rc == MDB_NOTFOUND && w->mdel ? GS_OK : lmdb_err(rc);
}

/* A write session may be a bulk load, and running out of map means
 * redoing the whole session (write_replay): start it with room. */
static void ensure_write_room(store *s)
{
  MDB_envinfo info;
  MDB_stat st;
  if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
    return;
  size_t used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
  if (info.me_mapsize < used + WRITE_ROOM)
    grow_map(s); /* on failure the session still grows when it must */
}

gs_err store_write_begin(store *s, const uint8_t sk[CRDT_SK_LEN],
                         store_write **out)
{
  store_write *w = calloc(1, sizeof *w);
  gs_err err;
  *out = NULL;
  if (!w)
    return GS_ENOMEM;
  ensure_write_room(s);
  w->s = s;
  memcpy(w->sk, sk, CRDT_SK_LEN);
  crdt_sk_to_pk(sk, w->pk);
  if ((err = txn_begin(s, 0, &w->txn)) != GS_OK ||
      (err = hlc_get(s, w->txn, &w->hlc)) != GS_OK) {
    store_write_abort(w);
    return err;
  }
  *out = w;
  return GS_OK;
}

/* ---- a write session's change bytes, kept packed (issue 20) ----
 * A bulk load's session kept the bytes of every change it wrote, for a
 * replay after MDB_MAP_FULL: half of the memory of loading 1,000,000
 * residents. They are kept as the store keeps changes (change_pack: zstd
 * level 1, about a tenth of the bytes), unpacked only by a replay. */

static gs_err write_keep(store_write *w, uint8_t **raw, size_t *rawlen)
{
  store *s = w->s;
  MDB_val v;
  gs_err err = GS_OK;
  /* write_once has just applied *raw, and apply_into packed it into the
   * store's buffer (zlast names that input): copied, not packed again */
  if (s->zlast == *raw && s->zlast_n == *rawlen) {
    v.mv_data = s->zlast_z ? s->pk.zbuf : *raw;
    v.mv_size = s->zlast_z ? s->zlast_z : *rawlen;
  } else {
    err = change_pack(s, *raw, *rawlen, 0, &v);
  }
  s->zlast = NULL;
  if (err || v.mv_data == *raw)
    return err; /* kept as it is */
  uint8_t *z = malloc(v.mv_size);
  if (!z)
    return GS_ENOMEM;
  memcpy(z, v.mv_data, v.mv_size);
  free(*raw);
  *raw = z;
  *rawlen = v.mv_size;
  return GS_OK;
}

/* After MDB_MAP_FULL: grow, then redo every change of the session. */
static gs_err write_replay(store_write *w)
{
  int outcome;
  gs_err err;
  mdb_txn_abort(w->txn);
  w->txn = NULL;
  if ((err = grow_map(w->s)) != GS_OK ||
      (err = txn_begin(w->s, 0, &w->txn)) != GS_OK)
    return err;
  for (size_t i = 0; i < w->ndone; i++) {
    crdt_change *c;
    MDB_val v = {w->done_len[i], w->done[i]};
    const uint8_t *p;
    size_t pn;
    if ((err = change_unpack(w->s, &v, &p, &pn)) != GS_OK ||
        (err = crdt_change_decode(p, pn, &c)) != GS_OK)
      return err;
    err = apply_one(w->s, w->txn, c, false, NULL, 0, &outcome);
    crdt_change_free(c);
    if (err)
      return err;
  }
  return GS_OK;
}

gs_err store__write_replay(store_write *w)
{
  if (!w->txn)
    return GS_EINVAL;
  gs_err err = write_settle(w);
  return err ? err : write_replay(w);
}

unsigned store__records_full(store *s, unsigned n)
{
  unsigned left = s->records_full;
  s->records_full = n;
  return left;
}

unsigned store__settle_full(store *s, unsigned n)
{
  unsigned left = s->settle_full;
  s->settle_full = n;
  return left;
}

gs_err store__write_settle(store_write *w)
{
  return w->txn ? write_settle(w) : GS_EINVAL;
}

/* Room in w's list of changes done for `more` more. */
static gs_err done_room_for(store_write *w, size_t more)
{
  if (w->ndone + more <= w->cap)
    return GS_OK;
  size_t nc = w->cap ? w->cap * 2 : 8;
  uint8_t **d = realloc(w->done, nc * sizeof *d);
  if (!d)
    return GS_ENOMEM;
  w->done = d;
  size_t *dl = realloc(w->done_len, nc * sizeof *dl);
  if (!dl)
    return GS_ENOMEM;
  w->done_len = dl;
  w->cap = nc;
  return GS_OK;
}

#ifndef _WIN32
/* The feed's head after the pending change was kept: its prev set into
 * *raw and c (write_aside; the change was built before it was known). */
static gs_err write_set_prev(store_write *w, crdt_change *c,
                             const uint8_t feed[CRDT_FEED_LEN], uint8_t *raw,
                             size_t rawlen)
{
  store_feed held;
  gs_err err = feed_head(w->s, w->txn, feed, &held);
  if (err)
    return err;
  if (held.seq == 0 || held.seq + 1 != c->seq)
    return GS_ECHAIN; /* not the change before this one: a bug */
  memcpy(c->prev, held.head, CRDT_HASH_LEN);
  return crdt_change_set_prev(raw, rawlen, held.head);
}

/* The signing (and packing) of raw posted to wk, as the tests' settings
 * ask (store__sign_delay, STORE__SIGN_WORKER_SIGNS). */
static void aside_post(store_write *w, cipher_worker *wk, uint8_t *raw,
                       size_t rawlen)
{
  store *s = w->s;
  wk->sign_delay_us = s->sign_delay_us;
  wk->sign_pack = s->sign_how != STORE__SIGN_WORKER_SIGNS;
  sign_post(wk, w->sk, raw, rawlen, change_fit(s));
}

/* write_once's change c (its checks passed, as its seq follows the
 * feed's head: a local change), its unsigned bytes in *raw (*rawlen),
 * signed aside ("a local change signed aside"): its signing posted, its
 * records written meanwhile, and the change left pending in w (w->pend,
 * *raw then its: kept by write_settle). With after_pend, the pending
 * change is this one's before in its feed, still being signed: c was
 * built with a stand-in prev, and its records are written first, while
 * that signing goes on; then the change before is kept, c's prev set
 * from the feed's head, and c's signing posted. On an error the tasks
 * are waited for, so that no thread touches *raw after (the change
 * before then listed for the replay a full map leads to). */
static gs_err write_aside(store_write *w, cipher_worker *wk, crdt_change *c,
                          const uint8_t feed[CRDT_FEED_LEN], uint8_t **raw,
                          size_t *rawlen, bool after_pend)
{
  store *s = w->s;
  touched_set ts = {.nch = 0};
  uint32_t feedno;
  gs_err err;
  if (!after_pend)
    aside_post(w, wk, *raw, *rawlen);
  err = feed_number(s, w->txn, feed, &feedno);
  if (!err)
    err = touched_note(&ts, c, feedno);
  if (!err)
    err = touched_write(s, w->txn, &ts);
  touched_free(&ts);
  if (!err && after_pend && s->records_full) { /* tests: as if the map
                                                * were full */
    s->records_full--;
    err = MDB_MAP_FULL;
  }
  if (err && after_pend) {
    gs_err lerr = write_settle_how(w, SETTLE_LIST);
    return lerr ? lerr : err;
  }
  if (err) {
    uint8_t hash[CRDT_HASH_LEN];
    bool packed;
    sign_stall(s, sign_wait(s, wk, rawlen, hash, &packed));
    return err;
  }
  if (after_pend) {
    /* the change before kept now (a full map: MDB_MAP_FULL, it listed,
     * and the caller redoes the session, then this change), then this
     * one's prev, then its signing */
    if ((err = write_settle_how(w, SETTLE_KEEP)) != GS_OK ||
        (err = write_set_prev(w, c, feed, *raw, *rawlen)) != GS_OK)
      return err;
    aside_post(w, wk, *raw, *rawlen);
    s->sign_after[0]++;
  }
  w->pend.raw = *raw;
  w->pend.rawlen = *rawlen;
  w->pend.c = *c;
  w->pend.c.ops = NULL;
  w->pend.c.nops = 0;
  memcpy(w->pend.scope, c->scope, c->scope_len);
  w->pend.c.scope = w->pend.scope;
  memcpy(w->pend.feed, feed, CRDT_FEED_LEN);
  w->pend.wk = wk;
  *raw = NULL;
  return GS_OK;
}

/* The pending change's signing waited for (or done here), and the
 * change kept, signed, in w's transaction, its bytes then in w's list of
 * changes done. After MDB_MAP_FULL there, the session is redone from
 * that list (it holds the change by then). */
static gs_err write_settle_how(store_write *w, settle_how how)
{
  if (!w->pend.raw)
    return GS_OK;
  store *s = w->s;
  cipher_worker *wk = w->pend.wk;
  crdt_change *c = &w->pend.c;
  uint8_t *raw = w->pend.raw, hash[CRDT_HASH_LEN];
  size_t rawlen = w->pend.rawlen;
  bool packed;
  w->pend.raw = NULL;
  sign_stall(s, sign_wait(s, wk, &rawlen, hash, &packed));
  gs_err err = packed ? wk->sign_err : GS_OK;
  c->raw = raw;
  c->raw_len = rawlen;
  memcpy(c->sig, raw + rawlen - CRDT_SIG_LEN, CRDT_SIG_LEN);
  MDB_val kept = {rawlen, raw}, *kp = NULL; /* NULL: packed by change_keep */
  if (!err && packed) {
    /* the task's frame handed over: its buffer and the store's trade
     * places (the task is free again, and posted again only by this
     * thread), so that write_keep finds it as change_pack leaves one */
    if (wk->sign_z) {
      uint8_t *b = s->pk.zbuf;
      s->pk.zbuf = wk->sign_pk.zbuf;
      wk->sign_pk.zbuf = b;
      kept.mv_data = s->pk.zbuf;
      kept.mv_size = wk->sign_z;
    }
    s->zlast = raw;
    s->zlast_n = rawlen;
    s->zlast_z = wk->sign_z;
    kp = &kept;
  }
  if (!err && how != SETTLE_LIST)
    err = change_keep(s, w->txn, c, w->pend.feed, hash, kp);
  if (how == SETTLE_LIST)
    s->sign_after[1]++;
  if (!err && how != SETTLE_LIST && s->settle_full) { /* tests: as if the
                                                       * map were full */
    s->settle_full--;
    err = MDB_MAP_FULL;
  }
  if (err && err != MDB_MAP_FULL) {
    free(raw);
    return err;
  }
  /* listed, so that a replay after a full map redoes it too */
  gs_err kerr = done_room_for(w, 1);
  if (!kerr)
    kerr = write_keep(w, &raw, &rawlen);
  if (kerr) {
    free(raw);
    return kerr;
  }
  w->done[w->ndone] = raw;
  w->done_len[w->ndone++] = rawlen;
  for (int tries = 0;
       how == SETTLE_REPLAY && err == MDB_MAP_FULL && tries < RETRIES;
       tries++)
    err = write_replay(w);
  return err;
}

/* The pending change's task waited for and the change dropped (the
 * session is being aborted). */
static void write_drain(store_write *w)
{
  if (!w->pend.raw)
    return;
  uint8_t hash[CRDT_HASH_LEN];
  bool packed;
  sign_wait(w->s, w->pend.wk, &w->pend.rawlen, hash, &packed);
  free(w->pend.raw);
  w->pend.raw = NULL;
}
#else
static gs_err write_settle_how(store_write *w, settle_how how)
{
  (void)w, (void)how;
  return GS_OK;
}

static void write_drain(store_write *w)
{
  (void)w;
}
#endif

/* Build the next change of (pk, scope) and apply it in w's transaction.
 * The change is applied from the caller's ops (crdt_change_build_unsigned
 * checks them as the decoder would), not from a decoding of its bytes; a
 * big one is signed aside (write_aside), and is left pending. A pending
 * change of another feed, or before a change signed here, is kept first;
 * one of the same feed before a change signed aside is kept after that
 * change's records are written (write_aside's after_pend). On success
 * *raw (malloc'd, owned by the caller; NULL: the change pending) holds
 * its bytes and *seq its seq. */
static gs_err write_once(store_write *w, const char *scope, size_t scope_len,
                         const crdt_op *ops, size_t nops, crdt_hlc hlc,
                         uint8_t **raw, size_t *rawlen, uint64_t *seq)
{
  uint8_t feed[CRDT_FEED_LEN];
  crdt_change c = {.seq = 0};
  gs_err err;
  int outcome;

  *raw = NULL;
  w->s->zlast = NULL; /* set again when this change is packed */
  crdt_feed_id(w->pk, scope, scope_len, feed);
  bool after_pend = w->pend.raw &&
                    memcmp(w->pend.feed, feed, CRDT_FEED_LEN) == 0;
  if (!after_pend && (err = write_settle(w)) != GS_OK)
    return err;
  for (;;) {
    store_feed held;
    if ((err = feed_head(w->s, w->txn, feed, &held)) != GS_OK)
      return err;
    memset(&c, 0, sizeof c);
    memcpy(c.origin, w->pk, CRDT_KEY_LEN);
    c.scope = scope;
    c.scope_len = scope_len;
    c.seq = held.seq + 1;
    if (held.seq)
      memcpy(c.prev, held.head, CRDT_HASH_LEN);
    if (after_pend) { /* its head not in the vector yet: a stand-in */
      c.seq = w->pend.c.seq + 1;
      memset(c.prev, 0xff, CRDT_HASH_LEN);
    }
    c.hlc = hlc;
    c.ops = ops;
    c.nops = nops;
    if ((err = crdt_change_build_unsigned(&c, raw, rawlen)) != GS_OK)
      return err;
#ifndef _WIN32
    store *s = w->s;
    cipher_worker *wk = NULL;
    bool aside =
        *rawlen >= SIGN_ASIDE_MIN && s->sign_how != STORE__SIGN_INLINE;
    if (aside && s->sign_skip && s->sign_how != STORE__SIGN_WORKER &&
        s->sign_how != STORE__SIGN_WORKER_SIGNS) {
      s->sign_skip--; /* a back-off after a stall (sign_stall): here */
      aside = false;
    }
    if (aside && (wk = cipher_worker_get(s)) && wk->watch_ns) {
      err = write_aside(w, wk, &c, feed, raw, rawlen, after_pend);
      if (err) {
        free(*raw);
        *raw = NULL;
        return err;
      }
      *seq = c.seq; /* *raw NULL: the change pending (write_settle) */
      return GS_OK;
    }
#endif
    if (!after_pend)
      break;
    /* signed here: the change before kept first, then this one built
     * again with its prev */
    free(*raw);
    *raw = NULL;
    if ((err = write_settle(w)) != GS_OK)
      return err;
    after_pend = false;
  }
  crdt_change_sign_built_hash(w->sk, *raw, rawlen, c.digest, NULL);
  c.has_digest = true; /* for its hash, when applied */
  c.raw = *raw;
  c.raw_len = *rawlen;
  memcpy(c.sig, *raw + *rawlen - CRDT_SIG_LEN, CRDT_SIG_LEN);
  if ((err = apply_one(w->s, w->txn, &c, false, NULL, 0, &outcome)) !=
      GS_OK) {
    free(*raw);
    *raw = NULL;
    return err;
  }
  *seq = c.seq;
  return GS_OK;
}

gs_err store_write_change(store_write *w, const char *scope, size_t scope_len,
                          const crdt_op *ops, size_t nops, uint64_t phys_ms,
                          uint64_t *seq, crdt_hlc *hlc)
{
  uint8_t *raw = NULL;
  size_t rawlen = 0;
  uint64_t built_seq = 0;
  crdt_hlc h = w->hlc;
  gs_err err;

  if (!w->txn)
    return GS_EINVAL;
  /* the change before this one, if pending, is kept by write_once */
  if (!crdt_scope_valid(scope, scope_len))
    return GS_ESCOPE;
  if ((err = crdt_hlc_tick(&h, phys_ms, &h)) == GS_ECLOCK) {
    /* the stored clock was driven to the end of the stamp space (by an
     * earlier build, which applied any stamp): a local write must not
     * fail for it, so it restarts from the physical clock (its stamps then
     * order before the bad ones, which no longer arrive) */
    h = 0;
    err = crdt_hlc_tick(&h, phys_ms, &h);
  }
  if (err)
    return err;
  /* room for this change, and for the pending one before it, which
   * write_once may keep and list first */
  if ((err = done_room_for(w, 2)) != GS_OK)
    return err;
  for (int tries = 0; tries < RETRIES; tries++) {
    err = write_once(w, scope, scope_len, ops, nops, h, &raw, &rawlen,
                     &built_seq);
    if (err != MDB_MAP_FULL)
      break;
    if ((err = write_replay(w)) != GS_OK)
      break;
  }
  if (err)
    return err;
  if (raw) { /* else pending, kept and listed by write_settle */
    if ((err = write_keep(w, &raw, &rawlen)) != GS_OK) {
      free(raw);
      return err;
    }
    w->done[w->ndone] = raw;
    w->done_len[w->ndone++] = rawlen;
  }
  w->hlc = h;
  if (seq)
    *seq = built_seq;
  if (hlc)
    *hlc = h;
  return GS_OK;
}

gs_err store_write_commit(store_write *w)
{
  gs_err err = GS_EINVAL;
  if (!w->txn || (err = write_settle(w)) != GS_OK)
    goto done;
  for (int tries = 0; tries < RETRIES; tries++) {
    err = hlc_observe(w->s, w->txn, w->hlc);
    if (!err)
      err = write_meta_apply(w);
    if (!err) {
      err = lmdb_err(mdb_txn_commit(w->txn));
      w->txn = NULL; /* a commit frees the txn, failed or not */
    }
    if (err != MDB_MAP_FULL)
      break;
    if ((err = write_replay(w)) != GS_OK) /* grow, redo the session */
      break;
  }
done:
  store_write_abort(w);
  return err;
}

/* ---- reading ---- */

static gs_err cursor_open(store *s, int db, MDB_txn **txn, MDB_cursor **cur)
{
  gs_err err = txn_begin(s, MDB_RDONLY, txn);
  if (err)
    return err;
  int rc = mdb_cursor_open(*txn, s->dbi[db], cur);
  if (rc) {
    mdb_txn_abort(*txn);
    return lmdb_err(rc);
  }
  return GS_OK;
}

static void cursor_close(MDB_txn *txn, MDB_cursor *cur)
{
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
}

static bool has_prefix(const MDB_val *k, const void *p, size_t n)
{
  return k->mv_size >= n && memcmp(k->mv_data, p, n) == 0;
}

static gs_err emit_record(store *s, MDB_txn *txn, const MDB_val *k,
                          const MDB_val *v, store_record_cb cb, void *ctx,
                          int *stop)
{
  crdt_record *r;
  gs_err err = record_decode(s, txn, k, v, false, &r);
  if (err)
    return err == GS_ENOMEM ? err : GS_ECORRUPT;
  *stop = cb(ctx, r);
  crdt_record_free(r);
  return GS_OK;
}

gs_err store_get(store *s, const char *coll, size_t coll_len,
                 const uint8_t id[CRDT_ID_LEN], store_record_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  key_buf pre;
  gs_err err;
  size_t found = 0;
  int stop = 0;

  if (!crdt_name_valid(coll, coll_len))
    return GS_ENAME;
  record_key(&pre, coll, coll_len, id, "", 0);
  if ((err = cursor_open(s, DB_RECORDS, &txn, &cur)) != GS_OK)
    return err;
  MDB_val k = {pre.n, pre.b}, v;
  int rc = sv_cursor_in(s, cur, &k, &v, MDB_SET_RANGE, pre.b, pre.n);
  while (rc == 0 && has_prefix(&k, pre.b, pre.n) && !stop) {
    found++;
    if ((err = emit_record(s, txn, &k, &v, cb, ctx, &stop)) != GS_OK)
      break;
    rc = sv_cursor_in(s, cur, &k, &v, MDB_NEXT, pre.b, pre.n);
  }
  if (!err && rc && rc != MDB_NOTFOUND)
    err = lmdb_err(rc);
  cursor_close(txn, cur);
  if (!err && !found)
    err = GS_ENOTFOUND;
  return err;
}

/* Scope of a byscope key, and whether it is under prefix. */
static bool byscope_under(const MDB_val *k, const char *prefix, size_t pn)
{
  const char *p = k->mv_data;
  const char *nul = memchr(p, 0, k->mv_size);
  if (!nul)
    return false;
  return crdt_scope_under(p, (size_t)(nul - p), prefix, pn);
}

gs_err store_list(store *s, const char *coll, size_t coll_len,
                  const char *prefix, size_t prefix_len, store_record_cb cb,
                  void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  gs_err err;
  int stop = 0, rc;

  if (!prefix)
    prefix = "", prefix_len = 0;
  if (coll) {
    key_buf pre = {.n = 0};
    if (!crdt_name_valid(coll, coll_len))
      return GS_ENAME;
    key_add(&pre, coll, coll_len);
    key_add(&pre, "", 1);
    if ((err = cursor_open(s, DB_RECORDS, &txn, &cur)) != GS_OK)
      return err;
    MDB_val k = {pre.n, pre.b}, v;
    /* raw: a record is opened only when it is under the scope prefix */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && has_prefix(&k, pre.b, pre.n) && !stop) {
      size_t off = pre.n + CRDT_ID_LEN;
      if (k.mv_size >= off &&
          crdt_scope_under((const char *)k.mv_data + off, k.mv_size - off,
                           prefix, prefix_len)) {
        if ((rc = open_value(s, DB_RECORDS, &k, &v)) != 0)
          break;
        if ((err = emit_record(s, txn, &k, &v, cb, ctx, &stop)) != GS_OK)
          goto out;
      }
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
  } else {
    if ((err = cursor_open(s, DB_BYSCOPE, &txn, &cur)) != GS_OK)
      return err;
    MDB_val k = {prefix_len, (void *)prefix}, v;
    rc = prefix_len ? sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE)
                    : sv_cursor_get(s, cur, &k, &v, MDB_FIRST);
    while (rc == 0 && has_prefix(&k, prefix, prefix_len) && !stop) {
      if (byscope_under(&k, prefix, prefix_len)) {
        /* scope 0 coll 0 id  ->  coll 0 id scope */
        const char *p = k.mv_data;
        size_t sn = (size_t)((const char *)memchr(p, 0, k.mv_size) - p);
        size_t cn = k.mv_size - sn - 2 - CRDT_ID_LEN;
        key_buf rk;
        MDB_val rkv, rv;
        record_key(&rk, p + sn + 1, cn, (const uint8_t *)p + sn + 2 + cn, p,
                   sn);
        rkv.mv_size = rk.n;
        rkv.mv_data = rk.b;
        if ((rc = sv_get(s, txn, s->dbi[DB_RECORDS], &rkv, &rv)) != 0) {
          err = rc == MDB_NOTFOUND ? GS_ECORRUPT : lmdb_err(rc);
          goto out;
        }
        if ((err = emit_record(s, txn, &rkv, &rv, cb, ctx, &stop)) != GS_OK)
          goto out;
      }
      rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT);
    }
  }
  err = (rc && rc != MDB_NOTFOUND) ? lmdb_err(rc) : GS_OK;
out:
  cursor_close(txn, cur);
  return err;
}

/* One change of a record's history (store_history): its hlc, its feed
 * (the local number, or HIST_UNNUMBERED for a key of format 1 or 2, which
 * spells the feed: upgrade or read-only open under way) and seq; and the
 * change itself, decoded by the first pass and kept for the second while
 * the kept ones' bytes stay under HIST_KEEP (else NULL: read again). */
typedef struct hist_entry {
  uint64_t hlc, no, seq;
  uint8_t feed[CRDT_FEED_LEN];
  crdt_change *c;
} hist_entry;
#define HIST_UNNUMBERED ((uint64_t)1 << 32)
#define HIST_KEEP ((size_t)1 << 20)

/* By hlc, feed number (a spelt feed after every number, by its bytes),
 * seq: formats 3 and 4 kept the first three by key, formats 1 and 2 the
 * hlc, the feed's bytes, the seq. */
static int hist_entry_cmp(const void *a, const void *b)
{
  const hist_entry *x = a, *y = b;
  if (x->hlc != y->hlc)
    return x->hlc < y->hlc ? -1 : 1;
  if (x->no != y->no)
    return x->no < y->no ? -1 : 1;
  int c = memcmp(x->feed, y->feed, CRDT_FEED_LEN);
  if (c)
    return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Change seq of feed, decoded (*out: the caller frees it). */
static gs_err change_load(store *s, MDB_txn *txn,
                          const uint8_t feed[CRDT_FEED_LEN], uint64_t seq,
                          crdt_change **out)
{
  uint8_t ckb[CRDT_FEED_LEN + 8];
  const uint8_t *raw;
  size_t rn;
  memcpy(ckb, feed, CRDT_FEED_LEN);
  be64_put(ckb + CRDT_FEED_LEN, seq);
  MDB_val ck = {sizeof ckb, ckb}, cv;
  int rc = sv_get(s, txn, s->dbi[DB_CHANGES], &ck, &cv);
  if (rc)
    return rc == MDB_NOTFOUND ? GS_ECORRUPT : lmdb_err(rc);
  gs_err err = change_unpack(s, &cv, &raw, &rn);
  if (!err && (err = crdt_change_decode(raw, rn, out)) == GS_OK &&
      (*out)->seq != seq) {
    crdt_change_free(*out);
    err = GS_ECORRUPT;
  }
  return err == GS_ENOMEM || !err ? err : GS_ECORRUPT;
}

/* Format 5's hist keys hold no hlc: the record's entries are read first
 * (each change decoded for its hlc; 48 bytes an entry, the changes kept
 * up to HIST_KEEP bytes), sorted, then called back. */
gs_err store_history(store *s, const char *coll, size_t coll_len,
                     const uint8_t id[CRDT_ID_LEN], store_change_cb cb,
                     void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  key_buf pre;
  gs_err err = GS_OK;
  hist_entry *e = NULL;
  size_t ne = 0, cap = 0, kept = 0;
  uint32_t last_no = 0; /* the feed of the entry before, by number */
  uint8_t last_feed[CRDT_FEED_LEN] = {0};

  if (!crdt_name_valid(coll, coll_len))
    return GS_ENAME;
  record_key(&pre, coll, coll_len, id, "", 0);
  if ((err = cursor_open(s, DB_HIST, &txn, &cur)) != GS_OK)
    return err;
  MDB_val k = {pre.n, pre.b}, v;
  int rc = sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE);
  for (; rc == 0 && has_prefix(&k, pre.b, pre.n);
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    hist_tail t;
    if ((err = hist_key_parse(&k, &t)) != GS_OK)
      break;
    if (crdt_grow((void **)&e, &cap, ne + 1, sizeof *e)) {
      err = GS_ENOMEM;
      break;
    }
    hist_entry *h = &e[ne];
    h->seq = t.seq;
    h->c = NULL;
    if (t.form == HIST_FORM_SPELT) {
      h->no = HIST_UNNUMBERED;
      memcpy(h->feed, t.feed, CRDT_FEED_LEN);
    } else {
      h->no = t.no;
      if (t.no != last_no) {
        uint8_t nb[4];
        be32_put(nb, t.no);
        if ((err = feed_of_number(s, txn, nb, last_feed)) != GS_OK)
          break;
        last_no = t.no;
      }
      memcpy(h->feed, last_feed, CRDT_FEED_LEN);
    }
    crdt_change *c;
    if ((err = change_load(s, txn, h->feed, h->seq, &c)) != GS_OK)
      break;
    h->hlc = c->hlc;
    ne++;
    if (kept + c->raw_len <= HIST_KEEP) {
      kept += c->raw_len;
      h->c = c;
    } else {
      crdt_change_free(c);
    }
  }
  if (!err && rc && rc != MDB_NOTFOUND)
    err = lmdb_err(rc);
  if (!err && !ne)
    err = GS_ENOTFOUND;
  if (!err)
    qsort(e, ne, sizeof *e, hist_entry_cmp);
  for (size_t i = 0; !err && i < ne; i++) {
    crdt_change *c = e[i].c;
    e[i].c = NULL;
    if (!c && (err = change_load(s, txn, e[i].feed, e[i].seq, &c)) != GS_OK)
      break;
    int stop = cb(ctx, c);
    crdt_change_free(c);
    if (stop)
      break;
  }
  for (size_t i = 0; i < ne; i++)
    crdt_change_free(e[i].c);
  free(e);
  cursor_close(txn, cur);
  return err;
}

gs_err store_feeds(store *s, store_feed_cb cb, void *ctx)
{
  return store_feeds_after(s, NULL, cb, ctx);
}

gs_err store_feeds_after(store *s, const uint8_t *after, store_feed_cb cb,
                         void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  gs_err err = cursor_open(s, DB_VV, &txn, &cur);
  if (err)
    return err;
  MDB_val k = {CRDT_FEED_LEN, (void *)after}, v;
  int stop = 0, rc;
  if (!after) {
    rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST);
  } else {
    rc = sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == CRDT_FEED_LEN &&
        memcmp(k.mv_data, after, CRDT_FEED_LEN) == 0)
      rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT);
  }
  while (rc == 0 && !stop) {
    store_feed f;
    if (k.mv_size != CRDT_FEED_LEN ||
        (err = vv_decode(&v, k.mv_data, &f)) != GS_OK) {
      err = GS_ECORRUPT;
      break;
    }
    stop = cb(ctx, &f);
    rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT);
  }
  if (!err && rc && rc != MDB_NOTFOUND)
    err = lmdb_err(rc);
  cursor_close(txn, cur);
  return err;
}

gs_err store_feed_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                      store_feed *out)
{
  MDB_txn *txn;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  MDB_val k = {CRDT_FEED_LEN, (void *)feed}, v;
  int rc = sv_get(s, txn, s->dbi[DB_VV], &k, &v);
  if (rc == 0)
    err = vv_decode(&v, feed, out);
  else
    err = rc == MDB_NOTFOUND ? GS_ENOTFOUND : lmdb_err(rc);
  mdb_txn_abort(txn);
  return err;
}

/* A kept change's size without unpacking it (store_feed_read_kept). */
static gs_err change_kept_size(const MDB_val *v, size_t *raw_len)
{
  const uint8_t *b = v->mv_data;
  if (v->mv_size < 4 || memcmp(b, zstd_magic, 4) != 0) {
    *raw_len = v->mv_size;
    return GS_OK;
  }
  unsigned long long want = ZSTD_getFrameContentSize(b, v->mv_size);
  if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
      want == 0 || want > CRDT_CHANGE_MAX ||
      ZSTD_findFrameCompressedSize(b, v->mv_size) != v->mv_size)
    return GS_ECORRUPT;
  *raw_len = (size_t)want;
  return GS_OK;
}

/* store_feed_read, and store_feed_read_kept when kcb is set. */
static gs_err feed_read(store *s, const uint8_t feed[CRDT_FEED_LEN],
                        uint64_t from, uint64_t to, store_raw_cb cb,
                        store_kept_cb kcb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  uint8_t ck[CRDT_FEED_LEN + 8];
  gs_err err = cursor_open(s, DB_CHANGES, &txn, &cur);
  if (err)
    return err;
  feed_seq_key(ck, feed, from);
  MDB_val k = {sizeof ck, ck}, v;
  /* raw: a change is opened only once it is known to be in the range */
  int stop = 0, rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  uint64_t expect = from ? from : 1; /* seqs count from 1 */
  while (rc == 0 && !stop && has_prefix(&k, feed, CRDT_FEED_LEN)) {
    uint64_t seq = be64_get((uint8_t *)k.mv_data + CRDT_FEED_LEN);
    if (seq > to)
      break;
    if (seq != expect) {
      err = GS_ECORRUPT; /* a feed never has gaps */
      break;
    }
    expect++;
    const uint8_t *raw;
    size_t rn;
    if ((rc = open_value(s, DB_CHANGES, &k, &v)) != 0)
      break;
    if (kcb) {
      if ((err = change_kept_size(&v, &rn)) != GS_OK)
        break;
      stop = kcb(ctx, seq, v.mv_data, v.mv_size, rn);
    } else {
      if ((err = change_unpack(s, &v, &raw, &rn)) != GS_OK)
        break;
      stop = cb(ctx, seq, raw, rn);
    }
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  if (!err && rc && rc != MDB_NOTFOUND)
    err = lmdb_err(rc);
  cursor_close(txn, cur);
  return err;
}

gs_err store_feed_read(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t from, uint64_t to, store_raw_cb cb, void *ctx)
{
  return feed_read(s, feed, from, to, cb, NULL, ctx);
}

gs_err store_feed_read_kept(store *s, const uint8_t feed[CRDT_FEED_LEN],
                            uint64_t from, uint64_t to, store_kept_cb cb,
                            void *ctx)
{
  return feed_read(s, feed, from, to, NULL, cb, ctx);
}

gs_err store_forks_list(store *s, store_fork_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  gs_err err = cursor_open(s, DB_FORKS, &txn, &cur);
  if (err)
    return err;
  int rc;
  for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
       rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != CRDT_FEED_LEN + 8)
      continue;
    if (cb(ctx, k.mv_data, be64_get((const uint8_t *)k.mv_data + CRDT_FEED_LEN),
           v.mv_data, v.mv_size))
      break;
  }
  cursor_close(txn, cur);
  return rc == 0 || rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

gs_err store_fork_read(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t seq, store_raw_cb cb, void *ctx)
{
  MDB_txn *txn;
  uint8_t ck[CRDT_FEED_LEN + 8];
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  feed_seq_key(ck, feed, seq);
  MDB_val k = {sizeof ck, ck}, v;
  int rc = sv_get(s, txn, s->dbi[DB_FORKS], &k, &v);
  if (rc == 0)
    cb(ctx, seq, v.mv_data, v.mv_size);
  mdb_txn_abort(txn);
  return rc == MDB_NOTFOUND ? GS_ENOTFOUND : lmdb_err(rc);
}

/* One record in the digest: its key and its version-3 encoding (format
 * 4's rebuilt; one still in an older version, while an upgrade is under
 * way, decoded and re-encoded), each after its length. */
static gs_err digest_record(store *s, MDB_txn *txn, crdt_hasher *h,
                            const MDB_val *k, const MDB_val *v)
{
  uint8_t len[8], *enc = NULL;
  MDB_val u = *v;
  gs_err uerr = origins_unpack(s, txn, &u);
  if (uerr)
    return uerr == GS_ENOMEM ? uerr : GS_ECORRUPT;
  size_t n = u.mv_size;
  const void *p = u.mv_data;
  if (crdt_record_version(u.mv_data, u.mv_size) != 3) {
    crdt_record *r;
    gs_err err = record_decode(s, txn, k, v, false, &r);
    if (err)
      return err;
    err = crdt_record_encode(r, &enc, &n);
    crdt_record_free(r);
    if (err)
      return err;
    p = enc;
  }
  be64_put(len, k->mv_size);
  crdt_hasher_update(h, len, 8);
  crdt_hasher_update(h, k->mv_data, k->mv_size);
  be64_put(len, n);
  crdt_hasher_update(h, len, 8);
  crdt_hasher_update(h, p, n);
  free(enc);
  return GS_OK;
}

gs_err store_digest(store *s, const char *prefix, size_t prefix_len,
                    uint8_t out[CRDT_HASH_LEN], size_t *nrecords)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  crdt_hasher h;
  size_t count = 0;
  gs_err err;

  if (!prefix)
    prefix = "", prefix_len = 0;
  if ((err = cursor_open(s, DB_BYSCOPE, &txn, &cur)) != GS_OK)
    return err;
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, "gridsync-digest-v3", 18);
  MDB_val k = {prefix_len, (void *)prefix}, v;
  int rc = prefix_len ? sv_cursor_get(s, cur, &k, &v, MDB_SET_RANGE)
                      : sv_cursor_get(s, cur, &k, &v, MDB_FIRST);
  while (rc == 0 && has_prefix(&k, prefix, prefix_len)) {
    if (byscope_under(&k, prefix, prefix_len)) {
      const char *p = k.mv_data;
      size_t sn = (size_t)((const char *)memchr(p, 0, k.mv_size) - p);
      size_t cn = k.mv_size - sn - 2 - CRDT_ID_LEN;
      key_buf rk;
      record_key(&rk, p + sn + 1, cn, (const uint8_t *)p + sn + 2 + cn, p, sn);
      MDB_val rkv = {rk.n, rk.b}, rv;
      if ((rc = sv_get(s, txn, s->dbi[DB_RECORDS], &rkv, &rv)) != 0) {
        err = rc == MDB_NOTFOUND ? GS_ECORRUPT : lmdb_err(rc);
        goto out;
      }
      if ((err = digest_record(s, txn, &h, &rkv, &rv)) != GS_OK)
        goto out;
      count++;
    }
    rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT);
  }
  err = (rc && rc != MDB_NOTFOUND) ? lmdb_err(rc) : GS_OK;
  crdt_hasher_final(&h, out);
  if (nrecords)
    *nrecords = count;
out:
  cursor_close(txn, cur);
  return err;
}

gs_err store_stats_get(store *s, store_stats *out)
{
  MDB_txn *txn;
  MDB_stat st;
  MDB_envinfo info;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  memset(out, 0, sizeof *out);
  if (err)
    return err;
  int rc = mdb_stat(txn, s->dbi[DB_RECORDS], &st);
  out->records = st.ms_entries;
  rc = rc ? rc : mdb_stat(txn, s->dbi[DB_VV], &st);
  out->feeds = st.ms_entries;
  rc = rc ? rc : mdb_stat(txn, s->dbi[DB_CHANGES], &st);
  out->changes = st.ms_entries;
  rc = rc ? rc : mdb_stat(txn, s->dbi[DB_FORKS], &st);
  out->forks = st.ms_entries;
  if (!rc && !s->absent[DB_HELD] &&
      (rc = mdb_stat(txn, s->dbi[DB_HELD], &st)) == 0)
    out->held = st.ms_entries;
  if (!rc && !s->absent[DB_QUAR] &&
      (rc = mdb_stat(txn, s->dbi[DB_QUAR], &st)) == 0)
    out->quarantined = st.ms_entries;
  rc = rc ? rc : mdb_env_info(s->env, &info);
  rc = rc ? rc : mdb_env_stat(s->env, &st);
  if (!rc) {
    out->map_size = info.me_mapsize;
    out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
  }
  mdb_txn_abort(txn);
  return lmdb_err(rc);
}

gs_err store_heard_raise(store *s, const uint8_t (*feeds)[CRDT_FEED_LEN],
                         const uint64_t *seqs, size_t n)
{
  for (int attempt = 0; attempt < RETRIES; attempt++) {
    MDB_txn *txn;
    gs_err err = txn_begin(s, 0, &txn);
    if (err)
      return err;
    MDB_stat hs;
    int rc = mdb_stat(txn, s->dbi[DB_HEARD], &hs);
    size_t room = rc == 0 && hs.ms_entries < STORE_HEARD_MAX
                      ? STORE_HEARD_MAX - hs.ms_entries
                      : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
      MDB_val k = {CRDT_FEED_LEN, (void *)feeds[i]}, v;
      if (seqs[i] > STORE_SEQ_MAX)
        continue; /* not an honest figure (see STORE_SEQ_MAX) */
      /* a peer's word about feeds never seen here is kept only while
       * there is room: it must not grow the store without bound */
      rc = sv_get(s, txn, s->dbi[DB_VV], &k, &v);
      if (rc && rc != MDB_NOTFOUND)
        break;
      bool held = rc == 0;
      rc = sv_get(s, txn, s->dbi[DB_HEARD], &k, &v);
      if (rc == 0 && v.mv_size == 8 && be64_get(v.mv_data) >= seqs[i])
        continue;
      if (rc && rc != MDB_NOTFOUND)
        break;
      if (rc == MDB_NOTFOUND && !held) {
        if (room == 0) {
          rc = 0;
          continue;
        }
        room--;
      }
      uint8_t b[8];
      be64_put(b, seqs[i]);
      v.mv_data = b;
      v.mv_size = 8;
      rc = sv_put(s, txn, s->dbi[DB_HEARD], &k, &v, 0);
    }
    if (rc == 0) {
      if ((rc = mdb_txn_commit(txn)) == 0 || rc != MDB_MAP_FULL)
        return lmdb_err(rc);
    } else {
      mdb_txn_abort(txn);
    }
    if (rc != MDB_MAP_FULL)
      return lmdb_err(rc);
    if ((err = grow_map(s)) != GS_OK)
      return err;
  }
  return MDB_MAP_FULL;
}

gs_err store_heard_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t *seq)
{
  MDB_txn *txn;
  MDB_val k = {CRDT_FEED_LEN, (void *)feed}, v;
  *seq = 0;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  int rc = sv_get(s, txn, s->dbi[DB_HEARD], &k, &v);
  if (rc == 0 && v.mv_size == 8) {
    uint64_t h = be64_get(v.mv_data);
    *seq = h > STORE_SEQ_MAX ? STORE_SEQ_MAX : h;
  }
  mdb_txn_abort(txn);
  return rc == MDB_NOTFOUND ? GS_OK : lmdb_err(rc);
}

gs_err store_behind(store *s, store_behind_cb cb, void *ctx)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  int rc = mdb_cursor_open(txn, s->dbi[DB_HEARD], &cur);
  if (rc == 0) {
    for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0;
         rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != CRDT_FEED_LEN || v.mv_size != 8)
        continue;
      uint64_t heard = be64_get(v.mv_data), held = 0;
      if (heard > STORE_SEQ_MAX)
        heard = STORE_SEQ_MAX; /* an older build kept any figure */
      MDB_val hv;
      int r2 = sv_get(s, txn, s->dbi[DB_VV], &k, &hv);
      if (r2 == 0 && hv.mv_size >= 8)
        held = be64_get(hv.mv_data);
      if (held >= heard)
        continue;
      if (cb(ctx, k.mv_data, held, heard))
        break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
      rc = 0;
  }
  mdb_txn_abort(txn);
  return lmdb_err(rc);
}

/* ---- a consistent copy for backups and compaction (issue 21) ---- */

gs_err store_copy_fd(store *s, int fd, bool compact)
{
  /* one read transaction: the copy is the state of one moment, whatever
   * other processes write meanwhile */
#ifdef _WIN32 /* LMDB writes to a HANDLE there */
  intptr_t h = _get_osfhandle(fd);
  if (h == -1)
    return GS_EINVAL;
  return lmdb_err(
      mdb_env_copyfd2(s->env, (mdb_filehandle_t)h, compact ? MDB_CP_COMPACT : 0));
#else
  return lmdb_err(mdb_env_copyfd2(s->env, fd, compact ? MDB_CP_COMPACT : 0));
#endif
}

/* ---- every entry read back (store.h) ---- */

static gs_err check_entry(store *s, MDB_txn *txn, int db, const MDB_val *k,
                          const MDB_val *v)
{
  gs_err err = GS_OK;
  if (db == DB_RECORDS) {
    crdt_record *r;
    if ((err = record_decode(s, txn, k, v, false, &r)) == GS_OK)
      crdt_record_free(r);
  } else if (db == DB_CHANGES) {
    const uint8_t *p;
    size_t n;
    crdt_change *c;
    if ((err = change_unpack(s, v, &p, &n)) == GS_OK &&
        (err = crdt_change_decode(p, n, &c)) == GS_OK)
      crdt_change_free(c);
  } else if (db == DB_HIST) {
    hist_tail t;
    err = hist_key_parse(k, &t);
  }
  return err == GS_ENOMEM ? err : err ? GS_ECORRUPT : GS_OK;
}

gs_err store_check(store *s, uint64_t *entries)
{
  MDB_txn *txn;
  uint64_t n = 0;
  gs_err err = txn_begin(s, MDB_RDONLY, &txn);
  if (err)
    return err;
  for (int i = 0; i < DB_COUNT && !err; i++) {
    if (s->absent[i])
      continue;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[i], &cur);
    if (rc) {
      err = lmdb_err(rc);
      break;
    }
    MDB_val k, v;
    for (rc = sv_cursor_get(s, cur, &k, &v, MDB_FIRST); rc == 0 && !err;
         rc = sv_cursor_get(s, cur, &k, &v, MDB_NEXT)) {
      n++;
      err = check_entry(s, txn, i, &k, &v);
    }
    if (!err && rc != MDB_NOTFOUND)
      err = lmdb_err(rc);
    mdb_cursor_close(cur);
  }
  mdb_txn_abort(txn);
  if (entries)
    *entries = n;
  return err;
}
