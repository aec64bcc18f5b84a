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
office_pid=
cleanup() {
  [ -n "$office_pid" ] && kill "$office_pid" 2>/dev/null && wait "$office_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
step() { printf '\n\033[1m[%s] $ gridsync %s\033[0m\n' "$who" "$*"; }
office() { who=office; step "$@"; "$gs" --dir "$dir/office" "$@"; }
leader() { who=leader; step "$@"; "$gs" --dir "$dir/leader" "$@"; }

# The community office creates the network; a building leader joins it.
office init --name 青河居委会
office network create 工人村街道
who=office; step invite --role leader --scope gongrencun/qinghejv/g07
code=$("$gs" --dir "$dir/office" invite --role leader \
       --scope gongrencun/qinghejv/g07 2>/dev/null)
echo "$code"
leader init --name 七号楼楼长
leader join "$code"

# The office serves (on this machine, a random port).
"$gs" --dir "$dir/office" serve --listen 127.0.0.1:0 >"$dir/serve.out" \
  2>"$dir/serve.log" &
office_pid=$!
while ! grep -q serving "$dir/serve.out" 2>/dev/null; do sleep 0.1; done
addr=$(sed -n 's/^serving on \([^ ]*\).*/\1/p' "$dir/serve.out")

# The leader records a visit and a need while offline...
g=gongrencun/qinghejv/g07
who=leader; step put resident --scope $g name=王秀英 birth_year:=1941 ...
w=$("$gs" --dir "$dir/leader" put resident --scope $g name=王秀英 gender=女 \
    birth_year:=1941 building=7 unit=2 room=301 tags+=elderly tags+=lives-alone)
echo "$w"
who=leader; step put appeal --scope $g category=repair ...
a=$("$gs" --dir "$dir/leader" put appeal --scope $g category=repair \
    status=open "description=7号楼2单元楼道灯坏了，老人晚上下楼不便" \
    "resident:={\"\$ref\":\"resident/$w\"}")
echo "$a"
# ...while the office records another resident
o=$("$gs" --dir "$dir/office" put resident --scope $g name=李建国 gender=男 \
    birth_year:=1958 building=7 unit=1 room=102 tags+=party-member)

# Back in range: one sync, both ways.
leader sync "$addr"
office put appeal --id "$a" status=accepted assignee=物业服务站
leader sync "$addr"
leader list resident --where tags=elderly
leader get appeal "$a"
leader history appeal "$a"
office status
leader status
echo
d1=$("$gs" --dir "$dir/office" --json status | sed -n 's/.*"digest": "\(.*\)".*/\1/p')
d2=$("$gs" --dir "$dir/leader" --json status | sed -n 's/.*"digest": "\(.*\)".*/\1/p')
if [ "$d1" = "$d2" ]; then
  echo "office and leader hold the same state (digest $d1)"
else
  echo "the nodes differ: $d1 / $d2" >&2
  exit 1
fi
echo "(the nodes lived in $dir and were removed; 'gridsync --help' lists every command)"
