#!/bin/sh
# gridsync's main job, on a fresh Debian machine: install what is missing,
# build, then run a small network on this machine (loopback): a community
# office and three building leaders' laptops. The office seeds a real-sized
# community (19 buildings, 5,235 households, ~6,100 residents, a year of
# records); leaders receive their grids; some go offline and keep working;
# they come back and every node converges (equal digests), then a report.
# Everything runs in a temporary directory, stopped and removed at the end.
#
#   bash cli/demo.sh [--households N] [--ui [HOST:PORT]]
#     N from 1200: a smaller community; --ui leaves the office's web app
#     open at the end (default 127.0.0.1:7080) until Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
# The demo's nodes are sealed like real ones (issue 19), under a demo
# passphrase given the unattended way, with the real Argon2id limits.
export GRIDSYNC_PASSPHRASE="${GRIDSYNC_PASSPHRASE:-gridsync-demo-passphrase}"
households=5235
ui=
while [ $# -gt 0 ]; do
  case $1 in
    --households) households=${2:-}; shift 2 ;;
    --ui) case ${2:-} in
            *:*) ui=$2; shift 2 ;;
            *) ui=127.0.0.1:7080; shift ;;
          esac ;;
    *) echo "usage: bash cli/demo.sh [--households N] [--ui [HOST:PORT]]" >&2
       exit 2 ;;
  esac
done
case $households in
  *[!0-9]*) echo "usage: bash cli/demo.sh [--households N]" >&2; exit 2 ;;
esac
if [ "$households" -lt 1200 ] || [ "$households" -gt 50000 ]; then
  echo "demo: --households from 1200 (three grids) to 50000" >&2; exit 2
fi
. ./.ci/deps
gs_install_deps
gs_zh_locale # issue 18
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

gs=$PWD/build/cli/gridsync
dir=$(mktemp -d /tmp/gridsync-demo.XXXXXX)
root=gongrencun/qinghejv
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
step() { printf '\033[1m[%s] $ gridsync %s\033[0m\n' "$1" "$(shift; echo "$*")"; }
# on NODE ARGS...: run a command on a node, showing it
on() { n=$1; shift; step "$n" "$@"; "$gs" --dir "$dir/$n" "$@"; }
# q NODE ARGS...: run quietly, print stdout only
q() { n=$1; shift; "$gs" --dir "$dir/$n" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
digest() { q "$1" --json status --scope "$2" | json 'd["digest"]'; }
serve() { # serve NODE [--peer ADDR]: start in the background, wait for it
  n=$1; shift
  # its address is read from its first line: in the words of LC_ALL=C
  # whatever the language of the rest of the demo
  LC_ALL=C LANGUAGE= "$gs" --dir "$dir/$n" serve --listen 127.0.0.1:0 \
    --gossip-ms 2000 "$@" >"$dir/$n.out" 2>"$dir/$n.log" &
  pids="$pids $!"
  eval "pid_$n=$!"
  while ! grep -q serving "$dir/$n.out" 2>/dev/null; do sleep 0.1; done
}
stop() { eval "p=\$pid_$1"; kill "$p"; wait "$p" 2>/dev/null || true; }
# wait_equal A B SCOPE: until A and B hold the same state under SCOPE
wait_equal() {
  i=0
  while [ "$(digest "$1" "$3")" != "$(digest "$2" "$3")" ]; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then echo "$1 and $2 did not converge" >&2; exit 1; fi
    sleep 0.2
  done
}

say "The community office creates the network and invites three leaders"
on office init --name 青河居委会
on office network create 工人村街道
for k in 1 2 3; do
  code=$(q office invite --role leader --scope $root/g0$k 2>/dev/null)
  on leader$k init --name "${k}号网格楼长"
  on leader$k join "$code" >/dev/null
done

say "The office seeds the community: a year of records"
on office demo seed --seed 7 --households "$households"

say "The office serves; leaders connect and receive their grids"
if [ -n "$ui" ]; then serve office --ui "$ui"; else serve office --no-ui; fi
addr=$(sed -n 's/^serving on \([^ ]*\).*/\1/p' "$dir/office.out")
echo "office listening on $addr"
for k in 1 2 3; do on leader$k sync "$addr"; done
serve leader1 --no-ui --peer "$addr"   # leader 1 stays connected: live updates
on leader2 resident find 王 --tag lives-alone --limit 3

say "Leaders 2 and 3 go out knocking on doors, offline"
g2=$root/g02
g3=$root/g03
appeal=$(q leader2 --json appeal list --scope $g2 --status resolved --limit 1 |
         json 'd[0]["id"]')
vol=$(q leader2 --json timebank balances --scope $g2 |
      json 'max(d, key=lambda a: a["balance"])["id"]')
hours=$(q leader2 --json timebank balance "$vol" | json 'd["balance"]')
on leader2 appeal reopen "$appeal" --note 修好后又漏水了
on leader2 timebank spend "$vol" "$hours" --note 兑换理发服务
res=$(q leader3 --json resident list --scope $g3 --limit 1 | json 'd[0]["id"]')
hh=$(q leader3 --json resident show "$res" |
     json 'd["fields"]["household"]["$ref"].split("/")[1]')
on leader3 visit add --by 3号网格楼长 --household "$hh" --resident "$res" \
  --finding hazard --followup 联系物业清理 "楼道堆放杂物，存在消防隐患"
on leader3 appeal open --category safety --resident "$res" \
  "楼道堆放杂物，存在消防隐患"

say "Meanwhile the office works on the same records"
on office appeal close "$appeal" --feedback satisfied
on office timebank spend "$vol" "$hours" --note 兑换家电维修
a1=$(q leader1 appeal open --category repair --scope $root/g01 \
     "1号楼单元门禁坏了")
step leader1 appeal open --category repair ... "1号楼单元门禁坏了"
echo "$a1"
wait_equal office leader1 $root/g01
on office appeal accept "$a1"
wait_equal office leader1 $root/g01
on leader1 appeal show "$a1"

say "Leaders 2 and 3 come back in range"
on leader2 sync "$addr"
on leader3 sync "$addr"
on leader2 appeal show "$appeal"
on leader2 history appeal "$appeal"
on office timebank balance "$vol"
on office status --scope $g2

say "Every node holds the same state for what it keeps"
fail=0
for k in 1 2 3; do
  a=$(digest office $root/g0$k)
  b=$(digest leader$k $root/g0$k)
  if [ "$a" = "$b" ]; then s=equal; else s=DIFFERENT; fail=1; fi
  echo "grid g0$k  office $a  leader$k $b  $s"
done
[ $fail = 0 ] || { echo "the nodes differ" >&2; exit 1; }

say "The figures the office publishes (since 2026-01-01; --json for machines)"
on office report --since 2026-01-01
on leader2 report --scope $g2

if [ -n "$ui" ]; then
  stop leader1
  say "The office's web app is open: http://$ui/"
  cat <<EOF
Open http://$ui/ in a browser on this computer. Click
  居民          to find a resident (type part of a name or a phone) and add one;
  诉求与微心愿  to see the appeals by status and move one on (受理, 交办, 办结, 关闭);
  时间银行      to record volunteer hours (存入工时) or spend them;
  报表          for the figures per grid, and 打印 to print them.
Changes made here reach the leaders' nodes when they sync. Stop with Ctrl-C.
EOF
  while kill -0 "$pid_office" 2>/dev/null; do sleep 1; done
  exit 0
fi

say "Stopping everything"
stop leader1
stop office
echo "(the nodes lived in $dir and were removed; 'gridsync --help' lists every command)"
