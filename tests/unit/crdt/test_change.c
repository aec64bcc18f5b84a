/*
 * Changes (DESIGN.md section 4): build, round trip, signatures and hash
 * chains; and the strict decoder on hand-made malformed input, each case
 * refused with its error code and never a crash (this file also runs
 * under ASan/UBSan: every input sits in an exact-size heap buffer).
 */
#include <math.h>

#include "crdt_test_util.h"

#define NOW 1790000000000ULL

static uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
static uint8_t pk2[CRDT_KEY_LEN], sk2[CRDT_SK_LEN];
static const uint8_t rid[CRDT_ID_LEN] = {0x01, 0x9a, 0, 0, 0, 0, 7, 7,
                                         7,    7,    7, 7, 7, 7, 7, 7};
static const uint8_t rid2[CRDT_ID_LEN] = {0x01, 0x9a, 0, 0, 0, 1, 9, 9,
                                          9,    9,    9, 9, 9, 9, 9, 9};

static void change_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  crdt_keypair(pk, sk);
  crdt_keypair(pk2, sk2);
}

TestSuite(crdt_change, .init = change_init, .timeout = 120);

/* ---- a change holding every op kind and every value type ---- */

static crdt_stamp tags2[2];

#define NFULL 12
static size_t full_ops(crdt_op *ops)
{
  static const char *zh = "王秀英";
  tags2[0].hlc = CRDT_HLC_MAKE(NOW - 10, 0);
  memcpy(tags2[0].origin, pk, CRDT_KEY_LEN);
  tags2[1].hlc = CRDT_HLC_MAKE(NOW - 5, 3);
  memcpy(tags2[1].origin, pk2, CRDT_KEY_LEN);
  crdt_value ref = {.type = CRDT_REF};
  ref.u.ref.coll = "household";
  ref.u.ref.coll_len = 9;
  memcpy(ref.u.ref.id, rid2, CRDT_ID_LEN);
  crdt_op o[NFULL] = {
      {.kind = CRDT_OP_SET, .field = "name",
       .value = {.type = CRDT_STR, .u.s = {zh, 9}}},
      {.kind = CRDT_OP_SET, .field = "age",
       .value = {.type = CRDT_INT, .u.i = -83}},
      {.kind = CRDT_OP_SET, .field = "score",
       .value = {.type = CRDT_FLOAT, .u.f = -0.0}},
      {.kind = CRDT_OP_SET, .field = "photo",
       .value = {.type = CRDT_BYTES, .u.s = {"\0\x01\xff", 3}}},
      {.kind = CRDT_OP_SET, .field = "household", .value = ref},
      {.kind = CRDT_OP_SET, .field = "note", .value = {.type = CRDT_NIL}},
      {.kind = CRDT_OP_SET, .field = "alone",
       .value = {.type = CRDT_BOOL, .u.b = true}},
      {.kind = CRDT_OP_ADD, .field = "tags",
       .value = {.type = CRDT_STR, .u.s = {"独居", 6}}},
      {.kind = CRDT_OP_ADD, .field = "members", .value = ref},
      {.kind = CRDT_OP_REMOVE, .field = "tags",
       .value = {.type = CRDT_STR, .u.s = {"floating", 8}}, .tags = tags2,
       .ntags = 2},
      {.kind = CRDT_OP_DELETE},
      {.kind = CRDT_OP_RESTORE},
  };
  for (size_t i = 0; i < NFULL; i++) {
    o[i].coll = "resident";
    o[i].coll_len = 8;
    memcpy(o[i].id, rid, CRDT_ID_LEN);
    o[i].field_len = o[i].field ? strlen(o[i].field) : 0;
    ops[i] = o[i];
  }
  return NFULL;
}

static crdt_change header(const crdt_op *ops, size_t nops)
{
  crdt_change c = {.scope = "gongrencun/qinghejv/g07", .scope_len = 23,
                   .seq = 1, .hlc = CRDT_HLC_MAKE(NOW, 1), .ops = ops,
                   .nops = nops};
  memcpy(c.origin, pk, CRDT_KEY_LEN);
  return c;
}

/* The full change, as an exact-size buffer. */
static uint8_t *full_change(size_t *n)
{
  crdt_op ops[NFULL];
  crdt_change c = header(ops, full_ops(ops));
  uint8_t *b;
  cr_assert_eq(crdt_change_build(&c, sk, &b, n), GS_OK);
  uint8_t *exact = tu_dup(b, *n);
  free(b);
  return exact;
}

/* A small change (one op). */
static uint8_t *small_change(size_t *n)
{
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {"李", 3}}};
  memcpy(op.id, rid, CRDT_ID_LEN);
  crdt_change c = header(&op, 1);
  c.scope = "s/c/g1";
  c.scope_len = 6;
  uint8_t *b;
  cr_assert_eq(crdt_change_build(&c, sk, &b, n), GS_OK);
  uint8_t *exact = tu_dup(b, *n);
  free(b);
  return exact;
}

/* Decode a copy of b; an error must leave *out NULL. */
static gs_err decode(const uint8_t *b, size_t n)
{
  uint8_t *exact = tu_dup(b, n);
  crdt_change *c = (crdt_change *)exact; /* must be overwritten */
  gs_err err = crdt_change_decode(exact, n, &c);
  if (err)
    cr_assert_null(c, "an error left a change behind");
  else
    cr_assert(c->raw != exact, "the buffer must be copied");
  crdt_change_free(c);
  free(exact);
  return err;
}

static void ops_equal(const crdt_op *a, const crdt_op *b)
{
  cr_assert_eq(a->kind, b->kind);
  cr_assert_eq(a->coll_len, b->coll_len);
  cr_assert_eq(memcmp(a->coll, b->coll, a->coll_len), 0);
  cr_assert_eq(memcmp(a->id, b->id, CRDT_ID_LEN), 0);
  if (a->kind == CRDT_OP_DELETE || a->kind == CRDT_OP_RESTORE)
    return;
  cr_assert_eq(a->field_len, b->field_len);
  cr_assert_eq(memcmp(a->field, b->field, a->field_len), 0);
  cr_assert(crdt_value_equal(&a->value, &b->value));
  if (a->kind == CRDT_OP_REMOVE) {
    cr_assert_eq(a->ntags, b->ntags);
    for (size_t i = 0; i < a->ntags; i++)
      cr_assert_eq(crdt_stamp_cmp(&a->tags[i], &b->tags[i]), 0);
  }
}

Test(crdt_change, full_change_round_trips_field_by_field)
{
  crdt_op ops[NFULL];
  crdt_change in = header(ops, full_ops(ops));
  size_t n;
  uint8_t *b = full_change(&n);
  cr_assert_lt(n, 1000);
  cr_assert_eq(b[0], 0x98, "an 8-array");
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert_eq(memcmp(c->origin, pk, CRDT_KEY_LEN), 0);
  cr_assert_eq(c->scope_len, in.scope_len);
  cr_assert_eq(memcmp(c->scope, in.scope, in.scope_len), 0);
  cr_assert_eq(c->seq, 1);
  static const uint8_t zero[CRDT_HASH_LEN];
  cr_assert_eq(memcmp(c->prev, zero, CRDT_HASH_LEN), 0);
  cr_assert_eq(c->hlc, in.hlc);
  cr_assert_eq(c->nops, NFULL);
  for (size_t i = 0; i < NFULL; i++)
    ops_equal(&c->ops[i], &ops[i]);
  cr_assert_eq(c->raw_len, n);
  cr_assert_eq(memcmp(c->raw, b, n), 0);
  cr_assert_eq(memcmp(c->sig, b + n - CRDT_SIG_LEN, CRDT_SIG_LEN), 0);
  cr_assert(crdt_change_verify(c));
  /* the decoded change owns its memory: the input can go */
  memset(b, 0, n);
  cr_assert_eq(c->ops[0].value.u.s.n, 9);
  cr_assert_eq(memcmp(c->ops[0].value.u.s.p, "王秀英", 9), 0);
  cr_assert(crdt_change_verify(c));
  /* building again from the decoded change gives the same bytes
   * (Ed25519 signatures are deterministic) */
  uint8_t *again;
  size_t an;
  cr_assert_eq(crdt_change_build(c, sk, &again, &an), GS_OK);
  cr_assert_eq(an, n);
  cr_assert_eq(memcmp(again, c->raw, n), 0);
  free(again);
  crdt_change_free(c);
  crdt_change_free(NULL);
  free(b);
}

Test(crdt_change, random_changes_round_trip)
{
  static const char *texts[] = {"", "a", "王秀英", "网格员", "😀"};
  static const char *fields[] = {"name", "tags", "a", "time_bank_hours"};
  static const char *scopes[] = {"a", "gongrencun/qinghejv/g07",
                                 "s.1/C-2/g_3/x/y/z/w/v",
                                 "gongrencun-jiedao/qinghejv-shequ/g07-12"};
  tu_rng r = {0xc4a};
  crdt_op ops[8];
  crdt_stamp tags[8][3];
  for (int i = 0; i < 2000; i++) {
    size_t nops = 1 + tu_below(&r, 8);
    for (size_t k = 0; k < nops; k++) {
      crdt_op *op = &ops[k];
      memset(op, 0, sizeof *op);
      op->kind = (crdt_op_kind)tu_below(&r, 5);
      op->coll = tu_below(&r, 2) ? "resident" : "visit";
      op->coll_len = strlen(op->coll);
      for (size_t j = 0; j < CRDT_ID_LEN; j++)
        op->id[j] = (uint8_t)tu_next(&r);
      op->field = fields[tu_below(&r, 4)];
      op->field_len = strlen(op->field);
      const char *t = texts[tu_below(&r, 5)];
      crdt_value *v = &op->value;
      size_t vt = op->kind == CRDT_OP_SET ? tu_below(&r, 7)
                                          : (tu_below(&r, 2) ? 4 : 6);
      v->type = (crdt_type)vt;
      switch (v->type) {
      case CRDT_BOOL: v->u.b = tu_below(&r, 2); break;
      case CRDT_INT: v->u.i = (int64_t)tu_next(&r) >> tu_below(&r, 64); break;
      case CRDT_FLOAT: v->u.f = (double)(int64_t)tu_next(&r) / 3.0; break;
      case CRDT_STR:
      case CRDT_BYTES: v->u.s.p = t, v->u.s.n = strlen(t); break;
      case CRDT_REF:
        v->u.ref.coll = "household", v->u.ref.coll_len = 9;
        memcpy(v->u.ref.id, rid2, CRDT_ID_LEN);
        break;
      default: break;
      }
      op->ntags = 1 + tu_below(&r, 3);
      for (size_t j = 0; j < op->ntags; j++) {
        tags[k][j].hlc = 1 + (tu_next(&r) >> 1) % (CRDT_HLC_LIMIT - 1);
        memcpy(tags[k][j].origin, tu_below(&r, 2) ? pk : pk2, CRDT_KEY_LEN);
      }
      op->tags = tags[k];
    }
    crdt_change c = header(ops, nops);
    c.scope = scopes[tu_below(&r, 4)]; /* fixstr and str8 */
    c.scope_len = strlen(c.scope);
    c.seq = 1 + ((tu_next(&r) >> 1) >> tu_below(&r, 64));
    if (c.seq > 1)
      for (size_t j = 0; j < CRDT_HASH_LEN; j++)
        c.prev[j] = (uint8_t)(tu_next(&r) | 1);
    c.hlc = 1 + (tu_next(&r) >> tu_below(&r, 64)) % (CRDT_HLC_LIMIT - 1);
    uint8_t *b, *again;
    size_t n, an;
    cr_assert_eq(crdt_change_build(&c, sk, &b, &n), GS_OK, "case %d", i);
    uint8_t *exact = tu_dup(b, n);
    crdt_change *d;
    cr_assert_eq(crdt_change_decode(exact, n, &d), GS_OK, "case %d", i);
    cr_assert(crdt_change_verify(d), "case %d", i);
    cr_assert_eq(d->seq, c.seq);
    cr_assert_eq(d->hlc, c.hlc);
    cr_assert_eq(memcmp(d->prev, c.prev, CRDT_HASH_LEN), 0);
    cr_assert_eq(d->nops, nops);
    for (size_t k = 0; k < nops; k++)
      ops_equal(&d->ops[k], &ops[k]);
    cr_assert_eq(crdt_change_build(d, sk, &again, &an), GS_OK);
    cr_assert(an == n && memcmp(again, b, n) == 0, "case %d", i);
    /* in two steps (the store signs a big change on another thread):
     * the message signed is the domain and the unsigned 7-array, and
     * signing it in place gives the same bytes */
    uint8_t *u;
    size_t un;
    static const char domain[] = "gridsync-change-v2";
    cr_assert_eq(crdt_change_build_unsigned(&c, &u, &un), GS_OK);
    cr_assert_eq(un, n - 2 - CRDT_SIG_LEN + sizeof domain - 1, "case %d", i);
    cr_assert_eq(memcmp(u, domain, sizeof domain - 1), 0);
    cr_assert_eq(u[sizeof domain - 1], 0x97, "the unsigned 7-array");
    cr_assert_eq(memcmp(u + sizeof domain, b + 1, un - sizeof domain), 0);
    crdt_change_sign_built(sk, u, &un);
    cr_assert(un == n && memcmp(u, b, n) == 0, "case %d", i);
    /* built before its feed's head is known (the change before still
     * being signed): another prev, then the real one set in place, gives
     * the same bytes; a first change (seq 1, prev zero) has none to set */
    crdt_change early = c;
    uint8_t *e;
    size_t en;
    memset(early.prev, 0xa5, CRDT_HASH_LEN);
    if (c.seq == 1)
      early.seq = 2;
    cr_assert_eq(crdt_change_build_unsigned(&early, &e, &en), GS_OK);
    static const uint8_t zero[CRDT_HASH_LEN];
    cr_assert_eq(crdt_change_set_prev(e, en, zero), GS_EINVAL);
    if (c.seq > 1) {
      cr_assert_eq(crdt_change_set_prev(e, en, c.prev), GS_OK, "case %d", i);
      crdt_change_sign_built(sk, e, &en);
      cr_assert(en == n && memcmp(e, b, n) == 0, "case %d", i);
    }
    free(e);
    uint8_t one[CRDT_HASH_LEN];
    memset(one, 1, sizeof one);
    if (c.seq == 1) { /* seq 1's unsigned build: no prev to replace */
      cr_assert_eq(crdt_change_build_unsigned(&c, &e, &en), GS_OK);
      cr_assert_eq(crdt_change_set_prev(e, en, one), GS_EINVAL);
      free(e);
    }
    /* a signed change is no unsigned build */
    cr_assert_eq(crdt_change_set_prev(b, n, one), GS_EINVAL);
    crdt_change_free(d);
    free(b), free(again), free(exact), free(u);
  }
}

Test(crdt_change, signature_binds_the_origin_and_every_bit)
{
  size_t n;
  uint8_t *b = full_change(&n);
  /* every single flipped bit: refused by the decoder or by verify; a flip
   * inside the signature always decodes and never verifies */
  for (size_t bit = 0; bit < n * 8; bit++) {
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    crdt_change *c = NULL;
    gs_err err = crdt_change_decode(b, n, &c);
    if (bit / 8 >= n - CRDT_SIG_LEN)
      cr_assert_eq(err, GS_OK, "a signature bit broke decoding");
    if (err == GS_OK) {
      cr_assert(!crdt_change_verify(c), "bit %zu flipped, still verifies",
                bit);
      crdt_change_free(c);
    } else {
      cr_assert_null(c);
    }
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert(crdt_change_verify(c), "restored change verifies again");
  crdt_change_free(c);
  free(b);

  /* signed with one key, claiming another origin: does not verify */
  crdt_op ops[NFULL];
  crdt_change in = header(ops, full_ops(ops));
  memcpy(in.origin, pk2, CRDT_KEY_LEN);
  uint8_t *forged;
  cr_assert_eq(crdt_change_build(&in, sk, &forged, &n), GS_OK);
  cr_assert_eq(crdt_change_decode(forged, n, &c), GS_OK);
  cr_assert(!crdt_change_verify(c));
  crdt_change_free(c);
  free(forged);
  cr_assert_eq(crdt_change_build(&in, sk2, &forged, &n), GS_OK);
  cr_assert_eq(crdt_change_decode(forged, n, &c), GS_OK);
  cr_assert(crdt_change_verify(c));
  crdt_change_free(c);
  free(forged);
}

Test(crdt_change, hash_chain_and_feed_ids)
{
  size_t n1, n2;
  uint8_t *b1 = small_change(&n1), *b2;
  crdt_change *c1, *c2;
  cr_assert_eq(crdt_change_decode(b1, n1, &c1), GS_OK);
  uint8_t h[CRDT_HASH_LEN], h2[CRDT_HASH_LEN];
  crdt_change_hash(c1, h);
  crdt_change_hash_raw(b1, n1, h2);
  cr_assert_eq(memcmp(h, h2, CRDT_HASH_LEN), 0, "the hash of the bytes");
  crdt_hash(b1, n1, h2);
  cr_assert_neq(memcmp(h, h2, CRDT_HASH_LEN), 0,
                "a version-2 change's hash is not BLAKE2b of its bytes");
  crdt_change next = *c1;
  next.seq = 2;
  memcpy(next.prev, h, CRDT_HASH_LEN);
  next.hlc = c1->hlc + 1;
  cr_assert_eq(crdt_change_build(&next, sk, &b2, &n2), GS_OK);
  cr_assert_eq(crdt_change_decode(b2, n2, &c2), GS_OK);
  cr_assert(crdt_change_verify(c2));
  cr_assert_eq(memcmp(c2->prev, h, CRDT_HASH_LEN), 0);
  crdt_change_hash(c2, h2);
  cr_assert_neq(memcmp(h, h2, CRDT_HASH_LEN), 0);

  /* incremental hashing agrees with one-shot hashing */
  crdt_hasher hs;
  uint8_t h3[CRDT_HASH_LEN];
  crdt_hash(b1, n1, h3);
  crdt_hasher_init(&hs);
  crdt_hasher_update(&hs, b1, 10);
  crdt_hasher_update(&hs, b1 + 10, n1 - 10);
  crdt_hasher_final(&hs, h2);
  cr_assert_eq(memcmp(h3, h2, CRDT_HASH_LEN), 0);

  uint8_t f1[CRDT_FEED_LEN], f2[CRDT_FEED_LEN], f3[CRDT_FEED_LEN],
      f4[CRDT_FEED_LEN];
  crdt_feed_id(pk, "s/c/g1", 6, f1);
  crdt_feed_id(c1->origin, c1->scope, c1->scope_len, f2);
  crdt_feed_id(pk2, "s/c/g1", 6, f3);
  crdt_feed_id(pk, "s/c/g2", 6, f4);
  cr_assert_eq(memcmp(f1, f2, CRDT_FEED_LEN), 0, "one feed per origin+scope");
  cr_assert_neq(memcmp(f1, f3, CRDT_FEED_LEN), 0);
  cr_assert_neq(memcmp(f1, f4, CRDT_FEED_LEN), 0);
  crdt_change_free(c1), crdt_change_free(c2);
  free(b1), free(b2);
}

/* ---- the two format versions, spelled out here ---- */

static const char dom1[] = "gridsync-change-v1", dom2[] = "gridsync-change-v2";

/* The body of a change of n bytes (its 7-array: header 0x97, no
 * signature) after the domain d, malloc'd; *mn its length. */
static uint8_t *domain_body(const char *d, const uint8_t *b, size_t n,
                            size_t *mn)
{
  size_t dl = strlen(d);
  *mn = dl + n - 2 - CRDT_SIG_LEN;
  uint8_t *m = malloc(*mn);
  memcpy(m, d, dl);
  memcpy(m + dl, b, n - 2 - CRDT_SIG_LEN);
  m[dl] = 0x97;
  return m;
}

/* Version 2: the signature is of domain || BLAKE2b(domain || body), the
 * hash BLAKE2b(digest || signature); each computed here from the
 * definition, not by the code under test. */
Test(crdt_change, version_2_signs_the_digest_and_hashes_digest_and_sig)
{
  size_t n;
  uint8_t *b = full_change(&n);
  cr_assert_eq(b[0], 0x98);
  cr_assert_eq(b[1], 2, "built as version 2");
  size_t mn;
  uint8_t *m = domain_body(dom2, b, n, &mn);
  uint8_t d[CRDT_HASH_LEN], sm[sizeof dom2 - 1 + CRDT_HASH_LEN];
  crdt_hash(m, mn, d);
  memcpy(sm, dom2, sizeof dom2 - 1);
  memcpy(sm + sizeof dom2 - 1, d, CRDT_HASH_LEN);
  const uint8_t *sig = b + n - CRDT_SIG_LEN;
  cr_assert(crdt_verify(pk, sm, sizeof sm, sig), "the digest is signed");
  cr_assert_not(crdt_verify(pk, m, mn, sig), "not the body itself");
  uint8_t ds[CRDT_HASH_LEN + CRDT_SIG_LEN], want[CRDT_HASH_LEN];
  memcpy(ds, d, CRDT_HASH_LEN);
  memcpy(ds + CRDT_HASH_LEN, sig, CRDT_SIG_LEN);
  crdt_hash(ds, sizeof ds, want);
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert_eq(c->version, 2);
  cr_assert(c->has_digest);
  cr_assert_eq(memcmp(c->digest, d, CRDT_HASH_LEN), 0);
  cr_assert(crdt_change_verify(c));
  uint8_t got[CRDT_HASH_LEN];
  crdt_change_hash(c, got);
  cr_assert_eq(memcmp(got, want, CRDT_HASH_LEN), 0);
  crdt_change_hash_raw(b, n, got);
  cr_assert_eq(memcmp(got, want, CRDT_HASH_LEN), 0);
  /* the same without the decode's digest: from the bytes */
  crdt_change bare = {.raw = b, .raw_len = n};
  memcpy(bare.origin, pk, CRDT_KEY_LEN);
  memcpy(bare.sig, sig, CRDT_SIG_LEN);
  cr_assert(crdt_change_verify(&bare));
  crdt_change_hash(&bare, got);
  cr_assert_eq(memcmp(got, want, CRDT_HASH_LEN), 0);
  /* signed and hashed in one step (the store's worker) */
  uint8_t *u, hh[CRDT_HASH_LEN], dd[CRDT_HASH_LEN];
  size_t un;
  crdt_change in = *c;
  cr_assert_eq(crdt_change_build_unsigned(&in, &u, &un), GS_OK);
  crdt_change_sign_built_hash(sk, u, &un, dd, hh);
  cr_assert(un == n && memcmp(u, b, n) == 0);
  cr_assert_eq(memcmp(dd, d, CRDT_HASH_LEN), 0);
  cr_assert_eq(memcmp(hh, want, CRDT_HASH_LEN), 0);
  /* each byte of the body and of the signature counts */
  for (size_t i = 2; i < n; i += 7) {
    uint8_t *t = tu_dup(b, n);
    t[i] ^= 0x01;
    crdt_change *tc = NULL;
    if (crdt_change_decode(t, n, &tc) == GS_OK) {
      cr_assert_not(crdt_change_verify(tc), "byte %zu changed", i);
      crdt_change_hash(tc, got);
      cr_assert_neq(memcmp(got, want, CRDT_HASH_LEN), 0, "byte %zu", i);
      crdt_change_free(tc);
    }
    free(t);
  }
  free(u);
  free(m);
  crdt_change_free(c);
  free(b);
}

/* b (n bytes) signed over domain d || its body: decoded, and refused by
 * crdt_change_verify (what: the case). */
static void body_signed_is_refused(uint8_t *b, size_t n, const char *d,
                                   const char *what)
{
  size_t mn;
  uint8_t *m = domain_body(d, b, n, &mn);
  crdt_sign(sk, m, mn, b + n - CRDT_SIG_LEN);
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK, "%s", what);
  cr_assert_not(crdt_change_verify(c), "%s", what);
  crdt_change_free(c);
  free(m);
}

/* A version-1 change (as stored before, or received from a store that
 * kept one): its signature is of domain-v1 || body, its hash BLAKE2b of
 * its bytes; decoded, verified and hashed still. A signature by the other
 * version's rule verifies under neither. */
Test(crdt_change, version_1_changes_are_read_as_before)
{
  size_t n;
  uint8_t *b = full_change(&n);
  b[1] = 1; /* the version, then signed by version 1's rule */
  size_t mn;
  uint8_t *m = domain_body(dom1, b, n, &mn);
  crdt_sign(sk, m, mn, b + n - CRDT_SIG_LEN);
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert_eq(c->version, 1);
  cr_assert_not(c->has_digest);
  cr_assert(crdt_change_verify(c), "a version-1 change verifies");
  uint8_t got[CRDT_HASH_LEN], want[CRDT_HASH_LEN];
  crdt_hash(b, n, want);
  crdt_change_hash(c, got);
  cr_assert_eq(memcmp(got, want, CRDT_HASH_LEN), 0, "BLAKE2b of the bytes");
  crdt_change_hash_raw(b, n, got);
  cr_assert_eq(memcmp(got, want, CRDT_HASH_LEN), 0);
  crdt_change_free(c);
  /* a version-1 change signed by version 2's rule: refused */
  uint8_t d[CRDT_HASH_LEN], sm[sizeof dom2 - 1 + CRDT_HASH_LEN];
  size_t m2n;
  uint8_t *m2 = domain_body(dom2, b, n, &m2n);
  crdt_hash(m2, m2n, d);
  memcpy(sm, dom2, sizeof dom2 - 1);
  memcpy(sm + sizeof dom2 - 1, d, CRDT_HASH_LEN);
  crdt_sign(sk, sm, sizeof sm, b + n - CRDT_SIG_LEN);
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert_not(crdt_change_verify(c), "version 2's rule on a version 1");
  crdt_change_free(c);
  /* a version-2 change signed by version 1's rule, or with version 2's
   * domain over the body itself (not its digest) */
  b[1] = 2;
  body_signed_is_refused(b, n, dom1, "version 1's rule on a version 2");
  body_signed_is_refused(b, n, dom2, "the body signed, not the digest");
  free(m2);
  free(m);
  free(b);
}

/* A feed whose first change is of version 1 goes on in version 2: the
 * next change's prev is the version-1 change's hash. */
Test(crdt_change, a_version_1_feed_goes_on_in_version_2)
{
  size_t n;
  uint8_t *b = small_change(&n);
  b[1] = 1;
  size_t mn;
  uint8_t *m = domain_body(dom1, b, n, &mn);
  crdt_sign(sk, m, mn, b + n - CRDT_SIG_LEN);
  crdt_change *c1, *c2;
  cr_assert_eq(crdt_change_decode(b, n, &c1), GS_OK);
  cr_assert(crdt_change_verify(c1));
  uint8_t h[CRDT_HASH_LEN], h1[CRDT_HASH_LEN];
  crdt_change_hash(c1, h);
  crdt_hash(b, n, h1);
  cr_assert_eq(memcmp(h, h1, CRDT_HASH_LEN), 0);
  crdt_change next = *c1;
  next.seq = 2;
  next.hlc = c1->hlc + 1;
  memcpy(next.prev, h, CRDT_HASH_LEN);
  uint8_t *b2;
  size_t n2;
  cr_assert_eq(crdt_change_build(&next, sk, &b2, &n2), GS_OK);
  cr_assert_eq(b2[1], 2, "built in the current version");
  cr_assert_eq(crdt_change_decode(b2, n2, &c2), GS_OK);
  cr_assert(crdt_change_verify(c2));
  cr_assert_eq(memcmp(c2->prev, h, CRDT_HASH_LEN), 0);
  crdt_change_free(c1), crdt_change_free(c2);
  free(m), free(b), free(b2);
}

/* ---- the decoder on malformed input ---- */

Test(crdt_change, every_truncation_and_trailing_bytes)
{
  size_t n;
  uint8_t *b = full_change(&n);
  for (size_t len = 0; len < n; len++)
    cr_assert_eq(decode(b, len), GS_ETRUNC, "truncated to %zu of %zu", len,
                 n);
  uint8_t *more = malloc(n + 3);
  memcpy(more, b, n);
  memcpy(more + n, "\xc0\x01\x02", 3);
  for (size_t extra = 1; extra <= 3; extra++)
    cr_assert_eq(decode(more, n + extra), GS_ETRAILING);
  cr_assert_eq(decode(b, n), GS_OK);
  free(more);
  free(b);
}

/* The value positions: [6][i][4]. */
static bool value_position(const tu_node *nd)
{
  return nd->depth == 3 && nd->path[0] == 6 && nd->path[2] == 4;
}

Test(crdt_change, a_wrong_type_at_every_position)
{
  size_t n;
  uint8_t *b = full_change(&n);
  crdt_op ops[NFULL];
  full_ops(ops);
  msgpack_unpacked u;
  tu_node nodes[256];
  size_t nn = tu_nodes(b, n, &u, nodes, 256);
  cr_assert_gt(nn, 80);
  /* re-packing unchanged gives the same bytes */
  size_t cn;
  uint8_t *same = tu_splice(b, n, NULL, 0, NULL, 0, &cn);
  cr_assert(cn == n && memcmp(same, b, n) == 0);
  free(same);
  size_t tried = 0;
  for (size_t i = 1; i < nn; i++) {
    const tu_node *nd = &nodes[i];
    int orig = tu_kind_of(nd->o);
    for (int k = 0; k < TU_NKINDS; k++) {
      if (k == orig)
        continue;
      if (value_position(nd)) {
        if (ops[nd->path[1]].kind == CRDT_OP_SET &&
            !(k == TU_ARRAY || k == TU_MAP || k == TU_F32 || k == TU_EXT))
          continue; /* a register takes any value */
        if (k == TU_STR)
          continue; /* a set element may be a string */
      }
      uint8_t rep[32];
      size_t rn = tu_kind_bytes(k, rep), mn;
      uint8_t *m = tu_splice(b, n, nd->path, nd->depth, rep, rn, &mn);
      gs_err err = decode(m, mn);
      cr_assert_eq(err, GS_EDECODE,
                   "kind %d at node %zu (depth %zu, [%zu][%zu][%zu]): %s", k,
                   i, nd->depth, nd->path[0], nd->path[1], nd->path[2],
                   gs_errname(err));
      free(m);
      tried++;
    }
  }
  cr_assert_gt(tried, 500);
  msgpack_unpacked_destroy(&u);
  free(b);
}

/* Splice rep (given as bytes) at path into the full change; decode. */
static gs_err splice_full(const size_t *path, size_t depth, const void *rep,
                          size_t rn)
{
  size_t n, mn;
  uint8_t *b = full_change(&n);
  uint8_t *m = tu_splice(b, n, path, depth, rep, rn, &mn);
  gs_err err = decode(m, mn);
  free(m);
  free(b);
  return err;
}

#define P(...) ((const size_t[]){__VA_ARGS__}), \
               (sizeof((const size_t[]){__VA_ARGS__}) / sizeof(size_t))
#define SPLICE(want, path, ...)                                             \
  do {                                                                      \
    static const uint8_t rep_[] = {__VA_ARGS__};                            \
    gs_err got_ = splice_full(path, rep_, sizeof rep_);                     \
    cr_assert_eq(got_, want, "line %d: got %s", __LINE__,                   \
                 gs_errname(got_));                                         \
  } while (0)

/* Ops of the full change: 0 SET str, 1 SET int, ..., 7 ADD str, 8 ADD ref,
 * 9 REMOVE, 10 DELETE, 11 RESTORE. */
Test(crdt_change, header_values)
{
  SPLICE(GS_OK, P(0), 0x02);
  SPLICE(GS_OK, P(0), 0x01); /* the first version: decoded still */
  SPLICE(GS_EVERSION, P(0), 0x03);
  SPLICE(GS_EVERSION, P(0), 0x00);
  SPLICE(GS_EVERSION, P(0), 0xcc, 0xff);
  SPLICE(GS_EDECODE, P(0), 0xff); /* -1 */
  /* origin, prev, sig: bins of exactly 32, 32, 64 bytes */
  SPLICE(GS_EDECODE, P(1), 0xc4, 0x01, 0x00);
  SPLICE(GS_EDECODE, P(4), 0xc4, 0x00);
  SPLICE(GS_EDECODE, P(7), 0xc4, 0x00);
  /* seq 0; seq 1 needs a zero prev and seq > 1 a non-zero one */
  SPLICE(GS_EDECODE, P(3), 0x00);
  SPLICE(GS_ECHAIN, P(3), 0x02);
  SPLICE(GS_ECHAIN, P(3), 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff);
  SPLICE(GS_ECHAIN, P(4), 0xc4, 32, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  /* hlc: 0, the limit and above are refused, the limit - 1 is fine */
  SPLICE(GS_ECLOCK, P(5), 0x00);
  SPLICE(GS_ECLOCK, P(5), 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  SPLICE(GS_ECLOCK, P(5), 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff);
  SPLICE(GS_OK, P(5), 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
  SPLICE(GS_EDECODE, P(5), 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 1); /* negative */
  /* no ops, too many ops */
  SPLICE(GS_ETOOBIG, P(6), 0x90);
  size_t nn = 3 + CRDT_OPS_MAX + 1;
  uint8_t *many = malloc(nn);
  many[0] = 0xdc, many[1] = (CRDT_OPS_MAX + 1) >> 8;
  many[2] = (CRDT_OPS_MAX + 1) & 0xff;
  memset(many + 3, 0xc0, CRDT_OPS_MAX + 1);
  cr_assert_eq(splice_full(P(6), many, nn), GS_ETOOBIG);
  free(many);
}

Test(crdt_change, scopes_names_and_text)
{
  /* scopes: empty, bad characters, invalid UTF-8, too deep, too long */
  SPLICE(GS_ESCOPE, P(2), 0xa0);
  SPLICE(GS_ESCOPE, P(2), 0xa2, '/', 'a');
  SPLICE(GS_ESCOPE, P(2), 0xa2, 'a', '/');
  SPLICE(GS_ESCOPE, P(2), 0xa4, 'a', '/', '/', 'b');
  SPLICE(GS_ESCOPE, P(2), 0xa3, 'a', 0, 'b');
  SPLICE(GS_ESCOPE, P(2), 0xa3, 0xe7, 0x8e, 0x8b);
  SPLICE(GS_ESCOPE, P(2), 0xa2, 0xc0, 0xaf);
  SPLICE(GS_ESCOPE, P(2), 0xa3, 0xed, 0xa0, 0x80);
  SPLICE(GS_ESCOPE, P(2), 0xb1, 'a', '/', 'b', '/', 'c', '/', 'd', '/', 'e',
         '/', 'f', '/', 'g', '/', 'h', '/', 'i');
  SPLICE(GS_OK, P(2), 0xaf, 'a', '/', 'b', '/', 'c', '/', 'd', '/', 'e', '/',
         'f', '/', 'g', '/', 'h');
  uint8_t s[3 + CRDT_SCOPE_MAX + 1];
  s[0] = 0xd9;
  memset(s + 2, 'x', CRDT_SCOPE_MAX + 1);
  s[1] = CRDT_SCOPE_MAX;
  cr_assert_eq(splice_full(P(2), s, 2 + CRDT_SCOPE_MAX), GS_OK);
  s[1] = CRDT_SCOPE_MAX + 1;
  cr_assert_eq(splice_full(P(2), s, 3 + CRDT_SCOPE_MAX), GS_ESCOPE);

  /* collection and field names of every op */
  for (size_t i = 0; i < NFULL; i++) {
    SPLICE(GS_ENAME, P(6, i, 1), 0xa8, 'R', 'e', 's', 'i', 'd', 'e', 'n',
           't');
    SPLICE(GS_ENAME, P(6, i, 1), 0xa0);
    SPLICE(GS_ENAME, P(6, i, 1), 0xa2, 'a', 0xff);
    SPLICE(GS_ENAME, P(6, i, 1), 0xa6, 0xe5, 0xb1, 0x85, 0xe6, 0xb0, 0x91);
    if (i < 10) {
      SPLICE(GS_ENAME, P(6, i, 3), 0xa2, '_', 'a');
      SPLICE(GS_ENAME, P(6, i, 3), 0xa2, '1', 'a');
      SPLICE(GS_ENAME, P(6, i, 3), 0xa3, 'a', '-', 'b');
      SPLICE(GS_ENAME, P(6, i, 3), 0xa3, 'a', 0xc0, 0xaf);
    }
  }
  uint8_t nm[2 + CRDT_NAME_MAX + 1];
  nm[0] = 0xd9;
  memset(nm + 2, 'n', CRDT_NAME_MAX + 1);
  nm[1] = CRDT_NAME_MAX;
  cr_assert_eq(splice_full(P(6, 0, 3), nm, 2 + CRDT_NAME_MAX), GS_OK);
  nm[1] = CRDT_NAME_MAX + 1;
  cr_assert_eq(splice_full(P(6, 0, 3), nm, 3 + CRDT_NAME_MAX), GS_ENAME);
  cr_assert_eq(splice_full(P(6, 0, 1), nm, 3 + CRDT_NAME_MAX), GS_ENAME);

  /* a ref's collection name */
  SPLICE(GS_ENAME, P(6, 4, 4), 0xc7, 17, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 'A');
  SPLICE(GS_EDECODE, P(6, 4, 4), 0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0); /* no collection at all */

  /* text: invalid UTF-8 in a register and in a set element */
  static const uint8_t *bad_utf8[] = {
      (const uint8_t *)"\xa2\xc0\xaf",         /* overlong */
      (const uint8_t *)"\xa3\xed\xa0\x80",     /* surrogate */
      (const uint8_t *)"\xa4\xf4\x90\x80\x80", /* past U+10FFFF */
      (const uint8_t *)"\xa1\x80",             /* lone continuation */
      (const uint8_t *)"\xa2\xe4\xb8",         /* truncated sequence */
      (const uint8_t *)"\xa1\xff",
  };
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    size_t len = 1 + (bad_utf8[i][0] & 0x1f);
    cr_assert_eq(splice_full(P(6, 0, 4), bad_utf8[i], len), GS_EUTF8);
    cr_assert_eq(splice_full(P(6, 7, 4), bad_utf8[i], len), GS_EUTF8);
    cr_assert_eq(splice_full(P(6, 9, 4), bad_utf8[i], len), GS_EUTF8);
  }
  /* oversized text and bytes; the limit itself is fine */
  size_t bn = 3 + CRDT_TEXT_MAX + 1;
  uint8_t *big = malloc(bn);
  memset(big, 'x', bn);
  big[0] = 0xda, big[1] = (CRDT_TEXT_MAX + 1) >> 8;
  big[2] = (CRDT_TEXT_MAX + 1) & 0xff;
  cr_assert_eq(splice_full(P(6, 0, 4), big, bn), GS_ETOOBIG);
  cr_assert_eq(splice_full(P(6, 7, 4), big, bn), GS_ETOOBIG);
  big[0] = 0xc5;
  cr_assert_eq(splice_full(P(6, 3, 4), big, bn), GS_ETOOBIG);
  big[0] = 0xda, big[1] = CRDT_TEXT_MAX >> 8, big[2] = CRDT_TEXT_MAX & 0xff;
  cr_assert_eq(splice_full(P(6, 0, 4), big, bn - 1), GS_OK);
  free(big);
  /* register values out of range */
  SPLICE(GS_ETOOBIG, P(6, 1, 4), 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  SPLICE(GS_EINVAL, P(6, 2, 4), 0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0); /* inf */
  SPLICE(GS_EINVAL, P(6, 2, 4), 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1); /* NaN */
  SPLICE(GS_EDECODE, P(6, 2, 4), 0xca, 0, 0, 0, 0); /* float32 */
  /* set elements are strings or refs */
  SPLICE(GS_EDECODE, P(6, 7, 4), 0x01);
  SPLICE(GS_EDECODE, P(6, 7, 4), 0xc4, 0x01, 'a');
  SPLICE(GS_EDECODE, P(6, 9, 4), 0xc0);
}

Test(crdt_change, op_kinds_arity_and_tags)
{
  SPLICE(GS_EDECODE, P(6, 0, 0), 0x05);
  SPLICE(GS_EDECODE, P(6, 0, 0), 0x7f);
  SPLICE(GS_EDECODE, P(6, 0, 0), 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff);
  /* a SET relabelled as DELETE has the wrong arity, and vice versa */
  SPLICE(GS_EDECODE, P(6, 0, 0), 0x03);
  SPLICE(GS_EDECODE, P(6, 10, 0), 0x00);
  SPLICE(GS_EDECODE, P(6, 0, 0), 0x02); /* SET as REMOVE: no tags */
  SPLICE(GS_EDECODE, P(6, 9, 0), 0x01); /* REMOVE as ADD: extra element */
  /* ops that are too short or too long */
  SPLICE(GS_EDECODE, P(6, 10), 0x92, 0x03, 0xa1, 'a');
  SPLICE(GS_EDECODE, P(6, 10), 0x90);
  SPLICE(GS_EDECODE, P(6, 10), 0x94, 0x03, 0xa1, 'a', 0xc4, 16, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0);
  SPLICE(GS_OK, P(6, 10), 0x93, 0x03, 0xa1, 'a', 0xc4, 16, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  /* ids are exactly 16 bytes */
  SPLICE(GS_EDECODE, P(6, 10, 2), 0xc4, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0);
  SPLICE(GS_EDECODE, P(6, 10, 2), 0xa0);
  /* REMOVE: at least one tag, at most CRDT_TAGS_MAX, each [hlc, origin] */
  SPLICE(GS_ETOOBIG, P(6, 9, 5), 0x90);
  SPLICE(GS_EDECODE, P(6, 9, 5, 0), 0x91, 0x01);
  SPLICE(GS_EDECODE, P(6, 9, 5, 0), 0x93, 0x01, 0xc4, 0x00, 0xc0);
  SPLICE(GS_ECLOCK, P(6, 9, 5, 1, 0), 0x00);
  SPLICE(GS_ECLOCK, P(6, 9, 5, 1, 0), 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  SPLICE(GS_EDECODE, P(6, 9, 5, 1, 1), 0xc4, 0x01, 0x00);
  SPLICE(GS_EDECODE, P(6, 9, 5), 0x80);
  size_t nn = 3 + CRDT_TAGS_MAX + 1;
  uint8_t *many = malloc(nn);
  many[0] = 0xdc, many[1] = (CRDT_TAGS_MAX + 1) >> 8;
  many[2] = (CRDT_TAGS_MAX + 1) & 0xff;
  memset(many + 3, 0xc0, CRDT_TAGS_MAX + 1);
  cr_assert_eq(splice_full(P(6, 9, 5), many, nn), GS_ETOOBIG);
  free(many);
}

Test(crdt_change, only_the_canonical_encoding_is_accepted)
{
  /* the same numbers and strings in wider forms than needed */
  SPLICE(GS_EDECODE, P(0), 0xcc, 0x01);
  SPLICE(GS_EDECODE, P(3), 0xcf, 0, 0, 0, 0, 0, 0, 0, 1);
  SPLICE(GS_EDECODE, P(3), 0xd0, 0x01); /* int8 1 */
  SPLICE(GS_EDECODE, P(6, 0, 0), 0xcc, 0x00);
  SPLICE(GS_EDECODE, P(6, 1, 4), 0xd1, 0xff, 0xad); /* -83 as int16 */
  SPLICE(GS_EDECODE, P(6, 1, 4), 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xad);
  SPLICE(GS_OK, P(6, 1, 4), 0xd0, 0xad); /* the canonical form */
  SPLICE(GS_EDECODE, P(6, 10, 1), 0xd9, 0x08, 'r', 'e', 's', 'i', 'd', 'e',
         'n', 't');
  SPLICE(GS_EDECODE, P(6, 10, 2), 0xc5, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0);
  SPLICE(GS_EDECODE, P(6, 9, 5, 1), 0xdc, 0x00, 0x02, 0x01, 0xc4, 32, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0);
  /* the outer array as array16 */
  size_t n;
  uint8_t *b = full_change(&n);
  uint8_t *w = malloc(n + 2);
  w[0] = 0xdc, w[1] = 0, w[2] = 8;
  memcpy(w + 3, b + 1, n - 1);
  cr_assert_eq(decode(w, n + 2), GS_EDECODE);
  /* 7 elements (the unsigned form) and 9 elements */
  w[0] = 0x97;
  memcpy(w + 1, b + 1, n - 1 - 66);
  cr_assert_eq(decode(w, n - 66), GS_EDECODE);
  w[0] = 0x99;
  memcpy(w + 1, b + 1, n - 1);
  w[n] = 0xc0;
  cr_assert_eq(decode(w, n + 1), GS_EDECODE);
  /* not an array at all */
  cr_assert_eq(decode((const uint8_t *)"\xc0", 1), GS_EDECODE);
  cr_assert_eq(decode((const uint8_t *)"\x80", 1), GS_EDECODE);
  free(w);
  free(b);
}

Test(crdt_change, lying_lengths_depth_bombs_and_size)
{
  /* containers and strings that declare far more than the input holds */
  static const uint8_t lies[][12] = {
      {0xdd, 0xff, 0xff, 0xff, 0xff},       /* array32 of 4 billion */
      {0x98, 0xdd, 0x7f, 0xff, 0xff, 0xff}, /* nested array32 */
      {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},  /* str32 of 4 GiB */
      {0xc6, 0x7f, 0xff, 0xff, 0xff, 0},    /* bin32 of 2 GiB */
      {0xdf, 0xff, 0xff, 0xff, 0xff},       /* map32 */
      {0xc9, 0xff, 0xff, 0xff, 0xff, 1},    /* ext32 */
      {0x98, 0x01, 0xc4, 0x20},             /* bin8 of 32, no data */
      {0x98, 0x01, 0xda, 0xff, 0xff, 'a'},  /* str16 */
      {0x9f, 0x9f, 0x9f, 0x9f},             /* 15 * 15 * ... */
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++)
    for (size_t len = 1; len <= sizeof lies[i]; len++)
      cr_assert_eq(decode(lies[i], len), GS_ETRUNC, "lie %zu/%zu", i, len);
  cr_assert_eq(decode((const uint8_t *)"\xc1", 1), GS_EDECODE);
  cr_assert_eq(decode((const uint8_t *)"\x91\xc1", 2), GS_EDECODE);

  /* deep nesting: 60,000 arrays (under the size limit), and just past the
   * change's own depth */
  size_t dn = 60000;
  uint8_t *deep = malloc(dn);
  memset(deep, 0x91, dn - 1);
  deep[dn - 1] = 0xc0;
  cr_assert_eq(decode(deep, dn), GS_EDECODE);
  free(deep);
  SPLICE(GS_EDECODE, P(6, 9, 5, 0, 0), 0x91, 0x01);
  SPLICE(GS_EDECODE, P(6, 0, 4), 0x91, 0x91, 0x91, 0xc0);

  /* a change larger than a frame is refused before parsing */
  uint8_t *huge = calloc(1, CRDT_CHANGE_MAX + 1);
  cr_assert_eq(decode(huge, CRDT_CHANGE_MAX + 1), GS_ETOOBIG);
  free(huge);
}

/* ---- build refuses what the decoder refuses ---- */

Test(crdt_change, build_refuses_invalid_changes)
{
  crdt_op ops[NFULL];
  full_ops(ops);
  uint8_t *b = NULL;
  size_t n = 0;
#define BUILD(want, c)                                                      \
  do {                                                                      \
    gs_err got_ = crdt_change_build(&(c), sk, &b, &n);                      \
    cr_assert_eq(got_, want, "line %d: got %s", __LINE__,                   \
                 gs_errname(got_));                                         \
    if (got_ == GS_OK)                                                      \
      free(b);                                                              \
  } while (0)
  crdt_change c = header(ops, NFULL);
  BUILD(GS_OK, c);
  c.scope = "a//b", c.scope_len = 4;
  BUILD(GS_ESCOPE, c);
  c = header(ops, NFULL), c.seq = 0;
  BUILD(GS_EDECODE, c);
  c = header(ops, NFULL), c.prev[5] = 1;
  BUILD(GS_ECHAIN, c);
  c = header(ops, NFULL), c.seq = 2;
  BUILD(GS_ECHAIN, c);
  c = header(ops, NFULL), c.hlc = 0;
  BUILD(GS_ECLOCK, c);
  c.hlc = CRDT_HLC_LIMIT;
  BUILD(GS_ECLOCK, c);
  c = header(ops, 0);
  BUILD(GS_ETOOBIG, c);

  crdt_op bad;
  c = header(&bad, 1);
  bad = ops[0], bad.coll = "Resident";
  BUILD(GS_ENAME, c);
  bad = ops[0], bad.field = "na me", bad.field_len = 5;
  BUILD(GS_ENAME, c);
  bad = ops[0], bad.kind = (crdt_op_kind)5;
  BUILD(GS_EDECODE, c);
  bad = ops[2], bad.value.u.f = NAN;
  BUILD(GS_EINVAL, c);
  bad = ops[0], bad.value.u.s.p = "\xed\xa0\x80", bad.value.u.s.n = 3;
  BUILD(GS_EUTF8, c);
  bad = ops[7], bad.value = ops[1].value; /* ADD of an int */
  BUILD(GS_EDECODE, c);
  bad = ops[9], bad.ntags = 0;
  BUILD(GS_ETOOBIG, c);
  bad = ops[9], bad.ntags = CRDT_TAGS_MAX + 1;
  BUILD(GS_ETOOBIG, c);
  crdt_stamp zero_tag = {0};
  bad = ops[9], bad.tags = &zero_tag, bad.ntags = 1;
  BUILD(GS_ECLOCK, c);

  /* the most tags one remove may carry still builds and decodes */
  crdt_stamp *tags = calloc(CRDT_TAGS_MAX, sizeof *tags);
  for (size_t i = 0; i < CRDT_TAGS_MAX; i++)
    tags[i].hlc = i + 1;
  bad = ops[9], bad.tags = tags, bad.ntags = CRDT_TAGS_MAX;
  cr_assert_eq(crdt_change_build(&c, sk, &b, &n), GS_OK);
  crdt_change *d;
  cr_assert_eq(crdt_change_decode(b, n, &d), GS_OK);
  cr_assert_eq(d->ops[0].ntags, CRDT_TAGS_MAX);
  cr_assert_eq(d->ops[0].tags[CRDT_TAGS_MAX - 1].hlc, CRDT_HLC_MAKE(0, 1024));
  crdt_change_free(d);
  free(b);
  free(tags);

  /* too many ops, and too many bytes for one frame */
  crdt_op *lots = calloc(CRDT_OPS_MAX + 1, sizeof *lots);
  for (size_t i = 0; i <= CRDT_OPS_MAX; i++)
    lots[i] = ops[10];
  c = header(lots, CRDT_OPS_MAX + 1);
  BUILD(GS_ETOOBIG, c);
  c = header(lots, CRDT_OPS_MAX); /* ~90 KB of deletes */
  BUILD(GS_ETOOBIG, c);
  c = header(lots, 2000); /* ~57 KB: fits */
  BUILD(GS_OK, c);
  free(lots);
  static char text[CRDT_TEXT_MAX];
  memset(text, 'x', sizeof text);
  crdt_op four[4];
  for (int i = 0; i < 4; i++) {
    four[i] = ops[0];
    four[i].value.u.s.p = text;
    four[i].value.u.s.n = sizeof text;
  }
  c = header(four, 3);
  BUILD(GS_OK, c);
  c = header(four, 4);
  BUILD(GS_ETOOBIG, c);
#undef BUILD
}

/* crdt_change_build writes the canonical encoding itself (issue 20); the
 * decoder re-encodes with msgpack-c and refuses any other byte form. So
 * every built change must decode, verify and hand back its values, for
 * every form of every item: integers, strings, bytes, references, arrays
 * of ops and tags, header numbers, each at the edges of its forms. */
Test(crdt_change, build_matches_msgpack_at_every_size_boundary)
{
  static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536,
                                 4294967295LL, 4294967296LL, INT64_MAX,
                                 -1, -32, -33, -128, -129, -32768, -32769,
                                 INT32_MIN, (int64_t)INT32_MIN - 1,
                                 INT64_MIN};
  static const size_t lens[] = {0, 1, 31, 32, 255, 256, 16384};
  static const size_t nops_at[] = {1, 15, 16, 300};
  static const uint64_t seqs[] = {1, 127, 128, 255, 256, 65535, 65536,
                                  4294967295ULL, 4294967296ULL};
  static char text[CRDT_TEXT_MAX], coll[CRDT_NAME_MAX + 1];
  static crdt_op ops[300];
  static crdt_stamp tags[20];
  memset(text, 'x', sizeof text);
  memcpy(text, "王秀英", 9);
  memset(coll, 'c', sizeof coll);
  for (size_t i = 0; i < 20; i++) {
    tags[i].hlc = CRDT_HLC_MAKE(NOW - i * 1000, (unsigned)i);
    memcpy(tags[i].origin, i % 2 ? pk : pk2, CRDT_KEY_LEN);
  }
  size_t built = 0;
  for (size_t round = 0; round < 60; round++) {
    size_t nops = nops_at[round % 4];
    for (size_t i = 0; i < nops; i++) {
      crdt_op *op = &ops[i];
      size_t k = round * 7 + i;
      memset(op, 0, sizeof *op);
      op->kind = (crdt_op_kind)(k % 5);
      op->coll = coll;
      op->coll_len = 1 + k % CRDT_NAME_MAX;
      memcpy(op->id, rid, CRDT_ID_LEN);
      op->id[15] = (uint8_t)k;
      op->field = "f";
      op->field_len = 1;
      crdt_value *v = &op->value;
      size_t len = lens[k % 7];
      if (nops == 300 && len > 256)
        len = 256; /* under CRDT_CHANGE_MAX */
      switch (op->kind == CRDT_OP_SET ? k / 5 % 7 : 5 + k % 2) {
      case 0:
        v->type = CRDT_INT, v->u.i = ints[k % 21];
        break;
      case 1:
        v->type = CRDT_FLOAT, v->u.f = k % 2 ? -0.0 : 1e300 / (double)(k + 1);
        break;
      case 2:
        v->type = CRDT_BYTES, v->u.s.p = text + 9, v->u.s.n = len;
        break;
      case 3:
        v->type = CRDT_BOOL, v->u.b = k % 2;
        break;
      case 4:
        v->type = CRDT_NIL;
        break;
      case 5: /* text: Chinese first when long enough, else ASCII */
        v->type = CRDT_STR, v->u.s.n = len;
        v->u.s.p = len >= 9 ? text : text + 9;
        break;
      default:
        v->type = CRDT_REF, v->u.ref.coll = coll;
        v->u.ref.coll_len = 1 + (k * 3) % CRDT_NAME_MAX;
        memcpy(v->u.ref.id, rid2, CRDT_ID_LEN);
      }
      if (op->kind == CRDT_OP_REMOVE) {
        op->tags = tags;
        op->ntags = k % 3 ? 1 + k % 15 : 16 + k % 4; /* fix and array16 */
      }
    }
    crdt_change c = header(ops, nops);
    c.seq = seqs[round % 9];
    if (c.seq > 1)
      memset(c.prev, 0x5a, CRDT_HASH_LEN);
    c.hlc = CRDT_HLC_MAKE(NOW + round, (unsigned)round);
    c.scope_len = round % 2 ? 23 : 6;
    c.scope = round % 2 ? "gongrencun/qinghejv/g07" : "s/c/g1";
    uint8_t *b;
    size_t n;
    cr_assert_eq(crdt_change_build(&c, sk, &b, &n), GS_OK, "round %zu",
                 round);
    uint8_t *exact = tu_dup(b, n);
    free(b);
    crdt_change *d = NULL;
    cr_assert_eq(crdt_change_decode(exact, n, &d), GS_OK,
                 "round %zu: not msgpack-c's encoding", round);
    cr_assert(crdt_change_verify(d), "round %zu: signature", round);
    cr_assert_eq(d->seq, c.seq);
    cr_assert_eq(d->nops, nops);
    for (size_t i = 0; i < nops; i++)
      ops_equal(&d->ops[i], &ops[i]);
    crdt_change_free(d);
    free(exact);
    built++;
  }
  cr_assert_eq(built, 60);
}
