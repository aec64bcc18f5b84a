/*
 * node: a running gridsync node: its directory, identity, clock and store.
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
 * key file is readable by others. clk NULL means the system clock. */
gs_err node_open(const char *dir, unsigned flags, const node_clock *clk,
                 node **out);
void node_close(node *n);

store *node_store(node *n);
const uint8_t *node_pk(const node *n);
/* The node's name ("" if none). */
const char *node_name(const node *n);
uint64_t node_now(const node *n);
/* A new record id (crdt_id_next): ids this node makes in a row sort in
 * the order made. */
void node_id_new(node *n, uint8_t id[CRDT_ID_LEN]);
/* The same for a record of coll: an id naming this node as its author
 * (crdt_id_owned) when coll is written once (immutable in the schema). */
void node_id_for(node *n, const char *coll, size_t coll_len,
                 uint8_t id[CRDT_ID_LEN]);

/* Write one change of ops in scope and commit it durably. */
gs_err node_write(node *n, const char *scope, size_t scope_len,
                  const crdt_op *ops, size_t nops, uint64_t *seq);

/* Begin a local write session signed by this node (store.h): for imports
 * that write many changes and commit once. Pass node_now(n) as phys_ms to
 * store_write_change. */
gs_err node_write_begin(node *n, struct store_write **out);

/* ---- the domain schema (node/schema.c, DESIGN.md section 8) ---- */

/* Field types of the schema. */
typedef enum node_ftype {
  NODE_F_TEXT,  /* a string */
  NODE_F_INT,   /* an integer in [min, max] */
  NODE_F_NUM,   /* an integer or float in [min, max] */
  NODE_F_BOOL,
  NODE_F_DATE,  /* a string "YYYY-MM-DD" */
  NODE_F_ENUM,  /* a string among values */
  NODE_F_REF,   /* a ref to a record of collection ref (or refs: "a|b") */
  NODE_F_TAGS,  /* a set of strings among values */
  NODE_F_TEXTS, /* a set of strings */
  NODE_F_REFS,  /* a set of refs to records of collection ref */
} node_ftype;

enum { NODE_F_REQUIRED = 1 << 0 };

typedef struct node_field {
  const char *name;
  node_ftype type;
  unsigned flags;
  const char *const *values; /* ENUM, TAGS: allowed, NULL-terminated */
  const char *ref;           /* REF, REFS: "coll" or "coll1|coll2" */
  double min, max;           /* INT, NUM (both 0: any) */
  const char *help;
  const char *after;         /* DATE: not before this date field */
} node_field;

/* One status change a collection allows; entering `to` needs the fields
 * of needs (set by the same write, or held already). */
typedef struct node_move {
  const char *from, *to;
  const char *needs[2];
} node_move;

typedef struct node_coll {
  const char *name;
  const char *help;
  const node_field *fields;
  size_t nfields;
  bool immutable;            /* written once: no edit, delete or restore */
  const char *status;        /* the field with a state machine, or NULL */
  const char *initial;       /* a new record's status */
  const node_move *moves;    /* allowed status changes */
  size_t nmoves;
} node_coll;

/* The schema's collections (static; *n gets how many). */
const node_coll *node_schema_all(size_t *n);
/* The collection called name, or NULL. Collections outside the schema
 * are free-form when their name starts with "x_" (see node_schema_check);
 * names starting with '_' are the node's own. */
const node_coll *node_schema_coll(const char *name, size_t n);
const node_field *node_schema_field(const node_coll *c, const char *name,
                                    size_t n);
/* true when c allows its status to go from `from` to `to`. */
bool node_schema_move_ok(const node_coll *c, const char *from, size_t fn,
                         const char *to, size_t tn);
/* Check the ops of one local write to one record (all of ops name the
 * same collection and id) against the schema, given the record's current
 * state cur (NULL when it is new): known collection, known fields, types,
 * allowed values, required fields of a new record, immutable records,
 * status moves. GS_OK, or GS_ESCHEMA with one clear sentence in why.
 * Received changes are not checked against the schema: a newer node may
 * know more fields, and convergence must not depend on the schema. */
enum { NODE_SCHEMA_IMPORT = 1 << 0 }; /* whole records of an import: any
                                        status, no moves checked */
gs_err node_schema_check(const crdt_record *cur, const crdt_op *ops,
                         size_t nops, unsigned flags, char *why,
                         size_t whylen);
/* true when text (n bytes) is a valid date "YYYY-MM-DD". */
bool node_date_valid(const char *text, size_t n);
/* Days since 1970-01-01 (proleptic Gregorian) of the civil date y-m-d. */
long node_days_from_civil(long y, long m, long d);

/* ---- domain figures (node/domain.c) ---- */

/* A time-bank account: one person's (or unit's, team's) entries. Hours
 * are in hundredths (centi-hours), rounded per entry. */
typedef struct node_balance {
  char coll[CRDT_NAME_MAX + 1]; /* the person's collection */
  uint8_t id[CRDT_ID_LEN];
  int64_t deposits, spends, adjusts; /* centi-hours; adjusts signed */
  int64_t balance;                   /* deposits - spends + adjusts */
  uint64_t entries;
} node_balance;

/* Every account with entries under prefix (NULL or "": all), sorted by
 * person, each summing all its entries this node holds (in any scope);
 * *out is malloc'd (caller frees), NULL when *count is 0. */
gs_err node_timebank_balances(node *n, const char *prefix,
                              node_balance **out, size_t *count);
/* One person's account over everything this node holds (zero when the
 * person has no entries). */
gs_err node_timebank_balance(node *n, const char *coll,
                             const uint8_t id[CRDT_ID_LEN], node_balance *out);
/* Hours (centi-hours) as text: "2", "1.5", "-0.25". */
void node_hours_text(int64_t centi, char *buf, size_t cap);

/* What a local write does to time-bank accounts: every write of new
 * entries (a put, a domain command, a load) adds its ops here, then
 * checks that no account it draws on ends below zero. Accounts overdrawn
 * by spends accepted on two nodes at once are thereby never made worse
 * by a local write; deposits are always allowed. */
typedef struct node_timebank_batch {
  node_balance *v; /* deltas per account */
  size_t n, cap;
} node_timebank_batch;
/* Add the entry written by ops (one record's ops; others are ignored). */
gs_err node_timebank_batch_add(node_timebank_batch *b, const crdt_op *ops,
                               size_t nops);
/* GS_ESCHEMA with why ("NAME has 1.5 h; spending 2 h would overdraw the
 * account") when an account with a net spend in b would end below 0. */
gs_err node_timebank_check_batch(node *n, const node_timebank_batch *b,
                                 char *why, size_t whylen);
void node_timebank_batch_free(node_timebank_batch *b);

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

/* ---- demo data (node/seed.c) ---- */

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
  uint64_t changes; /* changes written */
} node_seed_result;

/* Write the demo community into n's store in one durable transaction
 * (signed by n; n must be allowed to write under root). */
gs_err node_demo_seed(node *n, const node_seed_opts *o,
                      node_seed_result *res);

/* ---- network (membership comes with certificates, DESIGN.md 7) ---- */

#define NODE_NET_KEY_LEN 32
#define NODE_SCOPES_MAX 16
#define NODE_ROLE_MAX 15

/* The network this node belongs to. key is secret: wipe copies. */
typedef struct node_network {
  char name[NODE_NAME_MAX + 1];
  uint8_t key[NODE_NET_KEY_LEN];   /* network key: the handshake PSK */
  uint8_t id[8];                   /* public id: hash of the key */
  uint8_t admin[CRDT_KEY_LEN];     /* the admin who created or invited */
  char role[NODE_ROLE_MAX + 1];    /* admin, office, leader, reader */
  char scopes[NODE_SCOPES_MAX][CRDT_SCOPE_MAX + 1]; /* "" = everything */
  size_t nscopes;
} node_network;

/* The node's network, borrowed; NULL when it has none. */
const node_network *node_net(const node *n);
/* Become the admin of a new network called name (UTF-8, at most
 * NODE_NAME_MAX bytes): a new random network key in network.key (0600).
 * GS_EEXIST when the node already has a network. */
gs_err node_network_create(node *n, const char *name);

/* Roles of DESIGN.md section 7. */
bool node_role_valid(const char *role);
/* An invite code (one line of text, malloc'd into *code, caller frees and
 * should wipe: it carries the network key) for role under scopes, valid
 * until expires_ms, signed by this node. GS_EPERM unless this node created
 * the network (its root admin); GS_ENOTFOUND without a network. */
gs_err node_invite(node *n, const char *role, const char *const *scopes,
                   size_t nscopes, uint64_t expires_ms, char **code);
/* Join the network of code: checks its checksum, signature and expiry
 * (GS_EDECODE, GS_ESIG, GS_ETIMEOUT), stores the key and membership.
 * GS_EEXIST when the node already has a network, unless its own claim
 * does not count (void, held for a twice-used invite, not confirmed), or
 * the code brings a network key it lacks (it missed a rotation): then a
 * fresh code of the same network replaces its claim. */
gs_err node_join(node *n, const char *code);

/* ---- membership and permissions (node/member.c) ---- */

/* Who may write where, as this node knows it now. */
typedef struct node_policy node_policy;
gs_err node_policy_load(node *n, node_policy **out);
/* Free p; first, when checks through p made a claim due, this node (an
 * admin or office) writes its witness of what is still unconfirmed. */
void node_policy_free(node_policy *p);
/* GS_OK when c's author may write it; GS_EPERM and why when it never
 * may; GS_EHELD and why when that depends on membership data not seen yet
 * (keep it out, check again later). Accepted membership changes ("_net")
 * update p, so a batch is checked in order. An admin or office node
 * witnesses a valid claim it checks here (a change of its own). */
gs_err node_policy_check(node_policy *p, const crdt_change *c, char *why,
                         size_t whylen);
/* May the node with key receive records of scope? Admins and offices
 * (the relays) everything; leaders and readers their prefixes; every
 * member the membership records; others nothing. */
bool node_policy_may_read(const node_policy *p, const uint8_t *key,
                          const char *scope, size_t scope_len);
/* true when the node with key was revoked. */
bool node_policy_revoked(const node_policy *p, const uint8_t *key);
/* May this node write in scope now? GS_EPERM with why if not. */
gs_err node_may_write(node *n, const char *scope, size_t scope_len,
                      char *why, size_t whylen);
/* Admin: revoke the node with key: its changes beyond what this node holds
 * now are refused everywhere the revocation reaches. *kept (optional):
 * feeds of it kept. GS_EPERM unless this node is the network's admin. */
gs_err node_revoke(node *n, const uint8_t *key, size_t *kept);

/* ---- membership that a leaked invite or a wrong clock cannot break
 * (issue 14; node/member.c) ----
 * A claim counts once an admin or office node witnessed it before the
 * invite's expiry (a "witness" record in _net, written by that node when
 * it first receives the claim, by its own clock). Changes of a claimant
 * not yet witnessed, or whose invite another key claimed too (until the
 * admin re-admits one), are held: node_policy_check returns GS_EHELD. */
typedef enum node_member_state {
  NODE_MEMBER_VALID,       /* its changes count */
  NODE_MEMBER_UNWITNESSED, /* no admin or office has confirmed it yet */
  NODE_MEMBER_LEAKED,      /* its invite was claimed by another key too */
  NODE_MEMBER_VOID,        /* a bad claim, or another key was re-admitted */
  NODE_MEMBER_NONE,        /* no claim known */
} node_member_state;
typedef struct node_member_info {
  uint8_t key[CRDT_KEY_LEN];
  node_member_state state;
  char role[NODE_ROLE_MAX + 1];
  uint64_t expires; /* the invite's expiry, ms */
  bool revoked;
  bool has_other;   /* LEAKED, VOID: another key claiming the invite */
  uint8_t other[CRDT_KEY_LEN];
} node_member_info;
typedef int (*node_member_cb)(void *ctx, const node_member_info *m);
/* Every member this node knows of, in id order (cb returns non-zero to
 * stop). */
gs_err node_members(node *n, node_member_cb cb, void *ctx);
/* The member with key (state NODE_MEMBER_NONE when unknown). */
gs_err node_member_get(node *n, const uint8_t key[CRDT_KEY_LEN],
                       node_member_info *out);
/* Admin: of the keys that claimed one invite, key keeps it (its changes
 * count again everywhere the record reaches); the others stay void.
 * GS_EPERM unless the root admin; GS_ENOTFOUND when key has no claim;
 * GS_EINVAL when its invite was not claimed twice. */
gs_err node_readmit(node *n, const uint8_t key[CRDT_KEY_LEN]);
#define NODE_WARN_MAX 400
/* Membership warnings worth showing a person (twice-used invites, this
 * node's own claim held or void, claims never confirmed), each one
 * sentence into out[i]; returns how many (at most max). */
size_t node_membership_warnings(node *n, char (*out)[NODE_WARN_MAX],
                                size_t max);

/* Admin: rotate the network key after a laptop is lost (issue 14): a new
 * key, sealed to each valid, unrevoked member's node key in a "_net"
 * record (it travels in sessions and bundles); until grace_ms from now
 * every node goes on with the old key, from then on the new one only, so
 * a revoked node shares no key with anyone. GS_EPERM unless the root
 * admin; GS_EINVAL for a grace over NODE_ROTATE_GRACE_MAX_MS. */
#define NODE_ROTATE_GRACE_MS (3ULL * 86400000)       /* default: 3 days */
#define NODE_ROTATE_GRACE_MAX_MS (30ULL * 86400000)  /* at most 30 days */
typedef struct node_rotate_info {
  uint64_t epoch;       /* the new key's number (the first key is 1) */
  uint64_t grace_until; /* ms */
  size_t sealed;        /* members that get it */
  size_t skipped;       /* revoked, void or unconfirmed: they do not */
} node_rotate_info;
gs_err node_network_rotate(node *n, uint64_t grace_ms, node_rotate_info *info);
/* The newest key epoch this node knows of, and its grace end (1, 0 when
 * never rotated). */
gs_err node_network_epoch(node *n, uint64_t *epoch, uint64_t *grace_until);

/* Count received changes refused for permissions (why: one reason). */
void node_note_refused(node *n, const char *why, uint64_t count);
/* How many were refused, and the last reason (into why). */
uint64_t node_refused(node *n, char *why, size_t whylen);

/* ---- offline bundles (node/bundle.c) ---- */

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
  /* issue 14: changes of scopes this node may not read (dropped), and
   * changes held for membership data not seen yet (import again later) */
  uint64_t unreadable, held;
} node_import_result;

/* Write the feed tails under prefix (NULL: all) to path, sealed under the
 * network key, atomically. for_key: only what that node may read; since:
 * a file of node_vv_write, to send only what it lacks. */
gs_err node_export(node *n, const char *path, const char *prefix,
                   const uint8_t *for_key, const char *since,
                   node_bundle_info *info);
/* Apply a bundle with the checks of network sync; a bundle that was
 * altered, cut short or is for another network is refused whole (why).
 * Only what this node's role may read is stored (res->unreadable counts
 * the rest). */
gs_err node_import(node *n, const char *path, node_import_result *res,
                   char *why, size_t whylen);
/* The plain header of a bundle (no key needed). */
gs_err node_bundle_info_read(const char *path, node_bundle_info *info);
/* Write this node's version vector to path (for export --since). */
gs_err node_vv_write(node *n, const char *path);

/* ---- on the network (node/netnode.c) ---- */

struct sockaddr_storage;
struct net_sync_stats;

/* true when text is "HOST:PORT" or "[v6]:PORT" (no name lookup). */
bool node_addr_valid(const char *hostport);
/* Parse "HOST:PORT" ("[v6]:PORT", names resolved: blocks) into out. */
gs_err node_parse_addr(const char *hostport, struct sockaddr_storage *out);

/* The address book. */
typedef struct node_peer_info {
  const char *addr;
  uint64_t last_ok_ms, last_try_ms; /* 0: never */
  uint32_t failures;                /* in a row */
  const char *note;                 /* last outcome, for people */
  const uint8_t *key;               /* node key seen there, or NULL */
} node_peer_info;
typedef int (*node_peer_cb)(void *ctx, const node_peer_info *p);
/* GS_EINVAL for a bad address; GS_EEXIST when already known. */
gs_err node_peer_add(node *n, const char *addr);
gs_err node_peer_remove(node *n, const char *addr);
gs_err node_peers(node *n, node_peer_cb cb, void *ctx);

/* Progress of a long sync (called every half second). */
typedef void (*node_progress_cb)(void *ctx,
                                 const struct net_sync_stats *stats);

/* Sync once with the node at addr, both ways, then return. stats gets
 * what was sent and received; on failure why says what went wrong.
 * GS_ENOTFOUND when this node has no network. */
gs_err node_sync_once(node *n, const char *addr, node_progress_cb cb,
                      void *ctx, struct net_sync_stats *stats, char *why,
                      size_t whylen);

typedef struct node_serve_opts {
  const char *listen;        /* "HOST:PORT"; default 0.0.0.0:7070 */
  const char *const *peers;  /* added to the address book */
  size_t npeers;
  uint64_t gossip_ms;        /* mean gossip period; default 30 s */
  size_t max_outgoing;       /* connections kept to peers; default 3 */
  size_t max_conns;          /* all connections; default 64 */
  FILE *log;                 /* one line per event, or NULL */
  /* called once listening (port: the bound one, for port 0) */
  void (*on_listen)(void *ctx, const char *host, int port);
  void *ctx;
} node_serve_opts;

/* Serve until SIGINT or SIGTERM: accept peers, keep connections to a few
 * from the address book, gossip with a random one now and then, push
 * local changes to connected peers live. Returns after a clean close. */
gs_err node_serve(node *n, const node_serve_opts *o);

/* Warnings worth showing a person; each a static string, NULL-terminated
 * list written to out (at most max). */
size_t node_warnings(node *n, const char **out, size_t max);

/* The largest clock skew seen: how far the node's HLC is ahead of its
 * physical clock, in ms (a clock that is behind, or a peer that is
 * ahead). */
uint64_t node_clock_skew_ms(node *n);

#endif
