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

for t in tests/c/test_*.c; do
  name=$(basename "$t" .c)
  echo "--- $name (ASan+UBSan)"
  gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
    "$t" "$lib" "${LIBS[@]}" -o "$out/$name.asan"
  # Prove the sanitizer runtime is really in the binary before trusting a clean run.
  nm "$out/$name.asan" | grep __asan_init >/dev/null || { echo "ASan did not link"; exit 1; }
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$out/$name.asan"

  echo "--- $name (valgrind)"
  gcc "${CFLAGS[@]}" "$t" "$lib" "${LIBS[@]}" -o "$out/$name"
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
