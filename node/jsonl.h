/*
 * node/jsonl.h: one line of JSON Lines read as a record's fields, fast
 * (issue 20: `gridsync load` of 1,000,000 lines spent a third of its time
 * in jansson building and freeing objects it used once).
 *
 * A line is one JSON object (RFC 8259, UTF-8); each member a value as
 * node/json.h has them (null, true/false, integers, reals, strings,
 * {"$ref": "COLL/ID"}, {"$hex": "..."}) or an array of them. What
 * jansson with JSON_REJECT_DUPLICATES and node_json_to_value refuse is
 * refused: a member named twice, NUL (\u0000), bad UTF-8 or escapes, an
 * integer out of int64, a real out of double, anything after the object,
 * an array in an array, another object.
 */
#ifndef GS_NODE_JSONL_H
#define GS_NODE_JSONL_H

#include <stdbool.h>
#include <stddef.h>

#include "crdt/crdt.h"

typedef struct node_jl_member {
  const char *key; /* NUL-terminated, in the parser's buffer */
  size_t key_len;
  bool is_array;
  crdt_value *vals; /* one unless is_array */
  size_t nvals;
} node_jl_member;

/* The parser: reused line after line (its buffers grow to the longest
 * line, a few times its length). Zero it to start; node_jl_free ends. */
typedef struct node_jl {
  node_jl_member *m;
  size_t n, mcap;
  crdt_value *v;
  size_t nv, vcap;
  char *buf; /* decoded strings */
  size_t bcap, blen;
} node_jl;

/* Parse line (len bytes; a trailing newline is whitespace). The members,
 * their values (strings, bytes and references borrow from p) stay valid
 * until the next parse. GS_EINVAL with a message (English; the caller
 * marks it for translation) in err: what and the column. */
gs_err node_jl_parse(node_jl *p, const char *line, size_t len, char *err,
                     size_t errlen);
void node_jl_free(node_jl *p);

#endif
