/* rk_mailer against the real test servers (Postfix+Dovecot): 200 messages from 8 threads
 * sharing one mailer over at most 2 connections (STARTTLS), and 1,000 in one
 * rk_mailer_send_many with a header injection among them (plain), each delivered exactly once;
 * bad options failing at creation; a bad message failing alone; send and send_many after close
 * failing at once; error fate, transience and attempts; the callback form, also across
 * rk_mailer_free; trace lines with their connection id; an idle connection closed by Postfix
 * replaced transparently (RK_POSTFIX_IDLE_PORT; skipped, saying so, without it). Built and run
 * under ASan+UBSan and valgrind by tests/c/run.sh. Needs $RELAYKIT_STATE/servers.env. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "relaykit.h"
#include "check.h"
#include "servers_env.h"
#include "util.h"

#define THREADS 8
#define EACH 25
#define TOTAL (THREADS * EACH)
#define MANY 1000
#define WAIT_SECS 120

static rk_keyring *keyring; /* shared by every thread: safe for reading */
static char tag[64];        /* unique to this run: the mailbox holds earlier runs' messages */

/* Dovecot behind Postfix, STARTTLS required, verified against the test CA; the password is
 * encrypted under the shared keyring. */
static rk_profile *dovecot_profile(void) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_ca_file\":\"%s\","
           "\"timeout_secs\":30}",
           rk_env("RK_HOST"), rk_env("RK_DOVECOT_STARTTLS_PORT"), rk_env("RK_CA_FILE"));
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  CHECK_STATUS(rk_profile_set_authentication(p, true, rk_env("RK_USER"), NULL), RK_OK);
  CHECK_STATUS(rk_profile_encrypt_password(p, rk_env("RK_PASS"), keyring), RK_OK);
  return p;
}

/* A plain (no TLS) listener of Postfix+Dovecot with CRAM-MD5: cheap under valgrind, for the
 * runs of many messages and the idle listener (SCRAM's key derivation under valgrind outlasts
 * that listener's 2 s smtpd_timeout, and TLS makes 1,000 messages slow there). */
static rk_profile *plain_profile(const char *port_var) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"server\":\"%s\",\"port\":%s,\"starttls\":\"never\",\"timeout_secs\":30,"
           "\"requires_authentication\":true,\"auth_mechanisms\":[\"CRAM-MD5\"],\"username\":\"%s\","
           "\"password\":\"%s\"}",
           rk_env("RK_HOST"), rk_env(port_var), rk_env("RK_USER"), rk_env("RK_PASS"));
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  return p;
}

static rk_mailer *mailer_for(rk_profile *p, const char *options_json) {
  rk_mailer *m = NULL;
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, options_json, &m), RK_OK);
  rk_profile_free(p); /* the mailer keeps what it needs */
  return m;
}

static rk_mailer *new_mailer(const char *options_json) { return mailer_for(dovecot_profile(), options_json); }

/* A message to RK_RCPT with the given Message-ID; NULL when it could not be built. */
static rk_message *new_message(const char *id, const char *subject) {
  rk_message *m = NULL;
  if (rk_message_new(rk_env("RK_USER"), &m) != RK_OK) return NULL;
  if (rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")) != RK_OK || rk_message_set_subject(m, subject) != RK_OK ||
      rk_message_set_text(m, "from rk_mailer") != RK_OK || rk_message_set_message_id(m, id) != RK_OK) {
    rk_message_free(m);
    return NULL;
  }
  return m;
}

/* A counter from rk_mailer_stats_json; -1 when missing. */
static long stat_of(const rk_mailer *m, const char *key) {
  char *json = NULL;
  if (rk_mailer_stats_json(m, &json) != RK_OK) return -1;
  char needle[64];
  snprintf(needle, sizeof needle, "\"%s\":", key);
  const char *at = strstr(json, needle);
  long v = at != NULL ? strtol(at + strlen(needle), NULL, 10) : -1;
  rk_string_free(json);
  return v;
}

/* Counts into counts[0..n) the files in one Maildir subfolder carrying "<prefix><k>@". Only
 * files whose Maildir name (it starts with the delivery time in seconds) is from this run are
 * read, so that earlier runs' thousands of messages are skipped. */
static void count_dir(const char *dir, const char *prefix, long since, int *counts, int n) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strtol(e->d_name, NULL, 10) < since) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *text = read_file(path, NULL);
    const char *at = text != NULL ? strstr(text, prefix) : NULL;
    int k;
    char at_sign;
    if (at != NULL && sscanf(at + strlen(prefix), "%d%c", &k, &at_sign) == 2 && at_sign == '@' && k >= 0 && k < n)
      counts[k]++;
    free(text);
  }
  if (d != NULL) closedir(d);
}

/* Polls (bounded) RK_RCPT's Maildir until `want` of the messages 0..n of `prefix` have
 * arrived; returns how many did, with counts[] from the last full pass. */
static int wait_delivered(const char *prefix, long since, int *counts, int n, int want) {
  const char *rcpt = rk_env("RK_RCPT");
  char base[1024], dir[1100];
  snprintf(base, sizeof base, "%s/%s/%.*s", rk_env("RK_DOVECOT_MAIL_DIR"), rk_env("RK_DOMAIN"),
           (int)(strchr(rcpt, '@') - rcpt), rcpt);
  double deadline = now_secs() + WAIT_SECS;
  int arrived;
  do {
    memset(counts, 0, sizeof(int) * (size_t)n);
    snprintf(dir, sizeof dir, "%s/new", base);
    count_dir(dir, prefix, since, counts, n);
    snprintf(dir, sizeof dir, "%s/cur", base);
    count_dir(dir, prefix, since, counts, n);
    arrived = 0;
    for (int k = 0; k < n; k++) arrived += counts[k] > 0;
    if (arrived >= want) break;
    pause_ms(200); /* polling a mailbox, bounded by the deadline */
  } while (now_secs() < deadline);
  return arrived;
}

/* ---- 200 messages, 8 threads, one mailer ------------------------------------------------ */

struct sender {
  rk_mailer *mailer;
  int thread;
  int ok;     /* sends that returned RK_OK with the right Message-ID */
  int failed; /* anything else */
};

static const char *prefix200(void) {
  static char p[96];
  snprintf(p, sizeof p, "<cm200.%s.", tag);
  return p;
}

static void *send_many(void *arg) {
  struct sender *s = arg;
  for (int i = 0; i < EACH; i++) {
    char id[160];
    snprintf(id, sizeof id, "%s%d@relaykit.test>", prefix200(), s->thread * EACH + i);
    rk_message *m = new_message(id, "mailer from 8 threads");
    rk_send_result *r = NULL;
    if (m != NULL && rk_mailer_send(s->mailer, m, &r) == RK_OK && CONTAINS(rk_send_result_message_id(r), id + 1) &&
        rk_send_result_accepted_count(r) == 1)
      s->ok++;
    else
      s->failed++;
    rk_send_result_free(r);
    rk_message_free(m);
  }
  return NULL;
}

static void test_two_hundred_from_eight_threads(void) {
  long since = (long)time(NULL) - 5; /* Maildir names are in whole seconds; allow clock slack */
  /* No recycling within the run (the default 100 messages per connection would open a third). */
  rk_mailer *mailer = new_mailer("{\"max_connections\": 2, \"max_messages_per_connection\": 200}");
  if (mailer == NULL) return;
  pthread_t t[THREADS];
  struct sender s[THREADS];
  for (int i = 0; i < THREADS; i++) {
    s[i] = (struct sender){mailer, i, 0, 0};
    CHECK(pthread_create(&t[i], NULL, send_many, &s[i]) == 0);
  }
  int ok = 0, failed = 0;
  for (int i = 0; i < THREADS; i++) {
    CHECK(pthread_join(t[i], NULL) == 0);
    ok += s[i].ok;
    failed += s[i].failed;
  }
  CHECK(ok == TOTAL);
  CHECK(failed == 0);
  CHECK(stat_of(mailer, "sent") == TOTAL);
  CHECK(stat_of(mailer, "failed") == 0);
  long opened = stat_of(mailer, "connections_opened");
  CHECK(opened >= 1 && opened <= 2);
  CHECK(stat_of(mailer, "open_connections") <= 2);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  CHECK(stat_of(mailer, "open_connections") == 0); /* close QUITs the idle connections */
  rk_mailer_free(mailer);

  static int counts[TOTAL];
  CHECK(wait_delivered(prefix200(), since, counts, TOTAL, TOTAL) == TOTAL);
  int not_once = 0;
  for (int k = 0; k < TOTAL; k++) not_once += counts[k] != 1;
  CHECK(not_once == 0);
}

/* ---- creation ------------------------------------------------------------------------- */

static void test_bad_options_fail_at_creation(void) {
  rk_profile *p = dovecot_profile();
  rk_mailer *untouched = (rk_mailer *)&untouched;
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, "{\"max_connections\": 0}", &untouched), RK_CONFIG);
  CHECK(untouched == (rk_mailer *)&untouched); /* out-params are written on success only */
  CHECK(strncmp(rk_error_message(rk_last_error()), "options.max_connections:", 24) == 0);
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, "{\"idle_timeout_secs\": -1}", &untouched), RK_CONFIG);
  CHECK(strncmp(rk_error_message(rk_last_error()), "options.idle_timeout_secs:", 26) == 0);
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, "{\"max_conections\": 2}", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "max_conections"));
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, "{bad", &untouched), RK_CONFIG);
  CHECK(untouched == (rk_mailer *)&untouched);

  /* NULL and non-UTF-8 arguments. */
  CHECK_STATUS(rk_mailer_new(NULL, keyring, NULL, NULL, &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "profile is NULL"));
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, NULL, NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, "{\"max_connections\": \"\xff\"}", &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "options_json is not valid UTF-8"));
  CHECK(untouched == (rk_mailer *)&untouched);

  /* An encrypted password with no keyring (NULL: an empty one) fails now, not at a send. */
  CHECK_STATUS(rk_mailer_new(p, NULL, NULL, NULL, &untouched), RK_CRYPTO);
  rk_profile_free(p);
  rk_mailer_free(NULL);

  char *json = (char *)&json;
  CHECK_STATUS(rk_mailer_stats_json(NULL, &json), RK_INVALID_ARGUMENT);
  CHECK(json == (char *)&json);
  CHECK_STATUS(rk_mailer_close(NULL), RK_INVALID_ARGUMENT);
}

/* ---- a bad message, close ------------------------------------------------------------- */

static void test_bad_message_alone_and_send_after_close(void) {
  rk_mailer *mailer = new_mailer(NULL);
  if (mailer == NULL) return;
  char bad_id[128], good_id[128];
  snprintf(bad_id, sizeof bad_id, "<cm-bad.%s@relaykit.test>", tag);
  snprintf(good_id, sizeof good_id, "<cm-good.%s@relaykit.test>", tag);
  rk_message *bad = new_message(bad_id, "hello\r\nBcc: victim@example.net");
  rk_send_result *r = (rk_send_result *)&r;
  CHECK_STATUS(rk_mailer_send(mailer, bad, &r), RK_CONFIG);
  CHECK(strncmp(rk_error_message(rk_last_error()), "message.subject:", 16) == 0);
  CHECK(r == (rk_send_result *)&r);
  CHECK(stat_of(mailer, "connections_opened") == 0); /* refused before any connection */

  rk_message *good = new_message(good_id, "the good one");
  r = NULL;
  CHECK_STATUS(rk_mailer_send(mailer, good, &r), RK_OK);
  CHECK(CONTAINS(rk_send_result_message_id(r), good_id + 1));
  CHECK(rk_send_result_attempts(r) == 1);
  rk_send_result_free(r);
  CHECK_STATUS(rk_mailer_send(mailer, NULL, &r), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_send(mailer, good, NULL), RK_INVALID_ARGUMENT);

  /* A 5xx refusal: final at once (one attempt), nothing accepted. */
  rk_message *refused = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &refused), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(refused, RK_RCPT_TO, rk_env("RK_REJECT_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_text(refused, "refused"), RK_OK);
  r = (rk_send_result *)&r;
  CHECK_STATUS(rk_mailer_send(mailer, refused, &r), RK_RECIPIENT_REJECTED);
  const rk_error *e = rk_last_error();
  CHECK(rk_error_code(e) >= 500 && rk_error_code(e) < 600);
  CHECK(!rk_error_transient(e));
  CHECK(rk_error_fate(e) == RK_FATE_REJECTED);
  CHECK(rk_error_attempts(e) == 1);
  CHECK(CONTAINS(rk_error_json(e), "\"fate\":\"rejected\""));
  CHECK(r == (rk_send_result *)&r);
  rk_message_free(refused);

  /* send_many's argument checks send nothing. */
  rk_send_outcomes *outs = (rk_send_outcomes *)&outs;
  const rk_message *with_null[2] = {good, NULL};
  CHECK_STATUS(rk_mailer_send_many(mailer, with_null, 2, &outs), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "messages[1] is NULL"));
  CHECK_STATUS(rk_mailer_send_many(mailer, NULL, 1, &outs), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_send_many(mailer, with_null, 1, NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_send_many(NULL, with_null, 1, &outs), RK_INVALID_ARGUMENT);
  CHECK(outs == (rk_send_outcomes *)&outs);
  CHECK_STATUS(rk_mailer_send_many(mailer, NULL, 0, &outs), RK_OK);
  CHECK(rk_send_outcomes_count(outs) == 0);
  CHECK(rk_send_outcomes_status(outs, 0) == RK_INVALID_ARGUMENT);
  CHECK(rk_send_outcomes_result(outs, 0) == NULL && rk_send_outcomes_error(outs, 0) == NULL);
  rk_send_outcomes_free(outs);
  rk_send_outcomes_free(NULL);
  CHECK(rk_send_outcomes_count(NULL) == 0);

  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK); /* twice is harmless */
  double t0 = now_secs();
  r = (rk_send_result *)&r;
  CHECK_STATUS(rk_mailer_send(mailer, good, &r), RK_CONFIG);
  CHECK(now_secs() - t0 < 5.0); /* at once, not after a timeout (5 s: slack for valgrind) */
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "closed"));
  CHECK(r == (rk_send_result *)&r);
  /* send_many after close: it returns, each message's outcome the same clear error. */
  const rk_message *both[2] = {good, good};
  outs = NULL;
  t0 = now_secs();
  CHECK_STATUS(rk_mailer_send_many(mailer, both, 2, &outs), RK_OK);
  CHECK(now_secs() - t0 < 5.0);
  CHECK(rk_send_outcomes_count(outs) == 2);
  for (size_t i = 0; i < 2; i++) {
    CHECK(rk_send_outcomes_status(outs, i) == RK_CONFIG);
    CHECK(CONTAINS(rk_error_message(rk_send_outcomes_error(outs, i)), "closed"));
    CHECK(rk_send_outcomes_result(outs, i) == NULL);
  }
  rk_send_outcomes_free(outs);
  CHECK(stat_of(mailer, "sent") == 1);
  CHECK(stat_of(mailer, "failed") == 5);
  CHECK(stat_of(mailer, "retried") == 0);
  CHECK(stat_of(mailer, "queued") == 0);
  CHECK(stat_of(mailer, "open_connections") == 0);
  rk_message_free(good);
  rk_message_free(bad);
  rk_mailer_free(mailer);
}

/* ---- the callback form ---------------------------------------------------------------- */

struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  rk_status status;
  char message_id[160];
  char error[256];
};

static void on_send(void *user, rk_status st, rk_send_result *result, const rk_error *err) {
  struct waiter *w = user;
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->status = st;
  if (result != NULL) snprintf(w->message_id, sizeof w->message_id, "%s", rk_send_result_message_id(result));
  if (err != NULL) snprintf(w->error, sizeof w->error, "%s", rk_error_message(err)); /* borrowed */
  rk_send_result_free(result);                                                       /* ours */
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Waits (bounded) for the callback; returns how many times it came. */
static int waiter_wait(struct waiter *w) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  while (w->calls == 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
  int calls = w->calls;
  pthread_mutex_unlock(&w->mu);
  return calls;
}

static void waiter_init(struct waiter *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(struct waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

static void test_async(void) {
  rk_mailer *mailer = new_mailer(NULL);
  if (mailer == NULL) return;
  char id[128];
  snprintf(id, sizeof id, "<cm-async.%s@relaykit.test>", tag);
  rk_message *m = new_message(id, "async");
  struct waiter w;
  waiter_init(&w);
  CHECK_STATUS(rk_mailer_send_async(mailer, m, on_send, &w), RK_OK);
  rk_message_free(m); /* copied */
  /* Freed with the send in flight: the send is not lost and its callback still comes. */
  rk_mailer_free(mailer);
  CHECK(waiter_wait(&w) == 1);
  CHECK(w.status == RK_OK);
  CHECK(CONTAINS(w.message_id, id + 1));
  waiter_destroy(&w);

  /* A failure reaches the callback with its error; bad arguments start nothing. */
  mailer = new_mailer(NULL);
  m = new_message(id, "bad\nsubject");
  waiter_init(&w);
  CHECK_STATUS(rk_mailer_send_async(mailer, m, on_send, &w), RK_OK);
  CHECK(waiter_wait(&w) == 1);
  CHECK(w.status == RK_CONFIG);
  CHECK(CONTAINS(w.error, "message.subject"));
  waiter_destroy(&w);
  CHECK_STATUS(rk_mailer_send_async(mailer, m, NULL, NULL), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "cb is NULL"));
  CHECK_STATUS(rk_mailer_send_async(NULL, m, on_send, NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_send_async(mailer, NULL, on_send, NULL), RK_INVALID_ARGUMENT);
  rk_message_free(m);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  rk_mailer_free(mailer);
}

/* ---- send_many: 1,000 messages, one bad -------------------------------------------------- */

static void test_send_many_thousand_with_one_bad(void) {
  long since = (long)time(NULL) - 5; /* Maildir names are in whole seconds; allow clock slack */
  char prefix[96];
  snprintf(prefix, sizeof prefix, "<cmmany.%s.", tag);
  rk_mailer *mailer = mailer_for(plain_profile("RK_DOVECOT_PLAIN_PORT"), "{\"max_connections\": 2}");
  if (mailer == NULL) return;
  static rk_message *batch[MANY];
  static char ids[MANY][128];
  const int bad = MANY / 2; /* a header injection in the middle: it fails alone */
  for (int k = 0; k < MANY; k++) {
    snprintf(ids[k], sizeof ids[k], "%s%d@relaykit.test>", prefix, k);
    batch[k] = new_message(ids[k], k == bad ? "bad\r\nBcc: victim@example.net" : "send_many");
    CHECK(batch[k] != NULL);
  }
  rk_send_outcomes *out = NULL;
  CHECK_STATUS(rk_mailer_send_many(mailer, (const rk_message *const *)batch, MANY, &out), RK_OK);
  for (int k = 0; k < MANY; k++) rk_message_free(batch[k]); /* only read during the call */
  CHECK(rk_send_outcomes_count(out) == MANY);
  int ok = 0, wrong = 0;
  for (int k = 0; k < MANY; k++) {
    const rk_send_result *r = rk_send_outcomes_result(out, (size_t)k);
    if (k == bad) {
      const rk_error *e = rk_send_outcomes_error(out, (size_t)k);
      CHECK(rk_send_outcomes_status(out, (size_t)k) == RK_CONFIG && r == NULL);
      CHECK(e != NULL && strncmp(rk_error_message(e), "message.subject:", 16) == 0);
      CHECK(!rk_error_transient(e) && rk_error_fate(e) == RK_FATE_REJECTED);
    } else if (rk_send_outcomes_status(out, (size_t)k) == RK_OK && CONTAINS(rk_send_result_message_id(r), ids[k] + 1) &&
               rk_send_result_accepted_count(r) == 1 && rk_send_result_attempts(r) >= 1) {
      ok++;
    } else {
      wrong++;
      const rk_error *e = rk_send_outcomes_error(out, (size_t)k);
      if (wrong < 5) fprintf(stderr, "message %d: %s\n", k, e != NULL ? rk_error_message(e) : "(wrong result)");
    }
  }
  rk_send_outcomes_free(out);
  CHECK(ok == MANY - 1);
  CHECK(wrong == 0);
  CHECK(stat_of(mailer, "sent") == MANY - 1);
  CHECK(stat_of(mailer, "failed") == 1);
  CHECK(stat_of(mailer, "connections_opened") <= 2 + MANY / 100); /* replaced every 100 messages */
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  rk_mailer_free(mailer);

  static int counts[MANY];
  CHECK(wait_delivered(prefix, since, counts, MANY, MANY - 1) == MANY - 1);
  int not_once = 0;
  for (int k = 0; k < MANY; k++) not_once += k != bad && counts[k] != 1;
  CHECK(not_once == 0);
  CHECK(counts[bad] == 0);
}

/* ---- trace lines carry their connection ------------------------------------------------- */

static struct {
  pthread_mutex_t mu;
  int lines, on_first, elsewhere;
} traced = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

static void on_trace(void *user, const char *direction, const char *line, uint64_t connection) {
  (void)user;
  (void)line;
  pthread_mutex_lock(&traced.mu);
  traced.lines++;
  if (connection == 1 && (direction[0] == 'C' || direction[0] == 'S')) traced.on_first++;
  else traced.elsewhere++;
  pthread_mutex_unlock(&traced.mu);
}

static void test_trace_lines_carry_the_connection(void) {
  CHECK_STATUS(rk_set_trace_connection_callback(on_trace, NULL), RK_OK);
  rk_mailer *mailer = new_mailer("{\"max_connections\": 1}");
  /* A mailer keeps the callback set when it was made. */
  CHECK_STATUS(rk_set_trace_connection_callback(NULL, NULL), RK_OK);
  if (mailer == NULL) return;
  char id[128];
  snprintf(id, sizeof id, "<cm-trace.%s@relaykit.test>", tag);
  rk_message *m = new_message(id, "traced");
  rk_send_result *r = NULL;
  CHECK_STATUS(rk_mailer_send(mailer, m, &r), RK_OK);
  rk_send_result_free(r);
  rk_message_free(m);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK); /* the QUIT is traced before this returns */
  rk_mailer_free(mailer);
  pthread_mutex_lock(&traced.mu);
  CHECK(traced.lines > 5);
  CHECK(traced.on_first == traced.lines);
  CHECK(traced.elsewhere == 0);
  pthread_mutex_unlock(&traced.mu);
}

/* ---- an idle connection closed by Postfix ----------------------------------------------- */

/* How many of this process's sockets are ESTABLISHED to 127.0.0.1:port (/proc/net/tcp). */
static int my_established(int port) {
  unsigned long inodes[512];
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL && n < 512) {
    char path[300], link[128];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, link, sizeof link - 1);
    if (len <= 0) continue;
    link[len] = '\0';
    if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1) n++;
  }
  if (d != NULL) closedir(d);
  char *table = read_file("/proc/net/tcp", NULL);
  char remote[32];
  snprintf(remote, sizeof remote, "0100007F:%04X", port);
  int found = 0;
  for (char *line = table != NULL ? strchr(table, '\n') : NULL; line != NULL; line = strchr(line + 1, '\n')) {
    char rem[64];
    unsigned st;
    unsigned long inode;
    if (sscanf(line + 1, "%*s %*s %63s %x %*s %*s %*s %*s %*s %lu", rem, &st, &inode) != 3) continue;
    for (int i = 0; i < n; i++) found += strcmp(rem, remote) == 0 && st == 1 && inodes[i] == inode;
  }
  free(table);
  return found;
}

static void test_idle_connection_replaced(void) {
  if (rk_env_get("RK_POSTFIX_IDLE_PORT") == NULL) {
    printf("SKIPPED the idle reconnect test: RK_POSTFIX_IDLE_PORT is not in %s (the dovecot role's "
           "short-smtpd_timeout listener, tests/servers)\n", rk_env_path);
    return;
  }
  long since = (long)time(NULL) - 5;
  char prefix[96], id[160];
  snprintf(prefix, sizeof prefix, "<cm-idle.%s.", tag);
  /* The mailer's own idle timeout is far longer than Postfix's: the server closes first. */
  rk_mailer *mailer =
      mailer_for(plain_profile("RK_POSTFIX_IDLE_PORT"), "{\"max_connections\": 1, \"idle_timeout_secs\": 300}");
  if (mailer == NULL) return;
  int port = atoi(rk_env("RK_POSTFIX_IDLE_PORT"));
  for (int k = 0; k < 2; k++) {
    snprintf(id, sizeof id, "%s%d@relaykit.test>", prefix, k);
    rk_message *m = new_message(id, "idle reconnect");
    rk_send_result *r = NULL;
    CHECK_STATUS(rk_mailer_send(mailer, m, &r), RK_OK);
    CHECK(CONTAINS(rk_send_result_message_id(r), id + 1));
    rk_send_result_free(r);
    rk_message_free(m);
    if (k == 1) break;
    CHECK(my_established(port) == 1); /* pooled, open */
    /* Bounded wait for the server-side close: smtpd_timeout plus slack for a loaded machine. */
    double deadline = now_secs() + atof(rk_env("RK_POSTFIX_IDLE_SECS")) + 15.0;
    while (my_established(port) > 0 && now_secs() < deadline) pause_ms(50); /* polling the socket */
    CHECK(my_established(port) == 0);
  }
  CHECK(stat_of(mailer, "sent") == 2);
  CHECK(stat_of(mailer, "failed") == 0);
  CHECK(stat_of(mailer, "reconnects") == 1);
  CHECK(stat_of(mailer, "connections_opened") == 2);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  rk_mailer_free(mailer);
  int counts[2];
  CHECK(wait_delivered(prefix, since, counts, 2, 2) == 2);
  CHECK(counts[0] == 1 && counts[1] == 1);
}

int main(void) {
  rk_env_load();
  snprintf(tag, sizeof tag, "%ld.%ld", (long)getpid(), (long)time(NULL));
  CHECK_STATUS(rk_keyring_new(&keyring), RK_OK);
  CHECK_STATUS(rk_keyring_generate_key(keyring, NULL), RK_OK);

  test_bad_options_fail_at_creation();
  test_bad_message_alone_and_send_after_close();
  test_async();
  test_two_hundred_from_eight_threads();
  test_trace_lines_carry_the_connection();
  test_send_many_thousand_with_one_bad();
  test_idle_connection_replaced();

  rk_keyring_free(keyring);
  rk_env_unload();
  TEST_SUMMARY();
}
