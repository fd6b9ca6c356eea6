/* #16 through the C ABI: the progress callback (rk_set_progress_callback) of a Send of a 3 MiB
 * attachment to aiosmtpd, increasing and ending at the total; and the capture transport in
 * options_json writing the message instead of connecting. Needs the test servers. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relaykit.h"
#include "check.h"
#include "servers_env.h"

#define MAX_CALLS 4096

typedef struct {
  size_t n;
  uint64_t written[MAX_CALLS];
  uint64_t total[MAX_CALLS];
} calls_t;

static void on_progress(void *user, uint64_t written, uint64_t total) {
  calls_t *c = user;
  if (c->n < MAX_CALLS) {
    c->written[c->n] = written;
    c->total[c->n] = total;
  }
  c->n++;
}

static rk_message *big_message(size_t size) {
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, rk_env("RK_RCPT")), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, "c progress"), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "a big attachment follows"), RK_OK);
  uint8_t *data = malloc(size);
  for (size_t i = 0; i < size; i++) data[i] = (uint8_t)(i % 251);
  CHECK_STATUS(rk_message_attach_bytes(m, "big.bin", "application/octet-stream", data, size), RK_OK);
  free(data);
  return m;
}

static void test_progress_of_a_big_send(void) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"server\":\"%s\",\"port\":%s,\"starttls\":\"never\",\"timeout_secs\":20,"
           "\"requires_authentication\":true,\"username\":\"%s\",\"password\":\"%s\"}",
           rk_env("RK_HOST"), rk_env("RK_AIOSMTPD_PORT"), rk_env("RK_USER"), rk_env("RK_PASS"));
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  rk_message *m = big_message((size_t)3 << 20);
  static calls_t calls;
  CHECK_STATUS(rk_set_progress_callback(on_progress, &calls), RK_OK);
  rk_send_result *r = NULL;
  CHECK_STATUS(rk_send(p, NULL, NULL, m, NULL, &r), RK_OK);
  CHECK_STATUS(rk_set_progress_callback(NULL, NULL), RK_OK);
  CHECK(r != NULL && rk_send_result_accepted_count(r) == 1);
  CHECK(calls.n >= 2 && calls.n <= MAX_CALLS);
  uint64_t total = calls.total[calls.n - 1];
  CHECK(total > ((uint64_t)3 << 20));
  CHECK(calls.written[calls.n - 1] == total);
  CHECK(calls.n <= (total + 65535) / 65536);
  for (size_t i = 1; i < calls.n; i++) {
    CHECK(calls.written[i - 1] < calls.written[i]);
    CHECK(calls.total[i] == total);
  }
  rk_send_result_free(r);
  rk_message_free(m);
  rk_profile_free(p);
}

static void test_capture_writes_instead_of_connecting(void) {
  char dir[] = "/tmp/relaykit-c-capture-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json("{\"server\":\"127.0.0.1\",\"port\":9,\"starttls\":\"never\"}", &p), RK_OK);
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new("alice@relaykit.test", &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, "bob@relaykit.test"), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, "c capture"), RK_OK);
  CHECK_STATUS(rk_message_set_message_id(m, "<c-capture@relaykit.test>"), RK_OK);
  char options[256];
  snprintf(options, sizeof options, "{\"transport\":{\"capture\":{\"dir\":\"%s\"}}}", dir);
  rk_send_result *r = NULL;
  CHECK_STATUS(rk_send(p, NULL, NULL, m, options, &r), RK_OK);
  CHECK(r != NULL && strcmp(rk_send_result_reply(r), "250 captured") == 0);
  rk_send_result_free(r);
  char path[512];
  snprintf(path, sizeof path, "%s/c-capture@relaykit.test.eml", dir);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f) {
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(CONTAINS(buf, "Subject: c capture"));
    fclose(f);
    remove(path);
  }
  snprintf(path, sizeof path, "%s/c-capture@relaykit.test.json", dir);
  CHECK(remove(path) == 0);
  rmdir(dir);
  r = NULL;
  CHECK_STATUS(rk_send(p, NULL, NULL, m, "{\"transport\":{\"capture\":\"disk\"}}", &r), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "options.transport"));
  rk_message_free(m);
  rk_profile_free(p);
}

int main(void) {
  test_capture_writes_instead_of_connecting();
  rk_env_load();
  test_progress_of_a_big_send();
  rk_env_unload();
  TEST_SUMMARY();
}
