/*
 * load: bulk import of records from JSON Lines, one write transaction.
 *
 * Each line is one JSON object: its members are fields (a JSON array adds
 * set elements); an optional "$id" names the record (else a new id). The
 * records are packed into changes of at most LOAD_OPS ops and written in
 * one transaction: the file is stored whole or not at all, with one fsync
 * (none with --fast, the explicitly non-durable bulk mode).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "node/node.h"
#include "storage/store.h"

#define LOAD_OPS 512        /* ops per change */
#define LOAD_BYTES 40000    /* rough encoded bytes per change */
#define LOAD_LINE_MAX (1 << 20)

typedef struct loader {
  crdt_op ops[LOAD_OPS];
  size_t nops, bytes;
  json_t *keep; /* the parsed lines the ops borrow from */
  store_write *w;
  node *n;
  const char *coll, *scope;
  size_t records, changes;
  node_timebank_batch tb; /* what the file does to time-bank accounts */
} loader;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static gs_err flush_change(loader *l)
{
  if (l->nops == 0)
    return GS_OK;
  gs_err err = store_write_change(l->w, l->scope, strlen(l->scope), l->ops,
                                  l->nops, node_now(l->n), NULL, NULL);
  json_array_clear(l->keep);
  l->nops = 0;
  l->bytes = 0;
  l->changes++;
  return err;
}

static int on_exists(void *ctx, const crdt_record *r)
{
  (void)r;
  *(bool *)ctx = true;
  return 1;
}

/* GS_OK when (coll, id) is held, GS_ENOTFOUND when not. */
static gs_err record_exists(node *n, const char *coll, const uint8_t *id)
{
  bool found = false;
  gs_err err = store_get(node_store(n), coll, strlen(coll), id, on_exists,
                         &found);
  if (err && err != GS_ENOTFOUND)
    return err;
  return found ? GS_OK : GS_ENOTFOUND;
}

/* Queue the ops of one line's object; the ops borrow from obj. */
static int queue_record(loader *l, json_t *obj, size_t lineno)
{
  char err[160];
  uint8_t id[CRDT_ID_LEN];
  const char *key;
  json_t *val;
  size_t need = 0, bytes = 0;

  json_object_foreach(obj, key, val)
  {
    if (strcmp(key, "$id") == 0)
      continue;
    if (!crdt_name_valid(key, strlen(key)))
      return cli_fail("load: line %zu: bad field name '%s'", lineno, key);
    need += json_is_array(val) ? json_array_size(val) : 1;
  }
  if (need == 0)
    return cli_fail("load: line %zu: a record needs at least one field",
                    lineno);
  if (need > LOAD_OPS)
    return cli_fail("load: line %zu: more than %d values in one record",
                    lineno, LOAD_OPS);
  json_t *jid = json_object_get(obj, "$id");
  if (jid) {
    if (!json_is_string(jid) || cli_parse_id(json_string_value(jid), id))
      return cli_fail("load: line %zu: \"$id\" is not a record id", lineno);
    const node_coll *sc = node_schema_coll(l->coll, strlen(l->coll));
    if (sc && sc->immutable &&
        !crdt_id_owned_by(id, node_pk(l->n)))
      return cli_fail("load: line %zu: a %s is written once, and its id "
                      "names the node that wrote it: leave out \"$id\"",
                      lineno, l->coll);
  } else {
    node_id_for(l->n, l->coll, strlen(l->coll), id);
  }
  /* Check and size every value before queueing any op. */
  json_object_foreach(obj, key, val)
  {
    crdt_value v;
    if (strcmp(key, "$id") == 0)
      continue;
    if (json_is_array(val)) {
      for (size_t k = 0; k < json_array_size(val); k++) {
        if (cli_json_to_value(json_array_get(val, k), &v, err, sizeof err))
          return cli_fail("load: line %zu: field '%s': %s", lineno, key,
                          err);
        if (v.type != CRDT_STR && v.type != CRDT_REF)
          return cli_fail("load: line %zu: field '%s': set elements must be "
                          "strings or refs",
                          lineno, key);
        bytes += 64 + strlen(key) + (v.type == CRDT_STR ? v.u.s.n : 90);
      }
    } else {
      if (cli_json_to_value(val, &v, err, sizeof err))
        return cli_fail("load: line %zu: field '%s': %s", lineno, key, err);
      bytes += 64 + strlen(key) +
               (v.type == CRDT_STR || v.type == CRDT_BYTES ? v.u.s.n : 90);
    }
  }
  if (l->nops + need > LOAD_OPS || l->bytes + bytes > LOAD_BYTES) {
    gs_err e = flush_change(l);
    if (e)
      return cli_fail("load: cannot write: %s", gs_strerror(e));
  }
  if (bytes > CRDT_CHANGE_MAX - 1024)
    return cli_fail("load: line %zu: the record is too large for one change",
                    lineno);
  json_array_append(l->keep, obj);
  size_t first = l->nops;
  json_object_foreach(obj, key, val)
  {
    if (strcmp(key, "$id") == 0)
      continue;
    size_t cnt = json_is_array(val) ? json_array_size(val) : 1;
    for (size_t k = 0; k < cnt; k++) {
      crdt_op *op = &l->ops[l->nops++];
      memset(op, 0, sizeof *op);
      op->kind = json_is_array(val) ? CRDT_OP_ADD : CRDT_OP_SET;
      op->coll = l->coll;
      op->coll_len = strlen(l->coll);
      memcpy(op->id, id, CRDT_ID_LEN);
      op->field = key;
      op->field_len = strlen(key);
      cli_json_to_value(json_is_array(val) ? json_array_get(val, k) : val,
                        &op->value, err, sizeof err);
    }
  }
  char why[400];
  if (node_schema_check(NULL, l->ops + first, l->nops - first,
                        NODE_SCHEMA_IMPORT, why, sizeof why) != GS_OK)
    return cli_fail("load: line %zu: %s", lineno, why);
  if (node_timebank_batch_add(&l->tb, l->ops + first, l->nops - first) !=
      GS_OK)
    return cli_fail("out of memory");
  l->bytes += bytes;
  l->records++;
  return CLI_OK;
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

  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (!f)
    return cli_fail("load: cannot open %s: %s", file, strerror(errno));
  int rc = CLI_FAIL;
  loader *l = calloc(1, sizeof *l);
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  json_t *objs = NULL;
  bool tty = isatty(STDERR_FILENO) && !ctx->json;
  double t0 = now_s(), last = t0;
  gs_err err;

  if (!l || !(l->keep = json_array())) {
    rc = cli_fail("out of memory");
    goto out;
  }
  l->coll = coll;
  l->scope = scope;
  if (!(l->n = cli_open(ctx, fast ? NODE_BULK : 0)))
    goto out;
  char why[200];
  if (node_may_write(l->n, scope, strlen(scope), why, sizeof why) != GS_OK) {
    rc = cli_fail("load: %s", why);
    goto out;
  }
  /* First read and parse everything (records of a $id must be new: load
   * adds records; put and the domain commands change them, with their
   * checks), then write it all in one session. */
  if (!(objs = json_array())) {
    rc = cli_fail("out of memory");
    goto out;
  }
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (len > LOAD_LINE_MAX) {
      rc = cli_fail("load: line %zu is longer than 1 MiB", lineno);
      goto out;
    }
    size_t k = 0;
    while (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' ||
           line[k] == '\n')
      k++;
    if (line[k] == '\0')
      continue; /* blank line */
    json_error_t je;
    json_t *obj = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
    if (!obj || !json_is_object(obj)) {
      rc = cli_fail("load: line %zu: %s", lineno,
                    obj ? "not a JSON object" : je.text);
      json_decref(obj);
      goto out;
    }
    json_t *jid = json_object_get(obj, "$id");
    uint8_t id[CRDT_ID_LEN];
    if (jid && json_is_string(jid) &&
        cli_parse_id(json_string_value(jid), id) == GS_OK &&
        (err = record_exists(l->n, coll, id)) != GS_ENOTFOUND) {
      rc = err ? cli_fail("load: cannot read the store: %s", gs_strerror(err))
               : cli_fail("load: line %zu: %s %s exists: load adds new "
                          "records (change it with put or the domain "
                          "commands)",
                          lineno, coll, json_string_value(jid));
      json_decref(obj);
      goto out;
    }
    if (json_array_append_new(objs, obj) != 0 ||
        json_array_append_new(objs, json_integer((json_int_t)lineno)) != 0) {
      rc = cli_fail("out of memory");
      goto out;
    }
  }
  if (ferror(f)) {
    rc = cli_fail("load: cannot read %s: %s", file, strerror(errno));
    goto out;
  }
  if ((err = node_write_begin(l->n, &l->w)) != GS_OK) {
    rc = cli_fail("load: cannot start writing: %s", gs_strerror(err));
    goto out;
  }
  for (size_t k = 0; k + 1 < json_array_size(objs); k += 2) {
    rc = queue_record(l, json_array_get(objs, k),
                      (size_t)json_integer_value(json_array_get(objs, k + 1)));
    if (rc != CLI_OK)
      goto out;
    rc = CLI_FAIL;
    double t = now_s();
    if (tty && t - last >= 1.0) {
      last = t;
      fprintf(stderr, "\rloaded %zu records (%.0f/s)   ", l->records,
              (double)l->records / (t - t0));
    }
  }
  char owhy[300];
  if ((err = node_timebank_check_batch(l->n, &l->tb, owhy, sizeof owhy)) !=
      GS_OK) {
    rc = err == GS_ESCHEMA ? cli_fail("load: %s", owhy)
                           : cli_fail("load: cannot read the store: %s",
                                      gs_strerror(err));
    goto out;
  }
  if ((err = flush_change(l)) != GS_OK) {
    rc = cli_fail("load: cannot write: %s", gs_strerror(err));
    goto out;
  }
  err = store_write_commit(l->w);
  l->w = NULL;
  if (err) {
    rc = cli_fail("load: cannot commit: %s", gs_strerror(err));
    goto out;
  }
  double secs = now_s() - t0;
  if (tty)
    fprintf(stderr, "\r");
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:I, s:I, s:f, s:b}", "records",
                                (json_int_t)l->records, "changes",
                                (json_int_t)l->changes, "seconds", secs,
                                "durable", !fast));
  else {
    printf("loaded %zu records in %zu changes, %.2f s (%.0f records/s)%s\n",
           l->records, l->changes, secs,
           secs > 0 ? (double)l->records / secs : 0.0,
           fast ? ", not synced to disk (--fast)" : "");
    rc = CLI_OK;
  }
out:
  if (rc != CLI_OK && l && l->n)
    fprintf(stderr, "gridsync: load: nothing was stored\n");
  json_decref(objs);
  if (l) {
    store_write_abort(l->w);
    node_timebank_batch_free(&l->tb);
    json_decref(l->keep);
    node_close(l->n);
    free(l);
  }
  free(line);
  if (f && f != stdin)
    fclose(f);
  return rc;
}
