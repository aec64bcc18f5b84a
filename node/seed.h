/*
 * node/seed.h: a realistic demo community (node/seed.c), written through
 * the one checked write path in one durable transaction.
 */
#ifndef GS_NODE_SEED_H
#define GS_NODE_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct node node;

/* A realistic community to try gridsync on: by default the size of a
 * real one (19 buildings, 5,235 households, about 6,100 residents, 15
 * grids under root "gongrencun/qinghejv": scopes ROOT/g01..g15), with
 * Chinese names, ages skewed old, tags at plausible rates, units, teams,
 * and a year of appeals, meetings with action items, visits and
 * time-bank entries ending at `until`. The same seed and until give the
 * same records (ids included). Records are schema-valid (imports:
 * NODE_SCHEMA_IMPORT), time-bank spends never overdraw. */
typedef struct node_seed_opts {
  uint64_t seed;
  const char *root;      /* scope prefix; NULL: "gongrencun/qinghejv" */
  const char *until;     /* last day "YYYY-MM-DD"; NULL: today */
  unsigned households;   /* 0: 5235 (buildings and grids scale with it) */
  /* progress: called now and then (what: "residents"...), may be NULL */
  void (*progress)(void *ctx, const char *what, uint64_t done,
                   uint64_t total);
  void *ctx;
} node_seed_opts;

typedef struct node_seed_result {
  uint64_t grids, buildings, households, residents, units, teams;
  uint64_t appeals, meetings, tasks, visits, timebank;
  /* issue 16 (counted in the above too where of their collection) */
  uint64_t activities, party_reports, wishes, moved, moved_out;
  uint64_t changes; /* changes written */
} node_seed_result;

/* Write the demo community into n's store in one durable transaction
 * (signed by n; n must be allowed to write under root). */
gs_err node_demo_seed(node *n, const node_seed_opts *o,
                      node_seed_result *res);

#endif
