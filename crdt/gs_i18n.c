#include "crdt/gs_i18n.h"

#include <stdbool.h>
#include <string.h>

char *gs_i18n_gettext(const char *msgid)
{
  char *t = dgettext(GS_TEXT_DOMAIN, msgid);
  return t ? t : (char *)msgid;
}

void gs_i18n_init(const char *localedir)
{
#ifdef _WIN32 /* catalogues beside the exe (win/gs_win.c); ctype stays "C":
               * msvcrt's would be CP936 on a Chinese Windows */
  (void)localedir;
  gs_win_bind_catalogue(GS_TEXT_DOMAIN);
  return;
#endif
  setlocale(LC_ALL, "");
  if (localedir && *localedir)
    bindtextdomain(GS_TEXT_DOMAIN, localedir);
  bind_textdomain_codeset(GS_TEXT_DOMAIN, "UTF-8");
}

const char *gs_i18n_strerror(gs_err err)
{
  return _(gs_strerror(err));
}

#ifdef _WIN32
/* No per-thread locale in msvcrt (no newlocale/uselocale): a web request's
 * language is not honoured; the process's language is used. */
gs_err gs_i18n_begin(gs_i18n_scope *s, const char *lang)
{
  (void)lang;
  s->unused = 0;
  return GS_ENOTFOUND;
}

void gs_i18n_end(gs_i18n_scope *s)
{
  (void)s;
}
#else
static bool is_chinese(const char *lang)
{
  return lang && lang[0] == 'z' && lang[1] == 'h' &&
         (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_');
}

gs_err gs_i18n_begin(gs_i18n_scope *s, const char *lang)
{
  static const char *const zh[] = {"zh_CN.UTF-8", "zh_CN.utf8", "zh_CN"};
  s->loc = (locale_t)0;
  s->old = (locale_t)0;
  if (is_chinese(lang)) {
    for (size_t i = 0; i < sizeof zh / sizeof zh[0] && !s->loc; i++)
      s->loc = newlocale(LC_MESSAGES_MASK | LC_CTYPE_MASK, zh[i], (locale_t)0);
  } else {
    s->loc = newlocale(LC_MESSAGES_MASK, "C", (locale_t)0);
  }
  if (!s->loc)
    return GS_ENOTFOUND;
  s->old = uselocale(s->loc);
  return GS_OK;
}

void gs_i18n_end(gs_i18n_scope *s)
{
  if (!s->loc)
    return;
  uselocale(s->old);
  freelocale(s->loc);
  s->loc = (locale_t)0;
}
#endif

const char *gs_i18n_text(const char *lang, const char *msgid)
{
  gs_i18n_scope s;
  if (gs_i18n_begin(&s, lang) != GS_OK)
    return msgid;
  const char *t = _(msgid);
  gs_i18n_end(&s);
  return t;
}
