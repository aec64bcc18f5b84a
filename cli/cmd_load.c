/*
 * load: bulk import of records from JSON Lines, one write transaction.
 *
 * Each line is one JSON object: its members are fields (a JSON array adds
 * set elements); an optional "$id" names the record (else a new id). The
 * lines are read one at a time into a node_batch (node/domain.h: the
 * checks of every local write, packed into changes, one transaction):
 * the file is stored whole or not at all, with one fsync (none with
 * --fast, the explicitly non-durable bulk mode).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "node/node.h"
#include "node/domain.h"
#include "node/member.h"

#define LOAD_LINE_MAX (1 << 20)

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line's object as an edit of a new record queued into b. */
static int load_line(node *n, node_batch *b, const char *coll,
                     const char *scope, json_t *obj, size_t lineno)
{
  node_reason why = {0};
  node_edit *e = NULL;
  const char *key;
  json_t *val;
  char err[160];
  int rc = CLI_FAIL;
  gs_err ge;

  json_t *jid = json_object_get(obj, "$id");
  if (jid) {
    uint8_t id[CRDT_ID_LEN];
    if (!json_is_string(jid) || node_parse_id(json_string_value(jid), id))
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
  json_object_foreach(obj, key, val)
  {
    if (strcmp(key, "$id") == 0)
      continue;
    nfields++;
    if (!crdt_name_valid(key, strlen(key))) {
      rc = cli_fail("load: line %zu: bad field name '%s'", lineno, key);
      goto out;
    }
    crdt_value v;
    if (!json_is_array(val)) {
      if (node_json_to_value(val, &v, err, sizeof err)) {
        rc = cli_fail("load: line %zu: field '%s': %s", lineno, key, err);
        goto out;
      }
      if ((ge = node_edit_set(e, key, &v, &why)) != GS_OK)
        goto refused;
      continue;
    }
    size_t ne = json_array_size(val);
    crdt_value *vs = calloc(ne ? ne : 1, sizeof *vs);
    if (!vs) {
      rc = cli_fail("out of memory");
      goto out;
    }
    for (size_t k = 0; k < ne; k++)
      if (node_json_to_value(json_array_get(val, k), &vs[k], err,
                             sizeof err)) {
        free(vs);
        rc = cli_fail("load: line %zu: field '%s': %s", lineno, key, err);
        goto out;
      }
    ge = node_edit_assign(e, key, vs, ne, &why);
    free(vs);
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
                  lineno, coll, json_string_value(jid));
  else
    rc = cli_fail("load: line %zu: %s", lineno, why.text);
out:
  node_edit_free(e);
  return rc;
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
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  bool tty = isatty(STDERR_FILENO) && !ctx->json;
  double t0 = now_s(), last = t0;
  node_batch *b = NULL;
  node_reason why = {0};
  gs_err err;
  node *n = cli_open(ctx, fast ? NODE_BULK : 0);

  if (!n)
    goto out;
  char pw[NODE_REASON_MAX];
  if (node_may_write(n, scope, strlen(scope), pw, sizeof pw) != GS_OK) {
    rc = cli_fail("load: %s", pw);
    goto out;
  }
  if ((err = node_batch_begin(n, NODE_BATCH_IMPORT | NODE_BATCH_NEW_ONLY,
                              &b)) != GS_OK) {
    rc = cli_fail("load: cannot start writing: %s", gs_i18n_strerror(err));
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
                    obj ? _("not a JSON object") : je.text);
      json_decref(obj);
      goto out;
    }
    rc = load_line(n, b, coll, scope, obj, lineno);
    json_decref(obj);
    if (rc != CLI_OK)
      goto out;
    rc = CLI_FAIL;
    double t = now_s();
    if (tty && t - last >= 1.0) {
      last = t;
      fprintf(stderr, _("\rloaded %" PRIu64 " records (%.0f/s)   "),
              node_batch_records(b),
              (double)node_batch_records(b) / (t - t0));
    }
  }
  if (ferror(f)) {
    rc = cli_fail("load: cannot read %s: %s", file, strerror(errno));
    goto out;
  }
  uint64_t records = node_batch_records(b), changes = 0;
  err = node_batch_commit(b, &changes, &why);
  b = NULL;
  if (err) {
    rc = cli_fail("load: %s", why.text);
    goto out;
  }
  double secs = now_s() - t0;
  if (tty)
    fprintf(stderr, "\r");
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:I, s:I, s:f, s:b}", "records",
                                (json_int_t)records, "changes",
                                (json_int_t)changes, "seconds", secs,
                                "durable", !fast));
  else {
    printf(_("loaded %" PRIu64 " records in %" PRIu64 " changes, %.2f s (%.0f "
           "records/s)%s\n"),
           records, changes, secs, secs > 0 ? (double)records / secs : 0.0,
           fast ? _(", not synced to disk (--fast)") : "");
    rc = CLI_OK;
  }
out:
  if (rc != CLI_OK && n)
    fprintf(stderr, _("gridsync: load: nothing was stored\n"));
  node_batch_abort(b);
  free(line);
  if (f && f != stdin)
    fclose(f);
  return rc;
}
