/*
 * node/member.h: the network a node belongs to (network.c: create,
 * invite, join) and membership and permissions (member.c), DESIGN.md
 * section 7. Secrets (the network key, invite codes) are the caller's to
 * wipe where it copies them.
 */
#ifndef GS_NODE_MEMBER_H
#define GS_NODE_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"
#include "node/node.h"

typedef struct node node;

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

/* Is key a valid, unrevoked member (or the admin)? */
bool node_policy_member(const node_policy *p, const uint8_t *key);
/* Has this node seen key's claim (or revocation)? A change of an author
 * not known yet is held, not refused. */
bool node_policy_known(const node_policy *p, const uint8_t *key);

/* Count received changes refused for permissions (why: one reason). */
void node_note_refused(node *n, const char *why, uint64_t count);
/* How many were refused, and the last reason (into why). */
uint64_t node_refused(node *n, char *why, size_t whylen);

#endif
