/* libFuzzer target: the net message decoder (net_msg_decode). A decoded
 * message re-encodes to a message that decodes to the same content; a
 * PACKED one unpacks (net_msg_unpack) to a CHANGES message or is refused,
 * never past NET_MSG_MAX bytes; a FRAMES one unframes (net_msg_unframe)
 * to a CHANGES message within CHANGES' bounds or is refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/recon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gs_err fuzz_sink(void *ctx, const net_vv_entry *e, size_t n)
{
  (void)ctx;
  for (size_t i = 0; i < n; i++)
    if (e[i].seq > NET_SEQ_MAX)
      abort();
  return GS_OK;
}

static gs_err fuzz_send(void *ctx, const uint8_t *msg, size_t n)
{
  net_msg m;
  (void)ctx;
  /* what we answer decodes */
  if (n > NET_MSG_MAX || net_msg_decode(msg, n, &m) != GS_OK ||
      m.type != NET_MSG_RANGES)
    abort();
  net_msg_free(&m);
  return GS_OK;
}

static gs_err reencode(const net_msg *m, uint8_t **out, size_t *n)
{
  switch (m->type) {
  case NET_MSG_VV:
    return net_msg_vv(m->u.vv.entries, m->u.vv.n, m->u.vv.more, out, n);
  case NET_MSG_CHANGES:
    return net_msg_changes(m->u.changes.changes, m->u.changes.n, out, n);
  case NET_MSG_ACK:
    return net_msg_ack(m->u.ack.applied, m->u.ack.duplicates, out, n);
  case NET_MSG_DONE:
    return net_msg_done(out, n);
  case NET_MSG_PING:
  case NET_MSG_PONG:
    return net_msg_ping(m->type == NET_MSG_PONG, m->u.nonce, out, n);
  case NET_MSG_ERROR:
    return GS_EINVAL; /* reason is not NUL-terminated; skip */
  case NET_MSG_PEERS:
    return net_msg_peers(m->u.peers.addrs, m->u.peers.n, out, n);
  case NET_MSG_PACKED:
    return GS_EINVAL; /* unpacked below instead */
  case NET_MSG_HELLO:
    return net_msg_hello(m->u.wall_ms, out, n);
  case NET_MSG_RANGES:
    return net_msg_ranges(&m->u.ranges.lo, m->u.ranges.ranges,
                          m->u.ranges.n, m->u.ranges.more, out, n);
  case NET_MSG_FRAMES:
    return net_msg_frames(m->u.changes.changes, m->u.changes.n, out, n);
  }
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  net_msg m, m2;
  uint8_t *enc;
  size_t n;
  if (net_msg_decode(data, size, &m) != GS_OK) {
    if (m.type != 0)
      abort(); /* an error must leave nothing */
    return 0;
  }
  if (m.type == NET_MSG_PACKED) {
    static uint8_t buf[NET_MSG_MAX];
    net_msg inner;
    gs_err err = net_msg_unpack(&m, buf, &inner);
    if (err == GS_OK ? inner.type != NET_MSG_CHANGES : inner.type != 0)
      abort();
    net_msg_free(&inner);
  }
  if (m.type == NET_MSG_FRAMES) {
    /* unframed: a CHANGES message within CHANGES' bounds, or refused */
    static net_unframer *u;
    net_msg inner;
    if (!u && net_unframer_new(&u) != GS_OK)
      abort();
    gs_err err = net_msg_unframe(u, &m, &inner);
    if (err != GS_OK && inner.type != 0)
      abort();
    if (err == GS_OK) {
      size_t total = NET_CHANGES_OVERHEAD;
      if (inner.type != NET_MSG_CHANGES || inner.u.changes.n != m.u.changes.n)
        abort();
      for (size_t i = 0; i < inner.u.changes.n; i++) {
        if (inner.u.changes.changes[i].n > CRDT_CHANGE_MAX)
          abort();
        total += NET_CHANGE_COST(inner.u.changes.changes[i].n);
      }
      if (total > NET_MSG_MAX)
        abort();
    }
    net_msg_free(&inner);
  }
  if (reencode(&m, &enc, &n) == GS_OK) {
    if (net_msg_decode(enc, n, &m2) != GS_OK || m2.type != m.type)
      abort();
    if (m.type == NET_MSG_VV &&
        (m2.u.vv.n != m.u.vv.n ||
         (m.u.vv.n && memcmp(m2.u.vv.entries, m.u.vv.entries,
                             m.u.vv.n * sizeof *m.u.vv.entries) != 0)))
      abort();
    if (m.type == NET_MSG_HELLO && m2.u.wall_ms != m.u.wall_ms)
      abort();
    if (m.type == NET_MSG_RANGES) {
      if (m2.u.ranges.n != m.u.ranges.n || m2.u.ranges.more != m.u.ranges.more ||
          net_bound_cmp(&m2.u.ranges.lo, &m.u.ranges.lo) != 0)
        abort();
      for (size_t i = 0; i < m.u.ranges.n; i++) {
        const net_range *a = &m.u.ranges.ranges[i], *b = &m2.u.ranges.ranges[i];
        if (a->mode != b->mode || a->n != b->n || a->count != b->count ||
            net_bound_cmp(&a->hi, &b->hi) != 0 ||
            memcmp(a->fp, b->fp, NET_FP_LEN) != 0 ||
            (a->n && memcmp(a->items, b->items, a->n * sizeof *a->items)))
          abort();
      }
    }
    if (m.type == NET_MSG_CHANGES) {
      if (m2.u.changes.n != m.u.changes.n)
        abort();
      for (size_t i = 0; i < m.u.changes.n; i++)
        if (m2.u.changes.changes[i].n != m.u.changes.changes[i].n ||
            memcmp(m2.u.changes.changes[i].p, m.u.changes.changes[i].p,
                   m.u.changes.changes[i].n) != 0)
          abort();
    }
    net_msg_free(&m2);
    free(enc);
  }
  if (m.type == NET_MSG_RANGES) {
    /* a decoded RANGES is safe to reconcile against: no crash, no leak,
     * an answer within the bounds or a refusal */
    net_vv_entry *it = calloc(40, sizeof *it);
    if (!it)
      abort();
    for (size_t i = 0; i < 40; i++) {
      it[i].feed[0] = (uint8_t)(i * 6), it[i].feed[1] = 0x90;
      it[i].seq = i + 1, it[i].has_head = true;
    }
    recon *r;
    recon_sink sink = {fuzz_sink, fuzz_sink, NULL};
    char why[200];
    if (recon_new(it, 40, false, &r) != GS_OK)
      abort();
    if (recon_on_msg(r, &m, &sink, why, sizeof why) == GS_OK &&
        recon_our_turn(r) && recon_take(r, fuzz_send, NULL) != GS_OK)
      abort();
    recon_free(r);
  }
  net_msg_free(&m);
  return 0;
}
