/*
 * gs_i18n: marking user-visible messages for translation (gettext).
 *
 * Every message a person reads (CLI output and help, refusal reasons,
 * report headers) is written in English and marked:
 *   _("text")   translated where it is used (a call to gettext);
 *   N_("text")  only marked, for static tables translated where printed.
 * The format arguments of cli_fail, cli_usage, node_reason_set,
 * node_reason_for and netnode.c's logf_ are translated by those functions
 * themselves (they are
 * xgettext keywords, po/meson.build), so a literal given to them needs no
 * mark (one there does no harm). gs_strerror's table (crdt/gs_err.h) is
 * extracted too; gs_i18n_strerror is its translation, for printing.
 * The catalogue is po/zh_CN.po, text domain "gridsync"; the program
 * binds it at start (gs_i18n_init, from cli/main.c). Without a catalogue
 * or under another language, gettext returns the English text unchanged.
 */
#ifndef GS_I18N_H
#define GS_I18N_H

#include <libintl.h>
#include <locale.h>

#include "crdt/gs_err.h"

#define GS_TEXT_DOMAIN "gridsync"
#define _(s) gs_i18n_gettext(s)
#define N_(s) (s)

/* dgettext of the text domain, declared never to return NULL (so that
 * gcc, under the sanitizers, sees no null format on a checked path). */
char *gs_i18n_gettext(const char *msgid)
    __attribute__((format_arg(1), returns_nonnull));

/* setlocale(LC_ALL, "") and binds the text domain to localedir (the
 * directory holding zh_CN/LC_MESSAGES/gridsync.mo), output in UTF-8. */
void gs_i18n_init(const char *localedir);

/* gs_strerror(err) in the language of the calling thread. */
const char *gs_i18n_strerror(gs_err err);

/* An explicit language for the calling thread, whatever the process
 * locale (for a web request that asks for one): between gs_i18n_begin
 * and gs_i18n_end every _() of this thread (and so every node_reason
 * text formatted meanwhile) is in lang. lang is "zh", "zh-CN", "zh_CN"
 * or "zh-Hans..." for Chinese (it needs the system's zh_CN.UTF-8 locale;
 * without it GS_ENOTFOUND and the thread stays as it was), anything else
 * for English. The LANGUAGE environment variable, when set, still takes
 * precedence for Chinese, as gettext does. */
#ifdef _WIN32 /* msvcrt has no locale_t: begin says GS_ENOTFOUND there */
typedef struct gs_i18n_scope {
  int unused;
} gs_i18n_scope;
#else
typedef struct gs_i18n_scope {
  locale_t loc; /* owned; (locale_t)0 when begin failed */
  locale_t old;
} gs_i18n_scope;
#endif
gs_err gs_i18n_begin(gs_i18n_scope *s, const char *lang);
void gs_i18n_end(gs_i18n_scope *s);

/* msgid translated into lang (as gs_i18n_begin reads it), independent of
 * the process locale: static text, never NULL (msgid itself when there is
 * no translation or no such locale). */
const char *gs_i18n_text(const char *lang, const char *msgid);

#endif
