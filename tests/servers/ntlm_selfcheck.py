#!/usr/bin/env python3
"""Self-check of the NTLM verifier's core (no SMTP): pyspnego's NTLM acceptor,
fed from an NTLM_USER_FILE like the one start.sh writes, must accept the right
password and reject a wrong one, for DOMAIN\\user and user@domain logins,
ASCII and non-ASCII passwords, and only with NTLMv2 at LM_COMPAT_LEVEL 5.

    tests/servers/.venv/bin/python tests/servers/ntlm_selfcheck.py
"""
import os
import sys
import tempfile

USERS = [("RELAYKIT", "alice", "Alice-Pass-1"), ("RELAYKIT", "bob", "Pässwörd€1")]

with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".ntlm", delete=False) as fh:
    for dom, user, pw in USERS:
        fh.write(f"{dom}:{user}:{pw}\n:{user}@relaykit.test:{pw}\n")
os.environ["NTLM_USER_FILE"] = fh.name

import spnego  # noqa: E402  (after NTLM_USER_FILE is set)


def attempt(login, pw, client_level=3, server_level=5):
    os.environ["LM_COMPAT_LEVEL"] = str(client_level)
    cl = spnego.client(login, pw, protocol="ntlm", hostname="localhost")
    t1 = cl.step()
    os.environ["LM_COMPAT_LEVEL"] = str(server_level)
    sv = spnego.server(protocol="ntlm")
    t2 = sv.step(t1)
    t3 = cl.step(t2)
    try:
        sv.step(t3)
        return sv.complete
    except spnego.exceptions.SpnegoError:
        return False


fails = passes = 0
for dom, user, pw in USERS:
    for login in (f"{dom}\\{user}", f"{user}@relaykit.test"):
        for desc, got, want in ((f"{login} right password", attempt(login, pw), True),
                                (f"{login} wrong password", attempt(login, pw + "x"), False),
                                (f"{login} NTLMv1 client refused at level 5", attempt(login, pw, client_level=1), False)):
            ok = got == want
            passes += ok
            fails += not ok
            print(("PASS " if ok else "FAIL ") + desc)
os.unlink(fh.name)
print(f"{passes} passed, {fails} failed")
sys.exit(1 if fails else 0)
