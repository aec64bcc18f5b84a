/* The node's data key (issue 19): made at init, wrapped by an Argon2id
 * key from the passphrase in seal.key, unwrapped once per start; the
 * secret files sealed under it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node.h"
#include "node/node_internal.h"

/* seal.key, 120 bytes:
 *   0  "GSSEAL1\n"
 *   8  mode: 0 open (the data key as it is, at 48), 1 passphrase
 *   9  algorithm: 2 (Argon2id v1.3)
 *  10  zero (6)
 *  16  opslimit, big-endian (8)
 *  24  memlimit in bytes, big-endian (8)
 *  32  salt (16)
 *  48  the data key sealed under the Argon2id key, bytes 0..47 as
 *      associated data (72); open mode: the key (32), then zeros
 * The parameters are stored with the salt so that they can change later
 * (a new `gridsync passphrase` writes the current defaults). */
#define HDR_LEN 120
#define HDR_MAGIC "GSSEAL1\n"
#define HDR_AD 48
#define ALG_ARGON2ID13 2

static node_pass_fn pass_fn;
static void *pass_ctx;

void node_set_pass_source(node_pass_fn fn, void *ctx)
{
  pass_fn = fn;
  pass_ctx = ctx;
}

static void be64_put(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

/* The passphrase: from the source the front end set, else
 * GRIDSYNC_PASSPHRASE. GS_ELOCKED when there is none. */
static gs_err get_pass(node_pass_kind kind, char *buf, size_t cap,
                       size_t *len)
{
  if (pass_fn)
    return pass_fn(pass_ctx, kind, buf, cap, len);
  const char *e = getenv("GRIDSYNC_PASSPHRASE");
  if (!e || !*e)
    return GS_ELOCKED;
  size_t n = strlen(e);
  if (n >= cap)
    return GS_ETOOBIG;
  memcpy(buf, e, n + 1);
  *len = n;
  return GS_OK;
}

/* Argon2id limits for a new header: NODE_PWHASH_OPS/MEM, or
 * GRIDSYNC_PWHASH_LIMITS=OPS,KIB (tests; bounded by crdt_pwhash). */
static void new_limits(uint64_t *ops, uint64_t *mem)
{
  *ops = NODE_PWHASH_OPS;
  *mem = NODE_PWHASH_MEM;
  const char *e = getenv("GRIDSYNC_PWHASH_LIMITS");
  unsigned long long o, m;
  if (e && sscanf(e, "%llu,%llu", &o, &m) == 2 && o >= CRDT_PWHASH_OPS_MIN &&
      o <= CRDT_PWHASH_OPS_MAX && m <= CRDT_PWHASH_MEM_MAX / 1024 &&
      m * 1024 >= CRDT_PWHASH_MEM_MIN) {
    *ops = o;
    *mem = m * 1024;
  }
}

/* Characters (code points) of UTF-8 text. */
static size_t utf8_chars(const char *p, size_t n)
{
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)p[i] & 0xc0) != 0x80;
  return c;
}

static gs_err hdr_path(const char *dir, char *out, size_t cap)
{
  return node__path_join(out, cap, dir, NODE_SEAL_FILE);
}

/* Write the header atomically: a temporary file, fsync, rename, fsync
 * of the directory. */
static gs_err hdr_write(const char *dir, const uint8_t h[HDR_LEN])
{
  char path[4200], tmp[4300];
  gs_err err = hdr_path(dir, path, sizeof path);
  if (err)
    return err;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  errno = 0;
  if (write(fd, h, HDR_LEN) != HDR_LEN || fsync(fd) != 0)
    err = errno ? -errno : GS_EINVAL;
  close(fd);
  if (!err && rename(tmp, path) != 0)
    err = -errno;
  if (err)
    unlink(tmp);
  return err ? err : node__fsync_dir(dir);
}

/* A new header wrapping key: open, or under a new passphrase (asked
 * twice by the source; at least NODE_PASS_MIN characters). */
static gs_err hdr_make(const uint8_t key[CRDT_SEAL_KEY_LEN], bool open_node,
                       uint8_t h[HDR_LEN])
{
  char *pass = crdt_secret_alloc(NODE_PASS_MAX + 1);
  uint8_t *kek = crdt_secret_alloc(CRDT_SEAL_KEY_LEN);
  size_t len = 0;
  gs_err err = GS_OK;
  if (!pass || !kek) {
    err = GS_ENOMEM;
    goto out;
  }
  memset(h, 0, HDR_LEN);
  memcpy(h, HDR_MAGIC, 8);
  h[9] = ALG_ARGON2ID13;
  if (open_node) {
    memcpy(h + HDR_AD, key, CRDT_SEAL_KEY_LEN);
    goto out;
  }
  h[8] = 1;
  uint64_t ops, mem;
  new_limits(&ops, &mem);
  be64_put(h + 16, ops);
  be64_put(h + 24, mem);
  crdt_random(h + 32, CRDT_SALT_LEN);
  if ((err = get_pass(NODE_PASS_NEW, pass, NODE_PASS_MAX + 1, &len)) != GS_OK)
    goto out;
  if (utf8_chars(pass, len) < NODE_PASS_MIN) {
    err = GS_EPASSSHORT;
    goto out;
  }
  if ((err = crdt_pwhash(kek, pass, len, h + 32, ops, mem)) != GS_OK)
    goto out;
  crdt_seal(kek, h, HDR_AD, key, CRDT_SEAL_KEY_LEN, h + HDR_AD);
out:
  crdt_secret_free(pass);
  crdt_secret_free(kek);
  return err;
}

gs_err node__seal_create(const char *dir, bool open_node,
                         uint8_t key[CRDT_SEAL_KEY_LEN])
{
  uint8_t h[HDR_LEN];
  crdt_random(key, CRDT_SEAL_KEY_LEN);
  gs_err err = hdr_make(key, open_node, h);
  if (!err)
    err = hdr_write(dir, h);
  crdt_wipe(h, sizeof h);
  return err;
}

gs_err node__seal_unlock(const char *dir, uint8_t key[CRDT_SEAL_KEY_LEN],
                         bool *open_node)
{
  char path[4200];
  uint8_t h[HDR_LEN];
  gs_err err = hdr_path(dir, path, sizeof path);
  if (err)
    return err;
  if ((err = node__file_read(path, h, HDR_LEN)) != GS_OK)
    return err;
  if (memcmp(h, HDR_MAGIC, 8) != 0 || h[8] > 1 || h[9] != ALG_ARGON2ID13)
    return GS_ECORRUPT;
  *open_node = h[8] == 0;
  if (*open_node) {
    memcpy(key, h + HDR_AD, CRDT_SEAL_KEY_LEN);
    crdt_wipe(h, sizeof h);
    return GS_OK;
  }
  uint64_t ops = be64_get(h + 16), mem = be64_get(h + 24);
  if (ops < CRDT_PWHASH_OPS_MIN || ops > CRDT_PWHASH_OPS_MAX ||
      mem < CRDT_PWHASH_MEM_MIN || mem > CRDT_PWHASH_MEM_MAX)
    return GS_ECORRUPT; /* a header that would hang or exhaust the machine */
  char *pass = crdt_secret_alloc(NODE_PASS_MAX + 1);
  uint8_t *kek = crdt_secret_alloc(CRDT_SEAL_KEY_LEN);
  size_t len = 0;
  if (!pass || !kek) {
    err = GS_ENOMEM;
    goto out;
  }
  if ((err = get_pass(NODE_PASS_UNLOCK, pass, NODE_PASS_MAX + 1, &len)) ||
      (err = crdt_pwhash(kek, pass, len, h + 32, ops, mem)))
    goto out;
  if (crdt_seal_open(kek, h, HDR_AD, h + HDR_AD, HDR_LEN - HDR_AD, key) !=
      GS_OK)
    err = GS_EPASS;
out:
  crdt_secret_free(pass);
  crdt_secret_free(kek);
  return err;
}

gs_err node_passphrase_change(const char *dir, bool open_node)
{
  uint8_t h[HDR_LEN];
  bool was_open;
  gs_err err = crdt_crypto_init();
  if (err)
    return err;
  uint8_t *key = crdt_secret_alloc(CRDT_SEAL_KEY_LEN);
  if (!key)
    return GS_ENOMEM;
  if ((err = node__seal_unlock(dir, key, &was_open)) == GS_OK &&
      (err = hdr_make(key, open_node, h)) == GS_OK)
    err = hdr_write(dir, h);
  crdt_wipe(h, sizeof h);
  crdt_secret_free(key);
  return err;
}

/* ---- secret files: "GSSEALF1" then crdt_seal under the data key, the
 * file's name as associated data ---- */

#define FILE_MAGIC "GSSEALF1"

static size_t file_ad(const char *path, uint8_t *ad, size_t cap)
{
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t n = strlen(base);
  if (14 + n > cap)
    return 0;
  memcpy(ad, "gridsync-file", 14); /* with its 0 */
  memcpy(ad + 14, base, n);
  return 14 + n;
}

/* Seal buf into a new file at path, bound to the name of adpath. */
static gs_err seal_write(const uint8_t key[CRDT_SEAL_KEY_LEN],
                         const char *path, const char *adpath,
                         const uint8_t *buf, size_t n)
{
  uint8_t ad[300], b[8 + 256 + CRDT_SEAL_OVERHEAD];
  size_t adn = file_ad(adpath, ad, sizeof ad);
  if (!adn || n > 256)
    return GS_EINVAL;
  memcpy(b, FILE_MAGIC, 8);
  crdt_seal(key, ad, adn, buf, n, b + 8);
  gs_err err = node__file_write(path, b, 8 + n + CRDT_SEAL_OVERHEAD);
  crdt_wipe(b, sizeof b);
  return err;
}

gs_err node__seal_file_write(const uint8_t key[CRDT_SEAL_KEY_LEN],
                             const char *path, const uint8_t *buf, size_t n)
{
  return seal_write(key, path, path, buf, n);
}

gs_err node__seal_file_read(const uint8_t key[CRDT_SEAL_KEY_LEN],
                            const char *path, uint8_t *buf, size_t n)
{
  uint8_t ad[300], b[8 + 256 + CRDT_SEAL_OVERHEAD];
  size_t adn = file_ad(path, ad, sizeof ad);
  if (!adn || n > 256)
    return GS_EINVAL;
  gs_err err = node__file_read(path, b, 8 + n + CRDT_SEAL_OVERHEAD);
  if (err)
    return err;
  if (memcmp(b, FILE_MAGIC, 8) != 0)
    err = GS_ECORRUPT;
  else if (crdt_seal_open(key, ad, adn, b + 8, n + CRDT_SEAL_OVERHEAD, buf))
    err = GS_ESEAL;
  crdt_wipe(b, sizeof b);
  return err;
}

gs_err node__seal_files(const char *dir, const uint8_t key[CRDT_SEAL_KEY_LEN])
{
  DIR *d = opendir(dir);
  if (!d)
    return -errno;
  gs_err err = GS_OK;
  struct dirent *e;
  while (!err && (e = readdir(d)) != NULL) {
    size_t ln = strlen(e->d_name);
    char path[4400];
    struct stat sb;
    uint8_t b[256];
    if (ln < 5 || strcmp(e->d_name + ln - 4, ".key") != 0 ||
        strcmp(e->d_name, NODE_SEAL_FILE) == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        sb.st_size > (off_t)sizeof b)
      continue;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t got = read(fd, b, sizeof b);
    close(fd);
    if (got != sb.st_size || (got >= 8 && memcmp(b, FILE_MAGIC, 8) == 0))
      continue; /* sealed already */
    /* a plain secret of an earlier build: sealed, replaced atomically */
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    if ((err = seal_write(key, tmp, path, b, (size_t)got)) == GS_OK &&
        rename(tmp, path) != 0)
      err = -errno;
    crdt_wipe(b, sizeof b);
  }
  closedir(d);
  return err ? err : node__fsync_dir(dir);
}
