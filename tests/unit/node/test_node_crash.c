/* node: crash safety. A child process writes records in durable mode
 * through node_write and, after each successful commit, reports what it
 * wrote through a pipe; the parent SIGKILLs it at a random moment (fixed
 * seed), reopens the directory and checks that every record ever reported
 * as committed is there, intact, and that the feed is a gap-free, signed
 * chain. The next round's child continues writing in the same directory.
 *
 * DESIGN.md section 5: "A command that reports success has committed
 * durably (fsync)", and after a crash the store holds all of a change or
 * none of it. (A SIGKILL tests process death, not power loss: the page
 * cache survives, so this checks the transaction logic, locking and
 * recovery of a killed writer, not the fsync itself.) */
#include <criterion/criterion.h>
#include <poll.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "node/node.h"
#include "node/node_internal.h"
#include "tests/unit/storage/store_test_util.h"

#define ROUNDS 100
#define MAX_DELAY_US 30000
#define MAX_REPORTS 20000
#define SEED 20240601u

static char dir[64];
static char ndir[128];
static pid_t child = -1;

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(ndir, sizeof ndir, "%s/node", dir);
  child = -1;
}

static void teardown(void)
{
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  t_rmtree(dir);
}

TestSuite(node_crash, .init = setup, .fini = teardown, .timeout = 180);

static const char scope[] = "gongrencun/qinghejv/g07";

/* What the child reports after each commit: a pipe write this small is
 * atomic, so the parent never sees half a report. */
typedef struct report {
  uint64_t serial; /* global write number: names the record and content */
  uint64_t seq;    /* the change's seq in the node's feed */
} report;

/* The record and fields of write number serial. */
static void record_of(uint64_t serial, uint8_t id[CRDT_ID_LEN], char *text,
                      size_t cap)
{
  t_id(id, 0x42, serial);
  /* Varying length, so a torn value cannot look right by accident. */
  int n = snprintf(text, cap, "visit %llu:", (unsigned long long)serial);
  size_t len = (size_t)n + (serial * 37) % 700;
  if (len >= cap)
    len = cap - 1;
  for (size_t i = (size_t)n; i < len; i++)
    text[i] = (char)('a' + (serial + i) % 26);
  text[len] = '\0';
}

/* The child: write records serial = first, first + 1, ... forever (it
 * is killed), reporting each after node_write returned. */
static void writer_main(int fd, uint64_t first)
{
  node *n = NULL;
  if (node_open(ndir, 0, NULL, &n) != GS_OK)
    _exit(3);
  for (uint64_t serial = first; serial < first + 100000; serial++) {
    uint8_t id[CRDT_ID_LEN];
    static char text[1024];
    uint64_t seq = 0;
    record_of(serial, id, text, sizeof text);
    crdt_op ops[3] = {
        t_set_str("visit", id, "note", text, strlen(text)),
        t_set_int("visit", id, "serial", (int64_t)serial),
        t_add_str("visit", id, "tags", serial % 2 ? "odd" : "even"),
    };
    if (node__write(n, scope, strlen(scope), ops, 3, &seq) != GS_OK)
      _exit(4);
    report r = {serial, seq};
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r)
      _exit(5);
  }
  node_close(n);
  _exit(0);
}

/* Read all reports the (dead) child left in the pipe. */
static size_t drain(int fd, report *out, size_t cap)
{
  size_t n = 0;
  for (;;) {
    report r;
    ssize_t k = read(fd, &r, sizeof r);
    if (k < 0 && errno == EINTR)
      continue;
    if (k == 0)
      break;
    cr_assert_eq(k, (ssize_t)sizeof r, "partial report");
    cr_assert_lt(n, cap);
    out[n++] = r;
  }
  return n;
}

/* Feed walk: seqs 1..head present, each verifies and chains. */
typedef struct walk {
  uint64_t n;
  uint8_t head[CRDT_HASH_LEN];
  bool bad;
} walk;

static int walk_cb(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
  walk *wk = ctx;
  crdt_change *c;
  if (seq != wk->n + 1 || crdt_change_decode(b, len, &c) != GS_OK) {
    wk->bad = true;
    return 1;
  }
  bool ok = crdt_change_verify(c) &&
            (seq == 1 || memcmp(c->prev, wk->head, CRDT_HASH_LEN) == 0);
  crdt_change_hash(c, wk->head);
  crdt_change_free(c);
  if (!ok) {
    wk->bad = true;
    return 1;
  }
  wk->n++;
  return 0;
}

static void check_record(store *s, const report *r)
{
  static t_field tf;
  static char want[1024];
  uint8_t id[CRDT_ID_LEN];
  record_of(r->serial, id, want, sizeof want);
  cr_assert_eq(t_get(s, "visit", id, "note", &tf), GS_OK,
               "committed write %llu (seq %llu) lost",
               (unsigned long long)r->serial, (unsigned long long)r->seq);
  cr_assert_eq(tf.nscopes, 1);
  cr_assert_eq(tf.type, CRDT_STR);
  cr_assert_str_eq(tf.str, want, "write %llu torn", (unsigned long long)r->serial);
  cr_assert_eq(t_get(s, "visit", id, "serial", &tf), GS_OK);
  cr_assert_eq(tf.type, CRDT_INT);
  cr_assert_eq(tf.i, (int64_t)r->serial);
  cr_assert_eq(t_get(s, "visit", id, "tags", &tf), GS_OK);
  cr_assert(tf.is_set);
  cr_assert_eq(tf.nelems, 1);
  t_hist h;
  cr_assert_eq(t_history(s, "visit", id, &h), GS_OK);
  cr_assert_eq(h.n, 1);
  cr_assert_eq(h.seq[0], r->seq);
}

/* One pass over every visit record (one read transaction): state[serial]
 * becomes 1 for a record whose fields are exactly what write serial
 * wrote, 2 for anything else. */
#define MAX_SERIAL (MAX_REPORTS + 1000)
typedef struct scan {
  uint8_t state[MAX_SERIAL];
  size_t nrecords;
} scan;

static int scan_cb(void *ctx, const crdt_record *r)
{
  static char want[1024];
  scan *sc = ctx;
  crdt_field_view v;
  const char *rscope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN], want_id[CRDT_ID_LEN];
  sc->nrecords++;
  long i = crdt_record_find(r, "serial", 6);
  if (i < 0 || crdt_record_field(r, (size_t)i, &v) != GS_OK ||
      v.value.type != CRDT_INT || v.value.u.i <= 0 ||
      v.value.u.i >= MAX_SERIAL)
    return 0; /* not a record of ours: its report check will fail */
  uint64_t serial = (uint64_t)v.value.u.i;
  sc->state[serial] = 2;
  record_of(serial, want_id, want, sizeof want);
  crdt_record_identity(r, &rscope, &sn, &coll, &cn, id);
  if (memcmp(id, want_id, CRDT_ID_LEN) != 0 || sn != strlen(scope) ||
      memcmp(rscope, scope, sn) != 0)
    return 0;
  i = crdt_record_find(r, "note", 4);
  if (i < 0 || crdt_record_field(r, (size_t)i, &v) != GS_OK ||
      v.value.type != CRDT_STR || v.value.u.s.n != strlen(want) ||
      memcmp(v.value.u.s.p, want, v.value.u.s.n) != 0)
    return 0;
  i = crdt_record_find(r, "tags", 4);
  if (i < 0 || crdt_record_field(r, (size_t)i, &v) != GS_OK || !v.is_set ||
      v.nelems != 1)
    return 0;
  sc->state[serial] = 1;
  return 0;
}

Test(node_crash, sigkill_never_loses_a_committed_write)
{
  static report reports[MAX_REPORTS];
  size_t nreports = 0;
  unsigned rng = SEED;
  uint64_t next_serial = 1, max_seq = 0;
  size_t kills_with_writes = 0;
  uint8_t pk[CRDT_KEY_LEN];

  cr_assert_eq(node_init(ndir, "crash"), GS_OK);
  {
    node *n = NULL;
    cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
    memcpy(pk, node_pk(n), CRDT_KEY_LEN);
    node_close(n);
  }
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(pk, scope, strlen(scope), feed);

  for (int round = 0; round < ROUNDS; round++) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
      close(p[0]);
      writer_main(p[1], next_serial);
    }
    close(p[1]);

    /* On odd rounds, wait for the first commit report (without reading
     * it) so that a busy machine still gives kills among writes; even
     * rounds may kill during open. Then let it run 0..30 ms and kill it
     * mid-whatever. */
    if (round % 2) {
      struct pollfd pf = {.fd = p[0], .events = POLLIN};
      cr_assert_eq(poll(&pf, 1, 20000), 1, "round %d: writer silent", round);
    }
    struct timespec ts = {0, (long)(rand_r(&rng) % MAX_DELAY_US) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
    cr_assert_eq(kill(child, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    child = -1;
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "round %d: the writer failed on its own (exit %d)", round,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    size_t got = drain(p[0], reports + nreports, MAX_REPORTS - nreports);
    close(p[0]);
    for (size_t i = 0; i < got; i++) {
      const report *r = &reports[nreports + i];
      cr_assert_eq(r->serial, next_serial + i, "reports in order");
      cr_assert_gt(r->seq, max_seq, "seqs grow across kills");
      max_seq = r->seq;
    }
    nreports += got;
    kills_with_writes += got > 0;
    /* A write may have committed after its report was lost with the
     * child: skip its serial (its record may or may not exist). */
    next_serial += got + 1;

    /* Reopen: opens cleanly, every reported write is there and intact. */
    node *n = NULL;
    gs_err err = node_open(ndir, 0, NULL, &n);
    cr_assert_eq(err, GS_OK, "round %d: reopen: %s", round, gs_errname(err));
    store *s = node__store(n);
    /* This round's writes in detail (fields, history)... */
    for (size_t i = nreports - got; i < nreports; i++)
      check_record(s, &reports[i]);
    /* ...and every write ever reported, in one scan. */
    static scan sc;
    memset(&sc, 0, sizeof sc);
    cr_assert_eq(store_list(s, "visit", 5, NULL, 0, scan_cb, &sc), GS_OK);
    for (size_t i = 0; i < nreports; i++)
      cr_assert_eq(sc.state[reports[i].serial], 1,
                   "round %d: committed write %llu (seq %llu) %s", round,
                   (unsigned long long)reports[i].serial,
                   (unsigned long long)reports[i].seq,
                   sc.state[reports[i].serial] ? "torn" : "lost");
    store_feed sf;
    err = store_feed_get(s, feed, &sf);
    if (err == GS_ENOTFOUND) {
      cr_assert_eq(max_seq, 0, "round %d: the feed vanished", round);
    } else {
      cr_assert_eq(err, GS_OK);
      cr_assert_geq(sf.seq, max_seq);
      /* At most one commit whose report died with the child. */
      cr_assert_leq(sf.seq, max_seq + 1);
      walk wk = {0};
      cr_assert_eq(store_feed_read(s, feed, 1, sf.seq, walk_cb, &wk), GS_OK);
      cr_assert_not(wk.bad, "feed broken after seq %llu",
                    (unsigned long long)wk.n);
      cr_assert_eq(wk.n, sf.seq);
      store_stats st;
      cr_assert_eq(store_stats_get(s, &st), GS_OK);
      cr_assert_eq(st.changes, sf.seq, "one change per stored seq");
      cr_assert_eq(st.records, sf.seq, "one record per change");
      cr_assert_eq(sc.nrecords, sf.seq);
      cr_assert_eq(st.feeds, 1);
      max_seq = sf.seq; /* an unreported commit counts too */
    }
    node_close(n);
  }
  cr_assert_gt(kills_with_writes, ROUNDS / 4,
               "too few rounds wrote anything (%zu): the test is not testing",
               kills_with_writes);
  cr_log_info("node_crash: %zu reported writes over %d kills", nreports,
              ROUNDS);
}
