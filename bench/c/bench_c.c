/* The C clients of the mailer benchmark (bench/driver.py runs them; see bench/README.md):
 *
 *   --client relaykit   one rk_mailer (max_connections = --conns) shared by --threads threads,
 *                       each calling rk_mailer_send in a loop
 *   --client relaykit-send-many  rk_mailer_send_many on batches of about a quarter second's
 *                       worth (16 to 1,000 messages) from 2 threads (two batches in flight)
 *   --client curl       libcurl, one easy handle per thread reused for every message (so
 *                       --threads connections: curl keeps an SMTP connection alive in its handle)
 *
 * Options as for every client: --host --port --tls 0|1 --ca --message FILE --from --to
 * --messages N --warmup W --max-secs T. Prints one JSON line (sent, failed, secs, ...).
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

/* The plan: message numbers handed out to the threads (warm-up, then the timed phase). */
static atomic_long next_msg, limit_msg, sent, failed;
static _Atomic double deadline = 1e300;
static char first_error[512];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static bool take(void) {
    if (now_secs() >= atomic_load(&deadline)) return false;
    return atomic_fetch_add(&next_msg, 1) < atomic_load(&limit_msg);
}

static void record(bool ok, const char *err) {
    if (ok) { atomic_fetch_add(&sent, 1); return; }
    atomic_fetch_add(&failed, 1);
    pthread_mutex_lock(&err_lock);
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", err ? err : "?");
    pthread_mutex_unlock(&err_lock);
}

static struct {
    const char *host, *port, *ca, *from, *to;
    bool tls;
    unsigned char *body;
    size_t len;
    rk_mailer *mailer;
} cfg;

/* ---- relaykit -------------------------------------------------------------------------- */
static void *relaykit_worker(void *unused) {
    (void)unused;
    rk_message *m = NULL;
    if (rk_message_new_raw(cfg.from, cfg.to, cfg.body, cfg.len, &m) != RK_OK) {
        record(false, rk_error_message(rk_last_error()));
        return NULL;
    }
    while (take()) {
        rk_send_result *r = NULL;
        rk_status st = rk_mailer_send(cfg.mailer, m, &r);
        record(st == RK_OK, st == RK_OK ? NULL : rk_error_message(rk_last_error()));
        rk_send_result_free(r);
    }
    rk_message_free(m);
    return NULL;
}

/* rk_mailer_send_many on batches of about a quarter second's worth (16 to 1,000 messages). */
static atomic_long batch_size = 16;

static void *relaykit_many_worker(void *unused) {
    (void)unused;
    rk_message *m = NULL;
    const rk_message *batch[1000];
    if (rk_message_new_raw(cfg.from, cfg.to, cfg.body, cfg.len, &m) != RK_OK) {
        record(false, rk_error_message(rk_last_error()));
        return NULL;
    }
    for (;;) {
        long want = atomic_load(&batch_size), n = 0;
        while (n < want && take()) batch[n++] = m;
        if (!n) break;
        double t0 = now_secs();
        rk_send_outcomes *o = NULL;
        if (rk_mailer_send_many(cfg.mailer, batch, (size_t)n, &o) != RK_OK) {
            for (long i = 0; i < n; i++) record(false, rk_error_message(rk_last_error()));
            continue;
        }
        for (size_t i = 0; i < (size_t)n; i++) {
            const rk_error *e = rk_send_outcomes_error(o, i);
            record(rk_send_outcomes_status(o, i) == RK_OK, e ? rk_error_message(e) : NULL);
        }
        rk_send_outcomes_free(o);
        double per_quarter = (double)n / (now_secs() - t0 + 1e-6) / 4;
        atomic_store(&batch_size, per_quarter < 16 ? 16 : per_quarter > 1000 ? 1000 : (long)per_quarter);
    }
    rk_message_free(m);
    return NULL;
}

static int relaykit_setup(int conns) {
    char opts[128];
    snprintf(opts, sizeof opts, "{\"max_connections\":%d,\"max_messages_per_connection\":1000000000}", conns);
    rk_profile *p = NULL;
    rk_keyring *k = NULL;
    rk_rrt_context *c = NULL;
    rk_status st = bench_profile(cfg.host, cfg.port, cfg.tls, cfg.ca, &p, &k, &c);
    if (st == RK_OK) st = rk_mailer_new(p, k, c, opts, &cfg.mailer);
    if (st != RK_OK) record(false, rk_error_message(rk_last_error()));
    rk_rrt_context_free(c);
    rk_keyring_free(k);
    rk_profile_free(p);
    return st == RK_OK ? 0 : -1;
}

/* ---- libcurl --------------------------------------------------------------------------- */
/* One easy handle per thread, made once and kept for both phases, so that the connection the
 * warm-up opened is the one the timed phase reuses (as with every other client). */
struct curl_slot { CURL *h; struct curl_slist *rcpt; size_t off; };
static struct curl_slot *slots;

static size_t read_body(char *buf, size_t size, size_t n, void *user) {
    struct curl_slot *c = user;
    size_t left = cfg.len - c->off, want = size * n;
    if (want > left) want = left;
    memcpy(buf, cfg.body + c->off, want);
    c->off += want;
    return want;
}

static int curl_setup(int n) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    char url[256];
    snprintf(url, sizeof url, "%s://%s:%s/bench.test", cfg.tls ? "smtps" : "smtp", cfg.host, cfg.port);
    slots = calloc((size_t)n, sizeof *slots);
    for (int i = 0; i < n; i++) {
        struct curl_slot *c = &slots[i];
        c->h = curl_easy_init();
        c->rcpt = curl_slist_append(NULL, cfg.to);
        curl_easy_setopt(c->h, CURLOPT_URL, url);
        curl_easy_setopt(c->h, CURLOPT_MAIL_FROM, cfg.from);
        curl_easy_setopt(c->h, CURLOPT_MAIL_RCPT, c->rcpt);
        curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c->h, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(c->h, CURLOPT_READDATA, c);
        curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)cfg.len);
        if (cfg.tls) curl_easy_setopt(c->h, CURLOPT_CAINFO, cfg.ca);
    }
    return 0;
}

static void *curl_worker(void *arg) {
    struct curl_slot *c = &slots[(intptr_t)arg];
    while (take()) {
        c->off = 0;
        CURLcode rc = curl_easy_perform(c->h);
        record(rc == CURLE_OK, curl_easy_strerror(rc));
    }
    return NULL;
}

static void curl_teardown(int n) {
    for (int i = 0; slots && i < n; i++) {
        curl_slist_free_all(slots[i].rcpt);
        curl_easy_cleanup(slots[i].h);
    }
    free(slots);
}

/* ---- the phases ------------------------------------------------------------------------ */
static void run_threads(int n, void *(*fn)(void *)) {
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    free(t);
}

static int load_body(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cfg.body = malloc((size_t)n);
    cfg.len = fread(cfg.body, 1, (size_t)n, f);
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    const char *client = opt(argc, argv, "client", "");
    int threads = atoi(opt(argc, argv, "threads", "1")), conns = atoi(opt(argc, argv, "conns", "1"));
    long warmup = atol(opt(argc, argv, "warmup", "20")), messages = atol(opt(argc, argv, "messages", "1000"));
    double max_secs = atof(opt(argc, argv, "max-secs", "5"));
    cfg.host = opt(argc, argv, "host", "127.0.0.1");
    cfg.port = opt(argc, argv, "port", "25");
    cfg.tls = atoi(opt(argc, argv, "tls", "0")) == 1;
    cfg.ca = opt(argc, argv, "ca", "");
    cfg.from = opt(argc, argv, "from", "a@bench.test");
    cfg.to = opt(argc, argv, "to", "b@bench.test");
    void *(*worker)(void *) = strcmp(client, "curl") == 0 ? curl_worker : relaykit_worker;
    if (strcmp(client, "relaykit-send-many") == 0) {
        worker = relaykit_many_worker;
        threads = 2; /* two batches in flight, so that the connections do not drain between them */
    }
    int bad = load_body(opt(argc, argv, "message", ""));
    if (!bad && worker == curl_worker) bad = curl_setup(threads);
    else if (!bad) bad = relaykit_setup(conns);
    if (bad) {
        printf("{\"sent\":0,\"failed\":0,\"secs\":0,\"error\":\"setup failed: %s\"}\n", first_error);
        return 1;
    }
    atomic_store(&limit_msg, warmup);
    run_threads(threads, worker);
    long w_sent = atomic_exchange(&sent, 0), w_failed = atomic_exchange(&failed, 0);
    atomic_store(&next_msg, warmup);
    atomic_store(&limit_msg, warmup + messages);
    double t0 = now_secs();
    atomic_store(&deadline, t0 + max_secs);
    run_threads(threads, worker);
    double secs = now_secs() - t0;
    if (cfg.mailer) { rk_mailer_close(cfg.mailer); rk_mailer_free(cfg.mailer); }
    curl_teardown(worker == curl_worker ? threads : 0);
    /* first_error comes from relaykit or curl: plain text without quotes or backslashes. */
    for (char *c = first_error; *c; c++) if (*c == '"' || *c == '\\' || *c < ' ') *c = ' ';
    printf("{\"warmup_sent\":%ld,\"warmup_failed\":%ld,\"sent\":%ld,\"failed\":%ld,\"secs\":%.6f,\"error\":%s%s%s}\n",
           w_sent, w_failed, atomic_load(&sent), atomic_load(&failed), secs,
           first_error[0] ? "\"" : "", first_error[0] ? first_error : "null", first_error[0] ? "\"" : "");
    free(cfg.body);
    return 0;
}
