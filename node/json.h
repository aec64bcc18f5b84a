/*
 * node/json.h: records and values as JSON (jansson) and as text, the
 * forms every front end shows (the CLI's --json, the web app's API).
 *
 * JSON of a value: null, true/false, integers, reals, strings;
 * {"$ref": "COLL/ID"} a reference; {"$hex": "..."} bytes.
 */
#ifndef GS_NODE_JSON_H
#define GS_NODE_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/crdt.h"

/* A new JSON value of v (the caller owns it). */
json_t *node_value_json(const crdt_value *v);
/* Parse JSON text into a value; strings, bytes and ref collections borrow
 * from *keep, which the caller json_decref()s when done. GS_EINVAL with a
 * message in err (size errlen) when the JSON is no value. Arrays are not
 * values. */
gs_err node_json_value(const char *text, crdt_value *out, json_t **keep,
                       char *err, size_t errlen);
/* The value of JSON j (not an array); strings borrow from j, and $hex
 * bytes are decoded into j (as "$bytes"), so j must outlive the value. */
gs_err node_json_to_value(json_t *j, crdt_value *out, char *err,
                          size_t errlen);
/* A record as JSON: collection, id, scope, deleted, fields, updated,
 * updated_by (a new object the caller owns). */
json_t *node_record_json(const crdt_record *r);
/* Human form of a value into buf (cut to cap). */
void node_value_text(const crdt_value *v, char *buf, size_t cap);
/* ISO 8601 UTC text of Unix ms. */
void node_time_text(uint64_t ms, char *buf, size_t cap);
/* The form people read (issue 18): local time, "2026-12-01 13:34". */
void node_time_local(uint64_t ms, char *buf, size_t cap);
/* Parse "COLL/ID" into a ref value (coll borrowed from text). */
gs_err node_parse_ref(const char *text, crdt_value *out);
/* Parse a 26-character id. */
gs_err node_parse_id(const char *text, uint8_t id[CRDT_ID_LEN]);

struct node_report;
/* The report as JSON: scope, since, grids (one object per grid), total,
 * overdrawn accounts (a new object the caller owns). */
json_t *node_report_json(const struct node_report *rep, const char *prefix,
                         const char *since);

#endif
