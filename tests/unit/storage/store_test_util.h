/*
 * Helpers shared by the storage/ and node/ unit tests: temporary
 * directories, building signed changes of a feed, ops, and reading one
 * field of a stored record back.
 *
 * Everything is static inline so that each test file (all linked into the
 * one gridsync-unit binary) gets its own copy and unused helpers draw no
 * warning. Nothing here uses Criterion assertions: helpers return gs_err /
 * bool and the tests assert on them, so they are also safe to call in a
 * forked child process.
 */
#ifndef GS_TEST_STORE_UTIL_H
#define GS_TEST_STORE_UTIL_H

#include <ftw.h> /* nftw: _GNU_SOURCE is set project-wide */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "crdt/crdt.h"
#include "storage/store.h"

/* A fixed, plausible wall clock for tests: 2025-01-01T00:00:00Z. */
#define T_NOW_MS 1735689600000ULL

/* ---- temporary directories ---- */

/* mkdtemp a fresh directory; writes its path into buf (>= 64 bytes). */
static inline bool t_mkdtemp(char *buf, size_t cap)
{
  if (snprintf(buf, cap, "/tmp/gs-unit-XXXXXX") >= (int)cap)
    return false;
  return mkdtemp(buf) != NULL;
}

static inline int t_rm_one(const char *path, const struct stat *sb, int flag,
                           struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* rm -rf path (ignores a missing or empty path). */
static inline void t_rmtree(const char *path)
{
  if (path && *path)
    nftw(path, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* n deterministic bytes that do not compress (changes are kept
 * zstd-packed: a test that must fill the map cannot write letters). */
static inline void t_noise(void *buf, size_t n, uint64_t seed)
{
  uint8_t *b = buf;
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) {
      seed += 0x9e3779b97f4a7c15ULL; /* splitmix64 */
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      for (size_t j = 0; j < 8 && i + j < n; j++)
        b[i + j] = (uint8_t)(z >> (8 * j));
    }
  }
}

/* ---- ids and ops ---- */

/* A deterministic record id: tag in the first byte, n big-endian after. */
static inline void t_id(uint8_t id[CRDT_ID_LEN], uint8_t tag, uint64_t n)
{
  memset(id, 0, CRDT_ID_LEN);
  id[0] = tag;
  for (int i = 0; i < 8; i++)
    id[8 - i] = (uint8_t)(n >> (8 * i));
}

/* SET coll/id.field := string s (s borrowed; must outlive the op). */
static inline crdt_op t_set_str(const char *coll, const uint8_t id[CRDT_ID_LEN],
                                const char *field, const char *s, size_t n)
{
  crdt_op op;
  memset(&op, 0, sizeof op);
  op.kind = CRDT_OP_SET;
  op.coll = coll;
  op.coll_len = strlen(coll);
  memcpy(op.id, id, CRDT_ID_LEN);
  op.field = field;
  op.field_len = strlen(field);
  op.value.type = CRDT_STR;
  op.value.u.s.p = s;
  op.value.u.s.n = n;
  return op;
}

/* SET coll/id.field := integer v. */
static inline crdt_op t_set_int(const char *coll, const uint8_t id[CRDT_ID_LEN],
                                const char *field, int64_t v)
{
  crdt_op op;
  memset(&op, 0, sizeof op);
  op.kind = CRDT_OP_SET;
  op.coll = coll;
  op.coll_len = strlen(coll);
  memcpy(op.id, id, CRDT_ID_LEN);
  op.field = field;
  op.field_len = strlen(field);
  op.value.type = CRDT_INT;
  op.value.u.i = v;
  return op;
}

/* ADD string s to the set field coll/id.field. */
static inline crdt_op t_add_str(const char *coll, const uint8_t id[CRDT_ID_LEN],
                                const char *field, const char *s)
{
  crdt_op op = t_set_str(coll, id, field, s, strlen(s));
  op.kind = CRDT_OP_ADD;
  return op;
}

/* ---- feeds: building signed changes ---- */

/* One (origin, scope) feed as its writer sees it: the next change built
 * gets seq + 1 and prev = head. */
typedef struct t_feed {
  uint8_t pk[CRDT_KEY_LEN];
  uint8_t sk[CRDT_SK_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  uint64_t seq;
  uint8_t head[CRDT_HASH_LEN];
  crdt_hlc hlc;
  uint8_t feed[CRDT_FEED_LEN];
} t_feed;

/* A new feed of a fresh key pair in scope. */
static inline void t_feed_init(t_feed *f, const char *scope)
{
  memset(f, 0, sizeof *f);
  crdt_keypair(f->pk, f->sk);
  snprintf(f->scope, sizeof f->scope, "%s", scope);
  f->hlc = CRDT_HLC_MAKE(T_NOW_MS, 0);
  crdt_feed_id(f->pk, f->scope, strlen(f->scope), f->feed);
}

/* A second feed of the same origin in another scope. */
static inline void t_feed_same_origin(t_feed *f, const t_feed *of,
                                      const char *scope)
{
  memset(f, 0, sizeof *f);
  memcpy(f->pk, of->pk, CRDT_KEY_LEN);
  memcpy(f->sk, of->sk, CRDT_SK_LEN);
  snprintf(f->scope, sizeof f->scope, "%s", scope);
  f->hlc = CRDT_HLC_MAKE(T_NOW_MS, 0);
  crdt_feed_id(f->pk, f->scope, strlen(f->scope), f->feed);
}

/* Build (sign) a change of f with explicit seq, prev and hlc, without
 * advancing f. *out is malloc'd (caller frees). */
static inline gs_err t_build(const t_feed *f, uint64_t seq,
                             const uint8_t prev[CRDT_HASH_LEN], crdt_hlc hlc,
                             const crdt_op *ops, size_t nops, uint8_t **out,
                             size_t *n)
{
  crdt_change c;
  memset(&c, 0, sizeof c);
  memcpy(c.origin, f->pk, CRDT_KEY_LEN);
  c.scope = f->scope;
  c.scope_len = strlen(f->scope);
  c.seq = seq;
  if (prev)
    memcpy(c.prev, prev, CRDT_HASH_LEN);
  c.hlc = hlc;
  c.ops = ops;
  c.nops = nops;
  return crdt_change_build(&c, f->sk, out, n);
}

/* Hash of encoded change bytes (the next change's prev). */
static inline gs_err t_hash_raw(const uint8_t *raw, size_t n,
                                uint8_t out[CRDT_HASH_LEN])
{
  crdt_change *c;
  gs_err err = crdt_change_decode(raw, n, &c);
  if (err)
    return err;
  crdt_change_hash(c, out);
  crdt_change_free(c);
  return GS_OK;
}

/* Build the next change of f (seq + 1, prev = head, hlc ticked) and
 * advance f. *out is malloc'd (caller frees). */
static inline gs_err t_next(t_feed *f, const crdt_op *ops, size_t nops,
                            uint8_t **out, size_t *n)
{
  crdt_hlc h = f->hlc + 1;
  gs_err err = t_build(f, f->seq + 1, f->seq ? f->head : NULL, h, ops, nops,
                       out, n);
  if (err)
    return err;
  if ((err = t_hash_raw(*out, *n, f->head)) != GS_OK) {
    free(*out);
    *out = NULL;
    return err;
  }
  f->seq++;
  f->hlc = h;
  return GS_OK;
}

/* Apply a single change. */
static inline gs_err t_apply1(store *s, const uint8_t *raw, size_t n,
                              store_result *res)
{
  const uint8_t *const cs[1] = {raw};
  const size_t ls[1] = {n};
  return store_apply(s, cs, ls, 1, res, NULL);
}

/* ---- reading records back ---- */

/* What t_get found of one field of (coll, id). */
typedef struct t_field {
  size_t nscopes;   /* records of (coll, id): scopes holding it */
  bool present;     /* the field exists and is a register */
  bool deleted;     /* tombstone */
  crdt_type type;
  int64_t i;
  char str[CRDT_TEXT_MAX + 1];
  size_t str_len;
  char scope[CRDT_SCOPE_MAX + 1];
  crdt_stamp stamp;
  size_t nelems;    /* live elements when the field is a set */
  bool is_set;
  const char *field;
} t_field;

static inline int t_field_cb(void *ctx, const crdt_record *r)
{
  t_field *tf = ctx;
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  tf->nscopes++;
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  memcpy(tf->scope, scope, sn);
  tf->scope[sn] = '\0';
  tf->deleted = crdt_record_deleted(r);
  long i = crdt_record_find(r, tf->field, strlen(tf->field));
  if (i < 0)
    return 0;
  crdt_field_view v;
  if (crdt_record_field(r, (size_t)i, &v) != GS_OK)
    return 0;
  tf->stamp = v.stamp;
  tf->is_set = v.is_set;
  tf->nelems = v.nelems;
  if (v.is_set)
    return 0;
  tf->present = true;
  tf->type = v.value.type;
  if (v.value.type == CRDT_INT)
    tf->i = v.value.u.i;
  if (v.value.type == CRDT_STR || v.value.type == CRDT_BYTES) {
    size_t n = v.value.u.s.n < CRDT_TEXT_MAX ? v.value.u.s.n : CRDT_TEXT_MAX;
    memcpy(tf->str, v.value.u.s.p, n);
    tf->str[n] = '\0';
    tf->str_len = v.value.u.s.n;
  }
  return 0;
}

/* Read field of record (coll, id) through store_get. tf is heap-sized
 * (a string field may hold CRDT_TEXT_MAX bytes): pass a malloc'd or
 * static one. */
static inline gs_err t_get(store *s, const char *coll,
                           const uint8_t id[CRDT_ID_LEN], const char *field,
                           t_field *tf)
{
  memset(tf, 0, sizeof *tf);
  tf->field = field;
  return store_get(s, coll, strlen(coll), id, t_field_cb, tf);
}

/* Count store_history entries of (coll, id); seqs (optional, cap) gets
 * their seqs in order. */
typedef struct t_hist {
  size_t n;
  uint64_t seq[64];
  crdt_hlc hlc[64];
  uint8_t origin[64][CRDT_KEY_LEN];
} t_hist;

static inline int t_hist_cb(void *ctx, const crdt_change *c)
{
  t_hist *h = ctx;
  if (h->n < 64) {
    h->seq[h->n] = c->seq;
    h->hlc[h->n] = c->hlc;
    memcpy(h->origin[h->n], c->origin, CRDT_KEY_LEN);
  }
  h->n++;
  return 0;
}

static inline gs_err t_history(store *s, const char *coll,
                               const uint8_t id[CRDT_ID_LEN], t_hist *h)
{
  memset(h, 0, sizeof *h);
  return store_history(s, coll, strlen(coll), id, t_hist_cb, h);
}

static inline gs_err t_stats(store *s, store_stats *st)
{
  return store_stats_get(s, st);
}

/* May this process run on two CPUs or more (as the store asks, with
 * sched_getaffinity: a process pinned to one has a worker that does not
 * watch, and signs nothing aside)? */
static inline bool t_two_cpus(void)
{
#ifdef _WIN32
  return false; /* the store's Windows build: one thread */
#else
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return CPU_COUNT(&set) >= 2;
#endif
  return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
#endif
}

/* ---- the raw changes of a store's feeds ---- */

typedef struct t_raws {
  uint8_t **b;
  size_t *n, len, cap;
} t_raws;

static inline void t_raws_free(t_raws *r)
{
  for (size_t i = 0; i < r->len; i++)
    free(r->b[i]);
  free(r->b);
  free(r->n);
  memset(r, 0, sizeof *r);
}

static inline int t_raws_keep(void *ctx, uint64_t seq, const uint8_t *bytes,
                              size_t n)
{
  t_raws *r = ctx;
  (void)seq;
  if (r->len == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 256;
    uint8_t **b = realloc(r->b, cap * sizeof *b);
    if (!b)
      return 1;
    r->b = b;
    size_t *nn = realloc(r->n, cap * sizeof *nn);
    if (!nn)
      return 1;
    r->n = nn;
    r->cap = cap;
  }
  if (!(r->b[r->len] = malloc(n ? n : 1)))
    return 1;
  memcpy(r->b[r->len], bytes, n);
  r->n[r->len++] = n;
  return 0;
}

typedef struct t_raws_ctx {
  store *s;
  const uint8_t *feed; /* NULL: every feed */
  t_raws *out;
} t_raws_ctx;

static inline int t_raws_feed_cb(void *ctx, const store_feed *f)
{
  t_raws_ctx *c = ctx;
  if (c->feed && memcmp(c->feed, f->feed, CRDT_FEED_LEN) != 0)
    return 0;
  return store_feed_read(c->s, f->feed, 1, f->seq, t_raws_keep, c->out);
}

/* Append the changes of s's feed (every feed when feed is NULL), in
 * feed order, to out. */
static inline gs_err t_raws_read(store *s, const uint8_t *feed, t_raws *out)
{
  t_raws_ctx c = {s, feed, out};
  return store_feeds(s, t_raws_feed_cb, &c);
}

/* Residents shaped like a bulk load's (bench_store): eight fields each,
 * random-looking ids, the last one with a memo of pad digits (to move a
 * change's packed size a few bytes at a time). The ops point into r. */
#define T_RESIDENTS_MAX 128
typedef struct t_resident {
  uint8_t id[CRDT_ID_LEN];
  char name[32], phone[16], room[8], note[128];
} t_resident;
typedef struct t_residents {
  t_resident r[T_RESIDENTS_MAX];
  char memo[1024];
} t_residents;

/* nres residents' ops into ops (8 * nres + 1 of them); their count. */
static inline size_t t_resident_ops(t_residents *rs, size_t nres, size_t pad,
                                    crdt_op *ops)
{
  static const char *const surnames[] = {"王", "李", "张", "刘", "陈",
                                         "杨", "赵", "黄", "周", "吴"};
  static const char *const given[] = {"秀英", "桂兰", "建国", "淑珍",
                                      "玉梅", "志强", "凤英"};
  size_t k = 0;
  if (nres > T_RESIDENTS_MAX || pad >= sizeof rs->memo)
    return 0;
  for (size_t i = 0; i < nres; i++) {
    t_resident *r = &rs->r[i];
    uint8_t h[8];
    t_noise(r->id, sizeof r->id, 1000 + i);
    t_noise(h, sizeof h, 5000 + i);
    snprintf(r->name, sizeof r->name, "%s%s", surnames[i % 10],
             given[i % 7]);
    snprintf(r->phone, sizeof r->phone, "139%08u",
             (unsigned)((h[0] | h[1] << 8 | (unsigned)h[2] << 16) % 100000000));
    snprintf(r->room, sizeof r->room, "%zu", 101 + (h[3] * 7u + i) % 600);
    snprintf(r->note, sizeof r->note,
             "第%zu户，独居老人，每周三上门探访，联系人电话见上", 3 + i * 7);
    ops[k++] = t_set_str("resident", r->id, "name", r->name, strlen(r->name));
    ops[k++] = t_set_str("resident", r->id, "gender", i % 2 ? "男" : "女", 3);
    ops[k++] = t_set_int("resident", r->id, "birth_year",
                         1930 + (int64_t)(h[4] % 80));
    ops[k++] =
        t_set_str("resident", r->id, "phone", r->phone, strlen(r->phone));
    ops[k++] = t_set_int("resident", r->id, "building", 1 + h[5] % 19);
    ops[k++] = t_set_str("resident", r->id, "room", r->room, strlen(r->room));
    ops[k++] = t_set_str("resident", r->id, "note", r->note, strlen(r->note));
    ops[k++] = t_add_str("resident", r->id, "tags",
                         i % 3 ? "elderly" : "lives-alone");
  }
  t_noise(rs->memo, pad, 77);
  for (size_t i = 0; i < pad; i++)
    rs->memo[i] = (char)('0' + (uint8_t)rs->memo[i] % 10);
  if (pad)
    ops[k++] = t_set_str("resident", rs->r[nres - 1].id, "memo", rs->memo, pad);
  return k;
}

#endif
