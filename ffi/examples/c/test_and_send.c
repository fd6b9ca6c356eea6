/* Tests an SMTP server profile, then sends a message with an attachment.
 * Usage: SMTP_PASSWORD=... test_and_send HOST PORT CA_FILE USER RECIPIENT
 * (STARTTLS on PORT, verified against CA_FILE). Exit 0: sent; 1: relaykit error; 2: usage. */
#include <stdio.h>
#include <stdlib.h>

#include <relaykit.h>

/* Prints the calling thread's last error and returns 1. */
static int fail(const char *what) {
  const rk_error *e = rk_last_error();
  fprintf(stderr, "%s failed: %s (kind %s, stage %s, code %u)\n", what, rk_error_message(e), rk_error_kind(e),
          rk_error_stage(e) ? rk_error_stage(e) : "-", (unsigned)rk_error_code(e));
  if (rk_error_hint(e)) fprintf(stderr, "hint: %s\n", rk_error_hint(e));
  return 1;
}

int main(int argc, char **argv) {
  const char *password = getenv("SMTP_PASSWORD");
  if (argc != 6 || password == NULL) {
    fprintf(stderr, "usage: SMTP_PASSWORD=... %s HOST PORT CA_FILE USER RECIPIENT\n", argv[0]);
    return 2;
  }
  char json[1024];
  snprintf(json, sizeof json, "{\"server\": \"%s\", \"port\": %s, \"encrypted_connection\": true, \"tls_ca_file\": \"%s\"}",
           argv[1], argv[2], argv[3]);

  int rc = 1;
  rk_keyring *keys = NULL;
  rk_profile *profile = NULL;
  rk_report *report = NULL;
  rk_message *msg = NULL;
  rk_send_result *result = NULL;

  /* A real host loads its key with rk_keyring_from_env() or rk_keyring_from_file(). */
  if (rk_keyring_new(&keys) != RK_OK || rk_keyring_generate_key(keys, NULL) != RK_OK) { rc = fail("keyring"); goto done; }
  if (rk_profile_from_json(json, &profile) != RK_OK) { rc = fail("profile"); goto done; }
  if (rk_profile_set_authentication(profile, true, argv[4], NULL) != RK_OK ||
      rk_profile_encrypt_password(profile, password, keys) != RK_OK) { rc = fail("password"); goto done; }

  /* Test: RK_OK means it ran; whether the server passed it is rk_report_ok. */
  if (rk_test(profile, keys, NULL, NULL, &report) != RK_OK) { rc = fail("test"); goto done; }
  if (!rk_report_ok(report)) {
    const rk_error *e = rk_report_error(report);
    fprintf(stderr, "test failed at %s: %s\nhint: %s\n", rk_error_stage(e), rk_error_message(e),
            rk_error_hint(e) ? rk_error_hint(e) : "-");
    goto done;
  }
  printf("test ok: %s, %s%s\n", rk_report_tls_version(report) ? rk_report_tls_version(report) : "no TLS",
         rk_report_auth_mechanism(report) ? rk_report_auth_mechanism(report) : "no AUTH",
         rk_report_tls_verified(report) ? ", verified" : "");

  if (rk_message_new(argv[4], &msg) != RK_OK || rk_message_add_recipient(msg, RK_RCPT_TO, argv[5]) != RK_OK ||
      rk_message_set_subject(msg, "Hello from C") != RK_OK || rk_message_set_text(msg, "See the attachment.\n") != RK_OK ||
      rk_message_attach_bytes(msg, "hello.txt", "text/plain", (const uint8_t *)"hello\n", 6) != RK_OK) {
    rc = fail("message");
    goto done;
  }
  if (rk_send(profile, keys, NULL, msg, NULL, &result) != RK_OK) { rc = fail("send"); goto done; }
  printf("sent %s to %zu recipient(s): %s\n", rk_send_result_message_id(result), rk_send_result_accepted_count(result),
         rk_send_result_reply(result));
  rc = 0;

done: /* every _free accepts NULL */
  rk_send_result_free(result);
  rk_message_free(msg);
  rk_report_free(report);
  rk_profile_free(profile);
  rk_keyring_free(keys);
  return rc;
}
