/* A numbered choice among namesakes, in a terminal only (issue 16): the
 * candidates and what tells them apart come from node_resolve; this file
 * only prints them and reads the number typed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_choose(void *vctx, const char *field, const char *text,
               const node_hits *cands)
{
  cli_ctx *ctx = vctx;
  if ((ctx && ctx->json) || !isatty(STDIN_FILENO) ||
      !isatty(STDERR_FILENO) || cands->n == 0)
    return -1;
  fprintf(stderr, _("%s%s'%s' could be any of these:\n"), field[0] ? field : "",
          field[0] ? ": " : "", text);
  for (size_t i = 0; i < cands->n; i++) {
    const node_hit *h = &cands->v[i];
    fprintf(stderr, "  %zu) %s  (%s%s%s)\n", i + 1,
            h->name[0] ? h->name : "?", node_schema_label(h->coll, NULL, NULL),
            h->detail[0] ? ", " : "", h->detail);
  }
  fprintf(stderr, _("Which one? Type its number and Enter (Enter alone: "
                  "none): "));
  fflush(stderr);
  char line[32];
  if (!fgets(line, sizeof line, stdin))
    return -1;
  char *end;
  long k = strtol(line, &end, 10);
  while (*end == ' ' || *end == '\r' || *end == '\n')
    end++;
  if (end == line || *end || k < 1 || (size_t)k > cands->n)
    return -1;
  return (int)(k - 1);
}
