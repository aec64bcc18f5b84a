/* Offline bundles: export, import, bundle info, vv. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"
#include "node/bundle.h"

static void hex8(const uint8_t *p, char out[17])
{
  static const char d[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[16] = '\0';
}

static json_t *info_json(const node_bundle_info *in)
{
  char id[17], who[CRDT_KEY_TEXT_LEN + 1], when[40];
  hex8(in->netid, id);
  crdt_base32_encode(in->sender, CRDT_KEY_LEN, who);
  node_time_text(in->created, when, sizeof when);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "network",
                   in->netname, "network_id", id, "sender", who, "created",
                   when, "scope", in->scope, "feeds", (json_int_t)in->feeds,
                   "changes", (json_int_t)in->changes, "bytes",
                   (json_int_t)in->bytes);
}

static void info_text(const node_bundle_info *in)
{
  char id[17], who[CRDT_KEY_TEXT_LEN + 1], when[40];
  hex8(in->netid, id);
  crdt_base32_encode(in->sender, CRDT_KEY_LEN, who);
  node_time_local(in->created, when, sizeof when);
  printf(_("network   %s (%s)\nsender    %s\ncreated   %s\nscope     %s\n"
         "contents  %" PRIu64 " changes in %" PRIu64 " feeds, %" PRIu64
         " bytes (encrypted)\n"),
         in->netname, id, who, when, *in->scope ? in->scope : _("(all)"),
         in->changes, in->feeds, in->bytes);
}

int cli_cmd_export(cli_ctx *ctx)
{
  const char *file = NULL, *scope = NULL, *forid = NULL, *since = NULL;
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--scope", &scope)) ||
        (m = cli_opt(ctx, &i, "--for", &forid)) ||
        (m = cli_opt(ctx, &i, "--since", &since))) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    if (file || strncmp(ctx->argv[i], "--", 2) == 0)
      return cli_usage("export", "unexpected argument '%s'", ctx->argv[i]);
    file = ctx->argv[i];
  }
  if (!file)
    return cli_usage("export", "give the file to write (on the USB stick)");
  if (forid && since)
    return cli_usage("export", "give --for or --since, not both");
  if (scope && *scope && !crdt_scope_valid(scope, strlen(scope)))
    return cli_usage("export", "bad scope prefix '%s'", scope);
  uint8_t key[CRDT_KEY_LEN];
  if (forid && crdt_base32_decode(forid, strlen(forid), key, CRDT_KEY_LEN))
    return cli_usage("export", "'%s' is not a node id", forid);
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_bundle_info in;
  int rc = CLI_OK;
  gs_err err = node_export(n, file, scope, forid ? key : NULL, since, &in);
  if (err == GS_ENOTFOUND)
    rc = cli_fail("export: this node has no network");
  else if (err)
    rc = cli_fail("export: cannot write %s: %s (nothing written)", file,
                  gs_i18n_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(info_json(&in));
  else
    printf(_("wrote %s: %" PRIu64 " changes in %" PRIu64 " feeds, %" PRIu64
           " bytes, encrypted for network \"%s\"\n"),
           file, in.changes, in.feeds, in.bytes, in.netname);
  return rc;
}

int cli_cmd_import(cli_ctx *ctx)
{
  if (ctx->argc != 2)
    return cli_usage("import", "give the bundle file");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  node_import_result r;
  char why[200];
  int rc = CLI_OK;
  gs_err err = node_import(n, ctx->argv[1], &r, why, sizeof why);
  if (err == GS_ENOTFOUND)
    rc = cli_fail("import: this node has no network");
  else if (err)
    rc = cli_fail("import: %s: %s", ctx->argv[1],
                  *why ? why : gs_i18n_strerror(err));
  else if (ctx->json)
    rc = cli_json_out(json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "added", (json_int_t)r.applied,
        "already_held", (json_int_t)r.duplicates, "refused",
        (json_int_t)r.refused, "gaps", (json_int_t)r.gaps, "bad_feeds",
        (json_int_t)r.bad_feeds, "not_readable", (json_int_t)r.unreadable,
        "held", (json_int_t)r.held));
  else {
    printf(_("imported %s: %" PRIu64 " changes added, %" PRIu64
           " already held\n"),
           ctx->argv[1], r.applied, r.duplicates);
    if (r.refused)
      printf(_("refused %" PRIu64 " changes: %s\n"), r.refused, why);
    if (r.gaps)
      printf(_("%" PRIu64 " feeds start after what this node holds: import "
             "an earlier bundle first\n"),
             r.gaps);
    if (r.bad_feeds)
      printf(_("%" PRIu64 " feeds were refused: %s\n"), r.bad_feeds, why);
    if (r.unreadable)
      printf(_("dropped %" PRIu64 " changes of scopes this node's role may "
             "not read (they were not stored)\n"),
             r.unreadable);
    if (r.held)
      printf(_("held back %" PRIu64 " changes whose authors' membership is "
             "not confirmed here yet: import the bundle again after "
             "syncing with the office (%s)\n"),
             r.held, why);
  }
  return rc;
}

int cli_cmd_bundle(cli_ctx *ctx)
{
  if (ctx->argc != 3 || strcmp(ctx->argv[1], "info") != 0)
    return cli_usage("bundle", "bundle info FILE");
  node_bundle_info in;
  gs_err err = node_bundle_info_read(ctx->argv[2], &in);
  if (err)
    return cli_fail("bundle info: %s is not a readable gridsync bundle (%s)",
                    ctx->argv[2], gs_i18n_strerror(err));
  if (ctx->json)
    return cli_json_out(info_json(&in));
  info_text(&in);
  return CLI_OK;
}

int cli_cmd_vv(cli_ctx *ctx)
{
  if (ctx->argc != 2)
    return cli_usage("vv", "give the file to write");
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  gs_err err = node_vv_write(n, ctx->argv[1]);
  int rc = CLI_OK;
  if (err)
    rc = cli_fail("vv: cannot write %s: %s", ctx->argv[1], gs_i18n_strerror(err));
  else if (!ctx->json)
    printf(_("wrote this node's version vector to %s (give it to "
           "'gridsync export --since')\n"),
           ctx->argv[1]);
  else
    rc = cli_json_out(json_pack("{s:s}", "written", ctx->argv[1]));
  return rc;
}
