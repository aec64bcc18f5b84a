/* Internals shared by the node module's files. */
#ifndef GS_NODE_INTERNAL_H
#define GS_NODE_INTERNAL_H

#include "node/node.h"

struct node {
  store *st;
  node_clock clk;
  uint8_t sk[CRDT_SK_LEN];
  uint8_t pk[CRDT_KEY_LEN];
  char name[NODE_NAME_MAX + 1];
  char dir[4096];
  bool has_net;      /* network.key was loaded */
  node_network net;  /* the network, when has_net */
  uint8_t last_id[CRDT_ID_LEN]; /* node_id_new's last, for order */
};

/* out := dir "/" file; GS_EINVAL if it does not fit. */
gs_err node__path_join(char *out, size_t cap, const char *dir,
                       const char *file);
/* Secret files: created 0600 with O_EXCL, written whole and fsynced;
 * read back refusing a file others may read (GS_EKEYMODE) or of another
 * size (GS_ECORRUPT); GS_ENOTINIT when absent. */
gs_err node__secret_write(const char *path, const uint8_t *buf, size_t n);
gs_err node__secret_read(const char *path, uint8_t *buf, size_t n);
/* fsync a directory, so that files just created in it persist. */
gs_err node__fsync_dir(const char *dir);
#define NODE_CERT_CONTEXT "gridsync-cert-v1"
#define NODE_NET_SCOPE "_net" /* membership records live here */

struct msgpack_sbuffer;
/* The certificate of an invite (see network.c) into sb (initialised
 * here; the caller destroys it), with the signing context if
 * for_signing. */
gs_err node__cert_pack(const uint8_t netid[8], const char *role,
                       const char (*scopes)[CRDT_SCOPE_MAX + 1],
                       size_t nscopes, uint64_t expires,
                       const uint8_t nonce[CRDT_KEY_LEN], bool for_signing,
                       struct msgpack_sbuffer *sb);
#define NODE_CLAIM_CONTEXT "gridsync-claim-v1"
/* Write this node's membership claim (member.c): the certificate, its
 * signature, and the invite key's signature of this node's key. */
gs_err node__claim_write(node *n, uint64_t expires,
                         const uint8_t nonce[CRDT_KEY_LEN],
                         const uint8_t cert_sig[CRDT_SIG_LEN],
                         const uint8_t invite_sk[CRDT_SK_LEN]);
/* The invite key of this node's current claim into nonce; false when it
 * has none (member.c). */
bool node__claim_nonce(node *n, uint8_t nonce[CRDT_KEY_LEN]);
/* The network keys this node holds (network.c): keys[0] the first (epoch
 * 1), then those of later epochs it could open, oldest first; *current
 * indexes the one to use now (the newest whose grace period is over). */
gs_err node__keyring(node *n, uint8_t (*keys)[NODE_NET_KEY_LEN], size_t max,
                     size_t *nkeys, size_t *current);
/* The network key to use in a handshake or a new bundle now (the Noise
 * PSK): keys[current] of node__keyring. */
gs_err node__psk(node *n, uint8_t out[NODE_NET_KEY_LEN]);
/* true when the network's newest key (epoch, grace end) is one this node
 * could not open: it was left out of a rotation (network.c). */
bool node__key_missing(node *n, uint64_t *epoch, uint64_t *grace_until);
/* Load the network of n, if it has one (called by node_open). */
gs_err node__network_load(node *n);

#endif
