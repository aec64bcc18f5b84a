/*
 * gs_win: the POSIX calls gridsync uses, done for Windows (issue 22).
 *
 * A Windows build force-includes this header in every C file (meson.build:
 * -include win/gs_win.h), after the C runtime's own headers, so that the
 * tree's POSIX code builds unchanged where Windows can do the same thing:
 *  - every path in gridsync is UTF-8; these calls convert it to UTF-16 for
 *    Windows' wide functions (the narrow ones use the ANSI code page and
 *    lose Chinese names); getenv answers UTF-8 too;
 *  - files open in binary mode: the bytes are those written on Linux;
 *  - a directory or file created without group/other bits (0700, 0600,
 *    mkstemp) gets a protected DACL granting this user and SYSTEM only,
 *    and stat/fstat report group/other bits from the DACL (044 when anyone
 *    else may read it), so the tree's mode checks keep their meaning, and
 *    chmod sets the DACL to match group/other bits (Everyone's ACE);
 *  - rename replaces its target, as POSIX's does (MoveFileExW);
 *  - fsync of a directory (Windows has no such thing) succeeds.
 * What cannot be mapped (fork, terminals, signals, browsers) has a small
 * _WIN32 block where it is used, calling the helpers at the end.
 * Nothing here is used outside a Windows build.
 */
#ifndef GS_WIN_H
#define GS_WIN_H
#ifdef _WIN32

#ifndef _POSIX_THREAD_SAFE_FUNCTIONS
#define _POSIX_THREAD_SAFE_FUNCTIONS 200112L /* localtime_r, gmtime_r */
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <io.h>
#include <fcntl.h>
#include <direct.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#ifndef O_CLOEXEC
#define O_CLOEXEC _O_NOINHERIT
#endif
#ifndef O_DIRECTORY
#define O_DIRECTORY 0x20000000 /* gs_win_open: a directory, for fsync */
#endif

int gs_win_open(const char *path, int flags, ...);
FILE *gs_win_fopen(const char *path, const char *mode);
int gs_win_mkdir(const char *path, int mode);
/* mingw's sys/stat.h, under _FILE_OFFSET_BITS=64 (meson's default), makes
 * stat and fstat _stat64 and _fstat64: struct stat is struct _stat64 and
 * the calls come here. */
#if !defined(_FILE_OFFSET_BITS) || _FILE_OFFSET_BITS != 64
#error "gs_win.h expects _FILE_OFFSET_BITS=64 (struct stat = struct _stat64)"
#endif
int gs_win_stat(const char *path, struct _stat64 *st);
int gs_win_fstat(int fd, struct _stat64 *st);
int gs_win_unlink(const char *path);
int gs_win_rename(const char *from, const char *to);
int gs_win_access(const char *path, int mode);
int gs_win_fsync(int fd);
int gs_win_chmod(const char *path, int mode);
int gs_win_mkstemp(char *tmpl);
char *gs_win_getenv(const char *name);
ptrdiff_t gs_win_getline(char **line, size_t *cap, FILE *f);
void gs_win_explicit_bzero(void *p, size_t n);
const char *gs_win_strerrorname(int e);
/* Windows has no SIGPIPE (a write to a closed socket fails): ignoring it
 * is what gridsync asks, and what Windows does. */
#ifndef SIGPIPE
#define SIGPIPE 13
#endif
#include <signal.h>
void (*gs_win_signal(int sig, void (*h)(int)))(int);

#define open(...) gs_win_open(__VA_ARGS__)
#define fopen(p, m) gs_win_fopen(p, m)
#define mkdir(p, m) gs_win_mkdir(p, m)
#define _stat64(p, s) gs_win_stat(p, s)
#define _fstat64(fd, s) gs_win_fstat(fd, s)
#define unlink(p) gs_win_unlink(p)
#define rename(a, b) gs_win_rename(a, b)
#define access(p, m) gs_win_access(p, m)
#define fsync(fd) gs_win_fsync(fd)
#define chmod(p, m) gs_win_chmod(p, m)
#define mkstemp(t) gs_win_mkstemp(t)
#define getenv(n) gs_win_getenv(n)
#define getline(l, c, f) gs_win_getline(l, c, f)
#define explicit_bzero(p, n) gs_win_explicit_bzero(p, n)
#define strerrorname_np(e) gs_win_strerrorname(e)
#define signal(s, h) gs_win_signal(s, h)

/* flock on the file's handle (LockFileEx over its whole range): locks
 * belong to the open file, as flock's do; a change of kind unlocks first
 * (as flock may). */
#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8
int gs_win_flock(int fd, int op);
#define flock(fd, op) gs_win_flock(fd, op)
/* A pipe of the C runtime (binary, not inherited). */
#define pipe(fds) _pipe(fds, 65536, _O_BINARY | _O_NOINHERIT)
/* Symbolic links need privileges on Windows and gridsync never makes
 * them: no O_NOFOLLOW there, and lstat is stat. */
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#define lstat(p, s) gs_win_stat(p, s)
#define timegm(tm) _mkgmtime(tm)
/* A new private directory (0700: the user's DACL) from a name ending in
 * XXXXXX. */
char *gs_win_mkdtemp(char *tmpl);
#define mkdtemp(t) gs_win_mkdtemp(t)
/* Whether another handle holds a lock on byte 0 of the open file fd
 * (LMDB's liveness lock on lock.mdb: every process with the store open). */
bool gs_win_byte0_locked(int fd);
/* Bytes free to this user on the disk of path (GetDiskFreeSpaceExW). */
int gs_win_disk_free(const char *path, uint64_t *avail);

/* Directories listed with UTF-8 names (_wopendir; mingw's opendir takes
 * and gives the ANSI code page); a name longer than d_name in UTF-8 is
 * skipped (gridsync's own are ASCII). */
#include <dirent.h>
typedef struct gs_win_dir gs_win_dir;
gs_win_dir *gs_win_opendir(const char *path);
struct dirent *gs_win_readdir(gs_win_dir *d);
int gs_win_closedir(gs_win_dir *d);
#define DIR gs_win_dir
#define opendir(p) gs_win_opendir(p)
#define readdir(d) gs_win_readdir(d)
#define closedir(d) gs_win_closedir(d)

/* ---- for the _WIN32 blocks ---- */

/* The command line as UTF-8 arguments (GetCommandLineW), allocated for the
 * life of the process; the console's code pages set to UTF-8. */
char **gs_win_utf8_args(int *argc);
/* Bind the text domain to the catalogues beside the program
 * (EXE_DIR/locale/LANG/LC_MESSAGES/DOMAIN.mo, wbindtextdomain: any path),
 * in UTF-8, and take the language of messages from the environment or
 * Windows' own (libintl's setlocale(LC_MESSAGES, "")); character types
 * stay "C". Nothing without libintl (GS_HAVE_LIBINTL). */
void gs_win_bind_catalogue(const char *domain);
/* The node directory's default: %APPDATA%\gridsync (UTF-8, '/'-joined). */
bool gs_win_default_dir(char *buf, size_t cap);
/* A file's identity (volume serial, file index), as stat's st_dev/st_ino
 * are on POSIX (Windows' st_ino is always 0). */
int gs_win_file_id(const char *path, uint64_t *dev, uint64_t *ino);
/* Whether process pid still runs. */
bool gs_win_pid_alive(long pid);
/* Start argv[0] with argv detached from this console, its stdin the null
 * device and stdout/stderr appended to log; its pid, or -1. */
long gs_win_spawn_detached(const char *const *argv, const char *log);
/* This program's own path (UTF-8). */
bool gs_win_self(char *buf, size_t cap);
/* Open url in the default browser (ShellExecuteW); false if none did. */
bool gs_win_open_url(const char *url);
/* One line from the console with echo off (UTF-8, no newline); false at
 * end of input or when there is no console. */
bool gs_win_read_hidden(const char *prompt, char *buf, size_t len);

#endif /* _WIN32 */
#endif
