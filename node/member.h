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
/* Who an invite is for, as the admin writes it in the invite form or
 * `invite --for` ("王阿姨, 3号楼"): valid UTF-8 of 1 to
 * NODE_MEMBER_NAME_MAX bytes without control characters. */
#define NODE_MEMBER_NAME_MAX 60
bool node_member_name_valid(const char *s);
/* node_invite, and who (NULL or "": not said) is kept with it: the admin
 * writes it in "_net" under the invite's key, so that every member lists
 * the node that claims this invite by that name. GS_EINVAL for a who
 * that is not node_member_name_valid. */
gs_err node_invite_for(node *n, const char *role, const char *const *scopes,
                       size_t nscopes, uint64_t expires_ms, const char *who,
                       char **code);
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
  char name[NODE_MEMBER_NAME_MAX + 1]; /* who its invite was for; "" */
  char scope[CRDT_SCOPE_MAX + 1];      /* its certificate's first scope */
} node_member_info;
typedef int (*node_member_cb)(void *ctx, const node_member_info *m);
/* The member m in words, the same in every front end (never its id):
 * who its invite was for; this node's own name for itself; else its role
 * and the name of the grid of its first scope ("楼栋长（一网格）"), or
 * its role alone; "" for a node that is no member known here (m from
 * node_member_get, state NODE_MEMBER_NONE) unless it is the admin. grid (optional, of gridlen bytes) gets that grid's name
 * ("" when none is held). */
void node_member_label(node *n, const node_member_info *m, char *out,
                       size_t len, char *grid, size_t gridlen);
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

/* Is key a valid, unrevoked member (or the admin)? */
bool node_policy_member(const node_policy *p, const uint8_t *key);
/* The decision on a received change, the same on receipt and on every
 * re-check: GS_OK (apply), GS_EHELD (keep it out, check again when the
 * clock or the memberships move: node_policy_check's own holds, and an
 * author whose claim has not arrived), GS_EPERM (refused for good). */
gs_err node_policy_decide(node_policy *p, const crdt_change *c, char *why,
                          size_t whylen);
/* Has this node seen key's claim (or revocation)? A change of an author
 * not known yet is held, not refused. */
bool node_policy_known(const node_policy *p, const uint8_t *key);

/* The decided policy, kept across received batches (issue 20): reloaded
 * only when the membership records ("_net": claims, witnesses,
 * revocations, re-admits, rotations) or the node's network changed since
 * it was loaded, by this process or another, or when a batch carried
 * membership changes. Zero-initialise; node_policy_cache_drop frees. */
typedef struct node_policy_cache {
  node_policy *p;
  uint8_t stamp[CRDT_HASH_LEN];
  bool stale;
  bool pending; /* checked changes not committed yet (group commit) */
  uint64_t loads, hits; /* for tests and benchmarks */
} node_policy_cache;
/* The policy to check a received batch with (borrowed from c: valid until
 * the next call on c). */
gs_err node_policy_cache_get(node *n, node_policy_cache *c,
                             node_policy **out);
/* The changes checked since the last call are committed (or dropped):
 * the records they created are in the store, so the next batch need not
 * remember them. Until then (group commit applies several batches in one
 * transaction) the next batch still sees them. */
void node_policy_cache_committed(node_policy_cache *c);
/* After checking a batch: writes the witnesses that became due (as
 * node_policy_free would); net_seen: the batch held "_net" changes, so the
 * next batch reloads. */
void node_policy_cache_done(node_policy_cache *c, bool net_seen);
void node_policy_cache_drop(node_policy_cache *c);

/* Count received changes refused for permissions (why: one reason). */
void node_note_refused(node *n, const char *why, uint64_t count);
/* How many were refused, and the last reason (into why). */
uint64_t node_refused(node *n, char *why, size_t whylen);

#endif
