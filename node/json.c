/* Values and records as JSON and as text, with jansson (node/json.h). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crdt/gs_i18n.h"
#include "node/json.h"
#include "node/node.h"
#include "node/report.h"

#include <stdio.h>

static void hex(const uint8_t *p, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static int unhex_digit(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void ref_text(const crdt_value *v, char *buf, size_t cap)
{
  char id[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(v->u.ref.id, CRDT_ID_LEN, id);
  snprintf(buf, cap, "%.*s/%s", (int)v->u.ref.coll_len, v->u.ref.coll, id);
}

json_t *node_value_json(const crdt_value *v)
{
  switch (v->type) {
  case CRDT_NIL:
    return json_null();
  case CRDT_BOOL:
    return json_boolean(v->u.b);
  case CRDT_INT:
    return json_integer((json_int_t)v->u.i);
  case CRDT_FLOAT:
    return json_real(v->u.f);
  case CRDT_STR:
    return json_stringn(v->u.s.p, v->u.s.n);
  case CRDT_BYTES: {
    char *h = malloc(2 * v->u.s.n + 1);
    if (!h)
      return NULL;
    hex((const uint8_t *)v->u.s.p, v->u.s.n, h);
    json_t *o = json_pack("{s:s}", "$hex", h);
    free(h);
    return o;
  }
  case CRDT_REF: {
    char buf[CRDT_NAME_MAX + CRDT_ID_TEXT_LEN + 2];
    ref_text(v, buf, sizeof buf);
    return json_pack("{s:s}", "$ref", buf);
  }
  }
  return NULL;
}

void node_value_text(const crdt_value *v, char *buf, size_t cap)
{
  switch (v->type) {
  case CRDT_NIL:
    snprintf(buf, cap, "%s", _("(none)"));
    break;
  case CRDT_BOOL:
    snprintf(buf, cap, "%s", v->u.b ? "true" : "false");
    break;
  case CRDT_INT:
    snprintf(buf, cap, "%" PRId64, v->u.i);
    break;
  case CRDT_FLOAT:
    snprintf(buf, cap, "%.17g", v->u.f);
    break;
  case CRDT_STR:
    snprintf(buf, cap, "%.*s", (int)(v->u.s.n > 4096 ? 4096 : v->u.s.n),
             v->u.s.p);
    break;
  case CRDT_BYTES:
    snprintf(buf, cap, "(%zu bytes)", v->u.s.n);
    break;
  case CRDT_REF:
    ref_text(v, buf, cap);
    break;
  }
}

void node_time_text(uint64_t ms, char *buf, size_t cap)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(buf, cap, "%" PRIu64 "ms", ms);
    return;
  }
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03uZ", (unsigned)(ms % 1000));
}

void node_time_local(uint64_t ms, char *buf, size_t cap)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!localtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M", &tm))
    snprintf(buf, cap, "%" PRIu64 "ms", ms);
}

gs_err node_parse_id(const char *text, uint8_t id[CRDT_ID_LEN])
{
  return crdt_base32_decode(text, strlen(text), id, CRDT_ID_LEN);
}

gs_err node_parse_ref(const char *text, crdt_value *out)
{
  const char *slash = strchr(text, '/');
  if (!slash)
    return GS_EINVAL;
  size_t cn = (size_t)(slash - text);
  if (!crdt_name_valid(text, cn) || node_parse_id(slash + 1, out->u.ref.id))
    return GS_EINVAL;
  out->type = CRDT_REF;
  out->u.ref.coll = text;
  out->u.ref.coll_len = cn;
  return GS_OK;
}

gs_err node_json_to_value(json_t *j, crdt_value *out, char *err,
                         size_t errlen)
{
  memset(out, 0, sizeof *out);
  switch (json_typeof(j)) {
  case JSON_NULL:
    out->type = CRDT_NIL;
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    out->type = CRDT_BOOL;
    out->u.b = json_is_true(j);
    break;
  case JSON_INTEGER:
    out->type = CRDT_INT;
    out->u.i = (int64_t)json_integer_value(j);
    break;
  case JSON_REAL:
    out->type = CRDT_FLOAT;
    out->u.f = json_real_value(j);
    break;
  case JSON_STRING:
    out->type = CRDT_STR;
    out->u.s.p = json_string_value(j);
    out->u.s.n = json_string_length(j);
    break;
  case JSON_OBJECT: {
    const char *ref = NULL, *hx = NULL;
    json_t *done = json_object_get(j, "$bytes");
    if (done && json_object_size(j) == 2 && json_is_string(done)) {
      /* already decoded by an earlier call */
      out->type = CRDT_BYTES;
      out->u.s.p = json_string_value(done);
      out->u.s.n = json_string_length(done);
      break;
    }
    if (json_object_size(j) != 1 ||
        json_unpack(j, "{s?s, s?s}", "$ref", &ref, "$hex", &hx) != 0 ||
        (!ref && !hx)) {
      snprintf(err, errlen, "%s", _("an object must be {\"$ref\": \"COLL/ID\"} or "
                            "{\"$hex\": \"...\"}"));
      return GS_EINVAL;
    }
    if (ref) {
      if (node_parse_ref(ref, out) != GS_OK) {
        snprintf(err, errlen, _("bad reference \"%s\" (want COLL/ID)"), ref);
        return GS_EINVAL;
      }
      break;
    }
    size_t hn = strlen(hx);
    if (hn % 2 || hn / 2 > CRDT_TEXT_MAX) {
      snprintf(err, errlen, hn % 2 ? _("odd number of hex digits")
                                   : _("more than 16384 bytes"));
      return GS_EINVAL;
    }
    /* the bytes live in a JSON string kept alive by j */
    uint8_t *b = malloc(hn / 2 + 1);
    if (!b) {
      snprintf(err, errlen, "out of memory");
      return GS_ENOMEM;
    }
    for (size_t i = 0; i < hn / 2; i++) {
      int hi = unhex_digit(hx[2 * i]), lo = unhex_digit(hx[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        free(b);
        snprintf(err, errlen, "%s", _("bad hex digit"));
        return GS_EINVAL;
      }
      b[i] = (uint8_t)(hi << 4 | lo);
    }
    json_t *holder = json_stringn_nocheck((const char *)b, hn / 2);
    free(b);
    if (!holder || json_object_set_new(j, "$bytes", holder) != 0) {
      snprintf(err, errlen, "out of memory");
      return GS_ENOMEM;
    }
    out->type = CRDT_BYTES;
    out->u.s.p = json_string_value(holder);
    out->u.s.n = hn / 2;
    break;
  }
  case JSON_ARRAY:
    snprintf(err, errlen, "%s", _("an array is not a single value"));
    return GS_EINVAL;
  }
  gs_err e = crdt_value_check(out);
  if (e) {
    snprintf(err, errlen, _("%s"), e == GS_ETOOBIG ? "longer than 16384 bytes"
                                                : gs_strerror(e));
    return GS_EINVAL;
  }
  return GS_OK;
}

gs_err node_json_value(const char *text, crdt_value *out, json_t **keep,
                      char *err, size_t errlen)
{
  json_error_t je;
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                         &je);
  memset(out, 0, sizeof *out);
  *keep = NULL;
  if (!j) {
    snprintf(err, errlen, "not JSON (%s at column %d)", je.text, je.column);
    return GS_EINVAL;
  }
  gs_err e = node_json_to_value(j, out, err, errlen);
  if (e) {
    json_decref(j);
    return e;
  }
  *keep = j;
  return GS_OK;
}

json_t *node_record_json(const crdt_record *r)
{
  const char *scope, *coll;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1], when[40], who[CRDT_KEY_TEXT_LEN + 1];
  crdt_stamp last;

  crdt_record_identity(r, &scope, &sn, &coll, &cn, id);
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  crdt_record_last_stamp(r, &last);
  node_time_text(CRDT_HLC_MS(last.hlc), when, sizeof when);
  crdt_base32_encode(last.origin, CRDT_KEY_LEN, who);
  json_t *fields = json_object();
  json_t *o = json_pack("{s:s%, s:s, s:s%, s:b, s:o, s:s, s:s}",
                        "collection", coll, cn, "id", idt, "scope", scope, sn,
                        "deleted", crdt_record_deleted(r), "fields", fields,
                        "updated", when, "updated_by", who);
  if (!o)
    return NULL;
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK)
      continue;
    json_t *jv;
    if (fv.is_set) {
      jv = json_array();
      for (size_t j = 0; j < fv.nelems; j++) {
        crdt_value ev;
        if (crdt_record_elem(r, i, j, &ev) == GS_OK)
          json_array_append_new(jv, node_value_json(&ev));
      }
    } else {
      jv = node_value_json(&fv.value);
    }
    json_object_setn_new(fields, fv.name, fv.name_len, jv);
  }
  return o;
}

static json_t *median_json(double d)
{
  return d < 0 ? json_null() : json_real(d);
}

static json_t *row_json(const node_report_row *r)
{
  const char *const *st = node_report_statuses();
  const char *const *cat = node_report_categories();
  json_t *bs = json_object(), *bc = json_object();
  for (int i = 0; st && st[i] && i < NODE_REPORT_VALUES; i++)
    json_object_set_new(bs, st[i], json_integer((json_int_t)r->by_status[i]));
  for (int i = 0; cat && cat[i] && i < NODE_REPORT_VALUES; i++)
    json_object_set_new(bc, cat[i],
                        json_integer((json_int_t)r->by_category[i]));
  json_t *row = json_pack(
      "{s:s?, s:{s:I, s:o, s:o, s:I, s:o}, s:I, s:I, s:I, s:I, s:I, s:I, "
      "s:f, s:I, s:I, s:I}",
      "grid", r->grid[0] ? r->grid : NULL, "appeals", "opened",
      (json_int_t)r->appeals, "by_status", bs, "by_category", bc,
      "resolved", (json_int_t)r->resolved, "median_days_to_resolve",
      median_json(r->median_days), "disputes_mediated",
      (json_int_t)r->disputes_mediated, "hazards_found",
      (json_int_t)r->hazards_found, "visits", (json_int_t)r->visits,
      "meetings", (json_int_t)r->meetings, "tasks_done",
      (json_int_t)r->tasks_done, "errands_done", (json_int_t)r->errands_done,
      "volunteer_hours", (double)r->volunteer_centihours / 100.0,
      "residents", (json_int_t)r->residents, "households",
      (json_int_t)r->households, "buildings", (json_int_t)r->buildings);
  /* issue 16's figures (node/report.h) */
  json_t *more = json_pack(
      "{s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
      "wishes", (json_int_t)r->wishes, "wishes_fulfilled",
      (json_int_t)r->wishes_fulfilled, "visit_hazards",
      (json_int_t)r->visit_hazards, "visit_corrections",
      (json_int_t)r->visit_corrections, "corrected_hours",
      (double)r->corrected_centihours / 100.0, "lectures",
      (json_int_t)r->lectures, "activities", (json_int_t)r->activities,
      "attendance", (json_int_t)r->attendance, "staff_errands",
      (json_int_t)r->staff_errands, "thefts_stopped",
      (json_int_t)r->thefts_stopped, "fights_stopped",
      (json_int_t)r->fights_stopped, "party_reports",
      (json_int_t)r->party_reports);
  if (row && more)
    json_object_update(row, more);
  json_decref(more);
  return row;
}

json_t *node_report_json(const node_report *rep, const char *prefix,
                         const char *since)
{
  json_t *grids = json_array(), *od = json_array();
  for (size_t i = 0; i < rep->nrows; i++)
    json_array_append_new(grids, row_json(&rep->rows[i]));
  for (size_t i = 0; i < rep->noverdrawn; i++) {
    char idt[CRDT_ID_TEXT_LEN + 1];
    crdt_base32_encode(rep->overdrawn[i].id, CRDT_ID_LEN, idt);
    json_array_append_new(
        od, json_pack("{s:s, s:s, s:f}", "collection", rep->overdrawn[i].coll,
                      "id", idt, "balance",
                      (double)rep->overdrawn[i].balance / 100.0));
  }
  json_t *w = json_array();
  for (size_t i = 0; i < rep->nwarnings; i++)
    json_array_append_new(w, json_string(rep->warnings[i]));
  return json_pack("{s:s, s:s?, s:o, s:o, s:o, s:o}", "scope",
                   prefix ? prefix : "", "since", since, "grids", grids,
                   "total", row_json(&rep->total), "overdrawn", od,
                   "warnings", w);
}
