/*
 * FRAMES (issue 20): a cold sync's sender sends each change as its store
 * keeps it (one zstd frame, or the change itself), neither unpacked nor
 * packed again; the receiver checks the sizes the frames say against
 * CHANGES' bounds before it unpacks anything. A peer that does not ask
 * gets PACKED or CHANGES as before.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "net/msg.h"
#include "net/sync.h"
#include "storage/store.h"

#include "tests/unit/net/sync_test_util.h"

static void frames_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(frames, .init = frames_init, .timeout = 120);

typedef struct flink {
  net_sync *a, *b;
  queue qa, qb;
  gs_err err_a, err_b;
  char why_a[200], why_b[200];
  /* what a sent b, by type */
  size_t frames, packed, changes, framed_items, zstd_items;
  bool drop_frames_ping; /* b's PING asking for FRAMES never reaches a */
  bool ping_dropped;
} flink;

static void flink_open(flink *l, tnode *a, tnode *b)
{
  memset(l, 0, sizeof *l);
  net_sync_io ia = {.send = q_send, .ctx = &l->qa, .group = true},
              ib = {.send = q_send, .ctx = &l->qb, .group = true};
  cr_assert_eq(net_sync_new(a->st, &ia, &l->a), GS_OK);
  cr_assert_eq(net_sync_new(b->st, &ib, &l->b), GS_OK);
  cr_assert_eq(net_sync_start(l->a), GS_OK);
  cr_assert_eq(net_sync_start(l->b), GS_OK);
}

static bool is_zstd(const net_bytes *b)
{
  static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
  return b->n >= 4 && memcmp(b->p, magic, 4) == 0;
}

/* Until quiet; each side flushes its group once the other is quiet. */
static void flink_run(flink *l)
{
  while (!l->err_a && !l->err_b) {
    qmsg *m;
    bool moved = false;
    while (!l->err_b && (m = q_pop(&l->qa))) {
      net_msg d;
      cr_assert_eq(net_msg_decode(m->data, m->n, &d), GS_OK);
      l->frames += d.type == NET_MSG_FRAMES;
      l->packed += d.type == NET_MSG_PACKED;
      l->changes += d.type == NET_MSG_CHANGES;
      if (d.type == NET_MSG_FRAMES)
        for (size_t i = 0; i < d.u.changes.n; i++) {
          l->framed_items++;
          l->zstd_items += is_zstd(&d.u.changes.changes[i]);
        }
      net_msg_free(&d);
      l->err_b = net_sync_on_msg(l->b, m->data, m->n, l->why_b,
                                 sizeof l->why_b);
      free(m);
      moved = true;
    }
    if (!l->err_b && net_sync_pending(l->b))
      l->err_b = net_sync_flush(l->b, l->why_b, sizeof l->why_b);
    while (!l->err_a && !l->err_b && (m = q_pop(&l->qb))) {
      net_msg d;
      cr_assert_eq(net_msg_decode(m->data, m->n, &d), GS_OK);
      bool drop = l->drop_frames_ping && d.type == NET_MSG_PING &&
                  d.u.nonce == NET_FRAMES_NONCE;
      net_msg_free(&d);
      if (drop)
        l->ping_dropped = true;
      else
        l->err_a = net_sync_on_msg(l->a, m->data, m->n, l->why_a,
                                   sizeof l->why_a);
      free(m);
      moved = true;
    }
    if (!l->err_a && net_sync_pending(l->a))
      l->err_a = net_sync_flush(l->a, l->why_a, sizeof l->why_a);
    if (!moved)
      break;
  }
}

static void flink_close(flink *l)
{
  net_sync_free(l->a);
  net_sync_free(l->b);
  q_clear(&l->qa);
  q_clear(&l->qb);
}

typedef struct kept_cmp {
  store *st;
  uint8_t feed[CRDT_FEED_LEN];
  size_t n, packed;
} kept_cmp;

typedef struct raw_one {
  uint8_t *p;
  size_t n;
} raw_one;

static int on_raw_one(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  raw_one *r = ctx;
  (void)seq;
  r->p = malloc(n);
  cr_assert_not_null(r->p);
  memcpy(r->p, b, n);
  r->n = n;
  return 1;
}

/* Each kept change unpacks to exactly what store_feed_read gives. */
static int on_kept_cmp(void *ctx, uint64_t seq, const uint8_t *kept, size_t n,
                       size_t raw_len)
{
  kept_cmp *k = ctx;
  net_bytes b = {kept, n};
  uint8_t *copy = malloc(n);
  cr_assert_not_null(copy);
  memcpy(copy, kept, n); /* the store's buffers are reused by the read */
  raw_one r = {0};
  cr_assert_eq(store_feed_read(k->st, k->feed, seq, seq, on_raw_one, &r),
               GS_OK);
  cr_assert_eq(r.n, raw_len, "the size it says is the change's");
  if (is_zstd(&b)) {
    uint8_t *out = malloc(raw_len);
    cr_assert_not_null(out);
    size_t got = ZSTD_decompress(out, raw_len, copy, n);
    cr_assert(!ZSTD_isError(got) && got == raw_len);
    cr_assert_eq(memcmp(out, r.p, raw_len), 0);
    free(out);
    k->packed++;
  } else {
    cr_assert_eq(n, raw_len);
    cr_assert_eq(memcmp(copy, r.p, n), 0);
  }
  free(copy);
  free(r.p);
  k->n++;
  return 0;
}

typedef struct feed_list {
  store_feed f[16];
  size_t n;
} feed_list;

static int on_feed_list(void *ctx, const store_feed *feed)
{
  feed_list *l = ctx;
  cr_assert_lt(l->n, 16);
  l->f[l->n++] = *feed;
  return 0;
}

typedef struct feed_cmp {
  store *other;
  const uint8_t *feed;
  size_t n;
} feed_cmp;

static int on_raw_cmp(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  feed_cmp *f = ctx;
  uint8_t *copy = malloc(n);
  cr_assert_not_null(copy);
  memcpy(copy, b, n); /* the store's buffer is reused by the next read */
  raw_one r = {0};
  cr_assert_eq(store_feed_read(f->other, f->feed, seq, seq, on_raw_one, &r),
               GS_OK);
  cr_assert_eq(r.n, n, "change %llu differs", (unsigned long long)seq);
  cr_assert_eq(memcmp(r.p, copy, n), 0);
  free(r.p);
  free(copy);
  f->n++;
  return 0;
}

/* Every change a holds, b holds and reads back (unpacked) the same. */
static void same_changes(tnode *a, tnode *b)
{
  feed_list l = {.n = 0};
  size_t n = 0;
  cr_assert_eq(store_feeds(a->st, on_feed_list, &l), GS_OK);
  for (size_t i = 0; i < l.n; i++) {
    feed_cmp f = {b->st, l.f[i].feed, 0};
    cr_assert_eq(store_feed_read(a->st, l.f[i].feed, 1, UINT64_MAX,
                                 on_raw_cmp, &f),
                 GS_OK);
    cr_assert_eq(f.n, l.f[i].seq);
    n += f.n;
  }
  cr_assert_eq(n, nchanges(a));
}

static int on_first_feed(void *ctx, const store_feed *f)
{
  kept_cmp *k = ctx;
  memcpy(k->feed, f->feed, CRDT_FEED_LEN);
  return 1;
}

Test(frames, the_changes_go_as_kept_and_the_receiver_ends_equal)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* big changes (packed in the store) and small ones (kept raw) */
  write_changes(&a, "s/c/g01", 400, 40, 0x31, "一位住在七号楼的老人");
  write_changes(&a, "s/c/g02", 30, 1, 0x32, "x");
  size_t total = nchanges(&a);

  /* what the store keeps, read without unpacking */
  kept_cmp k = {.st = a.st};
  cr_assert_eq(store_feeds(a.st, on_first_feed, &k), GS_OK);
  cr_assert_eq(store_feed_read_kept(a.st, k.feed, 1, UINT64_MAX, on_kept_cmp,
                                    &k),
               GS_OK);
  cr_assert_gt(k.n, 0);

  flink l;
  flink_open(&l, &a, &b);
  flink_run(&l);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_gt(l.frames, 1, "the changes went as FRAMES");
  cr_assert_eq(l.packed + l.changes, 0, "and only so");
  cr_assert_eq(l.framed_items, total);
  cr_assert_gt(l.zstd_items, 0, "packed changes went packed");
  cr_assert_lt(l.zstd_items, total, "small ones went as they are");
  cr_assert_eq(nchanges(&b), total);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0, "the same state both sides");
  same_changes(&a, &b); /* the frames kept as they came unpack right */
  cr_assert(net_sync_caught_up(l.a) && net_sync_caught_up(l.b));
  flink_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(frames, a_peer_that_does_not_ask_gets_packed_changes)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 200, 40, 0x41, "一位住在七号楼的老人");
  size_t total = nchanges(&a);
  flink l;
  flink_open(&l, &a, &b);
  l.drop_frames_ping = true; /* b is a node of before FRAMES */
  flink_run(&l);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert(l.ping_dropped);
  cr_assert_eq(l.frames, 0, "no FRAMES to a peer that did not ask");
  cr_assert_gt(l.packed + l.changes, 0);
  cr_assert_eq(nchanges(&b), total);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  same_changes(&a, &b);
  flink_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* A zstd frame of one RLE block: says it holds `says` bytes and holds
 * `holds` bytes of 'x'; out needs 13 bytes. */
static size_t rle_frame(uint8_t *out, uint32_t says, uint32_t holds)
{
  size_t n = 0;
  out[n++] = 0x28, out[n++] = 0xb5, out[n++] = 0x2f, out[n++] = 0xfd;
  out[n++] = 0xa0; /* content size in 4 bytes, single segment */
  for (int i = 0; i < 4; i++)
    out[n++] = (uint8_t)(says >> (8 * i));
  uint32_t bh = 1u | (1u << 1) | (holds << 3); /* last, RLE, size */
  out[n++] = (uint8_t)bh, out[n++] = (uint8_t)(bh >> 8);
  out[n++] = (uint8_t)(bh >> 16);
  out[n++] = 'x';
  return n;
}

/* FRAMES of the n items, decoded and unframed: the error. inner borrows
 * from the message, kept until the next call. */
static gs_err unframe(net_unframer *u, const net_bytes *items, size_t n,
                      net_msg *inner)
{
  static uint8_t *buf;
  size_t len;
  free(buf);
  buf = NULL;
  if (!u)
    return GS_OK;
  net_msg m;
  cr_assert_eq(net_msg_frames(items, n, &buf, &len), GS_OK);
  cr_assert_eq(net_msg_decode(buf, len, &m), GS_OK);
  cr_assert_eq(m.type, NET_MSG_FRAMES);
  gs_err err = net_msg_unframe(u, &m, inner);
  net_msg_free(&m);
  return err;
}

Test(frames, hostile_frames_are_refused_before_unpacking)
{
  net_unframer *u;
  cr_assert_eq(net_unframer_new(&u), GS_OK);
  net_msg inner;
  uint8_t f[1024][13];
  net_bytes items[1024];

  /* a good one, with a change kept as it is beside it */
  static const uint8_t raw[] = {0x93, 0x01, 0x02, 0x03};
  items[0] = (net_bytes){f[0], rle_frame(f[0], 3000, 3000)};
  items[1] = (net_bytes){raw, sizeof raw};
  cr_assert_eq(unframe(u, items, 2, &inner), GS_OK);
  cr_assert_eq(inner.type, NET_MSG_CHANGES);
  cr_assert_eq(inner.u.changes.n, 2);
  cr_assert_eq(inner.u.changes.changes[0].n, 3000);
  cr_assert_eq(inner.u.changes.changes[0].p[2999], 'x');
  cr_assert_eq(inner.u.changes.changes[1].n, sizeof raw);
  cr_assert_eq(memcmp(inner.u.changes.changes[1].p, raw, sizeof raw), 0);
  net_msg_free(&inner);

  /* a bomb: 1,024 frames of 13 bytes saying 60,000 each (61 MB) */
  for (size_t i = 0; i < 1024; i++)
    items[i] = (net_bytes){f[i], rle_frame(f[i], 60000, 60000)};
  cr_assert_eq(unframe(u, items, 1024, &inner), GS_ETOOBIG);
  /* two of them are already past one message */
  cr_assert_eq(unframe(u, items, 2, &inner), GS_ETOOBIG);
  /* one change past CRDT_CHANGE_MAX */
  items[0].n = rle_frame(f[0], CRDT_CHANGE_MAX + 1, CRDT_CHANGE_MAX + 1);
  cr_assert_eq(unframe(u, items, 1, &inner), GS_ETOOBIG);
  /* the sizes are checked before anything is unpacked: a frame that says
   * too much is refused as too big even when its body is garbage */
  items[0].n = rle_frame(f[0], 70000, 70000);
  f[0][10] ^= 0xff;
  cr_assert_eq(unframe(u, items, 1, &inner), GS_ETOOBIG);
  /* a frame that holds more than it says, or less */
  items[0].n = rle_frame(f[0], 100, 200);
  cr_assert_eq(unframe(u, items, 1, &inner), GS_EDECODE);
  items[0].n = rle_frame(f[0], 200, 100);
  cr_assert_eq(unframe(u, items, 1, &inner), GS_EDECODE);
  /* two frames in one change */
  uint8_t two[26];
  size_t n1 = rle_frame(two, 100, 100);
  size_t n2 = rle_frame(two + n1, 100, 100);
  items[0] = (net_bytes){two, n1 + n2};
  cr_assert_eq(unframe(u, items, 1, &inner), GS_EDECODE);
  /* cut short */
  items[0] = (net_bytes){two, n1 - 2};
  cr_assert_eq(unframe(u, items, 1, &inner), GS_EDECODE);
  /* a frame that does not say its size */
  uint8_t nosize[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48, 0x0b, 0x00, 0x00,
                      'x'}; /* window descriptor, RLE block of 1 */
  items[0] = (net_bytes){nosize, sizeof nosize};
  cr_assert_eq(unframe(u, items, 1, &inner), GS_EDECODE);
  net_unframer_free(u);
  unframe(NULL, NULL, 0, NULL); /* frees the last message */
}

Test(frames, a_frames_bomb_closes_the_session_and_stores_nothing)
{
  tnode b;
  tnode_open(&b);
  size_t before = nchanges(&b);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q, .group = true};
  net_sync *s;
  cr_assert_eq(net_sync_new(b.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  uint8_t f[1024][13];
  net_bytes items[1024];
  for (size_t i = 0; i < 1024; i++)
    items[i] = (net_bytes){f[i], rle_frame(f[i], 60000, 60000)};
  uint8_t *buf;
  size_t len;
  cr_assert_eq(net_msg_frames(items, 1024, &buf, &len), GS_OK);
  char why[200];
  cr_assert_eq(net_sync_on_msg(s, buf, len, why, sizeof why), GS_ETOOBIG);
  cr_assert(strstr(why, "framed changes"), "%s", why);
  free(buf);
  /* a frame of garbage that says a modest size: refused as well */
  items[0].n = rle_frame(f[0], 500, 500);
  f[0][13 - 1] = 'y';
  f[0][9] ^= 0x06; /* the block is now a compressed one, of garbage */
  cr_assert_eq(net_msg_frames(items, 1, &buf, &len), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, buf, len, why, sizeof why), GS_EDECODE);
  free(buf);
  cr_assert(!net_sync_pending(s));
  cr_assert_eq(nchanges(&b), before, "nothing stored");
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&b);
}

typedef struct kept_one {
  uint8_t *p;
  size_t n, raw_len;
} kept_one;

static int on_kept_one(void *ctx, uint64_t seq, const uint8_t *kept, size_t n,
                       size_t raw_len)
{
  kept_one *k = ctx;
  (void)seq;
  k->p = malloc(n);
  cr_assert_not_null(k->p);
  memcpy(k->p, kept, n);
  k->n = n;
  k->raw_len = raw_len;
  return 1;
}

Test(frames, a_received_frame_is_stored_as_it_came)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 3, 40, 0x51, "一位住在七号楼的老人");
  feed_list l = {.n = 0};
  cr_assert_eq(store_feeds(a.st, on_feed_list, &l), GS_OK);
  cr_assert_eq(l.n, 1);
  /* the changes packed otherwise than the store packs them (level 19,
   * with a checksum): b keeps those very frames, which unpack right */
  net_bytes items[3];
  uint8_t *z[3];
  raw_one raw[3];
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  cr_assert_not_null(cc);
  cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel,
                                                 19)));
  cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag,
                                                 1)));
  for (int i = 0; i < 3; i++) {
    raw[i].p = NULL;
    cr_assert_eq(store_feed_read(a.st, l.f[0].feed, (uint64_t)i + 1,
                                 (uint64_t)i + 1, on_raw_one, &raw[i]),
                 GS_OK);
    size_t cap = ZSTD_compressBound(raw[i].n);
    z[i] = malloc(cap);
    cr_assert_not_null(z[i]);
    size_t zn = ZSTD_compress2(cc, z[i], cap, raw[i].p, raw[i].n);
    cr_assert(!ZSTD_isError(zn) && zn + 16 <= raw[i].n);
    items[i] = (net_bytes){z[i], zn};
  }
  ZSTD_freeCCtx(cc);
  /* the middle one goes as it is */
  items[1] = (net_bytes){raw[1].p, raw[1].n};
  uint8_t *buf;
  size_t len;
  cr_assert_eq(net_msg_frames(items, 3, &buf, &len), GS_OK);
  queue q = {0};
  net_sync_io io = {.send = q_send, .ctx = &q, .group = true};
  net_sync *s;
  char why[200];
  cr_assert_eq(net_sync_new(b.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_on_msg(s, buf, len, why, sizeof why), GS_OK, "%s",
               why);
  free(buf);
  cr_assert_eq(nchanges(&b), 0, "nothing before the group's commit");
  cr_assert_eq(net_sync_flush(s, why, sizeof why), GS_OK, "%s", why);
  cr_assert_eq(nchanges(&b), 3);
  for (int i = 0; i < 3; i++) {
    kept_one k = {0};
    cr_assert_eq(store_feed_read_kept(b.st, l.f[0].feed, (uint64_t)i + 1,
                                      (uint64_t)i + 1, on_kept_one, &k),
                 GS_OK);
    cr_assert_eq(k.raw_len, raw[i].n);
    if (i == 1) { /* packed by b itself, at the store's level */
      cr_assert_lt(k.n, raw[i].n);
    } else {
      cr_assert_eq(k.n, items[i].n, "kept as it came");
      cr_assert_eq(memcmp(k.p, items[i].p, k.n), 0);
    }
    free(k.p);
  }
  same_changes(&a, &b);
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  for (int i = 0; i < 3; i++) {
    free(z[i]);
    free(raw[i].p);
  }
  net_sync_free(s);
  q_clear(&q);
  tnode_close(&a), tnode_close(&b);
}
