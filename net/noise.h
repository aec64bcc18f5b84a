/*
 * Noise Protocol Framework (revision 34) handshakes and transport
 * ciphers, on libsodium: DH 25519, cipher ChaChaPoly (IETF
 * ChaCha20-Poly1305, nonce = 4 zero bytes + 64-bit little-endian
 * counter), hash BLAKE2b (HASHLEN 64) with HMAC and HKDF as the
 * specification defines them.
 *
 * Patterns: the one-way N, K, X and the interactive NN, NK, NX, XN, XK,
 * XX, KN, KK, KX, IN, IK, IX, each with psk modifiers (pskN, joined by
 * '+'). gridsync uses Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b.
 *
 * Every secret (keys, chaining key, DH outputs) is wiped on free. Errors:
 * GS_EINVAL (bad name, missing key, call out of turn), GS_ETOOBIG (a
 * message over 65535 bytes or a buffer too small), GS_EHANDSHAKE (a
 * message that fails to decrypt or has the wrong length, a degenerate DH
 * result), GS_ECRYPTO (nonce exhausted).
 */
#ifndef GS_NET_NOISE_H
#define GS_NET_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

#define NET_NOISE_MSG_MAX 65535
#define NET_NOISE_KEY_LEN 32
#define NET_NOISE_HASH_LEN 64
#define NET_NOISE_TAG_LEN 16

typedef struct net_noise_hs net_noise_hs;
typedef struct net_noise_cs net_noise_cs;

/* A handshake for protocol name (e.g. "Noise_XX_25519_ChaChaPoly_BLAKE2b")
 * as initiator or responder. s_priv: this side's static X25519 secret
 * (NULL if the pattern has none); rs: the remote static public key if the
 * pattern pre-shares it (else NULL); psk: 32 bytes if the pattern has psk
 * modifiers (used for each psk token). All inputs are copied. */
gs_err net_noise_hs_new(net_noise_hs **out, const char *protocol_name,
                        bool initiator, const uint8_t *prologue,
                        size_t prologue_len, const uint8_t *s_priv,
                        const uint8_t *rs, const uint8_t *psk);
/* Fix the ephemeral secret (test vectors); else one is generated. */
gs_err net_noise_hs_set_ephemeral(net_noise_hs *hs, const uint8_t e_priv[32]);
/* Write the next handshake message carrying payload into out (cap
 * bytes); *outlen gets its length. */
gs_err net_noise_hs_write(net_noise_hs *hs, const uint8_t *payload,
                          size_t plen, uint8_t *out, size_t cap,
                          size_t *outlen);
/* Read the next handshake message; its payload goes to payload (cap). On
 * error the handshake is dead: free it. */
gs_err net_noise_hs_read(net_noise_hs *hs, const uint8_t *msg, size_t len,
                         uint8_t *payload, size_t cap, size_t *plen);
/* true when every message of the pattern has been written or read. */
bool net_noise_hs_done(const net_noise_hs *hs);
/* true when it is this side's turn to write. */
bool net_noise_hs_my_turn(const net_noise_hs *hs);
/* After done: the transport ciphers, for sending (tx) and receiving (rx);
 * the caller owns both (net_noise_cs_free). */
gs_err net_noise_hs_split(net_noise_hs *hs, net_noise_cs **tx,
                          net_noise_cs **rx);
/* The remote static public key once known (else NULL); borrowed. */
const uint8_t *net_noise_hs_remote_static(const net_noise_hs *hs);
/* The handshake hash h (channel binding), NET_NOISE_HASH_LEN bytes. */
void net_noise_hs_hash(const net_noise_hs *hs,
                       uint8_t out[NET_NOISE_HASH_LEN]);
void net_noise_hs_free(net_noise_hs *hs);

/* Transport: encrypt n bytes (n + 16 <= 65535) into out (cap >= n + 16)
 * with empty associated data; the nonce counts up and is never reused. */
gs_err net_noise_cs_encrypt(net_noise_cs *cs, const uint8_t *pt, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen);
/* Decrypt; on failure nothing changes (and the caller should close). */
gs_err net_noise_cs_decrypt(net_noise_cs *cs, const uint8_t *ct, size_t n,
                            uint8_t *out, size_t cap, size_t *outlen);
void net_noise_cs_free(net_noise_cs *cs);

#endif
