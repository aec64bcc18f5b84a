/* Noise handshakes and transport ciphers (see noise.h), written from the
 * Noise Protocol Framework specification, revision 34: CipherState (5.1),
 * SymmetricState (5.2), HandshakeState (5.3), the patterns of sections
 * 7.4, 7.5 and 18.1, the psk modifiers of section 9, and the 25519,
 * ChaChaPoly and BLAKE2b functions of section 12. */
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
#define NONCE_MAX UINT64_MAX /* reserved by the spec: never used */

/* ---- HASH, HMAC-HASH, HKDF (spec 4.3, RFC 2104) ---- */

/* BLAKE2b-512 of a || b. */
static void hash2(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                  uint8_t out[HASHLEN])
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, HASHLEN);
  if (an)
    crypto_generichash_update(&st, a, an);
  if (bn)
    crypto_generichash_update(&st, b, bn);
  crypto_generichash_final(&st, out, HASHLEN);
  sodium_memzero(&st, sizeof st);
}

/* HMAC-BLAKE2b (RFC 2104, block 128 bytes) with a HASHLEN-byte key over
 * data = a || b. */
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
  if (an)
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

/* HKDF(chaining_key, ikm) with two or three outputs (o3 may be NULL). */
static void hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t n,
                 uint8_t o1[HASHLEN], uint8_t o2[HASHLEN],
                 uint8_t o3[HASHLEN])
{
  uint8_t tk[HASHLEN];
  static const uint8_t one = 1, two = 2, three = 3;
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

/* InitializeKey: the first KEYLEN bytes of k (HASHLEN outputs are
 * truncated, spec 5.2). */
static void cs_init_key(net_noise_cs *cs, const uint8_t *k)
{
  memcpy(cs->k, k, KEYLEN);
  cs->has_key = true;
  cs->n = 0;
}

/* ChaChaPoly nonce: 4 zero bytes, then n as 64-bit little-endian. */
static void nonce_bytes(uint64_t n, uint8_t out[12])
{
  memset(out, 0, 4);
  for (int i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd: n bytes of pt into out (cap bytes); plaintext is copied
 * while there is no key. */
static gs_err cs_encrypt_ad(net_noise_cs *cs, const uint8_t *ad, size_t adn,
                            const uint8_t *pt, size_t n, uint8_t *out,
                            size_t cap, size_t *outlen)
{
  if (!cs->has_key) {
    if (n > cap)
      return GS_ETOOBIG;
    if (n)
      memmove(out, pt, n);
    *outlen = n;
    return GS_OK;
  }
  if (cap < TAGLEN || n > cap - TAGLEN)
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

/* DecryptWithAd: GS_EHANDSHAKE when authentication fails (n stays). */
static gs_err cs_decrypt_ad(net_noise_cs *cs, const uint8_t *ad, size_t adn,
                            const uint8_t *ct, size_t n, uint8_t *out,
                            size_t cap, size_t *outlen)
{
  if (!cs->has_key) {
    if (n > cap)
      return GS_ETOOBIG;
    if (n)
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
  if (!cs || !outlen || (n && !pt) || !out)
    return GS_EINVAL;
  if (n > NET_NOISE_MSG_MAX - TAGLEN)
    return GS_ETOOBIG;
  return cs_encrypt_ad(cs, NULL, 0, pt, n, out, cap, outlen);
}

gs_err net_noise_cs_decrypt(net_noise_cs *cs, const uint8_t *ct, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen)
{
  if (!cs || !outlen || (n && !ct) || (!out && cap))
    return GS_EINVAL;
  if (n > NET_NOISE_MSG_MAX)
    return GS_ETOOBIG;
  if (n < TAGLEN)
    return GS_ECRYPTO;
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

gs_err net__noise_cs_from_key(const uint8_t k[32], net_noise_cs **out)
{
  net_noise_cs *cs = calloc(1, sizeof *cs);
  *out = cs;
  if (!cs)
    return GS_ENOMEM;
  cs_init_key(cs, k);
  return GS_OK;
}

void net__noise_cs_set_nonce(net_noise_cs *cs, uint64_t n)
{
  cs->n = n;
}

/* ---- handshake patterns (spec 7.4, 7.5, 18.1) ---- */

enum { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };
#define MAX_MSGS 4
#define MAX_TOKENS 8

/* A pattern: its pre-messages (T_S or T_END for each side) and message
 * token lists; message m is the initiator's when m is even. */
typedef struct pattern {
  const char *name;
  uint8_t pre_i, pre_r;
  uint8_t msgs[MAX_MSGS][MAX_TOKENS];
  uint8_t nmsgs;
} pattern;

#define E T_E
#define S T_S
#define EE T_EE
#define ES T_ES
#define SE T_SE
#define SS T_SS
static const pattern patterns[] = {
    /* one-way (7.4) */
    {"N", 0, S, {{E, ES}}, 1},
    {"K", S, S, {{E, ES, SS}}, 1},
    {"X", 0, S, {{E, ES, S, SS}}, 1},
    /* interactive, fundamental (7.5) */
    {"NN", 0, 0, {{E}, {E, EE}}, 2},
    {"NK", 0, S, {{E, ES}, {E, EE}}, 2},
    {"NX", 0, 0, {{E}, {E, EE, S, ES}}, 2},
    {"XN", 0, 0, {{E}, {E, EE}, {S, SE}}, 3},
    {"XK", 0, S, {{E, ES}, {E, EE}, {S, SE}}, 3},
    {"XX", 0, 0, {{E}, {E, EE, S, ES}, {S, SE}}, 3},
    {"KN", S, 0, {{E}, {E, EE, SE}}, 2},
    {"KK", S, S, {{E, ES, SS}, {E, EE, SE}}, 2},
    {"KX", S, 0, {{E}, {E, EE, SE, S, ES}}, 2},
    {"IN", 0, 0, {{E, S}, {E, EE, SE}}, 2},
    {"IK", 0, S, {{E, ES, S, SS}, {E, EE, SE}}, 2},
    {"IX", 0, 0, {{E, S}, {E, EE, SE, S, ES}}, 2},
    /* interactive, deferred (18.1) */
    {"NK1", 0, S, {{E}, {E, EE, ES}}, 2},
    {"NX1", 0, 0, {{E}, {E, EE, S}, {ES}}, 3},
    {"X1N", 0, 0, {{E}, {E, EE}, {S}, {SE}}, 4},
    {"X1K", 0, S, {{E, ES}, {E, EE}, {S}, {SE}}, 4},
    {"XK1", 0, S, {{E}, {E, EE, ES}, {S, SE}}, 3},
    {"X1K1", 0, S, {{E}, {E, EE, ES}, {S}, {SE}}, 4},
    {"X1X", 0, 0, {{E}, {E, EE, S, ES}, {S}, {SE}}, 4},
    {"XX1", 0, 0, {{E}, {E, EE, S}, {ES, S, SE}}, 3},
    {"X1X1", 0, 0, {{E}, {E, EE, S}, {ES, S}, {SE}}, 4},
    {"K1N", S, 0, {{E}, {E, EE}, {SE}}, 3},
    {"K1K", S, S, {{E, ES}, {E, EE}, {SE}}, 3},
    {"KK1", S, S, {{E}, {E, EE, SE, ES}}, 2},
    {"K1K1", S, S, {{E}, {E, EE, ES}, {SE}}, 3},
    {"K1X", S, 0, {{E}, {E, EE, S, ES}, {SE}}, 3},
    {"KX1", S, 0, {{E}, {E, EE, SE, S}, {ES}}, 3},
    {"K1X1", S, 0, {{E}, {E, EE, S}, {SE, ES}}, 3},
    {"I1N", 0, 0, {{E, S}, {E, EE}, {SE}}, 3},
    {"I1K", 0, S, {{E, ES, S}, {E, EE}, {SE}}, 3},
    {"IK1", 0, S, {{E, S}, {E, EE, SE, ES}}, 2},
    {"I1K1", 0, S, {{E, S}, {E, EE, ES}, {SE}}, 3},
    {"I1X", 0, 0, {{E, S}, {E, EE, S, ES}, {SE}}, 3},
    {"IX1", 0, 0, {{E, S}, {E, EE, SE, S}, {ES}}, 3},
    {"I1X1", 0, 0, {{E, S}, {E, EE, S}, {SE, ES}}, 3},
};
#undef E
#undef S
#undef EE
#undef ES
#undef SE
#undef SS

/* ---- HandshakeState with its SymmetricState (spec 5.2, 5.3) ---- */

struct net_noise_hs {
  pattern pat; /* with the psk tokens inserted */
  bool initiator, psk_mode;
  bool dead;  /* a message failed half-way: only free is left */
  bool split; /* Split() happened: the secrets are gone */
  uint8_t msg; /* index of the next message */
  /* SymmetricState */
  uint8_t ck[HASHLEN], h[HASHLEN];
  net_noise_cs cs;
  /* key pairs (private, public) and remote public keys */
  uint8_t s[DHLEN], s_pub[DHLEN], e[DHLEN], e_pub[DHLEN];
  uint8_t rs[DHLEN], re[DHLEN], psk[KEYLEN];
  bool has_s, has_e, has_rs, has_re, e_fixed;
};

static void mix_hash(net_noise_hs *hs, const uint8_t *d, size_t n)
{
  hash2(hs->h, HASHLEN, d, n, hs->h);
}

static void mix_key(net_noise_hs *hs, const uint8_t *ikm, size_t n)
{
  uint8_t ck[HASHLEN], k[HASHLEN];
  hkdf(hs->ck, ikm, n, ck, k, NULL);
  memcpy(hs->ck, ck, HASHLEN);
  cs_init_key(&hs->cs, k);
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
  uint8_t ad[HASHLEN];
  memcpy(ad, hs->h, HASHLEN); /* the ad is h before ct is mixed in */
  mix_hash(hs, ct, n);
  return cs_decrypt_ad(&hs->cs, ad, HASHLEN, ct, n, out, cap, outlen);
}

/* MixKey(DH(priv, pub)); an all-zero result (a low-order public key) is
 * refused. */
static gs_err mix_dh(net_noise_hs *hs, const uint8_t priv[DHLEN],
                     const uint8_t pub[DHLEN])
{
  uint8_t shared[DHLEN];
  gs_err err = GS_EHANDSHAKE;
  if (crypto_scalarmult(shared, priv, pub) == 0) {
    mix_key(hs, shared, DHLEN);
    err = GS_OK;
  }
  sodium_memzero(shared, sizeof shared);
  return err;
}

/* Parse "Noise_<pattern><modifiers>_25519_ChaChaPoly_BLAKE2b", modifiers
 * being pskN joined by '+', into hs->pat and hs->psk_mode. */
static gs_err parse_name(net_noise_hs *hs, const char *name)
{
  static const char prefix[] = "Noise_", suffix[] = "_25519_ChaChaPoly_BLAKE2b";
  size_t n = strlen(name), pl = sizeof prefix - 1, sl = sizeof suffix - 1;
  if (n <= pl + sl || strncmp(name, prefix, pl) != 0 ||
      strcmp(name + n - sl, suffix) != 0)
    return GS_EINVAL;
  const char *p = name + pl, *end = name + n - sl;
  size_t bl = 0;
  while (p + bl < end &&
         ((p[bl] >= 'A' && p[bl] <= 'Z') || (p[bl] >= '0' && p[bl] <= '9')))
    bl++;
  const pattern *base = NULL;
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    if (strlen(patterns[i].name) == bl &&
        strncmp(patterns[i].name, p, bl) == 0)
      base = &patterns[i];
  if (!base)
    return GS_EINVAL;
  hs->pat = *base;
  p += bl;
  unsigned seen = 0; /* bit k: pskk already placed */
  while (p < end) {
    if (end - p < 4 || strncmp(p, "psk", 3) != 0 || p[3] < '0' || p[3] > '9')
      return GS_EINVAL;
    unsigned k = (unsigned)(p[3] - '0');
    p += 4;
    if (p < end && (*p != '+' || p + 1 == end))
      return GS_EINVAL;
    if (p < end)
      p++;
    if (k > hs->pat.nmsgs || (seen & (1u << k)))
      return GS_EINVAL;
    seen |= 1u << k;
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

/* Whether this side sends message m. */
static bool sends(const net_noise_hs *hs, unsigned m)
{
  return (m % 2 == 0) == hs->initiator;
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
  if (!out)
    return GS_EINVAL;
  *out = NULL;
  if (!protocol_name || (prologue_len && !prologue))
    return GS_EINVAL;
  net_noise_hs *hs = calloc(1, sizeof *hs);
  if (!hs)
    return GS_ENOMEM;
  if (parse_name(hs, protocol_name) != GS_OK)
    goto fail;
  hs->initiator = initiator;
  /* the keys the pattern needs: s if this side sends or pre-shares it, rs
   * if the other side pre-shares it, psk in psk mode */
  bool need_s = (initiator ? hs->pat.pre_i : hs->pat.pre_r) == T_S;
  for (unsigned m = 0; m < hs->pat.nmsgs; m++)
    for (unsigned t = 0; t < MAX_TOKENS; t++)
      if (hs->pat.msgs[m][t] == T_S && sends(hs, m))
        need_s = true;
  bool need_rs = (initiator ? hs->pat.pre_r : hs->pat.pre_i) == T_S;
  if ((need_s && !s_priv) || (need_rs && !rs) || (hs->psk_mode && !psk))
    goto fail;
  if (s_priv && need_s) {
    memcpy(hs->s, s_priv, DHLEN);
    crypto_scalarmult_base(hs->s_pub, hs->s);
    hs->has_s = true;
  }
  if (need_rs) {
    memcpy(hs->rs, rs, DHLEN);
    hs->has_rs = true;
  }
  if (hs->psk_mode)
    memcpy(hs->psk, psk, KEYLEN);
  /* InitializeSymmetric(protocol_name) */
  size_t nl = strlen(protocol_name);
  if (nl <= HASHLEN)
    memcpy(hs->h, protocol_name, nl); /* zero-padded by calloc */
  else
    hash2((const uint8_t *)protocol_name, nl, NULL, 0, hs->h);
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
  return GS_EINVAL;
}

gs_err net_noise_hs_set_ephemeral(net_noise_hs *hs, const uint8_t e_priv[32])
{
  if (!hs || !e_priv || hs->has_e || hs->dead || hs->split)
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
  return !hs->dead && !net_noise_hs_done(hs) && sends(hs, hs->msg);
}

const uint8_t *net_noise_hs_remote_static(const net_noise_hs *hs)
{
  return hs->has_rs ? hs->rs : NULL;
}

void net_noise_hs_hash(const net_noise_hs *hs, uint8_t out[NET_NOISE_HASH_LEN])
{
  memcpy(out, hs->h, HASHLEN);
}

/* The bytes the next message carries before its payload, and whether its
 * payload is encrypted: HasKey() followed through the tokens. Lets write
 * and read check every length before changing any state. */
static size_t msg_overhead(const net_noise_hs *hs, bool *keyed)
{
  const uint8_t *tok = hs->pat.msgs[hs->msg];
  bool key = hs->cs.has_key;
  size_t n = 0;
  for (unsigned k = 0; k < MAX_TOKENS && tok[k] != T_END; k++) {
    if (tok[k] == T_E) {
      n += DHLEN;
      key = key || hs->psk_mode; /* MixKey(e.public_key) */
    } else if (tok[k] == T_S) {
      n += DHLEN + (key ? TAGLEN : 0);
    } else {
      key = true; /* a DH or psk token: MixKey / MixKeyAndHash */
    }
  }
  *keyed = key;
  return n;
}

/* The DH of token t from this side's point of view. */
static gs_err token_dh(net_noise_hs *hs, uint8_t t)
{
  const uint8_t *priv = NULL, *pub = NULL;
  bool i = hs->initiator;
  switch (t) {
  case T_EE:
    priv = hs->has_e ? hs->e : NULL;
    pub = hs->has_re ? hs->re : NULL;
    break;
  case T_ES: /* the initiator's e with the responder's s */
    priv = i ? (hs->has_e ? hs->e : NULL) : (hs->has_s ? hs->s : NULL);
    pub = i ? (hs->has_rs ? hs->rs : NULL) : (hs->has_re ? hs->re : NULL);
    break;
  case T_SE: /* the initiator's s with the responder's e */
    priv = i ? (hs->has_s ? hs->s : NULL) : (hs->has_e ? hs->e : NULL);
    pub = i ? (hs->has_re ? hs->re : NULL) : (hs->has_rs ? hs->rs : NULL);
    break;
  case T_SS:
    priv = hs->has_s ? hs->s : NULL;
    pub = hs->has_rs ? hs->rs : NULL;
    break;
  case T_PSK:
    mix_key_and_hash(hs, hs->psk, KEYLEN);
    return GS_OK;
  }
  if (!priv || !pub)
    return GS_EHANDSHAKE; /* cannot happen for a valid pattern */
  return mix_dh(hs, priv, pub);
}

gs_err net_noise_hs_write(net_noise_hs *hs, const uint8_t *payload,
                          size_t plen, uint8_t *out, size_t cap,
                          size_t *outlen)
{
  size_t off = 0, n;
  gs_err err;
  bool keyed;
  if (!hs || !out || !outlen || (plen && !payload) || hs->split ||
      !net_noise_hs_my_turn(hs))
    return GS_EINVAL;
  size_t limit = cap < NET_NOISE_MSG_MAX ? cap : NET_NOISE_MSG_MAX;
  size_t fixed = msg_overhead(hs, &keyed) + (keyed ? TAGLEN : 0);
  if (fixed > limit || plen > limit - fixed)
    return GS_ETOOBIG;
  const uint8_t *tok = hs->pat.msgs[hs->msg];
  for (unsigned k = 0; k < MAX_TOKENS && tok[k] != T_END; k++) {
    switch (tok[k]) {
    case T_E:
      if (!hs->e_fixed)
        crypto_box_keypair(hs->e_pub, hs->e);
      hs->has_e = true;
      memcpy(out + off, hs->e_pub, DHLEN);
      off += DHLEN;
      mix_hash(hs, hs->e_pub, DHLEN);
      if (hs->psk_mode)
        mix_key(hs, hs->e_pub, DHLEN);
      break;
    case T_S:
      err = encrypt_and_hash(hs, hs->s_pub, DHLEN, out + off, limit - off,
                             &n);
      if (err)
        goto fail;
      off += n;
      break;
    default:
      if ((err = token_dh(hs, tok[k])) != GS_OK)
        goto fail;
    }
  }
  err = encrypt_and_hash(hs, payload, plen, out + off, limit - off, &n);
  if (err)
    goto fail;
  *outlen = off + n;
  hs->msg++;
  return GS_OK;
fail:
  hs->dead = true;
  return err;
}

gs_err net_noise_hs_read(net_noise_hs *hs, const uint8_t *msg, size_t len,
                         uint8_t *payload, size_t cap, size_t *plen)
{
  size_t off = 0, n;
  gs_err err;
  bool keyed;
  if (!hs || (len && !msg) || (cap && !payload) || !plen || hs->split ||
      hs->dead || net_noise_hs_done(hs) || sends(hs, hs->msg))
    return GS_EINVAL;
  if (len > NET_NOISE_MSG_MAX)
    return GS_ETOOBIG;
  size_t fixed = msg_overhead(hs, &keyed) + (keyed ? TAGLEN : 0);
  if (len < fixed) {
    hs->dead = true;
    return GS_EHANDSHAKE;
  }
  if (len - fixed > cap)
    return GS_ETOOBIG;
  const uint8_t *tok = hs->pat.msgs[hs->msg];
  for (unsigned k = 0; k < MAX_TOKENS && tok[k] != T_END; k++) {
    switch (tok[k]) {
    case T_E:
      memcpy(hs->re, msg + off, DHLEN);
      hs->has_re = true;
      off += DHLEN;
      mix_hash(hs, hs->re, DHLEN);
      if (hs->psk_mode)
        mix_key(hs, hs->re, DHLEN);
      break;
    case T_S: {
      size_t sl = DHLEN + (hs->cs.has_key ? TAGLEN : 0);
      err = decrypt_and_hash(hs, msg + off, sl, hs->rs, DHLEN, &n);
      if (err) {
        err = GS_EHANDSHAKE;
        goto fail;
      }
      hs->has_rs = true;
      off += sl;
      break;
    }
    default:
      if ((err = token_dh(hs, tok[k])) != GS_OK)
        goto fail;
    }
  }
  err = decrypt_and_hash(hs, msg + off, len - off, payload, cap, plen);
  if (err)
    goto fail;
  hs->msg++;
  return GS_OK;
fail:
  hs->dead = true;
  return err;
}

gs_err net_noise_hs_split(net_noise_hs *hs, net_noise_cs **tx,
                          net_noise_cs **rx)
{
  uint8_t k1[HASHLEN], k2[HASHLEN];
  if (!tx || !rx)
    return GS_EINVAL;
  *tx = *rx = NULL;
  if (!hs || hs->dead || hs->split || !net_noise_hs_done(hs))
    return GS_EINVAL;
  bool one_way = hs->pat.nmsgs == 1;
  net_noise_cs *c1 = calloc(1, sizeof *c1);
  net_noise_cs *c2 = one_way ? NULL : calloc(1, sizeof *c2);
  if (!c1 || (!one_way && !c2)) {
    free(c1);
    free(c2);
    return GS_ENOMEM;
  }
  hkdf(hs->ck, NULL, 0, k1, k2, NULL);
  cs_init_key(c1, k1); /* initiator to responder */
  if (c2)
    cs_init_key(c2, k2); /* responder to initiator */
  sodium_memzero(k1, sizeof k1);
  sodium_memzero(k2, sizeof k2);
  *tx = hs->initiator ? c1 : c2;
  *rx = hs->initiator ? c2 : c1;
  /* Only h (channel binding) and rs are of use from here on. */
  hs->split = true;
  sodium_memzero(hs->ck, sizeof hs->ck);
  sodium_memzero(&hs->cs, sizeof hs->cs);
  sodium_memzero(hs->s, sizeof hs->s);
  sodium_memzero(hs->e, sizeof hs->e);
  sodium_memzero(hs->psk, sizeof hs->psk);
  hs->has_s = hs->has_e = false;
  return GS_OK;
}
