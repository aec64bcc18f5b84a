/*
 * The web app's calls about the network and the door-knocking questions
 * (docs/API.md): households not visited lately, the address book and
 * "sync now", members, invites (with their QR code), joining, revoking,
 * and USB bundles through the browser. A thin layer over node/: every
 * rule is node/'s; this file parses requests and prints answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crdt/gs_i18n.h"
#include "node/bundle.h"
#include "node/domain.h"
#include "node/json.h"
#include "node/member.h"
#include "node/netnode.h"
#include "node/node.h"
#include "node/qr.h"
#include "web/web.h"
#include "web/web_internal.h"

#define UNVISITED_DEFAULT 500 /* rows one answer holds */
#define UNVISITED_MAX 5000
#define INVITE_DAYS_MAX 365
#define DAY_MS (24ull * 3600 * 1000)

static void fail(web_resp *out, unsigned status, gs_err code,
                 const char *text, const char *field)
{
  out->status = status;
  out->json = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code",
                        gs_errname(code), "text", text, "field",
                        field && *field ? field : NULL);
}

static json_t *body_of(const web_req *rq, web_resp *out)
{
  json_error_t je;
  json_t *j = rq->body && rq->bodylen
                  ? json_loadb(rq->body, rq->bodylen, JSON_REJECT_DUPLICATES,
                               &je)
                  : NULL;
  if (!json_is_object(j)) {
    json_decref(j);
    fail(out, 400, GS_EINVAL, _("the body is not a JSON object"), NULL);
    return NULL;
  }
  return j;
}

static bool whole(const char *t, long lo, long hi, long *v)
{
  char *end;
  if (!t || !*t || *t == '-' || *t == '+')
    return false;
  errno = 0;
  long x = strtol(t, &end, 10);
  if (*end || errno || x < lo || x > hi)
    return false;
  *v = x;
  return true;
}

/* ---- GET /api/unvisited?days=N&building=NAME&scope=PREFIX&limit=N ---- */

typedef struct unv_ctx {
  json_t *items;
  json_t *per; /* building name -> households (in order of first seen) */
  json_t *order;
  size_t total, limit;
} unv_ctx;

static int on_unvisited(void *ctx, const node_unvisited_item *it)
{
  unv_ctx *u = ctx;
  json_t *k = json_object_get(u->per, it->building);
  if (k) {
    json_integer_set(k, json_integer_value(k) + 1);
  } else {
    json_object_set_new(u->per, it->building, json_integer(1));
    json_array_append_new(u->order, json_string(it->building));
  }
  if (u->total++ >= u->limit)
    return 0;
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(it->id, CRDT_ID_LEN, idt);
  json_array_append_new(
      u->items,
      json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I}", "id", idt, "scope",
                it->scope, "building", it->building, "address", it->address,
                "last", it->last[0] ? it->last : NULL, "days",
                (json_int_t)it->days));
  return 0;
}

static void unvisited(node *n, const web_req *rq, web_resp *out)
{
  long days = 90, limit = UNVISITED_DEFAULT;
  const char *d = web__arg(rq, "days"), *b = web__arg(rq, "building"),
             *scope = web__arg(rq, "scope"), *l = web__arg(rq, "limit");
  if (d && !whole(d, 1, 3660, &days)) {
    fail(out, 400, GS_EINVAL, _("days takes a whole number from 1 to 3660"),
         "days");
    return;
  }
  if (l && !whole(l, 1, UNVISITED_MAX, &limit)) {
    fail(out, 400, GS_EINVAL, _("limit takes a whole number from 1 to 5000"),
         "limit");
    return;
  }
  if (scope && *scope && !crdt_scope_valid(scope, strlen(scope))) {
    fail(out, 400, GS_EINVAL, _("bad scope"), "scope");
    return;
  }
  unv_ctx u = {.items = json_array(), .per = json_object(),
               .order = json_array(), .limit = (size_t)limit};
  node_reason why = {0};
  gs_err err = node_unvisited(n, scope, b && *b ? b : NULL, (int)days,
                              on_unvisited, &u, &why);
  json_t *per = json_array();
  size_t i;
  json_t *name;
  json_array_foreach(u.order, i, name)
  {
    json_array_append_new(
        per, json_pack("{s:O, s:O}", "building", name, "households",
                       json_object_get(u.per, json_string_value(name))));
  }
  json_decref(u.per);
  json_decref(u.order);
  if (err) {
    json_decref(u.items);
    json_decref(per);
    fail(out, err == GS_ENOTFOUND ? 404 : 400, err,
         why.text[0] ? why.text : gs_strerror(err), "building");
    return;
  }
  out->status = 200;
  out->json = json_pack("{s:I, s:I, s:o, s:o}", "days", (json_int_t)days,
                        "total", (json_int_t)u.total, "buildings", per,
                        "items", u.items);
}

/* ---- GET /api/peers, POST /api/sync ---- */

typedef struct peers_ctx {
  node_server *srv;
  json_t *items;
  node *n;
} peers_ctx;

static json_t *when_json(uint64_t ms)
{
  char t[40];
  if (!ms)
    return json_null();
  node_time_text(ms, t, sizeof t);
  return json_string(t);
}

static int on_peer(void *ctx, const node_peer_info *p)
{
  peers_ctx *pc = ctx;
  char key[CRDT_KEY_TEXT_LEN + 1] = "";
  /* the peer named as the members are (node_member_label); "" unknown */
  char label[NODE_NAME_MAX + NODE_MEMBER_NAME_MAX + 64] = "";
  node_member_info mi;
  if (p->key) {
    crdt_base32_encode(p->key, CRDT_KEY_LEN, key);
    if (node_member_get(pc->n, p->key, &mi) == GS_OK)
      node_member_label(pc->n, &mi, label, sizeof label, NULL, 0);
  }
  json_array_append_new(
      pc->items,
      json_pack("{s:s, s:o, s:o, s:I, s:s?, s:s, s:s?, s:s?, s:b, s:s}",
                "addr", p->addr, "last_ok", when_json(p->last_ok_ms),
                "last_try", when_json(p->last_try_ms), "failures",
                (json_int_t)p->failures, "note", p->note, "kind",
                node_peer_kind_code(p->kind), "outcome",
                p->kind == NODE_PEER_OK ? NULL
                                        : _(node_peer_kind_text(p->kind)),
                "key", key[0] ? key : NULL, "reachable",
                node_server_connected(pc->srv, p->addr), "name", label));
  return 0;
}

static void peers(node *n, const web_req *rq, web_resp *out)
{
  peers_ctx pc = {.srv = rq->srv, .items = json_array(), .n = n};
  gs_err err = node_peers(n, on_peer, &pc);
  if (err) {
    json_decref(pc.items);
    fail(out, 500, err, gs_strerror(err), NULL);
    return;
  }
  out->status = 200;
  out->json = json_pack("{s:b, s:o}", "serving", rq->srv != NULL, "items",
                        pc.items);
}

static void sync_now(const web_req *rq, web_resp *out)
{
  size_t started = 0, connected = 0;
  if (!rq->srv) {
    fail(out, 503, GS_ECLOSED,
         _("this app does not run in 'gridsync serve': sync with "
           "'gridsync sync ADDRESS'"),
         NULL);
    return;
  }
  gs_err err = node_server_sync_now(rq->srv, &started, &connected);
  if (err) {
    fail(out, 500, err, gs_strerror(err), NULL);
    return;
  }
  out->status = 200;
  out->json = json_pack("{s:I, s:I}", "started", (json_int_t)started,
                        "connected", (json_int_t)connected);
}

/* ---- GET /api/members, POST /api/revoke ---- */

static const char *state_code(node_member_state s)
{
  switch (s) {
  case NODE_MEMBER_VALID:
    return "valid";
  case NODE_MEMBER_UNWITNESSED:
    return "unwitnessed";
  case NODE_MEMBER_LEAKED:
    return "leaked";
  case NODE_MEMBER_VOID:
    return "void";
  default:
    return "none";
  }
}

typedef struct mem_ctx {
  node *n;
  json_t *items;
} mem_ctx;

static int on_member(void *ctx, const node_member_info *m)
{
  mem_ctx *mc = ctx;
  char key[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(m->key, CRDT_KEY_LEN, key);
  const node_network *net = node_net(mc->n);
  /* named in words (node_member_label), never by its key */
  char label[NODE_NAME_MAX + NODE_MEMBER_NAME_MAX + 64], grid[NODE_NAME_MAX + 1];
  node_member_label(mc->n, m, label, sizeof label, grid, sizeof grid);
  bool self = memcmp(m->key, node_pk(mc->n), CRDT_KEY_LEN) == 0;
  json_array_append_new(
      mc->items,
      json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:s, s:s, s:s, s:s}", "key",
                key, "role", m->role, "state", state_code(m->state),
                "expires", when_json(m->expires), "revoked", m->revoked,
                "self", self, "admin",
                net && memcmp(m->key, net->admin, CRDT_KEY_LEN) == 0, "for",
                m->name, "name",
                *m->name ? m->name : self ? node_name(mc->n) : "", "grid",
                grid, "label", label));
  return 0;
}

static void members(node *n, web_resp *out)
{
  mem_ctx mc = {.n = n, .items = json_array()};
  gs_err err = node_net(n) ? node_members(n, on_member, &mc) : GS_OK;
  if (err) {
    json_decref(mc.items);
    fail(out, 500, err, gs_strerror(err), NULL);
    return;
  }
  const node_network *net = node_net(n);
  out->status = 200;
  out->json = json_pack(
      "{s:b, s:o}", "root_admin",
      net && memcmp(net->admin, node_pk(n), CRDT_KEY_LEN) == 0 &&
          strcmp(net->role, "admin") == 0,
      "items", mc.items);
}

static void revoke_member(node *n, const web_req *rq, web_resp *out)
{
  json_t *b = body_of(rq, out);
  uint8_t key[CRDT_KEY_LEN];
  size_t kept = 0;
  if (!b)
    return;
  const char *k = json_string_value(json_object_get(b, "key"));
  if (!k || strlen(k) != CRDT_KEY_TEXT_LEN ||
      crdt_base32_decode(k, strlen(k), key, CRDT_KEY_LEN) != GS_OK) {
    fail(out, 400, GS_EINVAL, _("key takes a node id (52 characters)"),
         "key");
    goto done;
  }
  gs_err err = node_revoke(n, key, &kept);
  if (err == GS_ENOTFOUND)
    fail(out, 404, err, _("this node has no network"), NULL);
  else if (err == GS_EPERM)
    fail(out, 403, err, _("only the network's admin can revoke"), NULL);
  else if (err == GS_EINVAL)
    fail(out, 400, err, _("the admin cannot revoke itself"), "key");
  else if (err)
    fail(out, 500, err, gs_strerror(err), NULL);
  else {
    out->status = 200;
    out->json = json_pack("{s:s, s:I}", "revoked", k, "feeds_kept",
                          (json_int_t)kept);
  }
done:
  json_decref(b);
}

/* ---- POST /api/invite, POST /api/join ---- */

static void invite(node *n, const web_req *rq, web_resp *out)
{
  json_t *b = body_of(rq, out);
  char *code = NULL, *svg = NULL;
  size_t svglen = 0;
  long days = 7;
  if (!b)
    return;
  const char *role = json_string_value(json_object_get(b, "role"));
  const char *scope = json_string_value(json_object_get(b, "scope"));
  json_t *jd = json_object_get(b, "days");
  if (!role || !node_role_valid(role)) {
    fail(out, 400, GS_EINVAL,
         _("role takes admin, office, leader or reader"), "role");
    goto done;
  }
  if (!scope || !*scope || !crdt_scope_valid(scope, strlen(scope))) {
    fail(out, 400, GS_EINVAL,
         _("scope takes a grid's scope (e.g. street/community/grid)"),
         "scope");
    goto done;
  }
  if (jd && (!json_is_integer(jd) || json_integer_value(jd) < 1 ||
             json_integer_value(jd) > INVITE_DAYS_MAX)) {
    fail(out, 400, GS_EINVAL, _("days takes 1 to 365"), "days");
    goto done;
  }
  if (jd)
    days = (long)json_integer_value(jd);
  /* who it is for ("王阿姨, 3号楼"): optional, bounded and checked */
  json_t *jf = json_object_get(b, "for");
  const char *who = jf && json_is_string(jf) ? json_string_value(jf) : NULL;
  if ((jf && !json_is_string(jf) && !json_is_null(jf)) ||
      (who && *who && !node_member_name_valid(who))) {
    fail(out, 400, GS_EINVAL,
         _("say whom the invite is for in at most 60 bytes of text (about "
           "20 Chinese characters), without line breaks"),
         "for");
    goto done;
  }
  uint64_t expires = node_now(n) + (uint64_t)days * DAY_MS;
  const char *scopes[1] = {scope};
  gs_err err = node_invite_for(n, role, scopes, 1, expires, who, &code);
  if (err == GS_ENOTFOUND) {
    fail(out, 404, err, _("this node has no network"), NULL);
    goto done;
  }
  if (err == GS_EPERM) {
    fail(out, 403, err,
         _("only the node that created the network can invite"), NULL);
    goto done;
  }
  if (err || (err = node_qr_svg(code, &svg, &svglen)) != GS_OK) {
    fail(out, 500, err, gs_strerror(err), NULL);
    goto done;
  }
  out->status = 201;
  out->json = json_pack("{s:s, s:s, s:s, s:o, s:s#, s:s}", "code", code,
                        "role", role, "scope", scope, "expires",
                        when_json(expires), "svg", svg, (int)svglen, "for",
                        who ? who : "");
done:
  if (code) {
    crdt_wipe(code, strlen(code));
    free(code);
  }
  free(svg);
  json_decref(b);
}

static void join_network(node *n, const web_req *rq, web_resp *out)
{
  json_t *b = body_of(rq, out);
  if (!b)
    return;
  const char *code = json_string_value(json_object_get(b, "code"));
  if (!code || !*code || strlen(code) > NODE_QR_MAX) {
    fail(out, 400, GS_EINVAL, _("paste the invite code"), "code");
    goto done;
  }
  gs_err err = node_join(n, code);
  switch (err) {
  case GS_OK: {
    const node_network *net = node_net(n);
    json_t *js = json_array();
    for (size_t i = 0; i < net->nscopes; i++)
      json_array_append_new(js, json_string(net->scopes[i]));
    out->status = 200;
    out->json = json_pack("{s:s, s:s, s:o}", "network", net->name, "role",
                          net->role, "scopes", js);
    out->joined = true;
    break;
  }
  case GS_EEXIST:
    fail(out, 409, err,
         _("this node already belongs to a network (or joined with this "
           "code already)"),
         "code");
    break;
  case GS_ETIMEOUT:
    fail(out, 422, err, _("the invite code has expired; ask for a new one"),
         "code");
    break;
  case GS_ESIG:
    fail(out, 422, err,
         _("the invite code's signature is wrong (altered or forged code)"),
         "code");
    break;
  case GS_EDECODE:
  case GS_ETOOBIG:
  case GS_EUTF8:
  case GS_ESCOPE:
  case GS_ETRUNC:
  case GS_ETRAILING:
    fail(out, 422, GS_EDECODE,
         _("this is not a valid invite code (mistyped?)"), "code");
    break;
  default:
    fail(out, 500, err, gs_strerror(err), NULL);
    break;
  }
done:
  json_decref(b);
}

/* ---- GET /api/bundle, POST /api/bundle ---- */

/* A fresh temporary file in the node's directory (the bundle holds the
 * network's records: it stays where they are), its name into path. */
static int temp_file(node *n, char *path, size_t cap)
{
  snprintf(path, cap, "%s/ui-bundle-XXXXXX", node_dir(n));
  return mkstemp(path);
}

static void bundle_export(node *n, const web_req *rq, web_resp *out)
{
  char path[4200];
  const char *scope = web__arg(rq, "scope");
  node_bundle_info info;
  if (scope && *scope && !crdt_scope_valid(scope, strlen(scope))) {
    fail(out, 400, GS_EINVAL, _("bad scope"), "scope");
    return;
  }
  if (!node_net(n)) {
    fail(out, 404, GS_ENOTFOUND, _("this node has no network"), NULL);
    return;
  }
  int fd = temp_file(n, path, sizeof path);
  if (fd < 0) {
    fail(out, 500, (-EIO), _("cannot write a temporary file"), NULL);
    return;
  }
  close(fd);
  gs_err err = node_export(n, path, scope && *scope ? scope : NULL, NULL,
                           NULL, &info);
  FILE *f = err ? NULL : fopen(path, "rb");
  struct stat sb;
  if (err || !f || fstat(fileno(f), &sb) != 0) {
    fail(out, 500, err ? err : (-EIO), gs_strerror(err ? err : (-EIO)),
         NULL);
    goto done;
  }
  if ((uint64_t)sb.st_size > WEB_BUNDLE_MAX) {
    fail(out, 413, GS_ETOOBIG,
         _("the bundle is larger than 64 MiB: write it with 'gridsync "
           "export FILE'"),
         NULL);
    goto done;
  }
  unsigned char *data = malloc(sb.st_size ? (size_t)sb.st_size : 1);
  if (!data || fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
    free(data);
    fail(out, 500, (-EIO), gs_strerror((-EIO)), NULL);
    goto done;
  }
  out->status = 200;
  out->raw = data;
  out->raw_len = (size_t)sb.st_size;
  out->raw_type = "application/octet-stream";
  snprintf(out->raw_name, sizeof out->raw_name, "gridsync-%llu.bundle",
           (unsigned long long)(info.created / 1000));
  out->json = NULL;
done:
  if (f)
    fclose(f);
  unlink(path);
}

static void bundle_import(node *n, const web_req *rq, web_resp *out)
{
  char path[4200], why[300] = "";
  node_import_result res = {0};
  if (!rq->body || rq->bodylen == 0) {
    fail(out, 400, GS_EINVAL, _("send the bundle file as the body"), NULL);
    return;
  }
  int fd = temp_file(n, path, sizeof path);
  if (fd < 0) {
    fail(out, 500, (-EIO), _("cannot write a temporary file"), NULL);
    return;
  }
  size_t done = 0;
  while (done < rq->bodylen) {
    ssize_t k = write(fd, rq->body + done, rq->bodylen - done);
    if (k <= 0) {
      close(fd);
      unlink(path);
      fail(out, 500, (-EIO), _("cannot write a temporary file"), NULL);
      return;
    }
    done += (size_t)k;
  }
  close(fd);
  gs_err err = node_import(n, path, &res, why, sizeof why);
  unlink(path);
  if (err) {
    fail(out, 422, err, why[0] ? why : gs_strerror(err), NULL);
    return;
  }
  out->status = 200;
  out->json = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "applied",
                        (json_int_t)res.applied, "duplicates",
                        (json_int_t)res.duplicates, "refused",
                        (json_int_t)res.refused, "gaps",
                        (json_int_t)res.gaps, "bad_feeds",
                        (json_int_t)res.bad_feeds, "unreadable",
                        (json_int_t)res.unreadable, "held",
                        (json_int_t)res.held);
}

bool web__api_net(node *n, const web_req *rq, char **seg, size_t ns,
                  web_resp *out)
{
  bool get = strcmp(rq->method, "GET") == 0;
  bool post = strcmp(rq->method, "POST") == 0;
  if (ns != 1)
    return false;
  const char *s = seg[0];
  if (get && strcmp(s, "unvisited") == 0)
    unvisited(n, rq, out);
  else if (get && strcmp(s, "peers") == 0)
    peers(n, rq, out);
  else if (post && strcmp(s, "sync") == 0)
    sync_now(rq, out);
  else if (get && strcmp(s, "members") == 0)
    members(n, out);
  else if (post && strcmp(s, "revoke") == 0)
    revoke_member(n, rq, out);
  else if (post && strcmp(s, "invite") == 0)
    invite(n, rq, out);
  else if (post && strcmp(s, "join") == 0)
    join_network(n, rq, out);
  else if (get && strcmp(s, "bundle") == 0)
    bundle_export(n, rq, out);
  else if (post && strcmp(s, "bundle") == 0)
    bundle_import(n, rq, out);
  else
    return false;
  return true;
}
