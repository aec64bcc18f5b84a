/* QR codes with libqrencode; see qr.h. */
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/qr.h"

#define QUIET 4

/* A QR symbol: width x width modules, dark where bit 0 of a cell is set. */
static gs_err qr_encode_at(const char *text, QRecLevel level, QRcode **out)
{
  if (text == NULL || text[0] == '\0')
    return GS_EINVAL;
  if (strlen(text) > NODE_QR_MAX)
    return GS_ETOOBIG;
  errno = 0;
  /* mixed modes: runs of digits and upper-case letters (an invite code
   * is Crockford base32) take the numeric and alphanumeric modes, the
   * rest 8-bit data; the text decodes the same (issue 18: 533 characters
   * of invite take version 15 instead of 18) */
  QRcode *q = QRcode_encodeString(text, 0, level, QR_MODE_8, 1);
  if (q == NULL)
    return errno == ENOMEM ? GS_ENOMEM : GS_ETOOBIG;
  *out = q;
  return GS_OK;
}

static gs_err qr_encode(const char *text, QRcode **out)
{
  return qr_encode_at(text, QR_ECLEVEL_M, out);
}

/* Whether module (x, y) of the symbol with its quiet zone is dark. */
static int qr_dark(const QRcode *q, int x, int y)
{
  x -= QUIET;
  y -= QUIET;
  if (x < 0 || y < 0 || x >= q->width || y >= q->width)
    return 0;
  return q->data[(size_t)y * (size_t)q->width + (size_t)x] & 1;
}

/* A growing text buffer. */
typedef struct {
  char *p;
  size_t len, cap;
  gs_err err;
} qr_buf;

static void buf_add(qr_buf *b, const char *s, size_t n)
{
  if (b->err != GS_OK)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (b->len + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->err = GS_ENOMEM;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_str(qr_buf *b, const char *s) { buf_add(b, s, strlen(s)); }

gs_err node_qr_svg(const char *text, char **out, size_t *out_len)
{
  QRcode *q = NULL;
  gs_err err = qr_encode(text, &q);
  if (err != GS_OK)
    return err;
  int size = q->width + 2 * QUIET;
  qr_buf b = {0};
  char tmp[256];
  snprintf(tmp, sizeof(tmp),
           "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
           "shape-rendering=\"crispEdges\">"
           "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path d=\"",
           size, size, size, size);
  buf_str(&b, tmp);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      if (qr_dark(q, x, y)) {
        snprintf(tmp, sizeof(tmp), "M%d %dh1v1h-1z", x, y);
        buf_str(&b, tmp);
      }
  buf_str(&b, "\" fill=\"#000\"/></svg>\n");
  QRcode_free(q);
  if (b.err != GS_OK) {
    free(b.p);
    return b.err;
  }
  *out = b.p;
  if (out_len != NULL)
    *out_len = b.len;
  return GS_OK;
}

gs_err node_qr_text(const char *text, char **out)
{
  QRcode *q = NULL;
  gs_err err = qr_encode(text, &q);
  if (err != GS_OK)
    return err;
  if (q->width + 2 * QUIET > NODE_QR_TERM_COLS) {
    /* wider than a terminal: level L, fewer modules (a screen is not
     * creased or stained as paper is) */
    QRcode *l = NULL;
    if (qr_encode_at(text, QR_ECLEVEL_L, &l) == GS_OK) {
      QRcode_free(q);
      q = l;
    }
  }
  int size = q->width + 2 * QUIET;
  qr_buf b = {0};
  /* Each character is two modules stacked: upper and lower half. A light
   * module is drawn (the block), a dark one left as the background, so the
   * code reads as dark-on-light on a terminal of light text on dark; on a
   * light terminal the inverse video keeps it so. */
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; x++) {
      int top = !qr_dark(q, x, y);
      int bottom = y + 1 < size ? !qr_dark(q, x, y + 1) : 0;
      const char *c = top && bottom ? "\u2588"
                      : top         ? "\u2580"
                      : bottom      ? "\u2584"
                                    : " ";
      buf_str(&b, c);
    }
    buf_str(&b, "\n");
  }
  QRcode_free(q);
  if (b.err != GS_OK) {
    free(b.p);
    return b.err;
  }
  *out = b.p;
  return GS_OK;
}

static int ends_with(const char *s, const char *tail)
{
  size_t n = strlen(s), m = strlen(tail);
  return n >= m && strcmp(s + n - m, tail) == 0;
}

static gs_err write_png(const QRcode *q, FILE *f, int scale)
{
  int size = (q->width + 2 * QUIET) * scale;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  if (png == NULL)
    return GS_ENOMEM;
  png_infop info = png_create_info_struct(png);
  unsigned char *row = malloc((size_t)size);
  gs_err err = GS_OK;
  if (info == NULL || row == NULL) {
    err = GS_ENOMEM;
    goto done;
  }
  if (setjmp(png_jmpbuf(png))) {
    err = -EIO;
    goto done;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < size; y++) {
    for (int x = 0; x < size; x++)
      row[x] = qr_dark(q, x / scale, y / scale) ? 0 : 255;
    png_write_row(png, row);
  }
  png_write_end(png, NULL);
done:
  png_destroy_write_struct(&png, info != NULL ? &info : NULL);
  free(row);
  return err;
}

gs_err node_qr_write(const char *text, const char *path, int scale)
{
  if (path == NULL)
    return GS_EINVAL;
  int png = ends_with(path, ".png") || ends_with(path, ".PNG");
  int svg = ends_with(path, ".svg") || ends_with(path, ".SVG");
  if (!png && !svg)
    return GS_EINVAL;
  if (scale == 0)
    scale = 8;
  if (scale < 1 || scale > 32)
    return GS_EINVAL;
  size_t n = strlen(path);
  char *tmp = malloc(n + 8);
  if (tmp == NULL)
    return GS_ENOMEM;
  snprintf(tmp, n + 8, "%s.part", path);
  QRcode *q = NULL;
  char *doc = NULL;
  size_t doc_len = 0;
  FILE *f = NULL;
  gs_err err = png ? qr_encode(text, &q) : node_qr_svg(text, &doc, &doc_len);
  if (err != GS_OK)
    goto done;
  /* 0600: an invite code carries the network key (issue 18) */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (f = fdopen(fd, "wb")) == NULL) {
    err = -errno;
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    goto done;
  }
  if (png)
    err = write_png(q, f, scale);
  else if (fwrite(doc, 1, doc_len, f) != doc_len)
    err = -EIO;
  if (fflush(f) != 0 && err == GS_OK)
    err = -errno;
  if (fclose(f) != 0 && err == GS_OK)
    err = -errno;
  f = NULL;
  if (err == GS_OK && rename(tmp, path) != 0)
    err = -errno;
  if (err != GS_OK)
    unlink(tmp);
done:
  if (q != NULL)
    QRcode_free(q);
  free(doc);
  free(tmp);
  return err;
}
