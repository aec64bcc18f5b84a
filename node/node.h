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

/* Write one change of ops in scope and commit it durably. */
gs_err node_write(node *n, const char *scope, size_t scope_len,
                  const crdt_op *ops, size_t nops, uint64_t *seq);

/* Begin a local write session signed by this node (store.h): for imports
 * that write many changes and commit once. Pass node_now(n) as phys_ms to
 * store_write_change. */
gs_err node_write_begin(node *n, struct store_write **out);

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
 * GS_EEXIST when the node already has a network. */
gs_err node_join(node *n, const char *code);

/* ---- membership and permissions (node/member.c) ---- */

/* Who may write where, as this node knows it now. */
typedef struct node_policy node_policy;
gs_err node_policy_load(node *n, node_policy **out);
void node_policy_free(node_policy *p);
/* GS_OK when c's author may write it; else GS_EPERM and why. Accepted
 * membership changes ("_net") update p, so a batch is checked in order. */
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
