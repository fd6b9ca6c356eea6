#!/usr/bin/env bash
# Builds relaykit's C library (release) and installs it:
#   DIR/lib/librelaykit.a, DIR/lib/librelaykit.so, DIR/include/relaykit.h, DIR/include/relaykit.hpp,
#   DIR/lib/pkgconfig/relaykit.pc
# Usage: ffi/install.sh --prefix DIR   (default /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: ffi/install.sh --prefix DIR)" >&2; exit 2 ;;
  esac
done
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

cargo build --quiet --release --locked -p relaykit-ffi
meta=$(cargo metadata --quiet --format-version 1 --no-deps --locked)
field() { python3 -c 'import json,sys; m=json.load(sys.stdin); p=next(p for p in m["packages"] if p["name"]=="relaykit-ffi"); print(eval(sys.argv[1]))' "$1" <<<"$meta"; }
target_dir=$(field 'm["target_directory"]')
version=$(field 'p["version"]')
url=$(field 'p["repository"] or ""')
# The system libraries a static link needs, as rustc reports them (for Libs.private).
private_libs=$(cargo rustc --quiet --release --locked -p relaykit-ffi --lib --crate-type staticlib -- \
  --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1)

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0644 "$target_dir/release/librelaykit.a" "$prefix/lib/"
install -m 0755 "$target_dir/release/librelaykit.so" "$prefix/lib/"
install -m 0644 include/relaykit.h include/relaykit.hpp "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" -e "s|@PRIVATE_LIBS@|$private_libs|" \
  -e "s|@URL@|$url|" ffi/relaykit.pc.in > "$prefix/lib/pkgconfig/relaykit.pc"
echo "installed relaykit $version into $prefix"
