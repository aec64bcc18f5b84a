/*
 * gridsync: the command line (DESIGN.md section 9).
 *
 * Global options may come anywhere before a lone "--": --dir DIR and
 * --json. Each command gets its own arguments in cli_ctx.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/domain.h"
#include "node/node.h"

typedef struct cli_command {
  const char *name;
  int (*run)(cli_ctx *ctx);
  const char *usage;
  const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"init", cli_cmd_init, N_("init [--name NAME] [--no-passphrase]"),
     N_("create the node directory and identity")},
    {"passphrase", cli_cmd_passphrase, N_("passphrase [--none]"),
     N_("change this node's passphrase (rewraps its data key; --none: an open "
     "node)")},
    {"id", cli_cmd_id, N_("id [--qr] [--qr-file FILE.png|FILE.svg]"),
     N_("print this node's id (--qr: also as a QR code)")},
    {"put", cli_cmd_put,
     N_("put COLLECTION [--id ID] --scope SCOPE FIELD=TEXT FIELD:=JSON "
     "FIELD+=ELEM FIELD-=ELEM ..."),
     N_("create or update a record; prints its id")},
    {"get", cli_cmd_get, N_("get COLLECTION ID"),
     N_("one record (fields, scope, deleted?)")},
    {"list", cli_cmd_list,
     N_("list COLLECTION [--scope PREFIX] [--where FIELD=VALUE ...] [--deleted]"),
     N_("records of a collection")},
    {"delete", cli_cmd_delete, N_("delete COLLECTION ID"),
     N_("mark a record deleted (it can be restored)")},
    {"restore", cli_cmd_restore_any,
     N_("restore COLLECTION ID | restore BACKUP DIR"),
     N_("undo a delete; or bring a backup back as a new node (a first "
        "argument with a '/' or '.' names a backup file)")},
    {"history", cli_cmd_history, N_("history COLLECTION ID"),
     N_("every change to a record: who, when, what")},
    {"status", cli_cmd_status, N_("status [--scope PREFIX]"),
     N_("node, records, feeds, warnings and the state digest")},
    {"network", cli_cmd_network,
     N_("network create NAME | network rotate-key [--grace HOURS]"),
     N_("become the admin of a new network; change its key (a lost laptop)")},
    {"invite", cli_cmd_invite,
     N_("invite --role ROLE --scope PREFIX [--scope PREFIX...] [--expires DAYS] "
        "[--for WHO] [--qr] [--qr-file FILE.png|FILE.svg]"),
     N_("print an invite code (one line; it carries the network key; --qr: "
        "also as a QR code)")},
    {"join", cli_cmd_join, N_("join CODE"), N_("join the network the code is for")},
    {"revoke", cli_cmd_revoke, N_("revoke NODE_ID"),
     N_("admin: shut a node out (a lost laptop)")},
    {"readmit", cli_cmd_readmit, N_("readmit NODE_ID"),
     N_("admin: of two nodes that used one invite, keep this one")},
    {"members", cli_cmd_members, "members",
     N_("the network's members and whether their changes count")},
    {"serve", cli_cmd_serve,
     N_("serve [--listen HOST:PORT] [--peer HOST:PORT ...] [--gossip-ms MS] "
     "[--ui HOST:PORT | --no-ui] [--no-discovery] [--discovery-port PORT]"),
     N_("run the node until SIGINT/SIGTERM: sync with peers, live, and serve "
     "the web app (http://127.0.0.1:7080/)")},
    {"ui", cli_cmd_ui,
     N_("ui [--ui HOST:PORT] [--listen HOST:PORT] [--no-browser] | ui password "
     "[--clear]"),
     N_("open the web app (starting serve in the background if it is not "
     "running); or set (or remove) its password, which lets it answer "
     "beyond this computer")},
    {"sync", cli_cmd_sync,
     N_("sync [HOST:PORT] [--wait-ms MS] [--no-discovery]"),
     N_("sync once with a peer, both ways, then exit; with no address, with "
     "every known peer and those heard on the LAN")},
    {"peers", cli_cmd_peers,
     N_("peers [add HOST:PORT | remove HOST:PORT | discovery [on|off]]"),
     N_("the address book (and how each peer was found); LAN discovery")},
    {"export", cli_cmd_export,
     N_("export FILE [--scope PREFIX] [--for NODE_ID | --since VV_FILE]"),
     N_("write an encrypted bundle for a USB stick")},
    {"import", cli_cmd_import, N_("import FILE"),
     N_("apply a bundle, with the checks of network sync")},
    {"bundle", cli_cmd_bundle, N_("bundle info FILE"),
     N_("what a bundle holds (no key needed)")},
    {"vv", cli_cmd_vv, N_("vv FILE"),
     N_("write this node's version vector (for export --since)")},
    {"load", cli_cmd_load,
     N_("load COLLECTION --scope SCOPE FILE|- [--fast]"),
     N_("bulk import of JSON Lines records: every line or none, resumable")},
    {"changes", cli_cmd_changes, N_("changes [--since DATE] [--scope PREFIX]"),
     N_("what changed since a day (default today), by whom, in which grid")},
    {"inbox", cli_cmd_inbox, N_("inbox [--scope PREFIX]"),
     N_("what a person must decide (conflicts, overdrawn accounts...) and how")},
    {"report", cli_cmd_report,
     N_("report [--scope PREFIX] [--since DATE] [--until DATE] [--year YYYY | "
     "--month YYYY-MM] [--csv FILE | --xlsx FILE]"),
     N_("the figures offices publish, per grid and in total")},
    {"grid", cli_cmd_domain, N_("grid VERB ..."), N_("grids (网格)")},
    {"building", cli_cmd_domain, N_("building VERB ..."), N_("buildings (楼栋)")},
    {"household", cli_cmd_domain, N_("household VERB ..."), N_("households (户)")},
    {"resident", cli_cmd_domain, N_("resident VERB ..."),
     N_("residents: add, edit, find, list")},
    {"appeal", cli_cmd_domain, N_("appeal VERB ..."),
     N_("needs and micro-wishes: open, accept, assign, resolve, close")},
    {"meeting", cli_cmd_domain, N_("meeting VERB ..."),
     N_("deliberation meetings (议事会)")},
    {"task", cli_cmd_domain, N_("task VERB ..."),
     N_("action items claimed by units (co-building list)")},
    {"visit", cli_cmd_domain, N_("visit VERB ..."), N_("door-knocking visits")},
    {"timebank", cli_cmd_domain, N_("timebank VERB ..."),
     N_("volunteer hours: deposit, spend, balance")},
    {"team", cli_cmd_domain, N_("team VERB ..."), N_("volunteer teams")},
    {"unit", cli_cmd_domain, N_("unit VERB ..."), N_("co-building units (共建单位)")},
    {"activity", cli_cmd_domain, N_("activity VERB ..."),
     N_("activities and tallies: lectures, errands (代办), thefts stopped")},
    {"party_report", cli_cmd_domain, N_("party_report VERB ..."),
     N_("in-service party members reporting (在职党员双报到)")},
    /* issue 21: looking after a node (cli/cmd_admin.c) */
    {"backup", cli_cmd_backup, N_("backup FILE"),
     N_("write a consistent, compacted backup, also while serve runs")},
    {"compact", cli_cmd_compact, N_("compact"),
     N_("shrink the store (serve must be stopped)")},
    {"doctor", cli_cmd_doctor, N_("doctor"),
     N_("check the node directory and say what to fix (exit 1 if "
        "anything)")},
    {"demo", cli_cmd_demo,
     N_("demo seed [--seed N] [--root STREET/COMMUNITY] [--until DATE] "
     "[--households N]"),
     N_("write a realistic demo community (a year of records)")},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *f)
{
  fprintf(f,
          _("usage: gridsync [--dir DIR] [--json] COMMAND ...\n"
          "\n"
          "  --dir DIR  node directory; default $GRIDSYNC_DIR, else\n"
          "             $XDG_DATA_HOME/gridsync, else "
          "~/.local/share/gridsync\n"
          "  --json     one JSON document on stdout instead of the human "
          "form\n"
          "  --passphrase-file FILE  the node's passphrase: the first line "
          "of FILE;\n"
          "             else $GRIDSYNC_PASSPHRASE, else asked on the "
          "terminal. Both\n"
          "             put the passphrase where others may read it (a file "
          "0600 of\n"
          "             yours, a process environment): for scripts and "
          "unattended relays\n"
          "  --new-passphrase-file FILE  the new one, for 'passphrase' "
          "(else\n"
          "             $GRIDSYNC_NEW_PASSPHRASE, else asked twice)\n"
          "\ncommands:\n"));
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-9s %s\n", commands[i].name, _(commands[i].summary));
  fprintf(f, _("\n'gridsync help COMMAND' shows a command's arguments.\n"
             "exit status: 0 done, 1 failed, 2 usage error.\n"));
}

static const cli_command *find_command(const char *name)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

int cli_fail(const char *fmt, ...)
{
  va_list ap;
  fputs("gridsync: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, _(fmt), ap);
  va_end(ap);
  fputc('\n', stderr);
  return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fputs("gridsync: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, _(fmt), ap);
  va_end(ap);
  const cli_command *c = cmd ? find_command(cmd) : NULL;
  if (c)
    fprintf(stderr, _("\nusage: gridsync %s\n"), _(c->usage));
  else
    fprintf(stderr, _("\ntry 'gridsync --help'\n"));
  return CLI_USAGE;
}

node *cli_open(cli_ctx *ctx, unsigned flags)
{
  node *n = NULL;
  if (ctx->node)
    return ctx->node;
  gs_err err = node_open(ctx->dir, flags, NULL, &n);
  switch (err) {
  case GS_OK:
    ctx->node = n;
    return n;
  case GS_ENOTINIT:
    cli_fail("no node in %s (create one with 'gridsync init', or choose "
             "another with --dir)",
             ctx->dir);
    break;
  case GS_EPASS:
  case GS_ELOCKED:
    cli_pass_fail(ctx->dir, err);
    break;
  case GS_EKEYMODE:
#ifdef _WIN32 /* no chmod there: the file's ACL (win/gs_win.c) */
    cli_fail(_("%s/identity.key can be read by other users; refusing to use "
               "it (fix with: icacls \"%s/identity.key\" /inheritance:r "
               "/grant:r \"%%USERNAME%%:F\")"),
             ctx->dir, ctx->dir);
    break;
#endif
    cli_fail("%s/identity.key can be read by other users; refusing to use "
             "it (fix with: chmod 600 %s/identity.key)",
             ctx->dir, ctx->dir);
    break;
  default:
    cli_fail("cannot open the node in %s: %s", ctx->dir, gs_i18n_strerror(err));
    break;
  }
  return NULL;
}

int cli_refused(const char *cmd, const node_reason *why)
{
  char opt[CRDT_NAME_MAX + 3];
  size_t i = 0;
  for (; why->field[i] && i < CRDT_NAME_MAX; i++)
    opt[i] = why->field[i] == '_' ? '-' : why->field[i];
  opt[i] = '\0';
  if (why->code == GS_EINVAL)
    return cli_usage(cmd, "%s%s%s", why->text, *opt ? _("; give --") : "",
                     opt);
  return cli_fail("%s: %s%s%s", cmd, why->text, *opt ? _("; give --") : "",
                  opt);
}

int cli_pad(const char *s, int cols)
{
  int bytes = 0, width = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++, bytes++)
    if ((*p & 0xC0) != 0x80)
      width += (*p & 0xF0) == 0xE0 ? 2 : 1;
  return cols + bytes - width;
}

bool cli_chinese(void)
{
  /* TRANSLATORS: the language code of this catalogue (zh_CN) */
  return strncmp(_("en"), "zh", 2) == 0;
}

const char *cli_value_label(const char *coll, const char *field,
                            const char *value)
{
  return cli_chinese() ? node_schema_label(coll, field, value) : value;
}

int cli_json_out(json_t *doc)
{
  if (!doc)
    return cli_fail("out of memory");
  int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
  json_decref(doc);
  if (rc != 0 || fputc('\n', stdout) == EOF)
    return cli_fail("cannot write output: %s", strerror(errno));
  return CLI_OK;
}

int cli_opt(const cli_ctx *ctx, int *i, const char *name, const char **val)
{
  const char *a = ctx->argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= ctx->argc) {
    cli_usage(ctx->argv[0], "%s needs a value", name);
    return -1;
  }
  *val = ctx->argv[++*i];
  return 1;
}

/* The default node directory of the contract. */
static const char *default_dir(char *buf, size_t cap)
{
  const char *d = getenv("GRIDSYNC_DIR");
  if (d && *d)
    return d;
#ifdef _WIN32 /* %APPDATA%\gridsync (win/gs_win.c) */
  return gs_win_default_dir(buf, cap) ? buf : NULL;
#endif
  d = getenv("XDG_DATA_HOME");
  if (d && *d) {
    if ((size_t)snprintf(buf, cap, "%s/gridsync", d) >= cap)
      return NULL;
    return buf;
  }
  d = getenv("HOME");
  if (!d || !*d)
    return NULL;
  if ((size_t)snprintf(buf, cap, "%s/.local/share/gridsync", d) >= cap)
    return NULL;
  return buf;
}

/* Where the catalogues are (issue 18): $GRIDSYNC_LOCALEDIR when set (the
 * meson test environment sets it); the build tree's po/ when this binary
 * is the build tree's; else the installed share/locale. */
static const char *locale_dir(char *buf, size_t cap)
{
  const char *d = getenv("GRIDSYNC_LOCALEDIR");
  if (d && *d)
    return d;
#if defined(GS_BUILD_EXE) && !defined(_WIN32) /* no /proc there */
  ssize_t len = readlink("/proc/self/exe", buf, cap - 1);
  if (len > 0 && (size_t)len < cap - 1) {
    buf[len] = '\0';
    if (strcmp(buf, GS_BUILD_EXE) == 0)
      return GS_BUILD_LOCALEDIR;
  }
#endif
  (void)buf, (void)cap;
  return GS_LOCALEDIR;
}

int main(int argc, char **argv)
{
  static char dirbuf[4096];
  const char *dir = NULL;
  bool json = false, help = false, dashdash = false;
  const char *pass_file = NULL, *new_pass_file = NULL;
#ifdef _WIN32 /* UTF-8 arguments and console (catalogues: gs_i18n_init) */
  if (!(argv = gs_win_utf8_args(&argc)))
    return cli_fail(_("The command line cannot be read."));
#endif
  char **args = calloc((size_t)argc + 1, sizeof *args);
  char **args_alloc = args;
  int nargs = 0;
  char locbuf[PATH_MAX];

  gs_i18n_init(locale_dir(locbuf, sizeof locbuf));
  if (!args)
    return cli_fail("out of memory");
  /* Pull the global options out of argv, wherever they are. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (dashdash) {
      args[nargs++] = argv[i];
    } else if (strcmp(a, "--") == 0) {
      dashdash = true;
      args[nargs++] = argv[i];
    } else if (strcmp(a, "--json") == 0) {
      json = true;
    } else if (strcmp(a, "--dir") == 0) {
      if (i + 1 >= argc) {
        free(args);
        return cli_usage(NULL, "--dir needs a directory");
      }
      dir = argv[++i];
    } else if (strncmp(a, "--dir=", 6) == 0) {
      dir = a + 6;
    } else if (strcmp(a, "--passphrase-file") == 0 ||
               strcmp(a, "--new-passphrase-file") == 0) {
      if (i + 1 >= argc) {
        free(args);
        return cli_usage(NULL, "%s needs a file", a);
      }
      if (a[2] == 'n')
        new_pass_file = argv[++i];
      else
        pass_file = argv[++i];
    } else if ((strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
      help = true;
    } else if (strcmp(a, "--version") == 0 && nargs == 0) {
      free(args);
      printf("gridsync %s\n", GS_VERSION);
      return CLI_OK;
    } else {
      args[nargs++] = argv[i];
    }
  }

  int rc;
  if (nargs == 0) {
    print_help(help ? stdout : stderr);
    rc = help ? CLI_OK : CLI_USAGE;
    goto out;
  }
  if (strcmp(args[0], "help") == 0) {
    if (nargs < 2) {
      print_help(stdout);
      rc = CLI_OK;
      goto out;
    }
    args++, nargs--;
    help = true;
  }
  const cli_command *cmd = find_command(args[0]);
  if (!cmd) {
    rc = cli_usage(NULL, "unknown command '%s'", args[0]);
    goto out;
  }
  if (help && cmd->run == cli_cmd_domain) {
    char *hargv[] = {args[0], "help", NULL};
    cli_ctx hctx = {.dir = "", .json = json, .argc = 2, .argv = hargv};
    rc = cli_cmd_domain(&hctx);
    goto out;
  }
  if (help) {
    printf(_("usage: gridsync %s\n  %s\n"), _(cmd->usage), _(cmd->summary));
    rc = CLI_OK;
    goto out;
  }
  if (dir && !*dir) {
    rc = cli_usage(NULL, "--dir is empty");
    goto out;
  }
  if (!dir && !(dir = default_dir(dirbuf, sizeof dirbuf))) {
    rc = cli_usage(NULL, "no node directory: give --dir DIR or set "
                         "GRIDSYNC_DIR (HOME is not set)");
    goto out;
  }
  cli_pass_setup(pass_file, new_pass_file);
  cli_ctx ctx = {.dir = dir, .json = json, .argc = nargs, .argv = args};
  rc = cmd->run(&ctx);
  node_close(ctx.node);
  if (fflush(stdout) != 0 && rc == CLI_OK)
    rc = cli_fail("cannot write output: %s", strerror(errno));
out:
  free(args_alloc);
  return rc;
}
