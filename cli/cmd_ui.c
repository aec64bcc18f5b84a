/*
 * gridsync ui: the web app's password (ui password [--clear]).
 *
 * The password is read twice from the terminal (echo off), or from
 * GRIDSYNC_UI_PASSWORD for scripts; its Argon2id hash (net/box.h) is
 * written to DIR/ui.password, mode 0600, by a rename so that a serve
 * starting meanwhile reads the old file or the new one, never half.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/box.h"
#include "web/web.h"

#define UI_PASSWORD_MIN 8
#define UI_PASSWORD_MAX 1024 /* as a login may send (web/server.c) */

/* One line from the terminal with echo off into buf; false at EOF or
 * when there is no terminal. */
static bool read_hidden(FILE *tty, const char *prompt, char *buf, size_t len)
{
  struct termios old, quiet;
  int fd = fileno(tty);
  bool echo_off = tcgetattr(fd, &old) == 0;
  fputs(prompt, stderr);
  fflush(stderr);
  if (echo_off) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  bool ok = fgets(buf, (int)len, tty) != NULL;
  if (echo_off) {
    tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (ok)
    buf[strcspn(buf, "\r\n")] = 0;
  return ok;
}

static int write_hash(const char *dir, const char *hash)
{
  char path[4200], tmp[4210];
  snprintf(path, sizeof path, "%s/%s", dir, WEB_PASSWORD_FILE);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return cli_fail("ui password: cannot write %s: %s", tmp,
                    strerror(errno));
  size_t n = strlen(hash);
  bool ok = write(fd, hash, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
            fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return cli_fail("ui password: cannot write %s: %s", path, strerror(e));
  }
  return CLI_OK;
}

static int ui_password(cli_ctx *ctx)
{
  bool clear = false;
  for (int i = 2; i < ctx->argc; i++) {
    if (strcmp(ctx->argv[i], "--clear") == 0) {
      clear = true;
      continue;
    }
    return cli_usage("ui", "unexpected argument '%s'", ctx->argv[i]);
  }
  struct stat sb;
  char key[4200];
  snprintf(key, sizeof key, "%s/identity.key", ctx->dir);
  if (stat(key, &sb) != 0)
    return cli_fail("no node in %s (create one with 'gridsync init', or "
                    "choose another with --dir)", ctx->dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", ctx->dir, WEB_PASSWORD_FILE);
  if (clear) {
    if (unlink(path) != 0 && errno != ENOENT)
      return cli_fail("ui password: cannot remove %s: %s", path,
                      strerror(errno));
    fprintf(stderr, "the app's password is removed: it answers only on "
                    "this computer once serve starts again\n");
    return CLI_OK;
  }
  char pw[UI_PASSWORD_MAX + 2], again[UI_PASSWORD_MAX + 2];
  const char *env = getenv("GRIDSYNC_UI_PASSWORD");
  int rc = CLI_FAIL;
  if (env) {
    snprintf(pw, sizeof pw, "%s", env);
  } else {
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
      return cli_fail("ui password: there is no terminal to type it in; "
                      "give it in GRIDSYNC_UI_PASSWORD instead");
    bool ok = read_hidden(tty, "the app's new password: ", pw, sizeof pw) &&
              read_hidden(tty, "the same password again: ", again,
                          sizeof again);
    fclose(tty);
    if (!ok) {
      rc = cli_fail("ui password: no password was typed");
      goto out;
    }
    if (strcmp(pw, again) != 0) {
      rc = cli_fail("ui password: the two passwords differ; nothing was "
                    "changed");
      goto out;
    }
  }
  if (strlen(pw) < UI_PASSWORD_MIN) {
    rc = cli_fail("ui password: the password is too short: give at least "
                  "%d characters", UI_PASSWORD_MIN);
    goto out;
  }
  if (strlen(pw) > UI_PASSWORD_MAX) {
    rc = cli_fail("ui password: the password is too long: give at most "
                  "%d characters", UI_PASSWORD_MAX);
    goto out;
  }
  char hash[NET_PWHASH_MAX];
  if (net_pwhash(pw, hash) != GS_OK) {
    rc = cli_fail("ui password: out of memory while hashing it");
    goto out;
  }
  rc = write_hash(ctx->dir, hash);
  if (rc == CLI_OK)
    fprintf(stderr, "the app's password is set: restart serve for it to "
                    "take effect\n");
out:
  explicit_bzero(pw, sizeof pw);
  explicit_bzero(again, sizeof again);
  return rc;
}

int cli_cmd_ui(cli_ctx *ctx)
{
  if (ctx->argc >= 2 && strcmp(ctx->argv[1], "password") == 0)
    return ui_password(ctx);
  return cli_usage("ui", "give 'password' (ui password [--clear])");
}
