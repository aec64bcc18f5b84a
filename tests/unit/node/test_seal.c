/* node: the data key and its passphrase (issue 19). A wrong passphrase
 * is GS_EPASS and writes nothing; a short one is refused at init and
 * leaves no node behind; a changed passphrase rewraps the key only (the
 * store and key files are untouched and read back); a hostile seal.key
 * (limits that would exhaust the machine, a bad magic) is GS_ECORRUPT
 * before any Argon2id runs; a passphrase source the front end sets is
 * used instead of the environment. */
#include <criterion/criterion.h>

#include <sys/stat.h>

#include "node/node.h"
#include "node/node_internal.h"
#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char ndir[128];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(ndir, sizeof ndir, "%s/node", dir);
}

static void teardown(void)
{
  node_set_pass_source(NULL, NULL);
  t_rmtree(dir);
}

TestSuite(node_seal, .init = setup, .fini = teardown);

static const char *given; /* what the test source answers */
static int asked_new;

static gs_err test_source(void *ctx, node_pass_kind kind, char *buf,
                          size_t cap, size_t *len)
{
  (void)ctx;
  if (kind == NODE_PASS_NEW)
    asked_new++;
  if (!given)
    return GS_ELOCKED;
  *len = strlen(given);
  cr_assert_lt(*len, cap);
  memcpy(buf, given, *len + 1);
  return GS_OK;
}

/* A file's bytes, to compare before and after. */
static size_t slurp(const char *name, uint8_t *buf, size_t cap)
{
  char path[256];
  snprintf(path, sizeof path, "%s/%s", ndir, name);
  FILE *f = fopen(path, "rb");
  cr_assert(f, "%s", path);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

Test(node_seal, wrong_passphrase_writes_nothing)
{
  node *n;
  node_set_pass_source(test_source, NULL);
  given = "the right passphrase";
  asked_new = 0; /* the Windows runner runs every test in one process */
  cr_assert_eq(node_init(ndir, "gate"), GS_OK);
  cr_assert_eq(asked_new, 1);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert_not(node_is_open(n));
  node_close(n);
  static uint8_t a[1 << 20], b[1 << 20];
  size_t an = slurp("data.mdb", a, sizeof a);
  given = "the wrong passphrase";
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EPASS);
  cr_assert_null(n);
  cr_assert_eq(node_passphrase_change(ndir, false), GS_EPASS);
  given = NULL;
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ELOCKED);
  size_t bn = slurp("data.mdb", b, sizeof b);
  cr_assert_eq(an, bn);
  cr_assert_eq(memcmp(a, b, an), 0, "the store is as it was");
}

Test(node_seal, short_passphrase_leaves_no_node)
{
  node_set_pass_source(test_source, NULL);
  given = "7chars!";
  cr_assert_eq(node_init(ndir, NULL), GS_EPASSSHORT);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", ndir, NODE_SEAL_FILE);
  cr_assert_neq(access(path, F_OK), 0);
  snprintf(path, sizeof path, "%s/identity.key", ndir);
  cr_assert_neq(access(path, F_OK), 0);
  given = "八个汉字的口令啊"; /* 8 characters, 24 bytes */
  cr_assert_eq(node_init(ndir, NULL), GS_OK);
}

Test(node_seal, changed_passphrase_rewraps_only)
{
  node *n;
  uint64_t seq;
  node_set_pass_source(test_source, NULL);
  given = "first passphrase";
  cr_assert_eq(node_init(ndir, "gate"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  uint8_t id[CRDT_ID_LEN];
  t_id(id, 1, 1);
  crdt_op op = t_set_str("resident", id, "name", "王秀英", 9);
  cr_assert_eq(node__write(n, "gongrencun/q/g01", 16, &op, 1, &seq), GS_OK);
  node_close(n);
  static uint8_t a[1 << 20], b[1 << 20], ka[256], kb[256];
  size_t an = slurp("data.mdb", a, sizeof a);
  size_t kan = slurp("identity.key", ka, sizeof ka);
  /* rewrapped under the same text (a new salt): seal.key changes, no
   * other file does */
  given = "first passphrase";
  cr_assert_eq(node_passphrase_change(ndir, false), GS_OK);
  cr_assert_eq(slurp("data.mdb", b, sizeof b), an);
  cr_assert_eq(memcmp(a, b, an), 0, "no data rewritten");
  cr_assert_eq(slurp("identity.key", kb, sizeof kb), kan);
  cr_assert_eq(memcmp(ka, kb, kan), 0, "key files untouched");
  /* an open node, then back */
  cr_assert_eq(node_passphrase_change(ndir, true), GS_OK);
  given = NULL;
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  cr_assert(node_is_open(n));
  node_close(n);
  given = "a third passphrase";
  cr_assert_eq(node_passphrase_change(ndir, false), GS_OK);
  given = "first passphrase";
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EPASS);
  given = "a third passphrase";
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  node_close(n);
}

Test(node_seal, hostile_header_is_refused_before_argon2)
{
  node *n;
  node_set_pass_source(test_source, NULL);
  given = "the right passphrase";
  cr_assert_eq(node_init(ndir, NULL), GS_OK);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", ndir, NODE_SEAL_FILE);
  uint8_t h[120];
  FILE *f = fopen(path, "r+b");
  cr_assert(f);
  cr_assert_eq(fread(h, 1, sizeof h, f), sizeof h);
  /* memlimit 2^40 bytes: would exhaust the machine */
  uint8_t bad[120];
  memcpy(bad, h, sizeof h);
  memset(bad + 24, 0, 8);
  bad[24 + 2] = 1;
  rewind(f);
  cr_assert_eq(fwrite(bad, 1, sizeof bad, f), sizeof bad);
  fflush(f);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ECORRUPT);
  /* a changed salt: the passphrase no longer opens it */
  memcpy(bad, h, sizeof h);
  bad[40] ^= 1;
  rewind(f);
  cr_assert_eq(fwrite(bad, 1, sizeof bad, f), sizeof bad);
  fflush(f);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_EPASS);
  /* a bad magic */
  memcpy(bad, h, sizeof h);
  bad[0] = 'X';
  rewind(f);
  cr_assert_eq(fwrite(bad, 1, sizeof bad, f), sizeof bad);
  fflush(f);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ECORRUPT);
  /* as it was: opens */
  rewind(f);
  cr_assert_eq(fwrite(h, 1, sizeof h, f), sizeof h);
  fclose(f);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  node_close(n);
}

Test(node_seal, swapped_key_files_are_refused)
{
  node *n;
  node_set_pass_source(test_source, NULL);
  given = "the right passphrase";
  cr_assert_eq(node_init(ndir, NULL), GS_OK);
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/identity.key", ndir);
  snprintf(b, sizeof b, "%s/moved.key", ndir);
  cr_assert_eq(rename(a, b), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_ENOTINIT);
  cr_assert_eq(rename(b, a), 0);
  cr_assert_eq(node_open(ndir, 0, NULL, &n), GS_OK);
  uint8_t *key = n->dkey;
  uint8_t out[CRDT_SK_LEN];
  cr_assert_eq(node__seal_file_write(key, b, n->sk, CRDT_SK_LEN), GS_OK);
  /* a sealed file is bound to its name: moved.key's seal put in place
   * of identity.key does not open */
  cr_assert_eq(rename(b, a), 0);
  cr_assert_eq(node__seal_file_read(key, a, out, CRDT_SK_LEN), GS_ESEAL);
  node_close(n);
}
