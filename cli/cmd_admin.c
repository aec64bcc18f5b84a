/*
 * Looking after a node (issue 21): backup, restore of a backup, compact,
 * doctor. The work is node/admin.h's; this file parses and prints.
 *
 * `restore` has two forms: `restore COLLECTION ID` undoes a delete,
 * `restore BACKUP DIR` brings a backup back as a new node. The first
 * argument decides: one with a '/' or a '.' in it (collection names
 * have neither), or the name of an existing file that is not a
 * collection, is a backup file; anything else is a collection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/admin.h"
#include "node/node.h"
#include "node/schema.h"

/* cli_fail and cli_usage translate their format themselves (the i18n
 * work's xgettext keywords): their messages are not wrapped in _(). */

typedef struct progress_out {
  const char *what; /* translated: "backing up", "restoring"... */
  bool tty;
  bool shown;
} progress_out;

/* Progress on stderr: one line rewritten on a terminal, else a line
 * each time (node/admin.c calls at most four times a second). */
static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
  progress_out *p = ctx;
  unsigned long long kb = (unsigned long long)(done >> 10);
  if (total && done <= total)
    fprintf(stderr, _("%s: %llu KB of about %llu KB (%d%%)"), p->what, kb,
            (unsigned long long)(total >> 10), (int)(done * 100 / total));
  else
    fprintf(stderr, _("%s: %llu KB"), p->what, kb);
  fputs(p->tty ? "\r" : "\n", stderr);
  p->shown = true;
}

static void progress_end(progress_out *p)
{
  if (p->shown && p->tty)
    fputc('\n', stderr);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static void local_time(uint64_t ms, char out[32])
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!localtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M", &tm))
    snprintf(out, 32, "?");
}

/* Why a backup file cannot be used, in words. */
static const char *backup_why(gs_err err)
{
  switch (err) {
  case GS_ETRUNC:
    return _("it is cut short (a backup that was interrupted, or a copy "
             "that did not finish)");
  case GS_ECORRUPT:
    return _("it was damaged or altered (its checksum does not match, or "
             "its store does not read back whole)");
  case GS_EDECODE:
    return _("it is not a gridsync backup");
  case GS_EVERSION:
    return _("it was made by a newer gridsync");
  case GS_ENOTFOUND:
    return _("there is no such file");
  default:
    return gs_strerror(err);
  }
}

int cli_cmd_backup(cli_ctx *ctx)
{
  if (ctx->argc != 2)
    return cli_usage("backup", "give the file to write the backup to");
  const char *file = ctx->argv[1];
  node *n = cli_open(ctx, 0);
  if (!n)
    return CLI_FAIL;
  progress_out po = {_("backing up"), isatty(2) != 0, false};
  node_backup_info info;
  bool open_node = node_is_open(n);
  gs_err err = node_backup(n, file, on_progress, &po, &info);
  progress_end(&po);
  if (err == GS_ETOOBIG)
    return cli_fail("backup: the node directory %s holds more than %d "
                      "small files; move what is not gridsync's elsewhere",
                    ctx->dir, NODE_BACKUP_FILES_MAX);
  if (err)
    return cli_fail("backup: cannot write %s: %s", file,
                    gs_strerror(err));
  char id[33], node_id[64], when[32];
  hex(info.id, sizeof info.id, id);
  crdt_base32_encode(info.node_pk, CRDT_KEY_LEN, node_id);
  local_time(info.created_ms, when);
  if (ctx->json) {
    json_t *files = json_array();
    for (size_t i = 0; i < info.nfiles; i++)
      json_array_append_new(files, json_string(info.names[i]));
    return cli_json_out(json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:b}", "file", file,
        "backup_id", id, "node", node_id, "created_ms",
        (json_int_t)info.created_ms, "bytes", (json_int_t)info.file_bytes,
        "store_bytes", (json_int_t)info.store_bytes, "files", files,
        "sealed", !open_node));
  }
  printf(_("backup written to %s (%llu KB, %s)\n"), file,
         (unsigned long long)(info.file_bytes >> 10), when);
  if (open_node)
    printf(_("warning: this node has no passphrase, so neither has the "
             "backup: whoever holds the file can read the residents' data "
             "(set one with: gridsync passphrase)\n"));
  else
    printf(_("the backup is sealed: it opens only with this node's "
             "passphrase as it is now\n"));
  printf(_("bring it back with: gridsync restore %s NEW_DIR\n"), file);
  return CLI_OK;
}

/* Does the first argument of restore name a backup file (see above)? */
static bool names_backup(const char *a)
{
  if (strchr(a, '/') || strchr(a, '.'))
    return true;
  if (node_schema_coll(a, strlen(a)) || strncmp(a, "x_", 2) == 0)
    return false;
  struct stat sb;
  return stat(a, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int restore_backup(cli_ctx *ctx)
{
  if (ctx->argc != 3)
    return cli_usage("restore", "give the backup file and a new node "
                                  "directory: restore BACKUP DIR");
  const char *file = ctx->argv[1], *dir = ctx->argv[2];
  progress_out po = {_("restoring"), isatty(2) != 0, false};
  node_restore_info ri;
  gs_err err = node_restore(file, dir, on_progress, &po, &ri);
  progress_end(&po);
  if (err == GS_EEXIST)
    return cli_fail("restore: %s already holds files; a backup is only "
                      "restored into a new (or empty) directory, never over "
                      "a node, which may still be alive",
                    dir);
  if (err == GS_EPASS)
    return cli_fail("restore: wrong passphrase: %s opens only with the "
                      "passphrase the backed-up node had when the backup was "
                      "made; nothing was written",
                    file);
  if (err == GS_ELOCKED)
    return cli_fail("restore: %s is sealed: give the backed-up node's "
                      "passphrase with --passphrase-file FILE or "
                      "GRIDSYNC_PASSPHRASE, or run this on a terminal; "
                      "nothing was written",
                    file);
  if (err == GS_ETRUNC || err == GS_ECORRUPT || err == GS_EDECODE ||
      err == GS_EVERSION || err == GS_ENOTFOUND)
    return cli_fail("restore: %s cannot be restored: %s; nothing was "
                      "written",
                    file, backup_why(err));
  if (err)
    return cli_fail("restore: cannot restore %s into %s: %s", file, dir,
                    gs_strerror(err));
  char id[33], old_id[64], new_id[64], when[32];
  hex(ri.backup.id, sizeof ri.backup.id, id);
  crdt_base32_encode(ri.backup.node_pk, CRDT_KEY_LEN, old_id);
  crdt_base32_encode(ri.new_pk, CRDT_KEY_LEN, new_id);
  local_time(ri.backup.created_ms, when);
  if (ctx->json)
    return cli_json_out(json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:b, s:b, s:b}", "dir", dir, "node",
        new_id, "restored_from", old_id, "backup_id", id, "created_ms",
        (json_int_t)ri.backup.created_ms, "had_network", ri.had_network,
        "must_join", ri.had_network, "sealed", ri.sealed));
  printf(_("restored the backup of %s into %s\n"), when, dir);
  printf(_("this node has a new id, %s (the backed-up node was %s): what it "
           "writes can never clash with the old node's feeds\n"),
         new_id, old_id);
  if (ri.sealed)
    printf(_("it opens with the passphrase the backed-up node had; change "
             "it with: gridsync --dir %s passphrase\n"),
           dir);
  if (ri.had_network)
    printf(_("to sync again, ask an admin for a new invite and run: "
             "gridsync --dir %s join CODE\n"),
           dir);
  return CLI_OK;
}

int cli_cmd_restore_any(cli_ctx *ctx)
{
  if (ctx->argc >= 2 && names_backup(ctx->argv[1]))
    return restore_backup(ctx);
  return cli_cmd_restore(ctx);
}

int cli_cmd_compact(cli_ctx *ctx)
{
  if (ctx->argc != 1)
    return cli_usage("compact", "unexpected argument '%s'", ctx->argv[1]);
  progress_out po = {_("compacting"), isatty(2) != 0, false};
  uint64_t before = 0, after = 0;
  gs_err err = node_compact(ctx->dir, on_progress, &po, &before, &after);
  progress_end(&po);
  if (err == GS_EBUSY)
    return cli_fail("compact: the node in %s is in use (serve, ui or "
                      "another command is running); stop it first, e.g. "
                      "systemctl stop gridsync",
                    ctx->dir);
  if (err == GS_ENOTINIT)
    return cli_fail("compact: no node in %s", ctx->dir);
  if (cli_pass_fail(ctx->dir, err))
    return CLI_FAIL;
  if (err)
    return cli_fail("compact: %s", gs_strerror(err));
  if (ctx->json)
    return cli_json_out(json_pack("{s:I, s:I}", "bytes_before",
                                  (json_int_t)before, "bytes_after",
                                  (json_int_t)after));
  printf(_("compacted: %llu KB before, %llu KB now\n"),
         (unsigned long long)(before >> 10),
         (unsigned long long)(after >> 10));
  return CLI_OK;
}

int cli_cmd_doctor(cli_ctx *ctx)
{
  if (ctx->argc != 1)
    return cli_usage("doctor", "unexpected argument '%s'", ctx->argv[1]);
  node_doctor_report *r = malloc(sizeof *r);
  if (!r)
    return cli_fail("out of memory");
  node_doctor(ctx->dir, NULL, r);
  int rc = r->problems ? CLI_FAIL : CLI_OK;
  if (ctx->json) {
    json_t *checks = json_array();
    for (size_t i = 0; i < r->n; i++)
      json_array_append_new(
          checks, json_pack("{s:s, s:b, s:b, s:s, s:s}", "check",
                            r->f[i].check, "ok", r->f[i].ok, "warning",
                            r->f[i].warn, "text", r->f[i].text, "fix",
                            r->f[i].fix));
    json_t *doc = json_pack("{s:s, s:b, s:I, s:o}", "dir", ctx->dir, "ok",
                            r->problems == 0, "problems",
                            (json_int_t)r->problems, "checks", checks);
    free(r);
    int jr = cli_json_out(doc);
    return jr ? jr : rc;
  }
  size_t warnings = 0;
  for (size_t i = 0; i < r->n; i++) {
    const node_finding *f = &r->f[i];
    warnings += f->ok && f->warn;
    /* TRANSLATORS: "  ok ", "WARN " and "FIX  " mark each line of the
     * doctor */
    printf("%s %s\n", !f->ok ? _("FIX  ") : f->warn ? _("WARN ") : _("  ok "),
           f->text);
    if ((!f->ok || f->warn) && f->fix[0])
      printf("       -> %s\n", f->fix);
  }
  if (r->problems)
    printf(_("%zu things to fix in %s.\n"), r->problems, ctx->dir);
  else if (warnings)
    printf(_("nothing to fix in %s, but read the warnings above.\n"),
           ctx->dir);
  else
    printf(_("all is well in %s.\n"), ctx->dir);
  free(r);
  return rc;
}
