/* gridsync inbox [--scope P] [--json]: what a person must decide
 * (node_inbox), one numbered line per item. Arguments and printing only. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "node/domain.h"

typedef struct inbox_ctx {
  size_t n;
} inbox_ctx;

static int on_item(void *vctx, const node_inbox_item *it)
{
  inbox_ctx *x = vctx;
  x->n++;
  printf("%zu. [%s] %s\n   -> %s\n", x->n, node_inbox_code(it->kind),
         it->what, it->action);
  return 0;
}

int cli_cmd_inbox(cli_ctx *ctx)
{
  const char *prefix = "";
  for (int i = 1; i < ctx->argc; i++) {
    int m = cli_opt(ctx, &i, "--scope", &prefix);
    if (m < 0)
      return CLI_USAGE;
    if (m > 0)
      continue;
    return cli_usage("inbox", "unexpected argument '%s'", ctx->argv[i]);
  }
  if (*prefix && !crdt_scope_valid(prefix, strlen(prefix)))
    return cli_usage("inbox", "'%s' is not a scope: give a grid path such "
                              "as street/community/g01",
                     prefix);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  gs_err err;
  if (ctx->json) {
    json_t *arr;
    if ((err = node_inbox_json(n, prefix, &arr)) != GS_OK)
      return cli_fail("inbox: cannot read the store: %s", gs_i18n_strerror(err));
    return cli_json_out(json_pack("{s:o}", "items", arr));
  }
  inbox_ctx x = {0};
  if ((err = node_inbox(n, prefix, on_item, &x)) != GS_OK)
    return cli_fail("inbox: cannot read the store: %s", gs_i18n_strerror(err));
  if (x.n == 0)
    printf(_("(nothing to decide)\n"));
  return CLI_OK;
}
