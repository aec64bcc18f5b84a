/*
 * Windows' versions of cmd_ui.c's platform parts (included by cmd_ui.c in
 * a Windows build only; win/gs_win.h has the calls): the hidden password
 * is read from the console (CONIN$, echo off), serve is started detached
 * from the console with CreateProcessW (Windows has no fork), the browser
 * is opened with ShellExecuteW, and a pid is alive while OpenProcess finds
 * it running.
 */
#ifndef CLI_CMD_UI_WIN_H
#define CLI_CMD_UI_WIN_H
#ifdef _WIN32

#include <stdbool.h>
#include <stdio.h>

#include "crdt/gs_i18n.h"
#include "win/gs_win.h"

#define CLI_TTY "CONIN$"
#define WNOHANG 1
/* kill(pid, 0): is it alive; waitpid(pid, .., WNOHANG): pid once it ended */
#define kill(pid, sig) (gs_win_pid_alive((long)(pid)) ? 0 : (errno = ESRCH, -1))
#define waitpid(pid, st, flags) \
  ((void)(st), gs_win_pid_alive((long)(pid)) ? 0 : (pid))

/* One line from the console with echo off; tty only says there is one. */
static bool read_hidden(FILE *tty, const char *prompt, char *buf, size_t len)
{
  (void)tty;
  return gs_win_read_hidden(prompt, buf, len);
}

/* Start `gridsync serve` for dir detached from this console, its output
 * appended to DIR/serve.log. The child's pid, or -1. */
static pid_t start_serve(const char *dir, const char *listen, const char *ui)
{
  char self[4096], log[4200];
  if (!gs_win_self(self, sizeof self))
    return -1;
  snprintf(log, sizeof log, "%s/serve.log", dir);
  const char *argv[] = {self, "--dir", dir, "serve", "--listen", listen,
                        ui ? "--ui" : NULL, ui, NULL};
  return (pid_t)gs_win_spawn_detached(argv, log);
}

static void open_browser(const char *url, bool no_browser)
{
  if (no_browser)
    return;
  if (!gs_win_open_url(url))
    fprintf(stderr, _("No browser could be opened: open %s in one "
                      "yourself.\n"), url);
}

#endif
#endif
