/* Once a peer is closing (close_soon, after a refused message), the
 * frames left in the same read are dropped, not handed to on_msg. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <uv.h>

#include "net/peer.h"

typedef struct rside {
  bool opened, closed;
  size_t nmsgs, after_close_soon;
  bool close_soon_called;
  net_peer *peer;
} rside;

static void r_open(net_peer *p) { ((rside *)net_peer_data(p))->opened = true; }
static void r_msg(net_peer *p, const uint8_t *m, size_t n)
{
  rside *s = net_peer_data(p);
  (void)m, (void)n;
  s->nmsgs++;
  if (s->close_soon_called)
    s->after_close_soon++;
  if (s->nmsgs == 1) { /* e.g. the first message is refused */
    s->close_soon_called = true;
    net_peer_close_soon(p, GS_EPROTO, "refused");
  }
}
static void r_close(net_peer *p, gs_err why, const char *reason)
{
  rside *s = net_peer_data(p);
  (void)why, (void)reason;
  s->closed = true;
  s->peer = NULL;
}
static const net_peer_cbs rcbs = {r_open, r_msg, NULL, r_close};

static rside srv;
static net_identity sid, cid;
static void r_conn(uv_stream_t *l, int status)
{
  cr_assert_eq(status, 0);
  cr_assert_eq(net_peer_accept(l, &sid, NULL, &rcbs, &srv, &srv.peer), GS_OK);
}

static void mkid(net_identity *id)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], psk[32];
  crdt_keypair(pk, sk);
  memset(psk, 7, sizeof psk);
  cr_assert_eq(net_identity_init(id, sk, psk), GS_OK);
}

static void walk_close(uv_handle_t *h, void *a)
{
  (void)a;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

Test(peer_close, nothing_is_delivered_after_close_soon)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_tcp_t lst;
  rside cli = {0};
  uv_loop_init(&loop);
  mkid(&sid), mkid(&cid);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&loop, &lst);
  uv_tcp_bind(&lst, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&lst, 4, r_conn);
  int len = sizeof a;
  uv_tcp_getsockname(&lst, (struct sockaddr *)&a, &len);
  cr_assert_eq(net_peer_connect(&loop, (const struct sockaddr *)&a, &cid,
                                NULL, &rcbs, &cli, &cli.peer), GS_OK);
  uint64_t t0 = uv_now(&loop);
  while (!(cli.opened && srv.opened) && uv_now(&loop) - t0 < 5000)
    uv_run(&loop, UV_RUN_ONCE);
  cr_assert(cli.opened && srv.opened);
  /* five small messages in the socket buffer, then one read: a hostile
   * peer simply puts them in one TCP segment */
  net_peer_pause(srv.peer, true);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(net_peer_send(cli.peer, (const uint8_t *)"hello", 5), GS_OK);
  t0 = uv_now(&loop);
  while (uv_now(&loop) - t0 < 200) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_update_time(&loop);
  }
  net_peer_pause(srv.peer, false);
  t0 = uv_now(&loop);
  while (!srv.closed && uv_now(&loop) - t0 < 5000)
    uv_run(&loop, UV_RUN_ONCE);
  if (cli.peer)
    net_peer_close(cli.peer, GS_OK, "done");
  uv_walk(&loop, walk_close, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(uv_loop_close(&loop), 0);
  cr_assert(srv.after_close_soon == 0, "nmsgs=%zu closed=%d; "
               "%zu messages were delivered after net_peer_close_soon()", srv.nmsgs, srv.closed,
               srv.after_close_soon);
}
