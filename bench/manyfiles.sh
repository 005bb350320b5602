#!/bin/bash
# Peak memory (and time) of each side on a tree of many small files
# (default 1,000,000 in 1,000 directories; PRODUCT.md: under 500 MB per
# side): rsync's and tsync's one-way re-run with nothing changed, tsync's
# first two-way run on two identical trees (no baseline: every path
# compared, nothing copied, both baselines written), its two-way re-run,
# and a two-way re-run after one file in a thousand changed.
# Each side runs under GNU time through a stand-in -e. Needs about 2 x N
# inodes and 2 x 4 KiB x N of disk in the work dir.
#
# TSYNC_BENCH_KEEP=1 keeps the two trees for the next run, which reuses
# them (their .tsync state removed, so the first two-way run is a first run
# again); making a million files takes minutes.
#
# usage: bash bench/manyfiles.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000000}
work=${TSYNC_BENCH_DIR:-/tmp/tsync-bench}/manyfiles
unset NODE_EXTRA_CA_CERTS # see bench/common.mjs
if [ "$(cat "$work/made" 2>/dev/null)" = "$n" ]; then
  echo "== reusing the $n files in $work"
  cd "$work"
  rm -rf src/.tsync dst/.tsync
else
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
echo "$n" > made
fi
cat > rsh <<RSH
#!/bin/sh
shift
exec /usr/bin/time -f 'max RSS %M KB, CPU %U s user + %S s sys' -o $work/server.mem sh -c "\$*"
RSH
chmod +x rsh
# rsync's sides are measured by GNU time (the client's figure covers its
# server too: the larger RSS, the CPU of both); tsync's by bench/hwm.cjs,
# each side on its own
export TSYNC_BENCH_HWM="$work/hwm"
measure() {
  local what=$1
  shift
  rm -f hwm
  if [ "$1" = node ]; then export NODE_OPTIONS="--require $here/bench/hwm.cjs"; fi
  /usr/bin/time -f '%e s|max RSS %M KB, CPU %U s user + %S s sys' -o client.mem "$@" >/dev/null || [ $? = 40 ]
  unset NODE_OPTIONS
  local wall=$(cut -d'|' -f1 client.mem)
  if [ -f hwm ]; then
    echo "$what: $wall; $(awk '{ printf "%s: max RSS %d KB, CPU %s s user + %s s sys; ", $1, $2, $3, $4 }' hwm)"
  else
    echo "$what: $wall; both sides: $(cut -d'|' -f2 client.mem); server alone: $(cat server.mem)"
  fi
}
measure 'rsync one-way, nothing changed' rsync -a -e ./rsh src/ "x:$work/dst/"
measure 'tsync one-way, nothing changed' node "$here/bin/tsync" -e ./rsh --tsync-path "$here/bin/tsync" src/ "x:$work/dst/"
measure 'tsync two-way, first run (no baseline)' node "$here/bin/tsync" --two-way -e ./rsh --tsync-path "$here/bin/tsync" src "x:$work/dst"
measure 'tsync two-way, re-run, nothing changed' node "$here/bin/tsync" --two-way -e ./rsh --tsync-path "$here/bin/tsync" src "x:$work/dst"
# one file in a thousand rewritten on the client's side: the re-run plans
# over all three trees (both sides and the baseline), and leaves both
# trees equal again
node -e '
const fs = require("node:fs");
const n = +process.argv[1];
for (let d = 0; d < n / 1000; d++) fs.writeFileSync(`src/d${String(d).padStart(4, "0")}/f7.txt`, "changed\n");' "$n"
measure 'tsync two-way, re-run, 1 file in 1,000 changed' node "$here/bin/tsync" --two-way -e ./rsh --tsync-path "$here/bin/tsync" src "x:$work/dst"
[ "${TSYNC_BENCH_KEEP:-}" = 1 ] || rm -rf "$work"
