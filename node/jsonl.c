/*
 * One JSON Lines object as fields (node/jsonl.h): a parser of the one
 * shape `load` reads, decoding strings into one buffer per line, with no
 * allocation per value. The whole line is checked as UTF-8 once (as
 * jansson does), so the bytes of a string are copied, not decoded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/gs_i18n.h"
#include "node/json.h"
#include "node/jsonl.h"

/* Lines are bounded by the caller (load: 1 MiB); members per line by
 * what a line can hold. */

typedef struct jl_cur {
  node_jl *p;
  const char *s;
  size_t n, i;
  char *err;
  size_t errlen;
} jl_cur;

static gs_err jl_fail(jl_cur *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static gs_err jl_fail(jl_cur *c, const char *fmt, ...)
{
  char what[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(c->err, c->errlen, _("%s (column %zu)"), what, c->i + 1);
  return GS_EINVAL;
}

static void ws(jl_cur *c)
{
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
                         c->s[c->i] == '\n' || c->s[c->i] == '\r'))
    c->i++;
}

/* Between the members of an object (close '}') or the elements of an
 * array (']'): a ',' and the blanks after it, except before the first. */
static gs_err jl_comma(jl_cur *c, bool *first, char close)
{
  if (!*first) {
    if (c->s[c->i] != ',')
      return close == '}' ? jl_fail(c, _("',' or '}' expected"))
                          : jl_fail(c, _("',' or ']' expected"));
    c->i++;
    ws(c);
  }
  *first = false;
  return GS_OK;
}

static int hex4(const char *s)
{
  int v = 0;
  for (int k = 0; k < 4; k++) {
    int d = s[k] >= '0' && s[k] <= '9'   ? s[k] - '0'
            : s[k] >= 'a' && s[k] <= 'f' ? s[k] - 'a' + 10
            : s[k] >= 'A' && s[k] <= 'F' ? s[k] - 'A' + 10
                                         : -1;
    if (d < 0)
      return -1;
    v = v << 4 | d;
  }
  return v;
}

/* A string at c->i (its opening quote) decoded into the buffer,
 * NUL-terminated: its offset there and length. */
static gs_err jl_string(jl_cur *c, size_t *off, size_t *len)
{
  node_jl *p = c->p;
  char *out = p->buf + p->blen;
  size_t k = 0;
  c->i++; /* the quote */
  for (;;) {
    /* the run of plain bytes, copied at once */
    size_t j = c->i;
    while (j < c->n && c->s[j] != '"' && c->s[j] != '\\' &&
           (unsigned char)c->s[j] >= 0x20)
      j++;
    memcpy(out + k, c->s + c->i, j - c->i);
    k += j - c->i;
    c->i = j;
    if (j >= c->n)
      return jl_fail(c, _("unterminated string"));
    char ch = c->s[j];
    if (ch == '"') {
      c->i++;
      break;
    }
    if (ch != '\\')
      return jl_fail(c, _("control character in a string"));
    if (j + 1 >= c->n)
      return jl_fail(c, _("unterminated string"));
    char e = c->s[j + 1];
    c->i = j + 2;
    switch (e) {
    case '"': out[k++] = '"'; continue;
    case '\\': out[k++] = '\\'; continue;
    case '/': out[k++] = '/'; continue;
    case 'b': out[k++] = '\b'; continue;
    case 'f': out[k++] = '\f'; continue;
    case 'n': out[k++] = '\n'; continue;
    case 'r': out[k++] = '\r'; continue;
    case 't': out[k++] = '\t'; continue;
    case 'u': break;
    default:
      c->i = j;
      return jl_fail(c, _("invalid escape"));
    }
    if (c->n - c->i < 4 || hex4(c->s + c->i) < 0) {
      c->i = j;
      return jl_fail(c, _("invalid \\u escape"));
    }
    uint32_t cp = (uint32_t)hex4(c->s + c->i);
    c->i += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      c->i = j;
      return jl_fail(c, _("invalid Unicode '\\u%04X'"), (unsigned)cp);
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      if (c->n - c->i < 6 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u' ||
          hex4(c->s + c->i + 2) < 0xdc00 || hex4(c->s + c->i + 2) > 0xdfff) {
        c->i = j;
        return jl_fail(c, _("invalid Unicode '\\u%04X'"), (unsigned)cp);
      }
      uint32_t lo = (uint32_t)hex4(c->s + c->i + 2);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      c->i += 6;
    }
    if (cp == 0) {
      c->i = j;
      return jl_fail(c, _("\\u0000 is not allowed"));
    }
    /* UTF-8 of cp: at most 4 bytes for the 6 or 12 read */
    if (cp < 0x80) {
      out[k++] = (char)cp;
    } else if (cp < 0x800) {
      out[k++] = (char)(0xc0 | cp >> 6);
      out[k++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out[k++] = (char)(0xe0 | cp >> 12);
      out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[k++] = (char)(0x80 | (cp & 0x3f));
    } else {
      out[k++] = (char)(0xf0 | cp >> 18);
      out[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
      out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[k++] = (char)(0x80 | (cp & 0x3f));
    }
  }
  out[k] = '\0';
  *off = p->blen;
  *len = k;
  p->blen += k + 1;
  return GS_OK;
}

static gs_err jl_number(jl_cur *c, crdt_value *v)
{
  size_t b = c->i, j = c->i;
  bool real = false;
  if (j < c->n && c->s[j] == '-')
    j++;
  if (j < c->n && c->s[j] == '0') {
    j++;
  } else if (j < c->n && c->s[j] >= '1' && c->s[j] <= '9') {
    while (j < c->n && c->s[j] >= '0' && c->s[j] <= '9')
      j++;
  } else {
    return jl_fail(c, _("invalid number"));
  }
  if (j < c->n && c->s[j] == '.') {
    real = true;
    j++;
    if (j >= c->n || c->s[j] < '0' || c->s[j] > '9')
      return jl_fail(c, _("invalid number"));
    while (j < c->n && c->s[j] >= '0' && c->s[j] <= '9')
      j++;
  }
  if (j < c->n && (c->s[j] == 'e' || c->s[j] == 'E')) {
    real = true;
    j++;
    if (j < c->n && (c->s[j] == '+' || c->s[j] == '-'))
      j++;
    if (j >= c->n || c->s[j] < '0' || c->s[j] > '9')
      return jl_fail(c, _("invalid number"));
    while (j < c->n && c->s[j] >= '0' && c->s[j] <= '9')
      j++;
  }
  /* a NUL-terminated copy, in the free end of the buffer */
  char *t = c->p->buf + c->p->blen;
  memcpy(t, c->s + b, j - b);
  t[j - b] = '\0';
  errno = 0;
  memset(v, 0, sizeof *v);
  if (!real) {
    long long x = strtoll(t, NULL, 10);
    if (errno == ERANGE)
      return jl_fail(c, _("too big integer"));
    v->type = CRDT_INT;
    v->u.i = (int64_t)x;
  } else {
    double x = strtod(t, NULL);
    if (errno == ERANGE && (x > 1.0 || x < -1.0))
      return jl_fail(c, _("real number overflow"));
    v->type = CRDT_FLOAT;
    v->u.f = x;
  }
  c->i = j;
  return GS_OK;
}

static bool lit(jl_cur *c, const char *w, size_t wn)
{
  if (c->n - c->i < wn || memcmp(c->s + c->i, w, wn) != 0)
    return false;
  c->i += wn;
  return true;
}

static int unhex(char ch)
{
  return ch >= '0' && ch <= '9'   ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
}

/* {"$ref": "COLL/ID"} or {"$hex": "..."} at c->i. */
static gs_err jl_object_value(jl_cur *c, crdt_value *v)
{
  static const char shape[] =
      N_("an object must be {\"$ref\": \"COLL/ID\"} or {\"$hex\": \"...\"}");
  size_t koff, klen, off, len;
  gs_err err;
  c->i++;
  ws(c);
  if (c->i >= c->n || c->s[c->i] != '"')
    return jl_fail(c, "%s", _(shape));
  if ((err = jl_string(c, &koff, &klen)) != GS_OK)
    return err;
  const char *key = c->p->buf + koff;
  bool ref = strcmp(key, "$ref") == 0, hx = strcmp(key, "$hex") == 0;
  ws(c);
  if (!(ref || hx) || c->i >= c->n || c->s[c->i] != ':')
    return jl_fail(c, "%s", _(shape));
  c->i++;
  ws(c);
  if (c->i >= c->n || c->s[c->i] != '"')
    return jl_fail(c, "%s", _(shape));
  if ((err = jl_string(c, &off, &len)) != GS_OK)
    return err;
  ws(c);
  if (c->i >= c->n || c->s[c->i] != '}')
    return jl_fail(c, "%s", _(shape));
  c->i++;
  char *text = c->p->buf + off;
  memset(v, 0, sizeof *v);
  if (ref) {
    if (node_parse_ref(text, v) != GS_OK)
      return jl_fail(c, _("bad reference \"%.60s\" (want COLL/ID)"), text);
    return GS_OK;
  }
  if (len % 2)
    return jl_fail(c, _("odd number of hex digits"));
  if (len / 2 > CRDT_TEXT_MAX)
    return jl_fail(c, _("more than %d bytes"), CRDT_TEXT_MAX);
  /* decoded in place: the bytes are half the digits */
  for (size_t i = 0; i < len / 2; i++) {
    int hi = unhex(text[2 * i]), lo = unhex(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return jl_fail(c, _("bad hex digit"));
    text[i] = (char)(hi << 4 | lo);
  }
  v->type = CRDT_BYTES;
  v->u.s.p = text;
  v->u.s.n = len / 2;
  return GS_OK;
}

/* One value (not an array) at c->i into v. */
static gs_err jl_value(jl_cur *c, crdt_value *v)
{
  if (c->i >= c->n)
    return jl_fail(c, _("a value is missing"));
  char ch = c->s[c->i];
  gs_err err;
  memset(v, 0, sizeof *v);
  if (ch == '"') {
    size_t off, len;
    if ((err = jl_string(c, &off, &len)) != GS_OK)
      return err;
    v->type = CRDT_STR;
    v->u.s.p = (const char *)(uintptr_t)off; /* fixed after the parse */
    v->u.s.n = len;
    return GS_OK;
  }
  if (ch == '{') {
    err = jl_object_value(c, v);
  } else if (ch == '[') {
    return jl_fail(c, _("an array is not a single value"));
  } else if (lit(c, "true", 4)) {
    v->type = CRDT_BOOL;
    v->u.b = true;
    return GS_OK;
  } else if (lit(c, "false", 5)) {
    v->type = CRDT_BOOL;
    v->u.b = false;
    return GS_OK;
  } else if (lit(c, "null", 4)) {
    v->type = CRDT_NIL;
    return GS_OK;
  } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
    err = jl_number(c, v);
  } else {
    return jl_fail(c, _("invalid token"));
  }
  return err;
}

static gs_err grow(void **v, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return GS_OK;
  size_t nc = *cap ? *cap : 16;
  while (nc < need)
    nc *= 2;
  void *nv = realloc(*v, nc * size);
  if (!nv)
    return GS_ENOMEM;
  *v = nv;
  *cap = nc;
  return GS_OK;
}

static int key_cmp(const void *a, const void *b)
{
  const node_jl_member *x = *(const node_jl_member *const *)a;
  const node_jl_member *y = *(const node_jl_member *const *)b;
  return strcmp(x->key, y->key);
}

/* A member named twice: its name, or NULL. */
static const char *duplicate(node_jl *p)
{
  if (p->n <= 32) {
    for (size_t i = 1; i < p->n; i++)
      for (size_t j = 0; j < i; j++)
        if (p->m[i].key_len == p->m[j].key_len &&
            memcmp(p->m[i].key, p->m[j].key, p->m[i].key_len) == 0)
          return p->m[i].key;
    return NULL;
  }
  const node_jl_member **s = malloc(p->n * sizeof *s);
  if (!s)
    return NULL; /* then jansson's rule is not checked: refused later */
  for (size_t i = 0; i < p->n; i++)
    s[i] = &p->m[i];
  qsort(s, p->n, sizeof *s, key_cmp);
  const char *dup = NULL;
  for (size_t i = 1; i < p->n && !dup; i++)
    if (strcmp(s[i]->key, s[i - 1]->key) == 0)
      dup = s[i]->key;
  free(s);
  return dup;
}

static gs_err check_value(jl_cur *c, const crdt_value *v)
{
  /* a decoded string is valid UTF-8 already (issue 20: validate once):
   * the line was checked whole, jl_string copies runs of it cut only at
   * ASCII bytes, and writes each \u escape as one code point (no lone
   * surrogate, no NUL); only its length is left to check */
  gs_err e = v->type == CRDT_STR ? (v->u.s.n > CRDT_TEXT_MAX ? GS_ETOOBIG
                                                             : GS_OK)
                                 : crdt_value_check(v);
  if (e)
    return jl_fail(c, "%s", e == GS_ETOOBIG ? _("longer than 16384 bytes")
                                          : gs_strerror(e));
  return GS_OK;
}

gs_err node_jl_parse(node_jl *p, const char *line, size_t len, char *err,
                     size_t errlen)
{
  jl_cur c = {.p = p, .s = line, .n = len, .err = err, .errlen = errlen};
  gs_err e;
  p->n = p->nv = p->blen = 0;
  if (!crdt_utf8_valid(line, len))
    return jl_fail(&c, _("not UTF-8"));
  /* every decoded string (and its NUL) is shorter than its JSON text */
  if ((e = grow((void **)&p->buf, &p->bcap, len + 16, 1)) != GS_OK)
    return e;
  ws(&c);
  if (c.i >= c.n || line[c.i] != '{')
    return jl_fail(&c, _("not a JSON object"));
  c.i++;
  ws(&c);
  bool first = true;
  while (c.i < c.n && line[c.i] != '}') {
    if ((e = jl_comma(&c, &first, '}')) != GS_OK)
      return e;
    if (c.i >= c.n || line[c.i] != '"')
      return jl_fail(&c, _("a member's name (a string) expected"));
    size_t koff, klen;
    if ((e = jl_string(&c, &koff, &klen)) != GS_OK)
      return e;
    ws(&c);
    if (c.i >= c.n || line[c.i] != ':')
      return jl_fail(&c, _("':' expected"));
    c.i++;
    ws(&c);
    if ((e = grow((void **)&p->m, &p->mcap, p->n + 1, sizeof *p->m)) !=
        GS_OK)
      return e;
    node_jl_member *m = &p->m[p->n++];
    memset(m, 0, sizeof *m);
    m->key = (const char *)(uintptr_t)koff; /* fixed after the parse */
    m->key_len = klen;
    m->vals = (crdt_value *)(uintptr_t)p->nv;
    if (c.i < c.n && line[c.i] == '[') {
      m->is_array = true;
      c.i++;
      ws(&c);
      bool fe = true;
      while (c.i < c.n && line[c.i] != ']') {
        if ((e = jl_comma(&c, &fe, ']')) != GS_OK)
          return e;
        if ((e = grow((void **)&p->v, &p->vcap, p->nv + 1, sizeof *p->v)) !=
            GS_OK)
          return e;
        if ((e = jl_value(&c, &p->v[p->nv])) != GS_OK)
          return e;
        p->nv++;
        m->nvals++;
        ws(&c);
      }
      if (c.i >= c.n)
        return jl_fail(&c, _("unterminated array"));
      c.i++;
    } else {
      if ((e = grow((void **)&p->v, &p->vcap, p->nv + 1, sizeof *p->v)) !=
          GS_OK)
        return e;
      if ((e = jl_value(&c, &p->v[p->nv])) != GS_OK)
        return e;
      p->nv++;
      m->nvals = 1;
    }
    ws(&c);
  }
  if (c.i >= c.n)
    return jl_fail(&c, _("unterminated object"));
  c.i++;
  ws(&c);
  if (c.i < c.n)
    return jl_fail(&c, _("end of the line expected after the object"));
  /* offsets into pointers, now that the buffers no longer move */
  for (size_t i = 0; i < p->nv; i++)
    if (p->v[i].type == CRDT_STR)
      p->v[i].u.s.p = p->buf + (uintptr_t)p->v[i].u.s.p;
  for (size_t i = 0; i < p->n; i++) {
    p->m[i].key = p->buf + (uintptr_t)p->m[i].key;
    p->m[i].vals = p->v + (uintptr_t)p->m[i].vals;
  }
  for (size_t i = 0; i < p->nv; i++)
    if ((e = check_value(&c, &p->v[i])) != GS_OK)
      return e;
  const char *dup = duplicate(p);
  if (dup)
    return jl_fail(&c, _("duplicate object key '%.60s'"), dup);
  return GS_OK;
}

void node_jl_free(node_jl *p)
{
  if (!p)
    return;
  free(p->m);
  free(p->v);
  free(p->buf);
  memset(p, 0, sizeof *p);
}
