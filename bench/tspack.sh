#!/bin/bash
# -z against rsync -az on real package trees: the destination holds the
# published typescript 5.8.3 package, the source 5.9.2 (both from `npm pack`,
# so this one needs the npm registry); both tools over the same counting pipe
# (bench/count-rsh.mjs). Prints the bytes each way and the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${TSYNC_BENCH_DIR:-/tmp/tsync-bench}/tspack
COUNT=$here/count-rsh.mjs
mkdir -p "$work" && cd "$work"
for v in 5.8.3 5.9.2; do
  if [ ! -d ts-$v ]; then
    npm pack --silent typescript@$v >/dev/null
    mkdir -p ts-$v && tar xzf typescript-$v.tgz -C ts-$v
  fi
done
total() { awk '{print $1 + $2}' "$1"; }
for tool in rsync tsync; do
  rm -rf dst-$tool count-$tool && cp -a ts-5.8.3 dst-$tool
  if [ $tool = rsync ]; then
    COUNT_FILE=count-$tool rsync -az -e "$COUNT" ts-5.9.2/ "x:$work/dst-$tool/"
  else
    COUNT_FILE=count-$tool node "$here/bin/tsync" -z -e "$COUNT" --tsync-path "$here/bin/tsync" ts-5.9.2/ "x:$work/dst-$tool/"
  fi
  diff -r ts-5.9.2 dst-$tool >/dev/null || { echo "$tool: result differs from the source" >&2; exit 1; }
  echo "$tool: $(total count-$tool) bytes on the wire (up, down: $(cat count-$tool))"
done
echo "tsync -z / rsync -az = $(awk -v a="$(total count-tsync)" -v b="$(total count-rsync)" 'BEGIN { printf "%.3f", a / b }')"
