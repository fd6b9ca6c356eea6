/* The C runner of the conformance cases (the JSON files in tests/conformance/cases), following the rules
 * of tests/conformance/README.md and calling only the public C ABI (relaykit.h). JSON through
 * libjansson. Usage: conformance [CASES_DIR] (default tests/conformance/cases); variables come
 * from the environment, then $RELAYKIT_STATE/servers.env (default tests/.state). One line per
 * case (ok / FAIL with the path of the first mismatch / skip with the reason); exits non-zero
 * if a case failed or none ran. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relaykit.h"

/* ---- variables -------------------------------------------------------------------------- */

#define MAX_VARS 256
static char *var_keys[MAX_VARS], *var_values[MAX_VARS];
static int var_count;

static void load_vars(void) {
  const char *state = getenv("RELAYKIT_STATE");
  char path[1024];
  snprintf(path, sizeof path, "%s/servers.env", state && *state ? state : "tests/.state");
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "note: %s not found; only the environment defines variables\n", path);
    return;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0 && var_count < MAX_VARS) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    char *eq = strchr(line, '=');
    if (line[0] == '#' || eq == NULL) continue;
    *eq = '\0';
    var_keys[var_count] = strdup(line);
    var_values[var_count] = strdup(eq + 1);
    var_count++;
  }
  free(line);
  fclose(f);
}

/* The environment first, then servers.env; NULL when undefined. */
static const char *var(const char *name) {
  const char *v = getenv(name);
  if (v != NULL) return v;
  for (int i = 0; i < var_count; i++)
    if (strcmp(var_keys[i], name) == 0) return var_values[i];
  return NULL;
}

/* ---- substitution ----------------------------------------------------------------------- */

/* A new value with ${NAME} and "#{NAME}" substituted, or NULL with `missing` naming the
 * variable that is not defined (or why substitution failed). */
static json_t *substitute(const json_t *v, char *missing, size_t mlen) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t len = strlen(s);
    if (len > 3 && strncmp(s, "#{", 2) == 0 && s[len - 1] == '}' && memchr(s + 2, '}', len - 3) == NULL) {
      char name[256];
      snprintf(name, sizeof name, "%.*s", (int)(len - 3), s + 2);
      const char *raw = var(name);
      if (raw == NULL) {
        snprintf(missing, mlen, "%s", name);
        return NULL;
      }
      json_error_t err;
      json_t *parsed = json_loads(raw, JSON_DECODE_ANY, &err);
      if (parsed == NULL) snprintf(missing, mlen, "%s (not JSON: %s)", name, err.text);
      return parsed;
    }
    size_t cap = len + 1, n = 0;
    char *out = malloc(cap);
    const char *rest = s;
    const char *at;
    while (out != NULL && (at = strstr(rest, "${")) != NULL) {
      const char *end = strchr(at + 2, '}');
      if (end == NULL) {
        snprintf(missing, mlen, "unterminated ${ in \"%s\"", s);
        free(out);
        return NULL;
      }
      char name[256];
      snprintf(name, sizeof name, "%.*s", (int)(end - at - 2), at + 2);
      const char *val = var(name);
      if (val == NULL) {
        snprintf(missing, mlen, "%s", name);
        free(out);
        return NULL;
      }
      size_t pre = (size_t)(at - rest), vl = strlen(val);
      cap += pre + vl;
      char *bigger = realloc(out, cap);
      if (bigger == NULL) break;
      out = bigger;
      memcpy(out + n, rest, pre);
      memcpy(out + n + pre, val, vl);
      n += pre + vl;
      rest = end + 1;
    }
    if (out == NULL) return NULL;
    size_t tail = strlen(rest);
    char *bigger = realloc(out, n + tail + 1);
    if (bigger == NULL) {
      free(out);
      return NULL;
    }
    out = bigger;
    memcpy(out + n, rest, tail + 1);
    json_t *r = json_string(out);
    free(out);
    return r;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x) {
      json_t *y = substitute(x, missing, mlen);
      if (y == NULL) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, y);
    }
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      json_t *y = substitute(x, missing, mlen);
      if (y == NULL) {
        json_decref(o);
        return NULL;
      }
      json_object_set_new(o, k, y);
    }
    return o;
  }
  return json_deep_copy(v);
}

/* A profile object with "$base": that object with the other keys laid over it (new ref). */
static json_t *with_base(json_t *profile) {
  json_t *base = json_object_get(profile, "$base");
  if (base == NULL) return json_incref(profile);
  if (!json_is_object(base)) return NULL;
  json_t *out = json_deep_copy(base);
  const char *k;
  json_t *x;
  json_object_foreach(profile, k, x) {
    if (strcmp(k, "$base") != 0) json_object_set(out, k, x);
  }
  return out;
}

/* ---- matching --------------------------------------------------------------------------- */

static char mismatch[4096];

static int fail_at(const char *path, const json_t *value, const char *fmt, ...) {
  char why[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  char *got = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  snprintf(mismatch, sizeof mismatch, "%s: %s; got %s", path, why, got ? got : "nothing");
  free(got);
  return 0;
}

/* Whether `value` (NULL: missing) matches `pattern`; on a mismatch `mismatch` says where. */
static int matches(const json_t *pattern, const json_t *value, const char *path) {
  char sub[1024];
  if (json_is_null(pattern)) {
    return value == NULL || json_is_null(value) ? 1 : fail_at(path, value, "expected null or absent");
  }
  if (json_is_object(pattern) && json_object_size(pattern) == 1) {
    const char *op = json_object_iter_key(json_object_iter((json_t *)pattern));
    if (op[0] == '$') {
      const json_t *arg = json_object_get(pattern, op);
      if (strcmp(op, "$any") == 0) {
        return value != NULL && !json_is_null(value) ? 1 : fail_at(path, value, "expected $any");
      }
      if (strcmp(op, "$contains") == 0) {
        if (json_is_string(value) && json_is_string(arg) && strstr(json_string_value(value), json_string_value(arg)))
          return 1;
        return fail_at(path, value, "expected $contains \"%s\"", json_is_string(arg) ? json_string_value(arg) : "?");
      }
      if (strcmp(op, "$has") == 0) {
        if (!json_is_array(value)) return fail_at(path, value, "expected an array for $has");
        size_t i, j;
        const json_t *want, *item;
        json_array_foreach(arg, i, want) {
          int found = 0;
          json_array_foreach(value, j, item) {
            if (!found && matches(want, item, path)) found = 1;
          }
          if (!found) {
            char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_at(path, value, "no element matches $has[%zu] = %s", i, w ? w : "?");
            free(w);
            return 0;
          }
        }
        return 1;
      }
      return fail_at(path, value, "unknown operator %s", op);
    }
  }
  if (json_is_object(pattern)) {
    if (!json_is_object(value)) return fail_at(path, value, "expected an object");
    const char *k;
    json_t *want;
    json_object_foreach((json_t *)pattern, k, want) {
      snprintf(sub, sizeof sub, "%s.%s", path, k);
      if (!matches(want, json_object_get(value, k), sub)) return 0;
    }
    return 1;
  }
  if (json_is_array(pattern)) {
    if (!json_is_array(value)) return fail_at(path, value, "expected an array");
    if (json_array_size(value) != json_array_size(pattern))
      return fail_at(path, value, "expected %zu elements", json_array_size(pattern));
    size_t i;
    const json_t *want;
    json_array_foreach(pattern, i, want) {
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      if (!matches(want, json_array_get(value, i), sub)) return 0;
    }
    return 1;
  }
  if (json_is_number(pattern)) {
    if (json_is_number(value) && json_number_value(value) == json_number_value(pattern)) return 1;
    return fail_at(path, value, "expected %g", json_number_value(pattern));
  }
  if (value != NULL && json_equal(pattern, value)) return 1;
  char *w = json_dumps(pattern, JSON_ENCODE_ANY | JSON_COMPACT);
  fail_at(path, value, "expected %s", w ? w : "?");
  free(w);
  return 0;
}

/* ---- running a case through the C ABI --------------------------------------------------- */

/* {"status": "error", "error": <the last error's JSON>} */
static json_t *error_outcome(const rk_error *e) {
  json_t *err = json_loads(e ? rk_error_json(e) : "{\"kind\":\"internal\"}", 0, NULL);
  return json_pack("{s:s, s:o}", "status", "error", "error", err ? err : json_object());
}

/* A JSON text of `v` (NULL for a missing value or null), freed by the caller. */
static char *dump_or_null(const json_t *v) {
  return v == NULL || json_is_null(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* The outcome object, or NULL with `problem` set when the case itself is malformed. */
static json_t *run_case(json_t *c, char *problem, size_t plen) {
  json_t *outcome = NULL;
  rk_profile *profile = NULL;
  rk_keyring *keyring = NULL;
  rk_rrt_context *ctx = NULL;
  rk_message *message = NULL;
  char *profile_text = NULL, *options_text = NULL, *message_text = NULL;

  json_t *pj = with_base(json_object_get(c, "profile"));
  if (pj == NULL) {
    snprintf(problem, plen, "$base is not an object");
    goto done;
  }
  profile_text = json_dumps(pj, JSON_COMPACT);
  json_decref(pj);
  if (rk_profile_from_json(profile_text, &profile) != RK_OK) {
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
  const json_t *rrt = json_object_get(c, "rrt");
  static const char *const methods[] = {"set", "set_protected", "set_restricted"};
  for (int mi = 0; rrt != NULL && mi < 3; mi++) {
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(rrt, methods[mi]), i, t) {
      const char *id = json_string_value(json_array_get(t, 0)), *name = json_string_value(json_array_get(t, 1)),
                 *value = json_string_value(json_array_get(t, 2));
      if (json_array_size(t) != 3 || !id || !name || !value) {
        snprintf(problem, plen, "rrt.%s[%zu]: expected [id, name, value]", methods[mi], i);
        goto done;
      }
      st = mi == 0   ? rk_rrt_context_set(ctx, RK_RRT_PLAIN, id, name, value)
           : mi == 1 ? rk_rrt_context_set_protected(ctx, id, name, value)
                     : rk_rrt_context_set_restricted(ctx, id, name, value);
      if (st != RK_OK) {
        outcome = error_outcome(rk_last_error());
        goto done;
      }
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
    if (rk_send(profile, keyring, ctx, message, options_text, &result) != RK_OK) {
      outcome = error_outcome(rk_last_error());
      goto done;
    }
    char *text = NULL;
    if (rk_send_result_json(result, &text) == RK_OK) {
      outcome = json_pack("{s:s, s:o}", "status", "ok", "result", json_loads(text, 0, NULL));
    }
    rk_string_free(text);
    rk_send_result_free(result);
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

/* ---- main ------------------------------------------------------------------------------- */

static int role_enabled(const char *family) {
  const char *roles = var("RK_ROLES");
  if (roles == NULL) return 0;
  size_t fl = strlen(family);
  for (const char *p = roles; *p;) {
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, " \t");
    if (n == fl && strncmp(p, family, n) == 0) return 1;
    p += n;
  }
  return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "tests/conformance/cases";
  load_vars();
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "cannot open %s\n", dir);
    return 2;
  }
  char *files[512];
  size_t nfiles = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && nfiles < 512) {
    size_t n = strlen(e->d_name);
    if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) files[nfiles++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(files, nfiles, sizeof files[0], by_name);

  int passed = 0, failed = 0, skipped = 0;
  for (size_t f = 0; f < nfiles; f++) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, files[f]);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
      printf("FAIL %s: not valid JSON (line %d: %s)\n", files[f], jerr.line, jerr.text);
      failed++;
      continue;
    }
    size_t gi, ti;
    json_t *group, *tc;
    json_array_foreach(json_object_get(doc, "testGroups"), gi, group) {
      const char *role = json_string_value(json_object_get(group, "role"));
      char family[64];
      snprintf(family, sizeof family, "%.*s", role ? (int)strcspn(role, "-") : 0, role ? role : "");
      json_array_foreach(json_object_get(group, "tests"), ti, tc) {
        char id[1024];
        const char *comment = json_string_value(json_object_get(tc, "comment"));
        snprintf(id, sizeof id, "%s #%lld [%s] %s", files[f], (long long)json_integer_value(json_object_get(tc, "tcId")),
                 role ? role : "?", comment ? comment : "");
        if (!role_enabled(family)) {
          printf("skip %s: role family `%s` not in RK_ROLES\n", id, family);
          skipped++;
          continue;
        }
        const char *absent = NULL;
        size_t ri;
        json_t *req;
        json_array_foreach(json_object_get(tc, "requires"), ri, req) {
          if (absent == NULL && (!json_is_string(req) || var(json_string_value(req)) == NULL))
            absent = json_is_string(req) ? json_string_value(req) : "(not a name)";
        }
        if (absent != NULL) {
          printf("skip %s: %s is not set\n", id, absent);
          skipped++;
          continue;
        }
        char missing[512] = "";
        json_t *c = substitute(tc, missing, sizeof missing);
        if (c == NULL) {
          printf("skip %s: variable %s is not defined\n", id, missing);
          skipped++;
          continue;
        }
        char problem[1024] = "";
        json_t *outcome = run_case(c, problem, sizeof problem);
        if (outcome == NULL) {
          printf("FAIL %s: %s\n", id, problem);
          failed++;
        } else if (matches(json_object_get(c, "expect"), outcome, "$")) {
          printf("ok   %s\n", id);
          passed++;
        } else {
          char *o = json_dumps(outcome, JSON_COMPACT);
          printf("FAIL %s: %s\n     outcome: %s\n", id, mismatch, o ? o : "?");
          free(o);
          failed++;
        }
        json_decref(outcome);
        json_decref(c);
      }
    }
    json_decref(doc);
  }
  for (size_t f = 0; f < nfiles; f++) free(files[f]);
  for (int i = 0; i < var_count; i++) {
    free(var_keys[i]);
    free(var_values[i]);
  }
  printf("\nconformance (c): %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed > 0 || passed == 0 ? 1 : 0;
}
