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
 * which the joining node proves it holds the code.
 */
#include <ctype.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"

#define NET_KEY_FILE "network.key"
#define INVITE_PREFIX "GS1"
#define INVITE_CONTEXT "gridsync-invite-v1"
#define INVITE_MAX_BYTES 4096
#define CHECK_LEN 4

static const char *const roles[] = {"admin", "office", "leader", "reader"};

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
  err = node__secret_read(path, n->net.key, NODE_NET_KEY_LEN);
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

/* Store membership net (meta first, then the key file). */
static gs_err network_store(node *n, const node_network *net)
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
  if ((err = node__secret_write(path, net->key, NODE_NET_KEY_LEN)) ||
      (err = node__fsync_dir(n->dir)))
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
  err = network_store(n, &net);
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
  if (!node_role_valid(role) || nscopes == 0 || nscopes > NODE_SCOPES_MAX)
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
    pack_invite_body(&pk, &inv, expires_ms, nonce, 11);
    pack_bin(&pk, sig, CRDT_SIG_LEN);
    pack_bin(&pk, cert_sig, CRDT_SIG_LEN);
    pack_bin(&pk, seed, sizeof seed);
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
  return err;
}

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

  msgpack_unpacked_init(&u);
  memset(&inv, 0, sizeof inv);
  if (n->has_net)
    return GS_EEXIST;
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
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 11)
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
  if ((err = network_store(n, &inv)) != GS_OK)
    goto out;
  /* publish the claim: this node's membership, as a change of its own */
  err = node__claim_write(n, expires, nonce, cert_sig, isk);
out:
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
