#!/usr/bin/env python3
"""Embed the app's static files in the binary: writes a C file defining
web__files (web/web_internal.h) from the files named on the command line.

    embed.py OUT.c DIR FILE...
"""
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json; charset=utf-8",
}


def main():
    out, base, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    lines = ['/* Made by web/embed.py from web/static: do not edit. */',
             '#include "web/web_internal.h"', '']
    entries = []
    for i, path in enumerate(sorted(files)):
        rel = "/" + os.path.relpath(path, base).replace(os.sep, "/")
        ext = os.path.splitext(path)[1]
        if ext not in TYPES:
            sys.exit("embed.py: no content type for %s" % path)
        data = open(path, "rb").read()
        body = ",".join(str(b) for b in data)
        lines.append("static const unsigned char f%d[] = {%s};" % (i, body or "0"))
        entries.append('  {"%s", "%s", f%d, %d},' % (rel, TYPES[ext], i, len(data)))
    lines.append("const web_file web__files[] = {")
    lines += entries
    lines.append("};")
    lines.append("const size_t web__nfiles = %d;" % len(entries))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
