/*
 * Domain commands (DESIGN.md sections 8 and 9): friendlier forms over
 * put/get/list for every collection of the schema. This file only reads
 * arguments and prints: the rules (references by name, typed values,
 * defaults, verbs, the time-bank check) are node/domain.h's.
 *
 *   gridsync COLL add [--scope S] [--FIELD VALUE ...] [TEXT] [FIELD=...]
 *   gridsync COLL edit ID [--FIELD VALUE ...] [--no-FIELD ELEM ...]
 *   gridsync COLL show ID | list [--scope P] [--FIELD VALUE ...] | fields
 * and the verbs of the schema (appeal accept/assign/resolve/close/reopen,
 * task claim/done/reopen), resident find, timebank deposit/spend/adjust/
 * balance/balances. Options are the schema's field names with '-' for
 * '_' (--birth-year); a set field also takes its singular (--tag).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/node.h"
#include "node/schema.h"

static const char *art(const char *name)
{
  return strchr("aeiou", name[0]) ? "an" : "a";
}

/* ---- options to edits ---- */

static bool is_set(const node_field *f)
{
  return f->type == NODE_F_TAGS || f->type == NODE_F_TEXTS ||
         f->type == NODE_F_REFS;
}

/* The field an option names: "--birth-year" -> birth_year; "--tag" ->
 * tags (a set's singular). *neg when "--no-FIELD" (set removal). */
static const node_field *opt_field(const node_coll *c, const char *opt,
                                   bool *neg)
{
  char name[CRDT_NAME_MAX + 2];
  *neg = false;
  if (strncmp(opt, "--", 2) != 0)
    return NULL;
  opt += 2;
  if (strncmp(opt, "no-", 3) == 0) {
    *neg = true;
    opt += 3;
  }
  size_t len = strlen(opt);
  if (len == 0 || len > CRDT_NAME_MAX)
    return NULL;
  for (size_t i = 0; i <= len; i++)
    name[i] = opt[i] == '-' ? '_' : opt[i];
  const node_field *f = node_schema_field(c, name, len);
  if (!f) {
    name[len] = 's'; /* the singular of a set: --tag for tags */
    name[len + 1] = '\0';
    f = node_schema_field(c, name, len + 1);
    if (f && !is_set(f))
      f = NULL;
  }
  if (f && *neg && !is_set(f))
    return NULL;
  return f;
}

static int no_option(const char *cmd, const node_coll *c, const char *a)
{
  return cli_usage(cmd, "%s %s has no option '%s' (see 'gridsync %s "
                        "fields')",
                   art(c->name), c->name, a, c->name);
}

/* Options a verb handles itself (--date, --to), taken out of argv. */
typedef struct verb_opts {
  const char *date, *to;
} verb_opts;

/* Read argv[from..] into e: --scope (allow_scope), --FIELD VALUE,
 * --no-FIELD ELEM, FIELD=... forms of the collection's fields, and, when
 * allow_text, one free text (everything after "--" is text). vo, when
 * given, takes --date and --to. */
static int parse_fields(cli_ctx *ctx, const node_coll *c, int from,
                        bool allow_scope, bool allow_text, node_edit *e,
                        verb_opts *vo, size_t *given)
{
  const char *cmd = ctx->argv[0];
  bool had_text = false, dashdash = false;
  node_reason why = {0};
  gs_err err = GS_OK;
  node_edit_set_chooser(e, cli_choose, ctx);
  for (int i = from; i < ctx->argc && !err; i++) {
    const char *a = ctx->argv[i];
    const char *val;
    int m;
    if (!dashdash && strcmp(a, "--") == 0) {
      dashdash = true;
      continue;
    }
    if (!dashdash && allow_scope &&
        (m = cli_opt(ctx, &i, "--scope", &val)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      err = node_edit_set_scope(e, val, &why);
      continue;
    }
    if (!dashdash && vo && (m = cli_opt(ctx, &i, "--date", &val)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      vo->date = val;
      continue;
    }
    if (!dashdash && vo && (m = cli_opt(ctx, &i, "--to", &val)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      vo->to = val;
      continue;
    }
    if (!dashdash && strncmp(a, "--", 2) == 0) {
      bool neg;
      const node_field *f = opt_field(c, a, &neg);
      if (!f)
        return no_option(cmd, c, a);
      if (i + 1 >= ctx->argc)
        return cli_usage(cmd, "%s needs a value", a);
      err = node_edit_text(e, f->name, neg ? '-' : is_set(f) ? '+' : '=',
                           ctx->argv[++i], &why);
      (*given)++;
      continue;
    }
    cli_assign as;
    if (!dashdash && cli_parse_assign(a, &as) &&
        node_schema_field(c, as.field, as.flen)) {
      err = cli_edit_assign(e, &as, &why);
      (*given)++;
      continue;
    }
    const char *mt = node_main_text(c);
    if (!allow_text || !mt || had_text)
      return cli_usage(cmd, "unexpected argument '%s'", a);
    had_text = true;
    err = node_edit_text(e, mt, '=', a, &why);
    (*given)++;
  }
  return err ? cli_refused(cmd, &why) : CLI_OK;
}

/* Commit e and print its id (or --json: {collection, id, done}). */
static int commit_and_print(cli_ctx *ctx, const node_coll *c, node_edit *e,
                            const char *what)
{
  node_reason why = {0};
  node_committed res;
  if (node_edit_commit(e, &res, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(res.id, CRDT_ID_LEN, idt);
  if (ctx->json)
    return cli_json_out(json_pack("{s:s, s:s, s:s}", "collection", c->name,
                                  "id", idt, "done", what));
  printf("%s\n", idt);
  return CLI_OK;
}

/* ---- add / edit / show / list / fields ---- */

static int cmd_add(cli_ctx *ctx, node *n, const node_coll *c, int from)
{
  node_edit *e;
  node_reason why = {0};
  size_t given = 0;
  if (node_edit_new(n, c->name, NULL, &e, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  int rc = parse_fields(ctx, c, from, true, true, e, NULL, &given);
  if (rc == CLI_OK)
    rc = commit_and_print(ctx, c, e, "added");
  node_edit_free(e);
  return rc;
}

/* Argument i names a record of c: an id, COLL/ID, a name or an address
 * (node_resolve; a numbered choice among namesakes in a terminal). */
static int record_arg(cli_ctx *ctx, node *n, const node_coll *c, int i,
                      uint8_t id[CRDT_ID_LEN])
{
  node_hit h;
  node_reason why = {0};
  if (i >= ctx->argc)
    return cli_usage(ctx->argv[0], "which %s? give its name or id",
                     c->name);
  if (node_resolve_choose(n, c->name, ctx->argv[i], 0, cli_choose, ctx, "",
                          &h, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  memcpy(id, h.id, CRDT_ID_LEN);
  return CLI_OK;
}

/* An edit of the held record of argument i. */
static int open_arg(cli_ctx *ctx, node *n, const node_coll *c, int i,
                    node_edit **e)
{
  uint8_t id[CRDT_ID_LEN];
  node_reason why = {0};
  int rc = record_arg(ctx, n, c, i, id);
  if (rc != CLI_OK)
    return rc;
  if (node_edit_open(n, c->name, id, false, e, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  return CLI_OK;
}

static int cmd_edit(cli_ctx *ctx, node *n, const node_coll *c, int from)
{
  node_edit *e = NULL;
  size_t given = 0;
  int rc = open_arg(ctx, n, c, from, &e);
  if (rc == CLI_OK)
    rc = parse_fields(ctx, c, from + 1, false, true, e, NULL, &given);
  if (rc == CLI_OK && given == 0)
    rc = cli_usage(ctx->argv[0], "nothing to change: give --FIELD VALUE");
  if (rc == CLI_OK)
    rc = commit_and_print(ctx, c, e, "changed");
  node_edit_free(e);
  return rc;
}

static int cmd_show(cli_ctx *ctx, const node_coll *c, int from)
{
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], "too many arguments");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc = record_arg(ctx, n, c, from, id);
  if (rc != CLI_OK)
    return rc;
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  return cli_show_record(ctx, ctx->argv[0], c->name, idt);
}

/* Write the records of q to path as a ledger (CSV or .xlsx). */
static int export_list(cli_ctx *ctx, const node_query *q,
                       node_export_fmt fmt, const char *path, unsigned flags)
{
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_reason why = {0};
  size_t rows = 0;
  if (node_export_query(n, q, fmt, path, flags, &rows, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  if (strcmp(path, "-") == 0)
    return CLI_OK;
  if (ctx->json)
    return cli_json_out(json_pack("{s:s, s:I}", "file", path, "rows",
                                  (json_int_t)rows));
  fprintf(stderr, _("wrote %zu record%s to %s\n"), rows, rows == 1 ? "" : "s",
          path);
  return CLI_OK;
}

/* list (and find TEXT): --scope, --limit, --deleted, --where COND, and
 * --FIELD V (equal; a set holds V); find's text is name~TEXT (or
 * phone~DIGITS). */
static int cmd_list(cli_ctx *ctx, const node_coll *c, int from,
                    const char *contains)
{
  node_query q = {.coll = c->name, .prefix = "", .choose = cli_choose,
                  .choose_ctx = ctx};
  node_cond *conds = calloc((size_t)ctx->argc + 1, sizeof *conds);
  int rc = CLI_USAGE;
  if (!conds)
    return cli_fail("out of memory");
  const char *csv = NULL, *xlsx = NULL;
  unsigned eflags = 0;
  if (contains)
    node_find_cond(c, contains, &conds[q.nconds++]);
  for (int i = from; i < ctx->argc; i++) {
    const char *a = ctx->argv[i], *val;
    int m;
    if (strcmp(a, "--deleted") == 0) {
      q.deleted = true;
      continue;
    }
    if (strcmp(a, "--moved") == 0 && strcmp(c->name, "resident") == 0) {
      q.moved = true;
      continue;
    }
    if (strcmp(a, "--per-grid") == 0) {
      eflags |= NODE_EXPORT_PER_GRID;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--csv", &csv)) != 0 ||
        (m = cli_opt(ctx, &i, "--xlsx", &xlsx)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--scope", &q.prefix)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--limit", &val)) != 0) {
      char *end;
      if (m < 0)
        goto out;
      unsigned long long v = strtoull(val, &end, 10);
      if (!*val || *end || v == 0 || *val == '-') {
        rc = cli_usage(ctx->argv[0], "--limit needs a positive number");
        goto out;
      }
      q.limit = (size_t)v;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--where", &val)) != 0) {
      if (m < 0)
        goto out;
      if (!node_cond_parse(val, &conds[q.nconds])) {
        rc = cli_usage(ctx->argv[0], "--where needs FIELD=VALUE, FIELD~TEXT "
                                     "or FIELD<VALUE (<=, >, >=, !=), not "
                                     "'%s'",
                       val);
        goto out;
      }
      q.nconds++;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--age", &val)) != 0) {
      if (m < 0)
        goto out;
      node_cond_value("age", val, &conds[q.nconds++]);
      continue;
    }
    bool neg;
    const node_field *f = opt_field(c, a, &neg);
    if (!f || neg) {
      rc = no_option(ctx->argv[0], c, a);
      goto out;
    }
    if (i + 1 >= ctx->argc) {
      rc = cli_usage(ctx->argv[0], "%s needs a value", a);
      goto out;
    }
    node_cond_value(f->name, ctx->argv[++i], &conds[q.nconds++]);
  }
  if (*q.prefix && !crdt_scope_valid(q.prefix, strlen(q.prefix))) {
    rc = cli_usage(ctx->argv[0], "bad scope '%s'", q.prefix);
    goto out;
  }
  q.conds = conds;
  if (csv && xlsx) {
    rc = cli_usage(ctx->argv[0], "give --csv FILE or --xlsx FILE, not both");
    goto out;
  }
  if ((eflags & NODE_EXPORT_PER_GRID) && !xlsx) {
    rc = cli_usage(ctx->argv[0], "--per-grid makes one sheet per grid of "
                                 "an --xlsx FILE");
    goto out;
  }
  if (csv || xlsx) {
    rc = export_list(ctx, &q, csv ? NODE_EXPORT_CSV : NODE_EXPORT_XLSX,
                     csv ? csv : xlsx, eflags);
    goto out;
  }
  rc = cli_list_query(ctx, ctx->argv[0], &q);
out:
  free(conds);
  return rc;
}

static const char *type_name(const node_field *f)
{
  switch (f->type) {
  case NODE_F_TEXT: return N_("text");
  case NODE_F_INT: return N_("whole number");
  case NODE_F_NUM: return N_("number");
  case NODE_F_BOOL: return N_("true/false");
  case NODE_F_DATE: return N_("date YYYY-MM-DD");
  case NODE_F_ENUM: return N_("one of");
  case NODE_F_REF: return N_("reference to");
  case NODE_F_TAGS: return N_("set of");
  case NODE_F_TEXTS: return N_("set of texts");
  case NODE_F_REFS: return N_("set of references to");
  }
  return "?";
}

static int cmd_fields(cli_ctx *ctx, const node_coll *c)
{
  if (ctx->json) {
    json_t *fs = json_array();
    for (size_t k = 0; k < c->nfields; k++) {
      const node_field *f = &c->fields[k];
      json_t *vals = json_array();
      for (const char *const *v = f->values; v && *v; v++)
        json_array_append_new(vals, json_string(*v));
      json_array_append_new(
          fs, json_pack("{s:s, s:s, s:b, s:o, s:s?, s:s?}", "name", f->name,
                        "type", type_name(f), "required",
                        (f->flags & NODE_F_REQUIRED) != 0, "values", vals,
                        "ref", f->ref, "help", f->help));
    }
    return cli_json_out(json_pack("{s:s, s:s, s:b, s:s?, s:o}", "collection",
                                  c->name, "help", c->help, "immutable",
                                  c->immutable, "status", c->status,
                                  "fields", fs));
  }
  printf("%s: %s\n", c->name, _(c->help));
  for (size_t k = 0; k < c->nfields; k++) {
    const node_field *f = &c->fields[k];
    char opt[CRDT_NAME_MAX + 3];
    size_t i = 0;
    for (; f->name[i]; i++)
      opt[i] = f->name[i] == '_' ? '-' : f->name[i];
    opt[i] = '\0';
    printf("  --%-13s %s%s", opt, (f->flags & NODE_F_REQUIRED) ? "* " : "",
           _(type_name(f)));
    if (f->values) {
      printf(" ");
      for (const char *const *v = f->values; *v; v++) {
        const char *l = node_schema_label(c->name, f->name, *v);
        printf("%s%s", v == f->values ? "" : "|", *v);
        if (strcmp(l, *v) != 0)
          printf("(%s)", l);
      }
    }
    if (f->ref)
      printf(" %s", f->ref);
    if (f->help)
      printf(_("  (%s)"), _(f->help));
    printf("\n");
  }
  if (c->status) {
    printf(_("  %s moves:"), c->status);
    for (size_t k = 0; k < c->nmoves; k++)
      printf(" %s->%s", c->moves[k].from, c->moves[k].to);
    printf("\n");
  }
  printf(_("  * required%s\n"), c->immutable ? _("; immutable once written") : "");
  return CLI_OK;
}

/* ---- verbs of the schema (appeal, task) ---- */

static int cmd_verb(cli_ctx *ctx, node *n, const node_coll *c, int from,
                    const node_verb *v)
{
  node_edit *e = NULL;
  node_reason why = {0};
  verb_opts vo = {0};
  size_t given = 0;
  int rc = open_arg(ctx, n, c, from, &e);
  if (rc == CLI_OK)
    rc = parse_fields(ctx, c, from + 1, false, false, e, &vo, &given);
  if (rc == CLI_OK && vo.to && node_edit_verb_to(e, v->name, vo.to, &why))
    rc = cli_refused(ctx->argv[0], &why);
  if (rc == CLI_OK && node_edit_verb(e, v->name, vo.date, &why))
    rc = cli_refused(ctx->argv[0], &why);
  node_committed res;
  if (rc == CLI_OK && node_edit_commit(e, &res, &why) != GS_OK)
    rc = cli_refused(ctx->argv[0], &why);
  if (rc == CLI_OK) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(res.id, CRDT_ID_LEN, idt);
    if (ctx->json)
      rc = cli_json_out(json_pack("{s:s, s:s, s:s}", "collection", c->name,
                                  "id", idt, c->status, v->to));
    else
      printf(_("%s %s is now %s\n"), c->name, idt,
             node_schema_label(c->name, c->status, v->to));
  }
  node_edit_free(e);
  return rc;
}

/* ---- time bank ---- */

static json_t *balance_json(node *n, const node_balance *b)
{
  char idt[CRDT_ID_TEXT_LEN + 1], name[NODE_HIT_NAME_MAX];
  crdt_base32_encode(b->id, CRDT_ID_LEN, idt);
  node_record_name(n, b->coll, b->id, name, sizeof name);
  return json_pack("{s:s, s:s, s:s?, s:f, s:f, s:f, s:f, s:I, s:b}",
                   "collection", b->coll, "id", idt, "name",
                   name[0] ? name : NULL, "balance",
                   (double)b->balance / 100.0, "deposits",
                   (double)b->deposits / 100.0, "spends",
                   (double)b->spends / 100.0, "adjusts",
                   (double)b->adjusts / 100.0, "entries",
                   (json_int_t)b->entries, "overdrawn", b->balance < 0);
}

static void balance_line(node *n, const node_balance *b)
{
  char idt[CRDT_ID_TEXT_LEN + 1], bal[32], dep[32], sp[32];
  char name[NODE_HIT_NAME_MAX];
  crdt_base32_encode(b->id, CRDT_ID_LEN, idt);
  node_record_name(n, b->coll, b->id, name, sizeof name);
  node_hours_text(b->balance, bal, sizeof bal);
  node_hours_text(b->deposits, dep, sizeof dep);
  node_hours_text(b->spends, sp, sizeof sp);
  /* the person by name (and collection, in Chinese); the id only when
   * this node holds no name for it */
  if (name[0])
    printf("%s (%s)", name, node_schema_label(b->coll, NULL, NULL));
  else
    printf("%s/%s", b->coll, idt);
  printf(_("  %s h  (deposits %s h, spends %s h, %" PRIu64 " entries)%s\n"),
         bal, dep, sp, b->entries, b->balance < 0 ? "  OVERDRAWN" : "");
}

/* The person of argument i: a resident, unit or team. */
static int person_arg(cli_ctx *ctx, node *n, int i, node_hit *h)
{
  node_reason why = {0};
  if (i >= ctx->argc)
    return cli_usage(ctx->argv[0], "whose hours? give a resident (id or "
                                   "name), or unit/ID, team/ID");
  if (node_resolve_choose(n, "resident|unit|team", ctx->argv[i],
                          NODE_RESOLVE_LIVE, cli_choose, ctx, "person", h,
                          &why) != GS_OK)
    return cli_refused("timebank", &why);
  return CLI_OK;
}

static int cmd_balance(cli_ctx *ctx, node *n, int from)
{
  node_hit h;
  int rc = person_arg(ctx, n, from, &h);
  if (rc != CLI_OK)
    return rc;
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], "too many arguments");
  node_balance b;
  gs_err err = node_timebank_balance(n, h.coll, h.id, &b);
  if (err)
    return cli_fail("timebank: cannot read the store: %s", gs_i18n_strerror(err));
  if (ctx->json)
    return cli_json_out(balance_json(n, &b));
  balance_line(n, &b);
  if (b.balance < 0)
    printf(_("  spends accepted on two nodes at once overdrew this account; "
           "an admin settles it\n  with 'gridsync timebank adjust %s/... "
           "HOURS --note WHY' (no entry is lost)\n"),
           b.coll);
  return CLI_OK;
}

static int cmd_balances(cli_ctx *ctx, node *n, int from)
{
  const char *prefix = NULL;
  bool overdrawn = false;
  for (int i = from; i < ctx->argc; i++) {
    int m = cli_opt(ctx, &i, "--scope", &prefix);
    if (m < 0)
      return CLI_USAGE;
    if (m > 0)
      continue;
    if (strcmp(ctx->argv[i], "--overdrawn") == 0) {
      overdrawn = true;
      continue;
    }
    return cli_usage(ctx->argv[0], "unexpected argument '%s'",
                     ctx->argv[i]);
  }
  if (prefix && *prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return cli_usage(ctx->argv[0], "bad scope '%s'", prefix);
  node_balance *b = NULL;
  size_t nb = 0;
  gs_err err = node_timebank_balances(n, prefix, &b, &nb);
  if (err)
    return cli_fail("timebank: cannot read the store: %s", gs_i18n_strerror(err));
  json_t *arr = ctx->json ? json_array() : NULL;
  size_t shown = 0;
  for (size_t i = 0; i < nb; i++) {
    if (overdrawn && b[i].balance >= 0)
      continue;
    shown++;
    if (arr)
      json_array_append_new(arr, balance_json(n, &b[i]));
    else
      balance_line(n, &b[i]);
  }
  free(b);
  if (arr)
    return cli_json_out(arr);
  printf(_("(%zu account%s%s)\n"), shown, shown == 1 ? "" : "s",
         overdrawn ? " overdrawn" : "");
  return CLI_OK;
}

/* timebank deposit|spend|adjust PERSON HOURS [--FIELD V...] */
static int cmd_entry(cli_ctx *ctx, node *n, const node_coll *c, int from,
                     const char *kind)
{
  node_hit h;
  node_reason why = {0};
  node_edit *e = NULL;
  size_t given = 0;
  int rc = person_arg(ctx, n, from, &h);
  if (rc != CLI_OK)
    return rc;
  if (from + 1 >= ctx->argc)
    return cli_usage(ctx->argv[0], "how many hours?");
  if (node_timebank_entry(n, &h, kind, ctx->argv[from + 1], &e, &why))
    return cli_refused(ctx->argv[0], &why);
  rc = parse_fields(ctx, c, from + 2, true, false, e, NULL, &given);
  node_committed res;
  if (rc == CLI_OK && node_edit_commit(e, &res, &why) != GS_OK)
    rc = cli_refused(ctx->argv[0], &why);
  node_edit_free(e);
  if (rc != CLI_OK)
    return rc;
  char out[CRDT_ID_TEXT_LEN + 1], idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(res.id, CRDT_ID_LEN, out);
  crdt_base32_encode(h.id, CRDT_ID_LEN, idt);
  node_balance b;
  if (node_timebank_balance(n, h.coll, h.id, &b) != GS_OK)
    memset(&b, 0, sizeof b);
  if (ctx->json) {
    json_t *j = balance_json(n, &b);
    json_object_set_new(j, "entry", json_string(out));
    return cli_json_out(j);
  }
  char bal[32];
  node_hours_text(b.balance, bal, sizeof bal);
  printf(_("%s\nbalance of %s: %s h\n"), out, h.name[0] ? h.name : idt, bal);
  return CLI_OK;
}

/* ---- questions: unvisited households, a contact sheet ---- */

static int on_unvisited(void *ctx, const node_unvisited_item *it)
{
  json_t *arr = ((void **)ctx)[0];
  size_t *count = ((void **)ctx)[1];
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(it->id, CRDT_ID_LEN, idt);
  (*count)++;
  if (arr) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", idt, "scope",
                          it->scope, "building", it->building, "address",
                          it->address);
    json_object_set_new(o, "last_visit",
                        it->last[0] ? json_string(it->last) : json_null());
    json_object_set_new(o, "days",
                        it->days >= 0 ? json_integer(it->days) : json_null());
    json_array_append_new(arr, o);
    return 0;
  }
  if (it->last[0])
    printf(_("%s  last visit %s (%ld days ago)\n"), it->address, it->last,
           it->days);
  else
    printf(_("%s  never visited\n"), it->address);
  return 0;
}

/* household unvisited --days N [--building B] [--scope P] */
static int cmd_unvisited(cli_ctx *ctx, int from)
{
  const char *days = "30", *building = NULL, *prefix = NULL;
  for (int i = from; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--days", &days)) != 0 ||
        (m = cli_opt(ctx, &i, "--building", &building)) != 0 ||
        (m = cli_opt(ctx, &i, "--scope", &prefix)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    return cli_usage(ctx->argv[0], "unexpected argument '%s'", ctx->argv[i]);
  }
  char *end;
  long d = strtol(days, &end, 10);
  if (!*days || *end || d < 1 || d > 3660)
    return cli_usage(ctx->argv[0], "--days takes a number of days from 1 to "
                                   "3660");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_reason why = {0};
  size_t count = 0;
  json_t *arr = ctx->json ? json_array() : NULL;
  void *cb_ctx[2] = {arr, &count};
  if (node_unvisited(n, prefix, building, (int)d, on_unvisited, cb_ctx,
                     &why) != GS_OK) {
    json_decref(arr);
    return cli_refused(ctx->argv[0], &why);
  }
  if (arr)
    return cli_json_out(arr);
  printf(_("(%zu household%s not visited in %ld days)\n"), count,
         count == 1 ? "" : "s", d);
  return CLI_OK;
}

static int on_contact_row(void *ctx, const node_contact_row *r)
{
  json_t *arr = ctx;
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "address",
                        r->address, "unit", r->unit, "room", r->room, "name",
                        r->name, "phone", r->phone, "household_phone",
                        r->household_phone, "tags", r->tags);
  json_object_set_new(o, "birth_year",
                      r->birth_year ? json_integer(r->birth_year)
                                    : json_null());
  json_array_append_new(arr, o);
  return 0;
}

/* building contacts BUILDING: its contact sheet */
static int cmd_contacts(cli_ctx *ctx, int from)
{
  if (from >= ctx->argc)
    return cli_usage(ctx->argv[0], "which building? give its name or "
                                   "number");
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], "too many arguments");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_reason why = {0};
  node_contact_head head;
  json_t *arr = json_array();
  if (node_contact_sheet(n, ctx->argv[from], &head, on_contact_row, arr,
                         &why) != GS_OK) {
    json_decref(arr);
    return cli_refused(ctx->argv[0], &why);
  }
  if (!ctx->json) {
    printf("%s", head.name);
    if (head.leader[0])
      printf("  楼栋长 %s", head.leader);
    if (head.phone[0])
      printf("  %s", head.phone);
    printf("\n");
    if (head.squad[0])
      printf("  %s: %s\n", head.squad,
             head.squad_members[0] ? head.squad_members : "-");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *o = json_array_get(arr, i);
      const char *name = json_string_value(json_object_get(o, "name"));
      const char *ph = json_string_value(json_object_get(o, "phone"));
      const char *hph =
          json_string_value(json_object_get(o, "household_phone"));
      const char *tags = json_string_value(json_object_get(o, "tags"));
      json_t *by = json_object_get(o, "birth_year");
      printf("  %s  %s  %s",
             json_string_value(json_object_get(o, "address")),
             name[0] ? name : "-", ph[0] ? ph : hph[0] ? hph : "-");
      if (json_is_integer(by))
        printf("  %d", (int)json_integer_value(by));
      if (tags[0])
        printf("  %s", tags);
      printf("\n");
    }
    printf(_("(%zu row%s)\n"), json_array_size(arr),
           json_array_size(arr) == 1 ? "" : "s");
    json_decref(arr);
    return CLI_OK;
  }
  if (arr)
    return cli_json_out(json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:s?}",
                                  "building", head.name, "scope", head.scope,
                                  "leader", head.leader, "phone", head.phone,
                                  "rows", arr, "squad",
                                  head.squad[0] ? head.squad : NULL,
                                  "squad_members",
                                  head.squad[0] ? head.squad_members : NULL));
  return CLI_OK;
}

/* ---- issue 16: moving, seniors, a visit's appeal, a passbook ---- */

/* Take "--name V" (or "--name=V") out of argv[from..]: its value, or
 * NULL when absent; *bad when it has no value. */
static const char *take_opt(cli_ctx *ctx, int from, const char *name,
                            bool *bad)
{
  for (int i = from; i < ctx->argc; i++) {
    if (strcmp(ctx->argv[i], "--") == 0)
      return NULL;
    int j = i;
    const char *val;
    int m = cli_opt(ctx, &j, name, &val);
    if (m == 0)
      continue;
    if (m < 0) {
      *bad = true;
      return NULL;
    }
    int used = j - i + 1; /* 1 (--name=V) or 2 (--name V) */
    for (int k = i; k + used <= ctx->argc; k++)
      ctx->argv[k] = k + used < ctx->argc ? ctx->argv[k + used] : NULL;
    ctx->argc -= used;
    return val;
  }
  return NULL;
}

/* resident move WHO --scope GRID [--household H ...] [--date D]
 * [--reason WHY] */
static int cmd_move(cli_ctx *ctx, node *n, const node_coll *c, int from)
{
  uint8_t id[CRDT_ID_LEN];
  bool bad = false;
  const char *reason = take_opt(ctx, from, "--reason", &bad);
  const char *date = take_opt(ctx, from, "--date", &bad);
  if (bad)
    return CLI_USAGE;
  int rc = record_arg(ctx, n, c, from, id);
  if (rc != CLI_OK)
    return rc;
  node_edit *e;
  node_reason why = {0};
  size_t given = 0;
  if (node_edit_new(n, "resident", NULL, &e, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  rc = parse_fields(ctx, c, from + 1, true, false, e, NULL, &given);
  node_committed res;
  if (rc == CLI_OK &&
      node_resident_move(n, id, e, date, reason, &res, &why) != GS_OK)
    rc = cli_refused(ctx->argv[0], &why);
  node_edit_free(e);
  if (rc != CLI_OK)
    return rc;
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(res.id, CRDT_ID_LEN, idt);
  if (ctx->json)
    return cli_json_out(json_pack("{s:s, s:s, s:s, s:s}", "collection",
                                  "resident", "id", idt, "scope", res.scope,
                                  "done", "moved"));
  printf("%s\n", idt);
  fprintf(stderr, _("moved to %s: the old record stays, marked moved and "
                    "linked to this one\n"),
          res.scope);
  return CLI_OK;
}

static int on_senior_line(void *vctx, const node_senior *s)
{
  void **c = vctx;
  json_t *arr = c[0];
  size_t *count = c[1];
  (*count)++;
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(s->id, CRDT_ID_LEN, idt);
  if (arr)
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:b}", "id",
                       idt, "scope", s->scope, "name", s->name, "age", s->age,
                       "birth_year", s->birth_year, "address", s->address,
                       "phone", s->phone, "emergency", s->emergency,
                       "lives_alone", s->alone));
  else
    printf("%-10s %3d  %-20s %-14s %s%s\n", s->name, s->age, s->address,
           s->phone, s->emergency, s->alone ? _("  (lives alone)") : "");
  return 0;
}

/* resident seniors [--age 65] [--scope P] */
static int cmd_seniors(cli_ctx *ctx, node *n, int from)
{
  const char *age = "65", *prefix = NULL;
  for (int i = from; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--age", &age)) ||
        (m = cli_opt(ctx, &i, "--scope", &prefix))) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    return cli_usage(ctx->argv[0], _("unexpected argument '%s'"),
                     ctx->argv[i]);
  }
  char *end;
  long a = strtol(age, &end, 10);
  if (!*age || *end || a < 0 || a > 150)
    return cli_usage(ctx->argv[0], _("--age takes an age in years, not "
                                     "'%s'"),
                     age);
  json_t *arr = ctx->json ? json_array() : NULL;
  size_t count = 0;
  void *c[2] = {arr, &count};
  node_reason why = {0};
  if (node_seniors(n, prefix, (int)a, on_senior_line, c, &why) != GS_OK) {
    json_decref(arr);
    return cli_refused(ctx->argv[0], &why);
  }
  if (arr)
    return cli_json_out(arr);
  printf(_("(%zu residents aged %ld or over)\n"), count, a);
  return CLI_OK;
}

/* visit appeal VISIT [--category C] [--description T] [--FIELD V...] */
static int cmd_visit_appeal(cli_ctx *ctx, node *n, const node_coll *c,
                            int from)
{
  uint8_t id[CRDT_ID_LEN];
  bool bad = false;
  const char *cat = take_opt(ctx, from, "--category", &bad);
  const char *desc = take_opt(ctx, from, "--description", &bad);
  if (bad)
    return CLI_USAGE;
  int rc = record_arg(ctx, n, c, from, id);
  if (rc != CLI_OK)
    return rc;
  node_edit *e;
  node_reason why = {0};
  size_t given = 0;
  if (node_visit_appeal(n, id, cat, desc, &e, &why) != GS_OK)
    return cli_refused(ctx->argv[0], &why);
  const node_coll *ac = node_schema_coll("appeal", 6);
  rc = parse_fields(ctx, ac, from + 1, false, false, e, NULL, &given);
  if (rc == CLI_OK)
    rc = commit_and_print(ctx, ac, e, "opened");
  node_edit_free(e);
  return rc;
}

static int on_pb_line(void *vctx, const node_passbook_line *l)
{
  json_t *arr = vctx;
  char idt[CRDT_ID_TEXT_LEN + 1], h[32], b[32];
  crdt_base32_encode(l->id, CRDT_ID_LEN, idt);
  node_hours_text(l->centihours, h, sizeof h);
  node_hours_text(l->balance, b, sizeof b);
  if (arr) {
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s, s:s?, s:f, s:f, s:s?, s:s?, s:s?, "
                       "s:b}",
                       "id", idt, "date", l->date, "kind", l->kind,
                       "service", l->service[0] ? l->service : NULL, "hours",
                       (double)l->centihours / 100.0, "balance",
                       (double)l->balance / 100.0, "served",
                       l->served[0] ? l->served : NULL, "goods",
                       l->goods[0] ? l->goods : NULL, "note",
                       l->note[0] ? l->note : NULL, "correction",
                       l->correction));
    return 0;
  }
  printf("%s  %-6s %8s h %8s h  %s%s%s%s%s\n", l->date,
         node_schema_label("timebank", "kind", l->kind), h, b,
         l->service[0] ? node_schema_label("timebank", "service", l->service)
                       : "",
         l->served[0] ? " → " : "", l->served, l->goods[0] ? " " : "",
         l->goods[0] ? l->goods : l->note);
  return 0;
}

/* timebank passbook WHO|NUMBER */
static int cmd_passbook(cli_ctx *ctx, node *n, int from)
{
  if (from >= ctx->argc)
    return cli_usage(ctx->argv[0], _("whose passbook? give a name, an id "
                                     "or a passbook number"));
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], _("too many arguments"));
  node_hit h;
  node_reason why = {0};
  if (node_passbook_find(n, ctx->argv[from], cli_choose, ctx, &h, &why) !=
      GS_OK)
    return cli_refused(ctx->argv[0], &why);
  json_t *arr = ctx->json ? json_array() : NULL;
  int64_t total = 0;
  if (!arr)
    printf(_("passbook of %s (%s)\n"), h.name,
           node_schema_label(h.coll, NULL, NULL));
  if (node_passbook(n, h.coll, h.id, on_pb_line, arr, &total, &why) !=
      GS_OK) {
    json_decref(arr);
    return cli_refused(ctx->argv[0], &why);
  }
  if (arr) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(h.id, CRDT_ID_LEN, idt);
    return cli_json_out(json_pack("{s:s, s:s, s:s, s:f, s:o}", "collection",
                                  h.coll, "id", idt, "name", h.name,
                                  "balance", (double)total / 100.0,
                                  "entries", arr));
  }
  char b[32];
  node_hours_text(total, b, sizeof b);
  printf(_("balance: %s h\n"), b);
  return CLI_OK;
}

/* ---- dispatch ---- */

static void verbs_help(FILE *f, const node_coll *c)
{
  size_t nv;
  const node_verb *v = node_schema_verbs(c->name, &nv);
  fprintf(f, _("usage: gridsync %s VERB ...\n"), c->name);
  if (strcmp(c->name, "appeal") == 0)
    fprintf(f, _("  open --category C [--resident R] [--scope S] "
               "DESCRIPTION\n"));
  for (size_t i = 0; i < nv; i++) {
    const char *to = v[i].to_field && strcmp(v[i].name, "assign") == 0
                         ? _(" --to UNIT")
                     : v[i].to_field && strcmp(v[i].name, "claim") == 0
                         ? _(" --to UNIT")
                         : "";
    fprintf(f, _("  %s ID%s%s%s  (%s)\n"), v[i].name, to,
            v[i].date ? _(" [--date DATE]") : "",
            strcmp(v[i].name, "close") == 0
                ? " [--feedback satisfied|unsatisfied]"
            : strcmp(v[i].name, "reopen") == 0 ? _(" [--note WHY]")
                                               : "",
            _(v[i].help));
  }
  if (strcmp(c->name, "resident") == 0)
  {
    fprintf(f, _("  find TEXT [--building B] [--tag T] [--age '>=65'] "
               "[--scope P]\n"));
    fputs(_("  list|find ... --moved  (also the old records of residents "
            "who moved to another grid)\n"),
          f);
    fputs(_("  seniors [--age 65] [--scope P]  (the red senior card list)\n"
            "  move WHO --scope GRID [--household H] [--date D] "
            "[--reason WHY]  (to another grid)\n"),
          f);
  }
  if (strcmp(c->name, "visit") == 0)
    fputs(_("  appeal VISIT [--category C] [--description T]  (open an "
            "appeal from its finding)\n"
            "  add --corrects VISIT ...  (the author's correction)\n"),
          f);
  if (strcmp(c->name, "household") == 0)
    fprintf(f, _("  unvisited [--days 30] [--building B] [--scope P]  "
               "(households not visited lately)\n"));
  if (strcmp(c->name, "building") == 0)
    fprintf(f, _("  contacts BUILDING  (its contact sheet)\n"));
  if (strcmp(c->name, "timebank") == 0)
    fprintf(f, _("  deposit PERSON HOURS [--service S] [--note T]\n"
               "  spend PERSON HOURS | adjust PERSON HOURS --note WHY\n"
               "  balance PERSON | balances [--scope P] [--overdrawn]\n"));
  if (strcmp(c->name, "timebank") == 0)
    fputs(_("  passbook PERSON|NUMBER  (an account's entries)\n"
            "  adjust PERSON HOURS --corrects ENTRY --note WHY  (a "
            "correction: the published hours change too)\n"),
          f);
  if (!c->immutable)
    fprintf(f, _("  add [--scope S] [--FIELD VALUE...] | edit ID "
               "[--FIELD VALUE...]\n"));
  else if (strcmp(c->name, "timebank") != 0)
    fprintf(f, _("  add [--scope S] [--FIELD VALUE...] (immutable: no "
               "edit)\n"));
  fprintf(f, _("  show ID | list [--scope P] [--FIELD VALUE...] | fields\n"
             "  list ... --csv FILE | --xlsx FILE [--per-grid]  (a ledger "
             "with Chinese headers)\n"
             "'gridsync %s fields' lists the fields and their values.\n"),
          c->name);
}

int cli_cmd_domain(cli_ctx *ctx)
{
  const node_coll *c = node_schema_coll(ctx->argv[0], strlen(ctx->argv[0]));
  if (!c)
    return cli_fail("internal: no collection %s", ctx->argv[0]);
  if (ctx->argc < 2 || strcmp(ctx->argv[1], "--help") == 0 ||
      strcmp(ctx->argv[1], "help") == 0) {
    verbs_help(ctx->argc < 2 ? stderr : stdout, c);
    return ctx->argc < 2 ? CLI_USAGE : CLI_OK;
  }
  const char *v = ctx->argv[1];
  if (strcmp(v, "fields") == 0)
    return cmd_fields(ctx, c);
  if (strcmp(v, "show") == 0)
    return cmd_show(ctx, c, 2);
  bool tb = strcmp(c->name, "timebank") == 0;
  const node_verb *verb = node_schema_verb(c->name, v);
  bool known = verb || strcmp(v, "add") == 0 || strcmp(v, "edit") == 0 ||
               strcmp(v, "list") == 0 ||
               (strcmp(c->name, "appeal") == 0 && strcmp(v, "open") == 0) ||
               (strcmp(c->name, "resident") == 0 && strcmp(v, "find") == 0) ||
               (strcmp(c->name, "resident") == 0 &&
                (strcmp(v, "move") == 0 || strcmp(v, "seniors") == 0)) ||
               (strcmp(c->name, "visit") == 0 && strcmp(v, "appeal") == 0) ||
               (tb && strcmp(v, "passbook") == 0) ||
               (strcmp(c->name, "household") == 0 &&
                strcmp(v, "unvisited") == 0) ||
               (strcmp(c->name, "building") == 0 &&
                strcmp(v, "contacts") == 0) ||
               (tb && (strcmp(v, "deposit") == 0 || strcmp(v, "spend") == 0 ||
                       strcmp(v, "adjust") == 0 ||
                       strcmp(v, "balance") == 0 ||
                       strcmp(v, "balances") == 0));
  if (!known) {
    fprintf(stderr, _("gridsync: %s has no verb '%s'\n"), c->name, v);
    verbs_help(stderr, c);
    return CLI_USAGE;
  }
  if (strcmp(v, "list") == 0)
    return cmd_list(ctx, c, 2, NULL);
  if (strcmp(v, "unvisited") == 0)
    return cmd_unvisited(ctx, 2);
  if (strcmp(v, "contacts") == 0)
    return cmd_contacts(ctx, 2);
  if (strcmp(v, "find") == 0) {
    if (ctx->argc < 3 || !ctx->argv[2][0] ||
        strncmp(ctx->argv[2], "--", 2) == 0)
      return cli_usage("resident", "find what? give part of a name or "
                                   "phone");
    return cmd_list(ctx, c, 3, ctx->argv[2]);
  }
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  if (verb)
    return cmd_verb(ctx, n, c, 2, verb);
  if (strcmp(v, "move") == 0)
    return cmd_move(ctx, n, c, 2);
  if (strcmp(v, "seniors") == 0)
    return cmd_seniors(ctx, n, 2);
  if (strcmp(v, "appeal") == 0)
    return cmd_visit_appeal(ctx, n, c, 2);
  if (strcmp(v, "passbook") == 0)
    return cmd_passbook(ctx, n, 2);
  if (strcmp(v, "add") == 0 || strcmp(v, "open") == 0)
    return tb ? cli_usage("timebank", "use 'timebank deposit', 'spend' or "
                                      "'adjust'")
              : cmd_add(ctx, n, c, 2);
  if (strcmp(v, "edit") == 0)
    return cmd_edit(ctx, n, c, 2);
  if (strcmp(v, "balance") == 0)
    return cmd_balance(ctx, n, 2);
  if (strcmp(v, "balances") == 0)
    return cmd_balances(ctx, n, 2);
  return cmd_entry(ctx, n, c, 2, v);
}
