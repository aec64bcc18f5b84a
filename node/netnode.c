/*
 * A node on the network: serve (listen, keep connections to a few peers,
 * gossip with a random one now and then, push local changes live) and
 * sync-once. The node owns the libuv loop; net/ provides the secure
 * channel (peer.c) and the protocol (sync.c).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <net/if.h>
#include <uv.h>

#include "crdt/gs_i18n.h"
#include "net/disco.h"

#include "net/msg.h"
#include "net/peer.h"
#include "net/sync.h"
#include "node/netnode.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#define POLL_MS 100     /* live mode: look for local commits (see on_commit) */
#define SETTLE_MS 15    /* ... and again this long after a write event */
/* A peer's output queue (net/peer.h): above high water a session stops
 * reading. A window of CHANGES in flight (NET_SYNC_WINDOW messages, issue
 * 20) must fit below it, or two nodes sending each other a window at once
 * could both stop reading and wait for each other; the window and the
 * queue below high water fit under the hard limit (the memory bound of a
 * session's output, unchanged). */
#define PEER_HIGH_WATER ((size_t)8 << 20)
#define PEER_HARD_LIMIT ((size_t)16 << 20)
_Static_assert((size_t)NET_SYNC_WINDOW * (NET_FRAME_MAX + 64) <
                   PEER_HIGH_WATER,
               "a window of CHANGES fits below the high water mark");
_Static_assert(PEER_HIGH_WATER + (size_t)NET_SYNC_WINDOW *
                                     (NET_FRAME_MAX + 64) <
                   PEER_HARD_LIMIT,
               "a window above high water stays under the hard limit");
#define PENDING_MAX 16  /* incoming connections still in the handshake */
#define PENDING_PER_HOST 4 /* ... from one address, before its stalled ones
                            * give way to newcomers */
#define PENDING_PER_HOST_MAX 16 /* ... from one address, at most */
#define PENDING_GRACE_MS 250    /* a handshake younger never gives way */
#define SESSIONS_PER_HOST 16 /* established incoming sessions of one address */
#define SESSIONS_PER_KEY 4  /* sessions with one node key: live ones each way
                             * and a `gridsync sync` or two */
#define SESSIONS_NONMEMBER 8 /* sessions with peers not (yet) valid members */
#define PROGRESS_MS 500
#define DISCO_CANDS 32        /* nodes heard on the LAN, kept in memory */
#define DISCO_RETRY_MS 10000  /* one connection attempt per node this often */
#define DISCO_PREFER4_MS 30000 /* an IPv4 address heard this recently wins */
#define DISCO_META "discovery" /* the node setting: "off" turns it off */

/* ---- addresses ---- */

/* Split "HOST:PORT" / "[v6]:PORT"; a numeric host fills out and returns
 * 1; a name returns 0 with host and port set; bad text returns < 0. */
static int split_addr(const char *hostport, char *host, size_t hcap,
                      char *port, size_t pcap, struct sockaddr_storage *out)
{
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || !colon[1])
    return GS_EINVAL;
  size_t hl = (size_t)(colon - hostport);
  const char *h = hostport;
  if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']')
    h++, hl -= 2;
  if (hl >= hcap || strlen(colon + 1) >= pcap)
    return GS_EINVAL;
  memcpy(host, h, hl);
  host[hl] = '\0';
  strcpy(port, colon + 1);
  char *end;
  long pn = strtol(port, &end, 10);
  if (*end || pn < 0 || pn > 65535)
    return GS_EINVAL;
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, (int)pn, (struct sockaddr_in *)out) == 0 ||
      uv_ip6_addr(host, (int)pn, (struct sockaddr_in6 *)out) == 0)
    return 1;
  return 0;
}

bool node_addr_valid(const char *hostport)
{
  struct sockaddr_storage ss;
  char host[256], port[16];
  return strlen(hostport) <= STORE_ADDR_MAX &&
         split_addr(hostport, host, sizeof host, port, sizeof port, &ss) >= 0;
}

gs_err node_parse_addr(const char *hostport, struct sockaddr_storage *out)
{
  char host[256];
  const char *colon = strrchr(hostport, ':');
  if (!colon || colon == hostport || !colon[1])
    return GS_EINVAL;
  size_t hl = (size_t)(colon - hostport);
  if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']')
    hostport++, hl -= 2; /* [v6]:port */
  if (hl >= sizeof host)
    return GS_EINVAL;
  memcpy(host, hostport, hl);
  host[hl] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535)
    return GS_EINVAL;
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0 ||
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
    return GS_OK;
  /* a name: resolve synchronously (once per connection attempt) */
  uv_loop_t loop;
  uv_getaddrinfo_t req;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  if (uv_loop_init(&loop) != 0)
    return GS_ENOMEM;
  int rc = uv_getaddrinfo(&loop, &req, NULL, host, colon + 1, &hints);
  if (rc == 0) {
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
  }
  uv_loop_close(&loop);
  return rc == 0 ? GS_OK : rc;
}

/* ---- address book entries: [last_ok_ms, last_try_ms, failures, note,
 *      node key or nil, how found (node_peer_found), kind of the note
 *      (node_peer_kind)]; the last two are missing from entries written
 *      before they were recorded; an empty value is an address typed and
 *      never tried ---- */

typedef struct book_entry {
  uint64_t last_ok, last_try;
  uint32_t failures;
  char note[128];
  bool has_key;
  uint8_t key[CRDT_KEY_LEN];
  uint8_t found; /* node_peer_found */
  uint8_t kind;  /* node_peer_kind */
} book_entry;

static gs_err node__book_get(node *n, const char *addr, book_entry *e);

static gs_err book_decode(const uint8_t *buf, size_t len, book_entry *e)
{
  msgpack_unpacked u;
  memset(e, 0, sizeof *e);
  if (len == 0)
    return GS_OK; /* configured, never tried */
  gs_err err = crdt_mp_unpack(buf, len, 1, &u);
  if (err)
    goto out;
  err = GS_ECORRUPT;
  const msgpack_object *o = &u.data;
  if (o->type != MSGPACK_OBJECT_ARRAY ||
      o->via.array.size < 5 || o->via.array.size > 7)
    goto out;
  const msgpack_object *a = o->via.array.ptr;
  uint64_t f;
  if (crdt_mp_uint(&a[0], &e->last_ok) || crdt_mp_uint(&a[1], &e->last_try) ||
      crdt_mp_uint(&a[2], &f) || a[3].type != MSGPACK_OBJECT_STR ||
      a[3].via.str.size >= sizeof e->note)
    goto out;
  e->failures = f > UINT32_MAX ? UINT32_MAX : (uint32_t)f;
  if (a[3].via.str.size) /* an empty string's ptr may be NULL */
    memcpy(e->note, a[3].via.str.ptr, a[3].via.str.size);
  /* a damaged note keeps its valid start (it is shown to people, and
   * JSON output refuses invalid UTF-8) */
  for (size_t nl = a[3].via.str.size; nl && !crdt_utf8_valid(e->note, nl);)
    e->note[--nl] = '\0';
  if (a[4].type != MSGPACK_OBJECT_NIL) {
    if (crdt_mp_bin(&a[4], CRDT_KEY_LEN, e->key))
      goto out;
    e->has_key = true;
  }
  e->found = NODE_FOUND_UNKNOWN;
  if (o->via.array.size >= 6) {
    uint64_t how;
    if (crdt_mp_uint(&a[5], &how) || how > NODE_FOUND_UNKNOWN)
      goto out;
    e->found = (uint8_t)how;
  }
  /* before kinds were kept: a failure says "other" (the note tells) */
  e->kind = e->failures ? NODE_PEER_OTHER : NODE_PEER_OK;
  if (o->via.array.size == 7) {
    uint64_t kind;
    if (crdt_mp_uint(&a[6], &kind) || kind > NODE_PEER_KIND_MAX)
      goto out;
    e->kind = (uint8_t)kind;
  }
  err = GS_OK;
out:
  msgpack_unpacked_destroy(&u);
  return err;
}

_Static_assert(sizeof(((book_entry *)0)->note) == NODE__BOOK_NOTE_MAX,
               "node__book_decode's note buffer");

gs_err node__book_decode(const uint8_t *buf, size_t len, node_peer_info *info,
                         char note[NODE__BOOK_NOTE_MAX],
                         uint8_t key[CRDT_KEY_LEN])
{
  book_entry e;
  gs_err err = book_decode(buf, len, &e);
  memset(info, 0, sizeof *info);
  if (err)
    return err;
  memcpy(note, e.note, sizeof e.note);
  info->last_ok_ms = e.last_ok;
  info->last_try_ms = e.last_try;
  info->failures = e.failures;
  info->found = (node_peer_found)e.found;
  info->kind = (node_peer_kind)e.kind;
  info->note = note;
  if (e.has_key) {
    memcpy(key, e.key, CRDT_KEY_LEN);
    info->key = key;
  }
  return GS_OK;
}

static gs_err book_put(node *n, const char *addr, const book_entry *e)
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 7);
  msgpack_pack_uint64(&pk, e->last_ok);
  msgpack_pack_uint64(&pk, e->last_try);
  msgpack_pack_uint32(&pk, e->failures);
  size_t nl = strnlen(e->note, sizeof e->note - 1);
  while (nl && !crdt_utf8_valid(e->note, nl))
    nl--;
  msgpack_pack_str(&pk, nl);
  msgpack_pack_str_body(&pk, e->note, nl);
  if (e->has_key) {
    msgpack_pack_bin(&pk, CRDT_KEY_LEN);
    msgpack_pack_bin_body(&pk, e->key, CRDT_KEY_LEN);
  } else {
    msgpack_pack_nil(&pk);
  }
  msgpack_pack_uint8(&pk, e->found);
  msgpack_pack_uint8(&pk, e->kind);
  gs_err err = sb.data ? store_peer_put(n->st, addr, sb.data, sb.size)
                       : GS_ENOMEM;
  msgpack_sbuffer_destroy(&sb);
  return err;
}

static gs_err node__book_get(node *n, const char *addr, book_entry *e)
{
  uint8_t buf[512];
  size_t len;
  gs_err err = store_peer_get(n->st, addr, buf, sizeof buf, &len);
  if (err)
    return err;
  if (len > sizeof buf)
    return GS_ECORRUPT;
  return book_decode(buf, len, e);
}

/* Add addr, found how, unless known (GS_EEXIST). */
static gs_err peer_add_found(node *n, const char *addr, node_peer_found how)
{
  book_entry e;
  if (!node_addr_valid(addr))
    return GS_EINVAL;
  if (node__book_get(n, addr, &e) == GS_OK)
    return GS_EEXIST;
  if (how == NODE_FOUND_TYPED)
    return store_peer_put(n->st, addr, "", 0);
  memset(&e, 0, sizeof e);
  e.found = (uint8_t)how;
  return book_put(n, addr, &e);
}

gs_err node_peer_add(node *n, const char *addr)
{
  return peer_add_found(n, addr, NODE_FOUND_TYPED);
}

gs_err node_peer_remove(node *n, const char *addr)
{
  return store_peer_del(n->st, addr);
}

typedef struct list_ctx {
  node_peer_cb cb;
  void *ctx;
} list_ctx;

static int on_book(void *ctx, const char *addr, const void *val, size_t len)
{
  list_ctx *l = ctx;
  book_entry e;
  if (book_decode(val, len, &e) != GS_OK)
    return 0; /* skip what we cannot read */
  node_peer_info info = {.addr = addr,
                         .last_ok_ms = e.last_ok,
                         .last_try_ms = e.last_try,
                         .failures = e.failures,
                         .note = e.note,
                         .key = e.has_key ? e.key : NULL,
                         .found = (node_peer_found)e.found,
                         .kind = (node_peer_kind)e.kind};
  return l->cb(l->ctx, &info);
}

gs_err node_peers(node *n, node_peer_cb cb, void *ctx)
{
  list_ctx l = {cb, ctx};
  return store_peer_list(n->st, on_book, &l);
}

/* Record the outcome of a session with addr in the book; an address
 * not in it yet is added as found how, but one found on the LAN only
 * once a session there worked (a beacon alone writes nothing). */
static void book_outcome_found(node *n, const char *addr, bool ok,
                               const uint8_t *key, const char *note,
                               node_peer_kind kind, node_peer_found how)
{
  book_entry e;
  if (!addr || !*addr)
    return;
  if (node__book_get(n, addr, &e) != GS_OK) {
    if (how == NODE_FOUND_LAN && !ok)
      return;
    memset(&e, 0, sizeof e);
    e.found = (uint8_t)how;
  }
  uint64_t now = node_now(n);
  e.last_try = now;
  if (ok) {
    e.last_ok = now;
    e.failures = 0;
  } else if (e.failures < UINT32_MAX) {
    e.failures++;
  }
  if (key) {
    memcpy(e.key, key, CRDT_KEY_LEN);
    e.has_key = true;
  }
  snprintf(e.note, sizeof e.note, "%s", note ? note : "");
  e.kind = (uint8_t)(ok ? NODE_PEER_OK : kind);
  book_put(n, addr, &e);
}

/* A failure to reach addr (err: before any session opened). */
static void book_failed(node *n, const char *addr, gs_err err,
                        const char *note)
{
  book_outcome_found(n, addr, false, NULL, note, node_peer_kind_of(err, false),
                     NODE_FOUND_TYPED);
}

/* ---- sessions ---- */

typedef struct session session;
typedef struct node_server netnode;
struct node_server {
  node *n;
  uv_loop_t own;    /* the loop of a blocking call (sync once) */
  uv_loop_t *loop;  /* own, or the caller's (node_server_start) */
  bool embedded;    /* on the caller's loop: freed when all is closed */
  int handles;      /* handles not yet closed (embedded) */
  uv_tcp_t listener;
  bool listening;
  uv_timer_t poll, gossip, progress;
  uv_fs_event_t commits; /* data.mdb written: another process committed */
  uv_timer_t settle;      /* a second look after a write event */
  uv_check_t flush;       /* group commit of received changes (on_flush) */
  uint64_t last_look;     /* uv_now of the last on_poll */
  net_identity id;
  net_peer_opts opts;
  session *sessions;
  bool stopping;
  /* sync-once */
  bool once;
  gs_err once_err;
  char once_why[200];
  net_sync_stats once_stats;
  bool once_done;
  node_progress_cb progress_cb;
  void *progress_ctx;
  /* serve */
  const node_serve_opts *sopts;
  uint64_t rng;
  FILE *log;
  int listen_port; /* advertised to peers as "*:PORT"; 0: not serving */
  size_t resolving; /* name lookups under way */
  char listen_host[64];
  /* LAN discovery (serve) */
  net_disco *disco;
  struct disco_cand *cands; /* DISCO_CANDS of them */
  uint64_t keys_version;    /* node_version when the keys were read */
  uint8_t keys[NET_DISCO_KEYS_MAX][32];
  size_t nkeys;
  uint64_t stale_logged; /* uv_now of the last clock warning */
  net_disco_stats disco_logged; /* the counters last logged */
};

/* A node heard on the LAN. */
typedef struct disco_cand {
  bool used;
  uint8_t key[CRDT_KEY_LEN];
  char addr[STORE_ADDR_MAX + 1];
  uint64_t seen, tried; /* uv_now; tried 0: never */
  bool v4;
  bool confirmed; /* a session at addr met the node named: addr sticks */
} disco_cand;

static void maybe_free(netnode *nn);
static void disco_log(netnode *nn);

struct session {
  session *next;
  netnode *nn;
  net_peer *peer;
  net_sync *sync;
  char addr[STORE_ADDR_MAX + 1]; /* book key for outgoing sessions */
  bool outgoing, ok;
  bool member; /* the peer was a valid member when the session opened */
  node_policy *pol; /* cached for may_send */
  size_t pol_changes;
  node_policy_cache recv_pol; /* decides received batches (on_classify) */
  bool confirmed; /* this node's own claim is confirmed (with pol) */
  size_t learnt; /* addresses added from this peer's PEERS */
  bool net_seen; /* a batch carried membership changes */
  uint64_t since; /* uv_now when it began */
  node_peer_found found; /* how its address was found (outgoing) */
  bool expect; /* a beacon named the node there: expect_key */
  uint8_t expect_key[CRDT_KEY_LEN];
};

static void logf_(netnode *nn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(netnode *nn, const char *fmt, ...)
{
  va_list ap;
  char when[40];
  if (!nn->log)
    return;
  uint64_t ms = node_now(nn->n);
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm); /* issue 18: local time, translated text */
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  fprintf(nn->log, "%s ", when);
  va_start(ap, fmt);
  vfprintf(nn->log, _(fmt), ap);
  va_end(ap);
  fputc('\n', nn->log);
  fflush(nn->log);
}

static gs_err io_send(void *ctx, const uint8_t *m, size_t len)
{
  session *s = ctx;
  return net_peer_send(s->peer, m, len);
}

static bool io_writable(void *ctx)
{
  session *s = ctx;
  return net_peer_writable(s->peer);
}

static void key_text(const uint8_t *key, char out[16])
{
  char full[CRDT_KEY_TEXT_LEN + 1];
  crdt_base32_encode(key, CRDT_KEY_LEN, full);
  memcpy(out, full, 12);
  out[12] = '\0';
}

static void fail_session(session *s, gs_err err, const char *why)
{
  uint8_t *buf;
  size_t len;
  if (net_msg_error(err, why, &buf, &len) == GS_OK) {
    net_peer_send(s->peer, buf, len);
    free(buf);
  }
  net_peer_close_soon(s->peer, err, why);
}

static bool peer_is_member(session *s);

static void check_once_done(session *s)
{
  netnode *nn = s->nn;
  if (!s->ok && net_sync_caught_up(s->sync) && !peer_is_member(s)) {
    char who[16];
    key_text(net_peer_remote_key(s->peer), who);
    logf_(nn, "showed nothing to %s (node %s): it presented no valid "
              "membership claim (a new member should connect to this node "
              "itself)",
          s->outgoing ? s->addr : net_peer_addr(s->peer), who);
  }
  if (!s->ok && !nn->once && net_sync_caught_up(s->sync)) {
    /* a live session: its first catch-up counts as a sync */
    s->ok = true;
    if (s->outgoing)
      book_outcome_found(nn->n, s->addr, true, net_peer_remote_key(s->peer),
                         "ok", NODE_PEER_OK, s->found);
  }
  if (nn->once && !nn->once_done && net_sync_caught_up(s->sync)) {
    nn->once_done = true;
    nn->once_stats = *net_sync_get_stats(s->sync);
    s->ok = true;
    net_peer_close(s->peer, GS_OK, "sync complete");
  }
}

#define BOOK_MAX 256   /* addresses learnt from peers are kept up to this */
#define PEERS_SHARE 32 /* addresses told to a peer */

typedef struct share_ctx {
  char addrs[PEERS_SHARE][STORE_ADDR_MAX + 1];
  size_t n, total;
} share_ctx;

static int on_share(void *ctx, const node_peer_info *p)
{
  share_ctx *sc = ctx;
  sc->total++;
  if (p->last_ok_ms && sc->n < PEERS_SHARE) /* only addresses that worked */
    snprintf(sc->addrs[sc->n++], STORE_ADDR_MAX + 1, "%s", p->addr);
  return 0;
}

/* Is the peer a valid member (as far as this node knows now)? A peer
 * that is not is told nothing (not even addresses) and taught us nothing. */
static bool peer_is_member(session *s)
{
  node_policy *p;
  if (node_policy_load(s->nn->n, &p) != GS_OK)
    return false;
  bool m = node_policy_member(p, net_peer_remote_key(s->peer));
  node_policy_free(p);
  return m;
}

/* Tell the peer where we listen and which addresses worked for us. */
static void send_peers(session *s)
{
  if (!peer_is_member(s))
    return;
  share_ctx *sc = calloc(1, sizeof *sc);
  net_bytes list[PEERS_SHARE + 1];
  size_t n = 0;
  char self[16];
  if (!sc)
    return;
  node_peers(s->nn->n, on_share, sc);
  if (s->nn->listen_port) {
    snprintf(self, sizeof self, "*:%d", s->nn->listen_port);
    list[n].p = (const uint8_t *)self;
    list[n++].n = strlen(self);
  }
  for (size_t i = 0; i < sc->n; i++) {
    list[n].p = (const uint8_t *)sc->addrs[i];
    list[n++].n = strlen(sc->addrs[i]);
  }
  uint8_t *buf;
  size_t len;
  if (n && net_msg_peers(list, n, &buf, &len) == GS_OK) {
    net_peer_send(s->peer, buf, len);
    free(buf);
  }
  free(sc);
}

/* A learnt address must be numeric (no name lookups on a peer's word). */
static bool numeric_addr(const char *a)
{
  struct sockaddr_storage ss;
  char host[64];
  const char *colon = strrchr(a, ':');
  if (!colon || colon == a || (size_t)(colon - a) >= sizeof host)
    return false;
  memcpy(host, a, (size_t)(colon - a));
  host[colon - a] = '\0';
  char *h = host;
  size_t hl = strlen(h);
  if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
    h[hl - 1] = '\0';
    h++;
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port <= 0 || port > 65535)
    return false;
  return uv_ip4_addr(h, (int)port, (struct sockaddr_in *)&ss) == 0 ||
         uv_ip6_addr(h, (int)port, (struct sockaddr_in6 *)&ss) == 0;
}

/* Our own listening address, as peers may repeat it to us. (A disguised
 * one is caught on connecting: "connected to myself".) */
static bool own_addr(const netnode *nn, const char *a)
{
  const char *colon = strrchr(a, ':');
  if (!nn->listen_port || !colon || atoi(colon + 1) != nn->listen_port)
    return false;
  size_t hl = (size_t)(colon - a);
  if ((hl == strlen(nn->listen_host) &&
       strncmp(a, nn->listen_host, hl) == 0) ||
      strncmp(a, "127.", 4) == 0 || strncmp(a, "[::1]", 5) == 0)
    return true;
  /* listening on every address (0.0.0.0, ::, as on a LAN): an address of
   * one of this machine's interfaces is this node too */
  if (strcmp(nn->listen_host, "0.0.0.0") != 0 &&
      strcmp(nn->listen_host, "::") != 0)
    return false;
  char host[INET6_ADDRSTRLEN + 2];
  if (hl >= sizeof host)
    return false;
  memcpy(host, a, hl);
  host[hl] = '\0';
  uv_interface_address_t *ifs;
  int count;
  bool mine = false;
  if (uv_interface_addresses(&ifs, &count) != 0)
    return false;
  for (int i = 0; i < count && !mine; i++) {
    char name[INET6_ADDRSTRLEN + 2] = "";
    if (ifs[i].address.address4.sin_family == AF_INET) {
      uv_ip4_name(&ifs[i].address.address4, name, sizeof name);
      mine = strcmp(name, host) == 0;
    } else {
      name[0] = '[';
      uv_ip6_name(&ifs[i].address.address6, name + 1, sizeof name - 2);
      strcat(name, "]");
      mine = strcmp(name, host) == 0;
    }
  }
  uv_free_interface_addresses(ifs, count);
  return mine;
}

#define LEARN_PER_SESSION 16 /* new addresses one peer may teach us */

static bool is_loopback(const char *a)
{
  return strncmp(a, "127.", 4) == 0 || strncmp(a, "[::1]", 5) == 0 ||
         strncmp(a, "::1", 3) == 0;
}

static bool is_link_local(const char *a)
{
  return strncmp(a, "169.254.", 8) == 0 || strncmp(a, "[fe80", 5) == 0 ||
         strncmp(a, "0.", 2) == 0;
}

static void on_peers(void *ctx, const net_bytes *addrs, size_t n)
{
  session *s = ctx;
  share_ctx count = {0};
  if (!peer_is_member(s))
    return;
  node_peers(s->nn->n, on_share, &count);
  size_t room = count.total < BOOK_MAX ? BOOK_MAX - count.total : 0;
  if (s->learnt >= LEARN_PER_SESSION)
    return;
  room = room < LEARN_PER_SESSION - s->learnt ? room
                                              : LEARN_PER_SESSION - s->learnt;
  /* a peer elsewhere has no business pointing us at this machine's own
   * services (loopback) or at link-local addresses */
  bool peer_local = is_loopback(net_peer_addr(s->peer));
  for (size_t i = 0; i < n && room > 0; i++) {
    char a[STORE_ADDR_MAX + 1];
    if (addrs[i].n > STORE_ADDR_MAX)
      continue;
    memcpy(a, addrs[i].p, addrs[i].n);
    a[addrs[i].n] = '\0';
    if (strncmp(a, "*:", 2) == 0) {
      /* "me, at the address you see": the peer's host, this port */
      const char *seen = net_peer_addr(s->peer);
      const char *colon = strrchr(seen, ':');
      if (!colon)
        continue;
      char b[STORE_ADDR_MAX + 1];
      snprintf(b, sizeof b, "%.*s%s", (int)(colon - seen), seen, a + 1);
      memcpy(a, b, sizeof a);
    }
    if (!numeric_addr(a) || own_addr(s->nn, a) || is_link_local(a) ||
        (is_loopback(a) && !peer_local))
      continue;
    if (peer_add_found(s->nn->n, a, NODE_FOUND_PEER) == GS_OK) {
      room--;
      s->learnt++;
      logf_(s->nn, "learnt address %s", a);
    }
  }
}

/* Refuse what the authors may not write (count and log it for status);
 * hold instead a change whose author's claim has not arrived yet
 * (re-checked when memberships arrive). */
static void on_classify(void *ctx, const crdt_change *const *cs, size_t n,
                        uint8_t *verdict)
{
  session *s = ctx;
  node_policy *p;
  char why[200];
  bool net = false;
  /* the policy is cached across batches: reloaded when the membership
   * records changed (node_policy_cache_get) or a batch carried some */
  if (node_policy_cache_get(s->nn->n, &s->recv_pol, &p) != GS_OK) {
    for (size_t i = 0; i < n; i++)
      verdict[i] = NET_SYNC_REFUSE; /* cannot tell: try again later */
    return;
  }
  size_t refused = 0;
  char first[512] = "";
  for (size_t i = 0; i < n; i++) {
    verdict[i] = 0;
    if (cs[i]->scope_len && cs[i]->scope[0] == '_')
      s->net_seen = net = true; /* memberships may change: re-check held */
    gs_err d = node_policy_decide(p, cs[i], why, sizeof why);
    if (d == GS_OK)
      continue;
    if (d == GS_EHELD) {
      verdict[i] = STORE_HOLD_MEMBER;
      continue;
    }
    verdict[i] = NET_SYNC_REFUSE;
    if (refused++ == 0) {
      char who[16];
      key_text(cs[i]->origin, who);
      snprintf(first, sizeof first, "change %" PRIu64 " of node %s in %.*s: %s",
               cs[i]->seq, who, (int)cs[i]->scope_len, cs[i]->scope, why);
    }
  }
  node_policy_cache_done(&s->recv_pol, net);
  if (refused) {
    logf_(s->nn, "refused %zu of %zu changes from %s (first: %s)", refused, n,
          s->outgoing ? s->addr : net_peer_addr(s->peer), first);
    node_note_refused(s->nn->n, first, refused);
  }
}

static const char *session_addr(const session *s)
{
  return s->outgoing ? s->addr : net_peer_addr(s->peer);
}

static void after_apply(void *ctx, const store_result *res)
{
  session *s = ctx;
  size_t applied = 0;
  node_policy_cache_committed(&s->recv_pol);
  if (res->bad)
    logf_(s->nn, "set apart %zu changes of bad feeds from %s (see status)",
          res->bad, session_addr(s));
  if (res->held)
    logf_(s->nn, "held %zu changes from %s (stamped too far ahead, or their "
                 "author's membership not known yet; see status)",
          res->held, session_addr(s));
  if (s->net_seen) {
    s->net_seen = false;
    if (node_held_recheck(s->nn->n, &applied) == GS_OK && applied)
      logf_(s->nn, "applied %zu held changes", applied);
  }
}

static uint64_t io_now(void *ctx)
{
  session *s = ctx;
  return node_now(s->nn->n);
}

static void on_hello(void *ctx, uint64_t peer_ms)
{
  session *s = ctx;
  char why[400];
  if (node_note_peer_clock(s->nn->n, session_addr(s), node_now(s->nn->n),
                           peer_ms, why, sizeof why))
    logf_(s->nn, "%s", why);
}

/* Is this node's own membership confirmed: the admin, or a claim an
 * admin or office witnessed? */
static bool self_confirmed(node *n)
{
  node_member_info mi;
  if (!n->has_net)
    return false;
  if (memcmp(n->pk, n->net.admin, CRDT_KEY_LEN) == 0)
    return true;
  return node_member_get(n, n->pk, &mi) == GS_OK &&
         mi.state == NODE_MEMBER_VALID && !mi.revoked;
}

/* Send a peer only what its role may read (membership looked up afresh
 * at most once per planning: the policy is cached by change count). A
 * peer that has not presented a valid claim is shown nothing, not even
 * _net; with one exception, so that two new members can meet: a node
 * whose own claim no admin or office has confirmed yet shows such a peer
 * its own claim (and nothing else). A confirmed node (the admin, an
 * office, a witnessed member) never goes first: the other side, if it is
 * a member, is known to it, or is new and shows its claim first. */
static bool may_send(void *ctx, const uint8_t *origin, const char *scope,
                     size_t scope_len)
{
  session *s = ctx;
  store_stats st;
  if (store_stats_get(s->nn->n->st, &st) != GS_OK)
    return false;
  if (!s->pol || st.changes != s->pol_changes) {
    node_policy_free(s->pol);
    s->pol = NULL;
    if (node_policy_load(s->nn->n, &s->pol) != GS_OK)
      return false;
    s->pol_changes = st.changes;
    s->confirmed = self_confirmed(s->nn->n);
  }
  const uint8_t *key = net_peer_remote_key(s->peer);
  if (!node_policy_member(s->pol, key))
    return !s->confirmed && memcmp(origin, s->nn->n->pk, CRDT_KEY_LEN) == 0 &&
           scope_len == strlen(NODE_NET_SCOPE) &&
           memcmp(scope, NODE_NET_SCOPE, scope_len) == 0;
  return node_policy_may_read(s->pol, key, scope, scope_len);
}

static void on_open(net_peer *p)
{
  session *s = net_peer_data(p);
  char who[16];
  net_sync_io io = {.send = io_send,
                    .writable = io_writable,
                    .on_peers = on_peers,
                    .classify = on_classify,
                    .may_send = may_send,
                    .ctx = s,
                    .now = io_now,
                    .on_hello = on_hello,
                    .after_apply = after_apply,
                    .group = true};
  if (memcmp(net_peer_remote_key(p), s->nn->id.sign_pk, CRDT_KEY_LEN) == 0) {
    /* an address of our own (learnt from a peer): forget it */
    if (s->outgoing)
      node_peer_remove(s->nn->n, s->addr);
    s->outgoing = false; /* nothing to record in the book */
    net_peer_close(p, GS_OK, "connected to myself");
    return;
  }
  if (s->expect && s->nn->cands &&
      memcmp(net_peer_remote_key(p), s->expect_key, CRDT_KEY_LEN) == 0)
    for (size_t i = 0; i < DISCO_CANDS; i++)
      if (s->nn->cands[i].used && strcmp(s->nn->cands[i].addr, s->addr) == 0 &&
          memcmp(s->nn->cands[i].key, s->expect_key, CRDT_KEY_LEN) == 0)
        s->nn->cands[i].confirmed = true;
  if (s->expect &&
      memcmp(net_peer_remote_key(p), s->expect_key, CRDT_KEY_LEN) != 0) {
    /* a beacon points at an address; the handshake says who is there */
    s->outgoing = false; /* nothing to note in the book */
    fail_session(s, GS_EPERM, "the node there is not the one its LAN "
                              "beacon named");
    return;
  }
  node_policy *pol;
  if (node_policy_load(s->nn->n, &pol) == GS_OK) {
    bool revoked = node_policy_revoked(pol, net_peer_remote_key(p));
    node_policy_free(pol);
    if (revoked) {
      /* both ways: and an address of a revoked node is not dialled again */
      if (s->outgoing)
        node_peer_remove(s->nn->n, s->addr);
      s->outgoing = false; /* nothing to note in the book */
      fail_session(s, GS_EPERM, "this node was revoked");
      return;
    }
  }
  /* one key, or keys without a valid claim (made up at will by a holder
   * of the network key), cannot take the slots members need */
  size_t same_key = 0, nonmembers = 0;
  s->member = peer_is_member(s);
  for (session *o = s->nn->sessions; o; o = o->next) {
    if (o == s || !o->sync || !o->peer || net_peer_is_closing(o->peer))
      continue;
    same_key += memcmp(net_peer_remote_key(o->peer), net_peer_remote_key(p),
                       CRDT_KEY_LEN) == 0;
    nonmembers += !o->member;
  }
  if (same_key >= SESSIONS_PER_KEY ||
      (!s->member && nonmembers >= SESSIONS_NONMEMBER)) {
    s->outgoing = false; /* nothing to note in the book */
    fail_session(s, GS_EPERM, same_key >= SESSIONS_PER_KEY
                                  ? "already connected to this node"
                                  : "too many connections from non-members");
    return;
  }
  send_peers(s);
  key_text(net_peer_remote_key(p), who);
  logf_(s->nn, "connected %s %s (node %s)", s->outgoing ? _("to") : _("from"),
        s->outgoing ? s->addr : net_peer_addr(p), who);
  gs_err err = net_sync_new(s->nn->n->st, &io, &s->sync);
  if (!err)
    err = net_sync_start(s->sync);
  if (err)
    fail_session(s, err, "cannot start syncing");
}

static void recv_failed(session *s, gs_err err, const char *why)
{
  logf_(s->nn, "dropping %s: %s",
        s->outgoing ? s->addr : net_peer_addr(s->peer), why);
  if (s->nn->once) {
    s->nn->once_err = err;
    snprintf(s->nn->once_why, sizeof s->nn->once_why, "%s", why);
  }
  fail_session(s, err, why);
}

static void on_msg(net_peer *p, const uint8_t *m, size_t len)
{
  session *s = net_peer_data(p);
  char why[200];
  if (!s->sync)
    return;
  gs_err err = net_sync_on_msg(s->sync, m, len, why, sizeof why);
  if (err) {
    recv_failed(s, err, why);
    return;
  }
  check_once_done(s);
}

/* Group commit (issue 20): once a loop turn's reads are delivered, what
 * each session received is stored in one transaction (one fsync) and
 * only then acknowledged (net_sync_flush). */
static void on_flush(uv_check_t *h)
{
  netnode *nn = h->data;
  session *next;
  for (session *s = nn->sessions; s; s = next) {
    char why[200];
    next = s->next;
    if (!s->sync || !net_sync_pending(s->sync))
      continue;
    gs_err err = net_sync_flush(s->sync, why, sizeof why);
    if (err) {
      recv_failed(s, err, why);
      continue;
    }
    check_once_done(s);
  }
}

static void on_drain(net_peer *p)
{
  session *s = net_peer_data(p);
  if (s->sync) {
    gs_err err = net_sync_pump(s->sync);
    if (err)
      fail_session(s, err, "cannot read the store");
  }
}

static void on_close(net_peer *p, gs_err why, const char *reason)
{
  session *s = net_peer_data(p);
  netnode *nn = s->nn;
  bool opened = s->sync != NULL;
  if (s->expect && !opened && nn->cands)
    for (size_t i = 0; i < DISCO_CANDS; i++) {
      disco_cand *c = &nn->cands[i];
      if (c->used && memcmp(c->key, s->expect_key, CRDT_KEY_LEN) == 0 &&
          strcmp(c->addr, s->addr) != 0)
        c->tried = 0; /* heard at another address since: try that now */
      if (c->used && strcmp(c->addr, s->addr) == 0)
        c->confirmed = false;
    }
  if (s->outgoing)
    book_outcome_found(nn->n, s->addr, opened && (why == GS_OK || s->ok),
                       opened ? net_peer_remote_key(p) : NULL,
                       why == GS_OK ? "ok" : reason,
                       node_peer_kind_of(why, opened), s->found);
  if (why != GS_OK || !s->ok)
    logf_(nn, "closed %s: %s", s->outgoing ? s->addr : net_peer_addr(p),
          reason);
  if (nn->once && !nn->once_done && nn->once_err == GS_OK) {
    nn->once_err = why ? why : GS_ECLOSED;
    snprintf(nn->once_why, sizeof nn->once_why, "%s", reason);
  }
  if (nn->once && s->sync && !nn->once_done)
    nn->once_stats = *net_sync_get_stats(s->sync);
  for (session **pp = &nn->sessions; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  net_sync_free(s->sync);
  node_policy_free(s->pol);
  node_policy_cache_drop(&s->recv_pol);
  free(s);
  if (nn->once)
    uv_stop(nn->loop);
  maybe_free(nn);
}

static const net_peer_cbs session_cbs = {on_open, on_msg, on_drain,
                                         on_close};

static session *session_new(netnode *nn, const char *addr, bool outgoing)
{
  session *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->nn = nn;
  s->outgoing = outgoing;
  if (addr)
    snprintf(s->addr, sizeof s->addr, "%s", addr);
  s->next = nn->sessions;
  nn->sessions = s;
  return s;
}

static void session_unlink(netnode *nn, session *s)
{
  for (session **pp = &nn->sessions; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  free(s);
}

/* Connect to addr (ss), found how; key: the node expected there (a
 * beacon's), or NULL. */
static gs_err connect_found(netnode *nn, const char *addr,
                            const struct sockaddr_storage *ss,
                            node_peer_found how, const uint8_t *key)
{
  session *s = session_new(nn, addr, true);
  if (!s)
    return GS_ENOMEM;
  s->found = how;
  if (key) {
    s->expect = true;
    memcpy(s->expect_key, key, CRDT_KEY_LEN);
  }
  node__psk(nn->n, nn->id.psk); /* a rotation's grace may have ended */
  gs_err err = net_peer_connect(nn->loop, (const struct sockaddr *)ss,
                                &nn->id, &nn->opts, &session_cbs, s,
                                &s->peer);
  if (err)
    session_unlink(nn, s);
  return err;
}

static gs_err connect_addr(netnode *nn, const char *addr,
                           const struct sockaddr_storage *ss)
{
  return connect_found(nn, addr, ss, NODE_FOUND_TYPED, NULL);
}

/* A name being looked up (asynchronously: a slow resolver must not stall
 * the loop). */
typedef struct resolving {
  uv_getaddrinfo_t req;
  netnode *nn;
  char addr[STORE_ADDR_MAX + 1];
} resolving;

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res)
{
  resolving *r = container_of(req, resolving, req);
  netnode *nn = r->nn;
  gs_err err = status;
  nn->resolving--;
  if (status == 0 && !nn->stopping) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    err = connect_addr(nn, r->addr, &ss);
  } else if (status == 0) {
    err = GS_ECLOSED;
  }
  if (res)
    uv_freeaddrinfo(res);
  if (err) {
    /* libuv's lookup errors are outside gs_err's bands: say them here */
    const char *what = status ? uv_strerror(status) : gs_strerror(err);
    book_failed(nn->n, r->addr, status ? status : err, what);
    logf_(nn, "cannot connect to %s: %s", r->addr, what);
    if (nn->once && !nn->once_err) {
      nn->once_err = status ? GS_ENOTFOUND : err;
      snprintf(nn->once_why, sizeof nn->once_why, "cannot resolve %.120s: %s",
               r->addr, what);
      uv_stop(nn->loop);
    }
  }
  free(r);
}

static gs_err connect_to(netnode *nn, const char *addr)
{
  struct sockaddr_storage ss;
  char host[256], port[16];
  int kind = split_addr(addr, host, sizeof host, port, sizeof port, &ss);
  if (kind < 0)
    return kind;
  if (kind == 1)
    return connect_addr(nn, addr, &ss);
  resolving *r = calloc(1, sizeof *r);
  if (!r)
    return GS_ENOMEM;
  r->nn = nn;
  snprintf(r->addr, sizeof r->addr, "%s", addr);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  int rc = uv_getaddrinfo(nn->loop, &r->req, on_resolved, host, port,
                          &hints);
  if (rc) {
    free(r);
    return rc;
  }
  nn->resolving++;
  return GS_OK;
}

/* ---- loop plumbing ---- */

static void on_poll(uv_timer_t *t)
{
  netnode *nn = t->data;
  nn->last_look = uv_now(nn->loop);
  for (session *s = nn->sessions; s; s = s->next) {
    if (!s->sync || !net_peer_is_open(s->peer))
      continue;
    gs_err err = net_sync_poll(s->sync);
    if (err)
      fail_session(s, err, "cannot read the store");
  }
}

/* data.mdb changed: a commit (ours, or another process's, such as a
 * `gridsync put`) may hold changes for the live peers. Look now instead
 * of at the next tick: the poll stays as the fallback for filesystems
 * that do not report writes. Events of one loop turn end in one look. */
static void on_commit(uv_fs_event_t *h, const char *file, int events,
                      int status)
{
  netnode *nn = h->data;
  (void)file, (void)events;
  if (status != 0 || nn->stopping)
    return;
  /* our own commits (a sync receiving) fire too: at most one look per
   * SETTLE_MS, each making a plan over the version vector */
  if (uv_now(nn->loop) - nn->last_look >= SETTLE_MS)
    uv_timer_start(&nn->poll, on_poll, 0, POLL_MS);
  /* the first write of a commit (its pages) comes before the one that
   * makes it visible (the meta page, after an fsync), and a look between
   * them finds nothing; measured, the later event did not always follow
   * (1 put in 4 waited for the fallback poll), so look again shortly */
  uv_timer_start(&nn->settle, on_poll, SETTLE_MS, 0);
}

static void on_progress(uv_timer_t *t)
{
  netnode *nn = t->data;
  if (nn->progress_cb && nn->sessions && nn->sessions->sync)
    nn->progress_cb(nn->progress_ctx,
                    net_sync_get_stats(nn->sessions->sync));
}

static void on_handle_closed(uv_handle_t *h)
{
  netnode *nn = h->data;
  nn->handles--;
  maybe_free(nn);
}

static void on_disco_closed(void *ctx)
{
  netnode *nn = ctx;
  nn->handles--;
  maybe_free(nn);
}

static void close_all(netnode *nn)
{
  for (session *s = nn->sessions; s; s = s->next)
    net_peer_close(s->peer, GS_OK, "node stopping");
  uv_handle_t *hs[] = {(uv_handle_t *)&nn->poll, (uv_handle_t *)&nn->commits,
                       (uv_handle_t *)&nn->settle, (uv_handle_t *)&nn->gossip,
                       (uv_handle_t *)&nn->progress,
                       (uv_handle_t *)&nn->flush};
  nn->handles = 6;
  if (nn->listening) {
    nn->handles++;
    uv_close((uv_handle_t *)&nn->listener, on_handle_closed);
  }
  nn->listening = false;
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    uv_close(hs[i], on_handle_closed);
  if (nn->disco) {
    nn->handles++;
    net_disco_stop(nn->disco, on_disco_closed, nn);
    nn->disco = NULL;
  }
}

/* An embedded node is freed once stopping and everything is closed. */
static void maybe_free(netnode *nn)
{
  if (!nn->embedded || !nn->stopping || nn->handles > 0 || nn->sessions)
    return;
  net_identity_wipe(&nn->id);
  crdt_wipe(nn->keys, sizeof nn->keys);
  free(nn->cands);
  free(nn);
}

static uint64_t rnd(netnode *nn)
{
  nn->rng ^= nn->rng << 13;
  nn->rng ^= nn->rng >> 7;
  nn->rng ^= nn->rng << 17;
  return nn->rng;
}

typedef struct pick_ctx {
  netnode *nn;
  char chosen[STORE_ADDR_MAX + 1];
  uint64_t seen;
} pick_ctx;

static bool connected_to(netnode *nn, const char *addr)
{
  for (session *s = nn->sessions; s; s = s->next)
    if (s->outgoing && strcmp(s->addr, addr) == 0)
      return true;
  return false;
}

static int on_pick(void *ctx, const node_peer_info *p)
{
  pick_ctx *pc = ctx;
  if (connected_to(pc->nn, p->addr))
    return 0;
  if (p->failures > 3) {
    /* back off: try a failing peer once in 2^failures rounds */
    unsigned shift = p->failures > 10 ? 10 : p->failures;
    if (rnd(pc->nn) % (1u << shift) != 0)
      return 0;
  }
  /* reservoir sampling: each candidate equally likely */
  if (rnd(pc->nn) % ++pc->seen == 0)
    snprintf(pc->chosen, sizeof pc->chosen, "%s", p->addr);
  return 0;
}

static void gossip_once(netnode *nn)
{
  size_t out = 0;
  for (session *s = nn->sessions; s; s = s->next)
    out += s->outgoing;
  size_t want = nn->sopts->max_outgoing ? nn->sopts->max_outgoing : 3;
  pick_ctx pc = {.nn = nn};
  node_peers(nn->n, on_pick, &pc);
  if (!pc.chosen[0])
    return; /* connected to everyone we know (or all back off) */
  if (out >= want) {
    /* all slots taken: retire one caught-up connection at random, so
     * that over time this node meets every peer it knows */
    session *pick = NULL;
    size_t seen = 0;
    for (session *s = nn->sessions; s; s = s->next)
      if (s->outgoing && s->sync && net_sync_caught_up(s->sync) &&
          rnd(nn) % ++seen == 0)
        pick = s;
    if (!pick)
      return;
    net_peer_close(pick->peer, GS_OK, "rotating to another peer");
  }
  gs_err err = connect_to(nn, pc.chosen);
  if (err) {
    book_failed(nn->n, pc.chosen, err, gs_strerror(err));
    logf_(nn, "cannot connect to %s: %s", pc.chosen, gs_strerror(err));
  }
}

/* Held changes wait for this node's clock (or memberships): look again
 * now and then. */
static void recheck_held(netnode *nn)
{
  size_t applied = 0;
  gs_err err = node_held_recheck(nn->n, &applied);
  if (err)
    logf_(nn, "cannot re-check held changes: %s", gs_strerror(err));
  else if (applied)
    logf_(nn, "applied %zu held changes (their time has come)", applied);
}

static void on_gossip(uv_timer_t *t)
{
  netnode *nn = t->data;
  if (nn->stopping)
    return;
  recheck_held(nn);
  disco_log(nn);
  gossip_once(nn);
  /* and tell connected peers what we learnt since */
  for (session *s = nn->sessions; s; s = s->next)
    if (s->sync && net_peer_is_open(s->peer))
      send_peers(s);
  uint64_t base = nn->sopts->gossip_ms ? nn->sopts->gossip_ms : 30000;
  uv_timer_start(&nn->gossip, on_gossip, base / 2 + rnd(nn) % (base + 1), 0);
}

/* The host part of "host:port" ("[v6]:port"): its length. */
static size_t host_len(const char *addr)
{
  const char *colon = strrchr(addr, ':');
  return colon ? (size_t)(colon - addr) : strlen(addr);
}

static bool same_host(const char *a, const char *b)
{
  size_t n = host_len(a);
  return n == host_len(b) && strncmp(a, b, n) == 0;
}

typedef struct known_ctx {
  const char *addr;
  bool known;
} known_ctx;

static int on_known(void *ctx, const node_peer_info *p)
{
  known_ctx *k = ctx;
  if (p->key && p->last_ok_ms && same_host(p->addr, k->addr)) {
    k->known = true;
    return 1;
  }
  return 0;
}

/* A host a session with a node key once succeeded with (a member). */
static bool host_known(netnode *nn, const char *addr)
{
  known_ctx k = {addr, false};
  node_peers(nn->n, on_known, &k);
  return k.known;
}

static void on_conn(uv_stream_t *server, int status)
{
  netnode *nn = server->data;
  if (status < 0 || nn->stopping)
    return;
  session *s = session_new(nn, NULL, false);
  if (!s)
    return;
  node__psk(nn->n, nn->id.psk); /* a rotation's grace may have ended */
  gs_err err = net_peer_accept(server, &nn->id, &nn->opts, &session_cbs, s,
                               &s->peer);
  if (err) {
    session_unlink(nn, s);
    return;
  }
  s->since = uv_now(nn->loop);
  const char *me = net_peer_addr(s->peer);
  /* sessions already being closed (refused a moment ago, in the same burst
   * of accepts) hold no slot: counting them let a burst of stalled
   * connections crowd out a member arriving right behind them */
  size_t count = 0, pending = 0, host_pending = 0, host_open = 0;
  for (session *o = nn->sessions; o; o = o->next) {
    if (o == s || (o->peer && net_peer_is_closing(o->peer)))
      continue;
    count++;
    bool hs = !o->outgoing && !o->sync; /* still in the handshake */
    pending += hs;
    if (!o->outgoing && o->peer && same_host(net_peer_addr(o->peer), me)) {
      host_pending += hs;
      host_open += !hs;
    }
  }
  size_t max = nn->sopts->max_conns ? nn->sopts->max_conns : 64;
  if (count >= max || host_open >= SESSIONS_PER_HOST) {
    net_peer_close(s->peer, GS_EPERM, "too many connections");
    return;
  }
  if (host_pending >= PENDING_PER_HOST) {
    /* this address holds its share of handshakes: the newcomer takes the
     * place of its oldest one that has waited PENDING_GRACE_MS without a
     * valid first message (an honest initiator sends it at once; one that
     * has is never put out), or, if none has, comes in alongside, up to
     * PENDING_PER_HOST_MAX. Deciding when the connection is accepted, its
     * first message not read yet, a newcomer cannot tell a stalled
     * handshake from a member's; the grace keeps a member that shares the
     * address (a NAT) in long enough to be told apart */
    uint64_t now = uv_now(nn->loop);
    session *oldest = NULL;
    for (session *o = nn->sessions; o; o = o->next)
      if (o != s && !o->outgoing && !o->sync && o->peer &&
          !net_peer_is_closing(o->peer) && !net_peer_answered(o->peer) &&
          same_host(net_peer_addr(o->peer), me) &&
          (!oldest || o->since < oldest->since))
        oldest = o;
    bool full = host_pending >= PENDING_PER_HOST_MAX;
    if (oldest && (full || now - oldest->since >= PENDING_GRACE_MS)) {
      /* at the most an address may hold, the oldest gives way whatever
       * its age: a member there lasts PENDING_PER_HOST_MAX - 1 newcomers */
      net_peer_close(oldest->peer, GS_EPERM,
                     "handshake slot given to a newer one of its address");
      return; /* one for one: the totals stay */
    }
    if (full) {
      net_peer_close(s->peer, GS_EPERM, "too many connections");
      return;
    }
  }
  if (pending < PENDING_MAX || host_known(nn, me))
    return; /* a known member's host gets a handshake slot of its own */
  /* handshake slots are shared: the newcomer takes the slot of the oldest
   * handshake of the address holding the most, so that a few addresses
   * stalling handshakes cannot starve everyone else */
  session *victim = NULL;
  size_t most = 0;
  for (session *o = nn->sessions; o; o = o->next) {
    if (o == s || o->outgoing || o->sync || !o->peer ||
        net_peer_is_closing(o->peer))
      continue;
    size_t k = 0;
    for (session *p = nn->sessions; p; p = p->next)
      if (p != s && !p->outgoing && !p->sync && p->peer &&
          !net_peer_is_closing(p->peer) &&
          same_host(net_peer_addr(p->peer), net_peer_addr(o->peer)))
        k++;
    if (k > most || (k == most && victim && o->since < victim->since)) {
      most = k;
      victim = o;
    }
  }
  if (victim && most > host_pending + 1)
    net_peer_close(victim->peer, GS_EPERM, "handshake slot given to another");
  else
    net_peer_close(s->peer, GS_EPERM, "too many connections");
}

/* Set nn up on loop (NULL: a loop of its own, for a blocking call). */
static gs_err netnode_init(netnode *nn, node *n, uv_loop_t *loop)
{
  memset(nn, 0, sizeof *nn);
  nn->n = n;
  /* a peer that hangs up must give EPIPE, not kill the node */
  signal(SIGPIPE, SIG_IGN);
  if (!n->has_net)
    return GS_ENOTFOUND;
  /* the network key in use now (rotations: node__psk, network.c) */
  uint8_t psk[NODE_NET_KEY_LEN];
  gs_err err = node__psk(n, psk);
  if (!err)
    err = net_identity_init(&nn->id, n->sk, psk);
  crdt_wipe(psk, sizeof psk);
  if (err)
    return err;
  nn->opts = (net_peer_opts){.handshake_ms = 5000,
                             .idle_ms = 90000,
                             .keepalive_ms = 30000,
                             .high_water = PEER_HIGH_WATER,
                             .hard_limit = PEER_HARD_LIMIT};
  crdt_random(&nn->rng, sizeof nn->rng);
  nn->rng |= 1;
  if (loop) {
    nn->loop = loop;
    nn->embedded = true;
  } else if ((err = uv_loop_init(&nn->own)) != 0) {
    net_identity_wipe(&nn->id);
    return err;
  } else {
    nn->loop = &nn->own;
  }
  uv_timer_init(nn->loop, &nn->poll);
  uv_timer_init(nn->loop, &nn->gossip);
  uv_timer_init(nn->loop, &nn->progress);
  nn->poll.data = nn->gossip.data = nn->progress.data = nn;
  nn->listener.data = nn;
  uv_timer_start(&nn->poll, on_poll, POLL_MS, POLL_MS);
  uv_check_init(nn->loop, &nn->flush);
  nn->flush.data = nn;
  uv_check_start(&nn->flush, on_flush);
  uv_unref((uv_handle_t *)&nn->flush); /* it alone keeps no loop running */
  uv_fs_event_init(nn->loop, &nn->commits);
  uv_timer_init(nn->loop, &nn->settle);
  nn->commits.data = nn->settle.data = nn;
  char path[4200];
  if (node__path_join(path, sizeof path, n->dir, "data.mdb") == GS_OK)
    uv_fs_event_start(&nn->commits, on_commit, path, 0); /* else: polls */
  return GS_OK;
}

/* End a blocking call's node: close everything, run the loop until the
 * close callbacks have run, close the loop. */
static gs_err netnode_fini(netnode *nn)
{
  if (!nn->stopping) {
    nn->stopping = true;
    close_all(nn);
  }
  uv_run(nn->loop, UV_RUN_DEFAULT); /* let every close callback run */
  int rc = uv_loop_close(nn->loop);
  net_identity_wipe(&nn->id);
  crdt_wipe(nn->keys, sizeof nn->keys);
  free(nn->cands);
  nn->cands = NULL;
  return rc == 0 ? GS_OK : rc;
}

static gs_err sync_round(node *n, const char *addr, node_peer_found how,
                         const uint8_t *key, node_progress_cb cb,
                         void *ctx, net_sync_stats *stats, char *why,
                         size_t whylen)
{
  netnode nn;
  gs_err err = netnode_init(&nn, n, NULL);
  if (whylen)
    why[0] = '\0';
  memset(stats, 0, sizeof *stats);
  if (err)
    return err;
  static const node_serve_opts none = {0};
  nn.sopts = &none;
  nn.once = true;
  nn.progress_cb = cb;
  nn.progress_ctx = ctx;
  if (cb)
    uv_timer_start(&nn.progress, on_progress, PROGRESS_MS, PROGRESS_MS);
  struct sockaddr_storage ss;
  char host[256], port[16];
  if (how == NODE_FOUND_LAN)
    err = split_addr(addr, host, sizeof host, port, sizeof port, &ss) == 1
              ? connect_found(&nn, addr, &ss, how, key)
              : GS_EINVAL;
  else
    err = connect_to(&nn, addr);
  if (err) {
    snprintf(why, whylen, "cannot connect: %s", gs_strerror(err));
    book_outcome_found(n, addr, false, NULL, why,
                       node_peer_kind_of(err, false), how);
  } else {
    uv_run(nn.loop, UV_RUN_DEFAULT); /* until the session closes */
    err = nn.once_done ? GS_OK : nn.once_err ? nn.once_err : GS_ECLOSED;
    if (err)
      snprintf(why, whylen, "%s", nn.once_why);
  }
  *stats = nn.once_stats;
  gs_err fe = netnode_fini(&nn);
  return err ? err : fe;
}

static gs_err sync_once_found(node *n, const char *addr, node_peer_found how,
                              const uint8_t *key, node_progress_cb cb,
                              void *ctx, net_sync_stats *stats, char *why,
                              size_t whylen)
{
  /* A peer decides what to send from the memberships it knows when the
   * round starts: when a round carried membership changes (a new
   * member's claim, say) or held some, a second round delivers what they
   * made visible. Other changes change nothing of that: no second
   * handshake for them (issue 20: one edit's bytes). */
  net_sync_stats r1, r2;
  node_held_recheck(n, NULL); /* the clock may have caught up since */
  gs_err err = sync_round(n, addr, how, key, cb, ctx, &r1, why, whylen);
  *stats = r1;
  if (err || (r1.net_changes == 0 && r1.held == 0))
    return err;
  err = sync_round(n, addr, how, key, cb, ctx, &r2, why, whylen);
  stats->sent_changes += r2.sent_changes;
  stats->sent_bytes += r2.sent_bytes;
  stats->recv_changes += r2.recv_changes;
  stats->recv_bytes += r2.recv_bytes;
  stats->recv_dups += r2.recv_dups;
  stats->refused += r2.refused;
  stats->msgs_in += r2.msgs_in;
  stats->msgs_out += r2.msgs_out;
  return err;
}

gs_err node_sync_once(node *n, const char *addr, node_progress_cb cb,
                      void *ctx, net_sync_stats *stats, char *why,
                      size_t whylen)
{
  return sync_once_found(n, addr, NODE_FOUND_TYPED, NULL, cb, ctx, stats,
                         why, whylen);
}

/* ---- LAN discovery (net/disco.h) ---- */

bool node_discovery_on(node *n)
{
  char v[8];
  size_t len = 0;
  if (store_meta_get(n->st, DISCO_META, v, sizeof v - 1, &len) != GS_OK)
    return true;
  return !(len == 3 && memcmp(v, "off", 3) == 0);
}

gs_err node_discovery_set(node *n, bool on)
{
  return store_meta_put(n->st, DISCO_META, on ? "on" : "off", on ? 2 : 3);
}

/* The network keys beacons are sealed and opened with: the one in use
 * first, then the newest (nodes past a rotation's grace) and the one
 * before (nodes not yet). Read again when the store has changed. */
static size_t disco_keys(void *ctx, uint8_t (*keys)[32], size_t max)
{
  netnode *nn = ctx;
  uint64_t v = 0;
  if (node_version(nn->n, &v) == GS_OK && (v != nn->keys_version || !nn->nkeys)) {
    uint8_t (*ring)[NODE_NET_KEY_LEN] = malloc(65 * NODE_NET_KEY_LEN);
    size_t nk = 0, cur = 0;
    if (ring && node__keyring(nn->n, ring, 65, &nk, &cur) == GS_OK && nk) {
      size_t pick[3] = {cur, nk - 1, cur ? cur - 1 : cur}, n = 0;
      for (size_t i = 0; i < 3 && n < NET_DISCO_KEYS_MAX; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
          dup |= pick[j] == pick[i];
        if (!dup)
          memcpy(nn->keys[n++], ring[pick[i]], 32);
      }
      nn->nkeys = n;
      nn->keys_version = v;
    } else if (!nn->nkeys) {
      node__psk(nn->n, nn->keys[0]);
      nn->nkeys = 1;
    }
    if (ring) {
      crdt_wipe(ring, 65 * NODE_NET_KEY_LEN);
      free(ring);
    }
  }
  size_t n = nn->nkeys < max ? nn->nkeys : max;
  memcpy(keys, nn->keys, n * 32);
  return n;
}

static uint64_t disco_now(void *ctx)
{
  netnode *nn = ctx;
  return node_now(nn->n);
}

/* "host:port" of a beacon's source and port; a link-local IPv6 address
 * names its interface ("[fe80::1%eth0]:7070"). false if unusable. */
static bool beacon_addr(const struct sockaddr *from, uint16_t port,
                        char *out, size_t cap, bool *v4)
{
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  *v4 = from->sa_family == AF_INET;
  if (*v4) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)from;
    if (uv_ip4_name(a, host, sizeof host) != 0)
      return false;
    return snprintf(out, cap, "%s:%u", host, port) < (int)cap;
  }
  if (from->sa_family != AF_INET6)
    return false;
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
  if (uv_ip6_name(a, host, INET6_ADDRSTRLEN) != 0)
    return false;
  if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr)) {
    char ifn[IF_NAMESIZE];
#ifdef _WIN32 /* Windows' zone is the index (as uv_ip6_addr reads it) */
    if (!a->sin6_scope_id)
      return false;
    snprintf(ifn, sizeof ifn, "%lu", (unsigned long)a->sin6_scope_id);
#else
    if (!a->sin6_scope_id || !if_indextoname(a->sin6_scope_id, ifn))
      return false;
#endif
    size_t hl = strlen(host);
    snprintf(host + hl, sizeof host - hl, "%%%s", ifn);
  }
  return snprintf(out, cap, "[%s]:%u", host, port) < (int)cap;
}

/* The candidate for key (updated with addr), or a new one in place of
 * the one heard longest ago. */
static disco_cand *cand_note(disco_cand *cands, const uint8_t *key,
                             const char *addr, bool v4, uint64_t now)
{
  disco_cand *c = NULL, *old = &cands[0];
  for (size_t i = 0; i < DISCO_CANDS; i++) {
    if (cands[i].used && memcmp(cands[i].key, key, CRDT_KEY_LEN) == 0) {
      c = &cands[i];
      break;
    }
    if (!cands[i].used || (old->used && cands[i].seen < old->seen))
      old = &cands[i];
  }
  if (!c) {
    c = old;
    memset(c, 0, sizeof *c);
    c->used = true;
    memcpy(c->key, key, CRDT_KEY_LEN);
  } else if (strcmp(c->addr, addr) != 0 &&
             ((c->v4 && !v4) || c->confirmed) &&
             now - c->seen < DISCO_PREFER4_MS) {
    /* keep an IPv4 address (no interface to name), and one where the
     * node was met: a beacon replayed from elsewhere cannot move it */
    return c;
  }
  snprintf(c->addr, sizeof c->addr, "%s", addr);
  c->v4 = v4;
  c->seen = now;
  return c;
}

/* A session with key, or one under way to addr or expecting key. */
static bool busy_with(netnode *nn, const uint8_t *key, const char *addr)
{
  for (session *s = nn->sessions; s; s = s->next) {
    if (s->peer && net_peer_is_closing(s->peer))
      continue;
    if ((s->sync &&
         memcmp(net_peer_remote_key(s->peer), key, CRDT_KEY_LEN) == 0) ||
        (s->expect && memcmp(s->expect_key, key, CRDT_KEY_LEN) == 0) ||
        (s->outgoing && strcmp(s->addr, addr) == 0))
      return true;
  }
  return false;
}

/* A beacon of the network: connect to its node unless a session with it
 * is open or under way, at most once per DISCO_RETRY_MS, with the limits
 * of any peer (a node not known as a member only while outgoing slots
 * are free; the handshake and its claim decide the rest). */
static void on_beacon(void *ctx, const net_disco_beacon *b,
                      const struct sockaddr *from)
{
  netnode *nn = ctx;
  char addr[STORE_ADDR_MAX + 1], who[16];
  bool v4;
  if (nn->stopping || !beacon_addr(from, b->port, addr, sizeof addr, &v4))
    return;
  uint64_t now = uv_now(nn->loop);
  disco_cand *c = cand_note(nn->cands, b->node, addr, v4, now);
  if (busy_with(nn, b->node, c->addr) ||
      (c->tried && now - c->tried < DISCO_RETRY_MS))
    return;
  node_policy *pol;
  bool member = false;
  if (node_policy_load(nn->n, &pol) == GS_OK) {
    bool revoked = node_policy_revoked(pol, b->node);
    member = node_policy_member(pol, b->node);
    node_policy_free(pol);
    if (revoked)
      return;
  }
  size_t out = 0;
  for (session *s = nn->sessions; s; s = s->next)
    out += s->outgoing && !(s->peer && net_peer_is_closing(s->peer));
  size_t want = nn->sopts->max_outgoing ? nn->sopts->max_outgoing : 3;
  if (!member && out >= want)
    return;
  c->tried = now;
  struct sockaddr_storage ss;
  char host[256], port[16];
  if (split_addr(c->addr, host, sizeof host, port, sizeof port, &ss) != 1)
    return;
  key_text(b->node, who);
  logf_(nn, _("found node %s on the LAN at %s: connecting"), who, c->addr);
  gs_err err = connect_found(nn, c->addr, &ss, NODE_FOUND_LAN, b->node);
  if (err)
    logf_(nn, "cannot connect to %s: %s", c->addr, gs_strerror(err));
}

/* An authentic beacon whose time is far from ours: one of the two clocks
 * is wrong (a dead CMOS battery). Said at most once a minute. */
static void on_stale(void *ctx, const net_disco_beacon *b,
                     const struct sockaddr *from)
{
  netnode *nn = ctx;
  char addr[STORE_ADDR_MAX + 1], who[16];
  bool v4;
  uint64_t now = uv_now(nn->loop);
  if ((nn->stale_logged && now - nn->stale_logged < 60000) ||
      !beacon_addr(from, b->port, addr, sizeof addr, &v4))
    return;
  nn->stale_logged = now;
  uint64_t mine = node_now(nn->n);
  uint64_t off = b->ms > mine ? b->ms - mine : mine - b->ms;
  key_text(b->node, who);
  logf_(nn, _("the LAN beacon of node %s at %s was refused: its clock and "
              "this computer's differ by %" PRIu64 " minutes (set the right "
              "date and time on the wrong one)"),
        who, addr, off / 60000);
}

/* Say what discovery refused since the last time, if anything (a flood
 * of forged beacons shows here). */
static void disco_log(netnode *nn)
{
  if (!nn->disco)
    return;
  const net_disco_stats *st = net_disco_get_stats(nn->disco);
  net_disco_stats *o = &nn->disco_logged;
  uint64_t refused = (st->bad_size - o->bad_size) + (st->rate - o->rate) +
                     (st->budget - o->budget) + (st->auth - o->auth) +
                     (st->stale - o->stale) + (st->replay - o->replay);
  if (refused)
    logf_(nn, _("LAN beacons: %" PRIu64 " accepted, %" PRIu64
                " refused (%" PRIu64 " of a wrong size, %" PRIu64
                " over a sender's rate, %" PRIu64 " over the budget, %" PRIu64
                " not of this network, %" PRIu64 " stale, %" PRIu64
                " replayed)"),
          st->heard - o->heard, refused, st->bad_size - o->bad_size,
          st->rate - o->rate, st->budget - o->budget, st->auth - o->auth,
          st->stale - o->stale, st->replay - o->replay);
  *o = *st;
}

/* Is host (a listening address) one the LAN can reach? A node that
 * listens on loopback only has nothing to announce. */
static bool lan_reachable(const char *host)
{
  return strncmp(host, "127.", 4) != 0 && strcmp(host, "::1") != 0;
}

static void disco_start(netnode *nn, const node_serve_opts *o)
{
  if (o->no_discovery || !node_discovery_on(nn->n)) {
    logf_(nn, _("LAN discovery is off"));
    return;
  }
  if (!lan_reachable(nn->listen_host)) {
    logf_(nn, _("LAN discovery is off: listening on loopback only"));
    return;
  }
  nn->cands = calloc(DISCO_CANDS, sizeof *nn->cands);
  if (!nn->cands)
    return;
  net_disco_opts d = {.port = o->discovery_port,
                      .announce = true,
                      .tcp_port = (uint16_t)nn->listen_port,
                      .now = disco_now,
                      .keys = disco_keys,
                      .on_beacon = on_beacon,
                      .on_stale = on_stale,
                      .ctx = nn};
  memcpy(d.node, nn->id.sign_pk, CRDT_KEY_LEN);
  gs_err err = net_disco_start(nn->loop, &d, &nn->disco);
  if (err)
    logf_(nn, _("LAN discovery cannot start (UDP port %u): %s"),
          o->discovery_port ? o->discovery_port : NET_DISCO_PORT,
          gs_strerror(err));
  else
    logf_(nn, _("LAN discovery on: announcing and listening on UDP port %u"),
          o->discovery_port ? o->discovery_port : NET_DISCO_PORT);
}

gs_err node_server_start(node *n, uv_loop_t *loop, const node_serve_opts *o,
                         node_server **out)
{
  struct sockaddr_storage ss;
  *out = NULL;
  netnode *nn = malloc(sizeof *nn);
  if (!nn)
    return GS_ENOMEM;
  gs_err err = netnode_init(nn, n, loop);
  if (err) {
    free(nn);
    return err;
  }
  nn->sopts = o;
  nn->log = o->log;
  for (size_t i = 0; i < o->npeers; i++) {
    err = node_peer_add(n, o->peers[i]);
    if (err && err != GS_EEXIST)
      goto fail;
  }
  if ((err = node_parse_addr(o->listen ? o->listen : "0.0.0.0:7070", &ss)) ||
      (err = uv_tcp_init(nn->loop, &nn->listener)))
    goto fail;
  nn->listener.data = nn;
  nn->listening = true;
  if ((err = uv_tcp_bind(&nn->listener, (const struct sockaddr *)&ss, 0)) ||
      (err = uv_listen((uv_stream_t *)&nn->listener, 64, on_conn)))
    goto fail;
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  char host[64] = "?";
  int port = 0;
  uv_tcp_getsockname(&nn->listener, (struct sockaddr *)&bound, &blen);
  if (bound.ss_family == AF_INET) {
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  } else {
    uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  nn->listen_port = port;
  snprintf(nn->listen_host, sizeof nn->listen_host, "%s", host);
  if (o->on_listen)
    o->on_listen(o->ctx, host, port);
  logf_(nn, "serving on %s:%d", host, port);
  disco_start(nn, o);
  recheck_held(nn);
  gossip_once(nn); /* meet a configured peer at once */
  uint64_t base = o->gossip_ms ? o->gossip_ms : 30000;
  uv_timer_start(&nn->gossip, on_gossip, base / 2 + rnd(nn) % (base + 1), 0);
  *out = nn;
  return GS_OK;
fail:
  logf_(nn, "cannot serve: %s", gs_strerror(err));
  node_server_stop(nn);
  return err;
}

void node_server_stop(node_server *nn)
{
  if (!nn || nn->stopping)
    return;
  nn->stopping = true;
  logf_(nn, "stopping");
  close_all(nn);
  maybe_free(nn); /* frees at once when nothing was open */
}

/* ---- sync with every peer ---- */

#define SYNC_ALL_MAX 32 /* book entries tried by one `sync` */

static void on_heard(void *ctx, const net_disco_beacon *b,
                     const struct sockaddr *from)
{
  netnode *nn = ctx;
  char addr[STORE_ADDR_MAX + 1];
  bool v4;
  node_policy *pol;
  if (!beacon_addr(from, b->port, addr, sizeof addr, &v4))
    return;
  if (node_policy_load(nn->n, &pol) == GS_OK) {
    bool revoked = node_policy_revoked(pol, b->node);
    node_policy_free(pol);
    if (revoked)
      return;
  }
  cand_note(nn->cands, b->node, addr, v4, uv_now(nn->loop));
}

static void on_listened(uv_timer_t *t)
{
  uv_stop(t->loop);
}

/* Listen for beacons for ms into cands (DISCO_CANDS); how many heard. */
static size_t disco_listen(node *n, uint64_t ms, uint16_t port,
                           disco_cand *cands)
{
  netnode nn;
  size_t heard = 0;
  if (netnode_init(&nn, n, NULL) != GS_OK)
    return 0;
  nn.cands = calloc(DISCO_CANDS, sizeof *nn.cands);
  net_disco_opts d = {.port = port,
                      .announce = false,
                      .now = disco_now,
                      .keys = disco_keys,
                      .on_beacon = on_heard,
                      .ctx = &nn};
  memcpy(d.node, nn.id.sign_pk, CRDT_KEY_LEN);
  if (nn.cands && net_disco_start(nn.loop, &d, &nn.disco) == GS_OK) {
    uv_timer_start(&nn.progress, on_listened, ms, 0);
    uv_run(nn.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < DISCO_CANDS; i++)
      if (nn.cands[i].used)
        cands[heard++] = nn.cands[i];
  }
  netnode_fini(&nn);
  return heard;
}

typedef struct known_list {
  node_peer_info info[SYNC_ALL_MAX];
  char addr[SYNC_ALL_MAX][STORE_ADDR_MAX + 1];
  uint8_t key[SYNC_ALL_MAX][CRDT_KEY_LEN];
  bool has_key[SYNC_ALL_MAX];
  size_t n;
} known_list;

/* Keep the SYNC_ALL_MAX entries that worked most recently (never: last). */
static int on_known_all(void *ctx, const node_peer_info *p)
{
  known_list *k = ctx;
  size_t at = k->n;
  if (k->n == SYNC_ALL_MAX) {
    size_t worst = 0;
    for (size_t i = 1; i < k->n; i++)
      if (k->info[i].last_ok_ms < k->info[worst].last_ok_ms)
        worst = i;
    if (k->info[worst].last_ok_ms >= p->last_ok_ms)
      return 0;
    at = worst;
  } else {
    k->n++;
  }
  k->info[at] = *p;
  snprintf(k->addr[at], sizeof k->addr[at], "%s", p->addr);
  k->info[at].addr = k->addr[at];
  k->info[at].note = "";
  k->has_key[at] = p->key != NULL;
  if (p->key)
    memcpy(k->key[at], p->key, CRDT_KEY_LEN);
  k->info[at].key = NULL;
  return 0;
}

static int by_last_ok(const void *a, const void *b)
{
  const node_peer_info *x = a, *y = b;
  return x->last_ok_ms < y->last_ok_ms ? 1 : x->last_ok_ms > y->last_ok_ms ? -1 : 0;
}

static bool met(const uint8_t (*keys)[CRDT_KEY_LEN], size_t n,
                const uint8_t *key)
{
  for (size_t i = 0; i < n; i++)
    if (memcmp(keys[i], key, CRDT_KEY_LEN) == 0)
      return true;
  return false;
}

gs_err node_sync_all(node *n, uint64_t listen_ms, uint16_t disco_port,
                     node_sync_each_cb cb, void *ctx, size_t *tried)
{
  *tried = 0;
  if (!n->has_net)
    return GS_ENOTFOUND;
  disco_cand *cands = calloc(DISCO_CANDS, sizeof *cands);
  known_list *k = calloc(1, sizeof *k);
  uint8_t (*keys)[CRDT_KEY_LEN] = calloc(DISCO_CANDS + SYNC_ALL_MAX,
                                         CRDT_KEY_LEN);
  size_t nmet = 0, heard = 0;
  gs_err err = GS_ENOMEM;
  if (!cands || !k || !keys)
    goto out;
  if (listen_ms && node_discovery_on(n))
    heard = disco_listen(n, listen_ms, disco_port, cands);
  err = node_peers(n, on_known_all, k);
  if (err)
    goto out;
  typedef struct idx_entry {
    node_peer_info info;
    size_t i;
  } idx_entry;
  idx_entry order[SYNC_ALL_MAX];
  for (size_t i = 0; i < k->n; i++)
    order[i] = (idx_entry){k->info[i], i};
  qsort(order, k->n, sizeof order[0], by_last_ok);
  char why[200];
  net_sync_stats st;
  book_entry e;
  /* first those heard now (fresh addresses), then the book's */
  for (size_t c = 0; c < heard + k->n; c++) {
    node_sync_result r = {.stats = &st, .why = why};
    uint8_t key[CRDT_KEY_LEN];
    const uint8_t *expect = NULL;
    if (c < heard) {
      if (met((const uint8_t(*)[CRDT_KEY_LEN])keys, nmet, cands[c].key))
        continue;
      r.addr = cands[c].addr;
      r.found = NODE_FOUND_LAN;
      expect = cands[c].key;
    } else {
      size_t i = order[c - heard].i;
      if (k->has_key[i] &&
          met((const uint8_t(*)[CRDT_KEY_LEN])keys, nmet, k->key[i]))
        continue; /* met at another address already */
      bool dup = false;
      for (size_t j = 0; j < heard; j++)
        dup |= strcmp(cands[j].addr, k->addr[i]) == 0;
      if (dup)
        continue;
      r.addr = k->addr[i];
      r.found = k->info[i].found;
    }
    memset(&st, 0, sizeof st);
    why[0] = '\0';
    double t0 = (double)uv_hrtime() / 1e9;
    (*tried)++;
    r.err = sync_once_found(n, r.addr, r.found, expect, NULL, NULL, &st, why,
                            sizeof why);
    r.seconds = (double)uv_hrtime() / 1e9 - t0;
    if (node__book_get(n, r.addr, &e) == GS_OK && e.has_key && !r.err) {
      memcpy(key, e.key, CRDT_KEY_LEN);
      r.key = key;
      if (nmet < DISCO_CANDS + SYNC_ALL_MAX)
        memcpy(keys[nmet++], key, CRDT_KEY_LEN);
    }
    cb(ctx, &r);
  }
  err = GS_OK;
out:
  free(cands);
  free(k);
  free(keys);
  return err;
}
/* ---- sync now, for the web app (issue 17) ---- */

typedef struct now_ctx {
  netnode *nn;
  size_t started, connected;
} now_ctx;

static int on_sync_now(void *ctx, const node_peer_info *p)
{
  now_ctx *c = ctx;
  if (connected_to(c->nn, p->addr)) {
    c->connected++;
    return 0;
  }
  gs_err err = connect_to(c->nn, p->addr);
  if (err) {
    book_failed(c->nn->n, p->addr, err, gs_strerror(err));
    logf_(c->nn, "cannot connect to %s: %s", p->addr, gs_strerror(err));
  } else {
    c->started++;
  }
  return 0;
}

gs_err node_server_sync_now(node_server *nn, size_t *started,
                            size_t *connected)
{
  if (!nn || nn->stopping)
    return GS_ECLOSED;
  now_ctx c = {.nn = nn};
  gs_err err = node_peers(nn->n, on_sync_now, &c);
  /* the live sessions look at the store now, not at the next tick */
  uv_timer_start(&nn->poll, on_poll, 0, POLL_MS);
  if (started)
    *started = c.started;
  if (connected)
    *connected = c.connected;
  return err;
}

bool node_server_connected(node_server *nn, const char *addr)
{
  if (!nn || nn->stopping)
    return false;
  for (session *s = nn->sessions; s; s = s->next)
    if (s->outgoing && strcmp(s->addr, addr) == 0 && s->sync &&
        net_peer_is_open(s->peer))
      return true;
  return false;
}
