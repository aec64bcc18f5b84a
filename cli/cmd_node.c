/* Commands about the node itself: init, id, status. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"
#include "storage/store.h"

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
  for (int i = 1; i < ctx->argc; i++) {
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

  gs_err err = node_init(ctx->dir, name);
  if (err == GS_EEXIST)
    return cli_fail("init: %s already holds a node (nothing changed)",
                    ctx->dir);
  if (err)
    return cli_fail("init: cannot create a node in %s: %s", ctx->dir,
                    gs_strerror(err));

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
    printf("created node %s%s%s%s\n  id  %s\n  dir %s\n",
           *node_name(n) ? "\"" : "", node_name(n),
           *node_name(n) ? "\"" : "", *node_name(n) ? "" : "(no name)", id,
           ctx->dir);
    rc = CLI_OK;
  }
  node_close(n);
  return rc;
}

int cli_cmd_id(cli_ctx *ctx)
{
  if (ctx->argc > 1)
    return cli_usage("id", "unexpected argument '%s'", ctx->argv[1]);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  char id[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  int rc = CLI_OK;
  if (ctx->json)
    rc = cli_json_out(json_pack("{s:s, s:s}", "id", id, "name",
                                node_name(n)));
  else
    printf("%s\n", id);
  node_close(n);
  return rc;
}

typedef struct net_view {
  json_t *peers, *behind;
  size_t npeers, nbehind;
  uint64_t missing;
} net_view;

static int on_status_peer(void *ctx, const node_peer_info *p)
{
  net_view *v = ctx;
  char ok[40] = "never";
  if (p->last_ok_ms)
    cli_time_text(p->last_ok_ms, ok, sizeof ok);
  v->npeers++;
  json_array_append_new(
      v->peers, json_pack("{s:s, s:s, s:I, s:s}", "addr", p->addr,
                          "last_sync", ok, "failures",
                          (json_int_t)p->failures, "note", p->note));
  return 0;
}

static int on_status_behind(void *ctx, const uint8_t *feed, uint64_t held,
                            uint64_t heard)
{
  net_view *v = ctx;
  char hex[2 * CRDT_FEED_LEN + 1];
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < CRDT_FEED_LEN; i++) {
    hex[2 * i] = d[feed[i] >> 4];
    hex[2 * i + 1] = d[feed[i] & 15];
  }
  hex[2 * CRDT_FEED_LEN] = '\0';
  v->nbehind++;
  v->missing += heard - held;
  if (json_array_size(v->behind) < 1000)
    json_array_append_new(v->behind,
                          json_pack("{s:s, s:I, s:I}", "feed", hex, "held",
                                    (json_int_t)held, "heard",
                                    (json_int_t)heard));
  return 0;
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
  store *st = node_store(n);
  store_stats stats;
  uint8_t digest[CRDT_HASH_LEN];
  size_t nrec = 0;
  crdt_hlc hlc = 0;
  gs_err err;
  int rc = CLI_FAIL;
  if ((err = store_stats_get(st, &stats)) != GS_OK ||
      (err = store_digest(st, prefix, strlen(prefix), digest, &nrec)) !=
          GS_OK ||
      (err = store_hlc(st, &hlc)) != GS_OK) {
    cli_fail("status: cannot read the store: %s", gs_strerror(err));
    goto out;
  }
  char id[CRDT_KEY_TEXT_LEN + 1], dg[2 * CRDT_HASH_LEN + 1], when[40];
  crdt_base32_encode(node_pk(n), CRDT_KEY_LEN, id);
  hex32(digest, dg);
  cli_time_text(CRDT_HLC_MS(hlc), when, sizeof when);
  const char *warn[12];
  size_t nwarn = node_warnings(n, warn, 8);
  /* twice-used invites, this node's own claim held or void (issue 14) */
  char mwarn[4][NODE_WARN_MAX];
  size_t nm = node_membership_warnings(n, mwarn, 4);
  for (size_t i = 0; i < nm && nwarn < 8; i++)
    warn[nwarn++] = mwarn[i];
  if (stats.forks > 0 && nwarn < 8)
    warn[nwarn++] = "forks were refused: a node may have been restored from "
                    "an old backup (see the forks in the store)";
  uint64_t skew = node_clock_skew_ms(n);
  char refused_why[200];
  uint64_t refused = node_refused(n, refused_why, sizeof refused_why);
  if (refused && nwarn < 8)
    warn[nwarn++] = "changes were refused for lack of permission (see "
                    "\"refused\")";
  node_balance *bal = NULL;
  size_t nbal = 0, nover = 0;
  if ((err = node_timebank_balances(n, prefix, &bal, &nbal)) != GS_OK) {
    cli_fail("status: cannot read the store: %s", gs_strerror(err));
    goto out;
  }
  json_t *over = json_array();
  for (size_t i = 0; i < nbal; i++) {
    if (bal[i].balance >= 0)
      continue;
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(bal[i].id, CRDT_ID_LEN, idt);
    json_array_append_new(over, json_pack("{s:s, s:s, s:f}", "collection",
                                          bal[i].coll, "id", idt, "balance",
                                          (double)bal[i].balance / 100.0));
    nover++;
  }
  free(bal);
  if (nover && nwarn < 8)
    warn[nwarn++] = "time-bank accounts are overdrawn (spends accepted on "
                    "two nodes at once): an admin settles them (gridsync "
                    "timebank balances --overdrawn)";
  net_view nv = {.peers = json_array(), .behind = json_array()};
  if ((err = node_peers(n, on_status_peer, &nv)) != GS_OK ||
      (err = store_behind(st, on_status_behind, &nv)) != GS_OK) {
    json_decref(nv.peers);
    json_decref(nv.behind);
    json_decref(over);
    cli_fail("status: cannot read the store: %s", gs_strerror(err));
    goto out;
  }

  const node_network *net = node_net(n);
  char netid[17] = "";
  if (net)
    cli_network_id_text(net, netid);
  if (ctx->json) {
    json_t *w = json_array();
    for (size_t i = 0; i < nwarn; i++)
      json_array_append_new(w, json_string(warn[i]));
    rc = cli_json_out(json_pack(
        "{s:{s:s, s:s, s:s}, s:o, s:s, s:I, s:I, s:I, s:I, s:I,"
        " s:{s:I, s:I}, s:{s:I, s:s, s:I}, s:o, s:o, s:I, s:{s:I, s:s}, s:o,"
        " s:o, s:s}",
        "node", "id", id, "name", node_name(n), "dir", ctx->dir, "network",
        net ? json_pack("{s:s, s:s, s:s}", "name", net->name, "id", netid,
                        "role", net->role)
            : json_null(),
        "scope", prefix, "records", (json_int_t)nrec, "records_total",
        (json_int_t)stats.records, "feeds", (json_int_t)stats.feeds,
        "changes", (json_int_t)stats.changes, "forks",
        (json_int_t)stats.forks, "storage", "map_bytes",
        (json_int_t)stats.map_size, "used_bytes",
        (json_int_t)stats.used_bytes, "clock", "hlc", (json_int_t)hlc, "time",
        when, "ahead_ms", (json_int_t)skew, "peers", nv.peers, "behind",
        nv.behind, "behind_changes", (json_int_t)nv.missing, "refused", "count",
        (json_int_t)refused, "last", refused_why, "warnings", w,
        "overdrawn", over, "digest", dg));
  } else {
    printf("node      %s%s%s\n", *node_name(n) ? node_name(n) : "",
           *node_name(n) ? "  " : "", id);
    printf("dir       %s\n", ctx->dir);
    if (net) {
      printf("network   %s (%s), this node is %s of", net->name, netid,
             net->role);
      for (size_t i = 0; i < net->nscopes; i++)
        printf(" %s", *net->scopes[i] ? net->scopes[i] : "everything");
      printf("\n");
    } else {
      printf("network   (none: 'gridsync network create' or 'gridsync "
             "join')\n");
    }
    if (*prefix)
      printf("records   %zu under %s (%zu in all)\n", nrec, prefix,
             stats.records);
    else
      printf("records   %zu\n", stats.records);
    printf("feeds     %zu   changes %zu   forks refused %zu\n", stats.feeds,
           stats.changes, stats.forks);
    printf("storage   %.1f MiB used, map %.1f MiB (grows by itself)\n",
           mib(stats.used_bytes), mib(stats.map_size));
    printf("clock     %s", hlc ? when : "(no writes yet)");
    if (skew > 0)
      printf("  (%" PRIu64 " ms ahead of this computer)", skew);
    printf("\n");
    if (nv.npeers == 0)
      printf("peers     (none)\n");
    for (size_t i = 0; i < json_array_size(nv.peers); i++) {
      json_t *p = json_array_get(nv.peers, i);
      json_int_t f = json_integer_value(json_object_get(p, "failures"));
      printf("peer      %s  last sync %s", 
             json_string_value(json_object_get(p, "addr")),
             json_string_value(json_object_get(p, "last_sync")));
      if (f)
        printf("  (failed %lld times: %s)", (long long)f,
               json_string_value(json_object_get(p, "note")));
      printf("\n");
    }
    if (refused)
      printf("refused   %" PRIu64 " received changes (last: %s)\n", refused,
             refused_why);
    if (nover)
      printf("timebank  %zu account%s overdrawn\n", nover,
             nover == 1 ? "" : "s");
    json_decref(over);
    if (nv.nbehind)
      printf("behind    %" PRIu64 " changes in %zu feeds that peers hold\n",
             nv.missing, nv.nbehind);
    json_decref(nv.peers);
    json_decref(nv.behind);
    for (size_t i = 0; i < nwarn; i++)
      printf("warning   %s\n", warn[i]);
    printf("digest    %s%s%s\n", dg, *prefix ? "  of " : "", prefix);
    rc = CLI_OK;
  }
out:
  node_close(n);
  return rc;
}
