/* Noise handshakes and transport ciphers (see noise.h), written from the
 * Noise Protocol Framework specification, revision 34. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"
#include "net/noise.h"

#define DHLEN 32
#define HASHLEN 64
#define BLOCKLEN 128
#define KEYLEN 32
#define TAGLEN 16
#define NONCE_MAX UINT64_MAX /* reserved: never used */

/* ---- hash, HMAC, HKDF (spec 4.3) ---- */

static void hash2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                  uint8_t out[HASHLEN])
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, HASHLEN);
  crypto_generichash_update(&st, a, an);
  if (bn)
    crypto_generichash_update(&st, b, bn);
  crypto_generichash_final(&st, out, HASHLEN);
  sodium_memzero(&st, sizeof st);
}

/* HMAC-BLAKE2b (RFC 2104) over data = a || b. */
static void hmac(const uint8_t key[HASHLEN], const uint8_t *a, size_t an,
                 const uint8_t *b, size_t bn, uint8_t out[HASHLEN])
{
  uint8_t k[BLOCKLEN], inner[HASHLEN];
  crypto_generichash_state st;
  memset(k, 0, sizeof k);
  memcpy(k, key, HASHLEN);
  for (size_t i = 0; i < BLOCKLEN; i++)
    k[i] ^= 0x36;
  crypto_generichash_init(&st, NULL, 0, HASHLEN);
  crypto_generichash_update(&st, k, BLOCKLEN);
  crypto_generichash_update(&st, a, an);
  if (bn)
    crypto_generichash_update(&st, b, bn);
  crypto_generichash_final(&st, inner, HASHLEN);
  for (size_t i = 0; i < BLOCKLEN; i++)
    k[i] ^= 0x36 ^ 0x5c;
  crypto_generichash_init(&st, NULL, 0, HASHLEN);
  crypto_generichash_update(&st, k, BLOCKLEN);
  crypto_generichash_update(&st, inner, HASHLEN);
  crypto_generichash_final(&st, out, HASHLEN);
  sodium_memzero(k, sizeof k);
  sodium_memzero(inner, sizeof inner);
  sodium_memzero(&st, sizeof st);
}

/* HKDF(ck, ikm) -> up to three HASHLEN outputs (o3 may be NULL). */
static void hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t n,
                 uint8_t o1[HASHLEN], uint8_t o2[HASHLEN],
                 uint8_t o3[HASHLEN])
{
  uint8_t tk[HASHLEN], one = 1, two = 2, three = 3;
  hmac(ck, ikm, n, NULL, 0, tk);
  hmac(tk, &one, 1, NULL, 0, o1);
  hmac(tk, o1, HASHLEN, &two, 1, o2);
  if (o3)
    hmac(tk, o2, HASHLEN, &three, 1, o3);
  sodium_memzero(tk, sizeof tk);
}

/* ---- CipherState (spec 5.1) ---- */

struct net_noise_cs {
  uint8_t k[KEYLEN];
  bool has_key;
  uint64_t n;
};

static void cs_init_key(net_noise_cs *cs, const uint8_t k[KEYLEN])
{
  memcpy(cs->k, k, KEYLEN);
  cs->has_key = true;
  cs->n = 0;
}

static void nonce_bytes(uint64_t n, uint8_t out[12])
{
  memset(out, 0, 4);
  for (int i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(n >> (8 * i));
}

static gs_err cs_encrypt_ad(net_noise_cs *cs, const uint8_t *ad, size_t adn,
                            const uint8_t *pt, size_t n, uint8_t *out,
                            size_t cap, size_t *outlen)
{
  if (!cs->has_key) {
    if (n > cap)
      return GS_ETOOBIG;
    memmove(out, pt, n);
    *outlen = n;
    return GS_OK;
  }
  if (n + TAGLEN > cap)
    return GS_ETOOBIG;
  if (cs->n == NONCE_MAX)
    return GS_ECRYPTO;
  uint8_t nonce[12];
  unsigned long long cl;
  nonce_bytes(cs->n, nonce);
  crypto_aead_chacha20poly1305_ietf_encrypt(out, &cl, pt, n, ad, adn, NULL,
                                            nonce, cs->k);
  cs->n++;
  *outlen = (size_t)cl;
  return GS_OK;
}

static gs_err cs_decrypt_ad(net_noise_cs *cs, const uint8_t *ad, size_t adn,
                            const uint8_t *ct, size_t n, uint8_t *out,
                            size_t cap, size_t *outlen)
{
  if (!cs->has_key) {
    if (n > cap)
      return GS_ETOOBIG;
    memmove(out, ct, n);
    *outlen = n;
    return GS_OK;
  }
  if (n < TAGLEN)
    return GS_EHANDSHAKE;
  if (n - TAGLEN > cap)
    return GS_ETOOBIG;
  if (cs->n == NONCE_MAX)
    return GS_ECRYPTO;
  uint8_t nonce[12];
  unsigned long long pl;
  nonce_bytes(cs->n, nonce);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &pl, NULL, ct, n, ad,
                                                adn, nonce, cs->k) != 0)
    return GS_EHANDSHAKE;
  cs->n++;
  *outlen = (size_t)pl;
  return GS_OK;
}

gs_err net_noise_cs_encrypt(net_noise_cs *cs, const uint8_t *pt, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen)
{
  if (n + TAGLEN > NET_NOISE_MSG_MAX)
    return GS_ETOOBIG;
  return cs_encrypt_ad(cs, NULL, 0, pt, n, out, cap, outlen);
}

gs_err net_noise_cs_decrypt(net_noise_cs *cs, const uint8_t *ct, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen)
{
  if (n > NET_NOISE_MSG_MAX)
    return GS_ETOOBIG;
  gs_err err = cs_decrypt_ad(cs, NULL, 0, ct, n, out, cap, outlen);
  return err == GS_EHANDSHAKE ? GS_ECRYPTO : err;
}

void net_noise_cs_free(net_noise_cs *cs)
{
  if (!cs)
    return;
  sodium_memzero(cs, sizeof *cs);
  free(cs);
}

/* ---- patterns (spec 7) ---- */

enum { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };
#define MAX_MSGS 4
#define MAX_TOKENS 8

typedef struct pattern {
  const char *name;
  uint8_t pre_i, pre_r; /* pre-message tokens: T_S or T_END */
  uint8_t msgs[MAX_MSGS][MAX_TOKENS];
  uint8_t nmsgs;
} pattern;

static const pattern patterns[] = {
    {"N", 0, T_S, {{T_E, T_ES}}, 1},
    {"K", T_S, T_S, {{T_E, T_ES, T_SS}}, 1},
    {"X", 0, T_S, {{T_E, T_ES, T_S, T_SS}}, 1},
    {"NN", 0, 0, {{T_E}, {T_E, T_EE}}, 2},
    {"NK", 0, T_S, {{T_E, T_ES}, {T_E, T_EE}}, 2},
    {"NX", 0, 0, {{T_E}, {T_E, T_EE, T_S, T_ES}}, 2},
    {"XN", 0, 0, {{T_E}, {T_E, T_EE}, {T_S, T_SE}}, 3},
    {"XK", 0, T_S, {{T_E, T_ES}, {T_E, T_EE}, {T_S, T_SE}}, 3},
    {"XX", 0, 0, {{T_E}, {T_E, T_EE, T_S, T_ES}, {T_S, T_SE}}, 3},
    {"KN", T_S, 0, {{T_E}, {T_E, T_EE, T_SE}}, 2},
    {"KK", T_S, T_S, {{T_E, T_ES, T_SS}, {T_E, T_EE, T_SE}}, 2},
    {"KX", T_S, 0, {{T_E}, {T_E, T_EE, T_SE, T_S, T_ES}}, 2},
    {"IN", 0, 0, {{T_E, T_S}, {T_E, T_EE, T_SE}}, 2},
    {"IK", 0, T_S, {{T_E, T_ES, T_S, T_SS}, {T_E, T_EE, T_SE}}, 2},
    {"IX", 0, 0, {{T_E, T_S}, {T_E, T_EE, T_SE, T_S, T_ES}}, 2},
};

/* ---- HandshakeState (spec 5.2, 5.3) ---- */

struct net_noise_hs {
  pattern pat; /* with psk tokens inserted */
  bool initiator, psk_mode, one_way;
  uint8_t msg; /* next message index */
  /* SymmetricState */
  uint8_t ck[HASHLEN], h[HASHLEN];
  net_noise_cs cs;
  /* keys */
  uint8_t s[DHLEN], s_pub[DHLEN], e[DHLEN], e_pub[DHLEN];
  uint8_t rs[DHLEN], re[DHLEN], psk[KEYLEN];
  bool has_s, has_e, has_rs, has_re, has_psk, e_fixed;
};

static void mix_hash(net_noise_hs *hs, const uint8_t *d, size_t n)
{
  uint8_t h[HASHLEN];
  hash2(hs->h, HASHLEN, d, n, h);
  memcpy(hs->h, h, HASHLEN);
}

static void mix_key(net_noise_hs *hs, const uint8_t *ikm, size_t n)
{
  uint8_t ck[HASHLEN], k[HASHLEN];
  hkdf(hs->ck, ikm, n, ck, k, NULL);
  memcpy(hs->ck, ck, HASHLEN);
  cs_init_key(&hs->cs, k); /* truncated to 32 bytes (HASHLEN 64) */
  sodium_memzero(ck, sizeof ck);
  sodium_memzero(k, sizeof k);
}

static void mix_key_and_hash(net_noise_hs *hs, const uint8_t *ikm, size_t n)
{
  uint8_t ck[HASHLEN], th[HASHLEN], k[HASHLEN];
  hkdf(hs->ck, ikm, n, ck, th, k);
  memcpy(hs->ck, ck, HASHLEN);
  mix_hash(hs, th, HASHLEN);
  cs_init_key(&hs->cs, k);
  sodium_memzero(ck, sizeof ck);
  sodium_memzero(th, sizeof th);
  sodium_memzero(k, sizeof k);
}

static gs_err encrypt_and_hash(net_noise_hs *hs, const uint8_t *pt, size_t n,
                               uint8_t *out, size_t cap, size_t *outlen)
{
  gs_err err = cs_encrypt_ad(&hs->cs, hs->h, HASHLEN, pt, n, out, cap,
                             outlen);
  if (!err)
    mix_hash(hs, out, *outlen);
  return err;
}

static gs_err decrypt_and_hash(net_noise_hs *hs, const uint8_t *ct, size_t n,
                               uint8_t *out, size_t cap, size_t *outlen)
{
  uint8_t h[HASHLEN];
  memcpy(h, hs->h, HASHLEN); /* the ad is h before mixing ct */
  mix_hash(hs, ct, n);
  return cs_decrypt_ad(&hs->cs, h, HASHLEN, ct, n, out, cap, outlen);
}

/* DH into a MixKey; a degenerate (all-zero) result is refused. */
static gs_err mix_dh(net_noise_hs *hs, const uint8_t priv[DHLEN],
                     const uint8_t pub[DHLEN])
{
  uint8_t shared[DHLEN];
  if (crypto_scalarmult(shared, priv, pub) != 0) {
    sodium_memzero(shared, sizeof shared);
    return GS_EHANDSHAKE;
  }
  mix_key(hs, shared, DHLEN);
  sodium_memzero(shared, sizeof shared);
  return GS_OK;
}

/* Parse "Noise_<pattern>_25519_ChaChaPoly_BLAKE2b" into hs->pat. */
static gs_err parse_name(net_noise_hs *hs, const char *name)
{
  static const char prefix[] = "Noise_", suffix[] = "_25519_ChaChaPoly_BLAKE2b";
  size_t n = strlen(name), pl = sizeof prefix - 1, sl = sizeof suffix - 1;
  if (n <= pl + sl || strncmp(name, prefix, pl) != 0 ||
      strcmp(name + n - sl, suffix) != 0)
    return GS_EINVAL;
  const char *p = name + pl, *end = name + n - sl;
  size_t bl = 0;
  while (p + bl < end && p[bl] >= 'A' && p[bl] <= 'Z')
    bl++;
  const pattern *base = NULL;
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    if (strlen(patterns[i].name) == bl &&
        strncmp(patterns[i].name, p, bl) == 0)
      base = &patterns[i];
  if (!base)
    return GS_EINVAL;
  hs->pat = *base;
  hs->one_way = base->nmsgs == 1 && strlen(base->name) == 1;
  p += bl;
  while (p < end) {
    /* modifiers: pskN, joined by '+' */
    if (end - p < 4 || strncmp(p, "psk", 3) != 0 || p[3] < '0' || p[3] > '9')
      return GS_EINVAL;
    unsigned k = (unsigned)(p[3] - '0');
    p += 4;
    if (p < end && *p != '+')
      return GS_EINVAL;
    if (p < end)
      p++;
    if (k > hs->pat.nmsgs)
      return GS_EINVAL;
    uint8_t *m = hs->pat.msgs[k == 0 ? 0 : k - 1];
    size_t len = 0;
    while (len < MAX_TOKENS && m[len] != T_END)
      len++;
    if (len + 1 >= MAX_TOKENS)
      return GS_EINVAL;
    if (k == 0) {
      memmove(m + 1, m, len);
      m[0] = T_PSK;
    } else {
      m[len] = T_PSK;
    }
    hs->psk_mode = true;
  }
  return GS_OK;
}

void net_noise_hs_free(net_noise_hs *hs)
{
  if (!hs)
    return;
  sodium_memzero(hs, sizeof *hs);
  free(hs);
}

gs_err net_noise_hs_new(net_noise_hs **out, const char *protocol_name,
                        bool initiator, const uint8_t *prologue,
                        size_t prologue_len, const uint8_t *s_priv,
                        const uint8_t *rs, const uint8_t *psk)
{
  net_noise_hs *hs = calloc(1, sizeof *hs);
  gs_err err = GS_EINVAL;
  *out = NULL;
  if (!hs)
    return GS_ENOMEM;
  if (parse_name(hs, protocol_name) != GS_OK)
    goto fail;
  hs->initiator = initiator;
  /* keys the pattern needs */
  bool need_s = false;
  for (int m = 0; m < hs->pat.nmsgs; m++)
    for (int t = 0; t < MAX_TOKENS; t++)
      if (hs->pat.msgs[m][t] == T_S && (m % 2 == 0) == initiator)
        need_s = true;
  if ((initiator ? hs->pat.pre_i : hs->pat.pre_r) == T_S)
    need_s = true;
  bool need_rs = (initiator ? hs->pat.pre_r : hs->pat.pre_i) == T_S;
  if ((need_s && !s_priv) || (need_rs && !rs) || (hs->psk_mode && !psk))
    goto fail;
  if (s_priv) {
    memcpy(hs->s, s_priv, DHLEN);
    crypto_scalarmult_base(hs->s_pub, hs->s);
    hs->has_s = true;
  }
  if (rs && need_rs) {
    memcpy(hs->rs, rs, DHLEN);
    hs->has_rs = true;
  }
  if (psk) {
    memcpy(hs->psk, psk, KEYLEN);
    hs->has_psk = true;
  }
  /* InitializeSymmetric */
  size_t nl = strlen(protocol_name);
  if (nl <= HASHLEN) {
    memset(hs->h, 0, HASHLEN);
    memcpy(hs->h, protocol_name, nl);
  } else {
    hash2((const uint8_t *)protocol_name, nl, NULL, 0, hs->h);
  }
  memcpy(hs->ck, hs->h, HASHLEN);
  mix_hash(hs, prologue, prologue_len);
  /* pre-messages: the initiator's, then the responder's */
  if (hs->pat.pre_i == T_S)
    mix_hash(hs, initiator ? hs->s_pub : hs->rs, DHLEN);
  if (hs->pat.pre_r == T_S)
    mix_hash(hs, initiator ? hs->rs : hs->s_pub, DHLEN);
  *out = hs;
  return GS_OK;
fail:
  net_noise_hs_free(hs);
  return err;
}

gs_err net_noise_hs_set_ephemeral(net_noise_hs *hs, const uint8_t e_priv[32])
{
  if (hs->has_e)
    return GS_EINVAL;
  memcpy(hs->e, e_priv, DHLEN);
  crypto_scalarmult_base(hs->e_pub, hs->e);
  hs->e_fixed = true;
  return GS_OK;
}

bool net_noise_hs_done(const net_noise_hs *hs)
{
  return hs->msg >= hs->pat.nmsgs;
}

bool net_noise_hs_my_turn(const net_noise_hs *hs)
{
  return !net_noise_hs_done(hs) && (hs->msg % 2 == 0) == hs->initiator;
}

const uint8_t *net_noise_hs_remote_static(const net_noise_hs *hs)
{
  return hs->has_rs ? hs->rs : NULL;
}

void net_noise_hs_hash(const net_noise_hs *hs, uint8_t out[NET_NOISE_HASH_LEN])
{
  memcpy(out, hs->h, HASHLEN);
}

/* The DH of token t from this side's point of view. */
static gs_err token_dh(net_noise_hs *hs, int t)
{
  bool i = hs->initiator;
  switch (t) {
  case T_EE:
    return hs->has_e && hs->has_re ? mix_dh(hs, hs->e, hs->re) : GS_EINVAL;
  case T_ES: /* initiator's e with responder's s */
    if (i)
      return hs->has_e && hs->has_rs ? mix_dh(hs, hs->e, hs->rs) : GS_EINVAL;
    return hs->has_s && hs->has_re ? mix_dh(hs, hs->s, hs->re) : GS_EINVAL;
  case T_SE: /* initiator's s with responder's e */
    if (i)
      return hs->has_s && hs->has_re ? mix_dh(hs, hs->s, hs->re) : GS_EINVAL;
    return hs->has_e && hs->has_rs ? mix_dh(hs, hs->e, hs->rs) : GS_EINVAL;
  case T_SS:
    return hs->has_s && hs->has_rs ? mix_dh(hs, hs->s, hs->rs) : GS_EINVAL;
  case T_PSK:
    mix_key_and_hash(hs, hs->psk, KEYLEN);
    return GS_OK;
  }
  return GS_EINVAL;
}

gs_err net_noise_hs_write(net_noise_hs *hs, const uint8_t *payload,
                          size_t plen, uint8_t *out, size_t cap,
                          size_t *outlen)
{
  size_t off = 0, n;
  gs_err err;
  if (!net_noise_hs_my_turn(hs))
    return GS_EINVAL;
  if (cap > NET_NOISE_MSG_MAX)
    cap = NET_NOISE_MSG_MAX;
  const uint8_t *tok = hs->pat.msgs[hs->msg];
  for (int k = 0; k < MAX_TOKENS && tok[k] != T_END; k++) {
    switch (tok[k]) {
    case T_E:
      if (!hs->e_fixed) {
        crypto_box_keypair(hs->e_pub, hs->e);
      }
      hs->has_e = true;
      if (off + DHLEN > cap)
        return GS_ETOOBIG;
      memcpy(out + off, hs->e_pub, DHLEN);
      off += DHLEN;
      mix_hash(hs, hs->e_pub, DHLEN);
      if (hs->psk_mode)
        mix_key(hs, hs->e_pub, DHLEN);
      break;
    case T_S:
      if (!hs->has_s)
        return GS_EINVAL;
      if ((err = encrypt_and_hash(hs, hs->s_pub, DHLEN, out + off, cap - off,
                                  &n)) != GS_OK)
        return err;
      off += n;
      break;
    default:
      if ((err = token_dh(hs, tok[k])) != GS_OK)
        return err;
    }
  }
  if ((err = encrypt_and_hash(hs, payload, plen, out + off, cap - off, &n)))
    return err;
  *outlen = off + n;
  hs->msg++;
  return GS_OK;
}

gs_err net_noise_hs_read(net_noise_hs *hs, const uint8_t *msg, size_t len,
                         uint8_t *payload, size_t cap, size_t *plen)
{
  size_t off = 0, n;
  gs_err err;
  if (net_noise_hs_done(hs) || net_noise_hs_my_turn(hs))
    return GS_EINVAL;
  if (len > NET_NOISE_MSG_MAX)
    return GS_ETOOBIG;
  const uint8_t *tok = hs->pat.msgs[hs->msg];
  for (int k = 0; k < MAX_TOKENS && tok[k] != T_END; k++) {
    switch (tok[k]) {
    case T_E:
      if (len - off < DHLEN)
        return GS_EHANDSHAKE;
      memcpy(hs->re, msg + off, DHLEN);
      hs->has_re = true;
      off += DHLEN;
      mix_hash(hs, hs->re, DHLEN);
      if (hs->psk_mode)
        mix_key(hs, hs->re, DHLEN);
      break;
    case T_S: {
      size_t sl = DHLEN + (hs->cs.has_key ? TAGLEN : 0);
      uint8_t rs[DHLEN];
      if (len - off < sl)
        return GS_EHANDSHAKE;
      if ((err = decrypt_and_hash(hs, msg + off, sl, rs, DHLEN, &n)) != GS_OK)
        return GS_EHANDSHAKE;
      memcpy(hs->rs, rs, DHLEN);
      hs->has_rs = true;
      off += sl;
      break;
    }
    default:
      if ((err = token_dh(hs, tok[k])) != GS_OK)
        return err == GS_EINVAL ? GS_EHANDSHAKE : err;
    }
  }
  if ((err = decrypt_and_hash(hs, msg + off, len - off, payload, cap, plen)))
    return err;
  hs->msg++;
  return GS_OK;
}

gs_err net_noise_hs_split(net_noise_hs *hs, net_noise_cs **tx,
                          net_noise_cs **rx)
{
  uint8_t k1[HASHLEN], k2[HASHLEN];
  *tx = *rx = NULL;
  if (!net_noise_hs_done(hs))
    return GS_EINVAL;
  net_noise_cs *c1 = calloc(1, sizeof *c1), *c2 = calloc(1, sizeof *c2);
  if (!c1 || !c2) {
    free(c1);
    free(c2);
    return GS_ENOMEM;
  }
  static const uint8_t empty[1];
  hkdf(hs->ck, empty, 0, k1, k2, NULL);
  cs_init_key(c1, k1); /* initiator -> responder */
  cs_init_key(c2, k2);
  sodium_memzero(k1, sizeof k1);
  sodium_memzero(k2, sizeof k2);
  *tx = hs->initiator ? c1 : c2;
  *rx = hs->initiator ? c2 : c1;
  return GS_OK;
}

gs_err net__noise_cs_from_key(const uint8_t k[32], net_noise_cs **out)
{
  net_noise_cs *cs = calloc(1, sizeof *cs);
  *out = cs;
  if (!cs)
    return GS_ENOMEM;
  cs_init_key(cs, k);
  return GS_OK;
}
