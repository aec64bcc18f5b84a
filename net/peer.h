/*
 * net peer: one secure connection to another node over libuv TCP
 * (DESIGN.md section 6).
 *
 * Handshake Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b with the network key as
 * PSK and prologue "gridsync/1". The key is mixed before message 1, so a
 * node without it can neither read message 1 nor answer it: the
 * responder closes at once, and no stranger ever receives a static key
 * (either side's). Each side's Noise static key is the X25519 form of its
 * Ed25519 node key; the payloads of messages 2 and 3 carry [version,
 * Ed25519 public key] and the receiver checks that this key converts to
 * the static key Noise authenticated.
 *
 * Older versions (1, 2: XXpsk3) are told apart: a responder that gets a
 * valid XXpsk3 message 1 answers with an XXpsk3 message 2 under a
 * throwaway static key whose payload names this version and a random
 * key, so the old node closes with "peer speaks another protocol
 * version", and this one with GS_EVERSION ("peer speaks an older protocol
 * version: upgrade ..."). An initiator whose message 1 is refused says
 * the peer holds another network key or runs an older gridsync (the two
 * cannot be told apart without telling a stranger something).
 *
 * Framing: a 4-byte big-endian length, then one Noise message of at most
 * 65535 bytes. After the handshake each frame is one transport message
 * holding one application message (at most NET_PEER_MSG_MAX bytes); an
 * empty one is a keep-alive. Nonces count up per direction and a frame
 * that fails to decrypt (tampered, replayed, reordered, truncated) closes
 * the connection.
 *
 * Bounded memory per peer: one frame of input, and the output queue:
 * above high_water the peer stops reading (its requests would only add
 * output) and net_peer_writable() is false until it drains; a queue past
 * hard_limit closes the connection (the remote does not read).
 *
 * Time-outs: the handshake must finish within handshake_ms; a connection
 * that receives nothing for idle_ms is closed; a keep-alive is sent when
 * nothing was sent for keepalive_ms.
 *
 * The process must ignore SIGPIPE (the node does), or a peer that hangs
 * up mid-write kills it.
 *
 * Single-threaded: every call on the loop's thread. Callbacks never run
 * inside the call that caused them except on_msg/on_open (from reads).
 */
#ifndef GS_NET_PEER_H
#define GS_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crdt/crdt.h"

/* 2: CHANGES may travel packed (PACKED, net/msg.h). 3: the handshake is
 * XXpsk0 (strangers learn no node key). 4: changes of format version 2
 * (a signature of the change's digest: crdt/change.c), which a node of
 * version 3 would refuse. Nodes of other versions refuse each other in
 * the handshake, with that reason. */
#define NET_PROTOCOL_VERSION 4
#define NET_FRAME_MAX 65535                /* one Noise message */
#define NET_PEER_MSG_MAX (NET_FRAME_MAX - 16) /* minus the AEAD tag */

typedef struct net_peer net_peer;

/* Who this node is on the network. Secret: wipe with net_identity_wipe. */
typedef struct net_identity {
  uint8_t sign_sk[CRDT_SK_LEN]; /* Ed25519 node key */
  uint8_t sign_pk[CRDT_KEY_LEN];
  uint8_t dh_sk[32];            /* X25519 form of sign_sk: Noise static */
  uint8_t psk[32];              /* network key */
} net_identity;

/* Fill id from the node key and the network key. GS_ECRYPTO if the key
 * cannot be converted. */
gs_err net_identity_init(net_identity *id, const uint8_t sign_sk[CRDT_SK_LEN],
                         const uint8_t psk[32]);
void net_identity_wipe(net_identity *id);

typedef struct net_peer_cbs {
  /* The handshake succeeded; the remote's node key is known. */
  void (*on_open)(net_peer *p);
  /* One application message, borrowed for the call. */
  void (*on_msg)(net_peer *p, const uint8_t *msg, size_t n);
  /* The output queue fell below half of high_water after being above. */
  void (*on_drain)(net_peer *p);
  /* The connection is closed (why 0 = closed by this side without error);
   * reason is a short text for logs. p is freed after this returns. */
  void (*on_close)(net_peer *p, gs_err why, const char *reason);
} net_peer_cbs;

typedef struct net_peer_opts {
  uint64_t handshake_ms; /* default 10 s */
  uint64_t idle_ms;      /* default 90 s */
  uint64_t keepalive_ms; /* default 30 s */
  size_t high_water;     /* default 1 MiB */
  size_t hard_limit;     /* default 16 MiB */
} net_peer_opts;

/* Connect to addr as the handshake's initiator. *out is valid until
 * on_close returns; on_close always fires once, also when connecting
 * fails. id and opts are copied; opts may be NULL for the defaults. */
gs_err net_peer_connect(uv_loop_t *loop, const struct sockaddr *addr,
                        const net_identity *id, const net_peer_opts *opts,
                        const net_peer_cbs *cbs, void *data, net_peer **out);
/* Accept a pending connection of server as the responder. */
gs_err net_peer_accept(uv_stream_t *server, const net_identity *id,
                       const net_peer_opts *opts, const net_peer_cbs *cbs,
                       void *data, net_peer **out);

/* Queue one message (at most NET_PEER_MSG_MAX bytes; copied). GS_ECLOSED
 * if the connection is closing or not open yet; GS_ETOOBIG for an
 * oversized message. Past hard_limit the connection is closed. */
gs_err net_peer_send(net_peer *p, const uint8_t *msg, size_t n);
/* false while the output queue is above high_water. */
bool net_peer_writable(const net_peer *p);
size_t net_peer_queued(const net_peer *p);
/* Stop (true) or resume (false) reading from the peer: flow control for a
 * receiver that is busy. Time-outs still apply. */
void net_peer_pause(net_peer *p, bool pause);
/* Close once what was queued has been sent (a last ERROR message, say):
 * no more input is taken; on_close fires when the peer hangs up, or after
 * two seconds. */
void net_peer_close_soon(net_peer *p, gs_err why, const char *reason);
/* Close (idempotent); on_close fires from the loop. */
void net_peer_close(net_peer *p, gs_err why, const char *reason);

bool net_peer_is_open(const net_peer *p);
/* true once close or close_soon was called: the peer no longer counts */
bool net_peer_is_closing(const net_peer *p);
/* Responder: a valid message 1 (made with the network key) was read and
 * answered; a connection that sent nothing yet, or only garbage, has
 * not. */
bool net_peer_answered(const net_peer *p);
/* The remote's Ed25519 node key (valid after on_open). */
const uint8_t *net_peer_remote_key(const net_peer *p);
/* The remote's address as "host:port" ("" if unknown). */
const char *net_peer_addr(const net_peer *p);
void *net_peer_data(const net_peer *p);
void net_peer_set_data(net_peer *p, void *data);

#endif
