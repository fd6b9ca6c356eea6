/* The C ABI against the real test servers (tests/servers/): Test, Send with an attachment
 * checked byte for byte where it arrived, every error path, 8 threads at once, the callback
 * forms and the trace callback. Built with -std=c11 -Wall -Wextra -Wpedantic -Werror, run
 * under ASan+UBSan and under valgrind by tests/c/run.sh. Needs $RELAYKIT_STATE/servers.env. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "relaykit.h"
#include "base64.h"
#include "check.h"
#include "servers_env.h"
#include "util.h"

#define WAIT_SECS 30
#define STREQ(a, b) ((a) != NULL && strcmp((a), (b)) == 0)

static rk_keyring *keyring; /* shared by every test and thread: safe for reading */
static int msg_seq;

/* A profile from printf-style JSON; NULL (and a failed check) if it does not parse. */
static rk_profile *profile_json(const char *fmt, ...) {
  char json[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(json, sizeof json, fmt, ap);
  va_end(ap);
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  return p;
}

/* Turns on authentication as RK_USER with `password` encrypted under the shared keyring (a
 * profile's JSON must carry a password when it requires authentication; this way the plain
 * text never sits in the profile). */
static void with_password(rk_profile *p, const char *password) {
  CHECK_STATUS(rk_profile_set_authentication(p, true, rk_env("RK_USER"), NULL), RK_OK);
  CHECK_STATUS(rk_profile_encrypt_password(p, password, keyring), RK_OK);
}

/* Dovecot behind Postfix, STARTTLS required, verified against the test CA; the password is
 * encrypted under the shared keyring. */
static rk_profile *dovecot_profile(const char *password) {
  rk_profile *p = profile_json(
      "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_ca_file\":\"%s\","
      "\"timeout_secs\":20}",
      rk_env("RK_HOST"), rk_env("RK_DOVECOT_STARTTLS_PORT"), rk_env("RK_CA_FILE"));
  with_password(p, password);
  return p;
}

/* aiosmtpd: stores the exact DATA bytes. */
static rk_profile *aiosmtpd_profile(const char *password) {
  rk_profile *p = profile_json(
      "{\"server\":\"%s\",\"port\":%s,\"tls_ca_file\":\"%s\",\"allow_plaintext_password\":true,"
      "\"timeout_secs\":20}",
      rk_env("RK_HOST"), rk_env("RK_AIOSMTPD_PORT"), rk_env("RK_CA_FILE"));
  with_password(p, password);
  return p;
}

/* A unique Message-ID local part for this process. */
static void new_id(char *buf, size_t n) {
  snprintf(buf, n, "c-test-%ld-%d-%ld@relaykit.test", (long)getpid(), ++msg_seq, (long)time(NULL));
}

/* Polls (bounded) the aiosmtpd store for the message whose .json (written last, so the .eml
 * is complete) names `id`; returns the .eml bytes (free them) or NULL. */
static char *aiosmtpd_find(const char *id, size_t *len) {
  const char *dir = rk_env("RK_AIOSMTPD_DIR");
  double deadline = now_secs() + WAIT_SECS;
  do {
    DIR *d = opendir(dir);
    if (d == NULL) return NULL;
    struct dirent *e;
    char path[2048];
    char *found = NULL;
    while (found == NULL && (e = readdir(d)) != NULL) {
      size_t nl = strlen(e->d_name);
      if (nl < 6 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      char *json = read_file(path, NULL);
      if (json != NULL && strstr(json, id) != NULL) {
        snprintf(path, sizeof path, "%s/%.*s.eml", dir, (int)(nl - 5), e->d_name);
        found = read_file(path, len);
      }
      free(json);
    }
    closedir(d);
    if (found != NULL) return found;
    pause_ms(50);
  } while (now_secs() < deadline);
  return NULL;
}

/* Decodes the base64 body of the MIME part whose headers name `filename`, up to the next
 * boundary line. Returns a malloc'd buffer (free it) or NULL. */
static unsigned char *mime_part(const char *eml, const char *filename, size_t *len) {
  char needle[256];
  snprintf(needle, sizeof needle, "filename=\"%s\"", filename);
  const char *p = strstr(eml, needle);
  if (p == NULL) return NULL;
  p = strstr(p, "\r\n\r\n");
  if (p == NULL) return NULL;
  p += 4;
  const char *end = strstr(p, "\r\n--");
  if (end == NULL) return NULL;
  unsigned char *out = malloc((size_t)(end - p) + 1);
  *len = out != NULL ? rk_b64_decode(p, (size_t)(end - p), out) : 0;
  return out;
}

/* ---- Test ------------------------------------------------------------------------------- */

static void test_test_ok(void) {
  rk_profile *p = dovecot_profile(rk_env("RK_PASS"));
  CHECK(rk_profile_password_encrypted(p));
  char *json = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json), RK_OK);
  CHECK(json != NULL && strstr(json, rk_env("RK_PASS")) == NULL);
  CHECK(CONTAINS(json, "enc:v1:"));
  rk_string_free(json);

  char opts[512];
  snprintf(opts, sizeof opts, "{\"relay_check\":{\"from\":\"%s\",\"to\":\"%s\"}}", rk_env("RK_USER"),
           rk_env("RK_RCPT"));
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, opts, &r), RK_OK);
  CHECK(r != NULL);
  CHECK(rk_last_error() == NULL);
  CHECK(rk_report_ok(r));
  CHECK(rk_report_error(r) == NULL);
  CHECK(rk_report_auth_mechanism(r) != NULL && STREQ(rk_report_auth_mechanism(r), "SCRAM-SHA-256"));
  CHECK(CONTAINS(rk_report_tls_version(r), "TLSv1."));
  CHECK(rk_report_tls_cipher(r) != NULL);
  CHECK(rk_report_tls_verified(r));
  CHECK(rk_report_banner(r) != NULL);
  size_t stages = rk_report_stage_count(r);
  CHECK(stages >= 5);
  int saw_auth = 0;
  for (size_t i = 0; i < stages; i++) {
    CHECK(rk_report_stage_ok(r, i));
    CHECK(rk_report_stage_ms(r, i) >= 0.0);
    if (STREQ(rk_report_stage_name(r, i), "auth")) saw_auth = 1;
  }
  CHECK(saw_auth);
  CHECK(rk_report_stage_name(r, stages) == NULL);
  CHECK(rk_report_stage_ms(r, stages) < 0.0);
  CHECK(rk_report_warning_count(r) == 0);
  CHECK(rk_report_warning(r, 0) == NULL);
  json = NULL;
  CHECK_STATUS(rk_report_json(r, &json), RK_OK);
  CHECK(CONTAINS(json, "\"ok\":true"));
  CHECK(CONTAINS(json, "\"relay\":{"));
  CHECK(CONTAINS(json, "\"mechanism\":\"SCRAM-SHA-256\""));
  CHECK(json != NULL && strstr(json, rk_env("RK_PASS")) == NULL);
  rk_string_free(json);
  rk_report_free(r);
  rk_profile_free(p);
}

static void test_test_server_failures(void) {
  /* Wrong password: the Test ran, so RK_OK, and the failure is in the report. */
  rk_profile *p = dovecot_profile(rk_env("RK_BAD_PASS"));
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, NULL, &r), RK_OK);
  CHECK(!rk_report_ok(r));
  const rk_error *e = rk_report_error(r);
  CHECK(e != NULL);
  CHECK(rk_error_status(e) == RK_AUTH_FAILED);
  CHECK(STREQ(rk_error_kind(e), "auth_failed"));
  CHECK(STREQ(rk_error_stage(e), "auth"));
  CHECK(rk_error_code(e) == 535);
  CHECK(CONTAINS(rk_error_enhanced_code(e), "5.7.8"));
  CHECK(rk_error_hint(e) != NULL);
  CHECK(rk_report_auth_mechanism(r) == NULL);
  char *json = NULL;
  CHECK_STATUS(rk_report_json(r, &json), RK_OK);
  CHECK(CONTAINS(json, "\"ok\":false"));
  CHECK(CONTAINS(json, "\"kind\":\"auth_failed\""));
  rk_string_free(json);
  rk_report_free(r);
  rk_profile_free(p);
}

/* Invalid input makes rk_test itself fail, and leaves the out-parameter alone. */
static void test_test_invalid_input(void) {
  rk_profile *p = dovecot_profile(rk_env("RK_PASS"));
  rk_report *untouched = (rk_report *)&untouched;
  CHECK_STATUS(rk_test(NULL, keyring, NULL, NULL, &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "profile is NULL"));
  CHECK_STATUS(rk_test(p, keyring, NULL, NULL, NULL), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "report_out"));
  const char bad_utf8[] = {'{', '"', (char)0xC3, (char)0x28, '"', '}', 0};
  CHECK_STATUS(rk_test(p, keyring, NULL, bad_utf8, &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "options_json is not valid UTF-8"));
  CHECK_STATUS(rk_test(p, keyring, NULL, "{nope", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "not valid JSON"));
  CHECK_STATUS(rk_test(p, keyring, NULL, "{\"relay\":1}", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "relay"));
  CHECK_STATUS(rk_test(p, keyring, NULL, "{\"relay_check\":{\"from\":\"a@b\"}}", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "relay_check.to"));
  /* An encrypted password without its key. */
  CHECK_STATUS(rk_test(p, NULL, NULL, NULL, &untouched), RK_CRYPTO);
  CHECK(STREQ(rk_error_kind(rk_last_error()), "crypto"));
  rk_profile_free(p);

  /* A tag with no value. */
  p = profile_json("{\"server\":\"~ACC::%%Host%%~\",\"port\":%s}", rk_env("RK_DOVECOT_PLAIN_PORT"));
  CHECK_STATUS(rk_test(p, NULL, NULL, NULL, &untouched), RK_RRT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "~ACC::%Host%~"));
  /* ...and with one. */
  rk_rrt_context *ctx = NULL;
  CHECK_STATUS(rk_rrt_context_new(&ctx), RK_OK);
  CHECK_STATUS(rk_rrt_context_set(ctx, RK_RRT_PLAIN, "ACC", "Host", rk_env("RK_HOST")), RK_OK);
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, NULL, ctx, NULL, &r), RK_OK);
  CHECK(rk_report_ok(r));
  rk_report_free(r);
  rk_rrt_context_free(ctx);
  rk_profile_free(p);
  CHECK(untouched == (rk_report *)&untouched);
}

/* ---- Send ------------------------------------------------------------------------------- */

static void test_send_attachment_arrives(void) {
  rk_profile *p = aiosmtpd_profile(rk_env("RK_PASS"));
  char id[128];
  new_id(id, sizeof id);
  unsigned char blob[3000];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (unsigned char)((i * 7 + i / 256) & 0xFF);

  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new("placeholder@relaykit.test", &m), RK_OK);
  CHECK_STATUS(rk_message_set_from(m, rk_env("RK_USER")), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_CC, rk_env("RK_USER2")), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_REPLY_TO, "replies@relaykit.test"), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, "C ABI attachment"), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "See the attachment.\n"), RK_OK);
  CHECK_STATUS(rk_message_set_message_id(m, id), RK_OK);
  CHECK_STATUS(rk_message_attach_bytes(m, "blob.bin", "application/octet-stream", blob, sizeof blob), RK_OK);

  rk_send_result *res = NULL;
  CHECK_STATUS(rk_send(p, keyring, NULL, m, NULL, &res), RK_OK);
  CHECK(rk_last_error() == NULL);
  CHECK(rk_send_result_accepted_count(res) == 2);
  CHECK(rk_send_result_accepted(res, 0) != NULL && STREQ(rk_send_result_accepted(res, 0), rk_env("RK_RCPT")));
  CHECK(rk_send_result_accepted(res, 2) == NULL);
  CHECK(rk_send_result_rejected_count(res) == 0);
  CHECK(CONTAINS(rk_send_result_message_id(res), id));
  CHECK(rk_send_result_reply_code(res) == 250);
  CHECK(CONTAINS(rk_send_result_reply(res), "250"));
  char *json = NULL;
  CHECK_STATUS(rk_send_result_json(res, &json), RK_OK);
  CHECK(CONTAINS(json, "\"accepted\":["));
  CHECK(CONTAINS(json, id));
  rk_string_free(json);
  rk_send_result_free(res);

  size_t len = 0;
  char *eml = aiosmtpd_find(id, &len);
  CHECK(eml != NULL);
  if (eml != NULL) {
    CHECK(CONTAINS(eml, "Subject: C ABI attachment"));
    CHECK(CONTAINS(eml, "replies@relaykit.test"));
    size_t got_len = 0;
    unsigned char *got = mime_part(eml, "blob.bin", &got_len);
    CHECK(got != NULL);
    CHECK(got_len == sizeof blob);
    CHECK(got != NULL && got_len == sizeof blob && memcmp(got, blob, sizeof blob) == 0);
    free(got);
  }
  free(eml);
  rk_message_free(m);
  rk_profile_free(p);
}

/* A raw message arrives exactly as given (aiosmtpd stores the DATA bytes after unstuffing). */
static void test_send_raw_byte_exact(void) {
  rk_profile *p = aiosmtpd_profile(rk_env("RK_PASS"));
  char id[128], raw[1024];
  new_id(id, sizeof id);
  int n = snprintf(raw, sizeof raw,
                   "From: <%s>\r\nTo: <%s>\r\nSubject: raw from C\r\nMessage-ID: <%s>\r\n\r\n"
                   "line one\r\n.a line starting with a dot\r\n\r\n\tlast line\r\n",
                   rk_env("RK_USER"), rk_env("RK_RCPT"), id);
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new_raw(rk_env("RK_USER"), rk_env("RK_RCPT"), (const uint8_t *)raw, (size_t)n, &m), RK_OK);
  rk_send_result *res = NULL;
  CHECK_STATUS(rk_send(p, keyring, NULL, m, NULL, &res), RK_OK);
  CHECK(rk_send_result_accepted_count(res) == 1);
  rk_send_result_free(res);
  size_t len = 0;
  char *eml = aiosmtpd_find(id, &len);
  CHECK(eml != NULL);
  CHECK(eml != NULL && len == (size_t)n && memcmp(eml, raw, (size_t)n) == 0);
  free(eml);
  rk_message_free(m);
  rk_profile_free(p);
}

static void test_send_to_postfix_maildir_recipients(void) {
  /* Dovecot/Postfix: one recipient refused at RCPT, the other accepted. */
  rk_profile *p = dovecot_profile(rk_env("RK_PASS"));
  char id[128];
  new_id(id, sizeof id);
  char json[1024];
  snprintf(json, sizeof json,
           "{\"from\":\"%s\",\"to\":[\"%s\",\"%s\"],\"subject\":\"partial\",\"text\":\"hi\",\"message_id\":\"%s\"}",
           rk_env("RK_USER"), rk_env("RK_RCPT"), rk_env("RK_REJECT_RCPT"), id);
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_from_json(json, &m), RK_OK);
  rk_send_result *res = NULL;
  CHECK_STATUS(rk_send(p, keyring, NULL, m, NULL, &res), RK_OK);
  CHECK(rk_send_result_accepted_count(res) == 1);
  CHECK(rk_send_result_rejected_count(res) == 1);
  CHECK(rk_send_result_rejected_address(res, 0) != NULL &&
        STREQ(rk_send_result_rejected_address(res, 0), rk_env("RK_REJECT_RCPT")));
  CHECK(rk_send_result_rejected_code(res, 0) == 550);
  CHECK(CONTAINS(rk_send_result_rejected_enhanced_code(res, 0), "5.1.1"));
  CHECK(rk_send_result_rejected_message(res, 0) != NULL);
  CHECK(rk_send_result_rejected_address(res, 1) == NULL);
  CHECK(rk_send_result_rejected_code(res, 1) == 0);
  rk_send_result_free(res);
  rk_message_free(m);

  /* Every recipient refused: the send fails with the reply. */
  rk_message *m2 = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m2), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m2, RK_RCPT_TO, rk_env("RK_REJECT_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_text(m2, "nobody gets this"), RK_OK);
  rk_send_result *untouched = (rk_send_result *)&untouched;
  CHECK_STATUS(rk_send(p, keyring, NULL, m2, NULL, &untouched), RK_RECIPIENT_REJECTED);
  CHECK(untouched == (rk_send_result *)&untouched);
  CHECK(rk_error_code(rk_last_error()) == 550);
  CHECK(CONTAINS(rk_error_stage(rk_last_error()), "rcpt"));
  rk_message_free(m2);
  rk_profile_free(p);
}

/* A TCP listener that accepts connections into its backlog and never says a word. */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A loopback port nothing listens on (bound, then closed: connecting is refused). */
static int closed_port(void) {
  int port = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &al) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static void test_send_errors(void) {
  rk_profile *good = aiosmtpd_profile(rk_env("RK_PASS"));
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, "errors"), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "x"), RK_OK);
  rk_send_result *untouched = (rk_send_result *)&untouched;

  /* NULL and UTF-8 checks. */
  CHECK_STATUS(rk_send(NULL, keyring, NULL, m, NULL, &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "profile is NULL"));
  CHECK_STATUS(rk_send(good, keyring, NULL, NULL, NULL, &untouched), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "message is NULL"));
  CHECK_STATUS(rk_send(good, keyring, NULL, m, NULL, NULL), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "result_out"));
  const char bad_utf8[] = {'{', (char)0xFF, '}', 0};
  CHECK_STATUS(rk_send(good, keyring, NULL, m, bad_utf8, &untouched), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_send(good, keyring, NULL, m, "[1,", &untouched), RK_CONFIG);
  CHECK_STATUS(rk_send(good, keyring, NULL, m, "{\"relay_check\":{}}", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "relay_check"));
  /* Header injection is refused before connecting. */
  rk_message *inj = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &inj), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(inj, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_subject(inj, "hi\r\nBcc: victim@example.com"), RK_OK);
  CHECK_STATUS(rk_send(good, keyring, NULL, inj, NULL, &untouched), RK_CONFIG);
  rk_message_free(inj);

  /* Wrong password: 535 from the server. */
  rk_profile *bad = aiosmtpd_profile(rk_env("RK_BAD_PASS"));
  CHECK_STATUS(rk_send(bad, keyring, NULL, m, NULL, &untouched), RK_AUTH_FAILED);
  const rk_error *e = rk_last_error();
  CHECK(e != NULL);
  CHECK(rk_error_status(e) == RK_AUTH_FAILED);
  CHECK(rk_error_code(e) == 535);
  CHECK(STREQ(rk_error_stage(e), "auth"));
  CHECK(rk_error_hint(e) != NULL);
  CHECK(CONTAINS(rk_error_json(e), "\"kind\":\"auth_failed\""));
  CHECK(e != NULL && strstr(rk_error_json(e), rk_env("RK_BAD_PASS")) == NULL);
  rk_profile_free(bad);

  /* Nothing listens: connect error, in rk_send's status and in rk_test's report. */
  int port = closed_port();
  CHECK(port > 0);
  rk_profile *nowhere = profile_json("{\"server\":\"127.0.0.1\",\"port\":%d,\"timeout_secs\":5}", port);
  CHECK_STATUS(rk_send(nowhere, NULL, NULL, m, NULL, &untouched), RK_CONNECT);
  CHECK(CONTAINS(rk_error_stage(rk_last_error()), "connect"));
  CHECK(rk_error_code(rk_last_error()) == 0);
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(nowhere, NULL, NULL, NULL, &r), RK_OK);
  CHECK(!rk_report_ok(r));
  CHECK(rk_error_status(rk_report_error(r)) == RK_CONNECT);
  rk_report_free(r);
  rk_profile_free(nowhere);

  /* A server that accepts the connection and never greets: timeout, bounded by timeout_secs. */
  int lport = 0;
  int lfd = silent_listener(&lport);
  CHECK(lfd >= 0);
  rk_profile *mute = profile_json("{\"server\":\"127.0.0.1\",\"port\":%d,\"timeout_secs\":1}", lport);
  double t0 = now_secs();
  CHECK_STATUS(rk_send(mute, NULL, NULL, m, NULL, &untouched), RK_TIMEOUT);
  double took = now_secs() - t0;
  CHECK(took >= 0.9 && took < 10.0);
  CHECK(STREQ(rk_error_kind(rk_last_error()), "timeout"));
  CHECK(rk_error_stage(rk_last_error()) != NULL);
  r = NULL;
  CHECK_STATUS(rk_test(mute, NULL, NULL, NULL, &r), RK_OK);
  CHECK(!rk_report_ok(r));
  CHECK(rk_error_status(rk_report_error(r)) == RK_TIMEOUT);
  rk_report_free(r);
  rk_profile_free(mute);
  if (lfd >= 0) close(lfd);

  CHECK(untouched == (rk_send_result *)&untouched);
  rk_message_free(m);
  rk_profile_free(good);
}

/* ---- 8 threads at once ------------------------------------------------------------------ */

#define THREADS 8

struct job {
  char id[128];
  rk_status status;
  size_t accepted;
};

static void *send_thread(void *arg) {
  struct job *j = arg;
  /* A profile and message per thread; the keyring is shared (read-only use is thread-safe). */
  rk_profile *p = NULL;
  char json[1024];
  snprintf(json, sizeof json,
           "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_ca_file\":\"%s\","
           "\"timeout_secs\":20}",
           rk_env("RK_HOST"), rk_env("RK_DOVECOT_STARTTLS_PORT"), rk_env("RK_CA_FILE"));
  j->status = rk_profile_from_json(json, &p);
  if (j->status == RK_OK) j->status = rk_profile_set_authentication(p, true, rk_env("RK_USER"), NULL);
  if (j->status == RK_OK) j->status = rk_profile_encrypt_password(p, rk_env("RK_PASS"), keyring);
  rk_message *m = NULL;
  if (j->status == RK_OK) j->status = rk_message_new(rk_env("RK_USER"), &m);
  if (j->status == RK_OK) j->status = rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT"));
  if (j->status == RK_OK) j->status = rk_message_set_subject(m, "threaded");
  if (j->status == RK_OK) j->status = rk_message_set_text(m, "one of eight");
  if (j->status == RK_OK) j->status = rk_message_set_message_id(m, j->id);
  rk_send_result *res = NULL;
  if (j->status == RK_OK) j->status = rk_send(p, keyring, NULL, m, NULL, &res);
  if (j->status == RK_OK) j->accepted = rk_send_result_accepted_count(res);
  rk_send_result_free(res);
  rk_message_free(m);
  rk_profile_free(p);
  return NULL;
}

/* Polls (bounded) the recipient's Maildir for a file containing `id`. */
static int maildir_has(const char *user, const char *id) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s/%s/new", rk_env("RK_DOVECOT_MAIL_DIR"), rk_env("RK_DOMAIN"), user);
  double deadline = now_secs() + WAIT_SECS;
  do {
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d != NULL && !found && (e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char path[2048];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      char *text = read_file(path, NULL);
      found = text != NULL && strstr(text, id) != NULL;
      free(text);
    }
    if (d != NULL) closedir(d);
    if (found) return 1;
    pause_ms(50);
  } while (now_secs() < deadline);
  return 0;
}

static void test_threads(void) {
  pthread_t t[THREADS];
  struct job jobs[THREADS];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < THREADS; i++) {
    new_id(jobs[i].id, sizeof jobs[i].id);
    jobs[i].status = RK_INTERNAL;
    CHECK(pthread_create(&t[i], NULL, send_thread, &jobs[i]) == 0);
  }
  for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
  const char *rcpt = rk_env("RK_RCPT");
  char local[128];
  snprintf(local, sizeof local, "%.*s", (int)(strchr(rcpt, '@') - rcpt), rcpt);
  for (int i = 0; i < THREADS; i++) {
    CHECK(jobs[i].status == RK_OK);
    CHECK(jobs[i].accepted == 1);
    CHECK(maildir_has(local, jobs[i].id));
  }
}

/* ---- callback forms --------------------------------------------------------------------- */

struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  rk_status status;
  rk_report *report;
  rk_send_result *result;
  int had_error;
  uint16_t code;
  char kind[32];
  pthread_t thread;
};

static void waiter_init(struct waiter *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
}

static void waiter_done(struct waiter *w, rk_status st, const rk_error *err) {
  pthread_mutex_lock(&w->mu);
  w->calls++;
  w->status = st;
  w->thread = pthread_self();
  w->had_error = err != NULL;
  if (err != NULL) { /* borrowed: copy what is needed before returning */
    w->code = rk_error_code(err);
    snprintf(w->kind, sizeof w->kind, "%s", rk_error_kind(err));
  }
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void on_test(void *user, rk_status st, rk_report *report, const rk_error *err) {
  struct waiter *w = user;
  w->report = report; /* ours now: freed by the test */
  waiter_done(w, st, err);
}

static void on_send(void *user, rk_status st, rk_send_result *result, const rk_error *err) {
  struct waiter *w = user;
  w->result = result;
  waiter_done(w, st, err);
}

/* Waits (bounded) for the callback; returns whether it came. */
static int waiter_wait(struct waiter *w) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += WAIT_SECS;
  pthread_mutex_lock(&w->mu);
  int rc = 0;
  while (w->calls == 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
  int calls = w->calls;
  pthread_mutex_unlock(&w->mu);
  return calls > 0;
}

static void waiter_destroy(struct waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

static void test_async(void) {
  /* Test: the handles may be freed as soon as the call returns. */
  struct waiter w;
  waiter_init(&w);
  rk_profile *p = dovecot_profile(rk_env("RK_PASS"));
  CHECK_STATUS(rk_test_async(p, keyring, NULL, NULL, on_test, &w), RK_OK);
  rk_profile_free(p);
  CHECK(waiter_wait(&w));
  CHECK(w.calls == 1);
  CHECK(w.status == RK_OK);
  CHECK(!w.had_error);
  CHECK(!pthread_equal(w.thread, pthread_self()));
  CHECK(rk_report_ok(w.report));
  CHECK(rk_report_auth_mechanism(w.report) != NULL);
  rk_report_free(w.report);
  waiter_destroy(&w);

  /* Send, delivered. */
  waiter_init(&w);
  p = aiosmtpd_profile(rk_env("RK_PASS"));
  char id[128];
  new_id(id, sizeof id);
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "async"), RK_OK);
  CHECK_STATUS(rk_message_set_message_id(m, id), RK_OK);
  CHECK_STATUS(rk_send_async(p, keyring, NULL, m, NULL, on_send, &w), RK_OK);
  rk_message_free(m);
  CHECK(waiter_wait(&w));
  CHECK(w.status == RK_OK);
  CHECK(rk_send_result_accepted_count(w.result) == 1);
  CHECK(CONTAINS(rk_send_result_message_id(w.result), id));
  rk_send_result_free(w.result);
  char *eml = aiosmtpd_find(id, NULL);
  CHECK(eml != NULL);
  free(eml);
  waiter_destroy(&w);
  rk_profile_free(p);

  /* Send, failed: the error comes to the callback, borrowed. */
  waiter_init(&w);
  p = aiosmtpd_profile(rk_env("RK_BAD_PASS"));
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "never"), RK_OK);
  CHECK_STATUS(rk_send_async(p, keyring, NULL, m, NULL, on_send, &w), RK_OK);
  CHECK(waiter_wait(&w));
  CHECK(w.status == RK_AUTH_FAILED);
  CHECK(w.result == NULL);
  CHECK(w.had_error);
  CHECK(w.code == 535);
  CHECK(STREQ(w.kind, "auth_failed"));
  waiter_destroy(&w);

  /* Bad arguments: nothing starts and the callback is never called. */
  CHECK_STATUS(rk_send_async(p, keyring, NULL, m, NULL, NULL, NULL), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "cb is NULL"));
  CHECK_STATUS(rk_test_async(NULL, keyring, NULL, NULL, on_test, NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_send_async(p, keyring, NULL, NULL, NULL, on_send, NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_test_async(p, keyring, NULL, "{bad", on_test, NULL), RK_CONFIG);
  rk_message_free(m);
  rk_profile_free(p);
}

/* ---- trace ------------------------------------------------------------------------------ */

static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
static char trace_buf[65536];
static size_t trace_len;
static int trace_lines;

static void on_trace(void *user, const char *dir, const char *line) {
  int *tag = user;
  pthread_mutex_lock(&trace_mu);
  if (*tag == 42) {
    trace_lines++;
    int n = snprintf(trace_buf + trace_len, sizeof trace_buf - trace_len, "%s: %s\n", dir, line);
    if (n > 0 && (size_t)n < sizeof trace_buf - trace_len) trace_len += (size_t)n;
  }
  pthread_mutex_unlock(&trace_mu);
}

static void test_trace(void) {
  static int tag = 42;
  CHECK_STATUS(rk_set_trace_callback(on_trace, &tag), RK_OK);
  /* PLAIN, so that the credentials would be on the wire in base64 if not redacted. */
  rk_profile *p = profile_json(
      "{\"server\":\"%s\",\"port\":%s,\"starttls\":\"never\",\"auth_mechanisms\":[\"PLAIN\"],"
      "\"allow_plaintext_password\":true}",
      rk_env("RK_HOST"), rk_env("RK_AIOSMTPD_PORT"));
  with_password(p, rk_env("RK_PASS"));
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, NULL, &r), RK_OK);
  CHECK(rk_report_ok(r));
  CHECK(CONTAINS(rk_report_auth_mechanism(r), "PLAIN"));
  rk_report_free(r);
  CHECK_STATUS(rk_set_trace_callback(NULL, NULL), RK_OK);
  pthread_mutex_lock(&trace_mu);
  CHECK(trace_lines > 4);
  CHECK(CONTAINS(trace_buf, "S: 220"));
  CHECK(CONTAINS(trace_buf, "C: EHLO"));
  CHECK(CONTAINS(trace_buf, "C: AUTH PLAIN <redacted>"));
  CHECK(CONTAINS(trace_buf, "C: QUIT"));
  CHECK(strstr(trace_buf, rk_env("RK_PASS")) == NULL);
  CHECK(strstr(trace_buf, "AGFsaWNl") == NULL); /* base64 of "\0alice" */
  int before = trace_lines;
  pthread_mutex_unlock(&trace_mu);

  /* Off again: nothing more arrives. */
  r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, NULL, &r), RK_OK);
  rk_report_free(r);
  CHECK(trace_lines == before);
  rk_profile_free(p);
}

/* `text` with newlines written as \n, for a JSON string (PEM has no quotes or backslashes). */
static char *json_lines(const char *text) {
  size_t n = strlen(text), k = 0;
  char *out = malloc(2 * n + 1);
  if (out == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (text[i] == '\n') {
      out[k++] = '\\';
      out[k++] = 'n';
    } else {
      out[k++] = text[i];
    }
  }
  out[k] = '\0';
  return out;
}

/* Client certificates (mutual TLS, #15) against the ccert role: relaying is allowed with the
 * test client certificate, the report says it was sent, the inline key can be encrypted
 * through the ABI, and a key that is not the certificate's is a config error naming it. */
static void test_client_certificate(void) {
  if (rk_env_get("RK_CCERT_PORT") == NULL) return; /* the ccert role is not running */
  char opts[512];
  snprintf(opts, sizeof opts, "{\"relay_check\":{\"from\":\"%s\",\"to\":\"%s\"}}", rk_env("RK_USER"),
           rk_env("RK_RELAY_RCPT"));
  rk_profile *p = profile_json(
      "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_mode\":\"starttls\",\"tls_ca_file\":\"%s\","
      "\"timeout_secs\":20,\"tls_client_cert_file\":\"%s\",\"tls_client_key_file\":\"%s\"}",
      rk_env("RK_HOST"), rk_env("RK_CCERT_PORT"), rk_env("RK_CA_FILE"), rk_env("RK_CLIENT_CERT"),
      rk_env("RK_CLIENT_KEY"));
  rk_report *r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, opts, &r), RK_OK);
  char *json = NULL;
  CHECK_STATUS(rk_report_json(r, &json), RK_OK);
  CHECK(CONTAINS(json, "\"client_certificate_sent\":true"));
  CHECK(CONTAINS(json, "\"relay\":{") && CONTAINS(json, "\"ok\":true"));
  rk_string_free(json);
  rk_report_free(r);
  rk_profile_free(p);

  /* The key inline, then encrypted through the ABI: the saved JSON holds only the envelope. */
  char *key = read_file(rk_env("RK_CLIENT_KEY"), NULL);
  char *key_json = key != NULL ? json_lines(key) : NULL;
  CHECK(key_json != NULL);
  p = profile_json(
      "{\"id\":\"c-mtls\",\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_mode\":\"starttls\","
      "\"tls_ca_file\":\"%s\",\"timeout_secs\":20,\"tls_client_cert_file\":\"%s\",\"tls_client_key\":\"%s\"}",
      rk_env("RK_HOST"), rk_env("RK_CCERT_PORT"), rk_env("RK_CA_FILE"), rk_env("RK_CLIENT_CERT"),
      key_json != NULL ? key_json : "");
  CHECK_STATUS(rk_profile_encrypt_tls_client_key(p, key != NULL ? key : "", keyring), RK_OK);
  CHECK_STATUS(rk_profile_encrypt_tls_client_key(p, NULL, keyring), RK_INVALID_ARGUMENT);
  json = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json), RK_OK);
  CHECK(CONTAINS(json, "enc:v1:") && !CONTAINS(json, "PRIVATE KEY"));
  rk_string_free(json);
  r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, opts, &r), RK_OK);
  json = NULL;
  CHECK_STATUS(rk_report_json(r, &json), RK_OK);
  CHECK(CONTAINS(json, "\"client_certificate_sent\":true"));
  rk_string_free(json);
  rk_report_free(r);
  rk_profile_free(p);
  free(key_json);
  free(key);

  /* The other client's key with this certificate. */
  p = profile_json(
      "{\"server\":\"%s\",\"port\":%s,\"encrypted_connection\":true,\"tls_mode\":\"starttls\",\"tls_ca_file\":\"%s\","
      "\"tls_client_cert_file\":\"%s\",\"tls_client_key_file\":\"%s\"}",
      rk_env("RK_HOST"), rk_env("RK_CCERT_PORT"), rk_env("RK_CA_FILE"), rk_env("RK_CLIENT_CERT"),
      rk_env("RK_OTHER_CLIENT_KEY"));
  r = NULL;
  CHECK_STATUS(rk_test(p, keyring, NULL, NULL, &r), RK_CONFIG);
  CHECK(r == NULL);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "$.tls_client_key_file: "));
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "does not match the certificate"));
  rk_profile_free(p);
}

int main(void) {
  rk_env_load();
  CHECK_STATUS(rk_keyring_new(&keyring), RK_OK);
  CHECK_STATUS(rk_keyring_generate_key(keyring, NULL), RK_OK);

  test_test_ok();
  test_test_server_failures();
  test_test_invalid_input();
  test_send_attachment_arrives();
  test_send_raw_byte_exact();
  test_send_to_postfix_maildir_recipients();
  test_send_errors();
  test_threads();
  test_async();
  test_trace();
  test_client_certificate();

  rk_keyring_free(keyring);
  rk_env_unload();
  TEST_SUMMARY();
}
