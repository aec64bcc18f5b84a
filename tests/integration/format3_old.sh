#!/bin/sh
# test_format3.py against a real format-2 build: builds gridsync at the
# last commit of store format 2 (f74a828) from this clone's history, out
# of the tree (in ${TMPDIR:-/tmp}/gridsync-format2-OLD), then runs the test with it as GRIDSYNC_OLD (a format-2
# store made and loaded by it, upgraded by this build: at once, and
# killed half-way and resumed). Exit 77 (skipped) when that commit is not
# in the clone (a shallow one).
#   sh tests/integration/format3_old.sh BUILD_DIR
set -eu
cd "$(dirname "$0")/../.."
build=${1:-build}
old=f74a828d7e71249d7fefddf40b2d7837a0326c83
if ! git cat-file -e "$old^{commit}" 2>/dev/null; then
  echo "skipped: commit $old (the last format-2 build) is not in this clone"
  exit 77
fi
where=${TMPDIR:-/tmp}/gridsync-format2-$old
if [ ! -x "$where/build/cli/gridsync" ]; then
  rm -rf "$where"
  mkdir -p "$where/src"
  git archive "$old" | tar -x -C "$where/src"
  meson setup "$where/build" "$where/src" --buildtype=release >/dev/null
  ninja -C "$where/build" cli/gridsync
fi
GRIDSYNC=$PWD/$build/cli/gridsync GRIDSYNC_OLD=$where/build/cli/gridsync \
  GRIDSYNC_PASSPHRASE=gridsync-test-passphrase GRIDSYNC_PWHASH_LIMITS=1,8192 \
  GRIDSYNC_LOCALEDIR=$PWD/$build/po \
  python3 tests/integration/test_format3.py -v
