/*
 * node/report.h: the figures offices publish (node/domain.c), per grid and
 * in total. Ownership: node_report_make fills a report the caller frees
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
 * start at `since` (a date, inclusive; none: everything):
 *   appeals            opened in the period; by_status and by_category
 *                      split them in the order of the schema's values
 *   resolved           appeals now resolved or closed whose resolution
 *                      date is in the period; median_days: the median of
 *                      their days from opened to resolved (-1: none)
 *   disputes_mediated  of those, category "dispute"
 *   hazards_found      appeals of category "safety" opened in the period
 *   visits, meetings   dated in the period
 *   tasks_done         action items done in the period
 *   errands_done       time-bank deposits of service "errand" in it
 *   volunteer_centihours  hours deposited in it, in hundredths
 *   residents, households, buildings  held now (deleted ones excluded)
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
} node_report_row;

typedef struct node_report {
  node_report_row *rows; /* per grid, in scope order */
  size_t nrows;
  node_report_row total;
  node_balance *overdrawn; /* accounts below zero, for an admin */
  size_t noverdrawn;
} node_report;

/* The report of the records under prefix (NULL or "": all) from since
 * ("YYYY-MM-DD" or NULL). GS_EINVAL for a bad date. Free with
 * node_report_free. */
gs_err node_report_make(node *n, const char *prefix, const char *since,
                        node_report *out);
void node_report_free(node_report *r);
/* The status and category values the report's arrays follow. */
const char *const *node_report_statuses(void);
const char *const *node_report_categories(void);

#endif
