/* Windows unit runner: what the tests use from POSIX's stdlib.h
 * (force-included, tests/windows/meson.build; win_test_util.c). */
#ifndef GS_WIN_TEST_H
#define GS_WIN_TEST_H
void *memmem(const void *hay, size_t n, const void *needle, size_t m);
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
/* The tests clean up with system("rm -rf 'DIR'"): done here, as nftw
 * removes trees; any other command goes to the real system(). */
int gs_wt_system(const char *cmd);
#define system(cmd) gs_wt_system(cmd)
#endif
