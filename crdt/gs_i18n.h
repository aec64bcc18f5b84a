/*
 * gs_i18n: marking user-visible messages for translation (gettext).
 *
 * Every message a person reads (CLI output and help, refusal reasons,
 * report headers) is written in English and marked:
 *   _("text")   translated where it is used (a call to gettext);
 *   N_("text")  only marked, for static tables translated where printed.
 * The catalogue is po/zh_CN.po, text domain "gridsync"; the program
 * binds it at start (cli/main.c). Without a catalogue or under another
 * language, gettext returns the English text unchanged.
 */
#ifndef GS_I18N_H
#define GS_I18N_H

#include <libintl.h>

#define GS_TEXT_DOMAIN "gridsync"
#define _(s) dgettext(GS_TEXT_DOMAIN, s)
#define N_(s) (s)

#endif
