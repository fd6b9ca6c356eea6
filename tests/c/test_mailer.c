/* rk_mailer against the real test servers (Postfix+Dovecot, STARTTLS): 200 messages from 8
 * threads sharing one mailer over at most 2 connections, each delivered exactly once; bad
 * options failing at creation; a bad message failing alone; send after close failing at once;
 * the callback form, also across rk_mailer_free. Built and run under ASan+UBSan and valgrind
 * by tests/c/run.sh. Needs $RELAYKIT_STATE/servers.env. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
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

static rk_mailer *new_mailer(const char *options_json) {
  rk_profile *p = dovecot_profile();
  rk_mailer *m = NULL;
  CHECK_STATUS(rk_mailer_new(p, keyring, NULL, options_json, &m), RK_OK);
  rk_profile_free(p); /* the mailer keeps what it needs */
  return m;
}

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

/* Counts into counts[] the files in one Maildir subfolder carrying "<prefix><t>.<i>@". Only
 * files whose Maildir name (it starts with the delivery time in seconds) is from this run are
 * read, so that earlier runs' thousands of messages are skipped. */
static void count_dir(const char *dir, const char *prefix, long since, int counts[TOTAL]) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || strtol(e->d_name, NULL, 10) < since) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *text = read_file(path, NULL);
    const char *at = text != NULL ? strstr(text, prefix) : NULL;
    int t, i;
    if (at != NULL && sscanf(at + strlen(prefix), "%d.%d@", &t, &i) == 2 && t >= 0 && t < THREADS && i >= 0 &&
        i < EACH)
      counts[t * EACH + i]++;
    free(text);
  }
  if (d != NULL) closedir(d);
}

/* Polls (bounded) RK_RCPT's Maildir until every one of the TOTAL messages has arrived;
 * returns how many arrived, with counts[] from the last full pass. */
static int wait_delivered(const char *prefix, long since, int counts[TOTAL]) {
  const char *rcpt = rk_env("RK_RCPT");
  char base[1024], dir[1100];
  snprintf(base, sizeof base, "%s/%s/%.*s", rk_env("RK_DOVECOT_MAIL_DIR"), rk_env("RK_DOMAIN"),
           (int)(strchr(rcpt, '@') - rcpt), rcpt);
  double deadline = now_secs() + WAIT_SECS;
  int arrived;
  do {
    memset(counts, 0, sizeof(int) * TOTAL);
    snprintf(dir, sizeof dir, "%s/new", base);
    count_dir(dir, prefix, since, counts);
    snprintf(dir, sizeof dir, "%s/cur", base);
    count_dir(dir, prefix, since, counts);
    arrived = 0;
    for (int k = 0; k < TOTAL; k++) arrived += counts[k] > 0;
    if (arrived == TOTAL) break;
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
    snprintf(id, sizeof id, "%s%d.%d@relaykit.test>", prefix200(), s->thread, i);
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
  CHECK(wait_delivered(prefix200(), since, counts) == TOTAL);
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
  rk_send_result_free(r);
  CHECK_STATUS(rk_mailer_send(mailer, NULL, &r), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_mailer_send(mailer, good, NULL), RK_INVALID_ARGUMENT);

  CHECK_STATUS(rk_mailer_close(mailer), RK_OK);
  CHECK_STATUS(rk_mailer_close(mailer), RK_OK); /* twice is harmless */
  double t0 = now_secs();
  r = (rk_send_result *)&r;
  CHECK_STATUS(rk_mailer_send(mailer, good, &r), RK_CONFIG);
  CHECK(now_secs() - t0 < 5.0); /* at once, not after a timeout (5 s: slack for valgrind) */
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "closed"));
  CHECK(r == (rk_send_result *)&r);
  CHECK(stat_of(mailer, "sent") == 1);
  CHECK(stat_of(mailer, "failed") == 2);
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

int main(void) {
  rk_env_load();
  snprintf(tag, sizeof tag, "%ld.%ld", (long)getpid(), (long)time(NULL));
  CHECK_STATUS(rk_keyring_new(&keyring), RK_OK);
  CHECK_STATUS(rk_keyring_generate_key(keyring, NULL), RK_OK);

  test_bad_options_fail_at_creation();
  test_bad_message_alone_and_send_after_close();
  test_async();
  test_two_hundred_from_eight_threads();

  rk_keyring_free(keyring);
  rk_env_unload();
  TEST_SUMMARY();
}
