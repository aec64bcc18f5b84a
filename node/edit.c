/*
 * The one checked write path (node/domain.h): edits of records, checked
 * and written as changes, alone or in batches.
 *
 * An edit records what the caller wants (intents, with copies of their
 * values); the ops are built only at commit, inside the write session,
 * from the record as it is then: a set assigned whole is diffed against
 * what is held, a remove names the tags seen, and the time-bank check
 * reads the balances while this process holds LMDB's write lock, so two
 * writers cannot both pass it.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"
#include "node/member.h"

/* A change of a batch holds up to BATCH_OPS ops and BATCH_BYTES of
 * ops_bytes (an upper bound of the ops' encoding): one record is refused
 * past CRDT_CHANGE_MAX - 1024 alone, so a change's header (under 400
 * bytes, scope included) and signature always fit (issue 20: bigger
 * changes, fewer signatures; they were 512 ops and 40,000 bytes) */
#define BATCH_OPS 2048
#define BATCH_BYTES (CRDT_CHANGE_MAX - 1024)
static_assert(BATCH_OPS <= CRDT_OPS_MAX, "a batch's change is valid");
static_assert(CRDT_SCOPE_MAX + 200 < 1024, "a change's header fits");

gs_err node_reason_set(node_reason *r, gs_err code, const char *fmt, ...)
{
  if (!r)
    return code;
  r->code = code;
  r->field[0] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->text, sizeof r->text, _(fmt), ap); /* issue 18 */
  va_end(ap);
  return code;
}

gs_err node_reason_for(node_reason *r, const char *field, gs_err code,
                       const char *fmt, ...)
{
  if (!r)
    return code;
  r->code = code;
  snprintf(r->field, sizeof r->field, "%s", field);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->text, sizeof r->text, _(fmt), ap); /* issue 18 */
  va_end(ap);
  return code;
}

static const char *art(const char *name)
{
  return strchr("aeiou", name[0]) ? "an" : "a";
}

/* ---- an arena of copies: a bump allocator in chunks ---- */

#define ARENA_CHUNK 65536
/* The first chunk: an edit's copies are a few hundred bytes (issue 20: a
 * first chunk of ARENA_CHUNK, made and freed for every record of a load,
 * was 5% of it, its free consolidating the heap); each next chunk is
 * twice the last, up to ARENA_CHUNK. */
#define ARENA_FIRST 1024

typedef struct arena {
  void **v;       /* chunks */
  size_t n, cap;
  size_t used, room; /* of the last chunk */
} arena;

static void *arena_alloc(arena *a, size_t n)
{
  n = (n + 15) & ~(size_t)15;
  if (n > a->room - a->used || !a->n) {
    size_t next = !a->n ? ARENA_FIRST
                  : a->room < ARENA_CHUNK / 2 ? a->room * 2
                                              : ARENA_CHUNK;
    size_t sz = n > next ? n : next;
    if (crdt_grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v) != GS_OK)
      return NULL;
    void *p = malloc(sz);
    if (!p)
      return NULL;
    if (n > ARENA_CHUNK && a->n) {
      /* a large block of its own, before the chunk being filled */
      a->v[a->n] = a->v[a->n - 1];
      a->v[a->n - 1] = p;
      a->n++;
      return p;
    }
    a->v[a->n++] = p;
    a->used = 0;
    a->room = sz;
  }
  void *p = (char *)a->v[a->n - 1] + a->used;
  a->used += n;
  return p;
}

/* Empty a for reuse, keeping the chunk being filled (the largest made
 * last) and freeing the others. */
static void arena_reset(arena *a)
{
  if (a->n <= 1) {
    a->used = 0;
    return;
  }
  for (size_t i = 0; i + 1 < a->n; i++)
    free(a->v[i]);
  a->v[0] = a->v[a->n - 1];
  a->n = 1;
  a->used = 0;
}

static void arena_free(arena *a)
{
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i]);
  free(a->v);
  memset(a, 0, sizeof *a);
}

static char *arena_strndup(arena *a, const char *s, size_t n)
{
  char *p = arena_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Copy v's borrowed bytes into a. */
static gs_err value_copy(arena *a, const crdt_value *v, crdt_value *out)
{
  *out = *v;
  if (v->type == CRDT_STR || v->type == CRDT_BYTES) {
    if (!(out->u.s.p = arena_strndup(a, v->u.s.p, v->u.s.n)))
      return GS_ENOMEM;
  } else if (v->type == CRDT_REF) {
    if (!(out->u.ref.coll = arena_strndup(a, v->u.ref.coll,
                                          v->u.ref.coll_len)))
      return GS_ENOMEM;
  }
  return GS_OK;
}

/* ---- edits ---- */

typedef enum ikind { I_SET, I_ADD, I_REMOVE, I_ASSIGN, I_TOMB } ikind;

typedef struct intent {
  ikind kind;
  const char *field; /* in the arena; "" for I_TOMB */
  size_t field_len;
  crdt_value *vals;  /* in the arena */
  size_t nvals;
  bool del;          /* I_TOMB */
} intent;

struct node_edit {
  node *n;
  const node_coll *sc; /* NULL: a free-form collection */
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
  bool create;
  bool minted; /* id made here by node_id_new (held by no record: its 80
                  random bits follow the node's last id; not looked up) */
  char scope[CRDT_SCOPE_MAX + 1];     /* the record's, or the one given */
  char ref_scope[CRDT_SCOPE_MAX + 1]; /* of the first record referred to */
  intent *iv;
  size_t ni, icap;
  arena mem;
  node_choose_cb choose; /* for ambiguous references, or NULL */
  void *choose_ctx;
};

void node_edit_set_chooser(node_edit *e, node_choose_cb choose, void *ctx)
{
  e->choose = choose;
  e->choose_ctx = ctx;
}

gs_err node__coll_known(const char *coll, bool own, node_reason *why)
{
  if (!coll || !crdt_name_valid(coll, strlen(coll)))
    return node_reason_set(why, GS_EINVAL,
                           "bad collection name '%s' (lower-case letters, "
                           "digits and '_', starting with a letter, at most "
                           "%d)",
                           coll ? coll : "", CRDT_NAME_MAX);
  if (own && coll[0] == '_')
    return GS_OK;
  if (!node_schema_coll(coll, strlen(coll)) && strncmp(coll, "x_", 2) != 0)
    return node_reason_set(why, GS_ESCHEMA,
                           "there is no collection '%s' (see 'gridsync "
                           "help'; free-form collections are named x_...)",
                           coll);
  return GS_OK;
}

static gs_err check_coll(const char *coll, node_reason *why)
{
  gs_err err;
  if (coll && coll[0] == '_' && crdt_name_valid(coll, strlen(coll)))
    return node_reason_set(why, GS_EPERM,
                           "collections starting with '_' are the node's "
                           "own");
  if ((err = node__coll_known(coll, false, why)) != GS_OK)
    return err;
  return GS_OK;
}

static gs_err check_scope(const char *scope, node_reason *why)
{
  if (!*scope)
    return node_reason_set(why, GS_EINVAL,
                           "the scope is empty: give STREET/COMMUNITY/GRID, "
                           "e.g. gongrencun/qinghejv/g07");
  if (!crdt_scope_valid(scope, strlen(scope)))
    return node_reason_set(why, GS_EINVAL,
                           "bad scope '%s': up to %d segments of letters, "
                           "digits, '_', '.' or '-' joined by '/', at most %d "
                           "bytes",
                           scope, CRDT_SCOPE_DEPTH, CRDT_SCOPE_MAX);
  return GS_OK;
}

static gs_err edit_alloc(node *n, const char *coll, node_edit **out,
                         node_reason *why)
{
  gs_err err;
  *out = NULL;
  if ((err = check_coll(coll, why)) != GS_OK)
    return err;
  node_edit *e = calloc(1, sizeof *e);
  if (!e)
    return node_reason_set(why, GS_ENOMEM, "out of memory");
  e->n = n;
  size_t cn = strlen(coll); /* check_coll: at most CRDT_NAME_MAX */
  e->sc = node_schema_coll(coll, cn);
  memcpy(e->coll, coll, cn + 1);
  *out = e;
  return GS_OK;
}

gs_err node_edit_new(node *n, const char *coll, const char *scope,
                     node_edit **out, node_reason *why)
{
  node_edit *e;
  gs_err err;
  *out = NULL;
  if (scope && (err = check_scope(scope, why)) != GS_OK)
    return err;
  if (scope && scope[0] == '_')
    return node_reason_set(why, GS_EPERM,
                           "scopes starting with '_' are reserved for the "
                           "node's own records");
  err = edit_alloc(n, coll, &e, why);
  if (err)
    return err;
  e->create = true;
  node_id_for(n, coll, strlen(coll), e->id);
  /* node_id_for's node_id_new, from the system's random bytes (an
   * injected rng may repeat its ids: those are looked up) */
  e->minted = (!e->sc || !e->sc->immutable) && !n->rng;
  if (scope && (err = node_edit_set_scope(e, scope, why)) != GS_OK) {
    node_edit_free(e);
    return err;
  }
  *out = e;
  return GS_OK;
}

/* The scope of (coll, id) as held, into scope; GS_ENOTFOUND if not. */
static int on_scope(void *ctx, const crdt_record *r)
{
  const char *s, *c;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &s, &sn, &c, &cn, id);
  snprintf(ctx, CRDT_SCOPE_MAX + 1, "%.*s", (int)sn, s);
  return 1;
}

gs_err node_edit_open(node *n, const char *coll, const uint8_t id[CRDT_ID_LEN],
                      bool create, node_edit **out, node_reason *why)
{
  node_edit *e;
  gs_err err = edit_alloc(n, coll, &e, why);
  if (err)
    return err;
  memcpy(e->id, id, CRDT_ID_LEN);
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  err = store_get(n->st, coll, strlen(coll), id, on_scope, e->scope);
  if (err == GS_ENOTFOUND && create) {
    if (e->sc && e->sc->immutable && !crdt_id_owned_by(id, n->pk)) {
      node_edit_free(e);
      return node_reason_set(why, GS_EPERM,
                             "%s %s is written once and gets its id from "
                             "this node (the id names its author): leave out "
                             "the id",
                             art(coll), coll);
    }
    e->create = true;
    err = GS_OK;
  } else if (err == GS_ENOTFOUND) {
    node_edit_free(e);
    return node_reason_set(why, GS_ENOTFOUND,
                           "no %s with id %s on this node", coll, idt);
  } else if (err) {
    node_edit_free(e);
    return node_reason_set(why, err, "cannot read %s %s: %s", coll, idt,
                           gs_i18n_strerror(err));
  }
  *out = e;
  return GS_OK;
}

void node_edit_free(node_edit *e)
{
  if (!e)
    return;
  arena_free(&e->mem);
  free(e->iv);
  free(e);
}

const uint8_t *node_edit_id(const node_edit *e)
{
  return e->id;
}

bool node_edit_creates(const node_edit *e)
{
  return e->create;
}

bool node_write_scope(node *n, char out[CRDT_SCOPE_MAX + 1])
{
  const node_network *net = node_net(n);
  out[0] = '\0';
  if (!net || net->nscopes != 1 || !net->scopes[0][0] ||
      strcmp(net->role, "reader") == 0)
    return false;
  snprintf(out, CRDT_SCOPE_MAX + 1, "%s", net->scopes[0]);
  return true;
}

const char *node_edit_scope(const node_edit *e)
{
  return e->scope[0] ? e->scope : e->ref_scope;
}

gs_err node_edit_set_scope(node_edit *e, const char *scope, node_reason *why)
{
  gs_err err = check_scope(scope, why);
  if (err)
    return err;
  if (scope[0] == '_')
    return node_reason_set(why, GS_EPERM,
                           "scopes starting with '_' are reserved for the "
                           "node's own records");
  if (!e->create && strcmp(scope, e->scope) != 0) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(e->id, CRDT_ID_LEN, idt);
    return node_reason_set(why, GS_ESCOPE,
                           "%s %s lives in scope %s, not %s (records do not "
                           "move between scopes)",
                           e->coll, idt, e->scope, scope);
  }
  memcpy(e->scope, scope, strlen(scope) + 1); /* check_scope bounds it */
  return GS_OK;
}

static bool name_is(const char *a, const char *b)
{
  return strcmp(a, b) == 0;
}

static bool is_set_type(const node_field *f)
{
  return f->type == NODE_F_TAGS || f->type == NODE_F_TEXTS ||
         f->type == NODE_F_REFS;
}

/* Add an intent on field with copies of vals. A field set whole (set or
 * assign) appears once and alone. */
static gs_err intent_add(node_edit *e, ikind kind, const char *field,
                         const crdt_value *vals, size_t nvals,
                         node_reason *why)
{
  size_t fl = strlen(field);
  if (kind != I_TOMB && !crdt_name_valid(field, fl))
    return node_reason_set(why, GS_EINVAL,
                           "bad field name '%s' (lower-case letters, digits "
                           "and '_')",
                           field);
  bool whole = kind == I_SET || kind == I_ASSIGN;
  /* (by the lengths first: a strcmp of each field against each before it
   * was 2% of a load) */
  for (size_t i = 0; kind != I_TOMB && i < e->ni; i++) {
    const intent *o = &e->iv[i];
    if (o->kind == I_TOMB || o->field_len != fl ||
        memcmp(o->field, field, fl) != 0)
      continue;
    if (whole || o->kind == I_SET || o->kind == I_ASSIGN)
      return node_reason_for(why, field, GS_EINVAL,
                             "field '%s' is given more than once", field);
  }
  for (size_t i = 0; i < nvals; i++) {
    gs_err ve = crdt_value_check(&vals[i]);
    if (ve)
      return node_reason_set(why, GS_EINVAL, "field '%s': %s", field,
                             ve == GS_ETOOBIG ? _("text longer than 16384 bytes")
                                              : gs_i18n_strerror(ve));
  }
  /* room for 16 at first: a record of a load has about ten fields (issue
   * 20: growing from 4 was three allocations a record) */
  if (crdt_grow((void **)&e->iv, &e->icap, e->ni < 16 ? 16 : e->ni + 1,
                sizeof *e->iv))
    return node_reason_set(why, GS_ENOMEM, "out of memory");
  intent *it = &e->iv[e->ni];
  memset(it, 0, sizeof *it);
  it->kind = kind;
  it->field = arena_strndup(&e->mem, field, fl);
  it->field_len = fl;
  it->vals = arena_alloc(&e->mem, (nvals ? nvals : 1) * sizeof *it->vals);
  if (!it->field || !it->vals)
    return node_reason_set(why, GS_ENOMEM, "out of memory");
  for (size_t i = 0; i < nvals; i++)
    if (value_copy(&e->mem, &vals[i], &it->vals[i]) != GS_OK)
      return node_reason_set(why, GS_ENOMEM, "out of memory");
  it->nvals = nvals;
  e->ni++;
  return GS_OK;
}

static gs_err check_elem(const char *field, const crdt_value *v,
                         node_reason *why)
{
  if (v->type != CRDT_STR && v->type != CRDT_REF)
    return node_reason_set(why, GS_EINVAL,
                           "field '%s': set elements are texts or "
                           "references",
                           field);
  return GS_OK;
}

gs_err node_edit_set(node_edit *e, const char *field, const crdt_value *v,
                     node_reason *why)
{
  return intent_add(e, I_SET, field, v, 1, why);
}

gs_err node_edit_add(node_edit *e, const char *field, const crdt_value *elem,
                     node_reason *why)
{
  gs_err err = check_elem(field, elem, why);
  return err ? err : intent_add(e, I_ADD, field, elem, 1, why);
}

gs_err node_edit_remove(node_edit *e, const char *field,
                        const crdt_value *elem, node_reason *why)
{
  gs_err err = check_elem(field, elem, why);
  return err ? err : intent_add(e, I_REMOVE, field, elem, 1, why);
}

gs_err node_edit_assign(node_edit *e, const char *field,
                        const crdt_value *elems, size_t n, node_reason *why)
{
  for (size_t i = 0; i < n; i++) {
    gs_err err = check_elem(field, &elems[i], why);
    if (err)
      return err;
  }
  return intent_add(e, I_ASSIGN, field, elems, n, why);
}

gs_err node_edit_delete(node_edit *e, bool del, node_reason *why)
{
  if (e->create)
    return node_reason_set(why, GS_ENOTFOUND,
                           "there is no such %s to %s", e->coll,
                           del ? _("delete") : _("restore"));
  gs_err err = intent_add(e, I_TOMB, "", NULL, 0, why);
  if (!err)
    e->iv[e->ni - 1].del = del;
  return err;
}

/* Note the scope of the first held record referred to. */
static void note_ref(node_edit *e, const node_hit *h)
{
  if (!e->ref_scope[0] && h->scope[0])
    snprintf(e->ref_scope, sizeof e->ref_scope, "%s", h->scope);
}

#define MOVES_MAX 16 /* links followed from a moved resident */

/* The resident that continues h (moved to another grid): h itself when
 * it did not move; the last held record of the chain otherwise. */
static int on_moved(void *ctx, const crdt_record *r)
{
  uint8_t *to = ctx;
  const char *p;
  size_t n;
  if (!node__str_field(r, "status", &p, &n) || n != 5 ||
      memcmp(p, "moved", 5) != 0 || !node__ref_field(r, "moved_to",
                                                      "resident", to))
    memset(to, 0, CRDT_ID_LEN);
  return 1;
}

gs_err node_resident_current(node *n, node_hit *h)
{
  static const uint8_t zero[CRDT_ID_LEN];
  if (strcmp(h->coll, "resident") != 0 || !h->held)
    return GS_OK;
  for (int k = 0; k < MOVES_MAX; k++) {
    uint8_t to[CRDT_ID_LEN] = {0};
    gs_err err = store_get(n->st, "resident", 8, h->id, on_moved, to);
    if (err == GS_ENOTFOUND || memcmp(to, zero, CRDT_ID_LEN) == 0)
      return GS_OK;
    if (err)
      return err;
    char text[CRDT_ID_TEXT_LEN + 16];
    memcpy(text, "resident/", 9);
    crdt_base32_encode(to, CRDT_ID_LEN, text + 9);
    node_hit next;
    if (node_resolve(n, "resident", text, 0, &next, NULL, NULL) != GS_OK ||
        !next.held)
      return GS_OK; /* the continuation is not held here: keep h */
    *h = next;
  }
  return GS_OK;
}

gs_err node_edit_text(node_edit *e, const char *field, char op,
                      const char *text, node_reason *why)
{
  const node_field *f =
      e->sc ? node_schema_field(e->sc, field, strlen(field)) : NULL;
  crdt_value v = {.type = CRDT_STR};
  v.u.s.p = text;
  v.u.s.n = strlen(text);
  if (op != '=' && op != '+' && op != '-')
    return node_reason_set(why, GS_EINVAL, "internal: bad edit op");
  if (e->sc && !f)
    return node_reason_set(why, GS_EINVAL,
                           "%s %s has no field '%s' (see 'gridsync %s "
                           "fields')",
                           art(e->coll), e->coll, field, e->coll);
  if (f && (op == '+' || op == '-') && !is_set_type(f))
    return node_reason_set(why, GS_EINVAL,
                           "field '%s' holds one value, not a set: give "
                           "%s=VALUE",
                           field, field);
  char *end, day[11], phone[NODE_PHONE_MAX];
  if (f) {
    switch (f->type) {
    case NODE_F_TEXT:
      /* a phone is kept without the spaces and dashes people type */
      if ((strcmp(f->name, "phone") == 0 ||
           (strlen(f->name) > 6 &&
            strcmp(f->name + strlen(f->name) - 6, "_phone") == 0)) &&
          node_phone_norm(text, strlen(text), phone, sizeof phone) &&
          phone[0]) {
        v.u.s.p = phone;
        v.u.s.n = strlen(phone);
      }
      break;
    case NODE_F_DATE:
      /* a date as people write it, stored YYYY-MM-DD; anything else is
       * refused by the schema check */
      if (node_date_parse(e->n, text, day)) {
        v.u.s.p = day;
        v.u.s.n = 10;
      }
      break;
    case NODE_F_INT: {
      long long x = strtoll(text, &end, 10);
      if (!*text || *end)
        return node_reason_set(why, GS_EINVAL,
                               "%s takes a whole number, not '%s'", field,
                               text);
      v.type = CRDT_INT;
      v.u.i = x;
      break;
    }
    case NODE_F_NUM: {
      double x = strtod(text, &end);
      if (!*text || *end || !isfinite(x))
        return node_reason_set(why, GS_EINVAL, "%s takes a number, not '%s'",
                               field, text);
      if (x == floor(x) && fabs(x) < 9e15) {
        v.type = CRDT_INT;
        v.u.i = (int64_t)x;
      } else {
        v.type = CRDT_FLOAT;
        v.u.f = x;
      }
      break;
    }
    case NODE_F_ENUM:
    case NODE_F_TAGS: {
      /* the code, or its Chinese label; anything else is refused by the
       * schema check with the list of allowed values */
      const char *code = node_schema_code(e->coll, f, text);
      if (code) {
        v.u.s.p = code;
        v.u.s.n = strlen(code);
      }
      break;
    }
    case NODE_F_BOOL:
      if (strcmp(text, "true") && strcmp(text, "false"))
        return node_reason_set(why, GS_EINVAL, "%s takes true or false",
                               field);
      v.type = CRDT_BOOL;
      v.u.b = text[0] == 't';
      break;
    case NODE_F_REF:
    case NODE_F_REFS: {
      node_hit h;
      node_reason rw;
      gs_err err = node_resolve_choose(e->n, f->ref, text, NODE_RESOLVE_LIVE,
                                       e->choose, e->choose_ctx, field, &h,
                                       &rw);
      if (err)
        return node_reason_set(why, err, "%s: %s", field, rw.text);
      /* a resident who moved to another grid is referred to by the
       * record that continues them (the links themselves excepted) */
      if (op != '-' && strcmp(field, "moved_to") != 0 &&
          strcmp(field, "moved_from") != 0 &&
          (err = node_resident_current(e->n, &h)) != GS_OK)
        return node_reason_set(why, err, _("cannot read the store: %s"),
                               gs_strerror(err));
      v.type = CRDT_REF;
      v.u.ref.coll = h.coll;
      v.u.ref.coll_len = strlen(h.coll);
      memcpy(v.u.ref.id, h.id, CRDT_ID_LEN);
      note_ref(e, &h);
      /* copied by intent_add before h goes */
      if (f->type == NODE_F_REF)
        return node_edit_set(e, field, &v, why);
      return op == '-' ? node_edit_remove(e, field, &v, why)
                       : node_edit_add(e, field, &v, why);
    }
    default:
      break;
    }
  }
  if (op == '+')
    return node_edit_add(e, field, &v, why);
  if (op == '-')
    return node_edit_remove(e, field, &v, why);
  return node_edit_set(e, field, &v, why);
}

/* Today's local date of the node's clock ("1970-01-01" when it is out of
 * range: the schema's date order then refuses what it must). */
static void today(node *n, char out[11])
{
  node_today(n, 0, out);
}

static bool has_intent(const node_edit *e, const char *field)
{
  for (size_t i = 0; i < e->ni; i++)
    if (e->iv[i].kind != I_TOMB && name_is(e->iv[i].field, field))
      return true;
  return false;
}

gs_err node_edit_verb(node_edit *e, const char *verb, const char *date,
                      node_reason *why)
{
  const node_verb *v = node_schema_verb(e->coll, verb);
  if (!v)
    return node_reason_set(why, GS_EINVAL, "%s %s has no verb '%s'",
                           art(e->coll), e->coll, verb);
  if (date && !v->date)
    return node_reason_set(why, GS_EINVAL, "%s %s keeps no date", e->coll,
                           verb);
  char day[11];
  if (date && !node_date_parse(e->n, date, day))
    return node_reason_set(why, GS_EINVAL,
                           "'%s' is not a date: give 2026-12-05, 2026/12/5, "
                           "2026年12月5日, 今天 or 昨天",
                           date);
  if (date)
    date = day;
  crdt_value nil = {.type = CRDT_NIL};
  gs_err err;
  for (size_t k = 0; k < 2 && v->clears[k]; k++)
    if ((err = node_edit_set(e, v->clears[k], &nil, why)) != GS_OK)
      return err;
  crdt_value s = {.type = CRDT_STR};
  s.u.s.p = v->to;
  s.u.s.n = strlen(v->to);
  if ((err = node_edit_set(e, e->sc->status, &s, why)) != GS_OK)
    return err;
  if (v->date) {
    char t[11];
    today(e->n, t);
    const char *d = date ? date : t;
    s.u.s.p = d;
    s.u.s.n = strlen(d);
    if ((err = node_edit_set(e, v->date, &s, why)) != GS_OK)
      return err;
  }
  return GS_OK;
}

gs_err node_edit_verb_to(node_edit *e, const char *verb, const char *text,
                         node_reason *why)
{
  const node_verb *v = node_schema_verb(e->coll, verb);
  if (!v || !v->to_field)
    return node_reason_set(why, GS_EINVAL,
                           "%s %s names no one who does it", e->coll, verb);
  gs_err err = node_edit_text(e, v->to_field, '=', text, why);
  /* a task several units claim keeps each of them (an add-wins set),
   * also when two claim it apart */
  if (!err && strcmp(e->coll, "task") == 0 && strcmp(verb, "claim") == 0)
    for (size_t i = e->ni; i-- > 0;)
      if (e->iv[i].kind == I_SET && name_is(e->iv[i].field, v->to_field)) {
        crdt_value ref = e->iv[i].vals[0];
        err = node_edit_add(e, "claimants", &ref, why);
        break;
      }
  return err;
}

/* ---- building ops at commit ---- */

typedef struct opbuild {
  crdt_op *ops;
  size_t n, cap;
  arena mem; /* tags */
} opbuild;

static crdt_op *op_add(opbuild *b, const node_edit *e, crdt_op_kind kind,
                       const char *field)
{
  if (crdt_grow((void **)&b->ops, &b->cap, b->n + 1, sizeof *b->ops))
    return NULL;
  crdt_op *op = &b->ops[b->n++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->coll = e->coll;
  op->coll_len = strlen(e->coll);
  memcpy(op->id, e->id, CRDT_ID_LEN);
  op->field = field;
  op->field_len = strlen(field);
  return op;
}

/* A REMOVE of elem naming the tags r holds of it; nothing when none. */
static gs_err op_remove(opbuild *b, const node_edit *e, const crdt_record *r,
                        const char *field, const crdt_value *elem)
{
  crdt_stamp *tags = NULL;
  size_t ntags = 0;
  if (!r || crdt_record_elem_tags(r, field, strlen(field), elem, &tags,
                                  &ntags) != GS_OK ||
      ntags == 0) {
    free(tags);
    return GS_OK;
  }
  crdt_stamp *kept = arena_alloc(&b->mem, ntags * sizeof *kept);
  if (kept)
    memcpy(kept, tags, ntags * sizeof *kept);
  free(tags);
  crdt_op *op = kept ? op_add(b, e, CRDT_OP_REMOVE, field) : NULL;
  if (!op)
    return GS_ENOMEM;
  op->value = *elem;
  op->tags = kept;
  op->ntags = ntags;
  return GS_OK;
}

static gs_err build_ops(opbuild *b, const node_edit *e, const crdt_record *r)
{
  /* about one op an intent: room for them at once (issue 20: growing from
   * 4 made three allocations a record of a load) */
  gs_err err = crdt_grow((void **)&b->ops, &b->cap, e->ni ? e->ni : 1,
                         sizeof *b->ops);
  for (size_t i = 0; i < e->ni && !err; i++) {
    const intent *it = &e->iv[i];
    crdt_op *op;
    switch (it->kind) {
    case I_SET:
    case I_ADD:
      if (!(op = op_add(b, e, it->kind == I_SET ? CRDT_OP_SET : CRDT_OP_ADD,
                        it->field)))
        return GS_ENOMEM;
      op->value = it->vals[0];
      break;
    case I_REMOVE:
      err = op_remove(b, e, r, it->field, &it->vals[0]);
      break;
    case I_TOMB:
      if (r && crdt_record_deleted(r) == it->del)
        break; /* already so */
      if (!(op = op_add(b, e, it->del ? CRDT_OP_DELETE : CRDT_OP_RESTORE,
                        "")))
        return GS_ENOMEM;
      op->field = NULL;
      op->field_len = 0;
      break;
    case I_ASSIGN: {
      /* remove what is held and not wanted; add what is wanted and not
       * held */
      long fi = r ? crdt_record_find(r, it->field, strlen(it->field)) : -1;
      crdt_field_view fv;
      bool *held = calloc(it->nvals ? it->nvals : 1, sizeof *held);
      if (!held)
        return GS_ENOMEM;
      if (fi >= 0 && crdt_record_field(r, (size_t)fi, &fv) == GS_OK &&
          fv.is_set) {
        for (size_t k = 0; k < fv.nelems && !err; k++) {
          crdt_value hv;
          if (crdt_record_elem(r, (size_t)fi, k, &hv) != GS_OK)
            continue;
          bool keep = false;
          for (size_t m = 0; m < it->nvals; m++)
            if (crdt_value_equal(&hv, &it->vals[m]))
              keep = held[m] = true;
          if (!keep)
            err = op_remove(b, e, r, it->field, &hv);
        }
      }
      for (size_t m = 0; m < it->nvals && !err; m++) {
        if (held[m])
          continue;
        if (!(op = op_add(b, e, CRDT_OP_ADD, it->field))) {
          err = GS_ENOMEM;
          break;
        }
        op->value = it->vals[m];
      }
      free(held);
      break;
    }
    }
  }
  return err;
}

/* Defaults of a new record: its status, required dates today. */
static gs_err add_defaults(node_edit *e, node_reason *why)
{
  if (!e->create || !e->sc)
    return GS_OK;
  gs_err err;
  crdt_value s = {.type = CRDT_STR};
  /* a status that is not required (a resident's) is left unset: its
   * absence is the initial state, and old records read the same */
  const node_field *sf =
      e->sc->status ? node_schema_field(e->sc, e->sc->status,
                                        strlen(e->sc->status))
                    : NULL;
  if (sf && (sf->flags & NODE_F_REQUIRED) && !has_intent(e, e->sc->status)) {
    s.u.s.p = e->sc->initial;
    s.u.s.n = strlen(e->sc->initial);
    if ((err = node_edit_set(e, e->sc->status, &s, why)) != GS_OK)
      return err;
  }
  char t[11];
  today(e->n, t);
  for (size_t k = 0; k < e->sc->nfields; k++) {
    const node_field *f = &e->sc->fields[k];
    if (f->type != NODE_F_DATE || !(f->flags & NODE_F_REQUIRED) ||
        has_intent(e, f->name))
      continue;
    s.u.s.p = t;
    s.u.s.n = 10;
    if ((err = node_edit_set(e, f->name, &s, why)) != GS_OK)
      return err;
  }
  return GS_OK;
}

/* The value this edit sets field to, or NULL. */
static const crdt_value *intent_value(const node_edit *e, const char *field)
{
  for (size_t i = e->ni; i-- > 0;)
    if (e->iv[i].kind == I_SET && name_is(e->iv[i].field, field))
      return &e->iv[i].vals[0];
  return NULL;
}

typedef struct corr_ctx {
  bool held;
  char kind[16];
} corr_ctx;

static int on_corrected(void *ctx, const crdt_record *r)
{
  corr_ctx *c = ctx;
  const char *p;
  size_t n;
  c->held = !crdt_record_deleted(r);
  if (node__str_field(r, "kind", &p, &n) && n < sizeof c->kind) {
    memcpy(c->kind, p, n);
    c->kind[n] = '\0';
  }
  return 1;
}

/* A correction (a visit's, a time-bank entry's) names a held record of
 * its own collection: a visit its author's own visit; a time-bank
 * correction is an adjust of a deposit or a spend. */
static gs_err corrects_rule(const node_edit *e, node_reason *why)
{
  const crdt_value *c = intent_value(e, "corrects");
  if (!c || c->type != CRDT_REF)
    return GS_OK;
  if (memcmp(c->u.ref.id, e->id, CRDT_ID_LEN) == 0)
    return node_reason_for(why, "corrects", GS_ESCHEMA,
                           _("an entry cannot correct itself"));
  corr_ctx cc = {0};
  gs_err err = store_get(e->n->st, e->coll, strlen(e->coll), c->u.ref.id,
                         on_corrected, &cc);
  if (err && err != GS_ENOTFOUND)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  if (!cc.held)
    return node_reason_for(why, "corrects", GS_ENOTFOUND,
                           _("the entry to correct is not held on this node"));
  if (strcmp(e->coll, "visit") == 0 &&
      !crdt_id_owned_by(c->u.ref.id, e->n->pk))
    return node_reason_for(why, "corrects", GS_EPERM,
                           _("only the author of a visit can correct it: "
                             "record a new visit instead"));
  if (strcmp(e->coll, "timebank") == 0) {
    const crdt_value *k = intent_value(e, "kind");
    if (!k || k->type != CRDT_STR || k->u.s.n != 6 ||
        memcmp(k->u.s.p, "adjust", 6) != 0)
      return node_reason_for(why, "corrects", GS_ESCHEMA,
                             _("only an adjust corrects another entry"));
    if (strcmp(cc.kind, "deposit") && strcmp(cc.kind, "spend"))
      return node_reason_for(why, "corrects", GS_ESCHEMA,
                             _("a correction corrects a deposit or a spend"));
  }
  return GS_OK;
}

/* The scope of a held record, for person_scope_rule. */
typedef struct scope_probe {
  char scope[CRDT_SCOPE_MAX + 1];
  bool found;
} scope_probe;

static int on_person_scope(void *ctx, const crdt_record *r)
{
  scope_probe *sp = ctx;
  const char *sc, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &sc, &sn, &coll, &cn, id);
  if (sn < sizeof sp->scope) {
    memcpy(sp->scope, sc, sn);
    sp->scope[sn] = '\0';
    sp->found = true;
  }
  return 1;
}

/* A time-bank entry's person lives under the entry's scope: every member
 * node checks so on receipt (node/member.c), and holds an entry whose
 * person it does not hold there, with every later change of its author;
 * so this node does not write one. */
static gs_err person_scope_rule(const node_edit *e, node_reason *why)
{
  const crdt_value *pv = intent_value(e, "person");
  if (!pv || pv->type != CRDT_REF)
    return GS_OK;
  scope_probe sp = {{0}, false};
  gs_err err = store_get(node__store(e->n), pv->u.ref.coll,
                         pv->u.ref.coll_len, pv->u.ref.id, on_person_scope,
                         &sp);
  if (err == GS_ENOTFOUND || (err == GS_OK && !sp.found))
    return GS_OK; /* the schema's reference check reports it */
  if (err)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  const char *scope = e->scope;
  if (!crdt_scope_under(sp.scope, strlen(sp.scope), scope, strlen(scope)))
    return node_reason_for(why, "scope", GS_EPERM,
                           _("a time-bank entry goes in the grid of its "
                             "person (%s) or above it, not in %s"),
                           sp.scope, scope);
  return GS_OK;
}

/* Rules of the domain that read more than one field. */
static gs_err domain_rules(const node_edit *e, node_reason *why)
{
  if (e->create && (strcmp(e->coll, "visit") == 0 ||
                    strcmp(e->coll, "timebank") == 0)) {
    gs_err err = corrects_rule(e, why);
    if (err)
      return err;
  }
  if (!e->create || strcmp(e->coll, "timebank") != 0)
    return GS_OK;
  gs_err perr = person_scope_rule(e, why);
  if (perr)
    return perr;
  bool adjust = false;
  for (size_t i = 0; i < e->ni; i++)
    if (e->iv[i].kind == I_SET && name_is(e->iv[i].field, "kind") &&
        e->iv[i].vals[0].type == CRDT_STR &&
        e->iv[i].vals[0].u.s.n == 6 &&
        memcmp(e->iv[i].vals[0].u.s.p, "adjust", 6) == 0)
      adjust = true;
  if (adjust && !has_intent(e, "note"))
    return node_reason_for(why, "note", GS_EINVAL,
                           "an adjustment needs a note saying why");
  return GS_OK;
}

/* ---- batches ---- */

struct node_batch {
  node *n;
  unsigned flags;
  store_write *w;
  char scope[CRDT_SCOPE_MAX + 1]; /* of the change being filled */
  char ok_scope[CRDT_SCOPE_MAX + 1]; /* last scope permission allowed */
  crdt_op *ops;
  size_t nops, cap, bytes;
  arena keep; /* what queued ops borrow */
  crdt_op *put_ops; /* batch_put's ops, kept for the next put */
  size_t put_cap;
  node_timebank_batch tb;
  uint64_t records, changes;
  bool broken; /* a write failed: only abort remains */
};

gs_err node_batch_begin(node *n, unsigned flags, node_batch **out)
{
  node_batch *b = calloc(1, sizeof *b);
  *out = NULL;
  if (!b)
    return GS_ENOMEM;
  b->n = n;
  b->flags = flags;
  if (flags & NODE_BATCH_CHECK) { /* nothing written: no session */
    *out = b;
    return GS_OK;
  }
  gs_err err = store_write_begin(n->st, n->sk, &b->w);
  if (err) {
    free(b);
    return err;
  }
  *out = b;
  return GS_OK;
}

/* ---- a load's mark (issue 20) ----
 * A load written in several transactions keeps, in each, how far it got
 * under meta "load:" + the hex of its digest: lines (8 bytes, little
 * endian) then records (8). The last transaction deletes it. */
#define MARK_PREFIX "load:"

static void mark_key(const uint8_t digest[CRDT_HASH_LEN], char *key,
                     size_t cap)
{
  static const char hex[] = "0123456789abcdef";
  size_t k = (size_t)snprintf(key, cap, "%s", MARK_PREFIX);
  for (size_t i = 0; i < CRDT_HASH_LEN && k + 2 < cap; i++) {
    key[k++] = hex[digest[i] >> 4];
    key[k++] = hex[digest[i] & 15];
  }
  key[k] = '\0';
}

gs_err node_load_mark(node *n, const uint8_t digest[CRDT_HASH_LEN],
                      uint64_t *lines, uint64_t *records)
{
  char key[STORE_WRITE_META_KEY + 1];
  uint8_t v[16];
  size_t len = 0;
  mark_key(digest, key, sizeof key);
  gs_err err = store_meta_get(n->st, key, v, sizeof v, &len);
  if (err)
    return err;
  if (len != sizeof v)
    return GS_ECORRUPT;
  *lines = *records = 0;
  for (int i = 7; i >= 0; i--) {
    *lines = *lines << 8 | v[i];
    *records = *records << 8 | v[8 + i];
  }
  return GS_OK;
}

gs_err node_load_marks_any(node *n, bool *any)
{
  return store_meta_any(n->st, MARK_PREFIX, any);
}

gs_err node_batch_mark(node_batch *b, const uint8_t digest[CRDT_HASH_LEN],
                       uint64_t lines, uint64_t records)
{
  char key[STORE_WRITE_META_KEY + 1];
  uint8_t v[16];
  if (!b->w)
    return GS_OK; /* a check writes nothing */
  mark_key(digest, key, sizeof key);
  for (int i = 0; i < 8; i++) {
    v[i] = (uint8_t)(lines >> (8 * i));
    v[8 + i] = (uint8_t)(records >> (8 * i));
  }
  return store_write_meta(b->w, key, lines ? v : NULL, sizeof v);
}

void node_batch_abort(node_batch *b)
{
  if (!b)
    return;
  store_write_abort(b->w);
  arena_free(&b->keep);
  free(b->ops);
  free(b->put_ops);
  node_timebank_batch_free(&b->tb);
  free(b);
}

uint64_t node_batch_records(const node_batch *b)
{
  return b->records;
}

uint64_t node_batch_changes(const node_batch *b)
{
  return b->changes;
}

static gs_err flush(node_batch *b, uint64_t *seq)
{
  if (b->nops == 0)
    return GS_OK;
  gs_err err = store_write_change(b->w, b->scope, strlen(b->scope), b->ops,
                                  b->nops, node_now(b->n), seq, NULL);
  b->nops = b->bytes = 0;
  arena_reset(&b->keep); /* its chunk kept for the next change */
  if (err) {
    b->broken = true;
    return err;
  }
  b->changes++;
  return GS_OK;
}

static size_t value_bytes(const crdt_value *v)
{
  switch (v->type) {
  case CRDT_STR:
  case CRDT_BYTES:
    return v->u.s.n + 5;
  case CRDT_REF:
    return v->u.ref.coll_len + CRDT_ID_LEN + 6;
  default:
    return 9;
  }
}

/* Copy ops (and what they borrow) into the batch's change. */
static gs_err queue_ops(node_batch *b, const crdt_op *ops, size_t n)
{
  if (crdt_grow((void **)&b->ops, &b->cap, b->nops + n, sizeof *b->ops))
    return GS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    crdt_op *op = &b->ops[b->nops];
    *op = ops[i];
    /* the ops of one record name its collection by one pointer: one copy
     * for them, which crdt_change_build_unsigned then checks once */
    if (i && ops[i].coll == ops[i - 1].coll &&
        ops[i].coll_len == ops[i - 1].coll_len)
      op->coll = op[-1].coll;
    else if (!(op->coll = arena_strndup(&b->keep, ops[i].coll,
                                        ops[i].coll_len)))
      return GS_ENOMEM;
    if (ops[i].field &&
        !(op->field = arena_strndup(&b->keep, ops[i].field,
                                    ops[i].field_len)))
      return GS_ENOMEM;
    if (value_copy(&b->keep, &ops[i].value, &op->value) != GS_OK)
      return GS_ENOMEM;
    if (ops[i].ntags) {
      crdt_stamp *t = arena_alloc(&b->keep, ops[i].ntags * sizeof *t);
      if (!t)
        return GS_ENOMEM;
      memcpy(t, ops[i].tags, ops[i].ntags * sizeof *t);
      op->tags = t;
    }
    b->nops++;
  }
  return GS_OK;
}

static size_t ops_bytes(const crdt_op *ops, size_t n)
{
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++)
    bytes += 24 + ops[i].coll_len + ops[i].field_len +
             value_bytes(&ops[i].value) + 48 * ops[i].ntags;
  return bytes;
}

/* Copy the held record of e (NULL when none) into *out. */
static int on_copy(void *ctx, const crdt_record *r)
{
  crdt_record **out = ctx;
  if (!*out)
    crdt_record_copy(r, out); /* *out NULL if it fails */
  return 1;
}

/* May this node write in scope? (The last scope allowed is kept: a
 * batch of one grid's records asks once.) */
static gs_err check_perm(node_batch *b, const char *scope, node_reason *why)
{
  if (strcmp(b->ok_scope, scope) == 0)
    return GS_OK;
  char w[NODE_REASON_MAX];
  gs_err err = node_may_write(b->n, scope, strlen(scope), w, sizeof w);
  if (err)
    return node_reason_set(why, err, "%s", w);
  snprintf(b->ok_scope, sizeof b->ok_scope, "%s", scope);
  return GS_OK;
}

/* Queue the checked ops of one record (scope: where it lives): the
 * size, the permission, the time bank (for a new record), then into the
 * change of its scope, a new change when the scope differs or the change
 * is full. */
static gs_err batch_queue(node_batch *b, const char *scope,
                          const crdt_op *ops, size_t n, bool created,
                          node_reason *why)
{
  gs_err err;
  if (n == 0)
    return GS_OK;
  size_t bytes = ops_bytes(ops, n);
  if (n > CRDT_OPS_MAX || bytes > CRDT_CHANGE_MAX - 1024)
    return node_reason_set(why, GS_ETOOBIG,
                           "the change is too large (over %d bytes encoded "
                           "or %d ops): split it into several",
                           CRDT_CHANGE_MAX, CRDT_OPS_MAX);
  if ((err = check_perm(b, scope, why)) != GS_OK)
    return err;
  if (created && (err = node_timebank_batch_add(&b->tb, ops, n)) != GS_OK)
    return node_reason_set(why, err, "out of memory");
  if (b->flags & NODE_BATCH_CHECK) { /* checked: nothing to queue */
    b->records++;
    return GS_OK;
  }
  if (strcmp(b->scope, scope) != 0 || b->nops + n > BATCH_OPS ||
      b->bytes + bytes > BATCH_BYTES) {
    if ((err = flush(b, NULL)) != GS_OK)
      return node_reason_set(why, err, "cannot write: %s", gs_i18n_strerror(err));
    snprintf(b->scope, sizeof b->scope, "%s", scope);
  }
  if ((err = queue_ops(b, ops, n)) != GS_OK) {
    b->broken = true;
    return node_reason_set(why, err, "out of memory");
  }
  b->bytes += bytes;
  b->records++;
  return GS_OK;
}

gs_err node__batch_put_ops(node_batch *b, const char *scope,
                           const crdt_op *ops, size_t n, node_reason *why)
{
  char sw[NODE_REASON_MAX];
  gs_err err;
  if (b->broken)
    return node_reason_set(why, GS_EINVAL,
                           "internal: the batch failed earlier");
  if ((err = check_scope(scope, why)) != GS_OK)
    return err;
  if ((err = node_schema_check(NULL, ops, n,
                               (b->flags & NODE_BATCH_IMPORT)
                                   ? NODE_SCHEMA_IMPORT
                                   : 0,
                               sw, sizeof sw)) != GS_OK)
    return node_reason_set(why, err, "%s", sw);
  return batch_queue(b, scope, ops, n, true, why);
}

/* The text of e's id into buf, for a message. */
static const char *id_text(const node_edit *e, char buf[CRDT_ID_TEXT_LEN + 1])
{
  crdt_base32_encode(e->id, CRDT_ID_LEN, buf);
  return buf;
}

static gs_err batch_put(node_batch *b, node_edit *e, node_committed *res,
                        node_reason *why)
{
  node *n = b->n;
  crdt_record *r = NULL;
  /* the ops array of the last put, reused (issue 20: one made and freed
   * for each record of a load) */
  opbuild ob = {.ops = b->put_ops, .cap = b->put_cap};
  char idt[CRDT_ID_TEXT_LEN + 1];
  gs_err err;

  /* idt: the id as text, made only for a message (id_text) */
  /* the record as it is now (this process holds the write lock); an id
   * node_id_new just made names no record (issue 20: the look-up was 4%
   * of a load) */
  err = e->minted ? GS_ENOTFOUND
                  : store_get(n->st, e->coll, strlen(e->coll), e->id,
                              on_copy, &r);
  if (err && err != GS_ENOTFOUND) {
    err = node_reason_set(why, err, "cannot read %s %s: %s", e->coll,
                          id_text(e, idt), gs_i18n_strerror(err));
    goto out;
  }
  if (err == GS_OK && !r) {
    err = node_reason_set(why, GS_ENOMEM, "out of memory");
    goto out;
  }
  err = GS_OK;
  if (r && (b->flags & NODE_BATCH_NEW_ONLY)) {
    err = node_reason_set(why, GS_EEXIST,
                          "%s %s is held already: this adds new records "
                          "only (edit it instead)",
                          e->coll, id_text(e, idt));
    goto out;
  }
  if (r && e->create) {
    if (b->flags & NODE_BATCH_NEW_ONLY) {
      err = node_reason_set(why, GS_EEXIST,
                            "%s %s is held already: this adds new records "
                            "only (edit it instead)",
                            e->coll, id_text(e, idt));
      goto out;
    }
    /* another writer made it meanwhile: an edit of it now */
    const char *s, *c;
    size_t sn, cn;
    uint8_t rid[CRDT_ID_LEN];
    crdt_record_identity(r, &s, &sn, &c, &cn, rid);
    if (e->scope[0] && (strlen(e->scope) != sn ||
                        memcmp(e->scope, s, sn) != 0)) {
      err = node_reason_set(why, GS_ESCOPE,
                            "%s %s lives in scope %.*s, not %s (records do "
                            "not move between scopes)",
                            e->coll, id_text(e, idt), (int)sn, s, e->scope);
      goto out;
    }
    snprintf(e->scope, sizeof e->scope, "%.*s", (int)sn, s);
    e->create = false;
  } else if (!r && !e->create) {
    err = node_reason_set(why, GS_ENOTFOUND, "no %s with id %s on this node",
                          e->coll, id_text(e, idt));
    goto out;
  }
  if (!(b->flags & NODE_BATCH_IMPORT) &&
      (err = add_defaults(e, why)) != GS_OK)
    goto out;
  if (!e->scope[0] && e->ref_scope[0])
    snprintf(e->scope, sizeof e->scope, "%s", e->ref_scope);
  if (!e->scope[0])
    node_write_scope(n, e->scope); /* the one grid of a leader */
  if (!e->scope[0]) {
    err = node_reason_for(why, "scope", GS_EINVAL,
                          "a new record needs a scope: where does it belong "
                          "(STREET/COMMUNITY/GRID)?");
    goto out;
  }
  if (e->ni == 0) {
    err = node_reason_set(why, GS_EINVAL,
                          "nothing to write: give the fields to set");
    goto out;
  }
  if ((err = check_perm(b, e->scope, why)) != GS_OK ||
      (err = domain_rules(e, why)) != GS_OK)
    goto out;
  if ((err = build_ops(&ob, e, r)) != GS_OK) {
    err = node_reason_set(why, err, "out of memory");
    goto out;
  }
  char sw[NODE_REASON_MAX];
  if ((err = node_schema_check(r, ob.ops, ob.n,
                               (b->flags & NODE_BATCH_IMPORT)
                                   ? NODE_SCHEMA_IMPORT
                                   : 0,
                               sw, sizeof sw)) != GS_OK) {
    err = node_reason_set(why, err, "%s", sw);
    goto out;
  }
  if (res) {
    memset(res, 0, sizeof *res);
    memcpy(res->id, e->id, CRDT_ID_LEN);
    snprintf(res->scope, sizeof res->scope, "%s", e->scope);
    res->created = e->create;
    res->changed = ob.n > 0;
  }
  err = batch_queue(b, e->scope, ob.ops, ob.n, e->create, why);
out:
  arena_free(&ob.mem);
  b->put_ops = ob.ops;
  b->put_cap = ob.cap;
  crdt_record_free(r);
  return err;
}

gs_err node_batch_put(node_batch *b, node_edit *e, node_committed *res,
                      node_reason *why)
{
  if (b->broken)
    return node_reason_set(why, GS_EINVAL,
                           "internal: the batch failed earlier");
  /* a refused edit leaves the edit as it was: defaults are added to a
   * copy of its intents' count and taken back */
  size_t ni = e->ni;
  bool create = e->create;
  char scope[CRDT_SCOPE_MAX + 1];
  memcpy(scope, e->scope, sizeof scope);
  gs_err err = batch_put(b, e, res, why);
  if (err) {
    e->ni = ni;
    e->create = create;
    memcpy(e->scope, scope, sizeof scope);
  }
  return err;
}

gs_err node_batch_commit(node_batch *b, uint64_t *changes, node_reason *why)
{
  gs_err err;
  char tw[NODE_REASON_MAX];
  if (b->broken) {
    node_batch_abort(b);
    return node_reason_set(why, GS_EINVAL,
                           "internal: the batch failed earlier");
  }
  /* under the write lock: nobody else's spend can land in between */
  if ((err = node_timebank_check_batch(b->n, &b->tb, tw, sizeof tw)) !=
      GS_OK) {
    node_batch_abort(b);
    return err == GS_ESCHEMA
               ? node_reason_set(why, err, "%s", tw)
               : node_reason_set(why, err, "cannot read the store: %s",
                                 gs_i18n_strerror(err));
  }
  if (b->flags & NODE_BATCH_CHECK) {
    node_batch_abort(b);
    return GS_OK;
  }
  if ((err = flush(b, NULL)) != GS_OK) {
    node_batch_abort(b);
    return node_reason_set(why, err,
                           err == GS_ETOOBIG
                               ? "the change is too large: split it"
                               : "cannot write: %s",
                           gs_i18n_strerror(err));
  }
  store_write *w = b->w;
  b->w = NULL;
  if (changes)
    *changes = b->changes;
  node_batch_abort(b);
  if ((err = store_write_commit(w)) != GS_OK)
    return node_reason_set(why, err, "cannot write: %s", gs_i18n_strerror(err));
  return GS_OK;
}

gs_err node_edit_commit(node_edit *e, node_committed *res, node_reason *why)
{
  node_batch *b;
  node_committed local;
  if (!res)
    res = &local;
  gs_err err = node_batch_begin(e->n, 0, &b);
  if (err)
    return node_reason_set(why, err, "cannot write: %s", gs_i18n_strerror(err));
  if ((err = batch_put(b, e, res, why)) != GS_OK) {
    node_batch_abort(b);
    return err;
  }
  if (!res->changed) {
    node_batch_abort(b);
    return GS_OK;
  }
  uint64_t seq = 0;
  if ((err = flush(b, &seq)) != GS_OK) {
    node_batch_abort(b);
    return node_reason_set(why, err,
                           err == GS_ETOOBIG
                               ? "the change is too large (over %d bytes "
                                 "encoded or %d ops): split it into several "
                                 "commands"
                               : _("cannot write"),
                           CRDT_CHANGE_MAX, CRDT_OPS_MAX);
  }
  res->seq = seq;
  return node_batch_commit(b, NULL, why);
}

/* ---- the time bank ---- */

gs_err node_timebank_entry(node *n, const node_hit *person, const char *kind,
                           const char *hours, node_edit **out,
                           node_reason *why)
{
  char *end;
  *out = NULL;
  double h = strtod(hours, &end);
  if (!*hours || *end || !isfinite(h) ||
      strspn(hours, "-+0123456789.") != strlen(hours))
    return node_reason_set(why, GS_EINVAL,
                           "hours must be a number, not '%s'", hours);
  node_edit *e;
  gs_err err = node_edit_new(n, "timebank", NULL, &e, why);
  if (err)
    return err;
  crdt_value pv = {.type = CRDT_REF};
  pv.u.ref.coll = person->coll;
  pv.u.ref.coll_len = strlen(person->coll);
  memcpy(pv.u.ref.id, person->id, CRDT_ID_LEN);
  crdt_value kv = {.type = CRDT_STR};
  kv.u.s.p = kind;
  kv.u.s.n = strlen(kind);
  crdt_value hv;
  if (h == floor(h) && fabs(h) < 9e15)
    hv = (crdt_value){.type = CRDT_INT, .u.i = (int64_t)h};
  else
    hv = (crdt_value){.type = CRDT_FLOAT, .u.f = h};
  if ((err = node_edit_set(e, "person", &pv, why)) != GS_OK ||
      (err = node_edit_set(e, "kind", &kv, why)) != GS_OK ||
      (err = node_edit_set(e, "hours", &hv, why)) != GS_OK) {
    node_edit_free(e);
    return err;
  }
  note_ref(e, person);
  *out = e;
  return GS_OK;
}

/* ---- a resident moving to another grid (issue 16) ---- */

/* Fields a move does not carry over: the address (the new one is given)
 * and the old record's own state. */
static bool move_skips(const char *f, size_t n)
{
  static const char *const skip[] = {"household", "building", "unit",
                                     "room",      "status",   "moved_out",
                                     "move_reason", "moved_to", "moved_from",
                                     NULL};
  for (const char *const *s = skip; *s; s++)
    if (strlen(*s) == n && memcmp(*s, f, n) == 0)
      return true;
  return false;
}

gs_err node_resident_move(node *n, const uint8_t id[CRDT_ID_LEN],
                          node_edit *to, const char *date,
                          const char *reason, node_committed *res,
                          node_reason *why)
{
  crdt_record *r = NULL;
  node_edit *old = NULL;
  node_batch *b = NULL;
  char day[11], name[CRDT_NAME_MAX + 1];
  gs_err err;
  if (strcmp(to->coll, "resident") != 0 || !to->create)
    return node_reason_set(why, GS_EINVAL,
                           "internal: a move writes a new resident");
  if (!to->scope[0] && to->ref_scope[0])
    snprintf(to->scope, sizeof to->scope, "%s", to->ref_scope);
  if (!to->scope[0])
    return node_reason_for(why, "scope", GS_EINVAL,
                           _("to which grid? give its scope "
                             "(STREET/COMMUNITY/GRID)"));
  if (date && !node_date_parse(n, date, day))
    return node_reason_set(why, GS_EINVAL,
                           _("'%s' is not a date: give 2026-12-05, "
                             "2026/12/5, 2026年12月5日, 今天 or 昨天"),
                           date);
  if (!date)
    today(n, day);
  err = store_get(n->st, "resident", 8, id, on_copy, &r);
  if (err == GS_ENOTFOUND || (!err && (!r || crdt_record_deleted(r)))) {
    crdt_record_free(r);
    return node_reason_set(why, GS_ENOTFOUND,
                           _("no such resident on this node"));
  }
  if (err)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  const char *p, *sc, *cl;
  size_t pn, scn, cn;
  uint8_t rid[CRDT_ID_LEN];
  crdt_record_identity(r, &sc, &scn, &cl, &cn, rid);
  if (node__str_field(r, "status", &p, &pn) && !(pn == 6 &&
                                                 memcmp(p, "living", 6) == 0)) {
    err = node_reason_set(why, GS_ESCHEMA,
                          _("this resident has moved out already (%.*s)"),
                          (int)pn, p);
    goto out;
  }
  if (strlen(to->scope) == scn && memcmp(to->scope, sc, scn) == 0) {
    err = node_reason_for(why, "scope", GS_EINVAL,
                          _("the resident lives in %s already: a move goes "
                            "to another grid"),
                          to->scope);
    goto out;
  }
  /* the new record: what the person carries (name, phone, tags...) */
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK ||
        move_skips(fv.name, fv.name_len) || fv.name_len > CRDT_NAME_MAX ||
        !node_schema_field(to->sc, fv.name, fv.name_len))
      continue;
    memcpy(name, fv.name, fv.name_len);
    name[fv.name_len] = '\0';
    if (has_intent(to, name))
      continue; /* given anew by the caller */
    if (fv.is_set) {
      for (size_t j = 0; j < fv.nelems && !err; j++) {
        crdt_value v;
        if (crdt_record_elem(r, i, j, &v) == GS_OK)
          err = node_edit_add(to, name, &v, why);
      }
    } else if (fv.value.type != CRDT_NIL) {
      err = node_edit_set(to, name, &fv.value, why);
    }
    if (err)
      goto out;
  }
  crdt_value ref = {.type = CRDT_REF};
  ref.u.ref.coll = "resident";
  ref.u.ref.coll_len = 8;
  memcpy(ref.u.ref.id, id, CRDT_ID_LEN);
  if ((err = node_edit_set(to, "moved_from", &ref, why)) != GS_OK)
    goto out;
  /* the old record: marked moved, linked to its continuation */
  if ((err = node_edit_open(n, "resident", id, false, &old, why)) != GS_OK)
    goto out;
  crdt_value s = {.type = CRDT_STR};
  s.u.s.p = "moved";
  s.u.s.n = 5;
  memcpy(ref.u.ref.id, to->id, CRDT_ID_LEN);
  crdt_value d = {.type = CRDT_STR};
  d.u.s.p = day;
  d.u.s.n = 10;
  if ((err = node_edit_set(old, "status", &s, why)) != GS_OK ||
      (err = node_edit_set(old, "moved_to", &ref, why)) != GS_OK ||
      (err = node_edit_set(old, "moved_out", &d, why)) != GS_OK ||
      (reason && *reason &&
       (err = node_edit_text(old, "move_reason", '=', reason, why)) !=
           GS_OK))
    goto out;
  /* both in one transaction: never a half move */
  if ((err = node_batch_begin(n, 0, &b)) != GS_OK) {
    err = node_reason_set(why, err, _("cannot write: %s"), gs_strerror(err));
    goto out;
  }
  if ((err = node_batch_put(b, to, res, why)) != GS_OK ||
      (err = node_batch_put(b, old, NULL, why)) != GS_OK) {
    node_batch_abort(b);
    goto out;
  }
  err = node_batch_commit(b, NULL, why);
out:
  node_edit_free(old);
  crdt_record_free(r);
  return err;
}

/* ---- an appeal opened from a visit's finding in one step ---- */

typedef struct visit_view {
  bool held;
  char scope[CRDT_SCOPE_MAX + 1];
  char date[11], by[NODE_HIT_NAME_MAX];
  char notes[512];
  bool has_household, has_resident;
  uint8_t household[CRDT_ID_LEN], resident[CRDT_ID_LEN];
  char finding[16]; /* the first finding that is not "none" */
} visit_view;

static void copy_text(char *buf, size_t cap, const char *p, size_t n)
{
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
      n--; /* at a UTF-8 boundary */
  }
  memcpy(buf, p, n);
  buf[n] = '\0';
}

static int on_visit_view(void *ctx, const crdt_record *r)
{
  visit_view *v = ctx;
  const char *p, *sc, *cl;
  size_t n, scn, cn;
  uint8_t id[CRDT_ID_LEN];
  if (crdt_record_deleted(r))
    return 1;
  v->held = true;
  crdt_record_identity(r, &sc, &scn, &cl, &cn, id);
  copy_text(v->scope, sizeof v->scope, sc, scn);
  if (node__str_field(r, "date", &p, &n) && n == 10)
    copy_text(v->date, sizeof v->date, p, n);
  if (node__str_field(r, "by", &p, &n))
    copy_text(v->by, sizeof v->by, p, n);
  if (node__str_field(r, "notes", &p, &n))
    copy_text(v->notes, sizeof v->notes, p, n);
  v->has_household = node__ref_field(r, "household", "household",
                                     v->household);
  v->has_resident = node__ref_field(r, "resident", "resident", v->resident);
  long fi = crdt_record_find(r, "findings", 8);
  crdt_field_view fv;
  /* the most urgent finding decides the appeal's category */
  static const char *const urgent[] = {
      "fire-hazard", "hazard", "theft", "fraud", "stray-dog",
      "fall",        "health", "dispute", "need", NULL};
  size_t best = sizeof urgent / sizeof *urgent;
  if (fi >= 0 && crdt_record_field(r, (size_t)fi, &fv) == GS_OK && fv.is_set)
    for (size_t j = 0; j < fv.nelems; j++) {
      crdt_value e;
      if (crdt_record_elem(r, (size_t)fi, j, &e) != GS_OK ||
          e.type != CRDT_STR)
        continue;
      for (size_t k = 0; urgent[k] && k < best; k++)
        if (strlen(urgent[k]) == e.u.s.n &&
            memcmp(urgent[k], e.u.s.p, e.u.s.n) == 0)
          best = k;
    }
  if (best < sizeof urgent / sizeof *urgent - 1)
    snprintf(v->finding, sizeof v->finding, "%s", urgent[best]);
  return 1;
}

/* The appeal category a finding opens. */
static const char *finding_category(const char *f)
{
  if (!strcmp(f, "dispute"))
    return "dispute";
  if (!strcmp(f, "fall") || !strcmp(f, "health"))
    return "elderly-care";
  if (!strcmp(f, "need"))
    return "other";
  return "safety"; /* hazard, fire-hazard, theft, fraud, stray-dog */
}

gs_err node_visit_appeal(node *n, const uint8_t visit[CRDT_ID_LEN],
                         const char *category, const char *description,
                         node_edit **out, node_reason *why)
{
  visit_view v = {0};
  *out = NULL;
  gs_err err = store_get(n->st, "visit", 5, visit, on_visit_view, &v);
  if (err && err != GS_ENOTFOUND)
    return node_reason_set(why, err, _("cannot read the store: %s"),
                           gs_strerror(err));
  if (!v.held)
    return node_reason_set(why, GS_ENOTFOUND,
                           _("no such visit on this node"));
  if (!v.finding[0])
    return node_reason_for(why, "findings", GS_ESCHEMA,
                           _("this visit found nothing to follow up (no "
                             "finding but 'none')"));
  node_edit *e;
  if ((err = node_edit_new(n, "appeal", v.scope, &e, why)) != GS_OK)
    return err;
  char desc[600];
  if (!description || !*description) {
    if (v.notes[0])
      snprintf(desc, sizeof desc, "%s", v.notes);
    else
      snprintf(desc, sizeof desc, "%s",
               node_schema_label("visit", "findings", v.finding));
    description = desc;
  }
  crdt_value ref = {.type = CRDT_REF};
  ref.u.ref.coll = "visit";
  ref.u.ref.coll_len = 5;
  memcpy(ref.u.ref.id, visit, CRDT_ID_LEN);
  if ((err = node_edit_text(e, "category", '=',
                            category && *category
                                ? category
                                : finding_category(v.finding),
                            why)) != GS_OK ||
      (err = node_edit_text(e, "description", '=', description, why)) !=
          GS_OK ||
      (err = node_edit_text(e, "source", '=', "visit", why)) != GS_OK ||
      (err = node_edit_set(e, "visit", &ref, why)) != GS_OK ||
      (v.date[0] &&
       (err = node_edit_text(e, "opened", '=', v.date, why)) != GS_OK) ||
      (v.by[0] &&
       (err = node_edit_text(e, "opened_by", '=', v.by, why)) != GS_OK))
    goto fail;
  if (v.has_household) {
    ref.u.ref.coll = "household";
    ref.u.ref.coll_len = 9;
    memcpy(ref.u.ref.id, v.household, CRDT_ID_LEN);
    if ((err = node_edit_set(e, "household", &ref, why)) != GS_OK)
      goto fail;
  }
  if (v.has_resident) {
    ref.u.ref.coll = "resident";
    ref.u.ref.coll_len = 8;
    memcpy(ref.u.ref.id, v.resident, CRDT_ID_LEN);
    if ((err = node_edit_set(e, "resident", &ref, why)) != GS_OK)
      goto fail;
  }
  *out = e;
  return GS_OK;
fail:
  node_edit_free(e);
  return err;
}
