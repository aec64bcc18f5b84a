/*
 * node/bundle.h: offline bundles (node/bundle.c): the feed tails written
 * to a sealed file for a USB stick, applied elsewhere with the checks of
 * network sync.
 */
#ifndef GS_NODE_BUNDLE_H
#define GS_NODE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"
#include "node/node.h"

typedef struct node node;
#include "node/member.h"

typedef struct node_bundle_info {
  uint8_t netid[8];
  char netname[NODE_NAME_MAX + 1];
  uint8_t sender[CRDT_KEY_LEN];
  uint64_t created; /* ms */
  char scope[CRDT_SCOPE_MAX + 1];
  uint64_t feeds, changes, bytes;
} node_bundle_info;

typedef struct node_import_result {
  uint64_t applied, duplicates, refused; /* changes */
  uint64_t gaps, bad_feeds;              /* runs not applied */
} node_import_result;

/* Write the feed tails under prefix (NULL: all) to path, sealed under the
 * network key, atomically. for_key: only what that node may read; since:
 * a file of node_vv_write, to send only what it lacks. */
gs_err node_export(node *n, const char *path, const char *prefix,
                   const uint8_t *for_key, const char *since,
                   node_bundle_info *info);
/* Apply a bundle with the checks of network sync; a bundle that was
 * altered, cut short or is for another network is refused whole (why). */
gs_err node_import(node *n, const char *path, node_import_result *res,
                   char *why, size_t whylen);
/* The plain header of a bundle (no key needed). */
gs_err node_bundle_info_read(const char *path, node_bundle_info *info);
/* Write this node's version vector to path (for export --since). */
gs_err node_vv_write(node *n, const char *path);

#endif
