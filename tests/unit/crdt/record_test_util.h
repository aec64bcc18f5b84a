/*
 * The fixtures of the record tests (test_record.c, version 2 and the
 * state; test_record3.c, version 3): one resident's identity, two
 * origins, an empty record and a stamp. Included by those two files
 * only: each uses all of it.
 */
#ifndef GS_RECORD_TEST_UTIL_H
#define GS_RECORD_TEST_UTIL_H

#include "crdt_test_util.h"

#define NOW 1790000000000ULL

static const char *scope = "gongrencun/qinghejv/g07";
static const uint8_t rid[CRDT_ID_LEN] = {0x01, 0x9a, 1, 2, 3, 4, 5, 6,
                                         7,    8,    9, 10, 11, 12, 13, 14};
static uint8_t oa[CRDT_KEY_LEN], ob[CRDT_KEY_LEN];

/* The suites' init: libsodium, and the two origins' keys. */
static void record_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  memset(oa, 0xaa, sizeof oa);
  memset(ob, 0xbb, sizeof ob);
}

static crdt_record *empty(void)
{
  crdt_record *r = crdt_record_new(scope, strlen(scope), "resident", 8, rid);
  cr_assert_not_null(r);
  return r;
}

static crdt_stamp stamp(uint64_t ms, unsigned c, const uint8_t *origin)
{
  crdt_stamp s = {.hlc = CRDT_HLC_MAKE(ms, c)};
  memcpy(s.origin, origin, CRDT_KEY_LEN);
  return s;
}

#endif
