/*
 * Places as people say them (node/address.h): buildings by name or
 * number, households by address, residents by place and name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "crdt/gs_i18n.h"
#include "node/address.h"
#include "node/domain.h"
#include "node/netnode.h"
#include "node/node_internal.h"
#include "storage/store.h"

#define BUILDINGS_MAX 4096 /* buildings a node holds, for resolution */


static bool has_suffix(const char *p, size_t n, const char *suf, size_t *rest)
{
  size_t k = strlen(suf);
  if (n < k || memcmp(p + n - k, suf, k) != 0)
    return false;
  *rest = n - k;
  return true;
}

/* The number of a building written "5", "5号楼", "5栋", "5幢", "5号" or
 * "5#"; -1 when it is not written so. */
static long building_no(const char *p, size_t n)
{
  static const char *const sufs[] = {"号楼", "栋", "幢", "号", "#", "楼"};
  size_t k = n;
  for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++)
    if (has_suffix(p, n, sufs[i], &k))
      break;
  if (k == 0 || k > 6)
    return -1;
  long v = 0;
  for (size_t i = 0; i < k; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

bool node__building_is(const char *bname, size_t bn, const char *text,
                       size_t tn)
{
  if (bn == tn && memcmp(bname, text, bn) == 0)
    return bn > 0;
  long a = building_no(bname, bn), b = building_no(text, tn);
  return a >= 0 && a == b;
}

/* "2", "2单元" -> "2" (into out); the unit as a person writes it. */
static void unit_norm(const char *p, size_t n, char *out, size_t cap)
{
  size_t k;
  if (!has_suffix(p, n, "单元", &k))
    k = n;
  snprintf(out, cap, "%.*s", (int)k, p);
}

/* "301", "301室", "301号" -> "301". */
static void room_norm(const char *p, size_t n, char *out, size_t cap)
{
  size_t k;
  if (!has_suffix(p, n, "室", &k) && !has_suffix(p, n, "号", &k))
    k = n;
  snprintf(out, cap, "%.*s", (int)k, p);
}

typedef struct bld {
  uint8_t id[CRDT_ID_LEN];
  char name[NODE_HIT_NAME_MAX];
} bld;

typedef struct blds {
  bld *v;
  size_t n, cap;
  gs_err err;
} blds;

static int on_building(void *ctx, const crdt_record *r)
{
  blds *b = ctx;
  const char *p, *s, *c;
  size_t n, sn, cn;
  if (crdt_record_deleted(r) || !node__str_field(r, "name", &p, &n) ||
      n >= NODE_HIT_NAME_MAX)
    return 0;
  if (b->n >= BUILDINGS_MAX)
    return 1;
  if (crdt_grow((void **)&b->v, &b->cap, b->n + 1, sizeof *b->v)) {
    b->err = GS_ENOMEM;
    return 1;
  }
  bld *x = &b->v[b->n++];
  crdt_record_identity(r, &s, &sn, &c, &cn, x->id);
  memcpy(x->name, p, n);
  x->name[n] = '\0';
  return 0;
}

static gs_err load_buildings(node *n, blds *b)
{
  memset(b, 0, sizeof *b);
  gs_err err = store_list(n->st, "building", 8, NULL, 0, on_building, b);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  return err ? err : b->err;
}

static const bld *building_by_id(const blds *b, const uint8_t id[CRDT_ID_LEN])
{
  for (size_t i = 0; i < b->n; i++)
    if (memcmp(b->v[i].id, id, CRDT_ID_LEN) == 0)
      return &b->v[i];
  return NULL;
}

/* An address split: the building part (matched against the names of
 * bs), the unit and the room; unit "" when not given. */
typedef struct addr {
  char unit[32], room[64];
  const char *place; /* the building as typed */
  size_t place_len;
} addr;

/* Does text (no spaces) read as an address in building b? Fills a. The
 * building is the longest prefix b is named by; then "N单元" or "N-" and
 * the room, or "-ROOM". */
static bool addr_in(const bld *b, const char *t, size_t tn, addr *a)
{
  for (size_t k = tn; k > 0; k--) {
    if (((unsigned char)t[k] & 0xC0) == 0x80 && k < tn)
      continue; /* not a character boundary */
    size_t pk = k;
    if (pk > 0 && t[pk - 1] == '-')
      pk--; /* "5-2-301" */
    if (!node__building_is(b->name, strlen(b->name), t, pk))
      continue;
    const char *rest = t + k;
    size_t rn = tn - k;
    if (rn == 0)
      return false;
    const char *u = strstr(rest, "单元");
    const char *dash = memchr(rest, '-', rn);
    a->unit[0] = '\0';
    if (u && (size_t)(u - rest) < rn) {
      unit_norm(rest, (size_t)(u - rest), a->unit, sizeof a->unit);
      rn -= (size_t)(u - rest) + strlen("单元");
      rest = u + strlen("单元");
    } else if (dash) {
      unit_norm(rest, (size_t)(dash - rest), a->unit, sizeof a->unit);
      rn -= (size_t)(dash - rest) + 1;
      rest = dash + 1;
    }
    if (rn == 0 || rn >= sizeof a->room)
      return false;
    room_norm(rest, rn, a->room, sizeof a->room);
    a->place = t;
    a->place_len = pk;
    return true;
  }
  return false;
}

typedef struct place_ctx {
  const blds *bs;
  const char *text; /* spaces removed */
  size_t tn;
  const char *name; /* "PLACE NAME": the name; NULL otherwise */
  size_t nn;
  const char *place; /* "PLACE NAME": the place, spaces removed */
  size_t pn;
  node__place_cb cb;
  void *ctx;
  bool stopped;
} place_ctx;

/* Is the home (building b, unit, room) the place text names: the
 * building itself, or an address in it? */
static bool home_is(const bld *b, const char *bname, size_t bn,
                    const char *unit, size_t un, const char *room, size_t rn,
                    const char *t, size_t tn)
{
  if (node__building_is(bname, bn, t, tn))
    return true;
  if (!b)
    return false;
  addr a;
  char hu[32], hr[64];
  if (!addr_in(b, t, tn, &a))
    return false;
  unit_norm(unit, un, hu, sizeof hu);
  room_norm(room, rn, hr, sizeof hr);
  return strcmp(a.room, hr) == 0 && (!a.unit[0] || strcmp(a.unit, hu) == 0);
}

static int on_household(void *vctx, const crdt_record *r)
{
  place_ctx *x = vctx;
  uint8_t bid[CRDT_ID_LEN];
  const char *unit = "", *room = "";
  size_t un = 0, rn = 0;
  if (crdt_record_deleted(r) || !node__ref_field(r, "building", "building", bid))
    return 0;
  const bld *b = building_by_id(x->bs, bid);
  if (!b || !node__str_field(r, "room", &room, &rn))
    return 0;
  node__str_field(r, "unit", &unit, &un);
  addr a;
  char hu[32], hr[64];
  if (!addr_in(b, x->text, x->tn, &a))
    return 0;
  unit_norm(unit, un, hu, sizeof hu);
  room_norm(room, rn, hr, sizeof hr);
  if (strcmp(a.room, hr) != 0 || (a.unit[0] && strcmp(a.unit, hu) != 0))
    return 0;
  if (x->cb(x->ctx, r))
    x->stopped = true;
  return x->stopped;
}

static int on_named_building(void *vctx, const crdt_record *r)
{
  place_ctx *x = vctx;
  const char *p;
  size_t n;
  if (crdt_record_deleted(r) || !node__str_field(r, "name", &p, &n) ||
      (n == x->tn && memcmp(p, x->text, n) == 0) || /* found by name */
      !node__building_is(p, n, x->text, x->tn))
    return 0;
  if (x->cb(x->ctx, r))
    x->stopped = true;
  return x->stopped;
}

/* Households of the resident's place are read in a first pass: here a
 * resident's home comes from its own fields or its household's (known
 * from hh, the households of the node). */
typedef struct hh {
  uint8_t id[CRDT_ID_LEN];
  uint8_t bid[CRDT_ID_LEN];
  char unit[32], room[64];
} hh;

typedef struct hhs {
  hh *v;
  size_t n, cap;
  gs_err err;
} hhs;

static int on_hh(void *ctx, const crdt_record *r)
{
  hhs *h = ctx;
  const char *s, *c, *unit = "", *room = "";
  size_t sn, cn, un = 0, rn = 0;
  uint8_t bid[CRDT_ID_LEN];
  if (!node__ref_field(r, "building", "building", bid))
    return 0;
  if (crdt_grow((void **)&h->v, &h->cap, h->n + 1, sizeof *h->v)) {
    h->err = GS_ENOMEM;
    return 1;
  }
  hh *x = &h->v[h->n++];
  crdt_record_identity(r, &s, &sn, &c, &cn, x->id);
  memcpy(x->bid, bid, CRDT_ID_LEN);
  node__str_field(r, "unit", &unit, &un);
  node__str_field(r, "room", &room, &rn);
  snprintf(x->unit, sizeof x->unit, "%.*s", (int)un, unit);
  snprintf(x->room, sizeof x->room, "%.*s", (int)rn, room);
  return 0;
}

typedef struct res_ctx {
  place_ctx *x;
  const hhs *h;
} res_ctx;

static int on_resident(void *vctx, const crdt_record *r)
{
  res_ctx *rc = vctx;
  place_ctx *x = rc->x;
  const char *p;
  size_t n;
  if (crdt_record_deleted(r) || !node__str_field(r, "name", &p, &n) ||
      n != x->nn || memcmp(p, x->name, n) != 0)
    return 0;
  bool match = false;
  uint8_t hid[CRDT_ID_LEN];
  if (node__ref_field(r, "household", "household", hid)) {
    for (size_t i = 0; i < rc->h->n && !match; i++) {
      const hh *e = &rc->h->v[i];
      if (memcmp(e->id, hid, CRDT_ID_LEN) != 0)
        continue;
      const bld *b = building_by_id(x->bs, e->bid);
      if (b)
        match = home_is(b, b->name, strlen(b->name), e->unit,
                        strlen(e->unit), e->room, strlen(e->room), x->place,
                        x->pn);
    }
  }
  const char *bname = "", *unit = "", *room = "";
  size_t bn = 0, un = 0, rn = 0;
  if (!match && node__str_field(r, "building", &bname, &bn)) {
    node__str_field(r, "unit", &unit, &un);
    node__str_field(r, "room", &room, &rn);
    const bld *b = NULL;
    for (size_t i = 0; i < x->bs->n && !b; i++)
      if (node__building_is(x->bs->v[i].name, strlen(x->bs->v[i].name),
                            bname, bn))
        b = &x->bs->v[i];
    match = home_is(b, bname, bn, unit, un, room, rn, x->place, x->pn);
  }
  if (!match)
    return 0;
  if (x->cb(x->ctx, r))
    x->stopped = true;
  return x->stopped;
}

/* Copy text without ASCII spaces into out (cap bytes). */
static size_t squeeze(const char *t, size_t n, char *out, size_t cap)
{
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++)
    if (t[i] != ' ')
      out[k++] = t[i];
  out[k] = '\0';
  return k;
}

static bool has_coll(char colls[][CRDT_NAME_MAX + 1], size_t nc,
                     const char *c)
{
  for (size_t i = 0; i < nc; i++)
    if (strcmp(colls[i], c) == 0)
      return true;
  return false;
}

gs_err node__place_find(node *n, char colls[][CRDT_NAME_MAX + 1], size_t nc,
                        const char *text, node__place_cb cb, void *ctx)
{
  char t[256], pl[256];
  size_t len = strlen(text);
  if (len >= sizeof t)
    return GS_OK; /* no place is named so long */
  if (!has_coll(colls, nc, "building") && !has_coll(colls, nc, "household") &&
      !has_coll(colls, nc, "resident"))
    return GS_OK;
  blds bs;
  gs_err err = load_buildings(n, &bs);
  if (err || bs.n == 0) {
    free(bs.v);
    return err;
  }
  place_ctx x = {.bs = &bs, .cb = cb, .ctx = ctx};
  x.tn = squeeze(text, len, t, sizeof t);
  x.text = t;
  if (has_coll(colls, nc, "building"))
    err = store_list(n->st, "building", 8, NULL, 0, on_named_building, &x);
  if ((!err || err == GS_ENOTFOUND) && !x.stopped &&
      has_coll(colls, nc, "household"))
    err = store_list(n->st, "household", 9, NULL, 0, on_household, &x);
  const char *sp = strrchr(text, ' ');
  if ((!err || err == GS_ENOTFOUND) && !x.stopped && sp && sp[1] &&
      has_coll(colls, nc, "resident")) {
    hhs h = {0};
    x.name = sp + 1;
    x.nn = strlen(sp + 1);
    x.pn = squeeze(text, (size_t)(sp - text), pl, sizeof pl);
    x.place = pl;
    err = store_list(n->st, "household", 9, NULL, 0, on_hh, &h);
    if (err == GS_ENOTFOUND)
      err = GS_OK;
    if (!err)
      err = h.err;
    res_ctx rc = {&x, &h};
    if (!err && x.pn > 0)
      err = store_list(n->st, "resident", 8, NULL, 0, on_resident, &rc);
    free(h.v);
  }
  free(bs.v);
  return err == GS_ENOTFOUND ? GS_OK : err;
}

void node__hit_address(node *n, node_hit *h)
{
  char where[NODE_HIT_NAME_MAX] = "";
  if (!h->held)
    return;
  if (strcmp(h->coll, "household") == 0) {
    node_record_name(n, "household", h->id, where, sizeof where);
    if (!h->name[0])
      snprintf(h->name, sizeof h->name, "%s", where);
  } else if (strcmp(h->coll, "resident") == 0) {
    crdt_record *r = NULL;
    if (node_get(n, "resident", h->id, &r) != GS_OK)
      return;
    uint8_t hid[CRDT_ID_LEN];
    const char *b, *u, *rm;
    size_t bn, un = 0, rn = 0;
    if (node__ref_field(r, "household", "household", hid))
      node_record_name(n, "household", hid, where, sizeof where);
    else if (node__str_field(r, "building", &b, &bn)) {
      if (!node__str_field(r, "unit", &u, &un))
        u = "";
      if (!node__str_field(r, "room", &rm, &rn))
        rm = "";
      snprintf(where, sizeof where, "%.*s%.*s%s%.*s", (int)bn, b, (int)un, u,
               un ? "单元" : "", (int)rn, rm);
    }
    crdt_record_free(r);
  }
  if (!where[0])
    return;
  char buf[NODE_HIT_DETAIL_MAX + NODE_HIT_NAME_MAX + 4];
  int k = snprintf(buf, sizeof buf, "%s%s%s", where, h->detail[0] ? ", " : "",
                   h->detail);
  size_t len = k < 0 ? 0 : (size_t)k;
  if (len >= sizeof h->detail) { /* cut at a character boundary */
    len = sizeof h->detail - 1;
    while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(h->detail, buf, len);
  h->detail[len] = '\0';
}

gs_err node__households_in(node *n, const char *text,
                           uint8_t (**ids)[CRDT_ID_LEN], size_t *count)
{
  blds bs;
  hhs h = {0};
  *ids = NULL;
  *count = 0;
  gs_err err = load_buildings(n, &bs);
  if (!err && bs.n)
    err = store_list(n->st, "household", 9, NULL, 0, on_hh, &h);
  if (err == GS_ENOTFOUND)
    err = GS_OK;
  if (!err)
    err = h.err;
  size_t k = 0;
  for (size_t i = 0; !err && i < h.n; i++) {
    const bld *b = building_by_id(&bs, h.v[i].bid);
    if (b && node__building_is(b->name, strlen(b->name), text, strlen(text)))
      memmove(h.v[k++].id, h.v[i].id, CRDT_ID_LEN);
  }
  if (!err && k) {
    *ids = malloc(k * sizeof **ids);
    if (!*ids)
      err = GS_ENOMEM;
    for (size_t i = 0; !err && i < k; i++)
      memcpy((*ids)[i], h.v[i].id, CRDT_ID_LEN);
    if (!err)
      *count = k;
  }
  free(h.v);
  free(bs.v);
  return err;
}

/* ---- what went wrong with a peer (node/netnode.h node_peer_kind):
 *      where the address book's note is written, its gs_err (or libuv
 *      code) is put into one of a few kinds, each with a sentence a
 *      building leader can act on ---- */

node_peer_kind node_peer_kind_of(gs_err why, bool opened)
{
  switch (why) {
  case GS_OK:
    return NODE_PEER_OK;
  case UV_ECONNREFUSED:
  case UV_EHOSTUNREACH:
  case UV_ENETUNREACH:
  case UV_EHOSTDOWN:
  case UV_ENETDOWN:
  case UV_EADDRNOTAVAIL:
  case UV_EAI_NONAME:
  case UV_EAI_AGAIN:
  case UV_EAI_FAIL:
  case UV_EAI_NODATA:
  case UV_EAI_ADDRFAMILY:
  case GS_ENOTFOUND:
  case GS_EINVAL:
    return NODE_PEER_UNREACHABLE;
  case UV_ETIMEDOUT:
  case GS_ETIMEOUT:
    return NODE_PEER_TIMEOUT;
  case GS_EHANDSHAKE:
    return NODE_PEER_KEY;
  case GS_EPERM:
    return NODE_PEER_REFUSED;
  case GS_EVERSION:
    return NODE_PEER_VERSION;
  case GS_ECLOSED:
  case UV_EOF:
  case UV_ECONNRESET:
  case UV_ECONNABORTED:
  case UV_EPIPE:
    /* hung up before the handshake completed: what a node with another
     * network key does (it cannot read our first message) */
    return opened ? NODE_PEER_CLOSED : NODE_PEER_KEY;
  case GS_EPROTO:
  case GS_EDECODE:
  case GS_ETRUNC:
  case GS_ETRAILING:
  case GS_ETOOBIG:
  case GS_EUTF8:
  case GS_ESIG:
  case GS_ECHAIN:
  case GS_ECRYPTO:
  case GS_ESCOPE:
  case GS_ENAME:
  case GS_ESCHEMA:
    return NODE_PEER_BADDATA;
  default:
    return NODE_PEER_OTHER;
  }
}

static const struct {
  const char *code, *text;
} peer_kinds[NODE_PEER_KIND_MAX + 1] = {
    [NODE_PEER_OK] = {"ok", ""},
    [NODE_PEER_UNREACHABLE] =
        {"unreachable",
         N_("Cannot reach it: the other computer may be switched off, "
            "gridsync may not be running there, or it is not on the same "
            "network. Check that it is on and connected, then sync again.")},
    [NODE_PEER_TIMEOUT] =
        {"timeout",
         N_("No answer in time: the network may be slow or the other "
            "computer busy. Try again later.")},
    [NODE_PEER_KEY] =
        {"key",
         N_("The other computer does not accept this one's network key: it "
            "may belong to another network, or the key was changed. Ask the "
            "administrator for a new invite code.")},
    [NODE_PEER_REFUSED] =
        {"refused",
         N_("The other computer would not sync with this one: this computer "
            "may have been revoked, or it has too many connections. Ask the "
            "administrator.")},
    [NODE_PEER_VERSION] =
        {"version",
         N_("The other computer runs another version of gridsync. Update "
            "gridsync on both computers to the same version.")},
    [NODE_PEER_CLOSED] =
        {"closed",
         N_("The other computer stopped the sync partway. It will be tried "
            "again; if this keeps happening, restart gridsync there.")},
    [NODE_PEER_BADDATA] =
        {"bad_data",
         N_("The other computer sent data this one cannot accept, so the "
            "sync was stopped. Tell the administrator.")},
    [NODE_PEER_OTHER] =
        {"other",
         N_("The sync did not work. It will be tried again; the details "
            "below say why.")},
};

const char *node_peer_kind_code(node_peer_kind k)
{
  return (unsigned)k <= NODE_PEER_KIND_MAX ? peer_kinds[k].code : "other";
}

const char *node_peer_kind_text(node_peer_kind k)
{
  return (unsigned)k <= NODE_PEER_KIND_MAX ? peer_kinds[k].text
                                           : peer_kinds[NODE_PEER_OTHER].text;
}
