/*
 * The sync protocol between stores over an in-memory, in-order message
 * queue: convergence, relays, resumption after a drop, live updates and
 * refusal of bad batches.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/sync.h"
#include "storage/store.h"
#include <zstd.h>

#include "tests/unit/net/sync_test_util.h"

/* A session pair: a's messages go to qa (read by b) and back. */
typedef struct link {
  net_sync *a, *b;
  queue qa, qb;
  gs_err err_a, err_b;
  char why_a[200], why_b[200];
} link;

static void link_open(link *l, tnode *a, tnode *b)
{
  memset(l, 0, sizeof *l);
  net_sync_io ia = {.send = q_send, .ctx = &l->qa},
              ib = {.send = q_send, .ctx = &l->qb};
  cr_assert_eq(net_sync_new(a->st, &ia, &l->a), GS_OK);
  cr_assert_eq(net_sync_new(b->st, &ib, &l->b), GS_OK);
  cr_assert_eq(net_sync_start(l->a), GS_OK);
  cr_assert_eq(net_sync_start(l->b), GS_OK);
}

/* Deliver up to max messages (0: until quiet). Returns messages moved. */
static size_t link_run(link *l, size_t max)
{
  size_t moved = 0;
  while ((!max || moved < max) && !l->err_a && !l->err_b &&
         (l->qa.head || l->qb.head)) {
    qmsg *m;
    if ((m = q_pop(&l->qa))) {
      l->err_b = net_sync_on_msg(l->b, m->data, m->n, l->why_b,
                                 sizeof l->why_b);
      free(m);
      moved++;
    }
    if ((!max || moved < max) && !l->err_b && (m = q_pop(&l->qb))) {
      l->err_a = net_sync_on_msg(l->a, m->data, m->n, l->why_a,
                                 sizeof l->why_a);
      free(m);
      moved++;
    }
  }
  return moved;
}

static void link_close(link *l)
{
  net_sync_free(l->a);
  net_sync_free(l->b);
  q_clear(&l->qa);
  q_clear(&l->qb);
}

static void sync_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(sync, .init = sync_init, .timeout = 120);

Test(sync, concurrent_edits_converge)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* the same records edited on both, and records of their own */
  write_changes(&a, "s/c/g01", 20, 5, 0x01, "甲");
  write_changes(&b, "s/c/g01", 20, 5, 0x01, "乙");
  write_changes(&a, "s/c/g02", 7, 3, 0x0a, "a-only");
  write_changes(&b, "s/c/g03", 9, 2, 0x0b, "b-only");
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_neq(memcmp(da, db, sizeof da), 0);

  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0, "digests differ after sync");
  cr_assert_eq(nchanges(&a), 56);
  cr_assert_eq(nchanges(&b), 56);
  cr_assert_eq(net_sync_get_stats(l.a)->sent_changes, 27);
  cr_assert_eq(net_sync_get_stats(l.b)->recv_changes, 27);
  cr_assert_eq(net_sync_get_stats(l.b)->sent_changes, 29);
  link_close(&l);

  /* meeting again exchanges no changes */
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  cr_assert_eq(net_sync_get_stats(l.a)->sent_changes, 0);
  cr_assert_eq(net_sync_get_stats(l.b)->sent_changes, 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(sync, relay_through_an_office)
{
  tnode a, office, b;
  tnode_open(&a), tnode_open(&office), tnode_open(&b);
  write_changes(&a, "s/c/g01", 30, 4, 0x21, "王");
  write_changes(&b, "s/c/g02", 10, 4, 0x22, "李");
  link l;
  link_open(&l, &a, &office);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b);
  link_close(&l);
  link_open(&l, &office, &b); /* later; A is gone */
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b);
  link_close(&l);
  cr_assert_eq(nchanges(&b), 40, "B lacks A's changes");
  link_open(&l, &a, &office); /* A comes back and gets B's */
  link_run(&l, 0);
  link_close(&l);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN], dof[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db), digest_of(&office, dof);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  cr_assert_eq(memcmp(da, dof, sizeof da), 0);
  tnode_close(&a), tnode_close(&office), tnode_close(&b);
}

typedef struct behind {
  size_t feeds;
  uint64_t missing;
} behind;

static int on_behind(void *ctx, const uint8_t feed[CRDT_FEED_LEN],
                     uint64_t held, uint64_t heard)
{
  behind *b = ctx;
  (void)feed;
  b->feeds++;
  b->missing += heard - held;
  return 0;
}

Test(sync, many_messages_window_and_resume_after_a_drop)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* ~3 MB of changes: many CHANGES messages */
  write_changes(&a, "s/c/g01", 600, 40, 0x31, "一位住在七号楼的老人");
  write_changes(&a, "s/c/g02", 300, 40, 0x32, "x");
  size_t total = nchanges(&a);
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 12); /* the connection drops part-way */
  cr_assert(!l.err_a && !l.err_b);
  cr_assert_leq(l.qa.max_n, NET_SYNC_WINDOW + 3,
                "sender ran ahead of acknowledgements: %zu queued",
                l.qa.max_n);
  size_t got = nchanges(&b);
  cr_assert_gt(got, 0);
  cr_assert_lt(got, total);
  link_close(&l);
  link_open(&l, &a, &b); /* and resumes */
  /* the digests differ: the reconciliation tells b what a holds (PINGs,
   * digests, the PINGs asking for FRAMES, one side's ITEMS, the other's
   * FINAL) */
  link_run(&l, 8);
  /* b knows how far behind it is on the feeds it holds part of */
  behind bh = {0};
  cr_assert_eq(store_behind(b.st, on_behind, &bh), GS_OK);
  cr_assert_geq(bh.feeds, 1);
  cr_assert_gt(bh.missing, 0);
  cr_assert_leq(bh.missing, total - got);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_eq(nchanges(&b), total);
  memset(&bh, 0, sizeof bh);
  cr_assert_eq(store_behind(b.st, on_behind, &bh), GS_OK);
  cr_assert_eq(bh.feeds, 0, "still behind after a full sync");
  const net_sync_stats *st = net_sync_get_stats(l.b);
  cr_assert_eq(st->recv_changes, total - got, "resent what B held");
  cr_assert_eq(st->recv_dups, 0);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(sync, live_changes_follow)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 3, 2, 0x41, "v1");
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  /* nothing new: polling sends nothing */
  cr_assert_eq(net_sync_poll(l.a), GS_OK);
  cr_assert_null(l.qa.head);
  /* a local commit on each side reaches the other */
  write_changes(&a, "s/c/g01", 2, 2, 0x41, "v2");
  write_changes(&b, "s/c/g05", 1, 1, 0x42, "from b");
  cr_assert_eq(net_sync_poll(l.a), GS_OK);
  cr_assert_eq(net_sync_poll(l.b), GS_OK);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b);
  cr_assert_eq(nchanges(&b), 6);
  cr_assert_eq(nchanges(&a), 6);
  /* what b received from a is not sent back */
  cr_assert_eq(net_sync_poll(l.b), GS_OK);
  cr_assert_null(l.qb.head, "b echoed a's changes back");
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* Feed a hand-made CHANGES message to b's session. */
static gs_err feed_changes(tnode *b, const uint8_t *const *ch,
                           const size_t *lens, size_t n, char *why)
{
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  net_bytes parts[8];
  for (size_t i = 0; i < n; i++)
    parts[i].p = ch[i], parts[i].n = lens[i];
  uint8_t *msg;
  size_t len;
  cr_assert_eq(net_msg_changes(parts, n, &msg, &len), GS_OK);
  cr_assert_eq(net_sync_new(b->st, &io, &s), GS_OK);
  gs_err err = net_sync_on_msg(s, msg, len, why, 200);
  net_sync_free(s);
  free(msg);
  q_clear(&q);
  return err;
}

typedef struct grab {
  uint8_t *bytes[4];
  size_t lens[4], n;
} grab;

static int on_grab(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  grab *g = ctx;
  (void)seq;
  g->bytes[g->n] = malloc(n);
  memcpy(g->bytes[g->n], b, n);
  g->lens[g->n++] = n;
  return 0;
}

Test(sync, a_bad_feed_is_isolated_not_the_session)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 3, 2, 0x51, "v");
  write_changes(&a, "s/c/g02", 1, 1, 0x52, "w");
  uint8_t feed[CRDT_FEED_LEN], feed2[CRDT_FEED_LEN];
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);
  crdt_feed_id(a.pk, "s/c/g02", 7, feed2);
  grab g = {0};
  cr_assert_eq(store_feed_read(a.st, feed, 1, 3, on_grab, &g), GS_OK);
  cr_assert_eq(store_feed_read(a.st, feed2, 1, 1, on_grab, &g), GS_OK);
  cr_assert_eq(g.n, 4);
  char why[200];
  store_quar q0;

  /* a gap (seq 2 and 3 without 1), with a good change of another feed:
   * the session goes on, the other feed is stored, the bad one noted */
  const uint8_t *gap[3] = {g.bytes[1], g.bytes[2], g.bytes[3]};
  size_t gap_lens[3] = {g.lens[1], g.lens[2], g.lens[3]};
  gs_err err = feed_changes(&b, gap, gap_lens, 3, why);
  cr_assert_eq(err, GS_OK, "%d %s", err, why);
  cr_assert_eq(nchanges(&b), 1);
  cr_assert_eq(store_quar_get(b.st, feed, &q0), GS_OK);
  cr_assert_eq(q0.reason, STORE_BAD_GAP);
  cr_assert_eq(store_quar_get(b.st, feed2, &q0), GS_ENOTFOUND);
  /* a bad signature on the last change: the valid ones before it go in,
   * it does not */
  g.bytes[2][g.lens[2] - 1] ^= 1;
  err = feed_changes(&b, (const uint8_t *const *)g.bytes, g.lens, 3, why);
  cr_assert_eq(err, GS_OK, "%d %s", err, why);
  cr_assert_eq(nchanges(&b), 3);
  cr_assert_eq(store_quar_get(b.st, feed, &q0), GS_OK);
  cr_assert_eq(q0.reason, STORE_BAD_SIG);
  cr_assert_eq(q0.seq, 3);
  g.bytes[2][g.lens[2] - 1] ^= 1;
  /* not frozen: the genuine change 3 then goes in */
  err = feed_changes(&b, (const uint8_t *const *)&g.bytes[2], &g.lens[2], 1,
                     why);
  cr_assert_eq(err, GS_OK, "%s", why);
  cr_assert_eq(nchanges(&b), 4);

  /* malformed and out-of-protocol messages */
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  cr_assert_eq(net_sync_new(b.st, &io, &s), GS_OK);
  static const uint8_t junk[] = {0x93, 0x01, 0xc0};
  cr_assert_neq(net_sync_on_msg(s, junk, sizeof junk, why, sizeof why),
                GS_OK);
  uint8_t *msg;
  size_t len;
  cr_assert_eq(net_msg_ack(1, 0, &msg, &len), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, msg, len, why, sizeof why), GS_EPROTO);
  free(msg);
  cr_assert_eq(net_msg_error(-1, "去死", &msg, &len), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, msg, len, why, sizeof why), GS_EPROTO);
  cr_assert_not_null(strstr(why, "去死"));
  free(msg);
  net_sync_free(s);
  q_clear(&q);
  for (size_t i = 0; i < g.n; i++)
    free(g.bytes[i]);
  tnode_close(&a), tnode_close(&b);
}

Test(sync, a_flood_of_version_vector_pages_is_cut_off)
{
  tnode b;
  tnode_open(&b);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  cr_assert_eq(net_sync_new(b.st, &io, &s), GS_OK);
  static net_vv_entry page[NET_VV_PAGE];
  char why[200];
  gs_err err = GS_OK;
  size_t pages = 0;
  for (uint64_t p = 0; err == GS_OK && p < 2000; p++, pages++) {
    for (size_t i = 0; i < NET_VV_PAGE; i++) {
      memset(page[i].feed, 0, CRDT_FEED_LEN);
      memcpy(page[i].feed, &p, sizeof p);
      memcpy(page[i].feed + 8, &i, sizeof i);
      page[i].seq = 5;
    }
    uint8_t *msg;
    size_t len;
    cr_assert_eq(net_msg_vv(page, NET_VV_PAGE, true, &msg, &len), GS_OK);
    err = net_sync_on_msg(s, msg, len, why, sizeof why);
    free(msg);
  }
  cr_assert_eq(err, GS_ETOOBIG, "%zu pages taken", pages);
  cr_assert_leq(pages * NET_VV_PAGE, NET_SYNC_MAX_FEEDS + NET_VV_PAGE);
  /* and no more of those unknown feeds was written down than the cap */
  behind bh = {0};
  cr_assert_eq(store_behind(b.st, on_behind, &bh), GS_OK);
  cr_assert_leq(bh.feeds, STORE_HEARD_MAX);
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&b);
}

/* ---- packed CHANGES (protocol version 2) ---- */

typedef struct raw_total {
  store *st;
  size_t bytes, n;
} raw_total;

static int add_raw(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  raw_total *t = ctx;
  (void)seq, (void)b;
  t->bytes += n;
  t->n++;
  return 0;
}

static int add_feed(void *ctx, const store_feed *f)
{
  raw_total *t = ctx;
  return store_feed_read(t->st, f->feed, 1, f->seq, add_raw, t) != GS_OK;
}

Test(sync, changes_travel_packed_and_arrive_whole)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 200, 40, 0x41, "三号楼二单元的独居老人，每周探访");
  /* the bytes of every change a holds, as a peer is sent them */
  raw_total rt = {a.st, 0, 0};
  cr_assert_eq(store_feeds(a.st, add_feed, &rt), GS_OK);
  cr_assert_eq(rt.n, 200);
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_eq(nchanges(&b), 200);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_arr_eq(da, db, sizeof da);
  const net_sync_stats *st = net_sync_get_stats(l.a);
  cr_assert_eq(st->sent_changes, 200);
  /* these changes pack more than fourfold on the wire */
  cr_assert_lt(st->sent_bytes * 4, rt.bytes, "sent %llu for %zu raw",
               (unsigned long long)st->sent_bytes, rt.bytes);
  cr_assert_eq(net_sync_get_stats(l.b)->recv_changes, 200);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* One PACKED message carrying frame (fn bytes). */
static uint8_t *packed_msg(const uint8_t *frame, size_t fn, size_t *n)
{
  uint8_t *m = malloc(fn + 7);
  cr_assert_not_null(m);
  m[0] = 0x92, m[1] = 0x09, m[2] = 0xc6;
  m[3] = (uint8_t)(fn >> 24), m[4] = (uint8_t)(fn >> 16);
  m[5] = (uint8_t)(fn >> 8), m[6] = (uint8_t)fn;
  memcpy(m + 7, frame, fn);
  *n = fn + 7;
  return m;
}

static gs_err feed_one(tnode *b, const uint8_t *m, size_t n, char *why,
                       size_t whylen)
{
  queue q = {0};
  net_sync *s;
  net_sync_io io = {.send = q_send, .ctx = &q};
  cr_assert_eq(net_sync_new(b->st, &io, &s), GS_OK);
  gs_err err = net_sync_on_msg(s, m, n, why, whylen);
  net_sync_free(s);
  q_clear(&q);
  return err;
}

Test(sync, hostile_packed_messages_are_refused)
{
  tnode b;
  tnode_open(&b);
  char why[200];
  size_t n, mn;
  static uint8_t big[NET_MSG_MAX + 1000], frame[70000];
  /* 1. a frame that unpacks past NET_MSG_MAX (of zeros: it packs small) */
  size_t fn = ZSTD_compress(frame, sizeof frame, big, sizeof big, 1);
  cr_assert(!ZSTD_isError(fn) && fn < 200);
  uint8_t *m = packed_msg(frame, fn, &mn);
  cr_assert_eq(feed_one(&b, m, mn, why, sizeof why), GS_ETOOBIG);
  cr_assert(strstr(why, "packed"), "%s", why);
  free(m);
  /* 2. a frame that hides another message type (a version vector) */
  net_vv_entry e = {.seq = 1};
  uint8_t *vv;
  cr_assert_eq(net_msg_vv(&e, 1, false, &vv, &n), GS_OK);
  fn = ZSTD_compress(frame, sizeof frame, vv, n, 1);
  m = packed_msg(frame, fn, &mn);
  cr_assert_eq(feed_one(&b, m, mn, why, sizeof why), GS_EDECODE);
  free(m), free(vv);
  /* 3. a frame that does not say its size, and one cut short */
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
  fn = ZSTD_compress2(cc, frame, sizeof frame, big, 1000);
  ZSTD_freeCCtx(cc);
  m = packed_msg(frame, fn, &mn);
  cr_assert_eq(feed_one(&b, m, mn, why, sizeof why), GS_EDECODE);
  free(m);
  fn = ZSTD_compress(frame, sizeof frame, big, 1000, 1);
  m = packed_msg(frame, fn - 3, &mn);
  cr_assert_neq(feed_one(&b, m, mn, why, sizeof why), GS_OK);
  free(m);
  /* 4. garbage with the frame magic */
  uint8_t junk[64] = {0x28, 0xb5, 0x2f, 0xfd};
  memset(junk + 4, 0x5a, sizeof junk - 4);
  m = packed_msg(junk, sizeof junk, &mn);
  cr_assert_neq(feed_one(&b, m, mn, why, sizeof why), GS_OK);
  free(m);
  cr_assert_eq(nchanges(&b), 0, "nothing stored");
  tnode_close(&b);
}

/* ---- issue 14: forks between honest nodes, clocks, paging, bounds ---- */

Test(sync, equal_length_fork_is_detected_by_both_and_the_rest_syncs)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* one author (one key, restored from a backup onto two laptops) writes
   * a different change 1 and 2 of one feed on each: equal length */
  memcpy(b.pk, a.pk, CRDT_KEY_LEN);
  memcpy(b.sk, a.sk, CRDT_SK_LEN);
  write_changes(&a, "s/c/g01", 2, 1, 0x61, "on a");
  write_changes(&b, "s/c/g01", 2, 1, 0x61, "on b");
  /* and honest feeds of their own */
  tnode c;
  tnode_open(&c);
  write_changes(&c, "s/c/g02", 3, 1, 0x62, "c");
  link l;
  link_open(&l, &c, &a);
  link_run(&l, 0);
  link_close(&l);
  write_changes(&b, "s/c/g03", 2, 1, 0x63, "b own");
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);

  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  cr_assert_eq(net_sync_get_stats(l.a)->forks_seen, 1);
  cr_assert_eq(net_sync_get_stats(l.b)->forks_seen, 1);
  /* both hold the evidence and flag the feed */
  store_quar qa, qb;
  cr_assert_eq(store_quar_get(a.st, feed, &qa), GS_OK);
  cr_assert_eq(store_quar_get(b.st, feed, &qb), GS_OK);
  cr_assert_eq(qa.reason, STORE_BAD_FORK);
  cr_assert_eq(qb.reason, STORE_BAD_FORK);
  store_stats sa, sb;
  cr_assert_eq(store_stats_get(a.st, &sa), GS_OK);
  cr_assert_eq(store_stats_get(b.st, &sb), GS_OK);
  cr_assert_geq(sa.forks, 1);
  cr_assert_geq(sb.forks, 1);
  /* everything else synced: c's feed reached b, b's own reached a */
  uint8_t fc[CRDT_FEED_LEN], fb[CRDT_FEED_LEN];
  crdt_feed_id(c.pk, "s/c/g02", 7, fc);
  crdt_feed_id(b.pk, "s/c/g03", 7, fb);
  store_feed f;
  cr_assert_eq(store_feed_get(b.st, fc, &f), GS_OK);
  cr_assert_eq(f.seq, 3);
  cr_assert_eq(store_feed_get(a.st, fb, &f), GS_OK);
  cr_assert_eq(f.seq, 2);
  link_close(&l);

  /* meeting again: no error, the fork is not "fixed" silently */
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  link_close(&l);
  tnode_close(&a), tnode_close(&b), tnode_close(&c);
}

Test(sync, longer_branch_of_a_fork_is_isolated_not_an_error)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  memcpy(b.pk, a.pk, CRDT_KEY_LEN);
  memcpy(b.sk, a.sk, CRDT_SK_LEN);
  write_changes(&a, "s/c/g01", 2, 1, 0x61, "on a");
  write_changes(&b, "s/c/g01", 4, 1, 0x61, "on b");
  write_changes(&b, "s/c/g05", 1, 1, 0x65, "other feed");
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  uint8_t feed[CRDT_FEED_LEN], f5[CRDT_FEED_LEN];
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);
  crdt_feed_id(a.pk, "s/c/g05", 7, f5);
  store_quar q;
  cr_assert_eq(store_quar_get(a.st, feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  cr_assert_eq(store_quar_get(b.st, feed, &q), GS_OK);
  store_feed f;
  cr_assert_eq(store_feed_get(a.st, feed, &f), GS_OK);
  cr_assert_eq(f.seq, 2, "a keeps its branch");
  cr_assert_eq(store_feed_get(a.st, f5, &f), GS_OK);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(sync, a_peer_that_closes_once_caught_up_still_gets_fork_evidence)
{
  /* b (the longer branch) meets a: b finds the fork from a's VV and sends
   * its evidence; a, learning of the fork from it, answers with its own
   * change there. b, like `gridsync sync`, hangs up as soon as it is
   * caught up: a's evidence must reach it before a's ACK does */
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  memcpy(b.pk, a.pk, CRDT_KEY_LEN);
  memcpy(b.sk, a.sk, CRDT_SK_LEN);
  write_changes(&a, "s/c/g01", 1, 1, 0x61, "on a");
  write_changes(&b, "s/c/g01", 2, 1, 0x61, "on b");
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);
  link l;
  link_open(&l, &a, &b);
  for (int i = 0; i < 1000 && !l.err_a && !l.err_b &&
                  !net_sync_caught_up(l.b) && (l.qa.head || l.qb.head);
       i++) {
    qmsg *m;
    if ((m = q_pop(&l.qa))) { /* a to b */
      l.err_b = net_sync_on_msg(l.b, m->data, m->n, l.why_b, sizeof l.why_b);
      free(m);
      if (net_sync_caught_up(l.b))
        break; /* b hangs up: the rest is lost */
    }
    if ((m = q_pop(&l.qb))) {
      l.err_a = net_sync_on_msg(l.a, m->data, m->n, l.why_a, sizeof l.why_a);
      free(m);
    }
  }
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  cr_assert(net_sync_caught_up(l.b));
  store_quar q;
  cr_assert_eq(store_quar_get(a.st, feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  cr_assert_eq(store_quar_get(b.st, feed, &q), GS_OK,
               "b left before a's evidence of the fork arrived");
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* A session context whose first member is its queue (for q_send), with
 * a wall clock (for now) and what on_hello saw. */
typedef struct hbox {
  queue q;
  uint64_t wall;
  uint64_t heard;
  int calls;
} hbox;

static uint64_t hbox_now(void *ctx)
{
  return ((hbox *)ctx)->wall;
}

static void hbox_hello(void *ctx, uint64_t wall)
{
  hbox *h = ctx;
  h->heard = wall;
  h->calls++;
}

Test(sync, hello_tells_the_peer_our_wall_clock)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  hbox ha = {.wall = 946684800000ULL}, /* 2000-01-01: a dead battery */
      hb = {.wall = 1796083200000ULL}; /* 2026-12-01 */
  net_sync_io ia = {.send = q_send, .ctx = &ha, .now = hbox_now,
                    .on_hello = hbox_hello},
              ib = {.send = q_send, .ctx = &hb, .now = hbox_now,
                    .on_hello = hbox_hello};
  net_sync *sa, *sb;
  cr_assert_eq(net_sync_new(a.st, &ia, &sa), GS_OK);
  cr_assert_eq(net_sync_new(b.st, &ib, &sb), GS_OK);
  cr_assert_eq(net_sync_start(sa), GS_OK);
  cr_assert_eq(net_sync_start(sb), GS_OK);
  net_msg m;
  cr_assert_eq(net_msg_decode(ha.q.head->data, ha.q.head->n, &m), GS_OK);
  cr_assert_eq(m.type, NET_MSG_HELLO, "HELLO comes first");
  net_msg_free(&m);
  char why[200];
  qmsg *e;
  while ((e = q_pop(&ha.q))) {
    cr_assert_eq(net_sync_on_msg(sb, e->data, e->n, why, sizeof why), GS_OK,
                 "%s", why);
    free(e);
  }
  while ((e = q_pop(&hb.q))) {
    cr_assert_eq(net_sync_on_msg(sa, e->data, e->n, why, sizeof why), GS_OK,
                 "%s", why);
    free(e);
  }
  cr_assert_eq(hb.calls, 1);
  cr_assert_eq(hb.heard, ha.wall);
  cr_assert_eq(ha.heard, hb.wall);
  cr_assert_eq(net_sync_get_stats(sb)->peer_wall_ms, ha.wall);
  /* twice is a protocol error */
  uint8_t *msg;
  size_t len;
  cr_assert_eq(net_msg_hello(1, &msg, &len), GS_OK);
  cr_assert_eq(net_sync_on_msg(sb, msg, len, why, sizeof why), GS_EPROTO);
  free(msg);
  /* a wall clock beyond the bound is malformed */
  static const uint8_t big[] = {0x92, 0x0a, 0xcf, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0xff};
  cr_assert_eq(net_msg_decode(big, sizeof big, &m), GS_ETOOBIG);
  net_sync_free(sa);
  net_sync_free(sb);
  q_clear(&ha.q);
  q_clear(&hb.q);
  tnode_close(&a), tnode_close(&b);
}

static bool never_writable(void *ctx)
{
  (void)ctx;
  return false;
}

static bool always_writable(void *ctx)
{
  (void)ctx;
  return true;
}

Test(sync, version_vector_is_paged_with_flow_control)
{
  tnode a;
  tnode_open(&a);
  /* 3 pages and a bit of feeds */
  size_t nfeeds = 3 * NET_VV_PAGE + 7;
  store_write *w;
  cr_assert_eq(store_write_begin(a.st, a.sk, &w), GS_OK);
  for (size_t i = 0; i < nfeeds; i++) {
    char scope[32];
    snprintf(scope, sizeof scope, "s/c/f%zu", i);
    crdt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CRDT_OP_SET;
    op.coll = "x_t";
    op.coll_len = 3;
    memset(op.id, 7, CRDT_ID_LEN);
    op.field = "n";
    op.field_len = 1;
    op.value.type = CRDT_INT;
    op.value.u.i = (int64_t)i;
    cr_assert_eq(store_write_change(w, scope, strlen(scope), &op, 1,
                                    a.clock++, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  queue q = {0};
  net_sync_io io = {.send = q_send, .writable = never_writable, .ctx = &q};
  net_sync *s;
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  cr_assert_eq(q.n, 2, "the ranges capability (PING) and the digest first");
  /* a peer whose digest differs (it holds nothing): the whole vector */
  net_vv_entry de = {.seq = 0, .has_head = true};
  uint8_t *dm;
  size_t dn;
  char why[200];
  cr_assert_eq(net_msg_vv(&de, 1, true, &dm, &dn), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, dm, dn, why, sizeof why), GS_OK, "%s",
               why);
  /* the PING asking for FRAMES (the digests differ), then one page */
  cr_assert_eq(q.n, 4, "one page while the transport is not writable");
  net_sync_free(s);
  q_clear(&q);
  /* writable: every page, in order, each feed once */
  io.writable = always_writable;
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, dm, dn, why, sizeof why), GS_OK, "%s",
               why);
  free(dm);
  cr_assert_eq(q.n, 7);
  free(q_pop(&q)); /* the PING */
  free(q_pop(&q)); /* the digest */
  free(q_pop(&q)); /* the PING asking for FRAMES */
  size_t seen = 0;
  bool last_more = true;
  for (qmsg *e = q.head; e; e = e->next) {
    net_msg m;
    cr_assert_eq(net_msg_decode(e->data, e->n, &m), GS_OK);
    cr_assert_eq(m.type, NET_MSG_VV);
    seen += m.u.vv.n;
    last_more = m.u.vv.more;
    for (size_t i = 0; i < m.u.vv.n; i++)
      cr_assert(m.u.vv.entries[i].has_head);
    net_msg_free(&m);
  }
  cr_assert_eq(seen, nfeeds);
  cr_assert(!last_more);
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&a);
}

static int on_count_behind(void *ctx, const uint8_t feed[CRDT_FEED_LEN],
                           uint64_t held, uint64_t heard)
{
  (void)feed, (void)held, (void)heard;
  (*(size_t *)ctx)++;
  return 0;
}

Test(sync, peer_numbers_are_bounded)
{
  /* a VV entry claiming seq 2^64-1 (the finding: `status` printed a
   * negative "behind") is malformed; so is an ACK of more than a batch */
  net_vv_entry e = {.seq = UINT64_MAX};
  uint8_t *msg;
  size_t len;
  cr_assert_eq(net_msg_vv(&e, 1, false, &msg, &len), GS_ETOOBIG);
  static const uint8_t vv[] = {
      0x93, 0x01, 0x91, 0x92, 0xc4, 0x10, 1,    2,    3,    4,    5,
      6,    7,    8,    9,    10,   11,   12,   13,   14,   15,   16,
      0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc2};
  net_msg m;
  cr_assert_eq(net_msg_decode(vv, sizeof vv, &m), GS_ETOOBIG);
  cr_assert_eq(net_msg_ack(UINT64_MAX, 0, &msg, &len), GS_OK);
  cr_assert_eq(net_msg_decode(msg, len, &m), GS_ETOOBIG);
  free(msg);
  cr_assert_eq(net_msg_ack(NET_CHANGES_MAX, 0, &msg, &len), GS_OK);
  cr_assert_eq(net_msg_decode(msg, len, &m), GS_OK);
  net_msg_free(&m);
  free(msg);
  /* and the store keeps no such figure from anyone */
  tnode b;
  tnode_open(&b);
  uint8_t feed[CRDT_FEED_LEN] = {1};
  uint64_t seq = UINT64_MAX;
  cr_assert_eq(store_heard_raise(b.st, (const uint8_t(*)[CRDT_FEED_LEN])feed,
                                 &seq, 1),
               GS_OK);
  size_t n = 0;
  cr_assert_eq(store_behind(b.st, on_count_behind, &n), GS_OK);
  cr_assert_eq(n, 0, "a seq of 2^64-1 was kept");
  tnode_close(&b);
}

Test(sync, fork_evidence_reaches_a_node_holding_the_same_branch)
{
  tnode a, b, c;
  tnode_open(&a), tnode_open(&b), tnode_open(&c);
  memcpy(b.pk, a.pk, CRDT_KEY_LEN);
  memcpy(b.sk, a.sk, CRDT_SK_LEN);
  write_changes(&a, "s/c/g01", 2, 1, 0x61, "on a");
  write_changes(&b, "s/c/g01", 2, 1, 0x61, "on b");
  link l;
  /* c gets a's branch before anyone knows of the fork */
  link_open(&l, &a, &c);
  link_run(&l, 0);
  link_close(&l);
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);
  store_quar q;
  cr_assert_eq(store_quar_get(c.st, feed, &q), GS_ENOTFOUND);
  /* a meets b: both find the fork */
  link_open(&l, &a, &b);
  link_run(&l, 0);
  link_close(&l);
  cr_assert_eq(store_quar_get(a.st, feed, &q), GS_OK);
  /* c meets a again: a offers its evidence, c learns of the fork */
  link_open(&l, &a, &c);
  link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  link_close(&l);
  cr_assert_eq(store_quar_get(c.st, feed, &q), GS_OK);
  cr_assert_eq(q.reason, STORE_BAD_FORK);
  store_stats st;
  cr_assert_eq(store_stats_get(c.st, &st), GS_OK);
  cr_assert_eq(st.forks, 1);
  /* and meeting again is quiet */
  link_open(&l, &a, &c);
  size_t moved = link_run(&l, 0);
  cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
  cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
  cr_assert_lt(moved, 12, "%zu messages", moved);
  link_close(&l);
  tnode_close(&a), tnode_close(&b), tnode_close(&c);
}

/* A transport like net/peer.c's, small: writable below QMAX queued
 * messages (its high-water mark), and a send beyond QHARD (its hard
 * limit: room for acknowledgements) is the "output queue full" failure
 * that cut sessions of a node with many feeds. */
#define QMAX 2
#define QHARD (QMAX + 1) /* below the 4 pages of the VV */
static gs_err q_send_bounded(void *ctx, const uint8_t *m, size_t n)
{
  queue *q = ctx;
  if (q->n >= QHARD)
    return GS_ETOOBIG;
  return q_send(ctx, m, n);
}

static bool q_writable(void *ctx)
{
  return ((queue *)ctx)->n < QMAX;
}

Test(sync, many_feeds_sync_through_a_small_output_queue, .timeout = 240)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* more VV pages than the queue holds, within one member's feed quota */
  size_t nfeeds = 3 * NET_VV_PAGE + 3;
  cr_assert_lt(nfeeds, STORE_MEMBER_FEEDS_MAX);
  store_write *w;
  cr_assert_eq(store_write_begin(a.st, a.sk, &w), GS_OK);
  for (size_t i = 0; i < nfeeds; i++) {
    char scope[32];
    snprintf(scope, sizeof scope, "s/c/f%zu", i);
    crdt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CRDT_OP_SET;
    op.coll = "x_t";
    op.coll_len = 3;
    memset(op.id, 7, CRDT_ID_LEN);
    op.id[0] = (uint8_t)i, op.id[1] = (uint8_t)(i >> 8);
    op.field = "n";
    op.field_len = 1;
    op.value.type = CRDT_INT;
    op.value.u.i = (int64_t)i;
    cr_assert_eq(store_write_change(w, scope, strlen(scope), &op, 1,
                                    a.clock++, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
  link l;
  memset(&l, 0, sizeof l);
  net_sync_io ia = {.send = q_send_bounded, .writable = q_writable,
                    .ctx = &l.qa},
              ib = {.send = q_send_bounded, .writable = q_writable,
                    .ctx = &l.qb};
  cr_assert_eq(net_sync_new(a.st, &ia, &l.a), GS_OK);
  cr_assert_eq(net_sync_new(b.st, &ib, &l.b), GS_OK);
  cr_assert_eq(net_sync_start(l.a), GS_OK);
  cr_assert_eq(net_sync_start(l.b), GS_OK);
  /* deliver one message at a time; a drained queue pumps its sender */
  for (int rounds = 0; rounds < 100000; rounds++) {
    size_t moved = link_run(&l, 2);
    cr_assert_eq(l.err_a, GS_OK, "%s", l.why_a);
    cr_assert_eq(l.err_b, GS_OK, "%s", l.why_b);
    cr_assert_eq(net_sync_pump(l.a), GS_OK);
    cr_assert_eq(net_sync_pump(l.b), GS_OK);
    if (!moved && !l.qa.head && !l.qb.head)
      break;
  }
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  cr_assert_leq(l.qa.max_n, QHARD);
  cr_assert_eq(nchanges(&b), nfeeds, "%zu of %zu (a holds %zu)", nchanges(&b),
               nfeeds, nchanges(&a));
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* ---- the version vector's digest first (issue 20) ---- */

static void many_feeds(tnode *t, size_t nfeeds)
{
  store_write *w;
  cr_assert_eq(store_write_begin(t->st, t->sk, &w), GS_OK);
  for (size_t i = 0; i < nfeeds; i++) {
    char scope[32];
    snprintf(scope, sizeof scope, "s/f%04zu", i);
    crdt_op op;
    memset(&op, 0, sizeof op);
    op.kind = CRDT_OP_SET;
    op.coll = "resident";
    op.coll_len = 8;
    memset(op.id, 9, CRDT_ID_LEN);
    op.id[15] = (uint8_t)i, op.id[14] = (uint8_t)(i >> 8);
    op.field = "name";
    op.field_len = 4;
    op.value.type = CRDT_INT;
    op.value.u.i = (int64_t)i;
    cr_assert_eq(store_write_change(w, scope, strlen(scope), &op, 1,
                                    t->clock++, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
}

Test(sync, synced_nodes_with_a_thousand_feeds_meet_in_one_round_trip)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  many_feeds(&a, 1001);
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert(!net_sync_get_stats(l.b)->vv_equal);
  link_close(&l);
  /* synced: they meet again */
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  for (int side = 0; side < 2; side++) {
    const net_sync_stats *st = net_sync_get_stats(side ? l.b : l.a);
    cr_assert(st->vv_equal);
    cr_assert_eq(st->msgs_out, 3,
                 "the PING (ranges spoken), the digest and DONE, nothing more");
    cr_assert_lt(st->sent_bytes + st->recv_bytes, 300, "%" PRIu64 " bytes",
                 st->sent_bytes + st->recv_bytes);
    cr_assert_eq(st->sent_changes, 0);
  }
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  link_close(&l);
  /* one new change on a: the digests differ, it travels, nothing else */
  write_changes(&a, "s/f0007", 1, 1, 0x77, "新");
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert(!net_sync_get_stats(l.b)->vv_equal);
  cr_assert_eq(net_sync_get_stats(l.b)->recv_changes, 1);
  cr_assert_eq(net_sync_get_stats(l.a)->recv_changes, 0);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(sync, a_peer_that_sends_no_digest_gets_the_whole_vector)
{
  tnode a;
  tnode_open(&a);
  many_feeds(&a, 5);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  char why[200];
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  cr_assert_eq(q.n, 2, "the PING and the digest");
  /* a node of protocol 3: its whole (empty) vector at once */
  uint8_t *vm;
  size_t vn;
  cr_assert_eq(net_msg_vv(NULL, 0, false, &vm, &vn), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, vm, vn, why, sizeof why), GS_OK, "%s", why);
  free(vm);
  free(q_pop(&q)); /* the PING */
  free(q_pop(&q)); /* the digest */
  size_t feeds = 0, changes = 0;
  bool vv_done = false;
  for (qmsg *e = q.head; e; e = e->next) {
    net_msg m;
    cr_assert_eq(net_msg_decode(e->data, e->n, &m), GS_OK);
    if (m.type == NET_MSG_VV) {
      cr_assert(!vv_done);
      feeds += m.u.vv.n;
      vv_done = !m.u.vv.more;
    } else if (m.type == NET_MSG_CHANGES || m.type == NET_MSG_PACKED ||
               m.type == NET_MSG_FRAMES) {
      cr_assert(vv_done, "changes before the vector was complete");
      changes++;
    }
    net_msg_free(&m);
  }
  cr_assert(vv_done);
  cr_assert_eq(feeds, 5);
  cr_assert_geq(changes, 1, "it lacks everything: it gets it");
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&a);
}

/* ---- reconciliation by ranges when the digests differ (issue 20) ---- */

static size_t link_bytes(link *l)
{
  return (size_t)(net_sync_get_stats(l->a)->recv_bytes +
                  net_sync_get_stats(l->b)->recv_bytes);
}

Test(sync, differing_digests_are_reconciled_by_ranges_not_whole_vectors)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  many_feeds(&a, 3000);
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  link_close(&l);
  /* one new change on each side, of different feeds */
  write_changes(&a, "s/f0007", 1, 1, 0x77, "新");
  write_changes(&b, "s/f2999", 1, 1, 0x78, "另");
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  const net_sync_stats *sa = net_sync_get_stats(l.a),
                       *sb = net_sync_get_stats(l.b);
  cr_assert(!sa->vv_equal && !sb->vv_equal);
  cr_assert_gt(sa->recon_rounds, 0, "reconciled by ranges");
  cr_assert(!sa->recon_fell_back && !sb->recon_fell_back);
  cr_assert_eq(sa->recv_changes, 1);
  cr_assert_eq(sb->recv_changes, 1);
  size_t bytes = link_bytes(&l);
  /* the whole vectors: 2 x 3001 feeds x ~58 bytes = ~350 KB */
  fprintf(stderr,
          "sync: 3001 feeds, one edit on each side: %zu bytes of messages, "
          "%u rounds of ranges\n",
          bytes, sa->recon_rounds);
  cr_assert_lt(bytes, 6000, "%zu bytes", bytes);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* Frames on the wire add a 4-byte length and a 16-byte AEAD tag to each
 * message (net/peer.h). */
#define FRAME_COST 20

Test(sync, one_edit_on_an_established_session_is_one_changes_and_its_ack)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  many_feeds(&a, 1000);
  link l;
  link_open(&l, &a, &b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  /* live: an edit on a, the session looks (net_sync_poll) */
  size_t bytes0 = link_bytes(&l);
  uint64_t in0 = net_sync_get_stats(l.a)->msgs_in +
                 net_sync_get_stats(l.b)->msgs_in;
  uint64_t got0 = net_sync_get_stats(l.b)->recv_changes;
  write_changes(&a, "s/f0500", 1, 1, 0x55, "王阿姨");
  cr_assert_eq(net_sync_poll(l.a), GS_OK);
  cr_assert_eq(net_sync_poll(l.b), GS_OK);
  link_run(&l, 0);
  cr_assert_eq(net_sync_poll(l.b), GS_OK); /* b sends nothing back */
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  uint64_t msgs = net_sync_get_stats(l.a)->msgs_in +
                  net_sync_get_stats(l.b)->msgs_in - in0;
  size_t bytes = link_bytes(&l) - bytes0;
  fprintf(stderr,
          "sync: one edit on a live session: %" PRIu64
          " messages, %zu bytes (%zu with framing)\n",
          msgs, bytes, bytes + (size_t)msgs * FRAME_COST);
  cr_assert_eq(msgs, 2, "one CHANGES and its ACK, no vector");
  cr_assert_leq(bytes + msgs * FRAME_COST, 300, "%zu bytes",
                bytes + (size_t)msgs * FRAME_COST);
  cr_assert_eq(net_sync_get_stats(l.b)->recv_changes - got0, 1);
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

static void send_to(net_sync *s, uint8_t *m, size_t n, gs_err want,
                    const char *why_part)
{
  char why[200];
  gs_err err = net_sync_on_msg(s, m, n, why, sizeof why);
  free(m);
  cr_assert_eq(err, want, "%s", why);
  if (why_part)
    cr_assert(strstr(why, why_part), "%s", why);
}

Test(sync, ranges_outside_a_reconciliation_are_refused)
{
  tnode a;
  tnode_open(&a);
  many_feeds(&a, 5);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  net_bound lo = {.inf = false}, hi = {.inf = true};
  memset(lo.v, 0, sizeof lo.v);
  net_range g = {.hi = hi, .mode = NET_RANGE_FP, .count = 3};
  uint8_t *m;
  size_t n;
  /* before any digest */
  cr_assert_eq(net_msg_ranges(&lo, &g, 1, false, &m, &n), GS_OK);
  send_to(s, m, n, GS_EPROTO, "ranges outside a reconciliation");
  net_sync_free(s);
  /* a peer that did not say it speaks ranges, digest differing: the
   * whole vector goes, and ranges are refused */
  q_clear(&q);
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  net_vv_entry de = {.seq = 0, .has_head = true};
  cr_assert_eq(net_msg_vv(&de, 1, true, &m, &n), GS_OK);
  send_to(s, m, n, GS_OK, NULL);
  cr_assert_eq(net_msg_ranges(&lo, &g, 1, false, &m, &n), GS_OK);
  send_to(s, m, n, GS_EPROTO, "ranges outside a reconciliation");
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&a);
}

Test(sync, a_peer_that_gives_up_the_reconciliation_gets_the_whole_vector)
{
  tnode a;
  tnode_open(&a);
  many_feeds(&a, 40);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q};
  net_sync *s;
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  /* the peer speaks ranges; its digest (all 0xff: above any, so a
   * opens) differs */
  uint8_t *m;
  size_t n;
  cr_assert_eq(net_msg_ping(false, NET_RECON_NONCE, &m, &n), GS_OK);
  send_to(s, m, n, GS_OK, NULL);
  net_vv_entry de = {.seq = 1, .has_head = true};
  memset(de.head, 0xff, sizeof de.head);
  cr_assert_eq(net_msg_vv(&de, 1, true, &m, &n), GS_OK);
  send_to(s, m, n, GS_OK, NULL);
  q_clear(&q);
  /* a opened the reconciliation; the peer answers with its whole (empty)
   * vector instead */
  cr_assert_eq(net_msg_vv(NULL, 0, false, &m, &n), GS_OK);
  send_to(s, m, n, GS_OK, NULL);
  size_t feeds = 0, changes = 0;
  bool vv_done = false;
  for (qmsg *e = q.head; e; e = e->next) {
    net_msg d;
    cr_assert_eq(net_msg_decode(e->data, e->n, &d), GS_OK);
    cr_assert_neq(d.type, NET_MSG_RANGES);
    if (d.type == NET_MSG_VV) {
      feeds += d.u.vv.n;
      vv_done = !d.u.vv.more;
    } else if (d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED ||
              d.type == NET_MSG_FRAMES) {
      cr_assert(vv_done);
      changes++;
    }
    net_msg_free(&d);
  }
  cr_assert(vv_done);
  cr_assert_eq(feeds, 40);
  cr_assert_geq(changes, 1);
  cr_assert(net_sync_get_stats(s)->recon_fell_back);
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&a);
}
