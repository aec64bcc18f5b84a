/* Record commands: put, get, list, delete, restore, history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"
#include "node/domain.h"
#include "node/schema.h"

/* ---- shared helpers ---- */

static int check_coll(const char *cmd, const char *coll)
{
  if (!crdt_name_valid(coll, strlen(coll)))
    return cli_usage(cmd,
                     "bad collection name '%s' (lower-case letters, digits "
                     "and '_', starting with a letter, at most %d)",
                     coll, CRDT_NAME_MAX);
  return CLI_OK;
}

static int check_id(const char *cmd, const char *text,
                    uint8_t id[CRDT_ID_LEN])
{
  if (node_parse_id(text, id) != GS_OK)
    return cli_usage(cmd, "bad record id '%s' (26 characters of 0-9 A-Z)",
                     text);
  return CLI_OK;
}

static int check_scope(const char *cmd, const char *scope)
{
  if (!*scope)
    return cli_usage(cmd, "the scope is empty: give --scope "
                          "STREET/COMMUNITY/GRID, e.g. --scope "
                          "gongrencun/qinghejv/g07");
  if (!crdt_scope_valid(scope, strlen(scope)))
    return cli_usage(cmd,
                     "bad scope '%s': up to %d segments of letters, digits, "
                     "'_', '.' or '-' joined by '/', at most %d bytes",
                     scope, CRDT_SCOPE_DEPTH, CRDT_SCOPE_MAX);
  return CLI_OK;
}

/* Load (coll, id) into *out (caller frees). GS_ENOTFOUND if absent. */
static gs_err load_record(node *n, const char *coll, const uint8_t *id,
                          crdt_record **out)
{
  return node_get(n, coll, id, out);
}

static int not_found(const char *coll, const char *idtext)
{
  return cli_fail("no %s record with id %s", coll, idtext);
}

/* The human form of field i of r: its value, or its set's elements in
 * brackets separated by sep, as a person reads them (labels, names). */
static void print_field_value(node *n, const crdt_record *r, size_t i,
                              const crdt_field_view *fv, const char *sep)
{
  static char buf[CRDT_TEXT_MAX + 64];
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char cname[CRDT_NAME_MAX + 1], fname[CRDT_NAME_MAX + 1];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  snprintf(cname, sizeof cname, "%.*s", (int)cn, coll);
  snprintf(fname, sizeof fname, "%.*s", (int)fv->name_len, fv->name);
  if (!fv->is_set) {
    node_display_text(n, cname, fname, &fv->value, buf, sizeof buf);
    printf("%s", buf);
    return;
  }
  printf("[");
  for (size_t j = 0; j < fv->nelems; j++) {
    crdt_value ev;
    if (crdt_record_elem(r, i, j, &ev) != GS_OK)
      continue;
    node_display_text(n, cname, fname, &ev, buf, sizeof buf);
    printf("%s%s", j ? sep : "", buf);
  }
  printf("]");
}

/* Human form of one record. */
static void print_record(node *n, const crdt_record *r)
{
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1], when[40], who[NODE_NAME_MAX + 16];
  crdt_stamp last;

  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  printf("%.*s %s%s\n", (int)cn, coll, idt,
         crdt_record_deleted(r) ? _("  (deleted)") : "");
  int w = 7; /* "updated" */
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) == GS_OK && (int)fv.name_len > w)
      w = (int)fv.name_len;
  }
  printf("  %-*s %.*s\n", w, "scope", (int)sn, scope);
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK)
      continue;
    printf("  %.*s%*s ", (int)fv.name_len, fv.name, w - (int)fv.name_len,
           "");
    print_field_value(n, r, i, &fv, ", ");
    printf("\n");
  }
  crdt_record_last_stamp(r, &last);
  node_time_local(CRDT_HLC_MS(last.hlc), when, sizeof when);
  node_author_text(n, last.origin, who, sizeof who);
  printf(_("  %-*s %s by %s\n"), w, "updated", when, who);
}

/* ---- put ---- */

typedef cli_assign assign;

bool cli_parse_assign(const char *a, cli_assign *out)
{
  size_t k = 0;
  while ((a[k] >= 'a' && a[k] <= 'z') || (a[k] >= '0' && a[k] <= '9') ||
         a[k] == '_')
    k++;
  out->field = a;
  out->flen = k;
  if (a[k] == '=') {
    out->op = '=';
    out->val = a + k + 1;
  } else if ((a[k] == ':' || a[k] == '+' || a[k] == '-') && a[k + 1] == '=') {
    out->op = a[k];
    out->val = a + k + 2;
  } else {
    return false;
  }
  return crdt_name_valid(a, k);
}

/* A JSON element to a set element value (string or ref), borrowing e. */
static bool json_elem(json_t *e, crdt_value *out, char *err, size_t errlen)
{
  if (node_json_to_value(e, out, err, errlen) != GS_OK)
    return false;
  if (out->type != CRDT_STR && out->type != CRDT_REF) {
    snprintf(err, errlen, "%s", _("set elements must be strings or "
                          "{\"$ref\": \"COLL/ID\"}"));
    return false;
  }
  return true;
}

gs_err cli_edit_assign(node_edit *e, const cli_assign *a, node_reason *why)
{
  char field[CRDT_NAME_MAX + 1], err[160];
  snprintf(field, sizeof field, "%.*s", (int)a->flen, a->field);
  if (a->op != ':') { /* FIELD=TEXT: the text as it is */
    crdt_value t = {.type = CRDT_STR};
    t.u.s.p = a->val;
    t.u.s.n = strlen(a->val);
    return a->op == '=' ? node_edit_set(e, field, &t, why)
           : a->op == '+' ? node_edit_add(e, field, &t, why)
                          : node_edit_remove(e, field, &t, why);
  }
  /* FIELD:=JSON: a value, or an array assigning a whole set */
  json_error_t je;
  json_t *j = json_loads(a->val, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                         &je);
  if (!j)
    return node_reason_set(why, GS_EINVAL, "field '%s': '%s' is not JSON (%s)",
                           field, a->val, je.text);
  crdt_value v;
  gs_err rc;
  if (!json_is_array(j)) {
    if (node_json_to_value(j, &v, err, sizeof err) != GS_OK)
      rc = node_reason_set(why, GS_EINVAL, "field '%s': %s", field, err);
    else
      rc = node_edit_set(e, field, &v, why);
    json_decref(j);
    return rc;
  }
  size_t ne = json_array_size(j);
  crdt_value *want = calloc(ne ? ne : 1, sizeof *want);
  rc = want ? GS_OK : node_reason_set(why, GS_ENOMEM, "out of memory");
  for (size_t k = 0; k < ne && !rc; k++)
    if (!json_elem(json_array_get(j, k), &want[k], err, sizeof err))
      rc = node_reason_set(why, GS_EINVAL, "field '%s': element %zu: %s",
                           field, k + 1, err);
  if (!rc)
    rc = node_edit_assign(e, field, want, ne, why);
  free(want);
  json_decref(j);
  return rc;
}

static int put_record(cli_ctx *ctx, const char *cmd, const char *coll,
                      const char *idtext, const char *scope,
                      const cli_assign *as, size_t nas);

int cli_cmd_put(cli_ctx *ctx)
{
  const char *coll = NULL, *idtext = NULL, *scope = NULL;
  assign *as = calloc((size_t)ctx->argc, sizeof *as);
  size_t nas = 0;
  int rc = CLI_USAGE;

  if (!as)
    return cli_fail("out of memory");
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--id", &idtext)) ||
        (m = cli_opt(ctx, &i, "--scope", &scope))) {
      if (m < 0)
        goto out;
      continue;
    }
    const char *a = ctx->argv[i];
    if (strcmp(a, "--") == 0)
      continue;
    if (!coll) {
      if (strncmp(a, "--", 2) == 0) {
        rc = cli_usage("put", "unknown option '%s'", a);
        goto out;
      }
      coll = a;
      continue;
    }
    if (!cli_parse_assign(a, &as[nas])) {
      rc = cli_usage("put",
                     "'%s' is not FIELD=TEXT, FIELD:=JSON, FIELD+=ELEM or "
                     "FIELD-=ELEM (field names: lower-case letters, digits, "
                     "'_')",
                     a);
      goto out;
    }
    nas++;
  }
  if (!coll) {
    rc = cli_usage("put", "which collection?");
    goto out;
  }
  rc = put_record(ctx, "put", coll, idtext, scope, as, nas);
out:
  free(as);
  return rc;
}

/* put: write the assignments to (coll, idtext), a new record when idtext
 * is NULL, in scope when given. */
static int put_record(cli_ctx *ctx, const char *cmd, const char *coll,
                      const char *idtext, const char *scope,
                      const cli_assign *as, size_t nas)
{
  int rc;
  node_edit *e = NULL;
  node_reason why = {0};
  node_committed res;
  uint8_t id[CRDT_ID_LEN];

  if ((rc = check_coll(cmd, coll)) != CLI_OK)
    return rc;
  if (nas == 0)
    return cli_usage(cmd, "nothing to write: give FIELD=VALUE arguments");
  if (idtext && (rc = check_id(cmd, idtext, id)) != CLI_OK)
    return rc;
  if (scope && (rc = check_scope(cmd, scope)) != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  gs_err err = idtext ? node_edit_open(n, coll, id, true, &e, &why)
                      : node_edit_new(n, coll, scope, &e, &why);
  if (!err && scope && idtext)
    err = node_edit_set_scope(e, scope, &why);
  for (size_t i = 0; i < nas && !err; i++)
    err = cli_edit_assign(e, &as[i], &why);
  if (!err)
    err = node_edit_commit(e, &res, &why);
  if (err) {
    rc = cli_refused(cmd, &why);
    goto out;
  }
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(res.id, CRDT_ID_LEN, idt);
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:s, s:s, s:b, s:I}", "id", idt,
                                "collection", coll, "scope", res.scope,
                                "created", res.created, "seq",
                                (json_int_t)res.seq));
  else {
    printf("%s\n", idt);
    rc = CLI_OK;
  }
out:
  node_edit_free(e);
  return rc;
}

/* ---- get ---- */

/* Parse "CMD COLLECTION RECORD" into coll, id and its id text (idt,
 * CRDT_ID_TEXT_LEN + 1 bytes): an id, or for a collection of the schema
 * what a person would say (node_resolve: a name, an address, COLL/ID; a
 * numbered choice among namesakes in a terminal). */
static int coll_id_args(cli_ctx *ctx, const char *cmd, const char **coll,
                        uint8_t id[CRDT_ID_LEN], char *idt)
{
  if (ctx->argc != 3)
    return cli_usage(cmd, ctx->argc < 3 ? "which record?"
                                        : "too many arguments");
  int rc;
  if ((rc = check_coll(cmd, ctx->argv[1])) != CLI_OK)
    return rc;
  *coll = ctx->argv[1];
  if (node_parse_id(ctx->argv[2], id) != GS_OK &&
      node_schema_coll(*coll, strlen(*coll))) {
    node *n = cli_open(ctx, 0);
    node_hit h;
    node_reason why = {0};
    if (!n)
      return CLI_FAIL;
    if (node_resolve_choose(n, *coll, ctx->argv[2], 0, cli_choose, ctx, "",
                            &h, &why) != GS_OK)
      return cli_refused(cmd, &why);
    memcpy(id, h.id, CRDT_ID_LEN);
  } else if ((rc = check_id(cmd, ctx->argv[2], id)) != CLI_OK) {
    return rc;
  }
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  return CLI_OK;
}

int cli_cmd_get(cli_ctx *ctx)
{
  const char *coll = NULL;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  int rc = coll_id_args(ctx, "get", &coll, id, idt);
  if (rc != CLI_OK)
    return rc;
  return cli_show_record(ctx, "get", coll, idt);
}

int cli_show_record(cli_ctx *ctx, const char *cmd, const char *coll,
                    const char *idtext)
{
  uint8_t id[CRDT_ID_LEN];
  int rc;
  if ((rc = check_id(cmd, idtext, id)) != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  crdt_record *r = NULL;
  gs_err err = load_record(n, coll, id, &r);
  if (err == GS_ENOTFOUND)
    rc = not_found(coll, idtext);
  else if (err)
    rc = cli_fail("%s: cannot read %s %s: %s", cmd, coll, idtext,
                  gs_i18n_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(node_record_json(r));
  else
    print_record(n, r);
  crdt_record_free(r);
  return rc;
}

/* ---- list ---- */

typedef struct list_ctx {
  node *n;
  size_t count;
  json_t *out;
} list_ctx;

static int on_list(void *vctx, const crdt_record *r)
{
  list_ctx *l = vctx;
  l->count++;
  if (l->out) {
    json_array_append_new(l->out, node_record_json(r));
    return 0;
  }
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  printf("%s  %.*s%s", idt, (int)sn, scope,
         crdt_record_deleted(r) ? "  (deleted)" : "");
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK)
      continue;
    printf("  %.*s=", (int)fv.name_len, fv.name);
    print_field_value(l->n, r, i, &fv, ",");
  }
  printf("\n");
  return 0;
}

int cli_list_query(cli_ctx *ctx, const char *cmd, const node_query *q)
{
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  list_ctx l = {.n = n};
  node_reason why = {0};
  if (ctx->json)
    l.out = json_array();
  if (node_query_run(n, q, on_list, &l, NULL, &why) != GS_OK) {
    json_decref(l.out);
    return cli_refused(cmd, &why);
  }
  if (l.out)
    return cli_json_out(l.out);
  printf(_("(%zu record%s)\n"), l.count, l.count == 1 ? "" : "s");
  return CLI_OK;
}

int cli_cmd_list(cli_ctx *ctx)
{
  const char *w, *lim;
  node_query q = {.prefix = "", .moved = true}; /* records as stored */
  node_cond *conds = calloc((size_t)ctx->argc, sizeof *conds);
  int rc = CLI_USAGE;

  if (!conds)
    return cli_fail("out of memory");
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--scope", &q.prefix)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--where", &w)) != 0) {
      if (m < 0)
        goto out;
      if (!node_cond_parse(w, &conds[q.nconds])) {
        rc = cli_usage("list", "--where needs FIELD=VALUE (equal), "
                               "FIELD~TEXT (contains), FIELD!=VALUE or "
                               "FIELD<VALUE, <=, >, >= (numbers, dates), "
                               "not '%s'",
                       w);
        goto out;
      }
      q.nconds++;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--limit", &lim)) != 0) {
      char *end;
      if (m < 0)
        goto out;
      unsigned long long v = strtoull(lim, &end, 10);
      if (!*lim || *end || v == 0 || *lim == '-') {
        rc = cli_usage("list", "--limit needs a positive number");
        goto out;
      }
      q.limit = (size_t)v;
      continue;
    }
    if (strcmp(ctx->argv[i], "--deleted") == 0) {
      q.deleted = true;
      continue;
    }
    if (q.coll || strncmp(ctx->argv[i], "--", 2) == 0) {
      rc = cli_usage("list", "unexpected argument '%s'", ctx->argv[i]);
      goto out;
    }
    q.coll = ctx->argv[i];
  }
  if (!q.coll) {
    rc = cli_usage("list", "which collection?");
    goto out;
  }
  if ((rc = check_coll("list", q.coll)) != CLI_OK)
    goto out;
  if (*q.prefix && !crdt_scope_valid(q.prefix, strlen(q.prefix))) {
    rc = check_scope("list", q.prefix);
    goto out;
  }
  q.conds = conds;
  rc = cli_list_query(ctx, "list", &q);
out:
  free(conds);
  return rc;
}

/* ---- delete / restore ---- */

static int tombstone(cli_ctx *ctx, bool del)
{
  const char *cmd = del ? "delete" : "restore";
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  int rc = coll_id_args(ctx, cmd, &coll, id, idt);
  if (rc != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_edit *e = NULL;
  node_reason why = {0};
  node_committed res = {0};
  gs_err err = node_edit_open(n, coll, id, false, &e, &why);
  if (err == GS_ENOTFOUND)
    return not_found(coll, idt);
  if (!err)
    err = node_edit_delete(e, del, &why);
  if (!err)
    err = node_edit_commit(e, &res, &why);
  node_edit_free(e);
  if (err)
    return cli_refused(cmd, &why);
  if (ctx->json)
    return cli_json_out(json_pack("{s:s, s:s, s:b, s:b}", "collection", coll,
                                  "id", idt, "deleted", del,
                                  "changed", res.changed));
  printf(res.changed ? (del ? _("%s %s deleted\n") : _("%s %s restored\n"))
         : (del ? _("%s %s was already deleted\n")
                : _("%s %s was already restored\n")), coll, idt);
  return CLI_OK;
}

int cli_cmd_delete(cli_ctx *ctx)
{
  return tombstone(ctx, true);
}

int cli_cmd_restore(cli_ctx *ctx)
{
  return tombstone(ctx, false);
}

/* ---- history ---- */

typedef struct hist_ctx {
  node *node;
  const char *coll;
  const uint8_t *id;
  json_t *out;
  size_t n;
} hist_ctx;

static const char *op_name(crdt_op_kind k)
{
  switch (k) {
  case CRDT_OP_SET:
    return N_("set");
  case CRDT_OP_ADD:
    return N_("add");
  case CRDT_OP_REMOVE:
    return N_("remove");
  case CRDT_OP_DELETE:
    return N_("delete");
  case CRDT_OP_RESTORE:
    return N_("restore");
  }
  return "?";
}

static int on_history(void *vctx, const crdt_change *c)
{
  hist_ctx *h = vctx;
  static char buf[CRDT_TEXT_MAX + 64];
  char when[40], who[NODE_NAME_MAX + 16], whofull[CRDT_KEY_TEXT_LEN + 1];
  size_t cn = strlen(h->coll);
  json_t *ops = NULL;

  (h->out ? node_time_text : node_time_local)(CRDT_HLC_MS(c->hlc), when, sizeof when);
  node_author_text(h->node, c->origin, who, sizeof who);
  if (h->out) {
    crdt_base32_encode(c->origin, CRDT_KEY_LEN, whofull);
    ops = json_array();
    json_array_append_new(
        h->out, json_pack("{s:s, s:I, s:s, s:s%, s:I, s:o}", "time", when,
                          "hlc", (json_int_t)c->hlc, "by", whofull, "scope",
                          c->scope, c->scope_len, "seq", (json_int_t)c->seq,
                          "ops", ops));
  } else {
    printf(_("%s  by %s  seq %" PRIu64 "\n"), when, who, c->seq);
  }
  h->n++;
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->coll_len != cn || memcmp(op->coll, h->coll, cn) != 0 ||
        memcmp(op->id, h->id, CRDT_ID_LEN) != 0)
      continue;
    bool has_field = op->kind <= CRDT_OP_REMOVE;
    if (ops) {
      json_t *o = json_pack("{s:s}", "op", op_name(op->kind));
      if (has_field) {
        json_object_set_new(o, "field",
                            json_stringn(op->field, op->field_len));
        json_object_set_new(o, "value", node_value_json(&op->value));
      }
      json_array_append_new(ops, o);
    } else if (has_field) {
      node_value_text(&op->value, buf, sizeof buf);
      printf("    %-*s %.*s %s %s\n", cli_pad(_(op_name(op->kind)), 7),
             _(op_name(op->kind)), (int)op->field_len,
             op->field,
             op->kind == CRDT_OP_SET ? "=" : op->kind == CRDT_OP_ADD ? "+"
                                                                     : "-",
             buf);
    } else {
      printf("    %s\n", _(op_name(op->kind)));
    }
  }
  return 0;
}

int cli_cmd_history(cli_ctx *ctx)
{
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  int rc = coll_id_args(ctx, "history", &coll, id, idt);
  if (rc != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  hist_ctx h = {.node = n, .coll = coll, .id = id};
  if (ctx->json)
    h.out = json_array();
  gs_err err = node_history(n, coll, id, on_history, &h);
  if ((err == GS_OK && h.n == 0) || err == GS_ENOTFOUND) {
    json_decref(h.out);
    rc = not_found(coll, idt);
  } else if (err) {
    json_decref(h.out);
    rc = cli_fail("history: cannot read the store: %s", gs_i18n_strerror(err));
  } else if (h.out) {
    rc = cli_json_out(h.out);
  }
  return rc;
}
