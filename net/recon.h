/*
 * net recon: reconciliation of two version vectors by ranges of feed ids
 * (issue 20), in the manner of range-based set reconciliation
 * (negentropy). Pure: no store, no transport; a session (net/sync.c)
 * feeds it the peer's RANGES messages and sends what it produces.
 *
 * The items are a version vector: (feed id, seq, head) entries sorted by
 * feed id. The fingerprint of a range [lo, hi) is the first NET_FP_LEN
 * bytes of BLAKE2b over its number of items and the sum (mod 2^128) of
 * each item's 128-bit hash; prefix sums make every fingerprint
 * O(log n).
 *
 * The exchange goes in rounds, one side then the other (a round is one
 * or more RANGES messages, the last with more = false). The initiator
 * opens with the whole space: as ITEMS when it holds at most RECON_ITEMS
 * entries, else as RECON_BRANCH FP ranges of equal counts. For each
 * range of the peer's round:
 *   FP equal to ours        the range is the same on both sides (done);
 *   FP differs              ours as ITEMS when we hold at most
 *                           RECON_ITEMS there, else split in RECON_BRANCH
 *                           FP ranges;
 *   ITEMS                   we now know the peer's entries there; answer
 *                           FINAL: our entries that differ from the
 *                           peer's, [feed, 0] for its feeds we lack (when
 *                           that is more than NET_RANGE_ITEMS_MAX: FP
 *                           ranges instead, as above);
 *   FINAL                   we know the peer's entries there (ours unless
 *                           listed); no answer.
 * A round that asks nothing (no FP, no ITEMS) ends the reconciliation.
 * Each side then knows, for every feed it holds, the peer's entry (or
 * that the peer lacks it): through the sink.
 *
 * Bounds on the peer: at most RECON_ROUND_RANGES ranges in a round and
 * RECON_ROUNDS_MAX rounds in all (GS_EPROTO "too deep"); ranges of one
 * round in increasing order, never overlapping (GS_EPROTO); a round out
 * of turn (GS_EPROTO). When our own answer would pass those bounds (many
 * differences) the reconciliation gives up (recon_fallback): the session
 * sends the whole vector instead, which is then the cheaper.
 */
#ifndef GS_NET_RECON_H
#define GS_NET_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/msg.h"

#define RECON_BRANCH 16        /* a differing range splits in this many */
#define RECON_ITEMS 24         /* ranges of at most this many go as items */
#define RECON_ROUNDS_MAX 16    /* rounds, both sides counted */
#define RECON_ROUND_RANGES 4096 /* ranges in one round */

typedef struct recon recon;

/* What the reconciliation learns, for the session. Both are called with
 * entries borrowed for the call; a non-zero return stops and is
 * returned. */
typedef struct recon_sink {
  /* The peer's entries of a range (seq 0: it lacks that feed). May name
   * feeds we do not hold. */
  gs_err (*theirs)(void *ctx, const net_vv_entry *e, size_t n);
  /* Our entries of a range the peer holds exactly the same. */
  gs_err (*same)(void *ctx, const net_vv_entry *e, size_t n);
  void *ctx;
} recon_sink;

typedef struct recon_stats {
  unsigned rounds;      /* rounds sent and received */
  uint64_t ranges_in, ranges_out, items_in, items_out;
} recon_stats;

/* A reconciliation of items (n entries sorted strictly by feed id; owned
 * by the reconciliation from now on, freed by it even on failure).
 * initiator: this side opens (call recon_take first). GS_EINVAL if the
 * items are not sorted. */
gs_err recon_new(net_vv_entry *items, size_t n, bool initiator,
                 recon **out);
void recon_free(recon *r);

/* Count and fingerprint of our items in [lo, hi). */
void recon_fingerprint(const recon *r, const net_bound *lo,
                       const net_bound *hi, uint64_t *count,
                       uint8_t fp[NET_FP_LEN]);

/* One RANGES message of the peer (m->type NET_MSG_RANGES). On GS_EPROTO
 * or another error a reason is written to why: the caller closes. */
gs_err recon_on_msg(recon *r, const net_msg *m, const recon_sink *sink,
                    char *why, size_t whylen);

/* Is it our turn (the initiator at first, then after each complete round
 * of the peer's that asked something)? */
bool recon_our_turn(const recon *r);
/* Our round, as RANGES messages, each passed to send (borrowed for the
 * call); call when recon_our_turn. */
gs_err recon_take(recon *r,
                  gs_err (*send)(void *ctx, const uint8_t *msg, size_t n),
                  void *ctx);
/* The reconciliation is over: every range resolved. */
bool recon_done(const recon *r);
/* Our answer would pass the bounds: send the whole vector instead. */
bool recon_fallback(const recon *r);
const recon_stats *recon_get_stats(const recon *r);

#endif
