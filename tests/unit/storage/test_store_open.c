/* store: create, open, reopen, read-only opens, meta values. */
#include <criterion/criterion.h>

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

TestSuite(store_open, .init = setup, .fini = teardown);

static const char scope[] = "gongrencun/qinghejv/g07";

/* One change with a title on record id. */
static void put_title(store *s, t_feed *f, const uint8_t id[CRDT_ID_LEN],
                      const char *title)
{
  crdt_op op = t_set_str("issue", id, "title", title, strlen(title));
  uint8_t *raw;
  size_t n;
  store_result res;
  cr_assert_eq(t_next(f, &op, 1, &raw, &n), GS_OK);
  cr_assert_eq(t_apply1(s, raw, n, &res), GS_OK);
  cr_assert_eq(res.applied, 1);
  free(raw);
}

Test(store_open, create_close_reopen_keeps_data)
{
  store *s = NULL;
  t_feed f;
  uint8_t id[CRDT_ID_LEN];
  static t_field tf;
  char path[128];

  t_feed_init(&f, scope);
  t_id(id, 1, 1);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_not_null(s);
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  cr_assert_eq(access(path, F_OK), 0, "data.mdb created");
  cr_assert_eq(store_meta_put(s, "greeting", "hello", 5), GS_OK);
  put_title(s, &f, id, "Leaky roof");
  store_close(s);

  /* Reopen without STORE_CREATE: everything is still there. */
  s = NULL;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_OK);
  char buf[16] = {0};
  size_t n = 0;
  cr_assert_eq(store_meta_get(s, "greeting", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 5);
  cr_assert_arr_eq(buf, "hello", 5);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Leaky roof");
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 1);
  cr_assert_arr_eq(sf.head, f.head, CRDT_HASH_LEN);
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.records, 1);
  cr_assert_eq(st.changes, 1);
  cr_assert_eq(st.feeds, 1);
  cr_assert_eq(st.forks, 0);
  cr_assert_geq(st.map_size, st.used_bytes);

  /* More data after the reopen, then a third open with STORE_CREATE on an
   * existing store: it must not reset anything. */
  put_title(s, &f, id, "Leaky roof, fixed");
  store_close(s);
  s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Leaky roof, fixed");
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 2);
  cr_assert_eq(store_meta_get(s, "greeting", buf, sizeof buf, &n), GS_OK);
  store_close(s);
}

Test(store_open, durable_open_create_and_reopen)
{
  /* The default (fsync) mode opens and keeps data the same way. */
  store *s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE, &s), GS_OK);
  cr_assert_eq(store_meta_put(s, "k", "v1", 2), GS_OK);
  store_close(s);
  cr_assert_eq(store_open(dir, 0, &s), GS_OK);
  char buf[4];
  size_t n;
  cr_assert_eq(store_meta_get(s, "k", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 2);
  cr_assert_arr_eq(buf, "v1", 2);
  store_close(s);
}

Test(store_open, missing_store_without_create_is_enotinit)
{
  store *s = (store *)&s; /* must be reset to NULL */
  cr_assert_eq(store_open(dir, 0, &s), GS_ENOTINIT);
  cr_assert_null(s);
  s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_ENOTINIT);
  cr_assert_null(s);
  s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_ENOTINIT);
  cr_assert_null(s);

  /* A directory that does not exist at all. */
  char missing[128];
  snprintf(missing, sizeof missing, "%s/nope", dir);
  cr_assert_eq(store_open(missing, 0, &s), GS_ENOTINIT);
  cr_assert_null(s);

  /* Nothing was created by the failed opens. */
  char path[128];
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  cr_assert_neq(access(path, F_OK), 0);
}

Test(store_open, close_null_is_noop)
{
  store_close(NULL);
}

Test(store_open, other_format_is_eversion)
{
  store *s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  uint8_t fmt[8];
  size_t n = 0;
  cr_assert_eq(store_meta_get(s, "format", fmt, sizeof fmt, &n), GS_OK);
  cr_assert_eq(n, 8);
  cr_assert_eq(fmt[7], STORE_FORMAT);
  fmt[7] = STORE_FORMAT + 1;
  cr_assert_eq(store_meta_put(s, "format", fmt, sizeof fmt), GS_OK);
  store_close(s);
  s = (store *)&s;
  cr_assert_eq(store_open(dir, STORE_NOSYNC, &s), GS_EVERSION);
  cr_assert_null(s);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_EVERSION);
  cr_assert_null(s);
}

Test(store_open, meta_get_put)
{
  store *s = NULL;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);

  char buf[32];
  size_t n = 12345;
  cr_assert_eq(store_meta_get(s, "absent", buf, sizeof buf, &n), GS_ENOTFOUND);
  cr_assert_eq(n, 12345, "n untouched when absent");

  cr_assert_eq(store_meta_put(s, "name", "north gate", 10), GS_OK);
  memset(buf, 0, sizeof buf);
  cr_assert_eq(store_meta_get(s, "name", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 10);
  cr_assert_str_eq(buf, "north gate");

  /* Overwrite with a shorter value. */
  cr_assert_eq(store_meta_put(s, "name", "east", 4), GS_OK);
  memset(buf, 0, sizeof buf);
  cr_assert_eq(store_meta_get(s, "name", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 4);
  cr_assert_str_eq(buf, "east");

  /* A buffer smaller than the value: copies cap bytes, reports the full
   * length, writes nothing past cap. */
  cr_assert_eq(store_meta_put(s, "long", "0123456789", 10), GS_OK);
  memset(buf, 'x', sizeof buf);
  cr_assert_eq(store_meta_get(s, "long", buf, 4, &n), GS_OK);
  cr_assert_eq(n, 10);
  cr_assert_arr_eq(buf, "0123xxxx", 8);

  /* Binary values with NULs, and an empty value. */
  const uint8_t bin[5] = {0, 1, 0, 255, 0};
  uint8_t bout[5];
  cr_assert_eq(store_meta_put(s, "bin", bin, sizeof bin), GS_OK);
  cr_assert_eq(store_meta_get(s, "bin", bout, sizeof bout, &n), GS_OK);
  cr_assert_eq(n, 5);
  cr_assert_arr_eq(bout, bin, 5);
  cr_assert_eq(store_meta_put(s, "empty", "", 0), GS_OK);
  cr_assert_eq(store_meta_get(s, "empty", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 0);

  /* Keys are distinct: "name" did not change. */
  cr_assert_eq(store_meta_get(s, "name", buf, sizeof buf, &n), GS_OK);
  cr_assert_eq(n, 4);
  store_close(s);
}

/* store_meta_any: a key that begins with the prefix, and no other. */
Test(store_open, meta_any_prefix)
{
  store *s = NULL;
  bool any = true;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_meta_any(s, "load:", &any), GS_OK);
  cr_assert_not(any, "a new store holds no load: key");
  /* keys just before and after the prefix's range, and a shorter one */
  cr_assert_eq(store_meta_put(s, "load", "1", 1), GS_OK);
  cr_assert_eq(store_meta_put(s, "load9", "1", 1), GS_OK);
  cr_assert_eq(store_meta_put(s, "load;", "1", 1), GS_OK);
  cr_assert_eq(store_meta_any(s, "load:", &any), GS_OK);
  cr_assert_not(any, "no key begins with load:");
  cr_assert_eq(store_meta_put(s, "load:ab12", "1", 1), GS_OK);
  cr_assert_eq(store_meta_any(s, "load:", &any), GS_OK);
  cr_assert(any);
  store_close(s);
}

Test(store_open, new_store_hlc_is_zero)
{
  store *s = NULL;
  crdt_hlc h = 99;
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_hlc(s, &h), GS_OK);
  cr_assert_eq(h, 0);
  store_stats st;
  cr_assert_eq(store_stats_get(s, &st), GS_OK);
  cr_assert_eq(st.records + st.feeds + st.changes + st.forks, 0);
  store_close(s);
}

Test(store_open, rdonly_reads_and_refuses_writes)
{
  store *s = NULL;
  t_feed f;
  uint8_t id[CRDT_ID_LEN];
  static t_field tf;

  t_feed_init(&f, scope);
  t_id(id, 1, 7);
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  put_title(s, &f, id, "Broken lamp");
  store_close(s);

  cr_assert_eq(store_open(dir, STORE_RDONLY, &s), GS_OK);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Broken lamp");
  store_feed sf;
  cr_assert_eq(store_feed_get(s, f.feed, &sf), GS_OK);
  cr_assert_eq(sf.seq, 1);

  /* Writes of every kind fail on a read-only store and change nothing. */
  cr_assert_neq(store_meta_put(s, "k", "v", 1), GS_OK);
  crdt_op op = t_set_str("issue", id, "title", "x", 1);
  uint8_t *raw;
  size_t n;
  cr_assert_eq(t_next(&f, &op, 1, &raw, &n), GS_OK);
  cr_assert_neq(t_apply1(s, raw, n, NULL), GS_OK);
  free(raw);
  store_write *w = NULL;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  crdt_keypair(pk, sk);
  cr_assert_neq(store_write_begin(s, sk, &w), GS_OK);
  cr_assert_null(w);
  cr_assert_eq(t_get(s, "issue", id, "title", &tf), GS_OK);
  cr_assert_str_eq(tf.str, "Broken lamp");
  store_close(s);
}
