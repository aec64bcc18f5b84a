/* node: the demo community (node_demo_seed): counts, schema validity of
 * every stored record, references that resolve, determinism (same seed:
 * same ids and values; another seed: others), time-bank accounts that
 * never go below zero in date order, appeal dates consistent with status,
 * permissions and argument checks. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"
#include "node/schema.h"
#include "node/domain.h"
#include "node/seed.h"
#include "node/member.h"

#define ROOT "gongrencun/qinghejv"
#define UNTIL "2024-12-31"
#define START "2024-01-02" /* the year up to UNTIL: 365 days */
#define HOUSEHOLDS 600     /* two grids, two buildings */

static char dir[64];
static uint64_t now_ms;

static uint64_t fake_now(void *ctx)
{
  return *(const uint64_t *)ctx;
}
static const node_clock clk = {fake_now, &now_ms};

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  now_ms = T_NOW_MS;
}

static void teardown(void)
{
  t_rmtree(dir);
}

TestSuite(seed, .init = setup, .fini = teardown, .timeout = 120);

static node *mk(const char *name)
{
  char path[128];
  node *n = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  cr_assert_eq(node_init(path, name), GS_OK);
  cr_assert_eq(node_open(path, NODE_BULK, &clk, &n), GS_OK);
  return n;
}

static gs_err seed(node *n, uint64_t s, const char *until, unsigned hh,
                   node_seed_result *res)
{
  node_seed_opts o = {.seed = s, .until = until, .households = hh};
  return node_demo_seed(n, &o, res);
}

/* ---- reading everything back ---- */

typedef struct key {
  char coll[CRDT_NAME_MAX + 1];
  uint8_t id[CRDT_ID_LEN];
  char scope[CRDT_SCOPE_MAX + 1];
} key;

typedef struct tb_entry {
  uint8_t person[CRDT_ID_LEN];
  char date[11];
  int64_t centi; /* deposits positive, spends negative */
} tb_entry;

typedef struct scan {
  /* pass 1 */
  key *keys;
  size_t nkeys, cap;
  /* pass 2 */
  const char *start, *until; /* the year the seed covers */
  size_t count[16];
  crdt_hasher h;
  tb_entry *tb;
  size_t ntb, tbcap;
  size_t appeals_by_status[6];
  char err[512]; /* the first problem found */
  uint8_t author[CRDT_KEY_LEN]; /* the seeding node */
} scan;

static const char *const colls[] = {
    "grid", "building", "household", "resident", "unit", "team",
    "appeal", "meeting", "task", "visit", "timebank", "activity",
    "party_report"};
#define NCOLLS (sizeof colls / sizeof colls[0])

static int coll_index(const char *c, size_t n)
{
  for (size_t i = 0; i < NCOLLS; i++)
    if (strlen(colls[i]) == n && memcmp(colls[i], c, n) == 0)
      return (int)i;
  return -1;
}

static int cmp_key(const void *a, const void *b)
{
  const key *x = a, *y = b;
  int c = strcmp(x->coll, y->coll);
  return c ? c : memcmp(x->id, y->id, CRDT_ID_LEN);
}

static void fail_at(scan *sc, const crdt_record *r, const char *what)
{
  if (sc->err[0])
    return;
  const char *s, *c;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  char idt[CRDT_ID_TEXT_LEN + 1];
  crdt_record_identity(r, &s, &sn, &c, &cn, id);
  crdt_base32_encode(id, CRDT_ID_LEN, idt);
  snprintf(sc->err, sizeof sc->err, "%.*s/%s in %.*s: %s", (int)cn, c, idt,
           (int)sn, s, what);
}

static int on_key(void *ctx, const crdt_record *r)
{
  scan *sc = ctx;
  if (sc->nkeys == sc->cap) {
    sc->cap = sc->cap ? sc->cap * 2 : 1024;
    sc->keys = realloc(sc->keys, sc->cap * sizeof *sc->keys);
    if (!sc->keys)
      return 1;
  }
  key *k = &sc->keys[sc->nkeys++];
  memset(k, 0, sizeof *k);
  const char *s, *c;
  size_t sn, cn;
  crdt_record_identity(r, &s, &sn, &c, &cn, k->id);
  memcpy(k->coll, c, cn < CRDT_NAME_MAX ? cn : CRDT_NAME_MAX);
  memcpy(k->scope, s, sn < CRDT_SCOPE_MAX ? sn : CRDT_SCOPE_MAX);
  return 0;
}

static const key *find_key(const scan *sc, const crdt_value *ref)
{
  key k;
  memset(&k, 0, sizeof k);
  if (ref->u.ref.coll_len > CRDT_NAME_MAX)
    return NULL;
  memcpy(k.coll, ref->u.ref.coll, ref->u.ref.coll_len);
  memcpy(k.id, ref->u.ref.id, CRDT_ID_LEN);
  return bsearch(&k, sc->keys, sc->nkeys, sizeof k, cmp_key);
}

/* Records written once (visit, timebank) have ids that name the node
 * that wrote them (crdt_id_owned): two nodes seeding alike differ there
 * and only there, so those bytes are left out of what is compared. */
static bool written_once(const char *coll, size_t n)
{
  return (n == 5 && memcmp(coll, "visit", 5) == 0) ||
         (n == 8 && memcmp(coll, "timebank", 8) == 0);
}

static void author_out(const char *coll, size_t n, uint8_t id[CRDT_ID_LEN])
{
  if (written_once(coll, n))
    memset(id + CRDT_ID_LEN - CRDT_ID_OWNER_LEN, 0, CRDT_ID_OWNER_LEN);
}

static void hash_value(crdt_hasher *h, const crdt_value *v)
{
  uint8_t *buf = NULL;
  size_t n = 0;
  crdt_value m = *v;
  if (m.type == CRDT_REF)
    author_out(m.u.ref.coll, m.u.ref.coll_len, m.u.ref.id);
  v = &m;
  if (crdt_value_encode(v, &buf, &n) == GS_OK)
    crdt_hasher_update(h, buf, n);
  free(buf);
}

/* A string field of r, copied into out (cap bytes); "" when absent. */
static const char *text_of(const crdt_record *r, const char *name, char *out,
                           size_t cap)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  out[0] = '\0';
  if (i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
      !fv.is_set && fv.value.type == CRDT_STR && fv.value.u.s.n < cap) {
    memcpy(out, fv.value.u.s.p, fv.value.u.s.n);
    out[fv.value.u.s.n] = '\0';
  }
  return out;
}

static bool has_field(const crdt_record *r, const char *name)
{
  long i = crdt_record_find(r, name, strlen(name));
  crdt_field_view fv;
  return i >= 0 && crdt_record_field(r, (size_t)i, &fv) == GS_OK &&
         (fv.is_set ? fv.nelems > 0 : fv.value.type != CRDT_NIL);
}

/* Dates non-decreasing from opened, none after until, and present
 * exactly as far as the status says. */
static void check_appeal(scan *sc, const crdt_record *r)
{
  static const char *const st[] = {"open",     "accepted", "assigned",
                                   "resolved", "closed",   "reopened"};
  static const char *const stage[] = {"accepted", "assigned", "resolved",
                                      "closed"};
  char status[16], prev[16], d[16];
  text_of(r, "status", status, sizeof status);
  int k = -1;
  for (int i = 0; i < 6; i++)
    if (strcmp(status, st[i]) == 0)
      k = i;
  if (k < 0)
    return fail_at(sc, r, "unknown status");
  sc->appeals_by_status[k]++;
  text_of(r, "opened", prev, sizeof prev);
  if (strcmp(prev, sc->start) < 0 || strcmp(prev, sc->until) > 0)
    return fail_at(sc, r, "opened outside the year");
  /* how many stages the status implies; reopened: resolved at least */
  int want = k == 5 ? -1 : k;
  int last = 0;
  for (int i = 0; i < 4; i++) {
    text_of(r, stage[i], d, sizeof d);
    if (!d[0])
      continue;
    if (i + 1 != last + 1)
      return fail_at(sc, r, "a stage date is missing before a later one");
    if (strcmp(d, prev) < 0)
      return fail_at(sc, r, "a date before the one before it");
    if (strcmp(d, sc->until) > 0)
      return fail_at(sc, r, "a date after until");
    memcpy(prev, d, sizeof prev);
    last = i + 1;
  }
  if (want >= 0 && last != want)
    return fail_at(sc, r, "dates do not match the status");
  if (k == 5 && last < 3)
    return fail_at(sc, r, "reopened but never resolved");
  if (has_field(r, "assignee") != (last >= 2))
    return fail_at(sc, r, "an assignee without assignment or none with it");
  if (has_field(r, "feedback") != (last >= 4))
    return fail_at(sc, r, "feedback without closing or none with it");
}

static void note_timebank(scan *sc, const crdt_record *r)
{
  long i = crdt_record_find(r, "person", 6);
  crdt_field_view fv;
  char kind[16];
  if (i < 0 || crdt_record_field(r, (size_t)i, &fv) != GS_OK ||
      fv.value.type != CRDT_REF)
    return fail_at(sc, r, "no person");
  if (sc->ntb == sc->tbcap) {
    sc->tbcap = sc->tbcap ? sc->tbcap * 2 : 1024;
    sc->tb = realloc(sc->tb, sc->tbcap * sizeof *sc->tb);
    if (!sc->tb)
      return fail_at(sc, r, "out of memory");
  }
  tb_entry *e = &sc->tb[sc->ntb++];
  memcpy(e->person, fv.value.u.ref.id, CRDT_ID_LEN);
  text_of(r, "date", e->date, sizeof e->date);
  i = crdt_record_find(r, "hours", 5);
  crdt_record_field(r, (size_t)i, &fv);
  double h = fv.value.type == CRDT_INT ? (double)fv.value.u.i : fv.value.u.f;
  e->centi = (int64_t)(h * 100.0 + 0.5);
  if (strcmp(text_of(r, "kind", kind, sizeof kind), "spend") == 0)
    e->centi = -e->centi;
  else if (strcmp(kind, "adjust") == 0) {
    /* a correction adds what a deposit was recorded short */
    if (!has_field(r, "corrects") || e->centi <= 0)
      fail_at(sc, r, "an adjust that corrects nothing, or takes hours");
  } else if (strcmp(kind, "deposit") != 0)
    fail_at(sc, r, "neither deposit, spend nor correction");
}

static int on_record(void *ctx, const crdt_record *r)
{
  scan *sc = ctx;
  const char *s, *c;
  size_t sn, cn;
  uint8_t id[CRDT_ID_LEN];
  crdt_op ops[160];
  size_t nops = 0;
  char why[300];

  crdt_record_identity(r, &s, &sn, &c, &cn, id);
  int ci = coll_index(c, cn);
  if (ci < 0) {
    fail_at(sc, r, "a collection the seed does not write");
    return 0;
  }
  sc->count[ci]++;
  if (written_once(c, cn) && !crdt_id_owned_by(id, sc->author))
    fail_at(sc, r, "written once, but its id does not name its author");
  uint8_t hid[CRDT_ID_LEN];
  memcpy(hid, id, CRDT_ID_LEN);
  author_out(c, cn, hid);
  crdt_hasher_update(&sc->h, s, sn);
  crdt_hasher_update(&sc->h, "", 1);
  crdt_hasher_update(&sc->h, c, cn);
  crdt_hasher_update(&sc->h, hid, CRDT_ID_LEN);

  /* scopes: units and teams in the root, the rest in a grid */
  bool in_root = sn == strlen(ROOT) && memcmp(s, ROOT, sn) == 0;
  bool rooted = strcmp(colls[ci], "unit") == 0 ||
                strcmp(colls[ci], "team") == 0;
  /* a building's 119 squad lives in the building's grid; a company's
   * hours where the company is (a time-bank entry goes under its
   * person), a resident's in the resident's grid */
  bool anywhere = strcmp(colls[ci], "meeting") == 0 ||
                  strcmp(colls[ci], "timebank") == 0 ||
                  strcmp(colls[ci], "task") == 0 ||
                  (strcmp(colls[ci], "team") == 0 &&
                   crdt_record_find(r, "building", 8) >= 0);
  if (!crdt_scope_under(s, sn, ROOT, strlen(ROOT)) ||
      (!anywhere && rooted != in_root) ||
      (!in_root && (sn != strlen(ROOT) + 4 || s[strlen(ROOT) + 1] != 'g')))
    fail_at(sc, r, "in the wrong scope");
  if (crdt_record_deleted(r))
    fail_at(sc, r, "deleted");

  /* the fields back into the ops of a new record, hashed on the way */
  for (size_t i = 0; i < crdt_record_nfields(r); i++) {
    crdt_field_view fv;
    if (crdt_record_field(r, i, &fv) != GS_OK) {
      fail_at(sc, r, "unreadable field");
      return 0;
    }
    crdt_hasher_update(&sc->h, fv.name, fv.name_len);
    crdt_hasher_update(&sc->h, fv.is_set ? "+" : "=", 1);
    size_t n = fv.is_set ? fv.nelems : 1;
    for (size_t j = 0; j < n; j++) {
      if (nops == sizeof ops / sizeof ops[0]) {
        fail_at(sc, r, "too many values");
        return 0;
      }
      crdt_op *op = &ops[nops++];
      memset(op, 0, sizeof *op);
      op->kind = fv.is_set ? CRDT_OP_ADD : CRDT_OP_SET;
      op->coll = c;
      op->coll_len = cn;
      memcpy(op->id, id, CRDT_ID_LEN);
      op->field = fv.name;
      op->field_len = fv.name_len;
      if (fv.is_set)
        crdt_record_elem(r, i, j, &op->value);
      else
        op->value = fv.value;
      hash_value(&sc->h, &op->value);
      /* every reference resolves; a resident's household is in its scope */
      if (op->value.type == CRDT_REF) {
        const key *k = find_key(sc, &op->value);
        if (!k)
          fail_at(sc, r, "a reference to a record that does not exist");
        else if (strcmp(colls[ci], "resident") == 0 &&
                 strcmp(k->coll, "household") == 0 &&
                 (strlen(k->scope) != sn || memcmp(k->scope, s, sn) != 0))
          fail_at(sc, r, "its household is in another scope");
      }
    }
  }
  if (node_schema_check(NULL, ops, nops, NODE_SCHEMA_IMPORT, why,
                        sizeof why) != GS_OK)
    fail_at(sc, r, why);
  if (strcmp(colls[ci], "appeal") == 0)
    check_appeal(sc, r);
  else if (strcmp(colls[ci], "timebank") == 0)
    note_timebank(sc, r);
  return 0;
}

static void scan_node(node *n, const char *start, const char *until,
                      scan *sc)
{
  memset(sc, 0, sizeof *sc);
  sc->start = start;
  sc->until = until;
  memcpy(sc->author, node_pk(n), CRDT_KEY_LEN);
  crdt_hasher_init(&sc->h);
  cr_assert_eq(store_list(node__store(n), NULL, 0, NULL, 0, on_key, sc),
               GS_OK);
  cr_assert_not_null(sc->keys);
  qsort(sc->keys, sc->nkeys, sizeof *sc->keys, cmp_key);
  cr_assert_eq(store_list(node__store(n), NULL, 0, NULL, 0, on_record, sc),
               GS_OK);
}

static void scan_free(scan *sc)
{
  free(sc->keys);
  free(sc->tb);
}

static int cmp_tb(const void *a, const void *b)
{
  const tb_entry *x = a, *y = b;
  int c = memcmp(x->person, y->person, CRDT_ID_LEN);
  return c ? c : strcmp(x->date, y->date);
}

/* ---- tests ---- */

Test(seed, small_community_is_complete_valid_and_consistent)
{
  node *n = mk("a");
  node_seed_result res;
  cr_assert_eq(seed(n, 1, UNTIL, HOUSEHOLDS, &res), GS_OK);

  /* the scale: 600 households of the 5,235 */
  cr_assert_eq(res.households, HOUSEHOLDS);
  cr_assert_eq(res.buildings, 2);
  cr_assert_eq(res.grids, 2);
  cr_assert(res.residents > 600 && res.residents < 800, "%lu residents",
            (unsigned long)res.residents);
  cr_assert_eq(res.units, 20);
  /* eight volunteer teams, a 119 squad per building, 天天敲门组 */
  cr_assert_eq(res.teams, 8 + res.buildings + 1);
  cr_assert_eq(res.appeals, 172 + res.wishes); /* 1,500 scaled */
  cr_assert_geq(res.wishes, 2);
  /* 458 visits and a few of their authors' corrections */
  cr_assert(res.visits > 458 && res.visits <= 458 + 64, "%lu",
            (unsigned long)res.visits);
  cr_assert_gt(res.activities, 0);
  cr_assert_gt(res.party_reports, 0);
  cr_assert_gt(res.moved, 0);
  cr_assert_eq(res.meetings, 7);
  cr_assert(res.tasks >= res.meetings && res.tasks <= 4 * res.meetings);
  cr_assert(res.timebank > 250 && res.timebank <= 344 + 8 + 40,
            "%lu entries",
            (unsigned long)res.timebank);
  cr_assert(res.changes > 0);

  scan sc;
  scan_node(n, START, UNTIL, &sc);
  cr_assert_str_empty(sc.err, "%s", sc.err);
  const uint64_t want[NCOLLS] = {
      res.grids,   res.buildings, res.households, res.residents,
      res.units,   res.teams,     res.appeals,    res.meetings,
      res.tasks,   res.visits,    res.timebank,   res.activities,
      res.party_reports};
  for (size_t i = 0; i < NCOLLS; i++)
    cr_assert_eq(sc.count[i], want[i], "%s: %zu stored, %lu reported",
                 colls[i], sc.count[i], (unsigned long)want[i]);

  /* a year's appeals: most closed, some still being handled */
  cr_assert_gt(sc.appeals_by_status[4], res.appeals / 2, "closed");
  cr_assert_lt(sc.appeals_by_status[0] + sc.appeals_by_status[1] +
                   sc.appeals_by_status[2],
               res.appeals / 4);

  /* no account below zero, at any entry in date order */
  qsort(sc.tb, sc.ntb, sizeof *sc.tb, cmp_tb);
  int64_t bal = 0;
  size_t spends = 0;
  for (size_t i = 0; i < sc.ntb; i++) {
    if (i == 0 || memcmp(sc.tb[i].person, sc.tb[i - 1].person,
                         CRDT_ID_LEN) != 0)
      bal = 0;
    else
      cr_assert_str_neq(sc.tb[i].date, sc.tb[i - 1].date,
                        "two entries of one account on one day");
    bal += sc.tb[i].centi;
    spends += sc.tb[i].centi < 0;
    cr_assert_geq(bal, 0, "an account below zero on %s", sc.tb[i].date);
  }
  cr_assert_gt(spends, 0, "volunteers spend hours too");
  node_balance *b = NULL;
  size_t nb = 0;
  uint64_t entries = 0;
  cr_assert_eq(node_timebank_balances(n, NULL, &b, &nb), GS_OK);
  cr_assert_gt(nb, 10);
  for (size_t i = 0; i < nb; i++) {
    cr_assert_geq(b[i].balance, 0);
    /* volunteers, and companies depositing their staff's hours */
    cr_assert(strcmp(b[i].coll, "resident") == 0 ||
                  strcmp(b[i].coll, "unit") == 0,
              "%s", b[i].coll);
    entries += b[i].entries;
  }
  cr_assert_eq(entries, res.timebank);
  free(b);
  scan_free(&sc);
  node_close(n);
}

Test(seed, same_seed_same_records_other_seed_others)
{
  node *a = mk("a"), *b = mk("b"), *c = mk("c");
  node_seed_result ra, rb, rc;
  cr_assert_eq(seed(a, 7, UNTIL, 300, &ra), GS_OK);
  now_ms += 3600000; /* another hour: the stamps differ, the records not */
  cr_assert_eq(seed(b, 7, UNTIL, 300, &rb), GS_OK);
  cr_assert_eq(seed(c, 8, UNTIL, 300, &rc), GS_OK);
  cr_assert_eq(memcmp(&ra, &rb, sizeof ra), 0, "the same counts");

  scan sa, sb, sx;
  uint8_t ha[CRDT_HASH_LEN], hb[CRDT_HASH_LEN], hc[CRDT_HASH_LEN];
  scan_node(a, START, UNTIL, &sa);
  scan_node(b, START, UNTIL, &sb);
  scan_node(c, START, UNTIL, &sx);
  cr_assert_str_empty(sa.err, "%s", sa.err);
  cr_assert_str_empty(sx.err, "%s", sx.err);
  crdt_hasher_final(&sa.h, ha);
  crdt_hasher_final(&sb.h, hb);
  crdt_hasher_final(&sx.h, hc);
  cr_assert_eq(sa.nkeys, sb.nkeys);
  for (size_t i = 0; i < sa.nkeys; i++) {
    key ka = sa.keys[i], kb = sb.keys[i];
    author_out(ka.coll, strlen(ka.coll), ka.id);
    author_out(kb.coll, strlen(kb.coll), kb.id);
    cr_assert_eq(cmp_key(&ka, &kb), 0, "record %zu", i);
  }
  cr_assert_arr_eq(ha, hb, CRDT_HASH_LEN, "the same fields and values");
  cr_assert_arr_neq(ha, hc, CRDT_HASH_LEN);
  size_t same = 0;
  for (size_t i = 0; i < sx.nkeys; i++)
    same += bsearch(&sx.keys[i], sa.keys, sa.nkeys, sizeof *sa.keys,
                    cmp_key) != NULL;
  cr_assert_eq(same, 0, "another seed, other ids");

  /* the digests differ only because the origins do */
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  cr_assert_eq(store_digest(node__store(a), NULL, 0, da, NULL), GS_OK);
  cr_assert_eq(store_digest(node__store(b), NULL, 0, db, NULL), GS_OK);
  cr_assert_arr_neq(da, db, CRDT_HASH_LEN);
  scan_free(&sa);
  scan_free(&sb);
  scan_free(&sx);
  node_close(a);
  node_close(b);
  node_close(c);
}

Test(seed, until_defaults_to_today_by_the_node_clock)
{
  node *n = mk("a");
  node_seed_result res;
  now_ms = T_NOW_MS + 5ULL * 86400000 + 3600000; /* 2025-01-06 01:00Z */
  cr_assert_eq(seed(n, 3, NULL, 100, &res), GS_OK);
  /* today in local time, and the day a year before it */
  time_t t = (time_t)(now_ms / 1000);
  struct tm tm;
  char today[16], start[16];
  cr_assert_not_null(localtime_r(&t, &tm));
  strftime(today, sizeof today, "%Y-%m-%d", &tm);
  tm.tm_mday -= 364;
  tm.tm_hour = 12;
  tm.tm_isdst = -1;
  cr_assert_neq(mktime(&tm), (time_t)-1);
  strftime(start, sizeof start, "%Y-%m-%d", &tm);
  scan sc;
  scan_node(n, start, today, &sc);
  cr_assert_str_empty(sc.err, "%s", sc.err);
  /* the year's last visit is in its last weeks */
  const key *last = NULL;
  for (size_t i = 0; i < sc.nkeys; i++)
    if (strcmp(sc.keys[i].coll, "visit") == 0)
      last = &sc.keys[i];
  cr_assert_not_null(last);
  uint64_t ms = 0;
  for (int i = 0; i < 6; i++)
    ms = ms << 8 | last->id[i];
  cr_assert_leq(ms / 86400000, now_ms / 86400000 + 1);
  cr_assert_geq(ms / 86400000 + 40, now_ms / 86400000);
  scan_free(&sc);
  node_close(n);
}

Test(seed, refuses_bad_arguments_and_writes_nothing)
{
  node *n = mk("a");
  node_seed_result res;
  node_seed_opts o = {.seed = 1, .until = "2024-02-30", .households = 10};
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_EINVAL);
  o.until = "1970-06-01"; /* its year starts before 1970 */
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_EINVAL);
  o.until = UNTIL;
  o.root = "bad//root";
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_ESCOPE);
  o.root = "a/b/c/d/e/f/g/h"; /* no room for the grid level */
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_ESCOPE);
  o.root = NULL;
  o.households = 50001;
  cr_assert_eq(node_demo_seed(n, &o, &res), GS_EINVAL);
  cr_assert_eq(res.residents, 0);
  store_stats st;
  cr_assert_eq(store_stats_get(node__store(n), &st), GS_OK);
  cr_assert_eq(st.records, 0);
  node_close(n);
}

Test(seed, a_leader_of_one_grid_may_not_seed_the_community)
{
  node *admin = mk("admin"), *leader = mk("leader");
  char *code = NULL;
  const char *scopes[] = {ROOT "/g01"};
  node_seed_result res;
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &code),
               GS_OK);
  cr_assert_eq(node_join(leader, code), GS_OK);
  free(code);
  cr_assert_eq(seed(leader, 1, UNTIL, 50, &res), GS_EPERM);
  cr_assert_eq(res.residents, 0);
  size_t before = 0;
  store_stats st;
  cr_assert_eq(store_stats_get(node__store(leader), &st), GS_OK);
  before = st.records; /* its own membership claim only */
  cr_assert_leq(before, 2);
  /* the admin may */
  cr_assert_eq(seed(admin, 1, UNTIL, 50, &res), GS_OK);
  cr_assert_gt(res.residents, 0);
  node_close(admin);
  node_close(leader);
}
