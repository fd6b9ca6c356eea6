/* A tiny test harness: CHECK counts, TEST_MAIN prints "N passed, N failed". */
#ifndef RK_CHECK_H
#define RK_CHECK_H
#include <stdio.h>
#include <string.h>

static int rk_passed, rk_failed;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (cond) {                                                                      \
      rk_passed++;                                                                   \
    } else {                                                                         \
      rk_failed++;                                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
      const rk_error *e_ = rk_last_error();                                          \
      if (e_) fprintf(stderr, "  last error: %s\n", rk_error_message(e_));           \
    }                                                                                \
  } while (0)

#define CHECK_STATUS(call, want) CHECK((call) == (want))
#define CONTAINS(hay, needle) ((hay) != NULL && strstr((hay), (needle)) != NULL)

#define TEST_SUMMARY()                                                               \
  do {                                                                               \
    printf("%d passed, %d failed\n", rk_passed, rk_failed);                          \
    return rk_failed == 0 ? 0 : 1;                                                   \
  } while (0)
#endif
