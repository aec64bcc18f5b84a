/* The passphrase of a sealed node (issue 19): where the CLI gets it
 * (--passphrase-file, GRIDSYNC_PASSPHRASE, a prompt on the terminal),
 * the progress of an in-place sealing, and `gridsync passphrase`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <termios.h>
#endif
#include <unistd.h>

#include "cli/cli.h"
#include "crdt/gs_i18n.h"
#include "node/node.h"

/* The process's sources (set once by main before any node is opened). */
typedef struct pass_src {
  const char *file;     /* --passphrase-file */
  const char *new_file; /* --new-passphrase-file (gridsync passphrase) */
  bool changing;        /* NODE_PASS_NEW means the new one of a change */
} pass_src;
static pass_src src;

/* The first line of path, without its line end. */
static gs_err read_first_line(const char *path, char *buf, size_t cap,
                              size_t *len)
{
  FILE *f = fopen(path, "r");
  if (!f) {
    cli_fail(_("cannot read the passphrase file %s: %s"), path,
             strerror(errno));
    return GS_ELOCKED;
  }
  gs_err err = GS_OK;
  if (!fgets(buf, (int)cap, f)) {
    buf[0] = '\0';
  } else if (!strchr(buf, '\n') && !feof(f)) {
    cli_fail(_("the passphrase in %s is longer than %d bytes"), path,
             NODE_PASS_MAX);
    err = GS_ETOOBIG;
  }
  fclose(f);
  buf[strcspn(buf, "\r\n")] = '\0';
  *len = strlen(buf);
  return err;
}

/* Ask on the terminal, without echo. */
static gs_err ask_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
#ifdef _WIN32 /* the console (CONIN$) with echo off: win/gs_win.c */
  if (!gs_win_read_hidden(prompt, buf, cap))
    return GS_ELOCKED;
  *len = strlen(buf);
  return GS_OK;
#else
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return GS_ELOCKED;
  struct termios old, quiet;
  bool echo_off = tcgetattr(fd, &old) == 0;
  if (echo_off) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  if (write(fd, prompt, strlen(prompt)) < 0) {
    /* nothing to do: the read below still works */
  }
  size_t n = 0;
  char c;
  while (n + 1 < cap && read(fd, &c, 1) == 1 && c != '\n')
    if (c != '\r')
      buf[n++] = c;
  buf[n] = '\0';
  if (echo_off)
    tcsetattr(fd, TCSAFLUSH, &old);
  if (write(fd, "\n", 1) < 0) {
    /* as above */
  }
  close(fd);
  *len = n;
  return GS_OK;
#endif
}

static gs_err cli_pass(void *ctx, node_pass_kind kind, char *buf, size_t cap,
                       size_t *len)
{
  const pass_src *p = ctx;
  bool new_of_change = kind == NODE_PASS_NEW && p->changing;
  const char *file = new_of_change ? p->new_file : p->file;
  const char *env = getenv(new_of_change ? "GRIDSYNC_NEW_PASSPHRASE"
                                         : "GRIDSYNC_PASSPHRASE");
  if (file)
    return read_first_line(file, buf, cap, len);
  if (env && *env) {
    if (strlen(env) >= cap)
      return GS_ETOOBIG;
    strcpy(buf, env);
    *len = strlen(env);
    return GS_OK;
  }
  if (!isatty(STDIN_FILENO))
    return GS_ELOCKED;
  if (kind == NODE_PASS_UNLOCK)
    return ask_tty(_("Passphrase of this node: "), buf, cap, len);
  char *again = malloc(cap);
  if (!again)
    return GS_ENOMEM;
  size_t alen = 0;
  gs_err err = ask_tty(_("New passphrase (at least 8 characters): "), buf,
                       cap, len);
  if (!err)
    err = ask_tty(_("The same passphrase again: "), again, cap, &alen);
  if (!err && (alen != *len || memcmp(again, buf, alen) != 0)) {
    cli_fail(_("the two passphrases differ; nothing was changed"));
    err = GS_EPASS;
  }
  memset(again, 0, cap);
  free(again);
  return err;
}

static void on_seal_progress(void *ctx, int what, uint64_t done,
                             uint64_t total)
{
  (void)ctx;
  if (what == NODE_PROGRESS_COMPACT)
    fprintf(stderr, _("compacting the store so that no old or plain copy "
                      "of a value remains in it\n"));
  else if (what == NODE_PROGRESS_FORMAT)
    fprintf(stderr, _("upgrading the store to this version's format: "
                      "%llu of about %llu entries\n"),
            (unsigned long long)done, (unsigned long long)total);
  else
    fprintf(stderr, _("sealing the store: %llu of about %llu values\n"),
            (unsigned long long)done, (unsigned long long)total);
}

void cli_pass_setup(const char *file, const char *new_file)
{
  src.file = file;
  src.new_file = new_file;
  node_set_pass_source(cli_pass, &src);
  node_set_seal_progress(on_seal_progress, NULL);
}

int cli_pass_fail(const char *dir, gs_err err)
{
  switch (err) {
  case GS_EPASS:
    return cli_fail(_("wrong passphrase for the node in %s (nothing was "
                      "changed)"),
                    dir);
  case GS_ELOCKED:
    return cli_fail(_("the node in %s is locked: give its passphrase with "
                      "--passphrase-file FILE or GRIDSYNC_PASSPHRASE, or run "
                      "this on a terminal"),
                    dir);
  case GS_EPASSSHORT:
    return cli_fail(_("the passphrase is too short: at least %d characters "
                      "(nothing was written)"),
                    NODE_PASS_MIN);
  default:
    return 0;
  }
}

int cli_pass_pipe(const char *dir)
{
  char hp[4200];
  uint8_t h[9];
  snprintf(hp, sizeof hp, "%s/%s", dir, NODE_SEAL_FILE);
  FILE *f = fopen(hp, "rb");
  if (f) {
    bool open_node = fread(h, 1, sizeof h, f) == sizeof h && h[8] == 0;
    fclose(f);
    if (open_node)
      return -1;
  }
  char *buf = malloc(NODE_PASS_MAX + 2);
  size_t len = 0;
  int fds[2] = {-1, -1};
  if (!buf)
    return -1;
  if (cli_pass(&src, NODE_PASS_UNLOCK, buf, NODE_PASS_MAX + 1, &len) ==
          GS_OK &&
      pipe(fds) == 0) {
    buf[len] = '\n'; /* at most 1 KiB: it fits the pipe's buffer */
    if (write(fds[1], buf, len + 1) != (ssize_t)(len + 1)) {
      close(fds[0]);
      fds[0] = -1;
    }
    close(fds[1]);
  }
  memset(buf, 0, NODE_PASS_MAX + 2);
  free(buf);
  return fds[0];
}

int cli_cmd_passphrase(cli_ctx *ctx)
{
  bool none = false;
  for (int i = 1; i < ctx->argc; i++) {
    if (strcmp(ctx->argv[i], "--none") == 0) {
      none = true;
      continue;
    }
    return cli_usage("passphrase", _("unexpected argument '%s'"),
                     ctx->argv[i]);
  }
  src.changing = true;
  gs_err err = node_passphrase_change(ctx->dir, none);
  src.changing = false;
  if (err == GS_ENOTINIT)
    return cli_fail(_("no sealed node in %s"), ctx->dir);
  if (err)
    return cli_pass_fail(ctx->dir, err)
               ? CLI_FAIL
               : cli_fail(_("passphrase: %s"), gs_strerror(err));
  if (ctx->json)
    return cli_json_out(json_pack("{s:b}", "open", none));
  fputs(none ? _("the node has no passphrase now: anyone who copies its "
                 "directory can read its data\n")
             : _("passphrase changed (the data key is wrapped again; no "
                 "data was rewritten)\n"),
        stdout);
  return CLI_OK;
}
