/* gridsync changes [--since DATE] [--scope PREFIX]: what changed, by
 * whom, in which grid (node_changes). Arguments and printing only. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "node/domain.h"
#include "node/schema.h"

typedef struct changes_ctx {
  json_t *out;
  size_t n;
} changes_ctx;

static int on_item(void *vctx, const node_change_item *it)
{
  changes_ctx *x = vctx;
  char idt[CRDT_ID_TEXT_LEN + 1], when[40];
  crdt_base32_encode(it->id, CRDT_ID_LEN, idt);
  x->n++;
  if (x->out) {
    char iso[40], key[CRDT_KEY_TEXT_LEN + 1];
    node_time_text(it->ms, iso, sizeof iso);
    crdt_base32_encode(it->origin, CRDT_KEY_LEN, key);
    json_t *fields = json_array();
    for (const char *p = it->fields; *p;) {
      size_t k = strcspn(p, ",");
      json_array_append_new(fields, json_stringn(p, k));
      p += k + (p[k] == ',');
    }
    json_array_append_new(
        x->out,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:b}",
                  "time", iso, "by", key, "author", it->author, "scope",
                  it->scope, "collection", it->coll, "id", idt, "name",
                  it->name, "fields", fields, "deleted", it->deleted,
                  "restored", it->restored));
    return 0;
  }
  time_t t = (time_t)(it->ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
  printf("%s  %s  %s  %s %s", when, it->author, it->scope,
         node_schema_label(it->coll, NULL, NULL),
         it->name[0] ? it->name : idt);
  if (it->deleted)
    printf(_("  deleted"));
  if (it->restored)
    printf(_("  restored"));
  if (it->fields[0]) {
    /* TRANSLATORS: the changed fields, "  (name, phone)" */
    fputs(_("  ("), stdout);
    for (const char *p = it->fields; *p;) {
      char f[CRDT_NAME_MAX + 1];
      size_t k = strcspn(p, ",");
      size_t fl = k < sizeof f ? k : sizeof f - 1;
      memcpy(f, p, fl);
      f[fl] = '\0';
      printf("%s%s", p == it->fields ? "" : _(", "),
             node_schema_label(it->coll, f, NULL));
      p += k + (p[k] == ',');
    }
    fputs(_(")"), stdout);
  }
  printf("\n");
  return 0;
}

int cli_cmd_changes(cli_ctx *ctx)
{
  const char *since = "今天", *prefix = "";
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--since", &since)) != 0 ||
        (m = cli_opt(ctx, &i, "--scope", &prefix)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    return cli_usage("changes", "unexpected argument '%s'", ctx->argv[i]);
  }
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_reason why = {0};
  uint64_t ms;
  if (node_day_start_ms(n, since, &ms, &why) != GS_OK)
    return cli_refused("changes", &why);
  changes_ctx x = {.out = ctx->json ? json_array() : NULL};
  bool truncated = false;
  if (node_changes(n, prefix, ms, on_item, &x, &truncated, &why) != GS_OK) {
    json_decref(x.out);
    return cli_refused("changes", &why);
  }
  if (x.out)
    return cli_json_out(x.out);
  printf(_("(%zu change%s%s)\n"), x.n, x.n == 1 ? "" : "s",
         truncated ? _("; more were left out: give a later --since") : "");
  return CLI_OK;
}
