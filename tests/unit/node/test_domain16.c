/* node/domain.h: what the schema could not hold before (issue 16):
 * micro-wishes, meetings and the co-building list, the time bank's
 * corrections and passbooks, residents moving out and to another grid,
 * visits by teams with their corrections and appeals, squads of a
 * building, the offices' tallies, reports over a period. Figures are
 * checked against what each test wrote. */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/domain.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "node/report.h"
#include "node/schema.h"
#include "node/seed.h"
#include "tests/unit/node/domain_test_util.h"
#include "tests/unit/storage/store_test_util.h"

static char dir[64];
static char ndir[128];
static node *n;

#define G1 "gongrencun/qinghejv/g01"
#define G2 "gongrencun/qinghejv/g02"
#define ROOT "gongrencun/qinghejv"
/* 2026-12-01 12:00 UTC */
#define NOW_MS 1796126400000ULL

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

TestSuite(domain16, .init = setup, .fini = teardown);

/* A new record of coll in scope from (field, text) pairs, NULL-ended
 * ("+field" adds to a set); GS_OK or the refusal in why. */
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

static void idtext(const uint8_t id[CRDT_ID_LEN], const char *coll,
                   char *out, size_t cap)
{
  char t[CRDT_ID_TEXT_LEN + 1];
  crdt_base32_encode(id, CRDT_ID_LEN, t);
  snprintf(out, cap, "%s/%s", coll, t);
}

/* A verb on (coll, id) with --to and --date. */
static gs_err verb(const char *coll, const uint8_t *id, const char *v,
                   const char *to, const char *date, node_reason *why)
{
  node_edit *e;
  gs_err err = node_edit_open(n, coll, id, false, &e, why);
  if (err)
    return err;
  if (to)
    err = node_edit_verb_to(e, v, to, why);
  if (!err)
    err = node_edit_verb(e, v, date, why);
  node_committed res;
  if (!err)
    err = node_edit_commit(e, &res, why);
  node_edit_free(e);
  return err;
}

static size_t set_size(const char *coll, const uint8_t *id, const char *f)
{
  crdt_record *r;
  cr_assert_eq(node_get(n, coll, id, &r), GS_OK);
  long i = crdt_record_find(r, f, strlen(f));
  crdt_field_view fv;
  size_t k = 0;
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK && fv.is_set)
    k = fv.nelems;
  crdt_record_free(r);
  return k;
}

static void report(const char *since, const char *until, node_report *rep)
{
  cr_assert_eq(node_report_make_period(n, NULL, since, until, rep), GS_OK);
}

static void base(void)
{
  add("unit", ROOT, NULL, "name", "华联超市清河店", "kind", "企业", NULL);
  add("unit", ROOT, NULL, "name", "清河物业服务站", "kind", "物业", NULL);
  add("team", ROOT, NULL, "name", "助老服务队", NULL);
  add("building", G1, NULL, "name", "5号楼", NULL);
  add("household", NULL, NULL, "building", "5", "unit", "2", "room", "301",
      NULL);
  add("building", G2, NULL, "name", "7号楼", NULL);
  add("household", NULL, NULL, "building", "7", "unit", "1", "room", "101",
      NULL);
}

/* ---- 1. micro-wishes ---- */

Test(domain16, a_micro_wish_names_who_fulfils_it_and_a_donor)
{
  uint8_t w[CRDT_ID_LEN], v[CRDT_ID_LEN], w2[CRDT_ID_LEN];
  char buf[128];
  node_reason why = {0};
  base();
  add("resident", NULL, v, "name", "张志愿", "household", "5-2-301",
      "+tags", "志愿者", NULL);
  add("appeal", G1, w, "category", "微心愿", "description", "楼道装一盏灯",
      "opened", "2026-11-03", "fulfiller", "张志愿", "donor",
      "爱心人士王女士", NULL);
  cr_assert_str_eq(t_field_text(n, "appeal", w, "donor", buf, sizeof buf),
                   "爱心人士王女士");
  /* a unit or a team fulfils one too; a household cannot */
  add("appeal", G1, w2, "category", "micro-wish", "description", "收音机",
      "opened", "2026-11-04", "fulfiller", "华联超市清河店", NULL);
  add("appeal", G1, NULL, "category", "micro-wish", "description", "棉被",
      "opened", "2026-10-04", "fulfiller", "助老服务队", NULL);
  cr_assert_neq(try_add("appeal", G1, NULL, &why, "category", "micro-wish",
                        "description", "x", "fulfiller", "5-2-301", NULL),
                GS_OK);
  /* fulfilled: resolved in November */
  cr_assert_eq(verb("appeal", w, "accept", NULL, "2026-11-03", &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(verb("appeal", w, "assign", "助老服务队", "2026-11-04", &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(verb("appeal", w, "resolve", NULL, "2026-11-10", &why), GS_OK,
               "%s", why.text);
  node_report rep;
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.wishes, 2);
  cr_assert_eq(rep.total.wishes_fulfilled, 1);
  node_report_free(&rep);
  report(NULL, NULL, &rep);
  cr_assert_eq(rep.total.wishes, 3);
  node_report_free(&rep);
}

/* ---- 2. meetings, decisions, the co-building list ---- */

Test(domain16, meetings_name_conveners_attendees_and_decisions)
{
  uint8_t m[CRDT_ID_LEN], d[CRDT_ID_LEN], c[CRDT_ID_LEN];
  char buf[128];
  node_reason why = {0};
  base();
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-2-301",
      NULL);
  add("meeting", G1, m, "kind", "四方议事会", "title", "加装电梯", "date",
      "2026-11-02", "convener", "清河物业服务站", "+attendees",
      "华联超市清河店", "+attendees", "李桂芳", "+attendees", "助老服务队",
      "+participants", "街道办 王主任", NULL);
  cr_assert_eq(set_size("meeting", m, "attendees"), 3);
  cr_assert_str_eq(t_field_text(n, "meeting", m, "convener", buf,
                                sizeof buf)[0] ? "x" : "",
                   "x");
  /* a decision with the unit responsible */
  char mt[64];
  idtext(m, "meeting", mt, sizeof mt);
  add("task", NULL, d, "kind", "会议决议", "what", "物业本月内完成电梯选型",
      "meeting", mt, "unit", "清河物业服务站", NULL);
  char sc[CRDT_SCOPE_MAX + 1];
  (void)sc;
  cr_assert_str_eq(t_field_text(n, "task", d, "kind", buf, sizeof buf),
                   "decision");
  /* the year's co-building list: an item two units claim, with cost */
  add("task", ROOT, c, "kind", "共建清单项目", "what", "楼道照明改造",
      "year", "2026", "cost", "18000", "resources", "物业出人工", NULL);
  cr_assert_eq(verb("task", c, "claim", "清河物业服务站", NULL, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(verb("task", c, "claim", "华联超市清河店", NULL, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(set_size("task", c, "claimants"), 2,
               "both claimants are kept");
  cr_assert_str_eq(t_field_text(n, "task", c, "cost", buf, sizeof buf),
                   "18000");
  cr_assert_neq(try_add("task", ROOT, NULL, &why, "what", "x", "year",
                        "1990", NULL),
                GS_OK);
}

/* ---- 3. the time bank ---- */

static int on_line(void *ctx, const node_passbook_line *l)
{
  node_passbook_line *v = ctx;
  size_t k = 0;
  while (v[k].date[0])
    k++;
  v[k] = *l;
  return 0;
}

Test(domain16, a_correction_changes_the_published_hours_too)
{
  uint8_t r[CRDT_ID_LEN], dep[CRDT_ID_LEN], sp[CRDT_ID_LEN],
      served[CRDT_ID_LEN];
  node_reason why = {0};
  base();
  add("resident", NULL, r, "name", "王学生", "household", "5-2-301",
      "passbook", "QH000123", NULL);
  add("resident", NULL, served, "name", "赵奶奶", "household", "5-2-301",
      NULL);
  node_hit who;
  cr_assert_eq(node_resolve(n, "resident", "王学生", 0, &who, NULL, &why),
               GS_OK);
  node_edit *e;
  cr_assert_eq(node_timebank_entry(n, &who, "deposit", "20", &e, &why),
               GS_OK);
  cr_assert_eq(node_edit_text(e, "date", '=', "2026-11-05", &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "service", '=', "清洁打扫", &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "served", '=', "赵奶奶", &why), GS_OK);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  memcpy(dep, res.id, CRDT_ID_LEN);
  node_edit_free(e);
  char dt[64];
  idtext(dep, "timebank", dt, sizeof dt);
  /* the correction: -18 h, naming the deposit, dated later */
  cr_assert_eq(node_timebank_entry(n, &who, "adjust", "-18", &e, &why),
               GS_OK);
  cr_assert_eq(node_edit_text(e, "corrects", '=', dt, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "note", '=', "录入错误，应为2小时", &why),
               GS_OK);
  cr_assert_eq(node_edit_text(e, "date", '=', "2026-12-01", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  /* a spend for goods a company sponsored */
  cr_assert_eq(node_timebank_entry(n, &who, "spend", "1", &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "goods", '=', "大米一袋", &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "sponsor", '=', "华联超市清河店", &why),
               GS_OK);
  cr_assert_eq(node_edit_text(e, "date", '=', "2026-11-20", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  memcpy(sp, res.id, CRDT_ID_LEN);
  node_edit_free(e);

  /* November: 20 h deposited, corrected to 2 */
  node_report rep;
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.volunteer_centihours, 200);
  cr_assert_eq(rep.total.corrected_centihours, -1800);
  node_report_free(&rep);
  /* October: nothing; the correction counts in its deposit's period */
  report("2026-10-01", "2026-10-31", &rep);
  cr_assert_eq(rep.total.volunteer_centihours, 0);
  node_report_free(&rep);
  report("2026-12-01", NULL, &rep);
  cr_assert_eq(rep.total.volunteer_centihours, 0);
  node_report_free(&rep);

  /* the balance: 20 - 18 - 1 */
  node_balance b;
  cr_assert_eq(node_timebank_balance(n, "resident", r, &b), GS_OK);
  cr_assert_eq(b.balance, 100);
  /* the passbook, by its number: in date order with running balances */
  node_hit pb;
  cr_assert_eq(node_passbook_find(n, "QH000123", NULL, NULL, &pb, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(memcmp(pb.id, r, CRDT_ID_LEN), 0);
  node_passbook_line lines[8];
  memset(lines, 0, sizeof lines);
  int64_t total = 0;
  cr_assert_eq(node_passbook(n, "resident", r, on_line, lines, &total, &why),
               GS_OK);
  cr_assert_eq(total, 100);
  cr_assert_str_eq(lines[0].date, "2026-11-05");
  cr_assert_eq(lines[0].centihours, 2000);
  cr_assert_str_eq(lines[0].served, "赵奶奶");
  cr_assert_str_eq(lines[1].date, "2026-11-20");
  cr_assert_eq(lines[1].centihours, -100);
  cr_assert_str_eq(lines[1].goods, "大米一袋");
  cr_assert_eq(lines[1].balance, 1900);
  cr_assert_str_eq(lines[2].kind, "adjust");
  cr_assert(lines[2].correction);
  cr_assert_eq(lines[2].balance, 100);
  cr_assert_str_empty(lines[3].date);

  /* a correction is an adjust, of a deposit or a spend, held here */
  char st[64];
  idtext(sp, "timebank", st, sizeof st);
  cr_assert_eq(node_timebank_entry(n, &who, "deposit", "1", &e, &why),
               GS_OK);
  cr_assert_eq(node_edit_text(e, "corrects", '=', dt, &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_ESCHEMA);
  cr_assert_not_null(strstr(why.text, "only an adjust"), "%s", why.text);
  node_edit_free(e);
  /* a unit deposits its staff's hours */
  node_hit u;
  cr_assert_eq(node_resolve(n, "unit", "华联超市清河店", 0, &u, NULL, &why),
               GS_OK);
  cr_assert_eq(node_timebank_entry(n, &u, "deposit", "6", &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "date", '=', "2026-11-21", &why), GS_OK);
  /* its hours go where the company is, not in a grid below it (every
   * member node would hold such an entry, and its author's later ones) */
  cr_assert_eq(node_edit_set_scope(e, G1, &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_EPERM);
  cr_assert_str_eq(why.field, "scope");
  node_edit_free(e);
  cr_assert_eq(node_timebank_entry(n, &u, "deposit", "6", &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "date", '=', "2026-11-21", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.volunteer_centihours, 800);
  node_report_free(&rep);
}

/* ---- 4. residents ---- */

static int on_senior(void *ctx, const node_senior *s)
{
  char *names = ctx;
  strcat(names, s->name);
  strcat(names, ";");
  return 0;
}

static int on_contact(void *ctx, const node_contact_row *r)
{
  char *names = ctx;
  strcat(names, r->name);
  strcat(names, ";");
  return 0;
}

Test(domain16, moving_out_keeps_the_record_out_of_rosters)
{
  uint8_t a[CRDT_ID_LEN], b[CRDT_ID_LEN];
  char buf[256];
  node_reason why = {0};
  base();
  add("resident", NULL, a, "name", "李桂芳", "household", "5-2-301",
      "birth_year", "1948", "emergency_contact", "李建华（儿子）",
      "emergency_phone", "138 0000 1111", NULL);
  add("resident", NULL, b, "name", "周大爷", "household", "5-2-301",
      "birth_year", "1950", NULL);
  add("resident", NULL, NULL, "name", "小周", "household", "5-2-301",
      "birth_year", "1990", NULL);
  buf[0] = '\0';
  cr_assert_eq(node_seniors(n, NULL, 65, on_senior, buf, &why), GS_OK);
  cr_assert_str_eq(buf, "李桂芳;周大爷;", "oldest first");
  /* move-out: a date (today by default) and a reason; not a delete */
  node_edit *e;
  cr_assert_eq(node_edit_open(n, "resident", b, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "move_reason", '=', "入住养老院", &why),
               GS_OK);
  cr_assert_eq(node_edit_verb(e, "move-out", NULL, &why), GS_OK);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_str_eq(t_field_text(n, "resident", b, "moved_out", buf,
                                sizeof buf),
                   "2026-12-01");
  cr_assert_str_eq(t_field_text(n, "resident", b, "status", buf, sizeof buf),
                   "moved-out");
  buf[0] = '\0';
  cr_assert_eq(node_seniors(n, NULL, 65, on_senior, buf, &why), GS_OK);
  cr_assert_str_eq(buf, "李桂芳;");
  node_contact_head head;
  buf[0] = '\0';
  cr_assert_eq(node_contact_sheet(n, "5", &head, on_contact, buf, &why),
               GS_OK);
  cr_assert_null(strstr(buf, "周大爷"), "%s", buf);
  node_report rep;
  report(NULL, NULL, &rep);
  cr_assert_eq(rep.total.residents, 2);
  node_report_free(&rep);
  /* the phone of the emergency contact is kept as typed digits */
  cr_assert_str_eq(t_field_text(n, "resident", a, "emergency_contact", buf,
                                sizeof buf),
                   "李建华（儿子）");
  /* back again */
  cr_assert_eq(verb("resident", b, "return", NULL, NULL, &why), GS_OK, "%s",
               why.text);
  cr_assert_str_eq(t_field_text(n, "resident", b, "moved_out", buf,
                                sizeof buf),
                   "");
  /* a status outside the moves is refused */
  cr_assert_eq(node_edit_open(n, "resident", b, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "status", '=', "moved", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_ESCHEMA);
  node_edit_free(e);
}

Test(domain16, a_move_to_another_grid_keeps_history_and_links)
{
  uint8_t a[CRDT_ID_LEN], ap[CRDT_ID_LEN], ap2[CRDT_ID_LEN];
  char buf[256], at[64];
  node_reason why = {0};
  base();
  add("resident", NULL, a, "name", "李桂芳", "household", "5-2-301",
      "birth_year", "1948", "+tags", "独居", "passbook", "QH000001", NULL);
  idtext(a, "resident", at, sizeof at);
  add("appeal", G1, ap, "category", "维修", "description", "水管漏水",
      "resident", "李桂芳", "opened", "2026-11-01", NULL);
  node_hit who;
  cr_assert_eq(node_resolve(n, "resident", "李桂芳", 0, &who, NULL, &why),
               GS_OK);
  node_edit *e;
  cr_assert_eq(node_timebank_entry(n, &who, "deposit", "3", &e, &why),
               GS_OK);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);

  /* the move: a new record in G2 (where the new household is) */
  cr_assert_eq(node_edit_new(n, "resident", NULL, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "household", '=', "7-1-101", &why), GS_OK);
  cr_assert_eq(node_resident_move(n, a, e, "2026-11-28", "搬到女儿家", &res,
                                  &why),
               GS_OK, "%s", why.text);
  node_edit_free(e);
  uint8_t b[CRDT_ID_LEN];
  memcpy(b, res.id, CRDT_ID_LEN);
  cr_assert_str_eq(res.scope, G2);
  cr_assert_str_eq(t_field_text(n, "resident", b, "name", buf, sizeof buf),
                   "李桂芳");
  cr_assert_str_eq(t_field_text(n, "resident", b, "passbook", buf,
                                sizeof buf),
                   "QH000001");
  cr_assert_eq(set_size("resident", b, "tags"), 1);
  cr_assert_str_eq(t_field_text(n, "resident", b, "moved_from", buf,
                                sizeof buf)[0] ? "linked" : "",
                   "linked");
  cr_assert_str_eq(t_field_text(n, "resident", a, "status", buf, sizeof buf),
                   "moved");
  cr_assert_str_eq(t_field_text(n, "resident", a, "move_reason", buf,
                                sizeof buf),
                   "搬到女儿家");
  /* the old record keeps its history and the references to it */
  crdt_record *r;
  cr_assert_eq(node_get(n, "appeal", ap, &r), GS_OK);
  uint8_t ref[CRDT_ID_LEN];
  cr_assert(node__ref_field(r, "resident", "resident", ref));
  cr_assert_eq(memcmp(ref, a, CRDT_ID_LEN), 0);
  crdt_record_free(r);
  /* the name finds the new record; a new reference by the old id is
   * written as the continuation */
  node_hit h;
  cr_assert_eq(node_resolve(n, "resident", "李桂芳", 0, &h, NULL, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(memcmp(h.id, b, CRDT_ID_LEN), 0);
  add("appeal", G2, ap2, "category", "维修", "description", "门锁坏了",
      "resident", at, "opened", "2026-11-29", NULL);
  cr_assert_eq(node_get(n, "appeal", ap2, &r), GS_OK);
  cr_assert(node__ref_field(r, "resident", "resident", ref));
  cr_assert_eq(memcmp(ref, b, CRDT_ID_LEN), 0, "followed the link");
  crdt_record_free(r);
  /* the account follows: the hours before the move are the new
   * record's */
  node_balance bal;
  cr_assert_eq(node_timebank_balance(n, "resident", b, &bal), GS_OK);
  cr_assert_eq(bal.balance, 300);
  node_hit pb;
  cr_assert_eq(node_passbook_find(n, "QH000001", NULL, NULL, &pb, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(memcmp(pb.id, b, CRDT_ID_LEN), 0);
  /* rosters: one 李桂芳, in G2 */
  node_report rep;
  report(NULL, NULL, &rep);
  cr_assert_eq(rep.total.residents, 1);
  cr_assert_eq(rep.nrows, 2);
  for (size_t i = 0; i < rep.nrows; i++)
    cr_assert_eq(rep.rows[i].residents,
                 strcmp(rep.rows[i].grid, G2) == 0 ? 1u : 0u);
  node_report_free(&rep);
  /* a second move of the old record is refused; the same grid too */
  cr_assert_eq(node_edit_new(n, "resident", G1, &e, &why), GS_OK);
  cr_assert_eq(node_resident_move(n, a, e, NULL, NULL, &res, &why),
               GS_ESCHEMA);
  node_edit_free(e);
  cr_assert_eq(node_edit_new(n, "resident", G2, &e, &why), GS_OK);
  cr_assert_eq(node_resident_move(n, b, e, NULL, NULL, &res, &why),
               GS_EINVAL);
  node_edit_free(e);
}

Test(domain16, in_service_party_members_report_by_month)
{
  uint8_t p[CRDT_ID_LEN];
  node_reason why = {0};
  base();
  add("resident", NULL, NULL, "name", "陈党员", "household", "5-2-301",
      "+tags", "党员", NULL);
  add("party_report", G1, p, "member", "陈党员", "employer",
      "华联超市清河店", "month", "2026-11", "what", "参加楼道清扫", "hours",
      "2", NULL);
  add("party_report", G1, NULL, "member", "陈党员", "month", "2026-10",
      "what", "夜间巡逻", NULL);
  cr_assert_eq(try_add("party_report", G1, NULL, &why, "member", "陈党员",
                       "month", "2026-13", "what", "x", NULL),
               GS_ESCHEMA);
  cr_assert_not_null(strstr(why.text, "YYYY-MM"), "%s", why.text);
  cr_assert_eq(try_add("party_report", G1, NULL, &why, "member", "陈党员",
                       "month", "2026-1", "what", "x", NULL),
               GS_ESCHEMA);
  node_report rep;
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.party_reports, 1);
  node_report_free(&rep);
  report("2026-01-01", "2026-12-31", &rep);
  cr_assert_eq(rep.total.party_reports, 2);
  node_report_free(&rep);
}

/* ---- 5. visits ---- */

Test(domain16, a_visit_by_a_team_finds_a_hazard_and_opens_an_appeal)
{
  uint8_t v[CRDT_ID_LEN], v2[CRDT_ID_LEN], c[CRDT_ID_LEN];
  char buf[256];
  node_reason why = {0};
  base();
  add("team", ROOT, NULL, "name", "天天敲门组", "kind", "敲门组", NULL);
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-2-301",
      NULL);
  add("visit", G1, v, "by", "王网格员", "date", "2026-11-10", "household",
      "5-2-301", "team", "天天敲门组", "+visitors", "清河物业服务站",
      "+companions", "社区民警", "+findings", "火灾隐患", "+findings",
      "跌倒", "notes", "楼道堆放杂物", NULL);
  cr_assert_eq(set_size("visit", v, "findings"), 2);
  add("visit", G1, v2, "by", "王网格员", "date", "2026-11-11", "household",
      "5-2-301", "+findings", "诈骗", NULL);
  /* one step: an appeal from its finding (the most urgent decides) */
  node_edit *e;
  cr_assert_eq(node_visit_appeal(n, v, NULL, NULL, &e, &why), GS_OK, "%s",
               why.text);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  uint8_t ap[CRDT_ID_LEN];
  memcpy(ap, res.id, CRDT_ID_LEN);
  cr_assert_str_eq(res.scope, G1);
  cr_assert_str_eq(t_field_text(n, "appeal", ap, "category", buf,
                                sizeof buf),
                   "safety");
  cr_assert_str_eq(t_field_text(n, "appeal", ap, "description", buf,
                                sizeof buf),
                   "楼道堆放杂物");
  cr_assert_str_eq(t_field_text(n, "appeal", ap, "opened", buf, sizeof buf),
                   "2026-11-10");
  cr_assert_str_eq(t_field_text(n, "appeal", ap, "source", buf, sizeof buf),
                   "visit");
  /* hazards found: the visit's, once (its appeal is the same hazard);
   * a safety appeal of its own counts too */
  add("appeal", G1, NULL, "category", "安全", "description", "电动车飞线",
      "opened", "2026-11-12", NULL);
  node_report rep;
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.hazards_found, 2);
  cr_assert_eq(rep.total.visit_hazards, 1);
  cr_assert_eq(rep.total.visits, 2);
  node_report_free(&rep);
  /* a visit that found nothing opens nothing */
  uint8_t v3[CRDT_ID_LEN];
  add("visit", G1, v3, "by", "王网格员", "date", "2026-11-12", "+findings",
      "无异常", NULL);
  cr_assert_eq(node_visit_appeal(n, v3, NULL, NULL, &e, &why), GS_ESCHEMA);

  /* the author's correction: a linked entry whose findings count */
  char vt[64];
  idtext(v, "visit", vt, sizeof vt);
  add("visit", G1, c, "by", "王网格员", "date", "2026-11-10", "household",
      "5-2-301", "corrects", vt, "+findings", "无异常", "notes",
      "更正：杂物当场已清理", NULL);
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.visits, 3, "a correction is no visit");
  cr_assert_eq(rep.total.visit_corrections, 1);
  cr_assert_eq(rep.total.visit_hazards, 0);
  /* the appeal opened from it is now a hazard of its own */
  cr_assert_eq(rep.total.hazards_found, 2);
  node_report_free(&rep);
  /* the original stays written once */
  cr_assert_eq(node_edit_open(n, "visit", v, false, &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "notes", '=', "x", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_ESCHEMA);
  node_edit_free(e);
}

Test(domain16, only_the_author_corrects_a_visit)
{
  node_reason why = {0};
  base();
  /* a visit written by another node: its id names another author */
  uint8_t other[CRDT_KEY_LEN], sk[CRDT_SK_LEN], vid[CRDT_ID_LEN];
  crdt_keypair(other, sk);
  crdt_id_owned(NOW_MS - 86400000ULL, NULL, (const uint8_t[CRDT_ID_LEN]){0},
                other, vid);
  crdt_op ops[3];
  memset(ops, 0, sizeof ops);
  const char *f[] = {"by", "date", "notes"};
  const char *val[] = {"外来", "2026-11-20", "x"};
  for (int i = 0; i < 3; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = "visit";
    ops[i].coll_len = 5;
    memcpy(ops[i].id, vid, CRDT_ID_LEN);
    ops[i].field = f[i];
    ops[i].field_len = strlen(f[i]);
    ops[i].value.type = CRDT_STR;
    ops[i].value.u.s.p = val[i];
    ops[i].value.u.s.n = strlen(val[i]);
  }
  node_batch *b;
  cr_assert_eq(node_batch_begin(n, NODE_BATCH_IMPORT, &b), GS_OK);
  cr_assert_eq(node__batch_put_ops(b, G1, ops, 3, &why), GS_OK, "%s",
               why.text);
  cr_assert_eq(node_batch_commit(b, NULL, &why), GS_OK, "%s", why.text);
  char vt[64];
  idtext(vid, "visit", vt, sizeof vt);
  cr_assert_eq(try_add("visit", G1, NULL, &why, "by", "我", "date",
                       "2026-11-20", "corrects", vt, NULL),
               GS_EPERM);
  cr_assert_not_null(strstr(why.text, "only the author"), "%s", why.text);
  /* a peer's "correction" of this node's visit (received changes are
   * not checked against the schema) counts nowhere in the report */
  uint8_t mine[CRDT_ID_LEN], fake[CRDT_ID_LEN];
  add("visit", G1, mine, "by", "我", "date", "2026-11-21", "+findings",
      "火灾隐患", NULL);
  crdt_id_owned(NOW_MS - 3600000ULL, NULL, (const uint8_t[CRDT_ID_LEN]){0},
                other, fake);
  for (int i = 0; i < 3; i++)
    memcpy(ops[i].id, fake, CRDT_ID_LEN);
  ops[2].field = "corrects";
  ops[2].field_len = 8;
  ops[2].value.type = CRDT_REF;
  ops[2].value.u.ref.coll = "visit";
  ops[2].value.u.ref.coll_len = 5;
  memcpy(ops[2].value.u.ref.id, mine, CRDT_ID_LEN);
  ops[1].value.u.s.p = "2026-11-21";
  cr_assert_eq(node_batch_begin(n, NODE_BATCH_IMPORT, &b), GS_OK);
  cr_assert_eq(node__batch_put_ops(b, G1, ops, 3, &why), GS_OK, "%s",
               why.text);
  cr_assert_eq(node_batch_commit(b, NULL, &why), GS_OK, "%s", why.text);
  node_report rep;
  report("2026-11-21", "2026-11-21", &rep);
  cr_assert_eq(rep.total.visit_hazards, 1, "the peer's entry corrects nothing");
  cr_assert_eq(rep.total.visit_corrections, 0);
  node_report_free(&rep);
  /* nor one this node does not hold */
  memset(vid + 8, 0x55, 8);
  idtext(vid, "visit", vt, sizeof vt);
  cr_assert_neq(try_add("visit", G1, NULL, &why, "by", "我", "date",
                        "2026-11-20", "corrects", vt, NULL),
                GS_OK);
}

/* ---- 6. a building's squad ---- */

Test(domain16, a_building_squad_with_residents_and_outsiders)
{
  uint8_t t[CRDT_ID_LEN];
  char buf[128];
  node_reason why = {0};
  base();
  add("resident", NULL, NULL, "name", "李桂芳", "household", "5-2-301",
      NULL);
  add("team", G1, t, "name", "5号楼119自管小组", "kind", "119自管小组",
      "building", "5号楼", "leader", "李桂芳", "+members", "李桂芳",
      "+outsiders", "物业保安 张师傅 13800001111", NULL);
  cr_assert_str_eq(t_field_text(n, "team", t, "kind", buf, sizeof buf),
                   "fire-squad");
  cr_assert_eq(set_size("team", t, "outsiders"), 1);
  node_display_text(n, "team", "kind",
                    &(crdt_value){.type = CRDT_STR,
                                  .u.s = {"fire-squad", 10}},
                    buf, sizeof buf);
  cr_assert_str_eq(buf, "119自管小组");
  /* the building's contact sheet heads with its squad */
  node_contact_head head;
  char rows[256] = "";
  add("resident", NULL, NULL, "name", "小王", "household", "5-2-301",
      "phone", "139-0000-2222", NULL);
  cr_assert_eq(node_contact_sheet(n, "5", &head, on_contact, rows, &why),
               GS_OK);
  cr_assert_str_eq(head.squad, "5号楼119自管小组");
  cr_assert_str_eq(head.squad_members,
                   "李桂芳; 物业保安 张师傅 13800001111");
  /* a building's squad is found by name */
  node_hit h;
  cr_assert_eq(node_resolve(n, "team", "5号楼119自管小组", 0, &h, NULL, &why),
               GS_OK);
  cr_assert_neq(try_add("team", G1, NULL, &why, "name", "x", "building",
                        "李桂芳", NULL),
                GS_OK);
}

/* ---- 7. the offices' tallies ---- */

Test(domain16, activities_and_tallies_count_in_the_report)
{
  base();
  add("activity", G1, NULL, "kind", "讲座", "title", "防诈骗讲座", "date",
      "2026-11-05", "count", "40", "organizer", "清河物业服务站", NULL);
  add("activity", G1, NULL, "kind", "活动", "title", "百家宴", "date",
      "2026-11-15", "count", "85", NULL);
  add("activity", G2, NULL, "kind", "代办", "date", "2026-11-20", "count",
      "7", NULL);
  add("activity", G2, NULL, "kind", "制止盗窃", "date", "2026-11-21", NULL);
  add("activity", G2, NULL, "kind", "fight-stopped", "date", "2026-10-21",
      "count", "2", NULL);
  node_report rep;
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.lectures, 1);
  cr_assert_eq(rep.total.activities, 1);
  cr_assert_eq(rep.total.attendance, 125);
  cr_assert_eq(rep.total.staff_errands, 7);
  cr_assert_eq(rep.total.thefts_stopped, 1, "no count: one");
  cr_assert_eq(rep.total.fights_stopped, 0);
  cr_assert_eq(rep.nrows, 2);
  node_report_free(&rep);
  report(NULL, NULL, &rep);
  cr_assert_eq(rep.total.fights_stopped, 2);
  node_report_free(&rep);
  node_reason why = {0};
  cr_assert_neq(try_add("activity", G1, NULL, &why, "kind", "讲座", "date",
                        "2026-11-05", "count", "-3", NULL),
                GS_OK);
}

/* ---- 8. periods ---- */

Test(domain16, periods_of_a_year_a_month_and_until)
{
  char s[11], u[11];
  cr_assert(node_report_year("2026", s, u));
  cr_assert_str_eq(s, "2026-01-01");
  cr_assert_str_eq(u, "2026-12-31");
  cr_assert(node_report_month("2024-02", s, u));
  cr_assert_str_eq(u, "2024-02-29");
  cr_assert(node_report_month("2026-11", s, u));
  cr_assert_str_eq(s, "2026-11-01");
  cr_assert_str_eq(u, "2026-11-30");
  cr_assert_not(node_report_year("26", s, u));
  cr_assert_not(node_report_year("2026-11", s, u));
  cr_assert_not(node_report_month("2026-13", s, u));
  cr_assert_not(node_report_month("2026-1x", s, u));
  cr_assert_not(node_report_month("2026/11", s, u));
  node_report rep;
  cr_assert_eq(node_report_make_period(n, NULL, "2026-12-01", "2026-11-01",
                                       &rep),
               GS_EINVAL);
  cr_assert_eq(node_report_make_period(n, NULL, NULL, "2026-13-01", &rep),
               GS_EINVAL);
  base();
  add("visit", G1, NULL, "by", "王", "date", "2026-10-31", NULL);
  add("visit", G1, NULL, "by", "王", "date", "2026-11-01", NULL);
  add("visit", G1, NULL, "by", "王", "date", "2026-11-30", NULL);
  add("visit", G1, NULL, "by", "王", "date", "2026-12-01", NULL);
  report("2026-11-01", "2026-11-30", &rep);
  cr_assert_eq(rep.total.visits, 2, "both ends inclusive");
  node_report_free(&rep);
  report(NULL, "2026-11-01", &rep);
  cr_assert_eq(rep.total.visits, 2);
  node_report_free(&rep);
}

/* ---- 9. the demo community holds every new kind ---- */

static int count_gone(void *ctx, const crdt_record *r)
{
  size_t *k = ctx;
  k[0]++;
  k[1] += node_resident_gone(r);
  return 0;
}

static int on_senior_count(void *ctx, const node_senior *s)
{
  (*(size_t *)ctx)++;
  cr_assert_geq(s->age, 65);
  return 0;
}

typedef struct old_ctx {
  int year;
  size_t n;
} old_ctx;

static int on_old(void *ctx, const crdt_record *r)
{
  old_ctx *o = ctx;
  long i = crdt_record_find(r, "birth_year", 10);
  crdt_field_view fv;
  if (!node_resident_gone(r) && i >= 0 &&
      crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
      fv.value.type == CRDT_INT && o->year - fv.value.u.i >= 65)
    o->n++;
  return 0;
}

Test(domain16, the_seeded_community_has_every_new_kind)
{
  node_seed_opts o = {.seed = 5, .until = "2026-11-30", .households = 600};
  node_seed_result res;
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_OK);
  cr_assert_gt(res.activities, 0);
  cr_assert_gt(res.party_reports, 0);
  cr_assert_gt(res.wishes, 0);
  cr_assert_gt(res.moved, 0);
  /* residents: moved ones held, out of the report's count */
  size_t k[2] = {0, 0};
  node_query q = {.coll = "resident", .moved = true};
  cr_assert_eq(node_query_run(n, &q, count_gone, k, NULL, NULL), GS_OK);
  cr_assert_eq(k[0], res.residents);
  cr_assert_eq(k[1], res.moved + res.moved_out);
  /* without asking, a resident who moved to another grid is listed once,
   * by the record that continues them */
  size_t d[2] = {0, 0};
  node_query people = {.coll = "resident"};
  cr_assert_eq(node_query_run(n, &people, count_gone, d, NULL, NULL), GS_OK);
  cr_assert_eq(d[0], res.residents - res.moved);
  cr_assert_eq(d[1], res.moved_out);
  node_report rep;
  report(NULL, NULL, &rep);
  cr_assert_eq(rep.total.residents, res.residents - k[1]);
  cr_assert_gt(rep.total.wishes, 0);
  cr_assert_gt(rep.total.lectures, 0);
  cr_assert_gt(rep.total.party_reports, 0);
  cr_assert_gt(rep.total.visit_hazards, 0);
  node_report_free(&rep);
  /* the red senior card list: every living resident 65 or over */
  size_t seniors = 0;
  node_reason why = {0};
  cr_assert_eq(node_seniors(n, NULL, 65, on_senior_count, &seniors, &why),
               GS_OK);
  old_ctx oc = {.year = 2026};
  q = (node_query){.coll = "resident"};
  cr_assert_eq(node_query_run(n, &q, on_old, &oc, NULL, NULL), GS_OK);
  cr_assert_eq(seniors, oc.n);
  cr_assert_gt(seniors, 100);
}

/* ---- every field and allowed value has a Chinese label ---- */

Test(domain16, every_field_and_value_has_a_chinese_label)
{
  size_t nc;
  const node_coll *c = node_schema_all(&nc);
  for (size_t i = 0; i < nc; i++) {
    cr_assert_str_neq(node_schema_label(c[i].name, NULL, NULL), c[i].name,
                      "collection %s", c[i].name);
    for (size_t k = 0; k < c[i].nfields; k++) {
      const node_field *f = &c[i].fields[k];
      const char *l = node_schema_label(c[i].name, f->name, NULL);
      cr_assert_str_neq(l, f->name, "%s.%s has no label", c[i].name,
                        f->name);
      cr_assert_gt((unsigned char)l[0], 0x7f, "%s.%s: %s", c[i].name,
                   f->name, l);
      for (const char *const *v = f->values; v && *v; v++) {
        const char *vl = node_schema_label(c[i].name, f->name, *v);
        /* 男/女 are their own labels */
        if ((unsigned char)(*v)[0] > 0x7f)
          continue;
        cr_assert_str_neq(vl, *v, "%s.%s=%s has no label", c[i].name,
                          f->name, *v);
        /* and the label reads back as the code */
        cr_assert_str_eq(node_schema_code(c[i].name, f, vl), *v, "%s.%s=%s",
                         c[i].name, f->name, *v);
      }
    }
  }
}

/* ---- hostile links: a loop of moves ends ---- */

static void put_moved(const uint8_t id[CRDT_ID_LEN], const uint8_t to[CRDT_ID_LEN])
{
  crdt_op ops[4];
  memset(ops, 0, sizeof ops);
  const char *f[] = {"name", "status", "moved_to", "moved_from"};
  for (int i = 0; i < 4; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = "resident";
    ops[i].coll_len = 8;
    memcpy(ops[i].id, id, CRDT_ID_LEN);
    ops[i].field = f[i];
    ops[i].field_len = strlen(f[i]);
    ops[i].value.type = CRDT_STR;
  }
  ops[0].value.u.s.p = "环";
  ops[0].value.u.s.n = strlen("环");
  ops[1].value.u.s.p = "moved";
  ops[1].value.u.s.n = 5;
  for (int i = 2; i < 4; i++) {
    ops[i].value.type = CRDT_REF;
    ops[i].value.u.ref.coll = "resident";
    ops[i].value.u.ref.coll_len = 8;
    memcpy(ops[i].value.u.ref.id, to, CRDT_ID_LEN);
  }
  node_batch *b;
  node_reason why = {0};
  cr_assert_eq(node_batch_begin(n, NODE_BATCH_IMPORT, &b), GS_OK);
  cr_assert_eq(node__batch_put_ops(b, G1, ops, 4, &why), GS_OK, "%s",
               why.text);
  cr_assert_eq(node_batch_commit(b, NULL, &why), GS_OK, "%s", why.text);
}

Test(domain16, a_loop_of_moves_from_a_peer_ends)
{
  uint8_t a[CRDT_ID_LEN] = {0, 0, 0, 0, 0, 1, 1}, b[CRDT_ID_LEN] = {0, 0, 0,
                                                                  0, 0, 1, 2};
  put_moved(a, b);
  put_moved(b, a);
  node_hit h;
  node_reason why = {0};
  char t[64];
  idtext(a, "resident", t, sizeof t);
  cr_assert_eq(node_resolve(n, "resident", t, 0, &h, NULL, &why), GS_OK);
  cr_assert_eq(node_resident_current(n, &h), GS_OK);
  cr_assert(memcmp(h.id, a, CRDT_ID_LEN) == 0 ||
            memcmp(h.id, b, CRDT_ID_LEN) == 0);
  node_balance bal;
  cr_assert_eq(node_timebank_balance(n, "resident", a, &bal), GS_OK);
  cr_assert_eq(bal.balance, 0);
  int64_t total = -1;
  cr_assert_eq(node_passbook(n, "resident", a, NULL, NULL, &total, &why),
               GS_OK);
  cr_assert_eq(total, 0);
  /* by name: both moved, neither found (their ids still are) */
  cr_assert_eq(node_resolve(n, "resident", "环", 0, &h, NULL, &why),
               GS_ENOTFOUND);
}
