/* Reads the test servers' variables: the process environment first, then
 * $RELAYKIT_STATE/servers.env (RELAYKIT_STATE defaults to tests/.state, relative to the
 * repository root that tests/c/run.sh runs from). KEY=VALUE lines, no quoting (see
 * tests/servers/README.md). Requires _POSIX_C_SOURCE >= 200809L. */
#ifndef RK_SERVERS_ENV_H
#define RK_SERVERS_ENV_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RK_ENV_MAX 512 /* servers.env has ~180 lines with every role (#15) */

static struct {
  char *key;
  char *value;
} rk_env_vars[RK_ENV_MAX];
static int rk_env_count;
static char rk_env_path[1024];

/* Loads servers.env. Exits with a clear message when it is missing: the tests need the
 * servers that tests/servers/start.sh runs. */
static void rk_env_load(void) {
  const char *state = getenv("RELAYKIT_STATE");
  if (state == NULL || *state == '\0') state = "tests/.state";
  snprintf(rk_env_path, sizeof rk_env_path, "%s/servers.env", state);
  FILE *f = fopen(rk_env_path, "r");
  if (f == NULL) {
    fprintf(stderr,
            "FATAL: %s not found. Start the test servers (tests/servers/start.sh) or set "
            "RELAYKIT_STATE to the directory holding servers.env.\n",
            rk_env_path);
    exit(2);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0 && rk_env_count < RK_ENV_MAX) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    char *eq = strchr(line, '=');
    if (line[0] == '#' || eq == NULL) continue;
    *eq = '\0';
    rk_env_vars[rk_env_count].key = strdup(line);
    rk_env_vars[rk_env_count].value = strdup(eq + 1);
    rk_env_count++;
  }
  free(line);
  fclose(f);
}

static void rk_env_unload(void) {
  for (int i = 0; i < rk_env_count; i++) {
    free(rk_env_vars[i].key);
    free(rk_env_vars[i].value);
  }
  rk_env_count = 0;
}

/* The variable's value, or NULL when it is defined nowhere. */
static const char *rk_env_get(const char *key) {
  const char *v = getenv(key);
  if (v != NULL) return v;
  for (int i = 0; i < rk_env_count; i++)
    if (strcmp(rk_env_vars[i].key, key) == 0) return rk_env_vars[i].value;
  return NULL;
}

/* The variable's value; exits with a clear message when it is not defined. */
static const char *rk_env(const char *key) {
  const char *v = rk_env_get(key);
  if (v == NULL) {
    fprintf(stderr, "FATAL: %s is not defined in the environment or in %s (is its server role running?)\n", key,
            rk_env_path);
    exit(2);
  }
  return v;
}
#endif
