#!/bin/sh
# The Debian package, built from the tree and checked as a person would
# get it (issue 21): dpkg-buildpackage on a copy of the tree, the
# contents (dpkg-deb -c), lintian (errors fail; warnings are printed),
# an install, the installed binary (--version, init/put/get), the man
# page naming every command of --help, and systemd-analyze verify on the
# unit.
#
# The install goes into a throwaway root (dpkg --root, maintainer
# scripts run chrootless), so the machine is left as it was; with
# GS_PACKAGE_INSTALL=1 and root (.ci/run on its throwaway CI machine) the
# package is also installed for real with dpkg -i, the system user
# checked, and /usr/bin/gridsync run.
#
# Exit 0 passed, 1 failed, 77 skipped (a tool is missing: says which).
#   tests/package/test_package.sh [SOURCE_DIR]
set -eu

say() { echo "test_package: $*"; }
fail() { say "FAIL: $*" >&2; exit 1; }
skip() { say "SKIP: $*"; exit 77; }

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
for t in dpkg-buildpackage dh lintian dpkg-deb dpkg-checkbuilddeps; do
  command -v "$t" >/dev/null 2>&1 ||
    skip "$t is missing (apt-get install debhelper lintian)"
done
unmet=$(cd "$src" && dpkg-checkbuilddeps 2>&1) ||
  skip "build dependencies missing: $unmet"

work=$(mktemp -d "${TMPDIR:-/tmp}/gs-package.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# A copy of the tree: the package's build writes into its source
# directory and its parent.
mkdir "$work/gridsync"
tar -C "$src" --exclude=./.git --exclude=./build --exclude='./build-*' \
  --exclude='./obj-*' --exclude=./tests/browser/node_modules \
  --exclude=./debian/gridsync --exclude=./debian/.debhelper -cf - . |
  tar -C "$work/gridsync" -xf -

say "dpkg-buildpackage -us -uc -b (nocheck, parallel=2)"
if ! (cd "$work/gridsync" &&
      DEB_BUILD_OPTIONS="nocheck parallel=2" nice dpkg-buildpackage \
        -us -uc -b >"$work/build.log" 2>&1); then
  tail -40 "$work/build.log" >&2
  fail "dpkg-buildpackage failed"
fi
deb=$(ls "$work"/gridsync_*.deb)
[ -f "$deb" ] || fail "no .deb was built"

# ---- contents ----
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$work/contents"
need() {
  grep -qx "$1" "$work/contents" || fail "the package lacks $1"
}
need /usr/bin/gridsync
need /usr/share/man/man1/gridsync.1.gz
need /usr/share/man/zh_CN/man1/gridsync.1.gz
need /lib/systemd/system/gridsync.service
need /usr/share/applications/gridsync.desktop
need /usr/lib/sysusers.d/gridsync.conf
# the Chinese catalogue, once the tree has one (po/ with meson's i18n)
if ls "$src"/po/zh_CN.po >/dev/null 2>&1; then
  need /usr/share/locale/zh_CN/LC_MESSAGES/gridsync.mo
else
  say "no po/zh_CN.po in the tree yet: the catalogue is not checked"
fi
say "contents: $(wc -l <"$work/contents") entries, the expected files there"

# ---- lintian: errors fail, the rest is shown ----
lintian --fail-on error --display-info "$deb" >"$work/lintian" 2>&1 ||
  { cat "$work/lintian" >&2; fail "lintian reports errors"; }
grep -v '^running with root privileges' "$work/lintian" || true
say "lintian: no errors"

# ---- the man page names every command of --help ----
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
# the host's package database, so that dependencies are checked
cp /var/lib/dpkg/status "$root/var/lib/dpkg/status"
# the postinst makes the relay's user (systemd-sysusers --root): the root
# needs the account files it edits (the host's passwd and group, so that
# ids do not clash; empty shadow files, never the host's)
cp /etc/passwd /etc/group "$root/etc/"
: >"$root/etc/shadow"
: >"$root/etc/gshadow"
dpkg --root="$root" --force-script-chrootless --force-not-root \
  -i "$deb" >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log" >&2; fail "dpkg -i into a throwaway root failed"; }
gs="$root/usr/bin/gridsync"
ver=$("$gs" --version) || fail "the installed gridsync --version failed"
case "$ver" in "gridsync "*) ;; *) fail "--version said '$ver'" ;; esac
say "installed (throwaway root): $ver"

for page in man1/gridsync.1.gz zh_CN/man1/gridsync.1.gz; do
  man1="$work/page.1"
  gzip -dc "$root/usr/share/man/$page" >"$man1"
  missing=""
  for c in $("$gs" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    grep -q "\\\\fB$c\\b\|^\.B $c\\b\|^\.BR .*\\b$c\\b\|^\.B $c\$" "$man1" ||
      missing="$missing $c"
  done
  [ -z "$missing" ] || fail "the man page $page does not describe:$missing"
done
say "the man pages (English, Chinese) name every command of --help"

# ---- run it: init, put, get in a temp directory ----
run_node() {
  bin=$1 d="$work/node-$2"
  export GRIDSYNC_PASSPHRASE="${GRIDSYNC_PASSPHRASE:-package test}"
  "$bin" --dir "$d" init --name pkg >/dev/null ||
    fail "$bin init failed"
  id=$("$bin" --dir "$d" put x_note --scope gongrencun text=你好) ||
    fail "$bin put failed"
  "$bin" --dir "$d" --json get x_note "$id" | grep -q '你好' ||
    fail "$bin get did not give the record back"
  "$bin" --dir "$d" doctor >/dev/null || fail "$bin doctor found problems"
  # a sealed backup, restored as a new node that opens with the same
  # passphrase and holds the record
  "$bin" --dir "$d" backup "$d.gsb" >/dev/null || fail "$bin backup failed"
  "$bin" restore "$d.gsb" "$d-restored" >/dev/null ||
    fail "$bin restore failed"
  "$bin" --dir "$d-restored" --json get x_note "$id" | grep -q '你好' ||
    fail "the restored node lacks the record"
}
run_node "$gs" root
say "init/put/get/doctor/backup/restore with the installed binary"

# ---- the unit ----
if command -v systemd-analyze >/dev/null 2>&1; then
  unit="$work/gridsync.service"
  # the unit as installed, its binary where this test installed it
  sed "s|/usr/bin/gridsync|$gs|" "$root/lib/systemd/system/gridsync.service" \
    >"$unit"
  systemd-analyze verify --man=no "$unit" ||
    fail "systemd-analyze verify reports problems in the unit"
  say "systemd-analyze verify: clean"
else
  say "systemd-analyze is missing (apt-get install systemd): unit not verified"
fi

# ---- for real, on a throwaway machine ----
if [ "${GS_PACKAGE_INSTALL:-0}" = 1 ] && [ "$(id -u)" -eq 0 ]; then
  dpkg -i "$deb" >"$work/dpkg-real.log" 2>&1 ||
    { cat "$work/dpkg-real.log" >&2; fail "dpkg -i failed"; }
  [ "$(/usr/bin/gridsync --version)" = "$ver" ] ||
    fail "/usr/bin/gridsync --version differs"
  run_node /usr/bin/gridsync real
  if command -v systemd-sysusers >/dev/null 2>&1; then
    getent passwd gridsync >/dev/null ||
      fail "the postinst did not create the gridsync user"
  fi
  if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --man=no /lib/systemd/system/gridsync.service ||
      fail "systemd-analyze verify on the installed unit"
  fi
  say "installed for real with dpkg -i; /usr/bin/gridsync runs"
fi
say "passed"
