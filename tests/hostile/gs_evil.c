/*
 * gs-evil: the modified build of tests/hostile. It speaks gridsync's
 * protocol with the project's own libraries (net_peer for the handshake
 * and frames, so it follows when the handshake changes; crdt for changes)
 * but sends what an honest node never would: changes with chosen hlc,
 * seq, prev and signature, forked feeds, floods of feeds and version
 * vectors, crafted or malformed messages, many sessions; or, below the
 * handshake, raw bytes: garbage, huge frame lengths, stalled and slow
 * handshakes, and a stranger's probe of what message 2 reveals.
 *
 *   gs-evil --to HOST:PORT [identity] [what to send] [--ms N]
 * identity (default: --stranger):
 *   --dir DIR         the node of DIR: its key, its network key, and it
 *                     signs the changes (a member, a revoked member)
 *   --stranger        random node key, random network key
 *   --psk-of DIR      random node key, the network key of DIR's node
 *   --sign DIR        sign the following --change with DIR's node key
 * session (after the handshake; an empty VV is sent first unless --no-vv):
 *   --change SPEC     one crafted change, in the current CHANGES message:
 *                     scope=S[,seq=N|next][,prev=chain|zero|rand]
 *                     [,hlc=now|max|+MS|-MS|MS][,sig=ok|bad][,size=N]
 *                     [,op=set|add|del:COLL:ID:FIELD:s|i|f|t|r:VALUE]...
 *                     (ID base32; r VALUE is COLL/ID; n VALUE a text
 *                     of VALUE bytes; del needs no field;
 *                     op=claim: the signer's own claim, written again)
 *   --flush           later --change go in a new CHANGES message
 *   --feeds N:PREFIX  N one-change feeds PREFIX/fI (a flood of feeds)
 *   --msg HEX         one message of these bytes, as is
 *   --replay DIR      every change DIR's node holds, as is
 *   --vvflood PAGES   PAGES version-vector pages of random feeds, more=true
 *   --pings N         N PINGs, never reading the PONGs
 *   --packed-bomb     a PACKED frame that unpacks far past NET_MSG_MAX
 *   --sessions K      K sessions of one identity, opened three handshakes
 *                     at a time, each held open (listening)
 *   --listen          instead of --to: listen on 127.0.0.1 (port printed
 *                     as "listening HOST:PORT") and play one session as
 *                     the responder, for an office that connects to us
 *   --no-vv           do not send the empty version vector first
 *   --ready           print "ready" once under way (sessions settled,
 *                     raw connections made), before the report
 *   --linger MS       stay after the last ACK (default 300)
 * raw (no handshake): --raw garbage|short|bigframe|slow|stall|learnkey
 * raw handshake by hand, then: --raw valid (one good frame: the control)
 *   | version (--version N claimed) |
 *   tamper (a frame altered) | replay (a frame twice) | bigafter (a huge
 *   frame length) | plain (a frame not encrypted)
 *   --conns K --bind IP   stall: K connections from IP, held for --ms
 *
 * Prints one JSON object: what happened (opened, closed, the peer's ERROR,
 * ACKs, what was received by scope...). Exit 0 unless it could not run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zstd.h>

#include "crdt/crdt.h"
#include "net/msg.h"
#include "net/noise.h"
#include "net/peer.h"
#include "node/node.h"
#include "node/netnode.h"
#include "node/member.h"
#include "node/node_internal.h"
#include "storage/store.h"

#define MAX_MSGS 65536
#define MAX_SESSIONS 256
#define WINDOW 8
/* The handshake as today's net/peer.c speaks it: only the raw probes use
 * it (the sessions go through net_peer and follow its changes). */
#define RAW_PATTERN "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b"
#define RAW_PROLOGUE "gridsync/1"

typedef struct outmsg {
  uint8_t *p;
  size_t n;
  bool changes; /* a CHANGES message: waits for its ACK */
} outmsg;

typedef struct built {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
  uint8_t hash[CRDT_HASH_LEN];
} built;

typedef struct evil evil;
typedef struct sess {
  evil *e;
  net_peer *p;
  bool opened, closed;
} sess;

struct evil {
  uv_loop_t loop;
  uv_timer_t timer, linger;
  uv_tcp_t server; /* --listen */
  bool listen;
  net_identity id;
  struct sockaddr_storage to;
  uint64_t ms, linger_ms;
  bool no_vv;
  /* what to send */
  outmsg *msgs;
  size_t nmsgs, next;
  unsigned inflight;
  uint64_t pings, pings_sent;
  uint64_t raw_version; /* --raw version: the protocol version claimed */
  size_t nsessions, nstarted; /* sessions wanted, connected so far */
  net_peer_opts popts;
  sess sessions[MAX_SESSIONS];
  /* change staging */
  uint8_t sign_sk[CRDT_SK_LEN], sign_pk[CRDT_KEY_LEN];
  store *sign_st;   /* the signer's store, for feed heads (may be NULL) */
  net_bytes stage[NET_CHANGES_MAX];
  size_t nstage, stage_bytes;
  built *builts;
  size_t nbuilt, capbuilt;
  char *specs[MAX_MSGS]; /* --change texts: ops borrow from them */
  size_t nspecs;
  bool have_claim;
  uint8_t *claim_val[4];
  size_t claim_len[4];
  /* results */
  bool ready_flag, said_ready; /* --ready: print "ready" once under way */
  bool opened, closed, peer_error, done_recv;
  char close_reason[200], error[300];
  uint64_t acks, applied, dups, recv_msgs, recv_changes, recv_net,
      recv_vv_entries, sent_msgs, pongs;
  json_t *scopes;
};

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "gs-evil: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(2);
}

static void push_msg(evil *e, uint8_t *p, size_t n, bool changes)
{
  if (e->nmsgs >= MAX_MSGS)
    die("%s", "too many messages");
  e->msgs[e->nmsgs++] = (outmsg){p, n, changes};
}

/* ---- identity ---- */

static node *open_node(const char *dir)
{
  node *n;
  gs_err err = node_open(dir, 0, NULL, &n);
  if (err)
    die("cannot open the node in %s", dir);
  return n;
}

static void identity_of(evil *e, const char *dir, bool own_key, bool psk)
{
  node *n = open_node(dir);
  uint8_t sk[CRDT_SK_LEN], pk[CRDT_KEY_LEN], key[32];
  if (own_key)
    memcpy(sk, n->sk, sizeof sk);
  else
    crdt_keypair(pk, sk);
  if (psk) {
    if (!n->has_net)
      die("the node in %s has no network", dir);
    memcpy(key, n->net.key, sizeof key);
  } else {
    crdt_random(key, sizeof key);
  }
  node_close(n);
  if (net_identity_init(&e->id, sk, key) != GS_OK)
    die("%s", "cannot make an identity");
  crdt_wipe(sk, sizeof sk);
}

/* The store of the node in dir, opened with that node's data key (the
 * store is sealed at rest: issue 19). */
static gs_err open_store_of(const char *dir, store **st)
{
  uint8_t key[CRDT_SEAL_KEY_LEN];
  node *n = open_node(dir);
  memcpy(key, n->dkey, sizeof key);
  node_close(n);
  store_opts o = {.key = key};
  gs_err err = store_open_ex(dir, 0, &o, st);
  crdt_wipe(key, sizeof key);
  return err;
}

static void stranger(evil *e)
{
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], key[32];
  crdt_keypair(pk, sk);
  crdt_random(key, sizeof key);
  if (net_identity_init(&e->id, sk, key) != GS_OK)
    die("%s", "cannot make an identity");
}

static void set_signer(evil *e, const char *dir)
{
  node *n = open_node(dir);
  memcpy(e->sign_sk, n->sk, CRDT_SK_LEN);
  memcpy(e->sign_pk, n->pk, CRDT_KEY_LEN);
  node_close(n);
  if (e->sign_st)
    store_close(e->sign_st);
  e->sign_st = NULL;
  if (open_store_of(dir, &e->sign_st) != GS_OK)
    e->sign_st = NULL;
}

/* ---- crafted changes ---- */

static void flush_stage(evil *e)
{
  if (!e->nstage)
    return;
  uint8_t *m;
  size_t n;
  if (net_msg_changes(e->stage, e->nstage, &m, &n) != GS_OK)
    die("%s", "cannot encode a CHANGES message");
  for (size_t i = 0; i < e->nstage; i++)
    free((void *)e->stage[i].p);
  e->nstage = 0;
  e->stage_bytes = 0;
  push_msg(e, m, n, true);
}

static void stage_change(evil *e, uint8_t *raw, size_t n)
{
  if (e->nstage == NET_CHANGES_MAX ||
      e->stage_bytes + NET_CHANGE_COST(n) + NET_CHANGES_OVERHEAD >
          NET_MSG_MAX)
    flush_stage(e);
  e->stage[e->nstage++] = (net_bytes){raw, n};
  e->stage_bytes += NET_CHANGE_COST(n);
}

/* The last change built in this run for feed, else the signer's head. */
static bool feed_head(evil *e, const uint8_t feed[CRDT_FEED_LEN],
                      uint64_t *seq, uint8_t hash[CRDT_HASH_LEN])
{
  for (size_t i = e->nbuilt; i-- > 0;)
    if (memcmp(e->builts[i].feed, feed, CRDT_FEED_LEN) == 0) {
      *seq = e->builts[i].seq;
      memcpy(hash, e->builts[i].hash, CRDT_HASH_LEN);
      return true;
    }
  store_feed f;
  if (e->sign_st && store_feed_get(e->sign_st, feed, &f) == GS_OK) {
    *seq = f.seq;
    memcpy(hash, f.head, CRDT_HASH_LEN);
    return true;
  }
  return false;
}

static void parse_id(const char *t, uint8_t id[CRDT_ID_LEN])
{
  if (crdt_base32_decode(t, strlen(t), id, CRDT_ID_LEN) != GS_OK)
    die("bad record id '%s'", t);
}

static char long_text[CRDT_TEXT_MAX + 1];

/* op=KIND:COLL:ID:FIELD:TYPE:VALUE; strings point into spec (kept). */
static void parse_op(char *s, crdt_op *op)
{
  char *kind = strsep(&s, ":"), *coll = strsep(&s, ":"),
       *id = strsep(&s, ":");
  if (!kind || !coll || !id)
    die("bad op '%s'", kind ? kind : "");
  memset(op, 0, sizeof *op);
  op->coll = coll;
  op->coll_len = strlen(coll);
  parse_id(id, op->id);
  if (strcmp(kind, "del") == 0) {
    op->kind = CRDT_OP_DELETE;
    return;
  }
  op->kind = strcmp(kind, "add") == 0 ? CRDT_OP_ADD : CRDT_OP_SET;
  char *field = strsep(&s, ":"), *type = strsep(&s, ":"), *val = s;
  if (!field || !type || !val)
    die("op '%s' needs FIELD:TYPE:VALUE", kind);
  op->field = field;
  op->field_len = strlen(field);
  crdt_value *v = &op->value;
  switch (type[0]) {
  case 's':
    v->type = CRDT_STR;
    v->u.s.p = val;
    v->u.s.n = strlen(val);
    break;
  case 'i':
    v->type = CRDT_INT;
    v->u.i = strtoll(val, NULL, 10);
    break;
  case 'f':
    v->type = CRDT_FLOAT;
    v->u.f = strtod(val, NULL);
    break;
  case 'n': /* a text of VALUE bytes */
    v->type = CRDT_STR;
    v->u.s.n = strtoul(val, NULL, 10);
    if (v->u.s.n > CRDT_TEXT_MAX)
      die("a text of %s bytes is too long", val);
    v->u.s.p = long_text;
    break;
  case 't':
    v->type = CRDT_BOOL;
    v->u.b = strcmp(val, "true") == 0;
    break;
  case 'r': {
    char *slash = strchr(val, '/');
    if (!slash)
      die("ref '%s' is not COLL/ID", val);
    *slash = '\0';
    v->type = CRDT_REF;
    v->u.ref.coll = val;
    v->u.ref.coll_len = strlen(val);
    parse_id(slash + 1, v->u.ref.id);
    break;
  }
  default:
    die("bad value type '%s'", type);
  }
}

/* The signer's own membership claim (its "member" record in "_net"), as
 * the four SET ops that write it again; the values live in e->claim. */
static int on_claim(void *ctx, const crdt_record *rec)
{
  evil *e = ctx;
  static const char *const names[4] = {"key", "cert", "cert_sig", "proof"};
  for (size_t i = 0; i < 4; i++) {
    long k = crdt_record_find(rec, names[i], strlen(names[i]));
    crdt_field_view f;
    if (k < 0 || crdt_record_field(rec, (size_t)k, &f) != GS_OK ||
        f.value.type != CRDT_BYTES)
      return 1;
    uint8_t *copy = malloc(f.value.u.s.n);
    if (!copy)
      return 1;
    memcpy(copy, f.value.u.s.p, f.value.u.s.n);
    e->claim_val[i] = copy;
    e->claim_len[i] = f.value.u.s.n;
  }
  e->have_claim = true;
  return 0;
}

static size_t claim_ops(evil *e, crdt_op *ops)
{
  static const char *const names[4] = {"key", "cert", "cert_sig", "proof"};
  if (!e->have_claim && e->sign_st)
    store_get(e->sign_st, "member", 6, e->sign_pk, on_claim, e);
  if (!e->have_claim)
    die("%s", "the signer holds no membership claim of its own");
  for (size_t i = 0; i < 4; i++) {
    memset(&ops[i], 0, sizeof ops[i]);
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = "member";
    ops[i].coll_len = 6;
    memcpy(ops[i].id, e->sign_pk, CRDT_ID_LEN);
    ops[i].field = names[i];
    ops[i].field_len = strlen(names[i]);
    ops[i].value.type = CRDT_BYTES;
    ops[i].value.u.s.p = (const char *)e->claim_val[i];
    ops[i].value.u.s.n = e->claim_len[i];
  }
  return 4;
}

/* sig=v1: the change made version 1, signed by version 1's rule (as an
 * old store holds it: valid); sig=v1bytes: its version byte made 1, the
 * version-2 signature kept; sig=body: version 2, but the body itself
 * signed under version 2's domain, not its digest (crdt/change.c) */
static void resign(evil *e, const char *how, uint8_t *raw, size_t n)
{
  static const char d1[] = "gridsync-change-v1", d2[] = "gridsync-change-v2";
  const char *d;
  if (strcmp(how, "v1") == 0 || strcmp(how, "v1bytes") == 0)
    raw[1] = 1, d = d1;
  else if (strcmp(how, "body") == 0)
    d = d2;
  else
    die("unknown sig=%s", how);
  if (strcmp(how, "v1bytes") == 0)
    return;
  size_t dl = strlen(d), body = n - 2 - CRDT_SIG_LEN;
  uint8_t *m = malloc(dl + body);
  if (!m)
    die("%s", "out of memory");
  memcpy(m, d, dl);
  memcpy(m + dl, raw, body);
  m[dl] = 0x97;
  crdt_sign(e->sign_sk, m, dl + body, raw + n - CRDT_SIG_LEN);
  free(m);
}

static void build_change(evil *e, char *spec)
{
  crdt_change c;
  crdt_op ops[16];
  size_t nops = 0;
  const char *scope = NULL, *seqs = "next", *prevs = "chain", *hlcs = "now",
             *sigs = "ok";
  size_t want = 0;
  memset(&c, 0, sizeof c);
  for (char *kv; (kv = strsep(&spec, ","));) {
    char *v = strchr(kv, '=');
    if (!v)
      die("bad change field '%s'", kv);
    *v++ = '\0';
    if (strcmp(kv, "scope") == 0)
      scope = v;
    else if (strcmp(kv, "seq") == 0)
      seqs = v;
    else if (strcmp(kv, "prev") == 0)
      prevs = v;
    else if (strcmp(kv, "hlc") == 0)
      hlcs = v;
    else if (strcmp(kv, "sig") == 0)
      sigs = v;
    else if (strcmp(kv, "size") == 0)
      want = strtoul(v, NULL, 10);
    else if (strcmp(kv, "op") == 0 && strcmp(v, "claim") == 0 && nops < 12)
      nops += claim_ops(e, ops + nops);
    else if (strcmp(kv, "op") == 0 && nops < 16)
      parse_op(v, &ops[nops++]);
    else
      die("unknown change field '%s'", kv);
  }
  if (!scope)
    die("%s", "a change needs scope=");
  memcpy(c.origin, e->sign_pk, CRDT_KEY_LEN);
  c.scope = scope;
  c.scope_len = strlen(scope);
  uint8_t feed[CRDT_FEED_LEN], head[CRDT_HASH_LEN] = {0};
  uint64_t hseq = 0;
  crdt_feed_id(c.origin, c.scope, c.scope_len, feed);
  bool have = feed_head(e, feed, &hseq, head);
  c.seq = strcmp(seqs, "next") == 0 ? hseq + 1 : strtoull(seqs, NULL, 10);
  if (strcmp(prevs, "chain") == 0 && have && c.seq > 1)
    memcpy(c.prev, head, CRDT_HASH_LEN);
  else if (strcmp(prevs, "rand") == 0)
    crdt_random(c.prev, sizeof c.prev);
  uint64_t t = now_ms();
  if (strcmp(hlcs, "max") == 0)
    c.hlc = CRDT_HLC_LIMIT - 1;
  else if (hlcs[0] == '+')
    c.hlc = CRDT_HLC_MAKE(t + strtoull(hlcs + 1, NULL, 10), 0);
  else if (hlcs[0] == '-')
    c.hlc = CRDT_HLC_MAKE(t - strtoull(hlcs + 1, NULL, 10), 0);
  else if (strcmp(hlcs, "now") == 0)
    c.hlc = CRDT_HLC_MAKE(t, 0);
  else
    c.hlc = CRDT_HLC_MAKE(strtoull(hlcs, NULL, 10), 0);
  c.ops = ops;
  c.nops = nops;
  uint8_t *raw;
  size_t n;
  gs_err err = crdt_change_build(&c, e->sign_sk, &raw, &n);
  /* size=N: the last op's text (type n) grows or shrinks until the
   * encoded change is exactly N bytes */
  for (int tries = 0; !err && want && n != want && tries < 8; tries++) {
    crdt_value *v = &ops[nops ? nops - 1 : 0].value;
    if (!nops || v->u.s.p != long_text)
      die("%s", "size= needs a last op of type n");
    long len = (long)v->u.s.n + (long)want - (long)n;
    if (len < 0 || len > CRDT_TEXT_MAX)
      die("%s", "size= cannot be reached");
    v->u.s.n = (size_t)len;
    free(raw);
    err = crdt_change_build(&c, e->sign_sk, &raw, &n);
  }
  if (err)
    die("cannot build the change: %s", gs_strerror(err));
  if (want && n != want)
    die("%s", "size= cannot be reached");
  if (strcmp(sigs, "bad") == 0)
    raw[n - 1] ^= 0x01; /* the signature is the change's last field */
  else if (strcmp(sigs, "ok") != 0)
    resign(e, sigs, raw, n);
  if (e->nbuilt == e->capbuilt) {
    e->capbuilt = e->capbuilt ? 2 * e->capbuilt : 64;
    e->builts = realloc(e->builts, e->capbuilt * sizeof *e->builts);
    if (!e->builts)
      die("%s", "out of memory");
  }
  built *b = &e->builts[e->nbuilt++];
  memcpy(b->feed, feed, CRDT_FEED_LEN);
  b->seq = c.seq;
  crdt_change_hash_raw(raw, n, b->hash);
  stage_change(e, raw, n);
}

static void build_feeds(evil *e, const char *arg)
{
  char *colon;
  unsigned long count = strtoul(arg, &colon, 10);
  if (*colon != ':')
    die("--feeds '%s' is not N:PREFIX", arg);
  const char *prefix = colon + 1;
  uint8_t id[CRDT_ID_LEN];
  for (unsigned long i = 0; i < count; i++) {
    char scope[CRDT_SCOPE_MAX + 1];
    snprintf(scope, sizeof scope, "%s/f%lu", prefix, i);
    crdt_change c;
    memset(&c, 0, sizeof c);
    crdt_id_new(now_ms(), NULL, id);
    crdt_op op = {.kind = CRDT_OP_SET, .coll = "x_flood", .coll_len = 7,
                  .field = "n", .field_len = 1,
                  .value = {.type = CRDT_INT, .u.i = (int64_t)i}};
    memcpy(op.id, id, CRDT_ID_LEN);
    memcpy(c.origin, e->sign_pk, CRDT_KEY_LEN);
    c.scope = scope;
    c.scope_len = strlen(scope);
    c.seq = 1;
    c.hlc = CRDT_HLC_MAKE(now_ms(), 0);
    c.ops = &op;
    c.nops = 1;
    uint8_t *raw;
    size_t n;
    if (crdt_change_build(&c, e->sign_sk, &raw, &n) != GS_OK)
      die("%s", "cannot build a flood change");
    stage_change(e, raw, n);
  }
  flush_stage(e);
}

/* Every change the node of dir holds, as is (replays: all duplicates to a
 * peer that has them). */
static int on_replay_raw(void *ctx, uint64_t seq, const uint8_t *bytes,
                         size_t n)
{
  evil *e = ctx;
  uint8_t *copy = malloc(n);
  if (!copy)
    return 1;
  memcpy(copy, bytes, n);
  stage_change(e, copy, n);
  return 0;
}

typedef struct feedlist {
  store_feed *v;
  size_t n, cap;
} feedlist;

static int on_replay_feed(void *ctx, const store_feed *f)
{
  feedlist *l = ctx;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    if (!(l->v = realloc(l->v, l->cap * sizeof *l->v)))
      return 1;
  }
  l->v[l->n++] = *f;
  return 0;
}

static void build_replay(evil *e, const char *dir)
{
  store *st;
  feedlist l = {0};
  if (open_store_of(dir, &st) != GS_OK)
    die("cannot open the store in %s", dir);
  store_feeds(st, on_replay_feed, &l);
  for (size_t i = 0; i < l.n; i++)
    store_feed_read(st, l.v[i].feed, 1, l.v[i].seq, on_replay_raw, e);
  flush_stage(e);
  free(l.v);
  store_close(st);
}

static void build_vvflood(evil *e, unsigned long pages)
{
  net_vv_entry *v = calloc(NET_VV_PAGE, sizeof *v);
  if (!v)
    die("%s", "out of memory");
  for (unsigned long p = 0; p < pages; p++) {
    for (size_t i = 0; i < NET_VV_PAGE; i++) {
      crdt_random(v[i].feed, CRDT_FEED_LEN);
      v[i].seq = 1 + (uint64_t)i;
    }
    uint8_t *m;
    size_t n;
    if (net_msg_vv(v, NET_VV_PAGE, true, &m, &n) != GS_OK)
      die("%s", "cannot encode a VV page");
    push_msg(e, m, n, false);
  }
  free(v);
}

/* [9, frame]: a zstd frame that says it holds 8 MiB of a CHANGES message. */
static void build_packed_bomb(evil *e)
{
  size_t big = 8u << 20;
  uint8_t *plain = calloc(1, big);
  size_t cap = ZSTD_compressBound(big);
  uint8_t *z = malloc(cap);
  if (!plain || !z)
    die("%s", "out of memory");
  plain[0] = 0x92; /* [2, [...]] */
  plain[1] = 0x02;
  plain[2] = 0xdd; /* array32 of many nils */
  plain[3] = 0x00;
  plain[4] = 0x7f;
  size_t zn = ZSTD_compress(z, cap, plain, big, 19);
  if (ZSTD_isError(zn) || zn + 16 > NET_MSG_MAX)
    die("%s", "cannot make the bomb");
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_uint8(&pk, NET_MSG_PACKED);
  msgpack_pack_bin(&pk, zn);
  msgpack_pack_bin_body(&pk, z, zn);
  uint8_t *m = malloc(sb.size);
  if (!m)
    die("%s", "out of memory");
  memcpy(m, sb.data, sb.size);
  push_msg(e, m, sb.size, false);
  msgpack_sbuffer_destroy(&sb);
  free(plain);
  free(z);
}

static void add_hex_msg(evil *e, const char *h)
{
  size_t n = strlen(h) / 2;
  uint8_t *m = malloc(n ? n : 1);
  if (!m)
    die("%s", "out of memory");
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(h + 2 * i, "%2x", &v) != 1)
      die("bad hex in --msg '%s'", h);
    m[i] = (uint8_t)v;
  }
  push_msg(e, m, n, false);
}

/* ---- session ---- */

static void stop(evil *e)
{
  e->nsessions = e->nstarted; /* start no more */
  for (size_t i = 0; i < e->nstarted; i++)
    if (e->sessions[i].p && !e->sessions[i].closed)
      net_peer_close(e->sessions[i].p, GS_OK, "done");
  uv_timer_stop(&e->timer);
  uv_timer_stop(&e->linger);
  if (e->listen && !uv_is_closing((uv_handle_t *)&e->server))
    uv_close((uv_handle_t *)&e->server, NULL);
}

static void on_linger(uv_timer_t *t)
{
  stop(t->data);
}

static void maybe_done(evil *e)
{
  if (e->nsessions != 1 || e->next < e->nmsgs || e->inflight ||
      e->pings_sent < e->pings)
    return;
  if (!e->nmsgs && !e->pings && !e->done_recv)
    return; /* listening: until the peer says it sent all (DONE) */
  if (!uv_is_active((uv_handle_t *)&e->linger))
    uv_timer_start(&e->linger, on_linger, e->linger_ms, 0);
}

static void pump(evil *e)
{
  net_peer *p = e->sessions[0].p;
  if (!p || e->sessions[0].closed || !net_peer_is_open(p))
    return;
  while (e->next < e->nmsgs && net_peer_writable(p)) {
    outmsg *m = &e->msgs[e->next];
    if (m->changes && e->inflight >= WINDOW)
      break;
    if (net_peer_send(p, m->p, m->n) != GS_OK)
      return;
    e->sent_msgs++;
    e->inflight += m->changes;
    e->next++;
  }
  uint8_t *m;
  size_t n;
  while (e->next >= e->nmsgs && e->pings_sent < e->pings &&
         net_peer_writable(p)) {
    if (net_msg_ping(false, e->pings_sent, &m, &n) != GS_OK)
      return;
    gs_err err = net_peer_send(p, m, n);
    free(m);
    if (err)
      return;
    e->pings_sent++;
  }
  maybe_done(e);
}

static void start_next(evil *e);

/* --ready: one line on stdout once the attack is under way (every session
 * tried and settled), so the driver acts while it lasts. */
static void say_ready(evil *e)
{
  if (!e->ready_flag || e->said_ready)
    return;
  e->said_ready = true;
  printf("ready\n");
  fflush(stdout);
}

static void check_ready(evil *e)
{
  if (e->nstarted < e->nsessions)
    return;
  for (size_t i = 0; i < e->nstarted; i++)
    if (!e->sessions[i].opened && !e->sessions[i].closed)
      return;
  say_ready(e);
}

static void on_open(net_peer *p)
{
  sess *s = net_peer_data(p);
  evil *e = s->e;
  s->opened = true;
  e->opened = true;
  start_next(e);
  check_ready(e);
  if (!e->no_vv) {
    uint8_t *m;
    size_t n;
    if (net_msg_vv(NULL, 0, false, &m, &n) == GS_OK) {
      net_peer_send(p, m, n);
      free(m);
    }
  }
  if (e->pings)
    net_peer_pause(p, true); /* never read the PONGs */
  if (e->nsessions == 1)
    pump(e);
}

static void count_changes(evil *e, const net_msg *m)
{
  for (size_t i = 0; i < m->u.changes.n; i++) {
    crdt_change *c;
    e->recv_changes++;
    if (crdt_change_decode(m->u.changes.changes[i].p,
                           m->u.changes.changes[i].n, &c) != GS_OK)
      continue;
    char scope[CRDT_SCOPE_MAX + 1];
    memcpy(scope, c->scope, c->scope_len);
    scope[c->scope_len] = '\0';
    if (strcmp(scope, "_net") == 0)
      e->recv_net++;
    json_t *v = json_object_get(e->scopes, scope);
    json_object_set_new(e->scopes, scope,
                        json_integer(v ? json_integer_value(v) + 1 : 1));
    crdt_change_free(c);
  }
}

static void on_msg(net_peer *p, const uint8_t *buf, size_t n)
{
  sess *s = net_peer_data(p);
  evil *e = s->e;
  net_msg m;
  e->recv_msgs++;
  if (net_msg_decode(buf, n, &m) != GS_OK) {
    net_msg_free(&m);
    return;
  }
  uint8_t *out;
  size_t on;
  switch (m.type) {
  case NET_MSG_VV:
    e->recv_vv_entries += m.u.vv.n;
    break;
  case NET_MSG_PACKED: {
    static uint8_t unbuf[NET_MSG_MAX];
    net_msg inner;
    if (net_msg_unpack(&m, unbuf, &inner) == GS_OK)
      count_changes(e, &inner);
    net_msg_free(&inner);
    if (net_msg_ack(0, 0, &out, &on) == GS_OK) {
      net_peer_send(p, out, on);
      free(out);
    }
    break;
  }
  case NET_MSG_CHANGES:
    count_changes(e, &m);
    if (net_msg_ack(0, 0, &out, &on) == GS_OK) {
      net_peer_send(p, out, on);
      free(out);
    }
    break;
  case NET_MSG_ACK:
    e->acks++;
    e->applied += m.u.ack.applied;
    e->dups += m.u.ack.duplicates;
    if (e->inflight)
      e->inflight--;
    break;
  case NET_MSG_ERROR:
    e->peer_error = true;
    snprintf(e->error, sizeof e->error, "%.*s", (int)m.u.error.reason.n,
             (const char *)m.u.error.reason.p);
    break;
  case NET_MSG_DONE:
    e->done_recv = true;
    break;
  case NET_MSG_PONG:
    e->pongs++;
    break;
  case NET_MSG_PING:
    if (net_msg_ping(true, m.u.nonce, &out, &on) == GS_OK) {
      net_peer_send(p, out, on);
      free(out);
    }
    break;
  default:
    break;
  }
  net_msg_free(&m);
  if (e->nsessions == 1)
    pump(e);
}

static void on_drain(net_peer *p)
{
  sess *s = net_peer_data(p);
  if (s->e->nsessions == 1)
    pump(s->e);
}

static void on_close(net_peer *p, gs_err why, const char *reason)
{
  sess *s = net_peer_data(p);
  evil *e = s->e;
  s->closed = true;
  s->p = NULL;
  if (why != GS_OK && !e->closed) {
    e->closed = true;
    snprintf(e->close_reason, sizeof e->close_reason, "%s", reason);
  }
  start_next(e);
  check_ready(e);
  bool all = e->nstarted == e->nsessions;
  for (size_t i = 0; i < e->nstarted; i++)
    all = all && e->sessions[i].closed;
  if (all)
    stop(e);
}

static const net_peer_cbs cbs = {on_open, on_msg, on_drain, on_close};

/* Sessions open a few at a time (a node refuses more than a few
 * handshakes at once from one address, but not established sessions). */
#define RAMP 3
static void start_next(evil *e)
{
  if (e->listen)
    return;
  size_t pending = 0;
  for (size_t i = 0; i < e->nstarted; i++)
    pending += !e->sessions[i].opened && !e->sessions[i].closed;
  while (e->nstarted < e->nsessions && pending < RAMP) {
    sess *s = &e->sessions[e->nstarted++];
    s->e = e;
    if (net_peer_connect(&e->loop, (struct sockaddr *)&e->to, &e->id,
                         &e->popts, &cbs, s, &s->p) != GS_OK)
      s->closed = true;
    else
      pending++;
  }
}

static void on_timeout(uv_timer_t *t)
{
  stop(t->data);
}

/* --listen: the office connects to us (we are in its address book); one
 * session, as the responder. */
static void on_conn(uv_stream_t *server, int status)
{
  evil *e = server->data;
  if (status < 0 || e->nstarted)
    return;
  sess *s = &e->sessions[e->nstarted++];
  s->e = e;
  if (net_peer_accept(server, &e->id, &e->popts, &cbs, s, &s->p) != GS_OK)
    s->closed = true;
}

static void start_listening(evil *e)
{
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof got;
  char host[64];
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&e->loop, &e->server);
  e->server.data = e;
  if (uv_tcp_bind(&e->server, (const struct sockaddr *)&a, 0) != 0 ||
      uv_listen((uv_stream_t *)&e->server, 8, on_conn) != 0 ||
      uv_tcp_getsockname(&e->server, (struct sockaddr *)&got, &len) != 0)
    die("%s", "cannot listen on 127.0.0.1");
  uv_ip4_name((const struct sockaddr_in *)&got, host, sizeof host);
  printf("listening %s:%d\n", host,
         ntohs(((const struct sockaddr_in *)&got)->sin_port));
  fflush(stdout);
  e->said_ready = true; /* that line is the ready line */
}

static int run_sessions(evil *e)
{
  uv_loop_init(&e->loop);
  uv_timer_init(&e->loop, &e->timer);
  uv_timer_init(&e->loop, &e->linger);
  e->timer.data = e->linger.data = e;
  e->popts = (net_peer_opts){.handshake_ms = 10000,
                              .idle_ms = e->ms + 5000, .keepalive_ms = 20000,
                              .high_water = 1 << 20, .hard_limit = 64 << 20};
  if (e->listen)
    start_listening(e);
  else
    start_next(e);
  uv_timer_start(&e->timer, on_timeout, e->ms, 0);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&e->timer, NULL);
  uv_close((uv_handle_t *)&e->linger, NULL);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  size_t opened = 0, open_at_end = 0;
  for (size_t i = 0; i < e->nsessions; i++) {
    opened += e->sessions[i].opened;
    open_at_end += e->sessions[i].opened && !e->sessions[i].closed;
  }
  json_t *o2 = json_pack(
      "{s:b, s:b, s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
      "s:I, s:I, s:I, s:I, s:O}",
      "opened", e->opened, "closed", e->closed, "close_reason",
      e->close_reason, "peer_error", e->peer_error, "error", e->error, "acks",
      (json_int_t)e->acks, "applied", (json_int_t)e->applied, "dups",
      (json_int_t)e->dups, "sent_msgs", (json_int_t)e->sent_msgs,
      "recv_msgs", (json_int_t)e->recv_msgs, "recv_changes",
      (json_int_t)e->recv_changes, "recv_net", (json_int_t)e->recv_net,
      "recv_vv_entries", (json_int_t)e->recv_vv_entries, "pongs",
      (json_int_t)e->pongs, "pings_sent", (json_int_t)e->pings_sent,
      "sessions_opened", (json_int_t)opened,
      "sessions_open_at_end", (json_int_t)open_at_end, "scopes", e->scopes);
  char *txt = json_dumps(o2, JSON_COMPACT);
  printf("%s\n", txt);
  free(txt);
  json_decref(o2);
  return uv_loop_close(&e->loop) == 0 ? 0 : 1;
}

/* ---- raw: below the handshake ---- */

static int raw_connect(const evil *e, const char *bind_ip)
{
  int fd = socket(e->to.ss_family, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (bind_ip) {
    struct sockaddr_in b = {.sin_family = AF_INET};
    inet_pton(AF_INET, bind_ip, &b.sin_addr);
    if (bind(fd, (struct sockaddr *)&b, sizeof b) != 0) {
      close(fd);
      return -1;
    }
  }
  socklen_t len = e->to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
  if (connect(fd, (const struct sockaddr *)&e->to, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Wait until the server closes fd (true) or ms pass (false). */
static bool wait_closed(int fd, uint64_t ms)
{
  uint64_t end = mono_ms() + ms;
  uint8_t buf[4096];
  for (;;) {
    uint64_t t = mono_ms();
    if (t >= end)
      return false;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = poll(&pf, 1, (int)(end - t));
    if (r <= 0)
      continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return true;
  }
}

static ssize_t read_frame(int fd, uint8_t *buf, size_t cap, uint64_t ms)
{
  size_t got = 0, want = 4;
  uint64_t end = mono_ms() + ms;
  while (got < want) {
    uint64_t t = mono_ms();
    if (t >= end)
      return -1;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, (int)(end - t)) <= 0)
      continue;
    ssize_t n = recv(fd, buf + got, want - got, 0);
    if (n <= 0)
      return -1;
    got += (size_t)n;
    if (got == 4 && want == 4) {
      want = 4 + ((size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
                  (size_t)buf[2] << 8 | buf[3]);
      if (want > cap)
        return -1;
    }
  }
  return (ssize_t)(want - 4);
}

static void send_frame(int fd, const uint8_t *body, size_t n)
{
  uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  send(fd, hdr, 4, MSG_NOSIGNAL | MSG_MORE);
  send(fd, body, n, MSG_NOSIGNAL);
}

/* The whole handshake by hand (today's pattern, RAW_PATTERN), our
 * payload claiming protocol version; true when the responder's
 * confirmation decrypts: *tx and *rx are then the transport ciphers
 * (caller frees). */
static bool raw_handshake(evil *e, int fd, uint64_t version,
                          net_noise_cs **tx, net_noise_cs **rx)
{
  static uint8_t frame[4 + NET_NOISE_MSG_MAX], pl[NET_NOISE_MSG_MAX];
  net_noise_hs *hs;
  size_t len, pn;
  bool ok = false;
  *tx = *rx = NULL;
  if (net_noise_hs_new(&hs, RAW_PATTERN, true, (const uint8_t *)RAW_PROLOGUE,
                       strlen(RAW_PROLOGUE), e->id.dh_sk, NULL,
                       e->id.psk) != GS_OK)
    die("%s", "cannot start a handshake");
  if (net_noise_hs_write(hs, NULL, 0, frame, NET_NOISE_MSG_MAX, &len) != GS_OK)
    goto out;
  send_frame(fd, frame, len);
  ssize_t fl = read_frame(fd, frame, sizeof frame, e->ms);
  if (fl <= 0 || net_noise_hs_read(hs, frame + 4, (size_t)fl, pl, sizeof pl,
                                   &pn) != GS_OK)
    goto out;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 2);
  msgpack_pack_uint64(&pk, version);
  msgpack_pack_bin(&pk, CRDT_KEY_LEN);
  msgpack_pack_bin_body(&pk, e->id.sign_pk, CRDT_KEY_LEN);
  gs_err err = net_noise_hs_write(hs, (const uint8_t *)sb.data, sb.size,
                                  frame, NET_NOISE_MSG_MAX, &len);
  msgpack_sbuffer_destroy(&sb);
  if (err)
    goto out;
  send_frame(fd, frame, len);
  if (net_noise_hs_split(hs, tx, rx) != GS_OK)
    goto out;
  fl = read_frame(fd, frame, sizeof frame, e->ms);
  ok = fl > 0 && net_noise_cs_decrypt(*rx, frame + 4, (size_t)fl, pl,
                                      sizeof pl, &pn) == GS_OK;
out:
  net_noise_hs_free(hs);
  if (!ok) {
    net_noise_cs_free(*tx);
    net_noise_cs_free(*rx);
    *tx = *rx = NULL;
  }
  return ok;
}

/* After a raw handshake: send what an honest transport never would. */
static bool raw_after(evil *e, int fd, const char *what, json_t *o)
{
  net_noise_cs *tx, *rx;
  uint64_t version = strcmp(what, "version") == 0 ? e->raw_version
                                                  : NET_PROTOCOL_VERSION;
  bool confirmed = raw_handshake(e, fd, version, &tx, &rx);
  json_object_set_new(o, "confirmed", json_boolean(confirmed));
  if (!confirmed)
    return wait_closed(fd, e->ms);
  uint8_t *m, ct[NET_NOISE_MSG_MAX];
  size_t n, cn;
  if (net_msg_vv(NULL, 0, false, &m, &n) != GS_OK ||
      net_noise_cs_encrypt(tx, m, n, ct, sizeof ct, &cn) != GS_OK)
    die("%s", "cannot encrypt");
  free(m);
  if (strcmp(what, "version") == 0 || strcmp(what, "valid") == 0) {
    send_frame(fd, ct, cn); /* as if it were accepted; valid: the control */
  } else if (strcmp(what, "tamper") == 0) {
    ct[cn / 2] ^= 0x40;
    send_frame(fd, ct, cn);
  } else if (strcmp(what, "replay") == 0) {
    send_frame(fd, ct, cn);
    send_frame(fd, ct, cn); /* the same frame again */
  } else if (strcmp(what, "bigafter") == 0) {
    uint8_t hdr[4] = {0x00, 0xff, 0xff, 0xff};
    send(fd, hdr, 4, MSG_NOSIGNAL);
  } else if (strcmp(what, "plain") == 0) {
    send_frame(fd, ct, cn);
    uint8_t ping[3] = {0x92, 0x05, 0x01}; /* [5, 1] unencrypted */
    send_frame(fd, ping, sizeof ping);
  }
  net_noise_cs_free(tx);
  net_noise_cs_free(rx);
  return wait_closed(fd, e->ms);
}

static int run_raw(evil *e, const char *what, size_t conns,
                   const char *bind_ip)
{
  json_t *o = json_object();
  uint64_t t0 = mono_ms();
  if (strcmp(what, "stall") == 0) {
    int fds[MAX_SESSIONS];
    size_t k = 0;
    for (size_t i = 0; i < conns && i < MAX_SESSIONS; i++)
      if ((fds[k] = raw_connect(e, bind_ip)) >= 0)
        k++;
    json_object_set_new(o, "connected", json_integer((json_int_t)k));
    say_ready(e);
    /* hold them, sending nothing; one the server closes (a handshake
     * time-out) is opened again at once, as a real attacker would */
    uint64_t end = t0 + e->ms;
    size_t closed = 0;
    while (mono_ms() < end) {
      for (size_t i = 0; i < k; i++) {
        struct pollfd pf = {.fd = fds[i], .events = POLLIN};
        uint8_t b[256];
        if (fds[i] >= 0 && poll(&pf, 1, 0) > 0 &&
            recv(fds[i], b, sizeof b, 0) <= 0) {
          close(fds[i]);
          fds[i] = -1;
          closed++;
        }
        if (fds[i] < 0)
          fds[i] = raw_connect(e, bind_ip);
      }
      usleep(20000);
    }
    for (size_t i = 0; i < k; i++)
      if (fds[i] >= 0)
        close(fds[i]);
    json_object_set_new(o, "closed_by_server",
                        json_integer((json_int_t)closed));
  } else {
    int fd = raw_connect(e, bind_ip);
    if (fd < 0)
      die("cannot connect for '%s'", what);
    bool closed = false;
    if (strcmp(what, "garbage") == 0) {
      uint8_t junk[4096];
      crdt_random(junk, sizeof junk);
      junk[0] = 0;
      junk[1] = 0; /* a plausible length first: the body is the garbage */
      for (int i = 0; i < 16 && send(fd, junk, sizeof junk, MSG_NOSIGNAL) > 0;
           i++)
        ;
      closed = wait_closed(fd, e->ms);
    } else if (strcmp(what, "version") == 0 || strcmp(what, "valid") == 0 ||
               strcmp(what, "tamper") == 0 ||
               strcmp(what, "replay") == 0 || strcmp(what, "bigafter") == 0 ||
               strcmp(what, "plain") == 0) {
      closed = raw_after(e, fd, what, o);
    } else if (strcmp(what, "short") == 0) {
      uint8_t f[9] = {0, 0, 0, 5, 1, 2, 3, 4, 5}; /* a 5-byte message 1 */
      send(fd, f, sizeof f, MSG_NOSIGNAL);
      closed = wait_closed(fd, e->ms);
    } else if (strcmp(what, "bigframe") == 0) {
      uint8_t hdr[8] = {0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4};
      send(fd, hdr, sizeof hdr, MSG_NOSIGNAL);
      closed = wait_closed(fd, e->ms);
    } else if (strcmp(what, "slow") == 0) {
      /* a first message of 32 bytes, one byte every 400 ms */
      uint8_t hdr[4] = {0, 0, 0, 32}, b;
      send(fd, hdr, sizeof hdr, MSG_NOSIGNAL);
      say_ready(e);
      uint64_t end = t0 + e->ms;
      while (!closed && mono_ms() < end) {
        crdt_random(&b, 1);
        if (send(fd, &b, 1, MSG_NOSIGNAL) != 1) {
          closed = true;
          break;
        }
        closed = wait_closed(fd, 400);
      }
    } else if (strcmp(what, "learnkey") == 0) {
      /* a stranger without the network key: message 1, then what does
       * message 2 reveal? */
      net_noise_hs *hs;
      uint8_t frame[4 + NET_NOISE_MSG_MAX], pl[NET_NOISE_MSG_MAX];
      size_t len, pn;
      if (net_noise_hs_new(&hs, RAW_PATTERN, true,
                           (const uint8_t *)RAW_PROLOGUE,
                           strlen(RAW_PROLOGUE), e->id.dh_sk, NULL,
                           e->id.psk) != GS_OK ||
          net_noise_hs_write(hs, NULL, 0, frame + 4, NET_NOISE_MSG_MAX,
                             &len) != GS_OK)
        die("%s", "cannot start a handshake");
      frame[0] = 0;
      frame[1] = 0;
      frame[2] = (uint8_t)(len >> 8);
      frame[3] = (uint8_t)len;
      send(fd, frame, 4 + len, MSG_NOSIGNAL);
      ssize_t fl = read_frame(fd, frame, sizeof frame, e->ms);
      json_object_set_new(o, "msg2", json_boolean(fl > 0));
      if (fl > 0 && net_noise_hs_read(hs, frame + 4, (size_t)fl, pl,
                                      sizeof pl, &pn) == GS_OK) {
        /* payload [version, Ed25519 key]: the responder's identity */
        msgpack_unpacked u;
        if (crdt_mp_unpack(pl, pn, 1, &u) == GS_OK &&
            u.data.type == MSGPACK_OBJECT_ARRAY &&
            u.data.via.array.size == 2) {
          uint8_t key[CRDT_KEY_LEN];
          if (crdt_mp_bin(&u.data.via.array.ptr[1], CRDT_KEY_LEN, key) ==
              GS_OK) {
            char t[CRDT_KEY_TEXT_LEN + 1];
            crdt_base32_encode(key, CRDT_KEY_LEN, t);
            json_object_set_new(o, "learnt_key", json_string(t));
          }
        }
        msgpack_unpacked_destroy(&u);
      }
      net_noise_hs_free(hs);
    } else {
      die("unknown raw attack '%s'", what);
    }
    json_object_set_new(o, "closed", json_boolean(closed));
    close(fd);
  }
  json_object_set_new(o, "ms", json_integer((json_int_t)(mono_ms() - t0)));
  char *txt = json_dumps(o, JSON_COMPACT);
  printf("%s\n", txt);
  free(txt);
  json_decref(o);
  return 0;
}

int main(int argc, char **argv)
{
  static evil ev;
  evil *e = &ev;
  const char *to = NULL, *raw = NULL, *bind_ip = NULL;
  size_t conns = 1;
  bool have_id = false;
  if (crdt_crypto_init() != GS_OK)
    return 2;
  signal(SIGPIPE, SIG_IGN); /* a peer that hangs up must not kill us */
  memset(long_text, 'a', CRDT_TEXT_MAX);
  e->ms = 5000;
  e->linger_ms = 300;
  e->nsessions = 1;
  e->raw_version = 1;
  e->scopes = json_object();
  e->msgs = calloc(MAX_MSGS, sizeof *e->msgs);
  if (!e->msgs)
    return 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                 \
  do {                                                                         \
    if (!v)                                                                    \
      die("%s needs a value", a);                                              \
    i++;                                                                       \
  } while (0)
    if (strcmp(a, "--to") == 0) {
      NEED();
      to = v;
    } else if (strcmp(a, "--dir") == 0) {
      NEED();
      identity_of(e, v, true, true);
      set_signer(e, v);
      have_id = true;
    } else if (strcmp(a, "--psk-of") == 0) {
      NEED();
      identity_of(e, v, false, true);
      have_id = true;
    } else if (strcmp(a, "--stranger") == 0) {
      stranger(e);
      have_id = true;
    } else if (strcmp(a, "--sign") == 0) {
      NEED();
      set_signer(e, v);
    } else if (strcmp(a, "--change") == 0) {
      NEED();
      char *spec = strdup(v); /* ops borrow from it: kept to the end */
      if (!spec || e->nspecs == MAX_MSGS)
        return 2;
      e->specs[e->nspecs++] = spec;
      build_change(e, spec);
    } else if (strcmp(a, "--flush") == 0) {
      flush_stage(e);
    } else if (strcmp(a, "--feeds") == 0) {
      NEED();
      flush_stage(e);
      build_feeds(e, v);
    } else if (strcmp(a, "--msg") == 0) {
      NEED();
      flush_stage(e);
      add_hex_msg(e, v);
    } else if (strcmp(a, "--replay") == 0) {
      NEED();
      flush_stage(e);
      build_replay(e, v);
    } else if (strcmp(a, "--vvflood") == 0) {
      NEED();
      flush_stage(e);
      build_vvflood(e, strtoul(v, NULL, 10));
    } else if (strcmp(a, "--pings") == 0) {
      NEED();
      e->pings = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--packed-bomb") == 0) {
      flush_stage(e);
      build_packed_bomb(e);
    } else if (strcmp(a, "--sessions") == 0) {
      NEED();
      e->nsessions = strtoul(v, NULL, 10);
      if (e->nsessions < 1 || e->nsessions > MAX_SESSIONS)
        die("--sessions %s: 1 to 256", v);
    } else if (strcmp(a, "--listen") == 0) {
      e->listen = true;
    } else if (strcmp(a, "--ready") == 0) {
      e->ready_flag = true;
    } else if (strcmp(a, "--no-vv") == 0) {
      e->no_vv = true;
    } else if (strcmp(a, "--linger") == 0) {
      NEED();
      e->linger_ms = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--ms") == 0) {
      NEED();
      e->ms = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--raw") == 0) {
      NEED();
      raw = v;
    } else if (strcmp(a, "--version") == 0) {
      NEED();
      e->raw_version = strtoull(v, NULL, 10);
    } else if (strcmp(a, "--conns") == 0) {
      NEED();
      conns = strtoul(v, NULL, 10);
    } else if (strcmp(a, "--bind") == 0) {
      NEED();
      bind_ip = v;
    } else {
      die("unknown argument '%s'", a);
    }
#undef NEED
  }
  flush_stage(e);
  if (!e->listen && (!to || node_parse_addr(to, &e->to) != GS_OK))
    die("%s", "give --to HOST:PORT");
  if (!have_id)
    stranger(e);
  int rc = raw ? run_raw(e, raw, conns, bind_ip) : run_sessions(e);
  for (size_t i = 0; i < e->nmsgs; i++)
    free(e->msgs[i].p);
  free(e->msgs);
  free(e->builts);
  for (size_t i = 0; i < e->nspecs; i++)
    free(e->specs[i]);
  for (size_t i = 0; i < 4; i++)
    free(e->claim_val[i]);
  json_decref(e->scopes);
  if (e->sign_st)
    store_close(e->sign_st);
  net_identity_wipe(&e->id);
  crdt_wipe(e->sign_sk, sizeof e->sign_sk);
  return rc;
}
