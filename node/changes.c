/*
 * What changed since a time (node/domain.h, `gridsync changes`): every
 * change of every feed this node holds under a scope prefix, one item
 * per record a change touched, with its author, grid and fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/domain.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"

typedef struct feeds {
  store_feed *v;
  size_t n, cap;
  const char *prefix;
  gs_err err;
} feeds;

static int on_feed(void *ctx, const store_feed *f)
{
  feeds *fs = ctx;
  size_t sn = strlen(f->scope);
  if (f->scope[0] == '_' ||
      !crdt_scope_under(f->scope, sn, fs->prefix, strlen(fs->prefix)))
    return 0;
  if (crdt_grow((void **)&fs->v, &fs->cap, fs->n + 1, sizeof *fs->v)) {
    fs->err = GS_ENOMEM;
    return 1;
  }
  fs->v[fs->n++] = *f;
  return 0;
}

typedef struct items {
  node_change_item *v;
  size_t n, cap;
  uint64_t since_ms;
  bool truncated;
  gs_err err;
} items;

/* The item of (change, coll, id), added when new. */
static node_change_item *item_for(items *it, const crdt_change *c,
                                  const crdt_op *op, size_t first)
{
  for (size_t i = first; i < it->n; i++)
    if (strlen(it->v[i].coll) == op->coll_len &&
        memcmp(it->v[i].coll, op->coll, op->coll_len) == 0 &&
        memcmp(it->v[i].id, op->id, CRDT_ID_LEN) == 0)
      return &it->v[i];
  if (it->n >= NODE_CHANGES_MAX) {
    it->truncated = true;
    return NULL;
  }
  if (crdt_grow((void **)&it->v, &it->cap, it->n + 1, sizeof *it->v)) {
    it->err = GS_ENOMEM;
    return NULL;
  }
  node_change_item *x = &it->v[it->n++];
  memset(x, 0, sizeof *x);
  x->ms = CRDT_HLC_MS(c->hlc);
  x->seq = c->seq;
  memcpy(x->origin, c->origin, CRDT_KEY_LEN);
  snprintf(x->scope, sizeof x->scope, "%.*s", (int)c->scope_len, c->scope);
  snprintf(x->coll, sizeof x->coll, "%.*s", (int)op->coll_len, op->coll);
  memcpy(x->id, op->id, CRDT_ID_LEN);
  return x;
}

/* Add field (n bytes) to x->fields once ("a, b"; cut when full). */
static void note_field(node_change_item *x, const char *f, size_t n)
{
  size_t len = strlen(x->fields);
  const char *p = x->fields;
  while (*p) {
    size_t k = strcspn(p, ",");
    if (k == n && memcmp(p, f, n) == 0)
      return;
    p += k + (p[k] == ',');
  }
  if (len + n + 2 > sizeof x->fields)
    return;
  if (len)
    x->fields[len++] = ',';
  memcpy(x->fields + len, f, n);
  x->fields[len + n] = '\0';
}

static int on_raw(void *ctx, uint64_t seq, const uint8_t *bytes, size_t nb)
{
  items *it = ctx;
  crdt_change *c;
  (void)seq;
  if (crdt_change_decode(bytes, nb, &c) != GS_OK)
    return 0; /* held changes were checked on arrival */
  if (CRDT_HLC_MS(c->hlc) >= it->since_ms) {
    size_t first = it->n;
    for (size_t i = 0; i < c->nops && !it->err && !it->truncated; i++) {
      const crdt_op *op = &c->ops[i];
      if (op->coll_len == 0 || op->coll[0] == '_')
        continue;
      node_change_item *x = item_for(it, c, op, first);
      if (!x)
        break;
      if (op->kind == CRDT_OP_DELETE)
        x->deleted = true;
      else if (op->kind == CRDT_OP_RESTORE)
        x->restored = true;
      else
        note_field(x, op->field, op->field_len);
    }
  }
  crdt_change_free(c);
  return it->err || it->truncated;
}

static int cmp_item(const void *a, const void *b)
{
  const node_change_item *x = a, *y = b;
  if (x->ms != y->ms)
    return x->ms < y->ms ? -1 : 1;
  int k = memcmp(x->origin, y->origin, CRDT_KEY_LEN);
  if (k)
    return k;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

gs_err node_changes(node *n, const char *prefix, uint64_t since_ms,
                    node_change_item_cb cb, void *ctx, bool *truncated,
                    node_reason *why)
{
  feeds fs = {.prefix = prefix ? prefix : ""};
  items it = {.since_ms = since_ms};
  gs_err err;
  if (*fs.prefix && !crdt_scope_valid(fs.prefix, strlen(fs.prefix)))
    return node_reason_set(why, GS_EINVAL, "bad scope '%s'", fs.prefix);
  err = store_feeds(n->st, on_feed, &fs);
  if (!err)
    err = fs.err;
  for (size_t i = 0; !err && i < fs.n && !it.truncated; i++) {
    err = store_feed_read(n->st, fs.v[i].feed, 1, fs.v[i].seq, on_raw, &it);
    if (!err)
      err = it.err;
  }
  free(fs.v);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (err) {
    free(it.v);
    return node_reason_set(why, err, "cannot read the store: %s",
                           gs_i18n_strerror(err));
  }
  if (it.n)
    qsort(it.v, it.n, sizeof *it.v, cmp_item);
  /* names and authors, read now that no feed is being read */
  for (size_t i = 0; i < it.n; i++) {
    node_record_name(n, it.v[i].coll, it.v[i].id, it.v[i].name,
                     sizeof it.v[i].name);
    node_author_text(n, it.v[i].origin, it.v[i].author,
                     sizeof it.v[i].author);
  }
  for (size_t i = 0; i < it.n; i++)
    if (cb(ctx, &it.v[i]))
      break;
  if (truncated)
    *truncated = it.truncated;
  free(it.v);
  return GS_OK;
}

gs_err node_day_start_ms(node *n, const char *text, uint64_t *out,
                         node_reason *why)
{
  char day[11];
  if (!node_date_parse(n, text, day))
    return node_reason_set(why, GS_EINVAL,
                           "'%s' is not a date: give 2026-12-05, 2026/12/5, "
                           "2026年12月5日, 今天 or 昨天",
                           text);
  struct tm tm = {0};
  tm.tm_year = (int)strtol(day, NULL, 10) - 1900;
  tm.tm_mon = (int)strtol(day + 5, NULL, 10) - 1;
  tm.tm_mday = (int)strtol(day + 8, NULL, 10);
  tm.tm_isdst = -1;
  time_t t = mktime(&tm);
  if (t == (time_t)-1)
    return node_reason_set(why, GS_EINVAL, "'%s' is out of range", text);
  *out = (uint64_t)t * 1000;
  return GS_OK;
}
