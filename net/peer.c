/* A secure connection to a peer: Noise handshake and frames on libuv. */
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/gs_i18n.h" /* issue 18: reasons marked, shown translated */
#include "net/noise.h"
#include "net/net_internal.h"
#include "net/peer.h"

#define PROLOGUE "gridsync/1"
/* Protocol 3 on: the network key is mixed before the first message, so a
 * node without it can neither read nor answer message 1 and never sees
 * the responder's static key. */
#define PATTERN "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b"
/* Protocols 1 and 2: the network key entered only at message 3, so the
 * responder sent its static key to anyone. Kept only to recognise an old
 * node's message 1 and tell it to upgrade (legacy_refusal). */
#define LEGACY_PATTERN "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"
#define TICK_MS 250
#define IDENT_MAX 64 /* bytes of an identity payload */

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

struct net_peer {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_connect_t connect;
  uv_loop_t *loop;
  net_peer_cbs cbs;
  net_peer_opts opts;
  void *data;
  net_identity id;
  net_noise_hs *hs;
  net_noise_cs *tx, *rx;
  bool initiator, open, closing, reading, above_water, paused;
  bool confirming; /* initiator: handshake sent, awaiting the first frame */
  bool replied;    /* responder: message 1 read and answered */
  bool got_msg2;   /* initiator: message 2 read */
  bool draining;   /* closing after the output is flushed */
  uint64_t drain_started;
  uv_shutdown_t shutdown;
  int handles; /* open libuv handles still to close */
  uint64_t started, last_rx, last_tx;
  size_t queued;
  gs_err why;
  char reason[160];
  char addr[64];
  uint8_t remote_key[CRDT_KEY_LEN];
  size_t inlen;
  uint8_t in[4 + NET_FRAME_MAX];
  uint8_t scratch[NET_FRAME_MAX]; /* decrypted frame / handshake payload */
};

typedef struct wreq {
  uv_write_t req;
  net_peer *p;
  size_t len;
  uint8_t buf[];
} wreq;

static const net_peer_opts default_opts = {
    .handshake_ms = 10000,
    .idle_ms = 90000,
    .keepalive_ms = 30000,
    .high_water = 1 << 20,
    .hard_limit = 16 << 20,
};

gs_err net_identity_init(net_identity *id, const uint8_t sign_sk[CRDT_SK_LEN],
                         const uint8_t psk[32])
{
  memcpy(id->sign_sk, sign_sk, CRDT_SK_LEN);
  crdt_sk_to_pk(sign_sk, id->sign_pk);
  memcpy(id->psk, psk, 32);
  if (crypto_sign_ed25519_sk_to_curve25519(id->dh_sk, sign_sk) != 0) {
    net_identity_wipe(id);
    return GS_ECRYPTO;
  }
  return GS_OK;
}

void net_identity_wipe(net_identity *id)
{
  sodium_memzero(id, sizeof *id);
}

/* ---- teardown ---- */

static void free_peer(net_peer *p)
{
  net_noise_hs_free(p->hs);
  net_noise_cs_free(p->tx);
  net_noise_cs_free(p->rx);
  net_identity_wipe(&p->id);
  sodium_memzero(p->scratch, sizeof p->scratch);
  free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
  net_peer *p = h->data;
  if (--p->handles > 0)
    return;
  if (p->cbs.on_close)
    p->cbs.on_close(p, p->why, p->reason);
  free_peer(p);
}

void net_peer_close(net_peer *p, gs_err why, const char *reason)
{
  if (p->closing)
    return;
  p->closing = true;
  p->why = why;
  /* after close_soon, reason is p->reason itself: an overlapping copy
   * would lose it */
  if (reason != p->reason)
    snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "closed");
  uv_close((uv_handle_t *)&p->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}

/* ---- closing after a last word ---- */

static void start_reading(net_peer *p);

static void on_shutdown(uv_shutdown_t *req, int status)
{
  net_peer *p = container_of(req, net_peer, shutdown);
  (void)status;
  /* the peer has everything we sent; read (and drop) until it closes, so
   * that it is not reset before reading our last message */
  if (!p->closing && !p->reading)
    start_reading(p);
}

void net_peer_close_soon(net_peer *p, gs_err why, const char *reason)
{
  if (p->closing || p->draining)
    return;
  p->draining = true;
  p->why = why;
  snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "closed");
  p->drain_started = uv_now(p->loop);
  if (uv_shutdown(&p->shutdown, (uv_stream_t *)&p->tcp, on_shutdown) != 0)
    net_peer_close(p, why, reason);
}

/* ---- writing ---- */

static void start_reading(net_peer *p);

static void on_write(uv_write_t *req, int status)
{
  wreq *w = container_of(req, wreq, req);
  net_peer *p = w->p;
  p->queued -= w->len + sizeof *w; /* what the write really held */
  free(w);
  if (p->closing)
    return;
  if (status < 0) {
    net_peer_close(p, status, N_("write failed"));
    return;
  }
  if (p->above_water && p->queued <= p->opts.high_water / 2) {
    p->above_water = false;
    if (!p->reading && !p->paused)
      start_reading(p);
    if (p->cbs.on_drain)
      p->cbs.on_drain(p);
  }
}

/* Frame len bytes of body (already encrypted) and queue them. */
static gs_err queue_frame(net_peer *p, wreq *w, size_t body)
{
  w->p = p;
  w->len = 4 + body;
  w->buf[0] = (uint8_t)(body >> 24);
  w->buf[1] = (uint8_t)(body >> 16);
  w->buf[2] = (uint8_t)(body >> 8);
  w->buf[3] = (uint8_t)body;
  uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(w);
    net_peer_close(p, rc, N_("write failed"));
    return rc;
  }
  p->queued += w->len + sizeof *w; /* request overhead counts too */
  p->last_tx = uv_now(p->loop);
  if (p->queued > p->opts.hard_limit) {
    net_peer_close(p, GS_ETOOBIG, N_("peer does not read: output queue full"));
    return GS_ECLOSED;
  }
  if (p->queued > p->opts.high_water && !p->above_water) {
    p->above_water = true;
    uv_read_stop((uv_stream_t *)&p->tcp);
    p->reading = false;
  }
  return GS_OK;
}

static gs_err send_transport(net_peer *p, const uint8_t *msg, size_t n)
{
  wreq *w = malloc(sizeof *w + 4 + n + 16);
  size_t clen;
  if (!w)
    return GS_ENOMEM;
  gs_err err = net_noise_cs_encrypt(p->tx, msg, n, w->buf + 4, n + 16, &clen);
  if (err) {
    free(w);
    net_peer_close(p, err, N_("cannot encrypt (nonce exhausted?)"));
    return err;
  }
  return queue_frame(p, w, clen);
}

gs_err net_peer_send(net_peer *p, const uint8_t *msg, size_t n)
{
  if (p->closing || p->draining || !p->open)
    return GS_ECLOSED;
  if (n > NET_PEER_MSG_MAX)
    return GS_ETOOBIG;
  return send_transport(p, msg, n);
}

bool net_peer_writable(const net_peer *p)
{
  return p->open && !p->closing && !p->draining && !p->above_water;
}

size_t net_peer_queued(const net_peer *p)
{
  return p->queued;
}

bool net_peer_is_open(const net_peer *p)
{
  return p->open && !p->closing && !p->draining;
}

bool net_peer_is_closing(const net_peer *p)
{
  return p->closing || p->draining;
}

bool net_peer_answered(const net_peer *p)
{
  return !p->initiator && p->replied;
}

const uint8_t *net_peer_remote_key(const net_peer *p)
{
  return p->remote_key;
}

const char *net_peer_addr(const net_peer *p)
{
  return p->addr;
}

void *net_peer_data(const net_peer *p)
{
  return p->data;
}

void net_peer_set_data(net_peer *p, void *data)
{
  p->data = data;
}

/* ---- handshake ---- */

/* Our handshake payload: [version, Ed25519 pk]. */
static size_t ident_payload(const net_peer *p, uint8_t out[IDENT_MAX])
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_uint32(&pk, NET_PROTOCOL_VERSION);
  msgpack_pack_bin(&pk, CRDT_KEY_LEN);
  msgpack_pack_bin_body(&pk, p->id.sign_pk, CRDT_KEY_LEN);
  size_t n = sb.size <= IDENT_MAX ? sb.size : 0;
  if (n)
    memcpy(out, sb.data, n);
  msgpack_sbuffer_destroy(&sb);
  return n;
}

/* Check the remote's payload against the static key Noise authenticated. */
static gs_err check_ident(net_peer *p, const uint8_t *pl, size_t n,
                          const char **why)
{
  msgpack_unpacked u;
  uint64_t version;
  uint8_t key[CRDT_KEY_LEN], x[32];
  gs_err err = crdt_mp_unpack(pl, n, 1, &u);
  *why = "malformed handshake payload";
  if (err)
    goto out;
  err = GS_EHANDSHAKE;
  if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size != 2 ||
      crdt_mp_uint(&u.data.via.array.ptr[0], &version) ||
      crdt_mp_bin(&u.data.via.array.ptr[1], CRDT_KEY_LEN, key))
    goto out;
  if (version != NET_PROTOCOL_VERSION) {
    *why = "peer speaks another protocol version";
    err = GS_EVERSION;
    goto out;
  }
  const uint8_t *rs = net_noise_hs_remote_static(p->hs);
  if (!rs || crypto_sign_ed25519_pk_to_curve25519(x, key) != 0 ||
      sodium_memcmp(x, rs, 32) != 0) {
    *why = "peer's node key does not match its handshake key";
    goto out;
  }
  memcpy(p->remote_key, key, CRDT_KEY_LEN);
  err = GS_OK;
out:
  msgpack_unpacked_destroy(&u);
  return err;
}

static gs_err hs_send(net_peer *p, bool with_ident)
{
  uint8_t pl[IDENT_MAX];
  size_t pn = with_ident ? ident_payload(p, pl) : 0, len;
  wreq *w = malloc(sizeof *w + 4 + NET_FRAME_MAX);
  if (!w)
    return GS_ENOMEM;
  gs_err err =
      net_noise_hs_write(p->hs, pl, pn, w->buf + 4, NET_FRAME_MAX, &len);
  if (err) {
    free(w);
    return err;
  }
  return queue_frame(p, w, len);
}

/* Split the handshake into transport ciphers. The responder confirms at
 * once with an empty frame and is open; the initiator, whose last message
 * the responder may still refuse (a wrong network key shows only there),
 * opens when that confirmation decrypts. */
static gs_err finish_handshake(net_peer *p)
{
  gs_err err = net_noise_hs_split(p->hs, &p->tx, &p->rx);
  if (err)
    return err;
  net_noise_hs_free(p->hs);
  p->hs = NULL;
  if (p->initiator) {
    p->confirming = true;
    return GS_OK;
  }
  if ((err = send_transport(p, NULL, 0)) != GS_OK)
    return err;
  p->open = true;
  if (p->cbs.on_open)
    p->cbs.on_open(p);
  return GS_OK;
}

/* An identity payload [NET_PROTOCOL_VERSION, key] whose key is random
 * bytes (the legacy refusal names no real key); its length, 0 if it does
 * not fit. */
static size_t fake_ident_payload(uint8_t out[IDENT_MAX])
{
  uint8_t junk[CRDT_KEY_LEN];
  msgpack_sbuffer sb;
  msgpack_packer pk;
  randombytes_buf(junk, sizeof junk);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_uint32(&pk, NET_PROTOCOL_VERSION);
  msgpack_pack_bin(&pk, CRDT_KEY_LEN);
  msgpack_pack_bin_body(&pk, junk, CRDT_KEY_LEN);
  size_t n = sb.size <= IDENT_MAX ? sb.size : 0;
  if (n)
    memcpy(out, sb.data, n);
  msgpack_sbuffer_destroy(&sb);
  return n;
}

/* Message 1 failed as XXpsk0. If it is a valid message 1 of protocol 1 or
 * 2 (XXpsk3, which needs no secret to read), answer as those versions
 * expect, so that the old node says "peer speaks another protocol
 * version": message 2 under a throwaway static key (never this node's),
 * its payload naming version NET_PROTOCOL_VERSION and a random key; then
 * close once sent. Returns true when it answered (the caller must not
 * close), false when f is no such message. */
static bool legacy_refusal(net_peer *p, const uint8_t *f, size_t n)
{
  net_noise_hs *old = NULL;
  uint8_t throwaway[32], pl[IDENT_MAX];
  size_t pn, len;
  bool answered = false;
  wreq *w = NULL;
  randombytes_buf(throwaway, sizeof throwaway);
  /* the PSK of XXpsk3 enters at message 3, never reached: any bytes do */
  if (net_noise_hs_new(&old, LEGACY_PATTERN, false, (const uint8_t *)PROLOGUE,
                       strlen(PROLOGUE), throwaway, NULL, throwaway) != GS_OK)
    goto out;
  if (net_noise_hs_read(old, f, n, p->scratch, sizeof p->scratch, &pn) !=
          GS_OK ||
      pn != 0)
    goto out;
  if ((pn = fake_ident_payload(pl)) == 0 ||
      !(w = malloc(sizeof *w + 4 + NET_FRAME_MAX)))
    goto out;
  if (net_noise_hs_write(old, pl, pn, w->buf + 4, NET_FRAME_MAX, &len) !=
      GS_OK) {
    free(w);
    goto out;
  }
  answered = true;
  if (queue_frame(p, w, len) == GS_OK)
    net_peer_close_soon(p, GS_EVERSION,
                        "peer speaks an older protocol version: upgrade "
                        "gridsync on that computer");
out:
  net_noise_hs_free(old);
  sodium_memzero(throwaway, sizeof throwaway);
  return answered;
}

/* One handshake message arrived. */
static void on_hs_frame(net_peer *p, const uint8_t *f, size_t n)
{
  size_t pn;
  const char *why = "handshake failed";
  gs_err err = net_noise_hs_read(p->hs, f, n, p->scratch,
                                 sizeof p->scratch, &pn);
  if (err) {
    if (!p->initiator && !p->replied && legacy_refusal(p, f, n))
      return;
    net_peer_close(p, GS_EHANDSHAKE,
                   "handshake failed: wrong network key or tampered message");
    return;
  }
  if (p->initiator) {
    /* message 2: <- e, ee, s, es + the responder's identity */
    p->got_msg2 = true;
    if ((err = check_ident(p, p->scratch, pn, &why)) != GS_OK) {
      net_peer_close(p, err, why);
      return;
    }
    if ((err = hs_send(p, true)) != GS_OK ||
        (err = finish_handshake(p)) != GS_OK) {
      if (!p->closing)
        net_peer_close(p, err, N_("handshake failed"));
    }
    return;
  }
  if (!net_noise_hs_done(p->hs)) {
    /* message 1: -> psk, e */
    if (pn != 0) {
      net_peer_close(p, GS_EHANDSHAKE, N_("unexpected handshake payload"));
      return;
    }
    p->replied = true;
    if ((err = hs_send(p, true)) != GS_OK && !p->closing)
      net_peer_close(p, err, N_("handshake failed"));
    return;
  }
  /* message 3: -> s, se + the initiator's identity */
  if ((err = check_ident(p, p->scratch, pn, &why)) != GS_OK) {
    net_peer_close(p, err, why);
    return;
  }
  if ((err = finish_handshake(p)) != GS_OK && !p->closing)
    net_peer_close(p, err, N_("handshake failed"));
}

/* ---- reading ---- */

int net__frame_next(const uint8_t *buf, size_t n, size_t min_len,
                    const uint8_t **frame, size_t *flen, size_t *used)
{
  if (n < 4)
    return 0;
  uint32_t len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                 (uint32_t)buf[2] << 8 | buf[3];
  if (len > NET_FRAME_MAX || len < min_len || len == 0)
    return GS_EPROTO; /* checked before waiting for the body */
  if (n - 4 < len)
    return 0;
  *frame = buf + 4;
  *flen = len;
  *used = 4 + (size_t)len;
  return 1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  net_peer *p = h->data;
  (void)suggested;
  *buf = uv_buf_init((char *)p->in + p->inlen,
                     (unsigned)(sizeof p->in - p->inlen));
}

static void on_frame(net_peer *p, const uint8_t *f, size_t n)
{
  if (p->closing || p->draining)
    return; /* nothing more is taken once closing was decided */
  if (!p->open && !p->confirming) {
    on_hs_frame(p, f, n);
    return;
  }
  size_t pn;
  gs_err err = net_noise_cs_decrypt(p->rx, f, n, p->scratch,
                                    sizeof p->scratch, &pn);
  if (err) {
    if (p->confirming)
      net_peer_close(p, GS_EHANDSHAKE,
                     "handshake failed: the peer's confirmation does not "
                     "decrypt");
    else
      net_peer_close(p, GS_ECRYPTO,
                     "frame failed to decrypt: tampered, replayed or "
                     "truncated");
    return;
  }
  if (p->confirming) {
    p->confirming = false;
    p->open = true;
    if (p->cbs.on_open)
      p->cbs.on_open(p);
    if (p->closing)
      return;
  }
  if (pn == 0)
    return; /* keep-alive */
  if (p->cbs.on_msg)
    p->cbs.on_msg(p, p->scratch, pn);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  net_peer *p = s->data;
  (void)buf;
  if (p->closing)
    return;
  if (p->draining) {
    if (nread < 0)
      net_peer_close(p, p->why, p->reason);
    else
      p->inlen = 0; /* dropped */
    return;
  }
  if (nread < 0) {
    if (!p->open)
      net_peer_close(p, GS_EHANDSHAKE,
                     p->confirming
                         ? "handshake failed: the peer refused it (wrong "
                           "network key?)"
                     : p->initiator && !p->got_msg2
                         ? "the peer refused the handshake: it holds "
                           "another network key, or runs an older gridsync "
                           "that must be upgraded"
                         : "the peer closed the connection during the "
                           "handshake");
    else
      net_peer_close(p, nread == UV_EOF ? GS_ECLOSED : (gs_err)nread,
                     nread == UV_EOF ? "peer closed the connection"
                                     : "read failed");
    return;
  }
  p->last_rx = uv_now(p->loop);
  p->inlen += (size_t)nread;
  size_t off = 0;
  while (!p->closing && !p->draining) {
    const uint8_t *f;
    size_t flen, used;
    int r = net__frame_next(p->in + off, p->inlen - off,
                            (p->open || p->confirming) ? 16 : 1, &f, &flen,
                            &used);
    if (r < 0) {
      net_peer_close(p, GS_EPROTO, N_("bad frame length"));
      return;
    }
    if (r == 0)
      break;
    on_frame(p, f, flen);
    off += used;
  }
  if (p->closing)
    return;
  if (p->draining) {
    p->inlen = 0; /* dropped */
    return;
  }
  memmove(p->in, p->in + off, p->inlen - off);
  p->inlen -= off;
}

void net_peer_pause(net_peer *p, bool pause)
{
  if (p->closing)
    return;
  p->paused = pause;
  if (pause && p->reading) {
    uv_read_stop((uv_stream_t *)&p->tcp);
    p->reading = false;
  } else if (!pause && !p->reading && !p->above_water) {
    start_reading(p);
  }
}

static void start_reading(net_peer *p)
{
  if (uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) == 0)
    p->reading = true;
}

/* ---- timers ---- */

static void on_tick(uv_timer_t *t)
{
  net_peer *p = t->data;
  uint64_t now = uv_now(p->loop);
  if (p->closing)
    return;
  if (p->draining) {
    if (now - p->drain_started >= 2000)
      net_peer_close(p, p->why, p->reason);
    return;
  }
  if (!p->open) {
    if (now - p->started >= p->opts.handshake_ms)
      net_peer_close(p, GS_ETIMEOUT, N_("handshake timed out"));
    return;
  }
  if (now - p->last_rx >= p->opts.idle_ms) {
    net_peer_close(p, GS_ETIMEOUT, N_("peer idle: nothing received"));
    return;
  }
  if (now - p->last_tx >= p->opts.keepalive_ms && !p->above_water)
    send_transport(p, NULL, 0);
}

/* ---- setup ---- */

static gs_err peer_new(uv_loop_t *loop, bool initiator, const net_identity *id,
                       const net_peer_opts *opts, const net_peer_cbs *cbs,
                       void *data, net_peer **out)
{
  net_peer *p = calloc(1, sizeof *p);
  gs_err err;
  *out = NULL;
  if (!p)
    return GS_ENOMEM;
  p->loop = loop;
  p->cbs = *cbs;
  p->opts = opts ? *opts : default_opts;
  p->data = data;
  p->id = *id;
  p->initiator = initiator;
  p->started = p->last_rx = p->last_tx = uv_now(loop);
  err = net_noise_hs_new(&p->hs, PATTERN, initiator,
                         (const uint8_t *)PROLOGUE, strlen(PROLOGUE),
                         p->id.dh_sk, NULL, p->id.psk);
  if (err) {
    free_peer(p);
    return err;
  }
  if ((err = uv_tcp_init(loop, &p->tcp)) < 0) {
    free_peer(p);
    return err;
  }
  p->tcp.data = p;
  p->handles = 1;
  if ((err = uv_timer_init(loop, &p->timer)) < 0) {
    p->why = err;
    p->closing = true;
    p->cbs.on_close = NULL; /* the caller sees the error instead */
    uv_close((uv_handle_t *)&p->tcp, on_handle_closed);
    return err;
  }
  p->timer.data = p;
  p->handles = 2;
  uv_timer_start(&p->timer, on_tick, TICK_MS, TICK_MS);
  *out = p;
  return GS_OK;
}

static void peer_name(net_peer *p)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[48] = "?";
  int port = 0;
  if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(p->addr, sizeof p->addr, "%s:%d", host, port);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(p->addr, sizeof p->addr, "[%s]:%d", host, port);
  }
}

static void on_connect(uv_connect_t *req, int status)
{
  net_peer *p = container_of(req, net_peer, connect);
  if (p->closing)
    return;
  if (status < 0) {
    net_peer_close(p, status, N_("cannot connect"));
    return;
  }
  peer_name(p);
  start_reading(p);
  gs_err err = hs_send(p, false); /* message 1: -> psk, e */
  if (err && !p->closing)
    net_peer_close(p, err, N_("handshake failed"));
}

gs_err net_peer_connect(uv_loop_t *loop, const struct sockaddr *addr,
                        const net_identity *id, const net_peer_opts *opts,
                        const net_peer_cbs *cbs, void *data, net_peer **out)
{
  net_peer *p;
  gs_err err = peer_new(loop, true, id, opts, cbs, data, &p);
  if (err)
    return err;
  if ((err = uv_tcp_connect(&p->connect, &p->tcp, addr, on_connect)) < 0) {
    p->cbs.on_close = NULL;
    net_peer_close(p, err, N_("cannot connect"));
    return err;
  }
  *out = p;
  return GS_OK;
}

gs_err net_peer_accept(uv_stream_t *server, const net_identity *id,
                       const net_peer_opts *opts, const net_peer_cbs *cbs,
                       void *data, net_peer **out)
{
  net_peer *p;
  gs_err err = peer_new(server->loop, false, id, opts, cbs, data, &p);
  if (err)
    return err;
  if ((err = uv_accept(server, (uv_stream_t *)&p->tcp)) < 0) {
    p->cbs.on_close = NULL;
    net_peer_close(p, err, N_("accept failed"));
    return err;
  }
  uv_tcp_nodelay(&p->tcp, 1);
  peer_name(p);
  start_reading(p);
  *out = p;
  return GS_OK;
}
