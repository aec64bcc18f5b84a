/*
 * Domain commands (DESIGN.md sections 8 and 9): friendlier forms over
 * put/get/list for every collection of the schema, checked against it.
 *
 *   gridsync COLL add [--scope S] [--FIELD VALUE ...] [TEXT] [FIELD=...]
 *   gridsync COLL edit ID [--FIELD VALUE ...] [--no-FIELD ELEM ...]
 *   gridsync COLL show ID | list [--scope P] [--FIELD VALUE ...] | fields
 * and the verbs of some collections: resident find, appeal open/accept/
 * assign/resolve/close/reopen, task claim/done, timebank deposit/spend/
 * adjust/balance/balances. Options are the schema's field names with '-'
 * for '_' (--birth-year); a set field also takes its singular (--tag).
 * A reference takes an id, COLL/ID, or a name (looked up). A new record
 * without --scope goes in the scope of the first record it refers to; a
 * required date left out is today.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "node/node.h"
#include "storage/store.h"

#define REFTEXT_MAX (CRDT_NAME_MAX + CRDT_ID_TEXT_LEN + 2)

/* ---- small helpers ---- */

/* Today's local date of the node's clock. */
static void today(node *n, char out[11])
{
  time_t t = (time_t)(node_now(n) / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Strings made for assignments; freed together. */
typedef struct strs {
  char **v;
  size_t n, cap;
} strs;

static char *strs_add(strs *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *strs_add(strs *s, const char *fmt, ...)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    char **v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return NULL;
    s->v = v;
    s->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  char *p = NULL;
  if (vasprintf(&p, fmt, ap) < 0)
    p = NULL;
  va_end(ap);
  if (p)
    s->v[s->n++] = p;
  return p;
}

static void strs_free(strs *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

/* What a domain command builds: assignments, and the strings they use. */
typedef struct dput {
  cli_assign *as;
  size_t nas, cap;
  strs keep;
  const char *scope;         /* --scope, or the first ref's scope */
  char ref_scope[CRDT_SCOPE_MAX + 1];
} dput;

static bool dput_add(dput *d, const char *field, char op, const char *val)
{
  if (d->nas == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 16;
    cli_assign *a = realloc(d->as, cap * sizeof *a);
    if (!a)
      return false;
    d->as = a;
    d->cap = cap;
  }
  d->as[d->nas++] = (cli_assign){field, strlen(field), op, val};
  return true;
}

static bool dput_has(const dput *d, const char *field)
{
  for (size_t i = 0; i < d->nas; i++)
    if (d->as[i].flen == strlen(field) &&
        memcmp(d->as[i].field, field, d->as[i].flen) == 0)
      return true;
  return false;
}

static void dput_free(dput *d)
{
  free(d->as);
  strs_free(&d->keep);
}

/* ---- finding records ---- */

/* What a lookup keeps of a record (records are borrowed in callbacks). */
typedef struct hit {
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  char name[96];
  bool deleted;
} hit;

static void hit_fill(hit *h, const crdt_record *r)
{
  const char *scope, *coll;
  size_t sn, cn;
  crdt_record_identity(r, &scope, &sn, &coll, &cn, h->id);
  snprintf(h->coll, sizeof h->coll, "%.*s", (int)cn, coll);
  snprintf(h->scope, sizeof h->scope, "%.*s", (int)sn, scope);
  h->name[0] = '\0';
  static const char *const names[] = {"name", "title", "what",
                                      "description"};
  for (size_t k = 0; k < 4 && !h->name[0]; k++) {
    long i = crdt_record_find(r, names[k], strlen(names[k]));
    crdt_field_view fv;
    if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
        !fv.is_set && fv.value.type == CRDT_STR) {
      size_t len = fv.value.u.s.n < sizeof h->name - 1 ? fv.value.u.s.n
                                                       : sizeof h->name - 1;
      /* cut at a UTF-8 boundary */
      while (len > 0 && len < fv.value.u.s.n &&
             ((unsigned char)fv.value.u.s.p[len] & 0xC0) == 0x80)
        len--;
      memcpy(h->name, fv.value.u.s.p, len);
      h->name[len] = '\0';
    }
  }
  h->deleted = crdt_record_deleted(r);
}

static int on_hit(void *ctx, const crdt_record *r)
{
  hit *h = ctx;
  hit_fill(h, r);
  return 1;
}

/* The record (coll, id) if held: GS_ENOTFOUND otherwise. */
static gs_err find_record(node *n, const char *coll, const uint8_t *id,
                          hit *out)
{
  out->coll[0] = '\0';
  gs_err err = store_get(node_store(n), coll, strlen(coll), id, on_hit, out);
  if (!err && !out->coll[0])
    err = GS_ENOTFOUND;
  return err;
}

typedef struct byname {
  const char *name;
  hit first;
  size_t count;
  char others[3][CRDT_ID_TEXT_LEN + 1];
} byname;

static int on_byname(void *vctx, const crdt_record *r)
{
  byname *b = vctx;
  if (crdt_record_deleted(r))
    return 0;
  long i = crdt_record_find(r, "name", 4);
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_STR || fv.value.u.s.n != strlen(b->name) ||
      memcmp(fv.value.u.s.p, b->name, fv.value.u.s.n) != 0)
    return 0;
  if (b->count == 0)
    hit_fill(&b->first, r);
  else if (b->count <= 3) {
    const char *s, *c;
    size_t sn, cn;
    uint8_t id[CRDT_ID_LEN];
    crdt_record_identity(r, &s, &sn, &c, &cn, id);
    crdt_base32_encode(id, CRDT_ID_LEN, b->others[b->count - 1]);
  }
  b->count++;
  return 0;
}

/* Resolve text to a record of one of the collections refs ("a|b"): an
 * id, COLL/ID, or a name. Prints why not and returns an exit code. */
static int resolve_ref(node *n, const char *opt, const char *refs,
                       const char *text, hit *out)
{
  char colls[4][CRDT_NAME_MAX + 1];
  size_t nc = 0;
  for (const char *p = refs; *p && nc < 4;) {
    size_t len = strcspn(p, "|");
    snprintf(colls[nc++], sizeof colls[0], "%.*s", (int)len, p);
    p += len + (p[len] == '|');
  }
  const char *slash = strchr(text, '/');
  uint8_t id[CRDT_ID_LEN];
  if (slash) {
    size_t cl = (size_t)(slash - text);
    bool ok = false;
    for (size_t i = 0; i < nc; i++)
      ok |= strlen(colls[i]) == cl && memcmp(colls[i], text, cl) == 0;
    if (!ok || cli_parse_id(slash + 1, id) != GS_OK)
      return cli_usage(NULL, "%s takes a %s: an id, COLL/ID or a name, not "
                             "'%s'",
                       opt, refs, text);
    snprintf(out->coll, sizeof out->coll, "%.*s", (int)cl, text);
    memcpy(out->id, id, CRDT_ID_LEN);
    out->scope[0] = out->name[0] = '\0';
    out->deleted = false;
    hit h;
    if (find_record(n, out->coll, id, &h) == GS_OK)
      *out = h;
    else
      fprintf(stderr, "gridsync: note: %s is not held on this node\n", text);
    return CLI_OK;
  }
  if (strlen(text) == CRDT_ID_TEXT_LEN && cli_parse_id(text, id) == GS_OK) {
    for (size_t i = 0; i < nc; i++)
      if (find_record(n, colls[i], id, out) == GS_OK)
        return CLI_OK;
    if (nc == 1) { /* not held here (another grid's?): refer anyway */
      snprintf(out->coll, sizeof out->coll, "%s", colls[0]);
      memcpy(out->id, id, CRDT_ID_LEN);
      out->scope[0] = out->name[0] = '\0';
      out->deleted = false;
      fprintf(stderr, "gridsync: note: %s %s is not held on this node\n",
              colls[0], text);
      return CLI_OK;
    }
    return cli_fail("%s: no %s with id %s on this node (give COLL/ID)", opt,
                    refs, text);
  }
  byname b = {.name = text};
  for (size_t i = 0; i < nc; i++) {
    gs_err err = store_list(node_store(n), colls[i], strlen(colls[i]), NULL,
                            0, on_byname, &b);
    if (err && err != GS_ENOTFOUND)
      return cli_fail("%s: cannot read the store: %s", opt,
                      gs_strerror(err));
  }
  if (b.count == 0)
    return cli_fail("%s: no %s named '%s' on this node (give its id)", opt,
                    refs, text);
  if (b.count > 1) {
    char first[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(b.first.id, CRDT_ID_LEN, first);
    return cli_fail("%s: %zu records are named '%s' (%s, %s%s%s%s): give "
                    "the id",
                    opt, b.count, text, first, b.others[0],
                    b.count > 2 ? ", " : "", b.count > 2 ? b.others[1] : "",
                    b.count > 3 ? ", ..." : "");
  }
  *out = b.first;
  return CLI_OK;
}

/* resolve_ref, refusing a record that was deleted (a resident who moved
 * out) and noting one this node does not hold. */
static int resolve_live(node *n, const char *opt, const char *refs,
                        const char *text, hit *out)
{
  int rc = resolve_ref(n, opt, refs, text, out);
  if (rc == CLI_OK && out->deleted) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(out->id, CRDT_ID_LEN, idt);
    return cli_fail("%s: %s %s %s was deleted (restore it first)", opt,
                    out->coll, idt, out->name);
  }
  return rc;
}

/* ---- options to assignments ---- */

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
    if (f && f->type != NODE_F_TAGS && f->type != NODE_F_TEXTS &&
        f->type != NODE_F_REFS)
      f = NULL;
  }
  bool set = f && (f->type == NODE_F_TAGS || f->type == NODE_F_TEXTS ||
                   f->type == NODE_F_REFS);
  if (*neg && !set)
    return NULL;
  return f;
}

/* The assignment of option opt (field f) = val into d. */
static int add_option(const char *cmd, node *n, dput *d,
                      const node_field *f, bool neg, const char *opt,
                      const char *val)
{
  char *end;
  switch (f->type) {
  case NODE_F_TEXT:
  case NODE_F_DATE:
  case NODE_F_ENUM:
    if (!dput_add(d, f->name, '=', val))
      return cli_fail("out of memory");
    return CLI_OK;
  case NODE_F_TAGS:
  case NODE_F_TEXTS:
    if (!dput_add(d, f->name, neg ? '-' : '+', val))
      return cli_fail("out of memory");
    return CLI_OK;
  case NODE_F_INT: {
    long long v = strtoll(val, &end, 10);
    if (!*val || *end)
      return cli_usage(cmd, "%s takes a whole number, not '%s'", opt, val);
    const char *t = strs_add(&d->keep, "%lld", v);
    if (!t || !dput_add(d, f->name, ':', t))
      return cli_fail("out of memory");
    return CLI_OK;
  }
  case NODE_F_NUM: {
    double v = strtod(val, &end);
    if (!*val || *end || !isfinite(v))
      return cli_usage(cmd, "%s takes a number, not '%s'", opt, val);
    const char *t = strs_add(&d->keep, "%.17g", v);
    if (!t || !dput_add(d, f->name, ':', t))
      return cli_fail("out of memory");
    return CLI_OK;
  }
  case NODE_F_BOOL:
    if (strcmp(val, "true") && strcmp(val, "false"))
      return cli_usage(cmd, "%s takes true or false", opt);
    if (!dput_add(d, f->name, ':', val))
      return cli_fail("out of memory");
    return CLI_OK;
  case NODE_F_REF:
  case NODE_F_REFS: {
    if (neg)
      return cli_usage(cmd, "%s: remove references with 'gridsync put' "
                             "(FIELD:=[...])",
                       opt);
    hit h;
    int rc = resolve_live(n, opt, f->ref, val, &h);
    if (rc != CLI_OK)
      return rc;
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(h.id, CRDT_ID_LEN, idt);
    const char *t = strs_add(&d->keep, "{\"$ref\": \"%s/%s\"}", h.coll, idt);
    if (!t || !dput_add(d, f->name, f->type == NODE_F_REF ? ':' : '*', t))
      return cli_fail("out of memory");
    if (!d->ref_scope[0] && h.scope[0])
      snprintf(d->ref_scope, sizeof d->ref_scope, "%s", h.scope);
    return CLI_OK;
  }
  }
  return cli_fail("internal: unknown field type");
}

/* The field a collection's free text (one positional argument) fills. */
static const char *main_text(const node_coll *c)
{
  static const char *const names[] = {"name", "description", "what",
                                      "title", "notes"};
  for (size_t k = 0; k < 5; k++)
    if (node_schema_field(c, names[k], strlen(names[k])))
      return names[k];
  return NULL;
}

/* Parse argv[from..] of a domain add/edit into d: --scope, --FIELD VALUE,
 * --no-FIELD ELEM, FIELD=... forms (of the collection's fields), and,
 * when allow_text, one free text (everything after "--" is text). */
static int parse_fields(cli_ctx *ctx, node *n, const node_coll *c, int from,
                        bool allow_scope, bool allow_text, dput *d)
{
  const char *cmd = ctx->argv[0];
  bool had_text = false, dashdash = false;
  for (int i = from; i < ctx->argc; i++) {
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
      d->scope = val;
      continue;
    }
    if (!dashdash && strncmp(a, "--", 2) == 0) {
      bool neg;
      const node_field *f = opt_field(c, a, &neg);
      if (!f)
        return cli_usage(cmd, "%s %s has no option '%s' (see 'gridsync %s "
                              "fields')",
                         c->name[0] == 'a' ? "an" : "a", c->name, a,
                         c->name);
      if (i + 1 >= ctx->argc)
        return cli_usage(cmd, "%s needs a value", a);
      int rc = add_option(cmd, n, d, f, neg, a, ctx->argv[++i]);
      if (rc != CLI_OK)
        return rc;
      continue;
    }
    cli_assign as;
    if (!dashdash && cli_parse_assign(a, &as) &&
        node_schema_field(c, as.field, as.flen)) {
      if (!dput_add(d, "", as.op, as.val))
        return cli_fail("out of memory");
      d->as[d->nas - 1] = as;
      continue;
    }
    const char *mt = main_text(c);
    if (!allow_text || !mt || had_text)
      return cli_usage(cmd, "unexpected argument '%s'", a);
    had_text = true;
    if (!dput_add(d, mt, '=', a))
      return cli_fail("out of memory");
  }
  return CLI_OK;
}

/* Required dates left out are today. */
static int default_dates(node *n, const node_coll *c, dput *d)
{
  char t[11];
  today(n, t);
  for (size_t k = 0; k < c->nfields; k++) {
    const node_field *f = &c->fields[k];
    if (f->type != NODE_F_DATE || !(f->flags & NODE_F_REQUIRED) ||
        dput_has(d, f->name))
      continue;
    const char *v = strs_add(&d->keep, "%s", t);
    if (!v || !dput_add(d, f->name, '=', v))
      return cli_fail("out of memory");
  }
  return CLI_OK;
}

/* Print what an add or edit did. */
static int done(cli_ctx *ctx, const char *coll, const char *idt,
                const char *what)
{
  if (ctx->json)
    return cli_json_out(json_pack("{s:s, s:s, s:s}", "collection", coll,
                                  "id", idt, "done", what));
  printf("%s\n", idt);
  return CLI_OK;
}

/* ---- add / edit / show / list / fields ---- */

static int cmd_add(cli_ctx *ctx, node *n, const node_coll *c, int from)
{
  dput d = {0};
  int rc = parse_fields(ctx, n, c, from, true, true, &d);
  if (rc == CLI_OK)
    rc = default_dates(n, c, &d);
  if (rc != CLI_OK)
    goto out;
  const char *scope = d.scope ? d.scope : d.ref_scope[0] ? d.ref_scope : NULL;
  if (!scope) {
    rc = cli_usage(ctx->argv[0], "where does it belong? give --scope "
                                 "STREET/COMMUNITY/GRID");
    goto out;
  }
  char idt[CRDT_ID_TEXT_LEN + 1];
  rc = cli_put_record(ctx, ctx->argv[0], c->name, NULL, scope, d.as, d.nas,
                      idt);
  if (rc == CLI_OK)
    rc = done(ctx, c->name, idt, "added");
out:
  dput_free(&d);
  return rc;
}

/* Argument i must be a record id: checked, into idt. */
static int id_arg(cli_ctx *ctx, int i, const char **idt)
{
  uint8_t id[CRDT_ID_LEN];
  if (i >= ctx->argc)
    return cli_usage(ctx->argv[0], "which record? give its id");
  if (cli_parse_id(ctx->argv[i], id) != GS_OK)
    return cli_usage(ctx->argv[0], "bad record id '%s' (26 characters of "
                                   "0-9 A-Z)",
                     ctx->argv[i]);
  *idt = ctx->argv[i];
  return CLI_OK;
}

/* Write d to the record idt of c, which this node must hold. */
static int write_existing(cli_ctx *ctx, node *n, const node_coll *c,
                          const char *idt, const dput *d, char *out)
{
  uint8_t id[CRDT_ID_LEN];
  hit h;
  cli_parse_id(idt, id);
  if (find_record(n, c->name, id, &h) != GS_OK)
    return cli_fail("no %s with id %s on this node", c->name, idt);
  return cli_put_record(ctx, ctx->argv[0], c->name, idt, NULL, d->as,
                        d->nas, out);
}

static int cmd_edit(cli_ctx *ctx, node *n, const node_coll *c, int from)
{
  const char *idt;
  int rc = id_arg(ctx, from, &idt);
  if (rc != CLI_OK)
    return rc;
  dput d = {0};
  if ((rc = parse_fields(ctx, n, c, from + 1, false, true, &d)) != CLI_OK)
    goto out;
  if (d.nas == 0) {
    rc = cli_usage(ctx->argv[0], "nothing to change: give --FIELD VALUE");
    goto out;
  }
  char out[CRDT_ID_TEXT_LEN + 1];
  rc = write_existing(ctx, n, c, idt, &d, out);
  if (rc == CLI_OK)
    rc = done(ctx, c->name, out, "changed");
out:
  dput_free(&d);
  return rc;
}

/* Run another command with argv built here (same --dir and --json). */
static int run_as(cli_ctx *ctx, int (*cmd)(cli_ctx *), const char **argv,
                  int argc)
{
  cli_ctx sub = *ctx;
  sub.argv = (char **)argv;
  sub.argc = argc;
  return cmd(&sub);
}

static int cmd_show(cli_ctx *ctx, const node_coll *c, int from)
{
  const char *idt;
  int rc = id_arg(ctx, from, &idt);
  if (rc != CLI_OK)
    return rc;
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], "too many arguments");
  const char *argv[] = {"get", c->name, idt, NULL};
  return run_as(ctx, cli_cmd_get, argv, 3);
}

/* list (and find): --scope, --limit, --deleted pass through; --FIELD V
 * becomes --where field=V; contains, when given, is name~TEXT (or
 * phone~DIGITS). */
static int cmd_list(cli_ctx *ctx, node **np, const node_coll *c, int from,
                    const char *contains)
{
  node *n = *np;
  int cap = 2 * ctx->argc + 8, k = 0, rc = CLI_USAGE;
  const char **argv = calloc((size_t)cap, sizeof *argv);
  strs keep = {0};
  if (!argv)
    return cli_fail("out of memory");
  argv[k++] = "list";
  argv[k++] = c->name;
  if (contains) {
    bool digits = strspn(contains, "0123456789") == strlen(contains);
    const char *f = digits && node_schema_field(c, "phone", 5) ? "phone"
                                                               : main_text(c);
    const char *w = strs_add(&keep, "%s~%s", f ? f : "name", contains);
    if (!w) {
      rc = cli_fail("out of memory");
      goto out;
    }
    argv[k++] = "--where";
    argv[k++] = w;
  }
  for (int i = from; i < ctx->argc; i++) {
    const char *a = ctx->argv[i];
    if (strcmp(a, "--deleted") == 0) {
      argv[k++] = a;
      continue;
    }
    if (strcmp(a, "--scope") == 0 || strcmp(a, "--limit") == 0 ||
        strcmp(a, "--where") == 0) {
      if (i + 1 >= ctx->argc) {
        rc = cli_usage(ctx->argv[0], "%s needs a value", a);
        goto out;
      }
      argv[k++] = a;
      argv[k++] = ctx->argv[++i];
      continue;
    }
    bool neg;
    const node_field *f = opt_field(c, a, &neg);
    if (!f || neg) {
      rc = cli_usage(ctx->argv[0], "%s %s has no option '%s' (see "
                                   "'gridsync %s fields')",
                     c->name[0] == 'a' ? "an" : "a", c->name, a, c->name);
      goto out;
    }
    if (i + 1 >= ctx->argc) {
      rc = cli_usage(ctx->argv[0], "%s needs a value", a);
      goto out;
    }
    const char *v = ctx->argv[++i];
    if (f->type == NODE_F_REF || f->type == NODE_F_REFS) {
      hit h;
      if ((rc = resolve_ref(n, a, f->ref, v, &h)) != CLI_OK)
        goto out;
      char idt[CRDT_ID_TEXT_LEN + 1];
      crdt_base32_encode(h.id, CRDT_ID_LEN, idt);
      v = strs_add(&keep, "%s/%s", h.coll, idt);
    }
    const char *w = v ? strs_add(&keep, "%s=%s", f->name, v) : NULL;
    if (!w) {
      rc = cli_fail("out of memory");
      goto out;
    }
    argv[k++] = "--where";
    argv[k++] = w;
  }
  /* list opens the node itself: one LMDB environment per process */
  node_close(n);
  *np = NULL;
  rc = run_as(ctx, cli_cmd_list, argv, k);
out:
  strs_free(&keep);
  free(argv);
  return rc;
}

static const char *type_name(const node_field *f)
{
  switch (f->type) {
  case NODE_F_TEXT: return "text";
  case NODE_F_INT: return "whole number";
  case NODE_F_NUM: return "number";
  case NODE_F_BOOL: return "true/false";
  case NODE_F_DATE: return "date YYYY-MM-DD";
  case NODE_F_ENUM: return "one of";
  case NODE_F_REF: return "reference to";
  case NODE_F_TAGS: return "set of";
  case NODE_F_TEXTS: return "set of texts";
  case NODE_F_REFS: return "set of references to";
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
  printf("%s: %s\n", c->name, c->help);
  for (size_t k = 0; k < c->nfields; k++) {
    const node_field *f = &c->fields[k];
    char opt[CRDT_NAME_MAX + 3];
    size_t i = 0;
    for (; f->name[i]; i++)
      opt[i] = f->name[i] == '_' ? '-' : f->name[i];
    opt[i] = '\0';
    printf("  --%-13s %s%s", opt, (f->flags & NODE_F_REQUIRED) ? "* " : "",
           type_name(f));
    if (f->values) {
      printf(" ");
      for (const char *const *v = f->values; *v; v++)
        printf("%s%s", v == f->values ? "" : "|", *v);
    }
    if (f->ref)
      printf(" %s", f->ref);
    if (f->help)
      printf("  (%s)", f->help);
    printf("\n");
  }
  if (c->status) {
    printf("  %s moves:", c->status);
    for (size_t k = 0; k < c->nmoves; k++)
      printf(" %s->%s", c->moves[k].from, c->moves[k].to);
    printf("\n");
  }
  printf("  * required%s\n", c->immutable ? "; immutable once written" : "");
  return CLI_OK;
}

/* ---- status moves (appeal, task) ---- */

/* Set status to `to` with the date field dfield today (or --date), and
 * any --FIELD options given (e.g. --feedback, --to). */
static int cmd_move(cli_ctx *ctx, node *n, const node_coll *c, int from,
                    const char *to, const char *dfield)
{
  const char *idt;
  int rc = id_arg(ctx, from, &idt);
  if (rc != CLI_OK)
    return rc;
  dput d = {0};
  const char *when = NULL;
  char t[11];
  today(n, t);
  /* --date sets the move's date; --to names who does it: the rest are
   * the collection's options (e.g. --feedback, --note) */
  const char **argv = calloc((size_t)ctx->argc + 1, sizeof *argv);
  if (!argv)
    return cli_fail("out of memory");
  int k = 0;
  argv[k++] = ctx->argv[0];
  for (int i = from + 1; i < ctx->argc; i++) {
    const char *a = ctx->argv[i];
    bool opt = strncmp(a, "--", 2) == 0 && a[2];
    if (opt && i + 1 >= ctx->argc) {
      rc = cli_usage(ctx->argv[0], "%s needs a value", a);
      goto out;
    }
    if (strcmp(a, "--date") == 0) {
      if (!dfield) {
        rc = cli_usage(ctx->argv[0], "%s %s keeps no date", c->name, to);
        goto out;
      }
      when = ctx->argv[++i];
      continue;
    }
    argv[k++] = strcmp(a, "--to") == 0
                    ? (strcmp(c->name, "appeal") == 0 ? "--assignee"
                                                      : "--unit")
                    : a;
    if (opt)
      argv[k++] = ctx->argv[++i];
  }
  cli_ctx sub = *ctx;
  sub.argv = (char **)argv;
  sub.argc = k;
  if ((rc = parse_fields(&sub, n, c, 1, false, false, &d)) != CLI_OK)
    goto out;
  /* reopening undoes the closing */
  if (strcmp(to, "reopened") == 0 &&
      (!dput_add(&d, "closed", ':', "null") ||
       !dput_add(&d, "feedback", ':', "null"))) {
    rc = cli_fail("out of memory");
    goto out;
  }
  if (!dput_add(&d, c->status, '=', to) ||
      (dfield && !dput_add(&d, dfield, '=', when ? when : t))) {
    rc = cli_fail("out of memory");
    goto out;
  }
  char out[CRDT_ID_TEXT_LEN + 1];
  rc = write_existing(ctx, n, c, idt, &d, out);
  if (rc == CLI_OK) {
    if (ctx->json)
      rc = cli_json_out(json_pack("{s:s, s:s, s:s}", "collection", c->name,
                                  "id", out, c->status, to));
    else
      printf("%s %s is now %s\n", c->name, out, to);
  }
out:
  free(argv);
  dput_free(&d);
  return rc;
}

/* ---- time bank ---- */

static json_t *balance_json(node *n, const node_balance *b)
{
  char idt[CRDT_ID_TEXT_LEN + 1];
  hit h;
  crdt_base32_encode(b->id, CRDT_ID_LEN, idt);
  bool held = find_record(n, b->coll, b->id, &h) == GS_OK;
  return json_pack("{s:s, s:s, s:s?, s:f, s:f, s:f, s:f, s:I, s:b}",
                   "collection", b->coll, "id", idt, "name",
                   held && h.name[0] ? h.name : NULL, "balance",
                   (double)b->balance / 100.0, "deposits",
                   (double)b->deposits / 100.0, "spends",
                   (double)b->spends / 100.0, "adjusts",
                   (double)b->adjusts / 100.0, "entries",
                   (json_int_t)b->entries, "overdrawn", b->balance < 0);
}

static void balance_line(node *n, const node_balance *b)
{
  char idt[CRDT_ID_TEXT_LEN + 1], bal[32], dep[32], sp[32];
  hit h;
  crdt_base32_encode(b->id, CRDT_ID_LEN, idt);
  bool held = find_record(n, b->coll, b->id, &h) == GS_OK;
  node_hours_text(b->balance, bal, sizeof bal);
  node_hours_text(b->deposits, dep, sizeof dep);
  node_hours_text(b->spends, sp, sizeof sp);
  printf("%s/%s  %s  %s h  (deposits %s h, spends %s h, %" PRIu64
         " entries)%s\n",
         b->coll, idt, held && h.name[0] ? h.name : "?", bal, dep, sp,
         b->entries, b->balance < 0 ? "  OVERDRAWN" : "");
}

/* The person of argument i: a resident, unit or team. */
static int person_arg(cli_ctx *ctx, node *n, int i, hit *h)
{
  if (i >= ctx->argc)
    return cli_usage(ctx->argv[0], "whose hours? give a resident (id or "
                                   "name), or unit/ID, team/ID");
  return resolve_live(n, "timebank", "resident|unit|team", ctx->argv[i], h);
}

static int cmd_balance(cli_ctx *ctx, node *n, int from)
{
  hit h;
  int rc = person_arg(ctx, n, from, &h);
  if (rc != CLI_OK)
    return rc;
  if (from + 1 < ctx->argc)
    return cli_usage(ctx->argv[0], "too many arguments");
  node_balance b;
  gs_err err = node_timebank_balance(n, h.coll, h.id, &b);
  if (err)
    return cli_fail("timebank: cannot read the store: %s", gs_strerror(err));
  if (ctx->json)
    return cli_json_out(balance_json(n, &b));
  balance_line(n, &b);
  if (b.balance < 0)
    printf("  spends accepted on two nodes at once overdrew this account; "
           "an admin settles it\n  with 'gridsync timebank adjust %s/... "
           "HOURS --note WHY' (no entry is lost)\n",
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
    return cli_fail("timebank: cannot read the store: %s", gs_strerror(err));
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
  printf("(%zu account%s%s)\n", shown, shown == 1 ? "" : "s",
         overdrawn ? " overdrawn" : "");
  return CLI_OK;
}

/* timebank deposit|spend|adjust PERSON HOURS [--FIELD V...] */
static int cmd_entry(cli_ctx *ctx, node *n, const node_coll *c, int from,
                     const char *kind)
{
  hit h;
  int rc = person_arg(ctx, n, from, &h);
  if (rc != CLI_OK)
    return rc;
  if (from + 1 >= ctx->argc)
    return cli_usage(ctx->argv[0], "how many hours?");
  const char *hs = ctx->argv[from + 1];
  char *end;
  double hours = strtod(hs, &end);
  if (!*hs || *end || !isfinite(hours) ||
      strspn(hs, "-+0123456789.") != strlen(hs))
    return cli_usage(ctx->argv[0], "hours must be a number, not '%s'", hs);
  bool adjust = strcmp(kind, "adjust") == 0;
  dput d = {0};
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(h.id, CRDT_ID_LEN, idt);
  const char *ref = strs_add(&d.keep, "{\"$ref\": \"%s/%s\"}", h.coll, idt);
  const char *hv = strs_add(&d.keep, "%.17g", hours);
  if (!ref || !hv || !dput_add(&d, "person", ':', ref) ||
      !dput_add(&d, "kind", '=', kind) || !dput_add(&d, "hours", ':', hv)) {
    rc = cli_fail("out of memory");
    goto out;
  }
  if ((rc = parse_fields(ctx, n, c, from + 2, true, false, &d)) != CLI_OK ||
      (rc = default_dates(n, c, &d)) != CLI_OK)
    goto out;
  if (adjust && !dput_has(&d, "note")) {
    rc = cli_usage(ctx->argv[0], "an adjustment needs --note saying why");
    goto out;
  }
  const char *scope = d.scope ? d.scope : h.scope[0] ? h.scope : NULL;
  if (!scope) {
    rc = cli_usage(ctx->argv[0], "where does it belong? give --scope");
    goto out;
  }
  /* a spend that would overdraw is refused by the write (cli_put_record) */
  char out[CRDT_ID_TEXT_LEN + 1];
  rc = cli_put_record(ctx, ctx->argv[0], c->name, NULL, scope, d.as, d.nas,
                      out);
  if (rc != CLI_OK)
    goto out;
  node_balance b;
  if (node_timebank_balance(n, h.coll, h.id, &b) != GS_OK)
    memset(&b, 0, sizeof b);
  if (ctx->json) {
    json_t *j = balance_json(n, &b);
    json_object_set_new(j, "entry", json_string(out));
    rc = cli_json_out(j);
  } else {
    char bal[32];
    node_hours_text(b.balance, bal, sizeof bal);
    printf("%s\nbalance of %s: %s h\n", out, h.name[0] ? h.name : idt, bal);
  }
out:
  dput_free(&d);
  return rc;
}

/* ---- dispatch ---- */

static void verbs_help(FILE *f, const node_coll *c)
{
  fprintf(f, "usage: gridsync %s VERB ...\n", c->name);
  if (strcmp(c->name, "appeal") == 0)
    fprintf(f,
            "  open --category C [--resident R] [--scope S] DESCRIPTION\n"
            "  accept ID | assign ID --to UNIT | resolve ID |\n"
            "  close ID [--feedback satisfied|unsatisfied] | reopen ID "
            "[--note WHY]\n");
  if (strcmp(c->name, "task") == 0)
    fprintf(f, "  claim ID --to UNIT | done ID | reopen ID\n");
  if (strcmp(c->name, "resident") == 0)
    fprintf(f, "  find TEXT [--building B] [--tag T] [--scope P]\n");
  if (strcmp(c->name, "timebank") == 0)
    fprintf(f, "  deposit PERSON HOURS [--service S] [--note T]\n"
                    "  spend PERSON HOURS | adjust PERSON HOURS --note WHY\n"
                    "  balance PERSON | balances [--scope P] [--overdrawn]\n");
  if (!c->immutable)
    fprintf(f, "  add [--scope S] [--FIELD VALUE...] | edit ID "
                    "[--FIELD VALUE...]\n");
  else if (strcmp(c->name, "timebank") != 0)
    fprintf(f, "  add [--scope S] [--FIELD VALUE...] (immutable: no "
                    "edit)\n");
  fprintf(f, "  show ID | list [--scope P] [--FIELD VALUE...] | fields\n"
                  "'gridsync %s fields' lists the fields and their values.\n",
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
  bool is = false;
#define VERB(s) (strcmp(v, (s)) == 0 && (is = true))
  if (VERB("fields"))
    return cmd_fields(ctx, c);
  if (VERB("show"))
    return cmd_show(ctx, c, 2);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc = CLI_USAGE;
  bool appeal = strcmp(c->name, "appeal") == 0;
  bool task = strcmp(c->name, "task") == 0;
  bool tb = strcmp(c->name, "timebank") == 0;
  if (VERB("add") || (appeal && VERB("open")))
    rc = tb ? cli_usage("timebank", "use 'timebank deposit', 'spend' or "
                                    "'adjust'")
            : cmd_add(ctx, n, c, 2);
  else if (VERB("edit"))
    rc = cmd_edit(ctx, n, c, 2);
  else if (VERB("list"))
    rc = cmd_list(ctx, &n, c, 2, NULL);
  else if (strcmp(c->name, "resident") == 0 && VERB("find")) {
    if (ctx->argc < 3 || !ctx->argv[2][0] ||
        strncmp(ctx->argv[2], "--", 2) == 0)
      rc = cli_usage("resident", "find what? give part of a name or phone");
    else
      rc = cmd_list(ctx, &n, c, 3, ctx->argv[2]);
  } else if (appeal && VERB("accept"))
    rc = cmd_move(ctx, n, c, 2, "accepted", "accepted");
  else if (appeal && VERB("assign"))
    rc = cmd_move(ctx, n, c, 2, "assigned", "assigned");
  else if (appeal && VERB("resolve"))
    rc = cmd_move(ctx, n, c, 2, "resolved", "resolved");
  else if (appeal && VERB("close"))
    rc = cmd_move(ctx, n, c, 2, "closed", "closed");
  else if (appeal && VERB("reopen"))
    rc = cmd_move(ctx, n, c, 2, "reopened", NULL);
  else if (task && VERB("claim"))
    rc = cmd_move(ctx, n, c, 2, "claimed", NULL);
  else if (task && VERB("done"))
    rc = cmd_move(ctx, n, c, 2, "done", "done");
  else if (task && VERB("reopen"))
    rc = cmd_move(ctx, n, c, 2, "open", NULL);
  else if (tb && (VERB("deposit") || VERB("spend") || VERB("adjust")))
    rc = cmd_entry(ctx, n, c, 2, v);
  else if (tb && VERB("balance"))
    rc = cmd_balance(ctx, n, 2);
  else if (tb && VERB("balances"))
    rc = cmd_balances(ctx, n, 2);
#undef VERB
  if (!is) {
    fprintf(stderr, "gridsync: %s has no verb '%s'\n", c->name, v);
    verbs_help(stderr, c);
    rc = CLI_USAGE;
  }
  node_close(n);
  return rc;
}
