#!/usr/bin/env bash
# Builds the C tests against the static library and runs them under ASan+UBSan, then under
# valgrind. Every test program prints "N passed, N failed" and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude -Itests/c)
LIBS=(-lpthread -ldl -lm)
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
  valgrind --quiet --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect "$out/$name"
done
