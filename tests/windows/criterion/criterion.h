/*
 * The part of Criterion's API the unit tests use, for the Windows build
 * (Criterion is not built for mingw; docs/WINDOWS.md). Tests register at
 * load time and tests/windows/runner.c runs them one after another in one
 * process: a failed cr_assert ends its test (longjmp) and the next runs.
 * Assertions follow Criterion's: cr_assert(cond, [format, args...]).
 */
#ifndef GS_CRIT_H
#define GS_CRIT_H

#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct gs_crit_test {
  const char *suite, *name;
  void (*fn)(void);
  void (*init)(void);
  void (*fini)(void);
  double timeout; /* accepted, not enforced */
  bool disabled;
  struct gs_crit_test *next;
} gs_crit_test;

typedef struct gs_crit_suite {
  const char *name;
  void (*init)(void);
  void (*fini)(void);
  double timeout;
  bool disabled;
  struct gs_crit_suite *next;
} gs_crit_suite;

void gs_crit_register(gs_crit_test *t);
void gs_crit_register_suite(gs_crit_suite *s);
void gs_crit_fail(bool fatal, const char *file, int line, const char *what,
                  const char *fmt, ...) __attribute__((format(gnu_printf, 5, 6)));

#define Test(s_, n_, ...)                                                   \
  static void gs_crit_fn_##s_##_##n_(void);                                 \
  static gs_crit_test gs_crit_t_##s_##_##n_ = {                             \
      .suite = #s_, .name = #n_, .fn = gs_crit_fn_##s_##_##n_, __VA_ARGS__}; \
  __attribute__((constructor)) static void gs_crit_r_##s_##_##n_(void)      \
  {                                                                         \
    gs_crit_register(&gs_crit_t_##s_##_##n_);                               \
  }                                                                         \
  static void gs_crit_fn_##s_##_##n_(void)

#define TestSuite(s_, ...)                                                  \
  static gs_crit_suite gs_crit_s_##s_ = {.name = #s_, __VA_ARGS__};         \
  __attribute__((constructor)) static void gs_crit_rs_##s_(void)            \
  {                                                                         \
    gs_crit_register_suite(&gs_crit_s_##s_);                                \
  }

#define GS_CRIT_CHECK(fatal, cond, what, ...)                               \
  do {                                                                      \
    if (!(cond))                                                            \
      gs_crit_fail(fatal, __FILE__, __LINE__, what, "" __VA_ARGS__);        \
  } while (0)

#define cr_assert(c, ...) GS_CRIT_CHECK(true, c, #c, __VA_ARGS__)
#define cr_expect(c, ...) GS_CRIT_CHECK(false, c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) GS_CRIT_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) GS_CRIT_CHECK(true, 0, "fail", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) \
  GS_CRIT_CHECK(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) \
  GS_CRIT_CHECK(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) \
  GS_CRIT_CHECK(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) \
  GS_CRIT_CHECK(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) \
  GS_CRIT_CHECK(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) \
  GS_CRIT_CHECK(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) \
  GS_CRIT_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) \
  GS_CRIT_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
  GS_CRIT_CHECK(true, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) \
  GS_CRIT_CHECK(true, strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_str_empty(s, ...) \
  GS_CRIT_CHECK(true, (s)[0] == '\0', #s " empty", __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) \
  GS_CRIT_CHECK(true, memcmp((a), (b), (n)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_arr_neq(a, b, n, ...) \
  GS_CRIT_CHECK(true, memcmp((a), (b), (n)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
  GS_CRIT_CHECK(true, fabs((double)(a) - (double)(b)) <= (eps), \
                #a " ~ " #b, __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

#endif
