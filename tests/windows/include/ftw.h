/* Windows unit runner: nftw for the tests' t_rmtree (FTW_DEPTH only). */
#ifndef GS_WIN_FTW_H
#define GS_WIN_FTW_H
#include <sys/stat.h>

#define FTW_F 0
#define FTW_D 1
#define FTW_DP 5
#define FTW_PHYS 1
#define FTW_DEPTH 8
struct FTW {
  int base, level;
};
int nftw(const char *path,
         int (*fn)(const char *, const struct stat *, int, struct FTW *),
         int fds, int flags);
#endif
