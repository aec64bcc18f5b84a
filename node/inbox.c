/*
 * The conflict inbox (node/domain.h, issue 16): everything a person must
 * decide, gathered from the domain API: concurrent status moves on one
 * appeal, overdrawn time-bank accounts, invites used twice, forks and
 * quarantined feeds, held changes, a wrong clock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/json.h"
#include "node/member.h"
#include "node/node.h"
#include "node/schema.h"
#include "storage/store.h"

#define RACE_WINDOW_MS (24ULL * 3600 * 1000)
#define HELD_GROUPS_MAX 64   /* held changes are told per author and cause */
#define STATUS_MAX 32

const char *node_inbox_code(node_inbox_kind kind)
{
  switch (kind) {
  case NODE_INBOX_STATUS_RACE:
    return "status_race";
  case NODE_INBOX_OVERDRAWN:
    return "overdrawn";
  case NODE_INBOX_INVITE_TWICE:
    return "invite_twice";
  case NODE_INBOX_BAD_FEED:
    return "bad_feed";
  case NODE_INBOX_HELD:
    return "held";
  case NODE_INBOX_CLOCK:
    return "clock";
  }
  return "unknown";
}

static bool under(const char *prefix, const char *scope, size_t sn)
{
  return !*prefix || crdt_scope_under(scope, sn, prefix, strlen(prefix));
}

/* ---- concurrent status moves ---- */

typedef struct ids {
  uint8_t (*v)[CRDT_ID_LEN];
  size_t n, cap;
  gs_err err;
} ids;

static int on_appeal(void *ctx, const crdt_record *r)
{
  ids *x = ctx;
  if (crdt_grow((void **)&x->v, &x->cap, x->n + 1, sizeof *x->v)) {
    x->err = GS_ENOMEM;
    return 1;
  }
  const char *sc, *co;
  size_t sl, cl;
  crdt_record_identity(r, &sc, &sl, &co, &cl, x->v[x->n++]);
  return 0;
}

typedef struct status_set {
  crdt_stamp st;
  char value[STATUS_MAX];
} status_set;

/* The newest three status sets of one appeal, oldest first: whatever
 * the length of its history, nothing more is kept. */
typedef struct sets {
  const uint8_t *id;
  status_set v[3];
  size_t n;
} sets;

static void keep_newest(sets *s, const status_set *x)
{
  size_t i = s->n;
  if (s->n == 3) {
    if (crdt_stamp_cmp(&x->st, &s->v[0].st) <= 0)
      return;
    memmove(&s->v[0], &s->v[1], 2 * sizeof s->v[0]);
    i = 2;
  } else {
    s->n++;
  }
  while (i > 0 && crdt_stamp_cmp(&s->v[i - 1].st, &x->st) > 0) {
    s->v[i] = s->v[i - 1];
    i--;
  }
  s->v[i] = *x;
}

static int on_change(void *ctx, const crdt_change *c)
{
  sets *s = ctx;
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->kind != CRDT_OP_SET || op->coll_len != 6 ||
        memcmp(op->coll, "appeal", 6) != 0 ||
        memcmp(op->id, s->id, CRDT_ID_LEN) != 0 || op->field_len != 6 ||
        memcmp(op->field, "status", 6) != 0 ||
        op->value.type != CRDT_STR || op->value.u.s.n >= STATUS_MAX)
      continue;
    status_set x;
    x.st.hlc = c->hlc;
    memcpy(x.st.origin, c->origin, CRDT_KEY_LEN);
    memcpy(x.value, op->value.u.s.p, op->value.u.s.n);
    x.value[op->value.u.s.n] = '\0';
    keep_newest(s, &x);
  }
  return 0;
}

static bool move_ok(const node_coll *c, const char *from, const char *to)
{
  return node_schema_move_ok(c, from, strlen(from), to, strlen(to));
}

/* true with *p, *q when the newest two status sets race. */
static bool race(const node_coll *c, const sets *s, const status_set **p,
                 const status_set **q)
{
  if (s->n < 2)
    return false;
  *p = &s->v[s->n - 2];
  *q = &s->v[s->n - 1];
  if (memcmp((*p)->st.origin, (*q)->st.origin, CRDT_KEY_LEN) == 0 ||
      strcmp((*p)->value, (*q)->value) == 0)
    return false;
  if (!move_ok(c, (*p)->value, (*q)->value))
    return true; /* the later writer had not seen the earlier move */
  if (s->n < 3)
    return false;
  const status_set *r = &s->v[s->n - 3];
  uint64_t pm = CRDT_HLC_MS((*p)->st.hlc), qm = CRDT_HLC_MS((*q)->st.hlc);
  return move_ok(c, r->value, (*q)->value) && qm - pm < RACE_WINDOW_MS;
}

static void label_of(const char *value, char *buf, size_t cap)
{
  const char *l = node_schema_label("appeal", "status", value);
  if (l && strcmp(l, value) != 0)
    snprintf(buf, cap, "%s (%s)", value, l);
  else
    snprintf(buf, cap, "%s", value);
}

static gs_err status_races(node *n, const char *prefix, node_inbox_cb cb,
                           void *ctx, bool *stop)
{
  const node_coll *c = node_schema_coll("appeal", 6);
  ids x = {0};
  node_query q = {.coll = "appeal", .prefix = prefix,
                  .limit = NODE_INBOX_APPEALS_MAX};
  node_reason why = {0};
  gs_err err = node_query_run(n, &q, on_appeal, &x, NULL, &why);
  if (!err)
    err = x.err;
  sets one, *s = &one;
  for (size_t i = 0; !err && i < x.n && !*stop; i++) {
    s->id = x.v[i];
    s->n = 0;
    err = node_history(n, "appeal", x.v[i], on_change, s);
    if (err == GS_ENOTFOUND)
      err = GS_OK;
    if (err)
      break;
    const status_set *p, *qq;
    if (!race(c, s, &p, &qq))
      continue;
    node_inbox_item it = {.kind = NODE_INBOX_STATUS_RACE, .nrefs = 1};
    char name[NODE_HIT_NAME_MAX], idt[CRDT_ID_TEXT_LEN + 1];
    char pa[NODE_NAME_MAX + 16], qa[NODE_NAME_MAX + 16];
    char pt[40], qt[40], pl[80], ql[80];
    crdt_base32_encode(x.v[i], CRDT_ID_LEN, idt);
    node_record_name(n, "appeal", x.v[i], name, sizeof name);
    node_author_text(n, p->st.origin, pa, sizeof pa);
    node_author_text(n, qq->st.origin, qa, sizeof qa);
    node_time_local(CRDT_HLC_MS(p->st.hlc), pt, sizeof pt);
    node_time_local(CRDT_HLC_MS(qq->st.hlc), qt, sizeof qt);
    label_of(p->value, pl, sizeof pl);
    label_of(qq->value, ql, sizeof ql);
    snprintf(it.what, sizeof it.what,
             _("The appeal '%s' was set to %s by %s at %s and to %s by %s at "
             "%s, apparently while the two were apart, so it now shows %s."),
             name[0] ? name : idt, pl, pa, pt, ql, qa, qt, ql);
    snprintf(it.action, sizeof it.action,
             _("Look at the history ('gridsync history appeal %s') and set "
             "the status again ('gridsync appeal VERB %s' with accept, "
             "assign, resolve, close or reopen)."),
             idt, idt);
    snprintf(it.refs[0].coll, sizeof it.refs[0].coll, "appeal");
    memcpy(it.refs[0].id, x.v[i], CRDT_ID_LEN);
    if (cb(ctx, &it))
      *stop = true;
  }
  free(x.v);
  return err;
}

/* ---- overdrawn accounts ---- */

static gs_err overdrawn(node *n, const char *prefix, node_inbox_cb cb,
                        void *ctx, bool *stop)
{
  node_balance *b;
  size_t nb;
  gs_err err = node_timebank_balances(n, prefix, &b, &nb);
  if (err)
    return err;
  for (size_t i = 0; i < nb && !*stop; i++) {
    if (b[i].balance >= 0)
      continue;
    node_inbox_item it = {.kind = NODE_INBOX_OVERDRAWN, .nrefs = 1};
    char name[NODE_HIT_NAME_MAX], idt[CRDT_ID_TEXT_LEN + 1], h[32], o[32];
    crdt_base32_encode(b[i].id, CRDT_ID_LEN, idt);
    node_record_name(n, b[i].coll, b[i].id, name, sizeof name);
    node_hours_text(b[i].balance, h, sizeof h);
    node_hours_text(-b[i].balance, o, sizeof o);
    snprintf(it.what, sizeof it.what,
             _("The time-bank account of %s (%s) is at %s hours: spends "
             "accepted on two nodes at once took more than it held."),
             name[0] ? name : idt, node_schema_label(b[i].coll, NULL, NULL),
             h);
    snprintf(it.action, sizeof it.action,
             _("An admin settles it with 'gridsync timebank adjust %s/%s %s "
             "--note WHY' (no entry is lost)."),
             b[i].coll, idt, o);
    snprintf(it.refs[0].coll, sizeof it.refs[0].coll, "%s", b[i].coll);
    memcpy(it.refs[0].id, b[i].id, CRDT_ID_LEN);
    if (cb(ctx, &it))
      *stop = true;
  }
  free(b);
  return GS_OK;
}

/* ---- invites used twice ---- */

typedef struct leaked {
  node_member_info *v;
  size_t n, cap;
  gs_err err;
} leaked;

static int on_member(void *ctx, const node_member_info *m)
{
  leaked *l = ctx;
  if (m->state != NODE_MEMBER_LEAKED || m->revoked)
    return 0;
  if (crdt_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) {
    l->err = GS_ENOMEM;
    return 1;
  }
  l->v[l->n++] = *m;
  return 0;
}

static gs_err invites(node *n, node_inbox_cb cb, void *ctx, bool *stop)
{
  leaked l = {0};
  gs_err err = node_members(n, on_member, &l);
  if (!err)
    err = l.err;
  for (size_t i = 0; !err && i < l.n && !*stop; i++) {
    const node_member_info *m = &l.v[i];
    bool pair_listed = false; /* the other of the pair tells it */
    for (size_t j = 0; m->has_other && j < l.n; j++)
      if (memcmp(l.v[j].key, m->other, CRDT_KEY_LEN) == 0 &&
          memcmp(m->key, m->other, CRDT_KEY_LEN) > 0)
        pair_listed = true;
    if (pair_listed)
      continue;
    node_inbox_item it = {.kind = NODE_INBOX_INVITE_TWICE};
    char a[NODE_NAME_MAX + 16], b[NODE_NAME_MAX + 16];
    char ka[CRDT_KEY_TEXT_LEN + 1], kb[CRDT_KEY_TEXT_LEN + 1];
    node_author_text(n, m->key, a, sizeof a);
    crdt_base32_encode(m->key, CRDT_KEY_LEN, ka);
    if (m->has_other) {
      node_author_text(n, m->other, b, sizeof b);
      crdt_base32_encode(m->other, CRDT_KEY_LEN, kb);
      snprintf(it.what, sizeof it.what,
               _("The %s invite of node %s was used by node %s too, so the "
               "changes of both are held."),
               m->role, a, b);
      snprintf(it.action, sizeof it.action,
               _("Ask which laptop was really invited, then the admin runs "
               "'gridsync readmit %s' or 'gridsync readmit %s' for that one."),
               ka, kb);
    } else {
      snprintf(it.what, sizeof it.what,
               _("The %s invite of node %s was used by another node too, so "
               "its changes are held."),
               m->role, a);
      snprintf(it.action, sizeof it.action,
               _("If that laptop was really invited, the admin runs "
               "'gridsync readmit %s'."),
               ka);
    }
    if (cb(ctx, &it))
      *stop = true;
  }
  free(l.v);
  return err;
}

/* ---- forks and quarantined feeds ---- */

typedef struct bad_ctx {
  node *n;
  const char *prefix;
  node_inbox_cb cb;
  void *ctx;
  bool *stop;
} bad_ctx;

static int on_bad(void *vctx, const node_bad_feed *f)
{
  bad_ctx *x = vctx;
  if (!under(x->prefix, f->scope, strlen(f->scope)))
    return 0;
  node_inbox_item it = {.kind = NODE_INBOX_BAD_FEED};
  char a[NODE_NAME_MAX + 16], k[CRDT_KEY_TEXT_LEN + 1];
  node_author_text(x->n, f->origin, a, sizeof a);
  crdt_base32_encode(f->origin, CRDT_KEY_LEN, k);
  snprintf(it.what, sizeof it.what,
           _("The changes of node %s in grid %s were set apart from its "
           "change %" PRIu64 " on: %s"),
           a, f->scope, f->seq, f->reason);
  size_t wl = strlen(it.what);
  if (wl && it.what[wl - 1] != '.' && wl + 1 < sizeof it.what)
    memcpy(it.what + wl, ".", 2);
  if (f->frozen)
    snprintf(it.action, sizeof it.action,
             _("Nothing more of that node is taken in this grid: if its "
             "laptop or key was copied, the admin runs 'gridsync revoke %s' "
             "and its owner joins again with a new invite."),
             k);
  else
    snprintf(it.action, sizeof it.action,
             _("Sync again to fetch the rest; if it happens again, ask the "
             "owner of that node to check the laptop, or the admin runs "
             "'gridsync revoke %s'."),
             k);
  if (x->cb(x->ctx, &it)) {
    *x->stop = true;
    return 1;
  }
  return 0;
}

/* ---- held changes ---- */

typedef struct held_group {
  uint8_t origin[CRDT_KEY_LEN];
  bool clock_ahead;
  char scope[CRDT_SCOPE_MAX + 1];
  char reason[200];
  uint64_t count, stamp_ms; /* the newest stamp */
} held_group;

typedef struct held_ctx {
  const char *prefix;
  held_group v[HELD_GROUPS_MAX];
  size_t n;
  uint64_t more; /* changes of groups past HELD_GROUPS_MAX */
} held_ctx;

static int on_held(void *vctx, const node_held_info *h)
{
  held_ctx *x = vctx;
  if (!under(x->prefix, h->scope, h->scope_len))
    return 0;
  for (size_t i = 0; i < x->n; i++)
    if (x->v[i].clock_ahead == h->clock_ahead &&
        memcmp(x->v[i].origin, h->origin, CRDT_KEY_LEN) == 0) {
      x->v[i].count++;
      if (h->stamp_ms > x->v[i].stamp_ms)
        x->v[i].stamp_ms = h->stamp_ms;
      return 0;
    }
  if (x->n == HELD_GROUPS_MAX) {
    x->more++;
    return 0;
  }
  held_group *g = &x->v[x->n++];
  memcpy(g->origin, h->origin, CRDT_KEY_LEN);
  g->clock_ahead = h->clock_ahead;
  snprintf(g->scope, sizeof g->scope, "%.*s", (int)h->scope_len, h->scope);
  snprintf(g->reason, sizeof g->reason, "%s", h->reason ? h->reason : "");
  size_t rl = strlen(g->reason);
  while (rl && (g->reason[rl - 1] == '.' || g->reason[rl - 1] == ' '))
    g->reason[--rl] = '\0';
  g->count = 1;
  g->stamp_ms = h->stamp_ms;
  return 0;
}

static gs_err held(node *n, const char *prefix, node_inbox_cb cb, void *ctx,
                   bool *stop)
{
  held_ctx *x = calloc(1, sizeof *x);
  if (!x)
    return GS_ENOMEM;
  x->prefix = prefix;
  gs_err err = node_held(n, on_held, x);
  for (size_t i = 0; !err && i < x->n && !*stop; i++) {
    const held_group *g = &x->v[i];
    node_inbox_item it = {.kind = NODE_INBOX_HELD};
    char a[NODE_NAME_MAX + 16], t[40];
    node_author_text(n, g->origin, a, sizeof a);
    node_time_local(g->stamp_ms, t, sizeof t);
    snprintf(it.what, sizeof it.what,
             _("%" PRIu64 " changes by node %s in grid %s are held, not "
             "applied: %s."),
             g->count, a, g->scope, g->reason[0] ? g->reason : "held");
    if (g->clock_ahead)
      snprintf(it.action, sizeof it.action,
               _("They are applied by themselves once this node's clock "
               "reaches %s; if the clock of that node is wrong, its owner "
               "sets the right date and time and syncs again."),
               t);
    else
      snprintf(it.action, sizeof it.action,
               "%s", _("They are applied once that node's membership is confirmed: "
               "sync with the office, or ask the admin to confirm or "
               "re-admit it."));
    if (cb(ctx, &it))
      *stop = true;
  }
  free(x);
  return err;
}

/* ---- clocks ---- */

static gs_err clocks(node *n, node_inbox_cb cb, void *ctx, bool *stop)
{
  node_peer_clock pc;
  gs_err err = node_peer_clock_get(n, &pc);
  if (err == GS_OK) {
    node_inbox_item it = {.kind = NODE_INBOX_CLOCK};
    char own[40], peer[40];
    node_time_local(pc.own_ms, own, sizeof own);
    node_time_local(pc.peer_ms, peer, sizeof peer);
    snprintf(it.what, sizeof it.what,
             _("The clock of the peer at %s said %s while this node's said "
             "%s."),
             pc.addr, peer, own);
    snprintf(it.action, sizeof it.action,
             "%s", _("Set the right date and time on the laptop that is wrong: the "
             "changes it stamps too far ahead are held by the others."));
    if (cb(ctx, &it)) {
      *stop = true;
      return GS_OK;
    }
  } else if (err != GS_ENOTFOUND) {
    return err;
  }
  uint64_t skew = node_clock_skew_ms(n);
  if (skew > STORE_AHEAD_MAX_MS && !*stop) {
    node_inbox_item it = {.kind = NODE_INBOX_CLOCK};
    char now[40];
    node_time_local(node_now(n), now, sizeof now);
    snprintf(it.what, sizeof it.what,
             _("This node's clock says %s, %" PRIu64 " hours behind the "
             "newest change it holds."),
             now, skew / 3600000);
    snprintf(it.action, sizeof it.action,
             "%s", _("Check the date and time of this laptop and set them right if "
             "they are wrong."));
    if (cb(ctx, &it))
      *stop = true;
  }
  return GS_OK;
}

gs_err node_inbox(node *n, const char *prefix, node_inbox_cb cb, void *ctx)
{
  const char *p = prefix ? prefix : "";
  bool stop = false;
  if (*p && !crdt_scope_valid(p, strlen(p)))
    return GS_EINVAL;
  gs_err err = status_races(n, p, cb, ctx, &stop);
  if (!err && !stop)
    err = overdrawn(n, p, cb, ctx, &stop);
  if (!err && !stop)
    err = invites(n, cb, ctx, &stop);
  if (!err && !stop) {
    bad_ctx b = {n, p, cb, ctx, &stop};
    err = node_bad_feeds(n, on_bad, &b);
  }
  if (!err && !stop)
    err = held(n, p, cb, ctx, &stop);
  if (!err && !stop)
    err = clocks(n, cb, ctx, &stop);
  return err;
}

/* ---- as JSON (the CLI's --json, GET /api/inbox) ---- */

typedef struct json_ctx {
  node *n;
  json_t *arr;
  gs_err err;
} json_ctx;

static int on_json(void *vctx, const node_inbox_item *it)
{
  json_ctx *x = vctx;
  json_t *refs = json_array();
  for (size_t i = 0; refs && i < it->nrefs; i++) {
    char idt[CRDT_ID_TEXT_LEN + 1], name[NODE_HIT_NAME_MAX];
    crdt_base32_encode(it->refs[i].id, CRDT_ID_LEN, idt);
    node_record_name(x->n, it->refs[i].coll, it->refs[i].id, name,
                     sizeof name);
    if (json_array_append_new(refs, json_pack("{s:s, s:s, s:s}",
                                              "collection", it->refs[i].coll,
                                              "id", idt, "name", name)))
      x->err = GS_ENOMEM;
  }
  json_t *o = refs ? json_pack("{s:s, s:s, s:s, s:o}", "kind",
                               node_inbox_code(it->kind), "what", it->what,
                               "action", it->action, "refs", refs)
                   : NULL;
  if (!o || json_array_append_new(x->arr, o))
    x->err = GS_ENOMEM;
  return x->err != GS_OK;
}

gs_err node_inbox_json(node *n, const char *prefix, struct json_t **out)
{
  json_ctx x = {.n = n, .arr = json_array()};
  *out = NULL;
  if (!x.arr)
    return GS_ENOMEM;
  gs_err err = node_inbox(n, prefix, on_json, &x);
  if (!err)
    err = x.err;
  if (err) {
    json_decref(x.arr);
    return err;
  }
  *out = x.arr;
  return GS_OK;
}
