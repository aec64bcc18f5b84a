/*
 * LAN discovery beacons (net/disco.h): the codec refuses every damaged,
 * foreign, stale, replayed or mis-sized beacon, and two beacons of one
 * node share nothing a stranger could link them by. Then three endpoints
 * on one loop hear each other over the host's interfaces (one of another
 * network hears nothing). And the address book says how each address
 * was found.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "crdt/crdt.h"
#include "net/disco.h"
#include "node/netnode.h"
#include "node/node_internal.h"

static void disco_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(disco, .init = disco_init, .timeout = 60);

#define NOW 1796112000000ULL /* 2026-12-01 */

static void make(uint8_t key[32], uint8_t netkey[32], net_disco_beacon *b)
{
  memset(netkey, 0x42, 32);
  net_disco_key(netkey, key);
  memset(b, 0, sizeof *b);
  for (int i = 0; i < 32; i++)
    b->node[i] = (uint8_t)(i * 7 + 1);
  b->port = 7070;
  b->ms = NOW;
}

Test(disco, round_trip)
{
  uint8_t k[1][32], nk[32], pkt[NET_DISCO_LEN];
  net_disco_beacon b, got;
  make(k[0], nk, &b);
  cr_assert_neq(memcmp(k[0], nk, 32), 0, "the beacon key is not the network key");
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, sizeof pkt, &got),
               GS_OK);
  cr_assert_eq(got.port, 7070);
  cr_assert_eq(got.ms, NOW);
  cr_assert_eq(memcmp(got.node, b.node, 32), 0);
  /* the second of two keys (a rotation) opens it too */
  uint8_t two[2][32];
  memset(two[0], 1, 32);
  memcpy(two[1], k[0], 32);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])two, 2, pkt, sizeof pkt, &got),
               GS_OK);
}

Test(disco, flipped_byte_refused)
{
  uint8_t k[1][32], nk[32], pkt[NET_DISCO_LEN];
  net_disco_beacon b, got;
  make(k[0], nk, &b);
  net_disco_seal(k[0], &b, pkt);
  for (size_t i = 0; i < NET_DISCO_LEN; i++)
    for (int bit = 0; bit < 8; bit += 3) {
      uint8_t c[NET_DISCO_LEN];
      memcpy(c, pkt, sizeof c);
      c[i] ^= (uint8_t)(1u << bit);
      cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, c, sizeof c, &got),
                   GS_ECRYPTO, "byte %zu bit %d", i, bit);
    }
}

Test(disco, other_network_refused)
{
  uint8_t k[1][32], other[1][32], nk[32], pkt[NET_DISCO_LEN];
  net_disco_beacon b, got;
  make(k[0], nk, &b);
  nk[0] ^= 1;
  net_disco_key(nk, other[0]);
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])other, 1, pkt, sizeof pkt,
                              &got),
               GS_ECRYPTO);
  /* nor is the network key itself the beacon key */
  nk[0] ^= 1;
  memcpy(other[0], nk, 32);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])other, 1, pkt, sizeof pkt,
                              &got),
               GS_ECRYPTO);
}

Test(disco, sizes_refused)
{
  uint8_t k[1][32], nk[32], pkt[NET_DISCO_LEN + 64];
  net_disco_beacon b, got;
  make(k[0], nk, &b);
  net_disco_seal(k[0], &b, pkt);
  memset(pkt + NET_DISCO_LEN, 0, 64);
  for (size_t n = 0; n < NET_DISCO_LEN; n++)
    cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, n, &got),
                 GS_ETRUNC, "%zu bytes", n);
  for (size_t n = NET_DISCO_LEN + 1; n <= sizeof pkt; n++)
    cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, n, &got),
                 GS_ETOOBIG, "%zu bytes", n);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 0, pkt, NET_DISCO_LEN,
                              &got),
               GS_ECRYPTO, "no key opens anything");
}

Test(disco, stale_and_replay_refused)
{
  uint8_t k[1][32], nk[32], pkt[NET_DISCO_LEN];
  net_disco_beacon b, got;
  net_disco_guard *g;
  make(k[0], nk, &b);
  cr_assert_eq(net_disco_guard_new(&g), GS_OK);
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, sizeof pkt, &got),
               GS_OK);
  cr_assert_eq(net_disco_guard_check(g, pkt, got.ms, NOW + 1000), GS_OK);
  cr_assert_eq(net_disco_guard_check(g, pkt, got.ms, NOW + 2000), GS_EEXIST,
               "a replay");
  /* stale and future beacons (sealed fresh, so only the time is wrong) */
  b.ms = NOW - NET_DISCO_WINDOW_MS - 1;
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_guard_check(g, pkt, b.ms, NOW), GS_ECLOCK);
  b.ms = NOW + NET_DISCO_WINDOW_MS + 1;
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_guard_check(g, pkt, b.ms, NOW), GS_ECLOCK);
  b.ms = NOW - NET_DISCO_WINDOW_MS + 1000;
  net_disco_seal(k[0], &b, pkt);
  cr_assert_eq(net_disco_guard_check(g, pkt, b.ms, NOW), GS_OK,
               "inside the window");
  /* a full cache: its oldest entries go, and their replays stay refused */
  uint8_t first[NET_DISCO_LEN];
  b.ms = NOW + 1;
  net_disco_seal(k[0], &b, first);
  cr_assert_eq(net_disco_guard_check(g, first, b.ms, NOW), GS_OK);
  for (int i = 0; i < 3 * NET_DISCO_REPLAY_MAX; i++) {
    b.ms = NOW + 2 + (uint64_t)i;
    net_disco_seal(k[0], &b, pkt);
    cr_assert_eq(net_disco_guard_check(g, pkt, b.ms, NOW), GS_OK, "%d", i);
  }
  cr_assert_eq(net_disco_guard_check(g, first, NOW + 1, NOW), GS_ECLOCK,
               "evicted from the cache, still refused");
  cr_assert_eq(net_disco_guard_check(g, pkt, b.ms, NOW), GS_EEXIST);
  net_disco_guard_free(g);
}

/* seal pt by hand, as net_disco_seal does (the format of disco.h) */
static void seal_raw(const uint8_t key[32], const uint8_t pt[NET_DISCO_PLAIN],
                     uint8_t out[NET_DISCO_LEN])
{
  static const char ad[] = "gridsync-beacon-v1";
  unsigned long long cl;
  randombytes_buf(out, NET_DISCO_NONCE);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + NET_DISCO_NONCE, &cl, pt,
                                             NET_DISCO_PLAIN,
                                             (const uint8_t *)ad, sizeof ad - 1,
                                             NULL, out, key);
}

Test(disco, bad_contents_refused)
{
  /* made under the right key, but not version 1, or flags or padding set */
  uint8_t k[1][32], nk[32], pkt[NET_DISCO_LEN], pt[NET_DISCO_PLAIN];
  net_disco_beacon b, got;
  make(k[0], nk, &b);
  memset(pt, 0, sizeof pt);
  pt[0] = 1;
  seal_raw(k[0], pt, pkt);
  cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, sizeof pkt, &got),
               GS_OK, "the hand-made one is right");
  size_t bad[] = {0, 1, 44, 50, NET_DISCO_PLAIN - 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(pt, 0, sizeof pt);
    pt[0] = 1;
    pt[bad[i]] ^= 2;
    seal_raw(k[0], pt, pkt);
    cr_assert_eq(net_disco_open((const uint8_t(*)[32])k, 1, pkt, sizeof pkt,
                                &got),
                 GS_EDECODE, "byte %zu", bad[i]);
  }
}

/* the longest run of bytes two buffers share anywhere */
static size_t common_run(const uint8_t *a, const uint8_t *b, size_t n)
{
  size_t best = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++) {
      size_t k = 0;
      while (i + k < n && j + k < n && a[i + k] == b[j + k])
        k++;
      if (k > best)
        best = k;
    }
  return best;
}

Test(disco, two_beacons_unlinkable)
{
  uint8_t k[1][32], nk[32], p1[NET_DISCO_LEN], p2[NET_DISCO_LEN];
  net_disco_beacon b;
  make(k[0], nk, &b);
  size_t worst = 0, same_pos = 0;
  for (int round = 0; round < 50; round++) {
    net_disco_seal(k[0], &b, p1);
    net_disco_seal(k[0], &b, p2); /* the very same content */
    size_t r = common_run(p1, p2, NET_DISCO_LEN);
    if (r > worst)
      worst = r;
    for (size_t i = 0; i < NET_DISCO_LEN; i++)
      same_pos += p1[i] == p2[i];
    /* nothing of the node key or port shows */
    cr_assert_lt(common_run(p1, b.node, 32), 8);
  }
  cr_assert_lt(worst, 8, "two beacons of one node share %zu bytes", worst);
  /* equal bytes at one position happen by chance: 1/256 each */
  cr_assert_lt(same_pos, 50 * NET_DISCO_LEN / 256 * 3 + 10, "%zu", same_pos);
}

/* ---- two endpoints on one loop ---- */

typedef struct heard {
  int n;
  net_disco_beacon last;
  uint8_t netkey[32];
  uint64_t now;
} heard;

static uint64_t h_now(void *ctx)
{
  return ((heard *)ctx)->now;
}

static size_t h_keys(void *ctx, uint8_t (*keys)[32], size_t max)
{
  (void)max;
  memcpy(keys[0], ((heard *)ctx)->netkey, 32);
  return 1;
}

static void h_beacon(void *ctx, const net_disco_beacon *b,
                     const struct sockaddr *from)
{
  heard *h = ctx;
  (void)from;
  h->n++;
  h->last = *b;
}

static void h_done(void *ctx)
{
  (*(int *)ctx)++;
}

static void on_wait(uv_timer_t *t)
{
  uv_stop(t->loop);
}

static uint16_t free_udp_port(void)
{
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  cr_assert_geq(fd, 0);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

Test(disco, endpoints_hear_each_other)
{
  uv_loop_t loop;
  uv_timer_t t;
  heard a = {.now = NOW}, b = {.now = NOW}, c = {.now = NOW};
  memset(a.netkey, 7, 32);
  memset(b.netkey, 7, 32);
  memset(c.netkey, 8, 32); /* another network */
  cr_assert_eq(uv_loop_init(&loop), 0);
  net_disco_opts oa = {.port = 0, .announce = true, .tcp_port = 1111,
                       .now = h_now, .keys = h_keys, .on_beacon = h_beacon,
                       .ctx = &a, .every_ms = 200};
  /* a port the OS has free (other tests and nodes of this host keep
   * theirs); the three endpoints share it, as nodes on a LAN do */
  oa.port = free_udp_port();
  net_disco_opts ob = oa, oc = oa;
  memset(oa.node, 0xa, 32);
  memset(ob.node, 0xb, 32);
  memset(oc.node, 0xc, 32);
  ob.tcp_port = 2222;
  ob.ctx = &b;
  oc.ctx = &c;
  net_disco *da, *db, *dc;
  cr_assert_eq(net_disco_start(&loop, &oa, &da), GS_OK);
  cr_assert_eq(net_disco_start(&loop, &ob, &db), GS_OK);
  cr_assert_eq(net_disco_start(&loop, &oc, &dc), GS_OK);
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_wait, 2500, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  const net_disco_stats *sa = net_disco_get_stats(da);
  if (sa->sent == 0) {
    cr_log_info("no interface to broadcast on: only the codec was tested");
  } else {
    cr_assert_gt(a.n, 0, "a heard b");
    cr_assert_gt(b.n, 0, "b heard a");
    cr_assert_eq(a.last.port, 2222);
    cr_assert_eq(b.last.port, 1111);
    cr_assert_eq(c.n, 0, "another network hears nothing");
    cr_assert_gt(net_disco_get_stats(dc)->auth, 0);
    cr_assert_gt(sa->own, 0, "its own beacons are ignored");
  }
  int done = 0;
  net_disco_stop(da, h_done, &done);
  net_disco_stop(db, h_done, &done);
  net_disco_stop(dc, h_done, &done);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_assert_eq(done, 3);
  cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- the address book says how each address was found ---- */


/* an entry [0, 0, 0, "", nil] with found appended when found >= 0 */
static gs_err book_of(int found, node_peer_info *info)
{
  msgpack_sbuffer sb;
  msgpack_packer pk;
  char note[NODE__BOOK_NOTE_MAX];
  uint8_t key[CRDT_KEY_LEN];
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, found >= 0 ? 6 : 5);
  for (int i = 0; i < 3; i++)
    msgpack_pack_uint8(&pk, 0);
  msgpack_pack_str(&pk, 0);
  msgpack_pack_nil(&pk);
  if (found >= 0)
    msgpack_pack_uint8(&pk, (uint8_t)found);
  gs_err err = node__book_decode((const uint8_t *)sb.data, sb.size, info, note,
                                 key);
  msgpack_sbuffer_destroy(&sb);
  return err;
}

Test(disco, book_records_how_found)
{
  node_peer_info info;
  char note[NODE__BOOK_NOTE_MAX];
  uint8_t key[CRDT_KEY_LEN];
  cr_assert_eq(node__book_decode((const uint8_t *)"", 0, &info, note, key),
               GS_OK);
  cr_assert_eq(info.found, NODE_FOUND_TYPED, "typed, never tried");
  cr_assert_eq(book_of(-1, &info), GS_OK);
  cr_assert_eq(info.found, NODE_FOUND_UNKNOWN, "written before it was kept");
  cr_assert_eq(book_of(NODE_FOUND_LAN, &info), GS_OK);
  cr_assert_eq(info.found, NODE_FOUND_LAN);
  cr_assert_eq(book_of(NODE_FOUND_PEER, &info), GS_OK);
  cr_assert_eq(info.found, NODE_FOUND_PEER);
  cr_assert_eq(book_of(9, &info), GS_ECORRUPT, "an unknown way is refused");
}
