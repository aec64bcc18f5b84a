/*
 * Figures derived from the domain's records: time-bank balances and the
 * report offices publish (DESIGN.md section 8). Everything here reads;
 * nothing is stored. Balances are derived from immutable entries, so a
 * spend accepted on two nodes at once is never lost: it shows as a
 * negative balance, flagged for an admin.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/domain.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"
#include "node/member.h"
#include "node/report.h"

static bool eq(const char *a, size_t an, const char *b)
{
  return strlen(b) == an && memcmp(a, b, an) == 0;
}

/* The field name of r as a viewed value (register only), or false. */
static bool field(const crdt_record *r, const char *name, crdt_value *v)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set)
    return false;
  *v = fv.value;
  return v->type != CRDT_NIL;
}

static bool text(const crdt_record *r, const char *name, const char **p,
                 size_t *n)
{
  crdt_value v;
  if (!field(r, name, &v) || v.type != CRDT_STR)
    return false;
  *p = v.u.s.p;
  *n = v.u.s.n;
  return true;
}

static bool text_is(const crdt_record *r, const char *name, const char *want)
{
  const char *p;
  size_t n;
  return text(r, name, &p, &n) && eq(p, n, want);
}

/* Hours (int or float) in hundredths, rounded. */
static bool centihours(const crdt_record *r, int64_t *out)
{
  crdt_value v;
  if (!field(r, "hours", &v))
    return false;
  double h;
  if (v.type == CRDT_INT)
    h = (double)v.u.i;
  else if (v.type == CRDT_FLOAT)
    h = v.u.f;
  else
    return false;
  if (!(h > -1e7 && h < 1e7))
    return false;
  *out = (int64_t)llround(h * 100.0);
  return true;
}

/* A date "YYYY-MM-DD" (checked) to days since 1970-01-01. */
static long days_of(const char *t)
{
  return node_days_from_civil(strtol(t, NULL, 10), strtol(t + 5, NULL, 10),
                              strtol(t + 8, NULL, 10));
}

/* A date field of r, valid, into buf (11 bytes). */
static bool date(const crdt_record *r, const char *name, char buf[11])
{
  const char *p;
  size_t n;
  if (!text(r, name, &p, &n) || !node_date_valid(p, n))
    return false;
  memcpy(buf, p, 10);
  buf[10] = '\0';
  return true;
}

/* ---- time bank ---- */

typedef struct acct_ctx {
  node_balance *v;
  bool *in_scope; /* per account: has an entry under prefix */
  size_t n, cap;
  const char *coll; /* one person only, when set */
  const uint8_t *id;
  const uint8_t (*also)[CRDT_ID_LEN]; /* the records id continues */
  size_t nalso;
  const char *prefix; /* accounts with an entry under it are listed */
  gs_err err;
} acct_ctx;

static int cmp_balance(const void *a, const void *b)
{
  const node_balance *x = a, *y = b;
  int c = strcmp(x->coll, y->coll);
  return c ? c : memcmp(x->id, y->id, CRDT_ID_LEN);
}

static node_balance *account(acct_ctx *a, const crdt_value *person)
{
  for (size_t i = 0; i < a->n; i++)
    if (eq(person->u.ref.coll, person->u.ref.coll_len, a->v[i].coll) &&
        memcmp(a->v[i].id, person->u.ref.id, CRDT_ID_LEN) == 0)
      return &a->v[i];
  if (person->u.ref.coll_len > CRDT_NAME_MAX)
    return NULL;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    node_balance *v = realloc(a->v, cap * sizeof *v);
    if (!v) {
      a->err = GS_ENOMEM;
      return NULL;
    }
    a->v = v;
    bool *in = realloc(a->in_scope, cap * sizeof *in);
    if (!in) {
      a->err = GS_ENOMEM;
      return NULL;
    }
    a->in_scope = in;
    a->cap = cap;
  }
  a->in_scope[a->n] = false;
  node_balance *b = &a->v[a->n++];
  memset(b, 0, sizeof *b);
  memcpy(b->coll, person->u.ref.coll, person->u.ref.coll_len);
  memcpy(b->id, person->u.ref.id, CRDT_ID_LEN);
  return b;
}

static int on_entry(void *vctx, const crdt_record *r)
{
  acct_ctx *a = vctx;
  crdt_value person;
  const char *kind;
  size_t kn;
  int64_t ch;
  if (crdt_record_deleted(r) || !field(r, "person", &person) ||
      person.type != CRDT_REF || !text(r, "kind", &kind, &kn) ||
      !centihours(r, &ch))
    return 0;
  if (a->coll) {
    if (!eq(person.u.ref.coll, person.u.ref.coll_len, a->coll))
      return 0;
    bool mine = memcmp(person.u.ref.id, a->id, CRDT_ID_LEN) == 0;
    for (size_t i = 0; i < a->nalso && !mine; i++)
      mine = memcmp(person.u.ref.id, a->also[i], CRDT_ID_LEN) == 0;
    if (!mine)
      return 0;
    memcpy(person.u.ref.id, a->id, CRDT_ID_LEN); /* one account */
  }
  node_balance *b = account(a, &person);
  if (!b)
    return a->err ? 1 : 0;
  if (a->prefix) {
    const char *scope, *coll;
    size_t sn, cn;
    uint8_t id[CRDT_ID_LEN];
    crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
    if (crdt_scope_under(scope, sn, a->prefix, strlen(a->prefix)))
      a->in_scope[b - a->v] = true;
  }
  if (eq(kind, kn, "deposit"))
    b->deposits += ch;
  else if (eq(kind, kn, "spend"))
    b->spends += ch;
  else if (eq(kind, kn, "adjust"))
    b->adjusts += ch;
  else
    return 0;
  b->balance = b->deposits - b->spends + b->adjusts;
  b->entries++;
  return 0;
}

gs_err node_timebank_balances(node *n, const char *prefix,
                              node_balance **out, size_t *count)
{
  acct_ctx a = {.prefix = prefix && *prefix ? prefix : NULL};
  *out = NULL;
  *count = 0;
  /* every entry counts toward its account; the prefix only chooses which
   * accounts are listed */
  gs_err err = store_list(n->st, "timebank", 8, NULL, 0, on_entry,
                          &a);
  if (!err)
    err = a.err;
  if (err) {
    free(a.v);
    free(a.in_scope);
    return err;
  }
  if (a.prefix) {
    size_t k = 0;
    for (size_t i = 0; i < a.n; i++)
      if (a.in_scope[i])
        a.v[k++] = a.v[i];
    a.n = k;
  }
  free(a.in_scope);
  if (a.n)
    qsort(a.v, a.n, sizeof *a.v, cmp_balance);
  else {
    free(a.v);
    a.v = NULL;
  }
  *out = a.v;
  *count = a.n;
  return GS_OK;
}

/* The resident a record continues (moved_from), into a REF value whose
 * id is copied (the rest is not kept). */
static int on_moved_from(void *ctx, const crdt_record *r)
{
  crdt_value *out = ctx, v;
  if (field(r, "moved_from", &v) && v.type == CRDT_REF &&
      eq(v.u.ref.coll, v.u.ref.coll_len, "resident")) {
    out->type = CRDT_REF;
    memcpy(out->u.ref.id, v.u.ref.id, CRDT_ID_LEN);
  }
  return 1;
}

gs_err node_timebank_balance(node *n, const char *coll,
                             const uint8_t id[CRDT_ID_LEN], node_balance *out)
{
  /* a resident who moved here keeps the hours of the records before */
  uint8_t also[16][CRDT_ID_LEN];
  size_t nalso = 0;
  const uint8_t *cur = id;
  while (strcmp(coll, "resident") == 0 && nalso < 16) {
    crdt_value from = {.type = CRDT_NIL};
    if (store_get(n->st, "resident", 8, cur, on_moved_from, &from) != GS_OK ||
        from.type != CRDT_REF)
      break;
    bool seen = memcmp(from.u.ref.id, id, CRDT_ID_LEN) == 0;
    for (size_t i = 0; i < nalso && !seen; i++)
      seen = memcmp(also[i], from.u.ref.id, CRDT_ID_LEN) == 0;
    if (seen)
      break; /* a loop of links: stop */
    memcpy(also[nalso], from.u.ref.id, CRDT_ID_LEN);
    cur = also[nalso++];
  }
  acct_ctx a = {.coll = coll, .id = id, .also = (const uint8_t(*)[CRDT_ID_LEN])also,
                .nalso = nalso};
  gs_err err = store_list(n->st, "timebank", 8, NULL, 0, on_entry,
                          &a);
  if (!err)
    err = a.err;
  memset(out, 0, sizeof *out);
  if (!err && a.n == 1)
    *out = a.v[0];
  else if (!err) {
    snprintf(out->coll, sizeof out->coll, "%s", coll);
    memcpy(out->id, id, CRDT_ID_LEN);
  }
  free(a.v);
  free(a.in_scope);
  return err;
}

void node_hours_text(int64_t centi, char *buf, size_t cap)
{
  int64_t a = centi < 0 ? -centi : centi;
  const char *sign = centi < 0 ? "-" : "";
  if (a % 100 == 0)
    snprintf(buf, cap, "%s%" PRId64, sign, a / 100);
  else if (a % 10 == 0)
    snprintf(buf, cap, "%s%" PRId64 ".%" PRId64, sign, a / 100,
             (a % 100) / 10);
  else
    snprintf(buf, cap, "%s%" PRId64 ".%02" PRId64, sign, a / 100, a % 100);
}

gs_err node_timebank_batch_add(node_timebank_batch *b, const crdt_op *ops,
                               size_t nops)
{
  const crdt_value *person = NULL, *kind = NULL, *hours = NULL;
  for (size_t i = 0; i < nops; i++) {
    const crdt_op *op = &ops[i];
    if (op->kind != CRDT_OP_SET || !eq(op->coll, op->coll_len, "timebank"))
      continue;
    if (eq(op->field, op->field_len, "person"))
      person = &op->value;
    else if (eq(op->field, op->field_len, "kind"))
      kind = &op->value;
    else if (eq(op->field, op->field_len, "hours"))
      hours = &op->value;
  }
  if (!person || !kind || !hours || person->type != CRDT_REF ||
      kind->type != CRDT_STR)
    return GS_OK;
  double h = hours->type == CRDT_INT ? (double)hours->u.i
             : hours->type == CRDT_FLOAT ? hours->u.f
                                         : 0;
  int64_t ch = (int64_t)llround(h * 100.0);
  if (eq(kind->u.s.p, kind->u.s.n, "spend"))
    ch = -ch;
  else if (!eq(kind->u.s.p, kind->u.s.n, "adjust") &&
           !eq(kind->u.s.p, kind->u.s.n, "deposit"))
    return GS_OK;
  acct_ctx a = {.v = b->v, .n = b->n, .cap = b->cap};
  a.in_scope = calloc(a.cap ? a.cap : 1, sizeof *a.in_scope);
  if (!a.in_scope)
    return GS_ENOMEM;
  node_balance *acct = account(&a, person);
  free(a.in_scope);
  b->v = a.v, b->n = a.n, b->cap = a.cap;
  if (!acct)
    return a.err ? a.err : GS_OK;
  acct->balance += ch;
  acct->entries++;
  return GS_OK;
}

/* The name field of (coll, id), if held, into buf. */
static int on_name(void *ctx, const crdt_record *r)
{
  char *buf = ctx;
  const char *p;
  size_t n;
  if (text(r, "name", &p, &n))
    snprintf(buf, 64, "%.*s", (int)(n < 60 ? n : 60), p);
  return 1;
}

gs_err node_timebank_check_batch(node *n, const node_timebank_batch *b,
                                 char *why, size_t whylen)
{
  for (size_t i = 0; i < b->n; i++) {
    const node_balance *d = &b->v[i];
    if (d->balance >= 0)
      continue;
    node_balance held;
    gs_err err = node_timebank_balance(n, d->coll, d->id, &held);
    if (err)
      return err;
    if (held.balance + d->balance >= 0)
      continue;
    char name[64] = "", have[32], want[32];
    store_get(n->st, d->coll, strlen(d->coll), d->id, on_name, name);
    if (!name[0]) {
      char idt[CRDT_ID_TEXT_LEN + 1];
      crdt_base32_encode(d->id, CRDT_ID_LEN, idt);
      snprintf(name, sizeof name, "%s/%s", d->coll, idt);
    }
    node_hours_text(held.balance, have, sizeof have);
    node_hours_text(-d->balance, want, sizeof want);
    snprintf(why, whylen, _("%s has %s h; spending %s h would overdraw the "
                          "account"),
             name, have, want);
    return GS_ESCHEMA;
  }
  return GS_OK;
}

void node_timebank_batch_free(node_timebank_batch *b)
{
  if (!b)
    return;
  free(b->v);
  memset(b, 0, sizeof *b);
}

/* ---- the report ---- */

static const char *const *schema_values(const char *coll, const char *f)
{
  const node_coll *c = node_schema_coll(coll, strlen(coll));
  const node_field *fd = c ? node_schema_field(c, f, strlen(f)) : NULL;
  return fd ? fd->values : NULL;
}

const char *const *node_report_statuses(void)
{
  return schema_values("appeal", "status");
}

const char *const *node_report_categories(void)
{
  return schema_values("appeal", "category");
}

static int value_index(const char *const *values, const char *p, size_t n)
{
  for (int i = 0; values && values[i] && i < NODE_REPORT_VALUES; i++)
    if (eq(p, n, values[i]))
      return i;
  return -1;
}

typedef struct days {
  long *v;
  size_t n, cap;
} days;

/* What the pass keeps for the figures that join records: visits and
 * their corrections, deposits and theirs, safety appeals naming a
 * visit. Rows are kept by index (the row array moves as it grows). */
typedef struct rvisit {
  uint8_t id[CRDT_ID_LEN], target[CRDT_ID_LEN];
  bool corr, hazard, in_period;
  size_t row;
  long latest; /* index of its latest correction, -1: none */
} rvisit;

typedef struct rdeposit {
  uint8_t id[CRDT_ID_LEN];
  size_t row;
  bool in_period;
} rdeposit;

typedef struct rlink {
  uint8_t target[CRDT_ID_LEN];
  size_t row;
  int64_t centi;
} rlink;

typedef struct report_ctx {
  const char *since, *until; /* NULL: open */
  node_report_row *rows;
  days *days; /* per row */
  size_t n, cap;
  size_t last; /* the row used last */
  days all;
  rvisit *visits;
  size_t nvisits, cvisits;
  rdeposit *deposits;
  size_t ndeposits, cdeposits;
  rlink *corrections, *safety; /* time-bank corrections; appeals */
  size_t ncorr, ccorr, nsafety, csafety;
  gs_err err;
} report_ctx;

static bool in_period(const report_ctx *c, const char d[11])
{
  return (!c->since || strcmp(d, c->since) >= 0) &&
         (!c->until || strcmp(d, c->until) <= 0);
}

/* A month "YYYY-MM" in the period: it overlaps it. */
static bool month_in_period(const report_ctx *c, const char *m, size_t n)
{
  if (n != 7)
    return false;
  return (!c->since || memcmp(m, c->since, 7) >= 0) &&
         (!c->until || memcmp(m, c->until, 7) <= 0);
}

static bool days_add(days *d, long v)
{
  if (crdt_grow((void **)&d->v, &d->cap, d->n + 1, sizeof *d->v) != GS_OK)
    return false;
  d->v[d->n++] = v;
  return true;
}

static int cmp_long(const void *a, const void *b)
{
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static double median(days *d)
{
  if (d->n == 0)
    return -1;
  qsort(d->v, d->n, sizeof *d->v, cmp_long);
  if (d->n % 2)
    return (double)d->v[d->n / 2];
  return ((double)d->v[d->n / 2 - 1] + (double)d->v[d->n / 2]) / 2.0;
}

/* The row of the grid holding scope: its first three segments. */
static node_report_row *row_of(report_ctx *c, const char *scope, size_t sn)
{
  size_t k = 0, segs = 0;
  while (k < sn) {
    if (scope[k] == '/' && ++segs == 3)
      break;
    k++;
  }
  if (c->n && c->last < c->n && eq(scope, k, c->rows[c->last].grid))
    return &c->rows[c->last];
  for (size_t i = 0; i < c->n; i++)
    if (eq(scope, k, c->rows[i].grid)) {
      c->last = i;
      return &c->rows[i];
    }
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    node_report_row *r = realloc(c->rows, cap * sizeof *r);
    if (!r)
      return NULL;
    c->rows = r;
    days *d = realloc(c->days, cap * sizeof *d);
    if (!d)
      return NULL;
    c->days = d;
    c->cap = cap;
  }
  node_report_row *r = &c->rows[c->n];
  memset(r, 0, sizeof *r);
  memcpy(r->grid, scope, k);
  memset(&c->days[c->n], 0, sizeof c->days[c->n]);
  c->last = c->n++;
  return r;
}

/* The reference field name of r to a record of coll, into id. */
static bool ref_to(const crdt_record *r, const char *name, const char *coll,
                   uint8_t id[CRDT_ID_LEN])
{
  crdt_value v;
  if (!field(r, name, &v) || v.type != CRDT_REF ||
      !eq(v.u.ref.coll, v.u.ref.coll_len, coll))
    return false;
  memcpy(id, v.u.ref.id, CRDT_ID_LEN);
  return true;
}

/* true when the set field name of r holds one of want (NULL-ended). */
static bool set_holds(const crdt_record *r, const char *name,
                      const char *const *want)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || !fv.is_set)
    return false;
  for (size_t j = 0; j < fv.nelems; j++) {
    crdt_value v;
    if (crdt_record_elem(r, (size_t)i, j, &v) != GS_OK || v.type != CRDT_STR)
      continue;
    for (const char *const *w = want; *w; w++)
      if (eq(v.u.s.p, v.u.s.n, *w))
        return true;
  }
  return false;
}

static void on_appeal(report_ctx *c, node_report_row *row, days *d,
                      const crdt_record *r)
{
  char opened[11], resolved[11];
  const char *st = "", *cat = "";
  size_t stn = 0, catn = 0;
  bool has_opened = date(r, "opened", opened);
  bool has_st = text(r, "status", &st, &stn);
  bool has_cat = text(r, "category", &cat, &catn);
  bool wish = has_cat && eq(cat, catn, "micro-wish");
  if (has_opened && in_period(c, opened)) {
    row->appeals++;
    int i = has_st ? value_index(node_report_statuses(), st, stn) : -1;
    if (i >= 0)
      row->by_status[i]++;
    i = has_cat ? value_index(node_report_categories(), cat, catn) : -1;
    if (i >= 0)
      row->by_category[i]++;
    if (wish)
      row->wishes++;
    if (has_cat && eq(cat, catn, "safety")) {
      rlink l = {.row = (size_t)(row - c->rows)};
      if (!ref_to(r, "visit", "visit", l.target))
        row->hazards_found++;
      else if (crdt_grow((void **)&c->safety, &c->csafety, c->nsafety + 1,
                         sizeof *c->safety) != GS_OK)
        c->err = GS_ENOMEM;
      else
        c->safety[c->nsafety++] = l; /* counted unless its visit is */
    }
  }
  bool done = has_st && (eq(st, stn, "resolved") || eq(st, stn, "closed"));
  if (done && date(r, "resolved", resolved) && in_period(c, resolved)) {
    row->resolved++;
    if (wish)
      row->wishes_fulfilled++;
    if (has_cat && eq(cat, catn, "dispute"))
      row->disputes_mediated++;
    if (has_opened) {
      long dd = days_of(resolved) - days_of(opened);
      if (dd >= 0 && (!days_add(d, dd) || !days_add(&c->all, dd)))
        c->err = GS_ENOMEM;
    }
  }
}

static void on_visit(report_ctx *c, size_t row, const crdt_record *r,
                     const uint8_t id[CRDT_ID_LEN])
{
  static const char *const hazards[] = {"hazard", "fire-hazard", NULL};
  char dt[11];
  if (!date(r, "date", dt))
    return;
  if (crdt_grow((void **)&c->visits, &c->cvisits, c->nvisits + 1,
                sizeof *c->visits) != GS_OK) {
    c->err = GS_ENOMEM;
    return;
  }
  rvisit *v = &c->visits[c->nvisits++];
  memset(v, 0, sizeof *v);
  memcpy(v->id, id, CRDT_ID_LEN);
  v->corr = ref_to(r, "corrects", "visit", v->target);
  v->hazard = set_holds(r, "findings", hazards);
  v->in_period = in_period(c, dt);
  v->row = row;
  v->latest = -1;
}

static void on_timebank(report_ctx *c, node_report_row *row,
                        const crdt_record *r, const uint8_t id[CRDT_ID_LEN])
{
  char dt[11];
  int64_t ch;
  if (!date(r, "date", dt) || !centihours(r, &ch))
    return;
  size_t ri = (size_t)(row - c->rows);
  if (text_is(r, "kind", "deposit")) {
    bool in = in_period(c, dt);
    if (in) {
      row->volunteer_centihours += ch;
      if (text_is(r, "service", "errand"))
        row->errands_done++;
    }
    if (crdt_grow((void **)&c->deposits, &c->cdeposits, c->ndeposits + 1,
                  sizeof *c->deposits) != GS_OK) {
      c->err = GS_ENOMEM;
      return;
    }
    rdeposit *d = &c->deposits[c->ndeposits++];
    memcpy(d->id, id, CRDT_ID_LEN);
    d->row = ri;
    d->in_period = in;
  } else if (text_is(r, "kind", "adjust")) {
    rlink l = {.row = ri, .centi = ch};
    if (!ref_to(r, "corrects", "timebank", l.target))
      return; /* a balance adjustment, no published hours */
    if (crdt_grow((void **)&c->corrections, &c->ccorr, c->ncorr + 1,
                  sizeof *c->corrections) != GS_OK) {
      c->err = GS_ENOMEM;
      return;
    }
    c->corrections[c->ncorr++] = l;
  }
}

/* An activity's count (none, or below 1: one). */
static uint64_t count_of(const crdt_record *r)
{
  crdt_value v;
  if (field(r, "count", &v) && v.type == CRDT_INT && v.u.i >= 0 &&
      v.u.i <= 100000)
    return (uint64_t)v.u.i;
  return 1;
}

static void on_activity(report_ctx *c, node_report_row *row,
                        const crdt_record *r)
{
  char dt[11];
  if (!date(r, "date", dt) || !in_period(c, dt))
    return;
  uint64_t k = count_of(r);
  if (text_is(r, "kind", "lecture")) {
    row->lectures++;
    row->attendance += k;
  } else if (text_is(r, "kind", "activity")) {
    row->activities++;
    row->attendance += k;
  } else if (text_is(r, "kind", "errand"))
    row->staff_errands += k;
  else if (text_is(r, "kind", "theft-stopped"))
    row->thefts_stopped += k;
  else if (text_is(r, "kind", "fight-stopped"))
    row->fights_stopped += k;
}

static int on_record(void *vctx, const crdt_record *r)
{
  report_ctx *c = vctx;
  if (crdt_record_deleted(r))
    return 0;
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  if (sn && scope[0] == '_')
    return 0; /* the node's own records (membership) */
  node_report_row *row = row_of(c, scope, sn);
  if (!row) {
    c->err = GS_ENOMEM;
    return 1;
  }
  days *d = &c->days[row - c->rows];
  char dt[11];
  const char *m;
  size_t mn;
  if (eq(coll, cn, "appeal"))
    on_appeal(c, row, d, r);
  else if (eq(coll, cn, "visit")) {
    on_visit(c, (size_t)(row - c->rows), r, id);
  } else if (eq(coll, cn, "meeting")) {
    if (date(r, "date", dt) && in_period(c, dt))
      row->meetings++;
  } else if (eq(coll, cn, "task")) {
    if (text_is(r, "status", "done") && date(r, "done", dt) &&
        in_period(c, dt))
      row->tasks_done++;
  } else if (eq(coll, cn, "timebank")) {
    on_timebank(c, row, r, id);
  } else if (eq(coll, cn, "activity")) {
    on_activity(c, row, r);
  } else if (eq(coll, cn, "party_report")) {
    if (text(r, "month", &m, &mn) && month_in_period(c, m, mn))
      row->party_reports++;
  } else if (eq(coll, cn, "resident")) {
    if (!node_resident_gone(r))
      row->residents++;
  } else if (eq(coll, cn, "household")) {
    row->households++;
  } else if (eq(coll, cn, "building")) {
    row->buildings++;
  }
  return c->err ? 1 : 0;
}

static int cmp_visit(const void *a, const void *b)
{
  return memcmp(((const rvisit *)a)->id, ((const rvisit *)b)->id,
                CRDT_ID_LEN);
}

static int cmp_deposit(const void *a, const void *b)
{
  return memcmp(((const rdeposit *)a)->id, ((const rdeposit *)b)->id,
                CRDT_ID_LEN);
}

static rvisit *find_visit(report_ctx *c, const uint8_t id[CRDT_ID_LEN])
{
  rvisit key;
  memcpy(key.id, id, CRDT_ID_LEN);
  return c->nvisits ? bsearch(&key, c->visits, c->nvisits, sizeof key,
                              cmp_visit)
                    : NULL;
}

/* The figures that join records, after the pass. */
static void join_figures(report_ctx *c)
{
  if (c->nvisits)
    qsort(c->visits, c->nvisits, sizeof *c->visits, cmp_visit);
  /* a visit's latest correction (ids grow with time) gives its findings;
   * a correction of a visit not held counts nowhere */
  for (size_t i = 0; i < c->nvisits; i++) {
    rvisit *v = &c->visits[i];
    if (!v->corr)
      continue;
    rvisit *t = find_visit(c, v->target);
    /* only its author corrects a visit (received changes are not checked
     * against the schema: the ids, which name their authors, decide) */
    if (!t || t->corr ||
        memcmp(t->id + CRDT_ID_LEN - CRDT_ID_OWNER_LEN,
               v->id + CRDT_ID_LEN - CRDT_ID_OWNER_LEN,
               CRDT_ID_OWNER_LEN) != 0)
      continue;
    if (t->latest < 0 || memcmp(c->visits[t->latest].id, v->id,
                                CRDT_ID_LEN) < 0)
      t->latest = (long)i;
    c->rows[t->row].visit_corrections += t->in_period ? 1 : 0;
  }
  for (size_t i = 0; i < c->nvisits; i++) {
    rvisit *v = &c->visits[i];
    if (v->corr || !v->in_period)
      continue;
    node_report_row *row = &c->rows[v->row];
    row->visits++;
    bool hazard = v->latest >= 0 ? c->visits[v->latest].hazard : v->hazard;
    v->hazard = hazard; /* as counted, for the appeals below */
    if (hazard) {
      row->hazards_found++;
      row->visit_hazards++;
    }
  }
  for (size_t i = 0; i < c->nsafety; i++) {
    rvisit *v = find_visit(c, c->safety[i].target);
    if (!(v && !v->corr && v->in_period && v->hazard))
      c->rows[c->safety[i].row].hazards_found++;
  }
  if (c->ndeposits)
    qsort(c->deposits, c->ndeposits, sizeof *c->deposits, cmp_deposit);
  for (size_t i = 0; i < c->ncorr; i++) {
    rdeposit key, *d;
    memcpy(key.id, c->corrections[i].target, CRDT_ID_LEN);
    d = c->ndeposits ? bsearch(&key, c->deposits, c->ndeposits, sizeof key,
                               cmp_deposit)
                     : NULL;
    if (!d || !d->in_period)
      continue; /* a spend's correction, or another period's deposit */
    c->rows[d->row].volunteer_centihours += c->corrections[i].centi;
    c->rows[d->row].corrected_centihours += c->corrections[i].centi;
  }
}

static void add_row(node_report_row *t, const node_report_row *r)
{
  t->appeals += r->appeals;
  for (int i = 0; i < NODE_REPORT_VALUES; i++) {
    t->by_status[i] += r->by_status[i];
    t->by_category[i] += r->by_category[i];
  }
  t->resolved += r->resolved;
  t->disputes_mediated += r->disputes_mediated;
  t->hazards_found += r->hazards_found;
  t->visits += r->visits;
  t->meetings += r->meetings;
  t->tasks_done += r->tasks_done;
  t->errands_done += r->errands_done;
  t->volunteer_centihours += r->volunteer_centihours;
  t->residents += r->residents;
  t->households += r->households;
  t->buildings += r->buildings;
  t->wishes += r->wishes;
  t->wishes_fulfilled += r->wishes_fulfilled;
  t->visit_hazards += r->visit_hazards;
  t->visit_corrections += r->visit_corrections;
  t->corrected_centihours += r->corrected_centihours;
  t->lectures += r->lectures;
  t->activities += r->activities;
  t->attendance += r->attendance;
  t->staff_errands += r->staff_errands;
  t->thefts_stopped += r->thefts_stopped;
  t->fights_stopped += r->fights_stopped;
  t->party_reports += r->party_reports;
}

static int cmp_row(const void *a, const void *b)
{
  return strcmp(((const node_report_row *)a)->grid,
                ((const node_report_row *)b)->grid);
}

gs_err node_report_make(node *n, const char *prefix, const char *since,
                        node_report *out)
{
  return node_report_make_period(n, prefix, since, NULL, out);
}

static bool period_of(const char *text, size_t len, char since[11],
                      char until[11])
{
  static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
  if (strlen(text) != len || strspn(text, "0123456789-") != len)
    return false;
  long y = strtol(text, NULL, 10);
  if (y < 1900 || y > 2199 || (len == 7 && text[4] != '-') ||
      (len == 4 && strchr(text, '-')))
    return false;
  if (len == 4) {
    snprintf(since, 11, "%04ld-01-01", y);
    snprintf(until, 11, "%04ld-12-31", y);
    return true;
  }
  long m = strtol(text + 5, NULL, 10);
  if (m < 1 || m > 12 || !(text[5] >= '0' && text[5] <= '9' &&
                           text[6] >= '0' && text[6] <= '9'))
    return false;
  int last = mdays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    last = 29;
  snprintf(since, 11, "%04ld-%02ld-01", y, m);
  snprintf(until, 11, "%04ld-%02ld-%02d", y, m, last);
  return true;
}

bool node_report_year(const char *text, char since[11], char until[11])
{
  return period_of(text, 4, since, until);
}

bool node_report_month(const char *text, char since[11], char until[11])
{
  return period_of(text, 7, since, until);
}

gs_err node_report_make_period(node *n, const char *prefix, const char *since,
                               const char *until, node_report *out)
{
  memset(out, 0, sizeof *out);
  if ((since && !node_date_valid(since, strlen(since))) ||
      (until && !node_date_valid(until, strlen(until))) ||
      (since && until && strcmp(since, until) > 0))
    return GS_EINVAL;
  report_ctx c = {.since = since, .until = until};
  gs_err err = store_list(n->st, NULL, 0, prefix,
                          prefix ? strlen(prefix) : 0, on_record, &c);
  if (!err)
    err = c.err;
  if (!err)
    join_figures(&c);
  free(c.visits);
  free(c.deposits);
  free(c.corrections);
  free(c.safety);
  for (size_t i = 0; i < c.n; i++) {
    if (!err) {
      c.rows[i].median_days = median(&c.days[i]);
      add_row(&out->total, &c.rows[i]);
    }
    free(c.days[i].v);
  }
  free(c.days);
  out->total.median_days = median(&c.all);
  free(c.all.v);
  if (err) {
    free(c.rows);
    memset(out, 0, sizeof *out);
    return err;
  }
  /* rows where nothing counted (a scope of only units, say) are left out */
  size_t kept = 0;
  for (size_t i = 0; i < c.n; i++) {
    node_report_row z;
    memset(&z, 0, sizeof z);
    memcpy(z.grid, c.rows[i].grid, sizeof z.grid);
    z.median_days = c.rows[i].median_days;
    if (memcmp(&z, &c.rows[i], sizeof z) != 0)
      c.rows[kept++] = c.rows[i];
  }
  c.n = kept;
  if (c.n)
    qsort(c.rows, c.n, sizeof *c.rows, cmp_row);
  out->rows = c.rows;
  out->nrows = c.n;

  node_balance *b = NULL;
  size_t nb = 0;
  if ((err = node_timebank_balances(n, prefix, &b, &nb)) != GS_OK) {
    node_report_free(out);
    return err;
  }
  size_t k = 0;
  for (size_t i = 0; i < nb; i++)
    if (b[i].balance < 0)
      b[k++] = b[i];
  if (k == 0) {
    free(b);
    b = NULL;
  }
  out->overdrawn = b;
  out->noverdrawn = k;
  out->nwarnings = node_membership_warnings(n, out->warnings, 4);
  return GS_OK;
}

void node_report_free(node_report *r)
{
  if (!r)
    return;
  free(r->rows);
  free(r->overdrawn);
  memset(r, 0, sizeof *r);
}
