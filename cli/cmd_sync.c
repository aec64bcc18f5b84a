/* Network commands: serve, sync, peers. */
#include <inttypes.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <uv.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "net/disco.h"
#include "web/web.h"
#include "net/sync.h"
#include "node/node.h"
#include "node/member.h"
#include "node/netnode.h"

static int no_network(const char *cmd)
{
  return cli_fail("%s: this node has no network yet (run 'gridsync network "
                  "create NAME' on the first node, 'gridsync join CODE' on "
                  "the others)",
                  cmd);
}

/* ---- sync ---- */

typedef struct progress {
  double t0;
  bool shown;
} progress;

static double mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(void *ctx, const net_sync_stats *st)
{
  progress *p = ctx;
  double dt = mono() - p->t0;
  fprintf(stderr,
          _("\rsent %" PRIu64 " changes, received %" PRIu64 " (%.1f MiB in, "
          "%.1f MiB out, %.1f MiB/s)   "),
          st->sent_changes, st->recv_changes, (double)st->recv_bytes / 1048576,
          (double)st->sent_bytes / 1048576,
          dt > 0 ? (double)(st->recv_bytes + st->sent_bytes) / 1048576 / dt
                 : 0.0);
  p->shown = true;
}

/* How an address was found, in plain words (and for --json). */
static const char *found_text(node_peer_found f)
{
  switch (f) {
  case NODE_FOUND_TYPED:
    return _("typed in");
  case NODE_FOUND_LAN:
    return _("found on the LAN");
  case NODE_FOUND_PEER:
    return _("learnt from a peer");
  default:
    return _("added before gridsync recorded how");
  }
}

static const char *found_code(node_peer_found f)
{
  static const char *const codes[] = {"typed", "lan", "peer", "unknown"};
  return f <= NODE_FOUND_UNKNOWN ? codes[f] : "unknown";
}

#define SYNC_LISTEN_MS 3000 /* `sync` with no address: beacons heard for */

typedef struct all_ctx {
  cli_ctx *c;
  json_t *out;
  size_t ok, tried;
} all_ctx;

static void on_synced(void *vctx, const node_sync_result *r)
{
  all_ctx *a = vctx;
  char who[CRDT_KEY_TEXT_LEN + 1] = "";
  if (r->key)
    crdt_base32_encode(r->key, CRDT_KEY_LEN, who);
  a->tried++;
  a->ok += r->err == GS_OK;
  if (a->out) {
    json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:f}", "peer", r->addr,
                          "found", found_code(r->found), "ok", r->err == GS_OK,
                          "sent", (json_int_t)r->stats->sent_changes,
                          "received", (json_int_t)r->stats->recv_changes,
                          "seconds", r->seconds);
    if (r->err)
      json_object_set_new(o, "error",
                          json_sprintf("%s%s%s", gs_i18n_strerror(r->err),
                                       *r->why ? ": " : "", r->why));
    if (r->key)
      json_object_set_new(o, "node", json_string(who));
    json_array_append_new(a->out, o);
    return;
  }
  /* TRANSLATORS: ": " joins an error and its detail */
  if (r->err)
    printf(_("could not sync with %s (%s): %s%s%s\n"), r->addr,
           found_text(r->found), gs_i18n_strerror(r->err),
           *r->why ? _(": ") : "", *r->why ? _(r->why) : "");
  else
    printf(_("synced with %s (%s) in %.2f s: sent %" PRIu64
             " changes, received %" PRIu64 "\n"),
           r->addr, found_text(r->found), r->seconds, r->stats->sent_changes,
           r->stats->recv_changes);
  fflush(stdout);
}

/* `sync` with no address: every reachable known or discovered peer. */
static int sync_all(cli_ctx *ctx, uint64_t listen_ms, uint16_t port)
{
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  if (!node_net(n))
    return no_network("sync");
  bool disco = listen_ms && node_discovery_on(n);
  if (!ctx->json) {
    if (disco)
      printf(_("listening for nodes on the LAN for %.0f s...\n"),
             (double)listen_ms / 1000);
    fflush(stdout);
  }
  all_ctx a = {.c = ctx, .out = ctx->json ? json_array() : NULL};
  size_t tried = 0;
  gs_err err = node_sync_all(n, disco ? listen_ms : 0, port, on_synced, &a,
                             &tried);
  if (err) {
    json_decref(a.out);
    return cli_fail(_("sync: %s"), gs_i18n_strerror(err));
  }
  if (!tried) {
    json_decref(a.out);
    return cli_fail(disco ? _("sync: found no peer: none in the address book "
                              "and none heard on the LAN (is the office's "
                              "node serving on this network?)")
                          : _("sync: no peer in the address book (add one "
                              "with 'gridsync peers add HOST:PORT', or turn "
                              "LAN discovery on)"));
  }
  if (a.out)
    cli_json_out(json_pack("{s:o, s:I, s:I, s:b}", "peers", a.out, "synced",
                           (json_int_t)a.ok, "tried", (json_int_t)a.tried,
                           "discovery", disco));
  else
    printf(_("synced with %zu of %zu peers\n"), a.ok, a.tried);
  if (!a.ok)
    return cli_fail(_("sync: none of the %zu peers tried could be synced "
                      "with"),
                    a.tried);
  return CLI_OK;
}

int cli_cmd_sync(cli_ctx *ctx)
{
  const char *wait = NULL, *dport = NULL, *addr = NULL;
  bool no_disco = false;
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--wait-ms", &wait)) != 0 ||
        (m = cli_opt(ctx, &i, "--discovery-port", &dport)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    if (strcmp(ctx->argv[i], "--no-discovery") == 0) {
      no_disco = true;
      continue;
    }
    if (addr)
      return cli_usage("sync", _("too many arguments"));
    addr = ctx->argv[i];
  }
  if (!addr) {
    uint64_t ms = SYNC_LISTEN_MS;
    unsigned long port = 0;
    char *end;
    if (wait) {
      unsigned long long w = strtoull(wait, &end, 10);
      if (!*wait || *end || w > 60000)
        return cli_usage("sync", _("--wait-ms takes 0 to 60000"));
      ms = w;
    }
    if (dport) {
      port = strtoul(dport, &end, 10);
      if (!*dport || *end || port == 0 || port > 65535)
        return cli_usage("sync", _("--discovery-port takes 1 to 65535"));
    }
    return sync_all(ctx, no_disco ? 0 : ms, (uint16_t)port);
  }
  if (wait || dport || no_disco)
    return cli_usage("sync", _("--wait-ms, --discovery-port and "
                               "--no-discovery go without an address"));
  if (!node_addr_valid(addr))
    return cli_usage("sync", "'%s' is not HOST:PORT", addr);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  if (!node_net(n)) {
    return no_network("sync");
  }
  progress pr = {.t0 = mono()};
  bool tty = isatty(STDERR_FILENO) && !ctx->json;
  net_sync_stats st;
  char why[200];
  gs_err err = node_sync_once(n, addr, tty ? on_progress : NULL, &pr, &st,
                              why, sizeof why);
  if (pr.shown)
    fprintf(stderr, "\n");
  double secs = mono() - pr.t0;
  int rc;
  if (err) {
    rc = cli_fail("sync with %s failed: %s%s%s (sent %" PRIu64
                  ", received %" PRIu64 " changes before)",
                  addr, gs_i18n_strerror(err), *why ? _(": ") : "",
                  *why ? _(why) : "",
                  st.sent_changes, st.recv_changes);
  } else if (ctx->json) {
    rc = cli_json_out(json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "peer", addr, "sent",
        (json_int_t)st.sent_changes, "received", (json_int_t)st.recv_changes,
        "duplicates", (json_int_t)st.recv_dups, "bytes_sent",
        (json_int_t)st.sent_bytes, "bytes_received",
        (json_int_t)st.recv_bytes, "seconds", secs));
  } else {
    printf(_("synced with %s in %.2f s: sent %" PRIu64 " changes (%.1f KiB), "
           "received %" PRIu64 " (%.1f KiB)%s\n"),
           addr, secs, st.sent_changes, (double)st.sent_bytes / 1024,
           st.recv_changes, (double)st.recv_bytes / 1024,
           st.recv_dups ? _(" and some already held") : "");
    rc = CLI_OK;
  }
  return rc;
}

/* ---- serve ---- */

static void on_listen(void *ctx, const char *host, int port)
{
  cli_ctx *c = ctx;
  if (c->json) {
    printf("{\"listening\": \"%s:%d\"}\n", host, port);
  } else {
    printf(_("serving on %s:%d (stop with Ctrl-C)\n"), host, port);
  }
  fflush(stdout);
}

/* What the app's callback needs: the command, and whether it wrote
 * ui.addr (removed on a clean stop). */
typedef struct app_ctx {
  cli_ctx *c;
  bool wrote_addr;
} app_ctx;

/* DIR/ui.addr: "URL PID", written whole (by a rename) so that
 * `gridsync ui` finds this serve's app. 0.0.0.0 and :: are written as
 * 127.0.0.1: the address a browser on this computer opens. */
static bool write_ui_addr(const char *dir, const char *host, int port)
{
  char path[4200], tmp[4220];
  snprintf(path, sizeof path, "%s/%s", dir, CLI_UI_ADDR_FILE);
  snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f)
    return false;
  bool any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
  bool v6 = !any && strchr(host, ':');
  int k = fprintf(f, "http://%s%s%s:%d/ %ld\n", v6 ? "[" : "",
                  any ? "127.0.0.1" : host, v6 ? "]" : "", port,
                  (long)getpid());
  if (fclose(f) != 0 || k < 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return false;
  }
  return true;
}

static void on_app(void *ctx, const char *host, int port)
{
  app_ctx *a = ctx;
  cli_ctx *c = a->c;
  a->wrote_addr = write_ui_addr(c->dir, host, port);
  if (!a->wrote_addr)
    fprintf(stderr, _("gridsync: note: cannot write %s/%s; 'gridsync ui' "
                    "will not find this app\n"), c->dir, CLI_UI_ADDR_FILE);
  if (c->json)
    printf("{\"app\": \"http://%s:%d/\"}\n", host, port);
  else
    printf(_("the app is at http://%s:%d/ (open it in a browser)\n"), host,
           port);
  fflush(stdout);
}

/* What runs on serve's loop, and its signals. */
typedef struct serve_run {
  uv_signal_t sigint, sigterm;
#ifdef _WIN32
  uv_signal_t sigbreak, sighup; /* console events (cli_cmd_serve) */
#endif
  node_server *srv;
  web_server *web;
  node_unlock *unlock; /* the data key for this user's CLI (issue 19) */
  /* a node without a network serves its app only, until it joins one
   * there: then the node starts serving peers */
  node *n;
  uv_loop_t *loop;
  const node_serve_opts *o;
} serve_run;

static void on_joined(void *ctx)
{
  serve_run *r = ctx;
  if (r->srv || !r->web)
    return;
  gs_err err = node_server_start(r->n, r->loop, r->o, &r->srv);
  if (err)
    fprintf(stderr, _("gridsync: joined, but cannot serve peers (%s): start "
                      "'gridsync serve' again\n"),
            gs_strerror(err));
  else
    web_set_peers(r->web, r->srv);
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
  serve_run *r = sig->data;
  fprintf(stderr, _("signal %d: stopping\n"), signum);
  node_server_stop(r->srv);
  web_stop(r->web);
  node_unlock_stop(r->unlock);
  r->srv = NULL;
  r->web = NULL;
  r->unlock = NULL;
  uv_close((uv_handle_t *)&r->sigint, NULL);
  uv_close((uv_handle_t *)&r->sigterm, NULL);
#ifdef _WIN32
  uv_close((uv_handle_t *)&r->sigbreak, NULL);
  uv_close((uv_handle_t *)&r->sighup, NULL);
#endif
}

int cli_cmd_serve(cli_ctx *ctx)
{
  const char *listen = "0.0.0.0:7070", *v, *gossip = NULL;
  const char *ui = NULL, *dport = NULL;
  bool no_ui = false, no_disco = false;
  const char **peers = calloc((size_t)ctx->argc, sizeof *peers);
  size_t np = 0;
  int rc = CLI_USAGE;
  node *n = NULL;
  struct sockaddr_storage ss;

  if (!peers)
    return cli_fail("out of memory");
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--listen", &listen)) != 0 ||
        (m = cli_opt(ctx, &i, "--gossip-ms", &gossip)) != 0 ||
        (m = cli_opt(ctx, &i, "--ui", &ui)) != 0 ||
        (m = cli_opt(ctx, &i, "--discovery-port", &dport)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if (strcmp(ctx->argv[i], "--no-ui") == 0) {
      no_ui = true;
      continue;
    }
    if (strcmp(ctx->argv[i], "--no-discovery") == 0) {
      no_disco = true;
      continue;
    }
    if ((m = cli_opt(ctx, &i, "--peer", &v)) != 0) {
      if (m < 0)
        goto out;
      if (!node_addr_valid(v)) {
        rc = cli_usage("serve", "--peer '%s' is not HOST:PORT", v);
        goto out;
      }
      peers[np++] = v;
      continue;
    }
    rc = cli_usage("serve", "unexpected argument '%s'", ctx->argv[i]);
    goto out;
  }
  if (node_parse_addr(listen, &ss) != GS_OK) {
    rc = cli_usage("serve", "--listen '%s' is not HOST:PORT", listen);
    goto out;
  }
  if (ui && no_ui) {
    rc = cli_usage("serve", "--ui and --no-ui together");
    goto out;
  }
  if (ui && !node_addr_valid(ui)) {
    rc = cli_usage("serve", "--ui '%s' is not HOST:PORT", ui);
    goto out;
  }
  unsigned long dp = 0;
  if (dport) {
    char *end;
    dp = strtoul(dport, &end, 10);
    if (!*dport || *end || dp == 0 || dp > 65535) {
      rc = cli_usage("serve", _("--discovery-port takes 1 to 65535"));
      goto out;
    }
  }
  uint64_t gms = 0;
  if (gossip) {
    char *end;
    unsigned long long g = strtoull(gossip, &end, 10);
    if (!*gossip || *end || g < 100 || g > 86400000ULL) {
      rc = cli_usage("serve", "--gossip-ms takes 100 to 86400000");
      goto out;
    }
    gms = g;
  }
  rc = CLI_FAIL;
  if (!(n = cli_open(ctx, 0)))
    goto out;
  bool netless = !node_net(n); /* the app can join one */
  if (netless && no_ui) {
    rc = no_network("serve");
    goto out;
  }
  node_serve_opts o = {.listen = listen,
                       .peers = peers,
                       .npeers = np,
                       .gossip_ms = gms,
                       .log = stderr,
                       .no_discovery = no_disco,
                       .discovery_port = (uint16_t)dp,
                       .on_listen = on_listen,
                       .ctx = ctx};
  app_ctx actx = {.c = ctx, .wrote_addr = false};
  web_opts wo = {.listen = ui, .log = stderr, .on_listen = on_app,
                 .ctx = &actx};
  uv_loop_t loop;
  serve_run run = {0};
  if (uv_loop_init(&loop) != 0) {
    rc = cli_fail("serve: cannot start the event loop");
    goto out;
  }
  /* before the node says it serves: a command run then finds the key */
  gs_err ue = node_unlock_start(n, &loop, &run.unlock);
  if (ue && ue != GS_EBUSY)
    fprintf(stderr, _("gridsync: note: %s\n"),
            _("commands of this user will ask for the passphrase (the "
              "unlock socket did not start)"));
  run.n = n;
  run.loop = &loop;
  run.o = &o;
  wo.on_joined = on_joined;
  wo.joined_ctx = &run;
  gs_err err = netless ? GS_OK : node_server_start(n, &loop, &o, &run.srv);
  if (netless)
    fprintf(stderr, _("gridsync: note: this node has no network yet: the "
                      "app runs alone until an invite code is pasted on its "
                      "page 同步与成员 (or 'gridsync join CODE')\n"));
  if (err) {
    node_unlock_stop(run.unlock);
    run.unlock = NULL;
    rc = cli_fail("serve: %s", gs_i18n_strerror(err));
  } else {
    char why[300];
    wo.peers = run.srv; /* the app's "sync now" and reachable peers */
    if (!no_ui) {
      gs_err we = web_start(n, &loop, &wo, &run.web, why, sizeof why);
      if (we && ui) { /* asked for: a failure is the command's */
        rc = cli_fail("serve: the app cannot start: %s", why);
        node_server_stop(run.srv);
        node_unlock_stop(run.unlock);
        run.srv = NULL;
        run.unlock = NULL;
        goto run_out;
      }
      if (we && netless) { /* nothing would run */
        fprintf(stderr, _("gridsync: the app did not start (%s)\n"), why);
        rc = no_network("serve");
        goto run_out;
      }
      if (we)
        fprintf(stderr, _("gridsync: note: the app did not start (%s); the "
                        "node serves peers all the same\n"), why);
    }
    uv_signal_init(&loop, &run.sigint);
    uv_signal_init(&loop, &run.sigterm);
    run.sigint.data = run.sigterm.data = &run;
    uv_signal_start(&run.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&run.sigterm, on_stop_signal, SIGTERM);
#ifdef _WIN32
    /* Windows' console events, as libuv gives them: Ctrl+Break (SIGBREAK)
     * and the console window closed or the user logging off (SIGHUP) stop
     * serve as Ctrl+C (SIGINT) does. */
    uv_signal_init(&loop, &run.sigbreak);
    uv_signal_init(&loop, &run.sighup);
    run.sigbreak.data = run.sighup.data = &run;
    uv_signal_start(&run.sigbreak, on_stop_signal, SIGBREAK);
    uv_signal_start(&run.sighup, on_stop_signal, SIGHUP);
#endif
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = CLI_OK;
  }
run_out:
  uv_run(&loop, UV_RUN_DEFAULT); /* every close callback */
  if (actx.wrote_addr) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", ctx->dir, CLI_UI_ADDR_FILE);
    unlink(path);
  }
  if (uv_loop_close(&loop) != 0 && rc == CLI_OK)
    rc = cli_fail("serve: handles were left open");
out:
  free(peers);
  return rc;
}

/* ---- peers ---- */

typedef struct peers_ctx {
  json_t *out;
  size_t n;
  node *node;
} peers_ctx;

static int on_peer(void *vctx, const node_peer_info *p)
{
  peers_ctx *pc = vctx;
  char ok[40] = "never", tried[40] = "never", key[CRDT_KEY_TEXT_LEN + 1] = "";
  void (*tm_text)(uint64_t, char *, size_t) = pc->out ? node_time_text : node_time_local;
  if (!pc->out)
    snprintf(ok, sizeof ok, "%s", _("never"));
  if (p->last_ok_ms)
    tm_text(p->last_ok_ms, ok, sizeof ok);
  if (p->last_try_ms)
    tm_text(p->last_try_ms, tried, sizeof tried);
  /* named as `members` and the app name it (node_member_label) */
  char label[NODE_NAME_MAX + NODE_MEMBER_NAME_MAX + 64] = "";
  node_member_info mi;
  if (p->key) {
    crdt_base32_encode(p->key, CRDT_KEY_LEN, key);
    if (node_member_get(pc->node, p->key, &mi) == GS_OK)
      node_member_label(pc->node, &mi, label, sizeof label, NULL, 0);
  }
  pc->n++;
  if (pc->out) {
    json_array_append_new(
        pc->out,
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s?, s:s, s:s, s:s}",
                  "addr", p->addr, "last_sync", ok, "last_try", tried,
                  "failures", (json_int_t)p->failures, "note", p->note,
                  "kind", node_peer_kind_code(p->kind), "outcome",
                  p->kind == NODE_PEER_OK ? NULL
                                          : _(node_peer_kind_text(p->kind)),
                  "node", key, "found", found_code(p->found), "name", label));
    return 0;
  }
  printf("%-24s %-22s ", p->addr, found_text(p->found));
  if (*label)
    printf("%s  ", label);
  printf(_("last sync %s"), ok);
  if (p->failures)
    printf(_(" failed %" PRIu32 "x: %s"), p->failures,
           p->kind != NODE_PEER_OK ? _(node_peer_kind_text(p->kind))
           : p->note && *p->note   ? _(p->note)
                                   : "");
  printf("\n");
  if (p->failures && p->kind != NODE_PEER_OK && p->note && *p->note)
    printf(_("    details: %s\n"), _(p->note));
  return 0;
}

/* `peers discovery [on|off]`: the node's LAN discovery setting. */
static int peers_discovery(cli_ctx *ctx)
{
  if (ctx->argc > 3 ||
      (ctx->argc == 3 && strcmp(ctx->argv[2], "on") != 0 &&
       strcmp(ctx->argv[2], "off") != 0))
    return cli_usage("peers", _("peers discovery [on|off]"));
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  if (ctx->argc == 3) {
    gs_err err = node_discovery_set(n, strcmp(ctx->argv[2], "on") == 0);
    if (err)
      return cli_fail(_("peers discovery: %s"), gs_i18n_strerror(err));
  }
  bool on = node_discovery_on(n);
  if (ctx->json)
    return cli_json_out(json_pack("{s:b}", "discovery", on));
  printf(on ? _("LAN discovery is on: a serving node announces itself on the "
                "LAN and connects to the nodes of its network it hears\n")
            : _("LAN discovery is off: peers are only those typed in or "
                "learnt from peers\n"));
  return CLI_OK;
}

int cli_cmd_peers(cli_ctx *ctx)
{
  const char *sub = ctx->argc > 1 ? ctx->argv[1] : NULL;
  if (sub && strcmp(sub, "discovery") == 0)
    return peers_discovery(ctx);
  if (sub && strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0)
    return cli_usage("peers", "unknown subcommand '%s'", sub);
  if (sub && ctx->argc != 3)
    return cli_usage("peers", "peers %s HOST:PORT", sub);
  if (!sub && ctx->argc > 1)
    return cli_usage("peers", "unexpected argument");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  int rc = CLI_OK;
  if (sub && strcmp(sub, "add") == 0) {
    gs_err err = node_peer_add(n, ctx->argv[2]);
    if (err == GS_EINVAL)
      rc = cli_usage("peers", "'%s' is not HOST:PORT", ctx->argv[2]);
    else if (err && err != GS_EEXIST)
      rc = cli_fail("peers add: %s", gs_i18n_strerror(err));
    else if (!ctx->json)
      printf(err == GS_EEXIST ? _("%s was already known\n") : _("%s added\n"),
             ctx->argv[2]);
    else
      rc = cli_json_out(json_pack("{s:s, s:b}", "added", ctx->argv[2], "new",
                                  err != GS_EEXIST));
  } else if (sub) {
    gs_err err = node_peer_remove(n, ctx->argv[2]);
    if (err == GS_ENOTFOUND)
      rc = cli_fail("peers remove: %s is not in the address book",
                    ctx->argv[2]);
    else if (err)
      rc = cli_fail("peers remove: %s", gs_i18n_strerror(err));
    else if (!ctx->json)
      printf(_("%s removed\n"), ctx->argv[2]);
    else
      rc = cli_json_out(json_pack("{s:s}", "removed", ctx->argv[2]));
  } else {
    peers_ctx pc = {.out = ctx->json ? json_array() : NULL, .node = n};
    gs_err err = node_peers(n, on_peer, &pc);
    if (err) {
      json_decref(pc.out);
      rc = cli_fail("peers: %s", gs_i18n_strerror(err));
    } else if (pc.out) {
      rc = cli_json_out(pc.out);
    } else if (pc.n == 0) {
      printf(_("(no peers: add one with 'gridsync peers add HOST:PORT')\n"));
    }
  }
  return rc;
}
