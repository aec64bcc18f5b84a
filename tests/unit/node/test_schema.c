/* node: the domain schema (validation of local writes), time-bank
 * balances and the report's figures on hand-made records. */
#include <criterion/criterion.h>

#include <string.h>

#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"
#include "node/schema.h"
#include "node/domain.h"
#include "node/report.h"

static char dir[64];
static char ndir[128];
static char why[512];

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(ndir, sizeof ndir, "%s/node", dir);
}

static void teardown(void)
{
  t_rmtree(dir);
}

TestSuite(schema, .init = setup, .fini = teardown);
TestSuite(domain, .init = setup, .fini = teardown);

static const uint8_t rid[CRDT_ID_LEN] = {1, 2, 3};

static crdt_op set_str(const char *coll, const char *field, const char *v)
{
  crdt_op op = {.kind = CRDT_OP_SET,
                .coll = coll,
                .coll_len = strlen(coll),
                .field = field,
                .field_len = strlen(field)};
  memcpy(op.id, rid, CRDT_ID_LEN);
  op.value.type = CRDT_STR;
  op.value.u.s.p = v;
  op.value.u.s.n = strlen(v);
  return op;
}

static crdt_op set_int(const char *coll, const char *field, int64_t v)
{
  crdt_op op = set_str(coll, field, "");
  op.value.type = CRDT_INT;
  op.value.u.i = v;
  return op;
}

static crdt_op set_ref(const char *coll, const char *field, const char *to)
{
  crdt_op op = set_str(coll, field, "");
  op.value.type = CRDT_REF;
  op.value.u.ref.coll = to;
  op.value.u.ref.coll_len = strlen(to);
  memset(op.value.u.ref.id, 7, CRDT_ID_LEN);
  return op;
}

static gs_err check(const crdt_record *cur, const crdt_op *ops, size_t n)
{
  why[0] = '\0';
  return node_schema_check(cur, ops, n, 0, why, sizeof why);
}

#define CHECK(cur, ...)                                                      \
  check(cur, (const crdt_op[]){__VA_ARGS__},                                 \
        sizeof((const crdt_op[]){__VA_ARGS__}) / sizeof(crdt_op))

#define REFUSED(text, cur, ...)                                              \
  do {                                                                       \
    cr_assert_eq(CHECK(cur, __VA_ARGS__), GS_ESCHEMA, "accepted");           \
    cr_assert_not_null(strstr(why, text), "why: %s", why);                   \
  } while (0)

/* A name is found by its exact bytes only: not by a prefix of it, nor by
 * it with a byte more, nor by it with a NUL and more after it. */
Test(schema, names_are_found_by_their_exact_bytes)
{
  size_t n;
  const node_coll *c = node_schema_all(&n);
  char buf[CRDT_NAME_MAX + 8];
  for (size_t i = 0; i < n; i++) {
    size_t cl = strlen(c[i].name);
    cr_assert_eq(node_schema_coll(c[i].name, cl), &c[i]);
    cr_assert_null(node_schema_coll("", 0));
    for (size_t k = 0; k < c[i].nfields; k++) {
      const char *name = c[i].fields[k].name;
      size_t fl = strlen(name);
      cr_assert_eq(node_schema_field(&c[i], name, fl), &c[i].fields[k]);
      memcpy(buf, name, fl);
      /* a byte more, NUL or not */
      for (int extra = 0; extra < 2; extra++) {
        buf[fl] = extra ? 'q' : '\0';
        buf[fl + 1] = 'q';
        const node_field *f = node_schema_field(&c[i], buf, fl + 1 + extra);
        cr_assert(f == NULL || (strlen(f->name) == fl + 1 + extra &&
                                memcmp(f->name, buf, fl + 1 + extra) == 0),
                  "%s.%s with %d more", c[i].name, name, 1 + extra);
      }
      /* a prefix */
      const node_field *p = node_schema_field(&c[i], name, fl - 1);
      cr_assert(fl == 1 || p == NULL ||
                    (strlen(p->name) == fl - 1 &&
                     memcmp(p->name, name, fl - 1) == 0),
                "%s.%s cut short", c[i].name, name);
      /* the same length, the last byte changed */
      memcpy(buf, name, fl);
      buf[fl - 1] = buf[fl - 1] == 'z' ? 'y' : 'z';
      const node_field *d = node_schema_field(&c[i], buf, fl);
      cr_assert(d == NULL || memcmp(d->name, buf, fl) == 0, "%s.%s changed",
                c[i].name, name);
    }
    cr_assert_null(node_schema_field(&c[i], "", 0));
  }
}

Test(schema, every_collection_is_well_formed)
{
  size_t n;
  const node_coll *c = node_schema_all(&n);
  const char *want[] = {"grid",    "building", "household", "resident",
                        "appeal",  "meeting",  "task",      "visit",
                        "timebank", "team",    "unit",      "activity",
                        "party_report"};
  cr_assert_eq(n, sizeof want / sizeof *want);
  for (size_t i = 0; i < n; i++) {
    cr_assert_str_eq(c[i].name, want[i]);
    cr_assert_eq(node_schema_coll(want[i], strlen(want[i])), &c[i]);
    for (size_t k = 0; k < c[i].nfields; k++) {
      const node_field *f = &c[i].fields[k];
      cr_assert(crdt_name_valid(f->name, strlen(f->name)), "%s", f->name);
      bool needs_values = f->type == NODE_F_ENUM || f->type == NODE_F_TAGS;
      cr_assert_eq(f->values != NULL, needs_values, "%s.%s", c[i].name,
                   f->name);
      bool needs_ref = f->type == NODE_F_REF || f->type == NODE_F_REFS;
      cr_assert_eq(f->ref != NULL, needs_ref, "%s.%s", c[i].name, f->name);
      if (needs_values)
        cr_assert_leq(1, 1);
    }
    if (c[i].status) {
      const node_field *sf =
          node_schema_field(&c[i], c[i].status, strlen(c[i].status));
      cr_assert_not_null(sf);
      /* every move names allowed values */
      for (size_t k = 0; k < c[i].nmoves; k++) {
        bool from = false, to = false;
        for (const char *const *v = sf->values; *v; v++) {
          from |= strcmp(*v, c[i].moves[k].from) == 0;
          to |= strcmp(*v, c[i].moves[k].to) == 0;
        }
        cr_assert(from && to, "%s: %s->%s", c[i].name, c[i].moves[k].from,
                  c[i].moves[k].to);
      }
    }
  }
  cr_assert_null(node_schema_coll("people", 6));
}

Test(schema, a_valid_resident_passes)
{
  cr_assert_eq(CHECK(NULL, set_str("resident", "name", "王秀英"),
                     set_str("resident", "gender", "女"),
                     set_int("resident", "birth_year", 1941),
                     set_ref("resident", "household", "household")),
               GS_OK, "%s", why);
}

Test(schema, unknown_collection_and_field_are_refused)
{
  REFUSED("no collection 'people'", NULL, set_str("people", "name", "x"));
  REFUSED("has no field 'nmae'", NULL, set_str("resident", "nmae", "x"));
  /* the message lists the fields */
  cr_assert_not_null(strstr(why, "birth_year"), "%s", why);
  /* free-form collections are allowed */
  cr_assert_eq(CHECK(NULL, set_str("x_notes", "anything", "x")), GS_OK);
}

Test(schema, wrong_types_and_values_are_refused)
{
  REFUSED("whole number", NULL, set_str("resident", "name", "x"),
          set_str("resident", "birth_year", "1941"));
  REFUSED("between 1900 and 2100", NULL, set_str("resident", "name", "x"),
          set_int("resident", "birth_year", 1800));
  REFUSED("one of 男, 女", NULL, set_str("resident", "name", "x"),
          set_str("resident", "gender", "m"));
  REFUSED("takes text", NULL, set_int("resident", "name", 3));
  REFUSED("reference to a household", NULL, set_str("resident", "name", "x"),
          set_ref("resident", "household", "building"));
  REFUSED("YYYY-MM-DD", NULL, set_str("visit", "by", "李"),
          set_str("visit", "date", "2026-02-30"));
  crdt_op tag = set_str("resident", "tags", "rich");
  tag.kind = CRDT_OP_ADD;
  REFUSED("cannot be 'rich'", NULL, set_str("resident", "name", "x"), tag);
  /* a set field is not a register, and the other way round */
  REFUSED("is a set", NULL, set_str("resident", "name", "x"),
          set_str("resident", "tags", "elderly"));
  crdt_op add = set_str("resident", "phone", "1");
  add.kind = CRDT_OP_ADD;
  REFUSED("is no set", NULL, set_str("resident", "name", "x"), add);
}

Test(schema, required_fields_of_new_records)
{
  REFUSED("needs field 'name'", NULL, set_str("resident", "phone", "139"));
  REFUSED("needs field 'description'", NULL,
          set_str("appeal", "category", "repair"),
          set_str("appeal", "opened", "2026-01-02"),
          set_str("appeal", "status", "open"));
  /* an existing record is edited field by field */
  crdt_record *cur = crdt_record_new("a/b/c", 5, "resident", 8, rid);
  cr_assert_eq(CHECK(cur, set_str("resident", "phone", "139")), GS_OK);
  crdt_op clear = set_str("resident", "name", "");
  clear.value.type = CRDT_NIL;
  REFUSED("cannot be cleared", cur, clear);
  crdt_record_free(cur);
}

static crdt_record *appeal_in(const char *status)
{
  crdt_record *r = crdt_record_new("a/b/c", 5, "appeal", 6, rid);
  crdt_op op = set_str("appeal", "status", status);
  crdt_stamp st = {.hlc = CRDT_HLC_MAKE(1700000000000ull, 0)};
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
  return r;
}

Test(schema, appeal_status_moves)
{
  /* a new appeal starts open */
  REFUSED("starts with status 'open'", NULL,
          set_str("appeal", "category", "repair"),
          set_str("appeal", "description", "灯坏了"),
          set_str("appeal", "opened", "2026-01-02"),
          set_str("appeal", "status", "closed"));
  static const char *const ok[][2] = {
      {"open", "accepted"},     {"accepted", "assigned"},
      {"assigned", "resolved"}, {"resolved", "closed"},
      {"closed", "reopened"},   {"resolved", "reopened"},
      {"reopened", "accepted"}, {"open", "open"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    crdt_record *r = appeal_in(ok[i][0]);
    const char *to = ok[i][1];
    /* a move sets its date (and an assignment its assignee) */
    bool dated = strcmp(to, "open") && strcmp(to, "reopened");
    crdt_op ops[3] = {set_str("appeal", "status", to),
                      set_str("appeal", dated ? to : "note", "2026-01-05"),
                      set_ref("appeal", "assignee", "unit")};
    cr_assert_eq(check(r, ops, strcmp(to, "assigned") ? 2 : 3), GS_OK,
                 "%s -> %s: %s", ok[i][0], to, why);
    crdt_record_free(r);
  }
  /* ... and is refused without them */
  crdt_record *nd = appeal_in("assigned");
  REFUSED("needs field 'resolved'", nd, set_str("appeal", "status",
                                                "resolved"));
  crdt_record_free(nd);
  nd = appeal_in("accepted");
  REFUSED("needs field 'assignee'", nd,
          set_str("appeal", "status", "assigned"),
          set_str("appeal", "assigned", "2026-01-05"));
  crdt_record_free(nd);
  /* dates of moves do not come before the opening */
  REFUSED("resolved date 2025-12-31 is before opened date 2026-01-02", NULL,
          set_str("appeal", "category", "repair"),
          set_str("appeal", "description", "灯坏了"),
          set_str("appeal", "opened", "2026-01-02"),
          set_str("appeal", "resolved", "2025-12-31"),
          set_str("appeal", "status", "open"));
  REFUSED("cannot be empty", NULL, set_str("resident", "name", ""));
  static const char *const bad[][2] = {
      {"open", "resolved"}, {"open", "closed"},   {"accepted", "closed"},
      {"closed", "open"},   {"resolved", "open"}, {"assigned", "accepted"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    crdt_record *r = appeal_in(bad[i][0]);
    cr_assert_eq(CHECK(r, set_str("appeal", "status", bad[i][1])),
                 GS_ESCHEMA, "%s -> %s accepted", bad[i][0], bad[i][1]);
    cr_assert_not_null(strstr(why, "cannot become"), "%s", why);
    crdt_record_free(r);
  }
  /* the error says what may come next */
  crdt_record *r = appeal_in("open");
  REFUSED("(next: accepted)", r, set_str("appeal", "status", "resolved"));
  crdt_record_free(r);
  /* an import may carry any status */
  crdt_op imp[] = {set_str("appeal", "category", "repair"),
                   set_str("appeal", "description", "灯坏了"),
                   set_str("appeal", "opened", "2026-01-02"),
                   set_str("appeal", "status", "closed")};
  cr_assert_eq(node_schema_check(NULL, imp, 4, NODE_SCHEMA_IMPORT, why,
                                 sizeof why),
               GS_OK, "%s", why);
}

Test(schema, immutable_records)
{
  crdt_record *v = crdt_record_new("a/b/c", 5, "visit", 5, rid);
  REFUSED("immutable", v, set_str("visit", "notes", "改一下"));
  crdt_op del = {.kind = CRDT_OP_DELETE, .coll = "visit", .coll_len = 5};
  memcpy(del.id, rid, CRDT_ID_LEN);
  REFUSED("immutable", v, del);
  crdt_record_free(v);
  /* deleting a resident (moved out) is fine */
  crdt_record *r = crdt_record_new("a/b/c", 5, "resident", 8, rid);
  del.coll = "resident", del.coll_len = 8;
  cr_assert_eq(CHECK(r, del), GS_OK);
  crdt_record_free(r);
}

Test(schema, timebank_hours)
{
  crdt_op base[] = {set_ref("timebank", "person", "resident"),
                    set_str("timebank", "kind", "spend"),
                    set_int("timebank", "hours", 0),
                    set_str("timebank", "date", "2026-03-01")};
  cr_assert_eq(check(NULL, base, 4), GS_ESCHEMA);
  cr_assert_not_null(strstr(why, "more than 0"), "%s", why);
  base[2].value.u.i = -2;
  cr_assert_eq(check(NULL, base, 4), GS_ESCHEMA);
  base[2].value.type = CRDT_FLOAT;
  base[2].value.u.f = 1.5;
  cr_assert_eq(check(NULL, base, 4), GS_OK, "%s", why);
  base[1] = set_str("timebank", "kind", "adjust");
  base[2].value.u.f = -1.5; /* adjustments may be negative */
  cr_assert_eq(check(NULL, base, 4), GS_OK, "%s", why);
  base[1] = set_str("timebank", "kind", "loan");
  cr_assert_eq(check(NULL, base, 4), GS_ESCHEMA);
}

Test(schema, dates)
{
  cr_assert(node_date_valid("2024-02-29", 10));
  cr_assert_not(node_date_valid("2023-02-29", 10));
  cr_assert_not(node_date_valid("2026-13-01", 10));
  cr_assert_not(node_date_valid("2026-1-01", 9));
  cr_assert_not(node_date_valid("2026/01/01", 10));
  cr_assert_not(node_date_valid("20a6-01-01", 10));
  cr_assert(node_date_valid("2000-02-29", 10));
  cr_assert_not(node_date_valid("1900-02-29", 10));
}

/* ---- balances and the report on records written here ---- */

static node *open_node(void)
{
  node *n;
  cr_assert_eq(node_init(ndir, "t"), GS_OK);
  cr_assert_eq(node_open(ndir, NODE_BULK, NULL, &n), GS_OK);
  return n;
}

/* Write one record of ops (all naming id) in scope. */
static void write_rec(node *n, const char *scope, crdt_op *ops, size_t nops,
                      uint8_t id)
{
  for (size_t i = 0; i < nops; i++)
    ops[i].id[0] = id, ops[i].id[1] = 0xEE;
  cr_assert_eq(node_schema_check(NULL, ops, nops, NODE_SCHEMA_IMPORT, why,
                                 sizeof why),
               GS_OK, "%s", why);
  cr_assert_eq(node__write(n, scope, strlen(scope), ops, nops, NULL), GS_OK);
}

static void entry(node *n, const char *scope, uint8_t id, uint8_t person,
                  const char *kind, double hours, const char *date,
                  const char *service)
{
  crdt_op ops[5] = {set_ref("timebank", "person", "resident"),
                    set_str("timebank", "kind", kind),
                    set_int("timebank", "hours", 0),
                    set_str("timebank", "date", date),
                    set_str("timebank", "service", service)};
  memset(ops[0].value.u.ref.id, person, CRDT_ID_LEN);
  ops[2].value.type = CRDT_FLOAT;
  ops[2].value.u.f = hours;
  write_rec(n, scope, ops, 5, id);
}

static void appeal(node *n, const char *scope, uint8_t id, const char *cat,
                   const char *status, const char *opened,
                   const char *resolved)
{
  crdt_op ops[5] = {set_str("appeal", "category", cat),
                    set_str("appeal", "description", "x"),
                    set_str("appeal", "opened", opened),
                    set_str("appeal", "status", status),
                    set_str("appeal", "resolved", resolved ? resolved : "")};
  write_rec(n, scope, ops, resolved ? 5 : 4, id);
}

Test(domain, balances_and_the_overdraft_flag)
{
  node *n = open_node();
  entry(n, "s/c/g01", 1, 0xA1, "deposit", 2.5, "2026-01-01", "errand");
  entry(n, "s/c/g01", 2, 0xA1, "spend", 1.25, "2026-01-02", "other");
  entry(n, "s/c/g02", 3, 0xB2, "deposit", 1, "2026-01-03", "patrol");
  entry(n, "s/c/g02", 4, 0xB2, "spend", 1, "2026-01-04", "other");
  entry(n, "s/c/g02", 5, 0xB2, "spend", 1, "2026-01-04", "other");
  node_balance *b;
  size_t nb;
  cr_assert_eq(node_timebank_balances(n, NULL, &b, &nb), GS_OK);
  cr_assert_eq(nb, 2);
  cr_assert_eq(b[0].id[0], 0xA1);
  cr_assert_eq(b[0].balance, 125);
  cr_assert_eq(b[0].deposits, 250);
  cr_assert_eq(b[0].entries, 2);
  cr_assert_eq(b[1].balance, -100, "two spends of 1 h on 1 h");
  free(b);
  uint8_t who[CRDT_ID_LEN];
  memset(who, 0xB2, sizeof who);
  node_balance one;
  cr_assert_eq(node_timebank_balance(n, "resident", who, &one), GS_OK);
  cr_assert_eq(one.balance, -100);
  cr_assert_eq(one.entries, 3);
  memset(who, 0x55, sizeof who);
  cr_assert_eq(node_timebank_balance(n, "resident", who, &one), GS_OK);
  cr_assert_eq(one.entries, 0);
  cr_assert_eq(one.balance, 0);
  /* the report lists the overdrawn account */
  node_report rep;
  cr_assert_eq(node_report_make(n, NULL, NULL, &rep), GS_OK);
  cr_assert_eq(rep.noverdrawn, 1);
  cr_assert_eq(rep.overdrawn[0].id[0], 0xB2);
  cr_assert_eq(rep.total.volunteer_centihours, 350);
  cr_assert_eq(rep.total.errands_done, 1);
  node_report_free(&rep);
  node_close(n);
}

Test(domain, report_figures)
{
  node *n = open_node();
  const char *g1 = "s/c/g01", *g2 = "s/c/g02";
  appeal(n, g1, 1, "repair", "open", "2026-03-01", NULL);
  appeal(n, g1, 2, "dispute", "closed", "2026-03-01", "2026-03-11");
  appeal(n, g1, 3, "safety", "resolved", "2026-02-01", "2026-03-04");
  appeal(n, g2, 4, "dispute", "resolved", "2025-12-01", "2026-01-05");
  appeal(n, g2, 5, "repair", "reopened", "2026-01-01", "2026-01-02");
  appeal(n, "s/c/g02/x", 6, "repair", "closed", "2026-02-01", "2026-02-03");
  crdt_op v[2] = {set_str("visit", "by", "李"),
                  set_str("visit", "date", "2026-02-10")};
  write_rec(n, g1, v, 2, 7);
  v[1] = set_str("visit", "date", "2025-12-31");
  write_rec(n, g1, v, 2, 8);
  crdt_op res[1] = {set_str("resident", "name", "甲")};
  write_rec(n, g2, res, 1, 9);
  write_rec(n, g2, res, 1, 10);
  crdt_op del = {.kind = CRDT_OP_DELETE, .coll = "resident", .coll_len = 8};
  memcpy(del.id, rid, CRDT_ID_LEN);
  del.id[0] = 10, del.id[1] = 0xEE;
  cr_assert_eq(node__write(n, g2, strlen(g2), &del, 1, NULL), GS_OK);

  node_report rep;
  cr_assert_eq(node_report_make(n, NULL, NULL, &rep), GS_OK);
  cr_assert_eq(rep.nrows, 2, "rows by grid, sub-scopes folded in");
  cr_assert_str_eq(rep.rows[0].grid, g1);
  cr_assert_str_eq(rep.rows[1].grid, g2);
  const node_report_row *a = &rep.rows[0], *b = &rep.rows[1];
  cr_assert_eq(a->appeals, 3);
  cr_assert_eq(a->resolved, 2);
  cr_assert_eq(a->disputes_mediated, 1);
  cr_assert_eq(a->hazards_found, 1);
  /* g1: 10 and 31 days: median 20.5 */
  cr_assert_float_eq(a->median_days, 20.5, 1e-9);
  cr_assert_eq(a->visits, 2);
  cr_assert_eq(b->appeals, 3);
  cr_assert_eq(b->resolved, 2, "the reopened one is not resolved");
  cr_assert_float_eq(b->median_days, 18.5, 1e-9); /* 35 and 2 days */
  cr_assert_eq(b->residents, 1, "a deleted resident moved out: %lu",
               (unsigned long)b->residents);
  cr_assert_eq(rep.total.appeals, 6);
  cr_assert_float_eq(rep.total.median_days, 20.5, 1e-9); /* 2 10 31 35 */
  const char *const *st = node_report_statuses();
  cr_assert_str_eq(st[0], "open");
  cr_assert_eq(rep.total.by_status[0], 1);
  cr_assert_eq(rep.total.by_status[4], 2, "closed");
  cr_assert_eq(rep.total.by_category[3], 2, "dispute");
  node_report_free(&rep);

  /* since: only what happened from that day */
  cr_assert_eq(node_report_make(n, "s/c/g01", "2026-02-15", &rep), GS_OK);
  cr_assert_eq(rep.nrows, 1);
  cr_assert_eq(rep.total.appeals, 2);
  cr_assert_eq(rep.total.resolved, 2, "resolved on 03-04 and 03-11");
  cr_assert_eq(rep.total.visits, 0);
  node_report_free(&rep);
  cr_assert_eq(node_report_make(n, NULL, "2026-2-1", &rep), GS_EINVAL);
  node_close(n);
}
