/* Backups, restore, compaction and the doctor (see admin.h). */
#include "node/admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifndef _WIN32 /* GetDiskFreeSpaceExW there: win/gs_win.c */
#include <sys/statvfs.h>
#include <sys/wait.h>
#endif
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "crdt/gs_i18n.h"
#include "node/node_internal.h"
#include "storage/store.h"

#define MAGIC "GSBACKUP"
#define END_MAGIC "GSBKEND1"
#define VERSION 1
#define HEAD_FIXED (8 + 4 + 16 + 8 + CRDT_KEY_LEN + 2)
#define TRAILER (8 + CRDT_HASH_LEN + 8)
#define CHUNK (64 * 1024)
#define RESTORED_META "restored_from"
/* the doctor: less free space than this (or than the store) is a problem */
#define FREE_MIN_BYTES (64ULL * 1024 * 1024)
#define SANE_EPOCH_MS 1704067200000ULL /* 2024-01-01, as node.c */

static void put64(uint8_t *p, uint64_t v)
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

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec < 0 ? 0
                       : (uint64_t)ts.tv_sec * 1000 +
                             (uint64_t)ts.tv_nsec / 1000000;
}

static gs_err write_all(int fd, const void *buf, size_t n)
{
  const uint8_t *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return GS_OK;
}

/* Read exactly n bytes: GS_ETRUNC at an early end of file. */
static gs_err read_all(int fd, void *buf, size_t n)
{
  uint8_t *p = buf;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      return GS_ETRUNC;
    p += r;
    n -= (size_t)r;
  }
  return GS_OK;
}

/* A name a backup may hold, and restore may create: no path. */
static bool name_ok(const char *s, size_t n)
{
  if (n == 0 || n > NODE_BACKUP_NAME_MAX || s[0] == '.')
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The directory's files a backup carries (admin.h). */
static bool file_carried(const char *name)
{
  return name_ok(name, strlen(name)) && strcmp(name, "data.mdb") != 0 &&
         strcmp(name, "lock.mdb") != 0 && strcmp(name, "ui.addr") != 0 &&
         strcmp(name, "seal.lock") != 0 && strcmp(name, "unlock.sock") != 0 &&
         !ends_with(name, ".part") && !ends_with(name, ".log") &&
         !ends_with(name, ".tmp");
}

/* The data key of the node in dir (issue 19): from its serving node over
 * the unlock socket when one runs (the key must open identity.key), else
 * unwrapped from seal.key (the passphrase from --passphrase-file,
 * GRIDSYNC_PASSPHRASE or the terminal). *sealed is false for a
 * directory of an earlier build (no seal.key): its store is not sealed.
 * key is secret memory the caller frees with crdt_secret_free. */
static gs_err admin_key(const char *dir, uint8_t *key, bool *sealed)
{
  char path[4200];
  uint8_t sk[CRDT_SK_LEN];
  bool open_node = false;
  gs_err err;
  *sealed = true;
  if ((err = crdt_crypto_init()) != GS_OK)
    return err;
  if (node__path_join(path, sizeof path, dir, "identity.key") == GS_OK &&
      node__unlock_ask(dir, key) == GS_OK) {
    err = node__seal_file_read(key, path, sk, sizeof sk);
    crdt_wipe(sk, sizeof sk);
    if (err == GS_OK)
      return GS_OK;
  }
  err = node__seal_unlock(dir, key, &open_node);
  if (err == GS_ENOTINIT) {
    /* no seal.key: an earlier build's directory, if it has a store */
    if ((err = node__path_join(path, sizeof path, dir, "data.mdb")))
      return err;
    if (access(path, F_OK) != 0)
      return GS_ENOTINIT;
    *sealed = false;
    return GS_OK;
  }
  return err;
}

static int seal_mode(const char *dir);

/* Every store this file opens by directory (compact, restore, the
 * doctor) is opened here, with the node's data key when it is sealed. */
static gs_err open_store_key(const char *dir, unsigned flags,
                             const uint8_t *key, store **out)
{
  store_opts o = {key, NULL, NULL};
  /* a sealing a crash cut short resumes here: the front end shows it */
  node__seal_progress(&o.progress, &o.progress_ctx);
  return store_open_ex(dir, flags, &o, out);
}

static gs_err open_store(const char *dir, unsigned flags, store **out)
{
  gs_err err = crdt_crypto_init();
  if (err)
    return err;
  uint8_t *key = crdt_secret_alloc(CRDT_SEAL_KEY_LEN);
  bool sealed = false;
  if (key == NULL)
    return GS_ENOMEM;
  if ((err = admin_key(dir, key, &sealed)) == GS_OK)
    err = open_store_key(dir, flags, sealed ? key : NULL, out);
  crdt_secret_free(key);
  return err;
}

/* A new file holding exactly these bytes, as they were in the backed-up
 * directory (sealed files stay sealed): O_EXCL, 0600, fsynced. */
static gs_err file_write_new(const char *path, const uint8_t *buf, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  gs_err err = write_all(fd, buf, n);
  if (!err && fsync(fd) != 0)
    err = -errno;
  if (close(fd) != 0 && !err)
    err = -errno;
  if (err)
    unlink(path);
  return err;
}

/* ---- the store copy, through a pipe: a thread runs LMDB's copy while
 * this one hashes, writes and reports progress ---- */

typedef struct copy_job {
  store *st;
  int wfd;
  gs_err err;
} copy_job;

static void copy_main(void *arg)
{
  copy_job *j = arg;
  j->err = store_copy_fd(j->st, j->wfd, true);
  close(j->wfd);
}

typedef struct progress {
  node_copy_progress_cb cb;
  void *ctx;
  uint64_t total, last_ms, last_done;
  bool said;
} progress;

static void progress_tick(progress *p, uint64_t done, bool last)
{
  if (!p->cb)
    return;
  uint64_t t = now_ms();
  if (!last && t < p->last_ms + 250)
    return;
  if (last && p->said && done == p->last_done)
    return; /* said already */
  p->last_ms = t;
  p->last_done = done;
  p->said = true;
  /* the total is an estimate until the end */
  p->cb(p->ctx, done, last ? done : p->total);
}

/* Copy st compacted to out (hashed into h when not NULL); *bytes gets
 * the copy's length. Whatever fails, the pipe is drained so that the
 * copying thread ends. */
static gs_err copy_store(store *st, int out, crdt_hasher *h, progress *pg,
                         uint64_t *bytes)
{
  int fds[2];
  uint8_t *buf = malloc(CHUNK);
  gs_err err = GS_OK;
  uv_thread_t t;
  *bytes = 0;
  if (!buf)
    return GS_ENOMEM;
  if (pipe(fds) != 0) {
    free(buf);
    return -errno;
  }
  copy_job job = {.st = st, .wfd = fds[1], .err = GS_OK};
  if (uv_thread_create(&t, copy_main, &job) != 0) {
    close(fds[0]);
    close(fds[1]);
    free(buf);
    return GS_ENOMEM;
  }
  for (;;) {
    ssize_t r = read(fds[0], buf, CHUNK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      /* not seen on a pipe of our own; the copy's next write then fails
       * (EPIPE, or SIGPIPE where it is not ignored) */
      err = -errno;
      close(fds[0]);
      fds[0] = -1;
      break;
    }
    if (r == 0)
      break;
    if (err == GS_OK) {
      if (h)
        crdt_hasher_update(h, buf, (size_t)r);
      err = write_all(out, buf, (size_t)r);
      *bytes += (uint64_t)r;
      progress_tick(pg, *bytes, false);
    }
  }
  uv_thread_join(&t);
  if (fds[0] >= 0)
    close(fds[0]);
  free(buf);
  if (err == GS_OK)
    err = job.err;
  if (err == GS_OK)
    progress_tick(pg, *bytes, true);
  return err;
}

static uint64_t store_estimate(store *st)
{
  store_stats s;
  return store_stats_get(st, &s) == GS_OK ? s.used_bytes : 0;
}

/* ---- backup ---- */

typedef struct small_file {
  char name[NODE_BACKUP_NAME_MAX + 1];
  uint8_t *bytes;
  size_t n;
} small_file;

/* Read the directory's carried files (at most max) into files. */
static gs_err read_small_files(const char *dir, small_file *files, size_t max,
                               size_t *nfiles)
{
  char path[4200];
  gs_err err = GS_OK;
  *nfiles = 0;
  DIR *d = opendir(dir);
  if (!d)
    return -errno;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!file_carried(e->d_name))
      continue;
    if ((err = node__path_join(path, sizeof path, dir, e->d_name)))
      break;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      continue; /* a link, or gone meanwhile */
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > (off_t)NODE_BACKUP_FILE_MAX) {
      close(fd); /* not a small file: not part of the node */
      continue;
    }
    if (*nfiles == max) {
      close(fd);
      err = GS_ETOOBIG;
      break;
    }
    small_file *f = &files[*nfiles];
    f->n = (size_t)sb.st_size;
    if (!(f->bytes = malloc(f->n ? f->n : 1))) {
      close(fd);
      err = GS_ENOMEM;
      break;
    }
    memcpy(f->name, e->d_name, strlen(e->d_name) + 1); /* name_ok: fits */
    err = read_all(fd, f->bytes, f->n);
    close(fd);
    if (err) {
      crdt_wipe(f->bytes, f->n);
      free(f->bytes);
      break;
    }
    if (f->n >= 8 && memcmp(f->bytes, MAGIC, 8) == 0) {
      free(f->bytes); /* an earlier backup kept in the directory */
      continue;
    }
    (*nfiles)++;
  }
  closedir(d);
  return err;
}

static void free_small_files(small_file *files, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    crdt_wipe(files[i].bytes, files[i].n);
    free(files[i].bytes);
  }
}

gs_err node_backup(node *n, const char *file, node_copy_progress_cb progress_cb,
                   void *pctx, node_backup_info *out)
{
  char part[4200];
  small_file files[NODE_BACKUP_FILES_MAX];
  size_t nfiles = 0;
  node_backup_info info;
  crdt_hasher h;
  uint8_t head[HEAD_FIXED], tail[TRAILER];
  int fd = -1;
  gs_err err;

  memset(&info, 0, sizeof info);
  if ((size_t)snprintf(part, sizeof part, "%s.part", file) >= sizeof part)
    return GS_EINVAL;
  if ((err = read_small_files(node_dir(n), files, NODE_BACKUP_FILES_MAX,
                              &nfiles)))
    goto out;
  fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = -errno;
    goto out;
  }
  crdt_random(info.id, sizeof info.id);
  info.created_ms = node_now(n);
  memcpy(info.node_pk, node_pk(n), CRDT_KEY_LEN);
  memcpy(head, MAGIC, 8);
  head[8] = VERSION;
  head[9] = head[10] = head[11] = 0;
  memcpy(head + 12, info.id, 16);
  put64(head + 28, info.created_ms);
  memcpy(head + 36, info.node_pk, CRDT_KEY_LEN);
  head[68] = (uint8_t)(nfiles >> 8);
  head[69] = (uint8_t)nfiles;
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, head, sizeof head);
  if ((err = write_all(fd, head, sizeof head)))
    goto out;
  uint64_t total = sizeof head;
  for (size_t i = 0; i < nfiles; i++) {
    uint8_t fh[5];
    size_t nl = strlen(files[i].name);
    fh[0] = (uint8_t)nl;
    fh[1] = (uint8_t)(files[i].n >> 24);
    fh[2] = (uint8_t)(files[i].n >> 16);
    fh[3] = (uint8_t)(files[i].n >> 8);
    fh[4] = (uint8_t)files[i].n;
    crdt_hasher_update(&h, fh, 1);
    crdt_hasher_update(&h, files[i].name, nl);
    crdt_hasher_update(&h, fh + 1, 4);
    crdt_hasher_update(&h, files[i].bytes, files[i].n);
    if ((err = write_all(fd, fh, 1)) || (err = write_all(fd, files[i].name, nl)) ||
        (err = write_all(fd, fh + 1, 4)) ||
        (err = write_all(fd, files[i].bytes, files[i].n)))
      goto out;
    snprintf(info.names[i], sizeof info.names[i], "%s", files[i].name);
    total += 5 + nl + files[i].n;
  }
  info.nfiles = nfiles;
  progress pg = {progress_cb, pctx, store_estimate(node__store(n)), 0, 0, false};
  if ((err = copy_store(node__store(n), fd, &h, &pg, &info.store_bytes)))
    goto out;
  put64(tail, info.store_bytes);
  crdt_hasher_update(&h, tail, 8);
  crdt_hasher_final(&h, tail + 8);
  memcpy(tail + 8 + CRDT_HASH_LEN, END_MAGIC, 8);
  if ((err = write_all(fd, tail, sizeof tail)))
    goto out;
  if (fsync(fd) != 0) {
    err = -errno;
    goto out;
  }
  info.file_bytes = total + info.store_bytes + sizeof tail;
  if (close(fd) != 0) {
    fd = -1;
    err = -errno;
    goto out;
  }
  fd = -1;
  if (rename(part, file) != 0) {
    err = -errno;
    goto out;
  }
  /* the new name must survive a power cut too */
  char dirbuf[4200];
  snprintf(dirbuf, sizeof dirbuf, "%s", file);
  char *slash = strrchr(dirbuf, '/');
  if (slash == dirbuf)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dirbuf, sizeof dirbuf, ".");
  err = node__fsync_dir(dirbuf);
  if (out)
    *out = info;
out:
  if (fd >= 0) {
    close(fd);
    unlink(part);
  } else if (err) {
    unlink(part);
  }
  free_small_files(files, nfiles);
  return err;
}

/* ---- reading a backup ---- */

/* Read the header and files of the backup open on fd (size bytes long)
 * into info and, when files is not NULL, the files' bytes; hash them
 * into h. *store_at gets the offset of the store copy. */
static gs_err read_head(int fd, uint64_t size, node_backup_info *info,
                        small_file *files, crdt_hasher *h, uint64_t *store_at)
{
  uint8_t head[HEAD_FIXED];
  gs_err err;
  memset(info, 0, sizeof *info);
  if (size < 8)
    return GS_ETRUNC;
  if ((err = read_all(fd, head, 8)))
    return err;
  if (memcmp(head, MAGIC, 8) != 0)
    return GS_EDECODE;
  if (size < HEAD_FIXED + TRAILER)
    return GS_ETRUNC;
  if ((err = read_all(fd, head + 8, sizeof head - 8)))
    return err;
  if (head[8] != VERSION)
    return GS_EVERSION;
  crdt_hasher_update(h, head, sizeof head);
  memcpy(info->id, head + 12, 16);
  info->created_ms = get64(head + 28);
  memcpy(info->node_pk, head + 36, CRDT_KEY_LEN);
  size_t nfiles = (size_t)head[68] << 8 | head[69];
  if (nfiles > NODE_BACKUP_FILES_MAX)
    return GS_ETOOBIG;
  uint64_t at = sizeof head;
  for (size_t i = 0; i < nfiles; i++) {
    uint8_t nl, sz[4];
    char name[NODE_BACKUP_NAME_MAX + 1];
    if ((err = read_all(fd, &nl, 1)))
      return err;
    if (nl == 0 || nl > NODE_BACKUP_NAME_MAX)
      return GS_EDECODE;
    if ((err = read_all(fd, name, nl)) || (err = read_all(fd, sz, 4)))
      return err;
    name[nl] = '\0';
    uint32_t n = (uint32_t)sz[0] << 24 | (uint32_t)sz[1] << 16 |
                 (uint32_t)sz[2] << 8 | sz[3];
    if (!name_ok(name, nl) || !file_carried(name))
      return GS_EDECODE;
    if (n > NODE_BACKUP_FILE_MAX)
      return GS_ETOOBIG;
    at += 5 + nl + n;
    if (at + TRAILER > size)
      return GS_ETRUNC;
    uint8_t *bytes = malloc(n ? n : 1);
    if (!bytes)
      return GS_ENOMEM;
    if ((err = read_all(fd, bytes, n))) {
      free(bytes);
      return err;
    }
    crdt_hasher_update(h, &nl, 1);
    crdt_hasher_update(h, name, nl);
    crdt_hasher_update(h, sz, 4);
    crdt_hasher_update(h, bytes, n);
    memcpy(info->names[i], name, (size_t)nl + 1);
    info->nfiles = i + 1;
    if (files) {
      memcpy(files[i].name, name, (size_t)nl + 1);
      files[i].bytes = bytes;
      files[i].n = n;
    } else {
      crdt_wipe(bytes, n);
      free(bytes);
    }
  }
  *store_at = at;
  info->file_bytes = size;
  info->store_bytes = size - at - TRAILER;
  return GS_OK;
}

/* Read the store copy (info->store_bytes from the current position)
 * into out (or nowhere when out < 0), then check the trailer. */
static gs_err read_store(int fd, int out, const node_backup_info *info,
                         crdt_hasher *h, progress *pg)
{
  uint8_t *buf = malloc(CHUNK), tail[TRAILER], sum[CRDT_HASH_LEN];
  uint64_t left = info->store_bytes, done = 0;
  gs_err err = GS_OK;
  if (!buf)
    return GS_ENOMEM;
  while (left && !err) {
    size_t k = left < CHUNK ? (size_t)left : CHUNK;
    if ((err = read_all(fd, buf, k)))
      break;
    crdt_hasher_update(h, buf, k);
    if (out >= 0)
      err = write_all(out, buf, k);
    left -= k;
    done += k;
    progress_tick(pg, done, false);
  }
  free(buf);
  if (err)
    return err;
  if ((err = read_all(fd, tail, sizeof tail)))
    return err;
  if (memcmp(tail + 8 + CRDT_HASH_LEN, END_MAGIC, 8) != 0 ||
      get64(tail) != info->store_bytes)
    return GS_ETRUNC; /* no trailer where the file ends: cut short */
  crdt_hasher_update(h, tail, 8);
  crdt_hasher_final(h, sum);
  if (memcmp(sum, tail + 8, CRDT_HASH_LEN) != 0)
    return GS_ECORRUPT;
  progress_tick(pg, done, true);
  return GS_OK;
}

static gs_err open_backup(const char *file, int *fd, uint64_t *size)
{
  struct stat sb;
  *fd = open(file, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return errno == ENOENT ? GS_ENOTFOUND : -errno;
  if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(*fd);
    *fd = -1;
    return GS_EINVAL;
  }
  *size = (uint64_t)sb.st_size;
  return GS_OK;
}

gs_err node_backup_check(const char *file, node_backup_info *out)
{
  int fd;
  uint64_t size = 0, at;
  crdt_hasher h;
  node_backup_info info;
  gs_err err = open_backup(file, &fd, &size);
  if (err)
    return err;
  crdt_hasher_init(&h);
  progress pg = {NULL, NULL, 0, 0, 0, false};
  if ((err = read_head(fd, size, &info, NULL, &h, &at)) == GS_OK &&
      (err = read_store(fd, -1, &info, &h, &pg)) == GS_OK && out)
    *out = info;
  close(fd);
  return err;
}

/* ---- restore ---- */

/* Remove dir and the files directly in it (a restore's work directory). */
static void remove_tree(const char *dir)
{
  char path[4200];
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      if (node__path_join(path, sizeof path, dir, e->d_name) == GS_OK)
        unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* Read the restored store in work back whole (store_check) before it is
 * taken: a backup is a file from outside, and LMDB trusts its pages, so
 * a damaged or crafted data.mdb could crash the reader. The reading is
 * done by a child process, so a crash there is a refusal here
 * (GS_ECORRUPT), not a crash of the restore. On Windows (no fork) it is
 * read in this process. */
static gs_err probe_store(const char *work, const uint8_t *key)
{
#ifdef _WIN32
  store *st = NULL;
  gs_err err = open_store_key(work, STORE_RDONLY, key, &st);
  if (!err)
    err = store_check(st, NULL);
  store_close(st);
  return err == GS_ENOMEM || err == GS_EPASS ? err : err ? GS_ECORRUPT : GS_OK;
#else
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -errno;
  if (pid == 0) {
    /* what a crash here would print is not for the person restoring:
     * the parent says what happened */
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0)
      dup2(null, STDERR_FILENO);
    store *st = NULL;
    gs_err err = store_open_ex(work, STORE_RDONLY,
                               &(store_opts){key, NULL, NULL}, &st);
    if (!err)
      err = store_check(st, NULL);
    store_close(st);
    _exit(err == GS_OK ? 0 : err == GS_ENOMEM ? 2 : 1);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return GS_OK;
  return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? GS_ENOMEM
                                                       : GS_ECORRUPT;
#endif
}

/* GS_OK when dir does not exist or is an empty directory. */
static gs_err target_free(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return errno == ENOENT ? GS_OK : errno == ENOTDIR ? GS_EEXIST : -errno;
  struct dirent *e;
  gs_err err = GS_OK;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      err = GS_EEXIST;
      break;
    }
  closedir(d);
  return err;
}

/* The restored node's own identity in the work directory: a new key
 * pair (identity.key, written as node_init writes it) and the store's
 * meta naming it, with where it came from. The one place where a
 * restore writes a secret: with sealed stores (issue 19) identity.key is
 * sealed under key, the data key of the restored seal.key (unlocked with
 * the backed-up node's passphrase), and the store opened with that key
 * seals the meta values. key NULL: a backup without seal.key (an
 * earlier build's), restored as that build's directory; the first open
 * with a passphrase seals it in place (node_open). */
static gs_err new_identity(const char *work, node_restore_info *ri,
                           const uint8_t *key)
{
  char path[4300];
  uint8_t sk[CRDT_SK_LEN], meta[16 + CRDT_KEY_LEN + 16];
  store *st = NULL;
  gs_err err;
  crdt_keypair(ri->new_pk, sk);
  if ((err = node__path_join(path, sizeof path, work, "identity.key")) ||
      (err = key ? node__seal_file_write(key, path, sk, sizeof sk)
                 : node__file_write(path, sk, sizeof sk)))
    goto out;
  memcpy(meta, ri->backup.id, 16);
  memcpy(meta + 16, ri->backup.node_pk, CRDT_KEY_LEN);
  put64(meta + 16 + CRDT_KEY_LEN, ri->backup.created_ms);
  put64(meta + 24 + CRDT_KEY_LEN, now_ms());
  if ((err = open_store_key(work, 0, key, &st)))
    goto out;
  /* the data key must open the store's values (a seal.key of another
   * node, or altered, would leave a node nothing can read) */
  char name[NODE_NAME_MAX + 1];
  size_t nl = 0;
  err = store_meta_get(st, "name", name, sizeof name, &nl);
  if (err == GS_ESEAL) {
    err = GS_ECORRUPT;
    goto out;
  }
  if ((err = store_meta_put(st, "node_pk", ri->new_pk, CRDT_KEY_LEN)) ||
      (err = store_meta_put(st, RESTORED_META, meta, sizeof meta)))
    goto out;
out:
  store_close(st);
  crdt_wipe(sk, sizeof sk);
  return err;
}

gs_err node_restore(const char *file, const char *dir,
                    node_copy_progress_cb progress_cb, void *pctx,
                    node_restore_info *out)
{
  char work[4200], path[4300];
  small_file files[NODE_BACKUP_FILES_MAX];
  node_restore_info ri;
  crdt_hasher h;
  uint64_t size = 0, at;
  int fd = -1, dfd = -1;
  bool made = false;
  uint8_t *key = NULL;
  gs_err err;

  memset(&ri, 0, sizeof ri);
  memset(files, 0, sizeof files);
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/')
    dl--;
  if (dl == 0 || dl > 4000)
    return GS_EINVAL;
  if ((err = crdt_crypto_init()) || (err = target_free(dir)))
    return err;
  if ((err = open_backup(file, &fd, &size)))
    return err;
  crdt_hasher_init(&h);
  if ((err = read_head(fd, size, &ri.backup, files, &h, &at)))
    goto out;
  /* a sibling of dir, so that the final rename stays on one file system */
  snprintf(work, sizeof work, "%.*s.restore-XXXXXX", (int)dl, dir);
  if (!mkdtemp(work)) {
    err = -errno;
    goto out;
  }
  made = true;
  /* a sealed backup (it carries seal.key) opens with the backed-up
   * node's passphrase, asked before anything else is written: a wrong
   * one (GS_EPASS) or none (GS_ELOCKED) leaves nothing */
  for (size_t i = 0; i < ri.backup.nfiles; i++) {
    if (strcmp(files[i].name, NODE_SEAL_FILE) != 0)
      continue;
    bool open_node = false;
    if ((err = node__path_join(path, sizeof path, work, NODE_SEAL_FILE)) ||
        (err = file_write_new(path, files[i].bytes, files[i].n)))
      goto out;
    if (!(key = crdt_secret_alloc(CRDT_SEAL_KEY_LEN))) {
      err = GS_ENOMEM;
      goto out;
    }
    if ((err = node__seal_unlock(work, key, &open_node)))
      goto out;
    ri.sealed = !open_node;
  }
  snprintf(path, sizeof path, "%s/data.mdb", work);
  if ((dfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
    err = -errno;
    goto out;
  }
  progress pg = {progress_cb, pctx, ri.backup.store_bytes, 0, 0, false};
  if ((err = read_store(fd, dfd, &ri.backup, &h, &pg)))
    goto out;
  if (fsync(dfd) != 0 || close(dfd) != 0) {
    dfd = -1;
    err = -errno;
    goto out;
  }
  dfd = -1;
  /* the small files, but the identity (a new one below) and the network
   * key (a new identity joins again: admin.h) */
  for (size_t i = 0; i < ri.backup.nfiles; i++) {
    if (strcmp(files[i].name, "identity.key") == 0 ||
        strcmp(files[i].name, NODE_SEAL_FILE) == 0) /* written above */
      continue;
    if (strcmp(files[i].name, "network.key") == 0) {
      ri.had_network = true;
      continue;
    }
    if ((err = node__path_join(path, sizeof path, work, files[i].name)) ||
        (err = file_write_new(path, files[i].bytes, files[i].n)))
      goto out;
  }
  if ((err = probe_store(work, key)))
    goto out;
  if ((err = new_identity(work, &ri, key)))
    goto out;
  if ((err = node__fsync_dir(work)))
    goto out;
  /* dir may have appeared meanwhile: rename replaces only an empty one */
  char target[4100];
  snprintf(target, sizeof target, "%.*s", (int)dl, dir);
  if (rename(work, target) != 0) {
    err = (errno == ENOTEMPTY || errno == EEXIST) ? GS_EEXIST : -errno;
    goto out;
  }
  made = false;
  char *slash = strrchr(target, '/');
  if (slash == target)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(target, sizeof target, ".");
  node__fsync_dir(target);
  if (out)
    *out = ri;
out:
  if (dfd >= 0)
    close(dfd);
  if (fd >= 0)
    close(fd);
  if (made)
    remove_tree(work);
  crdt_secret_free(key);
  free_small_files(files, ri.backup.nfiles);
  return err;
}

/* ---- compaction ---- */

bool node_store_in_use(const char *dir)
{
  char path[4200];
  if (node__path_join(path, sizeof path, dir, "lock.mdb") != GS_OK)
    return false;
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false; /* no lock file: nobody has it open */
  /* every process with the environment open holds a shared lock on the
   * lock file's first byte (LMDB's liveness lock); a process cannot
   * conflict with its own locks, hence "other than this one" */
#ifdef _WIN32 /* LMDB holds it with LockFileEx there: locks are per
               * handle, so this process's own open store counts too */
  bool busy = gs_win_byte0_locked(fd);
#else
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0,
                     .l_len = 1};
  bool busy = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
#endif
  close(fd);
  return busy;
}

static uint64_t file_size(const char *dir, const char *name)
{
  char path[4200];
  struct stat sb;
  if (node__path_join(path, sizeof path, dir, name) != GS_OK ||
      stat(path, &sb) != 0)
    return 0;
  return (uint64_t)sb.st_size;
}

gs_err node_compact(const char *dir, node_copy_progress_cb progress_cb, void *pctx,
                    uint64_t *before, uint64_t *after)
{
  char part[4200], data[4200];
  store *st = NULL;
  int fd = -1;
  uint64_t bytes = 0;
  gs_err err;

  if ((err = node__path_join(part, sizeof part, dir,
                             "data.mdb.compact.part")) ||
      (err = node__path_join(data, sizeof data, dir, "data.mdb")))
    return err;
  if (access(data, F_OK) != 0)
    return GS_ENOTINIT;
  if (node_store_in_use(dir))
    return GS_EBUSY;
  if (seal_mode(dir) == -1) {
    /* an earlier build's directory: sealed in place first, as any
     * command's first open seals it (a new passphrase; the sealing's
     * progress shown by the front end), so that compaction is never the
     * one command that leaves it in plain */
    node *n = NULL;
    if ((err = node_open(dir, 0, NULL, &n)))
      return err;
    node_close(n);
    if (node_store_in_use(dir))
      return GS_EBUSY;
  }
  if (before)
    *before = file_size(dir, "data.mdb");
  if ((err = open_store(dir, 0, &st)))
    return err;
  if ((fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
    err = -errno;
    goto out;
  }
  progress pg = {progress_cb, pctx, store_estimate(st), 0, 0, false};
  if ((err = copy_store(st, fd, NULL, &pg, &bytes)))
    goto out;
  if (fsync(fd) != 0 || close(fd) != 0) {
    fd = -1;
    err = -errno;
    goto out;
  }
  fd = -1;
  store_close(st);
  st = NULL;
  /* someone may have opened it while we copied: their writes would be
   * lost with the old file */
  if (node_store_in_use(dir)) {
    err = GS_EBUSY;
    goto out;
  }
  if (rename(part, data) != 0) {
    err = -errno;
    goto out;
  }
  err = node__fsync_dir(dir);
  if (after)
    *after = file_size(dir, "data.mdb");
out:
  store_close(st);
  if (fd >= 0)
    close(fd);
  if (err)
    unlink(part);
  return err;
}

/* ---- the doctor ---- */

static node_finding *finding(node_doctor_report *r, const char *check,
                             bool ok)
{
  /* when the report is full, the scratch slot past its end is written
   * and dropped (its problem is still counted) */
  node_finding *f = r->n < NODE_DOCTOR_MAX ? &r->f[r->n++]
                                           : &r->f[NODE_DOCTOR_MAX];
  memset(f, 0, sizeof *f);
  f->check = check;
  f->ok = ok;
  if (!ok)
    r->problems++;
  return f;
}

#define SAY(f, ...) snprintf((f)->text, sizeof (f)->text, __VA_ARGS__)
#define FIX(f, ...) snprintf((f)->fix, sizeof (f)->fix, __VA_ARGS__)

static void check_modes(const char *dir, node_doctor_report *r)
{
  char path[4200];
  struct stat sb;
  if (stat(dir, &sb) == 0 && (sb.st_mode & 077)) {
    node_finding *f = finding(r, "dir_mode", false);
    SAY(f, _("The node directory %s can be read by other users of this "
             "computer."), dir);
    FIX(f, _("Run: chmod 700 %s"), dir);
  }
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  size_t bad = 0, seen = 0;
  while ((e = readdir(d)) != NULL) {
    if (!ends_with(e->d_name, ".key") && strcmp(e->d_name, "ui.password"))
      continue;
    if (node__path_join(path, sizeof path, dir, e->d_name) != GS_OK ||
        lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    seen++;
    if (sb.st_mode & 077) {
      bad++;
      node_finding *f = finding(r, "key_mode", false);
      SAY(f, _("The secret file %s can be read by other users (mode %03o); "
               "gridsync refuses to use it."),
          path, (unsigned)(sb.st_mode & 0777));
      FIX(f, _("Run: chmod 600 %s"), path);
    }
#ifndef _WIN32 /* no owner in Windows' stat: its DACL (the mode) says it */
    if (sb.st_uid != geteuid()) {
      bad++;
      node_finding *f = finding(r, "key_owner", false);
      SAY(f, _("The secret file %s belongs to another user (uid %u)."), path,
          (unsigned)sb.st_uid);
      FIX(f, _("Run gridsync as the user who owns the node, or give the file "
               "to this user: chown %u %s"),
          (unsigned)geteuid(), path);
    }
#endif
  }
  closedir(d);
  if (!bad) {
    node_finding *f = finding(r, "key_mode", true);
    SAY(f, _("%zu secret files, none readable by other users."), seen);
  }
}

static void check_space(const char *dir, node_doctor_report *r)
{
#ifdef _WIN32
  uint64_t avail;
  if (gs_win_disk_free(dir, &avail) != 0)
    return;
#else
  struct statvfs vs;
  if (statvfs(dir, &vs) != 0)
    return;
  uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
#endif
  uint64_t need = file_size(dir, "data.mdb");
  if (need < FREE_MIN_BYTES)
    need = FREE_MIN_BYTES;
  bool ok = avail >= need;
  node_finding *f = finding(r, "disk_space", ok);
  SAY(f, _("%llu MB free on the disk of the node directory."),
      (unsigned long long)(avail >> 20));
  if (!ok)
    FIX(f, _("Free at least %llu MB (delete old files, or move the node to "
             "a larger disk): the store needs room to grow, and a backup "
             "or compaction needs a copy's worth."),
        (unsigned long long)(need >> 20));
}

/* ui.addr and whether serve runs. */
static void check_serve(const char *dir, node_doctor_report *r)
{
  char path[4200], buf[600];
  bool serving = false;
  if (node__path_join(path, sizeof path, dir, "ui.addr") == GS_OK) {
    FILE *fp = fopen(path, "re");
    if (fp) {
      size_t k = fread(buf, 1, sizeof buf - 1, fp);
      fclose(fp);
      buf[k] = '\0';
      char *sp = strrchr(buf, ' ');
      long pid = sp ? strtol(sp + 1, NULL, 10) : 0;
#ifdef _WIN32 /* OpenProcess */
      bool alive = pid > 0 && gs_win_pid_alive(pid);
#else
      bool alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
#endif
      if (alive) {
        serving = true;
        node_finding *f = finding(r, "serve", true);
        SAY(f, _("serve is running (process %ld); the web app is at %.*s."),
            pid, sp ? (int)(sp - buf) : 0, buf);
      } else {
        node_finding *f = finding(r, "ui_addr", false);
        SAY(f, _("%s names a serve process that is no longer running (it "
                 "was stopped without cleaning up)."),
            path);
        FIX(f, _("Remove it: rm %s (or start serve again, which rewrites "
                 "it)."),
            path);
      }
    }
  }
  if (!serving) {
    bool used = node_store_in_use(dir);
    node_finding *f = finding(r, "serve", true);
    SAY(f, used ? _("serve's web app is not running, but another gridsync "
                    "process has the store open.")
                : _("serve is not running."));
  }
}

/* seal.key's mode (issue 19): 0 an open node, 1 sealed by a
 * passphrase, -1 none (an earlier build's directory, or no node), -2 a
 * file that is not a seal header. */
static int seal_mode(const char *dir)
{
  char path[4200];
  uint8_t h[9];
  if (node__path_join(path, sizeof path, dir, NODE_SEAL_FILE) != GS_OK)
    return -1;
  FILE *fp = fopen(path, "rbe");
  if (!fp)
    return -1;
  size_t k = fread(h, 1, sizeof h, fp);
  fclose(fp);
  if (k != sizeof h || memcmp(h, "GSSEAL1\n", 8) != 0 || h[8] > 1)
    return -2;
  return h[8];
}

/* The passphrase state. oerr: how opening the node went (GS_OK when it
 * opened, or when it was passed in). */
static void check_passphrase(const char *dir, int mode, gs_err oerr,
                             node_doctor_report *r)
{
  node_finding *f;
  if (mode == -1) {
    char path[4200];
    if (node__path_join(path, sizeof path, dir, "data.mdb") != GS_OK ||
        access(path, F_OK) != 0)
      return; /* no node: said by the store check */
    f = finding(r, "passphrase", false);
    SAY(f, _("The node's data is not sealed yet (the directory was made by "
             "an earlier gridsync): anyone who copies it can read the "
             "residents' data."));
    FIX(f, _("Run any gridsync command on this node with a new passphrase "
             "(on a terminal, or with GRIDSYNC_PASSPHRASE): the store is "
             "then sealed in place."));
    return;
  }
  if (mode == -2) {
    f = finding(r, "passphrase", false);
    SAY(f, _("%s/%s is damaged: the node's data key cannot be read from "
             "it."),
        dir, NODE_SEAL_FILE);
    FIX(f, _("Put back %s from a copy, or restore the latest backup into "
             "a new directory with 'gridsync restore FILE DIR'."),
        NODE_SEAL_FILE);
    return;
  }
  if (oerr == GS_ELOCKED) {
    f = finding(r, "passphrase", false);
    SAY(f, _("The node is sealed and no passphrase was given, so its store "
             "and keys were not checked."));
    FIX(f, _("Run doctor again on a terminal (it asks for the passphrase), "
             "or give it with --passphrase-file FILE or GRIDSYNC_PASSPHRASE, "
             "or while 'gridsync serve' runs for this node."));
    return;
  }
  if (oerr == GS_EPASS) {
    f = finding(r, "passphrase", false);
    SAY(f, _("The passphrase given is not this node's, so its store and "
             "keys were not checked."));
    FIX(f, _("Run doctor again with the right passphrase. If it is "
             "forgotten, the data on this computer cannot be opened: make "
             "a new node, join the network again with a new invite, and "
             "sync from the office."));
    return;
  }
  if (mode == 0) {
    f = finding(r, "passphrase", true);
    f->warn = true;
    SAY(f, _("The node has no passphrase: anyone who copies its directory "
             "or a backup of it can read the residents' data."));
    FIX(f, _("Unless that is deliberate, set one: gridsync --dir %s "
             "passphrase"),
        dir);
    return;
  }
  f = finding(r, "passphrase", true);
  SAY(f, _("The node's data and keys are sealed under its passphrase."));
}

/* The store: through n when the node is open, else opened here by
 * itself (read-only) to say why the node does not open. */
static void check_store(const char *dir, node *n, gs_err oerr,
                        node_doctor_report *r)
{
  store *st = n ? node__store(n) : NULL;
  gs_err err = GS_OK;
  if (!n) {
    if (oerr == GS_ELOCKED || oerr == GS_EPASS)
      return; /* said by the passphrase check */
    err = open_store(dir, STORE_RDONLY, &st);
  }
  if (err == GS_ENOTINIT) {
    node_finding *f = finding(r, "store", false);
    SAY(f, _("There is no node in %s."), dir);
    FIX(f, _("Create one with 'gridsync init', restore a backup with "
             "'gridsync restore FILE DIR', or choose another directory "
             "with --dir."));
    return;
  }
  if (err == GS_EVERSION) {
    node_finding *f = finding(r, "store", false);
    SAY(f, _("The store in %s was made by a newer gridsync (its format is "
             "unknown to this one)."),
        dir);
    FIX(f, _("Install the newer gridsync again, or restore a backup made "
             "by this version."));
    return;
  }
  if (err == GS_ELOCKED || err == GS_EPASS) {
    check_passphrase(dir, 1, err, r);
    return;
  }
  if (err) {
    node_finding *f = finding(r, "store", false);
    SAY(f, _("The store in %s does not open: %s."), dir, gs_strerror(err));
    FIX(f, _("Restore the latest backup into a new directory with "
             "'gridsync restore FILE DIR'."));
    return;
  }
  uint8_t fb[8];
  size_t fl = 0;
  uint64_t format = 0;
  if (store_meta_get(st, "format", fb, sizeof fb, &fl) == GS_OK && fl == 8)
    format = get64(fb);
  node_finding *f = finding(r, "store", true);
  SAY(f, _("The store opens (format %llu, %llu MB on disk)."),
      (unsigned long long)format,
      (unsigned long long)(file_size(dir, "data.mdb") >> 20));
  if (format != STORE_FORMAT) {
    f = finding(r, "format", true);
    SAY(f, _("The store has the older format %llu; it is upgraded the next "
             "time gridsync opens it for writing."),
        (unsigned long long)format);
  }
  uint8_t meta[16 + CRDT_KEY_LEN + 16];
  size_t ml = 0;
  if (store_meta_get(st, RESTORED_META, meta, sizeof meta, &ml) == GS_OK &&
      ml == sizeof meta) {
    char old[64];
    crdt_base32_encode(meta + 16, CRDT_KEY_LEN, old);
    f = finding(r, "restored", true);
    SAY(f, _("This node was restored from a backup of node %s; it writes "
             "under its own new key."),
        old);
  }
  if (!n)
    store_close(st);
}

/* Why the node did not open, when its store did (or was not tried). */
static void check_open_error(gs_err err, node_doctor_report *r)
{
  if (err == GS_OK || err == GS_EKEYMODE || err == GS_ELOCKED ||
      err == GS_EPASS || err == GS_ENOTINIT || err == GS_EVERSION)
    return; /* said by the mode, passphrase or store check */
  node_finding *f = finding(r, "identity", false);
  SAY(f, _("The node does not open: %s."), gs_strerror(err));
  FIX(f, err == GS_ECORRUPT || err == GS_ESEAL
             ? _("identity.key does not belong to this store: put the "
                 "right key file back, or restore a backup.")
             : _("See the message above; 'gridsync status' says more."));
}

static void check_node(node *n, node_doctor_report *r)
{
  uint64_t t = node_now(n);
  node_peer_clock pc;
  bool peer_off = node_peer_clock_get(n, &pc) == GS_OK;
  bool ok = t >= SANE_EPOCH_MS && !peer_off &&
            node_clock_skew_ms(n) <= STORE_AHEAD_MAX_MS;
  node_finding *f = finding(r, "clock", ok);
  time_t tt = (time_t)(t / 1000);
  struct tm tm;
  char when[32] = "?";
  if (localtime_r(&tt, &tm))
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
  if (peer_off) {
    time_t pt = (time_t)(pc.peer_ms / 1000);
    char theirs[32] = "?";
    if (localtime_r(&pt, &tm))
      strftime(theirs, sizeof theirs, "%Y-%m-%d %H:%M", &tm);
    SAY(f, _("This computer's clock says %s, but the peer %s said %s when "
             "they met."),
        when, pc.addr, theirs);
    FIX(f, _("Set the date and time on whichever computer is wrong."));
  } else if (t < SANE_EPOCH_MS) {
    SAY(f, _("This computer's clock says %s, which is surely wrong."), when);
    FIX(f, _("Set the date and time (the battery of the clock may be "
             "dead)."));
  } else if (!ok) {
    SAY(f, _("Changes were seen stamped more than a day ahead of this "
             "computer's clock (%s)."),
        when);
    FIX(f, _("Check this computer's date; if it is right, a peer's clock "
             "is fast."));
  } else {
    SAY(f, _("The clock (%s) agrees with the peers met."), when);
  }
  const node_network *net = node_net(n);
  char id[64];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  f = finding(r, "network", true);
  if (net)
    SAY(f, _("Node %s is a member (%s) of the network %s."), id, net->role,
        net->name);
  else
    SAY(f, _("Node %s is not in a network yet (join one with 'gridsync join "
             "CODE')."),
        id);
}

/* What an interrupted compaction leaves: the store itself is intact. */
static void check_leftovers(const char *dir, node_doctor_report *r)
{
  char path[4200];
  if (node__path_join(path, sizeof path, dir, "data.mdb.compact.part") ||
      access(path, F_OK) != 0 || node_store_in_use(dir))
    return;
  node_finding *f = finding(r, "leftover", false);
  SAY(f, _("%s is left from a compaction that was interrupted; the store "
           "itself is intact."),
      path);
  FIX(f, _("Remove it: rm %s"), path);
}

void node_doctor(const char *dir, node *n, node_doctor_report *out)
{
  memset(out, 0, sizeof *out);
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    node_finding *f = finding(out, "store", false);
    SAY(f, _("The node directory %s does not exist."), dir);
    FIX(f, _("Create a node with 'gridsync init', or choose another "
             "directory with --dir."));
    return;
  }
  /* the node is opened once, so that its passphrase is asked at most
   * once (the running serve's key, else the front end's source, which
   * never prompts without a terminal); never a directory without a
   * seal.key: opening would seal it, and the doctor changes nothing */
  int mode = seal_mode(dir);
  node *own = NULL;
  gs_err oerr = GS_OK;
  if (n)
    mode = node_is_open(n) ? 0 : 1;
  else if (mode >= 0 && (oerr = node_open(dir, 0, NULL, &own)) == GS_OK)
    n = own;
  check_passphrase(dir, mode, n ? GS_OK : oerr, out);
  check_store(dir, n, n ? GS_OK : oerr, out);
  if (!n && mode >= 0)
    check_open_error(oerr, out);
  check_modes(dir, out);
  check_space(dir, out);
  check_serve(dir, out);
  check_leftovers(dir, out);
  if (n)
    check_node(n, out);
  node_close(own);
}
