/* report: the figures offices publish (node_report_make in node.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/node.h"
#include "node/schema.h"
#include "node/report.h"

/* Appeals not yet resolved: every status before "resolved", and
 * "reopened". */
static uint64_t pending(const node_report_row *r)
{
  const char *const *st = node_report_statuses();
  uint64_t n = 0;
  for (int i = 0; st && st[i] && i < NODE_REPORT_VALUES; i++)
    if (strcmp(st[i], "resolved") && strcmp(st[i], "closed"))
      n += r->by_status[i];
  return n;
}

static void row_text(const node_report_row *r, const char *label)
{
  char med[16];
  if (r->median_days < 0)
    snprintf(med, sizeof med, "-");
  else
    snprintf(med, sizeof med, "%.1f", r->median_days);
  printf("%-*s %7" PRIu64 " %7" PRIu64 " %8" PRIu64 " %6s %7" PRIu64
         " %8" PRIu64 " %7" PRIu64 " %7" PRIu64 " %8.1f %8" PRIu64 "\n",
         cli_pad(label, 28), label, r->appeals, pending(r), r->resolved, med, r->visits,
         r->disputes_mediated, r->hazards_found, r->errands_done,
         (double)r->volunteer_centihours / 100.0, r->meetings);
}

/* The figures of issue 16 for one row, as lines. */
static void more_text(const node_report_row *r)
{
  char hours[32], corr[32];
  node_hours_text(r->volunteer_centihours, hours, sizeof hours);
  node_hours_text(r->corrected_centihours, corr, sizeof corr);
  printf(_("hazards found %" PRIu64 " (%" PRIu64 " by visits), visits "
           "corrected %" PRIu64 "\n"),
         r->hazards_found, r->visit_hazards, r->visit_corrections);
  printf(_("micro-wishes %" PRIu64 ", fulfilled %" PRIu64 "\n"), r->wishes,
         r->wishes_fulfilled);
  printf(_("volunteer hours %s (corrections %s h included)\n"), hours,
         corr);
  printf(_("lectures %" PRIu64 ", activities %" PRIu64 ", attendance %" PRIu64
           "\n"),
         r->lectures, r->activities, r->attendance);
  printf(_("errands run by staff %" PRIu64 ", thefts stopped %" PRIu64
           ", fights stopped %" PRIu64 "\n"),
         r->staff_errands, r->thefts_stopped, r->fights_stopped);
  printf(_("in-service party members' reports %" PRIu64 "\n"),
         r->party_reports);
}

int cli_cmd_report(cli_ctx *ctx)
{
  const char *prefix = NULL, *since = NULL, *until = NULL, *year = NULL,
             *month = NULL, *csv = NULL, *xlsx = NULL;
  char ys[11], yu[11];
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--scope", &prefix)) ||
        (m = cli_opt(ctx, &i, "--since", &since)) ||
        (m = cli_opt(ctx, &i, "--until", &until)) ||
        (m = cli_opt(ctx, &i, "--year", &year)) ||
        (m = cli_opt(ctx, &i, "--month", &month)) ||
        (m = cli_opt(ctx, &i, "--csv", &csv)) ||
        (m = cli_opt(ctx, &i, "--xlsx", &xlsx))) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    return cli_usage("report", _("unexpected argument '%s'"), ctx->argv[i]);
  }
  if (prefix && *prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return cli_usage("report", _("bad scope '%s'"), prefix);
  if ((year || month) && (since || until || (year && month)))
    return cli_usage("report", _("give --year, --month or --since/--until, "
                                 "one of them"));
  if (csv && xlsx)
    return cli_usage("report", _("give --csv FILE or --xlsx FILE, not both"));
  if (year) {
    if (!node_report_year(year, ys, yu))
      return cli_usage("report", _("--year takes a year like 2026, not '%s'"),
                       year);
    since = ys, until = yu;
  }
  if (month) {
    if (!node_report_month(month, ys, yu))
      return cli_usage("report",
                       _("--month takes a month like 2026-11, not '%s'"),
                       month);
    since = ys, until = yu;
  }
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  /* dates as people write them: 2026/12/5, 昨天 */
  char sd[11], ud[11];
  if (since && !year && !month) {
    if (!node_date_parse(n, since, sd))
      return cli_usage("report", _("--since takes a date YYYY-MM-DD, not "
                                   "'%s'"),
                       since);
    since = sd;
  }
  if (until && !year && !month) {
    if (!node_date_parse(n, until, ud))
      return cli_usage("report", _("--until takes a date YYYY-MM-DD, not "
                                   "'%s'"),
                       until);
    until = ud;
  }
  if (since && until && strcmp(since, until) > 0)
    return cli_usage("report", _("--until %s is before --since %s"), until,
                     since);
  node_report rep;
  gs_err err = node_report_make_period(n, prefix, since, until, &rep);
  int rc = CLI_OK;
  if (err) {
    rc = cli_fail(_("report: cannot read the store: %s"), gs_i18n_strerror(err));
    goto out;
  }
  if (csv || xlsx) {
    node_reason why = {0};
    const char *path = csv ? csv : xlsx;
    if (node_export_report(n, &rep, csv ? NODE_EXPORT_CSV : NODE_EXPORT_XLSX,
                           path, &why) != GS_OK) {
      rc = cli_refused("report", &why);
      goto out;
    }
    if (strcmp(path, "-") != 0)
      fprintf(stderr, _("wrote the report (%zu grids and the total) to "
                        "%s\n"),
              rep.nrows, path);
    goto out;
  }
  if (ctx->json) {
    json_t *j = node_report_json(&rep, prefix, since);
    if (j && until)
      json_object_set_new(j, "until", json_string(until));
    rc = cli_json_out(j);
    goto out;
  }
  printf(_("report%s%s%s%s%s%s\n"), prefix && *prefix ? _(" for ") : "",
         prefix && *prefix ? prefix : "", since ? _(" since ") : "",
         since ? since : "", until ? _(" until ") : "", until ? until : "");
  /* issue 18: headers translated, padded by display width */
  static const char *const head[] = {
      N_("grid"),     N_("appeals"), N_("pending"), N_("resolved"),
      N_("median"),   N_("visits"),  N_("disputes"), N_("hazards"),
      N_("errands"),  N_("vol.h"),   N_("meetings")};
  static const int width[] = {-28, 7, 7, 8, 6, 7, 8, 7, 7, 8, 8};
  for (size_t i = 0; i < sizeof head / sizeof head[0]; i++) {
    const char *h = _(head[i]);
    int w = width[i] < 0 ? -cli_pad(h, -width[i]) : cli_pad(h, width[i]);
    printf(i ? " %*s" : "%*s", w, h);
  }
  printf("\n");
  for (size_t i = 0; i < rep.nrows; i++)
    row_text(&rep.rows[i], rep.rows[i].grid);
  row_text(&rep.total, _("total"));
  printf(_("\n(median: days from opened to resolved; disputes: mediated; "
         "errands: done by volunteers)\n"));
  const char *const *st = node_report_statuses();
  const char *const *cat = node_report_categories();
  printf(_("appeals by status:  "));
  for (int i = 0; st && st[i] && i < NODE_REPORT_VALUES; i++)
    printf(" %s %" PRIu64, cli_value_label("appeal", "status", st[i]),
           rep.total.by_status[i]);
  printf(_("\nappeals by category:"));
  for (int i = 0; cat && cat[i] && i < NODE_REPORT_VALUES; i++)
    printf(" %s %" PRIu64, cli_value_label("appeal", "category", cat[i]),
           rep.total.by_category[i]);
  printf(_("\nresidents %" PRIu64 ", households %" PRIu64 ", buildings %" PRIu64
         ", tasks done %" PRIu64 "\n"),
         rep.total.residents, rep.total.households, rep.total.buildings,
         rep.total.tasks_done);
  more_text(&rep.total);
  if (rep.noverdrawn)
    printf(_("warning: %zu time-bank account%s overdrawn by spends accepted on "
           "two nodes at once (gridsync timebank balances --overdrawn)\n"),
           rep.noverdrawn, rep.noverdrawn == 1 ? "" : "s");
  char mw[4][NODE_WARN_MAX];
  size_t nm = node_membership_warnings(n, mw, 4);
  for (size_t i = 0; i < nm; i++)
    printf(_("warning: %s\n"), mw[i]);
out:
  node_report_free(&rep);
  return rc;
}
