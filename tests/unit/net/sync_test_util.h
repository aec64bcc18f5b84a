/* The in-memory transport of the sync tests (test_sync.c, test_group.c):
 * queues of messages between two sessions, bounded, with the helpers
 * that drain them. Included by each test file (static functions). */
#ifndef NET_SYNC_TEST_UTIL_H
#define NET_SYNC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "net/sync.h"

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


#endif
