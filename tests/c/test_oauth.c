/* rk_set_token_callback against the real oauth2 role (Postfix + Dovecot's oauth2 passdb, tokens
 * from the role's issuer over plain HTTP on loopback): OAUTHBEARER and XOAUTH2 mailer runs where
 * the callback's token is revoked mid-run, the callback is asked again with refresh=1 (calls
 * counted) and every message arrives (Maildir, by Message-ID); rk_test with a dead token (two
 * AUTH attempts); a callback that fails is RK_AUTH_FAILED naming the token provider and its
 * message, at once; no token in the trace or the report. Built and run under ASan+UBSan and
 * valgrind by tests/c/run.sh. Needs $RELAYKIT_STATE/servers.env with the oauth2 role. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "relaykit.h"
#include "check.h"
#include "http.h"
#include "servers_env.h"
#include "util.h"

#define WAIT_SECS 60

/* A new access token for the role's user (free it). */
static char *issue(void) { return rk_issue_token(rk_env("RK_OAUTH_TOKEN_URL"), rk_env("RK_OAUTH_USER"), rk_env("RK_OAUTH_PASS")); }

static void revoke(const char *token) { CHECK(rk_revoke_token(rk_env("RK_OAUTH_REVOKE_URL"), token) == 0); }

/* A host's provider: keeps its token for each new connection, a fresh one on refresh. */
#define MAX_CALLS 16
static struct provider {
  pthread_mutex_t lock;
  char *token;
  int calls[MAX_CALLS]; /* the refresh flag of each call */
  char *given[MAX_CALLS];
  int ncalls;
  int fail; /* 1: return an error with a message */
} prov = {PTHREAD_MUTEX_INITIALIZER, NULL, {0}, {NULL}, 0, 0};

static void prov_reset(char *first, int fail) {
  for (int i = 0; i < prov.ncalls; i++) free(prov.given[i]);
  free(prov.token);
  prov.token = first;
  prov.ncalls = 0;
  prov.fail = fail;
}

static int32_t token_cb(void *user, const char *username, int32_t refresh, char *buf, size_t cap) {
  struct provider *p = user;
  if (p->fail) {
    snprintf(buf, cap, "the issuer answered 503");
    return 7;
  }
  if (strcmp(username, rk_env("RK_OAUTH_USER")) != 0) return 1;
  pthread_mutex_lock(&p->lock);
  if (refresh || p->token == NULL) {
    free(p->token);
    p->token = issue();
  }
  if (p->ncalls < MAX_CALLS) {
    p->calls[p->ncalls] = refresh;
    p->given[p->ncalls] = p->token ? strdup(p->token) : NULL;
    p->ncalls++;
  }
  int rc = p->token != NULL && strlen(p->token) < cap ? 0 : 2;
  if (rc == 0) memcpy(buf, p->token, strlen(p->token) + 1);
  pthread_mutex_unlock(&p->lock);
  return rc;
}

/* Every trace line, for the redaction checks. */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static char *trace_text;
static size_t trace_len;

static void on_trace(void *user, const char *direction, const char *line) {
  (void)user;
  pthread_mutex_lock(&trace_lock);
  size_t add = strlen(direction) + strlen(line) + 3;
  char *bigger = realloc(trace_text, trace_len + add + 1);
  if (bigger) {
    trace_text = bigger;
    trace_len += (size_t)snprintf(trace_text + trace_len, add + 1, "%s: %s\n", direction, line);
  }
  pthread_mutex_unlock(&trace_lock);
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* No token the callback gave is in `text` (the AUTH lines that carry them in base64 are
 * checked to be `<redacted>` separately). */
static int no_token_in(const char *text) {
  for (int i = 0; i < prov.ncalls; i++) {
    if (prov.given[i] != NULL && strstr(text, prov.given[i]) != NULL) return 0;
  }
  return 1;
}

static rk_profile *oauth_profile(const char *mech, int timeout) {
  char json[2048];
  snprintf(json, sizeof json,
           "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_mode\":\"starttls\","
           "\"tls_ca_file\":\"%s\",\"timeout_secs\":%d,\"requires_authentication\":true,\"username\":\"%s\","
           "\"auth_mechanisms\":[\"%s\"]}",
           rk_env("RK_HOST"), rk_env("RK_OAUTH_PORT"), rk_env("RK_CA_FILE"), timeout, rk_env("RK_OAUTH_USER"), mech);
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  return p;
}

static rk_message *new_message(const char *id) {
  rk_message *m = NULL;
  if (rk_message_new(rk_env("RK_OAUTH_USER"), &m) != RK_OK) return NULL;
  if (rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")) != RK_OK ||
      rk_message_set_subject(m, "relaykit C oauth") != RK_OK || rk_message_set_text(m, "from a C token callback") != RK_OK ||
      rk_message_set_message_id(m, id) != RK_OK) {
    rk_message_free(m);
    return NULL;
  }
  return m;
}

/* Whether a file in carol's Maildir of the oauth2 role carries Message-ID `id`. */
static int in_maildir(const char *id) {
  const char *subs[] = {"new", "cur"};
  for (int s = 0; s < 2; s++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/relaykit.test/carol/%s", rk_env("RK_OAUTH_MAIL_DIR"), subs[s]);
    DIR *d = opendir(dir);
    if (d == NULL) continue;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char path[2048];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      char *text = read_file(path, NULL);
      found = CONTAINS(text, id);
      free(text);
    }
    closedir(d);
    if (found) return 1;
  }
  return 0;
}

static int wait_delivered(char ids[][128], int n) {
  double deadline = now_secs() + WAIT_SECS;
  for (;;) {
    int all = 1;
    for (int i = 0; i < n && all; i++) all = in_maildir(ids[i]);
    if (all) return 1;
    if (now_secs() > deadline) return 0;
    pause_ms(100);
  }
}

static void mailer_refreshes(const char *mech) {
  prov_reset(NULL, 0);
  rk_profile *p = oauth_profile(mech, 30);
  rk_mailer *m = NULL;
  CHECK_STATUS(rk_mailer_new(p, NULL, NULL, "{\"max_connections\":1,\"max_messages_per_connection\":2}", &m), RK_OK);
  rk_profile_free(p);
  char ids[6][128];
  for (int i = 0; i < 6; i++) {
    snprintf(ids[i], sizeof ids[i], "<c.oauth.%s.%ld.%d.%d@relaykit.test>", mech, (long)getpid(), (int)now_secs(), i);
    if (i == 2) revoke(prov.given[0]); /* the first token "expires" now */
    rk_message *msg = new_message(ids[i]);
    rk_send_result *r = NULL;
    CHECK_STATUS(rk_mailer_send(m, msg, &r), RK_OK);
    rk_send_result_free(r);
    rk_message_free(msg);
  }
  CHECK_STATUS(rk_mailer_close(m), RK_OK);
  rk_mailer_free(m);
  CHECK(wait_delivered(ids, 6));
  /* three connections: initial, initial + refresh after the revocation, initial */
  CHECK(prov.ncalls == 4);
  CHECK(prov.calls[0] == 0 && prov.calls[1] == 0 && prov.calls[2] == 1 && prov.calls[3] == 0);
  CHECK(prov.given[2] && prov.given[0] && strcmp(prov.given[2], prov.given[0]) != 0);
}

static void test_with_a_dead_token(const char *mech) {
  char *dead = issue();
  CHECK(dead != NULL);
  revoke(dead);
  prov_reset(dead, 0);
  rk_profile *p = oauth_profile(mech, 30);
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, NULL, NULL, NULL, &r), RK_OK);
  CHECK(rk_report_ok(r));
  char *json = NULL;
  CHECK_STATUS(rk_report_json(r, &json), RK_OK);
  CHECK(count(json, "\"code\":535") == 1 && count(json, "\"code\":235") == 1);
  CHECK(CONTAINS(json, mech));
  CHECK(prov.ncalls == 2 && prov.calls[0] == 0 && prov.calls[1] == 1);
  CHECK(no_token_in(json));
  rk_string_free(json);
  rk_report_free(r);
  rk_profile_free(p);
}

static void a_failing_callback_is_a_clear_error(void) {
  prov_reset(NULL, 1);
  rk_profile *p = oauth_profile("OAUTHBEARER", 30);
  rk_message *msg = new_message("<c.oauth.fail@relaykit.test>");
  rk_send_result *r = NULL;
  double start = now_secs();
  CHECK_STATUS(rk_send(p, NULL, NULL, msg, NULL, &r), RK_AUTH_FAILED);
  CHECK(now_secs() - start < 5);
  const rk_error *e = rk_last_error();
  CHECK(e != NULL && CONTAINS(rk_error_message(e),
                              "token provider failed to give a token: the token callback returned 7: the issuer answered 503"));
  CHECK(e != NULL && strcmp(rk_error_stage(e), "auth") == 0);
  rk_message_free(msg);
  rk_profile_free(p);
}

int main(void) {
  rk_env_load();
  if (rk_env_get("RK_OAUTH_TOKEN_URL") == NULL) {
    printf("SKIPPED: the oauth2 role is not in %s\n", rk_env_path);
    rk_env_unload();
    return 0;
  }
  CHECK_STATUS(rk_set_trace_callback(on_trace, NULL), RK_OK);
  CHECK_STATUS(rk_set_token_callback(token_cb, &prov), RK_OK);
  mailer_refreshes("OAUTHBEARER");
  mailer_refreshes("XOAUTH2");
  CHECK(count(trace_text, "S: 535") == 2);
  CHECK(CONTAINS(trace_text, "AUTH OAUTHBEARER <redacted>") && CONTAINS(trace_text, "AUTH XOAUTH2 <redacted>"));
  CHECK(no_token_in(trace_text));
  test_with_a_dead_token("OAUTHBEARER");
  test_with_a_dead_token("XOAUTH2");
  CHECK(no_token_in(trace_text));
  a_failing_callback_is_a_clear_error();
  /* Without the callback, the profile without a password is refused at once. */
  CHECK_STATUS(rk_set_token_callback(NULL, NULL), RK_OK);
  rk_profile *p = oauth_profile("XOAUTH2", 30);
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, NULL, NULL, NULL, &r), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "$.password"));
  rk_profile_free(p);
  CHECK_STATUS(rk_set_trace_callback(NULL, NULL), RK_OK);
  prov_reset(NULL, 0);
  free(trace_text);
  rk_env_unload();
  TEST_SUMMARY();
}
