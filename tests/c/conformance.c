/* The C runner of the conformance cases: it executes the concrete inputs that the judge
 * (`relaykit-conformance expand`, tests/conformance/README.md) writes on stdin, one JSON line
 * each, through the public C ABI (relaykit.h) only, and prints one outcome line per input:
 * {"id", "outcome"} or {"id", "runner_error"}. Whether an outcome is right is the judge's to
 * say. JSON through libjansson. Run by tests/c/run.sh as
 *   relaykit-conformance run --lang c -- valgrind ... target/c/conformance
 * Every outcome also gets "elapsed_ms" (the call's wall time) and "trace" (every line of the
 * process-wide trace callback during the case), which the judge checks (within_secs, no secret),
 * and, for a case with a "token_provider", "token_calls" (the reasons it was asked, in order). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relaykit.h"
#include "http.h"

/* The case's declarative token provider (tests/conformance/README.md, "token_provider"):
 * tokens from token_url (grant_type=password), kept and given to each new connection, a new
 * one on refresh; revoke_first revokes the first before giving it, refresh_same gives the same
 * again on refresh, fail fails with that text ("returns" needs a language whose provider can
 * return a non-string: not C). Set as the process-wide token callback for the case. */
static struct token_spec {
  pthread_mutex_t lock;
  const json_t *spec;
  char *token;
  int fetched;
  json_t *calls;
} tokens = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, NULL};

static const char *spec_str(const char *key) { return json_string_value(json_object_get(tokens.spec, key)); }

static int32_t on_token(void *user, const char *username, int32_t refresh, char *buf, size_t cap) {
  (void)user;
  (void)username;
  int32_t rc = 0;
  pthread_mutex_lock(&tokens.lock);
  json_array_append_new(tokens.calls, json_string(refresh ? "refresh" : "initial"));
  if (spec_str("fail") != NULL) {
    snprintf(buf, cap, "%s", spec_str("fail"));
    rc = 1;
  } else {
    if (tokens.token == NULL || (refresh && !json_is_true(json_object_get(tokens.spec, "refresh_same")))) {
      char *t = rk_issue_token(spec_str("token_url"), spec_str("username"), spec_str("password"));
      if (t != NULL && ++tokens.fetched == 1 && json_is_true(json_object_get(tokens.spec, "revoke_first")) &&
          rk_revoke_token(spec_str("revoke_url"), t) != 0) {
        free(t);
        t = NULL;
      }
      free(tokens.token);
      tokens.token = t;
    }
    if (tokens.token == NULL || strlen(tokens.token) + 1 > cap) {
      snprintf(buf, cap, "the runner could not get a token from %s", spec_str("token_url"));
      rc = 2;
    } else {
      memcpy(buf, tokens.token, strlen(tokens.token) + 1);
    }
  }
  pthread_mutex_unlock(&tokens.lock);
  return rc;
}

/* The trace lines of the running case; the callback runs on relaykit's threads. */
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *trace_lines;

static void on_trace(void *user, const char *direction, const char *line) {
  (void)user;
  size_t n = strlen(direction) + strlen(line) + 3;
  char *text = malloc(n);
  if (text == NULL) return;
  snprintf(text, n, "%s: %s", direction, line);
  json_t *entry = json_string(text); /* NULL if not UTF-8 (the core's lines are) */
  pthread_mutex_lock(&trace_lock);
  json_array_append_new(trace_lines, entry != NULL ? entry : json_string("<not UTF-8>"));
  pthread_mutex_unlock(&trace_lock);
  free(text);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* {"status": "error", "error": <the last error's JSON>} */
static json_t *error_outcome(const rk_error *e) {
  json_t *err = json_loads(e ? rk_error_json(e) : "{\"kind\":\"internal\"}", 0, NULL);
  return json_pack("{s:s, s:o}", "status", "error", "error", err ? err : json_object());
}

/* A JSON text of `v` (NULL for a missing value or null), freed by the caller. */
static char *dump_or_null(const json_t *v) {
  return v == NULL || json_is_null(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* A send's outcome: {"status": "ok", "result": ...} or {"status": "error", "error": ...}. */
static json_t *send_outcome(const rk_send_result *result, const rk_error *e) {
  if (result == NULL) return error_outcome(e);
  char *text = NULL;
  json_t *outcome = NULL;
  if (rk_send_result_json(result, &text) == RK_OK)
    outcome = json_pack("{s:s, s:o}", "status", "ok", "result", json_loads(text, 0, NULL));
  rk_string_free(text);
  return outcome;
}

/* A mailer case (README's mailer outcome): rk_mailer_send_many, then close, then the stats.
 * A message that cannot be read, or a mailer that cannot be made, is the case's error. */
static json_t *run_mailer(json_t *c, const rk_profile *profile, const rk_keyring *keyring, const rk_rrt_context *ctx,
                          const char *options_text) {
  const json_t *list = json_object_get(c, "messages");
  size_t n = json_array_size(list), i;
  rk_message **messages = calloc(n ? n : 1, sizeof *messages);
  json_t *outcome = NULL;
  rk_mailer *mailer = NULL;
  rk_send_outcomes *outs = NULL;
  char *stats = NULL;
  for (i = 0; messages != NULL && i < n; i++) {
    char *text = dump_or_null(json_array_get(list, i));
    rk_status st = rk_message_from_json(text ? text : "null", &messages[i]);
    free(text);
    if (st != RK_OK) goto failed;
  }
  if (messages == NULL || rk_mailer_new(profile, keyring, ctx, options_text, &mailer) != RK_OK ||
      rk_mailer_send_many(mailer, (const rk_message *const *)messages, n, &outs) != RK_OK)
    goto failed;
  json_t *each = json_array();
  for (i = 0; i < rk_send_outcomes_count(outs); i++)
    json_array_append_new(each, send_outcome(rk_send_outcomes_result(outs, i), rk_send_outcomes_error(outs, i)));
  if (rk_mailer_close(mailer) != RK_OK || rk_mailer_stats_json(mailer, &stats) != RK_OK) {
    json_decref(each);
    goto failed;
  }
  outcome = json_pack("{s:s, s:o, s:o}", "status", "ok", "outcomes", each, "stats", json_loads(stats, 0, NULL));
  goto done;
failed:
  outcome = error_outcome(rk_last_error());
done:
  rk_string_free(stats);
  rk_send_outcomes_free(outs);
  rk_mailer_free(mailer);
  for (i = 0; messages != NULL && i < n; i++) rk_message_free(messages[i]);
  free(messages);
  return outcome;
}

/* The outcome object, or NULL with `problem` set when the case itself is malformed. */
static json_t *run_case(json_t *c, char *problem, size_t plen) {
  json_t *outcome = NULL;
  rk_profile *profile = NULL;
  rk_keyring *keyring = NULL;
  rk_rrt_context *ctx = NULL;
  rk_message *message = NULL;
  char *profile_text = NULL, *options_text = NULL, *message_text = NULL;

  profile_text = json_dumps(json_object_get(c, "profile"), JSON_ENCODE_ANY | JSON_COMPACT);
  if (profile_text == NULL || rk_profile_from_json(profile_text, &profile) != RK_OK) {
    outcome = error_outcome(rk_last_error());
    goto done;
  }
  const json_t *kt = json_object_get(c, "keyring");
  rk_status st = json_is_string(kt) ? rk_keyring_from_text(json_string_value(kt), &keyring) : rk_keyring_new(&keyring);
  if (st != RK_OK) {
    snprintf(problem, plen, "keyring: %s", rk_error_message(rk_last_error()));
    goto done;
  }
  if (rk_rrt_context_new(&ctx) != RK_OK) {
    snprintf(problem, plen, "rrt context: %s", rk_error_message(rk_last_error()));
    goto done;
  }
  /* The judge lists the RRT calls in order: [method, id, name, value]. */
  size_t i;
  const json_t *call;
  json_array_foreach(json_object_get(c, "rrt"), i, call) {
    const char *method = json_string_value(json_array_get(call, 0)), *id = json_string_value(json_array_get(call, 1)),
               *name = json_string_value(json_array_get(call, 2)), *value = json_string_value(json_array_get(call, 3));
    if (!method || !id || !name || !value) {
      snprintf(problem, plen, "rrt[%zu]: expected [method, id, name, value]", i);
      goto done;
    }
    st = strcmp(method, "set") == 0             ? rk_rrt_context_set(ctx, RK_RRT_PLAIN, id, name, value)
         : strcmp(method, "set_protected") == 0 ? rk_rrt_context_set_protected(ctx, id, name, value)
                                                : rk_rrt_context_set_restricted(ctx, id, name, value);
    if (st != RK_OK) {
      outcome = error_outcome(rk_last_error());
      goto done;
    }
  }
  options_text = dump_or_null(json_object_get(c, "options"));
  const char *action = json_string_value(json_object_get(c, "action"));
  if (action != NULL && strcmp(action, "test") == 0) {
    rk_report *report = NULL;
    if (rk_test(profile, keyring, ctx, options_text, &report) != RK_OK) {
      outcome = error_outcome(rk_last_error());
      goto done;
    }
    char *text = NULL;
    if (rk_report_json(report, &text) == RK_OK) {
      outcome = json_pack("{s:s, s:o}", "status", "ok", "report", json_loads(text, 0, NULL));
    }
    rk_string_free(text);
    rk_report_free(report);
  } else if (action != NULL && strcmp(action, "send") == 0) {
    message_text = dump_or_null(json_object_get(c, "message"));
    if (rk_message_from_json(message_text ? message_text : "null", &message) != RK_OK) {
      outcome = error_outcome(rk_last_error());
      goto done;
    }
    rk_send_result *result = NULL;
    rk_status sent = rk_send(profile, keyring, ctx, message, options_text, &result);
    outcome = send_outcome(sent == RK_OK ? result : NULL, rk_last_error());
    rk_send_result_free(result);
  } else if (action != NULL && strcmp(action, "mailer") == 0) {
    outcome = run_mailer(c, profile, keyring, ctx, options_text);
  } else {
    snprintf(problem, plen, "unknown action \"%s\"", action ? action : "(none)");
  }
  if (outcome == NULL && problem[0] == '\0') snprintf(problem, plen, "could not read the result's JSON");

done:
  free(profile_text);
  free(options_text);
  free(message_text);
  rk_message_free(message);
  rk_rrt_context_free(ctx);
  rk_keyring_free(keyring);
  rk_profile_free(profile);
  return outcome;
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  trace_lines = json_array();
  if (rk_set_trace_callback(on_trace, NULL) != RK_OK) {
    fprintf(stderr, "conformance: rk_set_trace_callback failed\n");
    return 2;
  }
  while (getline(&line, &cap, stdin) > 0) {
    json_error_t err;
    json_t *c = json_loads(line, 0, &err);
    const char *id = json_string_value(json_object_get(c, "id"));
    if (c == NULL || id == NULL) {
      fprintf(stderr, "conformance: not an input line: %s\n", c == NULL ? err.text : "no id");
      json_decref(c);
      free(line);
      return 2;
    }
    /* A line without an action is a skip or an invalid case: the judge reports it. */
    if (json_object_get(c, "action") != NULL) {
      char problem[1024] = "";
      pthread_mutex_lock(&trace_lock);
      json_array_clear(trace_lines);
      pthread_mutex_unlock(&trace_lock);
      const json_t *spec = json_object_get(c, "token_provider");
      if (spec != NULL) {
        tokens.spec = spec;
        tokens.calls = json_array();
        rk_set_token_callback(on_token, NULL);
      }
      double start = now_ms();
      json_t *outcome = run_case(c, problem, sizeof problem);
      if (spec != NULL) {
        rk_set_token_callback(NULL, NULL);
        if (outcome != NULL) json_object_set(outcome, "token_calls", tokens.calls);
        json_decref(tokens.calls);
        free(tokens.token);
        tokens.spec = NULL;
        tokens.token = NULL;
        tokens.fetched = 0;
        tokens.calls = NULL;
      }
      if (outcome != NULL) {
        json_object_set_new(outcome, "elapsed_ms", json_integer((json_int_t)(now_ms() - start + 0.5)));
        pthread_mutex_lock(&trace_lock);
        json_object_set_new(outcome, "trace", json_deep_copy(trace_lines));
        pthread_mutex_unlock(&trace_lock);
      }
      json_t *out = outcome != NULL ? json_pack("{s:s, s:o}", "id", id, "outcome", outcome)
                                    : json_pack("{s:s, s:s}", "id", id, "runner_error", problem);
      char *text = json_dumps(out, JSON_COMPACT);
      printf("%s\n", text ? text : "{}");
      fflush(stdout);
      free(text);
      json_decref(out);
    }
    json_decref(c);
  }
  free(line);
  rk_set_trace_callback(NULL, NULL);
  json_decref(trace_lines);
  return 0;
}
