#!/usr/bin/env python3
"""A Postfix policy service (SMTPD_POLICY_README) that makes the soak listener of the
postfix-dovecot instance refuse recipients at random, replayably (the fault soak, #12).

Not a fake server: Postfix is the server and says the refusals itself; this script only tells
it, per RCPT TO, which to say (`check_policy_service` in the listener's
smtpd_recipient_restrictions). Python standard library only.

Decisions, per recipient and attempt (the n-th time this exact address is asked about):
  local part refuse+...       action=550 5.7.1 ...  always (the test knows these must end refused)
  local part soak+SEED.I.TAG  by a hash of (SEED, I, attempt), with --p450 / --p421 / --p550:
                              450 4.7.1 (deferred), 421 4.7.0 (Postfix answers, then disconnects),
                              550 5.7.1 (refused); otherwise DUNNO (the listener's other
                              restrictions decide)
  anything else               DUNNO
The same SEED replays the same decision for each message index and attempt. Every decision
that is not DUNNO is appended to --log as a JSON line before it is answered:
  {"rcpt": "soak+7.12.x@d", "attempt": 1, "action": "450"}
"""

import argparse
import hashlib
import json
import socketserver
import sys
import threading


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.attempts = {}
        self.log = open(args.log, "a", buffering=1, encoding="utf-8")

    def decide(self, rcpt):
        local = rcpt.split("@", 1)[0].lower()
        with self.lock:
            n = self.attempts.get(rcpt, 0) + 1
            self.attempts[rcpt] = n
        if local.startswith("refuse+"):
            action = "550"
        elif local.startswith("soak+"):
            parts = local[len("soak+"):].split(".")
            if len(parts) < 2:
                return "DUNNO"
            key = f"{parts[0]}.{parts[1]}.{n}".encode()
            x = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
            a = self.args
            if x < a.p450:
                action = "450"
            elif x < a.p450 + a.p421:
                action = "421"
            elif x < a.p450 + a.p421 + a.p550:
                action = "550"
            else:
                return "DUNNO"
        else:
            return "DUNNO"
        with self.lock:
            self.log.write(json.dumps({"rcpt": rcpt, "attempt": n, "action": action}) + "\n")
        return {
            "450": "450 4.7.1 relaykit soak policy: try again later",
            "421": "421 4.7.0 relaykit soak policy: closing the connection",
            "550": "550 5.7.1 relaykit soak policy: refused",
        }[action]


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        # One Postfix smtpd keeps its connection for many requests: attribute lines, then an
        # empty line; the answer is one action line, then an empty line.
        attrs = {}
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                k, _, v = line.partition("=")
                attrs[k] = v
                continue
            action = "DUNNO"
            if attrs.get("protocol_state") == "RCPT" and attrs.get("recipient"):
                action = self.server.state.decide(attrs["recipient"])
            self.wfile.write(f"action={action}\n\n".encode())
            self.wfile.flush()
            attrs = {}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--p450", type=float, default=0.02)
    p.add_argument("--p421", type=float, default=0.01)
    p.add_argument("--p550", type=float, default=0.005)
    args = p.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    print(f"soak policy service on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
