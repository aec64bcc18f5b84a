#!/bin/sh
# Runner of the interop suite (meson test --suite interop):
#
#   sh tests/interop/run.sh INTEROP_PEER_EXE WORK_DIR
#
# Copies the pinned npm project (package.json, package-lock.json,
# interop.js) into WORK_DIR (in the build tree), installs it there with
# `npm ci` (from npm's cache when it has the packages, else from the
# registry), then runs interop.js against the C side. Fails, saying why,
# when node or npm is missing or npm cannot install: never a silent pass.
set -eu
exe=$1
work=$2
src=$(cd "$(dirname "$0")" && pwd)
fail() {
  echo "interop: $*" >&2
  echo "interop: 0 passed, 1 failed"
  exit 1
}
command -v node >/dev/null 2>&1 ||
  fail "node is not installed: install Debian's nodejs (.ci/deps does)"
command -v npm >/dev/null 2>&1 ||
  fail "npm is not installed: install Debian's npm (.ci/deps does)"
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/interop.js" "$work/"
# npm ci checks every package against the lock file's integrity hashes.
if ! (cd "$work" && npm ci --prefer-offline --no-audit --no-fund \
      --loglevel=error >npm-ci.log 2>&1); then
  cat "$work/npm-ci.log" >&2
  fail "npm ci could not install the pinned packages (no registry and no cache?): the XXpsk0 interop test did not run"
fi
cd "$work"
exec node interop.js "$exe"
