/* A form POST over plain HTTP/1.0 to 127.0.0.1 (the oauth2 role's token issuer), for the C
 * tests and the conformance runner's token provider. Requires _POSIX_C_SOURCE >= 200809L. */
#ifndef RK_TEST_HTTP_H
#define RK_TEST_HTTP_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* `s` percent-encoded for a form (free it). */
static inline char *rk_form_encode(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1), *o = out;
  if (out == NULL) return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
      *o++ = (char)*p;
    else
      o += sprintf(o, "%%%02X", *p);
  }
  *o = '\0';
  return out;
}

/* POSTs `form` (already encoded) to `url` (http://127.0.0.1:PORT/path); the response body
 * (free it) when the status is 200, else NULL. Bounded: 10 s per read. */
static inline char *rk_http_post(const char *url, const char *form) {
  char host[64], path[256];
  int port = 0;
  if (sscanf(url, "http://%63[^:]:%d%255s", host, &port, path) != 3) return NULL;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return NULL;
  }
  size_t rn = strlen(form) + strlen(path) + 256;
  char *req = malloc(rn);
  if (req == NULL) {
    close(fd);
    return NULL;
  }
  int n = snprintf(req, rn,
                   "POST %s HTTP/1.0\r\nHost: %s:%d\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   path, host, port, strlen(form), form);
  ssize_t wrote = write(fd, req, (size_t)n);
  free(req);
  if (wrote != n) {
    close(fd);
    return NULL;
  }
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap + 1);
  ssize_t got;
  while (buf != NULL && len < cap && (got = read(fd, buf + len, cap - len)) > 0) len += (size_t)got;
  close(fd);
  if (buf == NULL) return NULL;
  buf[len] = '\0';
  char *body = strstr(buf, "\r\n\r\n");
  char *out = body != NULL && (strncmp(buf, "HTTP/1.0 200", 12) == 0 || strncmp(buf, "HTTP/1.1 200", 12) == 0)
                  ? strdup(body + 4)
                  : NULL;
  free(buf);
  return out;
}

/* The value of "key": "..." in the issuer's flat JSON answer (free it), or NULL. */
static inline char *rk_json_str(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": \"", key);
  const char *p = json ? strstr(json, pat) : NULL;
  if (p == NULL) return NULL;
  p += strlen(pat);
  const char *end = strchr(p, '"');
  return end ? strndup(p, (size_t)(end - p)) : NULL;
}

/* A token with grant_type=password from `token_url` (free it), or NULL. */
static inline char *rk_issue_token(const char *token_url, const char *user, const char *pass) {
  char *u = rk_form_encode(user), *p = rk_form_encode(pass);
  char *form = NULL, *body = NULL, *token = NULL;
  if (u != NULL && p != NULL && (form = malloc(strlen(u) + strlen(p) + 64)) != NULL) {
    sprintf(form, "grant_type=password&username=%s&password=%s", u, p);
    body = rk_http_post(token_url, form);
    token = rk_json_str(body, "access_token");
  }
  free(u);
  free(p);
  free(form);
  free(body);
  return token;
}

/* Revokes `token` at `revoke_url` (RFC 7009); 0 on success. */
static inline int rk_revoke_token(const char *revoke_url, const char *token) {
  char *t = rk_form_encode(token);
  char *form = t ? malloc(strlen(t) + 8) : NULL;
  int rc = -1;
  if (form != NULL) {
    sprintf(form, "token=%s", t);
    char *body = rk_http_post(revoke_url, form);
    rc = body != NULL ? 0 : -1;
    free(body);
  }
  free(t);
  free(form);
  return rc;
}
#endif
