/*
 * The sealer (issue 19's cost): byte for byte the XChaCha20-Poly1305 of
 * crdt_seal_nonce (libsodium's AEAD) at every length around its runs and
 * its fast path's end, opened both ways; its nonces never repeat, within
 * a sealer nor between two sealers of one key (a store reopened); a
 * changed byte, another place (ad), another key or a cut value does not
 * open and leaves no plaintext; prefixes beyond its cache still open.
 */
#include "crdt_test_util.h"

TestSuite(crdt_sealer);

static const uint8_t key_a[CRDT_SEAL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key_b[CRDT_SEAL_KEY_LEN] = {9, 9, 9};

static crdt_sealer *sealer(const uint8_t *key)
{
  crdt_sealer *s = NULL;
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert_eq(crdt_sealer_new(key, &s), GS_OK);
  cr_assert(s);
  return s;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    b[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

/* One length: the sealer's output is crdt_seal_nonce's under its nonce;
 * each opens the other's, and crdt_seal's (a random nonce). */
static void same_as_aead(crdt_sealer *s, size_t n, size_t adn)
{
  uint8_t ad[1100];
  uint8_t *m = malloc(n + 1), *a = malloc(n + CRDT_SEAL_OVERHEAD),
          *b = malloc(n + CRDT_SEAL_OVERHEAD), *o = malloc(n + 1);
  cr_assert(m && a && b && o);
  fill(m, n, (unsigned)adn);
  fill(ad, adn, (unsigned)n);
  cr_assert_eq(crdt_sealer_seal(s, ad, adn, m, n, a), GS_OK);
  crdt_seal_nonce(key_a, a, ad, adn, m, n, b);
  cr_assert(memcmp(a, b, n + CRDT_SEAL_OVERHEAD) == 0,
            "length %zu (ad %zu): not the AEAD's bytes", n, adn);
  cr_assert_eq(crdt_seal_open(key_a, ad, adn, a, n + CRDT_SEAL_OVERHEAD, o),
               GS_OK, "the AEAD opens the sealer's value (%zu)", n);
  cr_assert(n == 0 || memcmp(o, m, n) == 0);
  crdt_seal(key_a, ad, adn, m, n, b);
  memset(o, 0, n + 1);
  cr_assert_eq(crdt_sealer_open(s, ad, adn, b, n + CRDT_SEAL_OVERHEAD, o),
               GS_OK, "the sealer opens the AEAD's value (%zu)", n);
  cr_assert(n == 0 || memcmp(o, m, n) == 0);
  memset(o, 0, n + 1);
  cr_assert_eq(crdt_sealer_open(s, ad, adn, a, n + CRDT_SEAL_OVERHEAD, o),
               GS_OK);
  cr_assert(n == 0 || memcmp(o, m, n) == 0);
  free(m);
  free(a);
  free(b);
  free(o);
}

Test(crdt_sealer, same_bytes_as_the_aead_at_every_length)
{
  crdt_sealer *s = sealer(key_a);
  for (size_t n = 0; n <= 1100; n++)
    same_as_aead(s, n, n % 61);
  const size_t edge[] = {CRDT_SEALER_FAST - 1, CRDT_SEALER_FAST,
                         CRDT_SEALER_FAST + 1, 4096, 8191, 70001};
  for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
    for (size_t adn = 0; adn < 64; adn += 21)
      same_as_aead(s, edge[i], adn);
  /* an ad longer than the sealer lays out in one buffer */
  const size_t adl[] = {1023, 1024, 1025, 1100};
  for (size_t i = 0; i < sizeof adl / sizeof *adl; i++)
    for (size_t n = 0; n < 300; n += 37)
      same_as_aead(s, n, adl[i]);
  crdt_sealer_free(s);
}

static int nonce_cmp(const void *a, const void *b)
{
  return memcmp(a, b, 24);
}

Test(crdt_sealer, nonces_never_repeat_within_or_between_sealers)
{
  enum { PER = 5000, SEALERS = 4 };
  uint8_t(*nonces)[24] = malloc(sizeof *nonces * PER * SEALERS);
  uint8_t m[32] = {0}, out[32 + CRDT_SEAL_OVERHEAD];
  cr_assert(nonces);
  for (int k = 0; k < SEALERS; k++) { /* a store opened four times */
    crdt_sealer *s = sealer(key_a);
    for (int i = 0; i < PER; i++) {
      cr_assert_eq(crdt_sealer_seal(s, "t", 1, m, sizeof m, out), GS_OK);
      memcpy(nonces[k * PER + i], out, 24);
    }
    /* one prefix per sealer, then a count from 1 */
    cr_assert(memcmp(nonces[k * PER], nonces[k * PER + PER - 1], 16) == 0);
    cr_assert_eq(nonces[k * PER][23], 1);
    cr_assert_eq(nonces[k * PER + 299][22], 1); /* 300 = 0x012c */
    cr_assert_eq(nonces[k * PER + 299][23], 0x2c);
    crdt_sealer_free(s);
    for (int j = 0; j < k; j++) /* a fresh prefix each time */
      cr_assert(memcmp(nonces[j * PER], nonces[k * PER], 16) != 0);
  }
  qsort(nonces, PER * SEALERS, 24, nonce_cmp);
  for (int i = 1; i < PER * SEALERS; i++)
    cr_assert(memcmp(nonces[i - 1], nonces[i], 24) != 0,
              "nonce used twice");
  free(nonces);
}

static bool has_plain(const uint8_t *o, const uint8_t *m, size_t n)
{
  return memcmp(o, m, n) == 0;
}

Test(crdt_sealer, changed_moved_cut_or_other_key_does_not_open)
{
  crdt_sealer *s = sealer(key_a), *t = sealer(key_b);
  uint8_t m[300], c[300 + CRDT_SEAL_OVERHEAD], o[300];
  const char ad[] = "records\0resident";
  fill(m, sizeof m, 5);
  cr_assert_eq(crdt_sealer_seal(s, ad, sizeof ad, m, sizeof m, c), GS_OK);
  for (size_t i = 0; i < sizeof c; i++) {
    c[i] ^= 0x20;
    memset(o, 0, sizeof o);
    cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, c, sizeof c, o),
                 GS_ESEAL, "byte %zu flipped", i);
    cr_assert(!has_plain(o, m, sizeof m));
    c[i] ^= 0x20;
  }
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad - 1, c, sizeof c, o),
               GS_ESEAL, "another place");
  cr_assert_eq(crdt_sealer_open(t, ad, sizeof ad, c, sizeof c, o), GS_ESEAL,
               "another key");
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, c, sizeof c - 1, o),
               GS_ESEAL, "cut");
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, c, CRDT_SEAL_OVERHEAD - 1,
                                o),
               GS_ESEAL, "shorter than a seal");
  /* a large value (libsodium's path) is refused alike */
  size_t bn = 9000;
  uint8_t *bm = malloc(bn), *bc = malloc(bn + CRDT_SEAL_OVERHEAD),
          *bo = malloc(bn);
  cr_assert(bm && bc && bo);
  fill(bm, bn, 9);
  cr_assert_eq(crdt_sealer_seal(s, ad, sizeof ad, bm, bn, bc), GS_OK);
  bc[5000] ^= 1;
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, bc, bn + CRDT_SEAL_OVERHEAD,
                                bo),
               GS_ESEAL);
  cr_assert(!has_plain(bo, bm, bn));
  bc[5000] ^= 1;
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, bc, bn + CRDT_SEAL_OVERHEAD,
                                bo),
               GS_OK);
  cr_assert(has_plain(bo, bm, bn));
  cr_assert_eq(crdt_sealer_open(s, ad, sizeof ad, c, sizeof c, o), GS_OK);
  cr_assert(has_plain(o, m, sizeof m));
  free(bm);
  free(bc);
  free(bo);
  crdt_sealer_free(s);
  crdt_sealer_free(t);
}

Test(crdt_sealer, values_of_more_prefixes_than_its_cache_open)
{
  enum { N = 3 * CRDT_SEALER_CACHE };
  uint8_t c[N][16 + CRDT_SEAL_OVERHEAD], m[16], o[16];
  for (int i = 0; i < N; i++) { /* N stores' opens, one value each */
    crdt_sealer *w = sealer(key_a);
    memset(m, i, sizeof m);
    cr_assert_eq(crdt_sealer_seal(w, "k", 1, m, sizeof m, c[i]), GS_OK);
    crdt_sealer_free(w);
  }
  crdt_sealer *s = sealer(key_a);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < N; i++) {
      cr_assert_eq(crdt_sealer_open(s, "k", 1, c[i], sizeof c[i], o), GS_OK);
      memset(m, i, sizeof m);
      cr_assert(has_plain(o, m, sizeof m));
      cr_assert_eq(crdt_sealer_open(s, "j", 1, c[i], sizeof c[i], o),
                   GS_ESEAL);
    }
  crdt_sealer_free(s);
}
