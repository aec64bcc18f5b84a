/*
 * net sync: the sync protocol between two nodes, above any transport
 * that carries messages in order (net/peer.c on the network, a queue in
 * tests). DESIGN.md sections 4 and 6.
 *
 * Both sides run the same state machine:
 *   0. send HELLO (this node's wall clock);
 *   1. send PING 'R' (NET_RECON_NONCE: "I speak RANGES") and the digest
 *      of the version vector (a first VV page of one reserved entry: the
 *      number of feeds and a hash of them all, issue 20); when the peer's
 *      digest is equal, its vector is taken to be ours and nothing more
 *      of it is sent; when it differs and the peer said 'R', the two
 *      reconcile by ranges (net/recon.h, RANGES messages; the lower
 *      digest opens) and learn what the other holds of each feed they
 *      hold; otherwise (or when the peer sends no digest, or the
 *      reconciliation gives up) the version vector follows (VV pages,
 *      with each feed's head hash), a page at a time while the transport
 *      is writable (flow control: a vector of a million feeds never
 *      fills an output queue); docs/PROTOCOL.md;
 *   2. when the peer's VV is complete, send every feed tail it lacks, in
 *      feed then seq order, in CHANGES messages of at most NET_MSG_MAX
 *      bytes, with at most NET_SYNC_WINDOW of them unacknowledged; then
 *      DONE. When the digests differ each side asks, with PING
 *      NET_FRAMES_NONCE before its ranges or vector, for FRAMES: the same
 *      messages with each change as the sender's store keeps it (a zstd
 *      frame or the change itself: read, not unpacked and packed again;
 *      issue 20); a peer that does not ask gets PACKED or CHANGES;
 *   3. apply each received CHANGES in one store transaction
 *      (store_apply_changes: every signature verified, chain, gap and fork
 *      checks) and ACK it; with group commit (io.group) the CHANGES of one
 *      read share one transaction, each ACKed after it. A bad feed is isolated, never the session: its
 *      changes are not stored, the feed is recorded (`quar`) and skipped
 *      for the rest of the session, every other feed goes on. A change
 *      stamped too far ahead, or whose author's membership is not known
 *      yet, is held. Undecodable bytes are an error: the caller closes
 *      the connection, and nothing of that message is stored;
 *   Forks: a peer's VV entry whose head differs from the hash of our
 *   change at that seq means the two hold different branches of a forked
 *   feed: we send our change at that seq (the peer's evidence) instead of
 *   the tail, and the peer does the same for us;
 *   4. live: net_sync_poll sends what was committed locally since (by
 *      this process or another), so peers stay current.
 * A dropped connection loses nothing: the next session's VV exchange
 * resumes where the last stopped, and duplicates are harmless.
 */
#ifndef GS_NET_SYNC_H
#define GS_NET_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct store store;
typedef struct net_sync net_sync;

/* CHANGES messages in flight (issue 20: 8 before; 64 lets a receiver's
 * group commit reach NET_SYNC_GROUP_BYTES, about 600-1000 changes of a
 * hundred edits, one transaction instead of eight). */
#define NET_SYNC_WINDOW 64
#define NET_SYNC_MAX_FEEDS 1000000 /* a peer's version vector, at most */

/* How the session sends: send queues one message (copied); writable says
 * whether the transport wants more now. */
struct net_bytes;
struct store_result;
typedef struct net_sync_io {
  gs_err (*send)(void *ctx, const uint8_t *msg, size_t n);
  bool (*writable)(void *ctx);
  /* Addresses the peer told us about (PEERS), borrowed for the call;
   * optional. */
  void (*on_peers)(void *ctx, const struct net_bytes *addrs, size_t n);
  /* Permission check of a received batch, in order: set keep[i] false
   * for a change its author may not write (it is then not stored, nor
   * anything after it in its feed). Optional: without it all are kept. */
  void (*check)(void *ctx, const crdt_change *const *cs, size_t n,
                bool *keep);
  /* May the peer receive the feed of (origin, scope)? Optional: without
   * it, all feeds. */
  bool (*may_send)(void *ctx, const uint8_t *origin, const char *scope,
                   size_t scope_len);
  void *ctx;
  /* Optional, after ctx (so that older initialisers still fit): */
  /* This node's wall clock, ms (for HELLO); without it HELLO is not
   * sent. */
  uint64_t (*now)(void *ctx);
  /* The peer's HELLO: its wall clock (bounded by NET_WALL_MAX). */
  void (*on_hello)(void *ctx, uint64_t peer_wall_ms);
  /* Like check, with holding: verdict[i] := 0 to store, STORE_HOLD_MEMBER
   * to hold (its author's membership is not known yet), NET_SYNC_REFUSE
   * to refuse (nothing after it in its feed is stored either). Used
   * instead of check when set. */
  void (*classify)(void *ctx, const crdt_change *const *cs, size_t n,
                   uint8_t *verdict);
  /* A received batch was stored (res: what store_apply_ex did): the
   * caller may re-check held changes. */
  void (*after_apply)(void *ctx, const struct store_result *res);
  /* Group commit (issue 20): received CHANGES messages wait, decided but
   * neither stored nor acknowledged, until net_sync_flush (which the
   * transport calls when it has delivered what it had read) applies them
   * in one transaction and then acknowledges each. Without it each
   * message is applied and acknowledged as it arrives. */
  bool group;
} net_sync_io;

/* A group is flushed at NET_SYNC_WINDOW messages, at this many bytes of
 * changes, at a message carrying membership changes, and before any
 * message that is not CHANGES. What it holds per session is bounded by
 * the receiver whatever the peer sends: less than NET_SYNC_GROUP_BYTES
 * plus one message (NET_MSG_MAX) of change bytes, and never more than
 * NET_SYNC_WINDOW messages, with their decoded op tables and, for changes
 * that came in FRAMES, a copy of each frame (no more than the messages'
 * own bytes: NET_SYNC_WINDOW * NET_MSG_MAX), stored as it came. */
#define NET_SYNC_GROUP_BYTES (4u << 20)

#define NET_SYNC_REFUSE 0xff

typedef struct net_sync_stats {
  uint64_t refused; /* received changes refused by the permission check */
  uint64_t held;    /* received changes held (clock ahead, membership) */
  uint64_t bad;     /* received changes of feeds isolated as bad */
  uint64_t forks_seen; /* feeds the peer holds another branch of */
  uint64_t peer_wall_ms; /* the peer's HELLO; 0 before it */
  uint64_t sent_changes, sent_bytes;
  uint64_t recv_changes, recv_dups, recv_bytes;
  uint64_t msgs_in, msgs_out;
  uint64_t groups; /* store transactions of received changes */
  bool vv_equal;   /* the version vectors' digests were equal */
  unsigned recon_rounds;  /* rounds of reconciliation by ranges */
  bool recon_fell_back;   /* it gave up: whole vectors were sent */
  /* membership ("_net") changes sent, and received and kept: what may
   * change what either side may send the other */
  uint64_t net_changes;
} net_sync_stats;

/* A session on st (borrowed; must outlive the session). */
gs_err net_sync_new(store *st, const net_sync_io *io, net_sync **out);
void net_sync_free(net_sync *s);

/* Send our version vector; call once when the connection opens. */
gs_err net_sync_start(net_sync *s);
/* Handle one received message. On error a short reason is written to why
 * and the caller should send ERROR and close. */
gs_err net_sync_on_msg(net_sync *s, const uint8_t *msg, size_t n,
                       char *why, size_t whylen);
/* Group commit (io.group): apply the received changes waiting, in one
 * transaction, then acknowledge their messages. On error (a store
 * failure: nothing of the group stored, nothing acknowledged) a short
 * reason is written to why and the caller should close. */
gs_err net_sync_flush(net_sync *s, char *why, size_t whylen);
/* Are received changes waiting for net_sync_flush? */
bool net_sync_pending(const net_sync *s);
/* Send more while the transport is writable (call on drain). */
gs_err net_sync_pump(net_sync *s);
/* Live mode: look for changes committed since the last look and send
 * them. Cheap when nothing changed. */
gs_err net_sync_poll(net_sync *s);

/* Both sides have sent everything the other lacked (both DONE received
 * and sent, every CHANGES acknowledged). */
bool net_sync_caught_up(const net_sync *s);
const net_sync_stats *net_sync_get_stats(const net_sync *s);

#endif
