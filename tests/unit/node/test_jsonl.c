/* node/jsonl.c: a JSON Lines object as fields (`load`, issue 20): what
 * jansson with JSON_REJECT_DUPLICATES and node_json_to_value accept, the
 * same values; what they refuse, refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "node/jsonl.h"

static gs_err parse(node_jl *p, const char *line, char *err, size_t cap)
{
  return node_jl_parse(p, line, strlen(line), err, cap);
}

Test(jsonl, values_of_every_kind)
{
  node_jl p = {0};
  char err[200] = "";
  const char *line =
      "{\"s\": \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\u5c45\", \"i\": -42, "
      "\"big\": 9223372036854775807, \"r\": 1.5e3, \"t\": true, "
      "\"f\": false, \"z\": null, \"h\": {\"$hex\": \"00ff\"}, "
      "\"ref\": {\"$ref\": \"household/06H0FEZZZZZZZZZZZZZZZZZZZ0\"}, "
      "\"tags\": [\"x\", \"y\"], \"none\": [] }\r\n";
  cr_assert_eq(parse(&p, line, err, sizeof err), GS_OK, "%s", err);
  cr_assert_eq(p.n, 11);
  cr_assert_str_eq(p.m[0].key, "s");
  cr_assert_eq(p.m[0].vals[0].type, CRDT_STR);
  const char *want = "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80\xe5\xb1\x85";
  cr_assert_eq(p.m[0].vals[0].u.s.n, strlen(want));
  cr_assert(memcmp(p.m[0].vals[0].u.s.p, want, strlen(want)) == 0);
  cr_assert_eq(p.m[1].vals[0].type, CRDT_INT);
  cr_assert_eq(p.m[1].vals[0].u.i, -42);
  cr_assert_eq(p.m[2].vals[0].u.i, INT64_MAX);
  cr_assert_eq(p.m[3].vals[0].type, CRDT_FLOAT);
  cr_assert_float_eq(p.m[3].vals[0].u.f, 1500.0, 1e-9);
  cr_assert(p.m[4].vals[0].type == CRDT_BOOL && p.m[4].vals[0].u.b);
  cr_assert(p.m[5].vals[0].type == CRDT_BOOL && !p.m[5].vals[0].u.b);
  cr_assert_eq(p.m[6].vals[0].type, CRDT_NIL);
  cr_assert_eq(p.m[7].vals[0].type, CRDT_BYTES);
  cr_assert_eq(p.m[7].vals[0].u.s.n, 2);
  cr_assert(memcmp(p.m[7].vals[0].u.s.p, "\x00\xff", 2) == 0);
  cr_assert_eq(p.m[8].vals[0].type, CRDT_REF);
  cr_assert_eq(p.m[8].vals[0].u.ref.coll_len, 9);
  cr_assert(p.m[9].is_array && p.m[9].nvals == 2);
  cr_assert_eq(p.m[9].vals[1].u.s.n, 1);
  cr_assert_eq(p.m[9].vals[1].u.s.p[0], 'y');
  cr_assert(p.m[10].is_array && p.m[10].nvals == 0);
  /* the parser is reused: a second line replaces the first */
  cr_assert_eq(parse(&p, "{\"only\": 1}", err, sizeof err), GS_OK);
  cr_assert_eq(p.n, 1);
  cr_assert_str_eq(p.m[0].key, "only");
  node_jl_free(&p);
}

Test(jsonl, what_jansson_refuses_is_refused)
{
  static const char *const bad[] = {
      "{\"s\": \"a\\u0000b\"}", "{\"s\": \"\\ud800\"}", "{\"s\": \"\\udc00\"}",
      "{\"s\": \"tab\tx\"}", "{\"n\": 01}", "{\"n\": 1.}", "{\"n\": .5}",
      "{\"n\": 9223372036854775808}", "{\"n\": 1e400}", "{\"n\": tru}",
      "{\"n\": [[1]]}", "{\"n\": [1,]}", "{\"n\": {\"$hex\": \"0\"}}",
      "{\"n\": {\"$hex\": \"zz\"}}", "{\"n\": {\"$ref\": \"bad\"}}",
      "{\"n\": {\"a\": 1}}", "{\"n\": {}}", "{\"n\": 1, \"n\": 2}",
      "{\"n\": 1,}", "{\"n\": 1} x", "[1]", "\"x\"", "{\"n\" 1}", "{n: 1}",
      "{\"t\": \"\xff\"}", "{\"n\": \"x\"", "{\"n\": 1}{\"m\": 2}",
      "{\"n\": -}", "{\"n\": 1.5e}", "{\"n\": \"\\x\"}", "{\"n\": \"\\u12\"}",
      "", "{", "{\"n\": }", "{\"n\": \"\\ud83d\"}",
  };
  node_jl p = {0};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char err[200] = "";
    cr_assert_eq(parse(&p, bad[i], err, sizeof err), GS_EINVAL, "%s", bad[i]);
    cr_assert(strstr(err, "column") != NULL, "%s: %s", bad[i], err);
  }
  node_jl_free(&p);
}

Test(jsonl, many_members_named_twice_are_found)
{
  /* past the pairwise check: sorted */
  char line[8192];
  size_t k = (size_t)snprintf(line, sizeof line, "{");
  for (int i = 0; i < 200; i++)
    k += (size_t)snprintf(line + k, sizeof line - k, "%s\"f%d\": %d",
                          i ? ", " : "", i == 150 ? 7 : i, i);
  snprintf(line + k, sizeof line - k, "}");
  node_jl p = {0};
  char err[200] = "";
  cr_assert_eq(parse(&p, line, err, sizeof err), GS_EINVAL);
  cr_assert(strstr(err, "'f7'") != NULL, "%s", err);
  node_jl_free(&p);
}

Test(jsonl, a_string_of_16385_bytes_is_too_long)
{
  static char line[16500];
  memcpy(line, "{\"n\": \"", 7);
  memset(line + 7, 'a', 16385);
  memcpy(line + 7 + 16385, "\"}", 3);
  node_jl p = {0};
  char err[200] = "";
  cr_assert_eq(parse(&p, line, err, sizeof err), GS_EINVAL);
  line[7 + 16384] = '"';
  line[7 + 16385] = '}';
  line[7 + 16386] = '\0';
  cr_assert_eq(parse(&p, line, err, sizeof err), GS_OK, "%s", err);
  cr_assert_eq(p.m[0].vals[0].u.s.n, 16384);
  node_jl_free(&p);
}

/* node_jl_parse checks the line's UTF-8 once, not each decoded string
 * again (issue 20): every string it gives back must then be valid UTF-8
 * whatever the mix of multi-byte text, escapes and surrogate pairs, and a
 * string holding a broken sequence (cut by a quote or an escape, a lone
 * continuation byte, an overlong form) must still be refused. */
Test(jsonl, decoded_strings_are_valid_utf8_without_a_second_check)
{
  static const char *const pieces[] = {
      "a", "\xe5\xb1\x85", "\xc3\xa9", "\xf0\x9f\x98\x80", "\\\"", "\\\\",
      "\\n", "\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\u0041", "\\/", " "};
  static const char *const broken[] = {"\xe5\xb1", "\x80", "\xc0\xaf",
                                       "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  const size_t np = sizeof pieces / sizeof *pieces;
  uint64_t x = 0x9e3779b97f4a7c15u;
  node_jl p = {0};
  char line[1024], err[200];
  for (int round = 0; round < 2000; round++) {
    size_t k = (size_t)snprintf(line, sizeof line, "{\"s\": \"");
    int bad = round % 4 == 3 ? (int)(round / 4 % 5) : -1;
    for (int j = 0; j < 12; j++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      const char *pc = pieces[x % np];
      if (bad >= 0 && j == 6)
        pc = broken[bad];
      k += (size_t)snprintf(line + k, sizeof line - k, "%s", pc);
    }
    snprintf(line + k, sizeof line - k, "\", \"t\": [\"%s\"]}",
             pieces[round % np]);
    gs_err e = parse(&p, line, err, sizeof err);
    if (bad >= 0) {
      cr_assert_eq(e, GS_EINVAL, "round %d: a broken sequence accepted",
                   round);
      continue;
    }
    cr_assert_eq(e, GS_OK, "round %d: %s", round, err);
    for (size_t i = 0; i < p.nv; i++)
      cr_assert(p.v[i].type != CRDT_STR ||
                    crdt_utf8_valid(p.v[i].u.s.p, p.v[i].u.s.n),
                "round %d: value %zu is not UTF-8", round, i);
  }
  node_jl_free(&p);
}
