/*
 * Group commit on the receiving side (issue 20): received CHANGES
 * messages are applied in one transaction and acknowledged only after
 * it; a group whose commit fails part-way leaves nothing.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "net/msg.h"
#include "net/sync.h"
#include "storage/store.h"

/* ---- in-memory transport ---- */

typedef struct qmsg {
  struct qmsg *next;
  size_t n;
  uint8_t data[];
} qmsg;

typedef struct queue {
  qmsg *head, *tail;
  size_t n, max_n;
} queue;

static gs_err q_send(void *ctx, const uint8_t *m, size_t n)
{
  queue *q = ctx;
  qmsg *e = malloc(sizeof *e + n);
  cr_assert_not_null(e);
  e->next = NULL;
  e->n = n;
  memcpy(e->data, m, n);
  if (q->tail)
    q->tail->next = e;
  else
    q->head = e;
  q->tail = e;
  if (++q->n > q->max_n)
    q->max_n = q->n;
  return GS_OK;
}

static qmsg *q_pop(queue *q)
{
  qmsg *e = q->head;
  if (e) {
    q->head = e->next;
    if (!q->head)
      q->tail = NULL;
    q->n--;
  }
  return e;
}

static void q_clear(queue *q)
{
  qmsg *e;
  while ((e = q_pop(q)))
    free(e);
  q->max_n = 0;
}

/* ---- nodes ---- */

typedef struct tnode {
  char dir[256];
  store *st;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
  uint64_t clock;
} tnode;

static void tnode_open(tnode *t)
{
  snprintf(t->dir, sizeof t->dir, "/tmp/gs-sync-XXXXXX");
  cr_assert_not_null(mkdtemp(t->dir));
  cr_assert_eq(store_open(t->dir, STORE_CREATE | STORE_NOSYNC, &t->st),
               GS_OK);
  crdt_keypair(t->pk, t->sk);
  t->clock = 1790000000000ULL;
}

static void tnode_close(tnode *t)
{
  char cmd[300];
  store_close(t->st);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
  cr_assert_eq(system(cmd), 0);
}

/* Write `n` changes of `per` records each to scope; record ids come from
 * idseed so two nodes can edit the same records. */
static void write_changes(tnode *t, const char *scope, size_t n, size_t per,
                          uint8_t idseed, const char *value)
{
  store_write *w;
  cr_assert_eq(store_write_begin(t->st, t->sk, &w), GS_OK);
  for (size_t c = 0; c < n; c++) {
    crdt_op ops[64];
    cr_assert_leq(per, 64);
    for (size_t i = 0; i < per; i++) {
      crdt_op *op = &ops[i];
      memset(op, 0, sizeof *op);
      op->kind = CRDT_OP_SET;
      op->coll = "resident";
      op->coll_len = 8;
      memset(op->id, idseed, CRDT_ID_LEN);
      op->id[14] = (uint8_t)(c >> 8), op->id[15] = (uint8_t)c;
      op->id[13] = (uint8_t)i;
      op->field = "name";
      op->field_len = 4;
      op->value.type = CRDT_STR;
      op->value.u.s.p = value;
      op->value.u.s.n = strlen(value);
    }
    cr_assert_eq(store_write_change(w, scope, strlen(scope), ops, per,
                                    t->clock++, NULL, NULL),
                 GS_OK);
  }
  cr_assert_eq(store_write_commit(w), GS_OK);
}

static void digest_of(tnode *t, uint8_t d[CRDT_HASH_LEN])
{
  cr_assert_eq(store_digest(t->st, "", 0, d, NULL), GS_OK);
}

static size_t nchanges(tnode *t)
{
  store_stats st;
  cr_assert_eq(store_stats_get(t->st, &st), GS_OK);
  return st.changes;
}

/* A session pair: a's messages go to qa (read by b) and back. */
typedef struct slink {
  net_sync *a, *b;
  queue qa, qb;
  gs_err err_a, err_b;
  char why_a[200], why_b[200];
} slink;

/* Deliver up to max messages (0: until quiet). Returns messages moved. */
static size_t link_run(slink *l, size_t max)
{
  size_t moved = 0;
  while ((!max || moved < max) && !l->err_a && !l->err_b &&
         (l->qa.head || l->qb.head)) {
    qmsg *m;
    if ((m = q_pop(&l->qa))) {
      l->err_b = net_sync_on_msg(l->b, m->data, m->n, l->why_b,
                                 sizeof l->why_b);
      free(m);
      moved++;
    }
    if ((!max || moved < max) && !l->err_b && (m = q_pop(&l->qb))) {
      l->err_a = net_sync_on_msg(l->a, m->data, m->n, l->why_a,
                                 sizeof l->why_a);
      free(m);
      moved++;
    }
  }
  return moved;
}

static void link_close(slink *l)
{
  net_sync_free(l->a);
  net_sync_free(l->b);
  q_clear(&l->qa);
  q_clear(&l->qb);
}

static void sync_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(group, .init = sync_init, .timeout = 120);

/* ---- group commit (issue 20) ---- */

/* Messages of type t queued in q (not taken). */
static size_t q_count(const queue *q, net_msg_type t)
{
  size_t k = 0;
  for (const qmsg *e = q->head; e; e = e->next) {
    net_msg m;
    if (net_msg_decode(e->data, e->n, &m) == GS_OK) {
      k += m.type == t;
      net_msg_free(&m);
    }
  }
  return k;
}

/* a's side plain, b's side grouping: b's messages go to qb. */
static void link_open_grouped(slink *l, tnode *a, tnode *b)
{
  memset(l, 0, sizeof *l);
  net_sync_io ia = {.send = q_send, .ctx = &l->qa},
              ib = {.send = q_send, .ctx = &l->qb, .group = true};
  cr_assert_eq(net_sync_new(a->st, &ia, &l->a), GS_OK);
  cr_assert_eq(net_sync_new(b->st, &ib, &l->b), GS_OK);
  cr_assert_eq(net_sync_start(l->a), GS_OK);
  cr_assert_eq(net_sync_start(l->b), GS_OK);
}

/* Deliver what b sent to a (its VV, ACKs), then what a sent to b (what
 * one read might hold), without flushing b; returns the CHANGES
 * delivered. A message after them that is not CHANGES (it would flush)
 * stays queued. At most max CHANGES (0: all). */
static size_t deliver_window(slink *l, size_t max)
{
  size_t changes = 0;
  qmsg *m;
  while ((m = q_pop(&l->qb))) {
    cr_assert_eq(net_sync_on_msg(l->a, m->data, m->n, l->why_a,
                                 sizeof l->why_a),
                 GS_OK, "%s", l->why_a);
    free(m);
  }
  while ((!max || changes < max) && (m = q_pop(&l->qa))) {
    net_msg d;
    cr_assert_eq(net_msg_decode(m->data, m->n, &d), GS_OK);
    bool ch = d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED;
    net_msg_free(&d);
    if (!ch && changes) {
      m->next = l->qa.head;
      l->qa.head = m;
      if (!l->qa.tail)
        l->qa.tail = m;
      l->qa.n++;
      return changes;
    }
    cr_assert_eq(net_sync_on_msg(l->b, m->data, m->n, l->why_b,
                                 sizeof l->why_b),
                 GS_OK, "%s", l->why_b);
    free(m);
    changes += ch;
  }
  return changes;
}

/* The opening: each side's HELLO and version vector to the other, up to
 * the first CHANGES. */
static void handshake(slink *l)
{
  qmsg *m;
  while ((m = q_pop(&l->qb))) {
    cr_assert_eq(net_sync_on_msg(l->a, m->data, m->n, l->why_a,
                                 sizeof l->why_a),
                 GS_OK, "%s", l->why_a);
    free(m);
  }
  while (l->qa.head) {
    net_msg d;
    cr_assert_eq(net_msg_decode(l->qa.head->data, l->qa.head->n, &d), GS_OK);
    bool ch = d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED;
    net_msg_free(&d);
    if (ch)
      return;
    m = q_pop(&l->qa);
    cr_assert_eq(net_sync_on_msg(l->b, m->data, m->n, l->why_b,
                                 sizeof l->why_b),
                 GS_OK, "%s", l->why_b);
    free(m);
  }
}

Test(group, a_group_of_messages_is_one_transaction_acknowledged_after_it)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 600, 40, 0x41, "一位住在七号楼的老人");
  size_t total = nchanges(&a);
  slink l;
  link_open_grouped(&l, &a, &b);
  handshake(&l);
  size_t got = deliver_window(&l, 3);
  cr_assert_geq(got, 2, "one message is no group");
  cr_assert_lt(got, NET_SYNC_WINDOW, "a full window flushes by itself");
  /* decided, but neither stored nor acknowledged before the commit */
  cr_assert(net_sync_pending(l.b));
  cr_assert_eq(nchanges(&b), 0);
  cr_assert_eq(q_count(&l.qb, NET_MSG_ACK), 0, "an ACK before the commit");
  cr_assert_eq(net_sync_flush(l.b, l.why_b, sizeof l.why_b), GS_OK, "%s",
               l.why_b);
  cr_assert(!net_sync_pending(l.b));
  cr_assert_gt(nchanges(&b), 0);
  cr_assert_eq(net_sync_get_stats(l.b)->groups, 1, "one transaction");
  cr_assert_eq(q_count(&l.qb, NET_MSG_ACK), got, "one ACK per message");
  /* the rest, a window at a time */
  size_t msgs = got;
  for (int i = 0; i < 100 && (l.qa.head || l.qb.head); i++) {
    msgs += deliver_window(&l, 0);
    cr_assert_eq(net_sync_flush(l.b, l.why_b, sizeof l.why_b), GS_OK, "%s",
                 l.why_b);
  }
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_eq(nchanges(&b), total);
  const net_sync_stats *st = net_sync_get_stats(l.b);
  cr_assert_lt(st->groups, msgs, "%" PRIu64 " groups for %zu messages",
               st->groups, msgs);
  cr_assert(net_sync_caught_up(l.b));
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

Test(group, a_group_that_fails_half_way_leaves_nothing)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  write_changes(&a, "s/c/g01", 600, 40, 0x42, "一位住在七号楼的老人");
  size_t total = nchanges(&a);
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  digest_of(&b, before);
  slink l;
  link_open_grouped(&l, &a, &b);
  handshake(&l);
  size_t got = deliver_window(&l, 3);
  cr_assert_geq(got, 2);
  cr_assert_lt(got, NET_SYNC_WINDOW);
  cr_assert(net_sync_pending(l.b));
  /* the disk is full: the commit's writes fail part-way */
  char path[300];
  struct stat sb;
  snprintf(path, sizeof path, "%s/data.mdb", b.dir);
  cr_assert_eq(stat(path, &sb), 0);
  struct rlimit old, lim;
  cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  lim = old;
  lim.rlim_cur = (rlim_t)sb.st_size + 8192; /* a page or two more */
  signal(SIGXFSZ, SIG_IGN);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  gs_err e = net_sync_flush(l.b, l.why_b, sizeof l.why_b);
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  cr_assert_neq(e, GS_OK, "the commit could not have succeeded");
  cr_assert_eq(nchanges(&b), 0, "part of a failed group was stored");
  digest_of(&b, after);
  cr_assert_eq(memcmp(before, after, sizeof before), 0);
  cr_assert_eq(q_count(&l.qb, NET_MSG_ACK), 0, "a failed group was ACKed");
  link_close(&l);
  /* the next session brings everything */
  link_open_grouped(&l, &a, &b);
  for (int i = 0; i < 100 && (l.qa.head || l.qb.head); i++)
  {
    deliver_window(&l, 0);
    cr_assert_eq(net_sync_flush(l.b, l.why_b, sizeof l.why_b), GS_OK, "%s",
                 l.why_b);
  }
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_eq(nchanges(&b), total);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}
