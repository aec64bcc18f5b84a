#!/bin/sh
# test_format_old.py against a real build of an older store format: builds
# gridsync at the last commit of store format FORMAT (2: f74a828, 3:
# 349bbfd, 4: 8ce342b, 5: 8f749f3) from this clone's history, out of the tree (in
# ${TMPDIR:-/tmp}/gridsync-formatFORMAT-COMMIT), then runs the test with it
# as GRIDSYNC_OLD (a store of that format made and loaded by it, upgraded
# by this build: at once, and killed half-way and resumed). Exit 77
# (skipped) when that commit is not in the clone (a shallow one).
#   sh tests/integration/format_old.sh FORMAT BUILD_DIR
set -eu
cd "$(dirname "$0")/../.."
format=${1:?usage: format_old.sh FORMAT [BUILD_DIR]}
build=${2:-build}
case $format in
2) old=f74a828d7e71249d7fefddf40b2d7837a0326c83 ;;
3) old=349bbfd ;;
4) old=8ce342b ;;
5) old=8f749f3 ;;
*) echo "no build of store format $format is known" >&2; exit 2 ;;
esac
if ! git cat-file -e "$old^{commit}" 2>/dev/null; then
  echo "skipped: commit $old (the last format-$format build) is not in this clone"
  exit 77
fi
old=$(git rev-parse "$old^{commit}")
where=${TMPDIR:-/tmp}/gridsync-format$format-$old
if [ ! -x "$where/build/cli/gridsync" ]; then
  rm -rf "$where"
  mkdir -p "$where/src"
  git archive "$old" | tar -x -C "$where/src"
  meson setup "$where/build" "$where/src" --buildtype=release >/dev/null
  ninja -C "$where/build" cli/gridsync
fi
GRIDSYNC=$PWD/$build/cli/gridsync GRIDSYNC_OLD=$where/build/cli/gridsync \
  GRIDSYNC_OLD_FORMAT=$format \
  GRIDSYNC_PASSPHRASE=gridsync-test-passphrase GRIDSYNC_PWHASH_LIMITS=1,8192 \
  GRIDSYNC_LOCALEDIR=$PWD/$build/po \
  python3 tests/integration/test_format_old.py -v
