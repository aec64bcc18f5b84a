/*
 * Reading through the domain (node/domain.h): records by what a person
 * says (resolution), typed queries, one record, its history.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/address.h"
#include "node/domain.h"
#include "node/json.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"

static const char *art(const char *name)
{
  return strchr("aeiou", name[0]) ? "an" : "a";
}

void node_hits_free(node_hits *h)
{
  if (!h)
    return;
  free(h->v);
  h->v = NULL;
  h->n = 0;
}

bool node__str_field(const crdt_record *r, const char *name, const char **p,
                     size_t *n)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_STR)
    return false;
  *p = fv.value.u.s.p;
  *n = fv.value.u.s.n;
  return true;
}

bool node__ref_field(const crdt_record *r, const char *name,
                     const char *coll, uint8_t id[CRDT_ID_LEN])
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_REF || fv.value.u.ref.coll_len != strlen(coll) ||
      memcmp(fv.value.u.ref.coll, coll, fv.value.u.ref.coll_len) != 0)
    return false;
  memcpy(id, fv.value.u.ref.id, CRDT_ID_LEN);
  return true;
}


/* Copy at most cap-1 bytes of p, cut at a UTF-8 boundary. */
static void copy_utf8(char *buf, size_t cap, const char *p, size_t n)
{
  size_t len = n < cap - 1 ? n : cap - 1;
  while (len > 0 && len < n && ((unsigned char)p[len] & 0xC0) == 0x80)
    len--;
  memcpy(buf, p, len);
  buf[len] = '\0';
}

static const char *const name_fields[] = {"name", "title", "what",
                                          "description"};

void node_name_of(const crdt_record *r, char *buf, size_t cap)
{
  const char *p;
  size_t n;
  buf[0] = '\0';
  for (size_t k = 0; k < 4; k++)
    if (node__str_field(r, name_fields[k], &p, &n) && n > 0) {
      copy_utf8(buf, cap, p, n);
      return;
    }
}

static void hit_fill(node_hit *h, const crdt_record *r)
{
  const char *scope, *coll;
  size_t sn, cn;
  memset(h, 0, sizeof *h);
  crdt_record_identity(r, &scope, &sn, &coll, &cn, h->id);
  snprintf(h->coll, sizeof h->coll, "%.*s", (int)cn, coll);
  snprintf(h->scope, sizeof h->scope, "%.*s", (int)sn, scope);
  node_name_of(r, h->name, sizeof h->name);
  h->deleted = crdt_record_deleted(r);
  h->held = true;
  /* what tells two of one name apart */
  size_t k = (size_t)snprintf(h->detail, sizeof h->detail, "%s", h->scope);
  long i = crdt_record_find(r, "birth_year", 10);
  crdt_field_view fv;
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
      !fv.is_set && fv.value.type == CRDT_INT && k < sizeof h->detail)
    k += (size_t)snprintf(h->detail + k, sizeof h->detail - k,
                          ", born %lld", (long long)fv.value.u.i);
  const char *p;
  size_t n;
  if (node__str_field(r, "phone", &p, &n) && n >= 4 && k < sizeof h->detail)
    snprintf(h->detail + k, sizeof h->detail - k, ", phone ...%.*s", 4,
             p + n - 4);
}

static int on_hit(void *ctx, const crdt_record *r)
{
  hit_fill(ctx, r);
  return 1;
}

/* (coll, id) as a hit: GS_ENOTFOUND when not held. */
static gs_err find_hit(node *n, const char *coll,
                       const uint8_t id[CRDT_ID_LEN], node_hit *out)
{
  out->held = false;
  gs_err err = store_get(n->st, coll, strlen(coll), id, on_hit, out);
  if (!err && !out->held)
    err = GS_ENOTFOUND;
  return err;
}

typedef struct byname {
  const char *name;
  size_t len;
  node_hit first;
  node_hits *cands;
  size_t count;
  gs_err err;
} byname;

static int add_hit(void *vctx, const crdt_record *r)
{
  byname *b = vctx;
  node_hit h;
  hit_fill(&h, r);
  if (b->count == 0)
    b->first = h;
  if (b->cands && b->cands->n < NODE_CANDIDATES_MAX) {
    node_hit *v = realloc(b->cands->v, (b->cands->n + 1) * sizeof *v);
    if (!v) {
      b->err = GS_ENOMEM;
      return 1;
    }
    v[b->cands->n++] = h;
    b->cands->v = v;
  }
  b->count++;
  return 0;
}

static int on_byname(void *vctx, const crdt_record *r)
{
  byname *b = vctx;
  if (crdt_record_deleted(r))
    return 0;
  const char *p;
  size_t n;
  /* a resident who moved to another grid goes by the record that
   * continues them (node_resident_move); its id still finds it */
  if (node__str_field(r, "status", &p, &n) && n == 5 &&
      memcmp(p, "moved", 5) == 0)
    return 0;
  bool match = false;
  for (size_t k = 0; k < 2 && !match; k++)
    match = node__str_field(r, name_fields[k], &p, &n) && n == b->len &&
            memcmp(p, b->name, n) == 0;
  return match ? add_hit(b, r) : 0;
}

/* Split refs "a|b" into colls (at most 8); NULL: every collection of the
 * schema. */
static size_t ref_colls(const char *refs, char colls[16][CRDT_NAME_MAX + 1])
{
  size_t nc = 0;
  if (!refs) {
    size_t na;
    const node_coll *all = node_schema_all(&na);
    for (size_t i = 0; i < na && nc < 16; i++)
      snprintf(colls[nc++], CRDT_NAME_MAX + 1, "%s", all[i].name);
    return nc;
  }
  for (const char *p = refs; *p && nc < 16;) {
    size_t len = strcspn(p, "|");
    snprintf(colls[nc++], CRDT_NAME_MAX + 1, "%.*s", (int)len, p);
    p += len + (p[len] == '|');
  }
  return nc;
}

static gs_err live(const node_hit *h, unsigned flags, node_reason *why)
{
  if ((flags & NODE_RESOLVE_LIVE) && h->held && h->deleted) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(h->id, CRDT_ID_LEN, idt);
    return node_reason_set(why, GS_EPERM,
                           "%s %s %s was deleted (restore it first)", h->coll,
                           idt, h->name);
  }
  return GS_OK;
}

gs_err node_resolve(node *n, const char *refs, const char *text,
                    unsigned flags, node_hit *out, node_hits *cands,
                    node_reason *why)
{
  char colls[16][CRDT_NAME_MAX + 1];
  size_t nc = ref_colls(refs, colls);
  const char *what = refs ? refs : "record";
  uint8_t id[CRDT_ID_LEN];
  const char *slash = strchr(text, '/');
  gs_err err;

  memset(out, 0, sizeof *out);
  if (cands)
    memset(cands, 0, sizeof *cands);
  if (!*text)
    return node_reason_set(why, GS_EINVAL, "which %s? give a name or an id",
                           what);
  if (slash) {
    size_t cl = (size_t)(slash - text);
    bool ok = false;
    for (size_t i = 0; i < nc; i++)
      ok |= strlen(colls[i]) == cl && memcmp(colls[i], text, cl) == 0;
    if (!ok || crdt_base32_decode(slash + 1, strlen(slash + 1), id,
                                  CRDT_ID_LEN) != GS_OK ||
        strlen(slash + 1) != CRDT_ID_TEXT_LEN)
      return node_reason_set(why, GS_EINVAL,
                             "takes a %s: an id, COLL/ID or a name, not '%s'",
                             what, text);
    snprintf(out->coll, sizeof out->coll, "%.*s", (int)cl, text);
    memcpy(out->id, id, CRDT_ID_LEN);
    if ((err = find_hit(n, out->coll, id, out)) != GS_OK) {
      if (err != GS_ENOTFOUND)
        return node_reason_set(why, err, "cannot read the store: %s",
                               gs_i18n_strerror(err));
      snprintf(out->coll, sizeof out->coll, "%.*s", (int)cl, text);
      memcpy(out->id, id, CRDT_ID_LEN);
      out->held = false;
    }
    return live(out, flags, why);
  }
  if (strlen(text) == CRDT_ID_TEXT_LEN &&
      crdt_base32_decode(text, CRDT_ID_TEXT_LEN, id, CRDT_ID_LEN) == GS_OK) {
    for (size_t i = 0; i < nc; i++) {
      err = find_hit(n, colls[i], id, out);
      if (err == GS_OK)
        return live(out, flags, why);
      if (err != GS_ENOTFOUND)
        return node_reason_set(why, err, "cannot read the store: %s",
                               gs_i18n_strerror(err));
    }
    if (nc == 1) { /* not held here (another grid's?): refer anyway */
      memset(out, 0, sizeof *out);
      snprintf(out->coll, sizeof out->coll, "%s", colls[0]);
      memcpy(out->id, id, CRDT_ID_LEN);
      return GS_OK;
    }
    return node_reason_set(why, GS_ENOTFOUND,
                           "no %s with id %s on this node (give COLL/ID)",
                           what, text);
  }
  byname b = {.name = text, .len = strlen(text), .cands = cands};
  for (size_t i = 0; i < nc && !b.err; i++) {
    err = store_list(n->st, colls[i], strlen(colls[i]), NULL, 0, on_byname,
                     &b);
    if (err && err != GS_ENOTFOUND)
      return node_reason_set(why, err, "cannot read the store: %s",
                             gs_i18n_strerror(err));
  }
  /* a place: a building by number, a household by address, "5号楼
   * 李桂芳" */
  if (b.count == 0 && !b.err &&
      (err = node__place_find(n, colls, nc, text, add_hit, &b)) != GS_OK)
    return node_reason_set(why, err, "cannot read the store: %s",
                           gs_i18n_strerror(err));
  if (b.err)
    return node_reason_set(why, b.err, "out of memory");
  /* what tells namesakes apart: where they live */
  node__hit_address(n, &b.first);
  for (size_t i = 0; cands && i < cands->n; i++)
    node__hit_address(n, &cands->v[i]);
  if (b.count == 0)
    return node_reason_set(why, GS_ENOTFOUND,
                           "no %s named '%s' on this node", what, text);
  if (b.count > 1) {
    char list[300];
    size_t k = 0;
    list[0] = '\0';
    for (size_t i = 0; cands && i < cands->n && i < 3 && k < sizeof list;
         i++)
      k += (size_t)snprintf(list + k, sizeof list - k, "%s%s (%s)",
                            i ? "; " : "", cands->v[i].coll,
                            cands->v[i].detail);
    return node_reason_set(why, GS_EAMBIG,
                           "%zu records are named '%s'%s%s%s: say which "
                           "(give its id or COLL/ID)",
                           b.count, text, k ? " (" : "", list,
                           k ? (b.count > 3 ? "; ...)" : ")") : "");
  }
  *out = b.first;
  if (cands)
    node_hits_free(cands);
  return live(out, flags, why);
}

gs_err node_resolve_choose(node *n, const char *refs, const char *text,
                           unsigned flags, node_choose_cb choose, void *cctx,
                           const char *field, node_hit *out,
                           node_reason *why)
{
  node_hits cands;
  gs_err err = node_resolve(n, refs, text, flags, out, &cands, why);
  if (err == GS_EAMBIG && choose) {
    int k = choose(cctx, field ? field : "", text, &cands);
    if (k >= 0 && (size_t)k < cands.n) {
      *out = cands.v[k];
      err = live(out, flags, why);
    }
  }
  node_hits_free(&cands);
  return err;
}

/* ---- one record ---- */

static int on_copy(void *ctx, const crdt_record *r)
{
  crdt_record **out = ctx;
  crdt_record_copy(r, out); /* *out NULL if it fails */
  return 1;
}

gs_err node_get(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                crdt_record **out)
{
  *out = NULL;
  if (!crdt_name_valid(coll, strlen(coll)))
    return GS_ENAME;
  gs_err err = store_get(n->st, coll, strlen(coll), id, on_copy, out);
  if (err)
    return err;
  return *out ? GS_OK : GS_ENOMEM;
}

/* A household has no name: it is called by its address, "3号楼2单元302"
 * (the building's name, the stairwell, the room). */
static int on_address(void *ctx, const crdt_record *r)
{
  crdt_record **out = ctx;
  return on_copy(out, r);
}

static void household_name(node *n, const uint8_t id[CRDT_ID_LEN], char *buf,
                           size_t cap)
{
  crdt_record *r = NULL;
  if (store_get(n->st, "household", 9, id, on_address, &r) != GS_OK || !r)
    return;
  char bname[NODE_HIT_NAME_MAX] = "";
  long i = crdt_record_find(r, "building", 8);
  crdt_field_view fv;
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK && !fv.is_set &&
      fv.value.type == CRDT_REF && fv.value.u.ref.coll_len == 8 &&
      memcmp(fv.value.u.ref.coll, "building", 8) == 0) {
    node_hit b;
    if (find_hit(n, "building", fv.value.u.ref.id, &b) == GS_OK)
      snprintf(bname, sizeof bname, "%s", b.name);
  }
  const char *unit = "", *room = "";
  size_t un = 0, rn = 0;
  node__str_field(r, "unit", &unit, &un);
  node__str_field(r, "room", &room, &rn);
  snprintf(buf, cap, "%s%.*s%s%.*s", bname, (int)un, unit, un ? "单元" : "",
           (int)rn, room);
  crdt_record_free(r);
}

void node_record_name(node *n, const char *coll,
                      const uint8_t id[CRDT_ID_LEN], char *buf, size_t cap)
{
  node_hit h;
  buf[0] = '\0';
  if (strcmp(coll, "household") == 0) {
    household_name(n, id, buf, cap);
    return;
  }
  if (find_hit(n, coll, id, &h) == GS_OK)
    snprintf(buf, cap, "%s", h.name);
}

gs_err node_history(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                    node_change_cb cb, void *ctx)
{
  if (!crdt_name_valid(coll, strlen(coll)))
    return GS_ENAME;
  return store_history(n->st, coll, strlen(coll), id, cb, ctx);
}

/* ---- queries ---- */

bool node_cond_parse(const char *text, node_cond *out)
{
  const char *p = text;
  while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
    p++;
  size_t fl = (size_t)(p - text);
  if (!crdt_name_valid(text, fl))
    return false;
  out->field = text;
  out->field_len = fl;
  if (p[0] == '<' && p[1] == '=')
    out->op = NODE_Q_LE, p += 2;
  else if (p[0] == '>' && p[1] == '=')
    out->op = NODE_Q_GE, p += 2;
  else if (p[0] == '!' && p[1] == '=')
    out->op = NODE_Q_NE, p += 2;
  else if (p[0] == '<')
    out->op = NODE_Q_LT, p++;
  else if (p[0] == '>')
    out->op = NODE_Q_GT, p++;
  else if (p[0] == '=')
    out->op = NODE_Q_EQ, p++;
  else if (p[0] == '~')
    out->op = NODE_Q_CONTAINS, p++;
  else
    return false;
  out->value = p;
  return true;
}

bool node_cond_value(const char *field, const char *expr, node_cond *out)
{
  if (!crdt_name_valid(field, strlen(field)))
    return false;
  static const struct {
    const char *t;
    node_qop op;
  } ops[] = {{"<=", NODE_Q_LE}, {">=", NODE_Q_GE}, {"!=", NODE_Q_NE},
             {"<", NODE_Q_LT},  {">", NODE_Q_GT},  {"=", NODE_Q_EQ},
             {"~", NODE_Q_CONTAINS}};
  *out = (node_cond){field, strlen(field), NODE_Q_EQ, expr};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strncmp(expr, ops[i].t, strlen(ops[i].t)) == 0) {
      out->op = ops[i].op;
      out->value = expr + strlen(ops[i].t);
      break;
    }
  while (*out->value == ' ')
    out->value++;
  return true;
}

const char *node_main_text(const node_coll *c)
{
  static const char *const names[] = {"name", "description", "what",
                                      "title", "notes"};
  for (size_t k = 0; k < 5; k++)
    if (node_schema_field(c, names[k], strlen(names[k])))
      return names[k];
  return NULL;
}

void node_find_cond(const node_coll *c, const char *text, node_cond *out)
{
  bool digits = node_phone_like(text);
  const char *f = digits && node_schema_field(c, "phone", 5)
                      ? "phone"
                      : node_main_text(c);
  if (!f)
    f = "name";
  *out = (node_cond){f, strlen(f), NODE_Q_CONTAINS, text};
}

/* A condition made ready: the value read by the field's type. */
typedef struct qcond {
  const node_cond *c;
  const node_query *q;
  char field[CRDT_NAME_MAX + 1];
  const node_field *f;  /* NULL: free-form */
  bool numeric;         /* compare as numbers */
  double num;
  crdt_value ref;       /* a resolved reference */
  bool is_ref;
  node_hit refhit;
  const char *want;     /* the value compared (c->value, or its code) */
  node_cond own;        /* a condition rewritten (age -> birth_year) */
  char day[11];         /* a date value as YYYY-MM-DD */
  bool phone;           /* compare without spaces and dashes */
  bool place;           /* a resident's building: its own or its household's */
  uint8_t (*hids)[CRDT_ID_LEN]; /* place: the building's households */
  size_t nh;
  char phonev[NODE_PHONE_MAX];
} qcond;

static const char *op_text(node_qop op)
{
  static const char *const t[] = {"=", "!=", "~", "<", "<=", ">", ">="};
  return t[op];
}

/* A resident's age (this year's, from birth_year): age>=65 is
 * birth_year<=YEAR-65. */
static gs_err prepare_age(node *n, const node_coll *sc, qcond *q,
                          node_reason *why)
{
  const node_cond *c = q->c;
  char *end, day[11];
  long a = strtol(c->value, &end, 10);
  if (!*c->value || *end || a < 0 || a > 150)
    return node_reason_set(why, GS_EINVAL,
                           "age takes a whole number of years (e.g. "
                           "--age '>=65'), not '%s'",
                           c->value);
  static const node_qop mirror[] = {
      [NODE_Q_EQ] = NODE_Q_EQ, [NODE_Q_NE] = NODE_Q_NE,
      [NODE_Q_CONTAINS] = NODE_Q_CONTAINS, [NODE_Q_LT] = NODE_Q_GT,
      [NODE_Q_LE] = NODE_Q_GE, [NODE_Q_GT] = NODE_Q_LT,
      [NODE_Q_GE] = NODE_Q_LE};
  if (c->op == NODE_Q_CONTAINS)
    return node_reason_set(why, GS_EINVAL,
                           "age~...: an age is compared with =, <, <=, >, "
                           ">= or !=");
  node_today(n, 0, day);
  q->own = (node_cond){"birth_year", 10, mirror[c->op], c->value};
  q->c = &q->own;
  snprintf(q->field, sizeof q->field, "birth_year");
  q->f = node_schema_field(sc, "birth_year", 10);
  q->numeric = true;
  q->num = (double)(strtol(day, NULL, 10) - a);
  return GS_OK;
}

static gs_err prepare(node *n, const node_coll *sc, const node_cond *c,
                      qcond *q, node_reason *why)
{
  const node_query *query = q->q;
  memset(q, 0, sizeof *q);
  q->q = query;
  q->c = c;
  q->want = c->value;
  snprintf(q->field, sizeof q->field, "%.*s", (int)c->field_len, c->field);
  bool order = c->op == NODE_Q_LT || c->op == NODE_Q_LE ||
               c->op == NODE_Q_GT || c->op == NODE_Q_GE;
  if (!sc) {
    char *end;
    q->num = strtod(c->value, &end);
    q->numeric = *c->value && !*end && isfinite(q->num);
    if (order && !q->numeric)
      return node_reason_set(why, GS_EINVAL,
                             "%s%s needs a number, not '%s'", q->field,
                             op_text(c->op), c->value);
    return GS_OK;
  }
  if (strcmp(sc->name, "resident") == 0 && strcmp(q->field, "age") == 0)
    return prepare_age(n, sc, q, why);
  q->f = node_schema_field(sc, c->field, c->field_len);
  if (!q->f) {
    char list[400];
    size_t k = 0;
    for (size_t i = 0; i < sc->nfields && k < sizeof list; i++)
      k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                            sc->fields[i].name);
    return node_reason_set(why, GS_EINVAL, "%s %s has no field '%s' (%s)",
                           art(sc->name), sc->name, q->field, list);
  }
  const node_field *f = q->f;
  switch (f->type) {
  case NODE_F_INT:
  case NODE_F_NUM: {
    char *end;
    q->num = strtod(c->value, &end);
    if (!*c->value || *end || !isfinite(q->num))
      return node_reason_set(why, GS_EINVAL, "%s takes a number, not '%s'",
                             q->field, c->value);
    q->numeric = true;
    if (c->op == NODE_Q_CONTAINS)
      goto badop;
    return GS_OK;
  }
  case NODE_F_DATE:
    if (!node_date_parse(n, c->value, q->day))
      return node_reason_set(why, GS_EINVAL,
                             "%s takes a date (2026-12-05, 2026/12/5, "
                             "2026年12月5日, 今天, 昨天), not '%s'",
                             q->field, c->value);
    q->want = q->day;
    if (c->op == NODE_Q_CONTAINS)
      goto badop;
    return GS_OK;
  case NODE_F_BOOL:
    if (strcmp(c->value, "true") && strcmp(c->value, "false"))
      return node_reason_set(why, GS_EINVAL, "%s takes true or false",
                             q->field);
    if (c->op != NODE_Q_EQ && c->op != NODE_Q_NE)
      goto badop;
    return GS_OK;
  case NODE_F_ENUM:
  case NODE_F_TAGS: {
    if (order || c->op == NODE_Q_CONTAINS)
      goto badop;
    if ((q->want = node_schema_code(sc->name, f, c->value)))
      return GS_OK;
    char list[400];
    size_t k = 0;
    for (const char *const *v = f->values; v && *v && k < sizeof list; v++)
      k += (size_t)snprintf(list + k, sizeof list - k, "%s%s (%s)",
                            v == f->values ? "" : ", ", *v,
                            node_schema_label(sc->name, f->name, *v));
    return node_reason_set(why, GS_EINVAL,
                           "%s has no value '%s' (it takes: %s)", q->field,
                           c->value, list);
  }
  case NODE_F_REF:
  case NODE_F_REFS: {
    if (c->op != NODE_Q_EQ && c->op != NODE_Q_NE)
      goto badop;
    node_reason rw;
    gs_err err = node_resolve_choose(n, f->ref, c->value, 0, q->q->choose,
                                     q->q->choose_ctx, q->field, &q->refhit,
                                     &rw);
    if (err)
      return node_reason_set(why, err, "%s: %s", q->field, rw.text);
    q->is_ref = true;
    q->ref.type = CRDT_REF;
    q->ref.u.ref.coll = q->refhit.coll;
    q->ref.u.ref.coll_len = strlen(q->refhit.coll);
    memcpy(q->ref.u.ref.id, q->refhit.id, CRDT_ID_LEN);
    return GS_OK;
  }
  case NODE_F_TEXT:
  case NODE_F_TEXTS:
    if (order)
      goto badop;
    if (f->type == NODE_F_TEXT && strcmp(sc->name, "resident") == 0 &&
        strcmp(f->name, "building") == 0 &&
        (c->op == NODE_Q_EQ || c->op == NODE_Q_NE)) {
      /* "5", "5号楼": where the resident lives, by its own building text
       * or its household's building */
      gs_err err = node__households_in(n, c->value, &q->hids, &q->nh);
      if (err)
        return node_reason_set(why, err, "cannot read the store: %s",
                               gs_i18n_strerror(err));
      q->place = true;
      return GS_OK;
    }
    if (f->type == NODE_F_TEXT && strcmp(f->name, "phone") == 0 &&
        node_phone_norm(c->value, strlen(c->value), q->phonev,
                        sizeof q->phonev)) {
      q->phone = true;
      q->want = q->phonev;
    }
    return GS_OK;
  }
badop:
  return node_reason_set(why, GS_EINVAL, "%s%s...: a %s field cannot be "
                                         "compared that way",
                         q->field, op_text(c->op),
                         f->type == NODE_F_TEXT || f->type == NODE_F_TEXTS
                             ? "text"
                         : f->type == NODE_F_REF || f->type == NODE_F_REFS
                             ? "reference"
                             : "value");
}

static bool bytes_contain(const char *h, size_t hn, const char *nd, size_t nn)
{
  if (nn == 0)
    return true;
  for (size_t i = 0; i + nn <= hn; i++)
    if (memcmp(h + i, nd, nn) == 0)
      return true;
  return false;
}

/* Does one value v satisfy q? */
static bool value_matches(const qcond *q, const crdt_value *v)
{
  const char *want = q->want;
  size_t wn = strlen(want);
  node_qop op = q->c->op;
  int cmp;
  if (q->is_ref)
    return v->type == CRDT_REF && crdt_value_equal(v, &q->ref);
  if (q->numeric && (v->type == CRDT_INT || v->type == CRDT_FLOAT)) {
    double x = v->type == CRDT_INT ? (double)v->u.i : v->u.f;
    cmp = x < q->num ? -1 : x > q->num;
  } else if (v->type == CRDT_STR) {
    char ph[NODE_PHONE_MAX];
    crdt_value pv = *v;
    if (q->phone && node_phone_norm(v->u.s.p, v->u.s.n, ph, sizeof ph)) {
      pv.u.s.p = ph; /* a phone stored before it was kept without them */
      pv.u.s.n = strlen(ph);
      v = &pv;
    }
    if (op == NODE_Q_CONTAINS)
      return bytes_contain(v->u.s.p, v->u.s.n, want, wn);
    size_t m = v->u.s.n < wn ? v->u.s.n : wn;
    cmp = memcmp(v->u.s.p, want, m);
    if (cmp == 0)
      cmp = v->u.s.n < wn ? -1 : v->u.s.n > wn;
  } else if (v->type == CRDT_BOOL && q->f) {
    cmp = (v->u.b ? 1 : 0) - (want[0] == 't' ? 1 : 0);
  } else if (!q->f && v->type != CRDT_NIL) {
    /* free-form fields: the value as it is shown */
    char buf[CRDT_NAME_MAX + CRDT_ID_TEXT_LEN + 64];
    node_value_text(v, buf, sizeof buf);
    if (op == NODE_Q_CONTAINS)
      return strstr(buf, want) != NULL;
    cmp = strcmp(buf, want);
  } else {
    return false;
  }
  switch (op) {
  case NODE_Q_EQ:
    return cmp == 0;
  case NODE_Q_NE:
    return cmp != 0;
  case NODE_Q_LT:
    return cmp < 0;
  case NODE_Q_LE:
    return cmp <= 0;
  case NODE_Q_GT:
    return cmp > 0;
  case NODE_Q_GE:
    return cmp >= 0;
  case NODE_Q_CONTAINS:
    return false;
  }
  return false;
}

/* A resident's place (qcond.place): its building text names the place,
 * or its household is one of the place's. */
static bool place_matches(const crdt_record *r, const qcond *q)
{
  const char *p;
  size_t n;
  if (node__str_field(r, "building", &p, &n) &&
      node__building_is(p, n, q->c->value, strlen(q->c->value)))
    return true;
  long i = crdt_record_find(r, "household", 9);
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_REF)
    return false;
  for (size_t k = 0; k < q->nh; k++)
    if (memcmp(q->hids[k], fv.value.u.ref.id, CRDT_ID_LEN) == 0)
      return true;
  return false;
}

static bool record_matches(const crdt_record *r, const qcond *q)
{
  if (q->place)
    return place_matches(r, q) == (q->c->op == NODE_Q_EQ);
  long fi = crdt_record_find(r, q->field, strlen(q->field));
  crdt_field_view fv;
  if (fi < 0 || crdt_record_field(r, (size_t)fi, &fv) != GS_OK)
    return q->c->op == NODE_Q_NE;
  if (!fv.is_set) {
    if (fv.value.type == CRDT_NIL)
      return q->c->op == NODE_Q_NE;
    return value_matches(q, &fv.value);
  }
  /* a set: = holds it; != does not hold it; ~ one element contains */
  bool any = false;
  for (size_t j = 0; j < fv.nelems && !any; j++) {
    crdt_value ev;
    if (crdt_record_elem(r, (size_t)fi, j, &ev) != GS_OK)
      continue;
    qcond eq = *q;
    node_cond c = *q->c;
    if (c.op == NODE_Q_NE)
      c.op = NODE_Q_EQ;
    eq.c = &c;
    any = value_matches(&eq, &ev);
  }
  return q->c->op == NODE_Q_NE ? !any : any;
}

typedef struct qrun {
  const node_query *q;
  qcond *qc;
  node_record_cb cb;
  void *ctx;
  size_t matched, sent;
  bool stopped;
  bool hide_moved; /* a moved resident goes by the record continuing them */
} qrun;

static int on_query(void *vctx, const crdt_record *r)
{
  qrun *x = vctx;
  if (!x->q->deleted && crdt_record_deleted(r))
    return 0;
  const char *st;
  size_t stn;
  if (x->hide_moved && node__str_field(r, "status", &st, &stn) && stn == 5 &&
      memcmp(st, "moved", 5) == 0)
    return 0;
  for (size_t i = 0; i < x->q->nconds; i++)
    if (!record_matches(r, &x->qc[i]))
      return 0;
  size_t k = x->matched++;
  if (x->stopped || k < x->q->offset ||
      (x->q->limit && x->sent >= x->q->limit))
    return 0;
  x->sent++;
  if (x->cb(x->ctx, r))
    x->stopped = true;
  return 0;
}

static int on_any(void *ctx, const crdt_record *r)
{
  (void)r;
  *(bool *)ctx = true;
  return 1;
}

gs_err node_query_run(node *n, const node_query *q, node_record_cb cb,
                      void *ctx, size_t *matched, node_reason *why)
{
  const char *coll = q->coll;
  const char *prefix = q->prefix ? q->prefix : "";
  gs_err err;
  if ((err = node__coll_known(coll, true, why)) == GS_ESCHEMA) {
    /* not in the schema, yet held: records of a newer node's schema, or
     * the node's own membership records; listed as they are */
    bool any = false;
    gs_err le = store_list(n->st, coll, strlen(coll), NULL, 0, on_any, &any);
    if (le && le != GS_ENOTFOUND)
      return node_reason_set(why, le, "cannot read the store: %s",
                             gs_i18n_strerror(le));
    err = any ? GS_OK : err;
  }
  if (err)
    return err;
  if (*prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return node_reason_set(why, GS_EINVAL,
                           "bad scope '%s': up to %d segments of letters, "
                           "digits, '_', '.' or '-' joined by '/'",
                           prefix, CRDT_SCOPE_DEPTH);
  const node_coll *sc = node_schema_coll(coll, strlen(coll));
  qrun x = {.q = q, .cb = cb, .ctx = ctx};
  x.hide_moved = strcmp(coll, "resident") == 0 && !q->moved;
  for (size_t i = 0; i < q->nconds && x.hide_moved; i++)
    x.hide_moved = !(q->conds[i].field_len == 6 &&
                     memcmp(q->conds[i].field, "status", 6) == 0);
  if (q->nconds &&
      !(x.qc = calloc(q->nconds, sizeof *x.qc)))
    return node_reason_set(why, GS_ENOMEM, "out of memory");
  for (size_t i = 0; i < q->nconds; i++)
    x.qc[i].q = q;
  bool refused = false;
  err = GS_OK;
  for (size_t i = 0; i < q->nconds && !refused; i++)
    refused = (err = prepare(n, sc, &q->conds[i], &x.qc[i], why)) != GS_OK;
  if (!refused)
    err = store_list(n->st, coll, strlen(coll), prefix, strlen(prefix),
                     on_query, &x);
  for (size_t i = 0; i < q->nconds; i++)
    free(x.qc[i].hids);
  free(x.qc);
  if (refused)
    return err; /* why says it */
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (err)
    return node_reason_set(why, err, "cannot read the store: %s",
                           gs_i18n_strerror(err));
  if (matched)
    *matched = x.matched;
  return GS_OK;
}
