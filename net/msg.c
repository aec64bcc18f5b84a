/* Typed net messages: strict msgpack codec (see msg.h). */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "net/msg.h"

#define MSG_DEPTH 5 /* RANGES: message, ranges, range, entries, entry */

void net_msg_free(net_msg *m)
{
  if (!m)
    return;
  switch (m->type) {
  case NET_MSG_VV:
    free(m->u.vv.entries);
    break;
  case NET_MSG_CHANGES:
  case NET_MSG_FRAMES:
    free(m->u.changes.changes);
    break;
  case NET_MSG_PEERS:
    free(m->u.peers.addrs);
    break;
  case NET_MSG_RANGES:
    free(m->u.ranges.ranges);
    free(m->u.ranges.entries);
    break;
  default:
    break;
  }
  memset(m, 0, sizeof *m);
}

static gs_err text(const msgpack_object *o, size_t max, net_bytes *out)
{
  if (o->type != MSGPACK_OBJECT_STR)
    return GS_EDECODE;
  if (o->via.str.size > max)
    return GS_ETOOBIG;
  if (!crdt_utf8_valid(o->via.str.ptr, o->via.str.size))
    return GS_EUTF8;
  out->p = (const uint8_t *)o->via.str.ptr;
  out->n = o->via.str.size;
  return GS_OK;
}

int net_bound_cmp(const net_bound *a, const net_bound *b)
{
  if (a->inf || b->inf)
    return (int)a->inf - (int)b->inf;
  return memcmp(a->v, b->v, CRDT_FEED_LEN);
}

/* A bound: bin of 0..16 bytes, no trailing zero; empty = zero, or the
 * end when as_hi. */
static gs_err bound_decode(const msgpack_object *o, bool as_hi, net_bound *b)
{
  memset(b, 0, sizeof *b);
  if (o->type != MSGPACK_OBJECT_BIN)
    return GS_EDECODE;
  size_t n = o->via.bin.size;
  if (n > CRDT_FEED_LEN)
    return GS_ETOOBIG;
  if (n && o->via.bin.ptr[n - 1] == 0)
    return GS_EDECODE; /* not canonical */
  memcpy(b->v, o->via.bin.ptr, n);
  b->inf = as_hi && n == 0;
  return GS_OK;
}

/* A VV entry [feed, seq, head] (or [feed, 0] in ranges). */
static gs_err entry_decode(const msgpack_object *e, net_vv_entry *ve)
{
  gs_err err;
  if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 2 ||
      e->via.array.size > 3)
    return GS_EDECODE;
  if ((err = crdt_mp_bin(&e->via.array.ptr[0], CRDT_FEED_LEN, ve->feed)) !=
          GS_OK ||
      (err = crdt_mp_uint(&e->via.array.ptr[1], &ve->seq)) != GS_OK)
    return err;
  if (ve->seq > NET_SEQ_MAX)
    return GS_ETOOBIG;
  if (e->via.array.size == 3) {
    if ((err = crdt_mp_bin(&e->via.array.ptr[2], CRDT_HASH_LEN, ve->head)) !=
        GS_OK)
      return err;
    ve->has_head = true;
  }
  return GS_OK;
}

static gs_err decode_ranges(const msgpack_object *a, size_t na, net_msg *m)
{
  gs_err err;
  if (na != 4 || a[2].type != MSGPACK_OBJECT_ARRAY ||
      a[3].type != MSGPACK_OBJECT_BOOLEAN)
    return GS_EDECODE;
  if ((err = bound_decode(&a[1], false, &m->u.ranges.lo)) != GS_OK)
    return err;
  m->u.ranges.more = a[3].via.boolean;
  size_t n = a[2].via.array.size, total = 0;
  if (n > NET_RANGES_MAX)
    return GS_ETOOBIG;
  /* count the entries first: one allocation, bounded */
  for (size_t i = 0; i < n; i++) {
    const msgpack_object *r = &a[2].via.array.ptr[i];
    if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size < 2)
      return GS_EDECODE;
    if (r->via.array.size == 3 &&
        r->via.array.ptr[2].type == MSGPACK_OBJECT_ARRAY) {
      if (r->via.array.ptr[2].via.array.size > NET_RANGE_ITEMS_MAX)
        return GS_ETOOBIG;
      total += r->via.array.ptr[2].via.array.size;
    }
  }
  if (total > NET_VV_PAGE)
    return GS_ETOOBIG;
  if (n && !(m->u.ranges.ranges = calloc(n, sizeof *m->u.ranges.ranges)))
    return GS_ENOMEM;
  if (total &&
      !(m->u.ranges.entries = calloc(total, sizeof *m->u.ranges.entries)))
    return GS_ENOMEM;
  net_bound prev = m->u.ranges.lo;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const msgpack_object *r = a[2].via.array.ptr[i].via.array.ptr;
    size_t rn = a[2].via.array.ptr[i].via.array.size;
    net_range *g = &m->u.ranges.ranges[i];
    uint64_t mode;
    if ((err = bound_decode(&r[0], true, &g->hi)) != GS_OK ||
        (err = crdt_mp_uint(&r[1], &mode)) != GS_OK)
      return err;
    /* bounds strictly increase; the end only last */
    if (prev.inf || net_bound_cmp(&prev, &g->hi) >= 0)
      return GS_EDECODE;
    prev = g->hi;
    g->mode = (net_range_mode)mode;
    switch (mode) {
    case NET_RANGE_SKIP:
      if (rn != 2)
        return GS_EDECODE;
      break;
    case NET_RANGE_FP:
      if (rn != 4 ||
          (err = crdt_mp_uint(&r[2], &g->count)) != GS_OK ||
          (err = crdt_mp_bin(&r[3], NET_FP_LEN, g->fp)) != GS_OK)
        return err ? err : GS_EDECODE;
      if (g->count > NET_SEQ_MAX)
        return GS_ETOOBIG;
      break;
    case NET_RANGE_ITEMS:
    case NET_RANGE_FINAL: {
      if (rn != 3 || r[2].type != MSGPACK_OBJECT_ARRAY)
        return GS_EDECODE;
      size_t ne = r[2].via.array.size;
      net_bound lo = i ? m->u.ranges.ranges[i - 1].hi : m->u.ranges.lo;
      g->items = ne ? &m->u.ranges.entries[k] : NULL;
      for (size_t j = 0; j < ne; j++) {
        net_vv_entry *ve = &m->u.ranges.entries[k++];
        if ((err = entry_decode(&r[2].via.array.ptr[j], ve)) != GS_OK)
          return err;
        /* no head at seq 0; a head at every seq of ITEMS (a FINAL may
         * leave it out: the peer needs it only at a seq it holds) */
        if ((ve->has_head && ve->seq == 0) ||
            (mode == NET_RANGE_ITEMS && ve->seq > 0 && !ve->has_head))
          return GS_EDECODE;
        net_bound fb = {.inf = false};
        memcpy(fb.v, ve->feed, CRDT_FEED_LEN);
        /* inside [lo, hi), in strictly increasing order */
        if (net_bound_cmp(&fb, &lo) < 0 || net_bound_cmp(&fb, &g->hi) >= 0 ||
            (j && memcmp(ve[-1].feed, ve->feed, CRDT_FEED_LEN) >= 0))
          return GS_EDECODE;
        g->n = j + 1;
      }
      break;
    }
    default:
      return GS_EDECODE;
    }
    m->u.ranges.n = i + 1;
  }
  return GS_OK;
}

static gs_err decode_body(const msgpack_object *a, size_t na, net_msg *m)
{
  gs_err err;
  switch (m->type) {
  case NET_MSG_VV: {
    if (na != 3 || a[1].type != MSGPACK_OBJECT_ARRAY ||
        a[2].type != MSGPACK_OBJECT_BOOLEAN)
      return GS_EDECODE;
    size_t n = a[1].via.array.size;
    if (n > NET_VV_PAGE)
      return GS_ETOOBIG;
    m->u.vv.more = a[2].via.boolean;
    if (n && !(m->u.vv.entries = calloc(n, sizeof *m->u.vv.entries)))
      return GS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      const msgpack_object *e = &a[1].via.array.ptr[i];
      net_vv_entry *ve = &m->u.vv.entries[i];
      if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 2 ||
          e->via.array.size > 3)
        return GS_EDECODE;
      if ((err = crdt_mp_bin(&e->via.array.ptr[0], CRDT_FEED_LEN,
                             ve->feed)) != GS_OK ||
          (err = crdt_mp_uint(&e->via.array.ptr[1], &ve->seq)) != GS_OK)
        return err;
      if (ve->seq > NET_SEQ_MAX)
        return GS_ETOOBIG;
      if (e->via.array.size == 3) {
        if ((err = crdt_mp_bin(&e->via.array.ptr[2], CRDT_HASH_LEN,
                               ve->head)) != GS_OK)
          return err;
        ve->has_head = true;
      }
      m->u.vv.n = i + 1;
    }
    return GS_OK;
  }
  case NET_MSG_CHANGES:
  case NET_MSG_FRAMES: { /* FRAMES: the same shape, each change as kept */
    if (na != 2 || a[1].type != MSGPACK_OBJECT_ARRAY)
      return GS_EDECODE;
    size_t n = a[1].via.array.size;
    if (n == 0)
      return GS_EDECODE;
    if (n > NET_CHANGES_MAX)
      return GS_ETOOBIG;
    if (!(m->u.changes.changes = calloc(n, sizeof *m->u.changes.changes)))
      return GS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      const msgpack_object *c = &a[1].via.array.ptr[i];
      if (c->type != MSGPACK_OBJECT_BIN)
        return GS_EDECODE;
      if (c->via.bin.size > CRDT_CHANGE_MAX || c->via.bin.size == 0)
        return c->via.bin.size ? GS_ETOOBIG : GS_EDECODE;
      m->u.changes.changes[i].p = (const uint8_t *)c->via.bin.ptr;
      m->u.changes.changes[i].n = c->via.bin.size;
      m->u.changes.n = i + 1;
    }
    return GS_OK;
  }
  case NET_MSG_ACK:
    if (na != 3)
      return GS_EDECODE;
    if ((err = crdt_mp_uint(&a[1], &m->u.ack.applied)) != GS_OK ||
        (err = crdt_mp_uint(&a[2], &m->u.ack.duplicates)) != GS_OK)
      return err;
    if (m->u.ack.applied > NET_CHANGES_MAX ||
        m->u.ack.duplicates > NET_CHANGES_MAX - m->u.ack.applied)
      return GS_ETOOBIG;
    return GS_OK;
  case NET_MSG_HELLO:
    if (na != 2)
      return GS_EDECODE;
    if ((err = crdt_mp_uint(&a[1], &m->u.wall_ms)) != GS_OK)
      return err;
    return m->u.wall_ms > NET_WALL_MAX ? GS_ETOOBIG : GS_OK;
  case NET_MSG_DONE:
    return na == 1 ? GS_OK : GS_EDECODE;
  case NET_MSG_PING:
  case NET_MSG_PONG:
    if (na != 2)
      return GS_EDECODE;
    return crdt_mp_uint(&a[1], &m->u.nonce);
  case NET_MSG_ERROR:
    if (na != 3)
      return GS_EDECODE;
    if (a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
      if (a[1].via.u64 > INT64_MAX)
        return GS_EDECODE;
      m->u.error.code = (int64_t)a[1].via.u64;
    } else if (a[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
      m->u.error.code = a[1].via.i64;
    } else {
      return GS_EDECODE;
    }
    return text(&a[2], NET_REASON_MAX, &m->u.error.reason);
  case NET_MSG_PEERS: {
    if (na != 2 || a[1].type != MSGPACK_OBJECT_ARRAY)
      return GS_EDECODE;
    size_t n = a[1].via.array.size;
    if (n > NET_PEERS_MAX)
      return GS_ETOOBIG;
    if (n && !(m->u.peers.addrs = calloc(n, sizeof *m->u.peers.addrs)))
      return GS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      if ((err = text(&a[1].via.array.ptr[i], NET_ADDR_MAX,
                      &m->u.peers.addrs[i])) != GS_OK)
        return err;
      if (m->u.peers.addrs[i].n == 0)
        return GS_EDECODE;
      m->u.peers.n = i + 1;
    }
    return GS_OK;
  }
  case NET_MSG_PACKED:
    if (na != 2 || a[1].type != MSGPACK_OBJECT_BIN || a[1].via.bin.size == 0)
      return GS_EDECODE;
    m->u.packed.p = (const uint8_t *)a[1].via.bin.ptr;
    m->u.packed.n = a[1].via.bin.size;
    return GS_OK;
  case NET_MSG_RANGES:
    return decode_ranges(a, na, m);
  }
  return GS_EDECODE;
}

gs_err net_msg_decode(const uint8_t *buf, size_t n, net_msg *out)
{
  msgpack_unpacked u;
  uint64_t type;
  gs_err err;

  memset(out, 0, sizeof *out);
  if (n > NET_MSG_MAX)
    return GS_ETOOBIG;
  if ((err = crdt_mp_unpack(buf, n, MSG_DEPTH, &u)) != GS_OK)
    goto done;
  const msgpack_object *o = &u.data;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0) {
    err = GS_EDECODE;
    goto done;
  }
  const msgpack_object *a = o->via.array.ptr;
  if ((err = crdt_mp_uint(&a[0], &type)) != GS_OK)
    goto done;
  if (type < NET_MSG_VV || type > NET_MSG_FRAMES) {
    err = GS_EDECODE;
    goto done;
  }
  out->type = (net_msg_type)type;
  err = decode_body(a, o->via.array.size, out);
done:
  msgpack_unpacked_destroy(&u);
  if (err)
    net_msg_free(out);
  return err;
}

/* ---- encoding ---- */

typedef struct enc {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} enc;

static void enc_init(enc *e, net_msg_type type, size_t n)
{
  msgpack_sbuffer_init(&e->sb);
  msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
  msgpack_pack_array(&e->pk, n);
  msgpack_pack_uint8(&e->pk, (uint8_t)type);
}

static gs_err enc_done(enc *e, uint8_t **out, size_t *len)
{
  if (!e->sb.data) {
    msgpack_sbuffer_destroy(&e->sb);
    return GS_ENOMEM;
  }
  if (e->sb.size > NET_MSG_MAX) {
    msgpack_sbuffer_destroy(&e->sb);
    return GS_ETOOBIG;
  }
  *len = e->sb.size;
  *out = (uint8_t *)msgpack_sbuffer_release(&e->sb);
  return GS_OK;
}

gs_err net_msg_vv(const net_vv_entry *en, size_t n, bool more, uint8_t **out,
                  size_t *len)
{
  enc e;
  if (n > NET_VV_PAGE)
    return GS_ETOOBIG;
  enc_init(&e, NET_MSG_VV, 3);
  msgpack_pack_array(&e.pk, n);
  for (size_t i = 0; i < n; i++) {
    if (en[i].seq > NET_SEQ_MAX) {
      msgpack_sbuffer_destroy(&e.sb);
      return GS_ETOOBIG;
    }
    msgpack_pack_array(&e.pk, en[i].has_head ? 3 : 2);
    msgpack_pack_bin(&e.pk, CRDT_FEED_LEN);
    msgpack_pack_bin_body(&e.pk, en[i].feed, CRDT_FEED_LEN);
    msgpack_pack_uint64(&e.pk, en[i].seq);
    if (en[i].has_head) {
      msgpack_pack_bin(&e.pk, CRDT_HASH_LEN);
      msgpack_pack_bin_body(&e.pk, en[i].head, CRDT_HASH_LEN);
    }
  }
  if (more)
    msgpack_pack_true(&e.pk);
  else
    msgpack_pack_false(&e.pk);
  return enc_done(&e, out, len);
}

static gs_err changes_enc(net_msg_type type, const net_bytes *c, size_t n,
                          uint8_t **out, size_t *len)
{
  enc e;
  if (n == 0 || n > NET_CHANGES_MAX)
    return n ? GS_ETOOBIG : GS_EINVAL;
  enc_init(&e, type, 2);
  msgpack_pack_array(&e.pk, n);
  for (size_t i = 0; i < n; i++) {
    if (c[i].n == 0 || c[i].n > CRDT_CHANGE_MAX) {
      msgpack_sbuffer_destroy(&e.sb);
      return c[i].n ? GS_ETOOBIG : GS_EINVAL;
    }
    msgpack_pack_bin(&e.pk, c[i].n);
    msgpack_pack_bin_body(&e.pk, c[i].p, c[i].n);
  }
  return enc_done(&e, out, len);
}

gs_err net_msg_changes(const net_bytes *c, size_t n, uint8_t **out,
                       size_t *len)
{
  return changes_enc(NET_MSG_CHANGES, c, n, out, len);
}

gs_err net_msg_frames(const net_bytes *c, size_t n, uint8_t **out,
                      size_t *len)
{
  return changes_enc(NET_MSG_FRAMES, c, n, out, len);
}

gs_err net_msg_ack(uint64_t applied, uint64_t duplicates, uint8_t **out,
                   size_t *len)
{
  enc e;
  enc_init(&e, NET_MSG_ACK, 3);
  msgpack_pack_uint64(&e.pk, applied);
  msgpack_pack_uint64(&e.pk, duplicates);
  return enc_done(&e, out, len);
}

gs_err net_msg_done(uint8_t **out, size_t *len)
{
  enc e;
  enc_init(&e, NET_MSG_DONE, 1);
  return enc_done(&e, out, len);
}

gs_err net_msg_hello(uint64_t wall_ms, uint8_t **out, size_t *len)
{
  enc e;
  if (wall_ms > NET_WALL_MAX)
    wall_ms = NET_WALL_MAX;
  enc_init(&e, NET_MSG_HELLO, 2);
  msgpack_pack_uint64(&e.pk, wall_ms);
  return enc_done(&e, out, len);
}

gs_err net_msg_ping(bool pong, uint64_t nonce, uint8_t **out, size_t *len)
{
  enc e;
  enc_init(&e, pong ? NET_MSG_PONG : NET_MSG_PING, 2);
  msgpack_pack_uint64(&e.pk, nonce);
  return enc_done(&e, out, len);
}

gs_err net_msg_error(int64_t code, const char *reason, uint8_t **out,
                     size_t *len)
{
  enc e;
  size_t rn = strlen(reason);
  if (rn > NET_REASON_MAX)
    rn = NET_REASON_MAX;
  while (rn > 0 && !crdt_utf8_valid(reason, rn))
    rn--; /* cut at a character boundary */
  enc_init(&e, NET_MSG_ERROR, 3);
  msgpack_pack_int64(&e.pk, code);
  msgpack_pack_str(&e.pk, rn);
  msgpack_pack_str_body(&e.pk, reason, rn);
  return enc_done(&e, out, len);
}

gs_err net_msg_peers(const net_bytes *addrs, size_t n, uint8_t **out,
                     size_t *len)
{
  enc e;
  if (n > NET_PEERS_MAX)
    return GS_ETOOBIG;
  enc_init(&e, NET_MSG_PEERS, 2);
  msgpack_pack_array(&e.pk, n);
  for (size_t i = 0; i < n; i++) {
    if (addrs[i].n == 0 || addrs[i].n > NET_ADDR_MAX ||
        !crdt_utf8_valid((const char *)addrs[i].p, addrs[i].n)) {
      msgpack_sbuffer_destroy(&e.sb);
      return GS_EINVAL;
    }
    msgpack_pack_str(&e.pk, addrs[i].n);
    msgpack_pack_str_body(&e.pk, addrs[i].p, addrs[i].n);
  }
  return enc_done(&e, out, len);
}

static void bound_pack(msgpack_packer *pk, const net_bound *b)
{
  size_t n = 0;
  if (!b->inf)
    for (n = CRDT_FEED_LEN; n > 0 && b->v[n - 1] == 0; n--)
      ;
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, b->v, n);
}

gs_err net_msg_ranges(const net_bound *lo, const net_range *r, size_t n,
                      bool more, uint8_t **out, size_t *len)
{
  enc e;
  size_t total = 0;
  if (n > NET_RANGES_MAX)
    return GS_ETOOBIG;
  if (lo->inf)
    return GS_EINVAL;
  net_bound prev = *lo;
  for (size_t i = 0; i < n; i++) {
    /* a hi of zero would encode as the end: bounds above lo only */
    if (prev.inf || net_bound_cmp(&prev, &r[i].hi) >= 0)
      return GS_EINVAL;
    if (r[i].mode == NET_RANGE_ITEMS || r[i].mode == NET_RANGE_FINAL) {
      if (r[i].n > NET_RANGE_ITEMS_MAX)
        return GS_ETOOBIG;
      total += r[i].n;
      for (size_t j = 0; j < r[i].n; j++) {
        net_bound fb = {.inf = false};
        memcpy(fb.v, r[i].items[j].feed, CRDT_FEED_LEN);
        if (net_bound_cmp(&fb, &prev) < 0 ||
            net_bound_cmp(&fb, &r[i].hi) >= 0 ||
            (j && memcmp(r[i].items[j - 1].feed, fb.v, CRDT_FEED_LEN) >= 0) ||
            r[i].items[j].seq > NET_SEQ_MAX ||
            (r[i].mode == NET_RANGE_ITEMS && r[i].items[j].seq > 0 &&
             !r[i].items[j].has_head))
          return GS_EINVAL;
      }
    } else if (r[i].mode != NET_RANGE_SKIP && r[i].mode != NET_RANGE_FP) {
      return GS_EINVAL;
    }
    prev = r[i].hi;
  }
  if (total > NET_VV_PAGE)
    return GS_ETOOBIG;
  enc_init(&e, NET_MSG_RANGES, 4);
  bound_pack(&e.pk, lo);
  msgpack_pack_array(&e.pk, n);
  for (size_t i = 0; i < n; i++) {
    const net_range *g = &r[i];
    switch (g->mode) {
    case NET_RANGE_SKIP:
      msgpack_pack_array(&e.pk, 2);
      bound_pack(&e.pk, &g->hi);
      msgpack_pack_uint8(&e.pk, (uint8_t)g->mode);
      break;
    case NET_RANGE_FP:
      msgpack_pack_array(&e.pk, 4);
      bound_pack(&e.pk, &g->hi);
      msgpack_pack_uint8(&e.pk, (uint8_t)g->mode);
      msgpack_pack_uint64(&e.pk, g->count);
      msgpack_pack_bin(&e.pk, NET_FP_LEN);
      msgpack_pack_bin_body(&e.pk, g->fp, NET_FP_LEN);
      break;
    case NET_RANGE_ITEMS:
    case NET_RANGE_FINAL:
      msgpack_pack_array(&e.pk, 3);
      bound_pack(&e.pk, &g->hi);
      msgpack_pack_uint8(&e.pk, (uint8_t)g->mode);
      msgpack_pack_array(&e.pk, g->n);
      for (size_t j = 0; j < g->n; j++) {
        const net_vv_entry *ve = &g->items[j];
        bool head = ve->seq > 0 && ve->has_head;
        msgpack_pack_array(&e.pk, head ? 3 : 2);
        msgpack_pack_bin(&e.pk, CRDT_FEED_LEN);
        msgpack_pack_bin_body(&e.pk, ve->feed, CRDT_FEED_LEN);
        msgpack_pack_uint64(&e.pk, ve->seq);
        if (head) {
          msgpack_pack_bin(&e.pk, CRDT_HASH_LEN);
          msgpack_pack_bin_body(&e.pk, ve->head, CRDT_HASH_LEN);
        }
      }
      break;
    }
  }
  if (more)
    msgpack_pack_true(&e.pk);
  else
    msgpack_pack_false(&e.pk);
  return enc_done(&e, out, len);
}

/* ---- packed CHANGES ---- */

#define PACK_LEVEL 1 /* fastest; on changes as small as level 3 */

gs_err net_msg_pack(const uint8_t *msg, size_t n, uint8_t **out, size_t *len)
{
  *out = NULL;
  *len = 0;
  if (n > NET_MSG_MAX)
    return GS_ETOOBIG;
  size_t cap = ZSTD_compressBound(n);
  uint8_t *frame = malloc(cap);
  if (!frame)
    return GS_ENOMEM;
  size_t z = ZSTD_compress(frame, cap, msg, n, PACK_LEVEL);
  gs_err err = GS_OK;
  /* [9, bin32 frame]: 1 + 1 + 5 bytes around it at most */
  if (!ZSTD_isError(z) && z + 7 < n) {
    enc e;
    enc_init(&e, NET_MSG_PACKED, 2);
    msgpack_pack_bin(&e.pk, z);
    msgpack_pack_bin_body(&e.pk, frame, z);
    err = enc_done(&e, out, len);
  }
  free(frame);
  return err;
}

gs_err net_msg_unpack(const net_msg *packed, uint8_t *buf, net_msg *inner)
{
  memset(inner, 0, sizeof *inner);
  if (packed->type != NET_MSG_PACKED)
    return GS_EINVAL;
  const uint8_t *f = packed->u.packed.p;
  size_t fn = packed->u.packed.n;
  /* the frame says its size up front: nothing bigger is unpacked */
  unsigned long long want = ZSTD_getFrameContentSize(f, fn);
  if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN)
    return GS_EDECODE;
  if (want > NET_MSG_MAX)
    return GS_ETOOBIG;
  size_t got = ZSTD_decompress(buf, NET_MSG_MAX, f, fn);
  if (ZSTD_isError(got) || got != want)
    return GS_EDECODE;
  gs_err err = net_msg_decode(buf, got, inner);
  if (!err && inner->type != NET_MSG_CHANGES) {
    net_msg_free(inner);
    err = GS_EDECODE;
  }
  return err;
}

/* ---- changes as kept: FRAMES ---- */

struct net_unframer {
  ZSTD_DCtx *zd;
  uint8_t buf[NET_MSG_MAX];
};

gs_err net_unframer_new(net_unframer **out)
{
  net_unframer *u = calloc(1, sizeof *u);
  if (!u || !(u->zd = ZSTD_createDCtx())) {
    free(u);
    return GS_ENOMEM;
  }
  *out = u;
  return GS_OK;
}

void net_unframer_free(net_unframer *u)
{
  if (!u)
    return;
  ZSTD_freeDCtx(u->zd);
  free(u);
}

static const uint8_t frame_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

static bool is_frame(const net_bytes *b)
{
  return b->n >= 4 && memcmp(b->p, frame_magic, 4) == 0;
}

gs_err net_msg_unframe(net_unframer *u, const net_msg *frames, net_msg *inner)
{
  memset(inner, 0, sizeof *inner);
  if (frames->type != NET_MSG_FRAMES)
    return GS_EINVAL;
  size_t n = frames->u.changes.n;
  const net_bytes *f = frames->u.changes.changes;
  /* first the sizes the frames say, against CHANGES' bounds: nothing is
   * unpacked for a message that would exceed them */
  size_t total = NET_CHANGES_OVERHEAD, room = 0;
  for (size_t i = 0; i < n; i++) {
    size_t raw = f[i].n;
    if (is_frame(&f[i])) {
      unsigned long long want = ZSTD_getFrameContentSize(f[i].p, f[i].n);
      if (want == ZSTD_CONTENTSIZE_ERROR || want == ZSTD_CONTENTSIZE_UNKNOWN ||
          want == 0)
        return GS_EDECODE;
      if (want > CRDT_CHANGE_MAX)
        return GS_ETOOBIG;
      /* exactly one frame, nothing after it */
      size_t fz = ZSTD_findFrameCompressedSize(f[i].p, f[i].n);
      if (ZSTD_isError(fz) || fz != f[i].n)
        return GS_EDECODE;
      raw = (size_t)want;
      room += raw;
    }
    total += NET_CHANGE_COST(raw);
    if (total > NET_MSG_MAX)
      return GS_ETOOBIG;
  }
  if (room > sizeof u->buf) /* not reached: room < total */
    return GS_ETOOBIG;
  net_bytes *c = calloc(n ? n : 1, sizeof *c);
  if (!c)
    return GS_ENOMEM;
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_frame(&f[i])) {
      c[i] = f[i]; /* kept as it is: borrowed from the message */
      continue;
    }
    size_t want = (size_t)ZSTD_getFrameContentSize(f[i].p, f[i].n);
    size_t got = ZSTD_decompressDCtx(u->zd, u->buf + off, want, f[i].p,
                                     f[i].n);
    if (ZSTD_isError(got) || got != want) {
      free(c);
      return GS_EDECODE;
    }
    c[i].p = u->buf + off;
    c[i].n = got;
    off += got;
  }
  inner->type = NET_MSG_CHANGES;
  inner->u.changes.changes = c;
  inner->u.changes.n = n;
  return GS_OK;
}
