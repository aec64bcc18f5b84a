/* Crockford base32 for ids and keys; names, scopes and UTF-8 checks. */
#include "crdt/crdt.h"

#include <string.h>

static const char b32_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void crdt_base32_encode(const uint8_t *in, size_t n, char *out)
{
  size_t nchars = (8 * n + 4) / 5;
  /* Bits are read most significant first; the last char is padded with
   * zero bits on the right. */
  for (size_t c = 0; c < nchars; c++) {
    size_t bit = c * 5;
    unsigned v = 0;
    for (size_t k = 0; k < 5; k++, bit++) {
      unsigned b = 0;
      if (bit < 8 * n)
        b = (in[bit / 8] >> (7 - bit % 8)) & 1;
      v = (v << 1) | b;
    }
    out[c] = b32_alphabet[v];
  }
  out[nchars] = '\0';
}

static int b32_value(char ch)
{
  if (ch >= 'a' && ch <= 'z')
    ch = (char)(ch - 'a' + 'A');
  /* Crockford: O reads as 0, I and L as 1. */
  if (ch == 'O')
    return 0;
  if (ch == 'I' || ch == 'L')
    return 1;
  const char *p = ch ? strchr(b32_alphabet, ch) : NULL;
  return p ? (int)(p - b32_alphabet) : -1;
}

gs_err crdt_base32_decode(const char *text, size_t tn, uint8_t *out, size_t n)
{
  if (tn != (8 * n + 4) / 5)
    return GS_EDECODE;
  memset(out, 0, n);
  for (size_t c = 0; c < tn; c++) {
    int v = b32_value(text[c]);
    if (v < 0)
      return GS_EDECODE;
    for (size_t k = 0; k < 5; k++) {
      size_t bit = c * 5 + k;
      unsigned b = ((unsigned)v >> (4 - k)) & 1;
      if (bit < 8 * n)
        out[bit / 8] |= (uint8_t)(b << (7 - bit % 8));
      else if (b)
        return GS_EDECODE; /* padding bits must be zero */
    }
  }
  return GS_OK;
}

void crdt_id_new(uint64_t ms, const crdt_rng *rng, uint8_t id[CRDT_ID_LEN])
{
  for (int i = 0; i < 6; i++)
    id[i] = (uint8_t)(ms >> (8 * (5 - i)));
  if (rng)
    rng->fill(rng->ctx, id + 6, CRDT_ID_LEN - 6);
  else
    crdt_random(id + 6, CRDT_ID_LEN - 6);
}

/* When id (fresh) is not after prev: its first n bytes := prev's first n
 * plus one, which puts it after prev whatever either's last bytes are.
 * prev's first n bytes all 0xff (they never are) would wrap: id stays. */
static void after_prev(const uint8_t prev[CRDT_ID_LEN], size_t n,
                       uint8_t id[CRDT_ID_LEN])
{
  if (memcmp(id, prev, CRDT_ID_LEN) > 0)
    return;
  uint8_t next[CRDT_ID_LEN];
  memcpy(next, prev, n);
  size_t i = n;
  while (i > 0 && ++next[i - 1] == 0)
    i--;
  if (i > 0)
    memcpy(id, next, n);
}

void crdt_id_next(uint64_t ms, const crdt_rng *rng,
                  const uint8_t prev[CRDT_ID_LEN], uint8_t id[CRDT_ID_LEN])
{
  crdt_id_new(ms, rng, id);
  after_prev(prev, CRDT_ID_LEN, id);
}

#define OWNER_AT (CRDT_ID_LEN - CRDT_ID_OWNER_LEN)

void crdt_id_owned(uint64_t ms, const crdt_rng *rng,
                   const uint8_t prev[CRDT_ID_LEN],
                   const uint8_t origin[CRDT_KEY_LEN],
                   uint8_t id[CRDT_ID_LEN])
{
  crdt_id_new(ms, rng, id);
  memcpy(id + OWNER_AT, origin, CRDT_ID_OWNER_LEN);
  after_prev(prev, OWNER_AT, id); /* the owner stays last */
}

bool crdt_id_owned_by(const uint8_t id[CRDT_ID_LEN],
                      const uint8_t origin[CRDT_KEY_LEN])
{
  return memcmp(id + OWNER_AT, origin, CRDT_ID_OWNER_LEN) == 0;
}

/* The bytes of a name after its first: a-z, 0-9, '_' (a table: issue
 * 20, a load checks each field name several times, 5% of it with three
 * ranges compared for each byte) */
static const bool name_byte[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['_'] = 1, ['a'] = 1,
    ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,
    ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
    ['z'] = 1,
};

bool crdt_name_valid(const char *s, size_t n)
{
  if (n == 0 || n > CRDT_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
    return false;
  const unsigned char *u = (const unsigned char *)s;
  bool ok = true;
  for (size_t i = 1; i < n; i++)
    ok &= name_byte[u[i]]; /* no branch a byte: names are short */
  return ok;
}

bool crdt_scope_valid(const char *s, size_t n)
{
  if (n == 0 || n > CRDT_SCOPE_MAX)
    return false;
  size_t segs = 1, seglen = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '/') {
      if (seglen == 0)
        return false;
      seglen = 0;
      segs++;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
    seglen++;
  }
  return seglen > 0 && segs <= CRDT_SCOPE_DEPTH;
}

bool crdt_scope_under(const char *scope, size_t n, const char *prefix,
                      size_t pn)
{
  if (pn == 0)
    return true;
  if (pn > n || memcmp(scope, prefix, pn) != 0)
    return false;
  return pn == n || scope[pn] == '/';
}

bool crdt_utf8_valid(const char *str, size_t n)
{
  /* The well-formed sequences of Unicode's table 3-7. Issue 20: the text
   * checked is ASCII (a JSON line, field names, digits) or Chinese (three
   * bytes a character), each taken in its own tight loop. */
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) { /* ASCII: then eight bytes at a time */
      i++;
      while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
          break;
        i += 8;
      }
      continue;
    }
    if ((c & 0xf0) == 0xe0) { /* three bytes, as long as they come */
      do {
        if (n - i < 3)
          return false;
        unsigned c1 = s[i + 1], c2 = s[i + 2];
        if (((c1 & 0xc0) ^ 0x80) | ((c2 & 0xc0) ^ 0x80))
          return false;
        if ((c == 0xe0 && c1 < 0xa0) || /* overlong */
            (c == 0xed && c1 > 0x9f))   /* a surrogate */
          return false;
        i += 3;
      } while (i < n && ((c = s[i]) & 0xf0) == 0xe0);
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff)
      return false;
    i += len;
  }
  return true;
}
