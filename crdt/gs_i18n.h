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

#if defined(_WIN32) && !defined(GS_HAVE_LIBINTL)
/* A Windows build without libintl (GS_HAVE_LIBINTL unset; the CI's has it,
 * docs/WINDOWS.md): the English text. */
#define gettext(s) ((char *)(s))
#define dgettext(d, s) ((void)(d), (char *)(s))
#define ngettext(s, p, n) ((n) == 1 ? (char *)(s) : (char *)(p))
#define dngettext(d, s, p, n) ((void)(d), ngettext(s, p, n))
#define textdomain(d) ((char *)(d))
#define bindtextdomain(d, dir) ((void)(dir), (char *)(d))
#define bind_textdomain_codeset(d, c) ((void)(c), (char *)(d))
#else
#include <libintl.h>
#endif

#define GS_TEXT_DOMAIN "gridsync"
#define _(s) dgettext(GS_TEXT_DOMAIN, s)
#define N_(s) (s)

#endif
