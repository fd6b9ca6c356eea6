/* The rules vectors (tests/conformance/vectors/rules.json) through the C ABI: each rule the core
 * decides once, shown through the C setters and constructors. Usage: rules [RULES_JSON]. */
#include <jansson.h>
#include <stdlib.h>

#include "base64.h"
#include "check.h"
#include "relaykit.h"

static const char *str(json_t *t, const char *key) { return json_string_value(json_object_get(t, key)); }

/* The prepared message's JSON, parsed, with its bytes decoded into "bytes" (NUL-terminated). */
static json_t *prepared(rk_message *m, rk_rrt_context *ctx) {
  char *text = NULL;
  if (rk_message_prepare(m, ctx, &text) != RK_OK) return NULL;
  json_t *p = json_loads(text, 0, NULL);
  rk_string_free(text);
  return p;
}

static int bytes_contain(json_t *p, const char *needle) {
  const char *b64 = str(p, "bytes_base64");
  size_t n = strlen(b64);
  unsigned char *out = calloc(n + 1, 1);
  size_t len = rk_b64_decode(b64, n, out);
  out[len] = 0;
  int found = strstr((const char *)out, needle) != NULL;
  free(out);
  return found;
}

/* Runs one case; returns the error (borrowed, thread-local) or NULL, and fills *got. */
static const rk_error *run(json_t *t, json_t **got) {
  const char *action = str(t, "action");
  *got = json_object();
  rk_profile *p = NULL;
  const rk_error *err = NULL;
  if (json_object_get(t, "profile") != NULL) {
    char *pj = json_dumps(json_object_get(t, "profile"), 0);
    rk_status st = rk_profile_from_json(pj, &p);
    free(pj);
    if (st != RK_OK) return rk_last_error();
  }
  if (strcmp(action, "set_ntlm_current_user") == 0) {
    rk_profile_set_ntlm_current_user(p, true);
    char *j = NULL;
    rk_profile_to_json(p, &j);
    json_t *pj = json_loads(j, 0, NULL);
    rk_string_free(j);
    json_object_set(*got, "requires_authentication", json_object_get(pj, "requires_authentication"));
    json_object_set_new(*got, "valid", json_boolean(rk_profile_validate(p) == RK_OK));
    json_decref(pj);
  } else if (strcmp(action, "set_port") == 0) {
    json_t *v = json_object_get(t, "value");
    rk_status st = json_is_null(v) ? rk_profile_clear_port(p) : rk_profile_set_port(p, (uint32_t)json_integer_value(v));
    if (st != RK_OK) err = rk_last_error();
    json_object_set_new(*got, "effective_port", json_integer(rk_profile_port(p)));
  } else if (strcmp(action, "raw_message") == 0) {
    const char *raw = str(t, "raw");
    json_t *to = json_object_get(t, "to");
    rk_message *m = NULL;
    rk_rrt_context *ctx = NULL;
    rk_rrt_context_new(&ctx);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(t, "rrt"), i, v) {
      rk_rrt_context_set(ctx, RK_RRT_PLAIN, json_string_value(json_array_get(v, 0)), json_string_value(json_array_get(v, 1)),
                         json_string_value(json_array_get(v, 2)));
    }
    rk_message_new_raw(str(t, "envelope_from"), json_string_value(json_array_get(to, 0)), (const uint8_t *)raw,
                       strlen(raw), &m);
    json_t *pr = prepared(m, ctx);
    if (pr == NULL) {
      err = rk_last_error();
    } else {
      json_object_set(*got, "envelope_from", json_object_get(pr, "envelope_from"));
      json_object_set(*got, "recipients", json_object_get(pr, "recipients"));
      json_object_set_new(*got, "bytes_contain",
                          json_string(bytes_contain(pr, str(json_object_get(t, "expected"), "bytes_contain"))
                                          ? str(json_object_get(t, "expected"), "bytes_contain")
                                          : ""));
      json_decref(pr);
    }
    rk_message_free(m);
    rk_rrt_context_free(ctx);
  } else if (strcmp(action, "attachment_default_type") == 0) {
    rk_message *m = NULL;
    rk_message_new(str(t, "from"), &m);
    rk_message_add_recipient(m, RK_RCPT_TO, str(t, "to"));
    rk_message_set_text(m, str(t, "text"));
    const uint8_t data[] = {0, 1, 2, 3}; /* content_base64 "AAECAw==" */
    rk_message_attach_bytes(m, str(t, "filename"), NULL, data, sizeof data);
    json_t *pr = prepared(m, NULL);
    if (pr == NULL) {
      err = rk_last_error();
    } else {
      const char *want = str(json_object_get(t, "expected"), "bytes_contain");
      json_object_set_new(*got, "bytes_contain", json_string(bytes_contain(pr, want) ? want : ""));
      json_decref(pr);
    }
    rk_message_free(m);
  } else if (strcmp(action, "profile_json") != 0) {
    fprintf(stderr, "%s: unknown action %s\n", str(t, "id"), action);
    rk_failed++;
  }
  rk_profile_free(p);
  return err;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "tests/conformance/vectors/rules.json";
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (root == NULL) {
    fprintf(stderr, "%s: %s\n", path, jerr.text);
    return 2;
  }
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(root, "tests"), i, t) {
    json_t *exp = json_object_get(t, "expected");
    json_t *want_err = json_object_get(exp, "error");
    json_t *got = NULL;
    const rk_error *e = run(t, &got);
    const char *id = str(t, "id");
    if (want_err != NULL) {
      CHECK(e != NULL);
      if (e != NULL) {
        int same = strcmp(rk_error_kind(e), str(want_err, "kind")) == 0 &&
                   strcmp(rk_error_message(e), str(want_err, "message")) == 0;
        if (!same) fprintf(stderr, "%s: got %s: %s\n", id, rk_error_kind(e), rk_error_message(e));
        CHECK(same);
      }
    } else {
      if (e != NULL) fprintf(stderr, "%s: unexpected error %s\n", id, rk_error_message(e));
      CHECK(e == NULL);
      const char *key;
      json_t *want;
      json_object_foreach(exp, key, want) {
        int same = json_equal(json_object_get(got, key), want);
        if (!same) fprintf(stderr, "%s: %s differs\n", id, key);
        CHECK(same);
      }
    }
    json_decref(got);
  }
  CHECK(i >= 9);
  json_decref(root);
  TEST_SUMMARY();
}
