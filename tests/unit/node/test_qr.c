/* node/qr.c: QR codes of invite codes, as SVG, terminal text and files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/qr.h"

Test(qr, svg_is_a_square_image_with_dark_modules)
{
  char *svg = NULL;
  size_t len = 0;
  cr_assert_eq(node_qr_svg("GS1-hello", &svg, &len), GS_OK);
  cr_assert_eq(strlen(svg), len);
  cr_assert(strncmp(svg, "<svg ", 5) == 0);
  /* Version 1 at level M is 21 modules, plus a quiet zone of 4 each side. */
  cr_assert(strstr(svg, "viewBox=\"0 0 29 29\"") != NULL, "%s", svg);
  /* The finder pattern's top-left module is dark: (4,4) with the zone. */
  cr_assert(strstr(svg, "M4 4h1v1h-1z") != NULL);
  cr_assert(strstr(svg, "M0 0h1") == NULL, "the quiet zone is light");
  free(svg);
}

Test(qr, text_rows_pair_modules_in_half_blocks)
{
  char *t = NULL;
  cr_assert_eq(node_qr_text("x", &t), GS_OK);
  int lines = 0;
  for (const char *p = t; *p; p++)
    lines += *p == '\n';
  cr_assert_eq(lines, (21 + 8 + 1) / 2);
  cr_assert(strstr(t, "\u2588") != NULL);
  free(t);
}

Test(qr, refuses_empty_too_long_and_unknown_file_kinds)
{
  char *s = NULL;
  cr_assert_eq(node_qr_svg("", &s, NULL), GS_EINVAL);
  char *big = malloc(NODE_QR_MAX + 2);
  memset(big, 'a', NODE_QR_MAX + 1);
  big[NODE_QR_MAX + 1] = '\0';
  cr_assert_eq(node_qr_svg(big, &s, NULL), GS_ETOOBIG);
  free(big);
  cr_assert_eq(node_qr_write("x", "/tmp/qr.gif", 0), GS_EINVAL);
  cr_assert_eq(node_qr_write("x", "/tmp/qr.png", 33), GS_EINVAL);
}

Test(qr, png_file_is_written_whole_and_starts_with_the_signature)
{
  char dir[] = "/tmp/gs-qr-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/code.png", dir);
  cr_assert_eq(node_qr_write("GS1-hello", path, 4), GS_OK);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  unsigned char sig[8];
  cr_assert_eq(fread(sig, 1, 8, f), 8);
  fclose(f);
  cr_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
  char part[80];
  snprintf(part, sizeof(part), "%s.part", path);
  cr_assert_neq(access(part, F_OK), 0, "no temporary file left");
  /* A directory that does not exist: an error, nothing written. */
  cr_assert_lt(node_qr_write("x", "/nonexistent-dir/q.svg", 0), 0);
  unlink(path);
  rmdir(dir);
}

/* issue 18: an invite-sized code of base32 (533 characters) takes the
 * alphanumeric mode: version 15 at level M (77 modules) for the images,
 * and fits an 80-column terminal (level L, 65 modules) when drawn. */
Test(qr, an_invite_sized_code_fits_a_terminal)
{
  static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  char code[534];
  memcpy(code, "GS1", 3);
  for (size_t i = 3; i < 533; i++)
    code[i] = b32[(i * 7 + i / 3) % 32];
  code[533] = '\0';
  char *svg = NULL, *t = NULL;
  size_t len = 0;
  cr_assert_eq(node_qr_svg(code, &svg, &len), GS_OK);
  cr_assert(strstr(svg, "viewBox=\"0 0 85 85\"") != NULL, "%.120s", svg);
  free(svg);
  cr_assert_eq(node_qr_text(code, &t), GS_OK);
  int lines = 0, cols = 0, maxcols = 0;
  for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
    if (*p == '\n') {
      lines++;
      maxcols = cols > maxcols ? cols : maxcols;
      cols = 0;
    } else if ((*p & 0xC0) != 0x80) {
      cols++; /* one column per UTF-8 character */
    }
  }
  cr_assert_leq(maxcols, NODE_QR_TERM_COLS);
  cr_assert_eq(maxcols, 65 + 8);
  cr_assert_eq(lines, (65 + 8 + 1) / 2);
  free(t);
}
