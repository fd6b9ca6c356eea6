#!/usr/bin/env python3
"""A small OAuth2 authorization server for the `oauth2` role (standard library only).

It is the token issuer that a real deployment gets from Microsoft or Google, reduced to what
relaykit's tests need, and the RFC 7662 introspection endpoint that Dovecot's `oauth2` passdb
asks (Dovecot and Postfix are the real servers; this only issues and checks tokens):

* ``POST /token`` (form): ``grant_type=password`` with ``username`` and ``password`` (the
  users file), or ``grant_type=refresh_token`` with ``refresh_token``. Answers
  ``{"access_token", "token_type": "Bearer", "expires_in", "refresh_token", "scope"}``.
  Access tokens live ``--lifetime`` seconds (short on purpose, so a test sees one expire);
  a request may ask for a shorter life with ``expires_in`` (an integer >= 1). A wrong
  password or refresh token gets 400 ``{"error": "invalid_grant"}``.
* ``POST /revoke`` (form, RFC 7009): ``token=<access or refresh token>``: it is dead at once
  (an access token is then introspected as expired),
  so a test can make a token "expire" now instead of sleeping. Always 200.
* ``POST /introspect`` (RFC 7662; what Dovecot calls): the token as form field ``token``, as
  ``Authorization: Bearer``, or as query ``?token=``. Answers ``{"active": true, "username",
  "scope", "exp"}`` or ``{"active": false}``.
* ``GET /health``: 200 ``ok``.

Every event is a JSON line in ``--record``: ``{"event", "user", "token", "active", "at"}``
with ``event`` one of ``issued``, ``refreshed``, ``refused``, ``revoked``, ``introspect``;
``token`` is the first 12 hex digits of the token's SHA-256 (never the token itself), so a
test can tell which token a login used. Tokens are never logged.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def tid(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class Store:
    def __init__(self, users: dict[str, str], lifetime: int, record: str):
        self.users = users
        self.lifetime = lifetime
        self.record_path = record
        self.lock = threading.Lock()
        self.access: dict[str, tuple[str, float]] = {}  # token -> (user, expires at)
        self.refresh: dict[str, str] = {}  # refresh token -> user

    def record(self, event: str, **kw):
        line = json.dumps({"event": event, **kw, "at": time.time()}, ensure_ascii=False)
        with self.lock, open(self.record_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def issue(self, user: str, life: int, with_refresh: bool) -> dict:
        token = secrets.token_urlsafe(32)
        out = {"access_token": token, "token_type": "Bearer", "expires_in": life, "scope": "mail"}
        with self.lock:
            self.access[token] = (user, time.time() + life)
            if with_refresh:
                rt = secrets.token_urlsafe(32)
                self.refresh[rt] = user
                out["refresh_token"] = rt
        return out


class Handler(BaseHTTPRequestHandler):
    server_version = "relaykit-oauth2/1"
    store: Store

    def log_request(self, code="-", size="-"):
        # Never log a query string: GET /introspect?token=... would put the token in the log.
        path = urllib.parse.urlsplit(self.path).path
        sys.stderr.write(f"{self.address_string()} {self.command} {path} {code}\n")

    def log_error(self, fmt, *args):  # its messages may quote the request line: code only
        sys.stderr.write(f"{self.address_string()} error {args[0] if args else ''}\n")

    def reply(self, code: int, body: dict | str):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def form(self) -> dict[str, str]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 65536)).decode("utf-8", "replace") if n else ""
        q = urllib.parse.urlsplit(self.path).query
        out = {k: v[0] for k, v in urllib.parse.parse_qs(q).items()}
        out.update({k: v[0] for k, v in urllib.parse.parse_qs(raw).items()})
        return out

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/health":
            return self.reply(200, "ok")
        if path == "/introspect":
            return self.introspect(self.form())
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        f = self.form()
        if path == "/token":
            return self.token(f)
        if path == "/revoke":
            return self.revoke(f)
        if path == "/introspect":
            return self.introspect(f)
        self.reply(404, {"error": "not_found"})

    def token(self, f):
        st = self.store
        life = st.lifetime
        if "expires_in" in f:
            try:
                life = max(1, min(st.lifetime, int(f["expires_in"])))
            except ValueError:
                return self.reply(400, {"error": "invalid_request", "error_description": "expires_in"})
        grant = f.get("grant_type", "")
        if grant == "password":
            user = f.get("username", "")
            if user in st.users and secrets.compare_digest(st.users[user].encode(), f.get("password", "").encode()):
                out = st.issue(user, life, True)
                st.record("issued", user=user, token=tid(out["access_token"]), expires_in=life)
                return self.reply(200, out)
            st.record("refused", user=user, grant=grant)
            return self.reply(400, {"error": "invalid_grant"})
        if grant == "refresh_token":
            with st.lock:
                user = st.refresh.get(f.get("refresh_token", ""))
            if user:
                out = st.issue(user, life, False)
                st.record("refreshed", user=user, token=tid(out["access_token"]), expires_in=life)
                return self.reply(200, out)
            st.record("refused", grant=grant)
            return self.reply(400, {"error": "invalid_grant"})
        self.reply(400, {"error": "unsupported_grant_type"})

    def revoke(self, f):
        st, token = self.store, f.get("token", "")
        with st.lock:  # a revoked access token stays known, as expired (introspect says why)
            entry = st.access.get(token)
            if entry:
                st.access[token] = (entry[0], 0.0)
            user = entry[0] if entry else st.refresh.pop(token, None)
        st.record("revoked", user=user, token=tid(token), known=user is not None)
        self.reply(200, {})

    def introspect(self, f):
        st = self.store
        token = f.get("token", "")
        auth = self.headers.get("Authorization", "")
        if not token and auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        with st.lock:
            entry = st.access.get(token)
        now = time.time()
        if entry and entry[1] > now:
            st.record("introspect", user=entry[0], token=tid(token), active=True)
            return self.reply(200, {"active": True, "username": entry[0], "scope": "mail", "exp": int(entry[1])})
        st.record("introspect", user=entry[0] if entry else None, token=tid(token), active=False,
                  expired=bool(entry))
        self.reply(200, {"active": False})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", required=True, help="file of user:password lines")
    ap.add_argument("--lifetime", type=int, default=30, help="access token lifetime, seconds")
    ap.add_argument("--record", required=True)
    a = ap.parse_args()
    users = {}
    with open(a.users, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if ":" in line:
                u, p = line.split(":", 1)
                users[u] = p
    Handler.store = Store(users, a.lifetime, a.record)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"oauth2 server on 127.0.0.1:{a.port}, token lifetime {a.lifetime}s", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
