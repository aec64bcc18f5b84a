/*
 * node/netnode.h: the node on the network (node/netnode.c): the address
 * book, a one-off sync, and the serving node that runs on a caller's
 * libuv loop (signals are the caller's).
 */
#ifndef GS_NODE_NETNODE_H
#define GS_NODE_NETNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct node node;
#include <stdio.h>

struct sockaddr_storage;
struct net_sync_stats;

/* true when text is "HOST:PORT" or "[v6]:PORT" (no name lookup). */
bool node_addr_valid(const char *hostport);
/* Parse "HOST:PORT" ("[v6]:PORT", names resolved: blocks) into out. */
gs_err node_parse_addr(const char *hostport, struct sockaddr_storage *out);

/* How an address came into the book. */
typedef enum node_peer_found {
  NODE_FOUND_TYPED = 0,   /* given by a person: `peers add`, `serve --peer` */
  NODE_FOUND_LAN = 1,     /* heard on the LAN (a discovery beacon) */
  NODE_FOUND_PEER = 2,    /* told by a peer */
  NODE_FOUND_UNKNOWN = 3, /* written before the book recorded how */
} node_peer_found;

/* What went wrong in the last session with a peer, in kinds a person
 * can act on (node/address.c); recorded with the note. */
typedef enum node_peer_kind {
  NODE_PEER_OK = 0,          /* it worked, or never tried */
  NODE_PEER_UNREACHABLE = 1, /* refused, no route, name unknown */
  NODE_PEER_TIMEOUT = 2,     /* no answer in time */
  NODE_PEER_KEY = 3,         /* handshake failed: another network key */
  NODE_PEER_REFUSED = 4,     /* it would not sync with us (revoked...) */
  NODE_PEER_VERSION = 5,     /* another protocol version */
  NODE_PEER_CLOSED = 6,      /* it hung up during the sync */
  NODE_PEER_BADDATA = 7,     /* it sent what this node cannot accept */
  NODE_PEER_OTHER = 8,       /* anything else (the note says) */
} node_peer_kind;
#define NODE_PEER_KIND_MAX NODE_PEER_OTHER

/* The kind of a failure why (a gs_err or a libuv code), opened telling
 * whether the handshake had completed. GS_OK gives NODE_PEER_OK. */
node_peer_kind node_peer_kind_of(gs_err why, bool opened);
/* A stable code for k ("ok", "unreachable", "timeout", "key", "refused",
 * "version", "closed", "bad_data", "other"), for JSON. */
const char *node_peer_kind_code(node_peer_kind k);
/* A sentence for people saying what happened and what to do, in English
 * and untranslated (give it to _()); "" for NODE_PEER_OK. */
const char *node_peer_kind_text(node_peer_kind k);

/* The address book. */
typedef struct node_peer_info {
  const char *addr;
  uint64_t last_ok_ms, last_try_ms; /* 0: never */
  uint32_t failures;                /* in a row */
  const char *note;                 /* last outcome, for people */
  const uint8_t *key;               /* node key seen there, or NULL */
  node_peer_found found;            /* how the address was found */
  node_peer_kind kind;              /* what the note means */
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

/* LAN discovery (net/disco.h): a node setting, on unless turned off
 * (`serve --no-discovery` turns it off for one run). */
bool node_discovery_on(node *n);
gs_err node_discovery_set(node *n, bool on);

/* What a sync with every peer did with one of them. */
typedef struct node_sync_result {
  const char *addr;
  node_peer_found found;
  const uint8_t *key;     /* the node met, or NULL */
  gs_err err;             /* GS_OK: synced */
  const char *why;        /* on failure */
  const struct net_sync_stats *stats;
  double seconds;
} node_sync_result;
typedef void (*node_sync_each_cb)(void *ctx, const node_sync_result *r);

/* Sync once with every reachable peer: the address book's (those that
 * ever worked or were typed, the most recent first, at most 32) and those
 * whose beacons are heard within listen_ms (0: no listening; discovery
 * off: none), one node key once. cb is called after each. *tried gets how
 * many were tried. GS_ENOTFOUND when this node has no network. */
gs_err node_sync_all(node *n, uint64_t listen_ms, uint16_t disco_port,
                     node_sync_each_cb cb, void *ctx, size_t *tried);

typedef struct node_serve_opts {
  const char *listen;        /* "HOST:PORT"; default 0.0.0.0:7070 */
  const char *const *peers;  /* added to the address book */
  size_t npeers;
  uint64_t gossip_ms;        /* mean gossip period; default 30 s */
  size_t max_outgoing;       /* connections kept to peers; default 3 */
  size_t max_conns;          /* all connections; default 64 */
  FILE *log;                 /* one line per event, or NULL */
  bool no_discovery;         /* neither announce nor listen on the LAN */
  uint16_t discovery_port;   /* UDP; 0: NET_DISCO_PORT (7071) */
  /* called once listening (port: the bound one, for port 0) */
  void (*on_listen)(void *ctx, const char *host, int port);
  void *ctx;
} node_serve_opts;

typedef struct node_server node_server;
typedef struct uv_loop_s uv_loop_t;

/* Serve on the caller's loop: listen, accept peers, keep connections to
 * a few from the address book, gossip with a random one now and then,
 * push local changes to connected peers live. The loop runs it; signals
 * are the caller's to handle. o (and what it points to) must outlive the
 * server. On failure nothing is left running (what was opened closes
 * through the loop). */
gs_err node_server_start(node *n, uv_loop_t *loop, const node_serve_opts *o,
                         node_server **out);
/* Stop: close every session and handle; the server frees itself from the
 * loop once they are closed (then the loop can close). NULL: no-op. */
void node_server_stop(node_server *s);

/* Sync now (the web app's button): open a session to every peer of the
 * address book not connected yet, and have the live sessions look at
 * the store at once. *started: sessions opened (their outcome goes to
 * the address book); *connected: peers already connected. GS_ECLOSED
 * when s is stopping or NULL. */
gs_err node_server_sync_now(node_server *s, size_t *started,
                            size_t *connected);
/* true when s holds an open, synced session to the book's addr. */
bool node_server_connected(node_server *s, const char *addr);

#endif
