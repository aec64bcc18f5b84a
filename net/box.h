/*
 * net box: a secret sealed to one node's key (network key rotation,
 * issue 14). crypto_box_seal to the X25519 form of the recipient's Ed25519
 * node key: an anonymous sender, only the recipient opens it, any change
 * makes opening fail.
 */
#ifndef GS_NET_BOX_H
#define GS_NET_BOX_H

#include <stdbool.h>
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

/* ---- the app's password (web/server.c, cli/cmd_ui.c) ----
 * An Argon2id hash as crypto_pwhash_str writes it (interactive limits:
 * about 64 MiB and 0.1 s per hash or check). */
#define NET_PWHASH_MAX 128 /* bytes of a hash, its NUL included */

/* Hash password pw into out. GS_ENOMEM when the memory is not there. */
gs_err net_pwhash(const char *pw, char out[NET_PWHASH_MAX]);
/* Whether pw matches hash (a NUL-terminated string read from a file:
 * anything malformed does not match). */
bool net_pwhash_ok(const char *hash, const char *pw);

#endif
