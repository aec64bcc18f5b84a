/*
 * Reconciliation of version vectors by ranges (net/recon.h, issue 20):
 * a single difference among 1,000,000 entries, random differences
 * against a naive set difference (fixed seed), and hostile RANGES
 * messages (oversized, unsorted, overlapping, out of turn, too deep).
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/recon.h"

static void recon_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(recon, .init = recon_init, .timeout = 300);

/* ---- a fixed-seed generator ---- */

static uint64_t rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void rng_bytes(uint64_t *s, uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng_next(s);
    memcpy(p + i, &v, n - i < 8 ? n - i : 8);
  }
}

static int entry_cmp(const void *a, const void *b)
{
  return memcmp(((const net_vv_entry *)a)->feed,
                ((const net_vv_entry *)b)->feed, CRDT_FEED_LEN);
}

static void random_entry(uint64_t *s, net_vv_entry *e)
{
  memset(e, 0, sizeof *e);
  rng_bytes(s, e->feed, CRDT_FEED_LEN);
  e->seq = 1 + rng_next(s) % 5000;
  e->has_head = true;
  rng_bytes(s, e->head, CRDT_HASH_LEN);
}

/* ---- one side: its entries and what it learned of the peer's ---- */

typedef struct side {
  net_vv_entry *e; /* sorted */
  size_t n;
  net_vv_entry *learned; /* per own entry: the peer's, seq 0 unknown/lacks */
  bool *known;
  recon *r;
} side;

static size_t find(const side *sd, const uint8_t *feed)
{
  size_t lo = 0, hi = sd->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = memcmp(sd->e[mid].feed, feed, CRDT_FEED_LEN);
    if (c == 0)
      return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return SIZE_MAX;
}

static gs_err learn(side *sd, const net_vv_entry *e, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    size_t k = find(sd, e[i].feed);
    if (k == SIZE_MAX)
      continue; /* a feed we do not hold */
    sd->learned[k] = e[i];
    sd->known[k] = true;
  }
  return GS_OK;
}

static gs_err on_theirs(void *ctx, const net_vv_entry *e, size_t n)
{
  return learn(ctx, e, n);
}

static gs_err on_same(void *ctx, const net_vv_entry *e, size_t n)
{
  side *sd = ctx;
  /* our own entries: they must be ours */
  for (size_t i = 0; i < n; i++) {
    size_t k = find(sd, e[i].feed);
    cr_assert_neq(k, SIZE_MAX, "same() with a feed we do not hold");
    cr_assert_eq(sd->e[k].seq, e[i].seq);
  }
  return learn(sd, e, n);
}

static void side_open(side *sd, const net_vv_entry *e, size_t n,
                      bool initiator)
{
  sd->n = n;
  sd->e = malloc((n ? n : 1) * sizeof *sd->e);
  cr_assert_not_null(sd->e);
  memcpy(sd->e, e, n * sizeof *e);
  sd->learned = calloc(n ? n : 1, sizeof *sd->learned);
  sd->known = calloc(n ? n : 1, sizeof *sd->known);
  net_vv_entry *copy = malloc((n ? n : 1) * sizeof *copy);
  cr_assert(sd->learned && sd->known && copy);
  memcpy(copy, e, n * sizeof *e);
  cr_assert_eq(recon_new(copy, n, initiator, &sd->r), GS_OK);
}

static void side_close(side *sd)
{
  recon_free(sd->r);
  free(sd->e);
  free(sd->learned);
  free(sd->known);
}

/* Messages of one round, kept encoded. */
typedef struct wire {
  uint8_t *m[4096];
  size_t len[4096];
  size_t n, bytes, msgs;
} wire;

static gs_err wire_send(void *ctx, const uint8_t *msg, size_t n)
{
  wire *w = ctx;
  cr_assert_lt(w->n, 4096);
  cr_assert_leq(n, NET_MSG_MAX);
  w->m[w->n] = malloc(n);
  memcpy(w->m[w->n], msg, n);
  w->len[w->n++] = n;
  w->bytes += n;
  w->msgs++;
  return GS_OK;
}

/* Run the reconciliation to its end; returns false on a fallback. */
static bool reconcile(side *a, side *b, size_t *bytes, unsigned *rounds)
{
  wire w = {.n = 0, .bytes = 0, .msgs = 0};
  side *from = a, *to = b;
  recon_sink sa = {on_theirs, on_same, a}, sb = {on_theirs, on_same, b};
  for (int guard = 0; guard < 64; guard++) {
    if (recon_done(a->r) && recon_done(b->r))
      break;
    if (recon_fallback(from->r))
      return false;
    cr_assert(recon_our_turn(from->r), "round %d: nobody's turn", guard);
    w.n = 0;
    cr_assert_eq(recon_take(from->r, wire_send, &w), GS_OK);
    for (size_t i = 0; i < w.n; i++) {
      net_msg m;
      char why[200];
      cr_assert_eq(net_msg_decode(w.m[i], w.len[i], &m), GS_OK);
      cr_assert_eq(m.type, NET_MSG_RANGES);
      cr_assert_eq(recon_on_msg(to->r, &m, to == a ? &sa : &sb, why,
                                sizeof why),
                   GS_OK, "%s", why);
      net_msg_free(&m);
      free(w.m[i]);
    }
    side *t = from;
    from = to;
    to = t;
  }
  cr_assert(recon_done(a->r) && recon_done(b->r), "did not end");
  *bytes = w.bytes;
  *rounds = recon_get_stats(a->r)->rounds;
  cr_assert_eq(recon_get_stats(b->r)->rounds, *rounds);
  return true;
}

/* Every entry a side holds: it knows the peer's entry for it exactly (or
 * that the peer lacks it). */
static void check_knows(const side *me, const side *peer)
{
  for (size_t k = 0; k < me->n; k++) {
    size_t j = find(peer, me->e[k].feed);
    if (j == SIZE_MAX) {
      cr_assert(!me->known[k] || me->learned[k].seq == 0,
                "entry %zu: the peer lacks it, learned seq %" PRIu64, k,
                me->learned[k].seq);
      continue;
    }
    cr_assert(me->known[k], "entry %zu of %zu: the peer's not learned", k,
              me->n);
    cr_assert_eq(me->learned[k].seq, peer->e[j].seq, "entry %zu", k);
    /* the head, wherever it tells a fork (the peer's seq at most ours) */
    if (me->learned[k].has_head)
      cr_assert_eq(memcmp(me->learned[k].head, peer->e[j].head,
                          CRDT_HASH_LEN),
                   0, "entry %zu: head", k);
    else
      cr_assert_gt(me->learned[k].seq, me->e[k].seq, "entry %zu: no head", k);
  }
}

Test(recon, a_single_difference_among_a_million_is_found)
{
  size_t n = 1000000;
  uint64_t seed = 20;
  net_vv_entry *e = malloc(n * sizeof *e);
  cr_assert_not_null(e);
  for (size_t i = 0; i < n; i++)
    random_entry(&seed, &e[i]);
  qsort(e, n, sizeof *e, entry_cmp);
  side a, b;
  side_open(&a, e, n, true);
  size_t diff = 612345;
  e[diff].seq++; /* b holds one more change of one feed */
  e[diff].head[0] ^= 1;
  side_open(&b, e, n, false);
  size_t bytes;
  unsigned rounds;
  cr_assert(reconcile(&a, &b, &bytes, &rounds), "fell back");
  /* every other entry was found the same, the one difference exactly */
  check_knows(&a, &b);
  check_knows(&b, &a);
  const recon_stats *sa = recon_get_stats(a.r), *sb = recon_get_stats(b.r);
  fprintf(stderr,
          "recon: one difference among %zu: %zu bytes of RANGES messages "
          "both ways, %u rounds, %" PRIu64 " ranges, %" PRIu64
          " entries sent\n",
          n, bytes, rounds, sa->ranges_out + sb->ranges_out,
          sa->items_out + sb->items_out);
  cr_assert_leq(rounds, 8, "%u rounds", rounds);
  cr_assert_lt(bytes, 8000, "%zu bytes", bytes);
  side_close(&a), side_close(&b);
  /* equal sets: one round each way, nothing learned but "the same" */
  e[diff].seq--;
  e[diff].head[0] ^= 1;
  side_open(&a, e, n, true);
  side_open(&b, e, n, false);
  cr_assert(reconcile(&a, &b, &bytes, &rounds));
  check_knows(&a, &b);
  check_knows(&b, &a);
  fprintf(stderr, "recon: two equal sets of %zu: %zu bytes, %u rounds\n", n,
          bytes, rounds);
  cr_assert_eq(rounds, 2);
  side_close(&a), side_close(&b);
  free(e);
}

/* Random sets, random differences of every kind, both sides checked
 * against the naive difference (a lookup of each entry in the other). */
Test(recon, random_differences_are_found_exactly)
{
  uint64_t seed = 4242;
  size_t fallbacks = 0;
  for (int trial = 0; trial < 300; trial++) {
    size_t base = rng_next(&seed) % (trial < 50 ? 40 : 6000);
    size_t cap = base + 200;
    net_vv_entry *x = calloc(cap, sizeof *x), *y = calloc(cap, sizeof *y);
    size_t nx = 0, ny = 0;
    unsigned pdiff = (unsigned)(rng_next(&seed) % 4); /* 0..3 % differ */
    for (size_t i = 0; i < base; i++) {
      net_vv_entry e;
      random_entry(&seed, &e);
      unsigned roll = (unsigned)(rng_next(&seed) % 100);
      if (roll >= pdiff * 4 || roll % 4 == 3) {
        x[nx++] = e;
        net_vv_entry f = e;
        if (roll < pdiff * 4) { /* roll % 4 == 3: another seq or head */
          if (rng_next(&seed) & 1)
            f.seq++;
          else
            f.head[5] ^= 0x40; /* a fork at equal length */
        }
        y[ny++] = f;
      } else if (roll % 4 == 0) {
        x[nx++] = e; /* only x */
      } else if (roll % 4 == 1) {
        y[ny++] = e; /* only y */
      } /* 2: neither (nothing) */
    }
    qsort(x, nx, sizeof *x, entry_cmp);
    qsort(y, ny, sizeof *y, entry_cmp);
    side a, b;
    bool init = trial & 1;
    side_open(&a, x, nx, init);
    side_open(&b, y, ny, !init);
    size_t bytes;
    unsigned rounds;
    if (reconcile(init ? &a : &b, init ? &b : &a, &bytes, &rounds)) {
      check_knows(&a, &b);
      check_knows(&b, &a);
      cr_assert_leq(rounds, RECON_ROUNDS_MAX);
    } else {
      fallbacks++;
    }
    side_close(&a), side_close(&b);
    free(x), free(y);
  }
  cr_assert_lt(fallbacks, 30, "%zu fallbacks of 300", fallbacks);
}

Test(recon, many_differences_fall_back_to_the_whole_vector)
{
  uint64_t seed = 7;
  size_t n = 100000;
  net_vv_entry *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++) {
    random_entry(&seed, &x[i]);
    random_entry(&seed, &y[i]); /* nothing in common */
  }
  qsort(x, n, sizeof *x, entry_cmp);
  qsort(y, n, sizeof *y, entry_cmp);
  side a, b;
  side_open(&a, x, n, true);
  side_open(&b, y, n, false);
  size_t bytes;
  unsigned rounds;
  cr_assert(!reconcile(&a, &b, &bytes, &rounds),
            "two unrelated sets of 100,000: the whole vector is cheaper");
  side_close(&a), side_close(&b);
  free(x), free(y);
}

/* ---- hostile RANGES ---- */

static gs_err no_sink(void *ctx, const net_vv_entry *e, size_t n)
{
  (void)ctx, (void)e, (void)n;
  return GS_OK;
}

static const recon_sink nosink = {no_sink, no_sink, NULL};

static recon *small_recon(bool initiator)
{
  uint64_t seed = 99;
  net_vv_entry *e = malloc(100 * sizeof *e);
  for (size_t i = 0; i < 100; i++)
    random_entry(&seed, &e[i]);
  qsort(e, 100, sizeof *e, entry_cmp);
  recon *r;
  cr_assert_eq(recon_new(e, 100, initiator, &r), GS_OK);
  return r;
}

static net_bound bound_of(uint8_t first)
{
  net_bound b;
  memset(&b, 0, sizeof b);
  b.v[0] = first;
  return b;
}

static gs_err feed_ranges(recon *r, const net_bound *lo, const net_range *g,
                          size_t n, bool more, char *why, size_t whylen)
{
  uint8_t *buf;
  size_t len;
  net_msg m;
  cr_assert_eq(net_msg_ranges(lo, g, n, more, &buf, &len), GS_OK);
  cr_assert_eq(net_msg_decode(buf, len, &m), GS_OK);
  free(buf);
  gs_err err = recon_on_msg(r, &m, &nosink, why, whylen);
  net_msg_free(&m);
  return err;
}

Test(recon, hostile_range_messages_are_refused_with_a_reason)
{
  char why[200];
  /* oversized: too many ranges, too many entries in one range */
  {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, NET_MSG_RANGES);
    msgpack_pack_bin(&pk, 0);
    msgpack_pack_array(&pk, NET_RANGES_MAX + 1);
    for (int i = 0; i < NET_RANGES_MAX + 1; i++) {
      uint8_t hi[2] = {(uint8_t)(1 + i / 255), (uint8_t)(1 + i % 255)};
      msgpack_pack_array(&pk, 2);
      msgpack_pack_bin(&pk, 2);
      msgpack_pack_bin_body(&pk, hi, 2);
      msgpack_pack_uint8(&pk, NET_RANGE_SKIP);
    }
    msgpack_pack_false(&pk);
    net_msg m;
    cr_assert_eq(net_msg_decode((uint8_t *)sb.data, sb.size, &m), GS_ETOOBIG);
    cr_assert_eq(m.type, 0);
    msgpack_sbuffer_destroy(&sb);
  }
  {
    net_vv_entry *e = calloc(NET_RANGE_ITEMS_MAX + 1, sizeof *e);
    for (int i = 0; i <= NET_RANGE_ITEMS_MAX; i++) {
      e[i].feed[0] = 1, e[i].feed[1] = (uint8_t)i;
      e[i].seq = 0;
    }
    net_bound lo = bound_of(0), hi = {.inf = true};
    net_range g = {.hi = hi, .mode = NET_RANGE_ITEMS, .items = e,
                   .n = NET_RANGE_ITEMS_MAX + 1};
    uint8_t *buf;
    size_t len;
    cr_assert_eq(net_msg_ranges(&lo, &g, 1, false, &buf, &len), GS_ETOOBIG);
    /* written by hand past the encoder's check */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, NET_MSG_RANGES);
    msgpack_pack_bin(&pk, 0);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_bin(&pk, 0);
    msgpack_pack_uint8(&pk, NET_RANGE_ITEMS);
    msgpack_pack_array(&pk, NET_RANGE_ITEMS_MAX + 1);
    for (int i = 0; i <= NET_RANGE_ITEMS_MAX; i++) {
      msgpack_pack_array(&pk, 2);
      msgpack_pack_bin(&pk, CRDT_FEED_LEN);
      msgpack_pack_bin_body(&pk, e[i].feed, CRDT_FEED_LEN);
      msgpack_pack_uint8(&pk, 0);
    }
    msgpack_pack_false(&pk);
    net_msg m;
    cr_assert_eq(net_msg_decode((uint8_t *)sb.data, sb.size, &m), GS_ETOOBIG);
    msgpack_sbuffer_destroy(&sb);
    free(e);
  }
  /* unsorted bounds, a bound below lo, the end not last, entries outside
   * their range or out of order, a bound not canonical: refused by the
   * decoder (the encoder refuses them too) */
  {
    const uint8_t bad[][40] = {
        /* [11, "", [[\x05,0],[\x03,0]], false]: bounds decrease */
        {0x94, 11, 0xc4, 0, 0x92, 0x92, 0xc4, 1, 5, 0, 0x92, 0xc4, 1, 3, 0,
         0xc2},
        /* [11, \x05, [[\x05,0]], false]: hi not above lo */
        {0x94, 11, 0xc4, 1, 5, 0x91, 0x92, 0xc4, 1, 5, 0, 0xc2},
        /* [11, "", [["",0],[\x05,0]], false]: the end not last */
        {0x94, 11, 0xc4, 0, 0x92, 0x92, 0xc4, 0, 0, 0x92, 0xc4, 1, 5, 0,
         0xc2},
        /* [11, \x05\x00, ...]: a trailing zero (not canonical) */
        {0x94, 11, 0xc4, 2, 5, 0, 0x91, 0x92, 0xc4, 0, 0, 0xc2},
        /* mode 9 */
        {0x94, 11, 0xc4, 0, 0x91, 0x92, 0xc4, 0, 9, 0xc2},
    };
    const size_t lens[] = {16, 12, 15, 12, 10};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
      net_msg m;
      cr_assert_neq(net_msg_decode(bad[i], lens[i], &m), GS_OK, "case %zu",
                    i);
      cr_assert_eq(m.type, 0);
    }
    net_vv_entry e[2];
    memset(e, 0, sizeof e);
    e[0].feed[0] = 9, e[1].feed[0] = 3; /* out of order */
    net_bound lo = bound_of(0), hi = {.inf = true};
    net_range g = {.hi = hi, .mode = NET_RANGE_FINAL, .items = e, .n = 2};
    uint8_t *buf;
    size_t len;
    cr_assert_eq(net_msg_ranges(&lo, &g, 1, false, &buf, &len), GS_EINVAL);
    net_bound lo2 = bound_of(5); /* e[1] below lo */
    g.items = &e[1], g.n = 1;
    cr_assert_eq(net_msg_ranges(&lo2, &g, 1, false, &buf, &len), GS_EINVAL);
  }
  /* out of turn: the initiator has not spoken yet */
  {
    recon *r = small_recon(true);
    net_bound lo = bound_of(0), hi = {.inf = true};
    net_range g = {.hi = hi, .mode = NET_RANGE_SKIP};
    cr_assert_eq(feed_ranges(r, &lo, &g, 1, false, why, sizeof why),
                 GS_EPROTO);
    cr_assert_str_eq(why, "ranges out of turn");
    recon_free(r);
  }
  /* overlapping: a message of a round below where the last one ended */
  {
    recon *r = small_recon(false);
    net_bound lo = bound_of(0), h1 = bound_of(0x80);
    net_range g = {.hi = h1, .mode = NET_RANGE_SKIP};
    cr_assert_eq(feed_ranges(r, &lo, &g, 1, true, why, sizeof why), GS_OK,
                 "%s", why);
    net_bound lo2 = bound_of(0x40), hi = {.inf = true};
    g.hi = hi;
    cr_assert_eq(feed_ranges(r, &lo2, &g, 1, false, why, sizeof why),
                 GS_EPROTO);
    cr_assert_str_eq(why, "overlapping ranges in one round");
    recon_free(r);
  }
  /* too many ranges in one round (each message within its own bound) */
  {
    recon *r = small_recon(false);
    net_range *g = calloc(NET_RANGES_MAX, sizeof *g);
    gs_err err = GS_OK;
    unsigned k = 1;
    net_bound lo = bound_of(0);
    for (int msg = 0; msg < 40 && !err; msg++) {
      for (int i = 0; i < NET_RANGES_MAX; i++, k++) {
        memset(&g[i].hi, 0, sizeof g[i].hi);
        g[i].hi.v[0] = (uint8_t)(k >> 16), g[i].hi.v[1] = (uint8_t)(k >> 8);
        g[i].hi.v[2] = (uint8_t)k, g[i].hi.v[3] = 1;
        g[i].mode = NET_RANGE_SKIP;
      }
      err = feed_ranges(r, &lo, g, NET_RANGES_MAX, true, why, sizeof why);
      lo = g[NET_RANGES_MAX - 1].hi;
    }
    cr_assert_eq(err, GS_ETOOBIG, "%s", why);
    cr_assert(strstr(why, "ranges in one round"), "%s", why);
    free(g);
    recon_free(r);
  }
  /* too deep: a peer whose fingerprints never match, round after round */
  {
    recon *r = small_recon(false);
    gs_err err = GS_OK;
    wire w = {.n = 0};
    int round;
    for (round = 0; round < 40 && !err; round++) {
      net_bound lo = bound_of(0), hi = {.inf = true};
      net_range g = {.hi = hi, .mode = NET_RANGE_FP, .count = 100};
      memset(g.fp, round, sizeof g.fp); /* never ours */
      err = feed_ranges(r, &lo, &g, 1, false, why, sizeof why);
      if (!err && recon_our_turn(r)) {
        w.n = 0;
        cr_assert_eq(recon_take(r, wire_send, &w), GS_OK);
        for (size_t i = 0; i < w.n; i++)
          free(w.m[i]);
      } else if (!err) {
        break; /* fell back: also an end */
      }
    }
    cr_assert(err == GS_EPROTO || recon_fallback(r), "round %d", round);
    if (err)
      cr_assert(strstr(why, "too deep"), "%s", why);
    cr_assert_leq(round, RECON_ROUNDS_MAX / 2 + 1);
    recon_free(r);
  }
  /* unsorted items given to recon_new */
  {
    net_vv_entry *e = calloc(2, sizeof *e);
    e[0].feed[0] = 2, e[1].feed[0] = 1;
    recon *r;
    cr_assert_eq(recon_new(e, 2, false, &r), GS_EINVAL);
    cr_assert_null(r);
  }
}
