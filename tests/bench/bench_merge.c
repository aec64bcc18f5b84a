/*
 * Merge benchmark: received field edits applied to materialised state.
 *
 *   bench_merge [--records N] [--edits N] [--per-change N] [--batch N]
 *               [--dir DIR] [--json]
 *
 * A store first holds N resident-like records (written locally, not
 * timed). Two other origins, A and B, then each author half of the edits
 * (SET of one field of one record) without seeing each other: their
 * changes carry concurrent clocks. A tenth of all edits are conflicts: an
 * edit of A and one of B to the same field of the same record with the
 * same clock, decided by origin. The changes of A and B, interleaved, are
 * applied as a receiving node applies them (store_apply: decode, hash
 * chain, one signature check per run, merge, indexes, version vector),
 * --batch changes per transaction (by default what a receiving node's
 * group commit puts in one transaction: the changes that fill
 * NET_SYNC_WINDOW messages or NET_SYNC_GROUP_BYTES, net/sync.h), without
 * fsync (a sync session's
 * durability is the commit at its end, timed separately below). Keys,
 * ids and edits are deterministic: the printed state digest is the same
 * on every run and every build, a check that a faster store still
 * merges to the same state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "crdt/crdt.h"
#include "net/msg.h"
#include "net/sync.h"
#include "storage/store.h"

/* Issue 20's goal for this figure: received edits merged per second. */
#define MERGE_GOAL 350000

/* CPU seconds of this process (user + system): on a shared machine a
 * steadier figure than the wall clock, which counts other programs' turns. */
static double cpu_s(void)
{
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void die(const char *what, gs_err err)
{
  fprintf(stderr, "bench_merge: %s: %s\n", what, gs_strerror(err));
  exit(1);
}

/* A small deterministic generator (xorshift64*), so runs repeat. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1du;
}

static const char *fields[] = {"name", "phone", "room", "note", "building"};
#define NFIELDS 5

/* One author: key pair, feed head and the changes built. */
typedef struct author {
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  uint64_t seq;
  uint8_t head[CRDT_HASH_LEN];
  uint8_t **raw;
  size_t *len, n;
} author;

static void author_add(author *a, const crdt_op *ops, size_t nops,
                       crdt_hlc hlc)
{
  crdt_change c = {.seq = a->seq + 1, .hlc = hlc, .ops = ops, .nops = nops};
  memcpy(c.origin, a->pk, CRDT_KEY_LEN);
  c.scope = "s/c/g01";
  c.scope_len = 7;
  if (a->seq)
    memcpy(c.prev, a->head, CRDT_HASH_LEN);
  uint8_t *raw;
  size_t n;
  gs_err err = crdt_change_build(&c, a->sk, &raw, &n);
  if (err)
    die("build", err);
  crdt_change_hash_raw(raw, n, a->head);
  a->seq++;
  a->raw[a->n] = raw;
  a->len[a->n++] = n;
}

/* How many of the first changes (lens, n of them) a receiver's group
 * commit takes in one transaction: the sender fills CHANGES messages as
 * net/sync.c's on_raw does, the group is flushed after a message that
 * reaches NET_SYNC_WINDOW messages or NET_SYNC_GROUP_BYTES. */
static size_t group_size(const size_t *lens, size_t n, size_t *msgs)
{
  size_t i = 0, nmsgs = 0, bytes = 0;
  while (i < n && nmsgs < NET_SYNC_WINDOW && bytes < NET_SYNC_GROUP_BYTES) {
    size_t enc = NET_CHANGES_OVERHEAD, parts = 0;
    while (i < n && parts < NET_CHANGES_MAX &&
           enc + NET_CHANGE_COST(lens[i]) <= NET_MSG_MAX) {
      enc += NET_CHANGE_COST(lens[i]);
      bytes += lens[i++];
      parts++;
    }
    if (!parts)
      break; /* a change too big for a message: not from this bench */
    nmsgs++;
  }
  *msgs = nmsgs;
  return i ? i : 1;
}

int main(int argc, char **argv)
{
  size_t nrec = 100000, nedits = 1000000, per = 100, batch = 0;
  int batch_given = 0;
  const char *base = "/tmp";
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
      nrec = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--edits") == 0 && i + 1 < argc)
      nedits = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--per-change") == 0 && i + 1 < argc)
      per = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
      batch = strtoull(argv[++i], NULL, 10), batch_given = 1;
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      base = argv[++i];
    else if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else {
      fprintf(stderr, "usage: bench_merge [--records N] [--edits N] "
                      "[--per-change N] [--batch N] [--dir DIR] [--json]\n");
      return 2;
    }
  }
  if (!nrec || nedits < 20 || !per || per > 1000 || (batch_given && !batch)) {
    fprintf(stderr, "bench_merge: bad counts\n");
    return 2;
  }
  if (crdt_crypto_init() != GS_OK)
    die("crypto", GS_ECRYPTO);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/gs-merge-XXXXXX", base);
  if (!mkdtemp(dir)) {
    fprintf(stderr, "bench_merge: mkdtemp: %s\n", strerror(errno));
    return 1;
  }

  store *s;
  gs_err err;
  if ((err = store_open(dir, STORE_CREATE | STORE_NOSYNC, &s)))
    die("open", err);

  /* 1. the records, written by a third origin (not timed) */
  uint8_t (*ids)[CRDT_ID_LEN] = malloc(nrec * sizeof *ids);
  uint8_t opk[CRDT_KEY_LEN], osk[CRDT_SK_LEN], seed[32] = {1};
  crdt_keypair_seed(seed, opk, osk);
  uint64_t ms = 1700000000000u;
  store_write *w;
  crdt_op *ops = calloc(1000, sizeof *ops);
  char (*text)[64] = malloc(1000 * sizeof *text);
  if ((err = store_write_begin(s, osk, &w)))
    die("write begin", err);
  for (size_t i = 0; i < nrec;) {
    size_t k = 0;
    for (; k + NFIELDS <= 500 && i < nrec; i++) {
      /* deterministic ids (time-prefixed like crdt_id_new's) */
      memset(ids[i], 0, CRDT_ID_LEN);
      for (int b = 0; b < 6; b++)
        ids[i][b] = (uint8_t)(ms >> (40 - 8 * b));
      for (int b = 0; b < 8; b++)
        ids[i][8 + b] = (uint8_t)((uint64_t)i >> (56 - 8 * b));
      for (int f = 0; f < NFIELDS; f++, k++) {
        crdt_op *op = &ops[k];
        snprintf(text[k], sizeof text[k], "初始值%s%zu", fields[f], i);
        *op = (crdt_op){.kind = CRDT_OP_SET, .coll = "resident",
                        .coll_len = 8, .field = fields[f],
                        .field_len = strlen(fields[f])};
        memcpy(op->id, ids[i], CRDT_ID_LEN);
        op->value.type = CRDT_STR;
        op->value.u.s.p = text[k];
        op->value.u.s.n = strlen(text[k]);
      }
    }
    if ((err = store_write_change(w, "s/c/g01", 7, ops, k, ms, NULL, NULL)))
      die("write", err);
  }
  if ((err = store_write_commit(w)))
    die("commit", err);

  /* 2. the edits of A and B (built, not timed) */
  author ab[2];
  size_t maxch = nedits / 2 / per + 2;
  for (int a = 0; a < 2; a++) {
    memset(&ab[a], 0, sizeof ab[a]);
    seed[0] = (uint8_t)(2 + a);
    crdt_keypair_seed(seed, ab[a].pk, ab[a].sk);
    ab[a].raw = malloc(maxch * sizeof *ab[a].raw);
    ab[a].len = malloc(maxch * sizeof *ab[a].len);
  }
  crdt_op *aops[2] = {calloc(per, sizeof(crdt_op)),
                      calloc(per, sizeof(crdt_op))};
  char (*atext[2])[64] = {malloc(per * 64), malloc(per * 64)};
  size_t conflicts = 0, pairs = nedits / 2;
  crdt_hlc hlc = CRDT_HLC_MAKE(ms + 1000, 0);
  for (size_t p = 0, k = 0; p < pairs; p++) {
    /* one pair in ten is a conflict: 10% of the edits */
    int conflict = p % 10 == 0;
    size_t rec = (size_t)(rnd() % nrec);
    int f = (int)(rnd() % NFIELDS);
    for (int a = 0; a < 2; a++) {
      if (a == 1 && !conflict) {
        rec = (size_t)(rnd() % nrec);
        f = (int)(rnd() % NFIELDS);
      }
      crdt_op *op = &aops[a][k];
      snprintf(atext[a][k], 64, "%s改为%zu号%c", fields[f], p, 'A' + a);
      *op = (crdt_op){.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                      .field = fields[f], .field_len = strlen(fields[f])};
      memcpy(op->id, ids[rec], CRDT_ID_LEN);
      op->value.type = CRDT_STR;
      op->value.u.s.p = atext[a][k];
      op->value.u.s.n = strlen(atext[a][k]);
    }
    conflicts += conflict ? 2 : 0;
    if (++k == per || p + 1 == pairs) {
      /* the same clock on both sides: neither saw the other */
      hlc++;
      author_add(&ab[0], aops[0], k, hlc);
      author_add(&ab[1], aops[1], k, hlc);
      k = 0;
    }
  }

  /* 3. apply, interleaved A, B, A, B... in batches (timed) */
  size_t nch = ab[0].n + ab[1].n;
  const uint8_t **all = malloc(nch * sizeof *all);
  size_t *lens = malloc(nch * sizeof *lens);
  for (size_t i = 0; i < nch; i++) {
    author *a = &ab[i % 2];
    all[i] = a->raw[i / 2];
    lens[i] = a->len[i / 2];
  }
  size_t group_msgs = 0, change_bytes = 0;
  for (size_t i = 0; i < nch; i++)
    change_bytes += lens[i];
  if (!batch_given)
    batch = group_size(lens, nch, &group_msgs);
  double t0 = now_s(), c0 = cpu_s();
  size_t applied_ops = 0;
  for (size_t i = 0; i < nch; i += batch) {
    size_t n = nch - i < batch ? nch - i : batch;
    store_result res;
    size_t bad;
    if ((err = store_apply(s, all + i, lens + i, n, &res, &bad)))
      die("apply", err);
    applied_ops += res.ops;
  }
  double secs = now_s() - t0, cpu = cpu_s() - c0;
  /* the durable commit a sync session ends with */
  store_close(s);
  double total = now_s() - t0;

  if ((err = store_open(dir, 0, &s)))
    die("reopen", err);
  uint8_t digest[CRDT_HASH_LEN];
  size_t nrecords;
  if ((err = store_digest(s, NULL, 0, digest, &nrecords)))
    die("digest", err);
  store_close(s);
  char hex[2 * CRDT_HASH_LEN + 1];
  for (int i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02x", digest[i]);

  if (json) {
    printf("{\"records\": %zu, \"edits\": %zu, \"conflicting_edits\": %zu, "
           "\"changes\": %zu, \"seconds\": %.3f, \"seconds_with_sync\": %.3f, "
           "\"edits_per_s\": %.0f, \"cpu_seconds\": %.3f, \"batch\": %zu, "
           "\"goal_edits_per_s\": %d}\n",
           nrec, applied_ops, conflicts, nch, secs, total,
           (double)applied_ops / total, cpu, batch, MERGE_GOAL);
  } else {
    printf("gridsync merge benchmark: %zu edits (%zu in conflicting pairs) "
           "from 2 origins onto %zu records, %zu changes, %zu per txn\n",
           applied_ops, conflicts, nrec, nch, batch);
    printf("  %.0f bytes per change; %zu per txn is %s\n",
           (double)change_bytes / (double)nch, batch,
           batch_given ? "given by --batch"
                       : "what a receiver's group commit takes in one "
                         "transaction");
    if (group_msgs)
      printf("  (%zu messages of at most %d bytes, window %d, group bytes "
             "%u)\n",
             group_msgs, NET_MSG_MAX, NET_SYNC_WINDOW, NET_SYNC_GROUP_BYTES);
    printf("  apply: %.2f s, %.0f edits/s (with the final fsync: %.2f s, "
           "%.0f edits/s)\n",
           secs, (double)applied_ops / secs, total,
           (double)applied_ops / total);
    printf("  apply: %.2f s of CPU, %.0f edits per CPU second\n", cpu,
           (double)applied_ops / cpu);
    printf("  goal (issue 20): %d edits/s; per CPU second %.2f of it, "
           "wall %.2f\n",
           MERGE_GOAL, (double)applied_ops / cpu / MERGE_GOAL,
           (double)applied_ops / secs / MERGE_GOAL);
    printf("  digest %s... over %zu records\n", hex, nrecords);
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "bench_merge: could not remove %s\n", dir);
  for (int a = 0; a < 2; a++) {
    for (size_t i = 0; i < ab[a].n; i++)
      free(ab[a].raw[i]);
    free(ab[a].raw);
    free(ab[a].len);
    free(aops[a]);
    free(atext[a]);
  }
  free(all);
  free(lens);
  free(ops);
  free(text);
  free(ids);
  return 0;
}
