/*
 * node/report.h: the figures offices publish (node/domain.c), per grid and
 * in total. Ownership: node_report_make(_period) fills a report the caller frees
 * with node_report_free.
 */
#ifndef GS_NODE_REPORT_H
#define GS_NODE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct node node;
#include "node/domain.h"

#define NODE_REPORT_VALUES 16 /* at most this many statuses or categories */

/* The figures of one grid (or of all: the total). Counts over a period
 * from `since` to `until` (dates, both inclusive; none: open-ended):
 *   appeals            opened in the period; by_status and by_category
 *                      split them in the order of the schema's values
 *   resolved           appeals now resolved or closed whose resolution
 *                      date is in the period; median_days: the median of
 *                      their days from opened to resolved (-1: none)
 *   disputes_mediated  of those, category "dispute"
 *   hazards_found      visits in the period with a finding "hazard" or
 *                      "fire-hazard" (visit_hazards of them), and appeals
 *                      of category "safety" opened in it that name no
 *                      such visit (one opened from a visit's finding is
 *                      the same hazard)
 *   visits             dated in the period, corrections not counted: a
 *                      visit's latest correction (its author's, by id)
 *                      gives its findings; visit_corrections counts them
 *   meetings           dated in the period
 *   tasks_done         action items done in the period
 *   errands_done       time-bank deposits of service "errand" in it
 *   volunteer_centihours  hours deposited in it, in hundredths, net of
 *                      corrections (an adjust naming a deposit counts in
 *                      the deposit's period and grid; corrected_centihours
 *                      sums them)
 *   wishes, wishes_fulfilled  micro-wishes opened in it; resolved in it
 *   lectures, activities, attendance  activities of kind lecture and
 *                      activity dated in it; their summed counts
 *   staff_errands, thefts_stopped, fights_stopped  the summed counts
 *                      (none: 1) of activities of kind errand (代办),
 *                      theft-stopped, fight-stopped dated in it
 *   party_reports      in-service party members' reports of a month in it
 *   residents, households, buildings  held now (deleted ones excluded;
 *                      residents who moved out or away excluded)
 * Deleted records count nowhere. */
typedef struct node_report_row {
  char grid[CRDT_SCOPE_MAX + 1]; /* street/community/grid; "" = total */
  uint64_t appeals;
  uint64_t by_status[NODE_REPORT_VALUES];
  uint64_t by_category[NODE_REPORT_VALUES];
  uint64_t resolved;
  double median_days;
  uint64_t disputes_mediated, hazards_found, visits, meetings, tasks_done;
  uint64_t errands_done;
  int64_t volunteer_centihours;
  uint64_t residents, households, buildings;
  /* issue 16 */
  uint64_t wishes, wishes_fulfilled;
  uint64_t visit_hazards, visit_corrections;
  int64_t corrected_centihours;
  uint64_t lectures, activities, attendance;
  uint64_t staff_errands, thefts_stopped, fights_stopped;
  uint64_t party_reports;
} node_report_row;

typedef struct node_report {
  node_report_row *rows; /* per grid, in scope order */
  size_t nrows;
  node_report_row total;
  node_balance *overdrawn; /* accounts below zero, for an admin */
  size_t noverdrawn;
  /* membership warnings (twice-used invites...): the figures may be
   * incomplete */
  char warnings[4][NODE_WARN_MAX];
  size_t nwarnings;
} node_report;

/* The report of the records under prefix (NULL or "": all) from since
 * ("YYYY-MM-DD" or NULL). GS_EINVAL for a bad date. Free with
 * node_report_free. */
gs_err node_report_make(node *n, const char *prefix, const char *since,
                        node_report *out);
/* The same over since..until (either NULL: open). GS_EINVAL for a bad
 * date or until before since. */
gs_err node_report_make_period(node *n, const char *prefix, const char *since,
                               const char *until, node_report *out);
/* The period of --year 2026, --month 2026-11 (text), into since and
 * until ("YYYY-MM-DD"). false when text is not one. */
bool node_report_year(const char *text, char since[11], char until[11]);
bool node_report_month(const char *text, char since[11], char until[11]);

/* Write the report as a ledger (node/export.c): one row per grid and a
 * total row 合计, Chinese column headers; CSV or .xlsx (as
 * node_export_query). */
gs_err node_export_report(node *n, const node_report *rep,
                          node_export_fmt fmt, const char *path,
                          node_reason *why);
void node_report_free(node_report *r);
/* The status and category values the report's arrays follow. */
const char *const *node_report_statuses(void);
const char *const *node_report_categories(void);

#endif
