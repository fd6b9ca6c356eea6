#!/usr/bin/env bash
# Builds the C tests against the static library and runs them under ASan+UBSan, then under
# valgrind. Every test program prints "N passed, N failed" and exits non-zero on failure.
# test_servers.c needs the test servers: $RELAYKIT_STATE/servers.env (default tests/.state).
set -euo pipefail
cd "$(dirname "$0")/../.."
export RELAYKIT_STATE="${RELAYKIT_STATE:-$PWD/tests/.state}"
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Itests/c)
LIBS=(-lpthread -ldl -lm)
# --num-callers=40 so that tests/c/valgrind.supp (ring's AES-GCM assembly) can match.
VALGRIND=(valgrind --quiet --error-exitcode=1 --num-callers=40 --suppressions=tests/c/valgrind.supp
  --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect)
out=target/c
mkdir -p "$out"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }

cargo build --quiet --locked -p relaykit-ffi
lib=target/debug/librelaykit.a

# Helpers shared by the test programs, compiled into each.
shared=(tests/c/base64.c)
for t in tests/c/test_*.c; do
  name=$(basename "$t" .c)
  echo "--- $name (ASan+UBSan)"
  gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    "$t" "${shared[@]}" "$lib" "${LIBS[@]}" -o "$out/$name.asan"
  # Prove the sanitizer runtime is really in the binary before trusting a clean run.
  nm "$out/$name.asan" | grep __asan_init >/dev/null || { echo "ASan did not link"; exit 1; }
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$out/$name.asan"

  echo "--- $name (valgrind)"
  gcc "${CFLAGS[@]}" "$t" "${shared[@]}" "$lib" "${LIBS[@]}" -o "$out/$name"
  "${VALGRIND[@]}" "$out/$name"
done

echo "--- test_servers without servers.env fails clearly"
set +e
msg=$(RELAYKIT_STATE=/nonexistent "$out/test_servers" 2>&1)
rc=$?
set -e
if [ "$rc" -eq 0 ] || [[ "$msg" != *"/nonexistent/servers.env not found"* ]]; then
  echo "expected a clear failure without servers.env, got rc=$rc: $msg"; exit 1
fi
echo "ok (exit $rc: ${msg%%.*})"

# Values from servers.env (the environment first), for the examples.
env_file="$RELAYKIT_STATE/servers.env"
var() { printenv "$1" || sed -n "s/^$1=//p" "$env_file" | head -n1; }
example_args() { echo "$(var RK_HOST) $(var RK_DOVECOT_STARTTLS_PORT) $(var RK_CA_FILE) $(var RK_USER) $(var RK_RCPT)"; }
# Runs an example program: it must succeed with the right password, and fail as auth_failed
# (exit 1) with a wrong one.
run_example() {
  local bin=$1
  # shellcheck disable=SC2046
  SMTP_PASSWORD="$(var RK_PASS)" "$@" $(example_args)
  set +e
  # shellcheck disable=SC2046
  msg=$(SMTP_PASSWORD="$(var RK_BAD_PASS)" "$@" $(example_args) 2>&1)
  rc=$?
  set -e
  if [ "$rc" -ne 1 ] || [[ "$msg" != *auth_failed* && "$msg" != *"535"* ]]; then
    echo "$bin with a wrong password: expected exit 1 and auth_failed, got rc=$rc: $msg"; exit 1
  fi
}

echo "--- C++17 header (ASan+UBSan)"
CXXFLAGS=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -g -Iinclude)
g++ "${CXXFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  tests/c/test_hpp.cpp "$lib" "${LIBS[@]}" -o "$out/test_hpp.asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$out/test_hpp.asan"

echo "--- C++ example (g++ -std=c++17 -Wall -Wextra -Werror)"
g++ "${CXXFLAGS[@]}" ffi/examples/cpp/test_and_send.cpp "$lib" "${LIBS[@]}" -o "$out/example_cpp"
run_example "$out/example_cpp"

echo "--- C example of ffi/README.md (valgrind)"
python3 - ffi/README.md ffi/examples/c/test_and_send.c <<'PY'
import sys
readme, src = open(sys.argv[1]).read(), open(sys.argv[2]).read()
if src.strip() not in readme:
    sys.exit("ffi/README.md does not hold ffi/examples/c/test_and_send.c verbatim: copy it there")
PY
gcc "${CFLAGS[@]}" ffi/examples/c/test_and_send.c "$lib" "${LIBS[@]}" -o "$out/example_c"
run_example "${VALGRIND[@]}" "$out/example_c"

echo "--- install, pkg-config, CMake"
command -v pkg-config >/dev/null && command -v cmake >/dev/null ||
  { apt-get update -qq && apt-get install -y -qq cmake pkg-config >/dev/null; }
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
bash ffi/install.sh --prefix "$prefix/usr"
export PKG_CONFIG_PATH="$prefix/usr/lib/pkgconfig"
cargo_version=$(cargo metadata --quiet --format-version 1 --no-deps --locked |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "relaykit-ffi"))')
[ "$(pkg-config --modversion relaykit)" = "$cargo_version" ] || { echo "relaykit.pc version is not $cargo_version"; exit 1; }
# The header's version macros (as installed) against Cargo and rk_version().
cat > "$prefix/version.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <relaykit.h>
int main(void) {
  char v[64];
  snprintf(v, sizeof v, "%d.%d.%d", RK_VERSION_MAJOR, RK_VERSION_MINOR, RK_VERSION_PATCH);
  printf("%s\n", v);
  return strcmp(v, rk_version()) == 0 ? 0 : 1;
}
C
# Shared, through pkg-config.
gcc "${CFLAGS[@]}" "$prefix/version.c" $(pkg-config --cflags --libs relaykit) -Wl,-rpath,"$prefix/usr/lib" -o "$prefix/version"
[ "$("$prefix/version")" = "$cargo_version" ] || { echo "RK_VERSION_* in relaykit.h is not $cargo_version"; exit 1; }
# Static, with the plain gcc line of ffi/README.md.
gcc -std=c11 -Wall -Werror "$prefix/version.c" -I"$prefix/usr/include" "$prefix/usr/lib/librelaykit.a" -lpthread -ldl -lm \
  -o "$prefix/version_static"
[ "$("$prefix/version_static")" = "$cargo_version" ] || { echo "static link: wrong version"; exit 1; }
echo "version $cargo_version: Cargo = relaykit.pc = RK_VERSION_* = rk_version() (shared and static)"
# CMake, through relaykit's CMake package (shared and static targets), then through pkg-config.
cmake -S ffi/examples/cmake -B "$prefix/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix/usr" >/dev/null
cmake --build "$prefix/build" >/dev/null
run_example "$prefix/build/test_and_send_c"
run_example "$prefix/build/test_and_send_cpp"
run_example "$prefix/build/test_and_send_c_static"
cmake -S ffi/examples/cmake -B "$prefix/build-pc" -DCMAKE_BUILD_TYPE=Release -DRELAYKIT_WITH_PKGCONFIG=ON >/dev/null
cmake --build "$prefix/build-pc" >/dev/null
run_example "$prefix/build-pc/test_and_send_c"

echo "--- conformance runner (C ABI, libjansson)"
pkg-config --exists jansson 2>/dev/null || { apt-get update -qq && apt-get install -y -qq libjansson-dev >/dev/null; }
gcc "${CFLAGS[@]}" tests/c/conformance.c "$lib" $(pkg-config --cflags --libs jansson) "${LIBS[@]}" -o "$out/conformance"

echo "--- rules vectors (tests/conformance/vectors/rules.json through the C API; ASan+UBSan, then valgrind)"
gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
  tests/c/rules.c "${shared[@]}" "$lib" $(pkg-config --cflags --libs jansson) "${LIBS[@]}" -o "$out/rules.asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$out/rules.asan"
gcc "${CFLAGS[@]}" tests/c/rules.c "${shared[@]}" "$lib" $(pkg-config --cflags --libs jansson) "${LIBS[@]}" -o "$out/rules"
"${VALGRIND[@]}" "$out/rules"
# The runner only executes; relaykit-conformance expands the cases, feeds them to it under
# valgrind and judges its outcomes (the judge's own tests prove that a wrong expectation fails).
# Valgrind makes CPU-bound work (SCRAM's PBKDF2) ~20x slower, so within_secs is doubled here;
# the Rust runner checks the real bound.
cargo run --quiet --locked -p relaykit-conformance -- run --lang c --within-factor 2 -- "${VALGRIND[@]}" "$out/conformance"
