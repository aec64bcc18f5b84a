#!/bin/sh
# The Windows zip (and installer) from a cross build (issue 22):
#   .ci/windows/package.sh BUILD_DIR
# BUILD_DIR/gridsync-windows-x86_64.zip holds gridsync.exe (static: it
# needs no DLL but Windows' own), start-gridsync.bat (starts the node and
# opens the web app), README-zh.txt and README-en.txt, and
# locale/zh_CN/LC_MESSAGES/gridsync.mo when po/zh_CN.po exists; with Debian's nsis,
# BUILD_DIR/gridsync-windows-x86_64-setup.exe installs the same for the
# user (no administrator) with a Start menu shortcut.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
b=$(cd "$1" && pwd)
stage="$b/zip/gridsync"
rm -rf "$b/zip" "$b/gridsync-windows-x86_64.zip"
mkdir -p "$stage"
x86_64-w64-mingw32-strip -o "$stage/gridsync.exe" "$b/cli/gridsync.exe"
# Windows' Notepad and cmd want CRLF lines.
for f in start-gridsync.bat README-zh.txt README-en.txt; do
  sed 's/$/\r/' "$here/$f" >"$stage/$f"
done
# The Chinese catalogue, when the tree has one (issue 18), beside the exe
# where gs_win_bind_catalogue looks.
if [ -f "$here/../../po/zh_CN.po" ] && command -v msgfmt >/dev/null 2>&1; then
  mkdir -p "$stage/locale/zh_CN/LC_MESSAGES"
  msgfmt -o "$stage/locale/zh_CN/LC_MESSAGES/gridsync.mo" "$here/../../po/zh_CN.po"
fi
# Which DLLs it imports: Windows' own only (checked, so a change that
# needs a DLL shows here rather than on a laptop).
x86_64-w64-mingw32-objdump -p "$stage/gridsync.exe" |
  awk '/DLL Name:/ {print tolower($3)}' | sort -u >"$b/zip/dlls.txt"
if grep -v -E '^(advapi32|iphlpapi|kernel32|shell32|user32|userenv|ws2_32|msvcrt|ole32|psapi|dbghelp|bcrypt|crypt32)\.dll$' \
    "$b/zip/dlls.txt"; then
  echo "gridsync.exe needs the DLLs above, which are not Windows' own" >&2
  exit 1
fi
(cd "$b/zip" && zip -q -r -X "$b/gridsync-windows-x86_64.zip" gridsync)
echo "$b/gridsync-windows-x86_64.zip"
if command -v makensis >/dev/null 2>&1; then
  makensis -V2 -DSTAGE="$stage" -DOUT="$b/gridsync-windows-x86_64-setup.exe" \
    "$here/gridsync.nsi" >/dev/null
  echo "$b/gridsync-windows-x86_64-setup.exe"
fi
