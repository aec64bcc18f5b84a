/*
 * The JSON API of the web app (docs/API.md): a thin layer over
 * node/domain.h. It parses requests and prints answers; every rule is the
 * domain layer's, so the app can do nothing the CLI's checks would refuse,
 * and a refusal carries the same reason text the CLI prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/json.h"
#include "node/node.h"
#include "web/web_internal.h"
#include "node/schema.h"
#include "node/report.h"
#include "node/member.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 500

const char *web__arg(const web_req *rq, const char *key)
{
  for (size_t i = 0; i < rq->nargs; i++)
    if (strcmp(rq->args[i].key, key) == 0)
      return rq->args[i].value;
  return NULL;
}

static unsigned http_status(gs_err code)
{
  switch (code) {
  case GS_EINVAL:
  case GS_ESCOPE:
  case GS_ENAME:
  case GS_EUTF8:
    return 400;
  case GS_EPERM:
    return 403;
  case GS_ENOTFOUND:
    return 404;
  case GS_EAMBIG:
  case GS_EEXIST:
    return 409;
  case GS_ETOOBIG:
    return 413;
  case GS_ESCHEMA:
    return 422;
  default:
    return 500;
  }
}

static void fail(web_resp *out, gs_err code, const char *text,
                 const char *field)
{
  out->status = http_status(code);
  out->json = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code",
                        gs_errname(code), "text", text, "field",
                        field && *field ? field : NULL);
}

static void refused(web_resp *out, const node_reason *why)
{
  fail(out, why->code ? why->code : GS_EINVAL, why->text, why->field);
}

static void refused_fields(node *n, web_resp *out, const node_reason *why,
                           const char *coll, json_t *fields);

static void ok(web_resp *out, unsigned status, json_t *j)
{
  if (!j) {
    fail(out, GS_ENOMEM, "out of memory", NULL);
    return;
  }
  out->status = status;
  out->json = j;
}

/* The path's segments after "/api/" into seg (borrowed copies in buf). */
static size_t split(const char *path, char *buf, size_t cap, char **seg,
                    size_t max)
{
  snprintf(buf, cap, "%s", path + 5);
  size_t n = 0;
  for (char *p = buf; *p && n < max;) {
    seg[n++] = p;
    char *s = strchr(p, '/');
    if (!s)
      break;
    *s = '\0';
    p = s + 1;
  }
  return n;
}

/* ---- records as the app shows them ---- */

/* A record's JSON with, in "names", the names of the records it refers
 * to (the app shows names, never ids). */
static json_t *record_out(node *n, const crdt_record *r)
{
  json_t *j = node_record_json(r);
  json_t *names = json_object();
  if (!j || !names) {
    json_decref(j);
    json_decref(names);
    return NULL;
  }
  char name[NODE_HIT_NAME_MAX];
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK)
      continue;
    if (!fv.is_set && fv.value.type == CRDT_REF) {
      char coll[CRDT_NAME_MAX + 1];
      snprintf(coll, sizeof coll, "%.*s", (int)fv.value.u.ref.coll_len,
               fv.value.u.ref.coll);
      node_record_name(n, coll, fv.value.u.ref.id, name, sizeof name);
      json_object_setn_new(names, fv.name, fv.name_len, json_string(name));
    } else if (fv.is_set) {
      json_t *arr = NULL;
      for (size_t k = 0; k < fv.nelems; k++) {
        crdt_value ev;
        if (crdt_record_elem(r, i, k, &ev) != GS_OK || ev.type != CRDT_REF)
          continue;
        char coll[CRDT_NAME_MAX + 1];
        snprintf(coll, sizeof coll, "%.*s", (int)ev.u.ref.coll_len,
                 ev.u.ref.coll);
        node_record_name(n, coll, ev.u.ref.id, name, sizeof name);
        if (!arr)
          arr = json_array();
        json_array_append_new(arr, json_string(name));
      }
      if (arr)
        json_object_setn_new(names, fv.name, fv.name_len, arr);
    }
  }
  char own[NODE_HIT_NAME_MAX];
  node_name_of(r, own, sizeof own);
  json_object_set_new(j, "name", json_string(own));
  json_object_set_new(j, "names", names);
  return j;
}

/* ---- GET /api/schema ---- */

static const char *type_name(node_ftype t)
{
  static const char *const names[] = {"text", "int",  "number", "bool",
                                      "date", "enum", "ref",    "tags",
                                      "texts", "refs"};
  return (size_t)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static json_t *schema_json(void)
{
  size_t nc;
  const node_coll *cs = node_schema_all(&nc);
  json_t *arr = json_array();
  for (size_t i = 0; i < nc; i++) {
    const node_coll *c = &cs[i];
    json_t *fields = json_array(), *verbs = json_array(),
           *moves = json_array();
    for (size_t k = 0; k < c->nfields; k++) {
      const node_field *f = &c->fields[k];
      json_t *vals = json_array();
      for (const char *const *v = f->values; v && *v; v++)
        json_array_append_new(
            vals, json_pack("{s:s, s:s}", "code", *v, "label",
                            node_schema_label(c->name, f->name, *v)));
      json_array_append_new(
          fields,
          json_pack("{s:s, s:s, s:s, s:b, s:o, s:s?, s:s?}", "name", f->name,
                    "label", node_schema_label(c->name, f->name, NULL),
                    "type", type_name(f->type), "required",
                    (f->flags & NODE_F_REQUIRED) != 0, "values", vals, "ref",
                    f->ref, "help", f->help));
    }
    size_t nv;
    const node_verb *v = node_schema_verbs(c->name, &nv);
    for (size_t k = 0; k < nv; k++)
      json_array_append_new(
          verbs, json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "name", v[k].name,
                           "to", v[k].to, "date", v[k].date, "to_field",
                           v[k].to_field, "help", v[k].help));
    for (size_t k = 0; k < c->nmoves; k++)
      json_array_append_new(moves, json_pack("{s:s, s:s}", "from",
                                             c->moves[k].from, "to",
                                             c->moves[k].to));
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?, s:o, s:o, s:o}",
                       "name", c->name, "label",
                       node_schema_label(c->name, NULL, NULL), "help",
                       c->help, "immutable", c->immutable, "status",
                       c->status, "initial", c->initial, "fields", fields,
                       "verbs", verbs, "moves", moves));
  }
  return json_pack("{s:o}", "collections", arr);
}

/* ---- GET /api/records/COLL ---- */

typedef struct list_out {
  node *n;
  json_t *items;
} list_out;

static int on_item(void *ctx, const crdt_record *r)
{
  list_out *l = ctx;
  json_array_append_new(l->items, record_out(l->n, r));
  return 0;
}

static bool parse_size(const char *t, size_t *out)
{
  char *end;
  if (!t || !*t || *t == '-')
    return false;
  unsigned long long v = strtoull(t, &end, 10);
  if (*end || v > 1000000000ULL)
    return false;
  *out = (size_t)v;
  return true;
}

static void list_records(node *n, const web_req *rq, const char *coll,
                         web_resp *out)
{
  node_cond conds[16];
  node_query q = {.coll = coll, .conds = conds, .limit = PAGE_DEFAULT};
  node_reason why = {0};
  const node_coll *c = node_schema_coll(coll, strlen(coll));
  for (size_t i = 0; i < rq->nargs; i++) {
    const web_arg *a = &rq->args[i];
    if (strcmp(a->key, "where") == 0) {
      if (q.nconds == 16) {
        fail(out, GS_EINVAL, "at most 16 conditions", "where");
        return;
      }
      if (!node_cond_parse(a->value, &conds[q.nconds])) {
        fail(out, GS_EINVAL,
             "where takes FIELD=VALUE, FIELD~TEXT, FIELD!=VALUE or "
             "FIELD<VALUE (<=, >, >=)",
             "where");
        return;
      }
      q.nconds++;
    } else if (strcmp(a->key, "q") == 0 && *a->value) {
      if (!c || q.nconds == 16) {
        fail(out, GS_EINVAL, "q searches a collection of the schema", "q");
        return;
      }
      node_find_cond(c, a->value, &conds[q.nconds++]);
    } else if (strcmp(a->key, "scope") == 0) {
      q.prefix = a->value;
    } else if (strcmp(a->key, "deleted") == 0) {
      q.deleted = strcmp(a->value, "1") == 0 || strcmp(a->value, "true") == 0;
    } else if (strcmp(a->key, "offset") == 0) {
      if (!parse_size(a->value, &q.offset)) {
        fail(out, GS_EINVAL, "offset takes a whole number", "offset");
        return;
      }
    } else if (strcmp(a->key, "limit") == 0) {
      if (!parse_size(a->value, &q.limit) || q.limit == 0 ||
          q.limit > PAGE_MAX) {
        fail(out, GS_EINVAL, "limit takes a whole number from 1 to 500",
             "limit");
        return;
      }
    } else {
      char t[120];
      snprintf(t, sizeof t, "unknown argument '%.60s'", a->key);
      fail(out, GS_EINVAL, t, a->key);
      return;
    }
  }
  list_out l = {.n = n, .items = json_array()};
  size_t total = 0;
  if (node_query_run(n, &q, on_item, &l, &total, &why) != GS_OK) {
    json_decref(l.items);
    refused(out, &why);
    return;
  }
  ok(out, 200,
     json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "offset",
               (json_int_t)q.offset, "limit", (json_int_t)q.limit, "items",
               l.items));
}

/* ---- writes ---- */

#define SET_ASSIGN_MAX 256 /* elements of a set given whole */

/* The set field `key` of collection c holds exactly the strings of arr
 * afterwards: texts and tags as they are, references resolved by name. */
static gs_err assign_set(node *n, node_edit *e, const node_coll *c,
                         const char *key, json_t *arr, node_reason *why)
{
  size_t k, ne = json_array_size(arr);
  json_t *el;
  const node_field *f = c ? node_schema_field(c, key, strlen(key)) : NULL;
  if (ne > SET_ASSIGN_MAX)
    return node_reason_for(why, key, GS_EINVAL,
                           "%s: at most %d elements at once", key,
                           SET_ASSIGN_MAX);
  crdt_value *v = calloc(ne ? ne : 1, sizeof *v);
  node_hit *hits = calloc(ne ? ne : 1, sizeof *hits);
  gs_err err = GS_OK;
  if (!v || !hits) {
    err = node_reason_set(why, GS_ENOMEM, "out of memory");
    goto done;
  }
  json_array_foreach(arr, k, el)
  {
    if (!json_is_string(el)) {
      err = node_reason_for(why, key, GS_EINVAL,
                            "%s: set elements are texts", key);
      goto done;
    }
    const char *t = json_string_value(el);
    if (f && f->type == NODE_F_REFS) {
      node_reason rw = {0};
      if ((err = node_resolve(n, f->ref, t, NODE_RESOLVE_LIVE, &hits[k],
                              NULL, &rw)) != GS_OK) {
        err = node_reason_for(why, key, err, "%s: %s", key, rw.text);
        goto done;
      }
      v[k].type = CRDT_REF;
      v[k].u.ref.coll = hits[k].coll;
      v[k].u.ref.coll_len = strlen(hits[k].coll);
      memcpy(v[k].u.ref.id, hits[k].id, CRDT_ID_LEN);
    } else {
      v[k].type = CRDT_STR;
      v[k].u.s.p = t;
      v[k].u.s.n = strlen(t);
    }
  }
  err = node_edit_assign(e, key, v, ne, why); /* copies the elements */
done:
  free(v);
  free(hits);
  return err;
}

/* Apply the members of fields (an object) to e: a string is read by the
 * field's type (names resolved); an array of strings adds each element
 * (assign: the set holds exactly them); other JSON values are set as
 * they are (null clears). */
static gs_err apply_fields(node *n, node_edit *e, const node_coll *c,
                           json_t *fields, bool assign, node_reason *why)
{
  const char *key;
  json_t *v;
  char err[160];
  if (!fields)
    return GS_OK;
  if (!json_is_object(fields))
    return node_reason_set(why, GS_EINVAL, "fields must be an object");
  json_object_foreach(fields, key, v)
  {
    gs_err ge;
    crdt_value cv;
    if (json_is_string(v)) {
      ge = node_edit_text(e, key, '=', json_string_value(v), why);
    } else if (json_is_array(v)) {
      size_t k;
      json_t *el;
      if (assign) {
        ge = assign_set(n, e, c, key, v, why);
      } else {
        ge = GS_OK;
        json_array_foreach(v, k, el)
        {
          if (!json_is_string(el)) {
            ge = node_reason_for(why, key, GS_EINVAL,
                                 "%s: set elements are texts", key);
            break;
          }
          if ((ge = node_edit_text(e, key, '+', json_string_value(el),
                                   why)) != GS_OK)
            break;
        }
      }
    } else {
      if (node_json_to_value(v, &cv, err, sizeof err) != GS_OK)
        return node_reason_for(why, key, GS_EINVAL, "%s: %s", key, err);
      ge = node_edit_set(e, key, &cv, why);
    }
    if (ge)
      return ge;
  }
  return GS_OK;
}

static gs_err apply_set_ops(node_edit *e, json_t *obj, char op,
                            node_reason *why)
{
  const char *key;
  json_t *v;
  if (!obj)
    return GS_OK;
  if (!json_is_object(obj))
    return node_reason_set(why, GS_EINVAL, "add and remove are objects");
  json_object_foreach(obj, key, v)
  {
    size_t k;
    json_t *el;
    if (!json_is_array(v))
      return node_reason_for(why, key, GS_EINVAL, "%s: give a list", key);
    json_array_foreach(v, k, el)
    {
      if (!json_is_string(el))
        return node_reason_for(why, key, GS_EINVAL,
                               "%s: set elements are texts", key);
      gs_err ge = node_edit_text(e, key, op, json_string_value(el), why);
      if (ge)
        return ge;
    }
  }
  return GS_OK;
}

static json_t *body_json(const web_req *rq, web_resp *out)
{
  json_error_t je;
  if (!rq->body || rq->bodylen == 0) {
    fail(out, GS_EINVAL, "the request needs a JSON body", NULL);
    return NULL;
  }
  json_t *j = json_loadb(rq->body, rq->bodylen, JSON_REJECT_DUPLICATES, &je);
  if (!j || !json_is_object(j)) {
    char t[200];
    snprintf(t, sizeof t, "the body is not a JSON object (%s)",
             j ? "another value" : je.text);
    json_decref(j);
    fail(out, GS_EINVAL, t, NULL);
    return NULL;
  }
  return j;
}

/* Commit e and answer with what was written. */
static void commit_out(node_edit *e, unsigned status, web_resp *out)
{
  node_reason why = {0};
  node_committed res;
  if (node_edit_commit(e, &res, &why) != GS_OK) {
    refused(out, &why);
    return;
  }
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(res.id, CRDT_ID_LEN, idt);
  ok(out, status,
     json_pack("{s:s, s:s, s:b, s:b, s:I}", "id", idt, "scope", res.scope,
               "created", res.created, "changed", res.changed, "seq",
               (json_int_t)res.seq));
}

static void create_record(node *n, const web_req *rq, const char *coll,
                          web_resp *out)
{
  node_reason why = {0};
  node_edit *e = NULL;
  json_t *b = body_json(rq, out);
  if (!b)
    return;
  json_t *scope = json_object_get(b, "scope");
  if (scope && !json_is_string(scope)) {
    fail(out, GS_EINVAL, "scope must be a text", "scope");
    goto done;
  }
  if (node_edit_new(n, coll, scope ? json_string_value(scope) : NULL, &e,
                    &why) != GS_OK ||
      apply_fields(n, e, node_schema_coll(coll, strlen(coll)),
                   json_object_get(b, "fields"), false, &why) != GS_OK) {
    refused_fields(n, out, &why, coll, json_object_get(b, "fields"));
    goto done;
  }
  commit_out(e, 201, out);
done:
  node_edit_free(e);
  json_decref(b);
}

static gs_err open_record(node *n, const char *coll, const char *idt,
                          node_edit **e, web_resp *out)
{
  uint8_t id[CRDT_ID_LEN];
  node_reason why = {0};
  if (node_parse_id(idt, id) != GS_OK || strlen(idt) != CRDT_ID_TEXT_LEN) {
    fail(out, GS_EINVAL, "not a record id", NULL);
    return GS_EINVAL;
  }
  gs_err err = node_edit_open(n, coll, id, false, e, &why);
  if (err)
    refused(out, &why);
  return err;
}

static void edit_record(node *n, const web_req *rq, const char *coll,
                        const char *idt, web_resp *out)
{
  node_reason why = {0};
  node_edit *e = NULL;
  json_t *b = body_json(rq, out);
  if (!b || open_record(n, coll, idt, &e, out) != GS_OK)
    goto done;
  if (apply_fields(n, e, node_schema_coll(coll, strlen(coll)),
                   json_object_get(b, "fields"), true, &why) != GS_OK ||
      apply_set_ops(e, json_object_get(b, "add"), '+', &why) != GS_OK ||
      apply_set_ops(e, json_object_get(b, "remove"), '-', &why) != GS_OK) {
    refused_fields(n, out, &why, coll, json_object_get(b, "fields"));
    goto done;
  }
  commit_out(e, 200, out);
done:
  node_edit_free(e);
  json_decref(b);
}

static void verb_record(node *n, const web_req *rq, const char *coll,
                        const char *idt, const char *verb, web_resp *out)
{
  node_reason why = {0};
  node_edit *e = NULL;
  json_t *b = body_json(rq, out);
  if (!b || open_record(n, coll, idt, &e, out) != GS_OK)
    goto done;
  json_t *date = json_object_get(b, "date"), *to = json_object_get(b, "to");
  if ((date && !json_is_string(date)) || (to && !json_is_string(to))) {
    fail(out, GS_EINVAL, "date and to are texts", NULL);
    goto done;
  }
  if (apply_fields(n, e, node_schema_coll(coll, strlen(coll)),
                   json_object_get(b, "fields"), false, &why) != GS_OK ||
      (to && node_edit_verb_to(e, verb, json_string_value(to), &why)) ||
      node_edit_verb(e, verb, date ? json_string_value(date) : NULL,
                     &why) != GS_OK) {
    refused(out, &why);
    goto done;
  }
  commit_out(e, 200, out);
done:
  node_edit_free(e);
  json_decref(b);
}

static void tomb_record(node *n, const char *coll, const char *idt, bool del,
                        web_resp *out)
{
  node_reason why = {0};
  node_edit *e = NULL;
  if (open_record(n, coll, idt, &e, out) != GS_OK)
    return;
  if (node_edit_delete(e, del, &why) != GS_OK)
    refused(out, &why);
  else
    commit_out(e, 200, out);
  node_edit_free(e);
}

static void get_record(node *n, const char *coll, const char *idt,
                       web_resp *out)
{
  uint8_t id[CRDT_ID_LEN];
  crdt_record *r;
  if (node_parse_id(idt, id) != GS_OK || strlen(idt) != CRDT_ID_TEXT_LEN) {
    fail(out, GS_EINVAL, "not a record id", NULL);
    return;
  }
  gs_err err = node_get(n, coll, id, &r);
  if (err == GS_ENOTFOUND || err == GS_ENAME) {
    fail(out, GS_ENOTFOUND, "no such record on this node", NULL);
    return;
  }
  if (err) {
    fail(out, err, gs_strerror(err), NULL);
    return;
  }
  ok(out, 200, record_out(n, r));
  crdt_record_free(r);
}

/* ---- resolve, status, report, time bank ---- */

static json_t *hit_json(const node_hit *h)
{
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(h->id, CRDT_ID_LEN, idt);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "collection",
                   h->coll, "id", idt, "scope", h->scope, "name", h->name,
                   "detail", h->detail, "deleted", h->deleted, "held",
                   h->held);
}

/* A name that matches several records: 409 with the candidates (cands
 * is freed). */
static void ambiguous(web_resp *out, const node_reason *why,
                      node_hits *cands)
{
  json_t *c = json_array();
  for (size_t i = 0; i < cands->n; i++)
    json_array_append_new(c, hit_json(&cands->v[i]));
  node_hits_free(cands);
  refused(out, why);
  json_object_set_new(json_object_get(out->json, "error"), "candidates", c);
}

/* A write refused because a name in fields matches several records:
 * the refusal with the candidates of the first such name, so that the
 * app can ask which one. */
static void refused_fields(node *n, web_resp *out, const node_reason *why,
                           const char *coll, json_t *fields)
{
  const node_coll *c = node_schema_coll(coll, strlen(coll));
  const char *key;
  json_t *v;
  if (why->code == GS_EAMBIG && c && json_is_object(fields)) {
    json_object_foreach(fields, key, v)
    {
      const node_field *f = node_schema_field(c, key, strlen(key));
      if (!f || (f->type != NODE_F_REF && f->type != NODE_F_REFS) ||
          !json_is_string(v))
        continue;
      node_hit h;
      node_hits cands = {0};
      node_reason rw = {0};
      if (node_resolve(n, f->ref, json_string_value(v), NODE_RESOLVE_LIVE,
                       &h, &cands, &rw) == GS_EAMBIG) {
        ambiguous(out, why, &cands);
        json_object_set_new(json_object_get(out->json, "error"), "field",
                            json_string(key));
        return;
      }
      node_hits_free(&cands);
    }
  }
  refused(out, why);
}

static void resolve(node *n, const web_req *rq, web_resp *out)
{
  const char *text = web__arg(rq, "text"), *refs = web__arg(rq, "refs");
  node_hit h;
  node_hits cands = {0};
  node_reason why = {0};
  if (!text) {
    fail(out, GS_EINVAL, "give text=NAME", "text");
    return;
  }
  gs_err err = node_resolve(n, refs && *refs ? refs : NULL, text, 0, &h,
                            &cands, &why);
  if (err == GS_EAMBIG) {
    ambiguous(out, &why, &cands);
    return;
  }
  if (err) {
    refused(out, &why);
    return;
  }
  ok(out, 200, hit_json(&h));
}

/* GET /api/timebank/balance?person=NAME: the account as the CLI's
 * `timebank balance --json` prints it. */
static void timebank_balance(node *n, const web_req *rq, web_resp *out)
{
  const char *person = web__arg(rq, "person");
  node_hit h;
  node_hits cands = {0};
  node_reason why = {0};
  node_balance b;
  if (!person || !*person) {
    fail(out, GS_EINVAL, "give person=NAME", "person");
    return;
  }
  gs_err err = node_resolve(n, "resident|unit|team", person,
                            NODE_RESOLVE_LIVE, &h, &cands, &why);
  if (err == GS_EAMBIG) {
    ambiguous(out, &why, &cands);
    return;
  }
  if (err) {
    refused(out, &why);
    return;
  }
  if ((err = node_timebank_balance(n, h.coll, h.id, &b)) != GS_OK) {
    fail(out, err, gs_strerror(err), NULL);
    return;
  }
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(b.id, CRDT_ID_LEN, idt);
  ok(out, 200,
     json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:I, s:b}",
               "collection", b.coll, "id", idt, "name", h.name, "balance",
               (double)b.balance / 100.0, "deposits",
               (double)b.deposits / 100.0, "spends",
               (double)b.spends / 100.0, "adjusts",
               (double)b.adjusts / 100.0, "entries", (json_int_t)b.entries,
               "overdrawn", b.balance < 0));
}

static void status(node *n, web_resp *out)
{
  node_status st;
  gs_err err = node_status_get(n, NULL, &st);
  if (err) {
    fail(out, err, gs_strerror(err), NULL);
    return;
  }
  json_t *w = json_array();
  for (size_t i = 0; i < st.nwarnings; i++)
    json_array_append_new(w, json_string(st.warnings[i]));
  char when[40] = "";
  if (st.hlc)
    node_time_text(CRDT_HLC_MS(st.hlc), when, sizeof when);
  const node_network *net = node_net(n);
  ok(out, 200,
     json_pack("{s:s, s:s?, s:s?, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:o}",
               "node", node_name(n), "network", net ? net->name : NULL,
               "role", net ? net->role : NULL, "records",
               (json_int_t)st.records, "changes", (json_int_t)st.changes,
               "forks", (json_int_t)st.forks, "last_write", when,
               "behind_changes", (json_int_t)st.behind_changes,
               "unsent", (json_int_t)st.unsent,
               "overdrawn", (json_int_t)st.noverdrawn, "warnings", w));
  node_status_free(&st);
}

/* GET /api/report: the period as the CLI's report takes it -- year=2026,
 * month=2026-11, or since and/or until (dates), one of these -- checked
 * as the CLI checks them, into the same node_report_make_period. */
static void report(node *n, const web_req *rq, web_resp *out)
{
  const char *scope = web__arg(rq, "scope"), *since = web__arg(rq, "since"),
             *until = web__arg(rq, "until"), *year = web__arg(rq, "year"),
             *month = web__arg(rq, "month");
  char ys[11], yu[11], sd[11], ud[11];
  /* an empty value is no value (a form's empty field) */
  if (since && !*since)
    since = NULL;
  if (until && !*until)
    until = NULL;
  if (year && !*year)
    year = NULL;
  if (month && !*month)
    month = NULL;
  if ((year || month) && (since || until || (year && month))) {
    fail(out, GS_EINVAL,
         _("give a year, a month, or dates from and to: one of them"),
         year && month ? "month" : "since");
    return;
  }
  if (year) {
    if (!node_report_year(year, ys, yu)) {
      fail(out, GS_EINVAL, _("the year is a year like 2026"), "year");
      return;
    }
    since = ys, until = yu;
  } else if (month) {
    if (!node_report_month(month, ys, yu)) {
      fail(out, GS_EINVAL, _("the month is a month like 2026-11"), "month");
      return;
    }
    since = ys, until = yu;
  } else {
    if (since && !node_date_parse(n, since, sd)) {
      fail(out, GS_EINVAL, _("since takes a date YYYY-MM-DD"), "since");
      return;
    }
    if (until && !node_date_parse(n, until, ud)) {
      fail(out, GS_EINVAL, _("until takes a date YYYY-MM-DD"), "until");
      return;
    }
    since = since ? sd : NULL;
    until = until ? ud : NULL;
  }
  if (since && until && strcmp(since, until) > 0) {
    fail(out, GS_EINVAL, _("the end date is before the start date"),
         "until");
    return;
  }
  if (scope && *scope && !crdt_scope_valid(scope, strlen(scope))) {
    fail(out, GS_EINVAL, "bad scope", "scope");
    return;
  }
  node_report rep;
  gs_err err = node_report_make_period(n, scope, since, until, &rep);
  if (err) {
    fail(out, err, gs_strerror(err), NULL);
    return;
  }
  json_t *j = node_report_json(&rep, scope, since);
  if (j && until)
    json_object_set_new(j, "until", json_string(until));
  ok(out, 200, j);
  node_report_free(&rep);
}

static void timebank_entry(node *n, const web_req *rq, const char *kind,
                           web_resp *out)
{
  node_reason why = {0};
  node_edit *e = NULL;
  node_hit h;
  node_hits cands = {0};
  json_t *b = body_json(rq, out);
  if (!b)
    return;
  json_t *person = json_object_get(b, "person"),
         *hours = json_object_get(b, "hours");
  if (!json_is_string(person) || !json_is_string(hours)) {
    fail(out, GS_EINVAL, "give person (a name) and hours (a text)",
         !json_is_string(person) ? "person" : "hours");
    goto done;
  }
  gs_err err = node_resolve(n, "resident|unit|team",
                            json_string_value(person), NODE_RESOLVE_LIVE, &h,
                            &cands, &why);
  if (err == GS_EAMBIG) {
    ambiguous(out, &why, &cands);
    goto done;
  }
  if (err != GS_OK ||
      node_timebank_entry(n, &h, kind, json_string_value(hours), &e,
                          &why) != GS_OK ||
      apply_fields(n, e, node_schema_coll("timebank", 8),
                   json_object_get(b, "fields"), false, &why) != GS_OK) {
    refused(out, &why);
    goto done;
  }
  commit_out(e, 201, out);
done:
  node_edit_free(e);
  json_decref(b);
}

/* ---- the conflict inbox (issue 16) ---- */

static void inbox(node *n, const web_req *rq, web_resp *out)
{
  const char *scope = web__arg(rq, "scope");
  if (scope && *scope && !crdt_scope_valid(scope, strlen(scope))) {
    fail(out, GS_EINVAL, "bad scope", "scope");
    return;
  }
  json_t *items;
  gs_err err = node_inbox_json(n, scope, &items);
  if (err) {
    fail(out, err, gs_strerror(err), NULL);
    return;
  }
  ok(out, 200, json_pack("{s:o}", "items", items));
}

/* ---- dispatch ---- */

void web__api(node *n, const web_req *rq, web_resp *out)
{
  char buf[512];
  char *seg[6];
  size_t ns = split(rq->path, buf, sizeof buf, seg, 6);
  bool get = strcmp(rq->method, "GET") == 0;
  bool post = strcmp(rq->method, "POST") == 0;
  out->json = NULL;
  out->raw = NULL;
  out->joined = false;
  if (web__api_net(n, rq, seg, ns, out)) {
    /* answered (web/api_net.c) */
  } else if (ns == 1 && strcmp(seg[0], "schema") == 0 && get) {
    ok(out, 200, schema_json());
  } else if (ns == 1 && strcmp(seg[0], "status") == 0 && get) {
    status(n, out);
  } else if (ns == 1 && strcmp(seg[0], "inbox") == 0 && get) {
    inbox(n, rq, out);
  } else if (ns == 1 && strcmp(seg[0], "report") == 0 && get) {
    report(n, rq, out);
  } else if (ns == 1 && strcmp(seg[0], "resolve") == 0 && get) {
    resolve(n, rq, out);
  } else if (ns == 2 && strcmp(seg[0], "timebank") == 0 && get &&
             strcmp(seg[1], "balance") == 0) {
    timebank_balance(n, rq, out);
  } else if (ns == 2 && strcmp(seg[0], "timebank") == 0 && post &&
             (strcmp(seg[1], "deposit") == 0 ||
              strcmp(seg[1], "spend") == 0 ||
              strcmp(seg[1], "adjust") == 0)) {
    timebank_entry(n, rq, seg[1], out);
  } else if (ns >= 2 && strcmp(seg[0], "records") == 0) {
    const char *coll = seg[1];
    if (ns == 2 && get)
      list_records(n, rq, coll, out);
    else if (ns == 2 && post)
      create_record(n, rq, coll, out);
    else if (ns == 3 && get)
      get_record(n, coll, seg[2], out);
    else if (ns == 3 && strcmp(rq->method, "PATCH") == 0)
      edit_record(n, rq, coll, seg[2], out);
    else if (ns == 3 && strcmp(rq->method, "DELETE") == 0)
      tomb_record(n, coll, seg[2], true, out);
    else if (ns == 4 && post && strcmp(seg[3], "restore") == 0)
      tomb_record(n, coll, seg[2], false, out);
    else if (ns == 5 && post && strcmp(seg[3], "verbs") == 0)
      verb_record(n, rq, coll, seg[2], seg[4], out);
    else
      fail(out, GS_ENOTFOUND, "no such API call", NULL);
  } else {
    fail(out, GS_ENOTFOUND, "no such API call", NULL);
  }
  if (!out->json && !out->raw) {
    out->status = 500;
    out->json = json_pack("{s:{s:s, s:s}}", "error", "code", "GS_ENOMEM",
                          "text", "out of memory");
  }
}
