/* The sync protocol state machine (see sync.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/recon.h"
#include "net/sync.h"
#include "storage/store.h"

/* ---- feed -> seq map (what the peer holds) ---- */

typedef struct fm_entry {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
  bool used;
} fm_entry;

typedef struct feedmap {
  fm_entry *e;
  size_t cap, n;
  uint64_t seed; /* random: a peer cannot aim its feed ids at one slot */
} feedmap;

static size_t fm_slot(const feedmap *m, const uint8_t feed[CRDT_FEED_LEN])
{
  uint64_t a, b;
  memcpy(&a, feed, sizeof a);
  memcpy(&b, feed + 8, sizeof b);
  uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ULL) ^ m->seed;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  h ^= h >> 31;
  size_t i = (size_t)h & (m->cap - 1);
  while (m->e[i].used && memcmp(m->e[i].feed, feed, CRDT_FEED_LEN) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static uint64_t fm_get(const feedmap *m, const uint8_t feed[CRDT_FEED_LEN])
{
  if (!m->cap)
    return 0;
  size_t i = fm_slot(m, feed);
  return m->e[i].used ? m->e[i].seq : 0;
}

/* seq := max(seq, v). */
static gs_err fm_raise(feedmap *m, const uint8_t feed[CRDT_FEED_LEN],
                       uint64_t v)
{
  if (m->n >= NET_SYNC_MAX_FEEDS)
    return GS_ETOOBIG;
  if ((m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    fm_entry *old = m->e;
    size_t oldcap = m->cap;
    if (!(m->e = calloc(cap, sizeof *m->e))) {
      m->e = old;
      return GS_ENOMEM;
    }
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].used) {
        size_t j = fm_slot(m, old[i].feed);
        m->e[j] = old[i];
        m->n++;
      }
    free(old);
  }
  size_t i = fm_slot(m, feed);
  if (!m->e[i].used) {
    memcpy(m->e[i].feed, feed, CRDT_FEED_LEN);
    m->e[i].used = true;
    m->e[i].seq = 0;
    m->n++;
  }
  if (v > m->e[i].seq)
    m->e[i].seq = v;
  return GS_OK;
}

/* ---- session ---- */

typedef struct tail {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t next, to; /* seqs still to send: [next, to] */
  bool evidence;     /* the change of `forks` at next, not the feed's */
  bool net;          /* a membership feed ("_net") */
} tail;

struct net_sync {
  store *st;
  net_sync_io io;
  feedmap remote;     /* what the peer holds, as far as we know */
  bool remote_vv_done, vv_sent, done_sent, done_recv;
  size_t vv_seen;     /* entries of the peer's version vector so far */
  unsigned inflight;  /* CHANGES not yet acknowledged */
  tail *plan;
  size_t nplan, capplan, pos;
  size_t seen_changes; /* store change count at the last plan */
  net_sync_stats stats;
  /* staging of one CHANGES message */
  uint8_t stage[NET_MSG_MAX];
  size_t stage_len, enc_len; /* raw bytes; bytes once encoded */
  net_bytes parts[NET_CHANGES_MAX];
  size_t nparts;
  uint8_t *unpacked; /* NET_MSG_MAX: a received PACKED's CHANGES */
  net_unframer *unframer; /* a received FRAMES' changes */
  bool peer_frames;   /* the peer said "send me FRAMES" (issue 20) */
  /* sending our VV a page at a time: the last feed sent */
  bool vv_started;
  uint8_t vv_after[CRDT_FEED_LEN];
  bool hello_recv;
  bool evidence_planned; /* fork evidence offered once per session */
  feedmap bad;  /* feeds isolated as bad in this session (seq 1) */
  feedmap fork_sent; /* feeds whose fork evidence went to the peer */
  tail *forks;  /* our change at a seq the peer holds another one at */
  size_t nforks, capforks;
  /* the version vector's digest first (issue 20) */
  net_vv_entry *mine; /* our vector when the digest was taken, sorted */
  size_t nmine, capmine;
  uint8_t vv_digest[CRDT_HASH_LEN];
  uint64_t vv_count;
  bool vv_full;       /* our whole vector goes out (the digests differ) */
  bool peer_first;    /* the peer's first VV page was seen */
  /* reconciliation by ranges when the digests differ (issue 20) */
  bool peer_recon;    /* the peer said it speaks RANGES */
  recon *recon;       /* under way */
  /* group commit: received changes kept, waiting for one transaction */
  crdt_change **g_cs;
  uint8_t *g_hold, *g_out;
  /* each kept change's frame as it came in FRAMES (a copy; NULL when it
   * came unpacked), stored as it is (store_apply_frames) */
  uint8_t **g_frame;
  size_t *g_frame_n;
  size_t g_n, g_cap, g_bytes;
  size_t g_end[NET_SYNC_WINDOW]; /* end of each message's changes */
  size_t g_nmsgs;
  /* what each CHANGES message in flight carried, oldest first (ACKs come
   * in order): the last seq sent of each feed in it, at most
   * NET_CHANGES_MAX per message. An ACK that says every change of its
   * message was kept makes those seqs heard (status: changes not yet
   * passed on), written to the store once nothing is in flight. */
  struct {
    size_t nparts, ntails;
  } fl_msg[NET_SYNC_WINDOW];
  size_t fl_first;          /* index of the oldest in fl_msg */
  uint8_t (*fl_feed)[CRDT_FEED_LEN];
  uint64_t *fl_seq;
  size_t fl_n, fl_cap;      /* tails of every message in flight */
  feedmap acked;            /* acknowledged, not yet written as heard */
};

static void group_clear(net_sync *s);

gs_err net_sync_new(store *st, const net_sync_io *io, net_sync **out)
{
  net_sync *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s)
    return GS_ENOMEM;
  s->st = st;
  s->io = *io;
  crdt_random(&s->remote.seed, sizeof s->remote.seed);
  crdt_random(&s->bad.seed, sizeof s->bad.seed);
  crdt_random(&s->fork_sent.seed, sizeof s->fork_sent.seed);
  crdt_random(&s->acked.seed, sizeof s->acked.seed);
  *out = s;
  return GS_OK;
}

void net_sync_free(net_sync *s)
{
  if (!s)
    return;
  free(s->remote.e);
  free(s->bad.e);
  free(s->fork_sent.e);
  free(s->acked.e);
  free(s->fl_feed);
  free(s->fl_seq);
  free(s->mine);
  recon_free(s->recon);
  free(s->forks);
  free(s->plan);
  free(s->unpacked);
  net_unframer_free(s->unframer);
  group_clear(s);
  free(s->g_cs);
  free(s->g_hold);
  free(s->g_out);
  free(s->g_frame);
  free(s->g_frame_n);
  free(s);
}

const net_sync_stats *net_sync_get_stats(const net_sync *s)
{
  return &s->stats;
}

bool net_sync_caught_up(const net_sync *s)
{
  return s->done_sent && s->done_recv && s->inflight == 0 && !s->g_nmsgs;
}

static gs_err send_msg(net_sync *s, uint8_t *buf, size_t n, gs_err err)
{
  if (err)
    return err;
  err = s->io.send(s->io.ctx, buf, n);
  free(buf);
  if (!err)
    s->stats.msgs_out++;
  return err;
}

/* ---- sending HELLO and the VV ---- */

typedef struct vv_ctx {
  net_vv_entry page[NET_VV_PAGE + 1];
  size_t n;
} vv_ctx;

static int on_vv_feed(void *ctx, const store_feed *f)
{
  vv_ctx *v = ctx;
  net_vv_entry *e = &v->page[v->n++];
  memcpy(e->feed, f->feed, CRDT_FEED_LEN);
  e->seq = f->seq;
  e->has_head = true;
  memcpy(e->head, f->head, CRDT_HASH_LEN);
  return v->n == NET_VV_PAGE + 1; /* one more: is there another page? */
}

/* Send VV pages while the transport is writable (force: the first one
 * whatever it says): each page is read from the store when it is sent,
 * so the queue holds at most a page or so. */
static gs_err vv_pump(net_sync *s, bool force)
{
  gs_err err = GS_OK;
  vv_ctx *v = NULL;
  while (s->vv_full && !s->vv_sent &&
         (force || !s->io.writable || s->io.writable(s->io.ctx))) {
    force = false;
    if (!v && !(v = malloc(sizeof *v)))
      return GS_ENOMEM;
    v->n = 0;
    if ((err = store_feeds_after(s->st, s->vv_started ? s->vv_after : NULL,
                                 on_vv_feed, v)) != GS_OK)
      break;
    bool more = v->n > NET_VV_PAGE;
    size_t n = more ? NET_VV_PAGE : v->n;
    uint8_t *buf;
    size_t len;
    gs_err e = net_msg_vv(v->page, n, more, &buf, &len);
    if ((err = send_msg(s, buf, len, e)) != GS_OK)
      break;
    if (n) {
      memcpy(s->vv_after, v->page[n - 1].feed, CRDT_FEED_LEN);
      s->vv_started = true;
    }
    s->vv_sent = !more;
  }
  free(v);
  return err;
}

/* ---- the version vector's digest (issue 20) ----
 * Each side opens with one VV page holding a single entry under the
 * reserved feed id NET_VV_DIGEST_FEED (all zero: never a real feed, which
 * is a hash): seq = its number of feeds, head = the BLAKE2b of its whole
 * vector (every feed id, seq and head, in feed order), more = true. Two
 * nodes that hold the same vector see equal digests, take the peer's
 * vector to be their own, and send nothing more of it: one round trip,
 * whatever the number of feeds. When the digests differ each sends its
 * whole vector in the pages that follow (the last with more = false). A
 * node of protocol 3 that does not know the digest reads it as a feed it
 * does not hold (ignored) and waits for the pages that follow, which come:
 * its own first page, not a digest, tells us to send them. */

static const uint8_t digest_feed[CRDT_FEED_LEN]; /* all zero */
static gs_err make_plan(net_sync *s);

typedef struct digest_ctx {
  net_sync *s;
  crdt_hasher h;
  uint64_t n;
  gs_err err;
} digest_ctx;

static int on_digest_feed(void *ctx, const store_feed *f)
{
  digest_ctx *d = ctx;
  uint8_t seq[8];
  for (int i = 0; i < 8; i++)
    seq[i] = (uint8_t)(f->seq >> (56 - 8 * i));
  crdt_hasher_update(&d->h, f->feed, CRDT_FEED_LEN);
  crdt_hasher_update(&d->h, seq, 8);
  crdt_hasher_update(&d->h, f->head, CRDT_HASH_LEN);
  d->n++;
  net_sync *s = d->s;
  if (s->nmine == s->capmine) {
    if (s->nmine >= NET_SYNC_MAX_FEEDS) {
      d->err = GS_ETOOBIG;
      return 1;
    }
    size_t cap = s->capmine ? s->capmine * 2 : 64;
    net_vv_entry *e = realloc(s->mine, cap * sizeof *e);
    if (!e) {
      d->err = GS_ENOMEM;
      return 1;
    }
    s->mine = e;
    s->capmine = cap;
  }
  net_vv_entry *e = &s->mine[s->nmine++];
  memcpy(e->feed, f->feed, CRDT_FEED_LEN);
  e->seq = f->seq;
  e->has_head = true;
  memcpy(e->head, f->head, CRDT_HASH_LEN);
  return 0;
}

static gs_err vv_digest_send(net_sync *s)
{
  digest_ctx d = {.s = s, .n = 0, .err = GS_OK};
  crdt_hasher_init(&d.h);
  crdt_hasher_update(&d.h, "gridsync-vv-digest-v1", 21);
  gs_err err = store_feeds(s->st, on_digest_feed, &d);
  if (err || (err = d.err))
    return err;
  crdt_hasher_final(&d.h, s->vv_digest);
  s->vv_count = d.n;
  net_vv_entry e = {.seq = d.n, .has_head = true};
  memcpy(e.feed, digest_feed, CRDT_FEED_LEN);
  memcpy(e.head, s->vv_digest, CRDT_HASH_LEN);
  uint8_t *buf;
  size_t len;
  gs_err me = net_msg_vv(&e, 1, true, &buf, &len);
  return send_msg(s, buf, len, me);
}

static gs_err recon_next(net_sync *s);

static bool is_digest_page(const net_msg *m)
{
  return m->u.vv.n == 1 && m->u.vv.more && m->u.vv.entries[0].has_head &&
         memcmp(m->u.vv.entries[0].feed, digest_feed, CRDT_FEED_LEN) == 0;
}

/* The peer's first VV page. *handled: it was the digest (nothing more to
 * do with the page). */
static gs_err vv_first_page(net_sync *s, const net_msg *m, bool *handled)
{
  *handled = false;
  s->peer_first = true;
  if (!is_digest_page(m)) {
    /* a node that sends no digest (protocol 3): our whole vector */
    s->vv_full = true;
    return vv_pump(s, true);
  }
  *handled = true;
  const net_vv_entry *e = &m->u.vv.entries[0];
  if (e->seq == s->vv_count &&
      memcmp(e->head, s->vv_digest, CRDT_HASH_LEN) == 0) {
    /* the peer holds what we held when we took the digest */
    for (size_t i = 0; i < s->nmine; i++) {
      gs_err err = fm_raise(&s->remote, s->mine[i].feed, s->mine[i].seq);
      if (err)
        return err;
    }
    free(s->mine);
    s->mine = NULL;
    s->nmine = s->capmine = 0;
    s->vv_sent = true; /* the peer, seeing the same, sends no more */
    s->remote_vv_done = true;
    s->stats.vv_equal = true;
    gs_err err = make_plan(s);
    return err ? err : net_sync_pump(s);
  }
  /* the digests differ: changes may follow; "send them to me as your
   * store keeps them" (FRAMES, issue 20), before our ranges or vector,
   * so before the peer plans what to send (an older node answers PONG) */
  uint8_t *buf;
  size_t len;
  gs_err pe = net_msg_ping(false, NET_FRAMES_NONCE, &buf, &len);
  if ((pe = send_msg(s, buf, len, pe)) != GS_OK)
    return pe;
  if (s->peer_recon) {
    /* reconciliation by ranges: the side whose digest is the lower
     * opens (both know both digests) */
    int c = memcmp(s->vv_digest, e->head, CRDT_HASH_LEN);
    bool initiator = c < 0 || (c == 0 && s->vv_count < e->seq);
    net_vv_entry *mine = s->mine;
    s->mine = NULL;
    s->nmine = s->capmine = 0;
    gs_err err = recon_new(mine, s->vv_count, initiator, &s->recon);
    return err ? err : recon_next(s);
  }
  free(s->mine);
  s->mine = NULL;
  s->nmine = s->capmine = 0;
  s->vv_full = true;
  return vv_pump(s, true);
}

gs_err net_sync_start(net_sync *s)
{
  store_stats st;
  /* what the plan will be measured against later */
  gs_err err = store_stats_get(s->st, &st);
  if (err)
    return err;
  s->seen_changes = st.changes;
  if (s->io.now) {
    uint8_t *buf;
    size_t len;
    gs_err e = net_msg_hello(s->io.now(s->io.ctx), &buf, &len);
    if ((err = send_msg(s, buf, len, e)) != GS_OK)
      return err;
  }
  /* "I speak RANGES", before the digest (an older node answers PONG) */
  uint8_t *buf;
  size_t len;
  gs_err e = net_msg_ping(false, NET_RECON_NONCE, &buf, &len);
  if ((err = send_msg(s, buf, len, e)) != GS_OK)
    return err;
  return vv_digest_send(s);
}

/* ---- planning and sending tails ---- */

typedef struct plan_ctx {
  net_sync *s;
  gs_err err;
} plan_ctx;

static int on_plan_feed(void *ctx, const store_feed *f)
{
  plan_ctx *pc = ctx;
  net_sync *s = pc->s;
  uint64_t have = fm_get(&s->remote, f->feed);
  if (f->seq <= have)
    return 0;
  if (s->io.may_send &&
      !s->io.may_send(s->io.ctx, f->origin, f->scope, strlen(f->scope)))
    return 0; /* not for this peer's eyes */
  if (s->nplan == s->capplan) {
    size_t cap = s->capplan ? s->capplan * 2 : 64;
    tail *p = realloc(s->plan, cap * sizeof *p);
    if (!p) {
      pc->err = GS_ENOMEM;
      return 1;
    }
    s->plan = p;
    s->capplan = cap;
  }
  tail *t = &s->plan[s->nplan++];
  memcpy(t->feed, f->feed, CRDT_FEED_LEN);
  t->next = have + 1;
  t->to = f->seq;
  t->evidence = false;
  t->net = false;
  return 0;
}

/* Fork evidence this node keeps, offered to a peer that holds the feed
 * that far (it holds our branch, or it would have been found by the VV):
 * so that every node that meets one that knows of a fork knows of it. */
static int on_evidence(void *ctx, const uint8_t *feed, uint64_t seq,
                       const uint8_t *bytes, size_t n)
{
  plan_ctx *pc = ctx;
  net_sync *s = pc->s;
  store_feed f;
  (void)bytes, (void)n;
  if (fm_get(&s->fork_sent, feed) || fm_get(&s->remote, feed) < seq ||
      store_feed_get(s->st, feed, &f) != GS_OK ||
      (s->io.may_send &&
       !s->io.may_send(s->io.ctx, f.origin, f.scope, strlen(f.scope))))
    return 0;
  if ((pc->err = fm_raise(&s->fork_sent, feed, 1)) != GS_OK)
    return 1;
  if (s->nforks == s->capforks) {
    size_t cap = s->capforks ? s->capforks * 2 : 16;
    tail *p = realloc(s->forks, cap * sizeof *p);
    if (!p) {
      pc->err = GS_ENOMEM;
      return 1;
    }
    s->forks = p;
    s->capforks = cap;
  }
  tail *t = &s->forks[s->nforks++];
  memcpy(t->feed, feed, CRDT_FEED_LEN);
  t->next = t->to = seq;
  t->evidence = true;
  t->net = false;
  return s->nforks >= NET_SYNC_MAX_FEEDS;
}

/* Plan every tail the peer lacks (replacing a finished plan). */
static gs_err make_plan(net_sync *s)
{
  store_stats st;
  if (s->pos != s->nplan)
    return GS_OK; /* the current plan is still being sent; poll again */
  gs_err err = store_stats_get(s->st, &st);
  if (err)
    return err;
  s->seen_changes = st.changes;
  s->pos = s->nplan = 0;
  plan_ctx pc = {s, GS_OK};
  err = store_feeds(s->st, on_plan_feed, &pc);
  if (err || pc.err)
    return err ? err : pc.err;
  if (!s->evidence_planned && st.forks) {
    s->evidence_planned = true;
    if ((err = store_forks_list(s->st, on_evidence, &pc)) != GS_OK ||
        pc.err)
      return err ? err : pc.err;
  }
  /* the evidence of a fork first, once: our change where the peer holds
   * another (if the peer may see that feed at all) */
  if (s->nforks) {
    if (s->nplan + s->nforks > s->capplan) {
      size_t cap = s->nplan + s->nforks;
      tail *p = realloc(s->plan, cap * sizeof *p);
      if (!p)
        return GS_ENOMEM;
      s->plan = p;
      s->capplan = cap;
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nforks; i++) {
      store_feed f;
      if (store_feed_get(s->st, s->forks[i].feed, &f) != GS_OK ||
          (s->io.may_send && !s->io.may_send(s->io.ctx, f.origin, f.scope,
                                             strlen(f.scope))))
        continue;
      s->forks[k++] = s->forks[i];
    }
    memmove(&s->plan[k], s->plan, s->nplan * sizeof *s->plan);
    memcpy(s->plan, s->forks, k * sizeof *s->plan);
    s->nplan += k;
    s->nforks = 0;
  }
  /* membership feeds first: a receiver checks each change against the
   * memberships it holds, so a node's claim must come before its writes */
  size_t front = 0;
  for (size_t i = 0; i < s->nplan; i++) {
    store_feed f;
    if (store_feed_get(s->st, s->plan[i].feed, &f) == GS_OK &&
        f.scope[0] == '_') {
      tail t = s->plan[i];
      t.net = true;
      memmove(&s->plan[front + 1], &s->plan[front],
              (i - front) * sizeof t);
      s->plan[front++] = t;
    }
  }
  return GS_OK;
}

typedef struct fill_ctx {
  net_sync *s;
  tail *t;
  bool full;
} fill_ctx;

static int on_raw(void *ctx, uint64_t seq, const uint8_t *bytes, size_t n)
{
  fill_ctx *f = ctx;
  net_sync *s = f->s;
  if (s->nparts == NET_CHANGES_MAX ||
      s->enc_len + NET_CHANGE_COST(n) > NET_MSG_MAX) {
    f->full = true;
    return 1;
  }
  memcpy(s->stage + s->stage_len, bytes, n);
  s->parts[s->nparts].p = s->stage + s->stage_len;
  s->parts[s->nparts].n = n;
  s->nparts++;
  s->stage_len += n;
  s->enc_len += NET_CHANGE_COST(n);
  f->t->next = seq + 1;
  return 0;
}

/* A change as the store keeps it, for a peer that takes FRAMES: the
 * message is bounded by what it stands for (its changes unpacked, as
 * on_raw counts them), and the kept bytes go out as they are. */
static int on_kept(void *ctx, uint64_t seq, const uint8_t *kept, size_t n,
                   size_t raw_len)
{
  fill_ctx *f = ctx;
  net_sync *s = f->s;
  size_t cost = NET_CHANGE_COST(raw_len > n ? raw_len : n);
  if (s->nparts == NET_CHANGES_MAX || s->enc_len + cost > NET_MSG_MAX) {
    f->full = true;
    return 1;
  }
  memcpy(s->stage + s->stage_len, kept, n);
  s->parts[s->nparts].p = s->stage + s->stage_len;
  s->parts[s->nparts].n = n;
  s->nparts++;
  s->stage_len += n;
  s->enc_len += cost;
  f->t->next = seq + 1;
  return 0;
}

/* The last seq of feed going out in the message being filled. */
static gs_err flight_note(net_sync *s, const uint8_t feed[CRDT_FEED_LEN],
                          uint64_t seq)
{
  if (s->fl_n == s->fl_cap) {
    size_t cap = s->fl_cap ? s->fl_cap * 2 : 64;
    if (cap > (size_t)NET_SYNC_WINDOW * NET_CHANGES_MAX)
      return GS_ETOOBIG; /* a tail is at least one change */
    uint8_t(*f)[CRDT_FEED_LEN] = realloc(s->fl_feed, cap * sizeof *f);
    if (!f)
      return GS_ENOMEM;
    s->fl_feed = f;
    uint64_t *q = realloc(s->fl_seq, cap * sizeof *q);
    if (!q)
      return GS_ENOMEM;
    s->fl_seq = q;
    s->fl_cap = cap;
  }
  memcpy(s->fl_feed[s->fl_n], feed, CRDT_FEED_LEN);
  s->fl_seq[s->fl_n++] = seq;
  return GS_OK;
}

/* The ACK of the oldest message in flight: if the peer kept (or had)
 * every change of it, the peer holds its feeds up to the seqs sent; once
 * nothing is in flight, what was acknowledged is written as heard (one
 * store write per drained window, not one per ACK). */
static gs_err flight_acked(net_sync *s, const net_msg *m)
{
  size_t nparts = s->fl_msg[s->fl_first].nparts;
  size_t nt = s->fl_msg[s->fl_first].ntails;
  gs_err err = GS_OK;
  if (nt > s->fl_n)
    nt = s->fl_n; /* not reached: every message in flight was noted */
  bool all = m->u.ack.applied <= nparts &&
             m->u.ack.duplicates <= nparts - m->u.ack.applied &&
             m->u.ack.applied + m->u.ack.duplicates == nparts;
  for (size_t i = 0; i < nt && all && !err; i++)
    err = fm_raise(&s->acked, s->fl_feed[i], s->fl_seq[i]);
  if (s->fl_n > nt) { /* (never with NULL: nothing noted yet) */
    memmove(s->fl_feed, s->fl_feed + nt,
            (s->fl_n - nt) * sizeof *s->fl_feed);
    memmove(s->fl_seq, s->fl_seq + nt, (s->fl_n - nt) * sizeof *s->fl_seq);
  }
  s->fl_n -= nt;
  s->fl_first = (s->fl_first + 1) % NET_SYNC_WINDOW;
  if (err || s->inflight > 1 || s->acked.n == 0)
    return err;
  /* the last in flight: write what was acknowledged */
  uint8_t(*feeds)[CRDT_FEED_LEN] = malloc(s->acked.n * sizeof *feeds);
  uint64_t *seqs = malloc(s->acked.n * sizeof *seqs);
  size_t k = 0;
  err = GS_ENOMEM;
  if (feeds && seqs) {
    for (size_t i = 0; i < s->acked.cap; i++)
      if (s->acked.e[i].used) {
        memcpy(feeds[k], s->acked.e[i].feed, CRDT_FEED_LEN);
        seqs[k++] = s->acked.e[i].seq;
      }
    err = store_heard_raise(s->st, (const uint8_t(*)[CRDT_FEED_LEN])feeds,
                            seqs, k);
    memset(s->acked.e, 0, s->acked.cap * sizeof *s->acked.e);
    s->acked.n = 0;
  }
  free(feeds);
  free(seqs);
  return err;
}

/* Fill one CHANGES message from the plan and send it. */
static gs_err send_batch(net_sync *s)
{
  s->stage_len = 0;
  s->enc_len = NET_CHANGES_OVERHEAD;
  s->nparts = 0;
  size_t tails0 = s->fl_n; /* this message's tails start here */
  while (s->pos < s->nplan) {
    tail *t = &s->plan[s->pos];
    fill_ctx f = {s, t, false};
    uint64_t before = t->next;
    gs_err err =
        t->evidence ? store_fork_read(s->st, t->feed, t->next, on_raw, &f)
        : s->peer_frames
            ? store_feed_read_kept(s->st, t->feed, t->next, t->to, on_kept, &f)
            : store_feed_read(s->st, t->feed, t->next, t->to, on_raw, &f);
    if (err == GS_ENOTFOUND && t->evidence) {
      s->pos++; /* gone meanwhile */
      continue;
    }
    if (err)
      return err;
    if (t->next > before) {
      gs_err e = fm_raise(&s->remote, t->feed, t->next - 1);
      if (!e && !t->evidence) /* evidence is not the feed's own change */
        e = flight_note(s, t->feed, t->next - 1);
      if (e)
        return e;
      if (t->net)
        s->stats.net_changes += t->next - before;
    }
    if (f.full)
      break;
    if (t->next <= t->to)
      return GS_ECORRUPT; /* the store holds less than its VV says */
    s->pos++;
  }
  if (s->nparts == 0) {
    s->fl_n = tails0;
    return GS_OK;
  }
  size_t slot = (s->fl_first + s->inflight) % NET_SYNC_WINDOW;
  s->fl_msg[slot].nparts = s->nparts;
  s->fl_msg[slot].ntails = s->fl_n - tails0;
  uint8_t *buf;
  size_t len;
  gs_err err;
  if (s->peer_frames) {
    /* each change as the store keeps it (zstd-packed when that is
     * smaller, fork evidence raw): nothing unpacked nor packed again */
    if ((err = net_msg_frames(s->parts, s->nparts, &buf, &len)) != GS_OK)
      return err;
  } else {
    if ((err = net_msg_changes(s->parts, s->nparts, &buf, &len)) != GS_OK)
      return err;
    /* packed when that is smaller: changes repeat their collection, ids
     * and field names, and a batch of them packs severalfold */
    uint8_t *packed;
    size_t plen;
    if ((err = net_msg_pack(buf, len, &packed, &plen)) != GS_OK) {
      free(buf);
      return err;
    }
    if (packed) {
      free(buf);
      buf = packed;
      len = plen;
    }
  }
  s->stats.sent_changes += s->nparts;
  s->stats.sent_bytes += len;
  s->inflight++;
  return send_msg(s, buf, len, GS_OK);
}

gs_err net_sync_pump(net_sync *s)
{
  gs_err err;
  if (!s->vv_sent && (err = vv_pump(s, false)) != GS_OK)
    return err;
  if (!s->remote_vv_done || !s->vv_sent)
    return GS_OK;
  while (s->pos < s->nplan && s->inflight < NET_SYNC_WINDOW &&
         (!s->io.writable || s->io.writable(s->io.ctx)))
    if ((err = send_batch(s)) != GS_OK)
      return err;
  if (s->pos == s->nplan && !s->done_sent) {
    uint8_t *buf;
    size_t len;
    gs_err e = net_msg_done(&buf, &len);
    if ((err = send_msg(s, buf, len, e)) != GS_OK)
      return err;
    s->done_sent = true;
  }
  return GS_OK;
}

gs_err net_sync_poll(net_sync *s)
{
  store_stats st;
  if (!s->remote_vv_done)
    return GS_OK;
  gs_err err = store_stats_get(s->st, &st);
  if (err)
    return err;
  if ((st.changes != s->seen_changes || s->nforks) && s->pos == s->nplan &&
      (err = make_plan(s)) != GS_OK)
    return err;
  return net_sync_pump(s);
}

/* ---- receiving ---- */

static gs_err fork_note(net_sync *s, const uint8_t feed[CRDT_FEED_LEN],
                        uint64_t seq);
static gs_err make_plan(net_sync *s);

static bool same_feed(const crdt_change *a, const crdt_change *b)
{
  return memcmp(a->origin, b->origin, CRDT_KEY_LEN) == 0 &&
         a->scope_len == b->scope_len &&
         memcmp(a->scope, b->scope, a->scope_len) == 0;
}

/* ---- group commit (issue 20) ----
 * Received CHANGES messages are decoded once and decided at once (the
 * permission check, in order), and their kept changes wait in the group;
 * the group is applied in one store transaction (one fsync) by
 * group_flush, and only then is each of its messages acknowledged:
 * durability before an ACK stays. Without io.group every message is its
 * own group (flushed at once). A message carrying membership changes
 * ("_net") closes its group, so the next message is decided with them
 * stored. The group holds at most NET_SYNC_WINDOW messages (what a peer
 * may have in flight) and NET_SYNC_GROUP_BYTES of changes. */

static void group_clear(net_sync *s)
{
  for (size_t i = 0; i < s->g_n; i++) {
    crdt_change_free(s->g_cs[i]);
    free(s->g_frame[i]);
  }
  s->g_n = s->g_nmsgs = s->g_bytes = 0;
}

static gs_err group_room(net_sync *s, size_t more)
{
  if (s->g_n + more <= s->g_cap)
    return GS_OK;
  size_t cap = s->g_cap ? s->g_cap : 256;
  while (cap < s->g_n + more)
    cap *= 2;
  crdt_change **cs = realloc(s->g_cs, cap * sizeof *cs);
  if (!cs)
    return GS_ENOMEM;
  s->g_cs = cs;
  uint8_t *h = realloc(s->g_hold, cap);
  if (!h)
    return GS_ENOMEM;
  s->g_hold = h;
  uint8_t *o = realloc(s->g_out, cap);
  if (!o)
    return GS_ENOMEM;
  s->g_out = o;
  uint8_t **f = realloc(s->g_frame, cap * sizeof *f);
  if (!f)
    return GS_ENOMEM;
  s->g_frame = f;
  size_t *fn = realloc(s->g_frame_n, cap * sizeof *fn);
  if (!fn)
    return GS_ENOMEM;
  s->g_frame_n = fn;
  s->g_cap = cap;
  return GS_OK;
}

/* Apply the group in one transaction, then acknowledge its messages. On
 * error nothing of the group is stored and nothing acknowledged. */
static gs_err group_flush(net_sync *s, char *why, size_t whylen)
{
  store_result res;
  size_t bad = 0;
  gs_err err = GS_OK;
  if (!s->g_nmsgs)
    return GS_OK;
  memset(&res, 0, sizeof res);
  if (s->g_n) {
    /* what came packed is kept as it came: not packed again */
    store_apply_frames(s->st, s->g_cs, (const uint8_t *const *)s->g_frame,
                       s->g_frame_n, s->g_n);
    err = store_apply_changes(s->st, s->g_cs, s->g_n, s->g_hold, s->g_out,
                              &res, &bad);
    store_apply_frames(s->st, NULL, NULL, NULL, 0);
  }
  if (err) {
    snprintf(why, whylen, "refused %zu received changes at change %zu: %s",
             s->g_n, bad + 1, gs_strerror(err));
    group_clear(s);
    return err;
  }
  /* the peer holds what it sent (what we kept: the map stays bounded by
   * what this store holds); a bad feed is skipped from now on */
  for (size_t k = 0; k < s->g_n; k++) {
    const crdt_change *c = s->g_cs[k];
    uint8_t feed[CRDT_FEED_LEN];
    crdt_feed_id(c->origin, c->scope, c->scope_len, feed);
    if (s->g_out[k] == STORE_OUT_FULL && (err = fm_raise(&s->bad, feed, 1)))
      goto out; /* not stored: the rest of it would not follow */
    if (s->g_out[k] == STORE_OUT_BAD) {
      if ((err = fm_raise(&s->bad, feed, 1)) != GS_OK)
        goto out;
      /* a fork: the peer gets our change at that seq, its evidence */
      store_quar q;
      store_feed f;
      if (store_quar_get(s->st, feed, &q) == GS_OK &&
          q.reason == STORE_BAD_FORK &&
          store_feed_get(s->st, feed, &f) == GS_OK && c->seq <= f.seq &&
          (err = fork_note(s, feed, c->seq)) != GS_OK)
        goto out;
    }
    if ((err = fm_raise(&s->remote, feed, c->seq)) != GS_OK)
      goto out;
  }
  s->stats.recv_changes += res.applied;
  s->stats.recv_dups += res.duplicates;
  s->stats.held += res.held;
  s->stats.bad += res.bad;
  s->stats.groups++;
  if (s->io.after_apply && (res.applied || res.held || res.bad))
    s->io.after_apply(s->io.ctx, &res);
  /* fork evidence found in this group goes out before its ACKs: a peer
   * that is caught up once acknowledged closes the session, and would
   * never learn of the fork otherwise */
  if (s->nforks && s->remote_vv_done && s->pos == s->nplan &&
      ((err = make_plan(s)) != GS_OK || (err = net_sync_pump(s)) != GS_OK))
    goto out;
  for (size_t mi = 0, k = 0; mi < s->g_nmsgs && !err; mi++) {
    size_t kept = 0, dups = 0;
    for (; k < s->g_end[mi]; k++) {
      uint8_t o = s->g_out[k];
      kept += o == STORE_OUT_APPLIED || o == STORE_OUT_HELD;
      dups += o == STORE_OUT_DUP;
    }
    uint8_t *buf;
    size_t len;
    gs_err e = net_msg_ack(kept, dups, &buf, &len);
    err = send_msg(s, buf, len, e);
  }
out:
  group_clear(s);
  return err;
}

gs_err net_sync_flush(net_sync *s, char *why, size_t whylen)
{
  if (whylen)
    why[0] = '\0';
  gs_err err = group_flush(s, why, whylen);
  if (err && whylen && !*why)
    snprintf(why, whylen, "%s", gs_strerror(err));
  return err;
}

bool net_sync_pending(const net_sync *s)
{
  return s->g_nmsgs > 0;
}

/* m: a CHANGES message; frames: the FRAMES message it was unframed from,
 * or NULL. */
static gs_err on_changes(net_sync *s, const net_msg *m, const net_msg *frames,
                         char *why, size_t whylen)
{
  size_t n = m->u.changes.n, bytes = 0;
  crdt_change **cs = calloc(n ? n : 1, sizeof *cs);
  uint8_t *verdict = calloc(n ? n : 1, 1);
  bool net = false;
  gs_err err = GS_ENOMEM;
  if (!cs || !verdict || (err = group_room(s, n)) != GS_OK)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if ((err = crdt_change_decode(m->u.changes.changes[i].p,
                                  m->u.changes.changes[i].n, &cs[i]))) {
      snprintf(why, whylen, "refused a batch of %zu changes at change %zu: "
                            "%s",
               n, i + 1, gs_strerror(err));
      goto out;
    }
  }
  if (s->io.classify) {
    s->io.classify(s->io.ctx, (const crdt_change *const *)cs, n, verdict);
  } else if (s->io.check) {
    bool *keep = calloc(n ? n : 1, sizeof *keep);
    if (!keep) {
      err = GS_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < n; i++)
      keep[i] = true;
    s->io.check(s->io.ctx, (const crdt_change *const *)cs, n, keep);
    for (size_t i = 0; i < n; i++)
      verdict[i] = keep[i] ? 0 : NET_SYNC_REFUSE;
    free(keep);
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t feed[CRDT_FEED_LEN];
    crdt_feed_id(cs[i]->origin, cs[i]->scope, cs[i]->scope_len, feed);
    if (fm_get(&s->bad, feed)) {
      s->stats.bad++; /* isolated earlier in this session */
      continue;
    }
    if (verdict[i] == NET_SYNC_REFUSE) {
      /* nothing after a refused change of its feed can be stored, in
       * this batch or later in the session */
      for (size_t j = i + 1; j < n; j++)
        if (same_feed(cs[j], cs[i]))
          verdict[j] = NET_SYNC_REFUSE;
      if ((err = fm_raise(&s->bad, feed, 1)) != GS_OK)
        goto out;
      s->stats.refused++;
      continue;
    }
    if (cs[i]->scope_len && cs[i]->scope[0] == '_') {
      net = true;
      s->stats.net_changes++;
    }
    /* kept: the group owns it now, with the frame it came in */
    s->g_frame[s->g_n] = NULL;
    s->g_frame_n[s->g_n] = 0;
    if (frames && frames->u.changes.changes[i].p != m->u.changes.changes[i].p) {
      const net_bytes *f = &frames->u.changes.changes[i];
      if (!(s->g_frame[s->g_n] = malloc(f->n))) {
        err = GS_ENOMEM;
        goto out;
      }
      memcpy(s->g_frame[s->g_n], f->p, f->n);
      s->g_frame_n[s->g_n] = f->n;
    }
    s->g_hold[s->g_n] = verdict[i];
    s->g_cs[s->g_n++] = cs[i];
    bytes += cs[i]->raw_len;
    cs[i] = NULL;
  }
  s->g_end[s->g_nmsgs++] = s->g_n;
  s->g_bytes += bytes;
  err = GS_OK;
  if (!s->io.group || net || s->g_nmsgs >= NET_SYNC_WINDOW ||
      s->g_bytes >= NET_SYNC_GROUP_BYTES)
    err = group_flush(s, why, whylen);
out:
  if (cs)
    for (size_t i = 0; i < n; i++)
      crdt_change_free(cs[i]);
  free(cs);
  free(verdict);
  return err;
}

typedef struct hash_ctx {
  uint8_t hash[CRDT_HASH_LEN];
  bool got;
} hash_ctx;

static int on_hash_raw(void *ctx, uint64_t seq, const uint8_t *bytes,
                       size_t n)
{
  hash_ctx *h = ctx;
  (void)seq;
  crdt_change_hash_raw(bytes, n, h->hash);
  h->got = true;
  return 1;
}

/* Does the peer's head at ve->seq differ from our change there? */
static gs_err head_differs(net_sync *s, const store_feed *f,
                           const net_vv_entry *ve, bool *differ)
{
  hash_ctx h = {.got = false};
  *differ = false;
  if (ve->seq == f->seq) {
    *differ = memcmp(ve->head, f->head, CRDT_HASH_LEN) != 0;
    return GS_OK;
  }
  gs_err err = store_feed_read(s->st, f->feed, ve->seq, ve->seq, on_hash_raw,
                               &h);
  if (err)
    return err;
  *differ = h.got && memcmp(ve->head, h.hash, CRDT_HASH_LEN) != 0;
  return GS_OK;
}

static gs_err fork_note(net_sync *s, const uint8_t feed[CRDT_FEED_LEN],
                        uint64_t seq)
{
  if (fm_get(&s->fork_sent, feed))
    return GS_OK; /* once per feed and session: no ping-pong */
  gs_err err = fm_raise(&s->fork_sent, feed, 1);
  if (err)
    return err;
  if (s->nforks == s->capforks) {
    size_t cap = s->capforks ? s->capforks * 2 : 16;
    tail *p = realloc(s->forks, cap * sizeof *p);
    if (!p)
      return GS_ENOMEM;
    s->forks = p;
    s->capforks = cap;
  }
  tail *t = &s->forks[s->nforks++];
  memcpy(t->feed, feed, CRDT_FEED_LEN);
  t->next = t->to = seq;
  t->evidence = false;
  t->net = false;
  return GS_OK;
}

/* Keep what the peer holds, for status ("how far behind"). */
static gs_err remember_heard(net_sync *s, const net_msg *m)
{
  size_t n = m->u.vv.n;
  uint8_t(*feeds)[CRDT_FEED_LEN] = malloc(n * sizeof *feeds);
  uint64_t *seqs = malloc(n * sizeof *seqs);
  gs_err err = GS_ENOMEM;
  if (feeds && seqs) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      if (!m->u.vv.entries[i].seq)
        continue;
      memcpy(feeds[k], m->u.vv.entries[i].feed, CRDT_FEED_LEN);
      seqs[k++] = m->u.vv.entries[i].seq;
    }
    err = k ? store_heard_raise(s->st,
                                (const uint8_t(*)[CRDT_FEED_LEN])feeds, seqs,
                                k)
            : GS_OK;
  }
  free(feeds);
  free(seqs);
  return err;
}

/* The peer's entries (a VV page, or the entries a reconciliation
 * learned): what it holds of each feed we hold; another head at a seq we
 * hold is a fork. Entries of feeds we do not hold get seq 0 (not
 * remembered as heard). */
static gs_err vv_entries(net_sync *s, net_vv_entry *en, size_t n)
{
  gs_err err = GS_OK;
  /* only feeds held here matter (what we could send); the rest of a
   * peer's vector is not kept, so it cannot grow our memory */
  for (size_t i = 0; i < n && !err; i++) {
    store_feed f;
    gs_err e = store_feed_get(s->st, en[i].feed, &f);
    if (e == GS_ENOTFOUND) {
      en[i].seq = 0; /* not remembered as heard either */
      continue;
    }
    if (e) {
      err = e;
      break;
    }
    const net_vv_entry *ve = &en[i];
    uint64_t theirs = ve->seq;
    if (ve->has_head && ve->seq > 0 && ve->seq <= f.seq) {
      bool differ;
      if ((err = head_differs(s, &f, ve, &differ)) != GS_OK)
        break;
      if (differ) {
        /* another branch: send our change at their seq (their
         * evidence of the fork), not the tail */
        if ((err = fork_note(s, ve->feed, ve->seq)) != GS_OK)
          break;
        s->stats.forks_seen++;
        theirs = f.seq;
      }
    }
    err = fm_raise(&s->remote, ve->feed, theirs);
  }
  return err;
}

/* ---- reconciliation by ranges (issue 20; net/recon.h) ---- */

static gs_err recon_theirs(void *ctx, const net_vv_entry *e, size_t n)
{
  net_sync *s = ctx;
  net_vv_entry *copy = malloc((n ? n : 1) * sizeof *copy);
  if (!copy)
    return GS_ENOMEM;
  memcpy(copy, e, n * sizeof *copy);
  gs_err err = vv_entries(s, copy, n);
  if (!err) {
    net_msg m = {.type = NET_MSG_VV};
    m.u.vv.entries = copy;
    m.u.vv.n = n;
    err = remember_heard(s, &m);
  }
  free(copy);
  return err;
}

static gs_err recon_same(void *ctx, const net_vv_entry *e, size_t n)
{
  net_sync *s = ctx;
  for (size_t i = 0; i < n; i++) {
    gs_err err = fm_raise(&s->remote, e[i].feed, e[i].seq);
    if (err)
      return err;
  }
  return GS_OK;
}

static gs_err recon_send(void *ctx, const uint8_t *msg, size_t n)
{
  net_sync *s = ctx;
  gs_err err = s->io.send(s->io.ctx, msg, n);
  if (!err)
    s->stats.msgs_out++;
  return err;
}

/* After a step of the reconciliation: our round if it is our turn; the
 * whole vector if it gave up; the plan once it is over. */
static gs_err recon_next(net_sync *s)
{
  gs_err err = GS_OK;
  if (recon_fallback(s->recon)) {
    s->stats.recon_rounds = recon_get_stats(s->recon)->rounds;
    s->stats.recon_fell_back = true;
    recon_free(s->recon);
    s->recon = NULL;
    s->vv_full = true; /* the peer, seeing a VV page, does the same */
    return vv_pump(s, true);
  }
  if (recon_our_turn(s->recon) &&
      (err = recon_take(s->recon, recon_send, s)) != GS_OK)
    return err;
  if (recon_done(s->recon)) {
    s->stats.recon_rounds = recon_get_stats(s->recon)->rounds;
    recon_free(s->recon);
    s->recon = NULL;
    s->vv_sent = true;
    s->remote_vv_done = true;
    if ((err = make_plan(s)) == GS_OK)
      err = net_sync_pump(s);
  }
  return err;
}

gs_err net_sync_on_msg(net_sync *s, const uint8_t *msg, size_t n, char *why,
                       size_t whylen)
{
  net_msg m;
  if (whylen)
    why[0] = '\0';
  gs_err err = net_msg_decode(msg, n, &m);
  s->stats.msgs_in++;
  s->stats.recv_bytes += n;
  if (err) {
    snprintf(why, whylen, "malformed message: %s", gs_strerror(err));
    return err;
  }
  /* what was received before this message is stored and acknowledged
   * first: the group holds CHANGES only */
  if (m.type != NET_MSG_CHANGES && m.type != NET_MSG_PACKED &&
      m.type != NET_MSG_FRAMES && (err = group_flush(s, why, whylen)) != GS_OK) {
    net_msg_free(&m);
    return err;
  }
  switch (m.type) {
  case NET_MSG_VV:
    if (s->remote_vv_done) {
      snprintf(why, whylen, "version vector sent twice");
      err = GS_EPROTO;
      break;
    }
    if (!s->peer_first) {
      bool handled;
      if ((err = vv_first_page(s, &m, &handled)) != GS_OK || handled)
        break;
    } else if (s->recon) {
      /* the peer gave up the reconciliation: whole vectors both ways */
      s->stats.recon_rounds = recon_get_stats(s->recon)->rounds;
      s->stats.recon_fell_back = true;
      recon_free(s->recon);
      s->recon = NULL;
      s->vv_full = true;
      if ((err = vv_pump(s, true)) != GS_OK)
        break;
    }
    s->vv_seen += m.u.vv.n;
    if (s->vv_seen > NET_SYNC_MAX_FEEDS) {
      snprintf(why, whylen, "version vector of more than %d feeds",
               NET_SYNC_MAX_FEEDS);
      err = GS_ETOOBIG;
      break;
    }
    err = vv_entries(s, m.u.vv.entries, m.u.vv.n);
    if (!err && m.u.vv.n)
      err = remember_heard(s, &m);
    if (!err && !m.u.vv.more) {
      s->remote_vv_done = true;
      if ((err = make_plan(s)) == GS_OK)
        err = net_sync_pump(s);
    }
    break;
  case NET_MSG_CHANGES:
    err = on_changes(s, &m, NULL, why, whylen);
    break;
  case NET_MSG_PACKED: {
    net_msg inner;
    if (!s->unpacked && !(s->unpacked = malloc(NET_MSG_MAX))) {
      err = GS_ENOMEM;
      break;
    }
    if ((err = net_msg_unpack(&m, s->unpacked, &inner)) != GS_OK) {
      snprintf(why, whylen, "malformed packed changes: %s",
               gs_strerror(err));
      break;
    }
    err = on_changes(s, &inner, NULL, why, whylen);
    net_msg_free(&inner);
    break;
  }
  case NET_MSG_FRAMES: {
    net_msg inner;
    if (!s->unframer && (err = net_unframer_new(&s->unframer)) != GS_OK)
      break;
    if ((err = net_msg_unframe(s->unframer, &m, &inner)) != GS_OK) {
      snprintf(why, whylen, "malformed framed changes: %s",
               gs_strerror(err));
      break;
    }
    err = on_changes(s, &inner, &m, why, whylen);
    net_msg_free(&inner);
    break;
  }
  case NET_MSG_ACK:
    if (s->inflight == 0) {
      snprintf(why, whylen, "acknowledgement of nothing");
      err = GS_EPROTO;
      break;
    }
    err = flight_acked(s, &m);
    s->inflight--;
    if (!err)
      err = net_sync_pump(s);
    break;
  case NET_MSG_DONE:
    s->done_recv = true;
    break;
  case NET_MSG_RANGES: {
    if (!s->recon) {
      snprintf(why, whylen, "ranges outside a reconciliation");
      err = GS_EPROTO;
      break;
    }
    recon_sink sink = {recon_theirs, recon_same, s};
    if ((err = recon_on_msg(s->recon, &m, &sink, why, whylen)) == GS_OK)
      err = recon_next(s);
    break;
  }
  case NET_MSG_PING: {
    if (m.u.nonce == NET_RECON_NONCE && !s->peer_first) {
      s->peer_recon = true; /* a capability, not a question */
      break;
    }
    if (m.u.nonce == NET_FRAMES_NONCE && !s->remote_vv_done) {
      s->peer_frames = true; /* likewise, before it plans */
      break;
    }
    uint8_t *buf;
    size_t len;
    gs_err e = net_msg_ping(true, m.u.nonce, &buf, &len);
    err = send_msg(s, buf, len, e);
    break;
  }
  case NET_MSG_PONG:
    break;
  case NET_MSG_HELLO:
    if (s->hello_recv) {
      snprintf(why, whylen, "hello sent twice");
      err = GS_EPROTO;
      break;
    }
    s->hello_recv = true;
    s->stats.peer_wall_ms = m.u.wall_ms;
    if (s->io.on_hello)
      s->io.on_hello(s->io.ctx, m.u.wall_ms);
    break;
  case NET_MSG_PEERS:
    if (s->io.on_peers)
      s->io.on_peers(s->io.ctx, m.u.peers.addrs, m.u.peers.n);
    break;
  case NET_MSG_ERROR:
    snprintf(why, whylen, "peer reported: %.*s", (int)m.u.error.reason.n,
             (const char *)m.u.error.reason.p);
    err = GS_EPROTO;
    break;
  }
  if (err && !*why)
    snprintf(why, whylen, "%s", gs_strerror(err));
  net_msg_free(&m);
  return err;
}
