/* The address book: put, get, list in order, delete, bounds. */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/store.h"
#include "tests/unit/storage/store_test_util.h"

typedef struct seen {
  char addrs[8][64];
  size_t n;
} seen;

static int on_peer(void *ctx, const char *addr, const void *v, size_t n)
{
  seen *s = ctx;
  (void)v;
  (void)n;
  if (s->n < 8)
    strcpy(s->addrs[s->n++], addr);
  return 0;
}

Test(store_peers, put_get_list_delete)
{
  char dir[256];
  store *s;
  cr_assert(t_mkdtemp(dir, sizeof dir));
  cr_assert_eq(store_open(dir, STORE_CREATE | STORE_NOSYNC, &s), GS_OK);
  cr_assert_eq(store_peer_put(s, "10.0.0.2:7070", "b", 1), GS_OK);
  cr_assert_eq(store_peer_put(s, "10.0.0.1:7070", "a1", 2), GS_OK);
  cr_assert_eq(store_peer_put(s, "10.0.0.1:7070", "a", 1), GS_OK);
  char buf[8];
  size_t n;
  cr_assert_eq(store_peer_get(s, "10.0.0.1:7070", buf, sizeof buf, &n),
               GS_OK);
  cr_assert_eq(n, 1);
  cr_assert_eq(buf[0], 'a');
  seen sn = {0};
  cr_assert_eq(store_peer_list(s, on_peer, &sn), GS_OK);
  cr_assert_eq(sn.n, 2);
  cr_assert_str_eq(sn.addrs[0], "10.0.0.1:7070");
  cr_assert_str_eq(sn.addrs[1], "10.0.0.2:7070");
  cr_assert_eq(store_peer_del(s, "10.0.0.1:7070"), GS_OK);
  cr_assert_eq(store_peer_del(s, "10.0.0.1:7070"), GS_ENOTFOUND);
  cr_assert_eq(store_peer_get(s, "10.0.0.1:7070", buf, sizeof buf, &n),
               GS_ENOTFOUND);
  cr_assert_eq(store_peer_put(s, "", "x", 1), GS_EINVAL);
  char big[STORE_ADDR_MAX + 2];
  memset(big, 'h', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  cr_assert_eq(store_peer_put(s, big, "x", 1), GS_EINVAL);
  store_close(s);
  t_rmtree(dir);
}
