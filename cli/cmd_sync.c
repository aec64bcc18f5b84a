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
          "\rsent %" PRIu64 " changes, received %" PRIu64 " (%.1f MiB in, "
          "%.1f MiB out, %.1f MiB/s)   ",
          st->sent_changes, st->recv_changes, (double)st->recv_bytes / 1048576,
          (double)st->sent_bytes / 1048576,
          dt > 0 ? (double)(st->recv_bytes + st->sent_bytes) / 1048576 / dt
                 : 0.0);
  p->shown = true;
}

int cli_cmd_sync(cli_ctx *ctx)
{
  if (ctx->argc != 2)
    return cli_usage("sync", ctx->argc < 2 ? "sync with whom? give HOST:PORT"
                                           : "too many arguments");
  const char *addr = ctx->argv[1];
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
                  addr, gs_strerror(err), *why ? ": " : "", why,
                  st.sent_changes, st.recv_changes);
  } else if (ctx->json) {
    rc = cli_json_out(json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:f}", "peer", addr, "sent",
        (json_int_t)st.sent_changes, "received", (json_int_t)st.recv_changes,
        "duplicates", (json_int_t)st.recv_dups, "bytes_sent",
        (json_int_t)st.sent_bytes, "bytes_received",
        (json_int_t)st.recv_bytes, "seconds", secs));
  } else {
    printf("synced with %s in %.2f s: sent %" PRIu64 " changes (%.1f KiB), "
           "received %" PRIu64 " (%.1f KiB)%s\n",
           addr, secs, st.sent_changes, (double)st.sent_bytes / 1024,
           st.recv_changes, (double)st.recv_bytes / 1024,
           st.recv_dups ? " and some already held" : "");
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
    printf("serving on %s:%d (stop with Ctrl-C)\n", host, port);
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
    fprintf(stderr, "gridsync: note: cannot write %s/%s; 'gridsync ui' "
                    "will not find this app\n", c->dir, CLI_UI_ADDR_FILE);
  if (c->json)
    printf("{\"app\": \"http://%s:%d/\"}\n", host, port);
  else
    printf("the app is at http://%s:%d/ (open it in a browser)\n", host,
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
} serve_run;

static void on_stop_signal(uv_signal_t *sig, int signum)
{
  serve_run *r = sig->data;
  fprintf(stderr, "signal %d: stopping\n", signum);
  node_server_stop(r->srv);
  web_stop(r->web);
  r->srv = NULL;
  r->web = NULL;
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
  const char *ui = NULL;
  bool no_ui = false;
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
        (m = cli_opt(ctx, &i, "--ui", &ui)) != 0) {
      if (m < 0)
        goto out;
      continue;
    }
    if (strcmp(ctx->argv[i], "--no-ui") == 0) {
      no_ui = true;
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
  if (!node_net(n)) {
    rc = no_network("serve");
    goto out;
  }
  node_serve_opts o = {.listen = listen,
                       .peers = peers,
                       .npeers = np,
                       .gossip_ms = gms,
                       .log = stderr,
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
  gs_err err = node_server_start(n, &loop, &o, &run.srv);
  if (err) {
    rc = cli_fail("serve: %s", gs_strerror(err));
  } else {
    char why[300];
    if (!no_ui) {
      gs_err we = web_start(n, &loop, &wo, &run.web, why, sizeof why);
      if (we && ui) { /* asked for: a failure is the command's */
        rc = cli_fail("serve: the app cannot start: %s", why);
        node_server_stop(run.srv);
        run.srv = NULL;
        goto run_out;
      }
      if (we)
        fprintf(stderr, "gridsync: note: the app did not start (%s); the "
                        "node serves peers all the same\n", why);
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
} peers_ctx;

static int on_peer(void *vctx, const node_peer_info *p)
{
  peers_ctx *pc = vctx;
  char ok[40] = "never", tried[40] = "never", key[CRDT_KEY_TEXT_LEN + 1] = "";
  if (p->last_ok_ms)
    node_time_text(p->last_ok_ms, ok, sizeof ok);
  if (p->last_try_ms)
    node_time_text(p->last_try_ms, tried, sizeof tried);
  if (p->key)
    crdt_base32_encode(p->key, CRDT_KEY_LEN, key);
  pc->n++;
  if (pc->out) {
    json_array_append_new(
        pc->out,
        json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "addr", p->addr,
                  "last_sync", ok, "last_try", tried,
                  "failures", (json_int_t)p->failures, "note", p->note, "node",
                  key));
    return 0;
  }
  printf("%-24s last sync %-26s", p->addr, ok);
  if (p->failures)
    printf(" failed %" PRIu32 "x: %s", p->failures, p->note);
  printf("\n");
  return 0;
}

int cli_cmd_peers(cli_ctx *ctx)
{
  const char *sub = ctx->argc > 1 ? ctx->argv[1] : NULL;
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
      rc = cli_fail("peers add: %s", gs_strerror(err));
    else if (!ctx->json)
      printf("%s %s\n", ctx->argv[2],
             err == GS_EEXIST ? "was already known" : "added");
    else
      rc = cli_json_out(json_pack("{s:s, s:b}", "added", ctx->argv[2], "new",
                                  err != GS_EEXIST));
  } else if (sub) {
    gs_err err = node_peer_remove(n, ctx->argv[2]);
    if (err == GS_ENOTFOUND)
      rc = cli_fail("peers remove: %s is not in the address book",
                    ctx->argv[2]);
    else if (err)
      rc = cli_fail("peers remove: %s", gs_strerror(err));
    else if (!ctx->json)
      printf("%s removed\n", ctx->argv[2]);
    else
      rc = cli_json_out(json_pack("{s:s}", "removed", ctx->argv[2]));
  } else {
    peers_ctx pc = {.out = ctx->json ? json_array() : NULL};
    gs_err err = node_peers(n, on_peer, &pc);
    if (err) {
      json_decref(pc.out);
      rc = cli_fail("peers: %s", gs_strerror(err));
    } else if (pc.out) {
      rc = cli_json_out(pc.out);
    } else if (pc.n == 0) {
      printf("(no peers: add one with 'gridsync peers add HOST:PORT')\n");
    }
  }
  return rc;
}
