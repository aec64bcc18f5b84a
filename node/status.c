/* The node's status as data (node_status_get in node/node.h): what every
 * front end shows, and the warnings a person should read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/gs_i18n.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/domain.h"
#include "node/member.h"

static void warn(node_status *s, const char *w)
{
  if (s->nwarnings < NODE_WARNINGS_MAX)
    s->warnings[s->nwarnings++] = w;
}

static int on_behind(void *ctx, const uint8_t feed[CRDT_FEED_LEN],
                     uint64_t held, uint64_t heard)
{
  node_status *s = ctx;
  if (heard <= held)
    return 0;
  s->behind_feeds++;
  uint64_t d = heard - held;
  s->behind_changes = d > UINT64_MAX - s->behind_changes ? UINT64_MAX
                                                         : s->behind_changes + d;
  if (s->nbehind < NODE_BEHIND_LISTED) {
    node_feed_behind *v =
        realloc(s->behind, (s->nbehind + 1) * sizeof *s->behind);
    if (!v)
      return 1;
    s->behind = v;
    memcpy(v[s->nbehind].feed, feed, CRDT_FEED_LEN);
    v[s->nbehind].held = held;
    v[s->nbehind].heard = heard;
    s->nbehind++;
  }
  return 0;
}

/* unsent: over this node's own feeds, its seq less the highest a peer is
 * known to hold (store_heard_get). */
typedef struct unsent_ctx {
  node *n;
  uint64_t sum;
  gs_err err;
} unsent_ctx;

static int on_own_feed(void *ctx, const store_feed *f)
{
  unsent_ctx *u = ctx;
  if (memcmp(f->origin, u->n->pk, CRDT_KEY_LEN) != 0)
    return 0;
  uint64_t heard;
  if ((u->err = store_heard_get(u->n->st, f->feed, &heard)) != GS_OK)
    return 1;
  if (heard < f->seq)
    u->sum += f->seq - heard;
  return 0;
}

gs_err node_status_get(node *n, const char *prefix, node_status *out)
{
  store_stats st;
  gs_err err;
  size_t nrec = 0;
  const char *p = prefix ? prefix : "";
  memset(out, 0, sizeof *out);
  if ((err = store_stats_get(n->st, &st)) != GS_OK ||
      (err = store_digest(n->st, p, strlen(p), out->digest, &nrec)) !=
          GS_OK ||
      (err = store_hlc(n->st, &out->hlc)) != GS_OK)
    goto fail;
  out->records_under = nrec;
  out->records = st.records;
  out->feeds = st.feeds;
  out->changes = st.changes;
  out->forks = st.forks;
  out->map_bytes = st.map_size;
  out->used_bytes = st.used_bytes;
  out->ahead_ms = node_clock_skew_ms(n);
  out->refused = node_refused(n, out->refused_why, sizeof out->refused_why);
  out->nwarnings = node_warnings(n, out->warnings, NODE_WARNINGS_MAX);
  if (node_is_open(n))
    warn(out, _("this node has no passphrase: anyone who copies its "
                "directory can read every resident's data (set one with "
                "'gridsync passphrase')"));
  /* twice-used invites, this node's own claim held or void */
  size_t nm = node_membership_warnings(n, out->made, 4);
  for (size_t i = 0; i < nm; i++)
    warn(out, out->made[i]);
  if (st.forks > 0)
    warn(out, _("forks were refused: a node may have been restored from an "
              "old backup (see the forks in the store)"));
  if (out->refused)
    warn(out, _("changes were refused for lack of permission (see "
              "\"refused\")"));
  node_balance *bal = NULL;
  size_t nbal = 0;
  if ((err = node_timebank_balances(n, p, &bal, &nbal)) != GS_OK)
    goto fail;
  for (size_t i = 0; i < nbal; i++)
    if (bal[i].balance < 0)
      bal[out->noverdrawn++] = bal[i];
  if (out->noverdrawn) {
    out->overdrawn = bal;
    warn(out, _("time-bank accounts are overdrawn (spends accepted on two "
              "nodes at once): an admin settles them (gridsync timebank "
              "balances --overdrawn)"));
  } else {
    free(bal);
  }
  if ((err = store_behind(n->st, on_behind, out)) != GS_OK)
    goto fail;
  unsent_ctx uc = {n, 0, GS_OK};
  if ((err = store_feeds(n->st, on_own_feed, &uc)) != GS_OK ||
      (err = uc.err) != GS_OK)
    goto fail;
  out->unsent = uc.sum;
  return GS_OK;
fail:
  node_status_free(out);
  return err;
}

void node_status_free(node_status *s)
{
  if (!s)
    return;
  free(s->overdrawn);
  free(s->behind);
  s->overdrawn = NULL;
  s->behind = NULL;
  s->noverdrawn = s->nbehind = 0;
}
