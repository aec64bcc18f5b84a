/*
 * Questions volunteers ask (node/domain.h): households not visited
 * lately, a building's contact sheet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  if (crdt_record_deleted(r))
    return 0;
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
