/*
 * QR codes of invite codes and node ids (libqrencode), for a terminal, a
 * web page (SVG) and a file to print or send (PNG or SVG).
 *
 * Every function encodes text at error correction level M with a quiet
 * zone of four modules, runs of digits and upper-case letters in the
 * numeric and alphanumeric modes and the rest as 8-bit data (the text
 * decodes unchanged); text longer than NODE_QR_MAX bytes is refused with
 * GS_ETOOBIG. The terminal drawing takes level L when level M would be
 * wider than NODE_QR_TERM_COLS columns (a 533-character invite code: 73
 * columns and 37 lines instead of 85 and 43).
 */
#ifndef NODE_QR_H
#define NODE_QR_H

#include <stddef.h>

#include "crdt/gs_err.h"

#define NODE_QR_MAX 2048
#define NODE_QR_TERM_COLS 80

/* An SVG image of text's QR code, one path of unit squares scaled by the
 * viewer. On success *out (caller frees) holds *out_len bytes plus a NUL. */
gs_err node_qr_svg(const char *text, char **out, size_t *out_len);

/* text's QR code drawn with UTF-8 half blocks, two modules per character
 * row, dark on a light background (for a terminal with dark text on
 * light or light on dark: the quiet zone is drawn as light). *out
 * (caller frees) is NUL-terminated, one line per row pair. */
gs_err node_qr_text(const char *text, char **out);

/* Writes text's QR code to path, as PNG when path ends in ".png" and as
 * SVG when it ends in ".svg" (otherwise GS_EINVAL); a PNG has `scale`
 * pixels per module (1..32; 0 means 8). The file is written to a
 * temporary name and renamed, so a failure leaves no half file; it is
 * made readable by its owner only (0600: an invite code is a secret). */
gs_err node_qr_write(const char *text, const char *path, int scale);

#endif
