/*
 * The strict decoders on hand-made malformed input (run under the
 * sanitizer build too): each is refused with an error code, never a
 * crash or a read out of bounds. And the HLC, with clocks far in the past
 * and far in the future.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/crdt.h"

static uint8_t pk[CRDT_KEY_LEN], sk[CRDT_SK_LEN];
static const uint8_t rid[CRDT_ID_LEN] = {7};

static void keys(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
  crdt_keypair(pk, sk);
}

/* A valid signed change of seq 1 with a few ops. */
static void good_change(uint8_t **out, size_t *n)
{
  static crdt_stamp tag;
  tag.hlc = CRDT_HLC_MAKE(1790000000000ULL, 0);
  memcpy(tag.origin, pk, CRDT_KEY_LEN);
  crdt_op ops[4] = {
      {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
       .field = "name", .field_len = 4,
       .value = {.type = CRDT_STR, .u.s = {"王秀英", 9}}},
      {.kind = CRDT_OP_ADD, .coll = "resident", .coll_len = 8,
       .field = "tags", .field_len = 4,
       .value = {.type = CRDT_STR, .u.s = {"elderly", 7}}},
      {.kind = CRDT_OP_REMOVE, .coll = "resident", .coll_len = 8,
       .field = "tags", .field_len = 4,
       .value = {.type = CRDT_STR, .u.s = {"floating", 8}}, .tags = &tag,
       .ntags = 1},
      {.kind = CRDT_OP_DELETE, .coll = "resident", .coll_len = 8},
  };
  for (int i = 0; i < 4; i++)
    memcpy(ops[i].id, rid, CRDT_ID_LEN);
  crdt_change c = {.scope = "s/c/g01", .scope_len = 7, .seq = 1,
                   .hlc = CRDT_HLC_MAKE(1790000000001ULL, 0), .ops = ops,
                   .nops = 4};
  memcpy(c.origin, pk, CRDT_KEY_LEN);
  cr_assert_eq(crdt_change_build(&c, sk, out, n), GS_OK);
}

static gs_err decode(const uint8_t *b, size_t n)
{
  crdt_change *c = NULL;
  gs_err err = crdt_change_decode(b, n, &c);
  if (err)
    cr_assert_null(c, "an error left a change behind");
  crdt_change_free(c);
  return err;
}

TestSuite(crdt_decode, .init = keys);

Test(crdt_decode, valid_change_round_trips_and_verifies)
{
  uint8_t *b;
  size_t n;
  good_change(&b, &n);
  crdt_change *c;
  cr_assert_eq(crdt_change_decode(b, n, &c), GS_OK);
  cr_assert(crdt_change_verify(c));
  cr_assert_eq(c->nops, 4);
  cr_assert_eq(c->ops[2].ntags, 1);
  cr_assert_eq(c->raw_len, n);
  cr_assert_eq(memcmp(c->raw, b, n), 0);
  cr_assert_eq(c->ops[0].value.u.s.n, 9);
  cr_assert_eq(memcmp(c->ops[0].value.u.s.p, "王秀英", 9), 0);
  crdt_change_free(c);
  free(b);
}

Test(crdt_decode, every_truncation_and_trailing_bytes)
{
  uint8_t *b;
  size_t n;
  good_change(&b, &n);
  for (size_t len = 0; len < n; len++) {
    uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    memcpy(cut, b, len);
    cr_assert_neq(decode(cut, len), GS_OK, "truncated to %zu decoded", len);
    free(cut);
  }
  uint8_t *more = malloc(n + 1);
  memcpy(more, b, n);
  more[n] = 0xc0;
  cr_assert_eq(decode(more, n + 1), GS_ETRAILING);
  free(more);
  free(b);
}

Test(crdt_decode, every_flipped_bit_fails_decode_or_verify)
{
  uint8_t *b;
  size_t n;
  good_change(&b, &n);
  for (size_t bit = 0; bit < n * 8; bit++) {
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    crdt_change *c = NULL;
    if (crdt_change_decode(b, n, &c) == GS_OK) {
      cr_assert(!crdt_change_verify(c), "bit %zu flipped, still verifies",
                bit);
      crdt_change_free(c);
    }
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  free(b);
}

/* ---- hand-made changes, field by field ---- */

typedef struct hand {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} hand;

static void h_init(hand *h)
{
  msgpack_sbuffer_init(&h->sb);
  msgpack_packer_init(&h->pk, &h->sb, msgpack_sbuffer_write);
}

static void h_str(hand *h, const char *s, size_t n)
{
  msgpack_pack_str_with_body(&h->pk, s, n);
}

static void h_bin(hand *h, const uint8_t *p, size_t n)
{
  msgpack_pack_bin_with_body(&h->pk, p, n);
}

/* What each position holds; a test overrides one. */
typedef struct spec {
  int version;
  const char *scope;
  size_t scope_len;
  uint64_t seq, hlc;
  bool prev_zero;
  int nops_override; /* -1: one good op */
  const char *op_field;
  const char *op_text;
  size_t op_text_len;
  int wrong_type_at; /* -1 none; 0..7 position given a nil */
  int arity;         /* elements in the outer array */
} spec;

static spec base_spec(void)
{
  spec s = {.version = 1, .scope = "s/c/g01", .scope_len = 7, .seq = 1,
            .hlc = CRDT_HLC_MAKE(1790000000000ULL, 0), .prev_zero = true,
            .nops_override = -1, .op_field = "name", .op_text = "x",
            .op_text_len = 1, .wrong_type_at = -1, .arity = 8};
  return s;
}

static gs_err decode_spec(const spec *s)
{
  hand h;
  uint8_t prev[CRDT_HASH_LEN] = {0}, sig[CRDT_SIG_LEN] = {0};
  if (!s->prev_zero)
    prev[0] = 1;
  h_init(&h);
  msgpack_pack_array(&h.pk, (size_t)s->arity);
  for (int pos = 0; pos < s->arity; pos++) {
    if (pos == s->wrong_type_at) {
      msgpack_pack_nil(&h.pk);
      continue;
    }
    switch (pos) {
    case 0:
      msgpack_pack_int(&h.pk, s->version);
      break;
    case 1:
      h_bin(&h, pk, CRDT_KEY_LEN);
      break;
    case 2:
      h_str(&h, s->scope, s->scope_len);
      break;
    case 3:
      msgpack_pack_uint64(&h.pk, s->seq);
      break;
    case 4:
      h_bin(&h, prev, CRDT_HASH_LEN);
      break;
    case 5:
      msgpack_pack_uint64(&h.pk, s->hlc);
      break;
    case 6: {
      size_t nops = s->nops_override >= 0 ? (size_t)s->nops_override : 1;
      msgpack_pack_array(&h.pk, nops);
      for (size_t i = 0; i < nops; i++) {
        msgpack_pack_array(&h.pk, 5);
        msgpack_pack_uint32(&h.pk, CRDT_OP_SET);
        h_str(&h, "resident", 8);
        h_bin(&h, rid, CRDT_ID_LEN);
        h_str(&h, s->op_field, strlen(s->op_field));
        h_str(&h, s->op_text, s->op_text_len);
      }
      break;
    }
    case 7:
      h_bin(&h, sig, CRDT_SIG_LEN);
      break;
    default:
      msgpack_pack_nil(&h.pk);
    }
  }
  /* copy to an exact-size buffer so ASan catches any over-read */
  uint8_t *b = malloc(h.sb.size);
  memcpy(b, h.sb.data, h.sb.size);
  gs_err err = decode(b, h.sb.size);
  free(b);
  msgpack_sbuffer_destroy(&h.sb);
  return err;
}

Test(crdt_decode, hand_made_baseline_decodes)
{
  spec s = base_spec();
  cr_assert_eq(decode_spec(&s), GS_OK);
}

Test(crdt_decode, wrong_types_versions_and_arity)
{
  for (int pos = 0; pos < 8; pos++) {
    spec s = base_spec();
    s.wrong_type_at = pos;
    cr_assert_neq(decode_spec(&s), GS_OK, "nil at %d accepted", pos);
  }
  spec s = base_spec();
  s.version = 2;
  cr_assert_neq(decode_spec(&s), GS_OK);
  s.version = -1;
  cr_assert_neq(decode_spec(&s), GS_OK);
  s = base_spec();
  s.arity = 7;
  cr_assert_neq(decode_spec(&s), GS_OK);
  s.arity = 9;
  cr_assert_neq(decode_spec(&s), GS_OK);
}

Test(crdt_decode, header_rules)
{
  spec s = base_spec();
  s.seq = 0;
  cr_assert_neq(decode_spec(&s), GS_OK, "seq 0");
  s = base_spec();
  s.prev_zero = false; /* seq 1 must have a zero prev */
  cr_assert_eq(decode_spec(&s), GS_ECHAIN);
  s = base_spec();
  s.seq = 2; /* and seq 2 a non-zero one */
  cr_assert_eq(decode_spec(&s), GS_ECHAIN);
  s = base_spec();
  s.hlc = 0;
  cr_assert_neq(decode_spec(&s), GS_OK, "hlc 0");
  s.hlc = CRDT_HLC_LIMIT;
  cr_assert_neq(decode_spec(&s), GS_OK, "hlc at the limit");
  s = base_spec();
  s.nops_override = 0;
  cr_assert_neq(decode_spec(&s), GS_OK, "no ops");
  s.nops_override = CRDT_OPS_MAX + 1;
  cr_assert_neq(decode_spec(&s), GS_OK, "too many ops");
}

Test(crdt_decode, names_scopes_and_text)
{
  struct {
    const char *scope;
    size_t n;
  } bad_scopes[] = {{"", 0},          {"/a", 2},      {"a/", 2},
                    {"a//b", 4},      {"a b", 3},     {"\xff", 1},
                    {"a/b/c/d/e/f/g/h/i", 17},         {"王", 3}};
  for (size_t i = 0; i < sizeof bad_scopes / sizeof bad_scopes[0]; i++) {
    spec s = base_spec();
    s.scope = bad_scopes[i].scope;
    s.scope_len = bad_scopes[i].n;
    cr_assert_neq(decode_spec(&s), GS_OK, "scope %zu accepted", i);
  }
  static char longscope[CRDT_SCOPE_MAX + 2];
  memset(longscope, 'a', sizeof longscope - 1);
  spec s = base_spec();
  s.scope = longscope;
  s.scope_len = CRDT_SCOPE_MAX + 1;
  cr_assert_neq(decode_spec(&s), GS_OK);

  const char *bad_fields[] = {"", "Name", "1x", "na me", "名字"};
  for (size_t i = 0; i < 5; i++) {
    s = base_spec();
    s.op_field = bad_fields[i];
    cr_assert_neq(decode_spec(&s), GS_OK, "field '%s'", bad_fields[i]);
  }
  /* invalid UTF-8: overlong, surrogate, past U+10FFFF, lone continuation,
   * truncated sequence */
  const char *bad_text[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                            "\x80", "\xe4\xb8"};
  for (size_t i = 0; i < 5; i++) {
    s = base_spec();
    s.op_text = bad_text[i];
    s.op_text_len = strlen(bad_text[i]);
    cr_assert_eq(decode_spec(&s), GS_EUTF8, "text %zu", i);
  }
  static char big[CRDT_TEXT_MAX + 1];
  memset(big, 'x', sizeof big);
  s = base_spec();
  s.op_text = big;
  s.op_text_len = CRDT_TEXT_MAX + 1;
  cr_assert_neq(decode_spec(&s), GS_OK, "oversized text");
  s.op_text_len = CRDT_TEXT_MAX; /* the limit itself is fine */
  cr_assert_eq(decode_spec(&s), GS_OK);
  s = base_spec();
  s.op_text = "";
  s.op_text_len = 0;
  cr_assert_eq(decode_spec(&s), GS_OK, "empty text is text");
}

Test(crdt_decode, lying_lengths_and_depth_bombs)
{
  /* containers and strings that declare far more than the input holds */
  static const uint8_t lies[][12] = {
      {0xdd, 0xff, 0xff, 0xff, 0xff},        /* array32 of 4 billion */
      {0x98, 0xdd, 0x7f, 0xff, 0xff, 0xff},  /* nested array32 */
      {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},   /* str32 of 4 GiB */
      {0xc6, 0x7f, 0xff, 0xff, 0xff, 0},     /* bin32 of 2 GiB */
      {0xdf, 0xff, 0xff, 0xff, 0xff},        /* map32 */
      {0xc9, 0xff, 0xff, 0xff, 0xff, 1},     /* ext32 */
      {0xc1},                                /* reserved byte */
      {0x98, 0x01, 0xc4, 0x20},              /* bin8 of 32, no data */
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++)
    for (size_t len = 1; len <= sizeof lies[i]; len++) {
      uint8_t *b = malloc(len);
      memcpy(b, lies[i], len);
      cr_assert_neq(decode(b, len), GS_OK, "lie %zu/%zu", i, len);
      crdt_record *r = NULL;
      cr_assert_neq(crdt_record_decode(b, len, &r), GS_OK);
      cr_assert_null(r);
      free(b);
    }
  /* 100,000 nested arrays */
  size_t n = 100000;
  uint8_t *deep = malloc(n);
  memset(deep, 0x91, n - 1);
  deep[n - 1] = 0xc0;
  cr_assert_neq(decode(deep, n), GS_OK);
  crdt_record *r = NULL;
  cr_assert_neq(crdt_record_decode(deep, n, &r), GS_OK);
  free(deep);
  /* a change bigger than the limit */
  uint8_t *huge = calloc(1, CRDT_CHANGE_MAX + 1);
  cr_assert_eq(decode(huge, CRDT_CHANGE_MAX + 1), GS_ETOOBIG);
  free(huge);
}

Test(crdt_decode, records_round_trip_and_refuse_garbage)
{
  crdt_record *r = crdt_record_new("s/c/g01", 7, "resident", 8, rid);
  crdt_op op = {.kind = CRDT_OP_SET, .coll = "resident", .coll_len = 8,
                .field = "name", .field_len = 4,
                .value = {.type = CRDT_STR, .u.s = {"", 0}}};
  memcpy(op.id, rid, CRDT_ID_LEN);
  crdt_stamp st = {.hlc = CRDT_HLC_MAKE(1790000000000ULL, 0)};
  memcpy(st.origin, pk, CRDT_KEY_LEN);
  cr_assert_eq(crdt_record_apply(r, &op, &st), GS_OK);
  uint8_t *b;
  size_t n;
  cr_assert_eq(crdt_record_encode(r, &b, &n), GS_OK);
  crdt_record *d;
  cr_assert_eq(crdt_record_decode(b, n, &d), GS_OK);
  crdt_field_view fv;
  cr_assert_eq(crdt_record_field(d, 0, &fv), GS_OK, "empty text unreadable");
  cr_assert_eq(fv.value.type, CRDT_STR);
  cr_assert_eq(fv.value.u.s.n, 0);
  crdt_record_free(d);
  for (size_t len = 0; len < n; len++) {
    crdt_record *x = NULL;
    cr_assert_neq(crdt_record_decode(b, len, &x), GS_OK,
                  "truncated record decoded at %zu", len);
    cr_assert_null(x);
  }
  d = NULL;
  crdt_record_free(r);
  crdt_record_free(d);
  free(b);
}

/* ---- HLC ---- */

TestSuite(crdt_hlc);

Test(crdt_hlc, ticks_are_monotonic_and_carry)
{
  crdt_hlc st = 0, prev = 0, t;
  for (int i = 0; i < 200000; i++) { /* > 65536 in one millisecond */
    cr_assert_eq(crdt_hlc_tick(&st, 1790000000000ULL, &t), GS_OK);
    cr_assert_gt(t, prev);
    cr_assert(crdt_hlc_valid(t));
    prev = t;
  }
  cr_assert_gt(CRDT_HLC_MS(t), 1790000000000ULL, "the counter carried");
  /* the physical clock catching up takes over */
  cr_assert_eq(crdt_hlc_tick(&st, 1790000010000ULL, &t), GS_OK);
  cr_assert_eq(t, CRDT_HLC_MAKE(1790000010000ULL, 0));
}

Test(crdt_hlc, clock_far_in_the_past)
{
  /* a dead CMOS battery: 1970, after stamps from 2026 were seen */
  crdt_hlc st = 0, t, seen = CRDT_HLC_MAKE(1790000000000ULL, 7);
  cr_assert_eq(crdt_hlc_observe(&st, seen), GS_OK);
  cr_assert_eq(crdt_hlc_tick(&st, 0, &t), GS_OK);
  cr_assert_gt(t, seen, "a write after observing must come after");
  cr_assert_eq(crdt_hlc_ahead_ms(t, 0), 1790000000000ULL,
               "the skew is reported");
  /* with no history, a 1970 clock still gives valid, growing stamps */
  crdt_hlc s2 = 0, a, b;
  cr_assert_eq(crdt_hlc_tick(&s2, 0, &a), GS_OK);
  cr_assert_eq(crdt_hlc_tick(&s2, 0, &b), GS_OK);
  cr_assert(crdt_hlc_valid(a) && b > a);
}

Test(crdt_hlc, clock_far_in_the_future)
{
  /* a peer whose clock says year 3000: causality is kept (we move past
   * its stamps) and the skew is visible for a warning */
  uint64_t now = 1790000000000ULL, y3000 = 32503680000000ULL;
  crdt_hlc st = 0, t;
  crdt_hlc far = CRDT_HLC_MAKE(y3000, 0);
  cr_assert(crdt_hlc_valid(far));
  cr_assert_eq(crdt_hlc_observe(&st, far), GS_OK);
  cr_assert_eq(crdt_hlc_tick(&st, now, &t), GS_OK);
  cr_assert_gt(t, far);
  cr_assert_eq(crdt_hlc_ahead_ms(t, now), y3000 - now);
  /* our own clock jumping to an absurd value saturates instead of
   * exhausting the stamp space */
  crdt_hlc s2 = 0;
  cr_assert_eq(crdt_hlc_tick(&s2, UINT64_MAX, &t), GS_OK);
  cr_assert(crdt_hlc_valid(t));
  crdt_hlc t2;
  cr_assert_eq(crdt_hlc_tick(&s2, UINT64_MAX, &t2), GS_OK);
  cr_assert_gt(t2, t);
  /* invalid remote stamps are refused and change nothing */
  crdt_hlc before = st;
  cr_assert_eq(crdt_hlc_observe(&st, 0), GS_ECLOCK);
  cr_assert_eq(crdt_hlc_observe(&st, CRDT_HLC_LIMIT), GS_ECLOCK);
  cr_assert_eq(crdt_hlc_observe(&st, UINT64_MAX), GS_ECLOCK);
  cr_assert_eq(st, before);
  /* an older remote stamp does not move the clock back */
  cr_assert_eq(crdt_hlc_observe(&st, CRDT_HLC_MAKE(now, 0)), GS_OK);
  cr_assert_eq(st, before);
}

Test(crdt_hlc, stamps_order_by_hlc_then_origin)
{
  crdt_stamp a = {.hlc = 5}, b = {.hlc = 5}, c = {.hlc = 6};
  memset(a.origin, 1, CRDT_KEY_LEN);
  memset(b.origin, 2, CRDT_KEY_LEN);
  memset(c.origin, 0, CRDT_KEY_LEN);
  cr_assert_lt(crdt_stamp_cmp(&a, &b), 0);
  cr_assert_gt(crdt_stamp_cmp(&b, &a), 0);
  cr_assert_lt(crdt_stamp_cmp(&b, &c), 0);
  cr_assert_eq(crdt_stamp_cmp(&a, &a), 0);
}

Test(crdt_hlc, names_scopes_ids)
{
  cr_assert(crdt_scope_under("a/b", 3, "a", 1));
  cr_assert(crdt_scope_under("a/b", 3, "a/b", 3));
  cr_assert(!crdt_scope_under("a/bc", 4, "a/b", 3));
  cr_assert(!crdt_scope_under("a", 1, "a/b", 3));
  cr_assert(crdt_scope_under("a", 1, "", 0));
  cr_assert(crdt_name_valid("resident", 8));
  cr_assert(!crdt_name_valid("Resident", 8));
  cr_assert(!crdt_name_valid("_x", 2));
  uint8_t id[CRDT_ID_LEN], back[CRDT_ID_LEN];
  char text[CRDT_ID_TEXT_LEN + 1];
  for (int i = 0; i < 1000; i++) {
    crdt_id_new(1790000000000ULL + (uint64_t)i, id);
    crdt_base32_encode(id, CRDT_ID_LEN, text);
    cr_assert_eq(strlen(text), CRDT_ID_TEXT_LEN);
    cr_assert_eq(crdt_base32_decode(text, strlen(text), back, CRDT_ID_LEN),
                 GS_OK);
    cr_assert_eq(memcmp(id, back, CRDT_ID_LEN), 0);
  }
  /* ids sort by creation time, as text too */
  char t1[CRDT_ID_TEXT_LEN + 1], t2[CRDT_ID_TEXT_LEN + 1];
  crdt_id_new(1790000000000ULL, id);
  crdt_base32_encode(id, CRDT_ID_LEN, t1);
  crdt_id_new(1790000000001ULL, id);
  crdt_base32_encode(id, CRDT_ID_LEN, t2);
  cr_assert_lt(strcmp(t1, t2), 0);
  cr_assert_neq(crdt_base32_decode("0000000000000000000000000U", 26, back,
                                   CRDT_ID_LEN),
                GS_OK, "U is not Crockford");
  cr_assert_neq(crdt_base32_decode("000", 3, back, CRDT_ID_LEN), GS_OK);
  /* lower case and the I/L/O look-alikes? lower case is accepted */
  crdt_base32_encode(id, CRDT_ID_LEN, t1);
  for (char *p = t1; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p + 32);
  cr_assert_eq(crdt_base32_decode(t1, strlen(t1), back, CRDT_ID_LEN), GS_OK);
  cr_assert_eq(memcmp(id, back, CRDT_ID_LEN), 0);
}
