/*
 * Questions volunteers ask (node/domain.h): households not visited
 * lately, a building's contact sheet.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/gs_i18n.h"
#include "node/address.h"
#include "node/domain.h"
#include "node/node_internal.h"
#include "node/schema.h"
#include "storage/store.h"


/* Append s to buf (cap bytes) when it fits whole; true when it did. */
static bool append(char *buf, size_t cap, const char *s)
{
  size_t len = strlen(buf), k = strlen(s);
  if (len + k + 1 > cap)
    return false;
  memcpy(buf + len, s, k + 1);
  return true;
}

static void text_of(const crdt_record *r, const char *name, char *buf,
                    size_t cap)
{
  const char *p;
  size_t n;
  buf[0] = '\0';
  if (node__str_field(r, name, &p, &n))
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

/* ---- households and the residents who live in them ---- */

typedef struct hrow {
  uint8_t id[CRDT_ID_LEN];
  uint8_t bid[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  char unit[32], room[64], phone[NODE_PHONE_MAX];
  char last[11]; /* last visit, "" when never */
} hrow;

typedef struct hrows {
  hrow *v;
  size_t n, cap;
  const char *prefix;
  const uint8_t *bid; /* only this building's, when set */
  gs_err err;
} hrows;

static int on_house(void *ctx, const crdt_record *r)
{
  hrows *h = ctx;
  uint8_t bid[CRDT_ID_LEN];
  if (crdt_record_deleted(r) || !node__ref_field(r, "building", "building", bid) ||
      (h->bid && memcmp(bid, h->bid, CRDT_ID_LEN) != 0))
    return 0;
  if (h->n >= NODE_QUESTION_ROWS_MAX)
    return 1;
  if (crdt_grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v)) {
    h->err = GS_ENOMEM;
    return 1;
  }
  hrow *x = &h->v[h->n++];
  memset(x, 0, sizeof *x);
  const char *s, *c;
  size_t sn, cn;
  crdt_record_identity(r, &s, &sn, &c, &cn, x->id);
  snprintf(x->scope, sizeof x->scope, "%.*s", (int)sn, s);
  memcpy(x->bid, bid, CRDT_ID_LEN);
  text_of(r, "unit", x->unit, sizeof x->unit);
  text_of(r, "room", x->room, sizeof x->room);
  text_of(r, "phone", x->phone, sizeof x->phone);
  return 0;
}

static hrow *house(hrows *h, const uint8_t id[CRDT_ID_LEN])
{
  for (size_t i = 0; i < h->n; i++)
    if (memcmp(h->v[i].id, id, CRDT_ID_LEN) == 0)
      return &h->v[i];
  return NULL;
}

/* Residents: (id, household) pairs, for visits that name a resident. */
typedef struct rrow {
  uint8_t id[CRDT_ID_LEN], hid[CRDT_ID_LEN];
} rrow;

typedef struct rrows {
  rrow *v;
  size_t n, cap;
  gs_err err;
} rrows;

static int on_res(void *ctx, const crdt_record *r)
{
  rrows *x = ctx;
  uint8_t hid[CRDT_ID_LEN];
  if (!node__ref_field(r, "household", "household", hid))
    return 0;
  if (x->n >= NODE_QUESTION_ROWS_MAX * 8)
    return 1;
  if (crdt_grow((void **)&x->v, &x->cap, x->n + 1, sizeof *x->v)) {
    x->err = GS_ENOMEM;
    return 1;
  }
  const char *s, *c;
  size_t sn, cn;
  crdt_record_identity(r, &s, &sn, &c, &cn, x->v[x->n].id);
  memcpy(x->v[x->n].hid, hid, CRDT_ID_LEN);
  x->n++;
  return 0;
}

typedef struct vctx {
  hrows *h;
  const rrows *r;
} vctx;

static int on_visit(void *ctx, const crdt_record *r)
{
  vctx *v = ctx;
  const char *d;
  size_t dn;
  uint8_t id[CRDT_ID_LEN];
  if (crdt_record_deleted(r) || !node__str_field(r, "date", &d, &dn) ||
      !node_date_valid(d, dn))
    return 0;
  hrow *x = NULL;
  if (node__ref_field(r, "household", "household", id))
    x = house(v->h, id);
  if (!x && node__ref_field(r, "resident", "resident", id))
    for (size_t i = 0; i < v->r->n && !x; i++)
      if (memcmp(v->r->v[i].id, id, CRDT_ID_LEN) == 0)
        x = house(v->h, v->r->v[i].hid);
  if (x && memcmp(d, x->last, 10) > 0) {
    memcpy(x->last, d, 10);
    x->last[10] = '\0';
  }
  return 0;
}

static long days_of(const char *t)
{
  return node_days_from_civil(strtol(t, NULL, 10), strtol(t + 5, NULL, 10),
                              strtol(t + 8, NULL, 10));
}

typedef struct sorted {
  hrow *row;
  char building[NODE_HIT_NAME_MAX];
} sorted;

/* By building name (numbers in order), stairwell, room. */
static int cmp_num_text(const char *a, const char *b)
{
  long x = strtol(a, NULL, 10), y = strtol(b, NULL, 10);
  if (x != y)
    return x < y ? -1 : 1;
  return strcmp(a, b);
}

static int cmp_sorted(const void *pa, const void *pb)
{
  const sorted *a = pa, *b = pb;
  int k = cmp_num_text(a->building, b->building);
  if (!k)
    k = cmp_num_text(a->row->unit, b->row->unit);
  if (!k)
    k = cmp_num_text(a->row->room, b->row->room);
  return k;
}

gs_err node_unvisited(node *n, const char *prefix, const char *building,
                      int days, node_unvisited_cb cb, void *ctx,
                      node_reason *why)
{
  hrows h = {.prefix = prefix};
  rrows rs = {0};
  sorted *order = NULL;
  node_hit b;
  gs_err err;
  if (days < 1 || days > 3660)
    return node_reason_set(why, GS_EINVAL,
                           "--days takes a number of days from 1 to 3660");
  if (prefix && *prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return node_reason_set(why, GS_EINVAL, "bad scope '%s'", prefix);
  if (building && *building) {
    node_reason rw;
    if ((err = node_resolve(n, "building", building, 0, &b, NULL, &rw)))
      return node_reason_set(why, err, "%s", rw.text);
    h.bid = b.id;
  }
  const char *pre = prefix ? prefix : "";
  err = store_list(n->st, "household", 9, pre, strlen(pre), on_house, &h);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = h.err;
  if (!err)
    err = store_list(n->st, "resident", 8, NULL, 0, on_res, &rs);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = rs.err;
  vctx v = {&h, &rs};
  if (!err)
    err = store_list(n->st, "visit", 5, NULL, 0, on_visit, &v);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (err)
    goto out;
  char today[11];
  node_today(n, 0, today);
  long now = days_of(today);
  if (h.n && !(order = calloc(h.n, sizeof *order))) {
    err = GS_ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (size_t i = 0; i < h.n; i++) {
    /* unvisited: no visit in the last `days` days, today included */
    if (h.v[i].last[0] && now - days_of(h.v[i].last) < days)
      continue;
    order[k].row = &h.v[i];
    node_record_name(n, "building", h.v[i].bid, order[k].building,
                     sizeof order[k].building);
    k++;
  }
  if (k)
    qsort(order, k, sizeof *order, cmp_sorted);
  for (size_t i = 0; i < k; i++) {
    node_unvisited_item it;
    memset(&it, 0, sizeof it);
    memcpy(it.id, order[i].row->id, CRDT_ID_LEN);
    snprintf(it.scope, sizeof it.scope, "%s", order[i].row->scope);
    snprintf(it.building, sizeof it.building, "%s", order[i].building);
    node_record_name(n, "household", it.id, it.address, sizeof it.address);
    snprintf(it.last, sizeof it.last, "%s", order[i].row->last);
    it.days = it.last[0] ? now - days_of(it.last) : -1;
    if (cb(ctx, &it))
      break;
  }
out:
  free(order);
  free(h.v);
  free(rs.v);
  if (err)
    return node_reason_set(why, err, "cannot read the store: %s",
                           gs_i18n_strerror(err));
  return GS_OK;
}

/* ---- a building's contact sheet ---- */

typedef struct crows {
  node_contact_row *v;
  size_t n, cap;
  const hrows *h;
  const char *bname;
  gs_err err;
} crows;

static int on_contact(void *ctx, const crdt_record *r)
{
  crows *c = ctx;
  uint8_t hid[CRDT_ID_LEN];
  const hrow *home = NULL;
  const char *bt;
  size_t bn;
  if (crdt_record_deleted(r) || node_resident_gone(r))
    return 0; /* moved out: the record stays, out of the roster */
  if (node__ref_field(r, "household", "household", hid))
    for (size_t i = 0; i < c->h->n && !home; i++)
      if (memcmp(c->h->v[i].id, hid, CRDT_ID_LEN) == 0)
        home = &c->h->v[i];
  if (!home && !(node__str_field(r, "building", &bt, &bn) &&
                 node__building_is(c->bname, strlen(c->bname), bt, bn)))
    return 0;
  if (c->n >= NODE_QUESTION_ROWS_MAX)
    return 1;
  if (crdt_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v)) {
    c->err = GS_ENOMEM;
    return 1;
  }
  node_contact_row *x = &c->v[c->n++];
  memset(x, 0, sizeof *x);
  const char *s, *cl;
  size_t sn, cn;
  crdt_record_identity(r, &s, &sn, &cl, &cn, x->resident);
  x->has_resident = true;
  text_of(r, "name", x->name, sizeof x->name);
  text_of(r, "phone", x->phone, sizeof x->phone);
  if (home) {
    memcpy(x->household, home->id, CRDT_ID_LEN);
    x->has_household = true;
    snprintf(x->unit, sizeof x->unit, "%s", home->unit);
    snprintf(x->room, sizeof x->room, "%s", home->room);
    snprintf(x->household_phone, sizeof x->household_phone, "%s",
             home->phone);
  } else {
    text_of(r, "unit", x->unit, sizeof x->unit);
    text_of(r, "room", x->room, sizeof x->room);
  }
  long i = crdt_record_find(r, "birth_year", 10);
  crdt_field_view fv;
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
      !fv.is_set && fv.value.type == CRDT_INT)
    x->birth_year = (int)fv.value.u.i;
  i = crdt_record_find(r, "tags", 4);
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK && fv.is_set)
    for (size_t j = 0; j < fv.nelems; j++) {
      crdt_value ev;
      char code[64];
      if (crdt_record_elem(r, (size_t)i, j, &ev) != GS_OK ||
          ev.type != CRDT_STR || ev.u.s.n >= sizeof code)
        continue;
      memcpy(code, ev.u.s.p, ev.u.s.n);
      code[ev.u.s.n] = '\0';
      const char *l = node_schema_label("resident", "tags", code);
      if (strlen(x->tags) + strlen("、") + strlen(l) + 1 > sizeof x->tags)
        break;
      if (x->tags[0])
        append(x->tags, sizeof x->tags, "、");
      append(x->tags, sizeof x->tags, l);
    }
  return 0;
}

static int cmp_contact(const void *pa, const void *pb)
{
  const node_contact_row *a = pa, *b = pb;
  int k = cmp_num_text(a->unit, b->unit);
  if (!k)
    k = cmp_num_text(a->room, b->room);
  if (!k)
    k = strcmp(a->name, b->name);
  return k;
}

/* The building's squad: the first team (by id) naming it. */
typedef struct squad_ctx {
  const uint8_t *bid;
  crdt_record *team;
} squad_ctx;

static int on_squad(void *ctx, const crdt_record *r)
{
  squad_ctx *q = ctx;
  uint8_t bid[CRDT_ID_LEN];
  if (crdt_record_deleted(r) ||
      !node__ref_field(r, "building", "building", bid) ||
      memcmp(bid, q->bid, CRDT_ID_LEN) != 0)
    return 0;
  crdt_record_copy(r, &q->team); /* NULL if it fails */
  return 1;
}

static void squad_add(node_contact_head *head, const char *who)
{
  size_t cap = sizeof head->squad_members;
  if (head->squad_members[0] && !append(head->squad_members, cap, "; "))
    return;
  append(head->squad_members, cap, who);
}

static gs_err squad_of(node *n, const uint8_t bid[CRDT_ID_LEN],
                       node_contact_head *head)
{
  squad_ctx q = {.bid = bid};
  gs_err err = store_list(n->st, "team", 4, NULL, 0, on_squad, &q);
  if (err == GS_ENOTFOUND || !q.team)
    return err == GS_ENOTFOUND ? GS_OK : err;
  text_of(q.team, "name", head->squad, sizeof head->squad);
  const char *sets[] = {"members", "outsiders"};
  for (int s = 0; s < 2; s++) {
    long i = crdt_record_find(q.team, sets[s], strlen(sets[s]));
    crdt_field_view fv;
    if (i < 0 || crdt_record_field(q.team, (size_t)i, &fv) != GS_OK ||
        !fv.is_set)
      continue;
    for (size_t j = 0; j < fv.nelems; j++) {
      crdt_value v;
      char who[NODE_HIT_NAME_MAX + NODE_PHONE_MAX + 2];
      if (crdt_record_elem(q.team, (size_t)i, j, &v) != GS_OK)
        continue;
      if (s == 0 && v.type == CRDT_REF) {
        char name[NODE_HIT_NAME_MAX] = "", ph[NODE_PHONE_MAX] = "";
        crdt_record *m = NULL;
        if (node_get(n, "resident", v.u.ref.id, &m) == GS_OK) {
          text_of(m, "name", name, sizeof name);
          text_of(m, "phone", ph, sizeof ph);
          crdt_record_free(m);
        }
        if (!name[0])
          continue;
        snprintf(who, sizeof who, "%s%s%s", name, ph[0] ? " " : "", ph);
      } else if (s == 1 && v.type == CRDT_STR) {
        snprintf(who, sizeof who, "%.*s",
                 (int)(v.u.s.n < sizeof who - 1 ? v.u.s.n : sizeof who - 1),
                 v.u.s.p);
      } else
        continue;
      squad_add(head, who);
    }
  }
  crdt_record_free(q.team);
  return GS_OK;
}

gs_err node_contact_sheet(node *n, const char *building,
                          node_contact_head *head, node_contact_cb cb,
                          void *ctx, node_reason *why)
{
  node_hit b;
  node_reason rw;
  gs_err err;
  hrows h = {0};
  crows c = {0};
  if ((err = node_resolve(n, "building", building, 0, &b, NULL, &rw)))
    return node_reason_set(why, err, "%s", rw.text);
  if (!b.held)
    return node_reason_set(why, GS_ENOTFOUND,
                           "this node does not hold building %s", building);
  memset(head, 0, sizeof *head);
  memcpy(head->id, b.id, CRDT_ID_LEN);
  snprintf(head->name, sizeof head->name, "%s", b.name);
  snprintf(head->scope, sizeof head->scope, "%s", b.scope);
  crdt_record *br = NULL;
  if (node_get(n, "building", b.id, &br) == GS_OK) {
    text_of(br, "leader", head->leader, sizeof head->leader);
    text_of(br, "phone", head->phone, sizeof head->phone);
    crdt_record_free(br);
  }
  if ((err = squad_of(n, b.id, head)) != GS_OK)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  h.bid = b.id;
  err = store_list(n->st, "household", 9, NULL, 0, on_house, &h);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = h.err;
  c.h = &h;
  c.bname = head->name;
  if (!err)
    err = store_list(n->st, "resident", 8, NULL, 0, on_contact, &c);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = c.err;
  /* households where nobody is recorded yet: a row of their own */
  for (size_t i = 0; !err && i < h.n; i++) {
    bool seen = false;
    for (size_t k = 0; k < c.n && !seen; k++)
      seen = c.v[k].has_household &&
             memcmp(c.v[k].household, h.v[i].id, CRDT_ID_LEN) == 0;
    if (seen)
      continue;
    if (crdt_grow((void **)&c.v, &c.cap, c.n + 1, sizeof *c.v)) {
      err = GS_ENOMEM;
      break;
    }
    node_contact_row *x = &c.v[c.n++];
    memset(x, 0, sizeof *x);
    memcpy(x->household, h.v[i].id, CRDT_ID_LEN);
    x->has_household = true;
    snprintf(x->unit, sizeof x->unit, "%s", h.v[i].unit);
    snprintf(x->room, sizeof x->room, "%s", h.v[i].room);
    snprintf(x->household_phone, sizeof x->household_phone, "%s",
             h.v[i].phone);
  }
  if (!err && c.n)
    qsort(c.v, c.n, sizeof *c.v, cmp_contact);
  for (size_t i = 0; !err && i < c.n; i++) {
    if (c.v[i].has_household)
      node_record_name(n, "household", c.v[i].household, c.v[i].address,
                       sizeof c.v[i].address);
    else {
      c.v[i].address[0] = '\0';
      append(c.v[i].address, sizeof c.v[i].address, head->name);
      if (c.v[i].unit[0] && append(c.v[i].address, sizeof c.v[i].address,
                                   c.v[i].unit))
        append(c.v[i].address, sizeof c.v[i].address, "单元");
      append(c.v[i].address, sizeof c.v[i].address, c.v[i].room);
    }
    if (cb(ctx, &c.v[i]))
      break;
  }
  free(h.v);
  free(c.v);
  if (err)
    return node_reason_set(why, err, "cannot read the store: %s",
                           gs_i18n_strerror(err));
  return GS_OK;
}

/* ---- residents who moved; the red senior card list ---- */

bool node_resident_gone(const crdt_record *r)
{
  const char *p;
  size_t n;
  return node__str_field(r, "status", &p, &n) &&
         ((n == 5 && memcmp(p, "moved", 5) == 0) ||
          (n == 9 && memcmp(p, "moved-out", 9) == 0));
}

static bool int_of(const crdt_record *r, const char *name, int64_t *out)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_INT)
    return false;
  *out = fv.value.u.i;
  return true;
}

static bool has_tag(const crdt_record *r, const char *tag)
{
  long i = crdt_record_find(r, "tags", 4);
  crdt_field_view fv;
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK || !fv.is_set)
    return false;
  for (size_t j = 0; j < fv.nelems; j++) {
    crdt_value v;
    if (crdt_record_elem(r, (size_t)i, j, &v) == GS_OK &&
        v.type == CRDT_STR && v.u.s.n == strlen(tag) &&
        memcmp(v.u.s.p, tag, v.u.s.n) == 0)
      return true;
  }
  return false;
}

typedef struct seniors {
  node_senior *v;
  size_t n, cap;
  const char *prefix;
  int year, min_age;
  gs_err err;
} seniors;

static int on_senior(void *ctx, const crdt_record *r)
{
  seniors *s = ctx;
  int64_t by;
  if (crdt_record_deleted(r) || node_resident_gone(r) ||
      !int_of(r, "birth_year", &by) || s->year - by < s->min_age)
    return 0;
  const char *sc, *cl;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &sc, &sn, &cl, &cn, id);
  if (s->prefix && !crdt_scope_under(sc, sn, s->prefix, strlen(s->prefix)))
    return 0;
  if (s->n >= NODE_QUESTION_ROWS_MAX)
    return 1;
  if (crdt_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) {
    s->err = GS_ENOMEM;
    return 1;
  }
  node_senior *x = &s->v[s->n++];
  memset(x, 0, sizeof *x);
  memcpy(x->id, id, CRDT_ID_LEN);
  snprintf(x->scope, sizeof x->scope, "%.*s", (int)sn, sc);
  text_of(r, "name", x->name, sizeof x->name);
  text_of(r, "phone", x->phone, sizeof x->phone);
  char ec[NODE_HIT_NAME_MAX / 2], ep[NODE_PHONE_MAX];
  text_of(r, "emergency_contact", ec, sizeof ec);
  text_of(r, "emergency_phone", ep, sizeof ep);
  snprintf(x->emergency, sizeof x->emergency, "%s%s%s", ec,
           ec[0] && ep[0] ? " " : "", ep);
  x->birth_year = (int)by;
  x->age = s->year - (int)by;
  x->alone = has_tag(r, "lives-alone");
  return 0;
}

static int cmp_senior(const void *pa, const void *pb)
{
  const node_senior *a = pa, *b = pb;
  if (a->birth_year != b->birth_year)
    return a->birth_year < b->birth_year ? -1 : 1;
  int k = strcmp(a->scope, b->scope);
  return k ? k : strcmp(a->name, b->name);
}

gs_err node_seniors(node *n, const char *prefix, int min_age,
                    node_senior_cb cb, void *ctx, node_reason *why)
{
  char t[11];
  if (min_age < 0 || min_age > 150)
    return node_reason_set(why, GS_EINVAL,
                           _("an age is between 0 and 150, not %d"), min_age);
  node_today(n, 0, t);
  seniors s = {.prefix = prefix && *prefix ? prefix : NULL,
               .year = (int)strtol(t, NULL, 10),
               .min_age = min_age};
  gs_err err = store_list(n->st, "resident", 8, NULL, 0, on_senior, &s);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = s.err;
  if (!err && s.n)
    qsort(s.v, s.n, sizeof *s.v, cmp_senior);
  for (size_t i = 0; !err && i < s.n; i++) {
    node_senior *x = &s.v[i];
    x->address[0] = '\0';
    crdt_record *r = NULL;
    uint8_t hid[CRDT_ID_LEN];
    if (node_get(n, "resident", x->id, &r) == GS_OK &&
        node__ref_field(r, "household", "household", hid))
      node_record_name(n, "household", hid, x->address, sizeof x->address);
    else if (r) {
      char b[40], u[16], rm[32];
      text_of(r, "building", b, sizeof b);
      text_of(r, "unit", u, sizeof u);
      text_of(r, "room", rm, sizeof rm);
      snprintf(x->address, sizeof x->address, "%s%s%s%s", b, u,
               u[0] ? "单元" : "", rm);
    }
    crdt_record_free(r);
    if (cb(ctx, x))
      break;
  }
  free(s.v);
  if (err)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  return GS_OK;
}

/* ---- a passbook: an account's entries ---- */

typedef struct pb_find {
  const char *num;
  node_hit hit;
  size_t count;
  const char *coll;
} pb_find;

static int on_pb_num(void *ctx, const crdt_record *r)
{
  pb_find *f = ctx;
  const char *p;
  size_t n;
  if (crdt_record_deleted(r) || node_resident_gone(r) ||
      !node__str_field(r, "passbook", &p, &n) ||
      n != strlen(f->num) || memcmp(p, f->num, n) != 0)
    return 0;
  if (f->count++ == 0) {
    const char *sc, *cl;
    size_t sn, cn;
    memset(&f->hit, 0, sizeof f->hit);
    crdt_record_identity(r, &sc, &sn, &cl, &cn, f->hit.id);
    snprintf(f->hit.coll, sizeof f->hit.coll, "%s", f->coll);
    snprintf(f->hit.scope, sizeof f->hit.scope, "%.*s", (int)sn, sc);
    node_name_of(r, f->hit.name, sizeof f->hit.name);
    f->hit.held = true;
  }
  return 0;
}

gs_err node_passbook_find(node *n, const char *text, node_choose_cb choose,
                          void *cctx, node_hit *who, node_reason *why)
{
  static const char *const colls[] = {"resident", "unit", "team"};
  pb_find f = {.num = text};
  for (size_t i = 0; i < 3; i++) {
    f.coll = colls[i];
    gs_err err = store_list(n->st, colls[i], strlen(colls[i]), NULL, 0,
                            on_pb_num, &f);
    if (err && err != GS_ENOTFOUND)
      return node_reason_set(why, err, _("cannot read the store: %s"),
                             gs_strerror(err));
  }
  if (f.count > 1)
    return node_reason_set(why, GS_EAMBIG,
                           _("%zu accounts have passbook number %s: give "
                             "the person's name or id"),
                           f.count, text);
  if (f.count == 1) {
    *who = f.hit;
    return GS_OK;
  }
  gs_err err = node_resolve_choose(n, "resident|unit|team", text, 0, choose,
                                   cctx, "person", who, why);
  if (!err)
    err = node_resident_current(n, who);
  return err;
}

typedef struct pb_ctx {
  node *n;
  const char *coll;
  uint8_t ids[17][CRDT_ID_LEN]; /* the account and the records it continues */
  size_t nids;
  node_passbook_line *v;
  size_t len, cap;
  gs_err err;
} pb_ctx;

static int on_pb_entry(void *ctx, const crdt_record *r)
{
  pb_ctx *c = ctx;
  uint8_t pid[CRDT_ID_LEN];
  if (crdt_record_deleted(r) || !node__ref_field(r, "person", c->coll, pid))
    return 0;
  bool mine = false;
  for (size_t i = 0; i < c->nids && !mine; i++)
    mine = memcmp(c->ids[i], pid, CRDT_ID_LEN) == 0;
  if (!mine)
    return 0;
  long fi = crdt_record_find(r, "hours", 5);
  crdt_field_view fv;
  double h;
  if (fi < 0 || crdt_record_field(r, (size_t)fi, &fv) != GS_OK || fv.is_set)
    return 0;
  if (fv.value.type == CRDT_INT)
    h = (double)fv.value.u.i;
  else if (fv.value.type == CRDT_FLOAT)
    h = fv.value.u.f;
  else
    return 0;
  if (!(h > -1e7 && h < 1e7))
    return 0;
  if (c->len >= NODE_PASSBOOK_MAX)
    return 1;
  if (crdt_grow((void **)&c->v, &c->cap, c->len + 1, sizeof *c->v)) {
    c->err = GS_ENOMEM;
    return 1;
  }
  node_passbook_line *l = &c->v[c->len];
  memset(l, 0, sizeof *l);
  const char *sc, *cl;
  size_t sn, cn;
  crdt_record_identity(r, &sc, &sn, &cl, &cn, l->id);
  text_of(r, "date", l->date, sizeof l->date);
  text_of(r, "kind", l->kind, sizeof l->kind);
  text_of(r, "service", l->service, sizeof l->service);
  text_of(r, "goods", l->goods, sizeof l->goods);
  text_of(r, "note", l->note, sizeof l->note);
  int64_t ch = (int64_t)(h * 100.0 + (h < 0 ? -0.5 : 0.5));
  if (strcmp(l->kind, "spend") == 0)
    ch = -ch;
  else if (strcmp(l->kind, "deposit") && strcmp(l->kind, "adjust"))
    return 0;
  l->centihours = ch;
  uint8_t x[CRDT_ID_LEN];
  l->correction = node__ref_field(r, "corrects", "timebank", x);
  if (node__ref_field(r, "served", "resident", x))
    node_record_name(c->n, "resident", x, l->served, sizeof l->served);
  c->len++;
  return 0;
}

static int cmp_line(const void *pa, const void *pb)
{
  const node_passbook_line *a = pa, *b = pb;
  int k = strcmp(a->date, b->date);
  return k ? k : memcmp(a->id, b->id, CRDT_ID_LEN);
}

static int on_from(void *ctx, const crdt_record *r)
{
  uint8_t *to = ctx;
  if (!node__ref_field(r, "moved_from", "resident", to))
    memset(to, 0, CRDT_ID_LEN);
  return 1;
}

gs_err node_passbook(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                     node_passbook_cb cb, void *ctx, int64_t *total,
                     node_reason *why)
{
  static const uint8_t zero[CRDT_ID_LEN];
  pb_ctx c = {.n = n, .coll = coll};
  memcpy(c.ids[0], id, CRDT_ID_LEN);
  c.nids = 1;
  /* a resident who moved here keeps the hours of the record before */
  while (strcmp(coll, "resident") == 0 && c.nids < 17) {
    uint8_t from[CRDT_ID_LEN] = {0};
    if (store_get(n->st, "resident", 8, c.ids[c.nids - 1], on_from, from) !=
            GS_OK ||
        memcmp(from, zero, CRDT_ID_LEN) == 0)
      break;
    bool seen = false;
    for (size_t i = 0; i < c.nids && !seen; i++)
      seen = memcmp(c.ids[i], from, CRDT_ID_LEN) == 0;
    if (seen)
      break; /* a loop of links (a hostile peer's): stop */
    memcpy(c.ids[c.nids++], from, CRDT_ID_LEN);
  }
  gs_err err = store_list(n->st, "timebank", 8, NULL, 0, on_pb_entry, &c);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = c.err;
  if (!err && c.len)
    qsort(c.v, c.len, sizeof *c.v, cmp_line);
  int64_t bal = 0;
  for (size_t i = 0; !err && i < c.len; i++) {
    bal += c.v[i].centihours;
    c.v[i].balance = bal;
  }
  for (size_t i = 0; !err && cb && i < c.len; i++)
    if (cb(ctx, &c.v[i]))
      break;
  free(c.v);
  if (total)
    *total = bal;
  if (err)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  return GS_OK;
}
