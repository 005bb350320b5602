#!/bin/bash
# Peak memory of each side on a 10 GiB file (sparse source, data at a few
# places): a whole copy, then a delta after an edit past 8 GiB. The server
# runs under GNU time through a stand-in -e, the client too; prints each
# side's maximum resident set size. Needs about 21 GiB free in the work dir.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${TSYNC_BENCH_DIR:-/tmp/tsync-bench}/bigmem
GIB=$((1024 * 1024 * 1024))
rm -rf "$work" && mkdir -p "$work/src"
cd "$work"
f=src/huge.img
poke() { for off in "$@"; do dd if=/dev/urandom of=$f bs=1M count=1 seek=$((off / 1048576)) conv=notrunc status=none; done; }
truncate -s $((10 * GIB)) $f
poke 0 $((3 * GIB)) $((7 * GIB)) $((10 * GIB - 1048576))
touch -d @1600000000 $f
cat > rsh <<RSH
#!/bin/sh
shift
exec /usr/bin/time -f 'server max RSS %M KB' -o $work/server.mem sh -c "\$*"
RSH
chmod +x rsh
run() {
  /usr/bin/time -f 'client max RSS %M KB, %e s' -o client.mem node "$here/bin/tsync" --stats -e ./rsh --tsync-path "$here/bin/tsync" "$@" src/ "x:$work/dst/" | grep -E 'Literal|Matched'
  cat client.mem server.mem
}
echo "== whole copy of a 10 GiB file (push)"
run
poke $((8 * GIB + 12345 * 4096))
touch -d @1600000100 $f
echo "== delta after an edit past 8 GiB (push)"
run
cmp src/huge.img dst/huge.img && echo identical
rm -rf "$work"
