/*
 * net message layer: the typed messages two nodes exchange inside the
 * encrypted channel (one message per transport frame). Each message is a
 * msgpack array whose first element is its type; decoding is strict like
 * the change decoder's: exact arity and types, bounded counts and sizes,
 * UTF-8 text, no trailing bytes.
 *
 *   VV       [1, [[feed bin16, seq uint, head bin32?]...], more bool]
 *            version vector, in pages of at most NET_VV_PAGE entries;
 *            more = pages follow; head (optional) is the hash of the
 *            change at seq, so that two nodes holding different branches
 *            of a forked feed see it even at equal length; seq is at most
 *            NET_SEQ_MAX
 *   CHANGES  [2, [change bin...]]   changes, each <= CRDT_CHANGE_MAX,
 *            in feed then seq order; the whole message fits one frame
 *   ACK      [3, applied uint, duplicates uint]   a CHANGES was applied
 *   DONE     [4]                    the sender sent all the other lacked
 *   PING     [5, nonce uint] / PONG [6, nonce uint]; a PING of nonce
 *            NET_RECON_NONCE before the first VV page says "I speak
 *            RANGES" and is not answered
 *   ERROR    [7, code int, reason str]   sent before closing
 *   PEERS    [8, ["host:port"...]]  addresses this node knows
 *   PACKED   [9, frame bin]   a CHANGES message as one zstd frame (since
 *            protocol version 2), sent when smaller; the frame must say
 *            its size, at most NET_MSG_MAX, and unpack to exactly that
 *            many bytes of a CHANGES message
 *   HELLO    [10, wall_ms uint]  the sender's wall clock (ms since the
 *            epoch, at most NET_WALL_MAX), sent first, so that a node whose
 *            date is wrong is told so
 *   RANGES   [11, lo bound, [range...], more bool]  reconciliation of two
 *            version vectors by ranges of feed ids (issue 20; net/recon.h).
 *            The ranges are consecutive: the first covers [lo, hi1), the
 *            next [hi1, hi2)...; a range is [hi bound, mode, ...]:
 *              [hi, 0]                        SKIP: nothing to say
 *              [hi, 1, count uint, fp bin16]  FP: the sender's count and
 *                                             fingerprint of the range
 *              [hi, 2, [entry...]]            ITEMS: every entry the sender
 *                                             holds in the range; answer
 *              [hi, 3, [entry...]]            FINAL: the answer to ITEMS:
 *                                             the sender's entries that
 *                                             differ, and [feed, 0] for a
 *                                             feed it lacks; no answer
 *            entry = [feed bin16, seq uint, head bin32] as in VV (no
 *            head at seq 0; a FINAL leaves it out where its seq is above
 *            the peer's), sorted by feed, inside its range. A bound is a feed id with its trailing zero bytes cut
 *            (bin of 0..16 bytes; no trailing zero); as hi, the empty bin
 *            is the end of the space (last range only), as lo it is zero.
 *            Bounds strictly increase; at most NET_RANGES_MAX ranges,
 *            NET_RANGE_ITEMS_MAX entries a range, NET_VV_PAGE a message;
 *            more = the round goes on in the next message.
 *   FRAMES   [12, [change...]]  a CHANGES message whose changes each go
 *            as the sender's store keeps them (issue 20: a cold sync's
 *            sender neither unpacks nor packs again): a change's own bytes,
 *            or one zstd frame of them that says its size; sent only to a
 *            peer that sent PING NET_FRAMES_NONCE. What it stands for
 *            obeys CHANGES' bounds: at most NET_CHANGES_MAX changes, each
 *            at most CRDT_CHANGE_MAX bytes once unpacked, and the CHANGES
 *            message of them at most NET_MSG_MAX bytes, checked on the
 *            sizes the frames say before anything is unpacked
 *
 * Decoded messages borrow from the buffer they were decoded from.
 */
#ifndef GS_NET_MSG_H
#define GS_NET_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

/* Largest message: a Noise transport payload (65535 - 16 tag bytes). */
#define NET_MSG_MAX 65519
#define NET_VV_PAGE 1024     /* version vector entries per VV message */
#define NET_CHANGES_MAX 1024 /* changes per CHANGES message */
#define NET_PEERS_MAX 64     /* addresses per PEERS message */
#define NET_ADDR_MAX 255     /* bytes of one "host:port" */
#define NET_REASON_MAX 255   /* bytes of an ERROR's reason */
/* Numbers a peer sends are bounded before use: a seq beyond this (2^48:
 * far more changes than any feed can hold) or an ACK of more than
 * NET_CHANGES_MAX changes is malformed. */
#define NET_SEQ_MAX (((uint64_t)1 << 48) - 1)
#define NET_WALL_MAX (((uint64_t)1 << 47) - 1) /* ms: the year 6429 */
#define NET_RANGES_MAX 256      /* ranges per RANGES message */
#define NET_RANGE_ITEMS_MAX 64  /* entries per ITEMS or FINAL range */
#define NET_FP_LEN 16           /* bytes of a range's fingerprint */
/* PING whose nonce is this: "I speak RANGES" (sent before the digest;
 * an older node answers PONG, which means nothing). */
#define NET_RECON_NONCE 0x52 /* 'R': one byte on the wire */
/* PING whose nonce is this, before the first VV page: "send me FRAMES"
 * (issue 20); an older node answers PONG and gets PACKED as before. */
#define NET_FRAMES_NONCE 0x5a /* 'Z' */

typedef enum net_msg_type {
  NET_MSG_VV = 1,
  NET_MSG_CHANGES = 2,
  NET_MSG_ACK = 3,
  NET_MSG_DONE = 4,
  NET_MSG_PING = 5,
  NET_MSG_PONG = 6,
  NET_MSG_ERROR = 7,
  NET_MSG_PEERS = 8,
  NET_MSG_PACKED = 9,
  NET_MSG_HELLO = 10,
  NET_MSG_RANGES = 11,
  NET_MSG_FRAMES = 12,
} net_msg_type;

typedef struct net_vv_entry {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
  bool has_head;
  uint8_t head[CRDT_HASH_LEN]; /* hash of the change at seq, if has_head */
} net_vv_entry;

/* A bound of a range of feed ids: v (zero-padded), or the end of the
 * space when inf. */
typedef struct net_bound {
  uint8_t v[CRDT_FEED_LEN];
  bool inf;
} net_bound;

typedef enum net_range_mode {
  NET_RANGE_SKIP = 0,
  NET_RANGE_FP = 1,
  NET_RANGE_ITEMS = 2,
  NET_RANGE_FINAL = 3,
} net_range_mode;

/* One range of a RANGES message: [previous hi (or lo), hi). */
typedef struct net_range {
  net_bound hi;
  net_range_mode mode;
  uint64_t count;            /* FP */
  uint8_t fp[NET_FP_LEN];    /* FP */
  const net_vv_entry *items; /* ITEMS, FINAL: n entries */
  size_t n;
} net_range;

/* Order of bounds (inf is above every feed id); a feed id is a bound. */
int net_bound_cmp(const net_bound *a, const net_bound *b);

/* A byte string view (a change, an address, a reason). */
typedef struct net_bytes {
  const uint8_t *p;
  size_t n;
} net_bytes;

/* A decoded message. Arrays are owned by the message (net_msg_free);
 * bytes views borrow from the decoded buffer. */
typedef struct net_msg {
  net_msg_type type;
  union {
    struct {
      net_vv_entry *entries;
      size_t n;
      bool more;
    } vv;
    struct {
      net_bytes *changes;
      size_t n;
    } changes;
    struct {
      uint64_t applied, duplicates;
    } ack;
    uint64_t nonce; /* PING, PONG */
    struct {
      int64_t code;
      net_bytes reason;
    } error;
    struct {
      net_bytes *addrs;
      size_t n;
    } peers;
    net_bytes packed; /* the zstd frame */
    uint64_t wall_ms; /* HELLO */
    struct {
      net_bound lo;
      net_range *ranges; /* owned; their items point into entries */
      size_t n;
      net_vv_entry *entries; /* owned */
      bool more;
    } ranges;
  } u;
} net_msg;

/* Strict decode of one message; *out must be freed with net_msg_free
 * (also after an error: then it holds nothing). GS_EDECODE, GS_ETRUNC,
 * GS_ETRAILING, GS_ETOOBIG, GS_EUTF8 on bad input. */
gs_err net_msg_decode(const uint8_t *buf, size_t n, net_msg *out);
void net_msg_free(net_msg *m);

/* Encoders: each writes one message into a malloc'd *out of *n bytes
 * (caller frees). GS_ETOOBIG if it would exceed NET_MSG_MAX or a count
 * limit. */
gs_err net_msg_vv(const net_vv_entry *e, size_t n, bool more, uint8_t **out,
                  size_t *len);
gs_err net_msg_changes(const net_bytes *changes, size_t n, uint8_t **out,
                       size_t *len);
gs_err net_msg_ack(uint64_t applied, uint64_t duplicates, uint8_t **out,
                   size_t *len);
gs_err net_msg_done(uint8_t **out, size_t *len);
gs_err net_msg_hello(uint64_t wall_ms, uint8_t **out, size_t *len);
gs_err net_msg_ping(bool pong, uint64_t nonce, uint8_t **out, size_t *len);
gs_err net_msg_error(int64_t code, const char *reason, uint8_t **out,
                     size_t *len);
gs_err net_msg_peers(const net_bytes *addrs, size_t n, uint8_t **out,
                     size_t *len);

/* A RANGES message: the ranges (n at most NET_RANGES_MAX) starting at
 * lo; GS_EINVAL if the bounds do not increase or an entry is outside its
 * range, GS_ETOOBIG past a limit. */
gs_err net_msg_ranges(const net_bound *lo, const net_range *r, size_t n,
                      bool more, uint8_t **out, size_t *len);

/* A PACKED message of the CHANGES message msg when that is smaller, else
 * *out NULL (send msg itself). */
gs_err net_msg_pack(const uint8_t *msg, size_t n, uint8_t **out,
                    size_t *len);
/* The CHANGES message a PACKED one carries, decoded into *inner (free it
 * with net_msg_free); buf (NET_MSG_MAX bytes) holds its bytes, which
 * inner borrows. GS_EDECODE for a frame that does not unpack as said, or
 * holds anything but a CHANGES message. */
gs_err net_msg_unpack(const net_msg *packed, uint8_t *buf, net_msg *inner);

/* A FRAMES message of the n changes c, each as kept (raw, or one zstd
 * frame of it); the caller keeps the CHANGES message they stand for
 * within NET_MSG_MAX. */
gs_err net_msg_frames(const net_bytes *c, size_t n, uint8_t **out,
                      size_t *len);
/* What unpacks FRAMES messages: a buffer of NET_MSG_MAX bytes and a zstd
 * context, reused message after message. */
typedef struct net_unframer net_unframer;
gs_err net_unframer_new(net_unframer **out);
void net_unframer_free(net_unframer *u);
/* The changes of a FRAMES message as a CHANGES message *inner (free it
 * with net_msg_free); inner borrows from u (until its next use) and from
 * the buffer frames was decoded from. The sizes the frames say are
 * checked against CHANGES' bounds before anything is unpacked:
 * GS_ETOOBIG past them, GS_EDECODE for a frame that is not exactly one
 * zstd frame unpacking to the size it says. */
gs_err net_msg_unframe(net_unframer *u, const net_msg *frames,
                       net_msg *inner);

/* Bytes a VV entry with its head takes at most: for paging. */
#define NET_VV_ENTRY_MAX 62
/* Bytes a CHANGES message adds per change of n bytes, and its fixed
 * overhead: for packing changes into one message. */
#define NET_CHANGES_OVERHEAD 8
#define NET_CHANGE_COST(n) ((size_t)(n) + 5)

#endif
