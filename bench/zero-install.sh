#!/bin/sh
# The zero-install start (PRODUCT.md §9) and the single-file build, measured
# with hyperfine (run under `env -u NODE_EXTRA_CA_CERTS`, which otherwise
# costs every node start a certificate load):
#   1. tsync --version: bin/tsync (many modules from dist/) vs dist/tsync.mjs
#   2. a no-change push over a stdio stand-in, both sides many-module vs both
#      sides single-file
#   3. a first run against a "host" with node but no tsync (install
#      included) vs one whose cache is warm vs one with tsync installed
# Usage: npm run build && env -u NODE_EXTRA_CA_CERTS sh bench/zero-install.sh
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
W=$(mktemp -d /tmp/tsync-bench-zi-XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/src" "$W/tools" "$W/home"
ln -s "$(command -v node)" "$W/tools/node"
ln -s /bin/sh "$W/tools/sh"
i=0; while [ $i -lt 200 ]; do head -c 2000 /dev/urandom > "$W/src/f$i"; i=$((i+1)); done
cat > "$W/standin" <<SH
#!/bin/sh
shift
exec sh -c "\$*"
SH
cat > "$W/bare" <<SH
#!/bin/sh
shift
exec /usr/bin/env -i HOME=$W/home PATH=$W/tools "\$@"
SH
chmod +x "$W/standin" "$W/bare"
node bin/tsync -e "$W/standin" --tsync-path "$ROOT/bin/tsync" "$W/src/" "x:$W/dst/"

hyperfine -N --warmup 3 --runs 30 --export-markdown "$W/version.md" \
  -n many-module "node $ROOT/bin/tsync --version" \
  -n single-file "node $ROOT/dist/tsync.mjs --version"
hyperfine --warmup 2 --runs 15 --export-markdown "$W/nochange.md" \
  -n many-module "node $ROOT/bin/tsync -e $W/standin --tsync-path $ROOT/bin/tsync $W/src/ x:$W/dst/" \
  -n single-file "node $ROOT/dist/tsync.mjs -e $W/standin --tsync-path 'node $ROOT/dist/tsync.mjs' $W/src/ x:$W/dst/"
hyperfine --warmup 1 --runs 15 --export-markdown "$W/first.md" \
  -n 'no tsync, install' --prepare "rm -rf $W/home/.cache $W/d1" "node $ROOT/bin/tsync -e $W/bare $W/src/ x:$W/d1/" \
  -n 'no tsync, cached' --prepare "rm -rf $W/d1" "node $ROOT/bin/tsync -e $W/bare $W/src/ x:$W/d1/" \
  -n 'tsync installed' --prepare "rm -rf $W/d1" "node $ROOT/bin/tsync -e $W/standin --tsync-path $ROOT/bin/tsync $W/src/ x:$W/d1/"
cat "$W/version.md" "$W/nochange.md" "$W/first.md"
