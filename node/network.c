/*
 * A node's network: the network key (the Noise PSK), the membership the
 * node holds (role and scopes), and invite codes.
 *
 * The key lives in network.key (0600); the membership in the store's meta
 * "net" as msgpack [name, admin pk, role, [scope...]], written before the
 * key file, so the key file's presence is what makes a node a member.
 *
 * An invite code is "GS1" + Crockford base32 of (payload, 4 check bytes:
 * BLAKE2b of the payload). The payload is the msgpack array
 *   [1, name, key bin32, admin bin32, role, [scope...], expires_ms,
 *    invite key bin32, sig bin64, cert_sig bin64, invite seed bin32]
 * sig is the inviter's Ed25519 signature of "gridsync-invite-v1" followed
 * by the first 8 elements as an array; cert_sig signs the certificate
 * (node__cert_pack); the invite seed makes the invite key pair, with
 * which the joining node proves it holds the code. After a key rotation a
 * 12th element [epoch, key bin32, grace_until_ms] carries the newest key
 * (the first key still names the network: its id is the key's hash).
 */
#include <ctype.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/box.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"

#define NET_KEY_FILE "network.key"
#define INVITE_PREFIX "GS1"
#define INVITE_CONTEXT "gridsync-invite-v1"
#define INVITE_MAX_BYTES 4096
#define CHECK_LEN 4

static const char *const roles[] = {"admin", "office", "leader", "reader"};

/* The newest key epoch this node holds (rotations, below): false when it
 * holds the first key only. */
static bool newest_epoch_key(node *n, uint64_t *epoch, uint64_t *grace,
                             uint8_t key[NODE_NET_KEY_LEN]);
#define HINT_META "netkey_hint" /* [epoch, grace_until, check]: from a code */

bool node_role_valid(const char *role)
{
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    if (strcmp(role, roles[i]) == 0)
      return true;
  return false;
}

const node_network *node_net(const node *n)
{
  return n->has_net ? &n->net : NULL;
}

static void network_id(const uint8_t key[NODE_NET_KEY_LEN], uint8_t id[8])
{
  uint8_t buf[32 + NODE_NET_KEY_LEN], h[CRDT_HASH_LEN];
  memset(buf, 0, 32);
  memcpy(buf, "gridsync-network-id", 19);
  memcpy(buf + 32, key, NODE_NET_KEY_LEN);
  crdt_hash(buf, sizeof buf, h);
  memcpy(id, h, 8);
  crdt_wipe(buf, sizeof buf);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

static void pack_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, p, n);
}

/* Copy a msgpack str of at most max bytes of valid UTF-8 into out. */
static gs_err obj_str(const msgpack_object *o, char *out, size_t max)
{
  if (o->type != MSGPACK_OBJECT_STR)
    return GS_EDECODE;
  if (o->via.str.size > max)
    return GS_ETOOBIG;
  if (!crdt_utf8_valid(o->via.str.ptr, o->via.str.size))
    return GS_EUTF8;
  if (o->via.str.size) /* an empty string's ptr may be NULL */
    memcpy(out, o->via.str.ptr, o->via.str.size);
  out[o->via.str.size] = '\0';
  return GS_OK;
}

/* Scopes: an array of 1..NODE_SCOPES_MAX valid scopes ("" only for
 * allow_all). */
static gs_err obj_scopes(const msgpack_object *o, node_network *net,
                         bool allow_all)
{
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
    return GS_EDECODE;
  if (o->via.array.size > NODE_SCOPES_MAX)
    return GS_ETOOBIG;
  for (size_t i = 0; i < o->via.array.size; i++) {
    gs_err err = obj_str(&o->via.array.ptr[i], net->scopes[i], CRDT_SCOPE_MAX);
    if (err)
      return err;
    size_t sn = strlen(net->scopes[i]);
    if (sn == 0 ? !allow_all : !crdt_scope_valid(net->scopes[i], sn))
      return GS_ESCOPE;
  }
  net->nscopes = o->via.array.size;
  return GS_OK;
}

static void pack_membership(msgpack_packer *pk, const node_network *net)
{
  msgpack_pack_array(pk, 4);
  pack_str(pk, net->name);
  pack_bin(pk, net->admin, CRDT_KEY_LEN);
  pack_str(pk, net->role);
  msgpack_pack_array(pk, net->nscopes);
  for (size_t i = 0; i < net->nscopes; i++)
    pack_str(pk, net->scopes[i]);
}

gs_err node__network_load(node *n)
{
  char path[4200];
  uint8_t buf[8192];
  size_t len;
  msgpack_unpacked u;
  gs_err err;

  n->has_net = false;
  if ((err = node__path_join(path, sizeof path, n->dir, NET_KEY_FILE)))
    return err;
  err = node__secret_read(n, path, n->net.key, NODE_NET_KEY_LEN);
  if (err == GS_ENOTINIT)
    return GS_OK; /* no network */
  if (err)
    return err;
  if ((err = store_meta_get(n->st, "net", buf, sizeof buf, &len)) != GS_OK)
    return err == GS_ENOTFOUND ? GS_ECORRUPT : err;
  if (len > sizeof buf)
    return GS_ECORRUPT;
  if ((err = crdt_mp_unpack(buf, len, 2, &u)) != GS_OK)
    goto done;
  const msgpack_object *o = &u.data;
  err = GS_ECORRUPT;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
    goto done;
  const msgpack_object *a = o->via.array.ptr;
  if (obj_str(&a[0], n->net.name, NODE_NAME_MAX) ||
      crdt_mp_bin(&a[1], CRDT_KEY_LEN, n->net.admin) ||
      obj_str(&a[2], n->net.role, NODE_ROLE_MAX) ||
      !node_role_valid(n->net.role) || obj_scopes(&a[3], &n->net, true))
    goto done;
  network_id(n->net.key, n->net.id);
  n->has_net = true;
  err = GS_OK;
done:
  msgpack_unpacked_destroy(&u);
  if (err)
    crdt_wipe(&n->net, sizeof n->net);
  return err;
}

/* Store membership net (meta first, then the key file; a re-join keeps
 * the key file, which holds the same key). */
static gs_err network_store(node *n, const node_network *net, bool rejoin)
{
  char path[4200];
  msgpack_sbuffer sb;
  msgpack_packer pk;
  gs_err err;

  if ((err = node__path_join(path, sizeof path, n->dir, NET_KEY_FILE)))
    return err;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  pack_membership(&pk, net);
  if (!sb.data)
    err = GS_ENOMEM;
  else
    err = store_meta_put(n->st, "net", sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  if (err)
    return err;
  if (!rejoin && ((err = node__secret_write(n, path, net->key,
                                             NODE_NET_KEY_LEN)) ||
                  (err = node__fsync_dir(n->dir))))
    return err;
  return node__network_load(n);
}

gs_err node_network_create(node *n, const char *name)
{
  node_network net;
  size_t nn = strlen(name);
  gs_err err;

  if (n->has_net)
    return GS_EEXIST;
  if (nn == 0 || nn > NODE_NAME_MAX || !crdt_utf8_valid(name, nn))
    return GS_ENAME;
  memset(&net, 0, sizeof net);
  memcpy(net.name, name, nn);
  crdt_random(net.key, sizeof net.key);
  memcpy(net.admin, n->pk, CRDT_KEY_LEN);
  strcpy(net.role, "admin");
  net.nscopes = 1; /* "": everything */
  err = network_store(n, &net, false);
  crdt_wipe(&net, sizeof net);
  return err;
}

/* The certificate part of an invite: what the joining node publishes in
 * its claim (no network key in it), signed by the admin on its own:
 *   [1, network id bin8, role, [scope...], expires_ms, invite key bin32]
 * The invite key is a key pair made for this one invite; its secret seed
 * travels only in the invite code, and the claim carries its signature of
 * the joining node's key: a certificate seen in the data cannot be
 * claimed by anyone else. */
gs_err node__cert_pack(const uint8_t netid[8], const char *role,
                       const char (*scopes)[CRDT_SCOPE_MAX + 1],
                       size_t nscopes, uint64_t expires,
                       const uint8_t nonce[CRDT_KEY_LEN], bool for_signing,
                       msgpack_sbuffer *sb)
{
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  if (for_signing)
    msgpack_sbuffer_write(sb, NODE_CERT_CONTEXT, strlen(NODE_CERT_CONTEXT));
  msgpack_pack_array(&pk, 6);
  msgpack_pack_uint8(&pk, 1);
  pack_bin(&pk, netid, 8);
  pack_str(&pk, role);
  msgpack_pack_array(&pk, nscopes);
  for (size_t i = 0; i < nscopes; i++)
    pack_str(&pk, scopes[i]);
  msgpack_pack_uint64(&pk, expires);
  pack_bin(&pk, nonce, CRDT_KEY_LEN);
  return sb->data ? GS_OK : GS_ENOMEM;
}

/* The signed part of an invite: 8 elements. */
static void pack_invite_body(msgpack_packer *pk, const node_network *inv,
                             uint64_t expires_ms,
                             const uint8_t nonce[CRDT_KEY_LEN], size_t nelems)
{
  msgpack_pack_array(pk, nelems);
  msgpack_pack_uint8(pk, 1);
  pack_str(pk, inv->name);
  pack_bin(pk, inv->key, NODE_NET_KEY_LEN);
  pack_bin(pk, inv->admin, CRDT_KEY_LEN);
  pack_str(pk, inv->role);
  msgpack_pack_array(pk, inv->nscopes);
  for (size_t i = 0; i < inv->nscopes; i++)
    pack_str(pk, inv->scopes[i]);
  msgpack_pack_uint64(pk, expires_ms);
  pack_bin(pk, nonce, CRDT_KEY_LEN);
}

/* The bytes an inviter signs. */
static gs_err invite_signed_bytes(const node_network *inv, uint64_t expires,
                                  const uint8_t nonce[CRDT_KEY_LEN],
                                  msgpack_sbuffer *sb)
{
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_sbuffer_write(sb, INVITE_CONTEXT, strlen(INVITE_CONTEXT));
  pack_invite_body(&pk, inv, expires, nonce, 8);
  return sb->data ? GS_OK : GS_ENOMEM;
}

gs_err node_invite(node *n, const char *role, const char *const *scopes,
                   size_t nscopes, uint64_t expires_ms, char **code)
{
  return node_invite_for(n, role, scopes, nscopes, expires_ms, NULL, code);
}

gs_err node_invite_for(node *n, const char *role, const char *const *scopes,
                       size_t nscopes, uint64_t expires_ms, const char *who,
                       char **code)
{
  node_network inv;
  uint8_t nonce[CRDT_KEY_LEN], seed[32], isk[CRDT_SK_LEN];
  uint8_t sig[CRDT_SIG_LEN], *raw = NULL;
  msgpack_sbuffer sb, out;
  msgpack_packer pk;
  gs_err err;

  *code = NULL;
  if (!n->has_net)
    return GS_ENOTFOUND;
  /* certificates are checked against the network's creator: only it
   * can invite (an invited admin writes everywhere, but does not invite) */
  if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) != 0)
    return GS_EPERM;
  if (!node_role_valid(role) || nscopes == 0 || nscopes > NODE_SCOPES_MAX ||
      (who && *who && !node_member_name_valid(who)))
    return GS_EINVAL;
  memset(&inv, 0, sizeof inv);
  for (size_t i = 0; i < nscopes; i++) {
    size_t sn = strlen(scopes[i]);
    if (!crdt_scope_valid(scopes[i], sn))
      return GS_ESCOPE;
    memcpy(inv.scopes[i], scopes[i], sn + 1);
  }
  inv.nscopes = nscopes;
  memcpy(inv.name, n->net.name, sizeof inv.name);
  memcpy(inv.key, n->net.key, NODE_NET_KEY_LEN);
  memcpy(inv.admin, n->pk, CRDT_KEY_LEN);
  strcpy(inv.role, role);
  crdt_random(seed, sizeof seed);
  crdt_keypair_seed(seed, nonce, isk); /* nonce: the invite's key */
  crdt_wipe(isk, sizeof isk);

  uint8_t cert_sig[CRDT_SIG_LEN];
  msgpack_sbuffer cb;
  if ((err = node__cert_pack(n->net.id, role,
                             (const char(*)[CRDT_SCOPE_MAX + 1])inv.scopes,
                             nscopes, expires_ms, nonce, true, &cb)) != GS_OK) {
    msgpack_sbuffer_destroy(&cb);
    crdt_wipe(&inv, sizeof inv);
    return err;
  }
  crdt_sign(n->sk, (const uint8_t *)cb.data, cb.size, cert_sig);
  msgpack_sbuffer_destroy(&cb);
  if ((err = invite_signed_bytes(&inv, expires_ms, nonce, &sb)) == GS_OK) {
    crdt_sign(n->sk, (const uint8_t *)sb.data, sb.size, sig);
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    /* after a rotation the code also carries the newest key (element
     * 12: [epoch, key, grace_until]): the first key names the network */
    uint64_t ep, gu;
    uint8_t ek[NODE_NET_KEY_LEN];
    bool rotated = newest_epoch_key(n, &ep, &gu, ek);
    pack_invite_body(&pk, &inv, expires_ms, nonce, rotated ? 12 : 11);
    pack_bin(&pk, sig, CRDT_SIG_LEN);
    pack_bin(&pk, cert_sig, CRDT_SIG_LEN);
    pack_bin(&pk, seed, sizeof seed);
    if (rotated) {
      msgpack_pack_array(&pk, 3);
      msgpack_pack_uint64(&pk, ep);
      pack_bin(&pk, ek, NODE_NET_KEY_LEN);
      msgpack_pack_uint64(&pk, gu);
    }
    crdt_wipe(ek, sizeof ek);
    uint8_t check[CRDT_HASH_LEN];
    size_t rn = out.size + CHECK_LEN;
    if (!out.data || out.size > INVITE_MAX_BYTES ||
        !(raw = malloc(rn))) {
      err = GS_ENOMEM;
    } else {
      memcpy(raw, out.data, out.size);
      crdt_hash(out.data, out.size, check);
      memcpy(raw + out.size, check, CHECK_LEN);
      size_t tl = (8 * rn + 4) / 5;
      char *text = malloc(strlen(INVITE_PREFIX) + tl + 1);
      if (!text) {
        err = GS_ENOMEM;
      } else {
        strcpy(text, INVITE_PREFIX);
        crdt_base32_encode(raw, rn, text + strlen(INVITE_PREFIX));
        *code = text;
      }
      crdt_wipe(raw, rn);
      free(raw);
    }
    crdt_wipe(out.data, out.size);
    msgpack_sbuffer_destroy(&out);
  }
  crdt_wipe(sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  crdt_wipe(&inv, sizeof inv);
  crdt_wipe(seed, sizeof seed);
  /* who it is for: a record of the admin's own in _net (member.c) */
  if (!err && who && *who && (err = node__invitee_write(n, nonce, who))) {
    crdt_wipe(*code, strlen(*code));
    free(*code);
    *code = NULL;
  }
  return err;
}

static gs_err keep_hint(node *n, uint64_t epoch, uint64_t grace,
                        const uint8_t key[NODE_NET_KEY_LEN]);
static bool epoch_held(node *n, uint64_t epoch);

gs_err node_join(node *n, const char *code)
{
  char *text = NULL;
  uint8_t *raw = NULL;
  size_t tn = 0, rn = 0, rawlen = 0;
  node_network inv;
  msgpack_unpacked u;
  uint8_t nonce[CRDT_KEY_LEN], sig[CRDT_SIG_LEN], check[CRDT_HASH_LEN];
  uint8_t cert_sig[CRDT_SIG_LEN], seed[32], ipk[CRDT_KEY_LEN];
  uint8_t isk[CRDT_SK_LEN];
  uint64_t version, expires;
  gs_err err;
  uint64_t r_epoch = 0, r_grace = 0;
  uint8_t r_key[NODE_NET_KEY_LEN] = {0};

  msgpack_unpacked_init(&u);
  memset(&inv, 0, sizeof inv);
  bool rejoin = false, valid_member = false;
  if (n->has_net) {
    /* a node whose claim does not count (void, held for a twice-used
     * invite, or not confirmed) may join again with a fresh code of its
     * network; a member in good standing only with a code that brings a
     * network key it lacks (it missed a rotation's grace, or was left
     * out: checked below) */
    node_member_info self;
    if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) == 0 ||
        node_member_get(n, n->pk, &self) != GS_OK)
      return GS_EEXIST;
    valid_member = self.state == NODE_MEMBER_VALID;
    rejoin = true;
  }
  /* Letters and digits only: people may add spaces or dashes. */
  size_t cl = strlen(code);
  if (cl > 2 * INVITE_MAX_BYTES || !(text = malloc(cl + 1)))
    return cl > 2 * INVITE_MAX_BYTES ? GS_ETOOBIG : GS_ENOMEM;
  for (size_t i = 0; i < cl; i++) {
    unsigned char c = (unsigned char)code[i];
    if (c == ' ' || c == '-' || c == '\t' || c == '\n' || c == '\r')
      continue;
    text[tn++] = (char)toupper(c);
  }
  text[tn] = '\0';
  err = GS_EDECODE;
  size_t pl = strlen(INVITE_PREFIX);
  if (tn <= pl || memcmp(text, INVITE_PREFIX, pl) != 0)
    goto out;
  rn = (tn - pl) * 5 / 8;
  if (rn <= CHECK_LEN || (8 * rn + 4) / 5 != tn - pl || !(raw = malloc(rn)))
    goto out;
  rawlen = rn;
  if (crdt_base32_decode(text + pl, tn - pl, raw, rn) != GS_OK)
    goto out;
  rn -= CHECK_LEN;
  crdt_hash(raw, rn, check);
  if (memcmp(check, raw + rn, CHECK_LEN) != 0)
    goto out; /* a typo */
  if ((err = crdt_mp_unpack(raw, rn, 2, &u)) != GS_OK)
    goto out;
  const msgpack_object *o = &u.data;
  err = GS_EDECODE;
  if (o->type != MSGPACK_OBJECT_ARRAY ||
      (o->via.array.size != 11 && o->via.array.size != 12))
    goto out;
  const msgpack_object *a = o->via.array.ptr;
  if (crdt_mp_uint(&a[0], &version) || version != 1)
    goto out;
  if ((err = obj_str(&a[1], inv.name, NODE_NAME_MAX)) ||
      (err = crdt_mp_bin(&a[2], NODE_NET_KEY_LEN, inv.key)) ||
      (err = crdt_mp_bin(&a[3], CRDT_KEY_LEN, inv.admin)) ||
      (err = obj_str(&a[4], inv.role, NODE_ROLE_MAX)) ||
      (err = obj_scopes(&a[5], &inv, false)) ||
      (err = crdt_mp_uint(&a[6], &expires)) ||
      (err = crdt_mp_bin(&a[7], CRDT_KEY_LEN, nonce)) ||
      (err = crdt_mp_bin(&a[8], CRDT_SIG_LEN, sig)) ||
      (err = crdt_mp_bin(&a[9], CRDT_SIG_LEN, cert_sig)) ||
      (err = crdt_mp_bin(&a[10], sizeof seed, seed)))
    goto out;
  crdt_keypair_seed(seed, ipk, isk);
  if (memcmp(ipk, nonce, CRDT_KEY_LEN) != 0) {
    err = GS_EDECODE; /* the seed is not the certificate's key */
    goto out;
  }
  if (!node_role_valid(inv.role) || inv.name[0] == '\0') {
    err = GS_EDECODE;
    goto out;
  }
  /* the newest key, after a rotation */
  if (o->via.array.size == 12) {
    const msgpack_object *rk = &a[11];
    if (rk->type != MSGPACK_OBJECT_ARRAY || rk->via.array.size != 3 ||
        crdt_mp_uint(&rk->via.array.ptr[0], &r_epoch) || r_epoch < 2 ||
        crdt_mp_bin(&rk->via.array.ptr[1], NODE_NET_KEY_LEN, r_key) ||
        crdt_mp_uint(&rk->via.array.ptr[2], &r_grace)) {
      err = GS_EDECODE;
      goto out;
    }
  }
  msgpack_sbuffer sb;
  if ((err = invite_signed_bytes(&inv, expires, nonce, &sb)) != GS_OK)
    goto out;
  bool ok = crdt_verify(inv.admin, (const uint8_t *)sb.data, sb.size, sig);
  crdt_wipe(sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  if (!ok) {
    err = GS_ESIG;
    goto out;
  }
  /* the certificate the claim will carry must verify on its own */
  uint8_t netid[8];
  network_id(inv.key, netid);
  msgpack_sbuffer cb;
  if ((err = node__cert_pack(netid, inv.role,
                             (const char(*)[CRDT_SCOPE_MAX + 1])inv.scopes,
                             inv.nscopes, expires, nonce, true, &cb))) {
    msgpack_sbuffer_destroy(&cb);
    goto out;
  }
  ok = crdt_verify(inv.admin, (const uint8_t *)cb.data, cb.size, cert_sig);
  msgpack_sbuffer_destroy(&cb);
  if (!ok) {
    err = GS_ESIG;
    goto out;
  }
  if (node_now(n) > expires) {
    err = GS_ETIMEOUT;
    goto out;
  }
  if (valid_member && !(r_epoch && !epoch_held(n, r_epoch))) {
    err = GS_EEXIST; /* a member, and the code brings nothing new */
    goto out;
  }
  uint8_t held[CRDT_KEY_LEN];
  if (rejoin && node__claim_nonce(n, held) &&
      memcmp(held, nonce, CRDT_KEY_LEN) == 0) {
    err = GS_EEXIST; /* the code this node joined with already */
    goto out;
  }
  if (rejoin && (memcmp(netid, n->net.id, 8) != 0 ||
                 memcmp(inv.key, n->net.key, NODE_NET_KEY_LEN) != 0 ||
                 memcmp(inv.admin, n->net.admin, CRDT_KEY_LEN) != 0)) {
    err = GS_EEXIST; /* a code of another network (or of an older key) */
    goto out;
  }
  if ((err = network_store(n, &inv, rejoin)) != GS_OK)
    goto out;
  if (r_epoch && (err = keep_hint(n, r_epoch, r_grace, r_key)) != GS_OK)
    goto out;
  /* publish the claim: this node's membership, as a change of its own */
  err = node__claim_write(n, expires, nonce, cert_sig, isk);
out:
  crdt_wipe(r_key, sizeof r_key);
  msgpack_unpacked_destroy(&u);
  if (raw) {
    crdt_wipe(raw, rawlen);
    free(raw);
  }
  if (text) {
    crdt_wipe(text, tn);
    free(text);
  }
  crdt_wipe(&inv, sizeof inv);
  crdt_wipe(seed, sizeof seed);
  crdt_wipe(isk, sizeof isk);
  return err;
}

/* ---- network key rotation (issue 14, property 8) ----
 *
 * The admin makes a new key for epoch E (the first key is epoch 1) and
 * writes a record of collection "netkey" in "_net", id = E big-endian in
 * its last 8 bytes:
 *   epoch        int    E
 *   grace_until  int    ms: until then every node still uses the key of
 *                       the epoch before; from then on the new one only
 *   check        bytes  8 bytes of BLAKE2b("gridsync-netkey-check", key)
 *   k<hex id>    bytes  the key sealed (net/box.h) to that member's node
 *                       key: one field per valid, unrevoked member
 * It travels like any membership record (sessions, bundles). A member
 * that finds a field of its own opens it and keeps the key in
 * network.key.E (0600). A revoked node never gets a field: after the grace
 * period it shares no key with anyone. */

#define ROT_COLL "netkey"
#define ROT_OPS_PER_CHANGE 200 /* sealed keys per change (~30 KB) */
#define ROT_EPOCHS_MAX 64      /* rotations a network keeps track of */

typedef struct rot_rec {
  uint64_t epoch, grace_until;
  uint8_t check[8];
  bool has_box;
  uint8_t box[NODE_NET_KEY_LEN + NET_BOX_OVERHEAD];
} rot_rec;

typedef struct rot_scan {
  const node *n;
  rot_rec r[ROT_EPOCHS_MAX];
  size_t nr;
} rot_scan;

static void key_check(const uint8_t key[NODE_NET_KEY_LEN], uint8_t out[8])
{
  uint8_t buf[32 + NODE_NET_KEY_LEN], h[CRDT_HASH_LEN];
  memset(buf, 0, 32);
  memcpy(buf, "gridsync-netkey-check", 21);
  memcpy(buf + 32, key, NODE_NET_KEY_LEN);
  crdt_hash(buf, sizeof buf, h);
  memcpy(out, h, 8);
  crdt_wipe(buf, sizeof buf);
}

static void box_field(const uint8_t *key, char out[2 + 2 * CRDT_ID_LEN])
{
  static const char d[] = "0123456789abcdef";
  out[0] = 'k';
  for (size_t i = 0; i < CRDT_ID_LEN; i++) {
    out[1 + 2 * i] = d[key[i] >> 4];
    out[2 + 2 * i] = d[key[i] & 15];
  }
  out[1 + 2 * CRDT_ID_LEN] = '\0';
}

static int on_rot(void *ctx, const crdt_record *r)
{
  rot_scan *rs = ctx;
  rot_rec rr;
  memset(&rr, 0, sizeof rr);
  char mine[2 + 2 * CRDT_ID_LEN];
  box_field(rs->n->pk, mine);
  bool has_epoch = false, has_grace = false, has_check = false;
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK || fv.is_set ||
        memcmp(fv.stamp.origin, rs->n->net.admin, CRDT_KEY_LEN) != 0)
      continue; /* only the admin's word counts */
    if (fv.name_len == 5 && memcmp(fv.name, "epoch", 5) == 0 &&
        fv.value.type == CRDT_INT && fv.value.u.i >= 2) {
      rr.epoch = (uint64_t)fv.value.u.i;
      has_epoch = true;
    } else if (fv.name_len == 11 && memcmp(fv.name, "grace_until", 11) == 0 &&
               fv.value.type == CRDT_INT && fv.value.u.i >= 0) {
      rr.grace_until = (uint64_t)fv.value.u.i;
      has_grace = true;
    } else if (fv.name_len == 5 && memcmp(fv.name, "check", 5) == 0 &&
               fv.value.type == CRDT_BYTES && fv.value.u.s.n == 8) {
      memcpy(rr.check, fv.value.u.s.p, 8);
      has_check = true;
    } else if (fv.name_len == strlen(mine) &&
               memcmp(fv.name, mine, fv.name_len) == 0 &&
               fv.value.type == CRDT_BYTES &&
               fv.value.u.s.n == sizeof rr.box) {
      memcpy(rr.box, fv.value.u.s.p, sizeof rr.box);
      rr.has_box = true;
    }
  }
  if (has_epoch && has_grace && has_check && rs->nr < ROT_EPOCHS_MAX)
    rs->r[rs->nr++] = rr;
  return 0;
}

static int cmp_rot(const void *a, const void *b)
{
  const rot_rec *x = a, *y = b;
  return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

static gs_err rot_scan_all(node *n, rot_scan *rs)
{
  memset(rs, 0, sizeof *rs);
  rs->n = n;
  gs_err err = store_list(n->st, ROT_COLL, strlen(ROT_COLL), NODE_NET_SCOPE,
                          strlen(NODE_NET_SCOPE), on_rot, rs);
  if (err && err != GS_ENOTFOUND)
    return err;
  /* the epoch an invite code gave, until its record arrives */
  uint8_t hb[64];
  size_t hl;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (rs->nr < ROT_EPOCHS_MAX &&
      store_meta_get(n->st, HINT_META, hb, sizeof hb, &hl) == GS_OK &&
      hl <= sizeof hb && crdt_mp_unpack(hb, hl, 1, &u) == GS_OK) {
    rot_rec rr;
    memset(&rr, 0, sizeof rr);
    const msgpack_object *o = &u.data;
    bool ok = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 3 &&
              !crdt_mp_uint(&o->via.array.ptr[0], &rr.epoch) &&
              !crdt_mp_uint(&o->via.array.ptr[1], &rr.grace_until) &&
              !crdt_mp_bin(&o->via.array.ptr[2], 8, rr.check);
    for (size_t i = 0; ok && i < rs->nr; i++)
      ok = rs->r[i].epoch != rr.epoch;
    if (ok)
      rs->r[rs->nr++] = rr;
  }
  msgpack_unpacked_destroy(&u);
  qsort(rs->r, rs->nr, sizeof rs->r[0], cmp_rot);
  return GS_OK;
}

static gs_err epoch_path(node *n, uint64_t epoch, char *out, size_t cap)
{
  char file[64];
  snprintf(file, sizeof file, "%s.%" PRIu64, NET_KEY_FILE, epoch);
  return node__path_join(out, cap, n->dir, file);
}

/* The key of epoch rr (held in its file, or opened from this node's box
 * and kept); false when this node has none. */
static bool epoch_key(node *n, const rot_rec *rr, uint8_t key[NODE_NET_KEY_LEN])
{
  char path[4200];
  uint8_t check[8];
  if (epoch_path(n, rr->epoch, path, sizeof path) != GS_OK)
    return false;
  if (node__secret_read(n, path, key, NODE_NET_KEY_LEN) == GS_OK) {
    key_check(key, check);
    return memcmp(check, rr->check, 8) == 0;
  }
  if (!rr->has_box ||
      net_box_open(n->sk, rr->box, sizeof rr->box, key) != GS_OK)
    return false;
  key_check(key, check);
  if (memcmp(check, rr->check, 8) != 0) {
    crdt_wipe(key, NODE_NET_KEY_LEN);
    return false;
  }
  /* kept for later (another process may have written it: fine) */
  if (node__secret_write(n, path, key, NODE_NET_KEY_LEN) == GS_OK)
    node__fsync_dir(n->dir);
  return true;
}

gs_err node__keyring(node *n, uint8_t (*keys)[NODE_NET_KEY_LEN], size_t max,
                     size_t *nkeys, size_t *current)
{
  rot_scan *rs = malloc(sizeof *rs);
  *nkeys = 0;
  *current = 0;
  if (!n->has_net || max == 0) {
    free(rs);
    return GS_ENOTFOUND;
  }
  if (!rs)
    return GS_ENOMEM;
  gs_err err = rot_scan_all(n, rs);
  if (err) {
    free(rs);
    return err;
  }
  memcpy(keys[0], n->net.key, NODE_NET_KEY_LEN); /* epoch 1 */
  *nkeys = 1;
  uint64_t now = node_now(n);
  for (size_t i = 0; i < rs->nr && *nkeys < max; i++) {
    if (!epoch_key(n, &rs->r[i], keys[*nkeys]))
      continue;
    if (now >= rs->r[i].grace_until)
      *current = *nkeys; /* the newest held whose grace is over */
    (*nkeys)++;
  }
  crdt_wipe(rs, sizeof *rs);
  free(rs);
  return GS_OK;
}

gs_err node__psk(node *n, uint8_t out[NODE_NET_KEY_LEN])
{
  uint8_t keys[ROT_EPOCHS_MAX + 1][NODE_NET_KEY_LEN];
  size_t nk, cur;
  gs_err err = node__keyring(n, keys, ROT_EPOCHS_MAX + 1, &nk, &cur);
  if (err == GS_OK)
    memcpy(out, keys[cur], NODE_NET_KEY_LEN);
  else if (n->has_net)
    memcpy(out, n->net.key, NODE_NET_KEY_LEN);
  crdt_wipe(keys, sizeof keys);
  return n->has_net ? GS_OK : err;
}

typedef struct rot_members {
  const node *n;
  uint8_t (*keys)[CRDT_KEY_LEN];
  size_t nk, cap, skipped;
} rot_members;

static int on_rot_member(void *ctx, const node_member_info *m)
{
  rot_members *rm = ctx;
  if (memcmp(m->key, rm->n->pk, CRDT_KEY_LEN) == 0)
    return 0;
  if (m->state != NODE_MEMBER_VALID || m->revoked) {
    rm->skipped++;
    return 0;
  }
  if (crdt_grow((void **)&rm->keys, &rm->cap, rm->nk + 1, sizeof *rm->keys))
    return 1;
  memcpy(rm->keys[rm->nk++], m->key, CRDT_KEY_LEN);
  return 0;
}

gs_err node_network_rotate(node *n, uint64_t grace_ms, node_rotate_info *info)
{
  memset(info, 0, sizeof *info);
  if (!n->has_net)
    return GS_ENOTFOUND;
  if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) != 0)
    return GS_EPERM;
  if (grace_ms > NODE_ROTATE_GRACE_MAX_MS)
    return GS_EINVAL;
  rot_scan *rs = malloc(sizeof *rs);
  rot_members rm = {.n = n};
  uint8_t key[NODE_NET_KEY_LEN], check[8];
  crdt_op *ops = NULL;
  uint8_t *boxes = NULL;
  char (*fields)[2 + 2 * CRDT_ID_LEN] = NULL;
  gs_err err;
  if (!rs)
    return GS_ENOMEM;
  if ((err = rot_scan_all(n, rs)) != GS_OK)
    goto out;
  if (rs->nr >= ROT_EPOCHS_MAX) {
    err = GS_ETOOBIG;
    goto out;
  }
  uint64_t epoch = rs->nr ? rs->r[rs->nr - 1].epoch + 1 : 2;
  if ((err = node_members(n, on_rot_member, &rm)) != GS_OK)
    goto out;
  crdt_random(key, sizeof key);
  key_check(key, check);
  /* the admin keeps its copy first: a record it could not open is lost */
  char path[4200];
  if ((err = epoch_path(n, epoch, path, sizeof path)) ||
      (err = node__secret_write(n, path, key, NODE_NET_KEY_LEN)) ||
      (err = node__fsync_dir(n->dir)))
    goto out;
  size_t nops = rm.nk + 3;
  size_t boxlen = NODE_NET_KEY_LEN + NET_BOX_OVERHEAD;
  if (!(ops = calloc(nops, sizeof *ops)) ||
      !(boxes = malloc(rm.nk ? rm.nk * boxlen : 1)) ||
      !(fields = calloc(rm.nk ? rm.nk : 1, sizeof *fields))) {
    err = GS_ENOMEM;
    goto out;
  }
  uint8_t id[CRDT_ID_LEN];
  memset(id, 0, sizeof id);
  for (int i = 0; i < 8; i++)
    id[CRDT_ID_LEN - 1 - i] = (uint8_t)(epoch >> (8 * i));
  uint64_t grace_until = node_now(n) + grace_ms;
  for (size_t i = 0; i < nops; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = ROT_COLL;
    ops[i].coll_len = strlen(ROT_COLL);
    memcpy(ops[i].id, id, CRDT_ID_LEN);
  }
  ops[0].field = "epoch", ops[0].field_len = 5;
  ops[0].value = (crdt_value){.type = CRDT_INT, .u.i = (int64_t)epoch};
  ops[1].field = "grace_until", ops[1].field_len = 11;
  ops[1].value = (crdt_value){.type = CRDT_INT, .u.i = (int64_t)grace_until};
  ops[2].field = "check", ops[2].field_len = 5;
  ops[2].value = (crdt_value){.type = CRDT_BYTES,
                              .u.s = {(const char *)check, 8}};
  for (size_t i = 0; i < rm.nk; i++) {
    if ((err = net_box_seal(rm.keys[i], key, NODE_NET_KEY_LEN,
                            boxes + i * boxlen)) != GS_OK)
      goto out;
    box_field(rm.keys[i], fields[i]);
    ops[3 + i].field = fields[i];
    ops[3 + i].field_len = strlen(fields[i]);
    ops[3 + i].value = (crdt_value){
        .type = CRDT_BYTES, .u.s = {(const char *)boxes + i * boxlen, boxlen}};
  }
  /* the sealed keys first, the epoch fields last: a node that has the
   * epoch has every box (one durable transaction for all) */
  store_write *w;
  if ((err = store_write_begin(n->st, n->sk, &w)) != GS_OK)
    goto out;
  for (size_t off = 3; off < nops && !err; off += ROT_OPS_PER_CHANGE) {
    size_t k = nops - off < ROT_OPS_PER_CHANGE ? nops - off
                                               : ROT_OPS_PER_CHANGE;
    err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE),
                             ops + off, k, node_now(n), NULL, NULL);
  }
  if (!err)
    err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), ops,
                             3, node_now(n), NULL, NULL);
  if (err)
    store_write_abort(w);
  else
    err = store_write_commit(w);
  if (!err) {
    info->epoch = epoch;
    info->grace_until = grace_until;
    info->sealed = rm.nk;
    info->skipped = rm.skipped;
  }
out:
  crdt_wipe(key, sizeof key);
  if (boxes)
    crdt_wipe(boxes, rm.nk * (NODE_NET_KEY_LEN + NET_BOX_OVERHEAD));
  free(boxes);
  free(fields);
  free(ops);
  free(rm.keys);
  free(rs);
  return err;
}

gs_err node_network_epoch(node *n, uint64_t *epoch, uint64_t *grace_until)
{
  rot_scan *rs = malloc(sizeof *rs);
  *epoch = 1;
  *grace_until = 0;
  if (!rs)
    return GS_ENOMEM;
  gs_err err = n->has_net ? rot_scan_all(n, rs) : GS_ENOTFOUND;
  if (!err && rs->nr) {
    *epoch = rs->r[rs->nr - 1].epoch;
    *grace_until = rs->r[rs->nr - 1].grace_until;
  }
  crdt_wipe(rs, sizeof *rs);
  free(rs);
  return err;
}

static bool newest_epoch_key(node *n, uint64_t *epoch, uint64_t *grace,
                             uint8_t key[NODE_NET_KEY_LEN])
{
  rot_scan *rs = malloc(sizeof *rs);
  bool found = false;
  if (!rs || rot_scan_all(n, rs) != GS_OK) {
    free(rs);
    return false;
  }
  for (size_t i = rs->nr; i-- > 0 && !found;)
    if (epoch_key(n, &rs->r[i], key)) {
      *epoch = rs->r[i].epoch;
      *grace = rs->r[i].grace_until;
      found = true;
    }
  crdt_wipe(rs, sizeof *rs);
  free(rs);
  return found;
}

/* Keep the newest key an invite code carried: its file and a hint of its
 * epoch (the record comes with the first sync). */
static gs_err keep_hint(node *n, uint64_t epoch, uint64_t grace,
                        const uint8_t key[NODE_NET_KEY_LEN])
{
  char path[4200];
  uint8_t check[8];
  gs_err err = epoch_path(n, epoch, path, sizeof path);
  if (err)
    return err;
  err = node__secret_write(n, path, key, NODE_NET_KEY_LEN);
  if (err && err != GS_EEXIST)
    return err;
  key_check(key, check);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 3);
  msgpack_pack_uint64(&pk, epoch);
  msgpack_pack_uint64(&pk, grace);
  pack_bin(&pk, check, 8);
  err = sb.data ? store_meta_put(n->st, HINT_META, sb.data, sb.size)
                : GS_ENOMEM;
  msgpack_sbuffer_destroy(&sb);
  if (!err)
    err = node__fsync_dir(n->dir);
  return err;
}

bool node__key_missing(node *n, uint64_t *epoch, uint64_t *grace_until)
{
  rot_scan *rs = malloc(sizeof *rs);
  bool missing = false;
  uint8_t key[NODE_NET_KEY_LEN];
  if (!rs)
    return false;
  if (n->has_net && rot_scan_all(n, rs) == GS_OK && rs->nr) {
    const rot_rec *last = &rs->r[rs->nr - 1];
    missing = !epoch_key(n, last, key);
    *epoch = last->epoch;
    *grace_until = last->grace_until;
  }
  crdt_wipe(key, sizeof key);
  crdt_wipe(rs, sizeof *rs);
  free(rs);
  return missing;
}

/* Does this node hold the key file of epoch? */
static bool epoch_held(node *n, uint64_t epoch)
{
  char path[4200];
  uint8_t key[NODE_NET_KEY_LEN];
  bool held = epoch_path(n, epoch, path, sizeof path) == GS_OK &&
              node__secret_read(n, path, key, NODE_NET_KEY_LEN) == GS_OK;
  crdt_wipe(key, sizeof key);
  return held;
}
