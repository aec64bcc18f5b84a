/*
 * The web app's HTTP server (web/web.h): libmicrohttpd in external-poll
 * mode on the caller's libuv loop. MHD's epoll descriptor is watched by a
 * uv_poll and its timeout kept by a uv_timer; every request is checked
 * (method, Host, CSRF token and origin for writes, size) before the API
 * (web/api.c) or an embedded file answers it. Event streams (SSE) are
 * connections suspended while there is nothing to say and resumed when
 * the node's state changes.
 */
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "crdt/gs_i18n.h"
#include "node/node.h"
#include "web/web.h"
#include "web/web_internal.h"
#include "node/member.h"
#include "node/netnode.h"
#include "net/box.h"

#define LOOK_MS 1000       /* a look for changes at least this often */
#define SETTLE_MS 15       /* ... and this long after data.mdb is written */
#define PING_MS 15000      /* a comment on idle event streams */
#define ARGS_MAX 64
#define CONN_MAX 64
#define CONN_PER_IP 32
#define CONN_TIMEOUT_S 60
#define CONN_MEMORY (64 * 1024) /* headers and buffers of one connection */
#define HOSTS_MAX 16
#define SESS_MAX 32        /* sessions kept; the oldest goes first */
#define SESS_IDLE_MS (12ull * 3600 * 1000)
#ifdef _WIN32
/* Windows has no epoll: MHD runs in its select mode when its listening
 * socket is readable, and every WEB_RUN_MS while it has connections (their
 * sockets are not watched one by one). */
#define WEB_MHD_POLL 0
#define WEB_RUN_MS 10
#else
#define WEB_MHD_POLL MHD_USE_EPOLL
#endif
#define LOGIN_DELAY_MAX_MS 30000ull
#define PASSWORD_MAX 1024  /* bytes of a password a login may send */
#define LOGIN_ADDRS_MAX 64 /* client addresses whose wrong logins count */

typedef struct sse_client sse_client;

struct web_server {
  node *n;
  uv_loop_t *loop;
  struct MHD_Daemon *d;
  uv_poll_t poll;
  uv_timer_t timer;    /* MHD's timeout */
  uv_timer_t look;     /* changes made elsewhere */
  uv_fs_event_t fsev;  /* data.mdb written */
  uv_timer_t denial;   /* the end of a wrong login's delay */
  int open_handles;
  bool stopping;
  bool in_run, run_again; /* MHD_run is not re-entrant: see drive */
  char csrf[65];
  char hosts[HOSTS_MAX][96]; /* Host values accepted */
  size_t nhosts;
  /* a password set (ui.password): every API call but login needs a
   * session; sessions live in memory only */
  bool auth;
  char pwhash[NET_PWHASH_MAX];
  struct {
    char id[65]; /* "" when the slot is free */
    uint64_t last; /* uv_now of its last use */
  } sess[SESS_MAX];
  /* wrong logins, per client address: the least recently used entry
   * without a parked answer goes for a new address */
  struct {
    char addr[64];         /* "" when the slot is free */
    unsigned fails;        /* failed logins in a row */
    uint64_t locked_until; /* uv_now before which logins get 429 */
    uint64_t last;         /* uv_now of its last login */
    struct MHD_Connection *denied; /* a wrong login waiting for its 403 */
  } la[LOGIN_ADDRS_MAX];
  struct node_server *peers; /* the serving node on this loop, or NULL */
  void (*on_joined)(void *ctx);
  void *joined_ctx;
  uint64_t version;    /* node_version when last looked */
  uint64_t events;     /* changes told to streams */
  uint64_t pings;
  sse_client *clients;
  FILE *log;
};

struct sse_client {
  sse_client *next;
  web_server *w;
  struct MHD_Connection *c;
  uint64_t told;  /* events told */
  uint64_t pinged;
  bool suspended;
  bool ended;     /* its session logged out: end the stream */
  char sess[65];  /* the session it was opened in, "" without password */
};

typedef struct req_state {
  char *body;
  size_t len, cap;
  size_t limit; /* bytes the body may have */
  bool too_big;
  bool denied; /* a wrong password: 403 once resumed */
} req_state;

static void logf_(web_server *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(web_server *w, const char *fmt, ...)
{
  if (!w->log)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("web: ", w->log);
  vfprintf(w->log, fmt, ap);
  fputc('\n', w->log);
  fflush(w->log);
  va_end(ap);
}

/* ---- driving MHD from the loop ---- */

static void on_mhd_timer(uv_timer_t *t);
static void on_denial_cb(uv_timer_t *t);

/* MHD_run, and again while a callback it made asked for a run (a write
 * wakes the event streams from inside the request handler: MHD must not
 * be run from its own callbacks). */
static void drive(web_server *w)
{
  if (!w->d)
    return;
  if (w->in_run) {
    w->run_again = true;
    return;
  }
  w->in_run = true;
  do {
    w->run_again = false;
    MHD_run(w->d);
  } while (w->run_again && w->d);
  w->in_run = false;
  if (!w->d)
    return;
  MHD_UNSIGNED_LONG_LONG ms;
  bool has_timeout = MHD_get_timeout(w->d, &ms) == MHD_YES;
#ifdef _WIN32 /* see WEB_RUN_MS */
  const union MHD_DaemonInfo *nc =
      MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
  if (nc && nc->num_connections > 0 && (!has_timeout || ms > WEB_RUN_MS)) {
    has_timeout = true;
    ms = WEB_RUN_MS;
  }
#endif
  if (has_timeout)
    uv_timer_start(&w->timer, on_mhd_timer, ms > 60000 ? 60000 : ms, 0);
  else
    uv_timer_stop(&w->timer);
}

static void on_mhd_timer(uv_timer_t *t)
{
  drive(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
  (void)status, (void)events;
  drive(p->data);
}

/* ---- responses ---- */

static void secure_headers(struct MHD_Response *r, bool cache)
{
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; script-src 'self'; "
                          "style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; frame-ancestors 'none'; "
                          "base-uri 'none'; form-action 'self'");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(r, "Cache-Control", cache ? "no-cache" : "no-store");
}

static enum MHD_Result send_json_cookie(struct MHD_Connection *c,
                                        unsigned status, json_t *j,
                                        const char *cookie)
{
  char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(j);
  if (!text)
    return MHD_NO;
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(text);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type",
                          "application/json; charset=utf-8");
  secure_headers(r, false);
  if (cookie)
    MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status,
                                 json_t *j)
{
  return send_json_cookie(c, status, j, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status,
                                  const char *code, const char *text)
{
  return send_json(c, status,
                   json_pack("{s:{s:s, s:s}}", "error", "code", code, "text",
                             text));
}

/* A download (resp->raw, freed here). */
static enum MHD_Result send_raw(struct MHD_Connection *c, web_resp *resp)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      resp->raw_len, resp->raw, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(resp->raw);
    return MHD_NO;
  }
  char disp[128];
  snprintf(disp, sizeof disp, "attachment; filename=\"%s\"",
           resp->raw_name);
  MHD_add_response_header(r, "Content-Type", resp->raw_type);
  MHD_add_response_header(r, "Content-Disposition", disp);
  secure_headers(r, false);
  enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const web_file *f)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", f->type);
  secure_headers(r, true);
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

/* ---- event streams ---- */

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
  sse_client *s = cls;
  web_server *w = s->w;
  (void)pos;
  if (w->stopping || s->ended)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (max < 64)
    return 0;
  if (s->told < w->events) {
    s->told = w->events;
    int k = snprintf(buf, max, "event: change\ndata: %llu\n\n",
                     (unsigned long long)w->version);
    return k;
  }
  if (s->pinged < w->pings) {
    s->pinged = w->pings;
    memcpy(buf, ": ping\n\n", 8);
    return 8;
  }
  /* nothing to say: park the connection until there is */
  s->suspended = true;
  MHD_suspend_connection(s->c);
  return 0;
}

static void sse_free(void *cls)
{
  sse_client *s = cls;
  web_server *w = s->w;
  for (sse_client **p = &w->clients; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  free(s);
}

static void wake_streams(web_server *w)
{
  bool any = false;
  for (sse_client *s = w->clients; s; s = s->next)
    if (s->suspended) {
      s->suspended = false;
      MHD_resume_connection(s->c);
      any = true;
    }
  if (any)
    drive(w); /* from inside a callback: run again after it */
}

static enum MHD_Result start_stream(web_server *w, struct MHD_Connection *c)
{
  sse_client *s = calloc(1, sizeof *s);
  if (!s)
    return MHD_NO;
  s->w = w;
  s->c = c;
  s->told = w->events;
  s->pinged = w->pings;
  const char *sid =
      MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "gs_session");
  if (w->auth && sid && strlen(sid) == 64)
    memcpy(s->sess, sid, 65);
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, s,
                                        sse_free);
  if (!r) {
    free(s);
    return MHD_NO;
  }
  s->next = w->clients;
  w->clients = s;
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  secure_headers(r, false);
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

static void look(web_server *w)
{
  uint64_t v = 0;
  if (node_version(w->n, &v) == GS_OK && v != w->version) {
    w->version = v;
    w->events++;
    wake_streams(w);
  }
}

void web_notify(web_server *w)
{
  if (w && !w->stopping)
    look(w);
}

static void on_look(uv_timer_t *t)
{
  web_server *w = t->data;
  look(w);
  uint64_t now = uv_now(w->loop);
  static const uint64_t every = PING_MS / LOOK_MS;
  if (w->clients && (now / LOOK_MS) % every == 0) {
    w->pings++;
    wake_streams(w);
  }
}

static void on_fsev(uv_fs_event_t *h, const char *file, int events,
                    int status)
{
  web_server *w = h->data;
  (void)file, (void)events, (void)status;
  look(w);
  /* a commit's first write (its pages) comes before the one that makes
   * it visible, and the later event does not always follow: look again
   * shortly (as netnode does), then every LOOK_MS as before. Measured
   * before this: a CLI edit reached an open page after 114, 938, 973 ms */
  if (!w->stopping)
    uv_timer_start(&w->look, on_look, SETTLE_MS, LOOK_MS);
}

/* ---- requests ---- */

static bool host_ok(web_server *w, struct MHD_Connection *c)
{
  const char *h =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  if (!h)
    return false;
  for (size_t i = 0; i < w->nhosts; i++)
    if (strcmp(h, w->hosts[i]) == 0)
      return true;
  return false;
}

/* A write must come from the app itself: the token it was given, and,
 * when the browser says where the request comes from, this origin. */
static bool same_text(const char *a, const char *b)
{
  size_t n = strlen(b);
  if (strlen(a) != n)
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

/* The login cannot carry the token (the session that gives it comes
 * after): it must send JSON (a cross-site form cannot) from this origin. */
static bool same_origin_write(web_server *w, struct MHD_Connection *c,
                              bool login)
{
  const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                "X-CSRF-Token");
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               "Content-Type");
  if (login) {
    if (!ct || strncmp(ct, "application/json", 16) != 0)
      return false;
  } else if (!tok || !same_text(tok, w->csrf)) {
    return false;
  }
  const char *origin =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
  const char *host =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  if (origin) {
    char want[128];
    snprintf(want, sizeof want, "http://%s", host ? host : "");
    if (strcmp(origin, want) != 0)
      return false;
  }
  const char *site =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
  return !site || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
}

typedef struct arg_ctx {
  web_arg v[ARGS_MAX];
  size_t n;
  bool too_many;
} arg_ctx;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind,
                              const char *key, const char *value)
{
  arg_ctx *a = cls;
  (void)kind;
  if (a->n == ARGS_MAX) {
    a->too_many = true;
    return MHD_NO;
  }
  a->v[a->n++] = (web_arg){key, value ? value : ""};
  return MHD_YES;
}

/* ---- sessions (a password set) ---- */

/* The session slot of c's gs_session cookie, or -1. */
static int session_of(web_server *w, struct MHD_Connection *c)
{
  const char *id =
      MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "gs_session");
  uint64_t now = uv_now(w->loop);
  if (!id || strlen(id) != 64)
    return -1;
  int found = -1;
  for (int i = 0; i < SESS_MAX; i++) {
    if (!w->sess[i].id[0])
      continue;
    if (now - w->sess[i].last > SESS_IDLE_MS) {
      w->sess[i].id[0] = 0; /* expired */
      continue;
    }
    if (same_text(id, w->sess[i].id))
      found = i;
  }
  if (found >= 0)
    w->sess[found].last = now;
  return found;
}

/* A new session in slot i (a free one, else the least recently used). */
static int session_new(web_server *w)
{
  int slot = 0;
  for (int i = 0; i < SESS_MAX; i++) {
    if (!w->sess[i].id[0]) {
      slot = i;
      break;
    }
    if (w->sess[i].last < w->sess[slot].last)
      slot = i;
  }
  uint8_t r[32];
  crdt_random(r, sizeof r);
  for (size_t i = 0; i < sizeof r; i++)
    snprintf(w->sess[slot].id + 2 * i, 3, "%02x", r[i]);
  w->sess[slot].last = uv_now(w->loop);
  return slot;
}

/* The client address of c as text ("" when unknown). */
static void client_addr(struct MHD_Connection *c, char *out, size_t cap)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr)
    return;
  if (ci->client_addr->sa_family == AF_INET)
    uv_ip4_name((const struct sockaddr_in *)ci->client_addr, out, cap);
  else if (ci->client_addr->sa_family == AF_INET6)
    uv_ip6_name((const struct sockaddr_in6 *)ci->client_addr, out, cap);
}

/* The wrong-login slot of addr: its own, else a free one, else the least
 * recently used one without a parked answer (reset); -1 when every slot
 * has one parked (then the login is refused with 429). */
static int login_slot(web_server *w, const char *addr)
{
  int pick = -1;
  for (int i = 0; i < LOGIN_ADDRS_MAX; i++)
    if (w->la[i].addr[0] && strcmp(w->la[i].addr, addr) == 0)
      return i;
  for (int i = 0; i < LOGIN_ADDRS_MAX; i++) {
    if (w->la[i].denied)
      continue;
    if (!w->la[i].addr[0]) {
      pick = i;
      break;
    }
    if (pick < 0 || w->la[i].last < w->la[pick].last)
      pick = i;
  }
  if (pick >= 0) {
    memset(&w->la[pick], 0, sizeof w->la[pick]);
    snprintf(w->la[pick].addr, sizeof w->la[pick].addr, "%s", addr);
  }
  return pick;
}

/* The denial timer: answer every parked login whose delay is over, then
 * wait for the next one. */
static void arm_denial(web_server *w)
{
  uint64_t now = uv_now(w->loop), next = 0;
  for (int i = 0; i < LOGIN_ADDRS_MAX; i++)
    if (w->la[i].denied && (!next || w->la[i].locked_until < next))
      next = w->la[i].locked_until;
  if (next)
    uv_timer_start(&w->denial, on_denial_cb, next > now ? next - now : 0, 0);
}

static void on_denial_cb(uv_timer_t *t)
{
  web_server *w = t->data;
  uint64_t now = uv_now(w->loop);
  bool any = false;
  for (int i = 0; i < LOGIN_ADDRS_MAX; i++)
    if (w->la[i].denied && now >= w->la[i].locked_until) {
      MHD_resume_connection(w->la[i].denied);
      w->la[i].denied = NULL;
      any = true;
    }
  arm_denial(w);
  if (any)
    drive(w);
}

static enum MHD_Result login(web_server *w, struct MHD_Connection *c,
                             req_state *st)
{
  uint64_t now = uv_now(w->loop);
  char addr[64];
  if (!w->auth)
    return send_error(c, 400, "GS_EINVAL",
                      "no password is set: run 'gridsync ui password'");
  client_addr(c, addr, sizeof addr);
  int slot = login_slot(w, addr);
  if (slot < 0 || now < w->la[slot].locked_until) /* not even checked */
    return send_error(c, 429, "GS_EPERM",
                      "too many wrong passwords: wait a few seconds and "
                      "try again");
  w->la[slot].last = now;
  json_error_t je;
  json_t *j = st->body ? json_loadb(st->body, st->len, 0, &je) : NULL;
  const char *pw = NULL;
  if (j && json_is_object(j) &&
      json_is_string(json_object_get(j, "password")) &&
      json_string_length(json_object_get(j, "password")) <= PASSWORD_MAX)
    pw = json_string_value(json_object_get(j, "password"));
  if (!pw) {
    json_decref(j);
    return send_error(c, 400, "GS_EINVAL",
                      "send {\"password\": \"...\"} as JSON");
  }
  bool ok = net_pwhash_ok(w->pwhash, pw);
  json_decref(j);
  if (!ok) {
    unsigned f = ++w->la[slot].fails;
    uint64_t delay = f > 6 ? LOGIN_DELAY_MAX_MS : 1000ull << (f - 1);
    if (delay > LOGIN_DELAY_MAX_MS)
      delay = LOGIN_DELAY_MAX_MS;
    w->la[slot].locked_until = now + delay;
    logf_(w, "a wrong password from %s (%u in a row): its logins wait %llu ms",
          addr, f, (unsigned long long)delay);
    /* the answer comes after the delay: parked until then (one per
     * address: meanwhile its logins get 429 unchecked) */
    st->denied = true;
    w->la[slot].denied = c;
    MHD_suspend_connection(c);
    arm_denial(w);
    return MHD_YES;
  }
  memset(&w->la[slot], 0, sizeof w->la[slot]); /* a right one: forgotten */
  int i = session_new(w);
  char cookie[160];
  snprintf(cookie, sizeof cookie,
           "gs_session=%s; HttpOnly; SameSite=Strict; Path=/",
           w->sess[i].id);
  return send_json_cookie(c, 200, json_pack("{s:b}", "ok", 1), cookie);
}

static enum MHD_Result logout(web_server *w, struct MHD_Connection *c)
{
  int i = session_of(w, c);
  if (i >= 0) {
    /* its event streams end too */
    bool any = false;
    for (sse_client *s = w->clients; s; s = s->next)
      if (s->sess[0] && strcmp(s->sess, w->sess[i].id) == 0) {
        s->ended = true;
        if (s->suspended) {
          s->suspended = false;
          MHD_resume_connection(s->c);
          any = true;
        }
      }
    w->sess[i].id[0] = 0;
    if (any)
      drive(w);
  }
  return send_json_cookie(
      c, 200, json_pack("{s:b}", "ok", 1),
      "gs_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
}

static const web_file *find_file(const char *url)
{
  if (strcmp(url, "/") == 0)
    url = "/index.html";
  for (size_t i = 0; i < web__nfiles; i++)
    if (strcmp(web__files[i].path, url) == 0)
      return &web__files[i];
  return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  web_server *w = cls;
  req_state *st = *con_cls;
  (void)version;
  bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  bool write = strcmp(method, "POST") == 0 ||
               strcmp(method, "PATCH") == 0 ||
               strcmp(method, "DELETE") == 0;

  if (!st) { /* the headers have come: check them before any body */
    if (!(st = calloc(1, sizeof *st)))
      return MHD_NO;
    *con_cls = st;
    if (w->stopping)
      return send_error(c, 503, "GS_ECLOSED", "the node is stopping");
    if (!host_ok(w, c)) {
      logf_(w, "refused a request for another host");
      return send_error(c, 421, "GS_EPERM",
                        "this address is not the app's (Host refused)");
    }
    if (!get && !write)
      return send_error(c, 405, "GS_EINVAL", "method not allowed");
    bool is_login = strcmp(url, "/api/login") == 0;
    if (write && !same_origin_write(w, c, is_login)) {
      logf_(w, "refused a write without the app's token");
      return send_error(c, 403, "GS_EPERM",
                        "refused: the request did not come from the app "
                        "(token or origin missing)");
    }
    if (w->auth && strncmp(url, "/api/", 5) == 0 && !is_login &&
        session_of(w, c) < 0)
      return send_error(c, 401, "GS_EPERM",
                        "log in first: this app asks for its password");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 "Content-Length");
    /* a bundle uploaded may be larger than any other body */
    st->limit = strcmp(method, "POST") == 0 && strcmp(url, "/api/bundle") == 0
                    ? WEB_BUNDLE_MAX
                    : WEB_BODY_MAX;
    if (cl && strtoull(cl, NULL, 10) > st->limit)
      return send_error(c, 413, "GS_ETOOBIG",
                        st->limit == WEB_BODY_MAX
                            ? "the request is too large (at most 1 MiB)"
                            : _("the bundle is too large (at most 64 MiB)"));
    return MHD_YES;
  }
  if (*upload_data_size) { /* a piece of the body */
    size_t k = *upload_data_size;
    *upload_data_size = 0;
    if (st->too_big || st->len + k > st->limit) {
      st->too_big = true;
      return MHD_YES;
    }
    if (st->len + k > st->cap) {
      size_t cap = st->cap ? st->cap : 4096;
      while (cap < st->len + k)
        cap *= 2;
      char *b = realloc(st->body, cap);
      if (!b)
        return MHD_NO;
      st->body = b;
      st->cap = cap;
    }
    memcpy(st->body + st->len, upload_data, k);
    st->len += k;
    return MHD_YES;
  }
  if (st->denied)
    return send_error(c, 403, "GS_EPERM",
                      "the password is wrong: check it and try again");
  if (st->too_big)
    return send_error(c, 413, "GS_ETOOBIG",
                      st->limit == WEB_BODY_MAX
                          ? "the request is too large (at most 1 MiB)"
                          : _("the bundle is too large (at most 64 MiB)"));
  if (strncmp(url, "/api/", 5) != 0) {
    const web_file *f = get ? find_file(url) : NULL;
    if (!f)
      return send_error(c, 404, "GS_ENOTFOUND", "no such page");
    return send_file(c, f);
  }
  if (strcmp(method, "POST") == 0 && strcmp(url, "/api/login") == 0)
    return login(w, c, st);
  if (strcmp(method, "POST") == 0 && strcmp(url, "/api/logout") == 0)
    return logout(w, c);
  if (get && strcmp(url, "/api/events") == 0)
    return start_stream(w, c);
  if (get && strcmp(url, "/api/session") == 0) {
    const char *site =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcmp(site, "cross-site") == 0)
      return send_error(c, 403, "GS_EPERM", "refused: cross-site");
    const node_network *net = node_net(w->n);
    char id[CRDT_KEY_TEXT_LEN + 1];
    crdt_base32_encode(node_pk(w->n), CRDT_KEY_LEN, id);
    json_t *scopes = json_array();
    for (size_t i = 0; net && i < net->nscopes; i++)
      json_array_append_new(scopes, json_string(net->scopes[i]));
    return send_json(
        c, 200,
        json_pack("{s:s, s:b, s:{s:s, s:s}, s:o}", "csrf", w->csrf,
                  "password", w->auth, "node",
                  "name", node_name(w->n), "id", id, "network",
                  net ? json_pack("{s:s, s:s, s:o}", "name", net->name,
                                  "role", net->role, "scopes", scopes)
                      : (json_decref(scopes), json_null())));
  }
  arg_ctx args = {.n = 0};
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, &args);
  if (args.too_many)
    return send_error(c, 400, "GS_EINVAL", "too many arguments");
  if (get && strcmp(url, "/api/bundle") == 0) { /* a download: same site */
    const char *site =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
      return send_error(c, 403, "GS_EPERM", _("refused: cross-site"));
  }
  web_req rq = {method, url, args.v, args.n, st->body, st->len, w->peers};
  web_resp resp;
  /* the app's language (X-GS-Lang: zh or en; the app always says):
   * the node's reasons and messages of this request in it; without the
   * header, the serving process's own language */
  const char *lang =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-GS-Lang");
  gs_i18n_scope ls;
  bool scoped = lang && (strcmp(lang, "zh") == 0 || strcmp(lang, "en") == 0) &&
                gs_i18n_begin(&ls, lang) == GS_OK;
  web__api(w->n, &rq, &resp);
  if (scoped)
    gs_i18n_end(&ls);
  if (write && resp.status < 300)
    look(w); /* tell open pages at once */
  if (resp.joined && w->on_joined)
    w->on_joined(w->joined_ctx);
  if (resp.raw)
    return send_raw(c, &resp);
  return send_json(c, resp.status, resp.json);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
  (void)cls, (void)c, (void)toe;
  req_state *st = *con_cls;
  if (st) {
    free(st->body);
    free(st);
    *con_cls = NULL;
  }
}

/* ---- start and stop ---- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
  }
  return false;
}

static void on_closed(uv_handle_t *h)
{
  web_server *w = h->data;
  if (--w->open_handles == 0)
    free(w);
}

static void close_handles(web_server *w)
{
  uv_handle_t *hs[] = {(uv_handle_t *)&w->poll, (uv_handle_t *)&w->timer,
                       (uv_handle_t *)&w->look, (uv_handle_t *)&w->fsev,
                       (uv_handle_t *)&w->denial};
  w->open_handles = 5;
  for (size_t i = 0; i < 5; i++)
    uv_close(hs[i], on_closed);
}

/* The hash in DIR/ui.password into out: 1 when there is one, 0 when
 * there is no file, -1 (why set) when it cannot be read or is not one. */
static int read_password(const char *dir, char out[NET_PWHASH_MAX],
                         char *why, size_t whylen)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, WEB_PASSWORD_FILE);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  ssize_t k = read(fd, out, NET_PWHASH_MAX);
  close(fd);
  if (k <= 0 || k >= NET_PWHASH_MAX) {
    snprintf(why, whylen,
             "%s is not a password hash: set it again with 'gridsync ui "
             "password'", path);
    return -1;
  }
  out[k] = 0;
  out[strcspn(out, "\n")] = 0;
  if (strncmp(out, "$argon2id$", 10) != 0) {
    snprintf(why, whylen,
             "%s is not a password hash: set it again with 'gridsync ui "
             "password'", path);
    return -1;
  }
  return 1;
}

/* Host values for an address beyond loopback: that address, or, for
 * "any" (0.0.0.0), every IPv4 address of this computer. */
static void add_hosts(web_server *w, const char *host, int p)
{
  if (strcmp(host, "0.0.0.0") != 0) {
    snprintf(w->hosts[w->nhosts++], sizeof w->hosts[0], "%s:%d", host, p);
    return;
  }
  uv_interface_address_t *ifs;
  int count;
  if (uv_interface_addresses(&ifs, &count) != 0)
    return;
  for (int i = 0; i < count && w->nhosts < HOSTS_MAX; i++) {
    char a[64];
    if (ifs[i].address.address4.sin_family != AF_INET ||
        uv_ip4_name(&ifs[i].address.address4, a, sizeof a) != 0 ||
        strcmp(a, "127.0.0.1") == 0)
      continue;
    snprintf(w->hosts[w->nhosts++], sizeof w->hosts[0], "%s:%d", a, p);
  }
  uv_free_interface_addresses(ifs, count);
}

gs_err web_start(node *n, uv_loop_t *loop, const web_opts *o,
                 web_server **out, char *why, size_t whylen)
{
  const char *listen = o && o->listen ? o->listen : WEB_DEFAULT_LISTEN;
  struct sockaddr_storage ss;
  gs_err err;
  *out = NULL;
  snprintf(why, whylen, "%s", "");
  if (!node_addr_valid(listen) ||
      (err = node_parse_addr(listen, &ss)) != GS_OK) {
    snprintf(why, whylen, "'%s' is not HOST:PORT", listen);
    return GS_EINVAL;
  }
  char pwhash[NET_PWHASH_MAX];
  int auth = read_password(node_dir(n), pwhash, why, whylen);
  if (auth < 0)
    return GS_EPERM;
  if (!is_loopback(&ss) && !auth) {
    snprintf(why, whylen,
             "the app answers only on this computer (127.0.0.1) until a "
             "password is set; %s would let anyone on the network in "
             "(set one with 'gridsync ui password', then start again)",
             listen);
    return GS_EPERM;
  }
  web_server *w = calloc(1, sizeof *w);
  if (!w)
    return GS_ENOMEM;
  w->auth = auth == 1;
  if (w->auth)
    memcpy(w->pwhash, pwhash, sizeof pwhash);
  w->n = n;
  w->loop = loop;
  w->log = o ? o->log : NULL;
  w->peers = o ? o->peers : NULL;
  w->on_joined = o ? o->on_joined : NULL;
  w->joined_ctx = o ? o->joined_ctx : NULL;
  uint8_t tok[32];
  crdt_random(tok, sizeof tok);
  for (size_t i = 0; i < sizeof tok; i++)
    snprintf(w->csrf + 2 * i, 3, "%02x", tok[i]);
  w->d = MHD_start_daemon(
      WEB_MHD_POLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL,
      NULL, on_request, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_NOTIFY_COMPLETED, on_done, w, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)CONN_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)CONN_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)CONN_MEMORY, MHD_OPTION_END);
  if (!w->d) {
    snprintf(why, whylen, "cannot listen on %s (in use?)", listen);
    free(w);
    return GS_EINVAL;
  }
  const union MHD_DaemonInfo *port =
      MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
  const union MHD_DaemonInfo *efd =
      MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
  int p = port ? port->port : 0;
  char host[64];
  if (ss.ss_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
  else
    uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
  /* the Host values a browser on this computer sends */
  snprintf(w->hosts[w->nhosts++], sizeof w->hosts[0], "127.0.0.1:%d", p);
  snprintf(w->hosts[w->nhosts++], sizeof w->hosts[0], "localhost:%d", p);
  snprintf(w->hosts[w->nhosts++], sizeof w->hosts[0], "[::1]:%d", p);
  if (ss.ss_family == AF_INET && strcmp(host, "127.0.0.1") != 0)
    add_hosts(w, host, p);
#ifdef _WIN32 /* see WEB_RUN_MS */
  (void)efd;
  const union MHD_DaemonInfo *lfd =
      MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_LISTEN_FD);
  uv_poll_init_socket(loop, &w->poll, lfd->listen_fd);
#else
  uv_poll_init(loop, &w->poll, efd->epoll_fd);
#endif
  uv_timer_init(loop, &w->timer);
  uv_timer_init(loop, &w->look);
  uv_fs_event_init(loop, &w->fsev);
  uv_timer_init(loop, &w->denial);
  w->poll.data = w->timer.data = w->look.data = w->fsev.data = w;
  w->denial.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_mhd_poll);
  uv_timer_start(&w->look, on_look, LOOK_MS, LOOK_MS);
  char path[4200];
  snprintf(path, sizeof path, "%s/data.mdb", node_dir(n));
  uv_fs_event_start(&w->fsev, on_fsev, path, 0); /* else: the timer */
  node_version(n, &w->version);
  drive(w);
  logf_(w, "the app is at http://%s:%d/", host, p);
  if (o && o->on_listen)
    o->on_listen(o->ctx, host, p);
  *out = w;
  return GS_OK;
}

void web_set_peers(web_server *w, struct node_server *s)
{
  if (w)
    w->peers = s;
}

void web_stop(web_server *w)
{
  if (!w || w->stopping)
    return;
  w->stopping = true;
  /* end the streams: resumed, they read end-of-stream */
  for (sse_client *s = w->clients; s; s = s->next)
    if (s->suspended) {
      s->suspended = false;
      MHD_resume_connection(s->c);
    }
  for (int i = 0; i < LOGIN_ADDRS_MAX; i++)
    if (w->la[i].denied) { /* answered 403 now */
      MHD_resume_connection(w->la[i].denied);
      w->la[i].denied = NULL;
    }
  MHD_run(w->d);
  MHD_stop_daemon(w->d);
  w->d = NULL;
  close_handles(w);
}
