/*
 * The C side of the XXpsk0 interop test (tests/interop/interop.js): one
 * real net_peer connection, as gridsync makes it, driven from the command
 * line and reporting on stdout, one event a line:
 *
 *   interop_peer serve PSK_HEX         listen on 127.0.0.1 (port chosen by
 *                                      the OS), accept one connection
 *   interop_peer connect PORT PSK_HEX  connect to 127.0.0.1:PORT
 *
 *   port N            (serve) where it listens
 *   key HEX           this side's Ed25519 node key
 *   open HEX          the handshake succeeded; the remote's node key
 *   msg HEX           a transport message arrived
 *   close WHY REASON  the connection closed (WHY: the gs_err code)
 *
 * Once open it sends the message "hello from C"; once one message has
 * arrived it closes after its output is flushed. The process ends when
 * the connection is closed, or after 15 s (exit 3). Exit 0 when the
 * connection opened, 1 when it closed without opening, 2 on misuse.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "crdt/crdt.h"
#include "net/peer.h"

#define HELLO "hello from C"

typedef struct app {
  uv_loop_t loop;
  uv_tcp_t server;
  uv_timer_t deadline;
  net_identity id;
  net_peer *peer;
  bool accepted, opened, closed, timed_out;
} app;

static void print_hex(const char *what, const uint8_t *p, size_t n)
{
  printf("%s ", what);
  for (size_t i = 0; i < n; i++)
    printf("%02x", p[i]);
  printf("\n");
  fflush(stdout);
}

static void close_walk(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void on_open(net_peer *p)
{
  app *a = net_peer_data(p);
  a->opened = true;
  print_hex("open", net_peer_remote_key(p), CRDT_KEY_LEN);
  net_peer_send(p, (const uint8_t *)HELLO, strlen(HELLO));
}

static void on_msg(net_peer *p, const uint8_t *m, size_t n)
{
  print_hex("msg", m, n);
  net_peer_close_soon(p, GS_OK, "done");
}

static void on_close(net_peer *p, gs_err why, const char *reason)
{
  app *a = net_peer_data(p);
  printf("close %d %s\n", (int)why, reason);
  fflush(stdout);
  a->closed = true;
  a->peer = NULL;
  uv_walk(&a->loop, close_walk, NULL); /* the listener and the timer */
}

static const net_peer_cbs cbs = {on_open, on_msg, NULL, on_close};

static void on_conn(uv_stream_t *s, int status)
{
  app *a = s->data;
  if (status < 0 || a->accepted)
    return;
  a->accepted = true;
  if (net_peer_accept(s, &a->id, NULL, &cbs, a, &a->peer) != GS_OK) {
    fprintf(stderr, "accept failed\n");
    uv_walk(&a->loop, close_walk, NULL);
    return;
  }
  uv_close((uv_handle_t *)&a->server, NULL); /* one connection only */
}

static void on_deadline(uv_timer_t *t)
{
  app *a = t->data;
  fprintf(stderr, "interop_peer: nothing happened for 15 s\n");
  a->timed_out = true;
  if (a->peer)
    net_peer_close(a->peer, GS_ETIMEOUT, "deadline");
  uv_walk(&a->loop, close_walk, NULL);
}

static int unhex32(const char *s, uint8_t out[32])
{
  if (strlen(s) != 64)
    return -1;
  for (size_t i = 0; i < 32; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

int main(int argc, char **argv)
{
  static app a;
  uint8_t psk[32], pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  bool serve = argc == 3 && strcmp(argv[1], "serve") == 0;
  bool connect = argc == 4 && strcmp(argv[1], "connect") == 0;
  if ((!serve && !connect) || unhex32(argv[argc - 1], psk) != 0) {
    fprintf(stderr, "usage: interop_peer serve PSK_HEX | "
                    "interop_peer connect PORT PSK_HEX\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (crdt_crypto_init() != GS_OK)
    return 2;
  crdt_keypair(pk, sk);
  if (net_identity_init(&a.id, sk, psk) != GS_OK)
    return 2;
  crdt_wipe(sk, sizeof sk);
  crdt_wipe(psk, sizeof psk);
  uv_loop_init(&a.loop);
  uv_timer_init(&a.loop, &a.deadline);
  a.deadline.data = &a;
  uv_timer_start(&a.deadline, on_deadline, 15000, 0);
  print_hex("key", a.id.sign_pk, CRDT_KEY_LEN);

  struct sockaddr_in addr;
  if (serve) {
    struct sockaddr_in got;
    int len = sizeof got;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&a.loop, &a.server);
    a.server.data = &a;
    if (uv_tcp_bind(&a.server, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&a.server, 4, on_conn) != 0 ||
        uv_tcp_getsockname(&a.server, (struct sockaddr *)&got, &len) != 0) {
      fprintf(stderr, "cannot listen on 127.0.0.1\n");
      return 2;
    }
    printf("port %d\n", ntohs(got.sin_port));
    fflush(stdout);
  } else {
    int port = atoi(argv[2]);
    if (port <= 0 || port > 65535 ||
        uv_ip4_addr("127.0.0.1", port, &addr) != 0 ||
        net_peer_connect(&a.loop, (const struct sockaddr *)&addr, &a.id,
                         NULL, &cbs, &a, &a.peer) != GS_OK) {
      fprintf(stderr, "cannot connect to 127.0.0.1:%s\n", argv[2]);
      return 2;
    }
  }
  uv_run(&a.loop, UV_RUN_DEFAULT);
  uv_walk(&a.loop, close_walk, NULL);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&a.loop) != 0 ? 3 : a.opened ? 0 : 1;
  if (!a.closed || a.timed_out)
    rc = 3;
  net_identity_wipe(&a.id);
  return rc;
}
