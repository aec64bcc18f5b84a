/*
 * net disco: LAN discovery beacons (DESIGN.md section 6, docs/DISCOVERY.md).
 *
 * A serving node announces itself on the LAN with a UDP beacon sent by
 * IPv4 broadcast (to each interface's broadcast address) and IPv6
 * multicast (NET_DISCO_GROUP6 on each interface, link-local scope), and
 * listens for the beacons of others on the same UDP port.
 *
 * A beacon is NET_DISCO_LEN bytes, always: a random 24-byte nonce, then
 * XChaCha20-Poly1305 of a fixed 64-byte plaintext [version 1, flags 0,
 * TCP port (2, big-endian), wall-clock ms (8, big-endian), node key (32),
 * zero padding (20)] under the beacon key, BLAKE2b-256 of the context
 * "gridsync-beacon-v1" keyed by the network key (never the handshake PSK
 * itself; it rotates with the network key). Nothing is sent in clear but
 * the nonce: a stranger learns neither the network, nor the node, nor
 * whether two beacons come from one node.
 *
 * A beacon only says "a holder of the network key says node K listens on
 * TCP port P at this packet's source address". It never makes a node
 * trusted: the caller connects and the Noise handshake and the
 * membership claim decide.
 *
 * Refused, in this order (the cheap tests first, nothing allocated): a
 * datagram that is not exactly NET_DISCO_LEN bytes; a source over its
 * rate (a token bucket per source address, in a fixed table of
 * NET_DISCO_SOURCES, the longest-idle entry giving way); anything past
 * the global budget of NET_DISCO_OPEN_PER_S authentication attempts per
 * second; a beacon that fails to authenticate under every key accepted
 * (keys of the keyring, at most NET_DISCO_KEYS_MAX); a bad version or
 * non-zero padding; a time more than NET_DISCO_WINDOW_MS away from the
 * receiver's clock; a nonce already seen (a replay cache of
 * NET_DISCO_REPLAY_MAX entries: when it is full the oldest entry goes and
 * its time becomes a floor under which every beacon is refused, so a
 * replay can never slip out of the cache and back in).
 *
 * A beacon with port 0 is a probe: a node that does not serve (a
 * `gridsync sync`) asks who is there, and serving nodes answer with a
 * beacon at once (still at most one per NET_DISCO_GAP_MS).
 *
 * Single-threaded, on the caller's libuv loop.
 */
#ifndef GS_NET_DISCO_H
#define GS_NET_DISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

struct sockaddr;
typedef struct uv_loop_s uv_loop_t;

#define NET_DISCO_PORT 7071        /* default UDP port */
#define NET_DISCO_GROUP6 "ff02::114" /* IANA: any private experiment */
#define NET_DISCO_NONCE 24
#define NET_DISCO_PLAIN 64
#define NET_DISCO_LEN (NET_DISCO_NONCE + NET_DISCO_PLAIN + 16) /* 104 */
#define NET_DISCO_KEY_LEN 32
#define NET_DISCO_WINDOW_MS (10 * 60 * 1000) /* +-10 minutes */
#define NET_DISCO_REPLAY_MAX 512
#define NET_DISCO_SOURCES 64
#define NET_DISCO_BURST 8          /* beacons a source may send at once */
#define NET_DISCO_REFILL_MS 1000   /* ... then one per this long */
#define NET_DISCO_OPEN_PER_S 256   /* authentication attempts, all sources */
#define NET_DISCO_KEYS_MAX 4
#define NET_DISCO_EVERY_MS 5000    /* mean period of beacons */
#define NET_DISCO_GAP_MS 1000      /* never two beacons closer than this */

/* What a beacon says. */
typedef struct net_disco_beacon {
  uint8_t node[32]; /* the sender's Ed25519 node key */
  uint16_t port;    /* its TCP listening port */
  uint64_t ms;      /* its wall clock when sent (Unix ms) */
} net_disco_beacon;

/* ---- the codec ---- */

/* The beacon key of a network key (out: NET_DISCO_KEY_LEN bytes; wipe
 * it after use). */
void net_disco_key(const uint8_t netkey[32], uint8_t out[NET_DISCO_KEY_LEN]);
/* Seal b under key into out (NET_DISCO_LEN bytes, a fresh random nonce). */
void net_disco_seal(const uint8_t key[NET_DISCO_KEY_LEN],
                    const net_disco_beacon *b, uint8_t out[NET_DISCO_LEN]);
/* Open pkt (n bytes) with the first of keys (nkeys of them) it
 * authenticates under: GS_ETRUNC / GS_ETOOBIG for a wrong size, GS_ECRYPTO
 * when no key opens it, GS_EDECODE for a bad version or padding. b is set
 * only on GS_OK. */
gs_err net_disco_open(const uint8_t (*keys)[NET_DISCO_KEY_LEN], size_t nkeys,
                      const uint8_t *pkt, size_t n, net_disco_beacon *b);

/* ---- freshness: the time window and the replay cache ---- */

typedef struct net_disco_guard net_disco_guard;
/* A guard of fixed size (about 20 KiB). GS_ENOMEM. */
gs_err net_disco_guard_new(net_disco_guard **out);
void net_disco_guard_free(net_disco_guard *g);
/* Check an authenticated beacon's time ms (and its packet's nonce, the
 * first NET_DISCO_NONCE bytes) against now: GS_ECLOCK when outside the
 * window or under the floor, GS_EEXIST for a replay; GS_OK records it. */
gs_err net_disco_guard_check(net_disco_guard *g,
                             const uint8_t nonce[NET_DISCO_NONCE], uint64_t ms,
                             uint64_t now);

/* ---- the endpoint: beacons sent and heard on a libuv loop ---- */

typedef struct net_disco net_disco;

typedef struct net_disco_stats {
  uint64_t sent, heard;         /* beacons sent (per interface), accepted */
  uint64_t bad_size, rate, budget, auth, stale, replay, own;
  uint64_t probes; /* authentic probes heard (port 0) */
} net_disco_stats;

typedef struct net_disco_opts {
  uint16_t port;     /* UDP port; 0: NET_DISCO_PORT */
  /* true: send beacons (a serving node); false: send probes (port 0,
   * "who is there?", answered by serving nodes with a beacon at once) */
  bool announce;
  uint16_t tcp_port; /* announced */
  uint8_t node[32];  /* announced; beacons naming it are ignored */
  uint64_t every_ms; /* mean period; 0: NET_DISCO_EVERY_MS (jitter +-50%) */
  /* Wall-clock Unix ms (the node's injectable clock). */
  uint64_t (*now)(void *ctx);
  /* The network keys in use: at most max into keys, the one to send with
   * first; returns how many. Called at start and at every beacon tick
   * (about each second), so a rotation takes effect at once. */
  size_t (*keys)(void *ctx, uint8_t (*keys)[32], size_t max);
  /* An accepted beacon from address from (borrowed for the call). */
  void (*on_beacon)(void *ctx, const net_disco_beacon *b,
                    const struct sockaddr *from);
  /* Optional: an authentic beacon refused for its time (outside the
   * window: the sender's clock or this one is wrong), to warn about. */
  void (*on_stale)(void *ctx, const net_disco_beacon *b,
                   const struct sockaddr *from);
  void *ctx;
} net_disco_opts;

/* Start on loop: bind the UDP port (IPv4 and, if the host has it, IPv6;
 * address reuse on, so that several processes on one host all hear the
 * beacons), and announce at once if asked. o is copied. GS_ENOTFOUND
 * when no socket could be bound; a libuv error as is. */
gs_err net_disco_start(uv_loop_t *loop, const net_disco_opts *o,
                       net_disco **out);
/* Counters since start (borrowed). */
const net_disco_stats *net_disco_get_stats(const net_disco *d);
/* Send a beacon now (a network change, say), unless one went out less
 * than NET_DISCO_GAP_MS ago. */
void net_disco_poke(net_disco *d);
/* Stop: close the sockets and the timer; done(ctx) is called from the
 * loop once all are closed and d is freed. NULL d: nothing. */
void net_disco_stop(net_disco *d, void (*done)(void *ctx), void *ctx);

#endif
