#!/bin/bash
# CPU time (user + sys) of each side, which other work on the machine
# disturbs far less than wall time, on the 20,000-file tree of
# bench/data.mjs: the one-way initial copy, the one-way re-run with nothing
# changed, and the two-way re-run with nothing changed. The server runs
# behind a stand-in -e; each side reports its own CPU time and peak RSS
# (bench/hwm.cjs); medians of RUNS runs. With PROFILE=DIR, every process also writes a V8 CPU profile
# (node --cpu-prof) to DIR/WORKLOAD/client or DIR/WORKLOAD/server;
# summarise one with `node bench/cpu-top.mjs DIR/noop/client`.
#
# usage: bash bench/cpu.sh [RUNS]      (data: TSYNC_BENCH_DIR, default /tmp/tsync-bench)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
data=${TSYNC_BENCH_DIR:-/tmp/tsync-bench}
unset NODE_EXTRA_CA_CERTS # see bench/common.mjs
[ -d "$data/small" ] || node "$here/bench/data.mjs" tree "$data" >/dev/null
work=$(mktemp -d "$data/cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
# profiles of one workload's runs, each side in its own directory
# (--cpu-prof is not allowed in NODE_OPTIONS: the wrappers pass it)
profile() {
  [ -n "${PROFILE:-}" ] || return 0
  export PROFILE_NOW="$PROFILE/$1"
  mkdir -p "$PROFILE_NOW/client" "$PROFILE_NOW/server"
}
cat > "$work/rsh" <<RSH
#!/bin/sh
shift
exec sh -c "\$*"
RSH
cat > "$work/tsync-server" <<TSYNC
#!/bin/sh
[ -n "\${PROFILE_NOW:-}" ] && exec node --cpu-prof --cpu-prof-dir="\$PROFILE_NOW/server" "$here/bin/tsync" "\$@"
exec node "$here/bin/tsync" "\$@"
TSYNC
cat > "$work/tsync" <<TSYNC
#!/bin/sh
set -- -e "$work/rsh" --tsync-path "$work/tsync-server" "\$@"
[ -n "\${PROFILE_NOW:-}" ] && exec node --cpu-prof --cpu-prof-dir="\$PROFILE_NOW/client" "$here/bin/tsync" "\$@"
exec node "$here/bin/tsync" "\$@"
TSYNC
chmod +x "$work/rsh" "$work/tsync" "$work/tsync-server"
tsync() { "$work/tsync" "$@"; }
# one run of tsync with these arguments: "client-cpu-s server-cpu-s
# client-maxrss-kb server-maxrss-kb", each side's own (bench/hwm.cjs)
one() {
  rm -f "$work/hwm"
  NODE_OPTIONS="--require $here/bench/hwm.cjs" TSYNC_BENCH_HWM="$work/hwm" "$work/tsync" "$@" >/dev/null || [ $? = 40 ]
  awk '$1 == "client" { c = $3 + $4; cm = $2 } $1 == "server" { s = $3 + $4; sm = $2 } END { print c, s, cm, sm }' "$work/hwm"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
report() {
  local what=$1 file=$2
  printf '%-40s client %5.2f s CPU, server %5.2f s CPU (medians of %d; max RSS %d / %d KB)\n' "$what" \
    "$(cut -d' ' -f1 "$file" | median)" "$(cut -d' ' -f2 "$file" | median)" "$runs" \
    "$(cut -d' ' -f3 "$file" | median)" "$(cut -d' ' -f4 "$file" | median)"
}
: > "$work/initial"
: > "$work/noop"
for _ in $(seq "$runs"); do
  rm -rf "$work/dst"
  profile initial
  one "$data/small/" "x:$work/dst/" >> "$work/initial"
  profile noop
  one "$data/small/" "x:$work/dst/" >> "$work/noop"
done
unset PROFILE_NOW
report 'one-way initial copy' "$work/initial"
report 'one-way re-run, nothing changed' "$work/noop"
# two-way: one first merge (not reported), then the quiet re-runs
cp -a "$data/small" "$work/tw-a"
tsync --two-way "$work/tw-a" "x:$work/tw-b" >/dev/null
: > "$work/twoway"
profile twoway
for _ in $(seq "$runs"); do one --two-way "$work/tw-a" "x:$work/tw-b" >> "$work/twoway"; done
report 'two-way re-run, nothing changed' "$work/twoway"
