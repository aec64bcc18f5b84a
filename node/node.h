/*
 * node: a running gridsync node: its directory, identity, clock and store
 * (node.c), and its status as data (status.c). The other modules of
 * node/ have their own headers: schema.h (the domain schema), domain.h
 * (the one checked write path, queries, the time bank), report.h,
 * seed.h (demo data), member.h (network and membership), bundle.h
 * (offline bundles), netnode.h (on the network).
 *
 * A node directory holds the LMDB store (data.mdb, lock.mdb) and the
 * identity secret key (identity.key, mode 0600, refused if wider). Time
 * comes from an injectable clock so tests can move it.
 */
#ifndef GS_NODE_H
#define GS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crdt/crdt.h"

typedef struct node node;
typedef struct store store;
struct store_write;

/* The node's time source: Unix milliseconds. */
typedef struct node_clock {
  uint64_t (*now_ms)(void *ctx);
  void *ctx;
} node_clock;

/* The real clock; honours GRIDSYNC_NOW_MS (a fixed time, for tests). */
extern const node_clock node_clock_system;

#define NODE_NAME_MAX 128

/* Create a node in dir (created, mode 0700, if missing): store, identity
 * key, name. GS_EEXIST if dir already holds a node. */
gs_err node_init(const char *dir, const char *name);

enum { NODE_BULK = 1 << 0 }; /* no fsync per commit (see store.h) */

/* Open the node in dir. GS_ENOTINIT if there is none; GS_EKEYMODE if the
 * key file is readable by others; GS_EBUSY if this process has it open
 * already (LMDB allows one open of an environment per process: pass the
 * one handle down instead). clk NULL means the system clock. */
gs_err node_open(const char *dir, unsigned flags, const node_clock *clk,
                 node **out);
void node_close(node *n);
/* How many nodes this process has open (for tests of the rule above). */
size_t node_open_count(void);
/* The source of the random bytes of new ids (NULL: the system's); rng
 * must outlive n. */
void node_set_rng(node *n, const crdt_rng *rng);

const uint8_t *node_pk(const node *n);
/* The node's name ("" if none). */
const char *node_name(const node *n);
/* The node's directory (borrowed). */
const char *node_dir(const node *n);
/* A number that changes whenever the node's store takes a change (local
 * or received): how many changes it holds. */
gs_err node_version(node *n, uint64_t *out);
uint64_t node_now(const node *n);
/* Today's date "YYYY-MM-DD" in local time by the node's clock; false
 * when the clock is out of range. */
bool node_today(const node *n, char out[11]);
/* A new record id (crdt_id_next): ids this node makes in a row sort in
 * the order made. */
void node_id_new(node *n, uint8_t id[CRDT_ID_LEN]);
/* The same for a record of coll: an id naming this node as its author
 * (crdt_id_owned) when coll is written once (immutable in the schema). */
void node_id_for(node *n, const char *coll, size_t coll_len,
                 uint8_t id[CRDT_ID_LEN]);
/* Written-once records whose id is time-prefixed from this moment on
 * (2026-11-23T12:00Z) take ops from their author only. Earlier ids were
 * made before ids named their author: such records are written as
 * before, so that data from earlier builds still syncs. The rule reads
 * the id alone, so nodes still decide alike; a node can only give its
 * own new records an earlier time, which exposes nobody else's. */
#define NODE_OWNED_SINCE_MS 1795435200000ULL
bool node_id_guarded(const uint8_t id[CRDT_ID_LEN]);

/* ---- status as data (node/status.c) ---- */

#define NODE_WARNINGS_MAX 16
#define NODE_BEHIND_LISTED 1000

typedef struct node_feed_behind {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t held, heard;
} node_feed_behind;

/* What `status` shows. warnings are static strings; overdrawn and behind
 * are malloc'd (node_status_free). */
typedef struct node_status {
  size_t records_under;               /* under the prefix asked for */
  size_t records, feeds, changes, forks;
  uint64_t map_bytes, used_bytes;
  uint8_t digest[CRDT_HASH_LEN];      /* of the state under the prefix */
  crdt_hlc hlc;                       /* 0: no writes yet */
  uint64_t ahead_ms;                  /* node_clock_skew_ms */
  uint64_t refused;                   /* received changes refused */
  char refused_why[200];              /* the last reason */
  const char *warnings[NODE_WARNINGS_MAX];
  size_t nwarnings;
  struct node_balance *overdrawn;     /* accounts below zero (domain.h) */
  size_t noverdrawn;
  node_feed_behind *behind;           /* the first NODE_BEHIND_LISTED */
  size_t nbehind;
  uint64_t behind_feeds, behind_changes; /* all of them */
} node_status;

/* The status of this node, figures under prefix (NULL or "": all). */
gs_err node_status_get(node *n, const char *prefix, node_status *out);
void node_status_free(node_status *s);

/* Warnings worth showing a person; each a static string, NULL-terminated
 * list written to out (at most max). */
size_t node_warnings(node *n, const char **out, size_t max);

/* The largest clock skew seen: how far the node's HLC is ahead of its
 * physical clock, in ms (a clock that is behind, or a peer that is
 * ahead). */
uint64_t node_clock_skew_ms(node *n);


#endif
