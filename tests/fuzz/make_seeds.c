/* Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/...):
 * valid inputs of every kind, from which libFuzzer mutates. Run it again
 * when a format changes:  build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
 */
#include <ftw.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crdt/crdt.h"
#include "net/msg.h"
#include "net/net_internal.h"
#include "net/noise.h"
#include "net/seal.h"
#include "node/node_internal.h"
#include "node/member.h"
#include "node/bundle.h"

static const char *root;

static void save(const char *target, const char *name, const uint8_t *p,
                 size_t n)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* target/name := the byte mode, then p (n bytes). */
static void save_mode(const char *target, const char *name, uint8_t mode,
                      const uint8_t *p, size_t n)
{
  uint8_t *b = malloc(n + 1);
  if (!b)
    exit(1);
  b[0] = mode;
  memcpy(b + 1, p, n);
  save(target, name, b, n + 1);
  free(b);
}

static uint8_t *slurp(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  uint8_t *b = NULL;
  long len;
  if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0 || !(b = malloc((size_t)len + 1)) ||
      fread(b, 1, (size_t)len, f) != (size_t)len) {
    perror(path);
    exit(1);
  }
  fclose(f);
  *n = (size_t)len;
  return b;
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *f)
{
  (void)st, (void)flag, (void)f;
  return remove(p);
}

/* Seeds of the node-level decoders: address-book entries (fuzz_book),
 * invite codes (fuzz_invite: expired, so that signatures verify and
 * expiry refuses them), bundles (fuzz_bundle: a real export, and its
 * body). A temporary node makes them. */
static void node_seeds(const crdt_op *ops, size_t nops)
{
  /* book: [last_ok, last_try, failures, note, key or nil] */
  for (int k = 0; k < 3; k++) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t key[CRDT_KEY_LEN];
    memset(key, 0x5a, sizeof key);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint64(&pk, k ? 1790000000000ULL : 0);
    msgpack_pack_uint64(&pk, k ? 1790000030000ULL : 1790000000000ULL);
    msgpack_pack_uint32(&pk, k ? 0 : 3);
    /* k == 2: a damaged note (UTF-8 cut in the middle of a character) */
    const char *note = k == 2   ? "cannot connect: \xe8\xbf"
                       : k == 1 ? "ok"
                                : "cannot connect: 连接被拒绝";
    msgpack_pack_str_with_body(&pk, note, strlen(note));
    if (k)
      msgpack_pack_bin_with_body(&pk, key, sizeof key);
    else
      msgpack_pack_nil(&pk);
    save("book",
         k == 2 ? "damaged_note" : k ? "synced_with_key" : "failing_no_key",
         (const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
  }
  save("book", "configured_never_tried", (const uint8_t *)"", 0);

  char dir[] = "/tmp/gs-make-seeds-XXXXXX", file[128];
  node *n;
  if (!mkdtemp(dir) || node_init(dir, "seeds") != GS_OK ||
      node_open(dir, NODE_BULK, NULL, &n) != GS_OK ||
      node_network_create(n, "王家社区") != GS_OK) {
    fprintf(stderr, "cannot make a temporary node\n");
    exit(1);
  }
  /* invites */
  const char *scopes[2] = {"office", "office/east"};
  char *code;
  if (node_invite(n, "leader", scopes, 2, 1, &code) != GS_OK)
    exit(1);
  save_mode("invite", "expired_code", 0, (const uint8_t *)code, strlen(code));
  size_t cl = strlen(code);
  char *typed = malloc(2 * cl + 1);
  size_t tl = 0;
  for (size_t i = 0; i < cl; i++) { /* as a person types it */
    if (i && i % 4 == 0)
      typed[tl++] = i % 8 ? ' ' : '-';
    typed[tl++] = (char)(code[i] >= 'A' && code[i] <= 'Z' ? code[i] + 32
                                                           : code[i]);
  }
  save_mode("invite", "expired_code_typed", 0, (const uint8_t *)typed, tl);
  free(typed);
  size_t rn = (cl - 3) * 5 / 8;
  uint8_t *raw = malloc(rn);
  if (!raw || crdt_base32_decode(code + 3, cl - 3, raw, rn) != GS_OK)
    exit(1);
  save_mode("invite", "expired_payload", 1, raw, rn - 4);
  free(raw);
  free(code);
  if (node_invite(n, "reader", scopes, 1, 1, &code) != GS_OK)
    exit(1);
  save_mode("invite", "expired_reader_code", 0, (const uint8_t *)code,
            strlen(code));
  free(code);

  /* bundles: a real export of two changes, and its body */
  uint64_t seq;
  if (node__write(n, "office", 6, ops, nops, &seq) != GS_OK ||
      node__write(n, "office/east", 11, ops, 2, &seq) != GS_OK)
    exit(1);
  snprintf(file, sizeof file, "%s/out.bundle", dir);
  node_bundle_info info;
  if (node_export(n, file, NULL, NULL, NULL, &info) != GS_OK)
    exit(1);
  size_t bn, adlen;
  uint8_t *b = slurp(file, &bn);
  save_mode("bundle", "export", 0, b, bn);
  if (node__bundle_header(b, bn, &info, &adlen) != GS_OK)
    exit(1);
  size_t body_len = bn - adlen - NET_SEAL_NONCE - NET_SEAL_TAG;
  uint8_t *body = malloc(body_len + 1);
  if (!body || net_unseal(node_net(n)->key, b, adlen, b + adlen, bn - adlen,
                          body) != GS_OK)
    exit(1);
  save_mode("bundle", "body", 1, body, body_len);
  snprintf(file, sizeof file, "%s/vv", dir);
  if (node_vv_write(n, file) != GS_OK)
    exit(1);
  size_t vn;
  uint8_t *vv = slurp(file, &vn);
  save_mode("bundle", "since_vv", 2, vv, vn);
  free(vv);
  free(body);
  free(b);
  node_close(n);
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  root = argv[1];
  mkdir(root, 0755);
  if (crdt_crypto_init() != GS_OK)
    return 1;
  uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN], id[CRDT_ID_LEN];
  memset(sk, 7, 32); /* deterministic key: seed bytes are stable */
  crdt_keypair(pk, sk);
  memset(id, 0x42, sizeof id);
  crdt_stamp tag = {.hlc = CRDT_HLC_MAKE(1790000000000ULL, 3)};
  memcpy(tag.origin, pk, sizeof pk);
  crdt_op ops[6] = {
      {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8, .field = "name",
       .field_len = 4, .value = {.type = CRDT_STR, .u.s = {"王秀英", 9}}},
      {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8, .field = "age",
       .field_len = 3, .value = {.type = CRDT_INT, .u.i = 85}},
      {.kind = CRDT_OP_ADD, .coll = "resident", .coll_len = 8, .field = "tags",
       .field_len = 4, .value = {.type = CRDT_STR, .u.s = {"elderly", 7}}},
      {.kind = CRDT_OP_REMOVE, .coll = "resident", .coll_len = 8,
       .field = "tags", .field_len = 4,
       .value = {.type = CRDT_STR, .u.s = {"floating", 8}}, .tags = &tag,
       .ntags = 1},
      {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8, .field = "home",
       .field_len = 4, .value = {.type = CRDT_REF}},
      {.kind = CRDT_OP_DELETE, .coll = "resident", .coll_len = 8},
  };
  ops[4].value.u.ref.coll = "household";
  ops[4].value.u.ref.coll_len = 9;
  memcpy(ops[4].value.u.ref.id, id, sizeof id);
  for (int i = 0; i < 6; i++)
    memcpy(ops[i].id, id, sizeof id);

  crdt_change c = {.scope = "gongrencun/qinghejv/g07", .scope_len = 23,
                   .seq = 1, .hlc = CRDT_HLC_MAKE(1790000000000ULL, 0),
                   .ops = ops, .nops = 6};
  memcpy(c.origin, pk, sizeof pk);
  uint8_t *buf;
  size_t n;
  if (crdt_change_build(&c, sk, &buf, &n) != GS_OK)
    return 1;
  save("change", "seq1_all_ops", buf, n);
  crdt_change *d;
  if (crdt_change_decode(buf, n, &d) != GS_OK)
    return 1;
  crdt_change c2 = c;
  c2.seq = 2;
  c2.nops = 1;
  c2.ops = &ops[2];
  crdt_change_hash(d, c2.prev);
  uint8_t *buf2;
  size_t n2;
  if (crdt_change_build(&c2, sk, &buf2, &n2) != GS_OK)
    return 1;
  save("change", "seq2_add", buf2, n2);

  /* records: the state after the change, and after a restore */
  crdt_record *r = crdt_record_new(c.scope, c.scope_len, "resident", 8, id);
  crdt_stamp st = {.hlc = c.hlc};
  memcpy(st.origin, pk, sizeof pk);
  for (int i = 0; i < 5; i++)
    crdt_record_apply(r, &ops[i], &st);
  uint8_t *rb;
  size_t rn;
  crdt_record_encode(r, &rb, &rn);
  save("record", "live", rb, rn);
  free(rb);
  st.hlc++;
  crdt_record_apply(r, &ops[5], &st);
  crdt_record_encode(r, &rb, &rn);
  save("record", "deleted", rb, rn);
  free(rb);
  crdt_record_free(r);

  /* messages: one of each type */
  net_vv_entry e[2];
  memset(e, 0, sizeof e);
  e[0].feed[0] = 1, e[0].seq = 3;
  e[1].feed[0] = 2, e[1].seq = 1ULL << 40;
  e[1].has_head = true, e[1].head[0] = 0x5a; /* with its head hash */
  net_bytes ch[2] = {{buf, n}, {buf2, n2}};
  net_bytes addrs[2] = {{(const uint8_t *)"127.0.0.1:7070", 14},
                        {(const uint8_t *)"office.local:7070", 17}};
  struct {
    const char *name;
    gs_err err;
    uint8_t *p;
    size_t n;
  } m[12];
  m[0].name = "vv", m[0].err = net_msg_vv(e, 2, true, &m[0].p, &m[0].n);
  m[1].name = "changes",
  m[1].err = net_msg_changes(ch, 2, &m[1].p, &m[1].n);
  m[2].name = "ack", m[2].err = net_msg_ack(2, 0, &m[2].p, &m[2].n);
  m[3].name = "done", m[3].err = net_msg_done(&m[3].p, &m[3].n);
  m[4].name = "ping", m[4].err = net_msg_ping(false, 99, &m[4].p, &m[4].n);
  m[5].name = "pong", m[5].err = net_msg_ping(true, 99, &m[5].p, &m[5].n);
  m[6].name = "error",
  m[6].err = net_msg_error(-40009, "签名错误 bad signature", &m[6].p,
                           &m[6].n);
  m[7].name = "peers", m[7].err = net_msg_peers(addrs, 2, &m[7].p, &m[7].n);
  /* packed: the same two changes, eight times over, pack */
  net_bytes ch8[8];
  for (int i = 0; i < 8; i++)
    ch8[i] = ch[i % 2];
  uint8_t *raw8;
  size_t raw8n;
  m[8].name = "packed", m[8].p = NULL;
  m[8].err = net_msg_changes(ch8, 8, &raw8, &raw8n);
  if (!m[8].err) {
    m[8].err = net_msg_pack(raw8, raw8n, &m[8].p, &m[8].n);
    free(raw8);
    if (!m[8].err && !m[8].p)
      m[8].err = GS_EINVAL;
  }
  m[9].name = "hello",
  m[9].err = net_msg_hello(1796083200000ULL, &m[9].p, &m[9].n);
  /* ranges: a SKIP, an FP, ITEMS (one entry with its head, one lacked)
   * and a FINAL to the end */
  {
    net_bound lo = {.inf = false}, b1 = lo, b2 = lo, b3 = lo, end = lo;
    b1.v[0] = 1, b2.v[0] = 2, b2.v[1] = 0x80, b3.v[0] = 3;
    end.inf = true;
    net_vv_entry it[2];
    memset(it, 0, sizeof it);
    it[0].feed[0] = 2, it[0].feed[1] = 0x90, it[0].seq = 7;
    it[0].has_head = true, it[0].head[0] = 0x5a;
    it[1].feed[0] = 2, it[1].feed[1] = 0xa0; /* seq 0: lacked */
    net_range rg[4];
    memset(rg, 0, sizeof rg);
    rg[0].hi = b1, rg[0].mode = NET_RANGE_SKIP;
    rg[1].hi = b2, rg[1].mode = NET_RANGE_FP, rg[1].count = 12;
    rg[1].fp[0] = 0x11;
    rg[2].hi = b3, rg[2].mode = NET_RANGE_ITEMS, rg[2].items = it, rg[2].n = 2;
    rg[3].hi = end, rg[3].mode = NET_RANGE_FINAL;
    m[10].name = "ranges";
    m[10].err = net_msg_ranges(&lo, rg, 4, false, &m[10].p, &m[10].n);
  }
  /* frames: the first change as a zstd frame, the second as it is */
  {
    size_t cap = ZSTD_compressBound(n);
    uint8_t *z = malloc(cap);
    size_t zn = z ? ZSTD_compress(z, cap, buf, n, 1) : 0;
    m[11].name = "frames", m[11].p = NULL;
    m[11].err = !z || ZSTD_isError(zn) ? GS_ENOMEM : GS_OK;
    if (!m[11].err) {
      net_bytes fr2[2] = {{z, zn}, {buf2, n2}};
      m[11].err = net_msg_frames(fr2, 2, &m[11].p, &m[11].n);
    }
    free(z);
  }
  for (int i = 0; i < 12; i++) {
    if (m[i].err)
      return 1;
    save("msg", m[i].name, m[i].p, m[i].n);
    free(m[i].p);
  }
  /* frames: three transport frames under fuzz_frame's fixed key */
  {
    static const uint8_t key[32] = {0x67, 0x72, 0x69, 0x64};
    net_noise_cs *tx;
    uint8_t fr[3 * (4 + 16 + 64)];
    size_t off = 0, cn;
    if (net__noise_cs_from_key(key, &tx) != GS_OK)
      return 1;
    for (int i = 0; i < 3; i++) {
      uint8_t pt[64];
      memset(pt, 'a' + i, sizeof pt);
      size_t pn = (size_t)(i * 30);
      if (net_noise_cs_encrypt(tx, pt, pn, fr + off + 4, 4 + 16 + 64, &cn))
        return 1;
      fr[off] = 0, fr[off + 1] = 0, fr[off + 2] = (uint8_t)(cn >> 8);
      fr[off + 3] = (uint8_t)cn;
      off += 4 + cn;
    }
    save("frame", "three_frames", fr, off);
    net_noise_cs_free(tx);
  }
  /* handshake: messages 1 and 3 of an initiator whose peer is
   * fuzz_handshake's fixed responder (XXpsk0; xxpsk3_msg1_msg3 of earlier
   * runs stays for the legacy path) */
  {
    static const uint8_t is[32] = {1}, ie[32] = {3}, psk[32] = {9},
                         rs[32] = {2}, re[32] = {4};
    net_noise_hs *hi, *hr;
    uint8_t m1[256], m2[256], m3[256], pl[256], out[600];
    size_t n1, nm2, n3, pn;
    const char *pat = "Noise_XXpsk0_25519_ChaChaPoly_BLAKE2b";
    if (net_noise_hs_new(&hi, pat, true, (const uint8_t *)"gridsync/1", 10, is,
                         NULL, psk) ||
        net_noise_hs_new(&hr, pat, false, (const uint8_t *)"gridsync/1", 10,
                         rs, NULL, psk))
      return 1;
    net_noise_hs_set_ephemeral(hi, ie);
    net_noise_hs_set_ephemeral(hr, re);
    if (net_noise_hs_write(hi, NULL, 0, m1, sizeof m1, &n1) ||
        net_noise_hs_read(hr, m1, n1, pl, sizeof pl, &pn) ||
        net_noise_hs_write(hr, (const uint8_t *)"r", 1, m2, sizeof m2, &nm2) ||
        net_noise_hs_read(hi, m2, nm2, pl, sizeof pl, &pn) ||
        net_noise_hs_write(hi, (const uint8_t *)"ident", 5, m3, sizeof m3,
                           &n3))
      return 1;
    out[0] = (uint8_t)(n1 >> 8), out[1] = (uint8_t)n1;
    memcpy(out + 2, m1, n1);
    memcpy(out + 2 + n1, m3, n3);
    save("handshake", "xxpsk0_msg1_msg3", out, 2 + n1 + n3);
    net_noise_hs_free(hi);
    net_noise_hs_free(hr);
  }
  node_seeds(ops, 3);
  crdt_change_free(d);
  free(buf);
  free(buf2);
  printf("seeds written under %s\n", root);
  return 0;
}
