/*
 * Membership at scale (issue 14): N claims checked in one batch by the
 * admin (each witnessed), then the policy loaded with all of them held.
 *   build/tests/bench/bench_members [N]
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "node/node_internal.h"
#include "storage/store.h"

static double now_s(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  size_t N = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
  crdt_crypto_init();
  char dir[] = "/tmp/gs-bench-members-XXXXXX";
  mkdtemp(dir);
  char d2[300];
  snprintf(d2, sizeof d2, "%s/admin", dir);
  node *n;
  node_init(d2, "admin");
  node_open(d2, NODE_BULK, NULL, &n);
  node_network_create(n, "net");
  const char sc[1][CRDT_SCOPE_MAX + 1] = {"s/c/g01"};
  uint64_t exp = node_now(n) + 86400000;
  crdt_change **cs = calloc(N, sizeof *cs);
  for (size_t i = 0; i < N; i++) {
    uint8_t pk[32], sk[64], ipk[32], isk[64], seed[32];
    crdt_keypair(pk, sk);
    crdt_random(seed, 32);
    crdt_keypair_seed(seed, ipk, isk);
    msgpack_sbuffer cs1, cs2;
    node__cert_pack(n->net.id, "leader", sc, 1, exp, ipk, true, &cs1);
    node__cert_pack(n->net.id, "leader", sc, 1, exp, ipk, false, &cs2);
    uint8_t csig[64], proof[64], pm[17 + 32];
    crdt_sign(n->sk, (uint8_t *)cs1.data, cs1.size, csig);
    memcpy(pm, "gridsync-claim-v1", 17);
    memcpy(pm + 17, pk, 32);
    crdt_sign(isk, pm, sizeof pm, proof);
    crdt_op ops[4];
    memset(ops, 0, sizeof ops);
    const char *names[4] = {"key", "cert", "cert_sig", "proof"};
    const void *vals[4] = {pk, cs2.data, csig, proof};
    size_t lens[4] = {32, cs2.size, 64, 64};
    for (int k = 0; k < 4; k++) {
      ops[k].kind = CRDT_OP_SET;
      ops[k].coll = "member";
      ops[k].coll_len = 6;
      memcpy(ops[k].id, pk, 16);
      ops[k].field = names[k];
      ops[k].field_len = strlen(names[k]);
      ops[k].value.type = CRDT_BYTES;
      ops[k].value.u.s.p = vals[k];
      ops[k].value.u.s.n = lens[k];
    }
    crdt_change c = {.scope = "_net", .scope_len = 4, .seq = 1,
                     .hlc = CRDT_HLC_MAKE(node_now(n), 0), .ops = ops,
                     .nops = 4};
    memcpy(c.origin, pk, 32);
    uint8_t *raw;
    size_t len;
    crdt_change_build(&c, sk, &raw, &len);
    crdt_change_decode(raw, len, &cs[i]);
    free(raw);
    msgpack_sbuffer_destroy(&cs1);
    msgpack_sbuffer_destroy(&cs2);
  }
  node_policy *p;
  char why[200];
  double t0 = now_s();
  node_policy_load(n, &p);
  size_t ok = 0;
  for (size_t i = 0; i < N; i++)
    ok += node_policy_check(p, cs[i], why, sizeof why) == GS_OK;
  double t1 = now_s();
  node_policy_free(p); /* writes the admin's witnesses */
  double t2 = now_s();
  for (size_t i = 0; i < N; i++) {
    const uint8_t *r = cs[i]->raw;
    size_t l = cs[i]->raw_len;
    store_result res;
    store_apply(n->st, &r, &l, 1, &res, NULL);
  }
  double t3 = now_s();
  node_policy_load(n, &p);
  double t4 = now_s();
  node_member_info mi;
  node_member_get(n, cs[0]->origin, &mi);
  node_policy_free(p);
  printf("%zu claims: checked in one batch %.3f s (%zu ok), witnesses "
         "written %.3f s, policy load with all held %.4f s; first member "
         "state %d\n",
         N, t1 - t0, ok, t2 - t1, t4 - t3, (int)mi.state);
  for (size_t i = 0; i < N; i++)
    crdt_change_free(cs[i]);
  free(cs);
  node_close(n);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd);
}
