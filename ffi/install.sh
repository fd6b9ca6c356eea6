#!/usr/bin/env bash
# Builds relaykit's C library (release) and installs it, relocatably (every file finds the others
# relative to itself, so the tree can be moved or tarred: dist/build.sh packs it):
#   DIR/lib/librelaykit.so.X.Y.Z (SONAME librelaykit.so.X), librelaykit.so.X, librelaykit.so,
#   DIR/lib/librelaykit.a, DIR/include/relaykit.h, DIR/include/relaykit.hpp,
#   DIR/lib/pkgconfig/relaykit.pc, DIR/lib/cmake/relaykit/relaykitConfig{,Version}.cmake
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

major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
soname=librelaykit.so.$major
# The SONAME comes from ffi/build.rs; a library without it would break the links below.
if command -v readelf >/dev/null; then
  readelf -d "$target_dir/release/librelaykit.so" | grep -q "Library soname: \[$soname\]" ||
    { echo "librelaykit.so has no SONAME $soname (ffi/build.rs)"; exit 1; }
fi

install -d "$prefix/lib/pkgconfig" "$prefix/lib/cmake/relaykit" "$prefix/include"
install -m 0644 "$target_dir/release/librelaykit.a" "$prefix/lib/"
install -m 0755 "$target_dir/release/librelaykit.so" "$prefix/lib/librelaykit.so.$version"
ln -sf "librelaykit.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/librelaykit.so"
install -m 0644 include/relaykit.h include/relaykit.hpp "$prefix/include/"
sed -e "s|@VERSION@|$version|" -e "s|@PRIVATE_LIBS@|$private_libs|" -e "s|@URL@|$url|" \
  ffi/relaykit.pc.in > "$prefix/lib/pkgconfig/relaykit.pc"
cmake_libs=$(tr ' ' '\n' <<<"$private_libs" | grep -v '^$' | paste -sd ';' -)
for f in relaykitConfig relaykitConfigVersion; do
  sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" \
    -e "s|@CMAKE_PRIVATE_LIBS@|$cmake_libs|g" "ffi/cmake/$f.cmake.in" > "$prefix/lib/cmake/relaykit/$f.cmake"
done
echo "installed relaykit $version into $prefix"
