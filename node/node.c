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
#ifndef _WIN32
#include <pthread.h>
#include <stdatomic.h>
#endif

#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"
#include "node/member.h"

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

/* The nodes this process has open. LMDB forbids opening one environment
 * twice in a process (closing one copy drops the other's locks), a rule
 * of the whole process, so this one list is too: node_open refuses a
 * directory already open (GS_EBUSY). Nodes are used from one thread. */
static node *open_nodes;

static bool already_open(uint64_t dev, uint64_t ino)
{
  for (node *o = open_nodes; o; o = o->next_open)
    if (o->dev == dev && o->ino == ino)
      return true;
  return false;
}

static void forget_open(node *n)
{
  for (node **p = &open_nodes; *p; p = &(*p)->next_open)
    if (*p == n) {
      *p = n->next_open;
      return;
    }
}

size_t node_open_count(void)
{
  size_t k = 0;
  for (node *o = open_nodes; o; o = o->next_open)
    k++;
  return k;
}

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

gs_err node__file_write(const char *path, const uint8_t *sk, size_t n)
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

gs_err node__file_read(const char *path, uint8_t *sk, size_t n)
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

gs_err node__secret_write(const node *nd, const char *path,
                          const uint8_t *buf, size_t n)
{
  return node__seal_file_write(nd->dkey, path, buf, n);
}

gs_err node__secret_read(const node *nd, const char *path, uint8_t *buf,
                         size_t n)
{
  return node__seal_file_read(nd->dkey, path, buf, n);
}

bool node_is_open(const node *n)
{
  return n->open_node;
}

_Static_assert((int)NODE_PROGRESS_SEAL == (int)STORE_PROGRESS_SEAL &&
                   (int)NODE_PROGRESS_FORMAT == (int)STORE_PROGRESS_FORMAT &&
                   (int)NODE_PROGRESS_COMPACT == (int)STORE_PROGRESS_COMPACT,
               "the node's progress steps are the store's");
static void (*seal_progress)(void *ctx, int what, uint64_t done,
                             uint64_t total);
static void *seal_progress_ctx;

void node_set_seal_progress(void (*fn)(void *ctx, int what, uint64_t done,
                                       uint64_t total),
                            void *ctx)
{
  seal_progress = fn;
  seal_progress_ctx = ctx;
}

void node__seal_progress(void (**fn)(void *ctx, int what, uint64_t done,
                                     uint64_t total),
                         void **ctx)
{
  *fn = seal_progress;
  *ctx = seal_progress_ctx;
}

gs_err node_init(const char *dir, const char *name)
{
  return node_init_ex(dir, name, 0);
}

gs_err node_init_ex(const char *dir, const char *name, unsigned flags)
{
  char path[4096], spath[4096];
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  uint8_t *dkey = NULL;
  store *st = NULL;
  gs_err err;
  spath[0] = '\0';

  if (name && (strlen(name) > NODE_NAME_MAX ||
               !crdt_utf8_valid(name, strlen(name))))
    return GS_ENAME;
  if ((err = crdt_crypto_init()) != GS_OK || (err = mkdir_p(dir)) != GS_OK)
    return err;
  if ((err = node__path_join(path, sizeof path, dir, "data.mdb")) != GS_OK)
    return err;
  if (access(path, F_OK) == 0)
    return GS_EEXIST;
  if ((err = node__path_join(path, sizeof path, dir, KEY_FILE)) != GS_OK ||
      (err = node__path_join(spath, sizeof spath, dir, NODE_SEAL_FILE)))
    return err;
  if (access(path, F_OK) == 0)
    return GS_EEXIST;
  if (!(dkey = crdt_secret_alloc(CRDT_SEAL_KEY_LEN)))
    return GS_ENOMEM;
  /* the passphrase first: a refused one leaves nothing behind */
  if ((err = node__seal_create(dir, flags & NODE_INIT_OPEN, dkey)) != GS_OK) {
    spath[0] = '\0'; /* not written (or an existing node's: kept) */
    goto out;
  }
  crdt_keypair(pk, sk);
  if ((err = node__seal_file_write(dkey, path, sk, CRDT_SK_LEN)) != GS_OK)
    goto out;
  store_opts so = {.key = dkey};
  if ((err = store_open_ex(dir, STORE_CREATE, &so, &st)) != GS_OK ||
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
  if (err && spath[0])
    unlink(spath);
  crdt_wipe(sk, sizeof sk);
  crdt_secret_free(dkey);
  return err;
}

/* The data key of the node in dir into n->dkey: unwrapped from
 * seal.key; a directory of an earlier build gets its seal now (a new
 * passphrase; the store is sealed as it opens). */
static gs_err unlock(node *n, const char *dir, bool *sealing)
{
  char spath[4200];
  gs_err err;
  *sealing = false;
  if (!(n->dkey = crdt_secret_alloc(CRDT_SEAL_KEY_LEN)))
    return GS_ENOMEM;
  /* the serving node of this directory, if one runs: no passphrase; the
   * key it gives must open identity.key */
  uint8_t sk[CRDT_SK_LEN];
  if (node__path_join(spath, sizeof spath, dir, KEY_FILE) == GS_OK &&
      node__unlock_ask(dir, n->dkey) == GS_OK) {
    err = node__seal_file_read(n->dkey, spath, sk, sizeof sk);
    crdt_wipe(sk, sizeof sk);
    if (err == GS_OK) {
      bool open_node = false;
      char hp[4200];
      /* whether it is an open node: seal.key says, without a passphrase */
      if (node__path_join(hp, sizeof hp, dir, NODE_SEAL_FILE) == GS_OK) {
        uint8_t h[9];
        FILE *f = fopen(hp, "rb");
        if (f) {
          open_node = fread(h, 1, 9, f) == 9 && h[8] == 0;
          fclose(f);
        }
      }
      n->open_node = open_node;
      return GS_OK;
    }
  }
  err = node__seal_unlock(dir, n->dkey, &n->open_node);
  if (err != GS_ENOTINIT)
    return err;
  /* no seal.key: a node of an earlier build, if it has a store */
  if ((err = node__path_join(spath, sizeof spath, dir, "data.mdb")) != GS_OK)
    return err;
  if (access(spath, F_OK) != 0)
    return GS_ENOTINIT;
  if ((err = node__seal_create(dir, false, n->dkey)) != GS_OK)
    return err;
  *sealing = true;
  return GS_OK;
}

void node_close(node *n)
{
  if (!n)
    return;
  forget_open(n);
  store_close(n->st);
  crdt_wipe(n->sk, sizeof n->sk);
  crdt_wipe(&n->net, sizeof n->net);
  crdt_secret_free(n->dkey);
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
  struct stat ds;
  if (stat(dir, &ds) != 0) {
    err = errno == ENOENT ? GS_ENOTINIT : -errno;
    goto fail;
  }
#ifdef _WIN32 /* st_ino is 0 there: the volume serial and file index */
  if (gs_win_file_id(dir, &n->dev, &n->ino) != 0) {
    err = -errno;
    goto fail;
  }
#else
  n->dev = (uint64_t)ds.st_dev;
  n->ino = (uint64_t)ds.st_ino;
#endif
  if (already_open(n->dev, n->ino)) {
    err = GS_EBUSY;
    goto fail;
  }
  bool sealing;
  if ((err = node__path_join(path, sizeof path, dir, KEY_FILE)) != GS_OK ||
      (err = unlock(n, dir, &sealing)) != GS_OK)
    goto fail;
  /* the secret files of an earlier build (or of a sealing a crash cut
   * short) are sealed first: each is replaced atomically */
  if (access(path, F_OK) != 0) {
    err = GS_ENOTINIT;
    goto fail;
  }
  if ((err = node__seal_files(dir, n->dkey)) != GS_OK)
    goto fail;
  (void)sealing;
  store_opts so = {.key = n->dkey,
                   .progress = seal_progress,
                   .progress_ctx = seal_progress_ctx};
  if ((err = store_open_ex(dir, (flags & NODE_BULK) ? STORE_NOSYNC : 0, &so,
                           &n->st)) != GS_OK ||
      (err = node__secret_read(n, path, n->sk, CRDT_SK_LEN)) != GS_OK)
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
  /* the receive rule (stamps too far ahead are held) uses this node's
   * clock, which tests move */
  store_set_clock(n->st, n->clk.now_ms, n->clk.ctx);
  n->next_open = open_nodes;
  open_nodes = n;
  *out = n;
  return GS_OK;
fail:
  node_close(n);
  return err;
}

store *node__store(node *n)
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

bool node_today(const node *n, int days_back, char out[11])
{
  time_t t = (time_t)(node_now(n) / 1000) - (time_t)days_back * 86400;
  struct tm tm;
  if (localtime_r(&t, &tm) && strftime(out, 11, "%Y-%m-%d", &tm) == 10 &&
      node_date_valid(out, 10))
    return true;
  memcpy(out, "1970-01-01", 11);
  return false;
}

const char *node_dir(const node *n)
{
  return n->dir;
}

gs_err node_version(node *n, uint64_t *out)
{
  store_stats st;
  gs_err err = store_stats_get(n->st, &st);
  *out = err ? 0 : (uint64_t)st.changes;
  return err;
}

uint64_t node_now(const node *n)
{
  return n->clk.now_ms(n->clk.ctx);
}

void node_set_rng(node *n, const crdt_rng *rng)
{
  n->rng = rng;
}

/* Which process this is: a count of the forks that led to it, bumped in
 * each forked child (pthread_atfork), so that a child never hands out
 * its parent's pooled bytes. It replaces a getpid() per id, a system
 * call each time since glibc 2.25 (1.7% of a load's main thread).
 * Windows has no fork. */
#ifndef _WIN32
static atomic_uint fork_gen = 1;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_child(void)
{
  atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}
static void fork_watch(void)
{
  if (pthread_atfork(NULL, NULL, fork_child) != 0)
    atomic_store(&fork_gen, 0); /* unwatched: 0, getpid() each time */
}
static unsigned process_gen(void)
{
  pthread_once(&fork_once, fork_watch);
  unsigned g = atomic_load_explicit(&fork_gen, memory_order_relaxed);
  return g ? g : (unsigned)getpid() | 1u << 31;
}
#else
static unsigned process_gen(void)
{
  return 1;
}
#endif

/* The random part of an id from the node's pool (a crdt_rng fill). */
static void pool_fill(void *ctx, void *buf, size_t len)
{
  node *n = ctx;
  unsigned gen = process_gen();
  if (len > sizeof n->id_pool) {
    crdt_random(buf, len);
    return;
  }
  if (n->pool_left < len || n->pool_gen != gen) {
    crdt_random(n->id_pool, sizeof n->id_pool);
    n->pool_left = sizeof n->id_pool;
    n->pool_gen = gen;
  }
  uint8_t *p = n->id_pool + sizeof n->id_pool - n->pool_left;
  memcpy(buf, p, len); /* each byte handed out once */
  n->pool_left -= len;
}

void node_id_new(node *n, uint8_t id[CRDT_ID_LEN])
{
  crdt_rng pool = {.fill = pool_fill, .ctx = n};
  crdt_id_next(node_now(n), n->rng ? n->rng : &pool, n->last_id, id);
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
    crdt_id_owned(node_now(n), n->rng, n->last_id, n->pk, id);
    memcpy(n->last_id, id, CRDT_ID_LEN);
    if (tries == 8 || store_get(n->st, coll, coll_len, id, id_held, NULL) ==
                          GS_ENOTFOUND)
      return;
  }
}

gs_err node__write(node *n, const char *scope, size_t scope_len,
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

gs_err node__write_begin(node *n, struct store_write **out)
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

/* ---- issue 14: held changes, bad feeds, peer clocks ---- */

typedef struct held_ctx {
  node_held_cb cb;
  void *ctx;
} held_ctx;

static int on_held(void *ctx, const store_held *h)
{
  held_ctx *hc = ctx;
  const crdt_change *c = h->change;
  node_held_info info = {
      .origin = c->origin,
      .scope = c->scope,
      .scope_len = c->scope_len,
      .seq = c->seq,
      .stamp_ms = CRDT_HLC_MS(c->hlc),
      .clock_ahead = h->reason == STORE_HOLD_CLOCK,
      .reason = h->reason == STORE_HOLD_CLOCK
                    ? _("clock ahead: stamped more than a day ahead of this "
                      "computer's clock")
                : h->reason == STORE_HOLD_MEMBER
                    ? _("its author's membership has not arrived yet")
                    : _("waits for an earlier held change of its feed")};
  return hc->cb(hc->ctx, &info);
}

gs_err node_held(node *n, node_held_cb cb, void *ctx)
{
  held_ctx hc = {cb, ctx};
  return store_held_list(n->st, on_held, &hc);
}

/* The re-check of one held change: the same decision as on receipt. */
static int recheck_one(void *ctx, const crdt_change *c)
{
  node_policy *p = ctx;
  char why[200];
  gs_err err = node_policy_decide(p, c, why, sizeof why);
  return err == GS_OK ? STORE_HOLD_NONE
         : err == GS_EHELD ? STORE_HOLD_MEMBER
                           : -1;
}

gs_err node_held_recheck(node *n, size_t *applied)
{
  node_policy *p;
  store_stats st;
  store_result res = {.applied = 0};
  if (applied)
    *applied = 0;
  gs_err err = store_stats_get(n->st, &st);
  if (err || st.held == 0)
    return err;
  if ((err = node_policy_load(n, &p)) != GS_OK)
    return err;
  /* the checks run inside the retry's write transaction: witnesses they
   * make due are written after it, by node_policy_free */
  node__policy_defer(p, true);
  err = store_held_retry(n->st, recheck_one, p, &res);
  node__policy_defer(p, false);
  node_policy_free(p);
  if (applied)
    *applied = res.applied;
  return err;
}

typedef struct bad_ctx {
  node_bad_feed_cb cb;
  void *ctx;
} bad_ctx;

static int on_quar(void *ctx, const store_quar *q)
{
  bad_ctx *bc = ctx;
  node_bad_feed b = {
      .origin = q->origin,
      .scope = q->scope,
      .seq = q->seq,
      .at_ms = q->at_ms,
      .frozen = q->reason == STORE_BAD_FORK,
      .reason = q->reason == STORE_BAD_FORK
                    ? _("fork: its author signed two different changes for "
                      "one place in the feed (a laptop restored from an old "
                      "backup, or a modified build)")
                : q->reason == STORE_BAD_GAP
                    ? _("a change that skips others was received")
                : q->reason == STORE_BAD_CHAIN
                    ? _("a change that does not follow the one held was "
                      "received")
                : q->reason == STORE_BAD_QUOTA
                    ? _("its author went over a quota (feeds, changes or "
                      "bytes per member)")
                    : _("a change with a bad signature was received")};
  return bc->cb(bc->ctx, &b);
}

gs_err node_bad_feeds(node *n, node_bad_feed_cb cb, void *ctx)
{
  bad_ctx bc = {cb, ctx};
  return store_quar_list(n->st, on_quar, &bc);
}

#define PEER_CLOCK_KEY "peer_clock"

static void be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

gs_err node_peer_clock_get(node *n, node_peer_clock *out)
{
  uint8_t b[16 + sizeof out->addr];
  size_t len;
  memset(out, 0, sizeof *out);
  gs_err err = store_meta_get(n->st, PEER_CLOCK_KEY, b, sizeof b, &len);
  if (err)
    return err;
  if (len == 0)
    return GS_ENOTFOUND; /* cleared */
  if (len < 16 || len > sizeof b)
    return GS_ECORRUPT;
  out->own_ms = get64(b);
  out->peer_ms = get64(b + 8);
  memcpy(out->addr, b + 16, len - 16 < sizeof out->addr - 1
                                ? len - 16
                                : sizeof out->addr - 1);
  return GS_OK;
}

static void date_text(uint64_t ms, char *out, size_t cap)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%d", &tm))
    snprintf(out, cap, "?");
}

static void clock_sentence(const node_peer_clock *pc, char *why,
                           size_t whylen)
{
  char own[32], peer[32];
  date_text(pc->own_ms, own, sizeof own);
  date_text(pc->peer_ms, peer, sizeof peer);
  snprintf(why, whylen,
           _("this computer's date is %s, the peer's (%.100s) is %s: set the "
           "date "
           "on the one that is wrong"),
           own, pc->addr, peer);
}

bool node_note_peer_clock(node *n, const char *addr, uint64_t own_ms,
                          uint64_t peer_ms, char *why, size_t whylen)
{
  uint64_t d = own_ms > peer_ms ? own_ms - peer_ms : peer_ms - own_ms;
  node_peer_clock old;
  bool had = node_peer_clock_get(n, &old) == GS_OK;
  if (d <= STORE_AHEAD_MAX_MS) {
    if (had)
      store_meta_put(n->st, PEER_CLOCK_KEY, "", 0); /* they agree now */
    if (whylen)
      why[0] = '\0';
    return false;
  }
  node_peer_clock pc = {.own_ms = own_ms, .peer_ms = peer_ms};
  snprintf(pc.addr, sizeof pc.addr, "%s", addr ? addr : "");
  uint8_t b[16 + sizeof pc.addr];
  size_t al = strlen(pc.addr);
  be64(b, own_ms);
  be64(b + 8, peer_ms);
  memcpy(b + 16, pc.addr, al);
  store_meta_put(n->st, PEER_CLOCK_KEY, b, 16 + al);
  clock_sentence(&pc, why, whylen);
  return true;
}

typedef struct any_ctx {
  bool clock;
} any_ctx;

static int on_any_held(void *ctx, const store_held *h)
{
  any_ctx *a = ctx;
  if (h->reason == STORE_HOLD_CLOCK) {
    a->clock = true;
    return 1;
  }
  return 0;
}

size_t node_warnings(node *n, const char **out, size_t max)
{
  size_t k = 0;
  node_peer_clock pc;
  store_stats st;
  if (k < max && node_peer_clock_get(n, &pc) == GS_OK) {
    clock_sentence(&pc, n->clock_warning, sizeof n->clock_warning);
    out[k++] = n->clock_warning;
  }
  if (store_stats_get(n->st, &st) == GS_OK) {
    any_ctx a = {false};
    if (st.held && store_held_list(n->st, on_any_held, &a) == GS_OK &&
        a.clock && k < max)
      out[k++] = _("changes stamped more than a day ahead of this computer's "
                 "clock are held (see \"held\": their author's clock is "
                 "ahead); they apply when this clock catches up");
    if (st.quarantined && k < max)
      out[k++] = _("a bad change was received in some feeds (see "
                 "\"quarantined\"): they are set apart, all other feeds sync "
                 "as usual");
  }
  if (k < max && node_now(n) < SANE_EPOCH_MS)
    out[k++] = _("this computer's clock is before 2024: set the date and time "
               "(stamps still order correctly, but concurrent edits made "
               "here lose ties)");
  if (k < max && node_clock_skew_ms(n) > SKEW_WARN_MS)
    out[k++] = _("stamps seen are ahead of this computer's clock by more than "
               "5 minutes: this clock is slow or a peer's is fast");
  return k;
}
