/* Commands about the node itself: init, id, status. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/node.h"
#include "node/member.h"
#include "node/netnode.h"
#include "node/qr.h"

static void hex32(const uint8_t *p, char out[2 * CRDT_HASH_LEN + 1])
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < CRDT_HASH_LEN; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * CRDT_HASH_LEN] = '\0';
}

int cli_cmd_init(cli_ctx *ctx)
{
  const char *name = NULL;
  bool open_node = false;
  for (int i = 1; i < ctx->argc; i++) {
    if (strcmp(ctx->argv[i], "--no-passphrase") == 0) {
      open_node = true;
      continue;
    }
    int m = cli_opt(ctx, &i, "--name", &name);
    if (m < 0)
      return CLI_USAGE;
    if (m == 0)
      return cli_usage("init", "unexpected argument '%s'", ctx->argv[i]);
  }
  if (name && strlen(name) > NODE_NAME_MAX)
    return cli_usage("init", "the name is longer than %d bytes",
                     NODE_NAME_MAX);
  if (name && !crdt_utf8_valid(name, strlen(name)))
    return cli_usage("init", "the name is not valid UTF-8");

  gs_err err = node_init_ex(ctx->dir, name, open_node ? NODE_INIT_OPEN : 0);
  if (err == GS_EPASS || err == GS_ELOCKED || err == GS_EPASSSHORT)
    return cli_pass_fail(ctx->dir, err);
  if (open_node && !err)
    fprintf(stderr, "%s\n",
            _("warning: this node has no passphrase: anyone who copies its "
              "directory can read every resident's data"));
  if (err == GS_EEXIST)
    return cli_fail("init: %s already holds a node (nothing changed)",
                    ctx->dir);
  if (err)
    return cli_fail("init: cannot create a node in %s: %s", ctx->dir,
                    gs_i18n_strerror(err));

  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  char id[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  int rc;
  if (ctx->json) {
    rc = cli_json_out(json_pack("{s:s, s:s, s:s}", "id", id, "name",
                                node_name(n), "dir", ctx->dir));
  } else {
    printf(_("created node %s%s%s%s\n  id  %s\n  dir %s\n"),
           *node_name(n) ? "\"" : "", node_name(n),
           *node_name(n) ? "\"" : "", *node_name(n) ? "" : _("(no name)"), id,
           ctx->dir);
    rc = CLI_OK;
  }
  return rc;
}

int cli_qr_out(const char *cmd, const char *text, bool term, const char *file)
{
  gs_err err;
  if (file && (err = node_qr_write(text, file, 0)) != GS_OK)
    return err == GS_EINVAL
               ? cli_fail("%s: the QR file must end in .png or .svg", cmd)
               : cli_fail("%s: cannot write %s: %s", cmd, file,
                          gs_i18n_strerror(err));
  if (term) {
    char *art = NULL;
    if ((err = node_qr_text(text, &art)) != GS_OK)
      return cli_fail("%s: cannot draw the QR code: %s", cmd,
                      gs_i18n_strerror(err));
    fputs(art, stdout);
    free(art);
  }
  return CLI_OK;
}

int cli_cmd_id(cli_ctx *ctx)
{
  bool qr = false;
  const char *qr_file = NULL;
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if (strcmp(ctx->argv[i], "--qr") == 0) {
      qr = true;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--qr-file", &qr_file)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    return cli_usage("id", "unexpected argument '%s'", ctx->argv[i]);
  }
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  char id[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  int rc = cli_qr_out("id", id, qr && !ctx->json, qr_file);
  if (rc != CLI_OK)
    return rc;
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:s, s:s*}", "id", id, "name",
                                node_name(n), "qr_file", qr_file));
  else
    printf("%s\n", id);
  return rc;
}

typedef struct net_view {
  json_t *peers, *behind;
  size_t npeers, nbehind;
  uint64_t missing;
} net_view;

/* An ISO 8601 UTC time of the JSON form as people read it (local time);
 * anything else ("never") translated. */
static const char *iso_local(const char *iso, char *buf, size_t cap)
{
  struct tm tm = {0};
  if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return iso ? _(iso) : "";
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  node_time_local((uint64_t)t * 1000, buf, cap);
  return buf;
}

static int on_status_peer(void *ctx, const node_peer_info *p)
{
  net_view *v = ctx;
  char ok[40] = "never";
  if (p->last_ok_ms)
    node_time_text(p->last_ok_ms, ok, sizeof ok);
  v->npeers++;
  json_array_append_new(
      v->peers, json_pack("{s:s, s:s, s:I, s:s}", "addr", p->addr,
                          "last_sync", ok, "failures",
                          (json_int_t)p->failures, "note", p->note));
  return 0;
}

/* issue 14: held changes, clock-ahead authors, bad feeds, peer clock */
typedef struct guard_view {
  json_t *held, *ahead, *bad;
  size_t nheld, nbad;
} guard_view;

static int on_status_held(void *ctx, const node_held_info *h)
{
  guard_view *g = ctx;
  char who[CRDT_KEY_TEXT_LEN + 1], when[40];
  crdt_base32_encode(h->origin, CRDT_KEY_LEN, who);
  node_time_text(h->stamp_ms, when, sizeof when);
  g->nheld++;
  if (h->clock_ahead) {
    bool seen = false;
    for (size_t i = 0; i < json_array_size(g->ahead) && !seen; i++)
      seen = strcmp(json_string_value(json_array_get(g->ahead, i)), who) == 0;
    if (!seen && json_array_size(g->ahead) < 100)
      json_array_append_new(g->ahead, json_string(who));
  }
  if (json_array_size(g->held) < 1000)
    json_array_append_new(
        g->held, json_pack("{s:s, s:s%, s:I, s:s, s:b, s:s}", "author", who,
                           "scope", h->scope, h->scope_len, "seq",
                           (json_int_t)h->seq, "stamp", when, "clock_ahead",
                           h->clock_ahead, "reason", h->reason));
  return 0;
}

static int on_status_bad(void *ctx, const node_bad_feed *b)
{
  guard_view *g = ctx;
  char who[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(b->origin, CRDT_KEY_LEN, who);
  g->nbad++;
  if (json_array_size(g->bad) < 1000)
    json_array_append_new(
        g->bad, json_pack("{s:s, s:s, s:I, s:b, s:s}", "author", who, "scope",
                          b->scope, "seq", (json_int_t)b->seq, "frozen",
                          b->frozen, "reason", b->reason));
  return 0;
}

static void guard_free(guard_view *g)
{
  json_decref(g->held);
  json_decref(g->ahead);
  json_decref(g->bad);
}

static double mib(uint64_t b)
{
  return (double)b / (1024.0 * 1024.0);
}

int cli_cmd_status(cli_ctx *ctx)
{
  const char *prefix = "";
  for (int i = 1; i < ctx->argc; i++) {
    int m = cli_opt(ctx, &i, "--scope", &prefix);
    if (m < 0)
      return CLI_USAGE;
    if (m == 0)
      return cli_usage("status", "unexpected argument '%s'", ctx->argv[i]);
  }
  if (*prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return cli_usage("status",
                     "bad scope prefix '%s' (segments of letters, digits, "
                     "'_', '.', '-' joined by '/')",
                     prefix);

  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_status st;
  gs_err err;
  int rc = CLI_FAIL;
  if ((err = node_status_get(n, prefix, &st)) != GS_OK)
    return cli_fail("status: cannot read the store: %s", gs_i18n_strerror(err));
  char id[CRDT_KEY_TEXT_LEN + 1], dg[2 * CRDT_HASH_LEN + 1], when[40];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  hex32(st.digest, dg);
  (ctx->json ? node_time_text : node_time_local)(CRDT_HLC_MS(st.hlc), when, sizeof when);
  json_t *over = json_array();
  for (size_t i = 0; i < st.noverdrawn; i++) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(st.overdrawn[i].id, CRDT_ID_LEN, idt);
    json_array_append_new(over, json_pack("{s:s, s:s, s:f}", "collection",
                                          st.overdrawn[i].coll, "id", idt,
                                          "balance",
                                          (double)st.overdrawn[i].balance /
                                              100.0));
  }
  json_t *behind = json_array();
  for (size_t i = 0; i < st.nbehind; i++) {
    char hex[2 * CRDT_FEED_LEN + 1];
    static const char d[] = "0123456789abcdef";
    for (size_t k = 0; k < CRDT_FEED_LEN; k++) {
      hex[2 * k] = d[st.behind[i].feed[k] >> 4];
      hex[2 * k + 1] = d[st.behind[i].feed[k] & 15];
    }
    hex[2 * CRDT_FEED_LEN] = '\0';
    json_array_append_new(behind,
                          json_pack("{s:s, s:I, s:I}", "feed", hex, "held",
                                    (json_int_t)st.behind[i].held, "heard",
                                    (json_int_t)st.behind[i].heard));
  }
  guard_view gv = {.held = json_array(), .ahead = json_array(),
                   .bad = json_array()};
  node_peer_clock pclock;
  bool has_pclock = node_peer_clock_get(n, &pclock) == GS_OK;
  net_view nv = {.peers = json_array()};
  if ((err = node_peers(n, on_status_peer, &nv)) != GS_OK ||
      (err = node_held(n, on_status_held, &gv)) != GS_OK ||
      (err = node_bad_feeds(n, on_status_bad, &gv)) != GS_OK) {
    json_decref(nv.peers);
    json_decref(behind);
    json_decref(over);
    guard_free(&gv);
    cli_fail("status: cannot read the store: %s", gs_i18n_strerror(err));
    goto out;
  }
  const size_t nwarn = st.nwarnings;
  const char *const *warn = st.warnings;
  const uint64_t skew = st.ahead_ms, refused = st.refused;
  const char *refused_why = st.refused_why;
  const size_t nover = st.noverdrawn;
  const crdt_hlc hlc = st.hlc;
  const size_t nrec = st.records_under;
  nv.behind = behind;
  nv.nbehind = st.behind_feeds;
  nv.missing = st.behind_changes;

  const node_network *net = node_net(n);
  char netid[17] = "";
  if (net)
    cli_network_id_text(net, netid);
  if (ctx->json) {
    json_t *w = json_array();
    for (size_t i = 0; i < nwarn; i++)
      json_array_append_new(w, json_string(warn[i]));
    json_t *doc = json_pack(
        "{s:{s:s, s:s, s:s}, s:o, s:s, s:I, s:I, s:I, s:I, s:I,"
        " s:{s:I, s:I}, s:{s:I, s:s, s:I}, s:o, s:o, s:I, s:{s:I, s:s}, s:o,"
        " s:o, s:s}",
        "node", "id", id, "name", node_name(n), "dir", ctx->dir, "network",
        net ? json_pack("{s:s, s:s, s:s}", "name", net->name, "id", netid,
                        "role", net->role)
            : json_null(),
        "scope", prefix, "records", (json_int_t)nrec, "records_total",
        (json_int_t)st.records, "feeds", (json_int_t)st.feeds,
        "changes", (json_int_t)st.changes, "forks",
        (json_int_t)st.forks, "storage", "map_bytes",
        (json_int_t)st.map_bytes, "used_bytes",
        (json_int_t)st.used_bytes, "clock", "hlc", (json_int_t)hlc, "time",
        when, "ahead_ms", (json_int_t)skew, "peers", nv.peers, "behind",
        nv.behind, "behind_changes", (json_int_t)nv.missing, "refused", "count",
        (json_int_t)refused, "last", refused_why, "warnings", w,
        "overdrawn", over, "digest", dg);
    if (doc) {
      json_object_set_new(doc, "unsent", json_integer((json_int_t)st.unsent));
      json_object_set_new(doc, "held", gv.held);
      json_object_set_new(doc, "clock_ahead", gv.ahead);
      json_object_set_new(doc, "quarantined", gv.bad);
      json_object_set_new(
          doc, "peer_clock",
          has_pclock ? json_pack("{s:s, s:I, s:I}", "addr", pclock.addr,
                                 "own_ms", (json_int_t)pclock.own_ms,
                                 "peer_ms", (json_int_t)pclock.peer_ms)
                     : json_null());
    } else {
      guard_free(&gv);
    }
    rc = cli_json_out(doc);
  } else {
    printf(_("node      %s%s%s\n"), *node_name(n) ? node_name(n) : "",
           *node_name(n) ? "  " : "", id);
    printf(_("dir       %s\n"), ctx->dir);
    if (net) {
      printf(_("network   %s (%s), this node is %s of"), net->name, netid,
             net->role);
      for (size_t i = 0; i < net->nscopes; i++)
        printf(" %s", *net->scopes[i] ? net->scopes[i] : _("everything"));
      printf("\n");
    } else {
      printf(_("network   (none: 'gridsync network create' or 'gridsync "
             "join')\n"));
    }
    if (*prefix)
      printf(_("records   %zu under %s (%zu in all)\n"), nrec, prefix,
             st.records);
    else
      printf(_("records   %zu\n"), st.records);
    printf(_("feeds     %zu   changes %zu   forks refused %zu\n"), st.feeds,
           st.changes, st.forks);
    printf(_("storage   %.1f MiB used, map %.1f MiB (grows by itself)\n"),
           mib(st.used_bytes), mib(st.map_bytes));
    printf(_("clock     %s"), hlc ? when : _("(no writes yet)"));
    if (skew > 0)
      printf(_("  (%" PRIu64 " ms ahead of this computer)"), skew);
    printf("\n");
    if (nv.npeers == 0)
      printf(_("peers     (none)\n"));
    for (size_t i = 0; i < json_array_size(nv.peers); i++) {
      json_t *p = json_array_get(nv.peers, i);
      json_int_t f = json_integer_value(json_object_get(p, "failures"));
      printf(_("peer      %s  last sync %s"), 
             json_string_value(json_object_get(p, "addr")),
             iso_local(json_string_value(json_object_get(p, "last_sync")),
                       when, sizeof when));
      const char *note = json_string_value(json_object_get(p, "note"));
      if (f)
        printf(_("  (failed %lld times: %s)"), (long long)f,
               note && *note ? _(note) : "");
      printf("\n");
    }
    if (refused)
      printf(_("refused   %" PRIu64 " received changes (last: %s)\n"), refused,
             refused_why);
    if (nover)
      printf(_("timebank  %zu account%s overdrawn\n"), nover,
             nover == 1 ? "" : "s");
    json_decref(over);
    if (nv.nbehind)
      printf(_("behind    %" PRIu64 " changes in %zu feeds that peers hold\n"),
             nv.missing, nv.nbehind);
    if (st.unsent)
      printf(_("unsent    %" PRIu64 " of this node's changes no peer is known "
               "to hold yet\n"),
             st.unsent);
    else
      printf(_("unsent    none: peers hold every change of this node\n"));
    json_decref(nv.peers);
    json_decref(nv.behind);
    if (gv.nheld) {
      printf(_("held      %zu received changes"), gv.nheld);
      for (size_t i = 0; i < json_array_size(gv.ahead); i++)
        printf("%s%s", i ? ", " : _("; clock ahead: "),
               json_string_value(json_array_get(gv.ahead, i)));
      printf("\n");
    }
    for (size_t i = 0; i < json_array_size(gv.bad) && i < 10; i++) {
      json_t *b = json_array_get(gv.bad, i);
      printf(_("bad feed  %s in %s: %s\n"),
             json_string_value(json_object_get(b, "author")),
             json_string_value(json_object_get(b, "scope")),
             json_string_value(json_object_get(b, "reason")));
    }
    guard_free(&gv);
    for (size_t i = 0; i < nwarn; i++)
      printf(_("warning   %s\n"), warn[i]);
    printf(_("digest    %s%s%s\n"), dg, *prefix ? "  of " : "", prefix);
    rc = CLI_OK;
  }
out:
  node_status_free(&st);
  return rc;
}
