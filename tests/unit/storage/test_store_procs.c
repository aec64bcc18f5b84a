/* store: one directory opened by several processes. LMDB forbids opening
 * one environment twice in a process, so the second handle lives in a
 * fork()ed child, which opens its own store after the fork (the parent
 * holds none open at fork time) and reports through its exit status; it
 * never uses Criterion's assertions and leaves with _exit. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/unit/storage/store_test_util.h"

#define NSLOTS 8
#define FINAL_GEN 300

static char dir[64];
static pid_t child = -1;

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  child = -1;
}

static void teardown(void)
{
  if (child > 0) { /* a failed assertion left it running */
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
  }
  t_rmtree(dir);
}

TestSuite(store_procs, .init = setup, .fini = teardown, .timeout = 120);

static const char scope[] = "gongrencun/qinghejv/g07";

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Exit status of the child; fails the test unless it exited 0. */
static void wait_child_ok(void)
{
  int status = 0;
  cr_assert_eq(waitpid(child, &status, 0), child);
  child = -1;
  cr_assert(WIFEXITED(status), "child died (signal %d)",
            WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  cr_assert_eq(WEXITSTATUS(status), 0, "child reported failure %d",
               WEXITSTATUS(status));
}

static void wait_ready(int fd)
{
  char c;
  ssize_t r;
  do
    r = read(fd, &c, 1);
  while (r < 0 && errno == EINTR);
  cr_assert_eq(r, 1, "child did not get ready");
}

/* ---- a reader sees whole transactions ---- */

/* Set every slot record's gen := gen; slots 0..3 in one change, 4..7 in a
 * second change of the same session: one commit. */
static gs_err write_gen(store *s, const uint8_t sk[CRDT_SK_LEN], int64_t gen)
{
  store_write *w;
  crdt_op ops[NSLOTS];
  uint8_t ids[NSLOTS][CRDT_ID_LEN];
  gs_err err = store_write_begin(s, sk, &w);
  if (err)
    return err;
  for (int i = 0; i < NSLOTS; i++) {
    t_id(ids[i], 7, (uint64_t)i);
    ops[i] = t_set_int("slot", ids[i], "gen", gen);
  }
  if ((err = store_write_change(w, scope, strlen(scope), ops, NSLOTS / 2,
                                T_NOW_MS, NULL, NULL)) != GS_OK ||
      (err = store_write_change(w, scope, strlen(scope), ops + NSLOTS / 2,
                                NSLOTS / 2, T_NOW_MS, NULL, NULL)) != GS_OK) {
    store_write_abort(w);
    return err;
  }
  return store_write_commit(w);
}

typedef struct slots_seen {
  size_t n;
  int64_t gen[NSLOTS + 1];
  bool bad;
} slots_seen;

static int slots_cb(void *ctx, const crdt_record *r)
{
  slots_seen *ss = ctx;
  long i = crdt_record_find(r, "gen", 3);
  crdt_field_view v;
  if (i < 0 || crdt_record_field(r, (size_t)i, &v) != GS_OK ||
      v.value.type != CRDT_INT || ss->n >= NSLOTS) {
    ss->bad = true;
    return 1;
  }
  ss->gen[ss->n++] = v.value.u.i;
  return 0;
}

/* The child: open read-only, read until the final generation shows up.
 * Every read (one transaction) must see all slots at one generation, and
 * generations never go back. */
static int reader_main(int ready_fd)
{
  store *s = NULL;
  if (store_open(dir, STORE_RDONLY, &s) != GS_OK)
    return 10;
  int64_t last = -1;
  int distinct = 0, rc = 0;
  uint64_t deadline = mono_ms() + 60000;
  for (;;) {
    slots_seen ss = {0};
    if (store_list(s, "slot", 4, NULL, 0, slots_cb, &ss) != GS_OK) {
      rc = 11;
      break;
    }
    if (ss.bad || ss.n != NSLOTS) {
      rc = 12;
      break;
    }
    for (int i = 1; i < NSLOTS; i++)
      if (ss.gen[i] != ss.gen[0])
        rc = 13; /* a torn read: half of a commit */
    if (rc)
      break;
    if (ss.gen[0] < last) {
      rc = 14;
      break;
    }
    if (ss.gen[0] != last)
      distinct++;
    if (last < 0 && write(ready_fd, "R", 1) != 1) {
      rc = 15;
      break;
    }
    last = ss.gen[0];
    if (last == FINAL_GEN)
      break;
    if (mono_ms() > deadline) {
      rc = 16;
      break;
    }
  }
  if (!rc && distinct < 2)
    rc = 17;
  store_close(s);
  return rc;
}

Test(store_procs, reader_in_child_sees_whole_commits)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  store *s = NULL;
  int p[2];
  crdt_keypair(pk, sk);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(write_gen(s, sk, 0), GS_OK);
  store_close(s);
  s = NULL;

  cr_assert_eq(pipe(p), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    close(p[0]);
    _exit(reader_main(p[1]));
  }
  close(p[1]);
  wait_ready(p[0]);
  close(p[0]);

  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  for (int64_t g = 1; g <= FINAL_GEN; g++)
    cr_assert_eq(write_gen(s, sk, g), GS_OK);
  store_close(s);
  wait_child_ok();
}

/* ---- a reader keeps working while a writer grows the map ---- */

#define BODY CRDT_TEXT_MAX
#define BULK_CHANGES 900 /* ~90 MiB, past the 64 MiB initial map */
#define BULK_BATCH 30

static void bulk_ops(int k, char *bufs, crdt_op ops[3],
                     uint8_t ids[3][CRDT_ID_LEN], uint8_t tag)
{
  for (int j = 0; j < 3; j++) {
    t_id(ids[j], tag, (uint64_t)(k * 3 + j));
    /* noise (changes are kept compressed), its last byte a letter */
    t_noise(bufs + (size_t)j * BODY, BODY - 1, (uint64_t)(k * 3 + j));
    bufs[(size_t)j * BODY + BODY - 1] = (char)('a' + (k + j) % 26);
    ops[j] = t_set_str("doc", ids[j], "body", bufs + (size_t)j * BODY, BODY);
    ops[j].value.type = CRDT_BYTES;
  }
}

static int grow_reader_main(int ready_fd)
{
  static t_field tf;
  store *s = NULL;
  if (store_open(dir, STORE_RDONLY, &s) != GS_OK)
    return 20;
  if (write(ready_fd, "R", 1) != 1)
    return 21;
  size_t last = 0;
  int rc = 0;
  uint64_t deadline = mono_ms() + 90000;
  while (last < BULK_CHANGES) {
    store_stats st;
    gs_err err = store_stats_get(s, &st);
    if (err) {
      rc = 22;
      break;
    }
    if (st.changes < last || st.records != st.changes * 3) {
      rc = 23;
      break;
    }
    last = st.changes;
    if (last > 0) {
      /* The newest record, possibly beyond this process's map. */
      uint8_t id[CRDT_ID_LEN];
      t_id(id, 5, (uint64_t)((last - 1) * 3 + 2));
      if (t_get(s, "doc", id, "body", &tf) != GS_OK) {
        rc = 24;
        break;
      }
      if (tf.str_len != BODY || tf.str[BODY - 1] != 'a' + (char)((last - 1 + 2) % 26)) {
        rc = 25;
        break;
      }
    }
    if (mono_ms() > deadline) {
      rc = 26;
      break;
    }
  }
  store_close(s);
  return rc;
}

Test(store_procs, reader_in_child_survives_map_growth)
{
  static char bufs[3 * BODY];
  store *s = NULL;
  int p[2];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  store_close(s);
  s = NULL;

  cr_assert_eq(pipe(p), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    close(p[0]);
    _exit(grow_reader_main(p[1]));
  }
  close(p[1]);
  wait_ready(p[0]);
  close(p[0]);

  t_feed f;
  t_feed_init(&f, scope);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  for (int k = 0; k < BULK_CHANGES; k += BULK_BATCH) {
    uint8_t *raw[BULK_BATCH];
    size_t len[BULK_BATCH];
    for (int i = 0; i < BULK_BATCH; i++) {
      crdt_op ops[3];
      uint8_t ids[3][CRDT_ID_LEN];
      bulk_ops(k + i, bufs, ops, ids, 5);
      cr_assert_eq(t_next(&f, ops, 3, &raw[i], &len[i]), GS_OK);
    }
    gs_err err = store_apply(s, (const uint8_t *const *)raw, len, BULK_BATCH,
                             NULL, NULL);
    for (int i = 0; i < BULK_BATCH; i++)
      free(raw[i]);
    cr_assert_eq(err, GS_OK, "batch at %d: %s", k, gs_errname(err));
  }
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_gt(st.map_size, (uint64_t)64 << 20, "the map did grow");
  store_close(s);
  wait_child_ok();
}

/* ---- two writer processes ---- */

#define WRITER_CHANGES 450

/* Write WRITER_CHANGES bulk changes with a fresh key, one commit each,
 * records tagged tag. Returns 0 or a failure code. */
static int write_bulk(store *s, uint8_t tag)
{
  static char bufs[3 * BODY];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  crdt_keypair(pk, sk);
  for (int k = 0; k < WRITER_CHANGES; k++) {
    store_write *w;
    crdt_op ops[3];
    uint8_t ids[3][CRDT_ID_LEN];
    uint64_t seq;
    bulk_ops(k, bufs, ops, ids, tag);
    if (store_write_begin(s, sk, &w) != GS_OK)
      return 30;
    if (store_write_change(w, scope, strlen(scope), ops, 3, T_NOW_MS, &seq,
                           NULL) != GS_OK) {
      store_write_abort(w);
      return 31;
    }
    if (seq != (uint64_t)k + 1) {
      store_write_abort(w);
      return 32;
    }
    if (store_write_commit(w) != GS_OK)
      return 33;
  }
  return 0;
}

static int writer_main(int ready_fd)
{
  store *s = NULL;
  if (store_open(dir, STORE_NOSYNC, &s) != GS_OK)
    return 34;
  if (write(ready_fd, "R", 1) != 1)
    return 35;
  int rc = write_bulk(s, 6);
  store_close(s);
  return rc;
}

static int count_cb(void *ctx, const crdt_record *r)
{
  (void)r;
  (*(size_t *)ctx)++;
  return 0;
}

Test(store_procs, two_writer_processes_interleave)
{
  store *s = NULL;
  int p[2];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  store_close(s);
  s = NULL;

  cr_assert_eq(pipe(p), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    close(p[0]);
    _exit(writer_main(p[1]));
  }
  close(p[1]);
  wait_ready(p[0]);
  close(p[0]);
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(write_bulk(s, 5), 0);
  store_close(s);
  s = NULL;
  wait_child_ok();

  /* Both feeds complete, every record there. */
  cr_assert_eq(store_open(dir, 0, &s), GS_OK);
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.feeds, 2);
  cr_assert_eq(st.changes, 2 * WRITER_CHANGES);
  cr_assert_eq(st.records, 2 * 3 * WRITER_CHANGES);
  cr_assert_gt(st.map_size, (uint64_t)64 << 20);
  size_t n = 0;
  cr_assert_eq(store_list(s, "doc", 3, scope, strlen(scope), count_cb, &n),
               GS_OK);
  cr_assert_eq(n, 2 * 3 * WRITER_CHANGES);
  store_close(s);
}

/* ---- opening does not wait for another process's writes ---- */

/* Child: hold a write session open until the parent says "opened" on
 * `in` (exit 0), or 20 s pass (exit 1: the parent's open waited). */
static int holder_main(int ready, int in)
{
  store *s;
  store_write *w;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  crdt_keypair(pk, sk);
  if (store_open(dir, STORE_NOSYNC, &s) || store_write_begin(s, sk, &w))
    return 2;
  if (write(ready, "r", 1) != 1)
    return 3;
  struct timeval tv = {20, 0};
  fd_set fds;
  FD_ZERO(&fds);
  FD_SET(in, &fds);
  int got = select(in + 1, &fds, NULL, NULL, &tv);
  store_write_abort(w);
  store_close(s);
  return got == 1 ? 0 : 1;
}

Test(store_procs, an_upgraded_store_opens_while_another_process_writes)
{
  store *s;
  int ready[2], go[2];
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  store_close(s);
  cr_assert_eq(pipe(ready), 0);
  cr_assert_eq(pipe(go), 0);
  child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    close(ready[0]), close(go[1]);
    _exit(holder_main(ready[1], go[0]));
  }
  close(ready[1]), close(go[0]);
  wait_ready(ready[0]);
  /* the child holds LMDB's write lock: opening must not need it */
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(write(go[1], "o", 1), 1);
  store_close(s);
  close(ready[0]), close(go[1]);
  wait_child_ok();
}
