/*
 * store: a node's LMDB environment (DESIGN.md section 5).
 *
 * Named databases:
 *   meta     format version, this node's public key, the HLC
 *   changes  feed(16) | seq(8, big-endian)   -> change bytes
 *   vv       feed(16)                          -> seq(8) head(32) origin(32) scope
 *   records  coll 0x00 id(16) scope            -> canonical record state
 *   byscope  scope 0x00 coll 0x00 id(16)       -> (empty)   index
 *   hist     coll 0x00 id(16) feedno seq (LEB128) -> (empty)   index
 *   forks    feed(16) | seq(8)                 -> the refused change bytes
 *   peers    "host:port"                       -> peer info (node/ owns it)
 *   heard    feed(16)                          -> seq(8): the most any
 *                                                 peer said it holds
 *   held     feed(16) | seq(8)                 -> reason(1) hash(32) change:
 *                                                 received, valid, not yet
 *                                                 applied (see store_apply)
 *   quota    origin(32)                        -> feeds changes bytes (8 each)
 *   quar     feed(16)                          -> reason(1) seq(8) at(8)
 *                                                 origin(32) scope: a feed
 *                                                 a bad change was seen in
 *
 * Every change, local or received, is applied in one write transaction
 * with its records, indexes and version vector: after a crash the store
 * holds all of it or none. Commits are durable (fsync) unless the store
 * was opened with STORE_NOSYNC. The map grows by itself when full.
 * Several processes may open one directory: LMDB serialises writers.
 *
 * Not thread-safe: one store per thread. Errors are gs_err; LMDB's own
 * codes pass through.
 */
#ifndef GS_STORE_H
#define GS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

typedef struct store store;

enum {
  STORE_CREATE = 1 << 0,  /* create the environment if missing */
  STORE_NOSYNC = 1 << 1,  /* no fsync per commit (explicit bulk mode) */
  STORE_RDONLY = 1 << 2,
};

/* 2: records in crdt_record_encode's version 2 (an origin table instead
 * of a 32-byte key per stamp). 3: records in version 3 (no identity in
 * the value, a stamp table, numbered field names), history keys by a
 * local feed number instead of the feed. 4: records' origin tables as
 * local numbers (store.c, "origin numbers"). 5: history keys without the
 * hlc, the feed number and seq as short numbers (store.c, "hist keys").
 * 6: records squeezed by a zstd dictionary trained from the store's own
 * records (store.c, "record dictionaries"). */
#define STORE_FORMAT 6

/* Open (or with STORE_CREATE create) the store in directory dir, which
 * must exist. GS_ENOTINIT when there is no store and STORE_CREATE is not
 * given; GS_EVERSION for a store of another format. A store of format 1
 * to 4 is upgraded in place as it opens (unless STORE_RDONLY: it is read as
 * it is), in batches that a crash leaves resumable. */
gs_err store_open(const char *dir, unsigned flags, store **out);
/* Sealed at rest (issue 19). With a data key (CRDT_SEAL_KEY_LEN bytes,
 * copied into locked memory, wiped at close) every value that can carry
 * personal data is sealed (crdt_sealer) with its table's name and its LMDB
 * key as associated data: a value moved to another key or table, or
 * changed, does not open, and reading it is GS_ESEAL. Not sealed: the
 * keys (ids, scopes, seqs, feed ids; the address book's are keyed hashes
 * of the "host:port" addresses, which may name a person), empty index
 * values, the counters of `heard` and `quota`, and the meta entries
 * "format", "seal" and the upgrade marks.
 *
 * A new store opened with a key is sealed from the start. A store of an
 * earlier build (no seal) opened with a key and not STORE_RDONLY is
 * sealed in place as it opens: in batches of UPGRADE_BATCH values per
 * durable transaction, each moving a mark, so a crash (SIGKILL) at any
 * point resumes at the next open; progress (optional) is called after
 * each batch with the values sealed so far and about how many there
 * are (STORE_PROGRESS_SEAL), then once as compaction starts
 * (STORE_PROGRESS_COMPACT); a store of an earlier format is upgraded
 * the same way first (STORE_PROGRESS_FORMAT, then compaction). Then it
 * is compacted (mdb_env_copy2 with MDB_CP_COMPACT to a new file, fsync,
 * rename over data.mdb) so that no plaintext stays in a free page; this
 * needs the store to be open in no other process (it is then left for a
 * later open). A sealed store opened without a key is GS_ELOCKED. */
enum {
  STORE_PROGRESS_SEAL,    /* values sealed so far, of about total */
  STORE_PROGRESS_FORMAT,  /* entries an upgrade to this build's format
                             walked so far, of about total */
  STORE_PROGRESS_COMPACT, /* compaction starts (done and total 0) */
};
typedef void (*store_progress_fn)(void *ctx, int what, uint64_t done,
                                  uint64_t total);
typedef struct store_opts {
  const uint8_t *key; /* the data key, or NULL: not sealed */
  store_progress_fn progress;
  void *progress_ctx;
} store_opts;
/* Opened values kept at once (see store.c "sealed values"). */
#define STORE_OPEN_SLOTS 16
gs_err store_open_ex(const char *dir, unsigned flags, const store_opts *o,
                     store **out);
/* Close; NULL is a no-op. */
void store_close(store *s);

/* Meta values: small byte strings by key. store_meta_get copies at most
 * cap bytes and sets *n to the stored length; GS_ENOTFOUND if absent. */
gs_err store_meta_get(store *s, const char *key, void *buf, size_t cap,
                      size_t *n);
gs_err store_meta_put(store *s, const char *key, const void *buf, size_t n);
/* Is there a meta value whose key begins with prefix? (*any; GS_OK, or
 * the store's failure.) */
gs_err store_meta_any(store *s, const char *prefix, bool *any);

/* The address book (peers): small values by "host:port" (at most
 * STORE_ADDR_MAX bytes); net/ and node/ define the value's format.
 * store_peer_list calls cb for each entry in address order; the value is
 * borrowed for the call; cb returns non-zero to stop. */
#define STORE_ADDR_MAX 255
/* An entry's value at most (a sealed store keeps the address with it). */
#define STORE_PEER_VAL_MAX 4096
typedef int (*store_peer_cb)(void *ctx, const char *addr, const void *val,
                             size_t n);
gs_err store_peer_get(store *s, const char *addr, void *buf, size_t cap,
                      size_t *n);
gs_err store_peer_put(store *s, const char *addr, const void *buf, size_t n);
/* GS_ENOTFOUND when addr is not in the book. */
gs_err store_peer_del(store *s, const char *addr);
gs_err store_peer_list(store *s, store_peer_cb cb, void *ctx);

/* ---- writing ---- */

/* What applying a batch did. */
typedef struct store_result {
  size_t applied;    /* new changes stored */
  size_t duplicates; /* already held, byte-identical */
  size_t ops;        /* ops merged */
  size_t held;       /* held, not applied (store_apply_ex) */
  size_t bad;        /* refused with their feed (store_apply_ex) */
  crdt_hlc max_hlc;  /* largest hlc among applied changes */
} store_result;

/* The receiver's clock (ms since the epoch), for the rule that a change
 * stamped more than STORE_AHEAD_MAX_MS ahead of it is held, not applied.
 * The default is the system's real-time clock; a node sets its own
 * (injectable) clock. now is called with ctx. */
#define STORE_AHEAD_MAX_MS (24ULL * 3600 * 1000)
typedef uint64_t (*store_now_fn)(void *ctx);
void store_set_clock(store *s, store_now_fn now, void *ctx);

/* Why a received change is held (kept, not applied, not relayed). */
enum {
  STORE_HOLD_NONE = 0,
  STORE_HOLD_CLOCK = 1,  /* stamped too far ahead of this node's clock */
  STORE_HOLD_MEMBER = 2, /* its author's membership is not known yet */
  STORE_HOLD_AFTER = 3,  /* an earlier change of its feed is held */
};
/* Why a feed was quarantined (store_apply_ex; kept in `quar`). */
enum {
  STORE_BAD_FORK = 1,  /* its author signed two different changes for one
                        * place in the feed: the feed is frozen here */
  STORE_BAD_GAP = 2,   /* a change that does not follow what is held */
  STORE_BAD_CHAIN = 3, /* prev does not match, and not validly signed */
  STORE_BAD_SIG = 4,   /* a bad signature (the relay's doing, or a bug) */
  STORE_BAD_QUOTA = 5, /* its author is over a quota (STORE_MEMBER_*) */
};
/* What happened to each change of a batch (store_apply_ex). */
enum {
  STORE_OUT_APPLIED = 0,
  STORE_OUT_DUP = 1,
  STORE_OUT_HELD = 2,
  STORE_OUT_BAD = 3, /* its feed was refused in this batch (see quar) */
  STORE_OUT_FULL = 4, /* not stored: the held store is full; send again */
};
/* Quotas per author (origin key) on received changes, far beyond what a
 * real grid reaches (an office writing 10,000 changes a day for ten years
 * makes 36.5 million; a street admin writes in a few hundred scopes): a
 * change beyond them is not stored and its feed is quarantined. Counted
 * in `quota`: origin(32) -> feeds(8) changes(8) bytes(8), for changes
 * applied since this build (a store of an earlier build starts at 0). */
#define STORE_MEMBER_FEEDS_MAX 4096
#define STORE_MEMBER_CHANGES_MAX 50000000ULL
#define STORE_MEMBER_BYTES_MAX (32ULL << 30)
/* Notes of bad feeds kept at most (forks always). */
#define STORE_QUAR_MAX 10000
/* Held changes kept at most (beyond: not stored, the sender retries). */
#define STORE_HELD_MAX 100000

/* Apply received changes, all or nothing, in one transaction. Changes of
 * one feed must come in seq order; a change already held identically is a
 * duplicate (counted, harmless). Checks: strict decoding; seq follows the
 * held head (GS_EGAP); prev is the hash of the previous change
 * (GS_ECHAIN); a different change at a held seq is a fork (GS_EFORK: the
 * evidence is kept in `forks`, nothing of the batch is stored); every
 * change's Ed25519 signature (GS_ESIG), so that nothing is stored that the
 * next node would refuse; a feed frozen for a fork (GS_EFORK). A change
 * stamped more than STORE_AHEAD_MAX_MS ahead of the store's clock, or
 * following a held change of its feed, is held (store_apply_ex): only
 * applied changes raise the HLC. On error *bad_index (if non-NULL) names
 * the offending change. */
gs_err store_apply(store *s, const uint8_t *const *changes,
                   const size_t *lens, size_t n, store_result *res,
                   size_t *bad_index);

/* Like store_apply, but a bad feed is isolated: a change that breaks its
 * feed (fork, gap, broken chain, bad signature) is not stored, nor any
 * later change of that feed in the batch; the feed is recorded in `quar`
 * (a fork's evidence in `forks` too, and a forked feed is frozen: no
 * later change of it is applied here) and every other feed is applied.
 * Every change's signature is verified (what one honest node stores,
 * every honest node accepts). hold (optional, n entries): a STORE_HOLD_*
 * reason the caller has for each change (membership), else 0. A change
 * stamped beyond now + STORE_AHEAD_MAX_MS, or following a held one of its
 * feed, is held. out (optional, n entries): a STORE_OUT_* per change.
 * Errors are only for undecodable bytes (*bad_index) and store failures:
 * nothing of the batch is stored then. */
gs_err store_apply_ex(store *s, const uint8_t *const *changes,
                      const size_t *lens, size_t n, const uint8_t *hold,
                      uint8_t *out, store_result *res, size_t *bad_index);

/* store_apply_ex of changes the caller decoded with crdt_change_decode
 * (borrowed; not decoded again, their ops taken as that decode checked
 * them): the same checks, one transaction, all or nothing. */
gs_err store_apply_changes(store *s, crdt_change *const *cs, size_t n,
                           const uint8_t *hold, uint8_t *out,
                           store_result *res, size_t *bad_index);
/* Received changes' packed forms (FRAMES, issue 20): until called again
 * (n 0 forgets them), a change cs[i] that store_apply_changes stores is
 * kept as the zstd frame frame[i] of frame_n[i] bytes (NULL: packed as
 * usual) instead of being packed again. Each frame must unpack to exactly
 * cs[i]'s bytes, and be one zstd frame that says its size (what
 * net_msg_unframe checked); one that the store would not keep (not
 * smaller than the change by its margin) is ignored. All borrowed. */
void store_apply_frames(store *s, crdt_change *const *cs,
                        const uint8_t *const *frame, const size_t *frame_n,
                        size_t n);

/* Held changes, in feed then seq order. The change is decoded and
 * borrowed for the call; cb returns non-zero to stop. */
typedef struct store_held {
  const crdt_change *change;
  uint8_t reason; /* STORE_HOLD_* */
} store_held;
typedef int (*store_held_cb)(void *ctx, const store_held *h);
gs_err store_held_list(store *s, store_held_cb cb, void *ctx);
/* Re-check held changes: for each feed, in seq order, a change is
 * applied when its stamp is no longer too far ahead and check (optional)
 * says STORE_HOLD_NONE; check returns a STORE_HOLD_* reason to keep it
 * held (and the rest of its feed), or -1 to drop it and the rest of its
 * feed for good. check runs inside the store's write transaction: it must
 * not use the store. res counts what was applied. */
typedef int (*store_held_check)(void *ctx, const crdt_change *c);
gs_err store_held_retry(store *s, store_held_check check, void *ctx,
                        store_result *res);

/* Feeds a bad change was seen in. */
typedef struct store_quar {
  uint8_t feed[CRDT_FEED_LEN];
  uint8_t origin[CRDT_KEY_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  uint64_t seq;   /* of the bad change */
  uint64_t at_ms; /* when it was seen (the store's clock) */
  uint8_t reason; /* STORE_BAD_* */
} store_quar;
typedef int (*store_quar_cb)(void *ctx, const store_quar *q);
gs_err store_quar_list(store *s, store_quar_cb cb, void *ctx);
/* One feed's quarantine entry; GS_ENOTFOUND if it has none. */
gs_err store_quar_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                      store_quar *out);

/* A local write session: changes built here are signed with sk (whose
 * public key is the origin) and applied in one transaction, committed by
 * store_write_commit. One session may write many changes (bulk import:
 * one fsync for all). A session must be committed or aborted. */
typedef struct store_write store_write;

gs_err store_write_begin(store *s, const uint8_t sk[CRDT_SK_LEN],
                         store_write **out);
/* Build the next change of feed (origin, scope) holding ops, stamped with
 * the node's HLC ticked at phys_ms, and apply it. The new change's seq and
 * hlc are returned through the optional pointers. */
gs_err store_write_change(store_write *w, const char *scope, size_t scope_len,
                          const crdt_op *ops, size_t nops, uint64_t phys_ms,
                          uint64_t *seq, crdt_hlc *hlc);
/* Commit durably and free w (also on error). After store_write_change
 * fails, the session may hold part of that change: abort it, never
 * commit. */
gs_err store_write_commit(store_write *w);
/* Discard everything of w and free it; NULL is a no-op. */
void store_write_abort(store_write *w);
/* Write the meta entry key = buf (n bytes; buf NULL: delete it) in w's
 * transaction when w commits (the last call wins): a mark that commits
 * or vanishes with the session's changes (a load's progress, issue 20).
 * GS_EINVAL when key or value is longer than these. */
#define STORE_WRITE_META_KEY 96
#define STORE_WRITE_META_VAL 64
gs_err store_write_meta(store_write *w, const char *key, const void *buf,
                        size_t n);
/* White-box tests only: redo w's session from its kept change bytes in a
 * new transaction, as after MDB_MAP_FULL (the map grows first). */
gs_err store__write_replay(store_write *w);
/* White-box tests only: keep the last change of w now if it is pending
 * (signed aside: store.c, write_settle), as w's next call would. */
gs_err store__write_settle(store_write *w);
/* White-box tests only: the next n pending changes kept meet MDB_MAP_FULL
 * (as a full map would: the session is then redone in a grown map);
 * returns how many of those set before were left unmet. */
unsigned store__settle_full(store *s, unsigned n);
/* Tests: the next n changes signed aside whose records are written while
 * the change before them is signed meet a full map once those records
 * are written (the change before then listed for the replay, not kept);
 * returns how many of the last such n were not met. */
unsigned store__records_full(store *s, unsigned n);
/* White-box tests only (store.c, "the cipher work of a batch"): the
 * cipher worker waits delay_us after taking each block (as a worker taken
 * off its core would; 0: not), and the blocks opened and sealed by each
 * thread since s was opened: out[0] opened by this thread, [1] by the
 * worker, [2] sealed by this thread, [3] by the worker (all 0 with one
 * thread, as on Windows). */
void store__cipher_delay(store *s, unsigned delay_us);
void store__cipher_counts(const store *s, uint64_t out[4]);
/* White-box tests only (store.c, "a local change signed aside"): how a
 * big local change is signed: STORE__SIGN_ASIDE (the default: posted to
 * the worker, taken back by this thread if the worker has not begun it),
 * STORE__SIGN_INLINE (on this thread, never posted), STORE__SIGN_WORKER
 * (posted always, even after a stall, and this thread waits until the
 * worker takes it, and packs it), STORE__SIGN_WORKER_SIGNS (the same, but
 * the worker leaves the packing to this thread); and the
 * changes signed aside since s was opened: out[0] by the worker, out[1]
 * by this thread (0 with one thread, as on Windows), out[2] the ns this
 * thread waited for the worker to finish one it had begun, out[3] the big
 * changes left to sign on this thread in a back-off after the worker
 * stalled (STORE__SIGN_WORKER and _SIGNS ignore the back-off, but count
 * stalls).
 * store__sign_delay: the worker sleeps delay_us as it signs (a stall
 * when more than 0.2 ms; 0: not). */
enum {
  STORE__SIGN_ASIDE,
  STORE__SIGN_INLINE,
  STORE__SIGN_WORKER,
  STORE__SIGN_WORKER_SIGNS
};
void store__sign_aside(store *s, int how);
void store__sign_delay(store *s, unsigned delay_us);
void store__sign_counts(const store *s, uint64_t out[4]);
/* out[0]: changes signed aside whose records were written while the
 * change before them was still being signed (then kept); out[1]: such
 * changes before, listed for a replay without being kept (the records
 * after them met a full map). */
void store__sign_after(const store *s, uint64_t out[2]);
/* The changes packed (zstd frames made: kept changes, a write session's
 * copies) since s was opened: out[0] by s's own packer (its thread),
 * out[1] with their signing aside (by the worker, or this thread when it
 * took the task back; 0 with one thread, as on Windows). */
void store__change_packs(const store *s, uint64_t out[2]);
/* The CPU time of s's cipher worker so far, in ns; -1: no worker (none
 * made yet, or one thread as on Windows). */
int64_t store__cipher_worker_cpu_ns(const store *s);
/* The CPU time s's cipher worker spent watching for its next work
 * (awake, before it sleeps: store.c, cipher_watch), in ns; 0 without a
 * worker. */
uint64_t store__cipher_watch_ns(const store *s);

/* The node's HLC as last stored (0 if never). */
gs_err store_hlc(store *s, crdt_hlc *out);

/* ---- reading ---- */

/* Every scope holding a record (collection, id), with its state.
 * Callback returns non-zero to stop. rec is borrowed for the call. */
typedef int (*store_record_cb)(void *ctx, const crdt_record *rec);

/* Records of (coll, id) in every scope (normally one). GS_ENOTFOUND when
 * none. */
gs_err store_get(store *s, const char *coll, size_t coll_len,
                 const uint8_t id[CRDT_ID_LEN], store_record_cb cb, void *ctx);
/* Records of coll whose scope is under prefix (NULL or "" for all), in
 * id order (ids sort by creation); with coll NULL, records of every
 * collection in scope, collection, id order. */
gs_err store_list(store *s, const char *coll, size_t coll_len,
                  const char *prefix, size_t prefix_len, store_record_cb cb,
                  void *ctx);

/* The changes that touched (coll, id), oldest first by hlc. change is
 * decoded and borrowed for the call. */
typedef int (*store_change_cb)(void *ctx, const crdt_change *change);
gs_err store_history(store *s, const char *coll, size_t coll_len,
                     const uint8_t id[CRDT_ID_LEN], store_change_cb cb,
                     void *ctx);

/* One feed as the version vector holds it. */
typedef struct store_feed {
  uint8_t feed[CRDT_FEED_LEN];
  uint8_t origin[CRDT_KEY_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
  uint64_t seq;
  uint8_t head[CRDT_HASH_LEN];
} store_feed;
typedef int (*store_feed_cb)(void *ctx, const store_feed *feed);
/* Every feed held, in feed id order. */
gs_err store_feeds(store *s, store_feed_cb cb, void *ctx);
/* The same from the first feed after `after` (CRDT_FEED_LEN bytes; NULL:
 * from the first): for paging through the version vector. */
gs_err store_feeds_after(store *s, const uint8_t *after, store_feed_cb cb,
                         void *ctx);
/* One feed's entry; GS_ENOTFOUND if not held. */
gs_err store_feed_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                      store_feed *out);

/* The raw changes of feed with seq in [from, to], in order: what a peer
 * lacking them is sent. bytes is borrowed for the call, and may live in
 * the store's one buffer for unpacked changes: the callback must not
 * read changes of this store (read, history, apply) before it is done
 * with them. */
typedef int (*store_raw_cb)(void *ctx, uint64_t seq, const uint8_t *bytes,
                            size_t n);
gs_err store_feed_read(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t from, uint64_t to, store_raw_cb cb, void *ctx);
/* The same changes as the store keeps them, neither unpacked nor packed
 * again (issue 20: what FRAMES carries): kept is the change's own bytes
 * or one zstd frame of them (opened from its seal), raw_len the change's
 * size, which a frame states (GS_ECORRUPT if it does not, or states more
 * than CRDT_CHANGE_MAX). Borrowed for the call, as above. */
typedef int (*store_kept_cb)(void *ctx, uint64_t seq, const uint8_t *kept,
                             size_t n, size_t raw_len);
gs_err store_feed_read_kept(store *s, const uint8_t feed[CRDT_FEED_LEN],
                            uint64_t from, uint64_t to, store_kept_cb cb,
                            void *ctx);

/* The fork evidence kept (`forks`): the change of feed at seq that
 * differs from the one held, its bytes borrowed for the call; cb returns
 * non-zero to stop. store_fork_read gives one (GS_ENOTFOUND if none). */
typedef int (*store_fork_cb)(void *ctx, const uint8_t *feed, uint64_t seq,
                             const uint8_t *bytes, size_t n);
gs_err store_forks_list(store *s, store_fork_cb cb, void *ctx);
gs_err store_fork_read(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t seq, store_raw_cb cb, void *ctx);

/* Digest of the materialised state under prefix: BLAKE2b-256 over the
 * canonical encodings of every record under it, in scope order. Equal on
 * two nodes exactly when their states under prefix are equal. *nrecords
 * (optional) counts the records. */
gs_err store_digest(store *s, const char *prefix, size_t prefix_len,
                    uint8_t out[CRDT_HASH_LEN], size_t *nrecords);

/* What peers said they hold (their version vectors): kept so that status
 * can say how far behind this node is on each feed. Feeds not held here
 * are kept only up to STORE_HEARD_MAX entries (a peer cannot grow the
 * store without bound). */
#define STORE_HEARD_MAX 100000
/* A seq beyond this (2^48 - 1: more changes than a feed can ever hold) is
 * not a peer's honest word: store_heard_raise ignores it, store_behind
 * reads an older store's such entry as this. */
#define STORE_SEQ_MAX (((uint64_t)1 << 48) - 1)
gs_err store_heard_raise(store *s, const uint8_t (*feeds)[CRDT_FEED_LEN],
                         const uint64_t *seqs, size_t n);
/* The highest seq of feed some peer is known to hold (its version vector,
 * or its acknowledgement of changes sent to it): 0 when none is. */
gs_err store_heard_get(store *s, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t *seq);
/* Every feed some peer holds more of than this node: held < heard. */
typedef int (*store_behind_cb)(void *ctx, const uint8_t feed[CRDT_FEED_LEN],
                               uint64_t held, uint64_t heard);
gs_err store_behind(store *s, store_behind_cb cb, void *ctx);

/* Counts for status. */
typedef struct store_stats {
  size_t records, feeds, changes, forks;
  size_t held, quarantined; /* held changes; feeds in `quar` */
  uint64_t map_size, used_bytes;
} store_stats;
gs_err store_stats_get(store *s, store_stats *out);

/* ---- a consistent copy (issue 21: backup, compact) ----
 * Write the whole environment as one LMDB data file to fd (a file or a
 * pipe, written sequentially from its current position), as of one read
 * transaction: other processes may go on writing. compact leaves free
 * pages out and renumbers the rest (MDB_CP_COMPACT). fd is not closed
 * nor synced. Safe to call from another thread than the store's own
 * while that thread does not use the store. */
gs_err store_copy_fd(store *s, int fd, bool compact);

/* Read every entry of every table as of one read transaction, opening
 * sealed values and decoding every record and kept change: GS_OK when
 * all read back, else the first error (GS_ESEAL, GS_ECORRUPT...).
 * *entries (optional) gets how many were read. A restore runs it on a
 * backup's store in a child process before taking it (node/admin.c). */
gs_err store_check(store *s, uint64_t *entries);

#endif
