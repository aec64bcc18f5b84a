/*
 * web: the local web app (DESIGN.md section 10): an HTTP server on the
 * caller's libuv loop (libmicrohttpd in external-poll mode: its epoll
 * descriptor watched by a uv_poll, its timeout by a uv_timer), a JSON API
 * over node/domain.h (docs/API.md), the app's static files embedded in
 * the binary, and live updates by Server-Sent Events.
 *
 * Security as Syncthing's GUI does it: loopback by default, and another
 * address refused (GS_EPERM) until a password is set; the Host header
 * checked against the addresses served (DNS rebinding); a CSRF token on
 * every state-changing request and a same-origin check; strict security
 * headers; bodies and headers bounded.
 *
 * Ownership: the server borrows the node (which must outlive it) and the
 * loop. web_stop closes its handles; the server frees itself when the
 * last close callback has run, after which the loop may close.
 */
#ifndef GS_WEB_H
#define GS_WEB_H

#include <stdio.h>

#include "crdt/crdt.h"

typedef struct node node;
typedef struct uv_loop_s uv_loop_t;
typedef struct web_server web_server;

#define WEB_DEFAULT_LISTEN "127.0.0.1:7080"
#define WEB_BODY_MAX (1u << 20) /* bytes of a request body */
/* bytes of a bundle uploaded or downloaded (POST/GET /api/bundle) */
#define WEB_BUNDLE_MAX (64u << 20)
/* In the node directory: the app's password hash (gridsync ui password),
 * read when the app starts. With it, an address beyond loopback is
 * allowed and the API asks for a login (docs/API.md). */
#define WEB_PASSWORD_FILE "ui.password"

typedef struct web_opts {
  const char *listen; /* "HOST:PORT" (port 0: any); NULL: the default */
  FILE *log;          /* one line per notable event, or NULL */
  /* called once listening, with the port bound */
  void (*on_listen)(void *ctx, const char *host, int port);
  void *ctx;
  /* the node serving peers on the same loop (sync now, reachable
   * peers), or NULL */
  struct node_server *peers;
  /* called when the app joined this node to a network (POST /api/join) */
  void (*on_joined)(void *ctx);
  void *joined_ctx;
} web_opts;

/* Start serving n's app on loop. GS_EPERM (with why) for an address
 * beyond loopback without a password (or an unreadable
 * password file); GS_EINVAL for a bad address; libuv and errno codes
 * for a port in use. */
gs_err web_start(node *n, uv_loop_t *loop, const web_opts *o,
                 web_server **out, char *why, size_t whylen);
/* The node's state may have changed: open pages are told (SSE) when it
 * has. Cheap; the server also looks by itself when data.mdb is written. */
void web_notify(web_server *w);
/* The node serving peers on the same loop is now s (after a join). */
void web_set_peers(web_server *w, struct node_server *s);
/* Stop: refuse new requests, end the event streams, close every handle;
 * w is freed from the loop once they are closed. NULL is a no-op. */
void web_stop(web_server *w);

#endif
