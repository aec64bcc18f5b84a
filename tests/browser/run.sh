#!/bin/bash
# The web app in a real browser: Debian's chromium driven by playwright-core
# (pinned in package-lock.json, installed here with `npm ci`; it never
# downloads a browser). Seeds a demo community, serves it on loopback
# (ports chosen by the OS) and runs the scenarios with node's own test
# runner, closing on its summary. Exit 77 (skipped) when chromium or node
# is absent: the test is then not run, and says so.
#
#   GRIDSYNC=build/cli/gridsync bash tests/browser/run.sh
#   GS_BROWSER_ONLY="$PWD/tests/browser/english.test.mjs" GRIDSYNC=... bash tests/browser/run.sh
set -u
here="$(cd "$(dirname "$0")" && pwd)"
: "${GRIDSYNC:?GRIDSYNC must name the gridsync binary}"
export GS_CHROMIUM="${GS_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$GS_CHROMIUM" ]; then
  echo "SKIP: $GS_CHROMIUM is missing; install Debian's chromium (apt-get install chromium) to run the browser tests"
  exit 77
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is missing; install Debian's nodejs and npm to run the browser tests"
    exit 77
  fi
done

cd "$here" || exit 1
# npm keeps its cache in $HOME; a bare CI environment may have none
[ -n "${HOME:-}" ] || export npm_config_cache="${TMPDIR:-/tmp}/gs-npm-cache"
if [ ! -f node_modules/playwright-core/package.json ] ||
    ! cmp -s package-lock.json node_modules/.package-lock.json.src 2>/dev/null; then
  echo "installing playwright-core with npm ci (no browser is downloaded)"
  if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error; then
    echo "npm ci failed: the browser tests cannot run" >&2
    exit 1
  fi
  cp package-lock.json node_modules/.package-lock.json.src
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/gs-browser-XXXXXX")"
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export GS_DIR="$work/office"
gs() { "$GRIDSYNC" --dir "$GS_DIR" "$@"; }
if ! { gs init --name 青河社区办公室 && gs network create 工人村街道 &&
       gs demo seed --seed 1 --until 2026-11-30; } >"$work/seed.log" 2>&1; then
  cat "$work/seed.log" >&2
  echo "could not seed the demo community" >&2
  exit 1
fi
tail -n 4 "$work/seed.log"

# not through gs(): $! must be gridsync's own pid, not a subshell's
"$GRIDSYNC" --dir "$GS_DIR" serve --listen 127.0.0.1:0 --ui 127.0.0.1:0 \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
GS_URL=""
for _ in $(seq 1 100); do
  GS_URL="$(sed -n 's|.*the app is at \(http://127\.0\.0\.1:[0-9]*/\).*|\1|p' "$work/serve.out" | head -n 1)"
  [ -n "$GS_URL" ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$GS_URL" ]; then
  cat "$work/serve.out" "$work/serve.err" >&2
  echo "gridsync serve did not print the app's address" >&2
  exit 1
fi
export GS_URL
# the address it serves peers on (the sync tests' second node dials it)
GS_PEER="$(sed -n 's|^serving on \(127\.0\.0\.1:[0-9]*\) .*|\1|p' "$work/serve.out" | head -n 1)"
export GS_PEER
echo "the app is at $GS_URL, peers at $GS_PEER (node directory $GS_DIR)"

# GS_BROWSER_ONLY: some of the scenario files only (while working on them)
if [ -n "${GS_BROWSER_ONLY:-}" ]; then
  read -r -a tests <<<"$GS_BROWSER_ONLY"
else
  tests=("$here"/*.test.mjs)
fi
node --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
rc=$?
# the server must stop cleanly (sanitizer builds report leaks here)
kill -TERM "$serve_pid"
wait "$serve_pid"
src=$?
serve_pid=""
if [ "$src" -ne 0 ]; then
  cat "$work/serve.err" >&2
  echo "gridsync serve exited $src on SIGTERM" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
