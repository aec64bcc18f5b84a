/*
 * net box: a secret sealed to one node's key (network key rotation,
 * issue 14). crypto_box_seal to the X25519 form of the recipient's Ed25519
 * node key: an anonymous sender, only the recipient opens it, any change
 * makes opening fail.
 */
#ifndef GS_NET_BOX_H
#define GS_NET_BOX_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

#define NET_BOX_OVERHEAD 48 /* ephemeral key and tag */

/* Seal m (n bytes) to the node whose Ed25519 key is ed_pk into out
 * (n + NET_BOX_OVERHEAD bytes). GS_ECRYPTO if the key does not convert. */
gs_err net_box_seal(const uint8_t ed_pk[32], const uint8_t *m, size_t n,
                    uint8_t *out);
/* Open what net_box_seal wrote (in, n bytes) with this node's Ed25519
 * secret key into out (n - NET_BOX_OVERHEAD bytes). GS_ECRYPTO when it
 * is not for this key or was changed; GS_ETRUNC when n is too short. */
gs_err net_box_open(const uint8_t ed_sk[64], const uint8_t *in, size_t n,
                    uint8_t *out);

#endif
