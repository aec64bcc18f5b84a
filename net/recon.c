/* Reconciliation of version vectors by ranges (see recon.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/recon.h"

typedef enum turn { TURN_MINE, TURN_THEIRS, TURN_DONE } turn;

/* One range of our next round: [lo, r.hi). Its items are ours (own, at
 * it + off) or in oitems at off (FINAL). */
typedef struct out_range {
  net_bound lo;
  net_range r;
  size_t off;
  bool own;
  bool open; /* sent: the peer's answer says something inside it */
} out_range;

struct recon {
  net_vv_entry *it;
  size_t n;
  uint64_t (*ps)[2]; /* n + 1 prefix sums of the items' hashes */
  turn turn;
  bool fallback;
  /* the peer's round being received */
  bool in_round, round_wants;
  net_bound round_hi;
  size_t round_ranges;
  /* our next round */
  out_range *out;
  size_t nout, capout;
  bool out_wants;
  net_vv_entry *oitems;
  size_t noitems, capoitems;
  /* our last round, while the peer answers it: an FP range it says
   * nothing about is the same on both sides */
  out_range *sent;
  size_t nsent, capsent, sent_pos;
  recon_stats stats;
};

static uint64_t le64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void item_hash(const net_vv_entry *e, uint64_t h[2])
{
  uint8_t buf[CRDT_FEED_LEN + 8 + CRDT_HASH_LEN], d[CRDT_HASH_LEN];
  memcpy(buf, e->feed, CRDT_FEED_LEN);
  for (int i = 0; i < 8; i++)
    buf[CRDT_FEED_LEN + i] = (uint8_t)(e->seq >> (56 - 8 * i));
  if (e->seq > 0)
    memcpy(buf + CRDT_FEED_LEN + 8, e->head, CRDT_HASH_LEN);
  else
    memset(buf + CRDT_FEED_LEN + 8, 0, CRDT_HASH_LEN);
  crdt_hash(buf, sizeof buf, d);
  h[0] = le64(d);
  h[1] = le64(d + 8);
}

static gs_err differs(recon *r, const net_bound *lo, const net_bound *hi,
                      size_t i0, size_t i1);

gs_err recon_new(net_vv_entry *items, size_t n, bool initiator,
                 recon **out)
{
  *out = NULL;
  for (size_t i = 1; i < n; i++)
    if (memcmp(items[i - 1].feed, items[i].feed, CRDT_FEED_LEN) >= 0) {
      free(items);
      return GS_EINVAL;
    }
  recon *r = calloc(1, sizeof *r);
  if (!r || !(r->ps = malloc((n + 1) * sizeof *r->ps))) {
    free(r);
    free(items);
    return GS_ENOMEM;
  }
  r->it = items;
  r->n = n;
  r->ps[0][0] = r->ps[0][1] = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t h[2];
    item_hash(&items[i], h);
    uint64_t lo = r->ps[i][0] + h[0];
    r->ps[i + 1][1] = r->ps[i][1] + h[1] + (lo < h[0]);
    r->ps[i + 1][0] = lo;
  }
  r->turn = initiator ? TURN_MINE : TURN_THEIRS;
  *out = r;
  if (initiator) {
    /* the whole space */
    net_bound lo = {.inf = false}, hi = {.inf = true};
    memset(lo.v, 0, sizeof lo.v);
    memset(hi.v, 0, sizeof hi.v);
    gs_err err = differs(r, &lo, &hi, 0, n);
    if (err) {
      recon_free(r);
      *out = NULL;
      return err;
    }
  }
  return GS_OK;
}

void recon_free(recon *r)
{
  if (!r)
    return;
  free(r->it);
  free(r->ps);
  free(r->out);
  free(r->sent);
  free(r->oitems);
  free(r);
}

const recon_stats *recon_get_stats(const recon *r)
{
  return &r->stats;
}

bool recon_our_turn(const recon *r)
{
  return r->turn == TURN_MINE && !r->fallback;
}

bool recon_done(const recon *r)
{
  return r->turn == TURN_DONE;
}

bool recon_fallback(const recon *r)
{
  return r->fallback;
}

/* First item at or above b. */
static size_t lower(const recon *r, const net_bound *b)
{
  if (b->inf)
    return r->n;
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (memcmp(r->it[mid].feed, b->v, CRDT_FEED_LEN) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void fp_of(const recon *r, size_t i0, size_t i1,
                  uint8_t fp[NET_FP_LEN])
{
  uint64_t lo = r->ps[i1][0] - r->ps[i0][0];
  uint64_t hi = r->ps[i1][1] - r->ps[i0][1] - (r->ps[i1][0] < r->ps[i0][0]);
  uint8_t buf[8 + 16], d[CRDT_HASH_LEN];
  uint64_t count = i1 - i0;
  for (int i = 0; i < 8; i++) {
    buf[i] = (uint8_t)(count >> (56 - 8 * i));
    buf[8 + i] = (uint8_t)(lo >> (8 * i));
    buf[16 + i] = (uint8_t)(hi >> (8 * i));
  }
  crdt_hasher h;
  crdt_hasher_init(&h);
  crdt_hasher_update(&h, "gridsync-recon-fp-v1", 20);
  crdt_hasher_update(&h, buf, sizeof buf);
  crdt_hasher_final(&h, d);
  memcpy(fp, d, NET_FP_LEN);
}

void recon_fingerprint(const recon *r, const net_bound *lo,
                       const net_bound *hi, uint64_t *count,
                       uint8_t fp[NET_FP_LEN])
{
  size_t i0 = lower(r, lo), i1 = lower(r, hi);
  if (i1 < i0)
    i1 = i0;
  *count = i1 - i0;
  fp_of(r, i0, i1, fp);
}

static out_range *out_add(recon *r, const net_bound *lo,
                          const net_bound *hi, net_range_mode mode)
{
  if (r->nout == r->capout) {
    size_t cap = r->capout ? r->capout * 2 : 32;
    out_range *o = realloc(r->out, cap * sizeof *o);
    if (!o)
      return NULL;
    r->out = o;
    r->capout = cap;
  }
  out_range *o = &r->out[r->nout++];
  memset(o, 0, sizeof *o);
  o->lo = *lo;
  o->r.hi = *hi;
  o->r.mode = mode;
  if (mode == NET_RANGE_FP || mode == NET_RANGE_ITEMS)
    r->out_wants = true;
  return o;
}

/* The smallest bound above a and at most b (a < b): b's bytes up to the
 * first that differs from a's, zeros after. */
static void split_bound(const uint8_t *a, const uint8_t *b, net_bound *out)
{
  size_t j = 0;
  while (j < CRDT_FEED_LEN - 1 && a[j] == b[j])
    j++;
  memset(out, 0, sizeof *out);
  memcpy(out->v, b, j + 1);
}

/* The range [lo, hi), our items i0..i1, differs from the peer's: ours as
 * ITEMS when few, else RECON_BRANCH FP ranges of equal counts. */
static gs_err differs(recon *r, const net_bound *lo, const net_bound *hi,
                      size_t i0, size_t i1)
{
  size_t cnt = i1 - i0;
  if (cnt <= RECON_ITEMS) {
    out_range *o = out_add(r, lo, hi, NET_RANGE_ITEMS);
    if (!o)
      return GS_ENOMEM;
    o->own = true;
    o->off = i0;
    o->r.n = cnt;
    return GS_OK;
  }
  net_bound b0 = *lo;
  size_t k0 = i0;
  for (size_t b = 1; b <= RECON_BRANCH; b++) {
    size_t k1 = i0 + cnt * b / RECON_BRANCH;
    net_bound b1;
    if (b == RECON_BRANCH)
      b1 = *hi;
    else
      split_bound(r->it[k1 - 1].feed, r->it[k1].feed, &b1);
    out_range *o = out_add(r, &b0, &b1, NET_RANGE_FP);
    if (!o)
      return GS_ENOMEM;
    o->r.count = k1 - k0;
    fp_of(r, k0, k1, o->r.fp);
    b0 = b1;
    k0 = k1;
  }
  return GS_OK;
}

static bool same_entry(const net_vv_entry *a, const net_vv_entry *b)
{
  return a->seq == b->seq &&
         (a->seq == 0 || memcmp(a->head, b->head, CRDT_HASH_LEN) == 0);
}

static gs_err oitem_add(recon *r, const net_vv_entry *e)
{
  if (r->noitems == r->capoitems) {
    size_t cap = r->capoitems ? r->capoitems * 2 : 64;
    net_vv_entry *o = realloc(r->oitems, cap * sizeof *o);
    if (!o)
      return GS_ENOMEM;
    r->oitems = o;
    r->capoitems = cap;
  }
  r->oitems[r->noitems++] = *e;
  return GS_OK;
}

/* The peer's ITEMS over [lo, hi): answer FINAL with what differs. */
static gs_err on_items(recon *r, const net_bound *lo, const net_range *g,
                       size_t i0, size_t i1)
{
  size_t start = r->noitems, ndiff = 0;
  gs_err err;
  /* their entries, each looked up among ours (their count is bounded,
   * ours may be large) */
  for (size_t j = 0; j < g->n; j++) {
    const net_vv_entry *t = &g->items[j];
    net_bound fb = {.inf = false};
    memcpy(fb.v, t->feed, CRDT_FEED_LEN);
    size_t k = lower(r, &fb);
    net_vv_entry e;
    if (k < i1 && memcmp(r->it[k].feed, t->feed, CRDT_FEED_LEN) == 0) {
      if (same_entry(&r->it[k], t))
        continue;
      e = r->it[k];
      /* the peer needs our head only at a seq it holds (a fork) */
      if (e.seq > t->seq)
        e.has_head = false;
    } else {
      if (t->seq == 0)
        continue; /* neither holds it */
      memset(&e, 0, sizeof e);
      memcpy(e.feed, t->feed, CRDT_FEED_LEN);
    }
    if (++ndiff > NET_RANGE_ITEMS_MAX)
      break;
    if ((err = oitem_add(r, &e)) != GS_OK)
      return err;
  }
  if (ndiff > NET_RANGE_ITEMS_MAX) {
    /* too much differs for one FINAL: by finer ranges */
    r->noitems = start;
    return differs(r, lo, &g->hi, i0, i1);
  }
  out_range *o = out_add(r, lo, &g->hi, NET_RANGE_FINAL);
  if (!o)
    return GS_ENOMEM;
  o->own = false;
  o->off = start;
  o->r.n = ndiff;
  return GS_OK;
}

/* The peer's FINAL over our items i0..i1: the unlisted ones are the
 * same. */
static gs_err on_final(recon *r, const net_range *g, const recon_sink *sink,
                       size_t i0, size_t i1)
{
  size_t run = i0, j = 0;
  gs_err err;
  for (size_t k = i0; k < i1; k++) {
    while (j < g->n &&
           memcmp(g->items[j].feed, r->it[k].feed, CRDT_FEED_LEN) < 0)
      j++;
    if (j < g->n &&
        memcmp(g->items[j].feed, r->it[k].feed, CRDT_FEED_LEN) == 0) {
      if (k > run && (err = sink->same(sink->ctx, r->it + run, k - run)))
        return err;
      run = k + 1;
    }
  }
  if (i1 > run && (err = sink->same(sink->ctx, r->it + run, i1 - run)))
    return err;
  return g->n ? sink->theirs(sink->ctx, g->items, g->n) : GS_OK;
}

gs_err recon_on_msg(recon *r, const net_msg *m, const recon_sink *sink,
                    char *why, size_t whylen)
{
  gs_err err = GS_OK;
  if (whylen)
    why[0] = '\0';
  if (m->type != NET_MSG_RANGES)
    return GS_EINVAL;
  if (r->turn != TURN_THEIRS || r->fallback) {
    snprintf(why, whylen, "ranges out of turn");
    return GS_EPROTO;
  }
  if (r->in_round && net_bound_cmp(&m->u.ranges.lo, &r->round_hi) < 0) {
    snprintf(why, whylen, "overlapping ranges in one round");
    return GS_EPROTO;
  }
  if (r->round_ranges + m->u.ranges.n > RECON_ROUND_RANGES) {
    snprintf(why, whylen, "more than %d ranges in one round",
             RECON_ROUND_RANGES);
    return GS_ETOOBIG;
  }
  if (!r->in_round) {
    /* a new round: past the bound, the peer is going nowhere */
    if (r->stats.rounds + 1 > RECON_ROUNDS_MAX) {
      snprintf(why, whylen, "reconciliation too deep (%d rounds)",
               RECON_ROUNDS_MAX);
      return GS_EPROTO;
    }
    r->in_round = true;
    r->round_wants = false;
    r->round_ranges = 0;
    r->nout = r->noitems = 0;
    r->out_wants = false;
  }
  r->round_ranges += m->u.ranges.n;
  /* what of our last round the peer answers in this message */
  {
    net_bound l = m->u.ranges.lo;
    for (size_t i = 0; i < m->u.ranges.n; i++) {
      const net_range *g = &m->u.ranges.ranges[i];
      if (g->mode != NET_RANGE_SKIP)
        for (size_t j = r->sent_pos; j < r->nsent; j++) {
          out_range *o = &r->sent[j];
          if (net_bound_cmp(&o->r.hi, &l) <= 0) {
            r->sent_pos = j + 1; /* ends before: nothing more inside */
            continue;
          }
          if (net_bound_cmp(&o->lo, &g->hi) >= 0)
            break;
          o->open = true;
        }
      l = g->hi;
    }
  }
  r->stats.ranges_in += m->u.ranges.n;
  net_bound lo = m->u.ranges.lo;
  for (size_t i = 0; i < m->u.ranges.n && !err; i++) {
    const net_range *g = &m->u.ranges.ranges[i];
    size_t i0 = lower(r, &lo), i1 = lower(r, &g->hi);
    switch (g->mode) {
    case NET_RANGE_SKIP:
      break;
    case NET_RANGE_FP: {
      uint8_t fp[NET_FP_LEN];
      r->round_wants = true;
      fp_of(r, i0, i1, fp);
      if (g->count == i1 - i0 && memcmp(fp, g->fp, NET_FP_LEN) == 0)
        err = i1 > i0 ? sink->same(sink->ctx, r->it + i0, i1 - i0) : GS_OK;
      else
        err = differs(r, &lo, &g->hi, i0, i1);
      break;
    }
    case NET_RANGE_ITEMS:
      r->round_wants = true;
      r->stats.items_in += g->n;
      if (g->n && (err = sink->theirs(sink->ctx, g->items, g->n)) != GS_OK)
        break;
      err = on_items(r, &lo, g, i0, i1);
      break;
    case NET_RANGE_FINAL:
      r->stats.items_in += g->n;
      err = on_final(r, g, sink, i0, i1);
      break;
    }
    lo = g->hi;
  }
  if (err) {
    if (whylen && !*why)
      snprintf(why, whylen, "%s", gs_strerror(err));
    return err;
  }
  r->round_hi = lo;
  if (m->u.ranges.more) {
    if (lo.inf) {
      snprintf(why, whylen, "ranges past the end of the space");
      return GS_EPROTO;
    }
    return GS_OK;
  }
  /* the round is complete: our FP ranges it left alone are the same */
  r->in_round = false;
  r->stats.rounds++;
  for (size_t j = 0; j < r->nsent; j++) {
    out_range *o = &r->sent[j];
    if (o->open || o->r.mode != NET_RANGE_FP)
      continue;
    size_t i0 = lower(r, &o->lo), i1 = lower(r, &o->r.hi);
    if (i1 > i0 && (err = sink->same(sink->ctx, r->it + i0, i1 - i0)) != GS_OK)
      return err;
  }
  r->nsent = r->sent_pos = 0;
  if (!r->round_wants) {
    r->turn = TURN_DONE;
    return GS_OK;
  }
  r->turn = TURN_MINE;
  if (r->nout > RECON_ROUND_RANGES || r->stats.rounds + 1 > RECON_ROUNDS_MAX)
    r->fallback = true;
  return GS_OK;
}

/* Bytes a range takes at most, encoded. */
static size_t range_cost(const out_range *o)
{
  switch (o->r.mode) {
  case NET_RANGE_FP:
    return 48;
  case NET_RANGE_ITEMS:
  case NET_RANGE_FINAL:
    return 24 + o->r.n * NET_VV_ENTRY_MAX;
  default:
    return 20;
  }
}

gs_err recon_take(recon *r,
                  gs_err (*send)(void *ctx, const uint8_t *msg, size_t n),
                  void *ctx)
{
  net_range *rs = NULL;
  gs_err err = GS_OK;
  if (!recon_our_turn(r))
    return GS_EINVAL;
  if (!(rs = malloc(NET_RANGES_MAX * sizeof *rs)))
    return GS_ENOMEM;
  size_t i = 0;
  do {
    /* one message: from out[i] on, while it fits */
    net_bound lo = {.inf = false}, end;
    memset(lo.v, 0, sizeof lo.v);
    if (i < r->nout)
      lo = r->out[i].lo;
    end = lo;
    size_t nr = 0, items = 0, bytes = 16;
    for (; i < r->nout; i++) {
      out_range *o = &r->out[i];
      bool gap = net_bound_cmp(&end, &o->lo) != 0;
      size_t cost = range_cost(o) + (gap ? 20 : 0);
      if (nr && (nr + 1 + gap > NET_RANGES_MAX ||
                 items + o->r.n > NET_VV_PAGE ||
                 bytes + cost > NET_MSG_MAX - 64))
        break;
      if (gap) {
        memset(&rs[nr], 0, sizeof rs[nr]);
        rs[nr].hi = o->lo;
        rs[nr++].mode = NET_RANGE_SKIP;
      }
      rs[nr] = o->r;
      rs[nr].items = o->r.n ? (o->own ? r->it + o->off : r->oitems + o->off)
                            : NULL;
      nr++;
      items += o->r.n;
      bytes += cost;
      end = o->r.hi;
    }
    uint8_t *buf;
    size_t len;
    if ((err = net_msg_ranges(&lo, rs, nr, i < r->nout, &buf, &len)) !=
        GS_OK)
      break;
    err = send(ctx, buf, len);
    free(buf);
    r->stats.ranges_out += nr;
    r->stats.items_out += items;
  } while (!err && i < r->nout);
  free(rs);
  if (err)
    return err;
  r->stats.rounds++;
  r->turn = r->out_wants ? TURN_THEIRS : TURN_DONE;
  /* kept until the peer's answer: out becomes sent (the items of FINAL
   * ranges are not needed any more) */
  out_range *t = r->sent;
  size_t tc = r->capsent;
  r->sent = r->out;
  r->capsent = r->capout;
  r->nsent = r->nout;
  r->sent_pos = 0;
  r->out = t;
  r->capout = tc;
  r->nout = r->noitems = 0;
  r->out_wants = false;
  return GS_OK;
}
