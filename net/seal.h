/*
 * net seal: authenticated encryption of whole files under the network key
 * (offline bundles). XChaCha20-Poly1305 with a random 24-byte nonce; the
 * key is BLAKE2b("gridsync-bundle-v1" keyed by the network key), so it is
 * never the handshake PSK itself. The associated data (a plain header)
 * is authenticated too: changing any byte of header, nonce or body makes
 * opening fail as a whole.
 */
#ifndef GS_NET_SEAL_H
#define GS_NET_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

#define NET_SEAL_NONCE 24
#define NET_SEAL_TAG 16

/* out must hold NET_SEAL_NONCE + n + NET_SEAL_TAG bytes: nonce, then the
 * ciphertext. */
gs_err net_seal(const uint8_t netkey[32], const uint8_t *ad, size_t adlen,
                const uint8_t *pt, size_t n, uint8_t *out);
/* Open what net_seal wrote (in, n bytes); pt gets n - NET_SEAL_NONCE -
 * NET_SEAL_TAG bytes. GS_ECRYPTO when anything was changed or the key is
 * another network's; GS_ETRUNC when n is too short. */
gs_err net_unseal(const uint8_t netkey[32], const uint8_t *ad, size_t adlen,
                  const uint8_t *in, size_t n, uint8_t *pt);

#endif
