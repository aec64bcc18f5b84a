#!/bin/sh
# The Windows build's tests (issue 22), called by .ci/run after the Linux
# build (build-ci): cross-builds with .ci/windows/build.sh (libraries
# cached), then under wine (Debian's wine64):
#   1. build-win/tests/windows/gridsync-unit-win.exe: the unit tests of
#      crdt, storage, net and node with a Criterion stand-in (which are
#      left out, and why: tests/windows/meson.build);
#   2. tests/windows/test_wine.py: Chinese paths and text, %APPDATA%, a
#      two-node sync between the Windows and the Linux build (both ways),
#      the Windows build's web app on 127.0.0.1, `ui` starting serve.
# Skipped, saying why, when wine cannot run a Windows program here.
set -eu
cd "$(dirname "$0")/../.."
linux=${1:-build-ci}/cli/gridsync
cache=${GS_WIN_CACHE:-/var/cache/gridsync-win}

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
for p in wine wine64 gettext; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    need="${need:-} $p"
done
if [ -n "${need:-}" ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends $need
fi

t0=$(date +%s)
# The libraries come from Debian's source packages over the network: when
# they cannot be had here, the Windows tests cannot run (skipped, saying
# why); gridsync's own cross build and its tests failing is a failure.
if ! sh .ci/windows/build.sh deps; then
  echo "SKIP: the Windows libraries could not be fetched or built from" \
    "Debian's source packages on this machine (see the lines above)"
  echo "windows: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
sh .ci/windows/build.sh app
sh .ci/windows/build.sh zip
echo "Windows build: $(( $(date +%s) - t0 ))s"

# One wine prefix for the run, kept with the cache (it takes a while to
# make); programs talk UTF-8, errors only.
export WINEPREFIX="$cache/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
if ! out=$(timeout 300 wine build-win/cli/gridsync.exe --version 2>&1) ||
    ! echo "$out" | grep -q '^gridsync '; then
  echo "SKIP: wine cannot run the Windows build here: $out"
  echo "windows: 0 passed, 0 failed, 1 skipped"
  exit 0
fi

# Sealed stores (issue 19) take their passphrase from here, on both sides.
export GRIDSYNC_PASSPHRASE="${GRIDSYNC_PASSPHRASE:-gridsync wine test passphrase}"
# and a cheap Argon2id for new headers, as the meson test environment has
# (tests/meson.build): each command under wine derives the key again
export GRIDSYNC_PWHASH_LIMITS="${GRIDSYNC_PWHASH_LIMITS:-1,8192}"

echo "== Windows unit tests under wine"
mo=build-win/tests/windows/locale/zh_CN/LC_MESSAGES
mkdir -p "$mo"
msgfmt -o "$mo/gridsync.mo" tests/windows/zh_CN-test.po
timeout 1800 wine build-win/tests/windows/gridsync-unit-win.exe 2>build-win/unit.log ||
  { grep -B2 -A3 FAIL build-win/unit.log >&2 || tail -n 40 build-win/unit.log >&2; exit 1; }

echo "== Windows build and Linux build under wine, on loopback"
GRIDSYNC="$linux" GRIDSYNC_EXE=build-win/cli/gridsync.exe \
  timeout 1200 python3 tests/windows/test_wine.py
