/*
 * crdt: gridsync's pure data layer.
 *
 * Hybrid logical clock, stamps, typed values, record state (LWW registers,
 * observed-remove add-wins sets, a tombstone register), merge, the change
 * format of DESIGN.md section 4 and its strict msgpack codec, base32 ids,
 * and the small set of hashing/signing functions changes need.
 *
 * No I/O. Functions that allocate say so and hand ownership to the caller
 * through a matching _free. Pointers in "view" structs are borrowed: they
 * stay valid as long as the object they were read from.
 */
#ifndef GS_CRDT_H
#define GS_CRDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/gs_err.h"

#define CRDT_ID_LEN 16      /* record id */
#define CRDT_KEY_LEN 32     /* Ed25519 public key: a node's origin id */
#define CRDT_SK_LEN 64      /* Ed25519 secret key (libsodium form) */
#define CRDT_SIG_LEN 64
#define CRDT_HASH_LEN 32    /* BLAKE2b-256 */
#define CRDT_ID_TEXT_LEN 26 /* base32 of an id */
#define CRDT_KEY_TEXT_LEN 52 /* base32 of a node key */

#define CRDT_SCOPE_MAX 200      /* bytes of a scope path */
#define CRDT_SCOPE_DEPTH 8      /* segments of a scope path */
#define CRDT_NAME_MAX 64        /* collection and field names */
#define CRDT_TEXT_MAX 16384     /* a string or bytes value */
#define CRDT_OPS_MAX 4096       /* ops in one change */
#define CRDT_TAGS_MAX 1024      /* observed tags in one remove op */
#define CRDT_CHANGE_MAX 61440   /* encoded change; fits a 64 KiB frame */

/* ------------------------------------------------------------------ */
/* Crypto used by changes (libsodium behind these few functions).      */

/* Initialise libsodium; call once before anything else. GS_ECRYPTO if it
 * cannot be initialised. */
gs_err crdt_crypto_init(void);
/* Fill buf with n random bytes (the operating system's generator). */
void crdt_random(void *buf, size_t n);

/* A source of random bytes, injected like the clock: the id functions
 * take one, so that a caller (demo data, a test) can make ids that are
 * the same on every run. NULL means crdt_random. */
typedef struct crdt_rng {
  void (*fill)(void *ctx, void *buf, size_t n);
  void *ctx;
} crdt_rng;

/* Grow the array *arr of elements of size bytes, whose capacity is *cap,
 * to hold at least need (doubling). GS_ENOMEM leaves *arr and *cap as
 * they were. */
gs_err crdt_grow(void **arr, size_t *cap, size_t need, size_t size);
/* BLAKE2b-256 of data. */
void crdt_hash(const void *data, size_t n, uint8_t out[CRDT_HASH_LEN]);

/* Incremental BLAKE2b-256. The state is a plain struct so callers can keep
 * it on the stack; its contents are private. */
typedef struct crdt_hasher {
  _Alignas(64) unsigned char opaque[384];
} crdt_hasher;
void crdt_hasher_init(crdt_hasher *h);
void crdt_hasher_update(crdt_hasher *h, const void *data, size_t n);
void crdt_hasher_final(crdt_hasher *h, uint8_t out[CRDT_HASH_LEN]);

/* New Ed25519 key pair. */
void crdt_keypair(uint8_t pk[CRDT_KEY_LEN], uint8_t sk[CRDT_SK_LEN]);
/* The key pair of a 32-byte seed (deterministic). */
void crdt_keypair_seed(const uint8_t seed[32], uint8_t pk[CRDT_KEY_LEN],
                       uint8_t sk[CRDT_SK_LEN]);
/* Derive the public key from a secret key. */
void crdt_sk_to_pk(const uint8_t sk[CRDT_SK_LEN], uint8_t pk[CRDT_KEY_LEN]);
/* Ed25519 detached signature of msg. */
void crdt_sign(const uint8_t sk[CRDT_SK_LEN], const void *msg, size_t n,
               uint8_t sig[CRDT_SIG_LEN]);
/* true when sig is pk's valid signature of msg. */
bool crdt_verify(const uint8_t pk[CRDT_KEY_LEN], const void *msg, size_t n,
                 const uint8_t sig[CRDT_SIG_LEN]);
/* Zero memory that held a secret (not optimised away). */
void crdt_wipe(void *p, size_t n);

/* Sealing at rest (issue 19): XChaCha20-Poly1305-IETF under a 32-byte
 * data key, with associated data (the LMDB key and table, or a file's
 * name) so that a sealed value cannot be moved elsewhere. A sealed value
 * is nonce(24) | ciphertext | tag(16): CRDT_SEAL_OVERHEAD bytes more
 * than the plaintext; the nonce is random (crdt_seal), or the caller's
 * (crdt_seal_nonce, a crdt_sealer's). docs/SEALING.md. */
#define CRDT_SEAL_KEY_LEN 32
#define CRDT_SEAL_OVERHEAD 40
#define CRDT_SALT_LEN 16
/* Seal n bytes of msg into out (n + CRDT_SEAL_OVERHEAD bytes, not
 * overlapping msg). */
void crdt_seal(const uint8_t key[CRDT_SEAL_KEY_LEN], const void *ad,
               size_t adn, const void *msg, size_t n, uint8_t *out);
/* The same with the caller's nonce (24 bytes, never used twice under one
 * key: a store takes 16 random bytes once, then counts). */
void crdt_seal_nonce(const uint8_t key[CRDT_SEAL_KEY_LEN],
                     const uint8_t nonce[24], const void *ad, size_t adn,
                     const void *msg, size_t n, uint8_t *out);
/* Open n sealed bytes of in into out (n - CRDT_SEAL_OVERHEAD bytes).
 * GS_ESEAL when they do not authenticate (another key, another place,
 * a changed byte); out is then wiped. */
gs_err crdt_seal_open(const uint8_t key[CRDT_SEAL_KEY_LEN], const void *ad,
                      size_t adn, const uint8_t *in, size_t n, uint8_t *out);
/* A sealer: crdt_seal_nonce's sealing, byte for byte the same
 * XChaCha20-Poly1305-IETF, made cheap for a store's many small values.
 * Its nonces are prefix(16, random, fresh per sealer) | counter(8,
 * big-endian, from 1): never repeated under the key, as a new sealer
 * (each store open) draws a new prefix (2^-128 a pair to meet again),
 * with no system call per value. The prefix's HChaCha20 subkey is worked
 * out once; opening keeps the subkeys of up to CRDT_SEALER_CACHE
 * prefixes met (one per slot, by the prefix's first byte). The ChaCha20
 * key stream of a value up to CRDT_SEALER_FAST bytes is made in one call
 * in whole 256-byte runs (libsodium's 4- and 8-block paths; its
 * one-block path for a partial run costs as much as four), then wiped.
 * Kept in secret memory (crdt_secret_alloc), wiped when freed. One
 * thread at a time. docs/SEALING.md. */
#define CRDT_SEALER_CACHE 64
#define CRDT_SEALER_FAST 4032
typedef struct crdt_sealer crdt_sealer;
/* A sealer of key (copied): GS_ENOMEM when no secret memory. */
gs_err crdt_sealer_new(const uint8_t key[CRDT_SEAL_KEY_LEN],
                       crdt_sealer **out);
void crdt_sealer_free(crdt_sealer *s); /* NULL: nothing */
/* Seal n bytes of msg into out (n + CRDT_SEAL_OVERHEAD, not overlapping
 * msg) under the next nonce; GS_ECRYPTO (nothing sealed) once 2^64 - 1
 * values are sealed (never, in practice). */
gs_err crdt_sealer_seal(crdt_sealer *s, const void *ad, size_t adn,
                        const void *msg, size_t n, uint8_t *out);
/* crdt_seal_open's opening (any nonce: a value of any sealer, or of
 * crdt_seal, under the same key): GS_ESEAL when it does not
 * authenticate (no plaintext then left in out); out (n -
 * CRDT_SEAL_OVERHEAD bytes) must not overlap in. */
gs_err crdt_sealer_open(crdt_sealer *s, const void *ad, size_t adn,
                        const uint8_t *in, size_t n, uint8_t *out);
/* Argon2id (ALG_ARGON2ID13) of a passphrase: out (CRDT_SEAL_KEY_LEN
 * bytes). ops/mem (bytes) must lie within CRDT_PWHASH_* below, else
 * GS_EINVAL; GS_ENOMEM when the memory cannot be had. */
#define CRDT_PWHASH_OPS_MIN 1
#define CRDT_PWHASH_OPS_MAX 32
#define CRDT_PWHASH_MEM_MIN ((uint64_t)8 << 10)  /* 8 KiB (tests only) */
#define CRDT_PWHASH_MEM_MAX ((uint64_t)1 << 30)  /* 1 GiB */
gs_err crdt_pwhash(uint8_t out[CRDT_SEAL_KEY_LEN], const char *pass,
                   size_t passn, const uint8_t salt[CRDT_SALT_LEN],
                   uint64_t ops, uint64_t mem);
/* A keyed BLAKE2b of ctx (a NUL-terminated domain name) then data, outn
 * (16..64) bytes: names a value without showing it. */
void crdt_hash_keyed(const uint8_t key[CRDT_SEAL_KEY_LEN], const char *ctx,
                     const void *data, size_t n, uint8_t *out, size_t outn);
/* Memory for keys: guarded, locked (not swapped), wiped when freed.
 * crdt_secret_free(NULL) does nothing. NULL when none can be had. */
void *crdt_secret_alloc(size_t n);
void crdt_secret_free(void *p);

/* ------------------------------------------------------------------ */
/* Hybrid logical clock: 48 bits of Unix milliseconds, 16-bit counter.  */

typedef uint64_t crdt_hlc;

#define CRDT_HLC_MS(h) ((uint64_t)(h) >> 16)
#define CRDT_HLC_MAKE(ms, c) (((uint64_t)(ms) << 16) | ((uint64_t)(c) & 0xffff))
/* Valid stamps are in [1, CRDT_HLC_LIMIT): they fit a signed 64-bit
 * integer (JSON, msgpack int64) and leave room to count past any stamp
 * seen. */
#define CRDT_HLC_LIMIT ((uint64_t)1 << 63)

bool crdt_hlc_valid(crdt_hlc h);

/* A local event (a write): returns a stamp greater than *state and than
 * the physical clock, and stores it in *state. The counter carries into
 * the millisecond part, so a fast writer or a clock stuck in the past
 * never stalls. GS_ECLOCK only if the clock was driven to CRDT_HLC_LIMIT. */
gs_err crdt_hlc_tick(crdt_hlc *state, uint64_t phys_ms, crdt_hlc *out);

/* Receive rule: after seeing a remote stamp, *state is at least it, so any
 * later local write is ordered after it (causality), however wrong the
 * local physical clock. GS_ECLOCK if remote is not a valid stamp. */
gs_err crdt_hlc_observe(crdt_hlc *state, crdt_hlc remote);

/* Milliseconds by which stamp h is ahead of the physical clock (0 if not
 * ahead): the size of a clock-skew warning. */
uint64_t crdt_hlc_ahead_ms(crdt_hlc h, uint64_t phys_ms);

/* A stamp orders writes: by hlc, then origin key bytes. */
typedef struct crdt_stamp {
  crdt_hlc hlc;
  uint8_t origin[CRDT_KEY_LEN];
} crdt_stamp;

/* <0, 0, >0 as a orders before, equal to, after b. */
int crdt_stamp_cmp(const crdt_stamp *a, const crdt_stamp *b);

/* ------------------------------------------------------------------ */
/* Names, scopes, ids.                                                  */

/* Collection and field names: [a-z][a-z0-9_]*, at most CRDT_NAME_MAX. */
bool crdt_name_valid(const char *s, size_t n);
/* Scope paths: 1..CRDT_SCOPE_DEPTH segments of [A-Za-z0-9_.-]+ joined by
 * '/', at most CRDT_SCOPE_MAX bytes. */
bool crdt_scope_valid(const char *s, size_t n);
/* true when scope is prefix or below it, segment-wise ("a/b" is under
 * "a" but not under "a/bc"). An empty prefix matches every scope. */
bool crdt_scope_under(const char *scope, size_t n, const char *prefix,
                      size_t pn);
/* Strict UTF-8: no overlongs, surrogates or code points past U+10FFFF. */
bool crdt_utf8_valid(const char *s, size_t n);

/* A new record id: 6 bytes of big-endian milliseconds then 10 random
 * bytes, so ids sort by creation time. */
void crdt_id_new(uint64_t ms, const crdt_rng *rng, uint8_t id[CRDT_ID_LEN]);
/* The same, but greater than prev (the last id this writer made): within
 * one millisecond, or if the clock stepped back, prev plus one (as
 * monotonic ULIDs do). Ids made in a row then sort in order, so a bulk
 * load appends to the B-trees instead of splitting pages half full. */
void crdt_id_next(uint64_t ms, const crdt_rng *rng,
                  const uint8_t prev[CRDT_ID_LEN], uint8_t id[CRDT_ID_LEN]);
/* An id that names its author, for records written once (the schema's
 * immutable collections): 6 bytes of milliseconds, 3 random, then the
 * first CRDT_ID_OWNER_LEN (7) bytes of the author's key (a key made to
 * match them costs about 2^56 tries); greater than prev (within a
 * millisecond, prev's first 9 bytes plus one). Receivers
 * accept ops on such a record only from its author (node/member.c), a
 * rule that depends on the op alone, so every node decides alike. */
#define CRDT_ID_OWNER_LEN 7
void crdt_id_owned(uint64_t ms, const crdt_rng *rng,
                   const uint8_t prev[CRDT_ID_LEN],
                   const uint8_t origin[CRDT_KEY_LEN],
                   uint8_t id[CRDT_ID_LEN]);
bool crdt_id_owned_by(const uint8_t id[CRDT_ID_LEN],
                      const uint8_t origin[CRDT_KEY_LEN]);
/* Crockford base32 (0-9, A-Z less I L O U), most significant bits first.
 * out holds ((8*n+4)/5) chars plus a NUL. */
void crdt_base32_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly n bytes from text; case-insensitive; GS_EDECODE on a bad
 * length, a bad character or non-zero padding bits. */
gs_err crdt_base32_decode(const char *text, size_t tn, uint8_t *out,
                          size_t n);

/* ------------------------------------------------------------------ */
/* Values.                                                              */

typedef enum crdt_type {
  CRDT_NIL = 0,
  CRDT_BOOL,
  CRDT_INT,
  CRDT_FLOAT,
  CRDT_STR,
  CRDT_BYTES,
  CRDT_REF,
} crdt_type;

/* A typed value; str/bytes/ref.coll are borrowed views. Strings are
 * UTF-8, floats finite. A ref names a record: collection + id. */
typedef struct crdt_value {
  crdt_type type;
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      const char *p;
      size_t n;
    } s; /* CRDT_STR and CRDT_BYTES */
    struct {
      const char *coll;
      size_t coll_len;
      uint8_t id[CRDT_ID_LEN];
    } ref;
  } u;
} crdt_value;

/* Checks a value as the decoder would (UTF-8, sizes, finite floats). */
gs_err crdt_value_check(const crdt_value *v);
/* Canonical msgpack bytes of v, malloc'd into *out (caller frees). */
gs_err crdt_value_encode(const crdt_value *v, uint8_t **out, size_t *n);
/* Decode one canonical value occupying all of buf; the view borrows buf. */
gs_err crdt_value_decode(const uint8_t *buf, size_t n, crdt_value *out);
/* true when a and b are the same value. */
bool crdt_value_equal(const crdt_value *a, const crdt_value *b);

/* ------------------------------------------------------------------ */
/* Changes (DESIGN.md section 4).                                       */

typedef enum crdt_op_kind {
  CRDT_OP_SET = 0,     /* field := value (LWW register) */
  CRDT_OP_ADD = 1,     /* element added to set field; tag = change stamp */
  CRDT_OP_REMOVE = 2,  /* element's observed add tags removed */
  CRDT_OP_DELETE = 3,  /* tombstone := true */
  CRDT_OP_RESTORE = 4, /* tombstone := false */
} crdt_op_kind;

/* One op on one record (collection + id) of the change's scope. field and
 * value are unused by DELETE/RESTORE; tags only by REMOVE. Set elements
 * are strings or refs. */
typedef struct crdt_op {
  crdt_op_kind kind;
  const char *coll;
  size_t coll_len;
  uint8_t id[CRDT_ID_LEN];
  const char *field;
  size_t field_len;
  crdt_value value;
  const crdt_stamp *tags;
  size_t ntags;
} crdt_op;

/* A change: one signed batch of ops in one scope of one origin's feed.
 * When decoded, every pointer refers to memory the change owns. */
typedef struct crdt_change {
  uint8_t origin[CRDT_KEY_LEN];
  const char *scope;
  size_t scope_len;
  uint64_t seq;
  uint8_t prev[CRDT_HASH_LEN];
  crdt_hlc hlc;
  const crdt_op *ops;
  size_t nops;
  uint8_t sig[CRDT_SIG_LEN];
  /* The exact encoded bytes (decoded or built changes). */
  const uint8_t *raw;
  size_t raw_len;
  /* Set by crdt_change_decode: the format version (1 or 2), and for a
   * version-2 change its digest (crdt/change.c), which crdt_change_verify
   * and crdt_change_hash then take instead of hashing raw again. Zero in
   * a change to build (which is always of the current version). */
  uint8_t version;
  bool has_digest;
  uint8_t digest[CRDT_HASH_LEN];
} crdt_change;

/* Encode and sign a change from c's header fields and ops (c->sig and
 * c->raw are ignored); sk must be the key of c->origin. Checks everything
 * the decoder checks. On success *out is a malloc'd buffer of *n bytes
 * (caller frees). */
gs_err crdt_change_build(const crdt_change *c, const uint8_t sk[CRDT_SK_LEN],
                         uint8_t **out, size_t *n);

/* crdt_change_build in two steps, so that the signing (a hash of the
 * change's bytes and an Ed25519 signature of that digest) may be done on
 * another thread while the change's records are written:
 * crdt_change_build_unsigned checks and encodes c, giving a malloc'd
 * buffer (*out, caller frees) of *n bytes that are the message to sign
 * (the domain, then the unsigned encoding), with room after them for the
 * signature; crdt_change_sign_built signs it in place, and *n becomes
 * the change's length: then buf holds exactly crdt_change_build's
 * bytes. The buffer must not be used between the two but by one thread
 * at a time. */
gs_err crdt_change_build_unsigned(const crdt_change *c, uint8_t **out,
                                  size_t *n);
void crdt_change_sign_built(const uint8_t sk[CRDT_SK_LEN], uint8_t *buf,
                            size_t *n);
/* crdt_change_sign_built, and (each optional) digest := the digest it
 * signed (crdt_change's digest), hash := the signed change's
 * crdt_change_hash, made from that digest (its bytes not hashed again). */
void crdt_change_sign_built_hash(const uint8_t sk[CRDT_SK_LEN], uint8_t *buf,
                                 size_t *n, uint8_t digest[CRDT_HASH_LEN],
                                 uint8_t hash[CRDT_HASH_LEN]);
/* Set the prev of an unsigned build (crdt_change_build_unsigned's buf,
 * n bytes, not yet signed) to prev, in place: the change's bytes are
 * then as if it had been built with that prev. A change is built before
 * its feed's head is known, when the change before it is still being
 * signed; its seq must be above 1 (its prev is not zero), and prev must
 * not be zero either. GS_EINVAL when buf is no such build. */
gs_err crdt_change_set_prev(uint8_t *buf, size_t n,
                            const uint8_t prev[CRDT_HASH_LEN]);

/* Strict decode: wrong types, truncation, trailing bytes, non-canonical
 * encodings, oversized strings or counts, invalid UTF-8 or names, an
 * invalid hlc, seq 0, a non-zero prev at seq 1... each is an error and
 * nothing is allocated. The signature is NOT checked here (see
 * crdt_change_verify). On success *out is owned by the caller: free with
 * crdt_change_free. buf is copied. */
gs_err crdt_change_decode(const uint8_t *buf, size_t n, crdt_change **out);
void crdt_change_free(crdt_change *c);

/* true when c->sig is origin's signature of the change (by the rule of
 * its version: crdt/change.c). */
bool crdt_change_verify(const crdt_change *c);
/* The change's hash, the next change's prev: of a version-2 change
 * BLAKE2b-256(digest || sig), of a version-1 change BLAKE2b-256 of its
 * bytes. */
void crdt_change_hash(const crdt_change *c, uint8_t out[CRDT_HASH_LEN]);
/* crdt_change_hash of a change's n encoded bytes, not decoded (bytes
 * that are no change's are hashed as a version-1 change's). */
void crdt_change_hash_raw(const uint8_t *raw, size_t n,
                          uint8_t out[CRDT_HASH_LEN]);
/* Feed id: BLAKE2b-256 over (origin, scope), truncated to 16 bytes. */
#define CRDT_FEED_LEN 16
void crdt_feed_id(const uint8_t origin[CRDT_KEY_LEN], const char *scope,
                  size_t scope_len, uint8_t out[CRDT_FEED_LEN]);

/* ------------------------------------------------------------------ */
/* Record state.                                                        */

/* A record's materialised state: its identity (scope, collection, id),
 * tombstone register and fields, each field an LWW register and/or an
 * observed-remove set, every entry with its stamp. Owned; free with
 * crdt_record_free. */
typedef struct crdt_record crdt_record;

/* New empty record (allocates; NULL on bad arguments or no memory). */
crdt_record *crdt_record_new(const char *scope, size_t scope_len,
                             const char *coll, size_t coll_len,
                             const uint8_t id[CRDT_ID_LEN]);
void crdt_record_free(crdt_record *r);

/* Apply op, stamped st, to r. The op must name r's collection and id.
 * Idempotent and order-independent. */
gs_err crdt_record_apply(crdt_record *r, const crdt_op *op,
                         const crdt_stamp *st);
/* crdt_record_apply of an op that crdt_change_build_unsigned or
 * crdt_change_decode has accepted in its change (they check each op's
 * field name, value and tags as crdt_record_apply does): those are not
 * checked again (issue 20: a local write checked each text three times).
 * The op's record and the stamp still are. */
gs_err crdt_record_apply_checked(crdt_record *r, const crdt_op *op,
                                 const crdt_stamp *st);
/* Room for nfields fields in r at once (a new record about to take that
 * many ops): fewer allocations than one field at a time. */
gs_err crdt_record_reserve(crdt_record *r, size_t nfields);
/* into := merge(into, other); both must be the same record. Commutative,
 * associative, idempotent. */
gs_err crdt_record_merge(crdt_record *into, const crdt_record *other);

/* Canonical bytes: equal states give equal bytes. *out malloc'd.
 * Version 3 (stores of format 3): without the record's identity (the
 * store's key holds it; the seal's associated data binds the value to
 * it), a table of the record's stamps named by index, the domain's field
 * names by number (crdt/record.c). */
gs_err crdt_record_encode(const crdt_record *r, uint8_t **out, size_t *n);
/* The version-1 bytes (32-byte origin in every stamp) that stores of
 * format 1 hold; for the migration's tests. */
gs_err crdt_record_encode_v1(const crdt_record *r, uint8_t **out, size_t *n);
/* The version-2 bytes (an origin table, the identity in the bytes) that
 * stores of format 2 hold; for the migration's tests. */
gs_err crdt_record_encode_v2(const crdt_record *r, uint8_t **out, size_t *n);
/* Strict decode of version 1's or 2's canonical bytes, which hold the
 * record's identity (copies what it keeps). Version 3 is GS_EDECODE here:
 * use crdt_record_decode_key. */
gs_err crdt_record_decode(const uint8_t *buf, size_t n, crdt_record **out);
/* Strict decode of any version's canonical bytes, of the record
 * (scope, coll, id) (what the store's key names): version 3 takes its
 * identity from them; versions 1 and 2 must hold the same (GS_EDECODE
 * else). */
gs_err crdt_record_decode_key(const uint8_t *buf, size_t n, const char *scope,
                              size_t sn, const char *coll, size_t cn,
                              const uint8_t id[CRDT_ID_LEN],
                              crdt_record **out);
/* The version encoded bytes claim to be (1, 2 or 3), 0 if not a record;
 * cheap, for skipping what needs no rewrite. */
unsigned crdt_record_version(const uint8_t *buf, size_t n);
/* As crdt_record_decode, every bound and type checked, but without the
 * canonical-bytes check (the re-encode and compare): for a state about to
 * be changed and re-encoded (the store's apply path). The state decoded is
 * canonical whatever the order of the bytes (it is built by merging them),
 * so the result re-encodes to canonical bytes. */
gs_err crdt_record_decode_state(const uint8_t *buf, size_t n,
                                crdt_record **out);
/* The same for any version, of the record (scope, coll, id), as
 * crdt_record_decode_key. */
gs_err crdt_record_decode_state_key(const uint8_t *buf, size_t n,
                                    const char *scope, size_t sn,
                                    const char *coll, size_t cn,
                                    const uint8_t id[CRDT_ID_LEN],
                                    crdt_record **out);
/* A copy of r (its own memory). */
gs_err crdt_record_copy(const crdt_record *r, crdt_record **out);
/* Version 3's frozen table of field names (sorted; *names borrowed,
 * static): how many. */
size_t crdt_record_v3_names(const char *const **names);

/* Read access. Views borrow from r and are valid until r changes. */
void crdt_record_identity(const crdt_record *r, const char **scope,
                          size_t *scope_len, const char **coll,
                          size_t *coll_len, uint8_t id[CRDT_ID_LEN]);
bool crdt_record_deleted(const crdt_record *r);
/* Stamp of the latest write kept in r's state (zero stamp if none):
 * register writes, the tombstone, set adds. A REMOVE keeps only the tags
 * it names, not its own stamp, so it does not count here. */
void crdt_record_last_stamp(const crdt_record *r, crdt_stamp *out);

/* One field as a reader sees it. A field is a set when its latest write
 * was a set op; then elems lists the live elements in canonical order
 * (borrowed array, valid until r changes); otherwise value holds the
 * register's value (CRDT_NIL if never set). */
typedef struct crdt_field_view {
  const char *name;
  size_t name_len;
  bool is_set;
  crdt_value value;
  crdt_stamp stamp;
  size_t nelems; /* live elements */
} crdt_field_view;

size_t crdt_record_nfields(const crdt_record *r);
/* The i-th field in name order. */
gs_err crdt_record_field(const crdt_record *r, size_t i,
                         crdt_field_view *out);
/* The j-th live element of the i-th field's set. */
gs_err crdt_record_elem(const crdt_record *r, size_t i, size_t j,
                        crdt_value *out);
/* Field index by name, or -1. */
long crdt_record_find(const crdt_record *r, const char *name, size_t n);
/* The live add tags of element elem in field name: what a REMOVE op must
 * name to remove it. *tags is malloc'd (caller frees), NULL when none. */
gs_err crdt_record_elem_tags(const crdt_record *r, const char *name,
                             size_t n, const crdt_value *elem,
                             crdt_stamp **tags, size_t *ntags);

/* ------------------------------------------------------------------ */
/* Strict msgpack for other decoders of untrusted input (net/).         */

struct msgpack_unpacked;
struct msgpack_object;
/* Structurally check buf (exactly one object, no container declaring more
 * elements than bytes remain, nesting at most max_depth), then unpack it
 * into *u, which this initialises and the caller destroys with
 * msgpack_unpacked_destroy. Strings and bins point into buf. */
gs_err crdt_mp_unpack(const uint8_t *buf, size_t n, unsigned max_depth,
                      struct msgpack_unpacked *u);
/* A non-negative integer; GS_EDECODE otherwise. */
gs_err crdt_mp_uint(const struct msgpack_object *o, uint64_t *out);
/* A bin of exactly len bytes, copied to out; GS_EDECODE otherwise. */
gs_err crdt_mp_bin(const struct msgpack_object *o, size_t len, uint8_t *out);

#endif
