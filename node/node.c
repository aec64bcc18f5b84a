/* A node: directory, identity, clock and store wired together. */
#include "node/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "storage/store.h"

#define KEY_FILE "identity.key"
/* A physical clock before this is surely wrong (dead CMOS battery). */
#define SANE_EPOCH_MS 1704067200000ULL /* 2024-01-01 */
#define SKEW_WARN_MS (5ULL * 60 * 1000)


static uint64_t system_now(void *ctx)
{
  (void)ctx;
  const char *fixed = getenv("GRIDSYNC_NOW_MS");
  if (fixed && *fixed) {
    char *end;
    unsigned long long v = strtoull(fixed, &end, 10);
    if (*end == '\0')
      return v;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec < 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const node_clock node_clock_system = {system_now, NULL};

gs_err node__path_join(char *out, size_t cap, const char *dir,
                        const char *file)
{
  int n = snprintf(out, cap, "%s/%s", dir, file);
  return (n < 0 || (size_t)n >= cap) ? GS_EINVAL : GS_OK;
}

static gs_err mkdir_p(const char *dir)
{
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf)
    return GS_EINVAL;
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0')
      continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
      return -errno;
    buf[i] = c;
  }
  return GS_OK;
}

gs_err node__secret_write(const char *path, const uint8_t *sk, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST ? GS_EEXIST : -errno;
  gs_err err = GS_OK;
  errno = 0;
  if (write(fd, sk, n) != (ssize_t)n || fsync(fd) != 0)
    err = errno ? -errno : GS_EINVAL;
  close(fd);
  if (err)
    unlink(path);
  return err;
}

gs_err node__fsync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  gs_err err = fsync(fd) == 0 ? GS_OK : -errno;
  close(fd);
  return err;
}

gs_err node__secret_read(const char *path, uint8_t *sk, size_t n)
{
  struct stat sb;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? GS_ENOTINIT : -errno;
  gs_err err = GS_OK;
  if (fstat(fd, &sb) != 0)
    err = -errno;
  else if (sb.st_mode & 077)
    err = GS_EKEYMODE;
  else if (sb.st_size != (off_t)n || read(fd, sk, n) != (ssize_t)n)
    err = GS_ECORRUPT;
  close(fd);
  return err;
}

gs_err node_init(const char *dir, const char *name)
{
  char path[4096];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  store *st = NULL;
  gs_err err;

  if (name && (strlen(name) > NODE_NAME_MAX ||
               !crdt_utf8_valid(name, strlen(name))))
    return GS_ENAME;
  if ((err = crdt_crypto_init()) != GS_OK || (err = mkdir_p(dir)) != GS_OK)
    return err;
  if ((err = node__path_join(path, sizeof path, dir, "data.mdb")) != GS_OK)
    return err;
  if (access(path, F_OK) == 0)
    return GS_EEXIST;
  if ((err = node__path_join(path, sizeof path, dir, KEY_FILE)) != GS_OK)
    return err;
  crdt_keypair(pk, sk);
  if ((err = node__secret_write(path, sk, CRDT_SK_LEN)) != GS_OK)
    goto out;
  if ((err = store_open(dir, STORE_CREATE, &st)) != GS_OK ||
      (err = store_meta_put(st, "node_pk", pk, sizeof pk)) != GS_OK ||
      (err = store_meta_put(st, "name", name ? name : "",
                            name ? strlen(name) : 0)) != GS_OK) {
    unlink(path);
    goto out;
  }
  /* the new files' directory entries must survive a power cut too */
  err = node__fsync_dir(dir);
out:
  store_close(st);
  crdt_wipe(sk, sizeof sk);
  return err;
}

void node_close(node *n)
{
  if (!n)
    return;
  store_close(n->st);
  crdt_wipe(n->sk, sizeof n->sk);
  crdt_wipe(&n->net, sizeof n->net);
  free(n);
}

gs_err node_open(const char *dir, unsigned flags, const node_clock *clk,
                 node **out)
{
  char path[4096];
  uint8_t stored_pk[CRDT_KEY_LEN];
  size_t len;
  node *n;
  gs_err err;

  *out = NULL;
  if ((err = crdt_crypto_init()) != GS_OK)
    return err;
  if (!(n = calloc(1, sizeof *n)))
    return GS_ENOMEM;
  n->clk = clk ? *clk : node_clock_system;
  if (strlen(dir) >= sizeof n->dir) {
    err = GS_EINVAL;
    goto fail;
  }
  strcpy(n->dir, dir);
  if ((err = node__path_join(path, sizeof path, dir, KEY_FILE)) != GS_OK ||
      (err = store_open(dir, (flags & NODE_BULK) ? STORE_NOSYNC : 0,
                        &n->st)) != GS_OK ||
      (err = node__secret_read(path, n->sk, CRDT_SK_LEN)) != GS_OK)
    goto fail;
  crdt_sk_to_pk(n->sk, n->pk);
  err = store_meta_get(n->st, "node_pk", stored_pk, sizeof stored_pk, &len);
  if (err || len != CRDT_KEY_LEN ||
      memcmp(stored_pk, n->pk, CRDT_KEY_LEN) != 0) {
    err = GS_ECORRUPT; /* key file does not belong to this store */
    goto fail;
  }
  err = store_meta_get(n->st, "name", n->name, NODE_NAME_MAX, &len);
  if (err == GS_OK)
    n->name[len < NODE_NAME_MAX ? len : NODE_NAME_MAX] = '\0';
  else if (err != GS_ENOTFOUND)
    goto fail;
  if ((err = node__network_load(n)) != GS_OK)
    goto fail;
  *out = n;
  return GS_OK;
fail:
  node_close(n);
  return err;
}

store *node_store(node *n)
{
  return n->st;
}

const uint8_t *node_pk(const node *n)
{
  return n->pk;
}

const char *node_name(const node *n)
{
  return n->name;
}

uint64_t node_now(const node *n)
{
  return n->clk.now_ms(n->clk.ctx);
}

void node_id_new(node *n, uint8_t id[CRDT_ID_LEN])
{
  crdt_id_next(node_now(n), n->last_id, id);
  memcpy(n->last_id, id, CRDT_ID_LEN);
}

static int id_held(void *ctx, const crdt_record *r)
{
  (void)ctx, (void)r;
  return 1;
}

void node_id_for(node *n, const char *coll, size_t coll_len,
                 uint8_t id[CRDT_ID_LEN])
{
  const node_coll *c = node_schema_coll(coll, coll_len);
  if (!c || !c->immutable) {
    node_id_new(n, id);
    return;
  }
  /* two processes of one node (two loads) may meet in one millisecond
   * with 24 random bits between them: an id already held is passed over */
  for (int tries = 0;; tries++) {
    crdt_id_owned(node_now(n), n->last_id, n->pk, id);
    memcpy(n->last_id, id, CRDT_ID_LEN);
    if (tries == 8 || store_get(n->st, coll, coll_len, id, id_held, NULL) ==
                          GS_ENOTFOUND)
      return;
  }
}

gs_err node_write(node *n, const char *scope, size_t scope_len,
                  const crdt_op *ops, size_t nops, uint64_t *seq)
{
  store_write *w;
  char why[160];
  gs_err err = node_may_write(n, scope, scope_len, why, sizeof why);
  if (err)
    return err;
  err = store_write_begin(n->st, n->sk, &w);
  if (err)
    return err;
  if ((err = store_write_change(w, scope, scope_len, ops, nops, node_now(n),
                                seq, NULL)) != GS_OK) {
    store_write_abort(w);
    return err;
  }
  return store_write_commit(w);
}

gs_err node_write_begin(node *n, struct store_write **out)
{
  return store_write_begin(n->st, n->sk, out);
}

uint64_t node_clock_skew_ms(node *n)
{
  crdt_hlc h = 0;
  if (store_hlc(n->st, &h) != GS_OK)
    return 0;
  return crdt_hlc_ahead_ms(h, node_now(n));
}

size_t node_warnings(node *n, const char **out, size_t max)
{
  size_t k = 0;
  if (k < max && node_now(n) < SANE_EPOCH_MS)
    out[k++] = "this computer's clock is before 2024: set the date and time "
               "(stamps still order correctly, but concurrent edits made "
               "here lose ties)";
  if (k < max && node_clock_skew_ms(n) > SKEW_WARN_MS)
    out[k++] = "stamps seen are ahead of this computer's clock by more than "
               "5 minutes: this clock is slow or a peer's is fast";
  return k;
}
