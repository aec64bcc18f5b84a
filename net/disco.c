/* LAN discovery beacons (see disco.h). */
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "net/disco.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#define DISCO_VERSION 1
#define TICK_MS 1000  /* interfaces looked at, keys refreshed */
#define JOINED_MAX 16 /* interfaces whose multicast group is joined */

static const char beacon_ctx[] = "gridsync-beacon-v1";

/* ---- the codec ---- */

void net_disco_key(const uint8_t netkey[32], uint8_t out[NET_DISCO_KEY_LEN])
{
  crypto_generichash(out, NET_DISCO_KEY_LEN, (const uint8_t *)beacon_ctx,
                     sizeof beacon_ctx - 1, netkey, 32);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
  for (int i = n - 1; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

void net_disco_seal(const uint8_t key[NET_DISCO_KEY_LEN],
                    const net_disco_beacon *b, uint8_t out[NET_DISCO_LEN])
{
  uint8_t pt[NET_DISCO_PLAIN];
  unsigned long long cl;
  memset(pt, 0, sizeof pt);
  pt[0] = DISCO_VERSION;
  put_be(pt + 2, b->port, 2);
  put_be(pt + 4, b->ms, 8);
  memcpy(pt + 12, b->node, 32);
  randombytes_buf(out, NET_DISCO_NONCE);
  /* the context is the associated data: a beacon key used elsewhere
   * could not make one */
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out + NET_DISCO_NONCE, &cl, pt, sizeof pt, (const uint8_t *)beacon_ctx,
      sizeof beacon_ctx - 1, NULL, out, key);
  sodium_memzero(pt, sizeof pt);
}

gs_err net_disco_open(const uint8_t (*keys)[NET_DISCO_KEY_LEN], size_t nkeys,
                      const uint8_t *pkt, size_t n, net_disco_beacon *b)
{
  uint8_t pt[NET_DISCO_PLAIN];
  unsigned long long pl;
  if (n < NET_DISCO_LEN)
    return GS_ETRUNC;
  if (n > NET_DISCO_LEN)
    return GS_ETOOBIG;
  size_t k = 0;
  for (; k < nkeys; k++)
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            pt, &pl, NULL, pkt + NET_DISCO_NONCE, n - NET_DISCO_NONCE,
            (const uint8_t *)beacon_ctx, sizeof beacon_ctx - 1, pkt,
            keys[k]) == 0)
      break;
  if (k == nkeys)
    return GS_ECRYPTO;
  gs_err err = GS_EDECODE;
  if (pl != NET_DISCO_PLAIN || pt[0] != DISCO_VERSION || pt[1] != 0)
    goto out;
  for (size_t i = 44; i < NET_DISCO_PLAIN; i++)
    if (pt[i])
      goto out;
  b->port = (uint16_t)get_be(pt + 2, 2);
  b->ms = get_be(pt + 4, 8);
  memcpy(b->node, pt + 12, 32);
  err = GS_OK;
out:
  sodium_memzero(pt, sizeof pt);
  return err;
}

/* ---- freshness ---- */

struct net_disco_guard {
  struct {
    uint8_t nonce[NET_DISCO_NONCE];
    uint64_t ms;
  } e[NET_DISCO_REPLAY_MAX];
  size_t n;
  uint64_t floor; /* the time of the newest entry evicted while fresh */
};

gs_err net_disco_guard_new(net_disco_guard **out)
{
  *out = calloc(1, sizeof **out);
  return *out ? GS_OK : GS_ENOMEM;
}

void net_disco_guard_free(net_disco_guard *g)
{
  free(g);
}

gs_err net_disco_guard_check(net_disco_guard *g,
                             const uint8_t nonce[NET_DISCO_NONCE], uint64_t ms,
                             uint64_t now)
{
  if (ms + NET_DISCO_WINDOW_MS < now || ms > now + NET_DISCO_WINDOW_MS ||
      ms <= g->floor)
    return GS_ECLOCK;
  size_t oldest = 0;
  for (size_t i = 0; i < g->n;) {
    if (g->e[i].ms + NET_DISCO_WINDOW_MS < now) { /* stale now: refused
                                                   * by the window anyway */
      g->e[i] = g->e[--g->n];
      continue;
    }
    if (memcmp(g->e[i].nonce, nonce, NET_DISCO_NONCE) == 0)
      return GS_EEXIST;
    if (g->e[i].ms < g->e[oldest].ms)
      oldest = i;
    i++;
  }
  size_t slot = g->n;
  if (g->n == NET_DISCO_REPLAY_MAX) {
    /* full of fresh entries: the oldest goes, and nothing as old as it
     * is taken again (else its replay would pass) */
    if (ms <= g->e[oldest].ms)
      return GS_ECLOCK;
    g->floor = g->e[oldest].ms;
    slot = oldest;
  } else {
    g->n++;
  }
  memcpy(g->e[slot].nonce, nonce, NET_DISCO_NONCE);
  g->e[slot].ms = ms;
  return GS_OK;
}

/* ---- the endpoint ---- */

typedef struct source {
  uint8_t ip[17]; /* family byte, then 4 or 16 address bytes */
  bool used;
  uint32_t tokens;
  uint64_t at; /* uv_now of the last refill */
} source;

struct net_disco {
  uv_loop_t *loop;
  net_disco_opts o;
  uv_udp_t u4, u6;
  bool has4, has6;
  uv_timer_t tick;
  int handles; /* open, to close */
  void (*done)(void *ctx);
  void *done_ctx;
  bool stopping;
  uint8_t keys[NET_DISCO_KEYS_MAX][NET_DISCO_KEY_LEN];
  size_t nkeys;
  net_disco_guard *guard;
  source src[NET_DISCO_SOURCES];
  uint64_t budget_at;
  uint32_t budget;
  uint64_t last_sent; /* uv_now; 0: never */
  uint64_t next_send;
  uint64_t ifhash;
  unsigned joined[JOINED_MAX];
  size_t njoined;
  uint64_t rng;
  uint8_t buf4[NET_DISCO_LEN + 1], buf6[NET_DISCO_LEN + 1];
  net_disco_stats st;
};

static uint64_t rnd(net_disco *d)
{
  d->rng ^= d->rng << 13;
  d->rng ^= d->rng >> 7;
  d->rng ^= d->rng << 17;
  return d->rng;
}

static void refresh_keys(net_disco *d)
{
  uint8_t raw[NET_DISCO_KEYS_MAX][32];
  size_t n = d->o.keys(d->o.ctx, raw, NET_DISCO_KEYS_MAX);
  if (n > NET_DISCO_KEYS_MAX)
    n = NET_DISCO_KEYS_MAX;
  for (size_t i = 0; i < n; i++)
    net_disco_key(raw[i], d->keys[i]);
  if (n || !d->nkeys)
    d->nkeys = n;
  sodium_memzero(raw, sizeof raw);
}

/* Is the source within its rate? The table is fixed; a newcomer takes
 * the entry idle longest. */
static bool source_ok(net_disco *d, const struct sockaddr *from)
{
  uint8_t ip[17] = {0};
  if (from->sa_family == AF_INET) {
    ip[0] = 4;
    memcpy(ip + 1, &((const struct sockaddr_in *)from)->sin_addr, 4);
  } else if (from->sa_family == AF_INET6) {
    ip[0] = 6;
    memcpy(ip + 1, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
  } else {
    return false;
  }
  uint64_t now = uv_now(d->loop);
  source *s = NULL, *idle = &d->src[0];
  for (size_t i = 0; i < NET_DISCO_SOURCES; i++) {
    source *c = &d->src[i];
    if (c->used && memcmp(c->ip, ip, sizeof ip) == 0) {
      s = c;
      break;
    }
    if (!c->used || (idle->used && c->at < idle->at))
      idle = c;
  }
  if (!s) {
    s = idle;
    memcpy(s->ip, ip, sizeof ip);
    s->used = true;
    s->tokens = NET_DISCO_BURST;
    s->at = now;
  }
  uint64_t k = (now - s->at) / NET_DISCO_REFILL_MS;
  if (k) {
    s->tokens = k >= NET_DISCO_BURST || s->tokens + k >= NET_DISCO_BURST
                    ? NET_DISCO_BURST
                    : s->tokens + (uint32_t)k;
    s->at += k * NET_DISCO_REFILL_MS;
  }
  if (!s->tokens)
    return false;
  s->tokens--;
  return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  net_disco *d = h->data;
  (void)suggested;
  uint8_t *b = (uv_udp_t *)h == &d->u4 ? d->buf4 : d->buf6;
  *buf = uv_buf_init((char *)b, sizeof d->buf4);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags)
{
  net_disco *d = h->data;
  net_disco_beacon b;
  if (nread <= 0 || !from || d->stopping)
    return;
  if ((size_t)nread != NET_DISCO_LEN || (flags & UV_UDP_PARTIAL)) {
    d->st.bad_size++;
    return;
  }
  if (!source_ok(d, from)) {
    d->st.rate++;
    return;
  }
  uint64_t mono = uv_now(d->loop);
  if (mono - d->budget_at >= 1000) {
    d->budget_at = mono;
    d->budget = NET_DISCO_OPEN_PER_S;
  }
  if (!d->budget) {
    d->st.budget++;
    return;
  }
  d->budget--;
  const uint8_t *pkt = (const uint8_t *)buf->base;
  if (net_disco_open((const uint8_t(*)[NET_DISCO_KEY_LEN])d->keys, d->nkeys,
                     pkt, (size_t)nread, &b) != GS_OK) {
    d->st.auth++;
    return;
  }
  if (memcmp(b.node, d->o.node, 32) == 0) {
    d->st.own++; /* our own, looped back */
    return;
  }
  gs_err err = net_disco_guard_check(d->guard, pkt, b.ms, d->o.now(d->o.ctx));
  if (err) {
    if (err == GS_EEXIST) {
      d->st.replay++;
    } else {
      d->st.stale++;
      if (d->o.on_stale)
        d->o.on_stale(d->o.ctx, &b, from);
    }
    return;
  }
  if (b.port == 0) {
    /* a probe: a node looking for peers (a `sync`), not serving; answer
     * with a beacon now (at most one per NET_DISCO_GAP_MS) */
    d->st.probes++;
    if (d->o.announce)
      net_disco_poke(d);
    return;
  }
  d->st.heard++;
  d->o.on_beacon(d->o.ctx, &b, from);
}

/* Seal a beacon (a probe when not announcing) and send it to one
 * address: each copy has a nonce of its own. */
static void send_to(net_disco *d, uv_udp_t *h, const struct sockaddr *to)
{
  uint8_t pkt[NET_DISCO_LEN];
  net_disco_beacon bc = {.port = d->o.announce ? d->o.tcp_port : 0,
                         .ms = d->o.now(d->o.ctx)};
  memcpy(bc.node, d->o.node, 32);
  net_disco_seal(d->keys[0], &bc, pkt);
  uv_buf_t b = uv_buf_init((char *)pkt, NET_DISCO_LEN);
  if (uv_udp_try_send(h, &b, 1, to) == NET_DISCO_LEN)
    d->st.sent++;
}

static bool joined(net_disco *d, unsigned idx)
{
  for (size_t i = 0; i < d->njoined; i++)
    if (d->joined[i] == idx)
      return true;
  return false;
}

/* Look at the interfaces (joining the group on new ones); when send,
 * beacon on each. Returns a hash of the interface list. */
static uint64_t each_interface(net_disco *d, bool send)
{
  uv_interface_address_t *ifs;
  int count;
  uint64_t hash = 1469598103934665603ULL;
  if (uv_interface_addresses(&ifs, &count) != 0)
    return 0;
  send = send && d->nkeys;
  for (int i = 0; i < count; i++) {
    uv_interface_address_t *a = &ifs[i];
    if (a->is_internal)
      continue;
    for (const char *c = a->name; *c; c++)
      hash = (hash ^ (uint8_t)*c) * 1099511628211ULL;
    if (a->address.address4.sin_family == AF_INET) {
      const uint8_t *ip = (const uint8_t *)&a->address.address4.sin_addr;
      for (int k = 0; k < 4; k++)
        hash = (hash ^ ip[k]) * 1099511628211ULL;
      if (!d->has4 || !send)
        continue;
      struct sockaddr_in to = {.sin_family = AF_INET,
                               .sin_port = htons(d->o.port)};
      to.sin_addr.s_addr = a->address.address4.sin_addr.s_addr |
                           ~a->netmask.netmask4.sin_addr.s_addr;
      send_to(d, &d->u4, (const struct sockaddr *)&to);
    } else if (a->address.address6.sin6_family == AF_INET6) {
      const struct in6_addr *ip6 = &a->address.address6.sin6_addr;
      for (int k = 0; k < 16; k++)
        hash = (hash ^ ip6->s6_addr[k]) * 1099511628211ULL;
      if (!d->has6 || !IN6_IS_ADDR_LINKLOCAL(ip6))
        continue; /* one per interface: its link-local address */
#ifdef _WIN32 /* a->name is the friendly name; the scope is the index */
      unsigned idx = (unsigned)a->address.address6.sin6_scope_id;
#else
      unsigned idx = if_nametoindex(a->name);
#endif
      if (!idx)
        continue;
      if (!joined(d, idx) && d->njoined < JOINED_MAX) {
        struct ipv6_mreq mr = {.ipv6mr_interface = idx};
        uv_os_fd_t fd;
        inet_pton(AF_INET6, NET_DISCO_GROUP6, &mr.ipv6mr_multiaddr);
#ifdef _WIN32 /* uv_os_fd_t is the SOCKET as a HANDLE; optval a char * */
        if (uv_fileno((uv_handle_t *)&d->u6, &fd) == 0 &&
            setsockopt((SOCKET)fd, IPPROTO_IPV6, IPV6_JOIN_GROUP,
                       (const char *)&mr, (int)sizeof mr) == 0)
#else
        if (uv_fileno((uv_handle_t *)&d->u6, &fd) == 0 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof mr) ==
                0)
#endif
          d->joined[d->njoined++] = idx;
      }
      if (!send)
        continue;
      struct sockaddr_in6 to = {.sin6_family = AF_INET6,
                                .sin6_port = htons(d->o.port),
                                .sin6_scope_id = idx};
      inet_pton(AF_INET6, NET_DISCO_GROUP6, &to.sin6_addr);
      send_to(d, &d->u6, (const struct sockaddr *)&to);
    }
  }
  uv_free_interface_addresses(ifs, count);
  return hash;
}

static void schedule(net_disco *d)
{
  /* a listener probes each second or so: it listens only briefly */
  uint64_t every = d->o.every_ms           ? d->o.every_ms
                   : d->o.announce ? NET_DISCO_EVERY_MS
                                   : TICK_MS;
  d->next_send = uv_now(d->loop) + every / 2 + rnd(d) % (every + 1);
}

static void beacon_now(net_disco *d)
{
  refresh_keys(d);
  d->ifhash = each_interface(d, true);
  d->last_sent = uv_now(d->loop);
  schedule(d);
}

static void on_tick(uv_timer_t *t)
{
  net_disco *d = t->data;
  if (d->stopping)
    return;
  uint64_t now = uv_now(d->loop);
  uint64_t h = each_interface(d, false);
  bool changed = h != d->ifhash;
  if ((changed || now >= d->next_send) && now - d->last_sent >= NET_DISCO_GAP_MS)
    beacon_now(d); /* a new interface or address: say so at once */
  else
    refresh_keys(d);
}

void net_disco_poke(net_disco *d)
{
  if (!d || d->stopping)
    return;
  if (uv_now(d->loop) - d->last_sent >= NET_DISCO_GAP_MS)
    beacon_now(d);
  else if (d->next_send > d->last_sent + NET_DISCO_GAP_MS)
    d->next_send = d->last_sent + NET_DISCO_GAP_MS; /* at the next tick */
}

static gs_err open_socket(net_disco *d, uv_udp_t *h, int family)
{
  struct sockaddr_storage ss;
  unsigned flags = UV_UDP_REUSEADDR;
  memset(&ss, 0, sizeof ss);
  int rc = uv_udp_init_ex(d->loop, h, (unsigned)family);
  if (rc)
    return rc;
  h->data = d;
  d->handles++;
  if (family == AF_INET) {
    uv_ip4_addr("0.0.0.0", d->o.port, (struct sockaddr_in *)&ss);
  } else {
    uv_ip6_addr("::", d->o.port, (struct sockaddr_in6 *)&ss);
    flags |= UV_UDP_IPV6ONLY;
  }
  if ((rc = uv_udp_bind(h, (const struct sockaddr *)&ss, flags)) ||
      (family == AF_INET && (rc = uv_udp_set_broadcast(h, 1))) ||
      (rc = uv_udp_recv_start(h, on_alloc, on_recv)))
    return rc;
  return GS_OK;
}

static void on_closed(uv_handle_t *h)
{
  net_disco *d = h->data;
  if (--d->handles > 0)
    return;
  void (*done)(void *) = d->done;
  void *ctx = d->done_ctx;
  net_disco_guard_free(d->guard);
  sodium_memzero(d->keys, sizeof d->keys);
  free(d);
  if (done)
    done(ctx);
}

static void close_all(net_disco *d)
{
  uv_handle_t *hs[3] = {(uv_handle_t *)&d->tick, (uv_handle_t *)&d->u4,
                        (uv_handle_t *)&d->u6};
  bool open[3] = {true, d->has4, d->has6};
  for (int i = 0; i < 3; i++)
    if (open[i] && !uv_is_closing(hs[i]))
      uv_close(hs[i], on_closed);
}

gs_err net_disco_start(uv_loop_t *loop, const net_disco_opts *o,
                       net_disco **out)
{
  *out = NULL;
  net_disco *d = calloc(1, sizeof *d);
  if (!d)
    return GS_ENOMEM;
  d->loop = loop;
  d->o = *o;
  if (!d->o.port)
    d->o.port = NET_DISCO_PORT;
  gs_err err = net_disco_guard_new(&d->guard);
  if (err) {
    free(d);
    return err;
  }
  randombytes_buf(&d->rng, sizeof d->rng);
  d->rng |= 1;
  uv_timer_init(loop, &d->tick);
  d->tick.data = d;
  d->handles = 1;
  /* each family on its own: a host without IPv6 still has IPv4 */
  gs_err e4 = open_socket(d, &d->u4, AF_INET);
  d->has4 = d->handles == 2; /* its handle exists: to be closed */
  gs_err e6 = open_socket(d, &d->u6, AF_INET6);
  d->has6 = d->handles == 2 + d->has4;
  if (e4 && e6) {
    err = e4;
    goto fail;
  }
  if (e4 || e6) {
    /* keep the one that works; close the other now */
    uv_udp_t *bad = e4 ? &d->u4 : &d->u6;
    bool had = e4 ? d->has4 : d->has6;
    if (had)
      uv_close((uv_handle_t *)bad, on_closed);
    if (e4)
      d->has4 = false;
    else
      d->has6 = false;
  }
  beacon_now(d);
  uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
  *out = d;
  return GS_OK;
fail:
  d->stopping = true;
  close_all(d);
  return err;
}

const net_disco_stats *net_disco_get_stats(const net_disco *d)
{
  return &d->st;
}

void net_disco_stop(net_disco *d, void (*done)(void *ctx), void *ctx)
{
  if (!d)
    return;
  d->stopping = true;
  d->done = done;
  d->done_ctx = ctx;
  close_all(d);
}
