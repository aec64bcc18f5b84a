/*
 * Helpers shared by the crdt unit tests. Everything is static inline so
 * each test file gets its own copy and nothing clashes in the one
 * gridsync-unit binary.
 *
 *   tu_rng      splitmix64: a fixed, portable stream for each seed
 *   tu_dup      exact-size heap copy (ASan then sees any over-read)
 *   tu_splice   re-encode a msgpack document with the node at a path
 *               replaced by given bytes (everything else re-packed in
 *               msgpack-c's canonical form, i.e. unchanged)
 *   tu_nodes    list every node of a document (pre-order) with its path
 *   tu_pack_kind  one sample object of each msgpack kind
 */
#ifndef GS_CRDT_TEST_UTIL_H
#define GS_CRDT_TEST_UTIL_H

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

typedef struct tu_rng {
  uint64_t s;
} tu_rng;

static inline uint64_t tu_next(tu_rng *r)
{
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline size_t tu_below(tu_rng *r, size_t n)
{
  return (size_t)(tu_next(r) % n);
}

static inline uint8_t *tu_dup(const void *p, size_t n)
{
  uint8_t *d = malloc(n ? n : 1);
  cr_assert_not_null(d);
  if (n)
    memcpy(d, p, n);
  return d;
}

/* The bytes an sbuffer holds, as an exact-size copy; destroys sb. */
static inline uint8_t *tu_take(msgpack_sbuffer *sb, size_t *n)
{
  uint8_t *d = tu_dup(sb->data, sb->size);
  *n = sb->size;
  msgpack_sbuffer_destroy(sb);
  return d;
}

#define TU_MAX_DEPTH 12

typedef struct tu_node {
  const msgpack_object *o;
  size_t path[TU_MAX_DEPTH];
  size_t depth;
} tu_node;

static inline void tu_collect(const msgpack_object *o, tu_node *out,
                              size_t cap, size_t *n, size_t *path,
                              size_t depth)
{
  cr_assert_lt(*n, cap);
  cr_assert_lt(depth, TU_MAX_DEPTH);
  tu_node *nd = &out[(*n)++];
  nd->o = o;
  nd->depth = depth;
  memcpy(nd->path, path, depth * sizeof *path);
  if (o->type == MSGPACK_OBJECT_ARRAY)
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      path[depth] = i;
      tu_collect(&o->via.array.ptr[i], out, cap, n, path, depth + 1);
    }
}

/* Unpack buf (valid msgpack) and list its nodes; *u is the caller's to
 * destroy. Returns the node count. */
static inline size_t tu_nodes(const uint8_t *buf, size_t n,
                              msgpack_unpacked *u, tu_node *out, size_t cap)
{
  size_t off = 0, count = 0, path[TU_MAX_DEPTH];
  msgpack_unpacked_init(u);
  cr_assert_eq(msgpack_unpack_next(u, (const char *)buf, n, &off),
               MSGPACK_UNPACK_SUCCESS);
  cr_assert_eq(off, n);
  tu_collect(&u->data, out, cap, &count, path, 0);
  return count;
}

static inline void tu_pack_splice(msgpack_packer *pk, msgpack_sbuffer *sb,
                                  const msgpack_object *o,
                                  const size_t *path, size_t depth,
                                  bool on_path, size_t level,
                                  const void *rep, size_t repn)
{
  if (on_path && level == depth) {
    msgpack_sbuffer_write(sb, rep, repn);
    return;
  }
  if (o->type == MSGPACK_OBJECT_ARRAY) {
    msgpack_pack_array(pk, o->via.array.size);
    for (uint32_t i = 0; i < o->via.array.size; i++)
      tu_pack_splice(pk, sb, &o->via.array.ptr[i], path, depth,
                     on_path && path[level] == i, level + 1, rep, repn);
    return;
  }
  msgpack_pack_object(pk, *o);
}

/* buf with the node at path replaced by the bytes rep (exact-size copy,
 * caller frees). rep == NULL re-encodes buf unchanged. */
static inline uint8_t *tu_splice(const uint8_t *buf, size_t n,
                                 const size_t *path, size_t depth,
                                 const void *rep, size_t repn,
                                 size_t *outn)
{
  msgpack_unpacked u;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  size_t off = 0;
  msgpack_unpacked_init(&u);
  cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off),
               MSGPACK_UNPACK_SUCCESS);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  tu_pack_splice(&pk, &sb, &u.data, path, depth, rep != NULL, 0, rep, repn);
  msgpack_unpacked_destroy(&u);
  return tu_take(&sb, outn);
}

/* The bytes of the node at path (msgpack-c's canonical packing of it;
 * the same bytes as in buf when buf is canonical). Caller frees. */
static inline uint8_t *tu_sub(const uint8_t *buf, size_t n,
                              const size_t *path, size_t depth,
                              size_t *outn)
{
  msgpack_unpacked u;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  size_t off = 0;
  msgpack_unpacked_init(&u);
  cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off),
               MSGPACK_UNPACK_SUCCESS);
  const msgpack_object *o = &u.data;
  for (size_t i = 0; i < depth; i++) {
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_lt(path[i], o->via.array.size);
    o = &o->via.array.ptr[path[i]];
  }
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_object(&pk, *o);
  msgpack_unpacked_destroy(&u);
  return tu_take(&sb, outn);
}

/* Kinds of msgpack object, as far as a strict decoder tells them apart. */
enum {
  TU_NIL,
  TU_BOOL,
  TU_UINT,
  TU_NEGINT,
  TU_F64,
  TU_F32,
  TU_STR,
  TU_BIN,
  TU_ARRAY,
  TU_MAP,
  TU_EXT, /* ext of a type no decoder knows (5) */
  TU_NKINDS
};

static inline int tu_kind_of(const msgpack_object *o)
{
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: return TU_NIL;
  case MSGPACK_OBJECT_BOOLEAN: return TU_BOOL;
  case MSGPACK_OBJECT_POSITIVE_INTEGER: return TU_UINT;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return TU_NEGINT;
  case MSGPACK_OBJECT_FLOAT64: return TU_F64;
  case MSGPACK_OBJECT_FLOAT32: return TU_F32;
  case MSGPACK_OBJECT_STR: return TU_STR;
  case MSGPACK_OBJECT_BIN: return TU_BIN;
  case MSGPACK_OBJECT_ARRAY: return TU_ARRAY;
  case MSGPACK_OBJECT_MAP: return TU_MAP;
  default: return TU_EXT;
  }
}

/* One sample object of kind k, as bytes (at most 32). */
static inline size_t tu_kind_bytes(int k, uint8_t out[32])
{
  static const uint8_t samples[TU_NKINDS][24] = {
      [TU_NIL] = {1, 0xc0},
      [TU_BOOL] = {1, 0xc3},
      [TU_UINT] = {1, 0x07},
      [TU_NEGINT] = {1, 0xfd},
      [TU_F64] = {9, 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0},
      [TU_F32] = {5, 0xca, 0x3f, 0x00, 0, 0},
      [TU_STR] = {2, 0xa1, 'x'},
      [TU_BIN] = {3, 0xc4, 0x01, 'x'},
      [TU_ARRAY] = {1, 0x90},
      [TU_MAP] = {1, 0x80},
      [TU_EXT] = {20, 0xc7, 0x11, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                  12, 13, 14, 15, 16, 'a'},
  };
  size_t n = samples[k][0];
  memcpy(out, samples[k] + 1, n);
  return n;
}

#endif
