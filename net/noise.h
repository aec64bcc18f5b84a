/*
 * Noise Protocol Framework (revision 34) handshakes and transport
 * ciphers, on libsodium: DH 25519, cipher ChaChaPoly (IETF
 * ChaCha20-Poly1305, nonce = 4 zero bytes + 64-bit little-endian
 * counter), hash BLAKE2b (HASHLEN 64, BLOCKLEN 128) with HMAC (RFC 2104)
 * and HKDF as the specification's section 4.3 defines them.
 *
 * Patterns: the one-way N, K, X; the interactive NN, NK, NX, XN, XK, XX,
 * KN, KK, KX, IN, IK, IX; the deferred NK1, NX1, X1N, X1K, XK1, X1K1,
 * X1X, XX1, X1X1, K1N, K1K, KK1, K1K1, K1X, KX1, K1X1, I1N, I1K, IK1,
 * I1K1, I1X, IX1, I1X1; each with psk modifiers (pskN, joined by '+', one
 * PSK used for every psk token). gridsync uses
 * Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b (protocol 3; XXpsk3 before).
 *
 * Use: net_noise_hs_new, then net_noise_hs_write / net_noise_hs_read in
 * the pattern's order (net_noise_hs_my_turn says which) until
 * net_noise_hs_done, then net_noise_hs_split for the transport ciphers.
 *
 * libsodium must be initialised first (crdt_crypto_init). Ephemeral keys
 * come from libsodium's RNG.
 *
 * Ownership: every input is copied or only read during the call; the
 * handshake owns its keys and wipes them (sodium_memzero) on split and on
 * free; a cipher state wipes its key on free.
 *
 * Errors (gs_err): GS_EINVAL (bad protocol name, a key the pattern needs
 * is missing, a call out of turn or after a failure or after split),
 * GS_ETOOBIG (a message over 65535 bytes, or a caller's buffer too
 * small; nothing changes), GS_EHANDSHAKE (a handshake message that fails
 * to authenticate or is too short, a low-order public key), GS_ECRYPTO (a
 * transport message that fails to authenticate, an exhausted nonce).
 */
#ifndef GS_NET_NOISE_H
#define GS_NET_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

#define NET_NOISE_MSG_MAX 65535 /* any Noise message, tag included */
#define NET_NOISE_KEY_LEN 32    /* X25519 keys and the PSK */
#define NET_NOISE_HASH_LEN 64   /* the handshake hash */
#define NET_NOISE_TAG_LEN 16    /* added by every encryption */

typedef struct net_noise_hs net_noise_hs;
typedef struct net_noise_cs net_noise_cs;

/* A handshake for protocol_name (e.g.
 * "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b") as initiator or responder.
 * prologue (prologue_len bytes, may be NULL when 0) must be the same on
 * both sides. s_priv: this side's static X25519 secret, required when the
 * pattern sends or pre-shares it (else ignored, may be NULL); rs: the
 * remote static public key, required when the pattern pre-shares it (else
 * ignored); psk: 32 bytes, required with psk modifiers (else ignored).
 * All are copied. *out gets the handshake (caller frees it with
 * net_noise_hs_free), or NULL on error. */
gs_err net_noise_hs_new(net_noise_hs **out, const char *protocol_name,
                        bool initiator, const uint8_t *prologue,
                        size_t prologue_len, const uint8_t *s_priv,
                        const uint8_t *rs, const uint8_t *psk);
/* Tests only (fixed vectors): use e_priv as this side's ephemeral secret
 * instead of a fresh random one. Only before this side's "e" is sent. */
gs_err net_noise_hs_set_ephemeral(net_noise_hs *hs, const uint8_t e_priv[32]);
/* Write this side's next handshake message carrying payload (plen bytes,
 * unencrypted in messages sent before any key is mixed, e.g. XX message 1)
 * into out (cap bytes; out must not overlap payload); *outlen gets its
 * length. A message over NET_NOISE_MSG_MAX or cap is refused with
 * GS_ETOOBIG before anything changes; any other failure leaves the
 * handshake dead (only net_noise_hs_free is left). */
gs_err net_noise_hs_write(net_noise_hs *hs, const uint8_t *payload,
                          size_t plen, uint8_t *out, size_t cap,
                          size_t *outlen);
/* Read the other side's next handshake message msg (len bytes); its
 * payload goes to payload (cap bytes), *plen gets its length. GS_EINVAL
 * out of turn and GS_ETOOBIG (len over NET_NOISE_MSG_MAX, payload over
 * cap) change nothing; on any other error (GS_EHANDSHAKE) the handshake
 * is dead: free it and drop the connection. */
gs_err net_noise_hs_read(net_noise_hs *hs, const uint8_t *msg, size_t len,
                         uint8_t *payload, size_t cap, size_t *plen);
/* true when every message of the pattern has been written or read. */
bool net_noise_hs_done(const net_noise_hs *hs);
/* true when it is this side's turn to write (false once done or dead). */
bool net_noise_hs_my_turn(const net_noise_hs *hs);
/* Once done, Split(): the transport ciphers for sending (*tx) and
 * receiving (*rx), owned by the caller (net_noise_cs_free). In a one-way
 * pattern (N, K, X) only the initiator sends: the initiator's *rx and the
 * responder's *tx are NULL. Works once; then the handshake's secrets are
 * wiped and only net_noise_hs_hash, net_noise_hs_remote_static and
 * net_noise_hs_free remain of use. */
gs_err net_noise_hs_split(net_noise_hs *hs, net_noise_cs **tx,
                          net_noise_cs **rx);
/* The remote static public key (32 bytes) once known, else NULL; borrowed,
 * valid until net_noise_hs_free. Authenticated only once the handshake is
 * done. */
const uint8_t *net_noise_hs_remote_static(const net_noise_hs *hs);
/* The handshake hash h into out (NET_NOISE_HASH_LEN bytes): once done,
 * the same on both sides and unique to this session (channel binding,
 * spec 11.2); also valid after split. */
void net_noise_hs_hash(const net_noise_hs *hs,
                       uint8_t out[NET_NOISE_HASH_LEN]);
/* Wipe and free; NULL does nothing. */
void net_noise_hs_free(net_noise_hs *hs);

/* Transport: encrypt pt (n bytes; n + 16 <= NET_NOISE_MSG_MAX, else
 * GS_ETOOBIG) into out (cap >= n + 16, else GS_ETOOBIG; out must not
 * overlap pt) with empty associated data; *outlen = n + 16. Each call
 * uses the next nonce; the last nonce (2^64 - 1) is never used: from
 * there on GS_ECRYPTO. */
gs_err net_noise_cs_encrypt(net_noise_cs *cs, const uint8_t *pt, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen);
/* Decrypt ct (n bytes, at most NET_NOISE_MSG_MAX) into out (cap >= n -
 * 16; out must not overlap ct); *outlen = n - 16. Messages must arrive
 * in order: each success moves to the next nonce, so a replayed or
 * reordered message fails (GS_ECRYPTO). On failure nothing changes (the
 * caller should close). */
gs_err net_noise_cs_decrypt(net_noise_cs *cs, const uint8_t *ct, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen);
/* Wipe and free; NULL does nothing. */
void net_noise_cs_free(net_noise_cs *cs);

#endif
