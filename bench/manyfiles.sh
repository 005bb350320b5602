#!/bin/bash
# Peak memory (and time) of each side on a tree of many small files
# (default 1,000,000 in 1,000 directories; PRODUCT.md: under 500 MB per
# side): rsync's and tsync's one-way re-run with nothing changed, tsync's
# first two-way run on two identical trees (no baseline: every path
# compared, nothing copied, both baselines written) and its two-way re-run.
# Each side runs under GNU time through a stand-in -e. Needs about 2 x N
# inodes and 2 x 4 KiB x N of disk in the work dir.
#
# usage: bash bench/manyfiles.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000000}
work=${TSYNC_BENCH_DIR:-/tmp/tsync-bench}/manyfiles
unset NODE_EXTRA_CA_CERTS # see bench/common.mjs
rm -rf "$work" && mkdir -p "$work"
cd "$work"
echo "== making $n files in $((n / 1000)) directories"
node -e '
const fs = require("node:fs");
const n = +process.argv[1];
for (let d = 0; d < n / 1000; d++) {
  const dir = `src/d${String(d).padStart(4, "0")}`;
  fs.mkdirSync(dir, { recursive: true });
  for (let f = 0; f < 1000; f++) fs.writeFileSync(`${dir}/f${f}.txt`, `file ${d}/${f}\n`);
}' "$n"
cp -a src dst
cat > rsh <<RSH
#!/bin/sh
shift
exec /usr/bin/time -f 'server: max RSS %M KB' -o $work/server.mem sh -c "\$*"
RSH
chmod +x rsh
measure() {
  local what=$1
  shift
  /usr/bin/time -f 'client: max RSS %M KB, %e s' -o client.mem "$@" >/dev/null || [ $? = 40 ]
  echo "$what: $(cat client.mem); $(cat server.mem)"
}
measure 'rsync one-way, nothing changed' rsync -a -e ./rsh src/ "x:$work/dst/"
measure 'tsync one-way, nothing changed' node "$here/bin/tsync" -e ./rsh --tsync-path "$here/bin/tsync" src/ "x:$work/dst/"
measure 'tsync two-way, first run (no baseline)' node "$here/bin/tsync" --two-way -e ./rsh --tsync-path "$here/bin/tsync" src "x:$work/dst"
measure 'tsync two-way, re-run, nothing changed' node "$here/bin/tsync" --two-way -e ./rsh --tsync-path "$here/bin/tsync" src "x:$work/dst"
rm -rf "$work"
