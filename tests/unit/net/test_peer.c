/*
 * Two real libuv endpoints on loopback: handshake, frames, and each way a
 * connection must fail (wrong network key, wrong node key, tampered,
 * replayed, dropped and truncated frames, hostile raw clients, a peer
 * that does not read).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "net/peer.h"

/* ---- what each side saw ---- */

typedef struct side {
  bool opened, closed;
  gs_err why;
  char reason[160];
  size_t nmsgs, bytes;
  uint32_t next_expected; /* messages carry a counter */
  bool order_ok;
  uint8_t remote[CRDT_KEY_LEN];
  net_peer *peer;
  bool echo;
} side;

static void on_open(net_peer *p)
{
  side *s = net_peer_data(p);
  s->opened = true;
  memcpy(s->remote, net_peer_remote_key(p), CRDT_KEY_LEN);
}

static void on_msg(net_peer *p, const uint8_t *m, size_t n)
{
  side *s = net_peer_data(p);
  if (n >= 4) {
    uint32_t c = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
                 (uint32_t)m[2] << 8 | m[3];
    if (c != s->next_expected)
      s->order_ok = false;
    s->next_expected = c + 1;
    for (size_t i = 4; i < n; i++)
      if (m[i] != (uint8_t)(c + i))
        s->order_ok = false;
  }
  s->nmsgs++;
  s->bytes += n;
  if (s->echo)
    net_peer_send(p, m, n);
}

static void on_close(net_peer *p, gs_err why, const char *reason)
{
  side *s = net_peer_data(p);
  s->closed = true;
  s->why = why;
  snprintf(s->reason, sizeof s->reason, "%s", reason);
  s->peer = NULL;
}

static const net_peer_cbs cbs = {on_open, on_msg, NULL, on_close};

/* ---- a server that accepts into a fixed set of sides ---- */

typedef struct server {
  uv_tcp_t tcp;
  net_identity id;
  net_peer_opts opts;
  side sides[8];
  size_t nsides;
  int port;
} server;

static void on_conn(uv_stream_t *s, int status)
{
  server *sv = s->data;
  cr_assert_eq(status, 0);
  cr_assert_lt(sv->nsides, 8);
  side *sd = &sv->sides[sv->nsides++];
  memset(sd, 0, sizeof *sd);
  sd->order_ok = true;
  sd->echo = true;
  cr_assert_eq(net_peer_accept(s, &sv->id, &sv->opts, &cbs, sd, &sd->peer),
               GS_OK);
}

static void make_identity(net_identity *id, uint8_t psk_byte)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], psk[32];
  crdt_keypair(pk, sk);
  memset(psk, psk_byte, sizeof psk);
  cr_assert_eq(net_identity_init(id, sk, psk), GS_OK);
  crdt_wipe(sk, sizeof sk);
}

static net_peer_opts test_opts(void)
{
  net_peer_opts o = {.handshake_ms = 2000,
                     .idle_ms = 10000,
                     .keepalive_ms = 3000,
                     .high_water = 256 * 1024,
                     .hard_limit = 2 * 1024 * 1024};
  return o;
}

static void server_start(uv_loop_t *loop, server *sv, uint8_t psk_byte)
{
  memset(sv, 0, sizeof *sv);
  make_identity(&sv->id, psk_byte);
  sv->opts = test_opts();
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  cr_assert_eq(uv_tcp_init(loop, &sv->tcp), 0);
  sv->tcp.data = sv;
  cr_assert_eq(uv_tcp_bind(&sv->tcp, (const struct sockaddr *)&a, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&sv->tcp, 16, on_conn), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&sv->tcp, (struct sockaddr *)&got, &len);
  sv->port = ntohs(got.sin_port);
}

static void close_walk(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Close what is left and check the loop closes cleanly. */
static void finish_loop(uv_loop_t *loop, server *sv)
{
  for (size_t i = 0; i < sv->nsides; i++)
    if (sv->sides[i].peer)
      net_peer_close(sv->sides[i].peer, GS_OK, "test over");
  uv_run(loop, UV_RUN_NOWAIT);
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  net_identity_wipe(&sv->id);
  cr_assert_eq(uv_loop_close(loop), 0);
}

/* Run the loop until cond or a deadline (ms). */
#define RUN_UNTIL(loop, cond, ms)                                              \
  do {                                                                         \
    uint64_t t0_ = uv_now(loop);                                               \
    while (!(cond) && uv_now(loop) - t0_ < (ms)) {                             \
      uv_run(loop, UV_RUN_ONCE);                                               \
      uv_update_time(loop);                                                    \
    }                                                                          \
  } while (0)

static void connect_side(uv_loop_t *loop, int port, const net_identity *id,
                         side *s)
{
  struct sockaddr_in a;
  memset(s, 0, sizeof *s);
  s->order_ok = true;
  uv_ip4_addr("127.0.0.1", port, &a);
  net_peer_opts o = test_opts();
  cr_assert_eq(net_peer_connect(loop, (const struct sockaddr *)&a, id, &o,
                                &cbs, s, &s->peer),
               GS_OK);
}

static void fill_msg(uint8_t *m, size_t n, uint32_t c)
{
  m[0] = (uint8_t)(c >> 24), m[1] = (uint8_t)(c >> 16);
  m[2] = (uint8_t)(c >> 8), m[3] = (uint8_t)c;
  for (size_t i = 4; i < n; i++)
    m[i] = (uint8_t)(c + i);
}

static void net_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  signal(SIGPIPE, SIG_IGN); /* as the node does: a closed socket is EPIPE */
}

TestSuite(peer, .init = net_init, .timeout = 60);

Test(peer, handshake_and_messages_both_ways)
{
  uv_loop_t loop;
  server sv;
  side c;
  net_identity cid;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x11);
  make_identity(&cid, 0x11);
  connect_side(&loop, sv.port, &cid, &c);
  RUN_UNTIL(&loop, c.opened && sv.nsides == 1 && sv.sides[0].opened, 5000);
  cr_assert(c.opened, "client did not open: %s", c.reason);
  cr_assert(sv.sides[0].opened);
  cr_assert_eq(memcmp(c.remote, sv.id.sign_pk, CRDT_KEY_LEN), 0);
  cr_assert_eq(memcmp(sv.sides[0].remote, cid.sign_pk, CRDT_KEY_LEN), 0);
  /* the responder read and answered a valid message 1; the initiator
   * never counts as answered */
  cr_assert(net_peer_answered(sv.sides[0].peer));
  cr_assert(!net_peer_answered(c.peer));

  static uint8_t m[NET_PEER_MSG_MAX];
  size_t sizes[] = {4, 5, 100, 1000, 4096, 65000, NET_PEER_MSG_MAX, 7};
  size_t total = 0, n = 0;
  for (uint32_t i = 0; i < 200; i++) {
    size_t sz = sizes[i % 8];
    fill_msg(m, sz, i);
    RUN_UNTIL(&loop, net_peer_writable(c.peer), 5000);
    cr_assert_eq(net_peer_send(c.peer, m, sz), GS_OK);
    total += sz, n++;
  }
  cr_assert_eq(net_peer_send(c.peer, m, NET_PEER_MSG_MAX + 1), GS_ETOOBIG);
  RUN_UNTIL(&loop, c.nmsgs == n, 10000);
  cr_assert_eq(sv.sides[0].nmsgs, n);
  cr_assert_eq(sv.sides[0].bytes, total);
  cr_assert(sv.sides[0].order_ok, "server saw messages out of order");
  cr_assert_eq(c.nmsgs, n, "echoes lost");
  cr_assert(c.order_ok);
  net_peer_close(c.peer, GS_OK, "done");
  RUN_UNTIL(&loop, c.closed && sv.sides[0].closed, 5000);
  cr_assert_eq(c.why, GS_OK);
  cr_assert_eq(sv.sides[0].why, GS_ECLOSED, "server: %s",
               sv.sides[0].reason);
  net_identity_wipe(&cid);
  finish_loop(&loop, &sv);
}

Test(peer, wrong_network_key_fails_the_handshake)
{
  uv_loop_t loop;
  server sv;
  side c;
  net_identity cid;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x11);
  make_identity(&cid, 0x22); /* another network */
  connect_side(&loop, sv.port, &cid, &c);
  RUN_UNTIL(&loop, c.closed && sv.nsides == 1 && sv.sides[0].closed, 5000);
  cr_assert(!c.opened);
  cr_assert(!sv.sides[0].opened);
  cr_assert_eq(sv.sides[0].why, GS_EHANDSHAKE, "server: %d %s",
               sv.sides[0].why, sv.sides[0].reason);
  cr_assert_not_null(strstr(sv.sides[0].reason, "network key"));
  cr_assert_eq(c.why, GS_EHANDSHAKE, "client: %d %s", c.why, c.reason);
  cr_assert_not_null(strstr(c.reason, "network key"), "%s", c.reason);
  net_identity_wipe(&cid);
  finish_loop(&loop, &sv);
}

Test(peer, node_key_must_match_the_noise_static_key)
{
  uv_loop_t loop;
  server sv;
  side c;
  net_identity cid, other;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x11);
  make_identity(&cid, 0x11);
  make_identity(&other, 0x11);
  /* claim one node key, hold another's Noise static key */
  memcpy(cid.dh_sk, other.dh_sk, sizeof cid.dh_sk);
  connect_side(&loop, sv.port, &cid, &c);
  RUN_UNTIL(&loop, sv.nsides == 1 && sv.sides[0].closed && c.closed, 5000);
  cr_assert(!sv.sides[0].opened, "server accepted a mismatched key");
  cr_assert_eq(sv.sides[0].why, GS_EHANDSHAKE);
  cr_assert_not_null(strstr(sv.sides[0].reason, "does not match"), "%s",
                     sv.sides[0].reason);

  /* and the other way: a server with a mismatched key */
  memcpy(sv.id.dh_sk, other.dh_sk, sizeof sv.id.dh_sk);
  side c2;
  net_identity good;
  make_identity(&good, 0x11);
  connect_side(&loop, sv.port, &good, &c2);
  RUN_UNTIL(&loop, c2.closed, 5000);
  cr_assert(!c2.opened, "client accepted a mismatched server key");
  cr_assert_eq(c2.why, GS_EHANDSHAKE);
  net_identity_wipe(&cid), net_identity_wipe(&other), net_identity_wipe(&good);
  finish_loop(&loop, &sv);
}

/* ---- a frame-aware proxy that misbehaves on one client->server frame ---- */

typedef enum fault { F_FLIP, F_REPLAY, F_DROP, F_TRUNCATE, F_BIGLEN } fault;

typedef struct proxy {
  uv_tcp_t listen, down, up; /* down: to the client, up: to the server */
  uv_connect_t conn;
  int port, server_port;
  fault f;
  size_t at; /* index of the client->server frame to spoil */
  size_t frame;
  uint8_t buf[4 + NET_FRAME_MAX];
  size_t len;
  bool up_ready, cut;
  uint8_t pending[1 << 17];
  size_t npending;
} proxy;

typedef struct pw {
  uv_write_t req;
  uint8_t data[];
} pw;

static void pw_done(uv_write_t *r, int status)
{
  (void)status;
  free(r);
}

static void px_write(uv_tcp_t *t, const uint8_t *d, size_t n)
{
  if (uv_is_closing((uv_handle_t *)t))
    return;
  pw *w = malloc(sizeof *w + n);
  memcpy(w->data, d, n);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)t, &b, 1, pw_done) != 0)
    free(w);
}

static void px_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
  (void)h;
  b->base = malloc(s);
  b->len = s;
}

static void px_close_all(proxy *px)
{
  if (!uv_is_closing((uv_handle_t *)&px->down))
    uv_close((uv_handle_t *)&px->down, NULL);
  if (!uv_is_closing((uv_handle_t *)&px->up))
    uv_close((uv_handle_t *)&px->up, NULL);
}

/* Forward client->server bytes frame by frame, spoiling frame `at`. */
static void px_forward_frames(proxy *px, const uint8_t *d, size_t n)
{
  for (size_t i = 0; i < n && !px->cut; i++) {
    px->buf[px->len++] = d[i];
    if (px->len < 4)
      continue;
    uint32_t fl = (uint32_t)px->buf[0] << 24 | (uint32_t)px->buf[1] << 16 |
                  (uint32_t)px->buf[2] << 8 | px->buf[3];
    if (px->len < 4 + fl)
      continue;
    size_t idx = px->frame++;
    if (idx != px->at) {
      px_write(&px->up, px->buf, px->len);
    } else {
      switch (px->f) {
      case F_FLIP:
        px->buf[4 + fl / 2] ^= 0x04;
        px_write(&px->up, px->buf, px->len);
        break;
      case F_REPLAY:
        px_write(&px->up, px->buf, px->len);
        px_write(&px->up, px->buf, px->len);
        break;
      case F_DROP:
        break;
      case F_TRUNCATE:
        px_write(&px->up, px->buf, 4 + fl / 2);
        px->cut = true;
        uv_close((uv_handle_t *)&px->up, NULL); /* mid-frame */
        break;
      case F_BIGLEN: {
        uint8_t big[8] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
        px_write(&px->up, big, sizeof big);
        break;
      }
      }
    }
    px->len = 0;
  }
}

static void px_read_down(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  proxy *px = s->data;
  if (n < 0) {
    px_close_all(px);
  } else if (n > 0) {
    if (!px->up_ready) {
      cr_assert_lt(px->npending + (size_t)n, sizeof px->pending);
      memcpy(px->pending + px->npending, b->base, (size_t)n);
      px->npending += (size_t)n;
    } else {
      px_forward_frames(px, (const uint8_t *)b->base, (size_t)n);
    }
  }
  free(b->base);
}

static void px_read_up(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  proxy *px = s->data;
  if (n < 0)
    px_close_all(px);
  else if (n > 0)
    px_write(&px->down, (const uint8_t *)b->base, (size_t)n);
  free(b->base);
}

static void px_connected(uv_connect_t *c, int status)
{
  proxy *px = c->data;
  cr_assert_eq(status, 0);
  px->up_ready = true;
  uv_read_start((uv_stream_t *)&px->up, px_alloc, px_read_up);
  px_forward_frames(px, px->pending, px->npending);
  px->npending = 0;
}

static void px_conn(uv_stream_t *l, int status)
{
  proxy *px = l->data;
  cr_assert_eq(status, 0);
  uv_tcp_init(l->loop, &px->down);
  uv_tcp_init(l->loop, &px->up);
  px->down.data = px->up.data = px;
  cr_assert_eq(uv_accept(l, (uv_stream_t *)&px->down), 0);
  uv_read_start((uv_stream_t *)&px->down, px_alloc, px_read_down);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", px->server_port, &a);
  px->conn.data = px;
  uv_tcp_connect(&px->conn, &px->up, (const struct sockaddr *)&a,
                 px_connected);
}

static void proxy_start(uv_loop_t *loop, proxy *px, int server_port, fault f,
                        size_t at)
{
  memset(px, 0, sizeof *px);
  px->server_port = server_port;
  px->f = f;
  px->at = at;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(loop, &px->listen);
  px->listen.data = px;
  cr_assert_eq(uv_tcp_bind(&px->listen, (const struct sockaddr *)&a, 0), 0);
  cr_assert_eq(uv_listen((uv_stream_t *)&px->listen, 4, px_conn), 0);
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&px->listen, (struct sockaddr *)&got, &len);
  px->port = ntohs(got.sin_port);
}

/* Client frames: 0 = handshake 1, 1 = handshake 3, 2.. = messages 0.. */
static void spoiled_frame(fault f, gs_err want, const char *says,
                          size_t delivered)
{
  uv_loop_t loop;
  server sv;
  proxy px;
  side c;
  net_identity cid;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x33);
  sv.opts.handshake_ms = 1500;
  proxy_start(&loop, &px, sv.port, f, 2 + 5); /* the 6th message */
  make_identity(&cid, 0x33);
  connect_side(&loop, px.port, &cid, &c);
  RUN_UNTIL(&loop, c.opened, 5000);
  cr_assert(c.opened);
  static uint8_t m[2000];
  for (uint32_t i = 0; i < 10; i++) {
    fill_msg(m, 1000 + i, i);
    net_peer_send(c.peer, m, 1000 + i);
  }
  RUN_UNTIL(&loop, sv.nsides == 1 && sv.sides[0].closed, 5000);
  side *s = &sv.sides[0];
  cr_assert(s->closed, "server kept a spoiled connection open");
  if (want) /* else: any failure (EOF, or EPIPE on the server's echo) */
    cr_assert_eq(s->why, want, "why %d (%s)", s->why, s->reason);
  else
    cr_assert(s->why == GS_ECLOSED || s->why == UV_EPIPE ||
                  s->why == UV_ECONNRESET,
              "why %d (%s)", s->why, s->reason);
  if (says)
    cr_assert_not_null(strstr(s->reason, says), "%s", s->reason);
  cr_assert_eq(s->nmsgs, delivered, "server took %zu messages", s->nmsgs);
  cr_assert(s->order_ok);
  net_identity_wipe(&cid);
  if (c.peer)
    net_peer_close(c.peer, GS_OK, "test over");
  uv_close((uv_handle_t *)&px.listen, NULL);
  finish_loop(&loop, &sv);
}

Test(peer, bit_flipped_frame_closes)
{
  spoiled_frame(F_FLIP, GS_ECRYPTO, "decrypt", 5);
}

Test(peer, replayed_frame_closes)
{
  spoiled_frame(F_REPLAY, GS_ECRYPTO, "decrypt", 6);
}

Test(peer, dropped_frame_closes)
{
  spoiled_frame(F_DROP, GS_ECRYPTO, "decrypt", 5);
}

Test(peer, truncated_frame_closes)
{
  spoiled_frame(F_TRUNCATE, 0, NULL, 5);
}

Test(peer, huge_length_prefix_closes)
{
  spoiled_frame(F_BIGLEN, GS_EPROTO, "frame length", 5);
}

/* ---- hostile raw clients, and an honest one meanwhile ---- */

typedef struct raw {
  uv_tcp_t tcp;
  uv_connect_t conn;
  const uint8_t *send;
  size_t n;
  bool eof;
} raw;

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  raw *r = s->data;
  if (n < 0) {
    r->eof = true;
    uv_read_stop(s);
  }
  free(b->base);
}

static void raw_connected(uv_connect_t *c, int status)
{
  raw *r = c->data;
  cr_assert_eq(status, 0);
  uv_read_start((uv_stream_t *)&r->tcp, px_alloc, raw_read);
  if (r->n)
    px_write(&r->tcp, r->send, r->n);
}

static void raw_start(uv_loop_t *loop, raw *r, int port, const uint8_t *d,
                      size_t n)
{
  memset(r, 0, sizeof *r);
  r->send = d;
  r->n = n;
  uv_tcp_init(loop, &r->tcp);
  r->tcp.data = r;
  r->conn.data = r;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&a,
                 raw_connected);
}

Test(peer, hostile_clients_are_closed_honest_ones_continue)
{
  uv_loop_t loop;
  server sv;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x44);
  sv.opts.handshake_ms = 700;

  static uint8_t noise[4096];
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (size_t i = 0; i < sizeof noise; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    noise[i] = (uint8_t)x;
  }
  noise[0] = 0, noise[1] = 0, noise[2] = 0x08, noise[3] = 0; /* 2048 */
  static const uint8_t four_gib[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  static const uint8_t half_hs[4 + 16] = {0, 0, 0, 32, 1, 2, 3}; /* 16 of 32 */
  raw r1, r2, r3, r4;
  raw_start(&loop, &r1, sv.port, noise, sizeof noise);
  raw_start(&loop, &r2, sv.port, four_gib, sizeof four_gib);
  raw_start(&loop, &r3, sv.port, half_hs, sizeof half_hs);
  raw_start(&loop, &r4, sv.port, NULL, 0); /* connects, says nothing */

  /* an honest client at the same time */
  side c;
  net_identity cid;
  make_identity(&cid, 0x44);
  connect_side(&loop, sv.port, &cid, &c);
  RUN_UNTIL(&loop, c.opened, 5000);
  cr_assert(c.opened);
  static uint8_t m[3000];
  for (uint32_t i = 0; i < 50; i++) {
    fill_msg(m, sizeof m, i);
    net_peer_send(c.peer, m, sizeof m);
  }
  RUN_UNTIL(&loop, r1.eof && r2.eof && r3.eof && r4.eof && c.nmsgs == 50,
            5000);
  cr_assert(r1.eof, "random bytes: still connected");
  cr_assert(r2.eof, "4 GiB prefix: still connected");
  cr_assert(r3.eof, "half handshake: not timed out");
  cr_assert(r4.eof, "silent client: not timed out");
  cr_assert_eq(c.nmsgs, 50, "the honest peer was disturbed");
  cr_assert(c.order_ok);
  size_t timeouts = 0, protos = 0, hs = 0;
  for (size_t i = 0; i < sv.nsides; i++) {
    side *s = &sv.sides[i];
    if (!s->closed)
      continue;
    timeouts += s->why == GS_ETIMEOUT;
    protos += s->why == GS_EPROTO;
    hs += s->why == GS_EHANDSHAKE;
  }
  cr_assert_eq(timeouts, 2, "timeouts %zu", timeouts);
  cr_assert_geq(protos + hs, 2);
  cr_assert(!c.closed);
  uv_close((uv_handle_t *)&r1.tcp, NULL);
  uv_close((uv_handle_t *)&r2.tcp, NULL);
  uv_close((uv_handle_t *)&r3.tcp, NULL);
  uv_close((uv_handle_t *)&r4.tcp, NULL);
  net_peer_close(c.peer, GS_OK, "done");
  net_identity_wipe(&cid);
  finish_loop(&loop, &sv);
}

/* ---- a peer that does not read ---- */

static void on_open_pause(net_peer *p)
{
  on_open(p);
  net_peer_pause(p, true);
}

Test(peer, a_peer_that_does_not_read_is_bounded_then_closed)
{
  uv_loop_t loop;
  server sv;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x55);
  side c;
  net_identity cid;
  make_identity(&cid, 0x55);
  memset(&c, 0, sizeof c);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", sv.port, &a);
  net_peer_cbs pausing = cbs;
  pausing.on_open = on_open_pause;
  net_peer_opts o = test_opts();
  cr_assert_eq(net_peer_connect(&loop, (const struct sockaddr *)&a, &cid, &o,
                                &pausing, &c, &c.peer),
               GS_OK);
  RUN_UNTIL(&loop, c.opened && sv.nsides == 1 && sv.sides[0].opened, 5000);
  side *s = &sv.sides[0];
  static uint8_t m[60000];
  size_t max_queued = 0, sent = 0;
  /* the server writes as long as it may, as a sync sender would */
  for (int round = 0; round < 400 && !s->closed; round++) {
    while (s->peer && net_peer_writable(s->peer)) {
      fill_msg(m, sizeof m, (uint32_t)sent++);
      net_peer_send(s->peer, m, sizeof m);
    }
    if (s->peer && net_peer_queued(s->peer) > max_queued)
      max_queued = net_peer_queued(s->peer);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  cr_assert(!s->closed, "a writer that respects writable was closed");
  cr_assert_leq(max_queued, sv.opts.high_water + sizeof m + 64,
                "queue grew to %zu", max_queued);
  /* a writer that ignores writable hits the hard limit and is cut off */
  for (int i = 0; i < 100 && s->peer; i++) {
    fill_msg(m, sizeof m, (uint32_t)sent++);
    net_peer_send(s->peer, m, sizeof m);
  }
  RUN_UNTIL(&loop, s->closed, 5000);
  cr_assert(s->closed);
  cr_assert_eq(s->why, GS_ETOOBIG, "%s", s->reason);
  net_identity_wipe(&cid);
  if (c.peer)
    net_peer_close(c.peer, GS_OK, "done");
  finish_loop(&loop, &sv);
}

/* ---- time-outs once open ---- */

static void idle_case(uint64_t client_keepalive, bool want_timeout)
{
  uv_loop_t loop;
  server sv;
  uv_loop_init(&loop);
  server_start(&loop, &sv, 0x66);
  sv.opts.idle_ms = 600;
  sv.opts.keepalive_ms = 150;
  side c;
  net_identity cid;
  make_identity(&cid, 0x66);
  memset(&c, 0, sizeof c);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", sv.port, &a);
  net_peer_opts o = test_opts();
  o.idle_ms = 3600000;
  o.keepalive_ms = client_keepalive;
  cr_assert_eq(net_peer_connect(&loop, (const struct sockaddr *)&a, &cid, &o,
                                &cbs, &c, &c.peer),
               GS_OK);
  /* nobody sends a message for 2 s */
  RUN_UNTIL(&loop, sv.nsides && sv.sides[0].closed, 2000);
  cr_assert(c.opened);
  side *s = &sv.sides[0];
  if (want_timeout) {
    cr_assert(s->closed, "a silent peer was kept");
    cr_assert_eq(s->why, GS_ETIMEOUT, "%s", s->reason);
  } else {
    cr_assert(!s->closed, "closed: %s", s->reason);
  }
  if (c.peer)
    net_peer_close(c.peer, GS_OK, "done");
  net_identity_wipe(&cid);
  finish_loop(&loop, &sv);
}

Test(peer, keepalives_hold_an_idle_connection)
{
  idle_case(150, false);
}

Test(peer, a_silent_peer_times_out)
{
  idle_case(3600000, true);
}
