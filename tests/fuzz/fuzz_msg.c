/* libFuzzer target: the net message decoder (net_msg_decode). A decoded
 * message re-encodes to a message that decodes to the same content; a
 * PACKED one unpacks (net_msg_unpack) to a CHANGES message or is refused,
 * never past NET_MSG_MAX bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
  net_msg_free(&m);
  return 0;
}
