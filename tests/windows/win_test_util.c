/* Windows unit runner: nftw (include/ftw.h) on UTF-8 paths, setenv, memmem. */
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "win_test.h"

/* UTF-8 to UTF-16 into w (cap units); false if it does not fit. */
static bool to_wide(const char *s, wchar_t *w, int cap)
{
  return MultiByteToWideChar(CP_UTF8, 0, s, -1, w, cap) > 0;
}

/* The C runtime's wide environment, which gs_win_getenv reads. */
int setenv(const char *name, const char *value, int overwrite)
{
  wchar_t wn[256], wv[4096];
  if (!overwrite && getenv(name))
    return 0;
  /* the C runtime reads TZ in its own form (no zone names): the zones the
   * tests use, in it; a Windows computer's zone is its own setting */
  if (strcmp(name, "TZ") == 0 && strcmp(value, "Asia/Shanghai") == 0)
    value = "CST-8";
  else if (strcmp(name, "TZ") == 0 && strcmp(value, "UTC") == 0)
    value = "UTC0";
  if (!to_wide(name, wn, 256) || !to_wide(value, wv, 4096) || !*wv)
    return -1; /* an empty value would remove it on Windows */
  /* both of the C runtime's copies: libintl reads the narrow one */
  return _wputenv_s(wn, wv) == 0 && _putenv_s(name, value) == 0 ? 0 : -1;
}

int unsetenv(const char *name)
{
  wchar_t wn[256];
  if (!to_wide(name, wn, 256))
    return -1;
  return _wputenv_s(wn, L"") == 0 && _putenv_s(name, "") == 0 ? 0 : -1;
}

/* depth first: the children, then the directory itself (FTW_DP) */
int nftw(const char *path,
         int (*fn)(const char *, const struct stat *, int, struct FTW *),
         int fds, int flags)
{
  (void)fds;
  (void)flags;
  struct stat sb;
  struct FTW f = {0, 0};
  if (stat(path, &sb) != 0)
    return -1;
  if (!(sb.st_mode & _S_IFDIR))
    return fn(path, &sb, FTW_F, &f);
  char pat[4200];
  snprintf(pat, sizeof pat, "%s/*", path);
  WIN32_FIND_DATAA d;
  HANDLE h = FindFirstFileA(pat, &d);
  if (h != INVALID_HANDLE_VALUE) {
    do {
      if (strcmp(d.cFileName, ".") == 0 || strcmp(d.cFileName, "..") == 0)
        continue;
      char child[4200];
      snprintf(child, sizeof child, "%s/%s", path, d.cFileName);
      int rc = nftw(child, fn, fds, flags);
      if (rc != 0) {
        FindClose(h);
        return rc;
      }
    } while (FindNextFileA(h, &d));
    FindClose(h);
  }
  fn(path, &sb, FTW_DP, &f);
  RemoveDirectoryA(path); /* remove() does not remove directories here */
  return 0;
}

void *memmem(const void *hay, size_t n, const void *needle, size_t m)
{
  const char *h = hay;
  if (m == 0)
    return (void *)h;
  for (size_t i = 0; m <= n && i <= n - m; i++)
    if (memcmp(h + i, needle, m) == 0)
      return (void *)(h + i);
  return NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *f)
{
  (void)sb, (void)flag, (void)f;
  return remove(path);
}

#undef system
int gs_wt_system(const char *cmd)
{
  char path[4200];
  size_t n = strlen(cmd);
  if (strncmp(cmd, "rm -rf '", 8) == 0 && n > 9 && cmd[n - 1] == '\'' &&
      n - 9 < sizeof path) {
    memcpy(path, cmd + 8, n - 9);
    path[n - 9] = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
      return 0;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return stat(path, &sb) == 0 ? 1 : 0;
  }
  return system(cmd);
}
