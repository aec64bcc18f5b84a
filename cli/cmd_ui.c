/*
 * gridsync ui: open the web app (ui [--ui HOST:PORT] [--listen HOST:PORT]
 * [--no-browser]), and its password (ui password [--clear]).
 *
 * Opening: when this node's serve runs with its app, it has written
 * DIR/ui.addr ("URL PID"); its address is printed and opened with
 * xdg-open. Otherwise a serve is started in the background (its own
 * session, output appended to DIR/serve.log) and ui.addr awaited for at
 * most UI_WAIT_MS.
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
#include <time.h>
#ifdef _WIN32 /* no terminal device, fork or xdg-open: cli/cmd_ui_win.h */
#include "cli/cmd_ui_win.h"
#else
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#define CLI_TTY "/dev/tty"
#endif
#include <unistd.h>
#include <jansson.h>

#include "cli/cli.h"
#include "net/box.h"
#include "node/netnode.h"
#include "web/web.h"

#define UI_PASSWORD_MIN 8
#define UI_PASSWORD_MAX 1024 /* as a login may send (web/server.c) */
#define UI_WAIT_MS 10000     /* for a started serve's app */
#define UI_LISTEN_DEFAULT "0.0.0.0:7070"

#ifndef _WIN32 /* cli/cmd_ui_win.h has Windows' read_hidden */
extern char **environ;

/* One line from the terminal with echo off into buf; false at EOF or
 * when there is no terminal. */
static bool read_hidden(FILE *tty, const char *prompt, char *buf, size_t len)
{
  struct termios old, quiet;
  int fd = fileno(tty);
  bool echo_off = tcgetattr(fd, &old) == 0;
  if (echo_off) { /* before the prompt: nothing typed after it echoes */
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  fputs(prompt, stderr);
  fflush(stderr);
  bool ok = fgets(buf, (int)len, tty) != NULL;
  if (echo_off) {
    tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (ok)
    buf[strcspn(buf, "\r\n")] = 0;
  return ok;
}
#endif

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
    fprintf(stderr, _("the app's password is removed: it answers only on "
                    "this computer once serve starts again\n"));
    return CLI_OK;
  }
  char pw[UI_PASSWORD_MAX + 2], again[UI_PASSWORD_MAX + 2];
  const char *env = getenv("GRIDSYNC_UI_PASSWORD");
  int rc = CLI_FAIL;
  if (env) {
    snprintf(pw, sizeof pw, "%s", env);
  } else {
    FILE *tty = fopen(CLI_TTY, "r+");
    if (!tty)
      return cli_fail("ui password: there is no terminal to type it in; "
                      "give it in GRIDSYNC_UI_PASSWORD instead");
    bool ok = read_hidden(tty, _("the app's new password: "), pw, sizeof pw) &&
              read_hidden(tty, _("the same password again: "), again,
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
    fprintf(stderr, _("the app's password is set: restart serve for it to "
                    "take effect\n"));
out:
  explicit_bzero(pw, sizeof pw);
  explicit_bzero(again, sizeof again);
  return rc;
}

/* The app of a running serve from DIR/ui.addr: true with url and pid
 * when the file is well formed and its process is alive. */
static bool running_app(const char *dir, char *url, size_t urllen,
                        long *pid)
{
  char path[4200], line[256];
  snprintf(path, sizeof path, "%s/%s", dir, CLI_UI_ADDR_FILE);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  bool ok = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!ok)
    return false;
  char *sp = strchr(line, ' ');
  if (!sp || strncmp(line, "http://", 7) != 0 ||
      (size_t)(sp - line) >= urllen)
    return false;
  char *end;
  long p = strtol(sp + 1, &end, 10);
  if (p <= 1 || (*end && *end != '\n'))
    return false;
  if (kill((pid_t)p, 0) != 0 && errno != EPERM)
    return false; /* a serve that died without removing it */
  memcpy(url, line, (size_t)(sp - line));
  url[sp - line] = 0;
  *pid = p;
  return true;
}

#ifndef _WIN32 /* cli/cmd_ui_win.h has Windows' start_serve, open_browser */
/* Start `gridsync serve` for dir in its own session, detached, its
 * output appended to DIR/serve.log. The child's pid, or -1. */
static pid_t start_serve(const char *dir, const char *listen,
                         const char *ui)
{
  char self[4096], log[4200];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k <= 0)
    return -1;
  self[k] = 0;
  snprintf(log, sizeof log, "%s/serve.log", dir);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  /* the detached serve has no terminal: it gets the passphrase in a pipe
   * (issue 19) */
  int pfd = cli_pass_pipe(dir);
  char pfile[32];
  snprintf(pfile, sizeof pfile, "/dev/fd/%d", pfd);
  pid_t pid = fork();
  if (pid == 0) {
    int in = open("/dev/null", O_RDONLY);
    if (setsid() < 0 || in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 ||
        dup2(fd, 2) < 0)
      _exit(127);
    char *argv[12] = {self, "--dir", (char *)dir};
    int ac = 3;
    if (pfd >= 0) {
      argv[ac++] = "--passphrase-file";
      argv[ac++] = pfile;
    }
    argv[ac++] = "serve";
    argv[ac++] = "--listen";
    argv[ac++] = (char *)listen;
    if (ui) {
      argv[ac++] = "--ui";
      argv[ac++] = (char *)ui;
    }
    argv[ac] = NULL;
    execv(self, argv);
    _exit(127);
  }
  if (pfd >= 0)
    close(pfd);
  close(fd);
  return pid;
}

static void open_browser(const char *url, bool no_browser)
{
  const char *d = getenv("DISPLAY"), *wd = getenv("WAYLAND_DISPLAY");
  if (no_browser)
    return;
  if ((!d || !*d) && (!wd || !*wd)) {
    fprintf(stderr, _("no graphical display here (neither DISPLAY nor "
                    "WAYLAND_DISPLAY is set): open the address in a "
                    "browser yourself\n"));
    return;
  }
  pid_t pid;
  char *argv[] = {"xdg-open", (char *)url, NULL};
  if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) != 0) {
    fprintf(stderr, _("cannot run xdg-open: open the address in a browser "
                    "yourself\n"));
    return;
  }
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fprintf(stderr, _("xdg-open could not open a browser: open the address "
                    "in one yourself\n"));
}
#endif

static int ui_open(cli_ctx *ctx)
{
  const char *ui = NULL, *listen = UI_LISTEN_DEFAULT;
  bool no_browser = false;
  for (int i = 1; i < ctx->argc; i++) {
    int m;
    if ((m = cli_opt(ctx, &i, "--ui", &ui)) != 0 ||
        (m = cli_opt(ctx, &i, "--listen", &listen)) != 0) {
      if (m < 0)
        return CLI_USAGE;
      continue;
    }
    if (strcmp(ctx->argv[i], "--no-browser") == 0) {
      no_browser = true;
      continue;
    }
    return cli_usage("ui", "unexpected argument '%s'", ctx->argv[i]);
  }
  if (ui && !node_addr_valid(ui))
    return cli_usage("ui", "--ui '%s' is not HOST:PORT", ui);
  if (!node_addr_valid(listen))
    return cli_usage("ui", "--listen '%s' is not HOST:PORT", listen);
  char key[4200];
  struct stat sb;
  snprintf(key, sizeof key, "%s/identity.key", ctx->dir);
  if (stat(key, &sb) != 0)
    return cli_fail("no node in %s (create one with 'gridsync init', or "
                    "choose another with --dir)", ctx->dir);
  char url[200];
  long pid = 0;
  bool started = false;
  if (!running_app(ctx->dir, url, sizeof url, &pid)) {
    pid_t child = start_serve(ctx->dir, listen, ui);
    if (child < 0)
      return cli_fail("ui: cannot start serve: %s", strerror(errno));
    started = true;
    struct timespec nap = {0, 50 * 1000 * 1000};
    bool up = false;
    for (int waited = 0; waited < UI_WAIT_MS && !up; waited += 50) {
      int st;
      if (waitpid(child, &st, WNOHANG) == child)
        return cli_fail("ui: serve stopped at once; see why in "
                        "%s/serve.log", ctx->dir);
      nanosleep(&nap, NULL);
      up = running_app(ctx->dir, url, sizeof url, &pid) && pid == child;
    }
    if (!up)
      return cli_fail("ui: serve started (pid %ld) but its app did not "
                      "answer within %d s; see %s/serve.log",
                      (long)child, UI_WAIT_MS / 1000, ctx->dir);
  }
  if (ctx->json)
    cli_json_out(json_pack("{s:s, s:I, s:b}", "app", url, "pid",
                           (json_int_t)pid, "started", started));
  else
    printf(_("the app is at %s (%s, pid %ld)\n"), url,
           started ? _("serve started in the background") : _("serve was running"),
           pid);
  fflush(stdout);
  open_browser(url, no_browser);
  return CLI_OK;
}

int cli_cmd_ui(cli_ctx *ctx)
{
  if (ctx->argc >= 2 && strcmp(ctx->argv[1], "password") == 0)
    return ui_password(ctx);
  return ui_open(ctx);
}
