/* gs_win: the POSIX calls gridsync uses, done for Windows (win/gs_win.h). */
#ifdef _WIN32
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <shellapi.h>
#include <stdarg.h>
#ifdef GS_HAVE_LIBINTL
#include <libintl.h>
#include <locale.h>
#endif

#include "win/gs_win.h"

/* The macros of gs_win.h would turn the calls below into themselves. */
#undef open
#undef fopen
#undef mkdir
#undef _stat64
#undef _fstat64
#undef unlink
#undef rename
#undef access
#undef fsync
#undef chmod
#undef mkstemp
#undef getenv
#undef getline
#undef explicit_bzero
#undef strerrorname_np
#undef signal

#define GS_WIN_PATH_MAX 32768 /* UTF-16 units: Windows' own limit */

/* UTF-8 to a new UTF-16 string (free it), or NULL with errno set. */
static wchar_t *wide(const char *s)
{
  if (!s) {
    errno = EINVAL;
    return NULL;
  }
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  if (n <= 0 || n > GS_WIN_PATH_MAX) {
    errno = n <= 0 ? EILSEQ : ENAMETOOLONG;
    return NULL;
  }
  wchar_t *w = malloc((size_t)n * sizeof *w);
  if (!w) {
    errno = ENOMEM;
    return NULL;
  }
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  return w;
}

/* UTF-16 to a new UTF-8 string (free it), or NULL. */
static char *narrow(const wchar_t *w)
{
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  if (n <= 0)
    return NULL;
  char *s = malloc((size_t)n);
  if (s)
    WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
  return s;
}

static void set_errno_from(DWORD e)
{
  switch (e) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND: errno = ENOENT; break;
  case ERROR_FILE_EXISTS:
  case ERROR_ALREADY_EXISTS: errno = EEXIST; break;
  case ERROR_ACCESS_DENIED:
  case ERROR_SHARING_VIOLATION: errno = EACCES; break;
  case ERROR_DISK_FULL: errno = ENOSPC; break;
  case ERROR_NOT_ENOUGH_MEMORY: errno = ENOMEM; break;
  default: errno = EIO; break;
  }
}

/* ---- private DACLs ---- */

/* The current user's SID as a string (LocalFree it), or NULL. */
static wchar_t *user_sid(void)
{
  HANDLE tok;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
    return NULL;
  union {
    TOKEN_USER tu;
    char buf[256];
  } u;
  DWORD len = 0;
  wchar_t *s = NULL;
  if (GetTokenInformation(tok, TokenUser, &u, sizeof u, &len))
    ConvertSidToStringSidW(u.tu.User.Sid, &s);
  CloseHandle(tok);
  return s;
}

/* A security descriptor granting this user and SYSTEM everything and no
 * one else anything, not inheriting the parent's entries, inherited by
 * what is created inside (LocalFree it). */
static PSECURITY_DESCRIPTOR private_sd(void)
{
  wchar_t *sid = user_sid();
  if (!sid)
    return NULL;
  wchar_t sddl[256];
  PSECURITY_DESCRIPTOR sd = NULL;
  if (_snwprintf(sddl, 256, L"D:P(A;OICI;FA;;;%ls)(A;OICI;FA;;;SY)", sid) >
      0)
    ConvertStringSecurityDescriptorToSecurityDescriptorW(
        sddl, SDDL_REVISION_1, &sd, NULL);
  LocalFree(sid);
  return sd;
}

static bool sid_is(PSID sid, WELL_KNOWN_SID_TYPE t)
{
  return IsWellKnownSid(sid, t) != 0;
}

/* Whether the DACL of h lets anyone but this user, the file's owner,
 * SYSTEM or the administrators read or write it (POSIX's group/other). */
static bool open_to_others(HANDLE h)
{
  PSID owner = NULL;
  PACL dacl = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  if (GetSecurityInfo(h, SE_FILE_OBJECT,
                      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      &owner, NULL, &dacl, NULL, &sd) != ERROR_SUCCESS)
    return false; /* no security here (FAT): nothing to tell */
  bool others = dacl == NULL; /* a NULL DACL lets everyone in */
  wchar_t *me = user_sid();
  PSID mesid = NULL;
  if (me)
    ConvertStringSidToSidW(me, &mesid);
  for (DWORD i = 0; dacl && !others && i < dacl->AceCount; i++) {
    ACE_HEADER *ace;
    if (!GetAce(dacl, i, (void **)&ace) ||
        ace->AceType != ACCESS_ALLOWED_ACE_TYPE ||
        (ace->AceFlags & INHERIT_ONLY_ACE))
      continue;
    ACCESS_ALLOWED_ACE *a = (ACCESS_ALLOWED_ACE *)ace;
    PSID s = (PSID)&a->SidStart;
    if ((mesid && EqualSid(s, mesid)) || (owner && EqualSid(s, owner)) ||
        sid_is(s, WinLocalSystemSid) || sid_is(s, WinBuiltinAdministratorsSid) ||
        sid_is(s, WinCreatorOwnerSid))
      continue;
    if (a->Mask & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA |
                   GENERIC_READ | GENERIC_WRITE | GENERIC_ALL))
      others = true;
  }
  if (mesid)
    LocalFree(mesid);
  if (me)
    LocalFree(me);
  LocalFree(sd);
  return others;
}

/* ---- files ---- */

int gs_win_open(const char *path, int flags, ...)
{
  int mode = 0666;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, int);
    va_end(ap);
  }
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  int fd = -1;
  if (flags & O_DIRECTORY) {
    /* only ever opened to fsync it: the null device stands for it */
    DWORD a = GetFileAttributesW(w);
    if (a == INVALID_FILE_ATTRIBUTES)
      set_errno_from(GetLastError());
    else if (!(a & FILE_ATTRIBUTE_DIRECTORY))
      errno = ENOTDIR;
    else
      fd = _wopen(L"NUL", _O_RDONLY | _O_BINARY | _O_NOINHERIT);
    free(w);
    return fd;
  }
  if ((flags & O_CREAT) && !(mode & 077)) {
    /* a private file: created with its DACL, as open(2) gives its mode */
    DWORD access = 0;
    switch (flags & (O_RDONLY | O_WRONLY | O_RDWR)) {
    case O_WRONLY: access = GENERIC_WRITE; break;
    case O_RDWR: access = GENERIC_READ | GENERIC_WRITE; break;
    default: access = GENERIC_READ; break;
    }
    if (flags & O_APPEND)
      access = (access & ~(DWORD)GENERIC_WRITE) | FILE_APPEND_DATA;
    DWORD disp = (flags & O_EXCL) ? CREATE_NEW
                 : (flags & O_TRUNC) ? CREATE_ALWAYS : OPEN_ALWAYS;
    PSECURITY_DESCRIPTOR sd = private_sd();
    if (!sd) { /* never a secret file without its protection */
      free(w);
      errno = EACCES;
      return -1;
    }
    SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
    HANDLE h = CreateFileW(w, access, FILE_SHARE_READ | FILE_SHARE_WRITE |
                                          FILE_SHARE_DELETE,
                           &sa, disp, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD e = GetLastError();
    LocalFree(sd);
    free(w);
    if (h == INVALID_HANDLE_VALUE) {
      set_errno_from(e);
      return -1;
    }
    int cflags = _O_BINARY | (flags & (O_RDONLY | O_WRONLY | O_RDWR |
                                       O_APPEND));
    fd = _open_osfhandle((intptr_t)h, cflags);
    if (fd < 0)
      CloseHandle(h);
    return fd;
  }
  fd = _wopen(w, flags | _O_BINARY, _S_IREAD | _S_IWRITE);
  free(w);
  return fd;
}

FILE *gs_win_fopen(const char *path, const char *mode)
{
  wchar_t wm[16];
  size_t k = 0;
  bool text = strchr(mode, 't') != NULL, bin = strchr(mode, 'b') != NULL;
  for (const char *m = mode; *m && k < 13; m++) /* 'e' (O_CLOEXEC): N */
    wm[k++] = *m == 'e' ? L'N' : (wchar_t)(unsigned char)*m;
  if (!text && !bin)
    wm[k++] = L'b';
  wm[k] = 0;
  wchar_t *w = wide(path);
  if (!w)
    return NULL;
  FILE *f = _wfopen(w, wm);
  free(w);
  return f;
}

int gs_win_mkdir(const char *path, int mode)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  PSECURITY_DESCRIPTOR sd = (mode & 077) ? NULL : private_sd();
  if (!(mode & 077) && !sd) { /* a private directory or none */
    free(w);
    errno = EACCES;
    return -1;
  }
  SECURITY_ATTRIBUTES sa = {sizeof sa, sd, FALSE};
  BOOL ok = CreateDirectoryW(w, sd ? &sa : NULL);
  DWORD e = GetLastError();
  if (sd)
    LocalFree(sd);
  free(w);
  if (!ok) {
    set_errno_from(e);
    return -1;
  }
  return 0;
}

/* POSIX's group/other bits from the DACL of h. */
static void mode_from_acl(HANDLE h, struct _stat64 *st)
{
  st->st_mode &= ~077;
  if (open_to_others(h))
    st->st_mode |= (st->st_mode & 0600) >> 3 | (st->st_mode & 0600) >> 6;
}

int gs_win_stat(const char *path, struct _stat64 *st)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  int rc = _wstat64(w, st);
  if (rc == 0) {
    HANDLE h = CreateFileW(w, READ_CONTROL, FILE_SHARE_READ |
                           FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    if (h != INVALID_HANDLE_VALUE) {
      mode_from_acl(h, st);
      CloseHandle(h);
    }
  }
  free(w);
  return rc;
}

int gs_win_fstat(int fd, struct _stat64 *st)
{
  if (_fstat64(fd, st) != 0)
    return -1;
  HANDLE h = (HANDLE)_get_osfhandle(fd);
  if (h != INVALID_HANDLE_VALUE && GetFileType(h) == FILE_TYPE_DISK)
    mode_from_acl(h, st);
  return 0;
}

int gs_win_unlink(const char *path)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  int rc = _wunlink(w);
  free(w);
  return rc;
}

int gs_win_rename(const char *from, const char *to)
{
  wchar_t *a = wide(from), *b = wide(to);
  int rc = -1;
  if (a && b) {
    if (MoveFileExW(a, b, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
      rc = 0;
    else
      set_errno_from(GetLastError());
  }
  free(a);
  free(b);
  return rc;
}

int gs_win_access(const char *path, int mode)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  int rc = _waccess(w, mode & ~X_OK); /* msvcrt refuses X_OK */
  free(w);
  return rc;
}

int gs_win_fsync(int fd)
{
  if (_commit(fd) == 0)
    return 0;
  HANDLE h = (HANDLE)_get_osfhandle(fd);
  if (h != INVALID_HANDLE_VALUE && GetFileType(h) != FILE_TYPE_DISK)
    return 0; /* the null device standing for a directory: nothing to do */
  return -1;
}

int gs_win_chmod(const char *path, int mode)
{
  wchar_t *w = wide(path), *sid = user_sid();
  int rc = -1;
  if (!w || !sid)
    goto out;
  /* this user and SYSTEM; Everyone as group/other allow (either bit) */
  wchar_t sddl[320];
  _snwprintf(sddl, 320, L"D:P(A;OICI;FA;;;%ls)(A;OICI;FA;;;SY)%ls%ls", sid,
             (mode & 044) ? L"(A;OICI;FR;;;WD)" : L"",
             (mode & 022) ? L"(A;OICI;FW;;;WD)" : L"");
  sddl[319] = 0;
  PSECURITY_DESCRIPTOR sd = NULL;
  PACL dacl = NULL;
  BOOL present = FALSE, defaulted = FALSE;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
          sddl, SDDL_REVISION_1, &sd, NULL) ||
      !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted)) {
    errno = EINVAL;
    goto out_sd;
  }
  DWORD e = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
                                  DACL_SECURITY_INFORMATION |
                                      PROTECTED_DACL_SECURITY_INFORMATION,
                                  NULL, NULL, dacl, NULL);
  if (e != ERROR_SUCCESS) {
    set_errno_from(e);
    goto out_sd;
  }
  /* the owner's write bit is the read-only attribute */
  rc = _wchmod(w, (mode & 0200) ? _S_IREAD | _S_IWRITE : _S_IREAD);
out_sd:
  LocalFree(sd);
out:
  if (sid)
    LocalFree(sid);
  free(w);
  return rc;
}

int gs_win_mkstemp(char *tmpl)
{
  size_t n = strlen(tmpl);
  if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
    errno = EINVAL;
    return -1;
  }
  static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int tries = 0; tries < 100; tries++) {
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    uint64_t r = (uint64_t)c.QuadPart * 6364136223846793005ULL +
                 (uint64_t)GetCurrentProcessId() * 1442695040888963407ULL +
                 (uint64_t)tries;
    for (int i = 0; i < 6; i++, r /= 36)
      tmpl[n - 6 + i] = abc[r % 36];
    int fd = gs_win_open(tmpl, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  errno = EEXIST;
  return -1;
}

/* getenv's UTF-8 answers, kept for the process (getenv's contract: the
 * string lives until the variable changes); a variable read again gets
 * its entry refreshed. */
#define GS_WIN_ENV_MAX 64
static struct {
  char *name, *value;
} env_cache[GS_WIN_ENV_MAX];

char *gs_win_getenv(const char *name)
{
  wchar_t *wn = wide(name);
  if (!wn)
    return NULL;
  const wchar_t *wv = _wgetenv(wn);
  free(wn);
  if (!wv)
    return NULL;
  char *v = narrow(wv);
  if (!v)
    return NULL;
  int slot = -1;
  for (int i = 0; i < GS_WIN_ENV_MAX; i++) {
    if (env_cache[i].name && strcmp(env_cache[i].name, name) == 0) {
      if (strcmp(env_cache[i].value, v) == 0) {
        free(v);
        return env_cache[i].value;
      }
      slot = i;
      break;
    }
    if (!env_cache[i].name && slot < 0)
      slot = i;
  }
  if (slot < 0) { /* full: the variable's old answer must not move */
    free(v);
    return NULL;
  }
  if (!env_cache[slot].name && !(env_cache[slot].name = _strdup(name))) {
    free(v);
    return NULL;
  }
  /* an old value is kept, not freed: a caller may still hold it */
  env_cache[slot].value = v;
  return v;
}

ptrdiff_t gs_win_getline(char **line, size_t *cap, FILE *f)
{
  size_t n = 0;
  int c;
  if (!*line || *cap == 0) {
    *cap = 128;
    if (!(*line = malloc(*cap)))
      return -1;
  }
  while ((c = getc(f)) != EOF) {
    if (n + 2 > *cap) {
      if (*cap > (size_t)PTRDIFF_MAX / 2) {
        errno = EOVERFLOW;
        return -1;
      }
      char *p = realloc(*line, *cap * 2);
      if (!p)
        return -1;
      *line = p;
      *cap *= 2;
    }
    (*line)[n++] = (char)c;
    if (c == '\n')
      break;
  }
  (*line)[n] = 0;
  return n == 0 && c == EOF ? -1 : (ptrdiff_t)n;
}

void gs_win_explicit_bzero(void *p, size_t n)
{
  SecureZeroMemory(p, n);
}

const char *gs_win_strerrorname(int e)
{
  static const struct {
    int e;
    const char *name;
  } names[] = {
      {EPERM, "EPERM"},   {ENOENT, "ENOENT"}, {EIO, "EIO"},
      {E2BIG, "E2BIG"},   {EBADF, "EBADF"},   {EAGAIN, "EAGAIN"},
      {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EBUSY, "EBUSY"},
      {EEXIST, "EEXIST"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},
      {EINVAL, "EINVAL"}, {EMFILE, "EMFILE"}, {EFBIG, "EFBIG"},
      {ENOSPC, "ENOSPC"}, {EROFS, "EROFS"},   {EPIPE, "EPIPE"},
      {ERANGE, "ERANGE"}, {ENAMETOOLONG, "ENAMETOOLONG"},
      {EILSEQ, "EILSEQ"}, {EOVERFLOW, "EOVERFLOW"},
      {ECONNREFUSED, "ECONNREFUSED"}, {ECONNRESET, "ECONNRESET"},
      {ETIMEDOUT, "ETIMEDOUT"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].e == e)
      return names[i].name;
  return NULL;
}

void (*gs_win_signal(int sig, void (*h)(int)))(int)
{
  if (sig == SIGPIPE)
    return SIG_DFL;
  return signal(sig, h);
}

/* ---- for the _WIN32 blocks ---- */

char **gs_win_utf8_args(int *argc)
{
  SetConsoleOutputCP(CP_UTF8);
  SetConsoleCP(CP_UTF8);
  int n = 0;
  wchar_t **wv = CommandLineToArgvW(GetCommandLineW(), &n);
  if (!wv)
    return NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  for (int i = 0; v && i < n; i++)
    if (!(v[i] = narrow(wv[i]))) {
      v = NULL; /* the process is about to give up: no cleanup */
      break;
    }
  LocalFree(wv);
  if (v)
    *argc = n;
  return v;
}

void gs_win_bind_catalogue(const char *domain)
{
#ifdef GS_HAVE_LIBINTL
  wchar_t *w = malloc((GS_WIN_PATH_MAX + 16) * sizeof *w);
  if (!w)
    return;
  DWORD n = GetModuleFileNameW(NULL, w, GS_WIN_PATH_MAX);
  wchar_t *slash = n > 0 && n < GS_WIN_PATH_MAX ? wcsrchr(w, L'\\') : NULL;
  if (slash) {
    wcscpy(slash + 1, L"locale");
    setlocale(LC_MESSAGES, "");
    wbindtextdomain(domain, w);
    bind_textdomain_codeset(domain, "UTF-8");
  }
  free(w);
#else
  (void)domain;
#endif
}

bool gs_win_default_dir(char *buf, size_t cap)
{
  const char *d = gs_win_getenv("APPDATA");
  if (!d || !*d)
    return false;
  int k = snprintf(buf, cap, "%s/gridsync", d);
  if (k < 0 || (size_t)k >= cap)
    return false;
  for (char *p = buf; *p; p++)
    if (*p == '\\')
      *p = '/';
  return true;
}

int gs_win_file_id(const char *path, uint64_t *dev, uint64_t *ino)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE |
                         FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
                         FILE_FLAG_BACKUP_SEMANTICS, NULL);
  free(w);
  if (h == INVALID_HANDLE_VALUE) {
    set_errno_from(GetLastError());
    return -1;
  }
  BY_HANDLE_FILE_INFORMATION fi;
  BOOL ok = GetFileInformationByHandle(h, &fi);
  CloseHandle(h);
  if (!ok) {
    errno = EIO;
    return -1;
  }
  *dev = fi.dwVolumeSerialNumber;
  *ino = (uint64_t)fi.nFileIndexHigh << 32 | fi.nFileIndexLow;
  return 0;
}

bool gs_win_pid_alive(long pid)
{
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
                         (DWORD)pid);
  if (!h)
    return GetLastError() == ERROR_ACCESS_DENIED;
  DWORD code = 0;
  bool alive = GetExitCodeProcess(h, &code) && code == STILL_ACTIVE;
  CloseHandle(h);
  return alive;
}

/* Append s to the command line at w (CommandLineToArgvW's quoting). */
static size_t quote_arg(wchar_t *out, size_t at, size_t cap, const wchar_t *s)
{
  bool plain = *s && !wcspbrk(s, L" \t\n\v\"");
  if (at && at < cap)
    out[at++] = L' ';
  if (plain) {
    for (; *s && at < cap; s++)
      out[at++] = *s;
    return at;
  }
  if (at < cap)
    out[at++] = L'"';
  for (;; s++) {
    size_t bs = 0;
    while (*s == L'\\')
      s++, bs++;
    if (!*s) { /* backslashes before the closing quote double */
      for (size_t i = 0; i < 2 * bs && at < cap; i++)
        out[at++] = L'\\';
      break;
    }
    if (*s == L'"') {
      for (size_t i = 0; i < 2 * bs + 1 && at < cap; i++)
        out[at++] = L'\\';
    } else {
      for (size_t i = 0; i < bs && at < cap; i++)
        out[at++] = L'\\';
    }
    if (at < cap)
      out[at++] = *s;
  }
  if (at < cap)
    out[at++] = L'"';
  return at;
}

long gs_win_spawn_detached(const char *const *argv, const char *log)
{
  size_t cap = GS_WIN_PATH_MAX, at = 0;
  wchar_t *cmd = malloc(cap * sizeof *cmd), *exe = wide(argv[0]),
          *wlog = wide(log);
  long pid = -1;
  HANDLE out = INVALID_HANDLE_VALUE, in = INVALID_HANDLE_VALUE;
  if (!cmd || !exe || !wlog)
    goto out;
  for (size_t i = 0; argv[i]; i++) {
    wchar_t *a = wide(argv[i]);
    if (!a)
      goto out;
    at = quote_arg(cmd, at, cap - 1, a);
    free(a);
  }
  if (at >= cap - 1) {
    errno = E2BIG;
    goto out;
  }
  cmd[at] = 0;
  SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
  PSECURITY_DESCRIPTOR sd = private_sd();
  SECURITY_ATTRIBUTES priv = {sizeof priv, sd, TRUE};
  out = CreateFileW(wlog, FILE_APPEND_DATA, FILE_SHARE_READ |
                    FILE_SHARE_WRITE | FILE_SHARE_DELETE, &priv,
                    OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (sd)
    LocalFree(sd);
  in = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                   &inherit, OPEN_EXISTING, 0, NULL);
  if (out == INVALID_HANDLE_VALUE || in == INVALID_HANDLE_VALUE) {
    set_errno_from(GetLastError());
    goto out;
  }
  /* The child inherits the null device and the log, nothing else: not
   * this process's own standard handles (a caller reading our output to
   * its end would wait for serve to stop). */
  HANDLE keep[2] = {in, out};
  SIZE_T alen = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &alen);
  LPPROC_THREAD_ATTRIBUTE_LIST al = malloc(alen);
  bool have_list = al && InitializeProcThreadAttributeList(al, 1, 0, &alen);
  if (have_list &&
      !UpdateProcThreadAttribute(al, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                 keep, sizeof keep, NULL, NULL)) {
    DeleteProcThreadAttributeList(al);
    have_list = false;
  }
  DWORD std_ids[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
  for (int i = 0; i < 3; i++) {
    HANDLE h = GetStdHandle(std_ids[i]);
    if (h && h != INVALID_HANDLE_VALUE)
      SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  }
  STARTUPINFOEXW si = {.StartupInfo = {.cb = sizeof si,
                                       .dwFlags = STARTF_USESTDHANDLES,
                                       .hStdInput = in, .hStdOutput = out,
                                       .hStdError = out},
                       .lpAttributeList = have_list ? al : NULL};
  PROCESS_INFORMATION pi;
  BOOL made = CreateProcessW(exe, cmd, NULL, NULL, TRUE,
                             DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP |
                                 CREATE_UNICODE_ENVIRONMENT |
                                 (have_list ? EXTENDED_STARTUPINFO_PRESENT : 0),
                             NULL, NULL, &si.StartupInfo, &pi);
  DWORD e = GetLastError();
  if (have_list)
    DeleteProcThreadAttributeList(al);
  free(al);
  if (!made) {
    set_errno_from(e);
    goto out;
  }
  pid = (long)pi.dwProcessId;
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
out:
  if (out != INVALID_HANDLE_VALUE)
    CloseHandle(out);
  if (in != INVALID_HANDLE_VALUE)
    CloseHandle(in);
  free(cmd);
  free(exe);
  free(wlog);
  return pid;
}

bool gs_win_self(char *buf, size_t cap)
{
  wchar_t *w = malloc(GS_WIN_PATH_MAX * sizeof *w);
  if (!w)
    return false;
  DWORD n = GetModuleFileNameW(NULL, w, GS_WIN_PATH_MAX);
  char *s = n > 0 && n < GS_WIN_PATH_MAX ? narrow(w) : NULL;
  free(w);
  bool ok = s && strlen(s) < cap;
  if (ok)
    memcpy(buf, s, strlen(s) + 1);
  free(s);
  return ok;
}

bool gs_win_open_url(const char *url)
{
  wchar_t *w = wide(url);
  if (!w)
    return false;
  HINSTANCE r = ShellExecuteW(NULL, L"open", w, NULL, NULL, SW_SHOWNORMAL);
  free(w);
  return (intptr_t)r > 32;
}

bool gs_win_read_hidden(const char *prompt, char *buf, size_t len)
{
  HANDLE in = CreateFileW(L"CONIN$", GENERIC_READ | GENERIC_WRITE,
                          FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                          OPEN_EXISTING, 0, NULL);
  DWORD mode;
  if (in == INVALID_HANDLE_VALUE)
    return false;
  if (!GetConsoleMode(in, &mode)) {
    CloseHandle(in);
    return false;
  }
  SetConsoleMode(in, (mode | ENABLE_LINE_INPUT) & ~(DWORD)ENABLE_ECHO_INPUT);
  fputs(prompt, stderr);
  fflush(stderr);
  wchar_t w[1100];
  DWORD got = 0;
  BOOL ok = ReadConsoleW(in, w, 1099, &got, NULL);
  SetConsoleMode(in, mode);
  CloseHandle(in);
  fputc('\n', stderr);
  if (!ok || got == 0)
    return false;
  w[got] = 0;
  w[wcscspn(w, L"\r\n")] = 0;
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)len, NULL, NULL);
  SecureZeroMemory(w, sizeof w);
  return n > 0;
}

#endif /* _WIN32 */

int gs_win_flock(int fd, int op)
{
  HANDLE h = (HANDLE)_get_osfhandle(fd);
  if (h == INVALID_HANDLE_VALUE) {
    errno = EBADF;
    return -1;
  }
  OVERLAPPED ov = {0};
  UnlockFileEx(h, 0, MAXDWORD, MAXDWORD, &ov); /* none held: fails, fine */
  if (op & LOCK_UN)
    return 0;
  DWORD fl = (op & LOCK_EX ? LOCKFILE_EXCLUSIVE_LOCK : 0) |
             (op & LOCK_NB ? LOCKFILE_FAIL_IMMEDIATELY : 0);
  memset(&ov, 0, sizeof ov);
  if (!LockFileEx(h, fl, 0, MAXDWORD, MAXDWORD, &ov)) {
    errno = EWOULDBLOCK;
    return -1;
  }
  return 0;
}

char *gs_win_mkdtemp(char *tmpl)
{
  size_t n = strlen(tmpl);
  if (n < 6 || strcmp(tmpl + n - 6, "XXXXXX") != 0) {
    errno = EINVAL;
    return NULL;
  }
  static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  LARGE_INTEGER c;
  for (unsigned tries = 0; tries < 100; tries++) {
    QueryPerformanceCounter(&c);
    uint64_t r = (uint64_t)c.QuadPart * 6364136223846793005ULL +
                 (uint64_t)GetCurrentProcessId() * 1442695040888963407ULL +
                 tries * 2654435761ULL;
    for (int i = 0; i < 6; i++, r /= 36)
      tmpl[n - 6 + i] = set[r % 36];
    if (gs_win_mkdir(tmpl, 0700) == 0) /* exclusive: EEXIST else */
      return tmpl;
    if (errno != EEXIST)
      return NULL;
  }
  errno = EEXIST;
  return NULL;
}

bool gs_win_byte0_locked(int fd)
{
  HANDLE h = (HANDLE)_get_osfhandle(fd);
  if (h == INVALID_HANDLE_VALUE)
    return false;
  OVERLAPPED ov = {0};
  if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0,
                  1, 0, &ov))
    return true;
  memset(&ov, 0, sizeof ov);
  UnlockFileEx(h, 0, 1, 0, &ov);
  return false;
}

int gs_win_disk_free(const char *path, uint64_t *avail)
{
  wchar_t *w = wide(path);
  if (!w)
    return -1;
  ULARGE_INTEGER a;
  BOOL ok = GetDiskFreeSpaceExW(w, &a, NULL, NULL);
  free(w);
  if (!ok) {
    errno = ENOENT;
    return -1;
  }
  *avail = a.QuadPart;
  return 0;
}

struct gs_win_dir {
  _WDIR *w;
  struct dirent e;
};

gs_win_dir *gs_win_opendir(const char *path)
{
  wchar_t *w = wide(path);
  if (!w)
    return NULL;
  gs_win_dir *d = calloc(1, sizeof *d);
  if (!d) {
    free(w);
    errno = ENOMEM;
    return NULL;
  }
  d->w = _wopendir(w);
  free(w);
  if (!d->w) {
    free(d);
    return NULL;
  }
  return d;
}

struct dirent *gs_win_readdir(gs_win_dir *d)
{
  struct _wdirent *we;
  while ((we = _wreaddir(d->w)) != NULL) {
    int n = WideCharToMultiByte(CP_UTF8, 0, we->d_name, -1, d->e.d_name,
                                (int)sizeof d->e.d_name, NULL, NULL);
    if (n > 0) {
      d->e.d_namlen = (unsigned short)(n - 1);
      return &d->e;
    }
  }
  return NULL;
}

int gs_win_closedir(gs_win_dir *d)
{
  int rc = _wclosedir(d->w);
  free(d);
  return rc;
}
