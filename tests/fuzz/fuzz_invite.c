/* libFuzzer target: invite codes, through node_join itself on a real node
 * without a network (a temporary directory). The first input byte picks
 * the form: even, the rest is the code text as typed; odd, the rest is
 * the code's payload (msgpack), which the harness wraps as a code (check
 * bytes, base32, "GS1") so that mutations reach the decoder past the typo
 * check. A refused code must leave the node as it was (no network); a
 * code that joins (only a seed's signed payload can) gets a fresh node.
 * Seeds (make_seeds) are expired invites: signatures verify, expiry
 * refuses them. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/node_internal.h"
#include "node/member.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
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

/* A new node in a new temporary directory. */
static void fresh_node(void)
{
  cleanup();
  /* tmpfs when there is one: LMDB commits and a file per input */
  snprintf(dir, sizeof dir, "%s/gs-fuzz-invite-XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (!mkdtemp(dir) || node_init(dir, "fuzz") != GS_OK ||
      node_open(dir, NODE_BULK, NULL, &fz) != GS_OK)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static bool ready;
  if (!ready) {
    if (crdt_crypto_init() != GS_OK)
      abort();
    fresh_node();
    atexit(cleanup);
    ready = true;
  }
  if (size == 0)
    return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  char *code;
  if ((data[0] & 1) == 0) {
    if (!(code = malloc(n + 1)))
      abort();
    memcpy(code, p, n);
    code[n] = '\0';
  } else {
    uint8_t *raw = malloc(n + 4), check[CRDT_HASH_LEN];
    if (!raw || !(code = malloc(3 + (8 * (n + 4) + 4) / 5 + 1)))
      abort();
    memcpy(raw, p, n);
    crdt_hash(p, n, check);
    memcpy(raw + n, check, 4);
    memcpy(code, "GS1", 3);
    crdt_base32_encode(raw, n + 4, code + 3);
    free(raw);
  }
  gs_err err = node_join(fz, code);
  free(code);
  if (err == GS_OK) {
    if (!node_net(fz))
      abort(); /* joined, yet no network */
    fresh_node();
  } else if (node_net(fz)) {
    abort(); /* refused, yet half joined */
  }
  return 0;
}
