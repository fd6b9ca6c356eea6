#!/usr/bin/env bash
# Installs each artifact of dist/ (dist/build.sh) the way its users would, with no Rust toolchain
# on PATH and no network index, and runs the binding's README example against the local test
# servers ($RELAYKIT_STATE/servers.env, written by tests/servers/start.sh):
#   Python  the wheel into an empty venv (pip --no-index), then the README example; the sdist
#           into another venv, built from source (this one needs Rust: it is the sdist's point)
#   Node    both npm tarballs into an empty project (npm --offline), the README example as ESM
#           and a require() from CommonJS; the main tarball alone fails naming the platform
#   C/C++   the SDK tarball extracted to a temporary prefix; the examples built with CMake
#           find_package(relaykit CONFIG REQUIRED) (shared and static) and with pkg-config, run
# Usage: bash dist/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=$ROOT/dist
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
STATE=${RELAYKIT_STATE:-$ROOT/tests/.state}
SERVERS_ENV=$STATE/servers.env
[ -f "$SERVERS_ENV" ] || { echo "dist/check.sh: no $SERVERS_ENV: start the servers (bash tests/servers/start.sh)"; exit 1; }
V=$(python3 dist/versions.py --print)
python3 dist/versions.py --built "$DIST"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n==> dist check: %s\n' "$*"; }
sv() { sed -n "s/^$1=//p" "$SERVERS_ENV"; }
# A user's machine: system PATH only (cargo and rustc live in ~/.cargo/bin), no Rust variables.
as_user() {
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$WORK/home" npm_config_update_notifier=false \
    SMTP_HOST="$(sv RK_HOST)" SMTP_PORT="$(sv RK_DOVECOT_STARTTLS_PORT)" SMTP_CA_FILE="$(sv RK_CA_FILE)" \
    SMTP_USER="$(sv RK_USER)" SMTP_PASSWORD="$(sv RK_PASS)" SMTP_TO="$(sv RK_RCPT)" "$@"
}
mkdir -p "$WORK/home"
as_user sh -c '! command -v cargo && ! command -v rustc' >/dev/null ||
  { echo "dist/check.sh: cargo is on the system PATH, so 'no Rust toolchain' cannot be shown"; exit 1; }
example() { # README LANG OUT: the block after the "run by run_tests.sh" marker
  awk -v lang="$2" '/<!-- example: run by run_tests.sh -->/ {m=1; next} m && $0 == "```" lang {p=1; next} p && /^```$/ {exit} p' "$1" > "$3"
  [ -s "$3" ] || { echo "no $2 example block in $1"; exit 1; }
}

step "Python: the wheel into an empty venv, offline, then the README example"
PY=$(python3 -c 'import sys; print(sys.executable)')
wheel=$(ls "$DIST"/relaykit-"$V"-*.whl)
"$PY" -m venv "$WORK/venv"
as_user "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
example bindings-python/README.md python "$WORK/example.py"
(cd "$WORK" && as_user "$WORK/venv/bin/python" example.py) | tail -3
as_user "$WORK/venv/bin/python" - <<'PY'
import importlib.metadata as md, pathlib
dist = md.distribution("relaykit")
names = {pathlib.PurePath(str(f)).name for f in dist.files or []}
missing = {"LICENSE-MIT", "LICENSE-APACHE"} - names
assert not missing, f"the wheel lacks {missing}"
print("wheel", dist.version, "carries", sorted(n for n in names if n.startswith("LICENSE")))
PY

step "Python: the sdist builds from source (with Rust) and imports"
# A debug build sharing the workspace's target directory: this proves the sdist is complete,
# not how fast a release build is (the wheel above is the release build).
"$PY" -m venv "$WORK/venv-sdist"
CARGO_TARGET_DIR=$TARGET MATURIN_PEP517_ARGS="--profile dev" \
  "$WORK/venv-sdist/bin/pip" install --quiet --disable-pip-version-check "$DIST/relaykit-$V.tar.gz"
"$WORK/venv-sdist/bin/python" -c 'import relaykit; p = relaykit.Profile("smtp.example.com", encrypted_connection=True); assert p.effective_port == 465; print("sdist build imports:", relaykit.__name__, p.effective_port)'

step "Node: both tarballs into an empty project, offline, then the README example"
mkdir "$WORK/node-app"
(cd "$WORK/node-app" && as_user npm init -y >/dev/null &&
  as_user npm install --offline --no-audit --no-fund --loglevel=error \
    "$DIST/relaykit-$V.tgz" "$DIST/relaykit-linux-x64-gnu-$V.tgz")
example bindings-node/README.md js "$WORK/node-app/example.mjs"
(cd "$WORK/node-app" && as_user node example.mjs) | tail -3
(cd "$WORK/node-app" && as_user node -e 'const rk = require("relaykit"); const p = new rk.Profile({server: "smtp.example.com", encryptedConnection: true}); if (p.effectivePort !== 465) process.exit(1); console.log("CommonJS require works, port", p.effectivePort)')

step "Node: the main package without its platform package fails naming the platform"
mkdir "$WORK/node-bare"
(cd "$WORK/node-bare" && as_user npm init -y >/dev/null &&
  as_user npm install --offline --omit=optional --no-audit --no-fund --loglevel=error "$DIST/relaykit-$V.tgz")
set +e
msg=$(cd "$WORK/node-bare" && as_user node -e 'require("relaykit")' 2>&1)
rc=$?
set -e
if [ "$rc" -eq 0 ] || [[ "$msg" != *"native addon for linux-x64-gnu is not installed"*"relaykit-linux-x64-gnu@$V"* ]]; then
  echo "expected a clear error naming the platform package, got rc=$rc: $msg"; exit 1
fi
echo "ok: $(grep -m1 -o 'relaykit: the native addon[^:]*' <<<"$msg")"

step "C/C++: the SDK tarball, CMake find_package (shared, static) and pkg-config"
tar -xzf "$DIST/relaykit-$V-linux-x86_64.tar.gz" -C "$WORK"
SDK=$WORK/relaykit-$V-linux-x86_64
readelf -d "$SDK/lib/librelaykit.so.$V" | grep -q "soname: \[librelaykit.so.${V%%.*}\]"
for f in include/relaykit.h include/relaykit.hpp lib/librelaykit.a lib/pkgconfig/relaykit.pc \
  lib/cmake/relaykit/relaykitConfig.cmake lib/cmake/relaykit/relaykitConfigVersion.cmake LICENSE-MIT LICENSE-APACHE; do
  [ -e "$SDK/$f" ] || { echo "the SDK lacks $f"; exit 1; }
done
ex=$SDK/share/relaykit/examples/cmake
as_user cmake -S "$ex" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$SDK" >/dev/null
as_user cmake --build "$WORK/build" >/dev/null
as_user env PKG_CONFIG_PATH="$SDK/lib/pkgconfig" cmake -S "$ex" -B "$WORK/build-pc" -DRELAYKIT_WITH_PKGCONFIG=ON >/dev/null
as_user cmake --build "$WORK/build-pc" >/dev/null
as_user gcc -std=c11 -Wall -Werror "$SDK/share/relaykit/examples/c/test_and_send.c" \
  $(PKG_CONFIG_PATH="$SDK/lib/pkgconfig" pkg-config --cflags --libs relaykit) -Wl,-rpath,"$SDK/lib" -o "$WORK/plain_gcc"
readelf -d "$WORK/build/test_and_send_c" | grep -q 'NEEDED.*\[librelaykit.so.0\]'
args=("$(sv RK_HOST)" "$(sv RK_DOVECOT_STARTTLS_PORT)" "$(sv RK_CA_FILE)" "$(sv RK_USER)" "$(sv RK_RCPT)")
for bin in build/test_and_send_c build/test_and_send_cpp build/test_and_send_c_static build-pc/test_and_send_c build-pc/test_and_send_cpp plain_gcc; do
  printf '%-28s ' "$bin"
  as_user env SMTP_PASSWORD="$(sv RK_PASS)" "$WORK/$bin" "${args[@]}" | tail -1
done

step "sizes"
(cd "$DIST" && ls -l -- *.whl *.tar.gz *.tgz *.crate | awk '{printf "%10.1f KiB  %s\n", $5 / 1024, $9}')
echo "dist check: every artifact installed and ran"
