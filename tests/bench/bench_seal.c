/*
 * The cost of sealing at rest (issue 19): the same work on an open store
 * and on a sealed one (store_open_ex with a data key), in the same run,
 * with the ratio sealed / open; the goal is at most 1.15 for bulk load,
 * cold sync, merge and durable put. Then the time of Argon2id at the
 * limits of a new passphrase (node/node.h).
 *
 *   bench_seal [N] [--runs R] [--json] [--only open|sealed]
 *       N residents (default 20000); R rounds (default 5), each an open
 *       then a sealed run; --json: one JSON object instead of the table;
 *       --only: the runs of one kind and no Argon2id (to profile them)
 *
 *   bulk load    N residents (name, phone, note) in one write session
 *   cold sync    every change of the bulk store applied to an empty store
 *                (store_apply: verify, append, merge, index)
 *   merge        every resident edited again by a second origin
 *   durable put  200 one-record changes, one fsync each
 *   full read    the state digest (every record opened)
 * Times are CPU seconds of the process (user + system: the work done,
 * not the waits of a machine shared with others), the best of R; durable
 * put is also shown in wall seconds (its fsyncs are waits). The spread
 * is the lowest and highest ratio of one round's sealed and open runs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crdt/crdt.h"
#include "node/node.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(gs_err err, const char *what)
{
  if (err) {
    fprintf(stderr, "bench_seal: %s: %s\n", what, gs_strerror(err));
    exit(1);
  }
}

static const char scope[] = "gongrencun/qinghejv/g07";
static const uint8_t dkey[CRDT_SEAL_KEY_LEN] = {7, 7, 7};

static store *open_s(const char *dir, bool sealed, unsigned flags)
{
  store *s;
  store_opts o = {.key = sealed ? dkey : NULL};
  check(store_open_ex(dir, flags | STORE_CREATE, &o, &s), "open");
  return s;
}

static void write_all(store *s, const uint8_t *sk, size_t n, int round,
                      bool durable_each)
{
  store_write *w = NULL;
  crdt_op ops[300];
  char text[100][3][80];
  size_t per = durable_each ? 1 : 100;
  for (size_t i = 0; i < n;) {
    if (!w)
      check(store_write_begin(s, sk, &w), "begin");
    size_t k = 0;
    for (size_t j = 0; j < per && i < n; i++, j++) {
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 7, i);
      snprintf(text[j][0], 80, "张秀英%zu", i + (size_t)round);
      snprintf(text[j][1], 80, "139%08zu", i * 7 + (size_t)round);
      snprintf(text[j][2], 80, "行动不便，需定期探访 %zu", i);
      ops[k++] = t_set_str("resident", id, "name", text[j][0],
                           strlen(text[j][0]));
      ops[k++] = t_set_str("resident", id, "phone", text[j][1],
                           strlen(text[j][1]));
      ops[k++] = t_set_str("resident", id, "note", text[j][2],
                           strlen(text[j][2]));
    }
    check(store_write_change(w, scope, sizeof scope - 1, ops, k,
                             T_NOW_MS + i + (uint64_t)round * 1000000, NULL,
                             NULL),
          "write");
    if (durable_each) {
      check(store_write_commit(w), "commit");
      w = NULL;
    }
  }
  if (w)
    check(store_write_commit(w), "commit");
}

typedef struct raws {
  uint8_t **b;
  size_t *n, len, cap;
} raws;

static int keep_raw(void *ctx, uint64_t seq, const uint8_t *bytes, size_t n)
{
  raws *r = ctx;
  (void)seq;
  if (r->len == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 256;
    r->b = realloc(r->b, r->cap * sizeof *r->b);
    r->n = realloc(r->n, r->cap * sizeof *r->n);
  }
  r->b[r->len] = malloc(n);
  memcpy(r->b[r->len], bytes, n);
  r->n[r->len++] = n;
  return 0;
}

static int feed_cb(void *ctx, const store_feed *f)
{
  void **a = ctx;
  return store_feed_read(a[0], f->feed, 1, f->seq, keep_raw, a[1]);
}

enum { F_BULK, F_SYNC, F_MERGE, F_DURABLE, F_READ, F_DURABLE_WALL, NF };
typedef struct figures {
  double v[NF];
} figures;

static void run(bool sealed, size_t n, figures *f)
{
  char d1[64], d2[64];
  uint8_t pk[CRDT_KEY_LEN], sk1[CRDT_SK_LEN], sk2[CRDT_SK_LEN];
  uint8_t seed1[32] = {1}, seed2[32] = {2}, dg[CRDT_HASH_LEN];
  crdt_keypair_seed(seed1, pk, sk1);
  crdt_keypair_seed(seed2, pk, sk2);
  if (!t_mkdtemp(d1, sizeof d1) || !t_mkdtemp(d2, sizeof d2))
    exit(1);
  store *a = open_s(d1, sealed, STORE_NOSYNC);
  double t = now_s();
  write_all(a, sk1, n, 0, false);
  f->v[F_BULK] = now_s() - t;

  raws r = {0};
  void *ctx[2] = {a, &r};
  check(store_feeds(a, feed_cb, ctx), "feeds");
  store *b = open_s(d2, sealed, STORE_NOSYNC);
  store_result res;
  t = now_s();
  for (size_t i = 0; i < r.len; i += 100) {
    size_t k = r.len - i < 100 ? r.len - i : 100;
    check(store_apply(b, (const uint8_t *const *)r.b + i, r.n + i, k, &res,
                      NULL),
          "apply");
  }
  f->v[F_SYNC] = now_s() - t;
  for (size_t i = 0; i < r.len; i++)
    free(r.b[i]);
  free(r.b);
  free(r.n);

  t = now_s();
  write_all(a, sk2, n, 1, false);
  f->v[F_MERGE] = now_s() - t;
  t = now_s();
  check(store_digest(a, "", 0, dg, NULL), "digest");
  f->v[F_READ] = now_s() - t;
  store_close(a);
  store_close(b);

  a = open_s(d1, sealed, 0);
  t = now_s();
  double tw = wall_s();
  write_all(a, sk1, 200, 2, true);
  f->v[F_DURABLE] = now_s() - t;
  f->v[F_DURABLE_WALL] = wall_s() - tw;
  store_close(a);
  t_rmtree(d1);
  t_rmtree(d2);
}

static const char *const names[NF] = {"bulk load",   "cold sync",
                                      "merge",       "durable put",
                                      "full read",   "durable (wall)"};
static const char *const keys[NF] = {"bulk", "sync", "merge",
                                     "durable", "read", "durable_wall"};
static const bool goal_row[NF] = {true, true, true, true, false, true};
#define GOAL 1.15

int main(int argc, char **argv)
{
  size_t n = 20000;
  int runs = 5;
  bool json = false;
  int only = 0; /* 1 open, 2 sealed */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = true;
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc &&
             (strcmp(argv[i + 1], "open") == 0 ||
              strcmp(argv[i + 1], "sealed") == 0))
      only = argv[++i][0] == 'o' ? 1 : 2;
    else if (argv[i][0] >= '1' && argv[i][0] <= '9')
      n = (size_t)strtoul(argv[i], NULL, 10);
    else {
      fprintf(stderr, "usage: bench_seal [N] [--runs R] [--json] "
                      "[--only open|sealed]\n");
      return 2;
    }
  }
  if (runs < 1 || runs > 100 || n > 10000000) {
    fprintf(stderr, "bench_seal: 1 <= R <= 100, N <= 10000000\n");
    return 2;
  }
  check(crdt_crypto_init(), "sodium");
  figures o, s;
  double lo[NF], hi[NF];
  for (int k = 0; k < NF; k++) {
    o.v[k] = s.v[k] = 1e9;
    lo[k] = 1e9;
    hi[k] = 0;
  }
  if (only) {
    for (int i = 0; i < runs; i++) {
      figures f;
      run(only == 2, n, &f);
      for (int k = 0; k < NF; k++)
        if (f.v[k] < o.v[k]) o.v[k] = f.v[k];
    }
    printf("%s store, %zu residents (best of %d; CPU seconds)\n",
           only == 2 ? "sealed" : "open", n, runs);
    for (int k = 0; k < NF; k++)
      printf("  %-15s %9.4f\n", names[k], o.v[k]);
    return 0;
  }
  for (int i = 0; i < runs; i++) {
    figures fo, fs;
    run(false, n, &fo);
    run(true, n, &fs);
    for (int k = 0; k < NF; k++) {
      double r = fs.v[k] / fo.v[k];
      if (fo.v[k] < o.v[k]) o.v[k] = fo.v[k];
      if (fs.v[k] < s.v[k]) s.v[k] = fs.v[k];
      if (r < lo[k]) lo[k] = r;
      if (r > hi[k]) hi[k] = r;
    }
  }
  uint8_t out[CRDT_SEAL_KEY_LEN], salt[CRDT_SALT_LEN] = {0};
  double t = wall_s();
  check(crdt_pwhash(out, "correct horse battery", 21, salt, NODE_PWHASH_OPS,
                    NODE_PWHASH_MEM),
        "pwhash");
  double argon = wall_s() - t;
  if (json) {
    printf("{\"residents\": %zu, \"runs\": %d, \"goal\": %.2f", n, runs,
           GOAL);
    for (int k = 0; k < NF; k++)
      printf(", \"%s\": {\"open\": %.6f, \"sealed\": %.6f, "
             "\"ratio\": %.4f, \"lo\": %.4f, \"hi\": %.4f}",
             keys[k], o.v[k], s.v[k], s.v[k] / o.v[k], lo[k], hi[k]);
    printf(", \"argon2id_s\": %.4f}\n", argon);
    return 0;
  }
  printf("sealing at rest, %zu residents (best of %d; CPU seconds, durable "
         "also wall)\n",
         n, runs);
  printf("  %-15s %9s %9s %7s  %-13s %s\n", "", "open", "sealed", "ratio",
         "spread", "goal");
  for (int k = 0; k < NF; k++) {
    double r = s.v[k] / o.v[k];
    printf("  %-15s %9.4f %9.4f %7.2f  %5.2f..%-5.2f  %s\n", names[k],
           o.v[k], s.v[k], r, lo[k], hi[k],
           !goal_row[k] ? "-" : r <= GOAL ? "<= 1.15 met" : "<= 1.15 NOT met");
  }
  printf("  Argon2id unlock (ops %d, %" PRIu64 " MiB): %.3f s\n",
         NODE_PWHASH_OPS, NODE_PWHASH_MEM >> 20, argon);
  return 0;
}
