#!/bin/sh
# gridsync's main job, on a fresh Debian machine: install what is missing,
# build, then create a node in a temporary directory and use it as a grid
# worker would: record residents and a need, change them, show the state.
set -eu
cd "$(dirname "$0")/.."
. ./.ci/deps
gs_install_deps
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

gs=build/cli/gridsync
dir=$(mktemp -d /tmp/gridsync-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export GRIDSYNC_DIR="$dir/office"
step() { printf '\n\033[1m$ gridsync %s\033[0m\n' "$*"; }
run() { step "$@"; "$gs" "$@"; }

run init --name 青河居委会
g=gongrencun/qinghejv/g07
step put resident --scope $g name=王秀英 gender=女 birth_year:=1941 ...
w=$("$gs" put resident --scope $g name=王秀英 gender=女 birth_year:=1941 \
    building=7 unit=2 room=301 phone=13912345678 tags+=elderly \
    tags+=lives-alone)
echo "$w"
step put resident --scope $g name=李建国 ...
l=$("$gs" put resident --scope $g name=李建国 gender=男 birth_year:=1958 \
    building=7 unit=1 room=102 tags+=party-member)
echo "$l"
step put appeal --scope $g category=repair ...
a=$("$gs" put appeal --scope $g category=repair status=open \
    "description=7号楼2单元楼道灯坏了，老人晚上下楼不便" \
    "resident:={\"\$ref\":\"resident/$w\"}")
echo "$a"
run put appeal --id "$a" status=accepted assignee=物业服务站
run list resident --where tags=elderly
run get appeal "$a"
run history appeal "$a"
run status
echo
echo "(the node lived in $dir and was removed; 'gridsync --help' lists every command)"
