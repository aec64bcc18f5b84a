/*
 * Translations in an explicit language, independent of the process
 * locale (issue 18): gs_i18n_begin/gs_i18n_end around node_reason texts
 * (what the web API does per request), gs_i18n_text for one msgid, and
 * another thread untouched. Needs the build tree's catalogue and the
 * zh_CN.UTF-8 locale (made with localedef into a temporary LOCPATH when
 * the system has none); skipped, saying why, when neither can be had.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crdt/gs_i18n.h"
#include "node/domain.h"

TestSuite(node_i18n);

/* Whether Chinese can be had here; else *why says why not. */
static bool zh_ready(const char **why)
{
  char mo[4096];
  snprintf(mo, sizeof mo, "%s/zh_CN/LC_MESSAGES/gridsync.mo",
           GS_BUILD_LOCALEDIR);
  struct stat sb;
  if (stat(mo, &sb) != 0) {
    *why = "the build tree has no zh_CN catalogue (ninja -C build)";
    return false;
  }
  gs_i18n_init(GS_BUILD_LOCALEDIR);
  locale_t l = newlocale(LC_MESSAGES_MASK, "zh_CN.UTF-8", (locale_t)0);
  if (!l) {
    /* made once into the build tree, under a temporary name renamed into
     * place (tests run in parallel) */
    char dir[4096], tmp[4200], cmd[4400];
    snprintf(dir, sizeof dir, "%s/test-locale", GS_BUILD_LOCALEDIR);
    snprintf(tmp, sizeof tmp, "%s/zh_CN.UTF-8/LC_MESSAGES", dir);
    /* (glibc remembers a failed lookup: look only once it is there) */
    if (stat(tmp, &sb) != 0) {
      snprintf(tmp, sizeof tmp, "%s.XXXXXX", dir);
      if (!mkdtemp(tmp)) {
        *why = "cannot make a temporary directory in the build tree";
        return false;
      }
      snprintf(cmd, sizeof cmd,
               "localedef -i zh_CN -f UTF-8 %s/zh_CN.UTF-8 >/dev/null 2>&1",
               tmp);
      if (system(cmd) != 0 && stat(tmp, &sb) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd)) {}
        *why = "no zh_CN.UTF-8 locale and localedef cannot make one";
        return false;
      }
      if (rename(tmp, dir) != 0) { /* another test made it first */
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd)) {}
      }
    }
    setenv("LOCPATH", dir, 1);
    l = newlocale(LC_MESSAGES_MASK, "zh_CN.UTF-8", (locale_t)0);
  }
  if (!l) {
    *why = "the zh_CN.UTF-8 locale cannot be loaded";
    return false;
  }
  freelocale(l);
  unsetenv("LANGUAGE"); /* it would take precedence, as gettext does */
  return true;
}

#define NEED_ZH()                                                          \
  do {                                                                     \
    const char *why_ = "";                                                 \
    if (!zh_ready(&why_))                                                  \
      cr_skip_test("%s", why_);                                            \
  } while (0)

Test(node_i18n, process_locale_stays_english)
{
  NEED_ZH();
  /* this process never set LANG: messages are English */
  cr_assert_str_eq(_("permission denied"), "permission denied");
  cr_assert_str_eq(gs_i18n_strerror(GS_EPERM), "permission denied");
}

Test(node_i18n, text_in_an_explicit_language)
{
  NEED_ZH();
  cr_assert_str_eq(gs_i18n_text("zh", "permission denied"), "没有权限");
  cr_assert_str_eq(gs_i18n_text("zh-CN", "not found"), "没有找到");
  cr_assert_str_eq(gs_i18n_text("zh_CN", "not found"), "没有找到");
  cr_assert_str_eq(gs_i18n_text("en", "not found"), "not found");
  cr_assert_str_eq(gs_i18n_text(NULL, "not found"), "not found");
  cr_assert_str_eq(gs_i18n_text("zhx", "not found"), "not found");
  cr_assert_str_eq(gs_i18n_text("zh", "no such msgid here"),
                   "no such msgid here");
  /* and the process is as it was */
  cr_assert_str_eq(_("not found"), "not found");
}

Test(node_i18n, a_reason_formatted_in_a_scope_is_chinese)
{
  NEED_ZH();
  node_reason r;
  gs_i18n_scope s;
  cr_assert_eq(gs_i18n_begin(&s, "zh"), GS_OK);
  node_reason_set(&r, GS_EPERM, "cannot write: %s",
                  gs_i18n_strerror(GS_EPERM));
  gs_i18n_end(&s);
  cr_assert_str_eq(r.text, "无法写入：没有权限");
  node_reason_set(&r, GS_EPERM, "cannot write: %s", gs_i18n_strerror(GS_EPERM));
  cr_assert_str_eq(r.text, "cannot write: permission denied");
  cr_assert_eq(gs_i18n_begin(&s, "en"), GS_OK);
  node_reason_for(&r, "scope", GS_EINVAL, "bad scope '%s'", "x//y");
  gs_i18n_end(&s);
  cr_assert_str_eq(r.text, "bad scope 'x//y'");
  cr_assert_str_eq(r.field, "scope");
}

static void *other_thread(void *arg)
{
  *(const char **)arg = _("permission denied");
  return NULL;
}

Test(node_i18n, the_scope_is_the_calling_threads_only)
{
  NEED_ZH();
  gs_i18n_scope s;
  cr_assert_eq(gs_i18n_begin(&s, "zh"), GS_OK);
  const char *there = NULL;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, other_thread, &there), 0);
  pthread_join(t, NULL);
  cr_assert_str_eq(_("permission denied"), "没有权限");
  gs_i18n_end(&s);
  cr_assert_str_eq(there, "permission denied");
  gs_i18n_end(&s); /* a second end does nothing */
  cr_assert_str_eq(_("permission denied"), "permission denied");
}
