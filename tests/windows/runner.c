/*
 * The Windows unit runner (tests/windows/criterion/criterion.h): runs the
 * registered tests in suite/name order, one after another in this process.
 *   gridsync-unit-win [--filter GLOB]... [--list]
 * GLOB matches "suite/name" ('*' any run of characters). Ends on the line
 * "windows: N passed, N failed, 0 skipped"; exit status 1 on a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "criterion/criterion.h"

/* The runner's state; a test and its assertions run on one thread. */
static gs_crit_test *tests;
static gs_crit_suite *suites;
static jmp_buf on_fail;
static bool failed, in_test;

void gs_crit_register(gs_crit_test *t)
{
  t->next = tests;
  tests = t;
}

void gs_crit_register_suite(gs_crit_suite *s)
{
  s->next = suites;
  suites = s;
}

void gs_crit_fail(bool fatal, const char *file, int line, const char *what,
                  const char *fmt, ...)
{
  fprintf(stderr, "  %s:%d: failed: %s", file, line, what);
  if (fmt && *fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
  failed = true;
  if (fatal && in_test)
    longjmp(on_fail, 1);
}

static bool glob(const char *p, const char *s)
{
  if (*p == '\0')
    return *s == '\0';
  if (*p == '*')
    return glob(p + 1, s) || (*s && glob(p, s + 1));
  return *s == *p && glob(p + 1, s + 1);
}

static int by_name(const void *a, const void *b)
{
  const gs_crit_test *x = *(gs_crit_test *const *)a;
  const gs_crit_test *y = *(gs_crit_test *const *)b;
  /* win_i18n first: it binds the catalogue and sets LANG before any
   * lookup, as the program does at its start (libintl keeps what a
   * process's first lookups found) */
  bool xi = strcmp(x->suite, "win_i18n") == 0;
  bool yi = strcmp(y->suite, "win_i18n") == 0;
  if (xi != yi)
    return xi ? -1 : 1;
  int c = strcmp(x->suite, y->suite);
  return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
  const char *filters[64];
  int nf = 0;
  volatile bool list = false;
  mkdir("/tmp", 0700); /* C:\tmp, where the tests' mkdtemp names go */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc && nf < 64)
      filters[nf++] = argv[++i];
    else if (strncmp(argv[i], "--filter=", 9) == 0 && nf < 64)
      filters[nf++] = argv[i] + 9;
    else if (strcmp(argv[i], "--list") == 0)
      list = true;
    else if (strncmp(argv[i], "--jobs", 6) != 0) {
      fprintf(stderr, "usage: %s [--filter GLOB]... [--list]\n", argv[0]);
      return 2;
    }
  }
  size_t n = 0;
  for (gs_crit_test *t = tests; t; t = t->next)
    n++;
  gs_crit_test **all = calloc(n ? n : 1, sizeof *all);
  if (!all)
    return 1;
  n = 0;
  for (gs_crit_test *t = tests; t; t = t->next)
    all[n++] = t;
  qsort(all, n, sizeof *all, by_name);
  int passed = 0, nfailed = 0, skipped = 0;
  for (size_t i = 0; i < n; i++) {
    gs_crit_test *t = all[i];
    char full[256];
    snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
    bool match = nf == 0;
    for (int f = 0; f < nf && !match; f++)
      match = glob(filters[f], full);
    if (!match)
      continue;
    if (list) {
      puts(full);
      continue;
    }
    gs_crit_suite *s = suites;
    while (s && strcmp(s->name, t->suite) != 0)
      s = s->next;
    void (*volatile init)(void) = t->init ? t->init : s ? s->init : NULL;
    void (*volatile fini)(void) = t->fini ? t->fini : s ? s->fini : NULL;
    if (t->disabled || (s && s->disabled)) {
      skipped++;
      continue;
    }
    failed = false;
    in_test = true;
    fprintf(stderr, "[RUN ] %s\n", full);
    if (setjmp(on_fail) == 0) {
      if (init)
        init();
      t->fn();
    }
    in_test = false;
    if (fini)
      fini();
    fprintf(stderr, "[%s] %s\n", failed ? "FAIL" : "PASS", full);
    if (failed)
      nfailed++;
    else
      passed++;
  }
  free(all);
  if (!list)
    printf("windows: %d passed, %d failed, %d skipped\n", passed, nfailed,
           skipped);
  return nfailed ? 1 : 0;
}
