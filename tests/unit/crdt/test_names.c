/*
 * Names, scopes (and scope prefixes), strict UTF-8, Crockford base32 ids,
 * and the gs_err names and texts.
 */
#include <errno.h>
#include <string.h>

#include "crdt_test_util.h"

static void names_init(void)
{
  cr_assert_eq(crdt_crypto_init(), GS_OK);
}

TestSuite(crdt_names, .init = names_init);

#define NAME_OK(s) cr_assert(crdt_name_valid(s, strlen(s)), "name '%s'", s)
#define NAME_BAD(s, n) cr_assert(!crdt_name_valid(s, n), "name '%s'", s)

Test(crdt_names, collection_and_field_names)
{
  NAME_OK("a");
  NAME_OK("resident");
  NAME_OK("time_bank_2");
  NAME_OK("z9_");
  char longest[CRDT_NAME_MAX + 2];
  memset(longest, 'a', sizeof longest);
  cr_assert(crdt_name_valid(longest, CRDT_NAME_MAX));
  NAME_BAD(longest, CRDT_NAME_MAX + 1);
  NAME_BAD("", 0);
  NAME_BAD("Resident", 8);
  NAME_BAD("residenT", 8);
  NAME_BAD("1a", 2);
  NAME_BAD("_a", 2);
  NAME_BAD("a-b", 3);
  NAME_BAD("a b", 3);
  NAME_BAD("a.b", 3);
  NAME_BAD("a/b", 3);
  NAME_BAD("名字", strlen("名字"));
  NAME_BAD("a\0", 2); /* an embedded NUL is not part of a name */
  NAME_BAD("a\xff", 2);
  /* the length is honoured, not a terminator */
  cr_assert(crdt_name_valid("ab-c", 2));
}

/* Every byte, first and at each later place of a name up to the longest,
 * against the rule spelled out: [a-z] first, then [a-z0-9_]. */
Test(crdt_names, every_byte_of_a_name_against_the_rule)
{
  char s[CRDT_NAME_MAX];
  for (unsigned b = 0; b < 256; b++) {
    bool first = b >= 'a' && b <= 'z';
    bool later = first || (b >= '0' && b <= '9') || b == '_';
    s[0] = (char)b;
    cr_assert_eq(crdt_name_valid(s, 1), first, "first byte %02x", b);
    for (size_t at = 1; at < CRDT_NAME_MAX; at++) {
      memset(s, 'q', sizeof s);
      s[at] = (char)b;
      cr_assert_eq(crdt_name_valid(s, at + 1), later, "byte %02x at %zu", b,
                   at);
      cr_assert_eq(crdt_name_valid(s, CRDT_NAME_MAX), later,
                   "byte %02x at %zu of the longest", b, at);
      cr_assert(crdt_name_valid(s, at), "the bytes before %zu", at);
    }
  }
}

#define SCOPE_OK(s) cr_assert(crdt_scope_valid(s, strlen(s)), "scope '%s'", s)
#define SCOPE_BAD(s, n) cr_assert(!crdt_scope_valid(s, n), "scope '%s'", s)

Test(crdt_names, scope_paths)
{
  SCOPE_OK("a");
  SCOPE_OK("gongrencun/qinghejv/g07");
  SCOPE_OK("Street-1/Com_2/g.07");
  SCOPE_OK("a/b/c/d/e/f/g/h"); /* CRDT_SCOPE_DEPTH segments */
  SCOPE_BAD("a/b/c/d/e/f/g/h/i", 17);
  SCOPE_BAD("", 0);
  SCOPE_BAD("/", 1);
  SCOPE_BAD("/a", 2);
  SCOPE_BAD("a/", 2);
  SCOPE_BAD("a//b", 4);
  SCOPE_BAD("a b", 3);
  SCOPE_BAD("a\\b", 3);
  SCOPE_BAD("a:b", 3);
  SCOPE_BAD("a\0b", 3);
  SCOPE_BAD("王", strlen("王"));
  SCOPE_BAD("a/工人村", strlen("a/工人村"));
  SCOPE_BAD("a/\xc0\xaf", 4); /* invalid UTF-8 too */
  char s[CRDT_SCOPE_MAX + 2];
  memset(s, 'x', sizeof s);
  s[50] = s[100] = s[150] = '/';
  cr_assert(crdt_scope_valid(s, CRDT_SCOPE_MAX));
  SCOPE_BAD(s, CRDT_SCOPE_MAX + 1);
  cr_assert(crdt_scope_valid("a/b//", 3), "length honoured");
}

Test(crdt_names, scope_under_is_segment_wise)
{
  struct {
    const char *scope, *prefix;
    bool under;
  } cases[] = {
      {"a/b", "a", true},
      {"a/b", "a/b", true},
      {"a/b/c", "a/b", true},
      {"a", "a", true},
      {"a/b", "", true},
      {"a/bc", "a/b", false},
      {"ab", "a", false},
      {"a", "a/b", false},
      {"a/b", "b", false},
      {"b/a", "a", false},
      {"a/b", "a/", false}, /* not a scope: the '/' is part of neither */
      {"gongrencun/qinghejv/g07", "gongrencun/qinghejv", true},
      {"gongrencun/qinghejv2/g07", "gongrencun/qinghejv", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    cr_assert_eq(crdt_scope_under(cases[i].scope, strlen(cases[i].scope),
                                  cases[i].prefix, strlen(cases[i].prefix)),
                 cases[i].under, "'%s' under '%s'", cases[i].scope,
                 cases[i].prefix);
  /* lengths are honoured: "a/bXYZ" cut at 3 is "a/b" */
  cr_assert(crdt_scope_under("a/bXYZ", 3, "a/b", 3));
  cr_assert(crdt_scope_under("a/b/c", 5, "a/bcd", 3));
  cr_assert(!crdt_scope_under("a/bc", 4, "a/bc", 3));
}

/* Reference: the well-formed byte sequences of Unicode Table 3-7. */
static bool ref_utf8(const uint8_t *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c <= 0x7f) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0)
        lo = 0xa0;
      if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0)
        lo = 0x90;
      if (c == 0xf4)
        hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return false;
    for (size_t k = 2; k < len; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xbf)
        return false;
    i += len;
  }
  return true;
}

Test(crdt_names, utf8_known_cases)
{
  static const struct {
    const char *s;
    bool ok;
  } cases[] = {
      {"", true},
      {"plain ascii", true},
      {"王秀英 独居老人", true},
      {"😀", true},
      {"\xc2\x80", true},          /* U+0080 */
      {"\xdf\xbf", true},          /* U+07FF */
      {"\xe0\xa0\x80", true},      /* U+0800 */
      {"\xed\x9f\xbf", true},      /* U+D7FF */
      {"\xee\x80\x80", true},      /* U+E000 */
      {"\xef\xbf\xbf", true},      /* U+FFFF */
      {"\xf0\x90\x80\x80", true},  /* U+10000 */
      {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
      {"\xc0\x80", false},         /* overlong NUL */
      {"\xc0\xaf", false},         /* overlong '/' */
      {"\xc1\xbf", false},
      {"\xe0\x80\xaf", false},     /* overlong */
      {"\xe0\x9f\xbf", false},     /* overlong U+07FF */
      {"\xf0\x80\x80\xaf", false}, /* overlong */
      {"\xf0\x8f\xbf\xbf", false}, /* overlong U+FFFF */
      {"\xed\xa0\x80", false},     /* U+D800 surrogate */
      {"\xed\xbf\xbf", false},     /* U+DFFF surrogate */
      {"\xed\xa0\xbd\xed\xb8\x80", false}, /* CESU-8 surrogate pair */
      {"\xf4\x90\x80\x80", false}, /* U+110000 */
      {"\xf5\x80\x80\x80", false},
      {"\xf7\xbf\xbf\xbf", false},
      {"\xf8\x88\x80\x80\x80", false}, /* 5-byte form */
      {"\xfc\x84\x80\x80\x80\x80", false},
      {"\xfe", false},
      {"\xff", false},
      {"\x80", false},             /* lone continuation */
      {"a\xbf", false},
      {"\xe4\xb8", false},         /* truncated 中 */
      {"\xf0\x9f\x98", false},     /* truncated 😀 */
      {"\xe4" "a\xad", false},     /* lead then ASCII */
      {"\xc2\xc2\x80", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].s);
    cr_assert_eq(crdt_utf8_valid(cases[i].s, n), cases[i].ok, "case %zu",
                 i);
    cr_assert_eq(ref_utf8((const uint8_t *)cases[i].s, n), cases[i].ok,
                 "reference disagrees with case %zu", i);
  }
  /* U+0000 is a valid code point; lengths are honoured */
  cr_assert(crdt_utf8_valid("a\0b", 3));
  cr_assert(crdt_utf8_valid("\xe4\xb8\xad", 3));
  cr_assert(!crdt_utf8_valid("\xe4\xb8\xad", 2));
}

Test(crdt_names, utf8_agrees_with_table_3_7)
{
  uint8_t b[4];
  /* every 1- and 2-byte sequence */
  for (unsigned x = 0; x < 0x10000; x++) {
    b[0] = (uint8_t)(x >> 8), b[1] = (uint8_t)x;
    cr_assert_eq(crdt_utf8_valid((char *)b, 1), ref_utf8(b, 1));
    cr_assert_eq(crdt_utf8_valid((char *)b, 2), ref_utf8(b, 2), "%02x %02x",
                 b[0], b[1]);
  }
  /* every 3-byte sequence with a 3-byte lead */
  for (unsigned x = 0xe00000; x < 0xf00000; x++) {
    b[0] = (uint8_t)(x >> 16), b[1] = (uint8_t)(x >> 8), b[2] = (uint8_t)x;
    if (crdt_utf8_valid((char *)b, 3) != ref_utf8(b, 3))
      cr_assert_fail("%02x %02x %02x", b[0], b[1], b[2]);
  }
  /* 4-byte leads with every second byte and edge third/fourth bytes */
  static const uint8_t edge[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                 0xbf, 0xc0, 0xe0, 0xff};
  for (unsigned l = 0xf0; l <= 0xff; l++)
    for (unsigned s2 = 0; s2 < 256; s2++)
      for (size_t k3 = 0; k3 < sizeof edge; k3++)
        for (size_t k4 = 0; k4 < sizeof edge; k4++) {
          b[0] = (uint8_t)l, b[1] = (uint8_t)s2, b[2] = edge[k3];
          b[3] = edge[k4];
          cr_assert_eq(crdt_utf8_valid((char *)b, 4), ref_utf8(b, 4),
                       "%02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
        }
}

/* Longer text (where eight ASCII bytes are taken at a time): runs of
 * ASCII and of valid 2-, 3- and 4-byte sequences, some with one byte
 * changed, at every alignment, agree with the reference. */
Test(crdt_names, utf8_long_text_agrees_with_the_reference)
{
  static const char *const pieces[] = {
      "abcdefgh", "ab", "0123456789 {\"name\": ", "王秀英", "独居老人",
      "\xc2\x80", "\xdf\xbf", "\xed\x9f\xbf", "\xef\xbf\xbf", "😀",
      "\xf4\x8f\xbf\xbf", "x"};
  tu_rng r = {0x75f8};
  uint8_t buf[8 + 160];
  size_t bad = 0, good = 0;
  for (int t = 0; t < 200000; t++) {
    size_t at = tu_next(&r) % 8, n = 0;
    size_t np = tu_next(&r) % 12;
    for (size_t k = 0; k < np; k++) {
      const char *p = pieces[tu_next(&r) % (sizeof pieces /
                                                sizeof pieces[0])];
      size_t pn = strlen(p);
      if (n + pn > 150)
        break;
      memcpy(buf + at + n, p, pn);
      n += pn;
    }
    if (n && tu_next(&r) % 2) /* one byte changed */
      buf[at + tu_next(&r) % n] = (uint8_t)tu_next(&r);
    if (n && tu_next(&r) % 8 == 0) /* cut short */
      n -= 1 + tu_next(&r) % n;
    bool want = ref_utf8(buf + at, n);
    cr_assert_eq(crdt_utf8_valid((char *)buf + at, n), want,
                 "case %d (%zu bytes at %zu)", t, n, at);
    want ? good++ : bad++;
  }
  cr_assert_gt(good, 50000, "enough valid text tried (%zu)", good);
  cr_assert_gt(bad, 50000, "enough invalid text tried (%zu)", bad);
}

Test(crdt_names, base32_known_vectors)
{
  char out[64];
  crdt_base32_encode((const uint8_t *)"f", 1, out);
  cr_assert_str_eq(out, "CR");
  crdt_base32_encode((const uint8_t *)"", 0, out);
  cr_assert_str_eq(out, "");
  uint8_t id[CRDT_ID_LEN];
  memset(id, 0, sizeof id);
  crdt_base32_encode(id, CRDT_ID_LEN, out);
  cr_assert_str_eq(out, "00000000000000000000000000");
  memset(id, 0xff, sizeof id);
  crdt_base32_encode(id, CRDT_ID_LEN, out);
  /* 128 one bits: 25 full chars, then 111 and two zero padding bits */
  cr_assert_str_eq(out, "ZZZZZZZZZZZZZZZZZZZZZZZZZW");
  uint8_t back[CRDT_ID_LEN];
  cr_assert_eq(crdt_base32_decode(out, 26, back, CRDT_ID_LEN), GS_OK);
  cr_assert_eq(memcmp(back, id, CRDT_ID_LEN), 0);
  uint8_t f;
  cr_assert_eq(crdt_base32_decode("cr", 2, &f, 1), GS_OK);
  cr_assert_eq(f, 'f');
}

Test(crdt_names, base32_round_trips_random_bytes)
{
  tu_rng r = {0x6a5d};
  uint8_t in[48], back[48];
  char text[80];
  for (int i = 0; i < 10000; i++) {
    size_t n = tu_below(&r, sizeof in + 1);
    for (size_t k = 0; k < n; k++)
      in[k] = (uint8_t)tu_next(&r);
    crdt_base32_encode(in, n, text);
    size_t tn = strlen(text);
    cr_assert_eq(tn, (8 * n + 4) / 5);
    for (size_t k = 0; k < tn; k++)
      cr_assert(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", text[k]),
                "char %c is not Crockford", text[k]);
    memset(back, 0xaa, sizeof back);
    cr_assert_eq(crdt_base32_decode(text, tn, back, n), GS_OK);
    cr_assert(n == 0 || memcmp(in, back, n) == 0, "case %d", i);
    /* lower case decodes the same */
    for (size_t k = 0; k < tn; k++)
      if (text[k] >= 'A' && text[k] <= 'Z')
        text[k] = (char)(text[k] - 'A' + 'a');
    cr_assert_eq(crdt_base32_decode(text, tn, back, n), GS_OK);
    cr_assert(n == 0 || memcmp(in, back, n) == 0);
  }
}

Test(crdt_names, base32_rejects_bad_text)
{
  uint8_t id[CRDT_ID_LEN];
  char good[CRDT_ID_TEXT_LEN + 1];
  memset(id, 0x5a, sizeof id);
  crdt_base32_encode(id, CRDT_ID_LEN, good);
  cr_assert_eq(crdt_base32_decode(good, CRDT_ID_TEXT_LEN, id, CRDT_ID_LEN),
               GS_OK);
  /* wrong lengths */
  cr_assert_eq(crdt_base32_decode(good, 25, id, CRDT_ID_LEN), GS_EDECODE);
  cr_assert_eq(crdt_base32_decode("000000000000000000000000000", 27, id,
                                  CRDT_ID_LEN),
               GS_EDECODE);
  cr_assert_eq(crdt_base32_decode("", 0, id, CRDT_ID_LEN), GS_EDECODE);
  /* a bad character at every position */
  static const char bad[] = {'U', 'u', '*', '-', '=', ' ', '\0', '/', '@',
                             '[', '`', '{', (char)0x80, (char)0xff};
  for (size_t pos = 0; pos < CRDT_ID_TEXT_LEN; pos++)
    for (size_t k = 0; k < sizeof bad; k++) {
      char t[CRDT_ID_TEXT_LEN + 1];
      memcpy(t, good, sizeof t);
      t[pos] = bad[k];
      cr_assert_eq(crdt_base32_decode(t, CRDT_ID_TEXT_LEN, id, CRDT_ID_LEN),
                   GS_EDECODE, "char 0x%02x at %zu", (uint8_t)bad[k], pos);
    }
  /* 26 chars carry 130 bits: the last 2 must be zero */
  for (const char *last = "0123ZW4"; *last; last++) {
    char t[CRDT_ID_TEXT_LEN + 1];
    memset(t, '0', CRDT_ID_TEXT_LEN);
    t[CRDT_ID_TEXT_LEN] = 0;
    t[CRDT_ID_TEXT_LEN - 1] = *last;
    /* 0 = 00000, W = 11100, 4 = 00100: padding clear; 1..3, Z: set */
    gs_err want = strchr("0W4", *last) ? GS_OK : GS_EDECODE;
    cr_assert_eq(crdt_base32_decode(t, CRDT_ID_TEXT_LEN, id, CRDT_ID_LEN),
                 want, "last char %c", *last);
  }
  /* 52-char node keys: 4 padding bits */
  uint8_t key[CRDT_KEY_LEN], kb[CRDT_KEY_LEN];
  char kt[CRDT_KEY_TEXT_LEN + 1];
  crdt_random(key, sizeof key);
  crdt_base32_encode(key, CRDT_KEY_LEN, kt);
  cr_assert_eq(strlen(kt), CRDT_KEY_TEXT_LEN);
  cr_assert_eq(crdt_base32_decode(kt, CRDT_KEY_TEXT_LEN, kb, CRDT_KEY_LEN),
               GS_OK);
  cr_assert_eq(memcmp(key, kb, CRDT_KEY_LEN), 0);
  kt[CRDT_KEY_TEXT_LEN - 1] = '1';
  cr_assert_eq(crdt_base32_decode(kt, CRDT_KEY_TEXT_LEN, kb, CRDT_KEY_LEN),
               GS_EDECODE);
}

Test(crdt_names, ids_made_in_a_row_sort_in_order)
{
  uint8_t prev[CRDT_ID_LEN] = {0}, id[CRDT_ID_LEN];
  uint64_t ms = 1700000000000ULL;
  /* a thousand ids in one millisecond, then a clock that steps back */
  for (int i = 0; i < 1200; i++) {
    crdt_id_next(i < 1000 ? ms : ms - 5, NULL, prev, id);
    cr_assert_gt(memcmp(id, prev, CRDT_ID_LEN), 0, "id %d not after", i);
    if (i > 0 && i < 1000)
      cr_assert_eq(memcmp(id, prev, 6), 0, "same millisecond prefix");
    memcpy(prev, id, CRDT_ID_LEN);
  }
  /* a later millisecond starts a fresh random id */
  crdt_id_next(ms + 1, NULL, prev, id);
  static const uint8_t later[6] = {0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x01};
  cr_assert_eq(memcmp(id, later, 6), 0);
  /* the carry runs through the random bytes */
  uint8_t p2[CRDT_ID_LEN] = {0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0xff,
                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  crdt_id_next(ms - 1000, NULL, p2, id);
  static const uint8_t want[CRDT_ID_LEN] = {0x01, 0x8b, 0xcf, 0xe5, 0x68,
                                            0x00, 0x01};
  cr_assert_arr_eq(id, want, CRDT_ID_LEN);
}

Test(crdt_names, owned_ids_name_their_author_and_sort_in_order)
{
  uint8_t a[CRDT_KEY_LEN], b[CRDT_KEY_LEN];
  memset(a, 0xa1, sizeof a), memset(b, 0xb2, sizeof b);
  uint8_t prev[CRDT_ID_LEN] = {0}, id[CRDT_ID_LEN];
  uint64_t ms = 1700000000000ULL;
  for (int i = 0; i < 600; i++) {
    crdt_id_owned(i < 500 ? ms : ms - 9, NULL, prev, a, id);
    cr_assert_gt(memcmp(id, prev, CRDT_ID_LEN), 0, "id %d not after", i);
    cr_assert(crdt_id_owned_by(id, a));
    cr_assert(!crdt_id_owned_by(id, b));
    memcpy(prev, id, CRDT_ID_LEN);
  }
  /* after another's plain id of a later time, still after it and ours */
  uint8_t plain[CRDT_ID_LEN];
  memset(plain, 0xff, CRDT_ID_LEN);
  plain[0] = 0x01, plain[7] = 0xff;
  crdt_id_owned(ms, NULL, plain, b, id);
  cr_assert_gt(memcmp(id, plain, CRDT_ID_LEN), 0);
  cr_assert(crdt_id_owned_by(id, b));
  static const uint8_t be[6] = {0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00};
  crdt_id_owned(ms, NULL, (const uint8_t[CRDT_ID_LEN]){0}, a, id);
  cr_assert_arr_eq(id, be, 6, "time-prefixed");
}

Test(crdt_names, ids_are_time_prefixed_and_sort_as_text)
{
  uint8_t id[CRDT_ID_LEN], id2[CRDT_ID_LEN];
  uint64_t ms = 0x0123456789abULL;
  crdt_id_new(ms, NULL, id);
  static const uint8_t be[6] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
  cr_assert_eq(memcmp(id, be, 6), 0);
  crdt_id_new(ms, NULL, id2);
  cr_assert_neq(memcmp(id + 6, id2 + 6, CRDT_ID_LEN - 6), 0,
                "10 random bytes repeated");
  char prev[CRDT_ID_TEXT_LEN + 1] = "", t[CRDT_ID_TEXT_LEN + 1];
  for (uint64_t m = 1700000000000ULL; m < 1700000000000ULL + 2000; m += 7) {
    crdt_id_new(m, NULL, id);
    crdt_base32_encode(id, CRDT_ID_LEN, t);
    cr_assert_gt(strcmp(t, prev), 0, "ids out of order at %llu",
                 (unsigned long long)m);
    memcpy(prev, t, sizeof t);
  }
}

/* ---- gs_err ---- */

TestSuite(crdt_err);

Test(crdt_err, every_code_has_a_name_and_text)
{
  static const struct {
    int code;
    const char *name;
  } codes[] = {
#define X(name, code, text) {code, "GS_" #name},
      GS_ERR_MAP(X)
#undef X
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    cr_assert_lt(codes[i].code, -40000);
    cr_assert_str_eq(gs_errname(codes[i].code), codes[i].name);
    const char *t = gs_strerror(codes[i].code);
    cr_assert(t && *t);
    cr_assert_str_neq(t, "unknown error");
    for (size_t j = 0; j < i; j++) {
      cr_assert_neq(codes[i].code, codes[j].code);
      cr_assert_str_neq(t, gs_strerror(codes[j].code));
    }
  }
  cr_assert_str_eq(gs_errname(GS_OK), "GS_OK");
  cr_assert_str_eq(gs_strerror(GS_OK), "success");
  cr_assert_str_eq(gs_errname(-30798), "MDB_NOTFOUND");
  cr_assert_str_eq(gs_errname(-ENOENT), "ENOENT");
  cr_assert_str_eq(gs_strerror(-ENOENT), strerror(ENOENT));
  cr_assert_str_eq(gs_strerror(12345), "unknown error");
  cr_assert_str_eq(gs_errname(-50000), "UNKNOWN");
}
