/* Small helpers shared by the C test programs: a monotonic clock, a pause for bounded polling
 * loops, and reading a whole file. Requires _POSIX_C_SOURCE >= 200809L. */
#ifndef RK_TEST_UTIL_H
#define RK_TEST_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The whole file, NUL-terminated (free it), its length in *len when len is not NULL; NULL when
 * it cannot be read. */
static inline char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *bigger = realloc(buf, cap * 2 + 1);
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf == NULL) return NULL;
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}
#endif
