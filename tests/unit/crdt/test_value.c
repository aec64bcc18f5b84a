/*
 * Typed values: their exact canonical msgpack bytes, round trips of every
 * type (Chinese text, -0.0, integer extremes, refs), what crdt_value_check
 * refuses, and what the strict value decoder refuses.
 */
#include <float.h>
#include <math.h>

#include "crdt_test_util.h"

TestSuite(crdt_value);

static const uint8_t some_id[CRDT_ID_LEN] = {0xa0, 1, 2, 3, 4, 5, 6, 7,
                                             8, 9, 10, 11, 12, 13, 14, 0xff};

static crdt_value v_int(int64_t i)
{
  return (crdt_value){.type = CRDT_INT, .u.i = i};
}

static crdt_value v_float(double f)
{
  return (crdt_value){.type = CRDT_FLOAT, .u.f = f};
}

static crdt_value v_str(const char *s, size_t n)
{
  return (crdt_value){.type = CRDT_STR, .u.s = {s, n}};
}

static crdt_value v_bytes(const char *s, size_t n)
{
  return (crdt_value){.type = CRDT_BYTES, .u.s = {s, n}};
}

static crdt_value v_ref(const char *coll)
{
  crdt_value v = {.type = CRDT_REF};
  v.u.ref.coll = coll;
  v.u.ref.coll_len = strlen(coll);
  memcpy(v.u.ref.id, some_id, CRDT_ID_LEN);
  return v;
}

/* v encodes to exactly want, and the bytes decode back to v. */
static void check_bytes(const crdt_value *v, const uint8_t *want, size_t wn)
{
  uint8_t *b;
  size_t n;
  cr_assert_eq(crdt_value_encode(v, &b, &n), GS_OK);
  cr_assert_eq(n, wn, "type %d: %zu bytes, want %zu", v->type, n, wn);
  cr_assert_eq(memcmp(b, want, n), 0, "type %d: wrong bytes", v->type);
  uint8_t *exact = tu_dup(b, n);
  crdt_value back;
  cr_assert_eq(crdt_value_decode(exact, n, &back), GS_OK);
  cr_assert(crdt_value_equal(&back, v));
  free(exact);
  free(b);
}

#define CHECK_BYTES(v, ...)                                                 \
  do {                                                                      \
    const crdt_value cv_ = (v);                                             \
    static const uint8_t want_[] = {__VA_ARGS__};                           \
    check_bytes(&cv_, want_, sizeof want_);                                 \
  } while (0)

Test(crdt_value, canonical_bytes_of_every_type)
{
  CHECK_BYTES((crdt_value){.type = CRDT_NIL}, 0xc0);
  CHECK_BYTES(((crdt_value){.type = CRDT_BOOL, .u.b = false}), 0xc2);
  CHECK_BYTES(((crdt_value){.type = CRDT_BOOL, .u.b = true}), 0xc3);
  CHECK_BYTES(v_int(0), 0x00);
  CHECK_BYTES(v_int(127), 0x7f);
  CHECK_BYTES(v_int(128), 0xcc, 0x80);
  CHECK_BYTES(v_int(65536), 0xce, 0x00, 0x01, 0x00, 0x00);
  CHECK_BYTES(v_int(-1), 0xff);
  CHECK_BYTES(v_int(-32), 0xe0);
  CHECK_BYTES(v_int(-33), 0xd0, 0xdf);
  CHECK_BYTES(v_int(INT64_MAX), 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
              0xff, 0xff);
  CHECK_BYTES(v_int(INT64_MIN), 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0);
  CHECK_BYTES(v_float(1.5), 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
  CHECK_BYTES(v_float(0.0), 0xcb, 0, 0, 0, 0, 0, 0, 0, 0);
  CHECK_BYTES(v_float(-0.0), 0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0);
  CHECK_BYTES(v_str("", 0), 0xa0);
  CHECK_BYTES(v_str("王", 3), 0xa3, 0xe7, 0x8e, 0x8b);
  CHECK_BYTES(v_bytes("", 0), 0xc4, 0x00);
  CHECK_BYTES(v_bytes("\0\xff", 2), 0xc4, 0x02, 0x00, 0xff);
  CHECK_BYTES(v_ref("hh"), 0xc7, 18, 0x01, 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
              10, 11, 12, 13, 14, 0xff, 'h', 'h');
}

Test(crdt_value, values_round_trip)
{
  char big[CRDT_TEXT_MAX];
  memset(big, 'x', sizeof big);
  static const char *zh = "王秀英，独居，住3单元502室（需要定期探访）";
  crdt_value vs[] = {
      v_int(1),
      v_int(-1000000),
      v_int((int64_t)1 << 40),
      v_float(DBL_MAX),
      v_float(-DBL_MAX),
      v_float(DBL_MIN),
      v_float(4.9406564584124654e-324), /* subnormal */
      v_float(-0.0),
      v_str(zh, strlen(zh)),
      v_str("😀\0x", 6), /* embedded NUL */
      v_str(big, sizeof big),
      v_bytes(big, sizeof big),
      v_bytes("\xc0\x80\xff", 3), /* bytes need not be UTF-8 */
      v_ref("resident"),
  };
  for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
    cr_assert_eq(crdt_value_check(&vs[i]), GS_OK, "value %zu", i);
    uint8_t *b, *b2;
    size_t n, n2;
    cr_assert_eq(crdt_value_encode(&vs[i], &b, &n), GS_OK);
    crdt_value back;
    cr_assert_eq(crdt_value_decode(b, n, &back), GS_OK, "value %zu", i);
    cr_assert(crdt_value_equal(&back, &vs[i]), "value %zu", i);
    /* views borrow the buffer */
    if (back.type == CRDT_STR || back.type == CRDT_BYTES)
      cr_assert(back.u.s.p >= (char *)b && back.u.s.p + back.u.s.n <=
                                              (char *)b + n);
    cr_assert_eq(crdt_value_encode(&back, &b2, &n2), GS_OK);
    cr_assert(n == n2 && memcmp(b, b2, n) == 0);
    free(b);
    free(b2);
  }
}

Test(crdt_value, random_values_round_trip)
{
  static const char *texts[] = {"", "a", "王秀英", "楼栋长", "😀x",
                                "\xe4\xb8\xad\xe6\x96\x87"};
  tu_rng r = {0x7a1};
  char buf[64];
  for (int i = 0; i < 10000; i++) {
    crdt_value v = {.type = (crdt_type)tu_below(&r, 7)};
    switch (v.type) {
    case CRDT_BOOL: v.u.b = tu_below(&r, 2); break;
    case CRDT_INT: v.u.i = (int64_t)(tu_next(&r) >> tu_below(&r, 64)); break;
    case CRDT_FLOAT: {
      uint64_t bits = tu_next(&r);
      memcpy(&v.u.f, &bits, sizeof bits);
      if (!isfinite(v.u.f))
        v.u.f = -0.0;
      break;
    }
    case CRDT_STR: {
      const char *t = texts[tu_below(&r, 6)];
      v.u.s.p = t, v.u.s.n = strlen(t);
      break;
    }
    case CRDT_BYTES:
      for (size_t k = 0; k < sizeof buf; k++)
        buf[k] = (char)tu_next(&r);
      v.u.s.p = buf, v.u.s.n = tu_below(&r, sizeof buf);
      break;
    case CRDT_REF:
      v = v_ref(tu_below(&r, 2) ? "resident" : "household");
      v.u.ref.id[tu_below(&r, CRDT_ID_LEN)] = (uint8_t)tu_next(&r);
      break;
    default:
      break;
    }
    uint8_t *b, *b2;
    size_t n, n2;
    cr_assert_eq(crdt_value_encode(&v, &b, &n), GS_OK);
    uint8_t *exact = tu_dup(b, n);
    crdt_value back;
    cr_assert_eq(crdt_value_decode(exact, n, &back), GS_OK, "case %d", i);
    cr_assert(crdt_value_equal(&back, &v), "case %d", i);
    cr_assert_eq(crdt_value_encode(&back, &b2, &n2), GS_OK);
    cr_assert(n == n2 && memcmp(b, b2, n) == 0, "case %d", i);
    free(b), free(b2), free(exact);
  }
}

Test(crdt_value, check_refuses_bad_values)
{
  static char big[CRDT_TEXT_MAX + 1];
  memset(big, 'x', sizeof big);
  struct {
    crdt_value v;
    gs_err want;
  } cases[] = {
      {v_float(NAN), GS_EINVAL},
      {v_float(-NAN), GS_EINVAL},
      {v_float(INFINITY), GS_EINVAL},
      {v_float(-INFINITY), GS_EINVAL},
      {v_str("\xc0\xaf", 2), GS_EUTF8},
      {v_str("\xed\xa0\x80", 3), GS_EUTF8},
      {v_str("\xf4\x90\x80\x80", 4), GS_EUTF8},
      {v_str("\xe4\xb8", 2), GS_EUTF8},
      {v_str(big, CRDT_TEXT_MAX + 1), GS_ETOOBIG},
      {v_bytes(big, CRDT_TEXT_MAX + 1), GS_ETOOBIG},
      {v_ref(""), GS_ENAME},
      {v_ref("Resident"), GS_ENAME},
      {v_ref("居民"), GS_ENAME},
      {{.type = (crdt_type)7}, GS_EINVAL},
      {{.type = (crdt_type)-1}, GS_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(crdt_value_check(&cases[i].v), cases[i].want, "case %zu",
                 i);
    uint8_t *b = (uint8_t *)"untouched";
    size_t n = 0;
    cr_assert_eq(crdt_value_encode(&cases[i].v, &b, &n), cases[i].want,
                 "encode case %zu", i);
  }
}

static gs_err dec(const void *bytes, size_t n)
{
  uint8_t *b = tu_dup(bytes, n);
  crdt_value v;
  gs_err err = crdt_value_decode(b, n, &v);
  free(b);
  return err;
}

#define DEC(want, ...)                                                      \
  do {                                                                      \
    static const uint8_t in_[] = {__VA_ARGS__};                             \
    cr_assert_eq(dec(in_, sizeof in_), want, "line %d: got %s", __LINE__,   \
                 gs_errname(dec(in_, sizeof in_)));                         \
  } while (0)

Test(crdt_value, decoder_refuses_malformed_values)
{
  cr_assert_eq(dec("", 0), GS_ETRUNC);
  DEC(GS_ETRAILING, 0xc0, 0xc0);
  DEC(GS_ETRUNC, 0xcd, 0x01);                  /* uint16 cut */
  DEC(GS_ETRUNC, 0xa3, 'a', 'b');               /* str of 3 with 2 */
  DEC(GS_ETRUNC, 0xdb, 0xff, 0xff, 0xff, 0xff); /* str32 of 4 GiB */
  DEC(GS_ETRUNC, 0xc6, 0x7f, 0xff, 0xff, 0xff); /* bin32 of 2 GiB */
  DEC(GS_ETRUNC, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01);
  DEC(GS_EDECODE, 0xc1);                        /* reserved */
  DEC(GS_EDECODE, 0xca, 0x3f, 0xc0, 0, 0);      /* float32: not a value */
  DEC(GS_EDECODE, 0x90);                        /* array */
  DEC(GS_EDECODE, 0x91, 0x01);
  DEC(GS_EDECODE, 0x80);                        /* map */
  DEC(GS_EDECODE, 0x92, 0x91, 0x01, 0x01);      /* nesting */
  DEC(GS_EDECODE, 0xd4, 0x02, 0x00);            /* ext of another type */
  /* a ref must hold an id and a collection name */
  DEC(GS_EDECODE, 0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0);
  DEC(GS_EDECODE, 0xd4, 0x01, 0x00);
  DEC(GS_ENAME, 0xc7, 17, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 'A');
  DEC(GS_ENAME, 0xc7, 17, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0xff);
  DEC(GS_OK, 0xc7, 17, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      'a');
  /* text must be UTF-8, integers must fit int64, floats be finite */
  DEC(GS_EUTF8, 0xa2, 0xc0, 0xaf);
  DEC(GS_EUTF8, 0xa3, 0xed, 0xa0, 0x80);
  DEC(GS_ETOOBIG, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0);
  DEC(GS_EINVAL, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0); /* NaN */
  DEC(GS_EINVAL, 0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0); /* -inf */
  /* oversized text (16385 bytes, all there) */
  size_t n = 3 + CRDT_TEXT_MAX + 1;
  uint8_t *b = calloc(1, n);
  b[0] = 0xda, b[1] = (CRDT_TEXT_MAX + 1) >> 8, b[2] = (CRDT_TEXT_MAX + 1) & 0xff;
  memset(b + 3, 'x', CRDT_TEXT_MAX + 1);
  cr_assert_eq(dec(b, n), GS_ETOOBIG);
  b[0] = 0xc5; /* as bin16 */
  cr_assert_eq(dec(b, n), GS_ETOOBIG);
  b[2] -= 1; /* exactly the limit: fine */
  cr_assert_eq(dec(b, n - 1), GS_OK);
  free(b);
}

Test(crdt_value, decoder_is_canonical_only)
{
  /* one value, one byte form: wider encodings than needed are refused */
  DEC(GS_EDECODE, 0xcc, 0x01);                    /* 1 as uint8 */
  DEC(GS_EDECODE, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0x01); /* 1 as uint64 */
  DEC(GS_EDECODE, 0xd0, 0x05);                    /* 5 as int8 */
  DEC(GS_EDECODE, 0xd0, 0xff);                    /* -1 as int8 */
  DEC(GS_EDECODE, 0xd9, 0x01, 'a');               /* str8 of 1 */
  DEC(GS_EDECODE, 0xc5, 0x00, 0x01, 'a');         /* bin16 of 1 */
  DEC(GS_EDECODE, 0xc8, 0x00, 17, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 'a'); /* ext16 */
  DEC(GS_OK, 0x01);
  DEC(GS_OK, 0xa1, 'a');
}

Test(crdt_value, equality)
{
  crdt_value a = v_str("ab", 2), b = v_bytes("ab", 2);
  cr_assert(!crdt_value_equal(&a, &b), "str and bytes differ");
  b = v_str("abc", 2);
  cr_assert(crdt_value_equal(&a, &b), "lengths are honoured");
  b = v_str("ab", 1);
  cr_assert(!crdt_value_equal(&a, &b));
  crdt_value z = v_float(0.0), nz = v_float(-0.0);
  cr_assert(!crdt_value_equal(&z, &nz), "-0.0 is its own value");
  crdt_value r1 = v_ref("resident"), r2 = v_ref("resident");
  cr_assert(crdt_value_equal(&r1, &r2));
  r2.u.ref.id[15] ^= 1;
  cr_assert(!crdt_value_equal(&r1, &r2));
  r2 = v_ref("residents");
  cr_assert(!crdt_value_equal(&r1, &r2));
  crdt_value i1 = v_int(1), f1 = v_float(1.0);
  cr_assert(!crdt_value_equal(&i1, &f1));
  crdt_value n1 = {.type = CRDT_NIL}, n2 = {.type = CRDT_NIL};
  cr_assert(crdt_value_equal(&n1, &n2));
  crdt_value e1 = v_str(NULL, 0), e2 = v_str("", 0);
  cr_assert(crdt_value_equal(&e1, &e2));
}
