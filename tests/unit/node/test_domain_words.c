/* node/domain.h as people write: Chinese labels for allowed values,
 * dates and phones in the forms people type, records by name and
 * address, default scopes, the questions volunteers ask (issue 16). */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "node/domain.h"
#include "node/json.h"
#include "node/member.h"
#include "node/node.h"
#include "node/schema.h"
#include "tests/unit/node/domain_test_util.h"
#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char ndir[128];
static node *n;

#define G1 "gongrencun/qinghejv/g01"
#define G2 "gongrencun/qinghejv/g02"
/* 2026-11-20 12:00 UTC */
#define NOW_MS 1795176000000ULL

static uint64_t fixed_now(void *ctx)
{
  return *(uint64_t *)ctx;
}
static uint64_t now_ms = NOW_MS;
static const node_clock fixed = {fixed_now, &now_ms};

static void setup(void)
{
  setenv("TZ", "Asia/Shanghai", 1);
  tzset();
  now_ms = NOW_MS;
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(ndir, sizeof ndir, "%s/node", dir);
  cr_assert_eq(node_init(ndir, "test"), GS_OK);
  cr_assert_eq(node_open(ndir, 0, &fixed, &n), GS_OK);
}

static void teardown(void)
{
  node_close(n);
  n = NULL;
  t_rmtree(dir);
}

TestSuite(domain_words, .init = setup, .fini = teardown);

/* Write a new record of coll in scope with (field, text) pairs,
 * NULL-terminated ("+field" adds to a set); its id into id. Returns the
 * commit's result (why gets the reason). */
static gs_err vadd(const char *coll, const char *scope, uint8_t *id,
                   node_reason *why, va_list ap)
{
  node_edit *e;
  gs_err err = node_edit_new(n, coll, scope, &e, why);
  if (err)
    return err;
  const char *f;
  while ((f = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    char op = '=';
    if (*f == '+')
      op = '+', f++;
    if (!err)
      err = node_edit_text(e, f, op, v, why);
  }
  node_committed res;
  if (!err)
    err = node_edit_commit(e, &res, why);
  if (!err && id)
    memcpy(id, res.id, CRDT_ID_LEN);
  node_edit_free(e);
  return err;
}

static gs_err try_add(const char *coll, const char *scope, uint8_t *id,
                      node_reason *why, ...)
{
  va_list ap;
  va_start(ap, why);
  gs_err err = vadd(coll, scope, id, why, ap);
  va_end(ap);
  return err;
}

static void add(const char *coll, const char *scope, uint8_t *id, ...)
{
  node_reason why = {0};
  va_list ap;
  va_start(ap, id);
  gs_err err = vadd(coll, scope, id, &why, ap);
  va_end(ap);
  cr_assert_eq(err, GS_OK, "%s: %s", coll, why.text);
}

/* How many records of coll hold every condition (NULL-terminated);
 * -1 when refused (why gets the reason). */
static long query(const char *coll, node_reason *why, ...)
{
  node_cond c[8];
  size_t nc = 0, got = 0;
  va_list ap;
  va_start(ap, why);
  const char *t;
  while ((t = va_arg(ap, const char *)) && nc < 8) {
    cr_assert(node_cond_parse(t, &c[nc]), "%s", t);
    nc++;
  }
  va_end(ap);
  node_query q = {.coll = coll, .conds = c, .nconds = nc};
  if (node_query_run(n, &q, t_count_cb, &got, NULL, why) != GS_OK)
    return -1;
  return (long)got;
}

/* ---- 1. allowed values by their Chinese labels ---- */

Test(domain_words, labels_are_taken_as_input_and_codes_are_kept)
{
  uint8_t a[CRDT_ID_LEN], m[CRDT_ID_LEN], r[CRDT_ID_LEN];
  char buf[64];
  node_reason why = {0};
  cr_assert_str_eq(node_schema_label("appeal", "category", "micro-wish"),
                   "微心愿");
  add("appeal", G1, a, "category", "微心愿", "description", "楼道装一盏灯",
      NULL);
  cr_assert_str_eq(t_field_text(n, "appeal", a, "category", buf, sizeof buf),
                   "micro-wish");
  add("meeting", G1, m, "kind", "邻里议事会", "date", "2026-11-02", NULL);
  cr_assert_str_eq(t_field_text(n, "meeting", m, "kind", buf, sizeof buf),
                   "neighbours");
  add("resident", G1, r, "name", "李桂芳", "+tags", "独居", "+tags",
      "elderly", NULL);
  /* the code and the label find the same records */
  cr_assert_eq(query("resident", &why, "tags=lives-alone", NULL), 1);
  cr_assert_eq(query("resident", &why, "tags=独居", NULL), 1);
  cr_assert_eq(query("resident", &why, "tags=老年人", NULL), 1);
  cr_assert_eq(query("appeal", &why, "category=微心愿", NULL), 1);
  cr_assert_eq(query("appeal", &why, "category=micro-wish", NULL), 1);
  cr_assert_eq(query("meeting", &why, "kind=邻里议事会", NULL), 1);
  /* a label of another field is no value here */
  cr_assert_eq(query("meeting", &why, "kind=微心愿", NULL), -1);
  cr_assert_not_null(strstr(why.text, "no value '微心愿'"), "%s", why.text);
  cr_assert_not_null(strstr(why.text, "neighbours (邻里议事会)"), "%s",
                     why.text);
  /* removal by label */
  node_edit *e;
  cr_assert_eq(node_edit_open(n, "resident", r, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "tags", '-', "独居", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_eq(query("resident", &why, "tags=lives-alone", NULL), 0);
  /* the feedback of a close, by label */
  cr_assert_eq(node_edit_open(n, "appeal", a, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "feedback", '=', "满意", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_str_eq(t_field_text(n, "appeal", a, "feedback", buf, sizeof buf),
                   "satisfied");
  /* what is neither is refused by the schema, storing nothing */
  cr_assert_eq(try_add("appeal", G1, NULL, &why, "category", "随便",
                       "description", "x", NULL),
               GS_ESCHEMA);
  cr_assert_not_null(strstr(why.text, "cannot be '随便'"), "%s", why.text);
  cr_assert_eq(query("appeal", &why, NULL), 1);
  /* shown as a person reads it */
  crdt_value v = {.type = CRDT_STR};
  v.u.s.p = "lives-alone";
  v.u.s.n = strlen("lives-alone");
  node_display_text(n, "resident", "tags", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "独居");
  v.u.s.p = "open";
  v.u.s.n = 4;
  node_display_text(n, "appeal", "status", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "待受理");
  node_display_text(n, "resident", "name", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "open");
}

/* ---- 2. dates as people write them ---- */

Test(domain_words, dates_in_the_forms_people_write)
{
  char d[11];
  static const char *const ok[][2] = {
      {"2026-12-05", "2026-12-05"}, {"2026/12/05", "2026-12-05"},
      {"2026/12/5", "2026-12-05"},  {"2026-12-5", "2026-12-05"},
      {"2026.12.5", "2026-12-05"},  {"2026年12月5日", "2026-12-05"},
      {"2026年12月5号", "2026-12-05"}, {"2026年1月15日", "2026-01-15"},
      {" 2026/2/28 ", "2026-02-28"}, {"2024/2/29", "2024-02-29"},
      {"今天", "2026-11-20"},       {"昨天", "2026-11-19"},
      {"前天", "2026-11-18"},       {"yesterday", "2026-11-19"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    cr_assert(node_date_parse(n, ok[i][0], d), "%s", ok[i][0]);
    cr_assert_str_eq(d, ok[i][1], "%s", ok[i][0]);
  }
  static const char *const bad[] = {
      "2026/2/30", "2026/13/1", "12/05", "2026-12", "2026/12-05",
      "2026年12月", "2026年12月5日x", "20261205", "2026/012/5", "", "明年",
      "2026/1/1/1", "-2026-1-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert(!node_date_parse(n, bad[i], d), "%s", bad[i]);
  /* the node's clock in local time: 17:00 UTC is 01:00 next day in
   * Shanghai */
  now_ms = NOW_MS + 5 * 3600 * 1000ULL;
  cr_assert(node_date_parse(n, "今天", d));
  cr_assert_str_eq(d, "2026-11-21");
  cr_assert(node_date_parse(n, "昨天", d));
  cr_assert_str_eq(d, "2026-11-20");
  now_ms = NOW_MS;

  /* in writes: stored YYYY-MM-DD */
  uint8_t v1[CRDT_ID_LEN], v2[CRDT_ID_LEN], a[CRDT_ID_LEN];
  char buf[32];
  node_reason why = {0};
  add("visit", G1, v1, "by", "小李", "date", "2026年11月5日", NULL);
  add("visit", G1, v2, "by", "小李", "date", "昨天", NULL);
  cr_assert_str_eq(t_field_text(n, "visit", v1, "date", buf, sizeof buf),
                   "2026-11-05");
  cr_assert_str_eq(t_field_text(n, "visit", v2, "date", buf, sizeof buf),
                   "2026-11-19");
  cr_assert_eq(try_add("visit", G1, NULL, &why, "by", "小李", "date",
                       "2026/2/30", NULL),
               GS_ESCHEMA);
  cr_assert_not_null(strstr(why.text, "takes a date"), "%s", why.text);
  /* a verb's date */
  add("appeal", G1, a, "category", "repair", "description", "灯坏了",
      "opened", "2026/11/1", NULL);
  node_edit *e;
  cr_assert_eq(node_edit_open(n, "appeal", a, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_verb(e, "accept", "2026/11/3", &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_str_eq(t_field_text(n, "appeal", a, "accepted", buf, sizeof buf),
                   "2026-11-03");
  cr_assert_eq(node_edit_open(n, "appeal", a, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_verb(e, "assign", "2026/11/31", &why), GS_EINVAL);
  node_edit_free(e);
  /* in query values */
  cr_assert_eq(query("visit", &why, "date>=2026/11/6", NULL), 1);
  cr_assert_eq(query("visit", &why, "date=昨天", NULL), 1);
  cr_assert_eq(query("visit", &why, "date<2026年11月6日", NULL), 1);
  cr_assert_eq(query("visit", &why, "date<11月6日", NULL), -1);
  cr_assert_not_null(strstr(why.text, "takes a date"), "%s", why.text);
}

/* ---- 3. phones as people type them ---- */

Test(domain_words, phones_are_kept_and_found_without_spaces_and_dashes)
{
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  char buf[32];
  node_reason why = {0};
  add("resident", G1, a, "name", "李桂芳", "phone", "138 0000 1111", NULL);
  add("resident", G1, b, "name", "王建国", "phone", "139-1234-5678", NULL);
  cr_assert_str_eq(t_field_text(n, "resident", a, "phone", buf, sizeof buf),
                   "13800001111");
  cr_assert_str_eq(t_field_text(n, "resident", b, "phone", buf, sizeof buf),
                   "13912345678");
  /* a phone written as it was typed (put's FIELD=TEXT) is still found */
  node_edit *e;
  crdt_value v = {.type = CRDT_STR};
  v.u.s.p = "137 7777-0000";
  v.u.s.n = strlen(v.u.s.p);
  cr_assert_eq(node_edit_new(n, "resident", G1, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "name", '=', "张三", &why), GS_OK);
  cr_assert_eq(node_edit_set(e, "phone", &v, &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_eq(query("resident", &why, "phone=13800001111", NULL), 1);
  cr_assert_eq(query("resident", &why, "phone=138 0000 1111", NULL), 1);
  cr_assert_eq(query("resident", &why, "phone~0000 1111", NULL), 1);
  cr_assert_eq(query("resident", &why, "phone~1234-56", NULL), 1);
  cr_assert_eq(query("resident", &why, "phone~77770000", NULL), 1);
  cr_assert_eq(query("resident", &why, "phone=13777770000", NULL), 1);
  /* find: typed digits with spaces search the phone */
  node_cond c;
  const node_coll *rc = node_schema_coll("resident", 8);
  node_find_cond(rc, "139 1234", &c);
  cr_assert_eq(strncmp(c.field, "phone", c.field_len), 0);
  node_query q = {.coll = "resident", .conds = &c, .nconds = 1};
  size_t got = 0;
  cr_assert_eq(node_query_run(n, &q, t_count_cb, &got, NULL, &why), GS_OK);
  cr_assert_eq(got, 1);
  node_find_cond(rc, "李", &c);
  cr_assert_eq(strncmp(c.field, "name", c.field_len), 0);
  /* the bounds of the normal form */
  char out[8];
  cr_assert(node_phone_norm("1 2-3", 5, out, sizeof out));
  cr_assert_str_eq(out, "123");
  cr_assert(!node_phone_norm("123456789", 9, out, sizeof out));
  cr_assert(!node_phone_like("- -"));
  cr_assert(node_phone_like("+86 138"));
}

/* ---- 4. records by what a person says ---- */

static int pick_second(void *ctx, const char *field, const char *text,
                       const node_hits *cands)
{
  (*(int *)ctx)++;
  cr_assert_geq(cands->n, 2);
  return 1;
}

Test(domain_words, records_by_name_address_and_place)
{
  uint8_t b5[CRDT_ID_LEN], b6[CRDT_ID_LEN], h1[CRDT_ID_LEN], h2[CRDT_ID_LEN],
      h3[CRDT_ID_LEN], r1[CRDT_ID_LEN], r2[CRDT_ID_LEN], r3[CRDT_ID_LEN],
      m[CRDT_ID_LEN], u[CRDT_ID_LEN], t[CRDT_ID_LEN];
  node_hit h;
  node_hits cands;
  node_reason why = {0};
  add("building", G1, b5, "name", "5号楼", NULL);
  add("building", G2, b6, "name", "6号楼", NULL);
  add("household", NULL, h1, "building", "5号楼", "unit", "2", "room", "301",
      NULL);
  add("household", NULL, h2, "building", "5号楼", "unit", "1", "room", "301",
      NULL);
  add("household", NULL, h3, "building", "6号楼", "unit", "2", "room", "301",
      NULL);
  /* a building by name or number */
  cr_assert_eq(node_resolve(n, "building", "5号楼", 0, &h, NULL, &why), GS_OK);
  cr_assert_eq(memcmp(h.id, b5, CRDT_ID_LEN), 0);
  cr_assert_eq(node_resolve(n, "building", "5", 0, &h, NULL, &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(memcmp(h.id, b5, CRDT_ID_LEN), 0);
  cr_assert_eq(node_resolve(n, "building", "6栋", 0, &h, NULL, &why), GS_OK);
  cr_assert_eq(memcmp(h.id, b6, CRDT_ID_LEN), 0);
  cr_assert_eq(node_resolve(n, "building", "7", 0, &h, NULL, &why),
               GS_ENOTFOUND);
  /* a household by its address, in the forms people write it */
  static const char *const h1s[] = {"5号楼2单元301", "5号楼 2单元 301",
                                    "5-2-301", "5栋2单元301室"};
  for (size_t i = 0; i < 4; i++) {
    cr_assert_eq(node_resolve(n, "household", h1s[i], 0, &h, NULL, &why),
                 GS_OK, "%s: %s", h1s[i], why.text);
    cr_assert_eq(memcmp(h.id, h1, CRDT_ID_LEN), 0, "%s", h1s[i]);
    cr_assert_str_eq(h.name, "5号楼2单元301");
  }
  cr_assert_eq(node_resolve(n, "household", "6号楼2单元301", 0, &h, NULL,
                            &why),
               GS_OK);
  cr_assert_eq(memcmp(h.id, h3, CRDT_ID_LEN), 0);
  /* no stairwell given: both 301s of building 5, told apart */
  cr_assert_eq(node_resolve(n, "household", "5号楼301", 0, &h, &cands, &why),
               GS_EAMBIG);
  cr_assert_eq(cands.n, 2);
  cr_assert(strstr(cands.v[0].detail, "单元301") &&
                strstr(cands.v[1].detail, "单元301"),
            "%s / %s", cands.v[0].detail, cands.v[1].detail);
  node_hits_free(&cands);
  cr_assert_eq(node_resolve(n, "household", "5号楼3单元301", 0, &h, NULL,
                            &why),
               GS_ENOTFOUND);
  (void)h2;
  /* residents: namesakes told apart by where they live and birth year */
  char hid[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(h1, CRDT_ID_LEN, hid);
  add("resident", NULL, r1, "name", "李桂芳", "birth_year", "1948",
      "household", "5号楼2单元301", NULL);
  add("resident", NULL, r2, "name", "李桂芳", "birth_year", "1955",
      "household", "6号楼2单元301", NULL);
  add("resident", G1, r3, "name", "李桂芳", "building", "7号楼", "room",
      "101", NULL);
  cr_assert_eq(node_resolve(n, "resident", "李桂芳", 0, &h, &cands, &why),
               GS_EAMBIG);
  cr_assert_eq(cands.n, 3);
  bool saw = false;
  for (size_t i = 0; i < cands.n; i++)
    saw |= strstr(cands.v[i].detail, "5号楼2单元301") &&
           strstr(cands.v[i].detail, "born 1948");
  cr_assert(saw, "%s", cands.v[0].detail);
  cr_assert_not_null(strstr(why.text, "6号楼2单元301"), "%s", why.text);
  node_hits_free(&cands);
  /* "PLACE NAME" */
  static const char *const r1s[] = {"5号楼 李桂芳", "5 李桂芳",
                                    "5号楼2单元301 李桂芳"};
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(node_resolve(n, "resident", r1s[i], 0, &h, NULL, &why),
                 GS_OK, "%s: %s", r1s[i], why.text);
    cr_assert_eq(memcmp(h.id, r1, CRDT_ID_LEN), 0, "%s", r1s[i]);
  }
  cr_assert_eq(node_resolve(n, "resident", "7号楼 李桂芳", 0, &h, NULL, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(memcmp(h.id, r3, CRDT_ID_LEN), 0);
  cr_assert_eq(node_resolve(n, "resident", "8号楼 李桂芳", 0, &h, NULL, &why),
               GS_ENOTFOUND);
  /* a meeting by its title, a unit and a team by name */
  add("meeting", G1, m, "kind", "四方议事会", "date", "2026-11-02", "title",
      "加装电梯", NULL);
  add("unit", G1, u, "name", "物业服务站", NULL);
  add("team", G1, t, "name", "天天敲门组", NULL);
  cr_assert_eq(node_resolve(n, "meeting", "加装电梯", 0, &h, NULL, &why),
               GS_OK);
  cr_assert_eq(memcmp(h.id, m, CRDT_ID_LEN), 0);
  cr_assert_eq(node_resolve(n, "unit|team", "天天敲门组", 0, &h, NULL, &why),
               GS_OK);
  cr_assert_eq(memcmp(h.id, t, CRDT_ID_LEN), 0);
  uint8_t a[CRDT_ID_LEN];
  add("appeal", G1, a, "category", "repair", "description", "电梯",
      "meeting", "加装电梯", "resident", "5号楼 李桂芳", NULL);
  cr_assert_eq(query("appeal", &why, "resident=5号楼 李桂芳", NULL), 1);
  cr_assert_eq(query("appeal", &why, "resident=6号楼 李桂芳", NULL), 0);
  /* ambiguous: refused, unless a chooser picks */
  cr_assert_eq(query("appeal", &why, "resident=李桂芳", NULL), -1);
  cr_assert_eq(why.code, GS_EAMBIG);
  int asked = 0;
  node_edit *e;
  cr_assert_eq(node_edit_new(n, "visit", NULL, &e, &why), GS_OK);
  node_edit_set_chooser(e, pick_second, &asked);
  cr_assert_eq(node_edit_text(e, "by", '=', "小李", &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "resident", '=', "李桂芳", &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(asked, 1);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  node_query q = {.coll = "visit"};
  node_cond c;
  cr_assert(node_cond_parse("resident=李桂芳", &c));
  q.conds = &c;
  q.nconds = 1;
  q.choose = pick_second;
  q.choose_ctx = &asked;
  size_t got = 0;
  cr_assert_eq(node_query_run(n, &q, t_count_cb, &got, NULL, &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(asked, 2);
  cr_assert_eq(got, 1);
}

/* ---- 5. names of linked records; a resident's building ---- */

Test(domain_words, linked_records_are_shown_by_name)
{
  uint8_t b[CRDT_ID_LEN], h[CRDT_ID_LEN], r[CRDT_ID_LEN], t[CRDT_ID_LEN];
  char buf[128];
  node_reason why = {0};
  add("building", G1, b, "name", "5号楼", NULL);
  add("household", NULL, h, "building", "5", "unit", "2", "room", "301",
      NULL);
  add("resident", NULL, r, "name", "李桂芳", "household", "5号楼2单元301",
      NULL);
  add("resident", G1, NULL, "name", "赵大爷", "building", "5号楼", NULL);
  add("resident", G1, NULL, "name", "钱大妈", "building", "6号楼", NULL);
  add("team", G1, t, "name", "天天敲门组", "+members", "李桂芳", NULL);
  crdt_value v = {.type = CRDT_REF};
  v.u.ref.coll = "household";
  v.u.ref.coll_len = 9;
  memcpy(v.u.ref.id, h, CRDT_ID_LEN);
  node_display_text(n, "resident", "household", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "5号楼2单元301");
  v.u.ref.coll = "resident";
  v.u.ref.coll_len = 8;
  memcpy(v.u.ref.id, r, CRDT_ID_LEN);
  node_display_text(n, "team", "members", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "李桂芳");
  v.u.ref.coll = "building";
  v.u.ref.coll_len = 8;
  memcpy(v.u.ref.id, b, CRDT_ID_LEN);
  node_display_text(n, "household", "building", &v, buf, sizeof buf);
  cr_assert_str_eq(buf, "5号楼");
  /* a record this node does not hold: its COLL/ID */
  v.u.ref.id[0] ^= 1;
  node_display_text(n, "household", "building", &v, buf, sizeof buf);
  cr_assert_eq(strncmp(buf, "building/", 9), 0, "%s", buf);
  /* the author: this node by its name */
  uint8_t pk[CRDT_KEY_LEN];
  memcpy(pk, node_pk(n), CRDT_KEY_LEN);
  node_author_text(n, pk, buf, sizeof buf);
  cr_assert_str_eq(buf, "test");
  pk[0] ^= 1;
  node_author_text(n, pk, buf, sizeof buf);
  cr_assert_eq(strlen(buf), 12);
  /* residents of building 5, by its own text or its household's */
  cr_assert_eq(query("resident", &why, "building=5", NULL), 2);
  cr_assert_eq(query("resident", &why, "building=5号楼", NULL), 2);
  cr_assert_eq(query("resident", &why, "building!=5", NULL), 1);
  cr_assert_eq(query("resident", &why, "building=6", NULL), 1);
  cr_assert_eq(query("resident", &why, "building=9", NULL), 0);
  cr_assert_eq(query("household", &why, "building=5", NULL), 1);
}

/* ---- 6. the scope of a leader with one grid ---- */

Test(domain_words, a_leader_with_one_grid_writes_there_by_default)
{
  char adir[160], ldir[160], odir[160], sc[CRDT_SCOPE_MAX + 1];
  node *admin, *leader, *office;
  node_reason why = {0};
  snprintf(adir, sizeof adir, "%s/admin", dir);
  snprintf(ldir, sizeof ldir, "%s/leader", dir);
  snprintf(odir, sizeof odir, "%s/office", dir);
  cr_assert_eq(node_init(adir, "admin"), GS_OK);
  cr_assert_eq(node_open(adir, 0, &fixed, &admin), GS_OK);
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  cr_assert_eq(node_init(ldir, "leader"), GS_OK);
  cr_assert_eq(node_open(ldir, 0, &fixed, &leader), GS_OK);
  cr_assert_eq(node_init(odir, "office"), GS_OK);
  cr_assert_eq(node_open(odir, 0, &fixed, &office), GS_OK);
  char *code;
  const char *g1[] = {G1}, *two[] = {G1, G2};
  cr_assert_eq(node_invite(admin, "leader", g1, 1, NOW_MS + 86400000, &code),
               GS_OK);
  cr_assert_eq(node_join(leader, code), GS_OK);
  free(code);
  cr_assert_eq(node_invite(admin, "office", two, 2, NOW_MS + 86400000, &code),
               GS_OK);
  cr_assert_eq(node_join(office, code), GS_OK);
  free(code);

  cr_assert(node_write_scope(leader, sc));
  cr_assert_str_eq(sc, G1);
  cr_assert(!node_write_scope(office, sc));
  cr_assert_str_eq(sc, "");
  cr_assert(!node_write_scope(n, sc)); /* no network */

  node_edit *e;
  node_committed res;
  cr_assert_eq(node_edit_new(leader, "resident", NULL, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "name", '=', "李桂芳", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  cr_assert_str_eq(res.scope, G1);
  node_edit_free(e);
  /* two scopes: where does it belong? */
  cr_assert_eq(node_edit_new(office, "resident", NULL, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "name", '=', "王", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_EINVAL);
  cr_assert_str_eq(why.field, "scope");
  node_edit_free(e);
  node_close(office);
  node_close(leader);
  node_close(admin);
}

/* ---- 7. questions: residents by age ---- */

Test(domain_words, residents_by_age_from_birth_year_and_this_year)
{
  node_reason why = {0};
  add("resident", G1, NULL, "name", "甲", "birth_year", "1941", NULL); /* 85 */
  add("resident", G1, NULL, "name", "乙", "birth_year", "1961", NULL); /* 65 */
  add("resident", G1, NULL, "name", "丙", "birth_year", "1962", NULL); /* 64 */
  add("resident", G1, NULL, "name", "丁", NULL); /* unknown */
  node_cond c;
  cr_assert(node_cond_value("age", ">=65", &c));
  cr_assert_eq(c.op, NODE_Q_GE);
  cr_assert_str_eq(c.value, "65");
  node_query q = {.coll = "resident", .conds = &c, .nconds = 1};
  size_t got = 0;
  cr_assert_eq(node_query_run(n, &q, t_count_cb, &got, NULL, &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(got, 2);
  cr_assert_eq(query("resident", &why, "age>65", NULL), 1);
  cr_assert_eq(query("resident", &why, "age<65", NULL), 1);
  cr_assert_eq(query("resident", &why, "age<=65", NULL), 2);
  cr_assert_eq(query("resident", &why, "age=64", NULL), 1);
  cr_assert_eq(query("resident", &why, "age>=60", "age<80", NULL), 2);
  /* the year turns: 乙 is 66 and 丙 65 in 2027 */
  now_ms = 1798761600000ULL + 3600 * 1000ULL; /* 2027-01-01 01:00 UTC */
  cr_assert_eq(query("resident", &why, "age>=65", NULL), 3);
  now_ms = NOW_MS;
  /* refusals, never an empty result */
  cr_assert_eq(query("resident", &why, "age>=old", NULL), -1);
  cr_assert_not_null(strstr(why.text, "whole number of years"), "%s",
                     why.text);
  cr_assert_eq(query("resident", &why, "age~6", NULL), -1);
  cr_assert_eq(query("household", &why, "age>=65", NULL), -1);
  cr_assert_not_null(strstr(why.text, "no field 'age'"), "%s", why.text);
  /* an option's comparison */
  cr_assert(node_cond_value("birth_year", "<1946", &c));
  cr_assert_eq(c.op, NODE_Q_LT);
  cr_assert(node_cond_value("tags", "独居", &c));
  cr_assert_eq(c.op, NODE_Q_EQ);
  cr_assert_str_eq(c.value, "独居");
  cr_assert(!node_cond_value("Bad", "1", &c));
}

/* ---- 7. questions: what changed since ---- */

typedef struct seen {
  node_change_item v[16];
  size_t n;
} seen;

static int on_change_item(void *ctx, const node_change_item *it)
{
  seen *s = ctx;
  if (s->n < 16)
    s->v[s->n] = *it;
  s->n++;
  return 0;
}

Test(domain_words, what_changed_since_a_day_by_whom_and_where)
{
  uint8_t r[CRDT_ID_LEN];
  node_reason why = {0};
  now_ms = NOW_MS - 2 * 86400000ULL; /* 2026-11-18 */
  add("resident", G1, r, "name", "李桂芳", NULL);
  now_ms = NOW_MS - 86400000ULL; /* 2026-11-19, 20:00 in Shanghai */
  add("resident", G2, NULL, "name", "王建国", "phone", "139", NULL);
  now_ms = NOW_MS;
  node_edit *e;
  cr_assert_eq(node_edit_open(n, "resident", r, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "phone", '=', "138", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK);
  node_edit_free(e);
  cr_assert_eq(node_edit_open(n, "resident", r, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_delete(e, true, &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK);
  node_edit_free(e);

  uint64_t since;
  cr_assert_eq(node_day_start_ms(n, "昨天", &since, &why), GS_OK);
  /* local midnight of 2026-11-19 in Shanghai is 16:00 UTC the day before */
  cr_assert_eq(since, 1795017600000ULL,
               "%llu", (unsigned long long)since);
  seen s = {0};
  bool trunc = true;
  cr_assert_eq(node_changes(n, NULL, since, on_change_item, &s, &trunc,
                            &why),
               GS_OK, "%s", why.text);
  cr_assert(!trunc);
  cr_assert_eq(s.n, 3);
  cr_assert_str_eq(s.v[0].name, "王建国");
  cr_assert_str_eq(s.v[0].scope, G2);
  cr_assert_str_eq(s.v[0].fields, "name,phone");
  cr_assert_str_eq(s.v[0].author, "test");
  cr_assert_str_eq(s.v[1].name, "李桂芳");
  cr_assert_str_eq(s.v[1].fields, "phone");
  cr_assert(s.v[2].deleted);
  cr_assert(s.v[0].ms <= s.v[1].ms && s.v[1].ms <= s.v[2].ms);
  /* by grid */
  memset(&s, 0, sizeof s);
  cr_assert_eq(node_changes(n, G1, since, on_change_item, &s, NULL, &why),
               GS_OK);
  cr_assert_eq(s.n, 2);
  /* since the start: the first write too */
  memset(&s, 0, sizeof s);
  cr_assert_eq(node_changes(n, "", 0, on_change_item, &s, NULL, &why),
               GS_OK);
  cr_assert_eq(s.n, 4);
  /* today only */
  cr_assert_eq(node_day_start_ms(n, "今天", &since, &why), GS_OK);
  memset(&s, 0, sizeof s);
  cr_assert_eq(node_changes(n, NULL, since, on_change_item, &s, NULL, &why),
               GS_OK);
  cr_assert_eq(s.n, 2);
  cr_assert_eq(node_day_start_ms(n, "last week", &since, &why), GS_EINVAL);
  cr_assert_eq(node_changes(n, "bad scope//", 0, on_change_item, &s, NULL,
                            &why),
               GS_EINVAL);
}

/* ---- 7. questions: unvisited households, a contact sheet ---- */

typedef struct uv {
  node_unvisited_item v[8];
  size_t n;
} uv;

static int on_uv(void *ctx, const node_unvisited_item *it)
{
  uv *u = ctx;
  if (u->n < 8)
    u->v[u->n] = *it;
  u->n++;
  return 0;
}

Test(domain_words, households_not_visited_in_n_days_per_building)
{
  node_reason why = {0};
  add("building", G1, NULL, "name", "5号楼", NULL);
  add("building", G1, NULL, "name", "6号楼", NULL);
  add("household", NULL, NULL, "building", "5", "unit", "1", "room", "101",
      NULL);
  add("household", NULL, NULL, "building", "5", "unit", "1", "room", "102",
      NULL);
  add("household", NULL, NULL, "building", "5", "unit", "2", "room", "201",
      NULL);
  add("household", NULL, NULL, "building", "6", "unit", "1", "room", "101",
      NULL);
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-1-102",
      NULL);
  /* 101 visited 10 days ago; 102 through its resident 40 days ago; 201
   * never; 6号楼101 today */
  add("visit", G1, NULL, "by", "小李", "household", "5-1-101", "date",
      "2026-11-10", NULL);
  add("visit", G1, NULL, "by", "小李", "resident", "李桂芳", "date",
      "2026-10-11", NULL);
  add("visit", G1, NULL, "by", "小李", "household", "6-1-101", "date", "今天",
      NULL);
  uv u = {0};
  cr_assert_eq(node_unvisited(n, NULL, NULL, 30, on_uv, &u, &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(u.n, 2);
  cr_assert_str_eq(u.v[0].address, "5号楼1单元102");
  cr_assert_str_eq(u.v[0].last, "2026-10-11");
  cr_assert_eq(u.v[0].days, 40);
  cr_assert_str_eq(u.v[1].address, "5号楼2单元201");
  cr_assert_eq(u.v[1].days, -1);
  cr_assert_str_eq(u.v[1].building, "5号楼");
  /* 10 days: 101 too (visited exactly 10 days ago is not within 10) */
  memset(&u, 0, sizeof u);
  cr_assert_eq(node_unvisited(n, NULL, "5号楼", 10, on_uv, &u, &why), GS_OK);
  cr_assert_eq(u.n, 3);
  memset(&u, 0, sizeof u);
  cr_assert_eq(node_unvisited(n, NULL, "5号楼", 11, on_uv, &u, &why), GS_OK);
  cr_assert_eq(u.n, 2);
  /* one day: all but the one visited today */
  memset(&u, 0, sizeof u);
  cr_assert_eq(node_unvisited(n, "", NULL, 1, on_uv, &u, &why), GS_OK);
  cr_assert_eq(u.n, 3);
  memset(&u, 0, sizeof u);
  cr_assert_eq(node_unvisited(n, G2, NULL, 30, on_uv, &u, &why), GS_OK);
  cr_assert_eq(u.n, 0);
  cr_assert_eq(node_unvisited(n, NULL, "9号楼", 30, on_uv, &u, &why),
               GS_ENOTFOUND);
  cr_assert_eq(node_unvisited(n, NULL, NULL, 0, on_uv, &u, &why), GS_EINVAL);
}

typedef struct sheet {
  node_contact_row v[8];
  size_t n;
} sheet;

static int on_row(void *ctx, const node_contact_row *r)
{
  sheet *s = ctx;
  if (s->n < 8)
    s->v[s->n] = *r;
  s->n++;
  return 0;
}

Test(domain_words, a_buildings_contact_sheet)
{
  node_reason why = {0};
  add("building", G1, NULL, "name", "5号楼", "leader", "周师傅", "phone",
      "135 1111 2222", NULL);
  add("building", G1, NULL, "name", "6号楼", NULL);
  add("household", NULL, NULL, "building", "5", "unit", "2", "room", "301",
      "phone", "6666-1234", NULL);
  add("household", NULL, NULL, "building", "5", "unit", "1", "room", "101",
      NULL);
  add("household", NULL, NULL, "building", "6", "unit", "1", "room", "101",
      NULL);
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-2-301",
      "phone", "138 0000 1111", "birth_year", "1948", "+tags", "独居",
      "+tags", "elderly", NULL);
  add("resident", NULL, NULL, "name", "王建国", "household", "5-2-301",
      NULL);
  add("resident", G1, NULL, "name", "赵大爷", "building", "5", "unit", "1",
      "room", "102", NULL);
  add("resident", NULL, NULL, "name", "钱大妈", "household", "6-1-101",
      NULL);
  node_contact_head head;
  sheet s = {0};
  cr_assert_eq(node_contact_sheet(n, "5", &head, on_row, &s, &why), GS_OK,
               "%s", why.text);
  cr_assert_str_eq(head.name, "5号楼");
  cr_assert_str_eq(head.leader, "周师傅");
  cr_assert_str_eq(head.phone, "13511112222");
  cr_assert_eq(s.n, 4);
  cr_assert_str_eq(s.v[0].address, "5号楼1单元101");
  cr_assert_str_eq(s.v[0].name, "");
  cr_assert_str_eq(s.v[1].address, "5号楼1单元102");
  cr_assert_str_eq(s.v[1].name, "赵大爷");
  cr_assert_str_eq(s.v[2].name, "李桂芳");
  cr_assert_str_eq(s.v[2].phone, "13800001111");
  cr_assert_str_eq(s.v[2].household_phone, "66661234");
  cr_assert_eq(s.v[2].birth_year, 1948);
  cr_assert(strstr(s.v[2].tags, "独居") && strstr(s.v[2].tags, "老年人"),
            "%s", s.v[2].tags);
  cr_assert_str_eq(s.v[3].name, "王建国");
  cr_assert_str_eq(s.v[3].address, "5号楼2单元301");
  cr_assert_eq(node_contact_sheet(n, "7号楼", &head, on_row, &s, &why),
               GS_ENOTFOUND);
}

/* ---- 8. ledgers ---- */

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  static char buf[65536];
  size_t k = fread(buf, 1, sizeof buf - 1, f);
  buf[k] = '\0';
  fclose(f);
  return buf;
}

Test(domain_words, a_query_as_a_csv_ledger_with_chinese_headers_and_names)
{
  char path[160];
  node_reason why = {0};
  add("building", G1, NULL, "name", "5号楼", NULL);
  add("household", NULL, NULL, "building", "5", "unit", "2", "room", "301",
      NULL);
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-2-301",
      "birth_year", "1948", "+tags", "独居", "+tags", "elderly", "note",
      "说\"慢点\", 谢谢", NULL);
  add("resident", G2, NULL, "name", "王建国", NULL);
  add("appeal", G1, NULL, "category", "微心愿", "description", "一盏灯",
      "resident", "李桂芳", "opened", "2026/11/3", NULL);
  snprintf(path, sizeof path, "%s/r.csv", dir);
  node_cond c;
  cr_assert(node_cond_value("age", ">=65", &c));
  node_query q = {.coll = "resident", .conds = &c, .nconds = 1};
  size_t rows = 0;
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_CSV, path, 0, &rows,
                                 &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(rows, 1);
  const char *t = slurp(path);
  cr_assert_eq(memcmp(t, "\xEF\xBB\xBF", 3), 0, "a BOM for Excel");
  cr_assert_eq(strncmp(t + 3, "网格,姓名,性别,出生年份,电话,住户,楼栋,单元,"
                              "房号,标签,备注,紧急联系人,紧急联系电话,储蓄卡号,"
                              "居住状态,迁出日期,迁出原因,迁往,迁自\r\n",
                       strlen("网格,姓名,性别,出生年份,电话,住户,楼栋,单元,"
                              "房号,标签,备注,紧急联系人,紧急联系电话,储蓄卡号,"
                              "居住状态,迁出日期,迁出原因,迁往,迁自\r\n")),
               0, "%s", t);
  cr_assert_not_null(strstr(t, G1 ",李桂芳,,1948,,5号楼2单元301,,,,"), "%s",
                     t);
  cr_assert(strstr(t, "独居") && strstr(t, "老年人") && strstr(t, "、"), "%s",
            t);
  cr_assert_not_null(strstr(t, ",\"说\"\"慢点\"\", 谢谢\",,,,,,,,\r\n"), "%s",
                     t);
  cr_assert_null(strstr(t, "王建国"));
  /* text that a spreadsheet would run as a formula stays text */
  add("resident", G1, NULL, "name", "=HYPERLINK(\"http://x\")",
      "birth_year", "1950", "note", "-1+2", NULL);
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_CSV, path, 0, &rows,
                                 &why),
               GS_OK, "%s", why.text);
  t = slurp(path);
  cr_assert_not_null(strstr(t, ",\"'=HYPERLINK(\"\"http://x\"\")\",,1950,"),
                     "%s", t);
  cr_assert_not_null(strstr(t, ",\"'-1+2\",,,,,,,,\r\n"), "%s", t);
  q = (node_query){.coll = "appeal"};
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_CSV, path, 0, &rows,
                                 &why),
               GS_OK, "%s", why.text);
  t = slurp(path);
  cr_assert_not_null(strstr(t, "类别,内容,居民"), "%s", t);
  cr_assert_not_null(strstr(t, ",微心愿,一盏灯,李桂芳,"), "%s", t);
  cr_assert_not_null(strstr(t, ",2026-11-03,"), "%s", t);
  cr_assert_not_null(strstr(t, ",待受理,"), "%s", t);
  /* refusals: a bad query, an xlsx to stdout, a file that cannot be made */
  cr_assert(node_cond_parse("nmae=x", &c));
  q = (node_query){.coll = "resident", .conds = &c, .nconds = 1};
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_CSV, path, 0, NULL,
                                 &why),
               GS_EINVAL);
  q = (node_query){.coll = "resident"};
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_XLSX, "-", 0, NULL,
                                 &why),
               GS_EINVAL);
  cr_assert_lt(node_export_query(n, &q, NODE_EXPORT_CSV,
                                 "/nonexistent/dir/x.csv", 0, NULL, &why),
               0);
  cr_assert_not_null(strstr(why.text, "cannot write"), "%s", why.text);
  /* a free-form collection: the fields it has */
  node_edit *e;
  cr_assert_eq(node_edit_new(n, "x_note", G1, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "text", '=', "备忘", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK);
  node_edit_free(e);
  q = (node_query){.coll = "x_note"};
  cr_assert_eq(node_export_query(n, &q, NODE_EXPORT_CSV, path, 0, &rows,
                                 &why),
               GS_OK, "%s", why.text);
  t = slurp(path);
  cr_assert_not_null(strstr(t, "网格,text\r\n" G1 ",备忘\r\n"), "%s", t);
}
