/*
 * How a person sees a value (node/domain.h, "showing records"): an
 * allowed value by its Chinese label, a reference by the name of the
 * record it names. Front ends print these; --json keeps codes and ids.
 */
#include <stdio.h>
#include <string.h>

#include "node/domain.h"
#include "node/json.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "node/schema.h"

void node_display_text(node *n, const char *coll, const char *field,
                       const crdt_value *v, char *buf, size_t cap)
{
  const node_coll *c = coll ? node_schema_coll(coll, strlen(coll)) : NULL;
  const node_field *f =
      c && field ? node_schema_field(c, field, strlen(field)) : NULL;
  if (f && (f->type == NODE_F_ENUM || f->type == NODE_F_TAGS) &&
      v->type == CRDT_STR && v->u.s.n < 64) {
    char code[64];
    memcpy(code, v->u.s.p, v->u.s.n);
    code[v->u.s.n] = '\0';
    snprintf(buf, cap, "%s", node_schema_label(coll, f->name, code));
    return;
  }
  if (n && v->type == CRDT_REF && v->u.ref.coll_len <= CRDT_NAME_MAX) {
    char rc[CRDT_NAME_MAX + 1];
    memcpy(rc, v->u.ref.coll, v->u.ref.coll_len);
    rc[v->u.ref.coll_len] = '\0';
    node_record_name(n, rc, v->u.ref.id, buf, cap);
    if (buf[0])
      return;
  }
  node_value_text(v, buf, cap);
}

void node_author_text(node *n, const uint8_t origin[CRDT_KEY_LEN], char *buf,
                      size_t cap)
{
  char full[CRDT_KEY_TEXT_LEN + 1];
  if (memcmp(origin, n->pk, CRDT_KEY_LEN) == 0 && node_name(n)[0]) {
    snprintf(buf, cap, "%s", node_name(n));
    return;
  }
  crdt_base32_encode(origin, CRDT_KEY_LEN, full);
  snprintf(buf, cap, "%.12s", full);
}
