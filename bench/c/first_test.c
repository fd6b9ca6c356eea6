/* The #11 "first Test in a fresh process" figure for relaykit's C ABI: the time of the first
 * rk_test (TLS, implicit) in this process, from before the profile is parsed to the report
 * (relaykit's runtime, trust anchors, TCP, TLS, EHLO, QUIT). Prints {"secs": ..., "error": ...}.
 *
 *   first_test --host 127.0.0.1 --port 30465 --ca ca.crt
 */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

int main(int argc, char **argv) {
    double t0 = now_secs();
    rk_profile *p = NULL;
    rk_keyring *k = NULL;
    rk_rrt_context *c = NULL;
    rk_report *r = NULL;
    rk_status st = bench_profile(opt(argc, argv, "host", "127.0.0.1"), opt(argc, argv, "port", "465"), true,
                                 opt(argc, argv, "ca", ""), &p, &k, &c);
    if (st == RK_OK) st = rk_test(p, k, c, NULL, &r);
    double secs = now_secs() - t0;
    bool ok = st == RK_OK && rk_report_ok(r);
    printf("{\"secs\":%.6f,\"error\":%s}\n", secs, ok ? "null" : "\"rk_test failed\"");
    rk_report_free(r);
    rk_rrt_context_free(c);
    rk_keyring_free(k);
    rk_profile_free(p);
    return ok ? 0 : 1;
}
