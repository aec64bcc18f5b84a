/*
 * Network key, invite codes and join (node/network.c), through the node
 * API: what a code carries, and each way a code must fail.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/node.h"
#include "node/member.h"

static char netdir[256];

static void net_setup(void)
{
  snprintf(netdir, sizeof netdir, "/tmp/gs-net-XXXXXX");
  cr_assert_not_null(mkdtemp(netdir));
}

static void net_teardown(void)
{
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", netdir);
  cr_assert_eq(system(cmd), 0);
}

static uint64_t fixed_ms = 1795000000000ULL; /* 2026-11 */
static uint64_t fixed_now(void *ctx)
{
  (void)ctx;
  return fixed_ms;
}
static const node_clock fixed_clock = {fixed_now, NULL};

static node *make_node(const char *name)
{
  char dir[400];
  node *n;
  snprintf(dir, sizeof dir, "%s/%s", netdir, name);
  cr_assert_eq(node_init(dir, name), GS_OK);
  cr_assert_eq(node_open(dir, NODE_BULK, &fixed_clock, &n), GS_OK);
  return n;
}

static node *reopen(node *n, const char *name)
{
  char dir[400];
  node_close(n);
  snprintf(dir, sizeof dir, "%s/%s", netdir, name);
  cr_assert_eq(node_open(dir, NODE_BULK, &fixed_clock, &n), GS_OK);
  return n;
}

/* Rewrite a code: decode, let edit change the payload, fix the check
 * bytes, encode again. */
static char *recode(const char *code, void (*edit)(uint8_t *p, size_t n))
{
  size_t tl = strlen(code) - 3, rn = tl * 5 / 8;
  uint8_t *raw = malloc(rn), h[CRDT_HASH_LEN];
  cr_assert_eq(crdt_base32_decode(code + 3, tl, raw, rn), GS_OK);
  edit(raw, rn - 4);
  crdt_hash(raw, rn - 4, h);
  memcpy(raw + rn - 4, h, 4);
  char *out = malloc(tl + 4);
  memcpy(out, "GS1", 3);
  crdt_base32_encode(raw, rn, out + 3);
  free(raw);
  return out;
}

static void flip_sig(uint8_t *p, size_t n)
{
  p[n - 35] ^= 0x01; /* last byte of cert_sig, before the 34-byte seed */
}

static void flip_seed(uint8_t *p, size_t n)
{
  p[n - 1] ^= 0x01; /* the invite seed no longer makes the invite key */
}

static void flip_role_byte(uint8_t *p, size_t n)
{
  /* "leader" -> "reader": a different role under the old signature */
  for (size_t i = 0; i + 6 <= n; i++)
    if (memcmp(p + i, "leader", 6) == 0) {
      p[i] = 'r';
      return;
    }
  cr_assert_fail("role not found in the payload");
}

TestSuite(network, .init = net_setup, .fini = net_teardown, .timeout = 60);

Test(network, create_invite_join)
{
  node *admin = make_node("admin"), *leader = make_node("leader");
  cr_assert_null(node_net(admin));
  cr_assert_eq(node_network_create(admin, "工人村街道"), GS_OK);
  const node_network *an = node_net(admin);
  cr_assert_not_null(an);
  cr_assert_str_eq(an->role, "admin");
  cr_assert_eq(node_network_create(admin, "again"), GS_EEXIST);

  char path[500];
  struct stat st;
  snprintf(path, sizeof path, "%s/admin/network.key", netdir);
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0600);
  cr_assert_eq(st.st_size, 8 + NODE_NET_KEY_LEN + CRDT_SEAL_OVERHEAD,
               "network.key is sealed (issue 19)");

  const char *scopes[] = {"gongrencun/qinghejv/g07", "gongrencun/qinghejv/g08"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 2, fixed_ms + 3600000,
                           &code),
               GS_OK);
  cr_assert_eq(strncmp(code, "GS1", 3), 0);
  cr_assert_null(strchr(code, '\n'));
  /* people may type it in lower case with dashes and spaces */
  char typed[2048];
  size_t k = 0;
  for (size_t i = 0; code[i]; i++) {
    if (i && i % 5 == 0)
      typed[k++] = i % 10 ? '-' : ' ';
    typed[k++] = (char)(code[i] >= 'A' && code[i] <= 'Z' ? code[i] + 32
                                                          : code[i]);
  }
  typed[k] = '\0';
  cr_assert_eq(node_join(leader, typed), GS_OK);
  const node_network *ln = node_net(leader);
  cr_assert_not_null(ln);
  cr_assert_str_eq(ln->name, "工人村街道");
  cr_assert_str_eq(ln->role, "leader");
  cr_assert_eq(ln->nscopes, 2);
  cr_assert_str_eq(ln->scopes[1], "gongrencun/qinghejv/g08");
  cr_assert_eq(memcmp(ln->key, an->key, NODE_NET_KEY_LEN), 0);
  cr_assert_eq(memcmp(ln->id, an->id, 8), 0);
  cr_assert_eq(memcmp(ln->admin, node_pk(admin), CRDT_KEY_LEN), 0);

  /* it survives a reopen; a second join is refused */
  leader = reopen(leader, "leader");
  cr_assert_not_null(node_net(leader));
  cr_assert_str_eq(node_net(leader)->role, "leader");
  cr_assert_eq(node_join(leader, code), GS_EEXIST);
  /* a leader cannot invite */
  char *c2;
  cr_assert_eq(node_invite(leader, "reader", scopes, 1, fixed_ms + 1, &c2),
               GS_EPERM);
  free(code);
  node_close(admin);
  node_close(leader);
}

Test(network, bad_codes_do_not_join)
{
  node *admin = make_node("admin"), *x = make_node("x");
  const char *scopes[] = {"s/c/g01"};
  char *code;
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, fixed_ms + 1000,
                           &code),
               GS_ENOTFOUND, "invite without a network");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  cr_assert_eq(node_invite(admin, "chief", scopes, 1, fixed_ms + 1000, &code),
               GS_EINVAL);
  const char *bad_scope[] = {"s//c"};
  cr_assert_eq(node_invite(admin, "leader", bad_scope, 1, fixed_ms + 1000,
                           &code),
               GS_ESCOPE);
  cr_assert_eq(node_invite(admin, "leader", scopes, 1, fixed_ms + 1000,
                           &code),
               GS_OK);

  /* a typo: every single-character change is caught */
  size_t len = strlen(code);
  for (size_t i = 3; i < len; i++) {
    char saved = code[i];
    code[i] = saved == 'Z' ? 'Y' : 'Z';
    cr_assert_neq(node_join(x, code), GS_OK, "typo at %zu joined", i);
    code[i] = saved;
  }
  /* truncated, empty, garbage */
  char *cut = strndup(code, len - 7);
  cr_assert_eq(node_join(x, cut), GS_EDECODE);
  free(cut);
  cr_assert_eq(node_join(x, ""), GS_EDECODE);
  cr_assert_eq(node_join(x, "GS1"), GS_EDECODE);
  cr_assert_eq(node_join(x, "hello world"), GS_EDECODE);
  cr_assert_eq(node_join(x, "GS1!!!!!!!!!!!!!!!!!!"), GS_EDECODE);

  /* a forged signature, or a role changed under the old one */
  char *forged = recode(code, flip_sig);
  cr_assert_eq(node_join(x, forged), GS_ESIG);
  char *reseeded = recode(code, flip_seed);
  cr_assert_eq(node_join(x, reseeded), GS_EDECODE);
  free(reseeded);
  char *promoted = recode(code, flip_role_byte);
  cr_assert_eq(node_join(x, promoted), GS_ESIG);

  /* expired */
  uint64_t saved_ms = fixed_ms;
  fixed_ms += 1001;
  cr_assert_eq(node_join(x, code), GS_ETIMEOUT);
  fixed_ms = saved_ms;
  cr_assert_null(node_net(x), "a refused code left a network behind");
  x = reopen(x, "x");
  cr_assert_null(node_net(x));
  /* and the good code still works */
  cr_assert_eq(node_join(x, code), GS_OK);
  free(code), free(forged), free(promoted);
  node_close(admin);
  node_close(x);
}

Test(network, key_file_mode_is_checked)
{
  node *admin = make_node("admin");
  cr_assert_eq(node_network_create(admin, "net"), GS_OK);
  node_close(admin);
  char path[500], dir[400];
  snprintf(path, sizeof path, "%s/admin/network.key", netdir);
  snprintf(dir, sizeof dir, "%s/admin", netdir);
  cr_assert_eq(chmod(path, 0640), 0);
  cr_assert_eq(node_open(dir, 0, &fixed_clock, &admin), GS_EKEYMODE);
  cr_assert_null(admin);
}
