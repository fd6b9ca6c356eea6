/* What the benchmark's C programs share: `--key value` options, a monotonic clock, and the
 * profile every relaykit client of the benchmark uses (the same keys as in Rust, Python, Node). */
#ifndef RELAYKIT_BENCH_UTIL_H
#define RELAYKIT_BENCH_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relaykit.h"

/* The value after `--key`, or `dflt`. */
static inline const char *opt(int argc, char **argv, const char *key, const char *dflt) {
    for (int i = 1; i + 1 < argc; i += 2)
        if (strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, key) == 0) return argv[i + 1];
    return dflt;
}

static inline double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The profile for host:port, implicit TLS trusting `ca` when `tls`, and a keyring and an RRT
 * context (empty). On failure rk_last_error() says why; what was made is still to be freed. */
static inline rk_status bench_profile(const char *host, const char *port, bool tls, const char *ca,
                                      rk_profile **p, rk_keyring **k, rk_rrt_context **c) {
    char json[1024];
    if (tls)
        snprintf(json, sizeof json,
                 "{\"server\":\"%s\",\"port\":%s,\"helo_name\":\"bench.test\",\"encrypted_connection\":true,"
                 "\"tls_mode\":\"implicit\",\"tls_ca_file\":\"%s\"}", host, port, ca);
    else
        snprintf(json, sizeof json, "{\"server\":\"%s\",\"port\":%s,\"helo_name\":\"bench.test\",\"starttls\":\"never\"}",
                 host, port);
    rk_status st = rk_profile_from_json(json, p);
    if (st == RK_OK) st = rk_keyring_new(k);
    if (st == RK_OK) st = rk_rrt_context_new(c);
    return st;
}

#endif
