/*
 * Membership and write permissions (DESIGN.md section 7).
 *
 * The root of trust is the network's admin key (the node that ran
 * `network create`; every member learns it from its invite). Membership
 * is replicated as records in the reserved scope "_net".
 * Collection "member", one per node, id = the first 16 bytes of its key:
 *   key       bytes(32)  the node's key           } the node's claim,
 *   cert      bytes      the invite's certificate } written by the node
 *   cert_sig  bytes(64)  the admin's signature    } itself when it joins
 *   proof     bytes(64)  the invite key's signature of the node's key: }
 *                        only a holder of the invite code can claim it }
 *   prior     bytes      msgpack [[invite key bin32, proof bin64]...]: }
 *                        invites this node claimed before (a re-join) }
 *   revoked   bytes      msgpack [[feed bin16, seq]...], written by the
 *                        admin: the node's changes beyond these seqs (and
 *                        of any other feed) are refused
 *   readmit   bytes(32)  written by the admin: of the keys that claimed
 *                        this invite, this one keeps it
 * Collection "witness", id = the claimant's id, one field per witness
 * ("w" + hex of the witness's id) holding the invite key of the claim
 * witnessed and the witness's wall-clock ms (8 bytes, big-endian);
 * written by an admin or office node when it first receives the claim,
 * only while its own clock is before the expiry; it counts when that
 * time is no later than the expiry.
 *
 * A claim is well-formed when the admin signed its certificate for this
 * network, the invite key signed the claimant's key, and the claim was
 * stamped before the expiry. It counts (VALID) when, besides, the root
 * admin or a valid admin or office member witnessed it before the expiry
 * (so a joining laptop's clock set back wins nothing: the witness's clock
 * decides), and no other key proved it holds the same invite (a leaked
 * invite holds every claimant's changes until the admin re-admits one
 * key; the others are then void). Every decision reads only replicated
 * records, so every node decides alike whatever the arrival order; what
 * is not known yet is held (GS_EHELD), never refused for good.
 *
 * A change is allowed when its author is the admin; or, in "_net", when
 * it is the author's own claim, or a valid admin's or office's witness;
 * or, elsewhere, when the author is VALID with a role that writes
 * (admin, office, leader; not reader) under a prefix of the change's
 * scope, is not revoked beyond it, and every time-bank entry it writes
 * is of at most the schema's hours for a person held under its scope.
 */
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/member.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/schema.h"

#define COLL "member"
#define WCOLL "witness"
#define PRIOR_MAX 8      /* earlier invites one node may list */
#define SEEN_MAX 16384   /* persons written earlier in a batch, remembered */
#define WITNESS_OPS 256  /* claims witnessed in one change */
#define WITNESS_LEN (CRDT_KEY_LEN + 8) /* invite key, witness's wall ms */

typedef struct cut {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
} cut;

typedef struct member {
  uint8_t id[CRDT_ID_LEN];
  uint8_t key[CRDT_KEY_LEN];
  bool has_key;
  bool has_claim;  /* claim fields present */
  bool proven;     /* the invite key signed this key (leak evidence) */
  bool base;       /* well-formed and made before the expiry */
  bool valid;      /* counts: base, witnessed, not void */
  node_member_state state;
  crdt_stamp claim; /* stamp of the cert field */
  char role[NODE_ROLE_MAX + 1];
  char scopes[NODE_SCOPES_MAX][CRDT_SCOPE_MAX + 1];
  size_t nscopes;
  uint64_t expires;
  uint8_t nonce[CRDT_KEY_LEN]; /* the invite's key */
  uint8_t prior[PRIOR_MAX][CRDT_KEY_LEN]; /* proven earlier invites */
  size_t nprior;
  bool has_readmit;
  uint8_t readmit[CRDT_KEY_LEN];
  bool has_other;
  uint8_t other[CRDT_KEY_LEN]; /* another claimant of the same invite */
  bool revoked;
  cut *cuts;
  size_t ncuts;
} member;

typedef struct witness {
  uint8_t claimant[CRDT_ID_LEN];
  uint8_t by[CRDT_KEY_LEN];
  uint64_t ms;
  uint8_t nonce[CRDT_KEY_LEN];
} witness;

typedef struct seen_rec {
  uint8_t coll; /* index in person_colls */
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
} seen_rec;

/* What a time-bank entry's person may be (the schema's ref). */
static const char *const person_colls[] = {"resident", "unit", "team"};
#define NPERSON (sizeof person_colls / sizeof person_colls[0])

static int person_coll(const char *c, size_t n)
{
  for (size_t i = 0; i < NPERSON; i++)
    if (strlen(person_colls[i]) == n && memcmp(person_colls[i], c, n) == 0)
      return (int)i;
  return -1;
}

struct node_policy {
  bool open; /* no network: everything is allowed (a standalone node) */
  node *n;   /* the node the policy is of (witnesses, record look-ups) */
  uint8_t root[CRDT_KEY_LEN];
  uint8_t netid[8];
  member *m;
  size_t n_m, cap;
  witness *w;
  size_t nw, wcap;
  seen_rec *seen; /* ring of persons written by changes accepted here */
  size_t nseen, seen_cap, seen_next;
  bool may_witness; /* this node is the root, or a valid admin or office */
  bool want_witness; /* claims were checked: witness what stays unseen */
  bool loaded;       /* past node_policy_load */
  bool dirty;        /* membership data changed since the last settle */
  bool defer;        /* no witness written now (inside a transaction) */
};

static gs_err witness_pending(node_policy *p);
static void settled(node_policy *p);

void node_policy_free(node_policy *p)
{
  if (!p)
    return;
  settled(p); /* this node may have just been confirmed */
  if (p->want_witness && !p->defer)
    witness_pending(p); /* best effort: a later check witnesses again */
  for (size_t i = 0; i < p->n_m; i++)
    free(p->m[i].cuts);
  free(p->m);
  free(p->w);
  free(p->seen);
  free(p);
}

/* Members are kept sorted by id: binary search, insertion in place. */
static member *find(node_policy *p, const uint8_t id[CRDT_ID_LEN], bool add)
{
  size_t lo = 0, hi = p->n_m;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(p->m[mid].id, id, CRDT_ID_LEN);
    if (c == 0)
      return &p->m[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (!add)
    return NULL;
  if (crdt_grow((void **)&p->m, &p->cap, p->n_m + 1, sizeof *p->m))
    return NULL;
  memmove(&p->m[lo + 1], &p->m[lo], (p->n_m - lo) * sizeof *p->m);
  p->n_m++;
  member *m = &p->m[lo];
  memset(m, 0, sizeof *m);
  m->state = NODE_MEMBER_NONE;
  memcpy(m->id, id, CRDT_ID_LEN);
  return m;
}

static bool is_root(const node_policy *p, const uint8_t *key)
{
  return memcmp(key, p->root, CRDT_KEY_LEN) == 0;
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
  if (a[2].via.str.size) /* an empty string's ptr may be NULL */
    memcpy(m->role, a[2].via.str.ptr, a[2].via.str.size);
  m->role[a[2].via.str.size] = '\0';
  if (!node_role_valid(m->role))
    goto out;
  for (size_t i = 0; i < a[3].via.array.size; i++) {
    const msgpack_object *sc = &a[3].via.array.ptr[i];
    if (sc->type != MSGPACK_OBJECT_STR || sc->via.str.size > CRDT_SCOPE_MAX ||
        !crdt_scope_valid(sc->via.str.ptr, sc->via.str.size))
      goto out;
    if (sc->via.str.size) /* an empty string's ptr may be NULL */
      memcpy(m->scopes[i], sc->via.str.ptr, sc->via.str.size);
    m->scopes[i][sc->via.str.size] = '\0';
  }
  m->nscopes = a[3].via.array.size;
  ok = true;
out:
  msgpack_unpacked_destroy(&u);
  return ok;
}

/* Did the invite key nonce sign key (the claimant held the code)? */
static bool proof_ok(const uint8_t nonce[CRDT_KEY_LEN], const uint8_t *key,
                     const uint8_t proof[CRDT_SIG_LEN])
{
  uint8_t pm[sizeof NODE_CLAIM_CONTEXT - 1 + CRDT_KEY_LEN];
  memcpy(pm, NODE_CLAIM_CONTEXT, sizeof NODE_CLAIM_CONTEXT - 1);
  memcpy(pm + sizeof NODE_CLAIM_CONTEXT - 1, key, CRDT_KEY_LEN);
  return crdt_verify(nonce, pm, sizeof pm, proof);
}

typedef enum claim_verdict {
  CLAIM_BAD,    /* malformed, or not proven by the invite key */
  CLAIM_LATE,   /* proven, but foreign, forged or made after the expiry */
  CLAIM_OK,
} claim_verdict;

/* Validate a claim by key (cert, cert_sig, proof) made at stamp st;
 * fills m. */
static claim_verdict claim_check(const node_policy *p, const uint8_t *key,
                                 const uint8_t *cert, size_t certlen,
                                 const uint8_t sig[CRDT_SIG_LEN],
                                 const uint8_t proof[CRDT_SIG_LEN],
                                 const crdt_stamp *st, member *m)
{
  uint8_t netid[8];
  if (certlen > 4096 || !cert_decode(cert, certlen, netid, m))
    return CLAIM_BAD;
  if (!proof_ok(m->nonce, key, proof))
    return CLAIM_BAD;
  if (memcmp(netid, p->netid, 8) != 0)
    return CLAIM_LATE; /* a certificate of another network */
  size_t cl = strlen(NODE_CERT_CONTEXT);
  uint8_t *msg = malloc(cl + certlen);
  if (!msg)
    return CLAIM_LATE;
  memcpy(msg, NODE_CERT_CONTEXT, cl);
  memcpy(msg + cl, cert, certlen);
  bool ok = crdt_verify(p->root, msg, cl + certlen, sig);
  free(msg);
  if (!ok)
    return CLAIM_LATE;
  /* stamped before expiry (the claimant's clock: a witness is needed too) */
  return CRDT_HLC_MS(st->hlc) <= m->expires ? CLAIM_OK : CLAIM_LATE;
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

/* Earlier invites of key: [[invite key, proof]...]; only proven ones are
 * kept (nobody can name another's invite as leaked without its code). */
static bool prior_decode(const uint8_t *b, size_t n, const uint8_t *key,
                         uint8_t out[PRIOR_MAX][CRDT_KEY_LEN], size_t *nout)
{
  msgpack_unpacked u;
  bool ok = false;
  *nout = 0;
  msgpack_unpacked_init(&u);
  if (n > 4096 || crdt_mp_unpack(b, n, 2, &u) != GS_OK)
    goto out;
  const msgpack_object *o = &u.data;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > PRIOR_MAX)
    goto out;
  for (size_t i = 0; i < o->via.array.size; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    uint8_t sig[CRDT_SIG_LEN];
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
        crdt_mp_bin(&e->via.array.ptr[0], CRDT_KEY_LEN, out[*nout]) ||
        crdt_mp_bin(&e->via.array.ptr[1], CRDT_SIG_LEN, sig))
      goto out;
    if (proof_ok(out[*nout], key, sig))
      (*nout)++;
  }
  ok = true;
out:
  msgpack_unpacked_destroy(&u);
  return ok;
}

static bool witness_role(const member *m)
{
  return strcmp(m->role, "admin") == 0 || strcmp(m->role, "office") == 0;
}

/* Is the node with key the root, or a valid admin or office? Its
 * witnesses count (those of a node revoked since count too: they were
 * accepted before its revocation cut; see check_net). */
static bool is_witness(node_policy *p, const uint8_t *key)
{
  if (is_root(p, key))
    return true;
  const member *m = find(p, key, false);
  return m && m->valid && witness_role(m) &&
         memcmp(m->key, key, CRDT_KEY_LEN) == 0;
}

/* Was change c (of a revoked author m) written before its revocation? */
static bool before_cut(const member *m, const crdt_change *c)
{
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
  for (size_t i = 0; i < m->ncuts; i++)
    if (memcmp(m->cuts[i].feed, feed, CRDT_FEED_LEN) == 0 &&
        c->seq <= m->cuts[i].seq)
      return true;
  return false;
}

/* Decide every member's state from what p holds: the same records give
 * the same states on every node, whatever the order they came in. */
typedef struct inv_use {
  const uint8_t *nonce;
  size_t member;
} inv_use;

static int cmp_use(const void *a, const void *b)
{
  const inv_use *x = a, *y = b;
  int c = memcmp(x->nonce, y->nonce, CRDT_KEY_LEN);
  return c ? c : (x->member > y->member) - (x->member < y->member);
}

/* Mark the members whose invite another key proved it holds too:
 * LEAKED (held until the admin re-admits one), or VOID when the admin
 * re-admitted another. Sorting the invites used: O(k log k). */
static void settle_leaks(node_policy *p)
{
  size_t k = 0;
  for (size_t i = 0; i < p->n_m; i++)
    k += p->m[i].has_key ? (p->m[i].proven ? 1 : 0) + p->m[i].nprior : 0;
  if (k < 2)
    return;
  inv_use *u = malloc(k * sizeof *u);
  if (!u) {
    for (size_t i = 0; i < p->n_m; i++)
      if (p->m[i].base)
        p->m[i].state = NODE_MEMBER_LEAKED; /* cannot tell: hold */
    return;
  }
  k = 0;
  for (size_t i = 0; i < p->n_m; i++) {
    const member *m = &p->m[i];
    if (!m->has_key)
      continue;
    if (m->proven)
      u[k++] = (inv_use){m->nonce, i};
    for (size_t j = 0; j < m->nprior; j++)
      u[k++] = (inv_use){m->prior[j], i};
  }
  qsort(u, k, sizeof *u, cmp_use);
  for (size_t a = 0; a < k;) {
    size_t b = a + 1;
    while (b < k && memcmp(u[b].nonce, u[a].nonce, CRDT_KEY_LEN) == 0)
      b++;
    if (u[b - 1].member != u[a].member) { /* two keys or more */
      for (size_t x = a; x < b; x++) {
        member *m = &p->m[u[x].member];
        if (!m->base || memcmp(m->nonce, u[x].nonce, CRDT_KEY_LEN) != 0)
          continue; /* not its current claim */
        bool other_readmitted = false;
        for (size_t y = a; y < b; y++) {
          const member *o = &p->m[u[y].member];
          if (o == m)
            continue;
          if (!m->has_other) {
            memcpy(m->other, o->key, CRDT_KEY_LEN);
            m->has_other = true;
          }
          if (o->has_readmit &&
              memcmp(o->readmit, u[x].nonce, CRDT_KEY_LEN) == 0)
            other_readmitted = true;
        }
        bool me = m->has_readmit &&
                  memcmp(m->readmit, m->nonce, CRDT_KEY_LEN) == 0;
        if (!me)
          m->state = other_readmitted ? NODE_MEMBER_VOID : NODE_MEMBER_LEAKED;
      }
    }
    a = b;
  }
  free(u);
}

/* Decide every member's state from what p holds: the same records give
 * the same states on every node, whatever the order they came in. */
static void settle(node_policy *p)
{
  for (size_t i = 0; i < p->n_m; i++) {
    member *m = &p->m[i];
    m->valid = false;
    m->has_other = false;
    m->state = !m->has_claim ? NODE_MEMBER_NONE
               : m->base     ? NODE_MEMBER_UNWITNESSED
                             : NODE_MEMBER_VOID;
  }
  settle_leaks(p);
  /* witnessed before the expiry by the root or a valid admin or office:
   * from the root outwards, until nothing changes (each round is
   * O(witnesses log members)) */
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t k = 0; k < p->nw; k++) {
      const witness *w = &p->w[k];
      member *m = find(p, w->claimant, false);
      if (!m || m->valid || m->state != NODE_MEMBER_UNWITNESSED ||
          memcmp(w->nonce, m->nonce, CRDT_KEY_LEN) != 0 ||
          w->ms > m->expires || memcmp(w->by, m->key, CRDT_KEY_LEN) == 0 ||
          !is_witness(p, w->by))
        continue;
      m->valid = true;
      m->state = NODE_MEMBER_VALID;
      changed = true;
    }
  }
  bool was = p->may_witness;
  const member *self = p->n ? find(p, p->n->pk, false) : NULL;
  p->may_witness = p->n && is_witness(p, p->n->pk) &&
                   !(self && self->revoked);
  if (p->may_witness && !was && p->loaded)
    p->want_witness = true; /* just confirmed: confirm what it holds */
}

/* Settle only when something changed (a batch of claims settles once). */
static void settled(node_policy *p)
{
  if (p->dirty) {
    p->dirty = false;
    settle(p);
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

/* Apply a claim (cert, sig, proof, prior) of key at stamp st to m. */
static void claim_set(member *m, claim_verdict v, const member *cand,
                      const uint8_t *prior, size_t priorlen,
                      const crdt_stamp *st);

static void claim_apply(node_policy *p, member *m, const uint8_t *cert,
                        size_t cl, const uint8_t *sig, const uint8_t *proof,
                        const uint8_t *prior, size_t priorlen,
                        const crdt_stamp *st)
{
  member cand;
  memset(&cand, 0, sizeof cand);
  claim_verdict v = claim_check(p, m->key, cert, cl, sig, proof, st, &cand);
  claim_set(m, v, &cand, prior, priorlen, st);
}

/* Set m's claim from a checked candidate. */
static void claim_set(member *m, claim_verdict v, const member *cand_,
                      const uint8_t *prior, size_t priorlen,
                      const crdt_stamp *st)
{
  const member cand = *cand_;
  m->has_claim = true;
  m->claim = *st;
  m->proven = v != CLAIM_BAD;
  m->base = v == CLAIM_OK;
  memcpy(m->role, cand.role, sizeof m->role);
  memcpy(m->scopes, cand.scopes, sizeof m->scopes);
  m->nscopes = cand.nscopes;
  m->expires = cand.expires;
  memcpy(m->nonce, cand.nonce, CRDT_KEY_LEN);
  m->nprior = 0;
  if (prior)
    prior_decode(prior, priorlen, m->key, m->prior, &m->nprior);
}

static int on_member(void *ctx, const crdt_record *r)
{
  node_policy *p = ctx;
  const char *scope, *coll;
  size_t sn, cn, kl = 0, cl = 0, sl = 0, rl = 0, pl = 0, ql = 0, al = 0;
  uint8_t id[CRDT_ID_LEN];
  crdt_stamp st;
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  member *m = find(p, id, true);
  if (!m)
    return 1;
  const uint8_t *key = field_bytes(r, "key", &kl, NULL);
  const uint8_t *cert = field_bytes(r, "cert", &cl, &st);
  const uint8_t *sig = field_bytes(r, "cert_sig", &sl, NULL);
  const uint8_t *proof = field_bytes(r, "proof", &pl, NULL);
  const uint8_t *prior = field_bytes(r, "prior", &ql, NULL);
  const uint8_t *rev = field_bytes(r, "revoked", &rl, NULL);
  const uint8_t *re = field_bytes(r, "readmit", &al, NULL);
  if (key && kl == CRDT_KEY_LEN && memcmp(key, id, CRDT_ID_LEN) == 0) {
    memcpy(m->key, key, CRDT_KEY_LEN);
    m->has_key = true;
  }
  if (m->has_key && cert && sig && sl == CRDT_SIG_LEN && proof &&
      pl == CRDT_SIG_LEN)
    claim_apply(p, m, cert, cl, sig, proof, prior, ql, &st);
  if (rev) {
    cuts_decode(rev, rl, m); /* malformed: nothing kept */
    m->revoked = true;
  }
  if (re && al == CRDT_KEY_LEN) {
    memcpy(m->readmit, re, CRDT_KEY_LEN);
    m->has_readmit = true;
  }
  return 0;
}

static gs_err witness_add(node_policy *p, const uint8_t claimant[CRDT_ID_LEN],
                          const uint8_t by[CRDT_KEY_LEN], uint64_t ms,
                          const uint8_t nonce[CRDT_KEY_LEN])
{
  for (size_t i = 0; i < p->nw; i++)
    if (memcmp(p->w[i].claimant, claimant, CRDT_ID_LEN) == 0 &&
        memcmp(p->w[i].by, by, CRDT_KEY_LEN) == 0) {
      p->w[i].ms = ms; /* a field per witness: its last write holds */
      memcpy(p->w[i].nonce, nonce, CRDT_KEY_LEN);
      return GS_OK;
    }
  if (crdt_grow((void **)&p->w, &p->wcap, p->nw + 1, sizeof *p->w))
    return GS_ENOMEM;
  witness *w = &p->w[p->nw++];
  memcpy(w->claimant, claimant, CRDT_ID_LEN);
  memcpy(w->by, by, CRDT_KEY_LEN);
  w->ms = ms;
  memcpy(w->nonce, nonce, CRDT_KEY_LEN);
  return GS_OK;
}

/* The wall-clock time in a witness value (big-endian, after the key). */
static uint64_t witness_ms(const uint8_t *v)
{
  uint64_t ms = 0;
  for (int i = 0; i < 8; i++)
    ms = ms << 8 | v[CRDT_KEY_LEN + i];
  return ms;
}

/* The witness field of the node with key: "w" + hex of its id. */
static void witness_field(const uint8_t *key, char out[2 + 2 * CRDT_ID_LEN])
{
  static const char d[] = "0123456789abcdef";
  out[0] = 'w';
  for (size_t i = 0; i < CRDT_ID_LEN; i++) {
    out[1 + 2 * i] = d[key[i] >> 4];
    out[2 + 2 * i] = d[key[i] & 15];
  }
  out[1 + 2 * CRDT_ID_LEN] = '\0';
}

static int on_witness(void *ctx, const crdt_record *r)
{
  node_policy *p = ctx;
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    char want[2 + 2 * CRDT_ID_LEN];
    if (crdt_record_field(r, i, &fv) != GS_OK || fv.is_set ||
        fv.value.type != CRDT_BYTES || fv.value.u.s.n != WITNESS_LEN)
      continue;
    witness_field(fv.stamp.origin, want);
    if (fv.name_len != strlen(want) || memcmp(fv.name, want, fv.name_len))
      continue; /* a field of another's name: not its witness */
    const uint8_t *v = (const uint8_t *)fv.value.u.s.p;
    if (witness_add(p, id, fv.stamp.origin, witness_ms(v), v))
      return 1;
  }
  return 0;
}

gs_err node_policy_load(node *n, node_policy **out)
{
  node_policy *p = calloc(1, sizeof *p);
  *out = NULL;
  if (!p)
    return GS_ENOMEM;
  p->n = n;
  if (!n->has_net) {
    p->open = true;
    *out = p;
    return GS_OK;
  }
  memcpy(p->root, n->net.admin, CRDT_KEY_LEN);
  memcpy(p->netid, n->net.id, 8);
  gs_err err = store_list(n->st, COLL, strlen(COLL), NODE_NET_SCOPE,
                          strlen(NODE_NET_SCOPE), on_member, p);
  if (!err || err == GS_ENOTFOUND)
    err = store_list(n->st, WCOLL, strlen(WCOLL), NODE_NET_SCOPE,
                     strlen(NODE_NET_SCOPE), on_witness, p);
  if (err && err != GS_ENOTFOUND) {
    node_policy_free(p);
    return err;
  }
  settle(p);
  p->loaded = true;
  *out = p;
  return GS_OK;
}

static bool is_net_scope(const char *s, size_t n)
{
  return n == strlen(NODE_NET_SCOPE) && memcmp(s, NODE_NET_SCOPE, n) == 0;
}

static bool op_is(const crdt_op *op, const char *coll, const char *field)
{
  return op->coll_len == strlen(coll) &&
         memcmp(op->coll, coll, op->coll_len) == 0 &&
         (!field || (op->field_len == strlen(field) &&
                     memcmp(op->field, field, op->field_len) == 0));
}

/* Witness ops of change c by its author (already allowed to witness). */
static gs_err note_witnesses(node_policy *p, const crdt_change *c)
{
  char want[2 + 2 * CRDT_ID_LEN];
  witness_field(c->origin, want);
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->kind != CRDT_OP_SET || !op_is(op, WCOLL, want) ||
        op->value.type != CRDT_BYTES || op->value.u.s.n != WITNESS_LEN)
      continue;
    const uint8_t *v = (const uint8_t *)op->value.u.s.p;
    gs_err err = witness_add(p, op->id, c->origin, witness_ms(v), v);
    if (err)
      return err;
  }
  return GS_OK;
}

/* The admin's changes to "_net" update the policy as they are accepted. */
static gs_err note_admin(node_policy *p, const crdt_change *c)
{
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->kind != CRDT_OP_SET || op->value.type != CRDT_BYTES ||
        !op_is(op, COLL, NULL))
      continue;
    bool rev = op_is(op, COLL, "revoked");
    bool re = op_is(op, COLL, "readmit") && op->value.u.s.n == CRDT_KEY_LEN;
    if (!rev && !re)
      continue;
    member *m = find(p, op->id, true);
    if (!m)
      return GS_ENOMEM;
    if (rev) {
      cuts_decode((const uint8_t *)op->value.u.s.p, op->value.u.s.n, m);
      m->revoked = true;
    } else {
      memcpy(m->readmit, op->value.u.s.p, CRDT_KEY_LEN);
      m->has_readmit = true;
    }
  }
  gs_err err = note_witnesses(p, c);
  p->dirty = true;
  return err;
}

/* Records written once (visit, timebank) take ops from their author only,
 * the node their id names (crdt_id_owned): a member who may write the
 * scope, the admin included, cannot rewrite or delete another's time-bank
 * entry. The rule reads nothing but the op and its change, so every node
 * refuses the same changes whatever order they arrive in. There is no
 * exemption by the id's age: every written-once id names its author. */
static gs_err check_written_once(const crdt_change *c, char *why,
                                 size_t whylen)
{
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    const node_coll *sc = node_schema_coll(op->coll, op->coll_len);
    if (sc && sc->immutable && !crdt_id_owned_by(op->id, c->origin)) {
      char idt[CRDT_ID_TEXT_LEN + 1];
      crdt_base32_encode(op->id, CRDT_ID_LEN, idt);
      snprintf(why, whylen,
               _("%s %s is written once, by the node its id names: another "
               "node's change to it is refused"),
               sc->name, idt);
      return GS_EPERM;
    }
  }
  return GS_OK;
}

/* ---- time-bank entries: only for a person held under the entry's scope
 * (so the author, who may write that scope, may write the account), and
 * of at most the schema's hours ---- */

typedef struct held_ctx {
  const char *scope;
  size_t scope_len;
  bool under;
} held_ctx;

static int on_held(void *ctx, const crdt_record *r)
{
  held_ctx *h = ctx;
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  if (crdt_scope_under(scope, sn, h->scope, h->scope_len))
    h->under = true;
  return 0;
}

/* Is (coll, id) held in a scope under prefix (stored, or created by a
 * change accepted earlier through p)? */
static bool person_held(node_policy *p, const char *coll, size_t cl,
                        const uint8_t *id, const char *prefix, size_t pl)
{
  int pc = person_coll(coll, cl);
  if (pc < 0 || !p->n)
    return false; /* not a person the schema knows */
  held_ctx h = {prefix, pl, false};
  store_get(p->n->st, coll, cl, id, on_held, &h);
  for (size_t i = 0; i < p->nseen && !h.under; i++) {
    const seen_rec *s = &p->seen[i];
    if (s->coll == pc && memcmp(s->id, id, CRDT_ID_LEN) == 0 &&
        crdt_scope_under(s->scope, strlen(s->scope), prefix, pl))
      h.under = true;
  }
  return h.under;
}

/* Remember the records an accepted change creates (for later changes of
 * the same batch, not stored yet). */
static void note_created(node_policy *p, const crdt_change *c)
{
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    int pc = person_coll(op->coll, op->coll_len);
    if (pc < 0 || c->scope_len > CRDT_SCOPE_MAX ||
        (i > 0 && memcmp(op->id, c->ops[i - 1].id, CRDT_ID_LEN) == 0))
      continue;
    if (p->nseen == p->seen_cap && p->seen_cap < SEEN_MAX) {
      size_t cap = p->seen_cap ? 2 * p->seen_cap : 64;
      seen_rec *ns = realloc(p->seen, (cap < SEEN_MAX ? cap : SEEN_MAX) *
                                          sizeof *ns);
      if (!ns)
        return;
      p->seen = ns;
      p->seen_cap = cap < SEEN_MAX ? cap : SEEN_MAX;
      p->seen_next = p->nseen; /* it was full, never wrapped */
    }
    seen_rec *s = &p->seen[p->seen_next];
    s->coll = (uint8_t)pc;
    memcpy(s->id, op->id, CRDT_ID_LEN);
    memcpy(s->scope, c->scope, c->scope_len);
    s->scope[c->scope_len] = '\0';
    p->seen_next = (p->seen_next + 1) % p->seen_cap;
    if (p->nseen < p->seen_cap)
      p->nseen++;
  }
}

static gs_err check_timebank(node_policy *p, const crdt_change *c, char *why,
                             size_t whylen)
{
  const node_coll *tb = node_schema_coll("timebank", 8);
  const node_field *hf = tb ? node_schema_field(tb, "hours", 5) : NULL;
  double max = hf && hf->max > 0 ? hf->max : 10000;
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (!op_is(op, "timebank", NULL) || op->kind != CRDT_OP_SET)
      continue;
    if (op_is(op, "timebank", "hours")) {
      double h = op->value.type == CRDT_INT     ? (double)op->value.u.i
                 : op->value.type == CRDT_FLOAT ? op->value.u.f
                                                : 0;
      if (!(h >= -max && h <= max)) {
        snprintf(why, whylen,
                 _("a time-bank entry of more than %.0f hours is refused"), max);
        return GS_EPERM;
      }
    } else if (op_is(op, "timebank", "person")) {
      if (op->value.type != CRDT_REF) {
        snprintf(why, whylen, "%s", _("a time-bank entry's person is not a record"));
        return GS_EPERM;
      }
      if (!person_held(p, op->value.u.ref.coll, op->value.u.ref.coll_len,
                       op->value.u.ref.id, c->scope, c->scope_len)) {
        snprintf(why, whylen,
                 _("a time-bank entry in %.*s for a person not held under it "
                 "(held until the person's record arrives)"),
                 (int)c->scope_len, c->scope);
        return GS_EHELD;
      }
    }
  }
  return GS_OK;
}

/* ---- witnessing ---- */

/* Write one witness change of this node for the claims of ms (nm of
 * them). The node's own clock must show each claim's invite unexpired;
 * the others are skipped. */
static gs_err witness_write(node_policy *p, member *const *ms, size_t nm)
{
  node *n = p->n;
  uint64_t now = node_now(n);
  crdt_op *ops = calloc(nm ? nm : 1, sizeof *ops);
  uint8_t(*vals)[WITNESS_LEN] = calloc(nm ? nm : 1, sizeof *vals);
  char field[2 + 2 * CRDT_ID_LEN];
  size_t k = 0;
  if (!ops || !vals) {
    free(ops);
    free(vals);
    return GS_ENOMEM;
  }
  witness_field(n->pk, field);
  for (size_t i = 0; i < nm; i++) {
    if (now > ms[i]->expires)
      continue;
    crdt_op *op = &ops[k++];
    op->kind = CRDT_OP_SET;
    op->coll = WCOLL;
    op->coll_len = strlen(WCOLL);
    memcpy(op->id, ms[i]->id, CRDT_ID_LEN);
    op->field = field;
    op->field_len = strlen(field);
    /* the time is this node's wall clock, not its HLC (which a peer's
     * fast clock may have pushed ahead) */
    uint8_t *v = vals[k - 1];
    memcpy(v, ms[i]->nonce, CRDT_KEY_LEN);
    for (int b = 0; b < 8; b++)
      v[CRDT_KEY_LEN + b] = (uint8_t)(now >> (56 - 8 * b));
    op->value.type = CRDT_BYTES;
    op->value.u.s.p = (const char *)v;
    op->value.u.s.n = WITNESS_LEN;
  }
  gs_err err = GS_OK;
  store_write *w;
  if (k && (err = store_write_begin(n->st, n->sk, &w)) == GS_OK) {
    err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), ops,
                             k, now, NULL, NULL);
    if (err)
      store_write_abort(w);
    else
      err = store_write_commit(w);
  }
  for (size_t i = 0; !err && i < k; i++)
    err = witness_add(p, ops[i].id, n->pk, now, vals[i]);
  free(ops);
  free(vals);
  return err;
}

static bool witnessed_by(const node_policy *p, const member *m,
                         const uint8_t *by)
{
  for (size_t k = 0; k < p->nw; k++)
    if (memcmp(p->w[k].claimant, m->id, CRDT_ID_LEN) == 0 &&
        memcmp(p->w[k].by, by, CRDT_KEY_LEN) == 0 &&
        memcmp(p->w[k].nonce, m->nonce, CRDT_KEY_LEN) == 0)
      return true;
  return false;
}

/* Did the root or a valid admin or office witness m's claim in time? */
static bool valid_witness(node_policy *p, const member *m)
{
  for (size_t k = 0; k < p->nw; k++) {
    const witness *w = &p->w[k];
    if (memcmp(w->claimant, m->id, CRDT_ID_LEN) == 0 &&
        memcmp(w->nonce, m->nonce, CRDT_KEY_LEN) == 0 &&
        w->ms <= m->expires && memcmp(w->by, m->key, CRDT_KEY_LEN) != 0 &&
        is_witness(p, w->by))
      return true;
  }
  return false;
}

/* As an admin or office: witness every well-formed claim not witnessed
 * yet (by anyone valid) whose invite has not expired by this node's
 * clock. Then settle. */
void node__policy_defer(node_policy *p, bool defer)
{
  p->defer = defer;
}

static gs_err witness_pending(node_policy *p)
{
  if (p->defer)
    return GS_OK; /* want_witness stays: written when allowed again */
  p->want_witness = false;
  settled(p);
  if (!p->may_witness)
    return GS_OK;
  member **ms = malloc(WITNESS_OPS * sizeof *ms);
  uint64_t now = node_now(p->n);
  gs_err err = ms ? GS_OK : GS_ENOMEM;
  /* in changes of at most WITNESS_OPS claims each */
  for (size_t i = 0; !err && i < p->n_m;) {
    size_t nm = 0;
    for (; i < p->n_m && nm < WITNESS_OPS; i++) {
      member *m = &p->m[i];
      /* a witness says when the claim was seen, nothing more: a claim of
       * a twice-used invite is witnessed too, for the key the admin
       * keeps */
      if (m->base && m->has_key && !m->valid &&
          (m->state == NODE_MEMBER_UNWITNESSED ||
           (m->state == NODE_MEMBER_LEAKED && !valid_witness(p, m))) &&
          memcmp(m->key, p->n->pk, CRDT_KEY_LEN) != 0 &&
          now <= m->expires && !witnessed_by(p, m, p->n->pk))
        ms[nm++] = m;
    }
    if (nm)
      err = witness_write(p, ms, nm);
  }
  free(ms);
  settle(p);
  p->dirty = false;
  return err;
}

static const char *state_why(node_member_state s)
{
  switch (s) {
  case NODE_MEMBER_UNWITNESSED:
    return _("the author's membership has not been confirmed by an admin or "
           "office yet (held until it is)");
  case NODE_MEMBER_LEAKED:
    return _("the author's invite was used by two nodes (held until the admin "
           "re-admits one)");
  case NODE_MEMBER_VOID:
    return _("the author's membership claim is void");
  default:
    return _("the author is not a member of this network (held until its "
           "membership arrives)");
  }
}

/* A change in "_net" by a node other than the root admin: its own claim,
 * or an admin's or office's witnesses. */
static gs_err check_net(node_policy *p, const crdt_change *c, char *why,
                        size_t whylen)
{
  if (c->nops > 0 && op_is(&c->ops[0], WCOLL, NULL)) {
    char want[2 + 2 * CRDT_ID_LEN];
    witness_field(c->origin, want);
    for (size_t i = 0; i < c->nops; i++) {
      const crdt_op *op = &c->ops[i];
      if (op->kind != CRDT_OP_SET || !op_is(op, WCOLL, want) ||
          op->value.type != CRDT_BYTES || op->value.u.s.n != WITNESS_LEN) {
        snprintf(why, whylen, "%s", _("a witness record of another's name"));
        return GS_EPERM;
      }
    }
    settled(p);
    const member *wm = find(p, c->origin, false);
    if (wm && wm->revoked && !before_cut(wm, c)) {
      snprintf(why, whylen, "%s", _("the author was revoked"));
      return GS_EPERM;
    }
    if (!is_witness(p, c->origin)) {
      const member *m = find(p, c->origin, false);
      if (m && (m->state == NODE_MEMBER_VALID ? !witness_role(m)
                                              : m->state == NODE_MEMBER_VOID)) {
        snprintf(why, whylen, "%s", _("only an admin or office witnesses claims"));
        return GS_EPERM;
      }
      snprintf(why, whylen, "%s", state_why(m ? m->state : NODE_MEMBER_NONE));
      return GS_EHELD;
    }
    gs_err err = note_witnesses(p, c);
    p->dirty = true;
    return err;
  }
  /* only a node's own claim: key, cert, cert_sig, proof (and prior) */
  const uint8_t *cert = NULL, *sig = NULL, *proof = NULL, *prior = NULL;
  size_t cl = 0, pl = 0;
  bool key_ok = false;
  for (size_t i = 0; i < c->nops; i++) {
    const crdt_op *op = &c->ops[i];
    if (op->kind != CRDT_OP_SET || !op_is(op, COLL, NULL) ||
        memcmp(op->id, c->origin, CRDT_ID_LEN) != 0 ||
        op->value.type != CRDT_BYTES)
      goto refuse;
    const uint8_t *v = (const uint8_t *)op->value.u.s.p;
    size_t vn = op->value.u.s.n;
    if (op_is(op, COLL, "key"))
      key_ok = vn == CRDT_KEY_LEN && memcmp(v, c->origin, vn) == 0;
    else if (op_is(op, COLL, "cert"))
      cert = v, cl = vn;
    else if (op_is(op, COLL, "cert_sig") && vn == CRDT_SIG_LEN)
      sig = v;
    else if (op_is(op, COLL, "proof") && vn == CRDT_SIG_LEN)
      proof = v;
    else if (op_is(op, COLL, "prior"))
      prior = v, pl = vn;
    else
      goto refuse;
  }
  if (!key_ok || !cert || !sig || !proof)
    goto refuse;
  member probe;
  memset(&probe, 0, sizeof probe);
  crdt_stamp st = {.hlc = c->hlc};
  memcpy(st.origin, c->origin, CRDT_KEY_LEN);
  claim_verdict v = claim_check(p, c->origin, cert, cl, sig, proof, &st,
                                &probe);
  if (v == CLAIM_BAD) {
    snprintf(why, whylen, "%s", _("membership claim with an invalid, expired or "
                          "foreign certificate"));
    return GS_EPERM;
  }
  member *m = find(p, c->origin, true);
  if (!m)
    return GS_ENOMEM;
  memcpy(m->key, c->origin, CRDT_KEY_LEN);
  m->has_key = true;
  claim_set(m, v, &probe, prior, pl, &st);
  p->dirty = true; /* settled when a state is needed */
  /* witnessed once the batch's membership feeds are all checked (the
   * first change of another scope, or the end): a witness already on its
   * way is not written twice */
  p->want_witness = true;
  /* the claim is kept (as data) even when void or late, so that every
   * node that holds both claims of a leaked invite decides alike */
  if (!m->base) {
    snprintf(why, whylen, "membership claim with an invalid, expired or "
                          "foreign certificate");
    return GS_EPERM;
  }
  return GS_OK;
refuse:
  snprintf(why, whylen, "%s", _("only the admin writes membership records"));
  return GS_EPERM;
}

gs_err node_policy_check(node_policy *p, const crdt_change *c, char *why,
                         size_t whylen)
{
  gs_err err = check_written_once(c, why, whylen);
  if (err)
    return err;
  if (p->open)
    return GS_OK;
  bool net = is_net_scope(c->scope, c->scope_len);
  if (net && !crdt_change_verify(c)) {
    /* membership changes shape this check for the rest of the batch:
     * they must be genuine before they count */
    snprintf(why, whylen, "%s", _("membership change with a bad signature"));
    return GS_EPERM;
  }
  if (is_root(p, c->origin)) {
    if (net)
      return note_admin(p, c);
    if (p->want_witness && (err = witness_pending(p)) != GS_OK)
      return err;
    if ((err = check_timebank(p, c, why, whylen)) == GS_OK)
      note_created(p, c);
    return err; /* the admin writes everywhere */
  }
  if (net)
    return check_net(p, c, why, whylen);
  if (p->want_witness && (err = witness_pending(p)) != GS_OK)
    return err;
  settled(p);
  member *m = find(p, c->origin, false);
  if (!m || m->state != NODE_MEMBER_VALID) {
    node_member_state s = m ? m->state : NODE_MEMBER_NONE;
    snprintf(why, whylen, "%s", state_why(s));
    return s == NODE_MEMBER_VOID ? GS_EPERM : GS_EHELD;
  }
  if (strcmp(m->role, "reader") == 0) {
    snprintf(why, whylen, "%s", _("the author is a reader"));
    return GS_EPERM;
  }
  bool under = strcmp(m->role, "admin") == 0;
  for (size_t i = 0; i < m->nscopes && !under; i++)
    under = crdt_scope_under(c->scope, c->scope_len, m->scopes[i],
                             strlen(m->scopes[i]));
  if (!under) {
    snprintf(why, whylen, _("the author (%s) may not write %.*s"), m->role,
             (int)c->scope_len, c->scope);
    return GS_EPERM;
  }
  if (m->revoked && !before_cut(m, c)) {
    snprintf(why, whylen, "the author was revoked");
    return GS_EPERM;
  }
  if ((err = check_timebank(p, c, why, whylen)) == GS_OK)
    note_created(p, c);
  return err;
}

bool node_policy_revoked(const node_policy *p, const uint8_t *key)
{
  for (size_t i = 0; i < p->n_m; i++)
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
    snprintf(why, whylen, "%s", _("scopes starting with '_' are reserved"));
    return GS_EPERM;
  }
  node_policy *p;
  gs_err err = node_policy_load(n, &p);
  if (!err)
    node__policy_defer(p, true); /* a query: it writes nothing */
  if (err)
    return err;
  member *self = find(p, n->pk, false);
  if (self && self->state == NODE_MEMBER_UNWITNESSED &&
      node_now(n) <= self->expires) {
    /* just joined, not yet seen by an office: write on; the others hold
     * these changes until an office confirms the claim */
    self->state = NODE_MEMBER_VALID;
  }
  /* a change this node would write, seq and hlc aside (no time-bank ops:
   * those are checked by the caller's own records) */
  crdt_change c = {.scope = scope, .scope_len = scope_len, .seq = 1,
                   .hlc = CRDT_HLC_MAKE(node_now(n), 0)};
  memcpy(c.origin, n->pk, CRDT_KEY_LEN);
  err = node_policy_check(p, &c, why, whylen);
  /* at most ~200 bytes: callers' buffers */
  if (err && self && self->state == NODE_MEMBER_LEAKED)
    snprintf(why, whylen,
             "%s", _("this node's invite was also used on another computer, so the "
             "network holds its changes: ask the admin to run 'gridsync "
             "readmit' with this node's id, or for a new invite to join again"));
  else if (err && self && self->state == NODE_MEMBER_VOID)
    snprintf(why, whylen,
             "%s", _("this node's membership is void (its invite was used twice and "
             "the admin kept the other computer): ask the admin for a new "
             "invite and run 'gridsync join CODE'"));
  else if (err && self && self->state == NODE_MEMBER_UNWITNESSED)
    snprintf(why, whylen,
             "%s", _("no admin or office confirmed this node's membership before its "
             "invite expired: ask the admin for a new invite and run "
             "'gridsync join CODE'"));
  else if (err && !self && strcmp(n->net.role, "admin") != 0)
    snprintf(why, whylen, "%s", _("this node's membership is not known yet"));
  else if (err == GS_EPERM && strstr(why, _("may not write")))
    snprintf(why, whylen, _("this node (%s of %s%s) may not write %.*s"),
             n->net.role, n->net.scopes[0], n->net.nscopes > 1 ? ", ..." : "",
             (int)scope_len, scope);
  node_policy_free(p);
  return err ? GS_EPERM : GS_OK;
}

/* This node's earlier claims, as the prior field of a new claim: the
 * invite key and proof of its current record, then the prior it lists. */
typedef struct prior_ctx {
  const uint8_t *new_nonce;
  msgpack_sbuffer *sb;
  size_t n;
} prior_ctx;

static int on_own_record(void *ctx, const crdt_record *r)
{
  prior_ctx *pc = ctx;
  size_t cl = 0, pl = 0, ql = 0;
  const uint8_t *cert = field_bytes(r, "cert", &cl, NULL);
  const uint8_t *proof = field_bytes(r, "proof", &pl, NULL);
  const uint8_t *prior = field_bytes(r, "prior", &ql, NULL);
  uint8_t entries[PRIOR_MAX][CRDT_KEY_LEN + CRDT_SIG_LEN];
  size_t ne = 0;
  member m;
  uint8_t netid[8];
  memset(&m, 0, sizeof m);
  if (cert && proof && pl == CRDT_SIG_LEN && cl <= 4096 &&
      cert_decode(cert, cl, netid, &m) &&
      memcmp(m.nonce, pc->new_nonce, CRDT_KEY_LEN) != 0) {
    memcpy(entries[ne], m.nonce, CRDT_KEY_LEN);
    memcpy(entries[ne++] + CRDT_KEY_LEN, proof, CRDT_SIG_LEN);
  }
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  if (prior && ql <= 4096 && crdt_mp_unpack(prior, ql, 2, &u) == GS_OK) {
    const msgpack_object *o = &u.data;
    for (size_t i = 0; o->type == MSGPACK_OBJECT_ARRAY &&
                       i < o->via.array.size && ne < PRIOR_MAX;
         i++) {
      const msgpack_object *e = &o->via.array.ptr[i];
      if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 &&
          !crdt_mp_bin(&e->via.array.ptr[0], CRDT_KEY_LEN, entries[ne]) &&
          !crdt_mp_bin(&e->via.array.ptr[1], CRDT_SIG_LEN,
                       entries[ne] + CRDT_KEY_LEN) &&
          memcmp(entries[ne], pc->new_nonce, CRDT_KEY_LEN) != 0)
        ne++;
    }
  }
  msgpack_unpacked_destroy(&u);
  if (!ne)
    return 0;
  msgpack_packer pk;
  msgpack_packer_init(&pk, pc->sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, ne);
  for (size_t i = 0; i < ne; i++) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin_with_body(&pk, entries[i], CRDT_KEY_LEN);
    msgpack_pack_bin_with_body(&pk, entries[i] + CRDT_KEY_LEN, CRDT_SIG_LEN);
  }
  pc->n = ne;
  return 1;
}

static int on_own_nonce(void *ctx, const crdt_record *r)
{
  uint8_t *nonce = ctx, netid[8];
  size_t cl;
  const uint8_t *cert = field_bytes(r, "cert", &cl, NULL);
  member m;
  memset(&m, 0, sizeof m);
  if (!cert || cl > 4096 || !cert_decode(cert, cl, netid, &m))
    return 0;
  memcpy(nonce, m.nonce, CRDT_KEY_LEN);
  return 1;
}

bool node__claim_nonce(node *n, uint8_t nonce[CRDT_KEY_LEN])
{
  memset(nonce, 0, CRDT_KEY_LEN);
  store_get(n->st, COLL, strlen(COLL), n->pk, on_own_nonce, nonce);
  static const uint8_t zero[CRDT_KEY_LEN];
  return memcmp(nonce, zero, CRDT_KEY_LEN) != 0;
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
  msgpack_sbuffer cb, prior;
  msgpack_sbuffer_init(&prior);
  gs_err err = node__cert_pack(n->net.id, n->net.role,
                               (const char(*)[CRDT_SCOPE_MAX + 1])
                                   n->net.scopes,
                               n->net.nscopes, expires, nonce, false, &cb);
  if (err) {
    msgpack_sbuffer_destroy(&cb);
    return err;
  }
  /* a re-join lists the invites claimed before, so that a thief holding
   * one of them stays held */
  prior_ctx pc = {.new_nonce = nonce, .sb = &prior};
  store_get(n->st, COLL, strlen(COLL), n->pk, on_own_record, &pc);
  crdt_op ops[5];
  memset(ops, 0, sizeof ops);
  const char *names[5] = {"key", "cert", "cert_sig", "proof", "prior"};
  const void *vals[5] = {n->pk, cb.data, cert_sig, proof, prior.data};
  size_t lens[5] = {CRDT_KEY_LEN, cb.size, CRDT_SIG_LEN, CRDT_SIG_LEN,
                    prior.size};
  size_t nops = pc.n && prior.data ? 5 : 4;
  for (size_t i = 0; i < nops; i++) {
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
                             nops, node_now(n), NULL, NULL);
    if (err)
      store_write_abort(w);
    else
      err = store_write_commit(w);
  }
  msgpack_sbuffer_destroy(&cb);
  msgpack_sbuffer_destroy(&prior);
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
  if (crdt_grow((void **)&cc->cuts, &cc->cap, cc->n + 1, sizeof *cc->cuts))
    return 1;
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
  settled((node_policy *)p); /* a cache only: the records are unchanged */
  for (size_t i = 0; i < p->n_m; i++) {
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
  /* the session gate: an authentic claim (made with an admin's invite,
   * in time), even one not yet witnessed or of a twice-used invite, may
   * see the membership records: that is how its witness, or the admin's
   * re-admission, reaches it; a void or revoked key sees nothing */
  if (p->open || memcmp(key, p->root, CRDT_KEY_LEN) == 0)
    return true;
  settled((node_policy *)p);
  for (size_t i = 0; i < p->n_m; i++)
    if (memcmp(p->m[i].id, key, CRDT_ID_LEN) == 0)
      return p->m[i].has_key && p->m[i].base && !p->m[i].revoked &&
             p->m[i].state != NODE_MEMBER_VOID &&
             memcmp(p->m[i].key, key, CRDT_KEY_LEN) == 0;
  return false;
}

gs_err node_policy_decide(node_policy *p, const crdt_change *c, char *why,
                          size_t whylen)
{
  gs_err err = node_policy_check(p, c, why, whylen);
  if (err == GS_EPERM && !node_policy_known(p, c->origin))
    err = GS_EHELD; /* its author's claim has not arrived yet */
  return err;
}

bool node_policy_known(const node_policy *p, const uint8_t *key)
{
  if (p->open || memcmp(key, p->root, CRDT_KEY_LEN) == 0)
    return true;
  for (size_t i = 0; i < p->n_m; i++)
    if (memcmp(p->m[i].id, key, CRDT_ID_LEN) == 0)
      return p->m[i].has_key || p->m[i].revoked;
  return false;
}

/* ---- members, re-admission, warnings ---- */

/* ---- who an invite is for (issue 17: members by name, never an id) ----
 * The root admin writes it as field "for" of record ICOLL/<the invite
 * key's first CRDT_ID_LEN bytes> in "_net", where only the root admin may
 * write records other than claims and witnesses (check_net); nodes that
 * predate it list ICOLL nowhere. Read back bounded and checked: a value
 * that is not a valid name is not shown. */
#define ICOLL "invitee"

bool node_member_name_valid(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > NODE_MEMBER_NAME_MAX || !crdt_utf8_valid(s, n))
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return false;
    /* C1 controls: U+0080..U+009F, encoded C2 80..C2 9F */
    if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f)
      return false;
  }
  return true;
}

gs_err node__invitee_write(node *n, const uint8_t nonce[CRDT_KEY_LEN],
                           const char *who)
{
  if (!node_member_name_valid(who))
    return GS_EINVAL;
  crdt_op op = {.kind = CRDT_OP_SET, .coll = ICOLL, .coll_len = strlen(ICOLL),
                .field = "for", .field_len = 3,
                .value = {.type = CRDT_BYTES, .u.s = {who, strlen(who)}}};
  memcpy(op.id, nonce, CRDT_ID_LEN);
  store_write *w;
  gs_err err = store_write_begin(n->st, n->sk, &w);
  if (err)
    return err;
  err = store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), &op, 1,
                           node_now(n), NULL, NULL);
  if (err) {
    store_write_abort(w);
    return err;
  }
  return store_write_commit(w);
}

static int on_invitee(void *ctx, const crdt_record *r)
{
  node_member_info *mi = ctx;
  const char *scope, *coll;
  size_t sn, cn, fl;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  const uint8_t *v = field_bytes(r, "for", &fl, NULL);
  if (!v || fl > NODE_MEMBER_NAME_MAX || sn != strlen(NODE_NET_SCOPE) ||
      memcmp(scope, NODE_NET_SCOPE, sn) != 0)
    return 0;
  char name[NODE_MEMBER_NAME_MAX + 1];
  memcpy(name, v, fl);
  name[fl] = '\0';
  if (node_member_name_valid(name))
    memcpy(mi->name, name, fl + 1);
  return 0;
}

static void member_info(const member *m, node_member_info *out)
{
  memset(out, 0, sizeof *out);
  memcpy(out->key, m->key, CRDT_KEY_LEN);
  out->state = m->has_key ? m->state : NODE_MEMBER_NONE;
  snprintf(out->role, sizeof out->role, "%s", m->role);
  out->expires = m->expires;
  out->revoked = m->revoked;
  out->has_other = m->has_other;
  memcpy(out->other, m->other, CRDT_KEY_LEN);
  if (m->nscopes)
    snprintf(out->scope, sizeof out->scope, "%s", m->scopes[0]);
}

typedef struct grid_ctx {
  const char *scope;
  size_t best; /* length of the scope of the grid found */
  char *out;
  size_t len;
} grid_ctx;

/* The grid record nearest above the scope (its own, or a parent's). */
static int on_grid(void *ctx, const crdt_record *r)
{
  grid_ctx *g = ctx;
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  if (sn <= g->best && g->best)
    return 0;
  if (!crdt_scope_under(g->scope, strlen(g->scope), scope, sn))
    return 0;
  long fi = crdt_record_find(r, "name", 4);
  crdt_field_view fv;
  if (fi < 0 || crdt_record_field(r, (size_t)fi, &fv) != GS_OK || fv.is_set ||
      fv.value.type != CRDT_STR || fv.value.u.s.n >= g->len ||
      !crdt_utf8_valid(fv.value.u.s.p, fv.value.u.s.n))
    return 0;
  memcpy(g->out, fv.value.u.s.p, fv.value.u.s.n);
  g->out[fv.value.u.s.n] = '\0';
  g->best = sn;
  return 0;
}

static const char *role_words(const char *role)
{
  if (strcmp(role, "admin") == 0)
    return _("admin");
  if (strcmp(role, "office") == 0)
    return _("community office");
  if (strcmp(role, "leader") == 0)
    return _("building leader");
  if (strcmp(role, "reader") == 0)
    return _("reader");
  return role;
}

void node_member_label(node *n, const node_member_info *m, char *out,
                       size_t len, char *grid, size_t gridlen)
{
  char g[NODE_NAME_MAX + 1] = "";
  if (*m->scope) {
    /* the grids above the scope: its first segments, then narrower */
    grid_ctx gc = {m->scope, 0, g, sizeof g};
    char top[CRDT_SCOPE_MAX + 1];
    snprintf(top, sizeof top, "%s", m->scope);
    char *slash = strchr(top, '/');
    if (slash)
      *slash = '\0';
    store_list(n->st, "grid", 4, top, strlen(top), on_grid, &gc);
  }
  if (grid && gridlen)
    snprintf(grid, gridlen, "%s", g);
  /* the network's creator has no claim: it is the admin */
  const char *role = *m->role ? m->role
                     : n->has_net &&
                             memcmp(m->key, n->net.admin, CRDT_KEY_LEN) == 0
                         ? "admin"
                         : "";
  if (*m->name)
    snprintf(out, len, "%s", m->name);
  else if (memcmp(m->key, n->pk, CRDT_KEY_LEN) == 0 && *n->name)
    snprintf(out, len, "%s", n->name);
  else if (*g && *role)
    snprintf(out, len, _("%s (%s)"), role_words(role), g);
  else
    snprintf(out, len, "%s", role_words(role));
}

/* member_info, and who the member's invite was for. */
static void member_info_named(node *n, const member *m, node_member_info *out)
{
  member_info(m, out);
  if (m->has_claim)
    store_get(n->st, ICOLL, strlen(ICOLL), m->nonce, on_invitee, out);
}

gs_err node_members(node *n, node_member_cb cb, void *ctx)
{
  node_policy *p;
  gs_err err = node_policy_load(n, &p);
  if (err)
    return err;
  for (size_t i = 0; i < p->n_m; i++) {
    node_member_info mi;
    if (!p->m[i].has_key)
      continue;
    member_info_named(n, &p->m[i], &mi);
    if (cb(ctx, &mi))
      break;
  }
  node_policy_free(p);
  return GS_OK;
}

gs_err node_member_get(node *n, const uint8_t key[CRDT_KEY_LEN],
                       node_member_info *out)
{
  node_policy *p;
  memset(out, 0, sizeof *out);
  memcpy(out->key, key, CRDT_KEY_LEN);
  out->state = NODE_MEMBER_NONE;
  gs_err err = node_policy_load(n, &p);
  if (err)
    return err;
  const member *m = find(p, key, false);
  if (m && m->has_key && memcmp(m->key, key, CRDT_KEY_LEN) == 0)
    member_info_named(n, m, out);
  node_policy_free(p);
  return GS_OK;
}

gs_err node_readmit(node *n, const uint8_t key[CRDT_KEY_LEN])
{
  if (!n->has_net)
    return GS_ENOTFOUND;
  if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) != 0)
    return GS_EPERM;
  node_member_info mi;
  gs_err err = node_member_get(n, key, &mi);
  if (err)
    return err;
  if (mi.state == NODE_MEMBER_NONE)
    return GS_ENOTFOUND;
  if (!mi.has_other)
    return GS_EINVAL; /* nothing to decide: its invite was used once */
  node_policy *p;
  if ((err = node_policy_load(n, &p)) != GS_OK)
    return err;
  const member *m = find(p, key, false);
  crdt_op op = {.kind = CRDT_OP_SET, .coll = COLL, .coll_len = strlen(COLL),
                .field = "readmit", .field_len = 7,
                .value = {.type = CRDT_BYTES,
                          .u.s = {(const char *)m->nonce, CRDT_KEY_LEN}}};
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
  node_policy_free(p);
  return err;
}

typedef struct held_count {
  const uint8_t *key;
  uint64_t changes;
} held_count;

static int on_count_feed(void *ctx, const store_feed *f)
{
  held_count *hc = ctx;
  if (memcmp(f->origin, hc->key, CRDT_KEY_LEN) == 0 && f->scope[0] != '_')
    hc->changes += f->seq; /* feeds hold no gap: seq changes */
  return 0;
}

/* Changes of a revoked member this node holds beyond its revocation's
 * cut (applied here before the revocation arrived). */
typedef struct past_cut {
  const member *m;
  uint64_t changes;
} past_cut;

static int on_past_cut(void *ctx, const store_feed *f)
{
  past_cut *pc = ctx;
  if (memcmp(f->origin, pc->m->key, CRDT_KEY_LEN) != 0 ||
      f->scope[0] == '_')
    return 0;
  uint64_t cut_seq = 0;
  for (size_t i = 0; i < pc->m->ncuts; i++)
    if (memcmp(pc->m->cuts[i].feed, f->feed, CRDT_FEED_LEN) == 0)
      cut_seq = pc->m->cuts[i].seq;
  if (f->seq > cut_seq)
    pc->changes += f->seq - cut_seq;
  return 0;
}

size_t node_membership_warnings(node *n, char (*out)[NODE_WARN_MAX],
                                size_t max)
{
  node_policy *p;
  size_t k = 0;
  if (!n->has_net || max == 0 || node_policy_load(n, &p) != GS_OK)
    return 0;
  const member *self = find(p, n->pk, false);
  char me[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(n->pk, CRDT_KEY_LEN, me);
  if (self && self->state == NODE_MEMBER_LEAKED)
    snprintf(out[k++], NODE_WARN_MAX,
             _("this node's invite was used on another computer too, so the "
             "network holds this node's changes: ask the admin to run "
             "'gridsync readmit %s', or for a new invite (then run "
             "'gridsync join CODE' here)"),
             me);
  else if (self && self->state == NODE_MEMBER_VOID)
    snprintf(out[k++], NODE_WARN_MAX,
             "this node's membership is void (its invite was used twice and "
             "the admin kept the other computer): ask the admin for a new "
             "invite and run 'gridsync join CODE'");
  else if (self && self->state == NODE_MEMBER_UNWITNESSED)
    snprintf(out[k++], NODE_WARN_MAX,
             node_now(n) <= self->expires
                 ? _("this node's membership is not confirmed yet: an admin "
                   "or office confirms it when they meet before the invite "
                   "expires (if you met one since, check this computer's "
                   "date, or ask for a new invite)")
                 : "no admin or office confirmed this node's membership "
                   "before its invite expired: ask the admin for a new "
                   "invite and run 'gridsync join CODE'");
  uint64_t ep = 0, gu = 0;
  if (k < max && node__key_missing(n, &ep, &gu)) {
    time_t t = (time_t)(gu / 1000);
    struct tm tm;
    char when[40] = "?";
    if (localtime_r(&t, &tm))
      strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    snprintf(out[k++], NODE_WARN_MAX,
             _("the network key was changed (the old one stops working %s) "
             "and this node was not given the new one: ask the admin (a "
             "revoked node is left out)"),
             when);
  }
  for (size_t i = 0; i < p->n_m && k < max; i++) {
    const member *m = &p->m[i];
    if (m == self || !m->has_key || !m->has_other ||
        m->state != NODE_MEMBER_LEAKED ||
        memcmp(m->key, m->other, CRDT_KEY_LEN) > 0)
      continue; /* one warning per pair */
    char a[CRDT_KEY_TEXT_LEN + 1], b[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(m->key, CRDT_KEY_LEN, a);
    crdt_base32_encode(m->other, CRDT_KEY_LEN, b);
    snprintf(out[k++], NODE_WARN_MAX,
             _("one invite was used by two nodes, %.12s and %.12s: from now "
             "on the network holds both nodes' changes (a node that got some "
             "earlier keeps those; 'gridsync members' shows who) until the "
             "admin runs 'gridsync readmit NODE' for the right one and "
             "revokes the other"),
             a, b);
  }
  /* a key of a twice-used invite: what this node accepted of it before
   * it saw the second claim stays here, while nodes that saw both claims
   * first hold it back (until a readmit): say so, with the count */
  for (size_t i = 0; i < p->n_m && k < max; i++) {
    const member *m = &p->m[i];
    held_count hc = {m->key, 0};
    if (m == self || !m->has_key || m->state != NODE_MEMBER_LEAKED ||
        store_feeds(n->st, on_count_feed, &hc) != GS_OK || hc.changes == 0)
      continue;
    char a[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(m->key, CRDT_KEY_LEN, a);
    snprintf(out[k++], NODE_WARN_MAX,
             _("this node keeps %" PRIu64 " changes of node %.12s that it "
             "accepted before its invite was used twice, which other nodes "
             "hold back: the admin runs 'gridsync readmit NODE' for the right "
             "node so that every node counts the same"),
             hc.changes, a);
  }
  /* a revoked node's changes past the revocation's cut, applied here
   * before the revocation arrived: they stay here, every node that knew
   * of the revocation first refuses them (the cut decides, the same
   * everywhere) */
  for (size_t i = 0; i < p->n_m && k < max; i++) {
    const member *m = &p->m[i];
    past_cut pc = {m, 0};
    if (m == self || !m->has_key || !m->revoked ||
        store_feeds(n->st, on_past_cut, &pc) != GS_OK || pc.changes == 0)
      continue;
    char a[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(m->key, CRDT_KEY_LEN, a);
    snprintf(out[k++], NODE_WARN_MAX,
             pc.changes == 1
                 ? _("this node took %" PRIu64 " change of node %.12s after the "
                   "admin revoked it, before the revocation reached this "
                   "node: it stays here, but other nodes refuse it; check it "
                   "with the admin")
                 : _("this node took %" PRIu64 " changes of node %.12s after "
                   "the admin revoked it, before the revocation reached this "
                   "node: they stay here, but other nodes refuse them; check "
                   "them with the admin"),
             pc.changes, a);
  }
  /* a key voided by the re-admission of another: what this node
   * accepted of it before stays here, and other nodes refuse it */
  for (size_t i = 0; i < p->n_m && k < max; i++) {
    const member *m = &p->m[i];
    held_count hc = {m->key, 0};
    if (m == self || !m->has_key || m->state != NODE_MEMBER_VOID ||
        !m->has_other || store_feeds(n->st, on_count_feed, &hc) != GS_OK ||
        hc.changes == 0)
      continue;
    char a[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(m->key, CRDT_KEY_LEN, a);
    snprintf(out[k++], NODE_WARN_MAX,
             _("node %.12s used an invite the admin gave to another node: the "
             "%" PRIu64 " changes of it accepted here before are kept, and "
             "nodes that saw both claims first refuse them (revoke it to "
             "say so everywhere)"),
             a, hc.changes);
  }
  for (size_t i = 0; i < p->n_m && k < max; i++) {
    const member *m = &p->m[i];
    if (m == self || !m->has_key || m->state != NODE_MEMBER_UNWITNESSED ||
        node_now(n) <= m->expires)
      continue;
    char a[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(m->key, CRDT_KEY_LEN, a);
    snprintf(out[k++], NODE_WARN_MAX,
             _("node %.12s joined, but no admin or office saw its claim "
             "before the invite expired: its changes are held; invite it "
             "again"),
             a);
  }
  node_policy_free(p);
  return k;
}

/* ---- the decided policy, cached across received batches (issue 20) ----
 * Loading a policy reads every membership record and verifies every
 * member's claim signature: done on every received batch it cost a
 * receiver 15% of a cold sync, and grew with the members. The cache keeps
 * one loaded policy and the stamp of what it was loaded from: the digest
 * of every record in "_net" (members, witnesses, revocations, re-admits,
 * rotations) and the node's network. A policy is a function of those, so
 * an equal stamp means node_policy_load would build the same policy; a
 * revocation, a re-admit or a witness written by this process or another
 * changes the stamp and the next batch reloads. */

static gs_err policy_stamp(node *n, uint8_t out[CRDT_HASH_LEN])
{
  uint8_t d[CRDT_HASH_LEN];
  crdt_hasher h;
  gs_err err = GS_OK;
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, "gridsync-policy-v1", 18);
  uint8_t has = n->has_net;
  crdt_hasher_update(&h, &has, 1);
  if (n->has_net) {
    crdt_hasher_update(&h, n->net.admin, CRDT_KEY_LEN);
    crdt_hasher_update(&h, n->net.id, 8);
    err = store_digest(n->st, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE), d,
                       NULL);
    if (err == GS_ENOTFOUND)
      err = GS_OK, memset(d, 0, sizeof d);
    crdt_hasher_update(&h, d, sizeof d);
  }
  crdt_hasher_final(&h, out);
  return err;
}

gs_err node_policy_cache_get(node *n, node_policy_cache *c,
                             node_policy **out)
{
  uint8_t stamp[CRDT_HASH_LEN];
  gs_err err = policy_stamp(n, stamp);
  *out = NULL;
  if (err)
    return err;
  if (c->p && !c->stale && memcmp(stamp, c->stamp, CRDT_HASH_LEN) == 0) {
    /* what earlier batches created is stored now (or was not kept): the
     * ring is for changes not committed yet; with group commit the
     * batches of one group share it */
    if (!c->pending) {
      c->p->nseen = 0;
      c->p->seen_next = 0;
    }
    c->hits++;
    *out = c->p;
    return GS_OK;
  }
  node_policy_cache_drop(c);
  if ((err = node_policy_load(n, &c->p)) != GS_OK)
    return err;
  memcpy(c->stamp, stamp, CRDT_HASH_LEN);
  c->stale = false;
  c->loads++;
  *out = c->p;
  return GS_OK;
}

void node_policy_cache_done(node_policy_cache *c, bool net_seen)
{
  if (!c->p)
    return;
  c->pending = true;
  settled(c->p);
  if (c->p->want_witness && !c->p->defer)
    witness_pending(c->p); /* best effort, as node_policy_free */
  if (net_seen)
    c->stale = true; /* the batch's membership changes updated p as they
                      * were checked, whether or not they were stored */
}

void node_policy_cache_committed(node_policy_cache *c)
{
  c->pending = false;
}

void node_policy_cache_drop(node_policy_cache *c)
{
  node_policy_free(c->p);
  c->p = NULL;
  c->stale = false;
}
