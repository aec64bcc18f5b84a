/* Helpers of the domain API's unit tests (test_domain.c,
 * test_domain_words.c). */
#ifndef GS_TEST_DOMAIN_UTIL_H
#define GS_TEST_DOMAIN_UTIL_H

#include <criterion/criterion.h>
#include <string.h>

#include "node/domain.h"
#include "node/json.h"

/* The text of a register field of (coll, id) on n, "" when absent or
 * nil; into buf. */
static inline const char *t_field_text(node *n, const char *coll,
                                       const uint8_t *id, const char *field,
                                       char *buf, size_t cap)
{
  crdt_record *r;
  buf[0] = '\0';
  cr_assert_eq(node_get(n, coll, id, &r), GS_OK);
  long i = crdt_record_find(r, field, strlen(field));
  crdt_field_view fv;
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
      !fv.is_set && fv.value.type != CRDT_NIL)
    node_value_text(&fv.value, buf, cap);
  crdt_record_free(r);
  return buf;
}

/* A node_record_cb counting records into *(size_t *)ctx. */
static inline int t_count_cb(void *ctx, const crdt_record *r)
{
  (void)r;
  (*(size_t *)ctx)++;
  return 0;
}

#endif
