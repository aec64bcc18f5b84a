/*
 * Phone numbers as people type them (node/domain.h): "138 0000 1111",
 * "138-0000-1111" are stored and compared as 13800001111.
 */
#include <string.h>

#include "node/domain.h"

bool node_phone_norm(const char *p, size_t n, char *out, size_t cap)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == ' ' || p[i] == '-' || p[i] == '\t')
      continue;
    if (k + 1 >= cap)
      return false;
    out[k++] = p[i];
  }
  if (cap)
    out[k] = '\0';
  return cap > 0;
}

bool node_phone_like(const char *text)
{
  bool digit = false;
  for (const char *p = text; *p; p++) {
    if (*p >= '0' && *p <= '9')
      digit = true;
    else if (*p != ' ' && *p != '-' && *p != '+')
      return false;
  }
  return digit;
}
