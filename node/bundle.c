/*
 * Offline bundles (sneakernet, DESIGN.md section 6): the feed tails
 * another node may lack, in one file, for a USB stick.
 *
 * File: "GSB1\n", a 4-byte big-endian header length, the header (msgpack
 * [1, network id bin8, network name, sender key bin32, created_ms, scope,
 * feeds, changes]), then the body sealed under the network key
 * (net/seal.h) with magic, length and header as associated data. The body
 * is a msgpack array of changes (bin), membership feeds first, each feed
 * in seq order. A stranger learns the header (which network, who, when,
 * how much) and nothing else; any change to any byte makes import refuse
 * the whole file. Files are written to a temporary name, fsynced and
 * renamed, so a full or pulled-out stick leaves no half file that looks
 * whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/seal.h"
#include "crdt/gs_i18n.h"
#include "node/bundle.h"
#include "node/node_internal.h"
#include "storage/store.h"
#include "node/member.h"

#define MAGIC "GSB1\n"
#define MAGIC_LEN 5
#define HEADER_MAX 4096
#define BUNDLE_MAX ((size_t)1 << 31) /* 2 GiB */
#define KEYS_MAX 65 /* network keys tried on import (first + rotations) */

/* ---- the VV file of --since ---- */

typedef struct vv_entry {
  uint8_t feed[CRDT_FEED_LEN];
  uint64_t seq;
} vv_entry;

typedef struct vv_list {
  vv_entry *e;
  size_t n, cap;
} vv_list;

static int on_vv(void *ctx, const store_feed *f)
{
  vv_list *l = ctx;
  if (crdt_grow((void **)&l->e, &l->cap, l->n + 1, sizeof *l->e))
    return 1;
  memcpy(l->e[l->n].feed, f->feed, CRDT_FEED_LEN);
  l->e[l->n++].seq = f->seq;
  return 0;
}

/* Write data to path atomically: temporary file, fsync, rename, fsync
 * the directory. */
static gs_err write_atomic(const char *path, const uint8_t *parts[],
                           const size_t lens[], size_t nparts)
{
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
    return GS_EINVAL;
  int fd = mkstemp(tmp);
  if (fd < 0)
    return -errno;
  gs_err err = GS_OK;
  for (size_t i = 0; i < nparts && !err; i++) {
    size_t off = 0;
    while (off < lens[i]) {
      ssize_t w = write(fd, parts[i] + off, lens[i] - off);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        err = -errno;
        break;
      }
      off += (size_t)w;
    }
  }
  if (!err && fsync(fd) != 0)
    err = -errno;
  if (close(fd) != 0 && !err)
    err = -errno;
  if (!err && rename(tmp, path) != 0)
    err = -errno;
  if (err) {
    unlink(tmp);
    return err;
  }
  /* the rename itself must reach the stick */
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  else
    strcpy(dir, ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return GS_OK;
}

gs_err node_vv_write(node *n, const char *path)
{
  vv_list l = {0};
  gs_err err = store_feeds(n->st, on_vv, &l);
  if (err) {
    free(l.e);
    return err;
  }
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, l.n);
  for (size_t i = 0; i < l.n; i++) {
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin_with_body(&pk, l.e[i].feed, CRDT_FEED_LEN);
    msgpack_pack_uint64(&pk, l.e[i].seq);
  }
  free(l.e);
  const uint8_t *parts[1] = {(const uint8_t *)sb.data};
  size_t lens[1] = {sb.size};
  err = sb.data ? write_atomic(path, parts, lens, 1) : GS_ENOMEM;
  msgpack_sbuffer_destroy(&sb);
  return err;
}

static gs_err read_file(const char *path, size_t max, uint8_t **out,
                        size_t *n)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *out = NULL;
  if (fd < 0)
    return -errno;
  gs_err err = GS_OK;
  if (fstat(fd, &st) != 0)
    err = -errno;
  else if (!S_ISREG(st.st_mode))
    err = GS_EINVAL;
  else if ((uint64_t)st.st_size > max)
    err = GS_ETOOBIG;
  uint8_t *buf = NULL;
  size_t len = err ? 0 : (size_t)st.st_size, off = 0;
  if (!err && !(buf = malloc(len ? len : 1)))
    err = GS_ENOMEM;
  while (!err && off < len) {
    ssize_t r = read(fd, buf + off, len - off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      err = r < 0 ? -errno : GS_ETRUNC;
      break;
    }
    off += (size_t)r;
  }
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  *n = len;
  return GS_OK;
}

static gs_err vv_read(const char *path, vv_list *l)
{
  uint8_t *buf;
  size_t n;
  msgpack_unpacked u;
  memset(l, 0, sizeof *l);
  gs_err err = read_file(path, 64 << 20, &buf, &n);
  if (err)
    return err;
  if ((err = crdt_mp_unpack(buf, n, 2, &u)) != GS_OK)
    goto out;
  err = GS_EDECODE;
  if (u.data.type != MSGPACK_OBJECT_ARRAY)
    goto out;
  for (size_t i = 0; i < u.data.via.array.size; i++) {
    const msgpack_object *e = &u.data.via.array.ptr[i];
    store_feed f;
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
        crdt_mp_bin(&e->via.array.ptr[0], CRDT_FEED_LEN, f.feed) ||
        crdt_mp_uint(&e->via.array.ptr[1], &f.seq) || on_vv(l, &f))
      goto out;
  }
  err = GS_OK;
out:
  msgpack_unpacked_destroy(&u);
  free(buf);
  if (err) { /* a file refused half-way keeps none of its entries */
    free(l->e);
    memset(l, 0, sizeof *l);
  }
  return err;
}

/* ---- export ---- */

typedef struct exp_ctx {
  node *n;
  const char *prefix;
  const uint8_t *for_key;
  node_policy *pol;
  vv_list since;
  msgpack_sbuffer body;
  msgpack_packer pk;
  uint64_t changes, feeds;
  bool net_pass; /* first pass: membership feeds only */
  gs_err err;
} exp_ctx;

static int on_raw_change(void *ctx, uint64_t seq, const uint8_t *b, size_t n)
{
  exp_ctx *e = ctx;
  (void)seq;
  msgpack_pack_bin_with_body(&e->pk, b, n);
  e->changes++;
  return 0;
}

static int on_exp_feed(void *ctx, const store_feed *f)
{
  exp_ctx *e = ctx;
  size_t sl = strlen(f->scope);
  bool is_net = f->scope[0] == '_';
  if (is_net != e->net_pass)
    return 0;
  if (!is_net && e->prefix && *e->prefix &&
      !crdt_scope_under(f->scope, sl, e->prefix, strlen(e->prefix)))
    return 0;
  if (e->for_key && e->pol &&
      !node_policy_may_read(e->pol, e->for_key, f->scope, sl))
    return 0;
  uint64_t from = 1;
  for (size_t i = 0; i < e->since.n; i++)
    if (memcmp(e->since.e[i].feed, f->feed, CRDT_FEED_LEN) == 0)
      from = e->since.e[i].seq + 1;
  if (from > f->seq)
    return 0;
  e->feeds++;
  if ((e->err = store_feed_read(e->n->st, f->feed, from, f->seq,
                                on_raw_change, e)) != GS_OK)
    return 1;
  return 0;
}

gs_err node_export(node *n, const char *path, const char *prefix,
                   const uint8_t *for_key, const char *since_path,
                   node_bundle_info *info)
{
  exp_ctx e = {.n = n, .prefix = prefix, .for_key = for_key};
  gs_err err;
  if (!n->has_net)
    return GS_ENOTFOUND;
  if (since_path && (err = vv_read(since_path, &e.since)) != GS_OK)
    return err;
  if (for_key && (err = node_policy_load(n, &e.pol)) != GS_OK)
    goto out0;
  /* count first (the array header needs it): two passes over the store */
  msgpack_sbuffer_init(&e.body);
  msgpack_packer_init(&e.pk, &e.body, msgpack_sbuffer_write);
  for (int pass = 0; pass < 2; pass++) {
    e.net_pass = pass == 0;
    if ((err = store_feeds(n->st, on_exp_feed, &e)) || (err = e.err))
      goto out;
  }
  /* wrap the changes in an array: build the final body */
  msgpack_sbuffer body;
  msgpack_packer bp;
  msgpack_sbuffer_init(&body);
  msgpack_packer_init(&bp, &body, msgpack_sbuffer_write);
  msgpack_pack_array(&bp, e.changes);
  msgpack_sbuffer_write(&body, e.body.data ? e.body.data : "", e.body.size);
  /* header */
  msgpack_sbuffer hb;
  msgpack_packer hp;
  msgpack_sbuffer_init(&hb);
  msgpack_packer_init(&hp, &hb, msgpack_sbuffer_write);
  memset(info, 0, sizeof *info);
  memcpy(info->netid, n->net.id, 8);
  snprintf(info->netname, sizeof info->netname, "%s", n->net.name);
  memcpy(info->sender, n->pk, CRDT_KEY_LEN);
  info->created = node_now(n);
  snprintf(info->scope, sizeof info->scope, "%s", prefix ? prefix : "");
  info->feeds = e.feeds;
  info->changes = e.changes;
  msgpack_pack_array(&hp, 8);
  msgpack_pack_uint8(&hp, 1);
  msgpack_pack_bin_with_body(&hp, info->netid, 8);
  msgpack_pack_str_with_body(&hp, info->netname, strlen(info->netname));
  msgpack_pack_bin_with_body(&hp, info->sender, CRDT_KEY_LEN);
  msgpack_pack_uint64(&hp, info->created);
  msgpack_pack_str_with_body(&hp, info->scope, strlen(info->scope));
  msgpack_pack_uint64(&hp, info->feeds);
  msgpack_pack_uint64(&hp, info->changes);
  uint8_t *ad = NULL, *sealed = NULL;
  size_t adlen = MAGIC_LEN + 4 + hb.size;
  size_t slen = NET_SEAL_NONCE + body.size + NET_SEAL_TAG;
  err = GS_ENOMEM;
  if (body.data && hb.data && hb.size <= HEADER_MAX &&
      slen + adlen <= BUNDLE_MAX && (ad = malloc(adlen)) &&
      (sealed = malloc(slen))) {
    memcpy(ad, MAGIC, MAGIC_LEN);
    ad[5] = (uint8_t)(hb.size >> 24), ad[6] = (uint8_t)(hb.size >> 16);
    ad[7] = (uint8_t)(hb.size >> 8), ad[8] = (uint8_t)hb.size;
    memcpy(ad + 9, hb.data, hb.size);
    uint8_t psk[NODE_NET_KEY_LEN]; /* the key in use now (rotations) */
    node__psk(n, psk);
    net_seal(psk, ad, adlen, (const uint8_t *)body.data, body.size, sealed);
    crdt_wipe(psk, sizeof psk);
    const uint8_t *parts[2] = {ad, sealed};
    size_t lens[2] = {adlen, slen};
    err = write_atomic(path, parts, lens, 2);
    info->bytes = adlen + slen;
  }
  free(ad);
  free(sealed);
  msgpack_sbuffer_destroy(&hb);
  msgpack_sbuffer_destroy(&body);
out:
  msgpack_sbuffer_destroy(&e.body);
  node_policy_free(e.pol);
out0:
  free(e.since.e);
  return err;
}

/* ---- reading ---- */

static gs_err parse_header(const uint8_t *buf, size_t n, node_bundle_info *in,
                           size_t *adlen)
{
  msgpack_unpacked u;
  uint64_t v;
  memset(in, 0, sizeof *in);
  if (n < MAGIC_LEN + 4 || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
    return GS_EDECODE;
  size_t hl = (size_t)buf[5] << 24 | (size_t)buf[6] << 16 |
              (size_t)buf[7] << 8 | buf[8];
  if (hl > HEADER_MAX || hl > n - 9)
    return GS_ETRUNC;
  gs_err err = crdt_mp_unpack(buf + 9, hl, 1, &u);
  if (err)
    goto out;
  const msgpack_object *o = &u.data;
  err = GS_EDECODE;
  if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 8)
    goto out;
  const msgpack_object *a = o->via.array.ptr;
  if (crdt_mp_uint(&a[0], &v) || v != 1 ||
      crdt_mp_bin(&a[1], 8, in->netid) || a[2].type != MSGPACK_OBJECT_STR ||
      a[2].via.str.size > NODE_NAME_MAX ||
      crdt_mp_bin(&a[3], CRDT_KEY_LEN, in->sender) ||
      crdt_mp_uint(&a[4], &in->created) || a[5].type != MSGPACK_OBJECT_STR ||
      a[5].via.str.size > CRDT_SCOPE_MAX ||
      crdt_mp_uint(&a[6], &in->feeds) || crdt_mp_uint(&a[7], &in->changes) ||
      !crdt_utf8_valid(a[2].via.str.ptr, a[2].via.str.size) ||
      !crdt_utf8_valid(a[5].via.str.ptr, a[5].via.str.size))
    goto out;
  if (a[2].via.str.size) /* an empty string's ptr may be NULL */
    memcpy(in->netname, a[2].via.str.ptr, a[2].via.str.size);
  if (a[5].via.str.size) /* an empty string's ptr may be NULL */
    memcpy(in->scope, a[5].via.str.ptr, a[5].via.str.size);
  *adlen = 9 + hl;
  in->bytes = n;
  err = GS_OK;
out:
  msgpack_unpacked_destroy(&u);
  return err;
}

gs_err node__bundle_header(const uint8_t *buf, size_t n,
                           node_bundle_info *info, size_t *adlen)
{
  return parse_header(buf, n, info, adlen);
}

gs_err node_bundle_info_read(const char *path, node_bundle_info *info)
{
  uint8_t *buf;
  size_t n, adlen;
  gs_err err = read_file(path, BUNDLE_MAX, &buf, &n);
  if (err)
    return err;
  err = parse_header(buf, n, info, &adlen);
  free(buf);
  return err;
}

/* May this node's role read scope (its own certificate's word: reading is
 * not what a confirmation protects)? Admins and offices everything,
 * leaders and readers their prefixes, everyone the membership records. */
static bool self_may_read(const node *n, const char *scope, size_t sl)
{
  if ((sl > 0 && scope[0] == '_') || strcmp(n->net.role, "admin") == 0 ||
      strcmp(n->net.role, "office") == 0)
    return true;
  for (size_t i = 0; i < n->net.nscopes; i++)
    if (crdt_scope_under(scope, sl, n->net.scopes[i],
                         strlen(n->net.scopes[i])))
      return true;
  return false;
}

gs_err node_import(node *n, const char *path, node_import_result *res,
                   char *why, size_t whylen)
{
  uint8_t *buf = NULL, *body = NULL;
  size_t len, adlen;
  node_bundle_info info;
  msgpack_unpacked u;
  crdt_change **cs = NULL;
  node_policy *pol = NULL;
  size_t nc = 0;
  gs_err err;

  memset(res, 0, sizeof *res);
  msgpack_unpacked_init(&u);
  if (whylen)
    why[0] = '\0';
  if (!n->has_net)
    return GS_ENOTFOUND;
  if ((err = read_file(path, BUNDLE_MAX, &buf, &len)) != GS_OK)
    return err;
  if ((err = parse_header(buf, len, &info, &adlen)) != GS_OK) {
    snprintf(why, whylen, "%s", _("not a gridsync bundle, or a damaged one"));
    goto out;
  }
  if (memcmp(info.netid, n->net.id, 8) != 0) {
    snprintf(why, whylen, _("the bundle is for network \"%s\", not this one"),
             info.netname);
    err = GS_EPERM;
    goto out;
  }
  size_t sl = len - adlen;
  if (sl < NET_SEAL_NONCE + NET_SEAL_TAG) {
    snprintf(why, whylen, "%s", _("the bundle is cut short"));
    err = GS_ETRUNC;
    goto out;
  }
  size_t bl = sl - NET_SEAL_NONCE - NET_SEAL_TAG;
  if (!(body = malloc(bl ? bl : 1))) {
    err = GS_ENOMEM;
    goto out;
  }
  /* any key this node holds (a bundle made before or after a rotation) */
  uint8_t (*keys)[NODE_NET_KEY_LEN] = malloc(KEYS_MAX * sizeof *keys);
  size_t nk = 0, cur;
  if (!keys) {
    err = GS_ENOMEM;
    goto out;
  }
  if (node__keyring(n, keys, KEYS_MAX, &nk, &cur) != GS_OK) {
    memcpy(keys[0], n->net.key, NODE_NET_KEY_LEN);
    nk = 1;
  }
  err = GS_ECRYPTO;
  for (size_t k = nk; k-- > 0 && err;)
    err = net_unseal(keys[k], buf, adlen, buf + adlen, sl, body);
  crdt_wipe(keys, KEYS_MAX * sizeof *keys);
  free(keys);
  if (err) {
    snprintf(why, whylen, "%s", _("the bundle was altered or cut short (nothing "
                          "imported)"));
    goto out;
  }
  if ((err = crdt_mp_unpack(body, bl, 2, &u)) != GS_OK ||
      u.data.type != MSGPACK_OBJECT_ARRAY) {
    snprintf(why, whylen, "%s", _("the bundle's contents are malformed"));
    err = err ? err : GS_EDECODE;
    goto out;
  }
  nc = u.data.via.array.size;
  if (!(cs = calloc(nc ? nc : 1, sizeof *cs))) {
    err = GS_ENOMEM;
    goto out;
  }
  for (size_t i = 0; i < nc; i++) {
    const msgpack_object *o = &u.data.via.array.ptr[i];
    if (o->type != MSGPACK_OBJECT_BIN ||
        (err = crdt_change_decode((const uint8_t *)o->via.bin.ptr,
                                  o->via.bin.size, &cs[i])) != GS_OK) {
      if (err == GS_EVERSION)
        snprintf(why, whylen,
                 _("change %zu of the bundle is of a newer format than "
                   "this gridsync reads: upgrade gridsync on this computer"),
                 i + 1);
      else
        snprintf(why, whylen, _("change %zu of the bundle is malformed"),
                 i + 1);
      err = err ? err : GS_EDECODE;
      goto out;
    }
  }
  /* the checks of network sync: permissions in order, then one apply per
   * run of a feed (chain, gap, fork, signature) */
  if ((err = node_policy_load(n, &pol)) != GS_OK)
    goto out;
  size_t i = 0;
  while (i < nc) {
    size_t j = i + 1;
    while (j < nc && cs[j]->seq == cs[j - 1]->seq + 1 &&
           memcmp(cs[j]->origin, cs[i]->origin, CRDT_KEY_LEN) == 0 &&
           cs[j]->scope_len == cs[i]->scope_len &&
           memcmp(cs[j]->scope, cs[i]->scope, cs[i]->scope_len) == 0)
      j++;
    /* only what this node's role may read is stored (as a sync would
     * send it): the rest is counted and dropped */
    if (!self_may_read(n, cs[i]->scope, cs[i]->scope_len)) {
      res->unreadable += j - i;
      i = j;
      continue;
    }
    size_t keep = i;
    char w[200];
    gs_err ce = GS_OK;
    while (keep < j &&
           (ce = node_policy_decide(pol, cs[keep], w, sizeof w)) == GS_OK)
      keep++;
    if (keep < j && ce == GS_EHELD) {
      res->held += j - keep; /* not yet decidable: import again later */
      snprintf(why, whylen, "%s", w);
    } else if (keep < j) {
      res->refused += j - keep;
      node_note_refused(n, w, j - keep);
      snprintf(why, whylen, "%s", w);
    }
    if (keep > i) {
      const uint8_t **ptrs = calloc(keep - i, sizeof *ptrs);
      size_t *lens = calloc(keep - i, sizeof *lens);
      store_result r;
      if (!ptrs || !lens) {
        free(ptrs);
        free(lens);
        err = GS_ENOMEM;
        goto out;
      }
      for (size_t k = i; k < keep; k++) {
        ptrs[k - i] = cs[k]->raw;
        lens[k - i] = cs[k]->raw_len;
      }
      gs_err e = store_apply(n->st, ptrs, lens, keep - i, &r, NULL);
      free(ptrs);
      free(lens);
      if (e == GS_EGAP) {
        res->gaps++; /* older than what we lack: needs an earlier bundle */
      } else if (e) {
        snprintf(why, whylen, _("a feed was refused: %s"), gs_strerror(e));
        res->bad_feeds++;
      } else {
        res->applied += r.applied;
        res->duplicates += r.duplicates;
      }
    }
    i = j;
  }
  err = GS_OK;
out:
  if (cs)
    for (size_t k = 0; k < nc; k++)
      crdt_change_free(cs[k]);
  free(cs);
  node_policy_free(pol);
  msgpack_unpacked_destroy(&u);
  free(body);
  free(buf);
  return err;
}
