/* #15 "reach" through the C ABI: an encrypted proxy password (rk_profile_encrypt_proxy_password)
 * never in the profile's JSON, then a send through Dante (SOCKS5) with it, and LMTP over
 * Dovecot's Unix socket with a recipient refused at RCPT and one refused after the data (a
 * partial result whose JSON lists each recipient's reply), against the real servers of
 * tests/servers/ (roles socks, lmtp). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "relaykit.h"
#include "check.h"
#include "servers_env.h"

static const char *SECRET = "Pr0xy-Secret-never-shown";

static void test_encrypted_proxy_password_offline(rk_keyring *k) {
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json("{\"id\":\"p1\",\"server\":\"smtp.example.com\","
                                    "\"proxy\":\"socks5://u@proxy.example.com:1080\"}", &p), RK_OK);
  CHECK_STATUS(rk_profile_encrypt_proxy_password(p, SECRET, k), RK_OK);
  char *json = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json), RK_OK);
  CHECK(CONTAINS(json, "\"proxy_password\": \"enc:v1:"));
  CHECK(!CONTAINS(json, SECRET));
  rk_string_free(json);
  /* Without a user name in the URL a proxy password has nothing to go with. */
  rk_profile *bad = NULL;
  CHECK_STATUS(rk_profile_from_json("{\"server\":\"smtp.example.com\",\"proxy\":\"http://p.example.com:3128\","
                                    "\"proxy_password\":\"x\"}", &bad), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "$.proxy_password"));
  CHECK_STATUS(rk_profile_encrypt_proxy_password(NULL, SECRET, k), RK_INVALID_ARGUMENT);
  rk_profile_free(p);
}

static rk_message *message(const char *subject, const char *const *to, size_t n) {
  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new(rk_env("RK_USER"), &m), RK_OK);
  for (size_t i = 0; i < n; i++) CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, to[i]), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, subject), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "sent by tests/c/test_reach.c"), RK_OK);
  return m;
}

static void test_send_through_socks5_with_an_encrypted_proxy_password(rk_keyring *k) {
  char json[1024];
  snprintf(json, sizeof json,
           "{\"server\":\"127.0.0.1\",\"port\":%s,\"starttls\":\"never\",\"timeout_secs\":20,"
           "\"proxy\":\"socks5://%s@127.0.0.1:%s\"}",
           rk_env("RK_DOVECOT_PLAIN_PORT"), rk_env("RK_SOCKS_USER"), rk_env("RK_SOCKS_PORT"));
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  CHECK_STATUS(rk_profile_encrypt_proxy_password(p, rk_env("RK_SOCKS_PASS"), k), RK_OK);
  const char *to[] = {rk_env("RK_USER")};
  rk_message *m = message("c reach socks5", to, 1);
  rk_send_result *r = NULL;
  CHECK_STATUS(rk_send(p, k, NULL, m, NULL, &r), RK_OK);
  CHECK(r != NULL && rk_send_result_accepted_count(r) == 1);
  rk_send_result_free(r);
  /* A wrong one: auth_failed at stage proxy, and the password nowhere in the error. */
  CHECK_STATUS(rk_profile_encrypt_proxy_password(p, rk_env("RK_SOCKS_BAD_PASS"), k), RK_OK);
  r = NULL;
  CHECK_STATUS(rk_send(p, k, NULL, m, NULL, &r), RK_AUTH_FAILED);
  const rk_error *e = rk_last_error();
  CHECK(e != NULL && rk_error_stage(e) != NULL && strcmp(rk_error_stage(e), "proxy") == 0);
  CHECK(!CONTAINS(rk_error_message(e), rk_env("RK_SOCKS_BAD_PASS")));
  rk_message_free(m);
  rk_profile_free(p);
}

static void test_lmtp_over_the_unix_socket_is_a_partial_result(rk_keyring *k) {
  char json[1024];
  snprintf(json, sizeof json, "{\"server\":\"unix:%s\",\"protocol\":\"lmtp\",\"timeout_secs\":20}",
           rk_env("RK_LMTP_SOCKET"));
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(json, &p), RK_OK);
  const char *to[] = {rk_env("RK_USER"), rk_env("RK_LMTP_REJECT_RCPT"), rk_env("RK_LMTP_FULL_RCPT")};
  rk_message *m = message("c reach lmtp", to, 3);
  rk_send_result *r = NULL;
  CHECK_STATUS(rk_send(p, k, NULL, m, NULL, &r), RK_OK);
  CHECK(r != NULL && rk_send_result_accepted_count(r) == 1 && rk_send_result_rejected_count(r) == 2);
  if (r != NULL && rk_send_result_rejected_count(r) == 2) {
    CHECK(rk_send_result_rejected_code(r, 0) == 550);
    CHECK(rk_send_result_rejected_code(r, 1) == 552);
    CHECK(strcmp(rk_send_result_rejected_address(r, 1), rk_env("RK_LMTP_FULL_RCPT")) == 0);
  }
  char *out = NULL;
  CHECK_STATUS(rk_send_result_json(r, &out), RK_OK);
  CHECK(CONTAINS(out, "\"deliveries\""));
  rk_string_free(out);
  rk_send_result_free(r);
  rk_message_free(m);
  rk_profile_free(p);
}

int main(void) {
  rk_keyring *k = NULL;
  CHECK_STATUS(rk_keyring_new(&k), RK_OK);
  CHECK_STATUS(rk_keyring_generate_key(k, NULL), RK_OK);
  test_encrypted_proxy_password_offline(k);
  rk_env_load();
  test_send_through_socks5_with_an_encrypted_proxy_password(k);
  test_lmtp_over_the_unix_socket_is_a_partial_result(k);
  rk_env_unload();
  rk_keyring_free(k);
  TEST_SUMMARY();
}
