/* libintl in the Windows build: the catalogue beside the program is found
 * (gs_i18n_init, which calls gs_win_bind_catalogue) and gives UTF-8
 * Chinese. The runner runs it first, as the program binds at its start. .ci/windows/test.sh
 * compiles tests/windows/zh_CN-test.po into
 * build-win/tests/windows/locale/zh_CN/LC_MESSAGES/gridsync.mo first. */
#include <criterion/criterion.h>
#include <libintl.h>
#include <locale.h>
#include <stdlib.h>

#include "crdt/gs_i18n.h"
#include "win/gs_win.h"

Test(win_i18n, the_catalogue_beside_the_program_translates)
{
  setenv("LANG", "zh_CN", 1);
  gs_i18n_init(NULL);
  const char *t = _("The command line cannot be read.");
  /* "无法读取命令行。" */
  const char zh[] = "\xe6\x97\xa0\xe6\xb3\x95\xe8\xaf\xbb\xe5\x8f\x96"
                    "\xe5\x91\xbd\xe4\xbb\xa4\xe8\xa1\x8c\xe3\x80\x82";
  bool ok = strcmp(t, zh) == 0;
  unsetenv("LANG"); /* the other tests read English */
  setlocale(LC_MESSAGES, "C");
  cr_assert(ok, "got '%s'", t);
  cr_assert_str_eq(_("The command line cannot be read."),
                   "The command line cannot be read.", "back in English");
}
