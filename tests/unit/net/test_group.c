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

#include "tests/unit/net/sync_test_util.h"

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
    bool ch = d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED ||
              d.type == NET_MSG_FRAMES;
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
    bool ch = d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED ||
              d.type == NET_MSG_FRAMES;
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

/* The receiver bounds its group itself: whatever the peer sends and
 * however long it waits for a flush, a group never holds more than
 * NET_SYNC_WINDOW messages (nor NET_SYNC_GROUP_BYTES plus one message);
 * with enough changes, a group is flushed without being asked. */
Test(group, a_group_is_flushed_by_the_receiver_at_its_bound)
{
  tnode a, b;
  tnode_open(&a), tnode_open(&b);
  /* about 4.5 KiB a change: more than a window of full messages */
  write_changes(&a, "s/c/g01", 1100, 64, 0x44,
                "一位住在七号楼的老人，电话一三九零零零零零零零零");
  size_t total = nchanges(&a);
  slink l;
  link_open_grouped(&l, &a, &b);
  handshake(&l);
  size_t held = 0, msgs = 0, self_flushed = 0;
  uint64_t groups = 0;
  for (int i = 0; i < 100000 && (l.qa.head || l.qb.head); i++) {
    qmsg *m = q_pop(&l.qa);
    if (!m) { /* a waits for ACKs: give them */
      while ((m = q_pop(&l.qb))) {
        cr_assert_eq(net_sync_on_msg(l.a, m->data, m->n, l.why_a,
                                     sizeof l.why_a),
                     GS_OK, "%s", l.why_a);
        free(m);
      }
      continue;
    }
    net_msg d;
    cr_assert_eq(net_msg_decode(m->data, m->n, &d), GS_OK);
    bool ch = d.type == NET_MSG_CHANGES || d.type == NET_MSG_PACKED ||
              d.type == NET_MSG_FRAMES;
    net_msg_free(&d);
    cr_assert_eq(net_sync_on_msg(l.b, m->data, m->n, l.why_b,
                                 sizeof l.why_b),
                 GS_OK, "%s", l.why_b);
    free(m);
    if (!ch) { /* DONE: it flushed what was held */
      groups = net_sync_get_stats(l.b)->groups;
      held = 0;
      continue;
    }
    msgs++;
    held++;
    const net_sync_stats *st = net_sync_get_stats(l.b);
    if (st->groups != groups) { /* flushed on a CHANGES, unasked */
      groups = st->groups;
      held = 0;
      self_flushed++;
    }
    cr_assert_lt(held, NET_SYNC_WINDOW, "a group held %zu messages", held);
  }
  cr_assert_gt(msgs, NET_SYNC_WINDOW, "not enough to fill a window");
  cr_assert_geq(self_flushed, 1, "the receiver never flushed by itself");
  cr_assert_eq(net_sync_flush(l.b, l.why_b, sizeof l.why_b), GS_OK, "%s",
               l.why_b);
  link_run(&l, 0);
  cr_assert(!l.err_a && !l.err_b, "%s %s", l.why_a, l.why_b);
  cr_assert_eq(nchanges(&b), total);
  cr_assert(net_sync_caught_up(l.b));
  uint8_t da[CRDT_HASH_LEN], db[CRDT_HASH_LEN];
  digest_of(&a, da), digest_of(&b, db);
  cr_assert_eq(memcmp(da, db, sizeof da), 0);
  link_close(&l);
  tnode_close(&a), tnode_close(&b);
}

/* ---- a receiver killed after an ACK keeps what it acknowledged ---- */

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

static bool read_full(int fd, void *buf, size_t n)
{
  uint8_t *p = buf;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0)
      return false;
    p += r, n -= (size_t)r;
  }
  return true;
}

static bool write_full(int fd, const void *buf, size_t n)
{
  const uint8_t *p = buf;
  while (n) {
    ssize_t r = write(fd, p, n);
    if (r <= 0)
      return false;
    p += r, n -= (size_t)r;
  }
  return true;
}

static gs_err pipe_send(void *ctx, const uint8_t *m, size_t n)
{
  int fd = *(int *)ctx;
  uint32_t len = (uint32_t)n;
  return write_full(fd, &len, 4) && write_full(fd, m, n) ? GS_OK : GS_ECLOSED;
}

/* The receiving node, in a child: messages framed on in, its own on out;
 * it flushes its group when nothing more is waiting to be read. */
static void receiver_child(const char *dir, int in, int out)
{
  store *st;
  net_sync *s;
  char why[200];
  if (store_open(dir, STORE_CREATE, &st) != GS_OK)
    _exit(2);
  net_sync_io io = {.send = pipe_send, .ctx = &out, .group = true};
  if (net_sync_new(st, &io, &s) != GS_OK || net_sync_start(s) != GS_OK)
    _exit(3);
  uint8_t *buf = malloc(NET_MSG_MAX + 1024);
  uint32_t len;
  while (read_full(in, &len, 4) && len <= NET_MSG_MAX + 1024 &&
         read_full(in, buf, len)) {
    if (net_sync_on_msg(s, buf, len, why, sizeof why) != GS_OK)
      _exit(4);
    struct pollfd pf = {.fd = in, .events = POLLIN};
    if (poll(&pf, 1, 0) == 0 && net_sync_flush(s, why, sizeof why) != GS_OK)
      _exit(5);
  }
  _exit(0);
}

/* Changes in a CHANGES, PACKED or FRAMES message (0 for other types). */
static size_t changes_in(const uint8_t *m, size_t n, uint8_t *scratch)
{
  net_msg d, inner;
  size_t k = 0;
  cr_assert_eq(net_msg_decode(m, n, &d), GS_OK);
  if (d.type == NET_MSG_CHANGES) {
    k = d.u.changes.n;
  } else if (d.type == NET_MSG_PACKED) {
    cr_assert_eq(net_msg_unpack(&d, scratch, &inner), GS_OK);
    k = inner.u.changes.n;
    net_msg_free(&inner);
  } else if (d.type == NET_MSG_FRAMES) {
    k = d.u.changes.n;
  }
  net_msg_free(&d);
  return k;
}

Test(group, a_receiver_killed_after_an_ack_keeps_what_it_acknowledged,
     .timeout = 120)
{
  tnode a;
  tnode_open(&a);
  write_changes(&a, "s/c/g01", 1500, 40, 0x43, "一位住在七号楼的老人");
  char bdir[] = "/tmp/gs-group-XXXXXX";
  cr_assert_not_null(mkdtemp(bdir));
  int p2c[2], c2p[2];
  cr_assert_eq(pipe(p2c), 0);
  cr_assert_eq(pipe(c2p), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(p2c[1]), close(c2p[0]);
    receiver_child(bdir, p2c[0], c2p[1]);
  }
  close(p2c[0]), close(c2p[1]);
  queue qa = {0};
  net_sync *s;
  net_sync_io io = {.send = q_send, .ctx = &qa};
  cr_assert_eq(net_sync_new(a.st, &io, &s), GS_OK);
  cr_assert_eq(net_sync_start(s), GS_OK);
  uint8_t *scratch = malloc(NET_MSG_MAX), *buf = malloc(NET_MSG_MAX + 1024);
  size_t sent_changes[4096], nsent = 0, acks = 0;
  char why[200];
  while (acks < 5) {
    qmsg *m;
    while ((m = q_pop(&qa))) { /* all a has to say, in order */
      size_t k = changes_in(m->data, m->n, scratch);
      if (k) {
        cr_assert_lt(nsent, 4096);
        sent_changes[nsent] = (nsent ? sent_changes[nsent - 1] : 0) + k;
        nsent++;
      }
      cr_assert_eq(pipe_send(&p2c[1], m->data, m->n), GS_OK);
      free(m);
    }
    uint32_t len;
    cr_assert(read_full(c2p[0], &len, 4), "the receiver stopped");
    cr_assert_leq(len, NET_MSG_MAX + 1024);
    cr_assert(read_full(c2p[0], buf, len));
    net_msg d;
    cr_assert_eq(net_msg_decode(buf, len, &d), GS_OK);
    acks += d.type == NET_MSG_ACK;
    net_msg_free(&d);
    cr_assert_eq(net_sync_on_msg(s, buf, len, why, sizeof why), GS_OK, "%s",
                 why);
  }
  /* at once after the fifth ACK */
  kill(pid, SIGKILL);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFSIGNALED(status), "the receiver ended before it was killed");
  cr_assert_gt(nsent, acks, "everything was sent: the kill came too late");
  store *b;
  cr_assert_eq(store_open(bdir, 0, &b), GS_OK);
  uint8_t feed[CRDT_FEED_LEN];
  store_feed f = {.seq = 0};
  crdt_feed_id(a.pk, "s/c/g01", 7, feed);
  gs_err e = store_feed_get(b, feed, &f);
  cr_assert(e == GS_OK || e == GS_ENOTFOUND);
  cr_assert_geq(f.seq, sent_changes[acks - 1],
                "acknowledged %zu changes, kept %" PRIu64,
                sent_changes[acks - 1], f.seq);
  store_close(b);
  net_sync_free(s);
  q_clear(&qa);
  free(scratch), free(buf);
  close(p2c[1]), close(c2p[0]);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", bdir);
  cr_assert_eq(system(cmd), 0);
  tnode_close(&a);
}
