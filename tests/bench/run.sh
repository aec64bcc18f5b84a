#!/bin/sh
# One command for every benchmark of issues 9 and 20 (every row of
# issue 20's table, each with its goal and how far this run is from it), side by side with the
# limits (bare LMDB, libsodium, loopback TCP) and the peers (Automerge 3,
# PouchDB), printed as one table:
#
#   bash tests/bench/run.sh [--scale 10000,100000] [--peer-max 10000]
#                           [--edits 1000000] [--peer-edits 50000]
#                           [--feeds 1000] [--no-peers]
#                           [--members 40] [--members-records 100000]
#
# Installs what is missing (the build dependencies of .ci/deps, nodejs and
# npm), builds a release build in build-bench/, installs the pinned npm
# packages into tests/bench/js/node_modules, then runs bench_all.py.
# --scale 1000000 runs the million-record workloads (long); peers run at
# scales up to --peer-max (Automerge builds large documents slowly).
set -eu
cd "$(dirname "$0")/../.."
. ./.ci/deps
# node and npm: Debian's packages, unless a node with its own npm is
# already installed (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package).
command -v node >/dev/null 2>&1 || gs_packages="$gs_packages nodejs"
command -v npm >/dev/null 2>&1 || gs_packages="$gs_packages npm"
gs_install_deps

meson setup build-bench --reconfigure -Dbuildtype=release >/dev/null 2>&1 ||
  meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null

case " $* " in
*" --no-peers "*) ;;
*)
  (cd tests/bench/js && npm ci --no-audit --no-fund --loglevel=error) ;;
esac

# Nodes are sealed (issue 19): the benchmarks' nodes get a passphrase, and
# a cheap Argon2id as in the test suites (the unlock is timed on its own,
# by bench_seal's Argon2id row), unless the caller gives them.
export GRIDSYNC_PASSPHRASE="${GRIDSYNC_PASSPHRASE-gridsync-bench-passphrase}"
export GRIDSYNC_PWHASH_LIMITS="${GRIDSYNC_PWHASH_LIMITS-1,8192}"

echo "machine: $(nproc) cores; $(lscpu | sed -n 's/^Model name: *//p')"
exec python3 tests/bench/bench_all.py --build build-bench "$@"
