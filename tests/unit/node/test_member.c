/*
 * Membership and write permissions (node/member.c) between real nodes:
 * the sync protocol runs over an in-memory queue with the receivers'
 * permission check, as node/netnode.c wires it.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/msg.h"
#include "net/sync.h"
#include "node/node.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"

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

  /* the leader meets the office: its claim goes first, its writes pass */
  size_t ref_o;
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
  now_ms = NODE_OWNED_SINCE_MS + 86400000; /* ids under the rule */
  node *admin = mk("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node *leader = invitee(admin, "leader", "leader", "s/c/g01");
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
  /* ids from before the rule (data of earlier builds) are written as
   * they were: refusing them would stall their feeds for good */
  crdt_id_new(NODE_OWNED_SINCE_MS - 1, NULL, plain);
  cr_assert(!node_id_guarded(plain));
  c = one_op_change(admin, "s/c/g01", "visit", plain, CRDT_OP_SET);
  cr_assert_eq(node_policy_check(p, c, why, sizeof why), GS_OK, "%s", why);
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
  cr_assert_eq(node_policy_load(admin, &p), GS_OK);
  cr_assert(node_policy_known(p, node_pk(m)));
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
