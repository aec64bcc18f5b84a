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

/* ---- sealed at rest (issue 19; node/seal.c) ----
 * A node's store and secret files are sealed under a random data key,
 * kept in seal.key wrapped by an Argon2id key from a passphrase (or, for
 * an open node, as it is). node_init and node_open get the passphrase
 * from the source a front end sets (the CLI: --passphrase-file, the
 * GRIDSYNC_PASSPHRASE variable, a terminal prompt), else from
 * GRIDSYNC_PASSPHRASE. A wrong one is GS_EPASS; none, GS_ELOCKED. A
 * directory of an earlier build (no seal.key) is sealed in place on its
 * first open with a passphrase: seal.key is made, the secret files
 * sealed, the store sealed and compacted (store_open_ex). */
#define NODE_SEAL_FILE "seal.key"
#define NODE_PASS_MIN 8    /* characters */
#define NODE_PASS_MAX 1024 /* bytes */
/* Argon2id for a new passphrase: 0.35 s on the build machine, about
 * 0.5-0.7 s on a cheap laptop, 256 MiB (libsodium's "moderate"). */
#define NODE_PWHASH_OPS 3
#define NODE_PWHASH_MEM ((uint64_t)256 << 20)
typedef enum node_pass_kind {
  NODE_PASS_UNLOCK, /* the passphrase of an existing node */
  NODE_PASS_NEW,    /* a new one (a terminal asks it twice) */
} node_pass_kind;
/* Write the passphrase (UTF-8, no newline) into buf (cap bytes, NUL
 * terminated), its length in *len; GS_ELOCKED when there is none. */
typedef gs_err (*node_pass_fn)(void *ctx, node_pass_kind kind, char *buf,
                               size_t cap, size_t *len);
/* Set the process's passphrase source (NULL: GRIDSYNC_PASSPHRASE). */
void node_set_pass_source(node_pass_fn fn, void *ctx);
enum { NODE_INIT_OPEN = 1 << 0 }; /* no passphrase: an open node */
/* node_init with flags (NODE_INIT_OPEN). */
gs_err node_init_ex(const char *dir, const char *name, unsigned flags);
/* Change the passphrase of the node in dir: the old one is asked
 * (NODE_PASS_UNLOCK), then the new one (NODE_PASS_NEW), or with open_node
 * none (the node becomes open). Only seal.key is rewritten (atomically);
 * no data. GS_EPASS when the old one is wrong: nothing is written. */
gs_err node_passphrase_change(const char *dir, bool open_node);
/* Is n an open node (data key kept unwrapped: no passphrase)? */
bool node_is_open(const node *n);
/* Progress of an in-place sealing or format upgrade as a node opens,
 * for the front end to print; NULL: none. what: NODE_PROGRESS_SEAL
 * (values sealed, of about total), NODE_PROGRESS_FORMAT (entries an
 * upgrade to this build's store format walked, of about total),
 * NODE_PROGRESS_COMPACT (compaction starts: no old copy left behind). */
enum { NODE_PROGRESS_SEAL, NODE_PROGRESS_FORMAT, NODE_PROGRESS_COMPACT };
void node_set_seal_progress(void (*fn)(void *ctx, int what, uint64_t done,
                                       uint64_t total),
                            void *ctx);

/* Unlocked once per start: a serving node answers processes of the same
 * user (SO_PEERCRED) on the Unix socket dir/unlock.sock (mode 0600, in
 * the 0700 directory) with its data key, so that node_open in a CLI
 * command of that user needs no passphrase while it runs (node_open
 * tries the socket first and checks the key against identity.key).
 * GS_EBUSY when another process of this node answers already. The
 * handle is freed by node_unlock_stop's close callback; n must outlive
 * it. */
#define NODE_UNLOCK_SOCK "unlock.sock"
typedef struct node_unlock node_unlock;
struct uv_loop_s;
gs_err node_unlock_start(const node *n, struct uv_loop_s *loop,
                         node_unlock **out);
/* NULL is a no-op. */
void node_unlock_stop(node_unlock *u);

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
/* The date days_back days before today, "YYYY-MM-DD" in local time by
 * the node's clock (0: today); false when the clock is out of range
 * (out is then "1970-01-01"). */
bool node_today(const node *n, int days_back, char out[11]);
/* A new record id (crdt_id_next): ids this node makes in a row sort in
 * the order made. */
void node_id_new(node *n, uint8_t id[CRDT_ID_LEN]);
/* The same for a record of coll: an id naming this node as its author
 * (crdt_id_owned) when coll is written once (immutable in the schema). */
void node_id_for(node *n, const char *coll, size_t coll_len,
                 uint8_t id[CRDT_ID_LEN]);

/* ---- status as data (node/status.c) ---- */

#define NODE_WARNINGS_MAX 16
#define NODE_WARN_MAX 400 /* bytes of one warning made for this node */
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
  const char *warnings[NODE_WARNINGS_MAX]; /* static or in made[] */
  size_t nwarnings;
  char made[4][NODE_WARN_MAX];        /* membership warnings (member.h) */
  struct node_balance *overdrawn;     /* accounts below zero (domain.h) */
  size_t noverdrawn;
  node_feed_behind *behind;           /* the first NODE_BEHIND_LISTED */
  size_t nbehind;
  uint64_t behind_feeds, behind_changes; /* all of them */
  uint64_t unsent; /* this node's own changes no peer is known to hold */
} node_status;

/* The status of this node, figures under prefix (NULL or "": all). */
gs_err node_status_get(node *n, const char *prefix, node_status *out);
void node_status_free(node_status *s);

/* ---- held changes, bad feeds, peers' clocks (DESIGN.md section 6:
 * a bad peer is isolated, never trusted) ----
 *
 * Rules: a received change stamped more than STORE_AHEAD_MAX_MS (24 h)
 * ahead of this node's clock is held, not applied nor relayed, and
 * re-checked as the clock advances; so is a change whose author's claim
 * has not arrived yet (re-checked as memberships arrive). A fork, gap,
 * broken chain or bad signature sets that one feed apart (a fork freezes
 * it); the session goes on with the others. A session shows a peer
 * nothing but this node's own claim until the peer is a valid member.
 * Nodes tell each other their wall clock; a difference beyond the bound
 * is a warning naming both dates. */

/* A held change, borrowed for the call. */
typedef struct node_held_info {
  const uint8_t *origin; /* CRDT_KEY_LEN: its author */
  const char *scope;
  size_t scope_len;
  uint64_t seq;
  uint64_t stamp_ms; /* its HLC's physical part */
  bool clock_ahead;  /* held for its stamp (else: membership or order) */
  const char *reason; /* for people */
} node_held_info;
typedef int (*node_held_cb)(void *ctx, const node_held_info *h);
gs_err node_held(node *n, node_held_cb cb, void *ctx);
/* Re-check held changes against this node's clock and memberships now;
 * *applied (optional) counts those applied. */
gs_err node_held_recheck(node *n, size_t *applied);

/* A feed a bad change was seen in, borrowed for the call. */
typedef struct node_bad_feed {
  const uint8_t *origin; /* CRDT_KEY_LEN: the feed's author */
  const char *scope;
  uint64_t seq;   /* of the bad change */
  uint64_t at_ms; /* when it was seen */
  bool frozen;    /* a fork: nothing more of the feed is applied here */
  const char *reason; /* for people */
} node_bad_feed;
typedef int (*node_bad_feed_cb)(void *ctx, const node_bad_feed *b);
gs_err node_bad_feeds(node *n, node_bad_feed_cb cb, void *ctx);

/* The last peer met whose wall clock differed from this node's by more
 * than STORE_AHEAD_MAX_MS (cleared by a meeting that agrees). */
typedef struct node_peer_clock {
  uint64_t own_ms, peer_ms; /* both clocks at the meeting */
  char addr[256];
} node_peer_clock;
/* GS_ENOTFOUND when there is none. */
gs_err node_peer_clock_get(node *n, node_peer_clock *out);
/* A meeting with the peer at addr, whose HELLO said peer_ms when this
 * node's clock said own_ms. Returns true when they differ beyond the
 * bound, and then writes the sentence to show into why. */
bool node_note_peer_clock(node *n, const char *addr, uint64_t own_ms,
                          uint64_t peer_ms, char *why, size_t whylen);

/* Warnings worth showing a person, written to out (at most max); each a
 * static string, except the peer-clock sentence, which n holds until the
 * next call. */
size_t node_warnings(node *n, const char **out, size_t max);

/* The largest clock skew seen: how far the node's HLC is ahead of its
 * physical clock, in ms (a clock that is behind, or a peer that is
 * ahead). */
uint64_t node_clock_skew_ms(node *n);


#endif
