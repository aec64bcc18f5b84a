/*
 * Membership and write permissions (DESIGN.md section 7).
 *
 * The root of trust is the network's admin key (the node that ran
 * `network create`; every member learns it from its invite). Membership
 * is replicated as records of collection "member" in the reserved scope
 * "_net", one per node, id = the first 16 bytes of its key:
 *   key       bytes(32)  the node's key           } the node's claim,
 *   cert      bytes      the invite's certificate } written by the node
 *   cert_sig  bytes(64)  the admin's signature    } itself when it joins
 *   proof     bytes(64)  the invite key's signature of the node's key: }
 *                        only a holder of the invite code can claim it }
 *   revoked   bytes      msgpack [[feed bin16, seq]...], written by the
 *                        admin: the node's changes beyond these seqs (and
 *                        of any other feed) are refused
 * A claim is valid when the admin signed its certificate, the certificate
 * is for this network, the claim was made before the certificate expired,
 * and no other node claimed the same invite (nonce): an invite claimed
 * twice leaked, and both claims are void (every node decides alike).
 *
 * A change is allowed when its author is the admin; or, in "_net", when
 * it is the author's own valid claim; or, elsewhere, when the author has
 * a valid claim whose role writes (admin, office, leader; not reader)
 * under a prefix of the change's scope, and is not revoked beyond it.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/member.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"

#define COLL "member"

typedef struct cut {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
} cut;

typedef struct member {
  uint8_t id[CRDT_ID_LEN];
  uint8_t key[CRDT_KEY_LEN];
  bool has_key, valid;
  crdt_stamp claim; /* stamp of the cert field */
  char role[NODE_ROLE_MAX + 1];
  char scopes[NODE_SCOPES_MAX][CRDT_SCOPE_MAX + 1];
  size_t nscopes;
  uint64_t expires;
  uint8_t nonce[CRDT_KEY_LEN]; /* the invite's key */
  bool revoked;
  cut *cuts;
  size_t ncuts;
} member;

struct node_policy {
  bool open; /* no network: everything is allowed (a standalone node) */
  uint8_t root[CRDT_KEY_LEN];
  uint8_t netid[8];
  member *m;
  size_t n, cap;
};

void node_policy_free(node_policy *p)
{
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++)
    free(p->m[i].cuts);
  free(p->m);
  free(p);
}

static member *find(node_policy *p, const uint8_t id[CRDT_ID_LEN], bool add)
{
  for (size_t i = 0; i < p->n; i++)
    if (memcmp(p->m[i].id, id, CRDT_ID_LEN) == 0)
      return &p->m[i];
  if (!add)
    return NULL;
  if (p->n == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 16;
    member *m = realloc(p->m, cap * sizeof *m);
    if (!m)
      return NULL;
    p->m = m;
    p->cap = cap;
  }
  member *m = &p->m[p->n++];
  memset(m, 0, sizeof *m);
  memcpy(m->id, id, CRDT_ID_LEN);
  return m;
}

/* Decode a certificate (no context) into m; false if malformed. */
static bool cert_decode(const uint8_t *b, size_t n, uint8_t netid[8],
                        member *m)
{
  msgpack_unpacked u;
  bool ok = false;
  uint64_t v;
  if (crdt_mp_unpack(b, n, 2, &u) != GS_OK)
    goto out;
  const msgpack_object *o = &u.data;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6)
    goto out;
  const msgpack_object *a = o->via.array.ptr;
  if (crdt_mp_uint(&a[0], &v) || v != 1 || crdt_mp_bin(&a[1], 8, netid) ||
      a[2].type != MSGPACK_OBJECT_STR || a[2].via.str.size > NODE_ROLE_MAX ||
      a[3].type != MSGPACK_OBJECT_ARRAY || a[3].via.array.size == 0 ||
      a[3].via.array.size > NODE_SCOPES_MAX ||
      crdt_mp_uint(&a[4], &m->expires) ||
      crdt_mp_bin(&a[5], CRDT_KEY_LEN, m->nonce))
    goto out;
  memcpy(m->role, a[2].via.str.ptr, a[2].via.str.size);
  m->role[a[2].via.str.size] = '\0';
  if (!node_role_valid(m->role))
    goto out;
  for (size_t i = 0; i < a[3].via.array.size; i++) {
    const msgpack_object *sc = &a[3].via.array.ptr[i];
    if (sc->type != MSGPACK_OBJECT_STR || sc->via.str.size > CRDT_SCOPE_MAX ||
        !crdt_scope_valid(sc->via.str.ptr, sc->via.str.size))
      goto out;
    memcpy(m->scopes[i], sc->via.str.ptr, sc->via.str.size);
    m->scopes[i][sc->via.str.size] = '\0';
  }
  m->nscopes = a[3].via.array.size;
  ok = true;
out:
  msgpack_unpacked_destroy(&u);
  return ok;
}

/* Validate a claim by key (cert, cert_sig, proof) made at stamp st;
 * fills m. */
static bool claim_check(const node_policy *p, const uint8_t *key,
                        const uint8_t *cert, size_t certlen,
                        const uint8_t sig[CRDT_SIG_LEN],
                        const uint8_t proof[CRDT_SIG_LEN],
                        const crdt_stamp *st, member *m)
{
  uint8_t netid[8];
  if (certlen > 4096 || !cert_decode(cert, certlen, netid, m))
    return false;
  /* the claimant held the invite code: its key signed by the invite key */
  uint8_t pm[sizeof NODE_CLAIM_CONTEXT - 1 + CRDT_KEY_LEN];
  memcpy(pm, NODE_CLAIM_CONTEXT, sizeof NODE_CLAIM_CONTEXT - 1);
  memcpy(pm + sizeof NODE_CLAIM_CONTEXT - 1, key, CRDT_KEY_LEN);
  if (!crdt_verify(m->nonce, pm, sizeof pm, proof))
    return false;
  if (memcmp(netid, p->netid, 8) != 0)
    return false; /* a certificate of another network */
  size_t cl = strlen(NODE_CERT_CONTEXT);
  uint8_t *msg = malloc(cl + certlen);
  if (!msg)
    return false;
  memcpy(msg, NODE_CERT_CONTEXT, cl);
  memcpy(msg + cl, cert, certlen);
  bool ok = crdt_verify(p->root, msg, cl + certlen, sig);
  free(msg);
  if (!ok)
    return false;
  return CRDT_HLC_MS(st->hlc) <= m->expires; /* joined before expiry */
}

static bool cuts_decode(const uint8_t *b, size_t n, member *m)
{
  msgpack_unpacked u;
  bool ok = false;
  if (crdt_mp_unpack(b, n, 2, &u) != GS_OK)
    goto out;
  const msgpack_object *o = &u.data;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > 100000)
    goto out;
  free(m->cuts);
  m->cuts = NULL;
  m->ncuts = 0;
  if (o->via.array.size &&
      !(m->cuts = calloc(o->via.array.size, sizeof *m->cuts)))
    goto out;
  for (size_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
        crdt_mp_bin(&e->via.array.ptr[0], CRDT_FEED_LEN, m->cuts[i].feed) ||
        crdt_mp_uint(&e->via.array.ptr[1], &m->cuts[i].seq))
      goto out;
    m->ncuts = i + 1;
  }
  ok = true;
out:
  msgpack_unpacked_destroy(&u);
  return ok;
}

/* An invite claimed by two nodes leaked: neither claim stays valid (the
 * admin invites again). Every node that holds both decides alike,
 * whatever the order in which they came, and a backdated stamp wins
 * nothing. (Writes accepted before the second claim arrived stay.) */
static void settle_nonces(node_policy *p)
{
  for (size_t i = 0; i < p->n; i++)
    for (size_t j = i + 1; j < p->n; j++)
      if (p->m[i].has_key && p->m[j].has_key &&
          (p->m[i].valid || p->m[i].claim.hlc) &&
          (p->m[j].valid || p->m[j].claim.hlc) &&
          memcmp(p->m[i].nonce, p->m[j].nonce, CRDT_KEY_LEN) == 0) {
        p->m[i].valid = false;
        p->m[j].valid = false;
      }
}

/* A field of r as bytes (NULL if absent or not bytes). */
static const uint8_t *field_bytes(const crdt_record *r, const char *name,
                                  size_t *n, crdt_stamp *st)
{
  long fi = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  if (fi < 0 || crdt_record_field(r, (size_t)fi, &fv) != GS_OK ||
      fv.is_set || fv.value.type != CRDT_BYTES)
    return NULL;
  *n = fv.value.u.s.n;
  if (st)
    *st = fv.stamp;
  return (const uint8_t *)fv.value.u.s.p;
}

static int on_member(void *ctx, const crdt_record *r)
{
  node_policy *p = ctx;
  const char *scope, *coll;
  size_t sn, cn, kl, cl, sl, rl;
  uint8_t id[CRDT_ID_LEN];
  crdt_stamp st;
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  member *m = find(p, id, true);
  if (!m)
    return 1;
  const uint8_t *key = field_bytes(r, "key", &kl, NULL);
  const uint8_t *cert = field_bytes(r, "cert", &cl, &st);
  const uint8_t *sig = field_bytes(r, "cert_sig", &sl, NULL);
  size_t pl;
  const uint8_t *proof = field_bytes(r, "proof", &pl, NULL);
  const uint8_t *rev = field_bytes(r, "revoked", &rl, NULL);
  if (key && kl == CRDT_KEY_LEN && memcmp(key, id, CRDT_ID_LEN) == 0) {
    memcpy(m->key, key, CRDT_KEY_LEN);
    m->has_key = true;
  }
  if (m->has_key && cert && sig && sl == CRDT_SIG_LEN && proof &&
      pl == CRDT_SIG_LEN) {
    m->claim = st;
    m->valid = claim_check(p, m->key, cert, cl, sig, proof, &st, m);
  }
  if (rev) {
    cuts_decode(rev, rl, m); /* malformed: nothing kept */
    m->revoked = true;
  }
  return 0;
}

gs_err node_policy_load(node *n, node_policy **out)
{
  node_policy *p = calloc(1, sizeof *p);
  *out = NULL;
  if (!p)
    return GS_ENOMEM;
  if (!n->has_net) {
    p->open = true;
    *out = p;
    return GS_OK;
  }
  memcpy(p->root, n->net.admin, CRDT_KEY_LEN);
  memcpy(p->netid, n->net.id, 8);
  gs_err err = store_list(n->st, COLL, strlen(COLL), NODE_NET_SCOPE,
                          strlen(NODE_NET_SCOPE), on_member, p);
  if (err && err != GS_ENOTFOUND) {
    node_policy_free(p);
    return err;
  }
  settle_nonces(p);
  *out = p;
  return GS_OK;
}

static bool is_net_scope(const char *s, size_t n)
{
  return n == strlen(NODE_NET_SCOPE) && memcmp(s, NODE_NET_SCOPE, n) == 0;
}

/* The admin's changes to "_net" update the policy as they are accepted. */
static gs_err note_admin(node_policy *p, const crdt_change *c)
{
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->kind != CRDT_OP_SET || op->field_len != 7 ||
        memcmp(op->field, "revoked", 7) != 0 ||
        op->value.type != CRDT_BYTES)
      continue;
    member *m = find(p, op->id, true);
    if (!m)
      return GS_ENOMEM;
    cuts_decode((const uint8_t *)op->value.u.s.p, op->value.u.s.n, m);
    m->revoked = true;
  }
  return GS_OK;
}

/* Records written once (visit, timebank) take ops from their author only,
 * the node their id names (crdt_id_owned): a member who may write the
 * scope, the admin included, cannot rewrite or delete another's time-bank
 * entry. The rule reads nothing but the op and its change, so every node
 * refuses the same changes whatever order they arrive in. Ids from before
 * the rule (node_id_guarded) are left as they were written. */
static gs_err check_written_once(const crdt_change *c, char *why,
                                 size_t whylen)
{
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    const node_coll *sc = node_schema_coll(op->coll, op->coll_len);
    if (sc && sc->immutable && node_id_guarded(op->id) &&
        !crdt_id_owned_by(op->id, c->origin)) {
      char idt[CRDT_ID_TEXT_LEN + 1];
      crdt_base32_encode(op->id, CRDT_ID_LEN, idt);
      snprintf(why, whylen,
               "%s %s is written once, by the node its id names: another "
               "node's change to it is refused",
               sc->name, idt);
      return GS_EPERM;
    }
  }
  return GS_OK;
}

gs_err node_policy_check(node_policy *p, const crdt_change *c, char *why,
                         size_t whylen)
{
  gs_err err = check_written_once(c, why, whylen);
  if (err)
    return err;
  if (p->open)
    return GS_OK;
  if (is_net_scope(c->scope, c->scope_len) && !crdt_change_verify(c)) {
    /* membership changes shape this check for the rest of the batch:
     * they must be genuine before they count */
    snprintf(why, whylen, "membership change with a bad signature");
    return GS_EPERM;
  }
  if (memcmp(c->origin, p->root, CRDT_KEY_LEN) == 0) {
    if (is_net_scope(c->scope, c->scope_len))
      return note_admin(p, c);
    return GS_OK; /* the admin writes everywhere */
  }
  if (is_net_scope(c->scope, c->scope_len)) {
    /* only a node's own claim: key, cert and cert_sig of its record */
    const uint8_t *cert = NULL, *sig = NULL, *proof = NULL;
    size_t cl = 0;
    bool key_ok = false;
    for (size_t i = 0; i < c->nops; i++) {
      const crdt_op *op = &c->ops[i];
      if (op->kind != CRDT_OP_SET || op->coll_len != strlen(COLL) ||
          memcmp(op->coll, COLL, op->coll_len) != 0 ||
          memcmp(op->id, c->origin, CRDT_ID_LEN) != 0 ||
          op->value.type != CRDT_BYTES)
        goto refuse;
      const uint8_t *v = (const uint8_t *)op->value.u.s.p;
      size_t vn = op->value.u.s.n;
      if (op->field_len == 3 && memcmp(op->field, "key", 3) == 0)
        key_ok = vn == CRDT_KEY_LEN && memcmp(v, c->origin, vn) == 0;
      else if (op->field_len == 4 && memcmp(op->field, "cert", 4) == 0)
        cert = v, cl = vn;
      else if (op->field_len == 8 && memcmp(op->field, "cert_sig", 8) == 0 &&
               vn == CRDT_SIG_LEN)
        sig = v;
      else if (op->field_len == 5 && memcmp(op->field, "proof", 5) == 0 &&
               vn == CRDT_SIG_LEN)
        proof = v;
      else
        goto refuse;
    }
    if (!key_ok || !cert || !sig || !proof)
      goto refuse;
    member cand;
    memset(&cand, 0, sizeof cand);
    crdt_stamp st = {.hlc = c->hlc};
    memcpy(st.origin, c->origin, CRDT_KEY_LEN);
    if (!claim_check(p, c->origin, cert, cl, sig, proof, &st, &cand)) {
      snprintf(why, whylen, "membership claim with an invalid, expired or "
                            "foreign certificate");
      return GS_EPERM;
    }
    bool leaked = false;
    for (size_t i = 0; i < p->n; i++)
      if (p->m[i].has_key && p->m[i].claim.hlc &&
          memcmp(p->m[i].nonce, cand.nonce, CRDT_KEY_LEN) == 0 &&
          memcmp(p->m[i].id, c->origin, CRDT_ID_LEN) != 0) {
        p->m[i].valid = false; /* the invite leaked: both are out */
        leaked = true;
      }
    member *m = find(p, c->origin, true);
    if (!m)
      return GS_ENOMEM;
    bool revoked = m->revoked;
    cut *cuts = m->cuts;
    size_t ncuts = m->ncuts;
    cand.revoked = revoked, cand.cuts = cuts, cand.ncuts = ncuts;
    memcpy(cand.id, c->origin, CRDT_ID_LEN);
    memcpy(cand.key, c->origin, CRDT_KEY_LEN);
    cand.has_key = true;
    cand.valid = !leaked;
    cand.claim = st;
    *m = cand;
    /* the claim is kept (as data) even when void, so that every node
     * that holds both claims of a leaked invite voids both */
    return GS_OK;
  refuse:
    snprintf(why, whylen, "only the admin writes membership records");
    return GS_EPERM;
  }
  member *m = find(p, c->origin, false);
  if (!m || !m->valid) {
    snprintf(why, whylen, "the author is not a member of this network");
    return GS_EPERM;
  }
  if (strcmp(m->role, "reader") == 0) {
    snprintf(why, whylen, "the author is a reader");
    return GS_EPERM;
  }
  bool under = strcmp(m->role, "admin") == 0;
  for (size_t i = 0; i < m->nscopes && !under; i++)
    under = crdt_scope_under(c->scope, c->scope_len, m->scopes[i],
                             strlen(m->scopes[i]));
  if (!under) {
    snprintf(why, whylen, "the author (%s) may not write %.*s", m->role,
             (int)c->scope_len, c->scope);
    return GS_EPERM;
  }
  if (m->revoked) {
    uint8_t feed[CRDT_FEED_LEN];
    crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
    for (size_t i = 0; i < m->ncuts; i++)
      if (memcmp(m->cuts[i].feed, feed, CRDT_FEED_LEN) == 0 &&
          c->seq <= m->cuts[i].seq)
        return GS_OK; /* written before the revocation */
    snprintf(why, whylen, "the author was revoked");
    return GS_EPERM;
  }
  return GS_OK;
}

bool node_policy_revoked(const node_policy *p, const uint8_t *key)
{
  for (size_t i = 0; i < p->n; i++)
    if (memcmp(p->m[i].id, key, CRDT_ID_LEN) == 0)
      return p->m[i].revoked;
  return false;
}

gs_err node_may_write(node *n, const char *scope, size_t scope_len,
                      char *why, size_t whylen)
{
  if (!n->has_net)
    return GS_OK;
  if (is_net_scope(scope, scope_len) ||
      (scope_len > 0 && scope[0] == '_')) {
    snprintf(why, whylen, "scopes starting with '_' are reserved");
    return GS_EPERM;
  }
  node_policy *p;
  gs_err err = node_policy_load(n, &p);
  if (err)
    return err;
  /* a change this node would write, seq and hlc aside */
  crdt_change c = {.scope = scope, .scope_len = scope_len, .seq = 1,
                   .hlc = CRDT_HLC_MAKE(node_now(n), 0)};
  memcpy(c.origin, n->pk, CRDT_KEY_LEN);
  err = node_policy_check(p, &c, why, whylen);
  if (err == GS_EPERM && !find(p, n->pk, false))
    snprintf(why, whylen, "this node's membership is not known yet");
  else if (err == GS_EPERM && strstr(why, "may not write"))
    snprintf(why, whylen, "this node (%s of %s%s) may not write %.*s",
             n->net.role, n->net.scopes[0], n->net.nscopes > 1 ? ", ..." : "",
             (int)scope_len, scope);
  node_policy_free(p);
  return err;
}

gs_err node__claim_write(node *n, uint64_t expires,
                         const uint8_t nonce[CRDT_KEY_LEN],
                         const uint8_t cert_sig[CRDT_SIG_LEN],
                         const uint8_t invite_sk[CRDT_SK_LEN])
{
  uint8_t pm[sizeof NODE_CLAIM_CONTEXT - 1 + CRDT_KEY_LEN], proof[CRDT_SIG_LEN];
  memcpy(pm, NODE_CLAIM_CONTEXT, sizeof NODE_CLAIM_CONTEXT - 1);
  memcpy(pm + sizeof NODE_CLAIM_CONTEXT - 1, n->pk, CRDT_KEY_LEN);
  crdt_sign(invite_sk, pm, sizeof pm, proof);
  msgpack_sbuffer cb;
  gs_err err = node__cert_pack(n->net.id, n->net.role,
                               (const char(*)[CRDT_SCOPE_MAX + 1])
                                   n->net.scopes,
                               n->net.nscopes, expires, nonce, false, &cb);
  if (err) {
    msgpack_sbuffer_destroy(&cb);
    return err;
  }
  crdt_op ops[4];
  memset(ops, 0, sizeof ops);
  const char *names[4] = {"key", "cert", "cert_sig", "proof"};
  const void *vals[4] = {n->pk, cb.data, cert_sig, proof};
  size_t lens[4] = {CRDT_KEY_LEN, cb.size, CRDT_SIG_LEN, CRDT_SIG_LEN};
  for (int i = 0; i < 4; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = COLL;
    ops[i].coll_len = strlen(COLL);
    memcpy(ops[i].id, n->pk, CRDT_ID_LEN);
    ops[i].field = names[i];
    ops[i].field_len = strlen(names[i]);
    ops[i].value.type = CRDT_BYTES;
    ops[i].value.u.s.p = vals[i];
    ops[i].value.u.s.n = lens[i];
  }
  store_write *w;
  if ((err = store_write_begin(n->st, n->sk, &w)) == GS_OK) {
    err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), ops,
                             4, node_now(n), NULL, NULL);
    if (err)
      store_write_abort(w);
    else
      err = store_write_commit(w);
  }
  msgpack_sbuffer_destroy(&cb);
  return err;
}

typedef struct cut_ctx {
  const uint8_t *key;
  msgpack_packer *pk;
  size_t n;
  cut *cuts;
  size_t cap;
} cut_ctx;

static int on_feed_cut(void *ctx, const store_feed *f)
{
  cut_ctx *cc = ctx;
  if (memcmp(f->origin, cc->key, CRDT_KEY_LEN) != 0)
    return 0;
  if (cc->n == cc->cap) {
    size_t cap = cc->cap ? 2 * cc->cap : 8;
    cut *c = realloc(cc->cuts, cap * sizeof *c);
    if (!c)
      return 1;
    cc->cuts = c;
    cc->cap = cap;
  }
  memcpy(cc->cuts[cc->n].feed, f->feed, CRDT_FEED_LEN);
  cc->cuts[cc->n++].seq = f->seq;
  return 0;
}

gs_err node_revoke(node *n, const uint8_t *key, size_t *kept)
{
  if (!n->has_net)
    return GS_ENOTFOUND;
  if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) != 0)
    return GS_EPERM;
  if (memcmp(key, n->pk, CRDT_KEY_LEN) == 0)
    return GS_EINVAL;
  /* what this admin holds of the node's feeds now stays; nothing after */
  cut_ctx cc = {.key = key};
  gs_err err = store_feeds(n->st, on_feed_cut, &cc);
  if (err) {
    free(cc.cuts);
    return err;
  }
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, cc.n);
  for (size_t i = 0; i < cc.n; i++) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin(&pk, CRDT_FEED_LEN);
    msgpack_pack_bin_body(&pk, cc.cuts[i].feed, CRDT_FEED_LEN);
    msgpack_pack_uint64(&pk, cc.cuts[i].seq);
  }
  free(cc.cuts);
  if (kept)
    *kept = cc.n;
  if (!sb.data || sb.size > CRDT_TEXT_MAX) {
    msgpack_sbuffer_destroy(&sb);
    return sb.data ? GS_ETOOBIG : GS_ENOMEM;
  }
  crdt_op op = {.kind = CRDT_OP_SET, .coll = COLL, .coll_len = strlen(COLL),
                .field = "revoked", .field_len = 7,
                .value = {.type = CRDT_BYTES,
                          .u.s = {sb.data, sb.size}}};
  memcpy(op.id, key, CRDT_ID_LEN);
  store_write *w;
  if ((err = store_write_begin(n->st, n->sk, &w)) == GS_OK) {
    err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), &op,
                             1, node_now(n), NULL, NULL);
    if (err)
      store_write_abort(w);
    else
      err = store_write_commit(w);
  }
  msgpack_sbuffer_destroy(&sb);
  return err;
}

void node_note_refused(node *n, const char *why, uint64_t count_new)
{
  uint8_t b[8];
  size_t len;
  uint64_t count = 0;
  if (store_meta_get(n->st, "refused", b, sizeof b, &len) == GS_OK &&
      len == 8)
    for (int i = 0; i < 8; i++)
      count = count << 8 | b[i];
  count += count_new;
  for (int i = 7; i >= 0; i--, count >>= 8)
    b[i] = (uint8_t)count;
  store_meta_put(n->st, "refused", b, 8);
  store_meta_put(n->st, "refused_why", why, strlen(why));
}

uint64_t node_refused(node *n, char *why, size_t whylen)
{
  uint8_t b[8];
  size_t len;
  uint64_t count = 0;
  if (whylen)
    why[0] = '\0';
  if (store_meta_get(n->st, "refused", b, sizeof b, &len) != GS_OK ||
      len != 8)
    return 0;
  for (int i = 0; i < 8; i++)
    count = count << 8 | b[i];
  if (whylen && store_meta_get(n->st, "refused_why", why, whylen - 1,
                               &len) == GS_OK)
    why[len < whylen - 1 ? len : whylen - 1] = '\0';
  return count;
}

bool node_policy_may_read(const node_policy *p, const uint8_t *key,
                          const char *scope, size_t scope_len)
{
  if (p->open || (scope_len > 0 && scope[0] == '_'))
    return true; /* membership records go to every member */
  if (memcmp(key, p->root, CRDT_KEY_LEN) == 0)
    return true;
  for (size_t i = 0; i < p->n; i++) {
    const member *m = &p->m[i];
    if (memcmp(m->id, key, CRDT_ID_LEN) != 0)
      continue;
    if (!m->valid || m->revoked)
      return false;
    if (strcmp(m->role, "admin") == 0 || strcmp(m->role, "office") == 0)
      return true; /* offices relay everything */
    for (size_t j = 0; j < m->nscopes; j++)
      if (crdt_scope_under(scope, scope_len, m->scopes[j],
                           strlen(m->scopes[j])))
        return true;
    return false;
  }
  return false; /* not a member (yet) */
}

/* ---- issue 14 (sync): who a session may show anything to, and which
 * authors are not known yet (their changes are held, not refused) ---- */

bool node_policy_member(const node_policy *p, const uint8_t *key)
{
  if (p->open || memcmp(key, p->root, CRDT_KEY_LEN) == 0)
    return true;
  for (size_t i = 0; i < p->n; i++)
    if (memcmp(p->m[i].id, key, CRDT_ID_LEN) == 0)
      return p->m[i].has_key && p->m[i].valid && !p->m[i].revoked;
  return false;
}

bool node_policy_known(const node_policy *p, const uint8_t *key)
{
  if (p->open || memcmp(key, p->root, CRDT_KEY_LEN) == 0)
    return true;
  for (size_t i = 0; i < p->n; i++)
    if (memcmp(p->m[i].id, key, CRDT_ID_LEN) == 0)
      return p->m[i].has_key || p->m[i].revoked;
  return false;
}
