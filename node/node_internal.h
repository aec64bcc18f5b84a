/* Internals shared by the node module's files. */
#ifndef GS_NODE_INTERNAL_H
#define GS_NODE_INTERNAL_H

#include "node/domain.h"
#include "node/member.h"
#include "node/node.h"
#include "node/schema.h"
#include "crdt/gs_i18n.h" /* issue 18 */

#define NODE_ID_POOL 640 /* random bytes for 64 ids */

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
  const crdt_rng *rng;          /* NULL: the system's (node_set_rng) */
  /* node_id_new's random bytes, drawn from the system NODE_ID_POOL at a
   * time (one getrandom per id was 4% of a load); pool_gen: the
   * process that drew them, as node.c's fork count has it (a forked
   * child draws its own) */
  uint8_t id_pool[NODE_ID_POOL];
  size_t pool_left;
  unsigned pool_gen;
  uint64_t dev, ino;            /* the directory, for one open per process */
  node *next_open;              /* the process's open nodes (node.c) */
  char clock_warning[400]; /* node_warnings' peer-clock sentence */
  uint8_t *dkey;  /* the data key (crdt_secret_alloc) */
  bool open_node; /* no passphrase (seal.key holds the key as it is) */
};

/* The node's store (borrowed): for node/'s own files and white-box
 * tests. Front ends never reach it: they use node/domain.h. */
store *node__store(node *n);
/* Write one change of raw ops in scope, checked for permission only (no
 * schema: tests of the store and of sync use it), committed durably. */
gs_err node__write(node *n, const char *scope, size_t scope_len,
                   const crdt_op *ops, size_t nops, uint64_t *seq);
/* member.c: the admin's record of who the invite with key nonce is for
 * (who: node_member_name_valid), written in "_net". */
gs_err node__invitee_write(node *n, const uint8_t nonce[CRDT_KEY_LEN],
                           const char *who);
/* Begin a raw local write session signed by this node (store.h). */
gs_err node__write_begin(node *n, struct store_write **out);

/* ---- the time-bank check of local writes (domain.c) ---- */

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

/* The string field name of r (borrowed from r), or false when r has no
 * such field holding a string (a set, nil, another type). */
bool node__str_field(const crdt_record *r, const char *name, const char **p,
                     size_t *n);
/* The reference field name of r to a record of coll, or false. */
bool node__ref_field(const crdt_record *r, const char *name,
                     const char *coll, uint8_t id[CRDT_ID_LEN]);

/* out := dir "/" file; GS_EINVAL if it does not fit. */
gs_err node__path_join(char *out, size_t cap, const char *dir,
                       const char *file);
/* Secret files: created 0600 with O_EXCL, written whole and fsynced;
 * read back refusing a file others may read (GS_EKEYMODE) or of another
 * size (GS_ECORRUPT); GS_ENOTINIT when absent. */
/* Secret files of n (identity, network keys): sealed under its data key
 * (node/seal.c), mode 0600, exactly n bytes of secret. */
gs_err node__secret_write(const node *nd, const char *path,
                          const uint8_t *buf, size_t n);
gs_err node__secret_read(const node *nd, const char *path, uint8_t *buf,
                         size_t n);
/* A new file of exactly these bytes (O_EXCL, 0600, fsync); read exactly
 * n bytes (GS_EKEYMODE if readable by others, GS_ECORRUPT if another
 * size, GS_ENOTINIT if missing). */
gs_err node__file_write(const char *path, const uint8_t *buf, size_t n);
gs_err node__file_read(const char *path, uint8_t *buf, size_t n);
/* node/seal.c: a new data key and its seal.key; unlock it; seal or open
 * a secret file; seal every plain *.key file of dir (an earlier build's). */
gs_err node__seal_create(const char *dir, bool open_node,
                         uint8_t key[CRDT_SEAL_KEY_LEN]);
gs_err node__seal_unlock(const char *dir, uint8_t key[CRDT_SEAL_KEY_LEN],
                         bool *open_node);
gs_err node__seal_file_write(const uint8_t key[CRDT_SEAL_KEY_LEN],
                             const char *path, const uint8_t *buf, size_t n);
gs_err node__seal_file_read(const uint8_t key[CRDT_SEAL_KEY_LEN],
                            const char *path, uint8_t *buf, size_t n);
gs_err node__seal_files(const char *dir, const uint8_t key[CRDT_SEAL_KEY_LEN]);
/* node/unlock.c: the data key from the serving node of dir over its
 * socket; GS_ENOTFOUND when none answers. */
gs_err node__unlock_ask(const char *dir, uint8_t key[CRDT_SEAL_KEY_LEN]);
/* The in-place sealing progress the front end set (node_set_seal_progress)
 * into *fn and *ctx, for node/admin.c's own store opens (fixdeb). */
void node__seal_progress(void (**fn)(void *ctx, int what, uint64_t done,
                                     uint64_t total),
                         void **ctx);
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

struct node_batch;
struct node_reason;
struct node_policy;
/* While defer is true, checks through p write no witness (they may run
 * inside a write transaction of this process, where a second one would
 * wait for itself): what is due is written by node_policy_free once defer
 * is false again, or not at all when it stays true. */
void node__policy_defer(struct node_policy *p, bool defer);
/* GS_OK when coll is a collection of the schema, a free-form one (x_...)
 * or, when own, one of the node's own (_...); else GS_EINVAL for a bad
 * name, GS_ESCHEMA for an unknown one, with why. */
gs_err node__coll_known(const char *coll, bool own, struct node_reason *why);
/* Queue one new record's ops (all of one record, built by node/ itself:
 * demo data) into a batch with the checks of node_batch_put: schema,
 * permission, size, the time bank. */
gs_err node__batch_put_ops(struct node_batch *b, const char *scope,
                           const crdt_op *ops, size_t n,
                           struct node_reason *why);

/* ---- buffer-level decoders of untrusted bytes (fuzz targets,
 * tests/fuzz/fuzz_<decoder>.c); each is the one the module itself uses ---- */
struct node_bundle_info;
struct node_peer_info;
/* The plain header of a bundle file held in buf (n bytes: the whole file
 * or its start), as node_import and node_bundle_info_read read it
 * (bundle.c): *info, and in *adlen the bytes before the sealed body
 * (magic, length and header: the associated data). GS_EDECODE, GS_ETRUNC
 * or a msgpack error for anything else; nothing is allocated. */
gs_err node__bundle_header(const uint8_t *buf, size_t n,
                           struct node_bundle_info *info, size_t *adlen);
#define NODE__BOOK_NOTE_MAX 128 /* bytes of a note, its NUL included */
/* One address-book value (len bytes of buf) as the peers db holds it
 * (netnode.c): *info gets the numbers; info->note points to note (a
 * NUL-terminated, valid UTF-8 copy) and info->key to key when the entry
 * names a node key, else NULL; info->addr is NULL. GS_ECORRUPT (or a
 * msgpack error) for a value that is not an entry. */
gs_err node__book_decode(const uint8_t *buf, size_t len,
                         struct node_peer_info *info,
                         char note[NODE__BOOK_NOTE_MAX],
                         uint8_t key[CRDT_KEY_LEN]);

#endif
