/* Base64 decoding for the C tests: one copy, built with each test by tests/c/run.sh. */
#ifndef RK_TEST_BASE64_H
#define RK_TEST_BASE64_H
#include <stddef.h>

/* Decodes the base64 text text[0..len), passing over bytes outside the alphabet (line breaks,
 * `=` padding). Writes at most len * 3 / 4 bytes to `out`; returns how many it wrote. */
size_t rk_b64_decode(const char *text, size_t len, unsigned char *out);
#endif
