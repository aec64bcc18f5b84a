/*
 * Dates as people write them (node/domain.h): 2026-12-05, 2026/12/5,
 * 2026.12.5, 2026年12月5日, 今天, 昨天, 前天 (and today, yesterday), read
 * against the node's clock in local time; always stored YYYY-MM-DD.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "node/domain.h"
#include "node/node.h"
#include "node/schema.h"


/* Read 1 to max digits at *p into *v. */
static bool digits(const char **p, int max, int *v)
{
  int k = 0;
  *v = 0;
  while (k < max && **p >= '0' && **p <= '9') {
    *v = *v * 10 + (**p - '0');
    (*p)++;
    k++;
  }
  return k > 0 && !(**p >= '0' && **p <= '9');
}

/* Skip the separator sep (one of "-", "/", ".", or a UTF-8 word). */
static bool skip(const char **p, const char *sep)
{
  size_t k = strlen(sep);
  if (strncmp(*p, sep, k) != 0)
    return false;
  *p += k;
  return true;
}

bool node_date_parse(node *n, const char *text, char out[11])
{
  static const struct {
    const char *word;
    int back;
  } words[] = {{"今天", 0}, {"今日", 0}, {"昨天", 1}, {"昨日", 1},
               {"前天", 2}, {"today", 0}, {"yesterday", 1}};
  const char *p = text;
  while (*p == ' ')
    p++;
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == ' ')
    len--;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (len == strlen(words[i].word) &&
        memcmp(p, words[i].word, len) == 0) {
      node_today(n, words[i].back, out);
      return true;
    }
  const char *end = p + len;
  int y, m, d;
  if (!digits(&p, 4, &y) || y < 1000)
    return false;
  static const char *const seps[] = {"-", "/", ".", "年"};
  size_t s;
  for (s = 0; s < 4 && !skip(&p, seps[s]); s++)
    ;
  if (s == 4 || !digits(&p, 2, &m))
    return false;
  if (s == 3 ? !skip(&p, "月") : !skip(&p, seps[s]))
    return false;
  if (!digits(&p, 2, &d))
    return false;
  if (s == 3 && !skip(&p, "日"))
    skip(&p, "号");
  if (p != end)
    return false;
  char buf[40];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
  if (!node_date_valid(buf, strlen(buf)))
    return false;
  memcpy(out, buf, 11);
  return true;
}
