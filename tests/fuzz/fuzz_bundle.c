/* libFuzzer target: the bundle reader (node/bundle.c). The first input
 * byte, mod 3, picks what the rest is:
 *   0:    a bundle file as found on a USB stick: its plain header is
 *         decoded (node__bundle_header) and, when that succeeds, the file
 *         goes through node_import;
 *   1:    the sealed body of a bundle (msgpack array of changes): the
 *         harness seals it, under a valid header, with the network key of
 *         a real node (a temporary directory) and imports it, as a member
 *         holding that key could craft it.
 *   2 mod 3: the version-vector file of export --since (node_vv_write's,
 *         carried from another node): node_export reads it.
 * A header that decodes is within the file and its strings within their
 * buffers; import and export end with an answer, why NUL-terminated. */
#include <ftw.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/seal.h"
#include "node/node_internal.h"
#include "node/member.h"
#include "node/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[128], out[128];
static node *fz;

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *f)
{
  (void)st, (void)flag, (void)f;
  return remove(p);
}

static void cleanup(void)
{
  node_close(fz);
  fz = NULL;
  if (dir[0])
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
  /* tmpfs when there is one: LMDB commits and a file per input */
  snprintf(dir, sizeof dir, "%s/gs-fuzz-bundle-XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (crdt_crypto_init() != GS_OK || !mkdtemp(dir) ||
      node_init(dir, "fuzz") != GS_OK ||
      node_open(dir, NODE_BULK, NULL, &fz) != GS_OK ||
      node_network_create(fz, "fuzz") != GS_OK)
    abort();
  snprintf(path, sizeof path, "%s/in.bundle", dir);
  snprintf(out, sizeof out, "%s/out.bundle", dir);
  atexit(cleanup);
}

static void save(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(a, 1, an, f) != an || (bn && fwrite(b, 1, bn, f) != bn) ||
      fclose(f) != 0)
    abort();
}

static bool str_ok(const char *s, size_t cap)
{
  size_t n = strnlen(s, cap);
  return n < cap && crdt_utf8_valid(s, n);
}

static void import(void)
{
  node_import_result res;
  char why[200];
  memset(why, 'x', sizeof why);
  node_import(fz, path, &res, why, sizeof why);
  if (strnlen(why, sizeof why) == sizeof why)
    abort();
}

/* Seal body (n bytes) under a valid header of fz's network. */
static void sealed(const uint8_t *body, size_t n)
{
  msgpack_sbuffer hb;
  msgpack_packer hp;
  const node_network *net = node_net(fz);
  msgpack_sbuffer_init(&hb);
  msgpack_packer_init(&hp, &hb, msgpack_sbuffer_write);
  msgpack_pack_array(&hp, 8);
  msgpack_pack_uint8(&hp, 1);
  msgpack_pack_bin_with_body(&hp, net->id, 8);
  msgpack_pack_str_with_body(&hp, net->name, strlen(net->name));
  msgpack_pack_bin_with_body(&hp, node_pk(fz), CRDT_KEY_LEN);
  msgpack_pack_uint64(&hp, 1790000000000ULL);
  msgpack_pack_str_with_body(&hp, "", 0);
  msgpack_pack_uint64(&hp, 1);
  msgpack_pack_uint64(&hp, 1);
  size_t adlen = 9 + hb.size;
  uint8_t *ad = malloc(adlen);
  uint8_t *sl = malloc(NET_SEAL_NONCE + n + NET_SEAL_TAG);
  if (!ad || !sl || !hb.data)
    abort();
  memcpy(ad, "GSB1\n", 5);
  ad[5] = (uint8_t)(hb.size >> 24), ad[6] = (uint8_t)(hb.size >> 16);
  ad[7] = (uint8_t)(hb.size >> 8), ad[8] = (uint8_t)hb.size;
  memcpy(ad + 9, hb.data, hb.size);
  if (net_seal(net->key, ad, adlen, body, n, sl) != GS_OK)
    abort();
  save(ad, adlen, sl, NET_SEAL_NONCE + n + NET_SEAL_TAG);
  free(ad);
  free(sl);
  msgpack_sbuffer_destroy(&hb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static bool ready;
  if (!ready) {
    setup();
    ready = true;
  }
  if (size == 0)
    return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  if (data[0] % 3 == 1) {
    sealed(p, n);
    import();
    return 0;
  }
  if (data[0] % 3 == 2) {
    node_bundle_info info;
    save(p, n, NULL, 0);
    node_export(fz, out, NULL, NULL, path, &info);
    return 0;
  }
  node_bundle_info info;
  size_t adlen = 0;
  if (node__bundle_header(p, n, &info, &adlen) != GS_OK)
    return 0;
  if (adlen < 9 || adlen > n || !str_ok(info.netname, sizeof info.netname) ||
      !str_ok(info.scope, sizeof info.scope))
    abort();
  save(p, n, NULL, 0);
  import();
  return 0;
}
