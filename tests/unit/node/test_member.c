/*
 * Membership and write permissions (node/member.c) between real nodes:
 * the sync protocol runs over an in-memory queue with the receivers'
 * permission check, as node/netnode.c wires it.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/sync.h"
#include "net/seal.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"
#include "node/bundle.h"

static char root[256];
static uint64_t now_ms = 1795000000000ULL;
static uint64_t clock_now(void *ctx)
{
  (void)ctx;
  return now_ms;
}
static const node_clock clk = {clock_now, NULL};

static void setup(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  snprintf(root, sizeof root, "/tmp/gs-member-XXXXXX");
  cr_assert_not_null(mkdtemp(root));
  now_ms = 1795000000000ULL;
}

static void teardown(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(member, .init = setup, .fini = teardown, .timeout = 60);

static node *mk(const char *name)
{
  char dir[400];
  node *n;
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  cr_assert_eq(node_init(dir, name), GS_OK);
  cr_assert_eq(node_open(dir, NODE_BULK, &clk, &n), GS_OK);
  return n;
}

static node *invitee(node *admin, const char *name, const char *role,
                     const char *scope)
{
  node *n = mk(name);
  char *code;
  const char *scopes[] = {scope};
  cr_assert_eq(node_invite(admin, role, scopes, 1, now_ms + 86400000, &code),
               GS_OK);
  cr_assert_eq(node_join(n, code), GS_OK);
  free(code);
  return n;
}

/* Write without asking permission: a patched node. */
static void raw_write(node *n, const char *scope, const char *val)
{
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {val, strlen(val)}}};
  crdt_id_new(now_ms, NULL, op.id);
  store_write *w;
  cr_assert_eq(node__write_begin(n, &w), GS_OK);
  cr_assert_eq(store_write_change(w, scope, strlen(scope), &op, 1, now_ms,
                                  NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
}

static gs_err put(node *n, const char *scope, const char *val)
{
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {val, strlen(val)}}};
  crdt_id_new(now_ms, NULL, op.id);
  return node__write(n, scope, strlen(scope), &op, 1, NULL);
}

/* ---- in-memory sync with permission checks ---- */

typedef struct qm {
  struct qm *next;
  size_t n;
  uint8_t d[];
} qm;
typedef struct end {
  node *n;
  qm *head, *tail;
  net_sync *s;
  gs_err err;
  char why[200];
  size_t refused;
  bool check; /* false: a patched relay that checks nothing */
} end;

static gs_err q_send(void *ctx, const uint8_t *m, size_t n)
{
  end *e = ctx; /* messages for the other end are queued on this one */
  qm *x = malloc(sizeof *x + n);
  x->next = NULL;
  x->n = n;
  memcpy(x->d, m, n);
  if (e->tail)
    e->tail->next = x;
  else
    e->head = x;
  e->tail = x;
  return GS_OK;
}

static void q_check(void *ctx, const crdt_change *const *cs, size_t n,
                    bool *keep)
{
  end *e = ctx;
  node_policy *p;
  char why[200];
  if (!e->check)
    return;
  cr_assert_eq(node_policy_load(e->n, &p), GS_OK);
  for (size_t i = 0; i < n; i++)
    if (node_policy_check(p, cs[i], why, sizeof why) != GS_OK) {
      keep[i] = false;
      e->refused++;
    }
  node_policy_free(p);
}

/* Sync a and b both ways until quiet; returns refusals at a and at b. */
static void sync_pair(node *a, node *b, bool a_checks, bool b_checks,
                      size_t *ref_a, size_t *ref_b)
{
  end ea = {.n = a, .check = a_checks}, eb = {.n = b, .check = b_checks};
  net_sync_io ia = {.send = q_send, .check = q_check, .ctx = &ea};
  net_sync_io ib = {.send = q_send, .check = q_check, .ctx = &eb};
  cr_assert_eq(net_sync_new(node__store(a), &ia, &ea.s), GS_OK);
  cr_assert_eq(net_sync_new(node__store(b), &ib, &eb.s), GS_OK);
  cr_assert_eq(net_sync_start(ea.s), GS_OK);
  cr_assert_eq(net_sync_start(eb.s), GS_OK);
  while (ea.head || eb.head) {
    qm *m;
    if ((m = ea.head)) { /* a's output goes to b */
      ea.head = m->next;
      if (!ea.head)
        ea.tail = NULL;
      cr_assert_eq(net_sync_on_msg(eb.s, m->d, m->n, eb.why, sizeof eb.why),
                   GS_OK, "b: %s", eb.why);
      free(m);
    }
    if ((m = eb.head)) {
      eb.head = m->next;
      if (!eb.head)
        eb.tail = NULL;
      cr_assert_eq(net_sync_on_msg(ea.s, m->d, m->n, ea.why, sizeof ea.why),
                   GS_OK, "a: %s", ea.why);
      free(m);
    }
  }
  net_sync_free(ea.s);
  net_sync_free(eb.s);
  if (ref_a)
    *ref_a = ea.refused;
  if (ref_b)
    *ref_b = eb.refused;
}

static void digest(node *n, const char *prefix, uint8_t d[CRDT_HASH_LEN])
{
  cr_assert_eq(store_digest(node__store(n), prefix, strlen(prefix), d, NULL),
               GS_OK);
}

static size_t records(node *n, const char *prefix)
{
  uint8_t d[CRDT_HASH_LEN];
  size_t k;
  cr_assert_eq(store_digest(node__store(n), prefix, strlen(prefix), d, &k),
               GS_OK);
  return k;
}

Test(member, a_leader_writes_its_grid_and_nothing_else)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  node *office = invitee(admin, "office", "office", "s/c");
  char why[200];
  cr_assert_eq(put(leader, "s/c/g01", "甲"), GS_OK);
  cr_assert_eq(put(leader, "s/c/g01/b7", "乙"), GS_OK);
  cr_assert_eq(node_may_write(leader, "s/c/g02", 7, why, sizeof why),
               GS_EPERM);
  cr_assert_not_null(strstr(why, "may not write s/c/g02"), "%s", why);
  cr_assert_eq(put(leader, "s/c/g02", "丙"), GS_EPERM);
  cr_assert_eq(put(leader, "s/c/g010", "丁"), GS_EPERM, "prefix by segment");
  cr_assert_eq(node_may_write(leader, "_net", 4, why, sizeof why), GS_EPERM);

  /* the office met the admin (who confirmed its claim); the leader meets
   * the office: its claim goes first, the office confirms it, its writes
   * pass */
  size_t ref_o;
  sync_pair(office, admin, true, true, NULL, &ref_o);
  cr_assert_eq(ref_o, 0);
  sync_pair(office, admin, true, true, NULL, &ref_o); /* the witness */
  sync_pair(leader, office, true, true, NULL, &ref_o);
  cr_assert_eq(ref_o, 0);
  cr_assert_eq(records(office, "s/c/g01"), 2);

  /* a patched leader writes g02; relayed by a node that checks nothing */
  node *relay = invitee(admin, "relay", "office", "s");
  uint8_t before[CRDT_HASH_LEN], after[CRDT_HASH_LEN];
  digest(office, "", before);
  raw_write(leader, "s/c/g02", "越权");
  raw_write(leader, "s/c/g01", "after the bad one, other feed"); /* fine */
  sync_pair(leader, relay, false, false, NULL, NULL);
  cr_assert_eq(records(relay, "s/c/g02"), 1, "the patched relay took it");
  sync_pair(relay, office, true, true, NULL, &ref_o);
  cr_assert_geq(ref_o, 1, "the office did not refuse the g02 change");
  cr_assert_eq(records(office, "s/c/g02"), 0);
  cr_assert_eq(records(office, "s/c/g01"), 3);
  /* and the admin refuses it from the office and from the relay alike */
  size_t ref_admin;
  sync_pair(office, admin, true, true, NULL, &ref_admin);
  sync_pair(relay, admin, true, true, NULL, &ref_admin);
  cr_assert_geq(ref_admin, 1);
  cr_assert_eq(records(admin, "s/c/g02"), 0);
  digest(office, "s/c/g01", after);
  digest(admin, "s/c/g01", before);
  cr_assert_eq(memcmp(before, after, CRDT_HASH_LEN), 0);
  node_close(admin), node_close(leader), node_close(office);
  node_close(relay);
}

Test(member, readers_write_nothing_and_strangers_are_refused)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *reader = invitee(admin, "reader", "reader", "s");
  char why[200];
  cr_assert_eq(node_may_write(reader, "s/c", 3, why, sizeof why), GS_EPERM);
  /* a node of another network, holding our network's key somehow, with a
   * certificate of its own admin */
  node *other_admin = mk("other");
  cr_assert_eq(node_network_create(other_admin, "other"), GS_OK);
  node *stranger = invitee(other_admin, "stranger", "office", "s");
  raw_write(stranger, "s/c/g01", "外人");
  raw_write(reader, "s/c/g01", "读者");
  size_t ref;
  sync_pair(stranger, admin, false, true, NULL, &ref);
  cr_assert_geq(ref, 2, "claim and write of a foreign member: %zu", ref);
  sync_pair(reader, admin, false, true, NULL, &ref);
  cr_assert_geq(ref, 1);
  cr_assert_eq(records(admin, "s"), 0);
  node_close(admin), node_close(reader), node_close(other_admin);
  node_close(stranger);
}

typedef struct grab {
  uint8_t cert[4096], sig[64], proof[64];
  size_t cert_len, sig_len, proof_len;
} grab;

static int on_grab(void *ctx, const crdt_record *r)
{
  grab *g = ctx;
  const char *names[3] = {"cert", "cert_sig", "proof"};
  for (int k = 0; k < 3; k++) {
    long fi = crdt_record_find(r, names[k], strlen(names[k]));
    crdt_field_view fv;
    cr_assert_geq(fi, 0);
    cr_assert_eq(crdt_record_field(r, (size_t)fi, &fv), GS_OK);
    cr_assert_eq(fv.value.type, CRDT_BYTES);
    uint8_t *dst = k == 0 ? g->cert : k == 1 ? g->sig : g->proof;
    size_t *len = k == 0 ? &g->cert_len : k == 1 ? &g->sig_len : &g->proof_len;
    memcpy(dst, fv.value.u.s.p, fv.value.u.s.n);
    *len = fv.value.u.s.n;
  }
  return 0;
}

static void claim_ops(crdt_op ops[4], const uint8_t *key, const uint8_t *cert,
                      size_t cert_len, const uint8_t *sig,
                      const uint8_t *proof)
{
  const char *names[4] = {"key", "cert", "cert_sig", "proof"};
  const uint8_t *vals[4] = {key, cert, sig, proof};
  size_t lens[4] = {CRDT_KEY_LEN, cert_len, CRDT_SIG_LEN, CRDT_SIG_LEN};
  memset(ops, 0, 4 * sizeof *ops);
  for (int i = 0; i < 4; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = "member";
    ops[i].coll_len = 6;
    memcpy(ops[i].id, key, CRDT_ID_LEN);
    ops[i].field = names[i];
    ops[i].field_len = strlen(names[i]);
    ops[i].value.type = CRDT_BYTES;
    ops[i].value.u.s.p = (const char *)vals[i];
    ops[i].value.u.s.n = lens[i];
  }
}

/* c, authored and signed by n, decoded as a receiver would hold it. */
static crdt_change *signed_by(node *n, crdt_change *c)
{
  memcpy(c->origin, node_pk(n), CRDT_KEY_LEN);
  if (c->seq > 1)
    memset(c->prev, 1, CRDT_HASH_LEN); /* some earlier change */
  uint8_t *raw;
  size_t len;
  crdt_change *out;
  cr_assert_eq(crdt_change_build(c, n->sk, &raw, &len), GS_OK);
  cr_assert_eq(crdt_change_decode(raw, len, &out), GS_OK);
  free(raw);
  return out;
}

/* n's claim (g's pieces) as a signed change stamped at ms. */
static crdt_change *claim_change(node *n, const grab *g, uint64_t ms)
{
  crdt_op ops[4];
  claim_ops(ops, node_pk(n), g->cert, g->cert_len, g->sig, g->proof);
  crdt_change c = {.scope = "_net", .scope_len = 4, .seq = 1,
                   .hlc = CRDT_HLC_MAKE(ms, 0), .ops = ops, .nops = 4};
  return signed_by(n, &c);
}

/* A claim written by n (patched: no checks), now. */
static void claim_write(node *n, const uint8_t *key, const uint8_t *cert,
                        size_t cert_len, const uint8_t *sig,
                        const uint8_t *proof)
{
  crdt_op ops[4];
  claim_ops(ops, key, cert, cert_len, sig, proof);
  store_write *w;
  cr_assert_eq(node__write_begin(n, &w), GS_OK);
  cr_assert_eq(store_write_change(w, "_net", 4, ops, 4, now_ms, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
}

Test(member, forged_expired_and_reused_certificates)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 1000, &code),
               GS_OK);
  node *first = mk("first"), *second = mk("second");
  cr_assert_eq(node_join(first, code), GS_OK);
  cr_assert_eq(node_join(second, code), GS_OK); /* it cannot know yet */
  raw_write(first, "s/c/g01", "first");
  raw_write(second, "s/c/g01", "second");
  size_t ref;
  sync_pair(first, admin, false, true, NULL, &ref);
  cr_assert_eq(ref, 0);
  sync_pair(second, admin, false, true, NULL, &ref);
  cr_assert_geq(ref, 1, "a reused invite joined");
  cr_assert_eq(records(admin, "s/c/g01"), 1);
  /* the invite leaked: the first claimant is out too from now on */
  raw_write(first, "s/c/g01", "after the leak");
  sync_pair(first, admin, false, true, NULL, &ref);
  cr_assert_geq(ref, 1, "a leaked invite still writes");
  cr_assert_eq(records(admin, "s/c/g01"), 1);

  /* someone else's certificate (seen in the data) cannot be claimed: z
   * copies y's claim without the invite code */
  char *code2;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 1000, &code2),
               GS_OK);
  node *y = mk("y");
  cr_assert_eq(node_join(y, code2), GS_OK);
  grab g = {0};
  cr_assert_eq(store_get(node__store(y), "member", 6, node_pk(y), on_grab, &g),
               GS_OK);
  cr_assert(g.cert_len > 0 && g.sig_len == 64 && g.proof_len == 64);
  node *z = mk("z");
  claim_write(z, node_pk(z), g.cert, g.cert_len, g.sig, g.proof);
  sync_pair(z, admin, false, true, NULL, &ref);
  cr_assert_eq(ref, 1, "a copied certificate was claimed");

  /* an expired certificate: y's own claim, stamped after the expiry */
  node_policy *pol;
  cr_assert_eq(node_policy_load(admin, &pol), GS_OK);
  char why2[200];
  crdt_change *late = claim_change(y, &g, now_ms + 5000);
  cr_assert_eq(node_policy_check(pol, late, why2, sizeof why2), GS_EPERM);
  cr_assert_not_null(strstr(why2, "expired"), "%s", why2);
  crdt_change_free(late);
  crdt_change *in_time = claim_change(y, &g, now_ms + 500);
  cr_assert_eq(node_policy_check(pol, in_time, why2, sizeof why2), GS_OK,
               "%s", why2);
  crdt_change_free(in_time);
  node_policy_free(pol);
  node *z2 = mk("z2");

  /* a forged admin signature: a certificate for this network, signed by
   * the claimant itself */
  node *forger = mk("forger");
  uint8_t fk_pk[CRDT_KEY_LEN], fk_sk[CRDT_SK_LEN];
  crdt_keypair(fk_pk, fk_sk);
  msgpack_sbuffer cb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&cb);
  msgpack_packer_init(&pk, &cb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 6);
  msgpack_pack_uint8(&pk, 1);
  msgpack_pack_bin_with_body(&pk, node_net(admin)->id, 8);
  msgpack_pack_str_with_body(&pk, "admin", 5);
  msgpack_pack_array(&pk, 1);
  msgpack_pack_str_with_body(&pk, "s", 1);
  msgpack_pack_uint64(&pk, now_ms + 1000000);
  msgpack_pack_bin_with_body(&pk, fk_pk, CRDT_KEY_LEN); /* invite key */
  uint8_t *signed_msg = malloc(16 + cb.size), fsig[CRDT_SIG_LEN];
  memcpy(signed_msg, "gridsync-cert-v1", 16);
  memcpy(signed_msg + 16, cb.data, cb.size);
  crdt_sign(fk_sk, signed_msg, 16 + cb.size, fsig);
  free(signed_msg);
  uint8_t pm[17 + CRDT_KEY_LEN], fproof[CRDT_SIG_LEN];
  memcpy(pm, "gridsync-claim-v1", 17);
  memcpy(pm + 17, node_pk(forger), CRDT_KEY_LEN);
  crdt_sign(fk_sk, pm, sizeof pm, fproof);
  claim_write(forger, node_pk(forger), (const uint8_t *)cb.data, cb.size,
              fsig, fproof);
  raw_write(forger, "s/c/g01", "冒充管理员");
  sync_pair(forger, admin, false, true, NULL, &ref);
  cr_assert_eq(ref, 2, "a self-signed certificate passed");
  cr_assert_eq(records(admin, "s/c/g01"), 1);
  msgpack_sbuffer_destroy(&cb);
  free(code), free(code2);
  node_close(admin), node_close(first), node_close(second);
  node_close(y), node_close(z), node_close(z2), node_close(forger);
}

Test(member, a_revoked_node_is_shut_out_after_its_revocation)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *lost = invitee(admin, "lost", "leader", "s/c/g01");
  node *office = invitee(admin, "office", "office", "s");
  cr_assert_eq(put(lost, "s/c/g01", "before"), GS_OK);
  sync_pair(lost, admin, true, true, NULL, NULL);
  cr_assert_eq(records(admin, "s/c/g01"), 1);
  size_t kept;
  cr_assert_eq(node_revoke(office, node_pk(lost), &kept), GS_EPERM,
               "only the admin revokes");
  cr_assert_eq(node_revoke(admin, node_pk(lost), &kept), GS_OK);
  cr_assert_eq(kept, 2, "its _net and g01 feeds");
  /* the stolen laptop writes on */
  cr_assert_eq(put(lost, "s/c/g01", "after"), GS_OK);
  raw_write(lost, "s/c/g01", "after too");
  /* the office gets the revocation from the admin, then meets the lost */
  sync_pair(admin, office, true, true, NULL, NULL);
  size_t ref;
  sync_pair(lost, office, false, true, NULL, &ref);
  cr_assert_geq(ref, 1);
  cr_assert_eq(records(office, "s/c/g01"), 1, "only what came before");
  node_policy *p;
  cr_assert_eq(node_policy_load(office, &p), GS_OK);
  cr_assert(node_policy_revoked(p, node_pk(lost)));
  node_policy_free(p);
  /* replaying an old, accepted change changes nothing */
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  digest(office, "", d1);
  sync_pair(lost, office, false, true, NULL, &ref);
  digest(office, "", d2);
  cr_assert_eq(memcmp(d1, d2, CRDT_HASH_LEN), 0);
  node_close(admin), node_close(lost), node_close(office);
}

/* A signed change by n: one op setting coll/id.field, at seq 1 of its
 * feed in scope. */
static crdt_change *one_op_change(node *n, const char *scope,
                                  const char *coll, const uint8_t *id,
                                  crdt_op_kind kind)
{
  crdt_op op = {.kind = kind, .coll = coll, .coll_len = strlen(coll)};
  memcpy(op.id, id, CRDT_ID_LEN);
  if (kind == CRDT_OP_SET) {
    op.field = "note", op.field_len = 4;
    op.value = (crdt_value){.type = CRDT_STR, .u.s = {"改过", 6}};
  }
  crdt_change c = {.scope = scope, .scope_len = strlen(scope), .seq = 1,
                   .hlc = CRDT_HLC_MAKE(now_ms, 0), .ops = &op, .nops = 1};
  return signed_by(n, &c);
}

Test(member, written_once_records_take_ops_from_their_author_only)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  sync_pair(leader, admin, true, true, NULL, NULL); /* confirmed */
  sync_pair(leader, admin, true, true, NULL, NULL); /* the witness back */
  node_policy *p; /* as the leader's node decides what it receives */
  cr_assert_eq(node_policy_load(leader, &p), GS_OK);
  char why[300];
  /* the leader's visit and time-bank entry, ids naming the leader */
  uint8_t visit[CRDT_ID_LEN], entry[CRDT_ID_LEN], res[CRDT_ID_LEN];
  node_id_for(leader, "visit", 5, visit);
  node_id_for(leader, "timebank", 8, entry);
  node_id_for(leader, "resident", 8, res);
  cr_assert(crdt_id_owned_by(visit, node_pk(leader)));
  cr_assert(crdt_id_owned_by(entry, node_pk(leader)));
  cr_assert(!crdt_id_owned_by(visit, node_pk(admin)));
  crdt_change *c = one_op_change(leader, "s/c/g01", "visit", visit,
                                 CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  /* the admin, who may write everywhere, may not rewrite or delete them */
  const char *colls[] = {"visit", "timebank"};
  const uint8_t *ids[] = {visit, entry};
  for (int i = 0; i < 2; i++) {
    c = one_op_change(admin, "s/c/g01", colls[i], ids[i], CRDT_OP_SET);
    cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
    cr_assert(strstr(why, "written once"), "%s", why);
    crdt_change_free(c);
    c = one_op_change(admin, "s/c/g01", colls[i], ids[i], CRDT_OP_DELETE);
    cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
    crdt_change_free(c);
  }
  /* a written-once record with an id naming no one is nobody's to write */
  uint8_t plain[CRDT_ID_LEN];
  crdt_id_new(now_ms, NULL, plain);
  c = one_op_change(leader, "s/c/g01", "timebank", plain, CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  crdt_change_free(c);
  /* no exemption by id age: an old time-prefixed id is guarded too */
  crdt_id_new(1700000000000ULL, NULL, plain);
  c = one_op_change(admin, "s/c/g01", "visit", plain, CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  cr_assert(strstr(why, "written once"), "%s", why);
  crdt_change_free(c);
  /* other collections are not concerned */
  c = one_op_change(admin, "s/c/g01", "resident", res, CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  node_policy_free(p);
  node_close(leader);
  node_close(admin);
}

Test(member, a_written_once_id_already_held_is_passed_over)
{
  node *n = mk("n");
  uint8_t held[CRDT_ID_LEN], id[CRDT_ID_LEN];
  node_id_for(n, "visit", 5, held);
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "visit", .coll_len = 5,
                .field = "by", .field_len = 2,
                .value = {.type = CRDT_STR, .u.s = {"x", 1}}};
  memcpy(op.id, held, CRDT_ID_LEN);
  store_write *w;
  cr_assert_eq(node__write_begin(n, &w), GS_OK);
  cr_assert_eq(store_write_change(w, "s/c/g01", 7, &op, 1, now_ms, NULL,
                                  NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  /* as another process of the node would go on: from just before it, in
   * the same millisecond, so the next id it makes is the held one */
  memcpy(n->last_id, held, CRDT_ID_LEN);
  int i = CRDT_ID_LEN - CRDT_ID_OWNER_LEN - 1;
  while (n->last_id[i]-- == 0)
    i--;
  now_ms -= 1000;
  node_id_for(n, "visit", 5, id);
  cr_assert_gt(memcmp(id, held, CRDT_ID_LEN), 0);
  cr_assert(crdt_id_owned_by(id, node_pk(n)));
  now_ms += 1000;
  node_close(n);
}

/* ---- issue 14: membership held, not refused; peer clocks ---- */

typedef struct raws {
  uint8_t *b[8];
  size_t n[8];
  size_t k;
} raws;

static int grab_raw(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  raws *r = ctx;
  (void)seq;
  cr_assert_lt(r->k, 8);
  r->b[r->k] = malloc(n);
  memcpy(r->b[r->k], b, n);
  r->n[r->k++] = n;
  return 0;
}

static void feed_raws(node *n, const char *scope, raws *r)
{
  uint8_t feed[CRDT_FEED_LEN];
  crdt_feed_id(node_pk(n), scope, strlen(scope), feed);
  cr_assert_eq(store_feed_read(node__store(n), feed, 1, UINT64_MAX, grab_raw,
                               r),
               GS_OK);
}

static int count_held_cb(void *ctx, const node_held_info *h)
{
  size_t *k = ctx;
  cr_assert(!h->clock_ahead);
  cr_assert_not_null(strstr(h->reason, "membership"));
  (*k)++;
  return 0;
}

Test(member, a_change_before_its_authors_claim_is_held_then_applied)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "网"), GS_OK);
  node *m = invitee(admin, "m", "leader", "gongrencun/q/g01");
  cr_assert_eq(put(m, "gongrencun/q/g01", "先到的"), GS_OK);
  raw_write(m, "gongrencun/q/g02", "越权"); /* not its grid */
  raws claim = {.k = 0}, mine = {.k = 0}, other = {.k = 0};
  feed_raws(m, "_net", &claim);
  feed_raws(m, "gongrencun/q/g01", &mine);
  feed_raws(m, "gongrencun/q/g02", &other);
  cr_assert_eq(claim.k, 1);

  /* the writes arrive first (another route), the claim later */
  node_policy *p;
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  cr_assert(!node_policy_known(p, node_pk(m)));
  cr_assert(!node_policy_member(p, node_pk(m)));
  node_policy_free(p);
  uint8_t hold[2] = {STORE_HOLD_MEMBER, STORE_HOLD_MEMBER}, out[2];
  const uint8_t *ptr[2] = {mine.b[0], other.b[0]};
  size_t len[2] = {mine.n[0], other.n[0]};
  store_result res;
  size_t bad;
  cr_assert_eq(store_apply_ex(node__store(admin), ptr, len, 2, hold, out, &res,
                              &bad),
               GS_OK);
  cr_assert_eq(res.held, 2);
  size_t k = 0;
  cr_assert_eq(node_held(admin, count_held_cb, &k), GS_OK);
  cr_assert_eq(k, 2);
  size_t applied = 9;
  cr_assert_eq(node_held_recheck(admin, &applied), GS_OK);
  cr_assert_eq(applied, 0, "still no claim: still held");

  /* the claim arrives: the change it allows applies, the other is
   * refused for good (dropped from the held store) */
  cr_assert_eq(store_apply_ex(node__store(admin),
                              (const uint8_t *const *)claim.b, claim.n, 1,
                              NULL, NULL, &res, &bad),
               GS_OK);
  cr_assert_eq(res.applied, 1);
  /* the admin checks the claim as a receipt does, and so witnesses it
   * (a claim counts once an admin or office has witnessed it) */
  crdt_change *cc;
  char why[200];
  cr_assert_eq(crdt_change_decode(claim.b[0], claim.n[0], &cc), GS_OK);
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  cr_assert(node_policy_known(p, node_pk(m)));
  cr_assert_eq(node_policy_decide(p, cc, why, sizeof why), GS_OK, "%s", why);
  node_policy_free(p); /* writes the witness */
  crdt_change_free(cc);
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  cr_assert(node_policy_member(p, node_pk(m)));
  node_policy_free(p);
  cr_assert_eq(node_held_recheck(admin, &applied), GS_OK);
  cr_assert_eq(applied, 1);
  k = 0;
  cr_assert_eq(node_held(admin, count_held_cb, &k), GS_OK);
  cr_assert_eq(k, 0);
  uint8_t feed[CRDT_FEED_LEN];
  store_feed f;
  crdt_feed_id(node_pk(m), "gongrencun/q/g01", 16, feed);
  cr_assert_eq(store_feed_get(node__store(admin), feed, &f), GS_OK);
  cr_assert_eq(f.seq, 1);
  crdt_feed_id(node_pk(m), "gongrencun/q/g02", 16, feed);
  cr_assert_eq(store_feed_get(node__store(admin), feed, &f), GS_ENOTFOUND);
  for (size_t i = 0; i < claim.k; i++)
    free(claim.b[i]);
  free(mine.b[0]);
  free(other.b[0]);
  node_close(m);
  node_close(admin);
}

Test(member, a_peer_clock_beyond_a_day_is_a_warning_naming_both_dates)
{
  node *n = mk("n");
  char why[400];
  uint64_t peer = 946684800000ULL; /* 2000-01-01 */
  cr_assert(!node_note_peer_clock(n, "10.0.0.2:7070", now_ms,
                                  now_ms + 23 * 3600 * 1000ULL, why,
                                  sizeof why),
            "a few hours apart is fine");
  node_peer_clock pc;
  cr_assert_eq(node_peer_clock_get(n, &pc), GS_ENOTFOUND);
  cr_assert(node_note_peer_clock(n, "10.0.0.2:7070", now_ms, peer, why,
                                 sizeof why));
  cr_assert_not_null(strstr(why, "this computer's date is 2026-11-18"), "%s",
                     why);
  cr_assert_not_null(strstr(why, "2000-01-01"), "%s", why);
  cr_assert_not_null(strstr(why, "set the date"), "%s", why);
  cr_assert_eq(node_peer_clock_get(n, &pc), GS_OK);
  cr_assert_eq(pc.peer_ms, peer);
  cr_assert_str_eq(pc.addr, "10.0.0.2:7070");
  const char *w[8];
  size_t nw = node_warnings(n, w, 8);
  bool found = false;
  for (size_t i = 0; i < nw; i++)
    found |= strstr(w[i], "2000-01-01") != NULL;
  cr_assert(found, "the warning names the peer's date");
  /* a later meeting that agrees clears it */
  cr_assert(!node_note_peer_clock(n, "10.0.0.3:7070", now_ms, now_ms, why,
                                  sizeof why));
  cr_assert_eq(node_peer_clock_get(n, &pc), GS_ENOTFOUND);
  node_close(n);
}

/* ---- issue 14: witnesses, leaked invites, time-bank accounts ---- */

/* A node whose clock is off by *ctx ms from everyone else's. */
static uint64_t skewed_now(void *ctx)
{
  return (uint64_t)((int64_t)now_ms + *(const int64_t *)ctx);
}

static node *mk_clock(const char *name, const node_clock *c)
{
  char dir[400];
  node *n;
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  cr_assert_eq(node_init(dir, name), GS_OK);
  cr_assert_eq(node_open(dir, NODE_BULK, c, &n), GS_OK);
  return n;
}

/* a meets b twice (as node_sync_once does): what b wrote on meeting a
 * (its witness) reaches a */
static void meet(node *a, node *b, size_t *ref_a, size_t *ref_b)
{
  size_t ra = 0, rb = 0, x, y;
  sync_pair(a, b, true, true, &x, &y);
  ra += x, rb += y;
  sync_pair(a, b, true, true, &x, &y);
  ra += x, rb += y;
  if (ref_a)
    *ref_a = ra;
  if (ref_b)
    *ref_b = rb;
}

static node_member_state state_of(node *at, node *who)
{
  node_member_info mi;
  cr_assert_eq(node_member_get(at, node_pk(who), &mi), GS_OK);
  return mi.state;
}

static bool warned(node *n, const char *needle)
{
  char w[8][NODE_WARN_MAX];
  size_t k = node_membership_warnings(n, w, 8);
  for (size_t i = 0; i < k; i++)
    if (strstr(w[i], needle))
      return true;
  return false;
}

typedef struct member_nonce_t {
  uint8_t nonce[32];
  uint64_t expires;
} member_nonce_t;

/* The invite key and expiry of a certificate. */
static void cert_nonce(const uint8_t *cert, size_t n, uint8_t nonce[32],
                       uint64_t *expires)
{
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  cr_assert_eq(msgpack_unpack_next(&u, (const char *)cert, n, &off),
               MSGPACK_UNPACK_SUCCESS);
  cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
  cr_assert_eq(u.data.via.array.size, 6);
  *expires = u.data.via.array.ptr[4].via.u64;
  cr_assert_eq(u.data.via.array.ptr[5].via.bin.size, 32);
  memcpy(nonce, u.data.via.array.ptr[5].via.bin.ptr, 32);
  msgpack_unpacked_destroy(&u);
}

static void raw_net(node *n, const char *coll, const uint8_t *id,
                    const char *field, const uint8_t *v, size_t vn);

Test(member, an_expired_invite_is_not_revived_by_a_clock_set_back)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(office, office), NODE_MEMBER_VALID);
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 3600000,
                           &code),
               GS_OK);
  now_ms += 2 * 86400000; /* two days later the invite has expired */
  static int64_t back = -3 * 86400000LL; /* a laptop set back three days */
  node_clock bc = {skewed_now, &back};
  node *late = mk_clock("late", &bc);
  cr_assert_eq(node_join(late, code), GS_OK, "its own clock says in time");
  cr_assert_eq(put(late, "s/c/g01", "迟到"), GS_OK);
  /* it meets the office (whose clock is right): nothing of it counts */
  size_t ref;
  meet(late, office, NULL, &ref);
  cr_assert_geq(ref, 1);
  cr_assert_eq(records(office, "s/c/g01"), 0);
  cr_assert_eq(state_of(office, late), NODE_MEMBER_UNWITNESSED);
  /* the check says "held", not "refused": it may be confirmed elsewhere */
  node_policy *p;
  char why[300];
  cr_assert_eq(node_policy_load(office, &p), GS_OK);
  crdt_change *c = one_op_change(late, "s/c/g01", "resident", node_pk(late),
                                 CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EHELD);
  cr_assert_not_null(strstr(why, "confirmed"), "%s", why);
  crdt_change_free(c);
  node_policy_free(p);
  cr_assert(warned(office, "before the invite expired"));
  /* an office's witness dated after the expiry counts for nothing */
  {
    char wf[40] = "w";
    for (int i = 0; i < CRDT_ID_LEN; i++)
      snprintf(wf + 1 + 2 * i, 3, "%02x", node_pk(office)[i]);
    grab g = {0};
    cr_assert_eq(store_get(node__store(late), "member", 6, node_pk(late),
                           on_grab, &g),
                 GS_OK);
    member_nonce_t mn;
    cert_nonce(g.cert, g.cert_len, mn.nonce, &mn.expires);
    uint8_t v[40];
    memcpy(v, mn.nonce, 32);
    uint64_t at = mn.expires + 1;
    for (int b = 0; b < 8; b++)
      v[32 + b] = (uint8_t)(at >> (56 - 8 * b));
    raw_net(office, "witness", node_pk(late), wf, v, sizeof v);
    cr_assert_eq(state_of(office, late), NODE_MEMBER_UNWITNESSED);
    at = mn.expires - 1; /* in time (an office's word is trusted) */
    for (int b = 0; b < 8; b++)
      v[32 + b] = (uint8_t)(at >> (56 - 8 * b));
    raw_net(office, "witness", node_pk(late), wf, v, sizeof v);
    cr_assert_eq(state_of(office, late), NODE_MEMBER_VALID);
    /* and back: the later write of the field holds */
    at = mn.expires + 1;
    for (int b = 0; b < 8; b++)
      v[32 + b] = (uint8_t)(at >> (56 - 8 * b));
    raw_net(office, "witness", node_pk(late), wf, v, sizeof v);
    cr_assert_eq(state_of(office, late), NODE_MEMBER_UNWITNESSED);
  }
  /* the admin decides alike, from the office or from the laptop itself */
  meet(office, admin, NULL, NULL);
  meet(late, admin, NULL, NULL);
  cr_assert_eq(records(admin, "s/c/g01"), 0);
  cr_assert_eq(state_of(admin, late), NODE_MEMBER_UNWITNESSED);
  /* and the laptop is told, and may join again with a fresh code */
  cr_assert(warned(late, "not confirmed yet"));
  char *fresh;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &fresh),
               GS_OK);
  cr_assert_eq(node_join(late, fresh), GS_OK);
  meet(late, office, NULL, &ref);
  cr_assert_eq(state_of(office, late), NODE_MEMBER_VALID);
  cr_assert_eq(records(office, "s/c/g01"), 1, "its earlier write counts");
  free(code), free(fresh);
  node_close(admin), node_close(office), node_close(late);
}

Test(member, a_claim_in_time_counts_once_witnessed_and_not_before)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  /* an office nobody confirmed yet cannot confirm anyone */
  cr_assert_eq(put(leader, "s/c/g01", "甲"), GS_OK, "offline-first");
  size_t ref;
  meet(leader, office, NULL, &ref);
  cr_assert_geq(ref, 1);
  cr_assert_eq(state_of(office, leader), NODE_MEMBER_UNWITNESSED);
  cr_assert(warned(leader, "not confirmed yet"));
  /* the office meets the admin: confirmed; it confirms the leader's claim
   * it holds already */
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(office, office), NODE_MEMBER_VALID);
  cr_assert_eq(state_of(office, leader), NODE_MEMBER_VALID);
  meet(leader, office, NULL, &ref);
  cr_assert_eq(ref, 0);
  cr_assert_eq(records(office, "s/c/g01"), 1);
  cr_assert_eq(state_of(leader, leader), NODE_MEMBER_VALID);
  /* the admin learns the office's witness second-hand: same decision */
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, leader), NODE_MEMBER_VALID);
  cr_assert_eq(records(admin, "s/c/g01"), 1);
  /* a leader cannot witness, nor write another's witness field */
  node *other = invitee(admin, "other", "leader", "s/c/g02");
  node_policy *p;
  char why[300];
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  char field[40];
  snprintf(field, sizeof field, "w");
  for (int i = 0; i < CRDT_ID_LEN; i++)
    snprintf(field + 1 + 2 * i, 3, "%02x", node_pk(leader)[i]);
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "witness", .coll_len = 7,
                .field = field, .field_len = strlen(field),
                .value = {.type = CRDT_BYTES,
                          .u.s = {(const char *)node_pk(other), 32}}};
  memcpy(op.id, node_pk(other), CRDT_ID_LEN);
  crdt_change cc = {.scope = "_net", .scope_len = 4, .seq = 2,
                    .hlc = CRDT_HLC_MAKE(now_ms, 0), .ops = &op, .nops = 1};
  crdt_change *c = signed_by(leader, &cc);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  crdt_change_free(c);
  cr_assert_neq(state_of(admin, other), NODE_MEMBER_VALID);
  node_policy_free(p);
  node_close(admin), node_close(office), node_close(leader);
  node_close(other);
}

Test(member, a_twice_used_invite_is_warned_and_the_admin_readmits_one)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  meet(office, admin, NULL, NULL);
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &code),
               GS_OK);
  node *mine = mk("mine"), *thief = mk("thief");
  cr_assert_eq(node_join(mine, code), GS_OK);
  cr_assert_eq(put(mine, "s/c/g01", "一"), GS_OK);
  cr_assert_eq(put(mine, "s/c/g01", "二"), GS_OK);
  meet(mine, office, NULL, NULL);
  cr_assert_eq(records(office, "s/c/g01"), 2, "accepted before the leak");
  cr_assert_eq(node_join(thief, code), GS_OK);
  raw_write(thief, "s/c/g01", "贼");
  meet(thief, office, NULL, NULL);
  /* the office sees it and says so; both keys are held from now on */
  cr_assert_eq(state_of(office, mine), NODE_MEMBER_LEAKED);
  cr_assert_eq(state_of(office, thief), NODE_MEMBER_LEAKED);
  cr_assert(warned(office, "one invite was used by two nodes"));
  /* and that it keeps her 2 changes, which nodes that see both claims
   * first hold back */
  cr_assert(warned(office, "this node keeps 2 changes of node"));
  cr_assert_eq(records(office, "s/c/g01"), 2, "nothing of the thief");
  /* a fresh node that sees both claims first holds her writes: the two
   * differ, and both say why */
  node *fresh = invitee(admin, "fresh", "office", "s");
  meet(fresh, admin, NULL, NULL);
  meet(fresh, office, NULL, NULL);
  cr_assert_eq(records(fresh, "s/c/g01"), 0);
  cr_assert(warned(fresh, "one invite was used by two nodes"));
  cr_assert(!warned(fresh, "this node keeps"), "it holds them back");
  /* her own node tells her plainly */
  meet(mine, office, NULL, NULL);
  char why[400];
  cr_assert_eq(node_may_write(mine, "s/c/g01", 7, why, sizeof why),
               GS_EPERM);
  cr_assert_not_null(strstr(why, "gridsync readmit"), "%s", why);
  cr_assert(warned(mine, "used on another computer"));
  /* the admin re-admits her key: her writes count again everywhere */
  meet(office, admin, NULL, NULL);
  cr_assert_eq(node_readmit(office, node_pk(mine)), GS_EPERM);
  cr_assert_eq(node_readmit(admin, node_pk(office)), GS_EINVAL,
               "the office's invite was used once");
  cr_assert_eq(node_readmit(admin, node_pk(mine)), GS_OK);
  cr_assert_eq(state_of(admin, mine), NODE_MEMBER_VALID);
  cr_assert_eq(state_of(admin, thief), NODE_MEMBER_VOID);
  meet(office, admin, NULL, NULL);
  meet(fresh, office, NULL, NULL);
  cr_assert_eq(records(fresh, "s/c/g01"), 2, "her earlier writes count");
  meet(mine, office, NULL, NULL);
  cr_assert_eq(node_may_write(mine, "s/c/g01", 7, why, sizeof why), GS_OK,
               "%s", why);
  cr_assert(!warned(office, "one invite was used by two nodes"));
  cr_assert(!warned(office, "this node keeps"), "settled by the readmit");
  uint8_t d1[CRDT_HASH_LEN], d2[CRDT_HASH_LEN];
  digest(fresh, "s", d1);
  digest(office, "s", d2);
  cr_assert_eq(memcmp(d1, d2, CRDT_HASH_LEN), 0);
  /* had the admin kept the other key, the office would say what it
   * holds of hers that others refuse: here the thief's key is void, and
   * the office took nothing of it */
  cr_assert(!warned(office, "used an invite the admin gave"));
  /* the thief stays out; it is told, and cannot take a new code of
   * another network over */
  meet(thief, office, NULL, NULL);
  cr_assert_eq(node_may_write(thief, "s/c/g01", 7, why, sizeof why),
               GS_EPERM);
  cr_assert_eq(records(office, "s/c/g01"), 2);
  free(code);
  node_close(admin), node_close(office), node_close(mine);
  node_close(thief), node_close(fresh);
}

Test(member, after_a_leak_a_fresh_code_lets_the_owner_join_again)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  const char *scopes[] = {"s/c/g01"};
  char *code, *fresh;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &code),
               GS_OK);
  node *mine = mk("mine"), *thief = mk("thief");
  cr_assert_eq(node_join(mine, code), GS_OK);
  cr_assert_eq(node_join(thief, code), GS_OK);
  cr_assert_eq(put(mine, "s/c/g01", "她的"), GS_OK);
  raw_write(thief, "s/c/g01", "贼");
  meet(mine, admin, NULL, NULL);
  meet(thief, admin, NULL, NULL);
  meet(mine, admin, NULL, NULL);
  cr_assert_eq(state_of(mine, mine), NODE_MEMBER_LEAKED);
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &fresh),
               GS_OK);
  cr_assert_eq(node_join(mine, fresh), GS_OK);
  meet(mine, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, mine), NODE_MEMBER_VALID);
  cr_assert_eq(state_of(admin, thief), NODE_MEMBER_LEAKED,
               "the thief's claim of the old code stays held");
  cr_assert_eq(records(admin, "s/c/g01"), 1, "hers, not the thief's");
  /* a node that was never voided cannot join again */
  node *ok = invitee(admin, "ok", "leader", "s/c/g02");
  meet(ok, admin, NULL, NULL);
  char *third;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &third),
               GS_OK);
  cr_assert_eq(node_join(ok, third), GS_EEXIST);
  free(code), free(fresh), free(third);
  node_close(admin), node_close(mine), node_close(thief), node_close(ok);
}

/* A time-bank entry by n in scope for person (coll/id), of hours. */
static crdt_change *entry_change(node *n, const char *scope, uint64_t seq,
                                 const char *pcoll, const uint8_t *pid,
                                 double hours)
{
  crdt_op ops[3];
  memset(ops, 0, sizeof ops);
  uint8_t id[CRDT_ID_LEN];
  node_id_for(n, "timebank", 8, id);
  for (int i = 0; i < 3; i++) {
    ops[i].kind = CRDT_OP_SET;
    ops[i].coll = "timebank";
    ops[i].coll_len = 8;
    memcpy(ops[i].id, id, CRDT_ID_LEN);
  }
  ops[0].field = "person", ops[0].field_len = 6;
  ops[0].value.type = CRDT_REF;
  ops[0].value.u.ref.coll = pcoll;
  ops[0].value.u.ref.coll_len = strlen(pcoll);
  memcpy(ops[0].value.u.ref.id, pid, CRDT_ID_LEN);
  ops[1].field = "kind", ops[1].field_len = 4;
  ops[1].value = (crdt_value){.type = CRDT_STR, .u.s = {"adjust", 6}};
  ops[2].field = "hours", ops[2].field_len = 5;
  ops[2].value = (crdt_value){.type = CRDT_FLOAT, .u.f = hours};
  crdt_change c = {.scope = scope, .scope_len = strlen(scope), .seq = seq,
                   .hlc = CRDT_HLC_MAKE(now_ms, 0), .ops = ops, .nops = 3};
  return signed_by(n, &c);
}

Test(member, a_time_bank_entry_changes_only_an_account_its_author_may_write)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *g07 = invitee(admin, "g07", "leader", "s/c/g07");
  node *g08 = invitee(admin, "g08", "leader", "s/c/g08");
  meet(g07, admin, NULL, NULL);
  meet(g08, admin, NULL, NULL);
  /* a resident of g07, held by the admin */
  uint8_t person[CRDT_ID_LEN];
  node_id_new(g07, person);
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {"李桂芳", 9}}};
  memcpy(op.id, person, CRDT_ID_LEN);
  cr_assert_eq(node__write(g07, "s/c/g07", 7, &op, 1, NULL), GS_OK);
  meet(g07, admin, NULL, NULL);
  node_policy *p;
  char why[300];
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  /* g08's member writes in its own grid for her: held, never counted */
  crdt_change *c = entry_change(g08, "s/c/g08", 1, "resident", person, 9);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EHELD);
  cr_assert_not_null(strstr(why, "not held under"), "%s", why);
  crdt_change_free(c);
  /* ... and in her grid it may not write at all */
  c = entry_change(g08, "s/c/g07", 1, "resident", person, 9);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  crdt_change_free(c);
  /* her own grid's leader: fine, within the bound; 9,000,000 h is not */
  c = entry_change(g07, "s/c/g07", 3, "resident", person, 2.5);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  c = entry_change(g07, "s/c/g07", 4, "resident", person, 9000000);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  cr_assert_not_null(strstr(why, "hours"), "%s", why);
  crdt_change_free(c);
  c = entry_change(g07, "s/c/g07", 4, "resident", person, -9000000);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_EPERM);
  crdt_change_free(c);
  /* a person created earlier in the same batch counts as held */
  uint8_t newp[CRDT_ID_LEN];
  node_id_new(g08, newp);
  memcpy(op.id, newp, CRDT_ID_LEN);
  crdt_change pc = {.scope = "s/c/g08", .scope_len = 7, .seq = 1,
                    .hlc = CRDT_HLC_MAKE(now_ms, 0), .ops = &op, .nops = 1};
  c = signed_by(g08, &pc);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  c = entry_change(g08, "s/c/g08", 2, "resident", newp, 3);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  /* ... however many came between */
  for (int i = 0; i < 300; i++) {
    uint8_t other[CRDT_ID_LEN];
    node_id_new(g08, other);
    memcpy(op.id, other, CRDT_ID_LEN);
    pc.seq = 3 + (uint64_t)i;
    c = signed_by(g08, &pc);
    cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
    crdt_change_free(c);
  }
  c = entry_change(g08, "s/c/g08", 400, "resident", newp, 3);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
  crdt_change_free(c);
  /* a person of a collection that holds no accounts: refused later too */
  c = entry_change(g08, "s/c/g08", 401, "household", newp, 3);
  cr_assert_neq(node_policy_check(p, c, why, sizeof why), GS_OK);
  crdt_change_free(c);
  node_policy_free(p);
  node_close(admin), node_close(g07), node_close(g08);
}

Test(member, a_rotated_key_reaches_members_and_never_the_revoked_node)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  node *lost = invitee(admin, "lost", "leader", "s/c/g02");
  node *away = invitee(admin, "away", "leader", "s/c/g04");
  meet(office, admin, NULL, NULL);
  meet(leader, office, NULL, NULL);
  meet(lost, office, NULL, NULL);
  meet(away, office, NULL, NULL);
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, leader), NODE_MEMBER_VALID);
  cr_assert_eq(put(leader, "s/c/g01", "旧钥匙时写的"), GS_OK);
  /* a bundle made with the first key */
  char before[400], after[400];
  snprintf(before, sizeof before, "%s/before.gsb", root);
  snprintf(after, sizeof after, "%s/after.gsb", root);
  node_bundle_info bi;
  cr_assert_eq(node_export(leader, before, NULL, NULL, NULL, &bi), GS_OK);
  /* the laptop of "lost" is stolen: revoke, then rotate */
  cr_assert_eq(node_revoke(admin, node_pk(lost), NULL), GS_OK);
  node_rotate_info ri;
  cr_assert_eq(node_network_rotate(office, 3600000, &ri), GS_EPERM);
  cr_assert_eq(node_network_rotate(admin, NODE_ROTATE_GRACE_MAX_MS + 1, &ri),
               GS_EINVAL);
  cr_assert_eq(node_network_rotate(admin, 3600000, &ri), GS_OK);
  cr_assert_eq(ri.epoch, 2);
  cr_assert_eq(ri.sealed, 3, "office, leader, away: %zu", ri.sealed);
  cr_assert_eq(ri.skipped, 1, "the revoked node");
  /* it spreads as membership data: admin -> office -> leader, and the
   * thief copies all of it */
  meet(office, admin, NULL, NULL);
  meet(leader, office, NULL, NULL);
  sync_pair(lost, office, false, false, NULL, NULL);
  uint8_t pa[32], po[32], pl[32], px[32];
  /* during the grace period everyone still uses the first key */
  cr_assert_eq(node__psk(admin, pa), GS_OK);
  cr_assert_eq(node__psk(leader, pl), GS_OK);
  cr_assert_eq(node__psk(lost, px), GS_OK);
  cr_assert_eq(memcmp(pa, node_net(admin)->key, 32), 0);
  cr_assert_eq(memcmp(pl, pa, 32), 0);
  cr_assert_eq(memcmp(px, pa, 32), 0);
  /* after it, members share the new key; the thief is left with the old */
  now_ms += 2 * 3600000;
  cr_assert_eq(node__psk(admin, pa), GS_OK);
  cr_assert_eq(node__psk(office, po), GS_OK);
  cr_assert_eq(node__psk(leader, pl), GS_OK);
  cr_assert_eq(node__psk(lost, px), GS_OK);
  cr_assert_neq(memcmp(pa, node_net(admin)->key, 32), 0, "a new key");
  cr_assert_eq(memcmp(po, pa, 32), 0);
  cr_assert_eq(memcmp(pl, pa, 32), 0);
  cr_assert_neq(memcmp(px, pa, 32), 0, "the revoked node got the key");
  uint64_t ep, gu;
  cr_assert_eq(node_network_epoch(lost, &ep, &gu), GS_OK);
  cr_assert_eq(ep, 2, "it knows a rotation happened, not the key");
  cr_assert(warned(lost, "was not given the new one"));
  cr_assert(!warned(leader, "network key was changed"));
  /* bundles: new ones open for members only; old ones still import */
  cr_assert_eq(node_export(admin, after, NULL, NULL, NULL, &bi), GS_OK);
  node_import_result r;
  char why[200];
  cr_assert_eq(node_import(leader, after, &r, why, sizeof why), GS_OK, "%s",
               why);
  cr_assert_neq(node_import(lost, after, &r, why, sizeof why), GS_OK);
  cr_assert_eq(node_import(office, before, &r, why, sizeof why), GS_OK, "%s",
               why);
  /* a node invited after the rotation gets the new key in its code */
  node *late = invitee(admin, "late", "leader", "s/c/g03");
  uint8_t pn[32];
  cr_assert_eq(node__psk(late, pn), GS_OK);
  cr_assert_eq(memcmp(pn, pa, 32), 0, "the new member has the new key");
  cr_assert_eq(memcmp(node_net(late)->id, node_net(admin)->id, 8), 0);
  meet(late, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, late), NODE_MEMBER_VALID);
  cr_assert_eq(node__psk(late, pn), GS_OK);
  cr_assert_eq(memcmp(pn, pa, 32), 0);
  node_close(late);
  /* a member away for the whole grace (it never got the record) joins
   * again with a fresh code, which brings the key; without one, no */
  cr_assert_eq(node__psk(away, pn), GS_OK);
  cr_assert_neq(memcmp(pn, pa, 32), 0, "away still has the old key");
  char *again;
  const char *g04[] = {"s/c/g04"};
  cr_assert_eq(node_invite(admin, "leader", g04, 1, now_ms + 86400000,
                           &again),
               GS_OK);
  cr_assert_eq(node_join(away, again), GS_OK);
  cr_assert_eq(node__psk(away, pn), GS_OK);
  cr_assert_eq(memcmp(pn, pa, 32), 0, "the code brought the new key");
  cr_assert_eq(node_join(away, again), GS_EEXIST, "nothing new the 2nd time");
  free(again);
  node_close(away);
  /* a second rotation (after new members, say) gives epoch 3 */
  cr_assert_eq(node_network_rotate(admin, 0, &ri), GS_OK);
  cr_assert_eq(ri.epoch, 3);
  node_close(admin), node_close(office), node_close(leader);
  node_close(lost);
}

Test(member, claims_of_a_leaked_invite_seen_together_are_witnessed_for_readmit)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &code),
               GS_OK);
  node *mine = mk("mine"), *thief = mk("thief"), *relay = mk("relay");
  cr_assert_eq(node_join(mine, code), GS_OK);
  cr_assert_eq(node_join(thief, code), GS_OK);
  cr_assert_eq(put(mine, "s/c/g01", "她的"), GS_OK);
  /* both claims reach the admin in one batch, through a relay */
  char *rc;
  cr_assert_eq(node_invite(admin, "office", scopes, 1, now_ms + 86400000,
                           &rc),
               GS_OK);
  cr_assert_eq(node_join(relay, rc), GS_OK);
  sync_pair(mine, relay, false, false, NULL, NULL);
  sync_pair(thief, relay, false, false, NULL, NULL);
  meet(relay, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, mine), NODE_MEMBER_LEAKED);
  cr_assert_eq(state_of(admin, thief), NODE_MEMBER_LEAKED);
  cr_assert_eq(records(admin, "s/c/g01"), 0);
  cr_assert_eq(node_readmit(admin, node_pk(mine)), GS_OK);
  cr_assert_eq(state_of(admin, mine), NODE_MEMBER_VALID,
               "witnessed while leaked, valid once re-admitted");
  cr_assert_eq(state_of(admin, thief), NODE_MEMBER_VOID);
  meet(mine, admin, NULL, NULL);
  cr_assert_eq(records(admin, "s/c/g01"), 1);
  free(code), free(rc);
  node_close(admin), node_close(mine), node_close(thief);
  node_close(relay);
}

Test(member, an_office_revoked_later_leaves_its_confirmations_standing)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  meet(office, admin, NULL, NULL);
  meet(leader, office, NULL, NULL); /* the office confirms the leader */
  cr_assert_eq(put(leader, "s/c/g01", "甲"), GS_OK);
  meet(leader, office, NULL, NULL);
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, leader), NODE_MEMBER_VALID);
  cr_assert_eq(node_revoke(admin, node_pk(office), NULL), GS_OK);
  cr_assert_eq(state_of(admin, leader), NODE_MEMBER_VALID,
               "a confirmation made before the revocation stands");
  /* what the revoked office "confirms" after its cut is refused */
  node *late = invitee(admin, "late", "leader", "s/c/g02");
  sync_pair(late, office, true, true, NULL, NULL); /* it witnesses late */
  size_t ref_admin;
  meet(office, admin, NULL, &ref_admin);
  cr_assert_geq(ref_admin, 1, "the revoked office's witness was taken");
  node *fresh = invitee(admin, "fresh", "office", "s");
  meet(fresh, admin, NULL, NULL);
  cr_assert_eq(state_of(fresh, leader), NODE_MEMBER_VALID);
  cr_assert_eq(records(fresh, "s/c/g01"), 1);
  node_close(admin), node_close(office), node_close(leader);
  node_close(late), node_close(fresh);
}

/* A raw "_net" op by n (patched: no checks), bytes value. */
static void raw_net(node *n, const char *coll, const uint8_t *id,
                    const char *field, const uint8_t *v, size_t vn)
{
  crdt_op op = {.kind = CRDT_OP_SET, .coll = coll, .coll_len = strlen(coll),
                .field = field, .field_len = strlen(field),
                .value = {.type = CRDT_BYTES, .u.s = {(const char *)v, vn}}};
  memcpy(op.id, id, CRDT_ID_LEN);
  store_write *w;
  cr_assert_eq(node__write_begin(n, &w), GS_OK);
  cr_assert_eq(store_write_change(w, "_net", 4, &op, 1, now_ms, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
}

Test(member, hostile_membership_records_are_bounded_and_refused)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *bad = invitee(admin, "bad", "office", "s");
  meet(bad, admin, NULL, NULL);
  cr_assert_eq(state_of(admin, bad), NODE_MEMBER_VALID);
  uint64_t rng = 42;
  uint8_t junk[5000];
  for (size_t i = 0; i < sizeof junk; i++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    junk[i] = (uint8_t)rng;
  }
  const size_t sizes[] = {0, 1, 31, 32, 33, 40, 80, 4096, 4097, 5000};
  /* another's witness field, a prior of junk, a forged key record, a
   * readmit and a revocation of its own, all from a valid office */
  char field[40] = "w";
  for (int i = 0; i < CRDT_ID_LEN; i++)
    snprintf(field + 1 + 2 * i, 3, "%02x", node_pk(admin)[i]);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    raw_net(bad, "witness", node_pk(bad), field, junk, sizes[k]);
    raw_net(bad, "member", node_pk(bad), "prior", junk, sizes[k]);
    raw_net(bad, "member", node_pk(bad), "readmit", junk, sizes[k]);
    raw_net(bad, "netkey", junk, "check", junk, sizes[k]);
    raw_net(bad, "member", node_pk(admin), "revoked", junk, sizes[k]);
  }
  size_t ref;
  sync_pair(bad, admin, false, true, NULL, &ref);
  cr_assert_geq(ref, 1);
  cr_assert_eq(state_of(admin, bad), NODE_MEMBER_VALID, "still itself");
  uint64_t ep, gu;
  cr_assert_eq(node_network_epoch(admin, &ep, &gu), GS_OK);
  cr_assert_eq(ep, 1, "only the admin rotates");
  /* a node that took all of it unchecked still loads its policy */
  node *relay = invitee(admin, "relay", "office", "s");
  sync_pair(bad, relay, false, false, NULL, NULL);
  node_policy *p;
  cr_assert_eq(node_policy_load(relay, &p), GS_OK);
  node_policy_free(p);
  char w[8][NODE_WARN_MAX];
  node_membership_warnings(relay, w, 8);
  cr_assert_eq(node_network_epoch(relay, &ep, &gu), GS_OK);
  cr_assert_eq(ep, 1, "a netkey record not of the admin counts nowhere");
  uint8_t psk[32];
  cr_assert_eq(node__psk(relay, psk), GS_OK);
  cr_assert_eq(memcmp(psk, node_net(relay)->key, 32), 0);
  node_close(admin), node_close(bad), node_close(relay);
}

Test(member, changes_a_node_took_past_a_revocation_it_had_not_seen_are_warned)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *lost = invitee(admin, "lost", "leader", "s/c/g01");
  node *office = invitee(admin, "office", "office", "s");
  cr_assert_eq(put(lost, "s/c/g01", "before"), GS_OK);
  meet(lost, admin, NULL, NULL);
  meet(office, admin, NULL, NULL);
  size_t kept;
  cr_assert_eq(node_revoke(admin, node_pk(lost), &kept), GS_OK);
  /* the office meets the stolen laptop before the revocation reaches it */
  cr_assert_eq(put(lost, "s/c/g01", "after"), GS_OK);
  meet(lost, office, NULL, NULL);
  cr_assert_eq(records(office, "s/c/g01"), 2, "taken before it knew");
  cr_assert(!warned(office, "after the admin revoked it"));
  /* the revocation arrives: the office cannot undo it, it says so */
  meet(office, admin, NULL, NULL);
  cr_assert(warned(office, "this node took 1 change of node"));
  cr_assert(warned(office, "after the admin revoked it"));
  cr_assert_eq(records(admin, "s/c/g01"), 1, "the cut decides: refused");
  cr_assert(!warned(admin, "after the admin revoked it"));
  node_close(admin), node_close(lost), node_close(office);
}

Test(member, a_voided_key_whose_changes_a_node_kept_is_warned_about)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *office = invitee(admin, "office", "office", "s");
  meet(office, admin, NULL, NULL);
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, now_ms + 86400000,
                           &code),
               GS_OK);
  node *first = mk("first"), *second = mk("second");
  cr_assert_eq(node_join(first, code), GS_OK);
  cr_assert_eq(put(first, "s/c/g01", "一"), GS_OK);
  cr_assert_eq(put(first, "s/c/g01", "二"), GS_OK);
  meet(first, office, NULL, NULL); /* kept by the office */
  cr_assert_eq(node_join(second, code), GS_OK);
  meet(second, office, NULL, NULL);
  meet(office, admin, NULL, NULL);
  /* the admin decides the second laptop is the right one */
  cr_assert_eq(node_readmit(admin, node_pk(second)), GS_OK);
  meet(office, admin, NULL, NULL);
  cr_assert_eq(state_of(office, first), NODE_MEMBER_VOID);
  cr_assert_eq(records(office, "s/c/g01"), 2, "kept, not undone");
  cr_assert(warned(office, "the 2 changes of it accepted here before"));
  cr_assert_eq(records(admin, "s/c/g01"), 0, "the admin refuses them");
  free(code);
  node_close(admin), node_close(office), node_close(first);
  node_close(second);
}

/* ---- the cached policy (issue 20) ---- */

typedef struct last_raw {
  uint8_t *b;
  size_t n;
} last_raw;

static int keep_last_raw(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  last_raw *l = ctx;
  (void)seq;
  free(l->b);
  l->b = malloc(n);
  memcpy(l->b, b, n);
  l->n = n;
  return 0;
}

/* The newest change of n's feed in scope, decoded (and its bytes). */
static crdt_change *newest_change(node *n, const char *scope, last_raw *l)
{
  uint8_t feed[CRDT_FEED_LEN];
  crdt_change *c;
  crdt_feed_id(node_pk(n), scope, strlen(scope), feed);
  l->b = NULL;
  cr_assert_eq(store_feed_read(node__store(n), feed, 1, UINT64_MAX,
                               keep_last_raw, l),
               GS_OK);
  cr_assert_not_null(l->b);
  cr_assert_eq(crdt_change_decode(l->b, l->n, &c), GS_OK);
  return c;
}

Test(member, the_cached_policy_sees_a_revocation_at_once)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *lost = invitee(admin, "lost", "leader", "s/c/g01");
  node *office = invitee(admin, "office", "office", "s");
  cr_assert_eq(put(lost, "s/c/g01", "before"), GS_OK);
  sync_pair(lost, admin, true, true, NULL, NULL);
  sync_pair(office, admin, true, true, NULL, NULL);
  sync_pair(office, admin, true, true, NULL, NULL); /* witnesses back */
  cr_assert_eq(records(office, "s/c/g01"), 1);
  char why[200];
  node_policy_cache ca = {0}, co = {0};
  node_policy *p;
  last_raw l1, l2;

  /* a change the lost leader wrote after what the admin holds: both
   * caches let it through while it is a member, from the cache */
  cr_assert_eq(put(lost, "s/c/g01", "after"), GS_OK);
  crdt_change *after = newest_change(lost, "s/c/g01", &l1);
  for (int k = 0; k < 2; k++) {
    cr_assert_eq(node_policy_cache_get(admin, &ca, &p), GS_OK);
    cr_assert_eq(node_policy_decide(p, after, why, sizeof why), GS_OK, "%s",
                 why);
    node_policy_cache_done(&ca, false);
    cr_assert_eq(node_policy_cache_get(office, &co, &p), GS_OK);
    cr_assert_eq(node_policy_decide(p, after, why, sizeof why), GS_OK, "%s",
                 why);
    node_policy_cache_done(&co, false);
  }
  cr_assert_eq(ca.loads, 1, "the second batch did not use the cache");
  cr_assert_eq(ca.hits, 1);

  /* the admin revokes it (a write outside the cache, as `gridsync revoke`
   * beside a serving node): the very next batch is decided with it */
  cr_assert_eq(node_revoke(admin, node_pk(lost), NULL), GS_OK);
  cr_assert_eq(node_policy_cache_get(admin, &ca, &p), GS_OK);
  cr_assert_eq(ca.loads, 2, "the revocation did not reload the policy");
  cr_assert_eq(node_policy_decide(p, after, why, sizeof why), GS_EPERM);
  cr_assert_not_null(strstr(why, "revoked"), "%s", why);
  node_policy_cache_done(&ca, false);

  /* the office receives the revocation in a batch, then the lost node's
   * change right after it in the same batch, and again in the next */
  crdt_change *rev = newest_change(admin, "_net", &l2);
  cr_assert_eq(node_policy_cache_get(office, &co, &p), GS_OK);
  cr_assert_eq(node_policy_decide(p, rev, why, sizeof why), GS_OK, "%s", why);
  cr_assert_eq(node_policy_decide(p, after, why, sizeof why), GS_EPERM,
               "the change right after the revocation passed");
  node_policy_cache_done(&co, true);
  const uint8_t *rp = l2.b;
  store_result res;
  cr_assert_eq(store_apply(node__store(office), &rp, &l2.n, 1, &res, NULL),
               GS_OK);
  cr_assert_eq(res.applied, 1);
  cr_assert_eq(node_policy_cache_get(office, &co, &p), GS_OK);
  cr_assert_eq(node_policy_decide(p, after, why, sizeof why), GS_EPERM,
               "the next batch passed a revoked member's change");
  node_policy_cache_done(&co, false);
  node_policy_cache_drop(&ca);
  node_policy_cache_drop(&co);
  crdt_change_free(after), crdt_change_free(rev);
  free(l1.b), free(l2.b);
  node_close(admin), node_close(lost), node_close(office);
}

/* ---- who an invite is for (issue 17: members named, never by id) ---- */

static void write_grid(node *n, const char *scope, const char *name)
{
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "grid", .coll_len = 4,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {name, strlen(name)}}};
  crdt_id_new(now_ms, NULL, op.id);
  cr_assert_eq(node__write(n, scope, strlen(scope), &op, 1, NULL), GS_OK);
}

typedef struct named {
  const uint8_t *key;
  node_member_info m;
  bool found;
} named;

static int on_named(void *ctx, const node_member_info *m)
{
  named *x = ctx;
  if (memcmp(m->key, x->key, CRDT_KEY_LEN) == 0) {
    x->m = *m;
    x->found = true;
  }
  return 0;
}

/* n's label for the member with key, as every front end shows it. */
static void label_of(node *n, const uint8_t *key, char *out, size_t len)
{
  named x = {.key = key};
  cr_assert_eq(node_members(n, on_named, &x), GS_OK);
  cr_assert(x.found, "the member is listed");
  node_member_label(n, &x.m, out, len, NULL, 0);
}

Test(member, an_invite_names_whom_it_is_for_and_only_the_admin_says_it)
{
  /* the name: UTF-8 text of 1 to 60 bytes, no control characters */
  cr_assert(node_member_name_valid("王阿姨, 3号楼"));
  cr_assert(node_member_name_valid(
      "一二三四五六七八九十一二三四五六七八九十")); /* 60 bytes */
  cr_assert_not(node_member_name_valid(
      "一二三四五六七八九十一二三四五六七八九十a"));
  cr_assert_not(node_member_name_valid(""));
  cr_assert_not(node_member_name_valid(NULL));
  cr_assert_not(node_member_name_valid("王阿姨\n3号楼"));
  cr_assert_not(node_member_name_valid("a\x7f"));
  cr_assert_not(node_member_name_valid("a\xc2\x85")); /* NEL */
  cr_assert_not(node_member_name_valid("a\xff"));
  cr_assert_not(node_member_name_valid("\xe7\x8e")); /* cut in two */

  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  write_grid(admin, "s/c/g01", "一网格");
  const char *scopes[] = {"s/c/g01"};
  char *code = NULL;
  /* a bad name: refused, no code made */
  cr_assert_eq(node_invite_for(admin, "leader", scopes, 1, now_ms + 86400000,
                               "王阿姨\n3号楼", &code),
               GS_EINVAL);
  cr_assert_null(code);
  cr_assert_eq(node_invite_for(admin, "leader", scopes, 1, now_ms + 86400000,
                               "王阿姨, 3号楼", &code),
               GS_OK);
  node *wang = mk("wang");
  cr_assert_eq(node_join(wang, code), GS_OK);
  free(code);
  node *other = invitee(admin, "other", "leader", "s/c/g01"); /* no name */
  sync_pair(admin, wang, true, true, NULL, NULL);
  sync_pair(admin, other, true, true, NULL, NULL);
  sync_pair(admin, other, true, true, NULL, NULL);

  char l[200];
  /* every node names wang's laptop by whom its invite was for */
  label_of(admin, node_pk(wang), l, sizeof l);
  cr_assert_str_eq(l, "王阿姨, 3号楼");
  label_of(other, node_pk(wang), l, sizeof l);
  cr_assert_str_eq(l, "王阿姨, 3号楼");
  /* an invite that said nobody: the role and the grid, never the key */
  label_of(admin, node_pk(other), l, sizeof l);
  cr_assert_str_eq(l, "building leader (一网格)");
  /* the admin itself, a peer with no claim */
  node_member_info mi;
  cr_assert_eq(node_member_get(wang, node_pk(admin), &mi), GS_OK);
  node_member_label(wang, &mi, l, sizeof l, NULL, 0);
  cr_assert_str_eq(l, "admin");

  /* a leader cannot name anyone: its record of that kind is refused */
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "invitee", .coll_len = 7,
                .field = "for", .field_len = 3,
                .value = {.type = CRDT_BYTES, .u.s = {"骗子", 6}}};
  memcpy(op.id, node_pk(wang), CRDT_ID_LEN);
  store_write *w;
  cr_assert_eq(node__write_begin(other, &w), GS_OK);
  cr_assert_eq(store_write_change(w, NODE_NET_SCOPE, strlen(NODE_NET_SCOPE),
                                  &op, 1, now_ms, NULL, NULL),
               GS_OK);
  cr_assert_eq(store_write_commit(w), GS_OK);
  size_t refused = 0;
  sync_pair(admin, other, true, true, &refused, NULL);
  cr_assert_geq(refused, 1, "the admin refuses a leader's invitee record");
  label_of(admin, node_pk(wang), l, sizeof l);
  cr_assert_str_eq(l, "王阿姨, 3号楼");
  node_close(admin), node_close(wang), node_close(other);
}

/* unsent (node_status): a change the peer refused is never counted as
 * passed on; one it kept is, once it acknowledged it. */
Test(member, a_change_the_peer_refused_is_not_passed_on)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  node_status st;
  cr_assert_eq(node_status_get(leader, NULL, &st), GS_OK);
  uint64_t claim = st.unsent;
  node_status_free(&st);
  cr_assert_geq(claim, 1, "its claim is not passed on yet");
  cr_assert_eq(put(leader, "s/c/g01", "王秀英"), GS_OK);
  cr_assert_eq(node_status_get(leader, NULL, &st), GS_OK);
  cr_assert_eq(st.unsent, claim + 1);
  node_status_free(&st);
  sync_pair(admin, leader, true, true, NULL, NULL);
  cr_assert_eq(node_status_get(leader, NULL, &st), GS_OK);
  cr_assert_eq(st.unsent, 0, "the admin acknowledged all: %" PRIu64, st.unsent);
  node_status_free(&st);
  /* a write beyond its grid (a patched node): the admin refuses it */
  raw_write(leader, "s/c/g02", "越界");
  size_t refused = 0;
  sync_pair(admin, leader, true, true, &refused, NULL);
  cr_assert_geq(refused, 1);
  cr_assert_eq(node_status_get(leader, NULL, &st), GS_OK);
  cr_assert_eq(st.unsent, 1, "the refused change is not passed on");
  node_status_free(&st);
  node_close(admin), node_close(leader);
}

/* A bundle holding a change of a format newer than this build reads (a
 * later gridsync's): the import refuses it, stores nothing, and says to
 * upgrade, not that the file is damaged. */
Test(member, a_bundle_of_a_newer_change_format_asks_for_an_upgrade)
{
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
  meet(leader, admin, NULL, NULL);
  cr_assert_eq(put(leader, "s/c/g01", "新格式"), GS_OK);
  char path[400];
  snprintf(path, sizeof path, "%s/newer.gsb", root);
  node_bundle_info bi;
  cr_assert_eq(node_export(leader, path, NULL, NULL, NULL, &bi), GS_OK);
  /* open the body, make each change's version 3, seal it again */
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  static uint8_t buf[1 << 20];
  size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  size_t adlen;
  cr_assert_eq(node__bundle_header(buf, len, &bi, &adlen), GS_OK);
  size_t sl = len - adlen, bl = sl - NET_SEAL_NONCE - NET_SEAL_TAG;
  uint8_t *body = malloc(bl), key[32];
  cr_assert_eq(node__psk(leader, key), GS_OK);
  cr_assert_eq(net_unseal(key, buf, adlen, buf + adlen, sl, body), GS_OK);
  size_t found = 0;
  for (size_t i = 0; i + 4 < bl; i++)
    if (body[i] == 0x98 && body[i + 1] == 2 && body[i + 2] == 0xc4 &&
        body[i + 3] == CRDT_KEY_LEN)
      body[i + 1] = 3, found++;
  cr_assert_gt(found, 0, "the bundle's changes are of version 2");
  cr_assert_eq(net_seal(key, buf, adlen, body, bl, buf + adlen), GS_OK);
  f = fopen(path, "wb");
  cr_assert_eq(fwrite(buf, 1, len, f), len);
  fclose(f);
  node *other = invitee(admin, "other", "leader", "s/c/g01");
  size_t before = 0, after = 0;
  uint8_t d0[CRDT_HASH_LEN], d1[CRDT_HASH_LEN];
  cr_assert_eq(store_digest(node__store(other), "", 0, d0, &before), GS_OK);
  node_import_result r;
  char why[300];
  cr_assert_eq(node_import(other, path, &r, why, sizeof why), GS_EVERSION,
               "%s", why);
  cr_assert_not_null(strstr(why, "newer format"), "why: %s", why);
  cr_assert_not_null(strstr(why, "upgrade"), "why: %s", why);
  cr_assert_eq(store_digest(node__store(other), "", 0, d1, &after), GS_OK);
  cr_assert_eq(after, before, "nothing stored");
  cr_assert_eq(memcmp(d0, d1, CRDT_HASH_LEN), 0, "nothing changed");
  free(body);
  node_close(admin), node_close(leader), node_close(other);
}
