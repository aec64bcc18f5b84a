/* node: directory and identity (modes, refusals), writing, the injectable
 * clock and the clock warnings. */
#include <criterion/criterion.h>

#include <sys/stat.h>
#ifndef _WIN32
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "node/node.h"
#include "node/node_internal.h"
#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char ndir[128]; /* the node directory: dir/node, created by init */

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(ndir, sizeof ndir, "%s/node", dir);
  unsetenv("GRIDSYNC_NOW_MS");
}

static void teardown(void)
{
  t_rmtree(dir);
  unsetenv("GRIDSYNC_NOW_MS");
}

TestSuite(node_basic, .init = setup, .fini = teardown);
TestSuite(node_clock, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";

/* A clock tests move by hand. */
static uint64_t fake_now(void *ctx)
{
  return *(const uint64_t *)ctx;
}

static void path_in(char *out, size_t cap, const char *d, const char *file)
{
  cr_assert_lt((size_t)snprintf(out, cap, "%s/%s", d, file), cap);
}

Test(node_basic, init_creates_private_dir_and_key)
{
  char deep[192], key[256], data[256];
  struct stat sb;
  snprintf(deep, sizeof deep, "%s/a/b/node", dir);
  cr_assert_eq(node_init(deep, "north gate"), GS_OK);

  cr_assert_eq(stat(deep, &sb), 0);
  cr_assert(S_ISDIR(sb.st_mode));
  cr_assert_eq(sb.st_mode & 07777, 0700, "dir mode %o", sb.st_mode & 07777);
  path_in(key, sizeof key, deep, "identity.key");
  cr_assert_eq(stat(key, &sb), 0);
  cr_assert(S_ISREG(sb.st_mode));
  cr_assert_eq(sb.st_mode & 07777, 0600, "key mode %o", sb.st_mode & 07777);
  /* sealed under the data key (issue 19): magic, then nonce, key, tag */
  cr_assert_eq(sb.st_size, 8 + CRDT_SK_LEN + CRDT_SEAL_OVERHEAD);
  path_in(data, sizeof data, deep, "data.mdb");
  cr_assert_eq(stat(data, &sb), 0);
  cr_assert_eq(sb.st_mode & 077, 0, "store is not readable by others");

  /* It opens, with its name and a public key matching the key file. */
  node *n = NULL;
  cr_assert_eq(node_open(deep, 0, NULL, &n), GS_OK);
  cr_assert_not_null(n);
  cr_assert_str_eq(node_name(n), "north gate");
  uint8_t raw[8 + CRDT_SK_LEN + CRDT_SEAL_OVERHEAD], pk[CRDT_KEY_LEN];
  FILE *fp = fopen(key, "rb");
  cr_assert_not_null(fp);
  cr_assert_eq(fread(raw, 1, sizeof raw, fp), sizeof raw);
  fclose(fp);
  cr_assert_eq(memcmp(raw, "GSSEALF1", 8), 0);
  cr_assert_null(memmem(raw, sizeof raw, n->sk, 32),
                 "the secret key is not in the file in plain");
  crdt_sk_to_pk(n->sk, pk);
  cr_assert_arr_eq(node_pk(n), pk, CRDT_KEY_LEN);
  uint8_t stored[CRDT_KEY_LEN];
  size_t len;
  cr_assert_eq(store_meta_get(node__store(n), "node_pk", stored, sizeof stored,
                              &len),
               GS_OK);
  cr_assert_eq(len, CRDT_KEY_LEN);
  cr_assert_arr_eq(stored, pk, CRDT_KEY_LEN);
  node_close(n);
  node_close(NULL);
}

Test(node_basic, two_nodes_have_different_identities)
{
  char d2[128];
  node *a = NULL, *b = NULL;
  snprintf(d2, sizeof d2, "%s/other", dir);
  cr_assert_eq(node_init(ndir, NULL), GS_OK);
  cr_assert_eq(node_init(d2, ""), GS_OK);
  cr_assert_eq(node_open(ndir, 0, NULL, &a), GS_OK);
  cr_assert_eq(node_open(d2, 0, NULL, &b), GS_OK);
  cr_assert_neq(memcmp(node_pk(a), node_pk(b), CRDT_KEY_LEN), 0);
  cr_assert_str_eq(node_name(a), "");
  cr_assert_str_eq(node_name(b), "");
  node_close(a);
  node_close(b);
}

Test(node_basic, init_on_existing_node_is_eexist)
{
  char key[256];
  uint8_t before[CRDT_SK_LEN], after[CRDT_SK_LEN];
  cr_assert_eq(node_init(ndir, "first"), GS_OK);
  path_in(key, sizeof key, ndir, "identity.key");
  FILE *fp = fopen(key, "rb");
  cr_assert_not_null(fp);
  cr_assert_eq(fread(before, 1, sizeof before, fp), sizeof before);
  fclose(fp);

  cr_assert_eq(node_init(ndir, "second"), GS_EEXIST);

  /* Nothing was replaced: same key, same name. */
  fp = fopen(key, "rb");
  cr_assert_not_null(fp);
  cr_assert_eq(fread(after, 1, sizeof after, fp), sizeof after);
  fclose(fp);
  cr_assert_arr_eq(before, after, CRDT_SK_LEN);
  node *n = NULL;
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert_str_eq(node_name(n), "first");
  node_close(n);
}

Test(node_basic, open_missing_is_enotinit)
{
  node *n = (node *)&n;
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ENOTINIT, "no directory");
  cr_assert_null(n);
  n = (node *)&n;
  cr_assert_eq(node_open(dir, 0, NULL, &n), GS_ENOTINIT, "empty directory");
  cr_assert_null(n);
}

Test(node_basic, key_readable_by_others_is_ekeymode)
{
  char key[256];
  node *n = NULL;
  cr_assert_eq(node_init(ndir, "n"), GS_OK);
  path_in(key, sizeof key, ndir, "identity.key");

  cr_assert_eq(chmod(key, 0644), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EKEYMODE);
  cr_assert_null(n);
  cr_assert_eq(chmod(key, 0640), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EKEYMODE, "group-readable");
  cr_assert_eq(chmod(key, 0604), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EKEYMODE, "world-readable");
  cr_assert_eq(chmod(key, 0400), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK, "0400 is private");
  node_close(n);
  n = NULL;
  cr_assert_eq(chmod(key, 0600), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  node_close(n);
}

Test(node_basic, foreign_or_missing_key_is_refused)
{
  char key[256];
  node *n = NULL;
  cr_assert_eq(node_init(ndir, "n"), GS_OK);
  path_in(key, sizeof key, ndir, "identity.key");

  /* Another node's key: the store's node_pk does not match. */
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  crdt_keypair(pk, sk);
  FILE *fp = fopen(key, "wb");
  cr_assert_not_null(fp);
  cr_assert_eq(fwrite(sk, 1, sizeof sk, fp), sizeof sk);
  fclose(fp);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ECORRUPT);
  cr_assert_null(n);

  /* A truncated key file. */
  cr_assert_eq(truncate(key, 10), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ECORRUPT);

  /* No key file. */
  cr_assert_eq(unlink(key), 0);
  cr_assert_neq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert_null(n);
}

Test(node_basic, init_rejects_bad_name)
{
  char longname[NODE_NAME_MAX + 2];
  memset(longname, 'x', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  cr_assert_eq(node_init(ndir, longname), GS_ENAME);
  cr_assert_eq(node_init(ndir, "bad \xff utf8"), GS_ENAME);
  char data[256];
  path_in(data, sizeof data, ndir, "data.mdb");
  cr_assert_neq(access(data, F_OK), 0, "nothing created");
  /* The longest allowed name round-trips. */
  longname[NODE_NAME_MAX] = '\0';
  cr_assert_eq(node_init(ndir, longname), GS_OK);
  node *n = NULL;
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert_str_eq(node_name(n), longname);
  node_close(n);
}

Test(node_basic, node_write_commits_and_continues)
{
  uint64_t now = T_NOW_MS;
  node_clock clk = {fake_now, &now};
  node *n = NULL;
  uint8_t id[CRDT_ID_LEN];
  uint64_t seq = 0;
  static t_field tf;
  t_id(id, 1, 1);
  cr_assert_eq(node_init(ndir, "w"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(node_now(n), T_NOW_MS);

  crdt_op op = t_set_str("issue", id, "title", "Leaky roof", 10);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, &seq), GS_OK);
  cr_assert_eq(seq, 1);
  op = t_set_int("issue", id, "floor", 4);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, &seq), GS_OK);
  cr_assert_eq(seq, 2);
  cr_assert_eq(t_get(node__store(n), "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Leaky roof");
  cr_assert_arr_eq(tf.stamp.origin, node_pk(n), CRDT_KEY_LEN);
  cr_assert_eq(CRDT_HLC_MS(tf.stamp.hlc), T_NOW_MS, "stamped by the clock");
  cr_assert_eq(t_get(node__store(n), "issue", id, "floor", &tf), GS_OK);
  cr_assert_eq(tf.i, 4);
  /* A bad scope fails and writes nothing. */
  cr_assert_eq(node__write(n, "", 0, &op, 1, &seq), GS_ESCOPE);
  node_close(n);

  /* Reopen (bulk mode this time): the feed continues at seq 3. */
  n = NULL;
  now += 1000;
  cr_assert_eq(node_open(ndir, NODE_BULK, &clk, &n), GS_OK);
  op = t_set_str("issue", id, "title", "Leaky roof (fixed)", 18);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, &seq), GS_OK);
  cr_assert_eq(seq, 3);
  uint8_t feed[CRDT_FEED_LEN];
  store_feed sf;
  crdt_feed_id(node_pk(n), scope, strlen(scope), feed);
  cr_assert_eq(store_feed_get(node__store(n), feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 3);
  node_close(n);

  /* Bulk-mode writes were synced at close. */
  n = NULL;
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(t_get(node__store(n), "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Leaky roof (fixed)");
  cr_assert_eq(CRDT_HLC_MS(tf.stamp.hlc), T_NOW_MS + 1000);
  node_close(n);
}

Test(node_basic, write_session_commits_once)
{
  uint64_t now = T_NOW_MS;
  node_clock clk = {fake_now, &now};
  node *n = NULL;
  struct store_write *w = NULL;
  cr_assert_eq(node_init(ndir, "w"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(node__write_begin(n, &w), GS_OK);
  for (int i = 0; i < 10; i++) {
    uint8_t id[CRDT_ID_LEN];
    uint64_t seq;
    t_id(id, 2, (uint64_t)i);
    crdt_op op = t_set_int("visit", id, "minutes", i);
    cr_assert_eq(store_write_change(w, scope, strlen(scope), &op, 1,
                                    node_now(n), &seq, NULL),
                 GS_OK);
    cr_assert_eq(seq, (uint64_t)i + 1);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  store_stats st;
  cr_assert_eq(store_stats_get(node__store(n), &st), GS_OK);
  cr_assert_eq(st.changes, 10);
  cr_assert_eq(st.records, 10);
  node_close(n);
}

/* ---- clock ---- */

static bool has_warning(const char *const *w, size_t n, const char *needle)
{
  for (size_t i = 0; i < n; i++)
    if (strstr(w[i], needle))
      return true;
  return false;
}

Test(node_clock, gridsync_now_ms_fixes_the_system_clock)
{
  node *n = NULL;
  cr_assert_eq(node_init(ndir, "c"), GS_OK);
  cr_assert_eq(setenv("GRIDSYNC_NOW_MS", "1735689600123", 1), 0);
  cr_assert_eq(node_clock_system.now_ms(node_clock_system.ctx),
               1735689600123ULL);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert_eq(node_now(n), 1735689600123ULL);
  const char *w[4];
  cr_assert_eq(node_warnings(n, w, 4), 0, "a sane clock, nothing seen");

  /* Writes are stamped with it. */
  uint8_t id[CRDT_ID_LEN];
  static t_field tf;
  t_id(id, 1, 1);
  crdt_op op = t_set_int("issue", id, "n", 1);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, NULL), GS_OK);
  cr_assert_eq(t_get(node__store(n), "issue", id, "n", &tf), GS_OK);
  cr_assert_eq(CRDT_HLC_MS(tf.stamp.hlc), 1735689600123ULL);

  /* Garbage in the variable falls back to the real clock. */
  cr_assert_eq(setenv("GRIDSYNC_NOW_MS", "12abc", 1), 0);
  cr_assert_gt(node_now(n), 1704067200000ULL);
  node_close(n);
}

Test(node_clock, clock_before_2024_warns)
{
  node *n = NULL;
  cr_assert_eq(node_init(ndir, "c"), GS_OK);
  /* 2001-09-09: a laptop with a dead CMOS battery. */
  cr_assert_eq(setenv("GRIDSYNC_NOW_MS", "1000000000000", 1), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  const char *w[4] = {NULL};
  size_t k = node_warnings(n, w, 4);
  cr_assert_eq(k, 1);
  cr_assert(has_warning(w, k, "before 2024"), "got: %s", w[0]);
  cr_assert_eq(node_warnings(n, w, 0), 0, "max 0 writes nothing");
  node_close(n);

  /* Just before and at the threshold, through an injected clock. */
  uint64_t now = 1704067200000ULL - 1;
  node_clock clk = {fake_now, &now};
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(node_warnings(n, w, 4), 1);
  now = 1704067200000ULL;
  cr_assert_eq(node_warnings(n, w, 4), 0);
  node_close(n);
}

/* Apply, on n's store, a change of a fresh origin stamped at ms. */
static void receive_at(node *n, uint64_t ms)
{
  t_feed f;
  uint8_t id[CRDT_ID_LEN], *raw;
  size_t len;
  t_feed_init(&f, scope);
  f.hlc = CRDT_HLC_MAKE(ms, 0);
  t_id(id, 9, ms);
  crdt_op op = t_set_str("issue", id, "title", "from the future", 15);
  cr_assert_eq(t_next(&f, &op, 1, &raw, &len), GS_OK);
  store_result res;
  cr_assert_eq(t_apply1(node__store(n), raw, len, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
  free(raw);
}

Test(node_clock, change_from_the_future_warns_hlc_ahead)
{
  uint64_t now = T_NOW_MS;
  node_clock clk = {fake_now, &now};
  node *n = NULL;
  const char *w[4] = {NULL};
  cr_assert_eq(node_init(ndir, "c"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(node_warnings(n, w, 4), 0);
  cr_assert_eq(node_clock_skew_ms(n), 0);

  /* A peer 4 minutes ahead: below the 5-minute threshold. */
  receive_at(n, T_NOW_MS + 4 * 60000);
  cr_assert_eq(node_clock_skew_ms(n), 4 * 60000);
  cr_assert_eq(node_warnings(n, w, 4), 0);

  /* A peer a day ahead. */
  receive_at(n, T_NOW_MS + 86400000ULL);
  cr_assert_geq(node_clock_skew_ms(n), 86400000ULL);
  size_t k = node_warnings(n, w, 4);
  cr_assert_eq(k, 1);
  cr_assert(has_warning(w, k, "ahead"), "got: %s", w[0]);

  /* Our own next write is ordered after what we saw, despite our clock. */
  uint8_t id[CRDT_ID_LEN];
  static t_field tf;
  t_id(id, 9, T_NOW_MS + 86400000ULL);
  crdt_op op = t_set_str("issue", id, "title", "local", 5);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, NULL), GS_OK);
  cr_assert_eq(t_get(node__store(n), "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "local");

  /* The warning survives a restart (the HLC is stored)... */
  node_close(n);
  n = NULL;
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  cr_assert_eq(node_warnings(n, w, 4), 1);
  /* ...and goes away once the physical clock catches up. */
  now = T_NOW_MS + 86400000ULL + 1000;
  cr_assert_eq(node_clock_skew_ms(n), 0);
  cr_assert_eq(node_warnings(n, w, 4), 0);
  node_close(n);
}

Test(node_clock, both_warnings_together)
{
  /* Wrote with a good clock, then the clock fell back to 2001: both the
   * clock and the HLC-ahead warnings show, and writes still order after
   * everything before. */
  uint64_t now = T_NOW_MS;
  node_clock clk = {fake_now, &now};
  node *n = NULL;
  uint8_t id[CRDT_ID_LEN];
  static t_field tf;
  t_id(id, 1, 1);
  cr_assert_eq(node_init(ndir, "c"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, &clk, &n), GS_OK);
  crdt_op op = t_set_str("issue", id, "title", "before", 6);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, NULL), GS_OK);
  cr_assert_eq(t_get(node__store(n), "issue", id, "title", &tf), GS_OK);
  crdt_hlc first = tf.stamp.hlc;

  now = 1000000000000ULL;
  const char *w[4] = {NULL};
  size_t k = node_warnings(n, w, 4);
  cr_assert_eq(k, 2);
  cr_assert(has_warning(w, k, "before 2024"));
  cr_assert(has_warning(w, k, "ahead"));
  cr_assert_eq(node_warnings(n, w, 1), 1, "at most max");

  op = t_set_str("issue", id, "title", "after", 5);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, NULL), GS_OK);
  cr_assert_eq(t_get(node__store(n), "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "after");
  cr_assert_gt(tf.stamp.hlc, first);
  node_close(n);
}

#ifndef _WIN32 /* no fork there (and no skip in its test runner) */
/* The system's ids are drawn from a pool of random bytes: a forked
 * child draws its own, never the bytes its parent has yet to hand out
 * (the two would make the same ids). Each side forgets its last id first,
 * so that the id is its random bytes (not the last one's successor, as
 * in the same millisecond it may be). */
Test(node_basic, a_forked_child_does_not_reuse_the_id_pool)
{
  node *n;
  cr_assert_eq(node_init(ndir, "fork"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  uint8_t first[CRDT_ID_LEN], mine[CRDT_ID_LEN], theirs[CRDT_ID_LEN];
  node_id_new(n, first); /* the pool drawn, most of it left */
  int p[2];
  cr_assert_eq(pipe(p), 0);
  pid_t c = fork();
  cr_assert_neq(c, -1);
  if (c == 0) {
    uint8_t id[CRDT_ID_LEN];
    memset(n->last_id, 0, CRDT_ID_LEN);
    node_id_new(n, id);
    _exit(write(p[1], id, sizeof id) == (ssize_t)sizeof id ? 0 : 1);
  }
  memset(n->last_id, 0, CRDT_ID_LEN);
  node_id_new(n, mine);
  cr_assert_eq(read(p[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
  int st;
  cr_assert_eq(waitpid(c, &st, 0), c);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* the random part: after the 48-bit time */
  cr_assert_neq(memcmp(mine + 6, theirs + 6, CRDT_ID_LEN - 6), 0,
                "the child handed out its parent's pooled bytes");
  cr_assert_neq(memcmp(first + 6, theirs + 6, CRDT_ID_LEN - 6), 0);
  close(p[0]), close(p[1]);
  node_close(n);
}
#endif
