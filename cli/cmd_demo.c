/*
 * demo seed: write a realistic demo community into this node
 * (node_demo_seed in node.h), in one durable transaction: all of it or
 * nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "node/node.h"
#include "node/schema.h"
#include "node/seed.h"
#include "node/member.h"

#define DEMO_ROOT "gongrencun/qinghejv"
#define DEMO_HOUSEHOLDS_MAX 50000 /* as node/seed.c */

typedef struct demo_progress {
  double t0, last;
  bool shown;
} demo_progress;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line on stderr, rewritten at most four times a second. */
static void on_progress(void *ctx, const char *what, uint64_t done,
                        uint64_t total)
{
  demo_progress *p = ctx;
  double t = now_s();
  if (t - p->last < 0.25 && done < total)
    return;
  p->last = t;
  p->shown = true;
  fprintf(stderr, _("\rseeding %-10s %3.0f%%  %" PRIu64 " records   "), what,
          total ? 100.0 * (double)done / (double)total : 0.0, done);
}

/* A decimal number in [lo, hi], digits only. */
static bool parse_num(const char *t, uint64_t lo, uint64_t hi, uint64_t *out)
{
  if (!*t || strlen(t) > 20)
    return false;
  for (const char *p = t; *p; p++)
    if (*p < '0' || *p > '9')
      return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(t, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

int cli_cmd_demo(cli_ctx *ctx)
{
  const char *seed_t = NULL, *root = DEMO_ROOT, *until = NULL, *hh_t = NULL;
  bool seed_cmd = false;
  uint64_t seed = 1, households = 0;
  char today[11], probe[CRDT_SCOPE_MAX + 16], why[256];
  node *n = NULL;
  node_seed_result res;
  demo_progress prog = {0};
  int rc = CLI_FAIL;
  gs_err err;

  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--seed", &seed_t)) != 0 ||
        (m = cli_opt(ctx, &i, "--root", &root)) != 0 ||
        (m = cli_opt(ctx, &i, "--until", &until)) != 0 ||
        (m = cli_opt(ctx, &i, "--households", &hh_t)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    const char *a = ctx->argv[i];
    if (strncmp(a, "--", 2) == 0)
      return cli_usage("demo", "unknown option '%s'", a);
    if (!seed_cmd && strcmp(a, "seed") == 0)
      seed_cmd = true;
    else if (!seed_cmd)
      return cli_usage("demo", "unknown demo command '%s' (there is 'seed')",
                       a);
    else
      return cli_usage("demo", "unexpected argument '%s'", a);
  }
  if (!seed_cmd)
    return cli_usage("demo", "say what to do: demo seed");
  if (seed_t && !parse_num(seed_t, 0, INT64_MAX, &seed))
    return cli_usage("demo", "--seed takes a whole number (0 to 2^63-1), "
                             "not '%s'",
                     seed_t);
  if (hh_t && !parse_num(hh_t, 1, DEMO_HOUSEHOLDS_MAX, &households))
    return cli_usage("demo", "--households takes a number from 1 to %d, "
                             "not '%s'",
                     DEMO_HOUSEHOLDS_MAX, hh_t);
  if (until && (!node_date_valid(until, strlen(until)) ||
                strcmp(until, "1971-01-01") < 0))
    return cli_usage("demo", "--until takes a date YYYY-MM-DD from "
                             "1971-01-01 on, not '%s'",
                     until);
  /* the grids' scopes ROOT/gNN must be valid too */
  if (!crdt_scope_valid(root, strlen(root)) ||
      strlen(root) + 8 > CRDT_SCOPE_MAX ||
      (size_t)snprintf(probe, sizeof probe, "%s/g01", root) >= sizeof probe ||
      !crdt_scope_valid(probe, strlen(probe)))
    return cli_usage("demo", "bad --root '%s': give STREET/COMMUNITY, e.g. "
                             "%s (letters, digits, '_', '.', '-' between "
                             "slashes; at most %d levels)",
                     root, DEMO_ROOT, CRDT_SCOPE_DEPTH - 1);

  if (!(n = cli_open(ctx, 0)))
    goto out;
  if (!until) { /* today, in local time, by the node's clock */
    if (!node_today(n, 0, today)) {
      rc = cli_fail("demo seed: this computer's date is out of range: give "
                    "--until DATE");
      goto out;
    }
    until = today;
  }
  if ((err = node_may_write(n, root, strlen(root), why, sizeof why)) !=
      GS_OK) {
    if (err == GS_EPERM && strstr(why, _("may not write")))
      rc = cli_fail("demo seed: %s; to seed %s use the network's admin "
                    "node, or a node joined with an invite of 'gridsync "
                    "invite --role office --scope %s' (or --role leader)",
                    why, root, root);
    else if (err == GS_EPERM)
      rc = cli_fail("demo seed: this node may not write under %s: %s; to "
                    "seed it use the network's admin node, or a node joined "
                    "with an invite of 'gridsync invite --role office "
                    "--scope %s' (or --role leader)",
                    root, why, root);
    else
      rc = cli_fail("demo seed: cannot check permissions: %s",
                    gs_i18n_strerror(err));
    goto out;
  }

  node_seed_opts o = {.seed = seed,
                      .root = root,
                      .until = until,
                      .households = (unsigned)households};
  if (isatty(STDERR_FILENO) && !ctx->json) {
    o.progress = on_progress;
    o.ctx = &prog;
  }
  prog.t0 = now_s();
  err = node_demo_seed(n, &o, &res);
  double secs = now_s() - prog.t0;
  if (prog.shown)
    fprintf(stderr, "\r%60s\r", "");
  if (err) {
    if (err == GS_ESCHEMA)
      rc = cli_fail("demo seed: the demo data does not fit the schema (a "
                    "bug in node/seed.c); nothing was stored");
    else
      rc = cli_fail("demo seed: %s; nothing was stored", gs_i18n_strerror(err));
    goto out;
  }
  uint64_t records = res.grids + res.buildings + res.households +
                     res.residents + res.units + res.teams + res.appeals +
                     res.meetings + res.tasks + res.visits + res.timebank;
  double rate = secs > 0 ? (double)records / secs : 0.0;
  if (ctx->json) {
    rc = cli_json_out(json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:f}",
        "root", root, "until", until, "seed", (json_int_t)seed, "grids",
        (json_int_t)res.grids, "buildings", (json_int_t)res.buildings,
        "households", (json_int_t)res.households, "residents",
        (json_int_t)res.residents, "units", (json_int_t)res.units, "teams",
        (json_int_t)res.teams, "appeals", (json_int_t)res.appeals, "meetings",
        (json_int_t)res.meetings, "tasks", (json_int_t)res.tasks, "visits",
        (json_int_t)res.visits, "timebank", (json_int_t)res.timebank,
        "records", (json_int_t)records, "changes", (json_int_t)res.changes,
        "seconds", secs));
    goto out;
  }
  printf(_("seeded %s, a year up to %s (seed %" PRIu64 "):\n"
         "  %" PRIu64 " grids, %" PRIu64 " buildings, %" PRIu64
         " households, %" PRIu64 " residents\n"
         "  %" PRIu64 " units, %" PRIu64 " volunteer teams\n"
         "  %" PRIu64 " appeals, %" PRIu64 " visits, %" PRIu64
         " meetings with %" PRIu64 " tasks, %" PRIu64
         " time-bank entries\n"
         "%" PRIu64 " records in %" PRIu64 " changes, %.2f s (%.0f "
         "records/s)\n"),
         root, until, seed, res.grids, res.buildings, res.households,
         res.residents, res.units, res.teams, res.appeals, res.visits,
         res.meetings, res.tasks, res.timebank, records, res.changes, secs,
         rate);
  rc = CLI_OK;
out:
  return rc;
}
