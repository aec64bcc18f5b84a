/*
 * Noise: every vector of tests/vectors/noise-25519-chachapoly-blake2b.json
 * (NN, KK, IK, XX, XXpsk3; copied from ../shared/vectors) reproduced byte
 * for byte, handshake and transport messages and the handshake hash; then
 * the failures: wrong PSK, a flipped bit anywhere in each handshake
 * message, truncation, replay, oversized messages.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/noise.h"

#define VECTORS GS_SOURCE_ROOT "/tests/vectors/noise-25519-chachapoly-blake2b.json"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
  size_t n = strlen(h) / 2;
  cr_assert_leq(n, cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

static const uint8_t *field(json_t *v, const char *name, uint8_t *buf,
                            size_t cap, size_t *n)
{
  json_t *f = json_object_get(v, name);
  if (json_is_array(f))
    f = json_array_get(f, 0); /* psks: one per psk token; all ours equal */
  if (!json_is_string(f))
    return NULL;
  size_t len = unhex(json_string_value(f), buf, cap);
  if (n)
    *n = len;
  return buf;
}

static size_t handshake_msgs(const char *name)
{
  /* NN, KK, IK: 2 messages; XX, XXpsk3: 3 */
  return strstr(name, "_XX") ? 3 : 2;
}

static void init_sodium(void)
{
  cr_assert_geq(sodium_init(), 0);
}

TestSuite(noise, .init = init_sodium);

Test(noise, published_vectors_byte_for_byte)
{
  json_error_t je;
  json_t *root = json_load_file(VECTORS, 0, &je);
  cr_assert_not_null(root, "cannot read %s: %s", VECTORS, je.text);
  json_t *vecs = json_object_get(root, "vectors");
  size_t ran = 0;
  for (size_t vi = 0; vi < json_array_size(vecs); vi++) {
    json_t *v = json_array_get(vecs, vi);
    const char *name = json_string_value(json_object_get(v, "protocol_name"));
    uint8_t ip[256], rp[256], is[32], rs_[32], ie[32], re[32], irs[32],
        rrs[32], ipsk[32], rpsk[32];
    size_t ipn = 0, rpn = 0;
    field(v, "init_prologue", ip, sizeof ip, &ipn);
    field(v, "resp_prologue", rp, sizeof rp, &rpn);
    const uint8_t *i_s = field(v, "init_static", is, 32, NULL);
    const uint8_t *r_s = field(v, "resp_static", rs_, 32, NULL);
    const uint8_t *i_rs = field(v, "init_remote_static", irs, 32, NULL);
    const uint8_t *r_rs = field(v, "resp_remote_static", rrs, 32, NULL);
    const uint8_t *i_psk = field(v, "init_psks", ipsk, 32, NULL);
    const uint8_t *r_psk = field(v, "resp_psks", rpsk, 32, NULL);
    cr_assert_not_null(field(v, "init_ephemeral", ie, 32, NULL));
    cr_assert_not_null(field(v, "resp_ephemeral", re, 32, NULL));

    net_noise_hs *hi, *hr;
    cr_assert_eq(net_noise_hs_new(&hi, name, true, ip, ipn, i_s, i_rs, i_psk),
                 GS_OK, "%s: initiator", name);
    cr_assert_eq(net_noise_hs_new(&hr, name, false, rp, rpn, r_s, r_rs, r_psk),
                 GS_OK, "%s: responder", name);
    net_noise_hs_set_ephemeral(hi, ie);
    net_noise_hs_set_ephemeral(hr, re);

    json_t *msgs = json_object_get(v, "messages");
    size_t nhs = handshake_msgs(name);
    net_noise_cs *itx = NULL, *irx = NULL, *rtx = NULL, *rrx = NULL;
    for (size_t mi = 0; mi < json_array_size(msgs); mi++) {
      json_t *m = json_array_get(msgs, mi);
      static uint8_t pl[65535], ct[65535], out[65535], got[65535];
      size_t pln = unhex(json_string_value(json_object_get(m, "payload")), pl,
                         sizeof pl);
      size_t ctn = unhex(json_string_value(json_object_get(m, "ciphertext")),
                         ct, sizeof ct);
      bool from_init = mi % 2 == 0;
      size_t outn, gotn;
      if (mi < nhs) {
        net_noise_hs *w = from_init ? hi : hr, *r = from_init ? hr : hi;
        cr_assert_eq(net_noise_hs_write(w, pl, pln, out, sizeof out, &outn),
                     GS_OK, "%s msg %zu write", name, mi);
        cr_assert_eq(outn, ctn, "%s msg %zu: length %zu, want %zu", name, mi,
                     outn, ctn);
        cr_assert_eq(memcmp(out, ct, ctn), 0, "%s msg %zu differs", name, mi);
        cr_assert_eq(net_noise_hs_read(r, ct, ctn, got, sizeof got, &gotn),
                     GS_OK, "%s msg %zu read", name, mi);
        cr_assert_eq(gotn, pln);
        cr_assert_eq(memcmp(got, pl, pln), 0);
        if (mi + 1 == nhs) {
          cr_assert(net_noise_hs_done(hi) && net_noise_hs_done(hr));
          uint8_t h1[64], h2[64], want[64];
          net_noise_hs_hash(hi, h1);
          net_noise_hs_hash(hr, h2);
          field(v, "handshake_hash", want, 64, NULL);
          cr_assert_eq(memcmp(h1, want, 64), 0, "%s: handshake hash", name);
          cr_assert_eq(memcmp(h2, want, 64), 0);
          cr_assert_eq(net_noise_hs_split(hi, &itx, &irx), GS_OK);
          cr_assert_eq(net_noise_hs_split(hr, &rtx, &rrx), GS_OK);
        }
      } else {
        net_noise_cs *tx = from_init ? itx : rtx, *rx = from_init ? rrx : irx;
        cr_assert_eq(net_noise_cs_encrypt(tx, pl, pln, out, sizeof out, &outn),
                     GS_OK);
        cr_assert_eq(outn, ctn, "%s transport %zu length", name, mi);
        cr_assert_eq(memcmp(out, ct, ctn), 0, "%s transport %zu differs",
                     name, mi);
        cr_assert_eq(net_noise_cs_decrypt(rx, ct, ctn, got, sizeof got, &gotn),
                     GS_OK);
        cr_assert_eq(gotn, pln);
        cr_assert_eq(memcmp(got, pl, pln), 0);
      }
    }
    net_noise_cs_free(itx), net_noise_cs_free(irx);
    net_noise_cs_free(rtx), net_noise_cs_free(rrx);
    net_noise_hs_free(hi);
    net_noise_hs_free(hr);
    ran++;
  }
  cr_assert_eq(ran, 5, "expected the 5 published vectors, ran %zu", ran);
  cr_log_info("noise: %zu vectors reproduced", ran);
  json_decref(root);
}

/* ---- gridsync's own pattern, with generated keys ---- */

#define XXPSK "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"

typedef struct pair {
  net_noise_hs *i, *r;
  uint8_t is[32], rs[32], psk_i[32], psk_r[32];
} pair;

static void pair_new(pair *p, bool same_psk)
{
  randombytes_buf(p->is, 32);
  randombytes_buf(p->rs, 32);
  randombytes_buf(p->psk_i, 32);
  memcpy(p->psk_r, p->psk_i, 32);
  if (!same_psk)
    p->psk_r[31] ^= 1;
  cr_assert_eq(net_noise_hs_new(&p->i, XXPSK, true, (const uint8_t *)"p", 1,
                                p->is, NULL, p->psk_i),
               GS_OK);
  cr_assert_eq(net_noise_hs_new(&p->r, XXPSK, false, (const uint8_t *)"p", 1,
                                p->rs, NULL, p->psk_r),
               GS_OK);
}

static void pair_free(pair *p)
{
  net_noise_hs_free(p->i);
  net_noise_hs_free(p->r);
}

/* Run the handshake; returns the message index that failed to read, or
 * -1 when all three went through. mutate may change message k. */
static int run_hs(pair *p, int k, void (*mutate)(uint8_t *m, size_t *n, int),
                  int arg)
{
  uint8_t m[1024], pl[1024];
  size_t n, pn;
  for (int mi = 0; mi < 3; mi++) {
    net_noise_hs *w = mi % 2 ? p->r : p->i, *r = mi % 2 ? p->i : p->r;
    cr_assert_eq(net_noise_hs_write(w, (const uint8_t *)"hello", 5, m,
                                    sizeof m, &n),
                 GS_OK);
    if (mi == k && mutate)
      mutate(m, &n, arg);
    if (net_noise_hs_read(r, m, n, pl, sizeof pl, &pn) != GS_OK)
      return mi;
    cr_assert_eq(pn, 5);
  }
  return -1;
}

Test(noise, xxpsk3_round_trip_and_remote_keys)
{
  pair p;
  pair_new(&p, true);
  cr_assert_eq(run_hs(&p, -1, NULL, 0), -1);
  uint8_t ipub[32], rpub[32];
  crypto_scalarmult_base(ipub, p.is);
  crypto_scalarmult_base(rpub, p.rs);
  cr_assert_eq(memcmp(net_noise_hs_remote_static(p.i), rpub, 32), 0);
  cr_assert_eq(memcmp(net_noise_hs_remote_static(p.r), ipub, 32), 0);
  net_noise_cs *itx, *irx, *rtx, *rrx;
  cr_assert_eq(net_noise_hs_split(p.i, &itx, &irx), GS_OK);
  cr_assert_eq(net_noise_hs_split(p.r, &rtx, &rrx), GS_OK);
  uint8_t ct[100], pt[100];
  size_t cn, pn;
  cr_assert_eq(net_noise_cs_encrypt(itx, (const uint8_t *)"abc", 3, ct,
                                    sizeof ct, &cn),
               GS_OK);
  cr_assert_eq(cn, 3 + 16);
  cr_assert_eq(net_noise_cs_decrypt(rrx, ct, cn, pt, sizeof pt, &pn), GS_OK);
  cr_assert_eq(memcmp(pt, "abc", 3), 0);
  /* replay: the same ciphertext again fails (the nonce moved on) */
  cr_assert_eq(net_noise_cs_decrypt(rrx, ct, cn, pt, sizeof pt, &pn),
               GS_ECRYPTO);
  /* truncated */
  cr_assert_eq(net_noise_cs_encrypt(itx, (const uint8_t *)"abc", 3, ct,
                                    sizeof ct, &cn),
               GS_OK);
  cr_assert_eq(net_noise_cs_decrypt(rrx, ct, cn - 1, pt, sizeof pt, &pn),
               GS_ECRYPTO);
  cr_assert_eq(net_noise_cs_decrypt(rrx, ct, 10, pt, sizeof pt, &pn),
               GS_ECRYPTO);
  /* ...and the intact one still decrypts: failures do not move the nonce */
  cr_assert_eq(net_noise_cs_decrypt(rrx, ct, cn, pt, sizeof pt, &pn), GS_OK);
  /* too large */
  static uint8_t big[70000];
  cr_assert_eq(net_noise_cs_encrypt(itx, big, 65535 - 15, big, sizeof big,
                                    &cn),
               GS_ETOOBIG);
  cr_assert_eq(net_noise_cs_decrypt(rrx, big, 65536, big, sizeof big, &pn),
               GS_ETOOBIG);
  net_noise_cs_free(itx), net_noise_cs_free(irx);
  net_noise_cs_free(rtx), net_noise_cs_free(rrx);
  pair_free(&p);
}

Test(noise, wrong_psk_fails_at_message_three)
{
  pair p;
  pair_new(&p, false);
  cr_assert_eq(run_hs(&p, -1, NULL, 0), 2);
  pair_free(&p);
}

static void flip(uint8_t *m, size_t *n, int bit)
{
  (void)n;
  m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

static void cut(uint8_t *m, size_t *n, int by)
{
  (void)m;
  *n -= (size_t)by;
}

Test(noise, any_flipped_bit_fails_the_handshake)
{
  /* message sizes: 32+5, 32+48+5+16, 48+5+16 */
  size_t sizes[3] = {37, 32 + 48 + 21, 48 + 21};
  for (int k = 0; k < 3; k++) {
    for (int bit = 0; bit < (int)sizes[k] * 8; bit++) {
      pair p;
      pair_new(&p, true);
      int failed = run_hs(&p, k, flip, bit);
      /* message 1 is in clear but hashed: the failure shows at message 2
       * or 3 (every later tag covers h) */
      cr_assert_neq(failed, -1, "flip of bit %d in message %d went through",
                    bit, k);
      cr_assert_geq(failed, k);
      pair_free(&p);
    }
  }
}

Test(noise, truncated_handshake_messages_fail)
{
  for (int k = 0; k < 3; k++)
    for (int by = 1; by <= 20; by += 3) {
      pair p;
      pair_new(&p, true);
      cr_assert_neq(run_hs(&p, k, cut, by), -1);
      pair_free(&p);
    }
}

Test(noise, misuse_is_refused)
{
  net_noise_hs *hs;
  uint8_t k[32] = {1}, m[200], pl[200];
  size_t n;
  cr_assert_eq(net_noise_hs_new(&hs, "Noise_XX_448_AESGCM_SHA512", true, NULL,
                                0, k, NULL, NULL),
               GS_EINVAL);
  cr_assert_eq(net_noise_hs_new(&hs, "Noise_QQ_25519_ChaChaPoly_BLAKE2b", true,
                                NULL, 0, k, NULL, NULL),
               GS_EINVAL);
  cr_assert_eq(net_noise_hs_new(&hs, XXPSK, true, NULL, 0, k, NULL, NULL),
               GS_EINVAL, "psk pattern without a psk");
  cr_assert_eq(net_noise_hs_new(&hs, "Noise_IK_25519_ChaChaPoly_BLAKE2b", true,
                                NULL, 0, k, NULL, NULL),
               GS_EINVAL, "IK without the responder's key");
  cr_assert_eq(net_noise_hs_new(&hs, "Noise_XX_25519_ChaChaPoly_BLAKE2b",
                                false, NULL, 0, k, NULL, NULL),
               GS_OK);
  cr_assert_eq(net_noise_hs_write(hs, NULL, 0, m, sizeof m, &n), GS_EINVAL,
               "the responder wrote first");
  cr_assert_eq(net_noise_hs_read(hs, m, 10, pl, sizeof pl, &n),
               GS_EHANDSHAKE, "short message 1");
  net_noise_hs_free(hs);
}
