/*
 * load: bulk import of records from JSON Lines, in bounded memory.
 *
 * Each line is one JSON object: its members are fields (a JSON array adds
 * set elements); an optional "$id" names the record (else a new id).
 * Every line goes through a node_batch (node/domain.h: the checks of
 * every local write, packed into changes). Issue 20: a load of 1,000,000
 * lines no longer holds them in one transaction (LMDB keeps every dirty
 * page of a write transaction in memory until its commit). It reads the
 * input two or three times, a line at a time:
 *   0. its digest (BLAKE2b of the collection, the scope and the bytes),
 *      first when the node holds a load's mark (one to go on from may be
 *      this input's) or the input is standard input or a pipe (copied
 *      first to an unlinked file in the node's directory, so the passes
 *      read the same bytes); else made by pass 1's reader as it reads;
 *   1. the check: every line through a NODE_BATCH_CHECK batch (every
 *      check of the write path and the time bank's, nothing written),
 *      and no "$id" twice; one bad line and nothing is stored;
 *   2. the writing: batches of at most LOAD_BATCH_RECORDS records or
 *      LOAD_BATCH_BYTES bytes of input, each one transaction (one fsync;
 *      none with --fast) that also stores the load's mark (its digest ->
 *      the lines and records done); the last one deletes the mark.
 * A load killed in pass 2 leaves whole batches and their mark: the same
 * command again (the same bytes, collection and scope) skips the lines
 * the mark counts and goes on, so nothing is stored twice. A load of the
 * time bank is written in one transaction (its overdraft check is over
 * the whole file, as the check pass ran it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <uv.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/node.h"
#include "node/domain.h"
#include "node/member.h"
#include "node/jsonl.h"

#define LOAD_LINE_MAX (1 << 20)
#define LOAD_BATCH_RECORDS 20000   /* records per transaction */
#define LOAD_BATCH_BYTES (8 << 20) /* bytes of input per transaction */
#define LOAD_IDS_MAX 2000000 /* lines with "$id" in one load (64 MiB) */

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Is m the "$id" member? (By its length first: a call of strcmp for
 * each member of each line was 2.6% of a load.) */
static bool is_id(const node_jl_member *m)
{
  return m->key_len == 3 && memcmp(m->key, "$id", 3) == 0;
}

/* The "$id" of obj: NULL when none, BAD_ID when it is no string. */
static const char BAD_ID[] = "";
static const char *load_id(const node_jl *obj)
{
  for (size_t i = 0; i < obj->n; i++)
    if (is_id(&obj->m[i]))
      return !obj->m[i].is_array && obj->m[i].vals[0].type == CRDT_STR
                 ? obj->m[i].vals[0].u.s.p
                 : BAD_ID;
  return NULL;
}

/* One line's object as an edit of a new record queued into b. */
static int load_line(node *n, node_batch *b, const char *coll,
                     const char *scope, const node_jl *obj, size_t lineno)
{
  node_reason why = {0};
  node_edit *e = NULL;
  int rc = CLI_FAIL;
  gs_err ge;

  const char *jid = load_id(obj);
  if (jid) {
    uint8_t id[CRDT_ID_LEN];
    if (jid == BAD_ID || node_parse_id(jid, id))
      return cli_fail("load: line %zu: \"$id\" is not a record id", lineno);
    ge = node_edit_open(n, coll, id, true, &e, &why);
    if (!ge)
      ge = node_edit_set_scope(e, scope, &why);
  } else {
    ge = node_edit_new(n, coll, scope, &e, &why);
  }
  if (ge)
    goto refused;
  size_t nfields = 0;
  for (size_t i = 0; i < obj->n; i++) {
    const node_jl_member *m = &obj->m[i];
    const char *key = m->key;
    if (is_id(m))
      continue;
    nfields++;
    if (!crdt_name_valid(key, m->key_len)) {
      rc = cli_fail("load: line %zu: bad field name '%s'", lineno, key);
      goto out;
    }
    ge = m->is_array ? node_edit_assign(e, key, m->vals, m->nvals, &why)
                     : node_edit_set(e, key, &m->vals[0], &why);
    if (ge)
      goto refused;
  }
  if (nfields == 0) {
    rc = cli_fail("load: line %zu: a record needs at least one field",
                  lineno);
    goto out;
  }
  if ((ge = node_batch_put(b, e, NULL, &why)) != GS_OK)
    goto refused;
  rc = CLI_OK;
  goto out;
refused:
  if (ge == GS_EEXIST)
    rc = cli_fail("load: line %zu: %s %s exists: load adds new records "
                  "(change it with put or the domain commands)",
                  lineno, coll, jid);
  else
    rc = cli_fail("load: line %zu: %s", lineno, why.text);
out:
  node_edit_free(e);
  return rc;
}

/* ---- the ids a load names ("$id"), each at most once ---- */

typedef struct id_set {
  uint8_t (*v)[CRDT_ID_LEN]; /* open addressing; all zero: empty */
  size_t n, cap;             /* cap a power of two */
} id_set;

static size_t id_slot(const id_set *s, const uint8_t id[CRDT_ID_LEN])
{
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < CRDT_ID_LEN; i++)
    h = (h ^ id[i]) * 1099511628211ull;
  size_t k = (size_t)h & (s->cap - 1);
  static const uint8_t zero[CRDT_ID_LEN];
  while (memcmp(s->v[k], zero, CRDT_ID_LEN) != 0 &&
         memcmp(s->v[k], id, CRDT_ID_LEN) != 0)
    k = (k + 1) & (s->cap - 1);
  return k;
}

/* Add id: 1 when it was there already, 0 added, -1 out of memory. */
static int id_add(id_set *s, const uint8_t id[CRDT_ID_LEN])
{
  if (2 * (s->n + 1) > s->cap) {
    id_set g = {.cap = s->cap ? 2 * s->cap : 1024};
    if (!(g.v = calloc(g.cap, sizeof *g.v)))
      return -1;
    static const uint8_t zero[CRDT_ID_LEN];
    for (size_t i = 0; i < s->cap; i++)
      if (memcmp(s->v[i], zero, CRDT_ID_LEN) != 0)
        memcpy(g.v[id_slot(&g, s->v[i])], s->v[i], CRDT_ID_LEN);
    g.n = s->n;
    free(s->v);
    *s = g;
  }
  size_t k = id_slot(s, id);
  if (memcmp(s->v[k], id, CRDT_ID_LEN) == 0)
    return 1;
  memcpy(s->v[k], id, CRDT_ID_LEN);
  s->n++;
  return 0;
}

/* ---- reading the input ---- */

/* The input read in chunks, its lines cut out with memchr: a line is
 * bounded (LOAD_LINE_MAX) before its bytes are kept, which getline does
 * not do (a file of one endless line would be read into memory whole). */
#define READ_CHUNK (1 << 16)
typedef enum read_fail { READ_OK, READ_IO, READ_LONG, READ_NOMEM } read_fail;
typedef struct reader {
  FILE *f;
  char *buf; /* READ_CHUNK bytes */
  size_t pos, end;
  bool eof;
  read_fail fail; /* why next_line returned -1 */
  int err;        /* errno of READ_IO */
  crdt_hasher *h; /* every byte read hashed into it (NULL: not) */
} reader;

/* The next line into *line (grown to at most LOAD_LINE_MAX + 1 bytes,
 * NUL-terminated, the newline kept), counted in *lineno; 1 a line, 0 the
 * end, -1 a failure (in r->fail, printed by read_fail_print: the reader
 * runs on the feeder's thread, which prints nothing). */
static int next_line(reader *r, char **line, size_t *cap, size_t *lineno,
                     size_t *len)
{
  size_t n = 0;
  for (;;) {
    if (r->pos == r->end) {
      if (r->eof)
        break;
      r->pos = 0;
      r->end = fread(r->buf, 1, READ_CHUNK, r->f);
      if (r->end == 0) {
        if (ferror(r->f)) {
          r->fail = READ_IO;
          r->err = errno;
          return -1;
        }
        r->eof = true;
        break;
      }
      if (r->h)
        crdt_hasher_update(r->h, r->buf, r->end);
    }
    const char *p = r->buf + r->pos;
    const char *nl = memchr(p, '\n', r->end - r->pos);
    size_t take = nl ? (size_t)(nl - p) + 1 : r->end - r->pos;
    if (n + take > LOAD_LINE_MAX) {
      r->fail = READ_LONG;
      return -1;
    }
    if (n + take + 1 > *cap) {
      size_t nc = *cap ? *cap : 4096;
      while (nc < n + take + 1)
        nc *= 2;
      char *g = realloc(*line, nc);
      if (!g) {
        r->fail = READ_NOMEM;
        return -1;
      }
      *line = g;
      *cap = nc;
    }
    memcpy(*line + n, p, take);
    n += take;
    r->pos += take;
    if (nl)
      break;
  }
  if (n == 0)
    return 0;
  (*line)[n] = '\0';
  ++*lineno;
  *len = n;
  return 1;
}

/* What next_line failed at, line lineno + 1 being read. */
static int read_fail_print(const reader *r, size_t lineno)
{
  switch (r->fail) {
  case READ_IO:
    return cli_fail("load: cannot read the input: %s", strerror(r->err));
  case READ_LONG:
    return cli_fail("load: line %zu is longer than 1 MiB", lineno + 1);
  default:
    return cli_fail("out of memory");
  }
}

static bool blank(const char *line)
{
  size_t k = 0;
  while (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' ||
         line[k] == '\n')
    k++;
  return line[k] == '\0';
}

/* ---- the lines read and parsed on a thread of their own ----
 *
 * Issue 20: a sixth of `load`'s time on its one thread went to reading
 * the lines and parsing their JSON, which needs nothing of the node. The
 * feeder does that on a second thread, a few blocks of lines ahead, while
 * this thread checks and writes them: what a line means, the checks and
 * the writing (the node's one checked write path) stay on this thread,
 * in the lines' order. A failure of the reading or the parsing is a
 * block's end, met after the lines before it, so the first bad line is
 * the one named, as before. Memory stays bounded: FEED_BLOCKS blocks of
 * at most FEED_LINES lines or FEED_BYTES bytes of input (a line of at
 * most 1 MiB), and a parser grown past FEED_KEEP by a long line is freed
 * before its next line. When the thread cannot be made, this thread fills
 * each block as it needs it: the same lines, in the same order. */
#define FEED_LINES 64
#define FEED_BYTES (256 << 10)
#define FEED_BLOCKS 4
#define FEED_KEEP (64 << 10)

typedef struct feed_block {
  node_jl jl[FEED_LINES]; /* each line's parse */
  size_t lineno[FEED_LINES], len[FEED_LINES];
  size_t n;   /* lines in the block (blank ones and those skipped not) */
  int end;    /* after the n lines: 0 more, 1 the input's end, -1 failed */
  size_t last; /* at the end: the lines read (all); failed: the line */
  gs_err jerr; /* failed in the JSON of line `last` (why in je), or 0: in
                * the reading (the reader's fail) */
  char je[200];
} feed_block;

typedef struct feeder {
  /* the filling side's (the feeder's thread, or this one) */
  reader rd;
  char *line;
  size_t cap, lineno, from;
  /* shared, under mu */
  feed_block *blocks;  /* FEED_BLOCKS */
  unsigned filled;     /* blocks filled and not yet used */
  bool stop;           /* the using side is done */
  bool threaded;
  uv_mutex_t mu;
  uv_cond_t more, room;
  uv_thread_t th;
  /* the using side's */
  unsigned got; /* blocks taken, counted */
  feed_block *cur;
  size_t i;
} feeder;

/* The next lines into b (the filling side's). */
static void feed_fill(feeder *fd, feed_block *b)
{
  size_t bytes = 0;
  b->n = 0;
  b->end = 0;
  while (b->n < FEED_LINES && bytes < FEED_BYTES) {
    size_t len = 0;
    int got = next_line(&fd->rd, &fd->line, &fd->cap, &fd->lineno, &len);
    if (got <= 0) {
      b->end = got == 0 ? 1 : -1;
      b->last = fd->lineno;
      b->jerr = GS_OK;
      return;
    }
    if (fd->lineno <= fd->from || blank(fd->line))
      continue;
    node_jl *jl = &b->jl[b->n];
    if (jl->bcap + jl->vcap * sizeof *jl->v + jl->mcap * sizeof *jl->m >
        FEED_KEEP)
      node_jl_free(jl); /* a long line's: not kept for the short ones */
    b->je[0] = '\0';
    gs_err e = node_jl_parse(jl, fd->line, len, b->je, sizeof b->je);
    if (e) {
      b->end = -1;
      b->last = fd->lineno;
      b->jerr = e;
      return;
    }
    b->lineno[b->n] = fd->lineno;
    b->len[b->n] = len;
    b->n++;
    bytes += len;
  }
}

static void feed_main(void *arg)
{
  feeder *fd = arg;
  for (unsigned put = 0;; put++) {
    uv_mutex_lock(&fd->mu);
    while (fd->filled == FEED_BLOCKS && !fd->stop)
      uv_cond_wait(&fd->room, &fd->mu);
    bool stop = fd->stop;
    uv_mutex_unlock(&fd->mu);
    if (stop)
      return;
    feed_block *b = &fd->blocks[put % FEED_BLOCKS]; /* not in use */
    feed_fill(fd, b);
    uv_mutex_lock(&fd->mu);
    fd->filled++;
    uv_cond_signal(&fd->more);
    uv_mutex_unlock(&fd->mu);
    if (b->end)
      return;
  }
}

/* Start reading f, the lines after line `from`, every byte read hashed
 * into h (optional; on the feeder's thread): CLI_OK or printed. */
static int feed_start(feeder *fd, FILE *f, size_t from, crdt_hasher *h)
{
  memset(fd, 0, sizeof *fd);
  fd->rd.f = f;
  fd->rd.h = h;
  fd->from = from;
  fd->rd.buf = malloc(READ_CHUNK);
  fd->blocks = calloc(FEED_BLOCKS, sizeof *fd->blocks);
  if (!fd->rd.buf || !fd->blocks)
    return cli_fail("out of memory");
  if (uv_mutex_init(&fd->mu) != 0)
    return CLI_OK; /* no thread: this one fills */
  if (uv_cond_init(&fd->more) != 0) {
    uv_mutex_destroy(&fd->mu);
    return CLI_OK;
  }
  if (uv_cond_init(&fd->room) != 0) {
    uv_cond_destroy(&fd->more);
    uv_mutex_destroy(&fd->mu);
    return CLI_OK;
  }
  fd->threaded = uv_thread_create(&fd->th, feed_main, fd) == 0;
  if (!fd->threaded) {
    uv_cond_destroy(&fd->room);
    uv_cond_destroy(&fd->more);
    uv_mutex_destroy(&fd->mu);
  }
  return CLI_OK;
}

/* The next line: its parse (valid until the next call), number and
 * length; 1 a line, 0 the end (*lineno then the lines read, all),
 * -1 a failure (printed). */
static int feed_next(feeder *fd, const node_jl **jl, size_t *lineno,
                     size_t *len)
{
  for (;;) {
    feed_block *b = fd->cur;
    if (b && fd->i < b->n) {
      *jl = &b->jl[fd->i];
      *lineno = b->lineno[fd->i];
      *len = b->len[fd->i];
      fd->i++;
      return 1;
    }
    if (b && b->end > 0) {
      *lineno = b->last;
      return 0;
    }
    if (b && b->end < 0) {
      if (!b->jerr)
        return read_fail_print(&fd->rd, b->last), -1;
      if (b->jerr == GS_ENOMEM || !b->je[0])
        return cli_fail("out of memory"), -1;
      return cli_fail("load: line %zu: %s", b->last, b->je), -1;
    }
    if (!fd->threaded) {
      b = &fd->blocks[0];
      feed_fill(fd, b);
    } else {
      uv_mutex_lock(&fd->mu);
      if (b) { /* done with it: room for the next */
        fd->filled--;
        uv_cond_signal(&fd->room);
      }
      while (fd->filled == 0)
        uv_cond_wait(&fd->more, &fd->mu);
      uv_mutex_unlock(&fd->mu);
      b = &fd->blocks[fd->got++ % FEED_BLOCKS];
    }
    fd->cur = b;
    fd->i = 0;
  }
}

static void feed_end(feeder *fd)
{
  if (fd->threaded) {
    uv_mutex_lock(&fd->mu);
    fd->stop = true;
    uv_cond_signal(&fd->room);
    uv_mutex_unlock(&fd->mu);
    uv_thread_join(&fd->th);
    uv_cond_destroy(&fd->room);
    uv_cond_destroy(&fd->more);
    uv_mutex_destroy(&fd->mu);
  }
  if (fd->blocks)
    for (size_t k = 0; k < FEED_BLOCKS; k++)
      for (size_t i = 0; i < FEED_LINES; i++)
        node_jl_free(&fd->blocks[k].jl[i]);
  free(fd->blocks);
  free(fd->rd.buf);
  free(fd->line);
  memset(fd, 0, sizeof *fd);
}

/* The digest of what is loaded begun: the collection and the scope
 * (the bytes of the input follow). */
static void digest_begin(crdt_hasher *h, const char *coll, const char *scope)
{
  crdt_hasher_init(h);
  crdt_hasher_update(h, "gridsync-load-1", 16);
  crdt_hasher_update(h, coll, strlen(coll) + 1);
  crdt_hasher_update(h, scope, strlen(scope) + 1);
}

/* The digest of what is loaded: the collection, the scope, the bytes of
 * in. When in is not a regular file (standard input, a pipe), its bytes
 * are first copied into an unlinked file in dir, which *out then is
 * (else *out = in). Returns CLI_OK or a printed failure. */
static int digest_input(const char *dir, FILE *in, const char *coll,
                        const char *scope, FILE **out,
                        uint8_t digest[CRDT_HASH_LEN])
{
  struct stat st;
  FILE *spool = NULL;
  crdt_hasher h;
  digest_begin(&h, coll, scope);
  *out = NULL;
  if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode)) {
    char path[4096];
    snprintf(path, sizeof path, "%s/.load-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
      return cli_fail("load: cannot make a working copy of the input in "
                        "%s: %s",
                      dir, strerror(errno));
    unlink(path); /* gone with the process, whatever happens */
    if (!(spool = fdopen(fd, "w+"))) {
      close(fd);
      return cli_fail("load: cannot make a working copy of the input in "
                        "%s: %s",
                      dir, strerror(errno));
    }
  }
  enum { CHUNK = 1 << 16 };
  char *buf = malloc(CHUNK);
  if (!buf) {
    if (spool)
      fclose(spool);
    return cli_fail("out of memory");
  }
  size_t n;
  while ((n = fread(buf, 1, CHUNK, in)) > 0) {
    crdt_hasher_update(&h, buf, n);
    if (spool && fwrite(buf, 1, n, spool) != n) {
      int e = errno;
      fclose(spool);
      free(buf);
      return cli_fail("load: cannot make a working copy of the input in "
                        "%s: %s",
                      dir, strerror(e));
    }
  }
  free(buf);
  if (ferror(in) || (spool && fflush(spool) != 0)) {
    int e = errno;
    if (spool)
      fclose(spool);
    return cli_fail("load: cannot read the input: %s", strerror(e));
  }
  crdt_hasher_final(&h, digest);
  *out = spool ? spool : in;
  return CLI_OK;
}

/* ---- progress on stderr (a person runs a long load) ---- */

typedef struct progress {
  bool tty, on; /* tty: one line redrawn; else a line every 10 s */
  double t0, last;
} progress;

static void progress_show(progress *p, bool checking, size_t lineno,
                          size_t lines, uint64_t records)
{
  double t = now_s();
  if (!p->on || t - p->last < (p->tty ? 0.5 : 10.0))
    return;
  p->last = t;
  if (checking)
    fprintf(stderr, _("load: checked %zu lines%s"), lineno,
            p->tty ? "   \r" : "\n");
  else
    fprintf(stderr, _("load: stored %" PRIu64 " records, line %zu of %zu "
                      "(%.0f records/s)%s"),
            records, lineno, lines,
            t > p->t0 ? (double)records / (t - p->t0) : 0.0,
            p->tty ? "   \r" : "\n");
}

static void progress_end(progress *p)
{
  if (p->on && p->tty && p->last > p->t0)
    fprintf(stderr, "\r%60s\r", "");
}

/* Pass 1: every line after line `from` through the checks; the lines
 * (not blank) counted into *lines; every byte read hashed into h
 * (optional). Nothing is written. */
static int check_pass(node *n, FILE *f, const char *coll, const char *scope,
                      size_t from, crdt_hasher *h, size_t *lines,
                      progress *pg)
{
  node_batch *b = NULL;
  node_reason why = {0};
  id_set ids = {0};
  feeder fd = {0};
  const node_jl *obj = NULL;
  size_t lineno = 0, len = 0;
  int rc = CLI_FAIL, got;
  gs_err err;

  if ((err = node_batch_begin(n, NODE_BATCH_IMPORT | NODE_BATCH_NEW_ONLY |
                                     NODE_BATCH_CHECK,
                              &b)) != GS_OK) {
    rc = cli_fail("load: cannot start writing: %s", gs_i18n_strerror(err));
    goto out;
  }
  if (feed_start(&fd, f, from, h) != CLI_OK)
    goto out;
  while ((got = feed_next(&fd, &obj, &lineno, &len)) > 0) {
    const char *jid = load_id(obj);
    uint8_t id[CRDT_ID_LEN];
    if (jid && jid != BAD_ID && node_parse_id(jid, id) == GS_OK) {
      int dup = ids.n < LOAD_IDS_MAX ? id_add(&ids, id) : -2;
      if (dup != 0) {
        rc = dup == 1 ? cli_fail("load: line %zu: \"$id\" %s is named "
                                   "twice in this input: load adds each "
                                   "record once",
                                 lineno, jid)
             : dup == -1 ? cli_fail("out of memory")
                         : cli_fail("load: line %zu: more than %d lines "
                                      "name a \"$id\": split the input",
                                    lineno, LOAD_IDS_MAX);
        goto out;
      }
    }
    rc = load_line(n, b, coll, scope, obj, lineno);
    if (rc != CLI_OK)
      goto out;
    rc = CLI_FAIL;
    progress_show(pg, true, lineno, 0, 0);
  }
  if (got < 0)
    goto out;
  /* the commit of a check: the time bank's check over the whole input */
  err = node_batch_commit(b, NULL, &why);
  b = NULL;
  if (err) {
    rc = cli_fail("load: %s", why.text);
    goto out;
  }
  *lines = lineno; /* at the end: the input's lines */
  rc = CLI_OK;
out:
  node_batch_abort(b);
  free(ids.v);
  feed_end(&fd);
  return rc;
}

/* What pass 2 did. */
typedef struct written {
  uint64_t records, changes; /* of this run */
  size_t lineno;             /* the last line stored */
} written;

/* Pass 2: the lines after `from` written in batches, each with the
 * load's mark; `earlier` records were stored by an earlier run. */
static int write_pass(node *n, FILE *f, const char *coll, const char *scope,
                      const uint8_t digest[CRDT_HASH_LEN], size_t from,
                      uint64_t earlier, size_t lines, progress *pg,
                      written *wr)
{
  node_batch *b = NULL;
  node_reason why = {0};
  feeder fd = {0};
  const node_jl *obj = NULL;
  size_t lineno = 0, len = 0, bytes = 0;
  bool one_txn = strcmp(coll, "timebank") == 0;
  int rc = CLI_FAIL, got;
  gs_err err;

  memset(wr, 0, sizeof *wr);
  wr->lineno = from;
  if (feed_start(&fd, f, from, NULL) != CLI_OK)
    goto out;
  for (;;) {
    if (!b && (err = node_batch_begin(n, NODE_BATCH_IMPORT |
                                             NODE_BATCH_NEW_ONLY,
                                      &b)) != GS_OK) {
      rc = cli_fail("load: cannot start writing: %s",
                    gs_i18n_strerror(err));
      goto out;
    }
    got = feed_next(&fd, &obj, &lineno, &len);
    if (got < 0)
      goto out;
    bool last = got == 0;
    if (!last) {
      rc = load_line(n, b, coll, scope, obj, lineno);
      if (rc != CLI_OK)
        goto out;
      rc = CLI_FAIL;
      bytes += len;
    }
    uint64_t in_batch = node_batch_records(b);
    if (!last && (one_txn || (in_batch < LOAD_BATCH_RECORDS &&
                              bytes < LOAD_BATCH_BYTES)))
      continue;
    /* the batch, its mark (none after the last line) in its transaction */
    uint64_t changes = 0;
    if ((err = node_batch_mark(b, digest, last ? 0 : lineno,
                               earlier + wr->records + in_batch)) !=
        GS_OK) {
      rc = cli_fail("load: cannot write: %s", gs_i18n_strerror(err));
      goto out;
    }
    err = node_batch_commit(b, &changes, &why);
    b = NULL;
    if (err) {
      rc = cli_fail("load: %s", why.text);
      goto out;
    }
    wr->records += in_batch;
    wr->changes += changes;
    wr->lineno = lineno;
    bytes = 0;
    progress_show(pg, false, lineno, lines, wr->records);
    if (last)
      break;
  }
  rc = CLI_OK;
out:
  node_batch_abort(b);
  feed_end(&fd);
  return rc;
}

/* Has f changed since st (its size or time)? A regular file only. */
static bool changed_since(FILE *f, const struct stat *st)
{
  struct stat now;
  if (fstat(fileno(f), &now) != 0)
    return true;
#ifdef _WIN32 /* whole seconds there */
  return now.st_size != st->st_size || now.st_mtime != st->st_mtime;
#else
  return now.st_size != st->st_size ||
         now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
         now.st_mtim.tv_nsec != st->st_mtim.tv_nsec;
#endif
}

int cli_cmd_load(cli_ctx *ctx)
{
  const char *coll = NULL, *scope = NULL, *file = NULL;
  bool fast = false;
  for (int i = 1; i < ctx->argc; i++) {
    int m = cli_opt(ctx, &i, "--scope", &scope);
    if (m < 0)
      return CLI_USAGE;
    if (m > 0)
      continue;
    const char *a = ctx->argv[i];
    if (strcmp(a, "--fast") == 0)
      fast = true;
    else if (strncmp(a, "--", 2) == 0)
      return cli_usage("load", "unknown option '%s'", a);
    else if (!coll)
      coll = a;
    else if (!file)
      file = a;
    else
      return cli_usage("load", "unexpected argument '%s'", a);
  }
  if (!coll || !file)
    return cli_usage("load", "give a collection and a file ('-' for stdin)");
  if (!crdt_name_valid(coll, strlen(coll)))
    return cli_usage("load", "bad collection name '%s'", coll);
  if (!scope || !*scope)
    return cli_usage("load", "the scope is empty: give --scope "
                             "STREET/COMMUNITY/GRID");
  if (!crdt_scope_valid(scope, strlen(scope)))
    return cli_usage("load", "bad scope '%s'", scope);

  FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (!in)
    return cli_fail("load: cannot open %s: %s", file, strerror(errno));
  FILE *f = NULL; /* in, or its working copy */
  int rc = CLI_FAIL;
  uint8_t digest[CRDT_HASH_LEN];
  uint64_t from = 0, earlier = 0;
  size_t lines = 0;
  struct stat st0;
  written wr = {0};
  progress pg = {.tty = isatty(STDERR_FILENO) != 0};
  node *n = cli_open(ctx, fast ? NODE_BULK : 0);

  if (!n)
    goto out;
  char pw[NODE_REASON_MAX];
  if (node_may_write(n, scope, strlen(scope), pw, sizeof pw) != GS_OK) {
    rc = cli_fail("load: %s", pw);
    goto out;
  }
  pg.t0 = pg.last = now_s();
  pg.on = true;
  /* A regular file, and no load begun and not finished on this node (no
   * mark, so none to go on from): the digest is made as the check pass
   * reads the input, on the feeder's thread (a read of the whole input
   * on this thread before the check was a fifteenth of a load's time);
   * else first, to find the mark to go on from. */
  bool marks = true;
  gs_err err;
  crdt_hasher hasher, *h = NULL;
  if (fstat(fileno(in), &st0) == 0 && S_ISREG(st0.st_mode) &&
      node_load_marks_any(n, &marks) == GS_OK && !marks) {
    f = in;
    digest_begin(&hasher, coll, scope);
    h = &hasher;
  } else if ((rc = digest_input(ctx->dir, in, coll, scope, &f, digest)) !=
             CLI_OK)
    goto out;
  rc = CLI_FAIL;
  if (!h && fstat(fileno(f), &st0) != 0) { /* h: st0 is f's already */
    rc = cli_fail("load: cannot read the input: %s", strerror(errno));
    goto out;
  }
  err = h ? GS_ENOTFOUND : node_load_mark(n, digest, &from, &earlier);
  if (err && err != GS_ENOTFOUND) {
    rc = cli_fail("load: cannot read the store: %s",
                  gs_i18n_strerror(err));
    goto out;
  }
  if (err == GS_OK)
    fprintf(stderr, _("load: an earlier run of this load stored lines 1 to "
                      "%" PRIu64 " (%" PRIu64 " records): going on from line "
                      "%" PRIu64 "\n"),
            from, earlier, from + 1);
  rewind(f);
  if ((rc = check_pass(n, f, coll, scope, (size_t)from, h, &lines, &pg)) !=
      CLI_OK)
    goto out;
  rc = CLI_FAIL;
  if (h) { /* the digest, made as the input was read: a mark now is of
            * another run of this load, begun meanwhile */
    crdt_hasher_final(h, digest);
    err = node_load_mark(n, digest, &from, &earlier);
    if (err != GS_ENOTFOUND) {
      rc = err ? cli_fail("load: cannot read the store: %s",
                          gs_i18n_strerror(err))
               : cli_fail("load: another run of this load began while this "
                          "one checked the input: let it finish, or give "
                          "the same command again to go on from where it "
                          "got");
      from = 0;
      goto out;
    }
  }
  if (changed_since(f, &st0)) {
    rc = cli_fail("load: %s changed while it was read: load it again",
                  file);
    goto out;
  }
  rewind(f);
  rc = write_pass(n, f, coll, scope, digest, (size_t)from, earlier, lines,
                  &pg, &wr);
  progress_end(&pg);
  if (rc != CLI_OK) {
    fprintf(stderr, _("gridsync: load: lines 1 to %zu are stored (%" PRIu64
                      " records); the same command again goes on from "
                      "there\n"),
            wr.lineno, earlier + wr.records);
    n = NULL; /* not "nothing was stored" */
    goto out;
  }
  double secs = now_s() - pg.t0;
  uint64_t records = earlier + wr.records;
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:I, s:I, s:I, s:f, s:b}", "records",
                                (json_int_t)records, "changes",
                                (json_int_t)wr.changes, "resumed_after",
                                (json_int_t)from, "seconds", secs,
                                "durable", !fast));
  else {
    printf(_("loaded %" PRIu64 " records in %" PRIu64 " changes, %.2f s (%.0f "
           "records/s)%s\n"),
           records, wr.changes, secs,
           secs > 0 ? (double)wr.records / secs : 0.0,
           fast ? _(", not synced to disk (--fast)") : "");
    rc = CLI_OK;
  }
out:
  if (rc != CLI_OK && n)
    fprintf(stderr, from ? _("gridsync: load: nothing more was stored\n")
                         : _("gridsync: load: nothing was stored\n"));
  if (f && f != in)
    fclose(f);
  if (in && in != stdin)
    fclose(in);
  return rc;
}
