/* The C ABI without a network: profiles, keyrings, RRTs, messages and every error path that
 * needs no server. Built with -std=c11 -Wall -Wextra -Wpedantic -Werror, run under ASan+UBSan
 * and under valgrind by tests/c/run.sh. */
#include <stdlib.h>

#include "relaykit.h"
#include "check.h"

static void test_version(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", RK_VERSION_MAJOR, RK_VERSION_MINOR, RK_VERSION_PATCH);
  CHECK(strcmp(rk_version(), want) == 0);
}

static void test_profile_json(void) {
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json("{\"server\":\"smtp.example.com\",\"encrypted_connection\":true}", &p), RK_OK);
  CHECK(p != NULL);
  CHECK(rk_last_error() == NULL);
  CHECK(rk_profile_port(p) == 465);
  CHECK_STATUS(rk_profile_set_port(p, 587), RK_OK);
  CHECK(rk_profile_port(p) == 587);
  char *json = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json), RK_OK);
  CHECK(CONTAINS(json, "\"port\": 587"));
  rk_string_free(json);
  rk_profile_free(p);

  /* Validation errors name the JSON path; the out-parameter is untouched. */
  rk_profile *untouched = (rk_profile *)&untouched;
  CHECK_STATUS(rk_profile_from_json("{\"server\":\"smtp.example.com\",\"prot\":25}", &untouched), RK_CONFIG);
  CHECK(untouched == (rk_profile *)&untouched);
  const rk_error *e = rk_last_error();
  CHECK(e != NULL);
  CHECK(rk_error_status(e) == RK_CONFIG);
  CHECK(strcmp(rk_error_kind(e), "config") == 0);
  CHECK(CONTAINS(rk_error_message(e), "$.prot"));
  CHECK(rk_error_code(e) == 0);
  CHECK(rk_error_stage(e) == NULL);
  CHECK(CONTAINS(rk_error_json(e), "\"kind\":\"config\""));

  CHECK_STATUS(rk_profile_from_json("{not json", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "not valid JSON"));
  CHECK_STATUS(rk_profile_from_json("{\"server\":\"smtp.example.com\",\"port\":0}", &untouched), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "$.port"));

  rk_profile *q = NULL;
  CHECK_STATUS(rk_profile_new("bad host", &q), RK_OK);
  CHECK_STATUS(rk_profile_validate(q), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "$.server"));
  rk_profile_free(q);
}

static void test_null_and_utf8(void) {
  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json(NULL, &p), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "json is NULL"));
  CHECK_STATUS(rk_profile_from_json("{}", NULL), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "profile_out"));
  const char bad[] = {'{', '"', (char)0xC3, (char)0x28, '"', '}', 0};
  CHECK_STATUS(rk_profile_from_json(bad, &p), RK_INVALID_ARGUMENT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "UTF-8"));
  CHECK(p == NULL);
  CHECK_STATUS(rk_profile_validate(NULL), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_profile_set_server(NULL, "x"), RK_INVALID_ARGUMENT);
  CHECK(rk_profile_port(NULL) == 0);
  CHECK(rk_error_kind(NULL) == NULL);
  CHECK(rk_error_code(NULL) == 0);
  /* Every _free accepts NULL. */
  rk_profile_free(NULL);
  rk_keyring_free(NULL);
  rk_rrt_context_free(NULL);
  rk_message_free(NULL);
  rk_string_free(NULL);
}

static void test_encryption(void) {
  const char *secret = "Sup3r-secret-pw";
  rk_keyring *k = NULL;
  CHECK_STATUS(rk_keyring_new(&k), RK_OK);
  char *kid = NULL;
  CHECK_STATUS(rk_keyring_generate_key(k, &kid), RK_OK);
  CHECK(kid != NULL && kid[0] == 'k');

  rk_profile *p = NULL;
  CHECK_STATUS(rk_profile_from_json("{\"id\":\"prod\",\"server\":\"smtp.example.com\"}", &p), RK_OK);
  CHECK_STATUS(rk_profile_set_authentication(p, true, "alice", "placeholder"), RK_OK);
  CHECK(!rk_profile_password_encrypted(p));
  CHECK_STATUS(rk_profile_encrypt_password(p, secret, k), RK_OK);
  CHECK(rk_profile_password_encrypted(p));
  char *json = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json), RK_OK);
  CHECK(!CONTAINS(json, secret));
  CHECK(CONTAINS(json, "enc:v1:"));
  CHECK(CONTAINS(json, kid));
  char *shown = NULL;
  CHECK_STATUS(rk_profile_password_display(p, &shown), RK_OK);
  CHECK(shown != NULL && strcmp(shown, "********") == 0);
  rk_string_free(shown);

  /* Rotation: a new key encrypts, the old envelope is re-encrypted. */
  char *kid2 = NULL;
  CHECK_STATUS(rk_keyring_generate_key(k, &kid2), RK_OK);
  bool changed = false;
  CHECK_STATUS(rk_profile_rotate_password(p, k, &changed), RK_OK);
  CHECK(changed);
  char *json2 = NULL;
  CHECK_STATUS(rk_profile_to_json(p, &json2), RK_OK);
  CHECK(CONTAINS(json2, kid2));

  /* The envelope read back with a keyring that lacks the key: a crypto error naming the key. */
  rk_profile *back = NULL;
  CHECK_STATUS(rk_profile_from_json(json2, &back), RK_OK);
  rk_keyring *other = NULL;
  CHECK_STATUS(rk_keyring_new(&other), RK_OK);
  CHECK_STATUS(rk_keyring_generate_key(other, NULL), RK_OK);
  CHECK_STATUS(rk_profile_rotate_password(back, other, NULL), RK_CRYPTO);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), kid2));
  CHECK(!CONTAINS(rk_error_message(rk_last_error()), secret));

  /* Raw keys and key text. */
  unsigned char raw[32];
  for (int i = 0; i < 32; i++) raw[i] = (unsigned char)i;
  CHECK_STATUS(rk_keyring_add_key(other, "2026", raw, sizeof raw), RK_OK);
  CHECK_STATUS(rk_keyring_add_key(other, "short", raw, 16), RK_CRYPTO);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "32 bytes"));
  rk_keyring *fromtext = NULL;
  CHECK_STATUS(rk_keyring_from_text("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", &fromtext), RK_OK);
  rk_keyring *sink = NULL;
  CHECK_STATUS(rk_keyring_from_text("k1:@@", &sink), RK_CRYPTO);
  CHECK(sink == NULL);

  rk_keyring_free(fromtext);
  rk_keyring_free(other);
  rk_profile_free(back);
  rk_string_free(json);
  rk_string_free(json2);
  rk_string_free(kid);
  rk_string_free(kid2);
  rk_profile_free(p);
  rk_keyring_free(k);
}

static void test_rrt_and_message(void) {
  rk_rrt_context *c = NULL;
  CHECK_STATUS(rk_rrt_context_new(&c), RK_OK);
  CHECK_STATUS(rk_rrt_context_set(c, RK_RRT_PLAIN, "ACC", "cust", "ACME"), RK_OK);
  CHECK_STATUS(rk_rrt_context_set(c, RK_RRT_RESTRICTED, "ACC", "pw", "s3cret"), RK_OK);
  CHECK_STATUS(rk_rrt_context_set(c, RK_RRT_PLAIN, "TOOLONG", "x", "y"), RK_RRT);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "TOOLONG"));
  CHECK_STATUS(rk_rrt_context_set(c, RK_RRT_PLAIN, "ACC", "$x", "y"), RK_RRT);

  rk_message *m = NULL;
  CHECK_STATUS(rk_message_new("Billing <billing@example.com>", &m), RK_OK);
  CHECK_STATUS(rk_message_add_recipient(m, RK_RCPT_TO, "bob@example.com"), RK_OK);
  CHECK_STATUS(rk_message_set_subject(m, "Invoice for ~ACC::%cust%~"), RK_OK);
  CHECK_STATUS(rk_message_set_text(m, "Hello\n"), RK_OK);
  const unsigned char pdf[] = {0x25, 0x50, 0x44, 0x46, 0x00, 0xff};
  CHECK_STATUS(rk_message_attach_bytes(m, "a.pdf", "application/pdf", pdf, sizeof pdf), RK_OK);
  CHECK_STATUS(rk_message_attach_bytes(m, "a.pdf", NULL, NULL, 3), RK_INVALID_ARGUMENT);
  CHECK_STATUS(rk_message_add_header(m, "X-Tag", "v"), RK_OK);
  rk_message_free(m);

  rk_message *j = NULL;
  CHECK_STATUS(rk_message_from_json("{\"from\":\"a@example.com\",\"to\":\"b@example.com\",\"bogus\":1}", &j), RK_CONFIG);
  CHECK(CONTAINS(rk_error_message(rk_last_error()), "message.bogus"));
  CHECK_STATUS(rk_message_from_json("{\"from\":\"a@example.com\",\"to\":[\"b@example.com\"]}", &j), RK_OK);
  rk_message_free(j);
  rk_rrt_context_free(c);
}

int main(void) {
  test_version();
  test_profile_json();
  test_null_and_utf8();
  test_encryption();
  test_rrt_and_message();
  TEST_SUMMARY();
}
