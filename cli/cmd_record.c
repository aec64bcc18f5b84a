/* Record commands: put, get, list, delete, restore, history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"
#include "storage/store.h"

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
  if (cli_parse_id(text, id) != GS_OK)
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

/* A record copied out of the store (records are borrowed in callbacks). */
typedef struct found {
  crdt_record *rec;
  size_t count;
} found;

static int on_found(void *ctx, const crdt_record *r)
{
  found *f = ctx;
  if (f->count++ == 0) {
    uint8_t *buf;
    size_t n;
    if (crdt_record_encode(r, &buf, &n) == GS_OK) {
      if (crdt_record_decode(buf, n, &f->rec) != GS_OK)
        f->rec = NULL;
      free(buf);
    }
  }
  return 0;
}

/* Load (coll, id) into *out (caller frees). GS_ENOTFOUND if absent. */
static gs_err load_record(node *n, const char *coll, const uint8_t *id,
                          crdt_record **out)
{
  found f = {0};
  gs_err err = store_get(node_store(n), coll, strlen(coll), id, on_found, &f);
  *out = NULL;
  if (err)
    return err;
  if (!f.rec)
    return GS_ENOMEM;
  *out = f.rec;
  return GS_OK;
}

static int not_found(const char *coll, const char *idtext)
{
  return cli_fail("no %s record with id %s", coll, idtext);
}

static void short_node(const uint8_t origin[CRDT_KEY_LEN], char out[16])
{
  char full[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(origin, CRDT_KEY_LEN, full);
  memcpy(out, full, 12);
  out[12] = '\0';
}

/* The human form of field i of r: its value, or its set's elements in
 * brackets separated by sep. */
static void print_field_value(const crdt_record *r, size_t i,
                              const crdt_field_view *fv, const char *sep)
{
  static char buf[CRDT_TEXT_MAX + 64];
  if (!fv->is_set) {
    cli_value_text(&fv->value, buf, sizeof buf);
    printf("%s", buf);
    return;
  }
  printf("[");
  for (size_t j = 0; j < fv->nelems; j++) {
    crdt_value ev;
    if (crdt_record_elem(r, i, j, &ev) != GS_OK)
      continue;
    cli_value_text(&ev, buf, sizeof buf);
    printf("%s%s", j ? sep : "", buf);
  }
  printf("]");
}

/* Human form of one record. */
static void print_record(const crdt_record *r)
{
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1], when[40], who[16];
  crdt_stamp last;

  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  printf("%.*s %s%s\n", (int)cn, coll, idt,
         crdt_record_deleted(r) ? "  (deleted)" : "");
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
    print_field_value(r, i, &fv, ", ");
    printf("\n");
  }
  crdt_record_last_stamp(r, &last);
  cli_time_text(CRDT_HLC_MS(last.hlc), when, sizeof when);
  short_node(last.origin, who);
  printf("  %-*s %s by %s\n", w, "updated", when, who);
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

/* The ops of one put, and what they borrow. */
typedef struct opbuf {
  crdt_op *ops;
  size_t n, cap;
  json_t *keep;  /* JSON values borrowed by ops */
  void **frees;  /* tag arrays */
  size_t nfrees, capfrees;
} opbuf;

static crdt_op *opbuf_add(opbuf *b)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 16;
    crdt_op *p = realloc(b->ops, cap * sizeof *p);
    if (!p)
      return NULL;
    b->ops = p;
    b->cap = cap;
  }
  crdt_op *op = &b->ops[b->n++];
  memset(op, 0, sizeof *op);
  return op;
}

static bool opbuf_own(opbuf *b, void *p)
{
  if (b->nfrees == b->capfrees) {
    size_t cap = b->capfrees ? 2 * b->capfrees : 8;
    void **q = realloc(b->frees, cap * sizeof *q);
    if (!q)
      return false;
    b->frees = q;
    b->capfrees = cap;
  }
  b->frees[b->nfrees++] = p;
  return true;
}

static void opbuf_free(opbuf *b)
{
  for (size_t i = 0; i < b->nfrees; i++)
    free(b->frees[i]);
  free(b->frees);
  free(b->ops);
  json_decref(b->keep);
}

/* Queue a REMOVE of elem from field of r, naming its live tags. Returns
 * false when r does not hold elem (nothing queued); *oom on no memory. */
static bool queue_remove(opbuf *b, const crdt_record *r, const crdt_op *tmpl,
                         const crdt_value *elem, bool *oom)
{
  crdt_stamp *tags = NULL;
  size_t ntags = 0;
  *oom = false;
  if (!r || crdt_record_elem_tags(r, tmpl->field, tmpl->field_len, elem,
                                  &tags, &ntags) != GS_OK ||
      ntags == 0) {
    free(tags);
    return false;
  }
  crdt_op *op = opbuf_add(b);
  if (!op || !opbuf_own(b, tags)) {
    free(tags);
    *oom = true;
    return false;
  }
  *op = *tmpl;
  op->kind = CRDT_OP_REMOVE;
  op->value = *elem;
  op->tags = tags;
  op->ntags = ntags;
  return true;
}

/* A JSON element to a set element value (string or ref), borrowing e. */
static bool json_elem(json_t *e, crdt_value *out, char *err, size_t errlen)
{
  if (cli_json_to_value(e, out, err, errlen) != GS_OK)
    return false;
  if (out->type != CRDT_STR && out->type != CRDT_REF) {
    snprintf(err, errlen, "set elements must be strings or "
                          "{\"$ref\": \"COLL/ID\"}");
    return false;
  }
  return true;
}

/* Turn the assignments into ops on (coll, id) given the current state r
 * (NULL for a new record). Returns CLI_OK or an exit code (message
 * printed). */
static int build_ops(opbuf *b, const char *coll, const uint8_t *id,
                     const crdt_record *r, const assign *as, size_t nas)
{
  char err[160];
  for (size_t i = 0; i < nas; i++) {
    const assign *a = &as[i];
    /* A field set whole (= or :=) appears once and alone. */
    for (size_t j = 0; j < nas; j++) {
      if (j == i || as[j].flen != a->flen ||
          memcmp(as[j].field, a->field, a->flen) != 0)
        continue;
      bool whole_i = a->op == '=' || a->op == ':';
      bool whole_j = as[j].op == '=' || as[j].op == ':';
      if (whole_i || whole_j)
        return cli_usage("put", "field '%.*s' is given more than once",
                         (int)a->flen, a->field);
    }
    crdt_op tmpl = {.coll = coll,
                    .coll_len = strlen(coll),
                    .field = a->field,
                    .field_len = a->flen};
    memcpy(tmpl.id, id, CRDT_ID_LEN);
    crdt_value v = {.type = CRDT_STR};
    bool oom = false;

    if (a->op == '=' || a->op == '+' || a->op == '-') {
      v.u.s.p = a->val;
      v.u.s.n = strlen(a->val);
      gs_err e = crdt_value_check(&v);
      if (e)
        return cli_usage("put", "field '%.*s': %s", (int)a->flen, a->field,
                         e == GS_ETOOBIG ? "text longer than 16384 bytes"
                                         : gs_strerror(e));
    }
    if (a->op == '=' || a->op == '+') {
      crdt_op *op = opbuf_add(b);
      if (!op)
        return cli_fail("out of memory");
      *op = tmpl;
      op->kind = a->op == '=' ? CRDT_OP_SET : CRDT_OP_ADD;
      op->value = v;
      continue;
    }
    if (a->op == '-') {
      if (!queue_remove(b, r, &tmpl, &v, &oom)) {
        if (oom)
          return cli_fail("out of memory");
        fprintf(stderr, "gridsync: note: field '%.*s' does not hold '%s'\n",
                (int)a->flen, a->field, a->val);
      }
      continue;
    }
    /* ':' FIELD:=JSON: a value, or an array assigning a whole set;
     * '*': one element (a ref) given as JSON, added. */
    json_error_t je;
    json_t *j = json_loads(a->val, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                           &je);
    if (!j)
      return cli_usage("put", "field '%.*s': '%s' is not JSON (%s)",
                       (int)a->flen, a->field, a->val, je.text);
    json_array_append_new(b->keep, j); /* values borrow from j */
    if (a->op == '*') {
      if (!json_elem(j, &v, err, sizeof err))
        return cli_usage("put", "field '%.*s': %s", (int)a->flen, a->field,
                         err);
      crdt_op *op = opbuf_add(b);
      if (!op)
        return cli_fail("out of memory");
      *op = tmpl;
      op->kind = CRDT_OP_ADD;
      op->value = v;
      continue;
    }
    if (!json_is_array(j)) {
      if (cli_json_to_value(j, &v, err, sizeof err) != GS_OK)
        return cli_usage("put", "field '%.*s': %s", (int)a->flen, a->field,
                         err);
      crdt_op *op = opbuf_add(b);
      if (!op)
        return cli_fail("out of memory");
      *op = tmpl;
      op->kind = CRDT_OP_SET;
      op->value = v;
      continue;
    }
    size_t ne = json_array_size(j);
    crdt_value *want = calloc(ne ? ne : 1, sizeof *want);
    if (!want || !opbuf_own(b, want)) {
      free(want);
      return cli_fail("out of memory");
    }
    for (size_t k = 0; k < ne; k++)
      if (!json_elem(json_array_get(j, k), &want[k], err, sizeof err))
        return cli_usage("put", "field '%.*s': element %zu: %s",
                         (int)a->flen, a->field, k + 1, err);
    /* Remove what is held and not wanted; add what is wanted and not
     * held (a field that is no set yet gets every element). */
    bool *held_k = calloc(ne ? ne : 1, sizeof *held_k);
    if (!held_k || !opbuf_own(b, held_k)) {
      free(held_k);
      return cli_fail("out of memory");
    }
    long fi = r ? crdt_record_find(r, a->field, a->flen) : -1;
    crdt_field_view fv;
    if (fi >= 0 && crdt_record_field(r, (size_t)fi, &fv) == GS_OK &&
        fv.is_set) {
      for (size_t k = 0; k < fv.nelems; k++) {
        crdt_value held;
        if (crdt_record_elem(r, (size_t)fi, k, &held) != GS_OK)
          continue;
        bool keep_it = false;
        for (size_t m = 0; m < ne; m++)
          if (crdt_value_equal(&held, &want[m]))
            keep_it = held_k[m] = true;
        if (!keep_it && !queue_remove(b, r, &tmpl, &held, &oom) && oom)
          return cli_fail("out of memory");
      }
    }
    for (size_t k = 0; k < ne; k++) {
      if (held_k[k])
        continue;
      crdt_op *op = opbuf_add(b);
      if (!op)
        return cli_fail("out of memory");
      *op = tmpl;
      op->kind = CRDT_OP_ADD;
      op->value = want[k];
    }
  }
  return CLI_OK;
}

static int write_error(const char *cmd, gs_err err)
{
  if (err == GS_ETOOBIG)
    return cli_fail("%s: the change is too large (over %d bytes encoded or "
                    "%d ops): split it into several commands",
                    cmd, CRDT_CHANGE_MAX, CRDT_OPS_MAX);
  return cli_fail("%s: cannot write: %s", cmd, gs_strerror(err));
}

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
  rc = cli_put_record(ctx, "put", coll, idtext, scope, as, nas, NULL);
out:
  free(as);
  return rc;
}

int cli_put_record(cli_ctx *ctx, const char *cmd, const char *coll,
                   const char *idtext, const char *scope,
                   const cli_assign *as, size_t nas, char *idout)
{
  int rc;
  node *n = NULL;
  crdt_record *r = NULL;
  opbuf b = {0};
  uint8_t id[CRDT_ID_LEN];
  char scopebuf[CRDT_SCOPE_MAX + 1];
  assign *all = NULL;

  if ((rc = check_coll(cmd, coll)) != CLI_OK)
    goto out;
  if (nas == 0) {
    rc = cli_usage(cmd, "nothing to write: give FIELD=VALUE arguments");
    goto out;
  }
  if (idtext && (rc = check_id(cmd, idtext, id)) != CLI_OK)
    goto out;
  if (scope && (rc = check_scope(cmd, scope)) != CLI_OK)
    goto out;

  rc = CLI_FAIL;
  if (!(n = cli_open(ctx, 0)))
    goto out;
  bool created = true;
  if (idtext) {
    gs_err err = load_record(n, coll, id, &r);
    if (err == GS_OK) {
      const char *rs, *rc_;
      size_t rsn, rcn;
      uint8_t rid[CRDT_ID_LEN];
      crdt_record_identity(r, &rs, &rsn, &rc_, &rcn, rid);
      if (scope && (strlen(scope) != rsn || memcmp(scope, rs, rsn) != 0)) {
        rc = cli_fail("%s: %s %s lives in scope %.*s, not %s (records do "
                      "not move between scopes)",
                      cmd, coll, idtext, (int)rsn, rs, scope);
        goto out;
      }
      memcpy(scopebuf, rs, rsn);
      scopebuf[rsn] = '\0';
      scope = scopebuf;
      created = false;
      if (crdt_record_deleted(r))
        fprintf(stderr, "gridsync: note: %s %s is deleted; 'gridsync "
                        "restore' brings it back\n",
                coll, idtext);
    } else if (err != GS_ENOTFOUND) {
      rc = cli_fail("%s: cannot read %s %s: %s", cmd, coll, idtext,
                    gs_strerror(err));
      goto out;
    }
  } else {
    node_id_for(n, coll, strlen(coll), id);
  }
  if (!scope) {
    rc = cli_usage(cmd, "a new record needs --scope STREET/COMMUNITY/GRID");
    goto out;
  }
  if (!(b.keep = json_array())) {
    rc = cli_fail("out of memory");
    goto out;
  }
  char why[400];
  if (node_may_write(n, scope, strlen(scope), why, sizeof why) != GS_OK) {
    rc = cli_fail("%s: %s", cmd, why);
    goto out;
  }
  /* A new record of a collection with a status starts in its first. */
  const node_coll *sc = node_schema_coll(coll, strlen(coll));
  if (created && sc && sc->status) {
    bool given = false;
    for (size_t i = 0; i < nas && !given; i++)
      given = as[i].flen == strlen(sc->status) &&
              memcmp(as[i].field, sc->status, as[i].flen) == 0;
    if (!given) {
      if (!(all = calloc(nas + 1, sizeof *all))) {
        rc = cli_fail("out of memory");
        goto out;
      }
      memcpy(all, as, nas * sizeof *as);
      all[nas] = (assign){sc->status, strlen(sc->status), '=', sc->initial};
      as = all;
      nas++;
    }
  }
  if ((rc = build_ops(&b, coll, id, r, as, nas)) != CLI_OK)
    goto out;
  if (node_schema_check(r, b.ops, b.n, 0, why, sizeof why) != GS_OK) {
    rc = cli_fail("%s: %s", cmd, why);
    goto out;
  }
  if (created && idtext && sc && sc->immutable) {
    rc = cli_fail("%s: a new %s gets its id from this node (no --id): ids "
                  "of immutable records are never reused",
                  cmd, coll);
    goto out;
  }
  if (created) {
    node_timebank_batch tb = {0};
    gs_err e = node_timebank_batch_add(&tb, b.ops, b.n);
    if (!e)
      e = node_timebank_check_batch(n, &tb, why, sizeof why);
    node_timebank_batch_free(&tb);
    if (e) {
      rc = e == GS_ESCHEMA ? cli_fail("%s: %s", cmd, why)
                           : cli_fail("%s: cannot read the store: %s", cmd,
                                      gs_strerror(e));
      goto out;
    }
  }
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  uint64_t seq = 0;
  if (b.n == 0 && created) {
    rc = cli_usage(cmd, "nothing to write for a new record");
    goto out;
  }
  if (b.n > 0) {
    gs_err err = node_write(n, scope, strlen(scope), b.ops, b.n, &seq);
    if (err) {
      rc = write_error(cmd, err);
      goto out;
    }
  }
  if (idout) {
    memcpy(idout, idt, sizeof idt);
    rc = CLI_OK;
  } else if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:s, s:s, s:b, s:I}", "id", idt,
                                "collection", coll, "scope", scope, "created",
                                created, "seq", (json_int_t)seq));
  else {
    printf("%s\n", idt);
    rc = CLI_OK;
  }
out:
  free(all);
  opbuf_free(&b);
  crdt_record_free(r);
  node_close(n);
  return rc;
}

/* ---- get ---- */

/* Parse "CMD COLLECTION ID" into coll and id. */
static int coll_id_args(cli_ctx *ctx, const char *cmd, const char **coll,
                        uint8_t id[CRDT_ID_LEN])
{
  if (ctx->argc != 3)
    return cli_usage(cmd, ctx->argc < 3 ? "which record?"
                                        : "too many arguments");
  int rc;
  if ((rc = check_coll(cmd, ctx->argv[1])) != CLI_OK ||
      (rc = check_id(cmd, ctx->argv[2], id)) != CLI_OK)
    return rc;
  *coll = ctx->argv[1];
  return CLI_OK;
}

int cli_cmd_get(cli_ctx *ctx)
{
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  int rc = coll_id_args(ctx, "get", &coll, id);
  if (rc != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  crdt_record *r = NULL;
  gs_err err = load_record(n, coll, id, &r);
  if (err == GS_ENOTFOUND)
    rc = not_found(coll, ctx->argv[2]);
  else if (err)
    rc = cli_fail("get: cannot read %s %s: %s", coll, ctx->argv[2],
                  gs_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(cli_record_json(r));
  else
    print_record(r);
  crdt_record_free(r);
  node_close(n);
  return rc;
}

/* ---- list ---- */

typedef struct list_ctx {
  cli_ctx *cli;
  const char **where; /* FIELD=VALUE */
  size_t nwhere;
  bool deleted; /* include deleted records */
  size_t count, limit;
  json_t *out;
} list_ctx;

/* The condition's operator: the first character after the field name
 * ('=' equal, '~' contains), or NULL. */
static const char *cond_op(const char *cond)
{
  const char *p = cond;
  while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
    p++;
  return (*p == '=' || *p == '~') && crdt_name_valid(cond, (size_t)(p - cond))
             ? p
             : NULL;
}

static bool text_matches(const char *have, const char *op)
{
  return *op == '=' ? strcmp(have, op + 1) == 0
                    : strstr(have, op + 1) != NULL;
}

/* true when field f of r shows value text v (a set: holds it), or with
 * '~' contains it. */
static bool field_matches(const crdt_record *r, const char *cond)
{
  static char buf[CRDT_TEXT_MAX + 64];
  const char *op = cond_op(cond);
  long fi = crdt_record_find(r, cond, (size_t)(op - cond));
  crdt_field_view fv;
  if (fi < 0 || crdt_record_field(r, (size_t)fi, &fv) != GS_OK)
    return false;
  if (!fv.is_set) {
    if (fv.value.type == CRDT_NIL)
      return false;
    cli_value_text(&fv.value, buf, sizeof buf);
    return text_matches(buf, op);
  }
  for (size_t j = 0; j < fv.nelems; j++) {
    crdt_value ev;
    if (crdt_record_elem(r, (size_t)fi, j, &ev) != GS_OK)
      continue;
    cli_value_text(&ev, buf, sizeof buf);
    if (text_matches(buf, op))
      return true;
  }
  return false;
}

static int on_list(void *vctx, const crdt_record *r)
{
  list_ctx *l = vctx;
  if (!l->deleted && crdt_record_deleted(r))
    return 0;
  for (size_t i = 0; i < l->nwhere; i++)
    if (!field_matches(r, l->where[i]))
      return 0;
  if (l->limit && l->count >= l->limit)
    return 1;
  l->count++;
  if (l->out) {
    json_array_append_new(l->out, cli_record_json(r));
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
    print_field_value(r, i, &fv, ",");
  }
  printf("\n");
  return 0;
}

int cli_cmd_list(cli_ctx *ctx)
{
  const char *coll = NULL, *prefix = "", *w, *lim;
  list_ctx l = {.cli = ctx};
  int rc = CLI_USAGE;

  if (!(l.where = calloc((size_t)ctx->argc, sizeof *l.where)))
    return cli_fail("out of memory");
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--scope", &prefix)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--where", &w)) != 0) {
      if (m < 0)
        goto out;
      if (!cond_op(w)) {
        rc = cli_usage("list", "--where needs FIELD=VALUE (equal) or "
                               "FIELD~TEXT (contains), not '%s'",
                       w);
        goto out;
      }
      l.where[l.nwhere++] = w;
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
      l.limit = (size_t)v;
      continue;
    }
    if (strcmp(ctx->argv[i], "--deleted") == 0) {
      l.deleted = true;
      continue;
    }
    if (coll || strncmp(ctx->argv[i], "--", 2) == 0) {
      rc = cli_usage("list", "unexpected argument '%s'", ctx->argv[i]);
      goto out;
    }
    coll = ctx->argv[i];
  }
  if (!coll) {
    rc = cli_usage("list", "which collection?");
    goto out;
  }
  if ((rc = check_coll("list", coll)) != CLI_OK)
    goto out;
  if (*prefix && !crdt_scope_valid(prefix, strlen(prefix))) {
    rc = check_scope("list", prefix);
    goto out;
  }
  node *n = cli_open(ctx, 0);
  if (!n) {
    rc = CLI_FAIL;
    goto out;
  }
  if (ctx->json)
    l.out = json_array();
  gs_err err = store_list(node_store(n), coll, strlen(coll), prefix,
                          strlen(prefix), on_list, &l);
  if (err && err != GS_ENOTFOUND) {
    json_decref(l.out);
    rc = cli_fail("list: cannot read the store: %s", gs_strerror(err));
  } else if (l.out) {
    rc = cli_json_out(l.out);
  } else {
    printf("(%zu record%s)\n", l.count, l.count == 1 ? "" : "s");
    rc = CLI_OK;
  }
  node_close(n);
out:
  free(l.where);
  return rc;
}

/* ---- delete / restore ---- */

static int tombstone(cli_ctx *ctx, bool del)
{
  const char *cmd = del ? "delete" : "restore";
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  int rc = coll_id_args(ctx, cmd, &coll, id);
  if (rc != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  crdt_record *r = NULL;
  gs_err err = load_record(n, coll, id, &r);
  bool changed = false;
  if (err == GS_ENOTFOUND) {
    rc = not_found(coll, ctx->argv[2]);
    goto out;
  }
  if (err) {
    rc = cli_fail("%s: cannot read %s %s: %s", cmd, coll, ctx->argv[2],
                  gs_strerror(err));
    goto out;
  }
  if (crdt_record_deleted(r) != del) {
    const char *scope, *c;
    size_t sn, cn;
    uint8_t rid[CRDT_ID_LEN];
    crdt_record_identity(r, &scope, &sn, &c, &cn, rid);
    crdt_op op = {.kind = del ? CRDT_OP_DELETE : CRDT_OP_RESTORE,
                  .coll = coll,
                  .coll_len = strlen(coll)};
    memcpy(op.id, id, CRDT_ID_LEN);
    char why[300];
    if (node_may_write(n, scope, sn, why, sizeof why) != GS_OK) {
      rc = cli_fail("%s: %s", cmd, why);
      goto out;
    }
    if (node_schema_check(r, &op, 1, 0, why, sizeof why) != GS_OK) {
      rc = cli_fail("%s: %s", cmd, why);
      goto out;
    }
    if ((err = node_write(n, scope, sn, &op, 1, NULL)) != GS_OK) {
      rc = write_error(cmd, err);
      goto out;
    }
    changed = true;
  }
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:s, s:b, s:b}", "collection", coll,
                                "id", ctx->argv[2], "deleted", del, "changed",
                                changed));
  else
    printf("%s %s %s%s\n", coll, ctx->argv[2],
           changed ? "" : "was already ", del ? "deleted" : "restored");
out:
  crdt_record_free(r);
  node_close(n);
  return rc;
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
  const char *coll;
  const uint8_t *id;
  json_t *out;
  size_t n;
} hist_ctx;

static const char *op_name(crdt_op_kind k)
{
  switch (k) {
  case CRDT_OP_SET:
    return "set";
  case CRDT_OP_ADD:
    return "add";
  case CRDT_OP_REMOVE:
    return "remove";
  case CRDT_OP_DELETE:
    return "delete";
  case CRDT_OP_RESTORE:
    return "restore";
  }
  return "?";
}

static int on_history(void *vctx, const crdt_change *c)
{
  hist_ctx *h = vctx;
  static char buf[CRDT_TEXT_MAX + 64];
  char when[40], who[16], whofull[CRDT_KEY_TEXT_LEN + 1];
  size_t cn = strlen(h->coll);
  json_t *ops = NULL;

  cli_time_text(CRDT_HLC_MS(c->hlc), when, sizeof when);
  short_node(c->origin, who);
  if (h->out) {
    crdt_base32_encode(c->origin, CRDT_KEY_LEN, whofull);
    ops = json_array();
    json_array_append_new(
        h->out, json_pack("{s:s, s:I, s:s, s:s%, s:I, s:o}", "time", when,
                          "hlc", (json_int_t)c->hlc, "by", whofull, "scope",
                          c->scope, c->scope_len, "seq", (json_int_t)c->seq,
                          "ops", ops));
  } else {
    printf("%s  by %s  seq %" PRIu64 "\n", when, who, c->seq);
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
        json_object_set_new(o, "value", cli_value_json(&op->value));
      }
      json_array_append_new(ops, o);
    } else if (has_field) {
      cli_value_text(&op->value, buf, sizeof buf);
      printf("    %-7s %.*s %s %s\n", op_name(op->kind), (int)op->field_len,
             op->field,
             op->kind == CRDT_OP_SET ? "=" : op->kind == CRDT_OP_ADD ? "+"
                                                                     : "-",
             buf);
    } else {
      printf("    %s\n", op_name(op->kind));
    }
  }
  return 0;
}

int cli_cmd_history(cli_ctx *ctx)
{
  const char *coll;
  uint8_t id[CRDT_ID_LEN];
  int rc = coll_id_args(ctx, "history", &coll, id);
  if (rc != CLI_OK)
    return rc;
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  hist_ctx h = {.coll = coll, .id = id};
  if (ctx->json)
    h.out = json_array();
  gs_err err = store_history(node_store(n), coll, strlen(coll), id,
                             on_history, &h);
  if ((err == GS_OK && h.n == 0) || err == GS_ENOTFOUND) {
    json_decref(h.out);
    rc = not_found(coll, ctx->argv[2]);
  } else if (err) {
    json_decref(h.out);
    rc = cli_fail("history: cannot read the store: %s", gs_strerror(err));
  } else if (h.out) {
    rc = cli_json_out(h.out);
  }
  node_close(n);
  return rc;
}
