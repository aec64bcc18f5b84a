/* node/domain.h node_inbox: each kind of thing a person must decide made
 * to happen between two nodes whose stores exchange changes. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "node/domain.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "node/schema.h"
#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

#define G1 "gongrencun/qinghejv/g01"
#define G2 "gongrencun/qinghejv/g02"
#define NOW_MS 1795176000000ULL /* 2026-11-20 12:00 UTC */
#define HOUR 3600000ULL

static char dir[64];
static node *a, *b;
static uint64_t now_a = NOW_MS, now_b = NOW_MS;

static uint64_t fixed_now(void *ctx)
{
  return *(uint64_t *)ctx;
}
static const node_clock clk_a = {fixed_now, &now_a};
static const node_clock clk_b = {fixed_now, &now_b};

static void setup(void)
{
  char p[128];
  now_a = now_b = NOW_MS;
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  cr_assert(t_mkdtemp(dir, sizeof dir), "mkdtemp");
  snprintf(p, sizeof p, "%s/a", dir);
  cr_assert_eq(node_init(p, "office"), GS_OK);
  cr_assert_eq(node_open(p, 0, &clk_a, &a), GS_OK);
  snprintf(p, sizeof p, "%s/b", dir);
  cr_assert_eq(node_init(p, "leader"), GS_OK);
  cr_assert_eq(node_open(p, 0, &clk_b, &b), GS_OK);
}

static void teardown(void)
{
  node_close(a);
  node_close(b);
  a = b = NULL;
  t_rmtree(dir);
}

TestSuite(inbox, .init = setup, .fini = teardown);

/* ---- moving changes between the two stores ---- */

typedef struct raws {
  uint8_t **v;
  size_t *len;
  size_t n, cap, lcap;
} raws;

static int on_raw(void *ctx, uint64_t seq, const uint8_t *bytes, size_t nb)
{
  raws *r = ctx;
  (void)seq;
  cr_assert_eq(crdt_grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v),
               GS_OK);
  cr_assert_eq(
      crdt_grow((void **)&r->len, &r->lcap, r->n + 1, sizeof *r->len), GS_OK);
  r->v[r->n] = malloc(nb);
  cr_assert_not_null(r->v[r->n]);
  memcpy(r->v[r->n], bytes, nb);
  r->len[r->n++] = nb;
  return 0;
}

typedef struct feedl {
  store_feed v[64];
  size_t n;
} feedl;

static int on_feed(void *ctx, const store_feed *f)
{
  feedl *l = ctx;
  cr_assert_lt(l->n, 64);
  l->v[l->n++] = *f;
  return 0;
}

/* Every change from holds, applied to to (as a session would). */
static store_result merge(node *from, node *to)
{
  feedl fl = {.n = 0};
  raws r = {0};
  cr_assert_eq(store_feeds(node__store(from), on_feed, &fl), GS_OK);
  for (size_t i = 0; i < fl.n; i++)
    cr_assert_eq(store_feed_read(node__store(from), fl.v[i].feed, 1,
                                 fl.v[i].seq, on_raw, &r),
                 GS_OK);
  store_result res = {0};
  size_t bad = 0;
  if (r.n)
    cr_assert_eq(store_apply_ex(node__store(to),
                                (const uint8_t *const *)r.v, r.len, r.n,
                                NULL, NULL, &res, &bad),
                 GS_OK);
  for (size_t i = 0; i < r.n; i++)
    free(r.v[i]);
  free(r.v);
  free(r.len);
  return res;
}

/* ---- writing ---- */

static void add(node *n, const char *coll, const char *scope,
                uint8_t id[CRDT_ID_LEN], const char *f1, const char *v1,
                const char *f2, const char *v2, const char *f3,
                const char *v3)
{
  node_edit *e;
  node_reason why = {0};
  cr_assert_eq(node_edit_new(n, coll, scope, &e, &why), GS_OK, "%s",
               why.text);
  const char *fs[] = {f1, f2, f3}, *vs[] = {v1, v2, v3};
  for (int i = 0; i < 3; i++)
    if (fs[i])
      cr_assert_eq(node_edit_text(e, fs[i], '=', vs[i], &why), GS_OK,
                   "%s: %s", fs[i], why.text);
  node_committed res;
  cr_assert_eq(node_edit_commit(e, &res, &why), GS_OK, "%s", why.text);
  if (id)
    memcpy(id, res.id, CRDT_ID_LEN);
  node_edit_free(e);
}

static void verb(node *n, const uint8_t *ap, const char *v, const char *to,
                 const char *feedback)
{
  node_edit *e;
  node_reason why = {0};
  cr_assert_eq(node_edit_open(n, "appeal", ap, false, &e, &why), GS_OK);
  if (feedback)
    cr_assert_eq(node_edit_text(e, "feedback", '=', feedback, &why), GS_OK);
  if (to)
    cr_assert_eq(node_edit_verb_to(e, v, to, &why), GS_OK, "%s", why.text);
  cr_assert_eq(node_edit_verb(e, v, NULL, &why), GS_OK, "%s", why.text);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s %s", v, why.text);
  node_edit_free(e);
}

static void entry(node *n, const char *person, const char *kind,
                  const char *hours)
{
  node_hit h;
  node_edit *e;
  node_reason why = {0};
  cr_assert_eq(node_resolve(n, "resident", person, NODE_RESOLVE_LIVE, &h,
                            NULL, &why),
               GS_OK, "%s", why.text);
  cr_assert_eq(node_timebank_entry(n, &h, kind, hours, &e, &why), GS_OK,
               "%s", why.text);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
}

/* ---- reading the inbox ---- */

#define ITEMS_MAX 16
typedef struct got {
  node_inbox_item v[ITEMS_MAX];
  size_t n;
} got;

static int on_item(void *ctx, const node_inbox_item *it)
{
  got *g = ctx;
  cr_assert_lt(g->n, ITEMS_MAX);
  cr_assert(it->what[0] && it->action[0], "every item says what and how");
  g->v[g->n++] = *it;
  return 0;
}

static got *inbox(node *n, const char *prefix)
{
  static got g;
  memset(&g, 0, sizeof g);
  cr_assert_eq(node_inbox(n, prefix, on_item, &g), GS_OK);
  return &g;
}

static size_t count_kind(const got *g, node_inbox_kind k)
{
  size_t c = 0;
  for (size_t i = 0; i < g->n; i++)
    c += g->v[i].kind == k;
  return c;
}

static const node_inbox_item *first_kind(const got *g, node_inbox_kind k)
{
  for (size_t i = 0; i < g->n; i++)
    if (g->v[i].kind == k)
      return &g->v[i];
  cr_assert_fail("no item of kind %s", node_inbox_code(k));
  return NULL;
}

/* A resolved appeal held by both nodes. */
static void resolved_appeal(uint8_t ap[CRDT_ID_LEN])
{
  add(a, "unit", G1, NULL, "name", "物业服务站", NULL, NULL, NULL, NULL);
  add(a, "resident", G1, NULL, "name", "王秀英", NULL, NULL, NULL, NULL);
  add(a, "appeal", G1, ap, "category", "repair", "resident", "王秀英",
      "description", "单元门坏了");
  now_a += HOUR;
  verb(a, ap, "accept", NULL, NULL);
  now_a += HOUR;
  verb(a, ap, "assign", "物业服务站", NULL);
  now_a += HOUR;
  verb(a, ap, "resolve", NULL, NULL);
  merge(a, b);
  now_b = now_a;
}

Test(inbox, nothing_to_decide_on_a_fresh_node_or_a_plain_workflow)
{
  cr_assert_eq(inbox(a, NULL)->n, 0);
  uint8_t ap[CRDT_ID_LEN];
  resolved_appeal(ap);
  /* the moves of one node, one after the other, and those of another node
   * that had seen them, are no race */
  cr_assert_eq(inbox(a, NULL)->n, 0);
  now_b += HOUR;
  verb(b, ap, "close", NULL, "satisfied");
  merge(b, a);
  cr_assert_eq(inbox(a, NULL)->n, 0);
  cr_assert_eq(inbox(b, NULL)->n, 0);
  cr_assert_eq(node_inbox(a, "bad scope!", on_item, &(got){0}), GS_EINVAL);
}

Test(inbox, a_close_and_a_reopen_made_apart_are_a_status_race)
{
  uint8_t ap[CRDT_ID_LEN];
  resolved_appeal(ap);
  /* apart: a closes, b reopens an hour later without having seen it */
  now_a += HOUR;
  verb(a, ap, "close", NULL, "satisfied");
  now_b += 2 * HOUR;
  verb(b, ap, "reopen", NULL, NULL);
  merge(a, b);
  merge(b, a);
  got *g = inbox(a, NULL);
  cr_assert_eq(g->n, 1);
  const node_inbox_item *it = first_kind(g, NODE_INBOX_STATUS_RACE);
  cr_assert_str_eq(node_inbox_code(it->kind), "status_race");
  cr_assert_not_null(strstr(it->what, "单元门坏了"), "%s", it->what);
  cr_assert_not_null(strstr(it->what, "closed"), "%s", it->what);
  cr_assert_not_null(strstr(it->what, "reopened"), "%s", it->what);
  cr_assert_not_null(strstr(it->what, "office"), "names this node: %s",
                     it->what);
  cr_assert_not_null(strstr(it->action, "set the status again"), "%s",
                     it->action);
  cr_assert_eq(it->nrefs, 1);
  cr_assert_str_eq(it->refs[0].coll, "appeal");
  cr_assert_eq(memcmp(it->refs[0].id, ap, CRDT_ID_LEN), 0);
  /* the same on the other node, and under the appeal's grid only */
  cr_assert_eq(count_kind(inbox(b, NULL), NODE_INBOX_STATUS_RACE), 1);
  cr_assert_eq(count_kind(inbox(b, G1), NODE_INBOX_STATUS_RACE), 1);
  cr_assert_eq(inbox(b, G2)->n, 0);
  /* settled: someone looks and sets the status again */
  now_a += 3 * HOUR;
  verb(a, ap, "accept", NULL, NULL);
  cr_assert_eq(inbox(a, NULL)->n, 0);
}

Test(inbox, a_move_not_allowed_after_the_other_is_a_race_however_far_apart)
{
  uint8_t ap[CRDT_ID_LEN];
  resolved_appeal(ap);
  /* b reopens first; a closes three days later, not having seen it:
   * reopened -> closed is no move, so a had not seen b's */
  now_b += HOUR;
  verb(b, ap, "reopen", NULL, NULL);
  now_a += 72 * HOUR;
  verb(a, ap, "close", NULL, "satisfied");
  merge(b, a);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_STATUS_RACE), 1);
}

Test(inbox, moves_allowed_either_way_more_than_a_day_apart_are_no_race)
{
  uint8_t ap[CRDT_ID_LEN];
  resolved_appeal(ap);
  now_a += HOUR;
  verb(a, ap, "close", NULL, "satisfied");
  now_b += 30 * HOUR;
  verb(b, ap, "reopen", NULL, NULL);
  merge(a, b);
  merge(b, a);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_STATUS_RACE), 0);
}

Test(inbox, an_account_overdrawn_by_two_nodes_spends)
{
  uint8_t r[CRDT_ID_LEN];
  add(a, "resident", G1, r, "name", "赵德明", NULL, NULL, NULL, NULL);
  entry(a, "赵德明", "deposit", "2");
  merge(a, b);
  entry(a, "赵德明", "spend", "1.5");
  entry(b, "赵德明", "spend", "1.5");
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_OVERDRAWN), 0,
               "each node alone sees a good balance");
  merge(b, a);
  got *g = inbox(a, NULL);
  cr_assert_eq(g->n, 1);
  const node_inbox_item *it = first_kind(g, NODE_INBOX_OVERDRAWN);
  cr_assert_not_null(strstr(it->what, "赵德明"), "%s", it->what);
  cr_assert_not_null(strstr(it->what, "-1"), "%s", it->what);
  char idt[CRDT_ID_TEXT_LEN + 1], want[128];
  crdt_base32_encode(r, CRDT_ID_LEN, idt);
  snprintf(want, sizeof want, "timebank adjust resident/%s 1", idt);
  cr_assert_not_null(strstr(it->action, want), "%s", it->action);
  cr_assert_eq(it->nrefs, 1);
  cr_assert_eq(memcmp(it->refs[0].id, r, CRDT_ID_LEN), 0);
  cr_assert_eq(inbox(a, G2)->n, 0, "listed under its own grid only");
  /* settled by an adjustment */
  node_hit h;
  node_edit *e;
  node_reason why = {0};
  cr_assert_eq(node_resolve(a, "resident", "赵德明", 0, &h, NULL, &why),
               GS_OK);
  cr_assert_eq(node_timebank_entry(a, &h, "adjust", "1", &e, &why), GS_OK);
  cr_assert_eq(node_edit_text(e, "note", '=', "两处同时支出", &why), GS_OK);
  cr_assert_eq(node_edit_commit(e, NULL, &why), GS_OK, "%s", why.text);
  node_edit_free(e);
  cr_assert_eq(inbox(a, NULL)->n, 0);
}

Test(inbox, changes_held_for_a_clock_ahead_and_the_clock_warning)
{
  now_b = NOW_MS + 48 * HOUR; /* b's clock is two days ahead */
  add(b, "resident", G1, NULL, "name", "李桂兰", NULL, NULL, NULL, NULL);
  store_result res = merge(b, a);
  cr_assert_eq(res.held, 1);
  got *g = inbox(a, NULL);
  cr_assert_eq(count_kind(g, NODE_INBOX_HELD), 1);
  const node_inbox_item *it = first_kind(g, NODE_INBOX_HELD);
  cr_assert_not_null(strstr(it->what, "1 changes"), "%s", it->what);
  cr_assert_not_null(strstr(it->what, G1), "%s", it->what);
  cr_assert_not_null(strstr(it->action, "clock"), "%s", it->action);
  cr_assert_eq(count_kind(inbox(a, G2), NODE_INBOX_HELD), 0);
  /* the peer told its clock at a meeting */
  char why[400];
  cr_assert(node_note_peer_clock(a, "192.168.1.7:7000", now_a, now_b, why,
                                 sizeof why));
  g = inbox(a, NULL);
  it = first_kind(g, NODE_INBOX_CLOCK);
  cr_assert_not_null(strstr(it->what, "192.168.1.7:7000"), "%s", it->what);
  cr_assert_not_null(strstr(it->action, "date and time"), "%s", it->action);
  /* the clock reaches the stamp: nothing held any more */
  now_a = now_b + 1;
  cr_assert_eq(node_held_recheck(a, NULL), GS_OK);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_HELD), 0);
}

Test(inbox, a_forked_feed_is_listed_with_what_to_do)
{
  t_feed f;
  t_feed_init(&f, G1);
  uint8_t id[CRDT_ID_LEN], *c1, *c2;
  size_t n1, n2;
  t_id(id, 1, 1);
  crdt_op o1 = t_set_str("resident", id, "name", "one", 3);
  crdt_op o2 = t_set_str("resident", id, "name", "two", 3);
  crdt_hlc h = CRDT_HLC_MAKE(NOW_MS - HOUR, 0);
  cr_assert_eq(t_build(&f, 1, NULL, h, &o1, 1, &c1, &n1), GS_OK);
  cr_assert_eq(t_build(&f, 1, NULL, h, &o2, 1, &c2, &n2), GS_OK);
  store_result res;
  size_t bad;
  const uint8_t *const p1[1] = {c1}, *const p2[1] = {c2};
  cr_assert_eq(store_apply_ex(node__store(a), p1, &n1, 1, NULL, NULL, &res,
                              &bad),
               GS_OK);
  cr_assert_eq(store_apply_ex(node__store(a), p2, &n2, 1, NULL, NULL, &res,
                              &bad),
               GS_OK);
  cr_assert_eq(res.bad, 1);
  free(c1);
  free(c2);
  got *g = inbox(a, NULL);
  cr_assert_eq(count_kind(g, NODE_INBOX_BAD_FEED), 1);
  const node_inbox_item *it = first_kind(g, NODE_INBOX_BAD_FEED);
  cr_assert_not_null(strstr(it->what, G1), "%s", it->what);
  char key[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(f.pk, CRDT_KEY_LEN, key);
  cr_assert_not_null(strstr(it->action, key), "%s", it->action);
  cr_assert_not_null(strstr(it->action, "revoke"), "%s", it->action);
  cr_assert_eq(count_kind(inbox(a, G2), NODE_INBOX_BAD_FEED), 0);
}

static int stop_at_first(void *ctx, const node_inbox_item *it)
{
  (void)it;
  (*(size_t *)ctx)++;
  return 1;
}

Test(inbox, a_callback_stops_the_listing)
{
  uint8_t r[CRDT_ID_LEN];
  add(a, "resident", G1, r, "name", "赵德明", NULL, NULL, NULL, NULL);
  add(a, "resident", G1, NULL, "name", "孙丽", NULL, NULL, NULL, NULL);
  entry(a, "赵德明", "deposit", "1");
  entry(a, "孙丽", "deposit", "1");
  merge(a, b);
  entry(a, "赵德明", "spend", "1");
  entry(b, "赵德明", "spend", "1");
  entry(a, "孙丽", "spend", "1");
  entry(b, "孙丽", "spend", "1");
  merge(b, a);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_OVERDRAWN), 2);
  size_t calls = 0;
  cr_assert_eq(node_inbox(a, NULL, stop_at_first, &calls), GS_OK);
  cr_assert_eq(calls, 1);
}

Test(inbox, an_invite_used_by_two_nodes_is_listed_until_readmitted)
{
  cr_assert_eq(node_network_create(a, "工人村街道"), GS_OK);
  char *code, p[128];
  const char *scopes[] = {G1};
  cr_assert_eq(node_invite(a, "leader", scopes, 1, now_a + 86400000, &code),
               GS_OK);
  node *c;
  snprintf(p, sizeof p, "%s/c", dir);
  cr_assert_eq(node_init(p, "copy"), GS_OK);
  cr_assert_eq(node_open(p, 0, &clk_b, &c), GS_OK);
  cr_assert_eq(node_join(b, code), GS_OK);
  cr_assert_eq(node_join(c, code), GS_OK);
  free(code);
  merge(b, a);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_INVITE_TWICE), 0,
               "used once so far");
  merge(c, a);
  got *g = inbox(a, NULL);
  cr_assert_eq(count_kind(g, NODE_INBOX_INVITE_TWICE), 1, "one per pair");
  const node_inbox_item *it = first_kind(g, NODE_INBOX_INVITE_TWICE);
  char kb[CRDT_KEY_TEXT_LEN + 1], kc[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(node_pk(b), CRDT_KEY_LEN, kb);
  crdt_base32_encode(node_pk(c), CRDT_KEY_LEN, kc);
  cr_assert_not_null(strstr(it->action, kb), "%s", it->action);
  cr_assert_not_null(strstr(it->action, kc), "%s", it->action);
  cr_assert_not_null(strstr(it->action, "gridsync readmit"), "%s",
                     it->action);
  cr_assert_not_null(strstr(it->what, "leader invite"), "%s", it->what);
  cr_assert_eq(node_readmit(a, node_pk(b)), GS_OK);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_INVITE_TWICE), 0);
  node_close(c);
}

Test(inbox, a_long_history_is_judged_by_its_newest_moves)
{
  uint8_t ap[CRDT_ID_LEN];
  resolved_appeal(ap);
  for (int i = 0; i < 20; i++) {
    now_a += HOUR;
    verb(a, ap, "reopen", NULL, NULL);
    now_a += HOUR;
    verb(a, ap, "assign", "物业服务站", NULL);
    now_a += HOUR;
    verb(a, ap, "resolve", NULL, NULL);
  }
  merge(a, b);
  now_b = now_a;
  cr_assert_eq(inbox(a, NULL)->n, 0);
  now_b += HOUR;
  verb(b, ap, "reopen", NULL, NULL);
  now_a += 2 * HOUR;
  verb(a, ap, "close", NULL, "satisfied");
  /* b's reopen arrives after a's close: history order is not stamp order */
  merge(b, a);
  cr_assert_eq(count_kind(inbox(a, NULL), NODE_INBOX_STATUS_RACE), 1);
}
